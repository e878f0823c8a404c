//! The only code that writes files. A command plans every edit here, can look
//! at the result (`view`, `preview`) and then writes all of it or none of it.
//!
//! Writing goes in three steps, so a failure half-way never leaves the
//! monorepo half-edited:
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
#![allow(clippy::disallowed_methods)] // the one place that writes the monorepo's files

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Result};

use crate::bad;
use crate::context::Context;
use crate::diff;
use crate::flags;
use crate::lock;
use crate::runner::Deferral;
use crate::sites::Site;
use crate::style::Paint;
use crate::tree::{self, Tree, WorkTree};

mod journal;

pub use journal::JOURNAL;

/// Every planned edit of one command, keyed by the path shown to the user
/// (relative to the root, or absolute for a file outside it).
pub struct Changeset {
    root: PathBuf,
    files: BTreeMap<String, Entry>,
}

/// One file: what it was when first read and what becomes of it.
struct Entry {
    /// Where it is written; a symlink is followed so the link itself survives.
    target: PathBuf,
    /// The bytes first read; `None` when the file did not exist.
    original: Option<Vec<u8>>,
    action: Action,
}

enum Action {
    /// Replacements in the original text, sorted by span, never overlapping.
    Edit(Vec<Edit>),
    /// A whole new content; `mode` is used only when the file is created.
    Write {
        content: String,
        mode: u32,
    },
    Remove,
    /// Bytes and a mode taken before a tool ran, put back as they were
    /// (also when the tool removed the file or changed only its mode).
    Restore {
        content: Vec<u8>,
        mode: u32,
    },
}

#[derive(PartialEq, Eq)]
struct Edit {
    span: Range<usize>,
    new: String,
}

impl Changeset {
    pub fn new(root: &Path) -> Changeset {
        Changeset {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
        }
    }

    /// Replace the bytes `span` of the file `rel` (relative to root), which must currently read `expected`,
    /// by `new`. Spans are always relative to the file's ORIGINAL content (as first read from disk); several
    /// replacements in one file are applied together. The same replacement twice is fine (deduped); overlapping
    /// different ones are an error. Reads the file on first touch (error via bad! naming the file if unreadable or not UTF-8).
    pub fn replace(
        &mut self,
        rel: &str,
        span: Range<usize>,
        expected: &str,
        new: &str,
    ) -> Result<()> {
        let entry = self.entry(rel)?;
        let text = entry.original_text(rel)?;
        let actual = text.get(span.clone()).ok_or_else(|| {
            bad!(
                "{rel}: cannot edit bytes {}..{} of a {}-byte file; it changed since it was read, run the command again",
                span.start,
                span.end,
                text.len()
            )
        })?;
        let line = line_of(text, span.start);
        if actual != expected {
            return Err(bad!(
                "{rel}:{line}: expected `{expected}` but the file has `{actual}`; it changed since it was read, run the command again"
            ));
        }
        let edits = match &mut entry.action {
            Action::Edit(edits) => edits,
            Action::Write { .. } | Action::Restore { .. } => {
                return Err(anyhow!(
                    "{rel}: cannot edit a part of a file whose whole content is being replaced"
                ))
            }
            Action::Remove => {
                return Err(anyhow!("{rel}: cannot edit a file that is being removed"))
            }
        };
        let edit = Edit {
            span,
            new: new.to_string(),
        };
        if edits.contains(&edit) {
            return Ok(());
        }
        if let Some(other) = edits.iter().find(|other| overlaps(&other.span, &edit.span)) {
            return Err(bad!(
                "{rel}:{line}: conflicting edits of the same text: one writes `{}`, another `{}`; nothing was written",
                other.new,
                edit.new
            ));
        }
        let at = edits.partition_point(|other| {
            (other.span.start, other.span.end) <= (edit.span.start, edit.span.end)
        });
        edits.insert(at, edit);
        Ok(())
    }

    /// Convenience: `replace(site.path, site.span, &current text at span, new)` — for a crate::sites::Site.
    ///
    /// The span must still hold part of the site's value on the site's line,
    /// so a file that changed after `sites::load` is refused, not mis-edited.
    pub fn set_site(&mut self, site: &Site, new: &str) -> Result<()> {
        let entry = self.entry(&site.path)?;
        let text = entry.original_text(&site.path)?;
        let current = text
            .get(site.span.clone())
            .filter(|current| site.value.contains(*current))
            .filter(|_| line_of(text, site.span.start) == site.line)
            .ok_or_else(|| {
                bad!(
                    "{}: expected {} `{}` there; the file changed since it was read, run the command again",
                    site.location(),
                    site.name(),
                    site.value
                )
            })?
            .to_string();
        self.replace(&site.path, site.span.clone(), &current, new)
    }

