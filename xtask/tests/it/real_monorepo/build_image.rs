//! `build-image` on the tree the humans shipped: its `packer/build.sh` has no
//! `-p`, so one common image serves every platform. The fakes answer what that
//! script asks (`openstack image/network list`, `image show -c checksum`, four
//! vault fields), Artifactory is a server on 127.0.0.1 that stores the cloud
//! image's MD5, and `packer validate -syntax-only` is the real packer's.

use std::path::Path;

use crate::common::apt::{apt_server, packages_of, DEPENDENCIES};
use crate::common::artifactory::digest;
use crate::common::http::{basic_auth, Response, Server};
use crate::common::{curl_spy, Fakes, Run, Tree, FAKE_SECRETS};

/// The real tree's APT snapshot, which the tests serve on 127.0.0.1.
const REAL_APT_REPO: &str = "https://apt.mobiledgex.net/cirrus/2022-03-16";
/// Where build.sh asks Artifactory for the cloud image's checksum.
const STORAGE_PATH: &str =
    "/artifactory/api/storage/baseimage-build/2021-10-05/ubuntu-18.04-server-cloudimg-amd64.img";
/// What the fake glance answers for the source image.
const SOURCE_ID: &str = "fbfd8dc6-2b3b-5410-2307-c56397a8e7ca";
const GLANCE_MD5: &str = "2ab5e4c2a39e0d2d4a0c4a6cbd8ea0a5";
const NETWORK_ID: &str = "e6256bb6-2894-deea-1aa1-3bdb703299a9";
const NOTE: &str = "one common image serves openstack, vcd and vsphere: building it once";

/// The real tree, its APT snapshot served on 127.0.0.1 (committed), and the
/// snapshot's URL; `tag` tags the commit.
fn real_tree(tag: Option<&str>) -> Option<(Tree, String)> {
    let tree = Tree::real()?;
    let url = apt_server(packages_of(&tree.read(DEPENDENCIES)));
    for file in [
        "openstack-tenant/packer/build.sh",
        "chef/policyfiles/base.rb",
        "chef/policyfiles/base.lock.json",
    ] {
        let text = tree.read(file);
        assert!(text.contains(REAL_APT_REPO), "{file}");
        tree.write(file, &text.replace(REAL_APT_REPO, &url));
    }
    tree.git(&["commit", "-q", "-am", "APT snapshot on 127.0.0.1"]);
    if let Some(tag) = tag {
        tree.git(&["tag", tag]);
    }
    Some((tree, url))
}

/// Artifactory storing `md5` for the cloud image, for the fakes' user and API key.
fn artifactory(md5: &'static str) -> Server {
    let auth = basic_auth("tester", FAKE_SECRETS[3]);
    Server::start(move |request| {
        // The published .deb that build-image's provenance check asks for.
        if request.method == "HEAD" && request.path.ends_with(".deb") {
            return Response::new(200, "");
        }
        if request.header("Authorization") != Some(auth.as_str()) {
            return Response::new(401, "{\"errors\":[{\"status\":401}]}");
        }
        if request.method == "GET" && request.path == STORAGE_PATH {
            let body = format!(
                "{{\n  \"repo\" : \"baseimage-build\",\n  \"path\" : \"/2021-10-05/ubuntu-18.04-server-cloudimg-amd64.img\",\n  \"checksums\" : {{\n    \"md5\" : \"{md5}\"\n  }}\n}}"
            );
            return Response::new(200, body).header("Content-Type", "application/json");
        }
        Response::new(404, "{\"errors\":[{\"status\":404}]}")
    })
}

/// The fakes, Artifactory at `server`, and a curl that logs its arguments.
fn fakes_for(server: &Server) -> (Fakes, std::path::PathBuf) {
    let mut fakes = Fakes::new();
    fakes.set("ARTIFACTORY_URL", &server.url("/artifactory"));
    let spy = fakes.dir.path().join("spy");
    std::fs::create_dir_all(&spy).unwrap();
    let (_, log) = curl_spy(&spy);
    let path = fakes
        .env()
        .into_iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value)
        .unwrap();
    fakes.set("PATH", &format!("{}:{path}", spy.display()));
    (fakes, log)
}

