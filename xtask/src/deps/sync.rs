//! `cargo xtask deps sync`: move every `=` pin that is behind the APT
//! snapshot to the snapshot's candidate, through one changeset. The
//! kubernetes trio moves together, chef-client follows `chef` (both by
//! `super::repin`); missing and unsatisfiable pins are listed, never guessed.

use std::collections::BTreeMap;

use anyhow::Result;

use super::outdated::{self, PinCheck, Verdict};
use super::snapshot_index;
use super::Trio;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::debian::packages_index::PackagesIndex;
use crate::debian::version::DebVersion;
use crate::error::AlreadyReported;
use crate::flags;
use crate::rules::KUBERNETES_PACKAGES;
use crate::runner::Runner;
use crate::sites::Inventory;

/// What a sync moves, and what it leaves for a human.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Package → new version (as the index writes it).
    pub wanted: BTreeMap<String, String>,
    /// One line per pin that cannot be moved, saying why.
    pub left: Vec<String>,
}

/// Plans the moves from the verdicts of `outdated::check_all`.
pub fn plan(index: &PackagesIndex, checks: &[PinCheck]) -> Plan {
    let mut plan = Plan::default();
    let is_trio = |c: &&PinCheck| KUBERNETES_PACKAGES.contains(&c.pin.name.as_str());
    for check in checks {
        let pin = &check.pin;
        match check.verdict {
            Verdict::Current => {}
            Verdict::Behind if is_trio(&check) => {}
            Verdict::Behind => {
                if let Some(candidate) = &check.candidate {
                    plan.wanted.insert(pin.name.clone(), candidate.clone());
                }
            }
            Verdict::Missing => plan.left.push(format!(
                "{} {}{}: not in the snapshot's index (nothing to pin to; renamed or dropped?)",
                pin.name, pin.op, pin.version
            )),
            Verdict::Unsatisfiable => plan.left.push(format!(
                "{} {}{}: no version in the snapshot meets it (highest there: {})",
                pin.name,
                pin.op,
                pin.version,
                check.candidate.as_deref().unwrap_or("none")
            )),
        }
    }
    let trio: Vec<&PinCheck> = checks.iter().filter(is_trio).collect();
    if trio.iter().any(|c| c.verdict == Verdict::Behind) {
        plan_trio(index, &trio, &mut plan);
    }
    plan
}

/// The trio moves to the highest version all of them have in the index, and
/// only forward; otherwise it is left for a human.
fn plan_trio(index: &PackagesIndex, trio: &[&PinCheck], plan: &mut Plan) {
    let names: Vec<&str> = trio.iter().map(|c| c.pin.name.as_str()).collect();
    let candidates: Vec<String> = trio
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.pin.name,
                c.candidate.as_deref().unwrap_or("none")
            )
        })
        .collect();
    if trio.iter().any(|c| c.pin.op != "=") {
        plan.left.push(format!(
            "{}: not all pinned with `=`; move them together by hand (`cargo xtask deps set --kubernetes VERSION`)",
            names.join(", ")
        ));
        return;
    }
    let parsed = |name: &str| -> Vec<(DebVersion, String)> {
        index
            .versions(name)
            .iter()
            .filter_map(|text| DebVersion::parse(text).ok().map(|v| (v, text.clone())))
            .collect()
    };
    let others: Vec<Vec<(DebVersion, String)>> =
        names[1..].iter().map(|name| parsed(name)).collect();
    let common = parsed(names[0])
        .into_iter()
        .filter(|(version, _)| {
            others
                .iter()
                .all(|list| list.iter().any(|(v, _)| v == version))
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    let pinned = trio
        .iter()
        .filter_map(|c| DebVersion::parse(&c.pin.version).ok())
        .max();
    match (common, pinned) {
        (Some((version, text)), Some(pinned)) if version > pinned => {
            for name in names {
                plan.wanted.insert(name.to_string(), text.clone());
            }
        }
        _ => plan.left.push(format!(
            "{}: pinned together, but the snapshot has no newer version of all of them ({}); pick one by hand: cargo xtask deps set --kubernetes VERSION",
            names.join(", "),
            candidates.join(", ")
        )),
    }
}

impl flags::DepsSync {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let inventory = ctx.inventory()?;
        let snapshot = outdated::read_source(ctx, &inventory, &self.source)?;
        let checks = outdated::check_all(&inventory, &snapshot.index)?;
        let plan = plan(&snapshot.index, &checks);
        ctx.say(format!("package index: {}", snapshot.source));
        let mut changes = Changeset::new(&ctx.root);
        let moved = super::repin(&inventory, &plan.wanted, Trio::Follow, &mut changes)?;
        say_moves(ctx, &moved);
        let findings = super::findings_after(&changes)?;
        let wrote = changes.preview_and_apply(ctx, self.confirm, "Write these pins?")?;
        if wrote {
            super::print_stale_locks(ctx, &findings);
            ctx.say("next: cargo xtask build-package --publish (a new VERSION first: cargo xtask bump-base-image <next>)");
        }
        if plan.left.is_empty() {
            return Ok(());
        }
        ctx.error(format!(
            "{} pin{} cannot be synced and need a hand edit of the dependencies file:",
            plan.left.len(),
            if plan.left.len() == 1 { "" } else { "s" }
        ));
        for why in &plan.left {
            ctx.explain(format!("  - {why}"));
        }
        Err(AlreadyReported.into())
    }
}

