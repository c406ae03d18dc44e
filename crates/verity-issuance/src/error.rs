//! The crate's one error type and its stable codes.

use verity_contracts::ContractError;
use verity_jose::JoseError;
use verity_presentation::PresentationError;

/// Why a holder request was not answered with a credential: one variant per check.
///
/// Groups (the server maps each group to one inner code, see `IssuanceError::code` for the
/// per-check code):
/// - **holder request** (`ISS-001`..`ISS-016`): the wallet's signed request failed a check
///   (`ISS-003`, no `state`, names no request and is reported as a bad field);
/// - **nonce** (`ISS-017`): the request is signed correctly but answers another request;
/// - **PIN** (`ISS-020`): the PIN hash is missing or wrong (the server counts the guess);
/// - **attestation** (`ISS-030`..`ISS-034`): an attestation is missing, invalid or its claims
///   do not map; [`IssuanceError::target`] names it (`attestations.idTokens[<configuration>]`);
/// - **outage** (`ISS-033`, [`IssuanceError::is_transient`]): a check could not run;
/// - **internal** (`ISS-040`, `ISS-041`): signing or encoding failed on our side.
///
/// Messages name the check and why it failed; they never contain tokens, PINs or claim values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuanceError {
    /// The holder request is not a compact JWS.
    #[error("the holder request is not a valid JWS: {reason}")]
    HolderMalformed {
        /// The parser's explanation.
        reason: String,
    },
    /// The holder request's payload is not JSON claims.
    #[error("{reason}")]
    HolderClaims {
        /// The decoder's explanation.
        reason: String,
    },
    /// The holder request names no request (`state`).
    #[error("the holder request must carry the request's `state`")]
    MissingState,
    /// The holder request has no `did` claim.
    #[error("`did` is missing")]
    MissingDid,
    /// The holder request's header has no `kid`.
    #[error("the header has no `kid`")]
    MissingKid,
    /// The header `kid` is not a key id of the claimed `did`.
    #[error("the signing key `{kid}` is not a key of `{did}`")]
    KidNotOfDid {
        /// The header `kid`.
        kid: String,
        /// The `did` claim.
        did: String,
    },
    /// The holder's DID could not be resolved.
    #[error("cannot resolve `{did}`: {reason}")]
    DidResolution {
        /// The holder DID.
        did: String,
        /// The resolver's explanation.
        reason: String,
    },
    /// The `kid` is not listed under the DID document's `authentication`.
    #[error("the signing key is not an authentication key of `{did}`: {reason}")]
    NotAuthenticationKey {
        /// The holder DID.
        did: String,
        /// The document's explanation.
        reason: String,
    },
    /// The signature does not verify under the holder's key.
    #[error("the holder request signature is invalid: {reason}")]
    Signature {
        /// The verifier's explanation.
        reason: String,
    },
    /// The token is another kind of token (request object, credential, ...) signed by the
    /// holder's key.
    #[error("not a holder request: {reason}")]
    WrongKind {
        /// The kind check's explanation.
        reason: String,
    },
    /// `sub_jwk` is not a public JWK.
    #[error("`sub_jwk` is not a public JWK: {reason}")]
    SubJwkInvalid {
        /// The JWK parser's explanation.
        reason: String,
    },
    /// `sub_jwk` is not the key that signed the request.
    #[error("`sub_jwk` is not the key that signed the request")]
    SubJwkMismatch,
    /// `sub` is not the RFC 7638 thumbprint of the signing key.
    #[error("`sub` is not the thumbprint of the signing key")]
    SubNotThumbprint,
    /// `aud` is not the contract's credential issuer URL.
    #[error("`aud` must be `{expected}`")]
    Audience {
        /// The URL the wallet must address.
        expected: String,
    },
    /// `exp`/`nbf`/`iat` failed (or `exp` is missing).
    #[error("holder request: {reason}")]
    Times {
        /// The time check's explanation.
        reason: String,
    },
    /// The holder request has no (or an empty) `jti`.
    #[error("`jti` is missing")]
    MissingJti,
    /// `nonce` is not the request's nonce.
    #[error("`nonce` does not match the request")]
    NonceMismatch,

    /// The PIN hash is missing or not the stored one.
    #[error("wrong PIN")]
    WrongPin,

    /// A required attestation was not sent.
    #[error("{reason}")]
    AttestationMissing {
        /// The attestation, e.g. `attestations.selfIssued`.
        target: String,
        /// What was required.
        reason: String,
    },
    /// A third-party id_token or access token failed validation.
    #[error("{source}")]
    AttestationToken {
        /// The attestation, e.g. `attestations.idTokens[<configuration>]`.
        target: String,
        /// The validator's verdict.
        source: Box<ContractError>,
    },
    /// A presented credential failed a verifier check.
    #[error("{source} ({})", source.code())]
    AttestationPresentation {
        /// The attestation, `attestations.presentations[<credentialType>]`.
        target: String,
        /// The verifier's verdict.
        source: Box<PresentationError>,
    },
    /// A presented credential could not be checked right now (an outage, not a verdict).
    #[error("{target}: {source} ({})", source.code())]
    AttestationUnavailable {
        /// The attestation, `attestations.presentations[<credentialType>]`.
        target: String,
        /// The verifier's explanation.
        source: Box<PresentationError>,
    },
    /// An attestation's claims do not satisfy the contract's mapping (required, type).
    #[error("{source}")]
    ClaimMapping {
        /// The attestation whose claims were mapped.
        target: String,
        /// The mapping's explanation.
        source: Box<ContractError>,
    },

    /// Signing a token with the authority's key failed.
    #[error("could not sign the {what}: {source}")]
    Signing {
        /// The token being signed (`credential`, `request object`, `id_token_hint`).
        what: &'static str,
        /// The signer's explanation.
        source: JoseError,
    },
    /// Building a token's claims failed.
    #[error("could not build the {what}: {reason}")]
    Encoding {
        /// What was being built.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Building or signing an SD-JWT VC failed.
    #[error("could not issue the SD-JWT VC: {source}")]
    SdJwt {
        /// The SD-JWT library's explanation.
        source: Box<verity_sd_jwt::SdJwtError>,
    },
}

