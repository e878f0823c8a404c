//! The private work folder that lets a stopped run continue: where it is,
//! the files of one image in it (download, source, compressed image), the
//! record of what was compressed from what, and the checks that a result
//! left there still holds.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::checksum::{self, Sums};
use crate::context::Context;
use crate::runner::scratch;

use super::source::{Origin, Source};

/// Where the downloads and compressed images are kept between runs: the
/// checkout's `target/xtask/images`, else `$XDG_CACHE_HOME/xtask/images`
/// (`~/.cache/xtask/images`).
pub(super) fn images_dir(ctx: &Context) -> PathBuf {
    ctx.state_dir.join("images")
}

/// The files of one image in the state folder.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub(super) dir: PathBuf,
    /// Being downloaded.
    pub(super) download: PathBuf,
    /// Downloaded, with glance's MD5 (in its name).
    pub(super) source: PathBuf,
    /// Being compressed.
    pub(super) compressing: PathBuf,
    pub(super) compressed: PathBuf,
    /// The compressed image's checksums and the source's MD5 (JSON).
    pub(super) record: PathBuf,
}

impl Files {
    pub(super) fn new(state: &Path, artifact: &str, source: &Source) -> Files {
        let stem = artifact.trim_end_matches(".qcow2");
        let dir = state.join(stem);
        let source_path = match &source.origin {
            Origin::File(path) => path.clone(),
            Origin::Glance { .. } => dir.join(format!("source-{}.img", source.md5)),
        };
        Files {
            download: dir.join(format!("source-{}.img.part", source.md5)),
            source: source_path,
            compressing: dir.join(format!("{artifact}.part")),
            compressed: dir.join(artifact),
            record: dir.join(format!("{artifact}.json")),
            dir,
        }
    }
}

/// What was compressed from what: the proof that a compressed image is this
/// source's, kept after the upload as the proof of what was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) source_md5: String,
    pub(super) sums: Sums,
    pub(super) size: u64,
    pub(super) published: Option<String>,
}

impl Record {
    pub(super) fn load(path: &Path) -> Option<Record> {
        let json: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        Some(Record {
            source_md5: text("source_md5")?,
            sums: Sums {
                md5: text("md5")?,
                sha1: text("sha1")?,
                sha256: text("sha256")?,
            },
            size: json.get("size").and_then(Value::as_u64)?,
            published: text("published"),
        })
    }

    /// Written whole or not at all: a temp file, then a rename.
    pub(super) fn save(&self, path: &Path) -> Result<()> {
        let json = json!({
            "source_md5": self.source_md5,
            "md5": self.sums.md5,
            "sha1": self.sums.sha1,
            "sha256": self.sums.sha256,
            "size": self.size,
            "published": self.published,
        });
        scratch::save(path, &(serde_json::to_string_pretty(&json)? + "\n"))
    }
}

/// Whether the compressed image is there with its recorded checksums.
pub(super) fn compressed_holds(ctx: &Context, files: &Files, record: &Record) -> bool {
    if !files.compressed.is_file() {
        return false;
    }
    ctx.say(format!(
        "  checking {} against its record…",
        files.compressed.display()
    ));
    match checksum::file_sums(&files.compressed) {
        Ok(sums) if sums == record.sums => true,
        _ => {
            ctx.warn(format!(
                "{} does not match its record: compressing again",
                files.compressed.display()
            ));
            false
        }
    }
}

/// Whether the downloaded image is there with glance's MD5.
pub(super) fn source_holds(ctx: &Context, source: &Source, files: &Files) -> Result<bool> {
    if !files.source.is_file() {
        return Ok(false);
    }
    ctx.say(format!("  checking the MD5 of {}…", files.source.display()));
    let md5 = checksum::file_md5(&files.source)
        .with_context(|| format!("cannot read {}", files.source.display()))?;
    if md5 == source.md5 {
        ctx.say(format!(
            "  skipped download: {} is there with glance's MD5 {md5}",
            files.source.display()
        ));
        return Ok(true);
    }
    ctx.warn(format!(
        "{} has MD5 {md5}, not glance's {}: downloading it again",
        files.source.display(),
        source.md5
    ));
    scratch::discard(&files.source);
    Ok(false)
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
