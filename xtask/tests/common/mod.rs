//! Shared by the end-to-end tests: monorepo trees copied from the repository's
//! own rendition (layout A) or with a fixture overlay, the built binary, git,
//! and byte-for-byte snapshots of a whole tree.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod apt;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The parts of the monorepo the xtask reads, as the repository renders them.
pub const RENDITION: [&str; 4] = ["openstack-tenant", "chef", "vmlayer", "version"];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
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
        let dir =
            std::env::temp_dir().join(format!("xtask-test-{}-{label}-{n}", std::process::id()));
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
        if name_str == "target" || name_str.ends_with(".deb") || name_str.starts_with("mobiledgex_")
        {
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
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.root())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every file's bytes and mode, for byte-for-byte comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(self.root()).sort_by_file_name() {
            let entry = entry.unwrap();
            let rel = entry
                .path()
                .strip_prefix(self.root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
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
        assert_eq!(
            self.code, code,
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn xtask_in(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C")
        .arg(root)
        .arg("--color")
        .arg("never")
        .args(args);
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
            let bytes = bytes
                .as_ref()
                .unwrap_or_else(|| panic!("{path} was removed; store removals by hand"));
            let to = dir.join(path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(to, bytes).unwrap();
        }
        return;
    }
    let mut want = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let entry =
            entry.unwrap_or_else(|e| panic!("{}: {e} (XTASK_BLESS=1 writes it)", dir.display()));
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            want.insert(rel, fs::read(entry.path()).unwrap());
        }
    }
    let changed_paths: Vec<&String> = changed.keys().collect();
    let want_paths: Vec<&String> = want.keys().collect();
    assert_eq!(
        changed_paths,
        want_paths,
        "the files that changed, against {}",
        dir.display()
    );
    for (path, bytes) in &want {
        let got = changed[path]
            .as_ref()
            .unwrap_or_else(|| panic!("{path} was removed"));
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
    let want = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (XTASK_BLESS=1 writes it)", path.display()));
    if actual != want {
        let diff = similar::TextDiff::from_lines(want.as_str(), actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!("output differs from {}:\n{diff}", path.display());
    }
}

/// The fake secrets the fake tools hand out (fake vault) and the tests put in
/// place (Artifactory API key); none may show in an argument, output or log.
pub const FAKE_SECRETS: [&str; 4] = [
    "s3cr3t-root-pw-4242",
    "S3CR3TGRUBHASH4242",
    "S3CR3TTOTPKEY4242",
    "ak-s3cr3t-artifactory-7777",
];

/// The fake tools of `fixtures/bin` first on PATH, their argument log and
/// server state in a temp folder, OpenStack credentials and an Artifactory
/// API key in place (in `$HOME/.mobiledgex/artifactory.apikey`).
pub struct Fakes {
    pub dir: TempDir,
    env: Vec<(String, String)>,
}

impl Fakes {
    pub fn new() -> Fakes {
        let dir = TempDir::new("fakes");
        let home = dir.path().join("home");
        fs::create_dir_all(home.join(".mobiledgex")).unwrap();
        fs::write(
            home.join(".mobiledgex/artifactory.apikey"),
            format!("{}\n", FAKE_SECRETS[3]),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            fake_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = vec![
            ("PATH".to_string(), path),
            (
                "XTASK_FAKE_LOG".into(),
                dir.path().join("calls.log").display().to_string(),
            ),
            (
                "XTASK_FAKE_STATE".into(),
                dir.path().join("state").display().to_string(),
            ),
            ("HOME".into(), home.display().to_string()),
            ("USER".into(), "tester".into()),
            ("OS_AUTH_URL".into(), "http://127.0.0.1:5000/v3".into()),
            ("OS_USERNAME".into(), "tester".into()),
            ("OS_CLOUD".into(), String::new()),
            ("ARTIFACTORY_APIKEY".into(), String::new()),
            ("XTASK_FAKE_FAIL".into(), String::new()),
            ("XTASK_FAKE_PACKER_BUILD_LOG".into(), String::new()),
            ("XTASK_FAKE_CHEF_LOCK".into(), String::new()),
        ];
        Fakes { dir, env }
    }

    /// Sets (or overrides) a variable for the runs; an empty value counts as unset.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Fakes {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The variables the runs get, for a process a test starts itself.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Puts cookbook versions on the fake chef server, as if uploaded before.
    pub fn seed_cookbooks(&self, cookbooks: &[(&str, &str)]) {
        for (name, version) in cookbooks {
            let dir = self.state().join("cookbooks").join(name);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(version), format!("seeded {name} {version}\n")).unwrap();
        }
    }

    /// What the repository's policies pin, on the server.
    pub fn seed_rendition_cookbooks(&self) {
        self.seed_cookbooks(&[
            ("chef_client_updater", "3.11.0"),
            ("setup_infra", "1.0.2"),
            ("setup_infra", "1.0.3"),
            ("run_diagnostics", "1.0.2"),
            ("upgrade_mobiledgex_package", "1.0.13"),
            ("upgrade_mobiledgex_package", "1.0.14"),
        ]);
    }

    /// Every fake invocation so far, one `<tool> <args…>` a line.
    pub fn calls(&self) -> Vec<String> {
        match fs::read_to_string(self.dir.path().join("calls.log")) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn run(&self, tree: &Tree, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        tree.xtask_env(args, &env)
    }

    /// No fake secret in the fake tools' arguments, the run's output, or any
    /// log the xtask wrote under `target/xtask/logs`.
    pub fn assert_no_secrets(&self, tree: &Tree, run: &Run) {
        let mut places = vec![
            (
                "the fake tools' arguments".to_string(),
                self.calls().join("\n"),
            ),
            ("standard output".to_string(), run.stdout.clone()),
            ("standard error".to_string(), run.stderr.clone()),
        ];
        let logs = tree.path("target/xtask/logs");
        if logs.is_dir() {
            for entry in walkdir::WalkDir::new(&logs) {
                let entry = entry.unwrap();
                if entry.file_type().is_file() {
                    let text =
                        String::from_utf8_lossy(&fs::read(entry.path()).unwrap()).into_owned();
                    places.push((entry.path().display().to_string(), text));
                }
            }
        }
        for (place, text) in &places {
            for secret in FAKE_SECRETS {
                assert!(
                    !text.contains(secret),
                    "the secret {secret} shows in {place}:\n{text}"
                );
            }
        }
    }
}

/// The snapshot without the xtask's own logs and state under `target/`.
pub fn monorepo_files(tree: &Tree) -> Snapshot {
    tree.snapshot()
        .into_iter()
        .filter(|(path, _)| !path.starts_with("target/"))
        .collect()
}
