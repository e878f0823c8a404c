//! All-or-nothing on the built binary: `bump-base-image` edits several files,
//! and a real write failure on a later one must leave every file of the tree
//! as it was, with no temp file behind.
//!
//! Tests run as root here, and permission bits stop nothing for root, so the
//! failures are made real in three ways:
//! - the binary runs as an unprivileged user (`setpriv`, uid 65534) and one
//!   later target's folder belongs to root, mode 0755: writing the temp file
//!   beside it fails, after earlier temp files were staged;
//! - the same user, a root-owned sticky folder (1777) holding a root-owned
//!   target: the temp file can be written but not renamed over the target, so
//!   earlier files were already replaced and must be put back;
//! - as root, one target made immutable (`chattr +i`): the rename fails the same way.
//!
//! Without root the first uses plain permission bits instead; a mechanism
//! this machine lacks is skipped with a printed notice, and fails the test
//! under CI (`CI` set).

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The parts of the monorepo the bump reads, as the repository renders them.
const RENDITION: [&str; 4] = ["openstack-tenant", "chef", "vmlayer", "version"];

/// The unprivileged user (nobody) that permission bits do stop.
const NOBODY: u32 = 65534;

/// A fresh tree copy under /tmp that every user can reach; removed on drop,
/// after clearing any immutable flag.
struct Scratch {
    dir: PathBuf,
    immutable: Vec<PathBuf>,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from("/tmp").join(format!(
            "xtask-write-fault-{}-{}-{label}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("create the scratch folder");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod scratch");
        let tree = dir.join("tree");
        fs::create_dir(&tree).expect("create the tree folder");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace holds the xtask crate");
        for part in RENDITION {
            copy_tree(&workspace.join(part), &tree.join(part));
        }
        Scratch {
            dir,
            immutable: Vec::new(),
        }
    }

    fn tree(&self) -> PathBuf {
        self.dir.join("tree")
    }

    /// The built binary, copied where the unprivileged user can run it.
    fn binary(&self) -> PathBuf {
        let copy = self.dir.join("xtask");
        if !copy.exists() {
            // Not `fs::copy`: see `common::copy_executable` ("Text file busy").
            common::copy_executable(Path::new(env!("CARGO_BIN_EXE_xtask")), &copy);
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod binary");
        }
        copy
    }

    /// `chattr +i`; false when this filesystem or this user cannot.
    fn make_immutable(&mut self, path: &Path) -> bool {
        let ok = quiet(Command::new("chattr").arg("+i").arg(path));
        if ok {
            self.immutable.push(path.to_path_buf());
        }
        ok
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.immutable {
            let _ = quiet(Command::new("chattr").arg("-i").arg(path));
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let meta = fs::symlink_metadata(from).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; the repository rendition is missing",
            from.display()
        )
    });
    if meta.file_type().is_symlink() {
        let link = fs::read_link(from).expect("read link");
        std::os::unix::fs::symlink(link, to).expect("copy link");
    } else if meta.is_dir() {
        fs::create_dir(to).expect("create folder");
        let mut names: Vec<_> = fs::read_dir(from)
            .expect("list folder")
            .map(|entry| entry.expect("folder entry").file_name())
            .collect();
        names.sort();
        for name in names {
            copy_tree(&from.join(&name), &to.join(&name));
        }
        fs::set_permissions(to, meta.permissions()).expect("chmod folder");
    } else {
        fs::copy(from, to).expect("copy file");
    }
}

/// Runs a helper command; true when it ran and succeeded.
fn quiet(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Whether `setpriv` can drop to the unprivileged user here.
fn can_drop_privileges() -> bool {
    quiet(Command::new("setpriv").args(setpriv_args()).arg("true"))
}

fn setpriv_args() -> Vec<String> {
    vec![
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_string(),
    ]
}

/// Everything about every entry below `root`: kind, bytes or link target,
/// mode and owner. Equal snapshots mean the tree is byte-for-byte the same.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk the tree");
        let meta = entry.path().symlink_metadata().expect("stat");
        let what = if meta.file_type().is_symlink() {
            format!("link {:?}", fs::read_link(entry.path()).expect("read link"))
        } else if meta.is_dir() {
            "folder".to_string()
        } else {
            format!("file {:?}", fs::read(entry.path()).expect("read file"))
        };
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("below the root")
            .display()
            .to_string();
        entries.insert(
            rel,
            format!(
                "{what} mode {:o} owner {}:{}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ),
        );
    }
    entries
}

/// Names that differ between two snapshots, for a readable failure.
fn differences(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(name) != after.get(name))
        .collect()
}

