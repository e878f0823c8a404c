//! Where the monorepo's files are read from: the working tree, git's index
//! (what a commit would record) or a revision.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead as _, Read as _};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use crate::runner::{nul_separated, Runner, Session, Step};
use crate::{bad, paths};

#[cfg(test)]
pub mod memory;

pub trait Tree {
    /// The file's bytes, or `None` when there is no such file.
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>>;
    /// Names directly inside a folder, sorted; empty when there is no such folder.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// What is read, for messages: "the working tree", "the index", "HEAD".
    fn label(&self) -> String;
    /// A hint that `paths` are about to be read: a tree that answers
    /// through another process asks for them all at once. Reads answer the
    /// same with or without it.
    fn prefetch(&self, _paths: &[String]) -> Result<()> {
        Ok(())
    }
}

/// A file's text; non-UTF-8 content is bad input, named by file and byte.
pub fn read_text(tree: &dyn Tree, rel: &str) -> Result<Option<String>> {
    let Some(bytes) = tree.read(rel)? else {
        return Ok(None);
    };
    String::from_utf8(bytes).map(Some).map_err(|err| {
        bad!(
            "{rel}: not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            err.utf8_error().valid_up_to()
        )
    })
}

/// The names directly inside `dir` of a list of file paths: the first
/// component of each path below it, sorted, once each (a tree that knows
/// its files, not its folders, lists them so).
pub fn children<'p>(paths: impl Iterator<Item = &'p str>, dir: &str) -> Vec<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let mut names: Vec<String> = paths
        .filter_map(|path| path.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether an I/O error just means "no such file or folder here".
fn is_absent(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// The most the xtask reads of one file of the monorepo (or of its own
/// state): the largest the real monorepo has is a few hundred KiB.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Where the file `rel` of the checkout at `root` really is, links followed;
/// `None` when there is no such file. A link (or a linked folder) that leads
/// outside the checkout is bad input naming the file: the xtask reads and
/// writes only the checkout it is asked about.
pub fn inside(root: &Path, rel: &str) -> Result<Option<PathBuf>> {
    let path = root.join(rel);
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(err) if is_absent(&err) => return Ok(None),
        Err(err) => return Err(bad!("cannot read {rel}: {err}")),
    };
    let root = root
        .canonicalize()
        .map_err(|err| bad!("cannot resolve the checkout {}: {err}", root.display()))?;
    if !real.starts_with(&root) {
        return Err(bad!(
            "{rel} leads outside the checkout, to {}: the xtask reads and writes only files inside {}; make {rel} a regular file (or a link to one inside the checkout). Nothing was written.",
            real.display(),
            root.display()
        ));
    }
    Ok(Some(real))
}

/// Where a file of the checkout is written: as `inside`, and for a file
/// that does not exist yet, in its folder as resolved (which must be inside
/// the checkout too). A rename over the returned path keeps any link.
pub fn write_target(root: &Path, rel: &str) -> Result<PathBuf> {
    if let Some(real) = inside(root, rel)? {
        return Ok(real);
    }
    let path = root.join(rel);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if meta.file_type().is_symlink() {
            return Err(bad!(
                "{rel} is a link to a file that does not exist; remove the link or make it a regular file. Nothing was written."
            ));
        }
    }
    let (Some(folder), Some(name)) = (Path::new(rel).parent(), path.file_name()) else {
        return Ok(path);
    };
    match inside(root, &folder.to_string_lossy())? {
        Some(folder) => Ok(folder.join(name)),
        None => Ok(path),
    }
}

/// A file's bytes, at most `limit` of them; `None` when there is no such
/// file. `shown` names it in errors. A FIFO, socket or device is refused
/// (reading one would wait forever or never end), so is a folder or a file
/// larger than the limit: bad input, exit 2.
pub fn read_bounded(path: &Path, shown: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if is_absent(&err) => return Ok(None),
        Err(err) => return Err(bad!("cannot read {shown}: {err}")),
    };
    refuse_special(&meta, shown, limit)?;
    let file = std::fs::File::open(path).map_err(|err| bad!("cannot read {shown}: {err}"))?;
    // It could have been swapped since: look again at what was opened.
    let meta = file
        .metadata()
        .map_err(|err| bad!("cannot read {shown}: {err}"))?;
    refuse_special(&meta, shown, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| bad!("cannot read {shown}: {err}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(shown, limit));
    }
    Ok(Some(bytes))
}

