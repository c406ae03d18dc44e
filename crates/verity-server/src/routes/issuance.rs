//! Credential issuance (docs/PROTOCOL.md): the RP creates a request, the wallet fetches the
//! signed request object and manifest, posts a signed holder request, receives the JWT-VC and
//! posts a completion. Every status change is queued as a callback in the outbox.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use verity_contracts::{AttestationKind, Contract};
use verity_did::Relationship;
use verity_jose::{TokenKind, UnverifiedJws, sign_kind};
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/v1.0/verifiableCredentials/createIssuanceRequest",
        web::post().to(create),
    )
    .route(
        "/v1.0/verifiableCredentials/issuanceRequests/{id}",
        web::get().to(poll),
    )
    .route("/v1.0/requests/{id}", web::get().to(request_object))
    .route("/v1.0/requests/{id}/completion", web::post().to(completion))
    .route("/v1.0/manifests/{contract}", web::get().to(manifest))
    .route("/v1.0/issue/{contract}", web::post().to(issue));
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
    let authority = flows::caller_authority(&state, &caller, &body.authority).await?;
    flows::check_registration(&body.registration)?;
    if let Some(cb) = &body.callback {
        flows::check_callback(&state, cb)?;
    }
    if body.credential_type.trim().is_empty() {
        return Err(ApiError::bad_field("type", "is required"));
    }
    let (stored, contract) =
        contract_for_manifest(&state, &caller, &authority, &body.manifest).await?;
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
            json!({ "length": p.length, "salt": salt, "hash": pin_hash(&salt, &p.value) })
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
    let payload = json!({
        "type": body.credential_type,
        "registration": body.registration,
        "callback": body.callback,
        "claims": claims,
        "pin": pin,
        "expirationDate": expiration,
        "manifest": flows::manifest_url(&state, stored.id),
    });
    flows::open_request(
        &state,
        flows::Opening {
            id,
            tenant_id: caller.tenant_id,
            kind: RequestKind::Issuance,
            authority_id: authority.id,
            contract_id: Some(stored.id),
            payload,
            expires_at,
            include_qr_code: body.include_qr_code,
        },
    )
    .await
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `base64(sha256(salt + pin))`, the hash the wallet sends.
pub fn pin_hash(salt: &str, pin: &str) -> String {
    STANDARD.encode(Sha256::digest(format!("{salt}{pin}").as_bytes()))
}

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
    let types = def.credential_types();
    let type_name = types.last().cloned().unwrap_or_default();
    let mut claims = json!({
        "iss": authority.did, "client_id": authority.did,
        "response_type": "id_token", "response_mode": "post", "scope": "openid",
        "redirect_uri": format!("{}/v1.0/requests/{}/completion", state.public_url, req.id),
        "nonce": req.nonce, "state": req.id.to_string(), "jti": Uuid::new_v4().to_string(),
        "iat": now, "exp": req.expires_at.timestamp(), "prompt": "create",
        "registration": flows::registration_claims(p),
        "claims": { "vp_token": { "presentation_definition": {
            "id": Uuid::new_v4().to_string(),
            "input_descriptors": [ {
                "id": type_name, "name": type_name, "schema": [ { "uri": type_name } ],
                "issuance": [ { "manifest": flows::manifest_url(state, stored.id) } ] } ] } } },
    });
    if def.uses_id_token_hint() {
        let mut hint = json!({
            "iss": authority.did, "sub": req.id.to_string(), "aud": authority.did,
            "nonce": req.nonce, "iat": now, "exp": req.expires_at.timestamp(),
        });
        if let (Some(h), Some(c)) = (hint.as_object_mut(), p["claims"].as_object()) {
            for (k, v) in c {
                h.entry(k.clone()).or_insert(v.clone());
            }
        }
        claims["id_token_hint"] = json!(
            sign_kind(signer, TokenKind::IdTokenHint, &hint)
                .await
                .map_err(ApiError::internal)?
                .token
        );
    }
    if p["pin"].is_object() {
        claims["pin"] = json!({ "length": p["pin"]["length"], "type": "numeric", "alg": "sha256", "salt": p["pin"]["salt"] });
    }
    Ok(sign_kind(signer, TokenKind::RequestObject, &claims)
        .await
        .map_err(ApiError::internal)?
        .token)
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

