//! Which of the xtask's own environment a tool inherits.
//!
//! The xtask reads credentials from its environment (`ARTIFACTORY_PASSWORD`,
//! `ARTIFACTORY_APIKEY`, …) and hands each to exactly one place: a curl
//! config on curl's standard input, or packer's 0600 var-file. A child would
//! otherwise inherit them all, and every process it starts after it (make →
//! build.sh → dpkg-deb, packer → its plugins) would carry them in
//! `/proc/<pid>/environ`. So each credential variable is removed from every
//! child's environment except the tools that read it themselves, decided here
//! once, per tool, not at each call site:
//!
//! | variables | only for |
//! |---|---|
//! | `ARTIFACTORY_USER`, `ARTIFACTORY_PASSWORD`, `ARTIFACTORY_APIKEY` | nobody (the xtask passes them on itself) |
//! | `VAULT_TOKEN` | `vault` |
//! | `OS_PASSWORD`, `OS_TOKEN`, `OS_APPLICATION_CREDENTIAL_SECRET` | `openstack`, `packer` (its openstack builder) |
//! | build.sh's secret names (`ROOT_PASS`, `MEX_ROOT_PASS`, `TOTP_KEY`, …) | nobody (they go in the var-file) |
//!
//! On top of that, any inherited variable whose value holds a secret the
//! xtask knows (a vault answer, a password it was given) is removed, whatever
//! its name.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// A group of credential variables and the tools that may see them.
struct Credential {
    vars: &'static [&'static str],
    /// Program names (the last path component) that read these themselves.
    tools: &'static [&'static str],
}

const CREDENTIALS: [Credential; 4] = [
    // The xtask reads these and passes them to curl on its standard input or
    // to packer in its var-file; no tool needs them in its environment.
    Credential {
        vars: &[
            "ARTIFACTORY_USER",
            "ARTIFACTORY_PASSWORD",
            "ARTIFACTORY_APIKEY",
        ],
        tools: &[],
    },
    // vault logs in with it; packer's template reads no vault secret itself.
    Credential {
        vars: &["VAULT_TOKEN"],
        tools: &["vault"],
    },
    // The openstack CLI and packer's openstack builder authenticate with them.
    Credential {
        vars: &[
            "OS_PASSWORD",
            "OS_TOKEN",
            "OS_APPLICATION_CREDENTIAL_SECRET",
        ],
        tools: &["openstack", "packer"],
    },
    // build.sh's names for the vault secrets; the xtask puts them in packer's
    // var-file, so a copy in the environment is a leak waiting to happen.
    Credential {
        vars: &[
            "ROOT_PASS",
            "DEBUG_ROOT_PASS",
            "GRUB_PW_HASH",
            "TOTP_KEY",
            "MEX_ROOT_PASS",
            "MEX_DEBUG_ROOT_PASS",
            "MEX_GRUB_PW_HASH",
            "MEX_TOTP_KEY",
            "MEX_ARTIFACTORY_APIKEY",
        ],
        tools: &[],
    },
];

/// Every secret value this process has learned (given to a step, read from
/// vault, typed at a prompt): no child inherits a variable that holds one.
static KNOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Remembers a secret value for the environment scrub.
pub fn remember(value: &str) {
    // A short value would match innocent variables; no real secret is this short.
    if value.len() >= 4 {
        KNOWN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(value.to_string());
    }
}

/// The inherited variables `program` must not get: the credentials it does
/// not read itself, and any variable holding a known secret value.
pub fn denied(
    program: &str,
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<OsString> {
    let tool = Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    inherited
        .into_iter()
        .filter(|(key, value)| {
            let key = key.to_string_lossy();
            let credential = CREDENTIALS.iter().any(|credential| {
                credential.vars.contains(&key.as_ref())
                    && !credential.tools.contains(&tool.as_str())
            });
            let value = value.to_string_lossy();
            credential || known.iter().any(|secret| value.contains(secret.as_str()))
        })
        .map(|(key, _)| key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn each_tool_keeps_only_the_credentials_it_reads() {
        let env = vars(&[
            ("PATH", "/usr/bin"),
            ("ARTIFACTORY_PASSWORD", "pw"),
            ("ARTIFACTORY_USER", "alice"),
            ("VAULT_TOKEN", "s.token"),
            ("VAULT_ADDR", "https://vault"),
            ("OS_PASSWORD", "ospw"),
            ("OS_AUTH_URL", "http://keystone"),
            ("MEX_ROOT_PASS", "root"),
        ]);
        let names = |program: &str| -> Vec<String> {
            denied(program, env.clone())
                .into_iter()
                .map(|k| k.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names("vault"),
            [
                "ARTIFACTORY_PASSWORD",
                "ARTIFACTORY_USER",
                "OS_PASSWORD",
                "MEX_ROOT_PASS"
            ]
        );
        assert_eq!(
            names("/usr/bin/packer"),
            [
                "ARTIFACTORY_PASSWORD",
                "ARTIFACTORY_USER",
                "VAULT_TOKEN",
                "MEX_ROOT_PASS"
            ]
        );
        for program in ["make", "dpkg-deb", "curl", "git", "knife", "chef"] {
            assert_eq!(
                names(program),
                [
                    "ARTIFACTORY_PASSWORD",
                    "ARTIFACTORY_USER",
                    "VAULT_TOKEN",
                    "OS_PASSWORD",
                    "MEX_ROOT_PASS"
                ],
                "{program}"
            );
        }
    }

    #[test]
    fn a_variable_holding_a_known_secret_is_removed_whatever_its_name() {
        remember("env-scrub-s3cr3t-value");
        let env = vars(&[
            ("MY_COPY", "prefix-env-scrub-s3cr3t-value"),
            ("HOME", "/home/x"),
        ]);
        assert_eq!(denied("make", env), [OsString::from("MY_COPY")]);
    }
}