    /// Whole-file content for a new file (or a file the command regenerates), created with `mode` (e.g. 0o755)
    /// if it does not exist; an existing file keeps its mode. `path` may be absolute (e.g. a git hook) or relative to root.
    /// It replaces any earlier plan for the file (build on `updated` to keep one).
    pub fn write(&mut self, path: &Path, content: String, mode: u32) -> Result<()> {
        let key = self.key(path);
        let entry = self.entry(&key)?;
        entry.action = Action::Write { content, mode };
        Ok(())
    }

    /// Put back a file as it was before a tool changed it: exactly `content`
    /// (any bytes, not only text) with `mode`, re-created if the tool removed
    /// it. It replaces any earlier plan for the file; a file that already has
    /// these bytes and this mode is no change.
    pub fn restore(&mut self, rel: &str, content: Vec<u8>, mode: u32) -> Result<()> {
        let entry = self.entry(rel)?;
        entry.action = Action::Restore { content, mode };
        Ok(())
    }

    /// Remove a file (e.g. a stale lock) as part of the same all-or-nothing apply.
    /// It replaces any earlier plan for the file.
    pub fn remove(&mut self, rel: &str) -> Result<()> {
        let entry = self.entry(rel)?;
        entry.action = Action::Remove;
        Ok(())
    }

    /// True also when every replacement leaves the text identical.
    pub fn is_empty(&self) -> bool {
        self.files.values().all(|entry| !entry.changes())
    }

