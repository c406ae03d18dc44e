//! Status lists: the list an issued credential points at is published, signed by its issuer,
//! cacheable (ETag, max-age) and says VALID for a fresh credential.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use verity_core::Clock;
use verity_jose::UnverifiedJws;
use verity_status_list::{CredentialStatus, StatusEntry};

use rand_core::OsRng;
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env};
use verity_tests::{Backend, assert_error_shape, both_backends};
use verity_wallet::ReceiveOptions;

both_backends!(
    issued_credential_points_at_a_published_signed_list,
    revoke_by_claim_and_by_jti_republishes_the_list,
    a_full_list_sends_the_next_credential_to_a_new_list,
    closing_the_lists_sends_new_credentials_to_new_lists,
);

async fn issue_one(env: &IssuanceEnv, contract: &str, given: &str) -> Value {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": given, "family_name": "Bowen" });
    let url = env.request_url(&body).await;
    let cred = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    UnverifiedJws::parse(&cred.jwt)
        .unwrap()
        .payload_unverified()
        .unwrap()
}

async fn issued_credential_points_at_a_published_signed_list(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let a = issue_one(&env, &contract, "Megan").await;
    let b = issue_one(&env, &contract, "Alex").await;
    let entry_a = StatusEntry::from_json(&a["vc"]["credentialStatus"]).unwrap();
    let entry_b = StatusEntry::from_json(&b["vc"]["credentialStatus"]).unwrap();
    assert_eq!(
        entry_a.status_list_credential, entry_b.status_list_credential,
        "one open list per authority"
    );
    assert_ne!(
        entry_a.status_list_index, entry_b.status_list_index,
        "indices are never shared"
    );

    let url = entry_a.status_list_credential.clone();
    let resp = env.app.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let jwt = resp.text().await.unwrap();

    // Signed by the issuer's published assertion key.
    let kid = UnverifiedJws::parse(&jwt)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let list =
        verity_status_list::verify_status_list(&jwt, &key, &url, env.app.clock.unix(), 60).unwrap();
    assert_eq!(list.issuer(), env.authority);
    assert_eq!(list.bitstring().len(), 131_072);
    assert_eq!(
        verity_status_list::check(&entry_a, &list).unwrap(),
        CredentialStatus::Valid
    );
    assert_eq!(
        verity_status_list::check(&entry_b, &list).unwrap(),
        CredentialStatus::Valid
    );

    // Conditional requests are answered 304 while the list is unchanged; the signed copy is reused.
    let resp = env
        .app
        .http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    let again = env
        .app
        .http
        .get(&url)
        .header("accept", "application/jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["content-type"], "application/jwt");
    assert_eq!(
        again.text().await.unwrap(),
        jwt,
        "not re-signed while unchanged"
    );
    // `Accept: application/vc+jwt`: the same bits as a VCDM 2.0 BitstringStatusListCredential
    // secured with VC-JOSE-COSE, a representation of its own (its own ETag).
    let v2 = env
        .app
        .http
        .get(&url)
        .header("accept", "application/vc+jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    assert_eq!(v2.headers()["content-type"], "application/vc+jwt");
    assert_ne!(v2.headers()["etag"].to_str().unwrap(), etag);
    let v2 = v2.text().await.unwrap();
    let parsed = UnverifiedJws::parse(&v2).unwrap();
    assert_eq!(parsed.header().typ.as_deref(), Some("vc+jwt"));
    let payload: serde_json::Value = parsed.payload_unverified().unwrap();
    assert_eq!(
        payload["@context"][0],
        "https://www.w3.org/ns/credentials/v2"
    );
    assert_eq!(payload["issuer"], env.authority, "a string issuer");
    assert_eq!(payload["type"][1], "BitstringStatusListCredential");
    assert!(payload.get("vc").is_none());
    let list2 =
        verity_status_list::verify_status_list(&v2, &key, &url, env.app.clock.unix(), 60).unwrap();
    assert_eq!(list2.bitstring(), list.bitstring());
    assert_eq!(
        verity_status_list::check(&entry_a, &list2).unwrap(),
        CredentialStatus::Valid
    );

    // Unknown lists are 404 in the error shape.
    let (status, body) = env
        .app
        .get(&format!("/v1.0/status/{}", uuid::Uuid::new_v4()), None)
        .await;
    assert_eq!(status, 404);
    verity_tests::assert_error_shape(&body, "notFound", "notFound");
}

/// Fetches and verifies the list at `url` with the issuer's published key.
async fn fetch_list(
    env: &IssuanceEnv,
    url: &str,
) -> (verity_status_list::VerifiedStatusList, String) {
    let resp = env.app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let jwt = resp.text().await.unwrap();
    let kid = UnverifiedJws::parse(&jwt)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    (
        verity_status_list::verify_status_list(&jwt, &key, url, env.app.clock.unix(), 60).unwrap(),
        etag,
    )
}

async fn revoke_by_claim_and_by_jti_republishes_the_list(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let megan = issue_one(&env, &contract, "Megan").await;
    let alex = issue_one(&env, &contract, "Alex").await;
    let nestor = issue_one(&env, &contract, "Nestor").await;
    let entry = |p: &Value| StatusEntry::from_json(&p["vc"]["credentialStatus"]).unwrap();
    let url = entry(&megan).status_list_credential.clone();
    let (_, etag_before) = fetch_list(&env, &url).await;

    // By the contract's indexed claim (givenName), as the hosted service searches.
    let (status, revoked) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "contract": contract, "claim": "Megan", "reason": "left the company" })),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert_eq!(revoked[0]["jti"], megan["jti"]);
    assert_eq!(revoked[0]["status"], "REVOKED");
    assert_eq!(revoked[0]["revocationReason"], "left the company");
    // By jti; twice (idempotent).
    for _ in 0..2 {
        let (status, body) = env
            .app
            .admin(
                Method::POST,
                "/credentials/revoke",
                Some(json!({ "jti": alex["jti"] })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[0]["status"], "REVOKED");
    }

    // The published list changed (new ETag, new signature) and says so for exactly those two.
    let (list, etag_after) = fetch_list(&env, &url).await;
    assert_ne!(etag_before, etag_after);
    assert_eq!(
        verity_status_list::check(&entry(&megan), &list).unwrap(),
        CredentialStatus::Revoked
    );
    assert_eq!(
        verity_status_list::check(&entry(&alex), &list).unwrap(),
        CredentialStatus::Revoked
    );
    assert_eq!(
        verity_status_list::check(&entry(&nestor), &list).unwrap(),
        CredentialStatus::Valid
    );
    assert_eq!(list.bitstring().count_set(), 2);

    // The same URL serves the same bits as an IETF Token Status List token (SD-JWT VCs' status).
    let resp = env
        .app
        .http
        .get(&url)
        .header("accept", "application/statuslist+jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/statuslist+jwt");
    assert_eq!(resp.headers()["vary"], "Accept");
    assert_ne!(resp.headers()["etag"].to_str().unwrap(), etag_after);
    let token = resp.text().await.unwrap();
    let kid = UnverifiedJws::parse(&token)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let tsl = verity_status_list::verify_list_token(
        &token,
        &key,
        &url,
        env.app.clock.unix(),
        60,
        &verity_status_list::DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(tsl.list.bits(), 1);
    for (who, status) in [
        (&megan, verity_status_list::TokenStatus::Invalid),
        (&alex, verity_status_list::TokenStatus::Invalid),
        (&nestor, verity_status_list::TokenStatus::Valid),
    ] {
        let reference = verity_status_list::StatusReference {
            idx: entry(who).status_list_index as usize,
            uri: url.clone(),
        };
        assert_eq!(reference.check(&tsl).unwrap(), status);
    }

    // Search shows the states.
    let (status, found) = env
        .app
        .admin(
            Method::GET,
            &format!("/credentials?contract={contract}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let states: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "REVOKED").count(),
        2,
        "{found}"
    );
    assert_eq!(states.len(), 3);

    // Nothing matches -> 404; a claim without contract -> 400 naming the field.
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": "urn:uuid:nope" })),
        )
        .await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "notFound", "notFound");
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "claim": "Megan" })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_error_shape(&body, "badRequest", "badOrMissingField")["target"],
        "contract"
    );
}

