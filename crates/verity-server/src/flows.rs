//! What issuance and presentation requests share: input checks of the RP API, the request's
//! life cycle (live, retrieved, completed) and the callbacks each status change queues.

use actix_web::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verity_contracts::Contract;
use verity_store::{
    Authority, CallbackTarget, FlowRequest, FlowStatus, Transition, TransitionOutcome,
};

use crate::error::{ApiError, InnerCode};
use crate::extract::ApiCaller;
use crate::rp_types::{Callback, Registration};
use crate::state::AppState;

/// The stored contract definition, parsed.
pub fn load_contract(stored: &verity_store::Contract) -> Result<Contract, ApiError> {
    Contract::from_json(&stored.definition.to_string()).map_err(|e| {
        ApiError::internal(format!(
            "stored contract {} no longer validates: {e}",
            stored.id
        ))
    })
}

/// The authority named by `did`, which must belong to the caller's tenant.
pub async fn caller_authority(
    state: &AppState,
    caller: &ApiCaller,
    did: &str,
) -> Result<Authority, ApiError> {
    if did.trim().is_empty() {
        return Err(ApiError::bad_field("authority", "is required"));
    }
    state
        .store
        .authority_by_did(did)
        .await?
        .filter(|a| a.tenant_id == caller.tenant_id)
        .ok_or_else(|| {
            ApiError::bad_field(
                "authority",
                format!("`{did}` is not an authority of your tenant"),
            )
        })
}

/// `registration` rules.
pub fn check_registration(r: &Registration) -> Result<(), ApiError> {
    let n = r.client_name.trim().chars().count();
    if n == 0 || n > 256 {
        return Err(ApiError::bad_field(
            "registration.clientName",
            "must be 1-256 characters",
        ));
    }
    if r.purpose.as_ref().is_some_and(|p| p.chars().count() > 1000) {
        return Err(ApiError::bad_field(
            "registration.purpose",
            "must be at most 1,000 characters",
        ));
    }
    if let Some(u) = &r.logo_url
        && !u.starts_with("https://")
    {
        return Err(ApiError::bad_field(
            "registration.logoUrl",
            "must be an https URL",
        ));
    }
    Ok(())
}

/// `callback` rules: URL allowed by the SSRF policy, bounded state and headers.
pub fn check_callback(state: &AppState, c: &Callback) -> Result<(), ApiError> {
    state.outbox.fetcher().check_url(&c.url).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            InnerCode::CallbackUrlRefused,
            format!("callback.url: {e}"),
        )
        .with_target("callback.url")
    })?;
    if c.state.chars().count() > 2000 {
        return Err(ApiError::bad_field(
            "callback.state",
            "must be at most 2,000 characters",
        ));
    }
    if let Some(h) = &c.headers {
        if h.len() > 10 {
            return Err(ApiError::bad_field(
                "callback.headers",
                "at most 10 headers",
            ));
        }
        for (name, value) in h {
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !valid_name {
                return Err(ApiError::bad_field(
                    format!("callback.headers.{name}"),
                    "is not a valid header name",
                ));
            }
            if [
                "host",
                "content-length",
                "content-type",
                "transfer-encoding",
                "connection",
            ]
            .contains(&name.to_ascii_lowercase().as_str())
            {
                return Err(ApiError::bad_field(
                    format!("callback.headers.{name}"),
                    "this header is set by Verity",
                ));
            }
            if value.len() > 2048 || value.chars().any(|c| c.is_control()) {
                return Err(ApiError::bad_field(
                    format!("callback.headers.{name}"),
                    "values are at most 2 KB of printable text",
                ));
            }
        }
    }
    Ok(())
}

/// Where a contract's manifest is served.
pub fn manifest_url(state: &AppState, contract: Uuid) -> String {
    format!("{}/v1.0/manifests/{contract}", state.public_url)
}

/// Where wallets post holder requests for a contract.
pub fn credential_issuer_url(state: &AppState, contract: Uuid) -> String {
    format!("{}/v1.0/issue/{contract}", state.public_url)
}

