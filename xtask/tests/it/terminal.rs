//! The binary as a person runs it: colour decided on a real pseudo-terminal
//! (util-linux `script`), per stream and with NO_COLOR winning; and, without
//! `-C`, the checkout found from where it runs rather than where it was built.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{which, workspace, Layout, Run, TempDir, Tree};

const PROPS_GO: &str = "vmlayer/props.go";
const ESC: &str = "\u{1b}[";

/// `text` as one sh word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A layout-A tree whose props.go disagrees with the Makefile: `check` finds an error.
fn drifted_tree() -> Tree {
    let tree = Tree::new(Layout::A);
    tree.edit(PROPS_GO, "\"3.0.1\"", "\"3.0.2\"");
    tree
}

/// Runs `sh_command` on a pseudo-terminal (stdin, stdout and stderr all on it
/// unless the command redirects them); returns everything the terminal showed
/// and the command's exit status. NO_COLOR is unset unless the command sets it.
fn on_a_terminal(sh_command: &str) -> (String, i32) {
    which("script");
    let out = Command::new("script")
        .args(["-qec", sh_command, "/dev/null"])
        .stdin(Stdio::null())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// `xtask -C <tree> <args>` as a shell command line, every word quoted.
fn xtask_line(tree: &Tree, args: &str) -> String {
    format!(
        "{} -C {} {args}",
        sh_quote(env!("CARGO_BIN_EXE_xtask")),
        sh_quote(&tree.root().to_string_lossy())
    )
}

#[test]
fn check_on_a_terminal_is_coloured() {
    let tree = drifted_tree();
    for line in [
        xtask_line(&tree, "check"),
        xtask_line(&tree, "--color auto check"),
        xtask_line(&tree, "--color always check"),
        // An empty NO_COLOR is no request (no-color.org).
        format!("NO_COLOR= {}", xtask_line(&tree, "check")),
    ] {
        let (shown, code) = on_a_terminal(&line);
        assert_eq!(code, 1, "{line}\n{shown}");
        assert!(shown.contains("package-version"), "{line}\n{shown}");
        assert!(
            shown.contains(ESC),
            "no colour on a terminal: {line}\n{shown}"
        );
    }
}

#[test]
fn no_color_and_never_win_on_a_terminal() {
    let tree = drifted_tree();
    for line in [
        format!("NO_COLOR=1 {}", xtask_line(&tree, "check")),
        xtask_line(&tree, "--color never check"),
        // NO_COLOR wins over an explicit --color always.
        format!("NO_COLOR=1 {}", xtask_line(&tree, "--color always check")),
    ] {
        let (shown, code) = on_a_terminal(&line);
        assert_eq!(code, 1, "{line}\n{shown}");
        assert!(shown.contains("error[package-version]"), "{line}\n{shown}");
        assert!(!shown.contains('\u{1b}'), "colour: {line}\n{shown:?}");
    }
}

#[test]
fn a_redirected_stream_turns_colour_off_for_both() {
    let tree = drifted_tree();
    let log = tree.path("stream.log");
    let quoted_log = sh_quote(&log.to_string_lossy());
    // -v: the root it chose goes to stderr, so the redirected stream has text.
    for (line, stream) in [
        (
            format!("{} 2>{quoted_log}", xtask_line(&tree, "-v check")),
            "stderr",
        ),
        (
            format!("{} >{quoted_log}", xtask_line(&tree, "-v check")),
            "stdout",
        ),
    ] {
        let (shown, code) = on_a_terminal(&line);
        assert_eq!(code, 1, "{line}\n{shown}");
        let logged = fs::read_to_string(&log).unwrap();
        let report = if stream == "stderr" { &shown } else { &logged };
        let details = if stream == "stderr" { &logged } else { &shown };
        assert!(
            report.contains("error[package-version]"),
            "{line}\n{report}"
        );
        assert!(details.contains("monorepo root:"), "{line}\n{details}");
        assert!(
            !logged.contains('\u{1b}'),
            "escapes in the file: {logged:?}"
        );
        assert!(
            !shown.contains('\u{1b}'),
            "escapes on the terminal: {shown:?}"
        );
    }

    // An error (main's own report) on a terminal is painted; sent to a file, not.
    let missing = sh_quote(&tree.path("no-such-folder").to_string_lossy());
    let bin = sh_quote(env!("CARGO_BIN_EXE_xtask"));
    let (shown, code) = on_a_terminal(&format!("{bin} -C {missing} check"));
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains(ESC), "{shown:?}");
    let (shown, code) = on_a_terminal(&format!("{bin} -C {missing} check 2>{quoted_log}"));
    assert_eq!(code, 2, "{shown}");
    let logged = fs::read_to_string(&log).unwrap();
    assert!(logged.contains("error: cannot use"), "{logged}");
    assert!(!logged.contains('\u{1b}'), "{logged:?}");
}

