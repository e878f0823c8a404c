//! The APT snapshot's package index: where it is (the packer repository, at
//! its own date or another, or a `Packages` file or URL given by hand), how
//! it is fetched (curl through the runner, with apt's credentials in a 0600
//! file, never in arguments) and read (gzip/xz by content, decompressed and
//! parsed as a stream, bounded in size, keeping only the pinned packages).
//!
//! curl rather than a Rust HTTP client keeps the xtask's cold build small;
//! every contributor already has curl.

use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Read as _};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::bad;
use crate::context::Context;
use crate::debian::packages_index::{IndexReader, PackagesIndex};
use crate::flags::IndexSource;
use crate::runner::{scratch as scratch_files, PrivateDir, Runner, Step};
use crate::sites::{self, Inventory};

mod credentials;
mod url;

use credentials::{credentials, curl_config};
use url::is_url;
pub use url::{redact_userinfo, Url};

/// The repository layout packer's APT snapshot uses (the flags' defaults).
pub const DISTRIBUTION: &str = "bionic";
pub const COMPONENT: &str = "main";
pub const ARCH: &str = "amd64";

/// The index files a repository may serve, in the order they are tried.
const INDEX_FILES: [&str; 3] = ["Packages.gz", "Packages.xz", "Packages"];

/// The most index text read from one file (after decompression): real
/// indexes are tens of MB (bookworm main: 50 MB, the largest Debian and
/// Ubuntu ones under 100 MB).
const MAX_INDEX_BYTES: u64 = 256 << 20;
/// How much of a plain index file is read at a time.
const CHUNK: usize = 256 * 1024;

/// Where a package index is read from.
#[derive(Debug, Clone)]
pub enum Location {
    /// A repository's `dists/<dist>/<component>/binary-<arch>` folder:
    /// `Packages.gz`, `Packages.xz` and `Packages` are tried in turn.
    Repository(Url),
    /// One index file on a server.
    Url(Url),
    /// One index file on disk.
    File(PathBuf),
}

impl Location {
    /// What to show: a URL without credentials, or a path.
    pub fn shown(&self) -> String {
        match self {
            Location::Repository(url) => format!("{}/{{{}}}", url.shown(), INDEX_FILES.join(",")),
            Location::Url(url) => url.shown(),
            Location::File(path) => path.display().to_string(),
        }
    }
}

/// A package index that was read, and where from.
pub struct Snapshot {
    /// The URL (without credentials) or path actually read.
    pub source: String,
    pub index: PackagesIndex,
}

/// The location the source options name; checks them (exit 2) before
/// anything is fetched.
pub fn locate(inventory: &Inventory, source: &IndexSource) -> Result<Location> {
    for (flag, value) in [
        ("--distribution", &source.distribution),
        ("--component", &source.component),
        ("--arch", &source.arch),
    ] {
        if value.is_empty() || value.contains(char::is_whitespace) || value.starts_with('/') {
            return Err(bad!(
                "{flag} `{value}`: expected a name such as `{}`",
                default_of(flag)
            ));
        }
    }
    if let Some(packages) = &source.packages {
        if is_url(packages) {
            return Url::parse(packages)
                .map(Location::Url)
                .map_err(|why| bad!("--packages `{}`: {why}", redact_userinfo(packages)));
        }
        if packages.is_empty() {
            return Err(bad!("--packages needs a file or an http(s) URL"));
        }
        return Ok(Location::File(PathBuf::from(packages)));
    }
    repository(
        inventory,
        source.apt_snapshot.as_deref(),
        &source.distribution,
        &source.component,
        &source.arch,
    )
}

fn default_of(flag: &str) -> &'static str {
    match flag {
        "--distribution" => DISTRIBUTION,
        "--component" => COMPONENT,
        _ => ARCH,
    }
}

