//! The plan of a new release: its steps in order, each with the title and
//! the commands a person would type to do it by hand.

use anyhow::Result;

use super::require_everything;
use super::state::{Release, StepRecord, Work};
use crate::bad;
use crate::build_image::{self, ScriptKind};
use crate::bump_base_image;
use crate::context::Context;
use crate::flags::{self, Platform};
use crate::publish_image;
use crate::semver::Semver;
use crate::sites::{self, paths};

impl flags::Release {
    /// The plan of a new release, from the flags and the tree as it is.
    pub(super) fn plan(&self, ctx: &Context) -> Result<Release> {
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
        let inventory = ctx.inventory()?;
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
        Work::ChefPolicy => {
            "update the chef policy: cookbook upload, and every lock the bump made stale".into()
        }
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
        // Which locks go stale is known only after the bump: chef-policy
        // finds them then, and shows each command as it runs it.
        Work::ChefPolicy => vec![match &release.apt_snapshot {
            Some(date) => format!("cargo xtask chef-policy --apt-snapshot {date} --yes"),
            None => "cargo xtask chef-policy --yes".to_string(),
        }],
    }
}
