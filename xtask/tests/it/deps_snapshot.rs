//! `cargo xtask deps outdated|sync` and `bump-base-image --sync-deps` against
//! an APT snapshot: a generated repository served on 127.0.0.1 (`Packages`,
//! `Packages.gz`, with and without Basic authentication), local `.gz`/`.xz`
//! files, and the real Debian bookworm index of this machine.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;

use common::http::{closed_port, Server};
use common::{assert_unchanged, changes, curl_spy, Layout, Run, Snapshot, TempDir, Tree};
use serde_json::Value;

const DEPENDENCIES: &str = "openstack-tenant/packages/mobiledgex/dependencies";
const BUILD_SH: &str = "openstack-tenant/packer/build.sh";
const RECIPE: &str = "chef/cookbooks/upgrade_mobiledgex_package/recipes/default.rb";
const BASE_POLICY: &str = "chef/policyfiles/base.rb";
const BINARY: &str = "dists/bionic/main/binary-amd64";
const USER: &str = "mirror-bot";
/// Distinctive, with a quote and a backslash for the curl config's quoting.
const PASSWORD: &str = r#"Zebra-s3cr3t"q\uote-9d1"#;

// ------------------------------------------------------------ the repository

/// (name, operator, version) of each pin, read without the xtask.
fn pins_of(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap().to_string();
            let constraint = fields.next().unwrap();
            let split = constraint.find(|c: char| !"<>=".contains(c)).unwrap();
            (
                name,
                constraint[..split].to_string(),
                constraint[split..].to_string(),
            )
        })
        .collect()
}

/// A `Packages` index offering, for every pin, its own version and an older
/// decoy, with `changes` applied: a package mapped to `None` is dropped, to
/// `Some(list)` offers exactly that list (plus the decoy).
fn packages_for(deps: &str, changes: &[(&str, Option<&[&str]>)]) -> String {
    let changes: BTreeMap<&str, Option<&[&str]>> = changes.iter().copied().collect();
    let mut out = String::new();
    for (name, _, version) in pins_of(deps) {
        let versions: Vec<String> = match changes.get(name.as_str()) {
            Some(None) => continue,
            Some(Some(list)) => list.iter().map(|v| v.to_string()).collect(),
            None => vec![version.clone()],
        };
        for version in std::iter::once("0~decoy-1".to_string()).chain(versions) {
            out.push_str(&format!(
                "Package: {name}\nArchitecture: amd64\nVersion: {version}\nPriority: optional\nSection: misc\n\
                 Maintainer: Someone <someone@example.com>\nInstalled-Size: 1234\nDepends: libc6 (>= 2.27)\n\
                 Filename: pool/main/{first}/{name}/{name}_{version}_amd64.deb\nSize: 5678\n\
                 SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
                 Description: the {name} package\n A longer description.\n .\n Version: 99 is not a field here.\n\n",
                first = &name[..1],
            ));
        }
    }
    out
}

/// The 2021-03-01 snapshot of the rendition (layout A): a security update.
const MARCH: [(&str, Option<&[&str]>); 10] = [
    ("chef", Some(&["17.6.18-1", "17.9.26-1"])),
    (
        "docker-ce",
        Some(&[
            "5:20.10.13~3-0~ubuntu-bionic",
            "5:20.10.14~3-0~ubuntu-bionic",
        ]),
    ),
    (
        "docker-ce-cli",
        Some(&[
            "5:20.10.14~3-0~ubuntu-bionic",
            "5:20.10.13~3-0~ubuntu-bionic",
        ]),
    ),
    ("kubeadm", Some(&["1.18.20-00", "1.18.20-01"])),
    ("kubectl", Some(&["1.18.20-01", "1.18.20-00"])),
    ("kubelet", Some(&["1.18.20-00", "1.18.20-01"])),
    (
        "linux-image-virtual",
        Some(&["4.15.0.171.160", "4.15.0.175.164"]),
    ),
    ("parseovf", None),
    ("nvidia-container-toolkit", Some(&["1.8.1-1"])),
    ("curl", Some(&["7.58.0-2ubuntu3.15"])),
];

/// What a sync to MARCH moves in layout A's `dependencies`: (from, to, how often)…
const MARCH_PINS: [(&str, &str, usize); 4] = [
    ("=17.6.18-1\n", "=17.9.26-1\n", 1),
    (
        "=5:20.10.13~3-0~ubuntu-bionic\n",
        "=5:20.10.14~3-0~ubuntu-bionic\n",
        2,
    ),
    ("=1.18.20-00\n", "=1.18.20-01\n", 3),
    ("=4.15.0.171.160\n", "=4.15.0.175.164\n", 1),
];

/// …and in base.rb, where chef-client follows the chef pin.
const MARCH_CHEF_CLIENT: (&str, &str, usize) =
    ("['version'] = '17.6.18'", "['version'] = '17.9.26'", 1);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    pipe("gzip", &["-c", "-n"], bytes)
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    pipe("xz", &["-c", "-0"], bytes)
}

