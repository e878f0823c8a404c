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

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::artifactory::{self, Credentials};
use crate::bad;
use crate::build_image::{self, ScriptKind, IMAGE_PREFIX};
use crate::checksum::{self, Sums};
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::flags;
use crate::formats::go;
use crate::plan::Plan;
use crate::runner::{human_bytes, scratch, Meter, Progress, Runner, Step};
use crate::semver::Semver;
use crate::sites::{self, paths};
use crate::tree::{read_text, WorkTree};

/// The Artifactory folder cloudlets download base images from, when
/// `vmlayer/props.go` does not say (`DefaultCloudletVMImagePath`).
pub const FOLDER: &str = "baseimages";
const IMAGE_PATH_VAR: &str = "DefaultCloudletVMImagePath";
/// OpenStack credentials: an openrc sets OS_AUTH_URL, a clouds.yaml entry OS_CLOUD.
const OPENSTACK_ENV: [&str; 2] = ["OS_AUTH_URL", "OS_CLOUD"];

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
            (None, Some(root)) => {
                let inventory = sites::load(&WorkTree {
                    root: root.to_path_buf(),
                })?;
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
        let mut runner = Runner::for_root(&ctx.root)?;
        let state = state_dir(checkout)?;
        if checkout.is_none() {
            // Beside the images: `~/.cache/xtask/logs`.
            let logs = state
                .parent()
                .map_or_else(|| state.join("logs"), |p| p.join("logs"));
            runner.set_log_dir(logs);
        }
        let Some(prepared) = prepare(ctx, &runner, checkout, &state, &options, self.confirm)?
        else {
            return Ok(());
        };
        ctx.say(prepared.plan.render(&ctx.paint).trim_end());
        let question = format!("Publish {} to Artifactory?", prepared.location.url());
        if !ctx.confirm(self.confirm, &question)? {
            return Ok(());
        }
        execute(ctx, &runner, prepared)
    }
}

/// The same without asking, for `release` (which asked already), on its checkout.
pub fn publish(ctx: &Context, runner: &Runner, options: &Options) -> Result<()> {
    let state = state_dir(Some(&ctx.root))?;
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

/// Where the downloads and compressed images are kept between runs: the
/// checkout's `target/xtask/images`, else `$XDG_CACHE_HOME/xtask/images`
/// (`~/.cache/xtask/images`).
fn state_dir(checkout: Option<&Path>) -> Result<PathBuf> {
    if let Some(root) = checkout {
        return Ok(root.join(paths::XTASK_STATE_DIR).join("images"));
    }
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".cache")))
        .ok_or_else(|| {
            bad!("neither XDG_CACHE_HOME nor HOME is set: there is nowhere to keep the image between runs; set one. Nothing was run.")
        })?;
    Ok(cache.join("xtask").join("images"))
}

/// Where the image goes in Artifactory.
#[derive(Debug, Clone)]
pub struct Location {
    /// `https://artifactory.mobiledgex.net/artifactory`
    pub base: String,
    /// `baseimages/mobiledgex-v4.10.0.qcow2`
    pub repo_path: String,
    /// Where the base URL came from, for the plan.
    pub from: String,
}

