//! The OpenID4VCI 1.0 issuer (the standards profile of issuance; docs/STANDARDS.md): per
//! authority a credential issuer `{public_url}/openid4vci/{authority}` that is its own
//! authorization server, with the pre-authorized code flow.
//!
//! | route | spec | store step |
//! |---|---|---|
//! | `GET /.well-known/openid-credential-issuer/openid4vci/{a}` | 12.2 | - |
//! | `GET /.well-known/oauth-authorization-server/openid4vci/{a}` | RFC 8414 | - |
//! | `GET /openid4vci/{a}/offers/{request}` (offer by reference) | 4.1.3 | retrieve |
//! | `POST /openid4vci/{a}/token` (pre-authorized code + `tx_code`) | 6 | redeem (`token_issued`), or a counted wrong `tx_code` with the lockout |
//! | `POST /openid4vci/{a}/nonce` | 7 | - (stateless `c_nonce`) |
//! | `POST /openid4vci/{a}/credential` (Bearer, `proofs.jwt`) | 8 | deliver (`issuance_successful`, credential record and the proof's `c_nonce` with it) |
//!
//! An offer is an issuance request created with `profile: "openid4vci"` (createIssuanceRequest
//! or the admin API) for a contract whose claims all come from the RP (idTokenHint): the
//! pre-authorized code is `<request id>.<MAC>` ([`offer_code`], nothing stored), the
//! `tx_code` is the request's PIN. The code is as public as the QR code that carries it, so
//! everything a stranger can do with it is a step of the request's state machine: redeem it
//! once (then nobody else can), or guess the `tx_code` (counted with the PIN lockout).
//! Errors use the spec's `error` codes ([`Oid4vciError`]), never the hosted error shape.

use crate::openapi::{Op, Routes};
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::DateTime;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;
use verity_contracts::Contract;
use verity_issuance::openid4vci::{
    self as vci, AccessGrant, AccessTokenKey, CredentialConfiguration, ExpectedTxCode, Format,
    IssuerDescriptor, IssuerDisplay, NonceKey, Oid4vciError, ProofPolicy, StatelessNonces,
};
use verity_issuance::{CredentialDraft, SdJwtVcDraft};
use verity_jose::Algorithm;
use verity_store::{
    Authority, FlowRequest, FlowStatus, NewIssuedCredential, OnceRecord, PinOutcome, Rejection,
    RequestKind, TransitionOutcome,
};

use crate::authorities;
use crate::error::ApiError;
use crate::flows;
use crate::routes::issuance::{MAX_PIN_FAILURES, allocate_status};
use crate::state::AppState;

/// The `profile` value of createIssuanceRequest that makes an OpenID4VCI offer.
pub const PROFILE: &str = "openid4vci";
/// How long an access token lives, seconds.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 300;
/// How long a `c_nonce` is accepted, seconds.
pub const NONCE_LIFETIME_SECS: i64 = 300;
/// Oldest key proof accepted (its `iat`), seconds.
pub const PROOF_MAX_AGE_SECS: i64 = 300;
/// Replay scope of the `c_nonce`s of accepted key proofs.
pub const NONCE_SCOPE: &str = "openid4vci-c_nonce";

/// The configuration id suffix and format of the two credentials one contract offers.
const FORMATS: [(&str, &str); 2] = [("dc+sd-jwt", "sd_jwt"), ("jwt_vc_json", "jwt_vc")];

