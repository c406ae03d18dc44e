//! The validator against a small local OpenID Connect provider: a real HTTP server on a
//! loopback port serving a discovery document and a JWKS, and tokens signed with real keys.

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration};
use serde_json::json;
use verity_core::ManualClock;
use verity_did::test_util::{TestResponse, TestServer};
use verity_did::{FetchPolicy, HttpFetcher};
use verity_jose::{Header, SigningKey, sign_compact};

use super::*;

const NOW: i64 = 1_700_000_000;
const HOST: &str = "login.test";
const CONFIG_URL: &str = "https://login.test/tenant/v2.0/.well-known/openid-configuration";
const CONFIG_PATH: &str = "/tenant/v2.0/.well-known/openid-configuration";
const ISSUER: &str = "https://login.test/tenant/v2.0";
const JWKS_PATH: &str = "/tenant/discovery/keys";
const CLIENT_ID: &str = "wallet-client";

/// The local provider: its server and its current signing key.
struct Provider {
    server: TestServer,
    key: SigningKey,
}

impl Provider {
    async fn start() -> Provider {
        let server = TestServer::start().await;
        server.route(
            CONFIG_PATH,
            TestResponse::json(&json!({
                "issuer": ISSUER,
                "authorization_endpoint": "https://login.test/tenant/oauth2/v2.0/authorize",
                "token_endpoint": "https://login.test/tenant/oauth2/v2.0/token",
                "jwks_uri": format!("https://{HOST}{JWKS_PATH}"),
                "response_types_supported": ["code", "id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["ES256"]
            })),
        );
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let provider = Provider { server, key };
        provider.publish(&[(&provider.key, "k1")]);
        provider
    }

    /// Serves a JWKS holding these public keys under these kids.
    fn publish(&self, keys: &[(&SigningKey, &str)]) {
        let keys: Vec<Value> = keys.iter().map(|(k, kid)| public_jwk(k, kid)).collect();
        self.server
            .route(JWKS_PATH, TestResponse::json(&json!({ "keys": keys })));
    }

    fn jwks_hits(&self) -> usize {
        self.server.hits(JWKS_PATH)
    }

    fn discovery_hits(&self) -> usize {
        self.server.hits(CONFIG_PATH)
    }

    fn validator(&self, clock: &ManualClock) -> OidcValidator {
        validator_for(self.server.addr(), clock)
    }
}

fn validator_for(addr: std::net::SocketAddr, clock: &ManualClock) -> OidcValidator {
    let fetcher = HttpFetcher::new(FetchPolicy {
        allow_loopback: true,
        host_overrides: HashMap::from([(HOST.to_owned(), addr)]),
        ..FetchPolicy::default()
    })
    .unwrap();
    OidcValidator::new(fetcher, Arc::new(clock.clone()))
}

fn public_jwk(key: &SigningKey, kid: &str) -> Value {
    let mut v = serde_json::to_value(key.public_jwk()).unwrap();
    v["kid"] = json!(kid);
    v["use"] = json!("sig");
    v
}

fn clock() -> ManualClock {
    ManualClock::new(DateTime::from_timestamp(NOW, 0).unwrap())
}

fn attestation() -> IdTokenAttestation {
    IdTokenAttestation {
        mapping: Vec::new(),
        configuration: CONFIG_URL.into(),
        client_id: CLIENT_ID.into(),
        redirect_uri: "vcclient://openid/".into(),
        scope: "openid profile".into(),
        required: true,
        trusted_issuers: None,
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "aud": CLIENT_ID,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
        "nonce": "n-0S6_WzA2Mj",
        "given_name": "Megan",
        "family_name": "Bowen",
        "email": "megan@example.com"
    })
}

/// Signs `claims` with `key`, writing `kid` into the header when given.
fn sign(key: &SigningKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = kid.map(str::to_owned);
    header.typ = Some("JWT".into());
    sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    edit(&mut c);
    c
}

