//! The audit log's rows: who did what to which ids, when, and how it ended.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Longest actor, action, target or outcome text stored (longer text is cut).
pub const MAX_AUDIT_TEXT: usize = 500;

/// Most rows one [`crate::Store::audit_entries`] call returns.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// An audit row to write. Only ids and names: never a secret, a body or a claim value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who: `admin-token`, optionally with the CLI principal (`admin-token cli:alice`).
    pub actor: String,
    /// What: method and route pattern, e.g. `POST /admin/v1/credentials/revoke`.
    pub action: String,
    /// Which: the ids acted on (`key=...`, `credential=<jti>`), empty when none.
    pub target: String,
    /// How it ended: the HTTP status, or `revoked` / `unchanged` for a revocation.
    pub outcome: String,
    /// The id of the HTTP request (also in the logs and its `request-id` header).
    pub request_id: Option<String>,
}

impl NewAuditEntry {
    /// This entry with every text cut to [`MAX_AUDIT_TEXT`] characters.
    pub fn bounded(&self) -> NewAuditEntry {
        let cut = |s: &str| s.chars().take(MAX_AUDIT_TEXT).collect::<String>();
        NewAuditEntry {
            at: self.at,
            actor: cut(&self.actor),
            action: cut(&self.action),
            target: cut(&self.target),
            outcome: cut(&self.outcome),
            request_id: self.request_id.as_deref().map(cut),
        }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which ids.
    pub target: String,
    /// How it ended.
    pub outcome: String,
    /// The HTTP request's id.
    #[serde(rename = "requestId")]
    pub request_id: Option<String>,
}