/// The fake tools' calls with the var-file's path (new each run) as `<var-file>`.
fn normalized(fakes: &Fakes) -> Vec<String> {
    fakes
        .calls()
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

fn var_files(fakes: &Fakes) -> Vec<String> {
    fakes
        .calls()
        .iter()
        .flat_map(|call| call.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter_map(|word| word.strip_prefix("-var-file=").map(str::to_string))
        .collect()
}

/// What the real build.sh passes packer, in its order, the secrets aside.
fn packer_vars(apt: &str, git_tag: &str, mex_build: &str) -> String {
    format!(
        "-var-file=<var-file> -var OUTPUT_IMAGE_NAME=mobiledgex-v4.10.0_uncompressed -var SRC_IMG={SOURCE_ID} -var SRC_IMG_CHECKSUM={GLANCE_MD5} -var NETWORK={NETWORK_ID} -var ARTIFACTORY_USER=tester -var ARTIFACTORY_ARTIFACTS_TAG=2021-10-05 -var APT_REPO={apt} -var TAG=4.10.0 -var GITTAG={git_tag} -var FLAVOR=m4.small -var VAULT=vault-main.mobiledgex.net -var TRACE=no -var MEX_BUILD={mex_build} packer_template.mobiledgex.json"
    )
}

/// The lookups build.sh makes, then vault, in the xtask's order.
fn preflight_calls() -> Vec<String> {
    [
        "openstack image list -c ID -c Name -f value".to_string(),
        format!("openstack image show -c checksum -f value {SOURCE_ID}"),
        "openstack network list -c ID -c Name -f value".to_string(),
        "vault token lookup".to_string(),
        "vault kv get -field=value secret/accounts/baseimage/password".to_string(),
        "vault kv get -field=debug_password secret/accounts/baseimage/password".to_string(),
        "vault kv get -field=grub_pw_hash secret/accounts/baseimage/password".to_string(),
        "vault kv get -field=value secret/accounts/baseimage/totp-key".to_string(),
    ]
    .to_vec()
}

/// The secrets reached packer in a 0600 var-file, each the value vault (or
/// the API key file) holds, and nowhere else: not in any tool's arguments,
/// curl's included, nor in the output or the logs.
fn assert_secrets_only_in_the_var_file(fakes: &Fakes, tree: &Tree, run: &Run, curl_log: &Path) {
    let sha1 = |text: &str| digest("sha1sum", text.as_bytes());
    let want = format!(
        "mode=600 ARTIFACTORY_APIKEY={} DEBUG_ROOT_PASS={} GRUB_PW_HASH={} ROOT_PASS={} TOTP_KEY={}",
        sha1(FAKE_SECRETS[3]),
        sha1("s3cr3t-debug-pw-4242"),
        sha1("grub.pbkdf2.sha512.10000.S3CR3TGRUBHASH4242"),
        sha1(FAKE_SECRETS[0]),
        sha1(FAKE_SECRETS[2]),
    );
    let recorded = std::fs::read_to_string(fakes.state().join("packer-var-files.log")).unwrap();
    assert_eq!(recorded.lines().collect::<Vec<_>>(), [want.as_str()]);
    let files = var_files(fakes);
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|file| !Path::new(file).exists()),
        "{files:?}"
    );
    fakes.assert_no_secrets(tree, run);
    // The Artifactory request: curl without ~/.curlrc (`-q` comes first), its
    // configuration (the credentials) on standard input.
    let curl = std::fs::read_to_string(curl_log).unwrap();
    let asked: Vec<&str> = curl
        .lines()
        .filter(|line| line.starts_with("ARGS -q "))
        .collect();
    assert!(!asked.is_empty(), "{curl}");
    assert!(
        asked
            .iter()
            .all(|line| line.starts_with("ARGS -q --config - ")),
        "{curl}"
    );
    for secret in FAKE_SECRETS {
        assert!(
            !curl.contains(secret),
            "{secret} in curl's arguments:\n{curl}"
        );
    }
}

