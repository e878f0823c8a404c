//! The rules on chef policies: each cookbook pin against the repository's
//! cookbook, and each lock against its policyfile (would `chef install` write
//! another lock?).

use serde_json::Value;

use super::{compare_versions, Finding, Location, Severity, COOKBOOK_PIN, POLICY_LOCK};
use crate::formats::lock_json::{self, Lock};
use crate::formats::ruby::{self, Literal, Precedence, Requirement};
use crate::semver::chef_constraint_allows;
use crate::sites::{paths, Inventory, LockState, Policy};

pub(super) fn cookbook_pin(inv: &Inventory, findings: &mut Vec<Finding>) {
    for policy in &inv.policies {
        for pin in &policy.pins {
            let Some(cookbook) = inv.cookbook(&pin.key) else {
                continue; // a community cookbook from the supermarket: not ours to judge
            };
            let repo = &cookbook.version;
            match compare_versions(&pin.value, &repo.value) {
                Some(std::cmp::Ordering::Equal) => {}
                Some(std::cmp::Ordering::Less) => findings.push(Finding::new(
                    COOKBOOK_PIN,
                    Severity::Warning,
                    format!(
                        "policy {} pins {} {}, older than the cookbook's {} (it uses what was uploaded before)",
                        policy.name, pin.key, pin.value, repo.value
                    ),
                    vec![Location::of(pin), Location::of(repo)],
                    Some(format!(
                        "nothing, if the policy is meant to stay on {}; to use the repository's cookbook: pin '= {}' in {}, then {}",
                        pin.value,
                        repo.value,
                        policy.path,
                        regenerate_lock_command(&policy.path)
                    )),
                )),
                _ => findings.push(Finding::new(
                    COOKBOOK_PIN,
                    Severity::Error,
                    format!(
                        "policy {} pins {} {}, newer than the cookbook's {} in the repository",
                        policy.name, pin.key, pin.value, repo.value
                    ),
                    vec![Location::of(pin), Location::of(repo)],
                    Some(format!(
                        "set `version '{}'` in {} or pin '= {}' in {}",
                        pin.value,
                        repo.path,
                        repo.value,
                        policy.path
                    )),
                )),
            }
        }
    }
}

/// The command that regenerates a policy's lock, run from `chef/`.
pub(super) fn regenerate_lock_command(policy_path: &str) -> String {
    let rel = paths::in_chef(policy_path);
    format!(
        "(cd {} && rm -f {} && chef install {rel})",
        paths::CHEF_DIR,
        paths::lock_for(rel)
    )
}

fn literal_matches(literal: &Literal, value: &Value) -> bool {
    match literal {
        Literal::Str(s) => value.as_str() == Some(s),
        Literal::Int(n) => value.as_i64() == Some(*n),
        Literal::Bool(b) => value.as_bool() == Some(*b),
    }
}

/// A lock is stale when `chef install` from the policyfile would write another
/// policy: a pin the lock does not meet, another run list, another attribute,
/// another name. Cookbooks the solver added for a dependency are not drift.
pub(super) fn policy_lock(inv: &Inventory, findings: &mut Vec<Finding>) {
    for policy in &inv.policies {
        let help = Some(regenerate_lock_command(&policy.path));
        let lock = match &policy.lock {
            LockState::Present(lock) => lock,
            LockState::Missing => {
                findings.push(Finding::new(
                    POLICY_LOCK,
                    Severity::Error,
                    format!(
                        "policy {} has no lock file {}",
                        policy.name, policy.lock_path
                    ),
                    vec![Location {
                        path: policy.path.clone(),
                        line: 1,
                    }],
                    help,
                ));
                continue;
            }
            LockState::Invalid(why) => {
                findings.push(Finding::new(
                    POLICY_LOCK,
                    Severity::Error,
                    format!("{} cannot be read: {why}", policy.lock_path),
                    vec![Location {
                        path: policy.lock_path.clone(),
                        line: 1,
                    }],
                    help,
                ));
                continue;
            }
        };
        let mut stale = Stale::default();
        let at = |line: usize| Location {
            path: policy.path.clone(),
            line,
        };
        if let Some(locked_name) = lock.name.as_deref().filter(|n| *n != policy.name) {
            stale.add(
                format!(
                    "it is the lock of policy `{locked_name}`, not `{}`",
                    policy.name
                ),
                None,
            );
        }
        for requirement in &policy.requirements {
            stale_requirement(requirement, lock, &mut stale, at(requirement.line));
        }
        stale_run_lists(policy, lock, &mut stale);
        stale_attributes(policy, lock, &mut stale);
        if !stale.reasons.is_empty() {
            let mut locations = stale.locations;
            locations.push(Location {
                path: policy.lock_path.clone(),
                line: 1,
            });
            findings.push(Finding::new(
                POLICY_LOCK,
                Severity::Error,
                format!(
                    "{} is stale: {}",
                    policy.lock_path,
                    stale.reasons.join("; ")
                ),
                locations,
                help.clone(),
            ));
        }
        unneeded_cookbooks(policy, lock, help, findings);
    }
}

/// What makes one lock stale, and where.
#[derive(Default)]
struct Stale {
    reasons: Vec<String>,
    locations: Vec<Location>,
}

impl Stale {
    fn add(&mut self, reason: String, location: Option<Location>) {
        self.reasons.push(reason);
        self.locations.extend(location);
    }
}