fn refuse_special(meta: &std::fs::Metadata, shown: &str, limit: u64) -> Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a folder")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(bad!(
            "{shown} is {what}, not a regular file; the xtask reads only regular files: replace it with the file it should be. Nothing was written."
        ));
    }
    if meta.len() > limit {
        return Err(too_large(shown, limit));
    }
    Ok(())
}

fn too_large(shown: &str, limit: u64) -> anyhow::Error {
    bad!(
        "{shown} is larger than {} MiB, more than any file the xtask reads can be; is it the right file? Nothing was written.",
        limit / (1024 * 1024)
    )
}

pub struct WorkTree {
    pub root: PathBuf,
}

impl Tree for WorkTree {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        // `chef/cookbooks/README.md/metadata.rb`: a file where a folder was
        // expected is no file (`inside` says None).
        let Some(real) = inside(&self.root, rel)? else {
            return Ok(None);
        };
        read_bounded(&real, rel, MAX_FILE_BYTES)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.root.join(dir)) {
            Ok(entries) => entries,
            Err(err) if is_absent(&err) => return Ok(Vec::new()),
            Err(err) => return Err(bad!("cannot list {dir}: {err}")),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {dir}"))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn label(&self) -> String {
        "the working tree".into()
    }
}

/// Files as git has them: `rev = None` is the index, else a revision. Every
/// read (and a revision's folder listings) goes through the runner's one `git
/// cat-file --batch` for the root, started on the first read and shared by
/// every GitTree of the command: one process, not one per file or per tree.
pub struct GitTree<'a> {
    runner: &'a Runner,
    root: PathBuf,
    rev: Option<String>,
    /// The index's files under the root (`git ls-files`), read once.
    index_files: OnceCell<Vec<String>>,
    /// Files read so far (`None`: git has no such file), each read once.
    files: RefCell<HashMap<String, Option<Vec<u8>>>>,
}

/// An object `git cat-file --batch` gave: its type and content.
struct Object {
    kind: String,
    /// Bytes of its id (20 for SHA-1, 32 for SHA-256): a tree names each entry's this long.
    id_len: usize,
    content: Vec<u8>,
}

