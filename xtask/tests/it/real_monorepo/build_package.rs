//! `build-package` on the tree the humans shipped, with the real `make`,
//! `gofmt` and `dpkg-deb`: its version.sh runs gofmt and writes
//! package-version.go through a shell redirect, its build.sh asks
//! "Publish to Artifactory? (yN)" on standard input, names the .deb
//! `mobiledgex_<VERSION>.deb` and uploads to its `ARTIFACTORY_PATH`.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::artifactory::{artifactory, digest};
use crate::common::http::basic_auth;
use crate::common::{which, write_executable, Run, Snapshot, TempDir, Tree};

const PKG_DIR: &str = "openstack-tenant/packages/mobiledgex";
const BUILD_SH: &str = "openstack-tenant/packages/build.sh";
/// The name the real build.sh gives the .deb: no architecture.
const DEB: &str = "openstack-tenant/packages/mobiledgex/mobiledgex_4.10.0.deb";
const UPLOAD_NAME: &str = "mobiledgex_4.10.0_amd64.deb";
const REAL_ARTIFACTORY_PATH: &str =
    "ARTIFACTORY_PATH=\"https://artifactory.mobiledgex.net/artifactory/${ARTIFACTORY_REPO}/pool\"";
/// What the real Makefile and its scripts call besides gofmt.
const TOOLS_BUT_GOFMT: [&str; 16] = [
    "make", "bash", "dpkg-deb", "awk", "sed", "grep", "tr", "cat", "cp", "rm", "mkdir", "chmod",
    "mktemp", "basename", "head", "git",
];

