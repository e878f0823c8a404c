//! The write journal: what makes a changeset's write all-or-nothing even when
//! the process is killed (SIGKILL, power loss) half-way through its renames.
//!
//! Before its first temp file and its first rename, a write records in
//! `xtask-journal/` of the lock dir (`lock::lock_dir`: the git dir, else
//! `target/xtask/`) every target with its original bytes and mode, its new
//! bytes and mode, and the temp file that will carry them. The folder is
//! built as `xtask-journal.partial-<pid>` and renamed into place, so a
//! journal is either whole or absent. The write removes it once every
//! rename is done and synced.
//!
//! The next xtask command of any kind that finds a journal rolls the write
//! back before its own work (`recover`): each target that has its new bytes
//! gets its original back, each temp file is removed. Rolling back is always
//! certain (the originals are in the journal), it is what the interrupted
//! command's user was told (its "wrote" lines come only after the journal is
//! gone), and it leaves alone a file someone changed since: one that has
//! neither the old nor the new bytes is named, not overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use serde_json::{json, Value};

/// The committed journal's folder name in the lock dir.
pub const JOURNAL: &str = "xtask-journal";
const PARTIAL: &str = "xtask-journal.partial-";
const MANIFEST: &str = "manifest.json";

/// One file of a write, as the journal keeps it.
pub struct Record<'a> {
    /// The key shown to the user.
    pub key: &'a str,
    pub target: &'a Path,
    /// Where the new bytes are staged; `None` when the target is removed.
    pub temp: Option<&'a Path>,
    /// `None` when the file did not exist.
    pub old: Option<&'a [u8]>,
    pub old_mode: u32,
    /// `None` when the file is removed.
    pub new: Option<&'a [u8]>,
}

/// A committed journal; `finish` removes it.
pub struct Journal {
    dir: PathBuf,
    state_dir: PathBuf,
}

