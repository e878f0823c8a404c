//! `cargo xtask check`: the consistency rules, rustc-style; exit 1 on any error.

use anyhow::Result;
use serde_json::json;

use crate::context::Context;
use crate::error::AlreadyReported;
use crate::rules::{self, Baseline, Finding, Severity};
use crate::runner::Runner;
use crate::sites::{self, Inventory};
use crate::tree::{GitTree, WorkTree};
use crate::{bad, flags, git};

impl flags::Check {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let runner = Runner::for_root(&ctx.root)?;
        let (inventory, baseline) = self.judged(ctx, &runner)?;
        let findings = rules::evaluate(&inventory, baseline.as_ref());
        let errors = rules::count(&findings, Severity::Error);
        if self.json {
            let report = json!({
                "findings": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": rules::count(&findings, Severity::Warning),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report(ctx, &findings, self.staged));
        }
        if errors > 0 {
            return Err(AlreadyReported.into());
        }
        Ok(())
    }

    /// The inventory being judged and, with --staged/--since, its baseline.
    fn judged(&self, ctx: &Context, runner: &Runner) -> Result<(Inventory, Option<Baseline>)> {
        if self.staged {
            git::require_repository(runner, &ctx.root, "check --staged")?;
            let index = GitTree {
                runner,
                root: ctx.root.clone(),
                rev: None,
            };
            let inventory = sites::load(&index)?;
            if !git::resolves(runner, &ctx.root, "HEAD")? {
                ctx.detail("no commit yet: every file is new, so nothing needs a version bump");
                return Ok((inventory, None));
            }
            let changed = git::staged_changes(runner, &ctx.root)?;
            let baseline = git::baseline(runner, &ctx.root, "HEAD", changed)?;
            return Ok((inventory, Some(baseline)));
        }
        let inventory = sites::load(&WorkTree {
            root: ctx.root.clone(),
        })?;
        let Some(rev) = &self.since else {
            return Ok((inventory, None));
        };
        git::require_repository(runner, &ctx.root, "check --since")?;
        if !git::resolves(runner, &ctx.root, rev)? {
            return Err(bad!("--since {rev}: git knows no such revision"));
        }
        let changed = git::changes_since(runner, &ctx.root, rev)?;
        let baseline = git::baseline(runner, &ctx.root, rev, changed)?;
        Ok((inventory, Some(baseline)))
    }
}

/// The human-readable report: every finding, then one summary line.
pub fn report(ctx: &Context, findings: &[Finding], staged: bool) -> String {
    let mut out = String::new();
    for finding in findings {
        out.push_str(&finding.render(&ctx.paint));
        out.push('\n');
    }
    let errors = rules::count(findings, Severity::Error);
    let warnings = rules::count(findings, Severity::Warning);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors > 0 {
        out.push_str(&format!(
            "{}: check found {} and {}{}\n",
            ctx.paint.error("error"),
            plural(errors, "error"),
            plural(warnings, "warning"),
            if staged {
                "; the commit is refused"
            } else {
                ""
            }
        ));
    } else if warnings > 0 {
        out.push_str(&format!(
            "check passed with {}\n",
            plural(warnings, "warning")
        ));
    } else if ctx.verbosity >= crate::context::Verbosity::Normal {
        out.push_str(&format!(
            "{} every rule holds\n",
            ctx.paint.good("check passed:")
        ));
    }
    out
}
