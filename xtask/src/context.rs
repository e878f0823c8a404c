//! What every command is given: the monorepo root, how loud to be, colour, and
//! the one place that asks the user anything.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::bad;
use crate::flags::{Confirm, Xtask};
use crate::output::{self, Stream};
use crate::runner::Runner;
use crate::sites::{self, paths, Inventory};
use crate::style::Paint;
use crate::tree::WorkTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Why a folder was taken as the monorepo root: shown with -v, and in errors.
enum RootSource {
    Flag,
    /// The nearest checkout above the current folder.
    CurrentFolder {
        cwd: PathBuf,
    },
}

impl RootSource {
    fn why(&self) -> String {
        match self {
            RootSource::Flag => "given with -C".to_string(),
            RootSource::CurrentFolder { cwd } => {
                format!(
                    "the checkout that holds the current folder {}",
                    cwd.display()
                )
            }
        }
    }
}

/// The root, found once: -C, else the nearest checkout above the current
/// folder. Nothing else: not the checkout this binary was built in, not a
/// `CARGO_MANIFEST_DIR` from the environment (`cargo xtask` keeps the folder
/// it was invoked in as the current one, so the current folder is enough).
/// Outside a checkout, without -C, there is no root: exit 2.
fn find_root(flags: &Xtask) -> Result<(PathBuf, RootSource)> {
    if let Some(dir) = &flags.root {
        return Ok((dir.clone(), RootSource::Flag));
    }
    let cwd = std::env::current_dir().map_err(|err| {
        bad!("cannot tell the current folder ({err}); pass the checkout with -C <DIR>")
    })?;
    match cwd.ancestors().find(|dir| is_checkout(dir)) {
        Some(checkout) => Ok((
            checkout.to_path_buf(),
            RootSource::CurrentFolder { cwd: cwd.clone() },
        )),
        None => Err(bad!(
            "no edge-cloud-infra checkout holds the current folder {} (none of its folders has {}); run the xtask inside a checkout or pass it with -C <DIR>. Nothing was read, written or run.",
            cwd.display(),
            paths::MAKEFILE
        )),
    }
}

/// `$XDG_CACHE_HOME/xtask`, else `~/.cache/xtask`: the state folder of a
/// command run outside a checkout.
fn user_cache_dir() -> Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".cache")))
        .ok_or_else(|| {
            bad!("neither XDG_CACHE_HOME nor HOME is set: outside a checkout there is nowhere to keep logs and images between runs; set one. Nothing was run.")
        })?;
    Ok(cache.join("xtask"))
}

/// An edge-cloud-infra checkout: it has the base image package's Makefile.
fn is_checkout(dir: &Path) -> bool {
    dir.join(paths::MAKEFILE).is_file()
}

