//! The whole command line, in one place (the contract is `shared/spec/cli.md`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Release the edge-cloud-infra base VM image without hand edits.
///
/// Every command reads the monorepo at --root (default: the workspace that
/// holds this crate). Commands that write files or run tools first show what
/// they will do and ask; --yes applies without asking, --dry-run only shows.
/// Exit status: 0 done, 1 a check found errors or a step failed,
/// 2 bad usage or bad input (then nothing was written and nothing was run).
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version)]
pub struct Xtask {
    /// The edge-cloud-infra checkout to work on (default: the one that holds
    /// the current folder, or `cargo run`'s workspace).
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Colour of diffs and reports; `auto` colours only when stdout and stderr are
    /// terminals; a non-empty NO_COLOR wins over every choice.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print less: only results, warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more: every file read and every command run.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    Versions(Versions),
    Check(Check),
    BumpBaseImage(BumpBaseImage),
    Mentions(Mentions),
    #[command(subcommand)]
    Deps(Deps),
    BuildPackage(BuildPackage),
    BuildImage(BuildImage),
    ChefPolicy(ChefPolicy),
    ChefPush(ChefPush),
    PublishImage(PublishImage),
    Doctor(Doctor),
    InstallHooks(InstallHooks),
    Release(Release),
}

impl Cmd {
    /// Commands that write no file and run no tool but queries: a closed
    /// pipe on their output ends them at once (see `output`).
    pub fn only_reads(&self) -> bool {
        match self {
            Cmd::Versions(_) | Cmd::Check(_) | Cmd::Mentions(_) | Cmd::Doctor(_) => true,
            Cmd::Deps(deps) => matches!(deps, Deps::Show { .. } | Deps::Outdated(_)),
            Cmd::Release(release) => release.status,
            _ => false,
        }
    }
}

/// How a writing or running command proceeds after its preview.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Confirm {
    /// Apply without asking (the preview is still printed).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Show the preview (diffs, commands in order) and change nothing.
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
}

/// Every version site: id, file:line, value; a verdict per group that must agree.
#[derive(Debug, Args)]
pub struct Versions {
    /// Machine-readable output (shape documented in the README).
    #[arg(long)]
    pub json: bool,
}

/// Check the monorepo's consistency rules; exit 1 on any error.
#[derive(Debug, Args)]
pub struct Check {
    /// Judge what `git commit` would record (the index) against HEAD; enables
    /// the cookbook-bump and package-bump rules. This is what the pre-commit hook runs.
    #[arg(long, conflicts_with = "since")]
    pub staged: bool,

    /// Judge the working tree against REV; enables cookbook-bump and package-bump.
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,

    /// Machine-readable findings.
    #[arg(long)]
    pub json: bool,
}

/// Set the base image version at every site (Makefile, props.go, package-version.go, chef).
#[derive(Debug, Args)]
pub struct BumpBaseImage {
    /// The new base image version, X.Y.Z (a leading `v` is accepted).
    pub version: String,

    /// Also move the APT snapshot (YYYY-MM-DD) at every site: packer build.sh and chef.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub apt_snapshot: Option<String>,

    /// With --apt-snapshot: also move every `=` pin behind the new snapshot (as `deps sync`).
    #[arg(long, requires = "apt_snapshot")]
    pub sync_deps: bool,

    /// Leave chef's package version alone (it normally follows only after rollout).
    #[arg(long)]
    pub no_chef: bool,

    /// Edit files that have uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,

    /// Accept a version lower than or equal to the current one.
    #[arg(long)]
    pub allow_downgrade: bool,

    /// Commit the bump's edits (only those files) once `check --staged`
    /// passes, as `<ticket> Base image <VERSION>`; with chef edits the commit
    /// waits for the lock (`cargo xtask chef-policy`).
    #[arg(long)]
    pub commit: bool,

    /// Ticket id that starts the commit message, e.g. EDGECLOUD-6295.
    #[arg(long, value_name = "ID", requires = "commit")]
    pub ticket: Option<String>,

    #[command(flatten)]
    pub confirm: Confirm,
}

/// Every place in the monorepo that mentions VERSION as a whole token.
#[derive(Debug, Args)]
pub struct Mentions {
    /// The version to look for, e.g. 3.0.1.
    pub version: String,

    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Read and edit the mobiledgex package's `dependencies`.
#[derive(Debug, Subcommand)]
pub enum Deps {
    /// Every pin: package, operator, version, line.
    Show {
        /// Machine-readable output: {"pins": [{"name", "op", "version", "line"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Re-pin packages: NAME=VERSION (Debian version syntax).
    Set(DepsSet),
    /// Re-pin from apt's "unmet dependencies" report in a packer log.
    Fix(DepsFix),
    /// Compare every pin with the APT snapshot's package index; exit 1 if any is behind.
    Outdated(DepsOutdated),
    /// Move every `=` pin that is behind the APT snapshot to its candidate.
    Sync(DepsSync),
}

#[derive(Debug, Args)]
pub struct DepsSet {
    /// NAME=VERSION pairs, e.g. docker-ce=5:20.10.14~3-0~ubuntu-bionic.
    #[arg(value_name = "NAME=VERSION")]
    pub pins: Vec<String>,