// ---------------------------------------------------------------------------
// The root without -C

/// The built binary, run in `dir` without -C and without cargo's
/// CARGO_MANIFEST_DIR (unless `manifest_dir` is given), colour off.
fn run_in(dir: &Path, args: &[&str], manifest_dir: Option<&Path>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["--color", "never"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("NO_COLOR");
    if let Some(manifest_dir) = manifest_dir {
        cmd.env("CARGO_MANIFEST_DIR", manifest_dir);
    }
    Run::from(cmd.output().unwrap())
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap()
}

#[test]
fn a_binary_run_directly_judges_the_checkout_it_is_run_in() {
    // The copy is broken; the checkout the binary was built in is not. Finding
    // the error proves the copy was judged.
    let copy = drifted_tree();
    for dir in [
        copy.root().to_path_buf(),
        copy.path("chef/cookbooks"),
        copy.path("openstack-tenant/packages/mobiledgex"),
    ] {
        let run = run_in(&dir, &["-v", "check"], None);
        run.assert_code(1);
        assert!(
            run.stdout.contains("vmlayer/props.go has 3.0.2"),
            "{}: {}",
            dir.display(),
            run.stdout
        );
        let chosen = format!(
            "monorepo root: {} (the checkout that holds the current folder {})",
            canonical(copy.root()).display(),
            canonical(&dir).display()
        );
        assert!(run.stderr.contains(&chosen), "{}", run.stderr);
    }
}

#[test]
fn a_stray_cargo_manifest_dir_does_not_override_the_current_folder_and_c_wins() {
    let copy = drifted_tree();
    let pristine = Tree::new(Layout::A);
    let elsewhere = TempDir::new("no-checkout");

    // A CARGO_MANIFEST_DIR naming another checkout's crate (left in the
    // environment by some cargo run) is not a root: the current folder is.
    let run = run_in(copy.root(), &["-v", "check"], Some(&pristine.path("xtask")));
    run.assert_code(1);
    assert!(
        run.stdout.contains("vmlayer/props.go has 3.0.2"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("the checkout that holds the current folder"),
        "{}",
        run.stderr
    );

    // Nor one outside any checkout.
    let run = run_in(
        copy.root(),
        &["check"],
        Some(&elsewhere.path().join("some-crate")),
    );
    run.assert_code(1);

    // -C is taken as given.
    let run = run_in(
        copy.root(),
        &["-v", "-C", &pristine.root().to_string_lossy(), "check"],
        Some(&copy.path("xtask")),
    );
    run.assert_code(0);
    assert!(run.stderr.contains("(given with -C)"), "{}", run.stderr);
}

#[test]
fn outside_any_checkout_it_refuses_and_never_falls_back_to_the_one_it_was_built_in() {
    let elsewhere = TempDir::new("no-checkout");
    let built_in = workspace().join("xtask");
    for manifest_dir in [None, Some(built_in.as_path())] {
        for args in [
            &["versions"][..],
            &["bump-base-image", "3.0.2", "--dry-run"],
            &["check"],
        ] {
            let run = run_in(elsewhere.path(), args, manifest_dir);
            run.assert_refused(
                &format!("{args:?} with CARGO_MANIFEST_DIR={manifest_dir:?}"),
                &[
                    &format!(
                        "no edge-cloud-infra checkout holds the current folder {}",
                        canonical(elsewhere.path()).display()
                    ),
                    "pass it with -C <DIR>",
                ],
            );
            assert_eq!(run.stdout, "", "{args:?}: nothing previewed");
        }
    }
}
