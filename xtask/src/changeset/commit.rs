//! Writing a changeset: every file or none. Writing goes in three steps, so a
//! failure half-way never leaves the monorepo half-edited:
//! 1. check that every file still has the bytes it had when first read;
//! 2. write each new content to a fresh temp file beside its target, fsync it
//!    and give it the target's mode;
//! 3. rename each temp file over its target (or remove the target).
//!
//! If step 2 or 3 fails, every target already replaced is restored from the
//! original bytes kept in memory (again through a temp file and a rename),
//! removed files are re-created, and no temp file is left behind.
//!
//! Against what no code can catch (SIGKILL, a power cut), a journal of the
//! originals is written before step 2 and removed after step 3, and the next
//! xtask command rolls an interrupted write back (`journal`). SIGINT, SIGTERM
//! and SIGHUP wait until the write is done (`runner::Deferral`).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Result};

use super::journal::{self, JOURNAL};
use super::model::{Action, Changeset, Entry};
use crate::bad;
use crate::lock;
use crate::runner::Deferral;

impl Changeset {
    /// Write every file or none (see the module comment). Returns the relative paths written.
    pub fn apply(self) -> Result<Vec<String>> {
        self.apply_with(place)
    }

    /// `apply` with the step that puts a file in place passed in, so tests can
    /// make it fail half-way.
    pub(super) fn apply_with(
        self,
        mut place: impl FnMut(Option<&Path>, &Path) -> std::io::Result<()>,
    ) -> Result<Vec<String>> {
        let plan: Vec<(&String, &Entry)> = self.changed().collect();
        // Step 1: nothing has moved under us, and there is somewhere to write.
        let mut modes = Vec::with_capacity(plan.len());
        let mut old_modes = Vec::with_capacity(plan.len());
        for (key, entry) in &plan {
            modes.push(entry.check_unchanged(key)?);
            old_modes.push(
                fs::metadata(&entry.target)
                    .map(|meta| meta.permissions().mode() & 0o7777)
                    .unwrap_or(0),
            );
        }
        // From here to the end a signal waits, so the write completes (or is
        // undone) and leaves no temp file; `xtask::main` then exits 128+signal.
        let _deferral = Deferral::new();
        let contents: Vec<Option<Vec<u8>>> = plan
            .iter()
            .map(|(_, entry)| entry.updated_bytes())
            .collect();
        let temps: Vec<Option<PathBuf>> = plan
            .iter()
            .zip(&contents)
            .map(|((_, entry), content)| content.as_ref().map(|_| temp_name(&entry.target)))
            .collect();
        // The journal first: a kill from here on is rolled back by the next command.
        let records: Vec<journal::Record> = plan
            .iter()
            .enumerate()
            .map(|(index, (key, entry))| journal::Record {
                key,
                target: &entry.target,
                temp: temps[index].as_deref(),
                old: entry.original.as_deref(),
                old_mode: old_modes[index],
                new: contents[index].as_deref(),
            })
            .collect();
        let journal = journal::begin(&lock::lock_dir(&self.root), &records).map_err(|err| {
            anyhow!("cannot write the journal that makes the write all-or-nothing: {err:#}; nothing was written")
        })?;
        // Step 2: every new content sits in a synced temp file beside its target.
        for (index, (key, _)) in plan.iter().enumerate() {
            let (Some(temp), Some(content)) = (&temps[index], &contents[index]) else {
                continue;
            };
            if let Err(err) = stage(temp, content, &modes[index]) {
                remove_temps(temps.iter().flatten());
                journal.finish();
                return Err(restored(key, &err, &[]));
            }
        }
        // Step 3: put each in place; on failure undo the ones already done.
        let mut done: Vec<usize> = Vec::with_capacity(plan.len());
        for (index, (key, entry)) in plan.iter().enumerate() {
            if let Err(err) = place(temps[index].as_deref(), &entry.target) {
                remove_temps(temps[index..].iter().flatten());
                let mut unrestored = Vec::new();
                for &undo in done.iter().rev() {
                    let (undo_key, undo_entry) = plan[undo];
                    if let Err(err) = undo_entry.restore(&modes[undo]) {
                        unrestored.push(format!("{undo_key} ({err})"));
                    }
                }
                if unrestored.is_empty() {
                    journal.finish();
                }
                // Else the journal stays: the next command tries again.
                return Err(restored(key, &err, &unrestored));
            }
            done.push(index);
        }
        sync_folders(plan.iter().map(|(_, entry)| entry.target.as_path()));
        journal.finish();
        Ok(plan.into_iter().map(|(key, _)| key.clone()).collect())
    }
}

