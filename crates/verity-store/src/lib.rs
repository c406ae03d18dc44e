//! Persistence for Verity: the only crate that contains SQL.
//!
//! Callers hold an `Arc<dyn Store>` obtained from [`connect`], which picks the backend from the
//! URL scheme, opens a pool and applies the embedded migrations
//! (`migrations/postgres` or `migrations/sqlite` at the workspace root):
//!
//! - [`PgStore`]: Postgres, for production and for several replicas sharing one database;
//! - [`SqliteStore`]: an embedded file in WAL mode with `synchronous=FULL`, the zero-config default.
//!
//! Both implement the same [`Store`] trait (with its supertraits [`FlowStore`], [`OutboxStore`]
//! and [`CredentialStore`] for the credential flows) and pass the same test suite. Queries are built at
//! run time (no compile-time checked macros), so the crate builds without a database.
//!
//! Conventions both backends keep:
//! - timestamps are stored to the microsecond; sub-microsecond digits of a `now` argument are
//!   dropped and the returned rows carry the stored value; years outside 1..=9999 are refused;
//! - lists are ordered by `created_at` (oldest first, ties broken by id) unless a method says
//!   otherwise;
//! - a unique violation becomes [`StoreError::Conflict`] naming the field, a missing parent row
//!   [`StoreError::NotFound`].

#![forbid(unsafe_code)]

mod audit;
mod cache;
mod error;
mod fault;
mod flow_model;
mod flows;
pub mod machine;
mod model;
mod postgres;
mod sqlite;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

#[cfg(test)]
mod suite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use audit::{AuditEntry, MAX_AUDIT_PAGE, MAX_AUDIT_TEXT, NewAuditEntry};
pub use error::{Result, StoreError};
pub use fault::{CRASH_POINT_REACHED, arm_crash_point, crash_point};
pub use flow_model::{
    CallbackMessage, Contract, CredentialSuspension, FlowRequest, INITIAL_REQUEST_STATUS,
    IssuedCredential, MAX_STATUS_INDEX_BATCH, NewCallback, NewFlowRequest, NewIssuedCredential,
    OutboxState, PURPOSE_REVOCATION_SUSPENSION, RequestKind, StatusAllocation, StatusList,
};
pub use flows::{CredentialStore, FlowStore, OutboxStore, PurgePolicy, Purged};
pub use machine::{
    CallbackTarget, Counter, FlowStatus, OnceRecord, PinOutcome, Rejection, Transition,
    TransitionOutcome,
};
pub use model::{
    ApiClient, ApiKey, Authority, KeyPurpose, KeyRecord, KeyState, NewKey, SealedSecret, Tenant,
};
pub use postgres::{DEFAULT_PG_MAX_CONNECTIONS, PgStore};
pub use sqlite::{DEFAULT_SQLITE_MAX_CONNECTIONS, SqliteStore};

/// Connections of a store's pools (all pools of the store added up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections (in use or idle).
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pools may open.
    pub max: u32,
}

/// The repository: every read and write Verity makes to its database.
///
/// The credential flows' methods live in the supertraits [`FlowStore`], [`OutboxStore`] and
/// [`CredentialStore`]; an `Arc<dyn Store>` offers them too.
#[async_trait::async_trait]
pub trait Store: FlowStore + OutboxStore + CredentialStore + Send + Sync + std::fmt::Debug {
    /// Which backend this is: "postgres" or "sqlite".
    fn backend(&self) -> &'static str;

    /// Runs a trivial query: succeeds when the database answers (readiness probe).
    async fn ping(&self) -> Result<()>;

    /// Connection pool use right now (`/metrics`); `None` when there is no pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    /// Appends `entry` to the audit log (texts cut to [`MAX_AUDIT_TEXT`]).
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;

