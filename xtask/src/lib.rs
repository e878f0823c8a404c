//! `cargo xtask`: the edge-cloud-infra base VM image release as a few safe
//! commands. The library holds every command; `main.rs` only calls [`main`].

// Every `print!`/`println!`/`eprint!`/`eprintln!` in this crate goes through
// `output::write`, which knows what a closed pipe means (see `output`);
// std's would panic. Defined before the modules, so it is the one they see.
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::write(false, format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::output::write(false, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(false, format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::write(true, format_args!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::output::write(true, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(true, format_args!("{}\n", format_args!($($arg)*))) };
}

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
mod install_hooks;
mod mentions;
mod output;
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

/// Parses the command line, builds the context, dispatches; exits with the
/// status the error asks for.
pub fn main() {
    let flags = flags::Xtask::parse();
    if flags.cmd.only_reads() {
        output::end_on_closed_pipe();
    }
    let color = flags.color;
    if let Err(err) = run(flags) {
        if !error::already_reported(&err) {
            let paint = style::Paint::new(color);
            eprintln!("{}: {err:#}", paint.error("error"));
        }
        std::process::exit(error::exit_status(&err));
    }
}

fn run(flags: flags::Xtask) -> anyhow::Result<()> {
    let (ctx, checkout) = match flags.cmd {
        // Also outside a checkout: on a cloud VM, given a VERSION.
        Cmd::PublishImage(_) => context::Context::from_flags_checkout_optional(&flags)?,
        _ => (context::Context::from_flags(&flags)?, true),
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
