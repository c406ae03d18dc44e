//! Test doubles: [`StaticResolver`] (a map from DID to document) and [`TestServer`], a tiny
//! scripted HTTP/1.1 server on a loopback port for exercising the real fetcher.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::document::DidDocument;
use crate::error::DidError;
use crate::resolver::DidResolver;

/// A resolver answering from a fixed map; unknown DIDs fail with a 404-style fetch error.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    docs: Arc<Mutex<HashMap<String, DidDocument>>>,
}

impl StaticResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the document for its `id`.
    pub fn insert(&self, doc: DidDocument) {
        lock(&self.docs).insert(doc.id.clone(), doc);
    }

    /// Builder form of [`StaticResolver::insert`].
    pub fn with(self, doc: DidDocument) -> Self {
        self.insert(doc);
        self
    }
}

#[async_trait]
impl DidResolver for StaticResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        lock(&self.docs).get(did).cloned().ok_or_else(|| {
            DidError::Fetch(crate::error::FetchError::Status {
                url: format!("static:{did}"),
                status: 404,
            })
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    content_length: bool,
}

impl TestResponse {
    /// 200 with a JSON body.
    pub fn json(v: &serde_json::Value) -> Self {
        Self::bytes(v.to_string().into_bytes()).with_header("Content-Type", "application/json")
    }

    /// 200 with raw bytes.
    pub fn bytes(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            content_length: true,
        }
    }

    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::bytes(Vec::new())
        }
    }

    /// A 302 to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::status(302).with_header("Location", location)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits this long before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends no Content-Length: the body ends when the connection closes.
    pub fn without_content_length(mut self) -> Self {
        self.content_length = false;
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request method.
    pub method: String,
    /// Request target (path and query).
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Debug, Default)]
struct ServerState {
    routes: HashMap<String, TestResponse>,
    requests: Vec<RecordedRequest>,
}

/// A minimal HTTP/1.1 server on `127.0.0.1:0`; unknown paths answer 404. Stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<Mutex<ServerState>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds a fresh loopback port and starts serving.
    pub async fn start() -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => unreachable_bind(e),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => unreachable_bind(e),
        };
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers `path` (exact match, query included if given) with `response`.
    pub fn route(&self, path: &str, response: TestResponse) {
        lock(&self.state).routes.insert(path.to_owned(), response);
    }

    /// Removes the route for `path` (it answers 404 again).
    pub fn unroute(&self, path: &str) {
        lock(&self.state).routes.remove(path);
    }

    /// How many requests asked for `path`.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(clippy::panic)] // test helper: a failed bind on loopback port 0 leaves nothing to test
fn unreachable_bind(e: std::io::Error) -> ! {
    panic!("cannot bind a loopback test server: {e}")
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<ServerState>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    // Read the request head (bodies are not used by these tests).
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let response = {
        let mut st = lock(&state);
        st.requests.push(RecordedRequest {
            method,
            path: path.clone(),
            headers,
        });
        st.routes
            .get(&path)
            .cloned()
            .unwrap_or_else(|| TestResponse::status(404))
    };
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", response.status);
    if response.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    for (n, v) in &response.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    // The client may hang up early (body too large, timeout): that is fine.
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}
