//! The pipeline's seams (small async traits, one per external system) and the
//! [`VerifyContext`] that bundles them with the time of the check.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use verity_did::DidResolver;
use verity_linked_domains::LinkageResult;
use verity_status_list::VerifiedStatusList;

use crate::SourceError;

/// Default clock skew tolerated on token times, in seconds.
pub const DEFAULT_SKEW_SECS: i64 = 60;
/// Largest clock skew the pipeline honours, whatever the configuration says: a larger leeway
/// would turn "expired" into "valid for a while longer".
pub const MAX_SKEW_SECS: i64 = 300;
/// Replay-store scope of vp_token `jti` values.
pub const VP_TOKEN_REPLAY_SCOPE: &str = "vp_token";

/// Fetches and verifies Bitstring Status List credentials.
#[async_trait]
pub trait StatusListSource: Send + Sync + Debug {
    /// The verified list published at `url` as of `now` (unix seconds): signature by the
    /// list's issuer (assertionMethod), validity window, and that it names `url`.
    /// [`SourceError::Unavailable`] when it cannot be fetched right now.
    async fn fetch(&self, url: &str, now: i64) -> Result<Arc<VerifiedStatusList>, SourceError>;

    /// The lists at `urls`, in order, each as [`Self::fetch`] would answer. A source that
    /// publishes several views of one stored list (a multi-purpose list's revocation and
    /// suspension bits) reads that list once for all of them.
    async fn fetch_all(
        &self,
        urls: &[String],
        now: i64,
    ) -> Vec<Result<Arc<VerifiedStatusList>, SourceError>> {
        let mut lists = Vec::with_capacity(urls.len());
        for url in urls {
            lists.push(self.fetch(url, now).await);
        }
        lists
    }
}

/// Checks an issuer's DIF Well-Known DID Configuration linkage.
#[async_trait]
pub trait LinkageChecker: Send + Sync + Debug {
    /// The linkage verdict for `did` at `now`; `NotChecked` means "could not run".
    async fn check(&self, did: &str, now: i64) -> LinkageResult;
}

/// Remembers single-use values (vp_token `jti`s) so a presentation is accepted once.
#[async_trait]
pub trait ReplayGuard: Send + Sync + Debug {
    /// Atomically records `value` in `scope` until `expires_at`; true the first time, false
    /// when it is already recorded and not expired at `now`.
    async fn consume(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, SourceError>;
}

/// Everything a verification needs besides its inputs: the seams and the time.
#[derive(Debug, Clone)]
pub struct VerifyContext {
    /// Resolves holder and issuer DIDs (did:jwk / did:key locally, did:web over HTTPS).
    pub resolver: Arc<dyn DidResolver>,
    /// Fetches status lists.
    pub status: Arc<dyn StatusListSource>,
    /// Checks linked domains.
    pub linkage: Arc<dyn LinkageChecker>,
    /// Records vp_token `jti`s.
    pub replay: Arc<dyn ReplayGuard>,
    /// Whether a face matcher is configured: without one, requests that ask for a face check
    /// are refused. The comparison itself is a later flow step (the selfie).
    pub face_check: bool,
    /// The time of the check, unix seconds.
    pub now: i64,
    /// Clock skew tolerated on token times, seconds; clamped to `0..=MAX_SKEW_SECS`.
    pub skew: i64,
    /// When a status list cannot be fetched, accept the credential as VALID (recording the
    /// status check as skipped) instead of failing with a transient error. Off by default:
    /// an operator who prefers availability over prompt revocation turns it on knowingly.
    pub fail_open_on_unreachable: bool,
}

impl VerifyContext {
    /// A context at `now` with the default skew, no face check, failing closed on
    /// unreachable status lists.
    pub fn new(
        resolver: Arc<dyn DidResolver>,
        status: Arc<dyn StatusListSource>,
        linkage: Arc<dyn LinkageChecker>,
        replay: Arc<dyn ReplayGuard>,
        now: i64,
    ) -> Self {
        Self {
            resolver,
            status,
            linkage,
            replay,
            face_check: false,
            now,
            skew: DEFAULT_SKEW_SECS,
            fail_open_on_unreachable: false,
        }
    }

    /// Sets the time of the check (a context is typically kept and re-timed per request).
    pub fn with_now(mut self, now: i64) -> Self {
        self.now = now;
        self
    }

    /// Sets the tolerated clock skew (clamped to `0..=MAX_SKEW_SECS` when used).
    pub fn with_skew(mut self, skew: i64) -> Self {
        self.skew = skew;
        self
    }

    /// Says whether a face matcher is configured.
    pub fn with_face_check(mut self, available: bool) -> Self {
        self.face_check = available;
        self
    }

    /// See [`VerifyContext::fail_open_on_unreachable`].
    pub fn with_fail_open_on_unreachable(mut self, fail_open: bool) -> Self {
        self.fail_open_on_unreachable = fail_open;
        self
    }

    /// The skew actually applied.
    pub fn effective_skew(&self) -> i64 {
        self.skew.clamp(0, MAX_SKEW_SECS)
    }
}
