//! `cargo xtask bump-base-image`: before → after trees in both chef layouts and
//! on the realistic overlay, the preview, the bad-input matrix, the dirty and
//! downgrade guards, the cookbook bump, and a property test (bump, then back).

use crate::common;

use std::collections::BTreeMap;

use common::{
    assert_patch_matches, assert_text_matches, assert_unchanged, changes, check_findings, Layout,
    Snapshot, Tree,
};

const UPGRADE_METADATA: &str = "chef/cookbooks/upgrade_mobiledgex_package/metadata.rb";
const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
const ATTRIBUTES: &str = "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb";
const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const PROPS_GO: &str = "vmlayer/props.go";
const PACKAGE_VERSION_GO: &str = "version/package-version.go";
const PACKER_BUILD_SH: &str = "openstack-tenant/packer/build.sh";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";
const DOCKER_CRM_POLICY: &str = "chef/policyfiles/docker_crm.rb";

/// Every changed line of every changed file differs only in characters of
/// `allowed` (digits, dots, …): the same lines, line endings, final newline,
/// quotes, tabs and alignment.
fn assert_only_value_characters_changed(before: &Snapshot, after: &Snapshot, allowed: &str) {
    for (path, new) in changes(before, after) {
        let old = String::from_utf8(before[&path].0.clone()).unwrap();
        let new = String::from_utf8(new.unwrap_or_else(|| panic!("{path} removed"))).unwrap();
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (
            old.split_inclusive('\n').collect(),
            new.split_inclusive('\n').collect(),
        );
        assert_eq!(old_lines.len(), new_lines.len(), "{path}: number of lines");
        for (a, b) in old_lines.iter().zip(&new_lines) {
            if a == b {
                continue;
            }
            let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let suffix = a[prefix..]
                .bytes()
                .rev()
                .zip(b[prefix..].bytes().rev())
                .take_while(|(x, y)| x == y)
                .count();
            let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
            assert!(
                mid_a
                    .chars()
                    .chain(mid_b.chars())
                    .all(|c| allowed.contains(c)),
                "{path}: more than the value changed: {a:?} → {b:?}"
            );
        }
    }
}

#[test]
fn layout_a_before_after_byte_for_byte() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--apt-snapshot",
        "2022-03-14",
        "--yes",
    ]);
    run.assert_code(0);
    assert_patch_matches(&before, &tree.snapshot(), "bump-base-image/layout-a");
    // The aftermath: the stale locks with their command, and the next runbook step.
    for line in [
        "Lock files that are now stale",
        "(cd chef && rm -f policyfiles/base.lock.json && chef install policyfiles/base.rb)",
        "(cd chef && rm -f policyfiles/docker_crm.lock.json && chef install policyfiles/docker_crm.rb)",
        "next: cargo xtask build-package --publish",
    ] {
        assert!(run.stdout.contains(line), "{line:?} missing:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("Still open"), "{}", run.stdout);
}

#[test]
fn layout_b_before_after_byte_for_byte() {
    let tree = Tree::with_git(Layout::B);
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--apt-snapshot",
        "2022-03-14",
        "--yes",
    ]);
    run.assert_code(0);
    // Layout B keeps both chef values in base.rb: no cookbook changes, no cookbook bump.
    assert_patch_matches(&before, &tree.snapshot(), "bump-base-image/layout-b");
    assert!(
        run.stdout.contains("chef install policyfiles/base.rb"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("docker_crm.lock.json"),
        "{}",
        run.stdout
    );
}

