//! `deps outdated --packages <index>` as a whole process against `grep -c
//! '^Package:'` on the same file, in the same run, interleaved: time (median)
//! and peak memory (`/usr/bin/time -f %M`). Target: within 2x of grep, and
//! under 16 MB. Both write to a pipe: GNU grep stops at the first match when
//! its output is /dev/null, so a shell timing with `> /dev/null` flatters it.
//!
//! The index is pinned: a deterministic ~50 MB synthetic `Packages` file
//! (Debian-like stanzas, the rendition's pins among them), the same bytes on
//! every machine; its FNV-1a hash is printed. `XTASK_BENCH_PACKAGES=<file>`
//! measures another file instead (its sha256 is printed; copy an index once,
//! e.g. `/usr/lib/apt/apt-helper cat-file /var/lib/apt/lists/*bookworm_main*Packages.lz4
//! > target/Packages`, rather than pointing at apt's live lists). The entries
//! the xtask read (`-v`) must equal grep's count, or the bench stops.
//!
//! Run: `cargo bench -p xtask --bench packages_index`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 31;
const TARGET_RATIO: f64 = 2.0;
const TARGET_KB: u64 = 16 * 1024;
const STANZAS: usize = 73_000;

/// xorshift64*: the same numbers everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self, len: u64) -> String {
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| b"0123456789abcdef"[self.below(16) as usize] as char)
            .collect()
    }
}

