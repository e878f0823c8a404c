//! `cargo xtask build-package`: the runbook's `make clean` and `make` in the
//! package folder, a check of the .deb against the tree (Package, Version,
//! Architecture, Depends), and with `--publish` the upload to Artifactory.
//!
//! Steps go from reversible to irreversible: nothing runs while `check` finds
//! errors or a tool the package scripts call is missing, and the upload runs
//! only after every earlier step succeeded and the server said the version
//! is not there yet. The package's own build.sh asks "Publish to
//! Artifactory? (yN)": make runs with `PUBLISH=no` and "n" on its standard
//! input, so build.sh never publishes; this module does, with curl through
//! the runner.
//!
//! make writes into the tree (`version/package-version.go` through
//! version.sh): the tracked files it may write are kept in memory before it
//! runs and put back, through the changeset, when it fails or changes them.

mod scripts;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

use crate::artifactory::{self, Checksums, Credentials, Presence, Target};
use crate::changeset::Changeset;
use crate::checksum;
use crate::context::{Context, Verbosity};
use crate::error::AlreadyReported;
use crate::formats::dependencies::Dependencies;
use crate::formats::makefile;
use crate::rules::{self, Severity};
use crate::runner::{Outcome, Runner, Step};
use crate::sites::{self, paths};
use crate::tree::{read_text, WorkTree};
use crate::{bad, flags};

use scripts::ShellVars;

/// build.sh's default architecture; the upload's `deb.architecture`.
const ARCH: &str = "amd64";
/// The fields of the .deb that are verified.
const FIELDS: [&str; 4] = ["Package", "Version", "Architecture", "Depends"];
/// The generic package builder the Makefile calls as `../build.sh`.
const BUILD_SH: &str = "openstack-tenant/packages/build.sh";
/// What the Makefile's build-vers target runs.
const VERSION_SH: &str = "openstack-tenant/packages/mobiledgex/version.sh";
/// Where make may write tracked files: the packages (build.sh runs in the
/// package folder) and `version/` (build-vers writes package-version.go).
const MAKE_WRITES_UNDER: [&str; 2] = ["openstack-tenant/packages", "version"];
/// build.sh's answer to "Publish to Artifactory? (yN)".
const NO_PUBLISH_ANSWER: &[u8] = b"n\n";

impl flags::BuildPackage {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let options = Options {
            publish: self.publish,
            artifactory: self.artifactory.clone(),
        };
        let build = Build::prepare(ctx, &options, self.confirm.dry_run)?;
        ctx.say(build.plan(1, build.step_count()).join("\n"));
        let question = if build.options.publish {
            "Build, verify and publish the package?"
        } else {
            "Build and verify the package?"
        };
        if !ctx.confirm(self.confirm, question)? {
            return Ok(());
        }
        let runner = runner(ctx)?;
        let built = build.run(ctx, &runner, 1, build.step_count())?;
        ctx.say(built.summary(&ctx.root));
        Ok(())
    }
}

/// What `release` decides for the package build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub publish: bool,
    /// Artifactory base URL; `None`: build.sh's `ARTIFACTORY_PATH`, else the default.
    pub artifactory: Option<String>,
}

/// What was built (and where it went).
#[derive(Debug, Clone)]
pub struct Built {
    /// The .deb, absolute.
    pub deb: PathBuf,
    pub version: String,
    /// The Artifactory URL, when it was published.
    pub published: Option<String>,
}

impl Built {
    fn summary(&self, root: &Path) -> String {
        let deb = self.deb.strip_prefix(root).unwrap_or(&self.deb).display();
        match &self.published {
            Some(url) => format!("Built version {}: {deb}, published as {url}", self.version),
            None => format!(
                "Built and verified version {}: {deb} (not published: --publish uploads it)",
                self.version
            ),
        }
    }
}

/// For `release`: build and verify without asking (the caller asked).
pub fn build(ctx: &Context, runner: &Runner, options: &Options) -> Result<Built> {
    let build = Build::prepare(ctx, options, false)?;
    build.run(ctx, runner, 1, build.step_count())
}

