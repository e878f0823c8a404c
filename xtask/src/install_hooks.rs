//! `cargo xtask install-hooks`: the git pre-commit hook that runs `check --staged`,
//! after the hook it replaced (kept as `pre-commit.local`), so installing it
//! never silently turns someone's own checks off.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::changeset::Changeset;
use crate::context::Context;
use crate::runner::quote;
use crate::{bad, flags, git};

/// Marks a hook as ours: only such a hook is replaced without --force.
const MARKER: &str = "# xtask-managed pre-commit hook";

/// The name the replaced hook is kept under, beside the hook; ours runs it first.
const LOCAL: &str = "pre-commit.local";

/// How the hook runs the xtask: through cargo, or (when the binary cargo
/// last built is newer than every file it is built from) that binary
/// directly, which saves cargo's ~90 ms on each commit.
struct Invocation {
    /// The whole cargo command line.
    cargo: String,
    /// The cargo command that only builds the binary.
    build: String,
    /// The workspace holding the xtask crate, and the crate's folder; as sh words.
    workspace: String,
    krate: String,
    /// The arguments given to the binary itself.
    args: String,
}

/// The hook script: run pre-commit.local if there is one (its failure refuses
/// the commit), then the xtask's staged check from the monorepo root.
fn hook_script(root_in_repo: &str, invocation: &Invocation) -> String {
    let cd = if root_in_repo.is_empty() {
        String::new()
    } else {
        format!("cd {} || exit 1\n", quote(root_in_repo))
    };
    let Invocation {
        cargo,
        build,
        workspace: ws,
        krate,
        args,
    } = invocation;
    format!(
        "#!/bin/sh\n\
         {MARKER} (installed by `cargo xtask install-hooks`).\n\
         # Runs {LOCAL} (the hook this one replaced) first, if there is one, then\n\
         # refuses a commit that leaves the base image release inconsistent; each\n\
         # finding names the command that fixes it. Bypass once: git commit --no-verify\n\
         # The hook's folder, as dirname would say, without starting it on every commit.\n\
         case \"$0\" in */*) hooks_dir=\"${{0%/*}}\" ;; *) hooks_dir=. ;; esac\n\
         local_hook=\"$hooks_dir/{LOCAL}\"\n\
         if [ -e \"$local_hook\" ]; then\n\
         \x20   if [ -x \"$local_hook\" ]; then\n\
         \x20       \"$local_hook\" \"$@\"\n\
         \x20       status=$?\n\
         \x20       if [ \"$status\" -ne 0 ]; then\n\
         \x20           echo \"pre-commit: $local_hook failed (exit $status), so the commit is refused\" >&2\n\
         \x20           exit \"$status\"\n\
         \x20       fi\n\
         \x20   else\n\
         \x20       echo \"pre-commit: $local_hook is not executable, so it is skipped (chmod +x it to run it)\" >&2\n\
         \x20   fi\n\
         fi\n\
         # git runs the hook from the top of the working tree; by hand, find it.\n\
         if [ ! -e .git ]; then cd \"$(git rev-parse --show-toplevel)\" || exit 1; fi\n\
         # In a linked worktree git exports GIT_DIR to hooks, not GIT_WORK_TREE:\n\
         # git would then take the folder this hook moves into for the top.\n\
         if [ -n \"$GIT_DIR\" ] && [ -z \"$GIT_WORK_TREE\" ]; then GIT_WORK_TREE=$PWD; export GIT_WORK_TREE; fi\n\
         {cd}\
         # The xtask cargo last built, run directly when it is newer than every\n\
         # file it is built from (else cargo rebuilds it first).\n\
         xtask_bin={ws}/target/debug/xtask\n\
         built_here=yes\n\
         if [ -n \"$CARGO_TARGET_DIR\" ]; then\n\
         \x20   xtask_bin=\"$CARGO_TARGET_DIR/debug/xtask\"\n\
         \x20   # A shared target folder may hold another checkout's build: cargo's\n\
         \x20   # dep-info beside the binary names the sources it was built from.\n\
         \x20   built_here=no\n\
         \x20   main_rs=\"$(cd {krate}/src 2>/dev/null && pwd)/main.rs\"\n\
         \x20   if [ -r \"$xtask_bin.d\" ] && IFS= read -r built_from < \"$xtask_bin.d\"; then\n\
         \x20       case \"$built_from \" in *\" $main_rs \"*) built_here=yes ;; esac\n\
         \x20   fi\n\
         fi\n\
         if [ \"$built_here\" = yes ] && [ -x \"$xtask_bin\" ] && [ -d {krate}/src ] && [ -z \"$(find {krate}/src {krate}/Cargo.toml {ws}/Cargo.toml {ws}/Cargo.lock {ws}/.cargo -newer \"$xtask_bin\" -print -quit 2>/dev/null)\" ]; then\n\
         \x20   exec \"$xtask_bin\" {args}\n\
         fi\n\
         if ! command -v cargo >/dev/null 2>&1; then\n\
         \x20   echo 'pre-commit: cargo is not on PATH, so `cargo xtask check --staged` cannot run; install Rust (https://rustup.rs) or commit with --no-verify' >&2\n\
         \x20   exit 1\n\
         fi\n\
         # Build (nothing to do when only timestamps moved), then mark the binary\n\
         # as fresh, so that the next commits run it directly.\n\
         {build} || exit $?\n\
         if [ -x \"$xtask_bin\" ] && touch -c \"$xtask_bin\" 2>/dev/null; then\n\
         \x20   exec \"$xtask_bin\" {args}\n\
         fi\n\
         exec {cargo}\n"
    )
}

