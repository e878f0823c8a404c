//! `cargo xtask publish-image`: the fake `openstack image save` hands out a
//! small real disk image, the real `qemu-img` compresses it, a loopback
//! Artifactory stores it. Checked: the bytes uploaded are a compressed qcow2
//! of the very image glance has (`qemu-img compare`), the checksum headers
//! are coreutils' digests of them, the stored checksums are compared, and a
//! run killed mid-upload resumes without downloading again.

use crate::common;

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::artifactory::{digest, ImageArtifactory};
use common::{Fakes, Layout, Run, TempDir, Tree};

const USER: &str = "uploader";
const PASSWORD: &str = "image-pa55-zebra";

/// Whether qemu-img is here (else the test is skipped, or fails under CI).
pub(crate) fn qemu_img() -> bool {
    let found = Command::new("qemu-img")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        common::skip_or_fail("qemu-img is not installed (Debian: apt-get install qemu-utils)");
    }
    found
}

/// A small raw disk image made by `qemu-img create`, with some data written
/// into it (so compressing it is work), as bytes.
pub(crate) fn make_image(dir: &Path) -> Vec<u8> {
    let path = dir.join("disk.raw");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw"])
        .arg(&path)
        .arg("4M")
        .status()
        .unwrap();
    assert!(status.success());
    let mut bytes = fs::read(&path).unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for (i, b) in bytes.iter_mut().enumerate().take(512 * 1024) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Half text-like (compressible), half noise.
        *b = if (i / 4096) % 2 == 0 {
            b"edge cloud "[i % 11]
        } else {
            x as u8
        };
    }
    bytes
}

/// Puts an image into the fake glance: `show` answers `checksum` (the MD5 of
/// the bytes unless `checksum` says otherwise) and `size`; `save` writes the bytes.
pub(crate) fn seed_glance(
    fakes: &Fakes,
    name: &str,
    bytes: &[u8],
    checksum: Option<&str>,
) -> String {
    let glance = fakes.state().join("glance");
    fs::create_dir_all(&glance).unwrap();
    let id = format!(
        "{:0>8}-0000-4000-8000-{:0>12}",
        bytes.len() % 99_999_999,
        name.len()
    );
    let md5 = checksum.map_or_else(|| digest("md5sum", bytes), str::to_string);
    fs::write(
        glance.join(format!("{name}.json")),
        format!(
            "{{\n  \"checksum\": \"{md5}\",\n  \"disk_format\": \"raw\",\n  \"id\": \"{id}\",\n  \"name\": \"{name}\",\n  \"size\": {},\n  \"status\": \"active\"\n}}\n",
            bytes.len()
        ),
    )
    .unwrap();
    fs::write(glance.join(format!("{name}.data")), bytes).unwrap();
    id
}

pub(crate) fn with_credentials(fakes: &mut Fakes) {
    fakes
        .set("ARTIFACTORY_USER", USER)
        .set("ARTIFACTORY_PASSWORD", PASSWORD);
}

pub(crate) fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}

/// The uploaded bytes are a compressed qcow2 holding exactly `source`.
pub(crate) fn assert_same_image(uploaded: &[u8], source: &[u8]) {
    let dir = TempDir::new("compare");
    let (a, b) = (
        dir.path().join("source.raw"),
        dir.path().join("uploaded.qcow2"),
    );
    fs::write(&a, source).unwrap();
    fs::write(&b, uploaded).unwrap();
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&b)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2", "{info}");
    let compare = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        compare.status.success(),
        "qemu-img compare: {}",
        String::from_utf8_lossy(&compare.stdout)
    );
    assert!(
        uploaded.len() < source.len(),
        "compressed: {} of {} bytes",
        uploaded.len(),
        source.len()
    );
}

