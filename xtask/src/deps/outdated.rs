//! `cargo xtask deps outdated`: every pin of `dependencies` against the APT
//! snapshot's package index, before a long packer build finds out.
//! The same check is the image build's preflight.

use std::collections::HashSet;

use anyhow::Result;
use serde_json::json;

use super::snapshot_index::{self, Location, Snapshot};
use crate::bad;
use crate::context::Context;
use crate::debian::packages_index::PackagesIndex;
use crate::debian::version::{DebVersion, Relation};
use crate::error::AlreadyReported;
use crate::flags::{self, IndexSource};
use crate::formats::dependencies::Pin;
use crate::runner::{Runner, Step};
use crate::sites::{paths, Inventory};

/// How a pin stands against the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// apt installs what the pin asks for.
    Current,
    /// An `=` pin older than the snapshot's candidate: apt picks the
    /// candidate and the pin breaks the install.
    Behind,
    /// The package is not in the index at all.
    Missing,
    /// No version in the index meets the constraint.
    Unsatisfiable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Current => "current",
            Verdict::Behind => "behind",
            Verdict::Missing => "missing",
            Verdict::Unsatisfiable => "unsatisfiable",
        }
    }
}

/// One pin and its verdict.
#[derive(Debug, Clone)]
pub struct PinCheck {
    pub pin: Pin,
    /// The highest version of the package in the index, as the index writes it.
    pub candidate: Option<String>,
    pub verdict: Verdict,
}

/// Judges one pin; `Relation` and `DebVersion` give dpkg's exact semantics.
pub fn judge(pin: &Pin, index: &PackagesIndex) -> PinCheck {
    let offered: Vec<DebVersion> = index
        .versions(&pin.name)
        .iter()
        .filter_map(|text| DebVersion::parse(text).ok())
        .collect();
    let candidate = index.candidate(&pin.name).map(str::to_string);
    let verdict = match (
        offered.iter().max(),
        Relation::parse(&pin.op),
        DebVersion::parse(&pin.version),
    ) {
        (None, _, _) => Verdict::Missing,
        // `dependencies` was parsed already; a pin that does not read is not installable.
        (_, Err(_), _) | (_, _, Err(_)) => Verdict::Unsatisfiable,
        (Some(highest), Ok(Relation::Eq), Ok(pinned)) => match highest.cmp(&pinned) {
            std::cmp::Ordering::Equal => Verdict::Current,
            std::cmp::Ordering::Greater => Verdict::Behind,
            std::cmp::Ordering::Less => Verdict::Unsatisfiable,
        },
        (Some(_), Ok(relation), Ok(pinned)) => {
            if offered.iter().any(|v| relation.satisfied_by(v, &pinned)) {
                Verdict::Current
            } else {
                Verdict::Unsatisfiable
            }
        }
    };
    PinCheck {
        pin: pin.clone(),
        candidate,
        verdict,
    }
}

/// Every pin of `dependencies`, in file order, judged against `index`.
pub fn check_all(inventory: &Inventory, index: &PackagesIndex) -> Result<Vec<PinCheck>> {
    refuse_bad_lines(inventory)?;
    Ok(inventory
        .dependencies
        .pins
        .iter()
        .map(|pin| judge(pin, index))
        .collect())
}

/// The names `dependencies` pins: the only packages whose versions are kept
/// from an index.
pub fn pinned_names(inventory: &Inventory) -> HashSet<String> {
    inventory
        .dependencies
        .pins
        .iter()
        .map(|pin| pin.name.clone())
        .collect()
}

/// A line of `dependencies` that does not parse cannot be checked: it stops
/// the command (exit 2) with its line, before anything is fetched.
pub fn refuse_bad_lines(inventory: &Inventory) -> Result<()> {
    match inventory.dependencies.errors.first() {
        Some(error) => Err(bad!(
            "{}:{}: {} — fix the file first (`cargo xtask check` lists every bad line)",
            paths::DEPENDENCIES,
            error.line,
            error.message
        )),
        None => Ok(()),
    }
}

/// Reads the index the options name: checks them first (exit 2), then fetches.
pub fn read_source(ctx: &Context, inventory: &Inventory, source: &IndexSource) -> Result<Snapshot> {
    let location = snapshot_index::locate(inventory, source)?;
    refuse_bad_lines(inventory)?;
    snapshot_index::read(ctx, ctx.runner(), &location, Some(pinned_names(inventory)))
}

