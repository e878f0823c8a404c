//! The one commit of a base image bump, as the humans wrote it
//! (`EDGECLOUD-6295 Base image 4.10.1`): only the files the bump edited
//! (`git commit -- <paths>`), once they pass `check --staged`, with the
//! pre-commit hook (never `--no-verify`). A refusal leaves the edits in place.

use anyhow::Result;

use crate::check;
use crate::context::Context;
use crate::error::AlreadyReported;
use crate::git;
use crate::rules::{self, Severity};
use crate::runner::{Runner, Step};

/// `<ticket> Base image <VERSION>`, or `Base image <VERSION>` without a ticket.
pub fn message(version: &str, ticket: Option<&str>) -> String {
    match ticket.map(str::trim).filter(|t| !t.is_empty()) {
        Some(ticket) => format!("{ticket} Base image {version}"),
        None => format!("Base image {version}"),
    }
}

/// Stages exactly `paths` (relative to the root), judges the index as the
/// hook will, and commits only them.
pub fn commit_bump(
    ctx: &Context,
    runner: &Runner,
    paths: &[String],
    version: &str,
    ticket: Option<&str>,
) -> Result<()> {
    git::require_repository(runner, &ctx.root, "--commit")?;
    let message = message(version, ticket);
    let by_hand = format!(
        "git commit -m {} -- {}",
        crate::runner::quote(&message),
        paths.join(" ")
    );
    let add = Step::new("stage the bump's edits", "git")
        .args(["add", "--"])
        .args(paths.iter().cloned());
    let added = runner.capture(&add)?;
    if !added.ok {
        anyhow::bail!(
            "`git add` refused the bump's edits: {}; the edits are in place, commit them by hand: {by_hand}",
            added.output.trim()
        );
    }
    // A `cat-file` started before the `git add` still has the old index.
    runner.end_sessions();
    let findings = check::staged(ctx, runner)?;
    if rules::count(&findings, Severity::Error) > 0 {
        ctx.explain(check::report(ctx, &findings, true));
        ctx.error(format!("check --staged refuses the bump's edits, so they were not committed; they are in place (staged). Fix what it says, then: {by_hand}"));
        return Err(AlreadyReported.into());
    }
    let commit = Step::new(format!("commit: {message}"), "git")
        .args(["commit", "-m", &message, "--"])
        .args(paths.iter().cloned());
    let outcome = runner.step(1, 1, &commit)?;
    // HEAD moved: later reads (a release goes on) start a new reader.
    runner.end_sessions();
    if !outcome.ok {
        ctx.error(format!("git commit refused (the pre-commit hook, or git's configuration said why above); the edits are in place (staged). Fix that, then: {by_hand}"));
        return Err(AlreadyReported.into());
    }
    ctx.say(format!("{} {message}", ctx.paint.good("committed:")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_humans_one() {
        assert_eq!(
            message("4.10.1", Some("EDGECLOUD-6295")),
            "EDGECLOUD-6295 Base image 4.10.1"
        );
        assert_eq!(message("4.10.1", None), "Base image 4.10.1");
        assert_eq!(message("4.10.1", Some(" ")), "Base image 4.10.1");
    }
}
