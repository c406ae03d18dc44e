//! Holder request checks: each one made to fail with its own error.

use serde_json::{Value, json};
use verity_jose::{Algorithm, SigningKey};

use super::*;

/// Signs the holder's valid claims after `edit`, and verifies them.
async fn verify_edited(
    edit: impl FnOnce(&Party, &mut Value),
) -> Result<HolderRequest, IssuanceError> {
    let holder = Party::holder(Algorithm::EdDSA);
    let mut claims = holder.holder_claims();
    edit(&holder, &mut claims);
    verify(&TestResolver::default(), &holder.sign(&claims)).await
}

#[track_caller]
fn assert_code(r: Result<HolderRequest, IssuanceError>, code: &str) -> IssuanceError {
    match r {
        Ok(_) => panic!("expected {code}, but the holder request verified"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            e
        }
    }
}

#[tokio::test]
async fn a_valid_holder_request_verifies() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K] {
        let holder = Party::holder(alg);
        let mut claims = holder.holder_claims();
        claims["pin"] = json!("cGluLWhhc2g=");
        claims["attestations"] = json!({ "selfIssued": { "nickname": "Meg" } });
        let token = holder.sign(&claims);
        let unverified = UnverifiedHolderRequest::parse(&token, MAX_BYTES).unwrap();
        assert_eq!(
            unverified.state().unwrap(),
            "0d6a6a4c-5a3e-4f5e-9f59-7d7f3c1a2b3c"
        );
        let r = unverified
            .verify(&check(&TestResolver::default()))
            .await
            .unwrap();
        assert_eq!(r.did(), holder.did);
        assert_eq!(r.jti(), "3b1f0e2a-holder-request");
        assert_eq!(r.exp(), NOW + 300);
        assert_eq!(r.pin(), Some("cGluLWhhc2g="));
        assert_eq!(r.self_issued()["nickname"], "Meg");
        r.check_nonce(NONCE).unwrap();
    }
}

#[tokio::test]
async fn a_did_web_holder_verifies_through_the_resolver() {
    let holder = Party::web("holder.example", Algorithm::ES256);
    let resolver = TestResolver::default();
    resolver.web.insert(holder.document());
    let r = verify(&resolver, &holder.sign(&holder.holder_claims()))
        .await
        .unwrap();
    assert_eq!(r.did(), "did:web:holder.example");
}

#[tokio::test]
async fn not_a_jws_is_malformed() {
    for token in ["garbage", "a.b", "", "e30.e30.e30.e30"] {
        let e = UnverifiedHolderRequest::parse(token, MAX_BYTES).unwrap_err();
        assert_eq!(e.code(), "ISS-001", "{token:?}: {e}");
        assert!(
            e.to_string()
                .starts_with("the holder request is not a valid JWS"),
            "{e}"
        );
        assert!(e.is_holder_request());
    }
}

#[tokio::test]
async fn an_oversized_token_is_malformed() {
    let holder = Party::holder(Algorithm::EdDSA);
    let token = holder.sign(&holder.holder_claims());
    let e = UnverifiedHolderRequest::parse(&token, 64).unwrap_err();
    assert_eq!(e.code(), "ISS-001", "{e}");
}

#[tokio::test]
async fn a_payload_that_is_not_json_is_refused() {
    let holder = Party::holder(Algorithm::EdDSA);
    let token = sign_with(&holder.key, Some(&holder.kid), b"not json");
    let e = UnverifiedHolderRequest::parse(&token, MAX_BYTES).unwrap_err();
    assert_eq!(e.code(), "ISS-002", "{e}");
}

#[tokio::test]
async fn a_request_without_state_names_no_request() {
    let holder = Party::holder(Algorithm::EdDSA);
    let mut claims = holder.holder_claims();
    claims["state"] = json!(42);
    let parsed = UnverifiedHolderRequest::parse(&holder.sign(&claims), MAX_BYTES).unwrap();
    let e = parsed.state().unwrap_err();
    assert_eq!(e.code(), "ISS-003");
    assert_eq!(
        e.to_string(),
        "the holder request must carry the request's `state`"
    );
    assert!(
        !e.is_holder_request(),
        "reported as a bad field, not a holder check"
    );
}

