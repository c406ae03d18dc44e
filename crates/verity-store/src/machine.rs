//! The flows' state machines, in one place: which statuses an issuance or presentation request
//! can be in, which step moves it from where to where, and what one step writes.
//!
//! Every step is one store transaction ([`crate::FlowStore::transition`]): it checks that the
//! request is in a status the step may leave (compare-and-set on the stored status, the
//! completion time and the expiry), then writes the new status, the body pollers get, the
//! callback for the RP, the replay records and the issued credential together, or nothing.
//!
//! | kind | step | from | to | final |
//! |---|---|---|---|---|
//! | both | retrieve (first request-object fetch) | `request_created` | `request_retrieved` | no |
//! | issuance | report failure (a wallet reports `issuance_failed` before any credential; counted, limited) | `request_created`, `request_retrieved`, `issuance_failure_reported` | `issuance_failure_reported` | no |
//! | issuance | issue (holder request accepted, credential recorded) | `request_created`, `request_retrieved`, `issuance_failure_reported` | `credential_issued` | no |
//! | issuance | redeem (OpenID4VCI: pre-authorized code and `tx_code` accepted, access token handed out) | `request_created`, `request_retrieved` | `token_issued` | no |
//! | issuance | deliver (OpenID4VCI: key proof accepted, credential recorded and returned) | `token_issued` | `issuance_successful` | yes |
//! | issuance | complete | `credential_issued` | `issuance_successful` | yes |
//! | issuance | fail (PIN / `tx_code` lockout; the wallet reports failure after its credential was issued) | `request_created`, `request_retrieved`, `issuance_failure_reported`, `credential_issued` | `issuance_error` | yes |
//! | presentation | refuse (a signed answer failed a check; counted, limited) | `request_created`, `request_retrieved`, `presentation_error`, `face_check_failed` | `presentation_error` | no |
//! | presentation | verify | `request_created`, `request_retrieved`, `presentation_error`, `face_check_failed`, `face_check_pending` | `presentation_verified` | yes |
//! | presentation | await selfie (answer verified, the request asks for a face check) | `request_created`, `request_retrieved`, `presentation_error`, `face_check_failed` | `face_check_pending` | no |
//! | presentation | selfie refused (no match, unusable image; counted, limited; reported as `presentation_error`) | `face_check_pending` | `face_check_failed` | no |
//!
//! Anything else is an illegal transition. A final status is never left, so once a
//! presentation is verified nothing changes that verdict.
//!
//! Nothing a wallet sends before it has been answered ends a request, because the request id
//! and nonce are public (they are in the QR code): a stranger's refused answer or reported
//! failure reaches the RP (`presentation_error` / `issuance_error` callbacks and polled status)
//! but leaves the request answerable by the real holder. `issuance_failure_reported` is stored
//! under its own name and reported to RPs as `issuance_error` ([`FlowStatus::reported_as`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::flow_model::{FlowRequest, NewIssuedCredential, RequestKind};

/// Where a flow request stands: its `requestStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Created by the RP; no wallet has fetched the request object yet.
    RequestCreated,
    /// A wallet fetched the request object.
    RequestRetrieved,
    /// Issuance: the credential was signed, recorded and handed to the wallet.
    CredentialIssued,
    /// Issuance: the wallet confirmed it stored the credential (final).
    IssuanceSuccessful,
    /// Issuance: ended with an error (final).
    IssuanceError,
    /// Issuance: a wallet reported a failure before any credential was issued (reported to
    /// RPs as `issuance_error`); the request stays answerable.
    IssuanceFailureReported,
    /// Presentation: the last signed answer was refused; the request stays answerable.
    PresentationError,
    /// Presentation: an answer was verified (final).
    PresentationVerified,
    /// Presentation: an answer was verified and the holder's selfie is awaited (internal: RPs
    /// still see `request_retrieved`). No other answer is taken meanwhile.
    FaceCheckPending,
    /// Presentation: the selfie did not match or could not be used (reported to RPs as
    /// `presentation_error`); the request is answerable again.
    FaceCheckFailed,
    /// Issuance (OpenID4VCI): the pre-authorized code was redeemed for an access token
    /// (internal: RPs still see `request_retrieved`). The code is never redeemed again; the
    /// credential request with that token moves on to `issuance_successful`.
    TokenIssued,
}