    /// Audit rows at or after `since` (all when `None`), oldest first, at most `limit`
    /// (1 to [`MAX_AUDIT_PAGE`]).
    async fn audit_entries(
        &self,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// [`CredentialStore::revoke_credential`] that writes `audit` in the same transaction,
    /// with the outcome `revoked`, or `already revoked` when nothing changed (nothing is
    /// written when the credential does not exist: `NotFound`).
    async fn revoke_credential_audited(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(IssuedCredential, Option<Uuid>)>;

    /// Suspends (`suspend`) or resumes a credential of a multi-purpose status list
    /// ([`PURPOSE_REVOCATION_SUSPENSION`]), with `audit` in the same transaction (outcome
    /// `suspended`, `resumed`, or `already suspended` / `not suspended` when nothing changed):
    /// sets or clears its bit in the list's suspension bitstring (the list's `version`
    /// increases) and writes or removes its [`CredentialSuspension`]. Returns the suspension
    /// in force afterwards and whether anything changed. `NotFound` for an unknown credential;
    /// `InvalidData` when it has no suspension entry, or to suspend a revoked credential.
    async fn set_suspension_audited(
        &self,
        id: Uuid,
        suspend: bool,
        reason: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(Option<CredentialSuspension>, bool)>;

    /// The suspension in force for a credential, if any.
    async fn credential_suspension(&self, id: Uuid) -> Result<Option<CredentialSuspension>>;

    /// Creates a tenant; `Conflict` on a duplicate name.
    async fn create_tenant(&self, name: &str, now: DateTime<Utc>) -> Result<Tenant>;

    /// The tenant with this exact name.
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;

    /// The tenant with this id.
    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>>;

    /// All tenants, oldest first.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// Creates an authority and its first (active) key in one transaction.
    ///
    /// `NotFound` if the tenant does not exist; `Conflict` on a duplicate DID or key id.
    async fn create_authority(
        &self,
        tenant_id: Uuid,
        name: &str,
        did: &str,
        first_key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<Authority>;

    /// The authority with this id.
    async fn authority(&self, id: Uuid) -> Result<Option<Authority>>;

    /// The authority with this exact DID.
    async fn authority_by_did(&self, did: &str) -> Result<Option<Authority>>;

    /// Authorities of one tenant, or of all tenants with `None`; oldest first.
    async fn list_authorities(&self, tenant_id: Option<Uuid>) -> Result<Vec<Authority>>;

    /// All keys of an authority in every state, newest first (ties broken by id, descending).
    async fn authority_keys(&self, authority_id: Uuid) -> Result<Vec<KeyRecord>>;

    /// The authority's active key.
    async fn active_key(&self, authority_id: Uuid) -> Result<Option<KeyRecord>>;

    /// In one transaction: the current active key becomes retiring and `new_key` is inserted as
    /// active. Concurrent rotations of one authority are serialised.
    ///
    /// `NotFound` if the authority does not exist; `Conflict` on a duplicate key id.
    async fn rotate_authority_key(
        &self,
        authority_id: Uuid,
        new_key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord>;

    /// Moves a key along its lifecycle and returns it as stored.
    ///
    /// Only `retiring -> revoked` changes anything; asking for the current state returns the key
    /// unchanged. Refused with `InvalidData`: making a key active (rotation does that), moving
    /// the active key out of active (rotate first, then revoke the retiring key: an authority
    /// always keeps exactly one active key), and leaving `revoked` (final). `NotFound` if the
    /// key does not exist.
    async fn set_key_state(
        &self,
        key_id: Uuid,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord>;

    /// Deletes a retiring or revoked key; `InvalidData` for the active key, `NotFound` if absent.
    async fn delete_key(&self, key_id: Uuid) -> Result<()>;

    /// Service keys (no authority) of a purpose in every state, newest first.
    async fn service_keys(&self, purpose: KeyPurpose) -> Result<Vec<KeyRecord>>;

    /// Inserts a service key as the active key of its purpose; the previously active service
    /// key of that purpose (if any) becomes retiring in the same transaction.
    ///
    /// `InvalidData` for [`KeyPurpose::Authority`] (those keys belong to an authority);
    /// `Conflict` on a duplicate key id.
    async fn insert_service_key(
        &self,
        purpose: KeyPurpose,
        key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord>;

    /// Some stored key (the newest), used at start-up to check that the KEK decrypts.
    async fn any_key(&self) -> Result<Option<KeyRecord>>;

    /// Every key (authority and service keys, in every state) whose private half is not sealed
    /// under the KEK `kek_id`, oldest first: what a KEK rotation re-seals.
    async fn keys_sealed_with_other_kek(&self, kek_id: &str) -> Result<Vec<KeyRecord>>;

    /// Replaces a key's sealed private half by `sealed` (under `to_kek_id`) if it is still
    /// sealed under `from_kek_id`: `false` when it is not (another replica re-sealed it first)
    /// or the key is gone.
    async fn reseal_key(
        &self,
        key_id: Uuid,
        from_kek_id: &str,
        sealed: &[u8],
        to_kek_id: &str,
    ) -> Result<bool>;

    /// The service secret `name`, if stored.
    async fn service_secret(&self, name: &str) -> Result<Option<SealedSecret>>;

    /// Stores the service secret `name` unless it exists, and returns the stored one (this or
    /// the one another replica stored first).
    async fn put_service_secret(
        &self,
        name: &str,
        sealed: &[u8],
        kek_id: &str,
        now: DateTime<Utc>,
    ) -> Result<SealedSecret>;

    /// [`Store::reseal_key`] for a service secret.
    async fn reseal_service_secret(
        &self,
        name: &str,
        from_kek_id: &str,
        sealed: &[u8],
        to_kek_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Creates an API client; `NotFound` for an unknown tenant, `Conflict` on a duplicate
    /// `client_id`.
    async fn create_api_client(
        &self,
        tenant_id: Uuid,
        client_id: &str,
        name: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiClient>;

    /// The API client with this `client_id`.
    async fn api_client(&self, client_id: &str) -> Result<Option<ApiClient>>;

    /// API clients of one tenant, or of all with `None`; oldest first.
    async fn list_api_clients(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiClient>>;

    /// Deletes an API client; `false` if there was none.
    async fn delete_api_client(&self, client_id: &str) -> Result<bool>;

    /// Creates an API key; `NotFound` for an unknown tenant, `Conflict` on a duplicate hash.
    async fn create_api_key(
        &self,
        tenant_id: Uuid,
        name: &str,
        key_prefix: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKey>;

    /// The API key with this hash.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;

    /// API keys of one tenant, or of all with `None`; oldest first.
    async fn list_api_keys(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiKey>>;

    /// Deletes an API key; `false` if there was none.
    async fn delete_api_key(&self, id: Uuid) -> Result<bool>;
}

/// Opens the store a URL names and applies pending migrations.
///
/// `postgres://` or `postgresql://` opens a [`PgStore`]; `sqlite://path` or `sqlite:path`
/// (relative to the working directory; `sqlite:///abs/path` for an absolute one;
/// `sqlite::memory:` for a throwaway database) opens a [`SqliteStore`]. Anything else is
/// [`StoreError::UnsupportedUrl`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, None).await
}

/// [`connect`] with a pool size: at most `max_connections` connections to Postgres (default
/// [`DEFAULT_PG_MAX_CONNECTIONS`]), or that many read-only connections next to SQLite's one
/// writer (default [`DEFAULT_SQLITE_MAX_CONNECTIONS`]). `Some(0)` counts as 1.
pub async fn connect_with(url: &str, max_connections: Option<u32>) -> Result<Arc<dyn Store>> {
    match scheme(url) {
        Some("postgres" | "postgresql") => Ok(Arc::new(
            PgStore::connect_with(url, max_connections.unwrap_or(DEFAULT_PG_MAX_CONNECTIONS))
                .await?,
        )),
        Some("sqlite") => Ok(Arc::new(
            SqliteStore::connect_with(
                url,
                max_connections.unwrap_or(DEFAULT_SQLITE_MAX_CONNECTIONS),
            )
            .await?,
        )),
        Some(other) => Err(StoreError::UnsupportedUrl(format!(
            "scheme {other:?} is not supported; use postgres://, postgresql:// or sqlite:"
        ))),
        None => Err(StoreError::UnsupportedUrl(
            "the URL has no scheme; use postgres://, postgresql:// or sqlite:".into(),
        )),
    }
}

/// The URL scheme (case-sensitive: the backends' URL parsers are). Only the part before the
/// first ':' is looked at, so nothing else of the URL (which may carry a password) reaches an
/// error message.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsupported_schemes_are_refused_without_echoing_the_url() {
        for url in [
            "mysql://root:hunter2@localhost/verity",
            "http://example.com",
            "Postgres://user:hunter2@localhost/db",
        ] {
            let err = connect(url).await.unwrap_err();
            assert_eq!(err.code(), "STORE-006", "{url}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(err.to_string().contains("postgres://"), "{err}");
        }
        for url in ["", "no-scheme-here", "/var/lib/verity.db", "://x"] {
            let err = connect(url).await.unwrap_err();
            assert_eq!(err.code(), "STORE-006", "{url:?}");
            assert!(err.to_string().contains("no scheme"), "{err}");
        }
    }

    #[tokio::test]
    async fn postgres_connect_errors_name_the_server_but_not_the_password() {
        let urls = [
            // Nothing listens on port 1: the connect error is sqlx's, with its causes.
            "postgres://verity:hunter2@127.0.0.1:1/verity",
            "postgres://127.0.0.1:1/verity?user=verity&password=hunter2",
            // Does not parse.
            "postgres://verity:hunter2@127.0.0.1:notaport/verity",
        ];
        // At once: an unreachable server takes the whole acquire timeout to give up.
        let (a, b, c) = tokio::join!(connect(urls[0]), connect(urls[1]), connect(urls[2]));
        for (url, result) in urls.iter().zip([a, b, c]) {
            let Err(err) = result else {
                panic!("{url} connected");
            };
            let text = err.to_string();
            assert!(!text.contains("hunter2"), "{url}: {text}");
            assert!(text.contains("Postgres"), "{text}");
            if url.contains(":1/") {
                assert!(
                    text.contains("127.0.0.1:1/verity"),
                    "names the server: {text}"
                );
            }
        }
    }

    #[test]
    fn scheme_takes_the_part_before_the_colon() {
        assert_eq!(scheme("postgres://a@b/c"), Some("postgres"));
        assert_eq!(scheme("sqlite:data/verity.db"), Some("sqlite"));
        assert_eq!(scheme("sqlite::memory:"), Some("sqlite"));
        assert_eq!(scheme("nocolon"), None);
        assert_eq!(scheme("has space:x"), None);
    }
}
