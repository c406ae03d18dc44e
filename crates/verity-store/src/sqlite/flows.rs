//! The flow traits on SQLite. Writes that read before they write open with `BEGIN IMMEDIATE`:
//! the database's single write lock then serialises them the way row locks do on Postgres.

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::{SqliteStore, commit, id_text, parse_id, parse_json, parse_time, time_text};
use crate::error::{Result, StoreError, UniqueCase, db_error, map_sqlx, sqlite_message_names};
use crate::fault;
use crate::flow_model::{
    CallbackMessage, Contract, FlowRequest, INITIAL_REQUEST_STATUS, IssuedCredential, NewCallback,
    NewFlowRequest, NewIssuedCredential, StatusAllocation, StatusList, USED_ONCE_PURGE_BATCH,
    allocation_byte_offset, batch_size, check_status_entry, lease, list_bytes, pick_batch, set_bit,
    stored_u32,
};
use crate::flows::{CredentialStore, FlowStore, OutboxStore, PurgePolicy, Purged};
use crate::machine::{
    Counter, FlowStatus, OnceRecord, PinOutcome, Rejection, Transition, TransitionOutcome,
    callback_seq, check_pin_failure, check_step,
};
use crate::model::{new_id, normalize_time};

// ---- errors and encodings -----------------------------------------------------------------

/// A parent row a statement refers to. SQLite's foreign-key error does not say which
/// reference failed, so after one the parents are looked up in order.
struct Parent {
    entity: &'static str,
    table: &'static str,
    id: Uuid,
}

fn parent(entity: &'static str, table: &'static str, id: Uuid) -> Parent {
    Parent { entity, table, id }
}

fn unique(
    marker: &'static str,
    entity: &'static str,
    field: &'static str,
    value: impl ToString,
) -> UniqueCase {
    UniqueCase {
        marker,
        entity,
        field,
        value: value.to_string(),
    }
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation)
}

/// Maps an insert's error: unique violations to `Conflict`, a foreign-key violation to
/// `NotFound` of the first missing parent (looked up on `conn`, which may hold the
/// transaction the insert ran in).
async fn insert_error(
    conn: &mut SqliteConnection,
    e: sqlx::Error,
    op: &str,
    uniques: Vec<UniqueCase>,
    parents: &[Parent],
) -> StoreError {
    if is_foreign_key_violation(&e) {
        for p in parents {
            let sql = format!("SELECT id FROM {} WHERE id = ?", p.table);
            let found: std::result::Result<Option<(String,)>, _> = sqlx::query_as(&sql)
                .bind(id_text(p.id))
                .fetch_optional(&mut *conn)
                .await;
            match found {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return StoreError::NotFound {
                        entity: p.entity,
                        id: p.id.to_string(),
                    };
                }
                Err(lookup) => return db_error(lookup, op),
            }
        }
    }
    map_sqlx(e, op, sqlite_message_names, uniques, None)
}

fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

/// A step's diagnostics as stored (`None` keeps the stored ones).
fn diagnostics_text(t: &Transition) -> Result<Option<String>> {
    t.diagnostics
        .as_ref()
        .map(|d| json_text("diagnostics", d))
        .transpose()
}

fn json_text(column: &str, v: &serde_json::Value) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| StoreError::InvalidData(format!("{column} cannot be serialised: {e}")))
}

fn opt_id(column: &str, s: Option<&str>) -> Result<Option<Uuid>> {
    s.map(|s| parse_id(column, s)).transpose()
}

fn opt_time(column: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_time(column, s)).transpose()
}

fn stored_i32(column: &str, v: i64) -> Result<i32> {
    i32::try_from(v)
        .map_err(|_| StoreError::InvalidData(format!("stored {column} {v} is not a 32-bit value")))
}

