//! `cargo xtask check` end to end (each rule's cases are judged in memory in
//! src/rules/tests.rs): the pristine trees in both chef layouts; the git-aware rules in real repositories (`--staged` reads the index,
//! `--since` the working tree); malformed, missing, doubled and look-alike sites;
//! the human report (a snapshot, colour off) and `--json`; the pre-commit hook
//! end to end through a real `git commit`.

use crate::common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{
    assert_text_matches, copy_dir, git_commit, head_of, path_with_cargo, workspace, Layout, Run,
    TempDir, Tree,
};
use serde_json::Value;

const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
const POSTINST: &str = "openstack-tenant/packages/mobiledgex/postinst";
const PROPS_GO: &str = "vmlayer/props.go";
const VERSION_GO: &str = "version/package-version.go";
const PACKER_BUILD_SH: &str = "openstack-tenant/packer/build.sh";
const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
const ATTRIBUTES: &str = "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb";
const UPGRADE_METADATA: &str = "chef/cookbooks/upgrade_mobiledgex_package/metadata.rb";
const SETUP_INFRA_METADATA: &str = "chef/cookbooks/setup_infra/metadata.rb";
const SETUP_INFRA_RECIPE: &str = "chef/cookbooks/setup_infra/recipes/default.rb";
const RUN_DIAGNOSTICS_METADATA: &str = "chef/cookbooks/run_diagnostics/metadata.rb";
const RUN_DIAGNOSTICS_RECIPE: &str = "chef/cookbooks/run_diagnostics/recipes/default.rb";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";
const DOCKER_CRM: &str = "chef/policyfiles/docker_crm.rb";
const DOCKER_CRM_LOCK: &str = "chef/policyfiles/docker_crm.lock.json";

const OLD_APT: &str = "https://apt.mobiledgex.net/cirrus/2021-02-01";

/// The help of the `cookbook-pin` warning every pristine tree carries on purpose.
const DOCKER_CRM_PIN_HELP: &str = "nothing, if the policy is meant to stay on 1.0.2; to use the repository's cookbook: pin '= 1.0.3' in chef/policyfiles/docker_crm.rb, then (cd chef && rm -f policyfiles/docker_crm.lock.json && chef install policyfiles/docker_crm.rb)";

// ---------------------------------------------------------------------------
// Helpers

/// `rel:N`, N being the one line of `rel` that starts with `needle` (after indentation).
fn at(tree: &Tree, rel: &str, needle: &str) -> String {
    let text = tree.read(rel);
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} in {rel}: lines {lines:?}");
    format!("{rel}:{}", lines[0])
}

/// Where chef's APT snapshot lives in each layout.
fn chef_apt_site(tree: &Tree, layout: Layout) -> String {
    match layout {
        Layout::B => at(
            tree,
            BASE_POLICY,
            "default['upgrade_mobiledgex_package']['repo']",
        ),
        // The `uri` right below `apt_repository 'bionic' do` (not the 'cirrus' block's).
        _ => {
            let opening = at(tree, RECIPE, "apt_repository 'bionic'");
            let line: usize = opening.rsplit(':').next().unwrap().parse().unwrap();
            assert!(tree
                .read(RECIPE)
                .lines()
                .nth(line)
                .unwrap()
                .trim_start()
                .starts_with("uri '"));
            format!("{RECIPE}:{}", line + 1)
        }
    }
}

fn makefile_site(tree: &Tree) -> String {
    at(tree, MAKEFILE, "VERSION = ")
}

/// docker_crm pins setup_infra at the repository's 1.0.3, its lock following:
/// the tree then has no finding at all.
fn align_docker_crm(tree: &Tree) {
    tree.edit(
        DOCKER_CRM,
        "cookbook 'setup_infra', '= 1.0.2'",
        "cookbook 'setup_infra', '= 1.0.3'",
    );
    // The lock as `chef install` would rewrite it (only the version matters here).
    let mut lock: Value = serde_json::from_str(&tree.read(DOCKER_CRM_LOCK)).unwrap();
    lock["cookbook_locks"]["setup_infra"]["version"] = "1.0.3".into();
    tree.write(
        DOCKER_CRM_LOCK,
        &serde_json::to_string_pretty(&lock).unwrap(),
    );
}

