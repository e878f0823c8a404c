//! The only code that writes files. A command plans every edit here
//! (`model`), can look at the result (`view`, `preview`) and then writes all
//! of it or none of it (`commit`, with the `journal` against a kill half-way).
#![allow(clippy::disallowed_methods)] // the one place that writes the monorepo's files

use anyhow::Result;

mod commit;
mod journal;
mod model;
mod preview;
#[cfg(test)]
mod tests;

pub use commit::{journal_exists, recover_interrupted};
pub use model::Changeset;

/// After planning, a command re-reads the planned files; `wrong` lists the
/// sites that do not read as intended. That is a bug in an editor, not bad
/// input: stop before anything is written and say so plainly.
pub fn ensure_reread(wrong: &[String]) -> Result<()> {
    if wrong.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the planned edit does not re-read as intended, nothing was written:\n  {}",
        wrong.join("\n  ")
    )
}
