//! `cargo xtask install-hooks`: the git pre-commit hook that runs `check --staged`.

use std::path::Path;

use anyhow::Result;

use crate::changeset::Changeset;
use crate::context::Context;
use crate::runner::Runner;
use crate::{bad, flags, git};

/// Marks a hook as ours: only such a hook is replaced without --force.
const MARKER: &str = "# xtask-managed pre-commit hook";

/// The hook script: run the xtask's staged check from the monorepo root.
fn hook_script(root_in_repo: &str, invocation: &str) -> String {
    let cd = if root_in_repo.is_empty() {
        String::new()
    } else {
        format!("cd '{root_in_repo}' || exit 1\n")
    };
    format!(
        "#!/bin/sh\n\
         {MARKER} (installed by `cargo xtask install-hooks`).\n\
         # Refuses a commit that leaves the base image release inconsistent; each\n\
         # finding names the command that fixes it. Bypass once: git commit --no-verify\n\
         cd \"$(git rev-parse --show-toplevel)\" || exit 1\n\
         {cd}\
         if ! command -v cargo >/dev/null 2>&1; then\n\
         \x20   echo 'pre-commit: cargo is not on PATH, so `cargo xtask check --staged` cannot run; install Rust (https://rustup.rs) or commit with --no-verify' >&2\n\
         \x20   exit 1\n\
         fi\n\
         exec {invocation}\n"
    )
}

/// How the hook calls the xtask: the alias where the monorepo has it, else
/// this crate's manifest with the monorepo as --root.
fn invocation(root: &Path) -> String {
    let has_alias = std::fs::read_to_string(root.join(".cargo/config.toml"))
        .is_ok_and(|config| config.contains("xtask"));
    if has_alias {
        "cargo xtask check --staged".to_string()
    } else {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        format!(
            "cargo run --quiet --manifest-path '{}' -- --root . check --staged",
            manifest.display()
        )
    }
}

impl flags::InstallHooks {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let runner = Runner::new()?;
        git::require_repository(&runner, &ctx.root, "install-hooks")?;
        let hooks = git::hooks_dir(&runner, &ctx.root)?;
        let hook = hooks.join("pre-commit");
        let script = hook_script(&git::prefix(&runner, &ctx.root)?, &invocation(&ctx.root));

        let mut changes = Changeset::new(&ctx.root);
        match std::fs::read_to_string(&hook) {
            Ok(existing) if existing == script => {
                ctx.say(format!(
                    "{} is already installed and up to date.",
                    hook.display()
                ));
                return Ok(());
            }
            Ok(existing) if !existing.contains(MARKER) && !self.force => {
                return Err(bad!(
                    "{} exists and was not written by the xtask; keep it, or rerun with --force to replace it (it is saved as pre-commit.local)",
                    hook.display()
                ));
            }
            Ok(existing) if !existing.contains(MARKER) => {
                changes.write(&hooks.join("pre-commit.local"), existing, 0o755)?;
            }
            _ => {}
        }
        if !hooks.is_dir() {
            return Err(bad!(
                "the git hooks folder {} does not exist",
                hooks.display()
            ));
        }
        changes.write(&hook, script, 0o755)?;
        ctx.say(changes.preview(&ctx.paint));
        changes.apply()?;
        ctx.say(format!(
            "Installed {}: every `git commit` now runs `cargo xtask check --staged`.",
            hook.display()
        ));
        Ok(())
    }
}
