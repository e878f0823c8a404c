//! `cargo xtask deps set NAME=VERSION…`: re-pin by hand, through the changeset.

use std::collections::BTreeMap;

use anyhow::Result;

use super::Trio;
use crate::changeset::Changeset;
use crate::context::Context;
use crate::debian::version::DebVersion;
use crate::rules::KUBERNETES_PACKAGES;
use crate::{bad, flags};

impl flags::DepsSet {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let mut wanted = BTreeMap::new();
        for pair in &self.pins {
            let Some((name, version)) = pair.split_once('=') else {
                return Err(bad!(
                    "`{pair}` is not NAME=VERSION (e.g. docker-ce=5:20.10.14~3-0~ubuntu-bionic)"
                ));
            };
            let (name, version) = (name.trim(), version.trim());
            if name.is_empty() || version.is_empty() || pair.chars().any(char::is_whitespace) {
                return Err(bad!(
                    "`{pair}` is not NAME=VERSION (e.g. docker-ce=5:20.10.14~3-0~ubuntu-bionic)"
                ));
            }
            if wanted
                .insert(name.to_string(), version.to_string())
                .is_some()
            {
                return Err(bad!("`{name}` is given twice"));
            }
        }
        if let Some(version) = &self.kubernetes {
            // Said here, or the error would name kubeadm, which the user did not type.
            DebVersion::parse(version)
                .map_err(|why| bad!("--kubernetes {version}: not a Debian version: {why}"))?;
            for name in KUBERNETES_PACKAGES {
                if wanted.insert(name.to_string(), version.clone()).is_some() {
                    return Err(bad!("{name} is set both by NAME=VERSION and --kubernetes"));
                }
            }
        }
        if wanted.is_empty() {
            return Err(bad!(
                "nothing to set: pass NAME=VERSION pairs and/or --kubernetes VERSION"
            ));
        }
        let inventory = ctx.inventory()?;
        let mut changes = Changeset::new(&ctx.root);
        let moved = super::repin(&inventory, &wanted, Trio::Refuse, &mut changes)?;
        if wanted.contains_key("chef") {
            super::align_chef_client(&inventory, &mut changes)?;
        }
        super::verify_repinned(&changes, &moved)?;
        let findings = super::findings_after(&changes)?;
        if changes.preview_and_apply(ctx, self.confirm, "Write these pins?")? {
            super::print_stale_locks(ctx, &findings);
            super::print_image_cache_hint(ctx, &moved);
        }
        Ok(())
    }
}
