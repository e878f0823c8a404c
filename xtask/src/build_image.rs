//! `cargo xtask build-image`: what `openstack-tenant/packer/build.sh` does, with
//! the secrets kept out of every process's arguments. A preflight that runs
//! nothing irreversible (the rules, the tag, chef, glance, vault, `packer
//! validate`), then one packer build per platform, each publishing its image
//! to glance.
//!
//! `build_images` is the same work without the questions, for `release`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::bad;
use crate::context::Context;
use crate::debian::apt_report::{self, Problem};
use crate::error::AlreadyReported;
use crate::flags::{self, Platform};
use crate::formats::{self, shell};
use crate::plan::{shown_command, Plan};
use crate::rules;
use crate::runner::{Runner, SecretFile, Step};
use crate::semver::Semver;
use crate::sites::{self, paths, Inventory};
use crate::tree::{read_text, WorkTree};

/// The output image is `mobiledgex-v<tag>` (vmlayer expects this name).
pub const IMAGE_PREFIX: &str = "mobiledgex-v";
const TEMPLATE: &str = paths::PACKER_TEMPLATE;
/// Where build.sh reads the Artifactory API key when it is not in the environment.
const APIKEY_FILE: &str = ".mobiledgex/artifactory.apikey";
const APIKEY_ENV: &str = "ARTIFACTORY_APIKEY";
/// OpenStack credentials: an openrc sets OS_AUTH_URL, a clouds.yaml entry OS_CLOUD.
const OPENSTACK_ENV: [&str; 2] = ["OS_AUTH_URL", "OS_CLOUD"];

/// What a build is asked for, decided (no defaults left to resolve).
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// In build order.
    pub platforms: Vec<Platform>,
    /// The base image version, which is the mobiledgex package version: `3.0.1`.
    pub version: String,
    /// The Artifactory user the provisioner installs packages as.
    pub user: String,
}

impl ImageOptions {
    pub fn image_name(&self, platform: Platform) -> String {
        format!("{IMAGE_PREFIX}{}", platform.tag(&self.version))
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
    pub platform: Platform,
    pub image: String,
    pub state: BuildState,
    pub elapsed: Duration,
    /// The build's log (none when it did not run).
    pub log: Option<PathBuf>,
}

impl flags::BuildImage {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let inventory = sites::load(&WorkTree {
            root: ctx.root.clone(),
        })?;
        let options = self.options(&inventory)?;
        ctx.require_answerable(self.confirm)?;
        let runner = Runner::for_root(&ctx.root)?;
        let mode = if self.confirm.dry_run {
            Mode::DryRun
        } else {
            Mode::Build
        };
        let prepared = preflight(ctx, &runner, &inventory, &options, mode)?;
        ctx.say(prepared.plan.render(&ctx.paint).trim_end());
        let count = options.platforms.len();
        let question = format!(
            "Build and publish {count} image{} to glance?",
            if count == 1 { "" } else { "s" }
        );
        if !ctx.confirm(self.confirm, &question)? {
            return Ok(());
        }
        let results = build(ctx, &runner, prepared)?;
        finish(ctx, &results, self.all_platforms || count > 1)
    }

    /// The tag (default: the Makefile's VERSION) must be the package version:
    /// the image is named after the package it carries.
    fn options(&self, inventory: &Inventory) -> Result<ImageOptions> {
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
        if user.trim().is_empty() {
            return Err(bad!(
                "no Artifactory user: pass --user <USER> (default: $USER, which is not set)"
            ));
        }
        Ok(ImageOptions {
            platforms: Platform::selection(&self.platforms, self.all_platforms),
            version,
            user,
        })
    }
}

/// Whether the preflight may talk to the cloud and vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything: glance, network, vault, the full `packer validate`.
    Build,
    /// Offline only: the rules, chef, `packer validate -syntax-only`; cloud
    /// values in the plan are placeholders.
    DryRun,
}

/// Preflight passed: the plan, and what the builds need while they run.
pub struct Prepared {
    pub plan: Plan,
    builds: Vec<(Platform, String)>,
    /// The packer `-var-file` with the secrets; removed when dropped.
    _secrets: Option<SecretFile>,
}

/// The preflight and the builds, without asking: for `release`, which has
/// asked already. Stops at the first failed build.
pub fn build_images(
    ctx: &Context,
    runner: &Runner,
    options: &ImageOptions,
) -> Result<Vec<BuildResult>> {
    let inventory = sites::load(&WorkTree {
        root: ctx.root.clone(),
    })?;
    let prepared = preflight(ctx, runner, &inventory, options, Mode::Build)?;
    ctx.say(prepared.plan.render(&ctx.paint).trim_end());
    build(ctx, runner, prepared)
}