/// Runs the binary on `root` with exactly these arguments (colour choice included).
fn xtask_raw(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

/// Text without its ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The keys of a JSON object, sorted (serde_json may keep insertion order).
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Sets the three base image sites (not chef's) from 3.0.1 to `to`.
fn set_base_image(tree: &Tree, to: &str) {
    for (file, before, after) in xtask::test_support::base_image_edits(to) {
        tree.edit(file, &before, &after);
    }
}

/// One finding of the human report: its first line, `-->` locations, help.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    head: String,
    locations: Vec<String>,
    help: Option<String>,
}

/// Every finding of a human report, in order.
fn blocks(report: &str) -> Vec<Block> {
    let mut found: Vec<Block> = Vec::new();
    for line in report.lines() {
        if line.starts_with("error[") || line.starts_with("warning[") {
            found.push(Block {
                head: line.to_string(),
                locations: Vec::new(),
                help: None,
            });
        } else if let Some(block) = found.last_mut() {
            if let Some(location) = line.strip_prefix("  --> ") {
                block.locations.push(location.to_string());
            } else if let Some(help) = line.strip_prefix("  = help: ") {
                assert!(block.help.is_none(), "two help lines in {block:?}");
                block.help = Some(help.to_string());
            }
        }
    }
    found
}

/// The one finding whose first line starts with `head` (`error[rule]: message…`).
fn finding(run: &Run, head: &str) -> Block {
    let all = blocks(&run.stdout);
    let matching: Vec<&Block> = all.iter().filter(|b| b.head.starts_with(head)).collect();
    assert_eq!(
        matching.len(),
        1,
        "findings starting with {head:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    matching[0].clone()
}

/// Asserts a finding exactly: its whole first line, every location in order, its help.
fn expect(run: &Run, head: &str, locations: &[String], help: &str) {
    let block = finding(run, head);
    assert_eq!(block.head, head, "first line");
    assert_eq!(block.locations, locations, "locations of {head}");
    assert_eq!(block.help.as_deref(), Some(help), "help of {head}");
}

/// The rules that reported anything, as `severity[rule]`.
fn heads(run: &Run) -> Vec<String> {
    blocks(&run.stdout)
        .into_iter()
        .map(|b| b.head.split(':').next().unwrap_or_default().to_string())
        .collect()
}

fn assert_no_rule(run: &Run, rule: &str) {
    assert!(
        !run.stdout.contains(&format!("[{rule}]")),
        "{rule} reported:\n{}",
        run.stdout
    );
}

/// Bad input: exit 2, a message naming every `names`, no panic, nothing written.
fn assert_bad_input(tree: &Tree, args: &[&str], names: &[&str]) -> Run {
    let before = tree.snapshot();
    let run = tree.xtask(args);
    run.assert_refused(&format!("{args:?}"), names);
    assert!(tree.snapshot() == before, "a file changed");
    run
}

fn check(tree: &Tree) -> Run {
    tree.xtask(&["check"])
}

/// Runs the same scenario as a `#[test]` in each chef layout.
macro_rules! in_both_layouts {
    ($($name:ident),* $(,)?) => {
        mod layout_a {
            $( #[test] fn $name() { super::$name(super::Layout::A) } )*
        }
        mod layout_b {
            $( #[test] fn $name() { super::$name(super::Layout::B) } )*
        }
    };
}

in_both_layouts!(
    pristine_tree_passes_with_only_the_intended_warning,
    cookbook_pin_passes_clean_when_pins_equal_metadata,
    cookbook_bump_fails_for_a_staged_change_without_bump,
    cookbook_bump_helps_with_chef_policy_for_the_upgrade_cookbook,
    comment_only_changes_need_no_bump,
    cookbook_bump_passes_when_the_version_was_raised,
    package_bump_fails_for_a_staged_change_without_version_change,
    package_bump_passes_when_the_version_was_raised,
    staged_reads_the_index_not_the_working_tree,
    staged_passes_a_good_index_despite_a_bad_working_tree,
    since_judges_the_working_tree_against_a_revision,
    look_alike_lines_are_never_taken_for_sites,
    crlf_everywhere_passes,
    no_final_newline_anywhere_passes,
    all_findings_come_in_one_run,
    monorepo_inside_a_larger_repository,
);

// ---------------------------------------------------------------------------
// Every rule, passing and failing: the cases are judged in memory
// (src/rules/tests.rs); here, what the binary says of a whole tree.

fn pristine_tree_passes_with_only_the_intended_warning(layout: Layout) {
    let tree = Tree::new(layout);
    let run = check(&tree);
    run.assert_code(0);
    expect(
        &run,
        "warning[cookbook-pin]: policy docker_crm pins setup_infra 1.0.2, older than the cookbook's 1.0.3 (it uses what was uploaded before)",
        &[
            at(&tree, DOCKER_CRM, "cookbook 'setup_infra'"),
            at(&tree, SETUP_INFRA_METADATA, "version '"),
        ],
        DOCKER_CRM_PIN_HELP,
    );
    assert_eq!(heads(&run), ["warning[cookbook-pin]"]);
    assert!(
        run.stdout.ends_with("check passed with 1 warning\n"),
        "{}",
        run.stdout
    );
    // Each rule of the spec passes: none of them but the warning has anything to say.
    for rule in [
        "package-version",
        "chef-package-version",
        "apt-snapshot",
        "chef-client",
        "kubernetes",
        "dependencies-syntax",
        "policy-lock",
        "cookbook-bump",
        "package-bump",
    ] {
        assert_no_rule(&run, rule);
    }
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn realistic_tree_passes_clean_of_errors() {
    let tree = Tree::new(Layout::Realistic);
    let run = check(&tree);
    run.assert_code(0);
    // Several policies pin older cookbooks on purpose: warnings, each with both ends.
    let pins = [
        ("docker_crm", "runstatus_handler", "1.0.0", "1.0.1"),
        ("docker_crm", "upgrade_mobiledgex_package", "1.0.8", "1.0.9"),
        ("k8s_crm", "setup_infra", "1.0.5", "1.0.7"),
        ("k8s_crm", "setup_services", "1.0.33", "1.0.35"),
        ("local_crm", "run_diagnostics", "1.0.3", "1.0.4"),
    ];
    for (policy, cookbook, pinned, repo) in pins {
        let policy_path = format!("chef/policyfiles/{policy}.rb");
        let block = finding(
            &run,
            &format!("warning[cookbook-pin]: policy {policy} pins {cookbook} {pinned}, older than the cookbook's {repo}"),
        );
        assert_eq!(
            block.locations,
            [
                at(&tree, &policy_path, &format!("cookbook '{cookbook}'")),
                at(
                    &tree,
                    &format!("chef/cookbooks/{cookbook}/metadata.rb"),
                    "version '"
                ),
            ]
        );
    }
    assert_eq!(heads(&run), vec!["warning[cookbook-pin]"; pins.len()]);
    assert!(
        run.stdout.ends_with("check passed with 5 warnings\n"),
        "{}",
        run.stdout
    );
}

fn cookbook_pin_passes_clean_when_pins_equal_metadata(layout: Layout) {
    let tree = Tree::new(layout);
    align_docker_crm(&tree);
    let run = check(&tree);
    run.assert_code(0);
    assert!(heads(&run).is_empty(), "{}", run.stdout);
    assert_eq!(run.stdout, "check passed: every rule holds\n");
}

// ---------------------------------------------------------------------------
// The git-aware rules, in real repositories

fn cookbook_bump_fails_for_a_staged_change_without_bump(layout: Layout) {
    let tree = Tree::with_git(layout);
    fs::write(
        tree.path(SETUP_INFRA_RECIPE),
        format!("{}\nlog 'swap stays off'\n", tree.read(SETUP_INFRA_RECIPE)),
    )
    .unwrap();
    // Without a baseline the git-aware rules do not run.
    let plain = check(&tree);
    plain.assert_code(0);
    assert_no_rule(&plain, "cookbook-bump");

    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(1);
    expect(
        &run,
        "error[cookbook-bump]: cookbook setup_infra changed since HEAD (chef/cookbooks/setup_infra/recipes/default.rb) but its version is still 1.0.3",
        &[at(&tree, SETUP_INFRA_METADATA, "version '")],
        "set `version '1.0.4'` in chef/cookbooks/setup_infra/metadata.rb and the policyfile pins that name 1.0.3",
    );
    assert!(
        run.stdout
            .ends_with("error: check found 1 error and 1 warning; the commit is refused\n"),
        "{}",
        run.stdout
    );
    // The same change judged against HEAD from the working tree.
    let since = tree.xtask(&["check", "--since", "HEAD"]);
    since.assert_code(1);
    finding(
        &since,
        "error[cookbook-bump]: cookbook setup_infra changed since HEAD",
    );
}

fn comment_only_changes_need_no_bump(layout: Layout) {
    // A licence header on every script and recipe, as the monorepo's
    // open-sourcing commit added: what runs is the same, so no version moves.
    let tree = Tree::with_git(layout);
    let header =
        "# Copyright 2022 MobiledgeX, Inc\n#\n# Licensed under the Apache License, Version 2.0\n\n";
    for rel in [SETUP_INFRA_RECIPE, SETUP_INFRA_METADATA, POSTINST] {
        let text = tree.read(rel);
        let text = match text.split_once('\n') {
            Some((shebang, rest)) if shebang.starts_with("#!") => {
                format!("{shebang}\n{header}{rest}")
            }
            _ => format!("{header}{text}"),
        };
        tree.write(rel, &text);
    }
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert_no_rule(&run, "cookbook-bump");
    assert_no_rule(&run, "package-bump");
    // The same commit with one line of code in it needs both bumps.
    fs::write(
        tree.path(POSTINST),
        format!("{}true\n", tree.read(POSTINST)),
    )
    .unwrap();
    tree.write(
        SETUP_INFRA_RECIPE,
        &format!("{}log 'hello'\n", tree.read(SETUP_INFRA_RECIPE)),
    );
    let run = tree.xtask(&["check", "--since", "HEAD"]);
    run.assert_code(1);
    assert_eq!(
        heads(&run),
        [
            "warning[cookbook-pin]",
            "error[cookbook-bump]",
            "error[package-bump]"
        ]
    );
}

fn cookbook_bump_helps_with_chef_policy_for_the_upgrade_cookbook(layout: Layout) {
    let tree = Tree::with_git(layout);
    let recipe = tree.read(RECIPE);
    tree.write(
        RECIPE,
        &recipe.replacen("action :upgrade", "action :install", 1),
    );
    tree.git(&["add", RECIPE]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(1);
    expect(
        &run,
        "error[cookbook-bump]: cookbook upgrade_mobiledgex_package changed since HEAD (chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb) but its version is still 1.0.14",
        &[at(&tree, UPGRADE_METADATA, "version '")],
        "cargo xtask chef-policy --offline --cookbook-version 1.0.15",
    );
}

fn cookbook_bump_passes_when_the_version_was_raised(layout: Layout) {
    let tree = Tree::with_git(layout);
    fs::write(
        tree.path(RUN_DIAGNOSTICS_RECIPE),
        format!("{}log 'collect more'\n", tree.read(RUN_DIAGNOSTICS_RECIPE)),
    )
    .unwrap();
    tree.edit(
        RUN_DIAGNOSTICS_METADATA,
        "version '1.0.2'",
        "version '1.0.3'",
    );
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert_no_rule(&run, "cookbook-bump");
    // docker_crm keeps the uploaded 1.0.2 until its lock is regenerated: a warning.
    finding(&run, "warning[cookbook-pin]: policy docker_crm pins run_diagnostics 1.0.2, older than the cookbook's 1.0.3");
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
}

fn package_bump_fails_for_a_staged_change_without_version_change(layout: Layout) {
    let tree = Tree::with_git(layout);
    fs::write(
        tree.path(POSTINST),
        format!(
            "{}systemctl restart chef-client || true\n",
            tree.read(POSTINST)
        ),
    )
    .unwrap();
    tree.edit(DEPENDENCIES, "=4.15.0.171.160", "=4.15.0.172.161");
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(1);
    expect(
        &run,
        "error[package-bump]: the mobiledgex package changed since HEAD (openstack-tenant/packages/mobiledgex/dependencies, openstack-tenant/packages/mobiledgex/postinst) but its VERSION is still 3.0.1: the same version would be published twice",
        &[makefile_site(&tree)],
        "cargo xtask bump-base-image 3.0.2",
    );
    assert_eq!(
        heads(&run),
        ["warning[cookbook-pin]", "error[package-bump]"]
    );
}

fn package_bump_passes_when_the_version_was_raised(layout: Layout) {
    let tree = Tree::with_git(layout);
    tree.edit(DEPENDENCIES, "=4.15.0.171.160", "=4.15.0.172.161");
    set_base_image(&tree, "3.0.2");
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert_no_rule(&run, "package-bump");
    // chef follows only after the rollout.
    finding(&run, "warning[chef-package-version]");
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
}

fn staged_reads_the_index_not_the_working_tree(layout: Layout) {
    let tree = Tree::with_git(layout);
    let good = tree.read(PROPS_GO);
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    tree.git(&["add", PROPS_GO]);
    tree.write(PROPS_GO, &good); // the working tree is fine again; the index is not
    assert_eq!(
        String::from_utf8_lossy(&tree.git(&["status", "--porcelain"]).stdout),
        "MM vmlayer/props.go\n"
    );
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(1);
    expect(
        &run,
        "error[package-version]: base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.0.2",
        &[makefile_site(&tree), at(&tree, PROPS_GO, "var MEXInfraVersion =")],
        "cargo xtask bump-base-image 3.0.2",
    );
    check(&tree).assert_code(0);
    // Judging the index leaves it (and the working tree) as it was.
    assert_eq!(
        String::from_utf8_lossy(&tree.git(&["status", "--porcelain"]).stdout),
        "MM vmlayer/props.go\n"
    );
    assert_eq!(tree.read(PROPS_GO), good);
}

fn staged_passes_a_good_index_despite_a_bad_working_tree(layout: Layout) {
    let tree = Tree::with_git(layout);
    set_base_image(&tree, "3.0.2");
    tree.git(&["add", "-A"]);
    tree.edit(PROPS_GO, "\"3.0.2\"", "\"9.9.9\"");
    tree.edit(
        DEPENDENCIES,
        "kubectl                         =1.18.20-00",
        "kubectl                         =1.19.0-00",
    );
    fs::remove_file(tree.path(VERSION_GO)).unwrap();
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert_eq!(
        heads(&run),
        ["warning[chef-package-version]", "warning[cookbook-pin]"]
    );
    // The working tree itself is judged without --staged, and is broken.
    let working = check(&tree);
    working.assert_code(2);
    assert!(
        working
            .stderr
            .contains("version/package-version.go: file not found in the working tree"),
        "{}",
        working.stderr
    );
}

fn since_judges_the_working_tree_against_a_revision(layout: Layout) {
    let tree = Tree::with_git(layout);
    // A commit that changed a cookbook without a bump, then a clean working tree.
    fs::write(
        tree.path(SETUP_INFRA_RECIPE),
        format!("{}log 'hardening'\n", tree.read(SETUP_INFRA_RECIPE)),
    )
    .unwrap();
    tree.git(&["commit", "-q", "-am", "unbumped cookbook change"]);
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
    tree.xtask(&["check", "--staged"]).assert_code(0);
    let run = tree.xtask(&["check", "--since", "HEAD~1"]);
    run.assert_code(1);
    expect(
        &run,
        "error[cookbook-bump]: cookbook setup_infra changed since HEAD~1 (chef/cookbooks/setup_infra/recipes/default.rb) but its version is still 1.0.3",
        &[at(&tree, SETUP_INFRA_METADATA, "version '")],
        "set `version '1.0.4'` in chef/cookbooks/setup_infra/metadata.rb and the policyfile pins that name 1.0.3",
    );
    assert!(
        run.stdout
            .ends_with("error: check found 1 error and 1 warning\n"),
        "{}",
        run.stdout
    );
    // What `make` leaves in the package folder is ignored by git: no change of the package.
    fs::create_dir_all(tree.path("openstack-tenant/packages/mobiledgex/mobiledgex_3.0.1/DEBIAN"))
        .unwrap();
    tree.write(
        "openstack-tenant/packages/mobiledgex/mobiledgex_3.0.1/DEBIAN/control",
        "Package: mobiledgex\n",
    );
    tree.write(
        "openstack-tenant/packages/mobiledgex/mobiledgex_3.0.1_amd64.deb",
        "!<arch>\n",
    );
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
    // An untracked file counts for --since (it is in the working tree) but not for --staged.
    tree.write(
        "chef/cookbooks/run_diagnostics/recipes/extra.rb",
        "log 'extra'\n",
    );
    tree.write(
        "openstack-tenant/packages/mobiledgex/new-helper.sh",
        "#!/bin/sh\n",
    );
    let run = tree.xtask(&["check", "--since", "HEAD"]);
    run.assert_code(1);
    finding(&run, "error[cookbook-bump]: cookbook run_diagnostics changed since HEAD (chef/cookbooks/run_diagnostics/recipes/extra.rb)");
    finding(&run, "error[package-bump]: the mobiledgex package changed since HEAD (openstack-tenant/packages/mobiledgex/new-helper.sh)");
    tree.xtask(&["check", "--staged"]).assert_code(0);
}

/// A version site that is a link: the change is in the file it names, and
/// the disagreement it brings is new, not one that stood at the revision
/// (found in review: a shortcut took the link's unchanged path for an
/// unchanged site).
#[test]
fn since_a_change_behind_a_link_is_new() {
    let tree = Tree::with_git(Layout::A);
    fs::rename(tree.path(PROPS_GO), tree.path("vmlayer/props_real.go")).unwrap();
    std::os::unix::fs::symlink("props_real.go", tree.path(PROPS_GO)).unwrap();
    tree.git(&["add", "-A"]);
    tree.git(&["commit", "-q", "-m", "props.go is a link"]);
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
    tree.edit("vmlayer/props_real.go", "\"3.0.1\"", "\"3.0.9\"");
    let run = tree.xtask(&["check", "--since", "HEAD"]);
    run.assert_code(1);
    finding(&run, "error[package-version]: base image version disagrees");
}

fn monorepo_inside_a_larger_repository(layout: Layout) {
    // The monorepo root need not be the repository's top: every git read is
    // relative to the root (the index, HEAD's trees, the changed paths).
    let (top, root) = Tree::inside_a_larger_repository(layout);
    let sub = "edge-cloud-infra";
    let run = |args: &[&str]| common::xtask_in(&root, args, &[]);
    run(&["check", "--staged"]).assert_code(0);

    let recipe = format!("{sub}/{SETUP_INFRA_RECIPE}");
    top.write(&recipe, &format!("{}log 'changed'\n", top.read(&recipe)));
    top.write(&format!("{sub}/{POSTINST}"), "#!/bin/sh\nexit 0\n");
    top.git(&["add", "-A"]);
    for args in [
        &["check", "--staged"][..],
        &["check", "--since", "HEAD"][..],
    ] {
        let out = run(args);
        out.assert_code(1);
        assert_eq!(
            heads(&out),
            [
                "warning[cookbook-pin]",
                "error[cookbook-bump]",
                "error[package-bump]"
            ],
            "{args:?}"
        );
        let bump = finding(&out, "error[cookbook-bump]");
        assert_eq!(bump.locations, [format!("{SETUP_INFRA_METADATA}:5")]);
        assert!(bump
            .head
            .contains("(chef/cookbooks/setup_infra/recipes/default.rb)"));
    }
}

#[test]
fn since_and_staged_json_carry_the_git_aware_findings() {
    let tree = Tree::with_git(Layout::B);
    fs::write(
        tree.path(POSTINST),
        format!("{}true\n", tree.read(POSTINST)),
    )
    .unwrap();
    tree.git(&["add", "-A"]);
    for args in [
        &["check", "--staged", "--json"][..],
        &["check", "--since", "HEAD", "--json"][..],
    ] {
        let run = tree.xtask(args);
        run.assert_code(1);
        let report = run.json();
        let rules: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["cookbook-pin", "package-bump"], "{args:?}");
        assert_eq!(report["errors"], 1);
    }
}

#[test]
fn staged_before_the_first_commit_has_no_baseline() {
    let tree = Tree::new(Layout::A);
    tree.git(&["init", "-q", "-b", "main"]);
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert_no_rule(&run, "cookbook-bump");
    assert_no_rule(&run, "package-bump");
}

#[test]
fn staged_reads_a_deleted_file_as_missing_from_the_index() {
    let tree = Tree::with_git(Layout::A);
    tree.git(&["rm", "-q", "--cached", VERSION_GO]);
    assert_bad_input(
        &tree,
        &["check", "--staged"],
        &["version/package-version.go: file not found in the index"],
    );
}

#[test]
fn staged_refuses_a_non_utf8_file_in_the_index() {
    let tree = Tree::with_git(Layout::A);
    let good = fs::read(tree.path(PROPS_GO)).unwrap();
    let mut bad = good.clone();
    bad.extend_from_slice(b"// caf\xe9\n");
    fs::write(tree.path(PROPS_GO), &bad).unwrap();
    tree.git(&["add", PROPS_GO]);
    fs::write(tree.path(PROPS_GO), &good).unwrap();
    assert_bad_input(
        &tree,
        &["check", "--staged"],
        &["vmlayer/props.go: not UTF-8"],
    );
}

#[test]
fn git_aware_options_need_a_repository_and_a_revision() {
    let tree = Tree::new(Layout::A);
    assert_bad_input(
        &tree,
        &["check", "--staged"],
        &["check --staged needs a git checkout"],
    );
    assert_bad_input(
        &tree,
        &["check", "--since", "HEAD"],
        &["check --since needs a git checkout"],
    );
    let tree = Tree::with_git(Layout::A);
    assert_bad_input(
        &tree,
        &["check", "--since", "no-such-rev"],
        &["--since no-such-rev", "no such revision"],
    );
    assert_bad_input(
        &tree,
        &["check", "--staged", "--since", "HEAD"],
        &["--staged", "--since"],
    );
}

// ---------------------------------------------------------------------------
// Malformed, missing, doubled, look-alike

#[test]
fn non_utf8_makefile_is_bad_input() {
    let tree = Tree::new(Layout::A);
    let mut bytes = fs::read(tree.path(MAKEFILE)).unwrap();
    bytes.extend_from_slice(b"# Maintainer: Ren\xe9\n");
    fs::write(tree.path(MAKEFILE), bytes).unwrap();
    let run = assert_bad_input(
        &tree,
        &["check"],
        &[MAKEFILE, "not UTF-8", "save it as UTF-8"],
    );
    assert!(run.stdout.is_empty());
    assert_bad_input(&tree, &["versions"], &[MAKEFILE, "not UTF-8"]);
    assert_bad_input(&tree, &["check", "--json"], &[MAKEFILE, "not UTF-8"]);
}

#[test]
fn empty_props_go_is_bad_input() {
    let tree = Tree::new(Layout::B);
    tree.write(PROPS_GO, "");
    assert_bad_input(
        &tree,
        &["check"],
        &["vmlayer/props.go: vmlayer.infra_version not found (expected a line like `var MEXInfraVersion = \"3.0.1\"`)"],
    );
}

#[test]
fn missing_file_is_bad_input() {
    let tree = Tree::new(Layout::A);
    fs::remove_file(tree.path(VERSION_GO)).unwrap();
    fs::remove_file(tree.path(PACKER_BUILD_SH)).unwrap();
    // Both are named in one message.
    assert_bad_input(
        &tree,
        &["check"],
        &[
            "version/package-version.go: file not found in the working tree",
            "openstack-tenant/packer/build.sh: file not found in the working tree",
        ],
    );
}

#[test]
fn missing_makefile_is_not_a_checkout() {
    let tree = Tree::new(Layout::A);
    fs::remove_file(tree.path(MAKEFILE)).unwrap();
    assert_bad_input(&tree, &["check"], &[MAKEFILE, "-C"]);
}

#[test]
fn doubled_version_line_is_bad_input() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        MAKEFILE,
        "VERSION = 3.0.1\n",
        "VERSION = 3.0.1\nVERSION = 3.0.2\n",
    );
    assert_bad_input(
        &tree,
        &["check"],
        &["openstack-tenant/packages/mobiledgex/Makefile: package.version found 2 times (lines 2, 3); expected exactly one line like `VERSION = 3.0.1`"],
    );
}

#[test]
fn doubled_sites_of_every_format_are_bad_input() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        PROPS_GO,
        "var MEXInfraVersion = \"3.0.1\"\n",
        "var MEXInfraVersion = \"3.0.1\"\nvar MEXInfraVersion = \"3.0.1\"\n",
    );
    tree.edit(
        PACKER_BUILD_SH,
        &format!("APT_REPO=\"{OLD_APT}\"\n"),
        &format!("APT_REPO=\"{OLD_APT}\"\nAPT_REPO=\"{OLD_APT}\"\n"),
    );
    tree.edit(
        RECIPE,
        &format!("  uri '{OLD_APT}'\n"),
        &format!("  uri '{OLD_APT}'\n  uri '{OLD_APT}'\n"),
    );
    tree.edit(
        SETUP_INFRA_METADATA,
        "version '1.0.3'\n",
        "version '1.0.3'\nversion '1.0.4'\n",
    );
    let run = assert_bad_input(
        &tree,
        &["check"],
        &[
            "vmlayer/props.go: vmlayer.infra_version found 2 times",
            "openstack-tenant/packer/build.sh: packer.apt_repo found 2 times",
            "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb: chef.apt_repo found 2 times",
            "chef/cookbooks/setup_infra/metadata.rb: cookbook.version found 2 times",
        ],
    );
    // A doubled site is reported as doubled, not also as missing.
    assert!(!run.stderr.contains("not found"), "{}", run.stderr);
}

#[test]
fn doubled_layout_b_policy_attributes_are_bad_input() {
    let tree = Tree::new(Layout::B);
    tree.edit(
        BASE_POLICY,
        "default['mobiledgeXPackageVersion'] = '3.0.1'\n",
        "default['mobiledgeXPackageVersion'] = '3.0.1'\ndefault['mobiledgeXPackageVersion'] = '3.0.2'\n",
    );
    tree.edit(
        BASE_POLICY,
        "default['chef_client_updater']['version'] = '17.6.18'\n",
        "default['chef_client_updater']['version'] = '17.6.18'\ndefault[\"chef_client_updater\"][\"version\"] = \"17.6.19\"\n",
    );
    let run = assert_bad_input(
        &tree,
        &["check"],
        &[
            "chef/policyfiles/base.rb: chef.package_version found 2 times (lines 19, 20)",
            "chef/policyfiles/base.rb: policy.chef_client found 2 times",
        ],
    );
    assert!(!run.stderr.contains("not found"), "{}", run.stderr);
}

#[test]
fn doubled_dependency_and_pin_are_reported() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        DOCKER_CRM,
        "cookbook 'run_diagnostics', '= 1.0.2'\n",
        "cookbook 'run_diagnostics', '= 1.0.2'\ncookbook 'run_diagnostics', '= 1.0.2'\n",
    );
    assert_bad_input(
        &tree,
        &["check"],
        &["chef/policyfiles/docker_crm.rb:16: cookbook `run_diagnostics` is pinned twice"],
    );

    let tree = Tree::new(Layout::A);
    tree.edit(
        DEPENDENCIES,
        "jq                              >=1.5+dfsg-2\n",
        "jq                              >=1.5+dfsg-2\njq                              >=1.6\n",
    );
    let run = check(&tree);
    run.assert_code(1);
    let block = finding(&run, "error[dependencies-syntax]: `jq` is listed twice");
    assert_eq!(block.locations, [format!("{DEPENDENCIES}:18")]);
}

