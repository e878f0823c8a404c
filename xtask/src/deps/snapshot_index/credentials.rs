//! Credentials for an APT repository, found as apt finds them (the URL,
//! `/etc/apt/auth.conf`, `auth.conf.d/*.conf`), then as curl does
//! (`~/.netrc`), and handed to curl as a config on its standard input.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::url::{split_host_port, Url};

/// Where apt keeps repository credentials; tests point it elsewhere.
const APT_ETC_ENV: &str = "XTASK_APT_ETC";
const APT_ETC: &str = "/etc/apt";

/// Credentials found for a URL, and the files looked at.
pub(super) struct Login {
    pub(super) found: Option<Found>,
    /// Credential files that exist but could not be read (permissions).
    pub(super) unreadable: Vec<String>,
    pub(super) looked_at: Vec<String>,
}

pub(super) struct Found {
    pub(super) login: String,
    pub(super) password: String,
}

impl Login {
    /// What to do after a 401/403, naming files but never their contents.
    pub(super) fn advice(&self, url: &Url) -> String {
        let mut text = if self.found.is_some() {
            "the credentials found for it were refused; check the `machine` entry".to_string()
        } else {
            format!(
                "no credentials for it; add `machine {}://{}{} login <user> password <password>` to a 0600 file in {}/auth.conf.d/ (as apt reads it) or a `machine {}` entry to ~/.netrc",
                url.scheme,
                url.host,
                url.port.map_or(String::new(), |p| format!(":{p}")),
                apt_etc().display(),
                url.host
            )
        };
        if !self.unreadable.is_empty() {
            text.push_str(&format!(
                " (could not read {}: run as a user who can, or copy the entry to ~/.netrc)",
                self.unreadable.join(", ")
            ));
        }
        if !self.looked_at.is_empty() {
            text.push_str(&format!("; looked in {}", self.looked_at.join(", ")));
        }
        text
    }
}

fn apt_etc() -> PathBuf {
    std::env::var_os(APT_ETC_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(APT_ETC), PathBuf::from)
}

fn netrc_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".netrc"))
}

/// Credentials for `url`, as apt would find them: in the URL itself, then
/// `/etc/apt/auth.conf`, then `/etc/apt/auth.conf.d/*.conf` (in name order),
/// the first matching `machine`; then `~/.netrc` (or `$NETRC`), as curl would.
pub(super) fn credentials(url: &Url) -> Login {
    let mut login = Login {
        found: None,
        unreadable: Vec::new(),
        looked_at: Vec::new(),
    };
    if let Some((user, password)) = &url.user {
        login.found = Some(Found {
            login: user.clone(),
            password: password.clone(),
        });
        return login;
    }
    let etc = apt_etc();
    let mut apt_files = vec![etc.join("auth.conf")];
    if let Ok(entries) = fs::read_dir(etc.join("auth.conf.d")) {
        let mut parts: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
            .collect();
        parts.sort();
        apt_files.extend(parts);
    }
    let read = |path: &Path, login: &mut Login| match fs::read_to_string(path) {
        Ok(text) => {
            login.looked_at.push(path.display().to_string());
            Some(text)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => None,
        Err(_) => {
            login.unreadable.push(path.display().to_string());
            None
        }
    };
    for path in &apt_files {
        let Some(text) = read(path, &mut login) else {
            continue;
        };
        if let Some(found) = netrc_entries(&text)
            .into_iter()
            .find(|entry| {
                entry
                    .machine
                    .as_deref()
                    .is_some_and(|m| apt_machine_matches(m, url))
            })
            .and_then(Entry::into_found)
        {
            login.found = Some(found);
            return login;
        }
    }
    if let Some(path) = netrc_path() {
        if let Some(text) = read(&path, &mut login) {
            let entries = netrc_entries(&text);
            let host_entry = entries.iter().position(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(&url.host))
            });
            let chosen = host_entry.or_else(|| entries.iter().position(|e| e.machine.is_none()));
            login.found = chosen
                .and_then(|i| entries.into_iter().nth(i))
                .and_then(Entry::into_found);
        }
    }
    login
}

/// One `machine` (or `default`, with `machine` None) entry of a netrc-like file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) machine: Option<String>,
    pub(super) login: Option<String>,
    pub(super) password: Option<String>,
}

impl Entry {
    fn into_found(self) -> Option<Found> {
        Some(Found {
            login: self.login?,
            password: self.password.unwrap_or_default(),
        })
    }
}

/// The entries of a netrc-like file: tokens separated by blanks or newlines;
/// unknown tokens are ignored, as apt does; `#` starts a comment line.
pub(super) fn netrc_entries(text: &str) -> Vec<Entry> {
    let mut tokens = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace);
    let mut entries: Vec<Entry> = Vec::new();
    while let Some(token) = tokens.next() {
        match token {
            "machine" => entries.push(Entry {
                machine: tokens.next().map(str::to_string),
                ..Entry::default()
            }),
            "default" => entries.push(Entry::default()),
            "login" | "password" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = entries.last_mut() {
                    if token == "login" {
                        entry.login = value;
                    } else {
                        entry.password = value;
                    }
                }
            }
            _ => {}
        }
    }
    entries
}

/// apt_auth.conf(5): `machine [protocol://]hostname[:port][/path]`. Without a
/// protocol only https matches; without a port every port; a path matches
/// URLs whose path starts with it.
pub(super) fn apt_machine_matches(machine: &str, url: &Url) -> bool {
    let rest = match machine.split_once("://") {
        Some((protocol, rest)) => {
            if !protocol.eq_ignore_ascii_case(&url.scheme) {
                return false;
            }
            rest
        }
        None if url.scheme == "https" => machine,
        None => return false,
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let Some((host, port)) = split_host_port(hostport) else {
        return false;
    };
    host.eq_ignore_ascii_case(&url.host)
        && port.is_none_or(|port| url.port == Some(port))
        && path.is_none_or(|path| url.path.starts_with(path))
}

/// A curl config (`-K`) that logs in as `found`; quoted so that any byte of a
/// password survives.
pub(super) fn curl_config(found: &Found) -> Vec<u8> {
    crate::artifactory::curl_user_config(&found.login, &found.password)
}
