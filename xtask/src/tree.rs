//! Where the monorepo's files are read from: the working tree, git's index
//! (what a commit would record) or a revision.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::bad;
use crate::runner::Runner;

#[cfg(test)]
pub mod memory;

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

/// Files as git has them: `rev = None` is the index, else a revision.
pub struct GitTree<'a> {
    pub runner: &'a Runner,
    pub root: PathBuf,
    pub rev: Option<String>,
}

impl GitTree<'_> {
    fn object(&self, rel: &str) -> String {
        // `./` makes the path relative to the root even inside a larger repository.
        match &self.rev {
            Some(rev) => format!("{rev}:./{rel}"),
            None => format!(":./{rel}"),
        }
    }
}

impl Tree for GitTree<'_> {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let answer =
            self.runner
                .query(&self.root, "git", &["cat-file", "blob", &self.object(rel)])?;
        Ok(answer.ok.then_some(answer.stdout))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let listing = match &self.rev {
            // --full-tree: below the repository's top, ls-tree would otherwise keep
            // only entries under the working directory's prefix, i.e. none.
            Some(rev) => self.runner.git(
                &self.root,
                &[
                    "ls-tree",
                    "--full-tree",
                    "--name-only",
                    "-z",
                    &format!("{rev}:./{prefix}"),
                ],
            ),
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
