//! W3C CCG VC-API, credentials: `POST /vc-api/credentials/issue` signs a VCDM 2.0 credential
//! as a vc+jwt with one of the caller's tenant's authorities and answers it enveloped;
//! `POST /vc-api/credentials/verify` verifies one (`verity_vcdm`) and answers the
//! `checks` / `warnings` / `errors` shape. Authenticated like the admin and Request Service
//! APIs: the admin token (any tenant) or an API client's token or API key (its tenant only).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{ApiError, InnerCode};
use crate::extract::{AdminCaller, ApiCaller, ApiJson};
use crate::openapi::{Op, Routes};
use crate::state::AppState;

const TAG: &str = "VC-API";

pub fn routes(r: &mut Routes) {
    r.post(
        "/vc-api/credentials/issue",
        issue,
        Op::new("vcApiIssueCredential", TAG, "Signs a credential: VCDM 2.0 as a vc+jwt (VC-JOSE-COSE), VCDM 1.1 as a JWT with a `vc` claim")
            .describe("The issuer (`options.issuer`, else `credential.issuer`) must be an authority of the caller's tenant (any tenant with the admin token). The base context picks the data model. VCDM 2.0: the answer's `verifiableCredential` is an `EnvelopedVerifiableCredential` whose `id` is `data:application/vc+jwt,<JWS>`; the JWS payload is the credential, `typ` `vc+jwt`. VCDM 1.1 (`@context` first `https://www.w3.org/2018/credentials/v1`, `issuanceDate` required): the answer's `verifiableCredential` is the compact JWT, `typ` `JWT`, the credential under `vc` with `iss`, `jti`, `sub`, `nbf`, `exp` mapped from it. With `options.credentialStatus` (`{\"type\": \"BitstringStatusListEntry\", \"statusPurpose\": \"revocation\" | [\"revocation\", \"suspension\"]}`) the issuer writes the status entries (an index of the authority's open list) and records the credential under its `id` (given one when it has none), so the admin API and CLI revoke, suspend and resume it; 409 when a credential with that `id` was already recorded.")
            .api()
            .body::<IssueRequest>("The credential without proof, and options")
            .ok_any(201, "`{ \"verifiableCredential\": { \"@context\", \"id\": \"data:application/vc+jwt,...\", \"type\": \"EnvelopedVerifiableCredential\" } }`")
            .bad_request()
            .error(403, &[InnerCode::Forbidden])
            .error(409, &[InnerCode::Conflict]),
    )
    .post(
        "/vc-api/credentials/verify",
        verify,
        Op::new("vcApiVerifyCredential", TAG, "Verifies a credential secured as a vc+jwt (VCDM 2.0) or a JWT (VCDM 1.1)")
            .describe("Resolves the issuer (did:web, did:key, did:jwk), checks that the key is an assertion method of that DID, the signature, the VCDM 2.0 rules, the validity period and every `credentialStatus` entry against its list (this service's own lists read from its database, so a revocation or suspension counts at once; others' over HTTPS). 200 with `checks` when it verifies; 400 with `errors` (each with its `VCDM-0xx` code and the field; `VCDM-010` revoked, `VCDM-011` suspended) when it does not; 503 with `Retry-After` when the issuer's DID or a status list cannot be read now (fail closed: no verdict).")
            .api()
            .body::<VerifyRequest>("The secured credential")
            .ok_any(200, "`{ \"checks\": [...], \"warnings\": [...], \"errors\": [] }`")
            .ok_any(400, "`{ \"checks\": [...], \"warnings\": [], \"errors\": [ { \"code\", \"field\", \"message\" } ] }`"),
    )
    .post(
        "/vc-api/presentations/prove",
        prove,
        Op::new("vcApiProvePresentation", TAG, "Signs a VCDM 2.0 presentation as a vp+jwt")
            .describe("The holder (`options.holder`, else `presentation.holder`) must be an authority of the caller's tenant; `options.challenge` and `options.domain` become the presentation's `nonce` and `aud`. Credentials in it must be enveloped.")
            .api()
            .body::<ProveRequest>("The presentation without proof, and options")
            .ok_any(201, "`{ \"verifiablePresentation\": { \"@context\", \"id\": \"data:application/vp+jwt,...\", \"type\": \"EnvelopedVerifiablePresentation\" } }`")
            .bad_request()
            .error(403, &[InnerCode::Forbidden]),
    )
    .post(
        "/vc-api/presentations/verify",
        verify_presentation,
        Op::new("vcApiVerifyPresentation", TAG, "Verifies a presentation secured as a vp+jwt and every credential in it")
            .describe("The holder's signature (a key of its DID's `authentication`), `options.challenge` / `options.domain` against `nonce` / `aud`, and each credential as `/credentials/verify` does; a refusal inside names `verifiableCredential[i]`.")
            .api()
            .body::<VerifyPresentationRequest>("The secured presentation and what it must be bound to")
            .ok_any(200, "`{ \"checks\": [...], \"warnings\": [...], \"errors\": [] }`")
            .ok_any(400, "`{ \"checks\": [], \"warnings\": [], \"errors\": [ { \"code\", \"field\", \"message\" } ] }`"),
    );
}

