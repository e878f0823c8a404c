//! `cargo xtask bump-base-image <VERSION>`: the base image version (and with
//! --apt-snapshot the APT snapshot) at every site, in one all-or-nothing edit.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use crate::changeset::{self, Changeset};
use crate::context::Context;
use crate::rules::{self, Finding, Severity};
use crate::runner::Runner;
use crate::semver::Semver;
use crate::sites::{self, Inventory, Site};
use crate::tree::GitTree;
use crate::{bad, cookbooks, deps, flags, git, mentions, paths};

/// Where a bump edits: its `git status` looks only here (a target
/// elsewhere still gets a look, see `refuse_dirty_paths`).
const EDITED_UNDER: [&str; 5] = [
    paths::PACKAGE_DIR,
    paths::PACKER_DIR,
    paths::CHEF_DIR,
    paths::PROPS_GO,
    paths::PACKAGE_VERSION_GO,
];

impl flags::BumpBaseImage {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let version = Semver::parse_user(&self.version).map_err(|why| bad!("{why}"))?;
        if let Some(date) = &self.apt_snapshot {
            sites::validate_snapshot_date(date).map_err(|why| bad!("--apt-snapshot: {why}"))?;
        }
        let runner = ctx.runner();
        // git status runs while the inventory loads. Without it, git's
        // object reader starts now for the cookbook versions at HEAD the plan
        // compares with (a failure to start shows at its first read); with
        // it, only if a cookbook to bump has changes: a clean one is as HEAD
        // has it.
        let dirty = (!self.allow_dirty)
            .then(|| git::DirtyPaths::start_under(runner, &ctx.root, &EDITED_UNDER))
            .transpose()?;
        if dirty.is_none() {
            let _ = GitTree::new(runner, &ctx.root, Some("HEAD")).start();
        }
        let inventory = ctx.inventory()?;
        check_new_version(
            &inventory,
            &version.to_string(),
            self.apt_snapshot.as_deref(),
            self.allow_downgrade,
        )?;

        let dirty = dirty.map(git::DirtyPaths::read);
        let as_at_head = match &dirty {
            Some(Ok(Some(dirty))) => Some(dirty),
            _ => None,
        };
        let mut changes = Changeset::new(&ctx.root);
        plan(
            ctx,
            runner,
            &inventory,
            &self.edits(version),
            as_at_head,
            &mut changes,
        )?;
        if let Some(dirty) = dirty {
            match refuse_dirty_paths(ctx, dirty, &changes.paths()) {
                // A dry run writes nothing: show the preview, and say what a real run refuses.
                Err(err) if self.confirm.dry_run => ctx.warn(format!("{err:#}")),
                result => result?,
            }
        }
        report_disagreement(ctx, &inventory);
        let after = sites::load(&changes.view())?;
        verify(&after, &self.edits(version))?;
        let findings = rules::evaluate(&after, None);

