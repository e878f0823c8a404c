//! What `chef-policy` decides before anything is done: the request, the chef
//! edits, the cookbook bump that follows them, the locks to regenerate, and
//! the errors that stop the upload. Edits that would break a rule are refused here.

use anyhow::Result;

use super::steps::steps;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::plan::Plan;
use crate::rules::{self, Finding, Severity};
use crate::runner::Runner;
use crate::semver::Semver;
use crate::sites::{self, paths, Inventory, Site};
use crate::{bad, cookbooks};

/// What chef-policy is asked to do, validated.
#[derive(Debug, Clone, Default)]
pub(super) struct PolicyRequest {
    /// Point chef's APT repository at this snapshot date (YYYY-MM-DD).
    pub apt_snapshot: Option<String>,
    /// The new version of the upgrade cookbook (default: a patch bump when its files change).
    pub cookbook_version: Option<Semver>,
}

impl PolicyRequest {
    /// Checks what a user typed: a real calendar date, an X.Y.Z version.
    pub(super) fn new(
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
pub(super) struct Upload {
    pub cookbook: String,
    /// The version it has once the edits are written.
    pub version: String,
    /// This run raises the version: the server must not have it yet.
    pub bumped_here: bool,
}

/// Everything planned, nothing done yet.
pub(super) struct PolicyWork {
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
    pub(super) fn nothing_to_do(&self) -> bool {
        self.changes.is_empty()
            && self.locks.is_empty()
            && self.upload.as_ref().is_none_or(|u| !u.bumped_here)
    }
}

/// Plans the edits, the cookbook bump and the steps; refuses (exit 2) edits
/// that would break a rule that held before.
pub(super) fn plan(
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
    let bumps = cookbooks::bump_touched(ctx, runner, inventory, edited, wanted, None, changes)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
