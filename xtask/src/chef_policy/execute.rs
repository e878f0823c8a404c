//! Running the planned steps: ask the chef server, write the edits, upload and
//! verify the cookbook, regenerate each stale lock (putting the old one back
//! if `chef install` fails) and verify what it locks; then check again.

use anyhow::Result;

use super::work::{PolicyWork, Upload};
use super::write;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::rules::{self, Severity};
use crate::runner::Runner;
use crate::sites::{paths, LockState};

/// Runs the planned steps; the edits are written after the server was asked
/// and before anything is uploaded.
pub(super) fn execute(ctx: &Context, runner: &Runner, work: PolicyWork) -> Result<()> {
    let total = work.plan.len();
    let mut n = 0;
    let mut changes = Some(work.changes);
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        n += 1;
        let outcome = runner.step(n, total, &work.plan.steps[n - 1].step)?;
        let on_server = match server_versions(ctx, name, &outcome) {
            Some(versions) => versions,
            None => return Err(AlreadyReported.into()),
        };
        let present = on_server.iter().any(|v| v == version);
        if present && upload.bumped_here {
            ctx.error(format!("the chef server already has {name} {version}, and an uploaded cookbook version is frozen; pass a higher --cookbook-version. Nothing was written and nothing was uploaded."));
            return Err(AlreadyReported.into());
        }
        if let Some(changes) = changes.take() {
            if !changes.is_empty() {
                write(ctx, changes)?;
            }
        }
        if present {
            ctx.say(format!(
                "[{}/{total}] and [{}/{total}] skipped: the chef server already has {name} {version}",
                n + 1,
                n + 2
            ));
            n += 2;
        } else {
            n += 1;
            let outcome = runner.step(n, total, &work.plan.steps[n - 1].step)?;
            if !outcome.ok {
                return stop_after_failure(ctx);
            }
            n += 1;
            let outcome = runner.step(n, total, &work.plan.steps[n - 1].step)?;
            let arrived = server_versions(ctx, name, &outcome)
                .is_some_and(|versions| versions.iter().any(|v| v == version));
            if !arrived {
                ctx.error(format!("`knife cookbook show {name}` does not list {version} after the upload; look at the chef server before going on"));
                return Err(AlreadyReported.into());
            }
            ctx.say(format!("  the chef server has {name} {version}"));
        }
    }
    if let Some(changes) = changes.take() {
        if !changes.is_empty() {
            write(ctx, changes)?;
        }
    }
    for policy in &work.locks {
        n += 1;
        let lock = paths::lock_for(policy);
        // The lock as it was, to put back byte for byte if `chef install`
        // does not write a new one.
        let tree = ctx.work_tree();
        let kept = match crate::tree::Tree::read(&tree, &lock)? {
            Some(bytes) => {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(ctx.root.join(&lock))
                    .map(|meta| meta.permissions().mode() & 0o7777)
                    .unwrap_or(0o644);
                let mut removal = Changeset::new(&ctx.root);
                removal.remove(&lock)?;
                removal.apply()?;
                ctx.say(format!("removed {lock}"));
                Some((bytes, mode))
            }
            None => None,
        };
        let outcome = runner.step(n, total, &work.plan.steps[n - 1].step);
        if !outcome.as_ref().is_ok_and(|outcome| outcome.ok) {
            if let Some((bytes, mode)) = kept {
                let mut back = Changeset::new(&ctx.root);
                back.restore(&lock, bytes, mode)?;
                back.apply()?;
                ctx.say(format!(
                    "restored {lock} as it was: `chef install` did not regenerate it"
                ));
            }
            outcome?;
            return stop_after_failure(ctx);
        }
        verify_lock(ctx, policy, work.upload.as_ref())?;
    }
    let findings = rules::evaluate(&ctx.inventory()?, None);
    let errors = rules::count(&findings, Severity::Error);
    if errors > 0 {
        for finding in findings.iter().filter(|f| f.severity == Severity::Error) {
            ctx.explain(finding.render(&ctx.paint));
        }
        ctx.error(format!("check still reports {errors} error(s)"));
        return Err(AlreadyReported.into());
    }
    ctx.say(format!(
        "{} chef references mobiledgex {} and APT snapshot {}; check passes.\nNext: commit these changes; push the policy ONLY after the supporting code is rolled out: cargo xtask chef-push --group <main|stage|qa|dev>",
        ctx.paint.good("done:"),
        work.package_version,
        work.apt_snapshot
    ));
    Ok(())
}

fn stop_after_failure(ctx: &Context) -> Result<()> {
    ctx.error("stopped after the failed step; nothing after it ran. Fix the cause and run `cargo xtask chef-policy` again: it picks up the edits already written.");
    Err(AlreadyReported.into())
}

/// The versions `knife cookbook show <name>` listed (newest first); an empty
/// list when the server has none; `None` (reported) when knife failed otherwise.
fn server_versions(
    ctx: &Context,
    name: &str,
    outcome: &crate::runner::Outcome,
) -> Option<Vec<String>> {
    if outcome.ok {
        let versions = outcome
            .stdout
            .lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(name)).then(|| words.map(str::to_string).collect())
            })
            .unwrap_or_default();
        return Some(versions);
    }
    if !outcome.interrupted && outcome.output.contains("could not be found") {
        ctx.say(format!("  (the chef server has no version of {name} yet)"));
        return Some(Vec::new());
    }
    None
}

/// Reads the lock `chef install` wrote (the policy-lock rule, on the files as
/// they are now): it must lock every pin of its policy, the new cookbook
/// version among them, and carry the policy's literal attributes.
fn verify_lock(ctx: &Context, policy_path: &str, upload: Option<&Upload>) -> Result<()> {
    let inventory = ctx.inventory()?;
    let lock_path = paths::lock_for(policy_path);
    let Some(policy) = inventory.policies.iter().find(|p| p.path == policy_path) else {
        anyhow::bail!("{policy_path} disappeared while its lock was regenerated");
    };
    let LockState::Present(lock) = &policy.lock else {
        anyhow::bail!("`chef install` left no readable {lock_path}");
    };
    let problems: Vec<String> = rules::evaluate(&inventory, None)
        .into_iter()
        .filter(|f| f.rule == rules::POLICY_LOCK)
        .filter(|f| f.locations.iter().any(|l| l.path == lock_path))
        .map(|f| f.message)
        .collect();
    if !problems.is_empty() {
        ctx.error(format!("the lock `chef install` wrote does not match {policy_path}:\n  - {}\nDo not push it; look at the chef server's cookbooks and run `cargo xtask chef-policy` again.", problems.join("\n  - ")));
        return Err(AlreadyReported.into());
    }
    let locked = upload
        .and_then(|u| {
            lock.cookbooks
                .get(&u.cookbook)
                .map(|v| format!("locks {} {v}, ", u.cookbook))
        })
        .unwrap_or_default();
    ctx.say(format!(
        "  verified {lock_path}: {locked}{} cookbook(s) and {} attribute(s) as in the policy",
        policy.pins.len(),
        policy.attributes.len()
    ));
    Ok(())
}
