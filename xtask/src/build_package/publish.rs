//! The Artifactory side: where the .deb goes (`--artifactory`, build.sh's
//! ARTIFACTORY_PATH or ARTIFACTORY and ARTIFACTORY_REPO, else the default),
//! whether the version is there already, and the upload, the irreversible
//! last step.

use anyhow::Result;

use crate::artifactory::{self, Checksums, Credentials, Presence, Target};
use crate::checksum;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::runner::Runner;

use super::preflight::{read_package, Package, Script};
use super::{must_succeed, Build, Built, Options, BUILD_SH};

/// Whether Artifactory has the .deb of the tree's version, asked as
/// `--publish` asks before it uploads (HEAD on `<pool>/<deb>`, with the stored
/// credentials when there are any). Returns the answer and the URL asked.
pub fn deb_presence(
    ctx: &Context,
    runner: &Runner,
    artifactory: Option<String>,
) -> Result<(Presence, String)> {
    let options = Options {
        publish: true,
        artifactory,
    };
    // As for a dry run: no credentials demanded, a HEAD may go without them.
    let build = Build::prepare(ctx, &options, true)?;
    let Some(target) = &build.target else {
        anyhow::bail!("no Artifactory target for the package");
    };
    let outcome = runner.capture(&target.exists_step(build.credentials.as_ref()))?;
    if !outcome.ok {
        anyhow::bail!(
            "cannot ask Artifactory whether {} is there: {} (set ARTIFACTORY_URL or --artifactory for another Artifactory)",
            target.url(),
            outcome.output.trim()
        );
    }
    Ok((target.presence(&outcome)?, target.url()))
}

/// Whether Artifactory has the .deb of `version` (which need not be the
/// tree's: chef-push asks for the version the policy installs), where
/// `--publish` would put it. Needs only curl: no package build tools.
pub fn deb_presence_of(
    ctx: &Context,
    runner: &Runner,
    artifactory: Option<&str>,
    version: &str,
) -> Result<(Presence, String)> {
    let given = artifactory
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| artifactory::base_url(Some(url)))
        .transpose()?;
    let package = Package {
        version: version.to_string(),
        ..read_package(ctx)?
    };
    let script = Script::read(ctx, &package)?;
    let (pool, _) = destination(given.as_deref(), &script)?;
    let target = Target {
        pool,
        file_name: upload_name(&package, &script.arch),
        distribution: package.distribution.clone(),
        component: package.component.clone(),
        architecture: script.arch.clone(),
    };
    let credentials = artifactory::stored()?.credentials;
    let outcome = runner.capture(&target.exists_step(credentials.as_ref()))?;
    if !outcome.ok {
        anyhow::bail!(
            "cannot ask Artifactory whether {} is there: {}",
            target.url(),
            outcome.output.trim()
        );
    }
    Ok((target.presence(&outcome)?, target.url()))
}

/// The pool folder the .deb goes to, and where that came from: `--artifactory`
/// (or ARTIFACTORY_URL), build.sh's ARTIFACTORY_PATH, its ARTIFACTORY and
/// ARTIFACTORY_REPO, else the default.
pub(super) fn destination(given: Option<&str>, script: &Script) -> Result<(String, String)> {
    Ok(
        match (given, &script.artifactory_path, &script.artifactory_pool) {
            (Some(base), _, _) => (
                artifactory::pool_of(base),
                "--artifactory (or ARTIFACTORY_URL)".to_string(),
            ),
            (None, Some((path, line)), _) => {
                let what = format!("ARTIFACTORY_PATH in {BUILD_SH}:{line}");
                (artifactory::checked_url(path, &what)?, what)
            }
            (None, None, Some(pool)) => (
                artifactory::checked_url(pool, &format!("ARTIFACTORY in {BUILD_SH}"))?,
                format!("ARTIFACTORY and ARTIFACTORY_REPO in {BUILD_SH}"),
            ),
            (None, None, None) => (
                artifactory::pool_of(artifactory::DEFAULT_URL),
                "the default".to_string(),
            ),
        },
    )
}

/// `mobiledgex_3.0.1_amd64.deb`: the name build.sh uploads under, whatever
/// the local file is called.
pub(super) fn upload_name(package: &Package, arch: &str) -> String {
    format!("{}_{}_{arch}.deb", package.name, package.version)
}

impl Build {
    /// The irreversible part: ask Artifactory whether the version is there,
    /// then upload (steps `first` and `first + 1`). Without a target, nothing.
    pub(super) fn publish_built(
        &self,
        ctx: &Context,
        runner: &Runner,
        mut built: Built,
        credentials: Option<Credentials>,
        first: usize,
        total: usize,
    ) -> Result<Built> {
        let deb = built.deb.clone();
        let Some(target) = &self.target else {
            return Ok(built);
        };
        let mut n = first;
        let outcome =
            must_succeed(runner.step(n, total, &target.exists_step(credentials.as_ref()))?)?;
        match target.presence(&outcome)? {
            Presence::Absent => ctx.say(format!(
                "  {} is not in Artifactory yet (HTTP 404): going on",
                target.file_name
            )),
            Presence::Present => {
                ctx.error(format!("{} is already in Artifactory (HTTP 200); nothing was uploaded.\n  Normally this means VERSION must be raised: `cargo xtask bump-base-image <next version>`, then build again.\n  If you really are republishing this version (rebuilt with other dependencies, for instance), first delete {} from {} in Artifactory, then run build-package --publish again.", target.url(), target.file_name, target.pool));
                return Err(AlreadyReported.into());
            }
        }

        n += 1;
        let bytes = std::fs::read(&deb)
            .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", deb.display()))?;
        let sums = Checksums {
            md5: checksum::md5_hex(&bytes),
            sha1: checksum::sha1_hex(&bytes),
        };
        let rel = deb.strip_prefix(&ctx.root).unwrap_or(&deb);
        let outcome = must_succeed(runner.step(
            n,
            total,
            &target.upload_step(rel, &sums, credentials.as_ref()),
        )?)?;
        target.check_upload(&outcome, &sums)?;
        ctx.say(format!(
            "  {} {} (md5 {}, sha1 {})",
            ctx.paint.good("published:"),
            target.url(),
            sums.md5,
            sums.sha1
        ));
        built.published = Some(target.url());
        Ok(built)
    }
}
