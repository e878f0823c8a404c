//! Chef's Ruby files: cookbook `metadata.rb`, recipes, attributes and policyfiles.
//! Only literal values are sites; anything computed is left alone.

use std::ops::Range;

use super::{blanks_from, lines, regex, scan, Found};

/// `version '1.0.14'` in metadata.rb (never `chef_version '>= 14.0'`).
pub fn metadata_version(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(r#"^[ \t]*version[ \t]*\(?[ \t]*['"](?P<v>[^'"]+)['"][ \t]*\)?[ \t]*(?:#.*)?$"#)
            .requiring("version"),
    )
}

/// `name 'base'` in a policyfile (or a cookbook's metadata.rb).
pub fn name(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(r#"^[ \t]*name[ \t]*\(?[ \t]*['"](?P<v>[^'"]+)['"]"#).requiring("name"),
    )
}

/// `cookbook 'name', '= 1.0.14'` in a policyfile: key = cookbook, value = version.
/// Pins of other forms (`'~> 1.0'`, `path:`) are not exact pins and not returned.
pub fn cookbook_pins(text: &str) -> Vec<Found> {
    scan(
        text,
        &regex(
            r#"^[ \t]*cookbook[ \t(]+['"](?P<k>[^'"]+)['"][ \t]*,[ \t]*['"]=[ \t]*(?P<v>[0-9][^'" \t]*)['"][ \t)]*(?:#.*)?$"#,
        )
        .requiring("cookbook"),
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
    attributes(text, Precedence::Default)
}

/// The two attribute levels a policyfile can set; `chef install` copies each
/// into the lock (`default_attributes`, `override_attributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precedence {
    Default,
    Override,
}

impl Precedence {
    pub fn keyword(self) -> &'static str {
        match self {
            Precedence::Default => "default",
            Precedence::Override => "override",
        }
    }
}

/// `<level>['a'][:b]… =` at the start of `line` (after blanks, no blank
/// before the first `[`): the keys, and where the line goes on after the
/// `=`. Hand-written, like the scanners below, rather than a pattern (a
/// unit test holds `attributes` and `assigned_paths` to the patterns they
/// used): it runs on every line of every policyfile.
fn keyed_assignment(line: &str, level: Precedence) -> Option<(Vec<&str>, usize)> {
    let start = blanks_from(line, 0);
    let mut at = start + level.keyword().len();
    if !line[start..].starts_with(level.keyword()) {
        return None;
    }
    let mut keys = Vec::new();
    while line.as_bytes().get(at) == Some(&b'[') {
        let Some((key, end)) = bracketed_key(line, at + 1) else {
            break;
        };
        keys.push(key);
        at = end;
    }
    let equals = blanks_from(line, at);
    (!keys.is_empty() && line.as_bytes().get(equals) == Some(&b'=')).then_some((keys, equals + 1))
}

