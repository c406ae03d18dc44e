//! Abuse limits through the real app (docs/OPERATIONS.md, "Abuse limits and trusted proxies"):
//! the client address behind a trusted proxy, `X-Forwarded-For` ignored from anyone else, every
//! limited endpoint answering 429 with `Retry-After` in its own error shape, the per-API-client
//! limit and the JSON nesting limit. Each case runs on SQLite and Postgres.
//!
//! The limit is checked before anything else a request does, so requests that fail for other
//! reasons (an unknown request id, a malformed body) spend the budget too: guessing costs the
//! same as answering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use verity_server::Config;
use verity_server::limits::LimitsConfig;
use verity_tests::{Backend, TestApp, assert_error_shape, both_backends, spawn_app_with};

both_backends!(
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket,
    a_client_that_is_not_a_trusted_proxy_cannot_spoof_forwarded_for,
    the_oauth_token_endpoint_answers_429_in_both_of_its_shapes,
    failed_client_authentications_are_limited_per_client,
    the_openid4vci_token_endpoint_answers_429_in_the_oauth_shape,
    the_holder_request_endpoint_answers_429_in_the_hosted_shape,
    both_presentation_response_endpoints_share_a_bucket_and_answer_in_their_shapes,
    the_face_check_upload_answers_429_in_the_hosted_shape,
    an_api_client_is_limited_whatever_its_address,
    json_bodies_nested_deeper_than_the_limit_are_refused,
    slow_clients_are_cut_off_by_the_timeouts,
);

/// An app whose limits are `limits` (everything else off), behind `proxies`.
async fn app(backend: Backend, limits: LimitsConfig, proxies: &[&str]) -> Option<TestApp> {
    let proxies: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
    spawn_app_with(backend, move |c: &mut Config| {
        c.limits = limits;
        c.server.trusted_proxies = proxies;
    })
    .await
}

fn only(set: impl FnOnce(&mut LimitsConfig)) -> LimitsConfig {
    let mut l = LimitsConfig::unlimited();
    set(&mut l);
    l
}

/// Status, headers and JSON body (Null when empty).
async fn call(req: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    });
    (status, headers, body)
}

/// The `Retry-After` seconds of a 429, checked to be a sane positive number.
fn retry_after(headers: &HeaderMap) -> u64 {
    let secs: u64 = headers
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    secs
}

/// Asserts the hosted 429 (`tooManyRequests` / `rateLimited`) with `Retry-After`.
fn assert_hosted_429(status: u16, headers: &HeaderMap, body: &Value) {
    assert_eq!(status, 429, "{body}");
    retry_after(headers);
    assert_error_shape(body, "tooManyRequests", "rateLimited");
}

/// Asserts the OAuth 429 (`{error: invalid_request, error_description}`) with `Retry-After`.
fn assert_oauth_429(status: u16, headers: &HeaderMap, body: &Value) {
    assert_eq!(status, 429, "{body}");
    retry_after(headers);
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("too many")),
        "{body}"
    );
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A holder request for a request that does not exist, from `forwarded_for` if given.
async fn holder_request(app: &TestApp, forwarded_for: Option<&str>) -> (u16, HeaderMap, Value) {
    let mut req = app
        .http
        .post(format!("{}/v1.0/issue/{}", app.url, random_id()))
        .header("content-type", "text/plain")
        .body("not.a.jws");
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    call(req).await
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(backend: Backend) {
    let limits = only(|l| l.holder_request_per_minute = 2);
    let Some(app) = app(backend, limits, &["127.0.0.1/32", "10.0.0.0/8"]).await else {
        return;
    };
    // Client A spends its two requests...
    for _ in 0..2 {
        let (s, _, b) = holder_request(&app, Some("198.51.100.1")).await;
        assert_ne!(s, 429, "{b}");
    }
    let (s, h, b) = holder_request(&app, Some("198.51.100.1")).await;
    assert_hosted_429(s, &h, &b);
    // ...client B behind the same proxy still has its own.
    for _ in 0..2 {
        let (s, _, b) = holder_request(&app, Some("198.51.100.2")).await;
        assert_ne!(s, 429, "{b}");
    }
    // A cannot escape by putting a made-up address first: the rightmost untrusted hop counts,
    // and trusted hops (10.x, another proxy of ours) are skipped.
    let (s, h, b) = holder_request(&app, Some("203.0.113.50, 198.51.100.1")).await;
    assert_hosted_429(s, &h, &b);
    let (s, h, b) = holder_request(&app, Some("203.0.113.50, 198.51.100.1, 10.1.2.3")).await;
    assert_hosted_429(s, &h, &b);
    // Requests without the header are the proxy's own.
    let (s, _, b) = holder_request(&app, None).await;
    assert_ne!(s, 429, "{b}");
    app.stop().await;
}

async fn a_client_that_is_not_a_trusted_proxy_cannot_spoof_forwarded_for(backend: Backend) {
    let limits = only(|l| l.holder_request_per_minute = 2);
    // Proxies are configured, but the test client (127.0.0.1) is not one of them.
    let Some(app) = app(backend, limits, &["10.0.0.0/8"]).await else {
        return;
    };
    let (s, _, b) = holder_request(&app, Some("198.51.100.1")).await;
    assert_ne!(s, 429, "{b}");
    let (s, _, b) = holder_request(&app, Some("198.51.100.2")).await;
    assert_ne!(s, 429, "{b}");
    // A new made-up address each time does not buy new requests.
    let (s, h, b) = holder_request(&app, Some("198.51.100.3")).await;
    assert_hosted_429(s, &h, &b);
    let (s, h, b) = holder_request(&app, None).await;
    assert_hosted_429(s, &h, &b);
    app.stop().await;
}

async fn token_request(app: &TestApp, oauth_library: bool) -> (u16, HeaderMap, Value) {
    let mut req = app.http.post(format!("{}/oauth2/token", app.url)).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
        ("client_secret", "wrong"),
    ]);
    if oauth_library {
        req = req.header("x-client-sku", "MSAL.Test");
    }
    call(req).await
}