    /// Relative paths of the files that will change, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.changed().map(|(key, _)| key.clone()).collect()
    }

    /// The content a file will have after apply (None if untouched/removed).
    #[cfg(test)]
    pub fn updated(&self, rel: &str) -> Option<String> {
        self.files.get(rel)?.updated()
    }

    /// Unified diffs of every changed file (via diff::unified), sorted by path,
    /// then one summary line.
    pub fn preview(&self, paint: &Paint) -> String {
        let mut out = String::new();
        let mut stats = Vec::new();
        for (key, entry) in self.changed() {
            let original = entry.original.as_deref().map(String::from_utf8_lossy);
            let original = original.as_deref().unwrap_or("");
            let updated = entry.updated().unwrap_or_default();
            match (&entry.original, &entry.action) {
                (None, Action::Write { mode, .. } | Action::Restore { mode, .. }) => {
                    out.push_str(&paint.dim(&format!("new file {key}, mode {mode:04o}")));
                    out.push('\n');
                }
                (Some(_), Action::Remove) => {
                    out.push_str(&paint.dim(&format!("removed {key}")));
                    out.push('\n');
                }
                _ => {}
            }
            out.push_str(&diff::unified(key, original, &updated, paint));
            stats.push(diff::stat(original, &updated));
        }
        if !stats.is_empty() {
            out.push_str(&diff::summary(&stats));
            out.push('\n');
        }
        out
    }

    /// A Tree view of the monorepo as it will be after apply (reads through to the disk for untouched files),
    /// so commands can re-run `sites::load` and the rules on the result before writing anything.
    pub fn view(&self) -> impl Tree + '_ {
        View {
            changeset: self,
            disk: WorkTree {
                root: self.root.clone(),
            },
        }
    }

    /// Write every file or none (see the module comment). Returns the relative paths written.
    pub fn apply(self) -> Result<Vec<String>> {
        self.apply_with(place)
    }

    /// `apply` with the step that puts a file in place passed in, so tests can
    /// make it fail half-way.
    fn apply_with(
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
        let journal = journal::begin(&lock::state_dir(&self.root), &records).map_err(|err| {
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

    /// The whole flow commands use: if empty, say "nothing to change" and return Ok(false); else print the
    /// preview (ctx.say, so -q hides it), then `ctx.confirm(confirm, question)`; if it says go, apply and print
    /// one line per written file ("wrote path"); return whether it wrote.
    pub fn preview_and_apply(
        self,
        ctx: &Context,
        confirm: flags::Confirm,
        question: &str,
    ) -> Result<bool> {
        if self.is_empty() {
            ctx.say("nothing to change");
            return Ok(false);
        }
        ctx.say(self.preview(&ctx.paint).trim_end_matches('\n'));
        if !ctx.confirm(confirm, question)? {
            return Ok(false);
        }
        let removed: Vec<String> = self
            .changed()
            .filter(|(_, entry)| matches!(entry.action, Action::Remove))
            .map(|(key, _)| key.clone())
            .collect();
        for path in self.apply()? {
            let verb = if removed.contains(&path) {
                "removed"
            } else {
                "wrote"
            };
            ctx.say(format!("{verb} {path}"));
        }
        Ok(true)
    }

    /// The entry of a file, reading it on first touch.
    fn entry(&mut self, key: &str) -> Result<&mut Entry> {
        if !self.files.contains_key(key) {
            let path = self.root.join(key);
            // Follow a symlink so that renaming over the target keeps the
            // link; a file of the checkout must stay inside it (an absolute
            // path outside the root, a git hook, is the caller's choice).
            let target = if Path::new(key).is_absolute() {
                match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(&path)
                        .map_err(|err| bad!("{key}: cannot follow the link: {err}"))?,
                    _ => path,
                }
            } else {
                tree::write_target(&self.root, key)?
            };
            let original = tree::read_bounded(&target, key, tree::MAX_FILE_BYTES)?;
            let entry = Entry {
                target,
                original,
                action: Action::Edit(Vec::new()),
            };
            self.files.insert(key.to_string(), entry);
        }
        self.files
            .get_mut(key)
            .ok_or_else(|| anyhow!("{key}: lost track of the file"))
    }

    /// The key of a path: relative to the root when inside it.
    fn key(&self, path: &Path) -> String {
        let rel = if path.is_absolute() {
            path.strip_prefix(&self.root).unwrap_or(path)
        } else {
            path
        };
        rel.to_string_lossy().into_owned()
    }

    fn changed(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.files.iter().filter(|(_, entry)| entry.changes())
    }
}

impl Entry {
    fn original_text(&self, key: &str) -> Result<&str> {
        let bytes = self
            .original
            .as_deref()
            .ok_or_else(|| bad!("cannot edit {key}: there is no such file"))?;
        std::str::from_utf8(bytes).map_err(|err| {
            bad!(
                "{key}: not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                err.valid_up_to()
            )
        })
    }

    /// The content after apply; `None` when the file will not exist.
    fn updated(&self) -> Option<String> {
        match &self.action {
            Action::Edit(edits) => {
                let text = std::str::from_utf8(self.original.as_deref()?).ok()?;
                Some(splice_all(text, edits))
            }
            Action::Write { content, .. } => Some(content.clone()),
            Action::Restore { content, .. } => Some(String::from_utf8_lossy(content).into_owned()),
            Action::Remove => None,
        }
    }

    /// As `updated`, but also for a file that is not text and was not edited.
    fn updated_bytes(&self) -> Option<Vec<u8>> {
        match &self.action {
            Action::Edit(edits) if edits.is_empty() => self.original.clone(),
            Action::Restore { content, .. } => Some(content.clone()),
            _ => self.updated().map(String::into_bytes),
        }
    }

    fn changes(&self) -> bool {
        if let Action::Restore { mode, .. } = &self.action {
            let now = fs::metadata(&self.target).map(|meta| meta.permissions().mode() & 0o7777);
            if now.is_ok_and(|now| now != *mode) {
                return true;
            }
        }
        self.original != self.updated_bytes()
    }

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
fn place(temp: Option<&Path>, target: &Path) -> std::io::Result<()> {
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

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    // Two insertions at one place would have no defined order.
    (a.start < b.end && b.start < a.end) || (a == b)
}

/// `text` with every edit spliced in; bytes outside the spans stay as they were.
fn splice_all(text: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for edit in edits {
        out.push_str(&text[at..edit.span.start]);
        out.push_str(&edit.new);
        at = edit.span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The monorepo as it will be after apply.
struct View<'a> {
    changeset: &'a Changeset,
    disk: WorkTree,
}

impl Tree for View<'_> {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match self.changeset.files.get(rel) {
            Some(entry) => Ok(entry.updated_bytes()),
            None => self.disk.read(rel),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let mut names = self.disk.list(dir)?;
        let dir = Path::new(dir.trim_end_matches('/'));
        for (key, entry) in &self.changeset.files {
            let key = Path::new(key);
            let Some(name) = key.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if key.parent() != Some(dir) {
                continue;
            }
            if matches!(entry.action, Action::Remove) {
                names.retain(|existing| *existing != name);
            } else if !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn label(&self) -> String {
        "the working tree with the planned edits".into()
    }
}

/// Rolls back a write that an earlier command did not finish (killed, or
/// the power went), if there is one: see `journal`. Call with the writer lock
/// held. Returns what to tell the user.
pub fn recover_interrupted(root: &Path) -> Result<Option<String>> {
    Ok(journal::recover(&lock::state_dir(root))?.map(|recovery| recovery.message()))
}

/// Whether a write journal, whole or half-written, is in the state dir (a
/// write runs, or one was interrupted).
pub fn journal_exists(root: &Path) -> bool {
    std::fs::read_dir(lock::state_dir(root)).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with(JOURNAL))
    })
}

