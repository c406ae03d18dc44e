//! [`Store`] on an embedded SQLite file (WAL, `synchronous=FULL`).
//!
//! Connections: one writer and a pool of read-only readers. SQLite lets one connection write at
//! a time; with a single writer connection, writers queue in order in the pool (no sleeping on
//! the busy timeout, no lock-upgrade failures), while readers read the last commit under WAL.
//! Durability is the same for every table: `synchronous=FULL` on the writer, so a commit is on
//! disk when it returns. Issued credentials, their status indices, revocations and keys must
//! survive a power cut; flow state could be weaker, but a lost step after its callback was
//! delivered would let the RP see a verdict the service no longer has, so it is not.
//!
//! SQLite has no uuid, timestamp or JSON types: ids are stored as lowercase hyphenated TEXT,
//! times as fixed-width UTC TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ` (text order is time order), JSON
//! as TEXT. Multi-statement writes open with `BEGIN IMMEDIATE`, taking the single write lock up
//! front so concurrent writers queue on the busy timeout instead of failing on a lock upgrade.

use crate::fault;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::Store;
use crate::error::{
    ParentRef, Result, StoreError, UniqueCase, api_key_hash_conflict, db_error, map_sqlx,
    sqlite_message_names,
};
use crate::model::{
    ApiClient, ApiKey, Authority, KeyPurpose, KeyRecord, KeyState, NewKey, SealedSecret, Tenant,
    Transition, check_transition, new_id, normalize_time, refuse_authority_purpose,
};

mod audit;
mod flows;

/// Read-only connections a file-backed [`SqliteStore`] opens at most (besides its one writer):
/// reads proceed in parallel with the writer under WAL.
pub const DEFAULT_SQLITE_MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite-backed store: the embedded, zero-configuration backend for a single node.
#[derive(Clone)]
pub struct SqliteStore {
    /// The writer: one connection. Every statement that writes goes here.
    pool: SqlitePool,
    /// Read-only connections for plain reads (the writer itself for an in-memory database).
    reader: SqlitePool,
    /// Authorities already read (they never change).
    authorities: crate::cache::AuthorityCache,
    /// The database file (or the in-memory name), for Debug and errors.
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating file and parent directories if missing) and migrates the database.
    ///
    /// `sqlite:path` and `sqlite://path` are relative to the working directory,
    /// `sqlite:///abs/path` is absolute, `sqlite::memory:` is a private in-memory database that
    /// lives as long as the store.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, DEFAULT_SQLITE_MAX_CONNECTIONS).await
    }

    /// [`Self::connect`] with at most `readers` read-only connections (at least 1) next to the
    /// writer; an in-memory database has its one connection only.
    pub async fn connect_with(url: &str, readers: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("invalid SQLite URL: {e}")))?;
        let path = options.get_filename().to_path_buf();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let (false, Some(parent)) = (in_memory, parent) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!(
                    "cannot create directory {} for the SQLite database: {e}",
                    parent.display()
                ))
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it returns. An issued credential's status index
            // must never be lost, and then handed out again, after a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let open_error = |e: sqlx::Error| {
            StoreError::Database(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        };
        // No ping before each use: the connections are in-process, a ping is only a round
        // trip to the connection's thread.
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            // An in-memory database disappears with its last connection: keep it open.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;

        let mut migrator = sqlx::migrate!("../../migrations/sqlite");
        // Same rule as Postgres: an older binary may open a database a newer one migrated.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.map_err(|e| {
            StoreError::Migration(format!("SQLite database {}: {e}", path.display()))
        })?;
        let reader = if in_memory {
            // A private in-memory database exists on its one connection only.
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .max_connections(readers.max(1))
                .connect_with(options.read_only(true))
                .await
                .map_err(open_error)?
        };
        tracing::info!(backend = "sqlite", path = %path.display(), "database opened and migrated");
        Ok(Self {
            pool,
            reader,
            authorities: Default::default(),
            path,
        })
    }

    async fn begin_write(&self, op: &str) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| db_error(e, op))
    }
}

