//! `cargo xtask build-image` end to end: the real `packer validate`, fake
//! openstack, vault and packer build (tests/fixtures/bin), on copies of the
//! monorepo in both chef layouts.

use crate::common;

use std::path::Path;

use common::apt::{packages_of, tree_with_snapshot, DEPENDENCIES};
use common::artifactory::stateful_artifactory;
use common::{monorepo_files, Fakes, Layout, Tree};

/// Where the tree's .deb (3.0.1) is in the loopback Artifactory.
const DEB_PATH: &str = "/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb";

/// The fake tools, and a loopback Artifactory (ARTIFACTORY_URL) that has
/// the .deb of the tree's version, as the build's provenance check asks.
fn fakes() -> Fakes {
    let mut fakes = Fakes::new();
    let server = stateful_artifactory(&[DEB_PATH]);
    fakes.set("ARTIFACTORY_URL", &server.url("/artifactory"));
    fakes
}

const SOURCE_IMAGE: &str = "ubuntu-18.04-server-cloudimg-amd64-2021-10-05";

/// The calls of a run with the secret var-file's path (new each run) replaced by `<var-file>`.
fn normalized(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|call| {
            call.split(' ')
                .map(|word| match word.strip_prefix("-var-file=") {
                    Some(_) => "-var-file=<var-file>",
                    None => word,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn var_files(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .flat_map(|call| call.split(' '))
        .filter_map(|word| word.strip_prefix("-var-file="))
        .map(str::to_string)
        .collect()
}

/// Packer's arguments for one platform's image, after `packer build|validate`.
fn packer_args(platform: &str, tag: &str, apt: &str) -> String {
    format!(
        "-var-file=<var-file> -var OUTPUT_IMAGE_NAME=mobiledgex-v{tag} -var SRC_IMG=fbfd8dc6-2b3b-5410-2307-c56397a8e7ca -var SRC_IMG_CHECKSUM=2ab5e4c2a39e0d2d4a0c4a6cbd8ea0a5 -var NETWORK=e6256bb6-2894-deea-1aa1-3bdb703299a9 -var FLAVOR=m4.small -var ARTIFACTORY_USER=tester -var ARTIFACTORY_ARTIFACTS_TAG=2021-10-05 -var APT_REPO={apt} -var PACKAGE_VERSION=3.0.1 -var OUTPUT_PLATFORM={platform} -var TAG={tag} -var GITTAG="
    )
}

/// The preflight's calls, in order, for the given output images.
fn preflight_calls(images: &[&str]) -> Vec<String> {
    let mut calls = vec![
        format!("openstack image show -f json {SOURCE_IMAGE}"),
        "openstack network show -f json external-network-shared".to_string(),
    ];
    calls.extend(
        images
            .iter()
            .map(|image| format!("openstack image show -f json {image}")),
    );
    calls.extend([
        "vault token lookup".to_string(),
        "vault kv get -field=value secret/accounts/baseimage/password".to_string(),
        "vault kv get -field=grub_pw_hash secret/accounts/baseimage/password".to_string(),
        "vault kv get -field=value secret/accounts/baseimage/totp-key".to_string(),
    ]);
    calls
}

/// Asserts the calls: the preflight, then validate and builds with these arguments.
fn assert_calls(calls: &[String], images: &[&str], packer: &[(&str, &str)]) {
    let calls = normalized(calls);
    let preflight = preflight_calls(images);
    assert_eq!(calls[..preflight.len()], preflight[..], "{calls:#?}");
    let rest = &calls[preflight.len()..];
    assert_eq!(rest.len(), packer.len(), "{calls:#?}");
    for (call, (verb, args)) in rest.iter().zip(packer) {
        let want = format!("packer {verb} {args}");
        assert!(
            call.starts_with(&want),
            "{call}\ndoes not start with\n{want}"
        );
        assert!(
            call.ends_with(" -var VAULT=vault-main.mobiledgex.net -var TRACE=no packer_template.mobiledgex.json"),
            "{call}"
        );
    }
}

fn glance_has(fakes: &Fakes, image: &str) -> bool {
    fakes
        .state()
        .join("glance")
        .join(format!("{image}.json"))
        .is_file()
}

#[test]
fn builds_the_openstack_image_after_a_full_preflight() {
    let (tree, apt) = tree_with_snapshot(Layout::A, None);
    let fakes = fakes();
    let before = monorepo_files(&tree);
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(0);

    let calls = fakes.calls();
    let openstack = packer_args("openstack", "3.0.1", &apt);
    assert_calls(
        &calls,
        &["mobiledgex-v3.0.1"],
        &[("validate", &openstack), ("build", &openstack)],
    );
    assert!(glance_has(&fakes, "mobiledgex-v3.0.1"));
    // The var-file with the secrets is gone, and the tree is as it was.
    let files = var_files(&calls);
    assert_eq!(files.len(), 2);
    assert!(
        files.iter().all(|file| !Path::new(file).exists()),
        "{files:?}"
    );
    assert_eq!(monorepo_files(&tree), before);
    assert!(
        run.stdout.contains("dependencies: all "),
        "the pins' preflight ran:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("[1/1] packer build (openstack)"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("==> openstack: Creating the image: mobiledgex-v3.0.1"));
    assert!(run.stdout.contains("  done in "), "{}", run.stdout);
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn all_platforms_build_in_order_and_end_with_a_summary() {
    let (tree, apt) = tree_with_snapshot(Layout::B, None);
    let fakes = fakes();
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--yes"]);
    run.assert_code(0);

    let images = [
        "mobiledgex-v3.0.1",
        "mobiledgex-v3.0.1-vcd",
        "mobiledgex-v3.0.1-vsphere",
    ];
    let (openstack, vcd, vsphere) = (
        packer_args("openstack", "3.0.1", &apt),
        packer_args("vcd", "3.0.1-vcd", &apt),
        packer_args("vsphere", "3.0.1-vsphere", &apt),
    );
    assert_calls(
        &fakes.calls(),
        &images,
        &[
            ("validate", &openstack),
            ("build", &openstack),
            ("build", &vcd),
            ("build", &vsphere),
        ],
    );
    assert!(images.iter().all(|image| glance_has(&fakes, image)));
    let table: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("platform "))
        .take(4)
        .collect();
    assert_eq!(table.len(), 4, "{}", run.stdout);
    for (line, (platform, image)) in table[1..].iter().zip([
        ("openstack", "mobiledgex-v3.0.1"),
        ("vcd", "mobiledgex-v3.0.1-vcd"),
        ("vsphere", "mobiledgex-v3.0.1-vsphere"),
    ]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[..3], [platform, image, "built"], "{line}");
    }
    for step in [
        "[1/3] packer build (openstack)",
        "[2/3] packer build (vcd)",
        "[3/3] packer build (vsphere)",
    ] {
        assert!(run.stdout.contains(step), "{step}");
    }
    fakes.assert_no_secrets(&tree, &run);
}

const UNMET: &str = "==> openstack: Provisioning with shell script: setup.sh
    openstack: Reading package lists...
    openstack: Some packages could not be installed. This may mean that you have
    openstack: The following packages have unmet dependencies:
    openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack:               Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack:               Depends: kubelet (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack: E: Unable to correct problems, you have held broken packages.
";

#[test]
fn a_failed_build_stops_the_others_and_names_the_pins_apt_wants() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    let report = fakes.dir.path().join("apt-report.txt");
    std::fs::write(&report, UNMET).unwrap();
    fakes.set("XTASK_FAKE_PACKER_BUILD_LOG", &report.display().to_string());
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--yes"]);
    run.assert_code(1);

    // Only the first build ran: nothing is published after a failure.
    let calls = normalized(&fakes.calls());
    let builds: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("packer build"))
        .collect();
    assert_eq!(builds.len(), 1, "{calls:#?}");
    assert!(builds[0].contains("OUTPUT_PLATFORM=openstack"));
    assert!(!glance_has(&fakes, "mobiledgex-v3.0.1"));

    for pin in [
        "kubeadm =1.16.3-00",
        "kubectl =1.16.3-00",
        "kubelet =1.16.3-00",
    ] {
        assert!(run.stdout.contains(pin), "{pin} missing:\n{}", run.stdout);
    }
    let fix = run
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("cargo xtask deps fix --from-log "))
        .unwrap_or_else(|| panic!("no deps fix command:\n{}", run.stdout));
    let log = Path::new(fix);
    assert!(log.starts_with(tree.path("target/xtask/logs")), "{fix}");
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(logged.contains("The following packages have unmet dependencies:"));
    assert!(
        run.stdout.contains(&format!("full log: {fix}")),
        "{}",
        run.stdout
    );

    let rows: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("platform "))
        .skip(1)
        .take(3)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["openstack", "mobiledgex-v3.0.1", "failed"]);
    assert_eq!(rows[1][..4], ["vcd", "mobiledgex-v3.0.1-vcd", "not", "run"]);
    assert_eq!(
        rows[2][..4],
        ["vsphere", "mobiledgex-v3.0.1-vsphere", "not", "run"]
    );
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn a_build_failing_otherwise_gives_no_pin_advice() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    fakes.set("XTASK_FAKE_FAIL", "packer:build");
    let run = fakes.run(
        &tree,
        &[
            "build-image",
            "--platform",
            "vcd",
            "--platform",
            "openstack",
            "--yes",
        ],
    );
    run.assert_code(1);
    let builds: Vec<String> = fakes
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("packer build"))
        .collect();
    assert_eq!(builds.len(), 1);
    assert!(
        builds[0].contains("OUTPUT_PLATFORM=openstack"),
        "openstack is built first"
    );
    assert!(!run.stdout.contains("deps fix"), "{}", run.stdout);
    assert!(run.stdout.contains("failed (exit 1)"), "{}", run.stdout);
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn dry_run_validates_offline_and_runs_nothing_else() {
    let tree = Tree::with_git(Layout::A);
    let fakes = fakes();
    let before = tree.snapshot();
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--dry-run"]);
    run.assert_code(0);
    assert_eq!(
        fakes.calls(),
        ["packer validate -syntax-only packer_template.mobiledgex.json"]
    );
    assert_eq!(tree.snapshot(), before);
    assert!(run.stdout.contains("Plan (3 steps):"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("[3/3] packer build (vsphere)  irreversible"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("dry run: nothing was written and nothing was run."));
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn without_a_terminal_it_refuses_before_running_anything() {
    let tree = Tree::with_git(Layout::A);
    let fakes = fakes();
    let before = tree.snapshot();
    let run = fakes.run(&tree, &["build-image"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(fakes.calls(), Vec::<String>::new());
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn bad_input_and_missing_credentials_exit_2_before_anything_runs() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let empty_path = common::TempDir::new("no-tools");
    // (arguments, environment, what the error names)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 6] = [
        (
            &["--tag", "3.0.2"],
            &[],
            &["--tag 3.0.2 is not the package version 3.0.1"],
        ),
        (&["--tag", "3.0"], &[], &["--tag", "X.Y.Z"]),
        (&["--tag", "v3.0.1", "--user", ""], &[], &["--user"]),
        (
            &[],
            &[("PATH", empty_path.path().to_str().unwrap())],
            &[
                "packer: ",
                "openstack: ",
                "vault: ",
                "pip3 install python-openstackclient",
            ],
        ),
        (&[], &[("OS_AUTH_URL", "")], &["OS_AUTH_URL", "source"]),
        (
            &[],
            &[("HOME", "/nonexistent")],
            &["ARTIFACTORY_APIKEY", "artifactory.apikey"],
        ),
    ];
    for (args, env, said) in cases {
        let mut fakes = fakes();
        for (key, value) in env {
            fakes.set(key, value);
        }
        let mut argv = vec!["build-image", "--yes"];
        argv.extend(args);
        fakes
            .run(&tree, &argv)
            .assert_refused(&format!("{argv:?}"), said);
        assert_eq!(fakes.calls(), Vec::<String>::new(), "{argv:?}");
        assert_eq!(tree.snapshot(), before, "{argv:?}");
    }
}

#[test]
fn preflight_refuses_when_chef_does_not_reference_the_version() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/Makefile",
        "VERSION = 3.0.1",
        "VERSION = 3.0.2",
    );
    tree.edit("vmlayer/props.go", "\"3.0.1\"", "\"3.0.2\"");
    tree.edit("version/package-version.go", "\"3.0.1\"", "\"3.0.2\"");
    let fakes = fakes();
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("chef does not upgrade VMs to mobiledgex 3.0.2 yet: chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb:4 has 3.0.1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cargo xtask chef-policy"));
    assert_eq!(fakes.calls(), Vec::<String>::new());
}

#[test]
fn preflight_refuses_while_check_reports_errors() {
    let tree = Tree::with_git(Layout::B);
    tree.edit(
        "openstack-tenant/packer/build.sh",
        "cirrus/2021-02-01",
        "cirrus/2021-03-01",
    );
    let fakes = fakes();
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("error[apt-snapshot]"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was built"), "{}", run.stderr);
    assert_eq!(fakes.calls(), Vec::<String>::new());
}

#[test]
fn an_image_already_in_glance_is_not_published_twice() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let fakes = fakes();
    fakes.run(&tree, &["build-image", "--yes"]).assert_code(0);
    let first = fakes.calls().len();
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("mobiledgex-v3.0.1 is already in glance"),
        "{}",
        run.stderr
    );
    let again = &fakes.calls()[first..];
    assert!(
        again.iter().all(|call| !call.starts_with("packer build")),
        "{again:#?}"
    );
    assert!(
        again.iter().all(|call| !call.starts_with("vault")),
        "no secrets read: {again:#?}"
    );
}

