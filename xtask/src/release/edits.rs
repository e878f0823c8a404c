//! The files a release edits: the bump's planned edits, and the edits it
//! has made and not committed yet (carried over when a release starts over).

use anyhow::Result;
use serde_json::{json, Value};

use super::state::{load, Release, Work};
use crate::bump_base_image::{self, Edits};
use crate::changeset::Changeset;
use crate::context::Context;
use crate::runner::Runner;
use crate::sites::paths;

/// The bump's edits, planned on the tree as it is now.
pub(super) fn bump_changes(ctx: &Context, runner: &Runner, release: &Release) -> Result<Changeset> {
    let inventory = ctx.inventory()?;
    let mut changes = Changeset::new(&ctx.root);
    let edits = Edits {
        version: release.version.clone(),
        apt_snapshot: release.apt_snapshot.clone(),
        chef: true,
        sync_deps: false,
    };
    bump_base_image::plan(ctx, runner, &inventory, &edits, None, &mut changes)?;
    Ok(changes)
}

/// Starting over at the version of an unfinished release: its bump's edits
/// (not committed before the commit step) remain this release's to commit.
pub(super) fn carry_edits(ctx: &Context, release: &mut Release) {
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
pub(super) fn bump_edits(release: &Release) -> Vec<String> {
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
pub(super) fn release_edits(
    ctx: &Context,
    runner: &Runner,
    release: &Release,
) -> Result<Vec<String>> {
    let bumped = bump_edits(release);
    let mut edits: Vec<String> = crate::git::modified_tracked(runner, &ctx.root)?
        .into_iter()
        .filter(|path| bumped.contains(path) || paths::is_under(path, paths::CHEF_DIR))
        .collect();
    edits.sort();
    edits.dedup();
    Ok(edits)
}
