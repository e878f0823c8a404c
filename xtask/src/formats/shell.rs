//! Shell assignments: `APT_REPO="https://apt.mobiledgex.net/cirrus/2021-02-01"`.

use super::{regex, Found};

/// Every assignment `NAME=value` (optionally `export`ed, value quoted or not).
pub fn assignment(text: &str, name: &str) -> Vec<Found> {
    let pattern = format!(
        r#"^[ \t]*(?:export[ \t]+|readonly[ \t]+)?{}=(?:"(?P<v>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^ \t"';#]+))"#,
        regex::escape(name)
    );
    // The value is in whichever of the three quoting alternatives matched.
    let pattern = regex(&pattern).requiring(&format!("{name}="));
    let mut found = Vec::new();
    for (number, start, line) in super::lines(text) {
        if let Some(caps) = pattern.captures(line) {
            if let Some(value) = caps
                .name("v")
                .or_else(|| caps.name("sq"))
                .or_else(|| caps.name("bare"))
            {
                found.push(Found {
                    key: String::new(),
                    line: number,
                    value: value.as_str().to_string(),
                    span: start + value.start()..start + value.end(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_quoted_values_and_ignores_look_alikes() {
        let text = "APT_REPO=\"https://apt.mobiledgex.net/cirrus/2021-02-01\"\nARTIFACTORY_ARTIFACTS_TAG='2021-10-05'\nMY_APT_REPO=x\n# APT_REPO=y\n";
        let found = assignment(text, "APT_REPO");
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].value,
            "https://apt.mobiledgex.net/cirrus/2021-02-01"
        );
        assert_eq!(&text[found[0].span.clone()], found[0].value);
    }

    #[test]
    fn single_quotes_and_export() {
        let found = assignment("  export APT_REPO='u'\n", "APT_REPO");
        assert_eq!(found[0].value, "u");
    }
}
