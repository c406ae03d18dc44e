//! KEK rotation (docs/OPERATIONS.md, "KEK rotation"), on SQLite and Postgres: a service set up
//! under one key-encryption key moves to another without losing a signing key, an API client
//! secret or an API key; a KEK that opens nothing stops start-up naming both KEK ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Secret;
use verity_store::testing::Backend;
use verity_tests::{TestApp, new_kek, spawn_app, test_config};

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(verity_store::testing::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(verity_store::testing::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_backends!(a_rotated_kek_keeps_every_key_and_credential);

/// What must keep working across the rotation: the client secret and API key made before it.
struct Made {
    client_id: String,
    secret: String,
    api_key: String,
    authority: String,
    published: Value,
}

/// Everything that needs a key or the derived pepper: an OAuth token (service signing key,
/// client-secret pepper), an API key, a presentation request whose request object the
/// authority signs, and the same published keys.
async fn still_works(app: &TestApp, made: &Made) {
    let (status, token) = app.token(&made.client_id, &made.secret, None).await;
    assert_eq!(
        status, 200,
        "client secret made before the rotation: {token}"
    );
    let (status, body) = app
        .get(
            "/v1.0/verifiableCredentials/authorities",
            Some(&made.api_key),
        )
        .await;
    assert_eq!(status, 200, "API key made before the rotation: {body}");
    let (status, created) = verity_tests::send(
        app.http
            .post(format!(
                "{}/v1.0/verifiableCredentials/createPresentationRequest",
                app.url
            ))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .json(&json!({
                "authority": made.authority,
                "includeQRCode": false,
                "registration": { "clientName": "Helpdesk" },
                "callback": { "url": "https://rp.example/cb", "state": "s" },
                "requestedCredentials": [{ "type": "VerifiedEmployee" }],
            })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let url = url::Url::parse(created["url"].as_str().unwrap()).unwrap();
    let request_uri = url
        .query_pairs()
        .find(|(k, _)| k == "request_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let path = url::Url::parse(&request_uri).unwrap();
    let (status, object) = app.get(path.path(), None).await;
    assert_eq!(
        status, 200,
        "the authority signs its request object: {object}"
    );
    assert_eq!(
        published_keys(app, &made.authority).await,
        made.published,
        "the same keys are published"
    );
}

/// The authority's keys as the admin API lists them (public parts only).
async fn published_keys(app: &TestApp, authority: &str) -> Value {
    let (status, keys) = app
        .admin(
            Method::GET,
            &format!(
                "/authorities/{}/keys",
                authority.replace('%', "%25").replace(':', "%3A")
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{keys}");
    keys
}

async fn restart(app: &TestApp, kek: &str, other: Option<&str>) -> Result<TestApp, String> {
    let mut config = test_config(&app.db.url, app.data_dir.path());
    config.auth.admin_token = app.config.auth.admin_token.clone();
    config.keys.kek = Some(Secret::new(kek));
    config.keys.other_kek = other.map(Secret::new);
    verity_tests::start(config, Arc::clone(&app.db), Arc::clone(&app.data_dir))
        .await
        .map_err(|e| e.to_string())
}

async fn a_rotated_kek_keeps_every_key_and_credential(backend: Backend) {
    let Some(first) = spawn_app(backend).await else {
        return;
    };
    let old = first.config.keys.kek.as_ref().unwrap().expose().to_owned();
    let (client_id, secret) = first.create_client("rp", None).await;
    let (status, key) = first
        .admin(Method::POST, "/api-keys", Some(json!({ "name": "rp" })))
        .await;
    assert_eq!(status, 201, "{key}");
    let authority = first.first_did();
    let published = published_keys(&first, &authority).await;
    let made = Made {
        client_id,
        secret,
        api_key: key["key"].as_str().unwrap().to_owned(),
        published,
        authority,
    };
    still_works(&first, &made).await;
    first.stop().await;
    let new = new_kek();

    // Step 1 (replicas that must read what the others will seal): the old KEK with the new one
    // as the other. Nothing is re-sealed; everything works.
    let step1 = restart(&first, &old, Some(&new)).await.unwrap();
    still_works(&step1, &made).await;
    let old_id = step1.app_state().kek.id();
    let store = step1.app_state().store.clone();
    assert!(
        store
            .keys_sealed_with_other_kek(&old_id)
            .await
            .unwrap()
            .is_empty()
    );
    step1.stop().await;

    // Step 2: the new KEK with the old one as the other: every key and the root of derived
    // secrets are re-sealed under the new KEK at start-up.
    let step2 = restart(&first, &new, Some(&old)).await.unwrap();
    let new_id = step2.app_state().kek.id();
    let store = step2.app_state().store.clone();
    assert_ne!(new_id, old_id);
    assert!(
        store
            .keys_sealed_with_other_kek(&new_id)
            .await
            .unwrap()
            .is_empty(),
        "every key re-sealed"
    );
    let root = store.service_secret("subkey-root").await.unwrap().unwrap();
    assert_eq!(root.kek_id, new_id);
    still_works(&step2, &made).await;
    step2.stop().await;

    // Step 3: the new KEK alone.
    let step3 = restart(&first, &new, None).await.unwrap();
    still_works(&step3, &made).await;
    step3.stop().await;

    // The old KEK alone opens nothing any more: start-up says so, naming both ids.
    let err = restart(&first, &old, None).await.err().expect("refused");
    assert!(err.contains("cannot decrypt"), "{err}");
    assert!(err.contains(&old_id) && err.contains(&new_id), "{err}");
    // Nor does an unrelated KEK given as the other one.
    let err = restart(&first, &new_kek(), Some(&new_kek()))
        .await
        .err()
        .expect("refused");
    assert!(err.contains("cannot decrypt"), "{err}");
    // The other KEK must be another key.
    let err = restart(&first, &new, Some(&new))
        .await
        .err()
        .expect("refused");
    assert!(err.contains("keys.other_kek is the same key"), "{err}");
}
