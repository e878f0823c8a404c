//! `cargo xtask doctor`: for each step of the release, the tools and
//! credentials it needs, found (with the tool's version) or missing (with the
//! fix). Exit 1 when anything a step needs is missing.
//!
//! It only looks: tools are asked for their version (standard input empty, so
//! none waits on the terminal), credentials only for where they are, never
//! for their value, and no server is contacted.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::build_image;
use crate::context::{Context, Verbosity};
use crate::error::AlreadyReported;
use crate::flags;
use crate::runner::{install_hint, Runner, Step};
use crate::sites::paths;
use crate::style::Paint;
use crate::{artifactory, build_package};

impl flags::Doctor {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let runner = ctx.runner();
        let groups = examine(ctx, runner);
        let mut missing: Vec<&str> = Vec::new();
        for need in groups.iter().flat_map(|group| &group.needs) {
            if matches!(need.status, Status::Missing(_)) && !missing.contains(&need.what.as_str()) {
                missing.push(&need.what);
            }
        }
        if self.json {
            ctx.answer(format!("{:#}", to_json(&groups, &missing)));
            return if missing.is_empty() {
                Ok(())
            } else {
                Err(AlreadyReported.into())
            };
        }
        ctx.answer(render(
            &groups,
            &ctx.paint,
            ctx.verbosity >= Verbosity::Verbose,
        ));
        if missing.is_empty() {
            ctx.say(format!(
                "{} every step has what it needs",
                ctx.paint.good("doctor:")
            ));
            return Ok(());
        }
        ctx.error(format!(
            "missing: {} (the fix is on each line above)",
            missing.join(", ")
        ));
        Err(AlreadyReported.into())
    }
}

/// The commands that need the same things.
struct Group {
    steps: &'static str,
    needs: Vec<Need>,
}

struct Need {
    what: String,
    status: Status,
    /// Where it was found, shown with -v.
    path: Option<PathBuf>,
}

enum Status {
    /// Found: its version, or where the credentials are.
    Found(String),
    /// Missing: the fix.
    Missing(String),
    /// Not there, and not needed to be: a word for the status column and why.
    Note(&'static str, String),
}

fn examine(ctx: &Context, runner: &Runner) -> Vec<Group> {
    let tool = |name: &str, version_args: &[&str]| tool(runner, name, version_args);
    // What the package's Makefile and scripts call, as build-package's preflight reads them.
    let mut package_needs: Vec<Need> = build_package::tools_needed(&ctx.root)
        .into_iter()
        .map(|name| tool(name, package_tool_version_args(name)))
        .collect();
    package_needs.push(tool("curl", &["--version"]));
    package_needs.push(artifactory_credentials());
    vec![
        Group {
            steps: "check --staged/--since, bump-base-image, install-hooks",
            needs: vec![tool("git", &["--version"])],
        },
        Group {
            steps: "build-package [--publish]",
            needs: package_needs,
        },
        Group {
            steps: "build-image",
            needs: vec![
                tool("packer", &["version"]),
                tool("openstack", &["--version"]),
                tool("vault", &["version"]),
                vault_token(),
                vault_addr(),
                openstack_credentials(),
            ],
        },
        Group {
            steps: "chef-policy, chef-push",
            needs: vec![
                tool("knife", &["--version"]),
                tool("chef", &["--version"]),
                chef_credentials(&ctx.root),
            ],
        },
        Group {
            steps: "deps outdated, deps sync",
            needs: vec![
                tool("curl", &["--version"]),
                tool("gzip", &["--version"]),
                tool("xz", &["--version"]),
            ],
        },
    ]
}

/// How the package scripts' tools tell their version; none for gofmt,
/// which has no such flag.
fn package_tool_version_args(name: &str) -> &'static [&'static str] {
    match name {
        "gofmt" => &[],
        // mawk has no --version; both mawk and gawk take -W version.
        "awk" => &["-W", "version"],
        _ => &["--version"],
    }
}