// ---- rows ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct ContractRow {
    id: String,
    tenant_id: String,
    authority_id: String,
    name: String,
    definition: String,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl TryFrom<ContractRow> for Contract {
    type Error = StoreError;

    fn try_from(r: ContractRow) -> Result<Self> {
        Ok(Contract {
            id: parse_id("contracts.id", &r.id)?,
            tenant_id: parse_id("contracts.tenant_id", &r.tenant_id)?,
            authority_id: parse_id("contracts.authority_id", &r.authority_id)?,
            name: r.name,
            definition: parse_json("contracts.definition", &r.definition)?,
            enabled: r.enabled,
            created_at: parse_time("contracts.created_at", &r.created_at)?,
            updated_at: parse_time("contracts.updated_at", &r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    tenant_id: String,
    kind: String,
    authority_id: String,
    contract_id: Option<String>,
    nonce: String,
    payload: String,
    status: String,
    result: Option<String>,
    pin_failures: i64,
    refusals: i64,
    created_at: String,
    expires_at: String,
    retrieved_at: Option<String>,
    completed_at: Option<String>,
}

impl TryFrom<RequestRow> for FlowRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self> {
        Ok(FlowRequest {
            id: parse_id("flow_requests.id", &r.id)?,
            tenant_id: parse_id("flow_requests.tenant_id", &r.tenant_id)?,
            kind: r.kind.parse()?,
            authority_id: parse_id("flow_requests.authority_id", &r.authority_id)?,
            contract_id: opt_id("flow_requests.contract_id", r.contract_id.as_deref())?,
            nonce: r.nonce,
            payload: parse_json("flow_requests.payload", &r.payload)?,
            status: r.status,
            result: r
                .result
                .as_deref()
                .map(|s| parse_json("flow_requests.result", s))
                .transpose()?,
            pin_failures: stored_i32("flow_requests.pin_failures", r.pin_failures)?,
            refusals: stored_i32("flow_requests.refusals", r.refusals)?,
            created_at: parse_time("flow_requests.created_at", &r.created_at)?,
            expires_at: parse_time("flow_requests.expires_at", &r.expires_at)?,
            retrieved_at: opt_time("flow_requests.retrieved_at", r.retrieved_at.as_deref())?,
            completed_at: opt_time("flow_requests.completed_at", r.completed_at.as_deref())?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CallbackRow {
    id: String,
    request_id: String,
    request_status: String,
    url: String,
    headers: String,
    body: String,
    state: String,
    attempts: i64,
    next_attempt_at: String,
    give_up_at: String,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

impl TryFrom<CallbackRow> for CallbackMessage {
    type Error = StoreError;

    fn try_from(r: CallbackRow) -> Result<Self> {
        Ok(CallbackMessage {
            id: parse_id("callbacks.id", &r.id)?,
            request_id: parse_id("callbacks.request_id", &r.request_id)?,
            request_status: r.request_status,
            url: r.url,
            headers: parse_json("callbacks.headers", &r.headers)?,
            body: parse_json("callbacks.body", &r.body)?,
            state: r.state.parse()?,
            attempts: stored_i32("callbacks.attempts", r.attempts)?,
            next_attempt_at: parse_time("callbacks.next_attempt_at", &r.next_attempt_at)?,
            give_up_at: parse_time("callbacks.give_up_at", &r.give_up_at)?,
            last_error: r.last_error,
            created_at: parse_time("callbacks.created_at", &r.created_at)?,
            delivered_at: opt_time("callbacks.delivered_at", r.delivered_at.as_deref())?,
        })
    }
}

fn callbacks(rows: Vec<CallbackRow>) -> Result<Vec<CallbackMessage>> {
    rows.into_iter().map(CallbackMessage::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct StatusListRow {
    id: String,
    authority_id: String,
    purpose: String,
    length: i64,
    bits: Vec<u8>,
    allocated_count: i64,
    version: i64,
    signed_jwt: Option<String>,
    signed_version: Option<i64>,
    created_at: String,
    updated_at: String,
    suspension_bits: Option<Vec<u8>>,
}

impl TryFrom<StatusListRow> for StatusList {
    type Error = StoreError;

    fn try_from(r: StatusListRow) -> Result<Self> {
        Ok(StatusList {
            id: parse_id("status_lists.id", &r.id)?,
            authority_id: parse_id("status_lists.authority_id", &r.authority_id)?,
            purpose: r.purpose,
            length: stored_u32("status_lists.length", r.length)?,
            bits: r.bits,
            allocated_count: stored_u32("status_lists.allocated_count", r.allocated_count)?,
            version: r.version,
            signed_jwt: r.signed_jwt,
            signed_version: r.signed_version,
            suspension_bits: r.suspension_bits,
            created_at: parse_time("status_lists.created_at", &r.created_at)?,
            updated_at: parse_time("status_lists.updated_at", &r.updated_at)?,
        })
    }
}

/// The allocation state of the open list.
#[derive(sqlx::FromRow)]
struct OpenListRow {
    id: String,
    length: i64,
    allocation: Vec<u8>,
    allocated_count: i64,
}

struct OpenList {
    id: Uuid,
    length: u32,
    allocation: Vec<u8>,
    allocated_count: u32,
}

impl TryFrom<OpenListRow> for OpenList {
    type Error = StoreError;

    fn try_from(r: OpenListRow) -> Result<Self> {
        Ok(OpenList {
            id: parse_id("status_lists.id", &r.id)?,
            length: stored_u32("status_lists.length", r.length)?,
            allocation: r.allocation,
            allocated_count: stored_u32("status_lists.allocated_count", r.allocated_count)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IssuedRow {
    id: String,
    jti: String,
    tenant_id: String,
    contract_id: Option<String>,
    authority_id: String,
    request_id: Option<String>,
    subject_did: String,
    status_list_id: Option<String>,
    status_index: Option<i64>,
    indexed_claim_hash: Option<String>,
    issued_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    revocation_reason: Option<String>,
}

impl TryFrom<IssuedRow> for IssuedCredential {
    type Error = StoreError;

    fn try_from(r: IssuedRow) -> Result<Self> {
        Ok(IssuedCredential {
            id: parse_id("issued_credentials.id", &r.id)?,
            jti: r.jti,
            tenant_id: parse_id("issued_credentials.tenant_id", &r.tenant_id)?,
            contract_id: opt_id("issued_credentials.contract_id", r.contract_id.as_deref())?,
            authority_id: parse_id("issued_credentials.authority_id", &r.authority_id)?,
            request_id: opt_id("issued_credentials.request_id", r.request_id.as_deref())?,
            subject_did: r.subject_did,
            status_list_id: opt_id(
                "issued_credentials.status_list_id",
                r.status_list_id.as_deref(),
            )?,
            status_index: r
                .status_index
                .map(|i| stored_u32("issued_credentials.status_index", i))
                .transpose()?,
            indexed_claim_hash: r.indexed_claim_hash,
            issued_at: parse_time("issued_credentials.issued_at", &r.issued_at)?,
            expires_at: parse_time("issued_credentials.expires_at", &r.expires_at)?,
            revoked_at: opt_time("issued_credentials.revoked_at", r.revoked_at.as_deref())?,
            revocation_reason: r.revocation_reason,
        })
    }
}

// ---- SQL ----------------------------------------------------------------------------------

macro_rules! contract_columns {
    () => {
        "id, tenant_id, authority_id, name, definition, enabled, created_at, updated_at"
    };
}

macro_rules! request_columns {
    () => {
        "id, tenant_id, kind, authority_id, contract_id, nonce, payload, status, result, \
         pin_failures, refusals, created_at, expires_at, retrieved_at, completed_at"
    };
}

macro_rules! callback_columns {
    () => {
        "id, request_id, request_status, url, headers, body, state, attempts, next_attempt_at, \
         give_up_at, last_error, created_at, delivered_at"
    };
}

macro_rules! status_list_columns {
    () => {
        "id, authority_id, purpose, length, bits, allocated_count, version, signed_jwt, \
         signed_version, created_at, updated_at, suspension_bits"
    };
}

macro_rules! issued_columns {
    () => {
        "id, jti, tenant_id, contract_id, authority_id, request_id, subject_did, status_list_id, \
         status_index, indexed_claim_hash, issued_at, expires_at, revoked_at, revocation_reason"
    };
}

impl SqliteStore {
    async fn exists(&self, table: &'static str, id: Uuid, op: &str) -> Result<bool> {
        let sql = format!("SELECT id FROM {table} WHERE id = ?");
        let row: Option<(String,)> = sqlx::query_as(&sql)
            .bind(id_text(id))
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| db_error(e, op))?;
        Ok(row.is_some())
    }

    /// Applies a state change to a callback; `NotFound` if the message does not exist.
    async fn update_callback<'q>(
        &self,
        id: Uuid,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        op: &str,
    ) -> Result<()> {
        let done = query
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, op))?;
        if done.rows_affected() > 0 || self.exists("callbacks", id, "load callback").await? {
            // Zero rows for an existing message: it is in a final state, nothing to change.
            return Ok(());
        }
        Err(not_found("callback", id))
    }

    /// Why a contract insert matched no authority row: which parent is missing, or a mismatch.
    async fn contract_parent_error(&self, tenant_id: Uuid, authority_id: Uuid) -> StoreError {
        match self
            .exists("tenants", tenant_id, "check contract owner")
            .await
        {
            Err(e) => return e,
            Ok(false) => return not_found("tenant", tenant_id),
            Ok(true) => {}
        }
        let owner: std::result::Result<Option<(String,)>, _> =
            sqlx::query_as("SELECT tenant_id FROM authorities WHERE id = ?")
                .bind(id_text(authority_id))
                .fetch_optional(&self.reader)
                .await;
        match owner {
            Err(e) => db_error(e, "check contract owner"),
            Ok(None) => not_found("authority", authority_id),
            Ok(Some((owner,))) => StoreError::InvalidData(format!(
                "authority {authority_id} belongs to tenant {owner}, not to tenant {tenant_id}"
            )),
        }
    }
}

// ---- flows --------------------------------------------------------------------------------

/// Queues a callback on `conn`: `false` (nothing written) when the request already has a
/// message for this status and sequence number.
async fn insert_callback(
    conn: &mut SqliteConnection,
    m: &NewCallback,
    seq: i32,
    now: DateTime<Utc>,
) -> Result<bool> {
    fault::statement("insert callback")?;
    let give_up_at = normalize_time(m.give_up_at)?;
    let headers = json_text("headers", &m.headers)?;
    let body = json_text("body", &m.body)?;
    let done = sqlx::query(
        "INSERT INTO callbacks (id, request_id, request_status, seq, url, headers, body, state, \
         attempts, next_attempt_at, give_up_at, locked_until, last_error, created_at, \
         updated_at, delivered_at) \
         VALUES (?1, ?2, ?3, ?9, ?4, ?5, ?6, 'pending', 0, ?7, ?8, NULL, NULL, ?7, ?7, NULL) \
         ON CONFLICT (request_id, request_status, seq) DO NOTHING",
    )
    .bind(id_text(m.id))
    .bind(id_text(m.request_id))
    .bind(&m.request_status)
    .bind(&m.url)
    .bind(headers)
    .bind(body)
    .bind(time_text(now))
    .bind(time_text(give_up_at))
    .bind(seq)
    .execute(&mut *conn)
    .await;
    match done {
        Ok(done) => Ok(done.rows_affected() > 0),
        Err(e) => Err(insert_error(
            conn,
            e,
            "insert callback",
            vec![unique("callbacks.id", "callback", "id", m.id)],
            &[parent("request", "flow_requests", m.request_id)],
        )
        .await),
    }
}

/// Loads a request inside a write transaction (`BEGIN IMMEDIATE` holds the database's write
/// lock, so no other step can change the row until the transaction ends).
async fn load_request(tx: &mut Transaction<'static, Sqlite>, id: Uuid) -> Result<FlowRequest> {
    let row: Option<RequestRow> = sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM flow_requests WHERE id = ?"
    ))
    .bind(id_text(id))
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| db_error(e, "load request"))?;
    FlowRequest::try_from(row.ok_or_else(|| not_found("request", id))?)
}

/// Deletes up to `batch` replay records that expired before `now`; how many went.
async fn purge_once(conn: &mut SqliteConnection, now: DateTime<Utc>, batch: i64) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM used_once WHERE rowid IN (SELECT rowid FROM used_once \
         WHERE expires_at < ? ORDER BY expires_at LIMIT ?)",
    )
    .bind(time_text(now))
    .bind(batch)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error(e, "purge expired replay guard entries"))?;
    Ok(done.rows_affected())
}

/// Writes single-use records on `conn` (a step's transaction, or a pooled connection): the rejection when one is already taken
/// (an expired entry the purge has not reached yet is taken over, not a replay).
async fn write_once(
    conn: &mut SqliteConnection,
    records: &[OnceRecord],
    now: DateTime<Utc>,
) -> Result<Option<Rejection>> {
    for once in records {
        fault::statement("insert replay record")?;
        let expires_at = normalize_time(once.expires_at)?;
        let done = sqlx::query(
            "INSERT INTO used_once (scope, value, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE used_once.expires_at < ?4",
        )
        .bind(&once.scope)
        .bind(&once.value)
        .bind(time_text(expires_at))
        .bind(time_text(now))
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "insert replay guard entry"))?;
        if done.rows_affected() == 0 {
            return Ok(Some(Rejection::Replay {
                scope: once.scope.clone(),
            }));
        }
    }
    Ok(None)
}

/// Writes one step on `current` (read under the write lock), or says why it may not be
/// taken. On a rejection the caller drops the transaction, undoing anything written here.
async fn apply_step(
    tx: &mut Transaction<'static, Sqlite>,
    current: &FlowRequest,
    t: &Transition,
    now: DateTime<Utc>,
) -> Result<std::result::Result<FlowRequest, Rejection>> {
    // Replays first: a replayed token is reported as such whatever became of the request.
    if let Some(why) = write_once(tx, &t.once, now).await? {
        return Ok(Err(why));
    }
    if let Some(why) = check_step(current, t, now)? {
        return Ok(Err(why));
    }
    let counted = i32::from(t.counter.is_some());
    fault::statement("update request status")?;
    let row: RequestRow = sqlx::query_as(concat!(
        "UPDATE flow_requests SET status = ?2, result = ?3, \
         completed_at = CASE WHEN ?4 THEN COALESCE(completed_at, ?5) ELSE completed_at END, \
         retrieved_at = CASE WHEN ?6 THEN COALESCE(retrieved_at, ?5) ELSE retrieved_at END, \
         refusals = refusals + ?7, diagnostics = COALESCE(?8, diagnostics) WHERE id = ?1 RETURNING ",
        request_columns!()
    ))
    .bind(id_text(t.request_id))
    .bind(t.to.as_str())
    .bind(json_text("result", &t.body)?)
    .bind(t.to.is_final())
    .bind(time_text(now))
    .bind(t.to.marks_retrieved())
    .bind(counted)
    .bind(diagnostics_text(t)?)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| db_error(e, "flow step"))?;
    let updated = FlowRequest::try_from(row)?;
    write_step_records(tx, t, &updated, now).await?;
    Ok(Ok(updated))
}

/// The step's compare-and-set in one statement: the update happens only when the row is in a
/// state [`check_step`] allows (kind, a status the step may leave, not completed, live when
/// required, counter below its limit). `None` when the row was not updated; the locked path
/// then finds out why. The guard must say what `check_step` says; the store suite's
/// rejection cases run through both.
async fn guarded_update(
    conn: &mut SqliteConnection,
    t: &Transition,
    now: DateTime<Utc>,
) -> Result<Option<FlowRequest>> {
    fault::statement("update request status")?;
    let allowed = t.allowed_from_names();
    let allowed = serde_json::to_string(&allowed)
        .map_err(|e| StoreError::InvalidData(format!("allowed statuses: {e}")))?;
    let limit = t.counter.map(Counter::limit);
    let row: Option<RequestRow> = sqlx::query_as(concat!(
        "UPDATE flow_requests SET status = ?2, result = ?3, \
         completed_at = CASE WHEN ?4 THEN COALESCE(completed_at, ?5) ELSE completed_at END, \
         retrieved_at = CASE WHEN ?6 THEN COALESCE(retrieved_at, ?5) ELSE retrieved_at END, \
         refusals = refusals + ?7, diagnostics = COALESCE(?12, diagnostics) \
         WHERE id = ?1 AND kind = ?8 AND status IN (SELECT value FROM json_each(?9)) \
         AND completed_at IS NULL AND (NOT ?10 OR expires_at > ?5) \
         AND (?11 IS NULL OR refusals < ?11) RETURNING ",
        request_columns!()
    ))
    .bind(id_text(t.request_id))
    .bind(t.to.as_str())
    .bind(json_text("result", &t.body)?)
    .bind(t.to.is_final())
    .bind(time_text(now))
    .bind(t.to.marks_retrieved())
    .bind(i32::from(t.counter.is_some()))
    .bind(t.kind.as_str())
    .bind(allowed)
    .bind(t.require_live)
    .bind(limit)
    .bind(diagnostics_text(t)?)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(e, "flow step"))?;
    row.map(FlowRequest::try_from).transpose()
}