async fn validate(
    p: &Provider,
    token: &str,
    nonce: Option<&str>,
) -> Result<Map<String, Value>, ContractError> {
    p.validator(&clock())
        .validate_id_token(token, &attestation(), nonce, NOW)
        .await
}

#[tokio::test]
async fn a_valid_token_yields_its_claims() {
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &claims());
    let got = validate(&p, &token, Some("n-0S6_WzA2Mj")).await.unwrap();
    assert_eq!(Value::Object(got), claims());
    assert_eq!(p.discovery_hits(), 1);
    assert_eq!(p.jwks_hits(), 1);
}

#[tokio::test]
async fn claims_feed_the_contract_mapping() {
    use crate::{ClaimMapping, ClaimType, map_claims, model::AttestationKind};
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &claims());
    let got = validate(&p, &token, None).await.unwrap();
    let mapping = [
        ClaimMapping {
            output_claim: "givenName".into(),
            input_claim: "$.given_name".into(),
            required: true,
            indexed: false,
            claim_type: Some(ClaimType::String),
        },
        ClaimMapping {
            output_claim: "mail".into(),
            input_claim: "email".into(),
            required: true,
            indexed: true,
            claim_type: None,
        },
    ];
    let mapped = map_claims(AttestationKind::IdToken, &got, &mapping).unwrap();
    assert_eq!(
        Value::Object(mapped),
        json!({"givenName": "Megan", "mail": "megan@example.com"})
    );
}

#[tokio::test]
async fn every_supported_curve_verifies() {
    let p = Provider::start().await;
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let k1 = SigningKey::generate(Algorithm::ES256K).unwrap();
    p.publish(&[(&p.key, "k1"), (&ed, "ed"), (&k1, "secp")]);
    let v = p.validator(&clock());
    for (key, kid) in [(&p.key, "k1"), (&ed, "ed"), (&k1, "secp")] {
        let token = sign(key, Some(kid), &claims());
        v.validate_id_token(&token, &attestation(), None, NOW)
            .await
            .unwrap_or_else(|e| panic!("{kid}: {e}"));
    }
    assert_eq!(p.jwks_hits(), 1, "one JWKS fetch serves all three tokens");
}

/// RFC 7515 Appendix A.2.1: the RS256 example key, standing in for a provider's RSA key.
fn rfc7515_a2_private_jwk() -> Value {
    json!({
        "kty": "RSA",
        "n": concat!(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
            "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
            "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        ),
        "e": "AQAB",
        "d": concat!(
            "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0",
            "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT",
            "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"
        ),
        "p": concat!(
            "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG",
            "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"
        ),
        "q": concat!(
            "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA",
            "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"
        ),
        "dp": concat!(
            "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb3",
            "4MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0"
        ),
        "dq": concat!(
            "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyN",
            "lxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU"
        ),
        "qi": concat!(
            "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW",
            "0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"
        )
    })
}

/// RFC 7638 section 3.1: an RSA public key whose private half nobody in the tests has.
fn rfc7638_public_jwk(kid: &str) -> Value {
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "e": "AQAB",
        "n": concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMst",
            "n64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr",
            "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        )
    })
}

/// The JWKS entry for the RFC 7515 A.2 key, as Entra ID publishes its RSA keys.
fn rsa_public_jwk(kid: &str) -> Value {
    let private = rfc7515_a2_private_jwk();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": private["n"], "e": private["e"]})
}

fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Signs `claims` as an RS256 JWT with a private RSA JWK (ring's RSASSA-PKCS1-v1_5 SHA-256).
fn sign_rs256(private_jwk: &Value, kid: Option<&str>, claims: &Value) -> String {
    use ring::rsa::{KeyPairComponents, PublicKeyComponents};
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let m = |name: &str| {
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            private_jwk[name].as_str().unwrap(),
        )
        .unwrap()
    };
    let pair = RsaKeyPair::from_components(&KeyPairComponents {
        public_key: PublicKeyComponents {
            n: m("n"),
            e: m("e"),
        },
        d: m("d"),
        p: m("p"),
        q: m("q"),
        dP: m("dp"),
        dQ: m("dq"),
        qInv: m("qi"),
    })
    .unwrap();
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

/// Entra ID, Google and Okta sign id_tokens with RS256: an RSA key in the JWKS verifies them,
/// with or without a kid, alongside the provider's EC key.
#[tokio::test]
async fn an_rs256_id_token_verifies_with_an_rsa_jwks_key() {
    let p = Provider::start().await;
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&json!({"keys": [public_jwk(&p.key, "k1"), rsa_public_jwk("rsa-1")]})),
    );
    let v = p.validator(&clock());
    let token = sign_rs256(&rfc7515_a2_private_jwk(), Some("rsa-1"), &claims());
    let got = v
        .validate_id_token(&token, &attestation(), Some("n-0S6_WzA2Mj"), NOW)
        .await
        .unwrap();
    assert_eq!(Value::Object(got), claims());
    // No kid: the only RSA key in the JWKS is the one for RS256.
    let token = sign_rs256(&rfc7515_a2_private_jwk(), None, &claims());
    v.validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap();
    // The EC key still verifies ES256 tokens from the same JWKS.
    v.validate_id_token(
        &sign(&p.key, Some("k1"), &claims()),
        &attestation(),
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.jwks_hits(), 1);
}

#[tokio::test]
async fn an_rs256_id_token_with_a_bad_signature_is_refused() {
    let p = Provider::start().await;
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&json!({"keys": [rsa_public_jwk("rsa-1")]})),
    );
    // A genuine token whose payload was altered.
    let good = sign_rs256(&rfc7515_a2_private_jwk(), Some("rsa-1"), &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = b64(edited(|c| c["email"] = json!("mallory@example.com"))
        .to_string()
        .as_bytes());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let e = validate(&p, &forged, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::BadSignature { reason } if reason.contains("RS256")),
        "{e}"
    );
    assert_eq!(e.code(), "CONTRACT-016");

    // Signed by an RSA key other than the one the JWKS publishes under that kid.
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&json!({"keys": [rfc7638_public_jwk("rsa-1")]})),
    );
    let e = p
        .validator(&clock())
        .validate_id_token(&good, &attestation(), None, NOW)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::BadSignature { .. }), "{e}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_untrusted() {
    let p = Provider::start().await;
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| c["iss"] = json!("https://evil.test/tenant/v2.0")),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    match &e {
        ContractError::UntrustedIssuer { expected, found } => {
            assert_eq!(expected, ISSUER);
            assert_eq!(found, "https://evil.test/tenant/v2.0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.code(), "CONTRACT-012");
    assert_eq!(
        p.jwks_hits(),
        0,
        "no key is fetched for an untrusted issuer"
    );
}

#[tokio::test]
async fn a_token_for_another_client_has_the_wrong_audience() {
    let p = Provider::start().await;
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| c["aud"] = json!("other-client")),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::WrongAudience { expected, found }
            if expected == CLIENT_ID && found.contains("other-client")),
        "{e}"
    );
    assert_eq!(e.code(), "CONTRACT-013");

    // An audience list containing the client is fine...
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| c["aud"] = json!(["api://x", CLIENT_ID])),
    );
    validate(&p, &token, None).await.unwrap();
    // ...unless the authorized party is someone else.
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| {
            c["aud"] = json!(["api://x", CLIENT_ID]);
            c["azp"] = json!("api://x");
        }),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::WrongAudience { found, .. } if found.contains("azp")),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_audiences_are_malformed_tokens() {
    let p = Provider::start().await;
    for aud in [json!(null), json!(5), json!([CLIENT_ID, 5])] {
        let token = sign(&p.key, Some("k1"), &edited(|c| c["aud"] = aud.clone()));
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(e, ContractError::MalformedToken { .. }),
            "{aud}: {e}"
        );
    }
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(e.to_string().contains("aud is missing"), "{e}");
}

