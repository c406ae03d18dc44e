//! The crate's error type: failures to build a linkage. (Verification never errors: it returns
//! a [`crate::LinkageReport`] whose result says verified, unverified with a reason, or not
//! checked.)

/// Why a Domain Linkage Credential could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkedDomainsError {
    /// The DID is not a valid DID.
    #[error("invalid DID `{did}`: {reason}")]
    InvalidDid { did: String, reason: String },

    /// The origin is not `scheme://host[:port]`.
    #[error("invalid origin `{origin}`: {reason}")]
    InvalidOrigin { origin: String, reason: String },

    /// The validity period is not positive or overflows the date range.
    #[error("invalid validity: {seconds} seconds does not give a representable expiry after now")]
    InvalidValidity { seconds: i64 },

    /// The signer's key belongs to a different DID than the one being linked.
    #[error("signer key `{kid}` is not a key of `{did}`: the linkage would never verify")]
    KeyNotOfDid { kid: String, did: String },

    /// Signing failed.
    #[error("signing the domain linkage credential failed: {0}")]
    Sign(#[from] verity_jose::JoseError),
}

impl LinkedDomainsError {
    /// Stable code of this error (never renumbered).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDid { .. } => "LD-001",
            Self::InvalidOrigin { .. } => "LD-002",
            Self::InvalidValidity { .. } => "LD-003",
            Self::KeyNotOfDid { .. } => "LD-004",
            Self::Sign(_) => "LD-005",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_pinned() {
        let s = || String::from("x");
        let table: Vec<(LinkedDomainsError, &str)> = vec![
            (
                LinkedDomainsError::InvalidDid {
                    did: s(),
                    reason: s(),
                },
                "LD-001",
            ),
            (
                LinkedDomainsError::InvalidOrigin {
                    origin: s(),
                    reason: s(),
                },
                "LD-002",
            ),
            (LinkedDomainsError::InvalidValidity { seconds: 0 }, "LD-003"),
            (
                LinkedDomainsError::KeyNotOfDid { kid: s(), did: s() },
                "LD-004",
            ),
            (
                LinkedDomainsError::Sign(verity_jose::JoseError::AlgNone),
                "LD-005",
            ),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code, "{err}");
        }
    }
}
