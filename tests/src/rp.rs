//! A relying party's callback endpoint for tests: a loopback HTTP server that records every
//! POST (headers and JSON body) and can be told to fail, or never answer, the next N deliveries.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One callback as the RP received it.
#[derive(Debug, Clone)]
pub struct RecordedCallback {
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// The body's bytes as sent (what a signature covers).
    pub raw: Vec<u8>,
}

/// The test RP.
#[derive(Debug, Clone)]
pub struct TestRp {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<RecordedCallback>>>,
    fail_next: Arc<AtomicUsize>,
    hang_next: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

impl TestRp {
    /// Starts the RP on 127.0.0.1:0.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rp = Self {
            addr: listener.local_addr().unwrap(),
            calls: Arc::default(),
            fail_next: Arc::default(),
            hang_next: Arc::default(),
            attempts: Arc::default(),
        };
        let server = rp.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rp = server.clone();
                tokio::spawn(async move { rp.serve(stream).await });
            }
        });
        rp
    }

    /// The callback URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.addr.port())
    }

    /// Answers the next `n` deliveries with HTTP 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Never answers the next `n` deliveries (the connection stays open for two minutes), as
    /// an RP endpoint that hangs.
    pub fn hang_next(&self, n: usize) {
        self.hang_next.store(n, Ordering::SeqCst);
    }

    /// Callbacks accepted so far (failed attempts are not recorded).
    pub fn calls(&self) -> Vec<RecordedCallback> {
        self.calls.lock().unwrap().clone()
    }

    /// Delivery attempts so far, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` callbacks arrived (or 10 s passed) and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<RecordedCallback> {
        for _ in 0..200 {
            if self.calls().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.calls()
    }

    /// The statuses received, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                c.body["requestStatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            let Ok(n) = stream.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let mut headers = BTreeMap::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < header_end + len {
            let Ok(n) = stream.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let raw = buf[header_end..].to_vec();
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let hang = self
            .hang_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if hang {
            tokio::time::sleep(Duration::from_secs(120)).await;
            return;
        }
        let fail = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let status = if fail {
            "500 Internal Server Error"
        } else {
            "200 OK"
        };
        if !fail {
            self.calls
                .lock()
                .unwrap()
                .push(RecordedCallback { headers, body, raw });
        }
        let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