/// Found with the first line the tool prints about its version (not asked
/// with no `version_args`), or missing with how to install it.
fn tool(runner: &Runner, name: &str, version_args: &[&str]) -> Need {
    let Some(path) = Runner::which(name) else {
        return Need {
            what: name.to_string(),
            status: Status::Missing(install_hint(name).to_string()),
            path: None,
        };
    };
    if version_args.is_empty() {
        return Need {
            what: name.to_string(),
            status: Status::Found(format!("{} (it prints no version)", path.display())),
            path: Some(path),
        };
    }
    let step = Step::new(format!("{name} version"), name).args(version_args.iter().copied());
    let version = match runner.capture(&step) {
        Ok(outcome) => {
            let first = outcome
                .output
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(str::to_string);
            match (outcome.ok, first) {
                (true, Some(line)) => shorten(&line),
                (true, None) => "(printed no version)".to_string(),
                (false, _) => format!(
                    "(version unknown: `{}` failed{})",
                    step.command_line(),
                    outcome
                        .code
                        .map_or(String::new(), |code| format!(" with exit {code}"))
                ),
            }
        }
        Err(err) => format!("(version unknown: {err:#})"),
    };
    Need {
        what: name.to_string(),
        status: Status::Found(version),
        path: Some(path),
    }
}

