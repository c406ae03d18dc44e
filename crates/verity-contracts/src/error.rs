//! The crate's one error type and its stable codes.

use verity_did::FetchError;
use verity_jose::JoseError;

use crate::model::{AttestationKind, ClaimType};

/// Everything that can go wrong loading a contract, mapping claims, building a manifest or
/// validating an OpenID Connect token.
///
/// Messages name the field or check that failed; they never contain claim values or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The contract JSON does not parse into the model (syntax, unknown field, wrong type).
    #[error("contract JSON invalid at `{path}`: {reason}")]
    Parse {
        /// JSON path of the offending value (`.` for the document itself).
        path: String,
        /// The parser's explanation.
        reason: String,
    },

    /// A field parsed but breaks a contract rule.
    #[error("contract field `{path}` is invalid: {reason}")]
    InvalidField {
        /// JSON path of the field, e.g. `rules.attestations.idTokens[0].configuration`.
        path: String,
        /// Which rule failed and why.
        reason: String,
    },

    /// `rules.attestations` names no attestation at all.
    #[error(
        "contract field `rules.attestations` is invalid: at least one attestation (idTokenHints, idTokens, selfIssued, presentations, accessTokens) is required"
    )]
    NoAttestations,

    /// Two mappings produce the same credential claim.
    #[error(
        "contract field `{path}` is invalid: output claim `{claim}` is already mapped at `{first}`"
    )]
    DuplicateOutputClaim {
        /// Path of the second mapping's `outputClaim`.
        path: String,
        /// The claim name.
        claim: String,
        /// Path of the first mapping's `outputClaim`.
        first: String,
    },

    /// More than one mapping is marked `indexed` (only one claim is the revocation search key).
    #[error(
        "contract field `{path}` is invalid: only one claim may be indexed for revocation search, `{first}` already is"
    )]
    MultipleIndexedClaims {
        /// Path of the second `indexed` flag.
        path: String,
        /// Path of the first `indexed` flag.
        first: String,
    },

    /// A display claim names a credential claim that no mapping produces.
    #[error(
        "contract field `{path}` is invalid: `{claim}` is not produced by any rules mapping (expected `vc.credentialSubject.<outputClaim>`)"
    )]
    UnknownDisplayClaim {
        /// Path of the display claim's `claim`.
        path: String,
        /// The claim as written.
        claim: String,
    },

    /// `rules.validityInterval` is outside the accepted range.
    #[error(
        "contract field `rules.validityInterval` is invalid: {seconds} s is outside {min}..={max} s (1 hour to 10 years)"
    )]
    ValidityOutOfRange {
        /// The value given.
        seconds: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },

    /// A claim the contract marks `required` is absent (or null) in the attestation's input.
    #[error("missing required claim `{claim}` in the {attestation} attestation")]
    MissingRequiredClaim {
        /// Which attestation the claim was expected from.
        attestation: AttestationKind,
        /// The input claim as written in the mapping.
        claim: String,
    },

    /// A claim value does not have the type the contract declares.
    #[error("claim `{claim}` must be of type {expected}: {reason}")]
    ClaimTypeMismatch {
        /// The input claim as written in the mapping.
        claim: String,
        /// The declared type.
        expected: ClaimType,
        /// What is wrong with the value (never the value itself).
        reason: String,
    },

    /// The token is not a usable compact JWS/JWT.
    #[error("malformed token: {reason}")]
    MalformedToken {
        /// Which structural check failed.
        reason: String,
    },

    /// The token is signed with an algorithm Verity cannot verify (e.g. `none`, HS256, PS256).
    #[error(
        "token algorithm {alg:?} is not supported: only RS256, ES256, ES256K and EdDSA provider keys can be verified"
    )]
    UnsupportedAlgorithm {
        /// The algorithm from the header (or the provider key).
        alg: String,
    },

    /// The token's `iss` is not the issuer named by the configured discovery document.
    #[error(
        "untrusted issuer: token iss {found:?} is not the configured provider's issuer {expected:?}"
    )]
    UntrustedIssuer {
        /// The issuer from the configured discovery document.
        expected: String,
        /// The token's `iss`.
        found: String,
    },

    /// The token was not issued for the contract's client (`aud`/`azp`).
    #[error("wrong audience: expected {expected:?}, token has {found}")]
    WrongAudience {
        /// The configured client id (or access-token audience).
        expected: String,
        /// The token's `aud` (and `azp`) as JSON.
        found: String,
    },

    /// The token's `exp` has passed (beyond the allowed skew).
    #[error("token expired: exp {exp} is not after now {now} (with skew)")]
    TokenExpired {
        /// The token's `exp`.
        exp: i64,
        /// The time of the check.
        now: i64,
    },

    /// The token's `nbf` or `iat` lies in the future (beyond the allowed skew).
    #[error("token not yet valid: {claim} {value} is after now {now} (with skew)")]
    TokenNotYetValid {
        /// `"nbf"` or `"iat"`.
        claim: &'static str,
        /// The claim's value.
        value: i64,
        /// The time of the check.
        now: i64,
    },

    /// The signature does not verify under the provider key named by `kid`.
    #[error("bad signature: {reason}")]
    BadSignature {
        /// Which check failed.
        reason: String,
    },

    /// No key in the provider's JWKS matches the token (even after one refetch).
    #[error("unknown key: the provider's JWKS has no usable key {}", kid_text(.kid))]
    UnknownKid {
        /// The header's `kid`, if any.
        kid: Option<String>,
    },

    /// A nonce was expected and the token's `nonce` is missing or different.
    #[error("nonce mismatch: the token's nonce is {}", if *.present { "different from the expected one" } else { "missing" })]
    NonceMismatch {
        /// Whether the token carried a nonce at all.
        present: bool,
    },

    /// The provider's discovery document or JWKS could not be fetched.
    #[error("could not fetch the provider's {what} from `{url}`: {source}")]
    ProviderFetch {
        /// `"discovery document"` or `"JWKS"`.
        what: &'static str,
        /// The URL asked for.
        url: String,
        /// The fetcher's error.
        source: FetchError,
    },

    /// The provider's discovery document or JWKS was fetched but is not usable.
    #[error("the provider's {what} at `{url}` is invalid: {reason}")]
    InvalidProviderDocument {
        /// `"discovery document"` or `"JWKS"`.
        what: &'static str,
        /// The URL it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Signing the manifest failed.
    #[error("could not sign the manifest: {0}")]
    Signing(JoseError),
}

