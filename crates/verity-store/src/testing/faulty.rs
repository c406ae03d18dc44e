//! `FaultyStore`, a test double that makes a real store fail on purpose: a call fails before it
//! reaches the database, after its writes committed (the caller never learns they did: a lost
//! response), or at one statement inside a flow step's transaction (which then rolls back).
//!
//! The injected error is [`StoreError::Database`], what a lost connection or a database outage
//! gives, so callers treat it as such (the server answers 503 `transientError`).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::fault::{ARMED, FaultPoint};
use crate::flow_model::{
    CallbackMessage, Contract, FlowRequest, IssuedCredential, NewCallback, NewFlowRequest,
    NewIssuedCredential, StatusAllocation, StatusList,
};
use crate::machine::{OnceRecord, PinOutcome, Transition, TransitionOutcome};
use crate::model::{ApiClient, ApiKey, Authority, KeyPurpose, KeyRecord, KeyState, NewKey, Tenant};
use crate::{AuditEntry, CredentialStore, FlowStore, NewAuditEntry, OutboxStore, Store};

/// Runs `fut` with `point` armed: every statement a flow step of this task runs asks `point`
/// first (see [`FaultPoint`]). Steps on other tasks are not affected.
pub async fn with_fault_point<F: Future>(point: Arc<dyn FaultPoint>, fut: F) -> F::Output {
    ARMED.scope(point, fut).await
}

/// The error every injected fault returns: a database failure naming where it happened.
pub fn injected_error(method: &str, detail: &str) -> StoreError {
    StoreError::Database(format!(
        "{method}: connection to the database lost ({detail}; injected by the FaultyStore test \
         double)"
    ))
}

/// Whether an error is one [`FaultyStore`] injected.
pub fn is_injected(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(m) if m.contains("injected by the FaultyStore test double"))
}

/// A [`FaultPoint`] that fails the `n`th statement it is asked about (1-based), once.
#[derive(Debug)]
pub struct FailNthStatement {
    n: u32,
    state: Mutex<(u32, Option<&'static str>)>,
}

impl FailNthStatement {
    /// Fails the `n`th statement (1-based; 0 never fails).
    pub fn new(n: u32) -> Self {
        Self {
            n,
            state: Mutex::new((0, None)),
        }
    }

    /// The statement it failed, if it reached the `n`th.
    pub fn failed(&self) -> Option<&'static str> {
        lock(&self.state).1
    }

    /// How many statements it was asked about.
    pub fn seen(&self) -> u32 {
        lock(&self.state).0
    }
}

impl FaultPoint for FailNthStatement {
    fn before_statement(&self, statement: &'static str) -> Result<()> {
        let mut state = lock(&self.state);
        state.0 += 1;
        if state.0 == self.n {
            state.1 = Some(statement);
            return Err(injected_error(
                statement,
                &format!("statement {} of the step", self.n),
            ));
        }
        Ok(())
    }
}

/// Where the planned call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAt {
    /// Before delegating: the call never reaches the database, nothing is written.
    Before,
    /// After delegating: whatever the call wrote is committed, but the caller gets an error
    /// (the response was lost). A call that failed by itself returns its own error.
    After,
    /// At the `n`th statement (1-based) of the call's flow step
    /// ([`crate::FlowStore::transition`], [`crate::FlowStore::record_pin_failure`]; also the
    /// replay-record, issued-credential and callback inserts of other calls): the statement
    /// fails and the step's transaction rolls back. A call that runs fewer statements is
    /// not failed (and [`FaultyStore::injected`] does not list it).
    Statement(u32),
}

/// Which calls a plan counts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    All,
    Only(Vec<&'static str>),
    Except(Vec<&'static str>),
}

impl Filter {
    fn counts(&self, method: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Only(names) => names.contains(&method),
            Filter::Except(names) => !names.contains(&method),
        }
    }
}

/// One fault to inject: the `n`th counted call after arming fails at `at`. Calls are counted
/// from the moment the plan is armed; by default every call counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    nth: u64,
    filter: Filter,
    at: FaultAt,
}

