//! Admin API for issued credentials: search (by the contract's indexed claim, jti or holder)
//! and revoke. Revoking sets the credential's bit in its status list in the same database
//! transaction; the list endpoint re-signs the new version on its next request.

use crate::openapi::{Op, Routes};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verity_store::IssuedCredential;

use crate::error::{ApiError, InnerCode};
use crate::extract::{AdminCaller, ApiJson};
use crate::routes::issuance::indexed_claim_hash;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    const A: &str = "Admin";
    r.get(
        "/admin/v1/credentials",
        search,
        Op::new(
            "searchCredentials",
            A,
            "Issued credentials by jti, holder, or contract and indexed claim",
        )
        .admin()
        .query_type::<CredentialQuery>()
        .ok::<Vec<CredentialView>>(
            200,
            "Matching credentials (no claims: only their search hash is kept)",
        )
        .bad_request(),
    )
    .post(
        "/admin/v1/credentials/revoke",
        revoke,
        Op::new(
            "revokeCredentials",
            A,
            "Revokes the matching credentials: their status bit is set now",
        )
        .admin()
        .body::<RevokeRequest>("Which credentials, and why")
        .ok::<Vec<CredentialView>>(200, "The revoked credentials")
        .bad_request()
        .not_found(),
    )
    .post(
        "/admin/v1/credentials/suspend",
        suspend,
        Op::new("suspendCredentials", A, "Suspends the matching credentials: their suspension bit is set now")
            .describe("Only credentials of suspendable contracts (`rules.suspendable`, JWT-VCs) carry a suspension status entry; others are refused 409. Resuming clears the bit.")
            .admin()
            .body::<RevokeRequest>("Which credentials, and why")
            .ok::<Vec<CredentialView>>(200, "The credentials, now suspended")
            .bad_request()
            .not_found()
            .error(409, &[InnerCode::Conflict]),
    )
    .post(
        "/admin/v1/credentials/resume",
        resume,
        Op::new("resumeCredentials", A, "Resumes suspended credentials: their suspension bit is cleared now")
            .admin()
            .body::<RevokeRequest>("Which credentials (the reason is recorded in the audit log)")
            .ok::<Vec<CredentialView>>(200, "The credentials, no longer suspended")
            .bad_request()
            .not_found()
            .error(409, &[InnerCode::Conflict]),
    )
    .post(
        "/admin/v1/status-lists/close",
        close_status_lists,
        Op::new(
            "closeStatusLists",
            A,
            "Closes the open status lists (after restoring a backup)",
        )
        .admin()
        .body::<CloseStatusLists>("Optionally, one authority")
        .ok_any(200, "`{ \"closed\": n }`")
        .bad_request()
        .not_found(),
    );
}

/// `POST /admin/v1/status-lists/close`: which authority's open lists to close (all without
/// `authority`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloseStatusLists {
    /// Authority id or DID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// Closes the open status lists (docs/OPERATIONS.md, "Backup and restore"): new credentials
/// get indices of new lists, and this replica drops the indices it held. `{ "closed": n }`.
async fn close_status_lists(
    _: AdminCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CloseStatusLists>,
) -> Result<HttpResponse, ApiError> {
    let authority = match &body.authority {
        None => None,
        Some(a) => {
            let found = match Uuid::parse_str(a) {
                Ok(id) => state.store.authority(id).await?,
                Err(_) => state.store.authority_by_did(a).await?,
            };
            Some(
                found
                    .ok_or_else(|| {
                        ApiError::bad_field("authority", format!("authority `{a}` not found"))
                    })?
                    .id,
            )
        }
    };
    let closed = state
        .store
        .close_status_lists(authority, state.clock.now())
        .await?;
    let dropped = state.status_leases.forget(authority);
    tracing::info!(closed, dropped_indices = dropped, "status lists closed");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "closed": closed })))
}

/// Which credentials a search or revocation is about: a `jti`, or the contract's indexed claim
/// value (searched by `Base64(SHA256(contractId + value))`, as the hosted service does), or a
/// holder DID.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Contract id; required with `claim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// The value of the contract's indexed claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The holder DID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `POST /admin/v1/credentials/revoke`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why (kept with the revocation), up to 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An issued credential as the admin API shows it (no claims: only their search hash is kept).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    pub id: Uuid,
    pub jti: String,
    /// The contract issued; absent for a credential issued through the VC-API.
    pub contract_id: Option<Uuid>,
    pub subject: String,
    pub status_list: Option<String>,
    pub status_index: Option<u32>,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// `VALID`, `SUSPENDED` or `REVOKED`.
    pub status: String,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revocation_reason: Option<String>,
    /// Since when the credential is suspended (credentials of suspendable contracts only).
    pub suspended_at: Option<chrono::DateTime<chrono::Utc>>,
    pub suspension_reason: Option<String>,
}

pub(crate) async fn view(
    state: &AppState,
    c: IssuedCredential,
) -> Result<CredentialView, ApiError> {
    let suspension = if c.revoked_at.is_none() {
        state.store.credential_suspension(c.id).await?
    } else {
        None
    };
    Ok(CredentialView {
        status: if c.revoked_at.is_some() {
            "REVOKED"
        } else if suspension.is_some() {
            "SUSPENDED"
        } else {
            "VALID"
        }
        .to_owned(),
        suspended_at: suspension.as_ref().map(|s| s.suspended_at),
        suspension_reason: suspension.map(|s| s.reason),
        status_list: c.status_list_id.map(|l| super::status::list_url(state, l)),
        id: c.id,
        jti: c.jti,
        contract_id: c.contract_id,
        subject: c.subject_did,
        status_index: c.status_index,
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason,
    })
}