    /// Set kubeadm, kubectl and kubelet together to this version.
    #[arg(long, value_name = "VERSION")]
    pub kubernetes: Option<String>,

    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(Debug, Args)]
pub struct DepsFix {
    /// The packer build log holding apt's report (`-` for standard input).
    #[arg(long, value_name = "FILE|-")]
    pub from_log: PathBuf,

    #[command(flatten)]
    pub confirm: Confirm,
}

/// Where the APT package index comes from.
#[derive(Debug, Clone, Args)]
pub struct IndexSource {
    /// Read the index of the packer APT repository at this snapshot date instead.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "packages")]
    pub apt_snapshot: Option<String>,

    /// Read this `Packages` index (file or http(s) URL; .gz and .xz are decompressed).
    #[arg(long, value_name = "FILE|URL")]
    pub packages: Option<String>,

    /// Distribution of the APT repository.
    #[arg(long, default_value = "bionic")]
    pub distribution: String,

    /// Component of the APT repository.
    #[arg(long, default_value = "main")]
    pub component: String,

    /// Architecture of the APT repository.
    #[arg(long, default_value = "amd64")]
    pub arch: String,
}

#[derive(Debug, Args)]
pub struct DepsOutdated {
    #[command(flatten)]
    pub source: IndexSource,

    /// Machine-readable output: {"source", "pins": [{"name", "op", "version", "candidate", "verdict"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DepsSync {
    #[command(flatten)]
    pub source: IndexSource,

    #[command(flatten)]
    pub confirm: Confirm,
}

/// `make clean` and `make` the mobiledgex .deb, verify it, optionally publish it.
#[derive(Debug, Args)]
pub struct BuildPackage {
    /// Upload the .deb to Artifactory (refused if that version is already there).
    #[arg(long)]
    pub publish: bool,

    /// Artifactory base URL (also ARTIFACTORY_URL).
    #[arg(long, value_name = "URL", env = "ARTIFACTORY_URL")]
    pub artifactory: Option<String>,

    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Openstack,
    Vcd,
    Vsphere,
}

/// Preflight, then the packer build of the base image for each platform.
#[derive(Debug, Args)]
pub struct BuildImage {
    /// Platform to build for (repeatable); default openstack.
    #[arg(long = "platform", value_enum, value_name = "PLATFORM")]
    pub platforms: Vec<Platform>,

    /// Build openstack, vcd and vsphere in that order.
    #[arg(long, conflicts_with = "platforms")]
    pub all_platforms: bool,

    /// Artifactory user that publishes the image (default: $USER).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Image tag; default: the Makefile's VERSION.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Build even when glance's source image differs from the cloud image
    /// Artifactory stores (build.sh's -F).
    #[arg(long)]
    pub ignore_checksum: bool,

    /// Build from uncommitted changes; GITTAG and MEX_BUILD end in `-dirty`.
    #[arg(long)]
    pub allow_dirty: bool,

    /// Build although Artifactory does not have the .deb of the version.
    #[arg(long)]
    pub allow_unpublished: bool,

    /// Artifactory base URL where the .deb is looked for (also ARTIFACTORY_URL).
    #[arg(long, value_name = "URL", env = "ARTIFACTORY_URL")]
    pub artifactory: Option<String>,

    /// Print the summary as JSON: {"images": [{"target", "image", "result", "seconds", "log"}]}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub confirm: Confirm,
}

/// The runbook's chef steps: edit recipe/metadata/policy, knife upload, regenerate the lock.
#[derive(Debug, Args)]
pub struct ChefPolicy {
    /// Point chef at this APT snapshot date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub apt_snapshot: Option<String>,

    /// The new cookbook version (default: a patch bump).
    #[arg(long, value_name = "X.Y.Z")]
    pub cookbook_version: Option<String>,

    /// Only edit files; print the knife and chef commands left to run.
    #[arg(long)]
    pub offline: bool,

    #[command(flatten)]
    pub confirm: Confirm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyGroup {
    Main,
    Stage,
    Qa,
    Dev,
}

/// Push policyfiles/base.lock.json to a policy group, ONLY after rollout.
#[derive(Debug, Args)]
pub struct ChefPush {
    /// The policy group to push to.
    #[arg(long, value_enum)]
    pub group: PolicyGroup,

    /// Push without typing the group name.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Show the guards' verdicts, the change against the group and the
    /// command; push nothing (exit 0 only when a real run would push).
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,

    /// Push although HEAD is on no remote branch.
    #[arg(long)]
    pub allow_unpushed: bool,

