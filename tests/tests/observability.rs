//! Observability through the real app: `/metrics` counts requests, flow steps, callbacks, cache
//! lookups and pool use; callbacks carry the id of the request that caused them. Each case runs
//! on SQLite and Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Secret;
use verity_tests::presentation::{Fixture, payload_of, present_with};
use verity_tests::{Backend, both_backends, spawn_app_with};
use verity_wallet::PresentationOptions;

both_backends!(
    metrics_move_after_an_issuance_and_a_presentation,
    metrics_are_loopback_only_or_behind_a_bearer_token,
    a_callback_carries_the_request_id_of_the_request_that_caused_it,
    admin_actions_and_revocations_are_in_the_audit_log,
);

/// The `/metrics` text, read from loopback.
async fn scrape(url: &str, http: &reqwest::Client) -> String {
    let resp = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    resp.text().await.unwrap()
}

/// The value of the series written exactly as `series` (name and labels), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn metrics_move_after_an_issuance_and_a_presentation(backend: Backend) {
    // The fixture issues one credential (contract creation, issuance request, wallet flow).
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = &f.env.app;
    let before = scrape(&app.url, &app.http).await;
    for family in [
        "# TYPE verity_http_requests_total counter",
        "# TYPE verity_http_request_duration_seconds histogram",
        "# TYPE verity_flow_steps_total counter",
        "# TYPE verity_callback_attempts_total counter",
        "# TYPE verity_callback_queue_depth gauge",
        "# TYPE verity_cache_requests_total counter",
        "# TYPE verity_db_pool_connections gauge",
    ] {
        assert!(before.contains(family), "{family} missing:\n{before}");
    }
    let issued =
        r#"verity_flow_steps_total{kind="issuance",to="issuance_successful",outcome="applied"}"#;
    assert_eq!(value(&before, issued), 1.0, "{before}");
    let created = r#"verity_http_requests_total{method="POST",route="/v1.0/verifiableCredentials/createIssuanceRequest",status="2xx"}"#;
    assert_eq!(value(&before, created), 1.0, "{before}");
    // Route patterns, never raw paths with ids.
    assert!(
        before.contains(r#"route="/v1.0/manifests/{"#),
        "manifest route pattern:\n{before}"
    );
    let backend_name = app.state.store.backend();
    let max = format!(r#"verity_db_pool_connections{{backend="{backend_name}",state="max"}}"#);
    assert!(value(&before, &max) >= 1.0, "{before}");

    let verified = r#"verity_flow_steps_total{kind="presentation",to="presentation_verified",outcome="applied"}"#;
    assert_eq!(value(&before, verified), 0.0);
    let (_, url) = f.request(vec![f.requested()]).await;
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    // The callbacks of both flows get delivered (request_retrieved and verified at least).
    f.env.rp.wait_for(4).await;
    let after = scrape(&app.url, &app.http).await;
    assert_eq!(value(&after, verified), 1.0, "{after}");
    let answered = r#"verity_http_request_duration_seconds_count{method="POST",route="/v1.0/verifiableCredentials/createPresentationRequest"}"#;
    assert_eq!(value(&after, answered), 1.0, "{after}");
    let delivered = r#"verity_callback_attempts_total{result="delivered"}"#;
    assert!(value(&after, delivered) >= 4.0, "{after}");
    // The verifier resolved our own DID through the document cache.
    let doc_lookups = value(
        &after,
        r#"verity_cache_requests_total{cache="own_did_document",result="hit"}"#,
    ) + value(
        &after,
        r#"verity_cache_requests_total{cache="own_did_document",result="miss"}"#,
    );
    assert!(doc_lookups >= 1.0, "{after}");
    // The holder's DID and the issuer's went through the caching DID resolver.
    let resolutions = value(
        &after,
        r#"verity_cache_requests_total{cache="did_resolver",result="hit"}"#,
    ) + value(
        &after,
        r#"verity_cache_requests_total{cache="did_resolver",result="miss"}"#,
    );
    assert!(resolutions >= 1.0, "{after}");
    // The scrape before counts as a request too.
    let scrapes = r#"verity_http_requests_total{method="GET",route="/metrics",status="2xx"}"#;
    assert!(value(&after, scrapes) >= 1.0, "{after}");
}

async fn metrics_are_loopback_only_or_behind_a_bearer_token(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.metrics.bearer_token = Some(Secret::new("scrape-secret"));
    })
    .await
    else {
        return;
    };
    let get = |token: Option<&str>| {
        let mut r = app.http.get(format!("{}/metrics", app.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 403);
    assert_eq!(get(Some("wrong")).await.unwrap().status(), 403);
    let ok = get(Some("scrape-secret")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("verity_http_requests_total")
    );

    let Some(off) = spawn_app_with(backend, |c| c.metrics.enabled = false).await else {
        return;
    };
    let resp = off
        .http
        .get(format!("{}/metrics", off.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

async fn a_callback_carries_the_request_id_of_the_request_that_caused_it(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = &f.env.app;
    let (request_id, url) = f.request(vec![f.requested()]).await;
    // Fetch the request object ourselves: that request moves the flow to request_retrieved.
    let fetched = app
        .http
        .get(format!("{}/v1.0/requests/{request_id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    let fetch_id = fetched.headers()["request-id"].to_str().unwrap().to_owned();
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let mut ours = Vec::new();
    for _ in 0..200 {
        ours = f
            .env
            .rp
            .calls()
            .into_iter()
            .filter(|c| c.body["requestId"] == request_id.as_str())
            .collect();
        if ours.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let of = |status: &str| {
        ours.iter()
            .find(|c| c.body["requestStatus"] == status)
            .unwrap_or_else(|| panic!("no {status} callback: {ours:?}"))
    };
    let retrieved = of("request_retrieved");
    assert_eq!(retrieved.headers["x-request-id"], fetch_id);
    assert_eq!(retrieved.headers["api-key"], "rp-secret", "RP headers kept");
    let verified = of("presentation_verified");
    let answer_id = &verified.headers["x-request-id"];
    assert!(!answer_id.is_empty());
    assert_ne!(answer_id, &fetch_id, "the answer was another request");
    // The id is stored with the outbox row, so a retry sends the same one.
    let stored = verity_tests::presentation::outbox_of(app, &request_id).await;
    let row = stored
        .iter()
        .find(|m| m.request_status == "request_retrieved")
        .unwrap();
    assert_eq!(row.headers["X-Request-Id"], fetch_id.as_str());
}

async fn admin_actions_and_revocations_are_in_the_audit_log(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = &f.env.app;
    // The fixture's own admin calls (API client, contract) are logged already.
    let (status, before) = app.admin(Method::GET, "/audit", None).await;
    assert_eq!(status, 200, "{before}");
    let before = before.as_array().unwrap().len();
    assert!(before >= 2, "fixture calls audited");

    let (status, tenant) = app
        .admin(Method::POST, "/tenants", Some(json!({ "name": "audited" })))
        .await;
    assert_eq!(status, 201, "{tenant}");
    let (id, secret) = app.create_client("audited-client", None).await;
    let resp = app
        .http
        .post(format!("{}/admin/v1/tenants", app.url))
        .bearer_auth("not-the-admin-token")
        .header("x-verity-principal", "cli:mallory")
        .json(&json!({ "name": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let jti = payload_of(&f.vc)["jti"].as_str().unwrap().to_owned();
    let (status, revoked) = app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti, "reason": "left the company" })),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");

    let (status, log) = app.admin(Method::GET, "/audit?limit=1000", None).await;
    assert_eq!(status, 200, "{log}");
    let rows = log.as_array().unwrap();
    let find = |action: &str, outcome: &str| -> Value {
        rows.iter()
            .rev()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action} {outcome}: {log}"))
            .clone()
    };
    let created = find("POST /admin/v1/tenants", "201");
    assert_eq!(created["actor"], "admin-token");
    assert!(
        created["target"]
            .as_str()
            .unwrap()
            .contains(&format!("id={}", tenant["id"].as_str().unwrap())),
        "{created}"
    );
    assert!(!created["requestId"].as_str().unwrap().is_empty());
    let client = find("POST /admin/v1/clients", "201");
    assert!(client["target"].as_str().unwrap().contains(&id), "{client}");
    // A call without the admin token is only logged, never written.
    assert!(
        !rows.iter().any(|r| r["outcome"] == "401"),
        "refused call in the audit log: {log}"
    );
    let revocation = find("POST /admin/v1/credentials/revoke", "revoked");
    assert_eq!(revocation["target"], format!("credential={jti}"));
    assert_eq!(revocation["actor"], "admin-token");
    // Written once, by the store (no second row from the middleware).
    assert_eq!(
        rows.iter()
            .filter(|r| r["action"] == "POST /admin/v1/credentials/revoke")
            .count(),
        1,
        "{log}"
    );
    // Never a secret.
    assert!(
        !log.to_string().contains(&secret),
        "client secret in the audit log"
    );
    assert!(!log.to_string().contains(&app.admin_token));

    // Paging by time and limits.
    let (status, none) = app
        .admin(Method::GET, "/audit?since=2999-01-01T00:00:00Z", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(none, json!([]));
    let (status, one) = app.admin(Method::GET, "/audit?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (status, _) = app.admin(Method::GET, "/audit?limit=0", None).await;
    assert_eq!(status, 400);
    let (status, _) = app.admin(Method::GET, "/audit?since=yesterday", None).await;
    assert_eq!(status, 400);
    let (status, _) = app.get("/admin/v1/audit", Some("wrong")).await;
    assert_eq!(status, 401);
    // Reading the log is not itself an entry.
    let (_, again) = app.admin(Method::GET, "/audit?limit=1000", None).await;
    assert_eq!(again.as_array().unwrap().len(), rows.len());
}