/// The writes that come with an applied step: its callback row and its issued credential.
async fn write_step_records(
    conn: &mut SqliteConnection,
    t: &Transition,
    updated: &FlowRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(c) = &t.issued {
        insert_issued(conn, c).await?;
    }
    if let Some(m) = t.callback_message() {
        insert_callback(conn, &m, callback_seq(t, updated.refusals), now).await?;
    }
    Ok(())
}

impl SqliteStore {
    /// A step under the write lock with the row read first: the rejection reason comes from
    /// [`check_step`]. The path of refused steps.
    async fn locked_transition(
        &self,
        t: &Transition,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome> {
        fault::statement("begin")?;
        let mut tx = self.begin_write("flow step").await?;
        fault::statement("load request")?;
        let current = load_request(&mut tx, t.request_id).await?;
        let outcome = match apply_step(&mut tx, &current, t, now).await? {
            Ok(updated) => TransitionOutcome::Applied(Box::new(updated)),
            // Dropping the transaction rolls back whatever the step wrote before it was refused.
            Err(why) => return Ok(TransitionOutcome::Rejected(why, Box::new(current))),
        };
        fault::statement("commit")?;
        fault::step_crash_point(t.to, "before commit");
        commit(tx, "flow step").await?;
        fault::step_crash_point(t.to, "committed");
        Ok(outcome)
    }
}

#[async_trait::async_trait]
impl FlowStore for SqliteStore {
    async fn create_request(&self, r: &NewFlowRequest, now: DateTime<Utc>) -> Result<FlowRequest> {
        let now = normalize_time(now)?;
        let expires_at = normalize_time(r.expires_at)?;
        let payload = json_text("payload", &r.payload)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(e, "insert request"))?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO flow_requests (",
            request_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 0, ?, ?, NULL, NULL)"
        ))
        .bind(id_text(r.id))
        .bind(id_text(r.tenant_id))
        .bind(r.kind.as_str())
        .bind(id_text(r.authority_id))
        .bind(r.contract_id.map(id_text))
        .bind(&r.nonce)
        .bind(payload)
        .bind(INITIAL_REQUEST_STATUS)
        .bind(time_text(now))
        .bind(time_text(expires_at))
        .execute(&mut *conn)
        .await;
        if let Err(e) = inserted {
            let mut parents = vec![
                parent("tenant", "tenants", r.tenant_id),
                parent("authority", "authorities", r.authority_id),
            ];
            parents.extend(r.contract_id.map(|c| parent("contract", "contracts", c)));
            return Err(insert_error(
                &mut conn,
                e,
                "insert request",
                vec![
                    unique("flow_requests.id", "request", "id", r.id),
                    unique("flow_requests.nonce", "request", "nonce", &r.nonce),
                ],
                &parents,
            )
            .await);
        }
        Ok(FlowRequest {
            id: r.id,
            tenant_id: r.tenant_id,
            kind: r.kind,
            authority_id: r.authority_id,
            contract_id: r.contract_id,
            nonce: r.nonce.clone(),
            payload: r.payload.clone(),
            status: INITIAL_REQUEST_STATUS.into(),
            result: None,
            pin_failures: 0,
            refusals: 0,
            created_at: now,
            expires_at,
            retrieved_at: None,
            completed_at: None,
        })
    }

    async fn request(&self, id: Uuid) -> Result<Option<FlowRequest>> {
        let row: Option<RequestRow> = sqlx::query_as(concat!(
            "SELECT ",
            request_columns!(),
            " FROM flow_requests WHERE id = ?"
        ))
        .bind(id_text(id))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load request"))?;
        row.map(FlowRequest::try_from).transpose()
    }

    async fn request_diagnostics(&self, id: Uuid) -> Result<Option<serde_json::Value>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT diagnostics FROM flow_requests WHERE id = ?")
                .bind(id_text(id))
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| db_error(e, "load request diagnostics"))?;
        row.and_then(|(d,)| d)
            .map(|d| parse_json("flow_requests.diagnostics", &d))
            .transpose()
    }

    async fn recent_requests(
        &self,
        kind: Option<crate::RequestKind>,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FlowRequest>> {
        let rows: Vec<RequestRow> = sqlx::query_as(concat!(
            "SELECT ",
            request_columns!(),
            " FROM flow_requests WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2)",
            " ORDER BY created_at DESC, id LIMIT ?3"
        ))
        .bind(kind.map(crate::RequestKind::as_str))
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| db_error(e, "list recent requests"))?;
        rows.into_iter().map(FlowRequest::try_from).collect()
    }

    async fn transition(&self, t: &Transition, now: DateTime<Utc>) -> Result<TransitionOutcome> {
        let now = normalize_time(now)?;
        // The usual case first, in as few statements as the step needs: a step that writes
        // nothing but the row is one guarded UPDATE (atomic on its own); one with replay
        // records, a credential or a callback is a transaction of exactly those inserts and
        // the guarded UPDATE. A refused step goes the locked way, which says why.
        if t.writes_only_the_row() {
            fault::statement("acquire connection")?;
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(|e| db_error(e, "flow step"))?;
            if let Some(updated) = guarded_update(&mut conn, t, now).await? {
                return Ok(TransitionOutcome::Applied(Box::new(updated)));
            }
        } else {
            fault::statement("begin")?;
            let mut tx = self.begin_write("flow step").await?;
            if write_once(&mut tx, &t.once, now).await?.is_none()
                && let Some(updated) = guarded_update(&mut tx, t, now).await?
            {
                write_step_records(&mut tx, t, &updated, now).await?;
                fault::statement("commit")?;
                fault::step_crash_point(t.to, "before commit");
                commit(tx, "flow step").await?;
                fault::step_crash_point(t.to, "committed");
                return Ok(TransitionOutcome::Applied(Box::new(updated)));
            }
            // Dropped: rolls back the replay records written above.
        }
        self.locked_transition(t, now).await
    }

    async fn record_pin_failure(
        &self,
        id: Uuid,
        max: i32,
        once: &[OnceRecord],
        lock: &Transition,
        now: DateTime<Utc>,
    ) -> Result<PinOutcome> {
        let now = normalize_time(now)?;
        fault::statement("begin")?;
        let mut tx = self.begin_write("record PIN failure").await?;
        if let Some(why) = write_once(&mut tx, once, now).await? {
            let current = load_request(&mut tx, id).await?;
            return Ok(PinOutcome::Rejected(why, Box::new(current)));
        }
        fault::statement("load request")?;
        let current = load_request(&mut tx, id).await?;
        if let Some(why) = check_pin_failure(&current, max, now)? {
            return Ok(PinOutcome::Rejected(why, Box::new(current)));
        }
        fault::statement("count PIN failure")?;
        let (failures,): (i64,) = sqlx::query_as(
            "UPDATE flow_requests SET pin_failures = pin_failures + 1 WHERE id = ? \
             RETURNING pin_failures",
        )
        .bind(id_text(id))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(e, "record PIN failure"))?;
        let failures = stored_i32("flow_requests.pin_failures", failures)?;
        if failures < max {
            fault::statement("commit")?;
            commit(tx, "record PIN failure").await?;
            return Ok(PinOutcome::Counted(failures));
        }
        let counted = FlowRequest {
            pin_failures: failures,
            ..current
        };
        match apply_step(&mut tx, &counted, lock, now).await? {
            Ok(locked) => {
                fault::statement("commit")?;
                commit(tx, "record PIN failure").await?;
                Ok(PinOutcome::LockedNow(Box::new(locked)))
            }
            Err(why) => Ok(PinOutcome::Rejected(why, Box::new(counted))),
        }
    }

    async fn purge_expired(&self, policy: &PurgePolicy) -> Result<Purged> {
        let now = normalize_time(policy.now)?;
        let before = normalize_time(policy.requests_before)?;
        let batch = i64::from(policy.batch);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(e, "purge expired rows"))?;
        let replay_records = purge_once(&mut conn, now, batch).await?;
        let requests = sqlx::query(
            "DELETE FROM flow_requests WHERE id IN (SELECT r.id FROM flow_requests r \
             WHERE r.expires_at < ? AND NOT EXISTS (SELECT 1 FROM callbacks c \
             WHERE c.request_id = r.id AND c.state = 'pending') \
             ORDER BY r.expires_at LIMIT ?)",
        )
        .bind(time_text(before))
        .bind(batch)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "purge expired requests"))?
        .rows_affected();
        let face_checks = sqlx::query(
            "UPDATE flow_requests SET result = NULL WHERE id IN (SELECT id FROM flow_requests \
             WHERE status = ? AND expires_at < ? AND result IS NOT NULL \
             ORDER BY expires_at LIMIT ?)",
        )
        .bind(FlowStatus::FaceCheckPending.as_str())
        .bind(time_text(now))
        .bind(batch)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "clear expired face checks"))?
        .rows_affected();
        let audit_entries = match policy.audit_before {
            None => 0,
            Some(at) => sqlx::query(
                "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log \
                 WHERE at < ? ORDER BY at LIMIT ?)",
            )
            .bind(time_text(normalize_time(at)?))
            .bind(batch)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error(e, "purge old audit entries"))?
            .rows_affected(),
        };
        Ok(Purged {
            replay_records,
            requests,
            audit_entries,
            face_checks,
        })
    }

    async fn is_once_taken(&self, scope: &str, value: &str, now: DateTime<Utc>) -> Result<bool> {
        let now = normalize_time(now)?;
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM used_once WHERE scope = ? AND value = ? AND expires_at >= ?",
        )
        .bind(scope)
        .bind(value)
        .bind(time_text(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "look up replay guard entry"))?;
        Ok(row.is_some())
    }

    async fn consume_once(
        &self,
        scope: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = normalize_time(now)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(e, "insert replay guard entry"))?;
        purge_once(&mut conn, now, USED_ONCE_PURGE_BATCH).await?;
        let record = OnceRecord {
            scope: scope.to_owned(),
            value: value.to_owned(),
            expires_at,
        };
        Ok(write_once(&mut conn, &[record], now).await?.is_none())
    }
}