async fn the_oauth_token_endpoint_answers_429_in_both_of_its_shapes(backend: Backend) {
    let limits = only(|l| l.oauth_token_per_minute = 2);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    for _ in 0..2 {
        let (s, _, b) = token_request(&app, false).await;
        assert_eq!(s, 401, "{b}");
    }
    // Generic callers: the API error shape (plus the OAuth members).
    let (s, h, b) = token_request(&app, false).await;
    assert_hosted_429(s, &h, &b);
    assert_eq!(b["oauth_error"], "invalid_request", "{b}");
    // OAuth libraries: RFC 6749 section 5.2.
    let (s, h, b) = token_request(&app, true).await;
    assert_oauth_429(s, &h, &b);
    app.stop().await;
}

async fn failed_client_authentications_are_limited_per_client(backend: Backend) {
    let limits = only(|l| l.oauth_client_failures_per_minute = 2);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    let (client, secret) = app.create_client("limited", None).await;
    let (other, other_secret) = app.create_client("other", None).await;
    // Successes cost nothing.
    for _ in 0..3 {
        let (s, b) = app.token(&client, &secret, None).await;
        assert_eq!(s, 200, "{b}");
    }
    for _ in 0..2 {
        let (s, b) = app.token(&client, "vrt_cs_wrong", None).await;
        assert_eq!(s, 401, "{b}");
    }
    // Two failures spent the client's budget: even its real secret waits now.
    let (s, b) = app.token(&client, &secret, None).await;
    assert_eq!(s, 429, "{b}");
    assert_error_shape(&b, "tooManyRequests", "rateLimited");
    // Another client is not affected.
    let (s, b) = app.token(&other, &other_secret, None).await;
    assert_eq!(s, 200, "{b}");
    app.stop().await;
}

async fn the_openid4vci_token_endpoint_answers_429_in_the_oauth_shape(backend: Backend) {
    let limits = only(|l| l.openid4vci_token_per_minute = 2);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    let authority = random_id();
    let guess = || {
        app.http
            .post(format!("{}/openid4vci/{authority}/token", app.url))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                ),
                ("pre-authorized_code", "guess.guess"),
                ("tx_code", "0000"),
            ])
    };
    for _ in 0..2 {
        let (s, _, b) = call(guess()).await;
        assert_ne!(s, 429, "{b}");
    }
    let (s, h, b) = call(guess()).await;
    assert_oauth_429(s, &h, &b);
    app.stop().await;
}

async fn the_holder_request_endpoint_answers_429_in_the_hosted_shape(backend: Backend) {
    let limits = only(|l| l.holder_request_per_minute = 3);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    for _ in 0..3 {
        let (s, _, b) = holder_request(&app, None).await;
        assert_eq!(s, 400, "{b}");
    }
    let (s, h, b) = holder_request(&app, None).await;
    assert_hosted_429(s, &h, &b);
    let message = b["error"]["innererror"]["message"].as_str().unwrap();
    assert!(message.contains("holder requests"), "{b}");
    app.stop().await;
}

async fn both_presentation_response_endpoints_share_a_bucket_and_answer_in_their_shapes(
    backend: Backend,
) {
    let limits = only(|l| l.presentation_response_per_minute = 2);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    let hosted = |id: String| {
        app.http
            .post(format!("{}/v1.0/responses/{id}", app.url))
            .form(&[("id_token", "x"), ("state", "y")])
    };
    let openid4vp = |id: String| {
        app.http
            .post(format!("{}/openid4vp/responses/{id}", app.url))
            .form(&[("vp_token", "{}"), ("state", "y")])
    };
    let (s, _, b) = call(hosted(random_id())).await;
    assert_ne!(s, 429, "{b}");
    let (s, _, b) = call(openid4vp(random_id())).await;
    assert_ne!(s, 429, "{b}");
    let (s, h, b) = call(hosted(random_id())).await;
    assert_hosted_429(s, &h, &b);
    let (s, h, b) = call(openid4vp(random_id())).await;
    assert_oauth_429(s, &h, &b);
    app.stop().await;
}

