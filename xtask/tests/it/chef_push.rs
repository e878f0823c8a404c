//! `cargo xtask chef-push` end to end with the fake chef (tests/fixtures/bin).

use crate::common;

use common::{monorepo_files, Fakes, Layout, Tree};

const PUSH: &str = "chef push stage policyfiles/base.lock.json";
const WARNING: &str =
    "Push the updated policy ONLY AFTER all the supporting code has been rolled out";

fn pushed(fakes: &Fakes, group: &str) -> Option<String> {
    std::fs::read_to_string(fakes.state().join("policy_groups").join(group).join("base")).ok()
}

#[test]
fn pushes_the_base_lock_to_the_group_with_yes() {
    for layout in [Layout::A, Layout::B] {
        let tree = Tree::with_git(layout);
        let fakes = Fakes::new();
        let before = monorepo_files(&tree);
        let run = fakes.run(&tree, &["chef-push", "--group", "stage", "--yes"]);
        run.assert_code(0);
        assert!(run.stderr.contains(WARNING), "{}", run.stderr);
        assert_eq!(fakes.calls(), [PUSH]);
        let revision: serde_json::Value =
            serde_json::from_str(&tree.read("chef/policyfiles/base.lock.json")).unwrap();
        assert_eq!(
            pushed(&fakes, "stage").as_deref().map(str::trim),
            revision["revision_id"].as_str()
        );
        assert!(
            run.stdout.contains("[1/1] push the base policy to stage"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("$ cd chef && chef push stage policyfiles/base.lock.json"),
            "{}",
            run.stdout
        );
        assert_eq!(monorepo_files(&tree), before);
        fakes.assert_no_secrets(&tree, &run);
    }
}

#[test]
fn without_a_terminal_and_without_yes_it_refuses() {
    let tree = Tree::with_git(Layout::A);
    let fakes = Fakes::new();
    let run = fakes.run(&tree, &["chef-push", "--group", "main"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(WARNING),
        "the warning comes first:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pass --yes to push to main"),
        "{}",
        run.stderr
    );
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert_eq!(pushed(&fakes, "main"), None);
}

#[test]
fn a_stale_lock_is_not_pushed() {
    let tree = Tree::with_git(Layout::B);
    tree.edit(
        "chef/policyfiles/base.rb",
        "default['mobiledgeXPackageVersion'] = '3.0.1'",
        "default['mobiledgeXPackageVersion'] = '3.0.0'",
    );
    let fakes = Fakes::new();
    let run = fakes.run(&tree, &["chef-push", "--group", "stage", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("error[policy-lock]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("chef/policyfiles/base.lock.json is stale"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
    assert_eq!(fakes.calls(), Vec::<String>::new());

    let tree = Tree::with_git(Layout::A);
    std::fs::remove_file(tree.path("chef/policyfiles/base.lock.json")).unwrap();
    let run = fakes.run(&tree, &["chef-push", "--group", "stage", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("has no lock file"), "{}", run.stderr);
    assert_eq!(fakes.calls(), Vec::<String>::new());
}

#[test]
fn check_errors_stop_the_push() {
    let tree = Tree::with_git(Layout::A);
    tree.edit("vmlayer/props.go", "\"3.0.1\"", "\"3.0.2\"");
    let fakes = Fakes::new();
    let run = fakes.run(&tree, &["chef-push", "--group", "qa", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("error[package-version]"),
        "{}",
        run.stderr
    );
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert_eq!(pushed(&fakes, "qa"), None);
}

#[test]
fn a_failed_push_exits_1_and_a_missing_chef_exits_2() {
    let tree = Tree::with_git(Layout::A);
    let mut fakes = Fakes::new();
    fakes.set("XTASK_FAKE_FAIL", "chef:push");
    let run = fakes.run(&tree, &["chef-push", "--group", "dev", "--yes"]);
    run.assert_code(1);
    assert_eq!(fakes.calls(), ["chef push dev policyfiles/base.lock.json"]);
    assert!(run.stdout.contains("failed (exit 1)"), "{}", run.stdout);
    assert_eq!(pushed(&fakes, "dev"), None);

    let empty = common::TempDir::new("no-chef");
    fakes.set("PATH", empty.path().to_str().unwrap());
    let run = fakes.run(&tree, &["chef-push", "--group", "dev", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("chef: part of Chef Workstation"),
        "{}",
        run.stderr
    );
}

#[test]
fn only_the_four_groups_exist() {
    let tree = Tree::with_git(Layout::A);
    let fakes = Fakes::new();
    let run = fakes.run(&tree, &["chef-push", "--group", "prod", "--yes"]);
    run.assert_code(2);
    assert_eq!(fakes.calls(), Vec::<String>::new());
}
