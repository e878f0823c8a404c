//! The consistency rules (`shared/spec/cli.md`), used by `check`, `versions` and
//! after every edit. Pure: an inventory (and, for the git-aware rules, what
//! changed since a baseline) in, every finding out.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::debian::version::{upstream_only, without_revision, DebVersion};
use crate::formats::lock_json::{self, Lock};
use crate::formats::ruby::{self, Literal, Precedence, Requirement};
use crate::semver::{chef_constraint_allows, Semver};
use crate::sites::{ids, paths, Inventory, LockState, Policy, Site};
use crate::style::Paint;

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

/// Every finding of every rule. The git-aware rules run only with a baseline.
pub fn evaluate(inv: &Inventory, baseline: Option<&Baseline>) -> Vec<Finding> {
    let mut findings = Vec::new();
    package_version(inv, &mut findings);
    chef_package_version(inv, &mut findings);
    apt_snapshot(inv, &mut findings);
    chef_client(inv, &mut findings);
    kubernetes(inv, &mut findings);
    dependencies_syntax(inv, &mut findings);
    cookbook_pin(inv, &mut findings);
    policy_lock(inv, &mut findings);
    if let Some(baseline) = baseline {
        cookbook_bump(inv, baseline, &mut findings);
        package_bump(inv, baseline, &mut findings);
    }
    findings
}

/// A short name for a site's file in messages.
fn file_name(site: &Site) -> &str {
    if site.path == paths::MAKEFILE {
        "Makefile"
    } else {
        &site.path
    }
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

/// The highest of some versions (the one furthest along).
fn highest<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    values.into_iter().fold(None, |best, value| match best {
        Some(best) if compare_versions(best, value) != Some(std::cmp::Ordering::Less) => Some(best),
        _ => Some(value),
    })
}

fn package_version(inv: &Inventory, findings: &mut Vec<Finding>) {
    let sites = inv.base_image_sites();
    let reference = &inv.package_version;
    if sites.iter().all(|site| site.value == reference.value) {
        return;
    }
    let involved: Vec<&Site> = sites
        .iter()
        .copied()
        .filter(|site| site.id == reference.id || site.value != reference.value)
        .collect();
    let said: Vec<String> = involved
        .iter()
        .map(|site| format!("{} has {}", file_name(site), site.value))
        .collect();
    let target = highest(sites.iter().map(|site| site.value.as_str())).unwrap_or(&reference.value);
    findings.push(Finding {
        pre_existing: false,
        rule: PACKAGE_VERSION,
        severity: Severity::Error,
        message: format!("base image version disagrees: {}", said.join(", ")),
        locations: involved.into_iter().map(Location::of).collect(),
        help: Some(format!("cargo xtask bump-base-image {target}")),
    });
}

fn chef_package_version(inv: &Inventory, findings: &mut Vec<Finding>) {
    let package = &inv.package_version;
    for site in &inv.chef_package_versions {
        if site.value == package.value {
            continue;
        }
        let (severity, message, help) = match compare_versions(&site.value, &package.value) {
            Some(std::cmp::Ordering::Less) => (
                Severity::Warning,
                format!(
                    "chef upgrades VMs to mobiledgex {}, behind the package's {} (normal until the new base image is rolled out)",
                    site.value, package.value
                ),
                "after the rollout: cargo xtask chef-policy".to_string(),
            ),
            _ => (
                Severity::Error,
                format!(
                    "chef upgrades VMs to mobiledgex {}, but the package version is {}: that package is never built",
                    site.value, package.value
                ),
                format!(
                    "cargo xtask bump-base-image {} (or set {} back to {})",
                    site.value,
                    site.location(),
                    package.value
                ),
            ),
        };
        findings.push(Finding {
            pre_existing: false,
            rule: CHEF_PACKAGE_VERSION,
            severity,
            message,
            locations: vec![Location::of(site), Location::of(package)],
            help: Some(help),
        });
    }
}

