//! The git-aware rules, judging a change against a baseline: a changed
//! cookbook or package needs a new version; and an error that stood already
//! before the change does not refuse it.

use std::collections::BTreeMap;

use super::{compare_versions, Finding, Location, Severity, COOKBOOK_BUMP, PACKAGE_BUMP};
use crate::semver::Semver;
use crate::sites::{paths, Inventory};

/// What changed between a baseline (HEAD or a revision) and the tree being judged.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub label: String,
    /// Changed paths, relative to the monorepo root.
    pub changed: Vec<String>,
    /// cookbook name → `version` in the baseline's metadata.rb.
    pub cookbook_versions: BTreeMap<String, String>,
    /// The Makefile's VERSION in the baseline (None: no Makefile there).
    pub package_version: Option<String>,
    /// Changed cookbook and package files whose code is the same: only `#`
    /// comments and blank lines differ (a licence header). No bump needed.
    pub comment_only: Vec<String>,
}

impl Baseline {
    /// Changed paths that change what runs.
    fn changed_code(&self) -> impl Iterator<Item = &String> {
        self.changed
            .iter()
            .filter(|path| !self.comment_only.contains(path))
    }
}

pub(super) fn cookbook_bump(inv: &Inventory, baseline: &Baseline, findings: &mut Vec<Finding>) {
    for cookbook in &inv.cookbooks {
        let changed: Vec<&str> = baseline
            .changed_code()
            .filter(|path| {
                inv.cookbook_of(path)
                    .is_some_and(|c| c.name == cookbook.name)
            })
            .map(String::as_str)
            .collect();
        if changed.is_empty() {
            continue;
        }
        let Some(before) = baseline.cookbook_versions.get(&cookbook.name) else {
            continue; // a new cookbook: any version is its first
        };
        if compare_versions(&cookbook.version.value, before) == Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let next = Semver::parse(before)
            .map(|v| v.next_patch().to_string())
            .unwrap_or_else(|_| "a higher version".into());
        let help = if cookbook.name == paths::UPGRADE_COOKBOOK {
            format!("cargo xtask chef-policy --offline --cookbook-version {next}")
        } else {
            format!(
                "set `version '{next}'` in {} and the policyfile pins that name {before}",
                cookbook.version.path
            )
        };
        findings.push(Finding::new(
            COOKBOOK_BUMP,
            Severity::Error,
            format!(
                "cookbook {} changed since {} ({}) but its version is still {}",
                cookbook.name,
                baseline.label,
                changed.join(", "),
                cookbook.version.value
            ),
            vec![Location::of(&cookbook.version)],
            Some(help),
        ));
    }
}

pub(super) fn package_bump(inv: &Inventory, baseline: &Baseline, findings: &mut Vec<Finding>) {
    let changed: Vec<&str> = baseline
        .changed_code()
        .filter(|path| paths::is_under(path, paths::PACKAGE_DIR))
        .map(String::as_str)
        .collect();
    let Some(before) = &baseline.package_version else {
        return;
    };
    if changed.is_empty() || *before != inv.package_version.value {
        return;
    }
    let next = Semver::parse(before)
        .map(|v| v.next_patch().to_string())
        .unwrap_or_else(|_| "<new version>".into());
    findings.push(Finding::new(
        PACKAGE_BUMP,
        Severity::Error,
        format!(
            "the mobiledgex package changed since {} ({}) but its VERSION is still {before}: the same version would be published twice",
            baseline.label,
            changed.join(", ")
        ),
        vec![Location::of(&inv.package_version)],
        Some(format!("cargo xtask bump-base-image {next}")),
    ));
}

/// Judging a change (`check --staged`, `--since`): an error that already stood
/// at the base (`before`: the base's findings) and none of whose files the
/// change touches becomes a warning marked as pre-existing. The commit did
/// not make it and often cannot fix it (a lock needs the chef server).
pub fn spare_pre_existing(findings: &mut [Finding], before: &[Finding], changed: &[String]) {
    for finding in findings.iter_mut() {
        let stood_before = before
            .iter()
            .any(|old| old.rule == finding.rule && old.message == finding.message);
        let touched = finding
            .locations
            .iter()
            .any(|location| changed.contains(&location.path));
        if stood_before && !touched {
            finding.pre_existing = true;
            finding.severity = Severity::Warning;
        }
    }
}