#[test]
fn chef_sites_missing_in_both_layouts_are_bad_input() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        RECIPE,
        &format!("uri '{OLD_APT}'"),
        "uri node['upgrade_mobiledgex_package']['repo']",
    );
    tree.edit(
        ATTRIBUTES,
        "defaultMobiledgeXPackageVersion = '3.0.1'",
        "defaultMobiledgeXPackageVersion = node['x']",
    );
    assert_bad_input(
        &tree,
        &["check"],
        &[
            "chef.apt_repo not found: neither `uri '…'` in the `apt_repository 'bionic'` block of chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb (layout A) nor `default['upgrade_mobiledgex_package']['repo']` in chef/policyfiles/base.rb (layout B)",
            "chef.package_version not found",
        ],
    );
}

#[test]
fn apt_repo_without_a_snapshot_date_is_bad_input() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        PACKER_BUILD_SH,
        &format!("APT_REPO=\"{OLD_APT}\""),
        "APT_REPO=\"https://apt.mobiledgex.net/cirrus/latest\"",
    );
    assert_bad_input(
        &tree,
        &["check"],
        &["openstack-tenant/packer/build.sh:20: APT repository `https://apt.mobiledgex.net/cirrus/latest` does not end in a snapshot date (YYYY-MM-DD)"],
    );
}