/// Every status, for tables and tests.
pub const ALL_STATUSES: [FlowStatus; 11] = [
    FlowStatus::RequestCreated,
    FlowStatus::RequestRetrieved,
    FlowStatus::CredentialIssued,
    FlowStatus::IssuanceSuccessful,
    FlowStatus::IssuanceError,
    FlowStatus::IssuanceFailureReported,
    FlowStatus::PresentationError,
    FlowStatus::PresentationVerified,
    FlowStatus::FaceCheckPending,
    FlowStatus::FaceCheckFailed,
    FlowStatus::TokenIssued,
];

impl FlowStatus {
    /// The stored name, which is also the `requestStatus` RPs see.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::RequestCreated => "request_created",
            FlowStatus::RequestRetrieved => "request_retrieved",
            FlowStatus::CredentialIssued => "credential_issued",
            FlowStatus::IssuanceSuccessful => "issuance_successful",
            FlowStatus::IssuanceError => "issuance_error",
            FlowStatus::IssuanceFailureReported => "issuance_failure_reported",
            FlowStatus::PresentationError => "presentation_error",
            FlowStatus::PresentationVerified => "presentation_verified",
            FlowStatus::FaceCheckPending => "face_check_pending",
            FlowStatus::FaceCheckFailed => "face_check_failed",
            FlowStatus::TokenIssued => "token_issued",
        }
    }

    /// The `requestStatus` RPs see for this status (polling and callbacks).
    pub fn reported_as(self) -> &'static str {
        match self {
            FlowStatus::IssuanceFailureReported => FlowStatus::IssuanceError.as_str(),
            FlowStatus::FaceCheckFailed => FlowStatus::PresentationError.as_str(),
            FlowStatus::TokenIssued => FlowStatus::RequestRetrieved.as_str(),
            other => other.as_str(),
        }
    }

    /// Whether the request is over once it reaches this status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            FlowStatus::IssuanceSuccessful
                | FlowStatus::IssuanceError
                | FlowStatus::PresentationVerified
        )
    }

    /// Whether a step to this status records the wallet's first contact (`retrieved_at`): the
    /// request object was fetched, or (OpenID4VCI) the offer's code was redeemed.
    pub fn marks_retrieved(self) -> bool {
        matches!(self, FlowStatus::RequestRetrieved | FlowStatus::TokenIssued)
    }

    /// Whether RPs receive this status as a callback (`credential_issued` is internal).
    pub fn is_reported(self) -> bool {
        !matches!(
            self,
            FlowStatus::RequestCreated
                | FlowStatus::CredentialIssued
                | FlowStatus::FaceCheckPending
                | FlowStatus::TokenIssued
        )
    }

    /// The statuses a request of `kind` may be in when it moves to `self`; empty when no
    /// request of that kind ever moves to `self`.
    pub fn allowed_from(self, kind: RequestKind) -> &'static [FlowStatus] {
        use FlowStatus as S;
        match (kind, self) {
            (_, S::RequestRetrieved) => &[S::RequestCreated],
            (RequestKind::Issuance, S::CredentialIssued | S::IssuanceFailureReported) => &[
                S::RequestCreated,
                S::RequestRetrieved,
                S::IssuanceFailureReported,
            ],
            (RequestKind::Issuance, S::TokenIssued) => &[S::RequestCreated, S::RequestRetrieved],
            (RequestKind::Issuance, S::IssuanceSuccessful) => {
                &[S::CredentialIssued, S::TokenIssued]
            }
            (RequestKind::Issuance, S::IssuanceError) => &[
                S::RequestCreated,
                S::RequestRetrieved,
                S::IssuanceFailureReported,
                S::CredentialIssued,
            ],
            // While the selfie is awaited no other answer is taken: a stranger's refused
            // answer cannot end the holder's face check.
            (RequestKind::Presentation, S::PresentationError | S::FaceCheckPending) => &[
                S::RequestCreated,
                S::RequestRetrieved,
                S::PresentationError,
                S::FaceCheckFailed,
            ],
            (RequestKind::Presentation, S::PresentationVerified) => &[
                S::RequestCreated,
                S::RequestRetrieved,
                S::PresentationError,
                S::FaceCheckFailed,
                S::FaceCheckPending,
            ],
            (RequestKind::Presentation, S::FaceCheckFailed) => &[S::FaceCheckPending],
            _ => &[],
        }
    }

    /// Whether a request of `kind` in status `self` may move to `to`.
    pub fn can_move_to(self, kind: RequestKind, to: FlowStatus) -> bool {
        to.allowed_from(kind).contains(&self)
    }
}

