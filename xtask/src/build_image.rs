//! `cargo xtask build-image`: what `openstack-tenant/packer/build.sh` does, with
//! the secrets kept out of every process's arguments and environment. A
//! preflight that runs nothing irreversible (the rules, the tag, chef, glance,
//! vault, `packer validate`), then the packer builds, each publishing to glance.
//!
//! Two kinds of build.sh are told apart by their text ([`ScriptKind`]): one
//! with `-p <platform>` (the project's rendition) builds an image per
//! platform; one without (the real monorepo since its common base image)
//! builds one image that serves every platform, and first compares glance's
//! source image with the checksum Artifactory stores for the cloud image.
//!
//! `build_images` is the same work without the questions, for `release`.
//!
//! This file is the command, the plan and the builds; `settings` reads
//! build.sh, `credentials` checks what the user supplies, `preflight` runs the
//! checks (through `cloud`, the openstack, vault and Artifactory wrappers), and
//! `summary` tells how the builds ended.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::bad;
use crate::context::Context;
use crate::debian::apt_report::{self, Problem};
use crate::flags::{self, Platform};
use crate::formats;
use crate::plan::Plan;
use crate::runner::{Runner, Step};
use crate::semver::Semver;
use crate::sites::{paths, Inventory};
use crate::tree::read_text;

mod cloud;
mod credentials;
mod preflight;
mod settings;
mod summary;

pub use credentials::{openstack_credentials, require_credentials, NO_OPENSTACK_CREDENTIALS};
pub use preflight::{preflight, Mode};
use preflight::{Described, Prepared};
pub use settings::{BuildSettings, ScriptKind};
pub use summary::duration;
use summary::finish;

/// The output image is `mobiledgex-v<tag>` (vmlayer expects this name).
pub const IMAGE_PREFIX: &str = "mobiledgex-v";
const TEMPLATE: &str = paths::PACKER_TEMPLATE;

/// What a build is asked for, decided (no defaults left to resolve).
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// In build order.
    pub platforms: Vec<Platform>,
    /// The base image version, which is the mobiledgex package version: `3.0.1`.
    pub version: String,
    /// The Artifactory user the provisioner installs packages as.
    pub user: String,
    /// Build even when glance's source image is not the cloud image
    /// Artifactory stores (build.sh's `-F`).
    pub ignore_checksum: bool,
    /// Build from uncommitted changes (GITTAG and MEX_BUILD then end in `-dirty`).
    pub allow_dirty: bool,
    /// Build although Artifactory does not have the .deb of the version.
    pub allow_unpublished: bool,
    /// Where to ask for the .deb (`--artifactory`, ARTIFACTORY_URL; None: as
    /// build-package --publish decides).
    pub artifactory: Option<String>,
    /// The caller (release's preflight) judged the uncommitted changes and
    /// the .deb itself: allow_dirty and allow_unpublished are its decision,
    /// not flags the user passed, so nothing is said about them.
    pub judged_by_caller: bool,
}

impl ImageOptions {
    pub fn image_name(&self, platform: Platform) -> String {
        format!("{IMAGE_PREFIX}{}", platform.tag(&self.version))
    }
}

/// What one packer build makes an image for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Platform(Platform),
    /// The one common image of a tree whose build.sh has no platform option.
    Common,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Platform(platform) => platform.name(),
            Target::Common => "all",
        }
    }
}

/// How one platform's build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    Built,
    Failed,
    Interrupted,
    /// Not started because an earlier build failed.
    NotRun,
}

