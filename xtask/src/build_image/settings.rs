//! What `openstack-tenant/packer/build.sh` fixes for every build, read from its
//! text so that the monorepo stays the one place that says: which kind of
//! script it is ([`ScriptKind`]) and the values it gives ([`BuildSettings`]).

use anyhow::Result;

use super::IMAGE_PREFIX;
use crate::bad;
use crate::context::Context;
use crate::formats::{self, shell};
use crate::sites::paths;
use crate::tree::read_text;

/// Which kind of `packer/build.sh` a tree has, told from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// `-p <platform>`: one image per platform, `-vcd`/`-vsphere` tags (the
    /// project's rendition).
    PerPlatform,
    /// No platform option: one image serves every platform (the real
    /// monorepo since its "common base image for all platforms" change).
    Common,
}

impl ScriptKind {
    /// From the script's `getopts` option string (`p:` takes a platform), or
    /// without one from its usage text (`-p <platform>`).
    pub fn of(build_sh: &str) -> ScriptKind {
        let getopts = formats::regex(r#"getopts\s+["']?([A-Za-z:]+)["']?"#);
        let per_platform = match getopts.captures(build_sh) {
            Some(caps) => caps[1].contains("p:"),
            None => build_sh.contains("-p <platform>"),
        };
        if per_platform {
            ScriptKind::PerPlatform
        } else {
            ScriptKind::Common
        }
    }

    /// The kind of the tree's build.sh.
    pub fn read(ctx: &Context) -> Result<ScriptKind> {
        Ok(ScriptKind::of(&read_build_sh(ctx)?))
    }
}

/// What build.sh fixes for every build, read from it so that the monorepo
/// stays the one place that says; the environment overrides what build.sh
/// lets it override (CLOUD_IMAGE_TAG, VAULT, FLAVOR), and ARTIFACTORY_URL
/// its Artifactory.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub kind: ScriptKind,
    pub artifacts_tag: String,
    pub cloud_image_tag: String,
    /// The network's name: NETWORK_NAME, or what build.sh greps the network list for.
    pub network: String,
    pub vault_path: String,
    pub vault: String,
    pub flavor: String,
    /// ARTIFACTORY_URL, else build.sh's ARTIFACTORY_BASEURL; no trailing `/`.
    pub artifactory_url: String,
    /// The cloud image's file name in Artifactory (CLOUD_IMAGE).
    pub cloud_image: String,
    /// The output image's name before `-v<tag>` (OUTPUT_IMAGE_NAME).
    pub image_prefix: String,
    /// What the real build.sh appends after the tag: `_uncompressed`.
    pub image_suffix: String,
}

impl BuildSettings {
    pub fn read(ctx: &Context) -> Result<BuildSettings> {
        BuildSettings::parse(&read_build_sh(ctx)?)
    }