impl Location {
    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.repo_path)
    }

    /// Artifactory's storage API for the file: its checksums as JSON.
    pub fn storage_url(&self) -> String {
        format!("{}/api/storage/{}", self.base, self.repo_path)
    }

    fn file_name(&self) -> &str {
        self.repo_path.rsplit('/').next().unwrap_or(&self.repo_path)
    }

    /// `--artifactory` / ARTIFACTORY_URL, else `DefaultCloudletVMImagePath`
    /// of the checkout's props.go (the folder cloudlets download from), else
    /// the default Artifactory.
    fn find(
        ctx: &Context,
        checkout: Option<&Path>,
        given: Option<&str>,
        file: &str,
    ) -> Result<Location> {
        if let Some(url) = given.map(str::trim).filter(|url| !url.is_empty()) {
            return Ok(Location {
                base: artifactory::checked_url(url, "--artifactory (or ARTIFACTORY_URL)")?,
                repo_path: format!("{FOLDER}/{file}"),
                from: "--artifactory or ARTIFACTORY_URL".into(),
            });
        }
        if let Some(root) = checkout {
            let tree = WorkTree {
                root: root.to_path_buf(),
            };
            let text = read_text(&tree, paths::PROPS_GO)?.unwrap_or_default();
            if let Some(found) = go::string_var(&text, IMAGE_PATH_VAR).into_iter().next() {
                let what = format!("{}:{} {IMAGE_PATH_VAR}", paths::PROPS_GO, found.line);
                let folder_url = artifactory::checked_url(&found.value, &what)?;
                let Some((base, folder)) = folder_url.rsplit_once('/') else {
                    return Err(bad!(
                        "{what}: expected <Artifactory URL>/<repository>/, not {}",
                        found.value
                    ));
                };
                return Ok(Location {
                    base: artifactory::checked_url(base, &what)?,
                    repo_path: format!("{folder}/{file}"),
                    from: what,
                });
            }
            ctx.detail(format!(
                "{} has no {IMAGE_PATH_VAR}: using the default Artifactory",
                paths::PROPS_GO
            ));
        }
        Ok(Location {
            base: artifactory::DEFAULT_URL.to_string(),
            repo_path: format!("{FOLDER}/{file}"),
            from: "the default".into(),
        })
    }
}

/// `mobiledgex-v4.10.0.qcow2`, `mobiledgex-v4.10.0-dbg.qcow2`: what vmlayer
/// downloads (`GetCloudletVMImagePath`).
pub fn artifact_name(version: &str, debug: bool) -> String {
    format!(
        "{IMAGE_PREFIX}{version}{}.qcow2",
        if debug { "-dbg" } else { "" }
    )
}

/// The names the build gives the image in glance, most likely first: the
/// tree's build.sh and template decide; without a tree, the real monorepo's
/// naming (`mobiledgex-v<V>_uncompressed`), then the older plain one.
fn glance_names(
    ctx: &Context,
    checkout: Option<&Path>,
    version: &str,
    debug: bool,
) -> Result<Vec<String>> {
    let dbg = |name: String| if debug { format!("{name}-dbg") } else { name };
    let Some(_) = checkout else {
        return Ok(vec![
            dbg(format!("{IMAGE_PREFIX}{version}_uncompressed")),
            dbg(format!("{IMAGE_PREFIX}{version}")),
        ]);
    };
    let settings = build_image::BuildSettings::read(ctx)?;
    let name = match settings.kind {
        ScriptKind::Common => settings.common_image_name(version),
        ScriptKind::PerPlatform => format!("{IMAGE_PREFIX}{version}"),
    };
    if !debug {
        return Ok(vec![name]);
    }
    build_image::template_outputs(ctx, &name)
        .into_iter()
        .find(|output| output.ends_with("-dbg"))
        .map(|output| vec![output])
        .ok_or_else(|| {
            bad!(
                "--debug: this tree's packer template ({}/{}) builds no debug image (no builder named `<name>-dbg`). Nothing was run.",
                paths::PACKER_DIR,
                paths::PACKER_TEMPLATE
            )
        })
}

/// Where the image comes from.
#[derive(Debug, Clone)]
enum Origin {
    Glance {
        id: String,
        name: String,
        /// glance's `disk_format`, passed to qemu-img as `-f` when it knows it.
        disk_format: Option<String>,
    },
    File(PathBuf),
}

#[derive(Debug, Clone)]
struct Source {
    origin: Origin,
    /// glance's `checksum`, or the file's MD5.
    md5: String,
    size: u64,
}

/// The files of one image in the state folder.
#[derive(Debug, Clone)]
struct Files {
    dir: PathBuf,
    /// Being downloaded.
    download: PathBuf,
    /// Downloaded, with glance's MD5 (in its name).
    source: PathBuf,
    /// Being compressed.
    compressing: PathBuf,
    compressed: PathBuf,
    /// The compressed image's checksums and the source's MD5 (JSON).
    record: PathBuf,
}