impl FaultPlan {
    /// The `n`th call (1-based) fails at `at`.
    pub fn nth_call(n: u64, at: FaultAt) -> Self {
        Self {
            nth: n,
            filter: Filter::All,
            at,
        }
    }

    /// Counts only calls to these methods (names as in the `Store` traits).
    pub fn only(mut self, methods: &[&'static str]) -> Self {
        self.filter = Filter::Only(methods.to_vec());
        self
    }

    /// Counts every call except those to these methods (e.g. background workers' calls).
    pub fn except(mut self, methods: &[&'static str]) -> Self {
        self.filter = Filter::Except(methods.to_vec());
        self
    }
}

/// A fault that was injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The method whose call failed.
    pub method: &'static str,
    /// Where it failed.
    pub at: FaultAt,
    /// For [`FaultAt::Statement`], the statement that failed.
    pub statement: Option<&'static str>,
}

#[derive(Debug, Default)]
struct State {
    plan: Option<FaultPlan>,
    counted: u64,
    calls: Vec<&'static str>,
    injected: Vec<Injected>,
}

/// Test double: a real store behind the [`Store`] traits that fails calls according to a
/// [`FaultPlan`] (one at a time, each fires once), and logs every call it receives.
/// Unarmed, it only delegates. Never used outside tests.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    state: Mutex<State>,
}

/// What to do with one call.
enum Decision {
    Pass,
    Fail(FaultAt),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock already failed; keep the state readable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultyStore {
    /// Wraps `inner`, unarmed.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            state: Mutex::new(State::default()),
        }
    }

    /// The wrapped store (for checks that must not be counted or failed).
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Arms `plan`, replacing any armed one; calls are counted from now.
    pub fn arm(&self, plan: FaultPlan) {
        let mut state = lock(&self.state);
        state.plan = Some(plan);
        state.counted = 0;
    }

    /// Disarms the plan, if it has not fired yet.
    pub fn disarm(&self) {
        lock(&self.state).plan = None;
    }

    /// Whether a plan is armed and has not fired yet.
    pub fn is_armed(&self) -> bool {
        lock(&self.state).plan.is_some()
    }

    /// The faults injected so far, oldest first.
    pub fn injected(&self) -> Vec<Injected> {
        lock(&self.state).injected.clone()
    }

    /// The methods called so far, in order (every call, counted or not).
    pub fn calls(&self) -> Vec<&'static str> {
        lock(&self.state).calls.clone()
    }

    fn decide(&self, method: &'static str) -> Decision {
        let mut state = lock(&self.state);
        state.calls.push(method);
        let Some(plan) = &state.plan else {
            return Decision::Pass;
        };
        if !plan.filter.counts(method) {
            return Decision::Pass;
        }
        let (nth, at) = (plan.nth, plan.at);
        state.counted += 1;
        if state.counted < nth {
            return Decision::Pass;
        }
        state.plan = None;
        if !matches!(at, FaultAt::Statement(_)) {
            state.injected.push(Injected {
                method,
                at,
                statement: None,
            });
        }
        Decision::Fail(at)
    }

    /// Runs one delegated call under the plan.
    async fn call<T>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        match self.decide(method) {
            Decision::Pass => fut.await,
            // The delegated future is dropped unpolled: the call never starts.
            Decision::Fail(FaultAt::Before) => Err(injected_error(method, "before the call")),
            Decision::Fail(FaultAt::After) => {
                fut.await?;
                Err(injected_error(method, "after the call committed"))
            }
            Decision::Fail(FaultAt::Statement(n)) => {
                let point = Arc::new(FailNthStatement::new(n));
                let out = with_fault_point(point.clone(), fut).await;
                if let Some(statement) = point.failed() {
                    lock(&self.state).injected.push(Injected {
                        method,
                        at: FaultAt::Statement(n),
                        statement: Some(statement),
                    });
                }
                out
            }
        }
    }
}