fn apt_snapshot(inv: &Inventory, findings: &mut Vec<Finding>) {
    let packer = &inv.packer_apt_repo;
    for site in &inv.chef_apt_repos {
        if site.value == packer.value {
            continue;
        }
        let what = |site: &Site| site.snapshot().unwrap_or(&site.value).to_string();
        let message = if site.snapshot() != packer.snapshot() {
            format!(
                "APT snapshot disagrees: packer builds from {}, chef points VMs at {}",
                what(packer),
                what(site)
            )
        } else {
            format!(
                "APT repository disagrees: packer builds from {}, chef points VMs at {}",
                packer.value, site.value
            )
        };
        findings.push(Finding {
            pre_existing: false,
            rule: APT_SNAPSHOT,
            severity: Severity::Error,
            message,
            locations: vec![Location::of(packer), Location::of(site)],
            help: Some(format!(
                "cargo xtask chef-policy --apt-snapshot {}",
                what(packer)
            )),
        });
    }
}

fn chef_client(inv: &Inventory, findings: &mut Vec<Finding>) {
    let Some(pin) = inv.dependencies.get("chef") else {
        for site in &inv.chef_clients {
            findings.push(Finding {
                pre_existing: false,
                rule: CHEF_CLIENT,
                severity: Severity::Error,
                message: format!(
                    "chef-client is pinned to {} in {}, but `chef` is not pinned in dependencies",
                    site.value, site.path
                ),
                locations: vec![Location::of(site)],
                help: Some(format!(
                    "add `chef =<version>-1` to {}",
                    paths::DEPENDENCIES
                )),
            });
        }
        return;
    };
    // chef names a version without epoch or revision: `1:17.8.25-1` is `17.8.25`.
    let pinned = upstream_only(&pin.version);
    // The pin's epoch (`1:`) and Debian revision (`-1`), kept when the image
    // follows the policy.
    let with_epoch = without_revision(&pin.version);
    let epoch = &with_epoch[..with_epoch.len() - pinned.len()];
    let revision = &pin.version[with_epoch.len()..];
    for site in &inv.chef_clients {
        if site.value == pinned {
            continue;
        }
        findings.push(Finding {
            pre_existing: false,
            rule: CHEF_CLIENT,
            severity: Severity::Error,
            message: format!(
                "chef-client disagrees: {} updates to {}, dependencies pins chef {}{}",
                site.path, site.value, pin.op, pin.version
            ),
            locations: vec![
                Location::of(site),
                Location {
                    path: paths::DEPENDENCIES.into(),
                    line: pin.line,
                },
            ],
            // Either side can move: the image to the policy's chef, or the policy to the image's.
            help: Some(format!(
                "cargo xtask deps set chef={epoch}{}{revision} (or set default['chef_client_updater']['version'] to '{pinned}' in {}, then {})",
                site.value,
                site.path,
                regenerate_lock_command(&site.path)
            )),
        });
    }
}

fn kubernetes(inv: &Inventory, findings: &mut Vec<Finding>) {
    let pins: Vec<_> = KUBERNETES_PACKAGES
        .iter()
        .map(|name| (*name, inv.dependencies.get(name)))
        .collect();
    let present: Vec<_> = pins.iter().filter_map(|(_, pin)| *pin).collect();
    if present.is_empty() {
        return; // a monorepo without kubernetes in its base image has nothing to agree on
    }
    let missing: Vec<&str> = pins
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    let agree = present
        .iter()
        .all(|pin| pin.version == present[0].version && pin.op == present[0].op);
    if agree && missing.is_empty() {
        return;
    }
    let said: Vec<String> = present
        .iter()
        .map(|pin| format!("{} {}{}", pin.name, pin.op, pin.version))
        .chain(missing.iter().map(|name| format!("{name} not pinned")))
        .collect();
    let target = highest(present.iter().map(|pin| pin.version.as_str())).unwrap_or_default();
    findings.push(Finding {
        pre_existing: false,
        rule: KUBERNETES,
        severity: Severity::Error,
        message: format!(
            "kubeadm, kubectl and kubelet must be pinned to one version: {}",
            said.join(", ")
        ),
        locations: present
            .iter()
            .map(|pin| Location {
                path: paths::DEPENDENCIES.into(),
                line: pin.line,
            })
            .collect(),
        help: Some(format!("cargo xtask deps set --kubernetes {target}")),
    });
}

fn dependencies_syntax(inv: &Inventory, findings: &mut Vec<Finding>) {
    for error in &inv.dependencies.errors {
        findings.push(Finding {
            pre_existing: false,
            rule: DEPENDENCIES_SYNTAX,
            severity: Severity::Error,
            message: format!("{}: `{}`", error.message, error.text.trim()),
            locations: vec![Location {
                path: paths::DEPENDENCIES.into(),
                line: error.line,
            }],
            help: Some("edit the line to `name`, blanks, then an operator glued to a Debian version, e.g. `kubeadm                         =1.18.20-00`".into()),
        });
    }
}

