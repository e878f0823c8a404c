//! Go string variables: `var MEXInfraVersion = "3.0.1"`.

use super::{regex, scan, Found};

/// Every assignment of a string literal to the variable `name`, at top level
/// (`var Name = "…"`) or inside a `var ( … )` group (`Name = "…"`).
pub fn string_var(text: &str, name: &str) -> Vec<Found> {
    let pattern = format!(
        r#"^[ \t]*(?:var[ \t]+)?{}[ \t]*(?:string[ \t]*)?=[ \t]*"(?P<v>[^"\\]*)"[ \t]*(?://.*)?$"#,
        regex::escape(name)
    );
    scan(text, &regex(&pattern).requiring(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_the_named_variable() {
        let text = "package vmlayer\n\nvar MEXInfraVersion = \"3.0.1\"\nvar MEXInfraVersionOld = \"2.0\"\nvar ImageFormatVersion = \"1.0\"\n// MEXInfraVersion = \"0.1\"\n";
        let found = string_var(text, "MEXInfraVersion");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].value.as_str()), (3, "3.0.1"));
    }

    #[test]
    fn finds_typed_and_grouped_forms() {
        let text = "var (\n\tMEXInfraVersion string = \"3.0.2\" // keep in sync\n)\n";
        assert_eq!(string_var(text, "MEXInfraVersion")[0].value, "3.0.2");
    }
}
