//! `cargo xtask release` end to end: real git, make and dpkg-deb, the fake
//! cloud and chef tools, an APT snapshot served on 127.0.0.1. A failure is
//! injected at each step in turn; `--resume` then finishes the release with
//! no step done twice.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::apt::tree_with_snapshot;
use common::artifactory::{artifactory, digest, stateful_artifactory};
use common::http::{basic_auth, Server};
use common::{Fakes, Layout, Run, Tree};
use serde_json::Value;

const STATE: &str = "target/xtask/release.json";

/// Where the release's .deb is in the loopback Artifactory.
const DEB_PATH: &str = "/artifactory/packages/pool/mobiledgex_3.0.2_amd64.deb";

/// The fakes, with a loopback Artifactory (ARTIFACTORY_URL, credentials for
/// the uploads) that keeps what is uploaded and starts with `seeded`.
fn fakes_with(seeded: &[&str]) -> (Fakes, common::http::Server) {
    let mut fakes = Fakes::new();
    fakes.seed_rendition_cookbooks();
    let server = stateful_artifactory(seeded);
    fakes
        .set("ARTIFACTORY_URL", &server.url("/artifactory"))
        .set("ARTIFACTORY_USER", "publisher")
        .set("ARTIFACTORY_PASSWORD", "image-pa55");
    (fakes, server)
}

/// The fakes, with the .deb of 3.0.2 already in Artifactory (published by
/// hand, as a release without --publish expects).
fn fakes() -> Fakes {
    fakes_with(&[DEB_PATH]).0
}

/// `release 3.0.2 --publish --yes` on a new tree, stopped (exit 1) by a
/// failure of `fail` (a fake's `tool:action`, e.g. `knife:upload`); the
/// fakes are handed back with the failure cleared, ready for `--resume`.
fn stopped_release(fail: &str) -> (Tree, Fakes, common::http::Server) {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let (mut fakes, server) = fakes_with(&[]);
    fakes
        .set("ARTIFACTORY_USER", "alice")
        .set("ARTIFACTORY_PASSWORD", "release-pa55-zebra")
        .set("XTASK_FAKE_FAIL", fail);
    fakes
        .run(&tree, &["release", "3.0.2", "--publish", "--yes"])
        .assert_code(1);
    fakes.set("XTASK_FAKE_FAIL", "");
    (tree, fakes, server)
}

fn state(tree: &Tree) -> Value {
    serde_json::from_str(&tree.read(STATE)).unwrap()
}