fn verbosity(flags: &Xtask) -> Verbosity {
    if flags.quiet {
        Verbosity::Quiet
    } else if flags.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

pub struct Context {
    /// The edge-cloud-infra checkout, absolute.
    pub root: PathBuf,
    /// Where the xtask keeps its own files between runs (logs, downloaded
    /// images): the checkout's `target/xtask`, or without a checkout
    /// `$XDG_CACHE_HOME/xtask` (`~/.cache/xtask`).
    pub state_dir: PathBuf,
    pub paint: Paint,
    pub verbosity: Verbosity,
    pub stdin_is_terminal: bool,
    runner: Runner,
}

impl Context {
    pub fn from_flags(flags: &Xtask) -> Result<Context> {
        let (root, found) = find_root(flags)?;
        let root = root.canonicalize().map_err(|err| {
            bad!(
                "cannot use {} as the monorepo root ({}): {err}",
                root.display(),
                found.why()
            )
        })?;
        if !is_checkout(&root) {
            return Err(bad!(
                "{} is not an edge-cloud-infra checkout ({}): {} is missing; run the xtask inside a checkout or pass it with -C <DIR>",
                root.display(),
                found.why(),
                paths::MAKEFILE
            ));
        }
        let state_dir = root.join(paths::XTASK_STATE_DIR);
        let ctx = Context::new(flags, root, state_dir)?;
        ctx.detail(format!(
            "monorepo root: {} ({})",
            ctx.root.display(),
            found.why()
        ));
        Ok(ctx)
    }

    /// For a command that also works outside a checkout (`publish-image
    /// <VERSION>` on a cloud VM): the checkout given with -C or holding the
    /// current folder, as for every command, and `true`; when there is none,
    /// the current folder and `false`. Never the checkout the binary was
    /// built in: an installed binary must not reach back into that tree.
    pub fn from_flags_checkout_optional(flags: &Xtask) -> Result<(Context, bool)> {
        let cwd =
            std::env::current_dir().map_err(|err| bad!("cannot tell the current folder: {err}"))?;
        if flags.root.is_some() || cwd.ancestors().any(is_checkout) {
            return Ok((Context::from_flags(flags)?, true));
        }
        let ctx = Context::new(flags, cwd, user_cache_dir()?)?;
        ctx.detail("no edge-cloud-infra checkout here: working without one");
        Ok((ctx, false))
    }

    fn new(flags: &Xtask, root: PathBuf, state_dir: PathBuf) -> Result<Context> {
        let verbosity = verbosity(flags);
        let mut runner = Runner::for_root(&root)?;
        runner.set_log_dir(state_dir.join("logs"));
        runner.set_quiet(verbosity == Verbosity::Quiet);
        Ok(Context {
            root,
            state_dir,
            paint: Paint::new(flags.color),
            verbosity,
            stdin_is_terminal: std::io::stdin().is_terminal(),
            runner,
        })
    }

    /// The one runner of the command: tools run from the root, their logs go
    /// under the state folder's `logs`, and with -q their output goes only there.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The checkout's working tree, to read from.
    pub fn work_tree(&self) -> WorkTree {
        WorkTree {
            root: self.root.clone(),
        }
    }

    /// Every version site of the working tree (a missing or malformed site:
    /// bad input, exit 2).
    pub fn inventory(&self) -> Result<Inventory> {
        sites::load(&self.work_tree())
    }

    /// An absolute path for a path relative to the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    // What a command prints, and where: every line goes through one of these
    // (the crate denies `println!` and friends elsewhere). Each prints its
    // text as whole lines: a newline is added unless the text ends with one
    // (an empty text prints nothing).

    /// Progress and explanations, on standard output; suppressed by -q.
    pub fn say(&self, text: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            print(Stream::Stdout, text.as_ref());
        }
    }

    /// The command's answer (a report, a table, JSON), on standard output:
    /// printed whatever -q says, since it is what the command was run for.
    pub fn answer(&self, text: impl AsRef<str>) {
        print(Stream::Stdout, text.as_ref());
    }

    /// Details shown only with -v, on standard error.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            print(Stream::Stderr, &self.paint.dim(text.as_ref()));
        }
    }

    /// `warning: <text>` on standard error, shown even with -q.
    pub fn warn(&self, text: impl AsRef<str>) {
        print(
            Stream::Stderr,
            &format!("{}: {}", self.paint.warning("warning"), text.as_ref()),
        );
    }

    /// `error: <text>` on standard error, shown even with -q: for a command
    /// that reports its own failure (and then returns `AlreadyReported`).
    pub fn error(&self, text: impl AsRef<str>) {
        print(
            Stream::Stderr,
            &format!("{}: {}", self.paint.error("error"), text.as_ref()),
        );
    }

    /// What goes with a warning or an error (findings, a list of causes, a
    /// tool's own words), as it is, on standard error; shown even with -q.
    pub fn explain(&self, text: impl AsRef<str>) {
        print(Stream::Stderr, text.as_ref());
    }

    /// After a preview: should the command go ahead? `Ok(false)` means stop
    /// without error (a dry run, or the user said no). Refuses with exit 2 when
    /// nobody can be asked.
    pub fn confirm(&self, confirm: Confirm, question: &str) -> Result<bool> {
        if confirm.dry_run {
            self.say("dry run: nothing was written and nothing was run.");
            return Ok(false);
        }
        if confirm.yes {
            return Ok(true);
        }
        self.require_answerable(confirm)?;
        let answer = self.ask(&format!("{question} [y/N] "))?;
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            Ok(true)
        } else {
            self.say("Stopped: nothing was written and nothing was run.");
            Ok(false)
        }
    }

    /// Refuses at once (exit 2, nothing written or run) when the command would
    /// have to ask and nobody can answer: called before any work starts.
    pub fn require_answerable(&self, confirm: Confirm) -> Result<()> {
        if !confirm.yes && !confirm.dry_run && !self.stdin_is_terminal {
            return Err(bad!(
                "standard input is not a terminal, so nobody can confirm; pass --yes to go ahead or --dry-run to only preview. Nothing was written and nothing was run."
            ));
        }
        Ok(())
    }

    /// Reads one line from the terminal after printing a prompt.
    pub fn ask(&self, prompt: &str) -> Result<String> {
        if !self.stdin_is_terminal {
            return Err(bad!(
                "standard input is not a terminal, so nobody can answer `{}`",
                prompt.trim()
            ));
        }
        #[allow(clippy::disallowed_methods)] // a prompt has no newline of its own
        output::write(Stream::Stderr, prompt);
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the answer from the terminal")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// Where every line of Context goes: as whole lines, to `output`.
#[allow(clippy::disallowed_methods)] // Context is where commands print
fn print(stream: Stream, text: &str) {
    output::write_lines(stream, text);
}
