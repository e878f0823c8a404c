//! The changeset's unit tests: planning, preview, and the all-or-nothing
//! write, each on a scratch folder compared byte for byte.

use std::fs;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::commit::place;
use super::Changeset;
use crate::sites::Site;
use crate::style::Paint;
use crate::tree::Tree;

/// A fresh folder under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-changeset-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn file(&self, rel: &str, content: &str, mode: u32) -> &Scratch {
        let path = self.0.join(rel);
        if let Some(folder) = path.parent() {
            fs::create_dir_all(folder).expect("create folder");
        }
        fs::write(&path, content).expect("write file");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        self
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).expect("read file")
    }

    fn mode(&self, rel: &str) -> u32 {
        fs::metadata(self.0.join(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    /// Every file below the folder, with its content: to prove nothing else moved.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&self.0).sort_by_file_name() {
            let entry = entry.expect("walk");
            if entry.file_type().is_file() {
                let meta = entry.metadata().expect("stat");
                files.push((
                    entry.path().to_path_buf(),
                    fs::read(entry.path()).expect("read"),
                    meta.permissions().mode() & 0o7777,
                ));
            }
        }
        files
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn span_of(text: &str, needle: &str) -> Range<usize> {
    let start = text.find(needle).expect("needle in text");
    start..start + needle.len()
}

const MAKEFILE: &str =
    "PACKAGE = mobiledgex\r\nVERSION = 3.0.1\r\nDISTRIBUTION = cirrus\r\nCOMPONENT = main";

#[test]
fn several_replacements_in_one_file_keep_every_other_byte() {
    let dir = Scratch::new();
    dir.file("Makefile", MAKEFILE, 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes
        .replace("Makefile", span_of(MAKEFILE, "cirrus"), "cirrus", "bionic")
        .unwrap();
    changes
        .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.10.0")
        .unwrap();
    // The same edit twice is one edit.
    changes
        .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.10.0")
        .unwrap();
    let expected =
        "PACKAGE = mobiledgex\r\nVERSION = 3.10.0\r\nDISTRIBUTION = bionic\r\nCOMPONENT = main";
    assert_eq!(changes.updated("Makefile").as_deref(), Some(expected));
    assert_eq!(changes.paths(), vec!["Makefile".to_string()]);
    assert_eq!(changes.apply().unwrap(), vec!["Makefile".to_string()]);
    // CRLF and the missing final newline survive.
    assert_eq!(dir.read("Makefile"), expected);
}

#[test]
fn overlapping_different_edits_are_refused() {
    let dir = Scratch::new();
    dir.file("Makefile", MAKEFILE, 0o644);
    let mut changes = Changeset::new(&dir.0);
    let span = span_of(MAKEFILE, "3.0.1");
    changes
        .replace("Makefile", span.clone(), "3.0.1", "3.0.2")
        .unwrap();
    let err = changes
        .replace("Makefile", span.start + 2..span.end, "0.1", "9.9")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Makefile:2: conflicting edits of the same text: one writes `3.0.2`, another `9.9`; nothing was written"
    );
    assert_eq!(crate::error::exit_status(&err), 2);
    let err = changes
        .replace("Makefile", span, "3.0.1", "3.0.3")
        .unwrap_err();
    assert!(err.to_string().contains("conflicting edits"), "{err}");
}

#[test]
fn expected_text_mismatch_is_refused_and_nothing_is_written() {
    let dir = Scratch::new();
    dir.file("Makefile", MAKEFILE, 0o644);
    let before = dir.snapshot();
    let mut changes = Changeset::new(&dir.0);
    let err = changes
        .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.0", "3.0.2")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Makefile:2: expected `3.0.0` but the file has `3.0.1`; it changed since it was read, run the command again"
    );
    let err = changes
        .replace("Makefile", 1000..1005, "3.0.1", "3.0.2")
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot edit bytes 1000..1005"),
        "{err}"
    );
    let err = changes.replace("missing.txt", 0..0, "", "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot edit missing.txt: there is no such file"
    );
    assert!(changes.is_empty());
    assert_eq!(changes.apply().unwrap(), Vec::<String>::new());
    assert_eq!(dir.snapshot(), before);
}

