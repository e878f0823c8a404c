//! The runner against real processes (`sh`, `cat`, `sleep`).

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::{install_hint, logfile, signals, Echo, Runner, SecretFile, Step};
use crate::error::exit_status;

/// A temporary folder, unique per test (pid + counter), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "xtask-runner-test-{}-{label}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A runner rooted in `root` whose printed lines land in a buffer.
struct Harness {
    runner: Runner,
    printed: Rc<RefCell<Vec<u8>>>,
}

impl Harness {
    fn new(root: &Path) -> Harness {
        let printed = Rc::new(RefCell::new(Vec::new()));
        let mut runner = Runner::for_root(root).unwrap();
        runner.echo = Echo::Buffer(printed.clone());
        Harness { runner, printed }
    }

    fn printed(&self) -> String {
        String::from_utf8(self.printed.borrow().clone()).unwrap()
    }

    /// Counts as Ctrl-C for this runner only, from another thread.
    fn ctrl_c(&self) -> Arc<AtomicUsize> {
        self.runner.simulated.clone()
    }
}

fn sh(title: &str, script: &str) -> Step {
    Step::new(title, "sh").arg("-c").arg(script)
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn step_streams_output_and_writes_the_log() {
    let tmp = TempDir::new("stream");
    let h = Harness::new(tmp.path());
    let step = sh("Say hello", "echo one; echo two >&2; printf three");
    let outcome = h.runner.step(1, 2, &step).unwrap();

    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.code, Some(0));
    assert!(!outcome.interrupted);
    assert_eq!(outcome.stdout, "one\nthree");
    for line in ["one\n", "two\n", "three"] {
        assert!(outcome.output.contains(line), "{outcome:?}");
    }

    let printed = h.printed();
    assert!(
        printed.starts_with("[1/2] Say hello\n  $ sh -c 'echo one; echo two >&2; printf three'\n"),
        "{printed}"
    );
    // Each line as it came; the two pipes' relative order is the OS's.
    for line in ["\none\n", "\ntwo\n", "\nthree\n"] {
        assert!(printed.contains(line), "{printed}");
    }
    assert!(printed.contains("\n  done in "), "{printed}");

    let logs = tmp.path().join("target/xtask/logs");
    assert_eq!(log_files(&logs), vec![outcome.log.clone()]);
    let name = outcome
        .log
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with("-1-say-hello.log"), "{name}");
    assert_eq!(
        name.len(),
        "yyyymmdd-hhmmss-1-say-hello.log".len(),
        "{name}"
    );
    let log = fs::read_to_string(&outcome.log).unwrap();
    assert!(log.starts_with("# [1/2] Say hello\n# $ sh -c "), "{log}");
    for line in ["one\n", "two\n", "three\n", "# done in "] {
        assert!(log.contains(line), "{log}");
    }
}

#[test]
fn step_runs_in_its_folder_relative_to_the_root_with_its_env() {
    let tmp = TempDir::new("dir");
    fs::create_dir_all(tmp.path().join("pkg/sub")).unwrap();
    let h = Harness::new(tmp.path());
    let step = sh("Where", "pwd; echo \"$GREETING\"")
        .dir(Path::new("pkg/sub"))
        .env("GREETING", "hi there");
    assert_eq!(
        step.command_line(),
        "GREETING='hi there' sh -c 'pwd; echo \"$GREETING\"'"
    );
    let outcome = h.runner.step(1, 1, &step).unwrap();
    assert!(outcome.ok, "{outcome:?}");
    let pwd = outcome.stdout.lines().next().unwrap();
    assert_eq!(
        Path::new(pwd).canonicalize().unwrap(),
        tmp.path().join("pkg/sub").canonicalize().unwrap()
    );
    assert!(outcome.stdout.contains("hi there\n"));
    assert!(
        h.printed().contains("  $ cd pkg/sub && GREETING="),
        "{}",
        h.printed()
    );
}

#[test]
fn failing_step_reports_its_exit_code_and_log() {
    let tmp = TempDir::new("fail");
    let h = Harness::new(tmp.path());
    let outcome = h
        .runner
        .step(
            3,
            4,
            &sh("Break things", "echo working; echo boom >&2; exit 3"),
        )
        .unwrap();

    assert!(!outcome.ok);
    assert_eq!(outcome.code, Some(3));
    assert!(!outcome.interrupted);
    let printed = h.printed();
    let verdict = format!("full log: {}\n", outcome.log.display());
    assert!(printed.contains("  failed (exit 3) after "), "{printed}");
    assert!(printed.ends_with(&verdict), "{printed}");
    let log = fs::read_to_string(&outcome.log).unwrap();
    assert!(
        log.contains("working\nboom\n") || log.contains("boom\nworking\n"),
        "{log}"
    );
    assert!(log.contains("# failed (exit 3) after "), "{log}");
}

