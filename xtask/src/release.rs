//! `cargo xtask release <VERSION>`: the whole runbook as one plan, recorded
//! step by step in `target/xtask/release.json`, resumable after a failure.
//! It never pushes a chef policy: that waits for the rollout (`chef-push`).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use serde_json::{json, Value};

use crate::artifactory::Presence;
use crate::bad;
use crate::build_image::{self, BuildState, ImageOptions, Mode, ScriptKind};
use crate::build_package;
use crate::bump_base_image::{self, Edits};
use crate::changeset::Changeset;
use crate::checksum;
use crate::chef_policy;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags::{self, Platform};
use crate::publish_image;
use crate::runner::Runner;
use crate::semver::Semver;
use crate::sites::{self, paths, Inventory};
use crate::tree::{Tree as _, WorkTree};

mod state;

use state::{load, save, Release, StepRecord, StepState, Work, STATE_FILE};

impl flags::Release {
    pub fn run(self, ctx: &Context) -> Result<()> {
        if self.status {
            let release = load(ctx)?;
            if self.json {
                print!("{}", release.to_json()?);
            } else {
                print!("{}", render(ctx, &release));
            }
            return Ok(());
        }
        if self.json {
            return Err(bad!("--json goes with --status"));
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
            let mut release = self.plan(ctx)?;
            warn_if_replacing(ctx)?;
            carry_edits(ctx, &mut release);
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
        let user = if !user.trim().is_empty() {
            user
        } else if self.confirm.dry_run {
            // A dry run only shows the plan.
            ctx.warn("no Artifactory user for the image build: a real release needs --user <USER> (default: $USER, which is not set)");
            build_image::NO_USER.to_string()
        } else {
            return Err(bad!("no Artifactory user for the image build: pass --user <USER> (default: $USER, which is not set)"));
        };
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
            commit: true,
            ticket: self.ticket.clone(),
            saved_unix: 0,
            publish_image: !self.no_publish_image,
            steps: Vec::new(),
        };
        if !self.confirm.dry_run {
            require_everything(ctx, &release)?;
        }
        // Every check first; then what cannot be taken back. The chef policy
        // comes before the image so that the image is built from the
        // release's commit, which holds the lock chef-policy regenerates.
        let mut works = vec![Work::Bump, Work::BuildPackage, Work::Preflight];
        if self.publish {
            works.push(Work::PublishPackage);
        }
        works.push(Work::ChefPolicy);
        works.push(Work::Commit);
        // The tree's build.sh decides: an image per platform, or one for all.
        match build_image::ScriptKind::read(ctx)? {
            ScriptKind::PerPlatform => works.extend(platforms.iter().map(|p| Work::BuildImage(*p))),
            ScriptKind::Common => works.push(Work::BuildCommonImage),
        }
        if release.publish_image {
            works.push(Work::PublishImage);
        }
        release.steps = works
            .into_iter()
            .map(|work| {
                StepRecord::new(
                    work.clone(),
                    title(&work, &release),
                    commands(&work, &release),
                )
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
    let mut tools = vec![
        "make",
        "dpkg-deb",
        "packer",
        "openstack",
        "vault",
        "curl",
        "knife",
        "chef",
    ];
    if release.publish_image {
        tools.push("qemu-img");
    }
    runner.require_tools(&tools)?;
    build_image::require_credentials(&release.user)?;
    if release.publish_image {
        publish_image::require(ctx, &runner)?;
    }
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
        Work::Preflight => {
            "check everything the irreversible steps need, before the first of them".into()
        }
        Work::PublishPackage => format!("publish mobiledgex_{v}_amd64.deb to Artifactory"),
        Work::BuildImage(p) => format!("build image mobiledgex-v{} ({})", p.tag(v), p.name()),
        Work::BuildCommonImage => {
            format!("build image mobiledgex-v{v}, one common image for openstack, vcd and vsphere")
        }
        Work::PublishImage => format!(
            "publish image {} to Artifactory",
            publish_image::artifact_name(v, false)
        ),
        Work::ChefPolicy => "update the chef policy: cookbook upload and base.lock.json".into(),
        Work::Commit => format!(
            "commit the release's edits: {}",
            crate::commit::message(v, release.ticket.as_deref())
        ),
    }
}

/// The commands a step runs, as a person would type them.
fn commands(work: &Work, release: &Release) -> Vec<String> {
    let snapshot = release
        .apt_snapshot
        .as_ref()
        .map(|d| format!(" --apt-snapshot {d}"))
        .unwrap_or_default();
    let ticket = release
        .ticket
        .as_ref()
        .map(|t| format!(" --ticket {t}"))
        .unwrap_or_default();
    let commit = if release.commit {
        format!(" --commit{ticket}")
    } else {
        String::new()
    };
    match work {
        Work::Bump => vec![format!(
            "cargo xtask bump-base-image {}{snapshot}",
            release.version
        )],
        Work::Commit => vec![
            "git add -- <the files the release edited>".into(),
            "cargo xtask check --staged".into(),
            format!(
                "git commit -m {} -- <the files the release edited>{}",
                crate::runner::quote(&crate::commit::message(
                    &release.version,
                    release.ticket.as_deref()
                )),
                if commit.is_empty() { " (not recorded: skipped)" } else { "" }
            ),
        ],
        Work::Preflight => vec![
            "cargo xtask check; git diff --quiet HEAD".into(),
            "curl --head <artifactory>/packages/pool/<deb>".into(),
            format!(
                "cargo xtask build-image --dry-run (and the real run's glance, pins, vault and packer validate) --tag {}",
                release.version
            ),
        ],
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
        Work::PublishImage => vec![format!("cargo xtask publish-image {}", release.version)],
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
    // The checks are about the world now: run them again whenever an
    // irreversible step after them is still to run.
    if let Some(gate) = release.steps.iter().position(|s| s.work == Work::Preflight) {
        if release.steps[gate + 1..]
            .iter()
            .any(|s| s.state != StepState::Done)
        {
            release.steps[gate].state = StepState::Pending;
        }
    }
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

/// The image build as release asks for it: from the committed bump, with
/// the .deb in Artifactory (a release recorded before it committed its bump
/// builds from the uncommitted one, as it did then).
fn image_options(release: &Release, platforms: Vec<Platform>) -> ImageOptions {
    ImageOptions {
        platforms,
        version: release.version.clone(),
        user: release.user.clone(),
        ignore_checksum: false,
        allow_dirty: !release.commit,
        allow_unpublished: false,
        artifactory: release.artifactory.clone(),
        judged_by_caller: false,
    }
}

/// Starting over at the version of an unfinished release: its bump's edits
/// (not committed before the commit step) remain this release's to commit.
fn carry_edits(ctx: &Context, release: &mut Release) {
    let Ok(old) = load(ctx) else { return };
    if old.version != release.version {
        return;
    }
    let edited = bump_edits(&old);
    if let Some(bump) = release.steps.iter_mut().find(|s| s.work == Work::Bump) {
        bump.inputs = json!({ "edited": edited });
    }
}

/// The files the bump edited (recorded by its step).
fn bump_edits(release: &Release) -> Vec<String> {
    release
        .steps
        .iter()
        .filter(|s| s.work == Work::Bump)
        .filter_map(|s| s.inputs.get("edited").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// What the release edited and has not committed: the bump's files, and the
/// chef files chef-policy wrote (the preflight made sure nothing else
/// differed from HEAD before them).
fn release_edits(ctx: &Context, runner: &Runner, release: &Release) -> Result<Vec<String>> {
    let bumped = bump_edits(release);
    let chef = format!("{}/", paths::CHEF_DIR);
    let mut edits: Vec<String> = crate::git::modified_tracked(runner, &ctx.root)?
        .into_iter()
        .filter(|path| bumped.contains(path) || path.starts_with(&chef))
        .collect();
    edits.sort();
    edits.dedup();
    Ok(edits)
}

/// Every check an irreversible step of this release can fail, before the
/// first of them: a release stopped here publishes nothing, so it can run
/// again with the same version. The image build's own preflight runs in
/// full (rules, chef, a committed tree, the pins against the APT snapshot,
/// glance, the network, vault, `packer validate`), without building.
fn preflight(ctx: &Context, runner: &Runner, release: &Release) -> Result<()> {
    require_everything(ctx, release)?;
    // A clean tree but for the bump's own edits, which the release commits.
    let bumped = bump_edits(release);
    let foreign: Vec<String> = crate::git::modified_tracked(runner, &ctx.root)?
        .into_iter()
        .filter(|path| !bumped.contains(path))
        .collect();
    if !foreign.is_empty() {
        return Err(bad!(
            "uncommitted changes that are not the release's own: {}; the release commits only its edits and builds the image from that commit: commit or stash them, then cargo xtask release --resume. Nothing irreversible was run.",
            foreign.join(", ")
        ));
    }
    ctx.say(format!(
        "  {} nothing differs from HEAD but the bump's edits",
        ctx.paint.good("ok")
    ));
    let published = release
        .steps
        .iter()
        .any(|s| s.work == Work::PublishPackage && s.state == StepState::Done);
    let (presence, url) = build_package::deb_presence(ctx, runner, release.artifactory.clone())?;
    match (release.publish && !published, presence) {
        (true, Presence::Present) => {
            return Err(bad!(
                "{url} is already in Artifactory: this release would publish it again. If an earlier run published it, finish that one (cargo xtask release --resume); else raise the version (cargo xtask release <next version>). Nothing irreversible was run."
            ))
        }
        (false, Presence::Absent) => {
            return Err(bad!(
                "Artifactory does not have {url} (HTTP 404), and the image installs it: release with --publish, or publish it first (cargo xtask build-package --publish). Nothing irreversible was run."
            ))
        }
        (true, Presence::Absent) => ctx.say(format!(
            "  {} {url} is not in Artifactory yet: the publish step can upload it",
            ctx.paint.good("ok")
        )),
        (false, Presence::Present) => ctx.say(format!(
            "  {} {url} is in Artifactory",
            ctx.paint.good("ok")
        )),
    }
    let inventory = load_inventory(ctx)?;
    let mut options = image_options(release, release.platforms.clone());
    // Published by the next step, asked above; the tree was judged above:
    // no "(--allow-dirty)" warning about flags the user never passed.
    options.allow_unpublished = true;
    options.allow_dirty = true;
    options.judged_by_caller = true;
    let prepared = build_image::preflight(ctx, runner, &inventory, &options, Mode::Build)?;
    drop(prepared);
    ctx.say(format!(
        "  {} the image build's preflight (rules, committed tree, pins, glance, vault, packer validate)",
        ctx.paint.good("ok")
    ));
    Ok(())
}

/// Runs one step; on success returns what its result depends on.
fn run_work(ctx: &Context, runner: &Runner, release: &Release, work: &Work) -> Result<Value> {
    match work {
        Work::Bump => {
            let changes = bump_changes(ctx, runner, release)?;
            let mut edited = changes.paths();
            // A release started over at the same version: the earlier run's
            // edits, not committed yet, are still this release's.
            edited.extend(bump_edits(release));
            edited.sort();
            edited.dedup();
            changes.apply()?;
            let mut inputs = fingerprint(ctx, release)?;
            inputs["edited"] = json!(edited);
            return Ok(inputs);
        }
        Work::Commit => {
            let paths = release_edits(ctx, runner, release)?;
            if !release.commit {
                ctx.say("this release was recorded before releases committed: nothing to do");
            } else if paths.is_empty() {
                ctx.say("nothing differs from HEAD: nothing to commit");
            } else {
                crate::commit::commit_bump(
                    ctx,
                    runner,
                    &paths,
                    &release.version,
                    release.ticket.as_deref(),
                )?;
            }
        }
        Work::Preflight => preflight(ctx, runner, release)?,
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
            let options = image_options(release, platforms);
            let results = build_image::build_images(ctx, runner, &options)?;
            if results.iter().any(|r| r.state != BuildState::Built) {
                return Err(AlreadyReported.into());
            }
        }
        Work::PublishImage => {
            let options = publish_image::Options {
                version: release.version.clone(),
                debug: false,
                from_file: None,
                replace: false,
                artifactory: release.artifactory.clone(),
            };
            publish_image::publish(ctx, runner, &options)?;
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
    Ok(json!({
        "version": inventory.package_version.value,
        "apt_snapshot": inventory.packer_apt_repo.snapshot(),
        "package_inputs": package_inputs(ctx)?,
        "release_version": release.version,
    }))
}

/// Everything `make` builds the .deb from: every file of the package folder
/// (the Makefile, `dependencies`, `description`, the maintainer scripts, the
/// installed scripts and units, whatever is added later) and
/// `packages/build.sh`, each as `path → sha1 of its mode and bytes`. What
/// make itself writes there (`mobiledgex_<version>/`, the .deb) is output.
fn package_inputs(ctx: &Context) -> Result<Value> {
    let tree = WorkTree {
        root: ctx.root.clone(),
    };
    let mut files = serde_json::Map::new();
    let mut add = |rel: &str, meta: &std::fs::Metadata| -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let Some(bytes) = tree.read(rel)? else {
            return Ok(());
        };
        let mode = format!("{:o}\0", meta.permissions().mode() & 0o777);
        let hash = checksum::sha1_hex(&[mode.as_bytes(), &bytes].concat());
        files.insert(rel.to_string(), Value::String(hash));
        Ok(())
    };
    let package = ctx.path(paths::PACKAGE_DIR);
    let output_prefix = format!("{}_", package_name(ctx));
    let walk = walkdir::WalkDir::new(&package)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            entry.depth() != 1 || !(name.starts_with(&output_prefix) || name.ends_with(".deb"))
        });
    for entry in walk {
        let entry = entry.map_err(|err| bad!("cannot read the package folder: {err}"))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(&ctx.root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let meta =
            std::fs::metadata(entry.path()).map_err(|err| bad!("cannot read {rel}: {err}"))?;
        add(&rel, &meta)?;
    }
    let build_sh = ctx.path(paths::PACKAGE_BUILD_SH);
    if let Ok(meta) = std::fs::metadata(&build_sh) {
        add(paths::PACKAGE_BUILD_SH, &meta)?;
    }
    Ok(Value::Object(files))
}

/// The Makefile's `PACKAGE` (`mobiledgex`): make's output is named after it.
fn package_name(ctx: &Context) -> String {
    let tree = WorkTree {
        root: ctx.root.clone(),
    };
    crate::tree::read_text(&tree, paths::MAKEFILE)
        .ok()
        .flatten()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "PACKAGE").then(|| value.trim().to_string())
            })
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "mobiledgex".to_string())
}

/// The package files that differ between two `package_inputs`, for messages.
fn changed_inputs(before: Option<&Value>, now: Option<&Value>) -> String {
    let (Some(before), Some(now)) = (
        before.and_then(Value::as_object),
        now.and_then(Value::as_object),
    ) else {
        return "its files".to_string();
    };
    let changed: Vec<String> = before
        .iter()
        .filter(|(path, hash)| now.get(*path) != Some(*hash))
        .map(|(path, _)| path.rsplit('/').next().unwrap_or(path).to_string())
        .chain(
            now.keys()
                .filter(|path| !before.contains_key(*path))
                .map(|path| format!("{} (new)", path.rsplit('/').next().unwrap_or(path))),
        )
        .collect();
    if changed.is_empty() {
        "its files".to_string()
    } else {
        changed.join(", ")
    }
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
    let package_changed = release.steps.iter().find(|s| {
        s.work == Work::BuildPackage
            && s.state == StepState::Done
            && s.inputs.get("package_inputs") != now.get("package_inputs")
    });
    if let Some(built) = package_changed {
        let what = changed_inputs(
            built.inputs.get("package_inputs"),
            now.get("package_inputs"),
        );
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
                "the package's inputs changed ({what}) after the package {} was published or built into an image, so a new version must carry them: cargo xtask release {next}",
                release.version
            ));
        } else {
            ctx.warn(format!(
                "the package's inputs changed since it was built ({what}): step build-package runs again for {}",
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
        let took = step
            .seconds
            .map(|s| {
                format!(
                    " ({})",
                    build_image::duration(Duration::from_secs_f64(s.max(0.0)))
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}. [{state}] {}{mark}{took}\n",
            i + 1,
            step.title
        ));
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
