//! How a release shows itself: the plan with each step's state (at the
//! start, for `--status` and `--resume`), and the hint that ends it.

use std::time::Duration;

use super::state::{Release, StepState};
use crate::build_image;
use crate::context::Context;

pub(super) fn print_push_hint(ctx: &Context) {
    ctx.say(format!(
        "{} push the chef policy ONLY AFTER all the supporting code has been rolled out:\n  cargo xtask chef-push --group <main|stage|qa|dev>",
        ctx.paint.warning("Next, later:")
    ));
}

/// The plan with each step's state, for the start, --status and --resume.
pub(super) fn render(ctx: &Context, release: &Release) -> String {
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
