//! `cargo xtask deps fix --from-log FILE|-`: the runbook's Troubleshooting
//! section as a command: re-pin what apt's "unmet dependencies" report asks for.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Result;

use super::Trio;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::debian::apt_report::{self, Problem, UnmetDependency};
use crate::error::AlreadyReported;
use crate::rules::KUBERNETES_PACKAGES;
use crate::{bad, flags};

/// What to do with one entry of apt's report.
enum Verdict {
    Repin(String),
    AlreadyPinned,
    Left(String),
}

/// The package whose `dependencies` this command edits; apt names the
/// depending package in front of each group of its report.
const PACKAGE: &str = "mobiledgex";

fn judge(entry: &UnmetDependency, inventory: &crate::sites::Inventory) -> Verdict {
    // Another package's dependency (`kubeadm : Depends: kubernetes-cni (>= 0.8.6)
    // but 0.7.5-00 …`): the version shown is what our pins force, not a fix.
    let depender = entry.package.split(':').next().unwrap_or_default();
    if !depender.is_empty() && depender != PACKAGE {
        return Verdict::Left(format!(
            "{}: {depender} needs it {}, not {PACKAGE}; if a pin of ours holds it back, raise it by hand (`cargo xtask deps set {}=VERSION`)",
            entry.dependency,
            entry.constraint.as_deref().map_or("(any version)".to_string(), |c| format!("({c})")),
            entry.dependency
        ));
    }
    let Some(pin) = inventory.dependencies.get(&entry.dependency) else {
        return Verdict::Left(format!(
            "{} is not in dependencies (a transitive dependency: pin it by hand if needed)",
            entry.dependency
        ));
    };
    match &entry.problem {
        Problem::WillBeInstalled(candidate) => {
            if pin.op != "=" {
                Verdict::Left(format!("{} is pinned `{}{}`, not `=`: adjust by hand", pin.name, pin.op, pin.version))
            } else if pin.version == *candidate {
                Verdict::AlreadyPinned
            } else {
                Verdict::Repin(candidate.clone())
            }
        }
        Problem::NotInstallable => Verdict::Left(format!(
            "{}: no installable version in the APT snapshot (nothing to pin to; is the package in the snapshot?)",
            entry.dependency
        )),
        Problem::NotGoingToBeInstalled => Verdict::Left(format!(
            "{}: apt will not install it (its own dependencies conflict; see the full log)",
            entry.dependency
        )),
        Problem::Other(text) if text.is_empty() => Verdict::Left(format!(
            "{}: apt gave no reason (see the lines around it in the log)",
            entry.dependency
        )),
        Problem::Other(text) => Verdict::Left(format!("{}: apt says `{text}`", entry.dependency)),
    }
}

impl flags::DepsFix {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let log = read_log(&self.from_log)?;
        let report = apt_report::parse(&log);
        if report.is_empty() {
            return Err(bad!(
                "{} holds no apt \"unmet dependencies\" report (a line `The following packages have unmet dependencies:`); nothing to fix",
                self.from_log.display()
            ));
        }
        let inventory = ctx.inventory()?;
        let mut wanted = BTreeMap::new();
        let mut said = Vec::new();
        let mut left = Vec::new();
        for entry in &report {
            match judge(entry, &inventory) {
                Verdict::Repin(version) => {
                    said.push(format!(
                        "{}: apt installs {version}, pinned {} → re-pin to ={version}",
                        entry.dependency,
                        entry.constraint.as_deref().unwrap_or("?")
                    ));
                    wanted.insert(entry.dependency.clone(), version);
                }
                Verdict::AlreadyPinned => said.push(format!(
                    "{}: already pinned to what apt installs",
                    entry.dependency
                )),
                Verdict::Left(why) => left.push(why),
            }
        }
        // apt may want different versions of the trio; re-pinning each would
        // split what must stay one version, so a human chooses.
        let trio: Vec<(&str, String)> = KUBERNETES_PACKAGES
            .iter()
            .filter_map(|name| wanted.get(*name).map(|version| (*name, version.clone())))
            .collect();
        if trio.iter().any(|(_, version)| *version != trio[0].1) {
            let listed: Vec<String> = trio
                .iter()
                .map(|(name, version)| format!("{name} {version}"))
                .collect();
            said.retain(|line| {
                !trio
                    .iter()
                    .any(|(name, _)| line.starts_with(&format!("{name}: ")))
            });
            for (name, _) in &trio {
                wanted.remove(*name);
            }
            left.push(format!(
                "kubeadm, kubectl and kubelet must share one version, but apt installs {}: choose one with `cargo xtask deps set --kubernetes VERSION`",
                listed.join(", ")
            ));
        }
        for line in said {
            ctx.say(line);
        }
        let mut changes = Changeset::new(&ctx.root);
        let moved = super::repin(&inventory, &wanted, Trio::Follow, &mut changes)?;
        super::verify_repinned(&changes, &moved)?;
        let findings = super::findings_after(&changes)?;
        let wrote = changes.preview_and_apply(ctx, self.confirm, "Write these pins?")?;
        if wrote {
            super::print_stale_locks(ctx, &findings);
            super::print_image_cache_hint(ctx, &moved);
            ctx.say("next: cargo xtask build-package --publish (a new VERSION first: cargo xtask bump-base-image <next>)");
        }
        if !left.is_empty() {
            ctx.error(format!(
                "{} entr{} of apt's report cannot be fixed by re-pinning:",
                left.len(),
                if left.len() == 1 { "y" } else { "ies" }
            ));
            for why in &left {
                ctx.explain(format!("  - {why}"));
            }
            return Err(AlreadyReported.into());
        }
        Ok(())
    }
}

fn read_log(path: &std::path::Path) -> Result<String> {
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|err| bad!("cannot read the log from standard input: {err}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|err| bad!("cannot read the log {}: {err}", path.display()))?
    };
    // Build logs carry stray bytes (progress bars, binary noise): keep what is text.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