/// Each step's id with its state and how often it was started.
fn steps(tree: &Tree) -> Vec<(String, String, u64)> {
    state(tree)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
                s["attempts"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}

/// The tree after a complete release of 3.0.2.
fn assert_released(tree: &Tree, fakes: &Fakes, run: &Run) {
    assert!(tree
        .read("openstack-tenant/packages/mobiledgex/Makefile")
        .contains("VERSION = 3.0.2\n"));
    assert!(tree
        .read("vmlayer/props.go")
        .contains("var MEXInfraVersion = \"3.0.2\""));
    assert!(tree
        .path("openstack-tenant/packages/mobiledgex/mobiledgex_3.0.2_amd64.deb")
        .is_file());
    assert!(fakes
        .state()
        .join("glance/mobiledgex-v3.0.2.json")
        .is_file());
    assert!(fakes
        .state()
        .join("cookbooks/upgrade_mobiledgex_package/1.0.15")
        .is_file());
    let calls = fakes.calls();
    assert_eq!(
        count(&calls, "chef push"),
        0,
        "release never pushes a policy: {calls:#?}"
    );
    assert!(
        run.stdout.contains("cargo xtask chef-push --group"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ONLY AFTER"), "{}", run.stdout);
    for (id, state, _) in steps(tree) {
        assert_eq!(state, "done", "{id}");
    }
    let check = tree.xtask(&["check"]);
    check.assert_code(0);
    fakes.assert_no_secrets(tree, run);
}

#[test]
fn a_whole_release_runs_every_step_once_in_order_and_never_pushes() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let fakes = fakes();
    let run = fakes.run(&tree, &["release", "3.0.2", "--yes"]);
    run.assert_code(0);
    assert_released(&tree, &fakes, &run);
    let ids: Vec<String> = steps(&tree)
        .into_iter()
        .map(|(id, _, n)| format!("{id}×{n}"))
        .collect();
    assert_eq!(
        ids,
        [
            "bump×1",
            "build-package×1",
            "preflight×1",
            "chef-policy×1",
            "commit×1",
            "build-image:openstack×1",
            "publish-image×1",
        ]
    );
    // One commit of the release's edits, as the humans wrote it.
    let log = tree.git(&["log", "-1", "--format=%s", "--name-only"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.starts_with("Base image 3.0.2\n"), "{log}");
    for file in ["vmlayer/props.go", "chef/policyfiles/base.lock.json"] {
        assert!(log.contains(file), "{file}: {log}");
    }
    // The image build's preflight ran as a check of the release's own
    // edits: no warning about flags the user never passed.
    assert!(!run.all().contains("--allow-dirty"), "{}", run.all());
    assert!(!run.all().contains("--allow-unpublished"), "{}", run.all());
    let dirty = tree.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert!(
        dirty.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&dirty.stdout)
    );
    // The irreversible tools, in the runbook's order.
    let calls = fakes.calls();
    let order: Vec<&str> = calls
        .iter()
        .filter_map(|c| {
            [
                "packer build",
                "knife upload",
                "chef install policyfiles/base.rb",
            ]
            .into_iter()
            .find(|p| c.starts_with(p))
        })
        .collect();
    assert_eq!(
        order,
        [
            "knife upload",
            "chef install policyfiles/base.rb",
            "packer build",
        ]
    );
    let status = fakes.run(&tree, &["release", "--status"]);
    status.assert_code(0);
    assert_eq!(
        status.stdout.matches("[done]").count(),
        7,
        "{}",
        status.stdout
    );
    // Each done step says how long it took.
    assert!(status.stdout.contains("s)\n"), "{}", status.stdout);
    let json = fakes.run(&tree, &["release", "--status", "--json"]);
    json.assert_code(0);
    assert_eq!(json.json()["steps"][0]["state"], "done");
    assert!(json.json()["steps"][0]["seconds"].is_f64());
}

#[test]
fn layout_b_and_all_platforms() {
    let (tree, _) = tree_with_snapshot(Layout::B, None);
    let fakes = fakes();
    let run = fakes.run(&tree, &["release", "3.0.2", "--all-platforms", "--yes"]);
    run.assert_code(0);
    for image in [
        "mobiledgex-v3.0.2",
        "mobiledgex-v3.0.2-vcd",
        "mobiledgex-v3.0.2-vsphere",
    ] {
        assert!(
            fakes.state().join(format!("glance/{image}.json")).is_file(),
            "{image}"
        );
    }
    assert_eq!(count(&fakes.calls(), "packer build"), 3);
    assert!(tree
        .read("chef/policyfiles/base.rb")
        .contains("default['mobiledgeXPackageVersion'] = '3.0.2'"));
    tree.xtask(&["check"]).assert_code(0);
}

/// How to make one step fail, and how to undo it before resuming.
struct Fault {
    step: &'static str,
    inject: fn(&Tree, &mut Fakes),
    undo: fn(&Tree, &mut Fakes),
}

const BUILD_SH: &str = "openstack-tenant/packages/build.sh";

fn set_mode(tree: &Tree, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tree.path(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chattr(tree: &Tree, flag: &str, rel: &str) -> bool {
    Command::new("chattr")
        .arg(flag)
        .arg(tree.path(rel))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const FAULTS: [Fault; 4] = [
    Fault {
        step: "bump",
        // props.go cannot be replaced: the all-or-nothing write fails and restores.
        inject: |tree, _| {
            assert!(
                chattr(tree, "+i", "vmlayer/props.go"),
                "chattr +i is needed here"
            )
        },
        undo: |tree, _| assert!(chattr(tree, "-i", "vmlayer/props.go")),
    },
    Fault {
        step: "build-package",
        // make cannot run the package's build.sh.
        inject: |tree, _| set_mode(tree, BUILD_SH, 0o644),
        undo: |tree, _| set_mode(tree, BUILD_SH, 0o755),
    },
    Fault {
        step: "build-image:openstack",
        inject: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "packer:build");
        },
        undo: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "");
        },
    },
    Fault {
        step: "chef-policy",
        inject: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "knife:upload");
        },
        undo: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "");
        },
    },
];

