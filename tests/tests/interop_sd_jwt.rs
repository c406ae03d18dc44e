//! Interop: the `@sd-jwt` libraries (an independent SD-JWT VC implementation, pinned in
//! `tests/interop/package-lock.json`) verify the SD-JWT VCs Verity issues, including their
//! Token Status List, and produce presentations Verity verifies. Where the library is looser
//! than RFC 9901, Verity follows the RFC (docs/STANDARDS.md). Without Node or `npm ci` in
//! `tests/interop` these tests print a note and pass, unless VERITY_TEST_REQUIRE_INTEROP=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use uuid::Uuid;
use verity_contracts::Contract;
use verity_core::{Clock, SystemClock};
use verity_issuance::{SdJwtVcDraft, StatusAssignment, issue_sd_jwt_vc};
use verity_jose::{Algorithm, LocalSigner, SigningKey};
use verity_sd_jwt::{KeyBindingPolicy, VerifyOptions, verify_with_issuer_key};
use verity_status_list::{TokenStatus, TokenStatusList, sign_list_token};

const ISSUER: &str = "did:web:issuer.example";
const LIST_URI: &str = "https://issuer.example/v1.0/status/0193";
const VERIFIER: &str = "https://verifier.example";

/// Whether Node and the library are installed (`verity_tests::interop::available`).
fn available() -> bool {
    verity_tests::interop::available(&["@sd-jwt/sd-jwt-vc"])
}

/// Runs `node sd-jwt.mjs <command>` with `input` and returns its JSON answer.
async fn sd_jwt_js(command: &str, input: &Value) -> Value {
    verity_tests::interop::node("sd-jwt.mjs", command, input).await
}

struct Issued {
    signer: LocalSigner,
    holder_private: Value,
    token: String,
    list_token: String,
}

/// A VerifiedEmployee SD-JWT VC issued by Verity's issuance code, bound to a key the library
/// generated, pointing at entry `idx` of a Token Status List in which entry 3 is revoked.
async fn issue(idx: u32) -> Issued {
    let now = SystemClock.now().timestamp();
    let signer = LocalSigner::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        format!("{ISSUER}#key-1"),
    );
    let keys = sd_jwt_js("keygen", &json!({})).await;
    let holder = SigningKey::from_private_jwk(&keys["privateKey"]).unwrap();
    let contract = Contract::from_json(include_str!(
        "../../examples/contracts/verified-employee-hint.json"
    ))
    .unwrap();
    let subject: Map<String, Value> = json!({
        "displayName": "Megan Bowen", "jobTitle": "Marketing Manager",
        "mail": "megan@contoso.example", "revocationId": "megan@contoso.example",
    })
    .as_object()
    .unwrap()
    .clone();
    let issued = issue_sd_jwt_vc(
        &signer,
        SdJwtVcDraft {
            contract: &contract,
            contract_id: Uuid::new_v4(),
            issuer_did: ISSUER,
            vct: "https://issuer.example/vct/verified-employee",
            holder_key: holder.public_jwk(),
            subject,
            expiration_cap: None,
            status: Some(StatusAssignment {
                list_url: LIST_URI.into(),
                index: idx,
                suspension_url: None,
            }),
            now: now - 5,
        },
    )
    .await
    .unwrap();
    let mut list = TokenStatusList::new(16, 1).unwrap();
    list.set(3, TokenStatus::Invalid).unwrap();
    let list_token = sign_list_token(&signer, ISSUER, LIST_URI, &list, now - 5, Some(600), None)
        .await
        .unwrap();
    Issued {
        signer,
        holder_private: keys["privateKey"].clone(),
        token: issued.token,
        list_token,
    }
}

async fn present_js(issued: &Issued, frame: Value, aud: &str, nonce: &str) -> String {
    let answer = sd_jwt_js(
        "present",
        &json!({
            "token": issued.token, "holderPrivateJwk": issued.holder_private, "frame": frame,
            "kb": { "aud": aud, "nonce": nonce, "iat": SystemClock.now().timestamp() },
        }),
    )
    .await;
    answer["presentation"]
        .as_str()
        .unwrap_or_else(|| panic!("present: {answer}"))
        .to_owned()
}

