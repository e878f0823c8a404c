//! `cargo xtask chef-push` end to end with the fake chef (tests/fixtures/bin),
//! a bare git remote and a loopback Artifactory.

use crate::common;

use common::apt::{apt_server, packages_of, tree_with_snapshot, APT_REPO, DEPENDENCIES};
use common::artifactory::stateful_artifactory;
use common::http::Server;
use common::{git_in, monorepo_files, Fakes, Layout, TempDir, Tree};

const PUSH: &str = "chef push stage policyfiles/base.lock.json";
const SHOW: &str = "chef show-policy base stage";
const WARNING: &str =
    "Push the updated policy ONLY AFTER all the supporting code has been rolled out";
const LOCK: &str = "chef/policyfiles/base.lock.json";
const DEB: &str = "/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb";
const IMAGE: &str = "/artifactory/baseimages/mobiledgex-v3.0.1.qcow2";

/// A tree whose HEAD is on `origin/main`, the fake tools, and an Artifactory
/// holding what `published` names (ARTIFACTORY_URL points at it).
struct Setup {
    tree: Tree,
    fakes: Fakes,
    artifactory: Server,
    _remote: TempDir,
}

impl Setup {
    fn new(layout: Layout, published: &[&str]) -> Setup {
        Setup::on(Tree::with_git(layout), published)
    }

    fn on(tree: Tree, published: &[&str]) -> Setup {
        let remote = TempDir::new("remote");
        git_in(remote.path(), &["init", "-q", "--bare"]);
        tree.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
        tree.git(&["push", "-q", "origin", "main"]);
        let artifactory = stateful_artifactory(published);
        let mut fakes = Fakes::new();
        fakes.set("ARTIFACTORY_URL", &artifactory.url("/artifactory"));
        Setup {
            tree,
            fakes,
            artifactory,
            _remote: remote,
        }
    }

    fn run(&self, args: &[&str]) -> common::Run {
        self.fakes.run(&self.tree, args)
    }

    fn pushed(&self, group: &str) -> Option<String> {
        pushed(&self.fakes, group)
    }
}

fn pushed(fakes: &Fakes, group: &str) -> Option<String> {
    std::fs::read_to_string(fakes.state().join("policy_groups").join(group).join("base")).ok()
}

fn revision(tree: &Tree) -> String {
    let lock: serde_json::Value = serde_json::from_str(&tree.read(LOCK)).unwrap();
    lock["revision_id"].as_str().unwrap().to_string()
}

#[test]
fn pushes_the_base_lock_to_the_group_with_yes() {
    for layout in [Layout::A, Layout::B] {
        let setup = Setup::new(layout, &[DEB, IMAGE]);
        let before = monorepo_files(&setup.tree);
        let run = setup.run(&["chef-push", "--group", "stage", "--yes"]);
        run.assert_code(0);
        assert!(run.stderr.contains(WARNING), "{}", run.stderr);
        assert_eq!(setup.fakes.calls(), [SHOW, PUSH]);
        assert_eq!(
            setup.pushed("stage").as_deref().map(str::trim),
            Some(revision(&setup.tree).as_str())
        );
        for said in [
            "ok chef/policyfiles/base.lock.json and chef/policyfiles/base.rb are committed",
            "is on origin/main",
            "the policy installs mobiledgex 3.0.1: http://127.0.0.1:",
            "the base image of 3.0.1 is in Artifactory: http://127.0.0.1:",
            "the group has no base policy yet: the push gives it revision",
            "[1/1] push the base policy to stage",
            "$ cd chef && chef push stage policyfiles/base.lock.json",
        ] {
            assert!(run.stdout.contains(said), "{said}:\n{}", run.stdout);
        }
        let mut heads = setup.artifactory.paths();
        heads.sort();
        assert_eq!(heads, [IMAGE, DEB]);
        assert_eq!(monorepo_files(&setup.tree), before);
        setup.fakes.assert_no_secrets(&setup.tree, &run);

        // The group has that revision now: nothing to push.
        let run = setup.run(&["chef-push", "--group", "stage", "--yes"]);
        run.assert_code(0);
        assert!(
            run.stdout
                .contains("policy group stage already has revision"),
            "{}",
            run.stdout
        );
        assert_eq!(setup.fakes.calls(), [SHOW, PUSH, SHOW]);
    }
}

