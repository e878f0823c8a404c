//! `cargo xtask chef-policy`: the runbook's chef section. Edit chef so that it
//! upgrades VMs to the package version (and, with --apt-snapshot, from that
//! APT snapshot); bump the cookbook whose files changed and move the policy
//! pins with it; `knife upload` the cookbook, verify it arrived; regenerate the
//! stale lock files with `chef install` and verify what they lock.
//!
//! `update` is the same work without the questions, for `release`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::changeset::Changeset;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::plan::Plan;
use crate::rules::{self, Finding, Severity};
use crate::runner::{Runner, Step};
use crate::semver::Semver;
use crate::sites::{self, paths, Inventory, LockState, Site};
use crate::tree::WorkTree;
use crate::{bad, cookbooks, flags};

/// What chef-policy is asked to do, validated.
#[derive(Debug, Clone, Default)]
pub struct PolicyRequest {
    /// Point chef's APT repository at this snapshot date (YYYY-MM-DD).
    pub apt_snapshot: Option<String>,
    /// The new version of the upgrade cookbook (default: a patch bump when its files change).
    pub cookbook_version: Option<Semver>,
}

impl PolicyRequest {
    /// Checks what a user typed: a real calendar date, an X.Y.Z version.
    pub fn new(
        apt_snapshot: Option<&str>,
        cookbook_version: Option<&str>,
    ) -> Result<PolicyRequest> {
        if let Some(date) = apt_snapshot {
            sites::validate_snapshot_date(date).map_err(|why| bad!("--apt-snapshot: {why}"))?;
        }
        let cookbook_version = cookbook_version
            .map(|v| Semver::parse_user(v).map_err(|why| bad!("--cookbook-version: {why}")))
            .transpose()?;
        Ok(PolicyRequest {
            apt_snapshot: apt_snapshot.map(str::to_string),
            cookbook_version,
        })
    }
}

/// The cookbook that chef-policy uploads.
#[derive(Debug, Clone)]
pub struct Upload {
    pub cookbook: String,
    /// The version it has once the edits are written.
    pub version: String,
    /// This run raises the version: the server must not have it yet.
    pub bumped_here: bool,
}

/// Everything planned, nothing done yet.
pub struct PolicyWork {
    pub changes: Changeset,
    /// What chef references once the edits are written.
    pub package_version: String,
    pub apt_snapshot: String,
    pub upload: Option<Upload>,
    /// Policyfiles (`chef/policyfiles/base.rb`) whose locks are regenerated, base first.
    pub locks: Vec<String>,
    /// Errors other than stale locks that remain after the edits: nothing
    /// irreversible may run while they stand.
    pub blocking: Vec<Finding>,
    pub plan: Plan,
}

impl PolicyWork {
    pub fn nothing_to_do(&self) -> bool {
        self.changes.is_empty()
            && self.locks.is_empty()
            && self.upload.as_ref().is_none_or(|u| !u.bumped_here)
    }
}

impl flags::ChefPolicy {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let request = PolicyRequest::new(
            self.apt_snapshot.as_deref(),
            self.cookbook_version.as_deref(),
        )?;
        ctx.require_answerable(self.confirm)?;
        let runner = Runner::for_root(&ctx.root)?;
        let inventory = load(ctx)?;
        let work = plan(ctx, &runner, &inventory, &request)?;
        if work.nothing_to_do() {
            ctx.say(format!(
                "chef already references mobiledgex {} and APT snapshot {}, and every lock is current; nothing to do",
                work.package_version, work.apt_snapshot
            ));
            return Ok(());
        }
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
        execute(ctx, &runner, work)
    }
}

