//! What every benchmark shares: whether it was asked to run, and how its
//! figures are taken and shown. (A folder, so that cargo does not take it
//! for a benchmark of its own.)

use std::time::Duration;

/// `cargo bench` passes `--bench`; under `cargo test --benches` a benchmark
/// only says how to run it.
pub fn asked_to_run(name: &str) -> bool {
    let asked = std::env::args().any(|a| a == "--bench");
    if !asked {
        println!("{name} bench: run with `cargo bench -p xtask --bench {name}`");
    }
    asked
}

/// The median of the runs.
pub fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// `12.34 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
