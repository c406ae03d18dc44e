//! The OpenID4VP 1.0 verifier profile (docs/PROTOCOL.md "OpenID4VP"): a presentation request
//! created with `profile: "openid4vp"` is answered by an OpenID4VP wallet over DCQL and
//! `direct_post`, on the same flow steps, callbacks and polling as the hosted profile.
//!
//! - `createPresentationRequest` (`routes::presentation`) hands the request to [`create`]: the
//!   DCQL query is planned once (`verity_presentation::openid4vp::plan_query`) and stored with
//!   the request, so the request object and the answer's checks read the same query.
//! - Client Identifier Prefix `decentralized_identifier` (default): the URL is
//!   `openid4vp://?client_id=...&request_uri=...`; `GET /openid4vp/requests/{id}` serves the
//!   request object signed by the authority's active key (`typ: oauth-authz-req+jwt`, `kid` a
//!   verification method of its DID document); its first fetch is the retrieve step.
//! - Client Identifier Prefix `redirect_uri`: such requests cannot be signed (OpenID4VP 1.0
//!   section 5.9.3), so the parameters travel by value in the URL and no request object exists.
//! - `POST /openid4vp/responses/{id}` (`response_uri`): the `direct_post` answer, checked by
//!   `verify_openid4vp_response`; a verified answer takes the verify step (with the KB-JWT and
//!   VP `jti` replay records), a refused one the counted refusal step that leaves the request
//!   answerable; errors are OAuth-style `{error, error_description}` bodies.

use crate::openapi::{Op, Routes};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use verity_jose::{TokenKind, sign_kind};
use verity_presentation::PresentationError;
use verity_presentation::openid4vp::{
    DirectPostResponse, Openid4vpRequest, PREFIX_DECENTRALIZED_IDENTIFIER, PREFIX_REDIRECT_URI,
    QueryPlan, client_id_with_prefix, plan_query, verify_openid4vp_response,
};
use verity_store::{Authority, FlowRequest, FlowStatus, Rejection, RequestKind, TransitionOutcome};

use crate::authorities;
use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::flows;
use crate::rp_types::{CreatedRequest, PresentationRequest};
use crate::state::AppState;

use super::issuance::REQUEST_TTL_SECS;

/// The `profile` value of createPresentationRequest that selects this profile.
pub const PROFILE: &str = "openid4vp";
/// `aud` of our request objects: Static Discovery (OpenID4VP 1.0 section 5.8).
pub const REQUEST_OBJECT_AUDIENCE: &str = "https://self-issued.me/v2";
/// Algorithms Verity verifies, for `client_metadata.vp_formats_supported`.
const ALGS: [&str; 3] = ["ES256", "ES256K", "EdDSA"];

pub fn routes(r: &mut Routes) {
    r.get(
        "/openid4vp/requests/{id}",
        request_object,
        Op::new(
            "vpRequestObject",
            "OpenID4VP",
            "The signed request object (DCQL query, direct_post)",
        )
        .ok_text(
            200,
            "application/oauth-authz-req+jwt",
            "A JWT signed by the verifier",
        )
        .not_found(),
    )
    .post(
        "/openid4vp/responses/{id}",
        response,
        Op::new(
            "vpResponse",
            "OpenID4VP",
            "The wallet's response (vp_token keyed by DCQL credential id)",
        )
        .body_form(
            &[
                (
                    "vp_token",
                    false,
                    "JSON: DCQL credential id -> presentations",
                ),
                ("state", false, "The request's state"),
                ("error", false, "The holder declined"),
            ],
            "direct_post response",
        )
        .ok_any(200, "Accepted")
        .oauth_errors()
        .error(400, &[])
        .error(404, &[]),
    );
}

/// What the request stores besides the hosted profile's members (`payload.openid4vp`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// `decentralized_identifier` or `redirect_uri`.
    client_id_prefix: String,
    /// The full Client Identifier, prefix included.
    client_id: String,
    plan: QueryPlan,
}