fn cookbook_pin(inv: &Inventory, findings: &mut Vec<Finding>) {
    for policy in &inv.policies {
        for pin in &policy.pins {
            let Some(cookbook) = inv.cookbook(&pin.key) else {
                continue; // a community cookbook from the supermarket: not ours to judge
            };
            let repo = &cookbook.version;
            match compare_versions(&pin.value, &repo.value) {
                Some(std::cmp::Ordering::Equal) => {}
                Some(std::cmp::Ordering::Less) => findings.push(Finding {
                    pre_existing: false,
                    rule: COOKBOOK_PIN,
                    severity: Severity::Warning,
                    message: format!(
                        "policy {} pins {} {}, older than the cookbook's {} (it uses what was uploaded before)",
                        policy.name, pin.key, pin.value, repo.value
                    ),
                    locations: vec![Location::of(pin), Location::of(repo)],
                    help: Some(format!(
                        "nothing, if the policy is meant to stay on {}; to use the repository's cookbook: pin '= {}' in {}, then {}",
                        pin.value,
                        repo.value,
                        policy.path,
                        regenerate_lock_command(&policy.path)
                    )),
                }),
                _ => findings.push(Finding {
                    pre_existing: false,
                    rule: COOKBOOK_PIN,
                    severity: Severity::Error,
                    message: format!(
                        "policy {} pins {} {}, newer than the cookbook's {} in the repository",
                        policy.name, pin.key, pin.value, repo.value
                    ),
                    locations: vec![Location::of(pin), Location::of(repo)],
                    help: Some(format!(
                        "set `version '{}'` in {} or pin '= {}' in {}",
                        pin.value,
                        repo.path,
                        repo.value,
                        policy.path
                    )),
                }),
            }
        }
    }
}

/// The command that regenerates a policy's lock, run from `chef/`.
pub fn regenerate_lock_command(policy_path: &str) -> String {
    let rel = policy_path
        .strip_prefix(&format!("{}/", paths::CHEF_DIR))
        .unwrap_or(policy_path);
    format!(
        "(cd {} && rm -f {} && chef install {rel})",
        paths::CHEF_DIR,
        paths::lock_for(rel)
    )
}

fn literal_matches(literal: &Literal, value: &Value) -> bool {
    match literal {
        Literal::Str(s) => value.as_str() == Some(s),
        Literal::Int(n) => value.as_i64() == Some(*n),
        Literal::Bool(b) => value.as_bool() == Some(*b),
    }
}

/// A lock is stale when `chef install` from the policyfile would write another
/// policy: a pin the lock does not meet, another run list, another attribute,
/// another name. Cookbooks the solver added for a dependency are not drift.
fn policy_lock(inv: &Inventory, findings: &mut Vec<Finding>) {
    for policy in &inv.policies {
        let help = Some(regenerate_lock_command(&policy.path));
        let lock = match &policy.lock {
            LockState::Present(lock) => lock,
            LockState::Missing => {
                findings.push(Finding {
                    pre_existing: false,
                    rule: POLICY_LOCK,
                    severity: Severity::Error,
                    message: format!(
                        "policy {} has no lock file {}",
                        policy.name, policy.lock_path
                    ),
                    locations: vec![Location {
                        path: policy.path.clone(),
                        line: 1,
                    }],
                    help,
                });
                continue;
            }
            LockState::Invalid(why) => {
                findings.push(Finding {
                    pre_existing: false,
                    rule: POLICY_LOCK,
                    severity: Severity::Error,
                    message: format!("{} cannot be read: {why}", policy.lock_path),
                    locations: vec![Location {
                        path: policy.lock_path.clone(),
                        line: 1,
                    }],
                    help,
                });
                continue;
            }
        };
        let mut stale = Stale::default();
        let at = |line: usize| Location {
            path: policy.path.clone(),
            line,
        };
        if let Some(locked_name) = lock.name.as_deref().filter(|n| *n != policy.name) {
            stale.add(
                format!(
                    "it is the lock of policy `{locked_name}`, not `{}`",
                    policy.name
                ),
                None,
            );
        }
        for requirement in &policy.requirements {
            stale_requirement(requirement, lock, &mut stale, at(requirement.line));
        }
        stale_run_lists(policy, lock, &mut stale);
        stale_attributes(policy, lock, &mut stale);
        if !stale.reasons.is_empty() {
            let mut locations = stale.locations;
            locations.push(Location {
                path: policy.lock_path.clone(),
                line: 1,
            });
            findings.push(Finding {
                pre_existing: false,
                rule: POLICY_LOCK,
                severity: Severity::Error,
                message: format!(
                    "{} is stale: {}",
                    policy.lock_path,
                    stale.reasons.join("; ")
                ),
                locations,
                help: help.clone(),
            });
        }
        unneeded_cookbooks(policy, lock, help, findings);
    }
}