#[tokio::test]
async fn an_expired_token_is_refused_beyond_the_skew() {
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &edited(|c| c["exp"] = json!(NOW - 300)));
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(e, ContractError::TokenExpired { exp, now } if exp == NOW - 300 && now == NOW),
        "{e}"
    );
    assert_eq!(e.code(), "CONTRACT-014");
    // Within the default 120 s skew it still passes.
    let token = sign(&p.key, Some("k1"), &edited(|c| c["exp"] = json!(NOW - 60)));
    validate(&p, &token, None).await.unwrap();
    // exp is required.
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(matches!(e, ContractError::MalformedToken { .. }), "{e}");
}

#[tokio::test]
async fn a_token_from_the_future_is_not_yet_valid() {
    let p = Provider::start().await;
    for claim in ["nbf", "iat"] {
        let token = sign(&p.key, Some("k1"), &edited(|c| c[claim] = json!(NOW + 600)));
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(e, ContractError::TokenNotYetValid { claim: c, value, .. } if c == claim && value == NOW + 600),
            "{e}"
        );
        assert_eq!(e.code(), "CONTRACT-015");
    }
}

#[tokio::test]
async fn a_token_signed_by_another_key_has_a_bad_signature() {
    let p = Provider::start().await;
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    // Same kid as the provider's real key: only the signature can tell them apart.
    let token = sign(&other, Some("k1"), &claims());
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(matches!(e, ContractError::BadSignature { .. }), "{e}");
    assert_eq!(e.code(), "CONTRACT-016");

    // A genuine token whose payload was altered.
    let good = sign(&p.key, Some("k1"), &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        edited(|c| c["given_name"] = json!("Mallory")).to_string(),
    );
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let e = validate(&p, &forged, None).await.unwrap_err();
    assert!(matches!(e, ContractError::BadSignature { .. }), "{e}");
}

#[tokio::test]
async fn a_kid_naming_a_key_of_another_type_is_a_bad_signature() {
    let p = Provider::start().await;
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    p.publish(&[(&ed, "k1")]);
    let token = sign(&p.key, Some("k1"), &claims());
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(matches!(e, ContractError::BadSignature { .. }), "{e}");

    // A valid RSA key under the kid an ES256 token names: the algorithms do not match.
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&json!({"keys": [rsa_public_jwk("k1")]})),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::BadSignature { reason } if reason.contains("RS256")),
        "{e}"
    );

    // A key type Verity cannot verify with at all (an ML-DSA "AKP" key).
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&json!({"keys": [
            {"kty": "AKP", "alg": "ML-DSA-44", "kid": "k1", "use": "sig", "pub": "AAAA"}
        ]})),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::BadSignature { reason } if reason.contains("AKP")),
        "{e}"
    );
}

#[tokio::test]
async fn a_broken_rsa_key_in_the_jwks_is_an_invalid_provider_document() {
    let p = Provider::start().await;
    // A 1024-bit modulus, then a modulus that is not base64url.
    let mut n1024 = vec![0xc5u8; 128];
    n1024[127] = 1;
    for n in [b64(&n1024), "sX+h".to_owned()] {
        p.server.route(
            JWKS_PATH,
            TestResponse::json(&json!({"keys": [
                {"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": n, "e": "AQAB"}
            ]})),
        );
        let token = sign_rs256(&rfc7515_a2_private_jwk(), Some("rsa-1"), &claims());
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(&e, ContractError::InvalidProviderDocument { what, .. } if *what == JWKS),
            "{n}: {e}"
        );
    }
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_once_then_fails() {
    let p = Provider::start().await;
    let c = clock();
    let v = p.validator(&c);
    v.validate_id_token(
        &sign(&p.key, Some("k1"), &claims()),
        &attestation(),
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.jwks_hits(), 1);

    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let token = sign(&stranger, Some("k9"), &claims());
    c.advance(ChronoDuration::seconds(60));
    let e = v
        .validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ContractError::UnknownKid { kid: Some(k) } if k == "k9"),
        "{e}"
    );
    assert_eq!(e.code(), "CONTRACT-017");
    assert_eq!(p.jwks_hits(), 2, "exactly one refetch");

    // Right after a refetch, another unknown kid does not fetch again.
    let e = v
        .validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::UnknownKid { .. }), "{e}");
    assert_eq!(p.jwks_hits(), 2, "refetches are rate limited");

    c.advance(ChronoDuration::seconds(31));
    let _ = v.validate_id_token(&token, &attestation(), None, NOW).await;
    assert_eq!(p.jwks_hits(), 3, "allowed again after the refetch interval");
}

