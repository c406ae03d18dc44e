//! `did:key` (W3C CCG did:key Method) and `did:jwk` (did:jwk Method Specification): DIDs that
//! carry their one public key inside the identifier, so they resolve without any network.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use verity_jose::{Algorithm, Jwk};

use crate::did::Did;
use crate::document::{
    DidDocument, JWS_2020_CONTEXT, VerificationMethod, VerificationRelationship,
};
use crate::error::DidError;

/// Multicodec code of an Ed25519 public key.
pub const ED25519_PUB: u64 = 0xed;
/// Multicodec code of a compressed P-256 public key.
pub const P256_PUB: u64 = 0x1200;
/// Multicodec code of a compressed P-384 public key.
pub const P384_PUB: u64 = 0x1201;
/// Multicodec code of a compressed P-521 public key.
pub const P521_PUB: u64 = 0x1202;
/// Multicodec code of a compressed secp256k1 public key.
pub const SECP256K1_PUB: u64 = 0xe7;

/// JWK members only private or symmetric keys have (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Refuses a JSON JWK carrying private key members.
pub(crate) fn check_no_private_members(v: &Value) -> Result<(), DidError> {
    if let Some(obj) = v.as_object()
        && let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m))
    {
        return Err(DidError::PrivateKeyMaterial {
            member: (*m).to_owned(),
        });
    }
    Ok(())
}

fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), DidError> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, &bytes[i + 1..]));
        }
    }
    Err(DidError::InvalidMultibase {
        reason: "the multicodec prefix is not a valid varint".into(),
    })
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes a multibase (`z` + base58btc) multicodec public key into a validated JWK.
pub fn jwk_from_multibase(multibase: &str) -> Result<Jwk, DidError> {
    let Some(b58) = multibase.strip_prefix('z') else {
        let prefix = multibase
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default();
        return Err(DidError::InvalidMultibase {
            reason: format!(
                "prefix `{prefix}` is not `z` (base58btc), the only supported multibase"
            ),
        });
    };
    let bytes = bs58::decode(b58)
        .into_vec()
        .map_err(|e| DidError::InvalidMultibase {
            reason: format!("base58btc does not decode: {e}"),
        })?;
    let (code, key) = read_varint(&bytes)?;
    jwk_from_codec(code, key)
}

/// Turns raw multicodec key bytes into a validated JWK.
pub(crate) fn jwk_from_codec(code: u64, key: &[u8]) -> Result<Jwk, DidError> {
    let (key_type, expected) = match code {
        ED25519_PUB => ("Ed25519", 32),
        P256_PUB => ("P-256", 33),
        P384_PUB => ("P-384", 49),
        P521_PUB => ("P-521", 67),
        SECP256K1_PUB => ("secp256k1", 33),
        other => return Err(DidError::UnsupportedMulticodec { code: other }),
    };
    if key.len() != expected {
        return Err(DidError::InvalidKeyLength {
            key_type,
            expected,
            found: key.len(),
        });
    }
    let bad_point = |reason: String| DidError::InvalidPublicKey { key_type, reason };
    let value = match code {
        ED25519_PUB => json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key)}),
        P256_PUB => {
            let pk = p256::PublicKey::from_sec1_bytes(key)
                .map_err(|_| bad_point("not a compressed point on P-256".into()))?;
            ec_jwk("P-256", pk.to_sec1_bytes_uncompressed())
        }
        P384_PUB => {
            let pk = p384::PublicKey::from_sec1_bytes(key)
                .map_err(|_| bad_point("not a compressed point on P-384".into()))?;
            ec_jwk("P-384", pk.to_sec1_bytes_uncompressed())
        }
        P521_PUB => {
            let pk = p521::PublicKey::from_sec1_bytes(key)
                .map_err(|_| bad_point("not a compressed point on P-521".into()))?;
            ec_jwk("P-521", pk.to_sec1_bytes_uncompressed())
        }
        _ => {
            let pk = k256::PublicKey::from_sec1_bytes(key)
                .map_err(|_| bad_point("not a compressed point on secp256k1".into()))?;
            ec_jwk("secp256k1", pk.to_sec1_bytes_uncompressed())
        }
    };
    Jwk::from_json_value(&value).map_err(|e| bad_point(e.to_string()))
}

/// Uncompressed SEC 1 encoding for every curve's public keys.
trait Uncompressed {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8>;
}

impl Uncompressed for p256::PublicKey {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        self.to_encoded_point(false).as_bytes().to_vec()
    }
}

