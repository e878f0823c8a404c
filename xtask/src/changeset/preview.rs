//! Showing a changeset before it is written: the unified diffs, and the
//! flow every command uses (preview, confirm, write, say what was written).

use anyhow::Result;

use super::model::{Action, Changeset};
use crate::context::Context;
use crate::diff;
use crate::flags;
use crate::style::Paint;

impl Changeset {
    /// Unified diffs of every changed file (via diff::unified), sorted by path,
    /// then one summary line.
    pub fn preview(&self, paint: &Paint) -> String {
        let mut out = String::new();
        let mut stats = Vec::new();
        for (key, entry) in self.changed() {
            let original = entry.original.as_deref().map(String::from_utf8_lossy);
            let original = original.as_deref().unwrap_or("");
            let updated = entry.updated().unwrap_or_default();
            match (&entry.original, &entry.action) {
                (None, Action::Write { mode, .. } | Action::Restore { mode, .. }) => {
                    out.push_str(&paint.dim(&format!("new file {key}, mode {mode:04o}")));
                    out.push('\n');
                }
                (Some(_), Action::Remove) => {
                    out.push_str(&paint.dim(&format!("removed {key}")));
                    out.push('\n');
                }
                _ => {}
            }
            out.push_str(&diff::unified(key, original, &updated, paint));
            stats.push(diff::stat(original, &updated));
        }
        if !stats.is_empty() {
            out.push_str(&diff::summary(&stats));
            out.push('\n');
        }
        out
    }

    /// The whole flow commands use: if empty, say "nothing to change" and return Ok(false); else print the
    /// preview (ctx.say, so -q hides it), then `ctx.confirm(confirm, question)`; if it says go, apply and print
    /// one line per written file ("wrote path"); return whether it wrote.
    pub fn preview_and_apply(
        self,
        ctx: &Context,
        confirm: flags::Confirm,
        question: &str,
    ) -> Result<bool> {
        if self.is_empty() {
            ctx.say("nothing to change");
            return Ok(false);
        }
        ctx.say(self.preview(&ctx.paint).trim_end_matches('\n'));
        if !ctx.confirm(confirm, question)? {
            return Ok(false);
        }
        let removed: Vec<String> = self
            .changed()
            .filter(|(_, entry)| matches!(entry.action, Action::Remove))
            .map(|(key, _)| key.clone())
            .collect();
        for path in self.apply()? {
            let verb = if removed.contains(&path) {
                "removed"
            } else {
                "wrote"
            };
            ctx.say(format!("{verb} {path}"));
        }
        Ok(true)
    }
}
