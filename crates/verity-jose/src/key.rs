//! Private signing keys and raw signature verification, one backend per curve:
//! ring for P-256, P-384 and RSA, ed25519-dalek for Ed25519, k256 for secp256k1, p521 for P-521.
//!
//! RSA (RS256), ES384 and ES512 are verification only: Verity verifies OpenID Connect
//! providers' id_tokens and other issuers' credentials but never holds such a private key.

use std::fmt;

use k256::ecdsa::signature::{Signer as _, Verifier as _};
use rand_core::OsRng;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    EcdsaKeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use zeroize::{Zeroize, Zeroizing};

use crate::jwk::{P384_COORDINATE, P521_COORDINATE, coordinate};
use crate::{Algorithm, JoseError, Jwk};

/// Every signing algorithm's JWS signature is 64 bytes: Ed25519's, or ECDSA `r || s`.
/// (An RS256 signature is as long as the key's modulus.)
pub(crate) const SIGNATURE_LEN: usize = 64;

/// ring's PKCS#8 v1 layout for P-256 (RFC 5958 `OneAsymmetricKey` wrapping an RFC 5915
/// `ECPrivateKey` without parameters): `PREFIX || d || MIDDLE || 0x04 || x || y`.
const P256_PKCS8_PREFIX: [u8; 36] = [
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
    0x01, 0x01, 0x04, 0x20,
];
const P256_PKCS8_MIDDLE: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];

enum Inner {
    Ed25519(ed25519_dalek::SigningKey),
    P256 {
        pair: EcdsaKeyPair,
        pkcs8: Zeroizing<Vec<u8>>,
    },
    Secp256k1(k256::ecdsa::SigningKey),
}

