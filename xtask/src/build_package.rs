//! `cargo xtask build-package`: the runbook's `make clean` and `make` in the
//! package folder, a check of the .deb against the tree (Package, Version,
//! Architecture, Depends), and with `--publish` the upload to Artifactory.
//!
//! Steps go from reversible to irreversible: nothing runs while `check` finds
//! errors, and the upload runs only after every earlier step succeeded and the
//! server said the version is not there yet. The package's own build.sh would
//! ask "Publish to Artifactory?": make runs with `PUBLISH=no` and no standard
//! input, so it never publishes; this module does, with curl through the runner.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::artifactory::{self, Checksums, Credentials, Presence, Target};
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

/// build.sh's default architecture; the upload's `deb.architecture`.
const ARCH: &str = "amd64";
/// The fields of the .deb that are verified.
const FIELDS: [&str; 4] = ["Package", "Version", "Architecture", "Depends"];

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
    /// Artifactory base URL; `None` is the default.
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
    let deb = ctx.path(&build.deb_path().to_string_lossy());
    if !deb.is_file() {
        return Err(bad!(
            "{} is not there to publish; build it first (cargo xtask build-package)",
            build.deb_path().display()
        ));
    }
    build.verify_deb(ctx, runner, 1, 3)?;
    let built = Built {
        deb,
        version: build.package.version.clone(),
        published: None,
    };
    build.publish_built(ctx, runner, built, credentials, 2, 3)
}