/// Everything checked before any build; exit 2 for what the user must supply
/// (tools, credentials), exit 1 (findings printed) for what is wrong in the tree
/// or the cloud. Nothing irreversible runs here.
pub fn preflight(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    options: &ImageOptions,
    mode: Mode,
) -> Result<Prepared> {
    let package = &inventory.package_version;
    if options.version != package.value {
        return Err(bad!(
            "the image version {} is not the package version {} ({})",
            options.version,
            package.value,
            package.location()
        ));
    }
    match mode {
        // curl reads the APT snapshot's package index for the pins' preflight.
        Mode::Build => runner.require_tools(&["packer", "openstack", "vault", "curl"])?,
        Mode::DryRun => runner.require_tools(&["packer", "openstack", "vault"])?,
    }
    let settings = BuildSettings::read(ctx)?;
    let apikey = match mode {
        Mode::Build => {
            require_openstack_credentials()?;
            artifactory_apikey(&options.user)?
        }
        Mode::DryRun => {
            if require_openstack_credentials().is_err() {
                ctx.warn("no OpenStack credentials in the environment (OS_AUTH_URL or OS_CLOUD): a real build needs them; `source <your openrc>` first");
            }
            String::new()
        }
    };

    ctx.say(ctx.paint.bold("Preflight:"));
    let ok = |what: String| ctx.say(format!("  {} {what}", ctx.paint.good("ok")));
    ok(format!(
        "tag {} is the package version ({})",
        options.version,
        package.location()
    ));
    local_checks(ctx, inventory, options)?;
    ok(format!(
        "check: no errors; chef upgrades VMs to {} from APT snapshot {}",
        options.version,
        inventory
            .packer_apt_repo
            .snapshot()
            .unwrap_or(&inventory.packer_apt_repo.value)
    ));

    let git_tag = git_describe(runner, &ctx.root);
    if mode == Mode::DryRun {
        let vars = BuildVars {
            source_image: "<source image id from glance>".into(),
            source_checksum: "<its checksum>".into(),
            network: "<network id>".into(),
            var_file: PathBuf::from(
                "<0600 var-file: ROOT_PASS, GRUB_PW_HASH, TOTP_KEY, ARTIFACTORY_APIKEY>",
            ),
            git_tag,
        };
        validate_template(
            runner,
            &Step::new("packer validate -syntax-only", "packer")
                .args(["validate", "-syntax-only", TEMPLATE])
                .dir(Path::new(paths::PACKER_DIR)),
        )?;
        ok(format!("packer validate -syntax-only {TEMPLATE}"));
        ctx.say("  (dry run: the pins against the APT snapshot, glance, the network, vault and a full `packer validate` are checked by the real run)");
        let (plan, builds) = plan_builds(inventory, options, &settings, &vars, &[]);
        return Ok(Prepared {
            plan,
            builds,
            _secrets: None,
        });
    }

    // apt must be able to install every pin from the snapshot packer builds from.
    crate::deps::preflight_against_snapshot(ctx, runner, inventory)?;

    let openstack = OpenStack { runner };
    let source = openstack.image(&settings.cloud_image_tag)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the source image {} is not in glance; upload it (https://cloud-images.ubuntu.com) or set CLOUD_IMAGE_TAG to an image that `openstack image list` shows",
            settings.cloud_image_tag
        )
    })?;
    if source.status != "active" {
        anyhow::bail!(
            "the source image {} ({}) is {}, not active",
            settings.cloud_image_tag,
            source.id,
            source.status
        );
    }
    ok(format!(
        "source image {} in glance (id {}, checksum {})",
        settings.cloud_image_tag, source.id, source.checksum
    ));
    let network = openstack.network(&settings.network)?;
    ok(format!("network {} (id {network})", settings.network));
    let mut taken = Vec::new();
    for &platform in &options.platforms {
        let name = options.image_name(platform);
        if let Some(image) = openstack.image(&name)? {
            taken.push(format!(
                "{name} is already in glance (id {}): a build would publish a second image of that name; delete it (openstack image delete {}) or build a new version",
                image.id, image.id
            ));
        }
    }
    if !taken.is_empty() {
        for problem in &taken {
            eprintln!("{}: {problem}", ctx.paint.error("error"));
        }
        return Err(AlreadyReported.into());
    }
    ok("no image of these names in glance yet".into());

    let vault = Vault::new(runner, &settings);
    vault.require_login()?;
    let secrets = json!({
        "ROOT_PASS": vault.field(&format!("{}/password", settings.vault_path), "value")?,
        "GRUB_PW_HASH": vault.field(&format!("{}/password", settings.vault_path), "grub_pw_hash")?,
        "TOTP_KEY": vault.field(&format!("{}/totp-key", settings.vault_path), "value")?,
        "ARTIFACTORY_APIKEY": apikey,
    });
    ok(format!("vault secrets read from {}", vault.addr));
    // Named as build.sh named them on their way into the var-file.
    let secret_values: Vec<(String, String)> = secrets
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| {
                    Some((format!("MEX_{key}"), value.as_str()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let var_file = SecretFile::named("packer-vars.json", secrets.to_string().as_bytes())?;
    let vars = BuildVars {
        source_image: source.id.clone(),
        source_checksum: source.checksum.clone(),
        network,
        var_file: var_file.path().to_path_buf(),
        git_tag,
    };
    let (plan, builds) = plan_builds(inventory, options, &settings, &vars, &secret_values);
    // The full validate of the first build's exact arguments (it authenticates).
    if let Some(first) = plan.steps.first() {
        let mut validate = Step::new("packer validate", "packer").arg("validate");
        validate = validate.args(first.step.arguments().iter().skip(1).cloned());
        for (key, value) in &secret_values {
            validate = validate.secret_env(key.clone(), value.clone());
        }
        validate_template(runner, &validate.dir(Path::new(paths::PACKER_DIR)))?;
        ok(format!("packer validate {TEMPLATE}"));
    }
    Ok(Prepared {
        plan,
        builds,
        _secrets: Some(var_file),
    })
}

/// The rules, and chef already pointing VMs at this version and snapshot
/// (build.sh asked the same before building).
fn local_checks(ctx: &Context, inventory: &Inventory, options: &ImageOptions) -> Result<()> {
    let findings = rules::evaluate(inventory, None);
    let (errors, stale_locks) = rules::blocking(&findings, &[rules::POLICY_LOCK], &ctx.paint);
    if !stale_locks.is_empty() {
        ctx.say(format!(
            "note: {} stale lock file(s); they do not change the image (cargo xtask chef-policy regenerates them)",
            stale_locks.len()
        ));
    }
    let mut problems = Vec::new();
    for site in &inventory.chef_package_versions {
        if site.value != options.version {
            problems.push(format!(
                "chef does not upgrade VMs to mobiledgex {} yet: {} has {}; run `cargo xtask chef-policy` first (it edits chef and uploads the cookbook; pushing the policy waits for the rollout)",
                options.version,
                site.location(),
                site.value
            ));
        }
    }
    if errors.is_empty() && problems.is_empty() {
        return Ok(());
    }
    for problem in &problems {
        eprintln!("{}: {problem}", ctx.paint.error("error"));
    }
    eprintln!(
        "{}: preflight failed ({} problem{}); nothing was built",
        ctx.paint.error("error"),
        errors.len() + problems.len(),
        if errors.len() + problems.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    Err(AlreadyReported.into())
}

fn validate_template(runner: &Runner, step: &Step) -> Result<()> {
    let outcome = runner.capture(step)?;
    if outcome.ok {
        return Ok(());
    }
    eprintln!("{}", outcome.output.trim_end());
    eprintln!(
        "error: `{}` rejected {}/{TEMPLATE}; nothing was built",
        shown_command(step),
        paths::PACKER_DIR
    );
    Err(AlreadyReported.into())
}

/// Values found by the preflight that go on packer's command line.
struct BuildVars {
    source_image: String,
    source_checksum: String,
    network: String,
    var_file: PathBuf,
    git_tag: String,
}

/// One packer build per platform, in order; each publishes to glance.
fn plan_builds(
    inventory: &Inventory,
    options: &ImageOptions,
    settings: &BuildSettings,
    vars: &BuildVars,
    secrets: &[(String, String)],
) -> (Plan, Vec<(Platform, String)>) {
    let mut plan = Plan::default();
    let mut builds = Vec::new();
    for &platform in &options.platforms {
        let image = options.image_name(platform);
        let var = |name: &str, value: &str| ["-var".to_string(), format!("{name}={value}")];
        let mut step = Step::new(format!("packer build ({})", platform.name()), "packer")
            .arg("build")
            .arg(format!("-var-file={}", vars.var_file.display()))
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
            .args(var("GITTAG", &vars.git_tag))
            .args(var("VAULT", &settings.vault))
            .args(var("TRACE", "no"))
            .arg(TEMPLATE)
            .dir(Path::new(paths::PACKER_DIR));
        // Packer reads them from the var-file; as secret variables they are
        // also hidden wherever the output shows them, and refused in arguments.
        for (key, value) in secrets {
            step = step.secret_env(key.clone(), value.clone());
        }
        plan.push(
            step,
            true,
            Some(format!("publishes the image {image} to glance")),
        );
        builds.push((platform, image));
    }
    (plan, builds)
}

/// Runs the planned builds in order; the first failure stops the rest.
pub fn build(ctx: &Context, runner: &Runner, prepared: Prepared) -> Result<Vec<BuildResult>> {
    let total = prepared.plan.len();
    let mut results = Vec::new();
    let mut stopped = false;
    for (i, (planned, (platform, image))) in
        prepared.plan.steps.iter().zip(&prepared.builds).enumerate()
    {
        if stopped || Runner::interrupted() {
            results.push(BuildResult {
                platform: *platform,
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
            platform: *platform,
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

/// The summary table (for several platforms), the follow-up tasks, the verdict.
fn finish(ctx: &Context, results: &[BuildResult], table: bool) -> Result<()> {
    if table {
        ctx.say(summary_table(results));
    }
    for result in results.iter().filter(|r| r.state == BuildState::Failed) {
        if let Some(log) = &result.log {
            ctx.say(format!(
                "log of the failed {} build: {}",
                result.platform.name(),
                log.display()
            ));
        }
    }
    if results.iter().all(|r| r.state == BuildState::Built) {
        let names: Vec<&str> = results.iter().map(|r| r.image.as_str()).collect();
        ctx.say(format!(
            "{} {} in glance.\nFollow-up (as build.sh said):\n  - compress and upload each image to Artifactory (the upload-baseimage job)\n  - after the rollout of the supporting code: cargo xtask chef-push --group <group>",
            ctx.paint.good("built:"),
            names.join(", ")
        ));
        return Ok(());
    }
    Err(AlreadyReported.into())
}

/// `platform  image  result  duration`, one row per platform.
pub fn summary_table(results: &[BuildResult]) -> String {
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            [
                r.platform.name().to_string(),
                r.image.clone(),
                r.state.name().to_string(),
                match r.state {
                    BuildState::NotRun => "-".to_string(),
                    _ => duration(r.elapsed),
                },
            ]
        })
        .collect();
    let header = ["platform", "image", "result", "duration"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out.trim_end().to_string()
}

/// `14m05s`, `3.1s`.
fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

/// The credentials a real build needs from the user (OpenStack, the
/// Artifactory API key), checked without running anything: for `release`,
/// which checks every step's needs before its first step.
pub fn require_credentials(user: &str) -> Result<()> {
    require_openstack_credentials()?;
    artifactory_apikey(user).map(|_| ())
}

fn require_openstack_credentials() -> Result<()> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if OPENSTACK_ENV.iter().any(|name| set(name)) {
        return Ok(());
    }
    Err(bad!(
        "no OpenStack credentials in the environment: neither {} is set; `source <your-project>-openrc.sh` (or set OS_CLOUD to an entry of clouds.yaml) and run again. Nothing was run.",
        OPENSTACK_ENV.join(" nor ")
    ))
}

/// The Artifactory API key the provisioner installs packages with: from
/// ARTIFACTORY_APIKEY, else the first line of ~/.mobiledgex/artifactory.apikey
/// (where build.sh reads it).
fn artifactory_apikey(user: &str) -> Result<String> {
    let (key, from) = read_apikey(user)?;
    // A few characters would also be found inside ordinary words, and is no key.
    if key.chars().count() < 8 {
        return Err(bad!(
            "the Artifactory API key in {from} is only {} characters long; that is not an API key or password",
            key.chars().count()
        ));
    }
    Ok(key)
}

/// The key and where it came from.
fn read_apikey(user: &str) -> Result<(String, String)> {
    if let Ok(key) = std::env::var(APIKEY_ENV) {
        if !key.trim().is_empty() {
            return Ok((key.trim().to_string(), APIKEY_ENV.to_string()));
        }
    }
    let file = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(APIKEY_FILE));
    if let Some(file) = &file {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = text.lines().next().unwrap_or("").trim().to_string();
                if key.is_empty() {
                    return Err(bad!(
                        "{} is empty: put the Artifactory API key of {user} on its first line",
                        file.display()
                    ));
                }
                return Ok((key, file.display().to_string()));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(bad!("cannot read {}: {err}", file.display())),
        }
    }
    Err(bad!(
        "no Artifactory API key for {user}: set {APIKEY_ENV} or write it to ~/{APIKEY_FILE} (mode 0600), as build.sh expects. Nothing was run."
    ))
}

/// `git describe --tags --always` of the checkout, as build.sh records it in the image.
fn git_describe(runner: &Runner, root: &Path) -> String {
    runner
        .query(root, "git", &["describe", "--tags", "--always"])
        .ok()
        .filter(|answer| answer.ok)
        .map(|answer| String::from_utf8_lossy(&answer.stdout).trim().to_string())
        .filter(|tag| !tag.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// What build.sh fixes for every build, read from it so that the monorepo
/// stays the one place that says; the environment overrides what build.sh
/// lets it override (CLOUD_IMAGE_TAG, VAULT, FLAVOR).
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub artifacts_tag: String,
    pub cloud_image_tag: String,
    pub network: String,
    pub vault_path: String,
    pub vault: String,
    pub flavor: String,
}

impl BuildSettings {
    pub fn read(ctx: &Context) -> Result<BuildSettings> {
        let tree = WorkTree {
            root: ctx.root.clone(),
        };
        let text = read_text(&tree, paths::PACKER_BUILD_SH)?
            .ok_or_else(|| bad!("{} not found", paths::PACKER_BUILD_SH))?;
        let mut missing = Vec::new();
        let mut value = |name: &str, env: bool| -> String {
            let from_env = env
                .then(|| std::env::var(name).ok())
                .flatten()
                .filter(|v| !v.is_empty());
            from_env
                .or_else(|| shell_default(&text, name))
                .unwrap_or_else(|| {
                    missing.push(name.to_string());
                    String::new()
                })
        };
        let settings = BuildSettings {
            artifacts_tag: value("ARTIFACTORY_ARTIFACTS_TAG", false),
            cloud_image_tag: value("CLOUD_IMAGE_TAG", true),
            network: value("NETWORK_NAME", false),
            vault_path: value("VAULT_PATH", false),
            vault: value("VAULT", true),
            flavor: value("FLAVOR", true),
        };
        if !missing.is_empty() {
            return Err(bad!(
                "{}: cannot find the value of {} (expected lines like `NAME='value'`, `NAME=\"${{NAME:-value}}\"` or `: \"${{NAME:=value}}\"`)",
                paths::PACKER_BUILD_SH,
                missing.join(", ")
            ));
        }
        Ok(settings)
    }
}

/// A literal value build.sh gives `name`: `NAME='v'`, `NAME="${NAME:-v}"` or
/// `: "${NAME:=v}"`. Anything computed is not a literal and gives `None`.
fn shell_default(text: &str, name: &str) -> Option<String> {
    let fallback = formats::regex(&format!(
        r"\$\{{{}:[-=](?P<v>[^}}$`]*)\}}",
        regex::escape(name)
    ));
    for found in shell::assignment(text, name) {
        if let Some(caps) = fallback.captures(&found.value) {
            return Some(caps["v"].to_string());
        }
        if !found.value.contains(['$', '`']) {
            return Some(found.value);
        }
    }
    fallback.captures(text).map(|caps| caps["v"].to_string())
}

/// Glance and neutron, through the openstack CLI's JSON output.
struct OpenStack<'a> {
    runner: &'a Runner,
}

struct Image {
    id: String,
    checksum: String,
    status: String,
}

impl OpenStack<'_> {
    /// The image of that name, or `None` when glance has none.
    fn image(&self, name: &str) -> Result<Option<Image>> {
        let step = Step::new(format!("look up {name} in glance"), "openstack")
            .args(["image", "show", "-f", "json", name]);
        let outcome = self.runner.capture(&step)?;
        if !outcome.ok {
            if outcome.output.contains("No Image found")
                || outcome.output.contains("Could not find resource")
            {
                return Ok(None);
            }
            anyhow::bail!(
                "`{}` failed: {}",
                step.command_line(),
                outcome.output.trim()
            );
        }
        let json: Value = serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("`{}` did not answer JSON", step.command_line()))?;
        let field = |key: &str| {
            json.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Some(Image {
            id: field("id"),
            checksum: field("checksum"),
            status: field("status"),
        }))
    }

    fn network(&self, name: &str) -> Result<String> {
        let step = Step::new(format!("look up network {name}"), "openstack")
            .args(["network", "show", "-f", "json", name]);
        let outcome = self.runner.capture(&step)?;
        if !outcome.ok {
            anyhow::bail!(
                "the network {name} was not found: `{}` said: {}",
                step.command_line(),
                outcome.output.trim()
            );
        }
        let json: Value = serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("`{}` did not answer JSON", step.command_line()))?;
        json.get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("`{}` gave no id", step.command_line()))
    }
}

