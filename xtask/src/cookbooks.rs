//! Cookbook bumps that follow edits: a cookbook whose files an edit changes
//! gets a new version once (not if it was already raised since HEAD), and
//! every policyfile pin that named the old version follows it. Older pins
//! stay: those policies use what was uploaded before.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::changeset::Changeset;
use crate::context::Context;
use crate::runner::Runner;
use crate::semver::Semver;
use crate::sites::{Inventory, Site};
use crate::tree::GitTree;
use crate::{bad, git};

/// A cookbook that gets a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bump {
    pub cookbook: String,
    pub to: String,
}

/// Plans the bumps for the cookbooks that hold any of `edited` (sites whose
/// value changes), plus `wanted` (a cookbook and the version asked for, which
/// must be higher than its current one), into `changes`.
pub fn bump_touched(
    ctx: &Context,
    runner: &Runner,
    inventory: &Inventory,
    edited: &[&Site],
    wanted: Option<(&str, Semver)>,
    as_at_head: Option<&git::Dirty>,
    changes: &mut Changeset,
) -> Result<Vec<Bump>> {
    let mut touched: BTreeSet<&str> = edited
        .iter()
        .filter_map(|site| inventory.cookbook_of(&site.path))
        .map(|cookbook| cookbook.name.as_str())
        .collect();
    touched.extend(wanted.map(|(name, _)| name));
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    // A cookbook whose metadata git status found unchanged has its version
    // at HEAD: not raised since. The others are read from HEAD (before the
    // first commit there is no HEAD, and so no cookbook in it).
    let unchanged = |name: &str| {
        let metadata = inventory.cookbook(name).map(|c| c.version.path.as_str());
        as_at_head
            .zip(metadata)
            .is_some_and(|(seen, path)| seen.as_at_head(path))
    };
    let at_head = if touched.iter().all(|name| unchanged(name)) {
        Default::default()
    } else {
        let head = GitTree::new(runner, &ctx.root, Some("HEAD"));
        git::baseline(&head, Vec::new())?.cookbook_versions
    };
    let mut bumps = Vec::new();
    for name in touched {
        let Some(cookbook) = inventory.cookbook(name) else {
            continue;
        };
        let site = &cookbook.version;
        let current = Semver::parse(&site.value).map_err(|why| {
            bad!(
                "{}: cannot bump the cookbook version: {why}",
                site.location()
            )
        })?;
        let raised = !unchanged(name)
            && at_head
                .get(name)
                .and_then(|before| Semver::parse(before).ok())
                .is_some_and(|before| current > before);
        let next = match wanted.filter(|(wanted_name, _)| *wanted_name == name) {
            Some((_, version)) if version <= current => {
                return Err(bad!(
                    "--cookbook-version {version} is not higher than {name}'s version {current} ({}); a cookbook version is frozen once uploaded",
                    site.location()
                ))
            }
            Some((_, version)) => version,
            None if raised => {
                ctx.detail(format!("cookbook {name} was already raised to {current} since HEAD"));
                continue;
            }
            None => current.next_patch(),
        };
        let next = next.to_string();
        changes.set_site(site, &next)?;
        for policy in &inventory.policies {
            for pin in policy
                .pins
                .iter()
                .filter(|pin| pin.key == name && pin.value == site.value)
            {
                changes.set_site(pin, &next)?;
            }
        }
        bumps.push(Bump {
            cookbook: name.to_string(),
            to: next,
        });
    }
    Ok(bumps)
}
