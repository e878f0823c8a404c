//! `cargo xtask versions`: every site with file:line and value, grouped by what
//! must agree, each group with its verdict; `--json` gives the same for scripts.

use crate::common;

use common::{assert_text_matches, Layout, Run, Tree};
use serde_json::{json, Value};

const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
const PROPS_GO: &str = "vmlayer/props.go";
const VERSION_GO: &str = "version/package-version.go";
const PACKER_BUILD_SH: &str = "openstack-tenant/packer/build.sh";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";

/// The groups, in the order both outputs list them: rule and title.
const GROUPS: [(&str, &str); 8] = [
    ("package-version", "base image version"),
    ("chef-package-version", "chef's mobiledgex package version"),
    ("apt-snapshot", "APT snapshot"),
    ("chef-client", "chef-client"),
    ("kubernetes", "kubernetes packages"),
    ("cookbook-pin", "cookbooks and policy pins"),
    ("policy-lock", "policy locks"),
    ("dependencies-syntax", "dependencies syntax"),
];

fn versions(tree: &Tree) -> Run {
    let run = tree.xtask(&["versions"]);
    run.assert_code(0);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    run
}

fn versions_json(tree: &Tree) -> Value {
    let run = tree.xtask(&["versions", "--json"]);
    run.assert_code(0);
    run.json()
}

/// The verdict line of every group, in order (`title [rule]: verdict`).
fn verdicts(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|line| !line.starts_with(' ') && line.contains("]: "))
        .map(str::to_string)
        .collect()
}

fn verdict_lines(verdicts: [&str; 8]) -> Vec<String> {
    GROUPS
        .iter()
        .zip(verdicts)
        .map(|((rule, title), verdict)| format!("{title} [{rule}]: {verdict}"))
        .collect()
}

/// The lines of one group: from its verdict line to the next unindented line.
fn group<'a>(run: &'a Run, rule: &str) -> Vec<&'a str> {
    let mut lines = run
        .stdout
        .lines()
        .skip_while(|line| !line.contains(&format!(" [{rule}]: ")));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no group {rule}:\n{}", run.stdout));
    std::iter::once(head)
        .chain(lines.take_while(|line| line.starts_with("  ")))
        .collect()
}

/// One site row (`  name  path:line  value`), split into its three columns.
fn row(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The line number of the one line of `rel` that starts with `needle`.
fn line_of(tree: &Tree, rel: &str, needle: &str) -> usize {
    let lines: Vec<usize> = tree
        .read(rel)
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} in {rel}: {lines:?}");
    lines[0]
}

// ---------------------------------------------------------------------------
// Human output

#[test]
fn layout_a_snapshot() {
    let tree = Tree::new(Layout::A);
    let run = versions(&tree);
    assert!(!run.stdout.contains('\u{1b}'));
    assert_text_matches(&run.stdout, "versions/layout-a.stdout");
}

#[test]
fn groups_and_verdicts_of_a_consistent_tree() {
    for (layout, name) in [(Layout::A, "A"), (Layout::B, "B"), (Layout::Realistic, "A")] {
        let tree = Tree::new(layout);
        let run = versions(&tree);
        assert_eq!(
            verdicts(&run),
            verdict_lines(["ok", "ok", "ok", "ok", "ok", "warning", "ok", "ok"]),
            "{layout:?}"
        );
        assert!(
            run.stdout.ends_with(&format!("chef layout {name}\n")),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("\nother package pins\n"));
    }
}

#[test]
fn base_image_group_lists_its_three_sites() {
    for layout in [Layout::A, Layout::B] {
        let tree = Tree::new(layout);
        let run = versions(&tree);
        let lines = group(&run, "package-version");
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            row(lines[1]),
            ["package.version", &format!("{MAKEFILE}:2"), "3.0.1"]
        );
        let props = format!(
            "{PROPS_GO}:{}",
            line_of(&tree, PROPS_GO, "var MEXInfraVersion")
        );
        assert_eq!(
            row(lines[2]),
            ["vmlayer.infra_version", props.as_str(), "3.0.1"]
        );
        assert_eq!(
            row(lines[3]),
            [
                "version.package_version",
                &format!("{VERSION_GO}:3"),
                "3.0.1"
            ]
        );
    }
}

#[test]
fn chef_groups_follow_the_layout() {
    let tree = Tree::new(Layout::B);
    let run = versions(&tree);
    let chef_version = group(&run, "chef-package-version");
    let at = |needle| format!("{BASE_POLICY}:{}", line_of(&tree, BASE_POLICY, needle));
    assert_eq!(
        row(chef_version[2]),
        [
            "chef.package_version[mobiledgeXPackageVersion]",
            at("default['mobiledgeXPackageVersion']").as_str(),
            "3.0.1"
        ]
    );
    let apt = group(&run, "apt-snapshot");
    assert_eq!(
        row(apt[1]),
        [
            "packer.apt_repo",
            &format!("{PACKER_BUILD_SH}:20"),
            "https://apt.mobiledgex.net/cirrus/2021-02-01"
        ]
    );
    assert_eq!(
        row(apt[2]),
        [
            "chef.apt_repo[upgrade_mobiledgex_package.repo]",
            at("default['upgrade_mobiledgex_package']['repo']").as_str(),
            "https://apt.mobiledgex.net/cirrus/2021-02-01"
        ]
    );
    let client = group(&run, "chef-client");
    assert_eq!(
        row(client[1]),
        [
            "policy.chef_client[chef_client_updater.version]",
            at("default['chef_client_updater']['version']").as_str(),
            "17.6.18"
        ]
    );
    assert_eq!(
        row(client[2]),
        ["deps[chef]", &format!("{DEPENDENCIES}:7"), "=17.6.18-1"]
    );
}