#[test]
fn a_vault_failure_stops_before_packer() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    fakes.set("XTASK_FAKE_FAIL", "vault:kv:get");
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cannot read field value of secret/accounts/baseimage/password"),
        "{}",
        run.stderr
    );
    assert!(fakes.calls().iter().all(|call| !call.starts_with("packer")));

    fakes.set("XTASK_FAKE_FAIL", "vault:token");
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("vault login -method=github"),
        "{}",
        run.stderr
    );
    fakes.assert_no_secrets(&tree, &run);
}

#[test]
fn a_missing_source_image_stops_before_secrets_are_read() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    fakes.set("CLOUD_IMAGE_TAG", "centos-7");
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("the source image centos-7 is not in glance"),
        "{}",
        run.stderr
    );
    assert_eq!(fakes.calls(), ["openstack image show -f json centos-7"]);
}

#[test]
fn pins_apt_cannot_install_from_the_snapshot_stop_before_the_cloud() {
    let tree = Tree::with_git(Layout::A);
    let packages = packages_of(&tree.read(DEPENDENCIES)).replace(
        "Package: kubeadm\nVersion: 1.18.20-00",
        "Package: kubeadm\nVersion: 1.18.21-00",
    );
    drop(tree);
    let (tree, _) = tree_with_snapshot(Layout::A, Some(packages));
    let fakes = fakes();
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(1);
    assert!(run.stderr.contains("kubeadm"), "{}", run.stderr);
    assert!(run.all().contains("1.18.21-00"), "{}", run.all());
    assert_eq!(
        fakes.calls(),
        Vec::<String>::new(),
        "nothing asked of the cloud or vault"
    );
}