#[tokio::test]
async fn did_is_required() {
    let e = assert_code(
        verify_edited(|_, c| {
            c.as_object_mut().unwrap().remove("did");
        })
        .await,
        "ISS-004",
    );
    assert_eq!(e.to_string(), "`did` is missing");
    // An array payload has no `did` either.
    let holder = Party::holder(Algorithm::EdDSA);
    let token = holder.sign(&json!([holder.holder_claims()]));
    assert_code(verify(&TestResolver::default(), &token).await, "ISS-004");
}

#[tokio::test]
async fn kid_is_required() {
    let holder = Party::holder(Algorithm::EdDSA);
    let token = sign_with(
        &holder.key,
        None,
        holder.holder_claims().to_string().as_bytes(),
    );
    let e = assert_code(verify(&TestResolver::default(), &token).await, "ISS-005");
    assert_eq!(e.to_string(), "the header has no `kid`");
}

#[tokio::test]
async fn a_kid_of_another_did_is_refused() {
    let holder = Party::holder(Algorithm::EdDSA);
    let other = Party::holder(Algorithm::EdDSA);
    for kid in [other.kid.clone(), "#0".to_owned(), holder.did.clone()] {
        let token = sign_with(
            &holder.key,
            Some(&kid),
            holder.holder_claims().to_string().as_bytes(),
        );
        let e = assert_code(verify(&TestResolver::default(), &token).await, "ISS-006");
        assert!(e.to_string().contains("is not a key of"), "{e}");
    }
}