/// The binary folder of the packer APT repository, at `date` if given.
pub fn repository(
    inventory: &Inventory,
    date: Option<&str>,
    distribution: &str,
    component: &str,
    arch: &str,
) -> Result<Location> {
    let site = &inventory.packer_apt_repo;
    let mut repo = site.value.clone();
    if let Some(date) = date {
        sites::validate_snapshot_date(date).map_err(|why| bad!("--apt-snapshot: {why}"))?;
        let Some(range) = sites::snapshot_date(&repo) else {
            return Err(bad!(
                "{}: APT_REPO `{}` does not end in a snapshot date, so --apt-snapshot cannot move it; pass the index with --packages FILE|URL",
                site.location(),
                redact_userinfo(&repo)
            ));
        };
        repo.replace_range(range, date);
    }
    let url = Url::parse(&repo).map_err(|why| {
        bad!(
            "{}: APT_REPO `{}`: {why}",
            site.location(),
            redact_userinfo(&repo)
        )
    })?;
    Ok(Location::Repository(url.join(&format!(
        "dists/{distribution}/{component}/binary-{arch}"
    ))))
}

/// Fetches (if remote), decompresses and parses the index, streaming: only
/// the versions of the packages in `keep` are kept (all with `None`).
pub fn read(
    ctx: &Context,
    runner: &Runner,
    location: &Location,
    keep: Option<HashSet<String>>,
) -> Result<Snapshot> {
    // Only a download needs a folder of its own; it lives until parsed.
    let mut scratch: Option<PrivateDir> = None;
    let (source, file, local) = match location {
        Location::File(path) => {
            let meta = fs::metadata(path)
                .map_err(|err| bad!("cannot read the package index {}: {err}", path.display()))?;
            if meta.is_dir() {
                return Err(bad!("{} is a folder, not a Packages index", path.display()));
            }
            if !meta.is_file() {
                return Err(bad!(
                    "{} is not a regular file (a FIFO or a device?); save the index to a file first",
                    path.display()
                ));
            }
            (path.display().to_string(), path.to_path_buf(), true)
        }
        Location::Url(url) => {
            runner.require_tools(&["curl"])?;
            let scratch = scratch.insert(PrivateDir::new("index")?);
            let file = match download(ctx, runner, scratch, url)? {
                Some(file) => file,
                None => {
                    return Err(anyhow!(
                        "{} answered 404 (not found): is the URL right?",
                        url.shown()
                    ))
                }
            };
            (url.shown(), file, false)
        }
        Location::Repository(base) => {
            runner.require_tools(&["curl"])?;
            let scratch = scratch.insert(PrivateDir::new("index")?);
            let mut found = None;
            for name in INDEX_FILES {
                let url = base.join(name);
                if let Some(file) = download(ctx, runner, scratch, &url)? {
                    found = Some((url.shown(), file));
                    break;
                }
            }
            let Some((source, file)) = found else {
                return Err(anyhow!(
                    "the APT repository has no package index: {} all answered 404 (not found). Is the snapshot date right, and does it have {}?",
                    location.shown(),
                    base.path.trim_start_matches('/')
                ));
            };
            (source, file, false)
        }
    };
    let index = parse_file(ctx, runner, &file, &source, local, IndexReader::new(keep))?;
    if index.entry_count() == 0 {
        let why = format!(
            "{source} holds no package stanzas (`Package:` and `Version:` lines): is it a Debian `Packages` index?"
        );
        return Err(if local { bad!("{why}") } else { anyhow!(why) });
    }
    ctx.detail(format!(
        "read {source}: {} entries (package versions)",
        index.entry_count()
    ));
    Ok(Snapshot { source, index })
}