async fn a_full_list_sends_the_next_credential_to_a_new_list(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let first = issue_one(&env, &contract, "Megan").await;
    let first_entry = StatusEntry::from_json(&first["vc"]["credentialStatus"]).unwrap();
    // Filling 131,072 entries over HTTP would take minutes; instead the allocator reports the
    // open list full (as it does when every index is used), which closes it. The allocation
    // logic itself is covered with small lists in the store suite and verity-status-list.
    let state = env.app.app_state();
    let authority = state
        .store
        .authority_by_did(&env.authority)
        .await
        .unwrap()
        .unwrap();
    let reported_full = AtomicBool::new(false);
    let pick = |bitmap: &[u8]| {
        if reported_full.swap(true, Ordering::SeqCst) {
            verity_status_list::pick_free_index(
                u32::try_from(bitmap.len() * 8).unwrap(),
                |_| false,
                &mut OsRng,
            )
        } else {
            None
        }
    };
    let filler = state
        .store
        .allocate_status_index(
            authority.id,
            "revocation",
            131_072,
            &pick,
            env.app.clock.now(),
        )
        .await
        .unwrap();
    assert_ne!(
        first_entry.status_list_credential,
        verity_server::routes::status::list_url(state, filler.list_id)
    );
    // The indices this process already took from the old list (a batch is taken at a time)
    // are used first: they were allocated before it closed. Then the next credential lands
    // in the new list, never in the closed one.
    let held = state.status_leases.held(authority.id, "revocation");
    assert_eq!(
        held,
        usize::try_from(state.config.issuance.status_index_batch).unwrap() - 1
    );
    for i in 0..held {
        let c = issue_one(&env, &contract, &format!("Held{i}")).await;
        let e = StatusEntry::from_json(&c["vc"]["credentialStatus"]).unwrap();
        assert_eq!(e.status_list_credential, first_entry.status_list_credential);
    }
    let next = issue_one(&env, &contract, "Alex").await;
    let entry = StatusEntry::from_json(&next["vc"]["credentialStatus"]).unwrap();
    assert_eq!(
        entry.status_list_credential,
        verity_server::routes::status::list_url(state, filler.list_id)
    );
    assert_ne!(entry.status_list_index, u64::from(filler.index));
    // Both lists stay published and verify.
    let (old, _) = fetch_list(&env, &first_entry.status_list_credential).await;
    let (new, _) = fetch_list(&env, &entry.status_list_credential).await;
    assert_eq!(
        verity_status_list::check(&first_entry, &old).unwrap(),
        CredentialStatus::Valid
    );
    assert_eq!(
        verity_status_list::check(&entry, &new).unwrap(),
        CredentialStatus::Valid
    );
}

