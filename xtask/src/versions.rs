//! `cargo xtask versions`: every version site, grouped by what must agree.

use anyhow::Result;
use serde_json::{json, Value};

use crate::context::Context;
use crate::flags;
use crate::rules::{self, Finding, Severity};
use crate::sites::{ids, ChefLayout, Site};

/// The groups `versions` shows: each a rule and the sites it judges.
const GROUPS: [(&str, &str); 8] = [
    (rules::PACKAGE_VERSION, "base image version"),
    (
        rules::CHEF_PACKAGE_VERSION,
        "chef's mobiledgex package version",
    ),
    (rules::APT_SNAPSHOT, "APT snapshot"),
    (rules::CHEF_CLIENT, "chef-client"),
    (rules::KUBERNETES, "kubernetes packages"),
    (rules::COOKBOOK_PIN, "cookbooks and policy pins"),
    (rules::POLICY_LOCK, "policy locks"),
    (rules::DEPENDENCIES_SYNTAX, "dependencies syntax"),
];

fn verdict(findings: &[&Finding]) -> &'static str {
    match findings.iter().map(|f| f.severity).max() {
        None => "ok",
        Some(Severity::Warning) => "warning",
        Some(Severity::Error) => "error",
    }
}

fn site_json(site: &Site) -> Value {
    json!({
        "id": site.id,
        "key": site.key,
        "path": site.path,
        "line": site.line,
        "value": site.value,
    })
}

impl flags::Versions {
    /// Prints every version site grouped by the rule that judges it, each group
    /// with its verdict; exit 0 whatever the verdicts (`check` is the gate), 2
    /// when a site cannot be read.
    ///
    /// `--json` prints one object (keys may come in any order; new keys may be
    /// added, existing ones keep their meaning):
    ///
    /// ```text
    /// {
    ///   "chef_layout": "A" | "B",
    ///   "sites": [Site, …],              // every site, in the order of the human report
    ///   "groups": [                       // one per rule, in this order: package-version,
    ///     {                               //   chef-package-version, apt-snapshot, chef-client,
    ///       "rule": "package-version",    //   kubernetes, cookbook-pin, policy-lock,
    ///                                     //   dependencies-syntax
    ///       "title": "base image version",
    ///       "verdict": "ok" | "warning" | "error",
    ///       "sites": [Site, …],           // the sites that must agree
    ///       "findings": [Finding, …]      // why the verdict is not "ok"
    ///     }, …
    ///   ]
    /// }
    /// Site    = { "id": "package.version", "key": "" (cookbook, package or attribute
    ///             that tells sites of one id apart), "path": "openstack-tenant/packages/mobiledgex/Makefile",
    ///             "line": 2 (1-based), "value": "3.0.1" }
    /// Finding = { "rule": "package-version", "severity": "error" | "warning",
    ///             "message": "…", "locations": [{ "path": "…", "line": 2 }, …],
    ///             "help": "cargo xtask bump-base-image 3.0.2" | null }
    /// ```
    ///
    /// `check --json` prints `{ "findings": [Finding, …], "errors": N, "warnings": N }`.
    pub fn run(self, ctx: &Context) -> Result<()> {
        let inventory = ctx.inventory()?;
        let findings = rules::evaluate(&inventory, None);
        let layout = match inventory.chef_layout {
            ChefLayout::A => "A",
            ChefLayout::B => "B",
        };
        if self.json {
            let groups: Vec<Value> = GROUPS
                .iter()
                .map(|(rule, title)| {
                    let of_rule: Vec<&Finding> = findings.iter().filter(|f| f.rule == *rule).collect();
                    json!({
                        "rule": rule,
                        "title": title,
                        "verdict": verdict(&of_rule),
                        "sites": rules::sites_of(&inventory, rule).iter().map(site_json).collect::<Vec<_>>(),
                        "findings": of_rule.iter().map(|f| f.to_json()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let report = json!({
                "chef_layout": layout,
                "sites": inventory.all_sites().iter().map(site_json).collect::<Vec<_>>(),
                "groups": groups,
            });
            ctx.answer(serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        let mut out = String::new();
        for (rule, title) in GROUPS {
            let of_rule: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule).collect();
            let verdict = match verdict(&of_rule) {
                "ok" => ctx.paint.good("ok"),
                "warning" => ctx.paint.warning("warning"),
                other => ctx.paint.error(other),
            };
            out.push_str(&format!("{} [{rule}]: {verdict}\n", ctx.paint.bold(title)));
            let group = rules::sites_of(&inventory, rule);
            let width = group.iter().map(|s| s.name().len()).max().unwrap_or(0);
            let loc_width = group.iter().map(|s| s.location().len()).max().unwrap_or(0);
            for site in &group {
                out.push_str(&format!(
                    "  {:width$}  {:loc_width$}  {}\n",
                    site.name(),
                    site.location(),
                    site.value
                ));
            }
            for finding in of_rule {
                out.push_str(&format!("  {} {}\n", ctx.paint.note("="), finding.message));
            }
        }
        let others: Vec<Site> = inventory
            .all_sites()
            .into_iter()
            .filter(|s| {
                s.id == ids::DEPS
                    && !["chef", "kubeadm", "kubectl", "kubelet"].contains(&s.key.as_str())
            })
            .collect();
        out.push_str(&format!("{}\n", ctx.paint.bold("other package pins")));
        let width = others.iter().map(|s| s.name().len()).max().unwrap_or(0);
        let loc_width = others.iter().map(|s| s.location().len()).max().unwrap_or(0);
        for site in &others {
            out.push_str(&format!(
                "  {:width$}  {:loc_width$}  {}\n",
                site.name(),
                site.location(),
                site.value
            ));
        }
        out.push_str(&format!("chef layout {layout}\n"));
        ctx.answer(out);
        Ok(())
    }
}
