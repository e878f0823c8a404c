//! `cargo xtask chef-push --group <group>`: `chef push <group>
//! policyfiles/base.lock.json`, the one step that changes what running VMs do.
//! It comes with the runbook's warning, a check that every lock is current,
//! and the group name typed back (or --yes).

use std::path::Path;

use anyhow::Result;

use crate::context::Context;
use crate::error::AlreadyReported;
use crate::plan::Plan;
use crate::rules;
use crate::runner::{Runner, Step};
use crate::sites::{self, paths};
use crate::tree::WorkTree;
use crate::{bad, flags};

const WARNING: &str =
    "!!! Push the updated policy ONLY AFTER all the supporting code has been rolled out !!!
  * Make sure any relevant platform updates are complete
  * Pushing changes what every VM of the policy group runs at its next chef-client run";

impl flags::ChefPush {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let group = self.group.name();
        eprintln!("{}", ctx.paint.warning(WARNING));
        if !self.yes && !ctx.stdin_is_terminal {
            return Err(bad!(
                "standard input is not a terminal, so nobody can type the group name to confirm; pass --yes to push to {group}. Nothing was run."
            ));
        }
        let runner = Runner::for_root(&ctx.root)?;
        runner.require_tools(&["chef"])?;
        refuse_unless_consistent(ctx)?;

        let mut plan = Plan::default();
        plan.push(
            push_step(group),
            true,
            Some(format!(
                "every VM of policy group {group} runs this policy from its next chef-client run"
            )),
        );
        ctx.say(plan.render(&ctx.paint).trim_end());
        if !self.yes {
            let typed = ctx.ask(&format!("Type the policy group name ({group}) to push: "))?;
            if typed.trim() != group {
                ctx.say(format!(
                    "`{}` is not `{group}`: nothing was pushed.",
                    typed.trim()
                ));
                return Ok(());
            }
        }
        let outcome = runner.step(1, 1, &plan.steps[0].step)?;
        if !outcome.ok {
            return Err(AlreadyReported.into());
        }
        ctx.say(format!(
            "{} {} pushed to policy group {group}",
            ctx.paint.good("done:"),
            paths::BASE_LOCK
        ));
        Ok(())
    }
}

fn push_step(group: &str) -> Step {
    let lock = paths::BASE_LOCK
        .strip_prefix(&format!("{}/", paths::CHEF_DIR))
        .unwrap_or(paths::BASE_LOCK);
    Step::new(format!("push the base policy to {group}"), "chef")
        .args(["push", group, lock])
        .dir(Path::new(paths::CHEF_DIR))
}

/// Nothing is pushed while `check` reports an error; a stale or missing lock
/// is one (policy-lock), and would push something other than the policyfile.
fn refuse_unless_consistent(ctx: &Context) -> Result<()> {
    let inventory = sites::load(&WorkTree {
        root: ctx.root.clone(),
    })?;
    let findings = rules::evaluate(&inventory, None);
    let (errors, _) = rules::blocking(&findings, &[], &ctx.paint);
    if errors.is_empty() {
        return Ok(());
    }
    let stale = errors.iter().any(|f| f.rule == rules::POLICY_LOCK);
    eprintln!(
        "{}: check reports {} error(s){}; nothing was pushed",
        ctx.paint.error("error"),
        errors.len(),
        if stale {
            " (a lock that does not match its policyfile would push something else than the policy says: cargo xtask chef-policy regenerates it)"
        } else {
            ""
        }
    );
    Err(AlreadyReported.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shown_command;

    #[test]
    fn pushes_the_base_lock_from_chef() {
        assert_eq!(
            shown_command(&push_step("stage")),
            "cd chef && chef push stage policyfiles/base.lock.json"
        );
    }
}
