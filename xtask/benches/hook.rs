//! The installed pre-commit hook on a git copy of the rendition, and of the
//! real monorepo's last commit where `../shared` has it, with a harmless
//! staged change, run as git runs it (`.git/hooks/pre-commit`, from the top
//! of the checkout), against its peer in the same run: the plain
//! `xtask check --staged` it ends in, and (for the record) `cargo run` of the
//! same check, which the hook ran on every commit before. Whole processes,
//! interleaved. Target: the hook under 30 ms.
//!
//! Run: `cargo bench -p xtask --bench hook`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 31;
const TARGET: Duration = Duration::from_millis(30);

fn quiet(mut cmd: Command, root: &Path) -> Command {
    cmd.current_dir(root)
        .env("PATH", common::path_with_cargo())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn time(mut cmd: Command) -> (Duration, Option<i32>) {
    let start = Instant::now();
    let status = cmd.status().expect("running the command");
    (start.elapsed(), status.code())
}

fn main() {
    if !support::asked_to_run("hook") {
        return;
    }
    // The hook runs target/debug/xtask: build it (a no-op when fresh).
    let built = Command::new("cargo")
        .args(["build", "--quiet", "-p", "xtask"])
        .current_dir(common::workspace())
        .status()
        .expect("running cargo build");
    assert!(built.success(), "cargo build -p xtask failed");
    let rendition = common::Tree::with_git(common::Layout::A);
    let h = measure("on the rendition", &rendition);
    println!(
        "hook under {}: {}",
        support::ms(TARGET),
        if h <= TARGET { "met" } else { "NOT MET" }
    );
    // The same on the real monorepo's last commit, where its files are.
    if let Some(real) = common::Tree::real() {
        let h = measure("on the real monorepo", &real);
        println!(
            "on the real monorepo, hook under {}: {}",
            support::ms(TARGET),
            if h <= TARGET { "met" } else { "NOT MET" }
        );
    }
}

/// The hook, its check and `cargo run` of it on `tree` with a harmless
/// staged file, interleaved; prints the medians, returns the hook's.
fn measure(what: &str, tree: &common::Tree) -> Duration {
    let root = tree.root();
    let installed = common::xtask_in(root, &["install-hooks"], &[]);
    assert_eq!(installed.code, 0, "install-hooks: {}", installed.stderr);
    tree.write("notes.txt", "staged, harmless\n");
    tree.git(&["add", "notes.txt"]);
    let debug_xtask = common::workspace().join("target/debug/xtask");
    let manifest = common::workspace().join("xtask/Cargo.toml");

    let hook = || quiet(Command::new(root.join(".git/hooks/pre-commit")), root);
    let direct = || {
        let mut cmd = Command::new(&debug_xtask);
        cmd.args(["--root", ".", "check", "--staged"]);
        quiet(cmd, root)
    };
    let cargo_run = || {
        let mut cmd = Command::new("cargo");
        cmd.args(["run", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .args(["--", "--root", ".", "check", "--staged"]);
        quiet(cmd, root)
    };
    let (h0, d0, c0) = (time(hook()).1, time(direct()).1, time(cargo_run()).1);
    println!("{what}: exit codes: hook {h0:?}, xtask check --staged {d0:?}, cargo run {c0:?}");
    assert!(h0 == d0 && d0 == Some(0), "the hook and the check disagree");
    let (mut h, mut d, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        h.push(time(hook()).0);
        d.push(time(direct()).0);
        c.push(time(cargo_run()).0);
    }
    let (h, d, c) = (support::median(h), support::median(d), support::median(c));
    println!(
        "{what}: median of {RUNS}, whole processes: hook {} ({:.2}x its check), target/debug/xtask check --staged {}, cargo run of it {} ({:.2}x)",
        support::ms(h),
        h.as_secs_f64() / d.as_secs_f64(),
        support::ms(d),
        support::ms(c),
        c.as_secs_f64() / d.as_secs_f64()
    );
    h
}
