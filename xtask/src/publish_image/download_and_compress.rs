//! The local steps: download the image from glance (`openstack image
//! save`) and check its MD5 against glance's, then compress it (`qemu-img
//! convert -c`) and record the compressed image's checksums.

use std::fs;

use anyhow::{Context as _, Result};

use crate::checksum;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::runner::{human_bytes, scratch, Meter, Progress, Runner, Step};

use super::source::{source_label, Origin, Source};
use super::work_files::{file_name, Files, Record};

pub(super) fn download_step(source: &Source, files: &Files) -> Option<Step> {
    let Origin::Glance { id, name, .. } = &source.origin else {
        return None;
    };
    Some(
        Step::new(format!("download {name} from glance"), "openstack")
            .args(["image", "save", "--file"])
            .arg(files.download.to_string_lossy())
            .arg(id.clone())
            .progress(Progress {
                meter: Meter::FileSize(files.download.clone()),
                total: source.size,
            }),
    )
}

pub(super) fn compress_step(source: &Source, files: &Files) -> Step {
    let mut step = Step::new(
        format!("compress the image into {}", file_name(&files.compressed)),
        "qemu-img",
    )
    .args(["convert", "-c", "-O", "qcow2"]);
    if let Origin::Glance {
        disk_format: Some(format),
        ..
    } = &source.origin
    {
        step = step.args(["-f", format]);
    }
    step.arg(files.source.to_string_lossy())
        .arg(files.compressing.to_string_lossy())
}

pub(super) fn download(
    ctx: &Context,
    runner: &Runner,
    n: usize,
    total: usize,
    source: &Source,
    files: &Files,
) -> Result<()> {
    let Some(step) = download_step(source, files) else {
        return Ok(());
    };
    scratch::discard(&files.download);
    let outcome = runner.step(n, total, &step)?;
    if !outcome.ok {
        scratch::discard(&files.download);
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!("`openstack image save` failed: {}", outcome.output.trim());
    }
    ctx.say("  checking the download's MD5 against glance's checksum…");
    let md5 = checksum::file_md5(&files.download)
        .with_context(|| format!("cannot read {}", files.download.display()))?;
    if md5 != source.md5 {
        scratch::discard(&files.download);
        anyhow::bail!(
            "the image downloaded from glance has MD5 {md5}, but glance's checksum is {}: the transfer or glance's copy is damaged, and the download was deleted. Run publish-image again to download it again; if it fails the same way, check the image in glance ({})",
            source.md5,
            source_label(source)
        );
    }
    scratch::promote(&files.download, &files.source)?;
    ctx.say(format!(
        "  {} MD5 {md5} is glance's checksum",
        ctx.paint.good("ok")
    ));
    Ok(())
}

pub(super) fn compress(
    ctx: &Context,
    runner: &Runner,
    n: usize,
    total: usize,
    source: &Source,
    files: &Files,
) -> Result<Record> {
    scratch::discard(&files.compressing);
    let outcome = runner.step(n, total, &compress_step(source, files))?;
    if !outcome.ok {
        scratch::discard(&files.compressing);
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!(
            "qemu-img could not compress the image: {}",
            outcome.output.trim()
        );
    }
    let sums = checksum::file_sums(&files.compressing)
        .with_context(|| format!("cannot read {}", files.compressing.display()))?;
    let size = fs::metadata(&files.compressing).map_or(0, |m| m.len());
    scratch::promote(&files.compressing, &files.compressed)?;
    let record = Record {
        source_md5: source.md5.clone(),
        sums,
        size,
        published: None,
    };
    record.save(&files.record)?;
    ctx.say(format!(
        "  {} {} ({} from {}): md5 {}",
        ctx.paint.good("compressed:"),
        files.compressed.display(),
        human_bytes(size),
        human_bytes(source.size),
        record.sums.md5
    ));
    // The compressed image and its record are all the next steps need.
    if matches!(source.origin, Origin::Glance { .. }) {
        scratch::discard(&files.source);
    }
    Ok(record)
}
