//! Credential issuance (docs/PROTOCOL.md): the RP creates a request, the wallet fetches the
//! signed request object and manifest, posts a signed holder request, receives the JWT-VC and
//! posts a completion. Every status change is queued as a callback in the outbox.
//!
//! The checks and the building of tokens are `verity_issuance`'s; these handlers parse the
//! HTTP input, run the store steps around them (request lookup, jti replay check, PIN
//! counting and lockout, status index allocation, the issue step) and answer.

use crate::openapi::{Op, Routes};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;
use verity_contracts::{AttestationKind, Contract};
use verity_issuance::{
    AttestationContext, CredentialDraft, HolderCheck, HolderRequest, IssuanceError, PinPrompt,
    RequestObjectParams, StatusAssignment, UnverifiedHolderRequest,
};
use verity_jose::{TokenKind, sign_kind};
use verity_store::{
    Authority, Counter, FlowRequest, FlowStatus, NewIssuedCredential, OnceRecord, PinOutcome,
    Rejection, RequestKind, TransitionOutcome,
};

use crate::authorities;
use crate::error::{ApiError, InnerCode};
use crate::extract::{ApiCaller, ApiJson};
use crate::flows::{self, status_body};
use crate::rp_types::{Completion, IssuanceRequest};
use crate::state::AppState;

/// Requests expire this long after creation (as the hosted service).
pub const REQUEST_TTL_SECS: i64 = 300;
/// Entries per status list: the W3C minimum, which gives holders herd privacy.
pub const STATUS_LIST_BITS: u32 = verity_status_list::MIN_LIST_BITS as u32;
/// Wrong PINs before a request locks.
pub const MAX_PIN_FAILURES: i32 = 5;

pub fn routes(r: &mut Routes) {
    r.post(
        "/v1.0/verifiableCredentials/createIssuanceRequest",
        create,
        Op::new("createIssuanceRequest", "Request Service API", "Starts an issuance: a URL (and QR code) for the holder's wallet")
            .api()
            .body::<crate::rp_types::IssuanceRequest>("What to issue, to whom, and where to send status events")
            .ok::<crate::rp_types::CreatedRequest>(201, "The request id, the wallet URL and its expiry")
            .bad_request()
            .error(400, &[InnerCode::CallbackUrlRefused, InnerCode::ContractDisabled])
            .not_found(),
    )
    .get(
        "/v1.0/verifiableCredentials/issuanceRequests/{id}",
        poll,
        Op::new("getIssuanceRequest", "Request Service API", "The status of an issuance request")
            .api()
            .ok_any(200, "`requestId`, `requestStatus` (request_retrieved, issuance_successful, issuance_error), `error`")
            .not_found(),
    )
    .get(
        "/v1.0/requests/{id}",
        request_object,
        Op::new("getRequestObject", "Wallet", "The signed request object of an issuance or presentation request")
            .ok_text(200, "application/oauth-authz-req+jwt", "A JWT signed by the authority")
            .not_found()
            .error(400, &[InnerCode::RequestExpired]),
    )
    .post(
        "/v1.0/requests/{id}/completion",
        completion,
        Op::new("completeIssuance", "Wallet", "The wallet says whether it stored the credential")
            .body::<crate::rp_types::Completion>("`issuance_successful` or `issuance_failed`")
            .ok_empty(204, "Recorded (and sent to the callback)")
            .bad_request()
            .not_found(),
    )
    .get(
        "/v1.0/manifests/{contract}",
        manifest,
        Op::new("getManifest", "Wallet", "The contract's manifest: display, claims, attestations")
            .ok_any(200, "`{ \"token\": \"<signed manifest JWT>\" }`")
            .not_found()
            .error(400, &[InnerCode::ContractDisabled]),
    )
    .post(
        "/v1.0/issue/{contract}",
        issue,
        Op::new("issue", "Wallet", "The wallet's signed issuance request; answers the credential")
            .body_text("text/plain", "The holder's signed request (a compact JWS)")
            .ok_any(200, "`{ \"vc\": \"<JWT-VC>\" }`")
            .bad_request()
            .error(
                400,
                &[
                    InnerCode::HolderRequestInvalid,
                    InnerCode::AttestationInvalid,
                    InnerCode::WrongPin,
                    InnerCode::Replay,
                    InnerCode::RequestExpired,
                ],
            )
            .error(403, &[InnerCode::PinLocked])
            .not_found(),
    );
}

