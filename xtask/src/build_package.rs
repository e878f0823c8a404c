//! `cargo xtask build-package`: the runbook's `make clean` and `make` in the
//! package folder, a check of the .deb against the tree (Package, Version,
//! Architecture, Depends), and with `--publish` the upload to Artifactory.
//!
//! Steps go from reversible to irreversible: nothing runs while `check` finds
//! errors or a tool the package scripts call is missing, and the upload runs
//! only after every earlier step succeeded and the server said the version
//! is not there yet. The package's own build.sh asks "Publish to
//! Artifactory? (yN)": make runs with `PUBLISH=no` and "n" on its standard
//! input, so build.sh never publishes; this module does, with curl through
//! the runner.
//!
//! make writes into the tree (`version/package-version.go` through
//! version.sh): the tracked files it may write are kept in memory before it
//! runs and put back, through the changeset, when it fails or changes them.

mod make;
mod preflight;
mod publish;
mod scripts;
mod verify;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

use crate::artifactory::{Credentials, Target};
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::runner::{Outcome, Runner};
use crate::sites::paths;
use crate::tree::{read_text, WorkTree};
use crate::{bad, flags};

use make::{describe_restored, make, make_clean, TrackedFiles};
use preflight::{Package, Script};

pub use publish::{deb_presence, deb_presence_of};

/// build.sh's default architecture; the upload's `deb.architecture`.
const ARCH: &str = "amd64";
/// The generic package builder the Makefile calls as `../build.sh`.
const BUILD_SH: &str = "openstack-tenant/packages/build.sh";
/// What the Makefile's build-vers target runs.
const VERSION_SH: &str = "openstack-tenant/packages/mobiledgex/version.sh";
/// Where make may write tracked files: the packages (build.sh runs in the
/// package folder) and `version/` (build-vers writes package-version.go).
const MAKE_WRITES_UNDER: [&str; 2] = ["openstack-tenant/packages", "version"];

impl flags::BuildPackage {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let options = Options {
            publish: self.publish,
            artifactory: self.artifactory.clone(),
        };
        let build = Build::prepare(ctx, &options, self.confirm.dry_run)?;
        ctx.say(build.plan(1, build.step_count()).join("\n"));
        let question = if build.options.publish {
            "Build, verify and publish the package?"
        } else {
            "Build and verify the package?"
        };
        if !ctx.confirm(self.confirm, question)? {
            return Ok(());
        }
        let runner = ctx.runner();
        let built = build.run(ctx, runner, 1, build.step_count())?;
        ctx.say(built.summary(&ctx.root));
        Ok(())
    }
}

/// What `release` decides for the package build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub publish: bool,
    /// Artifactory base URL; `None`: build.sh's `ARTIFACTORY_PATH`, else the default.
    pub artifactory: Option<String>,
}

/// What was built (and where it went).
#[derive(Debug, Clone)]
pub struct Built {
    /// The .deb, absolute.
    pub deb: PathBuf,
    pub version: String,
    /// The Artifactory URL, when it was published.
    pub published: Option<String>,
}

impl Built {
    fn summary(&self, root: &Path) -> String {
        let deb = self.deb.strip_prefix(root).unwrap_or(&self.deb).display();
        match &self.published {
            Some(url) => format!("Built version {}: {deb}, published as {url}", self.version),
            None => format!(
                "Built and verified version {}: {deb} (not published: --publish uploads it)",
                self.version
            ),
        }
    }
}

/// For `release`: build and verify without asking (the caller asked).
pub fn build(ctx: &Context, runner: &Runner, options: &Options) -> Result<Built> {
    let build = Build::prepare(ctx, options, false)?;
    build.run(ctx, runner, 1, build.step_count())
}