/// A private signing key for one of the signing algorithms ([`Algorithm::ALL`]; RS256 is
/// verify-only and has no signing key).
///
/// Debug output shows only the algorithm. The Ed25519 and secp256k1 backends zeroize their
/// scalars on drop, and so does the kept P-256 PKCS#8 copy; ring's own P-256 state is opaque.
///
/// Secret-bytes format (stable; see [`SigningKey::to_secret_bytes`]):
/// - `EdDSA`: the 32-byte RFC 8032 private key (seed), as JWK `d` holds it.
/// - `ES256K`: the 32-byte big-endian private scalar, as JWK `d` holds it.
/// - `ES256`: a 138-byte PKCS#8 v1 DER document (RFC 5958 wrapping an RFC 5915 `ECPrivateKey`
///   with the public key and no parameters), the form ring generates and loads. It carries the
///   public point too, because ring cannot derive it from the scalar.
pub struct SigningKey {
    inner: Inner,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// A fresh random key from the operating system's CSPRNG; RS256 is refused (verify-only).
    pub fn generate(alg: Algorithm) -> Result<SigningKey, JoseError> {
        let inner = match alg {
            Algorithm::RS256 | Algorithm::ES384 | Algorithm::ES512 => {
                return Err(JoseError::VerifyOnlyAlgorithm { alg });
            }
            Algorithm::EdDSA => Inner::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            Algorithm::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| JoseError::Signing {
                    reason: "P-256 key generation failed".into(),
                })?;
                return p256_from_pkcs8(doc.as_ref());
            }
            Algorithm::ES256K => Inner::Secp256k1(k256::ecdsa::SigningKey::random(&mut OsRng)),
        };
        Ok(SigningKey { inner })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Ed25519(_) => Algorithm::EdDSA,
            Inner::P256 { .. } => Algorithm::ES256,
            Inner::Secp256k1(_) => Algorithm::ES256K,
        }
    }

    /// The matching public JWK; `kid`, `alg` and `use` are left for the caller.
    pub fn public_jwk(&self) -> Jwk {
        let alg = self.algorithm();
        match &self.inner {
            Inner::Ed25519(sk) => Jwk::from_parts(alg, sk.verifying_key().as_bytes(), None),
            Inner::P256 { pair, .. } => ec_jwk(alg, pair.public_key().as_ref()),
            Inner::Secp256k1(sk) => {
                ec_jwk(alg, sk.verifying_key().to_encoded_point(false).as_bytes())
            }
        }
    }

    /// The private key in the documented per-algorithm format (see the type docs).
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match &self.inner {
            Inner::Ed25519(sk) => Zeroizing::new(sk.as_bytes().to_vec()),
            Inner::P256 { pkcs8, .. } => pkcs8.clone(),
            Inner::Secp256k1(sk) => {
                let mut scalar = sk.to_bytes();
                let out = Zeroizing::new(scalar.to_vec());
                scalar.as_mut_slice().zeroize();
                out
            }
        }
    }

    /// Loads a key written by [`SigningKey::to_secret_bytes`]; RS256 is refused (verify-only).
    pub fn from_secret_bytes(alg: Algorithm, bytes: &[u8]) -> Result<SigningKey, JoseError> {
        match alg {
            Algorithm::RS256 | Algorithm::ES384 | Algorithm::ES512 => {
                Err(JoseError::VerifyOnlyAlgorithm { alg })
            }
            Algorithm::EdDSA => {
                let sk = ed25519_dalek::SigningKey::from_bytes(&*secret32(alg, bytes)?);
                Ok(SigningKey {
                    inner: Inner::Ed25519(sk),
                })
            }
            Algorithm::ES256 => p256_from_pkcs8(bytes),
            Algorithm::ES256K => {
                let scalar = secret32(alg, bytes)?;
                let sk = k256::ecdsa::SigningKey::from_slice(&*scalar).map_err(|_| {
                    JoseError::invalid_key("secp256k1 scalar is zero or not below the group order")
                })?;
                Ok(SigningKey {
                    inner: Inner::Secp256k1(sk),
                })
            }
        }
    }

    /// Imports a private JWK (with `d`); the public members must match the private key.
    ///
    /// RSA private JWKs are refused: RS256 is verify-only.
    pub fn from_private_jwk(v: &serde_json::Value) -> Result<SigningKey, JoseError> {
        if v.get("kty").and_then(serde_json::Value::as_str) == Some("RSA") {
            return Err(JoseError::VerifyOnlyAlgorithm {
                alg: Algorithm::RS256,
            });
        }
        let mut public = v.clone();
        let d = public
            .as_object_mut()
            .ok_or_else(|| JoseError::invalid_key("a JWK must be a JSON object"))?
            .remove("d")
            .ok_or_else(|| JoseError::invalid_key("d is missing: not a private JWK"))?;
        // Validates kty/crv/x/y and refuses any other private member.
        let jwk = Jwk::from_json_value(&public)?;
        let alg = jwk.algorithm()?;
        if !alg.can_sign() {
            return Err(JoseError::VerifyOnlyAlgorithm { alg });
        }
        let d = d
            .as_str()
            .ok_or_else(|| JoseError::invalid_key("d must be a string"))?;
        let d = Zeroizing::new(coordinate("d", Some(d))?);
        let key = match alg {
            Algorithm::ES256 => {
                // ring checks that d and the point agree when it loads the document.
                p256_from_pkcs8(&p256_pkcs8(&d, &jwk.ec_point()?))?
            }
            Algorithm::EdDSA
            | Algorithm::ES256K
            | Algorithm::RS256
            | Algorithm::ES384
            | Algorithm::ES512 => SigningKey::from_secret_bytes(alg, &*d)?,
        };
        let derived = key.public_jwk();
        if derived.x != jwk.x || derived.y != jwk.y {
            return Err(JoseError::invalid_key(
                "d does not belong to the public key in x/y",
            ));
        }
        Ok(key)
    }

    /// Signs `message`, returning the raw JWS signature (64 bytes for every signing alg).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.inner {
            Inner::Ed25519(sk) => Ok(sk.sign(message).to_bytes().to_vec()),
            Inner::P256 { pair, .. } => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| JoseError::Signing {
                    reason: "P-256 signing failed".into(),
                }),
            Inner::Secp256k1(sk) => {
                // RFC 6979 deterministic nonce; k256 emits low-S.
                let sig: k256::ecdsa::Signature =
                    sk.try_sign(message).map_err(|e| JoseError::Signing {
                        reason: format!("secp256k1 signing failed: {e}"),
                    })?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}