fn kid_text(kid: &Option<String>) -> String {
    match kid {
        Some(k) => format!("with kid {k:?}"),
        None => "for a token without kid (the JWKS must then hold exactly one usable key)".into(),
    }
}

impl ContractError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Parse { .. } => "CONTRACT-001",
            Self::InvalidField { .. } => "CONTRACT-002",
            Self::NoAttestations => "CONTRACT-003",
            Self::DuplicateOutputClaim { .. } => "CONTRACT-004",
            Self::MultipleIndexedClaims { .. } => "CONTRACT-005",
            Self::UnknownDisplayClaim { .. } => "CONTRACT-006",
            Self::ValidityOutOfRange { .. } => "CONTRACT-007",
            Self::MissingRequiredClaim { .. } => "CONTRACT-008",
            Self::ClaimTypeMismatch { .. } => "CONTRACT-009",
            Self::MalformedToken { .. } => "CONTRACT-010",
            Self::UnsupportedAlgorithm { .. } => "CONTRACT-011",
            Self::UntrustedIssuer { .. } => "CONTRACT-012",
            Self::WrongAudience { .. } => "CONTRACT-013",
            Self::TokenExpired { .. } => "CONTRACT-014",
            Self::TokenNotYetValid { .. } => "CONTRACT-015",
            Self::BadSignature { .. } => "CONTRACT-016",
            Self::UnknownKid { .. } => "CONTRACT-017",
            Self::NonceMismatch { .. } => "CONTRACT-018",
            Self::ProviderFetch { .. } => "CONTRACT-019",
            Self::InvalidProviderDocument { .. } => "CONTRACT-020",
            Self::Signing(_) => "CONTRACT-021",
        }
    }

    /// True when the failure may go away on retry (the provider could not be reached, answered
    /// 5xx/429): callers report "could not check" rather than "invalid".
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::ProviderFetch { source, .. } if source.is_transient())
    }

    /// The JSON path of the offending contract field, for errors about a contract.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Parse { path, .. }
            | Self::InvalidField { path, .. }
            | Self::DuplicateOutputClaim { path, .. }
            | Self::MultipleIndexedClaims { path, .. }
            | Self::UnknownDisplayClaim { path, .. } => Some(path),
            Self::NoAttestations => Some("rules.attestations"),
            Self::ValidityOutOfRange { .. } => Some("rules.validityInterval"),
            _ => None,
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::MalformedToken {
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
        let s = || String::from("x");
        let table: Vec<(ContractError, &str)> = vec![
            (
                ContractError::Parse {
                    path: s(),
                    reason: s(),
                },
                "CONTRACT-001",
            ),
            (ContractError::invalid("a", "b"), "CONTRACT-002"),
            (ContractError::NoAttestations, "CONTRACT-003"),
            (
                ContractError::DuplicateOutputClaim {
                    path: s(),
                    claim: s(),
                    first: s(),
                },
                "CONTRACT-004",
            ),
            (
                ContractError::MultipleIndexedClaims {
                    path: s(),
                    first: s(),
                },
                "CONTRACT-005",
            ),
            (
                ContractError::UnknownDisplayClaim {
                    path: s(),
                    claim: s(),
                },
                "CONTRACT-006",
            ),
            (
                ContractError::ValidityOutOfRange {
                    seconds: 1,
                    min: 2,
                    max: 3,
                },
                "CONTRACT-007",
            ),
            (
                ContractError::MissingRequiredClaim {
                    attestation: AttestationKind::IdTokenHint,
                    claim: s(),
                },
                "CONTRACT-008",
            ),
            (
                ContractError::ClaimTypeMismatch {
                    claim: s(),
                    expected: ClaimType::Date,
                    reason: s(),
                },
                "CONTRACT-009",
            ),
            (ContractError::malformed("x"), "CONTRACT-010"),
            (
                ContractError::UnsupportedAlgorithm { alg: s() },
                "CONTRACT-011",
            ),
            (
                ContractError::UntrustedIssuer {
                    expected: s(),
                    found: s(),
                },
                "CONTRACT-012",
            ),
            (
                ContractError::WrongAudience {
                    expected: s(),
                    found: s(),
                },
                "CONTRACT-013",
            ),
            (
                ContractError::TokenExpired { exp: 0, now: 0 },
                "CONTRACT-014",
            ),
            (
                ContractError::TokenNotYetValid {
                    claim: "nbf",
                    value: 0,
                    now: 0,
                },
                "CONTRACT-015",
            ),
            (ContractError::BadSignature { reason: s() }, "CONTRACT-016"),
            (ContractError::UnknownKid { kid: None }, "CONTRACT-017"),
            (
                ContractError::NonceMismatch { present: true },
                "CONTRACT-018",
            ),
            (
                ContractError::ProviderFetch {
                    what: "JWKS",
                    url: s(),
                    source: FetchError::Status {
                        url: s(),
                        status: 503,
                    },
                },
                "CONTRACT-019",
            ),
            (
                ContractError::InvalidProviderDocument {
                    what: "JWKS",
                    url: s(),
                    reason: s(),
                },
                "CONTRACT-020",
            ),
            (
                ContractError::Signing(JoseError::KeyEncryption),
                "CONTRACT-021",
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
    fn transient_only_for_retryable_fetch_failures() {
        let fetch = |status| ContractError::ProviderFetch {
            what: "discovery document",
            url: "https://login.example.com/x".into(),
            source: FetchError::Status {
                url: "https://login.example.com/x".into(),
                status,
            },
        };
        assert!(fetch(503).is_transient());
        assert!(fetch(429).is_transient());
        assert!(!fetch(404).is_transient());
        assert!(!ContractError::BadSignature { reason: "x".into() }.is_transient());
    }

    #[test]
    fn messages_name_the_field_and_check() {
        let e = ContractError::invalid("display.card.textColor", "must be #RRGGBB");
        assert_eq!(e.path(), Some("display.card.textColor"));
        assert!(e.to_string().contains("display.card.textColor"));
        assert_eq!(
            ContractError::NoAttestations.path(),
            Some("rules.attestations")
        );
        let e = ContractError::UnknownKid {
            kid: Some("k9".into()),
        };
        assert!(e.to_string().contains("\"k9\""), "{e}");
        let e = ContractError::NonceMismatch { present: false };
        assert!(e.to_string().contains("missing"), "{e}");
        assert_eq!(e.path(), None);
    }
}
