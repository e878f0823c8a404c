//! `make clean` and `make` in the package folder, and the tracked files
//! make may write: kept in memory before it runs, compared after, and put
//! back through the changeset when it fails or changes them.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;

use crate::changeset::Changeset;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::runner::{Runner, Step};
use crate::sites::{self, paths};

use super::{Build, BUILD_SH, MAKE_WRITES_UNDER};

/// build.sh's answer to "Publish to Artifactory? (yN)".
const NO_PUBLISH_ANSWER: &[u8] = b"n\n";

impl Build {
    /// After a successful make: the tracked files must be as they were. The
    /// one change that is expected is build-vers regenerating
    /// package-version.go with the same version but not byte for byte (the
    /// real monorepo's copy carries a license header version.sh does not
    /// write): it is put back and said. Any other change is put back too, and
    /// stops the command (exit 1).
    pub(super) fn check_tracked_files(&self, ctx: &Context, before: &TrackedFiles) -> Result<()> {
        let changed = before.changed(ctx);
        if changed.is_empty() {
            return Ok(());
        }
        // The version make wrote, read as `check` reads it.
        let tree = ctx.work_tree();
        let written = sites::load(&tree)
            .ok()
            .map(|inventory| inventory.generated_version.value);
        let same_version = changed.len() == 1
            && changed[0].path == paths::PACKAGE_VERSION_GO
            && written.as_deref() == Some(&self.package.version);
        let restored = before.restore_changed(ctx)?;
        if same_version {
            ctx.say(format!(
                "note: make's build-vers rewrote {} with the same version {} but not byte for byte \
                 (version.sh writes only the package line and the variable, not e.g. a license header); \
                 put back as it was",
                paths::PACKAGE_VERSION_GO,
                self.package.version
            ));
            return Ok(());
        }
        let why = match written {
            Some(version) if version != self.package.version => format!(
                " (it wrote version {version} into {}, the Makefile says {})",
                paths::PACKAGE_VERSION_GO,
                self.package.version
            ),
            _ => String::new(),
        };
        ctx.error(format!("make succeeded but changed tracked files{why}; {}. A build must not change the tree: look at the Makefile's targets and the scripts they run. Nothing was published.", describe_restored(&restored, "make")));
        Err(AlreadyReported.into())
    }

    /// The .deb make produced: build.sh's `DEBFILE`, or else whichever of
    /// the two usual names make wrote (not one left from before).
    pub(super) fn find_deb(&self, ctx: &Context, started: SystemTime) -> Option<String> {
        let dir = ctx.path(paths::PACKAGE_DIR);
        let names = self.deb_names();
        let fresh = |name: &String| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            let new = self.script.deb_file.is_some()
                || meta.modified().is_ok_and(|modified| modified >= started);
            (meta.is_file() && new).then_some(())
        };
        names.into_iter().find(|name| fresh(name).is_some())
    }
}

/// The tracked files make may write, as they were before it ran: bytes and
/// mode, `None` for a tracked file missing from the working tree.
pub(super) struct TrackedFiles {
    files: Vec<(String, Option<FileState>)>,
}

/// A file's bytes and permission bits.
type FileState = (Vec<u8>, u32);

/// A tracked file that make changed.
pub(super) struct Changed {
    path: String,
    how: &'static str,
}

impl TrackedFiles {
    /// `git ls-files` under `MAKE_WRITES_UNDER`; outside git, the files of
    /// the package folder, build.sh and package-version.go.
    pub(super) fn read(ctx: &Context, runner: &Runner) -> Result<TrackedFiles> {
        let mut args = vec!["ls-files", "-z", "--"];
        args.extend(MAKE_WRITES_UNDER);
        let paths: Vec<String> = match runner.git(&ctx.root, &args) {
            Ok(out) => out
                .split(|&b| b == 0)
                .filter(|path| !path.is_empty())
                .map(|path| String::from_utf8_lossy(path).into_owned())
                .collect(),
            Err(_) => {
                let mut paths = vec![paths::PACKAGE_VERSION_GO.to_string(), BUILD_SH.to_string()];
                if let Ok(entries) = std::fs::read_dir(ctx.path(paths::PACKAGE_DIR)) {
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            if !name.ends_with(".deb") {
                                paths.push(format!("{}/{name}", paths::PACKAGE_DIR));
                            }
                        }
                    }
                }
                paths
            }
        };
        let files = paths
            .into_iter()
            .map(|rel| {
                let state = read_state(&ctx.path(&rel));
                (rel, state)
            })
            .collect();
        Ok(TrackedFiles { files })
    }

    /// The files that differ from what was read, and how.
    fn changed(&self, ctx: &Context) -> Vec<Changed> {
        let mut changed = Vec::new();
        for (rel, before) in &self.files {
            let now = read_state(&ctx.path(rel));
            let how = match (before, &now) {
                (a, b) if a == b => continue,
                (Some(_), None) => "removed by make",
                (None, Some(_)) => "created by make",
                (Some((_, _)), Some((bytes, _))) if bytes.is_empty() => {
                    "truncated to 0 bytes by make"
                }
                (Some((old, _)), Some((new, _))) if old == new => "its mode changed by make",
                _ => "changed by make",
            };
            changed.push(Changed {
                path: rel.clone(),
                how,
            });
        }
        changed
    }

    /// Puts back every file make changed, all or none, through the changeset.
    pub(super) fn restore_changed(&self, ctx: &Context) -> Result<Vec<Changed>> {
        let changed = self.changed(ctx);
        if changed.is_empty() {
            return Ok(changed);
        }
        let mut changeset = Changeset::new(&ctx.root);
        for change in &changed {
            let before = self
                .files
                .iter()
                .find(|(rel, _)| *rel == change.path)
                .and_then(|(_, state)| state.clone());
            match before {
                Some((bytes, mode)) => changeset.restore(&change.path, bytes, mode)?,
                None => changeset.remove(&change.path)?,
            }
        }
        changeset.apply().map_err(|err| {
            anyhow::anyhow!(
                "{err:#}; make changed {}: put them back with `git checkout -- <file>`",
                changed
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Ok(changed)
    }
}

/// A file's bytes and permission bits; `None` when it is not there.
fn read_state(path: &Path) -> Option<FileState> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).ok()?;
    let bytes = std::fs::read(path).ok()?;
    Some((bytes, meta.permissions().mode() & 0o7777))
}

/// "it changed no tracked file" or "these tracked files were put back as
/// they were before make: a (truncated to 0 bytes by make), b (…)".
pub(super) fn describe_restored(restored: &[Changed], tool: &str) -> String {
    if restored.is_empty() {
        return format!("{tool} changed no tracked file");
    }
    format!(
        "restored {} tracked file{} byte for byte to what {} before {tool} ran: {}",
        restored.len(),
        if restored.len() == 1 { "" } else { "s" },
        if restored.len() == 1 {
            "it was"
        } else {
            "they were"
        },
        restored
            .iter()
            .map(|c| format!("{} ({})", c.path, c.how))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(super) fn make_clean() -> Step {
    Step::new("make clean", "make")
        .arg("clean")
        .dir(Path::new(paths::PACKAGE_DIR))
}

/// `PUBLISH=no` (the rendition's build.sh then never asks) and "n" on
/// standard input (the real build.sh reads its answer there): build.sh
/// never publishes.
pub(super) fn make() -> Step {
    Step::new("make", "make")
        .env("PUBLISH", "no")
        .stdin(NO_PUBLISH_ANSWER.to_vec())
        .dir(Path::new(paths::PACKAGE_DIR))
}
