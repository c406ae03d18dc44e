//! The issuance request object the wallet fetches (docs/PROTOCOL.md): an OpenID request with
//! a presentation definition whose `issuance` names the manifest, signed by the authority,
//! carrying the `id_token_hint` (the RP's claims, signed by the authority) and the PIN prompt.

use serde_json::{Map, Value, json};
use uuid::Uuid;
use verity_contracts::Contract;
use verity_jose::{Signer, TokenKind, sign_kind};

use crate::IssuanceError;

/// How the wallet asks the holder for the PIN and hashes it ([`crate::pin_hash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPrompt {
    /// Number of digits.
    pub length: u64,
    /// The salt the wallet prefixes to the PIN before hashing.
    pub salt: String,
}

/// Everything an issuance request object is built from.
#[derive(Debug, Clone)]
pub struct RequestObjectParams<'a> {
    /// The contract issued.
    pub contract: &'a Contract,
    /// The issuing authority's DID (`iss`, `client_id`).
    pub issuer_did: &'a str,
    /// The request's id, sent as `state` (and the hint's `sub`).
    pub request_id: &'a str,
    /// The request's nonce.
    pub nonce: &'a str,
    /// Where the wallet posts its completion.
    pub redirect_uri: &'a str,
    /// The contract's manifest URL.
    pub manifest_url: &'a str,
    /// The `registration` member (client name, purpose, logo, formats).
    pub registration: &'a Value,
    /// The RP's claims, carried in the id_token_hint for idTokenHint contracts.
    pub hint_claims: &'a Map<String, Value>,
    /// The PIN prompt, when the RP set a PIN.
    pub pin: Option<&'a PinPrompt>,
    /// The time of signing, unix seconds.
    pub now: i64,
    /// The request's expiry, unix seconds (`exp` of the object and the hint).
    pub expires_at: i64,
}

/// The id_token_hint's claims: the RP's claims at top level next to the ones Verity sets
/// (those win: the RP cannot override `iss`, `nonce`, ...).
pub fn id_token_hint_claims(p: &RequestObjectParams<'_>) -> Value {
    let mut hint = Map::new();
    for (k, v) in [
        ("iss", json!(p.issuer_did)),
        ("sub", json!(p.request_id)),
        ("aud", json!(p.issuer_did)),
        ("nonce", json!(p.nonce)),
        ("iat", json!(p.now)),
        ("exp", json!(p.expires_at)),
    ] {
        hint.insert(k.into(), v);
    }
    for (k, v) in p.hint_claims {
        hint.entry(k.clone()).or_insert(v.clone());
    }
    Value::Object(hint)
}

/// The request object's claims without the id_token_hint.
pub fn request_object_claims(p: &RequestObjectParams<'_>) -> Value {
    let types = p.contract.credential_types();
    let type_name = types.last().cloned().unwrap_or_default();
    let mut claims = json!({
        "iss": p.issuer_did, "client_id": p.issuer_did,
        "response_type": "id_token", "response_mode": "post", "scope": "openid",
        "redirect_uri": p.redirect_uri,
        "nonce": p.nonce, "state": p.request_id, "jti": Uuid::new_v4().to_string(),
        "iat": p.now, "exp": p.expires_at, "prompt": "create",
        "registration": p.registration,
        "claims": { "vp_token": { "presentation_definition": {
            "id": Uuid::new_v4().to_string(),
            "input_descriptors": [ {
                "id": type_name, "name": type_name, "schema": [ { "uri": type_name } ],
                "issuance": [ { "manifest": p.manifest_url } ] } ] } } },
    });
    if let Some(pin) = p.pin {
        claims["pin"] = json!({
            "length": pin.length, "type": "numeric", "alg": "sha256", "salt": pin.salt,
        });
    }
    claims
}

/// Builds and signs the request object (and, for idTokenHint contracts, its id_token_hint)
/// with the authority's `signer`.
pub async fn sign_request_object(
    signer: &dyn Signer,
    p: &RequestObjectParams<'_>,
) -> Result<String, IssuanceError> {
    let mut claims = request_object_claims(p);
    if p.contract.uses_id_token_hint() {
        let hint = sign_kind(signer, TokenKind::IdTokenHint, &id_token_hint_claims(p))
            .await
            .map_err(|source| IssuanceError::Signing {
                what: "id_token_hint",
                source,
            })?;
        claims["id_token_hint"] = json!(hint.token);
    }
    Ok(sign_kind(signer, TokenKind::RequestObject, &claims)
        .await
        .map_err(|source| IssuanceError::Signing {
            what: "request object",
            source,
        })?
        .token)
}