fn assert_no_password(tree: Option<&Tree>, run: &Run) {
    assert!(!run.all().contains(PASSWORD), "{}", run.all());
    if let Some(tree) = tree {
        let logs = tree.path("target/xtask/logs");
        for entry in walkdir::WalkDir::new(&logs).into_iter().flatten() {
            if entry.file_type().is_file() {
                let text = fs::read_to_string(entry.path()).unwrap_or_default();
                assert!(!text.contains(PASSWORD), "{}", entry.path().display());
            }
        }
    }
}

const ARTIFACT: &str = "baseimages/mobiledgex-v3.0.1.qcow2";

/// What most tests start from: a checkout, the fakes with Artifactory
/// credentials, a raw image in glance as mobiledgex-v3.0.1 (with glance's
/// checksum `glance_md5`, else the image's own), and an empty Artifactory.
/// `None` (the test skips) where qemu-img is missing.
struct Setup {
    tree: Tree,
    fakes: Fakes,
    image: Vec<u8>,
    /// The image's id in glance.
    id: String,
    art: ImageArtifactory,
}

fn setup(glance_md5: Option<&str>) -> Option<Setup> {
    if !qemu_img() {
        return None;
    }
    let tree = Tree::new(Layout::A);
    let mut fakes = Fakes::new();
    with_credentials(&mut fakes);
    let image = make_image(fakes.dir.path());
    let id = seed_glance(&fakes, "mobiledgex-v3.0.1", &image, glance_md5);
    let art = ImageArtifactory::start(USER, PASSWORD);
    Some(Setup {
        tree,
        fakes,
        image,
        id,
        art,
    })
}

#[test]
fn publishes_the_glance_image_compressed_with_verified_checksums() {
    let Some(Setup {
        tree,
        fakes,
        image,
        id,
        art,
    }) = setup(None)
    else {
        return;
    };

    let base = art.base();
    // The version is the checkout's (the rendition's Makefile: 3.0.1).
    let run = fakes.run(&tree, &["publish-image", "--artifactory", &base, "--yes"]);
    run.assert_code(0);
    assert_no_password(Some(&tree), &run);
    if std::env::var_os("XTASK_SHOW").is_some() {
        eprintln!("{}", run.all());
    }

    // glance: found by name, saved by id into the private folder.
    let calls = fakes.calls();
    let saves: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("openstack image save"))
        .collect();
    assert_eq!(saves.len(), 1, "{calls:#?}");
    let dir = tree.path("target/xtask/images/mobiledgex-v3.0.1");
    assert!(
        saves[0].ends_with(&format!(" {id}")) && saves[0].contains(&dir.display().to_string()),
        "{}",
        saves[0]
    );
    // Artifactory: asked first, then the upload, then asked for what it stored.
    let requests = art.server.requests();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let storage = format!("/artifactory/api/storage/{ARTIFACT}");
    let upload = format!("/artifactory/{ARTIFACT}");
    assert_eq!(
        seen,
        [
            ("GET".to_string(), storage.clone()),
            ("PUT".to_string(), upload),
            ("GET".to_string(), storage)
        ]
    );
    let put = &requests[1];
    assert_same_image(&put.body, &image);
    for (header, tool) in [
        ("X-Checksum-Md5", "md5sum"),
        ("X-Checksum-Sha1", "sha1sum"),
        ("X-Checksum-Sha256", "sha256sum"),
    ] {
        assert_eq!(
            put.header(header),
            Some(digest(tool, &put.body).as_str()),
            "{header}"
        );
    }
    assert_eq!(art.get(ARTIFACT).as_deref(), Some(put.body.as_slice()));
    let md5 = digest("md5sum", &put.body);
    assert!(
        run.stdout
            .contains(&format!("Artifactory stores md5 {md5}")),
        "{}",
        run.stdout
    );
    // Progress against glance's size and the compressed size, measured from outside the tools.
    for bar in [
        "] 100%  4.0 MiB of 4.0 MiB".to_string(),
        format!(
            "] 100%  {:.1} KiB of {:.1} KiB",
            put.body.len() as f64 / 1024.0,
            put.body.len() as f64 / 1024.0
        ),
    ] {
        assert!(run.stdout.contains(&bar), "{bar}\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("ok MD5 ") && run.stdout.contains("is glance's checksum"),
        "{}",
        run.stdout
    );
    // The gigabytes go, the record of what was published stays.
    assert!(!dir.join("mobiledgex-v3.0.1.qcow2").exists());
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("mobiledgex-v3.0.1.qcow2.json")).unwrap())
            .unwrap();
    assert_eq!(record["md5"], md5.as_str());
    assert_eq!(record["source_md5"], digest("md5sum", &image).as_str());
    let leftovers: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    // Again: Artifactory has this very image; nothing is downloaded or uploaded.
    let again = fakes.run(
        &tree,
        &["publish-image", "3.0.1", "--artifactory", &base, "--yes"],
    );
    again.assert_code(0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(count(&fakes.calls(), "openstack image save"), 1);
    assert_eq!(art.server.requests().len(), 4);
}

