//! `[log] format = "json"` on the real binary: every log line is one JSON object, and the line of
//! a request carries the same request id as the `request-id` response header, and the client
//! address and host the service itself saw (forwarding headers from an untrusted peer are not
//! logged as either).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verity"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("VERITY_CONFIG")
        .env_remove("RUST_LOG")
        .env("VERITY__LOG__FORMAT", "json")
        .env("VERITY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = if up {
        Some(
            http.post(format!("{base}/admin/v1/tenants"))
                // Not from a trusted proxy (none is configured): neither header may reach the
                // log as the client's address or host.
                .header("x-forwarded-for", "203.0.113.7")
                .header("x-forwarded-host", "evil.example")
                .header("forwarded", "for=198.51.100.9;host=evil.example")
                .json(&serde_json::json!({ "name": "x" }))
                .send()
                .await
                .unwrap(),
        )
    } else {
        None
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let refused = refused.unwrap_or_else(|| panic!("server did not start:\n{out}"));
    assert_eq!(refused.status(), 401);
    let id = refused.headers()["request-id"].to_str().unwrap().to_owned();

    // The start-up banner (`Verity is listening on ...`) is plain text for the operator;
    // every log event is one JSON object.
    let lines: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    let of_request = lines
        .iter()
        .find(|l| l["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no line with request id {id}:\n{out}"));
    assert_eq!(of_request["span"]["http.route"], "/admin/v1/tenants");
    assert_eq!(
        of_request["span"]["http.client_ip"], "127.0.0.1",
        "{of_request}"
    );
    assert_eq!(
        of_request["span"]["http.host"],
        format!("127.0.0.1:{port}"),
        "{of_request}"
    );
    for forged in ["203.0.113.7", "198.51.100.9", "evil.example"] {
        assert!(!out.contains(forged), "{forged} reached the log:\n{out}");
    }
}