/// After planning, a command re-reads the planned files; `wrong` lists the
/// sites that do not read as intended. That is a bug in an editor, not bad
/// input: stop before anything is written and say so plainly.
pub fn ensure_reread(wrong: &[String]) -> Result<()> {
    if wrong.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the planned edit does not re-read as intended, nothing was written:\n  {}",
        wrong.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static COUNT: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "xtask-changeset-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }

        fn file(&self, rel: &str, content: &str, mode: u32) -> &Scratch {
            let path = self.0.join(rel);
            if let Some(folder) = path.parent() {
                fs::create_dir_all(folder).expect("create folder");
            }
            fs::write(&path, content).expect("write file");
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            self
        }

        fn read(&self, rel: &str) -> String {
            fs::read_to_string(self.0.join(rel)).expect("read file")
        }

        fn mode(&self, rel: &str) -> u32 {
            fs::metadata(self.0.join(rel))
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777
        }

        /// Every file below the folder, with its content: to prove nothing else moved.
        fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(&self.0).sort_by_file_name() {
                let entry = entry.expect("walk");
                if entry.file_type().is_file() {
                    let meta = entry.metadata().expect("stat");
                    files.push((
                        entry.path().to_path_buf(),
                        fs::read(entry.path()).expect("read"),
                        meta.permissions().mode() & 0o7777,
                    ));
                }
            }
            files
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn span_of(text: &str, needle: &str) -> Range<usize> {
        let start = text.find(needle).expect("needle in text");
        start..start + needle.len()
    }

    const MAKEFILE: &str =
        "PACKAGE = mobiledgex\r\nVERSION = 3.0.1\r\nDISTRIBUTION = cirrus\r\nCOMPONENT = main";

    #[test]
    fn several_replacements_in_one_file_keep_every_other_byte() {
        let dir = Scratch::new();
        dir.file("Makefile", MAKEFILE, 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes
            .replace("Makefile", span_of(MAKEFILE, "cirrus"), "cirrus", "bionic")
            .unwrap();
        changes
            .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.10.0")
            .unwrap();
        // The same edit twice is one edit.
        changes
            .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.10.0")
            .unwrap();
        let expected =
            "PACKAGE = mobiledgex\r\nVERSION = 3.10.0\r\nDISTRIBUTION = bionic\r\nCOMPONENT = main";
        assert_eq!(changes.updated("Makefile").as_deref(), Some(expected));
        assert_eq!(changes.paths(), vec!["Makefile".to_string()]);
        assert_eq!(changes.apply().unwrap(), vec!["Makefile".to_string()]);
        // CRLF and the missing final newline survive.
        assert_eq!(dir.read("Makefile"), expected);
    }

    #[test]
    fn overlapping_different_edits_are_refused() {
        let dir = Scratch::new();
        dir.file("Makefile", MAKEFILE, 0o644);
        let mut changes = Changeset::new(&dir.0);
        let span = span_of(MAKEFILE, "3.0.1");
        changes
            .replace("Makefile", span.clone(), "3.0.1", "3.0.2")
            .unwrap();
        let err = changes
            .replace("Makefile", span.start + 2..span.end, "0.1", "9.9")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Makefile:2: conflicting edits of the same text: one writes `3.0.2`, another `9.9`; nothing was written"
        );
        assert_eq!(crate::error::exit_status(&err), 2);
        let err = changes
            .replace("Makefile", span, "3.0.1", "3.0.3")
            .unwrap_err();
        assert!(err.to_string().contains("conflicting edits"), "{err}");
    }

    #[test]
    fn expected_text_mismatch_is_refused_and_nothing_is_written() {
        let dir = Scratch::new();
        dir.file("Makefile", MAKEFILE, 0o644);
        let before = dir.snapshot();
        let mut changes = Changeset::new(&dir.0);
        let err = changes
            .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.0", "3.0.2")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Makefile:2: expected `3.0.0` but the file has `3.0.1`; it changed since it was read, run the command again"
        );
        let err = changes
            .replace("Makefile", 1000..1005, "3.0.1", "3.0.2")
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot edit bytes 1000..1005"),
            "{err}"
        );
        let err = changes.replace("missing.txt", 0..0, "", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot edit missing.txt: there is no such file"
        );
        assert!(changes.is_empty());
        assert_eq!(changes.apply().unwrap(), Vec::<String>::new());
        assert_eq!(dir.snapshot(), before);
    }

    #[test]
    fn not_utf8_is_refused_naming_the_file() {
        let dir = Scratch::new();
        fs::write(dir.0.join("bin"), b"ok\xff\n").unwrap();
        let mut changes = Changeset::new(&dir.0);
        let err = changes.replace("bin", 0..2, "ok", "no").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bin: not UTF-8 text (invalid byte at offset 2); save it as UTF-8"
        );
        assert!(changes.is_empty());
    }

    #[test]
    fn identical_replacement_is_no_change() {
        let dir = Scratch::new();
        dir.file("Makefile", MAKEFILE, 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes
            .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.0.1")
            .unwrap();
        assert!(changes.is_empty());
        assert!(changes.paths().is_empty());
        assert_eq!(changes.preview(&Paint::plain()), "");
    }

    #[test]
    fn modes_are_kept_and_new_files_get_the_requested_one() {
        let dir = Scratch::new();
        dir.file("tool.sh", "#!/bin/sh\necho 3.0.1\n", 0o755);
        dir.file("private", "v=3.0.1\n", 0o600);
        let mut changes = Changeset::new(&dir.0);
        changes
            .replace("tool.sh", 15..20, "3.0.1", "3.0.2")
            .unwrap();
        changes.replace("private", 2..7, "3.0.1", "3.0.2").unwrap();
        changes
            .write(Path::new("hooks/pre-commit"), "#!/bin/sh\n".into(), 0o755)
            .unwrap();
        changes
            .write(&dir.0.join("tool.sh.generated"), "x\n".into(), 0o640)
            .unwrap();
        fs::create_dir(dir.0.join("hooks")).unwrap();
        let written = changes.apply().unwrap();
        assert_eq!(
            written,
            [
                "hooks/pre-commit",
                "private",
                "tool.sh",
                "tool.sh.generated"
            ]
        );
        assert_eq!(dir.read("tool.sh"), "#!/bin/sh\necho 3.0.2\n");
        assert_eq!(dir.mode("tool.sh"), 0o755);
        assert_eq!(dir.mode("private"), 0o600);
        assert_eq!(dir.mode("hooks/pre-commit"), 0o755);
        assert_eq!(dir.mode("tool.sh.generated"), 0o640);
    }

    #[test]
    fn a_missing_folder_is_refused_before_anything_is_written() {
        let dir = Scratch::new();
        dir.file("a.txt", "a 1\n", 0o644);
        let before = dir.snapshot();
        let mut changes = Changeset::new(&dir.0);
        changes.replace("a.txt", 2..3, "1", "2").unwrap();
        changes
            .write(Path::new("no/such/folder/file"), "x\n".into(), 0o644)
            .unwrap();
        let err = changes.apply().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot write no/such/folder/file: the folder "),
            "{err}"
        );
        assert_eq!(crate::error::exit_status(&err), 2);
        assert_eq!(dir.snapshot(), before);
    }

    #[test]
    fn a_file_changed_on_disk_after_reading_is_refused() {
        let dir = Scratch::new();
        dir.file("a.txt", "a 1\n", 0o644);
        dir.file("b.txt", "b 1\n", 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes.replace("a.txt", 2..3, "1", "2").unwrap();
        changes.replace("b.txt", 2..3, "1", "2").unwrap();
        dir.file("b.txt", "b 1 edited meanwhile\n", 0o644);
        let before = dir.snapshot();
        let err = changes.apply().unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.txt changed on disk since it was read; run the command again (nothing was written)"
        );
        assert_eq!(dir.snapshot(), before);
    }

    #[test]
    fn a_new_file_that_appeared_meanwhile_is_refused() {
        let dir = Scratch::new();
        let mut changes = Changeset::new(&dir.0);
        changes
            .write(Path::new("new.txt"), "mine\n".into(), 0o644)
            .unwrap();
        dir.file("new.txt", "theirs\n", 0o644);
        let err = changes.apply().unwrap_err();
        assert!(err.to_string().contains("new.txt changed on disk"), "{err}");
        assert_eq!(dir.read("new.txt"), "theirs\n");
    }

    #[test]
    fn view_sees_the_planned_content_and_the_disk_elsewhere() {
        let dir = Scratch::new();
        dir.file("d/a.txt", "a 1\n", 0o644);
        dir.file("d/b.txt", "b\n", 0o644);
        dir.file("d/stale.lock", "old\n", 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes.replace("d/a.txt", 2..3, "1", "2").unwrap();
        changes
            .write(Path::new("d/c.txt"), "c\n".into(), 0o644)
            .unwrap();
        changes.remove("d/stale.lock").unwrap();
        let view = changes.view();
        assert_eq!(
            view.read("d/a.txt").unwrap().as_deref(),
            Some(&b"a 2\n"[..])
        );
        assert_eq!(view.read("d/b.txt").unwrap().as_deref(), Some(&b"b\n"[..]));
        assert_eq!(view.read("d/c.txt").unwrap().as_deref(), Some(&b"c\n"[..]));
        assert_eq!(view.read("d/stale.lock").unwrap(), None);
        assert_eq!(view.read("d/none").unwrap(), None);
        assert_eq!(view.list("d").unwrap(), ["a.txt", "b.txt", "c.txt"]);
        assert_eq!(view.list("").unwrap(), ["d"]);
        // The disk itself is untouched until apply.
        assert_eq!(dir.read("d/a.txt"), "a 1\n");
        assert!(!dir.0.join("d/c.txt").exists());
    }

    #[test]
    fn remove_and_write_apply_together() {
        let dir = Scratch::new();
        dir.file("policyfiles/base.lock.json", "{}\n", 0o644);
        dir.file("policyfiles/base.rb", "name 'base'\n", 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes.remove("policyfiles/base.lock.json").unwrap();
        changes
            .write(
                Path::new("policyfiles/base.rb"),
                "name 'base'\r\n".into(),
                0o755,
            )
            .unwrap();
        // Removing a file that is not there changes nothing.
        changes.remove("policyfiles/other.lock.json").unwrap();
        assert_eq!(
            changes.paths(),
            ["policyfiles/base.lock.json", "policyfiles/base.rb"]
        );
        assert_eq!(changes.updated("policyfiles/base.lock.json"), None);
        assert_eq!(
            changes.preview(&Paint::plain()),
            "\
removed policyfiles/base.lock.json
--- policyfiles/base.lock.json\toriginal
+++ policyfiles/base.lock.json\tupdated
@@ -1 +0,0 @@
-{}
--- policyfiles/base.rb\toriginal
+++ policyfiles/base.rb\tupdated
@@ -1 +1 @@
-name 'base'
+name 'base'␍
\\ line ending changed: LF → CRLF
2 files changed, 1 insertion(+), 2 deletions(-)
"
        );
        changes.apply().unwrap();
        assert!(!dir.0.join("policyfiles/base.lock.json").exists());
        assert_eq!(dir.read("policyfiles/base.rb"), "name 'base'\r\n");
        // An existing file keeps its mode even when rewritten whole.
        assert_eq!(dir.mode("policyfiles/base.rb"), 0o644);
    }

    #[test]
    fn set_site_edits_the_span_and_checks_the_site_still_holds() {
        let dir = Scratch::new();
        let text = "#!/bin/bash\nAPT_REPO=\"https://apt.mobiledgex.net/cirrus/2021-02-01\"\n";
        dir.file("build.sh", text, 0o755);
        let site = Site {
            id: "packer.apt_repo",
            key: String::new(),
            path: "build.sh".into(),
            line: 2,
            value: "https://apt.mobiledgex.net/cirrus/2021-02-01".into(),
            span: span_of(text, "2021-02-01"),
        };
        let mut changes = Changeset::new(&dir.0);
        changes.set_site(&site, "2022-03-04").unwrap();
        assert_eq!(
            changes.updated("build.sh").as_deref(),
            Some("#!/bin/bash\nAPT_REPO=\"https://apt.mobiledgex.net/cirrus/2022-03-04\"\n")
        );
        let moved = Site {
            line: 3,
            ..site.clone()
        };
        let err = changes.set_site(&moved, "2022-03-05").unwrap_err();
        assert_eq!(
            err.to_string(),
            "build.sh:3: expected packer.apt_repo `https://apt.mobiledgex.net/cirrus/2021-02-01` there; the file changed since it was read, run the command again"
        );
        changes.apply().unwrap();
        assert_eq!(dir.mode("build.sh"), 0o755);
    }

    #[test]
    fn symlinks_stay_links_and_their_target_is_edited() {
        let dir = Scratch::new();
        dir.file("real.txt", "v 1\n", 0o644);
        std::os::unix::fs::symlink("real.txt", dir.0.join("link.txt")).unwrap();
        let mut changes = Changeset::new(&dir.0);
        changes.replace("link.txt", 2..3, "1", "2").unwrap();
        changes.apply().unwrap();
        assert!(fs::symlink_metadata(dir.0.join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(dir.read("real.txt"), "v 2\n");
    }

    #[test]
    fn a_failed_rename_restores_every_file_already_written() {
        let dir = Scratch::new();
        dir.file("a.txt", "a 1\r\n", 0o755);
        dir.file("b.lock", "lock\n", 0o600);
        dir.file("z/target", "z 1", 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes.replace("a.txt", 2..3, "1", "2").unwrap();
        changes.remove("b.lock").unwrap();
        changes
            .write(Path::new("new.txt"), "new\n".into(), 0o644)
            .unwrap();
        changes.replace("z/target", 2..3, "1", "2").unwrap();
        let before = dir.snapshot();
        let mut placed = Vec::new();
        let err = changes
            .apply_with(|temp, target| {
                if target.ends_with("z/target") {
                    return Err(std::io::Error::other("disk on fire"));
                }
                placed.push(target.to_path_buf());
                place(temp, target)
            })
            .unwrap_err();
        assert_eq!(
            placed.len(),
            3,
            "the first three were in place before the failure"
        );
        assert_eq!(
            err.to_string(),
            "cannot write z/target: disk on fire; every file was restored to what it was before, nothing was changed"
        );
        assert_eq!(crate::error::exit_status(&err), 1);
        // Same bytes, same modes, no temp file left.
        assert_eq!(dir.snapshot(), before);
    }

    #[test]
    fn long_file_names_still_get_a_temp_file() {
        let dir = Scratch::new();
        let name = "n".repeat(250);
        dir.file(&name, "v 1\n", 0o644);
        let mut changes = Changeset::new(&dir.0);
        changes.replace(&name, 2..3, "1", "2").unwrap();
        changes.apply().unwrap();
        assert_eq!(dir.read(&name), "v 2\n");
    }

    #[test]
    fn restore_puts_back_bytes_and_mode_and_re_creates_removed_files() {
        let dir = Scratch::new();
        dir.file("a.go", "", 0o755)
            .file("same.txt", "kept\n", 0o644)
            .file("mode.sh", "#!/bin/sh\n", 0o644);
        let binary = vec![0xff, 0x00, b'\r', b'\n'];
        let mut changes = Changeset::new(&dir.0);
        changes
            .restore("a.go", b"package version\n".to_vec(), 0o644)
            .unwrap();
        changes.restore("gone.bin", binary.clone(), 0o600).unwrap();
        changes
            .restore("same.txt", b"kept\n".to_vec(), 0o644)
            .unwrap();
        changes
            .restore("mode.sh", b"#!/bin/sh\n".to_vec(), 0o755)
            .unwrap();
        assert_eq!(changes.paths(), ["a.go", "gone.bin", "mode.sh"]);
        let written = changes.apply().unwrap();
        assert_eq!(written, ["a.go", "gone.bin", "mode.sh"]);
        assert_eq!(dir.read("a.go"), "package version\n");
        assert_eq!(dir.mode("a.go"), 0o644);
        assert_eq!(fs::read(dir.0.join("gone.bin")).unwrap(), binary);
        assert_eq!(dir.mode("gone.bin"), 0o600);
        assert_eq!(dir.mode("mode.sh"), 0o755);
        assert_eq!(dir.read("same.txt"), "kept\n");
    }
}