    fn parse(text: &str) -> Result<BuildSettings> {
        let kind = ScriptKind::of(text);
        let mut missing = Vec::new();
        let mut value = |name: &str, env: bool| -> String {
            let from_env = env
                .then(|| std::env::var(name).ok())
                .flatten()
                .filter(|v| !v.is_empty());
            from_env
                .or_else(|| shell_default(text, name))
                .unwrap_or_else(|| {
                    missing.push(name.to_string());
                    String::new()
                })
        };
        let artifacts_tag = value("ARTIFACTORY_ARTIFACTS_TAG", false);
        let cloud_image_tag = value("CLOUD_IMAGE_TAG", true);
        let vault_path = value("VAULT_PATH", false);
        let vault = value("VAULT", true);
        let flavor = value("FLAVOR", true);
        // Only the common build needs these: the checksum comparison and the
        // image name build.sh makes.
        let (base, cloud_image, image_prefix) = match kind {
            ScriptKind::Common => (
                value("ARTIFACTORY_BASEURL", false),
                value("CLOUD_IMAGE", false),
                value("OUTPUT_IMAGE_NAME", false),
            ),
            ScriptKind::PerPlatform => (
                shell_default(text, "ARTIFACTORY_BASEURL").unwrap_or_default(),
                shell_default(text, "CLOUD_IMAGE").unwrap_or_default(),
                IMAGE_PREFIX.trim_end_matches("-v").to_string(),
            ),
        };
        let network = shell_default(text, "NETWORK_NAME").or_else(|| network_in_lookup(text));
        if network.is_none() {
            missing.push(
                "the network (NETWORK_NAME, or `openstack network list … | grep ' <name>$'`)"
                    .to_string(),
            );
        }
        if !missing.is_empty() {
            return Err(bad!(
                "{}: cannot find the value of {} (expected lines like `NAME='value'`, `NAME=\"${{NAME:-value}}\"` or `: \"${{NAME:=value}}\"`)",
                paths::PACKER_BUILD_SH,
                missing.join(", ")
            ));
        }
        let from_env = std::env::var("ARTIFACTORY_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        let artifactory_url = match (&from_env, kind) {
            (Some(url), _) => crate::artifactory::base_url(Some(url))
                .map_err(|err| bad!("ARTIFACTORY_URL: {err}"))?,
            (None, ScriptKind::Common) => crate::artifactory::base_url(Some(&base))
                .map_err(|err| bad!("{}: ARTIFACTORY_BASEURL: {err}", paths::PACKER_BUILD_SH))?,
            (None, ScriptKind::PerPlatform) => base.trim_end_matches('/').to_string(),
        };
        // OUTPUT_IMAGE_NAME="${OUTPUT_IMAGE_NAME}-${OUTPUT_TAG}_uncompressed"
        let suffix = formats::regex(
            r#"OUTPUT_IMAGE_NAME="\$\{OUTPUT_IMAGE_NAME\}-\$\{OUTPUT_TAG\}([A-Za-z0-9_.-]*)""#,
        );
        let image_suffix = suffix
            .captures(text)
            .map(|caps| caps[1].to_string())
            .unwrap_or_default();
        Ok(BuildSettings {
            kind,
            artifacts_tag,
            cloud_image_tag,
            network: network.unwrap_or_default(),
            vault_path,
            vault,
            flavor,
            artifactory_url,
            cloud_image,
            image_prefix,
            image_suffix,
        })
    }

    /// Where Artifactory keeps the cloud image: `baseimage-build/<tag>/<file>`.
    pub fn cloud_image_path(&self) -> String {
        format!(
            "baseimage-build/{}/{}",
            self.artifacts_tag, self.cloud_image
        )
    }

    /// The common image's name in glance: `mobiledgex-v4.10.0_uncompressed`.
    pub fn common_image_name(&self, version: &str) -> String {
        format!("{}-v{version}{}", self.image_prefix, self.image_suffix)
    }
}

fn read_build_sh(ctx: &Context) -> Result<String> {
    let tree = ctx.work_tree();
    read_text(&tree, paths::PACKER_BUILD_SH)?
        .ok_or_else(|| bad!("{} not found", paths::PACKER_BUILD_SH))
}

/// The name build.sh looks the network up by when it greps the list:
/// `openstack network list -c ID -c Name -f value | grep ' external-network-shared$'`.
fn network_in_lookup(text: &str) -> Option<String> {
    let lookup = formats::regex(
        r#"(?s)openstack\s+network\s+list\b.{0,300}?grep\s+(?:-\w+\s+)*['"] ?([A-Za-z0-9._-]+)\$['"]"#,
    );
    lookup.captures(text).map(|caps| caps[1].to_string())
}

