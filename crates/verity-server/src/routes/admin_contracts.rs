//! Admin API for contracts (credential definitions): create from JSON, list, show, update,
//! enable/disable. The definition is validated by `verity-contracts` before it is stored.

use crate::error::InnerCode;
use crate::openapi::{Op, Routes};
use actix_web::HttpResponse;
use actix_web::web::{self, Bytes};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verity_contracts::Contract;

use crate::error::ApiError;
use crate::extract::AdminCaller;
use crate::flows;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    const A: &str = "Admin";
    r.get(
        "/admin/v1/contracts",
        list,
        Op::new("listContracts", A, "Contracts")
            .admin()
            .ok::<Vec<ContractView>>(200, "Every contract"),
    )
    .post(
        "/admin/v1/contracts",
        create,
        Op::new(
            "createContract",
            A,
            "Creates a contract: what a credential holds and how it is issued",
        )
        .admin()
        .body::<verity_contracts::Contract>(
            "The contract definition (display, rules, attestations)",
        )
        .ok::<ContractView>(201, "Created, with its manifest URL")
        .bad_request()
        .not_found()
        .error(409, &[InnerCode::Conflict]),
    )
    .get(
        "/admin/v1/contracts/{id}",
        show,
        Op::new("getContract", A, "A contract (id or name)")
            .admin()
            .ok::<ContractView>(200, "The contract")
            .not_found(),
    )
    .put(
        "/admin/v1/contracts/{id}",
        update,
        Op::new("updateContract", A, "Replaces a contract's definition")
            .admin()
            .body::<verity_contracts::Contract>("The new definition")
            .ok::<ContractView>(200, "Updated")
            .bad_request()
            .not_found(),
    )
    .post(
        "/admin/v1/contracts/{id}/disable",
        disable,
        Op::new("disableContract", A, "Stops issuance under a contract")
            .admin()
            .ok::<ContractView>(200, "Disabled")
            .not_found(),
    )
    .post(
        "/admin/v1/contracts/{id}/enable",
        enable,
        Op::new("enableContract", A, "Resumes issuance under a contract")
            .admin()
            .ok::<ContractView>(200, "Enabled")
            .not_found(),
    )
    .post(
        "/admin/v1/contracts/{id}/offers",
        offer,
        Op::new(
            "createOffer",
            A,
            "An OpenID4VCI credential offer made by an operator",
        )
        .admin()
        .body::<OfferRequest>("The claims, optional transaction code and format")
        .ok_any(
            201,
            "`requestId`, `url`, `offerByValue`, `expiry`, `qrCode`",
        )
        .bad_request()
        .not_found()
        .error(
            400,
            &[InnerCode::ContractDisabled, InnerCode::CallbackUrlRefused],
        ),
    );
}

/// A stored contract as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractView {
    pub id: Uuid,
    /// The contract's own `id` (slug).
    pub name: String,
    pub authority: String,
    pub tenant_id: Uuid,
    pub enabled: bool,
    /// Where wallets fetch the signed manifest; apps pass it as `manifest`.
    pub manifest_url: String,
    pub definition: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub(crate) async fn view(
    state: &AppState,
    c: verity_store::Contract,
) -> Result<ContractView, ApiError> {
    let authority = state
        .store
        .authority(c.authority_id)
        .await?
        .map(|a| a.did)
        .unwrap_or_default();
    Ok(ContractView {
        manifest_url: flows::manifest_url(state, c.id),
        id: c.id,
        name: c.name,
        authority,
        tenant_id: c.tenant_id,
        enabled: c.enabled,
        definition: c.definition,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// Parses and validates a definition, naming the offending JSON path.
fn parse_definition(body: &[u8]) -> Result<(Contract, serde_json::Value), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_body("the contract must be UTF-8 JSON"))?;
    let contract = Contract::from_json(text).map_err(|e| {
        let target = e.path().unwrap_or_default().to_owned();
        ApiError::bad_field(target, e.to_string())
    })?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_body(format!("the contract is not valid JSON: {e}")))?;
    Ok((contract, value))
}

pub(crate) fn find_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(format!("contract `{s}` not found")))
}

