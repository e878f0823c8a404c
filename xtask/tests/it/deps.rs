//! `cargo xtask deps show|set|fix`: what `show` lists, byte-for-byte edits of
//! `dependencies` (and the policy's chef-client with `chef`) in both chef
//! layouts and on the realistic overlay, the kubernetes trio, apt's report
//! read from a decorated packer log (file and stdin), and bad input.

use crate::common;

use std::io::Write;
use std::process::Stdio;

use common::{
    assert_patch_matches, assert_text_matches, assert_unchanged, changes, check_findings, fixtures,
    Layout, Run, Snapshot, Tree,
};

const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";

fn packer_log() -> std::path::PathBuf {
    fixtures().join("logs/packer-unmet-dependencies.log")
}

/// Runs the xtask on `tree` with `input` on its (non-terminal) standard input.
fn xtask_with_stdin(tree: &Tree, args: &[&str], input: &[u8]) -> Run {
    let mut child = common::xtask_command(tree.root(), args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The xtask may refuse before reading everything: a broken pipe is fine.
    let _ = stdin.write_all(input);
    drop(stdin);
    Run::from(child.wait_with_output().unwrap())
}

/// The pins of a `dependencies` text, read independently of the xtask:
/// (name, operator, version, line).
fn pins_of(text: &str) -> Vec<(String, String, String, usize)> {
    let mut pins = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (name, constraint) = (fields.next().unwrap(), fields.next().unwrap());
        let version = constraint.trim_start_matches(['<', '>', '=']);
        let op = &constraint[..constraint.len() - version.len()];
        pins.push((
            name.to_string(),
            op.to_string(),
            version.to_string(),
            index + 1,
        ));
    }
    pins
}

/// `check --json`'s findings as (rule, severity).
fn check_rules(tree: &Tree) -> Vec<(String, String)> {
    let (_, findings) = check_findings(tree);
    findings
        .into_iter()
        .map(|(rule, severity, _)| (rule, severity))
        .collect()
}

/// Only stale locks and the fixtures' own cookbook-pin warnings.
fn assert_only_stale_locks(tree: &Tree) {
    for (rule, severity) in check_rules(tree) {
        assert!(
            (rule == "policy-lock" && severity == "error")
                || (rule == "cookbook-pin" && severity == "warning"),
            "{rule} {severity}"
        );
    }
}

// ---------------------------------------------------------------- show

