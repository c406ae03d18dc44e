//! Presentation requests: the RP asks for credentials, the wallet fetches the signed request
//! object (with the presentation definition and the acceptedIssuers filter) and posts
//! `id_token` + `vp_token`; the verifier pipeline (`verity-presentation`) checks them and the
//! verdict goes to the RP as `presentation_verified` or `presentation_error`.
//! The same routes are served under `/beta/verifiableCredentials/` as the hosted service does.

use crate::openapi::{Op, Routes};
use actix_web::HttpResponse;
use actix_web::web;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use verity_store::{Authority, FlowRequest, FlowStatus, Rejection, RequestKind, TransitionOutcome};

use crate::error::{ApiError, InnerCode};
use crate::extract::{ApiCaller, ApiJson};
use crate::flows::{self, status_body};
use crate::rp_types::{PresentationRequest, RequestedCredential};
use crate::state::AppState;
use verity_presentation::{PresentationError, WalletResponse};

use super::issuance::REQUEST_TTL_SECS;

/// Default face-check threshold (hosted default).
pub const DEFAULT_FACE_THRESHOLD: u32 = 70;

pub fn routes(r: &mut Routes) {
    for (base, create_id, poll_id) in [
        (
            "/v1.0/verifiableCredentials",
            "createPresentationRequest",
            "getPresentationRequest",
        ),
        (
            "/beta/verifiableCredentials",
            "createPresentationRequestBeta",
            "getPresentationRequestBeta",
        ),
    ] {
        r.post(
            &format!("{base}/createPresentationRequest"),
            create,
            Op::new(
                create_id,
                "Request Service API",
                "Asks a wallet to present credentials: a URL (and QR code)",
            )
            .api()
            .body::<crate::rp_types::PresentationRequest>(
                "What to ask for, which checks, where to send status events",
            )
            .ok::<crate::rp_types::CreatedRequest>(
                201,
                "The request id, the wallet URL and its expiry",
            )
            .bad_request()
            .error(
                400,
                &[
                    InnerCode::CallbackUrlRefused,
                    InnerCode::FaceCheckNotConfigured,
                ],
            )
            .not_found(),
        )
        .get(
            &format!("{base}/presentationRequests/{{id}}"),
            poll,
            Op::new(
                poll_id,
                "Request Service API",
                "The status of a presentation request, with the verified claims once presented",
            )
            .api()
            .ok_any(
                200,
                "`requestId`, `requestStatus`, `verifiedCredentialsData`, `receipt`, `error`",
            )
            .not_found(),
        );
    }
    r.post(
        "/v1.0/responses/{id}",
        response,
        Op::new(
            "presentationResponse",
            "Wallet",
            "The wallet's presentation (SIOP id_token + vp_token)",
        )
        .body_form(
            &[
                ("id_token", false, "The self-issued id_token"),
                ("vp_token", false, "The verifiable presentation(s)"),
                ("state", false, "The request's state"),
                ("error", false, "The holder declined (`access_denied`)"),
            ],
            "The presentation response",
        )
        .ok_any(200, "Accepted")
        .bad_request()
        .error(
            400,
            &[
                InnerCode::PresentationInvalid,
                InnerCode::Replay,
                InnerCode::RequestExpired,
            ],
        )
        .not_found(),
    );
}

