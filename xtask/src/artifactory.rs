//! Artifactory as the package publish needs it: where the .deb goes, whose
//! credentials, and the two curl requests (HEAD: is it there already? PUT:
//! upload it) with the answers read back.
//!
//! The credentials reach curl only as a config on its standard input
//! (`curl --config -`): never in its arguments (which every process listing
//! shows), never in a log or in the output.

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::bad;
use crate::context::Context;
use crate::runner::{Outcome, Runner, Step};

pub const DEFAULT_URL: &str = "https://artifactory.mobiledgex.net/artifactory";
pub const USER_VAR: &str = "ARTIFACTORY_USER";
pub const PASSWORD_VAR: &str = "ARTIFACTORY_PASSWORD";
/// In the home folder; first line `user:password`, as build.sh reads it.
pub const CREDS_FILE: &str = ".artifactory.creds";
/// The Artifactory repository and folder the Debian packages live in.
const POOL: &str = "packages/pool";
/// Connecting must not hang a release; the upload itself may take its time.
const CONNECT_TIMEOUT_SECS: &str = "30";

/// Where the credentials came from: said in plans and by `doctor`, unlike the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    File(PathBuf),
    Prompt,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Environment => write!(f, "{USER_VAR}/{PASSWORD_VAR}"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Prompt => f.write_str("the terminal"),
        }
    }
}

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    password: String,
    pub source: Source,
}

/// Never shows the password.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    fn new(user: &str, password: &str, source: Source) -> Result<Credentials> {
        let (user, password) = (user.trim(), password);
        if user.is_empty() || password.is_empty() {
            return Err(bad!(
                "Artifactory credentials from {source}: the user and the password must both be non-empty"
            ));
        }
        if user.contains(':') {
            return Err(bad!(
                "Artifactory credentials from {source}: the user name cannot contain `:`"
            ));
        }
        if user.chars().chain(password.chars()).any(char::is_control) {
            return Err(bad!(
                "Artifactory credentials from {source}: the user and the password cannot contain control characters (line breaks, tabs)"
            ));
        }
        crate::runner::remember_secret(password);
        Ok(Credentials {
            user: user.to_string(),
            password: password.to_string(),
            source,
        })
    }

    /// `user = "u:p"`: a curl config line, for `curl --config -`.
    fn curl_config(&self) -> Vec<u8> {
        curl_user_config(&self.user, &self.password)
    }
}

/// What was found without asking anybody, and what is worth a warning.
pub struct Stored {
    pub credentials: Option<Credentials>,
    pub warnings: Vec<String>,
}

/// Credentials from `ARTIFACTORY_USER` + `ARTIFACTORY_PASSWORD`, else from the
/// first line of `~/.artifactory.creds`. Never prompts.
pub fn stored() -> Result<Stored> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var(USER_VAR), var(PASSWORD_VAR)) {
        (Some(user), Some(password)) => {
            return Ok(Stored {
                credentials: Some(Credentials::new(&user, &password, Source::Environment)?),
                warnings: Vec::new(),
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            let (set, unset) = if var(USER_VAR).is_some() {
                (USER_VAR, PASSWORD_VAR)
            } else {
                (PASSWORD_VAR, USER_VAR)
            };
            return Err(bad!(
                "{set} is set but {unset} is not: set both, or neither to use ~/{CREDS_FILE}"
            ));
        }
        (None, None) => {}
    }
    let Some(path) = creds_file() else {
        return Ok(Stored {
            credentials: None,
            warnings: Vec::new(),
        });
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Stored {
                credentials: None,
                warnings: Vec::new(),
            })
        }
        Err(err) => return Err(bad!("cannot read {}: {err}", path.display())),
    };
    let mut warnings = Vec::new();
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o077 != 0 {
            warnings.push(format!(
                "{} can be read by other users (mode {:o}): `chmod 600 {}`",
                path.display(),
                meta.permissions().mode() & 0o777,
                path.display()
            ));
        }
    }
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    let Some((user, password)) = line.split_once(':') else {
        return Err(bad!(
            "{}:1: expected `user:password` on the first line",
            path.display()
        ));
    };
    let credentials = Credentials::new(user, password, Source::File(path))?;
    Ok(Stored {
        credentials: Some(credentials),
        warnings,
    })
}

/// `~/.artifactory.creds`, when there is a home folder.
pub fn creds_file() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(CREDS_FILE))
}

/// The three ways to give credentials, for the error when none can be had.
pub fn how_to_give_credentials() -> String {
    format!(
        "give the Artifactory credentials in one of three ways: set {USER_VAR} and {PASSWORD_VAR}; \
         or write `user:password` on the first line of ~/{CREDS_FILE} (then `chmod 600 ~/{CREDS_FILE}`); \
         or run on a terminal and type them when asked"
    )
}