#[test]
fn realistic_tree_changes_only_version_characters() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let pin_warnings = |findings: &[(String, String, String)]| {
        findings
            .iter()
            .filter(|(rule, _, _)| rule == "cookbook-pin")
            .count()
    };
    let (code, findings_before) = check_findings(&tree);
    assert_eq!(code, 0, "{findings_before:#?}");
    let run = tree.xtask(&[
        "bump-base-image",
        "2.0.34",
        "--apt-snapshot",
        "2022-03-14",
        "--yes",
    ]);
    run.assert_code(0);
    let after = tree.snapshot();
    assert_patch_matches(&before, &after, "bump-base-image/realistic");
    assert_only_value_characters_changed(&before, &after, "0123456789.-");
    // The CRLF recipe is still CRLF on every line.
    let recipe = tree.read(RECIPE);
    assert!(recipe.contains("cirrus/2022-03-14'\r\n"));
    assert_eq!(recipe.matches('\n').count(), recipe.matches("\r\n").count());
    // Look-alikes of the snapshot date and of the version stay.
    let build_sh = tree.read(PACKER_BUILD_SH);
    assert!(build_sh.contains("ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'"));
    assert!(build_sh.contains("CLOUD_IMAGE_TAG:=ubuntu-18.04-server-cloudimg-amd64-2021-10-05}"));
    assert!(tree
        .read(RECIPE)
        .contains("uri 'https://artifactory.mobiledgex.net/artifactory/packages'"));
    assert!(tree.read(DOCKER_CRM_POLICY).contains("'2021-10-05-2'"));
    // The cookbook moved once; the policy that pinned an older version keeps it.
    assert!(tree.read(UPGRADE_METADATA).contains("version '1.0.10'\n"));
    assert!(tree
        .read(BASE_POLICY)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.10'"));
    assert!(tree
        .read(DOCKER_CRM_POLICY)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.8'"));
    // What is left is the lock of base.rb, whose pin moved.
    let (code, findings) = check_findings(&tree);
    assert_eq!(code, 1);
    assert_eq!(pin_warnings(&findings), pin_warnings(&findings_before));
    let errors: Vec<&String> = findings
        .iter()
        .filter(|f| f.1 == "error")
        .map(|f| &f.2)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("chef/policyfiles/base.lock.json is stale"),
        "{errors:#?}"
    );
    // The file without a final newline was not touched.
    assert!(!tree
        .read("chef/cookbooks/run_diagnostics/metadata.rb")
        .ends_with('\n'));
}

/// The same on a copy where the edited cookbook's metadata.rb has no final
/// newline and uses tabs: both survive the patch bump.
#[test]
fn metadata_without_final_newline_and_with_tabs_keeps_both() {
    let tree = Tree::new(Layout::Realistic);
    let text = tree.read(UPGRADE_METADATA);
    let text = text.replace("version '1.0.9'", "version\t'1.0.9'");
    tree.write(UPGRADE_METADATA, text.trim_end_matches('\n'));
    tree.init_git();
    let before = tree.snapshot();
    tree.xtask(&["bump-base-image", "2.0.34", "--yes"])
        .assert_code(0);
    let after = tree.snapshot();
    assert_only_value_characters_changed(&before, &after, "0123456789.");
    let metadata = tree.read(UPGRADE_METADATA);
    assert!(metadata.contains("version\t'1.0.10'"), "{metadata}");
    assert!(!metadata.ends_with('\n'));
}

#[test]
fn dry_run_preview_snapshot() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--dry-run"]);
    run.assert_code(0);
    assert!(!run.stdout.contains('\x1b'), "colour with --color never");
    assert_text_matches(&run.stdout, "bump-base-image/layout-a-3.0.2-dry-run.stdout");
    assert_unchanged(&tree, &before, "--dry-run");
}

