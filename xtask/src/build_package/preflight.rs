//! What is decided before a step runs: the package as the Makefile and
//! `dependencies` describe it (refused when `check` finds errors), what
//! build.sh says, the tools and credentials, and the plan shown before the
//! question.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::artifactory::{self, Checksums, Credentials, Target};
use crate::bad;
use crate::check;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::formats::dependencies::Dependencies;
use crate::formats::makefile;
use crate::rules::{self, Severity};
use crate::runner::Runner;
use crate::sites::{self, paths};
use crate::tree::read_text;

use super::make::{make, make_clean};
use super::publish::{destination, upload_name};
use super::scripts::ShellVars;
use super::verify::verify;
use super::{tools_needed, Build, Options, ARCH, BUILD_SH, MAKE_WRITES_UNDER};

/// The mobiledgex package as its Makefile describes it.
#[derive(Debug, Clone)]
pub(super) struct Package {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) distribution: String,
    pub(super) component: String,
    pub(super) dependencies: Dependencies,
}

/// What build.sh says when run as the Makefile runs it.
#[derive(Debug, Clone)]
pub(super) struct Script {
    /// `DEBFILE`, the .deb it writes (`mobiledgex_4.10.0.deb` in the real
    /// monorepo, `mobiledgex_3.0.1_amd64.deb` in the rendition), when it can
    /// be read without running the script.
    pub(super) deb_file: Option<String>,
    /// `ARCH`, the architecture in the control file and the upload.
    pub(super) arch: String,
    /// `ARTIFACTORY_PATH` (the pool folder build.sh uploads to) and its line.
    pub(super) artifactory_path: Option<(String, usize)>,
    /// `${ARTIFACTORY}/${ARTIFACTORY_REPO}/pool`, for a build.sh that names
    /// its server that way.
    pub(super) artifactory_pool: Option<String>,
}

impl Script {
    pub(super) fn read(ctx: &Context, package: &Package) -> Result<Script> {
        let tree = ctx.work_tree();
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
        ctx.runner().require_tools(&tools)?;

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
    pub(super) fn deb_names(&self) -> Vec<String> {
        match &self.script.deb_file {
            Some(name) => vec![name.clone()],
            None => vec![
                upload_name(&self.package, &self.script.arch),
                format!("{}_{}.deb", self.package.name, self.package.version),
            ],
        }
    }

    /// A .deb in the package folder, relative to the root.
    pub(super) fn deb_path(&self, name: &str) -> PathBuf {
        Path::new(paths::PACKAGE_DIR).join(name)
    }

    /// Credentials for a publish: stored ones, or asked on a terminal.
    pub(super) fn credentials(
        &self,
        ctx: &Context,
        runner: &Runner,
    ) -> Result<Option<Credentials>> {
        Ok(match (&self.target, &self.credentials) {
            (Some(_), Some(credentials)) => Some(credentials.clone()),
            (Some(_), None) => Some(artifactory::prompt(ctx, runner)?),
            (None, _) => None,
        })
    }
}

/// Reads the package from the tree, refusing a tree that `check` finds errors in.
pub(super) fn read_package(ctx: &Context) -> Result<Package> {
    let tree = ctx.work_tree();
    let inventory = sites::load(&tree)?;
    let findings = rules::evaluate(&inventory, None);
    let (errors, stale_locks) = check::explain_blocking(ctx, &findings, &[rules::POLICY_LOCK]);
    if !stale_locks.is_empty() {
        ctx.say(format!(
            "note: {} stale lock file(s); they do not change the package (cargo xtask chef-policy regenerates them)",
            stale_locks.len()
        ));
    }
    if !errors.is_empty() {
        ctx.error(format!("`cargo xtask check` finds {} error{} in the tree; fix {} before building the package. Nothing was run.", errors.len(), if errors.len() == 1 { "" } else { "s" }, if errors.len() == 1 { "it" } else { "them" }));
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
