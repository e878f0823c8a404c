//! A fast, streaming reader of a Debian repository `Packages` index: only
//! what the xtask needs to check pins against an APT snapshot (which versions
//! of each pinned package exist, and which one apt would pick).
//!
//! It is fed the index in chunks as they are read or decompressed, and keeps
//! only the packages asked for: a 50 MB archive index goes through in a few
//! hundred KiB of memory. Finding line ends is nearly all the work; `memchr`
//! does it with SIMD.

use std::collections::{HashMap, HashSet};

use super::version::DebVersion;

/// A field line longer than this (bytes) is not a package name or version:
/// a stanza with such a `Package:` or `Version:` is skipped, and at most this
/// much of a line is ever held while it is incomplete.
pub const MAX_LINE: usize = 64 * 1024;

/// Every `Version:` offered for each kept `Package:` in one index, and how
/// many entries the whole index has.
#[derive(Debug, Clone, Default)]
pub struct PackagesIndex {
    versions: HashMap<String, Vec<String>>,
    entry_count: usize,
}

impl PackagesIndex {
    /// The whole of `text`, every package kept (for small indexes and tests;
    /// `IndexReader` streams a big one and keeps only what it is asked for).
    #[cfg(test)]
    pub fn parse(text: &str) -> PackagesIndex {
        let mut reader = IndexReader::new(None);
        reader.feed(text.as_bytes());
        reader.finish()
    }

    /// The versions listed for `name`, in index order; empty if none (or if
    /// `name` was not among the packages kept).
    pub fn versions(&self, name: &str) -> &[String] {
        self.versions.get(name).map_or(&[], Vec::as_slice)
    }

    /// The highest version of `name` by dpkg order (what apt would install
    /// without pins or priorities), as the index writes it; versions that do
    /// not parse are ignored.
    pub fn candidate(&self, name: &str) -> Option<&str> {
        self.versions(name)
            .iter()
            .filter_map(|text| DebVersion::parse(text).ok().map(|v| (v, text)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, text)| text.as_str())
    }

    /// Number of (package, version) entries in the whole index, kept or not:
    /// the stanzas with both fields, what `grep -c '^Package:'` counts in a
    /// well-formed index.
    pub fn entry_count(&self) -> usize {
        self.entry_count
    }

    /// The package names kept, in no particular order.
    #[cfg(test)]
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.versions.keys().map(String::as_str)
    }
}

/// Parses an index fed in chunks of any size, split anywhere.
///
/// Reads stanzas separated by empty lines (as apt does: a line holding only
/// blanks is not a separator). Field names match case-insensitively; CRLF and
/// a missing final newline are fine; stanzas lacking `Package:` or `Version:`
/// are skipped. Versions are kept as written, in order.
pub struct IndexReader {
    /// The packages whose versions are kept, sorted; `None`: all of them.
    keep: Option<Vec<Vec<u8>>>,
    /// For each first byte, a bit per length (up to 63) of the kept names:
    /// most names are ruled out with one lookup.
    keep_shapes: Box<[u64; 256]>,
    index: PackagesIndex,
    /// The current stanza's fields, reused from stanza to stanza.
    package: Vec<u8>,
    version: Vec<u8>,
    has_package: bool,
    has_version: bool,
    /// The stanza has an overlong `Package:` or `Version:`.
    broken: bool,
    /// The start of a line the last chunk ended in (at most `MAX_LINE + 1`
    /// bytes of it: enough to know it is overlong).
    partial: Vec<u8>,
}

impl IndexReader {
    /// A reader keeping the versions of the packages in `keep`, or of all.
    pub fn new(keep: Option<HashSet<String>>) -> IndexReader {
        let keep = keep.map(|names| {
            let mut names: Vec<Vec<u8>> = names.into_iter().map(String::into_bytes).collect();
            names.sort_unstable();
            names
        });
        let mut keep_shapes = Box::new([0u64; 256]);
        for name in keep.iter().flatten() {
            if let Some(&first) = name.first() {
                keep_shapes[usize::from(first)] |= shape_bit(name.len());
            }
        }
        IndexReader {
            keep,
            keep_shapes,
            index: PackagesIndex::default(),
            package: Vec::new(),
            version: Vec::new(),
            has_package: false,
            has_version: false,
            broken: false,
            partial: Vec::new(),
        }
    }

