//! Credential issuance: the checks and building steps between a wallet's signed holder
//! request and the JWT-VC it receives. Pure library: no HTTP server, no SQL; time is a
//! parameter (`now`, unix seconds), and every external system is a seam passed in: the
//! holder's DID through a [`DidResolver`](verity_did::DidResolver), third-party OpenID Connect
//! tokens through a [`TokenValidator`], presented credentials through the verifier's
//! [`VerifyContext`](verity_presentation::VerifyContext), signing through a
//! [`Signer`](verity_jose::Signer).
//!
//! Pipeline of a holder request (each failure is one [`IssuanceError`] variant with its own
//! `ISS-0xx` code; the first failure ends the run):
//! 1. **parse** — [`UnverifiedHolderRequest::parse`]: compact JWS within the size limit, JSON
//!    claims; [`UnverifiedHolderRequest::state`] names the request, so the caller can look it
//!    up before paying for a DID resolution.
//! 2. **verify** — [`UnverifiedHolderRequest::verify`]: `did` present; header `kid` is a key
//!    id of `did`; the DID resolves; the key is listed under `authentication`; signature; the
//!    token is a holder request ([`verity_jose::TokenKind::HolderRequest`]); `sub_jwk` is that
//!    key and `sub` its RFC 7638 thumbprint; `aud` is the contract's credential issuer URL;
//!    `exp` (required)/`nbf`/`iat` with skew; `jti` present.
//! 3. **nonce** — [`HolderRequest::check_nonce`]: the request's nonce.
//! 4. **PIN** — [`check_pin`]: constant-time comparison of `base64(sha256(salt + pin))`
//!    ([`pin_hash`]).
//! 5. **attestations** — [`collect_claims`]: idTokenHints (the RP's claims), idTokens and
//!    accessTokens ([`TokenValidator`]), selfIssued, presentations
//!    ([`verity_presentation::verify_attestation_presentation`]); each attestation's claims go
//!    through the contract's mapping (`required`, `type`).
//! 6. **credential** — [`build_credential`] / [`issue_credential`]: `vc` (types, issuer,
//!    dates, subject bound to the holder DID, `credentialStatus` for an already allocated
//!    index), `exp` = the earlier of `now + validityInterval` and the RP's cap, the indexed
//!    claim's hash ([`indexed_claim_hash`]); signed as
//!    [`verity_jose::TokenKind::Credential`].
//!
//! The request object the wallet fetches first is built by [`sign_request_object`].
//!
//! **What stays with the caller** (the server, over its store): looking the request up, the
//! replay check of the holder request's `jti` ([`HolderRequest::jti_remembered_until`] says for
//! how long), counting wrong PINs and the lockout (one store step, so concurrent guesses
//! cannot get past the limit), allocating the status index, and the issue step that records
//! the credential with the request's new status. Those must be transactions shared by every
//! replica, which a library without a store cannot offer.
//!
//! **Why [`IssuedCredential`] is our own type** and not the store's record: the crate does not
//! depend on the store (no SQL types, no store errors in a domain crate, and OpenID4VCI can
//! reuse it with another orchestration). The credential knows what it is (id, jti, subject,
//! indexed-claim hash, times); the caller adds what only it knows (tenant, request, contract
//! and authority rows, status list row) when it maps it into its record.
//!
//! Outages ([`IssuanceError::is_transient`]) are not verdicts: the caller answers "retry
//! later" and records nothing. Test doubles live in the `test_util` module (feature
//! `test-util`).

mod attest;
mod credential;
mod error;
mod holder;
pub mod openid4vci;
mod pin;
mod request_object;
mod sd_jwt_vc;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
#[cfg(test)]
mod tests;

pub use attest::{
    AttestationContext, TokenValidator, collect_claims, pre_authorizable, pre_authorized_claims,
};
pub use credential::{
    CredentialDraft, CredentialPayload, IssuedCredential, StatusAssignment, VC_CONTEXT_V1,
    build_credential, indexed_claim_hash, issue_credential,
};
pub use error::IssuanceError;
pub use holder::{HolderCheck, HolderRequest, UnverifiedHolderRequest};
pub use pin::{check_pin, pin_hash};
pub use request_object::{
    PinPrompt, RequestObjectParams, id_token_hint_claims, request_object_claims,
    sign_request_object,
};
pub use sd_jwt_vc::{IssuedSdJwtVc, SdJwtVcDraft, default_vct, issue_sd_jwt_vc};
