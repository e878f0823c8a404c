//! What the package's own scripts say, read without running them: the tools
//! the Makefile, `version.sh` and `build.sh` call (for the preflight and
//! `doctor`), and the values `build.sh` gives its variables (the .deb's file
//! name, the architecture, `ARTIFACTORY_PATH`). Pure: text in, values out.

use std::collections::BTreeMap;

use crate::formats::regex;

/// The tools the package scripts may call before build.sh's publish
/// question, in the order the preflight names them. Shell builtins (`echo`,
/// `printf`, `read`, `[[`) need nothing; the publish half of build.sh
/// (`curl`, `sha1sum`, `md5sum`, `stty`) never runs: the xtask answers "n"
/// and publishes itself.
pub const KNOWN_TOOLS: [&str; 22] = [
    "make", "bash", "gofmt", "dpkg-deb", "awk", "sed", "grep", "tr", "cat", "cp", "mv", "rm",
    "mkdir", "chmod", "mktemp", "basename", "dirname", "head", "tail", "cmp", "find", "touch",
];

/// Every known tool the scripts call, in `KNOWN_TOOLS` order; `make` always.
/// A tool counts when its name stands as a command word on a line that is
/// not a comment; `$(RM)` in a Makefile is `rm`; a `#!/bin/bash` (or
/// `#!/usr/bin/env bash`) script needs `bash`.
pub fn tools_called(scripts: &[&str]) -> Vec<&'static str> {
    let mut called = vec!["make"];
    let bash_script = |text: &&str| {
        let first = text.lines().next().unwrap_or("");
        first.starts_with("#!")
            && first
                .split_whitespace()
                .last()
                .is_some_and(|w| w.ends_with("bash"))
    };
    if scripts.iter().any(bash_script) {
        called.push("bash");
    }
    let code: Vec<String> = scripts
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| line.replace("$(RM)", "rm"))
        .collect();
    for tool in KNOWN_TOOLS {
        let word = regex(&format!(
            r#"(?:^|[\s;&|(`{{])(?:\$\()?{}(?:$|[\s;&|)`])"#,
            regex::escape(tool)
        ));
        if !called.contains(&tool) && code.iter().any(|line| word.is_match(line)) {
            called.push(tool);
        }
    }
    called
}

/// What build.sh's top-level assignments give its variables when it runs
/// as `build.sh <args>`, as bash would expand them: `NAME='literal'`,
/// `NAME="…$1…${OTHER}…"`, `NAME=bare`, and `: ${NAME:=default}` (the
/// environment's value first). A value that needs more than that (a command
/// substitution, an unknown variable, an assignment inside a block) is not
/// known. Values carry the 1-based line that set them.
#[derive(Debug, Default)]
pub struct ShellVars {
    known: BTreeMap<String, (String, usize)>,
}

impl ShellVars {
    pub fn evaluate(text: &str, args: &[&str], env: &dyn Fn(&str) -> Option<String>) -> ShellVars {
        let assignment =
            regex(r#"^(?:export[ \t]+|readonly[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$"#);
        let default = regex(r#"^:[ \t]+"?\$\{([A-Za-z_][A-Za-z0-9_]*):=([^}]*)\}"?[ \t]*$"#);
        let indented = regex(r#"^[ \t]+(?:local[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)="#);
        let mut vars = ShellVars::default();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end_matches('\r');
            if let Some(caps) = default.captures(line) {
                let name = caps[1].to_string();
                let from_env = env(&name).filter(|value| !value.is_empty());
                let value = match from_env {
                    Some(value) => Some(value),
                    None => vars.word(caps[2].trim(), args, env),
                };
                vars.set(name, value, number);
            } else if let Some(caps) = assignment.captures(line) {
                let value = vars.word(caps[2].trim(), args, env);
                vars.set(caps[1].to_string(), value, number);
            } else if let Some(caps) = indented.captures(line) {
                // Set only on some paths through the script: not known.
                vars.known.remove(&caps[1]);
            }
        }
        vars
    }

    /// The value and the line that set it.
    pub fn get(&self, name: &str) -> Option<(&str, usize)> {
        self.known
            .get(name)
            .map(|(value, line)| (value.as_str(), *line))
    }

    fn set(&mut self, name: String, value: Option<String>, line: usize) {
        match value {
            Some(value) => {
                self.known.insert(name, (value, line));
            }
            None => {
                self.known.remove(&name);
            }
        }
    }

    /// One shell word: `'…'`, `"…"` or bare, with a trailing comment allowed.
    fn word(
        &self,
        word: &str,
        args: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        if let Some(rest) = word.strip_prefix('\'') {
            let (inner, after) = rest.split_once('\'')?;
            return end_of_word(after).then(|| inner.to_string());
        }
        if let Some(rest) = word.strip_prefix('"') {
            let (inner, after) = rest.split_once('"')?;
            if inner.contains(['\\', '`']) {
                return None;
            }
            return end_of_word(after)
                .then(|| self.expand(inner, args, env))
                .flatten();
        }
        let bare =
            word.split_once([' ', '\t']).map_or(
                word,
                |(bare, after)| {
                    if end_of_word(after) {
                        bare
                    } else {
                        ""
                    }
                },
            );
        if bare.is_empty() && !word.is_empty() || bare.contains(['\\', '`', '"', '\'', ';', '(']) {
            return None;
        }
        self.expand(bare, args, env)
    }

    /// `$1`, `$NAME`, `${NAME}`; anything else with a `$` is not known.
    fn expand(
        &self,
        text: &str,
        args: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let reference =
            regex(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*|[1-9])\}|([A-Za-z_][A-Za-z0-9_]*|[1-9]))");
        let mut out = String::new();
        let mut at = 0;
        for caps in reference.captures_iter(text) {
            let whole = caps.get(0)?;
            out.push_str(&text[at..whole.start()]);
            let name = caps.get(1).or_else(|| caps.get(2))?.as_str();
            let value = match name.parse::<usize>() {
                Ok(n) => args.get(n - 1).map(|arg| arg.to_string()),
                Err(_) => match self.known.get(name) {
                    Some((value, _)) => Some(value.clone()),
                    None => env(name),
                },
            };
            out.push_str(&value?);
            at = whole.end();
        }
        let rest = &text[at..];
        if rest.contains('$') {
            return None;
        }
        out.push_str(rest);
        Some(out)
    }
}