#[test]
fn ignore_checksum_says_it_changes_nothing_where_images_are_per_platform() {
    let tree = Tree::with_git(Layout::A);
    let fakes = fakes();
    let run = fakes.run(
        &tree,
        &[
            "build-image",
            "--ignore-checksum",
            "--all-platforms",
            "--dry-run",
        ],
    );
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("--ignore-checksum changes nothing here"),
        "{}",
        run.stderr
    );
    // The rendition's build.sh takes -p: an image per platform, no common note.
    assert!(run.stdout.contains("Plan (3 steps):"), "{}", run.stdout);
    assert!(!run.stdout.contains("one common image"), "{}", run.stdout);
}

#[test]
fn a_quiet_build_says_it_is_still_running() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    // packer prints nothing for 3 seconds; the heartbeat comes every second.
    fakes.set("XTASK_FAKE_PACKER_BUILD_SECONDS", "3");
    fakes.set("XTASK_HEARTBEAT_SECS", "1");
    let run = fakes.run(&tree, &["build-image", "--yes"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("  … `packer` still running: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(" so far, no output for "),
        "{}",
        run.stdout
    );
    // The heartbeat is the xtask's line, not the tool's: not in the log.
    let logs = tree.path("target/xtask/logs");
    for entry in std::fs::read_dir(logs).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("still running"), "{text}");
    }
    // -q: no progress lines, no heartbeat.
    let run = fakes.run(&tree, &["-q", "build-image", "--yes"]);
    assert!(!run.stdout.contains("still running"), "{}", run.stdout);
}

#[test]
fn a_dry_run_needs_no_user_credentials_or_cloud_tools() {
    let tree = Tree::with_git(Layout::A);
    let mut fakes = fakes();
    for var in ["USER", "LOGNAME", "OS_AUTH_URL", "OS_CLOUD", "VAULT_TOKEN"] {
        fakes.set(var, "");
    }
    let run = fakes.run(&tree, &["build-image", "--dry-run"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("a real build needs --user <USER>"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("ARTIFACTORY_USER=<USER>"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fakes.calls(),
        ["packer validate -syntax-only packer_template.mobiledgex.json"]
    );
}