impl BuildState {
    pub fn name(self) -> &'static str {
        match self {
            BuildState::Built => "built",
            BuildState::Failed => "failed",
            BuildState::Interrupted => "interrupted",
            BuildState::NotRun => "not run",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildResult {
    pub target: Target,
    pub image: String,
    pub state: BuildState,
    pub elapsed: Duration,
    /// The build's log (none when it did not run).
    pub log: Option<PathBuf>,
}

impl flags::BuildImage {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let inventory = ctx.inventory()?;
        let options = self.options(ctx, &inventory)?;
        ctx.require_answerable(self.confirm)?;
        let runner = ctx.runner();
        let mode = if self.confirm.dry_run {
            Mode::DryRun
        } else {
            Mode::Build
        };
        let prepared = preflight(ctx, runner, &inventory, &options, mode)?;
        ctx.say(prepared.plan.render(&ctx.paint).trim_end());
        let count = prepared.builds.len();
        let question = format!(
            "Build and publish {count} image{} to glance?",
            if count == 1 { "" } else { "s" }
        );
        if !ctx.confirm(self.confirm, &question)? {
            return Ok(());
        }
        let results = build(ctx, runner, prepared)?;
        finish(
            ctx,
            &results,
            self.all_platforms || count > 1,
            self.json,
            &options.version,
        )
    }

    /// The tag (default: the Makefile's VERSION) must be the package version:
    /// the image is named after the package it carries.
    fn options(&self, ctx: &Context, inventory: &Inventory) -> Result<ImageOptions> {
        let package = &inventory.package_version;
        let version = match &self.tag {
            Some(tag) => Semver::parse_user(tag)
                .map_err(|why| bad!("--tag: {why}"))?
                .to_string(),
            None => Semver::parse(&package.value)
                .map_err(|why| bad!("{}: VERSION {why}", package.location()))?
                .to_string(),
        };
        if version != package.value {
            return Err(bad!(
                "--tag {version} is not the package version {} ({}): the image carries the mobiledgex package of its tag; build that package first (cargo xtask bump-base-image {version}, cargo xtask build-package --publish)",
                package.value,
                package.location()
            ));
        }
        let user = match &self.user {
            Some(user) => user.clone(),
            None => std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_default(),
        };
        let user = if !user.trim().is_empty() {
            user
        } else if self.confirm.dry_run {
            // A dry run only shows the plan: a placeholder will do.
            ctx.warn("no Artifactory user: a real build needs --user <USER> (default: $USER, which is not set)");
            NO_USER.to_string()
        } else {
            return Err(bad!(
                "no Artifactory user: pass --user <USER> (default: $USER, which is not set)"
            ));
        };
        Ok(ImageOptions {
            platforms: Platform::selection(&self.platforms, self.all_platforms),
            version,
            user,
            ignore_checksum: self.ignore_checksum,
            allow_dirty: self.allow_dirty,
            allow_unpublished: self.allow_unpublished,
            artifactory: self.artifactory.clone(),
            judged_by_caller: false,
        })
    }
}

/// The user a dry run shows when none is given and $USER is not set.
pub const NO_USER: &str = "<USER>";

/// The preflight and the builds, without asking: for `release`, which has
/// asked already. Stops at the first failed build.
pub fn build_images(
    ctx: &Context,
    runner: &Runner,
    options: &ImageOptions,
) -> Result<Vec<BuildResult>> {
    let inventory = ctx.inventory()?;
    let prepared = preflight(ctx, runner, &inventory, options, Mode::Build)?;
    ctx.say(prepared.plan.render(&ctx.paint).trim_end());
    build(ctx, runner, prepared)
}

/// The images the builds make, in order: one per platform, or the common one.
fn targets(options: &ImageOptions, settings: &BuildSettings) -> Vec<(Target, String)> {
    match settings.kind {
        ScriptKind::PerPlatform => options
            .platforms
            .iter()
            .map(|&platform| (Target::Platform(platform), options.image_name(platform)))
            .collect(),
        ScriptKind::Common => vec![(Target::Common, settings.common_image_name(&options.version))],
    }
}

/// The glance images one build makes: each builder's `image_name` of the
/// template with OUTPUT_IMAGE_NAME filled in (the real template also builds
/// `<name>-dbg`); just `name` when the template says nothing readable.
pub fn template_outputs(ctx: &Context, name: &str) -> Vec<String> {
    let tree = ctx.work_tree();
    let text = read_text(&tree, &format!("{}/{TEMPLATE}", paths::PACKER_DIR))
        .ok()
        .flatten()
        .unwrap_or_default();
    let user_var = formats::regex(r"\{\{\s*user\s+`OUTPUT_IMAGE_NAME`\s*\}\}");
    let mut names: Vec<String> = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|json| json.get("builders").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|builder| builder.get("image_name").and_then(Value::as_str))
        .map(|pattern| user_var.replace_all(pattern, name))
        .filter(|output| !output.contains("{{"))
        .collect();
    names.dedup();
    if names.is_empty() {
        names.push(name.to_string());
    }
    names
}

/// Values found by the preflight that go on packer's command line.
struct BuildVars {
    source_image: String,
    source_checksum: String,
    network: String,
    var_file: PathBuf,
    described: Described,
}