impl<'a> GitTree<'a> {
    pub fn new(runner: &'a Runner, root: &Path, rev: Option<&str>) -> GitTree<'a> {
        GitTree {
            runner,
            root: root.to_path_buf(),
            rev: rev.map(str::to_string),
            index_files: OnceCell::new(),
            files: RefCell::default(),
        }
    }

    /// Whether `rev` names a commit (`HEAD` does not before the first one),
    /// asked of the same `git cat-file` as the reads.
    pub fn has_commit(&self, rev: &str) -> Result<bool> {
        Ok(self
            .object(&format!("{rev}^{{commit}}"))?
            .is_some_and(|object| object.kind == "commit"))
    }

    fn object_name(&self, rel: &str) -> String {
        // `./` makes the path relative to the root even inside a larger repository.
        match &self.rev {
            Some(rev) => format!("{rev}:./{rel}"),
            None => format!(":./{rel}"),
        }
    }

    /// Starts git's object reader now, so that it has started by the time
    /// the first read comes (the xtask works meanwhile).
    pub fn start(&self) -> Result<()> {
        self.runner.with_session(&self.cat_file(), |_| ())
    }

    fn cat_file(&self) -> Step {
        Step::new("", "git")
            .args(["cat-file", "--batch"])
            .dir(&self.root)
    }

    /// The object `name`, or `None` when git has none by that name.
    fn object(&self, name: &str) -> Result<Option<Object>> {
        if name.contains('\n') {
            // A request is one line; such a file cannot be in the rendition anyway.
            return Ok(None);
        }
        self.runner.with_session(&self.cat_file(), |session| {
            ask_objects(session, &[name.to_string()]).map(|mut one| one.pop().flatten())
        })?
    }

    /// The index's files under the root, relative to it.
    fn index_files(&self) -> Result<&[String]> {
        if self.index_files.get().is_none() {
            let out = self.runner.git(&self.root, &["ls-files", "-z"])?;
            let _ = self.index_files.set(nul_separated(&out));
        }
        Ok(self.index_files.get().map_or(&[], Vec::as_slice))
    }
}

/// Requests for every one of `names` sent at once, then the answers read in
/// order (each the object, or `None` when git has none by that name): one
/// round trip to git instead of one per object. git ends at once where there
/// is nothing to read (not a repository): then, as for `git cat-file blob`,
/// there is no such file. The requests
/// are sent in batches small enough to sit in the pipe whole, so git never
/// waits for its answers to be read while the xtask still writes.
fn ask_objects(session: &mut Session, names: &[String]) -> Result<Vec<Option<Object>>> {
    const BATCH_BYTES: usize = 16 * 1024;
    let mut answers = Vec::with_capacity(names.len());
    let mut rest = names;
    while !rest.is_empty() {
        let mut request = String::new();
        let mut count = 0;
        for name in rest {
            if count > 0 && request.len() + name.len() + 1 > BATCH_BYTES {
                break;
            }
            request.push_str(name);
            request.push('\n');
            count += 1;
        }
        let (batch, later) = rest.split_at(count);
        if session.send(request.as_bytes()).is_err() {
            answers.extend(batch.iter().map(|_| None));
        } else {
            for name in batch {
                answers.push(read_answer(session, name)?);
            }
        }
        rest = later;
    }
    Ok(answers)
}

/// The answer to the request for `name`, already sent.
fn read_answer(session: &mut Session, name: &str) -> Result<Option<Object>> {
    let lost = || anyhow!("`git cat-file --batch` stopped answering (reading {name})");
    let mut header = Vec::new();
    let answered = session.output().read_until(b'\n', &mut header).is_ok();
    if !answered || header.pop() != Some(b'\n') {
        return Ok(None);
    }
    let header = String::from_utf8_lossy(&header);
    // `<id> <type> <size>`, or `<name> missing` (or `ambiguous`, ...).
    let mut fields = header.rsplitn(3, ' ');
    let (Some(size), Some(kind), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
        return Ok(None);
    };
    let (Ok(size), true) = (
        size.parse::<usize>(),
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()),
    ) else {
        return Ok(None);
    };
    let mut content = vec![0; size + 1];
    session
        .output()
        .read_exact(&mut content)
        .map_err(|_| lost())?;
    content.pop(); // the newline after the content
    Ok(Some(Object {
        kind: kind.to_string(),
        id_len: id.len() / 2,
        content,
    }))
}

/// The names in a tree object: entries `<mode> <name>\0<id bytes>`.
fn tree_names(object: &Object) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = object.content.as_slice();
    while let Some(space) = rest.iter().position(|&b| b == b' ') {
        let after = &rest[space + 1..];
        let Some(nul) = after.iter().position(|&b| b == 0) else {
            break;
        };
        names.push(String::from_utf8_lossy(&after[..nul]).into_owned());
        rest = after.get(nul + 1 + object.id_len..).unwrap_or_default();
    }
    names
}