impl IssuanceError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HolderMalformed { .. } => "ISS-001",
            Self::HolderClaims { .. } => "ISS-002",
            Self::MissingState => "ISS-003",
            Self::MissingDid => "ISS-004",
            Self::MissingKid => "ISS-005",
            Self::KidNotOfDid { .. } => "ISS-006",
            Self::DidResolution { .. } => "ISS-007",
            Self::NotAuthenticationKey { .. } => "ISS-008",
            Self::Signature { .. } => "ISS-009",
            Self::WrongKind { .. } => "ISS-010",
            Self::SubJwkInvalid { .. } => "ISS-011",
            Self::SubJwkMismatch => "ISS-012",
            Self::SubNotThumbprint => "ISS-013",
            Self::Audience { .. } => "ISS-014",
            Self::Times { .. } => "ISS-015",
            Self::MissingJti => "ISS-016",
            Self::NonceMismatch => "ISS-017",
            Self::WrongPin => "ISS-020",
            Self::AttestationMissing { .. } => "ISS-030",
            Self::AttestationToken { .. } => "ISS-031",
            Self::AttestationPresentation { .. } => "ISS-032",
            Self::AttestationUnavailable { .. } => "ISS-033",
            Self::ClaimMapping { .. } => "ISS-034",
            Self::Signing { .. } => "ISS-040",
            Self::Encoding { .. } => "ISS-041",
            Self::SdJwt { .. } => "ISS-042",
        }
    }

    /// True for a check of the holder's signed request itself (signature, key, claims, times),
    /// except the `state` lookup key and the nonce, which the server reports on their own.
    pub fn is_holder_request(&self) -> bool {
        matches!(
            self,
            Self::HolderMalformed { .. }
                | Self::HolderClaims { .. }
                | Self::MissingDid
                | Self::MissingKid
                | Self::KidNotOfDid { .. }
                | Self::DidResolution { .. }
                | Self::NotAuthenticationKey { .. }
                | Self::Signature { .. }
                | Self::WrongKind { .. }
                | Self::SubJwkInvalid { .. }
                | Self::SubJwkMismatch
                | Self::SubNotThumbprint
                | Self::Audience { .. }
                | Self::Times { .. }
                | Self::MissingJti
        )
    }

    /// True for an attestation verdict (missing, invalid, claims that do not map).
    pub fn is_attestation(&self) -> bool {
        matches!(
            self,
            Self::AttestationMissing { .. }
                | Self::AttestationToken { .. }
                | Self::AttestationPresentation { .. }
                | Self::ClaimMapping { .. }
        )
    }

    /// True when the check could not run (a remote party or store out of reach): the caller
    /// answers "retry later", never "invalid".
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::AttestationUnavailable { .. })
    }

    /// True for failures on our side (signing, encoding): the caller logs the message and
    /// answers only with a correlation id.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Signing { .. } | Self::Encoding { .. } | Self::SdJwt { .. }
        )
    }

    /// The attestation an attestation error is about (`attestations.selfIssued`, ...).
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::AttestationMissing { target, .. }
            | Self::AttestationToken { target, .. }
            | Self::AttestationPresentation { target, .. }
            | Self::AttestationUnavailable { target, .. }
            | Self::ClaimMapping { target, .. } => Some(target),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let all = [
            IssuanceError::HolderMalformed { reason: "r".into() },
            IssuanceError::HolderClaims { reason: "r".into() },
            IssuanceError::MissingState,
            IssuanceError::MissingDid,
            IssuanceError::MissingKid,
            IssuanceError::KidNotOfDid {
                kid: "k".into(),
                did: "d".into(),
            },
            IssuanceError::DidResolution {
                did: "d".into(),
                reason: "r".into(),
            },
            IssuanceError::NotAuthenticationKey {
                did: "d".into(),
                reason: "r".into(),
            },
            IssuanceError::Signature { reason: "r".into() },
            IssuanceError::WrongKind { reason: "r".into() },
            IssuanceError::SubJwkInvalid { reason: "r".into() },
            IssuanceError::SubJwkMismatch,
            IssuanceError::SubNotThumbprint,
            IssuanceError::Audience {
                expected: "a".into(),
            },
            IssuanceError::Times { reason: "r".into() },
            IssuanceError::MissingJti,
            IssuanceError::NonceMismatch,
            IssuanceError::WrongPin,
            IssuanceError::AttestationMissing {
                target: "t".into(),
                reason: "r".into(),
            },
            IssuanceError::AttestationToken {
                target: "t".into(),
                source: Box::new(ContractError::MalformedToken { reason: "r".into() }),
            },
            IssuanceError::AttestationPresentation {
                target: "t".into(),
                source: Box::new(PresentationError::StateMismatch),
            },
            IssuanceError::AttestationUnavailable {
                target: "t".into(),
                source: Box::new(PresentationError::StateMismatch),
            },
            IssuanceError::ClaimMapping {
                target: "t".into(),
                source: Box::new(ContractError::MalformedToken { reason: "r".into() }),
            },
            IssuanceError::Signing {
                what: "credential",
                source: JoseError::AlgNone,
            },
            IssuanceError::Encoding {
                what: "credential",
                reason: "r".into(),
            },
            IssuanceError::SdJwt {
                source: Box::new(verity_sd_jwt::SdJwtError::MissingIssuer),
            },
        ];
        let mut codes: Vec<&str> = all.iter().map(IssuanceError::code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "every variant has its own code");
        // Each variant is in exactly one group.
        for e in &all {
            let groups = [
                e.is_holder_request(),
                e.is_attestation(),
                e.is_transient(),
                e.is_internal(),
                matches!(
                    e,
                    IssuanceError::MissingState
                        | IssuanceError::NonceMismatch
                        | IssuanceError::WrongPin
                ),
            ];
            assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{e:?}");
            assert_eq!(
                e.target().is_some(),
                e.is_attestation() || e.is_transient(),
                "{e:?}"
            );
        }
    }
}