/// Implements a trait by delegating every method to `self.inner` through [`FaultyStore::call`].
macro_rules! delegate {
    ($trait:ident { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )* }) => {
        #[async_trait::async_trait]
        impl $trait for FaultyStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.call(stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

delegate!(FlowStore {
    fn create_request(&self, r: &NewFlowRequest, now: DateTime<Utc>) -> Result<FlowRequest>;
    fn request(&self, id: Uuid) -> Result<Option<FlowRequest>>;
    fn request_diagnostics(&self, id: Uuid) -> Result<Option<serde_json::Value>>;
    fn recent_requests(&self, kind: Option<crate::RequestKind>, status: Option<&str>, limit: u32) -> Result<Vec<FlowRequest>>;
    fn transition(&self, t: &Transition, now: DateTime<Utc>) -> Result<TransitionOutcome>;
    fn record_pin_failure(&self, id: Uuid, max: i32, once: &[OnceRecord], lock: &Transition,
        now: DateTime<Utc>) -> Result<PinOutcome>;
    fn purge_expired(&self, policy: &crate::PurgePolicy) -> Result<crate::Purged>;
    fn is_once_taken(&self, scope: &str, value: &str, now: DateTime<Utc>) -> Result<bool>;
    fn consume_once(&self, scope: &str, value: &str, expires_at: DateTime<Utc>,
        now: DateTime<Utc>) -> Result<bool>;
});

delegate!(OutboxStore {
    fn enqueue_callback(&self, m: &NewCallback, now: DateTime<Utc>) -> Result<bool>;
    fn claim_due_callbacks(&self, now: DateTime<Utc>, limit: u32, lease_secs: i64)
        -> Result<Vec<CallbackMessage>>;
    fn mark_callback_delivered(&self, id: Uuid, attempts: i32, now: DateTime<Utc>) -> Result<()>;
    fn mark_callback_retry(&self, id: Uuid, attempts: i32, next_attempt_at: DateTime<Utc>,
        error: &str, now: DateTime<Utc>) -> Result<()>;
    fn mark_callback_failed(&self, id: Uuid, attempts: i32, error: &str, now: DateTime<Utc>)
        -> Result<()>;
    fn callbacks_for_request(&self, request_id: Uuid) -> Result<Vec<CallbackMessage>>;
    fn pending_callbacks(&self) -> Result<i64>;
});

delegate!(CredentialStore {
    fn create_contract(&self, tenant_id: Uuid, authority_id: Uuid, name: &str,
        definition: &serde_json::Value, now: DateTime<Utc>) -> Result<Contract>;
    fn contract(&self, id: Uuid) -> Result<Option<Contract>>;
    fn list_contracts(&self, tenant_id: Option<Uuid>) -> Result<Vec<Contract>>;
    fn update_contract(&self, id: Uuid, definition: &serde_json::Value, now: DateTime<Utc>)
        -> Result<Contract>;
    fn set_contract_enabled(&self, id: Uuid, enabled: bool, now: DateTime<Utc>)
        -> Result<Contract>;
    fn allocate_status_index(&self, authority_id: Uuid, purpose: &str, list_length: u32,
        pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync), now: DateTime<Utc>)
        -> Result<StatusAllocation>;
    fn allocate_status_indices(&self, authority_id: Uuid, purpose: &str, list_length: u32,
        count: u32, pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
        now: DateTime<Utc>) -> Result<Vec<StatusAllocation>>;
    fn status_list(&self, id: Uuid) -> Result<Option<StatusList>>;
    fn close_status_lists(&self, authority_id: Option<Uuid>, now: DateTime<Utc>) -> Result<u64>;
    fn store_signed_status_list(&self, id: Uuid, version: i64, jwt: &str, now: DateTime<Utc>)
        -> Result<bool>;
    fn record_issued_credential(&self, c: &NewIssuedCredential) -> Result<IssuedCredential>;
    fn issued_credential_by_jti(&self, jti: &str) -> Result<Option<IssuedCredential>>;
    fn find_credentials(&self, contract_id: Option<Uuid>, indexed_claim_hash: Option<&str>,
        subject_did: Option<&str>, limit: u32) -> Result<Vec<IssuedCredential>>;
    fn revoke_credential(&self, id: Uuid, reason: &str, now: DateTime<Utc>)
        -> Result<(IssuedCredential, Option<Uuid>)>;
});

/// `Store` itself: `backend` is not a database call and is neither counted nor failed.
macro_rules! delegate_store {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {
        #[async_trait::async_trait]
        impl Store for FaultyStore {
            fn backend(&self) -> &'static str {
                self.inner.backend()
            }
            fn pool_stats(&self) -> Option<crate::PoolStats> {
                self.inner.pool_stats()
            }
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.call(stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

delegate_store! {
    fn ping(&self) -> Result<()>;
    fn record_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;
    fn audit_entries(&self, since: Option<DateTime<Utc>>, limit: u32) -> Result<Vec<AuditEntry>>;
    fn revoke_credential_audited(&self, id: Uuid, reason: &str, now: DateTime<Utc>,
        audit: &NewAuditEntry) -> Result<(IssuedCredential, Option<Uuid>)>;
    fn set_suspension_audited(&self, id: Uuid, suspend: bool, reason: &str, now: DateTime<Utc>,
        audit: &NewAuditEntry) -> Result<(Option<crate::CredentialSuspension>, bool)>;
    fn credential_suspension(&self, id: Uuid) -> Result<Option<crate::CredentialSuspension>>;
    fn create_tenant(&self, name: &str, now: DateTime<Utc>) -> Result<Tenant>;
    fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;
    fn tenant(&self, id: Uuid) -> Result<Option<Tenant>>;
    fn list_tenants(&self) -> Result<Vec<Tenant>>;
    fn create_authority(&self, tenant_id: Uuid, name: &str, did: &str, first_key: &NewKey,
        now: DateTime<Utc>) -> Result<Authority>;
    fn authority(&self, id: Uuid) -> Result<Option<Authority>>;
    fn authority_by_did(&self, did: &str) -> Result<Option<Authority>>;
    fn list_authorities(&self, tenant_id: Option<Uuid>) -> Result<Vec<Authority>>;
    fn authority_keys(&self, authority_id: Uuid) -> Result<Vec<KeyRecord>>;
    fn active_key(&self, authority_id: Uuid) -> Result<Option<KeyRecord>>;
    fn rotate_authority_key(&self, authority_id: Uuid, new_key: &NewKey, now: DateTime<Utc>)
        -> Result<KeyRecord>;
    fn set_key_state(&self, key_id: Uuid, state: KeyState, now: DateTime<Utc>)
        -> Result<KeyRecord>;
    fn delete_key(&self, key_id: Uuid) -> Result<()>;
    fn service_keys(&self, purpose: KeyPurpose) -> Result<Vec<KeyRecord>>;
    fn insert_service_key(&self, purpose: KeyPurpose, key: &NewKey, now: DateTime<Utc>)
        -> Result<KeyRecord>;
    fn any_key(&self) -> Result<Option<KeyRecord>>;
    fn keys_sealed_with_other_kek(&self, kek_id: &str) -> Result<Vec<KeyRecord>>;
    fn reseal_key(&self, key_id: Uuid, from_kek_id: &str, sealed: &[u8], to_kek_id: &str)
        -> Result<bool>;
    fn service_secret(&self, name: &str) -> Result<Option<crate::SealedSecret>>;
    fn put_service_secret(&self, name: &str, sealed: &[u8], kek_id: &str, now: DateTime<Utc>)
        -> Result<crate::SealedSecret>;
    fn reseal_service_secret(&self, name: &str, from_kek_id: &str, sealed: &[u8],
        to_kek_id: &str, now: DateTime<Utc>) -> Result<bool>;
    fn create_api_client(&self, tenant_id: Uuid, client_id: &str, name: &str, secret_hash: &str,
        now: DateTime<Utc>) -> Result<ApiClient>;
    fn api_client(&self, client_id: &str) -> Result<Option<ApiClient>>;
    fn list_api_clients(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiClient>>;
    fn delete_api_client(&self, client_id: &str) -> Result<bool>;
    fn create_api_key(&self, tenant_id: Uuid, name: &str, key_prefix: &str, key_hash: &str,
        now: DateTime<Utc>) -> Result<ApiKey>;
    fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    fn list_api_keys(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiKey>>;
    fn delete_api_key(&self, id: Uuid) -> Result<bool>;
}