/// `POST /vc-api/presentations/prove`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveRequest {
    /// A VCDM 2.0 presentation without proof; its credentials enveloped.
    pub presentation: Value,
    #[serde(default)]
    pub options: ProveOptions,
}

/// Prove options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProveOptions {
    /// The DID of the authority that signs as holder; defaults to `presentation.holder`.
    #[serde(default)]
    pub holder: Option<String>,
    /// The verifier's challenge, written as `nonce`.
    #[serde(default)]
    pub challenge: Option<String>,
    /// The verifier's domain, written as `aud`.
    #[serde(default)]
    pub domain: Option<String>,
}

/// `POST /vc-api/presentations/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyPresentationRequest {
    /// An `EnvelopedVerifiablePresentation`, its `data:application/vp+jwt,...` id, or the
    /// bare compact JWS.
    pub verifiable_presentation: Value,
    #[serde(default)]
    pub options: VerifyPresentationOptions,
}

/// What the presentation must be bound to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyPresentationOptions {
    /// Expected in `nonce`.
    #[serde(default)]
    pub challenge: Option<String>,
    /// Expected in `aud`.
    #[serde(default)]
    pub domain: Option<String>,
}

/// `POST /vc-api/credentials/issue`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// A credential without proof: VCDM 2.0 (`@context` first
    /// `https://www.w3.org/ns/credentials/v2`) or VCDM 1.1 (first
    /// `https://www.w3.org/2018/credentials/v1`).
    pub credential: Value,
    #[serde(default)]
    pub options: IssueOptions,
}

/// Issue options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssueOptions {
    /// The DID of the authority to sign with; defaults to `credential.issuer`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Ask the issuer to add the status entries itself:
    /// `{"type": "BitstringStatusListEntry"}` for a revocable credential (`statusPurpose`
    /// `"revocation"`, the default), `"statusPurpose": ["revocation", "suspension"]` for one
    /// that can also be suspended and resumed. The credential is then recorded, so
    /// `verity credential revoke|suspend|resume --jti <its id>` and the admin API act on it;
    /// it gets an `id` (`urn:uuid:...`) when it has none.
    #[serde(default)]
    pub credential_status: Option<Value>,
}

/// What `options.credentialStatus` asks for: `true` for revocation and suspension, `false`
/// for revocation only. Anything else is refused with the member at fault.
fn status_option(v: &Value) -> Result<bool, ApiError> {
    const FIELD: &str = "options.credentialStatus";
    let Some(o) = v.as_object() else {
        return Err(ApiError::bad_field(FIELD, "must be an object"));
    };
    if let Some(other) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "statusPurpose"))
    {
        return Err(ApiError::bad_field(
            format!("{FIELD}.{other}"),
            "is not an option of credentialStatus (type, statusPurpose)",
        ));
    }
    match o.get("type").and_then(Value::as_str) {
        Some(verity_status_list::ENTRY_TYPE) => {}
        Some(other) => {
            return Err(ApiError::bad_field(
                format!("{FIELD}.type"),
                format!("`{other}` is not supported; this issuer writes BitstringStatusListEntry"),
            ));
        }
        None => {
            return Err(ApiError::bad_field(
                format!("{FIELD}.type"),
                "is required: BitstringStatusListEntry",
            ));
        }
    }
    let field = format!("{FIELD}.statusPurpose");
    let purposes: Vec<&str> = match o.get("statusPurpose") {
        None => vec!["revocation"],
        Some(Value::String(p)) => vec![p.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| ApiError::bad_field(&field, "must hold strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_field(
                &field,
                "must be \"revocation\" or [\"revocation\", \"suspension\"]",
            ));
        }
    };
    if let Some(unknown) = purposes
        .iter()
        .find(|p| !matches!(**p, "revocation" | "suspension"))
    {
        return Err(ApiError::bad_field(
            &field,
            format!("`{unknown}` is not a purpose this issuer supports (revocation, suspension)"),
        ));
    }
    let suspension = purposes.contains(&"suspension");
    if !purposes.contains(&"revocation") {
        return Err(ApiError::bad_field(
            &field,
            "a suspendable credential is also revocable here: ask for [\"revocation\", \"suspension\"]",
        ));
    }
    if purposes.len() > 1 + usize::from(suspension) {
        return Err(ApiError::bad_field(&field, "names a purpose twice"));
    }
    Ok(suspension)
}