#[test]
fn a_run_killed_mid_upload_resumes_without_downloading_again() {
    let Some(Setup {
        tree,
        fakes,
        image,
        art,
        ..
    }) = setup(None)
    else {
        return;
    };
    let base = art.base();

    // The server takes the upload's request and then stalls; the xtask (and
    // curl with it: their process group) is killed while it waits.
    art.server.set_stalling(true);
    let mut cmd = common::xtask_command(
        tree.root(),
        &["publish-image", "--artifactory", &base, "--yes"],
    );
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (key, value) in fakes.env() {
        cmd.env(key, value);
    }
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    while !art.server.requests().iter().any(|r| r.method == "PUT") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    common::send_signal(-(child.id() as i32), libc::SIGKILL);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal");
    art.server.set_stalling(false);
    assert!(art.get(ARTIFACT).is_none(), "nothing stored");

    let resumed = fakes.run(&tree, &["publish-image", "--artifactory", &base, "--yes"]);
    resumed.assert_code(0);
    assert!(
        resumed.stdout.contains("skipped download and compression"),
        "{}",
        resumed.stdout
    );
    assert_eq!(
        count(&fakes.calls(), "openstack image save"),
        1,
        "downloaded once: {:#?}",
        fakes.calls()
    );
    assert_same_image(&art.get(ARTIFACT).unwrap(), &image);
}

#[test]
fn a_download_whose_md5_is_not_glances_is_an_error() {
    let wrong = "0123456789abcdef0123456789abcdef";
    let Some(Setup {
        tree,
        fakes,
        image,
        art,
        ..
    }) = setup(Some(wrong))
    else {
        return;
    };
    let run = fakes.run(
        &tree,
        &["publish-image", "--artifactory", &art.base(), "--yes"],
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "has MD5 {}, but glance's checksum is {wrong}",
            digest("md5sum", &image)
        )),
        "{}",
        run.stderr
    );
    assert!(!art.server.requests().iter().any(|r| r.method == "PUT"));
    // qemu-img is the real tool (not a logged fake): its step never started
    // (a step that starts prints `  $ <command>`; the plan indents it more).
    assert!(
        !run.all()
            .lines()
            .any(|line| line.starts_with("  $ qemu-img")),
        "{}",
        run.all()
    );
    // No half or wrong download is left to be taken for a good one.
    let dir = tree.path("target/xtask/images/mobiledgex-v3.0.1");
    let left: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn another_image_of_the_same_name_is_replaced_only_with_replace() {
    let Some(Setup {
        tree,
        fakes,
        image,
        art,
        ..
    }) = setup(None)
    else {
        return;
    };
    art.put(ARTIFACT, b"an older build of 3.0.1");
    let base = art.base();

    let refused = fakes.run(&tree, &["publish-image", "--artifactory", &base, "--yes"]);
    refused.assert_refused(
        "a different image in Artifactory",
        &[
            "is already in Artifactory",
            &digest("md5sum", b"an older build of 3.0.1"),
            "--replace",
        ],
    );
    assert_eq!(
        count(&fakes.calls(), "openstack image save"),
        0,
        "refused before the download"
    );
    assert!(!art.server.requests().iter().any(|r| r.method == "PUT"));
    assert_eq!(
        art.get(ARTIFACT).as_deref(),
        Some(&b"an older build of 3.0.1"[..])
    );

    let replaced = fakes.run(
        &tree,
        &[
            "publish-image",
            "--artifactory",
            &base,
            "--replace",
            "--yes",
        ],
    );
    replaced.assert_code(0);
    assert!(
        replaced.stderr.contains("--replace overwrites it"),
        "{}",
        replaced.stderr
    );
    assert_same_image(&art.get(ARTIFACT).unwrap(), &image);
}