/// Checks one requested credential, naming the field by its index.
fn check_requested(i: usize, r: &RequestedCredential) -> Result<(), ApiError> {
    let at = |f: &str| format!("requestedCredentials[{i}].{f}");
    if r.credential_type.trim().is_empty() {
        return Err(ApiError::bad_field(at("type"), "is required"));
    }
    for (j, did) in r.accepted_issuers.iter().enumerate() {
        if verity_did::Did::parse(did).is_err() {
            return Err(ApiError::bad_field(
                at(&format!("acceptedIssuers[{j}]")),
                format!("`{did}` is not a DID"),
            ));
        }
    }
    for (j, c) in r.constraints.iter().enumerate() {
        let cat = |f: &str| at(&format!("constraints[{j}].{f}"));
        if c.claim_name.trim().is_empty() {
            return Err(ApiError::bad_field(cat("claimName"), "is required"));
        }
        let ops = usize::from(c.values.is_some())
            + usize::from(c.contains.is_some())
            + usize::from(c.starts_with.is_some());
        if ops != 1 {
            return Err(ApiError::bad_field(
                at(&format!("constraints[{j}]")),
                "give exactly one of `values`, `contains`, `startsWith`",
            ));
        }
        if c.values.as_ref().is_some_and(Vec::is_empty) {
            return Err(ApiError::bad_field(cat("values"), "must not be empty"));
        }
    }
    if let Some(f) = &r.configuration.validation.face_check {
        if f.source_photo_claim_name.trim().is_empty() {
            return Err(ApiError::bad_field(
                at("configuration.validation.faceCheck.sourcePhotoClaimName"),
                "is required",
            ));
        }
        let t = f
            .match_confidence_threshold
            .unwrap_or(DEFAULT_FACE_THRESHOLD);
        if !(50..=100).contains(&t) {
            return Err(ApiError::bad_field(
                at("configuration.validation.faceCheck.matchConfidenceThreshold"),
                format!("must be between 50 and 100, not {t}"),
            ));
        }
    }
    Ok(())
}

async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<PresentationRequest>,
) -> Result<HttpResponse, ApiError> {
    let (authority, openid4vp) = check(&state, &caller, &body).await?;
    if openid4vp {
        return super::openid4vp::create(&state, &caller, &authority, &body).await;
    }
    flows::open_request(&state, hosted_opening(&state, &caller, &authority, body)).await
}

/// Checks a createPresentationRequest body for `caller`'s tenant: the authority it names and
/// whether it asks for the `openid4vp` profile (also used by the console's "try it" page).
pub(crate) async fn check(
    state: &AppState,
    caller: &ApiCaller,
    body: &PresentationRequest,
) -> Result<(Authority, bool), ApiError> {
    let authority = flows::caller_authority(state, caller, &body.authority).await?;
    flows::check_registration(&body.registration)?;
    if let Some(cb) = &body.callback {
        flows::check_callback(state, cb)?;
    }
    // The wallet protocol (docs/API.md `profile`); checked first, so a face check asked in a
    // profile that has none is refused as such.
    let openid4vp = super::openid4vp::profile_of(body)?;
    if body.requested_credentials.is_empty() {
        return Err(ApiError::bad_field(
            "requestedCredentials",
            "at least one credential must be requested",
        ));
    }
    if body.requested_credentials.len() > 10 {
        return Err(ApiError::bad_field(
            "requestedCredentials",
            "at most 10 credentials per request",
        ));
    }
    for (i, r) in body.requested_credentials.iter().enumerate() {
        check_requested(i, r)?;
        if body.requested_credentials[..i]
            .iter()
            .any(|o| o.credential_type == r.credential_type)
        {
            return Err(ApiError::bad_field(
                format!("requestedCredentials[{i}].type"),
                format!("`{}` is requested twice", r.credential_type),
            ));
        }
        if r.configuration.validation.face_check.is_some()
            && body.requested_credentials[..i]
                .iter()
                .any(|o| o.configuration.validation.face_check.is_some())
        {
            return Err(ApiError::bad_field(
                format!("requestedCredentials[{i}].configuration.validation.faceCheck"),
                "a request can ask for one face check only",
            ));
        }
        if r.configuration.validation.face_check.is_some() && state.face_matcher.is_none() {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                InnerCode::FaceCheckNotConfigured,
                "face check is not configured on this server: no face matcher is installed",
            )
            .with_target(format!(
                "requestedCredentials[{i}].configuration.validation.faceCheck"
            )));
        }
    }
    Ok((authority, openid4vp))
}

