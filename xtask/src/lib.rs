//! `cargo xtask`: the edge-cloud-infra base VM image release as a few safe
//! commands. The library holds every command; `main.rs` only calls [`main`].

// Commands print through `Context` (say, answer, detail, warn, error,
// explain), which applies -q and -v; only `output` touches the standard
// streams. std's print macros are refused so that no line slips past both.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod artifactory;
mod build_image;
mod build_package;
mod bump_base_image;
mod changeset;
mod check;
mod checksum;
mod chef_policy;
mod chef_push;
mod commit;
mod context;
mod cookbooks;
mod debian;
mod deps;
mod diff;
mod doctor;
mod error;
mod flags;
mod formats;
mod git;
mod git_dir;
mod install_hooks;
mod lock;
mod mentions;
mod output;
mod paths;
mod plan;
mod publish_image;
mod release;
mod rules;
mod runner;
mod semver;
mod sites;
mod style;
/// Shared with the integration tests: CI-aware skips and apt indexes.
#[doc(hidden)]
pub mod test_support;
mod tree;
mod versions;

use clap::Parser;

use crate::flags::Cmd;

/// Parses the command line, builds the context, takes the writer lock and
/// finishes an interrupted write when there is one, dispatches; exits with
/// the status the error asks for, or 128+signal after SIGINT, SIGTERM or
/// SIGHUP.
pub fn main() {
    runner::install_signal_handlers();
    let flags = flags::Xtask::parse();
    if flags.cmd.only_reads() {
        output::end_on_closed_pipe();
    }
    let paint = style::Paint::new(flags.color);
    let result = run(flags);
    if let Some(signal) = runner::caught_signal() {
        // Whatever the command said, it was cut short: the tool it ran was
        // stopped, its secret files removed, a write completed or undone.
        if let Err(err) = &result {
            if !error::already_reported(err) {
                print_error(&paint, &format!("{err:#}"));
            }
        }
        print_error(
            &paint,
            &format!("interrupted by {}", runner::signal_name(signal)),
        );
        std::process::exit(128 + signal);
    }
    if let Err(err) = result {
        if !error::already_reported(&err) {
            print_error(&paint, &format!("{err:#}"));
        }
        std::process::exit(error::exit_status(&err));
    }
}

/// The last word of a command that failed; there may be no Context to say it.
#[allow(clippy::disallowed_methods)] // before or after any Context
fn print_error(paint: &style::Paint, text: &str) {
    output::write_lines(
        output::Stream::Stderr,
        &format!("{}: {text}", paint.error("error")),
    );
}

fn run(flags: flags::Xtask) -> anyhow::Result<()> {
    let (ctx, checkout) = match flags.cmd {
        // Also outside a checkout: on a cloud VM, given a VERSION.
        Cmd::PublishImage(_) => context::Context::from_flags_checkout_optional(&flags)?,
        _ => (context::Context::from_flags(&flags)?, true),
    };
    // Outside a checkout there is no tree to lock or to recover.
    let _lock = if checkout {
        prepare(&ctx, &flags.cmd)?
    } else {
        None
    };
    match flags.cmd {
        Cmd::Versions(cmd) => cmd.run(&ctx),
        Cmd::Check(cmd) => cmd.run(&ctx),
        Cmd::BumpBaseImage(cmd) => cmd.run(&ctx),
        Cmd::Mentions(cmd) => cmd.run(&ctx),
        Cmd::Deps(cmd) => cmd.run(&ctx),
        Cmd::BuildPackage(cmd) => cmd.run(&ctx),
        Cmd::BuildImage(cmd) => cmd.run(&ctx),
        Cmd::ChefPolicy(cmd) => cmd.run(&ctx),
        Cmd::ChefPush(cmd) => cmd.run(&ctx),
        Cmd::PublishImage(cmd) => cmd.run(&ctx, checkout),
        Cmd::Doctor(cmd) => cmd.run(&ctx),
        Cmd::InstallHooks(cmd) => cmd.run(&ctx),
        Cmd::Release(cmd) => cmd.run(&ctx),
    }
}

/// Before a command runs: a command that writes files or runs tools takes the
/// writer lock (a second one is refused, exit 2); then a write that an earlier
/// command left unfinished is rolled back. A read-only command rolls it back
/// too when no writer runs (taking the lock for that moment only).
fn prepare(ctx: &context::Context, cmd: &Cmd) -> anyhow::Result<Option<lock::WriterLock>> {
    // Commands that write files or run tools (dry runs too: their previews
    // read files a running writer may be changing).
    if !cmd.only_reads() {
        let lock = lock::acquire(&ctx.root)?;
        if let Some(message) = changeset::recover_interrupted(&ctx.root)? {
            ctx.warn(message);
        }
        return Ok(Some(lock));
    }
    if changeset::journal_exists(&ctx.root) {
        match lock::with_lock_if_free(&ctx.root, || changeset::recover_interrupted(&ctx.root)) {
            Ok(Some(Ok(Some(message)))) => ctx.warn(message),
            Ok(Some(Ok(None))) => {}
            Ok(Some(Err(err))) | Err(err) => ctx.warn(format!("{err:#}")),
            Ok(None) => ctx.warn(
                "another xtask command is writing to this checkout right now; what this command reads may change under it",
            ),
        }
    }
    Ok(None)
}