pub(crate) async fn find(
    state: &AppState,
    q: &CredentialQuery,
) -> Result<Vec<IssuedCredential>, ApiError> {
    if let Some(jti) = &q.jti {
        if q.claim.is_some() || q.subject.is_some() {
            return Err(ApiError::bad_field(
                "jti",
                "give either `jti` or `contract` + `claim` / `subject`",
            ));
        }
        return Ok(state
            .store
            .issued_credential_by_jti(jti)
            .await?
            .into_iter()
            .collect());
    }
    let contract =
        match &q.contract {
            None => None,
            Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
                ApiError::bad_field("contract", format!("`{c}` is not a contract id"))
            })?),
        };
    let hash = match (&q.claim, contract) {
        (Some(_), None) => return Err(ApiError::bad_field("contract", "is required with `claim`")),
        (Some(value), Some(id)) => {
            let stored = state.store.contract(id).await?.ok_or_else(|| {
                ApiError::bad_field("contract", format!("contract `{id}` not found"))
            })?;
            let parsed = crate::flows::load_contract(&stored)?;
            if parsed.indexed_claim().is_none() {
                return Err(ApiError::bad_field(
                    "claim",
                    "this contract has no indexed claim to search by",
                ));
            }
            Some(indexed_claim_hash(id, value))
        }
        (None, _) => None,
    };
    if hash.is_none() && q.subject.is_none() && contract.is_none() {
        return Err(ApiError::bad_field(
            "jti",
            "give `jti`, `contract` + `claim`, `contract` or `subject`",
        ));
    }
    Ok(state
        .store
        .find_credentials(contract, hash.as_deref(), q.subject.as_deref(), 1000)
        .await?)
}

async fn search(
    _: AdminCaller,
    state: web::Data<AppState>,
    q: web::Query<CredentialQuery>,
) -> Result<HttpResponse, ApiError> {
    let found = find(&state, &q).await?;
    let mut out = Vec::with_capacity(found.len());
    for c in found {
        out.push(view(&state, c).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn revoke(
    _: AdminCaller,
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let out = revoke_matching(&state, &req, &body).await?;
    Ok(HttpResponse::Ok().json(out))
}

async fn suspend(
    _: AdminCaller,
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(suspend_matching(&state, &req, &body, true).await?))
}

async fn resume(
    _: AdminCaller,
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(suspend_matching(&state, &req, &body, false).await?))
}

/// The reason (`default` when none is given; at most 500 characters) and the credentials a
/// revoke/suspend/resume body selects (404 when none).
async fn selection(
    state: &AppState,
    body: &RevokeRequest,
    default: &str,
) -> Result<(String, Vec<IssuedCredential>), ApiError> {
    let reason = body.reason.clone().unwrap_or_else(|| default.to_owned());
    if reason.chars().count() > 500 {
        return Err(ApiError::bad_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let query = CredentialQuery {
        jti: body.jti.clone(),
        contract: body.contract.clone(),
        claim: body.claim.clone(),
        subject: body.subject.clone(),
    };
    let found = find(state, &query).await?;
    if found.is_empty() {
        return Err(ApiError::not_found("no issued credential matches"));
    }
    Ok((reason, found))
}

/// Tells the audit middleware the store already wrote this request's audit rows.
fn mark_audited(req: &actix_web::HttpRequest) {
    use actix_web::HttpMessage;
    req.extensions_mut().insert(crate::audit::Audited);
}

/// Suspends (`suspend`) or resumes every credential `body` matches, each in one transaction
/// with its audit row, and marks `req` audited (the admin API and the console). A credential
/// without a suspension entry is refused 409 (credentials matched before it stay changed).
pub(crate) async fn suspend_matching(
    state: &AppState,
    req: &actix_web::HttpRequest,
    body: &RevokeRequest,
    suspend: bool,
) -> Result<Vec<CredentialView>, ApiError> {
    let default = if suspend {
        "suspended by an administrator"
    } else {
        "resumed by an administrator"
    };
    let (reason, found) = selection(state, body, default).await?;
    let mut out = Vec::new();
    for c in found {
        let now = state.clock.now();
        let audit = crate::audit::entry(req, now, format!("credential={}", c.jti), String::new());
        let (_, changed) = state
            .store
            .set_suspension_audited(c.id, suspend, &reason, now, &audit)
            .await?;
        if changed {
            tracing::info!(jti = %c.jti, suspended = suspend, "credential suspension changed");
        }
        // The credential row does not change with a suspension; `view` reads the suspension.
        out.push(view(state, c).await?);
    }
    mark_audited(req);
    Ok(out)
}

/// Revokes every credential `body` matches, each in one transaction with its audit row
/// (actor from `req`), and marks `req` audited (the admin API and the console).
pub(crate) async fn revoke_matching(
    state: &AppState,
    req: &actix_web::HttpRequest,
    body: &RevokeRequest,
) -> Result<Vec<CredentialView>, ApiError> {
    let (reason, found) = selection(state, body, "revoked by an administrator").await?;
    let mut out = Vec::new();
    for c in found {
        // The audit row is written in the revocation's transaction.
        let now = state.clock.now();
        let audit = crate::audit::entry(req, now, format!("credential={}", c.jti), String::new());
        let (revoked, changed) = state
            .store
            .revoke_credential_audited(c.id, &reason, now, &audit)
            .await?;
        if changed.is_some() {
            tracing::info!(jti = %revoked.jti, "credential revoked");
        }
        out.push(view(state, revoked).await?);
    }
    mark_audited(req);
    Ok(out)
}
