//! Issuance end to end: the real app, the reference wallet over HTTP, a recording RP, and a
//! local OpenID Connect provider. Every attestation kind, the callbacks (retries, restarts),
//! and each documented refusal with its status, inner code and target.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{SigningKey, TokenKind, UnverifiedJws};
use verity_store::OutboxState;
use verity_tests::issuance::{
    IssuanceEnv, OIDC_CLIENT_ID, OidcProvider, example_contract, issuance_env, issuance_env_with,
    server_error, sign_token, small_contract, submit,
};
use verity_tests::{Backend, assert_error_shape, both_backends, send};
use verity_wallet::{Algorithm, DidMethod, ReceiveOptions, Wallet, WalletConfig};

both_backends!(
    id_token_hint_with_pin_issues_a_verifiable_credential,
    id_tokens_attestation_issues_a_verified_employee,
    self_issued_attestation_issues_a_credential,
    access_tokens_attestation_issues_a_credential,
    presentations_attestation_issues_on_a_verified_presentation,
    failing_callback_endpoint_is_retried_until_delivered,
    undeliverable_callbacks_are_given_up_after_the_configured_time,
    a_hanging_callback_endpoint_does_not_hold_up_other_callbacks,
    callbacks_are_sent_once_per_status_across_restarts,
    completion_keeps_the_first_outcome,
    expired_request_is_gone,
    unknown_and_disabled_contracts_are_refused,
    claims_are_refused_for_contracts_without_id_token_hint,
    missing_or_mistyped_required_claims_are_refused,
    reserved_claim_names_are_refused_and_every_token_has_its_kind,
    wrong_pin_is_refused_and_locks_after_five_tries,
    bad_id_tokens_are_refused,
    holder_request_not_signed_by_the_did_is_refused,
    replayed_holder_request_is_refused,
    racing_holder_requests_issue_one_credential,
    refused_callback_urls_are_refused_before_anything_is_stored,
    create_request_input_is_validated,
    other_tenants_cannot_use_our_authority_or_see_our_requests,
);

const MINUTE: i64 = 60;

/// Verifies a JWT-VC against the issuer's published did.json and returns its payload.
async fn verify_vc(env: &IssuanceEnv, vc: &str) -> Value {
    let jws = UnverifiedJws::parse(vc).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    assert!(kid.starts_with(&format!("{}#", env.authority)), "{kid}");
    let jwk = env.app.published_key("/.well-known/did.json", &kid).await;
    jws.verify(&jwk).unwrap().claims().unwrap()
}

/// Checks an issued credential end to end: signature against did.json, issuer, holder binding,
/// type, exactly the expected subject claims, expiry from the contract, a status entry, and
/// the issuance record. Returns the payload.
async fn assert_issued(
    env: &IssuanceEnv,
    jwt: &str,
    vc_type: &str,
    claims: Value,
    validity_secs: i64,
) -> Value {
    let payload = verify_vc(env, jwt).await;
    let holder = env.wallet.did();
    assert_eq!(payload["iss"], env.authority);
    assert_eq!(payload["vc"]["issuer"], env.authority);
    assert_eq!(payload["sub"], holder);
    assert_eq!(
        payload["vc"]["type"],
        json!(["VerifiableCredential", vc_type])
    );
    let mut expected = claims;
    expected["id"] = json!(holder);
    assert_eq!(payload["vc"]["credentialSubject"], expected);
    let now = env.app.clock.unix();
    assert_eq!(payload["iat"].as_i64().unwrap(), now);
    assert_eq!(payload["nbf"].as_i64().unwrap(), now);
    assert_eq!(
        payload["exp"].as_i64().unwrap() - now,
        validity_secs,
        "expiry from the contract's validityInterval"
    );
    let entry = &payload["vc"]["credentialStatus"];
    assert_eq!(entry["type"], "BitstringStatusListEntry");
    assert_eq!(entry["statusPurpose"], "revocation");
    let index: u32 = entry["statusListIndex"].as_str().unwrap().parse().unwrap();
    let list = entry["statusListCredential"].as_str().unwrap();
    assert!(
        list.starts_with(&format!("{}/v1.0/status/", env.app.url)),
        "{list}"
    );
    assert_eq!(entry["id"], format!("{list}#{index}"));
    let jti = payload["jti"].as_str().unwrap();
    assert!(jti.starts_with("urn:uuid:"));
    let record = env
        .store()
        .issued_credential_by_jti(jti)
        .await
        .unwrap()
        .expect("the issuance is recorded");
    assert_eq!(record.subject_did, holder);
    assert_eq!(record.status_index, Some(index));
    payload
}

/// Status, inner code and target of an API error body (checking its shape).
fn refusal(status: u16, body: &Value, want_status: u16, inner: &str) -> Option<String> {
    assert_eq!(status, want_status, "{body}");
    let top = match want_status {
        400 => "badRequest",
        403 => "forbidden",
        404 => "notFound",
        409 => "conflict",
        410 => "gone",
        _ => unreachable!(),
    };
    let e = assert_error_shape(body, top, inner);
    e["target"].as_str().map(str::to_owned)
}

fn hint_claims(env: &IssuanceEnv, contract: &str) -> Value {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body
}

async fn hint_contract(env: &IssuanceEnv) -> String {
    env.create_contract(example_contract("id-token-hint", &env.authority))
        .await
}

async fn self_issued_contract(env: &IssuanceEnv) -> String {
    env.create_contract(small_contract(
        &env.authority,
        "nickname-card",
        "NicknameCard",
        json!({ "selfIssued": { "required": true, "mapping": [
            { "outputClaim": "nickname", "inputClaim": "$.nickname", "required": true, "type": "String" },
            { "outputClaim": "favouriteNumber", "inputClaim": "$.favourite_number", "required": false, "type": "Number" }
        ] } }),
        &[("nickname", "String"), ("favouriteNumber", "Number")],
    ))
    .await
}