/// The rendition's pins, as (name, version) to offer in the index.
fn pins() -> Vec<(String, String)> {
    let text = fs::read_to_string(
        common::workspace().join("openstack-tenant/packages/mobiledgex/dependencies"),
    )
    .expect("reading the rendition's dependencies");
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.trim_start_matches(['<', '>', '=']);
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// One stanza shaped like Debian's (bookworm averages ~790 bytes).
fn stanza(rng: &mut Rng, name: &str, version: &str) -> String {
    let mut s = format!(
        "Package: {name}\nVersion: {version}\nInstalled-Size: {}\n\
         Maintainer: {} Team <{}@lists.debian.org>\nArchitecture: {}\n",
        rng.below(100_000),
        rng.word(8),
        rng.word(10),
        if rng.below(4) == 0 { "all" } else { "amd64" }
    );
    let depends: Vec<String> = (0..rng.below(12) + 1)
        .map(|_| {
            format!(
                "lib{}{} (>= {}.{})",
                rng.word(6),
                rng.below(9),
                rng.below(5),
                rng.below(20)
            )
        })
        .collect();
    s.push_str(&format!("Depends: {}\n", depends.join(", ")));
    let words: Vec<String> = (0..rng.below(8) + 3)
        .map(|_| {
            let len = rng.below(8) + 2;
            rng.word(len)
        })
        .collect();
    s.push_str(&format!(
        "Description: {}\nHomepage: https://{}.org/\nDescription-md5: {}\n",
        words.join(" "),
        rng.word(9),
        rng.hex(32)
    ));
    if rng.below(3) == 0 {
        s.push_str(&format!(
            "Tag: role::program, implemented-in::c,\n interface::commandline, use::{}\n",
            rng.word(7)
        ));
    }
    let dir = &name[..1];
    s.push_str(&format!(
        "Section: {}\nPriority: optional\nFilename: pool/main/{dir}/{name}/{name}_{version}_amd64.deb\n\
         Size: {}\nMD5sum: {}\nSHA256: {}\n\n",
        rng.word(5),
        rng.below(10_000_000),
        rng.hex(32),
        rng.hex(64)
    ));
    s
}

/// The synthetic index: `STANZAS` stanzas, the pins spread among them.
fn synthetic(path: &Path) -> usize {
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    let pins = pins();
    let mut text = String::with_capacity(52 << 20);
    for n in 0..STANZAS {
        if n % (STANZAS / pins.len()) == 0 {
            if let Some((name, version)) = pins.get(n / (STANZAS / pins.len())) {
                text.push_str(&stanza(&mut rng, name, version));
                continue;
            }
        }
        let len = rng.below(12) + 3;
        let name = format!("{}{n}", rng.word(len));
        let version = format!(
            "{}.{}.{}-{}",
            rng.below(20),
            rng.below(50),
            rng.below(100),
            rng.below(9) + 1
        );
        text.push_str(&stanza(&mut rng, &name, &version));
    }
    fs::write(path, &text).expect("writing the synthetic index");
    STANZAS
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn xtask(index: &Path, verbose: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C")
        .arg(common::workspace())
        .args(["--color", "never"]);
    if verbose {
        cmd.arg("-v");
    }
    cmd.args(["deps", "outdated", "--packages"]).arg(index);
    cmd.stdin(Stdio::null());
    cmd
}

fn grep(index: &Path) -> Command {
    let mut cmd = Command::new("grep");
    cmd.args(["-c", "^Package:"])
        .arg(index)
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (Duration, Output) {
    let start = Instant::now();
    let out = cmd.output().expect("running the command");
    (start.elapsed(), out)
}

/// Peak resident memory (KiB) of `cmd` under `/usr/bin/time -f %M`.
fn peak_kb(cmd: &Command) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-kb %M", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|line| line.strip_prefix("peak-kb ")?.trim().parse().ok())
}

fn main() {
    if !support::asked_to_run("packages_index") {
        return;
    }
    let dir = common::TempDir::new("bench-packages");
    let index: PathBuf = match std::env::var_os("XTASK_BENCH_PACKAGES") {
        Some(file) => {
            let file = PathBuf::from(file);
            let sum = Command::new("sha256sum").arg(&file).output().ok();
            let sum = sum.map_or(String::from("?"), |o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .next()
                    .unwrap_or("?")
                    .to_string()
            });
            println!("index: {} (sha256 {sum})", file.display());
            file
        }
        None => {
            let file = dir.path().join("Packages");
            let stanzas = synthetic(&file);
            let bytes = fs::read(&file).expect("reading the synthetic index");
            println!(
                "index: synthetic, {stanzas} stanzas, {} bytes, FNV-1a {:016x}",
                bytes.len(),
                fnv1a(&bytes)
            );
            file
        }
    };
    println!(
        "size: {} bytes",
        fs::metadata(&index).map_or(0, |m| m.len())
    );

    // The counts must agree, or the comparison means nothing.
    let (_, out) = run(xtask(&index, true));
    let said = String::from_utf8_lossy(&out.stderr);
    let read = said
        .lines()
        .find_map(|l| {
            l.split(": ")
                .nth(1)?
                .strip_suffix(" entries (package versions)")
        })
        .and_then(|n| n.parse::<u64>().ok());
    let (_, g) = run(grep(&index));
    let counted = String::from_utf8_lossy(&g.stdout)
        .trim()
        .parse::<u64>()
        .ok();
    println!(
        "entries read by the xtask: {}, grep -c '^Package:': {}; xtask exit {:?}",
        read.map_or("?".into(), |n| n.to_string()),
        counted.map_or("?".into(), |n| n.to_string()),
        out.status.code()
    );
    if read.is_none() || read != counted {
        eprintln!("!!!!!!!! the counts differ: not comparable !!!!!!!!\n{said}");
        std::process::exit(1);
    }

    let (mut xs, mut gs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        xs.push(run(xtask(&index, false)).0);
        gs.push(run(grep(&index)).0);
    }
    let (x, g) = (support::median(xs), support::median(gs));
    let ratio = x.as_secs_f64() / g.as_secs_f64();
    println!(
        "median of {RUNS}, whole processes: xtask deps outdated {}, grep -c {}, ratio {ratio:.2}x (target {TARGET_RATIO}x: {})",
        support::ms(x),
        support::ms(g),
        if ratio <= TARGET_RATIO { "met" } else { "NOT MET" }
    );
    match (peak_kb(&xtask(&index, false)), peak_kb(&grep(&index))) {
        (Some(xk), Some(gk)) => println!(
            "peak RSS: xtask {:.1} MB, grep {:.1} MB (target {} MB: {})",
            xk as f64 / 1024.0,
            gk as f64 / 1024.0,
            TARGET_KB / 1024,
            if xk <= TARGET_KB { "met" } else { "NOT MET" }
        ),
        _ => println!("peak RSS: /usr/bin/time not available (apt-get install time)"),
    }
}