/// For `release`, whose build and publish are separate steps: publish the
/// .deb a previous `build` made, after checking it still matches the tree.
pub fn publish(ctx: &Context, runner: &Runner, options: &Options) -> Result<Built> {
    let options = Options {
        publish: true,
        ..options.clone()
    };
    let build = Build::prepare(ctx, &options, false)?;
    let credentials = build.credentials(ctx, runner)?;
    let Some(local) = build
        .deb_names()
        .into_iter()
        .find(|name| ctx.path(paths::PACKAGE_DIR).join(name).is_file())
    else {
        return Err(bad!(
            "{} is not there to publish; build it first (cargo xtask build-package)",
            build.deb_path(&build.deb_names()[0]).display()
        ));
    };
    build.verify_deb(ctx, runner, &local, 1, 3)?;
    let built = Built {
        deb: ctx.path(&build.deb_path(&local).to_string_lossy()),
        version: build.package.version.clone(),
        published: None,
    };
    build.publish_built(ctx, runner, built, credentials, 2, 3)
}

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
fn destination(given: Option<&str>, script: &Script) -> Result<(String, String)> {
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

/// A runner for the monorepo, as loud as the context.
pub fn runner(ctx: &Context) -> Result<Runner> {
    let mut runner = Runner::for_root(&ctx.root)?;
    runner.set_quiet(ctx.verbosity == Verbosity::Quiet);
    Ok(runner)
}

/// Every tool `make` runs in the package folder calls, read from the
/// Makefile, version.sh and build.sh of the tree at `root` (for `doctor`).
pub fn tools_needed(root: &Path) -> Vec<&'static str> {
    let tree = WorkTree {
        root: root.to_path_buf(),
    };
    let texts: Vec<String> = [paths::MAKEFILE, VERSION_SH, BUILD_SH]
        .iter()
        .filter_map(|rel| read_text(&tree, rel).ok().flatten())
        .collect();
    let mut tools = scripts::tools_called(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    if !tools.contains(&"dpkg-deb") {
        // The verify step runs it whatever the scripts do.
        tools.push("dpkg-deb");
    }
    tools
}

/// The mobiledgex package as its Makefile describes it.
#[derive(Debug, Clone)]
struct Package {
    name: String,
    version: String,
    distribution: String,
    component: String,
    dependencies: Dependencies,
}

/// What build.sh says when run as the Makefile runs it.
#[derive(Debug, Clone)]
struct Script {
    /// `DEBFILE`, the .deb it writes (`mobiledgex_4.10.0.deb` in the real
    /// monorepo, `mobiledgex_3.0.1_amd64.deb` in the rendition), when it can
    /// be read without running the script.
    deb_file: Option<String>,
    /// `ARCH`, the architecture in the control file and the upload.
    arch: String,
    /// `ARTIFACTORY_PATH` (the pool folder build.sh uploads to) and its line.
    artifactory_path: Option<(String, usize)>,
    /// `${ARTIFACTORY}/${ARTIFACTORY_REPO}/pool`, for a build.sh that names
    /// its server that way.
    artifactory_pool: Option<String>,
}

impl Script {
    fn read(ctx: &Context, package: &Package) -> Result<Script> {
        let tree = WorkTree {
            root: ctx.root.clone(),
        };
        let text = read_text(&tree, BUILD_SH)?.unwrap_or_default();
        let args = [
            package.name.as_str(),
            package.version.as_str(),
            package.distribution.as_str(),
            package.component.as_str(),
        ];
        let env = |name: &str| std::env::var(name).ok();
        let vars = ShellVars::evaluate(&text, &args, &env);
        let value = |name: &str| vars.get(name).map(|(value, _)| value.to_string());
        let artifactory_pool = match (value("ARTIFACTORY"), value("ARTIFACTORY_REPO")) {
            (Some(server), Some(repo)) => Some(format!("{server}/{repo}/pool")),
            _ => None,
        };
        Ok(Script {
            deb_file: value("DEBFILE").filter(|name| !name.contains('/') && name.ends_with(".deb")),
            arch: value("ARCH")
                .filter(|arch| !arch.is_empty())
                .unwrap_or_else(|| ARCH.to_string()),
            artifactory_path: vars
                .get("ARTIFACTORY_PATH")
                .map(|(value, line)| (value.to_string(), line)),
            artifactory_pool,
        })
    }
}

/// Everything decided before a step runs: the package, the checks passed,
/// the tools found, and for a publish the target and stored credentials.
pub struct Build {
    options: Options,
    package: Package,
    script: Script,
    tools: Vec<&'static str>,
    target: Option<Target>,
    /// Where the upload destination came from, for the plan.
    target_source: String,
    credentials: Option<Credentials>,
}

impl Build {
    /// Reads the Makefile, `dependencies` and build.sh, runs `check` (errors:
    /// exit 1), and makes sure every tool the package scripts call (exit 2)
    /// and, unless `dry_run`, credentials (exit 2 with no terminal to ask)
    /// are there. Runs nothing.
    pub fn prepare(ctx: &Context, options: &Options, dry_run: bool) -> Result<Build> {
        let given = options
            .artifactory
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        let given = match (options.publish, given) {
            (true, Some(url)) => Some(artifactory::base_url(Some(url))?),
            _ => None,
        };
        let package = read_package(ctx)?;
        let script = Script::read(ctx, &package)?;

        let mut tools = tools_needed(&ctx.root);
        if options.publish {
            tools.push("curl");
        }
        Runner::for_root(&ctx.root)?.require_tools(&tools)?;

        let mut credentials = None;
        if options.publish {
            let stored = artifactory::stored()?;
            for warning in &stored.warnings {
                ctx.warn(warning);
            }
            credentials = stored.credentials;
            if credentials.is_none() && !ctx.stdin_is_terminal && !dry_run {
                return Err(bad!(
                    "--publish needs Artifactory credentials and there is no terminal to ask for them: {}. Nothing was run.",
                    artifactory::how_to_give_credentials()
                ));
            }
        }
        let (pool, target_source) = destination(given.as_deref(), &script)?;
        let target = options.publish.then(|| Target {
            pool,
            file_name: upload_name(&package, &script.arch),
            distribution: package.distribution.clone(),
            component: package.component.clone(),
            architecture: script.arch.clone(),
        });
        Ok(Build {
            options: options.clone(),
            package,
            script,
            tools,
            target,
            target_source,
            credentials,
        })
    }

    /// 3 steps, 5 with the publish.
    pub fn step_count(&self) -> usize {
        if self.target.is_some() {
            5
        } else {
            3
        }
    }

    /// The numbered steps with their command lines, as they will run.
    pub fn plan(&self, first: usize, total: usize) -> Vec<String> {
        let dir = paths::PACKAGE_DIR;
        let names = self.deb_names();
        let deb = names[0].clone();
        let mut lines = vec![
            format!(
                "build-package: {} {} in {dir}",
                self.package.name, self.package.version
            ),
            format!(
                "  tools the Makefile and its scripts call, all found: {}",
                self.tools.join(", ")
            ),
        ];
        let mut steps = vec![
            (make_clean(), format!("cd {dir} && ")),
            (make(), format!("cd {dir} && ")),
            (verify(&deb), format!("cd {dir} && ")),
        ];
        if let Some(target) = &self.target {
            let placeholder = Checksums {
                md5: "<md5 of the .deb>".into(),
                sha1: "<sha1 of the .deb>".into(),
            };
            steps.push((target.exists_step(None), String::new()));
            steps.push((
                target.upload_step(&self.deb_path(&deb), &placeholder, None),
                String::new(),
            ));
        }
        for (i, (step, cd)) in steps.iter().enumerate() {
            lines.push(format!("  [{}/{total}] {}", first + i, step.title()));
            lines.push(format!("        $ {cd}{}", step.command_line()));
        }
        if names.len() > 1 {
            lines.push(format!(
                "  build.sh's DEBFILE cannot be read without running it: the .deb is whichever of {} make writes",
                names.join(" and ")
            ));
        }
        lines.push(format!(
            "  build.sh's question \"Publish to Artifactory? (yN)\" is answered \"n\" on make's standard input; \
             the tracked files make may write (under {}) are put back as they were if make fails",
            MAKE_WRITES_UNDER.join(" and ")
        ));
        if let Some(target) = &self.target {
            lines.push(format!(
                "  destination: {} (from {})",
                target.url(),
                self.target_source
            ));
            let whose = match &self.credentials {
                Some(credentials) => {
                    format!("user {} from {}", credentials.user, credentials.source)
                }
                None => "none stored: they will be asked on the terminal".into(),
            };
            lines.push(format!(
                "  Artifactory credentials: {whose}; curl reads them on its standard input (`--config -`), never in its arguments"
            ));
            lines.push(format!(
                "  the upload runs only if every step before it succeeded and {} is not in Artifactory yet \
                 (build.sh's own publish is off: PUBLISH=no, and \"n\" to its question)",
                target.file_name
            ));
        }
        lines
    }

    /// The names the .deb may have: build.sh's `DEBFILE` when it can be
    /// read, else both forms build.sh scripts use.
    fn deb_names(&self) -> Vec<String> {
        match &self.script.deb_file {
            Some(name) => vec![name.clone()],
            None => vec![
                upload_name(&self.package, &self.script.arch),
                format!("{}_{}.deb", self.package.name, self.package.version),
            ],
        }
    }

    /// A .deb in the package folder, relative to the root.
    fn deb_path(&self, name: &str) -> PathBuf {
        Path::new(paths::PACKAGE_DIR).join(name)
    }

    /// Runs the steps, numbered from `first` of `total`; stops at the first
    /// failure (exit 1, reported). Asks for credentials not stored, on a terminal.
    pub fn run(&self, ctx: &Context, runner: &Runner, first: usize, total: usize) -> Result<Built> {
        let credentials = self.credentials(ctx, runner)?;
        let before = TrackedFiles::read(ctx, runner)?;
        let started = SystemTime::now();

        let mut n = first;
        for step in [make_clean(), make()] {
            let outcome = runner.step(n, total, &step)?;
            if !outcome.ok {
                let restored = before.restore_changed(ctx)?;
                eprintln!(
                    "{}: `{}` failed; {}. Fix the cause (the step's log above) and run build-package again. Nothing was published.",
                    ctx.paint.error("error"),
                    step.command_line(),
                    describe_restored(&restored, "make")
                );
                return Err(AlreadyReported.into());
            }
            n += 1;
        }
        self.check_tracked_files(ctx, &before)?;

        let Some(local) = self.find_deb(ctx, started) else {
            eprintln!(
                "{}: make succeeded but did not produce {} in {}; look at the make step's log above",
                ctx.paint.error("error"),
                self.deb_names().join(" or "),
                paths::PACKAGE_DIR
            );
            return Err(AlreadyReported.into());
        };
        self.verify_deb(ctx, runner, &local, n, total)?;
        ctx.say(format!(
            "  {} Package {}, Version {}, Architecture {}, Depends = the {} pins of {} ({local})",
            ctx.paint.good("verified:"),
            self.package.name,
            self.package.version,
            self.script.arch,
            self.package.dependencies.pins.len(),
            paths::DEPENDENCIES
        ));

        let built = Built {
            deb: ctx.path(&self.deb_path(&local).to_string_lossy()),
            version: self.package.version.clone(),
            published: None,
        };
        self.publish_built(ctx, runner, built, credentials, n + 1, total)
    }

    /// After a successful make: the tracked files must be as they were. The
    /// one change that is expected is build-vers regenerating
    /// package-version.go with the same version but not byte for byte (the
    /// real monorepo's copy carries a license header version.sh does not
    /// write): it is put back and said. Any other change is put back too, and
    /// stops the command (exit 1).
    fn check_tracked_files(&self, ctx: &Context, before: &TrackedFiles) -> Result<()> {
        let changed = before.changed(ctx);
        if changed.is_empty() {
            return Ok(());
        }
        // The version make wrote, read as `check` reads it.
        let tree = WorkTree {
            root: ctx.root.clone(),
        };
        let written = sites::load(&tree)
            .ok()
            .map(|inventory| inventory.generated_version.value);
        let same_version = changed.len() == 1
            && changed[0].path == paths::PACKAGE_VERSION_GO
            && written.as_deref() == Some(&self.package.version);
        let restored = before.restore_changed(ctx)?;
        if same_version {
            ctx.say(format!(
                "note: make's build-vers rewrote {} with the same version {} but not byte for byte \
                 (version.sh writes only the package line and the variable, not e.g. a license header); \
                 put back as it was",
                paths::PACKAGE_VERSION_GO,
                self.package.version
            ));
            return Ok(());
        }
        let why = match written {
            Some(version) if version != self.package.version => format!(
                " (it wrote version {version} into {}, the Makefile says {})",
                paths::PACKAGE_VERSION_GO,
                self.package.version
            ),
            _ => String::new(),
        };
        eprintln!(
            "{}: make succeeded but changed tracked files{why}; {}. A build must not change the tree: look at the Makefile's targets and the scripts they run. Nothing was published.",
            ctx.paint.error("error"),
            describe_restored(&restored, "make")
        );
        Err(AlreadyReported.into())
    }

    /// The .deb make produced: build.sh's `DEBFILE`, or else whichever of
    /// the two usual names make wrote (not one left from before).
    fn find_deb(&self, ctx: &Context, started: SystemTime) -> Option<String> {
        let dir = ctx.path(paths::PACKAGE_DIR);
        let names = self.deb_names();
        let fresh = |name: &String| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            let new = self.script.deb_file.is_some()
                || meta.modified().is_ok_and(|modified| modified >= started);
            (meta.is_file() && new).then_some(())
        };
        names.into_iter().find(|name| fresh(name).is_some())
    }

    /// Step `n`: the .deb's fields must say what the tree says.
    fn verify_deb(
        &self,
        ctx: &Context,
        runner: &Runner,
        local: &str,
        n: usize,
        total: usize,
    ) -> Result<()> {
        let outcome = must_succeed(runner.step(n, total, &verify(local))?)?;
        let problems = compare_fields(&self.package, &self.script.arch, &outcome.stdout);
        if problems.is_empty() {
            return Ok(());
        }
        eprintln!(
            "{}: {} does not match the tree:\n  - {}\nNothing was published.",
            ctx.paint.error("error"),
            self.deb_path(local).display(),
            problems.join("\n  - ")
        );
        Err(AlreadyReported.into())
    }

    /// Credentials for a publish: stored ones, or asked on a terminal.
    fn credentials(&self, ctx: &Context, runner: &Runner) -> Result<Option<Credentials>> {
        Ok(match (&self.target, &self.credentials) {
            (Some(_), Some(credentials)) => Some(credentials.clone()),
            (Some(_), None) => Some(artifactory::prompt(ctx, runner)?),
            (None, _) => None,
        })
    }

    /// The irreversible part: ask Artifactory whether the version is there,
    /// then upload (steps `first` and `first + 1`). Without a target, nothing.
    fn publish_built(
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
                eprintln!(
                    "{}: {} is already in Artifactory (HTTP 200); nothing was uploaded.\n  Normally this means VERSION must be raised: `cargo xtask bump-base-image <next version>`, then build again.\n  If you really are republishing this version (rebuilt with other dependencies, for instance), first delete {} from {} in Artifactory, then run build-package --publish again.",
                    ctx.paint.error("error"),
                    target.url(),
                    target.file_name,
                    target.pool
                );
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

/// `mobiledgex_3.0.1_amd64.deb`: the name build.sh uploads under, whatever
/// the local file is called.
fn upload_name(package: &Package, arch: &str) -> String {
    format!("{}_{}_{arch}.deb", package.name, package.version)
}

/// The tracked files make may write, as they were before it ran: bytes and
/// mode, `None` for a tracked file missing from the working tree.
struct TrackedFiles {
    files: Vec<(String, Option<FileState>)>,
}

/// A file's bytes and permission bits.
type FileState = (Vec<u8>, u32);

/// A tracked file that make changed.
struct Changed {
    path: String,
    how: &'static str,
}

impl TrackedFiles {
    /// `git ls-files` under `MAKE_WRITES_UNDER`; outside git, the files of
    /// the package folder, build.sh and package-version.go.
    fn read(ctx: &Context, runner: &Runner) -> Result<TrackedFiles> {
        let mut args = vec!["ls-files", "-z", "--"];
        args.extend(MAKE_WRITES_UNDER);
        let paths: Vec<String> = match runner.git(&ctx.root, &args) {
            Ok(out) => out
                .split(|&b| b == 0)
                .filter(|path| !path.is_empty())
                .map(|path| String::from_utf8_lossy(path).into_owned())
                .collect(),
            Err(_) => {
                let mut paths = vec![paths::PACKAGE_VERSION_GO.to_string(), BUILD_SH.to_string()];
                if let Ok(entries) = std::fs::read_dir(ctx.path(paths::PACKAGE_DIR)) {
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            if !name.ends_with(".deb") {
                                paths.push(format!("{}/{name}", paths::PACKAGE_DIR));
                            }
                        }
                    }
                }
                paths
            }
        };
        let files = paths
            .into_iter()
            .map(|rel| {
                let state = read_state(&ctx.path(&rel));
                (rel, state)
            })
            .collect();
        Ok(TrackedFiles { files })
    }

    /// The files that differ from what was read, and how.
    fn changed(&self, ctx: &Context) -> Vec<Changed> {
        let mut changed = Vec::new();
        for (rel, before) in &self.files {
            let now = read_state(&ctx.path(rel));
            let how = match (before, &now) {
                (a, b) if a == b => continue,
                (Some(_), None) => "removed by make",
                (None, Some(_)) => "created by make",
                (Some((_, _)), Some((bytes, _))) if bytes.is_empty() => {
                    "truncated to 0 bytes by make"
                }
                (Some((old, _)), Some((new, _))) if old == new => "its mode changed by make",
                _ => "changed by make",
            };
            changed.push(Changed {
                path: rel.clone(),
                how,
            });
        }
        changed
    }

    /// Puts back every file make changed, all or none, through the changeset.
    fn restore_changed(&self, ctx: &Context) -> Result<Vec<Changed>> {
        let changed = self.changed(ctx);
        if changed.is_empty() {
            return Ok(changed);
        }
        let mut changeset = Changeset::new(&ctx.root);
        for change in &changed {
            let before = self
                .files
                .iter()
                .find(|(rel, _)| *rel == change.path)
                .and_then(|(_, state)| state.clone());
            match before {
                Some((bytes, mode)) => changeset.restore(&change.path, bytes, mode)?,
                None => changeset.remove(&change.path)?,
            }
        }
        changeset.apply().map_err(|err| {
            anyhow::anyhow!(
                "{err:#}; make changed {}: put them back with `git checkout -- <file>`",
                changed
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Ok(changed)
    }
}

/// A file's bytes and permission bits; `None` when it is not there.
fn read_state(path: &Path) -> Option<FileState> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).ok()?;
    let bytes = std::fs::read(path).ok()?;
    Some((bytes, meta.permissions().mode() & 0o7777))
}

/// "it changed no tracked file" or "these tracked files were put back as
/// they were before make: a (truncated to 0 bytes by make), b (…)".
fn describe_restored(restored: &[Changed], tool: &str) -> String {
    if restored.is_empty() {
        return format!("{tool} changed no tracked file");
    }
    format!(
        "restored {} tracked file{} byte for byte to what {} before {tool} ran: {}",
        restored.len(),
        if restored.len() == 1 { "" } else { "s" },
        if restored.len() == 1 {
            "it was"
        } else {
            "they were"
        },
        restored
            .iter()
            .map(|c| format!("{} ({})", c.path, c.how))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A failed or interrupted step stops the command; the runner already said
/// why and where the log is.
fn must_succeed(outcome: Outcome) -> Result<Outcome> {
    if outcome.ok {
        Ok(outcome)
    } else {
        Err(AlreadyReported.into())
    }
}

fn make_clean() -> Step {
    Step::new("make clean", "make")
        .arg("clean")
        .dir(Path::new(paths::PACKAGE_DIR))
}

/// `PUBLISH=no` (the rendition's build.sh then never asks) and "n" on
/// standard input (the real build.sh reads its answer there): build.sh
/// never publishes.
fn make() -> Step {
    Step::new("make", "make")
        .env("PUBLISH", "no")
        .stdin(NO_PUBLISH_ANSWER.to_vec())
        .dir(Path::new(paths::PACKAGE_DIR))
}

fn verify(deb: &str) -> Step {
    Step::new(format!("verify {deb}"), "dpkg-deb")
        .arg("--field")
        .arg(deb)
        .args(FIELDS)
        .dir(Path::new(paths::PACKAGE_DIR))
}

/// Reads the package from the tree, refusing a tree that `check` finds errors in.
fn read_package(ctx: &Context) -> Result<Package> {
    let tree = WorkTree {
        root: ctx.root.clone(),
    };
    let inventory = sites::load(&tree)?;
    let findings = rules::evaluate(&inventory, None);
    let (errors, stale_locks) = rules::blocking(&findings, &[rules::POLICY_LOCK], &ctx.paint);
    if !stale_locks.is_empty() {
        ctx.say(format!(
            "note: {} stale lock file(s); they do not change the package (cargo xtask chef-policy regenerates them)",
            stale_locks.len()
        ));
    }
    if !errors.is_empty() {
        eprintln!(
            "{}: `cargo xtask check` finds {} error{} in the tree; fix {} before building the package. Nothing was run.",
            ctx.paint.error("error"),
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            if errors.len() == 1 { "it" } else { "them" }
        );
        return Err(AlreadyReported.into());
    }
    for finding in findings.iter().filter(|f| f.severity == Severity::Warning) {
        ctx.detail(finding.render(&ctx.paint));
    }

    let text =
        read_text(&tree, paths::MAKEFILE)?.ok_or_else(|| bad!("{} is missing", paths::MAKEFILE))?;
    let variable = |name: &str| -> Result<String> {
        let found = makefile::variable(&text, name);
        match found.as_slice() {
            [one] => Ok(one.value.clone()),
            [] => Err(bad!(
                "{}: no `{name} = …` line; build.sh needs it (e.g. `{name} = {}`)",
                paths::MAKEFILE,
                match name {
                    "PACKAGE" => "mobiledgex",
                    "DISTRIBUTION" => "cirrus",
                    _ => "main",
                }
            )),
            many => Err(bad!(
                "{}: `{name}` is set {} times (lines {}); expected one line",
                paths::MAKEFILE,
                many.len(),
                many.iter()
                    .map(|f| f.line.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    };
    Ok(Package {
        name: variable("PACKAGE")?,
        version: inventory.package_version.value.clone(),
        distribution: variable("DISTRIBUTION")?,
        component: variable("COMPONENT")?,
        dependencies: inventory.dependencies,
    })
}

/// `dpkg-deb --field` output: `Name: value` lines, continuation lines folded in.
fn parse_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

/// Every way the .deb's fields differ from the tree; empty when they agree.
fn compare_fields(package: &Package, arch: &str, dpkg_output: &str) -> Vec<String> {
    let fields = parse_fields(dpkg_output);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut problems = Vec::new();
    let expected = [
        ("Package", package.name.as_str(), paths::MAKEFILE),
        ("Version", package.version.as_str(), paths::MAKEFILE),
        ("Architecture", arch, "build.sh's ARCH"),
    ];
    for (name, want, from) in expected {
        match field(name) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{name} is `{got}`, {from} says `{want}`")),
            None => problems.push(format!("no {name} field (expected `{want}`)")),
        }
    }
    problems.extend(compare_depends(
        &package.dependencies,
        field("Depends").unwrap_or(""),
    ));
    problems
}

/// Depends against `dependencies`, package by package (order aside).
fn compare_depends(deps: &Dependencies, depends: &str) -> Vec<String> {
    let normal = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let in_deb: Vec<(String, String)> = depends
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('(') {
            Some((name, constraint)) => (
                name.trim().to_string(),
                normal(constraint.trim_end_matches(')')),
            ),
            None => (entry.to_string(), String::new()),
        })
        .collect();
    let mut problems = Vec::new();
    for pin in &deps.pins {
        let want = format!("{} {}", pin.op, pin.version);
        match in_deb.iter().find(|(name, _)| *name == pin.name) {
            Some((_, got)) if *got == want => {}
            Some((_, got)) => problems.push(format!(
                "Depends has `{} ({got})`, {}:{} says `{} ({want})`",
                pin.name,
                paths::DEPENDENCIES,
                pin.line,
                pin.name
            )),
            None => problems.push(format!(
                "Depends lacks `{} ({want})` of {}:{}",
                pin.name,
                paths::DEPENDENCIES,
                pin.line
            )),
        }
    }
    for (name, constraint) in &in_deb {
        if deps.get(name).is_none() {
            let shown = if constraint.is_empty() {
                name.clone()
            } else {
                format!("{name} ({constraint})")
            };
            problems.push(format!(
                "Depends has `{shown}`, which {} does not list",
                paths::DEPENDENCIES
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dependencies;

    fn package(deps: &str) -> Package {
        Package {
            name: "mobiledgex".into(),
            version: "3.0.1".into(),
            distribution: "cirrus".into(),
            component: "main".into(),
            dependencies: dependencies::parse(deps),
        }
    }

    const DEPS: &str = "# c\nkubeadm                         =1.18.20-00\nopen-vm-tools\t\t\t>=2:11.0.5-4ubuntu0.18.04.1\ndocker-ce =5:20.10.13~3-0~ubuntu-bionic\n";

    #[test]
    fn fields_that_match_the_tree_pass() {
        let out = "Package: mobiledgex\nVersion: 3.0.1\nArchitecture: amd64\nDepends: kubeadm (= 1.18.20-00), open-vm-tools (>= 2:11.0.5-4ubuntu0.18.04.1),\n docker-ce (= 5:20.10.13~3-0~ubuntu-bionic)\n";
        assert_eq!(
            compare_fields(&package(DEPS), ARCH, out),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_difference_is_named() {
        let out = "Package: mobiledgex\nVersion: 3.0.0\nArchitecture: amd64\nDepends: kubeadm (= 1.18.19-00), docker-ce (= 5:20.10.13~3-0~ubuntu-bionic), jq\n";
        let problems = compare_fields(&package(DEPS), ARCH, out);
        assert_eq!(
            problems,
            [
                "Version is `3.0.0`, openstack-tenant/packages/mobiledgex/Makefile says `3.0.1`",
                "Depends has `kubeadm (= 1.18.19-00)`, openstack-tenant/packages/mobiledgex/dependencies:2 says `kubeadm (= 1.18.20-00)`",
                "Depends lacks `open-vm-tools (>= 2:11.0.5-4ubuntu0.18.04.1)` of openstack-tenant/packages/mobiledgex/dependencies:3",
                "Depends has `jq`, which openstack-tenant/packages/mobiledgex/dependencies does not list",
            ]
        );
    }

    #[test]
    fn no_depends_field_means_no_pins() {
        let out = "Package: mobiledgex\nVersion: 3.0.1\nArchitecture: amd64\n";
        assert!(compare_fields(&package("# none\n"), ARCH, out).is_empty());
        assert_eq!(compare_fields(&package(DEPS), ARCH, out).len(), 3);
    }
}
