//! How the builds ended, told to the user: the summary table (or its JSON),
//! the logs, the follow-up tasks and the verdict.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::{template_outputs, BuildResult, BuildState};
use crate::context::Context;
use crate::error::AlreadyReported;

/// The summary table (for several platforms), the follow-up tasks, the verdict.
pub(super) fn finish(
    ctx: &Context,
    results: &[BuildResult],
    table: bool,
    json: bool,
    version: &str,
) -> Result<()> {
    if json {
        ctx.answer(summary_json(results));
    } else if table {
        ctx.say(summary_table(results));
    }
    for result in results.iter().filter(|r| r.state == BuildState::Built) {
        if let Some(log) = &result.log {
            ctx.say(format!(
                "log of the {} build: {}",
                result.target.name(),
                log.display()
            ));
        }
    }
    for result in results.iter().filter(|r| r.state == BuildState::Failed) {
        if let Some(log) = &result.log {
            ctx.say(format!(
                "log of the failed {} build: {}",
                result.target.name(),
                log.display()
            ));
        }
    }
    if results.iter().all(|r| r.state == BuildState::Built) {
        let names: Vec<&str> = results.iter().map(|r| r.image.as_str()).collect();
        // What build.sh left to the upload-baseimage job: publish-image does it.
        let mut publish = format!("  - compress and upload the image to Artifactory (where cloudlets download it):\n      cargo xtask publish-image {version}\n");
        let debug = results.iter().any(|r| {
            template_outputs(ctx, &r.image)
                .iter()
                .any(|o| o.ends_with("-dbg"))
        });
        if debug {
            publish.push_str(&format!(
                "      cargo xtask publish-image {version} --debug\n"
            ));
        }
        ctx.say(format!(
            "{} {} in glance.\nFollow-up:\n{publish}  - after the rollout of the supporting code: cargo xtask chef-push --group <group>",
            ctx.paint.good("built:"),
            names.join(", ")
        ));
        return Ok(());
    }
    Err(AlreadyReported.into())
}

/// The summary for machines: `{"images": [{"target", "image", "result", "seconds", "log"}]}`.
fn summary_json(results: &[BuildResult]) -> String {
    let images: Vec<Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "target": r.target.name(),
                "image": r.image,
                "result": r.state.name(),
                "seconds": (r.state != BuildState::NotRun).then_some(r.elapsed.as_secs_f64()),
                "log": r.log.as_ref().map(|log| log.display().to_string()),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "images": images })).unwrap_or_default()
}

/// `platform  image  result  duration`, one row per platform.
fn summary_table(results: &[BuildResult]) -> String {
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            [
                r.target.name().to_string(),
                r.image.clone(),
                r.state.name().to_string(),
                match r.state {
                    BuildState::NotRun => "-".to_string(),
                    _ => duration(r.elapsed),
                },
            ]
        })
        .collect();
    let header = ["platform", "image", "result", "duration"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out.trim_end().to_string()
}

/// `14m05s`, `3.1s`.
pub fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_image::Target;
    use crate::flags::Platform;

    #[test]
    fn summary_table_aligns_columns() {
        let result = |platform, image: &str, state, secs| BuildResult {
            target: Target::Platform(platform),
            image: image.into(),
            state,
            elapsed: Duration::from_secs(secs),
            log: None,
        };
        let table = summary_table(&[
            result(
                Platform::Openstack,
                "mobiledgex-v3.0.1",
                BuildState::Built,
                845,
            ),
            result(
                Platform::Vcd,
                "mobiledgex-v3.0.1-vcd",
                BuildState::Failed,
                242,
            ),
            result(
                Platform::Vsphere,
                "mobiledgex-v3.0.1-vsphere",
                BuildState::NotRun,
                0,
            ),
        ]);
        assert_eq!(
            table,
            "platform   image                      result   duration\n\
             openstack  mobiledgex-v3.0.1          built    14m05s\n\
             vcd        mobiledgex-v3.0.1-vcd      failed   4m02s\n\
             vsphere    mobiledgex-v3.0.1-vsphere  not run  -"
        );
    }
}
