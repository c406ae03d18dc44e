//! Our own authorities' DID documents, keys and status lists come from the store: a revocation
//! or key rotation counts on the very next presentation, on the instance that made it and on
//! another instance on the same database, with no HTTP cache in between.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, example_contract};
use verity_tests::presentation::{
    EXPERT, Fixture, assert_refused, env_around, issue_to, new_presentation, payload_of,
    present_with, presentation_body, queued_callback, requested,
};
use verity_tests::{Backend, TestApp, allow_local_resolution, both_backends, start, test_config};
use verity_wallet::{Algorithm, DidMethod, PresentationOptions, Wallet, WalletConfig};

both_backends!(
    revocation_counts_on_the_next_presentation,
    second_instance_sees_revocation_and_rotation_at_once,
    own_credentials_verify_without_local_resolution,
);

/// Revokes the credential with `jti` through `app`'s admin API.
async fn revoke(app: &TestApp, jti: &Value) {
    let (status, body) = app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Presents `vc` (the only credential asked for, of `issuer`) to `env`'s app; returns the
/// request id and the app's answer.
async fn present(env: &IssuanceEnv, issuer: &str, vc: &str) -> (String, (u16, Value)) {
    let mut body = presentation_body(env, vec![requested(EXPERT, &[issuer])]);
    body["authority"] = json!(issuer);
    let (id, url) = new_presentation(env, &body).await;
    let opts = PresentationOptions {
        credentials: vec![vc.to_owned()],
        ..PresentationOptions::default()
    };
    (id, present_with(&env.wallet, &url, &opts).await)
}

async fn assert_verified(env: &IssuanceEnv, request_id: &str, answer: &(u16, Value)) {
    assert_eq!(answer.0, 200, "{}", answer.1);
    let cb = queued_callback(&env.app, request_id, "presentation_verified").await;
    assert_eq!(
        cb["verifiedCredentialsData"][0]["credentialState"],
        json!({ "revocationStatus": "VALID" })
    );
}

/// A presentation verified (so any cache of the list would now be warm), then a revocation:
/// the very next presentation is refused.
async fn revocation_counts_on_the_next_presentation(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let issuer = f.env.authority.clone();
    let (id, answer) = present(&f.env, &issuer, &f.vc).await;
    assert_verified(&f.env, &id, &answer).await;

    revoke(&f.env.app, &payload_of(&f.vc)["jti"]).await;
    let (id, answer) = present(&f.env, &issuer, &f.vc).await;
    let cb = assert_refused(&f.env, &id, &answer, "PRES-043", "credentialRevoked").await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains("revoked"),
        "{cb}"
    );
}

/// Two instances on one database, configured for the same domains as replicas behind one
/// name are: `a` issues, revokes and rotates, `b` verifies, and sees each change at once.
async fn second_instance_sees_revocation_and_rotation_at_once(backend: Backend) {
    let Some(db) = verity_store::testing::fresh_database(backend).await else {
        return;
    };
    let db = Arc::new(db);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, dir.path());
    allow_local_resolution(&mut config);
    allow_local_callbacks(&mut config);
    let a = start(config.clone(), db.clone(), dir.clone())
        .await
        .unwrap();
    let issuer = a.first_did();
    // `b` answers for `a`'s host too (same KEK, same database): a replica.
    config.server.domains = vec![format!("localhost:{}", a.port)];
    let b = start(config, db, dir).await.unwrap();

    let policy = WalletConfig::local_development().fetch_policy;
    let a = env_around(a, policy.clone()).await;
    let mut b = env_around(b, policy).await;
    // The holder resolves `a`'s DID too (request objects): without a cache of its own, so a
    // rotation is a test of the servers alone.
    let mut wallet_config =
        WalletConfig::local_development().with_clock(Arc::new(b.app.clock.clone()));
    wallet_config.did_cache_ttl = std::time::Duration::ZERO;
    b.wallet_dir = tempfile::tempdir().unwrap();
    b.wallet = Wallet::create_with_config(
        b.wallet_dir.path(),
        Algorithm::EdDSA,
        DidMethod::Jwk,
        wallet_config,
    )
    .unwrap();
    let contract = a
        .create_contract(example_contract("id-token-hint", &issuer))
        .await;
    let vc = issue_to(&a, &b.wallet, &issuer, &contract, "Megan", |_| {}).await;
    let kept = issue_to(&a, &b.wallet, &issuer, &contract, "Alex", |_| {}).await;

    // `b` verifies once: its view of `a`'s DID and list is now as warm as it gets.
    let (id, answer) = present(&b, &issuer, &vc).await;
    assert_verified(&b, &id, &answer).await;

    // Revoked on `a`: refused on `b` right away.
    revoke(&a.app, &payload_of(&vc)["jti"]).await;
    let (id, answer) = present(&b, &issuer, &vc).await;
    assert_refused(&b, &id, &answer, "PRES-043", "credentialRevoked").await;

    // A key rotation on `a`: `b` verifies a credential signed with the new key at once, and
    // still those of the retiring key.
    let authority = a.store().authority_by_did(&issuer).await.unwrap().unwrap();
    let old = a.store().active_key(authority.id).await.unwrap().unwrap();
    let (status, rotated) = a
        .app
        .admin(
            Method::POST,
            &format!("/authorities/{}/keys/rotate", authority.id),
            None,
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let fresh = issue_to(&a, &b.wallet, &issuer, &contract, "Megan", |_| {}).await;
    let kid = |jwt: &str| {
        verity_jose::UnverifiedJws::parse(jwt)
            .unwrap()
            .header()
            .kid
            .clone()
            .unwrap()
    };
    assert_eq!(
        kid(&fresh),
        format!("{issuer}#{}", rotated["kid"].as_str().unwrap()),
        "signed with the new key"
    );
    let (id, answer) = present(&b, &issuer, &fresh).await;
    assert_verified(&b, &id, &answer).await;
    let (id, answer) = present(&b, &issuer, &kept).await;
    assert_verified(&b, &id, &answer).await;

    // Once `a` withdraws the old key, `b` no longer accepts what it signed.
    let (status, body) = a
        .app
        .admin(Method::POST, &format!("/keys/{}/revoke", old.id), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (id, answer) = present(&b, &issuer, &kept).await;
    let cb = assert_refused(&b, &id, &answer, "PRES-035", "credentialValidationError").await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains(&old.kid),
        "{cb}"
    );
}

/// Zero-config `serve` (plain http on localhost, which the fetch policy refuses) verifies its
/// own credentials: its DID document, status list and linkage never go over HTTP.
async fn own_credentials_verify_without_local_resolution(backend: Backend) {
    let Some(f) = Fixture::start_with(backend, |c| {
        c.resolver.allow_loopback = false;
        c.resolver.allow_http_hosts.clear();
    })
    .await
    else {
        return;
    };
    let issuer = f.env.authority.clone();
    let mut r = requested(EXPERT, &[&issuer]);
    r["configuration"]["validation"]["validateLinkedDomain"] = json!(true);
    let (id, url) = new_presentation(&f.env, &presentation_body(&f.env, vec![r])).await;
    let answer = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    let cb = queued_callback(&f.env.app, &id, "presentation_verified").await;
    let domain = cb["verifiedCredentialsData"][0]["domainValidation"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a verified domain in {cb}"));
    assert_eq!(domain.trim_end_matches('/'), f.env.app.url, "{cb}");
}
