//! The consistency rules (`shared/spec/cli.md`), used by `check`, `versions` and
//! after every edit. Pure: an inventory (and, for the git-aware rules, what
//! changed since a baseline) in, every finding out.
//!
//! Here: the rule names, what a finding is and how it is shown, and
//! `evaluate`, which runs every rule. The rules themselves live by family:
//! `versions` (sites that must agree), `policy` (cookbook pins and locks) and
//! `change` (the git-aware rules).

use serde_json::{json, Value};

use crate::debian::version::DebVersion;
use crate::semver::Semver;
use crate::sites::{ids, Inventory, Site};
use crate::style::Paint;

mod change;
mod policy;
mod versions;

pub use change::{spare_pre_existing, Baseline};

pub const PACKAGE_VERSION: &str = "package-version";
pub const CHEF_PACKAGE_VERSION: &str = "chef-package-version";
pub const APT_SNAPSHOT: &str = "apt-snapshot";
pub const CHEF_CLIENT: &str = "chef-client";
pub const KUBERNETES: &str = "kubernetes";
pub const DEPENDENCIES_SYNTAX: &str = "dependencies-syntax";
pub const COOKBOOK_PIN: &str = "cookbook-pin";
pub const POLICY_LOCK: &str = "policy-lock";
pub const COOKBOOK_BUMP: &str = "cookbook-bump";
pub const PACKAGE_BUMP: &str = "package-bump";

pub const KUBERNETES_PACKAGES: [&str; 3] = ["kubeadm", "kubectl", "kubelet"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: usize,
}

impl Location {
    fn of(site: &Site) -> Location {
        Location {
            path: site.path.clone(),
            line: site.line,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub locations: Vec<Location>,
    /// The command (or edit) that fixes it.
    pub help: Option<String>,
    /// Judging a change: the finding stood already at the base and the change
    /// touches none of its files, so it is only a warning here.
    pub pre_existing: bool,
}

/// Every finding of every rule. The git-aware rules run only with a baseline.
pub fn evaluate(inv: &Inventory, baseline: Option<&Baseline>) -> Vec<Finding> {
    let mut findings = Vec::new();
    versions::package_version(inv, &mut findings);
    versions::chef_package_version(inv, &mut findings);
    versions::apt_snapshot(inv, &mut findings);
    versions::chef_client(inv, &mut findings);
    versions::kubernetes(inv, &mut findings);
    versions::dependencies_syntax(inv, &mut findings);
    policy::cookbook_pin(inv, &mut findings);
    policy::policy_lock(inv, &mut findings);
    if let Some(baseline) = baseline {
        change::cookbook_bump(inv, baseline, &mut findings);
        change::package_bump(inv, baseline, &mut findings);
    }
    findings
}

/// Orders versions as X.Y.Z when they are, else as Debian versions.
fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    if let (Ok(a), Ok(b)) = (Semver::parse(a), Semver::parse(b)) {
        return Some(a.cmp(&b));
    }
    match (DebVersion::parse(a), DebVersion::parse(b)) {
        (Ok(a), Ok(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

/// Which sites each rule judges, for `versions`.
pub fn sites_of(inv: &Inventory, rule: &str) -> Vec<Site> {
    let deps = |names: &[&str]| -> Vec<Site> {
        inv.all_sites()
            .into_iter()
            .filter(|s| s.id == ids::DEPS && names.contains(&s.key.as_str()))
            .collect()
    };
    match rule {
        PACKAGE_VERSION => inv.base_image_sites().into_iter().cloned().collect(),
        CHEF_PACKAGE_VERSION => std::iter::once(inv.package_version.clone())
            .chain(inv.chef_package_versions.iter().cloned())
            .collect(),
        APT_SNAPSHOT => inv.apt_sites().into_iter().cloned().collect(),
        CHEF_CLIENT => inv
            .chef_clients
            .iter()
            .cloned()
            .chain(deps(&["chef"]))
            .collect(),
        KUBERNETES => deps(&KUBERNETES_PACKAGES),
        COOKBOOK_PIN => inv
            .cookbooks
            .iter()
            .map(|c| c.version.clone())
            .chain(inv.policies.iter().flat_map(|p| p.pins.iter().cloned()))
            .collect(),
        _ => Vec::new(),
    }
}

impl Finding {
    /// What a rule found in the tree it judges: `help` is the command (or
    /// edit) that fixes it. Whether it stood already before a change is
    /// decided later, by `spare_pre_existing`.
    pub fn new(
        rule: &'static str,
        severity: Severity,
        message: String,
        locations: Vec<Location>,
        help: Option<String>,
    ) -> Finding {
        Finding {
            rule,
            severity,
            message,
            locations,
            help,
            pre_existing: false,
        }
    }

    /// rustc-style text: `error[rule]: message`, `  --> file:line`, `  = help: …`.
    pub fn render(&self, paint: &Paint) -> String {
        let head = format!("{}[{}]", self.severity.name(), self.rule);
        let head = match self.severity {
            Severity::Error => paint.error(&head),
            Severity::Warning => paint.warning(&head),
        };
        let mut out = format!("{head}: {}\n", paint.bold(&self.message));
        for location in &self.locations {
            out.push_str(&format!(
                "  {} {}:{}\n",
                paint.note("-->"),
                location.path,
                location.line
            ));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("  {} help: {help}\n", paint.note("=")));
        }
        if self.pre_existing {
            out.push_str(&format!(
                "  {} note: already there before this change, which touches none of its files: it does not refuse the change\n",
                paint.note("=")
            ));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "rule": self.rule,
            "severity": self.severity.name(),
            "message": self.message,
            "locations": self.locations.iter().map(|l| json!({"path": l.path, "line": l.line})).collect::<Vec<_>>(),
            "help": self.help,
            "pre_existing": self.pre_existing,
        })
    }
}

/// The errors that stop a command, and the ones of `ignored` rules, which do
/// not (the command says so in a note). A stale lock, say, does not change a
/// package or an image: it is chef-policy's business, run after the images
/// are built.
pub fn blocking<'a>(
    findings: &'a [Finding],
    ignored: &[&str],
) -> (Vec<&'a Finding>, Vec<&'a Finding>) {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .partition(|f| !ignored.contains(&f.rule))
}

pub fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

#[cfg(test)]
mod tests;
