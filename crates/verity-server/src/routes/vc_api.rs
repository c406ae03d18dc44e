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
        Op::new("vcApiIssueCredential", TAG, "Signs a VCDM 2.0 credential as a vc+jwt (VC-JOSE-COSE)")
            .describe("The issuer (`options.issuer`, else `credential.issuer`) must be an authority of the caller's tenant (any tenant with the admin token). The answer's `verifiableCredential` is an `EnvelopedVerifiableCredential` whose `id` is `data:application/vc+jwt,<JWS>`; the JWS payload is the credential, `typ` `vc+jwt`.")
            .api()
            .body::<IssueRequest>("The credential without proof, and options")
            .ok_any(201, "`{ \"verifiableCredential\": { \"@context\", \"id\": \"data:application/vc+jwt,...\", \"type\": \"EnvelopedVerifiableCredential\" } }`")
            .bad_request()
            .error(403, &[InnerCode::Forbidden]),
    )
    .post(
        "/vc-api/credentials/verify",
        verify,
        Op::new("vcApiVerifyCredential", TAG, "Verifies a credential secured as a vc+jwt")
            .describe("Resolves the issuer (did:web, did:key, did:jwk), checks that the key is an assertion method of that DID, the signature, the VCDM 2.0 rules and the validity period. 200 with `checks` when it verifies; 400 with `errors` (each with its `VCDM-0xx` code and the field) when it does not; 503 when the issuer's DID cannot be resolved now.")
            .api()
            .body::<VerifyRequest>("The secured credential")
            .ok_any(200, "`{ \"checks\": [...], \"warnings\": [...], \"errors\": [] }`")
            .ok_any(400, "`{ \"checks\": [...], \"warnings\": [], \"errors\": [ { \"code\", \"field\", \"message\" } ] }`"),
    );
}

/// `POST /vc-api/credentials/issue`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// A VCDM 2.0 credential without proof (`@context` first `https://www.w3.org/ns/credentials/v2`).
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
}

/// `POST /vc-api/credentials/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyRequest {
    /// An `EnvelopedVerifiableCredential`, its `data:application/vc+jwt,...` id, or the bare
    /// compact JWS.
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
    let named = match &credential["issuer"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let did = match (&body.options.issuer, &named) {
        (Some(o), Some(n)) if o != n => {
            return Err(ApiError::bad_field(
                "options.issuer",
                format!("`{o}` differs from credential.issuer `{n}`"),
            ));
        }
        (Some(o), _) => o.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => {
            return Err(ApiError::bad_field(
                "credential.issuer",
                "is required (or give options.issuer)",
            ));
        }
    };
    let authority = state.store.authority_by_did(&did).await?.ok_or_else(|| {
        ApiError::bad_field(
            "credential.issuer",
            format!("`{did}` is not an authority of this service"),
        )
    })?;
    if !caller.may_use(authority.tenant_id) {
        return Err(ApiError::forbidden(format!(
            "the authority `{did}` belongs to another tenant"
        )));
    }
    if named.is_none() {
        credential["issuer"] = json!(did);
    }
    let signer =
        crate::authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let jwt = verity_vcdm::sign_credential(&signer, &credential)
        .await
        .map_err(|e| match e {
            verity_vcdm::VcdmError::Proof(m) => ApiError::internal(m),
            other => {
                ApiError::bad_field(format!("credential.{}", other.field()), other.to_string())
            }
        })?;
    tracing::info!(issuer = %did, "VC-API credential issued");
    Ok(
        HttpResponse::Created()
            .json(json!({ "verifiableCredential": verity_vcdm::envelope(&jwt) })),
    )
}

async fn verify(
    _: VcApiCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    match verity_vcdm::verify_credential(
        state.resolution.resolver.as_ref(),
        &body.verifiable_credential,
        state.clock.unix(),
    )
    .await
    {
        Ok(v) => Ok(HttpResponse::Ok().json(json!({
            "checks": v.checks,
            "warnings": v.warnings,
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