/// A runner for the monorepo, as loud as the context.
pub fn runner(ctx: &Context) -> Result<Runner> {
    let mut runner = Runner::for_root(&ctx.root)?;
    runner.set_quiet(ctx.verbosity == Verbosity::Quiet);
    Ok(runner)
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

impl Package {
    /// `mobiledgex_3.0.1_amd64.deb`
    fn deb_name(&self) -> String {
        format!("{}_{}_{ARCH}.deb", self.name, self.version)
    }
}

/// Everything decided before a step runs: the package, the checks passed,
/// the tools found, and for a publish the target and stored credentials.
pub struct Build {
    options: Options,
    package: Package,
    target: Option<Target>,
    credentials: Option<Credentials>,
}

impl Build {
    /// Reads the Makefile and `dependencies`, runs `check` (errors: exit 1),
    /// and makes sure the tools (exit 2) and, unless `dry_run`, credentials
    /// (exit 2 with no terminal to ask) are there. Runs nothing.
    pub fn prepare(ctx: &Context, options: &Options, dry_run: bool) -> Result<Build> {
        let base = match options.publish {
            true => Some(artifactory::base_url(options.artifactory.as_deref())?),
            false => None,
        };
        let package = read_package(ctx)?;

        let mut tools = vec!["make", "dpkg-deb"];
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
        let target = base.map(|base| Target {
            base,
            file_name: package.deb_name(),
            distribution: package.distribution.clone(),
            component: package.component.clone(),
            architecture: ARCH.to_string(),
        });
        Ok(Build {
            options: options.clone(),
            package,
            target,
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
        let mut lines = vec![format!(
            "build-package: {} {} in {dir}",
            self.package.name, self.package.version
        )];
        let mut steps = vec![
            (make_clean(), format!("cd {dir} && ")),
            (make(), format!("cd {dir} && ")),
            (verify(&self.package), format!("cd {dir} && ")),
        ];
        if let Some(target) = &self.target {
            let placeholder = Checksums {
                md5: "<md5 of the .deb>".into(),
                sha1: "<sha1 of the .deb>".into(),
            };
            steps.push((target.exists_step(None), String::new()));
            steps.push((
                target.upload_step(&self.deb_path(), &placeholder, None),
                String::new(),
            ));
        }
        for (i, (step, cd)) in steps.iter().enumerate() {
            lines.push(format!("  [{}/{total}] {}", first + i, step.title()));
            lines.push(format!("        $ {cd}{}", step.command_line()));
        }
        if self.target.is_some() {
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
                 (build.sh's own publish is off: PUBLISH=no)",
                self.package.deb_name()
            ));
        }
        lines
    }

    /// The .deb, relative to the root.
    fn deb_path(&self) -> PathBuf {
        Path::new(paths::PACKAGE_DIR).join(self.package.deb_name())
    }

    /// Runs the steps, numbered from `first` of `total`; stops at the first
    /// failure (exit 1, reported). Asks for credentials not stored, on a terminal.
    pub fn run(&self, ctx: &Context, runner: &Runner, first: usize, total: usize) -> Result<Built> {
        let credentials = self.credentials(ctx, runner)?;
        let generated = ctx.path(paths::PACKAGE_VERSION_GO);
        let generated_before = std::fs::read(&generated).ok();

        let mut n = first;
        must_succeed(runner.step(n, total, &make_clean())?)?;
        n += 1;
        must_succeed(runner.step(n, total, &make())?)?;
        if std::fs::read(&generated).ok() != generated_before {
            eprintln!(
                "{}: make rewrote {} (its build-vers target writes it from the Makefile's VERSION {}), so the tree was not consistent; review it with `git diff {}`, commit it, and run build-package again. Nothing was published.",
                ctx.paint.error("error"),
                paths::PACKAGE_VERSION_GO,
                self.package.version,
                paths::PACKAGE_VERSION_GO
            );
            return Err(AlreadyReported.into());
        }

        n += 1;
        let deb = ctx.path(&self.deb_path().to_string_lossy());
        if !deb.is_file() {
            eprintln!(
                "{}: make succeeded but did not produce {}; look at the make step's log above",
                ctx.paint.error("error"),
                self.deb_path().display()
            );
            return Err(AlreadyReported.into());
        }
        self.verify_deb(ctx, runner, n, total)?;
        ctx.say(format!(
            "  {} Package {}, Version {}, Architecture {ARCH}, Depends = the {} pins of {}",
            ctx.paint.good("verified:"),
            self.package.name,
            self.package.version,
            self.package.dependencies.pins.len(),
            paths::DEPENDENCIES
        ));

        let built = Built {
            deb,
            version: self.package.version.clone(),
            published: None,
        };
        self.publish_built(ctx, runner, built, credentials, n + 1, total)
    }

    /// Step `n`: the .deb's fields must say what the tree says.
    fn verify_deb(&self, ctx: &Context, runner: &Runner, n: usize, total: usize) -> Result<()> {
        let outcome = must_succeed(runner.step(n, total, &verify(&self.package))?)?;
        let problems = compare_fields(&self.package, &outcome.stdout);
        if problems.is_empty() {
            return Ok(());
        }
        eprintln!(
            "{}: {} does not match the tree:\n  - {}\nNothing was published.",
            ctx.paint.error("error"),
            self.deb_path().display(),
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
                    "{}: {} is already in Artifactory (HTTP 200); nothing was uploaded.\n  Normally this means VERSION must be raised: `cargo xtask bump-base-image <next version>`, then build again.\n  If you really are republishing this version (rebuilt with other dependencies, for instance), first delete {} from packages/pool in Artifactory, then run build-package --publish again.",
                    ctx.paint.error("error"),
                    target.url(),
                    target.file_name
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
        let outcome = must_succeed(runner.step(
            n,
            total,
            &target.upload_step(&self.deb_path(), &sums, credentials.as_ref()),
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

/// `PUBLISH=no`: build.sh then never asks to publish nor publishes.
fn make() -> Step {
    Step::new("make", "make")
        .env("PUBLISH", "no")
        .dir(Path::new(paths::PACKAGE_DIR))
}

fn verify(package: &Package) -> Step {
    Step::new(format!("verify {}", package.deb_name()), "dpkg-deb")
        .arg("--field")
        .arg(package.deb_name())
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
fn compare_fields(package: &Package, dpkg_output: &str) -> Vec<String> {
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
        ("Architecture", ARCH, "build.sh's default"),
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
        assert_eq!(compare_fields(&package(DEPS), out), Vec::<String>::new());
    }

    #[test]
    fn every_difference_is_named() {
        let out = "Package: mobiledgex\nVersion: 3.0.0\nArchitecture: amd64\nDepends: kubeadm (= 1.18.19-00), docker-ce (= 5:20.10.13~3-0~ubuntu-bionic), jq\n";
        let problems = compare_fields(&package(DEPS), out);
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
        assert!(compare_fields(&package("# none\n"), out).is_empty());
        assert_eq!(compare_fields(&package(DEPS), out).len(), 3);
    }
}