#[test]
fn show_lists_package_operator_version_and_line() {
    for layout in [Layout::A, Layout::Realistic] {
        let tree = Tree::new(layout);
        let want = pins_of(&tree.read(DEPENDENCIES));
        let run = tree.xtask(&["deps", "show"]);
        run.assert_code(0);
        let mut lines = run.stdout.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["package", "op", "version", "line"]);
        let got: Vec<(String, String, String, usize)> = lines
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(f.len(), 4, "{line:?}");
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{layout:?}");

        let run = tree.xtask(&["deps", "show", "--json"]);
        run.assert_code(0);
        let json = run.json();
        let got: Vec<(String, String, String, usize)> = json["pins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap().to_string();
                (
                    s("name"),
                    s("op"),
                    s("version"),
                    p["line"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(got, want, "{layout:?} --json");
    }
    // The realistic file's tab-aligned lines are read, its commented-out package is not.
    let tree = Tree::new(Layout::Realistic);
    let stdout = tree.xtask(&["deps", "show"]).stdout;
    assert!(stdout
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["kubelet", "=", "1.16.2-00", "19"]));
    assert!(!stdout.contains("python3-yaml"));
}

#[test]
fn show_names_bad_lines_and_lists_the_rest() {
    let tree = Tree::new(Layout::A);
    tree.edit(DEPENDENCIES, "jq ", "foo = 1.0\njq ");
    let run = tree.xtask(&["deps", "show"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("line 17") && run.stderr.contains("foo = 1.0"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("kubeadm"), "{}", run.stdout);
}

// ---------------------------------------------------------------- set

#[test]
fn set_before_after_byte_for_byte_in_every_layout() {
    // Layout A and B: chef-client in base.rb with single quotes.
    for (layout, name) in [
        (Layout::A, "deps-set/layout-a"),
        (Layout::B, "deps-set/layout-b"),
    ] {
        let tree = Tree::with_git(layout);
        let before = tree.snapshot();
        let run = tree.xtask(&[
            "deps",
            "set",
            "chef=17.9.26-1",
            "docker-ce=5:20.10.14~3-0~ubuntu-bionic",
            "open-vm-tools=2:11.3.0-2ubuntu0~ubuntu18.04.2",
            "--yes",
        ]);
        run.assert_code(0);
        assert_patch_matches(&before, &tree.snapshot(), name);
        assert!(
            run.stdout
                .contains("stale lock: (cd chef && rm -f policyfiles/base.lock.json"),
            "{}",
            run.stdout
        );
        assert_only_stale_locks(&tree);
    }
    // The realistic file: tab-aligned lines stay tab-aligned; chef-client in double quotes.
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let run = tree.xtask(&[
        "deps",
        "set",
        "docker-ce-cli=5:19.03.15~3-0~ubuntu-bionic",
        "nfs-kernel-server=1:1.3.4-2.1ubuntu5.5",
        "curl=7.58.0-2ubuntu3.16",
        "chef=17.9.26-1",
        "--kubernetes",
        "1.16.15-00",
        "--yes",
    ]);
    run.assert_code(0);
    let after = tree.snapshot();
    assert_patch_matches(&before, &after, "deps-set/realistic");
    // Only the versions: the `>=` of curl, the tabs, the alignment stay.
    let text = tree.read(DEPENDENCIES);
    assert!(text.contains("\ncurl                            >=7.58.0-2ubuntu3.16\n"));
    assert!(text.contains("\ndocker-ce-cli\t\t\t=5:19.03.15~3-0~ubuntu-bionic\n"));
    assert!(text.contains("\nkubelet\t\t\t\t=1.16.15-00\n"));
    assert!(text.contains("\nnfs-kernel-server\t\t=1:1.3.4-2.1ubuntu5.5\n"));
    assert!(tree
        .read(BASE_POLICY)
        .contains("default['chef_client_updater']['version'] = \"17.9.26\"\n"));
    assert_only_stale_locks(&tree);
}

#[test]
fn set_preview_snapshot() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&["deps", "set", "chef=17.9.26-1", "helm=3.5.4", "--dry-run"]);
    run.assert_code(0);
    assert_text_matches(&run.stdout, "deps-set/layout-a-dry-run.stdout");
    assert_unchanged(&tree, &before, "--dry-run");
}

#[test]
fn set_chef_repairs_a_drifted_chef_client_in_the_same_changeset() {
    let tree = Tree::with_git(Layout::A);
    tree.edit(
        BASE_POLICY,
        "['version'] = '17.6.18'",
        "['version'] = '17.4.38'",
    );
    tree.git(&["commit", "-q", "-am", "drift"]);
    assert!(check_rules(&tree).contains(&("chef-client".into(), "error".into())));
    // The pin already reads 17.6.18-1: only the policy moves.
    let before = tree.snapshot();
    let run = tree.xtask(&["deps", "set", "chef=17.6.18-1", "--dry-run"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("+default['chef_client_updater']['version'] = '17.6.18'"),
        "{}",
        run.stdout
    );
    assert_unchanged(&tree, &before, "--dry-run");
    tree.xtask(&["deps", "set", "chef=17.6.18-1", "--yes"])
        .assert_code(0);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [BASE_POLICY]);
    assert!(!check_rules(&tree)
        .iter()
        .any(|(rule, _)| rule == "chef-client"));
}

#[test]
fn set_chef_with_an_epoch_writes_no_epoch_where_chef_names_a_version() {
    // dpkg's `1:17.8.25-1` is chef-client `17.8.25`: chef knows no epochs.
    let tree = Tree::with_git(Layout::A);
    tree.xtask(&["deps", "set", "chef=1:17.8.25-1", "--yes"])
        .assert_code(0);
    assert!(tree.read(DEPENDENCIES).contains("=1:17.8.25-1\n"));
    assert!(
        tree.read(BASE_POLICY)
            .contains("default['chef_client_updater']['version'] = '17.8.25'\n"),
        "{}",
        tree.read(BASE_POLICY)
    );
    // And the rule agrees: the pin and the policy name the same chef.
    assert!(!check_rules(&tree)
        .iter()
        .any(|(rule, _)| rule == "chef-client"));
}

#[test]
fn set_one_preview_for_both_files_and_nothing_without_confirmation() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&["deps", "set", "chef=17.9.26-1"]);
    run.assert_code(2);
    assert!(
        run.stdout.contains(&format!("--- {DEPENDENCIES}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("--- {BASE_POLICY}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 files changed"), "{}", run.stdout);
    assert!(
        run.stderr.contains("standard input is not a terminal"),
        "{}",
        run.stderr
    );
    assert_unchanged(&tree, &before, "no terminal");
}

#[test]
fn set_the_kubernetes_trio_together_or_not_at_all() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    for args in [
        &["kubeadm=1.18.21-00"][..],
        &["kubelet=1.18.21-00"],
        &["kubeadm=1.18.21-00", "kubectl=1.18.21-00"],
        &["kubeadm=1.18.21-00", "kubectl=1.18.21-00", "helm=3.5.0"],
    ] {
        let mut argv = vec!["deps", "set"];
        argv.extend_from_slice(args);
        argv.push("--yes");
        tree.xtask(&argv).assert_refused(
            &format!("{args:?}"),
            &[
                "kubeadm, kubectl and kubelet are pinned to one version",
                "cargo xtask deps set --kubernetes 1.18.21-00",
            ],
        );
        assert_unchanged(&tree, &before, &format!("{args:?}"));
    }
    // --kubernetes moves all three; the images cached for the old versions are named.
    let run = tree.xtask(&[
        "deps",
        "set",
        "--kubernetes",
        "1.19.16-00",
        "helm=3.5.4",
        "--yes",
    ]);
    run.assert_code(0);
    let text = tree.read(DEPENDENCIES);
    for name in ["kubeadm", "kubectl", "kubelet"] {
        assert!(
            text.contains(&format!("\n{name:<32}=1.19.16-00\n")),
            "{name}"
        );
    }
    assert!(
        run.stdout.contains("update the images pre-pulled"),
        "{}",
        run.stdout
    );
    for cached in [
        "packer/docker-image-cache.txt:1: k8s.gcr.io/kube-apiserver:v1.18.20\n",
        "packer/docker-image-cache.txt:4: k8s.gcr.io/kube-proxy:v1.18.20\n",
        "packer/docker-image-cache.txt:10: docker.io/alpine/helm:3.4.2\n",
    ] {
        assert!(
            run.stdout.contains(cached),
            "{cached:?} not in\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("pause:3.2"), "{}", run.stdout);
    // All three by name is as good.
    tree.xtask(&[
        "deps",
        "set",
        "kubeadm=1.19.15-00",
        "kubectl=1.19.15-00",
        "kubelet=1.19.15-00",
        "--yes",
    ])
    .assert_code(0);
    assert!(tree
        .read(DEPENDENCIES)
        .contains("\nkubelet                         =1.19.15-00\n"));
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [DEPENDENCIES]);
    assert!(!check_rules(&tree)
        .iter()
        .any(|(rule, _)| rule == "kubernetes"));
    // Other packages: no word about the image cache.
    let run = tree.xtask(&["deps", "set", "jq=1.6-1", "--yes"]);
    run.assert_code(0);
    assert!(!run.stdout.contains("pre-pulled"), "{}", run.stdout);
}

#[test]
fn set_the_version_it_already_has_changes_nothing() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let run = tree.xtask(&["deps", "set", "helm=3.4.2", "--kubernetes", "1.18.20-00"]);
    run.assert_code(0);
    assert!(run.stdout.contains("nothing to change"), "{}", run.stdout);
    assert_unchanged(&tree, &before, "same versions");
}

#[test]
fn set_bad_input_is_refused_and_nothing_is_written() {
    let tree = Tree::with_git(Layout::A);
    let before = tree.snapshot();
    let not_a_pair = "is not NAME=VERSION";
    let not_debian = "not a Debian version";
    let cases: &[(&[&str], &str)] = &[
        (
            &["nosuchpkg=1.0"],
            "`nosuchpkg` is not pinned in openstack-tenant/packages/mobiledgex/dependencies",
        ),
        (&["Helm=3.5.0"], "`Helm` is not pinned"),
        (&["helm"], not_a_pair),
        (&["helm="], not_a_pair),
        (&["=3.5.0"], not_a_pair),
        (&["helm=3.5.0 "], not_a_pair),
        (&["helm= 3.5.0"], not_a_pair),
        (&["helm=3.5 .0"], not_a_pair),
        (&["helm=3.5.0\n"], not_a_pair),
        (&["helm=3.5.0", "helm=3.5.1"], "`helm` is given twice"),
        (&["helm=v3.5.0"], not_debian),
        (&["helm=3.5.0-"], not_debian),
        (&["helm=:3.5.0"], not_debian),
        (&["helm=a:3.5.0"], not_debian),
        (&["helm=1:2:3.5.0"], not_debian),
        (&["helm==3.5.0"], not_debian),
        (&["helm=>=3.5.0"], not_debian),
        (&["helm=3.5.0)"], not_debian),
        (&["helm=3.5.0,foo"], not_debian),
        (&["helm=3.5.0;touch pwned"], not_a_pair),
        (&["helm=3.5.0;id"], not_debian),
        (&["helm=$(touch pwned)"], not_a_pair),
        (&["helm=$(id)"], not_debian),
        (&["helm=3_5_0"], not_debian),
        (&["helm=3.5.0#1"], not_debian),
        (
            &["--kubernetes", "v1.19.0"],
            "--kubernetes v1.19.0: not a Debian version",
        ),
        (&["--kubernetes", ""], "--kubernetes : not a Debian version"),
        (
            &["--kubernetes", "1.19.16-00", "kubeadm=1.19.16-00"],
            "set both by NAME=VERSION and --kubernetes",
        ),
        (&[], "nothing to set"),
        (&["helm=3.5.0", "--yes", "--dry-run"], "cannot be used with"),
        (&["helm=3.5.0"], "standard input is not a terminal"),
    ];
    for (args, message) in cases {
        let mut argv = vec!["deps", "set"];
        argv.extend_from_slice(args);
        if !args.contains(&"--dry-run") && *message != "standard input is not a terminal" {
            argv.push("--yes");
        }
        tree.xtask(&argv)
            .assert_refused(&format!("{args:?}"), &[message]);
        assert_unchanged(&tree, &before, &format!("{args:?}"));
    }
    assert!(!tree.path("pwned").exists());
}

#[test]
fn set_refuses_while_dependencies_has_a_bad_line() {
    let tree = Tree::new(Layout::A);
    tree.edit(DEPENDENCIES, "jq ", "foo = 1.0\njq ");
    let before = tree.snapshot();
    let run = tree.xtask(&["deps", "set", "helm=3.5.0", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("{DEPENDENCIES}:17")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cargo xtask check"), "{}", run.stderr);
    assert_unchanged(&tree, &before, "bad line");
}

// ---------------------------------------------------------------- fix

/// What the decorated fixture log leaves for a human, on the realistic tree.
const LEFT_BY_THE_LOG: [&str; 4] = [
    "docker-ce: apt will not install it",
    "nvidia-450: no installable version",
    "python3-deepmerge is pinned `>=0.3.0`, not `=`",
    "libseccomp2 is not in dependencies",
];

fn assert_fixed_by_the_log(tree: &Tree, before: &Snapshot, run: &Run) {
    assert_eq!(
        run.code, 1,
        "entries were left\n{}{}",
        run.stdout, run.stderr
    );
    assert_patch_matches(before, &tree.snapshot(), "deps-fix/realistic");
    assert!(
        run.stderr
            .contains("4 entries of apt's report cannot be fixed"),
        "{}",
        run.stderr
    );
    for left in LEFT_BY_THE_LOG {
        assert!(run.stderr.contains(left), "{left:?} not in\n{}", run.stderr);
    }
    for fixed in ["docker-ce-cli", "kubeadm", "kubectl", "kubelet"] {
        assert!(
            !run.stderr.contains(&format!("- {fixed}")),
            "{fixed} listed as left:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stdout.contains("helm: already pinned"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("wrote {DEPENDENCIES}")),
        "{}",
        run.stdout
    );
}

#[test]
fn fix_from_a_decorated_packer_log_file() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = packer_log();
    let run = tree.xtask(&["deps", "fix", "--from-log", log.to_str().unwrap(), "--yes"]);
    assert_fixed_by_the_log(&tree, &before, &run);
}

#[test]
fn fix_from_standard_input() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = std::fs::read(packer_log()).unwrap();
    let run = xtask_with_stdin(&tree, &["deps", "fix", "--from-log", "-", "--yes"], &log);
    assert_fixed_by_the_log(&tree, &before, &run);
}

#[test]
fn fix_dry_run_previews_lists_what_is_left_and_writes_nothing() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = packer_log();
    let run = tree.xtask(&[
        "deps",
        "fix",
        "--from-log",
        log.to_str().unwrap(),
        "--dry-run",
    ]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("+kubelet\t\t\t\t=1.16.3-00"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("dry run"), "{}", run.stdout);
    assert_text_matches(&run.stdout, "deps-fix/realistic-dry-run.stdout");
    for left in LEFT_BY_THE_LOG {
        assert!(run.stderr.contains(left), "{left:?} not in\n{}", run.stderr);
    }
    assert_unchanged(&tree, &before, "--dry-run");

    // Without a terminal and without --yes or --dry-run: refused, nothing written.
    let run = tree.xtask(&["deps", "fix", "--from-log", log.to_str().unwrap()]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("standard input is not a terminal"),
        "{}",
        run.stderr
    );
    assert_unchanged(&tree, &before, "no terminal");
}

/// The runbook's own example, undecorated but for the builder name: every
/// entry can be fixed, so the exit status is 0; a `chef` re-pin moves the
/// policy's chef-client with it.
#[test]
fn fix_the_runbook_example_and_chef() {
    let tree = Tree::with_git(Layout::Realistic);
    let log = "\
openstack: The following packages have unmet dependencies:
openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: kubelet (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: chef (= 16.9.29-1) but 16.9.32-1 is to be installed
openstack: E: Unable to correct problems, you have held broken packages.
";
    let path = tree.path("build.log");
    std::fs::write(&path, log).unwrap();
    let before_log = tree.snapshot();
    let run = tree.xtask(&["deps", "fix", "--from-log", path.to_str().unwrap(), "--yes"]);
    run.assert_code(0);
    let changed: Vec<String> = changes(&before_log, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [BASE_POLICY, DEPENDENCIES]);
    let text = tree.read(DEPENDENCIES);
    assert!(text.contains("\nchef                            =16.9.32-1\n"));
    assert!(text.contains("\nkubelet\t\t\t\t=1.16.3-00\n"));
    assert!(tree
        .read(BASE_POLICY)
        .contains("['version'] = \"16.9.32\"\n"));
    assert!(!run.stderr.contains("cannot be fixed"), "{}", run.stderr);
    assert_only_stale_locks(&tree);
}

/// An entry about another package's dependency is not a pin of ours to move:
/// apt says kubeadm needs a newer kubernetes-cni than the one our pin keeps.
#[test]
fn fix_leaves_what_other_packages_depend_on() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = "\
    openstack: The following packages have unmet dependencies:
    openstack:  kubeadm : Depends: kubernetes-cni (>= 0.8.6) but 0.7.5-00 is to be installed
    openstack:  kubelet : Depends: kubernetes-cni (= 0.8.7-00) but 0.7.5-00 is to be installed
    openstack: E: Unable to correct problems, you have held broken packages.
";
    let run = xtask_with_stdin(
        &tree,
        &["deps", "fix", "--from-log", "-", "--yes"],
        log.as_bytes(),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("kubernetes-cni"), "{}", run.stderr);
    assert!(run.stderr.contains("kubeadm"), "{}", run.stderr);
    assert!(!run.stdout.contains("already pinned"), "{}", run.stdout);
    assert_unchanged(&tree, &before, "another package's dependency");
}

/// Entries without a version to pin to are listed with what apt said.
#[test]
fn fix_lists_entries_without_a_version_with_apt_words() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = "\
The following packages have unmet dependencies:
 mobiledgex : Depends: nfs-common (>= 1:1.3.4-2.1ubuntu5.3)
              Depends: python3-netifaces but it is a virtual package
              Depends: jq (>= 1.5+dfsg-2) but it is not installable
E: Unable to correct problems, you have held broken packages.
";
    let run = xtask_with_stdin(
        &tree,
        &["deps", "fix", "--from-log", "-", "--yes"],
        log.as_bytes(),
    );
    run.assert_code(1);
    assert!(run.stdout.contains("nothing to change"), "{}", run.stdout);
    for left in [
        "3 entries of apt's report cannot be fixed",
        "- nfs-common: apt gave no reason",
        "- python3-netifaces: apt says `but it is a virtual package`",
        "- jq: no installable version",
    ] {
        assert!(run.stderr.contains(left), "{left:?} not in\n{}", run.stderr);
    }
    assert_unchanged(&tree, &before, "nothing to pin");
}

/// apt wanting different versions for kubeadm, kubectl and kubelet cannot be
/// fixed by re-pinning each: they must stay one version.
#[test]
fn fix_does_not_split_the_kubernetes_trio() {
    let tree = Tree::with_git(Layout::Realistic);
    let before = tree.snapshot();
    let log = "\
openstack: The following packages have unmet dependencies:
openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: kubectl (= 1.16.2-00) but 1.16.4-00 is to be installed
openstack:               Depends: docker-ce-cli (= 5:19.03.13~3-0~ubuntu-bionic) but 5:19.03.15~3-0~ubuntu-bionic is to be installed
openstack: E: Unable to correct problems, you have held broken packages.
";
    let run = xtask_with_stdin(
        &tree,
        &["deps", "fix", "--from-log", "-", "--yes"],
        log.as_bytes(),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("--kubernetes"), "{}", run.stderr);
    let changed: Vec<String> = changes(&before, &tree.snapshot()).into_keys().collect();
    assert_eq!(changed, [DEPENDENCIES]);
    let text = tree.read(DEPENDENCIES);
    assert!(text.contains("kubeadm                         =1.16.2-00\n"));
    assert!(text.contains("docker-ce-cli\t\t\t=5:19.03.15~3-0~ubuntu-bionic\n"));

    // One of them alone: the other two follow it.
    let tree = Tree::with_git(Layout::Realistic);
    let log = "\
openstack: The following packages have unmet dependencies:
openstack:  mobiledgex : Depends: kubelet (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack: E: Unable to correct problems, you have held broken packages.
";
    let run = xtask_with_stdin(
        &tree,
        &["deps", "fix", "--from-log", "-", "--yes"],
        log.as_bytes(),
    );
    run.assert_code(0);
    let text = tree.read(DEPENDENCIES);
    for line in [
        "kubeadm                         =1.16.3-00\n",
        "kubectl                         =1.16.3-00\n",
        "kubelet\t\t\t\t=1.16.3-00\n",
    ] {
        assert!(text.contains(line), "{line:?}");
    }
}

#[test]
fn fix_bad_input_is_refused_and_nothing_is_written() {
    let tree = Tree::with_git(Layout::Realistic);
    let no_report = "holds no apt \"unmet dependencies\" report";
    let quiet_log = tree.path("quiet.log");
    std::fs::write(
        &quiet_log,
        "==> openstack: Provisioning with shell script: setup.sh\r\n    openstack: Setting up kubeadm (1.16.2-00) ...\r\n==> openstack: Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed\r\n",
    )
    .unwrap();
    let binary_log = tree.path("binary.log");
    std::fs::write(&binary_log, b"\x00\x01\xff\xfe garbage \x1b[0m\r\n").unwrap();
    let before_logs = tree.snapshot();
    let missing = tree.path("no-such.log");
    let dir = tree.path("chef");
    for (args, message) in [
        (
            vec!["--from-log", quiet_log.to_str().unwrap(), "--yes"],
            no_report,
        ),
        (
            vec!["--from-log", binary_log.to_str().unwrap(), "--yes"],
            no_report,
        ),
        (
            vec!["--from-log", missing.to_str().unwrap(), "--yes"],
            "cannot read the log",
        ),
        (
            vec!["--from-log", dir.to_str().unwrap(), "--yes"],
            "cannot read the log",
        ),
        (vec!["--yes"], "--from-log"),
        (
            vec![
                "--from-log",
                packer_log().to_str().unwrap(),
                "--yes",
                "--dry-run",
            ],
            "cannot be used with",
        ),
    ] {
        let mut argv = vec!["deps", "fix"];
        argv.extend_from_slice(&args);
        tree.xtask(&argv)
            .assert_refused(&format!("{args:?}"), &[message]);
        assert_unchanged(&tree, &before_logs, &format!("{args:?}"));
    }
    // Standard input: empty, or a log without a report.
    for input in [&b""[..], b"==> openstack: Build finished.\n"] {
        xtask_with_stdin(&tree, &["deps", "fix", "--from-log", "-", "--yes"], input)
            .assert_refused(&format!("{input:?}"), &[no_report]);
        assert_unchanged(&tree, &before_logs, "stdin");
    }
}
