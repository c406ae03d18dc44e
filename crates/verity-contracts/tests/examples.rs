//! The shipped example contracts (examples/contracts/) load, validate, map claims and build
//! manifests.

// Integration tests: helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use verity_contracts::{AttestationKind, ClaimType, Contract, build_manifest, map_claims};

fn example(name: &str) -> Contract {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/contracts")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Contract::from_json(&text).unwrap_or_else(|e| panic!("{name}: {} {e}", e.code()))
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn verified_employee_validates() {
    let c = example("verified-employee.json");
    assert_eq!(c.id, "verified-employee");
    assert_eq!(
        c.credential_types(),
        ["VerifiableCredential", "VerifiedEmployee"]
    );
    assert!(c.rules.revocable);
    assert!(!c.uses_id_token_hint());
    let provider = &c.rules.attestations.id_tokens[0];
    assert_eq!(
        provider.configuration,
        "https://login.example.com/.well-known/openid-configuration"
    );
    let outputs: Vec<&str> = provider
        .mapping
        .iter()
        .map(|m| m.output_claim.as_str())
        .collect();
    assert_eq!(
        outputs,
        [
            "displayName",
            "givenName",
            "surname",
            "jobTitle",
            "mail",
            "preferredLanguage",
            "photo",
            "revocationId"
        ]
    );
    assert_eq!(c.indexed_claim().unwrap().output_claim, "revocationId");
    let photo = c
        .display
        .claims
        .iter()
        .find(|d| d.output_claim() == Some("photo"));
    assert_eq!(photo.unwrap().claim_type, ClaimType::ImageJpg);
}

#[test]
fn verified_employee_maps_an_id_token() {
    let c = example("verified-employee.json");
    // A JPEG header is enough for the type check (the photo is base64url, as the hosted
    // service's Verified Employee photos are).
    let photo = "_9j_4AAQSkZJRgABAQAAAQABAAA";
    let id_token_claims = obj(json!({
        "iss": "https://login.example.com", "sub": "248289761001", "aud": "client",
        "name": "Megan Bowen", "given_name": "Megan", "family_name": "Bowen",
        "job_title": "Auditor", "email": "megan@example.com", "locale": "en-US",
        "photo": photo, "preferred_username": "megan@example.com"
    }));
    let mapped = map_claims(
        AttestationKind::IdToken,
        &id_token_claims,
        &c.rules.attestations.id_tokens[0].mapping,
    )
    .unwrap();
    assert_eq!(
        Value::Object(mapped),
        json!({
            "displayName": "Megan Bowen", "givenName": "Megan", "surname": "Bowen",
            "jobTitle": "Auditor", "mail": "megan@example.com", "preferredLanguage": "en-US",
            "photo": photo, "revocationId": "megan@example.com"
        })
    );
}

#[test]
fn id_token_hint_example_validates_and_publishes_as_self_issued_id_token() {
    let c = example("id-token-hint.json");
    assert!(c.uses_id_token_hint());
    let m = build_manifest(
        &c,
        "https://issuer.example.com/v1.0/manifests/verified-credential-expert",
        "https://issuer.example.com/v1.0/issue/verified-credential-expert",
        &c.authority,
        1_700_000_000,
    );
    assert_eq!(
        m["input"]["attestations"]["idTokens"][0],
        json!({
            "id": "https://self-issued.me",
            "encrypted": false,
            "claims": [
                {"claim": "$.given_name", "required": true, "indexed": true},
                {"claim": "$.family_name", "required": true, "indexed": false}
            ],
            "required": true,
            "configuration": "https://self-issued.me",
            "client_id": "",
            "redirect_uri": ""
        })
    );
    assert_eq!(
        m["display"]["claims"]["vc.credentialSubject.familyName"],
        json!({"type": "String", "label": "Last name"})
    );
    let mapped = map_claims(
        AttestationKind::IdTokenHint,
        &obj(json!({"given_name": "Megan", "family_name": "Bowen"})),
        &c.rules.attestations.id_token_hints[0].mapping,
    )
    .unwrap();
    assert_eq!(
        Value::Object(mapped),
        json!({"givenName": "Megan", "familyName": "Bowen"})
    );
}