fn pin(value: &str) -> ReceiveOptions {
    ReceiveOptions {
        pin: Some(value.into()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Each attestation kind
// ---------------------------------------------------------------------------------------------

async fn id_token_hint_with_pin_issues_a_verifiable_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let mut body = hint_claims(&env, &contract);
    body["includeQRCode"] = json!(true);
    body["pin"] = json!({ "value": "3539", "length": 4 });
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let url = created["url"].as_str().unwrap();
    let request_id = created["requestId"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!(
            "openid-vc://?request_uri={}/v1.0/requests/{request_id}",
            env.app.url
        )
    );
    assert_eq!(
        created["expiry"].as_i64().unwrap(),
        env.app.clock.unix() + 5 * MINUTE
    );
    let (status, polled) = env.poll(&request_id).await;
    assert_eq!(status, 200);
    assert_eq!(polled["requestStatus"], "request_created");

    let cred = env.wallet.receive(url, pin("3539")).await.unwrap();
    assert_issued(
        &env,
        &cred.jwt,
        "VerifiedCredentialExpert",
        json!({ "givenName": "Megan", "familyName": "Bowen" }),
        2_592_000,
    )
    .await;

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
        assert_eq!(
            c.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(c.body["requestId"], request_id);
        assert_eq!(c.body["state"], "rp-state-1");
    }
    // Polling shows the same final status.
    let (status, polled) = env.poll(&request_id).await;
    assert_eq!(status, 200);
    assert_eq!(polled["requestStatus"], "issuance_successful");
    assert_eq!(polled["state"], "rp-state-1");
}

async fn id_tokens_attestation_issues_a_verified_employee(backend: Backend) {
    let provider = OidcProvider::start().await;
    let Some(env) = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        // The provider is another local origin the resolver may fetch.
        c.resolver.loopback_origins = vec![provider.issuer().replace("http://", "")];
    })
    .await
    else {
        return;
    };
    let mut def = example_contract("verified-employee", &env.authority);
    def["rules"]["attestations"]["idTokens"][0]["configuration"] = json!(provider.configuration());
    let contract = env.create_contract(def).await;
    // The manifest tells wallets where to sign in.
    let (status, manifest) = env
        .app
        .get(&format!("/v1.0/manifests/{contract}"), None)
        .await;
    assert_eq!(status, 200);
    let manifest: Value = UnverifiedJws::parse(manifest["token"].as_str().unwrap())
        .unwrap()
        .payload_unverified()
        .unwrap();
    assert_eq!(
        manifest["input"]["attestations"]["idTokens"][0]["configuration"],
        provider.configuration()
    );

    let (request_id, url) = env.new_request(&env.request_body(&contract)).await;
    let now = env.app.clock.unix();
    let mut claims = provider.claims(OIDC_CLIENT_ID, now);
    for (k, v) in [
        ("name", "Megan Bowen"),
        ("given_name", "Megan"),
        ("family_name", "Bowen"),
        ("job_title", "Auditor"),
        ("email", "megan@contoso.example"),
        ("locale", "en-US"),
        ("preferred_username", "megan@contoso.example"),
    ] {
        claims[k] = json!(v);
    }
    let id_token = provider.sign(&claims);
    let cred = env
        .wallet
        .receive(
            &url,
            ReceiveOptions {
                id_tokens: BTreeMap::from([(provider.configuration(), id_token)]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_issued(
        &env,
        &cred.jwt,
        "VerifiedEmployee",
        json!({
            "displayName": "Megan Bowen", "givenName": "Megan", "surname": "Bowen",
            "jobTitle": "Auditor", "mail": "megan@contoso.example",
            "preferredLanguage": "en-US", "revocationId": "megan@contoso.example",
        }),
        15_552_000,
    )
    .await;
    // Discovery and JWKS came over real HTTP from the provider.
    assert_eq!(provider.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(provider.hits("/keys"), 1);
    // The indexed claim is searchable for revocation.
    let found = env
        .store()
        .find_credentials(
            Some(contract.parse().unwrap()),
            Some(&verity_server::routes::issuance::indexed_claim_hash(
                contract.parse().unwrap(),
                "megan@contoso.example",
            )),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    env.rp.wait_for(2).await;
    assert_eq!(
        env.rp.statuses(),
        vec!["request_retrieved", "issuance_successful"]
    );
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_successful"
    );
}

async fn self_issued_attestation_issues_a_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = self_issued_contract(&env).await;
    let url = env.request_url(&env.request_body(&contract)).await;
    let session = env.session(&url).await;
    assert!(session.id_token_hint().is_none());
    assert!(session.pin_requirement().is_none());
    let with = |m: Value| ReceiveOptions {
        self_issued: m.as_object().unwrap().clone(),
        ..Default::default()
    };
    // Refusals first: none of them uses up the request.
    for (given, why) in [
        (json!({}), "nothing typed"),
        (
            json!({ "favourite_number": 7 }),
            "required nickname missing",
        ),
        (
            json!({ "nickname": "Meg", "favourite_number": "seven" }),
            "not a number",
        ),
    ] {
        let (status, body) = submit(&session, &with(given)).await;
        let target = refusal(status, &body, 400, "attestationInvalid");
        assert_eq!(target.as_deref(), Some("attestations.selfIssued"), "{why}");
    }
    let (status, body) = submit(
        &session,
        &with(json!({ "nickname": "Meg", "favourite_number": 7, "unmapped": "dropped" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let vc = body["vc"].as_str().unwrap();
    assert_issued(
        &env,
        vc,
        "NicknameCard",
        json!({ "nickname": "Meg", "favouriteNumber": 7 }),
        2_592_000,
    )
    .await;
    session.accept(vc, None).await.unwrap();
    let (status, _) = session.complete("issuance_successful", None).await.unwrap();
    assert_eq!(status, 204);
    env.rp.wait_for(2).await;
    assert_eq!(
        env.rp.statuses(),
        vec!["request_retrieved", "issuance_successful"]
    );
}

async fn access_tokens_attestation_issues_a_credential(backend: Backend) {
    let provider = OidcProvider::start().await;
    let Some(env) = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        // The provider is another local origin the resolver may fetch.
        c.resolver.loopback_origins = vec![provider.issuer().replace("http://", "")];
    })
    .await
    else {
        return;
    };
    let contract = env
        .create_contract(small_contract(
            &env.authority,
            "hr-record",
            "HrRecord",
            json!({ "accessTokens": [ {
                "configuration": provider.configuration(),
                "clientId": "verity-wallet",
                "audience": "api://contoso-hr",
                "scope": "hr.read",
                "required": true,
                "mapping": [
                    { "outputClaim": "employeeId", "inputClaim": "$.employee_id", "required": true, "indexed": true, "type": "String" },
                    { "outputClaim": "department", "inputClaim": "$.department", "required": true, "type": "String" }
                ]
            } ] }),
            &[("employeeId", "String"), ("department", "String")],
        ))
        .await;
    let url = env.request_url(&env.request_body(&contract)).await;
    let session = env.session(&url).await;
    let now = env.app.clock.unix();
    let token_for = |aud: &str| {
        let mut c = provider.claims(aud, now);
        c["employee_id"] = json!("E-1001");
        c["department"] = json!("Audit");
        c["scp"] = json!("hr.read");
        provider.sign(&c)
    };
    let with = |token: Option<String>| ReceiveOptions {
        access_tokens: token
            .map(|t| BTreeMap::from([(provider.configuration(), t)]))
            .unwrap_or_default(),
        ..Default::default()
    };
    let target = format!("attestations.accessTokens[{}]", provider.configuration());
    // A token for another API, one without a mapped required claim, and no token at all are
    // refused.
    let without_department = {
        let mut c = provider.claims("api://contoso-hr", now);
        c["employee_id"] = json!("E-1001");
        provider.sign(&c)
    };
    for token in [
        Some(token_for("api://someone-else")),
        Some(without_department),
        None,
    ] {
        let (status, body) = submit(&session, &with(token)).await;
        assert_eq!(
            refusal(status, &body, 400, "attestationInvalid").as_deref(),
            Some(target.as_str())
        );
    }
    let (status, body) = submit(&session, &with(Some(token_for("api://contoso-hr")))).await;
    assert_eq!(status, 200, "{body}");
    assert_issued(
        &env,
        body["vc"].as_str().unwrap(),
        "HrRecord",
        json!({ "employeeId": "E-1001", "department": "Audit" }),
        2_592_000,
    )
    .await;
}

async fn presentations_attestation_issues_on_a_verified_presentation(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    // The wallet holds a credential of the type the contract asks for...
    let expert = hint_contract(&env).await;
    let url = env.request_url(&hint_claims(&env, &expert)).await;
    let held = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    let contract = env
        .create_contract(small_contract(
            &env.authority,
            "expert-badge",
            "ExpertBadge",
            json!({ "presentations": [ {
                "credentialType": "VerifiedCredentialExpert",
                "trustedIssuers": [env.authority],
                "required": true,
                "mapping": [ { "outputClaim": "expertName", "inputClaim": "$.givenName", "required": true, "type": "String" } ]
            } ] }),
            &[("expertName", "String")],
        ))
        .await;
    // ... presents it in the holder request, and gets the new credential with mapped claims.
    let url = env.request_url(&env.request_body(&contract)).await;
    let badge = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    let payload: Value = verity_jose::UnverifiedJws::parse(&badge.jwt)
        .unwrap()
        .payload_unverified()
        .unwrap();
    assert_eq!(
        payload["vc"]["type"],
        json!(["VerifiableCredential", "ExpertBadge"])
    );
    assert_eq!(
        payload["vc"]["credentialSubject"]["expertName"],
        held.claims["givenName"]
    );

    // A revoked source credential no longer qualifies.
    let (status, _) = env
        .app
        .admin(
            reqwest::Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": held.id })),
        )
        .await;
    assert_eq!(status, 200);
    // Verifiers cache status lists for up to their max-age (300 s): move past it.
    env.app.clock.advance(secs(301));
    let (request_id, url) = env.new_request(&env.request_body(&contract)).await;
    let err = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .expect_err("a revoked credential must not satisfy the attestation");
    let (status, inner, _) = server_error(&err);
    assert_eq!(
        (status, inner.as_str()),
        (400, "attestationInvalid"),
        "{err}"
    );
    assert!(err.to_string().contains("PRES-043"), "{err}");
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "request_retrieved"
    );
}

// ---------------------------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------------------------

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// (status, attempts, state) of each outbox message.
fn outbox_summary(msgs: &[verity_store::CallbackMessage]) -> Vec<(String, i32, OutboxState)> {
    msgs.iter()
        .map(|m| (m.request_status.clone(), m.attempts, m.state))
        .collect()
}

async fn failing_callback_endpoint_is_retried_until_delivered(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    env.rp.fail_next(2);
    let session = env.session(&url).await; // fires request_retrieved
    let msgs = env
        .wait_for_outbox(&request_id, "first attempt recorded", |m| {
            m.first().is_some_and(|m| m.attempts == 1)
        })
        .await;
    let first = &msgs[0];
    assert_eq!(first.request_status, "request_retrieved");
    assert_eq!(first.state, OutboxState::Pending);
    assert!(
        first
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("500"),
        "{:?}",
        first.last_error
    );
    // The tests' initial backoff is 1 s; jitter keeps the delay in its upper half.
    let delay = first.next_attempt_at - env.app.clock.now();
    assert!(delay >= ms(500) && delay <= ms(1000), "{delay}");
    // Not retried before it is due, however often the worker wakes.
    env.app.app_state().outbox.wake();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.rp.attempts(), 1);

    env.app.clock.advance(secs(1));
    env.app.app_state().outbox.wake();
    let msgs = env
        .wait_for_outbox(&request_id, "second attempt recorded", |m| {
            m[0].attempts == 2
        })
        .await;
    assert_eq!(msgs[0].state, OutboxState::Pending);
    let delay = msgs[0].next_attempt_at - env.app.clock.now();
    assert!(
        delay >= ms(1000) && delay <= ms(2000),
        "backoff doubles: {delay}"
    );

    env.app.clock.advance(secs(2));
    env.app.app_state().outbox.wake();
    let calls = env.rp.wait_for(1).await;
    assert_eq!(calls[0].body["requestStatus"], "request_retrieved");
    assert_eq!(calls[0].headers["api-key"], "rp-secret");

    // The issuance completes; its callback goes through at the first attempt.
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = session.complete("issuance_successful", None).await.unwrap();
    assert_eq!(status, 204);
    env.rp.wait_for(2).await;
    assert_eq!(
        env.rp.statuses(),
        vec!["request_retrieved", "issuance_successful"]
    );
    let msgs = env
        .wait_for_outbox(&request_id, "both delivered", |m| {
            m.len() == 2 && m.iter().all(|m| m.state == OutboxState::Delivered)
        })
        .await;
    assert_eq!(
        outbox_summary(&msgs),
        vec![
            ("request_retrieved".into(), 3, OutboxState::Delivered),
            ("issuance_successful".into(), 1, OutboxState::Delivered),
        ]
    );
    assert!(msgs.iter().all(|m| m.delivered_at.is_some()));
    assert_eq!(env.rp.attempts(), 4);
    assert_eq!(env.store().pending_callbacks().await.unwrap(), 0);
}

async fn undeliverable_callbacks_are_given_up_after_the_configured_time(backend: Backend) {
    let Some(env) = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        c.callbacks.give_up_after_secs = 30;
    })
    .await
    else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    env.rp.fail_next(usize::MAX);
    let _session = env.session(&url).await;
    let msgs = env
        .wait_for_outbox(&request_id, "first attempt", |m| {
            m.first().is_some_and(|m| m.attempts == 1)
        })
        .await;
    assert_eq!(msgs[0].give_up_at, msgs[0].created_at + secs(30));
    env.app.clock.advance(secs(10));
    env.app.app_state().outbox.wake();
    let msgs = env
        .wait_for_outbox(&request_id, "second attempt", |m| m[0].attempts == 2)
        .await;
    assert_eq!(
        msgs[0].state,
        OutboxState::Pending,
        "still inside the window"
    );
    env.app.clock.advance(secs(30));
    env.app.app_state().outbox.wake();
    let msgs = env
        .wait_for_outbox(&request_id, "given up", |m| {
            m[0].state == OutboxState::Failed
        })
        .await;
    assert_eq!(msgs[0].attempts, 3);
    assert!(msgs[0].last_error.as_deref().unwrap().contains("500"));
    assert_eq!(env.store().pending_callbacks().await.unwrap(), 0);
    // Given up is final: no more attempts, however much later.
    env.app.clock.advance(secs(10 * MINUTE));
    env.app.app_state().outbox.wake();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.rp.attempts(), 3);
    assert!(env.rp.calls().is_empty());
}