fn bump(binary: &Path, tree: &Path, extra: &[&str], as_nobody: bool, home: &Path) -> Output {
    let mut command = if as_nobody {
        let mut command = Command::new("setpriv");
        command.args(setpriv_args()).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .arg("-C")
        .arg(tree)
        .args(["--color", "never", "bump-base-image", "9.9.9"])
        .args(extra)
        .current_dir(home)
        .env("HOME", home)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run the xtask binary")
}

/// The files the bump would write, in the order it writes them, from its dry run.
fn planned_files(scratch: &Scratch) -> Vec<String> {
    let output = bump(
        &scratch.binary(),
        &scratch.tree(),
        &["--dry-run", "--allow-dirty"],
        false,
        &scratch.dir,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dry run failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("+++ "))
        .filter_map(|line| line.strip_suffix("\tupdated"))
        .map(str::to_string)
        .collect();
    assert!(
        files.len() >= 3,
        "the bump should edit several files:\n{stdout}"
    );
    files
}

/// A planned file, not the first, whose folder holds no other planned file,
/// so that blocking its folder blocks only it. Prefers the last.
fn lone_later_file(files: &[String]) -> String {
    let folder = |path: &str| Path::new(path).parent().map(Path::to_path_buf);
    files
        .iter()
        .enumerate()
        .skip(1)
        .rev()
        .find(|(_, file)| {
            files
                .iter()
                .filter(|other| folder(other) == folder(file))
                .count()
                == 1
        })
        .map(|(_, file)| file.clone())
        .expect("a later planned file alone in its folder")
}

/// Runs the real bump, which must fail on `failing`, and checks that nothing changed.
fn assert_bump_fails_and_restores(scratch: &Scratch, failing: &str, as_nobody: bool) {
    let tree = scratch.tree();
    let before = snapshot(&tree);
    let output = bump(
        &scratch.binary(),
        &tree,
        &["--yes", "--allow-dirty"],
        as_nobody,
        &scratch.dir,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the bump should fail with exit status 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(failing),
        "stderr should name {failing}:\n{stderr}"
    );
    assert!(
        stderr.contains("every file was restored"),
        "stderr should say every file was restored:\n{stderr}"
    );
    assert!(
        !stdout.lines().any(|line| line.starts_with("wrote ")),
        "nothing may be reported as written:\n{stdout}"
    );
    let after = snapshot(&tree);
    let leftovers: Vec<&String> = after
        .keys()
        .filter(|name| name.contains(".xtask-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
    assert!(
        before == after,
        "the tree changed: {:?}",
        differences(&before, &after)
    );
}

/// Gives the whole scratch tree to the unprivileged user.
fn give_to_nobody(path: &Path) {
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.expect("walk the tree");
        std::os::unix::fs::lchown(entry.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
}

/// Stops the unprivileged user (or, without root, ourselves) from creating
/// anything in the folder of a later file: staging its temp file fails after
/// the earlier files' temp files were written.
#[test]
fn a_later_folder_that_cannot_be_written_leaves_every_file_unchanged() {
    let scratch = Scratch::new("folder");
    let files = planned_files(&scratch);
    let failing = lone_later_file(&files);
    let folder = scratch.tree().join(&failing);
    let folder = folder.parent().expect("a file has a folder");
    let as_nobody = if running_as_root() {
        if !can_drop_privileges() {
            common::skip_or_fail(&format!(
                "setpriv cannot run a command as uid {NOBODY} here (util-linux)"
            ));
            return;
        }
        give_to_nobody(&scratch.tree());
        std::os::unix::fs::chown(folder, Some(0), Some(0)).expect("chown the folder to root");
        fs::set_permissions(folder, fs::Permissions::from_mode(0o755)).expect("chmod the folder");
        true
    } else {
        // Our own folder: take the write bit away instead of the ownership.
        fs::set_permissions(folder, fs::Permissions::from_mode(0o555)).expect("chmod the folder");
        false
    };
    assert_bump_fails_and_restores(&scratch, &failing, as_nobody);
    // So that the scratch folder can be removed without root.
    let _ = fs::set_permissions(folder, fs::Permissions::from_mode(0o755));
}

/// A root-owned target in a sticky folder: the unprivileged user may create
/// the temp file beside it but not rename over it, so the failure comes after
/// earlier files were already replaced, and they must be put back.
#[test]
fn a_later_rename_that_fails_restores_the_files_already_replaced() {
    if !running_as_root() || !can_drop_privileges() {
        common::skip_or_fail(&format!(
            "needs root and setpriv (util-linux) to run as uid {NOBODY}"
        ));
        return;
    }
    let scratch = Scratch::new("sticky");
    let files = planned_files(&scratch);
    let failing = lone_later_file(&files);
    let target = scratch.tree().join(&failing);
    let folder = target.parent().expect("a file has a folder");
    give_to_nobody(&scratch.tree());
    std::os::unix::fs::chown(folder, Some(0), Some(0)).expect("chown the folder");
    fs::set_permissions(folder, fs::Permissions::from_mode(0o1777)).expect("chmod the folder");
    std::os::unix::fs::chown(&target, Some(0), Some(0)).expect("chown the target");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod the target");
    assert_bump_fails_and_restores(&scratch, &failing, true);
}

/// An immutable file in the middle of the plan: the files before it were
/// renamed into place and must be restored; the temp files after it removed.
#[test]
fn an_immutable_file_in_the_middle_restores_the_files_before_it() {
    let mut scratch = Scratch::new("immutable");
    let files = planned_files(&scratch);
    let failing = files[files.len() / 2].clone();
    let target = scratch.tree().join(&failing);
    if !scratch.make_immutable(&target) {
        common::skip_or_fail(
            "`chattr +i` does not work here (needs root, e2fsprogs, and a filesystem with the flag)",
        );
        return;
    }
    assert_bump_fails_and_restores(&scratch, &failing, false);
}
