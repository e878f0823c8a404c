//! `bump-base-image` and `chef-policy` on the tree the humans shipped: the
//! same sites their own bump commits edit (e.g. efcc514c9, base image 4.10.0),
//! nothing else, and a lock that `chef install` regenerates.

use std::collections::BTreeMap;

use crate::common::{changes, Fakes, Tree};

const BASE_LOCK: &str = "chef/policyfiles/base.lock.json";

/// Every changed line of every changed file: path → [(old, new)].
fn changed_lines(
    tree: &Tree,
    before: &crate::common::Snapshot,
) -> BTreeMap<String, Vec<(String, String)>> {
    changes(before, &tree.snapshot())
        .into_iter()
        .map(|(path, after)| {
            let old = String::from_utf8(before[&path].0.clone()).unwrap();
            let new = String::from_utf8(after.expect("no file is removed")).unwrap();
            assert_eq!(
                old.lines().count(),
                new.lines().count(),
                "{path}: lines added or removed"
            );
            let pairs = old
                .lines()
                .zip(new.lines())
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            (path, pairs)
        })
        .collect()
}

fn pair(old: &str, new: &str) -> (String, String) {
    (old.to_string(), new.to_string())
}

#[test]
fn the_bump_edits_every_site_and_nothing_else() {
    let Some(tree) = Tree::real() else { return };
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "bump-base-image",
        "4.10.1",
        "--apt-snapshot",
        "2022-05-01",
        "--yes",
    ]);
    run.assert_code(0);
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        (
            "chef/policyfiles/base.rb",
            vec![
                pair(
                    "default['upgrade_mobiledgex_package']['repo'] = \"https://apt.mobiledgex.net/cirrus/2022-03-16\"",
                    "default['upgrade_mobiledgex_package']['repo'] = \"https://apt.mobiledgex.net/cirrus/2022-05-01\"",
                ),
                pair(
                    "default['mobiledgeXPackageVersion'] = '4.10.0'",
                    "default['mobiledgeXPackageVersion'] = '4.10.1'",
                ),
            ],
        ),
        (
            "openstack-tenant/packages/mobiledgex/Makefile",
            vec![pair("VERSION = 4.10.0", "VERSION = 4.10.1")],
        ),
        (
            "openstack-tenant/packer/build.sh",
            vec![pair(
                "APT_REPO=\"https://apt.mobiledgex.net/cirrus/2022-03-16\"",
                "APT_REPO=\"https://apt.mobiledgex.net/cirrus/2022-05-01\"",
            )],
        ),
        (
            "version/package-version.go",
            vec![pair(
                "var MobiledgeXPackageVersion = \"4.10.0\"",
                "var MobiledgeXPackageVersion = \"4.10.1\"",
            )],
        ),
        (
            "vmlayer/props.go",
            vec![pair(
                "var MEXInfraVersion = \"4.10.0\"",
                "var MEXInfraVersion = \"4.10.1\"",
            )],
        ),
    ]
    .into_iter()
    .map(|(path, pairs)| (path.to_string(), pairs))
    .collect();
    assert_eq!(changed_lines(&tree, &before), expected);
    // What is left: the base policy's lock, named with the command that regenerates it.
    assert!(
        run.stdout.contains(
            "(cd chef && rm -f policyfiles/base.lock.json && chef install policyfiles/base.rb)"
        ),
        "{}",
        run.stdout
    );
    let run = tree.xtask(&["check", "--json"]);
    run.assert_code(1);
    let errors: Vec<String> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("chef/policyfiles/base.lock.json is stale: attribute upgrade_mobiledgex_package.repo is https://apt.mobiledgex.net/cirrus/2022-05-01"),
        "{errors:?}"
    );
}

#[test]
fn chef_policy_after_the_bump_regenerates_the_lock() {
    let Some(tree) = Tree::real() else { return };
    tree.xtask(&[
        "bump-base-image",
        "4.10.1",
        "--apt-snapshot",
        "2022-05-01",
        "--yes",
    ])
    .assert_code(0);
    let fakes = Fakes::new();
    let bumped = tree.snapshot();

    // Offline: nothing to edit in layout B, the commands left to run.
    let run = tree.xtask_env(&["chef-policy", "--offline", "--yes"], &fakes.env());
    run.assert_code(0);
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert!(tree.snapshot() == bumped, "--offline wrote a file");
    assert!(
        run.stdout.contains("chef install policyfiles/base.rb"),
        "{}",
        run.stdout
    );

    // Online, with the chef server holding what base.rb pins.
    fakes.seed_cookbooks(&[
        ("chef_client_updater", "3.11.0"),
        ("runstatus_handler", "1.0.0"),
        ("copy_resource_tracker", "1.0.1"),
        ("set_security_policies", "1.0.0"),
        ("setup_teleport", "1.1.0"),
        ("upgrade_mobiledgex_package", "1.1.1"),
    ]);
    let run = tree.xtask_env(&["chef-policy", "--yes"], &fakes.env());
    run.assert_code(0);
    let calls = fakes.calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "chef install policyfiles/base.rb"),
        "{calls:?}"
    );
    let lock: serde_json::Value = serde_json::from_str(&tree.read(BASE_LOCK)).unwrap();
    assert_eq!(
        lock["default_attributes"]["mobiledgeXPackageVersion"],
        "4.10.1"
    );
    assert_eq!(
        lock["default_attributes"]["upgrade_mobiledgex_package"]["repo"],
        "https://apt.mobiledgex.net/cirrus/2022-05-01"
    );
    let run = tree.xtask(&["check"]);
    run.assert_code(0);
    assert!(!run.stdout.contains("[policy-lock]"), "{}", run.stdout);
}

#[test]
fn bump_commit_on_the_real_tree() {
    let Some(tree) = Tree::real() else { return };
    let fakes = Fakes::new();
    let head = crate::common::head_of(&tree);
    // Chef moves too: base.lock.json is stale, so the commit waits for it.
    let run = tree.xtask_env(
        &[
            "bump-base-image",
            "4.10.1",
            "--commit",
            "--ticket",
            "EDGECLOUD-6295",
            "--yes",
        ],
        &fakes.env(),
    );
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("The commit waits for the lock: run `cargo xtask chef-policy`"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::common::head_of(&tree), head);

    // Without chef, the three version sites pass `check --staged` and commit.
    let tree = Tree::real().unwrap();
    let run = tree.xtask_env(
        &[
            "bump-base-image",
            "4.10.1",
            "--no-chef",
            "--commit",
            "--ticket",
            "EDGECLOUD-6295",
            "--yes",
        ],
        &fakes.env(),
    );
    run.assert_code(0);
    let show = tree.git(&["show", "--name-only", "--format=%s", "HEAD"]);
    assert_eq!(
        String::from_utf8_lossy(&show.stdout).trim(),
        "EDGECLOUD-6295 Base image 4.10.1\n\nopenstack-tenant/packages/mobiledgex/Makefile\nversion/package-version.go\nvmlayer/props.go"
    );
}