async fn a_hanging_callback_endpoint_does_not_hold_up_other_callbacks(backend: Backend) {
    let Some(env) = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        c.callbacks.timeout_secs = 6;
    })
    .await
    else {
        return;
    };
    let contract = hint_contract(&env).await;
    let hanging = verity_tests::rp::TestRp::start().await;
    hanging.hang_next(usize::MAX);
    let mut body = hint_claims(&env, &contract);
    body["callback"]["url"] = json!(hanging.url());
    let (stuck_id, stuck_url) = env.new_request(&body).await;
    let (ok_id, ok_url) = env.new_request(&hint_claims(&env, &contract)).await;
    env.session(&stuck_url).await;
    for _ in 0..100 {
        if hanging.attempts() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hanging.attempts(), 1, "the hanging endpoint was called");
    // While that delivery waits for its timeout, another RP's callback goes out at once.
    let started = std::time::Instant::now();
    env.session(&ok_url).await;
    let calls = env.rp.wait_for(1).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["requestId"], ok_id);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "delivered after {:?}",
        started.elapsed()
    );
    // The hanging delivery ends as a timed-out attempt, to be retried.
    let msgs = env
        .wait_for_outbox(&stuck_id, "the timed-out attempt is recorded", |m| {
            m.first().is_some_and(|m| m.attempts == 1)
        })
        .await;
    assert_eq!(msgs[0].state, OutboxState::Pending);
    assert!(msgs[0].last_error.is_some());
}

