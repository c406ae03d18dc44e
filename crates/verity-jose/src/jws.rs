//! Compact JWS (RFC 7515 section 7.1): signing, parsing, and verification against a key.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Algorithm, JoseError, Jwk, SigningKey, b64d, b64e, verify_signature};

/// Largest token [`UnverifiedJws::parse`] accepts: a VC may carry a 1 MB photo claim.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 2 * 1024 * 1024;

/// A JOSE protected header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The algorithm as written; never trusted on its own (see [`UnverifiedJws::verify`]).
    pub alg: String,
    /// Key id (a DID URL for Verity's keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Media type of the whole token, e.g. `"JWT"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// An embedded public key (e.g. a self-issued token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// Every other header member, kept as given.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Header {
    /// A header with only `alg` set.
    pub fn new(alg: Algorithm) -> Header {
        Header {
            alg: alg.as_str().to_owned(),
            kid: None,
            typ: None,
            jwk: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// Signs `payload` as a compact JWS; `header.alg` is overwritten with the key's algorithm.
pub fn sign_compact(
    key: &SigningKey,
    header: &Header,
    payload: &[u8],
) -> Result<String, JoseError> {
    let mut header = header.clone();
    header.alg = key.algorithm().as_str().to_owned();
    let header_json = serde_json::to_vec(&header).map_err(|e| JoseError::Encode {
        part: "header",
        reason: e.to_string(),
    })?;
    let mut token = b64e(&header_json);
    token.push('.');
    token.push_str(&b64e(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64e(&signature));
    Ok(token)
}

/// A structurally valid compact JWS whose signature has not been checked yet.
pub struct UnverifiedJws {
    header: Header,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)` exactly as received.
    signing_input: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl fmt::Debug for UnverifiedJws {
    // Payloads carry personal data; show sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedJws")
            .field("header", &self.header)
            .field("payload_len", &self.payload.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

impl UnverifiedJws {
    /// Parses a compact JWS of at most [`DEFAULT_MAX_TOKEN_BYTES`].
    pub fn parse(token: &str) -> Result<Self, JoseError> {
        Self::parse_with_limit(token, DEFAULT_MAX_TOKEN_BYTES)
    }

    /// Parses a compact JWS of at most `max_bytes`; the size is checked before any decoding.
    pub fn parse_with_limit(token: &str, max_bytes: usize) -> Result<Self, JoseError> {
        if token.len() > max_bytes {
            return Err(JoseError::TokenTooLarge {
                len: token.len(),
                max: max_bytes,
            });
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::MalformedToken {
                segments: token.split('.').count(),
            });
        };
        let header_bytes = b64d(h64).map_err(|_| JoseError::MalformedBase64 { part: "header" })?;
        let payload = b64d(p64).map_err(|_| JoseError::MalformedBase64 { part: "payload" })?;
        let signature = b64d(s64).map_err(|_| JoseError::MalformedBase64 { part: "signature" })?;
        let header = parse_header(&header_bytes)?;
        Ok(UnverifiedJws {
            header,
            signing_input: format!("{h64}.{p64}"),
            payload,
            signature,
        })
    }

    /// The header as sent (unauthenticated until [`UnverifiedJws::verify`] succeeds).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header's alg, if it is one Verity accepts; `none` and HMAC get their own errors.
    pub fn algorithm(&self) -> Result<Algorithm, JoseError> {
        self.header.alg.parse()
    }

    /// The payload as JSON **without** verification: only for finding the key (e.g. `iss`).
    pub fn payload_unverified<T: DeserializeOwned>(&self) -> Result<T, JoseError> {
        payload_json(&self.payload)
    }

    /// Checks the signature with `key`: the header alg must be the key's alg.
    pub fn verify(self, key: &Jwk) -> Result<VerifiedJws, JoseError> {
        let header_alg = self.algorithm()?;
        let key_alg = key.algorithm()?;
        if header_alg != key_alg {
            return Err(JoseError::AlgorithmMismatch {
                header: self.header.alg,
                key: key_alg,
            });
        }
        verify_signature(key, self.signing_input.as_bytes(), &self.signature)?;
        Ok(VerifiedJws {
            header: self.header,
            payload: self.payload,
        })
    }
}

/// A compact JWS whose signature verified under a known key.
pub struct VerifiedJws {
    header: Header,
    payload: Vec<u8>,
}

impl fmt::Debug for VerifiedJws {
    // Payloads carry personal data; show sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedJws")
            .field("header", &self.header)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl VerifiedJws {
    /// The (now authenticated) header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The authenticated payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The authenticated payload parsed as JSON.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JoseError> {
        payload_json(&self.payload)
    }
}

fn payload_json<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JoseError> {
    serde_json::from_slice(payload).map_err(|e| JoseError::MalformedJson {
        part: "payload",
        reason: e.to_string(),
    })
}

fn parse_header(bytes: &[u8]) -> Result<Header, JoseError> {
    let malformed = |reason: String| JoseError::MalformedJson {
        part: "header",
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let Some(obj) = value.as_object() else {
        return Err(malformed("the header must be a JSON object".into()));
    };
    // RFC 7515 section 4.1.11: a recipient must reject extensions it does not understand, and
    // this implementation understands none.
    if let Some(crit) = obj.get("crit") {
        return Err(JoseError::CriticalHeader {
            names: crit.to_string(),
        });
    }
    // The typed field would silently drop a "d"; check the embedded key the strict way.
    if let Some(jwk) = obj.get("jwk") {
        Jwk::from_json_value(jwk)?;
    }
    serde_json::from_value(value).map_err(|e| malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::*;
    use serde_json::{Value, json};

    fn jwk(v: Value) -> Jwk {
        Jwk::from_json_value(&v).unwrap()
    }

    /// Builds a compact token from raw parts (for hostile inputs no signer would produce).
    fn token(header: &[u8], payload: &[u8], sig: &[u8]) -> String {
        format!("{}.{}.{}", b64e(header), b64e(payload), b64e(sig))
    }

    fn ed_key() -> SigningKey {
        SigningKey::from_private_jwk(&rfc8037_a1_private_jwk()).unwrap()
    }

    /// RFC 7515 Appendix A.3: the exact example JWS verifies with the example public key.
    #[test]
    fn rfc7515_a3_es256_example_verifies() {
        let jws = UnverifiedJws::parse(RFC7515_A3_JWS).unwrap();
        assert_eq!(jws.algorithm().unwrap(), Algorithm::ES256);
        let verified = jws.verify(&jwk(rfc7515_a3_public_jwk())).unwrap();
        let claims: Value = verified.claims().unwrap();
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1300819380);
        assert_eq!(claims["http://example.com/is_root"], true);
    }

    /// RFC 7515 Appendix A.2: the exact RS256 example JWS verifies with the example public key.
    #[test]
    fn rfc7515_a2_rs256_example_verifies() {
        let jws = UnverifiedJws::parse(RFC7515_A2_JWS).unwrap();
        assert_eq!(jws.algorithm().unwrap(), Algorithm::RS256);
        let verified = jws.verify(&jwk(rfc7515_a2_public_jwk())).unwrap();
        let claims: Value = verified.claims().unwrap();
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1300819380);
        assert_eq!(verified.header(), &Header::new(Algorithm::RS256));
    }

    /// RFC 7515 Appendix A.2 JWS with its payload altered: the RS256 signature fails.
    #[test]
    fn rfc7515_a2_tampered_payload_fails() {
        let (h, _, s) = split3(RFC7515_A2_JWS);
        let t = format!("{h}.{}.{s}", b64e(br#"{"iss":"mallory"}"#));
        assert!(matches!(
            verify_err(&t, &jwk(rfc7515_a2_public_jwk())),
            JoseError::InvalidSignature { .. }
        ));
    }

    /// An RS256 header with an EC key, and an ES256 header with an RSA key, are refused
    /// before any cryptography.
    #[test]
    fn rs256_header_must_match_the_key() {
        assert_eq!(
            verify_err(RFC7515_A2_JWS, &jwk(rfc7515_a3_public_jwk())),
            JoseError::AlgorithmMismatch {
                header: "RS256".into(),
                key: Algorithm::ES256
            }
        );
        assert_eq!(
            verify_err(RFC7515_A3_JWS, &jwk(rfc7515_a2_public_jwk())),
            JoseError::AlgorithmMismatch {
                header: "ES256".into(),
                key: Algorithm::RS256
            }
        );
    }

    /// RFC 7515 Appendix A.3 key (imported from its `d`): sign_compact -> parse -> verify.
    #[test]
    fn rfc7515_a3_key_signs_and_verifies() {
        let key = SigningKey::from_private_jwk(&rfc7515_a3_private_jwk()).unwrap();
        let token =
            sign_compact(&key, &Header::new(Algorithm::ES256), b"{\"iss\":\"joe\"}").unwrap();
        let verified = UnverifiedJws::parse(&token)
            .unwrap()
            .verify(&jwk(rfc7515_a3_public_jwk()))
            .unwrap();
        assert_eq!(verified.payload(), b"{\"iss\":\"joe\"}");
    }

    /// RFC 8037 Appendix A.4: Ed25519 is deterministic, so our compact JWS equals the RFC's.
    #[test]
    fn rfc8037_a4_signature_is_exact() {
        let token = sign_compact(
            &ed_key(),
            &Header::new(Algorithm::EdDSA),
            RFC8037_A4_PAYLOAD,
        )
        .unwrap();
        assert_eq!(token, RFC8037_A4_JWS);
    }

    /// RFC 8037 Appendix A.5: the A.4 JWS verifies with the A.2 public key.
    #[test]
    fn rfc8037_a5_verification() {
        let verified = UnverifiedJws::parse(RFC8037_A4_JWS)
            .unwrap()
            .verify(&jwk(rfc8037_a2_public_jwk()))
            .unwrap();
        assert_eq!(verified.payload(), RFC8037_A4_PAYLOAD);
        assert_eq!(verified.header(), &Header::new(Algorithm::EdDSA));
    }

    #[test]
    fn round_trip_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let mut header = Header::new(alg);
            header.kid = Some("did:web:example.com#key-1".into());
            header.typ = Some("JWT".into());
            header.extra.insert("x-custom".into(), json!(1));
            let claims = json!({"sub": "alice", "n": 1});
            let token = sign_compact(&key, &header, claims.to_string().as_bytes()).unwrap();
            let parsed = UnverifiedJws::parse(&token).unwrap();
            assert_eq!(parsed.header(), &header);
            let peek: Value = parsed.payload_unverified().unwrap();
            assert_eq!(peek, claims);
            let verified = parsed.verify(&key.public_jwk()).unwrap();
            assert_eq!(verified.claims::<Value>().unwrap(), claims);
            assert_eq!(
                verified.header().kid.as_deref(),
                Some("did:web:example.com#key-1")
            );
        }
    }

    #[test]
    fn sign_compact_writes_the_keys_alg() {
        let mut header = Header::new(Algorithm::ES256);
        header.alg = "none".into();
        let token = sign_compact(&ed_key(), &header, b"x").unwrap();
        assert_eq!(UnverifiedJws::parse(&token).unwrap().header().alg, "EdDSA");
    }

    fn verify_err(token: &str, key: &Jwk) -> JoseError {
        UnverifiedJws::parse(token)
            .unwrap()
            .verify(key)
            .unwrap_err()
    }

    #[test]
    fn alg_none_is_rejected() {
        let t = format!("{}.{}.", b64e(br#"{"alg":"none"}"#), b64e(b"{}"));
        assert_eq!(
            verify_err(&t, &jwk(rfc8037_a2_public_jwk())),
            JoseError::AlgNone
        );
    }

    #[test]
    fn hmac_is_rejected() {
        let t = token(br#"{"alg":"HS256"}"#, b"{}", &[0u8; 32]);
        assert_eq!(
            verify_err(&t, &jwk(rfc8037_a2_public_jwk())),
            JoseError::HmacAlgorithm {
                alg: "HS256".into()
            }
        );
    }

    #[test]
    fn unsupported_alg_is_rejected() {
        for alg in ["PS256", "RS384", "RS512", "PS384"] {
            let header = json!({ "alg": alg });
            let t = token(header.to_string().as_bytes(), b"{}", &[0u8; 256]);
            assert_eq!(
                verify_err(&t, &jwk(rfc7515_a2_public_jwk())),
                JoseError::UnsupportedAlgorithm { alg: alg.into() }
            );
        }
    }

    /// An ES256 header presented with an Ed25519 key is refused before any crypto runs.
    #[test]
    fn header_alg_must_match_the_key() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let t = sign_compact(&key, &Header::new(Algorithm::ES256), b"{}").unwrap();
        assert_eq!(
            verify_err(&t, &jwk(rfc8037_a2_public_jwk())),
            JoseError::AlgorithmMismatch {
                header: "ES256".into(),
                key: Algorithm::EdDSA
            }
        );
        // And the reverse: the RFC 8037 EdDSA token against the RFC 7515 P-256 key.
        assert!(matches!(
            verify_err(RFC8037_A4_JWS, &jwk(rfc7515_a3_public_jwk())),
            JoseError::AlgorithmMismatch {
                key: Algorithm::ES256,
                ..
            }
        ));
    }

    #[test]
    fn tampered_payload_fails() {
        let (h, _, s) = split3(RFC8037_A4_JWS);
        let t = format!("{h}.{}.{s}", b64e(b"Example of Ed25519 signinG"));
        assert!(matches!(
            verify_err(&t, &jwk(rfc8037_a2_public_jwk())),
            JoseError::InvalidSignature { .. }
        ));
    }

    #[test]
    fn tampered_signature_fails() {
        let (h, p, s) = split3(RFC7515_A3_JWS);
        let mut sig = b64d(s).unwrap();
        sig[40] ^= 0x80;
        let t = format!("{h}.{p}.{}", b64e(&sig));
        assert!(matches!(
            verify_err(&t, &jwk(rfc7515_a3_public_jwk())),
            JoseError::InvalidSignature { .. }
        ));
    }

    #[test]
    fn wrong_length_signature_fails() {
        let (h, p, s) = split3(RFC8037_A4_JWS);
        let mut sig = b64d(s).unwrap();
        sig.pop();
        let t = format!("{h}.{p}.{}", b64e(&sig));
        assert!(matches!(
            verify_err(&t, &jwk(rfc8037_a2_public_jwk())),
            JoseError::InvalidSignature { reason } if reason.contains("63")
        ));
    }

    fn split3(t: &str) -> (&str, &str, &str) {
        let mut it = t.split('.');
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    }

    fn parse_err(t: &str) -> JoseError {
        UnverifiedJws::parse(t).unwrap_err()
    }

    #[test]
    fn bad_base64_names_the_part() {
        let (h, p, s) = split3(RFC8037_A4_JWS);
        for (t, part) in [
            (format!("{h}!.{p}.{s}"), "header"),
            (format!("{h}.{p}=.{s}"), "payload"),
            (format!("{h}.{p}.{s}+"), "signature"),
            (format!("{h} .{p}.{s}"), "header"),
        ] {
            assert_eq!(parse_err(&t), JoseError::MalformedBase64 { part }, "{t}");
        }
    }

    #[test]
    fn bad_json_names_the_part() {
        let sig = [0u8; 64];
        for header in [&b"{\"alg\":"[..], b"[]", b"{}", br#"{"alg":5}"#, b"\xff"] {
            assert!(
                matches!(
                    parse_err(&token(header, b"{}", &sig)),
                    JoseError::MalformedJson { part: "header", .. }
                ),
                "{header:?}"
            );
        }
        let jws = UnverifiedJws::parse(&token(br#"{"alg":"EdDSA"}"#, b"{not json", &sig)).unwrap();
        assert!(matches!(
            jws.payload_unverified::<Value>(),
            Err(JoseError::MalformedJson {
                part: "payload",
                ..
            })
        ));
        // A verified token whose payload is not JSON: payload() works, claims() does not.
        let key = ed_key();
        let t = sign_compact(&key, &Header::new(Algorithm::EdDSA), b"not json").unwrap();
        let verified = UnverifiedJws::parse(&t)
            .unwrap()
            .verify(&key.public_jwk())
            .unwrap();
        assert_eq!(verified.payload(), b"not json");
        assert!(matches!(
            verified.claims::<Value>(),
            Err(JoseError::MalformedJson {
                part: "payload",
                ..
            })
        ));
    }

    #[test]
    fn segment_count_is_checked() {
        let (h, p, s) = split3(RFC8037_A4_JWS);
        assert_eq!(
            parse_err(&format!("{h}.{p}")),
            JoseError::MalformedToken { segments: 2 }
        );
        assert_eq!(parse_err(h), JoseError::MalformedToken { segments: 1 });
        assert_eq!(
            parse_err(&format!("{h}.{p}.{s}.{s}")),
            JoseError::MalformedToken { segments: 4 }
        );
        // JWE compact form has five segments.
        assert_eq!(
            parse_err("a.b.c.d.e"),
            JoseError::MalformedToken { segments: 5 }
        );
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let limit = RFC8037_A4_JWS.len();
        UnverifiedJws::parse_with_limit(RFC8037_A4_JWS, limit).unwrap();
        assert_eq!(
            UnverifiedJws::parse_with_limit(RFC8037_A4_JWS, limit - 1).unwrap_err(),
            JoseError::TokenTooLarge {
                len: limit,
                max: limit - 1
            }
        );
        let huge = "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1);
        assert!(matches!(parse_err(&huge), JoseError::TokenTooLarge { .. }));
    }

    #[test]
    fn a_one_megabyte_claim_fits_the_default_limit() {
        let key = ed_key();
        let claims = json!({"photo": "A".repeat(1024 * 1024)});
        let t = sign_compact(
            &key,
            &Header::new(Algorithm::EdDSA),
            claims.to_string().as_bytes(),
        )
        .unwrap();
        UnverifiedJws::parse(&t)
            .unwrap()
            .verify(&key.public_jwk())
            .unwrap();
    }

    #[test]
    fn critical_extensions_are_refused() {
        let t = token(
            br#"{"alg":"EdDSA","crit":["b64"],"b64":false}"#,
            b"{}",
            &[0u8; 64],
        );
        assert!(
            matches!(parse_err(&t), JoseError::CriticalHeader { names } if names.contains("b64"))
        );
    }

    #[test]
    fn embedded_header_jwk_must_be_public_and_valid() {
        let header = json!({"alg": "EdDSA", "jwk": rfc8037_a1_private_jwk()});
        let t = token(header.to_string().as_bytes(), b"{}", &[0u8; 64]);
        assert_eq!(
            parse_err(&t),
            JoseError::PrivateKeyMaterial { member: "d".into() }
        );
        let header = json!({"alg": "EdDSA", "jwk": rfc8037_a2_public_jwk()});
        let t = token(header.to_string().as_bytes(), b"{}", &[0u8; 64]);
        let parsed = UnverifiedJws::parse(&t).unwrap();
        assert_eq!(
            parsed.header().jwk.as_ref(),
            Some(&jwk(rfc8037_a2_public_jwk()))
        );
    }

    #[test]
    fn debug_output_hides_the_payload() {
        let t = token(
            br#"{"alg":"EdDSA"}"#,
            br#"{"secret":"hunter2"}"#,
            &[0u8; 64],
        );
        let parsed = UnverifiedJws::parse(&t).unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
