//! The `_sd_alg` hash algorithms (RFC 9901 section 4.1.1) and base64url helpers.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::SdJwtError;

/// A digest algorithm for Disclosures and `sd_hash`, named as in the IANA "Named Information
/// Hash Algorithm" registry.
///
/// `sha-256` is the default (and what Verity issues with); `sha-384` and `sha-512` are accepted
/// too. Truncated registry entries (`sha-256-32`, ...) and anything weaker are refused
/// (RFC 9901 section 9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlg {
    /// SHA-256, `"sha-256"`; the default when `_sd_alg` is absent.
    #[default]
    Sha256,
    /// SHA-384, `"sha-384"`.
    Sha384,
    /// SHA-512, `"sha-512"`.
    Sha512,
}

impl HashAlg {
    /// The `_sd_alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha-256",
            HashAlg::Sha384 => "sha-384",
            HashAlg::Sha512 => "sha-512",
        }
    }

    /// The base64url-encoded digest of `input` (RFC 9901 section 4.2.3: the bytes of the digest,
    /// not a hex rendering, unpadded base64url).
    pub fn digest_b64(self, input: &[u8]) -> String {
        match self {
            HashAlg::Sha256 => b64e(&Sha256::digest(input)),
            HashAlg::Sha384 => b64e(&Sha384::digest(input)),
            HashAlg::Sha512 => b64e(&Sha512::digest(input)),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HashAlg {
    type Err = SdJwtError;

    /// Parses an `_sd_alg` value; the names are case-sensitive (RFC 9901 section 4.1.1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha-256" => Ok(HashAlg::Sha256),
            "sha-384" => Ok(HashAlg::Sha384),
            "sha-512" => Ok(HashAlg::Sha512),
            other => Err(SdJwtError::UnsupportedSdAlg {
                alg: other.to_owned(),
            }),
        }
    }
}

/// Unpadded base64url.
pub(crate) fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict unpadded base64url: padding, `+`/`/` and non-canonical trailing bits fail.
pub(crate) fn b64d(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_fail() {
        for alg in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            assert_eq!(alg.as_str().parse::<HashAlg>().unwrap(), alg);
        }
        for bad in ["SHA-256", "sha256", "sha-256-32", "sha-1", "md5", ""] {
            assert_eq!(
                bad.parse::<HashAlg>().unwrap_err(),
                SdJwtError::UnsupportedSdAlg { alg: bad.into() }
            );
        }
        assert_eq!(HashAlg::default(), HashAlg::Sha256);
    }

    #[test]
    fn digest_lengths() {
        assert_eq!(HashAlg::Sha256.digest_b64(b"x").len(), 43);
        assert_eq!(HashAlg::Sha384.digest_b64(b"x").len(), 64);
        assert_eq!(HashAlg::Sha512.digest_b64(b"x").len(), 86);
    }
}
