//! `cargo xtask chef-push --group <group>`: `chef push <group>
//! policyfiles/base.lock.json`, the one step that changes what running VMs do.
//! It comes with the runbook's warning, a check that every lock is current,
//! guards (the lock committed and on a remote branch, the package and the
//! base image it installs published), what changes against the group's
//! current revision (`chef show-policy`), and the group name typed back (or
//! --yes). `--dry-run` shows all of it and pushes nothing.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::artifactory::{self, Presence, Target};
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::formats::lock_json;
use crate::plan::Plan;
use crate::runner::{Runner, Step};
use crate::sites::{paths, Inventory};
use crate::tree::read_text;
use crate::{bad, build_package, deps, flags, git};
use crate::{check, rules};

const WARNING: &str =
    "!!! Push the updated policy ONLY AFTER all the supporting code has been rolled out !!!
  * Make sure any relevant platform updates are complete
  * Pushing changes what every VM of the policy group runs at its next chef-client run";

/// The Debian package the policy upgrades VMs to.
const PACKAGE: &str = "mobiledgex";

impl flags::ChefPush {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let group = self.group.name();
        ctx.explain(ctx.paint.warning(WARNING));
        if !self.yes && !self.dry_run && !ctx.stdin_is_terminal {
            return Err(bad!(
                "standard input is not a terminal, so nobody can type the group name to confirm; pass --yes to push to {group} (or --dry-run to only see the guards). Nothing was run."
            ));
        }
        let runner = ctx.runner();
        runner.require_tools(&["chef", "git", "curl"])?;
        let inventory = ctx.inventory()?;
        refuse_unless_consistent(ctx, &inventory)?;
        let lock = read_lock(ctx)?;

        ctx.say(ctx.paint.bold("Guards:"));
        let mut guards = Guards::default();
        committed(ctx, runner, &mut guards)?;
        pushed(ctx, runner, self.allow_unpushed, &mut guards)?;
        let artifactory = self.artifactory.as_deref();
        for version in installed_versions(&inventory, &mut guards) {
            package_published(ctx, runner, &inventory, artifactory, &version, &mut guards);
            image_published(ctx, runner, artifactory, &version, &mut guards);
        }
        for line in &guards.lines {
            ctx.say(line);
        }
        let change = against_group(ctx, runner, group, &lock);
        match &change {
            Ok(lines) => {
                for line in lines {
                    ctx.say(line);
                }
            }
            Err(why) => guards.refuse(ctx, why.clone()),
        }

        let mut plan = Plan::default();
        plan.push(
            push_step(group),
            true,
            Some(format!(
                "every VM of policy group {group} runs this policy from its next chef-client run"
            )),
        );
        ctx.say(plan.render(&ctx.paint).trim_end());
        if !guards.refusals.is_empty() {
            for why in &guards.refusals {
                ctx.error(why);
            }
            ctx.error(format!(
                "{} guard(s) refuse the push; nothing was pushed{}",
                guards.refusals.len(),
                if self.dry_run { " (dry run)" } else { "" }
            ));
            return Err(bad!("fix what each guard says, then run chef-push again"));
        }
        if matches!(change, Ok(ref lines) if lines.iter().any(|l| l.contains(SAME_REVISION))) {
            ctx.say(format!(
                "nothing to push: policy group {group} already has this revision"
            ));
            return Ok(());
        }
        if self.dry_run {
            ctx.say("dry run: every guard passes; nothing was pushed.");
            return Ok(());
        }
        if !self.yes {
            let typed = ctx.ask(&format!("Type the policy group name ({group}) to push: "))?;
            if typed.trim() != group {
                ctx.say(format!(
                    "`{}` is not `{group}`: nothing was pushed.",
                    typed.trim()
                ));
                return Ok(());
            }
        }
        let outcome = runner.step(1, 1, &plan.steps[0].step)?;
        if !outcome.ok {
            return Err(AlreadyReported.into());
        }
        ctx.say(format!(
            "{} {} pushed to policy group {group}",
            ctx.paint.good("done:"),
            paths::BASE_LOCK
        ));
        Ok(())
    }
}