/// `cargo xtask deps sync` with the same source options, quoted for a shell.
pub fn sync_command(source: &IndexSource) -> String {
    let mut step = Step::new("", "cargo").args(["xtask", "deps", "sync"]);
    if let Some(date) = &source.apt_snapshot {
        step = step.args(["--apt-snapshot", date]);
    }
    if let Some(packages) = &source.packages {
        // Credentials written in a URL are not repeated.
        step = step.args([
            "--packages".to_string(),
            snapshot_index::redact_userinfo(packages),
        ]);
    }
    for (flag, value, default) in [
        (
            "--distribution",
            &source.distribution,
            snapshot_index::DISTRIBUTION,
        ),
        ("--component", &source.component, snapshot_index::COMPONENT),
        ("--arch", &source.arch, snapshot_index::ARCH),
    ] {
        if value != default {
            step = step.args([flag, value.as_str()]);
        }
    }
    step.command_line()
}

impl flags::DepsOutdated {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let inventory = ctx.inventory()?;
        let snapshot = read_source(ctx, &inventory, &self.source)?;
        let checks = check_all(&inventory, &snapshot.index)?;
        if self.json {
            print_json(ctx, &snapshot, &checks)?;
        } else {
            print_table(ctx, &snapshot, &checks, false);
        }
        if checks.iter().all(|c| c.verdict == Verdict::Current) {
            return Ok(());
        }
        if !self.json {
            print_advice(ctx, &checks, &sync_command(&self.source));
        }
        Err(AlreadyReported.into())
    }
}

/// The image build's preflight: the pins against the snapshot packer builds
/// from. Stops (exit 1, already reported) when apt could not install one.
pub fn preflight_against_snapshot(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
) -> Result<()> {
    let location: Location = snapshot_index::repository(
        inventory,
        None,
        snapshot_index::DISTRIBUTION,
        snapshot_index::COMPONENT,
        snapshot_index::ARCH,
    )?;
    refuse_bad_lines(inventory)?;
    let snapshot = snapshot_index::read(ctx, runner, &location, Some(pinned_names(inventory)))?;
    let checks = check_all(inventory, &snapshot.index)?;
    if checks.iter().all(|c| c.verdict == Verdict::Current) {
        ctx.say(format!(
            "dependencies: all {} pins are installable from {}",
            checks.len(),
            snapshot.source
        ));
        return Ok(());
    }
    ctx.error(format!("some pins of {} cannot be installed from the APT snapshot; the packer build would fail at apt:", paths::DEPENDENCIES));
    print_table(ctx, &snapshot, &checks, true);
    print_advice(ctx, &checks, "cargo xtask deps sync");
    Err(AlreadyReported.into())
}

fn print_json(ctx: &Context, snapshot: &Snapshot, checks: &[PinCheck]) -> Result<()> {
    let pins: Vec<_> = checks
        .iter()
        .map(|c| {
            json!({
                "name": c.pin.name,
                "op": c.pin.op,
                "version": c.pin.version,
                "candidate": c.candidate,
                "verdict": c.verdict.as_str(),
            })
        })
        .collect();
    ctx.answer(serde_json::to_string_pretty(
        &json!({ "source": snapshot.source, "pins": pins }),
    )?);
    Ok(())
}

/// The table; `problems_only` for the preflight (to standard error).
fn print_table(ctx: &Context, snapshot: &Snapshot, checks: &[PinCheck], problems_only: bool) {
    let rows: Vec<&PinCheck> = checks
        .iter()
        .filter(|c| !problems_only || c.verdict != Verdict::Current)
        .collect();
    let out = |line: String| {
        if problems_only {
            ctx.explain(line);
        } else {
            ctx.answer(line);
        }
    };
    out(format!(
        "package index: {} ({} package versions)",
        snapshot.source,
        snapshot.index.entry_count()
    ));
    let pinned = |c: &PinCheck| format!("{}{}", c.pin.op, c.pin.version);
    let name_w = rows
        .iter()
        .map(|c| c.pin.name.len())
        .chain([7])
        .max()
        .unwrap_or(7);
    let pin_w = rows
        .iter()
        .map(|c| pinned(c).len())
        .chain([6])
        .max()
        .unwrap_or(6);
    let cand_w = rows
        .iter()
        .map(|c| c.candidate.as_deref().map_or(1, str::len))
        .chain([9])
        .max()
        .unwrap_or(9);
    out(format!(
        "{:name_w$}  {:pin_w$}  {:cand_w$}  verdict",
        "package", "pinned", "candidate"
    ));
    for c in rows {
        let verdict = match c.verdict {
            Verdict::Current => ctx.paint.good(c.verdict.as_str()),
            Verdict::Behind => ctx.paint.warning(c.verdict.as_str()),
            Verdict::Missing | Verdict::Unsatisfiable => ctx.paint.error(c.verdict.as_str()),
        };
        out(format!(
            "{:name_w$}  {:pin_w$}  {:cand_w$}  {verdict}",
            c.pin.name,
            pinned(c),
            c.candidate.as_deref().unwrap_or("-"),
        ));
    }
}

