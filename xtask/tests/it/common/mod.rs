//! Shared by the end-to-end tests: monorepo trees copied from the repository's
//! own rendition (layout A) or with a fixture overlay, the built binary, git,
//! and byte-for-byte snapshots of a whole tree.
#![allow(dead_code)] // the benchmarks include it too, and use only parts

pub mod apt;

// What the unit tests also use: CI-aware skips and the machine's apt indexes.
#[allow(unused_imports)] // the benchmarks use none of them
pub use xtask::test_support::{apt_package_indexes, read_apt_index, skip_or_fail};
pub mod artifactory;
pub mod http;

use std::collections::BTreeMap;
use std::ffi::OsString;
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
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            copy_dir(&src, &dst);
        } else if meta.permissions().mode() & 0o111 != 0 {
            // Scripts the tests run (make runs ./version.sh).
            copy_executable(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The repository's own rendition (chef layout A).
    A,
    /// The rendition with the chef files of `tests/fixtures/layout-b` laid over it.
    B,
    /// The rendition with `tests/fixtures/realistic` laid over it: the real monorepo's variety.
    Realistic,
}

/// Whether strace is here and may trace processes and their children
/// (ptrace can be forbidden); if not, says so (a failure under CI).
pub fn strace_works() -> bool {
    let works = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        skip_or_fail("strace is not installed or cannot trace here (apt-get install strace; is ptrace allowed?)");
    }
    works
}

/// A monorepo tree in a temp folder.
pub struct Tree {
    pub dir: TempDir,
}

/// Where the real monorepo's files are: `../shared/edge-cloud-infra-head`
/// beside the workspace (absent in a user's clone).
pub fn real_monorepo() -> PathBuf {
    workspace()
        .parent()
        .unwrap()
        .join("shared/edge-cloud-infra-head")
}

impl Tree {
    /// A writable copy of the real monorepo's last commit, committed to a
    /// fresh git repository; `None` (with a notice) where `../shared` is
    /// absent, a failure under CI.
    pub fn real() -> Option<Tree> {
        let source = real_monorepo();
        if !source.join("openstack-tenant").is_dir() {
            skip_or_fail(&format!(
                "the real monorepo's files are not at {}",
                source.display()
            ));
            return None;
        }
        let dir = TempDir::new("real");
        copy_dir(&source, dir.path());
        // Data, not part of the monorepo: the README says where the files come from.
        let _ = fs::remove_file(dir.path().join("README.md"));
        make_writable(dir.path());
        let tree = Tree { dir };
        tree.init_git();
        Some(tree)
    }

    pub fn new(layout: Layout) -> Tree {
        let dir = TempDir::new(&format!("{layout:?}").to_lowercase());
        for part in RENDITION {
            copy_dir(&workspace().join(part), &dir.path().join(part));
        }
        match layout {
            Layout::A => {}
            Layout::B => copy_dir(&fixtures().join("layout-b"), dir.path()),
            Layout::Realistic => copy_dir(&fixtures().join("realistic"), dir.path()),
        }
        // The overlays' README is about the fixtures, not part of the tree.
        let _ = fs::remove_file(dir.path().join("README.md"));
        Tree { dir }
    }

    /// The same tree committed to a fresh git repository.
    pub fn with_git(layout: Layout) -> Tree {
        let tree = Tree::new(layout);
        tree.init_git();
        tree
    }

    /// A tree of `layout` in the folder `edge-cloud-infra` of a larger git
    /// repository (with a README of its own), committed: the repository's
    /// top as a Tree, and the monorepo root inside it.
    pub fn inside_a_larger_repository(layout: Layout) -> (Tree, PathBuf) {
        let inner = Tree::new(layout);
        let top = Tree {
            dir: TempDir::new("outer-repository"),
        };
        let root = top.path("edge-cloud-infra");
        copy_dir(inner.root(), &root);
        top.write("README.md", "# a larger repository\n");
        top.init_git();
        (top, root)
    }

    /// Commits the tree as it is now to a fresh git repository.
    pub fn init_git(&self) {
        self.git(&["init", "-q", "-b", "main"]);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "fixture"]);
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
        git_in(self.root(), args)
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

    /// With these variables set (`(&str, &str)` or owned pairs alike).
    pub fn xtask_env<K: AsRef<str>, V: AsRef<str>>(&self, args: &[&str], env: &[(K, V)]) -> Run {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        xtask_in(self.root(), args, &env)
    }
}

