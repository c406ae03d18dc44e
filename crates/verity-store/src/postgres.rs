//! [`Store`] on Postgres: native `uuid`, `timestamptz`, `jsonb` and `bytea` columns.

use crate::fault;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::Store;
use crate::error::{
    ParentRef, Result, StoreError, UniqueCase, api_key_hash_conflict, db_error, map_sqlx,
    pg_constraint_is,
};
use crate::model::{
    ApiClient, ApiKey, Authority, KeyPurpose, KeyRecord, KeyState, NewKey, SealedSecret, Tenant,
    Transition, check_transition, new_id, normalize_time, refuse_authority_purpose,
};

mod audit;
mod flows;

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Connections a [`PgStore`] opens at most unless told otherwise.
pub const DEFAULT_PG_MAX_CONNECTIONS: u32 = 10;

/// How long to wait for a connection before reporting the database unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Advisory-lock namespace serialising service-key inserts per purpose (no row to lock).
const SERVICE_KEY_LOCK_CLASS: i32 = 0x5645_5249; // "VERI"

/// Postgres-backed store: the production backend, safe for several replicas on one database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Authorities already read (they never change).
    authorities: crate::cache::AuthorityCache,
    /// `host:port/database`, for Debug and errors; never the password.
    target: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects with [`DEFAULT_PG_MAX_CONNECTIONS`] and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, DEFAULT_PG_MAX_CONNECTIONS).await
    }

    /// Connects with a pool of at most `max_connections` and applies pending migrations.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("invalid Postgres URL: {e}")))?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection is pinged before use only after it sat idle for a while (a round
            // trip per acquire otherwise, several per request); a busy connection that broke
            // fails its statement, which answers 503, and the pool replaces it.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                // The target, never the URL: the URL may carry the password.
                StoreError::Database(format!(
                    "cannot connect to Postgres at {target}: {}",
                    crate::error::cause_chain(&e)
                ))
            })?;

        let mut migrator = sqlx::migrate!("../../migrations/postgres");
        // An older release must keep starting after a newer one migrated the database
        // (rolling deploys, roll-backs): the expand/contract rule makes that safe.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(format!("Postgres at {target}: {e}")))?;
        tracing::info!(backend = "postgres", %target, "database connected and migrated");
        Ok(Self {
            pool,
            authorities: Default::default(),
            target,
        })
    }

    fn conflict(e: sqlx::Error, op: &str, uniques: Vec<UniqueCase>) -> StoreError {
        map_sqlx(e, op, pg_constraint_is, uniques, None)
    }

    async fn begin(&self, op: &str) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(|e| db_error(e, op))
    }
}

async fn commit(tx: Transaction<'static, Postgres>, op: &str) -> Result<()> {
    if fault::crash_points_armed() {
        fault::crash_point(&format!("{op}: before commit"));
    }
    tx.commit().await.map_err(|e| db_error(e, op))?;
    if fault::crash_points_armed() {
        fault::crash_point(&format!("{op}: committed"));
    }
    Ok(())
}

// ---- rows ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AuthorityRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    did: String,
    created_at: DateTime<Utc>,
}