impl FromStr for FlowStatus {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        ALL_STATUSES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::InvalidData(format!("unknown request status {s:?}")))
    }
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A single-use value (a token's `jti`, a request's one credential) written with a step: the
/// step is refused when the value is already recorded and unexpired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceRecord {
    /// Namespace of the value, e.g. `vp_token` or `holder-request-jti`.
    pub scope: String,
    /// The value.
    pub value: String,
    /// Until when it is remembered.
    pub expires_at: DateTime<Utc>,
}

/// Where the callback of a step goes; the store writes it with the step (the outbox row).
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    /// Primary key of the message, chosen by the caller.
    pub id: Uuid,
    /// The RP's callback URL.
    pub url: String,
    /// Headers to send (may hold RP secrets; Debug prints the names only).
    pub headers: serde_json::Value,
    /// After this time the message is no longer retried.
    pub give_up_at: DateTime<Utc>,
}

impl fmt::Debug for CallbackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self
            .headers
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        f.debug_struct("CallbackTarget")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("headers", &names)
            .field("give_up_at", &self.give_up_at)
            .finish()
    }
}

/// Counters a step bumps atomically with its compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A refused presentation answer: the step is refused with [`Rejection::LimitReached`]
    /// once `limit` refusals were recorded for the request.
    Refusal {
        /// Refusals a request records at most.
        limit: i32,
    },
}

impl Counter {
    /// The count at which the step is refused.
    pub fn limit(self) -> i32 {
        match self {
            Counter::Refusal { limit } => limit,
        }
    }
}

/// One step of a flow, applied by [`crate::FlowStore::transition`] in one transaction.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The request.
    pub request_id: Uuid,
    /// The kind the caller expects the request to be (a mismatch is refused as `NotFound`).
    pub kind: RequestKind,
    /// The status to move to; the request's current status must be in `to.allowed_from(kind)`.
    pub to: FlowStatus,
    /// The status body pollers get (and the callback's body).
    pub body: serde_json::Value,
    /// The RP's callback, written as an outbox row when `to` is reported to RPs.
    pub callback: Option<CallbackTarget>,
    /// Replay records written with the step; one already taken refuses the whole step.
    pub once: Vec<OnceRecord>,
    /// The credential issued by this step, recorded with it.
    pub issued: Option<NewIssuedCredential>,
    /// A counter bumped with the step.
    pub counter: Option<Counter>,
    /// Refuse the step (with [`Rejection::Expired`]) when the request has expired at `now`.
    pub require_live: bool,
    /// What was checked to decide this step (the verifier's checks, for operators), stored
    /// with the step and never sent to RPs; `None` keeps what was stored before.
    pub diagnostics: Option<serde_json::Value>,
}

impl Transition {
    /// The outbox row this step writes: its callback, when it has one and `to` is reported to
    /// RPs.
    pub fn callback_message(&self) -> Option<crate::flow_model::NewCallback> {
        let target = self.callback.as_ref().filter(|_| self.writes_callback())?;
        Some(crate::flow_model::NewCallback {
            id: target.id,
            request_id: self.request_id,
            request_status: self.to.as_str().to_owned(),
            url: target.url.clone(),
            headers: target.headers.clone(),
            body: self.body.clone(),
            give_up_at: target.give_up_at,
        })
    }

    /// Whether the step writes a callback row: it has a callback and `to` is reported to RPs.
    pub fn writes_callback(&self) -> bool {
        self.callback.is_some() && self.to.is_reported()
    }

    /// Whether the step writes nothing but the request row (no replay record, credential or
    /// callback): then its guarded update alone is the step.
    pub fn writes_only_the_row(&self) -> bool {
        self.once.is_empty() && self.issued.is_none() && !self.writes_callback()
    }

    /// The stored names of the statuses the step may leave, for the guarded update.
    pub(crate) fn allowed_from_names(&self) -> Vec<&'static str> {
        self.to
            .allowed_from(self.kind)
            .iter()
            .map(|s| s.as_str())
            .collect()
    }
}

impl Transition {
    /// A step to `to` with `body` and nothing else written.
    pub fn new(
        request_id: Uuid,
        kind: RequestKind,
        to: FlowStatus,
        body: serde_json::Value,
    ) -> Self {
        Self {
            request_id,
            kind,
            to,
            body,
            callback: None,
            once: Vec::new(),
            issued: None,
            counter: None,
            require_live: true,
            diagnostics: None,
        }
    }
}