/// The request to store for a checked hosted-profile presentation request.
pub(crate) fn hosted_opening(
    state: &AppState,
    caller: &ApiCaller,
    authority: &Authority,
    body: PresentationRequest,
) -> flows::Opening {
    let now = state.clock.now();
    let id = Uuid::new_v4();
    let expires_at = now + chrono::Duration::seconds(REQUEST_TTL_SECS);
    let payload = json!({
        "registration": body.registration,
        "callback": body.callback,
        "includeReceipt": body.include_receipt,
        "requestedCredentials": body.requested_credentials,
    });
    flows::Opening {
        id,
        tenant_id: caller.tenant_id,
        kind: RequestKind::Presentation,
        authority_id: authority.id,
        contract_id: None,
        payload,
        expires_at,
        qr_code: body
            .include_qr_code
            .then(|| body.qr_code_format.unwrap_or_default()),
    }
}

async fn poll(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    let req = state
        .store
        .request(id)
        .await?
        .filter(|r| r.tenant_id == caller.tenant_id && r.kind == RequestKind::Presentation)
        .ok_or_else(|| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    Ok(HttpResponse::Ok().json(status_body(&req)))
}

/// A regular expression matching exactly the accepted issuer DIDs (anchored, metacharacters
/// escaped), for the input descriptor's `filter.pattern`.
pub fn issuer_pattern(dids: &[String]) -> String {
    let escaped: Vec<String> = dids
        .iter()
        .map(|d| {
            d.chars()
                .map(|c| {
                    if "\\.^$|?*+()[]{}/".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

/// The claims of a presentation request object (protocol.md §2).
pub fn presentation_request_claims(
    state: &AppState,
    req: &FlowRequest,
    authority: &Authority,
    now: i64,
) -> Result<Value, ApiError> {
    super::openid4vp::refuse_openid4vp(req)?;
    let requested = stored_requested(req)?;
    let descriptors: Vec<Value> = requested
        .iter()
        .map(|r| {
            let mut d = json!({
                "id": r.credential_type, "name": r.credential_type,
                "schema": [ { "uri": r.credential_type } ],
            });
            if let Some(p) = &r.purpose {
                d["purpose"] = json!(p);
            }
            if !r.accepted_issuers.is_empty() {
                d["constraints"] = json!({ "fields": [ {
                    "path": ["$.issuer", "$.vc.issuer", "$.iss"],
                    "filter": { "type": "string", "pattern": issuer_pattern(&r.accepted_issuers) } } ] });
            }
            d
        })
        .collect();
    Ok(json!({
        "iss": authority.did, "client_id": authority.did,
        "response_type": "id_token", "response_mode": "post", "scope": "openid",
        "redirect_uri": format!("{}/v1.0/responses/{}", state.public_url, req.id),
        "nonce": req.nonce, "state": req.id.to_string(), "jti": Uuid::new_v4().to_string(),
        "iat": now, "exp": req.expires_at.timestamp(),
        "registration": flows::registration_claims(&req.payload),
        "claims": { "vp_token": { "presentation_definition": {
            "id": req.id.to_string(), "input_descriptors": descriptors } } },
    }))
}

/// The wallet's answer: `id_token`, `vp_token`, `state` as a form POST.
async fn response(
    req_http: actix_web::HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::limits::Endpoint::PresentationResponse;
    state
        .limits
        .check(limit, &req_http)
        .map_err(|l| l.api_error(limit.what()))?;
    let ct = req_http
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InnerCode::InvalidRequestBody,
            "the presentation response must be application/x-www-form-urlencoded",
        ));
    }
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &'static str| {
        form.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_field(name, "is required"))
    };
    let wallet = WalletResponse {
        id_token: field("id_token")?,
        vp_token: field("vp_token")?,
        state: field("state")?,
    };
    let request_id = Uuid::parse_str(&id).ok();
    let stored = match request_id {
        Some(rid) => state
            .store
            .request(rid)
            .await?
            .filter(|r| r.kind == RequestKind::Presentation),
        None => None,
    };
    if let Some(r) = &stored {
        super::openid4vp::refuse_openid4vp(r)?;
    }
    // Once verified, nothing changes the verdict (the step below enforces it; this answers
    // early).
    if let Some(r) = &stored
        && r.completed_at.is_some()
    {
        return Err(already_answered());
    }
    let authority = match &stored {
        Some(r) => Some(flows::authority_of(&state, r).await?),
        None => None,
    };
    let pres_request = match (&stored, &authority) {
        (Some(r), Some(a)) => Some(pipeline_request(r, &a.did)?),
        _ => None,
    };
    // The vp_token's jti is written with the verdict, not before it.
    let replay = Arc::new(flows::DeferredReplayGuard::new());
    let mut ctx = state.verifier.clone().with_now(state.clock.unix());
    ctx.replay = replay.clone();
    let verification =
        verity_presentation::verify_presentation(&ctx, pres_request.as_ref(), &wallet).await;
    for c in &verification.checks {
        tracing::debug!(check = %c.name, outcome = ?c.outcome, "presentation check");
    }
    // Every check with its outcome, stored with the step for operators (the console), never
    // sent to the RP.
    let checks = json!(verification.checks);
    let holder_proven = verification.checks.iter().any(|c| {
        c.name == "id_token.signature" && c.outcome == verity_presentation::CheckOutcome::Passed
    });
    let Some(req) = stored else {
        // The pipeline's verdict names the failed check and its code, as for every refusal.
        let check = match &verification.result {
            Err(e) => format!("{e} ({})", e.code()),
            Ok(_) => String::new(),
        };
        return Err(ApiError::not_found(format!(
            "presentation request `{id}` not found: {check}"
        )));
    };
    match verification.result {
        Ok(verified) => {
            let receipt = json!({ "id_token": wallet.id_token, "vp_token": wallet.vp_token, "state": wallet.state });
            let extra = verified_body(&req, &verified, receipt)?;
            // A face check holds the verdict back until the holder's selfie is compared.
            let (mut t, upload_token) = match verified.pending_face_check() {
                Some(pending) => {
                    let (t, token) =
                        super::face_check::await_selfie_step(&state, &req, extra, pending)?;
                    (t, Some(token))
                }
                None => (
                    flows::step(&state, &req, FlowStatus::PresentationVerified, Some(extra)),
                    None,
                ),
            };
            t.once = replay.take();
            t.diagnostics = Some(checks);
            // One step: of concurrent verified answers exactly one is recorded; the others
            // are told the request was answered, and their jti records are not kept.
            match flows::apply(&state, &t).await? {
                TransitionOutcome::Applied(_) => match upload_token {
                    Some(token) => {
                        tracing::info!(request_id = %req.id, "presentation verified; awaiting the selfie");
                        Ok(super::face_check::selfie_due(&state, &req, &token))
                    }
                    None => {
                        tracing::info!(request_id = %req.id, credentials = verified.credentials.len(), "presentation verified");
                        Ok(HttpResponse::Ok().json(json!({})))
                    }
                },
                // The replay guard defers to this step: a replayed vp_token is refused here,
                // and reported like any refused answer.
                TransitionOutcome::Rejected(Rejection::Replay { .. }, _) => {
                    let e = PresentationError::VpTokenReplayed {
                        jti: verified.vp_jti.clone(),
                    };
                    refuse(&state, &req, &e, None).await
                }
                TransitionOutcome::Rejected(Rejection::Expired, _) => Err(invalid(
                    &PresentationError::RequestExpired {
                        expires_at: req.expires_at.timestamp(),
                        now: state.clock.unix(),
                    },
                    req.id,
                )),
                // This holder's selfie is already awaited (its first answer was lost, or it
                // answered twice at once): the same upload token again, nothing written.
                TransitionOutcome::Rejected(
                    Rejection::WrongStatus(FlowStatus::FaceCheckPending),
                    current,
                ) if upload_token.is_some() => {
                    match super::face_check::selfie_still_due(&state, &current, &verified.subject) {
                        Some(token) => Ok(super::face_check::selfie_due(&state, &current, &token)),
                        None => Err(already_answered()),
                    }
                }
                TransitionOutcome::Rejected(_, _) => Err(already_answered()),
            }
        }
        Err(e) if e.is_transient() => {
            // Nothing is recorded: an outage is not a verdict, and the wallet may retry.
            tracing::warn!(request_id = %req.id, code = e.code(), error = %e, "presentation check could not complete");
            let message = format!("{} ({})", e, e.code());
            // A DID host, status list, linked domain or face matcher that failed is a remote
            // party: the wallet is told which check could not run. The replay store is ours,
            // so its failure stays in the logs.
            let err = if matches!(e, PresentationError::ReplayGuardUnavailable { .. }) {
                ApiError::transient(message)
            } else {
                ApiError::upstream(
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    InnerCode::TransientError,
                    message,
                )
            };
            Err(err.with_retry_after(5).with_request_id(req.id.to_string()))
        }
        // Until the id_token's signature proves the answer comes from a holder, a refusal is
        // not recorded: the request id is public (it is in the QR code), and anyone could
        // otherwise end the request before the real wallet answers. An expired request is over
        // whoever answers.
        Err(e) if !holder_proven && e.code() != "PRES-002" => {
            tracing::info!(request_id = %req.id, code = e.code(), error = %e, "unauthenticated presentation refused; request stays open");
            Err(invalid(&e, req.id))
        }
        Err(e) => refuse(&state, &req, &e, Some(checks)).await,
    }
}

/// Records a signed answer's refusal and answers the wallet with it.
///
/// A signed answer that failed is reported to the RP, but does not end the request: whoever
/// saw the QR code can sign an answer, so the request stays answerable until a presentation is
/// verified or it expires. Refusals are limited per request, so a stranger cannot flood the
/// RP with callbacks.
async fn refuse(
    state: &AppState,
    req: &FlowRequest,
    e: &PresentationError,
    checks: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    tracing::info!(request_id = %req.id, code = e.code(), error = %e, "presentation refused");
    let refusal = invalid(e, req.id);
    let mut t = flows::refusal_step(state, req, FlowStatus::PresentationError, e);
    t.diagnostics = checks;
    // A late answer is reported too (the RP learns the wallet answered after the expiry); it
    // cannot end the request, which no answer can be verified for any more.
    t.require_live = false;
    match flows::apply(state, &t).await? {
        TransitionOutcome::Applied(_) => Err(refusal),
        TransitionOutcome::Rejected(Rejection::LimitReached, _) => Err(ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            InnerCode::RateLimited,
            format!(
                "{e} ({}); this request already recorded {} refused answers, so this one was not reported",
                e.code(),
                flows::MAX_RECORDED_REFUSALS
            ),
        )
        .with_request_id(req.id.to_string())),
        // Verified meanwhile, or expired: the refusal changes nothing.
        TransitionOutcome::Rejected(_, _) => Err(refusal),
    }
}

