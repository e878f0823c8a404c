//! `cargo xtask publish-image`: the base image from glance to Artifactory,
//! what the upload-baseimage job did after build.sh. Download the image the
//! build made (`openstack image save`), check its MD5 against glance's
//! checksum, compress it (`qemu-img convert -c -O qcow2`), upload it to
//! `<Artifactory>/baseimages/mobiledgex-v<VERSION>.qcow2` with its checksums
//! as headers, then ask Artifactory what it stored and compare.
//!
//! Every step leaves a verified result in a private folder
//! (`target/xtask/images/` in a checkout, else `~/.cache/xtask/images/`), so
//! a run that was stopped anywhere continues where it was: a download with
//! glance's MD5 is not downloaded again, a compressed image whose checksums
//! match its record is not compressed again, an upload Artifactory holds
//! with the same checksum is not uploaded again.
//!
//! It needs no checkout when VERSION is given: the runbook suggests running
//! it on a VM in the cloud, next to glance, where only the OpenStack and
//! Artifactory credentials are.

mod download_and_compress;
mod source;
mod upload;
mod work_files;

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::artifactory::{self, Credentials};
use crate::bad;
use crate::build_image::{self, IMAGE_PREFIX};
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags;
use crate::plan::Plan;
use crate::runner::{human_bytes, scratch, Runner};
use crate::semver::Semver;

use download_and_compress::{compress, compress_step, download, download_step};
use source::{from_file, from_glance, glance_names, source_label, Origin, Source};
use upload::{ask_stored, check_upload_answer, read_storage, storage_step, upload_step, Location};
use work_files::{compressed_holds, images_dir, source_holds, Files, Record};

/// What to publish, decided.
#[derive(Debug, Clone)]
pub struct Options {
    pub version: String,
    pub debug: bool,
    pub from_file: Option<PathBuf>,
    pub replace: bool,
    /// The Artifactory base URL given (`--artifactory`, ARTIFACTORY_URL).
    pub artifactory: Option<String>,
}

impl flags::PublishImage {
    pub fn run(self, ctx: &Context, checkout: bool) -> Result<()> {
        let checkout = checkout.then_some(ctx.root.as_path());
        let version = match (&self.version, checkout) {
            (Some(version), _) => Semver::parse_user(version)
                .map_err(|why| bad!("{why}"))?
                .to_string(),
            (None, Some(_)) => {
                let inventory = ctx.inventory()?;
                let package = &inventory.package_version;
                Semver::parse(&package.value)
                    .map_err(|why| bad!("{}: VERSION {why}", package.location()))?
                    .to_string()
            }
            (None, None) => {
                return Err(bad!(
                    "no edge-cloud-infra checkout here to read the version from: give it (`cargo xtask publish-image 4.10.1`), or run inside a checkout or with -C <DIR>. Nothing was run."
                ))
            }
        };
        let options = Options {
            version,
            debug: self.debug,
            from_file: self.from_file.clone(),
            replace: self.replace,
            artifactory: self.artifactory.clone(),
        };
        ctx.require_answerable(self.confirm)?;
        let runner = ctx.runner();
        let state = images_dir(ctx);
        let Some(prepared) = prepare(ctx, runner, checkout, &state, &options, self.confirm)? else {
            return Ok(());
        };
        ctx.say(prepared.plan.render(&ctx.paint).trim_end());
        let question = format!("Publish {} to Artifactory?", prepared.location.url());
        if !ctx.confirm(self.confirm, &question)? {
            return Ok(());
        }
        execute(ctx, runner, prepared)
    }
}

/// The same without asking, for `release` (which asked already), on its checkout.
pub fn publish(ctx: &Context, runner: &Runner, options: &Options) -> Result<()> {
    let state = images_dir(ctx);
    let confirm = flags::Confirm {
        yes: true,
        dry_run: false,
    };
    let Some(prepared) = prepare(ctx, runner, Some(&ctx.root), &state, options, confirm)? else {
        return Ok(());
    };
    ctx.say(prepared.plan.render(&ctx.paint).trim_end());
    execute(ctx, runner, prepared)
}

/// What `release` checks before its first step: the tools, and credentials
/// that can be had without asking (or a terminal to ask on).
pub fn require(ctx: &Context, runner: &Runner) -> Result<()> {
    runner.require_tools(&["openstack", "qemu-img", "curl"])?;
    let stored = artifactory::stored()?;
    if stored.credentials.is_none() && !ctx.stdin_is_terminal {
        return Err(bad!(
            "publish-image needs Artifactory credentials: {}. Nothing was run.",
            artifactory::how_to_give_credentials()
        ));
    }
    Ok(())
}

/// `mobiledgex-v4.10.0.qcow2`, `mobiledgex-v4.10.0-dbg.qcow2`: what vmlayer
/// downloads (`GetCloudletVMImagePath`).
pub fn artifact_name(version: &str, debug: bool) -> String {
    format!(
        "{IMAGE_PREFIX}{version}{}.qcow2",
        if debug { "-dbg" } else { "" }
    )
}