/// The binary run in `dir` outside any checkout, as on a cloud VM after
/// `cargo install --path xtask`.
fn run_outside_a_checkout(dir: &Path, fakes: &Fakes, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["--color", "never"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("ARTIFACTORY_URL")
        .env("XDG_CACHE_HOME", dir.join("cache"));
    for (key, value) in fakes.env() {
        cmd.env(key, value);
    }
    Run::from(cmd.output().unwrap())
}

#[test]
fn needs_no_checkout_when_the_version_is_given() {
    if !qemu_img() {
        return;
    }
    let mut fakes = Fakes::new();
    with_credentials(&mut fakes);
    let image = make_image(fakes.dir.path());
    // What the real monorepo's template names it, and its debug twin.
    seed_glance(&fakes, "mobiledgex-v4.10.1_uncompressed", &image, None);
    let debug = [&image[..1024 * 1024], &image[..]].concat();
    seed_glance(&fakes, "mobiledgex-v4.10.1_uncompressed-dbg", &debug, None);
    let art = ImageArtifactory::start(USER, PASSWORD);
    let vm = TempDir::new("cloud-vm");
    let base = art.base();

    let run = run_outside_a_checkout(
        vm.path(),
        &fakes,
        &["publish-image", "4.10.1", "--artifactory", &base, "--yes"],
    );
    run.assert_code(0);
    assert_same_image(
        &art.get("baseimages/mobiledgex-v4.10.1.qcow2").unwrap(),
        &image,
    );
    assert!(vm
        .path()
        .join("cache/xtask/images/mobiledgex-v4.10.1/mobiledgex-v4.10.1.qcow2.json")
        .is_file());
    assert!(vm.path().join("cache/xtask/logs").is_dir());

    let run = run_outside_a_checkout(
        vm.path(),
        &fakes,
        &[
            "publish-image",
            "4.10.1",
            "--debug",
            "--artifactory",
            &base,
            "--yes",
        ],
    );
    run.assert_code(0);
    assert_same_image(
        &art.get("baseimages/mobiledgex-v4.10.1-dbg.qcow2").unwrap(),
        &debug,
    );

    // Without a version there is nothing to read it from.
    let refused = run_outside_a_checkout(vm.path(), &fakes, &["publish-image", "--yes"]);
    refused.assert_refused(
        "no version, no checkout",
        &["give it", "publish-image 4.10.1"],
    );
    // Other commands still need a checkout.
    let refused = run_outside_a_checkout(
        vm.path(),
        &fakes,
        &["-C", &vm.path().display().to_string(), "versions"],
    );
    refused.assert_code(2);
}

#[test]
fn a_dry_run_shows_the_plan_and_uploads_nothing() {
    let tree = Tree::new(Layout::A);
    let mut fakes = Fakes::new();
    with_credentials(&mut fakes);
    let image = b"not really an image".to_vec();
    seed_glance(&fakes, "mobiledgex-v3.0.1", &image, None);
    let art = ImageArtifactory::start(USER, PASSWORD);
    let base = art.base();
    let dry = fakes.run(
        &tree,
        &["publish-image", "--artifactory", &base, "--dry-run"],
    );
    dry.assert_code(0);
    for line in [
        "openstack image save --file",
        "qemu-img convert -c -O qcow2 -f raw",
        "upload mobiledgex-v3.0.1.qcow2 to Artifactory  irreversible",
        "X-Checksum-Sha256: <sha256 of the compressed image>",
        &format!("{base}/{ARTIFACT}"),
        "dry run: nothing was written and nothing was run.",
    ] {
        assert!(dry.stdout.contains(line), "{line}\n{}", dry.stdout);
    }
    assert_eq!(count(&fakes.calls(), "openstack image save"), 0);
    assert!(!art.server.requests().iter().any(|r| r.method == "PUT"));
    // No terminal and no --yes: refused before anything.
    let refused = fakes.run(&tree, &["publish-image", "--artifactory", &base]);
    refused.assert_refused("no terminal", &["not a terminal"]);
    // A bad version or file is bad input.
    fakes
        .run(&tree, &["publish-image", "4.10", "--dry-run"])
        .assert_code(2);
    fakes
        .run(
            &tree,
            &[
                "publish-image",
                "--from-file",
                "/nonexistent/disk.img",
                "--dry-run",
            ],
        )
        .assert_code(2);
}

#[test]
fn release_publishes_the_image_after_building_it_unless_told_not_to() {
    if !qemu_img() {
        return;
    }
    let (tree, _) = common::apt::tree_with_snapshot(Layout::A, None);
    let mut fakes = Fakes::new();
    fakes.seed_rendition_cookbooks();
    with_credentials(&mut fakes);
    let art = ImageArtifactory::start(USER, PASSWORD);
    // Published by hand before, as a release without --publish expects.
    art.put("packages/pool/mobiledgex_3.0.2_amd64.deb", b"deb\n");
    fakes.set("ARTIFACTORY_URL", &art.base());
    let run = fakes.run(&tree, &["release", "3.0.2", "--yes"]);
    run.assert_code(0);
    let state: serde_json::Value =
        serde_json::from_str(&tree.read("target/xtask/release.json")).unwrap();
    let ids: Vec<&str> = state["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "bump",
            "build-package",
            "preflight",
            "chef-policy",
            "commit",
            "build-image:openstack",
            "publish-image",
        ]
    );
    // The image packer put in glance is the one in Artifactory.
    let glance = fs::read(fakes.state().join("glance/mobiledgex-v3.0.2.data")).unwrap();
    let stored = art.get("baseimages/mobiledgex-v3.0.2.qcow2").unwrap();
    let dir = TempDir::new("release-image");
    let (a, b) = (
        dir.path().join("glance.qcow2"),
        dir.path().join("stored.qcow2"),
    );
    fs::write(&a, &glance).unwrap();
    fs::write(&b, &stored).unwrap();
    let compare = Command::new("qemu-img")
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(compare.status.success());
    let calls = fakes.calls();
    let order: Vec<&str> = calls
        .iter()
        .filter_map(|c| {
            ["packer build", "openstack image save", "knife upload"]
                .into_iter()
                .find(|p| c.starts_with(p))
        })
        .collect();
    assert_eq!(
        order,
        ["knife upload", "packer build", "openstack image save"]
    );
    assert_no_password(Some(&tree), &run);

    // --no-publish-image: the image stays in glance.
    let (tree, _) = common::apt::tree_with_snapshot(Layout::A, None);
    let mut fakes = Fakes::new();
    fakes.seed_rendition_cookbooks();
    with_credentials(&mut fakes);
    fakes.set("ARTIFACTORY_URL", &art.base());
    let run = fakes.run(&tree, &["release", "3.0.2", "--no-publish-image", "--yes"]);
    run.assert_code(0);
    assert!(!tree
        .read("target/xtask/release.json")
        .contains("publish-image"));
    assert_eq!(count(&fakes.calls(), "openstack image save"), 0);
}