#[test]
fn quiet_step_logs_everything_and_shows_the_tail_only_on_failure() {
    let tmp = TempDir::new("quiet");
    let mut h = Harness::new(tmp.path());
    h.runner.set_quiet(true);
    let ok = h.runner.step(1, 2, &sh("Fine", "echo all-good")).unwrap();
    assert!(ok.ok);
    assert!(!h.printed().contains("\nall-good\n"), "{}", h.printed());
    assert!(fs::read_to_string(&ok.log).unwrap().contains("all-good\n"));

    let bad = h
        .runner
        .step(2, 2, &sh("Bad", "echo why-it-broke >&2; exit 1"))
        .unwrap();
    assert!(!bad.ok);
    assert!(
        h.printed().contains("  | why-it-broke\n"),
        "{}",
        h.printed()
    );
}

#[test]
fn secrets_never_show_in_output_logs_or_arguments() {
    let tmp = TempDir::new("secret");
    let secret = "s3cr3t-Pa55word";
    let record = tmp.path().join("record.txt");
    // A fake tool: records its arguments and the names (not the values) of
    // its environment, says whether it got the secret, and prints it.
    let fake = tmp.path().join("fake-tool");
    fs::write(
        &fake,
        "#!/bin/sh\n\
         printf 'arg: %s\\n' \"$@\" > \"$RECORD\"\n\
         env | sed 's/=.*//' >> \"$RECORD\"\n\
         [ \"$API_TOKEN\" = 's3cr3t-Pa55word' ] && echo received-the-secret\n\
         echo \"token is $API_TOKEN\"\n\
         echo \"$API_TOKEN\" >&2\n",
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();

    let h = Harness::new(tmp.path());
    let step = Step::new("Use a token", &fake.to_string_lossy())
        .arg("--user")
        .arg("venky")
        .env("RECORD", record.to_string_lossy())
        .secret_env("API_TOKEN", secret);
    let line = step.command_line();
    assert!(line.contains("API_TOKEN=***"), "{line}");
    assert!(!line.contains(secret), "{line}");
    assert!(!format!("{step:?}").contains(secret));

    let outcome = h.runner.step(1, 1, &step).unwrap();
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.output.contains("received-the-secret"),
        "{outcome:?}"
    );
    assert!(outcome.output.contains("token is ***\n"), "{outcome:?}");
    assert!(outcome.output.contains("***\n"));

    let printed = h.printed();
    let log = fs::read_to_string(&outcome.log).unwrap();
    let recorded = fs::read_to_string(&record).unwrap();
    assert!(printed.contains("token is ***\n"), "{printed}");
    assert!(log.contains("token is ***\n"), "{log}");
    assert!(recorded.contains("arg: --user\narg: venky\n"), "{recorded}");
    assert!(recorded.lines().any(|l| l == "API_TOKEN"), "{recorded}");
    for (what, text) in [
        ("printed", &printed),
        ("log", &log),
        ("args", &recorded),
        ("output", &outcome.output),
    ] {
        assert!(
            !text.contains(secret),
            "the secret shows in the {what}: {text}"
        );
    }
}

#[test]
fn a_secret_in_an_argument_is_refused_before_running() {
    let tmp = TempDir::new("leak");
    let h = Harness::new(tmp.path());
    let marker = tmp.path().join("ran");
    let step = sh("Leak", &format!("touch {} hunter22", marker.display()))
        .secret_env("PASSWORD", "hunter22");
    let err = h.runner.step(1, 1, &step).unwrap_err().to_string();
    assert!(
        err.contains("argument 2") && err.contains("secret_env"),
        "{err}"
    );
    assert!(!err.contains("hunter22"), "{err}");
    assert!(!marker.exists());
    assert!(h.runner.capture(&step).is_err());
    assert!(!h.printed().contains("hunter22"));

    let in_env = Step::new("Leak", "true")
        .env("URL", "https://u:hunter22@host")
        .secret_env("PASSWORD", "hunter22");
    let err = h.runner.step(1, 1, &in_env).unwrap_err().to_string();
    assert!(err.contains("the variable URL"), "{err}");
}