/// 400 `presentationInvalid` naming the failed check and its PRES code.
fn invalid(e: &PresentationError, request_id: Uuid) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        InnerCode::PresentationInvalid,
        format!("{e} ({})", e.code()),
    )
    .with_request_id(request_id.to_string())
}

fn already_answered() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::CONFLICT,
        InnerCode::Conflict,
        "this presentation request was already answered",
    )
}

/// The stored RP request in the pipeline's terms.
fn pipeline_request(
    req: &FlowRequest,
    client_id: &str,
) -> Result<verity_presentation::PresentationRequest, ApiError> {
    let requested = stored_requested(req)?;
    Ok(verity_presentation::PresentationRequest {
        request_id: req.id.to_string(),
        state: req.id.to_string(),
        nonce: req.nonce.clone(),
        client_id: client_id.to_owned(),
        definition_id: Some(req.id.to_string()),
        expires_at: req.expires_at.timestamp(),
        requested_credentials: requested.iter().map(to_pipeline).collect(),
    })
}

/// One requested credential in the pipeline's terms.
pub(crate) fn to_pipeline(r: &RequestedCredential) -> verity_presentation::RequestedCredential {
    let mut rc = verity_presentation::RequestedCredential::new(r.credential_type.clone());
    rc.accepted_issuers = r.accepted_issuers.clone();
    rc.allow_revoked = r.configuration.validation.allow_revoked;
    rc.validate_linked_domain = r.configuration.validation.validate_linked_domain;
    rc.constraints = r
        .constraints
        .iter()
        .filter_map(|c| {
            let op = if let Some(v) = &c.values {
                verity_presentation::ConstraintOp::Values(v.clone())
            } else if let Some(v) = &c.contains {
                verity_presentation::ConstraintOp::Contains(v.clone())
            } else {
                verity_presentation::ConstraintOp::StartsWith(c.starts_with.clone()?)
            };
            Some(verity_presentation::Constraint {
                claim_name: c.claim_name.clone(),
                op,
            })
        })
        .collect();
    rc.face_check = r.configuration.validation.face_check.as_ref().map(|f| {
        verity_presentation::FaceCheckRequest {
            source_photo_claim_name: f.source_photo_claim_name.clone(),
            threshold: u8::try_from(
                f.match_confidence_threshold
                    .unwrap_or(DEFAULT_FACE_THRESHOLD),
            )
            .unwrap_or(100),
        }
    });
    rc
}