/// Where the base image of `version` is in Artifactory, found as
/// publish-image puts it there: its folder's URL and its file name (for
/// chef-push's guard that the image a policy needs is published).
pub fn image_in_artifactory(
    ctx: &Context,
    given: Option<&str>,
    version: &str,
) -> Result<(String, String)> {
    let file = artifact_name(version, false);
    let location = upload::Location::find(ctx, Some(&ctx.root), given, &file)?;
    let url = location.url();
    let folder = url
        .strip_suffix(&format!("/{file}"))
        .unwrap_or(&url)
        .to_string();
    Ok((folder, file))
}

/// Preflight passed: the plan and what the steps need.
struct Prepared {
    plan: Plan,
    source: Source,
    files: Files,
    location: Location,
    credentials: Option<Credentials>,
    /// The record of a compressed image of this source, if one is there.
    record: Option<Record>,
}

/// Everything checked before anything is downloaded or uploaded: the tools,
/// the credentials, the image in glance, what Artifactory holds. `None`:
/// nothing to do (said why).
fn prepare(
    ctx: &Context,
    runner: &Runner,
    checkout: Option<&Path>,
    state: &Path,
    options: &Options,
    confirm: flags::Confirm,
) -> Result<Option<Prepared>> {
    let artifact = artifact_name(&options.version, options.debug);
    let location = Location::find(ctx, checkout, options.artifactory.as_deref(), &artifact)?;
    let mut tools = vec!["qemu-img", "curl"];
    if options.from_file.is_none() {
        tools.insert(0, "openstack");
    }
    runner.require_tools(&tools)?;
    let stored_credentials = artifactory::stored()?;
    for warning in &stored_credentials.warnings {
        ctx.warn(warning);
    }
    let dry_run = confirm.dry_run;
    let openstack_ready = build_image::openstack_credentials().is_some();
    if options.from_file.is_none() && !openstack_ready && !dry_run {
        return Err(bad!(
            "no OpenStack credentials in the environment: {} and run again, or pass --from-file <image>. Nothing was run.",
            build_image::NO_OPENSTACK_CREDENTIALS
        ));
    }
    let credentials = match stored_credentials.credentials {
        Some(credentials) => Some(credentials),
        None if dry_run => None,
        None => Some(artifactory::prompt(ctx, runner)?),
    };

    ctx.say(ctx.paint.bold("Preflight:"));
    let ok = |what: String| ctx.say(format!("  {} {what}", ctx.paint.good("ok")));
    let source = match &options.from_file {
        Some(file) => from_file(ctx, file)?,
        None if dry_run && !openstack_ready => {
            ctx.warn("no OpenStack credentials in the environment (OS_AUTH_URL or OS_CLOUD): glance is not asked in this dry run; `source <your openrc>` first");
            let names = glance_names(ctx, checkout, &options.version, options.debug)?;
            Source {
                origin: Origin::Glance {
                    id: "<id in glance>".into(),
                    name: names[0].clone(),
                    disk_format: None,
                },
                md5: "<glance checksum>".into(),
                size: 0,
            }
        }
        None => {
            let names = glance_names(ctx, checkout, &options.version, options.debug)?;
            let source = from_glance(runner, &names)?;
            if let Origin::Glance { id, name, .. } = &source.origin {
                ok(format!(
                    "{name} in glance (id {id}, {}, checksum {})",
                    human_bytes(source.size),
                    source.md5
                ));
            }
            source
        }
    };
    let files = Files::new(state, &artifact, &source);
    let record = Record::load(&files.record).filter(|r| r.source_md5 == source.md5);

    match &credentials {
        None => ctx.say(format!(
            "  (dry run: no stored Artifactory credentials, so {} is not asked whether it has the image)",
            location.base
        )),
        Some(credentials) => match ask_stored(runner, &location, credentials)? {
            None => ok(format!("{} is not in Artifactory yet", location.url())),
            Some(stored) => {
                if record.as_ref().is_some_and(|r| r.sums.md5 == stored.md5) {
                    ctx.say(format!(
                        "{} {} is already in Artifactory with the MD5 of this image ({}): nothing to do.",
                        ctx.paint.good("published:"),
                        location.url(),
                        stored.md5
                    ));
                    return Ok(None);
                }
                if !options.replace {
                    return Err(bad!(
                        "{} is already in Artifactory (md5 {}), and it is not known to be this image ({}): nothing was uploaded. If it is an older build of {}, pass --replace to overwrite it; if the version is taken, release a new one",
                        location.url(),
                        stored.md5,
                        source_label(&source),
                        options.version
                    ));
                }
                ctx.warn(format!(
                    "{} is in Artifactory (md5 {}): --replace overwrites it",
                    location.url(),
                    stored.md5
                ));
            }
        },
    }
    ok(format!(
        "destination {} (base URL from {})",
        location.url(),
        location.from
    ));
    ok(format!("working folder {}", files.dir.display()));

    let plan = plan(
        &source,
        &files,
        &location,
        credentials.as_ref(),
        record.as_ref(),
    );
    Ok(Some(Prepared {
        plan,
        source,
        files,
        location,
        credentials,
        record,
    }))
}