fn say_moves(ctx: &Context, moved: &[(String, String, String)]) {
    for (name, old, new) in moved {
        ctx.say(format!("{name}: {old} → {new}"));
    }
}

/// For `bump-base-image --apt-snapshot DATE --sync-deps`: plans the pin moves
/// against the packer repository at `snapshot` (a date) into the bump's own
/// changeset. What cannot be moved is warned about, not guessed.
pub fn sync_into(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    snapshot: &str,
    changes: &mut Changeset,
) -> Result<()> {
    let location = snapshot_index::repository(
        inventory,
        Some(snapshot),
        snapshot_index::DISTRIBUTION,
        snapshot_index::COMPONENT,
        snapshot_index::ARCH,
    )?;
    outdated::refuse_bad_lines(inventory)?;
    let index = snapshot_index::read(
        ctx,
        runner,
        &location,
        Some(outdated::pinned_names(inventory)),
    )?;
    let checks = outdated::check_all(inventory, &index.index)?;
    let plan = plan(&index.index, &checks);
    ctx.say(format!("dependencies against {}:", index.source));
    let moved = super::repin(inventory, &plan.wanted, Trio::Follow, changes)?;
    if moved.is_empty() {
        ctx.say("  every `=` pin already matches the snapshot");
    }
    for (name, old, new) in &moved {
        ctx.say(format!("  {name}: {old} → {new}"));
    }
    for why in &plan.left {
        ctx.warn(format!("not synced, edit by hand: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dependencies;

    fn plan_for(deps: &str, index: &str) -> Plan {
        let deps = dependencies::parse(deps);
        let index = PackagesIndex::parse(index);
        let checks: Vec<PinCheck> = deps
            .pins
            .iter()
            .map(|p| outdated::judge(p, &index))
            .collect();
        plan(&index, &checks)
    }

    fn stanza(name: &str, version: &str) -> String {
        format!("Package: {name}\nVersion: {version}\n\n")
    }

    const DEPS: &str = "chef =17.6.18-1\nkubeadm =1.18.20-00\nkubectl =1.18.20-00\nkubelet =1.18.20-00\ncurl >=7.58\ngone =1.0\n";

    #[test]
    fn moves_behind_pins_and_lists_the_rest() {
        let mut index = String::new();
        for (name, version) in [
            ("chef", "17.6.18-1"),
            ("chef", "17.9.26-1"),
            ("curl", "7.50"),
            ("kubeadm", "1.18.20-00"),
            ("kubectl", "1.18.20-00"),
            ("kubelet", "1.18.20-00"),
        ] {
            index.push_str(&stanza(name, version));
        }
        let plan = plan_for(DEPS, &index);
        assert_eq!(
            plan.wanted,
            BTreeMap::from([("chef".to_string(), "17.9.26-1".to_string())])
        );
        assert_eq!(plan.left.len(), 2, "{:?}", plan.left);
        assert!(
            plan.left[0].starts_with("curl >=7.58: no version"),
            "{:?}",
            plan.left
        );
        assert!(
            plan.left[1].starts_with("gone =1.0: not in the snapshot"),
            "{:?}",
            plan.left
        );
    }

    #[test]
    fn the_trio_moves_to_the_highest_version_all_three_have() {
        let mut index = String::new();
        for name in ["kubeadm", "kubectl", "kubelet"] {
            index.push_str(&stanza(name, "1.18.20-00"));
            index.push_str(&stanza(name, "1.18.20-01"));
        }
        // Only kubeadm has 1.18.20-02: the trio cannot go there together.
        index.push_str(&stanza("kubeadm", "1.18.20-02"));
        let plan = plan_for(
            "kubeadm =1.18.20-00\nkubectl =1.18.20-00\nkubelet =1.18.20-00\n",
            &index,
        );
        let want: BTreeMap<String, String> = ["kubeadm", "kubectl", "kubelet"]
            .into_iter()
            .map(|n| (n.to_string(), "1.18.20-01".to_string()))
            .collect();
        assert_eq!(plan.wanted, want);
        assert!(plan.left.is_empty());
    }

    #[test]
    fn a_trio_without_a_common_newer_version_is_left() {
        let mut index = stanza("kubeadm", "1.18.20-01");
        index.push_str(&stanza("kubectl", "1.18.20-00"));
        index.push_str(&stanza("kubelet", "1.18.20-00"));
        let plan = plan_for(
            "kubeadm =1.18.20-00\nkubectl =1.18.20-00\nkubelet =1.18.20-00\n",
            &index,
        );
        assert!(plan.wanted.is_empty());
        assert_eq!(plan.left.len(), 1);
        assert!(
            plan.left[0].contains("kubeadm 1.18.20-01, kubectl 1.18.20-00"),
            "{:?}",
            plan.left
        );
    }
}
