//! What a real build needs from the user before anything runs: OpenStack
//! credentials in the environment, and the Artifactory API key the provisioner
//! installs packages with (where build.sh reads it).

use std::path::PathBuf;

use anyhow::Result;

use crate::bad;

/// Where build.sh reads the Artifactory API key when it is not in the environment.
pub(super) const APIKEY_FILE: &str = ".mobiledgex/artifactory.apikey";
pub(super) const APIKEY_ENV: &str = "ARTIFACTORY_APIKEY";
/// OpenStack credentials: an openrc sets OS_AUTH_URL, a clouds.yaml entry OS_CLOUD.
const OPENSTACK_ENV: [&str; 2] = ["OS_AUTH_URL", "OS_CLOUD"];

/// The credentials a real build needs from the user (OpenStack, the
/// Artifactory API key), checked without running anything: for `release`,
/// which checks every step's needs before its first step.
pub fn require_credentials(user: &str) -> Result<()> {
    require_openstack_credentials()?;
    artifactory_apikey(user).map(|_| ())
}

pub(super) fn require_openstack_credentials() -> Result<()> {
    if openstack_credentials().is_some() {
        return Ok(());
    }
    Err(bad!(
        "no OpenStack credentials in the environment: {NO_OPENSTACK_CREDENTIALS} and run again. Nothing was run."
    ))
}

/// The variable that gives the OpenStack credentials, if one is set (for
/// build-image, publish-image and doctor alike).
pub fn openstack_credentials() -> Option<&'static str> {
    OPENSTACK_ENV
        .into_iter()
        .find(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// What to say when none is set.
pub const NO_OPENSTACK_CREDENTIALS: &str = "neither OS_AUTH_URL nor OS_CLOUD is set: `source <your-project>-openrc.sh` (or set OS_CLOUD to an entry of clouds.yaml)";

/// The Artifactory API key the provisioner installs packages with: from
/// ARTIFACTORY_APIKEY, else the first line of ~/.mobiledgex/artifactory.apikey
/// (where build.sh reads it).
pub(super) fn artifactory_apikey(user: &str) -> Result<String> {
    let (key, from) = read_apikey(user)?;
    crate::runner::remember_secret(&key);
    // A few characters would also be found inside ordinary words, and is no key.
    if key.chars().count() < 8 {
        return Err(bad!(
            "the Artifactory API key in {from} is only {} characters long; that is not an API key or password",
            key.chars().count()
        ));
    }
    Ok(key)
}

/// The key and where it came from.
fn read_apikey(user: &str) -> Result<(String, String)> {
    if let Ok(key) = std::env::var(APIKEY_ENV) {
        if !key.trim().is_empty() {
            return Ok((key.trim().to_string(), APIKEY_ENV.to_string()));
        }
    }
    let file = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(APIKEY_FILE));
    if let Some(file) = &file {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = text.lines().next().unwrap_or("").trim().to_string();
                if key.is_empty() {
                    return Err(bad!(
                        "{} is empty: put the Artifactory API key of {user} on its first line",
                        file.display()
                    ));
                }
                return Ok((key, file.display().to_string()));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(bad!("cannot read {}: {err}", file.display())),
        }
    }
    Err(bad!(
        "no Artifactory API key for {user}: set {APIKEY_ENV} or write it to ~/{APIKEY_FILE} (mode 0600), as build.sh expects. Nothing was run."
    ))
}
