//! The only place that spawns processes.
//!
//! Queries (`query`, `git`, `query_later`) and steps (`step`, `capture`) are
//! all started by `spawn`, which builds them as xshell commands, so that the
//! working folder and environment come from the same `Shell`, and then turned
//! into a `std::process::Command` (`From<Cmd>`): xshell's `run`/`output` block
//! until the tool ends, while a step needs its output piped line by line (to
//! the terminal, the log and the redactor at once), a poll to notice Ctrl-C,
//! and a way to stop the tool.
#![allow(clippy::disallowed_methods)] // the one place that spawns processes

mod env;
mod logfile;
mod progress;
pub mod scratch;
mod secret;
mod signals;
mod step;
mod stream;
#[cfg(test)]
mod tests;
mod tools;

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use xshell::Shell;

use crate::output;
use crate::{bad, paths};

pub use env::remember as remember_secret;
pub use progress::{bytes as human_bytes, Meter, Progress};
pub use secret::{PrivateDir, SecretFile};
pub use signals::Deferral;
pub use step::{quote, Step};
pub use stream::Session;
pub use tools::install_hint;

/// How often a running step looks at its child and at Ctrl-C.
const POLL: Duration = Duration::from_millis(50);
/// How long to keep reading after the tool exited, for output still in the
/// pipes; a background process that kept them open is not waited for.
const DRAIN: Duration = Duration::from_secs(2);
/// After Ctrl-C, how long a tool may take to clean up (packer deletes the
/// build server) before it is killed. A second Ctrl-C kills it at once.
const GRACE: Duration = Duration::from_secs(60);
/// With `-q`, how much of a failed step's output is shown.
const QUIET_TAIL_LINES: usize = 20;
/// A step whose tool prints nothing for this long gets a line saying it
/// still runs (packer is quiet for minutes while the cloud works).
const HEARTBEAT: Duration = Duration::from_secs(30);
/// For tests: the heartbeat interval in seconds instead of 30.
const HEARTBEAT_ENV: &str = "XTASK_HEARTBEAT_SECS";

fn heartbeat_interval() -> Duration {
    std::env::var(HEARTBEAT_ENV)
        .ok()
        .and_then(|secs| secs.trim().parse::<u64>().ok())
        .filter(|secs| *secs > 0)
        .map_or(HEARTBEAT, Duration::from_secs)
}

