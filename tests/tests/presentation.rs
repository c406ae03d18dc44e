//! Presentation end to end: credentials issued by the app are presented by the reference wallet
//! over HTTP and verified; the RP gets the callback bodies of protocol.md §1. Every check of the
//! verifier pipeline is made to fail once through the real app, with its HTTP answer, PRES code
//! and `presentation_error` callback; outages are 503 and leave the request open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{SigningKey, UnverifiedJws};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env, issuance_env_with};
use verity_tests::presentation::{
    EXPERT, Fixture, RP_STATE, assert_refused, assert_refused_unrecorded, contract_for,
    create_authority, create_presentation, create_presentation_at, gone_issuer, issue, issue_to,
    new_presentation, outbox_of, patch, payload_of, poll, post_response, present_with,
    presentation_body, presenting, queued_callback, requested, second_wallet, unlinked_issuer,
    with_payload,
};
use verity_tests::{Backend, assert_error_shape, both_backends};
use verity_wallet::{Algorithm, PresentationOptions, PresentationSession, WalletError};

both_backends!(
    presented_credential_is_verified_and_reported,
    eddsa_holder_presents_credentials_of_every_issuer_algorithm,
    es256_holder_presents_credentials_of_every_issuer_algorithm,
    es256k_holder_presents_credentials_of_every_issuer_algorithm,
    unknown_request_is_not_found_and_burns_nothing,
    response_for_another_request_is_refused,
    expired_request_is_refused,
    state_mismatch_is_refused,
    id_token_nonce_mismatch_is_refused,
    id_token_audience_mismatch_is_refused,
    id_token_issuer_mismatch_is_refused,
    id_token_times_are_checked,
    id_token_signed_by_another_key_is_refused,
    vp_token_nonce_mismatch_is_refused,
    vp_token_audience_mismatch_is_refused,
    vp_token_times_are_checked,
    vp_token_of_another_holder_is_refused,
    vp_token_without_jti_is_refused,
    submission_missing_a_descriptor_is_refused,
    submission_with_an_unrequested_descriptor_is_refused,
    tampered_credential_is_refused,
    expired_credential_is_refused,
    credential_bound_to_another_holder_is_refused,
    credential_of_the_wrong_type_is_refused,
    issuer_outside_accepted_issuers_is_refused,
    company_and_partner_are_both_accepted,
    constraints_are_enforced,
    revoked_credential_is_refused_unless_allowed,
    linked_domain_is_verified_and_reported,
    unlinked_domain_is_refused_when_validation_is_asked,
    face_check_is_refused_when_not_configured,
    replayed_vp_token_is_refused,
    two_types_are_satisfied_only_by_both,
    unreachable_issuer_did_is_a_transient_error,
    create_presentation_request_input_is_validated,
);

const MINUTE: i64 = 60;