/// `POST /vc-api/credentials/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyRequest {
    /// VCDM 2.0: an `EnvelopedVerifiableCredential`, its `data:application/vc+jwt,...` id, or
    /// the bare vc+jwt. VCDM 1.1: the JWT (`typ` `JWT` or none) with the `vc` claim. Plain
    /// JSON and other media types are refused.
    pub verifiable_credential: Value,
    /// Reserved for verification options; none are defined yet.
    #[serde(default)]
    pub options: Option<serde_json::Map<String, Value>>,
}

/// A VC-API caller: the operator (every tenant) or an API client (its tenant).
#[derive(Debug, Clone)]
pub enum VcApiCaller {
    /// The admin token.
    Admin,
    /// An API client's access token or API key.
    Tenant(ApiCaller),
}

impl VcApiCaller {
    fn may_use(&self, tenant_id: Uuid) -> bool {
        match self {
            Self::Admin => true,
            Self::Tenant(c) => c.tenant_id == tenant_id,
        }
    }
}

impl FromRequest for VcApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let admin = AdminCaller::from_request(&req, &mut Payload::None).await;
            if admin.is_ok() {
                return Ok(Self::Admin);
            }
            ApiCaller::from_request(&req, &mut Payload::None)
                .await
                .map(Self::Tenant)
        })
    }
}

async fn issue(
    caller: VcApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<IssueRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut credential = body.credential;
    if !credential.is_object() {
        return Err(ApiError::bad_field("credential", "must be a JSON object"));
    }
    let named = named_did(&credential["issuer"]);
    let did = chosen_did(
        &body.options.issuer,
        &named,
        "options.issuer",
        "credential.issuer",
    )?;
    let authority = caller_authority(&state, &caller, &did, "credential.issuer").await?;
    if named.is_none() {
        credential["issuer"] = json!(did);
    }
    let suspendable = body
        .options
        .credential_status
        .as_ref()
        .map(status_option)
        .transpose()?;
    // The data model follows the base context: VCDM 1.1 credentials become JWTs with a `vc`
    // claim, VCDM 2.0 ones vc+jwt. Checked before a status index is taken for it.
    let v1 = credential["@context"].get(0).and_then(Value::as_str) == Some(verity_vcdm::CONTEXT_V1);
    let checked = if v1 {
        verity_vcdm::check_credential_v1(&credential)
    } else {
        verity_vcdm::check_credential(&credential)
    }
    .map_err(|e| vcdm_refusal(e, "credential"))?;
    let record = match suspendable {
        Some(suspendable) => {
            if credential.get("credentialStatus").is_some() {
                return Err(ApiError::bad_field(
                    "credential.credentialStatus",
                    "is written by the issuer when options.credentialStatus is given: send one of them",
                ));
            }
            Some(with_status(&state, &authority, &mut credential, &checked, suspendable).await?)
        }
        None => None,
    };
    let signer =
        crate::authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let jwt = if v1 {
        verity_vcdm::sign_credential_v1(&signer, &credential).await
    } else {
        verity_vcdm::sign_credential(&signer, &credential).await
    }
    .map_err(|e| vcdm_refusal(e, "credential"))?;
    if let Some(record) = record {
        // Recorded before it is handed out: a credential the caller holds can always be
        // revoked. A failure here leaves the index unused, never reused.
        state.store.record_issued_credential(&record).await?;
    }
    tracing::info!(issuer = %did, with_status = suspendable.is_some(), "VC-API credential issued");
    let secured = if v1 {
        json!(jwt)
    } else {
        verity_vcdm::envelope(&jwt)
    };
    Ok(HttpResponse::Created().json(json!({ "verifiableCredential": secured })))
}

