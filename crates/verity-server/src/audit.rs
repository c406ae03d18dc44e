//! The audit log of admin actions: every admin call that changes something (any method but
//! GET/HEAD/OPTIONS under `/admin/`) gets one row: who (the admin token, plus the principal the
//! CLI names in [`PRINCIPAL_HEADER`]), what (method and route pattern), which ids (path
//! parameters and the ids in the answer), the outcome (HTTP status) and the request id.
//!
//! Calls without the admin token are refused by the handlers and only logged (warn level,
//! `admin call without the admin token refused`): they are not admin actions, and writing
//! them would let anyone fill the table.
//!
//! A revocation is written by the store in the revocation's own transaction
//! (`Store::revoke_credential_audited`, one row per credential); the handler then marks the
//! request [`Audited`] and this middleware writes nothing more. Everything else is written
//! right after the handler answered. Bodies are never stored: only ids, so no client secret,
//! API key, key material or PIN reaches the log.

use crate::openapi::{Op, Routes};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use verity_store::{MAX_AUDIT_PAGE, NewAuditEntry};

use crate::error::ApiError;
use crate::extract::AdminCaller;
use crate::state::AppState;

/// The header the admin CLI sets to name who runs it (`cli:<user>`); recorded next to the
/// admin token, never trusted for anything else.
pub const PRINCIPAL_HEADER: &str = "x-verity-principal";

/// Answer fields recorded as the target ids of a change (never secrets).
const ID_FIELDS: [&str; 5] = ["id", "clientId", "did", "kid", "jti"];

/// Who called: set on admin requests by [`audit_admin`] for handlers that audit themselves.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// Marks a request whose audit rows the handler (through the store) already wrote.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// The audit row of `req` with `action`, `target` and `outcome`, at `at`.
pub fn entry(
    req: &HttpRequest,
    at: DateTime<Utc>,
    target: String,
    outcome: String,
) -> NewAuditEntry {
    let actor = req
        .extensions()
        .get::<Actor>()
        .map_or_else(|| "unknown".to_owned(), |a| a.0.clone());
    let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
    NewAuditEntry {
        at,
        actor,
        action: format!("{} {route}", req.method()),
        target,
        outcome,
        request_id: crate::error::REQUEST_ID.try_with(Clone::clone).ok(),
    }
}

fn actor_of(req: &ServiceRequest, state: &AppState) -> String {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let who = match token {
        Some(t) if state.pepper.verify(t, &state.admin_token_hash) => "admin-token",
        Some(_) => "invalid-token",
        None => "anonymous",
    };
    let principal: Option<String> = req
        .headers()
        .get(PRINCIPAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|p| {
            p.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect()
        })
        .filter(|p: &String| !p.is_empty());
    match principal {
        Some(p) => format!("{who} {p}"),
        None => who.to_owned(),
    }
}

/// The path parameters and the answer's top-level id fields, as `name=value` joined by `,`.
fn target_of(req: &HttpRequest, answer: &[u8]) -> String {
    let mut ids: Vec<String> = req
        .match_info()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(answer) {
        for field in ID_FIELDS {
            if let Some(v) = body.get(field).and_then(|v| v.as_str()) {
                let pair = format!("{field}={v}");
                if !ids.contains(&pair) {
                    ids.push(pair);
                }
            }
        }
    }
    ids.join(",")
}

/// Middleware: writes the audit row of every changing admin call.
pub async fn audit_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let console = req.path().starts_with("/console/") && req.path() != "/console/login";
    let changes = (req.path().starts_with("/admin/") || console)
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (true, Some(state)) = (changes, state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let actor = if console {
        match crate::console::session_of(req.request(), &state) {
            Some(s) => format!("console session:{}", s.log_id()),
            None => "anonymous".to_owned(),
        }
    } else {
        actor_of(&req, &state)
    };
    let authenticated = actor.starts_with("admin-token") || actor.starts_with("console ");
    req.extensions_mut().insert(Actor(actor.clone()));
    let res = next.call(req).await?;
    if !authenticated {
        // Not an admin action: logged, never written to the database, so callers without the
        // token cannot fill the audit table.
        tracing::warn!(
            %actor,
            method = %res.request().method(),
            path = %res.request().path(),
            status = res.status().as_u16(),
            "admin call without the admin token refused"
        );
        return Ok(res.map_into_boxed_body());
    }
    if res.request().extensions().get::<Audited>().is_some() {
        return Ok(res.map_into_boxed_body());
    }
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.into().to_string()))?;
    let row = entry(
        &http_req,
        state.clock.now(),
        target_of(&http_req, &bytes),
        status.as_u16().to_string(),
    );
    if let Err(e) = state.store.record_audit(&row).await {
        tracing::error!(error = %e, action = %row.action, "audit log: cannot write the entry");
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

/// `GET /admin/v1/audit?since=&limit=` query.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// RFC 3339 time; rows at or after it.
    pub since: Option<String>,
    /// Rows at most (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Registers `GET /admin/v1/audit`.
pub fn routes(r: &mut Routes) {
    r.get(
        "/admin/v1/audit",
        list,
        Op::new(
            "listAudit",
            "Admin",
            "The audit log of admin actions, oldest first",
        )
        .admin()
        .query_type::<AuditQuery>()
        .ok_any(
            200,
            "Audit entries: time, action, target, outcome, client address",
        )
        .bad_request(),
    );
}

async fn list(
    _: AdminCaller,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = match q.since.as_deref() {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| ApiError::bad_field("since", "must be an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_AUDIT_PAGE {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be 1 to {MAX_AUDIT_PAGE}"),
        ));
    }
    let rows = state.store.audit_entries(since, limit).await?;
    Ok(HttpResponse::Ok().json(rows))
}