/// Whether `body` asks for this profile; refuses an unknown profile, the profile's options
/// without it, and what the profile cannot do (a face check: its selfie step is the hosted
/// profile's).
pub(crate) fn profile_of(body: &PresentationRequest) -> Result<bool, ApiError> {
    let openid4vp = match body.profile.as_deref() {
        None => false,
        Some(PROFILE) => true,
        Some(other) => {
            return Err(ApiError::bad_field(
                "profile",
                format!(
                    "`{other}` is not a profile: use `{PROFILE}`, or leave it out for the hosted profile"
                ),
            ));
        }
    };
    if !openid4vp {
        if body.client_id_prefix.is_some() {
            return Err(ApiError::bad_field(
                "clientIdPrefix",
                format!("is only used with profile `{PROFILE}`"),
            ));
        }
        if let Some(i) = body
            .requested_credentials
            .iter()
            .position(|r| !r.claims.is_empty())
        {
            return Err(ApiError::bad_field(
                format!("requestedCredentials[{i}].claims"),
                format!(
                    "is only used with profile `{PROFILE}` (the hosted profile always shows every claim)"
                ),
            ));
        }
        return Ok(false);
    }
    if let Some(i) = body
        .requested_credentials
        .iter()
        .position(|r| r.configuration.validation.face_check.is_some())
    {
        return Err(ApiError::bad_field(
            format!("requestedCredentials[{i}].configuration.validation.faceCheck"),
            format!("a face check cannot be asked with profile `{PROFILE}`"),
        ));
    }
    match body.client_id_prefix.as_deref() {
        None | Some(PREFIX_DECENTRALIZED_IDENTIFIER) | Some(PREFIX_REDIRECT_URI) => Ok(true),
        Some(other) => Err(ApiError::bad_field(
            "clientIdPrefix",
            format!(
                "`{other}` is not supported: use `{PREFIX_DECENTRALIZED_IDENTIFIER}` (the default) or `{PREFIX_REDIRECT_URI}`"
            ),
        )),
    }
}

fn response_uri(state: &AppState, id: Uuid) -> String {
    format!("{}/openid4vp/responses/{id}", state.public_url)
}

fn request_uri(state: &AppState, id: Uuid) -> String {
    format!("{}/openid4vp/requests/{id}", state.public_url)
}

/// The SD-JWT VC types (`vct`) of the contracts that issue `types`, per type: our contracts
/// whose `rules.vc.type` has it, from an accepted issuer (any of ours when none is named),
/// each with the `vct` Verity's OpenID4VCI issuer gives it (`openid4vci::vct_of`). A type that is
/// itself a URL is also taken as a `vct`, for other issuers that use one.
async fn vct_values(
    state: &AppState,
    body: &PresentationRequest,
) -> Result<HashMap<String, Vec<String>>, ApiError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in &body.requested_credentials {
        let t = &r.credential_type;
        if url::Url::parse(t).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) {
            out.entry(t.clone()).or_default().push(t.clone());
        }
    }
    for stored in state.store.list_contracts(None).await? {
        let Ok(contract) = flows::load_contract(&stored) else {
            continue;
        };
        let wanted: Vec<_> = body
            .requested_credentials
            .iter()
            .filter(|r| contract.rules.vc.types.contains(&r.credential_type))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let Some(issuer) = state.store.authority(stored.authority_id).await? else {
            continue;
        };
        // The vct the OpenID4VCI issuer gives this contract's SD-JWT VCs.
        let vct = super::openid4vci::vct_of(state, &contract);
        for r in wanted {
            if r.accepted_issuers.is_empty() || r.accepted_issuers.contains(&issuer.did) {
                let list = out.entry(r.credential_type.clone()).or_default();
                if !list.contains(&vct) {
                    list.push(vct.clone());
                }
            }
        }
    }
    Ok(out)
}

/// `client_metadata` (OpenID4VP 1.0 section 5.1 and 11): the formats and algorithms Verity
/// verifies, and the RP's name and logo (RFC 7591 names, which wallets may ignore).
fn client_metadata(payload: &Value) -> Value {
    let mut m = json!({
        "vp_formats_supported": {
            "dc+sd-jwt": { "sd-jwt_alg_values": ALGS, "kb-jwt_alg_values": ALGS },
            "jwt_vc_json": { "alg_values": ALGS },
        },
    });
    if let Some(name) = payload["registration"]["clientName"].as_str() {
        m["client_name"] = json!(name);
    }
    if let Some(logo) = payload["registration"]["logoUrl"].as_str() {
        m["logo_uri"] = json!(logo);
    }
    m
}