#[tokio::test]
async fn a_first_fetch_that_lacks_the_kid_is_not_refetched() {
    let p = Provider::start().await;
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let e = validate(&p, &sign(&stranger, Some("k9"), &claims()), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::UnknownKid { .. }), "{e}");
    assert_eq!(
        p.jwks_hits(),
        1,
        "a JWKS fetched for this token is current already"
    );
}

#[tokio::test]
async fn rotated_keys_are_picked_up_by_the_refetch() {
    let p = Provider::start().await;
    let c = clock();
    let v = p.validator(&c);
    v.validate_id_token(
        &sign(&p.key, Some("k1"), &claims()),
        &attestation(),
        None,
        NOW,
    )
    .await
    .unwrap();
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    p.publish(&[(&p.key, "k1"), (&next, "k2")]);
    c.advance(ChronoDuration::seconds(120));
    v.validate_id_token(
        &sign(&next, Some("k2"), &claims()),
        &attestation(),
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.jwks_hits(), 2);
}

#[tokio::test]
async fn tokens_without_kid_need_a_single_usable_key() {
    let p = Provider::start().await;
    validate(&p, &sign(&p.key, None, &claims()), None)
        .await
        .unwrap();
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    p.publish(&[(&p.key, "k1"), (&other, "k2")]);
    let e = validate(&p, &sign(&p.key, None, &claims()), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::UnknownKid { kid: None }), "{e}");
    assert!(e.to_string().contains("exactly one"), "{e}");
}

#[tokio::test]
async fn encryption_keys_are_not_used_for_signatures() {
    let p = Provider::start().await;
    let mut jwk = public_jwk(&p.key, "k1");
    jwk["use"] = json!("enc");
    p.server
        .route(JWKS_PATH, TestResponse::json(&json!({ "keys": [jwk] })));
    let e = validate(&p, &sign(&p.key, Some("k1"), &claims()), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::UnknownKid { .. }), "{e}");
}

#[tokio::test]
async fn nonce_must_match_when_expected() {
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &claims());
    let e = validate(&p, &token, Some("another-nonce"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ContractError::NonceMismatch { present: true }),
        "{e}"
    );
    assert_eq!(e.code(), "CONTRACT-018");
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| {
            c.as_object_mut().unwrap().remove("nonce");
        }),
    );
    let e = validate(&p, &token, Some("n-0S6_WzA2Mj"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ContractError::NonceMismatch { present: false }),
        "{e}"
    );
    // No nonce expected: none checked.
    validate(&p, &token, None).await.unwrap();
}

/// Builds a token with a chosen header (for algorithms no Verity key can produce).
fn raw_token(header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    format!("{}.{}.c2lnbmF0dXJl", b64(header), b64(claims))
}