/// The RP's recorded callbacks for `request_id`, by status, once `statuses` have all arrived
/// (waits up to 10 s): (headers, body) each. Callbacks of one request may arrive in any order.
async fn rp_callbacks(
    env: &IssuanceEnv,
    request_id: &str,
    statuses: &[&str],
) -> BTreeMap<String, (Value, Value)> {
    for _ in 0..200 {
        let mine: BTreeMap<String, (Value, Value)> = env
            .rp
            .calls()
            .into_iter()
            .filter(|c| c.body["requestId"] == request_id)
            .map(|c| {
                let status = c.body["requestStatus"].as_str().unwrap().to_owned();
                (status, (json!(c.headers), c.body))
            })
            .collect();
        if statuses.iter().all(|s| mine.contains_key(*s)) {
            assert_eq!(mine.len(), statuses.len(), "{mine:?}");
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the RP did not get {statuses:?} for {request_id}");
}

const RETRIEVED_AND_VERIFIED: [&str; 2] = ["request_retrieved", "presentation_verified"];

/// Checks the shape of a JWT (three segments, a JSON header naming `alg`) and returns the
/// payload.
fn assert_jwt(v: &Value) -> Value {
    let jwt = v.as_str().unwrap_or_else(|| panic!("a JWT, got {v}"));
    let jws = UnverifiedJws::parse(jwt).unwrap();
    assert!(jws.algorithm().is_ok(), "{jwt}");
    jws.payload_unverified().unwrap()
}

/// Checks an RFC 3339 UTC date and returns its unix time.
fn assert_date(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("a date, got {v}"));
    assert!(s.ends_with('Z'), "UTC: {s}");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp()
}

/// Asserts a `presentation_verified` body is exactly protocol.md §1's: the volatile members
/// (requestId, dates, receipt tokens) are checked for shape and consistency, then redacted,
/// and the rest compared whole. `credentials` = (issuer, JWT-VC, claims) per requested
/// credential, in request order.
fn assert_verified_body(
    body: &Value,
    request_id: &str,
    subject: &str,
    credentials: &[(&str, &str, Value)],
    domain: &str,
    receipt: bool,
) {
    let mut body = body.clone();
    assert_eq!(
        uuid::Uuid::parse_str(body["requestId"].as_str().unwrap())
            .unwrap()
            .to_string(),
        request_id
    );
    body["requestId"] = json!("<uuid>");
    let data = body["verifiedCredentialsData"].as_array_mut().unwrap();
    assert_eq!(data.len(), credentials.len(), "{data:?}");
    let mut expected_data = Vec::new();
    for (d, (issuer, vc, claims)) in data.iter_mut().zip(credentials) {
        let vc_payload = payload_of(vc);
        assert_eq!(assert_date(&d["issuanceDate"]), vc_payload["nbf"]);
        assert_eq!(assert_date(&d["expirationDate"]), vc_payload["exp"]);
        d["issuanceDate"] = json!("<rfc3339>");
        d["expirationDate"] = json!("<rfc3339>");
        expected_data.push(json!({
            "issuer": issuer,
            "type": vc_payload["vc"]["type"],
            "claims": claims,
            "credentialState": { "revocationStatus": "VALID" },
            "domainValidation": { "url": domain },
            "issuanceDate": "<rfc3339>",
            "expirationDate": "<rfc3339>",
        }));
    }
    let mut expected = json!({
        "requestId": "<uuid>",
        "requestStatus": "presentation_verified",
        "state": RP_STATE,
        "subject": subject,
        "verifiedCredentialsData": expected_data,
    });
    if receipt {
        let r = &mut body["receipt"];
        let id_token = assert_jwt(&r["id_token"]);
        assert_eq!(id_token["sub"], subject);
        assert_eq!(id_token["iss"], "https://self-issued.me/v2/openid-vc");
        let vp = assert_jwt(&r["vp_token"]);
        assert_eq!(vp["iss"], subject);
        let presented: Vec<&str> = credentials.iter().map(|(_, vc, _)| *vc).collect();
        assert_eq!(vp["vp"]["verifiableCredential"], json!(presented));
        assert_eq!(r["state"], request_id);
        *r = json!({ "id_token": "<jwt>", "vp_token": "<jwt>", "state": "<uuid>" });
        expected["receipt"] =
            json!({ "id_token": "<jwt>", "vp_token": "<jwt>", "state": "<uuid>" });
    }
    assert_eq!(body, expected);
}

/// The origin the app's own authorities list as their linked domain.
fn own_origin(env: &IssuanceEnv) -> String {
    format!("http://localhost:{}/", env.app.port)
}

fn megan() -> Value {
    json!({ "givenName": "Megan", "familyName": "Bowen" })
}

async fn presented_credential_is_verified_and_reported(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let vc = issue(&env, &contract, "Megan").await;

    let mut req = requested(EXPERT, &[&env.authority]);
    req["constraints"] = json!([ { "claimName": "givenName", "values": ["Megan", "Alex"] } ]);
    let body = presentation_body(&env, vec![req]);
    let (status, created) = create_presentation(&env, &body).await;
    assert_eq!(status, 201, "{created}");
    let request_id = created["requestId"].as_str().unwrap().to_owned();
    let url = created["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "openid-vc://?request_uri={}/v1.0/requests/{request_id}",
            env.app.url
        )
    );
    assert!(created["expiry"].as_i64().unwrap() > env.app.clock.unix());
    assert!(created.get("qrCode").is_none(), "no QR unless asked");
    let presented = env.wallet.present(url).await.unwrap();
    assert_eq!(presented.status, 200, "{:?}", presented.body);
    assert_eq!(presented.holder, env.wallet.did());

    let calls = rp_callbacks(&env, &request_id, &RETRIEVED_AND_VERIFIED).await;
    let (headers, retrieved) = &calls["request_retrieved"];
    assert_eq!(
        retrieved,
        &json!({ "requestId": request_id, "requestStatus": "request_retrieved", "state": RP_STATE })
    );
    assert_eq!(headers["api-key"], "rp-secret", "{headers}");
    let (headers, verified) = &calls["presentation_verified"];
    assert_eq!(headers["api-key"], "rp-secret", "{headers}");
    assert_verified_body(
        verified,
        &request_id,
        &env.wallet.did(),
        &[(&env.authority, &vc, megan())],
        &own_origin(&env),
        true,
    );

    // Polling returns the same body, on both bases.
    for base in ["v1.0", "beta"] {
        let (status, polled) = env
            .app
            .get(
                &format!("/{base}/verifiableCredentials/presentationRequests/{request_id}"),
                Some(&env.token),
            )
            .await;
        assert_eq!(status, 200, "{polled}");
        assert_eq!(&polled, verified);
    }

    // The beta base creates requests too; without includeReceipt there is no receipt.
    let mut body = presentation_body(&env, vec![requested(EXPERT, &[])]);
    body["includeReceipt"] = json!(false);
    body["includeQRCode"] = json!(true);
    let (status, created) = create_presentation_at(&env, "beta", &body).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let request_id = created["requestId"].as_str().unwrap();
    env.wallet
        .present(created["url"].as_str().unwrap())
        .await
        .unwrap();
    let calls = rp_callbacks(&env, request_id, &RETRIEVED_AND_VERIFIED).await;
    assert_verified_body(
        &calls["presentation_verified"].1,
        request_id,
        &env.wallet.did(),
        &[(&env.authority, &vc, megan())],
        &own_origin(&env),
        false,
    );
}