#[test]
fn a_hidden_secret_is_redacted_refused_in_arguments_and_not_in_the_environment() {
    let tmp = TempDir::new("hidden");
    let h = Harness::new(tmp.path());
    // The tool reads the secret from its standard input and prints it, and
    // whether its environment holds it.
    let step = sh(
        "Read a secret",
        "read -r value; echo \"got $value\"; env | grep -c 'hunter3[3]' || true",
    )
    .stdin(b"hunter33\n".to_vec())
    .secret("hunter33");
    let outcome = h.runner.step(1, 1, &step).unwrap();
    assert!(outcome.ok, "{outcome:?}");
    assert!(outcome.output.contains("got ***\n"), "{outcome:?}");
    assert!(
        outcome.output.contains("\n0\n"),
        "not in the environment: {outcome:?}"
    );
    assert!(!h.printed().contains("hunter33"));
    assert!(!fs::read_to_string(&outcome.log)
        .unwrap()
        .contains("hunter33"));

    let leak = sh("Leak", "true hunter33").secret("hunter33");
    let err = h.runner.step(1, 1, &leak).unwrap_err().to_string();
    assert!(err.contains("argument 2"), "{err}");
}

#[test]
fn stdin_is_fed_when_given_and_empty_otherwise() {
    let tmp = TempDir::new("stdin");
    let h = Harness::new(tmp.path());
    let fed = h
        .runner
        .capture(&Step::new("Echo back", "cat").stdin(b"line one\nline two\n".to_vec()))
        .unwrap();
    assert!(fed.ok);
    assert_eq!(fed.stdout, "line one\nline two\n");

    // Without input, `cat` sees the end at once instead of waiting on the terminal.
    let empty = h.runner.capture(&Step::new("Nothing", "cat")).unwrap();
    assert!(empty.ok);
    assert_eq!(empty.output, "");
}

#[test]
fn capture_is_silent_keeps_no_log_and_separates_stdout() {
    let tmp = TempDir::new("capture");
    let h = Harness::new(tmp.path());
    let outcome = h
        .runner
        .capture(
            &sh(
                "Query",
                "echo '{\"id\": 1}'; echo 'deprecated' >&2; printf \"$V\"",
            )
            .secret_env("V", "vault-value"),
        )
        .unwrap();
    assert!(outcome.ok);
    assert_eq!(outcome.stdout, "{\"id\": 1}\n***");
    assert!(outcome.output.contains("deprecated\n"));
    assert_eq!(outcome.log, PathBuf::new());
    assert_eq!(h.printed(), "");
    assert!(log_files(&tmp.path().join("target/xtask/logs")).is_empty());

    let failed = h.runner.capture(&sh("Query", "exit 4")).unwrap();
    assert!(!failed.ok);
    assert_eq!(failed.code, Some(4));
}

