//! The repository traits of the credential flows, kept apart from [`crate::Store`] so each
//! stays readable. `Store` requires all three, so an `Arc<dyn Store>` offers every method.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::flow_model::{
    CallbackMessage, Contract, FlowRequest, IssuedCredential, NewCallback, NewFlowRequest,
    NewIssuedCredential, StatusAllocation, StatusList,
};
use crate::machine::{OnceRecord, PinOutcome, Transition, TransitionOutcome};

/// Issuance and presentation requests, and the replay guard.
#[async_trait::async_trait]
pub trait FlowStore: Send + Sync {
    /// Inserts a request in status [`crate::INITIAL_REQUEST_STATUS`].
    ///
    /// `Conflict` on a duplicate id or nonce; `NotFound` for an unknown tenant, authority or
    /// contract.
    async fn create_request(&self, r: &NewFlowRequest, now: DateTime<Utc>) -> Result<FlowRequest>;

    /// The request with this id.
    async fn request(&self, id: Uuid) -> Result<Option<FlowRequest>>;

    /// What was checked to decide a request's latest steps ([`crate::Transition::diagnostics`]).
    async fn request_diagnostics(&self, id: Uuid) -> Result<Option<serde_json::Value>>;

    /// The most recent requests, newest first (at most `limit`), of one kind and/or status
    /// when given: what the operator console lists.
    async fn recent_requests(
        &self,
        kind: Option<crate::RequestKind>,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FlowRequest>>;

    /// Applies one step of a flow ([`crate::machine`]) in one transaction: checks the stored
    /// status (and expiry, and the step's counter) against the step, then writes the new
    /// status and body, the callback (when the status is reported to RPs and a target is
    /// given), the replay records and the issued credential together; or writes nothing and
    /// says why. Concurrent steps on one request, also on other replicas, are serialised: of
    /// two steps that both leave the same status, one wins and the other is rejected.
    ///
    /// `NotFound` if the request does not exist or is of another kind; `InvalidData` for a
    /// step no request of that kind ever takes; the errors of `record_issued_credential` for
    /// the issued credential (then nothing is written).
    async fn transition(&self, t: &Transition, now: DateTime<Utc>) -> Result<TransitionOutcome>;

    /// Counts one wrong PIN, atomically with the lockout: when the count reaches `max`,
    /// `lock` (a step to the lockout status, normally `issuance_error`) is applied in the
    /// same transaction. Refused (nothing written) once the request is locked, final or
    /// expired, so concurrent guesses never count past `max` and no guess after the lockout
    /// is considered. `once` (the guess's token id) is written with the count; one already
    /// taken refuses the guess as a replay without counting it. `NotFound` if absent.
    async fn record_pin_failure(
        &self,
        id: Uuid,
        max: i32,
        once: &[OnceRecord],
        lock: &Transition,
        now: DateTime<Utc>,
    ) -> Result<PinOutcome>;

    /// One batch of the retention sweep (docs/OPERATIONS.md, "Retention"), each part at most
    /// `policy.batch` rows: deletes replay records that expired before `policy.now`; requests
    /// that expired before `policy.requests_before` and have no pending callback (their
    /// results, receipts and callbacks go with them); audit entries recorded before
    /// `policy.audit_before`, when set; and clears the held verdict (which carries the
    /// credential's photo) of face checks whose request expired while the selfie was awaited.
    /// Run by the background sweeper, never on a request's path. Issued credentials are kept.
    async fn purge_expired(&self, policy: &PurgePolicy) -> Result<Purged>;

    /// Whether `value` is recorded in `scope` and unexpired at `now` (a read: steps write
    /// their records themselves, atomically; this only lets a replay be reported early).
    async fn is_once_taken(&self, scope: &str, value: &str, now: DateTime<Utc>) -> Result<bool>;

    /// Remembers `value` in `scope` until `expires_at`: `true` the first time, `false` while an
    /// unexpired entry exists (a replay). Deletes a bounded batch of expired entries.
    async fn consume_once(
        &self,
        scope: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// The callbacks outbox: at-least-once delivery, one message per request and status.
///
/// A message is `pending` until delivered or given up; both of those are final (a late
/// retry or failure report for a final message changes nothing).
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a message due at once; `false` (and nothing written) if the request already has a
    /// message for this status. `NotFound` for an unknown request; `Conflict` on a duplicate id.
    async fn enqueue_callback(&self, m: &NewCallback, now: DateTime<Utc>) -> Result<bool>;

    /// Leases up to `limit` pending messages that are due (`next_attempt_at <= now`) and not
    /// leased (no lease, or one that ended at or before `now`) for `lease_secs`, soonest due
    /// first. Concurrent callers, also on other replicas, never get the same message while its
    /// lease lasts. `InvalidData` unless `lease_secs` is positive.
    async fn claim_due_callbacks(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_secs: i64,
    ) -> Result<Vec<CallbackMessage>>;

    /// Marks a message delivered (from pending or failed) and releases its lease.
    /// `NotFound` if absent.
    async fn mark_callback_delivered(
        &self,
        id: Uuid,
        attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Keeps a pending message pending for another attempt at `next_attempt_at` and releases
    /// its lease. `NotFound` if absent.
    async fn mark_callback_retry(
        &self,
        id: Uuid,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Gives up on a pending message. `NotFound` if absent.
    async fn mark_callback_failed(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The messages of one request, oldest first.
    async fn callbacks_for_request(&self, request_id: Uuid) -> Result<Vec<CallbackMessage>>;

    /// How many messages are pending.
    async fn pending_callbacks(&self) -> Result<i64>;
}

/// Contracts, status lists and issued credentials.
#[async_trait::async_trait]
pub trait CredentialStore: Send + Sync {
    /// Creates an enabled contract of an authority of `tenant_id`.
    ///
    /// `Conflict` on a duplicate name for the authority; `NotFound` for an unknown tenant or
    /// authority; `InvalidData` if the authority belongs to another tenant.
    async fn create_contract(
        &self,
        tenant_id: Uuid,
        authority_id: Uuid,
        name: &str,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Contract>;

    /// The contract with this id.
    async fn contract(&self, id: Uuid) -> Result<Option<Contract>>;

    /// Contracts of one tenant, or of all with `None`; oldest first.
    async fn list_contracts(&self, tenant_id: Option<Uuid>) -> Result<Vec<Contract>>;

    /// Replaces a contract's definition. `NotFound` if absent.
    async fn update_contract(
        &self,
        id: Uuid,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Contract>;

    /// Enables or disables a contract. `NotFound` if absent.
    async fn set_contract_enabled(
        &self,
        id: Uuid,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Contract>;

    /// Allocates a never-used index in the authority's open list for `purpose`.
    ///
    /// `pick` gets the list's allocation bitmap (`length / 8` bytes, bit set = used, most
    /// significant bit first) and returns a free index, or `None` when the list is full.
    /// When there is no open list, or it is full (`pick` returns `None`), a new list of
    /// `list_length` bits is created and `pick` is called on its empty bitmap. The allocation
    /// bitmap is stored with the list, apart from the status bits, so an index is never handed
    /// out twice, even if the credential is never recorded. Concurrent allocators, also on
    /// other replicas, are serialised per list.
    ///
    /// `NotFound` for an unknown authority; `InvalidData` if `list_length` is not a positive
    /// multiple of 8, or `pick` returns a used or out-of-range index, or `None` for an empty
    /// list.
    // `for<'a>` is what `Fn(&[u8])` means; it is spelled out because `async_trait` would
    // otherwise give the elided lifetime a name and make the picker non-generic over it.
    async fn allocate_status_index(
        &self,
        authority_id: Uuid,
        purpose: &str,
        list_length: u32,
        pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
        now: DateTime<Utc>,
    ) -> Result<StatusAllocation> {
        let mut batch = self
            .allocate_status_indices(authority_id, purpose, list_length, 1, pick, now)
            .await?;
        batch.pop().ok_or_else(|| {
            crate::StoreError::InvalidData("the status index allocation returned nothing".into())
        })
    }

    /// Allocates up to `count` indices (1 to [`crate::MAX_STATUS_INDEX_BATCH`]) from one list
    /// in one transaction, as [`Self::allocate_status_index`] does for one: `pick` is called
    /// once per index on the bitmap with the batch's earlier picks already marked. Fewer than
    /// `count` (at least one) come back when the open list fills up; the next call opens a new
    /// list. Every index returned is used from then on, whether or not a credential is ever
    /// recorded with it, so a caller may hold a batch in memory and hand its indices out one
    /// by one (a crash loses the unused ones, it never reuses one).
    async fn allocate_status_indices(
        &self,
        authority_id: Uuid,
        purpose: &str,
        list_length: u32,
        count: u32,
        pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
        now: DateTime<Utc>,
    ) -> Result<Vec<StatusAllocation>>;

    /// The status list with this id.
    async fn status_list(&self, id: Uuid) -> Result<Option<StatusList>>;

    /// Closes the open status lists (of one authority, or of all with `None`): the next index
    /// allocation opens a new, empty list, and no index of a closed list is handed out again.
    /// Their bits stay served and revocable. Returns how many lists were closed. For a restore
    /// from an older backup, whose allocation bitmaps forgot indices handed out since.
    async fn close_status_lists(
        &self,
        authority_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    /// Caches a signed list credential made from `version`: `false` (nothing stored) if the
    /// bits changed since. `NotFound` if the list does not exist.
    async fn store_signed_status_list(
        &self,
        id: Uuid,
        version: i64,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records an issued credential.
    ///
    /// `Conflict` on a duplicate id, `jti`, or status list and index; `NotFound` for an
    /// unknown tenant, contract, authority or status list; `InvalidData` when only one of
    /// `status_list_id` and `status_index` is given, the list belongs to another authority, or
    /// the index was never allocated.
    async fn record_issued_credential(&self, c: &NewIssuedCredential) -> Result<IssuedCredential>;

    /// The issued credential with this `jti`.
    async fn issued_credential_by_jti(&self, jti: &str) -> Result<Option<IssuedCredential>>;

    /// Issued credentials matching every given filter, oldest issued first, at most `limit`.
    async fn find_credentials(
        &self,
        contract_id: Option<Uuid>,
        indexed_claim_hash: Option<&str>,
        subject_did: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IssuedCredential>>;

    /// Revokes a credential and sets its bit in its status list, bumping the list's version,
    /// in one transaction.
    ///
    /// Returns the credential and the id of the list whose version changed: `None` when the
    /// credential has no status entry or was already revoked (then it is returned unchanged).
    /// `NotFound` if absent.
    async fn revoke_credential(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(IssuedCredential, Option<Uuid>)>;
}

/// What one batch of the retention sweep removes ([`FlowStore::purge_expired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePolicy {
    /// The sweep's time: replay records and face checks that expired before it.
    pub now: DateTime<Utc>,
    /// Requests that expired before this time go.
    pub requests_before: DateTime<Utc>,
    /// Audit entries recorded before this time go; `None` keeps every entry.
    pub audit_before: Option<DateTime<Utc>>,
    /// Rows of each kind per batch.
    pub batch: u32,
}

/// Rows one batch of the retention sweep removed or cleared, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub replay_records: u64,
    pub requests: u64,
    pub audit_entries: u64,
    /// Expired face checks whose held verdict (and so the credential's photo) was cleared.
    pub face_checks: u64,
}

impl Purged {
    /// Whether any part filled its batch (more may be left).
    pub fn any_full(&self, batch: u32) -> bool {
        let b = u64::from(batch);
        self.replay_records >= b
            || self.requests >= b
            || self.audit_entries >= b
            || self.face_checks >= b
    }
}

impl std::ops::Add for Purged {
    type Output = Purged;

    /// The sum of two batches.
    fn add(self, o: Purged) -> Purged {
        Purged {
            replay_records: self.replay_records + o.replay_records,
            requests: self.requests + o.requests,
            audit_entries: self.audit_entries + o.audit_entries,
            face_checks: self.face_checks + o.face_checks,
        }
    }
}
