//! `doctor` end to end: with PATH limited to a few real tools, and with
//! everything there (the fake chef/knife/openstack/vault/packer and real tools).

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{fake_bin, which, Layout, TempDir, Tree};

/// The line of the table about `what`.
fn line<'a>(stdout: &'a str, what: &str) -> &'a str {
    stdout
        .lines()
        // The name, then the column gap (two blanks at least).
        .find(|line| line.trim_start().starts_with(&format!("{what}  ")))
        .unwrap_or_else(|| panic!("no line for {what} in:\n{stdout}"))
}

/// The environment's credentials blanked (empty counts as unset), HOME of its own.
fn blank_env(home: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = [
        "ARTIFACTORY_USER",
        "ARTIFACTORY_PASSWORD",
        "VAULT_TOKEN",
        "VAULT_ADDR",
        "OS_CLOUD",
        "OS_AUTH_URL",
    ]
    .into_iter()
    .map(|k| (k, String::new()))
    .collect();
    env.push(("HOME", home.to_string()));
    env
}

#[test]
fn missing_tools_and_credentials_are_named_with_their_fix() {
    let tree = Tree::new(Layout::A);
    let before = tree.snapshot();
    let home = TempDir::new("doctor-home");
    let bin = TempDir::new("doctor-path");
    // The package scripts' basic tools are there; dpkg-deb is not.
    let basics = [
        "bash", "awk", "sed", "grep", "tr", "cp", "mv", "rm", "mkdir", "chmod", "mktemp",
        "basename", "dirname", "cmp",
    ];
    for tool in ["git", "make", "curl"].iter().chain(&basics) {
        std::os::unix::fs::symlink(which(tool), bin.path().join(tool)).unwrap();
    }
    let mut env = blank_env(&home.path().to_string_lossy());
    env.push(("PATH", bin.path().to_string_lossy().into_owned()));

    let out = tree.xtask_env(&["doctor"], &env);
    out.assert_code(1);
    let stdout = &out.stdout;
    for (what, found) in [
        ("git", "found    git version"),
        ("make", "found    GNU Make"),
        ("curl", "found    curl "),
    ] {
        assert!(line(stdout, what).contains(found), "{what}: {stdout}");
    }
    // build-package lists what the rendition's Makefile, version.sh and
    // build.sh call; its version.sh writes gofmt's form without gofmt.
    for tool in basics {
        assert!(line(stdout, tool).contains("found"), "{tool}: {stdout}");
    }
    assert!(!stdout.contains("gofmt"), "{stdout}");
    for (tool, fix) in [
        ("dpkg-deb", "brew install dpkg"),
        ("packer", "packer.io"),
        ("openstack", "pip3 install python-openstackclient"),
        ("vault", "vault"),
        ("knife", "Chef Workstation"),
        ("chef", "Chef Workstation"),
        ("gzip", "apt-get install gzip"),
        ("xz", "xz-utils"),
    ] {
        let l = line(stdout, tool);
        assert!(l.contains("missing") && l.contains(fix), "{tool}: {l}");
    }
    assert!(
        line(stdout, "vault token").contains("missing  log in"),
        "{stdout}"
    );
    assert!(
        line(stdout, "OpenStack credentials").contains("missing  neither OS_AUTH_URL nor OS_CLOUD")
    );
    assert!(line(stdout, "chef server credentials").contains("missing"));
    // Asked on the terminal when publishing: not missing, but said.
    assert!(
        line(stdout, "Artifactory credentials").contains("ask      none stored"),
        "{stdout}"
    );
    assert!(line(stdout, "VAULT_ADDR").contains("unset"), "{stdout}");
    // Each step's header, then its lines.
    let headers: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        headers,
        [
            "check --staged/--since, bump-base-image, install-hooks",
            "build-package [--publish]",
            "build-image",
            "chef-policy, chef-push",
            "deps outdated, deps sync",
        ]
    );
    assert!(out.stderr.contains("missing: dpkg-deb, packer, openstack, vault, vault token, OpenStack credentials, knife, chef, chef server credentials, gzip, xz"), "{}", out.stderr);

    // The same verdicts as JSON, and the same exit status.
    let out = tree.xtask_env(&["doctor", "--json"], &env);
    out.assert_code(1);
    let json = out.json();
    assert_eq!(
        json["missing"],
        serde_json::json!([
            "dpkg-deb",
            "packer",
            "openstack",
            "vault",
            "vault token",
            "OpenStack credentials",
            "knife",
            "chef",
            "chef server credentials",
            "gzip",
            "xz"
        ])
    );
    let steps: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["steps"].as_str().unwrap())
        .collect();
    assert_eq!(steps, headers);
    let need = |what: &str| {
        json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["needs"].as_array().unwrap())
            .find(|n| n["what"] == what)
            .unwrap_or_else(|| panic!("{what} in {json}"))
            .clone()
    };
    assert_eq!(need("git")["status"], "found");
    assert!(need("git")["path"].as_str().unwrap().ends_with("/git"));
    assert_eq!(need("dpkg-deb")["status"], "missing");
    assert_eq!(need("dpkg-deb")["path"], serde_json::Value::Null);
    assert!(need("dpkg-deb")["detail"]
        .as_str()
        .unwrap()
        .contains("brew install dpkg"));
    assert_eq!(need("Artifactory credentials")["status"], "ask");
    assert_eq!(tree.snapshot(), before, "doctor writes nothing");
}

