//! `xtask check` must stay fast enough for a pre-commit hook, and must read only
//! the files it needs: its time on the bare rendition and on the same rendition
//! padded with 20,000 unrelated files should be the same.
//!
//! Run: `cargo bench -p xtask --bench check`. Target: under 10 ms each, and the
//! padded tree within 1.3x of the bare one.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PADDING_FILES: usize = 20_000;
const RUNS: usize = 25;
const TARGET: Duration = Duration::from_millis(10);
const TARGET_RATIO: f64 = 1.3;

/// Go-like source of a few KiB, different per file.
fn go_file(n: usize) -> String {
    let mut text = format!(
        "package pkg{}\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n",
        n % 97
    );
    for f in 0..(5 + n % 40) {
        text.push_str(&format!(
            "// Handler{f} serves request {n}.{f}; keep it in sync with the API.\n\
             func Handler{f}(ctx context.Context, name string) (string, error) {{\n\
             \tif name == \"\" {{\n\t\treturn \"\", fmt.Errorf(\"handler {f}: empty name\")\n\t}}\n\
             \treturn fmt.Sprintf(\"%s-{n}\", name), nil\n}}\n\n"
        ));
    }
    text
}

fn rendition(dir: &Path) {
    for part in common::RENDITION {
        common::copy_dir(&common::workspace().join(part), &dir.join(part));
    }
}

fn pad(dir: &Path) {
    for n in 0..PADDING_FILES {
        let sub = dir.join(format!(
            "vendor-like/mod-{:02}/pkg-{:02}",
            n % 20,
            (n / 20) % 50
        ));
        if n < 1000 {
            fs::create_dir_all(&sub).expect("creating the padding folders");
        }
        fs::write(sub.join(format!("file-{n}.go")), go_file(n)).expect("writing a padding file");
    }
}

fn check(root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(root)
        .args(["--color", "never", "check"])
        .stdin(Stdio::null())
        .output()
        .expect("running xtask check")
}

fn main() {
    if !support::asked_to_run("check") {
        return;
    }
    let bare = common::TempDir::new("bench-check-bare");
    let padded = common::TempDir::new("bench-check-padded");
    rendition(bare.path());
    rendition(padded.path());
    let start = Instant::now();
    pad(padded.path());
    println!(
        "trees: the rendition, and the rendition + {PADDING_FILES} unrelated files (made in {})",
        support::ms(start.elapsed())
    );

    // Warm-up, and the two trees must get the same verdict.
    let (a, b) = (check(bare.path()), check(padded.path()));
    if a.status.code() != b.status.code() || a.stdout != b.stdout {
        eprintln!("!!!!!!!! check judged the two trees differently !!!!!!!!");
        eprintln!(
            "bare ({:?}):\n{}",
            a.status.code(),
            String::from_utf8_lossy(&a.stdout)
        );
        eprintln!(
            "padded ({:?}):\n{}",
            b.status.code(),
            String::from_utf8_lossy(&b.stdout)
        );
        std::process::exit(1);
    }
    println!(
        "verdict on both: exit {}, {} lines of report",
        a.status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        String::from_utf8_lossy(&a.stdout).lines().count()
    );

    // Interleaved, so drift on a shared machine hits both alike.
    let (mut bare_times, mut padded_times) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        check(bare.path());
        bare_times.push(start.elapsed());
        let start = Instant::now();
        check(padded.path());
        padded_times.push(start.elapsed());
    }
    let (x, y) = (support::median(bare_times), support::median(padded_times));
    let ratio = y.as_secs_f64() / x.as_secs_f64();
    println!(
        "median of {RUNS}: rendition {}, padded {}, ratio {ratio:.2}x",
        support::ms(x),
        support::ms(y)
    );
    let fast = x < TARGET && y < TARGET;
    println!(
        "under {} each: {}; within {TARGET_RATIO}x: {}",
        support::ms(TARGET),
        if fast { "met" } else { "NOT MET" },
        if ratio <= TARGET_RATIO {
            "met"
        } else {
            "NOT MET"
        }
    );
}
