//! Where the monorepo's files are read from: the working tree, git's index
//! (what a commit would record) or a revision.

use std::cell::RefCell;
use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use crate::bad;
use crate::runner::{Runner, Session, Step};

pub trait Tree {
    /// The file's bytes, or `None` when there is no such file.
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>>;
    /// Names directly inside a folder, sorted; empty when there is no such folder.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// What is read, for messages: "the working tree", "the index", "HEAD".
    fn label(&self) -> String;
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

/// Whether an I/O error just means "no such file or folder here".
fn is_absent(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

pub struct WorkTree {
    pub root: PathBuf,
}

impl Tree for WorkTree {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            // `chef/cookbooks/README.md/metadata.rb`: a file where a folder was expected is no file.
            Err(err) if is_absent(&err) => Ok(None),
            Err(err) => Err(bad!("cannot read {rel}: {err}")),
        }
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
/// read (and a revision's folder listings) goes through one `git cat-file
/// --batch`, started on the first read: one process, not one per file.
pub struct GitTree<'a> {
    runner: &'a Runner,
    root: PathBuf,
    rev: Option<String>,
    objects: RefCell<Option<Session>>,
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
            objects: RefCell::new(None),
        }
    }

    fn object_name(&self, rel: &str) -> String {
        // `./` makes the path relative to the root even inside a larger repository.
        match &self.rev {
            Some(rev) => format!("{rev}:./{rel}"),
            None => format!(":./{rel}"),
        }
    }

    /// The object `name`, or `None` when git has none by that name.
    fn object(&self, name: &str) -> Result<Option<Object>> {
        if name.contains('\n') {
            // A request is one line; such a file cannot be in the rendition anyway.
            return Ok(None);
        }
        let mut slot = self.objects.borrow_mut();
        let session = match &mut *slot {
            Some(session) => session,
            empty => empty.insert(
                self.runner.session(
                    &Step::new("", "git")
                        .args(["cat-file", "--batch"])
                        .dir(&self.root),
                )?,
            ),
        };
        let lost = || anyhow!("`git cat-file --batch` stopped answering (reading {name})");
        // git ends at once where there is nothing to read (not a repository):
        // then, as for `git cat-file blob`, there is no such file.
        let mut header = Vec::new();
        let asked = session.send(format!("{name}\n").as_bytes()).is_ok()
            && session.output().read_until(b'\n', &mut header).is_ok();
        if !asked || header.pop() != Some(b'\n') {
            return Ok(None);
        }
        let header = String::from_utf8_lossy(&header);
        // `<id> <type> <size>`, or `<name> missing` (or `ambiguous`, ...).
        let mut fields = header.rsplitn(3, ' ');
        let (Some(size), Some(kind), Some(id)) = (fields.next(), fields.next(), fields.next())
        else {
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
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .object(&self.object_name(rel))?
            .filter(|object| object.kind == "blob")
            .map(|object| object.content))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let listing = match &self.rev {
            Some(_) => {
                let mut names = match self.object(&self.object_name(dir.trim_end_matches('/')))? {
                    Some(object) if object.kind == "tree" => tree_names(&object),
                    _ => Vec::new(),
                };
                names.sort();
                return Ok(names);
            }
            None => self
                .runner
                .git(&self.root, &["ls-files", "-z", "--", &prefix])
                .map(|out| {
                    // ls-files lists files below: keep the first component under `dir`.
                    let text = String::from_utf8_lossy(&out).into_owned();
                    text.split('\0')
                        .filter_map(|path| path.strip_prefix(&prefix))
                        .filter_map(|rest| rest.split('/').next())
                        .collect::<Vec<_>>()
                        .join("\0")
                        .into_bytes()
                }),
        };
        let Ok(listing) = listing else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = String::from_utf8_lossy(&listing)
            .split('\0')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
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