impl Uncompressed for k256::PublicKey {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8> {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        self.to_encoded_point(false).as_bytes().to_vec()
    }
}

impl Uncompressed for p384::PublicKey {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8> {
        use p384::elliptic_curve::sec1::ToEncodedPoint;
        self.to_encoded_point(false).as_bytes().to_vec()
    }
}

impl Uncompressed for p521::PublicKey {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8> {
        use p521::elliptic_curve::sec1::ToEncodedPoint;
        self.to_encoded_point(false).as_bytes().to_vec()
    }
}

fn ec_jwk(crv: &str, uncompressed: Vec<u8>) -> Value {
    // 0x04 || x || y with x and y the same length; a wrong length fails JWK validation below.
    let coords = uncompressed.get(1..).unwrap_or_default();
    let (x, y) = coords.split_at(coords.len() / 2);
    json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
}

fn unsupported(e: impl std::fmt::Display) -> DidError {
    DidError::UnsupportedKey {
        reason: e.to_string(),
    }
}

fn b64_member(name: &str, v: Option<&str>) -> Result<Vec<u8>, DidError> {
    let v = v.ok_or_else(|| unsupported(format!("{name} is missing")))?;
    URL_SAFE_NO_PAD
        .decode(v)
        .map_err(|_| unsupported(format!("{name} is not unpadded base64url")))
}

/// The multibase (`z` + base58btc, multicodec-prefixed, EC keys compressed) form of a JWK.
pub fn multibase_from_jwk(jwk: &Jwk) -> Result<String, DidError> {
    jwk.validate().map_err(unsupported)?;
    let mut bytes = Vec::with_capacity(36);
    match jwk.algorithm().map_err(unsupported)? {
        Algorithm::EdDSA => {
            write_varint(ED25519_PUB, &mut bytes);
            bytes.extend(b64_member("x", jwk.x.as_deref())?);
        }
        alg @ (Algorithm::ES256 | Algorithm::ES256K | Algorithm::ES384 | Algorithm::ES512) => {
            let x = b64_member("x", jwk.x.as_deref())?;
            let y = b64_member("y", jwk.y.as_deref())?;
            let last = y.last().copied().ok_or_else(|| unsupported("y is empty"))?;
            // SEC 1 compression: the parity of y picks the 0x02 / 0x03 prefix.
            let code = match alg {
                Algorithm::ES256 => P256_PUB,
                Algorithm::ES384 => P384_PUB,
                Algorithm::ES512 => P521_PUB,
                _ => SECP256K1_PUB,
            };
            write_varint(code, &mut bytes);
            bytes.push(if last & 1 == 0 { 0x02 } else { 0x03 });
            bytes.extend(x);
        }
        // RSA keys are verify-only in Verity (OpenID Connect providers) and get no DID.
        Algorithm::RS256 => return Err(unsupported("RSA keys have no did:key form here")),
    }
    Ok(format!("z{}", bs58::encode(bytes).into_string()))
}

/// The `did:key` DID of a public JWK (Ed25519, P-256, P-384, P-521 or secp256k1).
pub fn did_key_from_jwk(jwk: &Jwk) -> Result<String, DidError> {
    Ok(format!("did:key:{}", multibase_from_jwk(jwk)?))
}

/// The `did:jwk` DID of a public JWK: base64url of its required members in lexicographic order
/// (so the same key always gives the same DID).
pub fn did_jwk_from_jwk(jwk: &Jwk) -> Result<String, DidError> {
    jwk.validate().map_err(unsupported)?;
    // RSA keys are verify-only in Verity (OpenID Connect providers) and get no DID.
    if jwk.algorithm().map_err(unsupported)? == Algorithm::RS256 {
        return Err(unsupported("RSA keys have no did:jwk form here"));
    }
    let mut members = Map::new();
    members.insert("crv".into(), Value::from(jwk.crv.clone()));
    members.insert("kty".into(), Value::from(jwk.kty.clone()));
    members.insert("x".into(), Value::from(jwk.x.clone()));
    if let Some(y) = &jwk.y {
        members.insert("y".into(), Value::from(y.clone()));
    }
    // serde_json's Map is ordered by key, which gives the lexicographic order.
    let json = Value::Object(members).to_string();
    Ok(format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(json)))
}

