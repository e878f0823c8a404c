//! The xtask in a hostile environment: credentials lying around in its
//! environment and in `~/.curlrc`, a reader that goes away, version files
//! that are links out of the checkout, FIFOs and huge files where files
//! should be, a current folder that is no checkout.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::apt::tree_with_snapshot;
use common::artifactory::stateful_artifactory;
use common::http::base64;
use common::{skip_or_fail, Fakes, Layout, Run, TempDir, Tree, FAKE_SECRETS};

const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const PROPS_GO: &str = "vmlayer/props.go";
const STATE: &str = "target/xtask/release.json";

// ---------------------------------------------------------------------------
// Secrets reach exactly one place

const ARTIFACTORY_USER: &str = "hostile-alice";
const ARTIFACTORY_PASSWORD: &str = "hostile-Pa55-zebra-3131";
const VAULT_TOKEN: &str = "s.hostile-vault-token-9999";
const APT_PASSWORD: &str = "hostile-apt-pa55-5151";

/// Waits for `child` at most `limit`, then kills it: a hang is a failure
/// to report, not a test run that never ends.
fn wait_or_kill(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} hung (killed after {limit:?})\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One process start strace saw: the pid, the program and the whole line
/// (its arguments and, with `-v`, its full environment).
struct Exec {
    pid: u32,
    program: String,
    line: String,
}

/// `execve` calls and the parent of every process, from `strace -f -o`.
fn parse_strace(text: &str) -> (Vec<Exec>, BTreeMap<u32, u32>) {
    let mut execs = Vec::new();
    let mut parents = BTreeMap::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(call) = rest.strip_prefix("execve(\"") {
            let program = call.split('"').next().unwrap_or("").to_string();
            execs.push(Exec {
                pid,
                program,
                line: line.to_string(),
            });
        } else if [
            "clone",
            "fork",
            "vfork",
            "<... clone",
            "<... fork",
            "<... vfork",
        ]
        .iter()
        .any(|call| rest.starts_with(call))
        {
            // `... = 12345`: the new process.
            if let Some(child) = rest
                .rsplit_once("= ")
                .and_then(|(_, n)| n.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok())
            {
                parents.insert(child, pid);
            }
        }
    }
    (execs, parents)
}

fn name_of(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Every file below `dir` with its bytes.
fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    if !dir.exists() {
        return files;
    }
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            files.push((entry.path().to_path_buf(), fs::read(entry.path()).unwrap()));
        }
    }
    files
}