/// Verifies a raw JWS `signature` over `message` with `key`; the algorithm comes from the key.
pub fn verify_signature(key: &Jwk, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
    if let Some(use_) = &key.use_
        && use_ != "sig"
    {
        return Err(JoseError::invalid_key(format!(
            "the key's use is {use_:?}, not \"sig\""
        )));
    }
    let alg = key.algorithm()?;
    let expected_len = match alg {
        Algorithm::RS256 => return verify_rs256(key, message, signature),
        Algorithm::ES384 => 2 * P384_COORDINATE,
        Algorithm::ES512 => 2 * P521_COORDINATE,
        Algorithm::EdDSA | Algorithm::ES256 | Algorithm::ES256K => SIGNATURE_LEN,
    };
    if signature.len() != expected_len {
        return Err(JoseError::invalid_signature(format!(
            "an {alg} signature is {expected_len} bytes, this one is {}",
            signature.len()
        )));
    }
    match alg {
        Algorithm::EdDSA => {
            let vk = parsed::ed25519(&key.ed25519_bytes()?)?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| JoseError::invalid_signature("not an Ed25519 signature"))?;
            // Strict: rejects small-order keys and non-canonical R, per RFC 8032 section 5.1.7.
            vk.verify_strict(message, &sig)
                .map_err(|_| JoseError::invalid_signature("EdDSA signature does not verify"))
        }
        Algorithm::ES256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.ec_point()?)
            .verify(message, signature)
            .map_err(|_| JoseError::invalid_signature("ES256 signature does not verify")),
        Algorithm::ES256K => {
            let vk = parsed::secp256k1(&key.ec_point()?)?;
            let sig = k256::ecdsa::Signature::from_slice(signature).map_err(|_| {
                JoseError::invalid_signature("r or s is zero or not below the group order")
            })?;
            // k256 accepts only low-S, but OpenSSL (and so many issuers) emit high-S half the
            // time; both are valid ECDSA, so normalise before verifying.
            let sig = sig.normalize_s().unwrap_or(sig);
            vk.verify(message, &sig)
                .map_err(|_| JoseError::invalid_signature("ES256K signature does not verify"))
        }
        Algorithm::ES384 => {
            UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, key.ec_point_of(P384_COORDINATE)?)
                .verify(message, signature)
                .map_err(|_| JoseError::invalid_signature("ES384 signature does not verify"))
        }
        Algorithm::ES512 => {
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(&key.ec_point_of(P521_COORDINATE)?)
                .map_err(|_| JoseError::invalid_key("x/y is not a point on P-521"))?;
            let sig = p521::ecdsa::Signature::from_slice(signature).map_err(|_| {
                JoseError::invalid_signature("r or s is zero or not below the group order")
            })?;
            // Like ES256K, accept high-S: JWS does not require low-S and other signers emit it.
            let sig = sig.normalize_s().unwrap_or(sig);
            vk.verify(message, &sig)
                .map_err(|_| JoseError::invalid_signature("ES512 signature does not verify"))
        }
        Algorithm::RS256 => verify_rs256(key, message, signature),
    }
}

/// Public keys parsed once per process, by their bytes: decompressing an Ed25519 point or
/// validating a secp256k1 point costs a sizeable part of the verification it serves, and
/// issuers' (and returning holders') keys verify the same bytes again and again. The same
/// bytes always parse to the same key, so nothing here is ever stale; the maps are bounded
/// and start over when full. (ring's P-256 API takes the raw point on every verification and
/// has no parsed public-key type, so ES256 keys are not cached.)
mod parsed {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use crate::JoseError;

    /// Keys remembered per curve at most.
    const MAX_KEYS: usize = 4_096;