#[test]
fn a_failure_at_each_step_then_resume_finishes_without_redoing_anything() {
    let chattr = chattr_works();
    if !chattr {
        common::skip_or_fail(
            "the bump fault: `chattr +i` does not work here (needs root, e2fsprogs and a file system with the flag)",
        );
    }
    for fault in FAULTS.iter().filter(|f| f.step != "bump" || chattr) {
        let (tree, _) = tree_with_snapshot(Layout::A, None);
        let mut fakes = fakes();
        (fault.inject)(&tree, &mut fakes);
        let failed = fakes.run(&tree, &["release", "3.0.2", "--yes"]);
        (fault.undo)(&tree, &mut fakes);
        failed.assert_code(1);
        assert!(
            failed.stderr.contains("cargo xtask release --resume"),
            "{}",
            failed.stderr
        );
        let states = steps(&tree);
        let at = states
            .iter()
            .position(|(id, _, _)| id == fault.step)
            .unwrap();
        for (i, (id, state, attempts)) in states.iter().enumerate() {
            let want = match i.cmp(&at) {
                std::cmp::Ordering::Less => ("done", 1),
                std::cmp::Ordering::Equal => ("failed", 1),
                std::cmp::Ordering::Greater => ("pending", 0),
            };
            assert_eq!((state.as_str(), *attempts), want, "{}: {id}", fault.step);
        }
        // Nothing irreversible after the failure.
        let calls = fakes.calls();
        let index = |id: &str| states.iter().position(|(s, _, _)| s == id).unwrap();
        if at < index("build-image:openstack") {
            assert_eq!(count(&calls, "packer build"), 0, "{}", fault.step);
        }
        if at < index("chef-policy") {
            assert_eq!(count(&calls, "knife upload"), 0, "{}", fault.step);
        }
        let status = fakes.run(&tree, &["release", "--status"]);
        assert!(status.stdout.contains("[failed]"), "{}", status.stdout);

        let resumed = fakes.run(&tree, &["release", "--resume", "--yes"]);
        resumed.assert_code(0);
        assert_released(&tree, &fakes, &resumed);
        let gate = states
            .iter()
            .position(|(id, _, _)| id == "preflight")
            .unwrap();
        for (i, (id, _, attempts)) in steps(&tree).iter().enumerate() {
            // The preflight runs again on every run while an irreversible step is left.
            let want = if i == at || (i == gate && at > gate) {
                2
            } else {
                1
            };
            assert_eq!(
                *attempts, want,
                "{}: {id} started {attempts} times",
                fault.step
            );
        }
        let calls = fakes.calls();
        let builds = count(&calls, "packer build");
        assert_eq!(
            builds,
            if fault.step == "build-image:openstack" {
                2
            } else {
                1
            },
            "{calls:#?}"
        );
    }
}

fn chattr_works() -> bool {
    let dir = common::TempDir::new("chattr");
    let file = dir.path().join("probe");
    std::fs::write(&file, "x").unwrap();
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(&file)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("chattr").arg("-i").arg(&file).status();
    }
    ok
}

