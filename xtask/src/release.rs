//! `cargo xtask release <VERSION>`: the whole runbook as one plan, recorded
//! step by step in `target/xtask/release.json`, resumable after a failure.
//! It never pushes a chef policy: that waits for the rollout (`chef-push`).

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::bad;
use crate::build_image::{self, BuildState, ImageOptions, ScriptKind};
use crate::build_package;
use crate::bump_base_image::{self, Edits};
use crate::changeset::Changeset;
use crate::checksum;
use crate::chef_policy;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags::{self, Platform};
use crate::runner::Runner;
use crate::semver::Semver;
use crate::sites::{self, paths, Inventory};
use crate::tree::WorkTree;

const STATE_FILE: &str = "target/xtask/release.json";

/// What one step of a release does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Work {
    Bump,
    BuildPackage,
    PublishPackage,
    BuildImage(Platform),
    /// The one image of a tree whose build.sh has no platform option.
    BuildCommonImage,
    ChefPolicy,
}

impl Work {
    fn id(&self) -> String {
        match self {
            Work::Bump => "bump".into(),
            Work::BuildPackage => "build-package".into(),
            Work::PublishPackage => "publish-package".into(),
            Work::BuildImage(platform) => format!("build-image:{}", platform.name()),
            Work::BuildCommonImage => "build-image".into(),
            Work::ChefPolicy => "chef-policy".into(),
        }
    }

    fn from_id(id: &str) -> Option<Work> {
        Some(match id {
            "bump" => Work::Bump,
            "build-package" => Work::BuildPackage,
            "publish-package" => Work::PublishPackage,
            "chef-policy" => Work::ChefPolicy,
            "build-image" => Work::BuildCommonImage,
            other => {
                let name = other.strip_prefix("build-image:")?;
                Work::BuildImage(*Platform::ALL.iter().find(|p| p.name() == name)?)
            }
        })
    }

    /// Publishes, uploads or pushes something that cannot be taken back.
    fn irreversible(&self) -> bool {
        matches!(
            self,
            Work::PublishPackage | Work::BuildImage(_) | Work::BuildCommonImage | Work::ChefPolicy
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Pending,
    /// Started and not finished: the process was killed; counts as not done.
    Running,
    Done,
    Failed,
    /// Stopped by Ctrl-C; counts as not done.
    Interrupted,
}

impl StepState {
    fn name(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Interrupted => "interrupted",
        }
    }

    fn parse(name: &str) -> StepState {
        match name {
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            "interrupted" => StepState::Interrupted,
            "running" => StepState::Running,
            _ => StepState::Pending,
        }
    }
}

#[derive(Debug, Clone)]
struct StepRecord {
    work: Work,
    title: String,
    commands: Vec<String>,
    state: StepState,
    /// What the step's result depends on, compared again on --resume.
    inputs: Value,
    attempts: u64,
    seconds: Option<f64>,
    log: Option<String>,
    error: Option<String>,
}

/// The recorded release: its inputs and each step's state.
#[derive(Debug, Clone)]
struct Release {
    version: String,
    apt_snapshot: Option<String>,
    platforms: Vec<Platform>,
    user: String,
    publish: bool,
    /// The Artifactory base URL (None: the default).
    artifactory: Option<String>,
    steps: Vec<StepRecord>,
}

impl flags::Release {
    pub fn run(self, ctx: &Context) -> Result<()> {
        if self.status {
            let release = load(ctx)?;
            print!("{}", render(ctx, &release));
            return Ok(());
        }
        let runner = build_package::runner(ctx)?;
        let release = if self.resume {
            let mut release = load(ctx)?;
            // Where Artifactory is does not change what is released.
            if self.artifactory.is_some() {
                release.artifactory = self.artifactory.clone();
            }
            reconcile(ctx, &mut release)?;
            if !self.confirm.dry_run {
                require_everything(ctx, &release)?;
            }
            if release.steps.iter().all(|s| s.state == StepState::Done) {
                ctx.say(format!(
                    "The release of {} is complete; nothing to resume.",
                    release.version
                ));
                print_push_hint(ctx);
                return Ok(());
            }
            print!("{}", render(ctx, &release));
            if !ctx.confirm(
                self.confirm,
                "Continue the release from its first step not done?",
            )? {
                return Ok(());
            }
            release
        } else {
            let release = self.plan(ctx)?;
            warn_if_replacing(ctx)?;
            print!("{}", render(ctx, &release));
            // The bump's diff is the one preview of file edits; the rest are commands.
            let preview = bump_changes(ctx, &runner, &release)?;
            bump_base_image::refuse_dirty(ctx, &runner, &preview.paths())?;
            ctx.say(preview.preview(&ctx.paint));
            if !ctx.confirm(self.confirm, "Run this release?")? {
                return Ok(());
            }
            save(ctx, &release)?;
            release
        };
        execute(ctx, &runner, release)
    }