/// For `release`, whose build and publish are separate steps: publish the
/// .deb a previous `build` made, after checking it still matches the tree.
pub fn publish(ctx: &Context, runner: &Runner, options: &Options) -> Result<Built> {
    let options = Options {
        publish: true,
        ..options.clone()
    };
    let build = Build::prepare(ctx, &options, false)?;
    let credentials = build.credentials(ctx, runner)?;
    let Some(local) = build
        .deb_names()
        .into_iter()
        .find(|name| ctx.path(paths::PACKAGE_DIR).join(name).is_file())
    else {
        return Err(bad!(
            "{} is not there to publish; build it first (cargo xtask build-package)",
            build.deb_path(&build.deb_names()[0]).display()
        ));
    };
    build.verify_deb(ctx, runner, &local, 1, 3)?;
    let built = Built {
        deb: ctx.path(&build.deb_path(&local).to_string_lossy()),
        version: build.package.version.clone(),
        published: None,
    };
    build.publish_built(ctx, runner, built, credentials, 2, 3)
}

/// Every tool `make` runs in the package folder calls, read from the
/// Makefile, version.sh and build.sh of the tree at `root` (for `doctor`).
pub fn tools_needed(root: &Path) -> Vec<&'static str> {
    let tree = WorkTree {
        root: root.to_path_buf(),
    };
    let texts: Vec<String> = [paths::MAKEFILE, VERSION_SH, BUILD_SH]
        .iter()
        .filter_map(|rel| read_text(&tree, rel).ok().flatten())
        .collect();
    let mut tools = scripts::tools_called(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    if !tools.contains(&"dpkg-deb") {
        // The verify step runs it whatever the scripts do.
        tools.push("dpkg-deb");
    }
    tools
}

/// Everything decided before a step runs: the package, the checks passed,
/// the tools found, and for a publish the target and stored credentials.
pub struct Build {
    options: Options,
    package: Package,
    script: Script,
    tools: Vec<&'static str>,
    target: Option<Target>,
    /// Where the upload destination came from, for the plan.
    target_source: String,
    credentials: Option<Credentials>,
}

impl Build {
    /// Runs the steps, numbered from `first` of `total`; stops at the first
    /// failure (exit 1, reported). Asks for credentials not stored, on a terminal.
    pub fn run(&self, ctx: &Context, runner: &Runner, first: usize, total: usize) -> Result<Built> {
        let credentials = self.credentials(ctx, runner)?;
        let before = TrackedFiles::read(ctx, runner)?;
        let started = SystemTime::now();

        let mut n = first;
        for step in [make_clean(), make()] {
            let outcome = runner.step(n, total, &step)?;
            if !outcome.ok {
                let restored = before.restore_changed(ctx)?;
                ctx.error(format!("`{}` failed; {}. Fix the cause (the step's log above) and run build-package again. Nothing was published.", step.command_line(), describe_restored(&restored, "make")));
                return Err(AlreadyReported.into());
            }
            n += 1;
        }
        self.check_tracked_files(ctx, &before)?;

        let Some(local) = self.find_deb(ctx, started) else {
            ctx.error(format!(
                "make succeeded but did not produce {} in {}; look at the make step's log above",
                self.deb_names().join(" or "),
                paths::PACKAGE_DIR
            ));
            return Err(AlreadyReported.into());
        };
        self.verify_deb(ctx, runner, &local, n, total)?;
        ctx.say(format!(
            "  {} Package {}, Version {}, Architecture {}, Depends = the {} pins of {} ({local})",
            ctx.paint.good("verified:"),
            self.package.name,
            self.package.version,
            self.script.arch,
            self.package.dependencies.pins.len(),
            paths::DEPENDENCIES
        ));

        let built = Built {
            deb: ctx.path(&self.deb_path(&local).to_string_lossy()),
            version: self.package.version.clone(),
            published: None,
        };
        self.publish_built(ctx, runner, built, credentials, n + 1, total)
    }
}

/// A failed or interrupted step stops the command; the runner already said
/// why and where the log is.
fn must_succeed(outcome: Outcome) -> Result<Outcome> {
    if outcome.ok {
        Ok(outcome)
    } else {
        Err(AlreadyReported.into())
    }
}