#[test]
fn resume_refuses_when_the_tree_no_longer_matches_a_done_step() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    fakes.set("XTASK_FAKE_FAIL", "packer:build");
    fakes
        .run(&tree, &["release", "3.0.2", "--yes"])
        .assert_code(1);
    fakes.set("XTASK_FAKE_FAIL", "");

    // Someone moved the version on by hand: the built package is not this release's.
    tree.edit(
        "openstack-tenant/packages/mobiledgex/Makefile",
        "VERSION = 3.0.2",
        "VERSION = 3.0.3",
    );
    let before = tree.snapshot();
    let refused = fakes.run(&tree, &["release", "--resume", "--yes"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("VERSION is 3.0.3"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("bumped it to 3.0.2"),
        "{}",
        refused.stderr
    );
    assert_eq!(tree.snapshot(), before);
    tree.edit(
        "openstack-tenant/packages/mobiledgex/Makefile",
        "VERSION = 3.0.3",
        "VERSION = 3.0.2",
    );

    // The package's inputs changed (as `deps fix` would change them) while
    // nothing was shipped: the package is built again, then the release goes on.
    let deps = "openstack-tenant/packages/mobiledgex/dependencies";
    let text = tree.read(deps);
    tree.write(deps, &format!("# re-pinned after a failed build\n{text}"));
    // Uncommitted, it is not the release's own edit: the preflight refuses.
    let refused = fakes.run(&tree, &["release", "--resume", "--yes"]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("not the release's own"),
        "{}",
        refused.stderr
    );
    assert_eq!(count(&fakes.calls(), "packer build"), 1);
    assert!(
        refused.stderr.contains("build-package runs again"),
        "{}",
        refused.stderr
    );
    tree.git(&["commit", "-q", "-am", "Re-pin"]);
    let resumed = fakes.run(&tree, &["release", "--resume", "--yes"]);
    resumed.assert_code(0);
    let attempts: Vec<(String, u64)> = steps(&tree).into_iter().map(|(id, _, n)| (id, n)).collect();
    assert_eq!(
        attempts,
        [
            ("bump", 1),
            ("build-package", 2),
            ("preflight", 3),
            ("chef-policy", 2),
            ("commit", 2),
            ("build-image:openstack", 2),
            ("publish-image", 1),
        ]
        .map(|(id, n)| (id.to_string(), n))
    );
    assert_released(&tree, &fakes, &resumed);
}

#[test]
fn the_resume_fingerprint_covers_every_package_input() {
    // A maintainer script, an installed script and packages/build.sh are as
    // much the .deb's inputs as the Makefile and dependencies. Changed (and
    // committed, as the preflight wants) before anything was published, the
    // package is built again.
    for (file, edit) in [
        (
            "openstack-tenant/packages/mobiledgex/postinst",
            "# changed after the build\n",
        ),
        (
            "openstack-tenant/packages/mobiledgex/cleanup-vm.sh",
            "# changed\n",
        ),
        ("openstack-tenant/packages/build.sh", "# changed\n"),
    ] {
        let (tree, fakes, _server) = stopped_release("vault:kv:get");
        let text = tree.read(file);
        tree.write(file, &format!("{text}{edit}"));
        tree.git(&["commit", "-q", "-m", "a package input changes", "--", file]);
        let resumed = fakes.run(&tree, &["release", "--resume", "--yes"]);
        resumed.assert_code(0);
        let name = file.rsplit('/').next().unwrap();
        assert!(
            resumed.stderr.contains("build-package runs again") && resumed.stderr.contains(name),
            "{file}: {}",
            resumed.stderr
        );
        let attempts: Vec<(String, u64)> =
            steps(&tree).into_iter().map(|(id, _, n)| (id, n)).collect();
        assert_eq!(attempts[1], ("build-package".to_string(), 2), "{file}");
        // What make writes (the package folder, the .deb) is no input: a
        // second resume has nothing to redo.
        let again = fakes.run(&tree, &["release", "--resume", "--yes"]);
        assert!(
            !again.stderr.contains("runs again"),
            "{file}: {}",
            again.all()
        );
    }

    // Once the package was published, a changed postinst needs a new
    // version, named with the file.
    let (tree, fakes, _server) = stopped_release("knife:upload");
    let postinst = "openstack-tenant/packages/mobiledgex/postinst";
    let text = tree.read(postinst);
    tree.write(postinst, &format!("{text}# changed\n"));
    fakes
        .run(&tree, &["release", "--resume", "--yes"])
        .assert_refused(
            "postinst changed after the package was published",
            &["postinst", "cargo xtask release 3.0.3"],
        );
}

#[test]
fn after_the_package_is_published_changed_pins_need_a_new_version() {
    let (tree, fakes, _server) = stopped_release("knife:upload");
    let deps = "openstack-tenant/packages/mobiledgex/dependencies";
    let text = tree.read(deps);
    tree.write(deps, &format!("# re-pinned\n{text}"));
    let before = tree.snapshot();
    let refused = fakes.run(&tree, &["release", "--resume", "--yes"]);
    refused.assert_refused(
        "resume after the package was published",
        &["cargo xtask release 3.0.3"],
    );
    assert_eq!(tree.snapshot(), before);
    assert_eq!(count(&fakes.calls(), "packer build"), 0);
    // Starting over at the version every site already has is not a downgrade.
    fakes
        .run(&tree, &["release", "3.0.2", "--dry-run"])
        .assert_code(0);
}

#[test]
fn ctrl_c_stops_the_build_and_the_interrupted_step_counts_as_not_done() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    fakes.set("XTASK_FAKE_PACKER_BUILD_SECONDS", "60");
    let mut cmd = common::xtask_command(tree.root(), &["release", "3.0.2", "--yes"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, value) in fakes_env(&fakes) {
        cmd.env(key, value);
    }
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    while count(&fakes.calls(), "packer build") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // While it runs: --status says so, and a second release does not start.
    let running = fakes.run(&tree, &["release", "--status"]);
    running.assert_code(0);
    assert!(
        running
            .stdout
            .contains(&format!("[running (pid {})] ", child.id())),
        "{}",
        running.stdout
    );
    fakes
        .run(&tree, &["release", "--resume", "--yes"])
        .assert_refused(
            "release --resume while the release runs",
            &[
                "another xtask command is running on this checkout: ",
                "release 3.0.2 --yes` (pid ",
            ],
        );
    common::send_signal(child.id() as i32, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "128+SIGINT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&fakes.calls(), "packer build"), 1, "no second build");
    assert!(!fakes.state().join("glance/mobiledgex-v3.0.2.json").exists());
    let states = steps(&tree);
    assert_eq!(
        states[5],
        (
            "build-image:openstack".to_string(),
            "interrupted".to_string(),
            1
        )
    );
    let status = fakes.run(&tree, &["release", "--status"]);
    assert!(
        status.stdout.contains("interrupted (not done)"),
        "{}",
        status.stdout
    );

    fakes.set("XTASK_FAKE_PACKER_BUILD_SECONDS", "");
    let resumed = fakes.run(&tree, &["release", "--resume", "--yes"]);
    resumed.assert_code(0);
    assert_released(&tree, &fakes, &resumed);
}

/// The environment `Fakes::run` would use, for a run started by hand.
fn fakes_env(fakes: &Fakes) -> Vec<(String, String)> {
    fakes.env()
}

#[test]
fn the_plan_is_shown_first_and_nothing_runs_without_confirmation() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let fakes = fakes();
    let before = tree.snapshot();
    let dry = fakes.run(&tree, &["release", "3.0.2", "--all-platforms", "--dry-run"]);
    dry.assert_code(0);
    for line in [
        "1. [pending] set base image version 3.0.2 at every site",
        "build image mobiledgex-v3.0.2-vcd (vcd)  [irreversible]",
        "update the chef policy: cookbook upload, and every lock the bump made stale",
        "$ cargo xtask chef-policy --yes",
        "never run by release: cargo xtask chef-push",
        "+VERSION = 3.0.2",
    ] {
        assert!(dry.stdout.contains(line), "{line}\n{}", dry.stdout);
    }
    // A dry run needs no user: it shows a placeholder and says what a real run needs.
    let mut no_user = fakes_env(&fakes);
    no_user.retain(|(k, _)| k != "USER");
    no_user.extend([
        ("USER".to_string(), String::new()),
        ("LOGNAME".to_string(), String::new()),
    ]);
    let dry = tree.xtask_env(&["release", "3.0.2", "--dry-run"], &no_user);
    dry.assert_code(0);
    assert!(
        dry.stderr.contains("a real release needs --user <USER>"),
        "{}",
        dry.stderr
    );

    let refused = fakes.run(&tree, &["release", "3.0.2"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("not a terminal"),
        "{}",
        refused.stderr
    );
    assert_eq!(tree.snapshot(), before);
    assert!(fakes.calls().is_empty(), "{:#?}", fakes.calls());

    for bad in [
        &["release", "3.0"][..],
        &["release", "3.0.1"],
        &["release", "3.0.2", "--apt-snapshot", "2021-02-30"],
        &["release", "--resume"],
    ] {
        let run = fakes.run(&tree, bad);
        run.assert_code(2);
        assert_eq!(tree.snapshot(), before, "{bad:?}");
    }
}

#[test]
fn publishing_is_its_own_step_and_a_failed_upload_resumes_without_rebuilding() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    let password = "release-pa55-zebra";
    fakes
        .set("ARTIFACTORY_USER", "alice")
        .set("ARTIFACTORY_PASSWORD", password);
    let deb_path = DEB_PATH;

    // The server refuses the upload: the release stops at the publish step.
    let refusing = artifactory(404, Some((500, "{\"errors\": [\"disk full\"]}")));
    fakes.set("ARTIFACTORY_URL", &refusing.url("/artifactory"));
    // The image upload has its own tests (publish_image.rs); this server takes .debs only.
    let failed = fakes.run(
        &tree,
        &[
            "release",
            "3.0.2",
            "--publish",
            "--no-publish-image",
            "--yes",
        ],
    );
    failed.assert_code(1);
    let states = steps(&tree);
    assert_eq!(
        states[3],
        ("publish-package".to_string(), "failed".to_string(), 1)
    );
    assert_eq!(
        count(&fakes.calls(), "packer build"),
        0,
        "nothing irreversible after a failure"
    );

    // Resume against a working server: only the publish and later steps run.
    let server = stateful_artifactory(&[]);
    fakes.set("ARTIFACTORY_URL", &server.url("/artifactory"));
    let resumed = fakes.run(&tree, &["release", "--resume", "--yes"]);
    resumed.assert_code(0);
    assert_released(&tree, &fakes, &resumed);
    let attempts: Vec<(String, u64)> = steps(&tree).into_iter().map(|(id, _, n)| (id, n)).collect();
    assert_eq!(
        attempts,
        [
            ("bump", 1),
            ("build-package", 1),
            ("preflight", 2),
            ("publish-package", 2),
            ("chef-policy", 1),
            ("commit", 1),
            ("build-image:openstack", 1),
        ]
        .map(|(id, n)| (id.to_string(), n))
    );
    // --artifactory (here ARTIFACTORY_URL) given to --resume replaces the recorded URL.
    // The preflight's HEAD, the publish's HEAD and PUT, the image build's HEAD.
    let requests = server.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "HEAD", "PUT", "HEAD"]);
    assert!(requests.iter().all(|r| r.path.starts_with(deb_path)));
    let requests = &requests[1..];
    assert!(requests[1].path.starts_with(&format!(
        "{deb_path};deb.distribution=cirrus;deb.component=main;deb.architecture=amd64"
    )));
    let deb =
        std::fs::read(tree.path("openstack-tenant/packages/mobiledgex/mobiledgex_3.0.2_amd64.deb"))
            .unwrap();
    assert_eq!(requests[1].body, deb);
    assert_eq!(
        requests[1].header("X-Checksum-Sha1"),
        Some(digest("sha1sum", &deb).as_str())
    );
    assert_eq!(
        requests[1].header("Authorization"),
        Some(basic_auth("alice", password).as_str())
    );
    for run in [&failed, &resumed] {
        assert!(!run.stdout.contains(password) && !run.stderr.contains(password));
    }
    assert!(!fakes.calls().join("\n").contains(password));
}

