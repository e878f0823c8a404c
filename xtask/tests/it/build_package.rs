//! `build-package` end to end: real make and dpkg-deb on a copy of the
//! rendition, and a small HTTP server on 127.0.0.1 standing in for Artifactory.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::artifactory::{artifactory, digest};
use common::http::{base64, basic_auth, closed_port, Server};
use common::{curl_spy, which, write_executable, Layout, Run, Snapshot, TempDir, Tree};

const PKG_DIR: &str = "openstack-tenant/packages/mobiledgex";
const DEB: &str = "openstack-tenant/packages/mobiledgex/mobiledgex_3.0.1_amd64.deb";
const USER: &str = "alice";
/// Distinctive, with a quote and a backslash to exercise the curl config escaping.
const PASSWORD: &str = r#"Pa55-w0rd"q\uote-zebra"#;

/// Where the xtask is told Artifactory is.
fn base(server: &Server) -> String {
    server.url("/artifactory")
}

/// A home folder of its own, so the machine's ~/.artifactory.creds is never read;
/// the environment's ARTIFACTORY_* are blanked (empty counts as unset).
struct Env {
    home: TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let home = TempDir::new("home");
        let vars = vec![
            (
                "HOME".to_string(),
                home.path().to_string_lossy().into_owned(),
            ),
            ("ARTIFACTORY_USER".to_string(), String::new()),
            ("ARTIFACTORY_PASSWORD".to_string(), String::new()),
            ("ARTIFACTORY_URL".to_string(), String::new()),
        ];
        Env { home, vars }
    }

    fn set(mut self, key: &str, value: &str) -> Env {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
        self
    }

    fn creds_file(self, text: &str, mode: u32) -> Env {
        let path = self.home.path().join(".artifactory.creds");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// `USER` and `PASSWORD` in ARTIFACTORY_USER/ARTIFACTORY_PASSWORD.
    fn with_credentials() -> Env {
        Env::new()
            .set("ARTIFACTORY_USER", USER)
            .set("ARTIFACTORY_PASSWORD", PASSWORD)
    }

    fn run(&self, tree: &Tree, args: &[&str]) -> Run {
        tree.xtask_env(args, &self.vars)
    }

    /// `build-package --publish --yes` to the server's Artifactory.
    fn publish(&self, tree: &Tree, server: &Server) -> Run {
        self.run(
            tree,
            &[
                "build-package",
                "--publish",
                "--artifactory",
                &base(server),
                "--yes",
            ],
        )
    }
}