/// Asks on the terminal: the user name, then the password with echo turned
/// off through `stty` (when that fails, the prompt says the password will show).
pub fn prompt(ctx: &Context, runner: &Runner) -> Result<Credentials> {
    if !ctx.stdin_is_terminal {
        return Err(bad!(
            "no Artifactory credentials, and standard input is not a terminal to ask for them: {}. Nothing was run.",
            how_to_give_credentials()
        ));
    }
    let user = ctx.ask("Artifactory user: ")?;
    let hidden = set_echo(runner, false);
    let question = if hidden {
        "Artifactory password: "
    } else {
        "Artifactory password (stty could not turn echo off: it will show as you type): "
    };
    let password = ctx.ask(question);
    if hidden {
        set_echo(runner, true);
        // The Enter typed after the hidden password did not show either.
        ctx.explain("\n");
    }
    Credentials::new(&user, &password?, Source::Prompt)
}

/// Turns the terminal's echo off or on; whether it worked.
fn set_echo(runner: &Runner, on: bool) -> bool {
    // stty works on the terminal named here, whatever its own standard input is.
    let device_flag = if cfg!(target_os = "macos") {
        "-f"
    } else {
        "-F"
    };
    let step = Step::new("terminal echo", "stty").args([
        device_flag,
        "/dev/tty",
        if on { "echo" } else { "-echo" },
    ]);
    runner.capture(&step).is_ok_and(|outcome| outcome.ok)
}

/// The Artifactory base URL: given, or the default; without a trailing `/`.
pub fn base_url(given: Option<&str>) -> Result<String> {
    let url = given
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_URL);
    checked_url(url, "--artifactory")
}

/// The Artifactory folder the Debian packages go to, from a base URL:
/// `<base>/packages/pool`.
pub fn pool_of(base: &str) -> String {
    format!("{base}/{POOL}")
}

