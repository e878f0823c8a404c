//! `bump-base-image 3.0.2 --dry-run` and `check --staged` on a git copy of
//! the rendition, whole processes, against `git status --porcelain` (one
//! git process, the least any git-aware command pays) in the same run,
//! interleaved. Target: the bump under 10 ms. Also counts the git processes
//! each command starts (with strace, where installed).
//!
//! Run: `cargo bench -p xtask --bench bump`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 31;
const TARGET: Duration = Duration::from_millis(10);

fn xtask(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C")
        .arg(root)
        .args(["--color", "never"])
        .args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn git_status(root: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(root).args(["status", "--porcelain"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    cmd.status().expect("running the command");
    start.elapsed()
}

/// How many `git` processes `args` starts, counted with strace.
fn git_processes(root: &Path, args: &[&str]) -> Option<usize> {
    let trace = std::env::temp_dir().join(format!("bench-bump-{}.trace", std::process::id()));
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = std::fs::read_to_string(&trace).ok();
    let _ = std::fs::remove_file(&trace);
    let text = text.filter(|_| out.status.code().is_some())?;
    // One per process: execvp tries each PATH entry, only one succeeds.
    Some(
        text.lines()
            .filter(|l| l.contains("execve(") && l.contains("[\"git\"") && l.ends_with("= 0"))
            .count(),
    )
}

fn main() {
    if !support::asked_to_run("bump") {
        return;
    }
    let tree = common::Tree::with_git(common::Layout::A);
    let root = tree.root();
    let bump = ["bump-base-image", "3.0.2", "--dry-run"];
    let staged = ["check", "--staged"];
    for args in [&bump[..], &staged[..]] {
        match git_processes(root, args) {
            Some(n) => println!("{}: {n} git processes", args.join(" ")),
            None => println!("{}: git processes not counted (no strace)", args.join(" ")),
        }
    }
    let (mut b, mut c, mut g) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        b.push(time(xtask(root, &bump)));
        c.push(time(xtask(root, &staged)));
        g.push(time(git_status(root)));
    }
    let (b, c, g) = (support::median(b), support::median(c), support::median(g));
    let ratio = |x: Duration| x.as_secs_f64() / g.as_secs_f64();
    println!(
        "median of {RUNS}, whole processes: bump-base-image --dry-run {} ({:.2}x git status), check --staged {} ({:.2}x), git status --porcelain {}",
        support::ms(b),
        ratio(b),
        support::ms(c),
        ratio(c),
        support::ms(g)
    );
    println!(
        "bump under {}: {}",
        support::ms(TARGET),
        if b <= TARGET { "met" } else { "NOT MET" }
    );
}