/// Stores a presentation request of this profile and answers 201 with its `openid4vp://` URL.
/// The caller (createPresentationRequest) has run the checks both profiles share.
pub(crate) async fn create(
    state: &AppState,
    caller: &ApiCaller,
    authority: &Authority,
    body: &PresentationRequest,
) -> Result<HttpResponse, ApiError> {
    let requested: Vec<_> = body
        .requested_credentials
        .iter()
        .map(super::presentation::to_pipeline)
        .collect();
    let extra: Vec<Vec<String>> = body
        .requested_credentials
        .iter()
        .map(|r| r.claims.clone())
        .collect();
    let vcts = vct_values(state, body).await?;
    let plan = plan_query(&requested, &extra, |t| {
        vcts.get(t).cloned().unwrap_or_default()
    })
    .map_err(|e| match e {
        PresentationError::DcqlInvalid { member, reason } => ApiError::bad_field(
            member.clone(),
            format!("{reason} (dcql_query: {member}, PRES-056)"),
        ),
        other => ApiError::bad_body(format!("{other} ({})", other.code())),
    })?;

    let now = state.clock.now();
    let id = Uuid::new_v4();
    let expires_at = now + chrono::Duration::seconds(REQUEST_TTL_SECS);
    let nonce = flows::random_b64(16);
    let prefix = body
        .client_id_prefix
        .clone()
        .unwrap_or_else(|| PREFIX_DECENTRALIZED_IDENTIFIER.to_owned());
    let client_id = if prefix == PREFIX_REDIRECT_URI {
        client_id_with_prefix(PREFIX_REDIRECT_URI, &response_uri(state, id))
    } else {
        client_id_with_prefix(PREFIX_DECENTRALIZED_IDENTIFIER, &authority.did)
    };
    let stored = Stored {
        client_id_prefix: prefix.clone(),
        client_id: client_id.clone(),
        plan,
    };
    let payload = json!({
        "registration": body.registration,
        "callback": body.callback,
        "includeReceipt": body.include_receipt,
        "requestedCredentials": body.requested_credentials,
        "profile": PROFILE,
        "openid4vp": stored,
    });
    let url = if prefix == PREFIX_REDIRECT_URI {
        let dcql = serde_json::to_string(&stored.plan.query).map_err(ApiError::internal)?;
        let metadata = client_metadata(&payload).to_string();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "vp_token")
            .append_pair("response_mode", "direct_post")
            .append_pair("client_id", &client_id)
            .append_pair("response_uri", &response_uri(state, id))
            .append_pair("nonce", &nonce)
            .append_pair("state", &id.to_string())
            .append_pair("dcql_query", &dcql)
            .append_pair("client_metadata", &metadata)
            .finish();
        format!("openid4vp://?{query}")
    } else {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &client_id)
            .append_pair("request_uri", &request_uri(state, id))
            .finish();
        format!("openid4vp://?{query}")
    };
    state
        .store
        .create_request(
            &verity_store::NewFlowRequest {
                id,
                tenant_id: caller.tenant_id,
                kind: RequestKind::Presentation,
                authority_id: authority.id,
                contract_id: None,
                nonce,
                payload,
                expires_at,
            },
            now,
        )
        .await?;
    let qr_code = if body.include_qr_code {
        Some(
            crate::qr::data_uri(&url, body.qr_code_format.unwrap_or_default())
                .map_err(ApiError::internal)?,
        )
    } else {
        None
    };
    tracing::info!(request_id = %id, profile = PROFILE, prefix = %prefix, "request created");
    Ok(HttpResponse::Created().json(CreatedRequest {
        request_id: id.to_string(),
        url,
        expiry: expires_at.timestamp(),
        qr_code,
    }))
}

/// The stored request's profile members, when it is a request of this profile.
fn stored_of(req: &FlowRequest) -> Option<Stored> {
    if req.kind != RequestKind::Presentation || req.payload["profile"].as_str() != Some(PROFILE) {
        return None;
    }
    serde_json::from_value(req.payload["openid4vp"].clone()).ok()
}

/// Keeps the two profiles apart: an OpenID4VP request is answered only through its own
/// endpoints (its DCQL query, Client Identifier and `direct_post`), never through the hosted
/// profile's request object or response endpoint.
pub(crate) fn refuse_openid4vp(req: &FlowRequest) -> Result<(), ApiError> {
    if stored_of(req).is_some() {
        return Err(ApiError::bad_field(
            "profile",
            format!(
                "request `{}` is an OpenID4VP request: wallets answer it through its openid4vp:// URL",
                req.id
            ),
        )
        .with_request_id(req.id.to_string()));
    }
    Ok(())
}