#[test]
#[ignore = "slow (~20 s: a whole release under strace -f); .ci/run runs it"]
fn secrets_reach_only_the_var_file_and_curls_standard_input() {
    if !common::strace_works() {
        return;
    }
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = Fakes::new();
    fakes.seed_rendition_cookbooks();
    let server = stateful_artifactory(&[]);
    let work = TempDir::new("hostile-secrets");
    let tmp = work.path().join("tmp");
    let proc_dumps = work.path().join("proc");
    let apt_etc = work.path().join("apt");
    for dir in [&tmp, &proc_dumps, &apt_etc] {
        fs::create_dir_all(dir).unwrap();
    }
    // curl would read this without -q, and print `Authorization: Basic …`.
    let home = fakes
        .env()
        .into_iter()
        .find(|(k, _)| k == "HOME")
        .unwrap()
        .1;
    fs::write(Path::new(&home).join(".curlrc"), "verbose\n").unwrap();
    // apt's credentials for the snapshot server: curl gets them on stdin too.
    fs::write(
        apt_etc.join("auth.conf"),
        format!("machine 127.0.0.1 login apt password {APT_PASSWORD}\n"),
    )
    .unwrap();
    fakes
        .set("ARTIFACTORY_USER", ARTIFACTORY_USER)
        .set("ARTIFACTORY_PASSWORD", ARTIFACTORY_PASSWORD)
        .set("ARTIFACTORY_URL", &server.url("/artifactory"))
        .set("ARTIFACTORY_APIKEY", FAKE_SECRETS[3])
        .set("VAULT_TOKEN", VAULT_TOKEN)
        // build.sh's name for the root password, left over in a shell.
        .set("MEX_ROOT_PASS", FAKE_SECRETS[0])
        .set("XTASK_APT_ETC", &apt_etc.to_string_lossy())
        .set("XTASK_FAKE_PROC", &proc_dumps.to_string_lossy())
        .set("TMPDIR", &tmp.to_string_lossy());

    let trace = work.path().join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-v", "-s", "1000000"])
        .args(["-e", "trace=execve,clone,clone3,fork,vfork", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(tree.root())
        .args(["--color", "never", "release", "3.0.2", "--publish", "--yes"])
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    for (k, v) in fakes.env() {
        cmd.env(k, v);
    }
    let run = Run::from(cmd.output().unwrap());

    // Where each secret may be: nowhere, but a tool's own credential in
    // that tool (and what it starts).
    let mut secrets: Vec<(String, Option<&str>)> =
        FAKE_SECRETS.iter().map(|s| (s.to_string(), None)).collect();
    secrets.push((ARTIFACTORY_PASSWORD.into(), None));
    secrets.push((
        base64(format!("{ARTIFACTORY_USER}:{ARTIFACTORY_PASSWORD}").as_bytes()),
        None,
    ));
    secrets.push((APT_PASSWORD.into(), None));
    secrets.push((base64(format!("apt:{APT_PASSWORD}").as_bytes()), None));
    secrets.push((VAULT_TOKEN.into(), Some("vault")));

    // 1. Every process started, from strace: arguments and full environment.
    let (execs, parents) = parse_strace(&fs::read_to_string(&trace).unwrap());
    let xtask_pid = execs.first().expect("strace saw the xtask start").pid;
    let mut started_as: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for exec in &execs {
        started_as
            .entry(exec.pid)
            .or_default()
            .insert(name_of(&exec.program).to_string());
    }
    let descends_from = |mut pid: u32, tool: &str| loop {
        if started_as
            .get(&pid)
            .is_some_and(|names| names.contains(tool))
        {
            return true;
        }
        match parents.get(&pid) {
            Some(&parent) if parent != pid => pid = parent,
            _ => return false,
        }
    };
    let children: Vec<&Exec> = execs.iter().filter(|e| e.pid != xtask_pid).collect();
    let mut tools = BTreeSet::new();
    for exec in &children {
        tools.insert(name_of(&exec.program).to_string());
        for (secret, owner) in &secrets {
            if exec.line.contains(secret.as_str()) {
                assert!(
                    owner.is_some_and(|tool| descends_from(exec.pid, tool)),
                    "the secret {secret} is in the arguments or environment of {} (pid {}):\n{}",
                    exec.program,
                    exec.pid,
                    exec.line
                );
            }
        }
        assert!(
            !exec.line.contains("\"ARTIFACTORY_PASSWORD=")
                && !exec.line.contains("\"ARTIFACTORY_APIKEY="),
            "{} inherited an Artifactory credential:\n{}",
            exec.program,
            exec.line
        );
    }
    run.assert_code(0);
    for tool in [
        "git",
        "make",
        "dpkg-deb",
        "curl",
        "vault",
        "openstack",
        "packer",
        "knife",
        "chef",
    ] {
        assert!(tools.contains(tool), "{tool} never ran: {tools:?}");
    }
    // 2. What the fake tools found in /proc/<their pid>/environ and cmdline.
    let dumps = files_below(&proc_dumps);
    assert!(dumps.len() >= 10, "{} /proc dumps", dumps.len());
    for (path, bytes) in &dumps {
        let text = String::from_utf8_lossy(bytes);
        let tool = path.file_name().unwrap().to_string_lossy();
        for (secret, owner) in &secrets {
            let allowed = owner.is_some_and(|owner| tool.starts_with(&format!("{owner}-")));
            assert!(
                allowed || !text.contains(secret.as_str()),
                "the secret {secret} is in {}:\n{text}",
                path.display()
            );
        }
    }

    // 3. Every byte printed, logged or left behind: output, the tree with
    // the xtask's logs and state, the temp folder (the var-file is gone).
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("standard output".into(), run.stdout.clone().into_bytes()),
        ("standard error".into(), run.stderr.clone().into_bytes()),
        (
            "the fake tools' arguments".into(),
            fakes.calls().join("\n").into_bytes(),
        ),
    ];
    for (path, bytes) in files_below(tree.root())
        .into_iter()
        .chain(files_below(&tmp))
    {
        if !path.components().any(|c| c.as_os_str() == ".git") {
            places.push((path.display().to_string(), bytes));
        }
    }
    for (place, bytes) in &places {
        let text = String::from_utf8_lossy(bytes);
        for (secret, _) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "the secret {secret} is in {place}"
            );
        }
        assert!(
            !text.contains("Authorization: Basic"),
            "~/.curlrc's `verbose` got through to {place}"
        );
    }
    assert!(
        files_below(&tmp).is_empty(),
        "left in the temp folder: {:?}",
        files_below(&tmp).iter().map(|(p, _)| p).collect::<Vec<_>>()
    );

    // 4. The logs and the state folder are the owner's alone.
    let state_dir = tree.path("target/xtask");
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&state_dir.join("logs")), 0o700);
    let logs = files_below(&state_dir.join("logs"));
    assert!(logs.len() >= 5, "{} logs", logs.len());
    for (log, _) in &logs {
        assert_eq!(mode(log), 0o600, "{}", log.display());
    }
    assert_eq!(mode(&tree.path(STATE)), 0o600);

    let curls: Vec<&&Exec> = children
        .iter()
        .filter(|e| name_of(&e.program) == "curl")
        .collect();
    assert!(curls.len() >= 3, "the APT index, HEAD and PUT");
    for curl in &curls {
        assert!(
            curl.line.contains("[\"curl\", \"-q\", "),
            "curl without -q first: {}",
            curl.line
        );
    }

    // The figures for the README.
    eprintln!(
        "FIGURES: secrets found 0 across {} processes started (strace execve), {} /proc environ+cmdline dumps, {} logs and files inspected ({} secret values)",
        children.len(),
        dumps.len(),
        places.len(),
        secrets.len()
    );
}