/// Each guard's verdict line, and what refuses the push (with its fix).
#[derive(Default)]
struct Guards {
    lines: Vec<String>,
    refusals: Vec<String>,
}

impl Guards {
    fn ok(&mut self, ctx: &Context, what: impl AsRef<str>) {
        self.lines
            .push(format!("  {} {}", ctx.paint.good("ok"), what.as_ref()));
    }

    fn warn(&mut self, ctx: &Context, what: impl AsRef<str>) {
        self.lines.push(format!(
            "  {} {}",
            ctx.paint.warning("warning"),
            what.as_ref()
        ));
    }

    fn refuse(&mut self, ctx: &Context, why: String) {
        self.lines
            .push(format!("  {} {why}", ctx.paint.error("refused")));
        self.refusals.push(why);
    }
}

fn push_step(group: &str) -> Step {
    Step::new(format!("push the base policy to {group}"), "chef")
        .args(["push", group, paths::in_chef(paths::BASE_LOCK)])
        .dir(Path::new(paths::CHEF_DIR))
}

/// Nothing is pushed while `check` reports an error; a stale or missing lock
/// is one (policy-lock), and would push something other than the policyfile.
fn refuse_unless_consistent(ctx: &Context, inventory: &Inventory) -> Result<()> {
    let findings = rules::evaluate(inventory, None);
    let (errors, _) = check::explain_blocking(ctx, &findings, &[]);
    if errors.is_empty() {
        return Ok(());
    }
    let stale = errors.iter().any(|f| f.rule == rules::POLICY_LOCK);
    ctx.error(format!("check reports {} error(s){}; nothing was pushed", errors.len(), if stale {
            " (a lock that does not match its policyfile would push something else than the policy says: cargo xtask chef-policy regenerates it)"
        } else {
            ""
        }));
    Err(AlreadyReported.into())
}

fn read_lock(ctx: &Context) -> Result<Value> {
    let tree = ctx.work_tree();
    let text = read_text(&tree, paths::BASE_LOCK)?.ok_or_else(|| {
        bad!(
            "{} is missing: cargo xtask chef-policy writes it",
            paths::BASE_LOCK
        )
    })?;
    serde_json::from_str(&text).map_err(|err| {
        bad!(
            "{} is not JSON ({err}): cargo xtask chef-policy regenerates it",
            paths::BASE_LOCK
        )
    })
}

/// The lock and its policyfile are what HEAD has: what is pushed is a commit.
fn committed(ctx: &Context, runner: &Runner, guards: &mut Guards) -> Result<()> {
    if git::require_repository(runner, &ctx.root, "chef-push").is_err() {
        guards.refuse(
            ctx,
            format!(
                "{} is not a git checkout: push a policy only from a checkout whose commit holds the lock",
                ctx.root.display()
            ),
        );
        return Ok(());
    }
    // Not a git checkout was handled above: no answer means nothing dirty.
    let dirty = git::dirty_paths(runner, &ctx.root)?.unwrap_or_default();
    let pushed_files = [paths::BASE_LOCK, paths::BASE_POLICY];
    let uncommitted: Vec<&str> = pushed_files
        .into_iter()
        .filter(|path| dirty.iter().any(|d| d == path))
        .collect();
    if uncommitted.is_empty() {
        guards.ok(
            ctx,
            format!(
                "{} and {} are committed (as HEAD has them)",
                paths::BASE_LOCK,
                paths::BASE_POLICY
            ),
        );
    } else {
        guards.refuse(
            ctx,
            format!(
                "{} differ{} from HEAD: the pushed policy would be in no commit; commit {} first (git commit, or cargo xtask release)",
                uncommitted.join(" and "),
                if uncommitted.len() == 1 { "s" } else { "" },
                if uncommitted.len() == 1 { "it" } else { "them" }
            ),
        );
    }
    Ok(())
}

