//! The built-in patterns the editors find versions with, compiled once per
//! process and ASCII-only on purpose (`(?-u)`: `\s`, `\S`, `\b`, `.` and
//! classes such as `[^'"]` work on bytes). Every file the xtask reads has an
//! ASCII syntax, and a Unicode class costs a UTF-8 automaton to compile: with
//! them, compiling the ~20 patterns was most of `check`'s time (the
//! pre-commit hook's) and of `bump-base-image --dry-run`'s.
//!
//! Matches are read back as `&str`. A pattern's groups begin and end at ASCII
//! characters or at a line's ends, so they fall between characters; a group
//! that would cut a character (none of this crate's can) counts as unmatched.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock, PoisonError};

/// A compiled built-in pattern (cheap to clone).
#[derive(Clone, Debug)]
pub struct Pattern {
    regex: regex::bytes::Regex,
    /// A literal every match contains (see [`Pattern::requiring`]).
    needle: Option<memchr::memmem::Finder<'static>>,
}

/// Compiles a pattern of this crate, once per process.
pub fn regex(pattern: &str) -> Pattern {
    static COMPILED: OnceLock<Mutex<HashMap<String, Pattern>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| {
            // Patterns are literals of this crate, covered by tests: a bad one is a bug.
            let ascii = regex::bytes::Regex::new(&format!("(?-u){pattern}"))
                .expect("invalid built-in pattern");
            Pattern {
                regex: ascii,
                needle: None,
            }
        })
        .clone()
}

impl Pattern {
    /// The same pattern, told that every match contains `needle`: a text
    /// without it is passed over by a literal search instead of the regex
    /// engine. The editors scan whole files a line at a time for a line
    /// with a keyword (`VERSION`, `cookbook`); most lines have none, and
    /// the pre-commit hook runs an unoptimised build.
    pub fn requiring(mut self, needle: &str) -> Pattern {
        debug_assert!(!needle.is_empty());
        // Built once: the search runs on every line.
        self.needle = Some(memchr::memmem::Finder::new(needle).into_owned());
        self
    }

    /// Whether `text` can hold a match at all.
    fn may_match(&self, text: &str) -> bool {
        self.needle
            .as_ref()
            .is_none_or(|needle| needle.find(text.as_bytes()).is_some())
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.may_match(text) && self.regex.is_match(text.as_bytes())
    }

    /// The first match's groups.
    pub fn captures<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        if !self.may_match(text) {
            return None;
        }
        let caps = self.regex.captures(text.as_bytes())?;
        Some(Captures { text, caps })
    }

    /// `text` with every match replaced by `with`, taken literally.
    pub fn replace_all(&self, text: &str, with: &str) -> String {
        if !self.may_match(text) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for found in self.regex.find_iter(text.as_bytes()) {
            out.push_str(&text[last..found.start()]);
            out.push_str(with);
            last = found.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// The groups of every match, in order.
    pub fn captures_iter<'r, 't>(
        &'r self,
        text: &'t str,
    ) -> impl Iterator<Item = Captures<'t>> + use<'r, 't> {
        self.may_match(text)
            .then(|| self.regex.captures_iter(text.as_bytes()))
            .into_iter()
            .flatten()
            .map(move |caps| Captures { text, caps })
    }
}

/// The groups of one match.
pub struct Captures<'t> {
    text: &'t str,
    caps: regex::bytes::Captures<'t>,
}

impl<'t> Captures<'t> {
    /// Group `name`, if it took part in the match.
    pub fn name(&self, name: &str) -> Option<Match<'t>> {
        self.matched(self.caps.name(name)?.range())
    }

    /// Group `index` (0: the whole match), if it took part in the match.
    pub fn get(&self, index: usize) -> Option<Match<'t>> {
        self.matched(self.caps.get(index)?.range())
    }

    fn matched(&self, range: Range<usize>) -> Option<Match<'t>> {
        let text = self.text.get(range.clone())?;
        Some(Match {
            text,
            start: range.start,
        })
    }
}

/// The text of group `index`; panics when it did not take part in the match,
/// as `regex::Captures` does: for groups the pattern always fills.
impl<'t> std::ops::Index<usize> for Captures<'t> {
    type Output = str;

    fn index(&self, index: usize) -> &str {
        self.get(index)
            .map(|found| found.as_str())
            .unwrap_or_else(|| panic!("no group {index} in this match"))
    }
}

/// The text of group `name`; panics when it did not take part in the match.
impl<'t> std::ops::Index<&str> for Captures<'t> {
    type Output = str;

    fn index(&self, name: &str) -> &str {
        self.name(name)
            .map(|found| found.as_str())
            .unwrap_or_else(|| panic!("no group {name} in this match"))
    }
}

/// A group's text and where it is in the searched text.
#[derive(Clone, Copy, Debug)]
pub struct Match<'t> {
    text: &'t str,
    start: usize,
}

impl<'t> Match<'t> {
    pub fn as_str(&self) -> &'t str {
        self.text
    }

    pub fn start(&self) -> usize {
        self.start
    }

    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes_keep_other_text_whole() {
        let pattern = regex(r#"^\s*name\s+['"](?P<v>[^'"]+)['"]\s*(?:#.*)?$"#);
        let text = "  name 'café-ü' # grüße";
        let caps = pattern.captures(text).expect("a match");
        let value = caps.name("v").unwrap();
        assert_eq!(value.as_str(), "café-ü");
        assert_eq!(&text[value.start()..value.end()], "café-ü");
        assert!(
            !pattern.is_match("  name\u{a0}'x'"),
            "only ASCII blanks count"
        );
    }

    #[test]
    fn a_group_that_would_cut_a_character_is_unmatched() {
        let pattern = regex(r"^(?P<first>.)");
        let caps = pattern.captures("é").expect("the byte matches");
        assert!(caps.name("first").is_none());
        assert_eq!(
            regex(r"^(?P<v>.+)$")
                .captures("é")
                .unwrap()
                .name("v")
                .unwrap()
                .as_str(),
            "é"
        );
    }
}
