//! Running a release: every step not done, in order, each recorded before
//! and after it runs, and what each kind of step (`Work`) does.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use serde_json::{json, Value};

use super::edits::{bump_changes, bump_edits, release_edits};
use super::fingerprint::fingerprint;
use super::preflight::preflight;
use super::state::{save, Release, StepState, Work};
use super::status::print_push_hint;
use crate::build_image::{self, BuildState, ImageOptions};
use crate::build_package;
use crate::chef_policy;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags::Platform;
use crate::publish_image;
use crate::runner::Runner;

/// Runs every step not done, in order, recording each; stops at the first failure.
pub(super) fn execute(ctx: &Context, runner: &Runner, mut release: Release) -> Result<()> {
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
            ctx.error(message);
        }
        let what = if interrupted { "interrupted" } else { "failed" };
        ctx.error(format!("release step {}/{total} ({}) {what}; it counts as not done. Fix the cause, then: cargo xtask release --resume", index + 1, work.id()));
        if let Some(log) = log {
            ctx.explain(format!("  last log: {log}"));
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
pub(super) fn image_options(release: &Release, platforms: Vec<Platform>) -> ImageOptions {
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

/// The newest log written since `since`: the failed step's own, not an older step's.
fn latest_log(ctx: &Context, since: SystemTime) -> Option<String> {
    let dir = ctx.state_dir.join("logs");
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