fn verity_verifies(issued: &Issued, presentation: &str, nonce: &str) -> Result<Value, String> {
    let options = VerifyOptions::sd_jwt_vc(
        SystemClock.now().timestamp(),
        KeyBindingPolicy::Required {
            audience: VERIFIER.into(),
            nonce: nonce.into(),
        },
    );
    verify_with_issuer_key(presentation, &issued.signer.public_jwk(), &options)
        .map(|v| Value::Object(v.claims))
        .map_err(|e| format!("{} ({})", e, e.code()))
}

#[tokio::test]
async fn our_sd_jwt_vcs_verify_in_sd_jwt_js_and_its_presentations_verify_in_verity() {
    if !available() {
        return;
    }
    let issued = issue(4).await;
    // The library verifies the credential, its signature and its status (our list token).
    let checked = sd_jwt_js(
        "verify",
        &json!({
            "token": issued.token, "issuerJwk": issued.signer.public_jwk(),
            "statusListToken": issued.list_token,
        }),
    )
    .await;
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["claims"]["displayName"], "Megan Bowen");
    assert_eq!(
        checked["claims"]["vct"],
        "https://issuer.example/vct/verified-employee"
    );
    assert_eq!(checked["claims"]["status"]["status_list"]["idx"], 4);

    // The library's holder discloses only the job title, with key binding; Verity verifies it.
    let shown = present_js(&issued, json!({ "jobTitle": true }), VERIFIER, "n-1").await;
    let claims = verity_verifies(&issued, &shown, "n-1").unwrap();
    assert_eq!(claims["jobTitle"], "Marketing Manager");
    assert!(claims.get("displayName").is_none(), "{claims}");

    // A revoked entry: the library reads our Token Status List and refuses it.
    let revoked = issue(3).await;
    let checked = sd_jwt_js(
        "verify",
        &json!({
            "token": revoked.token, "issuerJwk": revoked.signer.public_jwk(),
            "statusListToken": revoked.list_token,
        }),
    )
    .await;
    assert_eq!(checked["ok"], false, "{checked}");
    assert!(
        checked["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("status"),
        "{checked}"
    );
}

#[tokio::test]
async fn where_sd_jwt_js_is_looser_verity_follows_rfc_9901() {
    if !available() {
        return;
    }
    let issued = issue(4).await;
    let verify_js = |presentation: &str, nonce: &str| {
        let input = json!({
            "token": presentation, "issuerJwk": issued.signer.public_jwk(),
            "statusListToken": issued.list_token, "requireKb": true, "kb": { "nonce": nonce },
        });
        async move { sd_jwt_js("verify", &input).await }
    };

    // A key-binding JWT for another verifier: the library does not check `aud`.
    let elsewhere = present_js(
        &issued,
        json!({ "jobTitle": true }),
        "https://other.example",
        "n-2",
    )
    .await;
    let js = verify_js(&elsewhere, "n-2").await;
    let verity = verity_verifies(&issued, &elsewhere, "n-2");
    assert!(verity.is_err(), "Verity checks the KB-JWT's aud");
    assert!(verity.unwrap_err().contains("aud"));

    assert_eq!(
        js["ok"], true,
        "@sd-jwt 0.19 accepts a KB-JWT for another audience: {js}"
    );

    // A disclosure that matches no digest (no key binding, so nothing else is off):
    // RFC 9901 section 7.1 says reject; @sd-jwt 0.19 ignores it.
    let stray = URL_SAFE_NO_PAD.encode(json!(["c2FsdHNhbHRzYWx0", "jobTitle", "CEO"]).to_string());
    let tampered = format!("{}{stray}~", issued.token);
    let options =
        VerifyOptions::sd_jwt_vc(SystemClock.now().timestamp(), KeyBindingPolicy::NotRequired);
    let key = issued.signer.public_jwk();
    let verity = verify_with_issuer_key(&tampered, &key, &options)
        .map(|_| ())
        .map_err(|e| format!("{e} ({})", e.code()));
    assert!(verity.is_err(), "Verity refuses an unreferenced disclosure");
    assert!(verify_with_issuer_key(&issued.token, &key, &options).is_ok());
    let js = sd_jwt_js(
        "verify",
        &json!({
            "token": tampered, "issuerJwk": key, "statusListToken": issued.list_token,
        }),
    )
    .await;
    assert_eq!(
        js["ok"], true,
        "@sd-jwt 0.19 ignores an unreferenced disclosure: {js}"
    );
    assert_eq!(
        js["claims"]["jobTitle"], "Marketing Manager",
        "and the stray value is not used"
    );
}
