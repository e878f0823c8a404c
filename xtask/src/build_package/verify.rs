//! The check of the built .deb against the tree: `dpkg-deb --field`, then
//! Package, Version, Architecture and Depends compared with the Makefile,
//! build.sh's ARCH and `dependencies`, every difference named.

use std::path::Path;

use anyhow::Result;

use crate::context::Context;
use crate::error::AlreadyReported;
use crate::formats::dependencies::Dependencies;
use crate::runner::{Runner, Step};
use crate::sites::paths;

use super::preflight::Package;
use super::{must_succeed, Build};

/// The fields of the .deb that are verified.
const FIELDS: [&str; 4] = ["Package", "Version", "Architecture", "Depends"];

impl Build {
    /// Step `n`: the .deb's fields must say what the tree says.
    pub(super) fn verify_deb(
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
        ctx.error(format!(
            "{} does not match the tree:\n  - {}\nNothing was published.",
            self.deb_path(local).display(),
            problems.join("\n  - ")
        ));
        Err(AlreadyReported.into())
    }
}

pub(super) fn verify(deb: &str) -> Step {
    Step::new(format!("verify {deb}"), "dpkg-deb")
        .arg("--field")
        .arg(deb)
        .args(FIELDS)
        .dir(Path::new(paths::PACKAGE_DIR))
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
    use crate::build_package::ARCH;
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