#[test]
fn what_later_steps_need_is_checked_before_the_first_step() {
    let (tree, _) = tree_with_snapshot(Layout::A, None);
    let mut fakes = fakes();
    // The image build (step 3) needs OpenStack credentials: no step may run without them.
    fakes.set("OS_AUTH_URL", "");
    let before = tree.snapshot();
    let refused = fakes.run(&tree, &["release", "3.0.2", "--yes"]);
    refused.assert_refused("no OpenStack credentials", &["OS_AUTH_URL"]);
    assert_eq!(tree.snapshot(), before, "nothing written, nothing built");
    assert!(fakes.calls().is_empty(), "{:#?}", fakes.calls());

    // So does a tool only the last step uses.
    fakes.set("OS_AUTH_URL", "http://127.0.0.1:5000/v3");
    let bin = common::TempDir::new("path");
    for entry in std::fs::read_dir(common::fake_bin()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "knife" {
            std::os::unix::fs::symlink(entry.path(), bin.path().join(entry.file_name())).unwrap();
        }
    }
    for tool in ["make", "dpkg-deb", "curl", "git", "sh", "bash", "python3"] {
        std::os::unix::fs::symlink(common::which(tool), bin.path().join(tool)).unwrap();
    }
    fakes.set("PATH", &bin.path().display().to_string());
    let refused = fakes.run(&tree, &["release", "3.0.2", "--yes"]);
    refused.assert_refused("knife missing", &["knife", "Chef Workstation"]);
    assert_eq!(tree.snapshot(), before);
}

