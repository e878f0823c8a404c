//! `cargo xtask chef-policy` end to end with fake knife and chef
//! (tests/fixtures/bin) against a fake chef server, in both chef layouts.

use crate::common;

use common::{monorepo_files, Fakes, Layout, Tree};

const COOKBOOK: &str = "upgrade_mobiledgex_package";
const METADATA: &str = "chef/cookbooks/upgrade_mobiledgex_package/metadata.rb";
const ATTRIBUTES: &str = "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb";
const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
const BASE: &str = "chef/policyfiles/base.rb";
const BASE_LOCK: &str = "chef/policyfiles/base.lock.json";
const DOCKER: &str = "chef/policyfiles/docker_crm.rb";
const DOCKER_LOCK: &str = "chef/policyfiles/docker_crm.lock.json";

/// The tree after `bump-base-image 3.0.2 --no-chef`, committed: chef is behind.
fn bumped(layout: Layout) -> Tree {
    let tree = Tree::with_git(layout);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/Makefile",
        "VERSION = 3.0.1",
        "VERSION = 3.0.2",
    );
    tree.edit("vmlayer/props.go", "\"3.0.1\"", "\"3.0.2\"");
    tree.edit("version/package-version.go", "\"3.0.1\"", "\"3.0.2\"");
    tree.git(&["commit", "-q", "-am", "bump to 3.0.2"]);
    tree
}

fn server() -> Fakes {
    let fakes = Fakes::new();
    fakes.seed_rendition_cookbooks();
    fakes
}

/// Layout A's whole chef section: show, upload, verify, then both locks
/// (each policy pins the upgrade cookbook).
fn layout_a_calls(tree: &Tree) -> Vec<String> {
    vec![
        knife_show(),
        knife_upload(tree),
        knife_show(),
        "chef install policyfiles/base.rb".to_string(),
        "chef install policyfiles/docker_crm.rb".to_string(),
    ]
}

fn knife_show() -> String {
    format!("knife cookbook show {COOKBOOK}")
}

fn knife_upload(tree: &Tree) -> String {
    format!(
        "knife upload --chef-repo-path {} cookbooks/{COOKBOOK}",
        tree.path("chef").display()
    )
}

fn lock_json(tree: &Tree, rel: &str) -> serde_json::Value {
    serde_json::from_str(&tree.read(rel)).unwrap()
}

fn on_server(fakes: &Fakes, version: &str) -> bool {
    fakes
        .state()
        .join("cookbooks")
        .join(COOKBOOK)
        .join(version)
        .is_file()
}

