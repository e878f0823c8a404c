//! Everything `build-image` checks before any build, and nothing irreversible:
//! the tag, the rules and chef, the committed tree and the published .deb,
//! the pins against the APT snapshot, the source image, the network and the
//! free image names in glance, the vault's secrets (into a 0600 var-file), and
//! `packer validate`. What it finds is the plan the builds then run.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::cloud::{artifactory_checksum, OpenStack, Vault};
use super::credentials::{artifactory_apikey, require_openstack_credentials};
use super::{
    plan_builds, targets, template_outputs, BuildSettings, BuildVars, ImageOptions, ScriptKind,
    Target, TEMPLATE,
};
use crate::bad;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::plan::{shown_command, Plan};
use crate::runner::{Runner, SecretFile, Step};
use crate::sites::{paths, Inventory};
use crate::{check, rules};

/// What a tree whose build.sh has no platform option says about the platforms.
const COMMON_IMAGE_NOTE: &str =
    "one common image serves openstack, vcd and vsphere: building it once";

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
    pub(super) builds: Vec<(Target, String)>,
    /// The packer `-var-file` with the secrets; removed when dropped.
    _secrets: Option<SecretFile>,
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
        // A dry run runs only `packer validate -syntax-only`.
        Mode::DryRun => {
            runner.require_tools(&["packer"])?;
            let missing: Vec<&str> = ["openstack", "vault"]
                .into_iter()
                .filter(|tool| Runner::which(tool).is_none())
                .collect();
            if !missing.is_empty() {
                ctx.warn(format!(
                    "not on PATH: {}; a real build needs {} (cargo xtask doctor says how to get {})",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                    if missing.len() == 1 { "it" } else { "them" }
                ));
            }
        }
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

    if settings.kind == ScriptKind::PerPlatform && options.ignore_checksum {
        ctx.warn(format!(
            "--ignore-checksum changes nothing here: the xtask compares the cloud image's checksum only where {} builds one common image",
            paths::PACKER_BUILD_SH
        ));
    }
    if settings.kind == ScriptKind::Common {
        ctx.say(format!(
            "{COMMON_IMAGE_NOTE} ({} has no platform option)",
            paths::PACKER_BUILD_SH
        ));
    }
    ctx.say(ctx.paint.bold("Preflight:"));
    let ok = |what: String| ctx.say(format!("  {} {what}", ctx.paint.good("ok")));
    ok(format!(
        "tag {} is the package version ({})",
        options.version,
        package.location()
    ));
    local_checks(ctx, inventory, options)?;
    provenance(ctx, runner, options, mode)?;
    ok(format!(
        "check: no errors; chef upgrades VMs to {} from APT snapshot {}",
        options.version,
        inventory
            .packer_apt_repo
            .snapshot()
            .unwrap_or(&inventory.packer_apt_repo.value)
    ));

    let described = Described::read(ctx, runner, settings.kind);
    if mode == Mode::DryRun {
        let secrets = match settings.kind {
            ScriptKind::PerPlatform => "ROOT_PASS, GRUB_PW_HASH, TOTP_KEY, ARTIFACTORY_APIKEY",
            ScriptKind::Common => {
                "ROOT_PASS, DEBUG_ROOT_PASS, GRUB_PW_HASH, TOTP_KEY, ARTIFACTORY_APIKEY"
            }
        };
        let vars = BuildVars {
            source_image: "<source image id from glance>".into(),
            source_checksum: "<its checksum>".into(),
            network: "<network id>".into(),
            var_file: PathBuf::from(format!("<0600 var-file: {secrets}>")),
            described,
        };
        validate_template(
            ctx,
            runner,
            &Step::new("packer validate -syntax-only", "packer")
                .args(["validate", "-syntax-only", TEMPLATE])
                .dir(Path::new(paths::PACKER_DIR)),
        )?;
        ok(format!("packer validate -syntax-only {TEMPLATE}"));
        let checked = match settings.kind {
            ScriptKind::PerPlatform => "glance, the network",
            ScriptKind::Common => {
                "the cloud image's checksum in Artifactory and glance, the network"
            }
        };
        ctx.say(format!("  (dry run: the pins against the APT snapshot, {checked}, vault and a full `packer validate` are checked by the real run)"));
        let (plan, builds) = plan_builds(ctx, inventory, options, &settings, &vars, &[]);
        return Ok(Prepared {
            plan,
            builds,
            _secrets: None,
        });
    }

    // apt must be able to install every pin from the snapshot packer builds from.
    crate::deps::preflight_against_snapshot(ctx, runner, inventory)?;

    let openstack = OpenStack { runner };
    let cloud = match settings.kind {
        ScriptKind::PerPlatform => cloud_per_platform(ctx, &openstack, &settings, options)?,
        ScriptKind::Common => cloud_common(ctx, runner, &openstack, &settings, options, &apikey)?,
    };

    let vault = Vault::new(runner, &settings);
    vault.require_login()?;
    let password = format!("{}/password", settings.vault_path);
    let mut secrets = serde_json::Map::new();
    secrets.insert("ROOT_PASS".into(), vault.field(&password, "value")?.into());
    if settings.kind == ScriptKind::Common {
        // build.sh reads it and builds without it when vault has none.
        let debug = vault.optional_field(ctx, &password, "debug_password")?;
        secrets.insert("DEBUG_ROOT_PASS".into(), debug.into());
    }
    secrets.insert(
        "GRUB_PW_HASH".into(),
        vault.field(&password, "grub_pw_hash")?.into(),
    );
    secrets.insert(
        "TOTP_KEY".into(),
        vault
            .field(&format!("{}/totp-key", settings.vault_path), "value")?
            .into(),
    );
    secrets.insert("ARTIFACTORY_APIKEY".into(), apikey.into());
    ok(format!("vault secrets read from {}", vault.addr));
    let secret_values: Vec<String> = secrets
        .values()
        .filter_map(|value| value.as_str())
        .filter(|value| !value.is_empty())
        .map(str::to_string)
        .collect();
    let var_file = SecretFile::named(
        "packer-vars.json",
        Value::Object(secrets).to_string().as_bytes(),
    )?;
    let vars = BuildVars {
        source_image: cloud.source_image,
        source_checksum: cloud.source_checksum,
        network: cloud.network,
        var_file: var_file.path().to_path_buf(),
        described,
    };
    let (plan, builds) = plan_builds(ctx, inventory, options, &settings, &vars, &secret_values);
    // The full validate of the first build's exact arguments (it authenticates).
    if let Some(first) = plan.steps.first() {
        let mut validate = Step::new("packer validate", "packer").arg("validate");
        validate = validate.args(first.step.arguments().iter().skip(1).cloned());
        for value in &secret_values {
            validate = validate.secret(value.clone());
        }
        validate_template(ctx, runner, &validate.dir(Path::new(paths::PACKER_DIR)))?;
        ok(format!("packer validate {TEMPLATE}"));
    }
    Ok(Prepared {
        plan,
        builds,
        _secrets: Some(var_file),
    })
}

