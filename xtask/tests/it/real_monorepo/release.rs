//! `release` planning on the tree the humans shipped: one image step, since
//! its build.sh builds one common image for every platform.

use crate::common::{Fakes, Tree};

#[test]
fn a_dry_run_plans_one_common_image_for_all_platforms() {
    let Some(tree) = Tree::real() else { return };
    let fakes = Fakes::new();
    let before = tree.snapshot();
    let run = fakes.run(
        &tree,
        &[
            "release",
            "4.10.1",
            "--apt-snapshot",
            "2022-05-01",
            "--all-platforms",
            "--dry-run",
        ],
    );
    run.assert_code(0);
    let steps: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .filter(|line| line.contains("[pending] build image"))
        .collect();
    assert_eq!(
        steps,
        ["  6. [pending] build image mobiledgex-v4.10.1, one common image for openstack, vcd and vsphere  [irreversible]"],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("$ cargo xtask build-image --all-platforms --user tester --tag 4.10.1"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("-vcd"), "{}", run.stdout);
    assert!(run
        .stdout
        .contains("dry run: nothing was written and nothing was run."));
    assert_eq!(tree.snapshot(), before);
    assert_eq!(fakes.calls(), Vec::<String>::new());
}