/// Issuers with EdDSA, ES256 and ES256K keys (one authority each), presented by a holder with
/// `holder_alg`: every pair verifies, and each callback body is protocol.md's.
async fn every_issuer_algorithm(backend: Backend, holder_alg: Algorithm) {
    let Some(env) = issuance_env_with(backend, holder_alg, |_| {}).await else {
        return;
    };
    for issuer_alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K] {
        let name = issuer_alg.as_str().to_ascii_lowercase();
        let did = create_authority(
            &env.app,
            &format!("Issuer {issuer_alg}"),
            &format!("issuers/{name}"),
            issuer_alg,
        )
        .await;
        let contract = env
            .create_contract(contract_for(&did, &format!("expert-{name}"), EXPERT))
            .await;
        let vc = issue_to(&env, &env.wallet, &did, &contract, "Megan", |_| {}).await;
        let header = UnverifiedJws::parse(&vc).unwrap().header().clone();
        assert_eq!(header.alg, issuer_alg.as_str());
        assert!(header.kid.unwrap().starts_with(&format!("{did}#")));

        // acceptedIssuers steers the wallet to this issuer's credential among the three.
        let body = presentation_body(&env, vec![requested(EXPERT, &[&did])]);
        let (request_id, url) = new_presentation(&env, &body).await;
        let presented = env.wallet.present(&url).await.unwrap();
        assert_eq!(presented.status, 200);
        let calls = rp_callbacks(&env, &request_id, &RETRIEVED_AND_VERIFIED).await;
        let verified = &calls["presentation_verified"].1;
        let receipt = &verified["receipt"];
        for token in ["id_token", "vp_token"] {
            let jws = UnverifiedJws::parse(receipt[token].as_str().unwrap()).unwrap();
            assert_eq!(jws.algorithm().unwrap(), holder_alg, "{token}");
        }
        assert_verified_body(
            verified,
            &request_id,
            &env.wallet.did(),
            &[(&did, &vc, megan())],
            &own_origin(&env),
            true,
        );
    }
}

async fn eddsa_holder_presents_credentials_of_every_issuer_algorithm(backend: Backend) {
    every_issuer_algorithm(backend, Algorithm::EdDSA).await;
}

async fn es256_holder_presents_credentials_of_every_issuer_algorithm(backend: Backend) {
    every_issuer_algorithm(backend, Algorithm::ES256).await;
}

async fn es256k_holder_presents_credentials_of_every_issuer_algorithm(backend: Backend) {
    every_issuer_algorithm(backend, Algorithm::ES256K).await;
}

async fn unknown_request_is_not_found_and_burns_nothing(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f.request(vec![f.requested()]).await;
    let session = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    for unknown in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let (status, body) =
            post_response(&f.env.app, &unknown, &r.id_token, &r.vp_token, &r.state).await;
        assert_eq!(status, 404, "{body}");
        let inner = assert_error_shape(&body, "notFound", "notFound");
        assert!(
            inner["message"].as_str().unwrap().contains("(PRES-001)"),
            "{inner}"
        );
    }
    // An issuance request's id is not a presentation request either.
    let mut issuance = f.env.request_body(&f.contract);
    issuance["claims"] = json!({ "given_name": "A", "family_name": "B" });
    let (issuance_id, _) = f.env.new_request(&issuance).await;
    let (status, body) =
        post_response(&f.env.app, &issuance_id, &r.id_token, &r.vp_token, &r.state).await;
    assert_eq!(status, 404, "{body}");

    // Nothing was recorded for the real request, and its response still verifies: the refused
    // posts did not consume the vp_token's jti.
    let statuses: Vec<String> = outbox_of(&f.env.app, &request_id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    assert_eq!(statuses, ["request_retrieved"]);
    let (status, body) = session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
}

/// A response made for request A, posted to request B: B's state does not match.
async fn response_for_another_request_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (a_id, a_url) = f.request(vec![f.requested()]).await;
    let (b_id, _) = f.request(vec![f.requested()]).await;
    let session = PresentationSession::start(&f.env.wallet, &a_url)
        .await
        .unwrap();
    let r = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    let answer = post_response(&f.env.app, &b_id, &r.id_token, &r.vp_token, &r.state).await;
    assert_refused_unrecorded(&f.env, &b_id, &answer, "PRES-003").await;
    let message = answer.1["error"]["innererror"]["message"].as_str().unwrap();
    assert!(message.starts_with("state:"), "{message}");
    // A is untouched and accepts its own response.
    let (status, body) = session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        queued_callback(&f.env.app, &a_id, "presentation_verified").await["subject"],
        f.env.wallet.did()
    );
}

async fn expired_request_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f.request(vec![f.requested()]).await;
    // The wallet fetched the request in time and answers after it expired (5 minutes).
    let session = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    f.env.app.clock.advance(chrono::Duration::seconds(301));
    let r = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    let answer = session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap();
    let cb = assert_refused(&f.env, &request_id, &answer, "PRES-002", "requestExpired").await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains("expired"),
        "{cb}"
    );
}