async fn the_face_check_upload_answers_429_in_the_hosted_shape(backend: Backend) {
    let limits = only(|l| l.face_check_per_minute = 1);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    let upload = || {
        app.http
            .post(format!("{}/v1.0/faceCheck/{}", app.url, random_id()))
            .bearer_auth("not-the-token")
            .json(&json!({ "image": "AAAA" }))
    };
    let (s, _, b) = call(upload()).await;
    assert_ne!(s, 429, "{b}");
    let (s, h, b) = call(upload()).await;
    assert_hosted_429(s, &h, &b);
    app.stop().await;
}

async fn an_api_client_is_limited_whatever_its_address(backend: Backend) {
    let limits = only(|l| l.api_client_per_minute = 2);
    // The test client is a trusted proxy, so each request can come from another address.
    let Some(app) = app(backend, limits, &["127.0.0.1"]).await else {
        return;
    };
    let (client, secret) = app.create_client("busy", None).await;
    let (s, token) = app.token(&client, &secret, None).await;
    assert_eq!(s, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let (other, other_secret) = app.create_client("quiet", None).await;
    let (_, other_token) = app.token(&other, &other_secret, None).await;
    let other_token = other_token["access_token"].as_str().unwrap().to_owned();
    let poll = |bearer: &str, from: &str| {
        app.http
            .get(format!(
                "{}/v1.0/verifiableCredentials/issuanceRequests/{}",
                app.url,
                random_id()
            ))
            .bearer_auth(bearer)
            .header("x-forwarded-for", from)
    };
    for from in ["198.51.100.1", "198.51.100.2"] {
        let (s, _, b) = call(poll(&token, from)).await;
        assert_eq!(s, 404, "{b}");
    }
    let (s, h, b) = call(poll(&token, "198.51.100.3")).await;
    assert_hosted_429(s, &h, &b);
    let (s, _, b) = call(poll(&other_token, "198.51.100.3")).await;
    assert_eq!(s, 404, "another API client has its own budget: {b}");
    app.stop().await;
}

fn nested(depth: usize) -> String {
    format!(
        "{{\"name\":\"deep\",\"x\":{}1{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

async fn json_bodies_nested_deeper_than_the_limit_are_refused(backend: Backend) {
    let limits = only(|l| l.json_max_depth = 8);
    let Some(app) = app(backend, limits, &[]).await else {
        return;
    };
    let post = |body: String| {
        app.http
            .post(format!("{}/admin/v1/clients", app.url))
            .bearer_auth(&app.admin_token)
            .header("content-type", "application/json")
            .body(body)
    };
    // The object is level 1: seven arrays inside it reach the limit of 8, and parse (the
    // unknown field is then refused by the deserialiser, naming it).
    let (s, _, b) = call(post(nested(7))).await;
    assert_eq!(s, 400, "{b}");
    assert!(!b.to_string().contains("levels"), "{b}");
    // One more is refused before deserialisation, naming the limit.
    let (s, _, b) = call(post(nested(8))).await;
    assert_eq!(s, 400, "{b}");
    assert_error_shape(&b, "badRequest", "invalidRequestBody");
    assert!(
        b["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 8 levels"),
        "{b}"
    );
    // Far past serde_json's own recursion limit: still the same clean 400.
    let (s, _, b) = call(post(nested(100_000))).await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("limit of 8 levels"), "{b}");
    // The JSON vp_token of an OpenID4VP answer too.
    let (s, _, b) = call(
        app.http
            .post(format!("{}/openid4vp/responses/{}", app.url, random_id()))
            .form(&[("vp_token", nested(8).as_str()), ("state", "y")]),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_request", "{b}");
    assert!(b.to_string().contains("limit of 8 levels"), "{b}");
    // Brackets inside strings are not nesting.
    let (s, b) = app
        .admin(
            reqwest::Method::POST,
            "/clients",
            Some(json!({ "name": "[[[[[[[[[[[[[[[[[[[[" })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.stop().await;
}

/// Writes `head` (and nothing more) on a fresh connection and returns what the server answers
/// within 10 s.
async fn stall(app: &TestApp, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(app.socket()).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the server kept a stalled connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn slow_clients_are_cut_off_by_the_timeouts(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c: &mut Config| {
        c.server.client_request_timeout_ms = 500;
        c.server.request_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    // A head that never ends: 408 from the HTTP layer.
    let answer = stall(&app, "GET /health/live HTTP/1.1\r\nHost: localhost\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.stop().await;
    // A body that never arrives: the request deadline answers 503 with Retry-After. (Its own
    // app with a head timeout well above the deadline: on a loaded machine the head of this
    // request may be read after 500 ms, which would be the head timeout's 408.)
    let Some(app) = spawn_app_with(backend, |c: &mut Config| {
        c.server.client_request_timeout_ms = 5_000;
        c.server.request_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    let head = format!(
        "POST /admin/v1/clients HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"name\":",
        app.admin_token
    );
    let answer = stall(&app, &head).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(answer.contains("transientError"), "{answer}");
    app.stop().await;
}
