//! What git knows about the monorepo: changed paths, dirty files, baselines.
//! Every path here is relative to the monorepo root (which may sit inside a
//! larger repository).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::bad;
use crate::formats::{self, makefile, ruby};
use crate::rules::Baseline;
use crate::runner::{nul_separated, Pending, Runner};
use crate::sites::{self, paths};
use crate::tree::{read_text, Tree};

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

/// Paths whose staged content differs from HEAD (before the first commit:
/// every staged path), asked now and read with [`StagedChanges::paths`]:
/// `check --staged` reads the index meanwhile.
pub struct StagedChanges(Pending);

impl StagedChanges {
    pub fn start(runner: &Runner, root: &Path) -> Result<StagedChanges> {
        Ok(StagedChanges(runner.query_later(
            root,
            "git",
            &[
                "diff",
                "--cached",
                "--name-only",
                "--no-renames",
                "-z",
                "--relative",
            ],
        )?))
    }

    /// The paths, relative to the root; fails outside a repository.
    pub fn paths(self) -> Result<Vec<String>> {
        Ok(nul_separated(&self.0.stdout()?))
    }
}

/// Paths of the working tree that differ from `rev`, untracked ones included.
pub fn changes_since(runner: &Runner, root: &Path, rev: &str) -> Result<Vec<String>> {
    let mut paths = nul_separated(&runner.git(
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
    Ok(nul_separated(&runner.git(
        root,
        &["ls-files", "--others", "--exclude-standard", "-z"],
    )?))
}

/// Paths with uncommitted changes (staged, unstaged or untracked), relative
/// to the root; `None` outside a git checkout. One git process, `git status`
/// (which handles a repository without commits too: every file is then new).
pub fn dirty_paths(runner: &Runner, root: &Path) -> Result<Option<Vec<String>>> {
    DirtyPaths::start(runner, root)?.paths()
}

/// `git status` started at once and read when its answer is needed:
/// `bump-base-image` plans its edits meanwhile.
pub struct DirtyPaths {
    /// The root's path in its repository, and the running `git status`.
    status: Option<(String, Pending)>,
    /// The paths (files or folders, relative to the root) it looks at;
    /// empty: the whole root.
    under: Vec<String>,
}

impl DirtyPaths {
    /// Every dirty path under the root.
    pub fn start(runner: &Runner, root: &Path) -> Result<DirtyPaths> {
        DirtyPaths::start_under(runner, root, &[])
    }

    /// Only the dirty paths at or under `under` (relative to the root; none:
    /// the whole root): git then walks only those folders for untracked
    /// files, which on a whole monorepo is most of its time.
    pub fn start_under(runner: &Runner, root: &Path, under: &[&str]) -> Result<DirtyPaths> {
        let under: Vec<String> = under.iter().map(|path| path.to_string()).collect();
        let Some(prefix) = place_in_repository(runner, root)? else {
            return Ok(DirtyPaths {
                status: None,
                under,
            });
        };
        // Entries `XY <path>`, the path from the repository's top (with -z, always).
        let mut args = vec![
            // A read: no refresh of the index file behind the user's back.
            "--no-optional-locks",
            // The paths are names, not patterns.
            "--literal-pathspecs",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
        ];
        if under.is_empty() {
            args.push(".");
        } else {
            args.extend(under.iter().map(String::as_str));
        }
        let status = runner.query_later(root, "git", &args)?;
        Ok(DirtyPaths {
            status: Some((prefix, status)),
            under,
        })
    }

    /// The dirty paths, relative to the root; `None` outside a git checkout.
    pub fn paths(self) -> Result<Option<Vec<String>>> {
        Ok(self.read()?.map(|dirty| dirty.paths))
    }

    /// What `git status` found; `None` outside a git checkout.
    pub fn read(self) -> Result<Option<Dirty>> {
        let Some((prefix, status)) = self.status else {
            return Ok(None);
        };
        let mut paths: Vec<String> = nul_separated(&status.stdout()?)
            .iter()
            .filter_map(|entry| entry.get(3..))
            .filter_map(|path| path.strip_prefix(prefix.as_str()))
            .map(str::to_string)
            .collect();
        paths.sort();
        paths.dedup();
        Ok(Some(Dirty {
            paths,
            under: self.under,
        }))
    }
}

/// The paths with uncommitted changes (staged, unstaged or untracked) among
/// those `git status` looked at, relative to the root, sorted.
#[derive(Debug)]
pub struct Dirty {
    pub paths: Vec<String>,
    under: Vec<String>,
}

impl Dirty {
    /// Whether `path` (relative to the root) is among the paths looked at.
    pub fn covers(&self, path: &str) -> bool {
        self.under.is_empty()
            || self
                .under
                .iter()
                .any(|under| path == under || paths::is_under(path, under))
    }

    /// Whether `path` is known to be as HEAD has it: looked at and not dirty.
    pub fn as_at_head(&self, path: &str) -> bool {
        self.covers(path)
            && self
                .paths
                .binary_search_by(|p| p.as_str().cmp(path))
                .is_err()
    }
}

/// Tracked files whose content differs from HEAD (staged or not); untracked
/// files (build output) are no change. Empty outside git or before a commit.
pub fn modified_tracked(runner: &Runner, root: &Path) -> Result<Vec<String>> {
    if require_repository(runner, root, "the clean-tree check").is_err()
        || !resolves(runner, root, "HEAD")?
    {
        return Ok(Vec::new());
    }
    Ok(nul_separated(&runner.git(
        root,
        &["diff", "--relative", "--name-only", "-z", "HEAD", "--"],
    )?))
}

/// What a revision (`tree`) held of the versions the git-aware rules compare with.
pub fn baseline(tree: &dyn Tree, changed: Vec<String>) -> Result<Baseline> {
    let mut cookbook_versions = BTreeMap::new();
    for name in tree.list(paths::COOKBOOKS_DIR)? {
        // A baseline file that cannot be read as before just has no version to compare.
        if let Ok(Some(text)) = read_text(tree, &paths::metadata(&name)) {
            if let [found] = ruby::metadata_version(&text).as_slice() {
                cookbook_versions.insert(name, found.value.clone());
            }
        }
    }
    let package_version = match read_text(tree, paths::MAKEFILE) {
        Ok(Some(text)) => match makefile::variable(&text, sites::MAKE_VERSION).as_slice() {
            [found] => Some(found.value.clone()),
            _ => None,
        },
        _ => None,
    };
    Ok(Baseline {
        label: tree.label(),
        changed,
        cookbook_versions,
        package_version,
        comment_only: Vec::new(),
    })
}

/// The changed cookbook and package files (the ones the bump rules judge)
/// whose code is the same in `now` as in `before`: only comments differ.
pub fn comment_only_changes(
    before: &dyn Tree,
    now: &dyn Tree,
    changed: &[String],
) -> Result<Vec<String>> {
    let judged = [paths::COOKBOOKS_DIR, paths::PACKAGE_DIR];
    let mut same = Vec::new();
    for path in changed {
        if !judged.iter().any(|dir| paths::is_under(path, dir)) {
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
    match place_in_repository(runner, root)? {
        Some(prefix) => Ok(prefix.trim_end_matches('/').to_string()),
        None => Err(bad!("{} is not inside a git checkout", root.display())),
    }
}

/// The root's path inside its repository as `git rev-parse --show-prefix`
/// gives it (`edge-cloud-infra/`, or `""` at the top); `None` outside one.
/// Found as git finds it, by the nearest folder at or above the root that
/// holds a `.git` (a folder, or a file for a worktree or submodule), with no
/// process to start (`bump-base-image --dry-run` is meant to take
/// milliseconds). git is asked where its answer could differ: GIT_DIR,
/// GIT_WORK_TREE or GIT_CEILING_DIRECTORIES set, or no `.git` above the root.
fn place_in_repository(runner: &Runner, root: &Path) -> Result<Option<String>> {
    let told = ["GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES"]
        .iter()
        .any(|var| std::env::var_os(var).is_some());
    let top = root
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        // git looks further up past a `.git` it cannot use, and stops at
        // another file system: in those cases, ask it.
        .filter(|top| crate::git_dir::of(top).is_some() && same_file_system(root, top));
    if let (false, Some(top), true) = (told, top, root.is_absolute()) {
        if let Ok(inside) = root.strip_prefix(top) {
            let mut prefix = String::new();
            for part in inside.components() {
                prefix.push_str(&part.as_os_str().to_string_lossy());
                prefix.push('/');
            }
            return Ok(Some(prefix));
        }
    }
    let answer = runner.query(root, "git", &["rev-parse", "--show-prefix"])?;
    Ok(answer
        .ok
        .then(|| String::from_utf8_lossy(&answer.stdout).trim().to_string()))
}

fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_paths_cover_what_they_look_at() {
        let dirty = |under: &[&str]| Dirty {
            paths: vec!["chef/policyfiles/base.rb".to_string()],
            under: under.iter().map(|p| p.to_string()).collect(),
        };
        let whole = dirty(&[]);
        assert!(whole.covers("chef/policyfiles/base.rb"));
        assert!(!whole.as_at_head("chef/policyfiles/base.rb"));
        assert!(whole.as_at_head("vmlayer/props.go"));
        let some = dirty(&["chef", "vmlayer/props.go"]);
        assert!(some.covers("chef/policyfiles/base.rb"));
        assert!(some.covers("chef"));
        assert!(some.covers("vmlayer/props.go"));
        assert!(!some.covers("chef-old/metadata.rb"));
        assert!(!some.covers("vmlayer/props.go.orig"));
        assert!(!some.covers("version/package-version.go"));
        assert!(some.as_at_head("chef/cookbooks/setup_infra/metadata.rb"));
        assert!(!some.as_at_head("chef/policyfiles/base.rb"));
        // Not looked at: unknown, so not known to be as at HEAD.
        assert!(!some.as_at_head("version/package-version.go"));
    }
}