fn pipe(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{program} failed");
    out.stdout
}

/// A repository tree with the February snapshot (everything current) and the
/// March one, each as `Packages.gz` and plain `Packages` (no `.xz`).
fn repository(deps: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (date, index) in [
        ("2021-02-01", packages_for(deps, &[])),
        ("2021-03-01", packages_for(deps, &MARCH)),
    ] {
        let dir = format!("/cirrus/{date}/{BINARY}");
        files.insert(format!("{dir}/Packages.gz"), gzip(index.as_bytes()));
        files.insert(format!("{dir}/Packages"), index.into_bytes());
    }
    files
}

// ----------------------------------------------------------------- the trees

/// Points the packer APT_REPO (and chef's copy, so the tree stays consistent)
/// at the server's February snapshot.
fn point_at(tree: &Tree, server: &Server) {
    let local = server.url("/cirrus/2021-02-01");
    tree.edit(
        BUILD_SH,
        "https://apt.mobiledgex.net/cirrus/2021-02-01",
        &local,
    );
    tree.edit(
        RECIPE,
        "https://apt.mobiledgex.net/cirrus/2021-02-01",
        &local,
    );
}

/// A layout A tree pointed at a server of its repository (behind `auth`).
fn served_tree(auth: Option<(&str, &str)>) -> (Tree, Server) {
    let tree = Tree::new(Layout::A);
    let server = Server::files(repository(&tree.read(DEPENDENCIES)), auth);
    point_at(&tree, &server);
    (tree, server)
}

/// Credentials and the home folder kept away from the machine's own.
struct Env {
    dir: TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let dir = TempDir::new("apt-env");
        for sub in ["etc/auth.conf.d", "home"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let vars = vec![
            (
                "XTASK_APT_ETC".to_string(),
                dir.path().join("etc").display().to_string(),
            ),
            (
                "HOME".to_string(),
                dir.path().join("home").display().to_string(),
            ),
            (
                "NETRC".to_string(),
                dir.path().join("home/.netrc").display().to_string(),
            ),
        ];
        Env { dir, vars }
    }

    fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn run(&self, tree: &Tree, args: &[&str]) -> Run {
        tree.xtask_env(args, &self.vars)
    }
}

