//! An in-memory monorepo for unit tests: the repository's own rendition (or
//! an overlay of it) read once from disk, then edited in memory, so
//! `sites::load` and `rules::evaluate` run in microseconds per case.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    /// Chef layout A: the repository's own files.
    A,
    /// Layout B: `tests/fixtures/layout-b` laid over A.
    B,
    /// The real monorepo's variety: `tests/fixtures/realistic` laid over A.
    Realistic,
}

#[derive(Debug, Clone, Default)]
pub struct MemTree {
    files: BTreeMap<String, Vec<u8>>,
}

/// The monorepo folders of the rendition, relative to the workspace.
const PARTS: [&str; 4] = ["openstack-tenant", "chef", "vmlayer", "version"];

impl MemTree {
    pub fn rendition(which: Rendition) -> MemTree {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = crate_dir.parent().expect("the crate is in a workspace");
        let mut tree = MemTree::default();
        for part in PARTS {
            tree.lay(&workspace.join(part), part);
        }
        let overlay = match which {
            Rendition::A => None,
            Rendition::B => Some("layout-b"),
            Rendition::Realistic => Some("realistic"),
        };
        if let Some(overlay) = overlay {
            let dir = crate_dir.join("tests/fixtures").join(overlay);
            for part in PARTS {
                tree.lay(&dir.join(part), part);
            }
        }
        tree
    }

    /// Every file below `dir` (skipping build output), at `prefix/…`.
    fn lay(&mut self, dir: &Path, prefix: &str) {
        for entry in walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(|e| e.ok())
        {
            let name = entry.file_name().to_string_lossy();
            if !entry.file_type().is_file() || name.ends_with(".deb") {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).expect("below dir");
            let rel = format!("{prefix}/{}", rel.to_string_lossy());
            if rel.contains("/mobiledgex_") {
                continue; // a package build folder
            }
            let bytes = std::fs::read(entry.path()).expect("readable rendition");
            self.files.insert(rel, bytes);
        }
    }

    /// Every file's path, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    pub fn text(&self, rel: &str) -> &str {
        std::str::from_utf8(&self.files[rel]).expect("UTF-8")
    }

    /// Replaces `from`, which must occur exactly once in `rel`, by `to`.
    pub fn edit(&mut self, rel: &str, from: &str, to: &str) {
        let text = self.text(rel);
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {rel}");
        let edited = text.replacen(from, to, 1);
        self.files.insert(rel.to_string(), edited.into_bytes());
    }

    pub fn write(&mut self, rel: &str, text: &str) {
        self.files.insert(rel.to_string(), text.as_bytes().to_vec());
    }

    pub fn remove(&mut self, rel: &str) {
        assert!(self.files.remove(rel).is_some(), "{rel} is not in the tree");
    }

    /// The 1-based line of the only line of `rel` that starts (after blanks)
    /// with `needle`.
    pub fn line_of(&self, rel: &str, needle: &str) -> usize {
        let lines: Vec<usize> = self
            .text(rel)
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_start().starts_with(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "{needle:?} in {rel}: lines {lines:?}");
        lines[0]
    }
}

impl Tree for MemTree {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.files.get(rel).cloned())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        Ok(super::children(self.files.keys().map(String::as_str), dir))
    }

    fn label(&self) -> String {
        "memory".into()
    }
}