/// A check the preflight runs, made to fail, and how to mend it.
struct Check {
    what: &'static str,
    said: &'static str,
    /// Returns the Artifactory it points the release at, when it starts one:
    /// that one must see no upload either.
    inject: fn(&Tree, &mut Fakes) -> Option<Server>,
    undo: fn(&Tree, &mut Fakes),
}

const PREFLIGHT_CHECKS: [Check; 4] = [
    Check {
        what: "glance has no source image",
        said: "is not in glance",
        inject: |_, fakes| {
            fakes.set("CLOUD_IMAGE_TAG", "centos-7");
            None
        },
        undo: |_, fakes| {
            fakes.set("CLOUD_IMAGE_TAG", "");
        },
    },
    Check {
        what: "vault cannot give a secret",
        said: "secret/accounts/baseimage/password",
        inject: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "vault:kv:get");
            None
        },
        undo: |_, fakes| {
            fakes.set("XTASK_FAKE_FAIL", "");
        },
    },
    Check {
        what: "an uncommitted change that is not the release's",
        said: "not the release's own",
        inject: |tree, _| {
            tree.write("openstack-tenant/packer/README.md", "changed by hand\n");
            None
        },
        undo: |tree, _| {
            tree.git(&["checkout", "--", "openstack-tenant/packer/README.md"]);
        },
    },
    Check {
        what: "the .deb is already in Artifactory",
        said: "is already in Artifactory",
        inject: |_, fakes| {
            let taken = stateful_artifactory(&[DEB_PATH]);
            fakes.set("ARTIFACTORY_URL", &taken.url("/artifactory"));
            Some(taken)
        },
        undo: |_, fakes| {
            let empty = stateful_artifactory(&[]);
            fakes.set("ARTIFACTORY_URL", &empty.url("/artifactory"));
        },
    },
];