impl Files {
    fn new(state: &Path, artifact: &str, source: &Source) -> Files {
        let stem = artifact.trim_end_matches(".qcow2");
        let dir = state.join(stem);
        let source_path = match &source.origin {
            Origin::File(path) => path.clone(),
            Origin::Glance { .. } => dir.join(format!("source-{}.img", source.md5)),
        };
        Files {
            download: dir.join(format!("source-{}.img.part", source.md5)),
            source: source_path,
            compressing: dir.join(format!("{artifact}.part")),
            compressed: dir.join(artifact),
            record: dir.join(format!("{artifact}.json")),
            dir,
        }
    }
}

/// What was compressed from what: the proof that a compressed image is this
/// source's, kept after the upload as the proof of what was published.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    source_md5: String,
    sums: Sums,
    size: u64,
    published: Option<String>,
}

impl Record {
    fn load(path: &Path) -> Option<Record> {
        let json: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        Some(Record {
            source_md5: text("source_md5")?,
            sums: Sums {
                md5: text("md5")?,
                sha1: text("sha1")?,
                sha256: text("sha256")?,
            },
            size: json.get("size").and_then(Value::as_u64)?,
            published: text("published"),
        })
    }

    /// Written whole or not at all: a temp file, then a rename.
    fn save(&self, path: &Path) -> Result<()> {
        let json = json!({
            "source_md5": self.source_md5,
            "md5": self.sums.md5,
            "sha1": self.sums.sha1,
            "sha256": self.sums.sha256,
            "size": self.size,
            "published": self.published,
        });
        scratch::save(path, &(serde_json::to_string_pretty(&json)? + "\n"))
    }
}

