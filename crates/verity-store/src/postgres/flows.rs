//! The flow traits on Postgres. Row locks serialise what must not interleave across replicas:
//! `FOR UPDATE SKIP LOCKED` hands each due callback to one claimer, and the open status list
//! row is locked while an index is taken from it.

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::{PgStore, commit};
use crate::error::{Result, StoreError, UniqueCase, db_error, map_sqlx, pg_constraint_is};
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

// ---- errors -------------------------------------------------------------------------------

/// A foreign key a statement may violate: Postgres names the constraint, so the missing
/// parent is known without another query.
struct ForeignKey {
    constraint: &'static str,
    entity: &'static str,
    id: String,
}

fn fk(constraint: &'static str, entity: &'static str, id: impl ToString) -> ForeignKey {
    ForeignKey {
        constraint,
        entity,
        id: id.to_string(),
    }
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

/// Maps an insert's error: unique violations to `Conflict`, foreign-key violations to
/// `NotFound` of the parent the violated constraint points to.
fn insert_error(
    e: sqlx::Error,
    op: &str,
    uniques: Vec<UniqueCase>,
    parents: Vec<ForeignKey>,
) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.kind() == ErrorKind::ForeignKeyViolation
        && let Some(p) = parents
            .into_iter()
            .find(|p| db.constraint() == Some(p.constraint))
    {
        return StoreError::NotFound {
            entity: p.entity,
            id: p.id,
        };
    }
    map_sqlx(e, op, pg_constraint_is, uniques, None)
}

fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

fn index_column(index: u32) -> Result<i32> {
    i32::try_from(index)
        .map_err(|_| StoreError::InvalidData(format!("status index {index} is too large")))
}

