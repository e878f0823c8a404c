//! `cargo xtask mentions <VERSION>`: every place in the monorepo that mentions
//! a version as a whole token. Informational: it never edits and exits 0 whether
//! or not anything was found. `bump-base-image` runs the same [`scan`] for the
//! old version after a bump, to list what may still need a hand edit.
//!
//! What counts as a mention (the "whole token" rule):
//! - a character that would extend the version on either side — a letter, digit,
//!   `_` or `.` — means it is part of something else: `13.0.1`, `3.0.10`,
//!   `3.0.1.2`, `x3.0.1` are not mentions of `3.0.1`;
//! - except a trailing `.` that is not followed by a letter or digit (the end of
//!   a sentence: `… is 3.0.1.`);
//! - and except a leading `v` that starts a word: image names and tags such as
//!   `mobiledgex-v3.0.1` or `v3.0.1` are mentions (`dev3.0.1` is not);
//! - anything else around it is a boundary: `"3.0.1"`, `3.0.1-vcd`, `=3.0.1-1`.
//!
//! Compared with `rg -F -w`: the same, except that ripgrep does not count
//! `v3.0.1` (its `v` is a word character) and does count `3.0.1.2` and
//! `1.3.0.1` (`.` is not a word character for it). `benches/mentions.rs` relies
//! on exactly these two differences.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

use anyhow::Result;
use memchr::memmem::Finder;
use serde_json::json;

use crate::context::Context;
use crate::{bad, flags};

/// Files larger than this are skipped: they are data, not places a person edits.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A NUL byte in this many leading bytes makes a file binary (as git and grep decide).
const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Longer is not a version; the search windows rely on versions being short.
const MAX_VERSION_BYTES: usize = 200;

/// Lines longer than this (in characters) are shown as a window around the mention.
const MAX_TEXT_CHARS: usize = 200;

/// How many characters of a long line to keep before the mention.
const TEXT_CONTEXT_BEFORE: usize = 60;

/// Never searched: version control data (a folder, or a worktree's `.git` file)...
const SKIPPED_NAMES: [&str; 3] = [".git", ".hg", ".svn"];
/// ...and build output folders.
const SKIPPED_DIRS: [&str; 1] = ["target"];

/// One line that mentions the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// The line, trailing whitespace removed; a window around the mention when long.
    pub text: String,
}

/// What a scan found and what it left out.
#[derive(Debug, Default)]
pub struct Scan {
    /// Sorted by path, then line.
    pub mentions: Vec<Mention>,
    pub files_searched: usize,
    /// Relative paths of files with a NUL byte near the start.
    pub skipped_binary: Vec<String>,
    /// Relative paths of files over [`MAX_FILE_BYTES`].
    pub skipped_large: Vec<String>,
    /// Files and folders that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

impl Scan {
    /// How many distinct files mention the version.
    pub fn files_with_mentions(&self) -> usize {
        let mut files = 0;
        let mut last: Option<&str> = None;
        for mention in &self.mentions {
            if last != Some(mention.path.as_str()) {
                files += 1;
                last = Some(&mention.path);
            }
        }
        files
    }
}

/// Every line under `root` that mentions `version` as a whole token (see the
/// module documentation), sorted by path then line. Skips `.git`, `target`,
/// binary files and files over 4 MiB; does not follow symlinks.
pub fn scan(root: &Path, version: &str) -> Result<Vec<Mention>> {
    Ok(scan_report(root, version)?.mentions)
}

/// [`scan`], with what was skipped.
pub fn scan_report(root: &Path, version: &str) -> Result<Scan> {
    validate_version(version).map_err(|message| bad!("{message}"))?;
    let needle = Finder::new(version.as_bytes());

    // Opening and reading the files is most of the work, so it is shared by one
    // reader per core (on 2 cores: 147 ms -> 84 ms for benches/mentions.rs). This
    // thread walks and hands each file over as soon as it is found, so the walk
    // (~20 ms there) overlaps the reading instead of coming first.
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let (send, receive) = mpsc::channel::<PathBuf>();
    let receive = Mutex::new(receive);
    let mut unreadable = Vec::new();
    let parts: Vec<Scan> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..readers)
            .map(|_| {
                scope.spawn(|| {
                    let mut part = Scan::default();
                    let mut bufs = Buffers::new();
                    loop {
                        // The lock is held only to take the next path.
                        let next = match receive.lock() {
                            Ok(receive) => receive.recv(),
                            Err(_) => break,
                        };
                        let Ok(path) = next else { break };
                        search_file(root, &path, &needle, version.len(), &mut bufs, &mut part);
                    }
                    part
                })
            })
            .collect();
        let walk = walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|entry| {
                let name = entry.file_name();
                entry.depth() == 0
                    || !(SKIPPED_NAMES.iter().any(|skipped| name == *skipped)
                        || entry.file_type().is_dir()
                            && SKIPPED_DIRS.iter().any(|skipped| name == *skipped))
            });
        for entry in walk {
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
                    // Fails only when every reader is gone, i.e. has panicked.
                    if send.send(entry.into_path()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => unreadable.push(format!(
                    "{}: {}",
                    relative(root, err.path().unwrap_or(root)),
                    err.io_error()
                        .map_or_else(|| err.to_string(), |io| io.to_string())
                )),
            }
        }
        drop(send);
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a reader thread of the scan failed"))
            })
            .collect::<Result<Vec<_>>>()
    })?;

    let mut scan = Scan {
        unreadable,
        ..Scan::default()
    };
    for part in parts {
        scan.mentions.extend(part.mentions);
        scan.files_searched += part.files_searched;
        scan.skipped_binary.extend(part.skipped_binary);
        scan.skipped_large.extend(part.skipped_large);
        scan.unreadable.extend(part.unreadable);
    }
    scan.mentions
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
    scan.skipped_binary.sort();
    scan.skipped_large.sort();
    scan.unreadable.sort();
    Ok(scan)
}