async fn list(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for c in state.store.list_contracts(None).await? {
        out.push(view(&state, c).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn create(
    _: AdminCaller,
    state: web::Data<AppState>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(create_contract(&state, &body).await?))
}

/// Stores a new contract from its definition's JSON (the admin API and the console).
pub(crate) async fn create_contract(
    state: &AppState,
    body: &[u8],
) -> Result<ContractView, ApiError> {
    let (contract, value) = parse_definition(body)?;
    let authority = state
        .store
        .authority_by_did(&contract.authority)
        .await?
        .ok_or_else(|| {
            ApiError::bad_field(
                "authority",
                format!(
                    "`{}` is not an authority of this service",
                    contract.authority
                ),
            )
        })?;
    let stored = state
        .store
        .create_contract(
            authority.tenant_id,
            authority.id,
            &contract.id,
            &value,
            state.clock.now(),
        )
        .await?;
    tracing::info!(contract = %stored.id, name = %stored.name, "contract created");
    view(state, stored).await
}

async fn show(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = find_id(&id)?;
    let c = state
        .store
        .contract(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    Ok(HttpResponse::Ok().json(view(&state, c).await?))
}

async fn update(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(update_contract(&state, &id, &body).await?))
}

/// Replaces a contract's definition; its `id` and `authority` cannot change.
pub(crate) async fn update_contract(
    state: &AppState,
    id: &str,
    body: &[u8],
) -> Result<ContractView, ApiError> {
    let id = find_id(id)?;
    let existing = state
        .store
        .contract(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    let (contract, value) = parse_definition(body)?;
    if contract.id != existing.name {
        return Err(ApiError::bad_field(
            "id",
            format!("a contract's id cannot change (it is `{}`)", existing.name),
        ));
    }
    let authority = state
        .store
        .authority(existing.authority_id)
        .await?
        .map(|a| a.did)
        .unwrap_or_default();
    if contract.authority != authority {
        return Err(ApiError::bad_field(
            "authority",
            format!("a contract's authority cannot change (it is `{authority}`)"),
        ));
    }
    let c = state
        .store
        .update_contract(id, &value, state.clock.now())
        .await?;
    view(state, c).await
}

async fn set_enabled(state: &AppState, id: &str, enabled: bool) -> Result<HttpResponse, ApiError> {
    let id = find_id(id)?;
    let c = state
        .store
        .set_contract_enabled(id, enabled, state.clock.now())
        .await?;
    Ok(HttpResponse::Ok().json(view(state, c).await?))
}

async fn disable(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, false).await
}

async fn enable(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, true).await
}

/// `POST /admin/v1/contracts/{id}/offers`: an OpenID4VCI credential offer made by an operator
/// (no RP app involved), for a contract whose claims all come from the caller.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OfferRequest {
    /// The claims the idTokenHint mapping reads (string values).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// A transaction code the holder must type (4-16 digits).
    #[serde(default)]
    pub pin: Option<crate::rp_types::Pin>,
    /// `dc+sd-jwt` (default) or `jwt_vc_json`.
    #[serde(default)]
    pub format: Option<String>,
    /// Latest expiry of the credential (RFC 3339).
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// Where status events go (as createIssuanceRequest's `callback`).
    #[serde(default)]
    pub callback: Option<crate::rp_types::Callback>,
    /// Also return the URL as a QR code.
    #[serde(default, rename = "includeQRCode")]
    pub include_qr_code: bool,
    /// `png` (default) or `svg`.
    #[serde(
        default,
        rename = "qrCodeFormat",
        skip_serializing_if = "Option::is_none"
    )]
    pub qr_code_format: Option<crate::rp_types::QrCodeFormat>,
}

async fn offer(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<OfferRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = find_id(&id)?;
    let c = state
        .store
        .contract(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    let authority = state
        .store
        .authority(c.authority_id)
        .await?
        .ok_or_else(|| ApiError::internal("contract without authority"))?;
    let parsed = flows::load_contract(&c)?;
    let caller = crate::extract::ApiCaller {
        tenant_id: c.tenant_id,
        principal: "admin".into(),
    };
    let request = crate::rp_types::IssuanceRequest {
        authority: authority.did.clone(),
        include_qr_code: body.include_qr_code,
        qr_code_format: body.qr_code_format,
        registration: crate::rp_types::Registration {
            client_name: authority.name.clone(),
            purpose: None,
            logo_url: None,
            terms_of_service_urls: None,
        },
        callback: body.callback,
        credential_type: parsed
            .credential_types()
            .last()
            .cloned()
            .unwrap_or_default(),
        manifest: flows::manifest_url(&state, c.id),
        claims: Some(body.claims),
        pin: body.pin,
        expiration_date: body.expiration_date,
        profile: Some(super::openid4vci::PROFILE.into()),
        format: body.format,
    };
    let opening = super::issuance::prepare(&state, &caller, request).await?;
    let created = flows::create_request(&state, opening).await?;
    let request_id = Uuid::parse_str(&created.request_id).map_err(ApiError::internal)?;
    let req = state
        .store
        .request(request_id)
        .await?
        .ok_or_else(|| ApiError::internal("the offer was not stored"))?;
    let code = super::openid4vci::offer_code(&state, request_id)?;
    let by_value = super::openid4vci::offer_object(&state, &req, &code);
    tracing::info!(request_id = %request_id, contract = %c.id, "credential offer created by an operator");
    Ok(HttpResponse::Created().json(serde_json::json!({
        "requestId": created.request_id,
        "url": created.url,
        "offerByValue": verity_issuance::openid4vci::offer_uri_by_value(&by_value),
        "expiry": created.expiry,
        "qrCode": created.qr_code,
    })))
}