/// What Artifactory holds at the location.
#[derive(Debug, Clone)]
struct Stored {
    md5: String,
    sha1: Option<String>,
    sha256: Option<String>,
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
    let openstack_ready = OPENSTACK_ENV
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if options.from_file.is_none() && !openstack_ready && !dry_run {
        return Err(bad!(
            "no OpenStack credentials in the environment: neither {} is set; `source <your-project>-openrc.sh` (or set OS_CLOUD to an entry of clouds.yaml) and run again, or pass --from-file <image>. Nothing was run.",
            OPENSTACK_ENV.join(" nor ")
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

fn source_label(source: &Source) -> String {
    match &source.origin {
        Origin::Glance { id, name, .. } => {
            format!("{name} in glance, id {id}, checksum {}", source.md5)
        }
        Origin::File(path) => format!("{}, md5 {}", path.display(), source.md5),
    }
}

/// `--from-file`: an image file here, its MD5 computed.
fn from_file(ctx: &Context, file: &Path) -> Result<Source> {
    let meta = fs::metadata(file).map_err(|err| bad!("--from-file {}: {err}", file.display()))?;
    if !meta.is_file() {
        return Err(bad!("--from-file {}: not a file", file.display()));
    }
    let path = file
        .canonicalize()
        .map_err(|err| bad!("--from-file {}: {err}", file.display()))?;
    ctx.say(format!(
        "  computing the MD5 of {} ({})…",
        path.display(),
        human_bytes(meta.len())
    ));
    let md5 = checksum::file_md5(&path, |_| {})
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Source {
        origin: Origin::File(path),
        md5,
        size: meta.len(),
    })
}

/// The one active image of the first of `names` glance has, with its checksum and size.
fn from_glance(runner: &Runner, names: &[String]) -> Result<Source> {
    let list = Step::new("list glance's images", "openstack")
        .args(["image", "list", "-c", "ID", "-c", "Name", "-f", "value"]);
    let listed = answer(runner, &list)?;
    let pairs: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|line| line.trim().split_once(' '))
        .map(|(id, name)| (id, name.trim()))
        .collect();
    let Some((name, ids)) = names.iter().find_map(|name| {
        let ids: Vec<&str> = pairs
            .iter()
            .filter(|(_, listed)| listed == name)
            .map(|(id, _)| *id)
            .collect();
        (!ids.is_empty()).then_some((name, ids))
    }) else {
        anyhow::bail!(
            "no image named {} in glance (`openstack image list`): build it first (cargo xtask build-image), or check that the openrc is the build's project",
            names.join(" nor ")
        );
    };
    if ids.len() > 1 {
        anyhow::bail!(
            "glance has {} images named {name} (ids {}): keep the one the build made and delete the others (openstack image delete <id>), then run again",
            ids.len(),
            ids.join(", ")
        );
    }
    let id = ids[0];
    let show = Step::new(format!("ask glance about {name}"), "openstack")
        .args(["image", "show", "-f", "json", id]);
    let json: Value = serde_json::from_str(&answer(runner, &show)?)
        .with_context(|| format!("`{}` did not answer JSON", show.command_line()))?;
    let text = |key: &str| {
        json.get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && *v != "None")
            .map(str::to_string)
    };
    let status = text("status").unwrap_or_default();
    if status != "active" {
        anyhow::bail!(
            "the image {name} (id {id}) is {}, not active: wait for the build to finish, or build again",
            if status.is_empty() { "of unknown status" } else { &status }
        );
    }
    let md5 = text("checksum").ok_or_else(|| {
        anyhow::anyhow!("glance has no checksum for {name} (id {id}), so the download cannot be verified; download it yourself and pass it with --from-file")
    })?;
    let size = json
        .get("size")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0);
    // What qemu-img reads; other formats (iso, ami, …) are left to its probing.
    let disk_format = text("disk_format")
        .filter(|f| ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"].contains(&f.as_str()));
    Ok(Source {
        origin: Origin::Glance {
            id: id.to_string(),
            name: name.clone(),
            disk_format,
        },
        md5: md5.to_ascii_lowercase(),
        size,
    })
}

/// What a query printed; an error with its message when it failed.
fn answer(runner: &Runner, step: &Step) -> Result<String> {
    let outcome = runner.capture(step)?;
    if outcome.interrupted {
        return Err(AlreadyReported.into());
    }
    if !outcome.ok {
        anyhow::bail!(
            "`{}` failed (is the openrc sourced?): {}",
            step.command_line(),
            outcome.output.trim()
        );
    }
    Ok(outcome.stdout)
}

/// `GET <base>/api/storage/<path>`: the checksums Artifactory stores, or
/// `None` for 404.
fn ask_stored(
    runner: &Runner,
    location: &Location,
    credentials: &Credentials,
) -> Result<Option<Stored>> {
    let step = storage_step(location, Some(credentials));
    let outcome = runner.capture(&step)?;
    if outcome.interrupted {
        return Err(AlreadyReported.into());
    }
    if !outcome.ok {
        anyhow::bail!(
            "cannot ask Artifactory about {} ({}): curl said: {} (set ARTIFACTORY_URL or --artifactory for another Artifactory)",
            location.repo_path,
            location.storage_url(),
            outcome.output.trim()
        );
    }
    read_storage(location, &outcome.stdout)
}

/// The storage API's answer (body, then the status on a line of its own):
/// the checksums for 200, `None` for 404.
fn read_storage(location: &Location, stdout: &str) -> Result<Option<Stored>> {
    let url = location.storage_url();
    let text = stdout.trim_end();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
    match artifactory::status_code(code) {
        Some(200) => {}
        Some(404) => return Ok(None),
        Some(code @ (401 | 403)) => {
            return Err(bad!(
                "Artifactory refused the credentials (HTTP {code}) for {url}: check them ({})",
                artifactory::how_to_give_credentials()
            ))
        }
        Some(code) => anyhow::bail!(
            "Artifactory answered HTTP {code} for {url}; expected 200 or 404; it said: {}",
            artifactory::excerpt(body)
        ),
        None => anyhow::bail!("could not read an HTTP status from curl's answer for {url}"),
    }
    let json: Value = serde_json::from_str(body).map_err(|err| {
        anyhow::anyhow!(
            "Artifactory's answer for {url} is not JSON ({err}): {}",
            artifactory::excerpt(body)
        )
    })?;
    let sum = |key: &str| {
        json.pointer(&format!("/checksums/{key}"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_ascii_lowercase)
    };
    let md5 = sum("md5")
        .ok_or_else(|| anyhow::anyhow!("Artifactory's answer for {url} has no checksums.md5"))?;
    Ok(Some(Stored {
        md5,
        sha1: sum("sha1"),
        sha256: sum("sha256"),
    }))
}

fn storage_step(location: &Location, credentials: Option<&Credentials>) -> Step {
    artifactory::request(
        format!(
            "ask Artifactory for the checksums of {}",
            location.file_name()
        ),
        credentials,
    )
    .args(["--write-out", "\\n%{http_code}", &location.storage_url()])
}

fn download_step(source: &Source, files: &Files) -> Option<Step> {
    let Origin::Glance { id, name, .. } = &source.origin else {
        return None;
    };
    Some(
        Step::new(format!("download {name} from glance"), "openstack")
            .args(["image", "save", "--file"])
            .arg(files.download.to_string_lossy())
            .arg(id.clone())
            .progress(Progress {
                meter: Meter::FileSize(files.download.clone()),
                total: source.size,
            }),
    )
}

fn compress_step(source: &Source, files: &Files) -> Step {
    let mut step = Step::new(
        format!("compress the image into {}", file_name(&files.compressed)),
        "qemu-img",
    )
    .args(["convert", "-c", "-O", "qcow2"]);
    if let Origin::Glance {
        disk_format: Some(format),
        ..
    } = &source.origin
    {
        step = step.args(["-f", format]);
    }
    step.arg(files.source.to_string_lossy())
        .arg(files.compressing.to_string_lossy())
}

/// `curl --upload-file` (a PUT) with the three checksum headers; prints the
/// answer, then the HTTP status on a line of its own.
fn upload_step(
    location: &Location,
    files: &Files,
    sums: Option<&Sums>,
    size: u64,
    credentials: Option<&Credentials>,
) -> Step {
    let sum = |pick: fn(&Sums) -> &String, what: &str| {
        sums.map(|s| pick(s).clone())
            .unwrap_or_else(|| format!("<{what} of the compressed image>"))
    };
    artifactory::request(
        format!("upload {} to Artifactory", location.file_name()),
        credentials,
    )
    .args([
        "--header".to_string(),
        format!("X-Checksum-Md5: {}", sum(|s| &s.md5, "md5")),
        "--header".to_string(),
        format!("X-Checksum-Sha1: {}", sum(|s| &s.sha1, "sha1")),
        "--header".to_string(),
        format!("X-Checksum-Sha256: {}", sum(|s| &s.sha256, "sha256")),
        "--upload-file".to_string(),
        files.compressed.to_string_lossy().into_owned(),
        "--write-out".to_string(),
        "\\n%{http_code}".to_string(),
        location.url(),
    ])
    .progress(Progress {
        meter: Meter::ReadOffset(files.compressed.clone()),
        total: size,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
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

/// Whether the compressed image is there with its recorded checksums.
fn compressed_holds(ctx: &Context, files: &Files, record: &Record) -> bool {
    if !files.compressed.is_file() {
        return false;
    }
    ctx.say(format!(
        "  checking {} against its record…",
        files.compressed.display()
    ));
    match checksum::file_sums(&files.compressed, |_| {}) {
        Ok(sums) if sums == record.sums => true,
        _ => {
            ctx.warn(format!(
                "{} does not match its record: compressing again",
                files.compressed.display()
            ));
            false
        }
    }
}

/// Whether the downloaded image is there with glance's MD5.
fn source_holds(ctx: &Context, source: &Source, files: &Files) -> Result<bool> {
    if !files.source.is_file() {
        return Ok(false);
    }
    ctx.say(format!("  checking the MD5 of {}…", files.source.display()));
    let md5 = checksum::file_md5(&files.source, |_| {})
        .with_context(|| format!("cannot read {}", files.source.display()))?;
    if md5 == source.md5 {
        ctx.say(format!(
            "  skipped download: {} is there with glance's MD5 {md5}",
            files.source.display()
        ));
        return Ok(true);
    }
    ctx.warn(format!(
        "{} has MD5 {md5}, not glance's {}: downloading it again",
        files.source.display(),
        source.md5
    ));
    scratch::discard(&files.source);
    Ok(false)
}

fn download(
    ctx: &Context,
    runner: &Runner,
    n: usize,
    total: usize,
    source: &Source,
    files: &Files,
) -> Result<()> {
    let Some(step) = download_step(source, files) else {
        return Ok(());
    };
    scratch::discard(&files.download);
    let outcome = runner.step(n, total, &step)?;
    if !outcome.ok {
        scratch::discard(&files.download);
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!("`openstack image save` failed: {}", outcome.output.trim());
    }
    ctx.say("  checking the download's MD5 against glance's checksum…");
    let md5 = checksum::file_md5(&files.download, |_| {})
        .with_context(|| format!("cannot read {}", files.download.display()))?;
    if md5 != source.md5 {
        scratch::discard(&files.download);
        anyhow::bail!(
            "the image downloaded from glance has MD5 {md5}, but glance's checksum is {}: the transfer or glance's copy is damaged, and the download was deleted. Run publish-image again to download it again; if it fails the same way, check the image in glance ({})",
            source.md5,
            source_label(source)
        );
    }
    scratch::promote(&files.download, &files.source)?;
    ctx.say(format!(
        "  {} MD5 {md5} is glance's checksum",
        ctx.paint.good("ok")
    ));
    Ok(())
}

fn compress(
    ctx: &Context,
    runner: &Runner,
    n: usize,
    total: usize,
    source: &Source,
    files: &Files,
) -> Result<Record> {
    scratch::discard(&files.compressing);
    let outcome = runner.step(n, total, &compress_step(source, files))?;
    if !outcome.ok {
        scratch::discard(&files.compressing);
        if outcome.interrupted {
            return Err(AlreadyReported.into());
        }
        anyhow::bail!(
            "qemu-img could not compress the image: {}",
            outcome.output.trim()
        );
    }
    let sums = checksum::file_sums(&files.compressing, |_| {})
        .with_context(|| format!("cannot read {}", files.compressing.display()))?;
    let size = fs::metadata(&files.compressing).map_or(0, |m| m.len());
    scratch::promote(&files.compressing, &files.compressed)?;
    let record = Record {
        source_md5: source.md5.clone(),
        sums,
        size,
        published: None,
    };
    record.save(&files.record)?;
    ctx.say(format!(
        "  {} {} ({} from {}): md5 {}",
        ctx.paint.good("compressed:"),
        files.compressed.display(),
        human_bytes(size),
        human_bytes(source.size),
        record.sums.md5
    ));
    // The compressed image and its record are all the next steps need.
    if matches!(source.origin, Origin::Glance { .. }) {
        scratch::discard(&files.source);
    }
    Ok(record)
}

/// The PUT's answer: HTTP 201 (or 200) and Artifactory's JSON whose
/// checksums are what was sent.
fn check_upload_answer(location: &Location, stdout: &str, sent: &Sums) -> Result<()> {
    let text = stdout.trim_end();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
    let excerpt = artifactory::excerpt(body);
    match artifactory::status_code(code) {
        Some(200 | 201) => {}
        Some(code @ (401 | 403)) => anyhow::bail!(
            "Artifactory refused the upload (HTTP {code}): check the credentials and that the user may deploy to {}; the server said: {excerpt}",
            location.url()
        ),
        Some(code) => anyhow::bail!(
            "Artifactory refused the upload of {} (HTTP {code}); the server said: {excerpt}",
            location.url()
        ),
        None => anyhow::bail!(
            "could not read an HTTP status from curl's answer to the upload of {}",
            location.url()
        ),
    }
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        // The storage API is asked next; that comparison is the one that counts.
        return Ok(());
    };
    let md5 = answer
        .pointer("/checksums/md5")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    match md5 {
        Some(md5) if md5 != sent.md5 => anyhow::bail!(
            "Artifactory stored {} with md5 {md5}, the upload had {}; delete it there and run publish-image again with --replace",
            location.url(),
            sent.md5
        ),
        _ => Ok(()),
    }
}