fn parse_id(field: &'static str, s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(format!("{field} `{s}` not found")))
}

/// The contract a manifest URL names, checked against tenant and authority.
async fn contract_for_manifest(
    state: &AppState,
    caller: &ApiCaller,
    authority: &Authority,
    manifest: &str,
) -> Result<(verity_store::Contract, Contract), ApiError> {
    let id = manifest
        .trim_end_matches('/')
        .rsplit_once("/v1.0/manifests/")
        .map(|(_, id)| id)
        .ok_or_else(|| {
            ApiError::bad_field(
                "manifest",
                "must be a manifest URL `<base>/v1.0/manifests/<contractId>`",
            )
        })?;
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_field("manifest", format!("`{id}` is not a contract id")))?;
    let stored = state
        .store
        .contract(id)
        .await?
        .filter(|c| c.tenant_id == caller.tenant_id)
        .ok_or_else(|| ApiError::bad_field("manifest", format!("contract `{id}` not found")))?;
    if stored.authority_id != authority.id {
        return Err(ApiError::bad_field(
            "manifest",
            "the contract belongs to another authority",
        ));
    }
    if !stored.enabled {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            InnerCode::ContractDisabled,
            format!("contract `{id}` is disabled"),
        )
        .with_target("manifest"));
    }
    let contract = flows::load_contract(&stored)?;
    Ok((stored, contract))
}

async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<IssuanceRequest>,
) -> Result<HttpResponse, ApiError> {
    let opening = prepare(&state, &caller, body).await?;
    flows::open_request(&state, opening).await
}

