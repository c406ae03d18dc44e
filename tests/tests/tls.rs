//! Built-in HTTPS: with `[server.tls]` the same service answers over TLS (rustls).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use verity_server::config::TlsConfig;
use verity_tests::{Backend, start, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_configured_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let db = Arc::new(
        verity_store::testing::fresh_database(Backend::Sqlite)
            .await
            .unwrap(),
    );
    let mut config = test_config(&db.url, dir.path());
    config.server.tls = Some(TlsConfig {
        cert_path,
        key_path,
    });
    let app = start(config, db, dir).await.unwrap();

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}", app.port);
    let resp = client
        .get(format!("{url}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The first authority's DID and its document use the https origin.
    let doc: serde_json::Value = client
        .get(format!("{url}/.well-known/did.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["id"], format!("did:web:localhost%3A{}", app.port));
    assert_eq!(
        doc["service"][0]["serviceEndpoint"]["origins"][0],
        format!("https://localhost:{}/", app.port)
    );
    // Plain http to the TLS port is not served.
    let plain = reqwest::get(format!("http://localhost:{}/health/live", app.port)).await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()));
}

#[tokio::test]
async fn missing_certificate_is_a_clear_startup_error() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let db = Arc::new(
        verity_store::testing::fresh_database(Backend::Sqlite)
            .await
            .unwrap(),
    );
    let mut config = test_config(&db.url, dir.path());
    config.server.tls = Some(TlsConfig {
        cert_path: dir.path().join("nope.pem"),
        key_path: dir.path().join("nope.key"),
    });
    let err = start(config, db, dir).await.err().expect("refused");
    assert!(err.to_string().contains("nope.pem"), "{err}");
}