#[tokio::test]
async fn none_hmac_pss_and_other_algorithms_are_unsupported() {
    let p = Provider::start().await;
    for alg in ["PS256", "RS384", "RS512", "none", "HS256", "PS384"] {
        let token = raw_token(&json!({"alg": alg, "kid": "k1", "typ": "JWT"}), &claims());
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(&e, ContractError::UnsupportedAlgorithm { alg: a } if a == alg),
            "{alg}: {e}"
        );
        assert_eq!(e.code(), "CONTRACT-011");
    }
    assert_eq!(p.discovery_hits(), 0, "refused before any fetch");
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let p = Provider::start().await;
    let header = json!({"alg": "ES256", "kid": "k1"});
    let cases = [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "!!.??.**".to_owned(),
        raw_token(&header, &json!("just a string")),
        raw_token(&header, &edited(|c| c["iss"] = json!(7))),
    ];
    for token in &cases {
        let e = validate(&p, token, None).await.unwrap_err();
        assert!(
            matches!(e, ContractError::MalformedToken { .. }),
            "{token}: {e}"
        );
        assert_eq!(e.code(), "CONTRACT-010");
    }
    for missing in ["sub", "iat"] {
        let token = sign(
            &p.key,
            Some("k1"),
            &edited(|c| {
                c.as_object_mut().unwrap().remove(missing);
            }),
        );
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(&e, ContractError::MalformedToken { reason } if reason.contains(missing)),
            "{missing}: {e}"
        );
    }
    // A token over the size limit is refused before decoding.
    let huge = format!("{}.{}.sig", "a".repeat(10), "b".repeat(300 * 1024));
    let e = validate(&p, &huge, None).await.unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
}

#[tokio::test]
async fn discovery_failures_are_provider_fetch_errors() {
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &claims());

    p.server.route(CONFIG_PATH, TestResponse::status(503));
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(&e, ContractError::ProviderFetch { what: "discovery document", url, .. } if url == CONFIG_URL),
        "{e}"
    );
    assert!(e.is_transient(), "503 may succeed on retry");
    assert_eq!(e.code(), "CONTRACT-019");

    p.server.route(CONFIG_PATH, TestResponse::status(404));
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(matches!(e, ContractError::ProviderFetch { .. }), "{e}");
    assert!(!e.is_transient(), "404 will not change by retrying");

    // A provider that is down (nothing listening).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let e = validator_for(dead, &clock())
        .validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::ProviderFetch { .. }), "{e}");
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn refused_provider_addresses_are_not_transient() {
    let p = Provider::start().await;
    // The default policy refuses loopback: a configuration pointing inside is an SSRF attempt.
    let fetcher = HttpFetcher::new(FetchPolicy {
        host_overrides: HashMap::from([(HOST.to_owned(), p.server.addr())]),
        ..FetchPolicy::default()
    })
    .unwrap();
    let v = OidcValidator::new(fetcher, Arc::new(clock()));
    let e = v
        .validate_id_token(
            &sign(&p.key, Some("k1"), &claims()),
            &attestation(),
            None,
            NOW,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ContractError::ProviderFetch { .. }), "{e}");
    assert!(!e.is_transient());
    assert_eq!(p.discovery_hits(), 0);
}