#[test]
fn shows_what_changes_against_the_groups_current_revision() {
    let setup = Setup::new(Layout::B, &[DEB, IMAGE]);
    // The group runs an older policy: another cookbook version, package version and revision.
    let mut current: serde_json::Value = serde_json::from_str(&setup.tree.read(LOCK)).unwrap();
    current["revision_id"] = "0123456789abcdef".into();
    current["cookbook_locks"]["upgrade_mobiledgex_package"]["version"] = "1.0.13".into();
    current["default_attributes"]["mobiledgeXPackageVersion"] = "3.0.0".into();
    let group = setup.fakes.state().join("policy_groups/qa");
    std::fs::create_dir_all(&group).unwrap();
    std::fs::write(group.join("base.lock.json"), current.to_string()).unwrap();

    let run = setup.run(&["chef-push", "--group", "qa", "--dry-run"]);
    run.assert_code(0);
    let new = revision(&setup.tree);
    for said in [
        "Against policy group qa:".to_string(),
        format!("revision 0123456789 → {}", &new[..10]),
        "cookbook upgrade_mobiledgex_package 1.0.13 → 1.0.14".to_string(),
        "default['mobiledgeXPackageVersion']: \"3.0.0\" → \"3.0.1\"".to_string(),
        "$ cd chef && chef push qa policyfiles/base.lock.json".to_string(),
        "dry run: every guard passes; nothing was pushed.".to_string(),
    ] {
        assert!(run.stdout.contains(&said), "{said}:\n{}", run.stdout);
    }
    assert_eq!(setup.fakes.calls(), ["chef show-policy base qa"]);
    assert_eq!(setup.pushed("qa"), None);
}

#[test]
fn an_uncommitted_lock_or_policyfile_is_refused_with_exit_2() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    // Still the lock chef install writes (the rules pass), but not HEAD's.
    let text = setup.tree.read(LOCK);
    setup.tree.write(LOCK, &format!("{text}\n"));
    let before = monorepo_files(&setup.tree);
    for args in [
        &["chef-push", "--group", "stage", "--yes"][..],
        &["chef-push", "--group", "stage", "--dry-run"][..],
    ] {
        let run = setup.run(args);
        run.assert_refused(
            "uncommitted lock",
            &[
                "chef/policyfiles/base.lock.json differs from HEAD",
                "commit it first",
                "nothing was pushed",
            ],
        );
        assert!(
            run.stdout
                .contains("refused chef/policyfiles/base.lock.json"),
            "{}",
            run.stdout
        );
    }
    assert!(!setup.fakes.calls().contains(&PUSH.to_string()));
    assert_eq!(setup.pushed("stage"), None);
    assert_eq!(monorepo_files(&setup.tree), before);
}

#[test]
fn a_commit_on_no_remote_branch_is_refused_unless_allow_unpushed() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    setup.tree.write("NOTES.txt", "local work\n");
    setup.tree.git(&["add", "NOTES.txt"]);
    setup.tree.git(&["commit", "-q", "-m", "local"]);
    let run = setup.run(&["chef-push", "--group", "dev", "--yes"]);
    run.assert_refused(
        "unpushed HEAD",
        &[
            "is on no remote branch: push the commit first (git push)",
            "--allow-unpushed",
        ],
    );
    assert_eq!(setup.pushed("dev"), None);

    let run = setup.run(&["chef-push", "--group", "dev", "--yes", "--allow-unpushed"]);
    run.assert_code(0);
    assert!(run.stdout.contains("(--allow-unpushed)"), "{}", run.stdout);
    assert!(setup.pushed("dev").is_some());
}

#[test]
fn a_package_or_image_missing_from_artifactory_is_refused() {
    // Neither the .deb nor the image: both named, each with its fix.
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let setup = Setup::on(tree, &[]);
    let run = setup.run(&["chef-push", "--group", "main", "--yes"]);
    run.assert_refused(
        "nothing published",
        &[
            "the policy installs mobiledgex 3.0.1, which VMs cannot get: Artifactory answered 404",
            "does not list mobiledgex 3.0.1",
            "cargo xtask build-package --publish",
            "Artifactory does not have the base image of 3.0.1 (HTTP 404 for http://127.0.0.1:",
            "cargo xtask publish-image 3.0.1",
            "2 guard(s) refuse the push",
        ],
    );
    assert_eq!(setup.fakes.calls(), ["chef show-policy base main"]);
    assert_eq!(setup.pushed("main"), None);
}