/// A literal value build.sh gives `name`: `NAME='v'`, `NAME="${NAME:-v}"` or
/// `: "${NAME:=v}"`. Anything computed is not a literal and gives `None`.
fn shell_default(text: &str, name: &str) -> Option<String> {
    let fallback = formats::regex(&format!(
        r"\$\{{{}:[-=](?P<v>[^}}$`]*)\}}",
        regex::escape(name)
    ));
    for found in shell::assignment(text, name) {
        if let Some(caps) = fallback.captures(&found.value) {
            return Some(caps["v"].to_string());
        }
        if !found.value.contains(['$', '`']) {
            return Some(found.value);
        }
    }
    fallback.captures(text).map(|caps| caps["v"].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD_SH: &str = "ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'\nNETWORK_NAME='external-network-shared'\nCLOUD_IMAGE_TAG=\"${CLOUD_IMAGE_TAG:-ubuntu-18.04-server-cloudimg-amd64-2021-10-05}\"\n: \"${VAULT:=vault-main.mobiledgex.net}\"\nTAG=\"${TAG:-$(awk x)}\"\n";

    #[test]
    fn reads_build_sh_literals_and_defaults() {
        assert_eq!(
            shell_default(BUILD_SH, "ARTIFACTORY_ARTIFACTS_TAG").as_deref(),
            Some("2021-10-05")
        );
        assert_eq!(
            shell_default(BUILD_SH, "CLOUD_IMAGE_TAG").as_deref(),
            Some("ubuntu-18.04-server-cloudimg-amd64-2021-10-05")
        );
        assert_eq!(
            shell_default(BUILD_SH, "VAULT").as_deref(),
            Some("vault-main.mobiledgex.net")
        );
        // Computed values are not literals.
        assert_eq!(shell_default(BUILD_SH, "TAG"), None);
        assert_eq!(shell_default(BUILD_SH, "FLAVOR"), None);
    }

    /// The parts of the real monorepo's build.sh that the settings come from.
    const REAL_BUILD_SH: &str = r#"ARTIFACTORY_BASEURL='https://artifactory.mobiledgex.net/artifactory'
ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'
CLOUD_IMAGE='ubuntu-18.04-server-cloudimg-amd64.img'
OUTPUT_IMAGE_NAME='mobiledgex'
VAULT_PATH="secret/accounts/baseimage"
: ${CLOUD_IMAGE_TAG:=ubuntu-18.04-server-cloudimg-amd64-2021-10-05}
: ${VAULT:=vault-main.mobiledgex.net}
: ${FLAVOR:=m4.small}
while getopts ":dhf:i:o:t:FTu:" OPT; do
OUTPUT_IMAGE_NAME="${OUTPUT_IMAGE_NAME}-${OUTPUT_TAG}_uncompressed"
NETWORK=$( openstack network list -c ID -c Name -f value \
	| grep ' external-network-shared$' \
	| cut -d' ' -f1 )
"#;

    #[test]
    fn tells_the_kinds_of_build_sh_apart() {
        assert_eq!(ScriptKind::of(REAL_BUILD_SH), ScriptKind::Common);
        let rendition = include_str!("../../../openstack-tenant/packer/build.sh");
        assert_eq!(ScriptKind::of(rendition), ScriptKind::PerPlatform);
        // Without getopts, the usage text decides.
        assert_eq!(
            ScriptKind::of(" -p <platform>    Platform\n"),
            ScriptKind::PerPlatform
        );
    }

    #[test]
    fn reads_the_real_build_sh_settings() {
        let settings = BuildSettings::parse(REAL_BUILD_SH).unwrap();
        assert_eq!(settings.kind, ScriptKind::Common);
        assert_eq!(settings.network, "external-network-shared");
        assert_eq!(
            settings.cloud_image_path(),
            "baseimage-build/2021-10-05/ubuntu-18.04-server-cloudimg-amd64.img"
        );
        assert_eq!(
            settings.common_image_name("4.10.0"),
            "mobiledgex-v4.10.0_uncompressed"
        );
        assert_eq!(settings.vault_path, "secret/accounts/baseimage");
        // The rendition names its network in NETWORK_NAME.
        let rendition =
            BuildSettings::parse(include_str!("../../../openstack-tenant/packer/build.sh"))
                .unwrap();
        assert_eq!(rendition.kind, ScriptKind::PerPlatform);
        assert_eq!(rendition.network, "external-network-shared");
        // Neither: the error says what it looked for.
        let err = BuildSettings::parse(&REAL_BUILD_SH.replace("network list", "net ls"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("NETWORK_NAME"), "{err}");
    }
}