pub struct Runner {
    sh: Shell,
    log_dir: PathBuf,
    root: Option<PathBuf>,
    quiet: bool,
    grace: Duration,
    echo: Echo,
    /// Query tools kept running for the runner's life (see `with_session`),
    /// by working folder and command line.
    sessions: std::cell::RefCell<std::collections::HashMap<String, stream::Session>>,
    /// Ctrl-C presses made up by a test, for this runner only.
    #[cfg(test)]
    simulated: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// What a query command printed, and whether it succeeded.
pub struct Answer {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// A query still running (see `Runner::query_later`); dropped unread, it is stopped.
pub struct Pending {
    child: Option<Child>,
    /// `program args…`, for messages.
    command: String,
}

impl Pending {
    /// Waits for the query to end: what it printed, and whether it succeeded.
    pub fn answer(mut self) -> Result<Answer> {
        let child = self
            .child
            .take()
            .context("the query was collected already")?;
        let output = child
            .wait_with_output()
            .with_context(|| format!("lost track of `{}`", self.command))?;
        Ok(Answer {
            ok: output.status.success(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }

    /// Its standard output, or an error with its message, as [`Runner::git`].
    pub fn stdout(self) -> Result<Vec<u8>> {
        let command = self.command.clone();
        let answer = self.answer()?;
        if !answer.ok {
            anyhow::bail!("`{command}` failed: {}", answer.stderr);
        }
        Ok(answer.stdout)
    }
}

/// The entries of a tool's `-z` output (NUL-separated; empty ones dropped).
pub fn nul_separated(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split('\0')
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
        .collect()
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How a step ended. Secret values are `***` in every text here.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit status 0 and not interrupted: the step is done.
    pub ok: bool,
    /// The exit code; `None` when the tool was ended by a signal.
    pub code: Option<i32>,
    /// The step's log file; empty for `capture`, which keeps no log.
    pub log: PathBuf,
    pub elapsed: Duration,
    /// Standard output and standard error, as they came.
    pub output: String,
    /// Standard output alone, for answers to parse (`-f json`).
    pub stdout: String,
    /// Ctrl-C was pressed while the step ran: it counts as not done.
    pub interrupted: bool,
}

impl Outcome {
    fn not_started() -> Outcome {
        Outcome {
            ok: false,
            code: None,
            log: PathBuf::new(),
            elapsed: Duration::ZERO,
            output: String::new(),
            stdout: String::new(),
            interrupted: true,
        }
    }
}

/// Where the runner's own lines and the tools' output go.
enum Echo {
    Terminal,
    #[cfg(test)]
    Buffer(std::rc::Rc<std::cell::RefCell<Vec<u8>>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// What one run of a tool gave.
struct Run {
    status: ExitStatus,
    elapsed: Duration,
    output: String,
    stdout: String,
    interrupted: bool,
    log_error: Option<std::io::Error>,
}

/// Where a run's lines go besides `Run::output`.
struct Sinks<'a> {
    log: Option<&'a mut File>,
    /// Stream the tool's output to the terminal.
    echo: bool,
    /// Say so when stopping the tool after Ctrl-C.
    announce: bool,
}

/// Ctrl-C was seen while the tool ran: it was asked to stop at `since`.
struct Stopping {
    since: Instant,
    killed: bool,
}

impl Runner {
    /// A runner for the current folder; logs go to `target/xtask/logs` in it.
    fn new() -> Result<Runner> {
        let sh = Shell::new().context("cannot start a shell context")?;
        let log_dir = sh.current_dir().join(paths::XTASK_STATE_DIR).join("logs");
        Ok(Runner {
            sh,
            log_dir,
            root: None,
            quiet: false,
            grace: GRACE,
            echo: Echo::Terminal,
            sessions: Default::default(),
            #[cfg(test)]
            simulated: Default::default(),
        })
    }

    /// A runner for the monorepo at `root`: a step's relative folder is taken
    /// from it, and logs go to `<root>/target/xtask/logs`.
    pub fn for_root(root: &Path) -> Result<Runner> {
        // xshell starts from the current folder; when that is gone (deleted
        // under the shell), start from the root instead: every step runs
        // from the root anyway.
        if std::env::current_dir().is_err() {
            std::env::set_current_dir(root).with_context(|| {
                format!(
                    "the current folder is gone, and {} cannot be entered",
                    root.display()
                )
            })?;
        }
        let runner = Runner::new()?;
        runner.sh.change_dir(root);
        Ok(Runner {
            log_dir: root.join(paths::XTASK_STATE_DIR).join("logs"),
            root: Some(root.to_path_buf()),
            ..runner
        })
    }

    /// Logs go to `dir` instead of `<root>/target/xtask/logs`: Context puts
    /// them in its state folder (`~/.cache/xtask` outside a checkout).
    pub fn set_log_dir(&mut self, dir: PathBuf) {
        self.log_dir = dir;
    }

    /// Quiet: the tools' output is not streamed (it is still logged, and its
    /// last lines are shown when a step fails).
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// Runs a read-only query (git, a `--version`) in `dir`, capturing its output.
    pub fn query(&self, dir: &Path, program: &str, args: &[&str]) -> Result<Answer> {
        self.query_later(dir, program, args)?.answer()
    }

    /// Starts the same read-only query now and leaves it running: the answer
    /// is collected with [`Pending::answer`], so the tool works while the
    /// xtask does (two cores, one command).
    pub fn query_later(&self, dir: &Path, program: &str, args: &[&str]) -> Result<Pending> {
        let step = Step::new("", program).args(args.iter().copied()).dir(dir);
        Ok(Pending {
            child: Some(self.spawn(&step)?),
            command: std::iter::once(program)
                .chain(args.iter().copied())
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    /// `git <args>` in `dir`; its standard output, or an error with git's message.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
        let answer = self.query(dir, "git", args)?;
        if !answer.ok {
            anyhow::bail!("`git {}` failed: {}", args.join(" "), answer.stderr);
        }
        Ok(answer.stdout)
    }

    /// Runs step `n` of `total`: prints `[n/N] title` and `  $ command line`,
    /// streams the tool's output live and into a new log file
    /// `<log dir>/<yyyymmdd-hhmmss>-<n>-<slug>.log` (secret values replaced
    /// by `***` in both), then prints `  done in 12.3s` or
    /// `  failed (exit 2) after 3.1s; full log: <path>`.
    ///
    /// Returns the outcome whether the tool succeeded or not; `Err` only when
    /// it could not be started. After Ctrl-C no step starts any more: it
    /// returns at once, interrupted.
    pub fn step(&self, n: usize, total: usize, step: &Step) -> Result<Outcome> {
        refuse_leaks(step)?;
        self.say(&format!("[{n}/{total}] {}", step.title()));
        self.say(&format!("  $ {}", step.shown(self.root.as_deref())));
        if self.presses() > 0 {
            self.say("  not started: interrupted");
            return Ok(Outcome::not_started());
        }
        let started = SystemTime::now();
        let (log_path, mut log) = logfile::create(&self.log_dir, n, step.title(), started)?;
        let header = format!(
            "# [{n}/{total}] {}\n# $ {}\n# started {}\n",
            step.title(),
            step.shown(self.root.as_deref()),
            logfile::readable(started)
        );
        let mut log_error = log.write_all(header.as_bytes()).err();

        let _deferral = Deferral::new();
        let sinks = Sinks {
            log: Some(&mut log),
            echo: !self.quiet,
            announce: true,
        };
        let run = match self.execute(step, sinks) {
            Ok(run) => run,
            Err(err) => {
                let _ = writeln!(log, "# could not start: {err:#}");
                return Err(err);
            }
        };
        log_error = log_error.or(run.log_error);

        let took = logfile::elapsed(run.elapsed);
        let ok = run.status.success() && !run.interrupted;
        let (verdict, footer) = if run.interrupted {
            (
                format!(
                    "  interrupted after {took}: the step is not done; full log: {}",
                    log_path.display()
                ),
                format!("# interrupted ({}) after {took}", ended(run.status)),
            )
        } else if ok {
            (format!("  done in {took}"), format!("# done in {took}"))
        } else {
            (
                format!(
                    "  failed ({}) after {took}; full log: {}",
                    ended(run.status),
                    log_path.display()
                ),
                format!("# failed ({}) after {took}", ended(run.status)),
            )
        };
        if let Err(err) = writeln!(log, "{footer}") {
            log_error = log_error.or(Some(err));
        }
        if self.quiet && !ok && !run.interrupted {
            for line in tail(&run.output, QUIET_TAIL_LINES) {
                self.say(&format!("  | {line}"));
            }
        }
        self.say(&verdict);
        if let Some(err) = log_error {
            self.say(&format!(
                "  warning: the log {} is incomplete: {err}",
                log_path.display()
            ));
        }
        Ok(Outcome {
            ok,
            code: run.status.code(),
            log: log_path,
            elapsed: run.elapsed,
            output: run.output,
            stdout: run.stdout,
            interrupted: run.interrupted,
        })
    }

    /// Runs a tool silently and returns what it printed, secret values
    /// redacted; for queries (`knife cookbook show`, `vault kv get -field=…`,
    /// `openstack image show -f json`). No log is kept: a query's answer may
    /// itself be a secret. Ctrl-C stops it like a step.
    pub fn capture(&self, step: &Step) -> Result<Outcome> {
        refuse_leaks(step)?;
        if self.presses() > 0 {
            return Ok(Outcome::not_started());
        }
        let _deferral = Deferral::new();
        let sinks = Sinks {
            log: None,
            echo: false,
            announce: false,
        };
        let run = self.execute(step, sinks)?;
        Ok(Outcome {
            ok: run.status.success() && !run.interrupted,
            code: run.status.code(),
            log: PathBuf::new(),
            elapsed: run.elapsed,
            output: run.output,
            stdout: run.stdout,
            interrupted: run.interrupted,
        })
    }

    /// Creates the log folder and the state folder that holds it (`Context::
    /// state_dir`), both private (0700): for what the xtask records besides
    /// logs (`release.json`).
    pub fn create_private_state_dir(&self) -> Result<()> {
        logfile::private_dir(&self.log_dir)
            .with_context(|| format!("cannot create the folder {}", self.log_dir.display()))
    }

    /// Where `program` is on `PATH`, or `None`.
    pub fn which(program: &str) -> Option<PathBuf> {
        tools::which(program)
    }

    /// Stops before anything runs when tools are missing: one error (exit 2)
    /// naming every missing tool and how to get it.
    pub fn require_tools(&self, tools: &[&str]) -> Result<()> {
        let mut missing: Vec<&str> = Vec::new();
        for &tool in tools {
            let found = if tool.contains('/') {
                let path = self.sh.current_dir().join(tool);
                Runner::which(&path.to_string_lossy()).is_some()
            } else {
                Runner::which(tool).is_some()
            };
            if !found && !missing.contains(&tool) {
                missing.push(tool);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let what = match missing.len() {
            1 => "a tool it needs is".to_string(),
            n => format!("{n} tools it needs are"),
        };
        let list: String = missing
            .iter()
            .map(|tool| format!("\n  {tool}: {}", install_hint(tool)))
            .collect();
        Err(bad!(
            "cannot start: {what} not on PATH (nothing was run){list}"
        ))
    }

    /// Whether SIGINT, SIGTERM or SIGHUP arrived while a tool ran, a secret
    /// file existed or a write was committed. Once one did, no step starts
    /// any more.
    pub fn interrupted() -> bool {
        signals::caught().is_some()
    }

    /// Ctrl-C presses that this runner must obey.
    fn presses(&self) -> usize {
        #[cfg(test)]
        let simulated = self.simulated.load(std::sync::atomic::Ordering::SeqCst);
        #[cfg(not(test))]
        let simulated = 0;
        signals::presses() + simulated
    }

    fn spawn(&self, step: &Step) -> Result<Child> {
        let dir = step
            .working_dir()
            .map(|dir| self.sh.current_dir().join(dir));
        if let Some(dir) = &dir {
            if !dir.is_dir() {
                anyhow::bail!(
                    "cannot run `{}`: its folder {} does not exist",
                    step.program(),
                    dir.display()
                );
            }
        }
        let mut command: Command = {
            let _dir = dir.as_ref().map(|dir| self.sh.push_dir(dir));
            let env = step.plain_env().iter().chain(step.secret_pairs());
            self.sh
                .cmd(step.program())
                .args(step.arguments())
                .envs(env.map(|(key, value)| (key, value)))
                .into()
        };
        // Credentials the tool does not read itself stay out of its
        // environment (and so out of everything it starts); see `env`.
        for key in env::denied(step.program(), std::env::vars_os()) {
            if !step.sets_env(&key) {
                command.env_remove(key);
            }
        }
        let stdin = match step.input() {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        };
        command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping it reaches whatever it
            // started too (packer's plugins, a shell's children), and a
            // terminal's Ctrl-C reaches the xtask alone, which stops the tool.
            .process_group(0);
        command.spawn().map_err(|err| {
            let program = step.program();
            match err.kind() {
                std::io::ErrorKind::NotFound if program.contains('/') => {
                    anyhow::anyhow!("cannot run `{program}`: there is no such file")
                }
                std::io::ErrorKind::NotFound => anyhow::anyhow!(
                    "cannot run `{program}`: it is not installed or not on PATH; get it: {}",
                    install_hint(program)
                ),
                _ => anyhow::Error::new(err).context(format!("cannot run `{program}`")),
            }
        })
    }

    /// Runs the tool to its end, or until Ctrl-C stopped it.
    fn execute(&self, step: &Step, mut sinks: Sinks<'_>) -> Result<Run> {
        let started = Instant::now();
        let mut child = self.spawn(step)?;
        let pid = child.id();
        if let (Some(bytes), Some(mut pipe)) = (step.input(), child.stdin.take()) {
            let bytes = bytes.to_vec();
            // Dropping the pipe at the end closes it: the tool sees the end.
            // An error means the tool stopped reading; its exit status says why.
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let lines = read_lines(child.stdout.take(), child.stderr.take());

        let redactor = step.redactor();
        let mut run_output = String::new();
        let mut run_stdout = String::new();
        let mut log_error = None;
        let mut take = |stream: Stream, bytes: &[u8]| {
            let text = redactor.redact(&String::from_utf8_lossy(bytes));
            let shown: Cow<str> = if text.ends_with('\n') {
                Cow::Borrowed(&text)
            } else {
                Cow::Owned(format!("{text}\n"))
            };
            if let Some(log) = sinks.log.as_mut() {
                if let Err(err) = log.write_all(shown.as_bytes()) {
                    log_error.get_or_insert(err);
                }
            }
            if sinks.echo {
                self.write_out(stream == Stream::Err, &shown);
            }
            if stream == Stream::Out {
                run_stdout.push_str(&text);
            }
            run_output.push_str(&text);
        };

        let mut bar = step
            .meter()
            .filter(|_| sinks.echo)
            .map(|progress| progress::Bar::new(progress.clone(), self.draws_in_place()));
        let mut streams_open = true;
        let mut exited: Option<(ExitStatus, Instant)> = None;
        let mut stopping: Option<Stopping> = None;
        let mut interrupted = false;
        // Only a step whose output is shown says it is still running.
        let heartbeat = (sinks.announce && sinks.echo).then(heartbeat_interval);
        let (mut last_output, mut last_beat) = (started, started);
        let status = loop {
            if streams_open {
                match lines.recv_timeout(POLL) {
                    Ok((stream, bytes)) => {
                        take(stream, &bytes);
                        last_output = Instant::now();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => streams_open = false,
                }
            } else if exited.is_none() {
                thread::sleep(POLL);
            }
            if let Some(every) = heartbeat {
                let quiet = last_output.max(last_beat);
                if exited.is_none() && stopping.is_none() && quiet.elapsed() >= every {
                    self.say(&format!(
                        "  … `{}` still running: {} so far, no output for {}",
                        step.program(),
                        logfile::elapsed(started.elapsed()),
                        logfile::elapsed(last_output.elapsed())
                    ));
                    last_beat = Instant::now();
                }
            }
            if exited.is_none() {
                match child.try_wait() {
                    Ok(Some(status)) => exited = Some((status, Instant::now())),
                    Ok(None) => {}
                    Err(err) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(err).with_context(|| {
                            format!("lost track of `{}` (pid {pid})", step.program())
                        });
                    }
                }
            }
            if let (Some(bar), None) = (bar.as_mut(), exited) {
                bar.tick(pid, &mut |to_stderr, text| self.write_out(to_stderr, text));
            }
            let presses = self.presses();
            interrupted |= presses > 0;
            if exited.is_none() && presses > 0 {
                self.stop(&mut child, step, presses, &mut stopping, sinks.announce);
            }
            if let Some((status, at)) = exited {
                if interrupted {
                    // What the tool left running in its group goes with it:
                    // no orphan outlives an interrupted step.
                    signals::send_group(pid, signals::SIGKILL);
                }
                if !streams_open || at.elapsed() >= DRAIN {
                    break status;
                }
            }
        };
        // What is already in the pipes' queue, if a background process kept
        // them open past the drain time.
        while let Ok((stream, bytes)) = lines.try_recv() {
            take(stream, &bytes);
        }
        if let Some(bar) = bar.as_mut() {
            let ok = status.success() && !interrupted;
            bar.finish(pid, ok, &mut |to_stderr, text| {
                self.write_out(to_stderr, text)
            });
        }
        Ok(Run {
            status,
            elapsed: started.elapsed(),
            output: run_output,
            stdout: run_stdout,
            interrupted,
            log_error,
        })
    }

    /// After SIGINT, SIGTERM or SIGHUP: SIGTERM to the tool's whole process
    /// group first, then SIGKILL to the group on a second signal or after
    /// the grace time.
    fn stop(
        &self,
        child: &mut Child,
        step: &Step,
        presses: usize,
        stopping: &mut Option<Stopping>,
        announce: bool,
    ) {
        match stopping {
            None => {
                signals::send_group(child.id(), signals::SIGTERM);
                if announce {
                    self.say(&format!(
                        "  interrupted: waiting for `{}` to stop; Ctrl-C again kills it now (else it is killed after {})",
                        step.program(),
                        logfile::elapsed(self.grace)
                    ));
                }
                *stopping = Some(Stopping {
                    since: Instant::now(),
                    killed: false,
                });
            }
            // No step starts after a Ctrl-C, so a second press is `presses >= 2`.
            Some(state)
                if !state.killed && (presses >= 2 || state.since.elapsed() >= self.grace) =>
            {
                // The child is not reaped yet (try_wait said so), so its pid
                // still names its group. An error means it ended meanwhile.
                signals::send_group(child.id(), signals::SIGKILL);
                state.killed = true;
                if announce {
                    self.say(&format!("  killed `{}`", step.program()));
                }
            }
            Some(_) => {}
        }
    }

    /// Whether a progress bar can be redrawn in place: standard error is a terminal.
    fn draws_in_place(&self) -> bool {
        match &self.echo {
            Echo::Terminal => output::is_terminal(output::Stream::Stderr),
            #[cfg(test)]
            Echo::Buffer(_) => false,
        }
    }

    /// One of the runner's own lines, to standard output.
    fn say(&self, line: &str) {
        self.write_out(false, &format!("{line}\n"));
    }

    /// Through `output`, like every line: a closed terminal does not stop a
    /// command that writes or runs tools half-way, and the log keeps everything.
    #[allow(clippy::disallowed_methods)] // the tools' own output, under the runner's rules for -q
    fn write_out(&self, to_stderr: bool, text: &str) {
        match &self.echo {
            Echo::Terminal if to_stderr => output::write(output::Stream::Stderr, text),
            Echo::Terminal => output::write(output::Stream::Stdout, text),
            #[cfg(test)]
            Echo::Buffer(buffer) => buffer.borrow_mut().extend_from_slice(text.as_bytes()),
        }
    }
}

/// Installs the SIGINT/SIGTERM/SIGHUP handlers: see `signals`.
pub fn install_signal_handlers() {
    signals::install();
}

/// The signal that interrupted the command, if one did.
pub fn caught_signal() -> Option<i32> {
    signals::caught()
}

/// `SIGTERM`, for messages.
pub fn signal_name(signal: i32) -> String {
    signals::name(signal)
}

/// `2021-02-01 13:04:05 UTC`.
pub fn readable_time(time: SystemTime) -> String {
    logfile::readable(time)
}

/// A secret value in an argument would show in `ps` and in every log.
fn refuse_leaks(step: &Step) -> Result<()> {
    match step.leaked_secret() {
        Some(place) => anyhow::bail!(
            "refusing to run `{}`: a secret value would show in {place}; pass it in a SecretFile or on standard input (Step::secret), or with secret_env",
            step.program()
        ),
        None => Ok(()),
    }
}

/// Reads both pipes on threads of their own, line by line, into one queue in
/// the order the lines came. The queue closes when both pipes are at their end.
fn read_lines(
    stdout: Option<impl Read + Send + 'static>,
    stderr: Option<impl Read + Send + 'static>,
) -> Receiver<(Stream, Vec<u8>)> {
    let (sender, receiver) = mpsc::channel();
    let readers: [(Stream, Option<Box<dyn Read + Send>>); 2] = [
        (
            Stream::Out,
            stdout.map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            Stream::Err,
            stderr.map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ];
    for (stream, pipe) in readers {
        let Some(pipe) = pipe else { continue };
        let sender = sender.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if sender.send((stream, line)).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    receiver
}

/// `exit 2`, or `killed by signal 9`.
fn ended(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "no exit status".to_string(),
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines.into_iter().skip(skip)
}