    /// The next bytes of the index.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if !self.partial.is_empty() {
            let Some(end) = memchr::memchr(b'\n', chunk) else {
                self.hold(chunk);
                return;
            };
            self.hold(&chunk[..end]);
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
            self.partial = line;
            self.partial.clear();
            chunk = &chunk[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            // Most lines are neither a field read here nor empty: skip them
            // on their first byte.
            if matches!(
                chunk.get(start),
                Some(b'P' | b'p' | b'V' | b'v' | b'\r' | b'\n')
            ) {
                self.line(&chunk[start..end]);
            }
            start = end + 1;
        }
        self.hold(&chunk[start..]);
    }

    /// The index, once every chunk was fed.
    pub fn finish(mut self) -> PackagesIndex {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        self.end_stanza();
        self.index
    }

    /// Keeps the start of an unfinished line, up to one byte past `MAX_LINE`.
    fn hold(&mut self, bytes: &[u8]) {
        let room = (MAX_LINE + 1).saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// One line, without its `\n`.
    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None => self.end_stanza(),
            Some(b'P' | b'p') => {
                if let Some(value) = field_value(line, b"package:") {
                    if line.len() > MAX_LINE {
                        self.broken = true;
                    } else {
                        self.package.clear();
                        self.package.extend_from_slice(value);
                        self.has_package = true;
                    }
                }
            }
            Some(b'V' | b'v') => {
                if let Some(value) = field_value(line, b"version:") {
                    if line.len() > MAX_LINE {
                        self.broken = true;
                    } else {
                        self.version.clear();
                        self.version.extend_from_slice(value);
                        self.has_version = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn end_stanza(&mut self) {
        if self.has_package && self.has_version && !self.broken {
            self.index.entry_count += 1;
            let kept = match &self.keep {
                None => true,
                Some(keep) => {
                    let first = self.package.first().map_or(0, |&b| usize::from(b));
                    self.keep_shapes[first] & shape_bit(self.package.len()) != 0
                        && keep.binary_search(&self.package).is_ok()
                }
            };
            if kept {
                let name = String::from_utf8_lossy(&self.package);
                let version = String::from_utf8_lossy(&self.version).into_owned();
                match self.index.versions.get_mut(name.as_ref()) {
                    Some(list) => list.push(version),
                    None => {
                        self.index.versions.insert(name.into_owned(), vec![version]);
                    }
                }
            }
        }
        self.has_package = false;
        self.has_version = false;
        self.broken = false;
    }
}

/// A name's length as a bit; lengths over 63 share the top bit.
fn shape_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// The trimmed value if `line` is the field `name` (lowercase, with its
/// colon), matched case-insensitively like apt does; `None` when empty.
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    let mut value = &line[name.len()..];
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{apt_package_indexes, read_apt_index, skip_or_fail, NO_APT_INDEX};

    const SMALL: &str = "\
Package: kubeadm
Version: 1.16.2-00
Architecture: amd64
Depends: kubelet (>= 1.13.0), kubectl (>= 1.13.0)
Description: Kubernetes Cluster Bootstrapping Tool
 The Kubernetes command line tool for bootstrapping a Kubernetes cluster.
 .
 Version: 9.9 in a description is not a field

Package: kubeadm
Architecture: amd64
Version: 1.16.3-00

Package: kubeadm
Version: 1.16.10-00

Package: docker-ce
Version: 5:20.10.13~3-0~ubuntu-bionic
Provides: docker

Package: no-version
Architecture: all

Version: 1.0
Description: a stanza without a package

Package: bad
Version: not-a-version
";

    #[test]
    fn reads_versions_in_order() {
        let idx = PackagesIndex::parse(SMALL);
        assert_eq!(
            idx.versions("kubeadm"),
            ["1.16.2-00", "1.16.3-00", "1.16.10-00"]
        );
        assert_eq!(idx.versions("docker-ce"), ["5:20.10.13~3-0~ubuntu-bionic"]);
        assert!(idx.versions("no-version").is_empty());
        assert!(idx.versions("missing").is_empty());
        assert_eq!(idx.entry_count(), 5);
        let mut names: Vec<&str> = idx.packages().collect();
        names.sort_unstable();
        assert_eq!(names, ["bad", "docker-ce", "kubeadm"]);
    }

    #[test]
    fn candidate_is_the_highest_parsable_version() {
        let idx = PackagesIndex::parse(SMALL);
        let c = idx.candidate("kubeadm").map(|v| v.to_string());
        assert_eq!(c.as_deref(), Some("1.16.10-00"));
        assert_eq!(idx.candidate("bad"), None);
        assert_eq!(idx.candidate("missing"), None);
        let idx = PackagesIndex::parse(
            "Package: a\nVersion: 1.0~rc1\n\nPackage: a\nVersion: 1.0\n\nPackage: a\nVersion: 0:1.0~b\n",
        );
        assert_eq!(
            idx.candidate("a").map(|v| v.to_string()).as_deref(),
            Some("1.0")
        );
    }

    #[test]
    fn tolerates_crlf_case_blanks_and_no_final_newline() {
        let text = "package:\tfoo \r\nVERSION:   1.2-3\t\r\n\r\n\r\n\r\nPackage: bar\r\nVersion: 2\r\n \r\nVersion: 3";
        let idx = PackagesIndex::parse(text);
        assert_eq!(idx.versions("foo"), ["1.2-3"]);
        // A blank-only line does not end the stanza, so the later Version wins.
        assert_eq!(idx.versions("bar"), ["3"]);
        assert!(PackagesIndex::parse("").versions("foo").is_empty());
        assert_eq!(PackagesIndex::parse("\n\n\n").entry_count(), 0);
        let idx = PackagesIndex::parse("Package: x\nVersion:\nPackages: y\nVersions: 2\n");
        assert_eq!(
            idx.entry_count(),
            0,
            "empty value and other field names ignored"
        );
    }

    /// Chunks split anywhere (mid-field, mid-CRLF, one byte at a time) give
    /// the same index as the whole text.
    #[test]
    fn chunks_split_anywhere_read_the_same() {
        let crlf = SMALL.replace('\n', "\r\n");
        for text in [SMALL, crlf.as_str()] {
            let whole = PackagesIndex::parse(text);
            for size in 1..=text.len() {
                let mut reader = IndexReader::new(None);
                for chunk in text.as_bytes().chunks(size) {
                    reader.feed(chunk);
                }
                let idx = reader.finish();
                assert_eq!(idx.versions, whole.versions, "chunks of {size}");
                assert_eq!(idx.entry_count(), 5, "chunks of {size}");
            }
        }
    }

    #[test]
    fn keeps_only_the_packages_asked_for_and_counts_all() {
        let keep = ["kubeadm", "absent"].map(String::from).into();
        let mut reader = IndexReader::new(Some(keep));
        reader.feed(SMALL.as_bytes());
        let idx = reader.finish();
        let names: Vec<&str> = idx.packages().collect();
        assert_eq!(names, ["kubeadm"]);
        assert_eq!(idx.versions("kubeadm").len(), 3);
        assert!(idx.versions("docker-ce").is_empty());
        assert_eq!(idx.entry_count(), 5);
    }

    /// An overlong `Package:` or `Version:` skips its stanza, whether it came
    /// in one chunk or many; an overlong other field is nothing; what is held
    /// of an unfinished line stays bounded.
    #[test]
    fn overlong_fields_skip_their_stanza_with_bounded_memory() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!(
            "Package: a\nVersion: {long}\n\nPackage: {long}\nVersion: 1\n\n\
             Package: b\nDescription: {long}\nVersion: 2\n\nPackage: c\nVersion: 3"
        );
        for size in [7, 4096, text.len()] {
            let mut reader = IndexReader::new(None);
            for chunk in text.as_bytes().chunks(size) {
                reader.feed(chunk);
                assert!(reader.partial.len() <= MAX_LINE + 1);
            }
            let idx = reader.finish();
            let mut names: Vec<&str> = idx.packages().collect();
            names.sort_unstable();
            assert_eq!(names, ["b", "c"], "chunks of {size}");
            assert_eq!(idx.versions("b"), ["2"]);
        }
    }

    /// The largest apt index of this machine (bookworm main on the
    /// development machine, 63,440 entries; a few thousand on Ubuntu's
    /// main), parsed whole.
    #[test]
    fn parses_the_largest_real_index() {
        let Some((path, bytes)) = apt_package_indexes()
            .into_iter()
            .find_map(|path| read_apt_index(&path).map(|bytes| (path, bytes)))
        else {
            skip_or_fail(NO_APT_INDEX);
            return;
        };
        let path = path.display();
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{path}: not UTF-8: {e}"));
        let package_lines = text.lines().filter(|l| l.starts_with("Package:")).count();
        let idx = PackagesIndex::parse(&text);
        assert!(
            package_lines > 1_000,
            "{path}: only {package_lines} packages; not a distribution's main index"
        );
        assert_eq!(idx.entry_count(), package_lines, "{path}");
        assert!(idx.candidate("dpkg").is_some(), "{path}: no dpkg");
        for name in idx.packages() {
            assert!(
                idx.candidate(name).is_some(),
                "{name} has a parsable version"
            );
        }
    }
}
