//! Suspension: a credential of a suspendable contract (`rules.suspendable`) carries a
//! revocation and a suspension status entry at one index of a multi-purpose list; suspending it
//! makes every verifier (ours at once, reading the store) refuse it until it is resumed.
//! Credentials without a suspension entry are refused 409 and stay valid. Both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use verity_jose::Algorithm;
use verity_tests::issuance::{example_contract, issuance_env_with};
use verity_tests::presentation::{Fixture, payload_of, queued_callback};
use verity_tests::{Backend, both_backends};
use verity_wallet::PresentationOptions;

both_backends!(
    a_suspended_credential_is_refused_until_resumed,
    credentials_without_a_suspension_entry_cannot_be_suspended,
);

async fn suspendable_fixture(backend: Backend) -> Option<Fixture> {
    let env = issuance_env_with(backend, Algorithm::EdDSA, |_| {}).await?;
    let mut definition = example_contract("id-token-hint", &env.authority);
    definition["rules"]["suspendable"] = json!(true);
    let contract = env.create_contract(definition).await;
    let vc = verity_tests::presentation::issue(&env, &contract, "Megan").await;
    Some(Fixture { env, contract, vc })
}

async fn set(f: &Fixture, action: &str, jti: &Value, reason: &str) -> (u16, Value) {
    f.env
        .app
        .admin(
            Method::POST,
            &format!("/credentials/{action}"),
            Some(json!({ "jti": jti, "reason": reason })),
        )
        .await
}

async fn verified(f: &Fixture) {
    let (id, (status, body)) = f.present(&PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    queued_callback(&f.env.app, &id, "presentation_verified").await;
}

async fn a_suspended_credential_is_refused_until_resumed(backend: Backend) {
    let Some(f) = suspendable_fixture(backend).await else {
        return;
    };
    let payload = payload_of(&f.vc);
    let jti = payload["jti"].clone();
    // Two entries, one per purpose, at one index.
    let entries = payload["vc"]["credentialStatus"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["statusPurpose"], "revocation");
    assert_eq!(entries[1]["statusPurpose"], "suspension");
    assert_eq!(entries[0]["statusListIndex"], entries[1]["statusListIndex"]);
    let suspension_url = entries[1]["statusListCredential"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        suspension_url,
        format!(
            "{}/suspension",
            entries[0]["statusListCredential"].as_str().unwrap()
        )
    );
    // The suspension view is a signed list with that purpose.
    let fetch = |url: String| {
        let http = f.env.app.http.clone();
        async move {
            let resp = http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let list = payload_of(&fetch(suspension_url.clone()).await);
    assert_eq!(
        list["vc"]["credentialSubject"]["statusPurpose"],
        "suspension"
    );
    assert_eq!(list["vc"]["id"], suspension_url, "{list}");

    verified(&f).await;

    let (status, body) = set(&f, "suspend", &jti, "lost phone").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["status"], "SUSPENDED");
    assert_eq!(body[0]["suspensionReason"], "lost phone");
    // Our own verifier sees it at once (it reads the store), and so does anyone fetching the
    // list: the bit is set.
    let cb = f
        .refused(
            &PresentationOptions::default(),
            "PRES-044",
            "credentialRevoked",
        )
        .await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{cb}"
    );
    let list = payload_of(&fetch(suspension_url.clone()).await);
    let index = entries[1]["statusListIndex"]
        .as_str()
        .unwrap()
        .parse::<usize>()
        .unwrap();
    let bits = verity_status_list::decode(
        list["vc"]["credentialSubject"]["encodedList"]
            .as_str()
            .unwrap(),
        index + 1,
    )
    .unwrap();
    assert!(bits.get(index).unwrap(), "the suspension bit is set");

    let (status, body) = set(&f, "resume", &jti, "found it").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["status"], "VALID");
    assert_eq!(body[0]["suspendedAt"], Value::Null);
    verified(&f).await;

    // The audit log has both, with the admin token as the actor.
    let (_, audit) = f.env.app.admin(Method::GET, "/audit", None).await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().contains("/credentials/"))
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["suspended", "resumed"]);

    // Revocation is final: a revoked credential cannot be suspended.
    let (status, _) = f
        .env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = set(&f, "suspend", &jti, "x").await;
    assert_eq!(status, 409, "{body}");
    verity_tests::assert_error_shape(&body, "conflict", "conflict");
}

async fn credentials_without_a_suspension_entry_cannot_be_suspended(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let payload = payload_of(&f.vc);
    assert!(
        payload["vc"]["credentialStatus"].is_object(),
        "one entry, as before"
    );
    let (status, body) = set(&f, "suspend", &payload["jti"], "x").await;
    assert_eq!(status, 409, "{body}");
    let inner = verity_tests::assert_error_shape(&body, "conflict", "conflict");
    assert!(
        inner["message"]
            .as_str()
            .unwrap()
            .contains("without a suspension status entry"),
        "{inner}"
    );
    verified(&f).await;
    // Unknown credentials are 404; a contract that is suspendable without being revocable is
    // refused at its field.
    let (status, _) = set(&f, "suspend", &json!("urn:uuid:nobody"), "x").await;
    assert_eq!(status, 404);
    let mut definition = example_contract("id-token-hint", &f.env.authority);
    definition["id"] = json!("not-revocable");
    definition["rules"]["suspendable"] = json!(true);
    definition["rules"]["revocable"] = json!(false);
    let (status, body) = f
        .env
        .app
        .admin(Method::POST, "/contracts", Some(definition))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["target"], "rules.suspendable");
    // The suspension view of a revocation-only list does not exist.
    let list_url = payload["vc"]["credentialStatus"]["statusListCredential"]
        .as_str()
        .unwrap();
    let resp = f
        .env
        .app
        .http
        .get(format!("{list_url}/suspension"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