    fn cached<K: std::hash::Hash + Eq, V: Clone>(
        map: &'static OnceLock<Mutex<HashMap<K, V>>>,
        key: K,
        parse: impl FnOnce() -> Result<V, JoseError>,
    ) -> Result<V, JoseError> {
        let map = map.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(v) = map.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(v.clone());
        }
        // Parsed outside the lock; an invalid key is never remembered.
        let v = parse()?;
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_KEYS {
            m.clear();
        }
        m.insert(key, v.clone());
        Ok(v)
    }

    pub(super) fn ed25519(x: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey, JoseError> {
        static KEYS: OnceLock<Mutex<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>> =
            OnceLock::new();
        cached(&KEYS, *x, || {
            ed25519_dalek::VerifyingKey::from_bytes(x)
                .map_err(|_| JoseError::invalid_key("x is not a valid Ed25519 point"))
        })
    }

    pub(super) fn secp256k1(point: &[u8; 65]) -> Result<k256::ecdsa::VerifyingKey, JoseError> {
        static KEYS: OnceLock<Mutex<HashMap<Vec<u8>, k256::ecdsa::VerifyingKey>>> = OnceLock::new();
        cached(&KEYS, point.to_vec(), || {
            k256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| JoseError::invalid_key("x/y is not a point on secp256k1"))
        })
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        use super::*;

        #[test]
        fn invalid_keys_are_refused_every_time_and_valid_ones_parse_the_same() {
            // Not a point on the curve (y^2 = x^3 + 7 fails): refused, and not remembered.
            let mut bad = [0u8; 65];
            bad[0] = 0x04;
            bad[64] = 5;
            for _ in 0..2 {
                assert!(secp256k1(&bad).is_err());
            }
            let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
            let x = signing.verifying_key().to_bytes();
            assert_eq!(ed25519(&x).unwrap(), signing.verifying_key());
            assert_eq!(
                ed25519(&x).unwrap(),
                signing.verifying_key(),
                "from the cache"
            );
        }
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3) against a validated RSA key.
fn verify_rs256(key: &Jwk, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
    let (n, e) = key.rsa_components()?;
    // RFC 8017 section 8.2.2: the signature is exactly as long as the modulus.
    if signature.len() != n.len() {
        return Err(JoseError::invalid_signature(format!(
            "an RS256 signature is as long as the modulus ({} bytes), this one is {}",
            n.len(),
            signature.len()
        )));
    }
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| JoseError::invalid_signature("RS256 signature does not verify"))
}