/// The whole chef section without asking, for `release` (which has asked
/// already): chef follows the package version and, given one, the APT snapshot.
pub fn update(ctx: &Context, runner: &Runner, apt_snapshot: Option<&str>) -> Result<()> {
    let request = PolicyRequest::new(apt_snapshot, None)?;
    let inventory = load(ctx)?;
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

fn load(ctx: &Context) -> Result<Inventory> {
    sites::load(&WorkTree {
        root: ctx.root.clone(),
    })
}

/// Plans the edits, the cookbook bump and the steps; refuses (exit 2) edits
/// that would break a rule that held before.
pub fn plan(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    request: &PolicyRequest,
) -> Result<PolicyWork> {
    let package_version = inventory.package_version.value.clone();
    let mut changes = Changeset::new(&ctx.root);
    let mut edited: Vec<&Site> = Vec::new();
    for site in inventory
        .chef_package_versions
        .iter()
        .filter(|s| s.value != package_version)
    {
        changes.set_site(site, &package_version)?;
        edited.push(site);
    }
    if let Some(date) = &request.apt_snapshot {
        for site in inventory
            .chef_apt_repos
            .iter()
            .filter(|s| s.snapshot() != Some(date.as_str()))
        {
            changes.set_site(site, date)?;
            edited.push(site);
        }
    }
    let upload = bump_cookbooks(ctx, runner, inventory, &edited, request, &mut changes)?;

    let after = sites::load(&changes.view())?;
    let before = rules::evaluate(inventory, None);
    let findings = rules::evaluate(&after, None);
    refuse_new_errors(&before, &findings).map_err(|err| match &request.apt_snapshot {
        Some(date) if inventory.packer_apt_repo.snapshot() != Some(date.as_str()) => bad!(
            "{err:#}\npacker builds the image from APT snapshot {}: chef follows the image, so move both with `cargo xtask bump-base-image <VERSION> --apt-snapshot {date}`",
            inventory.packer_apt_repo.snapshot().unwrap_or(&inventory.packer_apt_repo.value)
        ),
        _ => err,
    })?;
    let blocking: Vec<Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.rule != rules::POLICY_LOCK)
        .cloned()
        .collect();
    let locks = stale_policies(&after, &findings);
    let apt_snapshot = after
        .chef_apt_repos
        .first()
        .map(|site| site.snapshot().unwrap_or(&site.value).to_string())
        .unwrap_or_default();

    let mut work = PolicyWork {
        changes,
        package_version,
        apt_snapshot,
        upload,
        locks,
        blocking,
        plan: Plan::default(),
    };
    work.plan = steps(ctx, &work);
    Ok(work)
}

/// The cookbook bumps that follow the edits (a patch bump, or
/// --cookbook-version for the upgrade cookbook); returns the upgrade
/// cookbook's upload, when there is one to consider.
fn bump_cookbooks(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    edited: &[&Site],
    request: &PolicyRequest,
    changes: &mut Changeset,
) -> Result<Option<Upload>> {
    if request.cookbook_version.is_some() && inventory.cookbook(paths::UPGRADE_COOKBOOK).is_none() {
        return Err(bad!(
            "--cookbook-version: there is no cookbook {} ({} is missing)",
            paths::UPGRADE_COOKBOOK,
            paths::metadata(paths::UPGRADE_COOKBOOK)
        ));
    }
    let wanted = request
        .cookbook_version
        .map(|v| (paths::UPGRADE_COOKBOOK, v));
    let bumps = cookbooks::bump_touched(ctx, runner, inventory, edited, wanted, changes)?;
    let bumped = bumps
        .into_iter()
        .find(|bump| bump.cookbook == paths::UPGRADE_COOKBOOK)
        .map(|bump| Upload {
            cookbook: bump.cookbook,
            version: bump.to,
            bumped_here: true,
        });
    // Not bumped here: the version in the tree may still be missing on the
    // server (raised by bump-base-image, or edited offline): the steps look.
    Ok(bumped.or_else(|| {
        inventory
            .cookbook(paths::UPGRADE_COOKBOOK)
            .map(|cookbook| Upload {
                cookbook: cookbook.name.clone(),
                version: cookbook.version.value.clone(),
                bumped_here: false,
            })
    }))
}

