//! A progress bar for a step that moves a known number of bytes (a download
//! from glance, an upload to Artifactory): bytes, rate and ETA against the
//! total, measured from outside the tool, so the tool's own progress output
//! (carriage returns, terminal codes) never reaches the log.
//!
//! On a terminal the bar is redrawn in place on standard error; elsewhere (a
//! log, CI) a line is printed at each tenth of the way, so the output stays
//! short and readable.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the bytes done are read from while the tool runs.
#[derive(Debug, Clone)]
pub enum Meter {
    /// The size of a file the tool writes (`openstack image save --file`).
    FileSize(PathBuf),
    /// How far the tool has read a file it sends (`curl --upload-file`): the
    /// offset of its open descriptor, from `/proc` (Linux; elsewhere the bar
    /// shows the elapsed time only).
    ReadOffset(PathBuf),
}

/// A step's progress: what to measure, against how many bytes.
#[derive(Debug, Clone)]
pub struct Progress {
    pub meter: Meter,
    pub total: u64,
}

/// How often the bar is redrawn on a terminal.
const REDRAW: Duration = Duration::from_millis(250);
const WIDTH: usize = 24;

pub(super) struct Bar {
    progress: Progress,
    terminal: bool,
    started: Instant,
    last_draw: Option<Instant>,
    /// Tenths announced so far (line mode).
    tenths: u64,
    /// The descriptor found to hold the file (ReadOffset).
    fd: Option<String>,
    done: u64,
    drawn: bool,
}

impl Bar {
    pub(super) fn new(progress: Progress, terminal: bool) -> Bar {
        Bar {
            progress,
            terminal,
            started: Instant::now(),
            last_draw: None,
            tenths: 0,
            fd: None,
            done: 0,
            drawn: false,
        }
    }

    /// Measures and, when due, draws: `out(to_stderr, text)` prints.
    pub(super) fn tick(&mut self, pid: u32, out: &mut dyn FnMut(bool, &str)) {
        if let Some(done) = self.measure(pid) {
            self.done = done.max(self.done);
        }
        let elapsed = self.started.elapsed();
        if self.terminal {
            if self.last_draw.is_none_or(|at| at.elapsed() >= REDRAW) {
                self.last_draw = Some(Instant::now());
                self.drawn = true;
                let line = render(self.done, self.progress.total, elapsed);
                out(true, &format!("\r{line:<78}"));
            }
        } else if let Some(tenths) =
            (self.done.min(self.progress.total) * 10).checked_div(self.progress.total)
        {
            if tenths > self.tenths && tenths < 10 {
                self.tenths = tenths;
                out(
                    false,
                    &format!("{}\n", render(self.done, self.progress.total, elapsed)),
                );
            }
        }
    }

    /// After the tool ended: the last state on a line of its own.
    pub(super) fn finish(&mut self, pid: u32, ok: bool, out: &mut dyn FnMut(bool, &str)) {
        if let Some(done) = self.measure(pid) {
            self.done = done.max(self.done);
        }
        if ok {
            // A finished upload read the whole file (the descriptor is gone).
            if matches!(self.progress.meter, Meter::ReadOffset(_)) {
                self.done = self.progress.total;
            }
        }
        let line = render(self.done, self.progress.total, self.started.elapsed());
        if self.terminal {
            let end = if self.drawn { "\r" } else { "" };
            out(true, &format!("{end}{line:<78}\n"));
        } else if ok {
            out(false, &format!("{line}\n"));
        }
    }

    fn measure(&mut self, pid: u32) -> Option<u64> {
        match &self.progress.meter {
            Meter::FileSize(path) => fs::metadata(path).ok().map(|m| m.len()),
            Meter::ReadOffset(path) => {
                let path = path.clone();
                read_offset(pid, &path, &mut self.fd)
            }
        }
    }
}

/// The offset of `pid`'s descriptor open on `path` (`pos:` in `/proc/<pid>/fdinfo/<fd>`).
fn read_offset(pid: u32, path: &Path, fd: &mut Option<String>) -> Option<u64> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if fd.is_none() {
        let want = path.canonicalize().ok()?;
        for entry in fs::read_dir(proc_dir.join("fd")).ok()?.flatten() {
            if fs::read_link(entry.path()).ok().as_deref() == Some(want.as_path()) {
                *fd = Some(entry.file_name().to_string_lossy().into_owned());
                break;
            }
        }
    }
    let info = fs::read_to_string(proc_dir.join("fdinfo").join(fd.as_ref()?)).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("pos:"))
        .and_then(|pos| pos.trim().parse().ok())
}

/// `  [#########---------------]  38%  1.0 GiB of 2.7 GiB, 38.1 MiB/s, ETA 0:41`;
/// without a total (or before anything moved) the parts that are known.
pub fn render(done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    if total == 0 {
        return format!("  {} in {}", bytes(done), clock(elapsed));
    }
    let shown = done.min(total);
    let filled = (shown as u128 * WIDTH as u128 / total as u128) as usize;
    let percent = shown as u128 * 100 / total as u128;
    let eta = if shown >= total {
        format!("in {}", clock(elapsed))
    } else if rate > 0.0 {
        format!(
            "ETA {}",
            clock(Duration::from_secs_f64((total - shown) as f64 / rate))
        )
    } else {
        "ETA -".to_string()
    };
    format!(
        "  [{}{}] {percent:>3}%  {} of {}, {}/s, {eta}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        bytes(shown),
        bytes(total),
        bytes(rate as u64)
    )
}

/// `512 B`, `3.4 KiB`, `1.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `0:41`, `12:05`, `1:02:03`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bytes_rate_and_eta() {
        let line = render(256 << 20, 1 << 30, Duration::from_secs(8));
        assert_eq!(
            line,
            "  [######------------------]  25%  256.0 MiB of 1.0 GiB, 32.0 MiB/s, ETA 0:24"
        );
        let done = render(1 << 30, 1 << 30, Duration::from_secs(3725));
        assert!(
            done.ends_with("100%  1.0 GiB of 1.0 GiB, 281.5 KiB/s, in 1:02:05"),
            "{done}"
        );
        assert_eq!(
            render(0, 100, Duration::ZERO),
            "  [------------------------]   0%  0 B of 100 B, 0 B/s, ETA -"
        );
        assert_eq!(render(5, 0, Duration::from_secs(2)), "  5 B in 0:02");
    }

    #[test]
    fn reads_the_offset_of_an_open_file() {
        if !Path::new("/proc/self/fdinfo").is_dir() {
            return; // not Linux: the bar shows the elapsed time only
        }
        use std::io::Read as _;
        let path = std::env::temp_dir().join(format!("xtask-offset-{}", std::process::id()));
        fs::write(&path, vec![7u8; 10_000]).unwrap();
        let mut file = fs::File::open(&path).unwrap();
        let mut buffer = [0u8; 4096];
        file.read_exact(&mut buffer).unwrap();
        let mut fd = None;
        let offset = read_offset(std::process::id(), &path, &mut fd);
        drop(file);
        let _ = fs::remove_file(&path);
        assert_eq!(offset, Some(4096));
        assert!(fd.is_some());
    }
}
