//! Chef's Ruby files: cookbook `metadata.rb`, recipes, attributes and policyfiles.
//! Only literal values are sites; anything computed is left alone.

use super::{lines, regex, scan, Found};

/// `version '1.0.14'` in metadata.rb (never `chef_version '>= 14.0'`).
pub fn metadata_version(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(r#"^[ \t]*version[ \t]*\(?[ \t]*['"](?P<v>[^'"]+)['"][ \t]*\)?[ \t]*(?:#.*)?$"#),
    )
}

/// `name 'base'` in a policyfile (or a cookbook's metadata.rb).
pub fn name(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(r#"^[ \t]*name[ \t]*\(?[ \t]*['"](?P<v>[^'"]+)['"]"#),
    )
}

/// Every cookbook a policyfile names (`cookbook 'x'`, pinned or not).
pub fn cookbook_names(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(r#"^[ \t]*cookbook[ \t(]+['"](?P<v>[^'"]+)['"]"#),
    )
}

/// `cookbook 'name', '= 1.0.14'` in a policyfile: key = cookbook, value = version.
/// Pins of other forms (`'~> 1.0'`, `path:`) are not exact pins and not returned.
pub fn cookbook_pins(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(
            r#"^[ \t]*cookbook[ \t(]+['"](?P<k>[^'"]+)['"][ \t]*,[ \t]*['"]=[ \t]*(?P<v>[0-9][^'" \t]*)['"][ \t)]*(?:#.*)?$"#,
        ),
    )
}

/// A literal attribute assignment `default['a']['b'] = 'value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub path: Vec<String>,
    pub value: Literal,
    /// `key` is the path joined with `.`; `value` the literal's text.
    pub found: Found,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// Every `default[...] = <literal>` line. Interpolated strings, symbols as values
/// and expressions are not literals and are skipped.
pub fn default_attributes(text: &str) -> Vec<Attribute> {
    let line_pattern = regex(
        r#"^[ \t]*default(?P<keys>(?:\[[ \t]*(?:'[^']*'|"[^"]*"|:[0-9A-Za-z_]+)[ \t]*\])+)[ \t]*=[ \t]*(?:'(?P<sq>[^'\\]*)'|"(?P<dq>[^"\\]*)"|(?P<lit>-?[0-9]+|true|false))[ \t]*(?:#.*)?$"#,
    );
    let key_pattern =
        regex(r#"\[[ \t]*(?:'(?P<a>[^']*)'|"(?P<b>[^"]*)"|:(?P<c>[0-9A-Za-z_]+))[ \t]*\]"#);
    let mut attributes = Vec::new();
    for (number, start, line) in lines(text) {
        let Some(caps) = line_pattern.captures(line) else {
            continue;
        };
        let path: Vec<String> = key_pattern
            .captures_iter(&caps["keys"])
            .filter_map(|k| k.name("a").or(k.name("b")).or(k.name("c")))
            .map(|k| k.as_str().to_string())
            .collect();
        let (matched, value) = if let Some(m) = caps.name("sq") {
            (m, Literal::Str(m.as_str().to_string()))
        } else if let Some(m) = caps.name("dq") {
            if m.as_str().contains("#{") {
                continue;
            }
            (m, Literal::Str(m.as_str().to_string()))
        } else if let Some(m) = caps.name("lit") {
            let value = match m.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                number => match number.parse() {
                    Ok(n) => Literal::Int(n),
                    Err(_) => continue,
                },
            };
            (m, value)
        } else {
            continue;
        };
        attributes.push(Attribute {
            found: Found {
                key: path.join("."),
                line: number,
                value: matched.as_str().to_string(),
                span: start + matched.start()..start + matched.end(),
            },
            path,
            value,
        });
    }
    attributes
}