#[test]
fn everything_present_exits_0_and_shows_no_secret() {
    let tree = Tree::new(Layout::A);
    let home = TempDir::new("doctor-home-full");
    fs::create_dir_all(home.path().join(".chef")).unwrap();
    fs::write(
        home.path().join(".chef/credentials"),
        "[default]\nclient_name = 'alice'\n",
    )
    .unwrap();
    let fake_log = home.path().join("fake.log");
    let mut env = blank_env(&home.path().to_string_lossy());
    env.extend([
        (
            "PATH",
            format!(
                "{}:{}",
                fake_bin().display(),
                std::env::var("PATH").unwrap()
            ),
        ),
        ("XTASK_FAKE_LOG", fake_log.to_string_lossy().into_owned()),
        (
            "XTASK_FAKE_STATE",
            home.path().join("state").to_string_lossy().into_owned(),
        ),
        ("ARTIFACTORY_USER", "alice".into()),
        ("ARTIFACTORY_PASSWORD", "doctor-zebra-pw".into()),
        ("VAULT_TOKEN", "s.vault-zebra-token".into()),
        ("VAULT_ADDR", "https://vault.example".into()),
        ("OS_CLOUD", "mycloud".into()),
    ]);

    let out = tree.xtask_env(&["doctor"], &env);
    out.assert_code(0);
    let stdout = &out.stdout;
    assert!(!stdout.contains("missing"), "{stdout}");
    assert!(stdout.contains("doctor: every step has what it needs"));
    // Versions come from the tools themselves (here the fakes of tests/fixtures/bin).
    for (what, found) in [
        ("knife", "found    Chef Infra Client: 17.6.18"),
        ("chef", "found    Chef Workstation version: 21.10.640"),
        ("openstack", "found    openstack 5.5.0"),
        ("vault", "found    Vault v1.8.4"),
        ("packer", "found    Packer v1.6.6"),
        ("dpkg-deb", "found    Debian 'dpkg-deb'"),
    ] {
        assert!(line(stdout, what).contains(found), "{what}: {stdout}");
    }
    let fakes = fs::read_to_string(&fake_log).unwrap();
    for call in [
        "knife --version",
        "chef --version",
        "openstack --version",
        "vault version",
        "packer version",
    ] {
        assert!(
            fakes.lines().any(|l| l == call),
            "{call} not asked:\n{fakes}"
        );
    }
    // Where the credentials are, never what they are.
    assert!(line(stdout, "Artifactory credentials")
        .contains("found    user alice from ARTIFACTORY_USER/ARTIFACTORY_PASSWORD"));
    assert!(line(stdout, "vault token").contains("VAULT_TOKEN is set"));
    assert!(line(stdout, "OpenStack credentials").contains("OS_CLOUD is set"));
    assert!(line(stdout, "chef server credentials").contains(".chef/credentials"));
    assert!(
        !out.all().contains("zebra"),
        "a secret shows:\n{}",
        out.all()
    );

    // -v adds where each tool is.
    let out = tree.xtask_env(&["-v", "doctor"], &env);
    out.assert_code(0);
    let knife = format!("({}/knife)", fake_bin().display());
    assert!(
        line(&out.stdout, "knife").ends_with(&knife),
        "{}",
        out.stdout
    );
}

#[test]
fn credentials_that_cannot_be_used_are_missing() {
    let tree = Tree::new(Layout::A);
    let home = TempDir::new("doctor-home-creds");
    let mut env = blank_env(&home.path().to_string_lossy());

    // A creds file others can read: found, with the warning.
    let creds = home.path().join(".artifactory.creds");
    fs::write(&creds, "alice:file-zebra-pw\n").unwrap();
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o644)).unwrap();
    let out = tree.xtask_env(&["doctor"], &env);
    let l = line(&out.stdout, "Artifactory credentials");
    assert!(
        l.contains("found    user alice from ") && l.contains("chmod 600"),
        "{l}"
    );

    // Half the environment: the publish would refuse, so it is missing.
    env.retain(|(k, _)| *k != "ARTIFACTORY_USER");
    env.push(("ARTIFACTORY_USER", "bob".into()));
    let out = tree.xtask_env(&["doctor"], &env);
    out.assert_code(1);
    let l = line(&out.stdout, "Artifactory credentials");
    assert!(
        l.contains("missing  ARTIFACTORY_USER is set but ARTIFACTORY_PASSWORD is not"),
        "{l}"
    );
    assert!(!out.all().contains("zebra"));
}
