//! The files the xtask keeps for itself while it works (downloads, images
//! being compressed, small records of what was published, unpacked
//! indexes), in its private state and cache folders: never the monorepo's
//! files, which only the changeset writes. Here, next to the tools that
//! produce them, so that the compiler's boundary (clippy.toml) holds: only
//! the runner and the changeset touch the disk.

use std::path::Path;

use anyhow::{Context as _, Result};

/// Removes a scratch file. One that is not there is fine, and one that
/// cannot be removed stays in a private folder, harmless: the next run
/// overwrites it.
pub fn discard(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A finished scratch file takes its final name (same folder: atomic).
pub fn promote(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

/// Writes a small scratch file whole or not at all: a temp file, then a rename.
pub fn save(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}