/// The literal assigned at `at` (after blanks): `'text'` or `"text"` without
/// a backslash (the text's range), an integer or `true`/`false` (the
/// literal's range), followed only by blanks and a `#` comment.
fn literal_at(line: &str, at: usize) -> Option<(Range<usize>, bool)> {
    let bytes = line.as_bytes();
    let at = blanks_from(line, at);
    let (range, quoted, after) = match *bytes.get(at)? {
        quote @ (b'\'' | b'"') => {
            let len = bytes[at + 1..]
                .iter()
                .position(|&b| b == quote || b == b'\\')?;
            if bytes[at + 1 + len] != quote {
                return None;
            }
            (at + 1..at + 1 + len, true, at + len + 2)
        }
        _ if line[at..].starts_with("true") => (at..at + 4, false, at + 4),
        _ if line[at..].starts_with("false") => (at..at + 5, false, at + 5),
        _ => {
            let sign = usize::from(bytes[at] == b'-');
            let digits = bytes[at + sign..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 {
                return None;
            }
            let end = at + sign + digits;
            (at..end, false, end)
        }
    };
    let rest = blanks_from(line, after);
    (rest == line.len() || bytes[rest] == b'#').then_some((range, quoted))
}

/// What follows a `[` at `from`: blanks, a quoted string or a symbol,
/// blanks, `]`; the key and where the text goes on after the `]`.
fn bracketed_key(text: &str, from: usize) -> Option<(&str, usize)> {
    let (key, after) = word_at(text, blanks_from(text, from))?;
    let end = blanks_from(text, after);
    (text.as_bytes().get(end) == Some(&b']')).then_some((key, end + 1))
}

/// The quoted string (`'a'`, `"b"`) or symbol (`:c`) that starts at `at`,
/// and where the text goes on after it.
fn word_at(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    match *bytes.get(at)? {
        quote @ (b'\'' | b'"') => {
            let len = bytes[at + 1..].iter().position(|&b| b == quote)?;
            Some((&text[at + 1..at + 1 + len], at + len + 2))
        }
        b':' => {
            let len = bytes[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            (len > 0).then(|| (&text[at + 1..at + 1 + len], at + 1 + len))
        }
        _ => None,
    }
}

/// The quoted strings and symbols of `text`, in order (how a run list's
/// items are written). Hand-written rather than the pattern
/// `'([^']*)'|"([^"]*)"|:([0-9A-Za-z_]+)` (a unit test holds it to the
/// pattern): it runs on every run list.
fn quoted_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut at = 0;
    while at < text.len() {
        match word_at(text, at) {
            Some((word, after)) => {
                words.push(word);
                at = after;
            }
            None => at += 1,
        }
    }
    words
}

/// Every `<level>[...] = <literal>` line of one level.
pub fn attributes(text: &str, level: Precedence) -> Vec<Attribute> {
    let mut attributes = Vec::new();
    for (number, start, line) in lines(text) {
        let Some((keys, after)) = keyed_assignment(line, level) else {
            continue;
        };
        let Some((range, quoted)) = literal_at(line, after) else {
            continue;
        };
        let literal = &line[range.clone()];
        let value = if quoted {
            let interpolated = line.as_bytes()[range.start - 1] == b'"' && literal.contains("#{");
            if interpolated {
                continue;
            }
            Literal::Str(literal.to_string())
        } else {
            match literal {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                number => match number.parse() {
                    Ok(n) => Literal::Int(n),
                    Err(_) => continue,
                },
            }
        };
        let path: Vec<String> = keys.into_iter().map(str::to_string).collect();
        attributes.push(Attribute {
            found: Found {
                key: path.join("."),
                line: number,
                value: literal.to_string(),
                span: start + range.start..start + range.end,
            },
            path,
            value,
        });
    }
    attributes
}

/// The key path of every `<level>[...] =` assignment, literal or computed: what
/// the policyfile still sets at all (not `==` or `=~`, comparisons).
pub fn assigned_paths(text: &str, level: Precedence) -> Vec<Vec<String>> {
    lines(text)
        .filter_map(|(_, _, line)| {
            let (keys, after) = keyed_assignment(line, level)?;
            let next = *line.as_bytes().get(after)?;
            (next != b'=' && next != b'~').then(|| keys.into_iter().map(str::to_string).collect())
        })
        .collect()
}

/// A `cookbook 'name'[, 'constraint']` line of a policyfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    /// `= 1.0.14`, `~> 1.2`, …; `None`: any version (or a source option such as `path:`).
    pub constraint: Option<String>,
    pub line: usize,
}

pub fn cookbook_requirements(text: &str) -> Vec<Requirement> {
    let pattern = regex(
        r#"^[ \t]*cookbook[ \t(]+['"](?P<k>[^'"]+)['"](?:[ \t]*,[ \t]*['"](?P<v>[^'"]*)['"])?"#,
    )
    .requiring("cookbook");
    lines(text)
        .filter_map(|(number, _, line)| {
            let caps = pattern.captures(line)?;
            Some(Requirement {
                name: caps["k"].to_string(),
                constraint: caps.name("v").map(|v| v.as_str().trim().to_string()),
                line: number,
            })
        })
        .collect()
}

/// A policyfile's `run_list` (name `None`) or `named_run_list :name`, its
/// items as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunList {
    pub name: Option<String>,
    pub items: Vec<String>,
    pub line: usize,
}

