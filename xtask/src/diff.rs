//! The unified-diff preview shown before anything is written: text in, text
//! out, colour only through `Paint`, invisible characters shown when they are
//! what changed.

use similar::{Change, ChangeTag, TextDiff};

use crate::style::Paint;

/// Lines of context around each change, as `diff -u` and git use.
const CONTEXT: usize = 3;

/// The unified diff of one file, empty when nothing changed.
///
/// A changed line pair that differs only in its line ending or trailing
/// whitespace would look identical, so both sides show `\r` as `␍`, trailing
/// spaces as `·` and tabs as `→`, followed by a `\ …` note saying what changed.
/// In a new file or fully deleted content `\r` is shown as `␍` too, because the
/// line ending style is otherwise invisible there.
pub fn unified(path: &str, original: &str, updated: &str, paint: &Paint) -> String {
    let diff = TextDiff::from_lines(original, updated);
    let whole = original.is_empty() || updated.is_empty();
    let mut out = String::new();
    let mut unified = diff.unified_diff();
    unified.context_radius(CONTEXT);
    for (index, hunk) in unified.iter_hunks().enumerate() {
        if index == 0 {
            push_line(&mut out, &paint.bold(&format!("--- {path}\toriginal")));
            push_line(&mut out, &paint.bold(&format!("+++ {path}\tupdated")));
        }
        push_line(&mut out, &paint.note(&hunk.header().to_string()));
        let changes: Vec<Change<&str>> = hunk.iter_changes().collect();
        let mut at = 0;
        while at < changes.len() {
            if changes[at].tag() == ChangeTag::Equal {
                push_change(&mut out, &changes[at], Show::Raw, paint);
                at += 1;
                continue;
            }
            // A run of deletions then insertions: the i-th of each form a pair.
            let start = at;
            while at < changes.len() && changes[at].tag() == ChangeTag::Delete {
                at += 1;
            }
            let middle = at;
            while at < changes.len() && changes[at].tag() == ChangeTag::Insert {
                at += 1;
            }
            push_run(
                &mut out,
                &changes[start..middle],
                &changes[middle..at],
                whole,
                paint,
            );
        }
    }
    out
}

/// Inserted and deleted line counts of one file, for `summary`.
pub fn stat(original: &str, updated: &str) -> (usize, usize) {
    let diff = TextDiff::from_lines(original, updated);
    let mut counts = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => counts.0 += 1,
            ChangeTag::Delete => counts.1 += 1,
            ChangeTag::Equal => {}
        }
    }
    counts
}

/// One line under the previews, as git's diffstat ends:
/// `2 files changed, 3 insertions(+), 1 deletion(-)`.
pub fn summary(stats: &[(usize, usize)]) -> String {
    let inserted: usize = stats.iter().map(|s| s.0).sum();
    let deleted: usize = stats.iter().map(|s| s.1).sum();
    format!(
        "{} changed, {} insertion{}(+), {} deletion{}(-)",
        plural(stats.len(), "file"),
        inserted,
        if inserted == 1 { "" } else { "s" },
        deleted,
        if deleted == 1 { "" } else { "s" },
    )
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// How much of a line's invisible tail to make visible.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    /// As it is (a `\r` stays a `\r`).
    Raw,
    /// `\r` of the line ending as `␍`.
    Ending,
    /// `\r` as `␍`, trailing spaces as `·`, trailing tabs as `→`.
    Everything,
}