#[test]
fn a_leading_v_is_accepted() {
    let tree = Tree::with_git(Layout::A);
    tree.xtask(&["bump-base-image", "v3.0.2", "--yes"])
        .assert_code(0);
    assert!(tree.read(MAKEFILE).contains("VERSION = 3.0.2\n"));
    assert!(tree
        .read(PROPS_GO)
        .contains("var MEXInfraVersion = \"3.0.2\"\n"));
    assert!(tree
        .read(PACKAGE_VERSION_GO)
        .contains("var MobiledgeXPackageVersion = \"3.0.2\"\n"));
    assert!(tree
        .read(ATTRIBUTES)
        .contains("defaultMobiledgeXPackageVersion = '3.0.2'\n"));
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let not_a_version = "is not a version of the form X.Y.Z";
    let not_a_date = "is not an APT snapshot date";
    let cases: &[(&[&str], &str)] = &[
        (&["3.0"], not_a_version),
        (&["3.0.1.2"], not_a_version),
        (&["three"], not_a_version),
        (&["v"], not_a_version),
        (&[""], not_a_version),
        (&[" 3.0.2"], not_a_version),
        (&["3.0.2 "], not_a_version),
        (&["3.0.2\n"], not_a_version),
        (&["3. 0.2"], not_a_version),
        (&["3.0.2;touch pwned"], not_a_version),
        (&["$(touch pwned)"], not_a_version),
        (&["`touch pwned`"], not_a_version),
        (&["3.0.2 && touch pwned"], not_a_version),
        (&["3.0.2|tee pwned"], not_a_version),
        (&["V3.0.2"], not_a_version),
        (&["vv3.0.2"], not_a_version),
        (&["3.0.x"], not_a_version),
        (&["03.0.2"], not_a_version),
        (&["3.0.2-rc1"], not_a_version),
        (&["99999999999999999999.0.0"], not_a_version),
        (
            &["3.0.0", "--yes"],
            "3.0.0 is lower than the current base image version 3.0.1; pass --allow-downgrade",
        ),
        (
            &["2.9.99", "--yes"],
            "lower than the current base image version 3.0.1",
        ),
        (&["3.0.1", "--yes"], "already 3.0.1 at every site"),
        (&["v3.0.1", "--yes"], "already 3.0.1 at every site"),
        (
            &["3.0.2", "--apt-snapshot", "2021-02-30", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2023-02-29", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2021-13-01", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2021-2-01", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2021/02/01", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "20210201", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2021-02-01 ", "--yes"],
            not_a_date,
        ),
        (&["3.0.2", "--apt-snapshot", "latest", "--yes"], not_a_date),
        (&["3.0.2", "--apt-snapshot", "", "--yes"], not_a_date),
        (
            &["3.0.2", "--apt-snapshot", "cirrus/2021-02-01", "--yes"],
            not_a_date,
        ),
        (
            &["3.0.2", "--apt-snapshot", "2021-02-01;touch pwned", "--yes"],
            not_a_date,
        ),
        // Valid, but nobody can confirm.
        (&["3.0.2"], "standard input is not a terminal"),
        (
            &["3.0.2", "--apt-snapshot", "2022-03-14"],
            "pass --yes to go ahead or --dry-run",
        ),
        // Usage errors, reported by the argument parser.
        (&[], "<VERSION>"),
        (&["3.0.2", "--yes", "--dry-run"], "cannot be used with"),
        (&["3.0.2", "--sync-deps", "--yes"], "--apt-snapshot"),
        (&["3.0.2", "4.0.0", "--yes"], "unexpected argument"),
        (&["3.0.2", "--apt-snapshot", "--yes"], "--apt-snapshot"),
    ];
    for (args, message) in cases {
        let mut argv = vec!["bump-base-image"];
        argv.extend_from_slice(args);
        let run = tree.xtask(&argv);
        run.assert_refused(&format!("{args:?}"), &[message]);
        assert!(!run.stdout.contains("wrote "), "{args:?}:\n{}", run.stdout);
        assert_unchanged(&tree, &before, &format!("{args:?}"));
    }
    assert!(!tree.path("pwned").exists());
    assert!(!common::workspace().join("xtask/pwned").exists());
    assert!(tree.git(&["status", "--porcelain"]).stdout.is_empty());
}

#[test]
fn a_dirty_file_to_edit_is_refused_unless_allow_dirty() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(
        PROPS_GO,
        "var ImageNamePrefix",
        "// work in progress\nvar ImageNamePrefix",
    );
    let before = tree.snapshot();
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(2);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
    assert!(run.stderr.contains(PROPS_GO), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-dirty"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(MAKEFILE),
        "only the dirty file is named: {}",
        run.stderr
    );
    assert_unchanged(&tree, &before, "dirty");

    // An untracked file the bump would edit is as dirty as a modified one.
    let tree2 = Tree::with_git(Layout::A);
    tree2.git(&["rm", "-q", "--cached", MAKEFILE]);
    tree2.git(&["commit", "-q", "-m", "untrack the Makefile"]);
    let run = tree2.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(2);
    assert!(run.stderr.contains(MAKEFILE), "{}", run.stderr);

    tree.xtask(&["bump-base-image", "3.0.2", "--allow-dirty", "--yes"])
        .assert_code(0);
    let props = tree.read(PROPS_GO);
    assert!(
        props.contains("// work in progress\n"),
        "the uncommitted change survives"
    );
    assert!(props.contains("var MEXInfraVersion = \"3.0.2\""));
}