    /// Artifactory base URL where the package and the base image are looked
    /// for (also ARTIFACTORY_URL): `<URL>/packages/pool`, `<URL>/baseimages`.
    #[arg(long, value_name = "URL", env = "ARTIFACTORY_URL")]
    pub artifactory: Option<String>,
}

/// The base image from glance to Artifactory: download, verify, compress, upload, verify.
///
/// Needs no checkout when VERSION is given: run it on a VM in the cloud
/// (`cargo install --path xtask` puts the binary there), with only the
/// OpenStack and Artifactory credentials.
#[derive(Debug, Args)]
pub struct PublishImage {
    /// The base image version, X.Y.Z (default: the checkout's Makefile VERSION).
    pub version: Option<String>,

    /// Publish the debug image (`-dbg`) instead.
    #[arg(long)]
    pub debug: bool,

    /// Compress and upload this image file instead of downloading it from glance.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,

    /// Overwrite an image of the same name in Artifactory that is not this one.
    #[arg(long)]
    pub replace: bool,

    /// Artifactory base URL (also ARTIFACTORY_URL; default: from vmlayer/props.go's
    /// DefaultCloudletVMImagePath, else the MobiledgeX Artifactory).
    #[arg(long, value_name = "URL", env = "ARTIFACTORY_URL")]
    pub artifactory: Option<String>,

    #[command(flatten)]
    pub confirm: Confirm,
}

/// Which tools and credentials each step needs, found or not, with the fix.
#[derive(Debug, Args)]
pub struct Doctor {
    /// Machine-readable: {"groups": [{"steps", "needs": [{"what", "status",
    /// "detail", "path"}]}], "missing": [...]}; status is found, missing or a note word.
    #[arg(long)]
    pub json: bool,
}

/// Install the git pre-commit hook that runs `check --staged`.
#[derive(Debug, Args)]
pub struct InstallHooks {
    /// Replace a pre-commit hook this command did not write.
    #[arg(long)]
    pub force: bool,
}

/// The whole runbook as one plan, recorded step by step and resumable.
#[derive(Debug, Args)]
pub struct Release {
    /// The new base image version.
    #[arg(required_unless_present_any = ["status", "resume"], conflicts_with_all = ["status", "resume"])]
    pub version: Option<String>,

    /// Move the APT snapshot too.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub apt_snapshot: Option<String>,

    /// Platform to build for (repeatable); default openstack.
    #[arg(long = "platform", value_enum, value_name = "PLATFORM")]
    pub platforms: Vec<Platform>,

    /// Build openstack, vcd and vsphere.
    #[arg(long, conflicts_with = "platforms")]
    pub all_platforms: bool,

    /// Artifactory user for the image build.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Publish the .deb to Artifactory.
    #[arg(long)]
    pub publish: bool,

    /// Artifactory base URL for --publish (also ARTIFACTORY_URL); with --resume
    /// it replaces the recorded one.
    #[arg(long, value_name = "URL", env = "ARTIFACTORY_URL")]
    pub artifactory: Option<String>,

    /// Leave the image in glance: skip publish-image after build-image.
    #[arg(long)]
    pub no_publish_image: bool,

    /// Show the recorded plan with each step's state.
    #[arg(long, conflicts_with = "resume")]
    pub status: bool,

    /// Continue the recorded release from its first step not done.
    #[arg(long)]
    pub resume: bool,

    /// With --status: the recorded state as JSON (the shape of target/xtask/release.json).
    #[arg(long, requires = "status")]
    pub json: bool,

    /// Ticket id for the bump's commit message (`<ticket> Base image <VERSION>`).
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,

    #[command(flatten)]
    pub confirm: Confirm,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Openstack, Platform::Vcd, Platform::Vsphere];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Openstack => "openstack",
            Platform::Vcd => "vcd",
            Platform::Vsphere => "vsphere",
        }
    }

    /// The image tag for this platform: vcd and vsphere append their name.
    pub fn tag(self, version: &str) -> String {
        match self {
            Platform::Openstack => version.to_string(),
            other => format!("{version}-{}", other.name()),
        }
    }

    /// The platforms a command was asked for, in build order, without repeats.
    pub fn selection(platforms: &[Platform], all: bool) -> Vec<Platform> {
        if all {
            return Platform::ALL.to_vec();
        }
        if platforms.is_empty() {
            return vec![Platform::Openstack];
        }
        let mut chosen = platforms.to_vec();
        chosen.sort();
        chosen.dedup();
        chosen
    }
}

impl PolicyGroup {
    pub fn name(self) -> &'static str {
        match self {
            PolicyGroup::Main => "main",
            PolicyGroup::Stage => "stage",
            PolicyGroup::Qa => "qa",
            PolicyGroup::Dev => "dev",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn platform_tags_follow_build_sh() {
        assert_eq!(Platform::Openstack.tag("3.0.1"), "3.0.1");
        assert_eq!(Platform::Vcd.tag("3.0.1"), "3.0.1-vcd");
        assert_eq!(
            Platform::selection(
                &[Platform::Vsphere, Platform::Openstack, Platform::Vsphere],
                false
            ),
            vec![Platform::Openstack, Platform::Vsphere]
        );
        assert_eq!(Platform::selection(&[], true), Platform::ALL.to_vec());
    }
}