fn push_run(
    out: &mut String,
    deleted: &[Change<&str>],
    inserted: &[Change<&str>],
    whole: bool,
    paint: &Paint,
) {
    let pairs = deleted.len().min(inserted.len());
    let invisible: Vec<bool> = (0..pairs)
        .map(|i| only_invisible(deleted[i].value(), inserted[i].value()))
        .collect();
    let show = |i: usize| {
        if invisible.get(i).copied().unwrap_or(false) {
            Show::Everything
        } else if whole {
            Show::Ending
        } else {
            Show::Raw
        }
    };
    for (i, change) in deleted.iter().enumerate() {
        push_change(out, change, show(i), paint);
    }
    for (i, change) in inserted.iter().enumerate() {
        push_change(out, change, show(i), paint);
    }
    // One note per kind of invisible change in this run, in a stable order.
    let mut notes: Vec<String> = Vec::new();
    for i in (0..pairs).filter(|&i| invisible[i]) {
        let (old_body, old_end) = split_ending(deleted[i].value());
        let (new_body, new_end) = split_ending(inserted[i].value());
        if old_end != new_end {
            notes.push(format!(
                "line ending changed: {} → {}",
                ending_name(old_end),
                ending_name(new_end)
            ));
        }
        if old_body != new_body {
            notes.push("trailing whitespace changed (· is a space, → a tab)".to_string());
        }
    }
    let mut seen: Vec<&String> = Vec::new();
    for note in &notes {
        if !seen.contains(&note) {
            seen.push(note);
            push_line(out, &paint.dim(&format!("\\ {note}")));
        }
    }
}

/// Whether two different lines differ only in line ending or trailing blanks.
fn only_invisible(old: &str, new: &str) -> bool {
    let trim = |line: &str| {
        split_ending(line)
            .0
            .trim_end_matches([' ', '\t'])
            .to_string()
    };
    old != new && trim(old) == trim(new)
}

/// A line's text and its terminator: `\r\n`, `\n`, a lone `\r` at the end of
/// the file, or nothing.
fn split_ending(line: &str) -> (&str, &str) {
    for ending in ["\r\n", "\n", "\r"] {
        if let Some(body) = line.strip_suffix(ending) {
            return (body, ending);
        }
    }
    (line, "")
}

fn ending_name(ending: &str) -> &'static str {
    match ending {
        "\r\n" => "CRLF",
        "\n" => "LF",
        "\r" => "CR",
        _ => "none",
    }
}