/// `GET /openid4vp/requests/{id}`: the signed request object (OpenID4VP 1.0 section 5 with
/// JAR, RFC 9101).
async fn request_object(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found(format!("OpenID4VP request `{id}` not found"));
    let rid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let req = flows::live_request(&state, rid).await?;
    let stored = stored_of(&req).ok_or_else(not_found)?;
    if stored.client_id_prefix != PREFIX_DECENTRALIZED_IDENTIFIER {
        return Err(ApiError::not_found(format!(
            "OpenID4VP request `{id}` uses the `{}` prefix: its parameters are in its URL, it has no request object",
            stored.client_id_prefix
        )));
    }
    let authority = flows::authority_of(&state, &req).await?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let now = state.clock.unix();
    let claims = json!({
        // JAR's `iss`; OpenID4VP wallets ignore it (section 5), Verity's token kinds need it.
        "iss": authority.did,
        "aud": REQUEST_OBJECT_AUDIENCE,
        "client_id": stored.client_id,
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": response_uri(&state, req.id),
        "nonce": req.nonce,
        "state": req.id.to_string(),
        "dcql_query": stored.plan.query,
        "client_metadata": client_metadata(&req.payload),
        "iat": now,
        "exp": req.expires_at.timestamp(),
        "jti": Uuid::new_v4().to_string(),
    });
    let jwt = sign_kind(&signer, TokenKind::RequestObject, &claims)
        .await
        .map_err(ApiError::internal)?
        .token;
    flows::mark_retrieved(&state, &req).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/oauth-authz-req+jwt")
        .insert_header(("Cache-Control", "no-store"))
        .body(jwt))
}

/// An OAuth-style error answer (RFC 6749 section 5.2 members) of the response endpoint.
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "error": error, "error_description": description.into() }))
}

fn refused_answer(e: &PresentationError) -> HttpResponse {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("{e} ({})", e.code()),
    )
}

fn already_answered() -> HttpResponse {
    oauth_error(
        StatusCode::CONFLICT,
        "invalid_request",
        "this presentation request was already answered",
    )
}

