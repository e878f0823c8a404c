//! Artifactory as the tests see it: HEAD says whether a file is there, PUT
//! stores it and answers with the checksums of what arrived.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::http::{Response, Server};

/// HEAD answers `head`; PUT answers like Artifactory (201 and the stored
/// checksums, computed from what arrived) unless `put` says otherwise.
pub fn artifactory(head: u16, put: Option<(u16, &'static str)>) -> Server {
    Server::start(move |request| {
        let response = match request.method.as_str() {
            "HEAD" => Response::new(head, ""),
            "PUT" => match put {
                Some((code, body)) => Response::new(code, body),
                None => Response::new(201, artifactory_answer(&request.body)),
            },
            _ => Response::new(405, ""),
        };
        response.header("Content-Type", "application/json")
    })
}

/// An Artifactory that keeps what arrives: HEAD answers 200 for a path that
/// was PUT (matrix parameters after `;` ignored) or is in `seeded`, else 404;
/// PUT stores and answers like [`artifactory`].
pub fn stateful_artifactory(seeded: &[&str]) -> Server {
    let stored: Arc<Mutex<BTreeSet<String>>> = Arc::new(Mutex::new(
        seeded.iter().map(|path| path.to_string()).collect(),
    ));
    Server::start(move |request| {
        let path = request.path.split(';').next().unwrap_or("").to_string();
        let response = match request.method.as_str() {
            "HEAD" if stored.lock().unwrap().contains(&path) => Response::new(200, ""),
            "HEAD" => Response::new(404, ""),
            "PUT" => {
                stored.lock().unwrap().insert(path);
                Response::new(201, artifactory_answer(&request.body))
            }
            _ => Response::new(405, ""),
        };
        response.header("Content-Type", "application/json")
    })
}

pub fn artifactory_answer(body: &[u8]) -> String {
    format!(
        "{{\n  \"repo\" : \"packages\",\n  \"path\" : \"/pool/mobiledgex_3.0.1_amd64.deb\",\n  \"checksums\" : {{\n    \"sha1\" : \"{}\",\n    \"md5\" : \"{}\"\n  }}\n}}",
        digest("sha1sum", body),
        digest("md5sum", body)
    )
}

/// `md5sum`/`sha1sum` of bytes: the tools' own answer, not the xtask's code.
pub fn digest(tool: &str, bytes: &[u8]) -> String {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