/// `url` if it is a plain http(s) URL without credentials, without a
/// trailing `/`; `what` names where it came from in the error (exit 2).
pub fn checked_url(url: &str, what: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad!(
            "{what} {url}: expected an http(s) URL such as {DEFAULT_URL}"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad!(
            "{what} {url}: expected an http or https URL, not {scheme}"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad!("{what} {url}: the URL names no host"));
    }
    if authority.contains('@') {
        return Err(bad!(
            "{what}: the URL carries credentials, which would show in every process listing; give the bare URL and {}",
            how_to_give_credentials()
        ));
    }
    if url.contains(char::is_whitespace) || url.contains(';') || url.contains('?') {
        return Err(bad!(
            "{what} {url}: expected a plain URL (no blanks, `;` or `?`)"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Where one Debian package goes in Artifactory.
#[derive(Debug, Clone)]
pub struct Target {
    /// The folder URL, `<base>/packages/pool` or build.sh's `ARTIFACTORY_PATH`.
    pub pool: String,
    /// `mobiledgex_3.0.1_amd64.deb`
    pub file_name: String,
    pub distribution: String,
    pub component: String,
    pub architecture: String,
}

/// The checksums the upload announces and Artifactory must answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub md5: String,
    pub sha1: String,
}

/// Whether the package is in Artifactory already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Absent,
    Present,
}

impl Target {
    /// `<pool>/<file>`
    pub fn url(&self) -> String {
        format!("{}/{}", self.pool, self.file_name)
    }

    /// The URL with the matrix parameters Artifactory indexes the .deb by.
    pub fn upload_url(&self) -> String {
        format!(
            "{};deb.distribution={};deb.component={};deb.architecture={}",
            self.url(),
            self.distribution,
            self.component,
            self.architecture
        )
    }

    /// `curl --head`: prints only the HTTP status. Without credentials (for a
    /// plan) the step has no standard input.
    pub fn exists_step(&self, credentials: Option<&Credentials>) -> Step {
        let step = curl(format!("check Artifactory for {}", self.file_name)).args([
            "--head",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            &self.url(),
        ]);
        with_credentials(step, credentials)
    }

    /// `curl --upload-file` (a PUT) with both checksum headers; prints the
    /// server's answer, then the HTTP status on a line of its own.
    pub fn upload_step(
        &self,
        deb: &Path,
        checksums: &Checksums,
        credentials: Option<&Credentials>,
    ) -> Step {
        let step = curl(format!(
            "upload {} to Artifactory (irreversible)",
            self.file_name
        ))
        .args([
            "--request",
            "PUT",
            "--header",
            &format!("X-Checksum-MD5: {}", checksums.md5),
            "--header",
            &format!("X-Checksum-Sha1: {}", checksums.sha1),
            "--upload-file",
            &deb.to_string_lossy(),
            "--write-out",
            "\\n%{http_code}",
            &self.upload_url(),
        ]);
        with_credentials(step, credentials)
    }

    /// Reads the HEAD's answer: 404 absent, 200 present, anything else an error.
    pub fn presence(&self, outcome: &Outcome) -> Result<Presence> {
        match status_code(&outcome.stdout) {
            Some(200) => Ok(Presence::Present),
            Some(404) => Ok(Presence::Absent),
            Some(code @ (401 | 403)) => anyhow::bail!(
                "Artifactory refused the credentials (HTTP {code}) for {}: check them ({})",
                self.url(),
                how_to_give_credentials()
            ),
            Some(code) => anyhow::bail!(
                "Artifactory answered HTTP {code} when asked whether {} exists; expected 200 or 404",
                self.url()
            ),
            None => anyhow::bail!(
                "could not read an HTTP status from curl's answer for {}",
                self.url()
            ),
        }
    }

    /// Reads the PUT's answer: HTTP 201 (or 200) and Artifactory's JSON whose
    /// `checksums` equal what was sent.
    pub fn check_upload(&self, outcome: &Outcome, sent: &Checksums) -> Result<()> {
        let (body, code) = split_answer(&outcome.stdout);
        check_upload_status(code, body, &self.file_name, &self.pool)?;
        let excerpt = excerpt(body);
        let answer: Value = serde_json::from_str(body).map_err(|err| {
            anyhow::anyhow!(
                "Artifactory's answer to the upload is not JSON ({err}), so the stored checksums cannot be verified; look at {} in the web UI; the server said: {excerpt}",
                self.url()
            )
        })?;
        let stored = |key: &str| {
            answer
                .pointer(&format!("/checksums/{key}"))
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        };
        let (md5, sha1) = (stored("md5"), stored("sha1"));
        let mut wrong = Vec::new();
        for (name, got, want) in [("md5", &md5, &sent.md5), ("sha1", &sha1, &sent.sha1)] {
            match got {
                Some(got) if got == want => {}
                Some(got) => wrong.push(format!("{name} {got}, the .deb has {want}")),
                None => wrong.push(format!("no {name} in its answer")),
            }
        }
        if !wrong.is_empty() {
            anyhow::bail!(
                "Artifactory stored {} but its checksums differ: {}; delete it from {} and publish again",
                self.url(),
                wrong.join("; "),
                self.pool
            );
        }
        Ok(())
    }
}

/// A curl request to Artifactory (`title` for the progress line), with the
/// credentials on its standard input only; the caller adds the rest.
pub fn request(title: String, credentials: Option<&Credentials>) -> Step {
    with_credentials(curl(title), credentials)
}

fn with_credentials(step: Step, credentials: Option<&Credentials>) -> Step {
    match credentials {
        Some(credentials) => step.stdin(credentials.curl_config()),
        None => step,
    }
}

/// The HTTP status curl's `--write-out %{http_code}` printed (`000`: no answer).
pub fn status_code(text: &str) -> Option<u16> {
    let code = text.trim().lines().last()?.trim();
    match code.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(code) => Some(code),
    }
}

/// curl's answer with `--write-out '\n%{http_code}'`: the body, and the
/// status of the last line (`None` when there is none).
pub fn split_answer(stdout: &str) -> (&str, Option<u16>) {
    let text = stdout.trim_end();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
    (body, status_code(code))
}

/// An upload's status: fine for 200 and 201, else the error, naming what
/// was uploaded and where the user must be allowed to deploy.
pub fn check_upload_status(
    code: Option<u16>,
    body: &str,
    what: &str,
    deploy_to: &str,
) -> Result<()> {
    let excerpt = excerpt(body);
    match code {
        Some(200 | 201) => Ok(()),
        Some(code @ (401 | 403)) => anyhow::bail!(
            "Artifactory refused the upload (HTTP {code}): check the credentials and that the user may deploy to {deploy_to}; the server said: {excerpt}"
        ),
        Some(code) => anyhow::bail!(
            "Artifactory refused the upload of {what} (HTTP {code}); the server said: {excerpt}"
        ),
        None => anyhow::bail!(
            "could not read an HTTP status from curl's answer to the upload of {what}"
        ),
    }
}

/// The start of a server's answer, on one line, for an error message.
pub fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        _ if flat.is_empty() => "(nothing)".to_string(),
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// `user = "u:p"`, quoted for curl's config syntax: how credentials reach
/// curl (`--config -`, on its standard input), never as an argument.
pub fn curl_user_config(user: &str, password: &str) -> Vec<u8> {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("user = \"{}:{}\"\n", quote(user), quote(password)).into_bytes()
}

/// curl as every request with credentials uses it: its configuration (the
/// credentials) on standard input, quiet but for errors, a bounded connection wait.
pub fn curl(title: impl Into<String>) -> Step {
    Step::new(title, "curl").args([
        // First, or curl reads ~/.curlrc anyway: a `verbose` there would
        // print the Authorization header.
        "-q",
        "--config",
        "-",
        "--silent",
        "--show-error",
        "--connect-timeout",
        CONNECT_TIMEOUT_SECS,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            pool: "http://127.0.0.1:8081/artifactory/packages/pool".into(),
            file_name: "mobiledgex_3.0.1_amd64.deb".into(),
            distribution: "cirrus".into(),
            component: "main".into(),
            architecture: "amd64".into(),
        }
    }

    fn outcome(stdout: &str) -> Outcome {
        Outcome {
            ok: true,
            code: Some(0),
            log: PathBuf::new(),
            elapsed: std::time::Duration::ZERO,
            output: stdout.into(),
            stdout: stdout.into(),
            interrupted: false,
        }
    }

    fn sums() -> Checksums {
        Checksums {
            md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            sha1: "da39a3ee5e6b4b0d3255bfef95601890afd80709".into(),
        }
    }

    #[test]
    fn urls_carry_the_pool_and_the_matrix_parameters() {
        let t = target();
        assert_eq!(
            t.url(),
            "http://127.0.0.1:8081/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb"
        );
        assert_eq!(
            t.upload_url(),
            "http://127.0.0.1:8081/artifactory/packages/pool/mobiledgex_3.0.1_amd64.deb;deb.distribution=cirrus;deb.component=main;deb.architecture=amd64"
        );
    }

    #[test]
    fn base_url_is_checked_and_trimmed() {
        assert_eq!(base_url(None).unwrap(), DEFAULT_URL);
        assert_eq!(
            base_url(Some("https://a.example/art/")).unwrap(),
            "https://a.example/art"
        );
        for bad in [
            "ftp://x",
            "artifactory.example",
            "https://u:p@a.example",
            "https://",
            "http://a b",
        ] {
            let err = base_url(Some(bad)).unwrap_err();
            assert_eq!(crate::error::exit_status(&err), 2, "{bad}");
        }
    }

    #[test]
    fn the_password_goes_to_standard_input_only() {
        let creds = Credentials::new("alice", r#"ze"bra\zebra"#, Source::Prompt).unwrap();
        assert_eq!(
            creds.curl_config(),
            b"user = \"alice:ze\\\"bra\\\\zebra\"\n".to_vec()
        );
        let step = target().upload_step(Path::new("x.deb"), &sums(), Some(&creds));
        assert!(step.arguments().iter().all(|a| !a.contains("bra")));
        assert!(!format!("{creds:?} {step:?}").contains("bra"));
    }

    #[test]
    fn presence_reads_the_status() {
        let t = target();
        assert_eq!(t.presence(&outcome("404")).unwrap(), Presence::Absent);
        assert_eq!(t.presence(&outcome("200")).unwrap(), Presence::Present);
        assert!(t
            .presence(&outcome("401"))
            .unwrap_err()
            .to_string()
            .contains("credentials"));
        assert!(t
            .presence(&outcome("500"))
            .unwrap_err()
            .to_string()
            .contains("HTTP 500"));
        assert!(t.presence(&outcome("000")).is_err());
    }

    #[test]
    fn upload_answer_must_be_201_with_the_same_checksums() {
        let t = target();
        let good = format!(
            "{{\"repo\": \"packages\", \"checksums\": {{\"sha1\": \"{}\", \"md5\": \"{}\"}}}}\n201",
            sums().sha1,
            sums().md5
        );
        t.check_upload(&outcome(&good), &sums()).unwrap();
        let bad_md5 = good.replace(&sums().md5, "00000000000000000000000000000000");
        let err = t.check_upload(&outcome(&bad_md5), &sums()).unwrap_err();
        assert!(
            err.to_string()
                .contains("md5 00000000000000000000000000000000"),
            "{err}"
        );
        let err = t
            .check_upload(&outcome("{\"errors\": [1]}\n500"), &sums())
            .unwrap_err();
        assert!(err.to_string().contains("HTTP 500"), "{err}");
        let err = t
            .check_upload(&outcome("<html>\n201"), &sums())
            .unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn credentials_are_validated() {
        assert!(Credentials::new("", "p", Source::Environment).is_err());
        assert!(Credentials::new("u", "", Source::Environment).is_err());
        assert!(Credentials::new("u", "p\nq", Source::Environment).is_err());
        let c = Credentials::new("u", "p:q", Source::Environment).unwrap();
        assert_eq!(c.user, "u");
    }
}
