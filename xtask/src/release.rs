//! `cargo xtask release <VERSION>`: the whole runbook as one plan, recorded
//! step by step in `target/xtask/release.json`, resumable after a failure.
//! It never pushes a chef policy: that waits for the rollout (`chef-push`).

use anyhow::Result;

use crate::bad;
use crate::bump_base_image;
use crate::context::Context;
use crate::flags;

mod edits;
mod execute;
mod fingerprint;
mod plan;
mod preflight;
mod state;
mod status;

use edits::{bump_changes, carry_edits};
use execute::execute;
use fingerprint::reconcile;
use preflight::require_everything;
use state::{load, save, StepState, STATE_FILE};
use status::{print_push_hint, render};

impl flags::Release {
    pub fn run(self, ctx: &Context) -> Result<()> {
        if self.status {
            let release = load(ctx)?;
            if self.json {
                ctx.answer(release.to_json()?);
            } else {
                ctx.answer(render(ctx, &release));
            }
            return Ok(());
        }
        if self.json {
            return Err(bad!("--json goes with --status"));
        }
        let runner = ctx.runner();
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
            ctx.say(render(ctx, &release));
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
            ctx.say(render(ctx, &release));
            // The bump's diff is the one preview of file edits; the rest are commands.
            let preview = bump_changes(ctx, runner, &release)?;
            bump_base_image::refuse_dirty(ctx, &preview.paths())?;
            ctx.say(preview.preview(&ctx.paint));
            if !ctx.confirm(self.confirm, "Run this release?")? {
                return Ok(());
            }
            save(ctx, &release)?;
            release
        };
        execute(ctx, runner, release)
    }
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
