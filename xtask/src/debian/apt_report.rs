//! Reads apt's "unmet dependencies" report out of a packer build log, so a
//! failed image build can say which pins of the mobiledgex package are wrong
//! instead of leaving the user to dig through the log.
//!
//! Packer decorates every line (builder name, `PACKER_LOG=1` timestamps and
//! sources, ANSI colours, CRLF); the decorations are removed before a line
//! is read, and only lines inside a report block are considered.

use std::borrow::Cow;
use std::collections::HashSet;

/// One failed dependency of a package apt could not install.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnmetDependency {
    /// The depending package (e.g. `mobiledgex`). apt shows it only on the
    /// first line of its group; later lines inherit it. Empty if never shown.
    pub package: String,
    /// The package depended on, as apt prints it (may carry `:arch`).
    pub dependency: String,
    /// The version constraint without parentheses, in control-file syntax
    /// (apt shows `<<`/`>>` as `<`/`>`; they are turned back), e.g. `= 1.16.2-00`.
    pub constraint: Option<String>,
    pub problem: Problem,
}

/// Why apt could not satisfy the dependency (the `but …` part).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Problem {
    /// `but 1.16.3-00 is to be installed`: another version won; the pin is wrong.
    WillBeInstalled(String),
    /// `but it is not going to be installed`: usually a consequence of another failure.
    NotGoingToBeInstalled,
    /// `but it is not installable`: no candidate at all, nothing to pin to.
    NotInstallable,
    /// Anything else apt said (e.g. `but it is a virtual package`), verbatim;
    /// empty when apt printed no reason.
    Other(String),
}

const REPORT_HEADER: &str = "The following packages have unmet dependencies:";

/// apt's dependency type names (`pkgCache::DepType`), plus the control-file
/// spelling of Pre-Depends. Only the first three are returned; the others
/// still belong to the report block.
const DEPENDS_KINDS: [&str; 3] = ["Depends", "PreDepends", "Pre-Depends"];
const OTHER_KINDS: [&str; 7] = [
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Obsoletes",
    "Enhances",
];

/// All unmet Depends/PreDepends of every report in `log`, in order of first
/// appearance, without duplicates (packer with `PACKER_LOG=1` can print
/// each line twice).
pub fn parse(log: &str) -> Vec<UnmetDependency> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut in_report = false;
    let mut package = String::new();
    // Whether the previous line ended in ` or`, and whether that group is returned.
    let mut alternative_of: Option<bool> = None;
    for raw in log.split('\n') {
        let (line, from_packer_log) = undecorate(raw);
        if line.contains(REPORT_HEADER) {
            in_report = true;
            package.clear();
            alternative_of = None;
            continue;
        }
        if !in_report {
            continue;
        }
        let Some(dep_line) = read_report_line(&line, alternative_of) else {
            // Packer's own `[DEBUG]`-style records can interleave with the
            // provisioner's output; they do not end the report.
            if !(from_packer_log && is_log_chatter(&line)) {
                in_report = false;
            }
            continue;
        };
        if let Some(p) = dep_line.package {
            package = p.to_string();
        }
        let (rest, more) = match dep_line.rest.strip_suffix(" or") {
            Some(r) if !r.trim().is_empty() => (r, true),
            _ => (dep_line.rest, false),
        };
        alternative_of = more.then_some(dep_line.wanted);
        if !dep_line.wanted {
            continue;
        }
        if let Some(entry) = read_dependency(&package, rest) {
            if seen.insert(entry.clone()) {
                out.push(entry);
            }
        }
    }
    out
}

/// A line of the report block, decorations removed.
struct ReportLine<'a> {
    /// The ` pkg :` column, when the line has it.
    package: Option<&'a str>,
    /// Whether the dependency type is one we return (Depends/PreDepends).
    wanted: bool,
    /// What follows `Depends: ` (or the whole alternative line).
    rest: &'a str,
}

