//! `check` and `versions` on the tree the humans shipped.

use crate::common::Tree;

#[test]
fn the_last_commit_passes_check() {
    let Some(tree) = Tree::real() else { return };
    let run = tree.xtask(&["check"]);
    run.assert_code(0);
    assert!(!run.all().contains("error"), "{}", run.all());
}
