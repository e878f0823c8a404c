//! Artifactory's side: where the image goes (`--artifactory`, props.go's
//! `DefaultCloudletVMImagePath`, or the default), the upload with its
//! checksum headers and the check of its answer, and the storage API query
//! for the checksums Artifactory stores.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::artifactory::{self, Credentials};
use crate::bad;
use crate::checksum::Sums;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::formats::go;
use crate::runner::{Meter, Progress, Runner, Step};
use crate::sites::paths;
use crate::tree::{read_text, WorkTree};

use super::work_files::Files;

/// The Artifactory folder cloudlets download base images from, when
/// `vmlayer/props.go` does not say (`DefaultCloudletVMImagePath`).
pub(super) const FOLDER: &str = "baseimages";
const IMAGE_PATH_VAR: &str = "DefaultCloudletVMImagePath";

/// Where the image goes in Artifactory.
#[derive(Debug, Clone)]
pub(super) struct Location {
    /// `https://artifactory.mobiledgex.net/artifactory`
    pub base: String,
    /// `baseimages/mobiledgex-v4.10.0.qcow2`
    pub repo_path: String,
    /// Where the base URL came from, for the plan.
    pub from: String,
}

impl Location {
    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.repo_path)
    }

    /// Artifactory's storage API for the file: its checksums as JSON.
    pub fn storage_url(&self) -> String {
        format!("{}/api/storage/{}", self.base, self.repo_path)
    }

    fn file_name(&self) -> &str {
        self.repo_path.rsplit('/').next().unwrap_or(&self.repo_path)
    }

    /// `--artifactory` / ARTIFACTORY_URL, else `DefaultCloudletVMImagePath`
    /// of the checkout's props.go (the folder cloudlets download from), else
    /// the default Artifactory.
    pub(super) fn find(
        ctx: &Context,
        checkout: Option<&Path>,
        given: Option<&str>,
        file: &str,
    ) -> Result<Location> {
        if let Some(url) = given.map(str::trim).filter(|url| !url.is_empty()) {
            return Ok(Location {
                base: artifactory::checked_url(url, "--artifactory (or ARTIFACTORY_URL)")?,
                repo_path: format!("{FOLDER}/{file}"),
                from: "--artifactory or ARTIFACTORY_URL".into(),
            });
        }
        if let Some(root) = checkout {
            let tree = WorkTree {
                root: root.to_path_buf(),
            };
            let text = read_text(&tree, paths::PROPS_GO)?.unwrap_or_default();
            if let Some(found) = go::string_var(&text, IMAGE_PATH_VAR).into_iter().next() {
                let what = format!("{}:{} {IMAGE_PATH_VAR}", paths::PROPS_GO, found.line);
                let folder_url = artifactory::checked_url(&found.value, &what)?;
                let Some((base, folder)) = folder_url.rsplit_once('/') else {
                    return Err(bad!(
                        "{what}: expected <Artifactory URL>/<repository>/, not {}",
                        found.value
                    ));
                };
                return Ok(Location {
                    base: artifactory::checked_url(base, &what)?,
                    repo_path: format!("{folder}/{file}"),
                    from: what,
                });
            }
            ctx.detail(format!(
                "{} has no {IMAGE_PATH_VAR}: using the default Artifactory",
                paths::PROPS_GO
            ));
        }
        Ok(Location {
            base: artifactory::DEFAULT_URL.to_string(),
            repo_path: format!("{FOLDER}/{file}"),
            from: "the default".into(),
        })
    }
}

/// What Artifactory holds at the location.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) md5: String,
    pub(super) sha1: Option<String>,
    pub(super) sha256: Option<String>,
}

/// `GET <base>/api/storage/<path>`: the checksums Artifactory stores, or
/// `None` for 404.
pub(super) fn ask_stored(
    runner: &Runner,
    location: &Location,
    credentials: &Credentials,
) -> Result<Option<Stored>> {
    let step = storage_step(location, Some(credentials));
    let outcome = runner.capture(&step)?;
    if outcome.interrupted {
        return Err(AlreadyReported.into());
    }
    if !outcome.ok {
        anyhow::bail!(
            "cannot ask Artifactory about {} ({}): curl said: {} (set ARTIFACTORY_URL or --artifactory for another Artifactory)",
            location.repo_path,
            location.storage_url(),
            outcome.output.trim()
        );
    }
    read_storage(location, &outcome.stdout)
}