/// Recognises ` pkg : Kind: rest`, `   Kind: rest`, and — right after a line
/// ending in ` or` — an indented alternative. `None` ends the report.
fn read_report_line(line: &str, alternative_of: Option<bool>) -> Option<ReportLine<'_>> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return None;
    }
    let (package, body) = match trimmed.split_once(" : ") {
        Some((p, body)) if !p.contains(char::is_whitespace) => (Some(p), body.trim_start()),
        _ => (None, trimmed),
    };
    if let Some((kind, rest)) = body.split_once(':') {
        let wanted = DEPENDS_KINDS.contains(&kind);
        if wanted || OTHER_KINDS.contains(&kind) {
            return Some(ReportLine {
                package,
                wanted,
                rest: rest.trim(),
            });
        }
    }
    // apt indents alternatives under the first one; they carry no kind.
    match alternative_of {
        Some(wanted) if package.is_none() && line.starts_with([' ', '\t']) => Some(ReportLine {
            package: None,
            wanted,
            rest: trimmed.trim_end(),
        }),
        _ => None,
    }
}

/// Parses `name [(constraint)] [but …]`.
fn read_dependency(package: &str, rest: &str) -> Option<UnmetDependency> {
    let rest = rest.trim();
    let (dependency, after) = match rest.split_once(char::is_whitespace) {
        Some((d, a)) => (d, a.trim_start()),
        None => (rest, ""),
    };
    if dependency.is_empty() {
        return None;
    }
    let (constraint, reason) = match after.strip_prefix('(').and_then(|a| a.split_once(')')) {
        Some((c, r)) => (Some(control_file_constraint(c)), r.trim()),
        None => (None, after),
    };
    let problem = match reason {
        "but it is not going to be installed" => Problem::NotGoingToBeInstalled,
        "but it is not installable" => Problem::NotInstallable,
        _ => match reason
            .strip_prefix("but ")
            .and_then(|r| r.strip_suffix(" is to be installed"))
        {
            Some(v) if !v.is_empty() && !v.contains(char::is_whitespace) => {
                Problem::WillBeInstalled(v.to_string())
            }
            _ => Problem::Other(reason.to_string()),
        },
    };
    Some(UnmetDependency {
        package: package.to_string(),
        dependency: dependency.to_string(),
        constraint,
        problem,
    })
}

/// apt prints `<<`/`>>` as `<`/`>` (`pkgCache::CompType`); give them back in
/// control-file syntax, `= 1.0` spacing, so the constraint reads like a pin.
fn control_file_constraint(c: &str) -> String {
    let c = c.trim();
    let op_len = c
        .bytes()
        .take_while(|b| matches!(b, b'<' | b'>' | b'=' | b'!'))
        .count();
    let (op, version) = c.split_at(op_len);
    let op = match op {
        "<" => "<<",
        ">" => ">>",
        other => other,
    };
    match (op, version.trim()) {
        ("", v) => v.to_string(),
        (op, "") => op.to_string(),
        (op, v) => format!("{op} {v}"),
    }
}

/// Removes ANSI escapes, CR, packer log timestamps and sources, and the
/// builder-name prefix. Returns the line as the provisioner printed it, and
/// whether it came through packer's own log (had a timestamp).
fn undecorate(raw: &str) -> (String, bool) {
    let text = strip_ansi(raw);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    // A bare CR redraws the line on a terminal; keep what remained visible.
    let mut line = text.rsplit('\r').next().unwrap_or(text);
    let mut timestamped = false;
    loop {
        if let Some(rest) = strip_timestamp(line) {
            timestamped = true;
            line = rest;
        } else if let Some(rest) = strip_log_source(line) {
            line = rest;
        } else {
            break;
        }
    }
    (strip_builder_prefix(line).to_string(), timestamped)
}

/// Drops CSI sequences (`ESC [ … final`) and two-byte escapes (`ESC x`).
fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.contains('\x1b') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // Otherwise a two-byte escape: the next char is dropped as well.
        if let Some('[') = chars.next() {
            // Parameter and intermediate bytes, then one final byte @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    Cow::Owned(out)
}