/// Every `run_list` and `named_run_list` statement, also when its items go on
/// over several lines (a trailing comma, an open bracket).
pub fn run_lists(text: &str) -> Vec<RunList> {
    let start =
        regex(r#"^[ \t]*(?P<kind>run_list|named_run_list)\b(?P<rest>.*)$"#).requiring("run_list");
    let mut found = Vec::new();
    let mut current: Option<(bool, usize, String)> = None;
    for (number, _, line) in lines(text) {
        let code = without_comment(line);
        match current.as_mut() {
            Some((_, _, statement)) => statement.push_str(code),
            None => {
                let Some(caps) = start.captures(code) else {
                    continue;
                };
                let named = &caps["kind"] == "named_run_list";
                current = Some((named, number, caps["rest"].to_string()));
            }
        }
        let (named, line, statement) = current.as_ref().unwrap();
        let open = statement.matches('[').count() > statement.matches(']').count()
            || statement.matches('(').count() > statement.matches(')').count();
        if open || statement.trim_end().ends_with(',') {
            continue;
        }
        let mut words = quoted_words(statement).into_iter().map(str::to_string);
        let name = if *named { words.next() } else { None };
        found.push(RunList {
            name,
            items: words.collect(),
            line: *line,
        });
        current = None;
    }
    found
}

/// A line without its `# comment` (a `#` inside quotes is not one).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    for (index, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..index],
            _ => {}
        }
    }
    line
}

/// A run list item as `chef install` locks it: `x`, `recipe[x]` and
/// `x::default` are all `recipe[x::default]`.
pub fn normalize_run_list_item(item: &str) -> String {
    let inner = item
        .trim()
        .strip_prefix("recipe[")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(item.trim());
    let (recipe, version) = match inner.split_once('@') {
        Some((recipe, version)) => (recipe, Some(version)),
        None => (inner, None),
    };
    let recipe = if recipe.contains("::") {
        recipe.to_string()
    } else {
        format!("{recipe}::default")
    };
    match version {
        Some(version) => format!("recipe[{recipe}@{version}]"),
        None => format!("recipe[{recipe}]"),
    }
}

