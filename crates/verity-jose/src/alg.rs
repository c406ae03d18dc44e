//! The three JWS algorithms Verity signs and verifies.

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
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K];

    /// The registered `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::ES256K => "ES256K",
        }
    }

    /// The JWK `kty` of keys for this algorithm.
    pub fn kty(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "OKP",
            Algorithm::ES256 | Algorithm::ES256K => "EC",
        }
    }

    /// The JWK `crv` of keys for this algorithm.
    pub fn crv(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "Ed25519",
            Algorithm::ES256 => "P-256",
            Algorithm::ES256K => "secp256k1",
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
    fn names_round_trip_through_str_and_serde() {
        for alg in Algorithm::ALL {
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
        for other in ["RS256", "ES384", "es256", "", "Ed25519", "é"] {
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