async fn state_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f.request(vec![f.requested()]).await;
    let session = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    let answer = session
        .submit(&r.id_token, &r.vp_token, "another-state")
        .await
        .unwrap();
    assert_refused_unrecorded(&f.env, &request_id, &answer, "PRES-003").await;
    // The request stays open: the real answer is still accepted.
    let (status, body) = session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // A missing state is refused before any check runs (and the request stays open).
    let (request_id, url) = f.request(vec![f.requested()]).await;
    let session = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    let (status, body) = post_response(&f.env.app, &request_id, &r.id_token, &r.vp_token, "").await;
    assert_eq!(status, 400, "{body}");
    let inner = assert_error_shape(&body, "badRequest", "badOrMissingField");
    assert_eq!(inner["target"], "state");
    let (_, polled) = poll(&f.env, &request_id).await;
    assert_eq!(polled["requestStatus"], "request_retrieved");
}

async fn id_token_nonce_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        id_token_patch: patch(json!({ "nonce": "bm90LXRoZS1ub25jZQ" })),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-012", "tokenValidationError").await;
    // The wallet answering with another nonce in both tokens fails at the id_token.
    let opts = PresentationOptions {
        nonce_override: Some("bm90LXRoZS1ub25jZQ".into()),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-012", "tokenValidationError").await;
}

async fn id_token_audience_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        aud_override: Some("did:web:verifier.example".into()),
        ..PresentationOptions::default()
    };
    let cb = f.refused(&opts, "PRES-011", "tokenValidationError").await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did:web:verifier.example"),
        "{cb}"
    );
}

async fn id_token_issuer_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        id_token_patch: patch(json!({ "iss": "https://self-issued.me" })),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-010", "tokenValidationError").await;
}

async fn id_token_times_are_checked(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let now = f.env.app.clock.unix();
    for times in [
        json!({ "iat": now - 20 * MINUTE, "exp": now - 10 * MINUTE }),
        json!({ "iat": now + 10 * MINUTE, "exp": now + 20 * MINUTE }),
        json!({ "exp": null }),
    ] {
        let opts = PresentationOptions {
            id_token_patch: patch(times),
            ..PresentationOptions::default()
        };
        f.refused(&opts, "PRES-013", "tokenValidationError").await;
    }
}

async fn id_token_signed_by_another_key_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    // Same algorithm, same kid (the holder's), another key.
    let opts = PresentationOptions {
        holder_key_override: Some(SigningKey::generate(Algorithm::EdDSA).unwrap()),
        ..PresentationOptions::default()
    };
    let (id, answer) = f.present(&opts).await;
    assert_refused_unrecorded(&f.env, &id, &answer, "PRES-009").await;
    let message = answer.1["error"]["innererror"]["message"].as_str().unwrap();
    assert!(message.starts_with("id_token: signature"), "{message}");
}

async fn vp_token_nonce_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        vp_token_patch: patch(json!({ "nonce": "bm90LXRoZS1ub25jZQ" })),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-020", "tokenValidationError").await;
}

async fn vp_token_audience_mismatch_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        vp_token_patch: patch(json!({ "aud": "did:web:verifier.example" })),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-019", "tokenValidationError").await;
}

async fn vp_token_times_are_checked(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let now = f.env.app.clock.unix();
    for times in [
        json!({ "iat": now - 20 * MINUTE, "nbf": now - 20 * MINUTE, "exp": now - 10 * MINUTE }),
        json!({ "nbf": now + 10 * MINUTE }),
        json!({ "exp": null }),
    ] {
        let opts = PresentationOptions {
            vp_token_patch: patch(times),
            ..PresentationOptions::default()
        };
        f.refused(&opts, "PRES-021", "tokenValidationError").await;
    }
}

/// The id_token is the holder's; the vp_token (with the same credential) is another wallet's.
async fn vp_token_of_another_holder_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (other, _dir) = second_wallet(&f.env, Algorithm::EdDSA);
    let (request_id, url) = f.request(vec![f.requested()]).await;
    let ours = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r = ours
        .build_response(&PresentationOptions::default())
        .unwrap();
    let theirs = PresentationSession::start(&other, &url).await.unwrap();
    let t = theirs
        .build_response(&presenting(vec![f.vc.clone()]))
        .unwrap();
    assert_eq!(t.holder, other.did());
    let answer = ours
        .submit(&r.id_token, &t.vp_token, &r.state)
        .await
        .unwrap();
    assert_refused(
        &f.env,
        &request_id,
        &answer,
        "PRES-016",
        "tokenValidationError",
    )
    .await;
}

async fn vp_token_without_jti_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    for jti in [Value::Null, json!(""), json!(7)] {
        let opts = PresentationOptions {
            vp_token_patch: patch(json!({ "jti": jti })),
            ..PresentationOptions::default()
        };
        f.refused(&opts, "PRES-022", "tokenValidationError").await;
    }
}

