//! The issuance request object and its id_token_hint.

use serde_json::{Map, Value, json};
use verity_jose::{Algorithm, Jwk, LocalSigner, SigningKey, TokenKind, UnverifiedJws};

use super::*;
use crate::{
    PinPrompt, RequestObjectParams, id_token_hint_claims, request_object_claims,
    sign_request_object,
};

const REQUEST: &str = "0d6a6a4c-5a3e-4f5e-9f59-7d7f3c1a2b3c";

fn params<'a>(
    contract: &'a Contract,
    registration: &'a Value,
    hint: &'a Map<String, Value>,
    pin: Option<&'a PinPrompt>,
) -> RequestObjectParams<'a> {
    RequestObjectParams {
        contract,
        issuer_did: ISSUER,
        request_id: REQUEST,
        nonce: NONCE,
        redirect_uri: "https://issuer.example/v1.0/requests/r/completion",
        manifest_url: "https://issuer.example/v1.0/manifests/m",
        registration,
        hint_claims: hint,
        pin,
        now: NOW,
        expires_at: NOW + 300,
    }
}

fn verify_signed(token: &str, key: &Jwk, kind: TokenKind) -> Value {
    let verified = UnverifiedJws::parse(token).unwrap().verify(key).unwrap();
    let claims: Value = verified.claims().unwrap();
    kind.check_value(verified.header(), &claims).unwrap();
    claims
}

#[test]
fn the_request_object_names_the_manifest_and_the_pin() {
    let contract = hint_contract();
    let registration = json!({ "client_name": "Contoso" });
    let hint = Map::new();
    let pin = PinPrompt {
        length: 4,
        salt: "a1b2".into(),
    };
    let c = request_object_claims(&params(&contract, &registration, &hint, Some(&pin)));
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["client_id"], ISSUER);
    assert_eq!(c["state"], REQUEST);
    assert_eq!(c["nonce"], NONCE);
    assert_eq!(c["exp"], NOW + 300);
    assert_eq!(c["registration"], registration);
    let d = &c["claims"]["vp_token"]["presentation_definition"]["input_descriptors"][0];
    assert_eq!(d["id"], "TestCard");
    assert_eq!(
        d["issuance"][0]["manifest"],
        "https://issuer.example/v1.0/manifests/m"
    );
    assert_eq!(
        c["pin"],
        json!({ "length": 4, "type": "numeric", "alg": "sha256", "salt": "a1b2" })
    );
    let c = request_object_claims(&params(&contract, &registration, &hint, None));
    assert!(c.get("pin").is_none());
}

#[test]
fn the_hint_carries_the_rp_claims_but_not_over_ours() {
    let contract = hint_contract();
    let registration = json!({});
    let hint =
        map(json!({ "given_name": "Megan", "nonce": "rp-nonce", "iss": "did:web:evil.example" }));
    let h = id_token_hint_claims(&params(&contract, &registration, &hint, None));
    assert_eq!(h["given_name"], "Megan");
    assert_eq!(h["nonce"], NONCE);
    assert_eq!(h["iss"], ISSUER);
    assert_eq!(h["sub"], REQUEST);
    assert_eq!(h["aud"], ISSUER);
}

#[tokio::test]
async fn the_signed_request_object_carries_a_signed_hint_for_hint_contracts() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let public = key.public_jwk();
    let signer = LocalSigner::new(key, format!("{ISSUER}#key-1"));
    let registration = json!({ "client_name": "Contoso" });
    let hint = map(json!({ "given_name": "Megan" }));
    let contract = hint_contract();
    let token = sign_request_object(&signer, &params(&contract, &registration, &hint, None))
        .await
        .unwrap();
    let claims = verify_signed(&token, &public, TokenKind::RequestObject);
    let hint_token = claims["id_token_hint"].as_str().unwrap();
    let h = verify_signed(hint_token, &public, TokenKind::IdTokenHint);
    assert_eq!(h["given_name"], "Megan");
    // A contract without idTokenHints gets no hint.
    let contract = contract_with(
        json!({ "selfIssued": { "required": true, "mapping": [
            { "outputClaim": "nickname", "inputClaim": "$.nickname", "required": true, "type": "String" } ] } }),
        &["nickname"],
        86_400,
    );
    let token = sign_request_object(&signer, &params(&contract, &registration, &hint, None))
        .await
        .unwrap();
    assert!(
        verify_signed(&token, &public, TokenKind::RequestObject)
            .get("id_token_hint")
            .is_none()
    );
}