#[test]
fn old_split_dependencies_layout_is_refused_clearly() {
    let tree = Tree::new(Layout::A);
    let dir = tree.path("openstack-tenant/packages/mobiledgex");
    fs::rename(dir.join("dependencies"), dir.join("dependencies.common")).unwrap();
    fs::write(
        dir.join("dependencies.vcd"),
        "open-vm-tools                   >=2:11.0.5-4ubuntu0.18.04.1\n",
    )
    .unwrap();
    fs::write(
        dir.join("dependencies.vsphere"),
        "open-vm-tools                   >=2:11.0.5-4ubuntu0.18.04.1\n",
    )
    .unwrap();
    for args in [&["check"][..], &["versions"][..], &["check", "--json"][..]] {
        assert_bad_input(
            &tree,
            args,
            &[
                "openstack-tenant/packages/mobiledgex uses the old split layout",
                "dependencies.common",
                "merge them into one `dependencies` file",
            ],
        );
    }
}

#[test]
fn a_file_where_a_cookbook_folder_could_be_is_no_cookbook() {
    // The real monorepo keeps READMEs and chefignore next to its cookbooks.
    let tree = Tree::new(Layout::A);
    tree.write("chef/cookbooks/README.md", "# Cookbooks\n");
    tree.write("chef/cookbooks/chefignore", ".git\n");
    tree.write("chef/policyfiles/README.md", "# Policies\n");
    let run = check(&tree);
    run.assert_code(0);
    assert_eq!(heads(&run), ["warning[cookbook-pin]"]);
}

