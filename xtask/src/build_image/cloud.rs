//! The cloud and the vault the build talks to: glance and neutron through the
//! openstack CLI, the vault that holds the image's secrets, and the checksum
//! Artifactory stores for the cloud image. Thin wrappers: what they find is
//! judged by the preflight.

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::credentials::{APIKEY_ENV, APIKEY_FILE};
use super::BuildSettings;
use crate::artifactory;
use crate::bad;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::formats;
use crate::runner::{Runner, Step};
use crate::sites::paths;

/// The MD5 Artifactory stores for the cloud image, asked as build.sh asks
/// (`GET <base>/api/storage/<path>`, `.checksums.md5`); the credentials reach
/// curl only as a config on its standard input.
pub(super) fn artifactory_checksum(
    runner: &Runner,
    settings: &BuildSettings,
    user: &str,
    apikey: &str,
) -> Result<String> {
    let url = format!(
        "{}/api/storage/{}",
        settings.artifactory_url,
        settings.cloud_image_path()
    );
    let step = artifactory::curl("ask Artifactory for the cloud image's checksum")
        .args(["--location", "--write-out", "\n%{http_code}", &url])
        .stdin(artifactory::curl_user_config(user, apikey))
        .secret(apikey);
    let outcome = runner.capture(&step)?;
    if !outcome.ok {
        anyhow::bail!(
            "cannot ask Artifactory for the cloud image's checksum at {url}: curl said: {} (set ARTIFACTORY_URL for another Artifactory)",
            outcome.output.trim()
        );
    }
    let (body, status) = artifactory::split_answer(&outcome.stdout);
    match status {
        Some(200) => {}
        Some(code @ (401 | 403)) => anyhow::bail!(
            "Artifactory refused the API key of {user} (HTTP {code}) for {url}: check ${APIKEY_ENV} or ~/{APIKEY_FILE}, and --user"
        ),
        Some(404) => anyhow::bail!(
            "Artifactory has no cloud image at {url} (HTTP 404): check ARTIFACTORY_ARTIFACTS_TAG and CLOUD_IMAGE in {}",
            paths::PACKER_BUILD_SH
        ),
        Some(other) => anyhow::bail!("Artifactory answered HTTP {other} for {url}; expected 200"),
        None => anyhow::bail!("Artifactory's answer for {url} has no HTTP status; expected 200"),
    }
    let json: Value = serde_json::from_str(body)
        .with_context(|| format!("Artifactory's answer for {url} is not JSON"))?;
    json.pointer("/checksums/md5")
        .and_then(Value::as_str)
        .filter(|md5| !md5.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("Artifactory's answer for {url} has no checksums.md5"))
}

/// Glance and neutron, through the openstack CLI's JSON output.
pub(super) struct OpenStack<'a> {
    pub(super) runner: &'a Runner,
}

pub(super) struct Image {
    pub(super) id: String,
    pub(super) checksum: String,
    pub(super) status: String,
}

impl OpenStack<'_> {
    /// The image of that name, or `None` when glance has none.
    pub(super) fn image(&self, name: &str) -> Result<Option<Image>> {
        let step = Step::new(format!("look up {name} in glance"), "openstack")
            .args(["image", "show", "-f", "json", name]);
        let outcome = self.runner.capture(&step)?;
        if !outcome.ok {
            if outcome.output.contains("No Image found")
                || outcome.output.contains("Could not find resource")
            {
                return Ok(None);
            }
            anyhow::bail!(
                "`{}` failed: {}",
                step.command_line(),
                outcome.output.trim()
            );
        }
        let json: Value = serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("`{}` did not answer JSON", step.command_line()))?;
        let field = |key: &str| {
            json.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Some(Image {
            id: field("id"),
            checksum: field("checksum"),
            status: field("status"),
        }))
    }

    /// `openstack image list -c ID -c Name -f value`: (id, name) pairs.
    pub(super) fn image_list(&self) -> Result<Vec<(String, String)>> {
        let step = Step::new("list glance's images", "openstack")
            .args(["image", "list", "-c", "ID", "-c", "Name", "-f", "value"]);
        Ok(id_name_pairs(&self.answer(&step, "is openrc sourced?")?))
    }

    /// `openstack image show -c checksum -f value <id>`.
    pub(super) fn image_checksum(&self, id: &str) -> Result<String> {
        let step = Step::new(format!("ask glance for the checksum of {id}"), "openstack")
            .args(["image", "show", "-c", "checksum", "-f", "value", id]);
        let checksum = self.answer(&step, "")?.trim().to_string();
        if checksum.is_empty() || checksum == "None" {
            anyhow::bail!(
                "glance has no checksum for the image {id} (`{}`)",
                step.command_line()
            );
        }
        Ok(checksum)
    }

    /// The network's id from `openstack network list -c ID -c Name -f value`,
    /// found by its exact name, as build.sh finds it.
    pub(super) fn network_from_list(&self, name: &str) -> Result<String> {
        let step = Step::new("list the networks", "openstack")
            .args(["network", "list", "-c", "ID", "-c", "Name", "-f", "value"]);
        id_name_pairs(&self.answer(&step, "is openrc sourced?")?)
            .into_iter()
            .find(|(_, listed)| listed == name)
            .map(|(id, _)| id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the network {name} is not in `{}`: the build needs it (ask the cloud's admins, or check the openrc's project)",
                    step.command_line()
                )
            })
    }

    /// What a query printed; an error with its message when it failed.
    fn answer(&self, step: &Step, hint: &str) -> Result<String> {
        let outcome = self.runner.capture(step)?;
        if !outcome.ok {
            anyhow::bail!(
                "`{}` failed{}: {}",
                step.command_line(),
                if hint.is_empty() {
                    String::new()
                } else {
                    format!(" ({hint})")
                },
                outcome.output.trim()
            );
        }
        Ok(outcome.stdout)
    }

    pub(super) fn network(&self, name: &str) -> Result<String> {
        let step = Step::new(format!("look up network {name}"), "openstack")
            .args(["network", "show", "-f", "json", name]);
        let outcome = self.runner.capture(&step)?;
        if !outcome.ok {
            anyhow::bail!(
                "the network {name} was not found: `{}` said: {}",
                step.command_line(),
                outcome.output.trim()
            );
        }
        let json: Value = serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("`{}` did not answer JSON", step.command_line()))?;
        json.get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("`{}` gave no id", step.command_line()))
    }
}