#[tokio::test]
async fn jwks_failures_are_provider_fetch_errors() {
    let p = Provider::start().await;
    p.server.route(JWKS_PATH, TestResponse::status(500));
    let e = validate(&p, &sign(&p.key, Some("k1"), &claims()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ContractError::ProviderFetch { what: "JWKS", .. }),
        "{e}"
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn unusable_provider_documents_are_invalid() {
    let p = Provider::start().await;
    let token = sign(&p.key, Some("k1"), &claims());
    for doc in [
        json!({"jwks_uri": "https://login.test/keys"}),
        json!({"issuer": ISSUER}),
        json!({"issuer": "", "jwks_uri": "https://login.test/keys"}),
        json!([1, 2]),
    ] {
        p.server.route(CONFIG_PATH, TestResponse::json(&doc));
        let e = validate(&p, &token, None).await.unwrap_err();
        assert!(
            matches!(
                &e,
                ContractError::InvalidProviderDocument {
                    what: "discovery document",
                    ..
                }
            ),
            "{doc}: {e}"
        );
        assert_eq!(e.code(), "CONTRACT-020");
    }
    let p = Provider::start().await;
    p.server
        .route(JWKS_PATH, TestResponse::json(&json!({"keys": "none"})));
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ContractError::InvalidProviderDocument { what: "JWKS", .. }
        ),
        "{e}"
    );
    // A broken key under the token's kid.
    p.server.route(
        JWKS_PATH,
        TestResponse::json(
            &json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "AA", "y": "AA"}]}),
        ),
    );
    let e = validate(&p, &token, None).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ContractError::InvalidProviderDocument { what: "JWKS", .. }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn discovery_and_jwks_are_cached_until_their_ttl() {
    let p = Provider::start().await;
    let c = clock();
    let v = p.validator(&c);
    let token = sign(&p.key, Some("k1"), &claims());
    for _ in 0..3 {
        v.validate_id_token(&token, &attestation(), None, NOW)
            .await
            .unwrap();
    }
    assert_eq!((p.discovery_hits(), p.jwks_hits()), (1, 1));
    c.advance(ChronoDuration::seconds(3601));
    v.validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap();
    assert_eq!((p.discovery_hits(), p.jwks_hits()), (2, 2));
}

#[tokio::test]
async fn a_shorter_max_age_shortens_the_cache() {
    let p = Provider::start().await;
    let keys = json!({"keys": [public_jwk(&p.key, "k1")]});
    p.server.route(
        JWKS_PATH,
        TestResponse::json(&keys).with_header("Cache-Control", "public, max-age=10"),
    );
    let c = clock();
    let v = p.validator(&c);
    let token = sign(&p.key, Some("k1"), &claims());
    v.validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap();
    c.advance(ChronoDuration::seconds(5));
    v.validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap();
    assert_eq!(p.jwks_hits(), 1);
    c.advance(ChronoDuration::seconds(6));
    v.validate_id_token(&token, &attestation(), None, NOW)
        .await
        .unwrap();
    assert_eq!(p.jwks_hits(), 2, "max-age=10 expired");
    assert_eq!(p.discovery_hits(), 1, "discovery keeps its own TTL");
}

#[tokio::test]
async fn access_tokens_check_the_configured_audience() {
    let p = Provider::start().await;
    let at = AccessTokenAttestation {
        mapping: Vec::new(),
        configuration: CONFIG_URL.into(),
        client_id: CLIENT_ID.into(),
        audience: Some("api://hr".into()),
        redirect_uri: "vcclient://openid/".into(),
        scope: "hr.read".into(),
        required: true,
    };
    let v = p.validator(&clock());
    let token = sign(
        &p.key,
        Some("k1"),
        &edited(|c| c["aud"] = json!("api://hr")),
    );
    let got = v.validate_access_token(&token, &at, NOW).await.unwrap();
    assert_eq!(got["aud"], "api://hr");
    let token = sign(&p.key, Some("k1"), &claims());
    let e = v.validate_access_token(&token, &at, NOW).await.unwrap_err();
    assert!(matches!(e, ContractError::WrongAudience { .. }), "{e}");
    // Without an audience, the client id is expected.
    let at = AccessTokenAttestation {
        audience: None,
        ..at
    };
    v.validate_access_token(&token, &at, NOW).await.unwrap();
}

#[test]
fn ttl_takes_the_smaller_of_config_and_max_age() {
    assert_eq!(effective_ttl(Duration::from_secs(3600), None), 3600);
    assert_eq!(effective_ttl(Duration::from_secs(3600), Some(60)), 60);
    assert_eq!(effective_ttl(Duration::from_secs(30), Some(600)), 30);
    assert_eq!(effective_ttl(Duration::from_secs(30), Some(0)), 0);
}
