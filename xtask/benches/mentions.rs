//! `xtask mentions` against ripgrep (`rg -F -l -w`) on a 20,000-file tree, in
//! the same run: the same files, and the time of each.
//!
//! Run: `cargo bench -p xtask --bench mentions`. Target: within 1.5x of ripgrep.
//!
//! The tree is the repository's rendition plus 20,000 generated files: source
//! and config in nested folders, about 2% mentioning the version in ways both
//! tools agree on, near misses both tools reject (`13.0.1`, `3.0.10`, `x3.0.1`,
//! `3.0.1_amd64`), some binaries that contain the version, and a few files
//! whose only mention is an image name `mobiledgex-v3.0.1`: those are the one
//! intended difference (the xtask counts a leading `v`, `rg -w` does not).
//! Corpus files never put a `.` right next to the version (the other
//! difference, `3.0.1.2`), nor are hidden (ripgrep skips those).
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = "3.0.1";
const FILES: usize = 20_000;
const RUNS: usize = 11;
const TARGET_RATIO: f64 = 1.5;

/// A small deterministic generator (xorshift), so every run builds the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: [&str; 24] = [
    "cloudlet",
    "flavor",
    "vm",
    "orchestrator",
    "network",
    "subnet",
    "port",
    "server",
    "image",
    "volume",
    "heat",
    "stack",
    "tenant",
    "region",
    "client",
    "context",
    "config",
    "timeout",
    "retry",
    "status",
    "platform",
    "infra",
    "resource",
    "quota",
];

/// Lines that mention the version for both tools.
const MENTIONS: [&str; 6] = [
    "const BaseImageVersion = \"3.0.1\"",
    "\t// upgraded to 3.0.1 in the last release",
    "  image_version: 3.0.1",
    "VERSION ?= 3.0.1",
    "echo \"building mobiledgex 3.0.1-vcd\"",
    "# see the 3.0.1 notes",
];

/// Lines that look close but mention no version 3.0.1, for both tools.
const NEAR_MISSES: [&str; 5] = [
    "kubernetesVersion := \"13.0.1\"",
    "\tminVersion = \"3.0.10\"",
    "docker_tag: x3.0.1",
    "pkg: mobiledgex_3.0.1_amd64.deb",
    "cache-key-3.0.1a",
];

/// A line only the xtask counts as a mention: `rg -w` sees `v3` as one word.
const V_ONLY: &str = "  image: mobiledgex-v3.0.1";

fn filler_line(rng: &mut Rng) -> String {
    let (a, b, c) = (rng.pick(&WORDS), rng.pick(&WORDS), rng.pick(&WORDS));
    match rng.below(6) {
        0 => format!("func ({a} *{b}) Get{c}(ctx context.Context, name string) (*{c}, error) {{"),
        1 => format!("\tif err := {a}.Validate{b}(ctx); err != nil {{ return nil, fmt.Errorf(\"{c}: %v\", err) }}"),
        2 => format!("// {a} {b} {c}: keep in sync with the {b} {c} of the {a} API"),
        3 => format!("  {a}_{b}: \"{c}-{}\"", rng.below(1000)),
        4 => format!("\t{a}{b} := map[string]{c}{{}}"),
        _ => "}".to_string(),
    }
}

/// What the generated part of the tree should yield.
#[derive(Default)]
struct Truth {
    /// Files both tools must list.
    both: BTreeSet<String>,
    /// Files only the xtask lists (image names with `v`).
    v_only: BTreeSet<String>,
    /// Files neither may list (near misses, binaries).
    neither: BTreeSet<String>,
}