/// After a restore from an older backup the allocation bitmaps forget indices handed out since;
/// closing the open lists (admin API, `verity credential close-status-lists`) makes every new
/// credential take an index of a new list, on this replica at once (its held indices dropped).
async fn closing_the_lists_sends_new_credentials_to_new_lists(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let before = issue_one(&env, &contract, "Megan").await;
    let before = StatusEntry::from_json(&before["vc"]["credentialStatus"]).unwrap();
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/status-lists/close",
            Some(json!({ "authority": env.authority })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"], 1, "{body}");
    let after = issue_one(&env, &contract, "Alex").await;
    let after = StatusEntry::from_json(&after["vc"]["credentialStatus"]).unwrap();
    assert_ne!(
        after.status_list_credential, before.status_list_credential,
        "a new list, although this replica held indices of the old one"
    );
    // The closed list is still served and verifies.
    fetch_list(&env, &before.status_list_credential).await;
    // Nothing left open: closing again closes nothing; an unknown authority is named.
    let (status, body) = env
        .app
        .admin(Method::POST, "/status-lists/close", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["closed"], 1, "the new list: {body}");
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/status-lists/close",
            Some(json!({ "authority": "did:web:nowhere.example" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let inner = assert_error_shape(&body, "badRequest", "badOrMissingField");
    assert!(inner.to_string().contains("authority"), "{body}");
    // Audited like every admin change.
    let (_, audit) = env.app.admin(Method::GET, "/audit", None).await;
    assert!(
        audit
            .to_string()
            .contains("POST /admin/v1/status-lists/close"),
        "{audit}"
    );
}
