//! `check` and the pre-commit hook on the tree the humans shipped.

use crate::common::{git_commit, head_of, Run, Tree};

const K8S_WORKER: &str = "chef/policyfiles/k8s_worker_crm.rb";
const MAKEFILE: &str = "openstack-tenant/packages/mobiledgex/Makefile";
const REGENERATE_K8S_WORKER: &str = "(cd chef && rm -f policyfiles/k8s_worker_crm.lock.json && chef install policyfiles/k8s_worker_crm.rb)";

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rule ids of a JSON report's findings, with their severity and whether
/// they stood before the change.
fn judged(run: &Run) -> Vec<(String, String, bool)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["pre_existing"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_last_commit_passes_check() {
    let Some(tree) = Tree::real() else { return };
    let run = tree.xtask(&["check"]);
    run.assert_code(0);
    assert!(!run.all().contains("error"), "{}", run.all());
    // The transitive docker of k8s_worker_crm is what `chef install` writes: not even a warning.
    assert!(!run.stdout.contains("[policy-lock]"), "{}", run.stdout);
    let run = tree.xtask(&["check", "--json"]);
    run.assert_code(0);
    assert_eq!(run.json()["errors"], 0);
}

#[test]
fn a_run_list_changed_without_its_lock_is_stale() {
    let Some(tree) = Tree::real() else { return };
    tree.edit(K8S_WORKER, ", 'recipe[setup_teleport]'", "");
    let run = tree.xtask(&["check"]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("error[policy-lock]: chef/policyfiles/k8s_worker_crm.lock.json is stale: the run_list is [recipe[chef_client_updater::default], recipe[runstatus_handler::default], recipe[setup_infra::default], recipe[preflight_crm_checks::default], recipe[setup_services::k8s-worker], recipe[chef_client_updater::default], recipe[set_security_policies::default]] but the lock has"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(REGENERATE_K8S_WORKER), "{}", run.stdout);
    // setup_teleport is still named by its `cookbook` line: locked for a reason.
    assert!(
        !run.stdout.contains("warning[policy-lock]"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_hook_passes_an_ordinary_commit_and_refuses_drift() {
    let Some(tree) = Tree::real() else { return };
    tree.xtask_env(&["install-hooks"], &[("GIT_CONFIG_GLOBAL", "/dev/null")])
        .assert_code(0);
    let base = head_of(&tree);

    // An ordinary commit: a recipe comment and a cookbook bump, as the humans commit them.
    let recipe = "chef/cookbooks/setup_infra/recipes/default.rb";
    tree.write(
        recipe,
        &format!("{}# keep the hosts file in order\n", tree.read(recipe)),
    );
    tree.edit(
        "chef/cookbooks/setup_infra/metadata.rb",
        "version '1.0.0'",
        "version '1.0.1'",
    );
    let out = git_commit(tree.root(), &["-am", "setup_infra: a note"], &[]);
    assert!(out.status.success(), "{}", said(&out));
    let ordinary = head_of(&tree);
    assert_ne!(ordinary, base);

    // Drift: the Makefile moves alone.
    tree.edit(MAKEFILE, "VERSION = 4.10.0", "VERSION = 4.10.1");
    let out = git_commit(tree.root(), &["-am", "drift"], &[]);
    let text = said(&out);
    assert!(!out.status.success(), "the drift was committed\n{text}");
    assert!(text.contains("error[package-version]"), "{text}");
    assert!(
        text.contains("help: cargo xtask bump-base-image 4.10.1"),
        "{text}"
    );
    assert_eq!(head_of(&tree), ordinary);
}

#[test]
fn a_commit_is_not_refused_for_drift_it_did_not_make() {
    let Some(tree) = Tree::real() else { return };
    // Someone committed a stale lock past the hook.
    tree.edit(K8S_WORKER, ", 'recipe[setup_teleport]'", "");
    tree.git(&["commit", "-qam", "drop teleport from the workers"]);

    // The next commit touches something else: the old drift is a warning.
    let props = "vmlayer/props.go";
    tree.write(props, &format!("{}// base images\n", tree.read(props)));
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged"]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("warning[policy-lock]: chef/policyfiles/k8s_worker_crm.lock.json is stale"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("= note: already there before this change"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(REGENERATE_K8S_WORKER), "{}", run.stdout);
    let run = tree.xtask(&["check", "--staged", "--json"]);
    run.assert_code(0);
    assert!(judged(&run).contains(&("policy-lock".into(), "warning".into(), true)));
    assert_eq!(run.json()["errors"], 0);

    // A change to the policyfile itself touches the finding: it refuses again.
    tree.edit(
        K8S_WORKER,
        "'recipe[set_security_policies]'",
        "'set_security_policies'",
    );
    tree.git(&["add", "-A"]);
    let run = tree.xtask(&["check", "--staged", "--json"]);
    run.assert_code(1);
    assert!(judged(&run).contains(&("policy-lock".into(), "error".into(), false)));

    // --since judges the same way; plain check stays the strict gate.
    tree.git(&["reset", "-q", "--hard"]);
    tree.xtask(&["check", "--since", "HEAD"]).assert_code(0);
    tree.xtask(&["check", "--since", "HEAD~1"]).assert_code(1);
    tree.xtask(&["check"]).assert_code(1);
}