/// Every log the xtask wrote in the tree, concatenated.
fn logs(tree: &Tree) -> String {
    let dir = tree.path("target/xtask/logs");
    let mut all = String::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries {
            all.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    all
}

/// Whether the runner started step `n/N` (plan lines are indented, the runner's are not).
fn ran(stdout: &str, step: &str) -> bool {
    stdout.lines().any(|line| line.starts_with(step))
}

fn log_count(tree: &Tree) -> usize {
    fs::read_dir(tree.path("target/xtask/logs")).map_or(0, |d| d.count())
}

fn dpkg_field(deb: &Path, field: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .arg(field)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Files added since `before`, and files changed or removed (which must be none).
fn added_and_changed(before: &Snapshot, after: &Snapshot) -> (Vec<String>, Vec<String>) {
    let added = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let changed = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    (added, changed)
}

#[test]
fn builds_and_verifies_the_deb_with_real_make_and_dpkg_deb() {
    let tree = Tree::new(Layout::A);
    // Left over from an earlier build: `make clean` must remove it.
    fs::create_dir_all(tree.path(&format!("{PKG_DIR}/mobiledgex_3.0.1"))).unwrap();
    tree.write(
        &format!("{PKG_DIR}/mobiledgex_3.0.1/stale.txt"),
        "old build\n",
    );
    let before = tree.snapshot();

    let run = Env::new().run(&tree, &["build-package", "--yes"]);
    run.assert_code(0);
    for step in [
        "[1/3] make clean",
        "[2/3] make",
        "[3/3] verify mobiledgex_3.0.1_amd64.deb",
    ] {
        assert!(ran(&run.stdout, step), "{step} did not run:\n{}", run.all());
    }
    for line in [
        "  $ cd openstack-tenant/packages/mobiledgex && make clean",
        "  $ cd openstack-tenant/packages/mobiledgex && PUBLISH=no make",
        "verified: Package mobiledgex, Version 3.0.1",
        "Package NOT published to Artifactory",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in:\n{}",
            run.all()
        );
    }
    assert_eq!(
        run.stdout.matches("  done in ").count(),
        3,
        "{}",
        run.stdout
    );

    // The .deb, read back with the real dpkg-deb.
    let deb = tree.path(DEB);
    assert_eq!(dpkg_field(&deb, "Package"), "mobiledgex");
    assert_eq!(dpkg_field(&deb, "Version"), "3.0.1");
    let depends = dpkg_field(&deb, "Depends");
    for dep in [
        "kubeadm (= 1.18.20-00)",
        "docker-ce (= 5:20.10.13~3-0~ubuntu-bionic)",
        "open-vm-tools (>= 2:11.0.5-4ubuntu0.18.04.1)",
    ] {
        assert!(depends.contains(dep), "{dep} not in {depends}");
    }

    // Nothing of the tree changed; what is new is the build output and the logs.
    let (added, changed) = added_and_changed(&before, &tree.snapshot());
    assert_eq!(
        changed,
        vec![format!("{PKG_DIR}/mobiledgex_3.0.1/stale.txt")],
        "only the stale build output goes"
    );
    assert!(!tree
        .path(&format!("{PKG_DIR}/mobiledgex_3.0.1/stale.txt"))
        .exists());
    for file in &added {
        assert!(
            file == DEB
                || file.starts_with(&format!("{PKG_DIR}/mobiledgex_3.0.1/"))
                || file.starts_with("target/xtask/logs/"),
            "unexpected new file {file}"
        );
    }
    assert!(added.contains(&format!("{PKG_DIR}/mobiledgex_3.0.1/DEBIAN/control")));
    assert_eq!(log_count(&tree), 3);
    assert!(logs(&tree).contains("dpkg-deb: building package 'mobiledgex'"));
}

#[test]
fn dry_run_and_no_terminal_run_nothing() {
    let tree = Tree::new(Layout::A);
    let before = tree.snapshot();
    let env = Env::with_credentials();
    for publish in [false, true] {
        let mut args = vec!["build-package"];
        if publish {
            args.extend([
                "--publish",
                "--artifactory",
                "http://127.0.0.1:9/artifactory",
            ]);
        }

        let dry = env.run(&tree, &[args.as_slice(), &["--dry-run"]].concat());
        dry.assert_code(0);
        assert!(
            dry.stdout.contains(
                "[1/N] make clean"
                    .replace('N', if publish { "5" } else { "3" })
                    .as_str()
            ),
            "{}",
            dry.all()
        );
        assert!(dry
            .stdout
            .contains("dry run: nothing was written and nothing was run"));
        assert!(!ran(&dry.stdout, "[1/"), "{}", dry.stdout);
        assert_eq!(dry.stdout.contains("(irreversible)"), publish);
        if publish {
            assert!(dry
                .stdout
                .contains(";deb.distribution=cirrus;deb.component=main;deb.architecture=amd64"));
            assert!(
                dry.stdout
                    .contains("user alice from ARTIFACTORY_USER/ARTIFACTORY_PASSWORD"),
                "{}",
                dry.all()
            );
        }

        let refused = env.run(&tree, &args);
        refused.assert_code(2);
        assert!(
            refused.stderr.contains("not a terminal"),
            "{}",
            refused.all()
        );

        env.run(&tree, &[args.as_slice(), &["--yes", "--dry-run"]].concat())
            .assert_code(2);
    }
    assert_eq!(tree.snapshot(), before, "nothing may be written");
    assert_eq!(log_count(&tree), 0, "nothing may be run");
}

#[test]
fn check_errors_stop_before_anything_runs() {
    let tree = Tree::new(Layout::A);
    tree.edit("vmlayer/props.go", "\"3.0.1\"", "\"3.0.2\"");
    let before = tree.snapshot();
    let run = Env::new().run(&tree, &["build-package", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("error[package-version]"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("cargo xtask check"), "{}", run.all());
    assert!(!ran(&run.stdout, "[1/3]"));
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn a_missing_tool_stops_before_anything_runs() {
    let tree = Tree::new(Layout::A);
    let before = tree.snapshot();
    let bin = TempDir::new("path-make-only");
    std::os::unix::fs::symlink(which("make"), bin.path().join("make")).unwrap();
    let run = Env::new()
        .set("PATH", &bin.path().to_string_lossy())
        .run(&tree, &["build-package", "--yes"]);
    run.assert_code(2);
    assert!(run.stderr.contains("dpkg-deb"), "{}", run.all());
    assert!(run.stderr.contains("brew install dpkg"), "{}", run.all());
    assert!(
        !run.stderr.contains("  make:"),
        "make is there: {}",
        run.all()
    );
    assert_eq!(tree.snapshot(), before);
}

/// A package step that writes a Depends other than `dependencies` says: the
/// Makefile's recipe rewrites the control file and rebuilds the .deb.
#[test]
fn a_depends_mismatch_is_detected_and_nothing_is_published() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        &format!("{PKG_DIR}/Makefile"),
        "\t../build.sh $(PACKAGE) $(VERSION) $(DISTRIBUTION) $(COMPONENT)\n",
        "\t../build.sh $(PACKAGE) $(VERSION) $(DISTRIBUTION) $(COMPONENT)\n\
         \tsed -i -e 's/kubelet (= 1.18.20-00)/kubelet (= 1.18.19-00)/' -e 's/, unzip ([^)]*)//' $(PKGDIR)/DEBIAN/control\n\
         \tdpkg-deb --root-owner-group --build $(PKGDIR) $(DEBFILE)\n",
    );
    let server = artifactory(404, None);
    let run = Env::with_credentials().publish(&tree, &server);
    run.assert_code(1);
    let err = &run.stderr;
    assert!(err.contains("does not match the tree"), "{}", run.all());
    assert!(
        err.contains("Depends has `kubelet (= 1.18.19-00)`, openstack-tenant/packages/mobiledgex/dependencies:23 says `kubelet (= 1.18.20-00)`"),
        "{}",
        run.all()
    );
    assert!(
        err.contains("Depends lacks `unzip (>= 6.0-21ubuntu1)`"),
        "{}",
        run.all()
    );
    assert!(err.contains("Nothing was published"));
    assert!(!ran(&run.stdout, "[4/5]"), "{}", run.stdout);
    assert!(
        server.requests().is_empty(),
        "no request may reach Artifactory"
    );
}

/// A make that fails after writing into the tree: every tracked file it
/// changed, removed or truncated is put back byte for byte (and mode), the
/// report names each, and the untracked build output is left alone.
#[test]
fn a_failed_make_puts_back_every_tracked_file_it_touched() {
    let tree = Tree::with_git(Layout::A);
    // dpkg-deb --build, run by build.sh in the package folder, first damages
    // the tree as a broken generator would, then fails.
    let bin = TempDir::new("failing-dpkg-deb");
    write_executable(
        &bin.path().join("dpkg-deb"),
        format!(
            "#!/bin/sh\ncase \"$*\" in *--build*)\n  : > ../../../version/package-version.go\n  echo 'half-written' >> description\n  rm -f postinst\n  echo 'dpkg-deb: error: failing on purpose' >&2\n  exit 2;;\nesac\nexec '{}' \"$@\"\n",
            which("dpkg-deb")
        )
        .as_bytes(),
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let before = tree.snapshot();

    let run = Env::new()
        .set("PATH", &path)
        .run(&tree, &["build-package", "--yes"]);
    run.assert_code(1);
    assert!(run.stdout.contains("failed (exit 2)"), "{}", run.all());
    for said in [
        "error: `PUBLISH=no make` failed; restored 3 tracked files byte for byte to what they were before make ran:",
        "openstack-tenant/packages/mobiledgex/description (changed by make)",
        "openstack-tenant/packages/mobiledgex/postinst (removed by make)",
        "version/package-version.go (truncated to 0 bytes by make)",
        "Nothing was published",
    ] {
        assert!(run.stderr.contains(said), "{said:?} not in:\n{}", run.all());
    }
    assert!(!ran(&run.stdout, "[3/3]"));
    let (_, changed) = added_and_changed(&before, &tree.snapshot());
    assert!(changed.is_empty(), "not put back: {changed:?}");
    // What git sees: nothing modified.
    let status = tree.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert_eq!(String::from_utf8_lossy(&status.stdout), "");
}

/// The real monorepo's package-version.go carries a license header that
/// version.sh does not write: make's rewrite with the same version is put
/// back as it was, and the build goes on.
#[test]
fn make_rewriting_package_version_go_with_the_same_version_is_put_back() {
    let tree = Tree::new(Layout::A);
    // Still the right version for `check`, but not what build-vers writes.
    tree.edit(
        "version/package-version.go",
        "package version\n",
        "// Code generated by version.sh.\npackage version\n",
    );
    let before = tree.snapshot();
    let run = Env::new().run(&tree, &["build-package", "--yes"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "note: make's build-vers rewrote version/package-version.go with the same version 3.0.1 but not byte for byte"
        ),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("put back as it was"), "{}", run.all());
    assert!(ran(&run.stdout, "[3/3]"));
    let (_, changed) = added_and_changed(&before, &tree.snapshot());
    assert!(changed.is_empty(), "changed: {changed:?}");
}

/// A build that changes a tracked file in another way (here: writes another
/// version) is stopped, and the file put back byte for byte.
#[test]
fn make_writing_another_version_is_put_back_and_stops_the_build() {
    let tree = Tree::new(Layout::A);
    tree.edit(
        &format!("{PKG_DIR}/Makefile"),
        "\t./version.sh $(VERSION)\n",
        "\t./version.sh $(VERSION)-local\n",
    );
    let before = tree.snapshot();
    let run = Env::new().run(&tree, &["build-package", "--yes"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("make succeeded but changed tracked files (it wrote version 3.0.1-local into version/package-version.go, the Makefile says 3.0.1)"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("restored 1 tracked file byte for byte to what it was before make ran: version/package-version.go (changed by make)"),
        "{}",
        run.all()
    );
    assert!(!ran(&run.stdout, "[3/3]"));
    let (_, changed) = added_and_changed(&before, &tree.snapshot());
    assert!(changed.is_empty(), "changed: {changed:?}");
}

#[test]
fn publishes_with_checksums_matrix_parameters_and_basic_auth() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(404, None);
    let spy = TempDir::new("curl-spy");
    let (path, curl_log) = curl_spy(spy.path());
    let env = Env::new()
        .creds_file(&format!("{USER}:{PASSWORD}\nsecond line ignored\n"), 0o600)
        .set("PATH", &path);
    let run = env.publish(&tree, &server);
    run.assert_code(0);
    assert!(ran(
        &run.stdout,
        "[4/5] check Artifactory for mobiledgex_3.0.1_amd64.deb"
    ));
    assert!(ran(
        &run.stdout,
        "[5/5] upload mobiledgex_3.0.1_amd64.deb to Artifactory (irreversible)"
    ));
    assert!(
        run.stdout.contains("not in Artifactory yet (HTTP 404)"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains(&format!(
        "published: {}/packages/pool/mobiledgex_3.0.1_amd64.deb",
        base(&server)
    )));
    assert!(
        run.stdout.contains(&format!("user {USER} from ")),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("warning"),
        "a 0600 file is fine: {}",
        run.stderr
    );

    let deb = fs::read(tree.path(DEB)).unwrap();
    let requests = server.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "PUT"]);
    let auth = basic_auth(USER, PASSWORD);
    let (head, put) = (&requests[0], &requests[1]);
    assert_eq!(
        head.path,
        "/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb"
    );
    assert_eq!(head.header("Authorization"), Some(auth.as_str()));
    assert_eq!(
        put.path,
        "/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb;deb.distribution=cirrus;deb.component=main;deb.architecture=amd64"
    );
    assert_eq!(put.header("Authorization"), Some(auth.as_str()));
    assert_eq!(
        put.header("X-Checksum-MD5"),
        Some(digest("md5sum", &deb).as_str())
    );
    assert_eq!(
        put.header("X-Checksum-Sha1"),
        Some(digest("sha1sum", &deb).as_str())
    );
    assert!(put.body == deb, "the uploaded bytes are the .deb");

    // The password shows nowhere: not in curl's arguments, output or logs.
    let curl_args = fs::read_to_string(curl_log).unwrap();
    assert_eq!(
        curl_args.lines().filter(|l| l.starts_with("ARGS ")).count(),
        2,
        "both requests went through the wrapper: {curl_args}"
    );
    assert!(curl_args.contains("--config -"));
    for (what, text) in [
        ("curl's arguments", &curl_args),
        ("the output", &run.all()),
        ("the logs", &logs(&tree)),
    ] {
        assert!(
            !text.contains("zebra"),
            "the password shows in {what}:\n{text}"
        );
        assert!(
            !text.contains(&base64(format!("{USER}:{PASSWORD}").as_bytes())),
            "in {what}"
        );
    }
    assert_eq!(log_count(&tree), 5);
}

#[test]
fn environment_credentials_come_first() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(404, None);
    let run = Env::new()
        .creds_file("mallory:wrong\n", 0o644)
        .set("ARTIFACTORY_USER", "bob")
        .set("ARTIFACTORY_PASSWORD", "env-zebra-secret")
        .publish(&tree, &server);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("user bob from ARTIFACTORY_USER/ARTIFACTORY_PASSWORD"),
        "{}",
        run.stdout
    );
    let auth = basic_auth("bob", "env-zebra-secret");
    for request in server.requests() {
        assert_eq!(request.header("Authorization"), Some(auth.as_str()));
    }
    assert!(!run.all().contains("zebra") && !logs(&tree).contains("zebra"));
}

#[test]
fn a_creds_file_readable_by_others_is_warned_about() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(404, None);
    let run = Env::new()
        .creds_file(&format!("{USER}:{PASSWORD}\n"), 0o644)
        .publish(&tree, &server);
    run.assert_code(0);
    assert!(
        run.stderr.contains("can be read by other users (mode 644)"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("chmod 600"), "{}", run.all());
}

#[test]
fn an_existing_version_is_refused_before_uploading() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(200, None);
    let run = Env::with_credentials().publish(&tree, &server);
    run.assert_code(1);
    let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["HEAD"], "no PUT after a 200");
    assert!(
        run.stderr
            .contains("is already in Artifactory (HTTP 200); nothing was uploaded"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("VERSION must be raised"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains(&format!(
            "delete mobiledgex_3.0.1_amd64.deb from {}/packages/pool in Artifactory",
            base(&server)
        )),
        "{}",
        run.all()
    );
    assert!(!ran(&run.stdout, "[5/5]"));
}

#[test]
fn a_server_error_on_put_fails_the_command() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(
        404,
        Some((
            500,
            "{\"errors\":[{\"status\":500,\"message\":\"disk full\"}]}",
        )),
    );
    let run = Env::with_credentials().publish(&tree, &server);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("refused the upload of mobiledgex_3.0.1_amd64.deb (HTTP 500)"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("disk full"));
    assert!(!run.stdout.contains("published:"));
}