/// Stops the app and starts a new one on the same port, database and data directory (a fresh
/// clock at the test epoch); the wallet is reopened on the new clock.
async fn restart(env: &mut IssuanceEnv) {
    env.app.stop().await;
    let mut config = env.app.config.clone();
    config.server.bind = env.app.socket().parse().unwrap();
    let app = verity_tests::start(config, env.app.db.clone(), env.app.data_dir.clone())
        .await
        .expect("the app restarts on the same port and database");
    assert_eq!(
        app.first_did(),
        env.authority,
        "same public URL, same authority"
    );
    env.app = app;
    let config =
        WalletConfig::local_development().with_clock(std::sync::Arc::new(env.app.clock.clone()));
    env.wallet = Wallet::open_with_config(env.wallet_dir.path(), config).unwrap();
}

async fn callbacks_are_sent_once_per_status_across_restarts(backend: Backend) {
    let Some(mut env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    // request_retrieved fails once and is still pending when the app stops.
    env.rp.fail_next(1);
    env.session(&url).await;
    env.wait_for_outbox(&request_id, "retry scheduled", |m| {
        m.first().is_some_and(|m| m.attempts == 1)
    })
    .await;
    restart(&mut env).await;
    assert_eq!(env.store().pending_callbacks().await.unwrap(), 1);

    // The new app's worker delivers it once it is due.
    env.app.clock.advance(secs(5));
    env.app.app_state().outbox.wake();
    env.rp.wait_for(1).await;
    // The wallet fetches the request object again (no second request_retrieved), receives the
    // credential and completes; the completion is then repeated.
    env.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    env.rp.wait_for(2).await;
    let completion = format!("{}/v1.0/requests/{request_id}/completion", env.app.url);
    let (status, body) = send(
        env.app
            .http
            .post(&completion)
            .json(&json!({ "code": "issuance_successful", "state": request_id })),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    env.wait_for_outbox(&request_id, "all delivered", |m| {
        m.len() == 2 && m.iter().all(|m| m.state == OutboxState::Delivered)
    })
    .await;

    // Another restart much later re-sends nothing.
    restart(&mut env).await;
    env.app.clock.advance(secs(10 * MINUTE));
    env.app.app_state().outbox.wake();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        env.rp.statuses(),
        vec!["request_retrieved", "issuance_successful"]
    );
    assert_eq!(
        env.rp.attempts(),
        3,
        "one failure, then one delivery per status"
    );
    assert_eq!(env.store().pending_callbacks().await.unwrap(), 0);
    let msgs = env.callbacks_of(&request_id).await;
    assert_eq!(
        outbox_summary(&msgs),
        vec![
            ("request_retrieved".into(), 2, OutboxState::Delivered),
            ("issuance_successful".into(), 1, OutboxState::Delivered),
        ]
    );
    // The access token from before the restarts still works; the status survived.
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_successful"
    );
}

async fn post_completion(env: &IssuanceEnv, request_id: &str, body: Value) -> (u16, Value) {
    send(
        env.app
            .http
            .post(format!(
                "{}/v1.0/requests/{request_id}/completion",
                env.app.url
            ))
            .json(&body),
    )
    .await
}