#[test]
fn all_platforms_build_the_common_image_once_with_build_sh_variables() {
    let Some((tree, apt)) = real_tree(Some("v4.10.0")) else {
        return;
    };
    let server = artifactory(GLANCE_MD5);
    let (fakes, curl_log) = fakes_for(&server);
    let head = String::from_utf8(tree.git(&["rev-parse", "--short", "HEAD"]).stdout).unwrap();
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--yes"]);
    run.assert_code(0);

    assert!(run.stdout.contains(NOTE), "{}", run.stdout);
    let vars = packer_vars(&apt, "v4.10.0", &format!("v4.10.0-0-g{}", head.trim()));
    let mut want = preflight_calls();
    want.push(format!("packer validate {vars}"));
    want.push(format!("packer build {vars}"));
    assert_eq!(normalized(&fakes), want);
    // The .deb of the tag is asked for first (provenance), then the cloud image.
    assert_eq!(
        server.paths(),
        [
            "/artifactory/packages/pool/mobiledgex_4.10.0_amd64.deb",
            STORAGE_PATH
        ]
    );
    // The real template's two builders: the image and its debug twin.
    for image in [
        "mobiledgex-v4.10.0_uncompressed",
        "mobiledgex-v4.10.0_uncompressed-dbg",
    ] {
        assert!(
            fakes.state().join(format!("glance/{image}.json")).is_file(),
            "{image}"
        );
    }
    assert!(
        run.stdout
            .contains("[1/1] packer build (one common image for openstack, vcd and vsphere)"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("==> debug: Creating the image: mobiledgex-v4.10.0_uncompressed-dbg"));
    assert_secrets_only_in_the_var_file(&fakes, &tree, &run, &curl_log);
}

#[test]
fn one_platform_builds_the_same_common_image_and_a_tagless_checkout_is_described_by_its_commit() {
    let Some((tree, apt)) = real_tree(None) else {
        return;
    };
    let server = artifactory(GLANCE_MD5);
    let (fakes, curl_log) = fakes_for(&server);
    let head = String::from_utf8(tree.git(&["rev-parse", "--short", "HEAD"]).stdout).unwrap();
    let run = fakes.run(&tree, &["build-image", "--platform", "vcd", "--yes"]);
    run.assert_code(0);

    assert!(run.stdout.contains(NOTE), "{}", run.stdout);
    assert!(run.stderr.contains("no git tag"), "{}", run.stderr);
    let builds: Vec<String> = normalized(&fakes)
        .into_iter()
        .filter(|call| call.starts_with("packer build"))
        .collect();
    let head = head.trim();
    assert_eq!(
        builds,
        [format!("packer build {}", packer_vars(&apt, head, head))]
    );
    assert!(!run.all().contains("-vcd"), "{}", run.all());
    assert_secrets_only_in_the_var_file(&fakes, &tree, &run, &curl_log);
}

#[test]
fn a_checksum_mismatch_is_refused_unless_ignored() {
    let Some((tree, _)) = real_tree(Some("v4.10.0")) else {
        return;
    };
    let stored = "0123456789abcdef0123456789abcdef";
    let server = artifactory(stored);
    let (fakes, curl_log) = fakes_for(&server);
    let run = fakes.run(&tree, &["build-image", "--all-platforms", "--yes"]);
    run.assert_code(1);
    for said in [
        "--ignore-checksum",
        stored,
        GLANCE_MD5,
        "ubuntu-18.04-server-cloudimg-amd64-2021-10-05",
        "nothing was built",
    ] {
        assert!(run.stderr.contains(said), "{said} not in:\n{}", run.stderr);
    }
    assert_eq!(
        normalized(&fakes),
        preflight_calls()[..2],
        "nothing after the checksum: no vault, no packer"
    );
    fakes.assert_no_secrets(&tree, &run);

    let run = fakes.run(
        &tree,
        &[
            "build-image",
            "--all-platforms",
            "--ignore-checksum",
            "--yes",
        ],
    );
    run.assert_code(0);
    assert!(
        run.stderr.contains("ignoring the checksum mismatch"),
        "{}",
        run.stderr
    );
    let builds = fakes
        .calls()
        .iter()
        .filter(|call| call.starts_with("packer build"))
        .count();
    assert_eq!(builds, 1);
    assert_secrets_only_in_the_var_file(&fakes, &tree, &run, &curl_log);
}

#[test]
fn a_dry_run_plans_one_build_and_validates_the_real_template() {
    let Some(tree) = Tree::real() else { return };
    let fakes = Fakes::new();
    let before = tree.snapshot();
    let run = fakes.run(
        &tree,
        &["build-image", "--platform", "vsphere", "--dry-run"],
    );
    run.assert_code(0);
    assert_eq!(
        fakes.calls(),
        ["packer validate -syntax-only packer_template.mobiledgex.json"]
    );
    assert!(run.stdout.contains(NOTE), "{}", run.stdout);
    assert!(run.stdout.contains("Plan (1 step):"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "publishes mobiledgex-v4.10.0_uncompressed and mobiledgex-v4.10.0_uncompressed-dbg to glance"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(tree.snapshot(), before);
}