fn generate(root: &Path) -> Truth {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut truth = Truth::default();
    let exts = ["go", "go", "go", "sh", "yaml", "json", "md", "rb"];
    for n in 0..FILES {
        let (a, b) = (n % 20, (n / 20) % 50);
        let roll = rng.below(1000);
        let binary = roll < 5;
        let ext = if binary {
            "so"
        } else {
            exts[rng.below(exts.len())]
        };
        let rel = format!("vendor-like/mod-{a:02}/pkg-{b:02}/file-{n}.{ext}");
        let path = root.join(&rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        if binary {
            // An ELF-like header with NUL bytes, then the version string.
            let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
            bytes.extend((0..2048).map(|i| (i * 7 % 251) as u8));
            bytes.extend(format!("\nversion={VERSION}\n").bytes());
            fs::write(&path, bytes).unwrap();
            truth.neither.insert(rel);
            continue;
        }
        // Mostly small files, some bigger (generated code, lock files).
        let lines = if rng.below(50) == 0 {
            3000 + rng.below(3000)
        } else {
            10 + rng.below(150)
        };
        let mut text = format!("package {}\n\n", rng.pick(&WORDS));
        let special = rng.below(lines);
        for i in 0..lines {
            if i == special {
                match roll {
                    5..=24 => {
                        text.push_str(MENTIONS[rng.below(MENTIONS.len())]);
                        truth.both.insert(rel.clone());
                    }
                    25..=27 => {
                        text.push_str(V_ONLY);
                        truth.v_only.insert(rel.clone());
                    }
                    28..=47 => {
                        text.push_str(NEAR_MISSES[rng.below(NEAR_MISSES.len())]);
                        truth.neither.insert(rel.clone());
                    }
                    _ => text.push_str(&filler_line(&mut rng)),
                }
            } else {
                text.push_str(&filler_line(&mut rng));
            }
            text.push('\n');
        }
        fs::write(&path, text).unwrap();
    }
    truth
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn run_xtask(root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(root)
        .args(["--color", "never", "mentions", VERSION, "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("running xtask")
}

fn xtask_files(out: &Output) -> BTreeSet<String> {
    assert!(
        out.status.success(),
        "xtask mentions failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("xtask mentions --json");
    report["mentions"]
        .as_array()
        .expect("a mentions array")
        .iter()
        .map(|m| m["path"].as_str().expect("a path").to_string())
        .collect()
}

fn run_rg(root: &Path) -> Output {
    Command::new("rg")
        .args(["-F", "-l", "-w", VERSION])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .expect("running rg (apt-get install ripgrep)")
}

fn rg_files(root: &Path, out: &Output) -> BTreeSet<String> {
    assert!(
        out.status.code() == Some(0),
        "rg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("{}/", root.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.strip_prefix(&prefix).unwrap_or(line).to_string())
        .collect()
}

fn main() {
    // `cargo test --benches` runs this too: there, build nothing, time nothing.
    if !support::asked_to_run("mentions") {
        return;
    }
    // MENTIONS_BENCH_KEEP=<dir> builds the tree there and keeps it, for profiling.
    let keep = std::env::var_os("MENTIONS_BENCH_KEEP").map(std::path::PathBuf::from);
    let temp = common::TempDir::new("bench-mentions");
    let root = match &keep {
        Some(dir) => {
            let _ = fs::remove_dir_all(dir);
            dir.as_path()
        }
        None => temp.path(),
    };
    for part in common::RENDITION {
        common::copy_dir(&common::workspace().join(part), &root.join(part));
    }
    let (truth, took) = time(|| generate(root));
    println!(
        "tree: the rendition + {FILES} generated files in {} ({} mention {VERSION}, {} only as mobiledgex-v{VERSION}, {} near misses or binaries)",
        support::ms(took),
        truth.both.len(),
        truth.v_only.len(),
        truth.neither.len()
    );

    // Warm-up: the page cache, and the first comparison of results.
    let ours = xtask_files(&run_xtask(root));
    let theirs = rg_files(root, &run_rg(root));
    let only_ours: BTreeSet<String> = ours.difference(&theirs).cloned().collect();
    let only_theirs: BTreeSet<String> = theirs.difference(&ours).cloned().collect();
    let missed: Vec<&String> = truth
        .both
        .iter()
        .filter(|f| !ours.contains(*f) || !theirs.contains(*f))
        .collect();
    let wrong: Vec<&String> = truth
        .neither
        .iter()
        .filter(|f| ours.contains(*f) || theirs.contains(*f))
        .collect();
    let same = only_theirs.is_empty()
        && only_ours == truth.v_only
        && missed.is_empty()
        && wrong.is_empty();
    println!(
        "files: xtask {}, rg {}; only xtask: {} (expected: the {} `v` image names), only rg: {}",
        ours.len(),
        theirs.len(),
        only_ours.len(),
        truth.v_only.len(),
        only_theirs.len()
    );
    if !same {
        eprintln!("!!!!!!!! THE FILE SETS DIFFER !!!!!!!!");
        eprintln!(
            "only xtask, not a `v` image name: {:?}",
            only_ours.difference(&truth.v_only).collect::<Vec<_>>()
        );
        eprintln!(
            "`v` image names xtask missed: {:?}",
            truth.v_only.difference(&only_ours).collect::<Vec<_>>()
        );
        eprintln!("only rg: {only_theirs:?}");
        eprintln!("mentions missed by either: {missed:?}");
        eprintln!("near misses or binaries listed by either: {wrong:?}");
        std::process::exit(1);
    }
    println!("same files: yes (modulo the documented `v` prefix)");

    // Interleaved, so drift on a shared machine hits both alike.
    let (mut xtask_times, mut rg_times) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (out, took) = time(|| run_xtask(root));
        assert_eq!(
            xtask_files(&out),
            ours,
            "xtask's answer changed between runs"
        );
        xtask_times.push(took);
        let (out, took) = time(|| run_rg(root));
        assert_eq!(
            rg_files(root, &out),
            theirs,
            "rg's answer changed between runs"
        );
        rg_times.push(took);
    }
    let (x, r) = (support::median(xtask_times), support::median(rg_times));
    let ratio = x.as_secs_f64() / r.as_secs_f64();
    println!(
        "median of {RUNS}: xtask mentions --json {}, rg -F -l -w {}",
        support::ms(x),
        support::ms(r)
    );
    println!(
        "ratio {ratio:.2}x (target within {TARGET_RATIO}x): {}",
        if ratio <= TARGET_RATIO {
            "met"
        } else {
            "NOT MET"
        }
    );
}