/// HEAD is on a remote branch (`git branch -r --contains HEAD`): others can
/// see the commit whose lock runs on the VMs.
fn pushed(ctx: &Context, runner: &Runner, allow_unpushed: bool, guards: &mut Guards) -> Result<()> {
    let head = runner.query(&ctx.root, "git", &["rev-parse", "--short", "HEAD"])?;
    if !head.ok {
        // Not a checkout, or no commit: the committed guard said so.
        return Ok(());
    }
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let answer = runner.query(&ctx.root, "git", &["branch", "-r", "--contains", "HEAD"])?;
    let remotes: Vec<String> = String::from_utf8_lossy(&answer.stdout)
        .lines()
        .map(|line| line.trim().trim_start_matches("* ").to_string())
        .filter(|line| !line.is_empty() && !line.contains(" -> "))
        .collect();
    if answer.ok && !remotes.is_empty() {
        guards.ok(ctx, format!("HEAD {head} is on {}", remotes.join(", ")));
    } else if allow_unpushed {
        guards.warn(
            ctx,
            format!("HEAD {head} is on no remote branch (--allow-unpushed): nobody else can see the commit this policy comes from"),
        );
    } else {
        guards.refuse(
            ctx,
            format!(
                "HEAD {head} is on no remote branch: push the commit first (git push), so that the policy VMs run is in the shared history; or pass --allow-unpushed"
            ),
        );
    }
    Ok(())
}

/// The mobiledgex versions the policy upgrades VMs to (chef's package
/// version sites: base.rb's `mobiledgeXPackageVersion` in layout B, the
/// cookbook attribute in layout A).
fn installed_versions(inventory: &Inventory, guards: &mut Guards) -> Vec<String> {
    let mut versions: Vec<String> = inventory
        .chef_package_versions
        .iter()
        .map(|site| site.value.clone())
        .collect();
    versions.sort();
    versions.dedup();
    if versions.is_empty() {
        guards.lines.push(
            "  (chef names no mobiledgex package version: no package or image to look for)".into(),
        );
    }
    versions
}

/// The .deb of `version` is where VMs get it: in Artifactory (asked as
/// `build-package --publish` asks), or in chef's APT snapshot.
fn package_published(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    artifactory: Option<&str>,
    version: &str,
    guards: &mut Guards,
) {
    let mut asked = Vec::new();
    match build_package::deb_presence_of(ctx, runner, artifactory, version) {
        Ok((Presence::Present, url)) => {
            guards.ok(
                ctx,
                format!("the policy installs {PACKAGE} {version}: {url} is in Artifactory"),
            );
            return;
        }
        Ok((Presence::Absent, url)) => asked.push(format!("Artifactory answered 404 for {url}")),
        Err(err) => asked.push(format!("{err:#}")),
    }
    let mut repos: Vec<&str> = inventory
        .chef_apt_repos
        .iter()
        .map(|site| site.value.as_str())
        .collect();
    repos.dedup();
    for repo in repos {
        match deps::snapshot_lists(ctx, runner, repo, PACKAGE, version) {
            Ok((true, source)) => {
                guards.ok(
                    ctx,
                    format!("the policy installs {PACKAGE} {version}: the APT snapshot lists it ({source})"),
                );
                return;
            }
            Ok((false, source)) => {
                asked.push(format!("{source} does not list {PACKAGE} {version}"))
            }
            Err(err) => asked.push(format!("{err:#}")),
        }
    }
    guards.refuse(
        ctx,
        format!(
            "the policy installs {PACKAGE} {version}, which VMs cannot get: {}; publish it first (cargo xtask build-package --publish at {version})",
            asked.join("; ")
        ),
    );
}

