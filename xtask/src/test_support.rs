//! For unit tests only: what the tests that lean on the machine share.
#![allow(clippy::disallowed_methods)] // test helpers read the machine's apt indexes with apt-helper

use std::path::PathBuf;
use std::process::Command;

/// Where apt keeps the repositories' indexes it downloaded.
const APT_LISTS: &str = "/var/lib/apt/lists";

/// Whether we run under CI: CI services set `CI` (most to `true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A test that cannot run here for want of `why`: under CI that is a
/// failure, since a proof that quietly did not run must not pass; elsewhere a
/// notice, and the caller returns.
#[track_caller]
pub fn skip_or_fail(why: &str) {
    assert!(
        !in_ci(),
        "{why}; CI is set, so this test may not be skipped (`.ci/run` installs what it needs)"
    );
    // Straight to standard error: the test harness captures `eprintln!`
    // and shows it only for failures, so a skip would pass unseen.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "NOTICE: skipped: {why}");
}

/// Every `*_Packages*` index apt downloaded on this machine (plain or
/// compressed), the largest first: on Debian the main component of the
/// release, on Ubuntu its main.
pub fn apt_package_indexes() -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(APT_LISTS) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = dir
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().contains("_Packages"))
        .filter_map(|entry| Some((entry.metadata().ok()?.len(), entry.path())))
        .collect();
    files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    files.into_iter().map(|(_, path)| path).collect()
}

/// An index's bytes, decompressed by apt's own helper (it knows apt's lz4,
/// gz, xz); `None` when it cannot be read.
pub fn read_apt_index(path: &std::path::Path) -> Option<Vec<u8>> {
    let out = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(path)
        .output()
        .ok()?;
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

/// Why no index can be read here, for `skip_or_fail`.
pub const NO_APT_INDEX: &str = "no apt Packages index readable in /var/lib/apt/lists with /usr/lib/apt/apt-helper (run `apt-get update` on a Debian or Ubuntu machine)";

/// The edits that move the rendition's three base image sites (not chef's)
/// from 3.0.1 to `to`: `(file, text before, text after)`, each text found
/// once in its file. Shared by the rules' table (an in-memory tree) and the
/// integration tests (a tree on disk).
pub fn base_image_edits(to: &str) -> [(&'static str, String, String); 3] {
    [
        (
            "openstack-tenant/packages/mobiledgex/Makefile",
            "VERSION = 3.0.1".to_string(),
            format!("VERSION = {to}"),
        ),
        (
            "vmlayer/props.go",
            "var MEXInfraVersion = \"3.0.1\"".to_string(),
            format!("var MEXInfraVersion = \"{to}\""),
        ),
        (
            "version/package-version.go",
            "var MobiledgeXPackageVersion = \"3.0.1\"".to_string(),
            format!("var MobiledgeXPackageVersion = \"{to}\""),
        ),
    ]
}