pub fn routes(r: &mut Routes) {
    r.get(
        "/.well-known/openid-credential-issuer/openid4vci/{authority}",
        issuer_metadata,
        Op::new(
            "vciIssuerMetadata",
            "OpenID4VCI",
            "Credential Issuer Metadata of an authority",
        )
        .ok_any(
            200,
            "Credential configurations (dc+sd-jwt, jwt_vc_json) of its enabled contracts",
        )
        .oauth_errors()
        .error(404, &[]),
    )
    .get(
        "/.well-known/oauth-authorization-server/openid4vci/{authority}",
        as_metadata,
        Op::new(
            "vciAuthorizationServerMetadata",
            "OpenID4VCI",
            "Authorization Server Metadata (pre-authorized code grant)",
        )
        .ok_any(200, "RFC 8414 metadata")
        .oauth_errors()
        .error(404, &[]),
    )
    .get(
        "/openid4vci/{authority}/offers/{request}",
        offer,
        Op::new("vciOffer", "OpenID4VCI", "A Credential Offer by reference")
            .ok_any(200, "The credential offer")
            .oauth_errors()
            .error(404, &[]),
    )
    .post(
        "/openid4vci/{authority}/token",
        token,
        Op::new(
            "vciToken",
            "OpenID4VCI",
            "Redeems a pre-authorized code (and tx_code) for an access token",
        )
        .body_form(
            &[
                (
                    "grant_type",
                    true,
                    "`urn:ietf:params:oauth:grant-type:pre-authorized_code`",
                ),
                ("pre-authorized_code", true, "From the offer"),
                (
                    "tx_code",
                    false,
                    "The transaction code the holder was given",
                ),
            ],
            "Token request",
        )
        .ok_any(200, "`access_token`, `token_type`, `expires_in`")
        .oauth_errors()
        .error(400, &[])
        .error(429, &[]),
    )
    .post(
        "/openid4vci/{authority}/nonce",
        nonce,
        Op::new("vciNonce", "OpenID4VCI", "A fresh `c_nonce` for key proofs")
            .ok_any(200, "`{ \"c_nonce\": ... }`")
            .oauth_errors()
            .error(404, &[]),
    )
    .post(
        "/openid4vci/{authority}/credential",
        credential,
        Op::new(
            "vciCredential",
            "OpenID4VCI",
            "Issues the credential bound to the wallet's key proof",
        )
        .wallet_token()
        .body_any("`credential_configuration_id` and `proofs.jwt` (one key proof)")
        .ok_any(200, "`{ \"credentials\": [ { \"credential\": ... } ] }`")
        .oauth_errors()
        .error(400, &[]),
    );
}

/// The answer of an OpenID4VCI endpoint that failed: the spec's error body (with
/// `WWW-Authenticate` for the credential endpoint's token errors and `no-store`), or one of our
/// own errors (store outage, signing failure) in the API's shape.
#[derive(Debug)]
pub enum Reply {
    /// An error the spec names.
    Spec(Oid4vciError),
    /// Anything else.
    Api(ApiError),
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Spec(e) => write!(f, "{}: {e}", e.error_code()),
            Reply::Api(e) => e.fmt(f),
        }
    }
}

impl ResponseError for Reply {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Reply::Spec(e) => actix_web::http::StatusCode::from_u16(e.status())
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
            Reply::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Reply::Spec(e) => {
                let mut r = HttpResponse::build(self.status_code());
                r.insert_header((header::CACHE_CONTROL, "no-store"));
                if let Some(v) = e.www_authenticate()
                    && let Ok(v) = HeaderValue::from_str(&v)
                {
                    r.insert_header((header::WWW_AUTHENTICATE, v));
                }
                r.json(e.to_json())
            }
            Reply::Api(e) => e.error_response(),
        }
    }
}

impl From<Oid4vciError> for Reply {
    fn from(e: Oid4vciError) -> Self {
        Reply::Spec(e)
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::Api(e)
    }
}

impl From<verity_store::StoreError> for Reply {
    fn from(e: verity_store::StoreError) -> Self {
        Reply::Api(e.into())
    }
}

impl From<verity_issuance::IssuanceError> for Reply {
    fn from(e: verity_issuance::IssuanceError) -> Self {
        Reply::Api(e.into())
    }
}

impl From<authorities::AuthorityError> for Reply {
    fn from(e: authorities::AuthorityError) -> Self {
        Reply::Api(e.into())
    }
}

