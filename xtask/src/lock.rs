//! One writing command at a time per checkout.
//!
//! A command that writes files or runs tools holds an exclusive `flock` on
//! `xtask.lock` in the checkout's git dir (beside git's own `index.lock`; the
//! same place keeps the write journal, see `changeset`), or, outside git, in
//! `target/xtask/` of the root. The file holds the command line, the pid and
//! the start time of its holder, so a second command can say who runs. The
//! kernel drops the lock when its holder ends, however it ends: a lock file
//! left behind by a killed command locks nothing.
#![allow(clippy::disallowed_methods)] // the writer lock is coordination between xtask processes, in .git beside git's own lock files, not a monorepo file

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _, Result};
use serde_json::{json, Value};

use crate::runner;
use crate::sites::paths;
use crate::{bad, git_dir};

const LOCK_FILE: &str = "xtask.lock";

/// Where the lock and the write journal live: the git dir of the checkout
/// that holds `root` (a worktree's own git dir), else `<root>/target/xtask`.
pub fn lock_dir(root: &Path) -> PathBuf {
    root.ancestors()
        .find_map(git_dir::of)
        .unwrap_or_else(|| root.join(paths::XTASK_STATE_DIR))
}

/// Who holds the lock.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    pub since: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "`{}` (pid {}, since {})",
            self.command, self.pid, self.since
        )
    }
}

/// Held for the whole command; dropping it removes the lock file and
/// unlocks (the process ending unlocks too, however it ends).
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed while still locked: a command that opened it meanwhile
        // sees, once it gets the lock, that the path no longer names its
        // file, and starts over (see `acquire`).
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Takes the lock for a writing command, or refuses at once (exit 2) naming
/// the command that holds it. The lock file exists only while a command
/// holds it, so a tree outside git keeps no trace of it.
pub fn acquire(root: &Path) -> Result<WriterLock> {
    let dir = lock_dir(root);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    // A few rounds at most: each lost race means another command finished.
    for _ in 0..100 {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                return Err(bad!(
                    "another xtask command is running on this checkout: {}; wait for it to end (or stop it: kill {}), then run this again. Nothing was written and nothing was run.",
                    holder.as_ref().map_or_else(|| "(it has not said which yet)".to_string(), Holder::describe),
                    holder.as_ref().map_or_else(|| "<pid>".to_string(), |h| h.pid.to_string()),
                ));
            }
            Err(TryLockError::Error(err)) => {
                return Err(anyhow!(err).context(format!("cannot lock {}", path.display())))
            }
        }
        if !same_file(&file, &path) {
            // Its holder removed it as we opened it: take the new one.
            continue;
        }
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let record = json!({
            "pid": std::process::id(),
            "command": command_line(),
            "since_unix": since,
        });
        // Best effort: the lock holds without it, the message is only vaguer.
        // Written over from the start, then cut to its length: cutting the
        // file to 0 first makes ext4 flush it to disk on close (its
        // replace-by-truncate heuristic), 0.3-0.5 ms of every command.
        let record = format!("{record}\n");
        let _ = file
            .write_all_at(record.as_bytes(), 0)
            .and_then(|()| file.set_len(record.len() as u64));
        return Ok(WriterLock { file, path });
    }
    Err(anyhow!(
        "cannot take the lock {}: it keeps being replaced",
        path.display()
    ))
}

/// Whether the open `file` is the one `path` names now.
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The running writer, if one holds the lock; `None` when nobody does (a
/// lock file left by a command that died holds no lock).
pub fn holder(root: &Path) -> Option<Holder> {
    let path = lock_dir(root).join(LOCK_FILE);
    let mut file = File::open(path).ok()?;
    // A shared lock is granted unless a writer holds the exclusive one.
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(read_holder(&mut file).unwrap_or(Holder {
            pid: 0,
            command: "xtask".into(),
            since: "just now".into(),
        })),
        Err(TryLockError::Error(_)) => None,
    }
}

/// Runs `f` with the lock if nobody holds it (for a read-only command that
/// finds an interrupted write to finish); `Ok(None)` when a writer is
/// running, an error when the lock cannot be taken for another reason.
pub fn with_lock_if_free<T>(root: &Path, f: impl FnOnce() -> T) -> Result<Option<T>> {
    match acquire(root) {
        Ok(lock) => {
            let result = f();
            drop(lock);
            Ok(Some(result))
        }
        Err(_) if holder(root).is_some() => Ok(None),
        Err(err) => Err(err),
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let record: Value = serde_json::from_str(text.trim()).ok()?;
    let since = record.get("since_unix").and_then(Value::as_u64)?;
    Some(Holder {
        pid: u32::try_from(record.get("pid").and_then(Value::as_u64)?).ok()?,
        command: record.get("command").and_then(Value::as_str)?.to_string(),
        since: runner::readable_time(UNIX_EPOCH + std::time::Duration::from_secs(since)),
    })
}

/// `xtask <arguments>` as it was started (arguments carry no secrets).
pub fn command_line() -> String {
    std::iter::once("xtask".to_string())
        .chain(std::env::args().skip(1).map(|arg| runner::quote(&arg)))
        .collect::<Vec<_>>()
        .join(" ")
}