/// Whether a cargo config defines the `xtask` alias: `xtask = …` in the
/// `[alias]` table, or `alias.xtask = …` at the top level. A line scan, since
/// the crate has no TOML parser; keys may be quoted.
fn defines_xtask_alias(config: &str) -> bool {
    let mut table = String::new();
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            // `[alias]  # comment` → "alias"; `[[bin]]` ends any table too.
            let header = line.split('#').next().unwrap_or("").trim();
            table = header
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_string();
            continue;
        }
        let Some((key, _value)) = line.split_once('=') else {
            continue;
        };
        let key: String = key
            .split('.')
            .map(|part| part.trim().trim_matches(['"', '\'']))
            .collect::<Vec<_>>()
            .join(".");
        let full = if table.is_empty() {
            key
        } else {
            format!("{table}.{key}")
        };
        if full == "alias.xtask" {
            return true;
        }
    }
    false
}

/// How the hook calls the xtask: the alias where the monorepo's workspace has
/// it (the crate in its `xtask/`), else this crate's manifest with the
/// monorepo as --root.
fn invocation(root: &Path) -> Invocation {
    let has_alias = root.join("Cargo.toml").is_file()
        && ["config.toml", "config"].iter().any(|name| {
            std::fs::read_to_string(root.join(".cargo").join(name))
                .is_ok_and(|config| defines_xtask_alias(&config))
        });
    if has_alias {
        Invocation {
            cargo: "cargo xtask check --staged".to_string(),
            build: "cargo build --quiet --package xtask".to_string(),
            workspace: ".".to_string(),
            krate: "xtask".to_string(),
            args: "check --staged".to_string(),
        }
    } else {
        let krate = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = krate.parent().unwrap_or(krate);
        let manifest = krate.join("Cargo.toml");
        let manifest = quote(&manifest.to_string_lossy());
        Invocation {
            cargo: format!(
                "cargo run --quiet --manifest-path {manifest} -- --root . check --staged"
            ),
            build: format!("cargo build --quiet --manifest-path {manifest}"),
            workspace: quote(&workspace.to_string_lossy()),
            krate: quote(&krate.to_string_lossy()),
            args: "--root . check --staged".to_string(),
        }
    }
}

/// A file's bytes, or None when it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

impl flags::InstallHooks {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let runner = ctx.runner();
        git::require_repository(runner, &ctx.root, "install-hooks")?;
        let hooks = git::hooks_dir(runner, &ctx.root)?;
        if !hooks.is_dir() {
            return Err(bad!(
                "the git hooks folder {} does not exist; create it (mkdir -p) and rerun",
                hooks.display()
            ));
        }
        let hook = hooks.join("pre-commit");
        let local = hooks.join(LOCAL);
        let script = hook_script(&git::prefix(runner, &ctx.root)?, &invocation(&ctx.root));
        // A dangling link counts as present: it is still someone's hook.
        let has_local = std::fs::symlink_metadata(&local).is_ok();
        let runs_local = format!(" It runs {} first.", local.display());

