//! Shared by the end-to-end tests: monorepo trees copied from the repository's
//! own rendition (layout A) or with a fixture overlay, the built binary, git,
//! and byte-for-byte snapshots of a whole tree.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The parts of the monorepo the xtask reads, as the repository renders them.
pub const RENDITION: [&str; 4] = ["openstack-tenant", "chef", "vmlayer", "version"];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The folder of fake tools (knife, chef, openstack, vault, packer's cloud build).
pub fn fake_bin() -> PathBuf {
    fixtures().join("bin")
}

/// A temporary folder, unique per test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("xtask-test-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Copies a folder recursively, keeping file modes; skips build output.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "target" || name_str.ends_with(".deb") || name_str.starts_with("mobiledgex_") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The repository's own rendition (chef layout A).
    A,
    /// The rendition with `tests/fixtures/layout-b/chef` in place of chef/.
    B,
    /// The rendition with `tests/fixtures/realistic` laid over it: the real monorepo's variety.
    Realistic,
}

/// A monorepo tree in a temp folder.
pub struct Tree {
    pub dir: TempDir,
}

impl Tree {
    pub fn new(layout: Layout) -> Tree {
        let dir = TempDir::new(&format!("{layout:?}").to_lowercase());
        for part in RENDITION {
            copy_dir(&workspace().join(part), &dir.path().join(part));
        }
        match layout {
            Layout::A => {}
            Layout::B => {
                fs::remove_dir_all(dir.path().join("chef")).unwrap();
                copy_dir(&fixtures().join("layout-b/chef"), &dir.path().join("chef"));
            }
            Layout::Realistic => copy_dir(&fixtures().join("realistic"), dir.path()),
        }
        // The overlays' README is about the fixtures, not part of the tree.
        let _ = fs::remove_file(dir.path().join("README.md"));
        Tree { dir }
    }

    /// The same tree committed to a fresh git repository.
    pub fn with_git(layout: Layout) -> Tree {
        let tree = Tree::new(layout);
        tree.git(&["init", "-q", "-b", "main"]);
        tree.git(&["add", "-A"]);
        tree.git(&["commit", "-q", "-m", "fixture"]);
        tree
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap();
    }

    /// Replaces `from` (which must occur exactly once) by `to` in a file.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {rel}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn git(&self, args: &[&str]) -> Output {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.root())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Every file's bytes and mode, for byte-for-byte comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(self.root()).sort_by_file_name() {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(self.root()).unwrap().to_string_lossy().into_owned();
            if rel.starts_with(".git/") || rel == ".git" || !entry.file_type().is_file() {
                continue;
            }
            let mode = entry.metadata().unwrap().permissions().mode();
            files.insert(rel, (fs::read(entry.path()).unwrap(), mode));
        }
        files
    }

    /// Runs the xtask on this tree with colour off and no terminal on stdin.
    pub fn xtask(&self, args: &[&str]) -> Run {
        xtask_in(self.root(), args, &[])
    }

    pub fn xtask_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        xtask_in(self.root(), args, env)
    }
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit status\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn xtask_in(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C").arg(root).arg("--color").arg("never").args(args);
    cmd.stdin(Stdio::null()).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tree's files as `Tree::snapshot` returns them.
pub type Snapshot = BTreeMap<String, (Vec<u8>, u32)>;

/// Where expected results are stored: `tests/fixtures/expected/<name>`.
pub fn expected(name: &str) -> PathBuf {
    fixtures().join("expected").join(name)
}

/// `XTASK_BLESS=1` rewrites the expected fixtures from what the command did,
/// instead of comparing; review `git diff` of the fixtures before committing.
pub fn blessing() -> bool {
    std::env::var_os("XTASK_BLESS").is_some_and(|v| v == "1")
}

/// The files that differ between two snapshots of one tree (bytes or mode),
/// with their new bytes; `None` for a file that is gone. The xtask's own
/// logs and state under `target/` are not part of the monorepo.
pub fn changes(before: &Snapshot, after: &Snapshot) -> BTreeMap<String, Option<Vec<u8>>> {
    let in_monorepo = |path: &String| !path.starts_with("target/");
    let mut changed = BTreeMap::new();
    for (path, old) in before.iter().filter(|(path, _)| in_monorepo(path)) {
        match after.get(path) {
            Some(new) if new == old => {}
            Some(new) => {
                changed.insert(path.clone(), Some(new.0.clone()));
            }
            None => {
                changed.insert(path.clone(), None);
            }
        }
    }
    for (path, new) in after.iter().filter(|(path, _)| in_monorepo(path)) {
        if !before.contains_key(path) {
            changed.insert(path.clone(), Some(new.0.clone()));
        }
    }
    changed
}

/// Asserts that exactly the files stored under `expected/<name>/` changed,
/// each to exactly those bytes, and that every mode stayed as it was.
pub fn assert_changes_match(before: &Snapshot, after: &Snapshot, name: &str) {
    let changed = changes(before, after);
    let dir = expected(name);
    if blessing() {
        let _ = fs::remove_dir_all(&dir);
        for (path, bytes) in &changed {
            let bytes = bytes.as_ref().unwrap_or_else(|| panic!("{path} was removed; store removals by hand"));
            let to = dir.join(path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(to, bytes).unwrap();
        }
        return;
    }
    let mut want = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e} (XTASK_BLESS=1 writes it)", dir.display()));
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            want.insert(rel, fs::read(entry.path()).unwrap());
        }
    }
    let changed_paths: Vec<&String> = changed.keys().collect();
    let want_paths: Vec<&String> = want.keys().collect();
    assert_eq!(changed_paths, want_paths, "the files that changed, against {}", dir.display());
    for (path, bytes) in &want {
        let got = changed[path].as_ref().unwrap_or_else(|| panic!("{path} was removed"));
        assert!(
            got == bytes,
            "{path} differs from {}:\n--- expected\n{}\n--- got\n{}",
            dir.join(path).display(),
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(got)
        );
    }
    for (path, (_, mode)) in after {
        if let Some((_, old)) = before.get(path) {
            assert_eq!(mode, old, "{path}: the file mode changed");
        }
    }
}

/// Compares a command's output with `expected/<name>` (or writes it when blessing).
pub fn assert_text_matches(actual: &str, name: &str) {
    let path = expected(name);
    if blessing() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let want = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (XTASK_BLESS=1 writes it)", path.display()));
    if actual != want {
        let diff = similar::TextDiff::from_lines(want.as_str(), actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!("output differs from {}:\n{diff}", path.display());
    }
}