/// Checks a createIssuanceRequest body for `caller`'s tenant and makes the request to store
/// (also used by the admin API's offers).
pub(crate) async fn prepare(
    state: &AppState,
    caller: &ApiCaller,
    body: IssuanceRequest,
) -> Result<flows::Opening, ApiError> {
    let authority = flows::caller_authority(state, caller, &body.authority).await?;
    flows::check_registration(&body.registration)?;
    if let Some(cb) = &body.callback {
        flows::check_callback(state, cb)?;
    }
    if body.credential_type.trim().is_empty() {
        return Err(ApiError::bad_field("type", "is required"));
    }
    let (stored, contract) =
        contract_for_manifest(state, caller, &authority, &body.manifest).await?;
    let openid4vci = match body.profile.as_deref() {
        None => false,
        Some(super::openid4vci::PROFILE) => {
            if !verity_issuance::pre_authorizable(&contract) {
                return Err(ApiError::bad_field(
                    "profile",
                    "an OpenID4VCI offer issues contracts whose claims all come from the app \
                     (idTokenHint attestation only); this contract needs attestations from the wallet",
                ));
            }
            true
        }
        Some(other) => {
            return Err(ApiError::bad_field(
                "profile",
                format!("`{other}` is not a profile (omit it, or `openid4vci`)"),
            ));
        }
    };
    if body.format.is_some() && !openid4vci {
        return Err(ApiError::bad_field(
            "format",
            "a format is chosen only with `profile: openid4vci`",
        ));
    }
    let hint = contract.uses_id_token_hint();
    if body.claims.is_some() && !hint {
        return Err(ApiError::bad_field(
            "claims",
            "claims are only accepted for contracts with an idTokenHint attestation",
        ));
    }
    if body.pin.is_some() && !hint {
        return Err(ApiError::bad_field(
            "pin",
            "a PIN is only accepted for contracts with an idTokenHint attestation",
        ));
    }
    let claims = body.claims.clone().unwrap_or_default();
    if hint {
        for (name, v) in &claims {
            // The hint carries these claims at top level next to the ones Verity sets.
            if verity_jose::kind::is_reserved_claim(name) {
                return Err(ApiError::bad_field(
                    format!("claims.{name}"),
                    format!("`{name}` is a reserved JWT/credential claim name; rename the claim"),
                ));
            }
            if !v.is_string() {
                return Err(ApiError::bad_field(
                    format!("claims.{name}"),
                    "claim values must be strings",
                ));
            }
        }
        for att in &contract.rules.attestations.id_token_hints {
            verity_contracts::map_claims(AttestationKind::IdTokenHint, &claims, &att.mapping)
                .map_err(|e| {
                    ApiError::bad_field(format!("claims.{}", claim_of(&e)), e.to_string())
                })?;
        }
    }
    let now = state.clock.now();
    let expires_at = now + chrono::Duration::seconds(REQUEST_TTL_SECS);
    let pin = match &body.pin {
        None => Value::Null,
        Some(p) => {
            let n = p.value.chars().count();
            if !(4..=16).contains(&n) || !p.value.chars().all(|c| c.is_ascii_digit()) {
                return Err(ApiError::bad_field("pin.value", "must be 4 to 16 digits"));
            }
            if usize::try_from(p.length).ok() != Some(n) {
                return Err(ApiError::bad_field(
                    "pin.length",
                    format!("must equal the number of digits in pin.value ({n})"),
                ));
            }
            let salt = hex(&random_bytes(16));
            json!({ "length": p.length, "salt": salt, "hash": verity_issuance::pin_hash(&salt, &p.value) })
        }
    };
    let expiration = match &body.expiration_date {
        None => None,
        Some(s) => {
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    ApiError::bad_field("expirationDate", format!("not an RFC 3339 date: {e}"))
                })?
                .with_timezone(&Utc);
            // The credential is issued while the request lives: a cap that passes before the
            // request expires could produce a credential that is expired when it is issued.
            if t <= expires_at {
                return Err(ApiError::bad_field(
                    "expirationDate",
                    format!(
                        "must be later than the request's expiry ({REQUEST_TTL_SECS} seconds from now)"
                    ),
                ));
            }
            Some(t.timestamp())
        }
    };
    let id = Uuid::new_v4();
    let mut payload = json!({
        "type": body.credential_type,
        "registration": body.registration,
        "callback": body.callback,
        "claims": claims,
        "pin": pin,
        "expirationDate": expiration,
        "manifest": flows::manifest_url(state, stored.id),
    });
    if openid4vci {
        payload["profile"] = json!(super::openid4vci::PROFILE);
        payload["openid4vci"] =
            super::openid4vci::offer_payload(stored.id, body.format.as_deref())?;
    }
    Ok(flows::Opening {
        id,
        tenant_id: caller.tenant_id,
        kind: RequestKind::Issuance,
        authority_id: authority.id,
        contract_id: Some(stored.id),
        payload,
        expires_at,
        qr_code: body
            .include_qr_code
            .then(|| body.qr_code_format.unwrap_or_default()),
    })
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The revocation search key of a contract's indexed claim (used by the admin API too).
pub use verity_issuance::indexed_claim_hash;

async fn poll(
    caller: ApiCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("request", &id)?;
    let req = state
        .store
        .request(id)
        .await?
        .filter(|r| r.tenant_id == caller.tenant_id && r.kind == RequestKind::Issuance)
        .ok_or_else(|| ApiError::not_found(format!("issuance request `{id}` not found")))?;
    Ok(HttpResponse::Ok().json(status_body(&req)))
}