/// The storage API's answer (body, then the status on a line of its own):
/// the checksums for 200, `None` for 404.
pub(super) fn read_storage(location: &Location, stdout: &str) -> Result<Option<Stored>> {
    let url = location.storage_url();
    let (body, code) = artifactory::split_answer(stdout);
    match code {
        Some(200) => {}
        Some(404) => return Ok(None),
        Some(code @ (401 | 403)) => {
            return Err(bad!(
                "Artifactory refused the credentials (HTTP {code}) for {url}: check them ({})",
                artifactory::how_to_give_credentials()
            ))
        }
        Some(code) => anyhow::bail!(
            "Artifactory answered HTTP {code} for {url}; expected 200 or 404; it said: {}",
            artifactory::excerpt(body)
        ),
        None => anyhow::bail!("could not read an HTTP status from curl's answer for {url}"),
    }
    let json: Value = serde_json::from_str(body).map_err(|err| {
        anyhow::anyhow!(
            "Artifactory's answer for {url} is not JSON ({err}): {}",
            artifactory::excerpt(body)
        )
    })?;
    let sum = |key: &str| {
        json.pointer(&format!("/checksums/{key}"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_ascii_lowercase)
    };
    let md5 = sum("md5")
        .ok_or_else(|| anyhow::anyhow!("Artifactory's answer for {url} has no checksums.md5"))?;
    Ok(Some(Stored {
        md5,
        sha1: sum("sha1"),
        sha256: sum("sha256"),
    }))
}

pub(super) fn storage_step(location: &Location, credentials: Option<&Credentials>) -> Step {
    artifactory::request(
        format!(
            "ask Artifactory for the checksums of {}",
            location.file_name()
        ),
        credentials,
    )
    .args(["--write-out", "\\n%{http_code}", &location.storage_url()])
}

/// `curl --upload-file` (a PUT) with the three checksum headers; prints the
/// answer, then the HTTP status on a line of its own.
pub(super) fn upload_step(
    location: &Location,
    files: &Files,
    sums: Option<&Sums>,
    size: u64,
    credentials: Option<&Credentials>,
) -> Step {
    let sum = |pick: fn(&Sums) -> &String, what: &str| {
        sums.map(|s| pick(s).clone())
            .unwrap_or_else(|| format!("<{what} of the compressed image>"))
    };
    artifactory::request(
        format!("upload {} to Artifactory", location.file_name()),
        credentials,
    )
    .args([
        "--header".to_string(),
        format!("X-Checksum-Md5: {}", sum(|s| &s.md5, "md5")),
        "--header".to_string(),
        format!("X-Checksum-Sha1: {}", sum(|s| &s.sha1, "sha1")),
        "--header".to_string(),
        format!("X-Checksum-Sha256: {}", sum(|s| &s.sha256, "sha256")),
        "--upload-file".to_string(),
        files.compressed.to_string_lossy().into_owned(),
        "--write-out".to_string(),
        "\\n%{http_code}".to_string(),
        location.url(),
    ])
    .progress(Progress {
        meter: Meter::ReadOffset(files.compressed.clone()),
        total: size,
    })
}

/// The PUT's answer: HTTP 201 (or 200) and Artifactory's JSON whose
/// checksums are what was sent.
pub(super) fn check_upload_answer(location: &Location, stdout: &str, sent: &Sums) -> Result<()> {
    let (body, code) = artifactory::split_answer(stdout);
    let url = location.url();
    artifactory::check_upload_status(code, body, &url, &url)?;
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        // The storage API is asked next; that comparison is the one that counts.
        return Ok(());
    };
    let md5 = answer
        .pointer("/checksums/md5")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    match md5 {
        Some(md5) if md5 != sent.md5 => anyhow::bail!(
            "Artifactory stored {} with md5 {md5}, the upload had {}; delete it there and run publish-image again with --replace",
            location.url(),
            sent.md5
        ),
        _ => Ok(()),
    }
}