async fn completion_keeps_the_first_outcome(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    // A successful issuance cannot be turned into a failure afterwards.
    let (ok_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    env.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    let (status, body) = post_completion(
        &env,
        &ok_id,
        json!({ "code": "issuance_failed", "state": ok_id, "details": "user_canceled" }),
    )
    .await;
    refusal(status, &body, 409, "conflict");
    let (status, _) = post_completion(
        &env,
        &ok_id,
        json!({ "code": "issuance_successful", "state": ok_id }),
    )
    .await;
    assert_eq!(status, 204, "repeating the same completion is harmless");
    assert_eq!(
        env.poll(&ok_id).await.1["requestStatus"],
        "issuance_successful"
    );

    // A failure reported before any credential reaches the RP as `issuance_error` but does not
    // end the request: anyone holding the QR code could send it. The wallet still receives
    // its credential and confirms; after that no report changes the outcome.
    let (cancel_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    let session = env.session(&url).await;
    let (status, _) = session
        .complete("issuance_failed", Some("user_canceled"))
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        env.poll(&cancel_id).await.1["requestStatus"],
        "issuance_error"
    );
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(
        status, 200,
        "a reported failure leaves the request answerable: {body}"
    );
    let (status, _) = session.complete("issuance_successful", None).await.unwrap();
    assert_eq!(status, 204);
    let (status, body) = session
        .complete("issuance_failed", Some("user_canceled"))
        .await
        .unwrap();
    refusal(status, &body, 409, "conflict");
    let (status, body) = post_completion(
        &env,
        &cancel_id,
        json!({ "code": "issuance_failed", "state": ok_id }),
    )
    .await;
    assert_eq!(
        refusal(status, &body, 400, "badOrMissingField").as_deref(),
        Some("state")
    );

    // A failure reported after the credential was issued ends the request.
    let (late_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    let session = env.session(&url).await;
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = session
        .complete("issuance_failed", Some("user_canceled"))
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, body) = session.complete("issuance_successful", None).await.unwrap();
    refusal(status, &body, 409, "conflict");
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    refusal(status, &body, 409, "conflict");

    env.rp.wait_for(7).await;
    env.app.clock.advance(secs(MINUTE));
    env.app.app_state().outbox.wake();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = env.rp.calls();
    // Delivery is at least once: advancing the clock past a delivery still in flight lets it
    // be sent again, so repeats of one message are folded.
    let of = |id: &str| -> Vec<String> {
        let mut seen: Vec<&Value> = Vec::new();
        calls
            .iter()
            .filter(|c| c.body["requestId"] == id)
            .filter(|c| {
                let repeat = seen.contains(&&c.body);
                seen.push(&c.body);
                !repeat
            })
            .map(|c| c.body["requestStatus"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of(&ok_id), vec!["request_retrieved", "issuance_successful"]);
    assert_eq!(
        of(&cancel_id),
        vec!["request_retrieved", "issuance_error", "issuance_successful"]
    );
    assert_eq!(of(&late_id), vec!["request_retrieved", "issuance_error"]);
    let error = calls
        .iter()
        .find(|c| c.body["requestStatus"] == "issuance_error")
        .unwrap();
    assert_eq!(error.body["error"]["code"], "IssuanceFlowFailed");
    assert_eq!(error.body["error"]["message"], "user_canceled");
    assert_eq!(
        env.poll(&cancel_id).await.1["requestStatus"],
        "issuance_successful"
    );
    assert_eq!(
        env.poll(&late_id).await.1["requestStatus"],
        "issuance_error"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

async fn expired_request_is_gone(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    let session = env.session(&url).await;
    env.app.clock.advance(secs(6 * MINUTE));
    let request_uri = url.split_once("request_uri=").unwrap().1;
    let (status, body) = send(env.app.http.get(request_uri)).await;
    refusal(status, &body, 410, "requestExpired");
    assert_eq!(body["requestId"], request_id);
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    refusal(status, &body, 410, "requestExpired");
    let err = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(server_error(&err).0, 410, "{err}");
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "request_retrieved"
    );
}

async fn unknown_and_disabled_contracts_are_refused(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    for manifest in [
        env.manifest_url(&uuid::Uuid::new_v4().to_string()),
        env.manifest_url("not-a-contract-id"),
        "https://elsewhere.example/contracts/x".to_owned(),
    ] {
        let mut body = hint_claims(&env, &contract);
        body["manifest"] = json!(manifest);
        let (status, refused) = env.create_request(&body).await;
        assert_eq!(
            refusal(status, &refused, 400, "badOrMissingField").as_deref(),
            Some("manifest"),
            "{manifest}"
        );
        env.assert_nothing_stored(&refused).await;
    }

    // A request made before the contract is disabled.
    let (request_id, url) = env.new_request(&hint_claims(&env, &contract)).await;
    let (status, view) = env
        .app
        .admin(
            Method::POST,
            &format!("/contracts/{contract}/disable"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["enabled"], false);
    let (status, refused) = env.create_request(&hint_claims(&env, &contract)).await;
    assert_eq!(
        refusal(status, &refused, 400, "contractDisabled").as_deref(),
        Some("manifest")
    );
    env.assert_nothing_stored(&refused).await;
    let request_uri = url.split_once("request_uri=").unwrap().1;
    let (status, body) = send(env.app.http.get(request_uri)).await;
    refusal(status, &body, 400, "contractDisabled");
    let (status, body) = env
        .app
        .get(&format!("/v1.0/manifests/{contract}"), None)
        .await;
    refusal(status, &body, 404, "notFound");
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "request_created"
    );
    assert_eq!(env.rp.attempts(), 0, "a refused fetch is not a retrieval");

    // Enabled again, the same request goes through.
    let (status, _) = env
        .app
        .admin(Method::POST, &format!("/contracts/{contract}/enable"), None)
        .await;
    assert_eq!(status, 200);
    env.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
}

async fn claims_are_refused_for_contracts_without_id_token_hint(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = self_issued_contract(&env).await;
    for (field, value) in [
        ("claims", json!({ "nickname": "Meg" })),
        ("claims", json!({})),
        ("pin", json!({ "value": "1234", "length": 4 })),
    ] {
        let mut body = env.request_body(&contract);
        body[field] = value;
        let (status, refused) = env.create_request(&body).await;
        assert_eq!(
            refusal(status, &refused, 400, "badOrMissingField").as_deref(),
            Some(field)
        );
        env.assert_nothing_stored(&refused).await;
    }
}

async fn missing_or_mistyped_required_claims_are_refused(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    for (claims, target) in [
        (json!({ "given_name": "Megan" }), "claims.family_name"),
        (json!({ "family_name": "Bowen" }), "claims.given_name"),
        (json!({}), "claims.given_name"),
        (Value::Null, "claims.given_name"),
        (
            json!({ "given_name": 5, "family_name": "Bowen" }),
            "claims.given_name",
        ),
    ] {
        let mut body = env.request_body(&contract);
        if !claims.is_null() {
            body["claims"] = claims.clone();
        }
        let (status, refused) = env.create_request(&body).await;
        assert_eq!(
            refusal(status, &refused, 400, "badOrMissingField").as_deref(),
            Some(target),
            "{claims}"
        );
        env.assert_nothing_stored(&refused).await;
    }
}

/// The id_token_hint carries the RP's claims at top level, so reserved names (registered JWT
/// claims, `vc`, `vp`, `cnf`, `status`, ...) are refused; and each token of the flow is typed
/// and shaped as its own kind and no other.
async fn reserved_claim_names_are_refused_and_every_token_has_its_kind(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    for name in [
        "iss", "sub", "aud", "nonce", "exp", "vc", "vp", "cnf", "status", "_sd", "typ",
    ] {
        let mut body = hint_claims(&env, &contract);
        body["claims"][name] = json!("x");
        let (status, refused) = env.create_request(&body).await;
        let target = format!("claims.{name}");
        assert_eq!(
            refusal(status, &refused, 400, "badOrMissingField").as_deref(),
            Some(target.as_str())
        );
        assert!(
            refused["error"]["innererror"]["message"]
                .as_str()
                .unwrap()
                .contains("reserved"),
            "{refused}"
        );
        env.assert_nothing_stored(&refused).await;
    }

    let (_, url) = env.new_request(&hint_claims(&env, &contract)).await;
    let session = env.session(&url).await;
    let hint = session.id_token_hint().unwrap().to_owned();
    let request_token = session.request().token.clone();
    let manifest_token = session.manifest_token().to_owned();
    let (status, issued) =
        verity_tests::issuance::submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{issued}");
    let cred = issued["vc"].as_str().unwrap().to_owned();
    for (token, kind) in [
        (&request_token, TokenKind::RequestObject),
        (&manifest_token, TokenKind::Manifest),
        (&hint, TokenKind::IdTokenHint),
        (&cred, TokenKind::Credential),
    ] {
        let jws = UnverifiedJws::parse(token).unwrap();
        assert_eq!(jws.header().typ.as_deref(), Some(kind.typ()), "{kind}");
        let claims: Value = jws.payload_unverified().unwrap();
        for other in TokenKind::ALL {
            let r = other.check_value(jws.header(), &claims);
            assert_eq!(r.is_ok(), other == kind, "{kind} checked as {other}: {r:?}");
        }
    }
    assert_eq!(
        UnverifiedJws::parse(&request_token)
            .unwrap()
            .header()
            .typ
            .as_deref(),
        Some("oauth-authz-req+jwt")
    );
}

async fn wrong_pin_is_refused_and_locks_after_five_tries(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let mut body = hint_claims(&env, &contract);
    body["pin"] = json!({ "value": "3539", "length": 4 });
    let (request_id, url) = env.new_request(&body).await;
    let session = env.session(&url).await;
    let pin_req = session.pin_requirement().unwrap();
    assert_eq!(pin_req.length, Some(4));
    assert_eq!(pin_req.kind.as_deref(), Some("numeric"));
    assert_eq!(pin_req.salt.len(), 32, "16 random bytes as hex");
    // The wallet refuses to go on without the PIN; a hostile one sends none.
    assert!(
        env.wallet
            .receive(&url, ReceiveOptions::default())
            .await
            .is_err()
    );
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    refusal(status, &body, 403, "wrongPin");
    for (i, wrong) in ["0000", "3538", "9999"].into_iter().enumerate() {
        let (status, body) = submit(&session, &pin(wrong)).await;
        refusal(status, &body, 403, "wrongPin");
        let left = 3 - i;
        assert!(
            body["error"]["innererror"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} of 5")),
            "{body}"
        );
    }
    let (status, body) = submit(&session, &pin("1111")).await;
    refusal(status, &body, 403, "pinLocked");
    // Locked: the right PIN is refused too, and nothing is issued.
    let (status, body) = submit(&session, &pin("3539")).await;
    refusal(status, &body, 403, "pinLocked");
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    env.rp.wait_for(2).await;
    assert_eq!(
        env.rp.statuses(),
        vec!["request_retrieved", "issuance_error"]
    );
    let error = &env.rp.calls()[1].body;
    assert_eq!(error["error"]["code"], "IssuanceFlowFailed");
    assert_eq!(error["state"], "rp-state-1");
    let (_, polled) = env.poll(&request_id).await;
    assert_eq!(polled["requestStatus"], "issuance_error");
}

async fn bad_id_tokens_are_refused(backend: Backend) {
    let provider = OidcProvider::start().await;
    let Some(env) = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        // The provider is another local origin the resolver may fetch.
        c.resolver.loopback_origins = vec![provider.issuer().replace("http://", "")];
    })
    .await
    else {
        return;
    };
    let mut def = example_contract("verified-employee", &env.authority);
    def["rules"]["attestations"]["idTokens"][0]["configuration"] = json!(provider.configuration());
    let contract = env.create_contract(def).await;
    let (request_id, url) = env.new_request(&env.request_body(&contract)).await;
    let session = env.session(&url).await;
    let now = env.app.clock.unix();
    let good = {
        let mut c = provider.claims(OIDC_CLIENT_ID, now);
        c["name"] = json!("Megan Bowen");
        c["preferred_username"] = json!("megan@contoso.example");
        c
    };
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        edit(&mut c);
        c
    };
    let impostor = SigningKey::generate(Algorithm::ES256).unwrap();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "untrusted issuer",
            Some(provider.sign(&edited(&|c| {
                c["iss"] = json!("http://localhost:1/another-provider");
            }))),
            "untrusted issuer",
        ),
        (
            "wrong aud",
            Some(provider.sign(&edited(&|c| c["aud"] = json!("another-client")))),
            "wrong audience",
        ),
        (
            "expired",
            Some(provider.sign(&edited(&|c| {
                c["iat"] = json!(now - 7200);
                c["nbf"] = json!(now - 7200);
                c["exp"] = json!(now - 3600);
            }))),
            "expired",
        ),
        (
            "bad signature",
            Some(sign_token(&impostor, OidcProvider::KID, &good)),
            "bad signature",
        ),
        (
            "unknown key",
            Some(sign_token(&impostor, "not-published", &good)),
            "unknown key",
        ),
        (
            "required claim missing",
            Some(provider.sign(&edited(&|c| {
                c.as_object_mut().unwrap().remove("preferred_username");
            }))),
            "missing required claim",
        ),
        ("not a JWT", Some("garbage".to_owned()), "malformed"),
        ("no id_token", None, "required"),
    ];
    for (what, token, message) in cases {
        let opts = ReceiveOptions {
            id_tokens: token
                .map(|t| BTreeMap::from([(provider.configuration(), t)]))
                .unwrap_or_default(),
            ..Default::default()
        };
        let (status, body) = submit(&session, &opts).await;
        let target = refusal(status, &body, 400, "attestationInvalid");
        assert_eq!(
            target,
            Some(format!(
                "attestations.idTokens[{}]",
                provider.configuration()
            )),
            "{what}"
        );
        let text = body["error"]["innererror"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{what}: {text}");
    }
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // None of the refusals used up the request.
    let opts = ReceiveOptions {
        id_tokens: BTreeMap::from([(provider.configuration(), provider.sign(&good))]),
        ..Default::default()
    };
    let (status, body) = submit(&session, &opts).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "request_retrieved"
    );
}