fn parse_method(did: &str, method: &str) -> Result<Did, DidError> {
    let parsed = Did::parse(did)?;
    if parsed.method() != method {
        return Err(DidError::UnsupportedMethod {
            method: parsed.method().to_owned(),
            supported: method.to_owned(),
        });
    }
    Ok(parsed)
}

fn single_key_document(
    did: &str,
    fragment: &str,
    jwk: Jwk,
    key_agreement: bool,
    sign: bool,
) -> DidDocument {
    let id = format!("{did}#{fragment}");
    let mut doc = DidDocument::new(did);
    doc.context.push(Value::from(JWS_2020_CONTEXT));
    doc.verification_method
        .push(VerificationMethod::json_web_key(&id, did, jwk));
    let r = || VerificationRelationship::Reference(id.clone());
    if sign {
        doc.assertion_method.push(r());
        doc.authentication.push(r());
        doc.capability_invocation.push(r());
        doc.capability_delegation.push(r());
    }
    if key_agreement {
        doc.key_agreement.push(r());
    }
    doc
}

/// Resolves a `did:key` locally: one `JsonWebKey2020` method `did:key:z…#z…` listed under
/// authentication, assertionMethod, capabilityInvocation and capabilityDelegation.
pub fn resolve_did_key(did: &str) -> Result<DidDocument, DidError> {
    let parsed = parse_method(did, "key")?;
    let mb = parsed.method_specific_id();
    let jwk = jwk_from_multibase(mb)?;
    Ok(single_key_document(did, mb, jwk, false, true))
}