#[tokio::test]
async fn an_unresolvable_did_is_refused() {
    let holder = Party::web("nowhere.example", Algorithm::ES256);
    let e = assert_code(
        verify(
            &TestResolver::default(),
            &holder.sign(&holder.holder_claims()),
        )
        .await,
        "ISS-007",
    );
    assert!(
        e.to_string()
            .starts_with("cannot resolve `did:web:nowhere.example`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_key_not_under_authentication_is_refused() {
    let holder = Party::web("holder.example", Algorithm::ES256);
    let mut doc = holder.document();
    doc.authentication.clear();
    let resolver = TestResolver::default();
    resolver.web.insert(doc);
    let e = assert_code(
        verify(&resolver, &holder.sign(&holder.holder_claims())).await,
        "ISS-008",
    );
    assert!(
        e.to_string().contains("not an authentication key of"),
        "{e}"
    );
    // A kid the document does not define at all.
    let resolver = TestResolver::default();
    resolver.web.insert(holder.document());
    let token = sign_with(
        &holder.key,
        Some("did:web:holder.example#key-2"),
        holder.holder_claims().to_string().as_bytes(),
    );
    assert_code(verify(&resolver, &token).await, "ISS-008");
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let holder = Party::holder(Algorithm::EdDSA);
    let impostor = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let token = sign_with(
        &impostor,
        Some(&holder.kid),
        holder.holder_claims().to_string().as_bytes(),
    );
    let e = assert_code(verify(&TestResolver::default(), &token).await, "ISS-009");
    assert!(
        e.to_string()
            .starts_with("the holder request signature is invalid"),
        "{e}"
    );
    // The right key, another payload under the signature.
    let good = holder.sign(&holder.holder_claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let other = holder.sign(&{
        let mut c = holder.holder_claims();
        c["nonce"] = json!("another");
        c
    });
    parts[1] = other.split('.').nth(1).unwrap().to_owned();
    assert_code(
        verify(&TestResolver::default(), &parts.join(".")).await,
        "ISS-009",
    );
}

#[tokio::test]
async fn another_kind_of_token_is_refused() {
    // A credential-shaped or request-object-shaped token signed by the holder's key.
    for (member, value) in [
        ("vc", json!({ "type": ["VerifiableCredential"] })),
        ("client_id", json!(ISSUER)),
        ("id_token_hint", json!("x.y.z")),
    ] {
        let e = assert_code(verify_edited(|_, c| c[member] = value).await, "ISS-010");
        assert!(
            e.to_string().starts_with("not a holder request"),
            "{member}: {e}"
        );
    }
    let e = assert_code(
        verify_edited(|_, c| {
            c.as_object_mut().unwrap().remove("sub_jwk");
        })
        .await,
        "ISS-010",
    );
    assert!(e.to_string().contains("sub_jwk"), "{e}");
}

#[tokio::test]
async fn sub_jwk_must_be_a_public_jwk() {
    let e = assert_code(
        verify_edited(|_, c| c["sub_jwk"] = json!({ "kty": "oct", "k": "c2VjcmV0" })).await,
        "ISS-011",
    );
    assert!(
        e.to_string().starts_with("`sub_jwk` is not a public JWK"),
        "{e}"
    );
}

#[tokio::test]
async fn sub_jwk_must_be_the_signing_key() {
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let e = assert_code(
        verify_edited(|_, c| c["sub_jwk"] = serde_json::to_value(other.public_jwk()).unwrap())
            .await,
        "ISS-012",
    );
    assert_eq!(
        e.to_string(),
        "`sub_jwk` is not the key that signed the request"
    );
}

#[tokio::test]
async fn sub_must_be_the_key_thumbprint() {
    for sub in [json!("not-the-thumbprint"), json!(7)] {
        let e = assert_code(verify_edited(|_, c| c["sub"] = sub).await, "ISS-013");
        assert_eq!(
            e.to_string(),
            "`sub` is not the thumbprint of the signing key"
        );
    }
    // The thumbprint of another key is not it either.
    let other = Party::holder(Algorithm::EdDSA);
    assert_code(
        verify_edited(|_, c| c["sub"] = json!(other.thumbprint())).await,
        "ISS-013",
    );
}

#[tokio::test]
async fn aud_must_be_the_credential_issuer_url() {
    for aud in [
        json!("https://issuer.example/v1.0/issue/other"),
        json!([AUD]),
    ] {
        let e = assert_code(verify_edited(|_, c| c["aud"] = aud).await, "ISS-014");
        assert_eq!(e.to_string(), format!("`aud` must be `{AUD}`"));
    }
}

#[tokio::test]
async fn times_are_checked_with_skew() {
    // Expired (beyond the skew).
    let e = assert_code(
        verify_edited(|_, c| c["exp"] = json!(NOW - SKEW)).await,
        "ISS-015",
    );
    assert!(e.to_string().starts_with("holder request:"), "{e}");
    // Within the skew it still passes.
    verify_edited(|_, c| c["exp"] = json!(NOW - SKEW + 1))
        .await
        .unwrap();
    // exp is required.
    assert_code(
        verify_edited(|_, c| {
            c.as_object_mut().unwrap().remove("exp");
        })
        .await,
        "ISS-015",
    );
    // Not yet valid, issued in the future.
    assert_code(
        verify_edited(|_, c| c["nbf"] = json!(NOW + SKEW + 1)).await,
        "ISS-015",
    );
    assert_code(
        verify_edited(|_, c| c["iat"] = json!(NOW + SKEW + 1)).await,
        "ISS-015",
    );
}

#[tokio::test]
async fn jti_is_required() {
    for edit in [json!(null), json!(""), json!(5)] {
        let e = assert_code(verify_edited(|_, c| c["jti"] = edit).await, "ISS-016");
        assert_eq!(e.to_string(), "`jti` is missing");
    }
}

#[tokio::test]
async fn nonce_must_be_the_requests() {
    let (_, r) = holder_request(|_| {}).await;
    let e = r.check_nonce("another-nonce").unwrap_err();
    assert_eq!(e.code(), "ISS-017");
    assert_eq!(e.to_string(), "`nonce` does not match the request");
    let (_, r) = holder_request(|c| c["nonce"] = json!(7)).await;
    assert!(r.check_nonce(NONCE).is_err());
}

#[tokio::test]
async fn fractional_exp_is_truncated_and_bounds_the_replay_record() {
    let (_, r) = holder_request(|c| c["exp"] = json!(NOW as f64 + 100.75)).await;
    assert_eq!(r.exp(), NOW + 100);
    // Remembered for exp + skew, but never past the request's own expiry.
    assert_eq!(r.jti_remembered_until(SKEW, NOW + 1_000), NOW + 100 + SKEW);
    assert_eq!(r.jti_remembered_until(SKEW, NOW + 120), NOW + 120);
    assert_eq!(r.jti_remembered_until(-5, NOW + 1_000), NOW + 100);
}