async fn request_object(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("request", &id)?;
    let req = flows::live_request(&state, id).await?;
    refuse_offer(&req)?;
    let authority = flows::authority_of(&state, &req).await?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let now = state.clock.unix();
    let jwt = match req.kind {
        RequestKind::Issuance => {
            let contract = flows::contract_of(&state, &req).await?;
            issuance_request_object(&state, &req, &authority, &contract, &signer, now).await?
        }
        RequestKind::Presentation => {
            let claims =
                super::presentation::presentation_request_claims(&state, &req, &authority, now)?;
            sign_kind(&signer, TokenKind::RequestObject, &claims)
                .await
                .map_err(ApiError::internal)?
                .token
        }
    };
    flows::mark_retrieved(&state, &req).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/oauth-authz-req+jwt")
        .body(jwt))
}

async fn issuance_request_object(
    state: &AppState,
    req: &FlowRequest,
    authority: &Authority,
    contract: &(verity_store::Contract, Contract),
    signer: &verity_jose::LocalSigner,
    now: i64,
) -> Result<String, ApiError> {
    let (stored, def) = contract;
    let p = &req.payload;
    let registration = flows::registration_claims(p);
    let hint_claims = p["claims"].as_object().cloned().unwrap_or_default();
    let pin = p["pin"].is_object().then(|| PinPrompt {
        length: p["pin"]["length"].as_u64().unwrap_or_default(),
        salt: p["pin"]["salt"].as_str().unwrap_or_default().to_owned(),
    });
    let request_id = req.id.to_string();
    let redirect_uri = format!("{}/v1.0/requests/{}/completion", state.public_url, req.id);
    let manifest_url = flows::manifest_url(state, stored.id);
    let params = RequestObjectParams {
        contract: def,
        issuer_did: &authority.did,
        request_id: &request_id,
        nonce: &req.nonce,
        redirect_uri: &redirect_uri,
        manifest_url: &manifest_url,
        registration: &registration,
        hint_claims: &hint_claims,
        pin: pin.as_ref(),
        now,
        expires_at: req.expires_at.timestamp(),
    };
    Ok(verity_issuance::sign_request_object(signer, &params).await?)
}

async fn manifest(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("contract", &id)?;
    let stored = state
        .store
        .contract(id)
        .await?
        .filter(|c| c.enabled)
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    let contract = flows::load_contract(&stored)?;
    let authority = state
        .store
        .authority(stored.authority_id)
        .await?
        .ok_or_else(|| ApiError::internal("contract without authority"))?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let payload = verity_contracts::build_manifest(
        &contract,
        &flows::manifest_url(&state, stored.id),
        &flows::credential_issuer_url(&state, stored.id),
        &authority.did,
        state.clock.unix(),
    );
    let token = verity_contracts::sign_manifest(&signer, &payload)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({ "token": token })))
}