/// The credential issuer identifier of an authority.
pub fn issuer_id(state: &AppState, authority: Uuid) -> String {
    format!("{}/openid4vci/{authority}", state.public_url)
}

/// The configuration id of `contract` in `format` (`dc+sd-jwt` or `jwt_vc_json`).
pub fn configuration_id(contract: Uuid, format: &str) -> Option<String> {
    FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, suffix)| format!("{contract}.{suffix}"))
}

/// The `vct` of a contract's SD-JWT VC.
pub fn vct_of(state: &AppState, contract: &Contract) -> String {
    verity_issuance::default_vct(&state.public_url, &contract.id)
}

/// The key that MACs `c_nonce`s and the one that MACs access tokens, derived from the
/// key-encryption key every replica shares (so any replica checks what another issued).
fn nonce_key(state: &AppState) -> Result<NonceKey, Reply> {
    NonceKey::new(
        state
            .subkeys
            .derive_subkey(b"verity openid4vci c_nonce")
            .as_slice(),
    )
    .map_err(|e| Reply::Api(ApiError::internal(e)))
}

fn access_token_key(state: &AppState) -> Result<AccessTokenKey, Reply> {
    AccessTokenKey::new(
        state
            .subkeys
            .derive_subkey(b"verity openid4vci access token")
            .as_slice(),
    )
    .map_err(|e| Reply::Api(ApiError::internal(e)))
}

async fn authority_at(state: &AppState, path: &str) -> Result<Authority, Reply> {
    let not_found = || {
        Reply::Api(ApiError::not_found(format!(
            "credential issuer `{path}` not found"
        )))
    };
    let id = Uuid::parse_str(path).map_err(|_| not_found())?;
    state.store.authority(id).await?.ok_or_else(not_found)
}

/// The enabled contracts of `authority` that can be offered with a pre-authorized code.
async fn offerable_contracts(
    state: &AppState,
    authority: &Authority,
) -> Result<Vec<(verity_store::Contract, Contract)>, Reply> {
    let mut out = Vec::new();
    for stored in state
        .store
        .list_contracts(Some(authority.tenant_id))
        .await?
    {
        if let Some(offerable) = offerable(authority, stored)? {
            out.push(offerable);
        }
    }
    Ok(out)
}

/// `stored`, parsed, when it is a contract of `authority` the metadata publishes: enabled,
/// with claims that all come from the app.
fn offerable(
    authority: &Authority,
    stored: verity_store::Contract,
) -> Result<Option<(verity_store::Contract, Contract)>, Reply> {
    if stored.authority_id != authority.id || !stored.enabled {
        return Ok(None);
    }
    let parsed = flows::load_contract(&stored)?;
    Ok(verity_issuance::pre_authorizable(&parsed).then_some((stored, parsed)))
}

/// The contract a configuration id names (`{contract}.{suffix}`, see [`configuration_id`]),
/// when the authority's metadata publishes it: one lookup instead of listing every contract.
async fn configuration_contract(
    state: &AppState,
    authority: &Authority,
    id: &str,
) -> Result<Option<(verity_store::Contract, Contract)>, Reply> {
    let Some((text, suffix)) = id.split_once('.') else {
        return Ok(None);
    };
    let Ok(contract) = Uuid::parse_str(text) else {
        return Ok(None);
    };
    // The canonical spelling only, as the metadata lists it.
    if !FORMATS.iter().any(|(_, s)| *s == suffix) || contract.to_string() != text {
        return Ok(None);
    }
    match state.store.contract(contract).await? {
        Some(stored) => offerable(authority, stored),
        None => Ok(None),
    }
}

/// The algorithms the authority signs credentials with: its active key's.
async fn signing_algs(state: &AppState, authority: &Authority) -> Result<Vec<Algorithm>, Reply> {
    Ok(state
        .store
        .active_key(authority.id)
        .await?
        .and_then(|k| k.alg.parse::<Algorithm>().ok())
        .into_iter()
        .collect())
}