/// Writes the journal of a write about to happen, whole or not at all.
pub fn begin(state_dir: &Path, records: &[Record<'_>]) -> Result<Journal> {
    fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let dir = state_dir.join(JOURNAL);
    if dir.exists() {
        // `recover` runs before every command; one left now is a bug or a
        // second writer that ignored the lock.
        return Err(anyhow!(
            "{} exists: an earlier write was not finished; run any xtask command to roll it back first",
            dir.display()
        ));
    }
    let partial = state_dir.join(format!("{PARTIAL}{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let written = write_partial(&partial, records);
    if let Err(err) = written {
        let _ = fs::remove_dir_all(&partial);
        return Err(err);
    }
    if let Err(err) = fs::rename(&partial, &dir) {
        let _ = fs::remove_dir_all(&partial);
        return Err(anyhow!(err).context(format!("cannot create {}", dir.display())));
    }
    sync_dir(state_dir);
    Ok(Journal {
        dir,
        state_dir: state_dir.to_path_buf(),
    })
}

fn write_partial(partial: &Path, records: &[Record<'_>]) -> Result<()> {
    let mut entries = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if let Some(old) = record.old {
            write_synced(&partial.join(format!("{index}.old")), old)?;
        }
        if let Some(new) = record.new {
            write_synced(&partial.join(format!("{index}.new")), new)?;
        }
        entries.push(json!({
            "key": record.key,
            "target": utf8(record.target)?,
            "temp": record.temp.map(utf8).transpose()?,
            "old": record.old.is_some(),
            "old_mode": record.old_mode,
            "new": record.new.is_some(),
        }));
    }
    let manifest = json!({
        "pid": std::process::id(),
        "command": crate::lock::command_line(),
        "files": entries,
    });
    write_synced(&partial.join(MANIFEST), format!("{manifest}\n").as_bytes())?;
    sync_dir(partial);
    Ok(())
}

impl Journal {
    /// The write is complete (or fully undone): forget it.
    pub fn finish(self) {
        let _ = discard(&self.dir);
        sync_dir(&self.state_dir);
    }
}

/// What `recover` did, for the message on standard error.
pub struct Recovery {
    pub pid: u64,
    pub command: String,
    /// Keys of the files put back as they were.
    pub restored: Vec<String>,
    /// Keys of the files that had neither the old nor the new content: left alone.
    pub left: Vec<String>,
}

impl Recovery {
    pub fn message(&self) -> String {
        let mut text = format!(
            "an earlier xtask command (`{}`, pid {}) was interrupted while writing; rolled its write back, nothing of it remains",
            self.command, self.pid
        );
        if !self.restored.is_empty() {
            text.push_str(&format!(
                "; put back as they were: {}",
                self.restored.join(", ")
            ));
        }
        if !self.left.is_empty() {
            text.push_str(&format!(
                "; changed since, so left as they are (check them with git diff): {}",
                self.left.join(", ")
            ));
        }
        text
    }
}

/// Rolls back an interrupted write, if the lock dir holds a journal; also
/// removes half-written journals. Call with the writer lock held. Leaves the
/// journal in place (and fails) only when a file cannot be put back.
pub fn recover(state_dir: &Path) -> Result<Option<Recovery>> {
    if let Ok(entries) = fs::read_dir(state_dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PARTIAL) {
                // Never committed: no temp file was made, nothing renamed.
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = state_dir.join(JOURNAL);
    let manifest = match fs::read(dir.join(MANIFEST)) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            if dir.exists() {
                // Cannot happen (the folder is renamed in whole); nothing to undo.
                let _ = fs::remove_dir_all(&dir);
            }
            return Ok(None);
        }
        Err(err) => return Err(anyhow!(err).context(format!("cannot read {}", dir.display()))),
    };
    let damaged = |what: &str| {
        anyhow!(
            "the write journal {} is damaged ({what}); compare the tree with `git status`, then remove the folder",
            dir.display()
        )
    };
    let manifest: Value = serde_json::from_slice(&manifest).map_err(|_| damaged("not JSON"))?;
    let files = manifest
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| damaged("no files"))?;
    let mut recovery = Recovery {
        pid: manifest.get("pid").and_then(Value::as_u64).unwrap_or(0),
        command: manifest
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("xtask")
            .to_string(),
        restored: Vec::new(),
        left: Vec::new(),
    };
    let mut failed = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let text = |key: &str| file.get(key).and_then(Value::as_str);
        let key = text("key").ok_or_else(|| damaged("a file without key"))?;
        let target = PathBuf::from(text("target").ok_or_else(|| damaged("a file without target"))?);
        if let Some(temp) = text("temp") {
            match fs::remove_file(temp) {
                Err(err) if err.kind() != ErrorKind::NotFound => {
                    failed.push(format!("{temp} ({err})"))
                }
                _ => {}
            }
        }
        let flag = |key: &str| file.get(key).and_then(Value::as_bool).unwrap_or(false);
        let read_part = |part: &str| fs::read(dir.join(format!("{index}.{part}")));
        let old = match flag("old") {
            true => Some(read_part("old").map_err(|_| damaged("an original is missing"))?),
            false => None,
        };
        let new = match flag("new") {
            true => Some(read_part("new").map_err(|_| damaged("a new content is missing"))?),
            false => None,
        };
        let old_mode = file
            .get("old_mode")
            .and_then(Value::as_u64)
            .and_then(|mode| u32::try_from(mode).ok())
            .unwrap_or(0o644);
        match put_back(&target, old.as_deref(), old_mode, new.as_deref()) {
            Ok(Outcome::Untouched) => {}
            Ok(Outcome::Restored) => recovery.restored.push(key.to_string()),
            Ok(Outcome::ChangedSince) => recovery.left.push(key.to_string()),
            Err(err) => failed.push(format!("{key} ({err})")),
        }
    }
    if !failed.is_empty() {
        return Err(anyhow!(
            "an earlier xtask command (`{}`, pid {}) was interrupted while writing, and rolling it back failed for: {}; fix that, and the next xtask command tries again (the journal is {})",
            recovery.command,
            recovery.pid,
            failed.join(", "),
            dir.display()
        ));
    }
    discard(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    sync_dir(state_dir);
    Ok(Some(recovery))
}

/// Removes a journal: its manifest first, which voids it at once (a kill
/// half-way through leaves a folder without manifest, which `recover` only
/// removes), then the rest.
fn discard(dir: &Path) -> std::io::Result<()> {
    match fs::remove_file(dir.join(MANIFEST)) {
        Err(err) if err.kind() != ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    sync_dir(dir);
    fs::remove_dir_all(dir)
}

enum Outcome {
    Untouched,
    Restored,
    ChangedSince,
}

/// One target back to `old` (absent when `None`), if it has `old` or `new` now.
fn put_back(
    target: &Path,
    old: Option<&[u8]>,
    old_mode: u32,
    new: Option<&[u8]>,
) -> std::io::Result<Outcome> {
    let now = match fs::read(target) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let mode = || fs::metadata(target).map(|meta| meta.permissions().mode() & 0o7777);
    if now.as_deref() == old {
        // The rename had not happened, or only the mode was to change.
        if old.is_some() && mode()? != old_mode {
            fs::set_permissions(target, fs::Permissions::from_mode(old_mode))?;
            return Ok(Outcome::Restored);
        }
        return Ok(Outcome::Untouched);
    }
    if now.as_deref() != new {
        return Ok(Outcome::ChangedSince);
    }
    match old {
        None => fs::remove_file(target)?,
        Some(bytes) => {
            let folder = target.parent().unwrap_or(Path::new("/"));
            let name = target
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name: String = name.chars().take(200).collect();
            let temp = folder.join(format!(".{name}.xtask-recover-{}.tmp", std::process::id()));
            let _ = fs::remove_file(&temp);
            let written =
                write_file(&temp, bytes, old_mode).and_then(|()| fs::rename(&temp, target));
            if let Err(err) = written {
                let _ = fs::remove_file(&temp);
                return Err(err);
            }
            sync_dir(folder);
        }
    }
    Ok(Outcome::Restored)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, 0o600).with_context(|| format!("cannot write {}", path.display()))
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("{}: the path is not UTF-8", path.display()))
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}