async fn completion(
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<Completion>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("request", &id)?;
    if body.state != id.to_string() {
        return Err(ApiError::bad_field("state", "does not match the request"));
    }
    let req = state
        .store
        .request(id)
        .await?
        .filter(|r| r.kind == RequestKind::Issuance)
        .ok_or_else(|| ApiError::not_found(format!("request `{id}` not found")))?;
    refuse_offer(&req)?;
    // A completed request keeps its outcome: repeating the same completion is a no-op (the
    // wallet may retry), the opposite one is a conflict, so the RP never gets
    // `issuance_successful` and `issuance_error` for the same request. The step's
    // compare-and-set makes that hold for concurrent completions too.
    //
    // The request id is public (it is in the QR code), so a failure reported before any
    // credential was issued may come from anyone: it reaches the RP as `issuance_error` but
    // does not end the request (counted and limited like refused presentation answers). Once
    // a credential was issued, the wallet's report ends the request either way.
    let (to, extra) = match body.code.as_str() {
        "issuance_successful" => (FlowStatus::IssuanceSuccessful, None),
        "issuance_failed" => {
            let details = body.details.unwrap_or_else(|| "issuance_failed".into());
            let err = json!({ "code": "IssuanceFlowFailed", "message": details });
            let to = match req.status.parse::<FlowStatus>() {
                Ok(FlowStatus::CredentialIssued) => FlowStatus::IssuanceError,
                _ => FlowStatus::IssuanceFailureReported,
            };
            (to, flows::error_extra(err))
        }
        other => {
            return Err(ApiError::bad_field(
                "code",
                format!("`{other}` is not issuance_successful or issuance_failed"),
            ));
        }
    };
    let outcome = complete_step(&state, &req, to, extra.clone()).await?;
    // The credential was issued between the snapshot and the step: the report now ends it.
    let outcome = match outcome {
        TransitionOutcome::Rejected(Rejection::WrongStatus(FlowStatus::CredentialIssued), cur)
            if to == FlowStatus::IssuanceFailureReported =>
        {
            complete_step(&state, &cur, FlowStatus::IssuanceError, extra).await?
        }
        other => other,
    };
    match outcome {
        TransitionOutcome::Applied(_) => {}
        TransitionOutcome::Rejected(Rejection::WrongStatus(now), _)
            if now == to
                || (to == FlowStatus::IssuanceFailureReported
                    && now == FlowStatus::IssuanceError) => {}
        TransitionOutcome::Rejected(Rejection::WrongStatus(FlowStatus::IssuanceSuccessful), _) => {
            return Err(ApiError::conflict(
                "this issuance already completed successfully",
            ));
        }
        TransitionOutcome::Rejected(Rejection::WrongStatus(FlowStatus::IssuanceError), _) => {
            return Err(ApiError::conflict(
                "this issuance already ended with an error",
            ));
        }
        TransitionOutcome::Rejected(Rejection::LimitReached, _) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                InnerCode::RateLimited,
                format!(
                    "this request already recorded {} reported failures, so this one was not reported",
                    flows::MAX_RECORDED_REFUSALS
                ),
            )
            .with_request_id(req.id.to_string()));
        }
        TransitionOutcome::Rejected(Rejection::Expired, _) => return Err(flows::expired(req.id)),
        TransitionOutcome::Rejected(_, _) => {
            return Err(ApiError::conflict(
                "no credential was issued for this request",
            ));
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The completion step to `to`: a reported failure before issuance is counted and limited and
/// needs a live request; the wallet confirms after receiving the credential, possibly just past
/// the expiry.
async fn complete_step(
    state: &AppState,
    req: &FlowRequest,
    to: FlowStatus,
    extra: Option<Value>,
) -> Result<TransitionOutcome, ApiError> {
    let mut t = flows::step(state, req, to, extra);
    if to == FlowStatus::IssuanceFailureReported {
        t.counter = Some(Counter::Refusal {
            limit: flows::MAX_RECORDED_REFUSALS,
        });
    } else {
        t.require_live = false;
    }
    flows::apply(state, &t).await
}

async fn issue(
    http: actix_web::HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    state
        .limits
        .check(crate::limits::Endpoint::HolderRequest, &http)
        .map_err(|l| l.api_error(crate::limits::Endpoint::HolderRequest.what()))?;
    let contract_id = parse_id("contract", &id)?;
    let token = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_body("the holder request must be a compact JWS in text/plain"))?
        .trim()
        .to_owned();
    let aud = flows::credential_issuer_url(&state, contract_id);
    let unverified = UnverifiedHolderRequest::parse(&token, state.config.server.body_limit_bytes)?;
    // The request is looked up before the holder's DID is resolved: an answer to a request
    // that does not exist, has ended or is for another contract costs no resolution.
    let request_id =
        Uuid::parse_str(unverified.state()?).map_err(|_| IssuanceError::MissingState)?;
    let req = flows::live_request(&state, request_id).await?;
    refuse_offer(&req)?;
    if req.kind != RequestKind::Issuance || req.contract_id != Some(contract_id) {
        return Err(ApiError::bad_field(
            "contract",
            "the request is not for this contract",
        ));
    }
    let holder = unverified
        .verify(&HolderCheck {
            resolver: state.resolution.resolver.as_ref(),
            audience: &aud,
            now: state.clock.unix(),
            skew: state.config.auth.clock_skew_secs,
        })
        .await?;
    holder.check_nonce(&req.nonce)?;
    // The jti is written by the step the request takes (a wrong PIN or the credential), never
    // before, so an outage in between does not burn it.
    let until = holder.jti_remembered_until(
        state.config.auth.clock_skew_secs,
        req.expires_at.timestamp(),
    );
    let jti = OnceRecord {
        scope: HOLDER_JTI_SCOPE.into(),
        value: holder.jti().to_owned(),
        expires_at: DateTime::from_timestamp(until, 0).unwrap_or(req.expires_at),
    };
    // Reported before every state check, so a replayed holder request is reported as a
    // replay whatever became of the request since.
    if state
        .store
        .is_once_taken(&jti.scope, &jti.value, state.clock.now())
        .await?
    {
        return Err(replayed());
    }
    // The credential was issued to this very holder but its answer was lost (the wallet
    // retries with a fresh holder request): hand the same credential over again.
    if let Some(vc) = delivered_to(&req, holder.did()) {
        tracing::info!(request_id = %req.id, "credential handed over again to its holder");
        return Ok(HttpResponse::Ok().json(json!({ "vc": vc })));
    }
    // A snapshot, to answer early; the step below decides.
    refuse_ended(&req)?;
    check_pin(&state, &req, &holder, &jti).await?;
    let (stored, contract) = flows::contract_of(&state, &req).await?;
    let authority = flows::authority_of(&state, &req).await?;
    let replay = Arc::new(flows::DeferredReplayGuard::new());
    // The vp_token's jti is written with the issuance step, not before it.
    let mut verifier = state.verifier.clone();
    verifier.replay = replay.clone();
    let hint_claims = req.payload["claims"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let attesting = AttestationContext {
        tokens: &state.oidc,
        verifier: &verifier,
        issuer_did: &authority.did,
        nonce: &req.nonce,
        request_expires_at: req.expires_at.timestamp(),
        hint_claims: &hint_claims,
        now: state.clock.unix(),
    };
    let subject = verity_issuance::collect_claims(&attesting, &contract, &holder).await?;
    let (vc, record) = issue_credential(
        &state,
        &req,
        &authority,
        &stored,
        &contract,
        holder.did(),
        subject,
    )
    .await?;
    let jti_credential = record.jti.clone();
    // One step: the request moves to credential_issued only from a live, unanswered state,
    // and the credential record and the replay records are written with it. Of concurrent
    // holder requests (each with its own jti) exactly one gets here first; the others'
    // credentials are never recorded nor returned (their status indices stay used).
    // The step's body is internal (`credential_issued` is never shown to the RP, polling
    // shows `request_retrieved`) and holds the credential for its holder until the wallet
    // completes, in case this answer is lost; completion or the purge removes it.
    let delivery = json!({ "delivery": { "holder": holder.did(), "vc": vc } });
    let mut t = flows::step(&state, &req, FlowStatus::CredentialIssued, Some(delivery));
    t.issued = Some(record);
    t.once = std::iter::once(jti).chain(replay.take()).collect();
    match flows::apply(&state, &t).await? {
        TransitionOutcome::Applied(_) => {
            tracing::info!(request_id = %req.id, jti = %jti_credential, "credential issued");
            Ok(HttpResponse::Ok().json(json!({ "vc": vc })))
        }
        TransitionOutcome::Rejected(Rejection::Replay { scope }, _) => {
            tracing::info!(request_id = %req.id, scope = %scope, "holder request replayed");
            Err(replayed())
        }
        TransitionOutcome::Rejected(Rejection::Expired, _) => Err(flows::expired(req.id)),
        TransitionOutcome::Rejected(_, current) => {
            // A concurrent holder request of the same holder won: its credential is the one.
            if let Some(vc) = delivered_to(&current, holder.did()) {
                return Ok(HttpResponse::Ok().json(json!({ "vc": vc })));
            }
            refuse_ended(&current)?;
            Err(ApiError::conflict(
                "a credential was already issued for this request",
            ))
        }
    }
}

/// Keeps the two profiles apart: an OpenID4VCI offer is answered only through its own
/// endpoints (its code and `tx_code`), never by the compatibility profile's request object,
/// holder request or completion, which would skip them.
fn refuse_offer(req: &FlowRequest) -> Result<(), ApiError> {
    if super::openid4vci::is_offer(req) {
        return Err(ApiError::bad_field(
            "profile",
            format!(
                "request `{}` is an OpenID4VCI credential offer: wallets redeem it at the credential issuer's token endpoint",
                req.id
            ),
        )
        .with_request_id(req.id.to_string()));
    }
    Ok(())
}

/// The credential a `credential_issued` request holds for `holder`, when it was issued to
/// that holder (proven by the holder request's signature): the wallet may not have received
/// it. Once the wallet completes, the request holds nothing.
fn delivered_to(req: &FlowRequest, holder: &str) -> Option<String> {
    if req.status.parse::<FlowStatus>().ok() != Some(FlowStatus::CredentialIssued) {
        return None;
    }
    let d = &req.result.as_ref()?["delivery"];
    (d["holder"].as_str() == Some(holder))
        .then(|| d["vc"].as_str().map(str::to_owned))
        .flatten()
}

/// Replay scope of holder-request `jti`s.
const HOLDER_JTI_SCOPE: &str = "holder-request-jti";

fn replayed() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        InnerCode::Replay,
        "this holder request was already used (jti replayed)",
    )
}