/// Gives `credential` its status entries (an index of the authority's open list) and an `id`
/// when it has none; the record to write once it is signed.
async fn with_status(
    state: &AppState,
    authority: &verity_store::Authority,
    credential: &mut Value,
    checked: &verity_vcdm::CheckedCredential,
    suspendable: bool,
) -> Result<verity_store::NewIssuedCredential, ApiError> {
    let (allocation, assignment) =
        super::issuance::allocate_status_entry(state, authority, suspendable).await?;
    let id = Uuid::new_v4();
    let jti = match credential["id"].as_str() {
        Some(existing) => existing.to_owned(),
        None => {
            let jti = format!("urn:uuid:{id}");
            credential["id"] = json!(jti);
            jti
        }
    };
    credential["credentialStatus"] = assignment.credential_status()?;
    let subject = match &credential["credentialSubject"] {
        Value::Array(subjects) => subjects.first().map(|s| &s["id"]),
        one => Some(&one["id"]),
    };
    let now = state.clock.now();
    Ok(verity_store::NewIssuedCredential {
        id,
        jti,
        tenant_id: authority.tenant_id,
        contract_id: None,
        authority_id: authority.id,
        request_id: None,
        subject_did: subject
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        status_list_id: Some(allocation.list_id),
        status_index: Some(allocation.index),
        indexed_claim_hash: None,
        issued_at: now,
        // Without `validUntil` it never expires; the record says the last second of 9999.
        expires_at: checked
            .valid_until
            .or_else(|| chrono::DateTime::from_timestamp(253_402_300_799, 0))
            .unwrap_or(now),
    })
}

/// The authority `did` names, if the caller may sign with it; `field` names it in refusals.
async fn caller_authority(
    state: &AppState,
    caller: &VcApiCaller,
    did: &str,
    field: &str,
) -> Result<verity_store::Authority, ApiError> {
    let authority = state.store.authority_by_did(did).await?.ok_or_else(|| {
        ApiError::bad_field(
            field,
            format!("`{did}` is not an authority of this service"),
        )
    })?;
    if !caller.may_use(authority.tenant_id) {
        return Err(ApiError::forbidden(format!(
            "the authority `{did}` belongs to another tenant"
        )));
    }
    Ok(authority)
}