#[test]
fn dirty_files_the_bump_does_not_edit_do_not_block_it() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/dependencies",
        "unzip ",
        "zip                             >=3.0-11build1\nunzip ",
    );
    tree.write("notes.txt", "untracked\n");
    tree.xtask(&["bump-base-image", "3.0.2", "--yes"])
        .assert_code(0);
    assert!(tree.read(MAKEFILE).contains("VERSION = 3.0.2\n"));
}

#[test]
fn outside_git_it_warns_and_bumps() {
    let tree = Tree::new(Layout::A);
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(0);
    assert!(run.stderr.contains("not a git checkout"), "{}", run.stderr);
    assert!(tree.read(MAKEFILE).contains("VERSION = 3.0.2\n"));
    assert!(tree.read(UPGRADE_METADATA).contains("version '1.0.15'\n"));
}

/// A cookbook already raised since HEAD is not raised again: neither when
/// raised by hand, nor by a second bump before the commit.
#[test]
fn a_cookbook_raised_since_head_is_not_bumped_again() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(UPGRADE_METADATA, "version '1.0.14'", "version '1.0.20'");
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--apt-snapshot",
        "2022-03-14",
        "--allow-dirty",
        "--yes",
    ]);
    run.assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(
        changed,
        [
            ATTRIBUTES,
            RECIPE,
            MAKEFILE,
            PACKER_BUILD_SH,
            PACKAGE_VERSION_GO,
            PROPS_GO
        ],
        "no second cookbook bump, no pin moved"
    );
    assert!(tree.read(UPGRADE_METADATA).contains("version '1.0.20'\n"));

    // Bumped once by the xtask, then bumped again before committing: still +1.
    let tree = Tree::with_git(Layout::A);
    tree.xtask(&["bump-base-image", "3.0.2", "--yes"])
        .assert_code(0);
    tree.xtask(&[
        "bump-base-image",
        "3.0.3",
        "--apt-snapshot",
        "2022-03-14",
        "--allow-dirty",
        "--yes",
    ])
    .assert_code(0);
    assert!(tree.read(UPGRADE_METADATA).contains("version '1.0.15'\n"));
    assert!(tree
        .read(BASE_POLICY)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.15'\n"));
    assert!(tree
        .read(DOCKER_CRM_POLICY)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.15'\n"));
    assert!(tree.read(MAKEFILE).contains("VERSION = 3.0.3\n"));

    // Once committed, the next bump raises it again.
    tree.git(&["commit", "-q", "-am", "3.0.3"]);
    tree.xtask(&["bump-base-image", "3.0.4", "--yes"])
        .assert_code(0);
    assert!(tree.read(UPGRADE_METADATA).contains("version '1.0.16'\n"));
    assert!(tree.read(BASE_POLICY).contains("'= 1.0.16'"));
}

#[test]
fn no_chef_leaves_chef_alone() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--no-chef", "--yes"]);
    run.assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [MAKEFILE, PACKAGE_VERSION_GO, PROPS_GO]);
    // Chef behind the package is normal until rollout: a warning, still open.
    assert!(
        run.stdout.contains("Still open after the bump"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("chef-package-version"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("stale"), "{}", run.stdout);

    // With a new snapshot the recipe changes, so its cookbook is bumped.
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--no-chef",
        "--apt-snapshot",
        "2022-03-14",
        "--yes",
    ])
    .assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(
        changed,
        [
            UPGRADE_METADATA,
            RECIPE,
            BASE_POLICY,
            DOCKER_CRM_POLICY,
            MAKEFILE,
            PACKER_BUILD_SH,
            PACKAGE_VERSION_GO,
            PROPS_GO
        ]
    );
    assert!(tree
        .read(ATTRIBUTES)
        .contains("defaultMobiledgeXPackageVersion = '3.0.1'\n"));
}