/// The `uri '…'` literal inside every `apt_repository '<repo>' do … end` block.
pub fn apt_repository_uri(text: &str, repo: &str) -> Vec<Found> {
    let opening = regex(&format!(
        r#"^(?P<indent>[ \t]*)apt_repository[ \t(]+['"]{}['"][ \t)]*do\b"#,
        regex::escape(repo)
    ))
    .requiring("apt_repository");
    let uri = regex(r#"^[ \t]*uri[ \t(]+['"](?P<v>[^'"]+)['"][ \t)]*(?:#.*)?$"#).requiring("uri");
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
        ))
        .requiring(name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `quoted_words` against the pattern it replaced.
    #[test]
    fn words_are_found_as_the_pattern_found_them() {
        let word = regex(r#"'(?P<a>[^']*)'|"(?P<b>[^"]*)"|:(?P<c>[0-9A-Za-z_]+)"#);
        let texts = crate::formats::awkward_texts(
            &["[", "]", "'", "\"", ":", "a_1", " ", "\t", "é", "x]"],
            5,
        );
        assert!(texts.len() > 50_000, "{} texts", texts.len());
        for text in &texts {
            let found: Vec<&str> = word
                .captures_iter(text)
                .filter_map(|k| k.name("a").or(k.name("b")).or(k.name("c")))
                .map(|k| k.as_str())
                .collect();
            assert_eq!(quoted_words(text), found, "words of {text:?}");
        }
    }

    /// `attributes` and `assigned_paths` as they were, with patterns: the
    /// oracle of the scanners that replaced them.
    mod by_pattern {
        use super::super::*;

        const KEYS: &str = r#"(?P<keys>(?:\[[ \t]*(?:'[^']*'|"[^"]*"|:[0-9A-Za-z_]+)[ \t]*\])+)"#;

        fn key_path(keys: &str) -> Vec<String> {
            regex(r#"\[[ \t]*(?:'(?P<a>[^']*)'|"(?P<b>[^"]*)"|:(?P<c>[0-9A-Za-z_]+))[ \t]*\]"#)
                .captures_iter(keys)
                .filter_map(|k| k.name("a").or(k.name("b")).or(k.name("c")))
                .map(|k| k.as_str().to_string())
                .collect()
        }

        pub fn attributes(text: &str, level: Precedence) -> Vec<Attribute> {
            let line_pattern = regex(&format!(
                r#"^[ \t]*{}{KEYS}[ \t]*=[ \t]*(?:'(?P<sq>[^'\\]*)'|"(?P<dq>[^"\\]*)"|(?P<lit>-?[0-9]+|true|false))[ \t]*(?:#.*)?$"#,
                level.keyword()
            ));
            let mut attributes = Vec::new();
            for (number, start, line) in lines(text) {
                let Some(caps) = line_pattern.captures(line) else {
                    continue;
                };
                let path = key_path(&caps["keys"]);
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

        pub fn assigned_paths(text: &str, level: Precedence) -> Vec<Vec<String>> {
            let pattern = regex(&format!(r#"^[ \t]*{}{KEYS}[ \t]*=[^=~]"#, level.keyword()));
            lines(text)
                .filter_map(|(_, _, line)| pattern.captures(line))
                .map(|caps| key_path(&caps["keys"]))
                .collect()
        }
    }

    /// The attribute scanners against the patterns they replaced, on lines
    /// built from awkward parts: leading blanks, the keyword (and look-alikes),
    /// keys (and broken ones), the `=` (and `==`, `=~`), values (escaped,
    /// interpolated, unclosed, out of range) and what follows.
    #[test]
    fn attributes_are_found_as_the_patterns_found_them() {
        let parts: [&[&str]; 6] = [
            &["", " \t"],
            &["default", "override", "defaults"],
            &[
                "",
                "['a']",
                "[:b][\"c\"]",
                "[ 'a' ]\t",
                "['a'",
                "[:]",
                "['a']x",
                "['a'] ['b']",
            ],
            &["=", " = ", "==", "=~", " ", "=\t"],
            &[
                "'v'",
                "\"w\"",
                "\"#{x}\"",
                "'#{y}'",
                "'a\\b'",
                "12",
                "-3",
                "-",
                "99999999999999999999",
                "true",
                "false",
                "trueish",
                "'",
                "\"\"",
                "x",
                "",
            ],
            &["", " ", " # note", "#", " x", "'"],
        ];
        let mut lines = vec![String::new()];
        for choices in parts {
            lines = lines
                .iter()
                .flat_map(|line| choices.iter().map(move |part| format!("{line}{part}")))
                .collect();
        }
        let text = lines.join("\n");
        let mut attributes = 0;
        for level in [Precedence::Default, Precedence::Override] {
            let found = super::attributes(&text, level);
            assert_eq!(found, by_pattern::attributes(&text, level), "{level:?}");
            attributes += found.len();
            assert_eq!(
                super::assigned_paths(&text, level),
                by_pattern::assigned_paths(&text, level),
                "{level:?}"
            );
        }
        assert!(
            attributes > 1_000,
            "{attributes} attributes among {} lines",
            lines.len()
        );
    }

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
    fn requirements_run_lists_and_override_attributes() {
        let text = "cookbook 'a', '= 1.0.0'\ncookbook \"b\"\ncookbook 'c', '~> 1.2' # any 1.x\ncookbook 'd', path: '../d'\nrun_list 'x::default', 'recipe[y]', # first\n  'recipe[z::k8s]'\nnamed_run_list :local, 'recipe[y]'\noverride['main']['v'] = '2021-08-14-5'\ndefault['w'] = node['q']\ndefault['u'] == 1\n";
        let requirements = cookbook_requirements(text);
        let pairs: Vec<(&str, Option<&str>)> = requirements
            .iter()
            .map(|r| (r.name.as_str(), r.constraint.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", Some("= 1.0.0")),
                ("b", None),
                ("c", Some("~> 1.2")),
                ("d", None)
            ]
        );
        let lists = run_lists(text);
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].name, None);
        assert_eq!(
            lists[0].items,
            ["x::default", "recipe[y]", "recipe[z::k8s]"]
        );
        assert_eq!(lists[0].line, 5);
        assert_eq!(lists[1].name.as_deref(), Some("local"));
        assert_eq!(lists[1].items, ["recipe[y]"]);
        let overrides = attributes(text, Precedence::Override);
        assert_eq!(overrides[0].path, ["main", "v"]);
        assert_eq!(
            assigned_paths(text, Precedence::Default),
            [vec!["w".to_string()]]
        );
    }

    #[test]
    fn run_list_items_as_the_lock_has_them() {
        for (written, locked) in [
            ("x", "recipe[x::default]"),
            ("recipe[x]", "recipe[x::default]"),
            ("x::default", "recipe[x::default]"),
            (
                "recipe[setup_services::k8s-worker]",
                "recipe[setup_services::k8s-worker]",
            ),
            ("recipe[r@1.0.0]", "recipe[r::default@1.0.0]"),
        ] {
            assert_eq!(normalize_run_list_item(written), locked, "{written}");
        }
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