fn stale_requirement(requirement: &Requirement, lock: &Lock, stale: &mut Stale, at: Location) {
    let name = &requirement.name;
    let Some(locked) = lock.cookbooks.get(name) else {
        let wanted = requirement
            .constraint
            .as_deref()
            .map_or(String::new(), |c| {
                format!(" {}", c.trim_start_matches("= "))
            });
        stale.add(format!("{name}{wanted} is not in the lock"), Some(at));
        return;
    };
    let Some(constraint) = requirement.constraint.as_deref() else {
        return;
    };
    match chef_constraint_allows(constraint, locked) {
        Some(true) => {}
        Some(false) => {
            let wanted = constraint
                .strip_prefix('=')
                .map_or(constraint, str::trim_start);
            stale.add(
                format!("{name} is pinned to {wanted} but locked at {locked}"),
                Some(at),
            )
        }
        // Not a version constraint (a source option): nothing to compare.
        None => {}
    }
}

fn stale_run_lists(policy: &Policy, lock: &Lock, stale: &mut Stale) {
    let normalized = |items: &[String]| -> Vec<String> {
        items
            .iter()
            .map(|item| ruby::normalize_run_list_item(item))
            .collect()
    };
    let show = |items: &[String]| format!("[{}]", items.join(", "));
    let mut named_in_policy = Vec::new();
    for list in &policy.run_lists {
        let (what, locked) = match &list.name {
            None => ("the run_list".to_string(), Some(&lock.run_list)),
            Some(name) => {
                named_in_policy.push(name.as_str());
                (
                    format!("named run list `{name}`"),
                    lock.named_run_lists.get(name),
                )
            }
        };
        let wanted = normalized(&list.items);
        let location = Some(Location {
            path: policy.path.clone(),
            line: list.line,
        });
        match locked {
            Some(locked) if normalized(locked) == wanted => {}
            Some(locked) => stale.add(
                format!(
                    "{what} is {} but the lock has {}",
                    show(&wanted),
                    show(&normalized(locked))
                ),
                location,
            ),
            None => stale.add(format!("{what} is not in the lock"), location),
        }
    }
    for name in lock.named_run_lists.keys() {
        if !named_in_policy.contains(&name.as_str()) {
            stale.add(
                format!("the lock has named run list `{name}`, which the policyfile no longer has"),
                None,
            );
        }
    }
}

fn stale_attributes(policy: &Policy, lock: &Lock, stale: &mut Stale) {
    let levels = [
        (Precedence::Default, &policy.attributes),
        (Precedence::Override, &policy.override_attributes),
    ];
    for (level, attributes) in levels {
        for attribute in attributes {
            let locked = lock.attribute_at(level, &attribute.path);
            if !locked.is_some_and(|value| literal_matches(&attribute.value, value)) {
                let locked = locked.map_or("nothing".to_string(), Value::to_string);
                stale.add(
                    format!(
                        "{}attribute {} is {} but the lock has {locked}",
                        if level == Precedence::Override {
                            "override "
                        } else {
                            ""
                        },
                        attribute.found.key,
                        attribute.found.value
                    ),
                    Some(Location {
                        path: policy.path.clone(),
                        line: attribute.found.line,
                    }),
                );
            }
        }
        // What the lock holds that no assignment of the policyfile sets any more.
        for leaf in lock_json::leaf_paths(lock.attributes(level)) {
            if leaf.is_empty() {
                continue;
            }
            let still_set = policy
                .assigned
                .iter()
                .any(|(l, path)| *l == level && leaf.starts_with(path));
            if !still_set {
                stale.add(
                    format!(
                        "the lock has {} attribute {}, which the policyfile no longer sets",
                        level.keyword(),
                        leaf.join(".")
                    ),
                    None,
                );
            }
        }
    }
}

/// Locked cookbooks that neither the policyfile nor anything it needs asks
/// for: harmless, but `chef install` would drop them.
fn unneeded_cookbooks(
    policy: &Policy,
    lock: &Lock,
    help: Option<String>,
    findings: &mut Vec<Finding>,
) {
    let run_list_cookbooks = policy
        .run_lists
        .iter()
        .flat_map(|list| list.items.iter())
        .map(|item| ruby::normalize_run_list_item(item))
        .filter_map(|item| {
            let recipe = item.strip_prefix("recipe[")?;
            Some(recipe.split("::").next()?.to_string())
        })
        .collect::<Vec<_>>();
    let roots = policy
        .requirements
        .iter()
        .map(|r| r.name.as_str())
        .chain(run_list_cookbooks.iter().map(String::as_str));
    let needed = lock.needed_by(roots);
    let unneeded: Vec<&String> = lock
        .cookbooks
        .keys()
        .filter(|name| !needed.contains(name.as_str()))
        .collect();
    if unneeded.is_empty() {
        return;
    }
    findings.push(Finding::new(
        POLICY_LOCK,
        Severity::Warning,
        format!(
            "{} locks {} although nothing in policy {} needs {} any more",
            policy.lock_path,
            unneeded
                .iter()
                .map(|name| format!("{name} {}", lock.cookbooks[*name]))
                .collect::<Vec<_>>()
                .join(", "),
            policy.name,
            if unneeded.len() == 1 { "it" } else { "them" }
        ),
        unneeded
            .iter()
            .map(|name| Location {
                path: policy.lock_path.clone(),
                line: lock.cookbook_lines.get(*name).copied().unwrap_or(1),
            })
            .collect(),
        help,
    ));
}
