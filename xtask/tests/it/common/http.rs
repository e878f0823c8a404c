//! The one HTTP/1.1 server of the tests, standing in for a remote (Artifactory,
//! an APT snapshot): a thread on 127.0.0.1, one request per connection, every
//! request recorded for the assertions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the handler answers; a HEAD request gets the head only.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

pub struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stall: Arc<AtomicBool>,
}

impl Server {
    /// Listens on 127.0.0.1 (a free port) until the test process ends.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let stall = Arc::new(AtomicBool::new(false));
        let stalling = stall.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, handler.as_ref(), &recorded, &stalling);
            }
        });
        Server {
            port,
            requests,
            stall,
        }
    }

    /// Serves `files` by exact path (404 for any other), behind Basic
    /// authentication when `auth` is given (401 without the right header).
    pub fn files(files: BTreeMap<String, Vec<u8>>, auth: Option<(&str, &str)>) -> Server {
        let expected = auth.map(|(user, password)| basic_auth(user, password));
        Server::start(move |request| {
            let response = match (&expected, files.get(&request.path)) {
                (Some(want), _) if request.header("Authorization") != Some(want) => {
                    Response::new(401, "login required\n")
                }
                (_, Some(body)) => Response::new(200, body.clone()),
                (_, None) => Response::new(404, "not found\n"),
            };
            response
                .header("Content-Type", "application/octet-stream")
                .header("WWW-Authenticate", "Basic realm=\"apt\"")
        })
    }

    /// While on, a request with a body is recorded (without its body) and
    /// then left hanging: the body is never read nor answered, as a server
    /// stalls mid-upload. Turned off, the hanging connection is dropped.
    pub fn set_stalling(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`; `path` starts with `/` (or is empty).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }
}

/// Reads one request, records it, then answers: recorded before the client
/// can see the answer, so a finished run's requests are all there.
fn serve(
    stream: TcpStream,
    handler: &Handler,
    recorded: &Mutex<Vec<Request>>,
    stall: &AtomicBool,
) -> Option<()> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let mut out = stream;
    if request
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let length: usize = request
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > 0 && stall.load(Ordering::SeqCst) {
        recorded.lock().unwrap().push(request);
        while stall.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    request.body = body;
    let response = handler(&request);
    recorded.lock().unwrap().push(request.clone());
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    out.write_all(head.as_bytes()).ok()?;
    if request.method != "HEAD" {
        out.write_all(&response.body).ok()?;
    }
    out.flush().ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        403 => "Forbidden",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// A port nobody listens on: bound, then closed again.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `Authorization` header value of Basic authentication.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648): what curl sends for Basic
/// authentication, and what must never show in output or logs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