#[test]
fn verdicts_show_errors_and_warnings_with_their_reason() {
    let tree = Tree::new(Layout::A);
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    tree.edit(
        DEPENDENCIES,
        "kubelet                         =1.18.20-00",
        "kubelet                         =1.18.21-00",
    );
    // versions reports; it is not the gate: exit 0 whatever the verdicts.
    let run = versions(&tree);
    assert_eq!(
        verdicts(&run),
        verdict_lines(["error", "ok", "ok", "ok", "error", "warning", "ok", "ok"])
    );
    let base = group(&run, "package-version");
    assert_eq!(
        base.last().copied(),
        Some("  = base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.0.2")
    );
    let kubernetes = group(&run, "kubernetes");
    assert_eq!(
        row(kubernetes[3]),
        [
            "deps[kubelet]",
            &format!("{DEPENDENCIES}:23"),
            "=1.18.21-00"
        ]
    );
    assert!(
        kubernetes[4].starts_with("  = kubeadm, kubectl and kubelet must be pinned to one version")
    );
    let pins = group(&run, "cookbook-pin");
    assert!(pins
        .last()
        .unwrap()
        .starts_with("  = policy docker_crm pins setup_infra 1.0.2, older"));

    // Chef behind the package: a warning, not an error.
    let tree = Tree::new(Layout::B);
    tree.edit(MAKEFILE, "VERSION = 3.0.1", "VERSION = 3.0.2");
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    tree.edit(VERSION_GO, "\"3.0.1\"", "\"3.0.2\"");
    let run = versions(&tree);
    assert_eq!(
        verdicts(&run),
        verdict_lines(["ok", "warning", "ok", "ok", "ok", "warning", "ok", "ok"])
    );
}

#[test]
fn other_pins_are_listed_in_aligned_columns() {
    let tree = Tree::new(Layout::Realistic);
    let run = versions(&tree);
    let others: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| *line != "other package pins")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .collect();
    // Every pin but the grouped ones (chef, kubeadm, kubectl, kubelet), tabs or not.
    let pinned = tree
        .read(DEPENDENCIES)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count();
    assert_eq!(others.len(), pinned - 4, "{others:?}");
    assert!(others.iter().any(|line| row(line)
        == [
            "deps[docker-ce-cli]",
            &format!("{DEPENDENCIES}:7"),
            "=5:19.03.13~3-0~ubuntu-bionic"
        ]));
    // The value column starts at the same place on every line.
    let value_column: Vec<usize> = others
        .iter()
        .map(|line| line.rfind("  ").unwrap())
        .collect();
    assert!(value_column.windows(2).all(|w| w[0] == w[1]), "{others:#?}");
}