/// A version line cut to a readable length at a word (curl's lists its libraries).
fn shorten(line: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for word in line.split_whitespace() {
        if !out.is_empty() && out.len() + 1 + word.len() > MAX {
            out.push_str(" …");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn credential(what: &str, status: Status, path: Option<PathBuf>) -> Need {
    Need {
        what: what.to_string(),
        status,
        path,
    }
}

/// Where the publish would take them from; when none are stored it asks on
/// the terminal, so that is not "missing".
fn artifactory_credentials() -> Need {
    const WHAT: &str = "Artifactory credentials";
    match artifactory::stored() {
        Ok(stored) => match stored.credentials {
            Some(credentials) => {
                let mut found = format!("user {} from {}", credentials.user, credentials.source);
                for warning in stored.warnings {
                    found.push_str(&format!("; warning: {warning}"));
                }
                credential(WHAT, Status::Found(found), None)
            }
            None => credential(
                WHAT,
                Status::Note(
                    "ask",
                    format!(
                        "none stored: asked on the terminal when publishing; for runs without a terminal set {} and {}, or write `user:password` in ~/{} (chmod 600)",
                        artifactory::USER_VAR,
                        artifactory::PASSWORD_VAR,
                        artifactory::CREDS_FILE
                    ),
                ),
                None,
            ),
        },
        // Half-set environment or a malformed file: the publish would refuse.
        Err(err) => credential(WHAT, Status::Missing(format!("{err:#}")), None),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|value| !value.is_empty())
}

fn vault_token() -> Need {
    const WHAT: &str = "vault token";
    if set("VAULT_TOKEN") {
        return credential(WHAT, Status::Found("VAULT_TOKEN is set".into()), None);
    }
    if let Some(file) = home().map(|home| home.join(".vault-token")) {
        if file.is_file() {
            return credential(
                WHAT,
                Status::Found(format!("{} (left by `vault login`)", file.display())),
                Some(file),
            );
        }
    }
    credential(
        WHAT,
        Status::Missing(
            "log in to the vault build.sh names (VAULT): `VAULT_ADDR=https://vault-main.mobiledgex.net vault login -method=github`".into(),
        ),
        None,
    )
}

/// build-image gives vault its address itself (from build.sh's VAULT); a
/// VAULT_ADDR of the user's is only what their own vault commands use.
fn vault_addr() -> Need {
    if set("VAULT_ADDR") {
        credential("VAULT_ADDR", Status::Found("set".into()), None)
    } else {
        credential(
            "VAULT_ADDR",
            Status::Note(
                "unset",
                format!(
                    "not needed: build-image takes the vault from VAULT in {}",
                    paths::PACKER_BUILD_SH
                ),
            ),
            None,
        )
    }
}

fn openstack_credentials() -> Need {
    const WHAT: &str = "OpenStack credentials";
    match build_image::openstack_credentials() {
        Some(var) => credential(WHAT, Status::Found(format!("{var} is set")), None),
        None => credential(
            WHAT,
            Status::Missing(build_image::NO_OPENSTACK_CREDENTIALS.into()),
            None,
        ),
    }
}

/// knife and chef read `credentials` or `config.rb`/`knife.rb` from
/// `~/.chef`, or from a `.chef` folder of the chef repository.
fn chef_credentials(root: &Path) -> Need {
    const WHAT: &str = "chef server credentials";
    let mut candidates = Vec::new();
    if let Some(home) = home() {
        for name in ["credentials", "config.rb", "knife.rb"] {
            candidates.push(home.join(".chef").join(name));
        }
    }
    for name in ["config.rb", "knife.rb"] {
        candidates.push(root.join(paths::CHEF_DIR).join(".chef").join(name));
    }
    match candidates.into_iter().find(|file| file.is_file()) {
        Some(file) => credential(WHAT, Status::Found(file.display().to_string()), Some(file)),
        None => credential(
            WHAT,
            Status::Missing(
                "no ~/.chef/credentials, ~/.chef/config.rb or knife.rb: `knife configure` writes one (it asks for the chef server URL and your client name; put your client key in ~/.chef/)".into(),
            ),
            None,
        ),
    }
}

/// `{"groups": [{"steps", "needs": [{"what", "status", "detail", "path"}]}],
/// "missing": [what…]}`; status is `found`, `missing`, or the note's word.
fn to_json(groups: &[Group], missing: &[&str]) -> serde_json::Value {
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|group| {
            let needs: Vec<serde_json::Value> = group
                .needs
                .iter()
                .map(|need| {
                    let (status, detail) = match &need.status {
                        Status::Found(detail) => ("found", detail.as_str()),
                        Status::Missing(fix) => ("missing", fix.as_str()),
                        Status::Note(word, detail) => (*word, detail.as_str()),
                    };
                    serde_json::json!({
                        "what": need.what,
                        "status": status,
                        "detail": detail,
                        "path": need.path.as_ref().map(|p| p.display().to_string()),
                    })
                })
                .collect();
            serde_json::json!({ "steps": group.steps, "needs": needs })
        })
        .collect();
    serde_json::json!({ "groups": groups, "missing": missing })
}

/// A table per group: what, status, detail; the columns line up across groups.
fn render(groups: &[Group], paint: &Paint, verbose: bool) -> String {
    let width = groups
        .iter()
        .flat_map(|group| &group.needs)
        .map(|need| need.what.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for group in groups {
        out.push_str(&paint.bold(group.steps));
        out.push('\n');
        for need in &group.needs {
            let (word, detail) = match &need.status {
                Status::Found(detail) => (paint.good(&format!("{:<7}", "found")), detail.as_str()),
                Status::Missing(fix) => (paint.error(&format!("{:<7}", "missing")), fix.as_str()),
                Status::Note(word, detail) => {
                    (paint.warning(&format!("{word:<7}")), detail.as_str())
                }
            };
            out.push_str(&format!("  {:<width$}  {word}  {detail}", need.what));
            if let (true, Some(path)) = (verbose, &need.path) {
                out.push_str(&paint.dim(&format!("  ({})", path.display())));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_lines_are_cut_at_a_word() {
        assert_eq!(shorten("GNU Make 4.3"), "GNU Make 4.3");
        let curl = "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.19 zlib/1.2.13 brotli/1.0.9";
        assert_eq!(
            shorten(curl),
            "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 …"
        );
    }

    #[test]
    fn the_table_lines_up_and_says_the_fix() {
        let groups = vec![
            Group {
                steps: "build-package",
                needs: vec![
                    Need {
                        what: "make".into(),
                        status: Status::Found("GNU Make 4.3".into()),
                        path: Some(PathBuf::from("/usr/bin/make")),
                    },
                    Need {
                        what: "dpkg-deb".into(),
                        status: Status::Missing("brew install dpkg".into()),
                        path: None,
                    },
                ],
            },
            Group {
                steps: "build-image",
                needs: vec![Need {
                    what: "VAULT_ADDR".into(),
                    status: Status::Note("unset", "not needed".into()),
                    path: None,
                }],
            },
        ];
        assert_eq!(
            render(&groups, &Paint::plain(), false),
            "build-package\n  make        found    GNU Make 4.3\n  dpkg-deb    missing  brew install dpkg\nbuild-image\n  VAULT_ADDR  unset    not needed\n"
        );
        assert!(render(&groups, &Paint::plain(), true).contains("GNU Make 4.3  (/usr/bin/make)"));
    }
}
