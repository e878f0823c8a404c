//! `cargo xtask deps show`: every pin with its operator, version and line.

use anyhow::Result;
use serde_json::json;

use crate::context::Context;

pub fn run(ctx: &Context, json: bool) -> Result<()> {
    let inventory = ctx.inventory()?;
    let deps = &inventory.dependencies;
    if json {
        let pins: Vec<_> = deps
            .pins
            .iter()
            .map(|pin| json!({"name": pin.name, "op": pin.op, "version": pin.version, "line": pin.line}))
            .collect();
        ctx.answer(serde_json::to_string_pretty(&json!({ "pins": pins }))?);
        return Ok(());
    }
    let width = deps
        .pins
        .iter()
        .map(|pin| pin.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    ctx.answer(format!("{:width$}  op  {:40}  line", "package", "version"));
    for pin in &deps.pins {
        ctx.answer(format!(
            "{:width$}  {:2}  {:40}  {}",
            pin.name, pin.op, pin.version, pin.line
        ));
    }
    for error in &deps.errors {
        ctx.warn(format!(
            "line {}: {}: `{}`",
            error.line,
            error.message,
            error.text.trim()
        ));
    }
    Ok(())
}