/// Downloads `url` into the scratch folder; `None` when the server says 404/410.
fn download(
    ctx: &Context,
    runner: &Runner,
    scratch: &PrivateDir,
    url: &Url,
) -> Result<Option<PathBuf>> {
    let out = scratch.path().join("download");
    scratch_files::discard(&out);
    let login = credentials(url);
    // `-q` first: no ~/.curlrc (a `verbose` there would print the
    // Authorization header). The credentials reach curl only as a config on
    // its standard input.
    let mut step = Step::new(format!("download {}", url.shown()), "curl").args([
        "-q",
        "--config",
        "-",
        "--silent",
        "--show-error",
        "--location",
        "--proto",
        "=http,https",
        "--connect-timeout",
        "30",
        "--output",
    ]);
    step = step
        .arg(out.to_string_lossy())
        .args(["--write-out", "%{http_code}"]);
    step = match &login.found {
        Some(found) => step
            .stdin(curl_config(found))
            .secret(found.password.clone()),
        None => step.stdin(Vec::new()),
    };
    step = step.arg(url.shown());
    ctx.detail(format!("$ {}", step.command_line()));
    let outcome = runner.capture(&step)?;
    if outcome.interrupted {
        return Err(anyhow!("interrupted while downloading {}", url.shown()));
    }
    let code_text = outcome.stdout.trim().to_string();
    let code: u16 = code_text.parse().unwrap_or(0);
    if !outcome.ok {
        let said: Vec<&str> = outcome
            .output
            .lines()
            .map(|line| line.strip_suffix(code_text.as_str()).unwrap_or(line).trim())
            .filter(|line| !line.is_empty())
            .collect();
        return Err(anyhow!(
            "cannot download {}: {} (is the network up and the repository reachable?)",
            url.shown(),
            if said.is_empty() {
                format!(
                    "curl failed ({})",
                    outcome
                        .code
                        .map_or("killed".into(), |c| format!("exit {c}"))
                )
            } else {
                said.join("; ")
            }
        ));
    }
    match code {
        200 => Ok(Some(out)),
        404 | 410 => {
            ctx.detail(format!("{}: {code}, trying the next form", url.shown()));
            Ok(None)
        }
        401 | 403 => Err(anyhow!(
            "{} answered {code} ({}): {}",
            url.shown(),
            if code == 401 {
                "login needed"
            } else {
                "forbidden"
            },
            login.advice(url)
        )),
        _ => Err(anyhow!(
            "{} answered HTTP {code_text}; cannot read the package index",
            url.shown()
        )),
    }
}

/// Streams the index through `reader`, decompressing gzip and xz (known by
/// their magic bytes) with the `gzip`/`xz` tools as it goes. Whatever the
/// file, at most `MAX_INDEX_BYTES` are read: a compression bomb is refused
/// once it has given that much, and memory stays bounded all along.
fn parse_file(
    ctx: &Context,
    runner: &Runner,
    file: &Path,
    source: &str,
    local: bool,
    mut reader: IndexReader,
) -> Result<PackagesIndex> {
    let fail = |why: String| if local { bad!("{why}") } else { anyhow!(why) };
    let cannot_read =
        |err: std::io::Error| fail(format!("cannot read the package index {source}: {err}"));
    let too_big = || {
        fail(format!(
            "{source} gives more than {} MiB of index text, far more than any real `Packages` index (a compression bomb?); not read further",
            MAX_INDEX_BYTES >> 20
        ))
    };
    let mut input = fs::File::open(file).map_err(cannot_read)?;
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0;
    // The first bytes tell the format; a short read is not the end.
    while len < 6 {
        match input.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(cannot_read(err)),
        }
    }
    let head = &buf[..len];
    let (tool, what) = if head.starts_with(&[0x1f, 0x8b]) {
        ("gzip", "gzip")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        ("xz", "xz")
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        return Err(fail(format!(
            "{source} is lz4-compressed (an apt lists file?); decompress it first: /usr/lib/apt/apt-helper cat-file {source} > Packages"
        )));
    } else if head.starts_with(b"BZh") {
        return Err(fail(format!(
            "{source} is bzip2-compressed; decompress it first (bunzip2 -k)"
        )));
    } else {
        let mut total = 0u64;
        loop {
            total += len as u64;
            if total > MAX_INDEX_BYTES {
                return Err(too_big());
            }
            reader.feed(&buf[..len]);
            len = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == ErrorKind::Interrupted => 0,
                Err(err) => return Err(cannot_read(err)),
            };
        }
        return Ok(reader.finish());
    };
    drop((input, buf));
    runner.require_tools(&[tool])?;
    let step = Step::new(format!("decompress {source}"), tool)
        .args(["-d", "-c", "-q", "--"])
        .arg(file.to_string_lossy());
    ctx.detail(format!("$ {}", step.command_line()));
    let mut total = 0u64;
    let outcome = runner.stream(&step, |bytes| {
        total += bytes.len() as u64;
        if total > MAX_INDEX_BYTES {
            return ControlFlow::Break(());
        }
        reader.feed(bytes);
        ControlFlow::Continue(())
    })?;
    if outcome.interrupted {
        return Err(anyhow!("interrupted while decompressing {source}"));
    }
    if outcome.stopped {
        return Err(too_big());
    }
    if !outcome.ok {
        return Err(fail(format!(
            "{source} looks {what}-compressed but does not decompress: {}",
            if outcome.stderr.is_empty() {
                outcome
                    .code
                    .map_or("killed".into(), |c| format!("{tool} exit {c}"))
            } else {
                outcome.stderr
            }
        )));
    }
    Ok(reader.finish())
}

