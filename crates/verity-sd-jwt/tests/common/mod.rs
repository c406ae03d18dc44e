//! Shared fixtures: the published example keys of RFC 9901 / draft-ietf-oauth-sd-jwt-vc, the
//! spec vectors, and helpers to build well-formed and deliberately malformed SD-JWTs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod vectors;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use verity_jose::{Algorithm, Header, Jwk, LocalSigner, SigningKey, sign_compact};

/// RFC 9901 Appendix A.5 issuer key; its private half `d` is published in the examples'
/// settings of the RFC's and the SD-JWT VC draft's source repositories.
pub fn rfc_issuer_private_jwk() -> Value {
    json!({
        "kty": "EC", "crv": "P-256",
        "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
        "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8",
        "d": "Ur2bNKuBPOrAaxsRnbSH6hIhmNTxSGXshDSUD1a1y7g"
    })
}

/// RFC 9901 Appendix A.5: "can be used to validate the Issuer signatures in the above examples".
pub fn rfc_issuer_jwk() -> Jwk {
    let mut v = rfc_issuer_private_jwk();
    v.as_object_mut().unwrap().remove("d");
    Jwk::from_json_value(&v).unwrap()
}

/// The holder key of the examples (the `cnf.jwk` of RFC 9901 section 5), with its `d`.
pub fn rfc_holder_private_jwk() -> Value {
    json!({
        "kty": "EC", "crv": "P-256",
        "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ",
        "d": "5K5SCos8zf9zRemGGUl6yfok-_NiiryNZsvANWMhF-I"
    })
}

pub fn rfc_issuer_key() -> SigningKey {
    SigningKey::from_private_jwk(&rfc_issuer_private_jwk()).unwrap()
}

pub fn rfc_holder_key() -> SigningKey {
    SigningKey::from_private_jwk(&rfc_holder_private_jwk()).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

pub fn sha256_b64(s: &str) -> String {
    b64(&Sha256::digest(s.as_bytes()))
}

/// A raw Disclosure string from any JSON (for malformed ones too).
pub fn raw_disclosure(array: &Value) -> String {
    b64(array.to_string().as_bytes())
}

/// Signs `payload` as an Issuer-signed JWT with header `typ` (none when `None`).
pub fn sign_issuer_jwt(key: &SigningKey, typ: Option<&str>, payload: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.typ = typ.map(str::to_owned);
    sign_compact(key, &header, payload.to_string().as_bytes()).unwrap()
}

/// `<jwt>~<d1>~...~`
pub fn assemble(jwt: &str, disclosures: &[String]) -> String {
    let mut s = format!("{jwt}~");
    for d in disclosures {
        s.push_str(d);
        s.push('~');
    }
    s
}

/// A KB-JWT over `sd_jwt` (which ends in `~`) with explicit claims, for hostile variants.
pub fn kb_jwt(key: &SigningKey, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.typ = typ.map(str::to_owned);
    sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

/// The standard KB-JWT claims for `sd_jwt`.
pub fn kb_claims(sd_jwt: &str, aud: &str, nonce: &str, iat: i64) -> Value {
    json!({"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sha256_b64(sd_jwt)})
}

pub fn local_signer(alg: Algorithm) -> LocalSigner {
    LocalSigner::new(
        SigningKey::generate(alg).unwrap(),
        "did:web:issuer.example#key-1",
    )
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

pub fn cnf(key: &SigningKey) -> Value {
    json!({"jwk": serde_json::to_value(key.public_jwk()).unwrap()})
}