fn configurations(
    state: &AppState,
    contracts: &[(verity_store::Contract, Contract)],
    algs: &[Algorithm],
) -> Vec<CredentialConfiguration> {
    let mut out = Vec::new();
    for (stored, parsed) in contracts {
        for (format, _) in FORMATS {
            let Some(id) = configuration_id(stored.id, format) else {
                continue;
            };
            let f = match format {
                "dc+sd-jwt" => Format::DcSdJwt {
                    vct: vct_of(state, parsed),
                },
                _ => Format::JwtVcJson,
            };
            out.push(CredentialConfiguration::from_contract(id, parsed, f, algs));
        }
    }
    out
}

fn descriptor(state: &AppState, authority: &Authority) -> IssuerDescriptor {
    let id = issuer_id(state, authority.id);
    IssuerDescriptor {
        credential_endpoint: format!("{id}/credential"),
        nonce_endpoint: format!("{id}/nonce"),
        // The issuer is its own authorization server: metadata leaves the list out (12.2.4).
        authorization_servers: Vec::new(),
        display: vec![IssuerDisplay {
            name: authority.name.clone(),
            locale: None,
            logo: None,
        }],
        credential_issuer: id,
    }
}

async fn issuer_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Reply> {
    let authority = authority_at(&state, &path).await?;
    let contracts = offerable_contracts(&state, &authority).await?;
    let algs = signing_algs(&state, &authority).await?;
    let body = vci::credential_issuer_metadata(
        &descriptor(&state, &authority),
        &configurations(&state, &contracts, &algs),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(body))
}

async fn as_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Reply> {
    let authority = authority_at(&state, &path).await?;
    let d = descriptor(&state, &authority);
    let token_endpoint = format!("{}/token", d.credential_issuer);
    Ok(HttpResponse::Ok().json(vci::authorization_server_metadata(&d, &token_endpoint)))
}

// ------------------------------------------------------------------------------------------
// Offers
// ------------------------------------------------------------------------------------------

/// What createIssuanceRequest stores for an OpenID4VCI offer (`payload.openid4vci`): the
/// configuration offered, after checking the format the RP asked for.
pub fn offer_payload(contract: Uuid, format: Option<&str>) -> Result<Value, ApiError> {
    let format = format.unwrap_or("dc+sd-jwt");
    let configuration_id = configuration_id(contract, format).ok_or_else(|| {
        ApiError::bad_field(
            "format",
            format!(
                "`{format}` is not an OpenID4VCI format Verity issues (dc+sd-jwt, jwt_vc_json)"
            ),
        )
    })?;
    Ok(json!({ "configurationId": configuration_id, "format": format }))
}

/// The pre-authorized code of an offer: `<request id>.<MAC of the id>`, with a key every
/// replica derives from the key-encryption key. Nothing is stored: the offer by reference
/// recomputes it, the token endpoint checks it by recomputing. The code is as public as the
/// offer that carries it; the `tx_code` and the single redemption protect the credential.
pub fn offer_code(state: &AppState, request_id: Uuid) -> Result<String, ApiError> {
    use base64::Engine as _;
    use hmac::Mac as _;
    let key = state
        .subkeys
        .derive_subkey(b"verity openid4vci pre-authorized code");
    let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(key.as_slice())
        .map_err(ApiError::internal)?;
    mac.update(request_id.as_bytes());
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{request_id}.{tag}"))
}

/// The `openid-credential-offer://` URL of an offer: by reference (a URL the wallet GETs) for
/// QR codes, or by value.
pub fn offer_url(state: &AppState, req_authority: Uuid, request_id: Uuid) -> String {
    vci::offer_uri_by_reference(&format!(
        "{}/offers/{request_id}",
        issuer_id(state, req_authority)
    ))
}