/// The credentials a stored request asks for. Fails closed: a stored payload that no longer
/// parses, or asks for nothing, is an internal error, never a request for zero credentials.
pub(crate) fn stored_requested(req: &FlowRequest) -> Result<Vec<RequestedCredential>, ApiError> {
    let requested: Vec<RequestedCredential> =
        serde_json::from_value(req.payload["requestedCredentials"].clone()).map_err(|e| {
            ApiError::internal(format!(
                "stored presentation request {} has unreadable requestedCredentials: {e}",
                req.id
            ))
        })?;
    if requested.is_empty() {
        return Err(ApiError::internal(format!(
            "stored presentation request {} asks for no credentials",
            req.id
        )));
    }
    Ok(requested)
}

/// The `presentation_verified` body members of protocol.md §1.
/// `receipt` is what the wallet sent, added when the RP asked for it (`includeReceipt`).
pub(crate) fn verified_body(
    req: &FlowRequest,
    v: &verity_presentation::VerifiedPresentation,
    receipt: Value,
) -> Result<Value, ApiError> {
    let requested = stored_requested(req)?;
    let data: Vec<Value> = v
        .credentials
        .iter()
        .map(|c| {
            // Photos are only returned when the RP asked for a face check on them.
            let photo_claim = requested
                .iter()
                .find(|r| r.credential_type == c.descriptor_id)
                .and_then(|r| r.configuration.validation.face_check.as_ref())
                .map(|f| f.source_photo_claim_name.clone());
            let mut claims = c.claims.clone();
            let photo_types = ["photo", "image"];
            claims.retain(|k, val| {
                let is_image = val.as_str().is_some_and(|s| s.starts_with("data:image/"));
                !(is_image || photo_types.contains(&k.as_str())) || photo_claim.as_deref() == Some(k.as_str())
            });
            let mut d = json!({
                "issuer": c.issuer,
                "type": c.types,
                "claims": claims,
                "credentialState": { "revocationStatus": c.revocation_status.as_str() },
            });
            if let Some(dv) = &c.domain_validation {
                let url = if dv.url.ends_with('/') { dv.url.clone() } else { format!("{}/", dv.url) };
                d["domainValidation"] = json!({ "url": url });
            }
            if let Some(t) = &c.issuance_date {
                d["issuanceDate"] = json!(t);
            }
            if let Some(t) = &c.expiration_date {
                d["expirationDate"] = json!(t);
            }
            if let Some(f) = &c.face_check {
                d["faceCheck"] = json!({ "matchConfidenceScore": f.match_confidence_score, "sourcePhotoQuality": f.source_photo_quality });
            }
            d
        })
        .collect();
    let mut body = json!({ "subject": v.subject, "verifiedCredentialsData": data });
    if req.payload["includeReceipt"].as_bool() == Some(true) {
        body["receipt"] = receipt;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_pattern_is_anchored_and_escaped() {
        let p = issuer_pattern(&["did:web:a.example".into(), "did:web:b.example".into()]);
        assert_eq!(p, "^(did:web:a\\.example|did:web:b\\.example)$");
    }
}