impl Tree for GitTree<'_> {
    fn prefetch(&self, paths: &[String]) -> Result<()> {
        let wanted: Vec<&String> = {
            let known = self.files.borrow();
            // A request is one line (see `object`).
            paths
                .iter()
                .filter(|path| !known.contains_key(*path) && !path.contains('\n'))
                .collect()
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = wanted.iter().map(|path| self.object_name(path)).collect();
        let objects = self
            .runner
            .with_session(&self.cat_file(), |session| ask_objects(session, &names))??;
        let mut files = self.files.borrow_mut();
        for (path, object) in wanted.into_iter().zip(objects) {
            let content = object
                .filter(|object| object.kind == "blob")
                .map(|object| object.content);
            files.insert(path.clone(), content);
        }
        Ok(())
    }

    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        if let Some(known) = self.files.borrow().get(rel) {
            return Ok(known.clone());
        }
        let content = self
            .object(&self.object_name(rel))?
            .filter(|object| object.kind == "blob")
            .map(|object| object.content);
        self.files
            .borrow_mut()
            .insert(rel.to_string(), content.clone());
        Ok(content)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let dir = dir.trim_end_matches('/');
        let mut names = match &self.rev {
            Some(_) => match self.object(&self.object_name(dir))? {
                Some(object) if object.kind == "tree" => tree_names(&object),
                _ => Vec::new(),
            },
            // Outside git, none.
            None => self
                .index_files()
                .map(|files| children(files.iter().map(String::as_str), dir))
                .unwrap_or_default(),
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label(&self) -> String {
        match &self.rev {
            Some(rev) => rev.clone(),
            None => "the index".into(),
        }
    }
}

/// A revision seen through a newer tree it differs from only in `changed`
/// (HEAD and the index, with the paths `git diff --cached` lists): every
/// other path is read from `now`, which has read it already, not from git again.
pub struct Unchanged<'a> {
    pub now: &'a dyn Tree,
    pub then: &'a dyn Tree,
    pub changed: &'a [String],
}

impl Tree for Unchanged<'_> {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        if self.changed.iter().any(|path| path == rel) {
            self.then.read(rel)
        } else {
            self.now.read(rel)
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        if self.changed.iter().any(|path| paths::is_under(path, dir)) {
            self.then.list(dir)
        } else {
            self.now.list(dir)
        }
    }

    fn label(&self) -> String {
        self.then.label()
    }

    fn prefetch(&self, paths: &[String]) -> Result<()> {
        let (changed, same): (Vec<String>, Vec<String>) = paths
            .iter()
            .cloned()
            .partition(|path| self.changed.contains(path));
        self.then.prefetch(&changed)?;
        self.now.prefetch(&same)
    }
}

/// A tree that notes what is read of it: the files and the folders listed.
pub struct Recorded<'a> {
    inner: &'a dyn Tree,
    reads: std::cell::RefCell<Vec<String>>,
    lists: std::cell::RefCell<Vec<String>>,
}