/// What may follow a word on its line: nothing, or a comment.
fn end_of_word(after: &str) -> bool {
    let after = after.trim();
    after.is_empty() || after.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const REAL_BUILD_SH: &str = ": ${SECTION:='misc'}\n: ${ARCH:='amd64'}\n\nARTIFACTORY_REPO='packages'\nARTIFACTORY_PATH=\"https://artifactory.mobiledgex.net/artifactory/${ARTIFACTORY_REPO}/pool\"\nDESC_FILE=\"description\"\n\nPKGNAME=\"$1\"\nVERSION=\"$2\"\n\nPKGDIR=\"${PKGNAME}_${VERSION}\"\nDEBFILE=\"${PKGDIR}.deb\"\nif [[ -f \"$DEPS_FILE\" ]]; then\n\tDEPS=$( grep -v '^#' \"$DEPS_FILE\" )\nfi\nARTF_PKG_PATH=\"${ARTIFACTORY_PATH}/${PKGDIR}_${ARCH}.deb\"\n";

    #[test]
    fn the_real_build_sh_names_its_deb_without_the_architecture() {
        let vars = ShellVars::evaluate(
            REAL_BUILD_SH,
            &["mobiledgex", "4.10.0", "cirrus", "main"],
            &no_env,
        );
        assert_eq!(vars.get("DEBFILE"), Some(("mobiledgex_4.10.0.deb", 12)));
        assert_eq!(vars.get("ARCH"), Some(("amd64", 2)));
        assert_eq!(
            vars.get("ARTIFACTORY_PATH"),
            Some((
                "https://artifactory.mobiledgex.net/artifactory/packages/pool",
                5
            ))
        );
        assert_eq!(
            vars.get("ARTF_PKG_PATH").map(|(v, _)| v),
            Some("https://artifactory.mobiledgex.net/artifactory/packages/pool/mobiledgex_4.10.0_amd64.deb")
        );
        // Computed, or set inside a block: not known.
        assert_eq!(vars.get("DEPS"), None);
    }

    #[test]
    fn defaults_yield_to_the_environment_and_computed_values_are_unknown() {
        let env = |name: &str| (name == "ARCH").then(|| "arm64".to_string());
        let text = ": \"${ARCH:=amd64}\"\n: \"${ARTIFACTORY:=https://a.example/artifactory}\"\nDEBFILE=\"${PKGNAME}_${VERSION}_${ARCH}.deb\"\nPKGNAME=\"$1\"\nVERSION=\"$2\"\nDEBFILE=\"${PKGNAME}_${VERSION}_${ARCH}.deb\"\nTAG=$(date)\nX=\"`date`\"\nY=${Z:-d}\nW=plain # comment\nBAD='unterminated\n";
        let vars = ShellVars::evaluate(text, &["mobiledgex", "3.0.1"], &env);
        assert_eq!(vars.get("ARCH"), Some(("arm64", 1)));
        assert_eq!(
            vars.get("ARTIFACTORY"),
            Some(("https://a.example/artifactory", 2))
        );
        assert_eq!(vars.get("DEBFILE"), Some(("mobiledgex_3.0.1_arm64.deb", 6)));
        for unknown in ["TAG", "X", "Y", "BAD"] {
            assert_eq!(vars.get(unknown), None, "{unknown}");
        }
        assert_eq!(vars.get("W"), Some(("plain", 10)));
    }

    #[test]
    fn the_tools_are_the_command_words_of_the_scripts() {
        let makefile = "all: build-vers package\nbuild-vers:\n\tmkdir -p ../../../version\n\t(cd ../../../version; ../x/version.sh \"$(VERSION)\")\nclean:\n\t$(RM) -r $(PKGDIR)\n";
        let version_sh = "#!/bin/bash\n# gofmt is named in a comment only here\nOUT_TMP=$( mktemp )\ncat <<EOF > $OUT_TMP\nEOF\ngofmt $OUT_TMP > $OUT\n";
        let build_sh = "#!/bin/bash\necho \"usage: $( basename $0 ) <pkgname>\" >&2\nDEPS=$( grep -v '^#' \"$DEPS_FILE\" \\\n\t| awk '{ printf(\"%s\", $1) }' \\\n\t| tr -d \"\\n\" | sed 's/, $//' )\ndpkg-deb --build \"$PKGDIR\"\ncurl -f -I \"$URL\"\n";
        assert_eq!(
            tools_called(&[makefile, version_sh, build_sh]),
            [
                "make", "bash", "gofmt", "dpkg-deb", "awk", "sed", "grep", "tr", "cat", "rm",
                "mkdir", "mktemp", "basename"
            ]
        );
        // A version.sh that does not run gofmt does not need it.
        assert!(
            !tools_called(&["# already in gofmt form\nprintf 'x' >\"$OUT\"\n"]).contains(&"gofmt")
        );
    }
}
