//! The audit log on Postgres.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{PgStore, commit};
use crate::audit::{AuditEntry, MAX_AUDIT_PAGE, NewAuditEntry};
use crate::error::{Result, db_error};
use crate::model::normalize_time;

type AuditRow = (
    i64,
    DateTime<Utc>,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn entry(row: AuditRow) -> AuditEntry {
    let (seq, at, actor, action, target, outcome, request_id) = row;
    AuditEntry {
        seq,
        at,
        actor,
        action,
        target,
        outcome,
        request_id,
    }
}

/// Writes `e` on `conn` (inside the caller's transaction when there is one).
pub(super) async fn insert(conn: &mut PgConnection, e: &NewAuditEntry) -> Result<AuditEntry> {
    let e = e.bounded();
    let at = normalize_time(e.at)?;
    let row: AuditRow = sqlx::query_as(
        "INSERT INTO audit_log (at, actor, action, target, outcome, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING seq, at, actor, action, target, outcome, request_id",
    )
    .bind(at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.outcome)
    .bind(&e.request_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(|err| db_error(err, "write audit entry"))?;
    Ok(entry(row))
}

impl PgStore {
    pub(super) async fn record_audit_entry(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        let mut tx = self.begin("write audit entry").await?;
        let written = insert(&mut tx, e).await?;
        commit(tx, "write audit entry").await?;
        Ok(written)
    }

    pub(super) async fn list_audit_entries(
        &self,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let since = match since {
            Some(t) => Some(normalize_time(t)?),
            None => None,
        };
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT seq, at, actor, action, target, outcome, request_id FROM audit_log \
             WHERE $1::timestamptz IS NULL OR at >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(since)
        .bind(i64::from(limit.clamp(1, MAX_AUDIT_PAGE)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, "list audit entries"))?;
        Ok(rows.into_iter().map(entry).collect())
    }
}