#[test]
fn not_utf8_is_refused_naming_the_file() {
    let dir = Scratch::new();
    fs::write(dir.0.join("bin"), b"ok\xff\n").unwrap();
    let mut changes = Changeset::new(&dir.0);
    let err = changes.replace("bin", 0..2, "ok", "no").unwrap_err();
    assert_eq!(
        err.to_string(),
        "bin: not UTF-8 text (invalid byte at offset 2); save it as UTF-8"
    );
    assert!(changes.is_empty());
}

#[test]
fn identical_replacement_is_no_change() {
    let dir = Scratch::new();
    dir.file("Makefile", MAKEFILE, 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes
        .replace("Makefile", span_of(MAKEFILE, "3.0.1"), "3.0.1", "3.0.1")
        .unwrap();
    assert!(changes.is_empty());
    assert!(changes.paths().is_empty());
    assert_eq!(changes.preview(&Paint::plain()), "");
}

#[test]
fn modes_are_kept_and_new_files_get_the_requested_one() {
    let dir = Scratch::new();
    dir.file("tool.sh", "#!/bin/sh\necho 3.0.1\n", 0o755);
    dir.file("private", "v=3.0.1\n", 0o600);
    let mut changes = Changeset::new(&dir.0);
    changes
        .replace("tool.sh", 15..20, "3.0.1", "3.0.2")
        .unwrap();
    changes.replace("private", 2..7, "3.0.1", "3.0.2").unwrap();
    changes
        .write(Path::new("hooks/pre-commit"), "#!/bin/sh\n".into(), 0o755)
        .unwrap();
    changes
        .write(&dir.0.join("tool.sh.generated"), "x\n".into(), 0o640)
        .unwrap();
    fs::create_dir(dir.0.join("hooks")).unwrap();
    let written = changes.apply().unwrap();
    assert_eq!(
        written,
        [
            "hooks/pre-commit",
            "private",
            "tool.sh",
            "tool.sh.generated"
        ]
    );
    assert_eq!(dir.read("tool.sh"), "#!/bin/sh\necho 3.0.2\n");
    assert_eq!(dir.mode("tool.sh"), 0o755);
    assert_eq!(dir.mode("private"), 0o600);
    assert_eq!(dir.mode("hooks/pre-commit"), 0o755);
    assert_eq!(dir.mode("tool.sh.generated"), 0o640);
}

#[test]
fn a_missing_folder_is_refused_before_anything_is_written() {
    let dir = Scratch::new();
    dir.file("a.txt", "a 1\n", 0o644);
    let before = dir.snapshot();
    let mut changes = Changeset::new(&dir.0);
    changes.replace("a.txt", 2..3, "1", "2").unwrap();
    changes
        .write(Path::new("no/such/folder/file"), "x\n".into(), 0o644)
        .unwrap();
    let err = changes.apply().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot write no/such/folder/file: the folder "),
        "{err}"
    );
    assert_eq!(crate::error::exit_status(&err), 2);
    assert_eq!(dir.snapshot(), before);
}