#[cfg(test)]
mod tests {
    use super::credentials::*;
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn parses_and_shows_urls_without_credentials() {
        let u = url("https://bob:p%40ss@Apt.Example.net:8443/cirrus/2021-02-01");
        assert_eq!(u.host, "apt.example.net");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, "/cirrus/2021-02-01");
        assert_eq!(u.user, Some(("bob".into(), "p@ss".into())));
        assert_eq!(u.shown(), "https://apt.example.net:8443/cirrus/2021-02-01");
        assert_eq!(
            u.join("dists/bionic/main/binary-amd64").join("Packages.gz").shown(),
            "https://apt.example.net:8443/cirrus/2021-02-01/dists/bionic/main/binary-amd64/Packages.gz"
        );
        assert_eq!(
            url("http://[::1]:80/x/").join("/y").shown(),
            "http://[::1]:80/x/y"
        );
        assert_eq!(url("https://h").path, "/");
        for bad in [
            "ftp://h/x",
            "h/x",
            "http://h:99999/",
            "http://:80/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(redact_userinfo("https://u:p@h/x"), "https://***@h/x");
        assert_eq!(redact_userinfo("https://h/x@y"), "https://h/x@y");
    }

    #[test]
    fn matches_machines_as_apt_auth_conf_says() {
        let u = url("https://example.org/debian/dists/x/Packages.gz");
        for yes in [
            "example.org",
            "example.org/deb",
            "example.org/debian",
            "example.org/debian/",
            "https://example.org",
        ] {
            assert!(apt_machine_matches(yes, &u), "{yes}");
        }
        for no in [
            "example.org:443",
            "example.org/deb/",
            "example.org/ubuntu",
            "example.orga",
            "example.net",
            "http://example.org",
        ] {
            assert!(!apt_machine_matches(no, &u), "{no}");
        }
        let plain = url("http://127.0.0.1:8080/cirrus/x");
        assert!(
            !apt_machine_matches("127.0.0.1", &plain),
            "no protocol: https only"
        );
        assert!(apt_machine_matches("http://127.0.0.1", &plain));
        assert!(apt_machine_matches("http://127.0.0.1:8080/cirrus", &plain));
        assert!(!apt_machine_matches("http://127.0.0.1:8081", &plain));
    }

    #[test]
    fn reads_netrc_like_entries() {
        let text = "# comment machine evil login x password y\nmachine a.example login al password 'p w'\n\
                    machine b.example\n  login bo\n  password \"q\\\"\n  account z\ndefault login anon password none\n";
        let entries = netrc_entries(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].machine.as_deref(), Some("a.example"));
        assert_eq!(entries[0].login.as_deref(), Some("al"));
        assert_eq!(entries[1].password.as_deref(), Some("\"q\\\""));
        assert_eq!(entries[2].machine, None);
        assert_eq!(entries[2].login.as_deref(), Some("anon"));
    }

    #[test]
    fn curl_config_quotes_the_password() {
        let found = Found {
            login: "me".into(),
            password: r#"a"b\c"#.into(),
        };
        assert_eq!(
            curl_config(&found),
            br#"user = "me:a\"b\\c""#.iter().copied().chain(*b"\n").collect::<Vec<u8>>()
        );
    }
}
