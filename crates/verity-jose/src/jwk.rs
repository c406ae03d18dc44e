//! Public JSON Web Keys (RFC 7517) for the three supported curves, plus RFC 7638 thumbprints.

use ring::agreement;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Algorithm, JoseError, b64d, b64e};

/// JWK members that only private (or symmetric) keys carry (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A public key as a JWK: OKP/Ed25519, EC/P-256 or EC/secp256k1.
///
/// `Deserialize` only checks structure (so a DID document listing other key types still parses);
/// untrusted input goes through [`Jwk::from_json_value`], which also validates the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `"OKP"` or `"EC"`.
    pub kty: String,
    /// Curve: `"Ed25519"`, `"P-256"` or `"secp256k1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public x coordinate (or the Ed25519 public key), unpadded base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public y coordinate for EC keys, unpadded base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Declared algorithm; if present it must agree with `kty`/`crv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; only absent or `"sig"` keys verify signatures.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// Parses and validates an untrusted public JWK; private members are refused outright.
    pub fn from_json_value(v: &serde_json::Value) -> Result<Jwk, JoseError> {
        let obj = v
            .as_object()
            .ok_or_else(|| JoseError::invalid_key("a JWK must be a JSON object"))?;
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(JoseError::PrivateKeyMaterial {
                member: (*member).to_owned(),
            });
        }
        let jwk: Jwk = serde_json::from_value(v.clone()).map_err(|e| {
            JoseError::invalid_key(format!("JWK members have the wrong shape: {e}"))
        })?;
        jwk.validate()?;
        Ok(jwk)
    }

    /// The algorithm this key is for, from `kty`/`crv` (a contradicting `alg` member is an error).
    pub fn algorithm(&self) -> Result<Algorithm, JoseError> {
        let alg = match (self.kty.as_str(), self.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
            ("EC", Some("P-256")) => Algorithm::ES256,
            ("EC", Some("secp256k1")) => Algorithm::ES256K,
            ("OKP" | "EC", Some(crv)) => {
                return Err(JoseError::invalid_key(format!(
                    "crv {crv:?} is not supported for kty {:?}",
                    self.kty
                )));
            }
            ("OKP" | "EC", None) => return Err(JoseError::invalid_key("crv is missing")),
            (kty, _) => {
                return Err(JoseError::invalid_key(format!(
                    "kty {kty:?} is not supported (supported: OKP, EC)"
                )));
            }
        };
        if let Some(declared) = &self.alg
            && declared != alg.as_str()
        {
            return Err(JoseError::invalid_key(format!(
                "the alg member {declared:?} does not match the key type ({alg})"
            )));
        }
        Ok(alg)
    }

    /// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order,
    /// base64url-encoded.
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        let alg = self.algorithm()?;
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let x = self
            .x
            .as_deref()
            .ok_or_else(|| JoseError::invalid_key("x is missing"))?;
        let canonical = match alg {
            Algorithm::EdDSA => format!(
                r#"{{"crv":{},"kty":{},"x":{}}}"#,
                q(alg.crv()),
                q(&self.kty),
                q(x)
            ),
            Algorithm::ES256 | Algorithm::ES256K => {
                let y = self
                    .y
                    .as_deref()
                    .ok_or_else(|| JoseError::invalid_key("y is missing"))?;
                format!(
                    r#"{{"crv":{},"kty":{},"x":{},"y":{}}}"#,
                    q(alg.crv()),
                    q(&self.kty),
                    q(x),
                    q(y)
                )
            }
        };
        Ok(b64e(&Sha256::digest(canonical.as_bytes())))
    }

    /// Checks that the coordinates decode, have the curve's length, and form a valid point.
    pub fn validate(&self) -> Result<(), JoseError> {
        match self.algorithm()? {
            Algorithm::EdDSA => {
                if self.y.is_some() {
                    return Err(JoseError::invalid_key("an OKP key has no y member"));
                }
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&self.ed25519_bytes()?)
                    .map_err(|_| JoseError::invalid_key("x is not a valid Ed25519 point"))?;
                // Small-order keys let one signature verify for many messages.
                if vk.is_weak() {
                    return Err(JoseError::invalid_key("x is a small-order Ed25519 point"));
                }
                Ok(())
            }
            Algorithm::ES256 => p256_check_point(&self.ec_point()?),
            Algorithm::ES256K => k256::ecdsa::VerifyingKey::from_sec1_bytes(&self.ec_point()?)
                .map(|_| ())
                .map_err(|_| JoseError::invalid_key("x/y is not a point on secp256k1")),
        }
    }

    /// The 32-byte Ed25519 public key from `x`.
    pub(crate) fn ed25519_bytes(&self) -> Result<[u8; 32], JoseError> {
        coordinate("x", self.x.as_deref())
    }

    /// The SEC 1 uncompressed point `0x04 || x || y` of an EC key.
    pub(crate) fn ec_point(&self) -> Result<[u8; 65], JoseError> {
        let x = coordinate("x", self.x.as_deref())?;
        let y = coordinate("y", self.y.as_deref())?;
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..33].copy_from_slice(&x);
        point[33..].copy_from_slice(&y);
        Ok(point)
    }

    /// A public JWK for `alg` with the given coordinates; kid/alg/use unset.
    pub(crate) fn from_parts(alg: Algorithm, x: &[u8], y: Option<&[u8]>) -> Jwk {
        Jwk {
            kty: alg.kty().to_owned(),
            crv: Some(alg.crv().to_owned()),
            x: Some(b64e(x)),
            y: y.map(b64e),
            kid: None,
            alg: None,
            use_: None,
        }
    }
}