    /// The plan of a new release, from the flags and the tree as it is.
    fn plan(&self, ctx: &Context) -> Result<Release> {
        let Some(version) = &self.version else {
            return Err(bad!("give the VERSION to release, or --status / --resume"));
        };
        let version = Semver::parse_user(version)
            .map_err(|why| bad!("{why}"))?
            .to_string();
        if let Some(date) = &self.apt_snapshot {
            sites::validate_snapshot_date(date).map_err(|why| bad!("--apt-snapshot: {why}"))?;
        }
        let user = match &self.user {
            Some(user) => user.clone(),
            None => std::env::var("USER").unwrap_or_default(),
        };
        if user.trim().is_empty() {
            return Err(bad!("no Artifactory user for the image build: pass --user <USER> (default: $USER, which is not set)"));
        }
        let inventory = load_inventory(ctx)?;
        // Every site already at VERSION (a release started over): the bump has
        // nothing left to do, which is not a downgrade.
        let already = inventory
            .base_image_sites()
            .iter()
            .all(|s| s.value == version);
        if !already {
            bump_base_image::check_new_version(
                &inventory,
                &version,
                self.apt_snapshot.as_deref(),
                false,
            )?;
        }
        let platforms = Platform::selection(&self.platforms, self.all_platforms);
        let mut release = Release {
            version: version.clone(),
            apt_snapshot: self.apt_snapshot.clone(),
            platforms: platforms.clone(),
            user,
            publish: self.publish,
            artifactory: self.artifactory.clone(),
            steps: Vec::new(),
        };
        if !self.confirm.dry_run {
            require_everything(ctx, &release)?;
        }
        let mut works = vec![Work::Bump, Work::BuildPackage];
        if self.publish {
            works.push(Work::PublishPackage);
        }
        // The tree's build.sh decides: an image per platform, or one for all.
        match build_image::ScriptKind::read(ctx)? {
            ScriptKind::PerPlatform => works.extend(platforms.iter().map(|p| Work::BuildImage(*p))),
            ScriptKind::Common => works.push(Work::BuildCommonImage),
        }
        works.push(Work::ChefPolicy);
        release.steps = works
            .into_iter()
            .map(|work| StepRecord {
                title: title(&work, &release),
                commands: commands(&work, &release),
                work,
                state: StepState::Pending,
                inputs: Value::Null,
                attempts: 0,
                seconds: None,
                log: None,
                error: None,
            })
            .collect();
        Ok(release)
    }
}

/// What every step needs from the machine and the user (tools, credentials,
/// the Artifactory URL), checked before the first step: a release must not
/// stop at step 4 for a tool step 1 could have asked for.
fn require_everything(ctx: &Context, release: &Release) -> Result<()> {
    let runner = build_package::runner(ctx)?;
    runner.require_tools(&[
        "make",
        "dpkg-deb",
        "packer",
        "openstack",
        "vault",
        "curl",
        "knife",
        "chef",
    ])?;
    build_image::require_credentials(&release.user)?;
    if release.publish {
        let options = build_package::Options {
            publish: true,
            artifactory: release.artifactory.clone(),
        };
        build_package::Build::prepare(ctx, &options, false)?;
    }
    Ok(())
}

fn title(work: &Work, release: &Release) -> String {
    let v = &release.version;
    match work {
        Work::Bump => match &release.apt_snapshot {
            Some(date) => {
                format!("set base image version {v} and APT snapshot {date} at every site")
            }
            None => format!("set base image version {v} at every site"),
        },
        Work::BuildPackage => format!("build and verify mobiledgex_{v}_amd64.deb"),
        Work::PublishPackage => format!("publish mobiledgex_{v}_amd64.deb to Artifactory"),
        Work::BuildImage(p) => format!("build image mobiledgex-v{} ({})", p.tag(v), p.name()),
        Work::BuildCommonImage => {
            format!("build image mobiledgex-v{v}, one common image for openstack, vcd and vsphere")
        }
        Work::ChefPolicy => "update the chef policy: cookbook upload and base.lock.json".into(),
    }
}

/// The commands a step runs, as a person would type them.
fn commands(work: &Work, release: &Release) -> Vec<String> {
    let snapshot = release
        .apt_snapshot
        .as_ref()
        .map(|d| format!(" --apt-snapshot {d}"))
        .unwrap_or_default();
    match work {
        Work::Bump => vec![format!(
            "cargo xtask bump-base-image {}{snapshot}",
            release.version
        )],
        Work::BuildPackage => vec![
            format!("make -C {} clean", paths::PACKAGE_DIR),
            format!("make -C {}", paths::PACKAGE_DIR),
            "dpkg-deb -f <deb> Package Version Architecture Depends".into(),
        ],
        Work::PublishPackage => vec![
            "curl --head <artifactory>/packages/pool/<deb>".into(),
            "curl --upload-file <deb> <artifactory>/packages/pool/<deb>;deb.distribution=…".into(),
        ],
        Work::BuildCommonImage => vec![format!(
            "cargo xtask build-image --all-platforms --user {} --tag {}",
            release.user, release.version
        )],
        Work::BuildImage(p) => vec![format!(
            "cargo xtask build-image --platform {} --user {} --tag {}",
            p.name(),
            release.user,
            release.version
        )],
        Work::ChefPolicy => vec![
            format!(
                "knife upload --chef-repo-path {} cookbooks/{}",
                paths::CHEF_DIR,
                paths::UPGRADE_COOKBOOK
            ),
            format!("knife cookbook show {}", paths::UPGRADE_COOKBOOK),
            "chef install policyfiles/base.rb".into(),
        ],
    }
}

fn load_inventory(ctx: &Context) -> Result<Inventory> {
    sites::load(&WorkTree {
        root: ctx.root.clone(),
    })
}

/// The bump's edits, planned on the tree as it is now.
fn bump_changes(ctx: &Context, runner: &Runner, release: &Release) -> Result<Changeset> {
    let inventory = load_inventory(ctx)?;
    let mut changes = Changeset::new(&ctx.root);
    let edits = Edits {
        version: release.version.clone(),
        apt_snapshot: release.apt_snapshot.clone(),
        chef: true,
        sync_deps: false,
    };
    bump_base_image::plan(ctx, runner, &inventory, &edits, &mut changes)?;
    Ok(changes)
}

/// Runs every step not done, in order, recording each; stops at the first failure.
fn execute(ctx: &Context, runner: &Runner, mut release: Release) -> Result<()> {
    let total = release.steps.len();
    for index in 0..total {
        if release.steps[index].state == StepState::Done {
            continue;
        }
        let step = &mut release.steps[index];
        step.state = StepState::Running;
        step.attempts += 1;
        step.error = None;
        step.log = None;
        let work = step.work.clone();
        ctx.say(format!(
            "\n{} {}",
            ctx.paint
                .bold(&format!("== release step {}/{total}:", index + 1)),
            ctx.paint.bold(&release.steps[index].title)
        ));
        save(ctx, &release)?;
        let started = Instant::now();
        let started_at = SystemTime::now();
        let result = run_work(ctx, runner, &release, &work);
        let seconds = Some(started.elapsed().as_secs_f64());
        let err = match result {
            Ok(inputs) => {
                let step = &mut release.steps[index];
                step.state = StepState::Done;
                step.inputs = inputs;
                step.seconds = seconds;
                save(ctx, &release)?;
                continue;
            }
            Err(err) => err,
        };
        let interrupted = Runner::interrupted();
        let log = latest_log(ctx, started_at);
        let message = (!crate::error::already_reported(&err)).then(|| format!("{err:#}"));
        {
            let step = &mut release.steps[index];
            step.state = if interrupted {
                StepState::Interrupted
            } else {
                StepState::Failed
            };
            step.seconds = seconds;
            step.error = message.clone();
            step.log = log.clone();
        }
        save(ctx, &release)?;
        if let Some(message) = &message {
            eprintln!("{}: {message}", ctx.paint.error("error"));
        }
        let what = if interrupted { "interrupted" } else { "failed" };
        eprintln!(
            "{}: release step {}/{total} ({}) {what}; it counts as not done. Fix the cause, then: cargo xtask release --resume",
            ctx.paint.error("error"),
            index + 1,
            work.id()
        );
        if let Some(log) = log {
            eprintln!("  last log: {log}");
        }
        return Err(AlreadyReported.into());
    }
    ctx.say(format!(
        "\n{} every step of the release of {} is done.",
        ctx.paint.good("Released:"),
        release.version
    ));
    print_push_hint(ctx);
    Ok(())
}

/// Runs one step; on success returns what its result depends on.
fn run_work(ctx: &Context, runner: &Runner, release: &Release, work: &Work) -> Result<Value> {
    match work {
        Work::Bump => {
            let changes = bump_changes(ctx, runner, release)?;
            changes.apply()?;
        }
        Work::BuildPackage => {
            let options = build_package::Options {
                publish: false,
                artifactory: None,
            };
            build_package::build(ctx, runner, &options)?;
        }
        Work::PublishPackage => {
            let options = build_package::Options {
                publish: true,
                artifactory: release.artifactory.clone(),
            };
            build_package::publish(ctx, runner, &options)?;
        }
        Work::BuildImage(_) | Work::BuildCommonImage => {
            let platforms = match work {
                Work::BuildImage(platform) => vec![*platform],
                _ => release.platforms.clone(),
            };
            let options = ImageOptions {
                platforms,
                version: release.version.clone(),
                user: release.user.clone(),
                ignore_checksum: false,
            };
            let results = build_image::build_images(ctx, runner, &options)?;
            if results.iter().any(|r| r.state != BuildState::Built) {
                return Err(AlreadyReported.into());
            }
        }
        Work::ChefPolicy => {
            chef_policy::update(ctx, runner, release.apt_snapshot.as_deref())?;
        }
    }
    fingerprint(ctx, release)
}

/// What a done step's result depends on: the version sites and the package's inputs.
fn fingerprint(ctx: &Context, release: &Release) -> Result<Value> {
    let inventory = load_inventory(ctx)?;
    let read = |rel: &str| std::fs::read(ctx.path(rel)).unwrap_or_default();
    Ok(json!({
        "version": inventory.package_version.value,
        "apt_snapshot": inventory.packer_apt_repo.snapshot(),
        "package_inputs": checksum::sha1_hex(&[read(paths::MAKEFILE), read(paths::DEPENDENCIES)].concat()),
        "release_version": release.version,
    }))
}

/// --resume refuses when the tree no longer matches what a done step used.
/// One change is expected and mended instead: pins fixed after a failed image
/// build (`deps fix`, the runbook's troubleshooting) while nothing was
/// published yet; the package is then built again.
fn reconcile(ctx: &Context, release: &mut Release) -> Result<()> {
    let inventory = load_inventory(ctx)?;
    let done = |work: &dyn Fn(&Work) -> bool| {
        release
            .steps
            .iter()
            .any(|s| work(&s.work) && s.state == StepState::Done)
    };
    let bumped = done(&|w| *w == Work::Bump);
    let mut why = Vec::new();
    if bumped && inventory.package_version.value != release.version {
        why.push(format!(
            "the Makefile's VERSION is {}, but this release bumped it to {}",
            inventory.package_version.value, release.version
        ));
    }
    if bumped {
        if let Some(date) = &release.apt_snapshot {
            if inventory.packer_apt_repo.snapshot() != Some(date.as_str()) {
                why.push(format!(
                    "packer's APT snapshot is {}, but this release moved it to {date}",
                    inventory.packer_apt_repo.snapshot().unwrap_or("?")
                ));
            }
        }
    }
    let now = fingerprint(ctx, release)?;
    let package_changed = release.steps.iter().any(|s| {
        s.work == Work::BuildPackage
            && s.state == StepState::Done
            && s.inputs.get("package_inputs") != now.get("package_inputs")
    });
    if package_changed {
        let shipped = done(&|w| {
            matches!(
                w,
                Work::PublishPackage | Work::BuildImage(_) | Work::BuildCommonImage
            )
        });
        if shipped {
            let next = Semver::parse(&release.version)
                .map(|v| v.next_patch().to_string())
                .unwrap_or_else(|_| "<next version>".into());
            why.push(format!(
                "the package's Makefile or dependencies changed after the package {} was published or built into an image, so a new version must carry them: cargo xtask release {next}",
                release.version
            ));
        } else {
            ctx.warn(format!(
                "the package's Makefile or dependencies changed since it was built: step build-package runs again for {}",
                release.version
            ));
            for step in release
                .steps
                .iter_mut()
                .skip_while(|s| s.work != Work::BuildPackage)
            {
                step.state = StepState::Pending;
            }
        }
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(bad!(
        "cannot resume the release of {}: {}",
        release.version,
        why.join("; ")
    ))
}

/// A new release replaces a recorded one: say what is dropped.
fn warn_if_replacing(ctx: &Context) -> Result<()> {
    if !ctx.path(STATE_FILE).exists() {
        return Ok(());
    }
    match load(ctx) {
        Ok(old) if old.steps.iter().any(|s| s.state != StepState::Done) => ctx.warn(format!(
            "this replaces the unfinished release of {} recorded in {STATE_FILE} (see cargo xtask release --status)",
            old.version
        )),
        _ => {}
    }
    Ok(())
}

/// The newest log written since `since`: the failed step's own, not an older step's.
fn latest_log(ctx: &Context, since: SystemTime) -> Option<String> {
    let dir = ctx.path(&format!("{}/logs", paths::XTASK_STATE_DIR));
    let newest = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(modified, _)| *modified >= since)
        .max()?;
    let path: PathBuf = newest.1;
    Some(
        path.strip_prefix(&ctx.root)
            .unwrap_or(&path)
            .display()
            .to_string(),
    )
}

fn print_push_hint(ctx: &Context) {
    ctx.say(format!(
        "{} push the chef policy ONLY AFTER all the supporting code has been rolled out:\n  cargo xtask chef-push --group <main|stage|qa|dev>",
        ctx.paint.warning("Next, later:")
    ));
}

/// The plan with each step's state, for the start, --status and --resume.
fn render(ctx: &Context, release: &Release) -> String {
    let mut out = format!(
        "{} {}{}, platforms: {}{}\n",
        ctx.paint.bold("Release of base image"),
        release.version,
        release
            .apt_snapshot
            .as_ref()
            .map(|d| format!(", APT snapshot {d}"))
            .unwrap_or_default(),
        release
            .platforms
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        if release.publish {
            ", publishing the package"
        } else {
            ""
        }
    );
    // A step recorded as running runs only while its command holds the lock.
    let running = crate::lock::holder(&ctx.root).filter(|holder| holder.pid != std::process::id());
    for (i, step) in release.steps.iter().enumerate() {
        let state = match (step.state, &running) {
            (StepState::Done, _) => ctx.paint.good("done"),
            (StepState::Failed, _) => ctx.paint.error("failed"),
            (StepState::Running, Some(holder)) => {
                ctx.paint.good(&format!("running (pid {})", holder.pid))
            }
            (StepState::Interrupted | StepState::Running, _) => {
                ctx.paint.warning("interrupted (not done)")
            }
            (StepState::Pending, _) => "pending".to_string(),
        };
        let mark = if step.work.irreversible() {
            "  [irreversible]"
        } else {
            ""
        };
        out.push_str(&format!("  {}. [{state}] {}{mark}\n", i + 1, step.title));
        for command in &step.commands {
            out.push_str(&format!("       $ {command}\n"));
        }
        if let Some(error) = &step.error {
            out.push_str(&format!("       error: {error}\n"));
        }
        if let Some(log) = &step.log {
            out.push_str(&format!("       log: {log}\n"));
        }
    }
    out.push_str(
        "  never run by release: cargo xtask chef-push --group <group>, only after the rollout\n",
    );
    out
}

fn save(ctx: &Context, release: &Release) -> Result<()> {
    let steps: Vec<Value> = release
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.work.id(),
                "title": s.title,
                "commands": s.commands,
                "irreversible": s.work.irreversible(),
                "state": s.state.name(),
                "inputs": s.inputs,
                "attempts": s.attempts,
                "seconds": s.seconds,
                "log": s.log,
                "error": s.error,
            })
        })
        .collect();
    let state = json!({
        "version": release.version,
        "apt_snapshot": release.apt_snapshot,
        "platforms": release.platforms.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "user": release.user,
        "publish": release.publish,
        "artifactory": release.artifactory,
        "saved_unix": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "steps": steps,
    });
    let dir = ctx.path(paths::XTASK_STATE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut changes = Changeset::new(&ctx.root);
    changes.write(
        std::path::Path::new(STATE_FILE),
        serde_json::to_string_pretty(&state)? + "\n",
        0o644,
    )?;
    changes.apply()?;
    Ok(())
}