/// `check`'s help for disagreeing sites is a bump to the highest of them,
/// which the downgrade guard lets through; the disagreement is reported.
#[test]
fn a_cookbook_is_bumped_only_when_its_files_really_change() {
    // The snapshot already is 2021-02-01: the recipe does not change.
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--no-chef",
        "--apt-snapshot",
        "2021-02-01",
        "--yes",
    ])
    .assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [MAKEFILE, PACKAGE_VERSION_GO, PROPS_GO]);

    // Repairing one disagreeing site touches that file alone.
    let tree = Tree::with_git(Layout::A);
    tree.edit(PACKAGE_VERSION_GO, "\"3.0.1\"", "\"3.0.0\"");
    let before = tree.snapshot();
    tree.xtask(&["bump-base-image", "3.0.1", "--allow-dirty", "--yes"])
        .assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [PACKAGE_VERSION_GO]);
    tree.xtask(&["check"]).assert_code(0);
}

#[test]
fn disagreeing_sites_are_reported_then_all_set() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(MAKEFILE, "VERSION = 3.0.1", "VERSION = 3.0.2");
    tree.git(&["commit", "-q", "-am", "half a bump"]);
    let run = tree.xtask(&["check"]);
    run.assert_code(1);
    let help = "= help: cargo xtask bump-base-image 3.0.2";
    assert!(run.stdout.contains(help), "{}", run.stdout);

    // Lower than the highest site is still a downgrade.
    let before = tree.snapshot();
    let run = tree.xtask(&["bump-base-image", "3.0.1", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("lower than the current base image version 3.0.2"),
        "{}",
        run.stderr
    );
    assert_unchanged(&tree, &before, "downgrade below the highest site");

    let run = tree.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(0);
    assert!(run.stderr.contains("before the bump"), "{}", run.stderr);
    assert!(
        run.stderr.contains("3.0.2") && run.stderr.contains("3.0.1"),
        "{}",
        run.stderr
    );
    for (path, line) in [
        (MAKEFILE, "VERSION = 3.0.2\n"),
        (PROPS_GO, "var MEXInfraVersion = \"3.0.2\"\n"),
        (
            PACKAGE_VERSION_GO,
            "var MobiledgeXPackageVersion = \"3.0.2\"\n",
        ),
        (ATTRIBUTES, "defaultMobiledgeXPackageVersion = '3.0.2'\n"),
    ] {
        assert!(tree.read(path).contains(line), "{path}");
    }
    let (code, findings) = check_findings(&tree);
    assert_eq!(code, 1);
    assert!(
        findings.iter().all(
            |(rule, severity, _)| rule == "policy-lock" && severity == "error"
                || rule == "cookbook-pin" && severity == "warning"
        ),
        "{findings:#?}"
    );
}

#[test]
fn the_aftermath_names_what_is_still_open_and_old_mentions() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/dependencies",
        "kubelet                         =1.18.20-00",
        "kubelet                         =1.18.19-00",
    );
    std::fs::create_dir_all(tree.path("docs")).unwrap();
    tree.write(
        "docs/release-notes.md",
        "# Notes\nBase image 3.0.1 is out.\n",
    );
    tree.init_git();
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("Still open after the bump (1)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("error[kubernetes]"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("docs/release-notes.md:2: Base image 3.0.1 is out."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("chef install policyfiles/base.rb"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("next: "), "{}", run.stdout);
    assert_eq!(
        tree.read("docs/release-notes.md"),
        "# Notes\nBase image 3.0.1 is out.\n",
        "hints only"
    );
}

