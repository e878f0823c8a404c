//! Artifactory as the tests see it: HEAD says whether a file is there, PUT
//! stores it and answers with the checksums of what arrived.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::http::{basic_auth, Response, Server};

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

/// An Artifactory that keeps what arrives, for a whole release: HEAD and GET
/// find a path that was PUT (matrix parameters after `;` ignored) or is in
/// `seeded`, else 404; PUT stores and answers the checksums; GET
/// `/artifactory/api/storage/<path>` answers the stored file's checksums
/// (publish-image asks that). No authentication asked.
pub fn stateful_artifactory(seeded: &[&str]) -> Server {
    let stored: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::new(Mutex::new(
        seeded
            .iter()
            .map(|path| (path.to_string(), b"seeded\n".to_vec()))
            .collect(),
    ));
    Server::start(move |request| {
        let path = request.path.split(';').next().unwrap_or("").to_string();
        let mut files = stored.lock().unwrap();
        let storage = path
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix("/api/storage"))
            .map(|repo_path| format!("{PREFIX}{repo_path}"));
        let response = match (request.method.as_str(), storage) {
            ("GET", Some(file)) => match files.get(&file) {
                Some(body) => Response::new(200, storage_answer(&file, body)),
                None => Response::new(404, "{\"errors\": [{\"status\": 404}]}"),
            },
            ("HEAD", None) if files.contains_key(&path) => Response::new(200, ""),
            ("GET", None) if files.contains_key(&path) => Response::new(200, files[&path].clone()),
            ("HEAD" | "GET", None) => Response::new(404, ""),
            ("PUT", None) => {
                let answer = storage_answer(&path, &request.body);
                files.insert(path, request.body.clone());
                Response::new(201, answer)
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

/// Artifactory as publish-image sees it, under `/artifactory`: PUT stores
/// the body (201 and its checksums), GET `/artifactory/api/storage/<path>`
/// answers the stored file's checksums as JSON (404 when absent), HEAD and
/// GET of a stored file work as usual. Every request needs Basic
/// authentication as `user:password` (401 otherwise).
pub struct ImageArtifactory {
    pub server: Server,
    pub files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

pub const PREFIX: &str = "/artifactory";

impl ImageArtifactory {
    pub fn start(user: &str, password: &str) -> ImageArtifactory {
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let stored = files.clone();
        let auth = basic_auth(user, password);
        let server = Server::start(move |request| {
            if request.header("Authorization") != Some(auth.as_str()) {
                return Response::new(401, "{\"errors\": [{\"status\": 401}]}");
            }
            let Some(path) = request.path.strip_prefix(PREFIX) else {
                return Response::new(404, "");
            };
            let mut files = stored.lock().unwrap();
            let response = match (request.method.as_str(), path.strip_prefix("/api/storage")) {
                ("GET", Some(repo_path)) => match files.get(repo_path) {
                    Some(body) => Response::new(200, storage_answer(repo_path, body)),
                    None => Response::new(404, "{\"errors\": [{\"status\": 404}]}"),
                },
                ("PUT", None) => {
                    files.insert(path.to_string(), request.body.clone());
                    Response::new(201, storage_answer(path, &request.body))
                }
                ("GET" | "HEAD", None) => match files.get(path) {
                    Some(body) => Response::new(200, body.clone()),
                    None => Response::new(404, ""),
                },
                _ => Response::new(405, ""),
            };
            response.header("Content-Type", "application/json")
        });
        ImageArtifactory { server, files }
    }

    /// The base URL, as `--artifactory` takes it.
    pub fn base(&self) -> String {
        self.server.url(PREFIX)
    }

    /// Puts a file in place, as if uploaded before.
    pub fn put(&self, repo_path: &str, body: &[u8]) {
        self.files.lock().unwrap().insert(
            format!("/{}", repo_path.trim_start_matches('/')),
            body.to_vec(),
        );
    }

    pub fn get(&self, repo_path: &str) -> Option<Vec<u8>> {
        self.files
            .lock()
            .unwrap()
            .get(&format!("/{}", repo_path.trim_start_matches('/')))
            .cloned()
    }
}

/// What the storage API and a deploy answer: the file's checksums.
fn storage_answer(path: &str, body: &[u8]) -> String {
    format!(
        "{{\n  \"repo\" : \"baseimages\",\n  \"path\" : \"{path}\",\n  \"size\" : \"{}\",\n  \"checksums\" : {{\n    \"sha1\" : \"{}\",\n    \"md5\" : \"{}\",\n    \"sha256\" : \"{}\"\n  }}\n}}",
        body.len(),
        digest("sha1sum", body),
        digest("md5sum", body),
        digest("sha256sum", body)
    )
}