#[test]
fn checksums_that_differ_in_the_answer_fail_the_command() {
    let tree = Tree::new(Layout::A);
    let wrong = "{\"checksums\": {\"md5\": \"00000000000000000000000000000000\", \"sha1\": \"0000000000000000000000000000000000000000\"}}";
    let server = artifactory(404, Some((201, wrong)));
    let run = Env::with_credentials().publish(&tree, &server);
    run.assert_code(1);
    assert!(run.stderr.contains("its checksums differ"), "{}", run.all());
    assert!(run
        .stderr
        .contains("md5 00000000000000000000000000000000, the .deb has"));
}

#[test]
fn refused_credentials_and_an_unreachable_server_fail_before_uploading() {
    let tree = Tree::new(Layout::A);
    let server = artifactory(401, None);
    let env = Env::with_credentials();
    let run = env.publish(&tree, &server);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("Artifactory refused the credentials (HTTP 401)"),
        "{}",
        run.all()
    );
    assert_eq!(server.requests().len(), 1);

    // Nobody listens on a port just closed: curl fails, the log path is printed.
    let port = closed_port();
    let run = env.run(
        &tree,
        &[
            "build-package",
            "--publish",
            "--artifactory",
            &format!("http://127.0.0.1:{port}"),
            "--yes",
        ],
    );
    run.assert_code(1);
    assert!(ran(&run.stdout, "[4/5] check Artifactory"), "{}", run.all());
    assert!(run.stdout.contains("failed (exit 7)"), "{}", run.all());
    assert!(run.stdout.contains("full log: "), "{}", run.all());
    assert!(!ran(&run.stdout, "[5/5]"));
}