/// name → (candidate, verdict) of a `--json` report.
fn verdicts(report: &Value) -> BTreeMap<String, (Option<String>, String)> {
    report["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pin| {
            (
                pin["name"].as_str().unwrap().to_string(),
                (
                    pin["candidate"].as_str().map(str::to_string),
                    pin["verdict"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// A file of a snapshot, as text.
fn text_of(snapshot: &Snapshot, path: &str) -> String {
    String::from_utf8(snapshot[path].0.clone()).unwrap()
}

/// `text` with each `(from, to, count)` replaced, asserting the count.
fn replaced(text: &str, edits: &[(&str, &str, usize)]) -> String {
    let mut text = text.to_string();
    for (from, to, count) in edits {
        assert_eq!(text.matches(from).count(), *count, "{from:?}");
        text = text.replace(from, to);
    }
    text
}

// --------------------------------------------------------------------- tests

#[test]
fn outdated_reads_the_packer_snapshot_and_finds_every_pin_current() {
    let (tree, server) = served_tree(None);
    let before = tree.snapshot();
    let env = Env::new();

    let run = env.run(&tree, &["deps", "outdated"]);
    run.assert_code(0);
    let gz = format!("/cirrus/2021-02-01/{BINARY}/Packages.gz");
    assert_eq!(
        server.paths(),
        std::slice::from_ref(&gz),
        "Packages.gz is tried first"
    );
    assert!(
        run.stdout
            .contains(&format!("package index: {}", server.url(&gz))),
        "{}",
        run.all()
    );
    let header = run.stdout.lines().nth(1).unwrap();
    assert!(
        header.starts_with("package ") && header.ends_with("  verdict"),
        "{header}"
    );
    let docker = run
        .stdout
        .lines()
        .find(|l| l.starts_with("docker-ce "))
        .unwrap();
    assert!(
        docker.split_whitespace().eq([
            "docker-ce",
            "=5:20.10.13~3-0~ubuntu-bionic",
            "5:20.10.13~3-0~ubuntu-bionic",
            "current"
        ]),
        "{docker}"
    );

    let run = env.run(&tree, &["deps", "outdated", "--json"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["source"], server.url(&gz));
    let pins = pins_of(&tree.read(DEPENDENCIES));
    assert_eq!(report["pins"].as_array().unwrap().len(), pins.len());
    for ((name, op, version), pin) in pins.iter().zip(report["pins"].as_array().unwrap()) {
        assert_eq!(pin["name"], name.as_str());
        assert_eq!(pin["op"], op.as_str());
        assert_eq!(pin["version"], version.as_str());
        assert_eq!(
            pin["candidate"],
            version.as_str(),
            "the highest offered (above the decoy)"
        );
        assert_eq!(pin["verdict"], "current");
    }
    assert_unchanged(&tree, &before, "outdated");
}

#[test]
fn outdated_against_another_date_gives_each_verdict_and_exits_1() {
    let (tree, server) = served_tree(None);
    let before = tree.snapshot();
    let env = Env::new();

    let run = env.run(
        &tree,
        &["deps", "outdated", "--apt-snapshot", "2021-03-01", "--json"],
    );
    run.assert_code(1);
    let report = run.json();
    assert_eq!(
        report["source"],
        server.url(&format!("/cirrus/2021-03-01/{BINARY}/Packages.gz"))
    );
    let got = verdicts(&report);
    let want = |candidate: &str, verdict: &str| (Some(candidate.to_string()), verdict.to_string());
    assert_eq!(got["chef"], want("17.9.26-1", "behind"));
    assert_eq!(
        got["docker-ce"],
        want("5:20.10.14~3-0~ubuntu-bionic", "behind")
    );
    assert_eq!(
        got["docker-ce-cli"],
        want("5:20.10.14~3-0~ubuntu-bionic", "behind")
    );
    for name in ["kubeadm", "kubectl", "kubelet"] {
        assert_eq!(got[name], want("1.18.20-01", "behind"), "{name}");
    }
    assert_eq!(got["linux-image-virtual"], want("4.15.0.175.164", "behind"));
    assert_eq!(got["parseovf"], (None, "missing".to_string()));
    assert_eq!(
        got["nvidia-container-toolkit"],
        want("1.8.1-1", "unsatisfiable")
    );
    assert_eq!(got["curl"], want("7.58.0-2ubuntu3.15", "unsatisfiable"));
    assert_eq!(got["helm"], want("3.4.2", "current"));
    assert_eq!(
        got["conntrack"],
        want("1:1.4.4+snapshot20161117-6ubuntu2", "current")
    );
    let not_current = got.values().filter(|(_, v)| v != "current").count();
    assert_eq!(not_current, 10);
    let total = pins_of(&tree.read(DEPENDENCIES)).len();

    let run = env.run(&tree, &["deps", "outdated", "--apt-snapshot", "2021-03-01"]);
    run.assert_code(1);
    let summary = format!(
        "10 of {total} pins do not match the snapshot: 7 behind, 1 missing, 2 unsatisfiable"
    );
    assert!(run.stderr.contains(&summary), "{}", run.all());
    assert!(
        run.stderr
            .contains("cargo xtask deps sync --apt-snapshot 2021-03-01"),
        "{}",
        run.all()
    );
    let parseovf = run
        .stdout
        .lines()
        .find(|l| l.starts_with("parseovf "))
        .unwrap();
    assert!(
        parseovf
            .split_whitespace()
            .eq(["parseovf", ">=0.2", "-", "missing"]),
        "{parseovf}"
    );
    assert_unchanged(&tree, &before, "outdated --apt-snapshot");
}

#[test]
fn packages_plain_gz_and_xz_by_content_from_files_and_urls() {
    let tree = Tree::new(Layout::A);
    let deps = tree.read(DEPENDENCIES);
    let server = Server::files(repository(&deps), None);
    let env = Env::new();
    let march = packages_for(&deps, &MARCH);
    let expected = {
        let run = env.run(
            &tree,
            &[
                "deps",
                "outdated",
                "--json",
                "--packages",
                &server.url(&format!("/cirrus/2021-03-01/{BINARY}/Packages")),
            ],
        );
        run.assert_code(1);
        verdicts(&run.json())
    };
    assert_eq!(expected["chef"].1, "behind");

    let files = TempDir::new("indexes");
    // Names that say nothing: the format is told by the first bytes.
    let sources = [
        ("plain", march.clone().into_bytes()),
        ("gzipped", gzip(march.as_bytes())),
        ("xz-packed", xz(march.as_bytes())),
    ];
    for (name, bytes) in sources {
        let path = files.path().join(name);
        fs::write(&path, bytes).unwrap();
        let run = env.run(
            &tree,
            &[
                "deps",
                "outdated",
                "--json",
                "--packages",
                path.to_str().unwrap(),
            ],
        );
        run.assert_code(1);
        let report = run.json();
        assert_eq!(report["source"], path.to_str().unwrap());
        assert_eq!(verdicts(&report), expected, "{name}");
    }
    let gz_url = server.url(&format!("/cirrus/2021-03-01/{BINARY}/Packages.gz"));
    let run = env.run(
        &tree,
        &["deps", "outdated", "--json", "--packages", &gz_url],
    );
    run.assert_code(1);
    assert_eq!(verdicts(&run.json()), expected);

    // A repository serving only plain `Packages`: .gz and .xz answer 404.
    let mut plain_only = BTreeMap::new();
    plain_only.insert(
        "/cirrus/2021-03-01/dists/focal/contrib/binary-arm64/Packages".to_string(),
        march.into_bytes(),
    );
    let plain = Server::files(plain_only, None);
    tree.edit(
        BUILD_SH,
        "https://apt.mobiledgex.net/cirrus/2021-02-01",
        &plain.url("/cirrus/2021-02-01"),
    );
    let run = env.run(
        &tree,
        &[
            "deps",
            "outdated",
            "--json",
            "--apt-snapshot",
            "2021-03-01",
            "--distribution",
            "focal",
            "--component",
            "contrib",
            "--arch",
            "arm64",
        ],
    );
    run.assert_code(1);
    assert_eq!(verdicts(&run.json()), expected);
    let dir = "/cirrus/2021-03-01/dists/focal/contrib/binary-arm64";
    assert_eq!(
        plain.paths(),
        [
            format!("{dir}/Packages.gz"),
            format!("{dir}/Packages.xz"),
            format!("{dir}/Packages")
        ]
    );
    let run = env.run(
        &tree,
        &[
            "deps",
            "outdated",
            "--apt-snapshot",
            "2021-03-01",
            "--distribution",
            "focal",
            "--component",
            "contrib",
            "--arch",
            "arm64",
        ],
    );
    assert!(
        run.stderr.contains("cargo xtask deps sync --apt-snapshot 2021-03-01 --distribution focal --component contrib --arch arm64"),
        "{}",
        run.all()
    );
}

#[test]
fn sync_moves_behind_pins_through_the_changeset_byte_for_byte() {
    let (tree, _server) = served_tree(None);
    let before = tree.snapshot();
    let env = Env::new();
    let args = ["deps", "sync", "--apt-snapshot", "2021-03-01"];

    // No terminal, neither --yes nor --dry-run: refused, nothing written.
    let run = env.run(&tree, &args);
    run.assert_code(2);
    assert!(run.stderr.contains("pass --yes"), "{}", run.all());
    assert_unchanged(&tree, &before, "sync without --yes");

    let run = env.run(&tree, &[&args[..], &["--dry-run"]].concat());
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("-kubeadm                         =1.18.20-00"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("+kubeadm                         =1.18.20-01"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("+default['chef_client_updater']['version'] = '17.9.26'"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("dry run: nothing was written"),
        "{}",
        run.all()
    );
    assert_unchanged(&tree, &before, "sync --dry-run");

    let run = env.run(&tree, &[&args[..], &["--yes"]].concat());
    run.assert_code(1);
    for moved in [
        "chef: 17.6.18-1 → 17.9.26-1",
        "kubeadm: 1.18.20-00 → 1.18.20-01",
        "kubectl: 1.18.20-00 → 1.18.20-01",
        "kubelet: 1.18.20-00 → 1.18.20-01",
        "linux-image-virtual: 4.15.0.171.160 → 4.15.0.175.164",
    ] {
        assert!(run.stdout.contains(moved), "{moved}\n{}", run.all());
    }
    assert!(
        run.stdout.contains("stale lock:"),
        "base.lock.json keeps chef-client 17.6.18\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains("3 pins cannot be synced"),
        "{}",
        run.all()
    );
    for left in [
        "parseovf >=0.2: not in the snapshot",
        "nvidia-container-toolkit =1.9.0-1: no version",
        "curl >=7.58.0-2ubuntu3.16: no version",
    ] {
        assert!(run.stderr.contains(left), "{left}\n{}", run.all());
    }

    let after = tree.snapshot();
    let changed = changes(&before, &after);
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        [BASE_POLICY, DEPENDENCIES]
    );
    assert_eq!(
        tree.read(DEPENDENCIES),
        replaced(&text_of(&before, DEPENDENCIES), &MARCH_PINS)
    );
    assert_eq!(
        tree.read(BASE_POLICY),
        replaced(&text_of(&before, BASE_POLICY), &[MARCH_CHEF_CLIENT])
    );

    // What could move has moved; the rest is still reported.
    let run = env.run(
        &tree,
        &["deps", "outdated", "--apt-snapshot", "2021-03-01", "--json"],
    );
    run.assert_code(1);
    let left: Vec<String> = verdicts(&run.json())
        .into_iter()
        .filter(|(_, (_, v))| v != "current")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(left, ["curl", "nvidia-container-toolkit", "parseovf"]);
    // A second sync has nothing to move.
    let again = tree.snapshot();
    let run = env.run(&tree, &[&args[..], &["--yes"]].concat());
    run.assert_code(1);
    assert!(run.stdout.contains("nothing to change"), "{}", run.all());
    assert_unchanged(&tree, &again, "second sync");
}

#[test]
fn sync_on_the_realistic_tree_keeps_tabs_and_orders_like_dpkg() {
    let tree = Tree::new(Layout::Realistic);
    let deps = tree.read(DEPENDENCIES);
    let index = packages_for(
        &deps,
        &[
            ("chef", Some(&["16.9.29-1", "16.9.32-1"])),
            // 1.16.15 > 1.16.2 for dpkg, not for a string comparison.
            ("kubeadm", Some(&["1.16.15-00", "1.16.2-00", "1.16.9-00"])),
            ("kubectl", Some(&["1.16.2-00", "1.16.15-00"])),
            ("kubelet", Some(&["1.16.15-00", "1.16.2-00"])),
            (
                "docker-ce-cli",
                Some(&[
                    "5:19.03.13~3-0~ubuntu-bionic",
                    "5:19.03.15~3-0~ubuntu-bionic",
                ]),
            ),
            ("crictl", Some(&["1.16.1", "1.16.1-1"])),
        ],
    );
    let mut files = BTreeMap::new();
    files.insert("/snap/Packages.gz".to_string(), gzip(index.as_bytes()));
    let server = Server::files(files, None);
    let before = tree.snapshot();
    let env = Env::new();
    let run = env.run(
        &tree,
        &[
            "deps",
            "sync",
            "--packages",
            &server.url("/snap/Packages.gz"),
            "--yes",
        ],
    );
    run.assert_code(0);
    let changed = changes(&before, &tree.snapshot());
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        [BASE_POLICY, DEPENDENCIES]
    );
    let want = replaced(
        &deps,
        &[
            ("=16.9.29-1\n", "=16.9.32-1\n", 1),
            (
                "docker-ce-cli\t\t\t=5:19.03.13~3-0~ubuntu-bionic\n",
                "docker-ce-cli\t\t\t=5:19.03.15~3-0~ubuntu-bionic\n",
                1,
            ),
            ("=1.16.2-00\n", "=1.16.15-00\n", 3),
            (
                "crictl                          =1.16.1\n",
                "crictl                          =1.16.1-1\n",
                1,
            ),
        ],
    );
    assert_eq!(tree.read(DEPENDENCIES), want);
    assert!(tree
        .read(DEPENDENCIES)
        .contains("kubelet\t\t\t\t=1.16.15-00\n"));
    assert_eq!(
        tree.read(BASE_POLICY),
        replaced(
            &text_of(&before, BASE_POLICY),
            &[("['version'] = \"16.9.29\"", "['version'] = \"16.9.32\"", 1)]
        )
    );
}

#[test]
fn bump_base_image_sync_deps_moves_snapshot_and_pins_in_one_changeset() {
    let with = Tree::new(Layout::A);
    let without = Tree::new(Layout::A);
    let server = Server::files(repository(&with.read(DEPENDENCIES)), None);
    for tree in [&with, &without] {
        point_at(tree, &server);
        tree.init_git();
    }
    let env = Env::new();
    let before = with.snapshot();
    let bump = ["bump-base-image", "3.0.2", "--apt-snapshot", "2021-03-01"];

    // One preview holds the snapshot and the pins.
    let run = env.run(&with, &[&bump[..], &["--sync-deps", "--dry-run"]].concat());
    run.assert_code(0);
    for line in [
        "+APT_REPO=\"http://127.0.0.1:",
        "+docker-ce                       =5:20.10.14~3-0~ubuntu-bionic",
        "+default['chef_client_updater']['version'] = '17.9.26'",
        "+VERSION = 3.0.2",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.all());
    }
    assert!(
        run.stderr
            .contains("not synced, edit by hand: parseovf >=0.2"),
        "{}",
        run.all()
    );
    assert_unchanged(&with, &before, "bump --dry-run");

    // A snapshot that cannot be read stops the whole bump: nothing written.
    let down = closed_port();
    with.edit(
        BUILD_SH,
        &format!("127.0.0.1:{}", server.port()),
        &format!("127.0.0.1:{down}"),
    );
    let mid = with.snapshot();
    let run = env.run(
        &with,
        &[&bump[..], &["--sync-deps", "--yes", "--allow-dirty"]].concat(),
    );
    run.assert_code(1);
    assert!(run.stderr.contains("cannot download"), "{}", run.all());
    assert_unchanged(&with, &mid, "bump with the server down");
    with.edit(
        BUILD_SH,
        &format!("127.0.0.1:{down}"),
        &format!("127.0.0.1:{}", server.port()),
    );
    assert_unchanged(&with, &before, "restored");

    let run = env.run(&with, &[&bump[..], &["--sync-deps", "--yes"]].concat());
    run.assert_code(0);
    env.run(&without, &[&bump[..], &["--yes"]].concat())
        .assert_code(0);

    // With --sync-deps: exactly the plain bump, plus the pins and chef-client.
    let plain = without.snapshot();
    let synced = with.snapshot();
    let differ: Vec<&String> = plain
        .keys()
        .filter(|path| !path.starts_with("target/") && plain.get(*path) != synced.get(*path))
        .collect();
    assert_eq!(differ, [BASE_POLICY, DEPENDENCIES]);
    assert_eq!(
        with.read(BASE_POLICY),
        replaced(&text_of(&plain, BASE_POLICY), &[MARCH_CHEF_CLIENT])
    );
    assert_eq!(
        with.read(DEPENDENCIES),
        replaced(&text_of(&before, DEPENDENCIES), &MARCH_PINS)
    );
    // And the bump itself happened: the snapshot moved at every site.
    let moved = server.url("/cirrus/2021-03-01");
    assert!(with
        .read(BUILD_SH)
        .contains(&format!("APT_REPO=\"{moved}\"")));
    assert!(with.read(RECIPE).contains(&format!("uri '{moved}'")));
    let changed = changes(&before, &synced);
    assert!(
        changed.len() > 2,
        "{:?}",
        changed.keys().collect::<Vec<_>>()
    );
}

#[test]
fn credentials_come_from_apt_auth_and_netrc_and_are_never_shown() {
    let (tree, server) = served_tree(Some((USER, PASSWORD)));
    let before = tree.snapshot();
    let mut env = Env::new();

    // A PATH-front curl that logs its arguments and the config file's mode.
    let spy = TempDir::new("curl-spy");
    let (path, log) = curl_spy(spy.path());
    env.set("PATH", &path);
    let mut runs = Vec::new();

    // No credentials: 401, and what to do about it.
    let run = env.run(&tree, &["deps", "outdated"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("answered 401 (login needed)"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains(&format!(
            "machine http://127.0.0.1:{} login <user> password <password>",
            server.port()
        )),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("auth.conf.d"), "{}", run.all());
    runs.push(run);

    // An entry without a protocol is for https only (apt_auth.conf(5)): still 401.
    env.file(
        "etc/auth.conf",
        &format!("machine 127.0.0.1 login {USER} password {PASSWORD}\n"),
    );
    let run = env.run(&tree, &["deps", "outdated"]);
    run.assert_code(1);
    assert!(run.stderr.contains("answered 401"), "{}", run.all());
    runs.push(run);

    // apt's auth.conf.d, with protocol, port and path.
    env.file(
        "etc/auth.conf.d/50-mirror.conf",
        &format!("# the snapshot mirror\nmachine http://127.0.0.1:{}/cirrus\n  login {USER}\n  password {PASSWORD}\n", server.port()),
    );
    let run = env.run(&tree, &["-v", "deps", "outdated", "--json"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("--config"),
        "-v shows the curl command, with its config on standard input\n{}",
        run.all()
    );
    assert!(verdicts(&run.json()).values().all(|(_, v)| v == "current"));
    runs.push(run);
    let authorized = server
        .requests()
        .into_iter()
        .filter(|r| r.header("Authorization").is_some())
        .count();
    assert!(authorized >= 1);

    // A wrong password is refused, and said so.
    fs::remove_file(env.dir.path().join("etc/auth.conf.d/50-mirror.conf")).unwrap();
    fs::remove_file(env.dir.path().join("etc/auth.conf")).unwrap();
    env.file(
        "home/.netrc",
        &format!("machine 127.0.0.1 login {USER} password wrong-{PASSWORD}\n"),
    );
    let run = env.run(&tree, &["deps", "outdated"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("credentials found for it were refused"),
        "{}",
        run.all()
    );
    runs.push(run);

    // ~/.netrc, as curl reads it (host only), and through HOME.
    env.set("NETRC", "");
    env.file("home/.netrc", &format!("default login nobody password nothing\nmachine 127.0.0.1 login {USER} password {PASSWORD}\n"));
    let run = env.run(
        &tree,
        &["deps", "sync", "--apt-snapshot", "2021-03-01", "--dry-run"],
    );
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("+chef                            =17.9.26-1"),
        "{}",
        run.all()
    );
    runs.push(run);

    // Credentials written in a --packages URL are used, never repeated.
    fs::remove_file(env.dir.path().join("home/.netrc")).unwrap();
    let url = server
        .url(&format!("/cirrus/2021-03-01/{BINARY}/Packages.gz"))
        .replace(
            "http://",
            &format!(
                "http://{USER}:{}@",
                PASSWORD.replace('"', "%22").replace('\\', "%5C")
            ),
        );
    let run = env.run(&tree, &["deps", "outdated", "--packages", &url]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cargo xtask deps sync --packages 'http://***@127.0.0.1"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains(&format!(
            "package index: http://127.0.0.1:{}/",
            server.port()
        )),
        "{}",
        run.all()
    );
    runs.push(run);

    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls.lines().filter(|l| l.starts_with("ARGS ")).count() >= 6,
        "{calls}"
    );
    for secret in [PASSWORD, "%22q%5Cuote", "q\\uote"] {
        assert!(
            !calls.contains(secret),
            "a curl argument holds the password:\n{calls}"
        );
        for run in &runs {
            assert!(
                !run.all().contains(secret),
                "output holds the password:\n{}",
                run.all()
            );
        }
    }
    // The credentials reach curl only on its standard input, and no
    // ~/.curlrc is read (`-q` comes first): no config file to leave behind.
    assert!(
        !calls.lines().any(|l| l.starts_with("CONFIG ")),
        "a config file on curl's command line:\n{calls}"
    );
    assert!(
        calls
            .lines()
            .filter(|l| l.starts_with("ARGS "))
            .all(|l| l.starts_with("ARGS -q --config - ")),
        "{calls}"
    );
    // Nothing the xtask kept (logs, state) holds it either.
    for (path, (bytes, _)) in tree.snapshot() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "{path} holds the password"
        );
    }
    assert_unchanged(&tree, &before, "credential runs");
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let (tree, server) = served_tree(None);
    let env = Env::new();
    let not_an_index = tree.path("openstack-tenant/packages/mobiledgex/Makefile");
    let lz4 = TempDir::new("lz4");
    fs::write(
        lz4.path().join("Packages.lz4"),
        [0x04, 0x22, 0x4d, 0x18, 0, 0],
    )
    .unwrap();
    let broken_gz = lz4.path().join("broken");
    fs::write(&broken_gz, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    // A FIFO would block the read forever.
    let fifo = lz4.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--apt-snapshot".into(), "2021-02-30".into()],
            "not an APT snapshot date",
        ),
        (
            vec!["--apt-snapshot".into(), "yesterday".into()],
            "not an APT snapshot date",
        ),
        (
            vec!["--packages".into(), "/nonexistent/Packages".into()],
            "cannot read the package index /nonexistent/Packages",
        ),
        (
            vec!["--packages".into(), lz4.path().display().to_string()],
            "is a folder",
        ),
        (
            vec!["--packages".into(), not_an_index.display().to_string()],
            "holds no package stanzas",
        ),
        (
            vec![
                "--packages".into(),
                lz4.path().join("Packages.lz4").display().to_string(),
            ],
            "lz4-compressed",
        ),
        (
            vec!["--packages".into(), broken_gz.display().to_string()],
            "does not decompress",
        ),
        (
            vec!["--packages".into(), fifo.display().to_string()],
            "not a regular file",
        ),
        (
            vec!["--packages".into(), "http://127.0.0.1:notaport/x".into()],
            "bad host or port",
        ),
        (vec!["--distribution".into(), "".into()], "--distribution"),
        (
            vec!["--component".into(), "main contrib".into()],
            "--component",
        ),
    ];
    let before = tree.snapshot();
    for command in ["outdated", "sync"] {
        for (args, message) in &cases {
            let mut full: Vec<&str> = vec!["deps", command];
            full.extend(args.iter().map(String::as_str));
            full.push(if command == "sync" { "--yes" } else { "--json" });
            let run = env.run(&tree, &full);
            run.assert_refused(&format!("{full:?}"), &[message]);
            assert!(
                run.stdout.is_empty() || command == "sync",
                "{full:?}\n{}",
                run.all()
            );
        }
    }
    // A line of `dependencies` that does not read cannot be checked.
    tree.edit(
        DEPENDENCIES,
        "helm                            =3.4.2",
        "helm                            =3.4.2 extra",
    );
    let broken = tree.snapshot();
    let run = env.run(&tree, &["deps", "outdated"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!("{DEPENDENCIES}:")),
        "{}",
        run.all()
    );
    assert_unchanged(&tree, &broken, "bad dependencies");
    tree.edit(
        DEPENDENCIES,
        "helm                            =3.4.2 extra",
        "helm                            =3.4.2",
    );
    // --apt-snapshot needs a dated APT_REPO.
    tree.edit(BUILD_SH, "/cirrus/2021-02-01\"", "/cirrus/latest\"");
    let run = env.run(&tree, &["deps", "outdated", "--apt-snapshot", "2021-03-01"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("does not end in a snapshot date"),
        "{}",
        run.all()
    );
    tree.edit(BUILD_SH, "/cirrus/latest\"", "/cirrus/2021-02-01\"");
    assert_unchanged(&tree, &before, "bad input");
    assert!(
        server.requests().is_empty(),
        "nothing was fetched for bad input: {:?}",
        server.paths()
    );
}

/// A compression bomb (1.1 MB of gzip, 300 MiB unpacked) and a sparse
/// 300 MiB file: both refused (exit 2) once 256 MiB were read, streaming,
/// under a 256 MiB address-space limit (whole files in memory needed GBs).
#[test]
fn compression_bombs_and_huge_files_are_refused_in_bounded_memory() {
    let tree = Tree::new(Layout::A);
    let dir = TempDir::new("bomb");
    let member = gzip(&vec![0u8; 1 << 20]);
    let bomb = dir.path().join("Packages.gz");
    fs::write(&bomb, member.repeat(300)).unwrap();
    let huge = dir.path().join("Packages");
    fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    for file in [&bomb, &huge] {
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 262144 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_xtask"))
            .arg("-C")
            .arg(tree.root())
            .args(["--color", "never", "deps", "outdated", "--packages"])
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run::from(out).assert_refused(
            &file.display().to_string(),
            &["more than 256 MiB of index text", "compression bomb"],
        );
    }
}

#[test]
fn network_failures_exit_1_with_a_clear_message() {
    let (tree, server) = served_tree(None);
    let env = Env::new();
    let before = tree.snapshot();

    // A snapshot date the repository does not have.
    let run = env.run(&tree, &["deps", "outdated", "--apt-snapshot", "2020-01-01"]);
    run.assert_code(1);
    assert!(run.stderr.contains("has no package index"), "{}", run.all());
    assert!(
        run.stderr.contains(
            "/cirrus/2020-01-01/dists/bionic/main/binary-amd64/{Packages.gz,Packages.xz,Packages}"
        ),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("Is the snapshot date right"),
        "{}",
        run.all()
    );
    let run = env.run(
        &tree,
        &[
            "deps",
            "outdated",
            "--packages",
            &server.url("/nothing/Packages"),
        ],
    );
    run.assert_code(1);
    assert!(run.stderr.contains("answered 404"), "{}", run.all());

    // Nobody listens on a port just closed.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/Packages");
    for args in [
        vec!["deps", "outdated", "--packages", &url],
        vec!["deps", "sync", "--packages", &url, "--dry-run"],
    ] {
        let run = env.run(&tree, &args);
        run.assert_code(1);
        assert!(
            run.stderr
                .contains(&format!("cannot download http://127.0.0.1:{port}/Packages")),
            "{}",
            run.all()
        );
        assert!(run.stderr.contains("is the network up"), "{}", run.all());
    }
    assert_unchanged(&tree, &before, "network failures");
}

/// The machine's own main index (bookworm main on Debian; apt keeps it
/// lz4-compressed): the largest one that has the packages the test pins.
fn real_index() -> Option<String> {
    common::apt_package_indexes()
        .iter()
        .filter_map(|path| common::read_apt_index(path))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .find(|index| {
            ["bash", "coreutils", "tar", "libc6", "dpkg"]
                .iter()
                .all(|name| index.contains(&format!("\nPackage: {name}\n")))
        })
}

/// The `Version:` of the first stanza of `name`, read without the xtask.
fn version_in(index: &str, name: &str) -> String {
    let stanza = index
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == format!("Package: {name}")))
        .unwrap();
    stanza
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string()
}

#[test]
fn real_bookworm_index_current_behind_missing_unsatisfiable() {
    let Some(index) = real_index() else {
        common::skip_or_fail(
            "no apt Packages index with bash, coreutils, tar, libc6 and dpkg is readable \
             in /var/lib/apt/lists with /usr/lib/apt/apt-helper (run `apt-get update`)",
        );
        return;
    };
    let dir = TempDir::new("bookworm");
    let file = dir.path().join("Packages");
    fs::write(&file, &index).unwrap();
    let (bash, coreutils, tar) = (
        version_in(&index, "bash"),
        version_in(&index, "coreutils"),
        version_in(&index, "tar"),
    );
    let tree = Tree::new(Layout::A);
    tree.write(
        DEPENDENCIES,
        &format!(
            "# real bookworm packages\nbash                            ={bash}\ncoreutils\t\t\t=8.0-1\ntar                             >=1.0\nlibc6                           >=99.0\nxtask-no-such-package           =1.0\ndpkg                            <<1.0\n"
        ),
    );
    let env = Env::new();
    let path = file.to_str().unwrap();
    let run = env.run(&tree, &["deps", "outdated", "--packages", path, "--json"]);
    run.assert_code(1);
    let got = verdicts(&run.json());
    assert_eq!(got["bash"], (Some(bash.clone()), "current".into()));
    assert_eq!(got["coreutils"], (Some(coreutils.clone()), "behind".into()));
    assert_eq!(got["tar"], (Some(tar), "current".into()));
    assert_eq!(got["libc6"].1, "unsatisfiable");
    assert_eq!(got["xtask-no-such-package"], (None, "missing".into()));
    assert_eq!(got["dpkg"].1, "unsatisfiable");

    // Compressed by gzip under a neutral name: the same verdicts.
    let packed = dir.path().join("index");
    fs::write(&packed, gzip(index.as_bytes())).unwrap();
    let run = env.run(
        &tree,
        &[
            "deps",
            "outdated",
            "--packages",
            packed.to_str().unwrap(),
            "--json",
        ],
    );
    run.assert_code(1);
    assert_eq!(verdicts(&run.json()), got);

    let before = tree.read(DEPENDENCIES);
    let run = env.run(&tree, &["deps", "sync", "--packages", path, "--yes"]);
    run.assert_code(1);
    assert_eq!(
        tree.read(DEPENDENCIES),
        before.replace(
            "coreutils\t\t\t=8.0-1\n",
            &format!("coreutils\t\t\t={coreutils}\n")
        )
    );
    assert!(
        run.stderr.contains("3 pins cannot be synced"),
        "{}",
        run.all()
    );
}