#[test]
fn an_equal_version_with_a_new_snapshot_moves_only_the_snapshot() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    tree.xtask(&[
        "bump-base-image",
        "3.0.1",
        "--apt-snapshot",
        "2022-03-14",
        "--yes",
    ])
    .assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(
        changed,
        [
            UPGRADE_METADATA,
            RECIPE,
            BASE_POLICY,
            DOCKER_CRM_POLICY,
            PACKER_BUILD_SH
        ]
    );
}

/// splitmix64: deterministic, so a failure replays the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A version X.Y.Z above 3.0.1: a patch, minor or major step, small or huge.
    fn version_above_3_0_1(&mut self) -> String {
        match self.below(4) {
            0 => format!("3.0.{}", 2 + self.below(200)),
            1 => format!("3.{}.{}", 1 + self.below(60), self.below(100)),
            2 => format!(
                "{}.{}.{}",
                4 + self.below(1000),
                self.below(100),
                self.below(1000)
            ),
            _ => format!(
                "{}.{}.{}",
                4 + self.below(u32::MAX as u64),
                self.below(u32::MAX as u64),
                self.below(u32::MAX as u64)
            ),
        }
    }

    /// A real calendar date YYYY-MM-DD, leap days included.
    fn date(&mut self) -> String {
        let year = 1970 + self.below(130);
        let month = 1 + self.below(12);
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        // Month ends are the interesting days: pick them often.
        let day = if self.below(3) == 0 {
            days
        } else {
            1 + self.below(days)
        };
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// For random valid versions (and snapshot dates): the bump leaves `check`
/// with nothing but stale locks (and the fixtures' own cookbook-pin warning),
/// and bumping back restores every file byte for byte, except the cookbook
/// bump, which stays: the cookbook was raised since HEAD, so the way back does
/// not raise it again, and nothing lowers a cookbook version.
#[test]
fn property_bump_then_check_then_bump_back() {
    let mut rng = Rng(0x6d6f_6269_6c65_6467);
    for round in 0..20 {
        let layout = if round % 2 == 0 { Layout::A } else { Layout::B };
        let tree = Tree::with_git(layout);
        let original = tree.snapshot();
        let (_, warnings_before) = check_findings(&tree);
        let version = rng.version_above_3_0_1();
        let typed = if rng.below(2) == 0 {
            format!("v{version}")
        } else {
            version.clone()
        };
        let snapshot = (rng.below(2) == 0).then(|| rng.date());
        let context = format!("round {round}: {layout:?} {typed} {snapshot:?}");

        let mut args = vec!["bump-base-image", typed.as_str(), "--yes"];
        if let Some(date) = &snapshot {
            args.extend(["--apt-snapshot", date.as_str()]);
        }
        let run = tree.xtask(&args);
        assert_eq!(run.code, 0, "{context}\n{}{}", run.stdout, run.stderr);
        assert!(
            tree.read(MAKEFILE)
                .contains(&format!("VERSION = {version}\n")),
            "{context}"
        );
        assert!(
            tree.read(PROPS_GO).contains(&format!("\"{version}\"")),
            "{context}"
        );
        if let Some(date) = &snapshot {
            assert!(
                tree.read(PACKER_BUILD_SH)
                    .contains(&format!("cirrus/{date}\"")),
                "{context}"
            );
        }

        let (code, findings) = check_findings(&tree);
        assert_eq!(code, 1, "{context}: the locks are stale");
        for finding in &findings {
            let (rule, severity, _) = finding;
            let stale_lock = rule == "policy-lock" && severity == "error";
            assert!(
                stale_lock || warnings_before.contains(finding),
                "{context}: {finding:?}"
            );
        }
        assert!(
            findings.iter().any(|(rule, _, _)| rule == "policy-lock"),
            "{context}"
        );

        let mut back = vec![
            "bump-base-image",
            "3.0.1",
            "--allow-downgrade",
            "--allow-dirty",
            "--yes",
        ];
        if snapshot.is_some() {
            back.extend(["--apt-snapshot", "2021-02-01"]);
        }
        let run = tree.xtask(&back);
        assert_eq!(run.code, 0, "{context}: back\n{}{}", run.stdout, run.stderr);

        // What stays: layout A's cookbook at 1.0.15 and the two pins that followed it.
        let mut expected: BTreeMap<String, (Vec<u8>, u32)> = original.clone();
        if layout == Layout::A {
            for (path, from, to) in [
                (UPGRADE_METADATA, "version '1.0.14'", "version '1.0.15'"),
                (
                    BASE_POLICY,
                    "'upgrade_mobiledgex_package', '= 1.0.14'",
                    "'upgrade_mobiledgex_package', '= 1.0.15'",
                ),
                (
                    DOCKER_CRM_POLICY,
                    "'upgrade_mobiledgex_package', '= 1.0.14'",
                    "'upgrade_mobiledgex_package', '= 1.0.15'",
                ),
            ] {
                let entry = expected.get_mut(path).unwrap();
                let text = String::from_utf8(entry.0.clone()).unwrap();
                assert_eq!(text.matches(from).count(), 1, "{path}");
                entry.0 = text.replace(from, to).into_bytes();
            }
        }
        let differences: Vec<String> = changes(&expected, &tree.snapshot()).into_keys().collect();
        assert!(
            differences.is_empty(),
            "{context}: not restored: {differences:?}"
        );

        let (code, findings) = check_findings(&tree);
        match layout {
            // The locks still name 1.0.14: stale until regenerated.
            Layout::A => {
                assert_eq!(code, 1, "{context}");
                for finding in &findings {
                    assert!(
                        finding.0 == "policy-lock" || warnings_before.contains(finding),
                        "{context}: {finding:?}"
                    );
                }
            }
            _ => assert_eq!((code, &findings), (0, &warnings_before), "{context}"),
        }
    }
}

/// The monorepo root may sit inside a larger repository: the dirty check and
/// "already raised since HEAD" must read paths relative to the root.
#[test]
fn a_root_inside_a_larger_repository() {
    let (_top, root) = Tree::inside_a_larger_repository(Layout::A);
    let xtask = |args: &[&str]| common::xtask_in(&root, args, &[]);
    let props = root.join(PROPS_GO);
    let text = std::fs::read_to_string(&props).unwrap();
    std::fs::write(&props, format!("{text}// work in progress\n")).unwrap();
    let run = xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(2);
    assert!(run.stderr.contains(PROPS_GO), "{}", run.stderr);

    xtask(&["bump-base-image", "3.0.2", "--allow-dirty", "--yes"]).assert_code(0);
    xtask(&["bump-base-image", "3.0.3", "--allow-dirty", "--yes"]).assert_code(0);
    let metadata = std::fs::read_to_string(root.join(UPGRADE_METADATA)).unwrap();
    assert!(
        metadata.contains("version '1.0.15'\n"),
        "bumped once since HEAD:\n{metadata}"
    );
}

/// The root's place in its repository is found without git only where git
/// would find the same: an empty `.git` folder at the root is no repository
/// (git looks further up, to the larger one), and a `.git` file whose
/// repository is gone means no checkout at all, as it did with git asked.
#[test]
fn a_dot_git_that_git_would_not_use_is_not_taken_for_a_repository() {
    let (_top, root) = Tree::inside_a_larger_repository(Layout::A);
    std::fs::create_dir(root.join(".git")).unwrap();
    let props = root.join(PROPS_GO);
    let text = std::fs::read_to_string(&props).unwrap();
    std::fs::write(&props, format!("{text}// work in progress\n")).unwrap();
    let run = common::xtask_in(&root, &["bump-base-image", "3.0.2", "--yes"], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
    assert!(run.stderr.contains(PROPS_GO), "{}", run.stderr);

    let tree = Tree::new(Layout::A);
    tree.write(".git", "gitdir: /nonexistent/worktrees/gone\n");
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--yes"]);
    run.assert_code(0);
    assert!(run.stderr.contains("not a git checkout"), "{}", run.stderr);
    assert!(tree
        .read(PROPS_GO)
        .contains("var MEXInfraVersion = \"3.0.2\""));
}

/// Who commits when the bump commits.
const COMMITTER: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Tester"),
    ("GIT_AUTHOR_EMAIL", "tester@example.com"),
    ("GIT_COMMITTER_NAME", "Tester"),
    ("GIT_COMMITTER_EMAIL", "tester@example.com"),
];

fn git_text(tree: &Tree, args: &[&str]) -> String {
    String::from_utf8_lossy(&tree.git(args).stdout)
        .trim()
        .to_string()
}

#[test]
fn commit_records_only_the_bumps_edits_with_the_humans_message() {
    let tree = Tree::with_git(Layout::A);
    // Someone else's uncommitted work, in a file the bump does not edit.
    let cache = "openstack-tenant/packer/docker-image-cache.txt";
    let text = tree.read(cache);
    tree.write(cache, &format!("{text}# mine\n"));
    let run = tree.xtask_env(
        &[
            "bump-base-image",
            "3.0.2",
            "--no-chef",
            "--commit",
            "--ticket",
            "EDGECLOUD-6295",
            "--yes",
        ],
        &COMMITTER,
    );
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("committed: EDGECLOUD-6295 Base image 3.0.2"),
        "{}",
        run.stdout
    );
    assert_eq!(
        git_text(&tree, &["log", "-1", "--format=%s"]),
        "EDGECLOUD-6295 Base image 3.0.2"
    );
    assert_eq!(
        git_text(&tree, &["show", "--name-only", "--format=", "HEAD"]),
        [MAKEFILE, PACKAGE_VERSION_GO, PROPS_GO].join("\n")
    );
    // Only the other file is left uncommitted.
    assert_eq!(
        git_text(&tree, &["status", "--porcelain", "--untracked-files=no"]),
        "M openstack-tenant/packer/docker-image-cache.txt"
    );
}