// ---- outbox -------------------------------------------------------------------------------

#[async_trait::async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue_callback(&self, m: &NewCallback, now: DateTime<Utc>) -> Result<bool> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(e, "insert callback"))?;
        insert_callback(&mut conn, m, 0, normalize_time(now)?).await
    }

    async fn claim_due_callbacks(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_secs: i64,
    ) -> Result<Vec<CallbackMessage>> {
        let now = normalize_time(now)?;
        let locked_until = normalize_time(now + lease(lease_secs)?)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write("claim due callbacks").await?;
        let rows: Vec<CallbackRow> = sqlx::query_as(concat!(
            "UPDATE callbacks SET locked_until = ?2 WHERE id IN (SELECT id FROM callbacks \
             WHERE state = 'pending' AND next_attempt_at <= ?1 \
             AND (locked_until IS NULL OR locked_until <= ?1) \
             ORDER BY next_attempt_at, id LIMIT ?3) RETURNING ",
            callback_columns!()
        ))
        .bind(time_text(now))
        .bind(time_text(locked_until))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(e, "claim due callbacks"))?;
        commit(tx, "claim due callbacks").await?;
        let mut claimed = callbacks(rows)?;
        // RETURNING has no defined order.
        claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(claimed)
    }

    async fn mark_callback_delivered(
        &self,
        id: Uuid,
        attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = time_text(normalize_time(now)?);
        let query = sqlx::query(
            "UPDATE callbacks SET state = 'delivered', attempts = ?2, delivered_at = ?3, \
             updated_at = ?3, locked_until = NULL WHERE id = ?1 AND state <> 'delivered'",
        )
        .bind(id_text(id))
        .bind(attempts)
        .bind(now);
        self.update_callback(id, query, "mark callback delivered")
            .await
    }

    async fn mark_callback_retry(
        &self,
        id: Uuid,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = time_text(normalize_time(now)?);
        let next_attempt_at = time_text(normalize_time(next_attempt_at)?);
        let query = sqlx::query(
            "UPDATE callbacks SET attempts = ?2, next_attempt_at = ?3, last_error = ?4, \
             updated_at = ?5, locked_until = NULL WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id_text(id))
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(error)
        .bind(now);
        self.update_callback(id, query, "mark callback for retry")
            .await
    }

    async fn mark_callback_failed(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = time_text(normalize_time(now)?);
        let query = sqlx::query(
            "UPDATE callbacks SET state = 'failed', attempts = ?2, last_error = ?3, \
             updated_at = ?4, locked_until = NULL WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id_text(id))
        .bind(attempts)
        .bind(error)
        .bind(now);
        self.update_callback(id, query, "mark callback failed")
            .await
    }

    async fn callbacks_for_request(&self, request_id: Uuid) -> Result<Vec<CallbackMessage>> {
        let rows: Vec<CallbackRow> = sqlx::query_as(concat!(
            "SELECT ",
            callback_columns!(),
            " FROM callbacks WHERE request_id = ? ORDER BY created_at, id"
        ))
        .bind(id_text(request_id))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| db_error(e, "list callbacks of request"))?;
        callbacks(rows)
    }

    async fn pending_callbacks(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callbacks WHERE state = 'pending'")
            .fetch_one(&self.reader)
            .await
            .map_err(|e| db_error(e, "count pending callbacks"))?;
        Ok(n)
    }
}

