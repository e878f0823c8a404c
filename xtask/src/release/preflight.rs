//! The release's checks: what every step needs from the machine and the
//! user, and the preflight step that runs every check an irreversible step
//! can fail before the first of them.

use anyhow::Result;

use super::edits::bump_edits;
use super::execute::image_options;
use super::state::{Release, StepState, Work};
use crate::artifactory::Presence;
use crate::bad;
use crate::build_image::{self, Mode};
use crate::build_package;
use crate::context::Context;
use crate::publish_image;
use crate::runner::Runner;

/// What every step needs from the machine and the user (tools, credentials,
/// the Artifactory URL), checked before the first step: a release must not
/// stop at step 4 for a tool step 1 could have asked for.
pub(super) fn require_everything(ctx: &Context, release: &Release) -> Result<()> {
    let runner = ctx.runner();
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
        publish_image::require(ctx, runner)?;
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

/// Every check an irreversible step of this release can fail, before the
/// first of them: a release stopped here publishes nothing, so it can run
/// again with the same version. The image build's own preflight runs in
/// full (rules, chef, a committed tree, the pins against the APT snapshot,
/// glance, the network, vault, `packer validate`), without building.
pub(super) fn preflight(ctx: &Context, runner: &Runner, release: &Release) -> Result<()> {
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
    let inventory = ctx.inventory()?;
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
