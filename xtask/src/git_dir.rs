//! Where a folder's `.git` leads, read as git reads it, without starting git
//! (a leaf module: the writer lock and the git queries both need it).

use std::path::{Path, PathBuf};

/// The git dir that `dir/.git` names, if git would use it: the folder
/// itself when it has `HEAD` and `objects`, or for a file `gitdir: <path>`
/// (a linked worktree, a submodule) the folder it names, when that has a `HEAD`.
pub fn of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        let usable = dot_git.join("HEAD").is_file() && dot_git.join("objects").is_dir();
        return usable.then_some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = dir.join(text.lines().next()?.strip_prefix("gitdir:")?.trim());
    target.join("HEAD").is_file().then_some(target)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the test arranges folders of its own
mod tests {
    use super::*;

    #[test]
    fn only_what_git_would_use() {
        let dir = std::env::temp_dir().join(format!("xtask-git-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (repo, linked, broken, empty) = (
            dir.join("repo"),
            dir.join("linked"),
            dir.join("broken"),
            dir.join("empty"),
        );
        for folder in [
            &repo.join(".git/objects"),
            &linked,
            &broken,
            &empty.join(".git"),
        ] {
            std::fs::create_dir_all(folder).unwrap();
        }
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(linked.join(".git"), "gitdir: ../repo/.git\n").unwrap();
        std::fs::write(broken.join(".git"), "gitdir: /nonexistent/gone\n").unwrap();
        assert_eq!(of(&repo), Some(repo.join(".git")));
        assert_eq!(of(&linked), Some(linked.join("../repo/.git")));
        assert_eq!(of(&broken), None);
        assert_eq!(of(&empty), None, "a .git folder without HEAD");
        assert_eq!(of(&dir), None, "no .git at all");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