/// The vault that holds the image's root password, GRUB hash and TOTP key.
struct Vault<'a> {
    runner: &'a Runner,
    addr: String,
}

impl<'a> Vault<'a> {
    fn new(runner: &'a Runner, settings: &BuildSettings) -> Vault<'a> {
        Vault {
            runner,
            addr: format!("https://{}", settings.vault),
        }
    }

    fn step(&self, title: &str) -> Step {
        Step::new(title, "vault").env("VAULT_ADDR", self.addr.clone())
    }

    /// A token is needed; logging in is interactive (GitHub), so it is the user's.
    fn require_login(&self) -> Result<()> {
        let step = self.step("vault token lookup").args(["token", "lookup"]);
        let outcome = self.runner.capture(&step)?;
        if outcome.ok {
            return Ok(());
        }
        Err(bad!(
            "not logged in to vault at {}: run `VAULT_ADDR={} vault login -method=github` and try again. Nothing was built.",
            self.addr,
            self.addr
        ))
    }

    /// `vault kv get -field=<field> <path>`: the secret, never shown.
    fn field(&self, path: &str, field: &str) -> Result<String> {
        let step = self.step(&format!("read {field} of {path}")).args([
            "kv",
            "get",
            &format!("-field={field}"),
            path,
        ]);
        let outcome = self.runner.capture(&step)?;
        let value = outcome.stdout.trim_end_matches(['\n', '\r']).to_string();
        if !outcome.ok || value.is_empty() {
            let said = if outcome.ok {
                "it is empty".to_string()
            } else {
                // vault's error, not the value: a failed read printed no secret.
                formats::lines(&outcome.output)
                    .map(|(_, _, line)| line.trim())
                    .filter(|line| !line.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            anyhow::bail!(
                "cannot read field {field} of {path} from vault at {}: {said}",
                self.addr
            );
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD_SH: &str = "ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'\nNETWORK_NAME='external-network-shared'\nCLOUD_IMAGE_TAG=\"${CLOUD_IMAGE_TAG:-ubuntu-18.04-server-cloudimg-amd64-2021-10-05}\"\n: \"${VAULT:=vault-main.mobiledgex.net}\"\nTAG=\"${TAG:-$(awk x)}\"\n";

    #[test]
    fn reads_build_sh_literals_and_defaults() {
        assert_eq!(
            shell_default(BUILD_SH, "ARTIFACTORY_ARTIFACTS_TAG").as_deref(),
            Some("2021-10-05")
        );
        assert_eq!(
            shell_default(BUILD_SH, "CLOUD_IMAGE_TAG").as_deref(),
            Some("ubuntu-18.04-server-cloudimg-amd64-2021-10-05")
        );
        assert_eq!(
            shell_default(BUILD_SH, "VAULT").as_deref(),
            Some("vault-main.mobiledgex.net")
        );
        // Computed values are not literals.
        assert_eq!(shell_default(BUILD_SH, "TAG"), None);
        assert_eq!(shell_default(BUILD_SH, "FLAVOR"), None);
    }

    #[test]
    fn summary_table_aligns_columns() {
        let result = |platform, image: &str, state, secs| BuildResult {
            platform,
            image: image.into(),
            state,
            elapsed: Duration::from_secs(secs),
            log: None,
        };
        let table = summary_table(&[
            result(
                Platform::Openstack,
                "mobiledgex-v3.0.1",
                BuildState::Built,
                845,
            ),
            result(
                Platform::Vcd,
                "mobiledgex-v3.0.1-vcd",
                BuildState::Failed,
                242,
            ),
            result(
                Platform::Vsphere,
                "mobiledgex-v3.0.1-vsphere",
                BuildState::NotRun,
                0,
            ),
        ]);
        assert_eq!(
            table,
            "platform   image                      result   duration\n\
             openstack  mobiledgex-v3.0.1          built    14m05s\n\
             vcd        mobiledgex-v3.0.1-vcd      failed   4m02s\n\
             vsphere    mobiledgex-v3.0.1-vsphere  not run  -"
        );
    }
}