async fn holder_request_not_signed_by_the_did_is_refused(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let other_contract = self_issued_contract(&env).await;
    let url = env.request_url(&hint_claims(&env, &contract)).await;
    let session = env.session(&url).await;
    let claims = || {
        session
            .holder_request_claims(&ReceiveOptions::default())
            .unwrap()
    };
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let (other_did, other_kid) =
        verity_wallet::holder_did_for(&other.public_jwk(), DidMethod::Jwk).unwrap();
    let our_did = env.wallet.did();
    let cases: Vec<(&str, String)> = vec![
        (
            "our did and kid, another key's signature",
            session.sign_with(&claims(), Some(&other), None).unwrap(),
        ),
        (
            "our did, signed by a key of another DID",
            session
                .sign_with(&claims(), Some(&other), Some(&other_kid))
                .unwrap(),
        ),
        ("another DID, signed by our key", {
            let mut c = claims();
            c["did"] = json!(other_did);
            session.sign_with(&c, None, Some(&other_kid)).unwrap()
        }),
        (
            "a kid our DID document does not list",
            session
                .sign_with(&claims(), None, Some(&format!("{our_did}#1")))
                .unwrap(),
        ),
        ("sub_jwk of another key", {
            let mut c = claims();
            c["sub_jwk"] = serde_json::to_value(other.public_jwk()).unwrap();
            c["sub"] = json!(other.public_jwk().thumbprint().unwrap());
            session.sign_with(&c, None, None).unwrap()
        }),
        ("aud of another contract", {
            let mut c = claims();
            c["aud"] = json!(format!("{}/v1.0/issue/{other_contract}", env.app.url));
            session.sign_with(&c, None, None).unwrap()
        }),
        ("another nonce", {
            let mut c = claims();
            c["nonce"] = json!("bm90IHRoZSBub25jZQ");
            session.sign_with(&c, None, None).unwrap()
        }),
        ("expired", {
            let mut c = claims();
            c["iat"] = json!(env.app.clock.unix() - 600);
            c["exp"] = json!(env.app.clock.unix() - 300);
            session.sign_with(&c, None, None).unwrap()
        }),
        ("not a JWS", "not.a.jws".to_owned()),
    ];
    for (what, jwt) in cases {
        let (status, body) = session.submit(&jwt).await.unwrap();
        assert_eq!(status, 400, "{what}: {body}");
        assert_error_shape(&body, "badRequest", "holderRequestInvalid");
    }
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The genuine holder request still goes through.
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        UnverifiedJws::parse(body["vc"].as_str().unwrap())
            .unwrap()
            .payload_unverified::<Value>()
            .unwrap()["sub"],
        our_did
    );
}

