//! The mobiledgex package's `dependencies`: one `name constraint` a line, e.g.
//! `kubeadm                         =1.18.20-00`; `#` starts a comment line.

use std::ops::Range;

use super::{is_blank, lines};
use crate::debian::version::DebVersion;

/// One pin: `name`, a run of blanks, an operator glued to a Debian version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub op: String,
    pub version: String,
    pub line: usize,
    pub version_span: Range<usize>,
}

/// A line that is neither a comment, blank, nor a valid pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub text: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    pub pins: Vec<Pin>,
    pub errors: Vec<SyntaxError>,
}

/// A pin line split into its parts; `None` unless the whole line reads
/// `name`, blanks, an operator, blanks (which are an error), a version, and
/// nothing but blanks after it. Hand-written rather than a pattern: it runs
/// on every line, and is the pattern
/// `^([^ \t]+)[ \t]+(>=|<=|<<|>>|=|<|>)([ \t]*)([^ \t]+)[ \t]*$`, the
/// operators tried in that order (a unit test holds it to the pattern).
#[derive(Debug, PartialEq, Eq)]
struct PinLine<'t> {
    name: &'t str,
    op: &'t str,
    sep: &'t str,
    version: &'t str,
    /// Where the version starts in the line.
    version_at: usize,
}

const OPERATORS: [&str; 7] = [">=", "<=", "<<", ">>", "=", "<", ">"];

fn split_pin_line(line: &str) -> Option<PinLine<'_>> {
    let name_end = line.find(is_blank)?;
    let (name, rest) = line.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let after_blanks = rest.trim_start_matches(is_blank);
    OPERATORS.iter().find_map(|op| {
        let after_op = after_blanks.strip_prefix(op)?;
        let version_part = after_op.trim_start_matches(is_blank);
        let sep = &after_op[..after_op.len() - version_part.len()];
        let version_end = version_part.find(is_blank).unwrap_or(version_part.len());
        let (version, tail) = version_part.split_at(version_end);
        if version.is_empty() || !tail.chars().all(is_blank) {
            return None;
        }
        Some(PinLine {
            name,
            op,
            sep,
            version,
            version_at: line.len() - version_part.len(),
        })
    })
}

/// `[a-z0-9][a-z0-9+.-]+`, Debian policy's package name.
fn is_package_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

pub fn parse(text: &str) -> Dependencies {
    let mut deps = Dependencies::default();
    for (number, start, line) in lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let error = |message: String| SyntaxError {
            line: number,
            text: line.to_string(),
            message,
        };
        let Some(pin) = split_pin_line(line) else {
            deps.errors.push(error(
                "expected `name`, blanks, then a constraint such as `=1.18.20-00`".into(),
            ));
            continue;
        };
        let PinLine {
            name,
            op,
            sep,
            version,
            version_at,
        } = pin;
        if !is_package_name(name) {
            deps.errors.push(error(format!(
                "`{name}` is not a valid Debian package name"
            )));
        } else if op == "<" || op == ">" {
            deps.errors.push(error(format!(
                "`{op}` is deprecated and ambiguous in Debian; use `{op}=` or `{op}{op}`"
            )));
        } else if !sep.is_empty() {
            deps.errors.push(error(format!(
                "the operator must be glued to the version: `{op}{version}`"
            )));
        } else if let Err(why) = DebVersion::parse(version) {
            deps.errors
                .push(error(format!("invalid Debian version: {why}")));
        } else if deps.pins.iter().any(|pin| pin.name == name) {
            deps.errors.push(error(format!("`{name}` is listed twice")));
        } else {
            deps.pins.push(Pin {
                name: name.to_string(),
                op: op.to_string(),
                version: version.to_string(),
                line: number,
                version_span: start + version_at..start + version_at + version.len(),
            });
        }
    }
    deps
}

impl Dependencies {
    pub fn get(&self, name: &str) -> Option<&Pin> {
        self.pins.iter().find(|pin| pin.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::splice;

    const TEXT: &str = "# kubernetes: also update ../packer/docker-image-cache.txt\nkubeadm                         =1.18.20-00\ndocker-ce\t=5:20.10.13~3-0~ubuntu-bionic\r\nlibfoo                          >=1.0.4+nmu2ubuntu1\n\nchef                            =17.6.18-1";

    #[test]
    fn parses_spaces_tabs_crlf_and_no_final_newline() {
        let deps = parse(TEXT);
        assert!(deps.errors.is_empty(), "{:?}", deps.errors);
        let names: Vec<_> = deps.pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["kubeadm", "docker-ce", "libfoo", "chef"]);
        let docker = deps.get("docker-ce").unwrap();
        assert_eq!(
            (docker.op.as_str(), docker.version.as_str(), docker.line),
            ("=", "5:20.10.13~3-0~ubuntu-bionic", 3)
        );
        assert_eq!(deps.get("libfoo").unwrap().op, ">=");
    }

    #[test]
    fn editing_a_pin_keeps_alignment_and_tabs() {
        let deps = parse(TEXT);
        let docker = deps.get("docker-ce").unwrap();
        let edited = splice(TEXT, &docker.version_span, "5:20.10.14~3-0~ubuntu-bionic");
        assert_eq!(edited, TEXT.replace("5:20.10.13~3", "5:20.10.14~3"));
    }

    /// The hand-written split against the pattern it replaces, on every
    /// line made of up to four pieces from a set of awkward ones.
    #[test]
    fn splits_pin_lines_as_the_pattern_does() {
        let pattern = crate::formats::regex(
            r"^(?P<name>[^ \t]+)[ \t]+(?P<op>>=|<=|<<|>>|=|<|>)(?P<sep>[ \t]*)(?P<v>[^ \t]+)[ \t]*$",
        );
        let pieces = [
            "a", "kubeadm", " ", "\t", "=", ">", "<", ">=", "<<", ">>", "==", "1.0", "\r", "#", "",
        ];
        let lines = crate::formats::awkward_texts(&pieces, 4);
        assert!(lines.len() > 10_000, "{} lines", lines.len());
        for line in &lines {
            let expected = pattern.captures(line).map(|caps| PinLine {
                name: caps.name("name").unwrap().as_str(),
                op: caps.name("op").unwrap().as_str(),
                sep: caps.name("sep").unwrap().as_str(),
                version: caps.name("v").unwrap().as_str(),
                version_at: caps.name("v").unwrap().start(),
            });
            assert_eq!(split_pin_line(line), expected, "{line:?}");
        }
    }

    #[test]
    fn package_names_follow_debian_policy() {
        for good in ["kubeadm", "docker-ce", "libc6", "g++", "a.b", "0ad"] {
            assert!(is_package_name(good), "{good}");
        }
        for bad in ["", "a", "Bar", "-x", "+x", ".x", "a_b", "a b", "café"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn reports_each_bad_line() {
        let deps = parse("kubeadm\nfoo = 1.0\nBar =1.0\nbaz =x1\nqux =1.0\nqux =1.1\n");
        let lines: Vec<_> = deps.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 6]);
        assert!(deps.errors[1].message.contains("glued"));
        assert!(deps.errors[4].message.contains("twice"));
    }
}