/// A request that exists and has not expired.
pub async fn live_request(state: &AppState, id: Uuid) -> Result<FlowRequest, ApiError> {
    let req = state
        .store
        .request(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("request `{id}` not found")))?;
    if state.clock.now() >= req.expires_at {
        return Err(expired(id));
    }
    Ok(req)
}

/// 410 `requestExpired` for request `id`.
pub fn expired(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        InnerCode::RequestExpired,
        format!("request `{id}` has expired"),
    )
    .with_request_id(id.to_string())
}

/// The authority a request was made for.
pub async fn authority_of(state: &AppState, req: &FlowRequest) -> Result<Authority, ApiError> {
    state
        .store
        .authority(req.authority_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("request {} has no authority", req.id)))
}

/// The contract of an issuance request, stored and parsed.
pub async fn contract_of(
    state: &AppState,
    req: &FlowRequest,
) -> Result<(verity_store::Contract, Contract), ApiError> {
    let id = req
        .contract_id
        .ok_or_else(|| ApiError::internal("issuance request without contract"))?;
    let stored = state
        .store
        .contract(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    if !stored.enabled {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            InnerCode::ContractDisabled,
            format!("contract `{id}` is disabled"),
        ));
    }
    let parsed = load_contract(&stored)?;
    Ok((stored, parsed))
}

/// `registration` as the request object carries it.
pub fn registration_claims(payload: &Value) -> Value {
    let algs = json!(["ES256", "ES256K", "EdDSA"]);
    let mut r = json!({
        "client_name": payload["registration"]["clientName"],
        "subject_syntax_types_supported": ["did:jwk", "did:key", "did:web"],
        "vp_formats": { "jwt_vp": { "alg": algs }, "jwt_vc": { "alg": algs } },
    });
    if let Some(p) = payload["registration"]["purpose"].as_str() {
        r["purpose"] = json!(p);
    }
    if let Some(l) = payload["registration"]["logoUrl"].as_str() {
        r["logo_uri"] = json!(l);
    }
    r
}

/// Records the first fetch of the request object (`request_created` -> `request_retrieved`,
/// with its callback, in one step); later fetches change nothing.
pub async fn mark_retrieved(state: &AppState, req: &FlowRequest) -> Result<(), ApiError> {
    let t = step(state, req, FlowStatus::RequestRetrieved, None);
    // A rejection means another fetch (or a later step) came first: nothing to report.
    apply(state, &t).await?;
    Ok(())
}

/// The body of a status callback (and of the polling endpoint).
pub fn callback_body(req: &FlowRequest, status: &str, extra: Option<Value>) -> Value {
    let mut body = json!({ "requestId": req.id.to_string(), "requestStatus": status });
    if let Some(s) = req.payload["callback"]["state"].as_str() {
        body["state"] = json!(s);
    }
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    body
}

/// The RP's callback for `req`, when it gave one.
pub fn callback_target(state: &AppState, req: &FlowRequest) -> Option<CallbackTarget> {
    let url = req.payload["callback"]["url"].as_str()?;
    let headers = match &req.payload["callback"]["headers"] {
        h @ Value::Object(_) => h.clone(),
        _ => json!({}),
    };
    Some(state.outbox.target(url, headers))
}

/// Refused answers (presentation) or reported failures (issuance, before a credential) a
/// request reports at most, each as a callback; later ones are answered 429 and not reported,
/// so a stranger holding the QR code cannot flood the RP.
pub const MAX_RECORDED_REFUSALS: i32 = 10;

/// A step of `req`'s flow to `to`: the status body (with `extra` members such as `error` or
/// `verifiedCredentialsData`) for pollers, and the RP's callback when it gave one.
pub fn step(
    state: &AppState,
    req: &FlowRequest,
    to: FlowStatus,
    extra: Option<Value>,
) -> Transition {
    let mut t = Transition::new(
        req.id,
        req.kind,
        to,
        callback_body(req, to.reported_as(), extra),
    );
    t.callback = callback_target(state, req);
    t
}

