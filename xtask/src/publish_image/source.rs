//! Finding the image to publish: its name in glance (from the tree's build
//! settings, or the real monorepo's naming without a tree), the one active
//! image of that name with glance's checksum and size, or `--from-file`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::bad;
use crate::build_image::{self, ScriptKind, IMAGE_PREFIX};
use crate::checksum;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::runner::{human_bytes, Runner, Step};
use crate::sites::paths;

/// The names the build gives the image in glance, most likely first: the
/// tree's build.sh and template decide; without a tree, the real monorepo's
/// naming (`mobiledgex-v<V>_uncompressed`), then the older plain one.
pub(super) fn glance_names(
    ctx: &Context,
    checkout: Option<&Path>,
    version: &str,
    debug: bool,
) -> Result<Vec<String>> {
    let dbg = |name: String| if debug { format!("{name}-dbg") } else { name };
    let Some(_) = checkout else {
        return Ok(vec![
            dbg(format!("{IMAGE_PREFIX}{version}_uncompressed")),
            dbg(format!("{IMAGE_PREFIX}{version}")),
        ]);
    };
    let settings = build_image::BuildSettings::read(ctx)?;
    let name = match settings.kind {
        ScriptKind::Common => settings.common_image_name(version),
        ScriptKind::PerPlatform => format!("{IMAGE_PREFIX}{version}"),
    };
    if !debug {
        return Ok(vec![name]);
    }
    build_image::template_outputs(ctx, &name)
        .into_iter()
        .find(|output| output.ends_with("-dbg"))
        .map(|output| vec![output])
        .ok_or_else(|| {
            bad!(
                "--debug: this tree's packer template ({}/{}) builds no debug image (no builder named `<name>-dbg`). Nothing was run.",
                paths::PACKER_DIR,
                paths::PACKER_TEMPLATE
            )
        })
}

/// Where the image comes from.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    Glance {
        id: String,
        name: String,
        /// glance's `disk_format`, passed to qemu-img as `-f` when it knows it.
        disk_format: Option<String>,
    },
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub(super) struct Source {
    pub(super) origin: Origin,
    /// glance's `checksum`, or the file's MD5.
    pub(super) md5: String,
    pub(super) size: u64,
}

pub(super) fn source_label(source: &Source) -> String {
    match &source.origin {
        Origin::Glance { id, name, .. } => {
            format!("{name} in glance, id {id}, checksum {}", source.md5)
        }
        Origin::File(path) => format!("{}, md5 {}", path.display(), source.md5),
    }
}

/// `--from-file`: an image file here, its MD5 computed.
pub(super) fn from_file(ctx: &Context, file: &Path) -> Result<Source> {
    let meta = fs::metadata(file).map_err(|err| bad!("--from-file {}: {err}", file.display()))?;
    if !meta.is_file() {
        return Err(bad!("--from-file {}: not a file", file.display()));
    }
    let path = file
        .canonicalize()
        .map_err(|err| bad!("--from-file {}: {err}", file.display()))?;
    ctx.say(format!(
        "  computing the MD5 of {} ({})…",
        path.display(),
        human_bytes(meta.len())
    ));
    let md5 =
        checksum::file_md5(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Source {
        origin: Origin::File(path),
        md5,
        size: meta.len(),
    })
}

/// The one active image of the first of `names` glance has, with its checksum and size.
pub(super) fn from_glance(runner: &Runner, names: &[String]) -> Result<Source> {
    let list = Step::new("list glance's images", "openstack")
        .args(["image", "list", "-c", "ID", "-c", "Name", "-f", "value"]);
    let listed = answer(runner, &list)?;
    let pairs: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|line| line.trim().split_once(' '))
        .map(|(id, name)| (id, name.trim()))
        .collect();
    let Some((name, ids)) = names.iter().find_map(|name| {
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(_, listed)| listed == name)
            .map(|(id, _)| *id)
            .collect();
        (!ids.is_empty()).then_some((name, ids))
    }) else {
        anyhow::bail!(
            "no image named {} in glance (`openstack image list`): build it first (cargo xtask build-image), or check that the openrc is the build's project",
            names.join(" nor ")
        );
    };
    if ids.len() > 1 {
        anyhow::bail!(
            "glance has {} images named {name} (ids {}): keep the one the build made and delete the others (openstack image delete <id>), then run again",
            ids.len(),
            ids.join(", ")
        );
    }
    let id = ids[0];
    let show = Step::new(format!("ask glance about {name}"), "openstack")
        .args(["image", "show", "-f", "json", id]);
    let json: Value = serde_json::from_str(&answer(runner, &show)?)
        .with_context(|| format!("`{}` did not answer JSON", show.command_line()))?;
    let text = |key: &str| {
        json.get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && *v != "None")
            .map(str::to_string)
    };
    let status = text("status").unwrap_or_default();
    if status != "active" {
        anyhow::bail!(
            "the image {name} (id {id}) is {}, not active: wait for the build to finish, or build again",
            if status.is_empty() { "of unknown status" } else { &status }
        );
    }
    let md5 = text("checksum").ok_or_else(|| {
        anyhow::anyhow!("glance has no checksum for {name} (id {id}), so the download cannot be verified; download it yourself and pass it with --from-file")
    })?;
    let size = json
        .get("size")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    // What qemu-img reads; other formats (iso, ami, …) are left to its probing.
    let disk_format = text("disk_format")
        .filter(|f| ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"].contains(&f.as_str()));
    Ok(Source {
        origin: Origin::Glance {
            id: id.to_string(),
            name: name.clone(),
            disk_format,
        },
        md5: md5.to_ascii_lowercase(),
        size,
    })
}

/// What a query printed; an error with its message when it failed.
fn answer(runner: &Runner, step: &Step) -> Result<String> {
    let outcome = runner.capture(step)?;
    if outcome.interrupted {
        return Err(AlreadyReported.into());
    }
    if !outcome.ok {
        anyhow::bail!(
            "`{}` failed (is the openrc sourced?): {}",
            step.command_line(),
            outcome.output.trim()
        );
    }
    Ok(outcome.stdout)
}
