//! The rules on version sites that must agree across the monorepo: the base
//! image version, the package chef upgrades to, the APT snapshot, chef-client,
//! kubernetes, and the syntax of the dependencies list.

use super::policy::regenerate_lock_command;
use super::{compare_versions, Finding, Location, Severity};
use super::{
    APT_SNAPSHOT, CHEF_CLIENT, CHEF_PACKAGE_VERSION, DEPENDENCIES_SYNTAX, KUBERNETES,
    KUBERNETES_PACKAGES, PACKAGE_VERSION,
};
use crate::debian::version::{upstream_only, without_revision};
use crate::sites::{paths, Inventory, Site};

/// A short name for a site's file in messages.
fn file_name(site: &Site) -> &str {
    if site.path == paths::MAKEFILE {
        "Makefile"
    } else {
        &site.path
    }
}

/// The highest of some versions (the one furthest along).
fn highest<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    values.into_iter().fold(None, |best, value| match best {
        Some(best) if compare_versions(best, value) != Some(std::cmp::Ordering::Less) => Some(best),
        _ => Some(value),
    })
}

pub(super) fn package_version(inv: &Inventory, findings: &mut Vec<Finding>) {
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
    findings.push(Finding::new(
        PACKAGE_VERSION,
        Severity::Error,
        format!("base image version disagrees: {}", said.join(", ")),
        involved.into_iter().map(Location::of).collect(),
        Some(format!("cargo xtask bump-base-image {target}")),
    ));
}

pub(super) fn chef_package_version(inv: &Inventory, findings: &mut Vec<Finding>) {
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
        findings.push(Finding::new(
            CHEF_PACKAGE_VERSION,
            severity,
            message,
            vec![Location::of(site), Location::of(package)],
            Some(help),
        ));
    }
}

pub(super) fn apt_snapshot(inv: &Inventory, findings: &mut Vec<Finding>) {
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
        findings.push(Finding::new(
            APT_SNAPSHOT,
            Severity::Error,
            message,
            vec![Location::of(packer), Location::of(site)],
            Some(format!(
                "cargo xtask chef-policy --apt-snapshot {}",
                what(packer)
            )),
        ));
    }
}

pub(super) fn chef_client(inv: &Inventory, findings: &mut Vec<Finding>) {
    let Some(pin) = inv.dependencies.get("chef") else {
        for site in &inv.chef_clients {
            findings.push(Finding::new(
                CHEF_CLIENT,
                Severity::Error,
                format!(
                    "chef-client is pinned to {} in {}, but `chef` is not pinned in dependencies",
                    site.value, site.path
                ),
                vec![Location::of(site)],
                Some(format!(
                    "add `chef =<version>-1` to {}",
                    paths::DEPENDENCIES
                )),
            ));
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
        findings.push(Finding::new(
            CHEF_CLIENT,
            Severity::Error,
            format!(
                "chef-client disagrees: {} updates to {}, dependencies pins chef {}{}",
                site.path, site.value, pin.op, pin.version
            ),
            vec![
                Location::of(site),
                Location {
                    path: paths::DEPENDENCIES.into(),
                    line: pin.line,
                },
            ],
            // Either side can move: the image to the policy's chef, or the policy to the image's.
            Some(format!(
                "cargo xtask deps set chef={epoch}{}{revision} (or set default['chef_client_updater']['version'] to '{pinned}' in {}, then {})",
                site.value,
                site.path,
                regenerate_lock_command(&site.path)
            )),
        ));
    }
}

pub(super) fn kubernetes(inv: &Inventory, findings: &mut Vec<Finding>) {
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
    findings.push(Finding::new(
        KUBERNETES,
        Severity::Error,
        format!(
            "kubeadm, kubectl and kubelet must be pinned to one version: {}",
            said.join(", ")
        ),
        present
            .iter()
            .map(|pin| Location {
                path: paths::DEPENDENCIES.into(),
                line: pin.line,
            })
            .collect(),
        Some(format!("cargo xtask deps set --kubernetes {target}")),
    ));
}

pub(super) fn dependencies_syntax(inv: &Inventory, findings: &mut Vec<Finding>) {
    for error in &inv.dependencies.errors {
        findings.push(Finding::new(
            DEPENDENCIES_SYNTAX,
            Severity::Error,
            format!("{}: `{}`", error.message, error.text.trim()),
            vec![Location {
                path: paths::DEPENDENCIES.into(),
                line: error.line,
            }],
            Some("edit the line to `name`, blanks, then an operator glued to a Debian version, e.g. `kubeadm                         =1.18.20-00`".into()),
        ));
    }
}
