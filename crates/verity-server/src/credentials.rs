//! API credentials: client secrets, static API keys and the admin token. They are random,
//! high-entropy strings, so they are stored as HMAC-SHA256(pepper, value) and compared in
//! constant time (a slow password hash would buy nothing and cost ~30 ms a request).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of static API keys, so a leaked key is recognisable by secret scanners.
pub const API_KEY_PREFIX: &str = "vrt_ak_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "vrt_cs_";
/// Prefix of admin tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "vrt_admin_";

/// The secret key of the credential HMAC. Derived from the KEK so a deployment has one root secret.
#[derive(Clone)]
pub struct Pepper(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

impl Pepper {
    /// Wraps raw pepper bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Hex HMAC of a presented credential, as stored.
    pub fn hash(&self, value: &str) -> String {
        hex_encode(&self.mac(value))
    }

    /// Constant-time check of a presented credential against a stored hash.
    pub fn verify(&self, value: &str, stored_hex: &str) -> bool {
        let computed = hex_encode(&self.mac(value));
        computed.as_bytes().ct_eq(stored_hex.as_bytes()).into()
    }

    fn mac(&self, value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length: new_from_slice cannot fail for HMAC-SHA256.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()) {
            Ok(m) => m,
            Err(_) => return [0u8; 32],
        };
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A new random credential: `prefix` + 32 random bytes, base64url.
pub fn generate(prefix: &str) -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// The part of an API key shown in listings (enough to recognise it, useless to an attacker).
pub fn display_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 6).collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_same_value() {
        let p = Pepper::new([7u8; 32]);
        let secret = generate(CLIENT_SECRET_PREFIX);
        let stored = p.hash(&secret);
        assert!(p.verify(&secret, &stored));
        assert!(!p.verify("vrt_cs_other", &stored));
        assert!(!Pepper::new([8u8; 32]).verify(&secret, &stored));
        assert!(!stored.contains(&secret));
    }

    #[test]
    fn generated_credentials_are_unique_and_prefixed() {
        let a = generate(API_KEY_PREFIX);
        let b = generate(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 43);
        assert_eq!(display_prefix(&a).len(), API_KEY_PREFIX.len() + 6);
    }
}
