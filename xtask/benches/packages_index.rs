//! Times `PackagesIndex::parse` on the real bookworm main index against
//! `grep -c '^Package:'` on the same file (target: within 3x of grep).
//!
//! The xtask is a binary crate, so the modules are included by path; run
//! with `cargo bench --bench packages_index`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks arrange their own trees and run the built binary

#[allow(dead_code, unused_imports)] // only `parse` is used; tests are not run here
#[path = "../src/debian/packages_index.rs"]
mod packages_index;
#[allow(dead_code, unused_imports)] // only `parse` is used; tests are not run here
#[path = "../src/debian/version.rs"]
mod version;
// What those modules' tests import (`--all-targets` checks them here too).
#[cfg(test)]
#[path = "../src/test_support.rs"]
mod test_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const INDEX: &str =
    "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4";
const RUNS: usize = 7;

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let decompressed = match Command::new("/usr/lib/apt/apt-helper")
        .args(["cat-file", INDEX])
        .output()
    {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => o.stdout,
        _ => {
            eprintln!("skipping: cannot read {INDEX} with apt-helper");
            return;
        }
    };
    let file: PathBuf =
        std::env::temp_dir().join(format!("packages-index-bench-{}.txt", std::process::id()));
    if let Err(e) = std::fs::write(&file, &decompressed) {
        eprintln!("skipping: cannot write {}: {e}", file.display());
        return;
    }
    drop(decompressed);

    let mut parse = Vec::new();
    let mut read_parse = Vec::new();
    let mut grep = Vec::new();
    let mut packages = 0;
    let mut grep_count = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cannot read {}: {e}", file.display());
                break;
            }
        };
        let t_read = t.elapsed();
        let t = Instant::now();
        let idx = packages_index::PackagesIndex::parse(std::hint::black_box(&text));
        let t_parse = t.elapsed();
        packages = std::hint::black_box(idx.entry_count());
        drop(idx);
        parse.push(t_parse);
        read_parse.push(t_read + t_parse);

        let t = Instant::now();
        let out = Command::new("grep")
            .args(["-c", "^Package:"])
            .arg(&file)
            .output();
        grep.push(t.elapsed());
        if let Ok(o) = out {
            grep_count = String::from_utf8_lossy(&o.stdout).trim().to_string();
        }
    }
    let _ = std::fs::remove_file(&file);
    if parse.len() < RUNS {
        return;
    }
    let (p, rp, g) = (median(parse), median(read_parse), median(grep));
    println!(
        "index: {INDEX} ({} bytes)",
        std::fs::metadata(INDEX).map_or(0, |m| m.len())
    );
    println!("entries parsed: {packages}, grep -c '^Package:': {grep_count}");
    println!(
        "median of {RUNS}: parse {:.1} ms, read+parse {:.1} ms, grep -c {:.1} ms",
        ms(p),
        ms(rp),
        ms(g)
    );
    println!(
        "ratio parse/grep {:.2}x, read+parse/grep {:.2}x",
        p.as_secs_f64() / g.as_secs_f64(),
        rp.as_secs_f64() / g.as_secs_f64()
    );
}
