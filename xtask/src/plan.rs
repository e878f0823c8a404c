//! The commands a command will run, in order, shown before anything runs:
//! each with its title, what it changes, and whether it can be taken back.

use std::fmt::Write as _;

use crate::runner::Step;
use crate::style::Paint;

/// One command of a plan, as shown before anything runs.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub step: Step,
    /// Publishes, uploads or pushes: it cannot be taken back, so it never runs
    /// after a failure or while a check fails.
    pub irreversible: bool,
    /// What the step changes besides the command, e.g. "publishes the image to glance".
    pub note: Option<String>,
}

/// The commands a command will run, in order: printed before asking.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
}

impl Plan {
    pub fn push(&mut self, step: Step, irreversible: bool, note: Option<String>) {
        self.steps.push(PlannedStep {
            step,
            irreversible,
            note,
        });
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// `Plan (N steps):`, then per step `[n/N] title`, its note, and `$ command`.
    pub fn render(&self, paint: &Paint) -> String {
        let total = self.steps.len();
        let mut out = format!(
            "{} ({total} step{}):\n",
            paint.bold("Plan"),
            if total == 1 { "" } else { "s" }
        );
        for (i, planned) in self.steps.iter().enumerate() {
            let mark = if planned.irreversible {
                format!("  {}", paint.warning("irreversible"))
            } else {
                String::new()
            };
            let _ = writeln!(out, "  [{}/{total}] {}{mark}", i + 1, planned.step.title());
            if let Some(note) = &planned.note {
                let _ = writeln!(out, "        {}", paint.dim(note));
            }
            let _ = writeln!(out, "        $ {}", shown_command(&planned.step));
        }
        out
    }
}

/// The command line with `cd <dir> &&` in front when the step has a folder.
pub fn shown_command(step: &Step) -> String {
    step.shown(None)
}