#[test]
fn layout_a_edits_bumps_uploads_and_regenerates_the_locks() {
    let tree = bumped(Layout::A);
    let fakes = server();
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(0);
    assert_eq!(fakes.calls(), layout_a_calls(&tree));
    assert!(tree
        .read(ATTRIBUTES)
        .contains("defaultMobiledgeXPackageVersion = '3.0.2'\n"));
    assert!(tree.read(METADATA).contains("version '1.0.15'\n"));
    assert!(tree
        .read(BASE)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.15'\n"));
    assert!(tree
        .read(DOCKER)
        .contains("cookbook 'upgrade_mobiledgex_package', '= 1.0.15'\n"));
    // Older pins of other cookbooks stay.
    assert!(tree
        .read(DOCKER)
        .contains("cookbook 'setup_infra', '= 1.0.2'\n"));
    assert!(on_server(&fakes, "1.0.15"));
    for lock in [BASE_LOCK, DOCKER_LOCK] {
        let json = lock_json(&tree, lock);
        assert_eq!(
            json["cookbook_locks"][COOKBOOK]["version"], "1.0.15",
            "{lock}"
        );
    }
    assert_eq!(
        lock_json(&tree, BASE_LOCK)["default_attributes"]["chef_client_updater"]["version"],
        "17.6.18"
    );
    for step in [
        "[1/5]",
        "[2/5] upload cookbook upgrade_mobiledgex_package",
        "[5/5] regenerate chef/policyfiles/docker_crm.lock.json",
    ] {
        assert!(run.stdout.contains(step), "{step}:\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains(
            "verified chef/policyfiles/base.lock.json: locks upgrade_mobiledgex_package 1.0.15"
        ),
        "{}",
        run.stdout
    );
    // The result passes every rule.
    tree.xtask(&["check"]).assert_code(0);
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn apt_snapshot_moves_only_the_date_in_the_bionic_block() {
    let tree = bumped(Layout::A);
    tree.edit(
        "openstack-tenant/packer/build.sh",
        "cirrus/2021-02-01",
        "cirrus/2021-03-15",
    );
    tree.git(&["commit", "-q", "-am", "new snapshot"]);
    let recipe = tree.read(RECIPE);
    let fakes = server();
    let run = fakes.run(
        &tree,
        &["chef-policy", "--apt-snapshot", "2021-03-15", "--yes"],
    );
    run.assert_code(0);
    assert_eq!(
        tree.read(RECIPE),
        recipe.replace("cirrus/2021-02-01", "cirrus/2021-03-15"),
        "only the date changes; the cirrus block keeps its Artifactory URI"
    );
    assert!(tree.read(METADATA).contains("version '1.0.15'\n"));
    assert_eq!(fakes.calls()[1], knife_upload(&tree));
    assert!(
        run.stdout.contains("APT snapshot 2021-03-15"),
        "{}",
        run.stdout
    );
    tree.xtask(&["check"]).assert_code(0);
}

#[test]
fn layout_b_edits_the_policy_and_regenerates_its_lock_without_an_upload() {
    let tree = bumped(Layout::B);
    let metadata = tree.read(METADATA);
    let fakes = server();
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(0);
    assert_eq!(
        fakes.calls(),
        [knife_show(), "chef install policyfiles/base.rb".to_string()]
    );
    assert!(tree
        .read(BASE)
        .contains("default['mobiledgeXPackageVersion'] = '3.0.2'\n"));
    assert_eq!(
        tree.read(METADATA),
        metadata,
        "no cookbook file changed: no bump"
    );
    let lock = lock_json(&tree, BASE_LOCK);
    assert_eq!(
        lock["default_attributes"]["mobiledgeXPackageVersion"],
        "3.0.2"
    );
    assert_eq!(lock["cookbook_locks"][COOKBOOK]["version"], "1.0.14");
    assert!(
        run.stdout
            .contains("skipped: the chef server already has upgrade_mobiledgex_package 1.0.14"),
        "{}",
        run.stdout
    );
    tree.xtask(&["check"]).assert_code(0);
}

#[test]
fn layout_b_with_a_cookbook_version_uploads_it() {
    let tree = bumped(Layout::B);
    let fakes = server();
    let run = fakes.run(
        &tree,
        &["chef-policy", "--cookbook-version", "1.1.0", "--yes"],
    );
    run.assert_code(0);
    assert_eq!(fakes.calls(), layout_a_calls(&tree));
    assert!(tree.read(METADATA).contains("version '1.1.0'\n"));
    assert!(on_server(&fakes, "1.1.0"));
    assert_eq!(
        lock_json(&tree, BASE_LOCK)["cookbook_locks"][COOKBOOK]["version"],
        "1.1.0"
    );
}

#[test]
fn offline_edits_and_prints_the_commands_left_to_run() {
    let tree = bumped(Layout::A);
    let fakes = server();
    let lock = tree.read(BASE_LOCK);
    let run = fakes.run(&tree, &["chef-policy", "--offline", "--yes"]);
    run.assert_code(0);
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert!(tree.read(METADATA).contains("version '1.0.15'\n"));
    assert_eq!(
        tree.read(BASE_LOCK),
        lock,
        "locks are regenerated later, by chef"
    );
    let left: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("Left to run"))
        .skip(1)
        .map(str::trim)
        .collect();
    assert_eq!(
        left[..7],
        [
            "knife cookbook show upgrade_mobiledgex_package    # must not list 1.0.15 yet",
            knife_upload(&tree).as_str(),
            "knife cookbook show upgrade_mobiledgex_package    # must list 1.0.15",
            "rm policyfiles/base.lock.json",
            "chef install policyfiles/base.rb",
            "rm policyfiles/docker_crm.lock.json",
            "chef install policyfiles/docker_crm.rb",
        ]
    );

    // Online afterwards: the edits are found done, the cookbook is not bumped again.
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(0);
    assert!(tree.read(METADATA).contains("version '1.0.15'\n"));
    assert_eq!(fakes.calls()[1], knife_upload(&tree));
    tree.xtask(&["check"]).assert_code(0);
}

#[test]
fn a_version_the_server_already_has_is_refused_before_anything_is_written() {
    let tree = bumped(Layout::A);
    let fakes = server();
    fakes.seed_cookbooks(&[(COOKBOOK, "1.0.15")]);
    let before = monorepo_files(&tree);
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(1);
    assert_eq!(fakes.calls(), [knife_show()]);
    assert!(
        run.stderr
            .contains("already has upgrade_mobiledgex_package 1.0.15"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--cookbook-version"), "{}", run.stderr);
    assert_eq!(monorepo_files(&tree), before);
}

#[test]
fn a_failed_upload_stops_before_the_locks_are_touched() {
    let tree = bumped(Layout::A);
    let mut fakes = server();
    fakes.set("XTASK_FAKE_FAIL", "knife:upload");
    let lock = tree.read(BASE_LOCK);
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(1);
    assert_eq!(fakes.calls(), [knife_show(), knife_upload(&tree)]);
    assert_eq!(tree.read(BASE_LOCK), lock);
    assert!(!on_server(&fakes, "1.0.15"));
    assert!(run.stdout.contains("full log: "), "{}", run.stdout);
    assert!(
        run.stderr.contains("nothing after it ran"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failed_chef_install_stops_the_other_locks() {
    let tree = bumped(Layout::A);
    let mut fakes = server();
    fakes.set("XTASK_FAKE_FAIL", "chef:install");
    // An unusual mode, to see it come back too.
    std::fs::set_permissions(
        tree.path(BASE_LOCK),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let lock = std::fs::read(tree.path(BASE_LOCK)).unwrap();
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(1);
    // The lock removed for `chef install` is back, byte for byte, mode too.
    assert_eq!(std::fs::read(tree.path(BASE_LOCK)).unwrap(), lock);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(tree.path(BASE_LOCK))
                .unwrap()
                .permissions()
        ) & 0o777,
        0o640
    );
    assert!(
        run.stdout
            .contains("restored chef/policyfiles/base.lock.json as it was"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fakes.calls(),
        [
            knife_show(),
            knife_upload(&tree),
            knife_show(),
            "chef install policyfiles/base.rb".to_string()
        ]
    );
}

#[test]
fn a_wrong_lock_fails_the_verification() {
    let tree = bumped(Layout::A);
    let mut fakes = server();
    fakes.set("XTASK_FAKE_CHEF_LOCK", "wrong");
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("the lock `chef install` wrote does not match chef/policyfiles/base.rb"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("upgrade_mobiledgex_package is pinned to 1.0.15 but locked at 1.0.14"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("attribute chef_client_updater.version is 17.6.18 but the lock has nothing"),
        "{}",
        run.stderr
    );
    // Nothing after the failed verification: the second lock is not regenerated.
    assert_eq!(
        fakes.calls().last().unwrap(),
        "chef install policyfiles/base.rb"
    );
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let tree = bumped(Layout::A);
    let before = monorepo_files(&tree);
    let cases: [(&[&str], &str); 7] = [
        (
            &["--apt-snapshot", "2021-02-30"],
            "not an APT snapshot date",
        ),
        (&["--apt-snapshot", "21-02-01"], "not an APT snapshot date"),
        (
            &["--apt-snapshot", "2021-02-01/../x"],
            "not an APT snapshot date",
        ),
        (&["--cookbook-version", "1.0"], "--cookbook-version"),
        (
            &["--cookbook-version", "1.0.14"],
            "not higher than upgrade_mobiledgex_package's version 1.0.14",
        ),
        (&["--cookbook-version", "1.0.3"], "not higher"),
        // chef follows the image: a snapshot packer does not build from breaks apt-snapshot.
        (
            &["--apt-snapshot", "2021-03-01"],
            "bump-base-image <VERSION> --apt-snapshot 2021-03-01",
        ),
    ];
    for (args, said) in cases {
        let fakes = server();
        let mut argv = vec!["chef-policy", "--yes"];
        argv.extend(args);
        fakes
            .run(&tree, &argv)
            .assert_refused(&format!("{argv:?}"), &[said]);
        assert_eq!(fakes.calls(), Vec::<String>::new(), "{argv:?}");
        assert_eq!(monorepo_files(&tree), before, "{argv:?}");
    }
}

#[test]
fn without_yes_it_previews_or_refuses() {
    let tree = bumped(Layout::A);
    let before = tree.snapshot();
    let fakes = server();

    let run = fakes.run(&tree, &["chef-policy"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);

    let run = fakes.run(&tree, &["chef-policy", "--dry-run"]);
    run.assert_code(0);
    assert!(run.stdout.contains("+version '1.0.15'"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("[2/5] upload cookbook upgrade_mobiledgex_package  irreversible"),
        "{}",
        run.stdout
    );

    let run = fakes.run(&tree, &["chef-policy", "--offline", "--dry-run"]);
    run.assert_code(0);
    assert!(run.stdout.contains("dry run"), "{}", run.stdout);
    // The commands the edits would leave, as a real --offline prints them.
    assert!(
        run.stdout
            .contains("After these edits, left to run, from chef/:"),
        "{}",
        run.stdout
    );
    for command in [
        "knife cookbook show upgrade_mobiledgex_package    # must not list 1.0.15 yet",
        "rm policyfiles/base.lock.json",
        "chef install policyfiles/base.rb",
    ] {
        assert!(run.stdout.contains(command), "{command}:\n{}", run.stdout);
    }

    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn nothing_to_do_when_chef_already_references_the_version() {
    let tree = Tree::with_git(Layout::A);
    let fakes = server();
    // Without --yes and without a terminal too: with nothing to do, nobody need answer.
    for args in [&["chef-policy", "--yes"][..], &["chef-policy"][..]] {
        let run = fakes.run(&tree, args);
        run.assert_code(0);
        assert!(
            run.stdout
                .contains("chef already references mobiledgex 3.0.1 and APT snapshot 2021-02-01"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("nothing to do"));
    }
    assert_eq!(fakes.calls(), Vec::<String>::new());
}

#[test]
fn check_errors_block_the_upload() {
    let tree = bumped(Layout::A);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/dependencies",
        "kubelet                         =1.18.20-00",
        "kubelet                         =1.18.19-00",
    );
    let before = monorepo_files(&tree);
    let fakes = server();
    let run = fakes.run(&tree, &["chef-policy", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("error[kubernetes]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("nothing is uploaded while a check fails"),
        "{}",
        run.stderr
    );
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert_eq!(monorepo_files(&tree), before);
}

#[test]
fn quiet_keeps_the_tools_output_in_the_logs_only() {
    // -q works the same in every command: chef-policy's knife and chef too.
    let loud_tree = bumped(Layout::A);
    let fakes = server();
    let loud = fakes.run(&loud_tree, &["chef-policy", "--yes"]);
    loud.assert_code(0);
    assert!(
        loud.stdout.contains("Building policy base"),
        "{}",
        loud.stdout
    );

    let quiet_tree = bumped(Layout::A);
    let fakes = server();
    let quiet = fakes.run(&quiet_tree, &["-q", "chef-policy", "--yes"]);
    quiet.assert_code(0);
    assert!(
        !quiet.all().contains("Building policy base"),
        "{}",
        quiet.all()
    );
    // Still done, and still in the step's log.
    assert_eq!(
        lock_json(&quiet_tree, BASE_LOCK)["cookbook_locks"][COOKBOOK]["version"],
        "1.0.15"
    );
    let logs = quiet_tree.path("target/xtask/logs");
    let logged = walkdir::WalkDir::new(&logs)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .any(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|text| text.contains("Building policy base"))
        });
    assert!(
        logged,
        "no log under {} holds chef's output",
        logs.display()
    );
}
