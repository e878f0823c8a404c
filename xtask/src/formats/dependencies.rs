//! The mobiledgex package's `dependencies`: one `name constraint` a line, e.g.
//! `kubeadm                         =1.18.20-00`; `#` starts a comment line.

use std::ops::Range;

use super::{lines, regex};
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

pub fn parse(text: &str) -> Dependencies {
    let pin_line = regex(
        r"^(?P<name>[^ \t]+)[ \t]+(?P<op>>=|<=|<<|>>|=|<|>)(?P<sep>[ \t]*)(?P<v>[^ \t]+)[ \t]*$",
    );
    let package_name = regex(r"^[a-z0-9][a-z0-9+.-]+$");
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
        let Some(caps) = pin_line.captures(line) else {
            deps.errors.push(error(
                "expected `name`, blanks, then a constraint such as `=1.18.20-00`".into(),
            ));
            continue;
        };
        let (name, op, version) = (&caps["name"], &caps["op"], caps.name("v"));
        let Some(version) = version else { continue };
        if !package_name.is_match(name) {
            deps.errors.push(error(format!(
                "`{name}` is not a valid Debian package name"
            )));
        } else if op == "<" || op == ">" {
            deps.errors.push(error(format!(
                "`{op}` is deprecated and ambiguous in Debian; use `{op}=` or `{op}{op}`"
            )));
        } else if !caps["sep"].is_empty() {
            deps.errors.push(error(format!(
                "the operator must be glued to the version: `{op}{}`",
                version.as_str()
            )));
        } else if let Err(why) = DebVersion::parse(version.as_str()) {
            deps.errors
                .push(error(format!("invalid Debian version: {why}")));
        } else if deps.pins.iter().any(|pin| pin.name == name) {
            deps.errors.push(error(format!("`{name}` is listed twice")));
        } else {
            deps.pins.push(Pin {
                name: name.to_string(),
                op: op.to_string(),
                version: version.as_str().to_string(),
                line: number,
                version_span: start + version.start()..start + version.end(),
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

    #[test]
    fn reports_each_bad_line() {
        let deps = parse("kubeadm\nfoo = 1.0\nBar =1.0\nbaz =x1\nqux =1.0\nqux =1.1\n");
        let lines: Vec<_> = deps.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 6]);
        assert!(deps.errors[1].message.contains("glued"));
        assert!(deps.errors[4].message.contains("twice"));
    }
}