/// What the preflight found in the cloud, for packer's command line.
struct Cloud {
    source_image: String,
    source_checksum: String,
    network: String,
}

fn say_ok(ctx: &Context, what: &str) {
    ctx.say(format!("  {} {what}", ctx.paint.good("ok")));
}

/// The rendition's lookups: glance and neutron by name, as JSON.
fn cloud_per_platform(
    ctx: &Context,
    openstack: &OpenStack,
    settings: &BuildSettings,
    options: &ImageOptions,
) -> Result<Cloud> {
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
    say_ok(
        ctx,
        &format!(
            "source image {} in glance (id {}, checksum {})",
            settings.cloud_image_tag, source.id, source.checksum
        ),
    );
    let network = openstack.network(&settings.network)?;
    say_ok(ctx, &format!("network {} (id {network})", settings.network));
    let mut taken = Vec::new();
    for (_, name) in targets(options, settings) {
        if let Some(image) = openstack.image(&name)? {
            taken.push((name, image.id));
        }
    }
    refuse_taken(ctx, &taken)?;
    Ok(Cloud {
        source_image: source.id,
        source_checksum: source.checksum,
        network,
    })
}

/// The real build.sh's lookups: the cloud image's MD5 in Artifactory, the
/// source image's id in `openstack image list` and its checksum in glance
/// (they must agree unless --ignore-checksum), the network's id in
/// `openstack network list`.
fn cloud_common(
    ctx: &Context,
    runner: &Runner,
    openstack: &OpenStack,
    settings: &BuildSettings,
    options: &ImageOptions,
    apikey: &str,
) -> Result<Cloud> {
    let stored = artifactory_checksum(runner, settings, &options.user, apikey)?;
    say_ok(
        ctx,
        &format!(
            "Artifactory stores MD5 {stored} for the cloud image {}",
            settings.cloud_image_path()
        ),
    );
    let images = openstack.image_list()?;
    let Some((source, _)) = images
        .iter()
        .find(|(_, name)| *name == settings.cloud_image_tag)
    else {
        anyhow::bail!(
            "the source image {} is not in glance (`openstack image list` does not show it); upload the cloud image {} under that name, or set CLOUD_IMAGE_TAG to one it shows",
            settings.cloud_image_tag,
            settings.cloud_image_path()
        );
    };
    let checksum = openstack.image_checksum(source)?;
    if checksum == stored {
        say_ok(
            ctx,
            &format!(
                "source image {} in glance (id {source}) has that checksum",
                settings.cloud_image_tag
            ),
        );
    } else if options.ignore_checksum {
        ctx.warn(format!(
            "ignoring the checksum mismatch of the source image {} in glance (id {source}): glance has {checksum}, Artifactory stores {stored} (--ignore-checksum)",
            settings.cloud_image_tag
        ));
    } else {
        ctx.error(format!("the source image {} in glance (id {source}) has checksum {checksum}, but Artifactory stores {stored} for the cloud image {}: glance's copy is not the image this build expects. Upload the right one to glance, or pass --ignore-checksum to build from it anyway (build.sh's -F); nothing was built", settings.cloud_image_tag, settings.cloud_image_path()));
        return Err(AlreadyReported.into());
    }
    let network = openstack.network_from_list(&settings.network)?;
    say_ok(ctx, &format!("network {} (id {network})", settings.network));
    let mut taken = Vec::new();
    for (_, name) in targets(options, settings) {
        for output in template_outputs(ctx, &name) {
            if let Some((id, _)) = images.iter().find(|(_, listed)| *listed == output) {
                taken.push((output, id.clone()));
            }
        }
    }
    refuse_taken(ctx, &taken)?;
    Ok(Cloud {
        source_image: source.clone(),
        source_checksum: checksum,
        network,
    })
}