async fn submission_missing_a_descriptor_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        drop_descriptors: vec![EXPERT.into()],
        ..PresentationOptions::default()
    };
    let cb = f
        .refused(&opts, "PRES-027", "presentationSubmissionError")
        .await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains(EXPERT),
        "{cb}"
    );
    // No presentation_submission at all.
    let opts = PresentationOptions {
        id_token_patch: patch(json!({ "_vp_token": null })),
        ..PresentationOptions::default()
    };
    f.refused(&opts, "PRES-025", "presentationSubmissionError")
        .await;
}

async fn submission_with_an_unrequested_descriptor_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = PresentationOptions {
        extra_descriptors: vec![json!({
            "id": "VerifiedEmployee", "format": "jwt_vp", "path": "$",
            "path_nested": { "id": "VerifiedEmployee", "format": "jwt_vc",
                             "path": "$.verifiableCredential[0]" } })],
        ..PresentationOptions::default()
    };
    let cb = f
        .refused(&opts, "PRES-028", "presentationSubmissionError")
        .await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VerifiedEmployee"),
        "{cb}"
    );
}

/// One byte of the credential's payload flipped after signing ("Megan" -> "Negan").
async fn tampered_credential_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let mut payload = payload_of(&f.vc);
    assert_eq!(payload["vc"]["credentialSubject"]["givenName"], "Megan");
    payload["vc"]["credentialSubject"]["givenName"] = json!("Negan");
    let tampered = with_payload(&f.vc, &payload);
    f.refused(
        &presenting(vec![tampered]),
        "PRES-036",
        "credentialValidationError",
    )
    .await;
}

/// A credential issued with a 10-minute expirationDate, presented 11 minutes later.
async fn expired_credential_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let exp = f.env.app.clock.unix() + 10 * MINUTE;
    let expiry = chrono::DateTime::from_timestamp(exp, 0)
        .unwrap()
        .to_rfc3339();
    let short = issue_to(
        &f.env,
        &f.env.wallet,
        &f.env.authority,
        &f.contract,
        "Megan",
        |b| b["expirationDate"] = json!(expiry),
    )
    .await;
    assert_eq!(payload_of(&short)["exp"], exp);
    f.env
        .app
        .clock
        .advance(chrono::Duration::seconds(11 * MINUTE));
    let cb = f
        .refused(
            &presenting(vec![short]),
            "PRES-038",
            "credentialValidationError",
        )
        .await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains("expired"),
        "{cb}"
    );
    // The long-lived credential still verifies at that time.
    let (_, (status, body)) = f.present(&presenting(vec![f.vc.clone()])).await;
    assert_eq!(status, 200, "{body}");
}

/// Wallet A presents a credential issued to wallet B.
async fn credential_bound_to_another_holder_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (b, _dir) = second_wallet(&f.env, Algorithm::ES256);
    let theirs = issue_to(&f.env, &b, &f.env.authority, &f.contract, "Alex", |_| {}).await;
    assert_eq!(payload_of(&theirs)["sub"], b.did());
    let cb = f
        .refused(
            &presenting(vec![theirs]),
            "PRES-039",
            "credentialValidationError",
        )
        .await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&f.env.wallet.did()),
        "{cb}"
    );
}

async fn credential_of_the_wrong_type_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f
        .request(vec![requested("VerifiedEmployee", &[&f.env.authority])])
        .await;
    // The wallet has nothing to offer by itself ...
    let e = f.env.wallet.present(&url).await.unwrap_err();
    assert!(matches!(e, WalletError::NoMatchingCredential { .. }), "{e}");
    // ... and the credential of another type, presented anyway, is refused.
    let answer = present_with(&f.env.wallet, &url, &presenting(vec![f.vc.clone()])).await;
    let cb = assert_refused(
        &f.env,
        &request_id,
        &answer,
        "PRES-041",
        "claimValidationError",
    )
    .await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains(EXPERT),
        "{cb}"
    );
}

async fn issuer_outside_accepted_issuers_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let partner = create_authority(&f.env.app, "Partner", "partner", Algorithm::ES256).await;
    let (request_id, url) = f.request(vec![requested(EXPERT, &[&partner])]).await;
    let answer = present_with(&f.env.wallet, &url, &presenting(vec![f.vc.clone()])).await;
    let cb = assert_refused(
        &f.env,
        &request_id,
        &answer,
        "PRES-040",
        "claimValidationError",
    )
    .await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&f.env.authority),
        "{cb}"
    );
}

/// The helpdesk pattern: a company and its partner, both in acceptedIssuers.
async fn company_and_partner_are_both_accepted(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let company = f.env.authority.clone();
    let partner = create_authority(&f.env.app, "Partner", "partner", Algorithm::EdDSA).await;
    let partner_contract = f
        .env
        .create_contract(contract_for(&partner, "partner-expert", EXPERT))
        .await;
    let partner_vc = issue_to(
        &f.env,
        &f.env.wallet,
        &partner,
        &partner_contract,
        "Alex",
        |_| {},
    )
    .await;
    let alex = json!({ "givenName": "Alex", "familyName": "Bowen" });
    for (issuer, vc, claims) in [(&company, &f.vc, megan()), (&partner, &partner_vc, alex)] {
        let (request_id, url) = f
            .request(vec![requested(EXPERT, &[&company, &partner])])
            .await;
        let (status, body) = present_with(&f.env.wallet, &url, &presenting(vec![vc.clone()])).await;
        assert_eq!(status, 200, "{body}");
        let verified = queued_callback(&f.env.app, &request_id, "presentation_verified").await;
        assert_verified_body(
            &verified,
            &request_id,
            &f.env.wallet.did(),
            &[(issuer, vc, claims)],
            &format!("http://localhost:{}/", f.env.app.port),
            true,
        );
    }
}

