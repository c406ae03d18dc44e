//! Public JSON Web Keys (RFC 7517) for the three supported curves and RSA (verification only),
//! plus RFC 7638 thumbprints.

use ring::agreement;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Algorithm, JoseError, b64d, b64e};

/// JWK members that only private (or symmetric) keys carry (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Smallest RSA modulus accepted, in bits: below this RSA is not considered secure.
pub(crate) const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits: bounds the verification cost a JWKS can impose.
pub(crate) const RSA_MAX_BITS: usize = 8192;
/// Largest RSA public exponent accepted (2^33 - 1, the verifier backend's limit).
const RSA_MAX_E: u64 = (1 << 33) - 1;

/// A public key as a JWK: OKP/Ed25519, EC/P-256, EC/secp256k1 or RSA (verification only).
///
/// `Deserialize` only checks structure (so a DID document listing other key types still parses);
/// untrusted input goes through [`Jwk::from_json_value`], which also validates the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `"OKP"`, `"EC"` or `"RSA"`.
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
    /// RSA modulus, big-endian unpadded base64url (RFC 7518 section 6.3.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, big-endian unpadded base64url (RFC 7518 section 6.3.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
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
    ///
    /// RSA keys are for RS256, the one RSA algorithm Verity verifies.
    pub fn algorithm(&self) -> Result<Algorithm, JoseError> {
        let alg = match (self.kty.as_str(), self.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
            ("EC", Some("P-256")) => Algorithm::ES256,
            ("EC", Some("secp256k1")) => Algorithm::ES256K,
            ("EC", Some("P-384")) => Algorithm::ES384,
            ("EC", Some("P-521")) => Algorithm::ES512,
            ("RSA", None) => Algorithm::RS256,
            ("RSA", Some(_)) => return Err(JoseError::invalid_key("an RSA key has no crv member")),
            ("OKP" | "EC", Some(crv)) => {
                return Err(JoseError::invalid_key(format!(
                    "crv {crv:?} is not supported for kty {:?}",
                    self.kty
                )));
            }
            ("OKP" | "EC", None) => return Err(JoseError::invalid_key("crv is missing")),
            (kty, _) => {
                return Err(JoseError::invalid_key(format!(
                    "kty {kty:?} is not supported (supported: OKP, EC, RSA)"
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
        let member = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(q)
                .ok_or_else(|| JoseError::invalid_key(format!("{name} is missing")))
        };
        let crv = q(alg.crv().unwrap_or_default());
        let canonical = match alg {
            Algorithm::EdDSA => format!(
                r#"{{"crv":{crv},"kty":{},"x":{}}}"#,
                q(&self.kty),
                member("x", &self.x)?
            ),
            Algorithm::ES256 | Algorithm::ES256K | Algorithm::ES384 | Algorithm::ES512 => format!(
                r#"{{"crv":{crv},"kty":{},"x":{},"y":{}}}"#,
                q(&self.kty),
                member("x", &self.x)?,
                member("y", &self.y)?
            ),
            // RFC 7638 section 3.2: the required RSA members are e, kty and n.
            Algorithm::RS256 => format!(
                r#"{{"e":{},"kty":{},"n":{}}}"#,
                member("e", &self.e)?,
                q(&self.kty),
                member("n", &self.n)?
            ),
        };
        Ok(b64e(&Sha256::digest(canonical.as_bytes())))
    }

    /// Checks that the coordinates decode, have the curve's length, and form a valid point;
    /// for RSA, that `n` is a 2048- to 8192-bit odd modulus and `e` an exponent RS256 accepts.
    pub fn validate(&self) -> Result<(), JoseError> {
        let alg = self.algorithm()?;
        if alg == Algorithm::RS256 {
            if self.x.is_some() || self.y.is_some() {
                return Err(JoseError::invalid_key("an RSA key has no x or y member"));
            }
            return self.rsa_components().map(|_| ());
        }
        if self.n.is_some() || self.e.is_some() {
            return Err(JoseError::invalid_key(format!(
                "a {} key has no n or e member",
                self.kty
            )));
        }
        match alg {
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
            Algorithm::ES384 => p384_check_point(&self.ec_point_of(P384_COORDINATE)?),
            Algorithm::ES512 => {
                p521::ecdsa::VerifyingKey::from_sec1_bytes(&self.ec_point_of(P521_COORDINATE)?)
                    .map(|_| ())
                    .map_err(|_| JoseError::invalid_key("x/y is not a point on P-521"))
            }
            Algorithm::RS256 => Ok(()),
        }
    }

    /// The RSA modulus and public exponent, big-endian, checked for what RS256 verification
    /// accepts (RFC 7518 sections 3.3 and 6.3.1).
    pub(crate) fn rsa_components(&self) -> Result<(Vec<u8>, Vec<u8>), JoseError> {
        let n = rsa_integer("n", self.n.as_deref())?;
        let bits = bit_length(&n);
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(JoseError::invalid_key(format!(
                "the RSA modulus n is {bits} bits; it must be {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"
            )));
        }
        if n.last().is_some_and(|b| b & 1 == 0) {
            return Err(JoseError::invalid_key(
                "the RSA modulus n is even, so it is not an RSA modulus",
            ));
        }
        let e = rsa_integer("e", self.e.as_deref())?;
        let value = (e.len() <= 8)
            .then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            .filter(|v| (3..=RSA_MAX_E).contains(v) && v & 1 == 1);
        if value.is_none() {
            return Err(JoseError::invalid_key(
                "the RSA exponent e must be odd and between 3 and 2^33 - 1",
            ));
        }
        Ok((n, e))
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

    /// The SEC 1 uncompressed point of an EC key on a curve whose coordinates are `len` bytes
    /// (48 for P-384, 66 for P-521).
    pub(crate) fn ec_point_of(&self, len: usize) -> Result<Vec<u8>, JoseError> {
        let x = coordinate_of("x", self.x.as_deref(), len)?;
        let y = coordinate_of("y", self.y.as_deref(), len)?;
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        Ok(point)
    }

    /// A public JWK for `alg` with the given coordinates; kid/alg/use unset.
    pub(crate) fn from_parts(alg: Algorithm, x: &[u8], y: Option<&[u8]>) -> Jwk {
        Jwk {
            kty: alg.kty().to_owned(),
            crv: alg.crv().map(str::to_owned),
            x: Some(b64e(x)),
            y: y.map(b64e),
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        }
    }
}

/// Decodes one 32-byte base64url key member, naming it in any error.
pub(crate) fn coordinate(name: &str, value: Option<&str>) -> Result<[u8; 32], JoseError> {
    let bytes = coordinate_of(name, value, 32)?;
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| JoseError::invalid_key(format!("{name} must be 32 bytes")))
}

/// P-384 coordinates are 48 bytes (RFC 7518 section 6.2.1.2: the full field size).
pub(crate) const P384_COORDINATE: usize = 48;
/// P-521 coordinates are 66 bytes.
pub(crate) const P521_COORDINATE: usize = 66;

/// Decodes a base64url coordinate that must be exactly `len` bytes.
fn coordinate_of(name: &str, value: Option<&str>, len: usize) -> Result<Vec<u8>, JoseError> {
    let value = value.ok_or_else(|| JoseError::invalid_key(format!("{name} is missing")))?;
    let bytes = b64d(value)
        .map_err(|_| JoseError::invalid_key(format!("{name} is not unpadded base64url")))?;
    if bytes.len() != len {
        return Err(JoseError::invalid_key(format!(
            "{name} must be {len} bytes, got {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes an RSA integer member: unpadded base64url, non-empty, and in the minimum number of
/// octets (RFC 7518 section 6.3.1: no leading zero octet).
fn rsa_integer(name: &str, value: Option<&str>) -> Result<Vec<u8>, JoseError> {
    let value = value.ok_or_else(|| JoseError::invalid_key(format!("{name} is missing")))?;
    let bytes = b64d(value)
        .map_err(|_| JoseError::invalid_key(format!("{name} is not unpadded base64url")))?;
    match bytes.first() {
        None => Err(JoseError::invalid_key(format!("{name} is empty"))),
        Some(0) => Err(JoseError::invalid_key(format!(
            "{name} has a leading zero octet (RFC 7518 section 6.3.1 requires the minimum length)"
        ))),
        Some(_) => Ok(bytes),
    }
}

/// The bit length of a big-endian integer without leading zero octets.
fn bit_length(bytes: &[u8]) -> usize {
    let top = bytes.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
    bytes.len().saturating_sub(1) * 8 + top
}

/// Full SEC 1 validation of a P-256 point (coordinates below p, on the curve).
///
/// ring exposes no standalone point check, but its ECDH peer-key parser performs exactly this
/// validation before any arithmetic, so one throwaway agreement answers the question.
fn p256_check_point(point: &[u8; 65]) -> Result<(), JoseError> {
    nist_check_point(&agreement::ECDH_P256, "P-256", point)
}

fn p384_check_point(point: &[u8]) -> Result<(), JoseError> {
    nist_check_point(&agreement::ECDH_P384, "P-384", point)
}

/// ring validates a peer's point fully before an ECDH agreement, and has no other public
/// point check: agree with a throwaway key and discard the result.
fn nist_check_point(
    curve: &'static agreement::Algorithm,
    name: &str,
    point: &[u8],
) -> Result<(), JoseError> {
    let rng = SystemRandom::new();
    let ours = agreement::EphemeralPrivateKey::generate(curve, &rng).map_err(|_| {
        JoseError::invalid_key(format!("could not check the {name} point: no randomness"))
    })?;
    let peer = agreement::UnparsedPublicKey::new(curve, point);
    agreement::agree_ephemeral(ours, &peer, |_| ())
        .map_err(|_| JoseError::invalid_key(format!("x/y is not a point on {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::*;
    use serde_json::json;

    // RFC 8037 Appendix A.2: the Ed25519 public key.
    pub(crate) const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    // RFC 7515 Appendix A.3.1: the P-256 public key.
    const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ed_jwk() -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X})
    }

    /// RFC 8037 Appendix A.3: the thumbprint of the A.2 public key (an OKP key).
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

    /// RFC 7638 section 3.1: the RSA example key's thumbprint (members e, kty, n); its `alg` and
    /// `kid` members are optional and do not change it.
    #[test]
    fn rfc7638_s3_1_rsa_thumbprint() {
        let jwk = Jwk::from_json_value(&rfc7638_example_jwk()).unwrap();
        assert_eq!(jwk.algorithm().unwrap(), Algorithm::RS256);
        assert_eq!(jwk.thumbprint().unwrap(), RFC7638_THUMBPRINT);
        let mut bare = jwk.clone();
        bare.kid = None;
        bare.alg = None;
        assert_eq!(bare.thumbprint().unwrap(), RFC7638_THUMBPRINT);
        bare.e = None;
        assert!(matches!(
            bare.thumbprint(),
            Err(JoseError::InvalidKey { reason }) if reason.contains("e is missing")
        ));
    }

    /// RFC 7515 Appendix A.2.1: the RS256 example public key parses, validates and
    /// serializes back to exactly its members.
    #[test]
    fn rfc7515_a2_rsa_key_round_trips() {
        let jwk = Jwk::from_json_value(&rfc7515_a2_public_jwk()).unwrap();
        assert_eq!(jwk.algorithm().unwrap(), Algorithm::RS256);
        assert_eq!(jwk.crv, None);
        assert_eq!(serde_json::to_value(&jwk).unwrap(), rfc7515_a2_public_jwk());
        let (n, e) = jwk.rsa_components().unwrap();
        assert_eq!(bit_length(&n), 2048);
        assert_eq!(e, [1, 0, 1]);
    }

    #[test]
    fn bit_length_counts_from_the_top_set_bit() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f, 0xff]), 15);
    }

    #[test]
    fn rsa_private_keys_are_refused() {
        assert_eq!(
            Jwk::from_json_value(&rfc7515_a2_private_jwk()),
            Err(JoseError::PrivateKeyMaterial { member: "d".into() })
        );
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            let mut v = rfc7515_a2_public_jwk();
            v[member] = rfc7515_a2_private_jwk()
                .get(member)
                .cloned()
                .unwrap_or(json!([]));
            assert_eq!(
                Jwk::from_json_value(&v),
                Err(JoseError::PrivateKeyMaterial {
                    member: member.to_owned()
                }),
                "{member}"
            );
        }
    }

    /// An RSA public JWK with the given modulus bytes and exponent (A.2's members otherwise).
    fn rsa_jwk(n: &[u8], e: &str) -> serde_json::Value {
        json!({"kty": "RSA", "n": b64e(n), "e": e})
    }

    #[test]
    fn rsa_moduli_outside_2048_to_8192_bits_are_refused() {
        // A 1024-bit odd modulus (top bit set).
        let mut n1024 = vec![0xc5u8; 128];
        n1024[127] = 0x01;
        invalid(rsa_jwk(&n1024, "AQAB"), "1024 bits");
        // 2047 bits: the top byte has only 7 significant bits.
        let mut n2047 = b64d(rfc7515_a2_public_jwk()["n"].as_str().unwrap()).unwrap();
        n2047[0] = 0x7f;
        invalid(rsa_jwk(&n2047, "AQAB"), "2047 bits");
        // 8200 bits.
        let mut huge = vec![0xffu8; 1025];
        huge[0] = 0xff;
        invalid(rsa_jwk(&huge, "AQAB"), "8200 bits");
        // Exactly 8192 bits is accepted.
        let max = vec![0xffu8; 1024];
        Jwk::from_json_value(&rsa_jwk(&max, "AQAB")).unwrap();
    }

    #[test]
    fn rejects_malformed_rsa_members() {
        let a2 = rfc7515_a2_public_jwk();
        let n = a2["n"].as_str().unwrap();
        let mut v = a2.clone();
        v.as_object_mut().unwrap().remove("n");
        invalid(v, "n is missing");
        let mut v = a2.clone();
        v.as_object_mut().unwrap().remove("e");
        invalid(v, "e is missing");
        invalid(
            json!({"kty": "RSA", "n": format!("{n}="), "e": "AQAB"}),
            "n is not unpadded base64url",
        );
        invalid(
            json!({"kty": "RSA", "n": n, "e": "AQ+B"}),
            "e is not unpadded base64url",
        );
        invalid(json!({"kty": "RSA", "n": "", "e": "AQAB"}), "n is empty");
        let mut padded = vec![0u8];
        padded.extend(b64d(n).unwrap());
        invalid(rsa_jwk(&padded, "AQAB"), "n has a leading zero");
        invalid(
            json!({"kty": "RSA", "n": n, "e": "AAEAAQ"}),
            "e has a leading zero",
        );
        let mut even = b64d(n).unwrap();
        *even.last_mut().unwrap() &= 0xfe;
        invalid(rsa_jwk(&even, "AQAB"), "even");
        for e in [
            b64e(&[1]),
            b64e(&[2]),
            b64e(&[1, 0, 0]),
            b64e(&[2, 0, 0, 0, 1]),
            b64e(&[1; 9]),
        ] {
            invalid(json!({"kty": "RSA", "n": n, "e": e}), "exponent e");
        }
        invalid(
            json!({"kty": "RSA", "crv": "P-256", "n": n, "e": "AQAB"}),
            "no crv",
        );
        invalid(
            json!({"kty": "RSA", "n": n, "e": "AQAB", "x": RFC8037_X}),
            "no x or y",
        );
        invalid(
            json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "PS256"}),
            "alg member",
        );
        invalid(
            json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "n": n}),
            "no n or e",
        );
        invalid(
            json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_Y, "e": "AQAB"}),
            "no n or e",
        );
        // The largest exponent RS256 verification accepts is 2^33 - 1.
        Jwk::from_json_value(
            &json!({"kty": "RSA", "n": n, "e": b64e(&[1, 0xff, 0xff, 0xff, 0xff])}),
        )
        .unwrap();
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
        invalid(json!({"kty": "oct"}), "kty");
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