/// Resolves a `did:jwk` locally: one `JsonWebKey2020` method `did:jwk:…#0`. A JWK with
/// `use: "enc"` is only listed under keyAgreement; one with `use: "sig"` is not listed there.
pub fn resolve_did_jwk(did: &str) -> Result<DidDocument, DidError> {
    let parsed = parse_method(did, "jwk")?;
    let bad = |reason: String| DidError::InvalidDidJwk { reason };
    let bytes = URL_SAFE_NO_PAD
        .decode(parsed.method_specific_id())
        .map_err(|e| bad(format!("the identifier is not unpadded base64url: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("the decoded identifier is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad("the decoded identifier is not a JSON object".into()));
    }
    check_no_private_members(&value)?;
    // RSA keys are verify-only in Verity (OpenID Connect providers), not holder or issuer keys.
    if value.get("kty").and_then(Value::as_str) == Some("RSA") {
        return Err(bad("kty \"RSA\" is not supported for did:jwk".into()));
    }
    let jwk =
        Jwk::from_json_value(&value).map_err(|e| bad(format!("not a usable public JWK: {e}")))?;
    let (agree, sign) = match jwk.use_.as_deref() {
        Some("enc") => (true, false),
        Some("sig") => (false, true),
        _ => (true, true),
    };
    Ok(single_key_document(did, "0", jwk, agree, sign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Relationship;
    use verity_jose::SigningKey;

    fn jwk(v: Value) -> Jwk {
        Jwk::from_json_value(&v).unwrap()
    }

    /// W3C CCG did:key test vectors, `test-vectors/ed25519-x25519.json` (seeds 0 and 1): the
    /// DID and the raw `publicKeyBase58` of its Ed25519VerificationKey2018.
    #[test]
    fn ed25519_vectors() {
        for (did, b58) in [
            (
                "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
                "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
            ),
            (
                "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
                "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
            ),
        ] {
            let doc = resolve_did_key(did).unwrap();
            let jwk = doc
                .key_for(
                    &format!("{did}#{}", &did[8..]),
                    Relationship::Authentication,
                )
                .unwrap();
            let raw = bs58::decode(b58).into_vec().unwrap();
            assert_eq!(jwk.x.as_deref(), Some(URL_SAFE_NO_PAD.encode(raw).as_str()));
            assert_eq!(did_key_from_jwk(&jwk).unwrap(), did);
        }
    }

    /// W3C CCG did:key test vectors, `test-vectors/nist-curves.json`: P-256 DIDs and their
    /// publicKeyJwk.
    #[test]
    fn p256_vectors() {
        for (did, x, y) in [
            (
                "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
                "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
                "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM",
            ),
            (
                "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
                "fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI",
                "hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU",
            ),
        ] {
            let doc = resolve_did_key(did).unwrap();
            let kid = format!("{did}#{}", &did[8..]);
            let got = doc.key_for(&kid, Relationship::AssertionMethod).unwrap();
            assert_eq!(
                got,
                jwk(json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
            );
            assert_eq!(did_key_from_jwk(&got).unwrap(), did);
        }
    }

    /// did:key vectors for the larger NIST curves (the same keys as the W3C CCG
    /// `nist-curves.json` P-384 and P-521 entries): DID -> publicKeyJwk and back.
    #[test]
    fn p384_and_p521_vectors() {
        for (did, crv, x, y) in [
            (
                "did:key:z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9",
                "P-384",
                "lInTxl8fjLKp_UCrxI0WDklahi-7-_6JbtiHjiRvMvhedhKVdHBfi2HCY8t_QJyc",
                "y6N1IC-2mXxHreETBW7K3mBcw0qGr3CWHCs-yl09yCQRLcyfGv7XhqAngHOu51Zv",
            ),
            (
                "did:key:z2J9gcGdb2nEyMDmzQYv2QZQcM1vXktvy1Pw4MduSWxGabLZ9XESSWLQgbuPhwnXN7zP7HpTzWqrMTzaY5zWe6hpzJ2jnw4f",
                "P-521",
                "AQgyFy6EwH3_u_KXPw8aTXTY7WSVytmbuJeFpq4U6LipxtSmBJe_jjRzms9qubnwm_fGoHMQlvQ1vzS2YLusR2V0",
                "Ab06MCcgoG7dM2I-VppdLV1k3lDoeHMvyYqHVfP05Ep2O7Zu0Qwd6IVzfZi9K0KMDud22wdnGUpUtFukZo0EeO15",
            ),
        ] {
            let doc = resolve_did_key(did).unwrap();
            let kid = format!("{did}#{}", &did[8..]);
            let got = doc.key_for(&kid, Relationship::AssertionMethod).unwrap();
            assert_eq!(got, jwk(json!({"kty": "EC", "crv": crv, "x": x, "y": y})));
            assert_eq!(did_key_from_jwk(&got).unwrap(), did);
        }
        // A compressed point of the wrong length for its codec names the curve.
        let err = jwk_from_codec(P384_PUB, &[2u8; 33]).unwrap_err();
        assert!(err.to_string().contains("P-384"), "{err}");
        // 0x02 || 48 bytes of 0xff: x is not below the field prime, so not a point.
        let mut not_a_point = vec![0x02];
        not_a_point.extend([0xffu8; 48]);
        let err = jwk_from_codec(P384_PUB, &not_a_point).unwrap_err();
        assert!(matches!(err, DidError::InvalidPublicKey { .. }), "{err}");
    }

    /// W3C CCG did:key test vectors, `test-vectors/secp256k1.json`: the DID and the compressed
    /// `publicKeyBase58` of its EcdsaSecp256k1VerificationKey2019.
    #[test]
    fn secp256k1_vectors() {
        for (did, b58) in [
            (
                "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                "23o6Sau8NxxzXcgSc3PLcNxrzrZpbLeBn1izfv3jbKhuv",
            ),
            (
                "did:key:zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2",
                "291KzQhqCPC18PqH83XKhxv1HdqrdnxyS7dh15t2uNRzJ",
            ),
        ] {
            let doc = resolve_did_key(did).unwrap();
            let got = doc
                .key_for(&format!("#{}", &did[8..]), Relationship::AssertionMethod)
                .unwrap();
            assert_eq!(got.crv.as_deref(), Some("secp256k1"));
            let compressed = bs58::decode(b58).into_vec().unwrap();
            assert_eq!(jwk_from_codec(SECP256K1_PUB, &compressed).unwrap(), got);
            assert_eq!(did_key_from_jwk(&got).unwrap(), did);
        }
    }

    #[test]
    fn did_key_document_shape() {
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        let v = resolve_did_key(did).unwrap().to_json_value();
        let kid = format!("{did}#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp");
        assert_eq!(v["id"], did);
        assert_eq!(v["verificationMethod"][0]["id"], kid.as_str());
        assert_eq!(v["verificationMethod"][0]["controller"], did);
        assert_eq!(v["verificationMethod"][0]["type"], "JsonWebKey2020");
        for rel in [
            "authentication",
            "assertionMethod",
            "capabilityInvocation",
            "capabilityDelegation",
        ] {
            assert_eq!(v[rel], json!([kid]), "{rel}");
        }
    }

    #[test]
    fn round_trips_generated_keys() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K] {
            for _ in 0..8 {
                let jwk = SigningKey::generate(alg).unwrap().public_jwk();
                let did = did_key_from_jwk(&jwk).unwrap();
                let doc = resolve_did_key(&did).unwrap();
                let kid = format!("{did}#{}", &did[8..]);
                let back = doc.key_for(&kid, Relationship::Authentication).unwrap();
                assert_eq!(
                    (back.x.clone(), back.y.clone()),
                    (jwk.x.clone(), jwk.y.clone())
                );

                let did = did_jwk_from_jwk(&jwk).unwrap();
                let doc = resolve_did_jwk(&did).unwrap();
                let back = doc
                    .key_for(&format!("{did}#0"), Relationship::AssertionMethod)
                    .unwrap();
                assert_eq!((back.x, back.y), (jwk.x.clone(), jwk.y.clone()));
            }
        }
    }

    /// did:jwk Method Specification, "Examples" → "P-256": the DID and its DID document.
    #[test]
    fn did_jwk_spec_p256_example() {
        let did = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
        let key = jwk(json!({
            "crv": "P-256", "kty": "EC",
            "x": "acbIQiuMs3i8_uszEjJ2tpTtRM4EU3yz91PH6CdH2V0",
            "y": "_KcyLj9vWMptnmKtm46GqDz8wf74I5LKgrl2GzH3nSE"
        }));
        assert_eq!(did_jwk_from_jwk(&key).unwrap(), did);
        let kid = format!("{did}#0");
        // The spec's document (its `authentication` entry has a stray `$`, a typo; the
        // intended value is the `#0` URL like the other relationships).
        let expected = json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
            "id": did,
            "verificationMethod": [{
                "id": kid, "type": "JsonWebKey2020", "controller": did,
                "publicKeyJwk": {"crv": "P-256", "kty": "EC",
                    "x": "acbIQiuMs3i8_uszEjJ2tpTtRM4EU3yz91PH6CdH2V0",
                    "y": "_KcyLj9vWMptnmKtm46GqDz8wf74I5LKgrl2GzH3nSE"}
            }],
            "assertionMethod": [kid],
            "authentication": [kid],
            "capabilityInvocation": [kid],
            "capabilityDelegation": [kid],
            "keyAgreement": [kid]
        });
        assert_eq!(resolve_did_jwk(did).unwrap().to_json_value(), expected);
    }

    #[test]
    fn did_jwk_use_controls_relationships() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap().public_jwk();
        let mut v = serde_json::to_value(&key).unwrap();
        v["use"] = json!("sig");
        let did = format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(v.to_string()));
        let doc = resolve_did_jwk(&did).unwrap();
        assert!(doc.key_agreement.is_empty());
        assert_eq!(doc.authentication.len(), 1);
        v["use"] = json!("enc");
        let did = format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(v.to_string()));
        let doc = resolve_did_jwk(&did).unwrap();
        assert!(doc.authentication.is_empty() && doc.assertion_method.is_empty());
        assert!(matches!(
            doc.key_for("#0", Relationship::AssertionMethod),
            Err(DidError::NotAuthorizedFor { .. })
        ));
    }

    #[test]
    fn malformed_did_keys_get_distinct_errors() {
        // Bad multibase prefix (`f` = base16).
        let err = resolve_did_key("did:key:f0xed01").unwrap_err();
        assert!(matches!(err, DidError::InvalidMultibase { .. }), "{err}");
        assert!(err.to_string().contains("`f`"), "{err}");
        // Not base58btc (`0`, `O`, `I`, `l` are outside the alphabet).
        let err = resolve_did_key("did:key:z0OIl").unwrap_err();
        assert!(matches!(err, DidError::InvalidMultibase { .. }), "{err}");
        // Unknown multicodec: x25519-pub (0xec) is a key agreement key.
        let mut bytes = vec![0xec, 0x01];
        bytes.extend([7u8; 32]);
        let did = format!("did:key:z{}", bs58::encode(&bytes).into_string());
        assert!(matches!(
            resolve_did_key(&did),
            Err(DidError::UnsupportedMulticodec { code: 0xec })
        ));
        // Wrong length for each supported codec.
        for (prefix, len) in [
            (vec![0xedu8, 0x01], 31usize),
            (vec![0x80, 0x24], 65),
            (vec![0xe7, 0x01], 32),
        ] {
            let mut bytes = prefix;
            bytes.extend(vec![2u8; len]);
            let did = format!("did:key:z{}", bs58::encode(&bytes).into_string());
            let err = resolve_did_key(&did).unwrap_err();
            assert!(matches!(err, DidError::InvalidKeyLength { .. }), "{err}");
        }
        // Right length, but not a SEC 1 compressed point (tag 0x05 instead of 0x02/0x03).
        let mut bytes = vec![0x80, 0x24, 0x05];
        bytes.extend([1u8; 32]);
        let did = format!("did:key:z{}", bs58::encode(&bytes).into_string());
        assert!(matches!(
            resolve_did_key(&did),
            Err(DidError::InvalidPublicKey { .. })
        ));
        // Truncated varint.
        let did = format!("did:key:z{}", bs58::encode([0x80u8]).into_string());
        assert!(matches!(
            resolve_did_key(&did),
            Err(DidError::InvalidMultibase { .. })
        ));
        // Not a did:key at all.
        assert!(matches!(
            resolve_did_key("did:web:example.com"),
            Err(DidError::UnsupportedMethod { .. })
        ));
        assert!(matches!(
            resolve_did_key("did:key"),
            Err(DidError::InvalidDid { .. })
        ));
    }

    #[test]
    fn malformed_did_jwks_get_distinct_errors() {
        // `*` is not an idchar, `.` is, but neither is base64url.
        let err = resolve_did_jwk("did:jwk:abc.def").unwrap_err();
        assert!(matches!(err, DidError::InvalidDidJwk { .. }), "{err}");
        assert!(err.to_string().contains("base64url"), "{err}");
        let not_json = URL_SAFE_NO_PAD.encode("not json");
        assert!(matches!(
            resolve_did_jwk(&format!("did:jwk:{not_json}")),
            Err(DidError::InvalidDidJwk { .. })
        ));
        let array = URL_SAFE_NO_PAD.encode("[1]");
        assert!(matches!(
            resolve_did_jwk(&format!("did:jwk:{array}")),
            Err(DidError::InvalidDidJwk { .. })
        ));
        // RFC 8037 Appendix A.1: the Ed25519 private key (has `d`).
        let private = json!({"kty": "OKP", "crv": "Ed25519",
            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let did = format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(private.to_string()));
        let err = resolve_did_jwk(&did).unwrap_err();
        assert!(
            matches!(err, DidError::PrivateKeyMaterial { ref member } if member == "d"),
            "{err}"
        );
        // A JWK of an unsupported type (RSA).
        let rsa =
            URL_SAFE_NO_PAD.encode(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}).to_string());
        let err = resolve_did_jwk(&format!("did:jwk:{rsa}")).unwrap_err();
        assert!(matches!(err, DidError::InvalidDidJwk { .. }), "{err}");
        assert!(err.to_string().contains("kty"), "{err}");
    }

    #[test]
    fn unsupported_jwks_cannot_become_dids() {
        let rsa = Jwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        };
        assert!(matches!(
            did_key_from_jwk(&rsa),
            Err(DidError::UnsupportedKey { .. })
        ));
        assert!(matches!(
            did_jwk_from_jwk(&rsa),
            Err(DidError::UnsupportedKey { .. })
        ));
        let mut off_curve = SigningKey::generate(Algorithm::ES256).unwrap().public_jwk();
        off_curve.y = off_curve.x.clone();
        let err = did_key_from_jwk(&off_curve).unwrap_err();
        assert!(matches!(err, DidError::UnsupportedKey { .. }), "{err}");
    }

    #[test]
    fn private_member_check() {
        assert!(check_no_private_members(&json!({"kty": "EC", "x": "a"})).is_ok());
        for m in PRIVATE_MEMBERS {
            let mut v = json!({"kty": "EC"});
            v[m] = json!("x");
            assert!(matches!(
                check_no_private_members(&v),
                Err(DidError::PrivateKeyMaterial { .. })
            ));
        }
    }

    /// RFC 7515 A.2's RSA public key: valid for RS256 verification, but never a DID key here.
    fn rsa_jwk() -> Jwk {
        Jwk::from_json_value(&serde_json::json!({
            "kty": "RSA",
            "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
            "e": "AQAB"
        }))
        .unwrap()
    }

    #[test]
    fn rsa_keys_get_no_did() {
        let jwk = rsa_jwk();
        assert!(did_key_from_jwk(&jwk).is_err());
        assert!(did_jwk_from_jwk(&jwk).is_err());
        let encoded = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&jwk).unwrap(),
        );
        let err = resolve_did_jwk(&format!("did:jwk:{encoded}")).unwrap_err();
        assert!(err.to_string().contains("RSA"), "{err}");
    }
}
