//! `cargo xtask mentions`: which files and lines it reports, what it skips, its
//! output in both forms, and bad input.

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{Layout, Tree};
use serde_json::Value;

/// Where layout A itself mentions the base image version 3.0.1.
const LAYOUT_A: [(&str, usize); 4] = [
    (
        "chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb",
        4,
    ),
    ("openstack-tenant/packages/mobiledgex/Makefile", 2),
    ("version/package-version.go", 3),
    ("vmlayer/props.go", 33),
];

const NOTES: &str = "\
# Release notes
Base image 3.0.1 is out.
The image is mobiledgex-v3.0.1 on openstack
and 3.0.1-vcd on vCloud Director.
None of 13.0.1, 3.0.10, 3.0.1.2, 1.3.0.1, x3.0.1, dev3.0.1 or pkg_3.0.1_amd64.deb.
tag v3.0.1
mobiledgex =3.0.1-1
Upgrade to 3.0.1. Twice on one line: 3.0.1 and \"3.0.1\".
";

fn write(tree: &Tree, rel: &str, bytes: &[u8]) {
    let path = tree.path(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Layout A plus files that exercise every rule of the scan.
fn tree() -> Tree {
    let tree = Tree::new(Layout::A);
    write(&tree, "docs/release-notes.md", NOTES.as_bytes());
    write(&tree, "docs/windows.txt", b"first\r\nversion = 3.0.1  \r\n");
    write(&tree, "docs/no-final-newline.txt", b"\n\n3.0.1");
    // A NUL byte past the first 8 KiB does not make a file binary.
    let mut late_nul = b"3.0.1\n".to_vec();
    late_nul.resize(9000, b'x');
    late_nul.push(0);
    write(&tree, "docs/late-nul.txt", &late_nul);
    // Skipped: version control, build output, binaries, huge files, symlinks.
    write(&tree, ".git/HEAD", b"ref: 3.0.1\n");
    write(&tree, "vmlayer/.git", b"gitdir: 3.0.1\n");
    write(&tree, "target/debug/build-info.txt", b"3.0.1\n");
    write(&tree, "vmlayer/target/release/out", b"3.0.1\n");
    write(
        &tree,
        "openstack-tenant/packer/disk.qcow2",
        b"QFI\xfb\0\0\0\x033.0.1\n",
    );
    let mut huge = b"3.0.1\n".to_vec();
    huge.resize(4 * 1024 * 1024 + 1, b'x');
    write(&tree, "docs/huge.log", &huge);
    symlink(
        tree.path("docs/release-notes.md"),
        tree.path("docs/link.md"),
    )
    .unwrap();
    symlink(tree.path("docs"), tree.path("docs-link")).unwrap();
    tree
}

fn expected() -> Vec<(String, usize)> {
    let mut all: Vec<(String, usize)> = LAYOUT_A.iter().map(|(p, l)| (p.to_string(), *l)).collect();
    for (path, line) in [
        ("docs/late-nul.txt", 1),
        ("docs/no-final-newline.txt", 3),
        ("docs/release-notes.md", 2),
        ("docs/release-notes.md", 3),
        ("docs/release-notes.md", 4),
        ("docs/release-notes.md", 6),
        ("docs/release-notes.md", 7),
        ("docs/release-notes.md", 8),
        ("docs/windows.txt", 2),
    ] {
        all.push((path.to_string(), line));
    }
    all.sort();
    all
}

fn locations(report: &Value) -> Vec<(String, usize)> {
    report["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_string(),
                m["line"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

#[test]
fn layout_a_alone_mentions_the_version_at_its_four_sites() {
    let tree = Tree::new(Layout::A);
    let run = tree.xtask(&["mentions", "3.0.1", "--json"]);
    run.assert_code(0);
    let want: Vec<(String, usize)> = LAYOUT_A.iter().map(|(p, l)| (p.to_string(), *l)).collect();
    assert_eq!(locations(&run.json()), want);
}

#[test]
fn exactly_the_whole_token_mentions_sorted_by_path_then_line() {
    let tree = tree();
    let run = tree.xtask(&["mentions", "3.0.1", "--json"]);
    run.assert_code(0);
    assert_eq!(locations(&run.json()), expected());
}

#[test]
fn human_output_is_path_line_text_then_a_count() {
    let tree = tree();
    let run = tree.xtask(&["mentions", "3.0.1"]);
    run.assert_code(0);
    let want = "\
chef/cookbooks/upgrade_mobiledgex_package/attributes/default.rb:4: defaultMobiledgeXPackageVersion = '3.0.1'
docs/late-nul.txt:1: 3.0.1
docs/no-final-newline.txt:3: 3.0.1
docs/release-notes.md:2: Base image 3.0.1 is out.
docs/release-notes.md:3: The image is mobiledgex-v3.0.1 on openstack
docs/release-notes.md:4: and 3.0.1-vcd on vCloud Director.
docs/release-notes.md:6: tag v3.0.1
docs/release-notes.md:7: mobiledgex =3.0.1-1
docs/release-notes.md:8: Upgrade to 3.0.1. Twice on one line: 3.0.1 and \"3.0.1\".
docs/windows.txt:2: version = 3.0.1
openstack-tenant/packages/mobiledgex/Makefile:2: VERSION = 3.0.1
version/package-version.go:3: var MobiledgeXPackageVersion = \"3.0.1\"
vmlayer/props.go:33: var MEXInfraVersion = \"3.0.1\"
13 mentions of 3.0.1 in 8 files
";
    assert_eq!(run.stdout, want);
    assert_eq!(run.stderr, "");
}

#[test]
fn json_has_the_version_and_path_line_text_per_mention() {
    let tree = tree();
    let report = tree.xtask(&["mentions", "3.0.1", "--json"]).json();
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mentions", "version"]);
    assert_eq!(report["version"], "3.0.1");
    for mention in report["mentions"].as_array().unwrap() {
        let keys: Vec<&String> = mention.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["line", "path", "text"], "{mention}");
    }
    let windows = report["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "docs/windows.txt")
        .unwrap();
    // Trailing blanks and the CR of a CRLF line are not part of the text.
    assert_eq!(windows["text"], "version = 3.0.1");
}

#[test]
fn skipped_files_are_counted_with_v() {
    let tree = tree();
    let run = tree.xtask(&["-v", "mentions", "3.0.1"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("skipped 1 binary and 1 larger than 4 MiB: docs/huge.log"),
        "{}",
        run.stderr
    );
}

#[test]
fn nothing_found_is_not_an_error() {
    let tree = tree();
    let run = tree.xtask(&["mentions", "9.9.9"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "no mentions of 9.9.9\n");
    let run = tree.xtask(&["mentions", "9.9.9", "--json"]);
    run.assert_code(0);
    assert_eq!(run.json()["mentions"], Value::Array(vec![]));
    // -q keeps the mentions and drops the count.
    let run = tree.xtask(&["-q", "mentions", "13.0.1"]);
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "docs/release-notes.md:5: None of 13.0.1, 3.0.10, 3.0.1.2, 1.3.0.1, x3.0.1, dev3.0.1 or pkg_3.0.1_amd64.deb.\n"
    );
}

#[test]
fn debian_versions_with_epochs_and_tildes_are_searched_literally() {
    let tree = tree();
    write(
        &tree,
        "openstack-tenant/packages/mobiledgex/dependencies.extra",
        b"docker-ce                       =5:20.10.13~3-0~ubuntu-bionic\nother =5:20.10.13~3-0~ubuntu-bionic2\n",
    );
    let run = tree.xtask(&["mentions", "5:20.10.13~3-0~ubuntu-bionic", "--json"]);
    run.assert_code(0);
    let deps = "openstack-tenant/packages/mobiledgex/dependencies";
    assert_eq!(
        locations(&run.json()),
        [
            // docker-ce and docker-ce-cli in the rendition's own pins.
            (deps.to_string(), 11),
            (deps.to_string(), 12),
            (format!("{deps}.extra"), 1),
        ]
    );
}

#[test]
fn bad_versions_exit_2_and_change_nothing() {
    let tree = tree();
    let before = tree.snapshot();
    for (version, says) in [
        ("", "empty"),
        ("3.0 1", "is not a version"),
        ("3.0.1;rm", "is not a version"),
        ("3.0.1/", "is not a version"),
        ("$(id)", "is not a version"),
    ] {
        let run = tree.xtask(&["mentions", version]);
        run.assert_refused(&format!("{version:?}"), &[says]);
        assert_eq!(run.stdout, "", "{version:?}");
    }
    assert!(tree.snapshot() == before, "the tree changed");
}
