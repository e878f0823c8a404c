//! `cargo xtask chef-policy`: the runbook's chef section. Edit chef so that it
//! upgrades VMs to the package version (and, with --apt-snapshot, from that
//! APT snapshot); bump the cookbook whose files changed and move the policy
//! pins with it; `knife upload` the cookbook, verify it arrived; regenerate the
//! stale lock files with `chef install` and verify what they lock.
//!
//! `update` is the same work without the questions, for `release`.
//!
//! Here: the command and its questions. What is decided before anything is
//! done lives in `work` (the edits, the bump, the locks) and `steps` (the
//! commands); running them against the chef server, in `execute`.

use anyhow::Result;

use crate::changeset::Changeset;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags;
use crate::rules::{Finding, Severity};
use crate::runner::Runner;

mod execute;
mod steps;
mod work;

use execute::execute;
use steps::left_to_run;
use work::{plan, PolicyRequest};

impl flags::ChefPolicy {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let request = PolicyRequest::new(
            self.apt_snapshot.as_deref(),
            self.cookbook_version.as_deref(),
        )?;
        let runner = ctx.runner();
        let inventory = ctx.inventory()?;
        // Planning only reads the tree: with nothing to do, nobody need answer.
        let work = plan(ctx, runner, &inventory, &request)?;
        if work.nothing_to_do() {
            ctx.say(format!(
                "chef already references mobiledgex {} and APT snapshot {}, and every lock is current; nothing to do",
                work.package_version, work.apt_snapshot
            ));
            return Ok(());
        }
        ctx.require_answerable(self.confirm)?;
        if !work.changes.is_empty() {
            ctx.say(work.changes.preview(&ctx.paint).trim_end());
        }
        if self.offline {
            report_blocking(ctx, &work.blocking, Severity::Warning);
            let remaining = left_to_run(ctx, &work);
            if self.confirm.dry_run {
                ctx.say(format!(
                    "After these edits, {}",
                    remaining.replacen('L', "l", 1)
                ));
            }
            if !ctx.confirm(self.confirm, "Write these changes?")? {
                return Ok(());
            }
            write(ctx, work.changes)?;
            ctx.say(remaining);
            return Ok(());
        }
        ctx.say(work.plan.render(&ctx.paint).trim_end());
        if !work.blocking.is_empty() {
            report_blocking(ctx, &work.blocking, Severity::Error);
            return Err(AlreadyReported.into());
        }
        let question = if work.changes.is_empty() {
            "Run these steps?"
        } else {
            "Write these changes and run these steps?"
        };
        if !ctx.confirm(self.confirm, question)? {
            return Ok(());
        }
        execute(ctx, runner, work)
    }
}

/// The whole chef section without asking, for `release` (which has asked
/// already): chef follows the package version and, given one, the APT snapshot.
pub fn update(ctx: &Context, runner: &Runner, apt_snapshot: Option<&str>) -> Result<()> {
    let request = PolicyRequest::new(apt_snapshot, None)?;
    let inventory = ctx.inventory()?;
    let work = plan(ctx, runner, &inventory, &request)?;
    if work.nothing_to_do() {
        ctx.say(format!(
            "chef already references mobiledgex {} and APT snapshot {}; nothing to do",
            work.package_version, work.apt_snapshot
        ));
        return Ok(());
    }
    if !work.blocking.is_empty() {
        report_blocking(ctx, &work.blocking, Severity::Error);
        return Err(AlreadyReported.into());
    }
    ctx.say(work.plan.render(&ctx.paint).trim_end());
    execute(ctx, runner, work)
}

fn report_blocking(ctx: &Context, blocking: &[Finding], severity: Severity) {
    if blocking.is_empty() {
        return;
    }
    for finding in blocking {
        ctx.explain(finding.render(&ctx.paint));
    }
    match severity {
        Severity::Error => ctx.error(format!("check reports {} error(s) besides stale locks; nothing is uploaded while a check fails (fix them, or edit only with --offline). Nothing was written and nothing was run.", blocking.len())),
        Severity::Warning => ctx.warn(format!(
            "check reports {} error(s) besides stale locks; fix them before uploading",
            blocking.len()
        )),
    }
}

fn write(ctx: &Context, changes: Changeset) -> Result<()> {
    for path in changes.apply()? {
        ctx.say(format!("wrote {path}"));
    }
    Ok(())
}