/// Why a step changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The request is in a status the step may not leave (e.g. already verified, or answered
    /// by a concurrent step that won).
    WrongStatus(FlowStatus),
    /// The request has expired.
    Expired,
    /// A replay record of the step was already taken.
    Replay {
        /// Its scope.
        scope: String,
    },
    /// A counter of the step reached its limit.
    LimitReached,
    /// The PIN lockout: too many wrong PINs were recorded.
    Locked,
}

/// What a step did.
#[derive(Debug, Clone)]
pub enum TransitionOutcome {
    /// Written; the request as stored now.
    Applied(Box<FlowRequest>),
    /// Nothing written; the request as stored.
    Rejected(Rejection, Box<FlowRequest>),
}

/// What recording a wrong PIN did.
#[derive(Debug, Clone)]
pub enum PinOutcome {
    /// Counted; attempts remain. The new count.
    Counted(i32),
    /// Counted, and this failure locked the request: it moved to the lockout status with its
    /// callback, in the same transaction.
    LockedNow(Box<FlowRequest>),
    /// Nothing written: the request was already locked, final or expired.
    Rejected(Rejection, Box<FlowRequest>),
}

/// Decides a step against the stored request, before anything is written: the rule both
/// backends apply inside their transaction (the row is locked while it runs).
pub(crate) fn check_step(
    current: &FlowRequest,
    t: &Transition,
    now: DateTime<Utc>,
) -> Result<Option<Rejection>> {
    if current.kind != t.kind {
        return Err(StoreError::NotFound {
            entity: "request",
            id: t.request_id.to_string(),
        });
    }
    if t.to.allowed_from(t.kind).is_empty() {
        return Err(StoreError::InvalidData(format!(
            "illegal transition: a {} request never moves to {}",
            t.kind, t.to
        )));
    }
    let status: FlowStatus = current.status.parse()?;
    if !status.can_move_to(t.kind, t.to) || current.completed_at.is_some() {
        return Ok(Some(Rejection::WrongStatus(status)));
    }
    if t.require_live && now >= current.expires_at {
        return Ok(Some(Rejection::Expired));
    }
    if let Some(Counter::Refusal { limit }) = t.counter
        && current.refusals >= limit
    {
        return Ok(Some(Rejection::LimitReached));
    }
    Ok(None)
}

/// The PIN rule: whether a wrong PIN may still be counted.
pub(crate) fn check_pin_failure(
    current: &FlowRequest,
    max: i32,
    now: DateTime<Utc>,
) -> Result<Option<Rejection>> {
    let status: FlowStatus = current.status.parse()?;
    if current.pin_failures >= max {
        return Ok(Some(Rejection::Locked));
    }
    if status.is_final() || current.completed_at.is_some() {
        return Ok(Some(Rejection::WrongStatus(status)));
    }
    if now >= current.expires_at {
        return Ok(Some(Rejection::Expired));
    }
    Ok(None)
}