/// What makes one lock stale, and where.
#[derive(Default)]
struct Stale {
    reasons: Vec<String>,
    locations: Vec<Location>,
}

impl Stale {
    fn add(&mut self, reason: String, location: Option<Location>) {
        self.reasons.push(reason);
        self.locations.extend(location);
    }
}

fn stale_requirement(requirement: &Requirement, lock: &Lock, stale: &mut Stale, at: Location) {
    let name = &requirement.name;
    let Some(locked) = lock.cookbooks.get(name) else {
        let wanted = requirement
            .constraint
            .as_deref()
            .map_or(String::new(), |c| {
                format!(" {}", c.trim_start_matches("= "))
            });
        stale.add(format!("{name}{wanted} is not in the lock"), Some(at));
        return;
    };
    let Some(constraint) = requirement.constraint.as_deref() else {
        return;
    };
    match chef_constraint_allows(constraint, locked) {
        Some(true) => {}
        Some(false) => {
            let wanted = constraint
                .strip_prefix('=')
                .map_or(constraint, str::trim_start);
            stale.add(
                format!("{name} is pinned to {wanted} but locked at {locked}"),
                Some(at),
            )
        }
        // Not a version constraint (a source option): nothing to compare.
        None => {}
    }
}

fn stale_run_lists(policy: &Policy, lock: &Lock, stale: &mut Stale) {
    let normalized = |items: &[String]| -> Vec<String> {
        items
            .iter()
            .map(|item| ruby::normalize_run_list_item(item))
            .collect()
    };
    let show = |items: &[String]| format!("[{}]", items.join(", "));
    let mut named_in_policy = Vec::new();
    for list in &policy.run_lists {
        let (what, locked) = match &list.name {
            None => ("the run_list".to_string(), Some(&lock.run_list)),
            Some(name) => {
                named_in_policy.push(name.as_str());
                (
                    format!("named run list `{name}`"),
                    lock.named_run_lists.get(name),
                )
            }
        };
        let wanted = normalized(&list.items);
        let location = Some(Location {
            path: policy.path.clone(),
            line: list.line,
        });
        match locked {
            Some(locked) if normalized(locked) == wanted => {}
            Some(locked) => stale.add(
                format!(
                    "{what} is {} but the lock has {}",
                    show(&wanted),
                    show(&normalized(locked))
                ),
                location,
            ),
            None => stale.add(format!("{what} is not in the lock"), location),
        }
    }
    for name in lock.named_run_lists.keys() {
        if !named_in_policy.contains(&name.as_str()) {
            stale.add(
                format!("the lock has named run list `{name}`, which the policyfile no longer has"),
                None,
            );
        }
    }
}

fn stale_attributes(policy: &Policy, lock: &Lock, stale: &mut Stale) {
    let levels = [
        (Precedence::Default, &policy.attributes),
        (Precedence::Override, &policy.override_attributes),
    ];
    for (level, attributes) in levels {
        for attribute in attributes {
            let locked = lock.attribute_at(level, &attribute.path);
            if !locked.is_some_and(|value| literal_matches(&attribute.value, value)) {
                let locked = locked.map_or("nothing".to_string(), Value::to_string);
                stale.add(
                    format!(
                        "{}attribute {} is {} but the lock has {locked}",
                        if level == Precedence::Override {
                            "override "
                        } else {
                            ""
                        },
                        attribute.found.key,
                        attribute.found.value
                    ),
                    Some(Location {
                        path: policy.path.clone(),
                        line: attribute.found.line,
                    }),
                );
            }
        }
        // What the lock holds that no assignment of the policyfile sets any more.
        for leaf in lock_json::leaf_paths(lock.attributes(level)) {
            if leaf.is_empty() {
                continue;
            }
            let still_set = policy
                .assigned
                .iter()
                .any(|(l, path)| *l == level && leaf.starts_with(path));
            if !still_set {
                stale.add(
                    format!(
                        "the lock has {} attribute {}, which the policyfile no longer sets",
                        level.keyword(),
                        leaf.join(".")
                    ),
                    None,
                );
            }
        }
    }
}