fn load(ctx: &Context) -> Result<Release> {
    let path = ctx.path(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad!(
            "no release is recorded in {STATE_FILE}; start one with cargo xtask release <VERSION>"
        ))
        }
        Err(err) => return Err(bad!("cannot read {STATE_FILE}: {err}")),
    };
    let broken = |what: &str| {
        bad!("{STATE_FILE} is damaged ({what}); start a new release with cargo xtask release <VERSION>")
    };
    let json: Value = serde_json::from_str(&text).map_err(|_| broken("not JSON"))?;
    let string = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut steps = Vec::new();
    for step in json
        .get("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| broken("no steps"))?
    {
        let id = string(step, "id").ok_or_else(|| broken("a step without id"))?;
        let work = Work::from_id(&id).ok_or_else(|| broken("an unknown step"))?;
        steps.push(StepRecord {
            work,
            title: string(step, "title").unwrap_or(id),
            commands: step
                .get("commands")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            state: StepState::parse(
                step.get("state")
                    .and_then(Value::as_str)
                    .unwrap_or("pending"),
            ),
            inputs: step.get("inputs").cloned().unwrap_or(Value::Null),
            attempts: step.get("attempts").and_then(Value::as_u64).unwrap_or(0),
            seconds: step.get("seconds").and_then(Value::as_f64),
            log: string(step, "log"),
            error: string(step, "error"),
        });
    }
    let platforms = json
        .get("platforms")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(|name| Platform::ALL.iter().copied().find(|p| p.name() == name))
                .collect()
        })
        .unwrap_or_default();
    Ok(Release {
        version: string(&json, "version").ok_or_else(|| broken("no version"))?,
        apt_snapshot: string(&json, "apt_snapshot"),
        platforms,
        user: string(&json, "user").unwrap_or_default(),
        publish: json
            .get("publish")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        artifactory: string(&json, "artifactory"),
        steps,
    })
}