impl From<AuthorityRow> for Authority {
    fn from(r: AuthorityRow) -> Self {
        Authority {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            did: r.did,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    authority_id: Option<Uuid>,
    purpose: String,
    kid: String,
    alg: String,
    state: String,
    public_jwk: serde_json::Value,
    private_key_enc: Vec<u8>,
    kek_id: String,
    created_at: DateTime<Utc>,
    state_changed_at: DateTime<Utc>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(KeyRecord {
            id: r.id,
            authority_id: r.authority_id,
            purpose: r.purpose.parse()?,
            kid: r.kid,
            alg: r.alg,
            state: r.state.parse()?,
            public_jwk: r.public_jwk,
            private_key_enc: r.private_key_enc,
            kek_id: r.kek_id,
            created_at: r.created_at,
            state_changed_at: r.state_changed_at,
        })
    }
}

fn keys(rows: Vec<KeyRow>) -> Result<Vec<KeyRecord>> {
    rows.into_iter().map(KeyRecord::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct ApiClientRow {
    id: Uuid,
    tenant_id: Uuid,
    client_id: String,
    name: String,
    secret_hash: String,
    created_at: DateTime<Utc>,
}

impl From<ApiClientRow> for ApiClient {
    fn from(r: ApiClientRow) -> Self {
        ApiClient {
            id: r.id,
            tenant_id: r.tenant_id,
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    key_prefix: String,
    key_hash: String,
    created_at: DateTime<Utc>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        ApiKey {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            key_prefix: r.key_prefix,
            key_hash: r.key_hash,
            created_at: r.created_at,
        }
    }
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
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";

/// Inserts `key` as the active key of `owner`/`purpose` inside `tx`.
async fn insert_active_key(
    tx: &mut Transaction<'static, Postgres>,
    owner: Option<Uuid>,
    purpose: KeyPurpose,
    key: &NewKey,
    now: DateTime<Utc>,
) -> Result<KeyRecord> {
    sqlx::query(INSERT_KEY)
        .bind(key.id)
        .bind(owner)
        .bind(purpose.as_str())
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(KeyState::Active.as_str())
        .bind(&key.public_jwk)
        .bind(&key.private_key_enc)
        .bind(&key.kek_id)
        .bind(now)
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
    PgStore::conflict(
        e,
        "insert signing key",
        vec![
            UniqueCase {
                marker: "signing_keys_pkey",
                entity: "signing key",
                field: "id",
                value: key.id.to_string(),
            },
            UniqueCase {
                marker: "signing_keys_kid_key",
                entity: "signing key",
                field: "kid",
                value: key.kid.clone(),
            },
            // Reached only if the serialising lock was bypassed; reported rather than hidden.
            UniqueCase {
                marker: "signing_keys_one_active_key",
                entity: "signing key",
                field: "state",
                value: KeyState::Active.as_str().into(),
            },
        ],
    )
}

/// Marks the active key of `owner`/`purpose` retiring inside `tx`.
async fn retire_active(
    tx: &mut Transaction<'static, Postgres>,
    owner: Option<Uuid>,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE signing_keys SET state = 'retiring', state_changed_at = $3 \
         WHERE authority_id IS NOT DISTINCT FROM $1 AND purpose = $2 AND state = 'active'",
    )
    .bind(owner)
    .bind(purpose.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(e, "retire active key"))?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
        Some(crate::PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
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
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                Self::conflict(
                    e,
                    "insert tenant",
                    vec![UniqueCase {
                        marker: "tenants_name_key",
                        entity: "tenant",
                        field: "name",
                        value: name.into(),
                    }],
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
            sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(e, "load tenant by name"))?;
        Ok(row.map(Tenant::from))
    }

    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(e, "load tenant"))?;
        Ok(row.map(Tenant::from))
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> =
            sqlx::query_as("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_error(e, "list tenants"))?;
        Ok(rows.into_iter().map(Tenant::from).collect())
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
        let mut tx = self.begin("create authority").await?;
        sqlx::query(
            "INSERT INTO authorities (id, tenant_id, name, did, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(name)
        .bind(did)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert authority",
                pg_constraint_is,
                vec![UniqueCase {
                    marker: "authorities_did_key",
                    entity: "authority",
                    field: "did",
                    value: did.into(),
                }],
                Some(ParentRef {
                    entity: "tenant",
                    id: tenant_id.to_string(),
                }),
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
            "SELECT id, tenant_id, name, did, created_at FROM authorities WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load authority"))?;
        Ok(row.map(|r| self.authorities.put(Authority::from(r))))
    }

    async fn authority_by_did(&self, did: &str) -> Result<Option<Authority>> {
        if let Some(a) = self.authorities.by_did(did) {
            return Ok(Some(a));
        }
        let row: Option<AuthorityRow> = sqlx::query_as(
            "SELECT id, tenant_id, name, did, created_at FROM authorities WHERE did = $1",
        )
        .bind(did)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load authority by DID"))?;
        Ok(row.map(|r| self.authorities.put(Authority::from(r))))
    }

    async fn list_authorities(&self, tenant_id: Option<Uuid>) -> Result<Vec<Authority>> {
        let rows: Vec<AuthorityRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(
                    "SELECT id, tenant_id, name, did, created_at FROM authorities \
                     WHERE tenant_id = $1 ORDER BY created_at, id",
                )
                .bind(t)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT id, tenant_id, name, did, created_at FROM authorities \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| db_error(e, "list authorities"))?;
        Ok(rows.into_iter().map(Authority::from).collect())
    }

    async fn authority_keys(&self, authority_id: Uuid) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(authority_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, "list authority keys"))?;
        keys(rows)
    }

    async fn active_key(&self, authority_id: Uuid) -> Result<Option<KeyRecord>> {
        let row: Option<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id = $1 AND purpose = 'authority' AND state = 'active'"
        ))
        .bind(authority_id)
        .fetch_optional(&self.pool)
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
        let mut tx = self.begin("rotate authority key").await?;
        // Locking the authority row serialises concurrent rotations: the second one waits,
        // then retires the key the first one inserted.
        let found: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM authorities WHERE id = $1 FOR UPDATE")
                .bind(authority_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(e, "lock authority"))?;
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
        let mut tx = self.begin("set key state").await?;
        let row: Option<KeyRow> =
            sqlx::query_as(concat!(key_select!(), "WHERE id = $1 FOR UPDATE"))
                .bind(key_id)
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
        sqlx::query("UPDATE signing_keys SET state = $2, state_changed_at = $3 WHERE id = $1")
            .bind(key_id)
            .bind(state.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "update key state"))?;
        commit(tx, "set key state").await?;
        key.state = state;
        key.state_changed_at = now;
        Ok(key)
    }

    async fn delete_key(&self, key_id: Uuid) -> Result<()> {
        let mut tx = self.begin("delete key").await?;
        let state: Option<(String,)> =
            sqlx::query_as("SELECT state FROM signing_keys WHERE id = $1 FOR UPDATE")
                .bind(key_id)
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
        sqlx::query("DELETE FROM signing_keys WHERE id = $1")
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "delete signing key"))?;
        commit(tx, "delete key").await
    }

    async fn service_keys(&self, purpose: KeyPurpose) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE authority_id IS NULL AND purpose = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(purpose.as_str())
        .fetch_all(&self.pool)
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
        let mut tx = self.begin("insert service key").await?;
        // No row to lock for service keys: a transaction-scoped advisory lock per purpose
        // serialises concurrent inserts the way the authority row lock does for rotations.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(SERVICE_KEY_LOCK_CLASS)
            .bind(purpose_lock_id(purpose))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "lock service keys"))?;
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
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load any key"))?;
        row.map(KeyRecord::try_from).transpose()
    }

    async fn keys_sealed_with_other_kek(&self, kek_id: &str) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            key_select!(),
            "WHERE kek_id <> $1 ORDER BY created_at, id"
        ))
        .bind(kek_id)
        .fetch_all(&self.pool)
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
            "UPDATE signing_keys SET private_key_enc = $1, kek_id = $2 \
             WHERE id = $3 AND kek_id = $4",
        )
        .bind(sealed)
        .bind(to_kek_id)
        .bind(key_id)
        .bind(from_kek_id)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "re-seal key"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn service_secret(&self, name: &str) -> Result<Option<SealedSecret>> {
        let row: Option<(String, Vec<u8>, String)> =
            sqlx::query_as("SELECT name, sealed, kek_id FROM service_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
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
        let now = normalize_time(now)?;
        sqlx::query(
            "INSERT INTO service_secrets (name, sealed, kek_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(kek_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "insert service secret"))?;
        let row: (String, Vec<u8>, String) =
            sqlx::query_as("SELECT name, sealed, kek_id FROM service_secrets WHERE name = $1")
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
            "UPDATE service_secrets SET sealed = $1, kek_id = $2, updated_at = $3 \
             WHERE name = $4 AND kek_id = $5",
        )
        .bind(sealed)
        .bind(to_kek_id)
        .bind(normalize_time(now)?)
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
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(client_id)
        .bind(name)
        .bind(secret_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert API client",
                pg_constraint_is,
                vec![UniqueCase {
                    marker: "api_clients_client_id_key",
                    entity: "API client",
                    field: "client_id",
                    value: client_id.into(),
                }],
                Some(ParentRef {
                    entity: "tenant",
                    id: tenant_id.to_string(),
                }),
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
             WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load API client"))?;
        Ok(row.map(ApiClient::from))
    }

    async fn list_api_clients(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiClient>> {
        let rows: Vec<ApiClientRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(
                    "SELECT id, tenant_id, client_id, name, secret_hash, created_at \
                     FROM api_clients WHERE tenant_id = $1 ORDER BY created_at, id",
                )
                .bind(t)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT id, tenant_id, client_id, name, secret_hash, created_at \
                     FROM api_clients ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| db_error(e, "list API clients"))?;
        Ok(rows.into_iter().map(ApiClient::from).collect())
    }

    async fn delete_api_client(&self, client_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_clients WHERE client_id = $1")
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
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(name)
        .bind(key_prefix)
        .bind(key_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert API key",
                pg_constraint_is,
                vec![api_key_hash_conflict("api_keys_key_hash_key", key_prefix)],
                Some(ParentRef {
                    entity: "tenant",
                    id: tenant_id.to_string(),
                }),
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
             WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load API key"))?;
        Ok(row.map(ApiKey::from))
    }

    async fn list_api_keys(&self, tenant_id: Option<Uuid>) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> =
            match tenant_id {
                Some(t) => sqlx::query_as(
                    "SELECT id, tenant_id, name, key_prefix, key_hash, created_at FROM api_keys \
                     WHERE tenant_id = $1 ORDER BY created_at, id",
                )
                .bind(t)
                .fetch_all(&self.pool)
                .await,
                None => sqlx::query_as(
                    "SELECT id, tenant_id, name, key_prefix, key_hash, created_at FROM api_keys \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await,
            }
            .map_err(|e| db_error(e, "list API keys"))?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    async fn delete_api_key(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, "delete API key"))?;
        Ok(done.rows_affected() > 0)
    }
}

fn purpose_lock_id(purpose: KeyPurpose) -> i32 {
    match purpose {
        KeyPurpose::Authority => 1,
        KeyPurpose::AccessToken => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_server_gives_a_clear_error_without_the_password() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let err = PgStore::connect("postgres://verity:hunter2@127.0.0.1:1/verity")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "STORE-004");
        let msg = err.to_string();
        assert!(
            msg.contains("cannot connect to Postgres at 127.0.0.1:1/verity"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[tokio::test]
    async fn malformed_url_is_refused_without_the_password() {
        let err = PgStore::connect("postgres://verity:hunter2@127.0.0.1:notaport/verity")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "STORE-006");
        let msg = err.to_string();
        assert!(msg.contains("invalid Postgres URL"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