/// Images of the output names already in glance: a build would publish a
/// second image of the same name.
fn refuse_taken(ctx: &Context, taken: &[(String, String)]) -> Result<()> {
    if taken.is_empty() {
        say_ok(ctx, "no image of these names in glance yet");
        return Ok(());
    }
    for (name, id) in taken {
        ctx.error(format!("{name} is already in glance (id {id}): a build would publish a second image of that name; delete it (openstack image delete {id}) or build a new version"));
    }
    Err(AlreadyReported.into())
}

/// `git describe` as build.sh records it: GITTAG, and for the real build.sh
/// MEX_BUILD (`--long`). A checkout without a tag gets the commit instead.
#[derive(Debug, Clone)]
pub(super) struct Described {
    pub(super) git_tag: String,
    pub(super) mex_build: Option<String>,
}

impl Described {
    fn read(ctx: &Context, runner: &Runner, kind: ScriptKind) -> Described {
        let describe = |args: &[&str]| -> Option<String> {
            runner
                .query(&ctx.root, "git", args)
                .ok()
                .filter(|answer| answer.ok)
                .map(|answer| String::from_utf8_lossy(&answer.stdout).trim().to_string())
                .filter(|text| !text.is_empty())
        };
        match kind {
            ScriptKind::PerPlatform => Described {
                git_tag: describe(&["describe", "--long", "--tags", "--dirty", "--always"])
                    .unwrap_or_else(|| "unknown".to_string()),
                mex_build: None,
            },
            ScriptKind::Common => {
                if let (Some(git_tag), Some(mex_build)) = (
                    describe(&["describe", "--tags", "--dirty"]),
                    describe(&["describe", "--long", "--tags", "--dirty"]),
                ) {
                    return Described {
                        git_tag,
                        mex_build: Some(mex_build),
                    };
                }
                let commit = describe(&["describe", "--always", "--dirty"]).unwrap_or_default();
                ctx.warn(format!(
                    "no git tag reaches HEAD, so `git describe --tags` has nothing to say: GITTAG and MEX_BUILD are the commit `{commit}` (build.sh would leave them empty); tag the release commit for a named build"
                ));
                Described {
                    git_tag: commit.clone(),
                    mex_build: Some(commit),
                }
            }
        }
    }
}