/// The commands the run may take, for the preview: a step whose result is
/// already there is checked (hashed) again when the run comes to it, and
/// skipped when it holds.
fn plan(
    source: &Source,
    files: &Files,
    location: &Location,
    credentials: Option<&Credentials>,
    record: Option<&Record>,
) -> Plan {
    let mut plan = Plan::default();
    let compressed_there = record.is_some() && files.compressed.is_file();
    if !compressed_there {
        if let Some(step) = download_step(source, files) {
            let note = if files.source.is_file() {
                format!(
                    "{} is there: skipped if its MD5 is glance's {}",
                    files.source.display(),
                    source.md5
                )
            } else {
                format!(
                    "into {}, then its MD5 compared with glance's {}",
                    files.dir.display(),
                    source.md5
                )
            };
            plan.push(step, false, Some(note));
        }
        plan.push(
            compress_step(source, files),
            false,
            Some("then its MD5, SHA-1 and SHA-256 recorded".into()),
        );
    }
    let size = record.map_or(0, |r| r.size);
    let upload = upload_step(location, files, record.map(|r| &r.sums), size, credentials);
    plan.push(
        upload,
        true,
        Some(if compressed_there {
            format!(
                "{} is there (checked again before the upload)",
                files.compressed.display()
            )
        } else {
            format!(
                "publishes {} for every cloudlet that downloads it",
                location.url()
            )
        }),
    );
    plan.push(
        storage_step(location, credentials),
        false,
        Some("the checksums Artifactory stored, compared with the upload's".into()),
    );
    plan
}

/// Runs the steps, skipping each whose verified result is there.
fn execute(ctx: &Context, runner: &Runner, prepared: Prepared) -> Result<()> {
    let Prepared {
        source,
        files,
        location,
        credentials,
        record,
        ..
    } = prepared;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&files.dir)
        .with_context(|| format!("cannot create {}", files.dir.display()))?;

    // What runs now, counted for the [n/N] lines.
    let record = record.filter(|record| compressed_holds(ctx, &files, record));
    let mut total = 2;
    let mut need_download = false;
    if record.is_none() {
        total += 1;
        if matches!(source.origin, Origin::Glance { .. }) && !source_holds(ctx, &source, &files)? {
            need_download = true;
            total += 1;
        }
    }
    let mut n = 0;
    let record = match record {
        Some(record) => {
            ctx.say(format!(
                "  skipped download and compression: {} is there with its recorded checksums (md5 {})",
                files.compressed.display(),
                record.sums.md5
            ));
            record
        }
        None => {
            if need_download {
                n += 1;
                download(ctx, runner, n, total, &source, &files)?;
            }
            n += 1;
            compress(ctx, runner, n, total, &source, &files)?
        }
    };

    n += 1;
    let upload = upload_step(
        &location,
        &files,
        Some(&record.sums),
        record.size,
        credentials.as_ref(),
    );
    let outcome = runner.step(n, total, &upload)?;
    if !outcome.ok {
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!(
            "the upload of {} failed: {}; run publish-image again: it uploads again without downloading",
            location.url(),
            outcome.output.trim()
        );
    }
    check_upload_answer(&location, &outcome.stdout, &record.sums)?;

    n += 1;
    let verify = storage_step(&location, credentials.as_ref());
    let outcome = runner.step(n, total, &verify)?;
    if !outcome.ok {
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!(
            "cannot ask Artifactory for the stored checksums of {}: {}",
            location.url(),
            outcome.output.trim()
        );
    }
    let Some(stored) = read_storage(&location, &outcome.stdout)? else {
        anyhow::bail!(
            "Artifactory has no {} right after the upload (HTTP 404): look for it in the web UI, then run publish-image again",
            location.url()
        );
    };
    let mut wrong = Vec::new();
    let pairs = [
        ("md5", Some(&stored.md5), &record.sums.md5),
        ("sha1", stored.sha1.as_ref(), &record.sums.sha1),
        ("sha256", stored.sha256.as_ref(), &record.sums.sha256),
    ];
    for (name, got, want) in pairs {
        if let Some(got) = got {
            if got != want {
                wrong.push(format!("{name} {got}, the upload had {want}"));
            }
        }
    }
    if !wrong.is_empty() {
        anyhow::bail!(
            "Artifactory stores {} with other checksums: {}; delete it there, then run publish-image again with --replace",
            location.url(),
            wrong.join("; ")
        );
    }
    ctx.say(format!(
        "  {} Artifactory stores md5 {} for {}",
        ctx.paint.good("ok"),
        stored.md5,
        location.url()
    ));

    let published = Record {
        published: Some(location.url()),
        ..record
    };
    published.save(&files.record)?;
    // The record stays (what was published from what); the gigabytes go.
    let freed = fs::metadata(&files.compressed).map_or(0, |m| m.len());
    scratch::discard(&files.compressed);
    ctx.say(format!(
        "{} {} (md5 {}, sha256 {}).\n  removed the local copy ({}); the record stays in {}",
        ctx.paint.good("published:"),
        location.url(),
        published.sums.md5,
        published.sums.sha256,
        human_bytes(freed),
        files.record.display()
    ));
    Ok(())
}