/// The `uri '…'` literal inside every `apt_repository '<repo>' do … end` block.
pub fn apt_repository_uri(text: &str, repo: &str) -> Vec<Found> {
    let opening = regex(&format!(
        r#"^(?P<indent>[ \t]*)apt_repository[ \t(]+['"]{}['"][ \t)]*do\b"#,
        regex::escape(repo)
    ));
    let uri = regex(r#"^[ \t]*uri[ \t(]+['"](?P<v>[^'"]+)['"][ \t)]*(?:#.*)?$"#);
    let mut found = Vec::new();
    let mut closing: Option<String> = None;
    for (number, start, line) in lines(text) {
        match &closing {
            None => {
                if let Some(caps) = opening.captures(line) {
                    // The block ends at `end` with the opening line's indentation.
                    closing = Some(format!("{}end", &caps["indent"]));
                }
            }
            Some(end) => {
                if line.trim_end() == end.as_str() {
                    closing = None;
                } else if let Some(caps) = uri.captures(line) {
                    if let Some(value) = caps.name("v") {
                        found.push(Found {
                            key: repo.to_string(),
                            line: number,
                            value: value.as_str().to_string(),
                            span: start + value.start()..start + value.end(),
                        });
                    }
                }
            }
        }
    }
    found
}

/// A Ruby local assigned a string literal: `defaultMobiledgeXPackageVersion = '3.0.1'`.
pub fn local(text: &str, name: &str) -> Vec<Found> {
    scan(
        text,
        &regex(&format!(
            r#"^[ \t]*{}[ \t]*=[ \t]*['"](?P<v>[^'"]*)['"][ \t]*(?:#.*)?$"#,
            regex::escape(name)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "name 'upgrade_mobiledgex_package'\nmaintainer 'MobiledgeX'\nversion '1.0.14'\nchef_version '>= 14.0'\n";

    #[test]
    fn metadata_version_is_not_chef_version() {
        let found = metadata_version(METADATA);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].value.as_str()), (3, "1.0.14"));
        assert_eq!(name(METADATA)[0].value, "upgrade_mobiledgex_package");
    }

    #[test]
    fn pins_and_attributes_of_a_policyfile() {
        let text = "name 'base'\ncookbook 'upgrade_mobiledgex_package', '= 1.0.14'\ncookbook \"setup_infra\", \"= 1.0.3\" # note\ncookbook 'x', '~> 1.0'\ndefault['chef_client_updater']['version'] = \"17.6.18\"\ndefault['a'][:b] = 3\ndefault['c'] = \"#{x}\"\ndefault['d'] = node['e']\n";
        let pins = cookbook_pins(text);
        assert_eq!(pins.len(), 2);
        assert_eq!(
            (pins[1].key.as_str(), pins[1].value.as_str()),
            ("setup_infra", "1.0.3")
        );
        let attributes = default_attributes(text);
        assert_eq!(attributes.len(), 2);
        assert_eq!(attributes[0].path, vec!["chef_client_updater", "version"]);
        assert_eq!(attributes[0].value, Literal::Str("17.6.18".into()));
        assert_eq!(&text[attributes[0].found.span.clone()], "17.6.18");
        assert_eq!(attributes[1].value, Literal::Int(3));
    }

    #[test]
    fn uri_only_inside_the_named_block() {
        let text = "apt_repository 'bionic' do\n  uri 'https://apt.mobiledgex.net/cirrus/2021-02-01'\n  components ['main']\nend\n\napt_repository 'cirrus' do\n  uri 'https://artifactory.mobiledgex.net/artifactory/packages'\nend\nuri 'https://elsewhere/2020-01-01'\n";
        let found = apt_repository_uri(text, "bionic");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 2);
        assert_eq!(
            found[0].value,
            "https://apt.mobiledgex.net/cirrus/2021-02-01"
        );
    }

    #[test]
    fn ruby_local() {
        let found = local(
            "defaultMobiledgeXPackageVersion = '3.0.1'\nx = defaultMobiledgeXPackageVersion\n",
            "defaultMobiledgeXPackageVersion",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, "3.0.1");
    }
}