async fn replayed_holder_request_is_refused(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let mut body = hint_claims(&env, &contract);
    body["pin"] = json!({ "value": "3539", "length": 4 });

    // Replaying an accepted holder request.
    let url = env.request_url(&body).await;
    let session = env.session(&url).await;
    let jwt = session
        .sign_with(
            &session.holder_request_claims(&pin("3539")).unwrap(),
            None,
            None,
        )
        .unwrap();
    let (status, first) = session.submit(&jwt).await.unwrap();
    assert_eq!(status, 200, "{first}");
    let (status, body2) = session.submit(&jwt).await.unwrap();
    refusal(status, &body2, 400, "replayDetected");

    // Replaying a refused one (wrong PIN) late in its life: its jti is remembered as long as
    // the token is acceptable (exp plus the allowed skew), and a new token reusing it is
    // refused too.
    let url = env.request_url(&body).await;
    let session = env.session(&url).await;
    let mut claims = session.holder_request_claims(&pin("0000")).unwrap();
    claims["exp"] = json!(claims["iat"].as_i64().unwrap() + 10);
    let jwt = session.sign_with(&claims, None, None).unwrap();
    let (status, refused) = session.submit(&jwt).await.unwrap();
    refusal(status, &refused, 403, "wrongPin");
    env.app.clock.advance(secs(30));
    let (status, replayed) = session.submit(&jwt).await.unwrap();
    refusal(status, &replayed, 400, "replayDetected");
    let mut same_jti = session.holder_request_claims(&pin("3539")).unwrap();
    same_jti["jti"] = claims["jti"].clone();
    let (status, replayed) = session
        .submit(&session.sign_with(&same_jti, None, None).unwrap())
        .await
        .unwrap();
    refusal(status, &replayed, 400, "replayDetected");
    // Replays did not count as PIN attempts: 4 tries are left and the right PIN works.
    let (status, body) = submit(&session, &pin("1111")).await;
    refusal(status, &body, 403, "wrongPin");
    assert!(
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("3 of 5"),
        "{body}"
    );
    let (status, body) = submit(&session, &pin("3539")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        env.store()
            .find_credentials(Some(contract.parse().unwrap()), None, None, 10)
            .await
            .unwrap()
            .len(),
        2,
        "one credential per request"
    );
}