/// What is wrong, counted, and what to run or do by hand.
fn print_advice(ctx: &Context, checks: &[PinCheck], sync: &str) {
    let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    let (behind, missing, unsatisfiable) = (
        count(Verdict::Behind),
        count(Verdict::Missing),
        count(Verdict::Unsatisfiable),
    );
    ctx.error(format!("{} of {} pins do not match the snapshot: {behind} behind, {missing} missing, {unsatisfiable} unsatisfiable", behind + missing + unsatisfiable, checks.len()));
    if behind > 0 {
        ctx.explain(format!(
            "  = help: move the behind pins to the snapshot's candidates: {sync}"
        ));
    }
    if missing + unsatisfiable > 0 {
        ctx.explain(format!("  = help: missing and unsatisfiable pins have nothing to move to: edit {} by hand (or use another --apt-snapshot)", paths::DEPENDENCIES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(name: &str, op: &str, version: &str) -> Pin {
        Pin {
            name: name.into(),
            op: op.into(),
            version: version.into(),
            line: 1,
            version_span: 0..0,
        }
    }

    const INDEX: &str = "Package: kubeadm\nVersion: 1.18.20-00\n\nPackage: kubeadm\nVersion: 1.18.9-00\n\n\
        Package: docker-ce\nVersion: 5:20.10.14~3-0~ubuntu-bionic\n\nPackage: docker-ce\nVersion: 5:20.10.13~3-0~ubuntu-bionic\n\n\
        Package: curl\nVersion: 7.58.0-2ubuntu3.16\n\nPackage: rc\nVersion: 1.0~rc1\n";

    fn verdict(op: &str, name: &str, version: &str) -> (Verdict, Option<String>) {
        let c = judge(&pin(name, op, version), &PackagesIndex::parse(INDEX));
        (c.verdict, c.candidate)
    }

    #[test]
    fn eq_pins_are_current_behind_or_unsatisfiable_by_dpkg_order() {
        // 1.18.20 > 1.18.9 by dpkg, not by text.
        assert_eq!(
            verdict("=", "kubeadm", "1.18.20-00"),
            (Verdict::Current, Some("1.18.20-00".into()))
        );
        assert_eq!(verdict("=", "kubeadm", "1.18.9-00").0, Verdict::Behind);
        // Not in the index, but something newer is: behind.
        assert_eq!(verdict("=", "kubeadm", "1.18.10-00").0, Verdict::Behind);
        assert_eq!(
            verdict("=", "kubeadm", "1.18.21-00").0,
            Verdict::Unsatisfiable
        );
        // Equal by dpkg though written differently.
        assert_eq!(verdict("=", "kubeadm", "0:1.18.20-00").0, Verdict::Current);
        let (v, c) = verdict("=", "docker-ce", "5:20.10.13~3-0~ubuntu-bionic");
        assert_eq!(
            (v, c.as_deref()),
            (Verdict::Behind, Some("5:20.10.14~3-0~ubuntu-bionic"))
        );
        assert_eq!(
            verdict("=", "rc", "1.0").0,
            Verdict::Unsatisfiable,
            "1.0~rc1 << 1.0"
        );
        assert_eq!(verdict("=", "nope", "1.0"), (Verdict::Missing, None));
    }

    #[test]
    fn ranges_are_current_when_any_version_meets_them() {
        assert_eq!(
            verdict(">=", "curl", "7.58.0-2ubuntu3.16").0,
            Verdict::Current
        );
        assert_eq!(
            verdict(">=", "curl", "7.58.0-2ubuntu3.17").0,
            Verdict::Unsatisfiable
        );
        assert_eq!(verdict("<=", "kubeadm", "1.18.9-00").0, Verdict::Current);
        assert_eq!(
            verdict("<<", "kubeadm", "1.18.9-00").0,
            Verdict::Unsatisfiable
        );
        assert_eq!(verdict(">>", "kubeadm", "1.18.10").0, Verdict::Current);
        assert_eq!(
            verdict(">>", "kubeadm", "1.18.20-00").0,
            Verdict::Unsatisfiable
        );
        assert_eq!(verdict(">=", "rc", "1.0~").0, Verdict::Current);
        assert_eq!(verdict(">=", "nope", "1").0, Verdict::Missing);
    }

    #[test]
    fn the_sync_command_repeats_the_source_options() {
        let mut source = IndexSource {
            apt_snapshot: None,
            packages: None,
            distribution: "bionic".into(),
            component: "main".into(),
            arch: "amd64".into(),
        };
        assert_eq!(sync_command(&source), "cargo xtask deps sync");
        source.packages = Some("/tmp/my index/Packages.gz".into());
        source.distribution = "focal".into();
        assert_eq!(
            sync_command(&source),
            "cargo xtask deps sync --packages '/tmp/my index/Packages.gz' --distribution focal"
        );
    }
}
