//! Step log files: `<yyyymmdd-hhmmss>-<n>-<slug>.log`, time in UTC.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};

/// Creates `dir` (the log folder, `logs/` of `Context::state_dir`:
/// `target/xtask` in a checkout, `~/.cache/xtask` outside one) and its parent
/// (that state folder) only we can enter (0700), tightening them
/// when an earlier version left them open; what is above them is created as
/// usual. A log holds whatever a tool printed, so only its owner reads it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let state = dir.parent().filter(|parent| !parent.as_os_str().is_empty());
    if let Some(above) = state.and_then(Path::parent) {
        fs::create_dir_all(above)?;
    }
    for folder in state.into_iter().chain([dir]) {
        match DirBuilder::new().mode(0o700).create(folder) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = fs::metadata(folder)?;
                if meta.permissions().mode() & 0o077 != 0 {
                    fs::set_permissions(folder, fs::Permissions::from_mode(0o700))?;
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Creates a new log file for step `n` (mode 0600); never reuses an existing one.
pub fn create(dir: &Path, n: usize, title: &str, now: SystemTime) -> Result<(PathBuf, File)> {
    private_dir(dir).with_context(|| format!("cannot create the log folder {}", dir.display()))?;
    let stem = format!("{}-{n}-{}", stamp(now), slug(title));
    let mut attempt = 1;
    loop {
        let name = match attempt {
            1 => format!("{stem}.log"),
            _ => format!("{stem}-{attempt}.log"),
        };
        let path = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create the log file {}", path.display()))
            }
        }
    }
}

/// `yyyymmdd-hhmmss` in UTC.
pub fn stamp(time: SystemTime) -> String {
    let (date, secs) = utc(time);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        date.0,
        date.1,
        date.2,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `yyyy-mm-dd hh:mm:ss UTC`, for the log's header.
pub fn readable(time: SystemTime) -> String {
    let (date, secs) = utc(time);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        date.0,
        date.1,
        date.2,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The civil date and the second of the day, in UTC.
fn utc(time: SystemTime) -> ((i64, u32, u32), u64) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    (civil_from_days(days), secs % 86_400)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (year, month as u32, day as u32)
}

/// Lowercase ASCII letters and digits, dashes between words, at most 40 characters.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "step".to_string()
    } else {
        slug.to_string()
    }
}

/// `12.3s`, `4m 05s`, `1h 02m 03s`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m {:02}s", secs / 3600, secs / 60 % 60, secs % 60)
    }
}
