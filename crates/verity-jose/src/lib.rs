//! Verity's own JOSE: public JWKs, compact JWS/JWT with EdDSA, ES256 and ES256K (signing and
//! verification) and RS256 (verification only, for OpenID Connect providers' id_tokens), the
//! [`Signer`] seam, and key-encryption keys for private keys at rest.
//!
//! Verification pipeline:
//! 1. [`UnverifiedJws::parse`]: size limit, three segments, base64url, header JSON (no `crit`,
//!    no private embedded key). Nothing is trusted yet; [`UnverifiedJws::payload_unverified`]
//!    may be read only to find the key (`iss`, `kid`).
//! 2. The caller resolves a public [`Jwk`] (validated by [`Jwk::from_json_value`]).
//! 3. [`UnverifiedJws::verify`]: the algorithm comes from the **key** ([`Jwk::algorithm`]); the
//!    header's `alg` must merely equal it, so `none`, HMAC and key-confusion tricks fail
//!    before any cryptography. Then the signature is checked by the curve's backend.
//! 4. [`VerifiedJws::claims`], then [`check_times`] with a caller-supplied `now`.
//! 5. [`TokenKind::check`]: the token is the kind the caller expects (explicit `typ` where a
//!    specification names one, required and forbidden claims otherwise); see [`kind`].
//!    Verity signs its own tokens with [`sign_kind`], which writes the kind's `typ`.
//!
//! Backends: ring for P-256 and RSA, ed25519-dalek for Ed25519, k256 for secp256k1 (high-S
//! signatures are normalised first). EdDSA/ECDSA JWS signatures are the raw 64 bytes (`r || s`
//! for ECDSA); RS256 signatures are as long as the modulus, which must be 2048 to 8192 bits.

mod alg;
mod error;
mod jwk;
mod jws;
mod jwt;
mod kek;
mod key;
pub mod kind;
mod signer;

pub use alg::Algorithm;
pub use error::JoseError;
pub use jwk::Jwk;
pub use jws::{DEFAULT_MAX_TOKEN_BYTES, Header, UnverifiedJws, VerifiedJws, sign_compact};
pub use jwt::check_times;
pub use kek::{KeyEncryptionKey, SubkeyRoot};
pub use key::{SigningKey, verify_signature};
pub use kind::{TokenKind, sign_kind};
pub use signer::{LocalSigner, Signed, Signer, sign_jwt};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Unpadded base64url, as every JOSE member uses.
pub(crate) fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict unpadded base64url: padding, `+`/`/`, whitespace and non-canonical trailing bits fail.
pub(crate) fn b64d(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

#[cfg(test)]
mod test_vectors;