/// Claims of a holder request, as far as issuance reads them.
struct HolderRequest {
    did: String,
    jti: String,
    exp: i64,
    claims: Value,
}

fn holder_err(m: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, InnerCode::HolderRequestInvalid, m)
}

/// Parses the holder's request without verifying it: the JWS and its claims.
fn parse_holder_request(state: &AppState, token: &str) -> Result<(UnverifiedJws, Value), ApiError> {
    let jws = UnverifiedJws::parse_with_limit(token, state.config.server.body_limit_bytes)
        .map_err(|e| holder_err(format!("the holder request is not a valid JWS: {e}")))?;
    let claims: Value = jws
        .payload_unverified()
        .map_err(|e| holder_err(e.to_string()))?;
    Ok((jws, claims))
}

/// Parses and checks the holder's signed request: signature by a key of `did` listed under
/// authentication, `sub_jwk` = that key, `sub` = its thumbprint, audience, times.
async fn verify_holder_request(
    state: &AppState,
    jws: UnverifiedJws,
    claims: &Value,
    expected_aud: &str,
) -> Result<HolderRequest, ApiError> {
    let did = claims["did"]
        .as_str()
        .ok_or_else(|| holder_err("`did` is missing".into()))?
        .to_owned();
    let kid = jws
        .header()
        .kid
        .clone()
        .ok_or_else(|| holder_err("the header has no `kid`".into()))?;
    if !kid.starts_with(&format!("{did}#")) {
        return Err(holder_err(format!(
            "the signing key `{kid}` is not a key of `{did}`"
        )));
    }
    let doc = state
        .resolution
        .resolver
        .resolve(&did)
        .await
        .map_err(|e| holder_err(format!("cannot resolve `{did}`: {e}")))?;
    let key = doc
        .key_for(&kid, Relationship::Authentication)
        .map_err(|e| {
            holder_err(format!(
                "the signing key is not an authentication key of `{did}`: {e}"
            ))
        })?;
    let verified = jws
        .verify(&key)
        .map_err(|e| holder_err(format!("the holder request signature is invalid: {e}")))?;
    let claims: Value = verified.claims().map_err(|e| holder_err(e.to_string()))?;
    // Token kinds never mix: a request object, manifest or credential signed by some key of
    // the holder is not a holder request.
    let object = claims
        .as_object()
        .ok_or_else(|| holder_err("the holder request's claims are not a JSON object".into()))?;
    TokenKind::HolderRequest
        .check(verified.header(), object)
        .map_err(|e| holder_err(format!("not a holder request: {e}")))?;
    let sub_jwk = verity_jose::Jwk::from_json_value(&claims["sub_jwk"])
        .map_err(|e| holder_err(format!("`sub_jwk` is not a public JWK: {e}")))?;
    let thumb = key.thumbprint().map_err(|e| holder_err(e.to_string()))?;
    if sub_jwk.thumbprint().ok().as_deref() != Some(thumb.as_str()) {
        return Err(holder_err(
            "`sub_jwk` is not the key that signed the request".into(),
        ));
    }
    if claims["sub"].as_str() != Some(thumb.as_str()) {
        return Err(holder_err(
            "`sub` is not the thumbprint of the signing key".into(),
        ));
    }
    if claims["aud"].as_str() != Some(expected_aud) {
        return Err(holder_err(format!("`aud` must be `{expected_aud}`")));
    }
    verity_jose::check_times(
        &claims,
        state.clock.unix(),
        state.config.auth.clock_skew_secs,
        true,
    )
    .map_err(|e| holder_err(format!("holder request: {e}")))?;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| holder_err("`jti` is missing".into()))?
        .to_owned();
    // check_times proved `exp` is a number; fractional NumericDates are truncated as there.
    let exp = claims["exp"]
        .as_i64()
        .or_else(|| claims["exp"].as_f64().map(|f| f.floor() as i64))
        .unwrap_or_default();
    Ok(HolderRequest {
        did,
        jti,
        exp,
        claims,
    })
}

