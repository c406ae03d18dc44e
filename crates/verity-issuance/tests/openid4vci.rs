//! OpenID4VCI 1.0 building blocks: metadata of both formats from the example contract, offers,
//! token and credential request parsing, key proofs (each check failing on its own) and the
//! stateless `c_nonce`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use verity_contracts::Contract;
use verity_did::{did_jwk_from_jwk, did_key_from_jwk, multibase_from_jwk};
use verity_issuance::openid4vci::*;
use verity_issuance::pin_hash;
use verity_jose::kind::KEY_PROOF_TYP;
use verity_jose::{Algorithm, SigningKey};

const ISSUER: &str = "https://verity.example/tenants/contoso";
const NOW: i64 = 1_790_000_000;
const MAX_AGE: i64 = 300;
const SKEW: i64 = 30;
const NONCE_LIFETIME: i64 = 300;
const SD_ID: &str = "verified-employee-sd-jwt";
const JWT_ID: &str = "verified-employee-jwt";
const VCT: &str = "https://verity.example/vct/verified-employee";

fn contract() -> Contract {
    Contract::from_json(include_str!(
        "../../../examples/contracts/verified-employee-hint.json"
    ))
    .unwrap()
}

fn descriptor() -> IssuerDescriptor {
    IssuerDescriptor {
        credential_issuer: ISSUER.into(),
        credential_endpoint: format!("{ISSUER}/credential"),
        nonce_endpoint: format!("{ISSUER}/nonce"),
        authorization_servers: vec![],
        display: vec![IssuerDisplay {
            name: "Contoso".into(),
            locale: Some("en-US".into()),
            logo: Some(Logo {
                uri: "https://contoso.example/logo.png".into(),
                alt_text: Some("Contoso logo".into()),
            }),
        }],
    }
}

fn configurations() -> Vec<CredentialConfiguration> {
    let c = contract();
    vec![
        CredentialConfiguration::from_contract(
            SD_ID,
            &c,
            Format::DcSdJwt { vct: VCT.into() },
            &[Algorithm::ES256],
        ),
        CredentialConfiguration::from_contract(JWT_ID, &c, Format::JwtVcJson, &[Algorithm::ES256]),
    ]
}

fn card_display() -> Value {
    json!([{
        "name": "Verified Employee",
        "locale": "en-US",
        "description": "Proof of employment at Contoso, issued by the HR system.",
        "background_color": "#1C1C1C",
        "text_color": "#FFFFFF",
        "logo": { "uri": "https://contoso.example/logo.png", "alt_text": "Contoso logo" },
    }])
}