/// The outbox sequence number of a callback written by a step: refusals are numbered so each
/// reaches the RP; every other status is sent once.
pub(crate) fn callback_seq(t: &Transition, refusals_after: i32) -> i32 {
    match t.counter {
        Some(Counter::Refusal { .. }) => refusals_after,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ALL_STATUSES {
            assert_eq!(s.as_str().parse::<FlowStatus>().unwrap(), s);
        }
        assert!("issued".parse::<FlowStatus>().is_err());
    }

    #[test]
    fn final_statuses_are_never_left() {
        for kind in [RequestKind::Issuance, RequestKind::Presentation] {
            for from in ALL_STATUSES.into_iter().filter(|s| s.is_final()) {
                for to in ALL_STATUSES {
                    assert!(!from.can_move_to(kind, to), "{kind}: {from} -> {to}");
                }
            }
        }
    }

    #[test]
    fn kinds_keep_their_own_statuses() {
        use FlowStatus as S;
        for to in [
            S::PresentationError,
            S::PresentationVerified,
            S::FaceCheckPending,
            S::FaceCheckFailed,
        ] {
            assert!(to.allowed_from(RequestKind::Issuance).is_empty(), "{to}");
        }
        for to in [
            S::CredentialIssued,
            S::IssuanceSuccessful,
            S::IssuanceError,
            S::IssuanceFailureReported,
            S::TokenIssued,
        ] {
            assert!(
                to.allowed_from(RequestKind::Presentation).is_empty(),
                "{to}"
            );
        }
        assert!(
            S::RequestCreated
                .allowed_from(RequestKind::Issuance)
                .is_empty()
        );
    }

    #[test]
    fn the_table_of_the_module_doc() {
        use FlowStatus as S;
        let i = RequestKind::Issuance;
        let p = RequestKind::Presentation;
        assert!(S::RequestCreated.can_move_to(i, S::RequestRetrieved));
        assert!(!S::RequestRetrieved.can_move_to(i, S::RequestRetrieved));
        assert!(S::RequestRetrieved.can_move_to(i, S::CredentialIssued));
        assert!(!S::CredentialIssued.can_move_to(i, S::CredentialIssued));
        assert!(S::CredentialIssued.can_move_to(i, S::IssuanceSuccessful));
        assert!(!S::RequestRetrieved.can_move_to(i, S::IssuanceSuccessful));
        assert!(S::CredentialIssued.can_move_to(i, S::IssuanceError));
        assert!(S::PresentationError.can_move_to(p, S::PresentationVerified));
        assert!(S::PresentationError.can_move_to(p, S::PresentationError));
        assert!(!S::PresentationVerified.can_move_to(p, S::PresentationError));
        assert!(!S::PresentationError.can_move_to(p, S::RequestRetrieved));
        assert!(S::RequestRetrieved.can_move_to(i, S::IssuanceFailureReported));
        assert!(S::IssuanceFailureReported.can_move_to(i, S::IssuanceFailureReported));
        assert!(S::IssuanceFailureReported.can_move_to(i, S::CredentialIssued));
        assert!(S::IssuanceFailureReported.can_move_to(i, S::IssuanceError));
        assert!(!S::CredentialIssued.can_move_to(i, S::IssuanceFailureReported));
        assert!(!S::IssuanceFailureReported.can_move_to(i, S::IssuanceSuccessful));
        assert!(S::RequestRetrieved.can_move_to(p, S::FaceCheckPending));
        assert!(S::FaceCheckPending.can_move_to(p, S::PresentationVerified));
        assert!(S::FaceCheckPending.can_move_to(p, S::FaceCheckFailed));
        assert!(S::FaceCheckFailed.can_move_to(p, S::FaceCheckPending));
        assert!(
            !S::FaceCheckPending.can_move_to(p, S::PresentationError),
            "no refusal while the selfie is awaited"
        );
        assert!(
            !S::FaceCheckPending.can_move_to(p, S::FaceCheckPending),
            "one answer awaits its selfie"
        );
        assert!(!S::RequestRetrieved.can_move_to(p, S::FaceCheckFailed));
        assert!(S::RequestCreated.can_move_to(i, S::TokenIssued));
        assert!(S::RequestRetrieved.can_move_to(i, S::TokenIssued));
        assert!(
            !S::TokenIssued.can_move_to(i, S::TokenIssued),
            "a pre-authorized code is redeemed once"
        );
        assert!(S::TokenIssued.can_move_to(i, S::IssuanceSuccessful));
        assert!(
            !S::TokenIssued.can_move_to(i, S::CredentialIssued),
            "no hosted-profile holder request after the code was redeemed"
        );
        assert!(
            !S::TokenIssued.can_move_to(i, S::IssuanceFailureReported),
            "a stranger's failure report does not touch a redeemed offer"
        );
        assert!(!S::IssuanceFailureReported.can_move_to(i, S::TokenIssued));
    }

    #[test]
    fn a_reported_failure_reads_as_issuance_error_to_rps() {
        assert_eq!(
            FlowStatus::IssuanceFailureReported.reported_as(),
            "issuance_error"
        );
        assert!(!FlowStatus::IssuanceFailureReported.is_final());
        assert_eq!(
            FlowStatus::FaceCheckFailed.reported_as(),
            "presentation_error"
        );
        assert_eq!(FlowStatus::TokenIssued.reported_as(), "request_retrieved");
        for s in ALL_STATUSES.into_iter().filter(|s| {
            !matches!(
                s,
                FlowStatus::IssuanceFailureReported
                    | FlowStatus::FaceCheckFailed
                    | FlowStatus::TokenIssued
            )
        }) {
            assert_eq!(s.reported_as(), s.as_str());
        }
    }

    #[test]
    fn only_internal_statuses_are_not_reported() {
        let unreported: Vec<_> = ALL_STATUSES
            .into_iter()
            .filter(|s| !s.is_reported())
            .collect();
        assert_eq!(
            unreported,
            [
                FlowStatus::RequestCreated,
                FlowStatus::CredentialIssued,
                FlowStatus::FaceCheckPending,
                FlowStatus::TokenIssued
            ]
        );
    }
}