#[test]
fn a_failing_preflight_check_runs_nothing_irreversible_and_the_version_stays_usable() {
    for check in &PREFLIGHT_CHECKS {
        let (tree, _) = tree_with_snapshot(Layout::A, None);
        let (mut fakes, server) = fakes_with(&[]);
        fakes
            .set("ARTIFACTORY_USER", "alice")
            .set("ARTIFACTORY_PASSWORD", "release-pa55-zebra");
        if !tree.path("openstack-tenant/packer/README.md").is_file() {
            tree.write("openstack-tenant/packer/README.md", "packer\n");
            tree.git(&["add", "-A"]);
            tree.git(&["commit", "-q", "-m", "readme"]);
        }
        let injected = (check.inject)(&tree, &mut fakes);
        let failed = fakes.run(&tree, &["release", "3.0.2", "--publish", "--yes"]);
        failed.assert_code(1);
        assert!(
            failed.stderr.contains(check.said),
            "{}: {}",
            check.what,
            failed.stderr
        );
        let states = steps(&tree);
        assert_eq!(
            states[2],
            ("preflight".to_string(), "failed".to_string(), 1),
            "{}",
            check.what
        );
        // Nothing irreversible ran: no upload, no image, no cookbook.
        let calls = fakes.calls();
        for irreversible in ["packer build", "knife upload", "chef push"] {
            assert_eq!(count(&calls, irreversible), 0, "{}: {calls:#?}", check.what);
        }
        for watched in std::iter::once(&server).chain(&injected) {
            assert!(
                watched.requests().iter().all(|r| r.method != "PUT"),
                "{}",
                check.what
            );
        }
        (check.undo)(&tree, &mut fakes);
        // The same version again, from the start: nothing was burnt.
        let again = fakes.run(&tree, &["release", "3.0.2", "--publish", "--yes"]);
        again.assert_code(0);
        assert_released(&tree, &fakes, &again);
    }
}