fn claims(prefix: &[&str]) -> Value {
    let path = |name: &str| {
        let mut p: Vec<&str> = prefix.to_vec();
        p.push(name);
        json!(p)
    };
    let label = |name: &str| json!([{ "name": name, "locale": "en-US" }]);
    json!([
        { "path": path("displayName"), "mandatory": true, "display": label("Name") },
        { "path": path("jobTitle"), "display": label("Job title") },
        { "path": path("mail"), "display": label("Email") },
        { "path": path("revocationId"), "mandatory": true, "display": label("Employee id") },
    ])
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn issuer_metadata_is_complete_1_0_metadata_for_both_formats() {
    let m = credential_issuer_metadata(&descriptor(), &configurations());
    assert_eq!(m["credential_issuer"], ISSUER);
    assert_eq!(m["credential_endpoint"], format!("{ISSUER}/credential"));
    assert_eq!(m["nonce_endpoint"], format!("{ISSUER}/nonce"));
    assert!(
        m.get("authorization_servers").is_none(),
        "we are our own AS"
    );
    assert_eq!(
        m["display"],
        json!([{ "name": "Contoso", "locale": "en-US",
                 "logo": { "uri": "https://contoso.example/logo.png", "alt_text": "Contoso logo" } }])
    );
    let supported = m["credential_configurations_supported"]
        .as_object()
        .unwrap();
    assert_eq!(supported.len(), 2);
    let proof_types =
        json!({ "jwt": { "proof_signing_alg_values_supported": ["EdDSA", "ES256", "ES256K"] } });

    let sd = &supported[SD_ID];
    assert_eq!(
        *sd,
        json!({
            "format": "dc+sd-jwt",
            "scope": SD_ID,
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": proof_types,
            "vct": VCT,
            "credential_metadata": { "display": card_display(), "claims": claims(&[]) },
        })
    );

    let jwt = &supported[JWT_ID];
    assert_eq!(
        *jwt,
        json!({
            "format": "jwt_vc_json",
            "scope": JWT_ID,
            "cryptographic_binding_methods_supported": ["did:jwk", "did:key"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": proof_types,
            "credential_definition": { "type": ["VerifiableCredential", "VerifiedEmployee"] },
            "credential_metadata": {
                "display": card_display(),
                "claims": claims(&["credentialSubject"]),
            },
        })
    );

    // Nothing of the drafts: display and claims live only under credential_metadata.
    for config in supported.values() {
        for draft_member in [
            "display",
            "claims",
            "order",
            "credential_definition.credentialSubject",
        ] {
            assert!(config.get(draft_member).is_none(), "{draft_member}");
        }
    }
    assert!(
        jwt["credential_definition"]
            .get("credentialSubject")
            .is_none()
    );
    assert!(m.get("credentials_supported").is_none());
}

#[test]
fn authorization_servers_and_as_metadata() {
    let mut d = descriptor();
    d.authorization_servers = vec!["https://as.example".into()];
    d.display.clear();
    let m = credential_issuer_metadata(&d, &[]);
    assert_eq!(m["authorization_servers"], json!(["https://as.example"]));
    assert!(m.get("display").is_none());
    assert_eq!(m["credential_configurations_supported"], json!({}));

    let as_meta = authorization_server_metadata(&descriptor(), &format!("{ISSUER}/token"));
    assert_eq!(
        as_meta,
        json!({
            "issuer": ISSUER,
            "token_endpoint": format!("{ISSUER}/token"),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
            "pre-authorized_grant_anonymous_access_supported": true,
        })
    );
    assert_eq!(
        well_known_url(ISSUER, CREDENTIAL_ISSUER_WELL_KNOWN).unwrap(),
        "https://verity.example/.well-known/openid-credential-issuer/tenants/contoso"
    );
}

#[test]
fn mandatory_follows_the_mapping_and_its_attestation() {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../examples/contracts/verified-employee-hint.json"
    ))
    .unwrap();
    v["rules"]["attestations"]["idTokenHints"][0]["required"] = json!(false);
    let c = Contract::from_json(&v.to_string()).unwrap();
    let conf = CredentialConfiguration::from_contract("x", &c, Format::JwtVcJson, &[]);
    assert!(conf.claims.iter().all(|c| !c.mandatory));
    let j = conf.to_json();
    assert!(j.get("credential_signing_alg_values_supported").is_none());
    assert!(
        j["credential_metadata"]["claims"][0]
            .get("mandatory")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Offers
// ---------------------------------------------------------------------------------------------

fn offer(tx: bool) -> CredentialOffer {
    CredentialOffer {
        credential_issuer: ISSUER.into(),
        credential_configuration_ids: vec![SD_ID.into(), JWT_ID.into(), SD_ID.into()],
        pre_authorized_code: "oaKazRN8I0IbtZ0C7JuMn5".into(),
        tx_code: tx.then(|| TxCode {
            length: Some(6),
            input_mode: TxInputMode::Numeric,
            description: Some("Enter the 6-digit code Contoso HR sent you by e-mail & SMS".into()),
        }),
    }
}

fn query(uri: &str) -> Vec<(String, String)> {
    let u = url::Url::parse(uri).unwrap();
    assert_eq!(u.scheme(), "openid-credential-offer");
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn offer_by_value_parses_back_to_the_offer_object() {
    let o = offer(true);
    let uri = offer_uri_by_value(&o);
    assert!(
        uri.starts_with("openid-credential-offer://?credential_offer=%7B"),
        "{uri}"
    );
    assert!(
        !uri.contains('+') && !uri.contains(' '),
        "spaces are %20: {uri}"
    );
    let q = query(&uri);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, "credential_offer");
    let parsed: Value = serde_json::from_str(&q[0].1).unwrap();
    assert_eq!(parsed, o.to_json());
    assert_eq!(
        parsed,
        json!({
            "credential_issuer": ISSUER,
            "credential_configuration_ids": [SD_ID, JWT_ID],
            "grants": { "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "oaKazRN8I0IbtZ0C7JuMn5",
                "tx_code": { "length": 6, "input_mode": "numeric",
                             "description": "Enter the 6-digit code Contoso HR sent you by e-mail & SMS" },
            } },
        })
    );
    // Without a transaction code the member is absent (its presence, even empty, asks for one).
    let plain = offer(false).to_json();
    assert!(
        plain["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
            .get("tx_code")
            .is_none()
    );
    // The description is cut at 300 characters.
    let mut long = offer(true);
    long.tx_code.as_mut().unwrap().description = Some("x".repeat(400));
    let j = long.to_json();
    let d = j["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["tx_code"]
        ["description"]
        .as_str()
        .unwrap();
    assert_eq!(d.len(), 300);
}

#[test]
fn offer_by_reference_carries_only_the_url() {
    let target = "https://verity.example/offers/GkurKxf5T0Y?x=1&y=2";
    let uri = offer_uri_by_reference(target);
    assert!(uri.starts_with("openid-credential-offer://?credential_offer_uri=https%3A%2F%2F"));
    assert_eq!(
        query(&uri),
        vec![("credential_offer_uri".to_owned(), target.to_owned())]
    );
}

// ---------------------------------------------------------------------------------------------
// Token request
// ---------------------------------------------------------------------------------------------

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

const GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

#[test]
fn token_requests_parse_and_refuse_with_rfc6749_codes() {
    let ok = parse_token_request(&form(&[
        ("grant_type", GRANT),
        ("pre-authorized_code", "SplxlOBeZQQYbYS6WxSbIA"),
        ("tx_code", "493536"),
        ("authorization_details", "[]"),
    ]))
    .unwrap();
    assert_eq!(ok.pre_authorized_code, "SplxlOBeZQQYbYS6WxSbIA");
    assert_eq!(ok.tx_code.as_deref(), Some("493536"));
    assert_eq!(ok.client_id, None);

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            &[("pre-authorized_code", "c")],
            "invalid_request",
            "`grant_type` is required",
        ),
        (
            &[("grant_type", "authorization_code"), ("code", "c")],
            "unsupported_grant_type",
            "authorization_code",
        ),
        (
            &[("grant_type", "client_credentials")],
            "unsupported_grant_type",
            "client_credentials",
        ),
        (
            &[("grant_type", GRANT)],
            "invalid_request",
            "`pre-authorized_code` is required",
        ),
        (
            &[("grant_type", GRANT), ("pre-authorized_code", "")],
            "invalid_request",
            "`pre-authorized_code`",
        ),
        (
            &[
                ("grant_type", GRANT),
                ("pre-authorized_code", "c1"),
                ("pre-authorized_code", "c2"),
            ],
            "invalid_request",
            "repeated",
        ),
    ];
    for (pairs, code, text) in cases {
        let e = parse_token_request(&form(pairs)).unwrap_err();
        assert_eq!(e.error_code(), code, "{pairs:?}: {e}");
        assert_eq!(e.status(), 400);
        assert!(e.description().contains(text), "{pairs:?}: {e}");
        assert!(!e.description().contains("c1"), "never echo codes: {e}");
    }
}

#[test]
fn transaction_codes_are_checked_as_6_3_says() {
    let salt = "c2FsdA";
    let hash = pin_hash(salt, "493536");
    let expected = Some(ExpectedTxCode { salt, hash: &hash });
    let req = |tx: Option<&str>| {
        let mut pairs = vec![("grant_type", GRANT), ("pre-authorized_code", "code-1")];
        if let Some(t) = tx {
            pairs.push(("tx_code", t));
        }
        parse_token_request(&form(&pairs)).unwrap()
    };
    req(Some("493536")).check_tx_code(expected).unwrap();
    req(None).check_tx_code(None).unwrap();

    let e = req(Some("493537")).check_tx_code(expected).unwrap_err();
    assert_eq!(e.error_code(), "invalid_grant");
    assert!(!e.description().contains("49353"), "{e}");
    let e = req(None).check_tx_code(expected).unwrap_err();
    assert_eq!(e.error_code(), "invalid_request");
    assert!(e.description().contains("`tx_code` is required"), "{e}");
    let e = req(Some("")).check_tx_code(expected).unwrap_err();
    assert_eq!(e.error_code(), "invalid_request", "empty counts as missing");
    let e = req(Some("493536")).check_tx_code(None).unwrap_err();
    assert_eq!(e.error_code(), "invalid_request");
    assert!(e.description().contains("asked for none"), "{e}");

    assert_eq!(
        token_response("at-1", 300),
        json!({ "access_token": "at-1", "token_type": "Bearer", "expires_in": 300 })
    );
}

// ---------------------------------------------------------------------------------------------
// Credential request
// ---------------------------------------------------------------------------------------------

const KNOWN: &[&str] = &[SD_ID, JWT_ID];

#[test]
fn credential_requests_parse() {
    let r = parse_credential_request(
        &json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": ["a.b.c"] }, "x": 1 }),
        KNOWN,
    )
    .unwrap();
    assert_eq!(
        r,
        CredentialRequest {
            credential_configuration_id: SD_ID.into(),
            proofs: vec!["a.b.c".into()],
        }
    );
}

#[test]
fn credential_request_errors_use_the_8_3_1_2_codes() {
    let cases = [
        (json!([]), "invalid_credential_request", "(body)"),
        (
            json!({ "credential_configuration_id": SD_ID, "proof": { "proof_type": "jwt", "jwt": "a.b.c" } }),
            "invalid_credential_request",
            "`proof` (singular, from the drafts) is not accepted: OpenID4VCI 1.0 sends `proofs`",
        ),
        (
            json!({ "credential_identifier": "CivilEngineeringDegree-2023", "proofs": { "jwt": ["a.b.c"] } }),
            "invalid_credential_request",
            "`credential_identifier` is not supported",
        ),
        (
            json!({ "proofs": { "jwt": ["a.b.c"] } }),
            "invalid_credential_request",
            "`credential_configuration_id` is required",
        ),
        (
            json!({ "format": "jwt_vc_json", "credential_definition": {}, "proofs": { "jwt": ["a.b.c"] } }),
            "invalid_credential_request",
            "drafts' `format`",
        ),
        (
            json!({ "credential_configuration_id": 7, "proofs": { "jwt": ["a.b.c"] } }),
            "invalid_credential_request",
            "non-empty string",
        ),
        (
            json!({ "credential_configuration_id": "UniversityDegree", "proofs": { "jwt": ["a.b.c"] } }),
            "unknown_credential_configuration",
            "UniversityDegree",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": ["a.b.c"] },
                    "credential_response_encryption": { "jwk": {}, "enc": "A128GCM" } }),
            "invalid_encryption_parameters",
            "credential_response_encryption",
        ),
        (
            json!({ "credential_configuration_id": SD_ID }),
            "invalid_proof",
            "`proofs` is required",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": ["a.b.c"] }),
            "invalid_proof",
            "JSON object",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": ["a.b.c"], "attestation": ["d.e.f"] } }),
            "invalid_proof",
            "exactly one proof type, found 2",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": {} }),
            "invalid_proof",
            "exactly one proof type, found 0",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "di_vp": [{}] } }),
            "invalid_proof",
            "proof type di_vp is not supported",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": [] } }),
            "invalid_proof",
            "non-empty array",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": "a.b.c" } }),
            "invalid_proof",
            "non-empty array",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": [7] } }),
            "invalid_proof",
            "compact JWT string",
        ),
        (
            json!({ "credential_configuration_id": SD_ID, "proofs": { "jwt": ["a.b.c", "d.e.f"] } }),
            "invalid_proof",
            "no batch issuance",
        ),
    ];
    for (body, code, text) in cases {
        let e = parse_credential_request(&body, KNOWN).unwrap_err();
        assert_eq!(e.error_code(), code, "{body}: {e}");
        assert_eq!(e.status(), 400);
        assert!(
            e.description().contains(text),
            "{body}: {}",
            e.description()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Key proofs
// ---------------------------------------------------------------------------------------------

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A proof signed by `key` whose header is the default (`typ`, `alg`, `jwk`) edited by `edit`.
fn proof_with(key: &SigningKey, claims: &Value, edit: impl FnOnce(&mut Value)) -> String {
    let mut header = json!({
        "alg": key.algorithm().as_str(),
        "typ": KEY_PROOF_TYP,
        "jwk": serde_json::to_value(key.public_jwk()).unwrap(),
    });
    edit(&mut header);
    let input = format!("{}.{}", b64(&header), b64(claims));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

struct Fixture {
    nonce_key: NonceKey,
    nonce: String,
}

impl Fixture {
    fn new() -> Fixture {
        let nonce_key = NonceKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let nonce = issue_nonce(&nonce_key, NOW - 10);
        Fixture { nonce_key, nonce }
    }

    fn claims(&self) -> Value {
        json!({ "aud": ISSUER, "iat": NOW - 5, "nonce": self.nonce })
    }

    fn verify_with(&self, jwt: &str, algs: &[Algorithm]) -> Result<HolderBinding, Oid4vciError> {
        let nonces = StatelessNonces {
            key: &self.nonce_key,
            lifetime: NONCE_LIFETIME,
        };
        verify_proof_jwt(
            jwt,
            &ProofPolicy {
                credential_issuer: ISSUER,
                allowed_algs: algs,
                nonces: &nonces,
                now: NOW,
                max_age: MAX_AGE,
                skew: SKEW,
            },
        )
    }

    fn verify(&self, jwt: &str) -> Result<HolderBinding, Oid4vciError> {
        self.verify_with(jwt, &DEFAULT_PROOF_SIGNING_ALGS)
    }
}

fn proof_failure(r: Result<HolderBinding, Oid4vciError>) -> (ProofCheck, String) {
    match r {
        Err(e @ Oid4vciError::InvalidProof { .. }) => {
            assert_eq!(e.error_code(), "invalid_proof");
            assert_eq!(e.status(), 400);
            let Oid4vciError::InvalidProof { check, .. } = &e else {
                unreachable!()
            };
            (*check, e.description())
        }
        other => panic!("expected invalid_proof, got {other:?}"),
    }
}

fn nonce_failure(r: Result<HolderBinding, Oid4vciError>) -> NonceCheck {
    match r {
        Err(e @ Oid4vciError::InvalidNonce { .. }) => {
            assert_eq!(e.error_code(), "invalid_nonce");
            assert_eq!(e.status(), 400);
            let Oid4vciError::InvalidNonce { check } = e else {
                unreachable!()
            };
            check
        }
        other => panic!("expected invalid_nonce, got {other:?}"),
    }
}

#[test]
fn proofs_with_a_jwk_header_verify_for_es256_and_eddsa() {
    let f = Fixture::new();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg).unwrap();
        let mut claims = f.claims();
        claims["iss"] = json!("wallet-client-1");
        let b = f.verify(&proof_with(&key, &claims, |_| {})).unwrap();
        assert_eq!(b.jwk, key.public_jwk());
        assert_eq!(b.kid, None);
        assert_eq!(b.client_id.as_deref(), Some("wallet-client-1"));
        assert_eq!(b.nonce, f.nonce);
        assert_eq!(b.issued_at, NOW - 5);
        assert_eq!(
            b.holder_did().unwrap(),
            did_jwk_from_jwk(&key.public_jwk()).unwrap()
        );
    }
    // `iss` is optional (anonymous pre-authorized access), `aud` may be a one-element array,
    // and `iat` within the skew is accepted.
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let claims = json!({ "aud": [ISSUER], "iat": NOW + SKEW, "nonce": f.nonce });
    let b = f.verify(&proof_with(&key, &claims, |_| {})).unwrap();
    assert_eq!(b.client_id, None);
}

#[test]
fn proofs_with_a_did_jwk_or_did_key_kid_verify() {
    let f = Fixture::new();
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let key = SigningKey::generate(alg).unwrap();
        let did = did_jwk_from_jwk(&key.public_jwk()).unwrap();
        let kid = format!("{did}#0");
        let jwt = proof_with(&key, &f.claims(), |h| {
            h.as_object_mut().unwrap().remove("jwk");
            h["kid"] = json!(kid);
        });
        let b = f.verify(&jwt).unwrap();
        assert_eq!(b.jwk.x, key.public_jwk().x);
        assert_eq!(b.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(b.holder_did().as_deref(), Some(did.as_str()));

        let did = did_key_from_jwk(&key.public_jwk()).unwrap();
        let kid = format!("{did}#{}", multibase_from_jwk(&key.public_jwk()).unwrap());
        let jwt = proof_with(&key, &f.claims(), |h| {
            h.as_object_mut().unwrap().remove("jwk");
            h["kid"] = json!(kid);
        });
        let b = f.verify(&jwt).unwrap();
        assert_eq!(b.holder_did().as_deref(), Some(did.as_str()));
    }
}

#[test]
fn each_proof_check_fails_on_its_own() {
    let f = Fixture::new();
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let good = f.claims();
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(&str, String, ProofCheck, &str)> = vec![
        (
            "typ JWT",
            proof_with(&key, &good, |h| h["typ"] = json!("JWT")),
            ProofCheck::Type,
            "`typ` must be openid4vci-proof+jwt (found JWT)",
        ),
        (
            "no typ",
            proof_with(&key, &good, |h| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            ProofCheck::Type,
            "(found none)",
        ),
        (
            "wrong aud",
            proof_with(&key, &with("aud", json!("https://evil.example")), |_| {}),
            ProofCheck::Audience,
            "`aud` must be the credential issuer identifier https://verity.example/tenants/contoso",
        ),
        (
            "no aud",
            proof_with(&key, &without("aud"), |_| {}),
            ProofCheck::Audience,
            "`aud` is required",
        ),
        (
            "stale iat",
            proof_with(&key, &with("iat", json!(NOW - MAX_AGE - 1)), |_| {}),
            ProofCheck::Time,
            "older than 300 seconds",
        ),
        (
            "future iat",
            proof_with(&key, &with("iat", json!(NOW + SKEW + 1)), |_| {}),
            ProofCheck::Time,
            "in the future",
        ),
        (
            "no iat",
            proof_with(&key, &without("iat"), |_| {}),
            ProofCheck::Time,
            "`iat` is required",
        ),
        (
            "string iat",
            proof_with(&key, &with("iat", json!("1790000000")), |_| {}),
            ProofCheck::Time,
            "`iat` is required",
        ),
        (
            "expired exp",
            proof_with(&key, &with("exp", json!(NOW - SKEW - 1)), |_| {}),
            ProofCheck::Time,
            "expired",
        ),
        (
            "no nonce",
            proof_with(&key, &without("nonce"), |_| {}),
            ProofCheck::NonceMissing,
            "`nonce` is required",
        ),
        (
            "numeric iss",
            proof_with(&key, &with("iss", json!(7)), |_| {}),
            ProofCheck::Claims,
            "`iss` must be a string",
        ),
        (
            "a credential claim",
            proof_with(&key, &with("vc", json!({})), |_| {}),
            ProofCheck::Claims,
            "`vc`",
        ),
        (
            "bad signature",
            proof_with(&other, &good, |h| {
                h["jwk"] = serde_json::to_value(key.public_jwk()).unwrap();
            }),
            ProofCheck::Signature,
            "invalid signature",
        ),
        (
            "no key",
            proof_with(&key, &good, |h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            ProofCheck::Key,
            "no key: send the public key in `jwk`",
        ),
        (
            "private key material",
            proof_with(&key, &good, |h| h["jwk"]["d"] = json!("c2VjcmV0")),
            ProofCheck::Key,
            "private key material",
        ),
        (
            "jwk and kid",
            proof_with(&key, &good, |h| h["kid"] = json!("key-1")),
            ProofCheck::Key,
            "both `jwk` and `kid`",
        ),
        (
            "did:web kid",
            proof_with(&key, &good, |h| {
                h.as_object_mut().unwrap().remove("jwk");
                h["kid"] = json!("did:web:wallet.example#key-1");
            }),
            ProofCheck::Key,
            "must be a did:jwk or did:key URL",
        ),
        (
            "plain kid",
            proof_with(&key, &good, |h| {
                h.as_object_mut().unwrap().remove("jwk");
                h["kid"] = json!("key-1");
            }),
            ProofCheck::Key,
            "did:jwk or did:key",
        ),
        (
            "x5c",
            proof_with(&key, &good, |h| h["x5c"] = json!(["MIIB"])),
            ProofCheck::Key,
            "`x5c`",
        ),
        (
            "header alg of another key type",
            proof_with(&key, &good, |h| h["alg"] = json!("EdDSA")),
            ProofCheck::Algorithm,
            "alg mismatch",
        ),
        (
            "HS256",
            proof_with(&key, &good, |h| h["alg"] = json!("HS256")),
            ProofCheck::Algorithm,
            "HMAC",
        ),
        (
            "garbage",
            "not-a-jwt".to_owned(),
            ProofCheck::Malformed,
            "3 segments",
        ),
        (
            "too large",
            proof_with(
                &key,
                &with("pad", json!("x".repeat(MAX_PROOF_BYTES))),
                |_| {},
            ),
            ProofCheck::Malformed,
            "too large",
        ),
    ];
    for (name, jwt, want, text) in cases {
        let (check, description) = proof_failure(f.verify(&jwt));
        assert_eq!(check, want, "{name}: {description}");
        assert!(description.contains(text), "{name}: {description}");
        assert!(
            !description.contains(&f.nonce),
            "{name}: never echo the nonce"
        );
    }
}

#[test]
fn alg_none_and_algs_outside_the_metadata_are_refused() {
    let f = Fixture::new();
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let header = json!({ "alg": "none", "typ": KEY_PROOF_TYP,
                         "jwk": serde_json::to_value(key.public_jwk()).unwrap() });
    let unsigned = format!("{}.{}.", b64(&header), b64(&f.claims()));
    let (check, d) = proof_failure(f.verify(&unsigned));
    assert_eq!(check, ProofCheck::Algorithm);
    assert!(d.contains("'none'"), "{d}");

    let k1 = SigningKey::generate(Algorithm::ES256K).unwrap();
    let jwt = proof_with(&k1, &f.claims(), |_| {});
    f.verify(&jwt).unwrap();
    let (check, d) = proof_failure(f.verify_with(&jwt, &[Algorithm::ES256, Algorithm::EdDSA]));
    assert_eq!(check, ProofCheck::Algorithm);
    assert!(
        d.contains("ES256K is not in proof_signing_alg_values_supported (ES256, EdDSA)"),
        "{d}"
    );
}

#[test]
fn nonce_failures_are_invalid_nonce() {
    let f = Fixture::new();
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let with_nonce = |n: &str| {
        let mut c = f.claims();
        c["nonce"] = json!(n);
        proof_with(&key, &c, |_| {})
    };
    assert_eq!(
        nonce_failure(f.verify(&with_nonce("LarRGSbmUPYtRYO6BQ4yn8"))),
        NonceCheck::Malformed
    );
    let forger = NonceKey::new(&[9u8; 32]).unwrap();
    assert_eq!(
        nonce_failure(f.verify(&with_nonce(&issue_nonce(&forger, NOW)))),
        NonceCheck::Forged
    );
    let old = issue_nonce(&f.nonce_key, NOW - NONCE_LIFETIME);
    assert_eq!(
        nonce_failure(f.verify(&with_nonce(&old))),
        NonceCheck::Expired
    );
    let later = issue_nonce(&f.nonce_key, NOW + NONCE_SKEW_SECS + 1);
    assert_eq!(
        nonce_failure(f.verify(&with_nonce(&later))),
        NonceCheck::IssuedInFuture
    );
    // The nonce is judged after every other check: a bad proof with a bad nonce is invalid_proof.
    let mut c = f.claims();
    c["nonce"] = json!("forged");
    c["aud"] = json!("https://evil.example");
    let (check, _) = proof_failure(f.verify(&proof_with(&key, &c, |_| {})));
    assert_eq!(check, ProofCheck::Audience);
}

#[test]
fn a_replay_store_makes_nonces_single_use() {
    let f = Fixture::new();
    let used = Mutex::new(HashSet::<String>::new());
    let validator = |nonce: &str, now: i64| {
        check_nonce(&f.nonce_key, nonce, now, NONCE_LIFETIME)?;
        if used.lock().unwrap().insert(nonce.to_owned()) {
            Ok(())
        } else {
            Err(Oid4vciError::InvalidNonce {
                check: NonceCheck::Rejected,
            })
        }
    };
    let policy = ProofPolicy {
        credential_issuer: ISSUER,
        allowed_algs: &DEFAULT_PROOF_SIGNING_ALGS,
        nonces: &validator,
        now: NOW,
        max_age: MAX_AGE,
        skew: SKEW,
    };
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwt = proof_with(&key, &f.claims(), |_| {});
    verify_proof_jwt(&jwt, &policy).unwrap();
    assert_eq!(
        nonce_failure(verify_proof_jwt(&jwt, &policy)),
        NonceCheck::Rejected
    );
}

#[test]
fn verify_proofs_names_the_failing_proof() {
    let f = Fixture::new();
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let nonces = StatelessNonces {
        key: &f.nonce_key,
        lifetime: NONCE_LIFETIME,
    };
    let policy = ProofPolicy {
        credential_issuer: ISSUER,
        allowed_algs: &DEFAULT_PROOF_SIGNING_ALGS,
        nonces: &nonces,
        now: NOW,
        max_age: MAX_AGE,
        skew: SKEW,
    };
    let good = proof_with(&key, &f.claims(), |_| {});
    let bad = proof_with(&key, &f.claims(), |h| h["typ"] = json!("JWT"));
    let request = CredentialRequest {
        credential_configuration_id: SD_ID.into(),
        proofs: vec![good.clone(), bad],
    };
    let e = verify_proofs(&request, &policy).unwrap_err();
    assert!(
        e.description()
            .starts_with("key proof `proofs.jwt[1]`: typ check failed"),
        "{e}"
    );
    let one = CredentialRequest {
        credential_configuration_id: SD_ID.into(),
        proofs: vec![good],
    };
    assert_eq!(verify_proofs(&one, &policy).unwrap().len(), 1);
}

#[test]
fn the_full_pre_authorized_flow_through_the_building_blocks() {
    // Offer -> token request -> nonce -> credential request -> proof -> credential response.
    let metadata = credential_issuer_metadata(&descriptor(), &configurations());
    let ids: Vec<&str> = metadata["credential_configurations_supported"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let offer = offer(true);
    let q = query(&offer_uri_by_value(&offer));
    let o: Value = serde_json::from_str(&q[0].1).unwrap();
    let grant = &o["grants"][GRANT];
    let token = parse_token_request(&form(&[
        ("grant_type", GRANT),
        (
            "pre-authorized_code",
            grant["pre-authorized_code"].as_str().unwrap(),
        ),
        ("tx_code", "123456"),
    ]))
    .unwrap();
    let hash = pin_hash("s", "123456");
    token
        .check_tx_code(Some(ExpectedTxCode {
            salt: "s",
            hash: &hash,
        }))
        .unwrap();
    assert!(secrets_equal(
        &token.pre_authorized_code,
        &offer.pre_authorized_code
    ));

    let f = Fixture::new();
    let c_nonce = nonce_response(&f.nonce)["c_nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let proof = proof_with(
        &key,
        &json!({ "aud": metadata["credential_issuer"], "iat": NOW, "nonce": c_nonce }),
        |_| {},
    );
    let body = json!({ "credential_configuration_id": o["credential_configuration_ids"][0], "proofs": { "jwt": [proof] } });
    let request = parse_credential_request(&body, &ids).unwrap();
    assert_eq!(request.credential_configuration_id, SD_ID);
    let binding = f.verify(&request.proofs[0]).unwrap();
    assert_eq!(binding.jwk, key.public_jwk());
    assert_eq!(
        credential_response(&["eyJ.sd-jwt~".to_owned()]),
        json!({ "credentials": [{ "credential": "eyJ.sd-jwt~" }] })
    );
}

#[test]
fn access_tokens_are_ours_unexpired_and_bound_to_one_request() {
    let key = AccessTokenKey::new(&[7u8; 32]).unwrap();
    let grant = AccessGrant {
        request_id: uuid::Uuid::new_v4(),
        expires_at: 1_000,
    };
    let token = mint_access_token(&key, &grant);
    assert_eq!(check_access_token(&key, &token, 999).unwrap(), grant);
    let code = |r: Result<AccessGrant, Oid4vciError>| {
        let e = r.unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.www_authenticate().unwrap().contains("invalid_token"));
        e.to_string()
    };
    assert!(code(check_access_token(&key, &token, 1_000)).contains("expired"));
    let other = AccessTokenKey::new(&[8u8; 32]).unwrap();
    assert!(code(check_access_token(&other, &token, 10)).contains("not issued by this issuer"));
    // A token for another request: the MAC covers the request id.
    let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    bytes[5] ^= 1;
    let forged = URL_SAFE_NO_PAD.encode(&bytes);
    assert!(code(check_access_token(&key, &forged, 10)).contains("not issued"));
    // A later expiry: also covered.
    let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    bytes[20] ^= 1;
    let forged = URL_SAFE_NO_PAD.encode(&bytes);
    assert!(code(check_access_token(&key, &forged, 10)).contains("not issued"));
    for junk in ["", "not base64 !", "AAAA", &"A".repeat(500)] {
        assert!(code(check_access_token(&key, junk, 10)).contains("not one of this issuer's"));
    }
    // A c_nonce made with the same secret is not an access token.
    let nonce_key = NonceKey::new(&[7u8; 32]).unwrap();
    let nonce = issue_nonce(&nonce_key, 10);
    assert!(check_access_token(&key, &nonce, 10).is_err());
    assert!(AccessTokenKey::new(&[1u8; 16]).is_err());
}