#[test]
fn missing_credentials_without_a_terminal_run_nothing() {
    let tree = Tree::new(Layout::A);
    let before = tree.snapshot();
    let server = artifactory(404, None);
    let cases: [(&str, Env, &[&str]); 3] = [
        (
            "no credentials",
            Env::new(),
            &[
                "ARTIFACTORY_USER and ARTIFACTORY_PASSWORD",
                "~/.artifactory.creds",
                "on a terminal",
                "Nothing was run",
            ],
        ),
        // Half the environment is a mistake, not a reason to look elsewhere.
        (
            "half the environment",
            Env::new().set("ARTIFACTORY_USER", USER),
            &["ARTIFACTORY_USER is set but ARTIFACTORY_PASSWORD is not"],
        ),
        (
            "a creds file without a colon",
            Env::new().creds_file("no-colon-here\n", 0o600),
            &[".artifactory.creds:1: expected `user:password`"],
        ),
    ];
    for (case, env, said) in cases {
        env.publish(&tree, &server).assert_refused(case, said);
        assert!(server.requests().is_empty(), "{case}");
        assert_eq!(tree.snapshot(), before, "{case}");
    }
}

#[test]
fn a_bad_artifactory_url_is_bad_input() {
    let tree = Tree::new(Layout::A);
    let before = tree.snapshot();
    let env = Env::with_credentials();
    for url in [
        "artifactory.example.com",
        "ftp://host/x",
        "https://alice:pw@host/artifactory",
    ] {
        env.run(
            &tree,
            &["build-package", "--publish", "--artifactory", url, "--yes"],
        )
        .assert_refused(url, &["--artifactory"]);
    }
    // ARTIFACTORY_URL is read too.
    Env::new()
        .set("ARTIFACTORY_URL", "ftp://host/x")
        .run(&tree, &["build-package", "--publish", "--dry-run"])
        .assert_refused("ARTIFACTORY_URL", &["ftp://host/x"]);
    assert_eq!(tree.snapshot(), before);
}