fn push_change(out: &mut String, change: &Change<&str>, show: Show, paint: &Paint) {
    let value = change.value();
    let (body, ending) = split_ending(value);
    let (text, blanks) = match show {
        Show::Everything => {
            let text = body.trim_end_matches([' ', '\t']);
            (text, &body[text.len()..])
        }
        Show::Raw | Show::Ending => (body, ""),
    };
    let mut visible = String::new();
    for c in blanks.chars() {
        visible.push(if c == '\t' { '→' } else { '·' });
    }
    let shown_ending = match (show, ending) {
        (Show::Raw, _) => ending.trim_end_matches('\n'),
        (_, "\r\n" | "\r") => {
            visible.push('␍');
            ""
        }
        _ => "",
    };
    let line = match change.tag() {
        ChangeTag::Equal => format!(" {text}{shown_ending}"),
        ChangeTag::Delete => paint.removed(&format!("-{text}{shown_ending}")),
        ChangeTag::Insert => paint.added(&format!("+{text}{shown_ending}")),
    };
    let marks = if visible.is_empty() {
        String::new()
    } else {
        paint.note(&visible)
    };
    push_line(out, &format!("{line}{marks}"));
    if !value.ends_with('\n') {
        push_line(out, "\\ No newline at end of file");
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(original: &str, updated: &str) -> String {
        unified("a/file.txt", original, updated, &Paint::plain())
    }

    #[test]
    fn identical_content_has_no_diff() {
        assert_eq!(plain("a\nb\n", "a\nb\n"), "");
        assert_eq!(plain("", ""), "");
    }

    #[test]
    fn one_changed_line_with_context() {
        let original = "PACKAGE = mobiledgex\nVERSION = 3.0.1\nDISTRIBUTION = cirrus\nCOMPONENT = main\n\nall: build\n";
        let updated = original.replace("3.0.1", "3.0.2");
        assert_eq!(
            plain(original, &updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,5 +1,5 @@
 PACKAGE = mobiledgex
-VERSION = 3.0.1
+VERSION = 3.0.2
 DISTRIBUTION = cirrus
 COMPONENT = main
 
"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let original: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let updated = original
            .replace("line 2\n", "line two\n")
            .replace("line 18\n", "line eighteen\n");
        assert_eq!(
            plain(&original, &updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,5 +1,5 @@
 line 1
-line 2
+line two
 line 3
 line 4
 line 5
@@ -15,6 +15,6 @@
 line 15
 line 16
 line 17
-line 18
+line eighteen
 line 19
 line 20
"
        );
    }

    #[test]
    fn crlf_file_with_a_changed_value_keeps_its_carriage_returns_raw() {
        let original = "a = 1\r\nb = 2\r\nc = 3\r\n";
        let updated = "a = 1\r\nb = 9\r\nc = 3\r\n";
        assert_eq!(
            plain(original, updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,3 +1,3 @@
 a = 1\r
-b = 2\r
+b = 9\r
 c = 3\r
"
        );
    }

    #[test]
    fn a_changed_line_ending_is_made_visible_and_named() {
        let original = "a = 1\r\nb = 2\r\n";
        let updated = "a = 1\r\nb = 2\n";
        assert_eq!(
            plain(original, updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,2 +1,2 @@
 a = 1\r
-b = 2␍
+b = 2
\\ line ending changed: CRLF → LF
"
        );
    }

    #[test]
    fn changed_trailing_whitespace_is_made_visible() {
        let original = "x\nkey = value \t\ny\n";
        let updated = "x\nkey = value\ny\n";
        assert_eq!(
            plain(original, updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,3 +1,3 @@
 x
-key = value·→
+key = value
\\ trailing whitespace changed (· is a space, → a tab)
 y
"
        );
    }

    #[test]
    fn missing_final_newline_is_hinted() {
        let original = "package version\n\nvar V = \"3.0.1\"";
        let updated = "package version\n\nvar V = \"3.0.2\"";
        assert_eq!(
            plain(original, updated),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,3 +1,3 @@
 package version
 
-var V = \"3.0.1\"
\\ No newline at end of file
+var V = \"3.0.2\"
\\ No newline at end of file
"
        );
    }

    #[test]
    fn adding_the_final_newline_is_shown() {
        assert_eq!(
            plain("a\nb", "a\nb\n"),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1,2 +1,2 @@
 a
-b
\\ No newline at end of file
+b
\\ line ending changed: none → LF
"
        );
    }

    #[test]
    fn new_file_shows_its_crlf_endings() {
        assert_eq!(
            plain("", "#!/bin/sh\r\nexit 0\r\n"),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -0,0 +1,2 @@
+#!/bin/sh␍
+exit 0␍
"
        );
    }

    #[test]
    fn deleted_content_shows_its_crlf_endings() {
        assert_eq!(
            plain("stale\r\n", ""),
            "\
--- a/file.txt\toriginal
+++ a/file.txt\tupdated
@@ -1 +0,0 @@
-stale␍
"
        );
    }

    #[test]
    fn colour_comes_only_from_paint() {
        let paint = Paint::coloured();
        let coloured = unified("f", "a\n", "b\n", &paint);
        assert!(coloured.contains('\u{1b}'));
        assert!(coloured.contains(&paint.removed("-a")));
        assert!(coloured.contains(&paint.added("+b")));
        assert!(coloured.contains(&paint.bold("--- f\toriginal")));
        assert!(coloured.contains(&paint.note("@@ -1 +1 @@")));
        assert!(!unified("f", "a\n", "b\n", &Paint::plain()).contains('\u{1b}'));
    }

    #[test]
    fn stat_and_summary_count_lines() {
        assert_eq!(stat("a\nb\nc\n", "a\nB\nc\nd\n"), (2, 1));
        assert_eq!(
            summary(&[(2, 1), (1, 1)]),
            "2 files changed, 3 insertions(+), 2 deletions(-)"
        );
        assert_eq!(
            summary(&[(1, 1)]),
            "1 file changed, 1 insertion(+), 1 deletion(-)"
        );
    }
}
