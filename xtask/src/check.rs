//! `cargo xtask check`: the consistency rules, rustc-style; exit 1 on any error.

use anyhow::Result;
use serde_json::json;

use crate::context::Context;
use crate::error::AlreadyReported;
use crate::rules::{self, Finding, Severity};
use crate::runner::Runner;
use crate::sites::{self, Inventory};
use crate::tree::{GitTree, Recorded, Tree, Unchanged};
use crate::{bad, flags, git};

impl flags::Check {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let findings = self.findings(ctx, ctx.runner())?;
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

    /// The findings of the tree being judged; with --staged/--since, those
    /// that stood at the baseline in files the change does not touch are spared.
    fn findings(&self, ctx: &Context, runner: &Runner) -> Result<Vec<Finding>> {
        if self.staged {
            return staged(ctx, runner);
        }
        let work_tree = ctx.work_tree();
        let inventory = sites::load(&work_tree)?;
        let Some(rev) = &self.since else {
            return Ok(rules::evaluate(&inventory, None));
        };
        git::require_repository(runner, &ctx.root, "check --since")?;
        if !git::resolves(runner, &ctx.root, rev)? {
            return Err(bad!("--since {rev}: git knows no such revision"));
        }
        let changed = git::changes_since(runner, &ctx.root, rev)?;
        let before = GitTree::new(runner, &ctx.root, Some(rev));
        // Not the index's shortcut (see `staged`): the working tree follows
        // links and lists ignored files, which `changed` does not name.
        judge_change(ctx, &inventory, false, &before, &work_tree, changed)
    }
}

/// `check --staged`: the index judged against HEAD. Three git processes in
/// all, the hook's whole cost: the staged paths (`git diff`, which runs
/// while the index is read), the index's file list, and one `cat-file` for
/// every read. HEAD differs from the index only in the staged paths, so
/// every other file of HEAD is the index's, read once. Also for the
/// commands that commit their edits.
pub fn staged(ctx: &Context, runner: &Runner) -> Result<Vec<Finding>> {
    let staged = git::StagedChanges::start(runner, &ctx.root)?;
    let index = GitTree::new(runner, &ctx.root, None);
    let recorded = Recorded::new(&index);
    let loaded = sites::load(&recorded);
    // Outside a repository, git's own failure says why; not the missing files.
    let changed = staged.paths().or_else(|err| {
        git::require_repository(runner, &ctx.root, "check --staged")?;
        Err(err)
    })?;
    let inventory = loaded?;
    if !index.has_commit("HEAD")? {
        ctx.detail("no commit yet: every file is new, so nothing needs a version bump");
        return Ok(rules::evaluate(&inventory, None));
    }
    let head = GitTree::new(runner, &ctx.root, Some("HEAD"));
    let before = Unchanged {
        now: &index,
        then: &head,
        changed: &changed,
    };
    let same_sites = !recorded.saw_any(&changed);
    judge_change(
        ctx,
        &inventory,
        same_sites,
        &before,
        &index,
        changed.clone(),
    )
}

/// The rules on `inventory` (read from `now`), with `before` as the baseline
/// of the change `changed`; findings that stood before in files the change
/// does not touch are spared. `same_sites`: the change touched no file the
/// inventory was read from (most commits), so `before` has the same
/// inventory, and its findings need no second reading. Only the index can
/// tell: its reads are git's blobs (a link is its text), and `git diff
/// --cached` names every path where it differs from HEAD.
fn judge_change(
    ctx: &Context,
    inventory: &Inventory,
    same_sites: bool,
    before: &dyn Tree,
    now: &dyn Tree,
    changed: Vec<String>,
) -> Result<Vec<Finding>> {
    let mut baseline = git::baseline(before, changed)?;
    baseline.comment_only = git::comment_only_changes(before, now, &baseline.changed)?;
    let mut findings = rules::evaluate(inventory, Some(&baseline));
    let stood_before = if same_sites {
        rules::evaluate(inventory, None)
    } else {
        findings_at(ctx, before)
    };
    rules::spare_pre_existing(&mut findings, &stood_before, &baseline.changed);
    Ok(findings)
}

/// The findings that stood in `tree` (the rules that need no baseline). A
/// base the rules cannot read (another layout, no monorepo yet) has none to spare.
fn findings_at(ctx: &Context, tree: &dyn Tree) -> Vec<Finding> {
    match sites::load(tree) {
        Ok(inventory) => rules::evaluate(&inventory, None),
        Err(err) => {
            ctx.detail(format!(
                "{} cannot be read as a monorepo ({err:#}): every finding counts as new",
                tree.label()
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