/// Locked cookbooks that neither the policyfile nor anything it needs asks
/// for: harmless, but `chef install` would drop them.
fn unneeded_cookbooks(
    policy: &Policy,
    lock: &Lock,
    help: Option<String>,
    findings: &mut Vec<Finding>,
) {
    let run_list_cookbooks = policy
        .run_lists
        .iter()
        .flat_map(|list| list.items.iter())
        .map(|item| ruby::normalize_run_list_item(item))
        .filter_map(|item| {
            let recipe = item.strip_prefix("recipe[")?;
            Some(recipe.split("::").next()?.to_string())
        })
        .collect::<Vec<_>>();
    let roots = policy
        .requirements
        .iter()
        .map(|r| r.name.as_str())
        .chain(run_list_cookbooks.iter().map(String::as_str));
    let needed = lock.needed_by(roots);
    let unneeded: Vec<&String> = lock
        .cookbooks
        .keys()
        .filter(|name| !needed.contains(name.as_str()))
        .collect();
    if unneeded.is_empty() {
        return;
    }
    findings.push(Finding {
        pre_existing: false,
        rule: POLICY_LOCK,
        severity: Severity::Warning,
        message: format!(
            "{} locks {} although nothing in policy {} needs {} any more",
            policy.lock_path,
            unneeded
                .iter()
                .map(|name| format!("{name} {}", lock.cookbooks[*name]))
                .collect::<Vec<_>>()
                .join(", "),
            policy.name,
            if unneeded.len() == 1 { "it" } else { "them" }
        ),
        locations: unneeded
            .iter()
            .map(|name| Location {
                path: policy.lock_path.clone(),
                line: lock.cookbook_lines.get(*name).copied().unwrap_or(1),
            })
            .collect(),
        help,
    });
}

fn cookbook_bump(inv: &Inventory, baseline: &Baseline, findings: &mut Vec<Finding>) {
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
        findings.push(Finding {
            pre_existing: false,
            rule: COOKBOOK_BUMP,
            severity: Severity::Error,
            message: format!(
                "cookbook {} changed since {} ({}) but its version is still {}",
                cookbook.name,
                baseline.label,
                changed.join(", "),
                cookbook.version.value
            ),
            locations: vec![Location::of(&cookbook.version)],
            help: Some(help),
        });
    }
}

fn package_bump(inv: &Inventory, baseline: &Baseline, findings: &mut Vec<Finding>) {
    let prefix = format!("{}/", paths::PACKAGE_DIR);
    let changed: Vec<&str> = baseline
        .changed_code()
        .filter(|path| path.starts_with(&prefix))
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
    findings.push(Finding {
        pre_existing: false,
        rule: PACKAGE_BUMP,
        severity: Severity::Error,
        message: format!(
            "the mobiledgex package changed since {} ({}) but its VERSION is still {before}: the same version would be published twice",
            baseline.label,
            changed.join(", ")
        ),
        locations: vec![Location::of(&inv.package_version)],
        help: Some(format!("cargo xtask bump-base-image {next}")),
    });
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

/// The errors that stop a command, printed; `ignored` rules do not stop it
/// (said in a note). A stale lock, say, does not change a package or an image:
/// it is chef-policy's business, run after the images are built.
pub fn blocking<'a>(
    findings: &'a [Finding],
    ignored: &[&str],
    paint: &Paint,
) -> (Vec<&'a Finding>, Vec<&'a Finding>) {
    let errors = findings.iter().filter(|f| f.severity == Severity::Error);
    let (ignored, blocking): (Vec<&Finding>, Vec<&Finding>) =
        errors.partition(|f| ignored.contains(&f.rule));
    for finding in &blocking {
        eprint!("{}", finding.render(paint));
    }
    (blocking, ignored)
}

pub fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

#[cfg(test)]
mod tests;