/// Refuses edits that break a rule that held before (a stale lock is expected:
/// the steps regenerate it).
fn refuse_new_errors(before: &[Finding], after: &[Finding]) -> Result<()> {
    let known: Vec<(&str, &str)> = before
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.rule, f.message.as_str()))
        .collect();
    let new: Vec<&Finding> = after
        .iter()
        .filter(|f| f.severity == Severity::Error && f.rule != rules::POLICY_LOCK)
        .filter(|f| !known.contains(&(f.rule, f.message.as_str())))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = new
        .iter()
        .map(|f| {
            let help = f
                .help
                .as_deref()
                .map(|h| format!(" (help: {h})"))
                .unwrap_or_default();
            format!("{}: {}{help}", f.rule, f.message)
        })
        .collect();
    Err(bad!(
        "these edits would break the consistency rules, so nothing was written:\n  - {}",
        list.join("\n  - ")
    ))
}

/// Policies whose lock does not match them after the edits, `base` first.
fn stale_policies(after: &Inventory, findings: &[Finding]) -> Vec<String> {
    let mut stale: Vec<String> = after
        .policies
        .iter()
        .filter(|policy| {
            findings.iter().any(|f| {
                f.rule == rules::POLICY_LOCK
                    && f.locations
                        .iter()
                        .any(|l| l.path == policy.path || l.path == policy.lock_path)
            })
        })
        .map(|policy| policy.path.clone())
        .collect();
    stale.sort_by_key(|path| (path.as_str() != paths::BASE_POLICY, path.clone()));
    stale
}

/// `chef/policyfiles/base.rb` → `policyfiles/base.rb` (commands run in chef/).
fn in_chef(path: &str) -> &str {
    path.strip_prefix(paths::CHEF_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
}

fn knife_show(cookbook: &str, title: String) -> Step {
    Step::new(title, "knife")
        .args(["cookbook", "show", cookbook])
        .dir(Path::new(paths::CHEF_DIR))
}

fn knife_upload(ctx: &Context, cookbook: &str) -> Step {
    let repo = ctx.root.join(paths::CHEF_DIR);
    Step::new(format!("upload cookbook {cookbook}"), "knife")
        .arg("upload")
        .arg("--chef-repo-path")
        .arg(repo.display().to_string())
        .arg(format!("cookbooks/{cookbook}"))
        .dir(Path::new(paths::CHEF_DIR))
}

fn chef_install(policy: &str) -> Step {
    Step::new(format!("regenerate {}", paths::lock_for(policy)), "chef")
        .args(["install", in_chef(policy)])
        .dir(Path::new(paths::CHEF_DIR))
}

/// The steps in order: look at the server, upload, verify, regenerate locks.
fn steps(ctx: &Context, work: &PolicyWork) -> Plan {
    let mut plan = Plan::default();
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        let refuse = if upload.bumped_here {
            format!("stops if the server already has {version}")
        } else {
            format!("the upload is skipped if the server already has {version}")
        };
        plan.push(
            knife_show(name, format!("look up {name} on the chef server")),
            false,
            Some(refuse),
        );
        plan.push(
            knife_upload(ctx, name),
            true,
            Some(format!("uploads {name} {version} to the chef server")),
        );
        plan.push(
            knife_show(name, format!("verify that {name} {version} arrived")),
            false,
            None,
        );
    }
    for policy in &work.locks {
        plan.push(
            chef_install(policy),
            false,
            Some(format!("after removing {}", paths::lock_for(policy))),
        );
    }
    plan
}

