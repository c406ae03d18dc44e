//! The verifier pipeline: takes the wallet's form POST (`id_token`, `vp_token`, `state`) and the
//! stored [`PresentationRequest`], and returns a [`Verification`]: every check that ran, and
//! either the [`VerifiedPresentation`] or the first failed check's [`PresentationError`]. Pure
//! library: no HTTP server, no SQL; time is [`VerifyContext::now`], and every external system
//! is a seam ([`DidResolver`](verity_did::DidResolver), [`StatusListSource`], [`LinkageChecker`],
//! [`ReplayGuard`]); the face check's comparison is a later step ([`judge_face_check`]).
//!
//! Pipeline order (each check has its own error variant and `PRES-0xx` code; the first failure
//! ends the run):
//! 1. **request** — the request is known and not expired; `state` matches.
//! 2. **id_token** — parse; alg allowed (never `none`, never HMAC); `kid`'s DID is the holder
//!    DID in `sub`; the key is listed under the holder's `authentication`; signature;
//!    `iss` = `https://self-issued.me/v2/openid-vc`; `aud` = our client_id; nonce; exp/iat
//!    with skew; kind ([`verity_jose::TokenKind::IdToken`]).
//! 3. **vp_token** — parse; alg; signed by the same holder (`kid` DID and `iss` = id_token
//!    `sub`, authentication key); signature; `aud`; nonce; nbf/exp/iat; `jti` present;
//!    `vp.verifiableCredential` holds JWT-VCs; kind ([`verity_jose::TokenKind::Presentation`]).
//! 4. **presentation_submission** (id_token `_vp_token`) — present; `definition_id` matches;
//!    no unknown or duplicate descriptor ids; paths select `$.verifiableCredential[i]`; every
//!    requested credential has a descriptor; each gets a distinct credential.
//! 5. **each credential**, in request order (protocol.md §2): parse; kind
//!    ([`verity_jose::TokenKind::Credential`]: not a status list, domain linkage, request
//!    object or presentation signed by the same key, PRES-054); alg; `kid` belongs to
//!    `iss`; key under the issuer's `assertionMethod`; signature; `iss` = `vc.issuer`;
//!    nbf/exp/iat with bounded skew ([`MAX_SKEW_SECS`]); bound to the holder (`sub` /
//!    `credentialSubject.id`); acceptedIssuers; type; constraints (`values`, `contains`,
//!    `startsWith`); revocation (status list fetched, issuer's own list, bit read; REVOKED
//!    fails unless `allowRevoked`); linked domain (when `validateLinkedDomain`); face check.
//! 6. **replay** — the vp_token `jti` is consumed in the [`ReplayGuard`] (scope
//!    [`VP_TOKEN_REPLAY_SCOPE`]). Last on purpose: an outage in an earlier step must not burn
//!    the `jti`, or the wallet's retry would be refused as a replay.
//!
//! Outages (a DID document, status list, linkage check, replay store or face matcher out of
//! reach) are [`PresentationError::is_transient`]: the check could not run, which is not a
//! verdict. The server answers 503/502, records no failure, and the wallet may retry.
//!
//! Production seams: [`HttpStatusListSource`] (hardened fetcher, issuer-key verification,
//! ETag/max-age cache) and [`DomainLinkageChecker`]; the server implements [`ReplayGuard`] over
//! its store. Test doubles live in the `test_util` module (feature `test-util`).

mod checks;
mod context;
pub mod dcql;
mod error;
mod linkage;
mod model;
pub mod openid4vp;
mod pipeline;
mod record;
mod status_source;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
#[cfg(test)]
mod testkit;

pub use checks::face_check::judge_face_check;
pub use context::{
    DEFAULT_SKEW_SECS, LinkageChecker, MAX_SKEW_SECS, ReplayGuard, StatusListSource,
    VP_TOKEN_REPLAY_SCOPE, VerifyContext,
};
pub use error::{PresentationError, SourceError};
pub use linkage::DomainLinkageChecker;
pub use model::{
    CheckOutcome, CheckRecord, Constraint, ConstraintOp, DomainValidation, FaceCheckRequest,
    FaceCheckResult, PendingFaceCheck, PresentationRequest, RequestedCredential, RevocationStatus,
    SIOP_V2_ISSUER, Verification, VerifiedCredential, VerifiedPresentation, WalletResponse,
};
pub use pipeline::{verify_attestation_presentation, verify_presentation};
pub use status_source::{HttpStatusListSource, StatusCacheConfig};