/// `2022/03/14 10:22:33 ` (Go's log format, optionally with microseconds).
fn strip_timestamp(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = digits(0..4)
        && b.get(4) == Some(&b'/')
        && digits(5..7)
        && b.get(7) == Some(&b'/')
        && digits(8..10)
        && b.get(10) == Some(&b' ')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    rest.strip_prefix(' ')
}

/// `ui: `, `ui error: `, `packer-builder-openstack plugin: `.
fn strip_log_source(s: &str) -> Option<&str> {
    if let Some(rest) = s
        .strip_prefix("ui: ")
        .or_else(|| s.strip_prefix("ui error: "))
    {
        return Some(rest);
    }
    let (source, rest) = s
        .split_once(" plugin: ")
        .or_else(|| s.strip_suffix(" plugin:").map(|source| (source, "")))?;
    (!source.is_empty() && !source.contains(char::is_whitespace)).then_some(rest)
}

/// Packer's own records (`[INFO] …`, `[DEBUG] …`), never provisioner output.
fn is_log_chatter(line: &str) -> bool {
    line.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .is_some_and(|(tag, _)| !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_uppercase()))
}

/// `openstack: `, `    openstack: `, `==> openstack: `, `--> name: `; keeps
/// the text after the single space packer adds (apt's own leading space
/// survives). apt's `Depends:` and `E:` are not builder names.
fn strip_builder_prefix(s: &str) -> &str {
    let t = s.trim_start();
    let t = t
        .strip_prefix("==> ")
        .or_else(|| t.strip_prefix("--> "))
        .unwrap_or(t);
    let name_len = t
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    let (name, after) = t.split_at(name_len);
    if name.is_empty()
        || DEPENDS_KINDS.contains(&name)
        || OTHER_KINDS.contains(&name)
        || matches!(name, "E" | "W" | "N")
    {
        return s;
    }
    match after.strip_prefix(':') {
        Some("") => "",
        Some(rest) => rest.strip_prefix(' ').unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(
        package: &str,
        dependency: &str,
        constraint: Option<&str>,
        problem: Problem,
    ) -> UnmetDependency {
        UnmetDependency {
            package: package.into(),
            dependency: dependency.into(),
            constraint: constraint.map(Into::into),
            problem,
        }
    }

    fn will(v: &str) -> Problem {
        Problem::WillBeInstalled(v.into())
    }

    #[test]
    fn runbook_example() {
        let log = "\
openstack: The following packages have unmet dependencies:
openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack:               Depends: kubelet (= 1.16.2-00) but 1.16.3-00 is to be installed
openstack: E: Unable to correct problems, you have held broken packages.
";
        assert_eq!(
            parse(log),
            [
                dep(
                    "mobiledgex",
                    "kubeadm",
                    Some("= 1.16.2-00"),
                    will("1.16.3-00")
                ),
                dep(
                    "mobiledgex",
                    "kubectl",
                    Some("= 1.16.2-00"),
                    will("1.16.3-00")
                ),
                dep(
                    "mobiledgex",
                    "kubelet",
                    Some("= 1.16.2-00"),
                    will("1.16.3-00")
                ),
            ]
        );
    }

    #[test]
    fn all_decorations_mixed() {
        let log = concat!(
            "==> openstack: Provisioning with shell script: setup.sh\r\n",
            "    openstack: Reading package lists... 0%\rReading package lists... Done\r\n",
            "\x1b[0;32m    openstack: Some packages could not be installed. This may mean that you have\x1b[0m\r\n",
            "2022/03/14 10:22:33 ui: \x1b[0;32m    openstack: The following packages have unmet dependencies:\x1b[0m\r\n",
            "2022/03/14 10:22:33 ui:     openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed\r\n",
            "2022/03/14 10:22:33 [INFO] (telemetry) ending shell\r\n",
            "2022/03/14 10:22:33 packer-builder-openstack plugin:               PreDepends: \x1b[1mdocker-ce\x1b[0m (= 5:20.10.13~3-0~ubuntu-bionic) but it is not going to be installed\r\n",
            "\x1b[1;31m==> openstack:               Depends: chef (= 17.6.18-1) but it is not installable\x1b[0m\r\n",
            "2022/03/14 10:22:33.123456 packer-provisioner-shell plugin: 2022/03/14 10:22:33 [DEBUG] reading\r\n",
            "    openstack.base:               Depends: helm (>= 3.5.0) but 3.4.1-1 is to be installed\r\n",
            "               Depends: nfs-common (>= 1:1.3.4-2.1ubuntu5.5)\r\n",
            "2022/03/14 10:22:34 ui error: ==> openstack: E: Unable to correct problems, you have held broken packages.\r\n",
            "    openstack:               Depends: not-in-report (= 1) but 2 is to be installed\r\n",
            "==> openstack: Script exited with non-zero exit status: 100",
        );
        assert_eq!(
            parse(log),
            [
                dep(
                    "mobiledgex",
                    "kubeadm",
                    Some("= 1.16.2-00"),
                    will("1.16.3-00")
                ),
                dep(
                    "mobiledgex",
                    "docker-ce",
                    Some("= 5:20.10.13~3-0~ubuntu-bionic"),
                    Problem::NotGoingToBeInstalled
                ),
                dep(
                    "mobiledgex",
                    "chef",
                    Some("= 17.6.18-1"),
                    Problem::NotInstallable
                ),
                dep("mobiledgex", "helm", Some(">= 3.5.0"), will("3.4.1-1")),
                dep(
                    "mobiledgex",
                    "nfs-common",
                    Some(">= 1:1.3.4-2.1ubuntu5.5"),
                    Problem::Other(String::new())
                ),
            ]
        );
    }

    /// Verbatim `apt-get install -s ./mobiledgex.deb` output of apt 2.6
    /// (bookworm) for a package with wrong pins; note apt's `<` for `<<`.
    #[test]
    fn real_apt_output() {
        let log = "\
Some packages could not be installed. This may mean that you have
requested an impossible situation or if you are using the unstable
distribution that some required packages have not yet been created
or been moved out of Incoming.
The following information may help to resolve the situation:

The following packages have unmet dependencies:
 mobiledgex : PreDepends: coreutils (= 1.0) but 9.1-1 is to be installed
              Depends: libc6 (= 2.36-9+deb12u1) but 2.36-9+deb12u14 is to be installed
              Depends: nosuchpkg (>= 1) but it is not installable
              Depends: tar (< 1.0) but 1.34+dfsg-1.2+deb12u1 is to be installed
E: Unable to correct problems, you have held broken packages.
The following packages have unmet dependencies:
 mobiledgex : Depends: nosuch1 (>= 1) but it is not installable or
                       nosuch2 but it is not installable
              Depends: mawk (<= 1) but 1.3.4.20200120-3.1 is to be installed
E: Unable to correct problems, you have held broken packages.
";
        let m = "mobiledgex";
        assert_eq!(
            parse(log),
            [
                dep(m, "coreutils", Some("= 1.0"), will("9.1-1")),
                dep(
                    m,
                    "libc6",
                    Some("= 2.36-9+deb12u1"),
                    will("2.36-9+deb12u14")
                ),
                dep(m, "nosuchpkg", Some(">= 1"), Problem::NotInstallable),
                dep(m, "tar", Some("<< 1.0"), will("1.34+dfsg-1.2+deb12u1")),
                dep(m, "nosuch1", Some(">= 1"), Problem::NotInstallable),
                dep(m, "nosuch2", None, Problem::NotInstallable),
                dep(m, "mawk", Some("<= 1"), will("1.3.4.20200120-3.1")),
            ]
        );
    }

    #[test]
    fn constraints_in_control_file_syntax() {
        for (apt, want) in [
            ("= 1.16.2-00", "= 1.16.2-00"),
            ("<  1.0", "<< 1.0"),
            ("> 2", ">> 2"),
            (">=1", ">= 1"),
            ("<= 1", "<= 1"),
            ("!= 3", "!= 3"),
            ("1.0", "1.0"),
        ] {
            assert_eq!(control_file_constraint(apt), want);
        }
    }

    #[test]
    fn several_reports_and_packer_log_duplicates_are_merged() {
        let log = "\
2022/03/14 10:22:33 ui:     openstack: The following packages have unmet dependencies:
    openstack: The following packages have unmet dependencies:
2022/03/14 10:22:33 ui:     openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
2022/03/14 10:22:33 ui:     openstack: E: Unable to correct problems, you have held broken packages.
    openstack: E: Unable to correct problems, you have held broken packages.
    openstack: Retrying apt-get install
    openstack: The following packages have unmet dependencies:
    openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack:  other : Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack: E: Unable to correct problems, you have held broken packages.
";
        assert_eq!(
            parse(log),
            [
                dep(
                    "mobiledgex",
                    "kubeadm",
                    Some("= 1.16.2-00"),
                    will("1.16.3-00")
                ),
                dep("other", "kubectl", Some("= 1.16.2-00"), will("1.16.3-00")),
            ]
        );
    }

    #[test]
    fn alternatives_other_kinds_and_undecorated_output() {
        let log = "\
The following packages have unmet dependencies:
 mobiledgex : Depends: python3-openstackclient (>= 3.14) but it is not going to be installed or
                       python-openstackclient but it is a virtual package
              Breaks: old-tool (<< 2.0) but 1.0 is to be installed
 mobiledgex:amd64 : Pre-Depends: libc6 (>= 2.27)
              Recommends: jq but it is not installable or
                          jq-extra
E: Unable to correct problems, you have held broken packages.
";
        assert_eq!(
            parse(log),
            [
                dep(
                    "mobiledgex",
                    "python3-openstackclient",
                    Some(">= 3.14"),
                    Problem::NotGoingToBeInstalled
                ),
                dep(
                    "mobiledgex",
                    "python-openstackclient",
                    None,
                    Problem::Other("but it is a virtual package".into())
                ),
                dep(
                    "mobiledgex:amd64",
                    "libc6",
                    Some(">= 2.27"),
                    Problem::Other(String::new())
                ),
            ]
        );
    }

    #[test]
    fn nothing_outside_a_report() {
        let log = "\
    openstack:  mobiledgex : Depends: kubeadm (= 1.16.2-00) but 1.16.3-00 is to be installed
    openstack: The following packages have unmet dependencies:

    openstack:               Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed
";
        assert!(parse(log).is_empty());
        assert!(parse("").is_empty());
        // A report whose first line lost the package column keeps an empty package.
        let log = "openstack: The following packages have unmet dependencies:\nopenstack:               Depends: kubectl (= 1.16.2-00) but 1.16.3-00 is to be installed";
        assert_eq!(
            parse(log),
            [dep("", "kubectl", Some("= 1.16.2-00"), will("1.16.3-00"))]
        );
    }

    #[test]
    fn undecorates_lines() {
        let cases = [
            ("openstack:  mobiledgex : x", " mobiledgex : x"),
            ("    openstack:  mobiledgex : x", " mobiledgex : x"),
            ("==> openstack: E: stop", "E: stop"),
            ("2022/03/14 10:22:33 ui: ==> openstack: hello", "hello"),
            (
                "2022/03/14 10:22:33 packer-builder-openstack plugin:  a : Depends: b",
                " a : Depends: b",
            ),
            ("\x1b[0;32mopenstack:\x1b[0m  a\x1b[K", " a"),
            ("              Depends: b", "              Depends: b"),
            ("E: Unable", "E: Unable"),
            ("openstack:", ""),
            ("openstack:\r", ""),
            ("plain text", "plain text"),
            ("2022/03/14 10:22", "2022/03/14 10:22"),
        ];
        for (raw, want) in cases {
            assert_eq!(undecorate(raw).0, want, "{raw:?}");
        }
        assert!(undecorate("2022/03/14 10:22:33 ui: x").1);
        assert!(!undecorate("ui: x").1);
    }
}