// ---- rows ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct ContractRow {
    id: Uuid,
    tenant_id: Uuid,
    authority_id: Uuid,
    name: String,
    definition: serde_json::Value,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ContractRow> for Contract {
    fn from(r: ContractRow) -> Self {
        Contract {
            id: r.id,
            tenant_id: r.tenant_id,
            authority_id: r.authority_id,
            name: r.name,
            definition: r.definition,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    authority_id: Uuid,
    contract_id: Option<Uuid>,
    nonce: String,
    payload: serde_json::Value,
    status: String,
    result: Option<serde_json::Value>,
    pin_failures: i32,
    refusals: i32,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    retrieved_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<RequestRow> for FlowRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self> {
        Ok(FlowRequest {
            id: r.id,
            tenant_id: r.tenant_id,
            kind: r.kind.parse()?,
            authority_id: r.authority_id,
            contract_id: r.contract_id,
            nonce: r.nonce,
            payload: r.payload,
            status: r.status,
            result: r.result,
            pin_failures: r.pin_failures,
            refusals: r.refusals,
            created_at: r.created_at,
            expires_at: r.expires_at,
            retrieved_at: r.retrieved_at,
            completed_at: r.completed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CallbackRow {
    id: Uuid,
    request_id: Uuid,
    request_status: String,
    url: String,
    headers: serde_json::Value,
    body: serde_json::Value,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    give_up_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<CallbackRow> for CallbackMessage {
    type Error = StoreError;

    fn try_from(r: CallbackRow) -> Result<Self> {
        Ok(CallbackMessage {
            id: r.id,
            request_id: r.request_id,
            request_status: r.request_status,
            url: r.url,
            headers: r.headers,
            body: r.body,
            state: r.state.parse()?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            give_up_at: r.give_up_at,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
        })
    }
}

fn callbacks(rows: Vec<CallbackRow>) -> Result<Vec<CallbackMessage>> {
    rows.into_iter().map(CallbackMessage::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct StatusListRow {
    id: Uuid,
    authority_id: Uuid,
    purpose: String,
    length: i32,
    bits: Vec<u8>,
    allocated_count: i32,
    version: i64,
    signed_jwt: Option<String>,
    signed_version: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    suspension_bits: Option<Vec<u8>>,
}

impl TryFrom<StatusListRow> for StatusList {
    type Error = StoreError;

    fn try_from(r: StatusListRow) -> Result<Self> {
        Ok(StatusList {
            id: r.id,
            authority_id: r.authority_id,
            purpose: r.purpose,
            length: stored_u32("status_lists.length", r.length.into())?,
            bits: r.bits,
            allocated_count: stored_u32("status_lists.allocated_count", r.allocated_count.into())?,
            version: r.version,
            signed_jwt: r.signed_jwt,
            signed_version: r.signed_version,
            suspension_bits: r.suspension_bits,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The allocation state of a locked list.
#[derive(sqlx::FromRow)]
struct OpenList {
    id: Uuid,
    length: i32,
    allocation: Vec<u8>,
    allocated_count: i32,
}

#[derive(sqlx::FromRow)]
struct IssuedRow {
    id: Uuid,
    jti: String,
    tenant_id: Uuid,
    contract_id: Option<Uuid>,
    authority_id: Uuid,
    request_id: Option<Uuid>,
    subject_did: String,
    status_list_id: Option<Uuid>,
    status_index: Option<i32>,
    indexed_claim_hash: Option<String>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    revocation_reason: Option<String>,
}

impl TryFrom<IssuedRow> for IssuedCredential {
    type Error = StoreError;

    fn try_from(r: IssuedRow) -> Result<Self> {
        Ok(IssuedCredential {
            id: r.id,
            jti: r.jti,
            tenant_id: r.tenant_id,
            contract_id: r.contract_id,
            authority_id: r.authority_id,
            request_id: r.request_id,
            subject_did: r.subject_did,
            status_list_id: r.status_list_id,
            status_index: r
                .status_index
                .map(|i| stored_u32("issued_credentials.status_index", i.into()))
                .transpose()?,
            indexed_claim_hash: r.indexed_claim_hash,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
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

impl PgStore {
    /// Applies a state change to a callback; `NotFound` if the message does not exist.
    async fn update_callback(
        &self,
        id: Uuid,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
        op: &str,
    ) -> Result<()> {
        let done = query
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, op))?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let row: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM callbacks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, "load callback"))?;
        match row {
            Some(_) => Ok(()), // in a final state: nothing to change
            None => Err(not_found("callback", id)),
        }
    }

    /// Why a contract insert matched no authority row: which parent is missing, or a mismatch.
    async fn contract_parent_error(&self, tenant_id: Uuid, authority_id: Uuid) -> StoreError {
        let tenant: std::result::Result<Option<(Uuid,)>, _> =
            sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await;
        let owner: std::result::Result<Option<(Uuid,)>, _> =
            sqlx::query_as("SELECT tenant_id FROM authorities WHERE id = $1")
                .bind(authority_id)
                .fetch_optional(&self.pool)
                .await;
        match (tenant, owner) {
            (Err(e), _) | (_, Err(e)) => db_error(e, "check contract owner"),
            (Ok(None), _) => not_found("tenant", tenant_id),
            (Ok(Some(_)), Ok(None)) => not_found("authority", authority_id),
            (Ok(Some(_)), Ok(Some((owner,)))) => StoreError::InvalidData(format!(
                "authority {authority_id} belongs to tenant {owner}, not to tenant {tenant_id}"
            )),
        }
    }
}

// ---- flows --------------------------------------------------------------------------------

/// Queues a callback on `conn`: `false` (nothing written) when the request already has a
/// message for this status and sequence number.
async fn insert_callback(
    conn: &mut sqlx::PgConnection,
    m: &NewCallback,
    seq: i32,
    now: DateTime<Utc>,
) -> Result<bool> {
    fault::statement("insert callback")?;
    let give_up_at = normalize_time(m.give_up_at)?;
    let done = sqlx::query(
        "INSERT INTO callbacks (id, request_id, request_status, seq, url, headers, body, state, \
         attempts, next_attempt_at, give_up_at, locked_until, last_error, created_at, \
         updated_at, delivered_at) \
         VALUES ($1, $2, $3, $9, $4, $5, $6, 'pending', 0, $7, $8, NULL, NULL, $7, $7, NULL) \
         ON CONFLICT (request_id, request_status, seq) DO NOTHING",
    )
    .bind(m.id)
    .bind(m.request_id)
    .bind(&m.request_status)
    .bind(&m.url)
    .bind(&m.headers)
    .bind(&m.body)
    .bind(now)
    .bind(give_up_at)
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        insert_error(
            e,
            "insert callback",
            vec![unique("callbacks_pkey", "callback", "id", m.id)],
            vec![fk("callbacks_request_fkey", "request", m.request_id)],
        )
    })?;
    Ok(done.rows_affected() > 0)
}

/// Loads a request and locks its row until the transaction ends: concurrent steps on the
/// same request, also on other replicas, wait here and then see the winner's writes.
async fn lock_request(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<FlowRequest> {
    let row: Option<RequestRow> = sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM flow_requests WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| db_error(e, "lock request"))?;
    FlowRequest::try_from(row.ok_or_else(|| not_found("request", id))?)
}

/// Deletes up to `batch` replay records that expired before `now`; how many went.
async fn purge_once(conn: &mut sqlx::PgConnection, now: DateTime<Utc>, batch: i64) -> Result<u64> {
    // SKIP LOCKED: replicas purging at the same time take different rows, nobody waits.
    let done = sqlx::query(
        "DELETE FROM used_once WHERE (scope, value) IN (SELECT scope, value FROM used_once \
         WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(batch)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error(e, "purge expired replay guard entries"))?;
    Ok(done.rows_affected())
}

/// Writes single-use records on `conn` (a step's transaction, or a pooled connection): the rejection when one is already taken
/// (an expired entry the purge has not reached yet is taken over, not a replay).
async fn write_once(
    conn: &mut sqlx::PgConnection,
    records: &[OnceRecord],
    now: DateTime<Utc>,
) -> Result<Option<Rejection>> {
    for once in records {
        fault::statement("insert replay record")?;
        let expires_at = normalize_time(once.expires_at)?;
        let done = sqlx::query(
            "INSERT INTO used_once (scope, value, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, value) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE used_once.expires_at < $4",
        )
        .bind(&once.scope)
        .bind(&once.value)
        .bind(expires_at)
        .bind(now)
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

/// Writes one step on the locked `current` row, or says why it may not be taken. On a
/// rejection the caller drops the transaction, undoing anything written here before it.
async fn apply_step(
    tx: &mut Transaction<'static, Postgres>,
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
        "UPDATE flow_requests SET status = $2, result = $3, \
         completed_at = CASE WHEN $4 THEN COALESCE(completed_at, $5) ELSE completed_at END, \
         retrieved_at = CASE WHEN $6 THEN COALESCE(retrieved_at, $5) ELSE retrieved_at END, \
         refusals = refusals + $7, diagnostics = COALESCE($8, diagnostics) WHERE id = $1 RETURNING ",
        request_columns!()
    ))
    .bind(t.request_id)
    .bind(t.to.as_str())
    .bind(&t.body)
    .bind(t.to.is_final())
    .bind(now)
    .bind(t.to.marks_retrieved())
    .bind(counted)
    .bind(&t.diagnostics)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| db_error(e, "flow step"))?;
    let updated = FlowRequest::try_from(row)?;
    write_step_records(tx, t, &updated, now).await?;
    Ok(Ok(updated))
}

/// The step's compare-and-set in one statement: the update happens only when the row is in a
/// state [`check_step`] allows (kind, a status the step may leave, not completed, live when
/// required, counter below its limit), evaluated under the row lock. `None` when the row was
/// not updated; the locked path then finds out why. The guard must say what `check_step`
/// says; the store suite's rejection cases run through both.
async fn guarded_update(
    conn: &mut sqlx::PgConnection,
    t: &Transition,
    now: DateTime<Utc>,
) -> Result<Option<FlowRequest>> {
    fault::statement("update request status")?;
    let allowed = t.allowed_from_names();
    let limit = t.counter.map(Counter::limit);
    let row: Option<RequestRow> = sqlx::query_as(concat!(
        "UPDATE flow_requests SET status = $2, result = $3, \
         completed_at = CASE WHEN $4 THEN COALESCE(completed_at, $5) ELSE completed_at END, \
         retrieved_at = CASE WHEN $6 THEN COALESCE(retrieved_at, $5) ELSE retrieved_at END, \
         refusals = refusals + $7, diagnostics = COALESCE($12, diagnostics) \
         WHERE id = $1 AND kind = $8 AND status = ANY($9) AND completed_at IS NULL \
         AND (NOT $10 OR expires_at > $5) AND ($11::int IS NULL OR refusals < $11) RETURNING ",
        request_columns!()
    ))
    .bind(t.request_id)
    .bind(t.to.as_str())
    .bind(&t.body)
    .bind(t.to.is_final())
    .bind(now)
    .bind(t.to.marks_retrieved())
    .bind(i32::from(t.counter.is_some()))
    .bind(t.kind.as_str())
    .bind(&allowed)
    .bind(t.require_live)
    .bind(limit)
    .bind(&t.diagnostics)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(e, "flow step"))?;
    row.map(FlowRequest::try_from).transpose()
}

/// The writes that come with an applied step: its callback row and its issued credential.
async fn write_step_records(
    conn: &mut sqlx::PgConnection,
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

impl PgStore {
    /// A step with the row locked first: the rejection reason comes from [`check_step`] on
    /// the locked row. The path of refused steps.
    async fn locked_transition(
        &self,
        t: &Transition,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome> {
        fault::statement("begin")?;
        let mut tx = self.begin("flow step").await?;
        fault::statement("load request")?;
        let current = lock_request(&mut tx, t.request_id).await?;
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
impl FlowStore for PgStore {
    async fn create_request(&self, r: &NewFlowRequest, now: DateTime<Utc>) -> Result<FlowRequest> {
        let now = normalize_time(now)?;
        let expires_at = normalize_time(r.expires_at)?;
        sqlx::query(concat!(
            "INSERT INTO flow_requests (",
            request_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, 0, $9, $10, NULL, NULL)"
        ))
        .bind(r.id)
        .bind(r.tenant_id)
        .bind(r.kind.as_str())
        .bind(r.authority_id)
        .bind(r.contract_id)
        .bind(&r.nonce)
        .bind(&r.payload)
        .bind(INITIAL_REQUEST_STATUS)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            insert_error(
                e,
                "insert request",
                vec![
                    unique("flow_requests_pkey", "request", "id", r.id),
                    unique("flow_requests_nonce_key", "request", "nonce", &r.nonce),
                ],
                vec![
                    fk("flow_requests_tenant_fkey", "tenant", r.tenant_id),
                    fk("flow_requests_authority_fkey", "authority", r.authority_id),
                    fk(
                        "flow_requests_contract_fkey",
                        "contract",
                        r.contract_id.unwrap_or_default(),
                    ),
                ],
            )
        })?;
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
            " FROM flow_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load request"))?;
        row.map(FlowRequest::try_from).transpose()
    }

    async fn request_diagnostics(&self, id: Uuid) -> Result<Option<serde_json::Value>> {
        let row: Option<(Option<serde_json::Value>,)> =
            sqlx::query_as("SELECT diagnostics FROM flow_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_error(e, "load request diagnostics"))?;
        Ok(row.and_then(|(d,)| d))
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
            " FROM flow_requests WHERE ($1::text IS NULL OR kind = $1)",
            " AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id LIMIT $3"
        ))
        .bind(kind.map(crate::RequestKind::as_str))
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
            let mut tx = self.begin("flow step").await?;
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
        let mut tx = self.begin("record PIN failure").await?;
        if let Some(why) = write_once(&mut tx, once, now).await? {
            let current = lock_request(&mut tx, id).await?;
            return Ok(PinOutcome::Rejected(why, Box::new(current)));
        }
        fault::statement("load request")?;
        let current = lock_request(&mut tx, id).await?;
        if let Some(why) = check_pin_failure(&current, max, now)? {
            return Ok(PinOutcome::Rejected(why, Box::new(current)));
        }
        fault::statement("count PIN failure")?;
        let (failures,): (i32,) = sqlx::query_as(
            "UPDATE flow_requests SET pin_failures = pin_failures + 1 WHERE id = $1 \
             RETURNING pin_failures",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(e, "record PIN failure"))?;
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
             WHERE r.expires_at < $1 AND NOT EXISTS (SELECT 1 FROM callbacks c \
             WHERE c.request_id = r.id AND c.state = 'pending') \
             ORDER BY r.expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(batch)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "purge expired requests"))?
        .rows_affected();
        let face_checks = sqlx::query(
            "UPDATE flow_requests SET result = NULL WHERE id IN (SELECT id FROM flow_requests \
             WHERE status = $1 AND expires_at < $2 AND result IS NOT NULL \
             ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)",
        )
        .bind(FlowStatus::FaceCheckPending.as_str())
        .bind(now)
        .bind(batch)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "clear expired face checks"))?
        .rows_affected();
        let audit_entries = match policy.audit_before {
            None => 0,
            Some(at) => sqlx::query(
                "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log \
                 WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(normalize_time(at)?)
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
        let row: Option<(i32,)> = sqlx::query_as(
            "SELECT 1 FROM used_once WHERE scope = $1 AND value = $2 AND expires_at >= $3",
        )
        .bind(scope)
        .bind(value)
        .bind(now)
        .fetch_optional(&self.pool)
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
impl OutboxStore for PgStore {
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
        // One statement is one transaction: the subquery locks the due rows it picks, skipping
        // rows another claimer holds, and the update leases them before the locks go.
        let rows: Vec<CallbackRow> = sqlx::query_as(concat!(
            "UPDATE callbacks SET locked_until = $2 WHERE id IN (SELECT id FROM callbacks \
             WHERE state = 'pending' AND next_attempt_at <= $1 \
             AND (locked_until IS NULL OR locked_until <= $1) \
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
            callback_columns!()
        ))
        .bind(now)
        .bind(locked_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, "claim due callbacks"))?;
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
        let now = normalize_time(now)?;
        let query = sqlx::query(
            "UPDATE callbacks SET state = 'delivered', attempts = $2, delivered_at = $3, \
             updated_at = $3, locked_until = NULL WHERE id = $1 AND state <> 'delivered'",
        )
        .bind(id)
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
        let now = normalize_time(now)?;
        let next_attempt_at = normalize_time(next_attempt_at)?;
        let query = sqlx::query(
            "UPDATE callbacks SET attempts = $2, next_attempt_at = $3, last_error = $4, \
             updated_at = $5, locked_until = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
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
        let now = normalize_time(now)?;
        let query = sqlx::query(
            "UPDATE callbacks SET state = 'failed', attempts = $2, last_error = $3, \
             updated_at = $4, locked_until = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
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
            " FROM callbacks WHERE request_id = $1 ORDER BY created_at, id"
        ))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, "list callbacks of request"))?;
        callbacks(rows)
    }

    async fn pending_callbacks(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callbacks WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(e, "count pending callbacks"))?;
        Ok(n)
    }
}

// ---- credentials --------------------------------------------------------------------------

/// Takes up to `count` indices from a locked list with `pick`, in one write of its allocation
/// bitmap; empty (and the list closed) when it is full.
async fn take_indices(
    tx: &mut Transaction<'static, Postgres>,
    list: OpenList,
    count: u32,
    pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
    now: DateTime<Utc>,
) -> Result<Vec<StatusAllocation>> {
    let length = stored_u32("status_lists.length", list.length.into())?;
    let allocated = stored_u32("status_lists.allocated_count", list.allocated_count.into())?;
    let mut allocation = list.allocation;
    let picked = pick_batch(&mut allocation, list.id, length, allocated, count, pick)?;
    if picked.is_empty() {
        sqlx::query("UPDATE status_lists SET is_open = FALSE, updated_at = $2 WHERE id = $1")
            .bind(list.id)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error(e, "close full status list"))?;
        return Ok(Vec::new());
    }
    let allocated = list.allocated_count + i32::try_from(picked.len()).unwrap_or(i32::MAX);
    sqlx::query(
        "UPDATE status_lists SET allocation = $2, allocated_count = $3, is_open = $4, \
         updated_at = $5 WHERE id = $1",
    )
    .bind(list.id)
    .bind(&allocation)
    .bind(allocated)
    .bind(allocated < list.length)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(e, "allocate status index"))?;
    Ok(picked
        .into_iter()
        .map(|index| StatusAllocation {
            list_id: list.id,
            index,
            list_length: length,
        })
        .collect())
}

/// The open list of an authority and purpose, locked. NO KEY UPDATE: the lock serialises
/// allocators and revocations but lets credential inserts check their reference to the list.
async fn lock_open_list(
    tx: &mut Transaction<'static, Postgres>,
    authority_id: Uuid,
    purpose: &str,
) -> Result<Option<OpenList>> {
    sqlx::query_as(
        "SELECT id, length, allocation, allocated_count FROM status_lists \
         WHERE authority_id = $1 AND purpose = $2 AND is_open FOR NO KEY UPDATE",
    )
    .bind(authority_id)
    .bind(purpose)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| db_error(e, "lock open status list"))
}