// ---- credentials --------------------------------------------------------------------------

/// Takes up to `count` indices from the open `list` with `pick`, in one write of its
/// allocation bitmap; empty (and the list closed) when it is full.
async fn take_indices(
    tx: &mut Transaction<'static, Sqlite>,
    list: OpenList,
    count: u32,
    pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
    now: &str,
) -> Result<Vec<StatusAllocation>> {
    let mut allocation = list.allocation;
    let picked = pick_batch(
        &mut allocation,
        list.id,
        list.length,
        list.allocated_count,
        count,
        pick,
    )?;
    if picked.is_empty() {
        sqlx::query("UPDATE status_lists SET is_open = 0, updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(id_text(list.id))
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error(e, "close full status list"))?;
        return Ok(Vec::new());
    }
    let allocated = list.allocated_count + u32::try_from(picked.len()).unwrap_or(u32::MAX);
    sqlx::query(
        "UPDATE status_lists SET allocation = ?, allocated_count = ?, is_open = ?, \
         updated_at = ? WHERE id = ?",
    )
    .bind(&allocation)
    .bind(i64::from(allocated))
    .bind(allocated < list.length)
    .bind(now)
    .bind(id_text(list.id))
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(e, "allocate status index"))?;
    Ok(picked
        .into_iter()
        .map(|index| StatusAllocation {
            list_id: list.id,
            index,
            list_length: list.length,
        })
        .collect())
}

