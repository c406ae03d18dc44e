//! The helpdesk's own state, in one SQLite file: browser sessions, the Verity requests each
//! session started and what became of them, temporary access passes (hashed), the audit log,
//! and the outbox of service-desk tickets.
//!
//! Every state change that produces a ticket writes the ticket in the same transaction, so a
//! crash never loses one (delivery is at least once, see [`crate::webhook`]). A request that
//! reached a final status never changes again (compare-and-set in the `WHERE` clause).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::webhook::{OutboxError, QueuedTicket, TicketEvent, TicketOutbox};

/// A store failure; the message names the operation.
#[derive(Debug, thiserror::Error)]
#[error("helpdesk database: {operation}: {reason}")]
pub struct StoreError {
    pub operation: &'static str,
    pub reason: String,
}

fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| StoreError {
        operation,
        reason: e.to_string(),
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// SHA-256 in hex: how session ids, callback keys and access passes are kept.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS sessions (
        id_hash TEXT PRIMARY KEY, csrf TEXT NOT NULL, upn TEXT, via_pass INTEGER NOT NULL DEFAULT 0,
        pending_login TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS requests (
        request_id TEXT PRIMARY KEY, kind TEXT NOT NULL, session_hash TEXT NOT NULL,
        upn TEXT, url TEXT NOT NULL, qr_code TEXT, pin TEXT, callback_key_hash TEXT NOT NULL,
        status TEXT NOT NULL, final INTEGER NOT NULL DEFAULT 0, reason TEXT, result TEXT,
        last_refusal TEXT, verified_at INTEGER, expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, polled_at INTEGER)",
    "CREATE TABLE IF NOT EXISTS access_passes (
        id TEXT PRIMARY KEY, upn TEXT NOT NULL, pass_hash TEXT NOT NULL, usable_once INTEGER NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER)",
    "CREATE INDEX IF NOT EXISTS access_passes_upn ON access_passes (upn)",
    "CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, subject TEXT, outcome TEXT NOT NULL, detail TEXT, request_id TEXT)",
    "CREATE TABLE IF NOT EXISTS tickets (
        id TEXT PRIMARY KEY, event TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL, delivered_at INTEGER, gave_up_at INTEGER, last_error TEXT,
        created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tickets_due ON tickets (next_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL",
];

/// A browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub csrf: String,
    /// The signed-in employee (portal), if any.
    pub upn: Option<String>,
    /// Signed in with a temporary access pass: the portal asks for a new password.
    pub via_pass: bool,
}

/// What the helpdesk knows of one Verity request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: String,
    pub kind: String,
    pub session_hash: String,
    pub upn: Option<String>,
    pub url: String,
    pub qr_code: Option<String>,
    pub pin: Option<String>,
    pub callback_key_hash: String,
    pub status: String,
    pub is_final: bool,
    pub reason: Option<String>,
    pub result: Option<VerifiedPerson>,
    pub last_refusal: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub polled_at: Option<DateTime<Utc>>,
}

/// Who a verification proved, as the helpdesk keeps it (never the photo).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedPerson {
    pub display_name: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    pub issuer: String,
    pub linked_domain: Option<String>,
    pub face_match_score: Option<u8>,
    /// The directory's handle of the matched entry.
    pub directory_id: String,
}

/// A new request to record.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub request_id: &'a str,
    pub kind: &'a str,
    pub session_hash: &'a str,
    pub upn: Option<&'a str>,
    pub url: &'a str,
    pub qr_code: Option<&'a str>,
    pub pin: Option<&'a str>,
    pub callback_key_hash: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A state change of a request, applied only when the request is not final yet.
#[derive(Debug, Clone, Default)]
pub struct RequestUpdate {
    pub status: String,
    pub is_final: bool,
    pub reason: Option<String>,
    pub result: Option<VerifiedPerson>,
    pub verified_at: Option<DateTime<Utc>>,
    /// The refusal this update reports (a hash of Verity's error body): a ticket is written only
    /// when it differs from the last one seen.
    pub refusal: Option<String>,
    /// Forget the PIN (the issuance is over).
    pub clear_pin: bool,
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

/// A new temporary access pass (the pass itself only as its hash).
#[derive(Debug, Clone)]
pub struct NewPass<'a> {
    pub upn: &'a str,
    pub pass_hash: &'a str,
    pub usable_once: bool,
    pub expires_at: DateTime<Utc>,
}

/// The helpdesk's SQLite store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