/// A refused answer's step of `req` to `to` (`presentation_error`, or `face_check_failed`
/// reported as it): the error RPs get (hosted code, message, `PRES-0xx` code), counted and
/// limited to [`MAX_RECORDED_REFUSALS`] per request.
pub fn refusal_step(
    state: &AppState,
    req: &FlowRequest,
    to: FlowStatus,
    e: &verity_presentation::PresentationError,
) -> Transition {
    let err = json!({ "code": e.hosted_code(), "message": e.to_string(), "innerCode": e.code() });
    let mut t = step(state, req, to, error_extra(err));
    t.counter = Some(verity_store::Counter::Refusal {
        limit: MAX_RECORDED_REFUSALS,
    });
    t
}

/// The `error` member of a status body.
pub fn error_extra(error: Value) -> Option<Value> {
    Some(json!({ "error": error }))
}

/// Applies a step in one store transaction and wakes the callback worker when it wrote one.
pub async fn apply(state: &AppState, t: &Transition) -> Result<TransitionOutcome, ApiError> {
    let outcome = state.store.transition(t, state.clock.now()).await?;
    let result = match &outcome {
        TransitionOutcome::Applied(_) => "applied",
        TransitionOutcome::Rejected(why, _) => match why {
            verity_store::Rejection::WrongStatus(_) => "wrong_status",
            verity_store::Rejection::Expired => "expired",
            verity_store::Rejection::Replay { .. } => "replay",
            verity_store::Rejection::LimitReached => "limit_reached",
            verity_store::Rejection::Locked => "locked",
        },
    };
    state
        .metrics
        .observe_flow(t.kind.as_str(), &t.to.to_string(), result);
    match &outcome {
        TransitionOutcome::Applied(req) => {
            tracing::debug!(request_id = %req.id, status = %t.to, "request status changed");
            if t.writes_callback() {
                state.outbox.wake();
            }
        }
        TransitionOutcome::Rejected(why, req) => {
            tracing::debug!(request_id = %req.id, to = %t.to, why = ?why, "flow step not taken");
        }
    }
    Ok(outcome)
}

/// What the polling endpoint returns: the last status body, or `request_created`.
pub fn status_body(req: &FlowRequest) -> Value {
    let reported = req.result.as_ref().filter(|r| {
        r["requestStatus"]
            .as_str()
            .and_then(|s| s.parse::<FlowStatus>().ok())
            .is_some_and(FlowStatus::is_reported)
    });
    match reported {
        Some(r) => r.clone(),
        None if req.retrieved_at.is_some() => callback_body(req, "request_retrieved", None),
        None => callback_body(req, "request_created", None),
    }
}

/// The presentation verifier's replay guard over the store's `consume_once`.
#[derive(Debug, Clone)]
pub struct StoreReplayGuard(pub std::sync::Arc<dyn verity_store::Store>);

#[async_trait::async_trait]
impl verity_presentation::ReplayGuard for StoreReplayGuard {
    async fn consume(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, verity_presentation::SourceError> {
        let (exp, now) = unix_pair(expires_at, now)?;
        self.0
            .consume_once(scope, value, exp, now)
            .await
            .map_err(|e| verity_presentation::SourceError::Unavailable(e.to_string()))
    }
}

/// The verifier's replay guard for one flow step: the values the pipeline consumes are
/// recorded by the step that writes the verdict (its `once` records, from
/// [`DeferredReplayGuard::take`]), which is refused as a replay when one is already taken. A
/// verification that fails or cannot complete consumes nothing, two verdicts on one value
/// cannot both be written, and the store is asked once, by the step, not before it. A value
/// consumed twice within one answer is refused here.
#[derive(Debug, Default)]
pub struct DeferredReplayGuard {
    taken: std::sync::Mutex<Vec<verity_store::OnceRecord>>,
}

impl DeferredReplayGuard {
    /// A guard with nothing consumed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values consumed so far, for the step's `once` records.
    pub fn take(&self) -> Vec<verity_store::OnceRecord> {
        std::mem::take(&mut *self.records())
    }