/// Records an issued credential on `conn` (a pooled connection or a step's transaction).
async fn insert_issued(
    conn: &mut sqlx::PgConnection,
    c: &NewIssuedCredential,
) -> Result<IssuedCredential> {
    let issued_at = normalize_time(c.issued_at)?;
    let expires_at = normalize_time(c.expires_at)?;
    // Allocation bits are only ever set, so reading them without a lock is enough; only the
    // byte holding the index is read.
    if c.status_list_id.is_some() {
        fault::statement("load status list")?;
    }
    let list: Option<(Uuid, Vec<u8>)> = match c.status_list_id {
        Some(list_id) => sqlx::query_as(
            "SELECT authority_id, substring(allocation from $2::int for 1) FROM status_lists \
             WHERE id = $1",
        )
        .bind(list_id)
        .bind(allocation_byte_offset(c.status_index.unwrap_or_default()))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_error(e, "load status list"))?,
        None => None,
    };
    check_status_entry(c, list.map(|(a, byte)| (a, byte.first().copied())))?;
    let index = c.status_index.map(index_column).transpose()?;
    fault::statement("insert issued credential")?;
    let slot = format!(
        "{}#{}",
        c.status_list_id.unwrap_or_default(),
        c.status_index.unwrap_or_default()
    );
    sqlx::query(concat!(
        "INSERT INTO issued_credentials (",
        issued_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL)"
    ))
    .bind(c.id)
    .bind(&c.jti)
    .bind(c.tenant_id)
    .bind(c.contract_id)
    .bind(c.authority_id)
    .bind(c.request_id)
    .bind(&c.subject_did)
    .bind(c.status_list_id)
    .bind(index)
    .bind(&c.indexed_claim_hash)
    .bind(issued_at)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        insert_error(
            e,
            "insert issued credential",
            vec![
                unique("issued_credentials_pkey", "issued credential", "id", c.id),
                unique(
                    "issued_credentials_jti_key",
                    "issued credential",
                    "jti",
                    &c.jti,
                ),
                unique(
                    "issued_credentials_status_key",
                    "issued credential",
                    "status_index",
                    &slot,
                ),
            ],
            vec![
                fk("issued_credentials_tenant_fkey", "tenant", c.tenant_id),
                fk(
                    "issued_credentials_contract_fkey",
                    "contract",
                    c.contract_id.map(|id| id.to_string()).unwrap_or_default(),
                ),
                fk(
                    "issued_credentials_authority_fkey",
                    "authority",
                    c.authority_id,
                ),
                fk(
                    "issued_credentials_status_list_fkey",
                    "status list",
                    c.status_list_id.unwrap_or_default(),
                ),
            ],
        )
    })?;
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
impl CredentialStore for PgStore {
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
            ") SELECT $1, a.tenant_id, a.id, $4, $5, TRUE, $6, $6 FROM authorities a \
             WHERE a.id = $3 AND a.tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant_id)
        .bind(authority_id)
        .bind(name)
        .bind(definition)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            insert_error(
                e,
                "insert contract",
                vec![unique(
                    "contracts_authority_name_key",
                    "contract",
                    "name",
                    name,
                )],
                vec![],
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
            " FROM contracts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load contract"))?;
        Ok(row.map(Contract::from))
    }

    async fn list_contracts(&self, tenant_id: Option<Uuid>) -> Result<Vec<Contract>> {
        let rows: Vec<ContractRow> = match tenant_id {
            Some(t) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    contract_columns!(),
                    " FROM contracts WHERE tenant_id = $1 ORDER BY created_at, id"
                ))
                .bind(t)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    contract_columns!(),
                    " FROM contracts ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| db_error(e, "list contracts"))?;
        Ok(rows.into_iter().map(Contract::from).collect())
    }

    async fn update_contract(
        &self,
        id: Uuid,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Contract> {
        let now = normalize_time(now)?;
        let row: Option<ContractRow> = sqlx::query_as(concat!(
            "UPDATE contracts SET definition = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            contract_columns!()
        ))
        .bind(id)
        .bind(definition)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "update contract"))?;
        row.map(Contract::from)
            .ok_or_else(|| not_found("contract", id))
    }

    async fn set_contract_enabled(
        &self,
        id: Uuid,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Contract> {
        let now = normalize_time(now)?;
        let row: Option<ContractRow> = sqlx::query_as(concat!(
            "UPDATE contracts SET enabled = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            contract_columns!()
        ))
        .bind(id)
        .bind(enabled)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "enable or disable contract"))?;
        row.map(Contract::from)
            .ok_or_else(|| not_found("contract", id))
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

        // Usual case: the open list has room. Only the list row is locked.
        let mut tx = self.begin("allocate status index").await?;
        if let Some(list) = lock_open_list(&mut tx, authority_id, purpose).await? {
            let taken = take_indices(&mut tx, list, count, pick, now).await?;
            if !taken.is_empty() {
                commit(tx, "allocate status index").await?;
                return Ok(taken);
            }
        }
        // Commits the closing of a full list, if any.
        commit(tx, "allocate status index").await?;

        // A new list is needed. Locking the authority row first serialises creators, so only
        // one list is opened; the open list is looked up again because another allocator may
        // have opened one meanwhile. The lock order (authority, then list) never inverts: the
        // usual case above holds only a list lock and asks for nothing else.
        let mut tx = self.begin("open status list").await?;
        let found: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM authorities WHERE id = $1 FOR NO KEY UPDATE")
                .bind(authority_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(e, "lock authority"))?;
        if found.is_none() {
            return Err(not_found("authority", authority_id));
        }
        if let Some(list) = lock_open_list(&mut tx, authority_id, purpose).await? {
            let taken = take_indices(&mut tx, list, count, pick, now).await?;
            if !taken.is_empty() {
                commit(tx, "allocate status index").await?;
                return Ok(taken);
            }
        }
        let id = new_id(now);
        let length = i32::try_from(list_length)
            .map_err(|_| StoreError::InvalidData(format!("list length {list_length} too big")))?;
        let empty = vec![0u8; bytes];
        sqlx::query(
            "INSERT INTO status_lists (id, authority_id, purpose, length, bits, allocation, \
             allocated_count, is_open, version, signed_jwt, signed_version, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $5, 0, TRUE, 1, NULL, NULL, $6, $6)",
        )
        .bind(id)
        .bind(authority_id)
        .bind(purpose)
        .bind(length)
        .bind(&empty)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "insert status list"))?;
        let list = OpenList {
            id,
            length,
            allocation: empty,
            allocated_count: 0,
        };
        let taken = take_indices(&mut tx, list, count, pick, now).await?;
        if taken.is_empty() {
            return Err(StoreError::InvalidData(format!(
                "the index picker found no free index in the new empty status list of \
                 {list_length} bits"
            )));
        }
        commit(tx, "open status list").await?;
        Ok(taken)
    }

    async fn status_list(&self, id: Uuid) -> Result<Option<StatusList>> {
        let row: Option<StatusListRow> = sqlx::query_as(concat!(
            "SELECT ",
            status_list_columns!(),
            " FROM status_lists WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, "load status list"))?;
        row.map(StatusList::try_from).transpose()
    }

    async fn close_status_lists(
        &self,
        authority_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let now = normalize_time(now)?;
        let done = sqlx::query(
            "UPDATE status_lists SET is_open = false, updated_at = $1 \
             WHERE is_open AND ($2::uuid IS NULL OR authority_id = $2)",
        )
        .bind(now)
        .bind(authority_id)
        .execute(&self.pool)
        .await
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
            "UPDATE status_lists SET signed_jwt = $3, signed_version = $2, updated_at = $4 \
             WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .bind(jwt)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "store signed status list"))?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let found: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM status_lists WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, "load status list"))?;
        match found {
            Some(_) => Ok(false),
            None => Err(not_found("status list", id)),
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
            " FROM issued_credentials WHERE jti = $1"
        ))
        .bind(jti)
        .fetch_optional(&self.pool)
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
        // Only the given filters go into the SQL, so each shape gets a plan using its index.
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            issued_columns!(),
            " FROM issued_credentials WHERE TRUE"
        ));
        if let Some(contract_id) = contract_id {
            query.push(" AND contract_id = ").push_bind(contract_id);
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
            .fetch_all(&self.pool)
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

impl PgStore {
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
        let mut tx = self.begin("revoke credential").await?;
        let mut credential = locked_credential(&mut tx, id).await?;
        if credential.revoked_at.is_some() {
            if let Some(a) = audit {
                super::audit::insert(&mut tx, &revocation_entry(a, "already revoked")).await?;
                commit(tx, "revoke credential").await?;
            }
            return Ok((credential, None));
        }
        sqlx::query(
            "UPDATE issued_credentials SET revoked_at = $2, revocation_reason = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
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
        let (mut bits,): (Vec<u8>,) =
            sqlx::query_as("SELECT bits FROM status_lists WHERE id = $1 FOR NO KEY UPDATE")
                .bind(list_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| db_error(e, "lock status list"))?;
        // Postgres' own set_bit counts from the least significant bit: the bit is set here.
        set_bit(&mut bits, index, "status")?;
        sqlx::query(
            "UPDATE status_lists SET bits = $2, version = version + 1, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(list_id)
        .bind(&bits)
        .bind(now)
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

impl PgStore {
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
        let mut tx = self.begin("suspend credential").await?;
        let credential = locked_credential(&mut tx, id).await?;
        let (Some(list_id), Some(index)) = (credential.status_list_id, credential.status_index)
        else {
            return Err(crate::flow_model::not_suspendable(&credential));
        };
        let (purpose, length, stored): (String, i32, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT purpose, length, suspension_bits FROM status_lists WHERE id = $1 \
             FOR NO KEY UPDATE",
        )
        .bind(list_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(e, "lock status list"))?;
        if purpose != crate::PURPOSE_REVOCATION_SUSPENSION {
            return Err(crate::flow_model::not_suspendable(&credential));
        }
        if suspend && credential.revoked_at.is_some() {
            return Err(StoreError::InvalidData(format!(
                "credential {} is revoked: revocation is final, there is nothing to suspend",
                credential.jti
            )));
        }
        let length = stored_u32("status_lists.length", length.into())?;
        let mut bits = stored.unwrap_or_else(|| vec![0; (length / 8) as usize]);
        let current = suspension_row(&mut *tx, id).await?;
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
            "UPDATE status_lists SET suspension_bits = $2, version = version + 1, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(list_id)
        .bind(&bits)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(e, "set suspension bit"))?;
        let after = if suspend {
            sqlx::query(
                "INSERT INTO credential_suspensions (credential_id, suspended_at, reason) \
                 VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(now)
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
            sqlx::query("DELETE FROM credential_suspensions WHERE credential_id = $1")
                .bind(id)
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
        suspension_row(&self.pool, id).await
    }
}

/// The issued credential `id`, locked for the rest of `tx` (`NotFound` when there is none).
async fn locked_credential(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
) -> Result<IssuedCredential> {
    let row: Option<IssuedRow> = sqlx::query_as(concat!(
        "SELECT ",
        issued_columns!(),
        " FROM issued_credentials WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| db_error(e, "load issued credential"))?;
    IssuedCredential::try_from(row.ok_or_else(|| not_found("issued credential", id))?)
}

/// The suspension in force for credential `id`, read through `conn` (a pool or a transaction).
async fn suspension_row<'c, E>(conn: E, id: Uuid) -> Result<Option<crate::CredentialSuspension>>
where
    E: sqlx::PgExecutor<'c>,
{
    let row: Option<(Uuid, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT credential_id, suspended_at, reason FROM credential_suspensions \
         WHERE credential_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| db_error(e, "load suspension"))?;
    Ok(row.map(
        |(credential_id, suspended_at, reason)| crate::CredentialSuspension {
            credential_id,
            suspended_at,
            reason,
        },
    ))
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
    use crate::testing::{Backend, fresh_database};
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[tokio::test]
    async fn consume_once_purges_a_bounded_batch_and_takes_over_expired_entries() {
        let Some(db) = fresh_database(Backend::Postgres).await else {
            return; // skipped: printed by fresh_database
        };
        let store = PgStore::connect(&db.url).await.unwrap();
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
        store.pool.close().await;
        drop(db);
    }

    #[test]
    fn foreign_key_errors_without_a_database_error_stay_database_errors() {
        let err = insert_error(
            sqlx::Error::RowNotFound,
            "insert request",
            vec![],
            vec![fk("flow_requests_tenant_fkey", "tenant", Uuid::nil())],
        );
        assert_eq!(err.code(), "STORE-004");
        assert!(err.to_string().contains("insert request"), "{err}");
    }

    #[test]
    fn huge_indices_are_refused() {
        assert_eq!(index_column(5).unwrap(), 5);
        assert_eq!(index_column(u32::MAX).unwrap_err().code(), "STORE-003");
    }
}
