//! Keeping secrets out of sight: files only we can read, and redaction of
//! whatever a tool prints.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};

use super::signals::Deferral;

/// A file holding a secret (a curl config with credentials, a packer
/// `-var-file`): mode 0600 in a private (0700) folder of its own under the
/// temp dir, both removed on drop.
///
/// While one exists, SIGINT, SIGTERM and SIGHUP are deferred rather than
/// ending the process at once, so that the file is still removed; the runner
/// then starts no more steps and the command ends with 128+signal.
/// Create it right before the step that reads it.
pub struct SecretFile {
    path: PathBuf,
    // Dropped after `path` is removed: fields drop in declaration order.
    // The folder also defers signals while it exists.
    _dir: PrivateDir,
}

impl SecretFile {
    #[cfg(test)]
    pub fn new(contents: &[u8]) -> Result<SecretFile> {
        SecretFile::named("secret", contents)
    }

    /// Like [`SecretFile::new`], with a file name for tools that care about
    /// it (`vars.pkrvars.hcl`, `vars.json`).
    pub fn named(file_name: &str, contents: &[u8]) -> Result<SecretFile> {
        if file_name.is_empty() || file_name.contains('/') || file_name.starts_with('.') {
            anyhow::bail!("a secret file needs a plain file name, not `{file_name}`");
        }
        let dir = PrivateDir::new("secret")?;
        let path = dir.path().join(file_name);
        let file = SecretFile { path, _dir: dir };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file.path)
            .with_context(|| format!("cannot create the secret file {}", file.path.display()))?;
        out.write_all(contents)
            .and_then(|()| out.flush())
            .with_context(|| format!("cannot write the secret file {}", file.path.display()))?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A new temp folder only we can enter (0700), removed with its content on
/// drop: for secrets, and for downloads a tool works on. While one exists,
/// signals are deferred as for a [`SecretFile`], so it is removed on every
/// exit but SIGKILL.
pub struct PrivateDir {
    path: PathBuf,
    // Dropped after the folder is removed (`Drop::drop` runs first).
    _deferral: Deferral,
}

impl PrivateDir {
    pub fn new(label: &str) -> Result<PrivateDir> {
        let deferral = Deferral::new();
        Ok(PrivateDir {
            path: private_dir(label)?,
            _deferral: deferral,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `create` (not `create_all`) fails when the name exists, so nobody can
/// have prepared the folder for us.
fn private_dir(label: &str) -> Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir();
    let mut last_error = None;
    for _ in 0..16 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = base.join(format!("xtask-{label}-{}-{n}-{nanos}", std::process::id()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(err),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot create a private folder in {}", base.display())
                })
            }
        }
    }
    Err(anyhow::anyhow!(
        "cannot create a private folder in {}: {}",
        base.display(),
        last_error.map_or_else(String::new, |err| err.to_string())
    ))
}

/// Replaces secret values by `***`.
pub(crate) struct Redactor {
    /// Longest first, so that a secret containing another is hidden whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut secrets: Vec<String> = Vec::new();
        for value in values {
            // A multi-line secret (a key) is printed line by line by tools,
            // and the runner looks at one line at a time: hide each line too.
            let lines = value.lines().map(str::trim).filter(|line| *line != value);
            for secret in std::iter::once(value).chain(lines) {
                if !secret.is_empty() && !secrets.iter().any(|s| s == secret) {
                    secrets.push(secret.to_string());
                }
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }

    pub(crate) fn finds_in(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
    }
}