impl Entry {
    /// Refuses when the file is not as first read; returns the mode and owner
    /// the written file gets: the existing file's, or the requested mode.
    fn check_unchanged(&self, key: &str) -> Result<Owner> {
        let now = match fs::read(&self.target) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == ErrorKind::NotFound => None,
            Err(err) => return Err(bad!("cannot read {key}: {err}; nothing was written")),
        };
        if now != self.original {
            return Err(bad!(
                "{key} changed on disk since it was read; run the command again (nothing was written)"
            ));
        }
        let folder = self.target.parent().unwrap_or(Path::new("/"));
        if !folder.is_dir() {
            return Err(bad!(
                "cannot write {key}: the folder {} does not exist (nothing was written)",
                folder.display()
            ));
        }
        let restored_mode = match &self.action {
            Action::Restore { mode, .. } => Some(*mode),
            _ => None,
        };
        match fs::metadata(&self.target) {
            Ok(meta) => Ok(Owner {
                mode: restored_mode.unwrap_or(meta.permissions().mode() & 0o7777),
                ids: Some((meta.uid(), meta.gid())),
            }),
            Err(_) => Ok(Owner {
                mode: match &self.action {
                    Action::Write { mode, .. } | Action::Restore { mode, .. } => *mode,
                    _ => 0o644,
                },
                ids: None,
            }),
        }
    }

    /// Puts the original back (or removes a file that did not exist).
    fn restore(&self, owner: &Owner) -> std::io::Result<()> {
        match &self.original {
            Some(bytes) => {
                let temp = temp_name(&self.target);
                stage(&temp, bytes, owner)?;
                fs::rename(&temp, &self.target).inspect_err(|_| {
                    let _ = fs::remove_file(&temp);
                })
            }
            None => match fs::remove_file(&self.target) {
                Err(err) if err.kind() != ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            },
        }
    }
}

/// The mode a written file gets, and the owner to keep when it had one.
struct Owner {
    mode: u32,
    ids: Option<(u32, u32)>,
}

/// Puts a staged temp file in place of its target, or removes the target.
pub(super) fn place(temp: Option<&Path>, target: &Path) -> std::io::Result<()> {
    match temp {
        Some(temp) => fs::rename(temp, target),
        None => fs::remove_file(target),
    }
}

/// Makes temp file names unique within this process; the pid makes them
/// unique across processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp file name beside `target` that nothing uses yet; the pid makes it
/// unique across processes, the counter within this one.
fn temp_name(target: &Path) -> PathBuf {
    let folder = target.parent().unwrap_or(Path::new("/"));
    let mut name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Leave room for the decoration within the usual 255-byte name limit.
    while name.len() > 200 {
        name.pop();
    }
    loop {
        let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = folder.join(format!(".{name}.xtask-{}-{count}.tmp", std::process::id()));
        if fs::symlink_metadata(&temp).is_err() {
            return temp;
        }
    }
}

/// Writes `bytes` to the new temp file `temp`, synced, with the final mode
/// (and owner, where we may set it).
fn stage(temp: &Path, bytes: &[u8], owner: &Owner) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    let written = fill(&mut file, bytes, owner);
    if written.is_err() {
        drop(file);
        let _ = fs::remove_file(temp);
    }
    written
}

fn fill(file: &mut File, bytes: &[u8], owner: &Owner) -> std::io::Result<()> {
    file.write_all(bytes)?;
    if let Some((uid, gid)) = owner.ids {
        let meta = file.metadata()?;
        if (meta.uid(), meta.gid()) != (uid, gid) {
            // Keep the owner when we are allowed to (as root); otherwise the
            // file becomes ours, as with any editor that saves by renaming.
            let _ = std::os::unix::fs::fchown(&*file, Some(uid), Some(gid));
        }
    }
    // After the chown, which clears set-id bits.
    file.set_permissions(fs::Permissions::from_mode(owner.mode))?;
    file.sync_all()
}

fn remove_temps<'a>(temps: impl Iterator<Item = &'a PathBuf>) {
    for temp in temps {
        let _ = fs::remove_file(temp);
    }
}

/// Makes the renames durable; a folder that cannot be synced is not an error
/// (the files themselves are).
fn sync_folders<'a>(targets: impl Iterator<Item = &'a Path>) {
    let mut folders: Vec<&Path> = targets.filter_map(Path::parent).collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        if let Ok(dir) = File::open(folder) {
            let _ = dir.sync_all();
        }
    }
}

/// The error after a failed write: which file, why, and that all was undone.
fn restored(key: &str, err: &dyn std::fmt::Display, unrestored: &[String]) -> anyhow::Error {
    if unrestored.is_empty() {
        anyhow!("cannot write {key}: {err}; every file was restored to what it was before, nothing was changed")
    } else {
        anyhow!(
            "cannot write {key}: {err}; restoring the files already written failed for: {}; restore them with `git checkout -- <file>`",
            unrestored.join(", ")
        )
    }
}

/// Rolls back a write that an earlier command did not finish (killed, or
/// the power went), if there is one: see `journal`. Call with the writer lock
/// held. Returns what to tell the user.
pub fn recover_interrupted(root: &Path) -> Result<Option<String>> {
    Ok(journal::recover(&lock::lock_dir(root))?.map(|recovery| recovery.message()))
}

/// Whether a write journal, whole or half-written, is in the lock dir (a
/// write runs, or one was interrupted).
pub fn journal_exists(root: &Path) -> bool {
    std::fs::read_dir(lock::lock_dir(root)).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with(JOURNAL))
    })
}