/// A version to search for: one token of the characters versions are made of.
pub fn validate_version(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("the version to look for is empty; pass one such as 3.0.1".to_string());
    }
    if version.len() > MAX_VERSION_BYTES {
        return Err(format!(
            "the version to look for is {} bytes long; a version is at most {MAX_VERSION_BYTES}",
            version.len()
        ));
    }
    if let Some(bad) = version
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | ':' | '-')))
    {
        return Err(format!(
            "`{version}` is not a version: {bad:?} is not allowed; a version is letters, digits and . + ~ : - (e.g. 3.0.1)"
        ));
    }
    Ok(())
}

/// Each reader's buffers, reused from file to file.
struct Buffers {
    /// A window of the file small enough to stay in the CPU cache.
    chunk: Vec<u8>,
    /// A whole file, read only when it mentions the version.
    whole: Vec<u8>,
}

/// The window in which files are searched. Reading whole files into one big
/// buffer made the copy from the page cache miss the CPU cache: 64 KiB windows
/// (ripgrep's size) cut benches/mentions.rs from 115 ms to 84 ms.
const CHUNK_BYTES: usize = 64 * 1024;

impl Buffers {
    fn new() -> Buffers {
        Buffers {
            chunk: vec![0; CHUNK_BYTES],
            whole: Vec::new(),
        }
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn fill(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Searches one file and records what it mentions (or why it was skipped) in `part`.
fn search_file(
    root: &Path,
    path: &Path,
    needle: &Finder,
    version_len: usize,
    bufs: &mut Buffers,
    part: &mut Scan,
) {
    let found = File::open(path).and_then(|file| mentions_in(file, needle, version_len, bufs));
    match found {
        Ok(Found::Nothing) => part.files_searched += 1,
        Ok(Found::Binary) => part.skipped_binary.push(relative(root, path)),
        Ok(Found::Large) => part.skipped_large.push(relative(root, path)),
        Ok(Found::Mentions) => {
            part.files_searched += 1;
            record_mentions(
                &relative(root, path),
                &bufs.whole,
                needle,
                &mut part.mentions,
            );
        }
        Err(err) => part
            .unreadable
            .push(format!("{}: {err}", relative(root, path))),
    }
}

enum Found {
    Nothing,
    Binary,
    Large,
    /// The whole file is in `Buffers::whole`.
    Mentions,
}

/// Streams the file through the window until the first whole-token mention;
/// only then reads all of it, for line numbers.
fn mentions_in(
    mut file: impl Read + Seek,
    needle: &Finder,
    version_len: usize,
    bufs: &mut Buffers,
) -> std::io::Result<Found> {
    let chunk = &mut bufs.chunk;
    // Bytes kept from the previous window: an occurrence cut by the window's
    // end, with the two bytes on each side that decide whether it is a token.
    let keep = version_len + 4;
    let mut kept = 0;
    let mut total = 0u64;
    let mut first = true;
    loop {
        let read = fill(&mut file, &mut chunk[kept..])?;
        let filled = kept + read;
        let at_end = filled < chunk.len();
        total += read as u64;
        if total > MAX_FILE_BYTES {
            return Ok(Found::Large);
        }
        if first && chunk[..filled.min(BINARY_PROBE_BYTES)].contains(&0) {
            return Ok(Found::Binary);
        }
        // Occurrences starting in the first 3 kept bytes were judged in full
        // in the previous window.
        let from = if first { 0 } else { 3 };
        if token_in_window(&chunk[..filled], needle, from, at_end).is_some() {
            break;
        }
        if at_end {
            return Ok(Found::Nothing);
        }
        kept = keep.min(filled);
        chunk.copy_within(filled - kept..filled, 0);
        first = false;
    }
    file.seek(SeekFrom::Start(0))?;
    bufs.whole.clear();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bufs.whole)?;
    Ok(if bufs.whole.len() as u64 > MAX_FILE_BYTES {
        Found::Large
    } else {
        Found::Mentions
    })
}

/// Each line of `text` that mentions the version, once per line.
fn record_mentions(rel: &str, text: &[u8], needle: &Finder, mentions: &mut Vec<Mention>) {
    let mut line = 1;
    let mut counted_to = 0;
    let mut at = first_token(text, needle, 0);
    while let Some((start, end)) = at {
        line += count_newlines(&text[counted_to..start]);
        let line_start = text[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = text[end..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| end + i);
        mentions.push(Mention {
            path: rel.to_string(),
            line,
            text: line_text(&text[line_start..line_end], start - line_start),
        });
        counted_to = start;
        // One mention per line: go on after this line.
        at = first_token(text, needle, line_end);
    }
}

/// [`first_token`] in a window of a file. When the file goes on past the
/// window, an occurrence too close to its end to judge is left for the next one.
fn token_in_window(
    window: &[u8],
    needle: &Finder,
    from: usize,
    at_end: bool,
) -> Option<(usize, usize)> {
    let (start, end) = first_token_or_cut(window, needle, from, !at_end)?;
    (at_end || end + 2 <= window.len()).then_some((start, end))
}

/// The first whole-token occurrence at or after `from`, as a byte range.
fn first_token(hay: &[u8], needle: &Finder, from: usize) -> Option<(usize, usize)> {
    first_token_or_cut(hay, needle, from, false)
}

/// [`first_token`]; with `cut`, `hay` is a window of something longer, and an
/// occurrence too near its end to judge is returned as is.
fn first_token_or_cut(
    hay: &[u8],
    needle: &Finder,
    mut from: usize,
    cut: bool,
) -> Option<(usize, usize)> {
    while from <= hay.len() {
        let start = from + needle.find(&hay[from..])?;
        let end = start + needle.needle().len();
        if (cut && end + 2 > hay.len()) || is_token(hay, start, end) {
            return Some((start, end));
        }
        // Occurrences can overlap (`1.1` in `1.1.1`): resume one byte later.
        from = start + 1;
    }
    None
}

/// Whether `hay[start..end]` stands alone (see the module documentation).
fn is_token(hay: &[u8], start: usize, end: usize) -> bool {
    let extends = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    if start > 0 {
        let before = hay[start - 1];
        let word_start_v = before == b'v' && (start < 2 || !extends(hay[start - 2]));
        if extends(before) && !word_start_v {
            return false;
        }
    }
    match hay.get(end) {
        None => true,
        Some(&b'.') => !hay
            .get(end + 1)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_'),
        Some(&after) => !extends(after),
    }
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The line as shown: trailing whitespace (and a CR) removed; when long, a
/// window that keeps the mention in view, cut sides marked with `…`.
fn line_text(line: &[u8], mention_at: usize) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let chars = text.chars().count();
    if chars <= MAX_TEXT_CHARS {
        return text.to_string();
    }
    let mention_char = String::from_utf8_lossy(&line[..mention_at.min(line.len())])
        .chars()
        .count();
    let start = mention_char
        .saturating_sub(TEXT_CONTEXT_BEFORE)
        .min(chars - MAX_TEXT_CHARS);
    let end = start + MAX_TEXT_CHARS;
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(text.chars().skip(start).take(MAX_TEXT_CHARS));
    if end < chars {
        shown.push('…');
    }
    shown
}

/// `path` relative to `root`, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        rel.into_owned()
    } else {
        rel.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

impl flags::Mentions {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let scan = scan_report(&ctx.root, &self.version)?;
        if !scan.unreadable.is_empty() {
            ctx.warn(format!(
                "{} files or folders could not be read and were not searched: {}",
                scan.unreadable.len(),
                preview_list(&scan.unreadable)
            ));
        }
        ctx.detail(format!(
            "searched {} files under {}; skipped {} binary and {} larger than {} MiB{}{}",
            scan.files_searched,
            ctx.root.display(),
            scan.skipped_binary.len(),
            scan.skipped_large.len(),
            MAX_FILE_BYTES / (1024 * 1024),
            if scan.skipped_large.is_empty() {
                ""
            } else {
                ": "
            },
            preview_list(&scan.skipped_large),
        ));
        if self.json {
            let report = json!({
                "version": self.version,
                "mentions": scan.mentions.iter().map(|m| json!({
                    "path": m.path,
                    "line": m.line,
                    "text": m.text,
                })).collect::<Vec<_>>(),
            });
            ctx.answer(serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        let mut out = String::new();
        for mention in &scan.mentions {
            out.push_str(&format!(
                "{}:{}: {}\n",
                ctx.paint.bold(&mention.path),
                mention.line,
                mention.text
            ));
        }
        ctx.answer(out);
        ctx.say(match scan.mentions.len() {
            0 => format!("no mentions of {}", self.version),
            n => format!(
                "{n} {} of {} in {} {}",
                if n == 1 { "mention" } else { "mentions" },
                self.version,
                scan.files_with_mentions(),
                if scan.files_with_mentions() == 1 {
                    "file"
                } else {
                    "files"
                },
            ),
        });
        Ok(())
    }
}

/// The first few entries of a list, and how many more.
fn preview_list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(hay: &str, version: &str) -> Vec<usize> {
        let needle = Finder::new(version.as_bytes());
        let mut found = Vec::new();
        let mut from = 0;
        while let Some((start, _)) = first_token(hay.as_bytes(), &needle, from) {
            found.push(start);
            from = start + 1;
        }
        found
    }

    #[test]
    fn whole_token_rule() {
        for hay in [
            "3.0.1",
            "VERSION = 3.0.1",
            "\"3.0.1\"",
            "'3.0.1'",
            "3.0.1-vcd",
            "=3.0.1-1",
            "v3.0.1",
            "mobiledgex-v3.0.1",
            "(3.0.1)",
            "is 3.0.1.",
            "is 3.0.1. Then",
            "3.0.1.\n",
            "3.0.1:",
            "3.0.1/",
        ] {
            assert_eq!(tokens(hay, "3.0.1").len(), 1, "{hay:?} mentions 3.0.1");
        }
        for hay in [
            "13.0.1",
            "3.0.10",
            "3.0.1.2",
            "1.3.0.1",
            "x3.0.1",
            "3.0.1a",
            "dev3.0.1",
            "3.0.1_amd64",
            "pkg_3.0.1",
            ".v3.0.1",
            "3.0.1._x",
        ] {
            assert!(
                tokens(hay, "3.0.1").is_empty(),
                "{hay:?} does not mention 3.0.1"
            );
        }
    }

    #[test]
    fn overlapping_occurrences_are_all_considered() {
        // Both `1.1` in `1.1.1` touch a `.`+digit, so neither counts.
        assert!(tokens("1.1.1", "1.1").is_empty());
        assert_eq!(tokens("1.1 1.1", "1.1"), vec![0, 4]);
        // A rejected occurrence (after `1`) does not hide a good one overlapping it.
        assert_eq!(tokens("12-2-2", "2-2"), vec![3]);
    }

    /// Whether the windowed search finds a mention, against the reference of
    /// searching the whole text at once.
    fn search_both_ways(text: &[u8], version: &str) -> (bool, bool) {
        let needle = Finder::new(version.as_bytes());
        let mut bufs = Buffers::new();
        let found = mentions_in(
            std::io::Cursor::new(text),
            &needle,
            version.len(),
            &mut bufs,
        )
        .unwrap();
        let windowed = matches!(found, Found::Mentions);
        if windowed {
            assert_eq!(bufs.whole, text);
        }
        (windowed, first_token(text, &needle, 0).is_some())
    }

    #[test]
    fn mentions_cut_by_the_search_window_are_judged_whole() {
        let snippets = [
            "3.0.1",
            " 3.0.1 ",
            "v3.0.1",
            "-v3.0.1",
            "3.0.1.",
            "3.0.1. ",
            "13.0.1",
            "3.0.10",
            "3.0.1.2",
            "dev3.0.1",
            "1.3.0.1",
            "3.0.1a",
            "x3.0.1",
            "3.0.1-vcd",
        ];
        for window_end in [CHUNK_BYTES, 2 * CHUNK_BYTES - (5 + 4)] {
            for snippet in snippets {
                for offset in window_end - 12..window_end + 4 {
                    let mut text = vec![b'\n'; offset];
                    text.extend_from_slice(snippet.as_bytes());
                    let (windowed, whole) = search_both_ways(&text, "3.0.1");
                    assert_eq!(
                        windowed, whole,
                        "{snippet:?} at {offset}, file ends after it"
                    );
                    text.extend_from_slice(b"\n\n\n\n");
                    let (windowed, whole) = search_both_ways(&text, "3.0.1");
                    assert_eq!(windowed, whole, "{snippet:?} at {offset}");
                }
            }
        }
    }

    #[test]
    fn binary_and_large_files_are_told_apart() {
        let needle = Finder::new("3.0.1");
        let mut bufs = Buffers::new();
        let mut text = b"3.0.1\n".to_vec();
        text.resize(MAX_FILE_BYTES as usize + 1, b' ');
        let found = mentions_in(std::io::Cursor::new(&text), &needle, 5, &mut bufs).unwrap();
        assert!(matches!(found, Found::Large));
        text.truncate(MAX_FILE_BYTES as usize);
        let found = mentions_in(std::io::Cursor::new(&text), &needle, 5, &mut bufs).unwrap();
        assert!(matches!(found, Found::Mentions));
        text[BINARY_PROBE_BYTES - 1] = 0;
        let found = mentions_in(std::io::Cursor::new(&text), &needle, 5, &mut bufs).unwrap();
        assert!(matches!(found, Found::Binary));
        text[BINARY_PROBE_BYTES - 1] = b' ';
        text[BINARY_PROBE_BYTES] = 0;
        let found = mentions_in(std::io::Cursor::new(&text), &needle, 5, &mut bufs).unwrap();
        assert!(matches!(found, Found::Mentions));
    }

    #[test]
    fn long_lines_keep_the_mention_in_view() {
        let line = format!("{}3.0.1{}", "a ".repeat(300), " b".repeat(300));
        let shown = line_text(line.as_bytes(), 600);
        assert!(shown.contains("3.0.1"), "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().count(), MAX_TEXT_CHARS + 2);
        assert_eq!(line_text(b"x = 3.0.1  \r", 4), "x = 3.0.1");
    }

    #[test]
    fn version_validation() {
        assert!(validate_version("3.0.1").is_ok());
        assert!(validate_version("1:1.3.4-2.1ubuntu5.5").is_ok());
        assert!(validate_version("5:20.10.13~3-0~ubuntu-bionic").is_ok());
        assert!(validate_version("").is_err());
        assert!(validate_version("3.0 .1").is_err());
        assert!(validate_version("3.0.1;rm").is_err());
        assert!(validate_version(&"1".repeat(201)).is_err());
    }
}