/// `git` in `dir` as a test user, away from the machine's configuration.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "-c",
        "commit.gpgsign=false",
    ])
    .current_dir(dir)
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

/// `git <args>` in `dir`, which must succeed.
pub fn git_in(dir: &Path, args: &[&str]) -> Output {
    let out = git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Where `tool` is on PATH; the test needs it installed.
pub fn which(tool: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} must be installed for this test"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Puts a `curl` in `dir` that logs every call to `dir/curl.log`, then runs
/// the real one: `ARGS <arguments>`, and `CONFIG <file> <mode>` for a
/// `--config` file (not for `--config -`). Returns the PATH that puts it
/// first, and the log's path.
pub fn curl_spy(dir: &Path) -> (String, PathBuf) {
    let log = dir.join("curl.log");
    let script = format!(
        "#!/bin/sh\nprintf 'ARGS %s\\n' \"$*\" >> '{log}'\nprev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = --config ] && [ \"$a\" != - ]; then printf 'CONFIG %s %s\\n' \"$a\" \"$(stat -c %a \"$a\")\" >> '{log}'; fi\n  prev=$a\ndone\nexec '{real}' \"$@\"\n",
        log = log.display(),
        real = which("curl")
    );
    write_executable(&dir.join("curl"), script.as_bytes());
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, log)
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

    /// Bad input: exit 2, each of `said` in standard error, no panic.
    /// `case` names the input in the failure message.
    pub fn assert_refused(&self, case: &str, said: &[&str]) -> &Run {
        assert_eq!(
            self.code, 2,
            "{case}: exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.all().contains("panicked"), "{case}: {}", self.stderr);
        for text in said {
            assert!(
                self.stderr.contains(text),
                "{case}: {text:?} not in standard error:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Standard output read as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.all()))
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The built xtask on `root` (`-C root --color never <args>`), its standard
/// input empty and NO_COLOR not inherited; for a test that runs it its own
/// way (a pipe, a signal, a time limit).
pub fn xtask_command(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args)
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    cmd
}

pub fn xtask_in(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = xtask_command(root, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
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

/// Asserts that no file of the monorepo changed since `before` (the xtask's
/// own `target/` aside); `what` names the run.
pub fn assert_unchanged(tree: &Tree, before: &Snapshot, what: &str) {
    let changed = changes(before, &tree.snapshot());
    assert!(
        changed.is_empty(),
        "{what}: files changed: {:?}",
        changed.keys().collect::<Vec<_>>()
    );
}

/// `check --json` on the tree: its exit status and its findings as
/// (rule, severity, message).
pub fn check_findings(tree: &Tree) -> (i32, Vec<(String, String, String)>) {
    let run = tree.xtask(&["check", "--json"]);
    let findings = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap().to_string();
            (text("rule"), text("severity"), text("message"))
        })
        .collect();
    (run.code, findings)
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

/// What `diff -ruN` (GNU diffutils, `LC_ALL=C`) says between two snapshots of
/// one tree, the monorepo only (not `target/`, not `.git/`), with the dates
/// taken out of the `---`/`+++` lines: `--- a/<path>`, `+++ b/<path>`. Bytes,
/// not text, so CRLF and `\ No newline at end of file` stay visible.
pub fn patch(before: &Snapshot, after: &Snapshot) -> Vec<u8> {
    let dir = TempDir::new("patch");
    for (side, files) in [("a", before), ("b", after)] {
        fs::create_dir_all(dir.path().join(side)).unwrap();
        for (path, (bytes, _)) in files.iter().filter(|(p, _)| !p.starts_with("target/")) {
            let to = dir.path().join(side).join(path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(to, bytes).unwrap();
        }
    }
    let out = Command::new("diff")
        .args(["-ruN", "a", "b"])
        .current_dir(dir.path())
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("diff: {e} (GNU diffutils is needed)"));
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "diff -ruN failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the two lines after each `diff -ruN` line are headers: a removed
    // line `-- x` also starts with `--- `.
    let mut patch = Vec::with_capacity(out.stdout.len());
    let mut header_lines = 0;
    for line in out.stdout.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"diff -ruN ") {
            header_lines = 2;
            patch.extend_from_slice(line);
        } else if header_lines > 0 {
            header_lines -= 1;
            let end = line
                .iter()
                .position(|&b| b == b'\t')
                .unwrap_or(line.len() - 1);
            patch.extend_from_slice(&line[..end]);
            patch.push(b'\n');
        } else {
            patch.extend_from_slice(line);
        }
    }
    patch
}

/// Asserts that the change from `before` to `after` is, byte for byte, the
/// patch `expected/<name>.patch` (see `patch`), and that no file mode changed.
/// The before-tree is a known one, so the patch pins every byte of the after-tree.
pub fn assert_patch_matches(before: &Snapshot, after: &Snapshot, name: &str) {
    for (path, (_, mode)) in after {
        if let Some((_, old)) = before.get(path) {
            assert_eq!(mode, old, "{path}: the file mode changed");
        }
    }
    let actual = patch(before, after);
    let path = expected(&format!("{name}.patch"));
    if blessing() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &actual).unwrap();
        return;
    }
    let want = fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (XTASK_BLESS=1 writes it)", path.display()));
    if actual != want {
        let (want, actual) = (
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&actual),
        );
        let diff = similar::TextDiff::from_lines(want.as_ref(), actual.as_ref())
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        // A CR alone would not show.
        panic!(
            "the change differs from {} (a diff of the patches):\n{}",
            path.display(),
            diff.replace('\r', "\\r")
        );
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
pub const FAKE_SECRETS: [&str; 5] = [
    "s3cr3t-root-pw-4242",
    "S3CR3TGRUBHASH4242",
    "S3CR3TTOTPKEY4242",
    "ak-s3cr3t-artifactory-7777",
    "s3cr3t-debug-pw-4242",
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
            // Who commits when a command commits (release, bump --commit).
            ("GIT_AUTHOR_NAME".into(), "Tester".into()),
            ("GIT_AUTHOR_EMAIL".into(), "tester@example.com".into()),
            ("GIT_COMMITTER_NAME".into(), "Tester".into()),
            ("GIT_COMMITTER_EMAIL".into(), "tester@example.com".into()),
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
        tree.xtask_env(args, &self.env)
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

// A file that is executed must never have been open for writing in this
// process: another test thread spawning a process at that moment hands the
// descriptor to its child until the child's exec closes it, and executing the
// file meanwhile fails with "Text file busy" (ETXTBSY), even once we closed
// ours. So executables are written by a child process, which no sibling inherits from.

/// Writes `bytes` to `path` as an executable (mode 0755); see above.
pub fn write_executable(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    let status = child.wait().unwrap();
    assert!(status.success(), "writing {} failed", path.display());
}

/// Copies an executable file, keeping its mode; see above.
/// `u+w` on every file and folder below `dir`: copies of read-only data
/// (`../shared` is read-only) must be editable like a checkout.
pub fn make_writable(dir: &Path) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        let mut permissions = entry.metadata().unwrap().permissions();
        permissions.set_mode(permissions.mode() | 0o200);
        fs::set_permissions(entry.path(), permissions).unwrap();
    }
}

pub fn copy_executable(from: &Path, to: &Path) {
    let mode = fs::metadata(from)
        .unwrap_or_else(|e| panic!("{}: {e}", from.display()))
        .permissions()
        .mode();
    let status = Command::new("sh")
        .args(["-c", "cp \"$1\" \"$2\" && chmod \"$3\" \"$2\"", "sh"])
        .arg(from)
        .arg(to)
        .arg(format!("{:o}", mode & 0o7777))
        .status()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    assert!(
        status.success(),
        "copying {} to {} failed",
        from.display(),
        to.display()
    );
}

/// PATH with the cargo that runs these tests first, so the hook finds it.
pub fn path_with_cargo() -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(cargo) = std::env::var_os("CARGO") {
        if let Some(dir) = Path::new(&cargo).parent() {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// `git commit` with the hook enabled; returns what it did.
pub fn git_commit(root: &Path, args: &[&str], env: &[(&str, &OsString)]) -> Output {
    let mut cmd = git_command(root);
    cmd.args(["commit", "-q"])
        .args(args)
        .stdin(Stdio::null())
        .env("PATH", path_with_cargo())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn head_of(tree: &Tree) -> String {
    String::from_utf8_lossy(&tree.git(&["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string()
}

/// Sends `signal` to process `pid` (a negative pid: its whole group), as
/// `kill` would, without needing procps on the machine.
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        sent,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}