/// Records an issued credential on `conn` (a pooled connection or a step's transaction).
async fn insert_issued(
    conn: &mut SqliteConnection,
    c: &NewIssuedCredential,
) -> Result<IssuedCredential> {
    let issued_at = normalize_time(c.issued_at)?;
    let expires_at = normalize_time(c.expires_at)?;
    // Allocation bits are only ever set, so a plain read is enough; only the byte holding the
    // index is read.
    if c.status_list_id.is_some() {
        fault::statement("load status list")?;
    }
    let list: Option<(String, Vec<u8>)> = match c.status_list_id {
        Some(list_id) => sqlx::query_as(
            "SELECT authority_id, substr(allocation, ?2, 1) FROM status_lists WHERE id = ?1",
        )
        .bind(id_text(list_id))
        .bind(allocation_byte_offset(c.status_index.unwrap_or_default()))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_error(e, "load status list"))?,
        None => None,
    };
    let list = match list {
        Some((owner, byte)) => Some((
            parse_id("status_lists.authority_id", &owner)?,
            byte.first().copied(),
        )),
        None => None,
    };
    check_status_entry(c, list)?;
    fault::statement("insert issued credential")?;
    let slot = format!(
        "{}#{}",
        c.status_list_id.unwrap_or_default(),
        c.status_index.unwrap_or_default()
    );
    let inserted = sqlx::query(concat!(
        "INSERT INTO issued_credentials (",
        issued_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
    ))
    .bind(id_text(c.id))
    .bind(&c.jti)
    .bind(id_text(c.tenant_id))
    .bind(c.contract_id.map(id_text))
    .bind(id_text(c.authority_id))
    .bind(c.request_id.map(id_text))
    .bind(&c.subject_did)
    .bind(c.status_list_id.map(id_text))
    .bind(c.status_index.map(i64::from))
    .bind(&c.indexed_claim_hash)
    .bind(time_text(issued_at))
    .bind(time_text(expires_at))
    .execute(&mut *conn)
    .await;
    if let Err(e) = inserted {
        return Err(insert_error(
            &mut *conn,
            e,
            "insert issued credential",
            vec![
                unique("issued_credentials.id", "issued credential", "id", c.id),
                unique("issued_credentials.jti", "issued credential", "jti", &c.jti),
                unique(
                    "issued_credentials.status_index",
                    "issued credential",
                    "status_index",
                    &slot,
                ),
            ],
            &[
                Some(parent("tenant", "tenants", c.tenant_id)),
                c.contract_id.map(|id| parent("contract", "contracts", id)),
                Some(parent("authority", "authorities", c.authority_id)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
        )
        .await);
    }
    Ok(IssuedCredential {
        id: c.id,
        jti: c.jti.clone(),
        tenant_id: c.tenant_id,
        contract_id: c.contract_id,
        authority_id: c.authority_id,
        request_id: c.request_id,
        subject_did: c.subject_did.clone(),
        status_list_id: c.status_list_id,
        status_index: c.status_index,
        indexed_claim_hash: c.indexed_claim_hash.clone(),
        issued_at,
        expires_at,
        revoked_at: None,
        revocation_reason: None,
    })
}

#[async_trait::async_trait]
impl CredentialStore for SqliteStore {
    async fn create_contract(
        &self,
        tenant_id: Uuid,
        authority_id: Uuid,
        name: &str,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Contract> {
        let now = normalize_time(now)?;
        let id = new_id(now);
        // Inserting from the authority row ties the contract to an authority of its tenant in
        // one statement; no row inserted means a parent is missing or foreign.
        let done = sqlx::query(concat!(
            "INSERT INTO contracts (",
            contract_columns!(),
            ") SELECT ?1, a.tenant_id, a.id, ?4, ?5, 1, ?6, ?6 FROM authorities a \
             WHERE a.id = ?3 AND a.tenant_id = ?2"
        ))
        .bind(id_text(id))
        .bind(id_text(tenant_id))
        .bind(id_text(authority_id))
        .bind(name)
        .bind(json_text("definition", definition)?)
        .bind(time_text(now))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_sqlx(
                e,
                "insert contract",
                sqlite_message_names,
                vec![unique(
                    "contracts.authority_id, contracts.name",
                    "contract",
                    "name",
                    name,
                )],
                None,
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(self.contract_parent_error(tenant_id, authority_id).await);
        }
        Ok(Contract {
            id,
            tenant_id,
            authority_id,
            name: name.into(),
            definition: definition.clone(),
            enabled: true,
            created_at: now,
            updated_at: now,
        })
    }

    async fn contract(&self, id: Uuid) -> Result<Option<Contract>> {
        let row: Option<ContractRow> = sqlx::query_as(concat!(
            "SELECT ",
            contract_columns!(),
            " FROM contracts WHERE id = ?"
        ))
        .bind(id_text(id))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load contract"))?;
        row.map(Contract::try_from).transpose()
    }

    async fn list_contracts(&self, tenant_id: Option<Uuid>) -> Result<Vec<Contract>> {
        let rows: Vec<ContractRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    contract_columns!(),
                    " FROM contracts WHERE tenant_id = ? ORDER BY created_at, id"
                ))
                .bind(id_text(t))
                .fetch_all(&self.reader)
                .await
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    contract_columns!(),
                    " FROM contracts ORDER BY created_at, id"
                ))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(|e| db_error(e, "list contracts"))?;
        rows.into_iter().map(Contract::try_from).collect()
    }

    async fn update_contract(
        &self,
        id: Uuid,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Contract> {
        let now = normalize_time(now)?;
        let row: Option<ContractRow> = sqlx::query_as(concat!(
            "UPDATE contracts SET definition = ?1, updated_at = ?2 WHERE id = ?3 RETURNING ",
            contract_columns!()
        ))
        .bind(json_text("definition", definition)?)
        .bind(time_text(now))
        .bind(id_text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "update contract"))?;
        Contract::try_from(row.ok_or_else(|| not_found("contract", id))?)
    }

    async fn set_contract_enabled(
        &self,
        id: Uuid,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Contract> {
        let now = normalize_time(now)?;
        let row: Option<ContractRow> = sqlx::query_as(concat!(
            "UPDATE contracts SET enabled = ?1, updated_at = ?2 WHERE id = ?3 RETURNING ",
            contract_columns!()
        ))
        .bind(enabled)
        .bind(time_text(now))
        .bind(id_text(id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "enable or disable contract"))?;
        Contract::try_from(row.ok_or_else(|| not_found("contract", id))?)
    }

    async fn allocate_status_indices(
        &self,
        authority_id: Uuid,
        purpose: &str,
        list_length: u32,
        count: u32,
        pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
        now: DateTime<Utc>,
    ) -> Result<Vec<StatusAllocation>> {
        let bytes = list_bytes(list_length)?;
        let count = batch_size(count)?;
        let now = normalize_time(now)?;
        let id = new_id(now);
        let now = time_text(now);
        let mut tx = self.begin_write("allocate status index").await?;
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM authorities WHERE id = ?")
            .bind(id_text(authority_id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(e, "load authority"))?;
        if found.is_none() {
            return Err(not_found("authority", authority_id));
        }
        let open: Option<OpenListRow> = sqlx::query_as(
            "SELECT id, length, allocation, allocated_count FROM status_lists \
             WHERE authority_id = ? AND purpose = ? AND is_open",
        )
        .bind(id_text(authority_id))
        .bind(purpose)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error(e, "load open status list"))?;
        if let Some(list) = open {
            let taken = take_indices(&mut tx, list.try_into()?, count, pick, &now).await?;
            if !taken.is_empty() {
                commit(tx, "allocate status index").await?;
                return Ok(taken);
            }
        }
        // No open list, or it was full and is now closed: open a new one.
        let empty = vec![0u8; bytes];
        sqlx::query(
            "INSERT INTO status_lists (id, authority_id, purpose, length, bits, allocation, \
             allocated_count, is_open, version, signed_jwt, signed_version, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, 1, 1, NULL, NULL, ?6, ?6)",
        )
        .bind(id_text(id))
        .bind(id_text(authority_id))
        .bind(purpose)
        .bind(i64::from(list_length))
        .bind(&empty)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "insert status list"))?;
        let list = OpenList {
            id,
            length: list_length,
            allocation: empty,
            allocated_count: 0,
        };
        let taken = take_indices(&mut tx, list, count, pick, &now).await?;
        if taken.is_empty() {
            return Err(StoreError::InvalidData(format!(
                "the index picker found no free index in the new empty status list of \
                 {list_length} bits"
            )));
        }
        commit(tx, "allocate status index").await?;
        Ok(taken)
    }

    async fn status_list(&self, id: Uuid) -> Result<Option<StatusList>> {
        let row: Option<StatusListRow> = sqlx::query_as(concat!(
            "SELECT ",
            status_list_columns!(),
            " FROM status_lists WHERE id = ?"
        ))
        .bind(id_text(id))
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load status list"))?;
        row.map(StatusList::try_from).transpose()
    }

    async fn close_status_lists(
        &self,
        authority_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now = time_text(normalize_time(now)?);
        let done = match authority_id {
            Some(a) => {
                sqlx::query(
                    "UPDATE status_lists SET is_open = 0, updated_at = ? \
                 WHERE is_open AND authority_id = ?",
                )
                .bind(&now)
                .bind(id_text(a))
                .execute(&self.pool)
                .await
            }
            None => {
                sqlx::query("UPDATE status_lists SET is_open = 0, updated_at = ? WHERE is_open")
                    .bind(&now)
                    .execute(&self.pool)
                    .await
            }
        }
        .map_err(|e| db_error(e, "close status lists"))?;
        Ok(done.rows_affected())
    }

    async fn store_signed_status_list(
        &self,
        id: Uuid,
        version: i64,
        jwt: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = normalize_time(now)?;
        let done = sqlx::query(
            "UPDATE status_lists SET signed_jwt = ?1, signed_version = ?2, updated_at = ?3 \
             WHERE id = ?4 AND version = ?2",
        )
        .bind(jwt)
        .bind(version)
        .bind(time_text(now))
        .bind(id_text(id))
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "store signed status list"))?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        if self.exists("status_lists", id, "load status list").await? {
            Ok(false)
        } else {
            Err(not_found("status list", id))
        }
    }

    async fn record_issued_credential(&self, c: &NewIssuedCredential) -> Result<IssuedCredential> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error(e, "insert issued credential"))?;
        insert_issued(&mut conn, c).await
    }

    async fn issued_credential_by_jti(&self, jti: &str) -> Result<Option<IssuedCredential>> {
        let row: Option<IssuedRow> = sqlx::query_as(concat!(
            "SELECT ",
            issued_columns!(),
            " FROM issued_credentials WHERE jti = ?"
        ))
        .bind(jti)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| db_error(e, "load issued credential"))?;
        row.map(IssuedCredential::try_from).transpose()
    }

    async fn find_credentials(
        &self,
        contract_id: Option<Uuid>,
        indexed_claim_hash: Option<&str>,
        subject_did: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IssuedCredential>> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            issued_columns!(),
            " FROM issued_credentials WHERE 1"
        ));
        if let Some(contract_id) = contract_id {
            query
                .push(" AND contract_id = ")
                .push_bind(id_text(contract_id));
        }
        if let Some(hash) = indexed_claim_hash {
            query.push(" AND indexed_claim_hash = ").push_bind(hash);
        }
        if let Some(did) = subject_did {
            query.push(" AND subject_did = ").push_bind(did);
        }
        query
            .push(" ORDER BY issued_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<IssuedRow> = query
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| db_error(e, "find issued credentials"))?;
        rows.into_iter().map(IssuedCredential::try_from).collect()
    }

    async fn revoke_credential(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(IssuedCredential, Option<Uuid>)> {
        self.revoke_with(id, reason, now, None).await
    }
}