/// The DID an `issuer` / `holder` member names (a string or an object's `id`).
fn named_did(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The signer from `option` or the document's own member, refusing a mismatch.
fn chosen_did(
    option: &Option<String>,
    named: &Option<String>,
    option_field: &str,
    member_field: &str,
) -> Result<String, ApiError> {
    match (option, named) {
        (Some(o), Some(n)) if o != n => Err(ApiError::bad_field(
            option_field,
            format!("`{o}` differs from {member_field} `{n}`"),
        )),
        (Some(o), _) => Ok(o.clone()),
        (None, Some(n)) => Ok(n.clone()),
        (None, None) => Err(ApiError::bad_field(
            member_field,
            format!("is required (or give {option_field})"),
        )),
    }
}

fn vcdm_refusal(e: verity_vcdm::VcdmError, prefix: &str) -> ApiError {
    match e {
        verity_vcdm::VcdmError::Proof(m) => ApiError::internal(m),
        other => ApiError::bad_field(format!("{prefix}.{}", other.field()), other.to_string()),
    }
}

async fn prove(
    caller: VcApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<ProveRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut presentation = body.presentation;
    if !presentation.is_object() {
        return Err(ApiError::bad_field("presentation", "must be a JSON object"));
    }
    let named = named_did(&presentation["holder"]);
    let did = chosen_did(
        &body.options.holder,
        &named,
        "options.holder",
        "presentation.holder",
    )?;
    let authority = caller_authority(&state, &caller, &did, "presentation.holder").await?;
    if named.is_none() {
        presentation["holder"] = json!(did);
    }
    let signer =
        crate::authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let binding = verity_vcdm::Binding {
        challenge: body.options.challenge,
        domain: body.options.domain,
    };
    let jwt = verity_vcdm::sign_presentation(&signer, &presentation, &binding)
        .await
        .map_err(|e| vcdm_refusal(e, "presentation"))?;
    Ok(HttpResponse::Created()
        .json(json!({ "verifiablePresentation": verity_vcdm::envelope_presentation(&jwt) })))
}

async fn verify_presentation(
    _: VcApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<VerifyPresentationRequest>,
) -> Result<HttpResponse, ApiError> {
    let binding = verity_vcdm::Binding {
        challenge: body.options.challenge,
        domain: body.options.domain,
    };
    let outcome = match verity_vcdm::verify_presentation(
        state.resolution.resolver.as_ref(),
        &body.verifiable_presentation,
        &binding,
        state.clock.unix(),
    )
    .await
    {
        Ok(mut v) => {
            let mut status = Ok(());
            for (i, credential) in v.credentials.iter().enumerate() {
                let prefix = format!("verifiableCredential[{i}]");
                match check_status(&state, credential).await {
                    Ok(Some(check)) => v.checks.push(format!("{prefix}.{check}")),
                    Ok(None) => {}
                    Err(e) => {
                        status = Err(e.within(&prefix));
                        break;
                    }
                }
            }
            status.map(|()| (v.checks, Vec::<String>::new()))
        }
        Err(e) => Err(e),
    };
    answer(outcome)
}

/// The VC-API verification answer: 200 with the checks, 400 with the refusal, 503 when the
/// issuer's DID could not be resolved now.
fn answer(
    outcome: Result<(Vec<String>, Vec<String>), verity_vcdm::VcdmError>,
) -> Result<HttpResponse, ApiError> {
    match outcome {
        Ok((checks, warnings)) => Ok(HttpResponse::Ok().json(json!({
            "checks": checks,
            "warnings": warnings,
            "errors": [],
        }))),
        Err(e) if e.is_transient() => Err(ApiError::upstream(
            StatusCode::SERVICE_UNAVAILABLE,
            InnerCode::TransientError,
            format!("{e} ({})", e.code()),
        )
        .with_retry_after(5)),
        Err(e) => Ok(HttpResponse::BadRequest().json(json!({
            "checks": [],
            "warnings": [],
            "errors": [{ "code": e.code(), "field": e.field(), "message": e.to_string() }],
        }))),
    }
}

async fn verify(
    _: VcApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let outcome = match verity_vcdm::verify_any_credential(
        state.resolution.resolver.as_ref(),
        &body.verifiable_credential,
        state.clock.unix(),
    )
    .await
    {
        Ok(v) => check_status(&state, &v).await.map(|status| {
            let mut checks: Vec<String> = v.checks.iter().map(|c| (*c).to_owned()).collect();
            checks.extend(status);
            (checks, v.warnings)
        }),
        Err(e) => Err(e),
    };
    answer(outcome)
}

/// Checks every status entry of a verified credential against its list, read fresh: our own
/// lists from the store (a revocation or suspension counts at once), other issuers' lists over
/// HTTP. Fails closed: a list that cannot be fetched now is a retryable refusal, never a pass.
/// The check's name when there is a status to check.
async fn check_status(
    state: &AppState,
    v: &verity_vcdm::Verified,
) -> Result<Option<String>, verity_vcdm::VcdmError> {
    use verity_status_list::{CredentialStatus, StatusEntry};
    use verity_vcdm::VcdmError;
    let Some(status) = v.credential.get("credentialStatus") else {
        return Ok(None);
    };
    let entries = StatusEntry::parse_credential_status(status).map_err(|e| VcdmError::Status {
        field: "credentialStatus".into(),
        reason: format!("{e} ({})", e.code()),
    })?;
    // One read per stored list: a suspendable credential's two entries share one.
    let urls: Vec<String> = entries
        .iter()
        .map(|e| e.status_list_credential.clone())
        .collect();
    let lists = state
        .verifier
        .status
        .fetch_all(&urls, state.clock.unix())
        .await;
    for (i, (entry, list)) in entries.iter().zip(lists).enumerate() {
        let field = if status.is_array() {
            format!("credentialStatus[{i}]")
        } else {
            "credentialStatus".to_owned()
        };
        let url = &entry.status_list_credential;
        let list = list.map_err(|e| {
            if e.is_unavailable() {
                VcdmError::StatusUnavailable {
                    field: field.clone(),
                    reason: e.reason().to_owned(),
                }
            } else {
                VcdmError::Status {
                    field: field.clone(),
                    reason: format!("status list {url}: {}", e.reason()),
                }
            }
        })?;
        // A list signed by anyone else could mark any credential valid.
        if list.issuer() != v.checked.issuer {
            return Err(VcdmError::Status {
                field,
                reason: format!(
                    "status list {url} is issued by {}, the credential by {}",
                    list.issuer(),
                    v.checked.issuer
                ),
            });
        }
        match verity_status_list::check(entry, &list) {
            Ok(CredentialStatus::Valid) => {}
            Ok(CredentialStatus::Revoked) => return Err(VcdmError::Revoked { field }),
            Ok(CredentialStatus::Suspended) => return Err(VcdmError::Suspended { field }),
            Err(e) => {
                return Err(VcdmError::Status {
                    field,
                    reason: format!("{e} ({})", e.code()),
                });
            }
        }
    }
    Ok(Some("credentialStatus".to_owned()))
}