#[test]
fn the_whole_runbook_in_one_command_with_a_new_snapshot_every_platform_and_the_uploads() {
    // The issue's own command: every step of the runbook, the .deb and the
    // image to Artifactory (real qemu-img), nothing left by hand but the push.
    if std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip_or_fail("qemu-img (qemu-utils) is not installed");
        return;
    }
    let (tree, snapshot) = tree_with_snapshot(Layout::A, None);
    let (fakes, server) = fakes_with(&[]);
    let run = fakes.run(
        &tree,
        &[
            "release",
            "3.0.2",
            "--apt-snapshot",
            "2021-03-01",
            "--all-platforms",
            "--publish",
            "--yes",
        ],
    );
    run.assert_code(0);
    let states: Vec<(String, String)> = steps(&tree)
        .into_iter()
        .map(|(id, state, _)| (id, state))
        .collect();
    let ids: Vec<&str> = states.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "bump",
            "build-package",
            "preflight",
            "publish-package",
            "chef-policy",
            "commit",
            "build-image:openstack",
            "build-image:vcd",
            "build-image:vsphere",
            "publish-image",
        ]
    );
    assert!(
        states.iter().all(|(_, state)| state == "done"),
        "{states:?}"
    );
    // The new snapshot everywhere, and the tree consistent and committed.
    let new_snapshot = snapshot.replace("2021-02-01", "2021-03-01");
    assert!(tree
        .read("openstack-tenant/packer/build.sh")
        .contains(&new_snapshot));
    tree.xtask(&["check"]).assert_code(0);
    // What reached Artifactory: the .deb, then the compressed image.
    let puts: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path.split(';').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        puts,
        [
            "/artifactory/packages/pool/mobiledgex_3.0.2_amd64.deb",
            "/artifactory/baseimages/mobiledgex-v3.0.2.qcow2",
        ]
    );
    assert_eq!(count(&fakes.calls(), "packer build"), 3);
    assert_eq!(count(&fakes.calls(), "chef push"), 0);
    assert!(run.stdout.contains("chef-push"), "{}", run.stdout);
}