#[test]
fn a_missing_program_is_an_error_with_the_hint() {
    let tmp = TempDir::new("missing-program");
    let h = Harness::new(tmp.path());
    let err = h
        .runner
        .step(1, 1, &Step::new("Build", "no-such-tool-xtask-test"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`no-such-tool-xtask-test`") && err.contains("not on PATH"),
        "{err}"
    );

    let err = h
        .runner
        .step(
            1,
            1,
            &Step::new("Build", "true").dir(Path::new("no/such/dir")),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn which_finds_sh_and_not_a_missing_tool() {
    let sh = Runner::which("sh").unwrap();
    assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
    assert_eq!(Runner::which("no-such-tool-xtask-test"), None);
    assert_eq!(Runner::which(""), None);
    assert_eq!(Runner::which(&sh.to_string_lossy()), Some(sh.clone()));
}

#[test]
fn require_tools_names_every_missing_tool_with_its_hint() {
    let tmp = TempDir::new("require");
    let h = Harness::new(tmp.path());
    h.runner.require_tools(&["sh", "cat"]).unwrap();

    let missing = ["no-such-tool-a", "no-such-tool-b"];
    let err = h
        .runner
        .require_tools(&["sh", missing[0], missing[1], missing[0]])
        .unwrap_err();
    assert_eq!(exit_status(&err), 2);
    let message = err.to_string();
    assert!(
        message.contains("2 tools") && message.contains("nothing was run"),
        "{message}"
    );
    for tool in missing {
        assert_eq!(
            message.matches(&format!("\n  {tool}: ")).count(),
            1,
            "{message}"
        );
    }
    assert!(!message.contains("\n  sh:"), "{message}");
}

#[test]
fn install_hints_follow_the_runbook() {
    assert!(install_hint("dpkg-deb").contains("brew install dpkg"));
    assert!(install_hint("openstack").contains("pip3 install python-openstackclient"));
    assert!(install_hint("packer").contains("packer.io"));
    assert!(install_hint("knife").contains("Chef Workstation"));
    assert!(install_hint("chef").contains("Chef Workstation"));
    assert!(install_hint("vault").contains("vault"));
    assert!(install_hint("gofmt").contains("apt-get install golang-go"));
    assert!(install_hint("gofmt").contains("brew install go"));
    assert!(install_hint("mktemp").contains("coreutils"));
    assert!(install_hint("unknown-tool").contains("PATH"));
}

#[test]
fn secret_file_is_private_and_removed_on_drop() {
    let file = SecretFile::new(b"machine artifactory login venky password x").unwrap();
    let path = file.path().to_path_buf();
    let dir = path.parent().unwrap().to_path_buf();
    assert_eq!(
        fs::read(&path).unwrap(),
        b"machine artifactory login venky password x"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let other = SecretFile::named("vars.json", b"{}").unwrap();
    assert!(other.path().ends_with("vars.json"));
    assert_ne!(other.path().parent(), file.path().parent());
    drop(file);
    assert!(!path.exists() && !dir.exists());
    assert!(SecretFile::named("../escape", b"").is_err());
}

/// A tool that writes its pid to `pidfile`, then waits.
fn pid_then(pidfile: &Path, then: &str) -> Step {
    sh(
        "Wait",
        &format!("echo $$ > '{}'; echo started; {then}", pidfile.display()),
    )
}

/// Presses Ctrl-C (for this runner) once `pidfile` exists.
fn ctrl_c_when_started(h: &Harness, pidfile: &Path, presses: usize) -> std::thread::JoinHandle<()> {
    let ctrl_c = h.ctrl_c();
    let pidfile = pidfile.to_path_buf();
    std::thread::spawn(move || {
        while !pidfile.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..presses {
            ctrl_c.fetch_add(1, Ordering::SeqCst);
        }
    })
}

fn pid_in(pidfile: &Path) -> u32 {
    fs::read_to_string(pidfile).unwrap().trim().parse().unwrap()
}

#[test]
fn ctrl_c_stops_the_running_tool_and_the_step_is_not_done() {
    let tmp = TempDir::new("interrupt");
    let h = Harness::new(tmp.path());
    let pidfile = tmp.path().join("pid");
    let presser = ctrl_c_when_started(&h, &pidfile, 1);
    let outcome = h
        .runner
        .step(2, 5, &pid_then(&pidfile, "exec sleep 30"))
        .unwrap();
    presser.join().unwrap();

    assert!(outcome.interrupted && !outcome.ok, "{outcome:?}");
    assert_eq!(outcome.code, None, "ended by SIGTERM");
    assert!(outcome.elapsed < Duration::from_secs(25), "{outcome:?}");
    assert!(
        !signals::alive(pid_in(&pidfile)),
        "the tool is still running"
    );
    let printed = h.printed();
    assert!(
        printed.contains("  interrupted: waiting for `sh` to stop"),
        "{printed}"
    );
    assert!(printed.contains("  interrupted after "), "{printed}");
    assert!(
        printed.contains("the step is not done; full log: "),
        "{printed}"
    );
    let log = fs::read_to_string(&outcome.log).unwrap();
    assert!(
        log.contains("started\n# interrupted (killed by signal 15) after "),
        "{log}"
    );

    // Once interrupted, nothing more starts.
    let marker = tmp.path().join("ran");
    let next = h
        .runner
        .step(3, 5, &sh("Next", &format!("touch '{}'", marker.display())))
        .unwrap();
    assert!(next.interrupted && !next.ok);
    assert!(!marker.exists());
    assert!(
        h.printed().ends_with("  not started: interrupted\n"),
        "{}",
        h.printed()
    );
    assert!(h.runner.capture(&sh("Query", "true")).unwrap().interrupted);
}

#[test]
fn a_tool_that_ignores_sigterm_is_killed_after_the_grace_time() {
    let tmp = TempDir::new("grace");
    let mut h = Harness::new(tmp.path());
    h.runner.grace = Duration::from_millis(300);
    let pidfile = tmp.path().join("pid");
    let presser = ctrl_c_when_started(&h, &pidfile, 1);
    let step = pid_then(&pidfile, "trap '' TERM; while :; do sleep 0.1; done");
    let outcome = h.runner.step(1, 1, &step).unwrap();
    presser.join().unwrap();

    assert!(outcome.interrupted && !outcome.ok, "{outcome:?}");
    assert!(!signals::alive(pid_in(&pidfile)));
    assert!(h.printed().contains("  killed `sh`\n"), "{}", h.printed());
}

#[test]
fn a_second_ctrl_c_kills_at_once() {
    let tmp = TempDir::new("twice");
    let h = Harness::new(tmp.path());
    let pidfile = tmp.path().join("pid");
    let presser = ctrl_c_when_started(&h, &pidfile, 2);
    let step = pid_then(&pidfile, "trap '' TERM; while :; do sleep 0.1; done");
    let outcome = h.runner.step(1, 1, &step).unwrap();
    presser.join().unwrap();

    assert!(outcome.interrupted, "{outcome:?}");
    assert!(!signals::alive(pid_in(&pidfile)));
    assert!(
        outcome.elapsed < Duration::from_secs(50),
        "not the 60 s grace: {outcome:?}"
    );
}

#[test]
fn log_names_and_durations() {
    assert_eq!(
        logfile::slug("Build the mobiledgex package (openstack)"),
        "build-the-mobiledgex-package-openstack"
    );
    assert_eq!(logfile::slug("!!!"), "step");
    assert!(logfile::slug(&"word ".repeat(30)).len() <= 40);
    // 2021-02-01 13:04:05 UTC
    let time = UNIX_EPOCH + Duration::from_secs(1_612_184_645);
    assert_eq!(logfile::stamp(time), "20210201-130405");
    assert_eq!(logfile::readable(time), "2021-02-01 13:04:05 UTC");
    assert_eq!(
        logfile::stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "20000229-000000"
    );
    assert_eq!(logfile::elapsed(Duration::from_millis(12_345)), "12.3s");
    assert_eq!(logfile::elapsed(Duration::from_secs(245)), "4m 05s");
    assert_eq!(logfile::elapsed(Duration::from_secs(3723)), "1h 02m 03s");
}

#[test]
fn command_lines_are_shell_quoted() {
    let step =
        Step::new("Clean", "make").args(["-C", "openstack-tenant/packages/mobiledgex", "clean"]);
    assert_eq!(
        step.command_line(),
        "make -C openstack-tenant/packages/mobiledgex clean"
    );
    let step = Step::new("Odd", "echo")
        .args(["it's", "", "a b", "$HOME"])
        .env("K", "v")
        .secret_env("S", "sekrit");
    assert_eq!(
        step.command_line(),
        r#"K=v S=*** echo 'it'\''s' '' 'a b' '$HOME'"#
    );
    assert_eq!(step.program(), "echo");
}

/// Set for the copy of the test binary that gets a real SIGINT.
const SIGINT_CHILD: &str = "XTASK_RUNNER_TEST_SIGINT_DIR";

/// The real signal path: the test binary runs `sigint_target` on its own, and
/// this test sends that process (not the tool) a SIGINT while its step runs.
#[test]
fn a_real_sigint_stops_the_step_and_the_xtask_survives() {
    let tmp = TempDir::new("sigint");
    let pidfile = tmp.path().join("pid");
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "runner::tests::sigint_target",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SIGINT_CHILD, tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !pidfile.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(signals::send(child.id(), signals::SIGINT));
    let status = child.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{status}: {out}");
    assert!(
        out.contains("sigint-target: interrupted and alive"),
        "{out}"
    );
    assert!(!signals::alive(pid_in(&pidfile)));
}

/// Does its work only when started by the test above.
#[test]
#[allow(clippy::print_stdout)] // tells the test above, through the child's output
fn sigint_target() {
    let Some(dir) = std::env::var_os(SIGINT_CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let runner = Runner::for_root(&dir).unwrap();
    let outcome = runner
        .step(1, 1, &pid_then(&dir.join("pid"), "exec sleep 30"))
        .unwrap();
    assert!(outcome.interrupted && !outcome.ok, "{outcome:?}");
    assert!(Runner::interrupted());
    println!("sigint-target: interrupted and alive");
}