/// Refuses a holder request for a request that can no longer issue. A locked request stays
/// locked: the right PIN after the lockout gets the lockout answer, not a generic conflict.
fn refuse_ended(req: &FlowRequest) -> Result<(), ApiError> {
    if req.payload["pin"]["hash"].is_string() && req.pin_failures >= MAX_PIN_FAILURES {
        return Err(pin_locked("too many wrong PINs: this request is locked"));
    }
    match req.status.parse::<FlowStatus>() {
        Ok(FlowStatus::CredentialIssued | FlowStatus::IssuanceSuccessful) => Err(
            ApiError::conflict("a credential was already issued for this request"),
        ),
        Ok(FlowStatus::IssuanceError) => Err(ApiError::conflict(
            "this request has ended with an error; the app must create a new one",
        )),
        _ => Ok(()),
    }
}

/// Checks the PIN; a wrong one is counted, with the lockout, in one step of the store.
async fn check_pin(
    state: &AppState,
    req: &FlowRequest,
    holder: &HolderRequest,
    jti: &OnceRecord,
) -> Result<(), ApiError> {
    let Some(expected) = req.payload["pin"]["hash"].as_str() else {
        return Ok(());
    };
    // The wallet sends base64(sha256(salt + pin)); the same hash was stored at creation.
    if verity_issuance::check_pin(expected, holder.pin()).is_ok() {
        return Ok(());
    }
    let err = json!({ "code": "IssuanceFlowFailed", "message": "too many wrong PINs" });
    let lock = flows::step(
        state,
        req,
        FlowStatus::IssuanceError,
        flows::error_extra(err),
    );
    let outcome = state
        .store
        .record_pin_failure(
            req.id,
            MAX_PIN_FAILURES,
            std::slice::from_ref(jti),
            &lock,
            state.clock.now(),
        )
        .await?;
    match outcome {
        PinOutcome::Counted(failures) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            InnerCode::WrongPin,
            format!(
                "wrong PIN ({} of {MAX_PIN_FAILURES} attempts left)",
                MAX_PIN_FAILURES - failures
            ),
        )),
        PinOutcome::LockedNow(_) => {
            state.outbox.wake();
            tracing::info!(request_id = %req.id, "request locked after too many wrong PINs");
            Err(pin_locked("wrong PIN: this request is now locked"))
        }
        PinOutcome::Rejected(Rejection::Replay { .. }, _) => Err(replayed()),
        PinOutcome::Rejected(Rejection::Expired, _) => Err(flows::expired(req.id)),
        PinOutcome::Rejected(_, current) => {
            refuse_ended(&current)?;
            Err(pin_locked("too many wrong PINs: this request is locked"))
        }
    }
}