/// The base image of `version` is in Artifactory, where cloudlets download
/// it: `<DefaultCloudletVMImagePath>mobiledgex-v<VERSION>.qcow2`, or under
/// `<ARTIFACTORY_URL>/baseimages/`.
fn image_published(
    ctx: &Context,
    runner: &Runner,
    artifactory: Option<&str>,
    version: &str,
    guards: &mut Guards,
) {
    let (folder, file_name) =
        match crate::publish_image::image_in_artifactory(ctx, artifactory, version) {
            Ok(found) => found,
            Err(err) => return guards.refuse(ctx, format!("{err:#}")),
        };
    // A HEAD request on one file, as for the .deb (Target's deb fields are unused).
    let target = Target {
        pool: folder,
        file_name,
        distribution: String::new(),
        component: String::new(),
        architecture: String::new(),
    };
    let answer = artifactory::stored().and_then(|stored| {
        let outcome = runner.capture(&target.exists_step(stored.credentials.as_ref()))?;
        if !outcome.ok {
            anyhow::bail!(
                "cannot ask Artifactory whether {} is there: {}",
                target.url(),
                outcome.output.trim()
            );
        }
        target.presence(&outcome)
    });
    match answer {
        Ok(Presence::Present) => guards.ok(
            ctx,
            format!("the base image of {version} is in Artifactory: {}", target.url()),
        ),
        Ok(Presence::Absent) => guards.refuse(
            ctx,
            format!(
                "Artifactory does not have the base image of {version} (HTTP 404 for {}), which cloudlets download: publish it first (cargo xtask publish-image {version})",
                target.url()
            ),
        ),
        Err(err) => guards.refuse(
            ctx,
            format!("{err:#}; set ARTIFACTORY_URL (or --artifactory) for another Artifactory"),
        ),
    }
}

/// Said when the group already runs the lock's revision.
const SAME_REVISION: &str = "already has revision";

/// What the push changes for the group: `chef show-policy <policy> <group>`
/// prints the group's current lock (the real chef-cli answers a group without
/// the policy with `No Policyfile lock named …`). Err: why it cannot be told.
fn against_group(
    ctx: &Context,
    runner: &Runner,
    group: &str,
    lock: &Value,
) -> Result<Vec<String>, String> {
    let name = lock.get("name").and_then(Value::as_str).unwrap_or("base");
    let revision = lock
        .get("revision_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let step = Step::new(format!("the policy {name} in group {group}"), "chef")
        .args(["show-policy", name, group])
        .dir(Path::new(paths::CHEF_DIR));
    let outcome = runner
        .capture(&step)
        .map_err(|err| format!("cannot ask the chef server for group {group}'s policy: {err:#}"))?;
    let heading = ctx.paint.bold(&format!("Against policy group {group}:"));
    if !outcome.ok {
        if outcome.output.contains("No Policyfile lock named") {
            return Ok(vec![
                heading,
                format!(
                    "  the group has no {name} policy yet: the push gives it revision {}",
                    short(revision)
                ),
            ]);
        }
        return Err(format!(
            "cannot read policy group {group}'s current {name} policy (`chef show-policy {name} {group}` failed: {}); check the chef server credentials (cargo xtask doctor)",
            last_lines(&outcome.output)
        ));
    }
    let current: Value = serde_json::from_str(&outcome.stdout).map_err(|err| {
        format!("`chef show-policy {name} {group}` did not print a policy lock as JSON ({err})")
    })?;
    let current_revision = current
        .get("revision_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if current_revision == revision {
        return Ok(vec![
            heading,
            format!(
                "  policy group {group} {SAME_REVISION} {}: the push changes nothing",
                short(revision)
            ),
        ]);
    }
    let mut lines = vec![
        heading,
        format!(
            "  revision {} → {}",
            short(current_revision),
            short(revision)
        ),
    ];
    let changes = differences(&current, lock);
    if changes.is_empty() {
        lines.push("  (the same cookbooks, run lists and attributes)".into());
    }
    lines.extend(changes.into_iter().map(|change| format!("  {change}")));
    Ok(lines)
}

fn short(revision: &str) -> &str {
    revision.get(..10).unwrap_or(revision)
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(2)..].join(" ")
}