/// One packer build per platform, or the one common build, in order; each
/// publishes to glance. The variables are build.sh's, in its order; the
/// secrets are only in the var-file (and hidden wherever output shows them).
fn plan_builds(
    ctx: &Context,
    inventory: &Inventory,
    options: &ImageOptions,
    settings: &BuildSettings,
    vars: &BuildVars,
    secrets: &[String],
) -> (Plan, Vec<(Target, String)>) {
    let mut plan = Plan::default();
    let mut builds = Vec::new();
    let var = |name: &str, value: &str| ["-var".to_string(), format!("{name}={value}")];
    for (target, image) in targets(options, settings) {
        let start = |title: String| {
            Step::new(title, "packer")
                .arg("build")
                .arg(format!("-var-file={}", vars.var_file.display()))
        };
        let (mut step, publishes) = match target {
            Target::Platform(platform) => (
                start(format!("packer build ({})", platform.name()))
                    .args(var("OUTPUT_IMAGE_NAME", &image))
                    .args(var("SRC_IMG", &vars.source_image))
                    .args(var("SRC_IMG_CHECKSUM", &vars.source_checksum))
                    .args(var("NETWORK", &vars.network))
                    .args(var("FLAVOR", &settings.flavor))
                    .args(var("ARTIFACTORY_USER", &options.user))
                    .args(var("ARTIFACTORY_ARTIFACTS_TAG", &settings.artifacts_tag))
                    .args(var("APT_REPO", &inventory.packer_apt_repo.value))
                    .args(var("PACKAGE_VERSION", &options.version))
                    .args(var("OUTPUT_PLATFORM", platform.name()))
                    .args(var("TAG", &platform.tag(&options.version)))
                    .args(var("GITTAG", &vars.described.git_tag))
                    .args(var("VAULT", &settings.vault))
                    .args(var("TRACE", "no")),
                format!("publishes the image {image} to glance"),
            ),
            Target::Common => (
                start("packer build (one common image for openstack, vcd and vsphere)".into())
                    .args(var("OUTPUT_IMAGE_NAME", &image))
                    .args(var("SRC_IMG", &vars.source_image))
                    .args(var("SRC_IMG_CHECKSUM", &vars.source_checksum))
                    .args(var("NETWORK", &vars.network))
                    .args(var("ARTIFACTORY_USER", &options.user))
                    .args(var("ARTIFACTORY_ARTIFACTS_TAG", &settings.artifacts_tag))
                    .args(var("APT_REPO", &inventory.packer_apt_repo.value))
                    .args(var("TAG", &options.version))
                    .args(var("GITTAG", &vars.described.git_tag))
                    .args(var("FLAVOR", &settings.flavor))
                    .args(var("VAULT", &settings.vault))
                    .args(var("TRACE", "no"))
                    .args(var(
                        "MEX_BUILD",
                        vars.described.mex_build.as_deref().unwrap_or_default(),
                    )),
                format!(
                    "publishes {} to glance",
                    template_outputs(ctx, &image).join(" and ")
                ),
            ),
        };
        step = step.arg(TEMPLATE).dir(Path::new(paths::PACKER_DIR));
        for value in secrets {
            step = step.secret(value.clone());
        }
        plan.push(step, true, Some(publishes));
        builds.push((target, image));
    }
    (plan, builds)
}

/// Runs the planned builds in order; the first failure stops the rest.
pub fn build(ctx: &Context, runner: &Runner, prepared: Prepared) -> Result<Vec<BuildResult>> {
    let total = prepared.plan.len();
    let mut results = Vec::new();
    let mut stopped = false;
    for (i, (planned, (target, image))) in
        prepared.plan.steps.iter().zip(&prepared.builds).enumerate()
    {
        if stopped || Runner::interrupted() {
            results.push(BuildResult {
                target: *target,
                image: image.clone(),
                state: BuildState::NotRun,
                elapsed: Duration::ZERO,
                log: None,
            });
            continue;
        }
        let outcome = runner.step(i + 1, total, &planned.step)?;
        let state = if outcome.ok {
            BuildState::Built
        } else if outcome.interrupted {
            BuildState::Interrupted
        } else {
            BuildState::Failed
        };
        if state == BuildState::Failed {
            diagnose(ctx, &outcome.log, &outcome.output);
        }
        stopped = state != BuildState::Built;
        results.push(BuildResult {
            target: *target,
            image: image.clone(),
            state,
            elapsed: outcome.elapsed,
            log: Some(outcome.log),
        });
    }
    drop(prepared);
    Ok(results)
}

/// After a failed build: apt's unmet-dependency report, if the log holds one,
/// turned into the pins to set and the command that sets them.
fn diagnose(ctx: &Context, log: &Path, output: &str) {
    let text = std::fs::read_to_string(log).unwrap_or_else(|_| output.to_string());
    let unmet = apt_report::parse(&text);
    if unmet.is_empty() {
        return;
    }
    let mut out = format!(
        "{}: apt could not install the mobiledgex package: its pins disagree with the APT snapshot\n",
        ctx.paint.error("error")
    );
    for dep in &unmet {
        let pinned = dep.constraint.as_deref().unwrap_or("(no version)");
        let line = match &dep.problem {
            Problem::WillBeInstalled(version) => format!(
                "{}: pinned {pinned}, the snapshot has {version} → pin `{} ={version}`",
                dep.dependency, dep.dependency
            ),
            Problem::NotInstallable => format!(
                "{}: pinned {pinned}, not installable from the snapshot: nothing to pin to; fix this pin by hand",
                dep.dependency
            ),
            Problem::NotGoingToBeInstalled => format!(
                "{}: pinned {pinned}, not going to be installed (follows from another failure)",
                dep.dependency
            ),
            Problem::Other(why) => format!("{}: pinned {pinned}, but {why}", dep.dependency),
        };
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "Re-pin from this log, rebuild and publish the package, then build again:\n  cargo xtask deps fix --from-log {}",
        log.display()
    );
    ctx.say(out.trim_end());
}
