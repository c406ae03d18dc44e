//! Issuance end to end: the real app, the reference wallet over HTTP, a recording RP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use verity_jose::{Jwk, UnverifiedJws};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env};
use verity_tests::{Backend, both_backends};
use verity_wallet::ReceiveOptions;

both_backends!(id_token_hint_with_pin_issues_a_verifiable_credential);

/// Verifies a JWT-VC against the issuer's published did.json and returns its payload.
async fn verify_vc(env: &IssuanceEnv, vc: &str) -> Value {
    let jws = UnverifiedJws::parse(vc).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    let (status, doc) = env.app.get("/.well-known/did.json", None).await;
    assert_eq!(status, 200);
    let vm = doc["verificationMethod"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["id"] == kid)
        .expect("kid published");
    assert!(
        doc["assertionMethod"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == &vm["id"])
    );
    let jwk = Jwk::from_json_value(&vm["publicKeyJwk"]).unwrap();
    jws.verify(&jwk).unwrap().claims().unwrap()
}

async fn id_token_hint_with_pin_issues_a_verifiable_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["includeQRCode"] = json!(true);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["pin"] = json!({ "value": "3539", "length": 4 });
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .starts_with("openid-vc://?request_uri=")
    );
    let request_id = created["requestId"].as_str().unwrap().to_owned();

    let cred = env
        .wallet
        .receive(
            created["url"].as_str().unwrap(),
            ReceiveOptions {
                pin: Some("3539".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let payload = verify_vc(&env, &cred.jwt).await;
    assert_eq!(payload["iss"], env.authority);
    assert_eq!(payload["sub"], env.wallet.did());
    assert!(payload["jti"].as_str().unwrap().starts_with("urn:uuid:"));
    assert_eq!(
        payload["vc"]["type"],
        json!(["VerifiableCredential", "VerifiedCredentialExpert"])
    );
    assert_eq!(payload["vc"]["credentialSubject"]["givenName"], "Megan");
    assert_eq!(payload["vc"]["credentialSubject"]["familyName"], "Bowen");
    assert_eq!(payload["vc"]["credentialSubject"]["id"], env.wallet.did());
    let iat = payload["iat"].as_i64().unwrap();
    assert_eq!(
        payload["exp"].as_i64().unwrap() - iat,
        2_592_000,
        "expiry from the contract's validityInterval"
    );
    let status_entry = &payload["vc"]["credentialStatus"];
    assert_eq!(status_entry["type"], "BitstringStatusListEntry");
    assert_eq!(status_entry["statusPurpose"], "revocation");
    let index: u32 = status_entry["statusListIndex"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(index < 131_072);
    assert!(
        status_entry["statusListCredential"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/v1.0/status/", env.app.url))
    );

    // Callbacks: request_retrieved then issuance_successful, with the RP's headers echoed.
    let calls = env.rp.wait_for(2).await;
    let statuses: Vec<&str> = calls
        .iter()
        .map(|c| c.body["requestStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["request_retrieved", "issuance_successful"]);
    for c in &calls {
        assert_eq!(
            c.headers.get("api-key").map(String::as_str),
            Some("rp-secret")
        );
        assert_eq!(c.body["requestId"], request_id);
        assert_eq!(c.body["state"], "rp-state-1");
    }
    // Polling shows the same final status.
    let (status, polled) = env
        .app
        .get(
            &format!("/v1.0/verifiableCredentials/issuanceRequests/{request_id}"),
            Some(&env.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(polled["requestStatus"], "issuance_successful");
}