#[test]
fn malformed_input_is_bad_input() {
    let tree = Tree::new(Layout::A);
    tree.write(PROPS_GO, "package vmlayer\n");
    let before = tree.snapshot();
    for args in [&["versions"][..], &["versions", "--json"][..]] {
        let run = tree.xtask(args);
        run.assert_refused(
            &format!("{args:?}"),
            &["vmlayer/props.go: vmlayer.infra_version not found"],
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert!(tree.snapshot() == before);
}

// ---------------------------------------------------------------------------
// JSON

fn site(id: &str, key: &str, path: &str, line: usize, value: &str) -> Value {
    json!({"id": id, "key": key, "path": path, "line": line, "value": value})
}

#[test]
fn json_shape_and_groups() {
    let tree = Tree::new(Layout::A);
    let report = versions_json(&tree);
    let mut keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["chef_layout", "groups", "sites"]);
    assert_eq!(report["chef_layout"], "A");

    let groups = report["groups"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = groups
        .iter()
        .map(|g| (g["rule"].as_str().unwrap(), g["title"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, GROUPS);
    for g in groups {
        let mut keys: Vec<&String> = g.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["findings", "rule", "sites", "title", "verdict"]);
        for s in g["sites"].as_array().unwrap() {
            let mut keys: Vec<&String> = s.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["id", "key", "line", "path", "value"]);
        }
    }
    let props_line = line_of(&tree, PROPS_GO, "var MEXInfraVersion");
    assert_eq!(
        groups[0],
        json!({
            "rule": "package-version",
            "title": "base image version",
            "verdict": "ok",
            "sites": [
                site("package.version", "", MAKEFILE, 2, "3.0.1"),
                site("vmlayer.infra_version", "", PROPS_GO, props_line, "3.0.1"),
                site("version.package_version", "", VERSION_GO, 3, "3.0.1"),
            ],
            "findings": [],
        })
    );
    assert_eq!(
        groups[1]["sites"][1],
        site(
            "chef.package_version",
            "",
            "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb",
            4,
            "3.0.1"
        )
    );
    assert_eq!(
        groups[2]["sites"][1],
        site(
            "chef.apt_repo",
            "bionic",
            "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb",
            34,
            "https://apt.mobiledgex.net/cirrus/2021-02-01"
        )
    );
    let kubernetes: Vec<&str> = groups[4]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(kubernetes, ["kubeadm", "kubectl", "kubelet"]);
    // The cookbook-pin group carries the warning as a finding.
    assert_eq!(groups[5]["verdict"], "warning");
    let finding = &groups[5]["findings"][0];
    assert_eq!(finding["rule"], "cookbook-pin");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(
        finding["locations"],
        json!([
            {"path": "chef/policyfiles/docker_crm.rb", "line": 14},
            {"path": "chef/cookbooks/setup_infra/metadata.rb", "line": 5},
        ])
    );
}

#[test]
fn json_sites_list_every_site_once() {
    let tree = Tree::new(Layout::Realistic);
    let report = versions_json(&tree);
    let sites = report["sites"].as_array().unwrap();
    let count = |id: &str| sites.iter().filter(|s| s["id"] == id).count();
    assert_eq!(count("package.version"), 1);
    assert_eq!(count("vmlayer.infra_version"), 1);
    assert_eq!(count("version.package_version"), 1);
    assert_eq!(count("packer.apt_repo"), 1);
    assert_eq!(count("chef.apt_repo"), 1);
    assert_eq!(count("chef.package_version"), 1);
    assert_eq!(count("policy.chef_client"), 1);
    // Every cookbook of the realistic tree and every exact pin of its four policies.
    assert_eq!(count("cookbook.version"), 5);
    assert_eq!(count("policy.cookbook_pin"), 3 + 6 + 4 + 2);
    let pinned = tree
        .read(DEPENDENCIES)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count();
    assert_eq!(count("deps"), pinned);
    for s in sites {
        assert!(s["line"].as_u64().unwrap() >= 1);
        let path = s["path"].as_str().unwrap();
        // The value is what the file says at that line.
        let line = tree
            .read(path)
            .lines()
            .nth(s["line"].as_u64().unwrap() as usize - 1)
            .unwrap()
            .to_string();
        let value = s["value"].as_str().unwrap();
        let shown = value.trim_start_matches(['=', '>', '<']);
        assert!(
            line.contains(shown),
            "{path}:{} {line:?} lacks {value:?}",
            s["line"]
        );
    }
    let versions: Vec<&str> = sites
        .iter()
        .filter(|s| s["id"] == "package.version" || s["id"] == "chef.package_version")
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.33", "2.0.33"]);
}

#[test]
fn json_verdicts_follow_the_findings() {
    let tree = Tree::new(Layout::B);
    tree.edit(
        PACKER_BUILD_SH,
        "/cirrus/2021-02-01\"",
        "/cirrus/2021-03-01\"",
    );
    tree.edit(DEPENDENCIES, "=17.6.18-1", "=17.6.19-1");
    let report = versions_json(&tree);
    assert_eq!(report["chef_layout"], "B");
    let verdicts: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["ok", "ok", "error", "error", "ok", "warning", "ok", "ok"]
    );
    let apt = &report["groups"][2];
    assert_eq!(apt["findings"].as_array().unwrap().len(), 1);
    assert_eq!(apt["findings"][0]["severity"], "error");
    assert_eq!(
        apt["findings"][0]["help"],
        "cargo xtask chef-policy --apt-snapshot 2021-03-01"
    );
    assert_eq!(
        apt["sites"][0]["value"],
        "https://apt.mobiledgex.net/cirrus/2021-03-01"
    );
    // The human output says the same.
    let run = versions(&tree);
    assert_eq!(verdicts_of(&run), verdicts);
}

fn verdicts_of(run: &Run) -> Vec<&'static str> {
    verdicts(run)
        .iter()
        .map(|line| match line.rsplit(": ").next() {
            Some("ok") => "ok",
            Some("warning") => "warning",
            Some("error") => "error",
            other => panic!("verdict {other:?}"),
        })
        .collect()
}

/// `-C` names the checkout: a current folder deleted under the shell does
/// not matter (the runner then starts from the root).
#[test]
fn works_from_a_current_folder_that_was_deleted() {
    let tree = Tree::new(Layout::A);
    let gone = tree.path("gone");
    std::fs::create_dir(&gone).unwrap();
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            r#"cd "$1" && rmdir "$1" && exec "$2" -C "$3" --color never versions"#,
            "sh",
        ])
        .arg(&gone)
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .arg(tree.root())
        .output()
        .unwrap();
    let run = Run::from(out);
    run.assert_code(0);
    assert!(run.stdout.contains("base image version"), "{}", run.all());
}
