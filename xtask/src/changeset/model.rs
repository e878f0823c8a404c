//! The planned edits of one command: what each file was when first read and
//! what becomes of it, and the tree as it will be after the write (`view`).
//! Nothing here writes; `commit` does.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::bad;
use crate::sites::Site;
use crate::tree::{self, Tree, WorkTree};

/// Every planned edit of one command, keyed by the path shown to the user
/// (relative to the root, or absolute for a file outside it).
pub struct Changeset {
    pub(super) root: PathBuf,
    pub(super) files: BTreeMap<String, Entry>,
}

/// One file: what it was when first read and what becomes of it.
pub(super) struct Entry {
    /// Where it is written; a symlink is followed so the link itself survives.
    pub(super) target: PathBuf,
    /// The bytes first read; `None` when the file did not exist.
    pub(super) original: Option<Vec<u8>>,
    pub(super) action: Action,
}

pub(super) enum Action {
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
pub(super) struct Edit {
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

    pub(super) fn changed(&self) -> impl Iterator<Item = (&String, &Entry)> {
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
    pub(super) fn updated(&self) -> Option<String> {
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
    pub(super) fn updated_bytes(&self) -> Option<Vec<u8>> {
        match &self.action {
            Action::Edit(edits) if edits.is_empty() => self.original.clone(),
            Action::Restore { content, .. } => Some(content.clone()),
            _ => self.updated().map(String::into_bytes),
        }
    }

    pub(super) fn changes(&self) -> bool {
        if let Action::Restore { mode, .. } = &self.action {
            let now = fs::metadata(&self.target).map(|meta| meta.permissions().mode() & 0o7777);
            if now.is_ok_and(|now| now != *mode) {
                return true;
            }
        }
        self.original != self.updated_bytes()
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