async fn constraints_are_enforced(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let with = |c: Value| {
        let mut r = f.requested();
        r["constraints"] = json!([c]);
        r
    };
    let cases = [
        (
            json!({ "claimName": "givenName", "values": ["Alex", "Sam"] }),
            false,
        ),
        (
            json!({ "claimName": "givenName", "contains": "lex" }),
            false,
        ),
        (
            json!({ "claimName": "givenName", "startsWith": "Al" }),
            false,
        ),
        (
            json!({ "claimName": "department", "values": ["Engineering"] }),
            false,
        ),
        (
            json!({ "claimName": "givenName", "values": ["Alex", "Megan"] }),
            true,
        ),
        (json!({ "claimName": "givenName", "contains": "ega" }), true),
        (
            json!({ "claimName": "familyName", "startsWith": "Bo" }),
            true,
        ),
    ];
    for (constraint, passes) in cases {
        let (request_id, url) = f.request(vec![with(constraint.clone())]).await;
        let answer = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
        if passes {
            assert_eq!(answer.0, 200, "{constraint}: {}", answer.1);
        } else {
            let cb = assert_refused(
                &f.env,
                &request_id,
                &answer,
                "PRES-042",
                "claimValidationError",
            )
            .await;
            let message = cb["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(constraint["claimName"].as_str().unwrap()),
                "{message}"
            );
            // The claim's value is never echoed.
            assert!(!message.contains("Megan"), "{message}");
        }
    }
}

async fn revoked_credential_is_refused_unless_allowed(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let jti = payload_of(&f.vc)["jti"].clone();
    let (status, body) = f
        .env
        .app
        .admin(
            reqwest::Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let cb = f
        .refused(
            &PresentationOptions::default(),
            "PRES-043",
            "credentialRevoked",
        )
        .await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains("revoked"),
        "{cb}"
    );

    let (request_id, url) = f
        .request(vec![f.requested_with(json!({ "allowRevoked": true }))])
        .await;
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let verified = queued_callback(&f.env.app, &request_id, "presentation_verified").await;
    assert_eq!(
        verified["verifiedCredentialsData"][0]["credentialState"],
        json!({ "revocationStatus": "REVOKED" })
    );
}

/// With local resolution the app's own did-configuration verifies: the request passes and the
/// callback reports the linked origin.
async fn linked_domain_is_verified_and_reported(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f
        .request(vec![
            f.requested_with(json!({ "validateLinkedDomain": true })),
        ])
        .await;
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let verified = queued_callback(&f.env.app, &request_id, "presentation_verified").await;
    assert_verified_body(
        &verified,
        &request_id,
        &f.env.wallet.did(),
        &[(&f.env.authority, &f.vc, megan())],
        &own_origin(&f.env),
        true,
    );
}