// ---------------------------------------------------------------------------
// A closed pipe

/// Runs the xtask with its standard output a pipe whose reader is gone.
fn with_closed_stdout(tree: &Tree, args: &[&str]) -> (ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = common::xtask_command(tree.root(), args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_or_kill(child, Duration::from_secs(120), &format!("{args:?}"));
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_a_reading_command_as_sigpipe_ends_any_unix_tool() {
    let tree = Tree::with_git(Layout::A);
    // A drifted tree, so check has findings to print.
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    for args in [
        &["versions"][..],
        &["versions", "--json"],
        &["check"],
        &["mentions", "3.0.1"],
        &["deps", "show"],
    ] {
        let (status, stderr) = with_closed_stdout(&tree, args);
        assert_eq!(status.signal(), Some(13), "{args:?}: {status:?}\n{stderr}");
        assert_eq!(stderr, "", "{args:?}: nothing said, no panic");
    }
}

#[test]
fn a_closed_pipe_does_not_stop_a_writing_command_half_way() {
    let tree = Tree::with_git(Layout::A);
    let (status, stderr) = with_closed_stdout(&tree, &["bump-base-image", "3.0.2", "--yes"]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Every file was written, as by a bump whose output is read.
    let read = Tree::with_git(Layout::A);
    read.xtask(&["bump-base-image", "3.0.2", "--yes"])
        .assert_code(0);
    assert_eq!(common::monorepo_files(&tree), common::monorepo_files(&read));
}

#[test]
fn tools_the_xtask_starts_keep_sigpipe_at_its_default() {
    // A `make` first on PATH records SigIgn from /proc/<pid>/status (a hex
    // mask; SIGPIPE, 13, is bit 12), then runs the real make.
    let tree = Tree::with_git(Layout::A);
    let spy = TempDir::new("sigign-spy");
    let record = spy.path().join("sigign");
    common::write_executable(
        &spy.path().join("make"),
        format!(
            "#!/bin/sh
grep SigIgn /proc/$$/status >> '{}'
exec '{}' \"$@\"\n",
            record.display(),
            common::which("make")
        )
        .as_bytes(),
    );
    let path = format!(
        "{}:{}",
        spy.path().display(),
        std::env::var("PATH").unwrap()
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = common::xtask_command(tree.root(), &["build-package", "--yes"])
        .env("PATH", path)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_or_kill(child, Duration::from_secs(300), "build-package");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = fs::read_to_string(&record).expect("make ran");
    assert_eq!(lines.lines().count(), 2, "make clean, make: {lines}");
    for line in lines.lines() {
        let mask = u64::from_str_radix(line.trim_start_matches("SigIgn:").trim(), 16).unwrap();
        assert_eq!(mask & (1 << 12), 0, "SIGPIPE is ignored in make: {line}");
    }
}

// ---------------------------------------------------------------------------
// Only the checkout asked about, only regular files inside it

#[test]
fn a_version_file_linked_outside_the_checkout_is_refused_and_never_written() {
    let tree = Tree::with_git(Layout::A);
    let outside = TempDir::new("outside");
    let target = outside.path().join("Makefile");
    fs::copy(tree.path(MAKEFILE), &target).unwrap();
    fs::remove_file(tree.path(MAKEFILE)).unwrap();
    std::os::unix::fs::symlink(&target, tree.path(MAKEFILE)).unwrap();
    let before = fs::read(&target).unwrap();
    for args in [
        &["check"][..],
        &["versions"],
        &["bump-base-image", "3.0.2", "--yes", "--allow-dirty"],
    ] {
        let run = tree.xtask(args);
        run.assert_refused(&format!("{args:?}"), &[MAKEFILE, "outside the checkout"]);
    }
    assert_eq!(
        fs::read(&target).unwrap(),
        before,
        "the file outside was written"
    );
    assert!(fs::symlink_metadata(tree.path(MAKEFILE))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_version_file_linked_inside_the_checkout_is_fine_and_the_link_stays() {
    let tree = Tree::with_git(Layout::A);
    let real = "openstack-tenant/packages/mobiledgex/Makefile.real";
    fs::rename(tree.path(MAKEFILE), tree.path(real)).unwrap();
    std::os::unix::fs::symlink("Makefile.real", tree.path(MAKEFILE)).unwrap();
    tree.xtask(&["check"]).assert_code(0);
    tree.xtask(&["bump-base-image", "3.0.2", "--yes", "--allow-dirty"])
        .assert_code(0);
    assert!(fs::symlink_metadata(tree.path(MAKEFILE))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(tree.read(real).contains("VERSION = 3.0.2\n"));
}

/// `mkfifo`, or `None` (skipped) where it cannot be made.
fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

/// The xtask on `tree`, killed (and failed) if it hangs.
fn xtask_no_hang(tree: &Tree, args: &[&str]) -> Run {
    let child = common::xtask_command(tree.root(), args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Run::from(wait_or_kill(
        child,
        Duration::from_secs(120),
        &format!("{args:?}"),
    ))
}

#[test]
fn a_fifo_where_a_file_should_be_is_refused_instead_of_hanging() {
    let tree = Tree::with_git(Layout::A);
    fs::remove_file(tree.path(PROPS_GO)).unwrap();
    if !mkfifo(&tree.path(PROPS_GO)) {
        skip_or_fail("mkfifo is not available");
        return;
    }
    for args in [
        &["check"][..],
        &["versions"],
        &["bump-base-image", "3.0.2", "--yes", "--allow-dirty"],
    ] {
        xtask_no_hang(&tree, args).assert_refused(
            &format!("{args:?}"),
            &[PROPS_GO, "a FIFO (named pipe), not a regular file"],
        );
    }

    let tree = Tree::with_git(Layout::A);
    fs::create_dir_all(tree.path("target/xtask")).unwrap();
    assert!(mkfifo(&tree.path(STATE)));
    xtask_no_hang(&tree, &["release", "--status"])
        .assert_refused("release --status", &[STATE, "a FIFO (named pipe)"]);
}

#[test]
fn a_huge_version_file_is_refused() {
    let tree = Tree::with_git(Layout::A);
    let mut text = tree.read(PROPS_GO);
    text.push_str(&format!("// {}\n", "x".repeat(5 * 1024 * 1024)));
    tree.write(PROPS_GO, &text);
    tree.xtask(&["check"])
        .assert_refused("5 MiB props.go", &[PROPS_GO, "larger than 4 MiB"]);
}