fn pin_locked(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, InnerCode::PinLocked, message)
}

/// Allocates a status index and signs the JWT-VC; the record is written by the issuance step.
async fn issue_credential(
    state: &AppState,
    req: &FlowRequest,
    authority: &Authority,
    stored: &verity_store::Contract,
    contract: &Contract,
    holder_did: &str,
    subject: Map<String, Value>,
) -> Result<(String, NewIssuedCredential), ApiError> {
    let now = state.clock.now();
    let (allocation, status) = allocate_status(state, authority, contract, true).await?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, authority).await?;
    let issued = verity_issuance::issue_credential(
        &signer,
        CredentialDraft {
            contract,
            contract_id: stored.id,
            issuer_did: &authority.did,
            holder_did,
            subject,
            expiration_cap: req.payload["expirationDate"].as_i64(),
            status,
            now: now.timestamp(),
        },
    )
    .await?;
    let record = NewIssuedCredential {
        id: issued.id,
        jti: issued.jti.clone(),
        tenant_id: req.tenant_id,
        contract_id: Some(stored.id),
        authority_id: authority.id,
        request_id: Some(req.id),
        subject_did: issued.subject_did.clone(),
        status_list_id: allocation.as_ref().map(|a| a.list_id),
        status_index: allocation.as_ref().map(|a| a.index),
        indexed_claim_hash: issued.indexed_claim_hash.clone(),
        issued_at: now,
        expires_at: DateTime::from_timestamp(issued.expires_at, 0).unwrap_or(now),
    };
    Ok((issued.token, record))
}

