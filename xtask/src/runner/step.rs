//! A command to run, described before it runs: what the plans show, what the
//! runner spawns.

use std::fmt;
use std::path::{Path, PathBuf};

use super::progress::Progress;
use super::secret::Redactor;

/// A command to run: a title for the progress line, the program and its
/// arguments, a working folder, extra environment (some of it secret) and
/// optional bytes for its standard input.
///
/// Secrets go in [`Step::secret_env`] (or a [`super::SecretFile`] named in an
/// argument), never in arguments: the runner refuses to start a step whose
/// arguments or plain environment contain a secret value.
#[derive(Clone)]
pub struct Step {
    title: String,
    program: String,
    args: Vec<String>,
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    secret_env: Vec<(String, String)>,
    /// Secret values the tool gets another way (a SecretFile, standard input).
    hidden: Vec<String>,
    stdin: Option<Vec<u8>>,
    progress: Option<Progress>,
}

impl Step {
    pub fn new(title: impl Into<String>, program: &str) -> Step {
        Step {
            title: title.into(),
            program: program.to_string(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
            secret_env: Vec::new(),
            hidden: Vec::new(),
            stdin: None,
            progress: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Step {
        self.args.push(arg.into());
        self
    }

    pub fn args<I>(mut self, args: I) -> Step
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The working folder; a relative one is taken from the runner's root.
    pub fn dir(mut self, dir: &Path) -> Step {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// An environment variable, shown in the command line as `K=v`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Step {
        self.env.push((key.into(), value.into()));
        self
    }

    // For a tool that reads a secret only from its environment; build-image's
    // packer gets its secrets in a var-file instead (see `Step::secret`).
    #[allow(dead_code)]
    /// An environment variable whose value is a secret: passed to the child,
    /// shown as `K=***`, and replaced by `***` wherever the tool prints it.
    pub fn secret_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Step {
        let value = value.into();
        super::env::remember(&value);
        self.secret_env.push((key.into(), value));
        self
    }

    /// A secret value the tool reads some other way (from a [`super::SecretFile`]
    /// or its standard input), not from this step's environment: refused in
    /// arguments and environment like a secret variable, and replaced by `***`
    /// wherever the tool prints it.
    pub fn secret(mut self, value: impl Into<String>) -> Step {
        let value = value.into();
        super::env::remember(&value);
        self.hidden.push(value);
        self
    }

    /// Bytes fed to the child's standard input. Without them its standard
    /// input is empty, so a tool never waits on the terminal.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Step {
        self.stdin = Some(bytes);
        self
    }

    /// A progress bar while the step runs (bytes, rate, ETA against a total),
    /// measured from outside the tool.
    pub fn progress(mut self, progress: Progress) -> Step {
        self.progress = Some(progress);
        self
    }

    pub(super) fn meter(&self) -> Option<&Progress> {
        self.progress.as_ref()
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    pub fn working_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The command as a shell would take it, secrets hidden:
    /// `K=v S=*** make -C openstack-tenant/packages/mobiledgex clean`.
    /// The working folder and standard input are not part of it.
    pub fn command_line(&self) -> String {
        let redactor = self.redactor();
        let mut words = Vec::new();
        for (key, value) in &self.env {
            words.push(format!("{key}={}", quote(&redactor.redact(value))));
        }
        for (key, _) in &self.secret_env {
            words.push(format!("{key}=***"));
        }
        words.push(quote(&redactor.redact(&self.program)));
        words.extend(self.args.iter().map(|arg| quote(&redactor.redact(arg))));
        words.join(" ")
    }

    /// The command line with `cd <dir> &&` in front when the step has a
    /// folder, shown relative to `root` when inside it: what plans and the
    /// runner print.
    pub fn shown(&self, root: Option<&Path>) -> String {
        let line = self.command_line();
        let Some(dir) = self.working_dir() else {
            return line;
        };
        let shown = root
            .and_then(|root| dir.strip_prefix(root).ok())
            .unwrap_or(dir);
        if shown.as_os_str().is_empty() {
            line
        } else {
            format!("cd {} && {line}", quote(&shown.to_string_lossy()))
        }
    }

    pub(super) fn plain_env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Whether this step sets `key` itself (then it is not scrubbed).
    pub(super) fn sets_env(&self, key: &std::ffi::OsStr) -> bool {
        self.env
            .iter()
            .chain(&self.secret_env)
            .any(|(k, _)| std::ffi::OsStr::new(k) == key)
    }

    pub(super) fn secret_pairs(&self) -> &[(String, String)] {
        &self.secret_env
    }

    pub(super) fn input(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// Replaces every secret value of this step by `***`.
    pub(super) fn redactor(&self) -> Redactor {
        Redactor::new(
            self.secret_env
                .iter()
                .map(|(_, value)| value.as_str())
                .chain(self.hidden.iter().map(String::as_str)),
        )
    }

    /// The first place where a secret value would show: an argument or a
    /// plain environment variable. Such a step must not run.
    pub(super) fn leaked_secret(&self) -> Option<String> {
        let redactor = self.redactor();
        if redactor.finds_in(&self.program) {
            return Some("the program name".to_string());
        }
        if let Some(i) = self.args.iter().position(|arg| redactor.finds_in(arg)) {
            return Some(format!("argument {}", i + 1));
        }
        self.env
            .iter()
            .find(|(key, value)| redactor.finds_in(key) || redactor.finds_in(value))
            .map(|(key, _)| format!("the variable {key}"))
    }
}

/// Never shows secret values or the bytes for standard input.
impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("title", &self.title)
            .field("command_line", &self.command_line())
            .field("dir", &self.dir)
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .finish()
    }
}

/// Quotes a word for a POSIX shell, only when it needs it.
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