/// `<id> <name>` lines (`-c ID -c Name -f value`); a name may hold blanks.
fn id_name_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().split_once(' '))
        .map(|(id, name)| (id.to_string(), name.trim().to_string()))
        .collect()
}

/// The vault that holds the image's root password, GRUB hash and TOTP key.
pub(super) struct Vault<'a> {
    runner: &'a Runner,
    pub(super) addr: String,
}

impl<'a> Vault<'a> {
    pub(super) fn new(runner: &'a Runner, settings: &BuildSettings) -> Vault<'a> {
        Vault {
            runner,
            addr: format!("https://{}", settings.vault),
        }
    }

    fn step(&self, title: &str) -> Step {
        Step::new(title, "vault").env("VAULT_ADDR", self.addr.clone())
    }

    /// A token is needed; logging in is interactive (GitHub), so it is the user's.
    pub(super) fn require_login(&self) -> Result<()> {
        let step = self.step("vault token lookup").args(["token", "lookup"]);
        let outcome = self.runner.capture(&step)?;
        if outcome.ok {
            return Ok(());
        }
        Err(bad!(
            "not logged in to vault at {}: run `VAULT_ADDR={} vault login -method=github` and try again. Nothing was built.",
            self.addr,
            self.addr
        ))
    }

    /// A field build.sh reads but builds without: empty, with a warning,
    /// when vault has none.
    pub(super) fn optional_field(&self, ctx: &Context, path: &str, field: &str) -> Result<String> {
        match self.field(path, field) {
            Ok(value) => Ok(value),
            Err(_) if Runner::interrupted() => Err(AlreadyReported.into()),
            Err(err) => {
                ctx.warn(format!("{err:#}; building without it, as build.sh does"));
                Ok(String::new())
            }
        }
    }

    /// `vault kv get -field=<field> <path>`: the secret, never shown.
    pub(super) fn field(&self, path: &str, field: &str) -> Result<String> {
        let step = self.step(&format!("read {field} of {path}")).args([
            "kv",
            "get",
            &format!("-field={field}"),
            path,
        ]);
        let outcome = self.runner.capture(&step)?;
        let value = outcome.stdout.trim_end_matches(['\n', '\r']).to_string();
        // No child inherits a variable that holds it (see runner::env).
        crate::runner::remember_secret(&value);
        if !outcome.ok || value.is_empty() {
            let said = if outcome.ok {
                "it is empty".to_string()
            } else {
                // vault's error, not the value: a failed read printed no secret.
                formats::lines(&outcome.output)
                    .map(|(_, _, line)| line.trim())
                    .filter(|line| !line.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            anyhow::bail!(
                "cannot read field {field} of {path} from vault at {}: {said}",
                self.addr
            );
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_name_pairs_read_value_lines() {
        assert_eq!(
            id_name_pairs("abc external-network-shared\ndef a name with blanks\n\n"),
            [
                ("abc".to_string(), "external-network-shared".to_string()),
                ("def".to_string(), "a name with blanks".to_string())
            ]
        );
    }
}