fn secret32(alg: Algorithm, bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, JoseError> {
    <[u8; 32]>::try_from(bytes)
        .map(Zeroizing::new)
        .map_err(|_| {
            JoseError::invalid_key(format!(
                "an {alg} secret key is 32 bytes, this one is {}",
                bytes.len()
            ))
        })
}

/// Builds an EC JWK from a 65-byte SEC 1 uncompressed point.
fn ec_jwk(alg: Algorithm, point: &[u8]) -> Jwk {
    // 0x04 || x || y, with x and y the same length.
    let coords = point.get(1..).unwrap_or_default();
    let (x, y) = coords.split_at(coords.len() / 2);
    Jwk::from_parts(alg, x, Some(y))
}

fn p256_pkcs8(d: &[u8; 32], point: &[u8; 65]) -> Zeroizing<Vec<u8>> {
    let mut doc = Zeroizing::new(Vec::with_capacity(138));
    doc.extend_from_slice(&P256_PKCS8_PREFIX);
    doc.extend_from_slice(d);
    doc.extend_from_slice(&P256_PKCS8_MIDDLE);
    doc.extend_from_slice(point);
    doc
}

fn p256_from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, JoseError> {
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
    .map_err(|e| JoseError::invalid_key(format!("P-256 PKCS#8 key rejected: {e}")))?;
    Ok(SigningKey {
        inner: Inner::P256 {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::*;
    use serde_json::json;

    fn jwk(v: serde_json::Value) -> Jwk {
        Jwk::from_json_value(&v).unwrap()
    }

    fn es256k_jwk(x: &str, y: &str) -> Jwk {
        jwk(json!({"kty": "EC", "crv": "secp256k1", "x": x, "y": y}))
    }

    /// RFC 7515 Appendix A.3: the example private key imports, matches the example public key,
    /// and signs something the public key verifies.
    #[test]
    fn rfc7515_a3_private_key_round_trips() {
        let key = SigningKey::from_private_jwk(&rfc7515_a3_private_jwk()).unwrap();
        assert_eq!(key.algorithm(), Algorithm::ES256);
        let public = jwk(rfc7515_a3_public_jwk());
        assert_eq!(key.public_jwk(), public);
        let sig = key.sign(b"payload").unwrap();
        assert_eq!(sig.len(), 64);
        verify_signature(&public, b"payload", &sig).unwrap();
        assert!(verify_signature(&public, b"payloaD", &sig).is_err());
    }

    /// RFC 8037 Appendix A.1/A.2: the private key's public half is the A.2 key.
    #[test]
    fn rfc8037_a1_private_key_has_a2_public_key() {
        let key = SigningKey::from_private_jwk(&rfc8037_a1_private_jwk()).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EdDSA);
        assert_eq!(key.public_jwk(), jwk(rfc8037_a2_public_jwk()));
    }

    /// web5-spec `test-vectors/crypto_es256k/verify.json`: every vector's expected outcome.
    #[test]
    fn web5_es256k_verify_vectors() {
        for v in &WEB5_ES256K_VERIFY {
            let key = es256k_jwk(v.x, v.y);
            let data = hex::decode(v.data_hex).unwrap();
            let sig = hex::decode(v.signature_hex).unwrap();
            let result = verify_signature(&key, &data, &sig);
            if v.valid {
                assert_eq!(result, Ok(()), "{}", v.description);
            } else {
                assert!(
                    matches!(result, Err(JoseError::InvalidSignature { .. })),
                    "{}: {result:?}",
                    v.description
                );
            }
        }
    }

    /// The web5 "high-S" vector really is high-S: k256 alone rejects it, so the normalisation
    /// step is what makes it verify.
    #[test]
    fn web5_high_s_vector_needs_normalisation() {
        let v = &WEB5_ES256K_VERIFY[2];
        let sig =
            k256::ecdsa::Signature::from_slice(&hex::decode(v.signature_hex).unwrap()).unwrap();
        assert!(sig.normalize_s().is_some(), "vector must be high-S");
        let vk =
            k256::ecdsa::VerifyingKey::from_sec1_bytes(&es256k_jwk(v.x, v.y).ec_point().unwrap())
                .unwrap();
        assert!(vk.verify(&hex::decode(v.data_hex).unwrap(), &sig).is_err());
    }

    /// A high-S signature made by negating s of one of ours verifies after normalisation.
    #[test]
    fn es256k_high_s_is_accepted() {
        let key = SigningKey::generate(Algorithm::ES256K).unwrap();
        let low = k256::ecdsa::Signature::from_slice(&key.sign(b"msg").unwrap()).unwrap();
        assert!(low.normalize_s().is_none(), "k256 signs low-S");
        let (r, s) = low.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -s).unwrap();
        assert!(high.normalize_s().is_some(), "negated s is high");
        verify_signature(&key.public_jwk(), b"msg", &high.to_bytes()).unwrap();
        assert!(verify_signature(&key.public_jwk(), b"msh", &high.to_bytes()).is_err());
    }

    /// web5-spec's private ES256K vector key imports, and its public half is the vector's.
    #[test]
    fn es256k_private_jwk_imports() {
        let v = web5_es256k_private_jwk();
        let key = SigningKey::from_private_jwk(&v).unwrap();
        let public = key.public_jwk();
        assert_eq!(public.x.as_deref(), v["x"].as_str());
        assert_eq!(public.y.as_deref(), v["y"].as_str());
        let sig = key.sign(b"hello").unwrap();
        verify_signature(&public, b"hello", &sig).unwrap();
        // RFC 6979: the same message gives the same signature.
        assert_eq!(key.sign(b"hello").unwrap(), sig);
    }

    #[test]
    fn secret_bytes_round_trip_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let bytes = key.to_secret_bytes();
            let expected_len = if alg == Algorithm::ES256 { 138 } else { 32 };
            assert_eq!(bytes.len(), expected_len, "{alg}");
            let back = SigningKey::from_secret_bytes(alg, &bytes).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.public_jwk(), key.public_jwk());
            assert_eq!(*back.to_secret_bytes(), *bytes);
            let sig = back.sign(b"m").unwrap();
            verify_signature(&key.public_jwk(), b"m", &sig).unwrap();
            // Generated public keys pass full validation.
            key.public_jwk().validate().unwrap();
        }
    }

    /// Our PKCS#8 builder produces exactly the document ring generates.
    #[test]
    fn p256_pkcs8_layout_matches_ring() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let doc = key.to_secret_bytes();
        let d: [u8; 32] = doc[36..68].try_into().unwrap();
        let point = key.public_jwk().ec_point().unwrap();
        assert_eq!(*p256_pkcs8(&d, &point), *doc);
    }

    #[test]
    fn secret_bytes_are_checked() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256K] {
            assert!(matches!(
                SigningKey::from_secret_bytes(alg, &[7u8; 31]),
                Err(JoseError::InvalidKey { .. })
            ));
        }
        assert!(matches!(
            SigningKey::from_secret_bytes(Algorithm::ES256K, &[0u8; 32]),
            Err(JoseError::InvalidKey { .. })
        ));
        assert!(matches!(
            SigningKey::from_secret_bytes(Algorithm::ES256K, &[0xffu8; 32]),
            Err(JoseError::InvalidKey { .. })
        ));
        assert!(matches!(
            SigningKey::from_secret_bytes(Algorithm::ES256, &[1u8; 138]),
            Err(JoseError::InvalidKey { .. })
        ));
    }

    #[test]
    fn private_jwk_must_be_consistent() {
        // d from RFC 8037 A.1 with a different (valid) public key.
        let mut v = rfc8037_a1_private_jwk();
        v["x"] = SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .public_jwk()
            .x
            .unwrap()
            .into();
        assert!(
            matches!(SigningKey::from_private_jwk(&v), Err(JoseError::InvalidKey { reason }) if reason.contains("does not belong"))
        );
        // P-256: ring refuses a d that does not match x/y.
        let mut v = rfc7515_a3_private_jwk();
        v["d"] = rfc8037_a1_private_jwk()["d"].clone();
        assert!(matches!(
            SigningKey::from_private_jwk(&v),
            Err(JoseError::InvalidKey { .. })
        ));
        // secp256k1 d against another key's x/y.
        let mut v = web5_es256k_private_jwk();
        v["x"] = WEB5_ES256K_VERIFY[0].x.into();
        v["y"] = WEB5_ES256K_VERIFY[0].y.into();
        assert!(matches!(
            SigningKey::from_private_jwk(&v),
            Err(JoseError::InvalidKey { .. })
        ));
    }

    #[test]
    fn private_jwk_shape_errors() {
        assert!(matches!(
            SigningKey::from_private_jwk(&rfc8037_a2_public_jwk()),
            Err(JoseError::InvalidKey { reason }) if reason.contains("d is missing")
        ));
        assert!(matches!(
            SigningKey::from_private_jwk(&json!([])),
            Err(JoseError::InvalidKey { .. })
        ));
        let mut v = rfc8037_a1_private_jwk();
        v["d"] = json!(5);
        assert!(matches!(
            SigningKey::from_private_jwk(&v),
            Err(JoseError::InvalidKey { reason }) if reason.contains("d must be a string")
        ));
        let mut v = rfc8037_a1_private_jwk();
        v["d"] = json!("AAAA");
        assert!(matches!(
            SigningKey::from_private_jwk(&v),
            Err(JoseError::InvalidKey { reason }) if reason.contains("32 bytes")
        ));
        let mut v = rfc8037_a1_private_jwk();
        v["k"] = json!("AAAA");
        assert!(matches!(
            SigningKey::from_private_jwk(&v),
            Err(JoseError::PrivateKeyMaterial { .. })
        ));
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = SigningKey::from_private_jwk(&rfc8037_a1_private_jwk()).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, r#"SigningKey { alg: EdDSA, key: "[redacted]" }"#);
        let secret = key.to_secret_bytes();
        assert!(!debug.contains(&hex::encode(&*secret)));
    }

    #[test]
    fn wrong_length_signatures_are_rejected() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let mut sig = key.sign(b"m").unwrap();
            sig.push(0);
            assert!(matches!(
                verify_signature(&key.public_jwk(), b"m", &sig),
                Err(JoseError::InvalidSignature { reason }) if reason.contains("65")
            ));
            sig.truncate(63);
            assert!(matches!(
                verify_signature(&key.public_jwk(), b"m", &sig),
                Err(JoseError::InvalidSignature { .. })
            ));
        }
    }

    #[test]
    fn tampered_messages_and_signatures_fail_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let public = key.public_jwk();
            let sig = key.sign(b"message").unwrap();
            verify_signature(&public, b"message", &sig).unwrap();
            assert!(
                matches!(
                    verify_signature(&public, b"messagE", &sig),
                    Err(JoseError::InvalidSignature { .. })
                ),
                "{alg}"
            );
            let mut bad = sig.clone();
            bad[10] ^= 0x01;
            assert!(
                matches!(
                    verify_signature(&public, b"message", &bad),
                    Err(JoseError::InvalidSignature { .. })
                ),
                "{alg}"
            );
            let other = SigningKey::generate(alg).unwrap().public_jwk();
            assert!(verify_signature(&other, b"message", &sig).is_err(), "{alg}");
        }
    }

    /// A P-384 key made with ring (which Verity only verifies with), its public JWK and a
    /// signing closure, for the ES384 tests.
    fn p384_pair() -> (Jwk, impl Fn(&[u8]) -> Vec<u8>) {
        use ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
        let jwk = ec_jwk(Algorithm::ES384, pair.public_key().as_ref());
        (jwk, move |m: &[u8]| {
            pair.sign(&SystemRandom::new(), m)
                .unwrap()
                .as_ref()
                .to_vec()
        })
    }

    /// The same for P-521 with the RustCrypto signer.
    fn p521_pair() -> (Jwk, impl Fn(&[u8]) -> Vec<u8>) {
        let sk = p521::ecdsa::SigningKey::random(&mut OsRng);
        let point = p521::ecdsa::VerifyingKey::from(&sk).to_encoded_point(false);
        let jwk = ec_jwk(Algorithm::ES512, point.as_bytes());
        (jwk, move |m: &[u8]| {
            use p521::ecdsa::signature::RandomizedSigner as _;
            let sig: p521::ecdsa::Signature = sk.sign_with_rng(&mut OsRng, m);
            sig.to_vec()
        })
    }

    #[test]
    fn es384_and_es512_verify_and_refuse_what_does_not() {
        let (p384, sign384) = p384_pair();
        let (p521, sign521) = p521_pair();
        type Sign<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
        let checks: [(&Jwk, Sign, usize); 2] = [(&p384, &sign384, 96), (&p521, &sign521, 132)];
        for (public, sign, len) in checks {
            let alg = public.algorithm().unwrap();
            public.validate().unwrap();
            let sig = sign(b"message");
            assert_eq!(sig.len(), len, "{alg}");
            verify_signature(public, b"message", &sig).unwrap();
            assert!(
                matches!(
                    verify_signature(public, b"messagE", &sig),
                    Err(JoseError::InvalidSignature { .. })
                ),
                "{alg}"
            );
            let mut bad = sig.clone();
            bad[10] ^= 0x01;
            assert!(verify_signature(public, b"message", &bad).is_err(), "{alg}");
            assert!(
                matches!(
                    verify_signature(public, b"message", &sig[..len - 1]),
                    Err(JoseError::InvalidSignature { reason }) if reason.contains(&len.to_string())
                ),
                "{alg}"
            );
            // A P-256-sized signature is not taken for a short one of these curves.
            assert!(
                verify_signature(public, b"message", &sig[..64]).is_err(),
                "{alg}"
            );
        }
        // Another key's signature, across the two curves and within one.
        let (other384, _) = p384_pair();
        assert!(verify_signature(&other384, b"m", &sign384(b"m")).is_err());
        assert!(verify_signature(&p384, b"m", &sign521(b"m")).is_err());
    }

    #[test]
    fn es384_and_es512_keys_are_checked_and_verify_only() {
        let (p384, _) = p384_pair();
        let (p521, _) = p521_pair();
        for (public, alg, len) in [(p384, Algorithm::ES384, 48), (p521, Algorithm::ES512, 66)] {
            assert_eq!(public.algorithm().unwrap(), alg);
            // Off the curve: y changed.
            let mut off = serde_json::to_value(&public).unwrap();
            let mut y = crate::b64d(off["y"].as_str().unwrap()).unwrap();
            y[len - 1] ^= 0x01;
            off["y"] = crate::b64e(&y).into();
            let e = Jwk::from_json_value(&off).unwrap_err();
            assert!(e.to_string().contains("not a point on"), "{alg}: {e}");
            // A 32-byte coordinate is refused by its length.
            let mut short = serde_json::to_value(&public).unwrap();
            short["x"] = crate::b64e(&[1u8; 32]).into();
            let e = Jwk::from_json_value(&short).unwrap_err();
            assert!(
                e.to_string().contains(&format!("{len} bytes")),
                "{alg}: {e}"
            );
            // Never a signing key.
            let verify_only = Err(JoseError::VerifyOnlyAlgorithm { alg });
            assert_eq!(SigningKey::generate(alg).map(|_| ()), verify_only);
            assert_eq!(
                SigningKey::from_secret_bytes(alg, &[7u8; 48]).map(|_| ()),
                verify_only
            );
            let mut private = serde_json::to_value(&public).unwrap();
            private["d"] = crate::b64e(&vec![7u8; len]).into();
            assert_eq!(
                SigningKey::from_private_jwk(&private).map(|_| ()),
                verify_only
            );
        }
    }

    /// RSA is verify-only: no generation, no loading, no private JWK import.
    #[test]
    fn rs256_signing_keys_are_refused() {
        let verify_only = Err(JoseError::VerifyOnlyAlgorithm {
            alg: Algorithm::RS256,
        });
        assert_eq!(
            SigningKey::generate(Algorithm::RS256).map(|_| ()),
            verify_only
        );
        assert_eq!(
            SigningKey::from_secret_bytes(Algorithm::RS256, &[7u8; 32]).map(|_| ()),
            verify_only
        );
        assert_eq!(
            SigningKey::from_private_jwk(&rfc7515_a2_private_jwk()).map(|_| ()),
            verify_only
        );
        let e = JoseError::VerifyOnlyAlgorithm {
            alg: Algorithm::RS256,
        };
        assert!(e.to_string().contains("verify-only"), "{e}");
    }

    /// RSASSA-PKCS1-v1_5 is deterministic, so signing the RFC 7515 Appendix A.2 signing input
    /// with the A.2 key reproduces the RFC's signature, and it verifies with the public key.
    #[test]
    fn rfc7515_a2_rs256_signature_is_reproduced_and_verifies() {
        let (input, sig_b64) = RFC7515_A2_JWS.rsplit_once('.').unwrap();
        let published = crate::b64d(sig_b64).unwrap();
        assert_eq!(
            rs256_sign(&rfc7515_a2_private_jwk(), input.as_bytes()),
            published
        );
        let public = jwk(rfc7515_a2_public_jwk());
        verify_signature(&public, input.as_bytes(), &published).unwrap();
    }

    #[test]
    fn rs256_rejections() {
        let public = jwk(rfc7515_a2_public_jwk());
        let sig = rs256_sign(&rfc7515_a2_private_jwk(), b"message");
        verify_signature(&public, b"message", &sig).unwrap();
        // Tampered message and signature.
        assert!(matches!(
            verify_signature(&public, b"messagE", &sig),
            Err(JoseError::InvalidSignature { reason }) if reason.contains("RS256")
        ));
        let mut bad = sig.clone();
        bad[100] ^= 0x01;
        assert!(matches!(
            verify_signature(&public, b"message", &bad),
            Err(JoseError::InvalidSignature { .. })
        ));
        // Length must equal the 256-byte modulus (a 64-byte ECDSA-sized one is refused too).
        for len in [64, 255, 257] {
            let mut wrong = sig.clone();
            wrong.resize(len, 0);
            assert!(
                matches!(
                    verify_signature(&public, b"message", &wrong),
                    Err(JoseError::InvalidSignature { reason }) if reason.contains("256 bytes")
                ),
                "{len}"
            );
        }
        // Another RSA key (the RFC 7638 example) does not verify it.
        let other = jwk(rfc7638_example_jwk());
        assert!(matches!(
            verify_signature(&other, b"message", &sig),
            Err(JoseError::InvalidSignature { .. })
        ));
        // An RSA key for encryption only.
        let mut enc = public.clone();
        enc.use_ = Some("enc".into());
        assert!(matches!(
            verify_signature(&enc, b"message", &sig),
            Err(JoseError::InvalidKey { .. })
        ));
    }

    /// A 1024-bit modulus is refused at verification too, even in a `Jwk` built without
    /// [`Jwk::from_json_value`].
    #[test]
    fn rs256_1024_bit_key_is_refused_at_verification() {
        let mut n = vec![0xc5u8; 128];
        n[127] = 0x01;
        let weak = Jwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some(crate::b64e(&n)),
            e: Some("AQAB".into()),
            kid: None,
            alg: None,
            use_: None,
        };
        assert!(matches!(
            verify_signature(&weak, b"m", &[0u8; 128]),
            Err(JoseError::InvalidKey { reason }) if reason.contains("1024 bits")
        ));
    }

    #[test]
    fn keys_not_meant_for_signatures_are_refused() {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let sig = key.sign(b"m").unwrap();
        let mut public = key.public_jwk();
        public.use_ = Some("enc".into());
        assert!(matches!(
            verify_signature(&public, b"m", &sig),
            Err(JoseError::InvalidKey { reason }) if reason.contains("enc")
        ));
        public.use_ = Some("sig".into());
        verify_signature(&public, b"m", &sig).unwrap();
    }
}
