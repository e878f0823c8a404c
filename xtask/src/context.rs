//! What every command is given: the monorepo root, how loud to be, colour, and
//! the one place that asks the user anything.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::bad;
use crate::flags::{Confirm, Xtask};
use crate::sites::paths;
use crate::style::Paint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Why a folder was taken as the monorepo root: shown with -v, and in errors.
enum RootSource {
    Flag,
    /// `cargo run` / `cargo xtask` names the crate it runs: its workspace.
    CargoRun {
        manifest_dir: PathBuf,
    },
    /// The nearest checkout above the current folder.
    CurrentFolder {
        cwd: PathBuf,
    },
    /// Nothing else found: the checkout this binary was compiled in.
    BuiltIn {
        cwd: Option<PathBuf>,
    },
}

impl RootSource {
    fn why(&self) -> String {
        match self {
            RootSource::Flag => "given with -C".to_string(),
            RootSource::CargoRun { manifest_dir } => format!(
                "the workspace of the crate cargo runs, CARGO_MANIFEST_DIR={}",
                manifest_dir.display()
            ),
            RootSource::CurrentFolder { cwd } => {
                format!(
                    "the checkout that holds the current folder {}",
                    cwd.display()
                )
            }
            RootSource::BuiltIn { cwd: Some(cwd) } => format!(
                "no checkout holds the current folder {}, so the one this binary was built in",
                cwd.display()
            ),
            RootSource::BuiltIn { cwd: None } => {
                "the current folder is unknown, so the checkout this binary was built in"
                    .to_string()
            }
        }
    }
}

/// The root, found once: -C; else the workspace `cargo run` names (when it is a
/// checkout); else the nearest checkout above the current folder, so a binary
/// run directly judges the checkout it is run in, not the one it was built in;
/// else the compile-time checkout.
fn find_root(flags: &Xtask) -> (PathBuf, RootSource) {
    if let Some(dir) = &flags.root {
        return (dir.clone(), RootSource::Flag);
    }
    if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").filter(|v| !v.is_empty()) {
        let manifest_dir = PathBuf::from(manifest_dir);
        // Set by cargo for whatever it runs; only a crate inside a checkout counts.
        if let Some(workspace) = manifest_dir.parent().filter(|dir| is_checkout(dir)) {
            return (
                workspace.to_path_buf(),
                RootSource::CargoRun {
                    manifest_dir: manifest_dir.clone(),
                },
            );
        }
    }
    let cwd = std::env::current_dir().ok();
    if let Some(cwd) = &cwd {
        if let Some(checkout) = cwd.ancestors().find(|dir| is_checkout(dir)) {
            return (
                checkout.to_path_buf(),
                RootSource::CurrentFolder { cwd: cwd.clone() },
            );
        }
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    (built_in, RootSource::BuiltIn { cwd })
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
    pub paint: Paint,
    pub verbosity: Verbosity,
    pub stdin_is_terminal: bool,
}

impl Context {
    pub fn from_flags(flags: &Xtask) -> Result<Context> {
        let (root, found) = find_root(flags);
        Context::for_root(flags, root, found)
    }

    /// For a command that also works outside a checkout (`publish-image
    /// <VERSION>` on a cloud VM): the context of the checkout given with -C,
    /// named by `cargo run`, or holding the current folder, as for every
    /// command, and `true`; when none is, the current folder and `false`.
    /// The checkout the binary was built in is not used then: an installed
    /// binary must not reach back into the tree it was built from.
    pub fn from_flags_checkout_optional(flags: &Xtask) -> Result<(Context, bool)> {
        let (root, found) = find_root(flags);
        if !matches!(found, RootSource::BuiltIn { .. }) {
            return Ok((Context::for_root(flags, root, found)?, true));
        }
        let cwd =
            std::env::current_dir().map_err(|err| bad!("cannot tell the current folder: {err}"))?;
        let ctx = Context {
            root: cwd,
            paint: Paint::new(flags.color),
            verbosity: verbosity(flags),
            stdin_is_terminal: std::io::stdin().is_terminal(),
        };
        ctx.detail("no edge-cloud-infra checkout here: working without one");
        Ok((ctx, false))
    }

    fn for_root(flags: &Xtask, root: PathBuf, found: RootSource) -> Result<Context> {
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
        let verbosity = verbosity(flags);
        let ctx = Context {
            root,
            paint: Paint::new(flags.color),
            verbosity,
            stdin_is_terminal: std::io::stdin().is_terminal(),
        };
        ctx.detail(format!(
            "monorepo root: {} ({})",
            ctx.root.display(),
            found.why()
        ));
        Ok(ctx)
    }

    /// An absolute path for a path relative to the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Progress and explanations; suppressed by -q.
    pub fn say(&self, text: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            println!("{}", text.as_ref());
        }
    }

    /// Details shown only with -v.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("{}", self.paint.dim(text.as_ref()));
        }
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        eprintln!("{}: {}", self.paint.warning("warning"), text.as_ref());
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
        let mut stderr = std::io::stderr();
        write!(stderr, "{prompt}")?;
        stderr.flush()?;
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the answer from the terminal")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}