/// The issuer's DID document lists `https://unlinked.test`, whose site serves no DID
/// configuration: refused when the RP asks for linked-domain validation; reported (not
/// verified) when it does not.
async fn unlinked_domain_is_refused_when_validation_is_asked(backend: Backend) {
    let Some(s) = unlinked_issuer(backend).await else {
        return;
    };
    let env = &s.verifier;
    let validating = {
        let mut r = requested(EXPERT, &[&s.did]);
        r["configuration"]["validation"]["validateLinkedDomain"] = json!(true);
        r
    };
    let (request_id, url) = new_presentation(env, &presentation_body(env, vec![validating])).await;
    let answer = present_with(&env.wallet, &url, &PresentationOptions::default()).await;
    let cb = assert_refused(
        env,
        &request_id,
        &answer,
        "PRES-047",
        "linkedDomainValidationError",
    )
    .await;
    let message = cb["error"]["message"].as_str().unwrap();
    assert!(message.contains(&s.did), "{message}");
    assert!(message.contains("configuration_missing"), "{message}");

    let (request_id, url) = new_presentation(
        env,
        &presentation_body(env, vec![requested(EXPERT, &[&s.did])]),
    )
    .await;
    let (status, body) = present_with(&env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let verified = queued_callback(&env.app, &request_id, "presentation_verified").await;
    assert_verified_body(
        &verified,
        &request_id,
        &env.wallet.did(),
        &[(&s.did, &s.vc, megan())],
        "https://unlinked.test/",
        true,
    );
    drop(s.issuer);
}

async fn face_check_is_refused_when_not_configured(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let mut r = f.requested();
    r["configuration"]["validation"]["faceCheck"] =
        json!({ "sourcePhotoClaimName": "photo", "matchConfidenceThreshold": 70 });
    for base in ["v1.0", "beta"] {
        let (status, body) =
            create_presentation_at(&f.env, base, &presentation_body(&f.env, vec![r.clone()])).await;
        assert_eq!(status, 400, "{body}");
        let inner = assert_error_shape(&body, "badRequest", "faceCheckNotConfigured");
        assert_eq!(
            inner["target"],
            "requestedCredentials[0].configuration.validation.faceCheck"
        );
        assert!(body["requestId"].is_null(), "{body}");
    }
}

async fn replayed_vp_token_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (first_id, url) = f.request(vec![f.requested()]).await;
    let first = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r1 = first
        .build_response(&PresentationOptions::default())
        .unwrap();
    let (status, body) = first
        .submit(&r1.id_token, &r1.vp_token, &r1.state)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // The same response again: the request is already answered.
    let (status, body) = first
        .submit(&r1.id_token, &r1.vp_token, &r1.state)
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_error_shape(&body, "conflict", "conflict");
    let mut statuses: Vec<String> = outbox_of(&f.env.app, &first_id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    // Queued in the same (test clock) second: the outbox does not order them.
    statuses.sort();
    assert_eq!(statuses, ["presentation_verified", "request_retrieved"]);

    // The same vp_token with a fresh id_token for a second request: its nonce is the first
    // request's.
    let (second_id, url) = f.request(vec![f.requested()]).await;
    let second = PresentationSession::start(&f.env.wallet, &url)
        .await
        .unwrap();
    let r2 = second
        .build_response(&PresentationOptions::default())
        .unwrap();
    let answer = second
        .submit(&r2.id_token, &r1.vp_token, &r2.state)
        .await
        .unwrap();
    assert_refused(
        &f.env,
        &second_id,
        &answer,
        "PRES-020",
        "tokenValidationError",
    )
    .await;

    // A vp_token re-signed for a third request but reusing the first one's jti: a replay.
    let jti = payload_of(&r1.vp_token)["jti"].clone();
    let opts = PresentationOptions {
        vp_token_patch: patch(json!({ "jti": jti })),
        ..PresentationOptions::default()
    };
    let cb = f.refused(&opts, "PRES-023", "tokenValidationError").await;
    assert!(
        cb["error"]["message"].as_str().unwrap().contains("replay"),
        "{cb}"
    );
}

async fn two_types_are_satisfied_only_by_both(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let employee_contract = f
        .env
        .create_contract(contract_for(
            &f.env.authority,
            "employee",
            "VerifiedEmployee",
        ))
        .await;
    let both = vec![
        f.requested(),
        requested("VerifiedEmployee", &[&f.env.authority]),
    ];

    // A wallet with only one of the two types cannot answer.
    let (lone, _dir) = second_wallet(&f.env, Algorithm::EdDSA);
    let lone_vc = issue_to(&f.env, &lone, &f.env.authority, &f.contract, "Sam", |_| {}).await;
    let (_, url) = f.request(both.clone()).await;
    let e = lone.present(&url).await.unwrap_err();
    assert!(
        matches!(&e, WalletError::NoMatchingCredential { descriptor } if descriptor == "VerifiedEmployee"),
        "{e}"
    );
    assert!(!lone_vc.is_empty());

    let employee_vc = issue_to(
        &f.env,
        &f.env.wallet,
        &f.env.authority,
        &employee_contract,
        "Megan",
        |_| {},
    )
    .await;

    // Only one of the two presented: the second descriptor is unanswered.
    let (request_id, url) = f.request(both.clone()).await;
    let answer = present_with(&f.env.wallet, &url, &presenting(vec![f.vc.clone()])).await;
    assert_refused(
        &f.env,
        &request_id,
        &answer,
        "PRES-027",
        "presentationSubmissionError",
    )
    .await;

    // The first type twice: the second descriptor gets a credential of the wrong type.
    let (request_id, url) = f.request(both.clone()).await;
    let answer = present_with(
        &f.env.wallet,
        &url,
        &presenting(vec![f.vc.clone(), f.vc.clone()]),
    )
    .await;
    assert_refused(
        &f.env,
        &request_id,
        &answer,
        "PRES-041",
        "claimValidationError",
    )
    .await;

    // Both: verified, reported in request order.
    let (request_id, url) = f.request(both).await;
    let presented = f.env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.descriptors, [EXPERT, "VerifiedEmployee"]);
    let verified = queued_callback(&f.env.app, &request_id, "presentation_verified").await;
    assert_verified_body(
        &verified,
        &request_id,
        &f.env.wallet.did(),
        &[
            (&f.env.authority, &f.vc, megan()),
            (&f.env.authority, &employee_vc, megan()),
        ],
        &own_origin(&f.env),
        true,
    );
}