impl SqliteStore {
    /// [`CredentialStore::revoke_credential`], writing `audit` (outcome `revoked` or
    /// `already revoked`) in the same transaction.
    pub(super) async fn revoke_with(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
        audit: Option<&crate::audit::NewAuditEntry>,
    ) -> Result<(IssuedCredential, Option<Uuid>)> {
        let now = normalize_time(now)?;
        let mut tx = self.begin_write("revoke credential").await?;
        let mut credential = credential_on(&mut tx, id).await?;
        if credential.revoked_at.is_some() {
            if let Some(a) = audit {
                super::audit::insert(&mut tx, &revocation_entry(a, "already revoked")).await?;
                commit(tx, "revoke credential").await?;
            }
            return Ok((credential, None));
        }
        sqlx::query(
            "UPDATE issued_credentials SET revoked_at = ?, revocation_reason = ? WHERE id = ?",
        )
        .bind(time_text(now))
        .bind(reason)
        .bind(id_text(id))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "revoke credential"))?;
        credential.revoked_at = Some(now);
        credential.revocation_reason = Some(reason.into());
        // The credential row says revoked; its status bit is not set yet (same transaction).
        fault::crash_point("revoke credential: marked, bit not set");

        let (Some(list_id), Some(index)) = (credential.status_list_id, credential.status_index)
        else {
            if let Some(a) = audit {
                super::audit::insert(&mut tx, &revocation_entry(a, "revoked")).await?;
            }
            commit(tx, "revoke credential").await?;
            return Ok((credential, None));
        };
        let (mut bits,): (Vec<u8>,) = sqlx::query_as("SELECT bits FROM status_lists WHERE id = ?")
            .bind(id_text(list_id))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db_error(e, "load status list"))?;
        set_bit(&mut bits, index, "status")?;
        sqlx::query(
            "UPDATE status_lists SET bits = ?, version = version + 1, updated_at = ? \
             WHERE id = ?",
        )
        .bind(&bits)
        .bind(time_text(now))
        .bind(id_text(list_id))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "set status bit"))?;
        if let Some(a) = audit {
            super::audit::insert(&mut tx, &revocation_entry(a, "revoked")).await?;
        }
        commit(tx, "revoke credential").await?;
        Ok((credential, Some(list_id)))
    }
}

