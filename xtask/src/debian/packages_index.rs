//! A fast reader of a Debian repository `Packages` index: only what the xtask
//! needs to check pins against an APT snapshot (which versions of each
//! package exist, and which one apt would pick).

use std::collections::HashMap;

use super::version::DebVersion;

/// Every `Version:` offered for each `Package:` in one index.
#[derive(Debug, Clone, Default)]
pub struct PackagesIndex {
    versions: HashMap<String, Vec<String>>,
}

impl PackagesIndex {
    /// Reads stanzas separated by empty lines (as apt does: a line holding
    /// only blanks is not a separator). Field names match case-insensitively;
    /// CRLF and a missing final newline are fine; stanzas lacking `Package:`
    /// or `Version:` are skipped. Versions are kept as written, in order.
    ///
    /// Fast on a full archive index (tens of MB): it only looks at lines
    /// starting with `P`/`p`/`V`/`v` and allocates only the two kept fields.
    pub fn parse(text: &str) -> PackagesIndex {
        let mut p = Parser {
            text,
            // Full Debian stanzas average ~800 bytes; sizing up front avoids rehashing.
            versions: HashMap::with_capacity(text.len() / 1024 + 16),
            package: None,
            version: None,
        };
        let mut start = 0;
        for_each_newline(text.as_bytes(), |nl| {
            p.line(start, nl);
            start = nl + 1;
        });
        p.line(start, text.len());
        p.end_stanza();
        PackagesIndex {
            versions: p.versions,
        }
    }

    /// The versions listed for `name`, in index order; empty if none.
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

    /// Number of distinct package names.
    pub fn package_count(&self) -> usize {
        self.versions.len()
    }

    /// Number of (package, version) entries, i.e. stanzas that were kept.
    pub fn entry_count(&self) -> usize {
        self.versions.values().map(Vec::len).sum()
    }

    /// The package names, in no particular order.
    #[cfg(test)]
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.versions.keys().map(String::as_str)
    }
}

/// Parsing state: the fields seen so far in the current stanza.
struct Parser<'a> {
    text: &'a str,
    versions: HashMap<String, Vec<String>>,
    package: Option<&'a str>,
    version: Option<&'a str>,
}

impl<'a> Parser<'a> {
    /// Handles the line `text[start..end]` (without its `\n`).
    fn line(&mut self, start: usize, end: usize) {
        let bytes = self.text.as_bytes();
        let end = if end > start && bytes.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        match bytes.get(start) {
            _ if start >= end => self.end_stanza(),
            Some(b'P' | b'p') => {
                if let Some(v) = self.field_value(start, end, b"package:") {
                    self.package = Some(v);
                }
            }
            Some(b'V' | b'v') => {
                if let Some(v) = self.field_value(start, end, b"version:") {
                    self.version = Some(v);
                }
            }
            _ => {}
        }
    }

    /// The trimmed value if `text[start..end]` is the field `name`
    /// (lowercase, with its colon), matched case-insensitively like apt does.
    fn field_value(&self, start: usize, end: usize, name: &[u8]) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let head = bytes.get(start..start + name.len())?;
        if start + name.len() > end || !head.eq_ignore_ascii_case(name) {
            return None;
        }
        // Positions next to ASCII bytes are char boundaries, so `get` succeeds.
        let value = self
            .text
            .get(start + name.len()..end)?
            .trim_matches([' ', '\t']);
        (!value.is_empty()).then_some(value)
    }

    fn end_stanza(&mut self) {
        if let (Some(p), Some(v)) = (self.package.take(), self.version.take()) {
            match self.versions.get_mut(p) {
                Some(list) => list.push(v.to_string()),
                None => {
                    self.versions.insert(p.to_string(), vec![v.to_string()]);
                }
            }
        }
        self.version = None;
    }
}

/// Calls `f` with the index of every `\n`, eight bytes at a time (SWAR).
/// About twice as fast as `str::split('\n')` on a 50 MB index, where finding
/// line ends is nearly all the work.
fn for_each_newline(bytes: &[u8], mut f: impl FnMut(usize)) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NEWLINES;
        // High bit set in exactly the bytes of `x` that are zero (no carries
        // cross bytes, so unlike the shorter trick there are no false hits).
        let mut hits = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
        while hits != 0 {
            f(base + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'\n' {
            f(base + i);
        }
    }
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
        assert_eq!(idx.package_count(), 3);
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
        assert_eq!(PackagesIndex::parse("\n\n\n").package_count(), 0);
        let idx = PackagesIndex::parse("Package: x\nVersion:\nPackages: y\nVersions: 2\n");
        assert_eq!(
            idx.package_count(),
            0,
            "empty value and other field names ignored"
        );
    }

    #[test]
    fn finds_every_newline_at_any_offset() {
        let mut x: u64 = 0x243F_6A88_85A3_08D3;
        for len in 0..80 {
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b'\n', b'a', 0x8a, 0x0b, 0x09, 0x0a ^ 0x80][(x % 6) as usize]
                })
                .collect();
            let want: Vec<usize> = (0..len).filter(|&i| text[i] == b'\n').collect();
            let mut got = Vec::new();
            for_each_newline(&text, |i| got.push(i));
            assert_eq!(got, want, "{text:?}");
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
        assert!(idx.package_count() <= package_lines, "{path}");
        assert!(idx.candidate("dpkg").is_some(), "{path}: no dpkg");
        for name in idx.packages() {
            assert!(
                idx.candidate(name).is_some(),
                "{name} has a parsable version"
            );
        }
    }
}