/// A home of its own (no ~/.artifactory.creds of the machine's), the
/// environment's Artifactory settings blanked, and `extra` on top.
fn run(tree: &Tree, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let home = TempDir::new("real-pkg-home");
    let mut env: Vec<(String, String)> = [
        ("HOME", home.path().to_string_lossy().as_ref()),
        ("ARTIFACTORY_USER", ""),
        ("ARTIFACTORY_PASSWORD", ""),
        ("ARTIFACTORY_URL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
    }
    tree.xtask_env(args, &env)
}

/// A PATH of symlinks to `tools` only, in a folder the caller keeps.
fn path_of(dir: &TempDir, tools: &[&str]) -> String {
    for tool in tools {
        std::os::unix::fs::symlink(which(tool), dir.path().join(tool)).unwrap();
    }
    dir.path().to_string_lossy().into_owned()
}

fn dpkg_field(deb: &Path, field: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .arg(field)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The files present before that differ now (or are gone): must be none.
fn changed_since(before: &Snapshot, tree: &Tree) -> Vec<String> {
    let after = tree.snapshot();
    before
        .iter()
        .filter(|(path, state)| after.get(*path) != Some(state))
        .map(|(path, _)| path.clone())
        .collect()
}

/// What git sees modified among the tracked files.
fn git_modified(tree: &Tree) -> String {
    let out = tree.git(&["status", "--porcelain", "--untracked-files=no"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn logs(tree: &Tree) -> String {
    let mut all = String::new();
    if let Ok(entries) = fs::read_dir(tree.path("target/xtask/logs")) {
        for entry in entries {
            all.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    all
}

#[test]
fn builds_the_real_package_with_real_make_gofmt_and_dpkg_deb() {
    let Some(tree) = Tree::real() else { return };
    which("gofmt");
    let before = tree.snapshot();

    let out = run(&tree, &["build-package", "--yes"], &[]);
    out.assert_code(0);
    for said in [
        "tools the Makefile and its scripts call, all found: make, bash, gofmt, dpkg-deb,",
        "[3/3] verify mobiledgex_4.10.0.deb",
        "verified: Package mobiledgex, Version 4.10.0, Architecture amd64",
        // The real package-version.go has a license header gofmt's output lacks.
        "note: make's build-vers rewrote version/package-version.go with the same version 4.10.0",
        "Built and verified version 4.10.0: openstack-tenant/packages/mobiledgex/mobiledgex_4.10.0.deb",
    ] {
        assert!(out.stdout.contains(said), "{said:?} not in:\n{}", out.all());
    }
    // build.sh read "n" from its standard input, and said so.
    assert!(
        logs(&tree).contains("Package NOT published to Artifactory"),
        "{}",
        logs(&tree)
    );

    // The .deb, read back with the real dpkg-deb: what the tree says.
    let deb = tree.path(DEB);
    assert_eq!(dpkg_field(&deb, "Package"), "mobiledgex");
    assert_eq!(dpkg_field(&deb, "Version"), "4.10.0");
    assert_eq!(dpkg_field(&deb, "Architecture"), "amd64");
    let depends = dpkg_field(&deb, "Depends");
    for dep in [
        "chef (= 17.6.18-1)",
        "docker-ce (= 5:20.10.13~3-0~ubuntu-bionic)",
        "kubeadm (= 1.18.20-00)",
        "kubectl (= 1.18.20-00)",
        "kubelet (= 1.18.20-00)",
    ] {
        assert!(depends.contains(dep), "{dep} not in {depends}");
    }
    assert!(!tree.path(&format!("{PKG_DIR}/{UPLOAD_NAME}")).exists());

    // Every file of the tree as it was: package-version.go keeps its header.
    assert_eq!(changed_since(&before, &tree), Vec::<String>::new());
    assert_eq!(git_modified(&tree), "");
    assert!(tree
        .read("version/package-version.go")
        .starts_with("// Copyright 2022 MobiledgeX, Inc\n"));
}

/// The runbook changes the upload destination in build.sh's ARTIFACTORY_PATH:
/// --publish goes there, unless --artifactory names another server.
#[test]
fn publishes_to_the_artifactory_path_of_build_sh() {
    let Some(tree) = Tree::real() else { return };
    let server = artifactory(404, None);
    let path = server.url("/artifactory/${ARTIFACTORY_REPO}/pool-test");
    tree.edit(
        BUILD_SH,
        REAL_ARTIFACTORY_PATH,
        &format!("ARTIFACTORY_PATH=\"{path}\""),
    );
    let creds = [
        ("ARTIFACTORY_USER", "alice"),
        ("ARTIFACTORY_PASSWORD", "real-zebra-pw"),
    ];

    let out = run(&tree, &["build-package", "--publish", "--yes"], &creds);
    out.assert_code(0);
    let url = server.url(&format!("/artifactory/packages/pool-test/{UPLOAD_NAME}"));
    for said in [
        format!("destination: {url} (from ARTIFACTORY_PATH in {BUILD_SH}:24)"),
        format!("[4/5] check Artifactory for {UPLOAD_NAME}"),
        format!("published: {url}"),
    ] {
        assert!(
            out.stdout.contains(&said),
            "{said:?} not in:\n{}",
            out.all()
        );
    }
    let deb = fs::read(tree.path(DEB)).unwrap();
    let requests = server.requests();
    let calls: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    let pool = "/artifactory/packages/pool-test";
    assert_eq!(
        calls,
        [
            ("HEAD", format!("{pool}/{UPLOAD_NAME}").as_str()),
            (
                "PUT",
                format!("{pool}/{UPLOAD_NAME};deb.distribution=cirrus;deb.component=main;deb.architecture=amd64")
                    .as_str()
            ),
        ]
    );
    let put = &requests[1];
    assert!(put.body == deb, "the upload is the .deb make built");
    assert_eq!(
        put.header("X-Checksum-MD5"),
        Some(digest("md5sum", &deb).as_str())
    );
    assert_eq!(
        put.header("Authorization"),
        Some(basic_auth("alice", "real-zebra-pw").as_str())
    );
    assert!(!out.all().contains("zebra") && !logs(&tree).contains("zebra"));

    // --artifactory wins over build.sh.
    let other = artifactory(404, None);
    let out = run(
        &tree,
        &[
            "build-package",
            "--publish",
            "--artifactory",
            &other.url("/artifactory"),
            "--yes",
        ],
        &creds,
    );
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("(from --artifactory (or ARTIFACTORY_URL))"),
        "{}",
        out.all()
    );
    assert_eq!(
        server.requests().len(),
        2,
        "nothing more to build.sh's server"
    );
    let paths: Vec<String> = other.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths[0],
        format!("/artifactory/packages/pool/{UPLOAD_NAME}")
    );
    assert_eq!(paths.len(), 2);
}

/// A destination in build.sh that would put credentials in curl's
/// arguments is bad input: exit 2, nothing run, naming the line.
#[test]
fn an_artifactory_path_with_credentials_is_refused() {
    let Some(tree) = Tree::real() else { return };
    tree.edit(
        BUILD_SH,
        REAL_ARTIFACTORY_PATH,
        "ARTIFACTORY_PATH=\"https://bob:pw@artifactory.example/${ARTIFACTORY_REPO}/pool\"",
    );
    let before = tree.snapshot();
    let out = run(
        &tree,
        &["build-package", "--publish", "--yes"],
        &[
            ("ARTIFACTORY_USER", "alice"),
            ("ARTIFACTORY_PASSWORD", "pw"),
        ],
    );
    out.assert_refused(
        "credentials in ARTIFACTORY_PATH",
        &[&format!(
            "ARTIFACTORY_PATH in {BUILD_SH}:24: the URL carries credentials"
        )],
    );
    assert_eq!(tree.snapshot(), before);
}

/// Without gofmt the real version.sh would leave package-version.go empty:
/// the preflight stops before make, with the fix, and nothing changes.
#[test]
fn without_gofmt_it_stops_before_make_and_doctor_says_the_fix() {
    let Some(tree) = Tree::real() else { return };
    let bin = TempDir::new("path-without-gofmt");
    let path = path_of(&bin, &TOOLS_BUT_GOFMT);
    let before = tree.snapshot();

    let out = run(&tree, &["build-package", "--yes"], &[("PATH", &path)]);
    out.assert_refused(
        "no gofmt",
        &[
            "a tool it needs is not on PATH (nothing was run)",
            "gofmt: Go's formatter, run by version.sh: on Debian/Ubuntu `apt-get install golang-go`, on macOS `brew install go`",
        ],
    );
    assert!(!out.stdout.contains("[1/3]"), "{}", out.all());
    assert_eq!(changed_since(&before, &tree), Vec::<String>::new());
    assert_eq!(
        tree.snapshot(),
        before,
        "nothing new either: no log, no build"
    );

    let out = run(&tree, &["doctor"], &[("PATH", &path)]);
    out.assert_code(1);
    let gofmt = out
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("gofmt "))
        .unwrap_or_else(|| panic!("no gofmt line:\n{}", out.stdout));
    assert!(
        gofmt.contains("missing") && gofmt.contains("apt-get install golang-go"),
        "{gofmt}"
    );
}

/// A gofmt that is there but fails: version.sh's redirect has already
/// emptied package-version.go when make fails; it is put back byte for byte.
#[test]
fn a_failing_make_leaves_package_version_go_as_it_was() {
    let Some(tree) = Tree::real() else { return };
    let bin = TempDir::new("path-broken-gofmt");
    let path = path_of(&bin, &TOOLS_BUT_GOFMT);
    write_executable(
        &bin.path().join("gofmt"),
        b"#!/bin/sh\necho 'gofmt: broken on purpose' >&2\nexit 2\n",
    );
    let before = tree.snapshot();

    let out = run(&tree, &["build-package", "--yes"], &[("PATH", &path)]);
    out.assert_code(1);
    assert!(out.stdout.contains("failed (exit 2)"), "{}", out.all());
    assert!(
        out.stderr.contains(
            "restored 1 tracked file byte for byte to what it was before make ran: version/package-version.go (truncated to 0 bytes by make)"
        ),
        "{}",
        out.all()
    );
    assert_eq!(changed_since(&before, &tree), Vec::<String>::new());
    assert_eq!(git_modified(&tree), "");
}