/// `POST /openid4vp/responses/{id}`: the `direct_post` Authorization Response (section 8.2).
async fn response(
    req_http: actix_web::HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::limits::Endpoint::PresentationResponse;
    if let Err(l) = state.limits.check(limit, &req_http) {
        return Ok(l.oauth_response(limit.what()));
    }
    let ct = req_http
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(oauth_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the response must be application/x-www-form-urlencoded (response_mode direct_post)",
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty()).cloned();
    let answer = DirectPostResponse {
        vp_token: field("vp_token"),
        state: field("state"),
        error: field("error"),
        error_description: field("error_description"),
    };
    // The vp_token is JSON (a DCQL answer): refused before anything parses it when it nests
    // deeper than the limit.
    let max_depth = state.limits.json_max_depth();
    if let Some(t) = &answer.vp_token
        && let Err(max) = crate::limits::check_json_depth(t.as_bytes(), max_depth)
    {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("vp_token nests arrays and objects deeper than the limit of {max} levels"),
        ));
    }

    let stored_req = match Uuid::parse_str(&id) {
        Ok(rid) => state.store.request(rid).await?,
        Err(_) => None,
    };
    let known = stored_req
        .as_ref()
        .and_then(|r| stored_of(r).map(|s| (r.clone(), s)));
    let Some((req, stored)) = known else {
        let e = PresentationError::RequestNotFound;
        return Ok(oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            format!("no OpenID4VP request `{id}`: {e} ({})", e.code()),
        ));
    };
    // Once verified, nothing changes the verdict (the step enforces it; this answers early).
    if req.completed_at.is_some() {
        return Ok(already_answered());
    }
    let requested = super::presentation::stored_requested(&req)?;
    let request = Openid4vpRequest {
        request_id: req.id.to_string(),
        client_id: stored.client_id.clone(),
        nonce: req.nonce.clone(),
        state: req.id.to_string(),
        expires_at: req.expires_at.timestamp(),
        requested_credentials: requested
            .iter()
            .map(super::presentation::to_pipeline)
            .collect(),
        plan: stored.plan.clone(),
    };
    // The replay values (KB-JWT digests, VP jtis) are written with the verdict, not before it.
    let replay = Arc::new(flows::DeferredReplayGuard::new());
    let mut ctx = state.verifier.clone().with_now(state.clock.unix());
    ctx.replay = replay.clone();
    let verification = verify_openid4vp_response(&ctx, Some(&request), &answer).await;
    for c in &verification.checks {
        tracing::debug!(check = %c.name, outcome = ?c.outcome, "openid4vp check");
    }
    // Every check with its outcome, for operators (the console); never sent to the RP.
    let checks = json!(verification.checks);
    match verification.result {
        Ok(verified) => {
            let receipt = json!({
                "vp_token": answer.vp_token.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
                "state": answer.state,
            });
            let extra = super::presentation::verified_body(&req, &verified, receipt)?;
            let mut t = flows::step(&state, &req, FlowStatus::PresentationVerified, Some(extra));
            t.once = replay.take();
            t.diagnostics = Some(checks);
            // One step: of concurrent verified answers exactly one is recorded.
            match flows::apply(&state, &t).await? {
                TransitionOutcome::Applied(_) => {
                    tracing::info!(request_id = %req.id, credentials = verified.credentials.len(), "openid4vp presentation verified");
                    Ok(HttpResponse::Ok()
                        .insert_header(("Cache-Control", "no-store"))
                        .json(json!({})))
                }
                // A replayed KB-JWT or VP is refused here, and reported like any refusal.
                TransitionOutcome::Rejected(Rejection::Replay { scope }, _) => {
                    let e = if scope == verity_presentation::openid4vp::KB_JWT_REPLAY_SCOPE {
                        PresentationError::KeyBindingReplayed {
                            descriptor: verified
                                .credentials
                                .first()
                                .map(|c| c.descriptor_id.clone())
                                .unwrap_or_default(),
                        }
                    } else {
                        PresentationError::VpTokenReplayed {
                            jti: verified.vp_jti.clone(),
                        }
                    };
                    refuse(&state, &req, &e, None).await
                }
                TransitionOutcome::Rejected(Rejection::Expired, _) => {
                    Ok(refused_answer(&PresentationError::RequestExpired {
                        expires_at: req.expires_at.timestamp(),
                        now: state.clock.unix(),
                    }))
                }
                TransitionOutcome::Rejected(_, _) => Ok(already_answered()),
            }
        }
        Err(e) if e.is_transient() => {
            // Nothing is recorded: an outage is not a verdict, and the wallet may retry.
            tracing::warn!(request_id = %req.id, code = e.code(), error = %e, "openid4vp check could not complete");
            let description = if matches!(e, PresentationError::ReplayGuardUnavailable { .. }) {
                format!(
                    "the verifier could not complete its checks ({}); try again",
                    e.code()
                )
            } else {
                format!("{e} ({}); try again", e.code())
            };
            let mut r = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                description,
            );
            r.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
            Ok(r)
        }
        Err(e) => refuse(&state, &req, &e, Some(checks)).await,
    }
}

/// Records a refused answer (counted, the request stays answerable: whoever saw the QR code can
/// post one) and answers the wallet. A wallet's own Authorization Error Response is processed
/// like any refusal and answered 200, as section 8.2 asks of a processed error response.
async fn refuse(
    state: &AppState,
    req: &FlowRequest,
    e: &PresentationError,
    checks: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    tracing::info!(request_id = %req.id, code = e.code(), error = %e, "openid4vp presentation refused");
    let mut t = flows::refusal_step(state, req, FlowStatus::PresentationError, e);
    t.diagnostics = checks;
    // A late answer is reported too; it cannot end the request.
    t.require_live = false;
    let answer = if matches!(e, PresentationError::WalletError { .. }) {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({}))
    } else {
        refused_answer(e)
    };
    match flows::apply(state, &t).await? {
        TransitionOutcome::Rejected(Rejection::LimitReached, _) => Ok(oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            format!(
                "{e} ({}); this request already recorded {} refused answers, so this one was not reported",
                e.code(),
                flows::MAX_RECORDED_REFUSALS
            ),
        )),
        // Applied, or verified/expired meanwhile: the refusal changes nothing more.
        _ => Ok(answer),
    }
}