#[test]
fn with_chef_edits_the_commit_waits_for_the_lock() {
    for layout in [Layout::A, Layout::B] {
        let tree = Tree::with_git(layout);
        let head = common::head_of(&tree);
        let run = tree.xtask_env(
            &["bump-base-image", "3.0.2", "--commit", "--yes"],
            &COMMITTER,
        );
        run.assert_code(0);
        for said in [
            "the bump was not committed: it leaves chef/policyfiles/base.lock.json",
            "The commit waits for the lock: run `cargo xtask chef-policy`",
            "git commit -m 'Base image 3.0.2'",
            "the edits are in place",
        ] {
            assert!(run.stderr.contains(said), "{said}:\n{}", run.stderr);
        }
        assert_eq!(common::head_of(&tree), head, "nothing committed");
        assert!(tree.read(MAKEFILE).contains("VERSION = 3.0.2"));
        assert_eq!(
            git_text(&tree, &["diff", "--cached", "--name-only"]),
            "",
            "nothing staged"
        );
    }
}

#[test]
fn the_commit_goes_through_the_pre_commit_hook() {
    let tree = Tree::with_git(Layout::A);
    let head = common::head_of(&tree);
    let hooks = tree.path(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    common::write_executable(
        &hooks.join("pre-commit"),
        b"#!/bin/sh\necho 'hook: not today' >&2\nexit 1\n",
    );
    let run = tree.xtask_env(
        &["bump-base-image", "3.0.2", "--no-chef", "--commit", "--yes"],
        &COMMITTER,
    );
    run.assert_code(1);
    assert!(run.all().contains("hook: not today"), "{}", run.all());
    assert!(run.stderr.contains("git commit refused"), "{}", run.stderr);
    assert_eq!(common::head_of(&tree), head);
    assert!(
        tree.read(MAKEFILE).contains("VERSION = 3.0.2"),
        "edits stay"
    );
}

#[test]
fn commit_in_a_dry_run_says_what_it_would_do_and_ticket_needs_commit() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "bump-base-image",
        "3.0.2",
        "--no-chef",
        "--commit",
        "--dry-run",
    ]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("would commit 3 file(s) once `check --staged` passes: Base image 3.0.2"),
        "{}",
        run.stdout
    );
    let run = tree.xtask(&["bump-base-image", "3.0.2", "--ticket", "X-1", "--dry-run"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--commit"), "{}", run.stderr);
    assert_unchanged(&tree, &before, "dry runs");
}
