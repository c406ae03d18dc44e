//! Status lists: the list an issued credential points at is published, signed by its issuer,
//! cacheable (ETag, max-age) and says VALID for a fresh credential.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{Jwk, UnverifiedJws};
use verity_status_list::{CredentialStatus, StatusEntry};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env};
use verity_tests::{Backend, both_backends};
use verity_wallet::ReceiveOptions;

both_backends!(issued_credential_points_at_a_published_signed_list);

async fn issue_one(env: &IssuanceEnv, contract: &str, given: &str) -> Value {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": given, "family_name": "Bowen" });
    let url = env.request_url(&body).await;
    let cred = env.wallet.receive(&url, ReceiveOptions::default()).await.unwrap();
    UnverifiedJws::parse(&cred.jwt).unwrap().payload_unverified().unwrap()
}

async fn issued_credential_points_at_a_published_signed_list(backend: Backend) {
    let Some(env) = issuance_env(backend).await else { return };
    let contract = env.create_contract(example_contract("id-token-hint", &env.authority)).await;
    let a = issue_one(&env, &contract, "Megan").await;
    let b = issue_one(&env, &contract, "Alex").await;
    let entry_a = StatusEntry::from_json(&a["vc"]["credentialStatus"]).unwrap();
    let entry_b = StatusEntry::from_json(&b["vc"]["credentialStatus"]).unwrap();
    assert_eq!(entry_a.status_list_credential, entry_b.status_list_credential, "one open list per authority");
    assert_ne!(entry_a.status_list_index, entry_b.status_list_index, "indices are never shared");

    let url = entry_a.status_list_credential.clone();
    let resp = env.app.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(resp.headers()["cache-control"].to_str().unwrap().contains("max-age="));
    let jwt = resp.text().await.unwrap();

    // Signed by the issuer's published assertion key.
    let kid = UnverifiedJws::parse(&jwt).unwrap().header().kid.clone().unwrap();
    let (_, doc) = env.app.get("/.well-known/did.json", None).await;
    let vm = doc["verificationMethod"].as_array().unwrap().iter().find(|vm| vm["id"] == kid).unwrap();
    let key = Jwk::from_json_value(&vm["publicKeyJwk"]).unwrap();
    let list = verity_status_list::verify_status_list(&jwt, &key, &url, env.app.clock.unix(), 60).unwrap();
    assert_eq!(list.issuer(), env.authority);
    assert_eq!(list.bitstring().len(), 131_072);
    assert_eq!(verity_status_list::check(&entry_a, &list).unwrap(), CredentialStatus::Valid);
    assert_eq!(verity_status_list::check(&entry_b, &list).unwrap(), CredentialStatus::Valid);

    // Conditional requests are answered 304 while the list is unchanged; the signed copy is reused.
    let resp = env.app.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), 304);
    let again = env.app.http.get(&url).header("accept", "application/vc+jwt").send().await.unwrap();
    assert_eq!(again.headers()["content-type"], "application/vc+jwt");
    assert_eq!(again.text().await.unwrap(), jwt, "not re-signed while unchanged");

    // Unknown lists are 404 in the error shape.
    let (status, body) = env.app.get(&format!("/v1.0/status/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!(status, 404);
    verity_tests::assert_error_shape(&body, "notFound", "notFound");
}