impl Store {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and creates its tables.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db("opening the database"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            && !url.contains(":memory:")
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError {
                operation: "creating the database directory",
                reason: format!("{}: {e}", parent.display()),
            })?;
        }
        // One connection: every write is serialised, and a transaction sees its own rows.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db("opening the database"))?;
        for statement in SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(db("creating the tables"))?;
        }
        Ok(Self { pool })
    }

    async fn begin(&self) -> Result<Transaction<'_, Sqlite>> {
        self.pool
            .begin()
            .await
            .map_err(db("starting a transaction"))
    }

    // ---- sessions

    /// Records a new session.
    pub async fn create_session(
        &self,
        id_hash: &str,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Session> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, csrf, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(csrf)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(&self.pool)
        .await
        .map_err(db("creating a session"))?;
        Ok(Session {
            id_hash: id_hash.to_owned(),
            csrf: csrf.to_owned(),
            upn: None,
            via_pass: false,
        })
    }

    /// The live session with this id hash.
    pub async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT id_hash, csrf, upn, via_pass FROM sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading a session"))?;
        Ok(row.map(|r| Session {
            id_hash: r.get("id_hash"),
            csrf: r.get("csrf"),
            upn: r.get("upn"),
            via_pass: r.get::<i64, _>("via_pass") != 0,
        }))
    }

    /// Replaces session `old_hash` by a new one (`new_hash`, signed in as `upn`), so a session
    /// id known before a sign-in is worthless after it.
    pub async fn rotate_session(
        &self,
        old_hash: &str,
        new_hash: &str,
        upn: Option<&str>,
        via_pass: bool,
        csrf: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE sessions SET id_hash = ?, upn = ?, via_pass = ?, csrf = ?, pending_login = NULL
             WHERE id_hash = ?",
        )
        .bind(new_hash)
        .bind(upn)
        .bind(i64::from(via_pass))
        .bind(csrf)
        .bind(old_hash)
        .execute(&mut *tx)
        .await
        .map_err(db("renewing a session"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError {
                operation: "renewing a session",
                reason: "the session ended meanwhile".into(),
            });
        }
        // The session's requests stay its own.
        sqlx::query("UPDATE requests SET session_hash = ? WHERE session_hash = ?")
            .bind(new_hash)
            .bind(old_hash)
            .execute(&mut *tx)
            .await
            .map_err(db("renewing a session"))?;
        tx.commit().await.map_err(db("renewing a session"))
    }

    /// Keeps (or with `None` drops) the session's pending OpenID Connect sign-in.
    pub async fn set_pending_login(&self, id_hash: &str, pending: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE sessions SET pending_login = ? WHERE id_hash = ?")
            .bind(pending)
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db("keeping a pending sign-in"))?;
        Ok(())
    }

    /// Takes the session's pending sign-in: it can be used once.
    pub async fn take_pending_login(&self, id_hash: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let pending: Option<Option<String>> =
            sqlx::query_scalar("SELECT pending_login FROM sessions WHERE id_hash = ?")
                .bind(id_hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("taking a pending sign-in"))?;
        sqlx::query("UPDATE sessions SET pending_login = NULL WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *tx)
            .await
            .map_err(db("taking a pending sign-in"))?;
        tx.commit().await.map_err(db("taking a pending sign-in"))?;
        Ok(pending.flatten())
    }

    // ---- requests

    /// Records a request Verity created, with its audit record (one transaction).
    pub async fn insert_request(
        &self,
        r: &NewRequest<'_>,
        audit: Option<&AuditRecord>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO requests (request_id, kind, session_hash, upn, url, qr_code, pin,
                callback_key_hash, status, expires_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?)",
        )
        .bind(r.request_id)
        .bind(r.kind)
        .bind(r.session_hash)
        .bind(r.upn)
        .bind(r.url)
        .bind(r.qr_code)
        .bind(r.pin)
        .bind(r.callback_key_hash)
        .bind(ts(r.expires_at))
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db("recording a request"))?;
        if let Some(a) = audit {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db("recording a request"))
    }

    /// One request.
    pub async fn request(&self, request_id: &str) -> Result<Option<RequestRecord>> {
        let row = sqlx::query("SELECT * FROM requests WHERE request_id = ?")
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a request"))?;
        Ok(row.map(|r| RequestRecord {
            request_id: r.get("request_id"),
            kind: r.get("kind"),
            session_hash: r.get("session_hash"),
            upn: r.get("upn"),
            url: r.get("url"),
            qr_code: r.get("qr_code"),
            pin: r.get("pin"),
            callback_key_hash: r.get("callback_key_hash"),
            status: r.get("status"),
            is_final: r.get::<i64, _>("final") != 0,
            reason: r.get("reason"),
            result: r
                .get::<Option<String>, _>("result")
                .and_then(|s| serde_json::from_str(&s).ok()),
            last_refusal: r.get("last_refusal"),
            verified_at: r.get::<Option<i64>, _>("verified_at").map(from_ts),
            expires_at: from_ts(r.get("expires_at")),
            polled_at: r.get::<Option<i64>, _>("polled_at").map(from_ts),
        }))
    }

    /// Claims the right to ask Verity about `request_id` now: `false` when another caller did
    /// within `min_interval` (so page polls and callbacks do not multiply Verity's load).
    pub async fn claim_poll(
        &self,
        request_id: &str,
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE requests SET polled_at = ?
             WHERE request_id = ? AND final = 0 AND (polled_at IS NULL OR polled_at <= ?)",
        )
        .bind(ts(now))
        .bind(request_id)
        .bind(ts(now - min_interval))
        .execute(&self.pool)
        .await
        .map_err(db("claiming a poll"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Applies `update` unless the request is final already, writing `audit` and `ticket` in the
    /// same transaction. Returns whether it changed anything. A refusal already seen (same
    /// `refusal` hash) changes nothing and writes no ticket.
    pub async fn update_request(
        &self,
        request_id: &str,
        update: &RequestUpdate,
        audit: Option<&AuditRecord>,
        ticket: Option<&TicketEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = match &update.result {
            Some(p) => Some(serde_json::to_string(p).map_err(|e| StoreError {
                operation: "recording a verification",
                reason: e.to_string(),
            })?),
            None => None,
        };
        let changed = sqlx::query(
            "UPDATE requests SET status = ?, final = ?, reason = ?, result = COALESCE(?, result),
                verified_at = COALESCE(?, verified_at), last_refusal = COALESCE(?, last_refusal),
                pin = CASE WHEN ? THEN NULL ELSE pin END, updated_at = ?
             WHERE request_id = ? AND final = 0
               AND (? IS NULL OR last_refusal IS NULL OR last_refusal <> ?)",
        )
        .bind(&update.status)
        .bind(i64::from(update.is_final))
        .bind(&update.reason)
        .bind(result)
        .bind(update.verified_at.map(ts))
        .bind(&update.refusal)
        .bind(update.clear_pin)
        .bind(ts(now))
        .bind(request_id)
        .bind(&update.refusal)
        .bind(&update.refusal)
        .execute(&mut *tx)
        .await
        .map_err(db("updating a request"))?
        .rows_affected()
            == 1;
        if changed {
            if let Some(a) = audit {
                insert_audit(&mut tx, a).await?;
            }
            if let Some(t) = ticket {
                insert_ticket(&mut tx, t, now).await?;
            }
        }
        tx.commit()
            .await
            .map_err(db("committing a request update"))?;
        Ok(changed)
    }

    // ---- audit and tickets

    /// Records an audit entry and, with it, a ticket.
    pub async fn record(&self, audit: &AuditRecord, ticket: Option<&TicketEvent>) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_audit(&mut tx, audit).await?;
        if let Some(t) = ticket {
            insert_ticket(&mut tx, t, audit.at).await?;
        }
        tx.commit().await.map_err(db("committing an audit record"))
    }

    /// The newest `limit` audit records, newest first.
    pub async fn audit(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, subject, outcome, detail, request_id FROM audit
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the audit log"))?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRecord {
                at: from_ts(r.get("at")),
                actor: r.get("actor"),
                action: r.get("action"),
                subject: r.get("subject"),
                outcome: r.get("outcome"),
                detail: r.get("detail"),
                request_id: r.get("request_id"),
            })
            .collect())
    }

    /// Tickets not delivered yet (and not given up): the outbox depth.
    pub async fn pending_tickets(&self) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting pending tickets"))
    }

    // ---- temporary access passes (directories that have none of their own)

    /// Records a pass (its hash) with the action's audit entry and ticket, in one transaction.
    pub async fn insert_pass(
        &self,
        pass: &NewPass<'_>,
        audit: &AuditRecord,
        ticket: Option<&TicketEvent>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO access_passes (id, upn, pass_hash, usable_once, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(pass.upn)
        .bind(pass.pass_hash)
        .bind(i64::from(pass.usable_once))
        .bind(ts(audit.at))
        .bind(ts(pass.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db("recording an access pass"))?;
        insert_audit(&mut tx, audit).await?;
        if let Some(t) = ticket {
            insert_ticket(&mut tx, t, audit.at).await?;
        }
        tx.commit().await.map_err(db("committing an access pass"))
    }

    /// Uses a pass of `upn`: `true` when one with this hash is live (a once-only pass is then
    /// spent, atomically: two sign-ins with it cannot both succeed).
    pub async fn use_pass(&self, upn: &str, pass_hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let spent = sqlx::query(
            "UPDATE access_passes SET used_at = ?
             WHERE upn = ? AND pass_hash = ? AND expires_at > ? AND used_at IS NULL AND usable_once = 1",
        )
        .bind(ts(now))
        .bind(upn)
        .bind(pass_hash)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(db("using an access pass"))?
        .rows_affected();
        if spent == 1 {
            return Ok(true);
        }
        let reusable: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM access_passes
             WHERE upn = ? AND pass_hash = ? AND expires_at > ? AND usable_once = 0",
        )
        .bind(upn)
        .bind(pass_hash)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db("using an access pass"))?;
        Ok(reusable > 0)
    }

    /// Deletes expired passes, sessions and requests older than `keep` (the audit log and the
    /// delivered tickets' record stay).
    pub async fn purge(&self, now: DateTime<Utc>, keep: chrono::Duration) -> Result<()> {
        let cutoff = ts(now - keep);
        for (sql, at) in [
            ("DELETE FROM access_passes WHERE expires_at <= ?", ts(now)),
            ("DELETE FROM sessions WHERE expires_at <= ?", ts(now)),
            ("DELETE FROM requests WHERE expires_at <= ?", cutoff),
        ] {
            sqlx::query(sql)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(db("purging old rows"))?;
        }
        Ok(())
    }
}