async fn commit(tx: Transaction<'static, Sqlite>, op: &str) -> Result<()> {
    if fault::crash_points_armed() {
        fault::crash_point(&format!("{op}: before commit"));
    }
    tx.commit().await.map_err(|e| db_error(e, op))?;
    if fault::crash_points_armed() {
        fault::crash_point(&format!("{op}: committed"));
    }
    Ok(())
}

// ---- encodings ----------------------------------------------------------------------------

/// Fixed-width UTC text; `t` must have gone through `normalize_time`.
fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_time(column: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            StoreError::InvalidData(format!("stored {column} {s:?} is not a timestamp: {e}"))
        })
}

fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn parse_id(column: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s)
        .map_err(|e| StoreError::InvalidData(format!("stored {column} {s:?} is not a UUID: {e}")))
}

fn parse_json(column: &str, s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::InvalidData(format!("stored {column} is not JSON: {e}")))
}

// ---- rows ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    created_at: String,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(r: TenantRow) -> Result<Self> {
        Ok(Tenant {
            id: parse_id("tenants.id", &r.id)?,
            name: r.name,
            created_at: parse_time("tenants.created_at", &r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AuthorityRow {
    id: String,
    tenant_id: String,
    name: String,
    did: String,
    created_at: String,
}

impl TryFrom<AuthorityRow> for Authority {
    type Error = StoreError;

    fn try_from(r: AuthorityRow) -> Result<Self> {
        Ok(Authority {
            id: parse_id("authorities.id", &r.id)?,
            tenant_id: parse_id("authorities.tenant_id", &r.tenant_id)?,
            name: r.name,
            did: r.did,
            created_at: parse_time("authorities.created_at", &r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    authority_id: Option<String>,
    purpose: String,
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    private_key_enc: Vec<u8>,
    kek_id: String,
    created_at: String,
    state_changed_at: String,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(KeyRecord {
            id: parse_id("signing_keys.id", &r.id)?,
            authority_id: r
                .authority_id
                .as_deref()
                .map(|a| parse_id("signing_keys.authority_id", a))
                .transpose()?,
            purpose: r.purpose.parse()?,
            kid: r.kid,
            alg: r.alg,
            state: r.state.parse()?,
            public_jwk: parse_json("signing_keys.public_jwk", &r.public_jwk)?,
            private_key_enc: r.private_key_enc,
            kek_id: r.kek_id,
            created_at: parse_time("signing_keys.created_at", &r.created_at)?,
            state_changed_at: parse_time("signing_keys.state_changed_at", &r.state_changed_at)?,
        })
    }
}

fn keys(rows: Vec<KeyRow>) -> Result<Vec<KeyRecord>> {
    rows.into_iter().map(KeyRecord::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct ApiClientRow {
    id: String,
    tenant_id: String,
    client_id: String,
    name: String,
    secret_hash: String,
    created_at: String,
}

impl TryFrom<ApiClientRow> for ApiClient {
    type Error = StoreError;

    fn try_from(r: ApiClientRow) -> Result<Self> {
        Ok(ApiClient {
            id: parse_id("api_clients.id", &r.id)?,
            tenant_id: parse_id("api_clients.tenant_id", &r.tenant_id)?,
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            created_at: parse_time("api_clients.created_at", &r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    tenant_id: String,
    name: String,
    key_prefix: String,
    key_hash: String,
    created_at: String,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(r: ApiKeyRow) -> Result<Self> {
        Ok(ApiKey {
            id: parse_id("api_keys.id", &r.id)?,
            tenant_id: parse_id("api_keys.tenant_id", &r.tenant_id)?,
            name: r.name,
            key_prefix: r.key_prefix,
            key_hash: r.key_hash,
            created_at: parse_time("api_keys.created_at", &r.created_at)?,
        })
    }
}

fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

// ---- SQL ----------------------------------------------------------------------------------

macro_rules! key_select {
    () => {
        "SELECT id, authority_id, purpose, kid, alg, state, public_jwk, private_key_enc, kek_id, \
         created_at, state_changed_at FROM signing_keys "
    };
}

const INSERT_KEY: &str = "INSERT INTO signing_keys (id, authority_id, purpose, kid, alg, state, \
     public_jwk, private_key_enc, kek_id, created_at, state_changed_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Inserts `key` as the active key of `owner`/`purpose` inside `tx`.
async fn insert_active_key(
    tx: &mut Transaction<'static, Sqlite>,
    owner: Option<Uuid>,
    purpose: KeyPurpose,
    key: &NewKey,
    now: DateTime<Utc>,
) -> Result<KeyRecord> {
    let jwk = serde_json::to_string(&key.public_jwk)
        .map_err(|e| StoreError::InvalidData(format!("public_jwk cannot be serialised: {e}")))?;
    sqlx::query(INSERT_KEY)
        .bind(id_text(key.id))
        .bind(owner.map(id_text))
        .bind(purpose.as_str())
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(KeyState::Active.as_str())
        .bind(jwk)
        .bind(&key.private_key_enc)
        .bind(&key.kek_id)
        .bind(time_text(now))
        .bind(time_text(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| key_insert_error(e, key))?;
    Ok(KeyRecord {
        id: key.id,
        authority_id: owner,
        purpose,
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        state: KeyState::Active,
        public_jwk: key.public_jwk.clone(),
        private_key_enc: key.private_key_enc.clone(),
        kek_id: key.kek_id.clone(),
        created_at: now,
        state_changed_at: now,
    })
}

fn key_insert_error(e: sqlx::Error, key: &NewKey) -> StoreError {
    map_sqlx(
        e,
        "insert signing key",
        sqlite_message_names,
        vec![
            UniqueCase {
                marker: "signing_keys.id",
                entity: "signing key",
                field: "id",
                value: key.id.to_string(),
            },
            UniqueCase {
                marker: "'signing_keys_kid_key'",
                entity: "signing key",
                field: "kid",
                value: key.kid.clone(),
            },
            UniqueCase {
                marker: "'signing_keys_one_active_key'",
                entity: "signing key",
                field: "state",
                value: KeyState::Active.as_str().into(),
            },
        ],
        None,
    )
}

/// Marks the active key of `owner`/`purpose` retiring inside `tx`.
async fn retire_active(
    tx: &mut Transaction<'static, Sqlite>,
    owner: Option<Uuid>,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE signing_keys SET state = 'retiring', state_changed_at = ? \
         WHERE authority_id IS ? AND purpose = ? AND state = 'active'",
    )
    .bind(time_text(now))
    .bind(owner.map(id_text))
    .bind(purpose.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(e, "retire active key"))?;
    Ok(())
}

fn tenant_parent(tenant_id: Uuid) -> Option<ParentRef> {
    Some(ParentRef {
        entity: "tenant",
        id: tenant_id.to_string(),
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn record_audit(&self, entry: &crate::NewAuditEntry) -> Result<crate::AuditEntry> {
        self.record_audit_entry(entry).await
    }

    async fn audit_entries(
        &self,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<crate::AuditEntry>> {
        self.list_audit_entries(since, limit).await
    }

    async fn revoke_credential_audited(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
        audit: &crate::NewAuditEntry,
    ) -> Result<(crate::IssuedCredential, Option<Uuid>)> {
        self.revoke_with(id, reason, now, Some(audit)).await
    }

    async fn set_suspension_audited(
        &self,
        id: Uuid,
        suspend: bool,
        reason: &str,
        now: DateTime<Utc>,
        audit: &crate::NewAuditEntry,
    ) -> Result<(Option<crate::CredentialSuspension>, bool)> {
        self.suspend_with(id, suspend, reason, now, audit).await
    }

    async fn credential_suspension(&self, id: Uuid) -> Result<Option<crate::CredentialSuspension>> {
        self.suspension_of(id).await
    }

    fn pool_stats(&self) -> Option<crate::PoolStats> {
        let stats = |p: &SqlitePool| crate::PoolStats {
            size: p.size(),
            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
            max: p.options().get_max_connections(),
        };
        let writer = stats(&self.pool);
        let path = self.path.to_string_lossy();
        if path.contains(":memory:") || path.contains("mode=memory") {
            // The reader is the writer (one connection).
            return Some(writer);
        }
        let reader = stats(&self.reader);
        Some(crate::PoolStats {
            size: writer.size + reader.size,
            idle: writer.idle + reader.idle,
            max: writer.max + reader.max,
        })
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, "ping"))?;
        Ok(())
    }

    async fn create_tenant(&self, name: &str, now: DateTime<Utc>) -> Result<Tenant> {
        let now = normalize_time(now)?;
        let id = new_id(now);
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
            .bind(id_text(id))
            .bind(name)
            .bind(time_text(now))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                map_sqlx(
                    e,
                    "insert tenant",
                    sqlite_message_names,
                    vec![UniqueCase {
                        marker: "tenants.name",
                        entity: "tenant",
                        field: "name",
                        value: name.into(),
                    }],
                    None,
                )
            })?;
        Ok(Tenant {
            id,
            name: name.into(),
            created_at: now,
        })
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| db_error(e, "load tenant by name"))?;
        row.map(Tenant::try_from).transpose()
    }

    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = ?")
                .bind(id_text(id))
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| db_error(e, "load tenant"))?;
        row.map(Tenant::try_from).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
                .fetch_all(&self.reader)
                .await
                .map_err(|e| db_error(e, "list tenants"))?;
        convert(rows)
    }

    async fn create_authority(
        &self,
        tenant_id: Uuid,
        name: &str,
        did: &str,
        first_key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<Authority> {
        let now = normalize_time(now)?;
        let id = new_id(now);
        let mut tx = self.begin_write("create authority").await?;
        sqlx::query(
            "INSERT INTO authorities (id, tenant_id, name, did, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_text(id))
        .bind(id_text(tenant_id))
        .bind(name)
        .bind(did)
        .bind(time_text(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert authority",
                sqlite_message_names,
                vec![UniqueCase {
                    marker: "authorities.did",
                    entity: "authority",
                    field: "did",
                    value: did.into(),
                }],
                tenant_parent(tenant_id),
            )
        })?;
        insert_active_key(&mut tx, Some(id), KeyPurpose::Authority, first_key, now).await?;
        commit(tx, "create authority").await?;
        Ok(self.authorities.put(Authority {
            id,
            tenant_id,
            name: name.into(),
            did: did.into(),
            created_at: now,
        }))
    }

    async fn authority(&self, id: Uuid) -> Result<Option<Authority>> {
        if let Some(a) = self.authorities.by_id(id) {
            return Ok(Some(a));
        }
        let row: Option<AuthorityRow> = sqlx::query_as(
            "SELECT id, tenant_id, name, did, created_at FROM authorities WHERE id = ?",
        )
        .bind(id_text(id))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load authority"))?;
        Ok(row
            .map(Authority::try_from)
            .transpose()?
            .map(|a| self.authorities.put(a)))
    }

    async fn authority_by_did(&self, did: &str) -> Result<Option<Authority>> {
        if let Some(a) = self.authorities.by_did(did) {
            return Ok(Some(a));
        }
        let row: Option<AuthorityRow> = sqlx::query_as(
            "SELECT id, tenant_id, name, did, created_at FROM authorities WHERE did = ?",
        )
        .bind(did)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load authority by DID"))?;
        Ok(row
            .map(Authority::try_from)
            .transpose()?
            .map(|a| self.authorities.put(a)))
    }

    async fn list_authorities(&self, tenant_id: Option<Uuid>) -> Result<Vec<Authority>> {
        let rows: Vec<AuthorityRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(
                    "SELECT id, tenant_id, name, did, created_at FROM authorities \
                     WHERE tenant_id = ? ORDER BY created_at, id",
                )
                .bind(id_text(t))
                .fetch_all(&self.reader)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT id, tenant_id, name, did, created_at FROM authorities \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(|e| db_error(e, "list authorities"))?;
        convert(rows)
    }

    async fn authority_keys(&self, authority_id: Uuid) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(id_text(authority_id))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| db_error(e, "list authority keys"))?;
        keys(rows)
    }

    async fn active_key(&self, authority_id: Uuid) -> Result<Option<KeyRecord>> {
        let row: Option<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id = ? AND purpose = 'authority' AND state = 'active'"
        ))
        .bind(id_text(authority_id))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load active key"))?;
        row.map(KeyRecord::try_from).transpose()
    }

    async fn rotate_authority_key(
        &self,
        authority_id: Uuid,
        new_key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord> {
        let now = normalize_time(now)?;
        // BEGIN IMMEDIATE holds the database's write lock: rotations are serialised.
        let mut tx = self.begin_write("rotate authority key").await?;
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM authorities WHERE id = ?")
            .bind(id_text(authority_id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(e, "load authority"))?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                entity: "authority",
                id: authority_id.to_string(),
            });
        }
        retire_active(&mut tx, Some(authority_id), KeyPurpose::Authority, now).await?;
        let record = insert_active_key(
            &mut tx,
            Some(authority_id),
            KeyPurpose::Authority,
            new_key,
            now,
        )
        .await?;
        commit(tx, "rotate authority key").await?;
        Ok(record)
    }

    async fn set_key_state(
        &self,
        key_id: Uuid,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord> {
        let now = normalize_time(now)?;
        let mut tx = self.begin_write("set key state").await?;
        let row: Option<KeyRow> = sqlx::query_as(concat!(key_select!(), "WHERE id = ?"))
            .bind(id_text(key_id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(e, "load signing key"))?;
        let mut key = KeyRecord::try_from(row.ok_or_else(|| StoreError::NotFound {
            entity: "signing key",
            id: key_id.to_string(),
        })?)?;
        if check_transition(&key, state)? == Transition::Unchanged {
            return Ok(key);
        }
        sqlx::query("UPDATE signing_keys SET state = ?, state_changed_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(time_text(now))
            .bind(id_text(key_id))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "update key state"))?;
        commit(tx, "set key state").await?;
        key.state = state;
        key.state_changed_at = now;
        Ok(key)
    }

    async fn delete_key(&self, key_id: Uuid) -> Result<()> {
        let mut tx = self.begin_write("delete key").await?;
        let state: Option<(String,)> =
            sqlx::query_as("SELECT state FROM signing_keys WHERE id = ?")
                .bind(id_text(key_id))
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(e, "load signing key"))?;
        let state: KeyState = match state {
            Some((s,)) => s.parse()?,
            None => {
                return Err(StoreError::NotFound {
                    entity: "signing key",
                    id: key_id.to_string(),
                });
            }
        };
        if state == KeyState::Active {
            return Err(StoreError::InvalidData(format!(
                "key {key_id} is the active key and cannot be deleted; rotate first"
            )));
        }
        sqlx::query("DELETE FROM signing_keys WHERE id = ?")
            .bind(id_text(key_id))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "delete signing key"))?;
        commit(tx, "delete key").await
    }

    async fn service_keys(&self, purpose: KeyPurpose) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id IS NULL AND purpose = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(purpose.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(|e| db_error(e, "list service keys"))?;
        keys(rows)
    }

    async fn insert_service_key(
        &self,
        purpose: KeyPurpose,
        key: &NewKey,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord> {
        refuse_authority_purpose(purpose)?;
        let now = normalize_time(now)?;
        let mut tx = self.begin_write("insert service key").await?;
        retire_active(&mut tx, None, purpose, now).await?;
        let record = insert_active_key(&mut tx, None, purpose, key, now).await?;
        commit(tx, "insert service key").await?;
        Ok(record)
    }

    async fn any_key(&self) -> Result<Option<KeyRecord>> {
        let row: Option<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load any key"))?;
        row.map(KeyRecord::try_from).transpose()
    }

    async fn keys_sealed_with_other_kek(&self, kek_id: &str) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE kek_id <> ? ORDER BY created_at, id"
        ))
        .bind(kek_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| db_error(e, "load keys of another KEK"))?;
        rows.into_iter().map(KeyRecord::try_from).collect()
    }

    async fn reseal_key(
        &self,
        key_id: Uuid,
        from_kek_id: &str,
        sealed: &[u8],
        to_kek_id: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE signing_keys SET private_key_enc = ?, kek_id = ? WHERE id = ? AND kek_id = ?",
        )
        .bind(sealed)
        .bind(to_kek_id)
        .bind(id_text(key_id))
        .bind(from_kek_id)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "re-seal key"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn service_secret(&self, name: &str) -> Result<Option<SealedSecret>> {
        let row: Option<(String, Vec<u8>, String)> =
            sqlx::query_as("SELECT name, sealed, kek_id FROM service_secrets WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| db_error(e, "load service secret"))?;
        Ok(row.map(|(name, sealed, kek_id)| SealedSecret {
            name,
            sealed,
            kek_id,
        }))
    }

    async fn put_service_secret(
        &self,
        name: &str,
        sealed: &[u8],
        kek_id: &str,
        now: DateTime<Utc>,
    ) -> Result<SealedSecret> {
        let now = time_text(normalize_time(now)?);
        sqlx::query(
            "INSERT INTO service_secrets (name, sealed, kek_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(kek_id)
        .bind(&now)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "insert service secret"))?;
        let row: (String, Vec<u8>, String) =
            sqlx::query_as("SELECT name, sealed, kek_id FROM service_secrets WHERE name = ?")
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| db_error(e, "load service secret"))?;
        Ok(SealedSecret {
            name: row.0,
            sealed: row.1,
            kek_id: row.2,
        })
    }

    async fn reseal_service_secret(
        &self,
        name: &str,
        from_kek_id: &str,
        sealed: &[u8],
        to_kek_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE service_secrets SET sealed = ?, kek_id = ?, updated_at = ? \
             WHERE name = ? AND kek_id = ?",
        )
        .bind(sealed)
        .bind(to_kek_id)
        .bind(time_text(normalize_time(now)?))
        .bind(name)
        .bind(from_kek_id)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "re-seal service secret"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_api_client(
        &self,
        tenant_id: Uuid,
        client_id: &str,
        name: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiClient> {
        let now = normalize_time(now)?;
        let id = new_id(now);
        sqlx::query(
            "INSERT INTO api_clients (id, tenant_id, client_id, name, secret_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id_text(id))
        .bind(id_text(tenant_id))
        .bind(client_id)
        .bind(name)
        .bind(secret_hash)
        .bind(time_text(now))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert API client",
                sqlite_message_names,
                vec![UniqueCase {
                    marker: "api_clients.client_id",
                    entity: "API client",
                    field: "client_id",
                    value: client_id.into(),
                }],
                tenant_parent(tenant_id),
            )
        })?;
        Ok(ApiClient {
            id,
            tenant_id,
            client_id: client_id.into(),
            name: name.into(),
            secret_hash: secret_hash.into(),
            created_at: now,
        })
    }

    async fn api_client(&self, client_id: &str) -> Result<Option<ApiClient>> {
        let row: Option<ApiClientRow> = sqlx::query_as(
            "SELECT id, tenant_id, client_id, name, secret_hash, created_at FROM api_clients \
             WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load API client"))?;
        row.map(ApiClient::try_from).transpose()
    }

    async fn list_api_clients(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiClient>> {
        let rows: Vec<ApiClientRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(
                    "SELECT id, tenant_id, client_id, name, secret_hash, created_at \
                     FROM api_clients WHERE tenant_id = ? ORDER BY created_at, id",
                )
                .bind(id_text(t))
                .fetch_all(&self.reader)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT id, tenant_id, client_id, name, secret_hash, created_at \
                     FROM api_clients ORDER BY created_at, id",
                )
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(|e| db_error(e, "list API clients"))?;
        convert(rows)
    }

    async fn delete_api_client(&self, client_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, "delete API client"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_api_key(
        &self,
        tenant_id: Uuid,
        name: &str,
        key_prefix: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let now = normalize_time(now)?;
        let id = new_id(now);
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, key_prefix, key_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id_text(id))
        .bind(id_text(tenant_id))
        .bind(name)
        .bind(key_prefix)
        .bind(key_hash)
        .bind(time_text(now))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert API key",
                sqlite_message_names,
                vec![api_key_hash_conflict("api_keys.key_hash", key_prefix)],
                tenant_parent(tenant_id),
            )
        })?;
        Ok(ApiKey {
            id,
            tenant_id,
            name: name.into(),
            key_prefix: key_prefix.into(),
            key_hash: key_hash.into(),
            created_at: now,
        })
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(
            "SELECT id, tenant_id, name, key_prefix, key_hash, created_at FROM api_keys \
             WHERE key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load API key"))?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn list_api_keys(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> =
            match tenant_id {
                Some(t) => sqlx::query_as(
                    "SELECT id, tenant_id, name, key_prefix, key_hash, created_at FROM api_keys \
                     WHERE tenant_id = ? ORDER BY created_at, id",
                )
                .bind(id_text(t))
                .fetch_all(&self.reader)
                .await,
                None => sqlx::query_as(
                    "SELECT id, tenant_id, name, key_prefix, key_hash, created_at FROM api_keys \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.reader)
                .await,
            }
            .map_err(|e| db_error(e, "list API keys"))?;
        convert(rows)
    }

    async fn delete_api_key(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = ?")
            .bind(id_text(id))
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, "delete API key"))?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    async fn pragma(store: &SqliteStore, name: &str) -> String {
        use sqlx::Row;
        let row = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(&store.pool)
            .await
            .unwrap();
        // Unchecked: some pragmas answer INTEGER, some TEXT; SQLite converts either to text.
        row.try_get_unchecked::<String, _>(0).unwrap()
    }

    /// The migration that makes `issued_credentials.contract_id` nullable rebuilds the table
    /// with foreign keys on: run again on a database holding a suspended credential, it keeps
    /// every row and reference, and a credential without a contract can then be recorded.
    #[tokio::test]
    async fn the_issued_credentials_rebuild_keeps_rows_and_references() {
        use crate::suite::audit::{entry, suspendable_with};
        use crate::suite::flows::credential;
        use sqlx::Row;
        let sqlite = std::sync::Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let store: std::sync::Arc<dyn Store> = sqlite.clone();
        let (f, recorded, _) = suspendable_with(&store, "urn:uuid:kept", |_| {}).await;
        let at = recorded.issued_at + chrono::Duration::seconds(1);
        store
            .set_suspension_audited(recorded.id, true, "lost", at, &entry(2, "POST s", "s"))
            .await
            .unwrap();

        let mut tx = sqlite.pool.begin().await.unwrap();
        sqlx::raw_sql(include_str!(
            "../../../migrations/sqlite/20261208030000_credentials_without_contract.sql"
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&sqlite.pool)
            .await
            .unwrap();
        assert!(dangling.is_empty(), "no dangling reference");
        let nullable = sqlx::query("SELECT \"notnull\" FROM pragma_table_info('issued_credentials') WHERE name = 'contract_id'")
            .fetch_one(&sqlite.pool)
            .await
            .unwrap()
            .get::<i64, _>(0);
        assert_eq!(nullable, 0);
        assert_eq!(
            store
                .issued_credential_by_jti("urn:uuid:kept")
                .await
                .unwrap(),
            Some(recorded.clone())
        );
        assert_eq!(
            store
                .credential_suspension(recorded.id)
                .await
                .unwrap()
                .map(|s| s.reason),
            Some("lost".to_owned())
        );
        let mut free = credential(&f, "urn:uuid:no-contract");
        free.contract_id = None;
        assert_eq!(
            store
                .record_issued_credential(&free)
                .await
                .unwrap()
                .contract_id,
            None
        );
        // The indexes came back.
        let indexes: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'issued_credentials' AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(&sqlite.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        assert_eq!(
            indexes,
            [
                "issued_credentials_claim_idx",
                "issued_credentials_subject_idx"
            ]
        );
    }

    #[tokio::test]
    async fn creates_parent_directories_and_sets_durability_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/deeper/verity.db");
        let url = format!("sqlite://{}", file.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        assert!(file.exists());
        assert_eq!(pragma(&store, "journal_mode").await, "wal");
        assert_eq!(pragma(&store, "synchronous").await, "2", "2 is FULL");
        assert_eq!(pragma(&store, "foreign_keys").await, "1");
        assert_eq!(pragma(&store, "busy_timeout").await, "5000");
    }

    #[tokio::test]
    async fn data_survives_reopening_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("v.db").display());
        let now = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap();
        let created = {
            let store = SqliteStore::connect(&url).await.unwrap();
            let t = store.create_tenant("acme", now).await.unwrap();
            store.pool.close().await;
            t
        };
        let store = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(store.tenant(created.id).await.unwrap(), Some(created));
    }

    #[tokio::test]
    async fn in_memory_database_lives_as_long_as_the_store() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap();
        store.create_tenant("acme", now).await.unwrap();
        // A second acquire must see the same database.
        assert_eq!(store.list_tenants().await.unwrap().len(), 1);
        let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert!(other.list_tenants().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn invalid_url_is_refused() {
        let err = SqliteStore::connect("sqlite:x.db?mode=bogus")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "STORE-006");
        assert!(err.to_string().contains("invalid SQLite URL"), "{err}");
    }

    #[tokio::test]
    async fn unusable_directory_gives_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let url = format!("sqlite://{}", blocker.join("sub/verity.db").display());
        let err = SqliteStore::connect(&url).await.unwrap_err();
        assert_eq!(err.code(), "STORE-004");
        assert!(err.to_string().contains("cannot create directory"), "{err}");
    }

    #[test]
    fn time_text_is_fixed_width_and_sorts_like_time() {
        let a = Utc.with_ymd_and_hms(999, 1, 1, 0, 0, 0).unwrap();
        let b = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .with_nanosecond(5_000)
            .unwrap();
        let c = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .with_nanosecond(40_000)
            .unwrap();
        let (ta, tb, tc) = (time_text(a), time_text(b), time_text(c));
        assert_eq!(ta, "0999-01-01T00:00:00.000000Z");
        assert_eq!(tb, "2026-01-01T00:00:00.000005Z");
        assert!(ta < tb && tb < tc);
        assert_eq!(ta.len(), tc.len());
        for (t, s) in [(a, ta), (b, tb), (c, tc)] {
            assert_eq!(parse_time("x", &s).unwrap(), t);
        }
    }

    #[test]
    fn corrupt_stored_values_are_invalid_data() {
        let err = parse_time("tenants.created_at", "yesterday").unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("tenants.created_at"), "{err}");
        assert_eq!(
            parse_id("tenants.id", "nope").unwrap_err().code(),
            "STORE-003"
        );
        assert_eq!(
            parse_json("signing_keys.public_jwk", "{")
                .unwrap_err()
                .code(),
            "STORE-003"
        );
    }

    #[test]
    fn unknown_state_in_a_row_is_reported_not_guessed() {
        // The CHECK constraint keeps such rows out of the table; the conversion must still
        // refuse rather than guess if one ever appears.
        let row = KeyRow {
            id: Uuid::nil().to_string(),
            authority_id: None,
            purpose: "access_token".into(),
            kid: "k".into(),
            alg: "ES256".into(),
            state: "paused".into(),
            public_jwk: "{}".into(),
            private_key_enc: vec![],
            kek_id: "kek".into(),
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            state_changed_at: "2026-01-01T00:00:00.000000Z".into(),
        };
        let err = KeyRecord::try_from(row).unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("paused"), "{err}");
    }
}
