//! What git knows about the monorepo: changed paths, dirty files, baselines.
//! Every path here is relative to the monorepo root (which may sit inside a
//! larger repository).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::bad;
use crate::formats::{self, makefile, ruby};
use crate::rules::Baseline;
use crate::runner::Runner;
use crate::sites::{self, paths};
use crate::tree::{read_text, GitTree, Tree};

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split('\0')
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// Fails with a clear message when `root` is not inside a git work tree.
pub fn require_repository(runner: &Runner, root: &Path, why: &str) -> Result<()> {
    let answer = runner.query(root, "git", &["rev-parse", "--is-inside-work-tree"])?;
    if !answer.ok {
        return Err(bad!(
            "{why} needs a git checkout, and {} is not one",
            root.display()
        ));
    }
    Ok(())
}

/// Whether `rev` names a commit; `HEAD` does not before the first commit.
pub fn resolves(runner: &Runner, root: &Path, rev: &str) -> Result<bool> {
    let spec = format!("{rev}^{{commit}}");
    Ok(runner
        .query(root, "git", &["rev-parse", "--verify", "--quiet", &spec])?
        .ok)
}

/// Paths whose staged content differs from HEAD.
pub fn staged_changes(runner: &Runner, root: &Path) -> Result<Vec<String>> {
    let out = runner.git(
        root,
        &[
            "diff",
            "--cached",
            "--name-only",
            "--no-renames",
            "-z",
            "--relative",
            "HEAD",
        ],
    )?;
    Ok(lines_of(&out))
}

/// Paths of the working tree that differ from `rev`, untracked ones included.
pub fn changes_since(runner: &Runner, root: &Path, rev: &str) -> Result<Vec<String>> {
    let mut paths = lines_of(&runner.git(
        root,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "-z",
            "--relative",
            rev,
        ],
    )?);
    paths.extend(untracked(runner, root)?);
    paths.sort();
    paths.dedup();
    Ok(paths)
}

fn untracked(runner: &Runner, root: &Path) -> Result<Vec<String>> {
    Ok(lines_of(&runner.git(
        root,
        &["ls-files", "--others", "--exclude-standard", "-z"],
    )?))
}

/// Paths with uncommitted changes (staged, unstaged or untracked), relative
/// to the root; `None` outside a git checkout. Two git processes: the root's
/// place in its repository, and `git status` (which handles a repository
/// without commits too: every file is then new).
pub fn dirty_paths(runner: &Runner, root: &Path) -> Result<Option<Vec<String>>> {
    let answer = runner.query(root, "git", &["rev-parse", "--show-prefix"])?;
    if !answer.ok {
        return Ok(None);
    }
    let prefix = String::from_utf8_lossy(&answer.stdout).trim().to_string();
    // Entries `XY <path>`, the path from the repository's top (with -z, always).
    let out = runner.git(
        root,
        &[
            // A read: no refresh of the index file behind the user's back.
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            ".",
        ],
    )?;
    let mut paths: Vec<String> = lines_of(&out)
        .iter()
        .filter_map(|entry| entry.get(3..))
        .filter_map(|path| path.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .collect();
    paths.sort();
    paths.dedup();
    Ok(Some(paths))
}

/// Tracked files whose content differs from HEAD (staged or not); untracked
/// files (build output) are no change. Empty outside git or before a commit.
pub fn modified_tracked(runner: &Runner, root: &Path) -> Result<Vec<String>> {
    if require_repository(runner, root, "the clean-tree check").is_err()
        || !resolves(runner, root, "HEAD")?
    {
        return Ok(Vec::new());
    }
    Ok(lines_of(&runner.git(
        root,
        &["diff", "--relative", "--name-only", "-z", "HEAD", "--"],
    )?))
}

/// What a revision held of the versions the git-aware rules compare with.
pub fn baseline(runner: &Runner, root: &Path, rev: &str, changed: Vec<String>) -> Result<Baseline> {
    let tree = GitTree::new(runner, root, Some(rev));
    let mut cookbook_versions = BTreeMap::new();
    for name in tree.list(paths::COOKBOOKS_DIR)? {
        // A baseline file that cannot be read as before just has no version to compare.
        if let Ok(Some(text)) = read_text(&tree, &paths::metadata(&name)) {
            if let [found] = ruby::metadata_version(&text).as_slice() {
                cookbook_versions.insert(name, found.value.clone());
            }
        }
    }
    let package_version = match read_text(&tree, paths::MAKEFILE) {
        Ok(Some(text)) => match makefile::variable(&text, sites::MAKE_VERSION).as_slice() {
            [found] => Some(found.value.clone()),
            _ => None,
        },
        _ => None,
    };
    Ok(Baseline {
        label: rev.to_string(),
        changed,
        cookbook_versions,
        package_version,
        comment_only: Vec::new(),
    })
}

/// The changed cookbook and package files (the ones the bump rules judge)
/// whose code is the same in `now` as at `rev`: only comments differ.
pub fn comment_only_changes(
    runner: &Runner,
    root: &Path,
    rev: &str,
    now: &dyn Tree,
    changed: &[String],
) -> Result<Vec<String>> {
    let before = GitTree::new(runner, root, Some(rev));
    let judged = [
        format!("{}/", paths::COOKBOOKS_DIR),
        format!("{}/", paths::PACKAGE_DIR),
    ];
    let mut same = Vec::new();
    for path in changed {
        if !judged
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
        {
            continue;
        }
        let (Some(old), Some(new)) = (before.read(path)?, now.read(path)?) else {
            continue; // added or removed: a change
        };
        let (Ok(old), Ok(new)) = (String::from_utf8(old), String::from_utf8(new)) else {
            continue; // binary: any change counts
        };
        if formats::only_comments_differ(&old, &new) {
            same.push(path.clone());
        }
    }
    Ok(same)
}

/// The git directory's hooks folder (honours core.hooksPath and worktrees).
pub fn hooks_dir(runner: &Runner, root: &Path) -> Result<std::path::PathBuf> {
    let out = runner.git(
        root,
        &["rev-parse", "--path-format=absolute", "--git-path", "hooks"],
    )?;
    Ok(std::path::PathBuf::from(
        String::from_utf8_lossy(&out).trim(),
    ))
}

/// The root's path inside its repository (`""` at the top level).
pub fn prefix(runner: &Runner, root: &Path) -> Result<String> {
    let out = runner.git(root, &["rev-parse", "--show-prefix"])?;
    Ok(String::from_utf8_lossy(&out)
        .trim()
        .trim_end_matches('/')
        .to_string())
}