/// What the image is built from: the committed tree (unless --allow-dirty),
/// and a .deb of its version in Artifactory (unless --allow-unpublished; a
/// dry run does not ask the network).
fn provenance(ctx: &Context, runner: &Runner, options: &ImageOptions, mode: Mode) -> Result<()> {
    if options.judged_by_caller {
        return Ok(());
    }
    let dirty = crate::git::modified_tracked(runner, &ctx.root)?;
    if !dirty.is_empty() {
        let list = dirty.join(", ");
        if options.allow_dirty {
            ctx.warn(format!(
                "building from uncommitted changes ({list}) (--allow-dirty): GITTAG and MEX_BUILD end in -dirty"
            ));
        } else if mode == Mode::DryRun {
            ctx.warn(format!(
                "uncommitted changes in {list}: a real build refuses them (commit them, or pass --allow-dirty)"
            ));
        } else {
            return Err(bad!(
                "uncommitted changes in {list}: the image would not be the commit it is stamped with; commit them (or pass --allow-dirty, stamped -dirty). Nothing was run."
            ));
        }
    } else {
        say_ok(ctx, "the tree is committed (nothing differs from HEAD)");
    }
    if options.allow_unpublished {
        ctx.warn(format!(
            "not asking Artifactory for the .deb of {} (--allow-unpublished): the build installs whatever the APT repository has",
            options.version
        ));
        return Ok(());
    }
    if mode == Mode::DryRun {
        ctx.say(format!(
            "  (dry run: whether Artifactory has the .deb of {} is asked by the real run)",
            options.version
        ));
        return Ok(());
    }
    let (presence, url) =
        crate::build_package::deb_presence(ctx, runner, options.artifactory.clone())?;
    match presence {
        crate::artifactory::Presence::Present => {
            say_ok(ctx, &format!("the package is published: {url}"));
            Ok(())
        }
        crate::artifactory::Presence::Absent => Err(anyhow::anyhow!(
            "Artifactory does not have {url} (HTTP 404): the image would install a package nobody published; publish it first (cargo xtask build-package --publish), or pass --allow-unpublished. Nothing was built"
        )),
    }
}

/// The rules, and chef already pointing VMs at this version and snapshot
/// (build.sh asked the same before building).
fn local_checks(ctx: &Context, inventory: &Inventory, options: &ImageOptions) -> Result<()> {
    let findings = rules::evaluate(inventory, None);
    let (errors, stale_locks) = check::explain_blocking(ctx, &findings, &[rules::POLICY_LOCK]);
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
        ctx.error(problem);
    }
    ctx.error(format!(
        "preflight failed ({} problem{}); nothing was built",
        errors.len() + problems.len(),
        if errors.len() + problems.len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    Err(AlreadyReported.into())
}

fn validate_template(ctx: &Context, runner: &Runner, step: &Step) -> Result<()> {
    let outcome = runner.capture(step)?;
    if outcome.ok {
        return Ok(());
    }
    ctx.explain(outcome.output.trim_end());
    ctx.error(format!(
        "`{}` rejected {}/{TEMPLATE}; nothing was built",
        shown_command(step),
        paths::PACKER_DIR
    ));
    Err(AlreadyReported.into())
}