/// What differs between two policy locks: cookbook versions, run lists,
/// attributes (one line each, `old → new`).
fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Value::Object(Default::default());
    let cookbooks = |lock: &Value| lock.get("cookbook_locks").cloned().unwrap_or(empty.clone());
    let (old_books, new_books) = (cookbooks(old), cookbooks(new));
    let mut names: Vec<&String> = old_books
        .as_object()
        .into_iter()
        .chain(new_books.as_object())
        .flat_map(|books| books.keys())
        .collect();
    names.sort();
    names.dedup();
    let version = |book: Option<&Value>| {
        book.map(|b| {
            let v = b.get("version").and_then(Value::as_str).unwrap_or("?");
            let id = b.get("identifier").and_then(Value::as_str).unwrap_or("");
            (v.to_string(), id.to_string())
        })
    };
    for name in names {
        match (version(old_books.get(name)), version(new_books.get(name))) {
            (Some(a), Some(b)) if a.0 != b.0 => {
                out.push(format!("cookbook {name} {} → {}", a.0, b.0))
            }
            (Some(a), Some(b)) if a.1 != b.1 => out.push(format!(
                "cookbook {name} {} (identifier {} → {})",
                a.0,
                short(&a.1),
                short(&b.1)
            )),
            (None, Some(b)) => out.push(format!("cookbook {name} added at {}", b.0)),
            (Some(a), None) => out.push(format!("cookbook {name} {} removed", a.0)),
            _ => {}
        }
    }
    for key in ["run_list", "named_run_lists"] {
        let (a, b) = (old.get(key), new.get(key));
        if a != b {
            out.push(format!("{key}: {} → {}", compact(a), compact(b)));
        }
    }
    for (level, key) in [
        ("default", "default_attributes"),
        ("override", "override_attributes"),
    ] {
        let (a, b) = (
            old.get(key).cloned().unwrap_or(empty.clone()),
            new.get(key).cloned().unwrap_or(empty.clone()),
        );
        let mut leaves = lock_json::leaf_paths(&a);
        leaves.extend(lock_json::leaf_paths(&b));
        leaves.sort();
        leaves.dedup();
        for path in leaves {
            let at = |v: &Value| path.iter().try_fold(v, |v, k| v.get(k)).cloned();
            let (before, after) = (at(&a), at(&b));
            // An object with keys is no leaf: its own leaves are listed.
            let branch = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|o| !o.is_empty())
            };
            if before != after && !branch(&before) && !branch(&after) {
                let shown: String = path.iter().map(|k| format!("['{k}']")).collect();
                out.push(format!(
                    "{level}{shown}: {} → {}",
                    compact(before.as_ref()),
                    compact(after.as_ref())
                ));
            }
        }
    }
    out
}

fn compact(value: Option<&Value>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "(none)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shown_command;
    use serde_json::json;

    #[test]
    fn pushes_the_base_lock_from_chef() {
        assert_eq!(
            shown_command(&push_step("stage")),
            "cd chef && chef push stage policyfiles/base.lock.json"
        );
    }

    #[test]
    fn differences_name_cookbooks_run_lists_and_attributes() {
        let old = json!({
            "revision_id": "a",
            "run_list": ["recipe[x::default]"],
            "cookbook_locks": {
                "x": {"version": "1.0.14", "identifier": "1111111111aa"},
                "y": {"version": "2.0.0", "identifier": "2222222222"},
                "gone": {"version": "0.1.0", "identifier": "3"}
            },
            "default_attributes": {"mobiledgeXPackageVersion": "3.0.1", "same": 1}
        });
        let new = json!({
            "revision_id": "b",
            "run_list": ["recipe[x::default]", "recipe[z::default]"],
            "cookbook_locks": {
                "x": {"version": "1.0.15", "identifier": "1111111111bb"},
                "y": {"version": "2.0.0", "identifier": "2222222299"},
                "z": {"version": "0.0.1", "identifier": "4"}
            },
            "default_attributes": {"mobiledgeXPackageVersion": "3.0.2", "same": 1},
            "override_attributes": {"a": {"b": true}}
        });
        assert_eq!(
            differences(&old, &new),
            [
                "cookbook gone 0.1.0 removed",
                "cookbook x 1.0.14 → 1.0.15",
                "cookbook y 2.0.0 (identifier 2222222222 → 2222222299)",
                "cookbook z added at 0.0.1",
                "run_list: [\"recipe[x::default]\"] → [\"recipe[x::default]\",\"recipe[z::default]\"]",
                "default['mobiledgeXPackageVersion']: \"3.0.1\" → \"3.0.2\"",
                "override['a']['b']: (none) → true",
            ]
        );
        assert!(differences(&new, &new).is_empty());
    }
}