impl SqliteStore {
    /// [`crate::Store::set_suspension_audited`].
    pub(super) async fn suspend_with(
        &self,
        id: Uuid,
        suspend: bool,
        reason: &str,
        now: DateTime<Utc>,
        audit: &crate::audit::NewAuditEntry,
    ) -> Result<(Option<crate::CredentialSuspension>, bool)> {
        let now = normalize_time(now)?;
        let mut tx = self.begin_write("suspend credential").await?;
        let credential = credential_on(&mut tx, id).await?;
        let (Some(list_id), Some(index)) = (credential.status_list_id, credential.status_index)
        else {
            return Err(crate::flow_model::not_suspendable(&credential));
        };
        let (purpose, length, stored): (String, i64, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT purpose, length, suspension_bits FROM status_lists WHERE id = ?",
        )
        .bind(id_text(list_id))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(e, "load status list"))?;
        if purpose != crate::PURPOSE_REVOCATION_SUSPENSION {
            return Err(crate::flow_model::not_suspendable(&credential));
        }
        if suspend && credential.revoked_at.is_some() {
            return Err(StoreError::InvalidData(format!(
                "credential {} is revoked: revocation is final, there is nothing to suspend",
                credential.jti
            )));
        }
        let length = stored_u32("status_lists.length", length)?;
        let mut bits = stored.unwrap_or_else(|| vec![0; (length / 8) as usize]);
        let current = suspension_on(&mut tx, id).await?;
        if crate::flow_model::bit_is_set(&bits, index) == suspend {
            let outcome = if suspend {
                "already suspended"
            } else {
                "not suspended"
            };
            super::audit::insert(&mut tx, &revocation_entry(audit, outcome)).await?;
            commit(tx, "suspend credential").await?;
            return Ok((current, false));
        }
        if suspend {
            set_bit(&mut bits, index, "suspension")?;
        } else {
            crate::flow_model::clear_bit(&mut bits, index, "suspension")?;
        }
        sqlx::query(
            "UPDATE status_lists SET suspension_bits = ?, version = version + 1, \
             updated_at = ? WHERE id = ?",
        )
        .bind(&bits)
        .bind(time_text(now))
        .bind(id_text(list_id))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "set suspension bit"))?;
        let after = if suspend {
            sqlx::query(
                "INSERT INTO credential_suspensions (credential_id, suspended_at, reason) \
                 VALUES (?, ?, ?)",
            )
            .bind(id_text(id))
            .bind(time_text(now))
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, "record suspension"))?;
            Some(crate::CredentialSuspension {
                credential_id: id,
                suspended_at: now,
                reason: reason.to_owned(),
            })
        } else {
            sqlx::query("DELETE FROM credential_suspensions WHERE credential_id = ?")
                .bind(id_text(id))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(e, "end suspension"))?;
            None
        };
        let outcome = if suspend { "suspended" } else { "resumed" };
        super::audit::insert(&mut tx, &revocation_entry(audit, outcome)).await?;
        commit(tx, "suspend credential").await?;
        Ok((after, true))
    }

    /// [`crate::Store::credential_suspension`].
    pub(super) async fn suspension_of(
        &self,
        id: Uuid,
    ) -> Result<Option<crate::CredentialSuspension>> {
        let mut conn = self
            .reader
            .acquire()
            .await
            .map_err(|e| db_error(e, "load suspension"))?;
        suspension_on(&mut conn, id).await
    }
}

/// The issued credential `id`, read inside the write transaction (`NotFound` when there is
/// none).
async fn credential_on(conn: &mut SqliteConnection, id: Uuid) -> Result<IssuedCredential> {
    let row: Option<IssuedRow> = sqlx::query_as(concat!(
        "SELECT ",
        issued_columns!(),
        " FROM issued_credentials WHERE id = ?"
    ))
    .bind(id_text(id))
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(e, "load issued credential"))?;
    IssuedCredential::try_from(row.ok_or_else(|| not_found("issued credential", id))?)
}

async fn suspension_on(
    conn: &mut SqliteConnection,
    id: Uuid,
) -> Result<Option<crate::CredentialSuspension>> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT credential_id, suspended_at, reason FROM credential_suspensions \
         WHERE credential_id = ?",
    )
    .bind(id_text(id))
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(e, "load suspension"))?;
    row.map(|(credential_id, suspended_at, reason)| {
        Ok(crate::CredentialSuspension {
            credential_id: parse_id("credential_suspensions.credential_id", &credential_id)?,
            suspended_at: parse_time("credential_suspensions.suspended_at", &suspended_at)?,
            reason,
        })
    })
    .transpose()
}

/// `a` with the revocation's outcome.
fn revocation_entry(a: &crate::audit::NewAuditEntry, outcome: &str) -> crate::audit::NewAuditEntry {
    crate::audit::NewAuditEntry {
        outcome: outcome.to_owned(),
        ..a.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[tokio::test]
    async fn consume_once_purges_a_bounded_batch_and_takes_over_expired_entries() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("v.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let count = || async {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM used_once")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            n
        };
        for i in 0..250 {
            assert!(
                store
                    .consume_once("s", &format!("v{i}"), t(i), t(0))
                    .await
                    .unwrap()
            );
        }
        assert!(
            store
                .consume_once("s", "target", t(500), t(0))
                .await
                .unwrap()
        );
        assert_eq!(count().await, 251);
        // The purge removes the 100 entries that expired first, no more.
        assert!(
            store
                .consume_once("s", "new", t(5000), t(1000))
                .await
                .unwrap()
        );
        assert_eq!(count().await, 251 - 100 + 1);
        // The next purge stops before "target" (200 older expired entries were ahead of it);
        // its expired entry is taken over rather than reported as a replay.
        assert!(
            store
                .consume_once("s", "target", t(5000), t(1001))
                .await
                .unwrap()
        );
        assert_eq!(count().await, 152 - 100);
        assert!(
            !store
                .consume_once("s", "target", t(5000), t(1002))
                .await
                .unwrap()
        );
    }

    #[test]
    fn corrupt_counts_are_invalid_data() {
        assert_eq!(stored_i32("x", 7).unwrap(), 7);
        let err = stored_i32("callbacks.attempts", i64::MAX).unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("callbacks.attempts"), "{err}");
        let row = RequestRow {
            id: Uuid::nil().to_string(),
            tenant_id: Uuid::nil().to_string(),
            kind: "delegation".into(),
            authority_id: Uuid::nil().to_string(),
            contract_id: None,
            nonce: "n".into(),
            payload: "{}".into(),
            status: "request_created".into(),
            result: None,
            pin_failures: 0,
            refusals: 0,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            expires_at: "2026-01-01T00:00:00.000000Z".into(),
            retrieved_at: None,
            completed_at: None,
        };
        let err = FlowRequest::try_from(row).unwrap_err();
        assert!(err.to_string().contains("delegation"), "{err}");
    }
}
