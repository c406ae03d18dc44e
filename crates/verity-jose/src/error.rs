//! The crate's one error type and its stable codes.

use crate::{Algorithm, TokenKind};

/// Everything that can go wrong while parsing, signing, verifying or unsealing.
///
/// Messages name the failed check; they never contain key material or token contents.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoseError {
    /// The compact serialization does not have exactly three `.`-separated segments.
    #[error("malformed token: a compact JWS has 3 segments, this one has {segments}")]
    MalformedToken {
        /// How many segments were found.
        segments: usize,
    },
    /// A token segment is not unpadded base64url.
    #[error("malformed token: the {part} segment is not valid unpadded base64url")]
    MalformedBase64 {
        /// `"header"`, `"payload"` or `"signature"`.
        part: &'static str,
    },
    /// A token segment decoded but is not the JSON it must be.
    #[error("malformed token: the {part} is not valid JSON for this use: {reason}")]
    MalformedJson {
        /// `"header"` or `"payload"`.
        part: &'static str,
        /// The parser's explanation.
        reason: String,
    },
    /// The token is longer than the configured limit; nothing was decoded.
    #[error("token too large: {len} bytes, the limit is {max}")]
    TokenTooLarge {
        /// Token length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// `alg: none` (an unsecured JWS) is never accepted.
    #[error("alg \"none\" is rejected: unsigned tokens are never accepted")]
    AlgNone,
    /// HMAC algorithms are rejected: a shared secret cannot prove who signed.
    #[error("alg {alg:?} is rejected: HMAC algorithms are not accepted")]
    HmacAlgorithm {
        /// The header's alg.
        alg: String,
    },
    /// An alg outside EdDSA / ES256 / ES256K / RS256.
    #[error(
        "alg {alg:?} is not supported (supported: EdDSA, ES256, ES256K, and RS256 for verification)"
    )]
    UnsupportedAlgorithm {
        /// The alg that was asked for.
        alg: String,
    },
    /// The header's alg is not the alg of the key doing the verifying.
    #[error("alg mismatch: the header says {header:?} but the key is {key}")]
    AlgorithmMismatch {
        /// The header's alg.
        header: String,
        /// The alg implied by the key.
        key: Algorithm,
    },
    /// The signature does not verify (or cannot be a signature for this key at all).
    #[error("invalid signature: {reason}")]
    InvalidSignature {
        /// Which check failed.
        reason: String,
    },
    /// A key is malformed or of a kind this crate does not support.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Which check failed.
        reason: String,
    },
    /// A private member (e.g. `d`) appeared where only a public JWK is allowed.
    #[error("private key material: member {member:?} is not allowed in a public JWK")]
    PrivateKeyMaterial {
        /// The offending member name.
        member: String,
    },
    /// A sealed key could not be opened: wrong KEK, wrong AAD, or tampered bytes.
    #[error("key decryption failed: wrong key-encryption key, wrong context, or tampered data")]
    KeyDecryption,
    /// A key-encryption key from configuration is unusable.
    #[error("key-encryption key invalid: {reason}")]
    KekInvalid {
        /// Which check failed.
        reason: String,
    },
    /// `exp` has passed (beyond the allowed skew).
    #[error("token expired: exp {exp} is not after now {now} (with skew)")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time the check ran at.
        now: i64,
    },
    /// `nbf` is still in the future (beyond the allowed skew).
    #[error("token not yet valid: nbf {nbf} is after now {now} (with skew)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The time the check ran at.
        now: i64,
    },
    /// `iat` is in the future (beyond the allowed skew).
    #[error("token issued in the future: iat {iat} is after now {now} (with skew)")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The time the check ran at.
        now: i64,
    },
    /// A required claim is absent.
    #[error("missing claim: {0:?} is required")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (time claims must be numbers).
    #[error("bad claim type: {0:?} must be a NumericDate (JSON number)")]
    BadClaimType(&'static str),
    /// The backend failed to produce a signature.
    #[error("signing failed: {reason}")]
    Signing {
        /// What failed.
        reason: String,
    },
    /// The header carries `crit` extensions; none are understood here (RFC 7515 section 4.1.11).
    #[error("critical header extensions are not supported: {names}")]
    CriticalHeader {
        /// The listed extension names, as given.
        names: String,
    },
    /// Header or claims could not be serialized to JSON.
    #[error("could not encode the {part} as JSON: {reason}")]
    Encode {
        /// `"header"` or `"payload"`.
        part: &'static str,
        /// The serializer's explanation.
        reason: String,
    },
    /// Sealing a key failed in the AEAD (only for absurdly large inputs).
    #[error("key encryption failed")]
    KeyEncryption,
    /// A signing key was asked for an algorithm Verity only verifies (RS256).
    #[error("{alg} is verify-only: Verity does not generate, load or sign with {alg} private keys")]
    VerifyOnlyAlgorithm {
        /// The algorithm that was asked for.
        alg: Algorithm,
    },
    /// The header `typ` is not the one the expected kind of token is signed with.
    #[error(
        "wrong token kind (expected {kind}): header typ must be {expected:?}{}, found {}",
        if *expected == crate::kind::JWT_TYP { " or absent" } else { "" },
        found.as_deref().map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
    )]
    TokenTypeMismatch {
        /// The kind the verifier expected.
        kind: TokenKind,
        /// That kind's `typ`.
        expected: &'static str,
        /// The header's `typ`, if any.
        found: Option<String>,
    },
    /// A claim the expected kind of token requires is missing or has the wrong value or shape.
    #[error("wrong token kind (expected {kind}): `{claim}` is required ({requirement})")]
    TokenClaimMissing {
        /// The kind the verifier expected.
        kind: TokenKind,
        /// The claim, as a path (`vc.type`).
        claim: String,
        /// What the kind requires of it.
        requirement: &'static str,
    },
    /// The token carries a claim the expected kind of token must not carry.
    #[error("wrong token kind (expected {kind}): `{claim}` is not allowed")]
    TokenClaimForbidden {
        /// The kind the verifier expected.
        kind: TokenKind,
        /// The claim, as a path, with the offending value where one value is the problem.
        claim: String,
    },
}

