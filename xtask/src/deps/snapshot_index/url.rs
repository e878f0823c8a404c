//! The http(s) URLs of APT repositories, split the way apt matches
//! credentials, and shown without the credentials they may carry.

pub(super) fn is_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `https://user:pw@host/x` → `https://***@host/x`, for messages.
pub fn redact_userinfo(text: &str) -> String {
    if let Some((scheme, rest)) = text.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    text.to_string()
}

/// An http(s) URL, split the way credentials are matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Lowercase: `http` or `https`.
    pub scheme: String,
    /// Login and password written in the URL (`https://user:pw@host/…`), decoded.
    pub(super) user: Option<(String, String)>,
    pub host: String,
    pub port: Option<u16>,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("not a URL (expected http://… or https://…)".into());
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "`{scheme}://` is not supported; use http:// or https://"
            ));
        }
        if text.contains(char::is_whitespace) {
            return Err("a URL cannot contain blanks".into());
        }
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (login, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (
                    Some((percent_decode(login), percent_decode(password))),
                    hostport,
                )
            }
            None => (None, authority),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| format!("bad host or port `{hostport}`"))?;
        if host.is_empty() {
            return Err("no host name".into());
        }
        Ok(Url {
            scheme,
            user,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    /// The URL without credentials: what curl is given and what is shown.
    pub fn shown(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => format!("{}://{host}:{port}{}", self.scheme, self.path),
            None => format!("{}://{host}{}", self.scheme, self.path),
        }
    }

    /// `base/rel`, with exactly one `/` between.
    pub fn join(&self, rel: &str) -> Url {
        Url {
            path: format!(
                "{}/{}",
                self.path.trim_end_matches('/'),
                rel.trim_start_matches('/')
            ),
            ..self.clone()
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` when malformed.
pub(super) fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(port) => Some(port.parse::<u16>().ok()?),
    };
    Some((host, port))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