    /// The list; a panic elsewhere while it was held leaves it usable (it is only pushed to).
    fn records(&self) -> std::sync::MutexGuard<'_, Vec<verity_store::OnceRecord>> {
        self.taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl verity_presentation::ReplayGuard for DeferredReplayGuard {
    async fn consume(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, verity_presentation::SourceError> {
        // Not looked up here: the step that records the verdict writes the value and is
        // refused as a replay when it is already taken (one statement fewer per answer).
        let (exp, _) = unix_pair(expires_at, now)?;
        let record = verity_store::OnceRecord {
            scope: scope.to_owned(),
            value: value.to_owned(),
            expires_at: exp,
        };
        let mut v = self.records();
        if v.iter()
            .any(|r| r.scope == record.scope && r.value == record.value)
        {
            return Ok(false);
        }
        v.push(record);
        Ok(true)
    }
}

fn unix_pair(
    expires_at: i64,
    now: i64,
) -> Result<
    (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    verity_presentation::SourceError,
> {
    let exp = chrono::DateTime::from_timestamp(expires_at, 0).ok_or_else(|| {
        verity_presentation::SourceError::Invalid(format!("expiry {expires_at} out of range"))
    })?;
    let now = chrono::DateTime::from_timestamp(now, 0).ok_or_else(|| {
        verity_presentation::SourceError::Invalid(format!("time {now} out of range"))
    })?;
    Ok((exp, now))
}

/// A random base64url string of `bytes` random bytes (nonces).
pub fn random_b64(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
}

/// What [`open_request`] stores.
#[derive(Debug)]
pub struct Opening {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: verity_store::RequestKind,
    pub authority_id: Uuid,
    pub contract_id: Option<Uuid>,
    pub payload: Value,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The QR code to return, in this format (none when `None`).
    pub qr_code: Option<crate::rp_types::QrCodeFormat>,
}

/// Stores a new request with a fresh nonce and answers 201 with its wallet URL (`openid-vc://`,
/// or the `openid-credential-offer://` of an OpenID4VCI offer) and a QR code of it when asked,
/// as both create endpoints do.
pub async fn open_request(
    state: &AppState,
    o: Opening,
) -> Result<actix_web::HttpResponse, ApiError> {
    Ok(actix_web::HttpResponse::Created().json(create_request(state, o).await?))
}

/// Stores a new request with a fresh nonce; its id, wallet URL, expiry and QR code.
pub async fn create_request(
    state: &AppState,
    o: Opening,
) -> Result<crate::rp_types::CreatedRequest, ApiError> {
    let offer = o.payload["profile"].as_str() == Some(crate::routes::openid4vci::PROFILE);
    state
        .store
        .create_request(
            &verity_store::NewFlowRequest {
                id: o.id,
                tenant_id: o.tenant_id,
                kind: o.kind,
                authority_id: o.authority_id,
                contract_id: o.contract_id,
                nonce: random_b64(16),
                payload: o.payload,
                expires_at: o.expires_at,
            },
            state.clock.now(),
        )
        .await?;
    let url = if offer {
        crate::routes::openid4vci::offer_url(state, o.authority_id, o.id)
    } else {
        format!(
            "openid-vc://?request_uri={}/v1.0/requests/{}",
            state.public_url, o.id
        )
    };
    let qr_code = o
        .qr_code
        .map(|format| crate::qr::data_uri(&url, format).map_err(ApiError::internal))
        .transpose()?;
    tracing::info!(request_id = %o.id, kind = %o.kind, "request created");
    Ok(crate::rp_types::CreatedRequest {
        request_id: o.id.to_string(),
        url,
        expiry: o.expires_at.timestamp(),
        qr_code,
    })
}
