//! `cargo xtask check`: the consistency rules, rustc-style; exit 1 on any error.

use anyhow::Result;
use serde_json::json;

use crate::context::Context;
use crate::error::AlreadyReported;
use crate::rules::{self, Baseline, Finding, Severity};
use crate::runner::Runner;
use crate::sites::{self, Inventory};
use crate::tree::GitTree;
use crate::{bad, flags, git};

impl flags::Check {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let runner = ctx.runner();
        let (inventory, baseline) = self.judged(ctx, runner)?;
        let mut findings = rules::evaluate(&inventory, baseline.as_ref());
        if let Some(baseline) = &baseline {
            let before = findings_at(ctx, runner, &baseline.label);
            rules::spare_pre_existing(&mut findings, &before, &baseline.changed);
        }
        let errors = rules::count(&findings, Severity::Error);
        if self.json {
            let report = json!({
                "findings": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": rules::count(&findings, Severity::Warning),
                "pre_existing": findings.iter().filter(|f| f.pre_existing).count(),
            });
            ctx.answer(serde_json::to_string_pretty(&report)?);
        } else {
            ctx.answer(report(ctx, &findings, self.staged));
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
            let index = GitTree::new(runner, &ctx.root, None);
            let inventory = sites::load(&index)?;
            if !git::resolves(runner, &ctx.root, "HEAD")? {
                ctx.detail("no commit yet: every file is new, so nothing needs a version bump");
                return Ok((inventory, None));
            }
            let changed = git::staged_changes(runner, &ctx.root)?;
            let mut baseline = git::baseline(runner, &ctx.root, "HEAD", changed)?;
            baseline.comment_only =
                git::comment_only_changes(runner, &ctx.root, "HEAD", &index, &baseline.changed)?;
            return Ok((inventory, Some(baseline)));
        }
        let work_tree = ctx.work_tree();
        let inventory = sites::load(&work_tree)?;
        let Some(rev) = &self.since else {
            return Ok((inventory, None));
        };
        git::require_repository(runner, &ctx.root, "check --since")?;
        if !git::resolves(runner, &ctx.root, rev)? {
            return Err(bad!("--since {rev}: git knows no such revision"));
        }
        let changed = git::changes_since(runner, &ctx.root, rev)?;
        let mut baseline = git::baseline(runner, &ctx.root, rev, changed)?;
        baseline.comment_only =
            git::comment_only_changes(runner, &ctx.root, rev, &work_tree, &baseline.changed)?;
        Ok((inventory, Some(baseline)))
    }
}

/// What `check --staged` finds, pre-existing findings spared: for the
/// commands that commit their edits.
pub fn staged_findings(ctx: &Context, runner: &Runner) -> Result<Vec<Finding>> {
    let flags = flags::Check {
        staged: true,
        since: None,
        json: false,
    };
    let (inventory, baseline) = flags.judged(ctx, runner)?;
    let mut findings = rules::evaluate(&inventory, baseline.as_ref());
    if let Some(baseline) = &baseline {
        let before = findings_at(ctx, runner, &baseline.label);
        rules::spare_pre_existing(&mut findings, &before, &baseline.changed);
    }
    Ok(findings)
}

/// The findings that stood at `rev` (the rules that need no baseline). A base
/// the rules cannot read (another layout, no monorepo yet) has none to spare.
fn findings_at(ctx: &Context, runner: &Runner, rev: &str) -> Vec<Finding> {
    let tree = GitTree::new(runner, &ctx.root, Some(rev));
    match sites::load(&tree) {
        Ok(inventory) => rules::evaluate(&inventory, None),
        Err(err) => {
            ctx.detail(format!(
                "{rev} cannot be read as a monorepo ({err:#}): every finding counts as new"
            ));
            Vec::new()
        }
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
        let pre_existing = findings.iter().filter(|f| f.pre_existing).count();
        let already = if pre_existing > 0 {
            format!(" ({pre_existing} already there before this change)")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "check passed with {}{already}\n",
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

/// [`rules::blocking`], with each blocking finding explained on standard error.
pub fn explain_blocking<'a>(
    ctx: &Context,
    findings: &'a [Finding],
    ignored: &[&str],
) -> (Vec<&'a Finding>, Vec<&'a Finding>) {
    let (blocking, ignored) = rules::blocking(findings, ignored);
    for finding in &blocking {
        ctx.explain(finding.render(&ctx.paint));
    }
    (blocking, ignored)
}
