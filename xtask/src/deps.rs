//! `cargo xtask deps`: read and re-pin the mobiledgex package's `dependencies`.
//! Every re-pin goes through `repin`, which keeps the kubernetes trio together
//! and chef-client in step with `chef`.

mod fix;
mod outdated;
mod set;
mod show;
mod snapshot_index;
mod sync;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::bad;
use crate::changeset::{self, Changeset};
use crate::context::Context;
use crate::debian::version::{upstream_only, without_revision, DebVersion};
use crate::flags;
use crate::rules::{self, Finding, KUBERNETES_PACKAGES};
use crate::sites::{self, paths, Inventory};

pub use outdated::preflight_against_snapshot;
pub use sync::sync_into;

impl flags::Deps {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            flags::Deps::Show { json } => show::run(ctx, json),
            flags::Deps::Set(cmd) => cmd.run(ctx),
            flags::Deps::Fix(cmd) => cmd.run(ctx),
            flags::Deps::Outdated(cmd) => cmd.run(ctx),
            flags::Deps::Sync(cmd) => cmd.run(ctx),
        }
    }
}

/// Whether the APT repository `repo` (a snapshot URL such as chef's
/// `https://apt.mobiledgex.net/cirrus/2021-02-01`) lists `package` at
/// `version` in its bionic/main/amd64 index; and the index read.
pub fn snapshot_lists(
    ctx: &Context,
    runner: &crate::runner::Runner,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<(bool, String)> {
    let url = snapshot_index::Url::parse(repo).map_err(|why| {
        anyhow::anyhow!(
            "APT repository `{}`: {why}",
            snapshot_index::redact_userinfo(repo)
        )
    })?;
    let location = snapshot_index::Location::Repository(url.join("dists/bionic/main/binary-amd64"));
    let keep = std::collections::HashSet::from([package.to_string()]);
    let snapshot = snapshot_index::read(ctx, runner, &location, Some(keep))?;
    let listed = snapshot
        .index
        .versions(package)
        .iter()
        .any(|v| v == version);
    Ok((listed, snapshot.source))
}

/// What to do when only some of kubeadm, kubectl and kubelet move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trio {
    /// Refuse, with a hint to move all three (`deps set`).
    Refuse,
    /// Move the others along (`deps fix`, `deps sync`).
    Follow,
}

/// Plans new versions for pins (name → Debian version, operator kept) into
/// `changes`; returns the pins that actually change, with their old versions.
pub fn repin(
    inventory: &Inventory,
    wanted: &BTreeMap<String, String>,
    trio: Trio,
    changes: &mut Changeset,
) -> Result<Vec<(String, String, String)>> {
    let deps = &inventory.dependencies;
    if let Some(error) = deps.errors.first() {
        return Err(bad!(
            "{}:{}: {} — fix the file first (`cargo xtask check` lists every bad line)",
            paths::DEPENDENCIES,
            error.line,
            error.message
        ));
    }
    let mut wanted = wanted.clone();
    for (name, version) in &wanted {
        if deps.get(name).is_none() {
            return Err(bad!(
                "`{name}` is not pinned in {}; add new packages by hand (`cargo xtask deps show` lists the pins)",
                paths::DEPENDENCIES
            ));
        }
        DebVersion::parse(version)
            .map_err(|why| bad!("{name}={version}: not a Debian version: {why}"))?;
    }
    let moving: Vec<&str> = KUBERNETES_PACKAGES
        .iter()
        .copied()
        .filter(|name| wanted.contains_key(*name))
        .collect();
    if !moving.is_empty() && moving.len() < KUBERNETES_PACKAGES.len() {
        let version = wanted[moving[0]].clone();
        match trio {
            Trio::Refuse => {
                return Err(bad!(
                    "kubeadm, kubectl and kubelet are pinned to one version; moving only {} would split them: use `cargo xtask deps set --kubernetes {version}`",
                    moving.join(", ")
                ))
            }
            Trio::Follow => {
                for name in KUBERNETES_PACKAGES {
                    if deps.get(name).is_some() {
                        wanted.entry(name.to_string()).or_insert_with(|| version.clone());
                    }
                }
            }
        }
    }
    let mut moved = Vec::new();
    for (name, version) in &wanted {
        let Some(pin) = deps.get(name) else { continue };
        if pin.version == *version {
            continue;
        }
        changes.replace(
            paths::DEPENDENCIES,
            pin.version_span.clone(),
            &pin.version,
            version,
        )?;
        moved.push((name.clone(), pin.version.clone(), version.clone()));
        if name == "chef" {
            for site in &inventory.chef_clients {
                changes.set_site(site, upstream_only(version))?;
            }
        }
    }
    Ok(moved)
}