#[test]
fn a_package_in_chefs_apt_snapshot_will_do() {
    let tree = Tree::with_git(Layout::B);
    let mut packages = packages_of(&tree.read(DEPENDENCIES));
    packages.push_str("Package: mobiledgex\nVersion: 3.0.1\nArchitecture: amd64\n\n");
    let url = apt_server(packages);
    for file in [
        "openstack-tenant/packer/build.sh",
        "chef/policyfiles/base.rb",
        "chef/policyfiles/base.lock.json",
    ] {
        let text = tree.read(file);
        tree.write(file, &text.replace(APT_REPO, &url));
    }
    tree.git(&["commit", "-q", "-am", "APT snapshot on 127.0.0.1"]);
    let setup = Setup::on(tree, &[IMAGE]);
    let run = setup.run(&["chef-push", "--group", "stage", "--dry-run"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("the policy installs mobiledgex 3.0.1: the APT snapshot lists it"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_chef_server_that_cannot_say_the_current_policy_refuses() {
    let mut setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    setup.fakes.set("XTASK_FAKE_FAIL", "chef:show-policy");
    let run = setup.run(&["chef-push", "--group", "stage", "--yes"]);
    run.assert_refused(
        "show-policy fails",
        &[
            "cannot read policy group stage's current base policy",
            "cargo xtask doctor",
        ],
    );
    assert_eq!(setup.fakes.calls(), [SHOW]);
}

#[test]
fn without_a_terminal_and_without_yes_it_refuses() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    let run = setup.run(&["chef-push", "--group", "main"]);
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
    assert_eq!(setup.fakes.calls(), Vec::<String>::new());
    assert_eq!(setup.pushed("main"), None);
}

#[test]
fn a_stale_lock_is_not_pushed() {
    let setup = Setup::new(Layout::B, &[DEB, IMAGE]);
    setup.tree.edit(
        "chef/policyfiles/base.rb",
        "default['mobiledgeXPackageVersion'] = '3.0.1'",
        "default['mobiledgeXPackageVersion'] = '3.0.0'",
    );
    let run = setup.run(&["chef-push", "--group", "stage", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("error[policy-lock]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("chef/policyfiles/base.lock.json is stale"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
    assert_eq!(setup.fakes.calls(), Vec::<String>::new());

    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    std::fs::remove_file(setup.tree.path(LOCK)).unwrap();
    let run = setup.run(&["chef-push", "--group", "stage", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("has no lock file"), "{}", run.stderr);
    assert_eq!(setup.fakes.calls(), Vec::<String>::new());
}

#[test]
fn check_errors_stop_the_push() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    setup
        .tree
        .edit("vmlayer/props.go", "\"3.0.1\"", "\"3.0.2\"");
    let run = setup.run(&["chef-push", "--group", "qa", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("error[package-version]"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.fakes.calls(), Vec::<String>::new());
    assert_eq!(setup.pushed("qa"), None);
}

#[test]
fn a_failed_push_exits_1_and_a_missing_chef_exits_2() {
    let mut setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    setup.fakes.set("XTASK_FAKE_FAIL", "chef:push");
    let run = setup.run(&["chef-push", "--group", "dev", "--yes"]);
    run.assert_code(1);
    assert_eq!(
        setup.fakes.calls(),
        [
            "chef show-policy base dev",
            "chef push dev policyfiles/base.lock.json"
        ]
    );
    assert!(run.stdout.contains("failed (exit 1)"), "{}", run.stdout);
    assert_eq!(setup.pushed("dev"), None);

    let empty = TempDir::new("no-chef");
    setup.fakes.set("PATH", empty.path().to_str().unwrap());
    let run = setup.run(&["chef-push", "--group", "dev", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("chef: part of Chef Workstation"),
        "{}",
        run.stderr
    );
}

#[test]
fn only_the_four_groups_exist() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    let run = setup.run(&["chef-push", "--group", "prod", "--yes"]);
    run.assert_code(2);
    assert_eq!(setup.fakes.calls(), Vec::<String>::new());
}

#[test]
fn without_artifactory_url_the_image_is_looked_for_where_cloudlets_download_it() {
    let tree = Tree::with_git(Layout::A);
    let artifactory = stateful_artifactory(&[DEB, "/cloudlet-images/mobiledgex-v3.0.1.qcow2"]);
    tree.edit(
        "vmlayer/props.go",
        "\"https://artifactory.mobiledgex.net/artifactory/baseimages/\"",
        &format!("\"{}\"", artifactory.url("/cloudlet-images/")),
    );
    tree.git(&["commit", "-q", "-am", "images on 127.0.0.1"]);
    let mut setup = Setup::on(tree, &[]);
    setup.fakes.set("ARTIFACTORY_URL", "");
    // The .deb is looked for where packages/build.sh publishes it (its
    // ARTIFACTORY, from the environment), the image where vmlayer/props.go
    // says cloudlets download it.
    setup
        .fakes
        .set("ARTIFACTORY", &artifactory.url("/artifactory"));
    let run = setup.run(&["chef-push", "--group", "stage", "--dry-run"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains(&format!(
            "ok the base image of 3.0.1 is in Artifactory: {}",
            artifactory.url("/cloudlet-images/mobiledgex-v3.0.1.qcow2")
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        artifactory.paths(),
        [DEB, "/cloudlet-images/mobiledgex-v3.0.1.qcow2"]
    );
}

/// On a terminal the group name is typed back (util-linux `script` gives the
/// pseudo-terminal; what is piped to it is what the user types).
#[test]
fn on_a_terminal_the_group_name_is_typed_back() {
    let setup = Setup::new(Layout::A, &[DEB, IMAGE]);
    let typed = |answer: &str| {
        let mut command = std::process::Command::new(common::which("script"));
        command
            .args(["-qec"])
            .arg(format!(
                "'{}' -C '{}' --color never chef-push --group stage",
                env!("CARGO_BIN_EXE_xtask"),
                setup.tree.root().display()
            ))
            .arg("/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        for (key, value) in setup.fakes.env() {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = typed("main");
    assert!(
        shown.contains("Type the policy group name (stage) to push:"),
        "{shown}"
    );
    assert!(
        shown.contains("`main` is not `stage`: nothing was pushed."),
        "{shown}"
    );
    assert_eq!(setup.pushed("stage"), None);
    let shown = typed("stage");
    assert!(shown.contains("pushed to policy group stage"), "{shown}");
    assert!(setup.pushed("stage").is_some());
}