/// The credential's issuer (another deployment) is down: 503 transientError naming PRES-034,
/// nothing recorded, the request stays open and a later answer is still accepted.
async fn unreachable_issuer_did_is_a_transient_error(backend: Backend) {
    let Some(g) = gone_issuer(backend).await else {
        return;
    };
    let env = &g.verifier;
    let own_contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    // Any issuer accepted: the wallet may answer with either credential.
    let (request_id, url) =
        new_presentation(env, &presentation_body(env, vec![requested(EXPERT, &[])])).await;
    let (status, body) = present_with(&env.wallet, &url, &presenting(vec![g.vc.clone()])).await;
    assert_eq!(status, 503, "{body}");
    let inner = assert_error_shape(&body, "serviceUnavailable", "transientError");
    let message = inner["message"].as_str().unwrap();
    assert!(message.contains("(PRES-034)"), "{message}");
    assert!(message.contains(&g.did), "{message}");
    assert_eq!(body["requestId"], request_id, "{body}");

    let statuses: Vec<String> = outbox_of(&env.app, &request_id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    assert_eq!(statuses, ["request_retrieved"], "no presentation_error");
    let (_, polled) = poll(env, &request_id).await;
    assert_eq!(polled["requestStatus"], "request_retrieved");

    // Still open: the wallet answers again with a credential whose issuer is reachable.
    let own_vc = issue(env, &own_contract, "Megan").await;
    let (status, body) = present_with(&env.wallet, &url, &presenting(vec![own_vc])).await;
    assert_eq!(status, 200, "{body}");
    let verified = queued_callback(&env.app, &request_id, "presentation_verified").await;
    assert_eq!(
        verified["verifiedCredentialsData"][0]["issuer"],
        env.authority
    );
    drop(g.issuer);
}

async fn create_presentation_request_input_is_validated(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let base = presentation_body(env, vec![f.requested()]);
    let face = |t: u32| json!({ "faceCheck": { "sourcePhotoClaimName": "photo", "matchConfidenceThreshold": t } });
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "threshold below 50",
            Box::new(move |b| {
                b["requestedCredentials"][0]["configuration"]["validation"] = face(49)
            }),
            "badOrMissingField",
            "requestedCredentials[0].configuration.validation.faceCheck.matchConfidenceThreshold",
        ),
        (
            "threshold above 100",
            Box::new(move |b| {
                b["requestedCredentials"][0]["configuration"]["validation"] = face(101)
            }),
            "badOrMissingField",
            "requestedCredentials[0].configuration.validation.faceCheck.matchConfidenceThreshold",
        ),
        (
            "no requested credentials",
            Box::new(|b| b["requestedCredentials"] = json!([])),
            "badOrMissingField",
            "requestedCredentials",
        ),
        (
            "requestedCredentials missing",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("requestedCredentials");
            }),
            "badOrMissingField",
            "requestedCredentials",
        ),
        (
            "callback over plain http to a remote host",
            Box::new(|b| b["callback"]["url"] = json!("http://rp.example.com/callback")),
            "callbackUrlRefused",
            "callback.url",
        ),
        (
            "callback url not a URL",
            Box::new(|b| b["callback"]["url"] = json!("not a url")),
            "callbackUrlRefused",
            "callback.url",
        ),
        (
            "duplicate type",
            Box::new(|b| {
                let r = b["requestedCredentials"][0].clone();
                b["requestedCredentials"].as_array_mut().unwrap().push(r);
            }),
            "badOrMissingField",
            "requestedCredentials[1].type",
        ),
        (
            "acceptedIssuers entry not a DID",
            Box::new(|b| {
                b["requestedCredentials"][0]["acceptedIssuers"] = json!(["contoso.example"])
            }),
            "badOrMissingField",
            "requestedCredentials[0].acceptedIssuers[0]",
        ),
        (
            "constraint with two operators",
            Box::new(|b| {
                b["requestedCredentials"][0]["constraints"] = json!([
                    { "claimName": "givenName", "values": ["Megan"], "startsWith": "M" }
                ])
            }),
            "badOrMissingField",
            "requestedCredentials[0].constraints[0]",
        ),
        (
            "constraint with no operator",
            Box::new(|b| {
                b["requestedCredentials"][0]["constraints"] = json!([{ "claimName": "givenName" }])
            }),
            "badOrMissingField",
            "requestedCredentials[0].constraints[0]",
        ),
        (
            "empty type",
            Box::new(|b| b["requestedCredentials"][0]["type"] = json!(" ")),
            "badOrMissingField",
            "requestedCredentials[0].type",
        ),
        (
            "authority of nobody",
            Box::new(|b| b["authority"] = json!("did:web:elsewhere.example")),
            "badOrMissingField",
            "authority",
        ),
    ];
    for (what, edit, code, target) in cases {
        let mut body = base.clone();
        edit(&mut body);
        let (status, answer) = create_presentation(env, &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        let inner = assert_error_shape(&answer, "badRequest", code);
        assert_eq!(inner["target"], target, "{what}: {answer}");
        assert!(answer["requestId"].is_null(), "{what}: {answer}");
    }
    // The thresholds at the bounds are fine as far as validation goes (then refused because
    // no face matcher is configured).
    for t in [50, 100] {
        let mut body = base.clone();
        body["requestedCredentials"][0]["configuration"]["validation"] = face(t);
        let (status, answer) = create_presentation(env, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_error_shape(&answer, "badRequest", "faceCheckNotConfigured");
    }
    // Nothing was stored by any refusal: only the issuance's callbacks exist.
    let (status, ok) = create_presentation(env, &base).await;
    assert_eq!(status, 201, "{ok}");
}