        let old = inventory.package_version.value.clone();
        let edited = changes.paths();
        if self.commit && !self.confirm.dry_run {
            git::require_repository(runner, &ctx.root, "--commit")?;
        }
        let wrote = changes.preview_and_apply(ctx, self.confirm, "Write these changes?")?;
        print_aftermath(ctx, &findings, wrote);
        if wrote {
            print_mentions_of_old(ctx, &old, &version.to_string())?;
        }
        if self.commit && (wrote || self.confirm.dry_run) {
            self.commit_edits(ctx, runner, &findings, &edited, version, wrote)?;
        }
        if wrote {
            ctx.say("next: cargo xtask build-package --publish, then cargo xtask build-image --all-platforms");
        }
        Ok(())
    }

    /// --commit: the bump's own files, once `check --staged` passes. Stale
    /// locks (the bump moved chef) fail it by design: then the commit waits
    /// for `chef-policy`, and the edits stay as they are.
    fn commit_edits(
        &self,
        ctx: &Context,
        runner: &Runner,
        findings: &[Finding],
        edited: &[String],
        version: Semver,
        wrote: bool,
    ) -> Result<()> {
        let version = version.to_string();
        let message = crate::commit::message(&version, self.ticket.as_deref());
        let stale: Vec<String> = findings
            .iter()
            .filter(|f| f.rule == rules::POLICY_LOCK && f.severity == Severity::Error)
            .flat_map(|f| f.locations.iter().map(|l| l.path.clone()))
            .filter(|path| path.ends_with(".lock.json"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !stale.is_empty() {
            let verb = if wrote {
                "was not committed"
            } else {
                "would not be committed"
            };
            ctx.warn(format!(
                "the bump {verb}: it leaves {} stale, and `check --staged` (the pre-commit hook) refuses a stale lock. The commit waits for the lock: run `cargo xtask chef-policy` (it uploads the cookbook and regenerates the lock), then commit with `git commit -m {}` (or let `cargo xtask release` commit){}",
                stale.join(", "),
                crate::runner::quote(&message),
                if wrote { "; the edits are in place" } else { "" }
            ));
            return Ok(());
        }
        if !wrote {
            ctx.say(format!(
                "would commit {} file(s) once `check --staged` passes: {message}",
                edited.len()
            ));
            return Ok(());
        }
        crate::commit::commit_bump(ctx, runner, edited, &version, self.ticket.as_deref())
    }

    fn edits(&self, version: Semver) -> Edits {
        Edits {
            version: version.to_string(),
            apt_snapshot: self.apt_snapshot.clone(),
            chef: !self.no_chef,
            sync_deps: self.sync_deps,
        }
    }
}

/// A lower version, or the version every site already has (with no new APT
/// snapshot), is refused unless `allow_downgrade`. When the sites disagree,
/// the highest of them may be set again: that repairs the disagreement.
pub fn check_new_version(
    inventory: &Inventory,
    version: &str,
    apt_snapshot: Option<&str>,
    allow_downgrade: bool,
) -> Result<()> {
    if allow_downgrade {
        return Ok(());
    }
    let version = Semver::parse(version).map_err(|why| bad!("{why}"))?;
    let sites = inventory.base_image_sites();
    let mut highest: Option<Semver> = None;
    for site in sites {
        let current = Semver::parse(&site.value).map_err(|why| {
            bad!(
                "{}: the current version cannot be compared: {why}; pass --allow-downgrade to set it anyway",
                site.location()
            )
        })?;
        highest = highest.max(Some(current));
    }
    let Some(highest) = highest else {
        return Ok(());
    };
    let all_equal = sites.iter().all(|site| site.value == sites[0].value);
    if version < highest {
        return Err(bad!(
            "{version} is lower than the current base image version {highest}; pass --allow-downgrade to go back"
        ));
    }
    if version == highest && all_equal && apt_snapshot.is_none() {
        return Err(bad!(
            "the base image version is already {version} at every site; pass a higher version, or --allow-downgrade to rewrite it"
        ));
    }
    Ok(())
}

/// What a bump sets.
pub struct Edits {
    pub version: String,
    pub apt_snapshot: Option<String>,
    /// Whether chef's package version follows.
    pub chef: bool,
    /// Whether `=` pins behind the new snapshot move too.
    pub sync_deps: bool,
}

/// Plans every edit of a bump into `changes`: the sites whose value changes,
/// and the cookbook bumps and policy pins that follow from edits inside
/// cookbooks (`git status`'s answer, when there is one, tells which
/// cookbooks are as at HEAD).
pub fn plan(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    edits: &Edits,
    as_at_head: Option<&git::Dirty>,
    changes: &mut Changeset,
) -> Result<()> {
    let mut to_version: Vec<&Site> = inventory.base_image_sites().to_vec();
    if edits.chef {
        to_version.extend(&inventory.chef_package_versions);
    }
    let mut edited: Vec<&Site> = Vec::new();
    for site in to_version.into_iter().filter(|s| s.value != edits.version) {
        changes.set_site(site, &edits.version)?;
        edited.push(site);
    }
    if let Some(date) = &edits.apt_snapshot {
        for site in inventory.apt_sites() {
            if site.snapshot() != Some(date.as_str()) {
                changes.set_site(site, date)?;
                edited.push(site);
            }
        }
        if edits.sync_deps {
            deps::sync_into(ctx, runner, inventory, date, changes)?;
        }
    }
    cookbooks::bump_touched(ctx, runner, inventory, &edited, None, as_at_head, changes)?;
    Ok(())
}

/// Re-reads the planned result: every site must hold its new value.
fn verify(after: &Inventory, edits: &Edits) -> Result<()> {
    let mut wrong = Vec::new();
    let mut expect = |site: &Site, value: &str| {
        if site.value != value && site.snapshot() != Some(value) {
            wrong.push(format!(
                "{} reads {} after the edit, not {value}",
                site.location(),
                site.value
            ));
        }
    };
    for site in after.base_image_sites() {
        expect(site, &edits.version);
    }
    if edits.chef {
        for site in &after.chef_package_versions {
            expect(site, &edits.version);
        }
    }
    if let Some(date) = &edits.apt_snapshot {
        for site in after.apt_sites() {
            expect(site, date);
        }
    }
    changeset::ensure_reread(&wrong)
}

/// Refuses to edit files that have uncommitted changes (outside git: a warning).
pub fn refuse_dirty(ctx: &Context, targets: &[String]) -> Result<()> {
    refuse_dirty_paths(
        ctx,
        git::DirtyPaths::start(ctx.runner(), &ctx.root)?.read(),
        targets,
    )
}

/// `dirty`: what `git status` found.
fn refuse_dirty_paths(
    ctx: &Context,
    dirty: Result<Option<git::Dirty>>,
    targets: &[String],
) -> Result<()> {
    let Some(seen) = dirty? else {
        ctx.warn(
            "not a git checkout: cannot tell whether the files to edit have uncommitted changes",
        );
        return Ok(());
    };
    // A target outside what git status looked at gets a look of its own.
    let unseen: Vec<&str> = targets
        .iter()
        .map(String::as_str)
        .filter(|path| !seen.covers(path))
        .collect();
    let mut dirty = seen.paths;
    if !unseen.is_empty() {
        let more = git::DirtyPaths::start_under(ctx.runner(), &ctx.root, &unseen)?.paths()?;
        dirty.extend(more.unwrap_or_default());
    }
    let dirty: BTreeSet<String> = dirty.into_iter().collect();
    let blocked: Vec<&String> = targets
        .iter()
        .filter(|path| dirty.contains(*path))
        .collect();
    if blocked.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = blocked.iter().map(|p| p.as_str()).collect();
    Err(bad!(
        "these files have uncommitted changes, which the bump would mix with its own: {}; commit or stash them, or pass --allow-dirty",
        list.join(", ")
    ))
}

fn report_disagreement(ctx: &Context, inventory: &Inventory) {
    let before = rules::evaluate(inventory, None);
    for finding in before.iter().filter(|f| f.rule == rules::PACKAGE_VERSION) {
        ctx.warn(format!(
            "before the bump: {} (all are set to the new version)",
            finding.message
        ));
    }
}

/// What is still open after the edit: stale locks with their command, other findings.
fn print_aftermath(ctx: &Context, findings: &[Finding], wrote: bool) {
    let stale: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == rules::POLICY_LOCK)
        .collect();
    let verb = if wrote { "are now" } else { "would be" };
    if !stale.is_empty() {
        ctx.say(format!("Lock files that {verb} stale (regenerate after `knife upload`, or with `cargo xtask chef-policy`):"));
        for finding in &stale {
            if let Some(help) = &finding.help {
                ctx.say(format!("  {help}"));
            }
        }
    }
    let open: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.rule != rules::POLICY_LOCK
                && (f.severity == Severity::Error || f.rule != rules::COOKBOOK_PIN)
        })
        .collect();
    if !open.is_empty() {
        ctx.say(format!("Still open after the bump ({}):", open.len()));
        for finding in open {
            ctx.say(finding.render(&ctx.paint));
        }
    }
}

/// The old version's remaining mentions: hints for a human, never edited.
fn print_mentions_of_old(ctx: &Context, old: &str, new: &str) -> Result<()> {
    if old == new {
        return Ok(());
    }
    // The xtask's own sources and test fixtures mention versions on purpose.
    let own_crate = Path::new(env!("CARGO_MANIFEST_DIR"))
        .strip_prefix(&ctx.root)
        .ok()
        .map(|dir| format!("{}/", dir.display()))
        .filter(|dir| dir != "/");
    let found: Vec<_> = mentions::scan(&ctx.root, old)?
        .into_iter()
        .filter(|m| {
            own_crate
                .as_deref()
                .is_none_or(|dir| !m.path.starts_with(dir))
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    ctx.say(format!(
        "{} other place(s) still mention {old} (hints only, not edited):",
        found.len()
    ));
    for mention in found.iter().take(50) {
        ctx.say(format!(
            "  {}:{}: {}",
            mention.path, mention.line, mention.text
        ));
    }
    if found.len() > 50 {
        ctx.say(format!(
            "  … and {} more: cargo xtask mentions {old}",
            found.len() - 50
        ));
    }
    Ok(())
}