/// The offer object of a request (4.1.1); `code` is the pre-authorized code.
pub fn offer_object(state: &AppState, req: &FlowRequest, code: &str) -> vci::CredentialOffer {
    let p = &req.payload;
    let tx_code = p["pin"]["length"].as_u64().map(|len| vci::TxCode {
        length: u32::try_from(len).ok(),
        input_mode: vci::TxInputMode::Numeric,
        description: Some("The PIN the organisation gave you with this offer".into()),
    });
    vci::CredentialOffer {
        credential_issuer: issuer_id(state, req.authority_id),
        credential_configuration_ids: p["openid4vci"]["configurationId"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        pre_authorized_code: code.to_owned(),
        tx_code,
    }
}

/// Whether a stored request is an OpenID4VCI offer.
pub fn is_offer(req: &FlowRequest) -> bool {
    req.kind == RequestKind::Issuance && req.payload["profile"].as_str() == Some(PROFILE)
}

async fn offer(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Reply> {
    let (authority, request) = path.into_inner();
    let authority = authority_at(&state, &authority).await?;
    let not_found = || {
        Reply::Api(ApiError::not_found(format!(
            "credential offer `{request}` not found"
        )))
    };
    let id = Uuid::parse_str(&request).map_err(|_| not_found())?;
    let req = flows::live_request(&state, id).await?;
    if !is_offer(&req) || req.authority_id != authority.id {
        return Err(not_found());
    }
    let offer = offer_object(&state, &req, &offer_code(&state, req.id)?);
    flows::mark_retrieved(&state, &req).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(offer.to_json()))
}

// ------------------------------------------------------------------------------------------
// Token endpoint (section 6)
// ------------------------------------------------------------------------------------------

fn invalid_grant(reason: impl Into<String>) -> Reply {
    Reply::Spec(Oid4vciError::InvalidGrant {
        reason: reason.into(),
    })
}

/// The request a pre-authorized code names, when the code is that request's.
async fn request_of_code(
    state: &AppState,
    authority: &Authority,
    code: &str,
) -> Result<FlowRequest, Reply> {
    let unknown = || invalid_grant("the pre-authorized code is unknown");
    let (id, _) = code.split_once('.').ok_or_else(unknown)?;
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    if !vci::secrets_equal(code, &offer_code(state, id)?) {
        return Err(unknown());
    }
    let req = state.store.request(id).await?.ok_or_else(unknown)?;
    if !is_offer(&req) || req.authority_id != authority.id {
        return Err(unknown());
    }
    Ok(req)
}

/// Why a redeemed, locked, ended or expired offer's code is refused.
fn refuse_code(req: &FlowRequest, now: DateTime<chrono::Utc>) -> Result<(), Reply> {
    if req.payload["pin"]["hash"].is_string() && req.pin_failures >= MAX_PIN_FAILURES {
        return Err(invalid_grant(
            "the offer is locked after too many wrong transaction codes (`tx_code`)",
        ));
    }
    match req.status.parse::<FlowStatus>() {
        Ok(FlowStatus::RequestCreated | FlowStatus::RequestRetrieved) => {}
        Ok(FlowStatus::IssuanceError) => {
            return Err(invalid_grant("the offer has ended with an error"));
        }
        _ => return Err(invalid_grant("the pre-authorized code was already used")),
    }
    if now >= req.expires_at {
        return Err(invalid_grant("the pre-authorized code has expired"));
    }
    Ok(())
}

async fn token(
    http: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, Reply> {
    // Before anything is looked up: a guesser spends its budget even on unknown codes.
    if let Err(l) = state
        .limits
        .check(crate::limits::Endpoint::OpenId4VciToken, &http)
    {
        return Ok(l.oauth_response("token requests"));
    }
    let authority = authority_at(&state, &path).await?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let request = vci::parse_token_request(&form)?;
    let req = request_of_code(&state, &authority, &request.pre_authorized_code).await?;
    refuse_code(&req, state.clock.now())?;
    let expected = req.payload["pin"]["hash"]
        .as_str()
        .map(|hash| ExpectedTxCode {
            salt: req.payload["pin"]["salt"].as_str().unwrap_or_default(),
            hash,
        });
    if let Err(e) = request.check_tx_code(expected) {
        return Err(match e {
            Oid4vciError::InvalidGrant { .. } => wrong_tx_code(&state, &req).await?,
            other => other.into(),
        });
    }
    let t = flows::step(&state, &req, FlowStatus::TokenIssued, None);
    match flows::apply(&state, &t).await? {
        TransitionOutcome::Applied(_) => {}
        TransitionOutcome::Rejected(Rejection::Expired, _) => {
            return Err(invalid_grant("the pre-authorized code has expired"));
        }
        TransitionOutcome::Rejected(_, current) => {
            refuse_code(&current, state.clock.now())?;
            return Err(invalid_grant("the pre-authorized code was already used"));
        }
    }
    let expires_at = state.clock.unix() + ACCESS_TOKEN_TTL_SECS;
    let access_token = vci::mint_access_token(
        &access_token_key(&state)?,
        &AccessGrant {
            request_id: req.id,
            expires_at,
        },
    );
    tracing::info!(request_id = %req.id, "pre-authorized code redeemed");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(vci::token_response(&access_token, ACCESS_TOKEN_TTL_SECS)))
}

/// Counts a wrong `tx_code` with the PIN lockout, in one store step; the answer is
/// `invalid_grant` either way (6.3), saying how many attempts are left.
async fn wrong_tx_code(state: &AppState, req: &FlowRequest) -> Result<Reply, Reply> {
    let err =
        json!({ "code": "IssuanceFlowFailed", "message": "too many wrong transaction codes" });
    let lock = flows::step(
        state,
        req,
        FlowStatus::IssuanceError,
        flows::error_extra(err),
    );
    let outcome = state
        .store
        .record_pin_failure(req.id, MAX_PIN_FAILURES, &[], &lock, state.clock.now())
        .await?;
    Ok(match outcome {
        PinOutcome::Counted(n) => invalid_grant(format!(
            "the transaction code (`tx_code`) is wrong ({} of {MAX_PIN_FAILURES} attempts left)",
            MAX_PIN_FAILURES - n
        )),
        PinOutcome::LockedNow(_) => {
            state.outbox.wake();
            tracing::info!(request_id = %req.id, "offer locked after too many wrong tx_codes");
            invalid_grant("the transaction code (`tx_code`) is wrong: the offer is now locked")
        }
        PinOutcome::Rejected(Rejection::Expired, _) => {
            invalid_grant("the pre-authorized code has expired")
        }
        PinOutcome::Rejected(_, current) => match refuse_code(&current, state.clock.now()) {
            Err(e) => e,
            Ok(()) => invalid_grant("the pre-authorized code was already used"),
        },
    })
}

// ------------------------------------------------------------------------------------------
// Nonce endpoint (section 7)
// ------------------------------------------------------------------------------------------

async fn nonce(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, Reply> {
    authority_at(&state, &path).await?;
    let c_nonce = vci::issue_nonce(&nonce_key(&state)?, state.clock.unix());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(vci::nonce_response(&c_nonce)))
}

// ------------------------------------------------------------------------------------------
// Credential endpoint (section 8)
// ------------------------------------------------------------------------------------------

fn bearer(http: &HttpRequest) -> Result<&str, Reply> {
    let missing = || {
        Reply::Spec(Oid4vciError::InvalidToken {
            reason: "an access token is required: `Authorization: Bearer <token>`".into(),
        })
    };
    let value = http
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

async fn credential(
    http: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, Reply> {
    let authority = authority_at(&state, &path).await?;
    let grant = vci::check_access_token(
        &access_token_key(&state)?,
        bearer(&http)?,
        state.clock.unix(),
    )?;
    let not_ours = || {
        Reply::Spec(Oid4vciError::InvalidToken {
            reason: "the access token is not for this credential issuer".into(),
        })
    };
    let req = state
        .store
        .request(grant.request_id)
        .await?
        .ok_or_else(not_ours)?;
    if !is_offer(&req) || req.authority_id != authority.id {
        return Err(not_ours());
    }
    let max_depth = state.limits.json_max_depth();
    crate::limits::check_json_depth(&body, max_depth).map_err(|max| {
        Reply::Spec(Oid4vciError::InvalidCredentialRequest {
            parameter: "(body)",
            reason: format!("nests arrays and objects deeper than the limit of {max} levels"),
        })
    })?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        Reply::Spec(Oid4vciError::InvalidCredentialRequest {
            parameter: "(body)",
            reason: format!("is not JSON: {e}"),
        })
    })?;
    // Only the configuration asked for is looked up: known when the metadata publishes it.
    let asked = body["credential_configuration_id"]
        .as_str()
        .unwrap_or_default();
    let contract = configuration_contract(&state, &authority, asked).await?;
    let known: &[&str] = if contract.is_some() { &[asked] } else { &[] };
    let request = vci::parse_credential_request(&body, known)?;
    let offered = req.payload["openid4vci"]["configurationId"]
        .as_str()
        .unwrap_or_default();
    if request.credential_configuration_id != offered {
        return Err(Oid4vciError::InsufficientScope {
            reason: "the access token does not cover this credential_configuration_id".into(),
        }
        .into());
    }
    refuse_delivered(&req)?;
    let issuer = issuer_id(&state, authority.id);
    let algs = Algorithm::ALL;
    let nonce_key = nonce_key(&state)?;
    let nonces = StatelessNonces {
        key: &nonce_key,
        lifetime: NONCE_LIFETIME_SECS,
    };
    let policy = ProofPolicy {
        credential_issuer: &issuer,
        allowed_algs: &algs,
        nonces: &nonces,
        now: state.clock.unix(),
        max_age: PROOF_MAX_AGE_SECS,
        skew: state.config.auth.clock_skew_secs,
    };
    let mut bindings = vci::verify_proofs(&request, &policy)?;
    let binding = bindings.pop().ok_or_else(|| {
        Reply::Spec(Oid4vciError::InvalidProof {
            index: 0,
            check: vci::ProofCheck::Malformed,
            reason: "`proofs.jwt` holds no proof".into(),
        })
    })?;
    // The offered configuration names the offer's contract, found above.
    let Some((stored, contract)) = contract else {
        return Err(Reply::Api(ApiError::internal(
            "the offered configuration has no contract",
        )));
    };
    let hint = req.payload["claims"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let subject = verity_issuance::pre_authorized_claims(&contract, &hint)?;
    let format = req.payload["openid4vci"]["format"]
        .as_str()
        .unwrap_or_default();
    let (token, record) = sign(
        &state, &req, &authority, &stored, &contract, format, &binding, subject,
    )
    .await?;
    let nonce_record = OnceRecord {
        scope: NONCE_SCOPE.into(),
        value: binding.nonce.clone(),
        expires_at: DateTime::from_timestamp(
            binding.issued_at.max(state.clock.unix()) + NONCE_LIFETIME_SECS + vci::NONCE_SKEW_SECS,
            0,
        )
        .unwrap_or(req.expires_at),
    };
    let jti = record.jti.clone();
    let mut t = flows::step(&state, &req, FlowStatus::IssuanceSuccessful, None);
    t.issued = Some(record);
    t.once = vec![nonce_record];
    // The access token was checked: its lifetime, not the offer's, bounds the delivery.
    t.require_live = false;
    match flows::apply(&state, &t).await? {
        TransitionOutcome::Applied(_) => {
            tracing::info!(request_id = %req.id, jti = %jti, format, "credential issued (openid4vci)");
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(vci::credential_response(&[token])))
        }
        TransitionOutcome::Rejected(Rejection::Replay { .. }, _) => {
            Err(Oid4vciError::InvalidNonce {
                check: vci::NonceCheck::Rejected,
            }
            .into())
        }
        TransitionOutcome::Rejected(_, current) => {
            refuse_delivered(&current)?;
            Err(Oid4vciError::InvalidToken {
                reason: "the access token's offer can no longer issue".into(),
            }
            .into())
        }
    }
}

/// An access token delivers one credential: once its offer is final it is refused.
fn refuse_delivered(req: &FlowRequest) -> Result<(), Reply> {
    match req.status.parse::<FlowStatus>() {
        Ok(FlowStatus::TokenIssued) => Ok(()),
        Ok(FlowStatus::IssuanceSuccessful) => Err(Oid4vciError::InvalidToken {
            reason: "the access token was already used for its credential".into(),
        }
        .into()),
        _ => Err(Oid4vciError::InvalidToken {
            reason: "the access token's offer can no longer issue".into(),
        }
        .into()),
    }
}

/// Allocates the status entry and signs the credential in the offer's format; the record is
/// written by the delivery step.
#[allow(clippy::too_many_arguments)]
async fn sign(
    state: &AppState,
    req: &FlowRequest,
    authority: &Authority,
    stored: &verity_store::Contract,
    contract: &Contract,
    format: &str,
    binding: &vci::HolderBinding,
    subject: serde_json::Map<String, Value>,
) -> Result<(String, NewIssuedCredential), Reply> {
    let now = state.clock.now();
    let (allocation, status) =
        allocate_status(state, authority, contract, format == "jwt_vc_json").await?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, authority).await?;
    let cap = req.payload["expirationDate"].as_i64();
    let holder_did = binding.holder_did().ok_or_else(|| {
        Reply::Spec(Oid4vciError::InvalidProof {
            index: 0,
            check: vci::ProofCheck::Key,
            reason: "the proof's key has no DID".into(),
        })
    })?;
    let (token, id, jti, indexed, expires_at) = match format {
        "dc+sd-jwt" => {
            let vct = vct_of(state, contract);
            let issued = verity_issuance::issue_sd_jwt_vc(
                &signer,
                SdJwtVcDraft {
                    contract,
                    contract_id: stored.id,
                    issuer_did: &authority.did,
                    vct: &vct,
                    holder_key: binding.jwk.clone(),
                    subject,
                    expiration_cap: cap,
                    status,
                    now: now.timestamp(),
                },
            )
            .await?;
            let jti = format!("urn:uuid:{}", issued.id);
            (
                issued.token,
                issued.id,
                jti,
                issued.indexed_claim_hash,
                issued.expires_at,
            )
        }
        "jwt_vc_json" => {
            let issued = verity_issuance::issue_credential(
                &signer,
                CredentialDraft {
                    contract,
                    contract_id: stored.id,
                    issuer_did: &authority.did,
                    holder_did: &holder_did,
                    subject,
                    expiration_cap: cap,
                    status,
                    now: now.timestamp(),
                },
            )
            .await?;
            (
                issued.token,
                issued.id,
                issued.jti,
                issued.indexed_claim_hash,
                issued.expires_at,
            )
        }
        other => {
            return Err(Reply::Api(ApiError::internal(format!(
                "offer {} has an unknown format {other:?}",
                req.id
            ))));
        }
    };
    let record = NewIssuedCredential {
        id,
        jti,
        tenant_id: req.tenant_id,
        contract_id: Some(stored.id),
        authority_id: authority.id,
        request_id: Some(req.id),
        subject_did: holder_did,
        status_list_id: allocation.as_ref().map(|a| a.list_id),
        status_index: allocation.as_ref().map(|a| a.index),
        indexed_claim_hash: indexed,
        issued_at: now,
        expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or(now),
    };
    Ok((token, record))
}