fn look_alike_lines_are_never_taken_for_sites(layout: Layout) {
    let tree = Tree::new(layout);
    // Each look-alike carries a value that would be a finding (or a doubled site) if taken.
    tree.edit(PACKER_BUILD_SH, "ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'", "ARTIFACTORY_ARTIFACTS_TAG='2022-02-02'\n# APT_REPO=\"https://apt.mobiledgex.net/cirrus/2019-01-01\"\nOLD_APT_REPO=\"https://apt.mobiledgex.net/cirrus/2019-01-01\"");
    tree.edit(
        PACKER_BUILD_SH,
        "cloudimg-amd64-2021-10-05",
        "cloudimg-amd64-2022-02-02",
    );
    tree.edit(
        RECIPE,
        "uri 'https://artifactory.mobiledgex.net/artifactory/packages'",
        "uri 'https://apt.mobiledgex.net/cirrus/2019-01-01'",
    );
    tree.edit(
        PROPS_GO,
        "var ImageFormatVersion = \"1.0\"",
        "var ImageFormatVersion = \"1.0\"\nvar MEXInfraVersionOld = \"2.0.0\"\n// MEXInfraVersion = \"0.0.1\"\nconst MinimumSupportedInfraVersion = \"2.0.24\"",
    );
    tree.edit(
        MAKEFILE,
        "DISTRIBUTION = cirrus",
        "DISTRIBUTION = cirrus\nPACKAGE_VERSION = 9.9.9\n# VERSION = 9.9.8",
    );
    tree.edit(
        SETUP_INFRA_METADATA,
        "chef_version '>= 14.0'",
        "chef_version '>= 14.0'\nsupports 'ubuntu', '>= 18.04'\n# version '9.9.9'",
    );
    let run = check(&tree);
    run.assert_code(0);
    assert_eq!(heads(&run), ["warning[cookbook-pin]"], "{}", run.stdout);

    // The sites are the real lines, with their values.
    let report = tree.xtask(&["versions", "--json"]).json();
    let site = |id: &str| -> (String, String) {
        let found: Vec<&Value> = report["sites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["id"] == id)
            .collect();
        assert_eq!(found.len(), 1, "{id}");
        (
            format!(
                "{}:{}",
                found[0]["path"].as_str().unwrap(),
                found[0]["line"]
            ),
            found[0]["value"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        site("packer.apt_repo"),
        (
            at(
                &tree,
                PACKER_BUILD_SH,
                "APT_REPO=\"https://apt.mobiledgex.net/cirrus/2021-02-01\""
            ),
            OLD_APT.to_string()
        )
    );
    assert_eq!(
        site("chef.apt_repo"),
        (chef_apt_site(&tree, layout), OLD_APT.to_string())
    );
    assert_eq!(
        site("vmlayer.infra_version"),
        (
            at(&tree, PROPS_GO, "var MEXInfraVersion = \"3.0.1\""),
            "3.0.1".into()
        )
    );
    assert_eq!(
        site("package.version"),
        (makefile_site(&tree), "3.0.1".into())
    );
}

#[test]
fn realistic_look_alikes_keep_their_values() {
    // The realistic tree's build.sh carries the snapshot's date in two other tags;
    // moving them changes nothing, moving APT_REPO is a finding.
    let tree = Tree::new(Layout::Realistic);
    tree.edit(
        PACKER_BUILD_SH,
        "ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'",
        "ARTIFACTORY_ARTIFACTS_TAG='2021-11-11'",
    );
    tree.edit(
        PACKER_BUILD_SH,
        "cloudimg-amd64-2021-10-05",
        "cloudimg-amd64-2021-11-11",
    );
    tree.edit(
        PROPS_GO,
        "MinimumSupportedInfraVersion = \"2.0.24\"",
        "MinimumSupportedInfraVersion = \"2.0.99\"",
    );
    check(&tree).assert_code(0);
    tree.edit(
        PACKER_BUILD_SH,
        "cirrus/2021-10-05\"",
        "cirrus/2021-11-11\"",
    );
    let run = check(&tree);
    run.assert_code(1);
    expect(
        &run,
        "error[apt-snapshot]: APT snapshot disagrees: packer builds from 2021-11-11, chef points VMs at 2021-10-05",
        &[at(&tree, PACKER_BUILD_SH, "APT_REPO="), chef_apt_site(&tree, Layout::Realistic)],
        "cargo xtask chef-policy --apt-snapshot 2021-11-11",
    );
}

/// Every text file of the tree rewritten by `f`.
fn rewrite_text_files(tree: &Tree, f: impl Fn(&str) -> String) {
    for entry in walkdir::WalkDir::new(tree.root()) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        if let Ok(text) = fs::read_to_string(entry.path()) {
            fs::write(entry.path(), f(&text)).unwrap();
        }
    }
}

fn crlf_everywhere_passes(layout: Layout) {
    for layout in [layout, Layout::Realistic] {
        let tree = Tree::new(layout);
        let lf = check(&tree);
        rewrite_text_files(&tree, |text| {
            text.replace("\r\n", "\n").replace('\n', "\r\n")
        });
        assert!(tree.read(MAKEFILE).contains("VERSION = ") && tree.read(MAKEFILE).contains("\r\n"));
        let run = check(&tree);
        run.assert_code(0);
        // Same findings, same lines.
        assert_eq!(run.stdout, lf.stdout);
        // A finding in a CRLF file still names the right line and value.
        tree.edit(
            PROPS_GO,
            "var MEXInfraVersion = \"",
            "var MEXInfraVersion = \"1",
        );
        let run = check(&tree);
        run.assert_code(1);
        let block = finding(&run, "error[package-version]");
        assert_eq!(
            block.locations[1],
            at(&tree, PROPS_GO, "var MEXInfraVersion =")
        );
        assert!(!block.head.contains('\r'));
    }
}

fn no_final_newline_anywhere_passes(layout: Layout) {
    for layout in [layout, Layout::Realistic] {
        let tree = Tree::new(layout);
        let before = check(&tree);
        rewrite_text_files(&tree, |text| {
            text.trim_end_matches(['\n', '\r']).to_string()
        });
        assert!(!tree.read(VERSION_GO).ends_with('\n'));
        let run = check(&tree);
        run.assert_code(0);
        assert_eq!(run.stdout, before.stdout);
        // The last line of a file is a site like any other.
        assert!(tree.read(VERSION_GO).ends_with('"'));
        tree.edit(VERSION_GO, "Version = \"", "Version = \"1");
        let run = check(&tree);
        run.assert_code(1);
        finding(&run, "error[package-version]");
    }
}

#[test]
fn tabs_and_other_whitespace_are_read() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        MAKEFILE,
        "VERSION = 3.0.1",
        "VERSION\t:=  3.0.1   # the base image",
    );
    tree.edit(
        PROPS_GO,
        "var MEXInfraVersion = \"3.0.1\"",
        "var\tMEXInfraVersion\t= \"3.0.1\" // keep in step",
    );
    tree.edit(
        SETUP_INFRA_METADATA,
        "version '1.0.3'",
        "version\t\"1.0.3\"",
    );
    tree.edit(
        BASE_POLICY,
        "cookbook 'setup_infra', '= 1.0.3'",
        "cookbook\t\"setup_infra\",  \"= 1.0.3\"",
    );
    let run = check(&tree);
    run.assert_code(0);
    assert_eq!(heads(&run), ["warning[cookbook-pin]"]);
    tree.edit(PROPS_GO, "\"3.0.1\" // keep", "\"3.0.2\" // keep");
    let run = check(&tree);
    run.assert_code(1);
    finding(&run, "error[package-version]: base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.0.2");
}