#[test]
fn a_file_changed_on_disk_after_reading_is_refused() {
    let dir = Scratch::new();
    dir.file("a.txt", "a 1\n", 0o644);
    dir.file("b.txt", "b 1\n", 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes.replace("a.txt", 2..3, "1", "2").unwrap();
    changes.replace("b.txt", 2..3, "1", "2").unwrap();
    dir.file("b.txt", "b 1 edited meanwhile\n", 0o644);
    let before = dir.snapshot();
    let err = changes.apply().unwrap_err();
    assert_eq!(
        err.to_string(),
        "b.txt changed on disk since it was read; run the command again (nothing was written)"
    );
    assert_eq!(dir.snapshot(), before);
}

#[test]
fn a_new_file_that_appeared_meanwhile_is_refused() {
    let dir = Scratch::new();
    let mut changes = Changeset::new(&dir.0);
    changes
        .write(Path::new("new.txt"), "mine\n".into(), 0o644)
        .unwrap();
    dir.file("new.txt", "theirs\n", 0o644);
    let err = changes.apply().unwrap_err();
    assert!(err.to_string().contains("new.txt changed on disk"), "{err}");
    assert_eq!(dir.read("new.txt"), "theirs\n");
}

#[test]
fn view_sees_the_planned_content_and_the_disk_elsewhere() {
    let dir = Scratch::new();
    dir.file("d/a.txt", "a 1\n", 0o644);
    dir.file("d/b.txt", "b\n", 0o644);
    dir.file("d/stale.lock", "old\n", 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes.replace("d/a.txt", 2..3, "1", "2").unwrap();
    changes
        .write(Path::new("d/c.txt"), "c\n".into(), 0o644)
        .unwrap();
    changes.remove("d/stale.lock").unwrap();
    let view = changes.view();
    assert_eq!(
        view.read("d/a.txt").unwrap().as_deref(),
        Some(&b"a 2\n"[..])
    );
    assert_eq!(view.read("d/b.txt").unwrap().as_deref(), Some(&b"b\n"[..]));
    assert_eq!(view.read("d/c.txt").unwrap().as_deref(), Some(&b"c\n"[..]));
    assert_eq!(view.read("d/stale.lock").unwrap(), None);
    assert_eq!(view.read("d/none").unwrap(), None);
    assert_eq!(view.list("d").unwrap(), ["a.txt", "b.txt", "c.txt"]);
    assert_eq!(view.list("").unwrap(), ["d"]);
    // The disk itself is untouched until apply.
    assert_eq!(dir.read("d/a.txt"), "a 1\n");
    assert!(!dir.0.join("d/c.txt").exists());
}

#[test]
fn remove_and_write_apply_together() {
    let dir = Scratch::new();
    dir.file("policyfiles/base.lock.json", "{}\n", 0o644);
    dir.file("policyfiles/base.rb", "name 'base'\n", 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes.remove("policyfiles/base.lock.json").unwrap();
    changes
        .write(
            Path::new("policyfiles/base.rb"),
            "name 'base'\r\n".into(),
            0o755,
        )
        .unwrap();
    // Removing a file that is not there changes nothing.
    changes.remove("policyfiles/other.lock.json").unwrap();
    assert_eq!(
        changes.paths(),
        ["policyfiles/base.lock.json", "policyfiles/base.rb"]
    );
    assert_eq!(changes.updated("policyfiles/base.lock.json"), None);
    assert_eq!(
        changes.preview(&Paint::plain()),
        "\
removed policyfiles/base.lock.json
--- policyfiles/base.lock.json\toriginal
+++ policyfiles/base.lock.json\tupdated
@@ -1 +0,0 @@
-{}
--- policyfiles/base.rb\toriginal
+++ policyfiles/base.rb\tupdated
@@ -1 +1 @@
-name 'base'
+name 'base'␍
\\ line ending changed: LF → CRLF
2 files changed, 1 insertion(+), 2 deletions(-)
"
    );
    changes.apply().unwrap();
    assert!(!dir.0.join("policyfiles/base.lock.json").exists());
    assert_eq!(dir.read("policyfiles/base.rb"), "name 'base'\r\n");
    // An existing file keeps its mode even when rewritten whole.
    assert_eq!(dir.mode("policyfiles/base.rb"), 0o644);
}

#[test]
fn set_site_edits_the_span_and_checks_the_site_still_holds() {
    let dir = Scratch::new();
    let text = "#!/bin/bash\nAPT_REPO=\"https://apt.mobiledgex.net/cirrus/2021-02-01\"\n";
    dir.file("build.sh", text, 0o755);
    let site = Site {
        id: "packer.apt_repo",
        key: String::new(),
        path: "build.sh".into(),
        line: 2,
        value: "https://apt.mobiledgex.net/cirrus/2021-02-01".into(),
        span: span_of(text, "2021-02-01"),
    };
    let mut changes = Changeset::new(&dir.0);
    changes.set_site(&site, "2022-03-04").unwrap();
    assert_eq!(
        changes.updated("build.sh").as_deref(),
        Some("#!/bin/bash\nAPT_REPO=\"https://apt.mobiledgex.net/cirrus/2022-03-04\"\n")
    );
    let moved = Site {
        line: 3,
        ..site.clone()
    };
    let err = changes.set_site(&moved, "2022-03-05").unwrap_err();
    assert_eq!(
        err.to_string(),
        "build.sh:3: expected packer.apt_repo `https://apt.mobiledgex.net/cirrus/2021-02-01` there; the file changed since it was read, run the command again"
    );
    changes.apply().unwrap();
    assert_eq!(dir.mode("build.sh"), 0o755);
}

#[test]
fn symlinks_stay_links_and_their_target_is_edited() {
    let dir = Scratch::new();
    dir.file("real.txt", "v 1\n", 0o644);
    std::os::unix::fs::symlink("real.txt", dir.0.join("link.txt")).unwrap();
    let mut changes = Changeset::new(&dir.0);
    changes.replace("link.txt", 2..3, "1", "2").unwrap();
    changes.apply().unwrap();
    assert!(fs::symlink_metadata(dir.0.join("link.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dir.read("real.txt"), "v 2\n");
}

#[test]
fn a_failed_rename_restores_every_file_already_written() {
    let dir = Scratch::new();
    dir.file("a.txt", "a 1\r\n", 0o755);
    dir.file("b.lock", "lock\n", 0o600);
    dir.file("z/target", "z 1", 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes.replace("a.txt", 2..3, "1", "2").unwrap();
    changes.remove("b.lock").unwrap();
    changes
        .write(Path::new("new.txt"), "new\n".into(), 0o644)
        .unwrap();
    changes.replace("z/target", 2..3, "1", "2").unwrap();
    let before = dir.snapshot();
    let mut placed = Vec::new();
    let err = changes
        .apply_with(|temp, target| {
            if target.ends_with("z/target") {
                return Err(std::io::Error::other("disk on fire"));
            }
            placed.push(target.to_path_buf());
            place(temp, target)
        })
        .unwrap_err();
    assert_eq!(
        placed.len(),
        3,
        "the first three were in place before the failure"
    );
    assert_eq!(
        err.to_string(),
        "cannot write z/target: disk on fire; every file was restored to what it was before, nothing was changed"
    );
    assert_eq!(crate::error::exit_status(&err), 1);
    // Same bytes, same modes, no temp file left.
    assert_eq!(dir.snapshot(), before);
}

#[test]
fn long_file_names_still_get_a_temp_file() {
    let dir = Scratch::new();
    let name = "n".repeat(250);
    dir.file(&name, "v 1\n", 0o644);
    let mut changes = Changeset::new(&dir.0);
    changes.replace(&name, 2..3, "1", "2").unwrap();
    changes.apply().unwrap();
    assert_eq!(dir.read(&name), "v 2\n");
}

#[test]
fn restore_puts_back_bytes_and_mode_and_re_creates_removed_files() {
    let dir = Scratch::new();
    dir.file("a.go", "", 0o755)
        .file("same.txt", "kept\n", 0o644)
        .file("mode.sh", "#!/bin/sh\n", 0o644);
    let binary = vec![0xff, 0x00, b'\r', b'\n'];
    let mut changes = Changeset::new(&dir.0);
    changes
        .restore("a.go", b"package version\n".to_vec(), 0o644)
        .unwrap();
    changes.restore("gone.bin", binary.clone(), 0o600).unwrap();
    changes
        .restore("same.txt", b"kept\n".to_vec(), 0o644)
        .unwrap();
    changes
        .restore("mode.sh", b"#!/bin/sh\n".to_vec(), 0o755)
        .unwrap();
    assert_eq!(changes.paths(), ["a.go", "gone.bin", "mode.sh"]);
    let written = changes.apply().unwrap();
    assert_eq!(written, ["a.go", "gone.bin", "mode.sh"]);
    assert_eq!(dir.read("a.go"), "package version\n");
    assert_eq!(dir.mode("a.go"), 0o644);
    assert_eq!(fs::read(dir.0.join("gone.bin")).unwrap(), binary);
    assert_eq!(dir.mode("gone.bin"), 0o600);
    assert_eq!(dir.mode("mode.sh"), 0o755);
    assert_eq!(dir.read("same.txt"), "kept\n");
}