/// The chef-client sites move with `chef`, even when the pin itself already
/// has the wanted version (that is how `deps set chef=…` repairs drift).
pub fn align_chef_client(inventory: &Inventory, changes: &mut Changeset) -> Result<()> {
    if let Some(pin) = inventory.dependencies.get("chef") {
        let wanted = upstream_only(&pin.version);
        for site in inventory.chef_clients.iter().filter(|s| s.value != wanted) {
            changes.set_site(site, wanted)?;
        }
    }
    Ok(())
}

/// Re-reads the planned result: every moved pin must read its new version
/// (operator kept), the file must parse as before, and the chef-client sites
/// must follow `chef`. A failure is a bug of the editor, not bad input.
pub fn verify_repinned(changes: &Changeset, moved: &[(String, String, String)]) -> Result<()> {
    let after = sites::load(&changes.view())?;
    let mut wrong = Vec::new();
    for error in &after.dependencies.errors {
        wrong.push(format!(
            "{}:{}: {}",
            paths::DEPENDENCIES,
            error.line,
            error.message
        ));
    }
    for (name, _, version) in moved {
        match after.dependencies.get(name) {
            Some(pin) if pin.version == *version => {}
            Some(pin) => wrong.push(format!(
                "{name} reads {}{} after the edit, not {version}",
                pin.op, pin.version
            )),
            None => wrong.push(format!(
                "{name} is gone from {} after the edit",
                paths::DEPENDENCIES
            )),
        }
        if name == "chef" {
            for site in after
                .chef_clients
                .iter()
                .filter(|site| site.value != upstream_only(version))
            {
                wrong.push(format!(
                    "{} reads {} after the edit, not {}",
                    site.location(),
                    site.value,
                    upstream_only(version)
                ));
            }
        }
    }
    changeset::ensure_reread(&wrong)
}

/// After a re-pin: the rules on the planned result; stale locks and anything
/// the edit itself would break.
pub fn findings_after(changes: &Changeset) -> Result<Vec<Finding>> {
    let after = sites::load(&changes.view())?;
    Ok(rules::evaluate(&after, None))
}

/// Prints lock files made stale by the edit, with their command.
pub fn print_stale_locks(ctx: &Context, findings: &[Finding]) {
    for finding in findings.iter().filter(|f| f.rule == rules::POLICY_LOCK) {
        ctx.say(format!(
            "{} {}",
            ctx.paint.warning("stale lock:"),
            finding.help.as_deref().unwrap_or(&finding.message)
        ));
    }
}

/// Kubernetes and helm images are pre-pulled into the base image (the note
/// in `dependencies` says so): after moving them, name the cache lines that
/// still carry the old version.
pub fn print_image_cache_hint(ctx: &Context, moved: &[(String, String, String)]) {
    let cached_by_version: Vec<&(String, String, String)> = moved
        .iter()
        .filter(|(name, _, _)| KUBERNETES_PACKAGES.contains(&name.as_str()) || name == "helm")
        .collect();
    if cached_by_version.is_empty() {
        return;
    }
    // Read only: a hint, the file is edited by hand.
    let cache = std::fs::read_to_string(ctx.path(paths::DOCKER_IMAGE_CACHE)).unwrap_or_default();
    ctx.say(format!(
        "note: kubernetes or helm moved: update the images pre-pulled into the base image in {}",
        paths::DOCKER_IMAGE_CACHE
    ));
    let mut shown = Vec::new();
    for (_, old, _) in cached_by_version {
        // `1:1.18.20-00` is tagged `v1.18.20` or `1.18.20`.
        let upstream = without_revision(old);
        let upstream = upstream.split_once(':').map_or(upstream, |(_, rest)| rest);
        for (number, line) in cache.lines().enumerate() {
            let tag = line
                .rsplit_once(':')
                .map(|(_, tag)| tag.trim_start_matches('v'));
            if tag == Some(upstream) && !shown.contains(&number) {
                shown.push(number);
                ctx.say(format!(
                    "  {}:{}: {line}",
                    paths::DOCKER_IMAGE_CACHE,
                    number + 1
                ));
            }
        }
    }
}