async fn insert_audit(tx: &mut Transaction<'_, Sqlite>, a: &AuditRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, subject, outcome, detail, request_id)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ts(a.at))
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.subject)
    .bind(&a.outcome)
    .bind(&a.detail)
    .bind(&a.request_id)
    .execute(&mut **tx)
    .await
    .map_err(db("writing the audit log"))?;
    Ok(())
}

async fn insert_ticket(
    tx: &mut Transaction<'_, Sqlite>,
    event: &TicketEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    let body = serde_json::to_string(event).map_err(|e| StoreError {
        operation: "queueing a ticket",
        reason: e.to_string(),
    })?;
    sqlx::query("INSERT INTO tickets (id, event, next_at, created_at) VALUES (?, ?, ?, ?)")
        .bind(event.event_id.to_string())
        .bind(body)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut **tx)
        .await
        .map_err(db("queueing a ticket"))?;
    Ok(())
}

fn boxed(e: StoreError) -> OutboxError {
    Box::new(e)
}

#[async_trait::async_trait]
impl TicketOutbox for Store {
    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> std::result::Result<Vec<QueuedTicket>, OutboxError> {
        let rows = sqlx::query(
            "SELECT id, event, attempts FROM tickets
             WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_at <= ?
             ORDER BY next_at, created_at LIMIT ?",
        )
        .bind(ts(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading due tickets"))
        .map_err(boxed)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let text: String = r.get("event");
            let id: String = r.get("id");
            let broken = |reason: String| {
                boxed(StoreError {
                    operation: "reading due tickets",
                    reason,
                })
            };
            let event: TicketEvent =
                serde_json::from_str(&text).map_err(|e| broken(format!("ticket {id}: {e}")))?;
            out.push(QueuedTicket {
                id: Uuid::parse_str(&id).map_err(|e| broken(format!("ticket id {id}: {e}")))?,
                event,
                attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn delivered(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), OutboxError> {
        sqlx::query("UPDATE tickets SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db("marking a ticket delivered"))
            .map_err(boxed)?;
        Ok(())
    }

    async fn retry_later(
        &self,
        id: Uuid,
        attempts: u32,
        next_at: DateTime<Utc>,
        last_error: &str,
    ) -> std::result::Result<(), OutboxError> {
        sqlx::query("UPDATE tickets SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?")
            .bind(i64::from(attempts))
            .bind(ts(next_at))
            .bind(last_error)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db("rescheduling a ticket"))
            .map_err(boxed)?;
        Ok(())
    }

    async fn gave_up(
        &self,
        id: Uuid,
        attempts: u32,
        last_error: &str,
    ) -> std::result::Result<(), OutboxError> {
        sqlx::query(
            "UPDATE tickets SET attempts = ?, gave_up_at = next_at, last_error = ? WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(last_error)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db("giving up a ticket"))
        .map_err(boxed)?;
        Ok(())
    }
}
