//! What a done step's result depends on (the version sites and the
//! package's inputs), and `--resume`'s check that the tree still matches it.

use anyhow::Result;
use serde_json::{json, Value};

use super::state::{Release, StepState, Work};
use crate::bad;
use crate::checksum;
use crate::context::Context;
use crate::semver::Semver;
use crate::sites::paths;
use crate::tree::Tree as _;

/// What a done step's result depends on: the version sites and the package's inputs.
pub(super) fn fingerprint(ctx: &Context, release: &Release) -> Result<Value> {
    let inventory = ctx.inventory()?;
    Ok(json!({
        "version": inventory.package_version.value,
        "apt_snapshot": inventory.packer_apt_repo.snapshot(),
        "package_inputs": package_inputs(ctx)?,
        "release_version": release.version,
    }))
}

/// Everything `make` builds the .deb from: every file of the package folder
/// (the Makefile, `dependencies`, `description`, the maintainer scripts, the
/// installed scripts and units, whatever is added later) and
/// `packages/build.sh`, each as `path → sha1 of its mode and bytes`. What
/// make itself writes there (`mobiledgex_<version>/`, the .deb) is output.
fn package_inputs(ctx: &Context) -> Result<Value> {
    let tree = ctx.work_tree();
    let mut files = serde_json::Map::new();
    let mut add = |rel: &str, meta: &std::fs::Metadata| -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let Some(bytes) = tree.read(rel)? else {
            return Ok(());
        };
        let mode = format!("{:o}\0", meta.permissions().mode() & 0o777);
        let hash = checksum::sha1_hex(&[mode.as_bytes(), &bytes].concat());
        files.insert(rel.to_string(), Value::String(hash));
        Ok(())
    };
    let package = ctx.path(paths::PACKAGE_DIR);
    let output_prefix = format!("{}_", package_name(ctx));
    let walk = walkdir::WalkDir::new(&package)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            entry.depth() != 1 || !(name.starts_with(&output_prefix) || name.ends_with(".deb"))
        });
    for entry in walk {
        let entry = entry.map_err(|err| bad!("cannot read the package folder: {err}"))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&ctx.root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let meta =
            std::fs::metadata(entry.path()).map_err(|err| bad!("cannot read {rel}: {err}"))?;
        add(&rel, &meta)?;
    }
    let build_sh = ctx.path(paths::PACKAGE_BUILD_SH);
    if let Ok(meta) = std::fs::metadata(&build_sh) {
        add(paths::PACKAGE_BUILD_SH, &meta)?;
    }
    Ok(Value::Object(files))
}

/// The Makefile's `PACKAGE` (`mobiledgex`): make's output is named after it.
fn package_name(ctx: &Context) -> String {
    let tree = ctx.work_tree();
    crate::tree::read_text(&tree, paths::MAKEFILE)
        .ok()
        .flatten()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "PACKAGE").then(|| value.trim().to_string())
            })
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "mobiledgex".to_string())
}

/// The package files that differ between two `package_inputs`, for messages.
fn changed_inputs(before: Option<&Value>, now: Option<&Value>) -> String {
    let (Some(before), Some(now)) = (
        before.and_then(Value::as_object),
        now.and_then(Value::as_object),
    ) else {
        return "its files".to_string();
    };
    let changed: Vec<String> = before
        .iter()
        .filter(|(path, hash)| now.get(*path) != Some(*hash))
        .map(|(path, _)| path.rsplit('/').next().unwrap_or(path).to_string())
        .chain(
            now.keys()
                .filter(|path| !before.contains_key(*path))
                .map(|path| format!("{} (new)", path.rsplit('/').next().unwrap_or(path))),
        )
        .collect();
    if changed.is_empty() {
        "its files".to_string()
    } else {
        changed.join(", ")
    }
}

/// --resume refuses when the tree no longer matches what a done step used.
/// One change is expected and mended instead: pins fixed after a failed image
/// build (`deps fix`, the runbook's troubleshooting) while nothing was
/// published yet; the package is then built again.
pub(super) fn reconcile(ctx: &Context, release: &mut Release) -> Result<()> {
    let inventory = ctx.inventory()?;
    let done = |work: &dyn Fn(&Work) -> bool| {
        release
            .steps
            .iter()
            .any(|s| work(&s.work) && s.state == StepState::Done)
    };
    let bumped = done(&|w| *w == Work::Bump);
    let mut why = Vec::new();
    if bumped && inventory.package_version.value != release.version {
        why.push(format!(
            "the Makefile's VERSION is {}, but this release bumped it to {}",
            inventory.package_version.value, release.version
        ));
    }
    if bumped {
        if let Some(date) = &release.apt_snapshot {
            if inventory.packer_apt_repo.snapshot() != Some(date.as_str()) {
                why.push(format!(
                    "packer's APT snapshot is {}, but this release moved it to {date}",
                    inventory.packer_apt_repo.snapshot().unwrap_or("?")
                ));
            }
        }
    }
    let now = fingerprint(ctx, release)?;
    let package_changed = release.steps.iter().find(|s| {
        s.work == Work::BuildPackage
            && s.state == StepState::Done
            && s.inputs.get("package_inputs") != now.get("package_inputs")
    });
    if let Some(built) = package_changed {
        let what = changed_inputs(
            built.inputs.get("package_inputs"),
            now.get("package_inputs"),
        );
        let shipped = done(&|w| {
            matches!(
                w,
                Work::PublishPackage | Work::BuildImage(_) | Work::BuildCommonImage
            )
        });
        if shipped {
            let next = Semver::parse(&release.version)
                .map(|v| v.next_patch().to_string())
                .unwrap_or_else(|_| "<next version>".into());
            why.push(format!(
                "the package's inputs changed ({what}) after the package {} was published or built into an image, so a new version must carry them: cargo xtask release {next}",
                release.version
            ));
        } else {
            ctx.warn(format!(
                "the package's inputs changed since it was built ({what}): step build-package runs again for {}",
                release.version
            ));
            for step in release
                .steps
                .iter_mut()
                .skip_while(|s| s.work != Work::BuildPackage)
            {
                step.state = StepState::Pending;
            }
        }
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(bad!(
        "cannot resume the release of {}: {}",
        release.version,
        why.join("; ")
    ))
}
