//! One pure editor per file format: text in, found values (with their line and
//! byte span) out. No I/O here; editing is splicing a span (see `splice`).

pub mod dependencies;
pub mod go;
pub mod lock_json;
pub mod makefile;
mod pattern;
pub mod ruby;
pub mod shell;

use std::ops::Range;

pub use pattern::{regex, Pattern};

/// A value found in a file: the 1-based line, the value's text, and its byte
/// span in the whole file (so an edit changes exactly those bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What distinguishes several finds of one kind (a cookbook name, an attribute path).
    pub key: String,
    pub line: usize,
    pub value: String,
    pub span: Range<usize>,
}

/// Lines of `text` with their 1-based number and byte offset, without the
/// line terminator (`\n` or `\r\n`).
pub fn lines(text: &str) -> impl Iterator<Item = (usize, usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n')
        .enumerate()
        .map(move |(index, raw)| {
            let start = offset;
            offset += raw.len();
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            (index + 1, start, line)
        })
}

/// A blank of the line-oriented formats: a space or a tab (the patterns'
/// `[ \t]`).
pub fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Where the run of blanks that starts at byte `at` of `text` ends.
pub fn blanks_from(text: &str, at: usize) -> usize {
    text.len() - text[at..].trim_start_matches(is_blank).len()
}

/// Every line matching `pattern`; group `v` is the value, optional group `k` the key.
pub fn scan(text: &str, pattern: &Pattern) -> Vec<Found> {
    let mut found = Vec::new();
    for (number, start, line) in lines(text) {
        if let Some(caps) = pattern.captures(line) {
            if let Some(value) = caps.name("v") {
                found.push(Found {
                    key: caps
                        .name("k")
                        .map_or(String::new(), |k| k.as_str().to_string()),
                    line: number,
                    value: value.as_str().to_string(),
                    span: start + value.start()..start + value.end(),
                });
            }
        }
    }
    found
}

/// `text` with the bytes of `span` replaced by `new`; every other byte stays
/// (the changeset does this for many spans at once; tests use this one).
#[cfg(test)]
pub fn splice(text: &str, span: &Range<usize>, new: &str) -> String {
    let mut out = String::with_capacity(text.len() + new.len());
    out.push_str(&text[..span.start]);
    out.push_str(new);
    out.push_str(&text[span.end..]);
    out
}

/// Every text made of up to `rounds` pieces from `pieces`, for the unit
/// tests that hold a hand-written scanner to the pattern it replaced.
#[cfg(test)]
pub fn awkward_texts(pieces: &[&str], rounds: usize) -> Vec<String> {
    let mut texts = vec![String::new()];
    for _ in 0..rounds {
        let longer: Vec<String> = texts
            .iter()
            .flat_map(|text| pieces.iter().map(move |piece| format!("{text}{piece}")))
            .collect();
        texts.extend(longer);
        texts.sort();
        texts.dedup();
    }
    texts
}

/// Whether two versions of a script or recipe differ only in `#` comment
/// lines and blank lines (a licence header, a note): what runs is the same.
/// A `#!` line is code. Trailing comments after code count as code, to be safe.
pub fn only_comments_differ(before: &str, after: &str) -> bool {
    fn code(text: &str) -> impl Iterator<Item = &str> {
        lines(text)
            .map(|(_, _, line)| line.trim())
            .filter(|line| !line.is_empty() && (!line.starts_with('#') || line.starts_with("#!")))
    }
    code(before).eq(code(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_only_changes() {
        let recipe = "#!/bin/sh\npackage 'x'\n\nversion '1.0.0'\n";
        let licensed = "#!/bin/sh\n# Copyright 2022 MobiledgeX, Inc\n#\n# Licensed under the Apache License\npackage 'x'\nversion '1.0.0'\n";
        assert!(only_comments_differ(recipe, licensed));
        assert!(only_comments_differ(recipe, &recipe.replace('\n', "\r\n")));
        assert!(!only_comments_differ(recipe, &recipe.replace("'x'", "'y'")));
        assert!(!only_comments_differ(
            recipe,
            &recipe.replace("#!/bin/sh", "#!/bin/bash")
        ));
        assert!(!only_comments_differ(
            recipe,
            "#!/bin/sh\npackage 'x' # no\nversion '1.0.0'\n"
        ));
        assert!(!only_comments_differ(recipe, &format!("{recipe}x\n")));
    }

    #[test]
    fn lines_keep_offsets_across_crlf_and_missing_final_newline() {
        let text = "a = 1\r\nb = 2\nc = 3";
        let got: Vec<_> = lines(text).collect();
        assert_eq!(
            got,
            vec![(1, 0, "a = 1"), (2, 7, "b = 2"), (3, 13, "c = 3")]
        );
    }

    #[test]
    fn scan_and_splice_change_only_the_value() {
        let text = "x\r\nVERSION = 1.2.3\r\ny";
        let found = scan(text, &regex(r"^VERSION = (?P<v>\S+)$").requiring("VERSION"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].value, "1.2.3");
        assert_eq!(
            splice(text, &found[0].span, "10.0.0"),
            "x\r\nVERSION = 10.0.0\r\ny"
        );
    }
}