impl JoseError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            JoseError::MalformedToken { .. } => "JOSE-001",
            JoseError::MalformedBase64 { .. } => "JOSE-002",
            JoseError::MalformedJson { .. } => "JOSE-003",
            JoseError::TokenTooLarge { .. } => "JOSE-004",
            JoseError::AlgNone => "JOSE-005",
            JoseError::HmacAlgorithm { .. } => "JOSE-006",
            JoseError::UnsupportedAlgorithm { .. } => "JOSE-007",
            JoseError::AlgorithmMismatch { .. } => "JOSE-008",
            JoseError::InvalidSignature { .. } => "JOSE-009",
            JoseError::InvalidKey { .. } => "JOSE-010",
            JoseError::PrivateKeyMaterial { .. } => "JOSE-011",
            JoseError::KeyDecryption => "JOSE-012",
            JoseError::KekInvalid { .. } => "JOSE-013",
            JoseError::Expired { .. } => "JOSE-014",
            JoseError::NotYetValid { .. } => "JOSE-015",
            JoseError::IssuedInFuture { .. } => "JOSE-016",
            JoseError::MissingClaim(_) => "JOSE-017",
            JoseError::BadClaimType(_) => "JOSE-018",
            JoseError::Signing { .. } => "JOSE-019",
            JoseError::CriticalHeader { .. } => "JOSE-020",
            JoseError::Encode { .. } => "JOSE-021",
            JoseError::KeyEncryption => "JOSE-022",
            JoseError::VerifyOnlyAlgorithm { .. } => "JOSE-023",
            JoseError::TokenTypeMismatch { .. } => "JOSE-024",
            JoseError::TokenClaimMissing { .. } => "JOSE-025",
            JoseError::TokenClaimForbidden { .. } => "JOSE-026",
        }
    }

    /// True for the three wrong-token-kind errors ([`TokenKind::check`]).
    pub fn is_wrong_kind(&self) -> bool {
        matches!(
            self,
            JoseError::TokenTypeMismatch { .. }
                | JoseError::TokenClaimMissing { .. }
                | JoseError::TokenClaimForbidden { .. }
        )
    }

    pub(crate) fn invalid_key(reason: impl Into<String>) -> Self {
        JoseError::InvalidKey {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_signature(reason: impl Into<String>) -> Self {
        JoseError::InvalidSignature {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the code table: a failing line here means a code was renumbered.
    #[test]
    fn code_table_is_stable() {
        let s = String::new;
        let table: Vec<(JoseError, &str)> = vec![
            (JoseError::MalformedToken { segments: 2 }, "JOSE-001"),
            (JoseError::MalformedBase64 { part: "header" }, "JOSE-002"),
            (
                JoseError::MalformedJson {
                    part: "header",
                    reason: s(),
                },
                "JOSE-003",
            ),
            (JoseError::TokenTooLarge { len: 2, max: 1 }, "JOSE-004"),
            (JoseError::AlgNone, "JOSE-005"),
            (JoseError::HmacAlgorithm { alg: s() }, "JOSE-006"),
            (JoseError::UnsupportedAlgorithm { alg: s() }, "JOSE-007"),
            (
                JoseError::AlgorithmMismatch {
                    header: s(),
                    key: Algorithm::EdDSA,
                },
                "JOSE-008",
            ),
            (JoseError::InvalidSignature { reason: s() }, "JOSE-009"),
            (JoseError::InvalidKey { reason: s() }, "JOSE-010"),
            (JoseError::PrivateKeyMaterial { member: s() }, "JOSE-011"),
            (JoseError::KeyDecryption, "JOSE-012"),
            (JoseError::KekInvalid { reason: s() }, "JOSE-013"),
            (JoseError::Expired { exp: 0, now: 0 }, "JOSE-014"),
            (JoseError::NotYetValid { nbf: 0, now: 0 }, "JOSE-015"),
            (JoseError::IssuedInFuture { iat: 0, now: 0 }, "JOSE-016"),
            (JoseError::MissingClaim("exp"), "JOSE-017"),
            (JoseError::BadClaimType("exp"), "JOSE-018"),
            (JoseError::Signing { reason: s() }, "JOSE-019"),
            (JoseError::CriticalHeader { names: s() }, "JOSE-020"),
            (
                JoseError::Encode {
                    part: "payload",
                    reason: s(),
                },
                "JOSE-021",
            ),
            (JoseError::KeyEncryption, "JOSE-022"),
            (
                JoseError::VerifyOnlyAlgorithm {
                    alg: Algorithm::RS256,
                },
                "JOSE-023",
            ),
            (
                JoseError::TokenTypeMismatch {
                    kind: TokenKind::Credential,
                    expected: "JWT",
                    found: None,
                },
                "JOSE-024",
            ),
            (
                JoseError::TokenClaimMissing {
                    kind: TokenKind::Credential,
                    claim: s(),
                    requirement: "present",
                },
                "JOSE-025",
            ),
            (
                JoseError::TokenClaimForbidden {
                    kind: TokenKind::Credential,
                    claim: s(),
                },
                "JOSE-026",
            ),
        ];
        for (err, code) in &table {
            assert_eq!(err.code(), *code, "{err:?}");
        }
        let mut codes: Vec<_> = table.iter().map(|(e, _)| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), table.len(), "codes must be unique");
    }

    #[test]
    fn messages_name_the_failed_part() {
        let e = JoseError::MalformedBase64 { part: "signature" };
        assert!(e.to_string().contains("signature"));
        let e = JoseError::TokenTooLarge { len: 10, max: 5 };
        assert!(e.to_string().contains("10") && e.to_string().contains('5'));
    }
}
