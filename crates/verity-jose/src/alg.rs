//! The JWS algorithms Verity verifies: EdDSA, ES256 and ES256K (which it also signs with),
//! RS256 (verification only, for OpenID Connect providers) and ES384/ES512 (verification only,
//! for VC-JOSE-COSE issuers on the larger NIST curves).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::JoseError;

/// A supported JWS `alg`; always derived from a key, never trusted from a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA P-256 with SHA-256 (RFC 7518 section 3.4).
    ES256,
    /// ECDSA secp256k1 with SHA-256 (RFC 8812 section 3.2).
    ES256K,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3); verification only.
    RS256,
    /// ECDSA P-384 with SHA-384 (RFC 7518 section 3.4); verification only.
    ES384,
    /// ECDSA P-521 with SHA-512 (RFC 7518 section 3.4); verification only.
    ES512,
}

impl Algorithm {
    /// Every algorithm Verity can sign with (and so generate keys for).
    ///
    /// RS256, ES384 and ES512 are not listed: Verity only verifies them (OpenID Connect
    /// providers sign id_tokens with RS256; some VC issuers use the larger NIST curves) and
    /// never holds such private keys.
    pub const ALL: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K];

    /// Every algorithm Verity can verify: [`Algorithm::ALL`] plus RS256, ES384 and ES512.
    pub const VERIFIABLE: [Algorithm; 6] = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES256K,
        Algorithm::RS256,
        Algorithm::ES384,
        Algorithm::ES512,
    ];

    /// Whether Verity can hold a private key for, and sign with, this algorithm.
    pub fn can_sign(self) -> bool {
        !matches!(self, Algorithm::RS256 | Algorithm::ES384 | Algorithm::ES512)
    }

    /// The registered `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::ES256K => "ES256K",
            Algorithm::RS256 => "RS256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
        }
    }

    /// The JWK `kty` of keys for this algorithm.
    pub fn kty(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "OKP",
            Algorithm::ES256 | Algorithm::ES256K | Algorithm::ES384 | Algorithm::ES512 => "EC",
            Algorithm::RS256 => "RSA",
        }
    }

    /// The JWK `crv` of keys for this algorithm; RSA keys have none.
    pub fn crv(self) -> Option<&'static str> {
        match self {
            Algorithm::EdDSA => Some("Ed25519"),
            Algorithm::ES256 => Some("P-256"),
            Algorithm::ES256K => Some("secp256k1"),
            Algorithm::ES384 => Some("P-384"),
            Algorithm::ES512 => Some("P-521"),
            Algorithm::RS256 => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = JoseError;

    /// Parses an `alg`; `none` and HMAC get their own errors so logs say why.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "ES256" => Ok(Algorithm::ES256),
            "ES256K" => Ok(Algorithm::ES256K),
            "RS256" => Ok(Algorithm::RS256),
            "ES384" => Ok(Algorithm::ES384),
            "ES512" => Ok(Algorithm::ES512),
            _ if s.eq_ignore_ascii_case("none") => Err(JoseError::AlgNone),
            _ if s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) => {
                Err(JoseError::HmacAlgorithm { alg: s.to_owned() })
            }
            _ => Err(JoseError::UnsupportedAlgorithm { alg: s.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_the_signing_subset_of_verifiable() {
        for alg in Algorithm::VERIFIABLE {
            assert_eq!(Algorithm::ALL.contains(&alg), alg.can_sign(), "{alg}");
        }
        assert_eq!(Algorithm::RS256.kty(), "RSA");
        assert_eq!(Algorithm::RS256.crv(), None);
        assert_eq!(Algorithm::ES256.crv(), Some("P-256"));
        assert_eq!(Algorithm::ES384.crv(), Some("P-384"));
        assert_eq!(Algorithm::ES512.crv(), Some("P-521"));
        assert!(!Algorithm::ES384.can_sign() && !Algorithm::ES512.can_sign());
    }

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for alg in Algorithm::VERIFIABLE {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.to_string(), alg.as_str());
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
    }

    #[test]
    fn none_hmac_and_unknown_get_distinct_errors() {
        assert_eq!("none".parse::<Algorithm>(), Err(JoseError::AlgNone));
        assert_eq!("None".parse::<Algorithm>(), Err(JoseError::AlgNone));
        for hs in ["HS256", "HS384", "HS512"] {
            assert!(matches!(
                hs.parse::<Algorithm>(),
                Err(JoseError::HmacAlgorithm { .. })
            ));
        }
        for other in [
            "RS384", "PS256", "rs256", "es384", "es256", "ES256P", "", "Ed25519", "é",
        ] {
            assert!(
                matches!(
                    other.parse::<Algorithm>(),
                    Err(JoseError::UnsupportedAlgorithm { .. })
                ),
                "{other}"
            );
        }
    }
}