async fn issue(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let contract_id = parse_id("contract", &id)?;
    let token = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_body("the holder request must be a compact JWS in text/plain"))?
        .trim()
        .to_owned();
    let aud = flows::credential_issuer_url(&state, contract_id);
    let (jws, unverified) = parse_holder_request(&state, &token)?;
    // The request is looked up before the holder's DID is resolved: an answer to a request
    // that does not exist, has ended or is for another contract costs no resolution.
    let request_id = unverified["state"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            ApiError::bad_field(
                "state",
                "the holder request must carry the request's `state`",
            )
        })?;
    let req = flows::live_request(&state, request_id).await?;
    if req.kind != RequestKind::Issuance || req.contract_id != Some(contract_id) {
        return Err(ApiError::bad_field(
            "contract",
            "the request is not for this contract",
        ));
    }
    let holder = verify_holder_request(&state, jws, &unverified, &aud).await?;
    if holder.claims["nonce"].as_str() != Some(req.nonce.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            InnerCode::HolderRequestInvalid,
            "`nonce` does not match the request",
        ));
    }
    // The jti is remembered as long as the token could still be accepted (its `exp` plus the
    // allowed skew), but not past the request's own expiry, after which the request refuses
    // every holder request anyway. It is written by the step the request takes (a wrong PIN
    // or the credential), never before, so an outage in between does not burn it.
    let skew = chrono::Duration::seconds(state.config.auth.clock_skew_secs.max(0));
    let jti = OnceRecord {
        scope: HOLDER_JTI_SCOPE.into(),
        value: holder.jti.clone(),
        expires_at: DateTime::from_timestamp(holder.exp, 0)
            .map_or(req.expires_at, |exp| (exp + skew).min(req.expires_at)),
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
    // A snapshot, to answer early; the step below decides.
    refuse_ended(&req)?;
    check_pin(&state, &req, &holder.claims, &jti).await?;
    let (stored, contract) = flows::contract_of(&state, &req).await?;
    let authority = flows::authority_of(&state, &req).await?;
    let replay = Arc::new(flows::DeferredReplayGuard::new(state.store.clone()));
    let subject = collect_claims(
        &state,
        &req,
        &contract,
        &holder,
        &authority.did,
        replay.clone(),
    )
    .await?;
    let (vc, record) = issue_credential(
        &state,
        &req,
        &authority,
        &stored,
        &contract,
        &holder.did,
        subject,
    )
    .await?;
    let jti_credential = record.jti.clone();
    // One step: the request moves to credential_issued only from a live, unanswered state,
    // and the credential record and the replay records are written with it. Of concurrent
    // holder requests (each with its own jti) exactly one gets here first; the others'
    // credentials are never recorded nor returned (their status indices stay used).
    let mut t = flows::step(&state, &req, FlowStatus::CredentialIssued, None);
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
            refuse_ended(&current)?;
            Err(ApiError::conflict(
                "a credential was already issued for this request",
            ))
        }
    }
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
    claims: &Value,
    jti: &OnceRecord,
) -> Result<(), ApiError> {
    let Some(expected) = req.payload["pin"]["hash"].as_str() else {
        return Ok(());
    };
    // The wallet sends base64(sha256(salt + pin)); the same hash was stored at creation.
    let given = claims["pin"].as_str().unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) && !given.is_empty() {
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

/// Runs every attestation of the contract and maps its claims.
async fn collect_claims(
    state: &AppState,
    req: &FlowRequest,
    contract: &Contract,
    holder: &HolderRequest,
    issuer_did: &str,
    replay: Arc<flows::DeferredReplayGuard>,
) -> Result<Map<String, Value>, ApiError> {
    let att = &holder.claims["attestations"];
    let mut out = Map::new();
    let bad = |target: String, m: String| {
        ApiError::new(StatusCode::BAD_REQUEST, InnerCode::AttestationInvalid, m).with_target(target)
    };
    let mut merge = |mapped: Map<String, Value>| {
        for (k, v) in mapped {
            out.insert(k, v);
        }
    };
    for a in &contract.rules.attestations.id_token_hints {
        let claims = req.payload["claims"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge(
            verity_contracts::map_claims(AttestationKind::IdTokenHint, &claims, &a.mapping)
                .map_err(|e| {
                    bad(
                        format!(
                            "attestations.idTokens[{}]",
                            verity_contracts::SELF_ISSUED_CONFIGURATION
                        ),
                        e.to_string(),
                    )
                })?,
        );
    }
    for a in &contract.rules.attestations.id_tokens {
        let Some(token) = att["idTokens"][&a.configuration].as_str() else {
            if a.required {
                return Err(bad(
                    format!("attestations.idTokens[{}]", a.configuration),
                    format!("an id_token from `{}` is required", a.configuration),
                ));
            }
            continue;
        };
        let claims = state
            .oidc
            .validate_id_token(token, a, None, state.clock.unix())
            .await
            .map_err(|e| {
                bad(
                    format!("attestations.idTokens[{}]", a.configuration),
                    e.to_string(),
                )
            })?;
        merge(
            verity_contracts::map_claims(AttestationKind::IdToken, &claims, &a.mapping).map_err(
                |e| {
                    bad(
                        format!("attestations.idTokens[{}]", a.configuration),
                        e.to_string(),
                    )
                },
            )?,
        );
    }
    if let Some(a) = &contract.rules.attestations.self_issued {
        let given = att["selfIssued"].as_object().cloned().unwrap_or_default();
        if given.is_empty() && a.required {
            return Err(bad(
                "attestations.selfIssued".into(),
                "self-issued claims are required".into(),
            ));
        }
        merge(
            verity_contracts::map_claims(AttestationKind::SelfIssued, &given, &a.mapping)
                .map_err(|e| bad("attestations.selfIssued".into(), e.to_string()))?,
        );
    }
    for a in &contract.rules.attestations.access_tokens {
        let Some(token) = att["accessTokens"][&a.configuration].as_str() else {
            if a.required {
                return Err(bad(
                    format!("attestations.accessTokens[{}]", a.configuration),
                    format!("an access token from `{}` is required", a.configuration),
                ));
            }
            continue;
        };
        let claims = state
            .oidc
            .validate_access_token(token, a, state.clock.unix())
            .await
            .map_err(|e| {
                bad(
                    format!("attestations.accessTokens[{}]", a.configuration),
                    e.to_string(),
                )
            })?;
        merge(
            verity_contracts::map_claims(AttestationKind::AccessToken, &claims, &a.mapping)
                .map_err(|e| {
                    bad(
                        format!("attestations.accessTokens[{}]", a.configuration),
                        e.to_string(),
                    )
                })?,
        );
    }
    for a in &contract.rules.attestations.presentations {
        let target = format!("attestations.presentations[{}]", a.credential_type);
        let Some(vp) = att["presentations"][&a.credential_type].as_str() else {
            if a.required {
                return Err(bad(
                    target,
                    format!(
                        "a presentation of a `{}` credential is required",
                        a.credential_type
                    ),
                ));
            }
            continue;
        };
        let mut requested =
            verity_presentation::RequestedCredential::new(a.credential_type.clone());
        // No trusted issuers listed = credentials of this contract's own authority only.
        requested.accepted_issuers = if a.trusted_issuers.is_empty() {
            vec![issuer_did.to_owned()]
        } else {
            a.trusted_issuers.clone()
        };
        // The vp_token's jti is written with the issuance step, not before it.
        let mut ctx = state.verifier.clone().with_now(state.clock.unix());
        ctx.replay = replay.clone();
        let v = verity_presentation::verify_attestation_presentation(
            &ctx,
            &holder.did,
            vp,
            issuer_did,
            &req.nonce,
            req.expires_at.timestamp(),
            &requested,
        )
        .await;
        let verified = match v.result {
            Ok(p) => p,
            Err(e) if e.is_transient() => {
                return Err(ApiError::transient(format!("{target}: {e} ({})", e.code()))
                    .with_retry_after(5));
            }
            Err(e) => return Err(bad(target, format!("{e} ({})", e.code()))),
        };
        let claims = verified
            .credentials
            .first()
            .map(|c| c.claims.clone())
            .unwrap_or_default();
        merge(
            verity_contracts::map_claims(AttestationKind::Presentation, &claims, &a.mapping)
                .map_err(|e| bad(target.clone(), e.to_string()))?,
        );
    }
    Ok(out)
}

/// Allocates a status index and signs the JWT-VC; the record is written by the issuance step.
async fn issue_credential(
    state: &AppState,
    req: &FlowRequest,
    authority: &Authority,
    stored: &verity_store::Contract,
    contract: &Contract,
    holder_did: &str,
    mut subject: Map<String, Value>,
) -> Result<(String, NewIssuedCredential), ApiError> {
    let now = state.clock.now();
    let mut exp =
        now.timestamp() + i64::try_from(contract.rules.validity_interval).unwrap_or(i64::MAX / 4);
    if let Some(cap) = req.payload["expirationDate"].as_i64() {
        exp = exp.min(cap);
    }
    let id = Uuid::new_v4();
    let jti = format!("urn:uuid:{id}");
    let mut status_entry = Value::Null;
    let mut allocation = None;
    if contract.rules.revocable {
        let a = state
            .status_leases
            .take(
                state.store.as_ref(),
                authority.id,
                "revocation",
                STATUS_LIST_BITS,
                now,
            )
            .await?;
        let list_url = super::status::list_url(state, a.list_id);
        status_entry = serde_json::to_value(verity_status_list::StatusEntry::new(
            &list_url,
            a.index,
            verity_status_list::StatusPurpose::Revocation,
        ))
        .map_err(ApiError::internal)?;
        allocation = Some(a);
    }
    let indexed_claim_hash = contract
        .indexed_claim()
        .and_then(|m| subject.get(&m.output_claim))
        .and_then(|v| v.as_str())
        .map(|v| indexed_claim_hash(stored.id, v));
    subject.insert("id".into(), json!(holder_did));
    let types = contract.credential_types();
    let iso = |t: i64| {
        DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let mut vc = json!({
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": types,
        "issuer": authority.did,
        "issuanceDate": iso(now.timestamp()),
        "expirationDate": iso(exp),
        "credentialSubject": subject,
    });
    if !status_entry.is_null() {
        vc["credentialStatus"] = status_entry;
    }
    let payload = json!({
        "iss": authority.did, "sub": holder_did, "jti": jti,
        "iat": now.timestamp(), "nbf": now.timestamp(), "exp": exp, "vc": vc,
    });
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, authority).await?;
    // Signed as its kind: the credential must pass the credential rules it is checked by.
    let signed = sign_kind(&signer, TokenKind::Credential, &payload)
        .await
        .map_err(ApiError::internal)?;
    let record = NewIssuedCredential {
        id,
        jti: jti.clone(),
        tenant_id: req.tenant_id,
        contract_id: stored.id,
        authority_id: authority.id,
        request_id: Some(req.id),
        subject_did: holder_did.to_owned(),
        status_list_id: allocation.as_ref().map(|a| a.list_id),
        status_index: allocation.as_ref().map(|a| a.index),
        indexed_claim_hash,
        issued_at: now,
        expires_at: DateTime::from_timestamp(exp, 0).unwrap_or(now),
    };
    Ok((signed.token, record))
}

/// `Base64(SHA256(contractId + value))`: the revocation search key of the indexed claim.
pub fn indexed_claim_hash(contract_id: Uuid, value: &str) -> String {
    STANDARD.encode(Sha256::digest(format!("{contract_id}{value}").as_bytes()))
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