impl<'a> Recorded<'a> {
    pub fn new(inner: &'a dyn Tree) -> Recorded<'a> {
        Recorded {
            inner,
            reads: Default::default(),
            lists: Default::default(),
        }
    }

    /// Whether any of `changed` was read, or lies anywhere under a folder
    /// that was listed: if not, a tree that differs from this one only in
    /// `changed` reads the same for whatever read this one.
    pub fn saw_any(&self, changed: &[String]) -> bool {
        let reads = self.reads.borrow();
        let lists = self.lists.borrow();
        changed
            .iter()
            .any(|path| reads.contains(path) || lists.iter().any(|dir| paths::is_under(path, dir)))
    }
}

impl Tree for Recorded<'_> {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        self.reads.borrow_mut().push(rel.to_string());
        self.inner.read(rel)
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.lists.borrow_mut().push(dir.to_string());
        self.inner.list(dir)
    }

    fn label(&self) -> String {
        self.inner.label()
    }

    // Not a read: only what is read decides what was seen.
    fn prefetch(&self, paths: &[String]) -> Result<()> {
        self.inner.prefetch(paths)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the test arranges a repository of its own
mod tests {
    use super::*;

    /// What `Recorded` says was not seen makes no difference to the
    /// inventory: each file of each rendition it did not see is removed in
    /// turn and the sites load the same; each file it saw is reported as seen.
    #[test]
    fn a_change_the_inventory_did_not_see_leaves_it_as_it_was() {
        use memory::{MemTree, Rendition};
        for which in [Rendition::A, Rendition::B, Rendition::Realistic] {
            let tree = MemTree::rendition(which);
            let recorded = Recorded::new(&tree);
            let inventory = format!("{:?}", crate::sites::load(&recorded).unwrap());
            let mut unseen = 0;
            for path in tree.paths() {
                let changed = [path.clone()];
                if recorded.saw_any(&changed) {
                    continue;
                }
                unseen += 1;
                let mut without = tree.clone();
                without.remove(&path);
                let after = format!("{:?}", crate::sites::load(&without).unwrap());
                assert_eq!(
                    after, inventory,
                    "{which:?}: removing {path} changed the sites"
                );
            }
            assert!(unseen > 0, "{which:?}: every file was seen");
            assert!(recorded.saw_any(&[crate::paths::MAKEFILE.to_string()]));
            // A new cookbook is seen: its folder was listed.
            assert!(recorded.saw_any(&["chef/cookbooks/new_one/metadata.rb".to_string()]));
            assert!(!recorded.saw_any(&["notes.txt".to_string()]));
        }
    }

    /// Runs `script` with sh in `dir`; it must succeed.
    fn sh(runner: &Runner, dir: &Path, script: &str) {
        let outcome = runner
            .capture(&Step::new("", "sh").args(["-c", script]).dir(dir))
            .unwrap();
        assert!(outcome.ok, "{script}: {}", outcome.output);
    }

    /// A new temporary folder and a runner for it, where `script` has run.
    fn repository(label: &str, script: &str) -> (PathBuf, Runner) {
        let dir = std::env::temp_dir().join(format!("xtask-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runner = Runner::for_root(&dir).unwrap();
        sh(&runner, &dir, script);
        (dir, runner)
    }

    /// Every GitTree of a runner shares one `cat-file`, and git reads the
    /// index once per `cat-file`: after a `git add`, ending the sessions
    /// makes the next read see the new index.
    #[test]
    fn after_end_sessions_the_index_is_read_again() {
        let (dir, runner) = repository("gittree", "git init -q && printf one > f && git add f");
        let read = || GitTree::new(&runner, &dir, None).read("f").unwrap();
        assert_eq!(read().as_deref(), Some(&b"one"[..]));
        sh(&runner, &dir, "printf two > f && git add f");
        // (git 2.47 still answers `one` here: the reader keeps the index it read.)
        runner.end_sessions();
        assert_eq!(read().as_deref(), Some(&b"two"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Prefetched reads answer as single reads do: files, missing files and
    /// folders, over several batches, in a revision and in the index.
    #[test]
    fn prefetched_reads_answer_as_single_reads() {
        let (dir, runner) = repository(
            "prefetch",
            "git init -q && mkdir sub && printf one > f && printf '' > empty \
             && printf 'two\\nlines' > sub/g && git add . \
             && git -c user.name=t -c user.email=t@t commit -qm c && printf three > f && git add f",
        );
        // Enough names for several batches of requests.
        let mut paths: Vec<String> = (0..3000).map(|i| format!("missing/file-{i:05}")).collect();
        paths.splice(
            1500..1500,
            ["f", "empty", "sub/g", "sub", "nope"].map(String::from),
        );
        for rev in [None, Some("HEAD")] {
            let single = GitTree::new(&runner, &dir, rev);
            let fetched = GitTree::new(&runner, &dir, rev);
            fetched.prefetch(&paths).unwrap();
            for path in &paths {
                assert_eq!(
                    fetched.read(path).unwrap(),
                    single.read(path).unwrap(),
                    "{rev:?} {path}"
                );
            }
            let f = if rev.is_none() {
                &b"three"[..]
            } else {
                &b"one"[..]
            };
            assert_eq!(fetched.read("f").unwrap().as_deref(), Some(f));
            assert_eq!(
                fetched.read("sub/g").unwrap().as_deref(),
                Some(&b"two\nlines"[..])
            );
            assert_eq!(fetched.read("empty").unwrap().as_deref(), Some(&b""[..]));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