fn report_blocking(ctx: &Context, blocking: &[Finding], severity: Severity) {
    if blocking.is_empty() {
        return;
    }
    for finding in blocking {
        eprint!("{}", finding.render(&ctx.paint));
    }
    match severity {
        Severity::Error => eprintln!(
            "{}: check reports {} error(s) besides stale locks; nothing is uploaded while a check fails (fix them, or edit only with --offline). Nothing was written and nothing was run.",
            ctx.paint.error("error"),
            blocking.len()
        ),
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

/// For --offline: the runbook's commands that are left, in order, from chef/.
fn left_to_run(ctx: &Context, work: &PolicyWork) -> String {
    let mut out = format!("Left to run, from {}/:\n", paths::CHEF_DIR);
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        let before = if upload.bumped_here {
            format!("must not list {version} yet")
        } else {
            format!("if it lists {version}, skip the upload")
        };
        let _ = writeln!(out, "  knife cookbook show {name}    # {before}");
        let _ = writeln!(out, "  {}", knife_upload(ctx, name).command_line());
        let _ = writeln!(out, "  knife cookbook show {name}    # must list {version}");
    }
    for policy in &work.locks {
        let _ = writeln!(out, "  rm {}", in_chef(&paths::lock_for(policy)));
        let _ = writeln!(out, "  {}", chef_install(policy).command_line());
    }
    out.push_str("or, with the chef server in reach: cargo xtask chef-policy");
    out
}

/// Runs the planned steps; the edits are written after the server was asked
/// and before anything is uploaded.
pub fn execute(ctx: &Context, runner: &Runner, work: PolicyWork) -> Result<()> {
    let total = work.plan.len();
    let mut n = 0;
    let mut changes = Some(work.changes);
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        n += 1;
        let outcome = runner.step(n, total, &work.plan.steps[n - 1].step)?;
        let on_server = match server_versions(name, &outcome) {
            Some(versions) => versions,
            None => return Err(AlreadyReported.into()),
        };
        let present = on_server.iter().any(|v| v == version);
        if present && upload.bumped_here {
            eprintln!(
                "{}: the chef server already has {name} {version}, and an uploaded cookbook version is frozen; pass a higher --cookbook-version. Nothing was written and nothing was uploaded.",
                ctx.paint.error("error")
            );
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
            let arrived = server_versions(name, &outcome)
                .is_some_and(|versions| versions.iter().any(|v| v == version));
            if !arrived {
                eprintln!(
                    "{}: `knife cookbook show {name}` does not list {version} after the upload; look at the chef server before going on",
                    ctx.paint.error("error")
                );
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
        let tree = crate::tree::WorkTree {
            root: ctx.root.clone(),
        };
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
    let findings = rules::evaluate(&load(ctx)?, None);
    let errors = rules::count(&findings, Severity::Error);
    if errors > 0 {
        for finding in findings.iter().filter(|f| f.severity == Severity::Error) {
            eprint!("{}", finding.render(&ctx.paint));
        }
        eprintln!(
            "{}: check still reports {errors} error(s)",
            ctx.paint.error("error")
        );
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
    eprintln!(
        "{}: stopped after the failed step; nothing after it ran. Fix the cause and run `cargo xtask chef-policy` again: it picks up the edits already written.",
        ctx.paint.error("error")
    );
    Err(AlreadyReported.into())
}

/// The versions `knife cookbook show <name>` listed (newest first); an empty
/// list when the server has none; `None` (reported) when knife failed otherwise.
fn server_versions(name: &str, outcome: &crate::runner::Outcome) -> Option<Vec<String>> {
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
        println!("  (the chef server has no version of {name} yet)");
        return Some(Vec::new());
    }
    None
}

/// Reads the lock `chef install` wrote (the policy-lock rule, on the files as
/// they are now): it must lock every pin of its policy, the new cookbook
/// version among them, and carry the policy's literal attributes.
fn verify_lock(ctx: &Context, policy_path: &str, upload: Option<&Upload>) -> Result<()> {
    let inventory = load(ctx)?;
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
        eprintln!(
            "{}: the lock `chef install` wrote does not match {policy_path}:\n  - {}\nDo not push it; look at the chef server's cookbooks and run `cargo xtask chef-policy` again.",
            ctx.paint.error("error"),
            problems.join("\n  - ")
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shown_command;

    #[test]
    fn requests_are_validated() {
        assert!(PolicyRequest::new(Some("2021-02-29"), None).is_err());
        assert!(PolicyRequest::new(Some("2021-13-01"), None).is_err());
        assert!(PolicyRequest::new(None, Some("1.0")).is_err());
        let ok = PolicyRequest::new(Some("2024-02-29"), Some("v1.0.20")).unwrap();
        assert_eq!(
            ok.cookbook_version.map(|v| v.to_string()).as_deref(),
            Some("1.0.20")
        );
    }

    #[test]
    fn chef_paths_are_relative_to_chef() {
        assert_eq!(in_chef("chef/policyfiles/base.rb"), "policyfiles/base.rb");
        assert_eq!(
            shown_command(&chef_install("chef/policyfiles/base.rb")),
            "cd chef && chef install policyfiles/base.rb"
        );
    }
}