// ---------------------------------------------------------------------------
// The report: one run, every finding; human snapshot; JSON

fn all_findings_come_in_one_run(layout: Layout) {
    let tree = Tree::new(layout);
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    tree.edit(
        PACKER_BUILD_SH,
        "/cirrus/2021-02-01\"",
        "/cirrus/2021-03-01\"",
    );
    tree.edit(DEPENDENCIES, "=17.6.18-1", "=17.6.19-1");
    tree.edit(
        DEPENDENCIES,
        "kubectl                         =1.18.20-00",
        "kubectl                         =1.18.21-00",
    );
    tree.edit(
        DEPENDENCIES,
        "jq                              >=1.5+dfsg-2",
        "jq                              >=",
    );
    tree.edit(SETUP_INFRA_METADATA, "version '1.0.3'", "version '1.0.1'");
    tree.edit(BASE_POLICY, "'Etc/UTC'", "'UTC'");
    let before = tree.snapshot();
    let run = check(&tree);
    run.assert_code(1);
    assert!(tree.snapshot() == before, "check changed a file");
    assert_eq!(
        heads(&run),
        [
            "error[package-version]",
            "error[apt-snapshot]",
            "error[chef-client]",
            "error[kubernetes]",
            "error[dependencies-syntax]",
            "error[cookbook-pin]",
            "error[cookbook-pin]",
            "error[policy-lock]",
        ]
    );
    assert!(
        run.stdout
            .ends_with("error: check found 8 errors and 0 warnings\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn human_report_snapshot() {
    let tree = Tree::new(Layout::A);
    tree.edit(VERSION_GO, "\"3.0.1\"", "\"3.0.0\"");
    tree.edit(
        PACKER_BUILD_SH,
        "/cirrus/2021-02-01\"",
        "/cirrus/2021-03-01\"",
    );
    tree.edit(
        DEPENDENCIES,
        "kubelet                         =1.18.20-00",
        "kubelet                         =1.18.21-00",
    );
    tree.edit(ATTRIBUTES, "'3.0.1'", "'3.0.0'");
    let run = check(&tree);
    run.assert_code(1);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "colour with --color never");
    assert_text_matches(&run.stdout, "check/drift-report.stdout");
    // NO_COLOR is honoured with --color auto (and stdout is not a terminal anyway).
    let auto = xtask_raw(
        tree.root(),
        &["--color", "auto", "check"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(auto.stdout, run.stdout);
    // --color always paints the same report.
    let always = xtask_raw(tree.root(), &["--color", "always", "check"], &[]);
    assert!(always.stdout.contains("\u{1b}["));
    assert_eq!(strip_ansi(&always.stdout), run.stdout);
}

#[test]
fn json_report_shape() {
    let tree = Tree::new(Layout::A);
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    let run = tree.xtask(&["check", "--json"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(
        keys(&report),
        ["errors", "findings", "pre_existing", "warnings"]
    );
    assert_eq!(report["errors"], 1);
    // Only a judged change (--staged, --since) has findings from before it.
    assert_eq!(report["pre_existing"], 0);
    assert_eq!(report["warnings"], 1);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    for finding in findings {
        assert_eq!(
            keys(finding),
            [
                "help",
                "locations",
                "message",
                "pre_existing",
                "rule",
                "severity"
            ]
        );
        assert_eq!(finding["pre_existing"], false);
        for location in finding["locations"].as_array().unwrap() {
            assert_eq!(keys(location), ["line", "path"]);
            assert!(location["line"].is_u64() && location["path"].is_string());
        }
    }
    assert_eq!(
        findings[0],
        serde_json::json!({
            "rule": "package-version",
            "severity": "error",
            "message": "base image version disagrees: Makefile has 3.0.1, vmlayer/props.go has 3.0.2",
            "locations": [
                {"path": MAKEFILE, "line": 2},
                {"path": PROPS_GO, "line": at(&tree, PROPS_GO, "var MEXInfraVersion =").rsplit(':').next().unwrap().parse::<u64>().unwrap()},
            ],
            "help": "cargo xtask bump-base-image 3.0.2",
            "pre_existing": false,
        })
    );
    assert_eq!(findings[1]["rule"], "cookbook-pin");
    assert_eq!(findings[1]["severity"], "warning");
    // The JSON carries nothing else on stdout; a passing tree gives an empty list.
    let clean = Tree::new(Layout::B);
    let run = clean.xtask(&["check", "--json"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["errors"], 0);
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn quiet_passing_check_prints_nothing_but_warnings() {
    let tree = Tree::new(Layout::A);
    let run = tree.xtask(&["-q", "check"]);
    run.assert_code(0);
    assert!(run.stdout.contains("warning[cookbook-pin]"));
    let clean = Tree::new(Layout::A);
    align_docker_crm(&clean);
    let run = clean.xtask(&["-q", "check"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "");
}

// ---------------------------------------------------------------------------
// The pre-commit hook

const HOOK: &str = ".git/hooks/pre-commit";

fn install_hooks(tree: &Tree, args: &[&str]) -> Run {
    let mut all = vec!["install-hooks"];
    all.extend_from_slice(args);
    tree.xtask_env(&all, &[("GIT_CONFIG_GLOBAL", "/dev/null")])
}

#[test]
fn install_hooks_writes_an_executable_hook_once() {
    let tree = Tree::with_git(Layout::A);
    let run = install_hooks(&tree, &[]);
    run.assert_code(0);
    let hook = fs::read_to_string(tree.path(HOOK)).unwrap();
    assert!(hook.starts_with("#!/bin/sh\n"), "{hook}");
    assert!(hook.contains("check --staged"), "{hook}");
    let mode = fs::metadata(tree.path(HOOK)).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
    // Idempotent: the same hook, untouched.
    let before = fs::read(tree.path(HOOK)).unwrap();
    let again = install_hooks(&tree, &[]);
    again.assert_code(0);
    assert!(again.all().contains("already installed"), "{}", again.all());
    assert_eq!(fs::read(tree.path(HOOK)).unwrap(), before);
    // Installing writes nothing into the monorepo itself.
    assert!(String::from_utf8_lossy(&tree.git(&["status", "--porcelain"]).stdout).is_empty());
}

#[test]
fn install_hooks_keeps_a_foreign_hook_unless_forced() {
    let tree = Tree::with_git(Layout::A);
    let foreign = "#!/bin/sh\necho 'my own checks'\n";
    fs::write(tree.path(HOOK), foreign).unwrap();
    fs::set_permissions(tree.path(HOOK), fs::Permissions::from_mode(0o750)).unwrap();
    let run = install_hooks(&tree, &[]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("pre-commit") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("panicked"));
    assert_eq!(fs::read_to_string(tree.path(HOOK)).unwrap(), foreign);
    assert_eq!(
        fs::metadata(tree.path(HOOK)).unwrap().permissions().mode() & 0o777,
        0o750
    );

    install_hooks(&tree, &["--force"]).assert_code(0);
    assert!(fs::read_to_string(tree.path(HOOK))
        .unwrap()
        .contains("check --staged"));
    assert_eq!(fs::read_to_string(tree.path(LOCAL_HOOK)).unwrap(), foreign);
    // Kept with its mode: a hook git ran keeps running, one it skipped stays skipped.
    assert_eq!(
        fs::metadata(tree.path(LOCAL_HOOK))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o750
    );
}

const LOCAL_HOOK: &str = ".git/hooks/pre-commit.local";

/// Puts `script` in place as a hook git runs (mode 0755).
fn write_hook(tree: &Tree, rel: &str, script: &str) {
    fs::write(tree.path(rel), script).unwrap();
    fs::set_permissions(tree.path(rel), fs::Permissions::from_mode(0o755)).unwrap();
}

/// A file's bytes and permission bits, for byte-for-byte comparisons in `.git/`.
fn bytes_and_mode(path: &Path) -> (Vec<u8>, u32) {
    (
        fs::read(path).unwrap(),
        fs::metadata(path).unwrap().permissions().mode(),
    )
}

#[test]
fn a_failing_foreign_hook_still_refuses_the_commit_after_force() {
    let tree = Tree::with_git(Layout::A);
    write_hook(
        &tree,
        HOOK,
        "#!/bin/sh\necho 'my own checks: lint failed' >&2\nexit 1\n",
    );
    install_hooks(&tree, &["--force"]).assert_code(0);
    let base = head_of(&tree);
    // A change the staged check has nothing against: only the old hook objects.
    tree.write("notes.txt", "harmless\n");
    tree.git(&["add", "notes.txt"]);
    let out = git_commit(tree.root(), &["-m", "notes"], &[]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "committed past the old hook\n{said}");
    assert!(said.contains("my own checks: lint failed"), "{said}");
    assert!(
        said.contains("pre-commit.local failed (exit 1), so the commit is refused"),
        "{said}"
    );
    assert_eq!(head_of(&tree), base);
    // Without it the same commit goes through: the refusal was the old hook's.
    fs::remove_file(tree.path(LOCAL_HOOK)).unwrap();
    let out = git_commit(tree.root(), &["-m", "notes"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(head_of(&tree), base);
}

#[test]
fn a_passing_foreign_hook_runs_then_the_check_decides() {
    let tree = Tree::with_git(Layout::A);
    // Logs each run where git keeps its own files, so the tree stays clean.
    write_hook(
        &tree,
        HOOK,
        "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/local-hook.log\"\nexit 0\n",
    );
    install_hooks(&tree, &["--force"]).assert_code(0);
    commit_through_the_hook(&tree, &[]);
    // Three commits were attempted (two refused by the check, one accepted).
    assert_eq!(
        fs::read_to_string(tree.path(".git/local-hook.log")).unwrap(),
        "ran\nran\nran\n"
    );
}

#[test]
fn a_second_force_never_loses_the_first_hook() {
    let tree = Tree::with_git(Layout::A);
    write_hook(&tree, HOOK, "#!/bin/sh\necho first\n");
    install_hooks(&tree, &["--force"]).assert_code(0);
    // Another tool then installs its own hook over ours.
    write_hook(&tree, HOOK, "#!/bin/sh\necho second\n");
    let files = tree.snapshot();
    let hook = bytes_and_mode(&tree.path(HOOK));
    let local = bytes_and_mode(&tree.path(LOCAL_HOOK));
    for args in [&["--force"][..], &[][..]] {
        let run = install_hooks(&tree, args);
        run.assert_code(2);
        assert!(
            run.stderr
                .contains("pre-commit.local already holds an earlier hook")
                && run.stderr.contains("by hand")
                && run.stderr.contains("Nothing was written"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.all().contains("panicked"));
        assert_eq!(bytes_and_mode(&tree.path(HOOK)), hook, "{args:?}");
        assert_eq!(bytes_and_mode(&tree.path(LOCAL_HOOK)), local, "{args:?}");
        assert!(tree.snapshot() == files, "{args:?}: a file changed");
    }
    assert_eq!(local.0, b"#!/bin/sh\necho first\n");
}

#[test]
fn a_linked_foreign_hook_is_not_written_through() {
    // `--force` would write the hook script into the link's target, a file of
    // the repository: refused, and the user told how to keep it.
    let tree = Tree::with_git(Layout::A);
    let script = "#!/bin/sh\nexit 0\n";
    tree.write("team-hook.sh", script);
    std::os::unix::fs::symlink(tree.path("team-hook.sh"), tree.path(HOOK)).unwrap();
    let run = install_hooks(&tree, &["--force"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("is a link to") && run.stderr.contains("mv "),
        "{}",
        run.stderr
    );
    assert_eq!(tree.read("team-hook.sh"), script);
    assert!(fs::symlink_metadata(tree.path(HOOK))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!tree.path(LOCAL_HOOK).exists());
}

#[test]
fn pre_commit_hook_in_a_folder_whose_name_needs_quoting() {
    // The monorepo sits in `it's a "repo" $(x)` inside a larger repository:
    // the hook's `cd` must take that name literally.
    let top = Tree {
        dir: TempDir::new("quoted"),
    };
    let sub = "it's a \"repo\" $(x)";
    for part in common::RENDITION {
        copy_dir(&workspace().join(part), &top.path(sub).join(part));
    }
    top.write("README.md", "# a larger repository\n");
    top.init_git();
    let root = top.path(sub);
    common::xtask_in(
        &root,
        &["install-hooks"],
        &[("GIT_CONFIG_GLOBAL", "/dev/null")],
    )
    .assert_code(0);
    let base = head_of(&top);
    let props = format!("{sub}/{PROPS_GO}");
    top.edit(&props, "\"3.0.1\"", "\"3.0.2\"");
    let out = git_commit(top.root(), &["-am", "drift"], &[]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the drift was committed\n{said}");
    assert!(said.contains("error[package-version]"), "{said}");
    assert_eq!(head_of(&top), base);
    top.git(&["checkout", "--", &props]);
    top.write("README.md", "# a larger repository, edited\n");
    let out = git_commit(top.root(), &["-am", "readme"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(head_of(&top), base);
}

/// The hook runs the built xtask itself when it is newer than every file it
/// is built from; when it is older, cargo builds it first (a no-op if only
/// timestamps moved) and it is marked fresh; when it is missing, cargo runs
/// the check. A
/// stub binary in a CARGO_TARGET_DIR of its own and a fake cargo on PATH
/// log which of the two ran, and with what.
#[test]
fn the_hook_runs_the_built_xtask_when_fresh_else_cargo() {
    let tree = Tree::with_git(Layout::A);
    install_hooks(&tree, &[]).assert_code(0);
    let dir = TempDir::new("hook-paths");
    let log = dir.path().join("log");
    let stub = dir.path().join("target/debug/xtask");
    fs::create_dir_all(stub.parent().unwrap()).unwrap();
    fs::create_dir_all(dir.path().join("bin")).unwrap();
    for (path, who) in [(&stub, "direct"), (&dir.path().join("bin/cargo"), "cargo")] {
        fs::write(
            path,
            format!("#!/bin/sh\necho \"{who} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // cargo's dep-info: the binary was built from this workspace's sources.
    let dep_info = dir.path().join("target/debug/xtask.d");
    let main_rs = common::workspace().join("xtask/src/main.rs");
    let built_from = |main_rs: &Path| {
        fs::write(
            &dep_info,
            format!("{}: {}\n", stub.display(), main_rs.display()),
        )
        .unwrap();
    };
    built_from(&main_rs);
    let mut path = OsString::from(dir.path().join("bin"));
    path.push(":");
    path.push(path_with_cargo());
    let target = OsString::from(dir.path().join("target"));
    let env = [("CARGO_TARGET_DIR", &target), ("PATH", &path)];
    tree.write("notes.txt", "harmless\n");
    tree.git(&["add", "notes.txt"]);
    let run_hook = || {
        let _ = fs::remove_file(&log);
        let out = git_commit(tree.root(), &["--allow-empty", "-m", "x"], &env);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        fs::read_to_string(&log).unwrap_or_default()
    };
    // Just built: newer than the sources.
    assert_eq!(run_hook(), "direct --root . check --staged\n");
    // Older than the sources: cargo rebuilds and runs it.
    fs::File::options()
        .write(true)
        .open(&stub)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH)
        .unwrap();
    let said = run_hook();
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with("cargo build --quiet --manifest-path ")
            && lines[0].ends_with("/xtask/Cargo.toml")
            && lines[1] == "direct --root . check --staged",
        "{said}"
    );
    // Built (or found fresh) by cargo, it is marked fresh: the next commit
    // runs it directly.
    assert_eq!(run_hook(), "direct --root . check --staged\n");
    // A shared target folder holding another checkout's build: cargo decides.
    built_from(Path::new("/elsewhere/xtask/src/main.rs"));
    assert!(run_hook().starts_with("cargo build "));
    fs::remove_file(&dep_info).unwrap();
    assert!(
        run_hook().starts_with("cargo build "),
        "no dep-info: not known to be ours"
    );
    built_from(&main_rs);
    // No binary at all (another target folder): cargo builds and runs it.
    fs::remove_file(&stub).unwrap();
    let said = run_hook();
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with("cargo build ")
            && lines[1].starts_with("cargo run --quiet --manifest-path ")
            && lines[1].ends_with("/xtask/Cargo.toml -- --root . check --staged"),
        "{said}"
    );
}

#[test]
fn install_hooks_outside_git_is_bad_input() {
    let tree = Tree::new(Layout::A);
    assert_bad_input(
        &tree,
        &["install-hooks"],
        &["install-hooks needs a git checkout"],
    );
}

/// Drift refused, then a consistent commit goes through, via the real hook.
fn commit_through_the_hook(tree: &Tree, env: &[(&str, &OsString)]) {
    let base = head_of(tree);
    // props.go alone moves: refused, and the message says why.
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    let out = git_commit(tree.root(), &["-am", "drift"], env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the drift was committed\n{stdout}\n{stderr}"
    );
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("error[package-version]"), "{said}");
    assert!(said.contains("the commit is refused"), "{said}");
    assert_eq!(head_of(tree), base);
    // A partial commit (git's temporary index) is judged too.
    let out = git_commit(tree.root(), &["-m", "drift", "--", PROPS_GO], env);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(head_of(tree), base);

    // Every site together: committed (chef stays behind: a warning only).
    tree.edit(MAKEFILE, "VERSION = 3.0.1", "VERSION = 3.0.2");
    tree.edit(VERSION_GO, "\"3.0.1\"", "\"3.0.2\"");
    let out = git_commit(tree.root(), &["-am", "bump the base image to 3.0.2"], env);
    assert!(
        out.status.success(),
        "the consistent commit was refused\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(head_of(tree), base);
}

#[test]
fn pre_commit_hook_refuses_drift_in_a_monorepo_without_the_crate() {
    // The tree has no Cargo workspace: the hook runs this crate by its manifest.
    let tree = Tree::with_git(Layout::A);
    install_hooks(&tree, &[]).assert_code(0);
    let hook = fs::read_to_string(tree.path(HOOK)).unwrap();
    assert!(hook.contains("--manifest-path"), "{hook}");
    commit_through_the_hook(&tree, &[]);
}

/// Copies `from` to `to` like `copy_dir`, keeping every file's modification time,
/// as a checkout made before the last build has.
fn copy_keeping_mtimes(from: &Path, to: &Path) {
    if from.is_dir() {
        copy_dir(from, to);
    } else {
        fs::copy(from, to).unwrap();
    }
    for entry in walkdir::WalkDir::new(to) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(to).unwrap();
            let original = if rel.as_os_str().is_empty() {
                from.to_path_buf()
            } else {
                from.join(rel)
            };
            let mtime = fs::metadata(&original).unwrap().modified().unwrap();
            fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
    }
}

/// A copy of the whole workspace (Cargo files, `.cargo/` with the alias, the
/// crate, the rendition) committed to a fresh repository.
fn workspace_checkout(label: &str) -> Tree {
    let tree = Tree {
        dir: TempDir::new(label),
    };
    let ws = workspace();
    for name in [
        "Cargo.toml",
        "Cargo.lock",
        ".gitignore",
        ".cargo",
        "xtask",
        "openstack-tenant",
        "chef",
        "vmlayer",
        "version",
    ] {
        copy_keeping_mtimes(&ws.join(name), &tree.path(name));
    }
    tree.git(&["init", "-q", "-b", "main"]);
    tree.git(&["add", "-A"]);
    tree.git(&["commit", "-q", "-m", "workspace"]);
    tree
}

/// The target folder the workspace-checkout tests share, kept between runs:
/// only the first run builds the crate from scratch.
fn shared_target() -> OsString {
    workspace().join("target/xtask-hook-e2e").into_os_string()
}

/// `cargo <args>` in `dir` with the shared target folder, offline.
fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    Command::new("cargo")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("PATH", path_with_cargo())
        .env("CARGO_TARGET_DIR", shared_target())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// A first checkout, built into the shared target folder (as with a global
/// `build.target-dir` or CARGO_TARGET_DIR); the second one is returned.
fn second_checkout(label: &str) -> (Tree, Tree) {
    let first = workspace_checkout(&format!("{label}-first"));
    let build = cargo_in(first.root(), &["build", "--quiet", "--package", "xtask"]);
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let second = workspace_checkout(&format!("{label}-second"));
    (first, second)
}

#[test]
fn cargo_xtask_judges_the_checkout_it_runs_in() {
    // Without -C the root is the workspace that holds the crate: the one cargo
    // runs it from, not the one it happened to be compiled in.
    let (first, second) = second_checkout("root");
    second.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    let out = cargo_in(second.root(), &["xtask", "--color", "never", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the second checkout's drift went unseen\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("vmlayer/props.go has 3.0.2"), "{stdout}");
    // And the first checkout is judged as itself.
    let out = cargo_in(first.root(), &["xtask", "--color", "never", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn pre_commit_hook_refuses_drift_in_a_workspace_checkout() {
    // The monorepo as developers have it: the rendition plus the Cargo workspace
    // with the `cargo xtask` alias, so the hook runs `cargo xtask check --staged`.
    let (_first, tree) = second_checkout("hook");
    install_hooks(&tree, &[]).assert_code(0);
    let hook = fs::read_to_string(tree.path(HOOK)).unwrap();
    assert!(hook.contains("cargo xtask check --staged"), "{hook}");
    commit_through_the_hook(&tree, &[("CARGO_TARGET_DIR", &shared_target())]);
}

/// In a linked worktree git exports GIT_DIR (and not GIT_WORK_TREE) to the
/// hook; with the root in a subfolder, git must still see the worktree's
/// top, or every site is "not found in the index".
#[test]
fn pre_commit_hook_in_a_linked_worktree_with_the_root_in_a_subfolder() {
    let (top, _root) = Tree::inside_a_larger_repository(Layout::A);
    let place = common::TempDir::new("linked-worktree");
    let worktree = place.path().join("wt");
    top.git(&["worktree", "add", "-q", &worktree.to_string_lossy()]);
    let root = worktree.join("edge-cloud-infra");
    let installed = common::xtask_in(&root, &["install-hooks"], &[]);
    installed.assert_code(0);

    fs::write(root.join("notes.txt"), "harmless\n").unwrap();
    let add = common::git_command(&worktree)
        .args(["add", "edge-cloud-infra/notes.txt"])
        .output()
        .unwrap();
    assert!(add.status.success());
    let out = common::git_commit(&worktree, &["-m", "a note"], &[]);
    assert!(
        out.status.success(),
        "the harmless commit was refused\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let props = root.join(PROPS_GO);
    let text = fs::read_to_string(&props).unwrap();
    fs::write(&props, text.replace("\"3.0.1\"", "\"3.0.2\"")).unwrap();
    let out = common::git_commit(&worktree, &["-am", "drift"], &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the drift was committed\n{said}");
    assert!(said.contains("error[package-version]"), "{said}");
}