/// Decodes one 32-byte base64url key member, naming it in any error.
pub(crate) fn coordinate(name: &str, value: Option<&str>) -> Result<[u8; 32], JoseError> {
    let value = value.ok_or_else(|| JoseError::invalid_key(format!("{name} is missing")))?;
    let bytes = b64d(value)
        .map_err(|_| JoseError::invalid_key(format!("{name} is not unpadded base64url")))?;
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| JoseError::invalid_key(format!("{name} must be 32 bytes, got {len}")))
}

/// Full SEC 1 validation of a P-256 point (coordinates below p, on the curve).
///
/// ring exposes no standalone point check, but its ECDH peer-key parser performs exactly this
/// validation before any arithmetic, so one throwaway agreement answers the question.
fn p256_check_point(point: &[u8; 65]) -> Result<(), JoseError> {
    let rng = SystemRandom::new();
    let ours = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| JoseError::invalid_key("could not check the P-256 point: no randomness"))?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, point);
    agreement::agree_ephemeral(ours, &peer, |_| ())
        .map_err(|_| JoseError::invalid_key("x/y is not a point on P-256"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 8037 Appendix A.2: the Ed25519 public key.
    pub(crate) const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    // RFC 7515 Appendix A.3.1: the P-256 public key.
    const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ed_jwk() -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X})
    }

    /// RFC 8037 Appendix A.3: the thumbprint of the A.2 public key. (RFC 7638 section 3.1's own
    /// example is an RSA key, which Verity does not support; this vector exercises the same
    /// algorithm: required members, lexicographic order, no whitespace, SHA-256, base64url.)
    #[test]
    fn rfc8037_a3_thumbprint() {
        let jwk = Jwk::from_json_value(&ed_jwk()).unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        // Optional members do not change the thumbprint (RFC 7638 section 3.2).
        let mut with_kid = jwk.clone();
        with_kid.kid = Some("some-kid".into());
        with_kid.use_ = Some("sig".into());
        assert_eq!(with_kid.thumbprint().unwrap(), jwk.thumbprint().unwrap());
    }

    /// The kid members in web5-spec `test-vectors/crypto_es256k/verify.json`
    /// (TBD54566975/web5-spec) are the keys' RFC 7638 thumbprints: an EC (x and y) check.
    #[test]
    fn secp256k1_thumbprint_matches_web5_vector_kid() {
        let jwk = Jwk::from_json_value(&json!({
            "crv": "secp256k1", "kty": "EC",
            "x": "uDj_ROW8F3vyEYnQdmCC_J2EMiaIf8l2A3EQC37iCm8",
            "y": "8MnXW_unsxpryhl0SW7rVt41cHGVXYPEsbraoLIYMuk"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "i8L_MOOCkkDoHKY1a8cXtZ2BSTLWzD29eiCUiR555ts"
        );
    }

    #[test]
    fn algorithm_follows_kty_and_crv() {
        let ed = Jwk::from_json_value(&ed_jwk()).unwrap();
        assert_eq!(ed.algorithm().unwrap(), Algorithm::EdDSA);
        let p256 = Jwk::from_json_value(&json!({
            "kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_Y
        }))
        .unwrap();
        assert_eq!(p256.algorithm().unwrap(), Algorithm::ES256);
    }

    #[test]
    fn serializes_without_absent_members_and_with_use() {
        let mut jwk = Jwk::from_json_value(&ed_jwk()).unwrap();
        assert_eq!(serde_json::to_value(&jwk).unwrap(), ed_jwk());
        jwk.use_ = Some("sig".into());
        assert_eq!(serde_json::to_value(&jwk).unwrap()["use"], "sig");
    }

    #[test]
    fn rejects_private_members() {
        for member in PRIVATE_MEMBERS {
            let mut v = ed_jwk();
            v[member] = json!("AAAA");
            assert_eq!(
                Jwk::from_json_value(&v),
                Err(JoseError::PrivateKeyMaterial {
                    member: member.to_owned()
                })
            );
        }
    }

    fn invalid(v: serde_json::Value, needle: &str) {
        match Jwk::from_json_value(&v) {
            Err(JoseError::InvalidKey { reason }) => {
                assert!(
                    reason.contains(needle),
                    "{reason:?} should mention {needle:?}"
                )
            }
            other => panic!("expected InvalidKey for {v}, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_kty_crv_and_coordinates() {
        invalid(json!("not an object"), "object");
        invalid(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), "kty");
        invalid(json!({"kty": 7}), "shape");
        invalid(
            json!({"kty": "OKP", "crv": "X25519", "x": RFC8037_X}),
            "crv",
        );
        invalid(
            json!({"kty": "EC", "x": RFC7515_A3_X, "y": RFC7515_A3_Y}),
            "crv",
        );
        invalid(json!({"kty": "OKP", "crv": "Ed25519"}), "x is missing");
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": "11qY+YKx"}),
            "base64url",
        );
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
            "32 bytes",
        );
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "y": RFC8037_X}),
            "no y",
        );
        invalid(
            json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X}),
            "y is missing",
        );
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "alg": "ES256"}),
            "alg member",
        );
    }

    #[test]
    fn rejects_off_curve_points() {
        // RFC 7515 A.3 key with the last bit of y flipped: not on P-256.
        let mut y = b64d(RFC7515_A3_Y).unwrap();
        y[31] ^= 1;
        invalid(
            json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": b64e(&y)}),
            "not a point on P-256",
        );
        // web5-spec test-vectors/crypto_es256k/verify.json, "invalid public key X > P".
        invalid(
            json!({"kty": "EC", "crv": "secp256k1",
                   "x": "_____________________________________v___DA",
                   "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}),
            "not a point on secp256k1",
        );
        // y = 2 has no x on edwards25519 (x^2 = (y^2-1)/(dy^2+1) is not a square mod p).
        let mut two = [0u8; 32];
        two[0] = 2;
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64e(&two)}),
            "not a valid Ed25519 point",
        );
        // The identity (y = 1) is a small-order Ed25519 point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64e(&identity)}),
            "small-order",
        );
    }
}