/// A status index for a credential of `contract`, if it is revocable: in the authority's open
/// multi-purpose list (revocation and suspension) when the contract is suspendable and the
/// credential can carry two status entries (`two_entries`: a JWT-VC; an SD-JWT VC has one
/// status reference), in its open revocation list otherwise.
pub(crate) async fn allocate_status(
    state: &AppState,
    authority: &Authority,
    contract: &Contract,
    two_entries: bool,
) -> Result<
    (
        Option<verity_store::StatusAllocation>,
        Option<StatusAssignment>,
    ),
    ApiError,
> {
    if !contract.rules.revocable {
        return Ok((None, None));
    }
    let (a, status) =
        allocate_status_entry(state, authority, two_entries && contract.rules.suspendable).await?;
    Ok((Some(a), Some(status)))
}

/// An index taken from this replica's lease on the authority's open list: its multi-purpose
/// list (revocation and suspension at one index) when `suspendable`, its revocation list
/// otherwise; and the URLs the credential's entries point at.
pub(crate) async fn allocate_status_entry(
    state: &AppState,
    authority: &Authority,
    suspendable: bool,
) -> Result<(verity_store::StatusAllocation, StatusAssignment), ApiError> {
    let purpose = if suspendable {
        verity_store::PURPOSE_REVOCATION_SUSPENSION
    } else {
        "revocation"
    };
    let a = state
        .status_leases
        .take(
            state.store.as_ref(),
            authority.id,
            purpose,
            STATUS_LIST_BITS,
            state.clock.now(),
        )
        .await?;
    let status = StatusAssignment {
        list_url: super::status::list_url(state, a.list_id),
        index: a.index,
        suspension_url: suspendable.then(|| super::status::suspension_url(state, a.list_id)),
    };
    Ok((a, status))
}

/// The claim a mapping error is about, for the error's `target`.
fn claim_of(e: &verity_contracts::ContractError) -> String {
    match e {
        verity_contracts::ContractError::MissingRequiredClaim { claim, .. }
        | verity_contracts::ContractError::ClaimTypeMismatch { claim, .. } => {
            claim.trim_start_matches("$.").to_owned()
        }
        _ => String::new(),
    }
}
