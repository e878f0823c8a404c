//! The commands `chef-policy` runs against the chef server (`knife`, `chef
//! install`, all from chef/), in order; and, for --offline, the same commands
//! printed for the user to run.

use std::fmt::Write as _;
use std::path::Path;

use super::work::PolicyWork;
use crate::context::Context;
use crate::plan::Plan;
use crate::runner::Step;
use crate::sites::paths;

fn knife_show(cookbook: &str, title: String) -> Step {
    Step::new(title, "knife")
        .args(["cookbook", "show", cookbook])
        .dir(Path::new(paths::CHEF_DIR))
}

fn knife_upload(ctx: &Context, cookbook: &str) -> Step {
    let repo = ctx.root.join(paths::CHEF_DIR);
    Step::new(format!("upload cookbook {cookbook}"), "knife")
        .arg("upload")
        .arg("--chef-repo-path")
        .arg(repo.display().to_string())
        .arg(format!("cookbooks/{cookbook}"))
        .dir(Path::new(paths::CHEF_DIR))
}

fn chef_install(policy: &str) -> Step {
    Step::new(format!("regenerate {}", paths::lock_for(policy)), "chef")
        .args(["install", paths::in_chef(policy)])
        .dir(Path::new(paths::CHEF_DIR))
}

/// The steps in order: look at the server, upload, verify, regenerate locks.
pub(super) fn steps(ctx: &Context, work: &PolicyWork) -> Plan {
    let mut plan = Plan::default();
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        let refuse = if upload.bumped_here {
            format!("stops if the server already has {version}")
        } else {
            format!("the upload is skipped if the server already has {version}")
        };
        plan.push(
            knife_show(name, format!("look up {name} on the chef server")),
            false,
            Some(refuse),
        );
        plan.push(
            knife_upload(ctx, name),
            true,
            Some(format!("uploads {name} {version} to the chef server")),
        );
        plan.push(
            knife_show(name, format!("verify that {name} {version} arrived")),
            false,
            None,
        );
    }
    for policy in &work.locks {
        plan.push(
            chef_install(policy),
            false,
            Some(format!("after removing {}", paths::lock_for(policy))),
        );
    }
    plan
}

/// For --offline: the runbook's commands that are left, in order, from chef/.
pub(super) fn left_to_run(ctx: &Context, work: &PolicyWork) -> String {
    let mut out = format!("Left to run, from {}/:\n", paths::CHEF_DIR);
    if let Some(upload) = &work.upload {
        let (name, version) = (&upload.cookbook, &upload.version);
        let before = if upload.bumped_here {
            format!("must not list {version} yet")
        } else {
            format!("if it lists {version}, skip the upload")
        };
        let _ = writeln!(out, "  knife cookbook show {name}    # {before}");
        let _ = writeln!(out, "  {}", knife_upload(ctx, name).command_line());
        let _ = writeln!(out, "  knife cookbook show {name}    # must list {version}");
    }
    for policy in &work.locks {
        let _ = writeln!(out, "  rm {}", paths::in_chef(&paths::lock_for(policy)));
        let _ = writeln!(out, "  {}", chef_install(policy).command_line());
    }
    out.push_str("or, with the chef server in reach: cargo xtask chef-policy");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shown_command;

    #[test]
    fn chef_paths_are_relative_to_chef() {
        assert_eq!(
            paths::in_chef("chef/policyfiles/base.rb"),
            "policyfiles/base.rb"
        );
        assert_eq!(
            shown_command(&chef_install("chef/policyfiles/base.rb")),
            "cd chef && chef install policyfiles/base.rb"
        );
    }
}