async fn racing_holder_requests_issue_one_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    for _ in 0..3 {
        let url = env.request_url(&hint_claims(&env, &contract)).await;
        let session = env.session(&url).await;
        let sign = || {
            session
                .sign_with(
                    &session
                        .holder_request_claims(&ReceiveOptions::default())
                        .unwrap(),
                    None,
                    None,
                )
                .unwrap()
        };
        let (a, b, c) = (sign(), sign(), sign());
        let (ra, rb, rc) = tokio::join!(session.submit(&a), session.submit(&b), session.submit(&c));
        // One credential is issued; the same holder's other requests get that same one.
        let vcs: std::collections::HashSet<String> = [ra, rb, rc]
            .into_iter()
            .map(|r| {
                let (status, body) = r.unwrap();
                assert_eq!(status, 200, "{body}");
                body["vc"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(vcs.len(), 1);
    }
    assert_eq!(
        env.store()
            .find_credentials(Some(contract.parse().unwrap()), None, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn refused_callback_urls_are_refused_before_anything_is_stored(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    for url in [
        "https://10.0.0.1/cb",
        "http://example.com/cb",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.20/cb",
        "https://[fd00::1]/cb",
        "ftp://example.com/cb",
        "not a url",
    ] {
        let mut body = hint_claims(&env, &contract);
        body["callback"]["url"] = json!(url);
        let (status, refused) = env.create_request(&body).await;
        assert_eq!(
            refusal(status, &refused, 400, "callbackUrlRefused").as_deref(),
            Some("callback.url"),
            "{url}"
        );
        env.assert_nothing_stored(&refused).await;
    }
}

async fn create_request_input_is_validated(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let past = (env.app.clock.now() - secs(1)).to_rfc3339();
    // Before the request itself expires: the credential could be issued already expired.
    let soon = (env.app.clock.now() + secs(2 * MINUTE)).to_rfc3339();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "registration.clientName",
            Box::new(|b| b["registration"]["clientName"] = json!("")),
        ),
        (
            "registration.clientName",
            Box::new(|b| b["registration"]["clientName"] = json!("x".repeat(257))),
        ),
        (
            "registration.purpose",
            Box::new(|b| b["registration"]["purpose"] = json!("x".repeat(1001))),
        ),
        (
            "registration.logoUrl",
            Box::new(|b| b["registration"]["logoUrl"] = json!("http://contoso.example/logo.png")),
        ),
        (
            "pin.length",
            Box::new(|b| b["pin"] = json!({ "value": "12345", "length": 4 })),
        ),
        (
            "pin.value",
            Box::new(|b| b["pin"] = json!({ "value": "12a4", "length": 4 })),
        ),
        (
            "pin.value",
            Box::new(|b| b["pin"] = json!({ "value": "123", "length": 3 })),
        ),
        (
            "pin.value",
            Box::new(|b| b["pin"] = json!({ "value": "1".repeat(17), "length": 17 })),
        ),
        (
            "pin.length",
            Box::new(|b| b["pin"] = json!({ "value": "1234", "length": -4 })),
        ),
        (
            "expirationDate",
            Box::new(move |b| b["expirationDate"] = json!(past)),
        ),
        (
            "expirationDate",
            Box::new(move |b| b["expirationDate"] = json!(soon)),
        ),
        (
            "expirationDate",
            Box::new(|b| b["expirationDate"] = json!("tomorrow")),
        ),
        ("type", Box::new(|b| b["type"] = json!(" "))),
        ("authority", Box::new(|b| b["authority"] = json!(""))),
        (
            "authority",
            Box::new(|b| b["authority"] = json!("did:web:nobody.example")),
        ),
        (
            "callback.state",
            Box::new(|b| b["callback"]["state"] = json!("s".repeat(2001))),
        ),
        (
            "callback.headers.bad header",
            Box::new(|b| b["callback"]["headers"] = json!({ "bad header": "x" })),
        ),
        (
            "callback.headers.Host",
            Box::new(|b| b["callback"]["headers"] = json!({ "Host": "evil.example" })),
        ),
        ("surprise", Box::new(|b| b["surprise"] = json!(true))),
        (
            "manifest",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("manifest");
            }),
        ),
    ];
    for (target, edit) in cases {
        let mut body = hint_claims(&env, &contract);
        edit(&mut body);
        let (status, refused) = env.create_request(&body).await;
        assert_eq!(
            refusal(status, &refused, 400, "badOrMissingField").as_deref(),
            Some(target),
            "{refused}"
        );
        env.assert_nothing_stored(&refused).await;
    }
    // A missing nested field is named by its full path.
    let mut body = hint_claims(&env, &contract);
    body["registration"] = json!({ "purpose": "p" });
    let (status, refused) = env.create_request(&body).await;
    let target = refusal(status, &refused, 400, "badOrMissingField").unwrap();
    assert_eq!(target, "registration.clientName", "{refused}");
    assert!(
        refused["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("clientName"),
        "{refused}"
    );
    env.assert_nothing_stored(&refused).await;

    // A valid expirationDate earlier than the contract's validity caps the credential.
    let cap = env.app.clock.now() + secs(24 * 3600);
    let mut body = hint_claims(&env, &contract);
    body["expirationDate"] = json!(cap.to_rfc3339());
    let url = env.request_url(&body).await;
    let cred = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    assert_eq!(cred.expires_at.unwrap().timestamp(), cap.timestamp());
}

async fn other_tenants_cannot_use_our_authority_or_see_our_requests(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (status, _) = env
        .app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({ "name": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, theirs) = env
        .app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Fabrikam", "path": "fabrikam", "tenant": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let (id, secret) = env
        .app
        .create_client("fabrikam-app", Some("fabrikam"))
        .await;
    let (status, token) = env.app.token(&id, &secret, None).await;
    assert_eq!(status, 200);
    let foreign = token["access_token"].as_str().unwrap().to_owned();
    let create_as_them = |body: &Value| {
        send(
            env.app
                .http
                .post(format!(
                    "{}/v1.0/verifiableCredentials/createIssuanceRequest",
                    env.app.url
                ))
                .bearer_auth(&foreign)
                .json(body),
        )
    };

    // Our authority is not theirs to use...
    let (status, refused) = create_as_them(&hint_claims(&env, &contract)).await;
    assert_eq!(
        refusal(status, &refused, 400, "badOrMissingField").as_deref(),
        Some("authority")
    );
    env.assert_nothing_stored(&refused).await;
    // ... nor our contract, with their own authority.
    let mut body = hint_claims(&env, &contract);
    body["authority"] = theirs["did"].clone();
    let (status, refused) = create_as_them(&body).await;
    assert_eq!(
        refusal(status, &refused, 400, "badOrMissingField").as_deref(),
        Some("manifest")
    );
    env.assert_nothing_stored(&refused).await;
    // Nor can we name their contract under our authority.
    let their_contract = env
        .create_contract(example_contract(
            "id-token-hint",
            theirs["did"].as_str().unwrap(),
        ))
        .await;
    let (status, refused) = env
        .create_request(&hint_claims(&env, &their_contract))
        .await;
    assert_eq!(
        refusal(status, &refused, 400, "badOrMissingField").as_deref(),
        Some("manifest")
    );
    env.assert_nothing_stored(&refused).await;

    // Our requests are invisible to them.
    let (request_id, _) = env.new_request(&hint_claims(&env, &contract)).await;
    let path = format!("/v1.0/verifiableCredentials/issuanceRequests/{request_id}");
    let (status, body) = env.app.get(&path, Some(&foreign)).await;
    refusal(status, &body, 404, "notFound");
    assert_eq!(env.app.get(&path, None).await.0, 401);
    assert_eq!(env.poll(&request_id).await.0, 200);
    let (status, body) = env.poll(&uuid::Uuid::new_v4().to_string()).await;
    refusal(status, &body, 404, "notFound");
}