        let mut changes = Changeset::new(&ctx.root);
        let mut keeps_local = has_local;
        match read_if_present(&hook)? {
            Some(existing) if existing == script.as_bytes() => {
                ctx.say(format!(
                    "{} is already installed and up to date.{}",
                    hook.display(),
                    if has_local { runs_local.as_str() } else { "" }
                ));
                return Ok(());
            }
            Some(existing) if String::from_utf8_lossy(&existing).contains(MARKER) => {}
            Some(existing) => {
                // Someone else's hook: it must keep running, so it becomes
                // pre-commit.local, which ours runs first; never lose one.
                if has_local {
                    return Err(bad!(
                        "{} was not written by the xtask, and {} already holds an earlier hook; replacing it would lose one of them. Merge the two by hand into {} (it runs before the check), remove {}, then rerun `cargo xtask install-hooks`. Nothing was written.",
                        hook.display(),
                        local.display(),
                        local.display(),
                        hook.display()
                    ));
                }
                if !self.force {
                    return Err(bad!(
                        "{} exists and was not written by the xtask; keep it, or rerun with --force to replace it: it is kept as {} and run before the check, and a failure there still refuses the commit. Nothing was written.",
                        hook.display(),
                        local.display()
                    ));
                }
                let link = std::fs::symlink_metadata(&hook)
                    .with_context(|| format!("reading {}", hook.display()))?;
                if link.file_type().is_symlink() {
                    // Writing the hook would overwrite the link's target.
                    let target = std::fs::read_link(&hook)
                        .with_context(|| format!("reading the link {}", hook.display()))?;
                    return Err(bad!(
                        "{} is a link to {}; replacing it would overwrite that file. Move the link: mv {} {}, then rerun `cargo xtask install-hooks` (the hook runs it before the check). Nothing was written.",
                        hook.display(),
                        target.display(),
                        quote(&hook.to_string_lossy()),
                        quote(&local.to_string_lossy())
                    ));
                }
                let Ok(text) = String::from_utf8(existing) else {
                    return Err(bad!(
                        "{} is not a text file and was not written by the xtask; move it by hand: mv {} {}, then rerun `cargo xtask install-hooks` (the hook runs it before the check). Nothing was written.",
                        hook.display(),
                        quote(&hook.to_string_lossy()),
                        quote(&local.to_string_lossy())
                    ));
                };
                // Its mode too: a hook git ignored (not executable) stays ignored.
                changes.write(&local, text, link.permissions().mode() & 0o7777)?;
                keeps_local = true;
            }
            None => {}
        }
        changes.write(&hook, script, 0o755)?;
        ctx.say(changes.preview(&ctx.paint));
        changes.apply()?;
        ctx.say(format!(
            "Installed {}: every `git commit` now runs `cargo xtask check --staged`.{}",
            hook.display(),
            if keeps_local { runs_local.as_str() } else { "" }
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_is_a_key_of_the_alias_table() {
        assert!(defines_xtask_alias(
            "[alias]\nxtask = \"run --package xtask --\"\n"
        ));
        assert!(defines_xtask_alias(
            "[build]\njobs = 2\n\n[ alias ]  # shortcuts\n  \"xtask\"= 'run -p xtask --'\n"
        ));
        assert!(defines_xtask_alias("alias.xtask = \"run -p xtask --\"\n"));
        // "xtask" elsewhere is not the alias.
        assert!(!defines_xtask_alias(
            "# cargo xtask is nice\n[alias]\nx = \"run -p xtask --\"\n"
        ));
        assert!(!defines_xtask_alias("[env]\nxtask = \"1\"\n"));
        assert!(!defines_xtask_alias(
            "[alias]\nxt = \"run\"\n[target.xtask]\nxtask = 1\n"
        ));
        assert!(!defines_xtask_alias("[alias]\nxtask-dist = \"run\"\n"));
        assert!(!defines_xtask_alias(""));
    }

    #[test]
    fn the_hook_quotes_every_path_as_one_word() {
        // `runner::quote` itself is tested with the runner.
        let script = hook_script(
            "it's here",
            &Invocation {
                cargo: "true".into(),
                build: "true".into(),
                workspace: quote("/w's"),
                krate: quote("/w's/x"),
                args: "check".into(),
            },
        );
        assert!(script.contains(r"cd 'it'\''s here' || exit 1"), "{script}");
        assert!(
            script.contains(r"xtask_bin='/w'\''s'/target/debug/xtask"),
            "{script}"
        );
    }
}
