//! Admin API (`/admin/v1`): tenants, authorities, keys, API clients and API keys.
//! Every handler requires the admin token ([`AdminCaller`]).

use crate::error::InnerCode;
use crate::openapi::{Op, Routes};
use actix_web::{HttpResponse, web};
use uuid::Uuid;
use verity_jose::Algorithm;
use verity_store::{Authority, KeyRecord, KeyState, Tenant};

use crate::api_types::{
    ApiKeyView, AuthorityView, ClientView, CreateAuthority, CreateCredential, CreateTenant,
    KeyView, RotateKey, TenantView,
};
use crate::authorities::{self, AuthorityError};
use crate::bootstrap;
use crate::credentials::{self, API_KEY_PREFIX};
use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson};
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    const A: &str = "Admin";
    r.get(
        "/admin/v1/tenants",
        list_tenants,
        Op::new("listTenants", A, "Tenants")
            .admin()
            .ok::<Vec<TenantView>>(200, "Every tenant"),
    )
    .post(
        "/admin/v1/tenants",
        create_tenant,
        Op::new("createTenant", A, "Creates a tenant")
            .admin()
            .body::<CreateTenant>("The tenant")
            .ok::<TenantView>(201, "Created")
            .bad_request()
            .error(409, &[InnerCode::Conflict]),
    )
    .get(
        "/admin/v1/authorities",
        list_authorities,
        Op::new("adminListAuthorities", A, "Authorities with their keys")
            .admin()
            .ok::<Vec<AuthorityView>>(200, "Every authority"),
    )
    .post(
        "/admin/v1/authorities",
        create_authority,
        Op::new(
            "createAuthority",
            A,
            "Creates an authority (a did:web DID and its first key)",
        )
        .admin()
        .body::<CreateAuthority>("The authority")
        .ok::<AuthorityView>(201, "Created")
        .bad_request()
        .error(409, &[InnerCode::Conflict]),
    )
    .get(
        "/admin/v1/authorities/{authority}",
        show_authority,
        Op::new("getAuthority", A, "An authority (id or DID) with its keys")
            .admin()
            .ok::<AuthorityView>(200, "The authority")
            .not_found(),
    )
    .get(
        "/admin/v1/authorities/{authority}/keys",
        list_keys,
        Op::new("listKeys", A, "An authority's signing keys (public parts)")
            .admin()
            .ok::<Vec<KeyView>>(200, "Its keys")
            .not_found(),
    )
    .post(
        "/admin/v1/authorities/{authority}/keys/rotate",
        rotate_key,
        Op::new(
            "rotateKey",
            A,
            "A new active key; the old one keeps verifying (retiring)",
        )
        .admin()
        .body::<RotateKey>("Optionally, the new key's algorithm")
        .ok::<KeyView>(201, "The new key")
        .bad_request()
        .not_found(),
    )
    .post(
        "/admin/v1/keys/{key}/revoke",
        revoke_key,
        Op::new(
            "revokeKey",
            A,
            "Revokes a key: removed from the DID document, nothing verifies with it",
        )
        .admin()
        .ok::<KeyView>(200, "The revoked key")
        .not_found()
        .error(409, &[InnerCode::Conflict]),
    )
    .delete(
        "/admin/v1/keys/{key}",
        delete_key,
        Op::new("deleteKey", A, "Deletes a revoked key's private part")
            .admin()
            .ok_empty(204, "Deleted")
            .not_found()
            .error(409, &[InnerCode::Conflict]),
    )
    .get(
        "/admin/v1/clients",
        list_clients,
        Op::new("listClients", A, "API clients (never their secrets)")
            .admin()
            .ok::<Vec<ClientView>>(200, "Every API client"),
    )
    .post(
        "/admin/v1/clients",
        create_client,
        Op::new(
            "createClient",
            A,
            "Creates an API client; its secret is shown in this answer only",
        )
        .admin()
        .body::<CreateCredential>("Name and tenant")
        .ok::<ClientView>(201, "The client with `clientSecret`")
        .bad_request(),
    )
    .delete(
        "/admin/v1/clients/{client_id}",
        delete_client,
        Op::new(
            "deleteClient",
            A,
            "Deletes an API client: its tokens stop working",
        )
        .admin()
        .ok_empty(204, "Deleted")
        .not_found(),
    )
    .get(
        "/admin/v1/api-keys",
        list_api_keys,
        Op::new("listApiKeys", A, "API keys (never the keys themselves)")
            .admin()
            .ok::<Vec<ApiKeyView>>(200, "Every API key"),
    )
    .post(
        "/admin/v1/api-keys",
        create_api_key,
        Op::new(
            "createApiKey",
            A,
            "Creates an API key; the key is shown in this answer only",
        )
        .admin()
        .body::<CreateCredential>("Name and tenant")
        .ok::<ApiKeyView>(201, "The key record with `key`")
        .bad_request(),
    )
    .delete(
        "/admin/v1/api-keys/{id}",
        delete_api_key,
        Op::new("deleteApiKey", A, "Revokes an API key")
            .admin()
            .ok_empty(204, "Deleted")
            .not_found(),
    );
    crate::routes::linked_domains::admin_routes(r);
}

impl From<AuthorityError> for ApiError {
    fn from(e: AuthorityError) -> Self {
        match e {
            AuthorityError::Store(s) => s.into(),
            AuthorityError::Invalid { field, reason } => ApiError::bad_field(field, reason),
            AuthorityError::NotFound(m) => {
                ApiError::not_found(format!("authority `{m}` not found"))
            }
            other => ApiError::internal(other),
        }
    }
}

fn tenant_view(t: Tenant) -> TenantView {
    TenantView {
        id: t.id,
        name: t.name,
        created_at: t.created_at,
    }
}

pub(crate) fn key_view(k: KeyRecord) -> KeyView {
    KeyView {
        id: k.id,
        kid: k.kid,
        alg: k.alg,
        state: k.state.as_str().to_owned(),
        public_jwk: k.public_jwk,
        created_at: k.created_at,
        state_changed_at: k.state_changed_at,
    }
}

pub(crate) async fn authority_view(
    state: &AppState,
    a: Authority,
) -> Result<AuthorityView, ApiError> {
    let keys = state.store.authority_keys(a.id).await?;
    let did_document_url = verity_did::DidWeb::parse(&a.did)
        .ok()
        .map(|d| {
            let origin = bootstrap::origin_for_host(&d.host(), &state.public_url);
            let path = d.path_segments().join("/");
            if path.is_empty() {
                format!("{origin}.well-known/did.json")
            } else {
                format!("{origin}{path}/did.json")
            }
        })
        .unwrap_or_default();
    Ok(AuthorityView {
        id: a.id,
        tenant_id: a.tenant_id,
        name: a.name,
        did: a.did,
        did_document_url,
        keys: keys.into_iter().map(key_view).collect(),
        created_at: a.created_at,
    })
}

async fn tenant_named(state: &AppState, name: Option<&str>) -> Result<Tenant, ApiError> {
    match name {
        Some(n) => {
            state.store.tenant_by_name(n).await?.ok_or_else(|| {
                ApiError::bad_field("tenant", format!("tenant `{n}` does not exist"))
            })
        }
        None => {
            let name = &state.config.bootstrap.tenant_name;
            if let Some(t) = state.store.tenant_by_name(name).await? {
                return Ok(t);
            }
            state
                .store
                .list_tenants()
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::bad_field("tenant", "no tenant exists yet: create one first")
                })
        }
    }
}

/// The authority named by id or DID, or 404.
pub(crate) async fn find_authority(
    state: &AppState,
    reference: &str,
) -> Result<Authority, ApiError> {
    let found = match Uuid::parse_str(reference) {
        Ok(id) => state.store.authority(id).await?,
        Err(_) => state.store.authority_by_did(reference).await?,
    };
    found.ok_or_else(|| ApiError::not_found(format!("authority `{reference}` not found")))
}

fn parse_alg(
    field: &'static str,
    value: Option<&str>,
    default: Algorithm,
) -> Result<Algorithm, ApiError> {
    match value {
        None => Ok(default),
        // RS256 parses (Verity verifies it) but Verity never signs with it.
        Some(v) => v
            .parse::<Algorithm>()
            .ok()
            .filter(|a| a.can_sign())
            .ok_or_else(|| {
                ApiError::bad_field(
                    field,
                    format!("`{v}` is not supported: use ES256, EdDSA or ES256K"),
                )
            }),
    }
}

fn valid_name(field: &'static str, name: &str, max: usize) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(ApiError::bad_field(
            field,
            format!("must be 1-{max} characters"),
        ));
    }
    Ok(name.to_owned())
}

async fn list_tenants(
    _: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ts: Vec<TenantView> = state
        .store
        .list_tenants()
        .await?
        .into_iter()
        .map(tenant_view)
        .collect();
    Ok(HttpResponse::Ok().json(ts))
}

async fn create_tenant(
    _: AdminCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let name = valid_name("name", &body.name, 100)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::bad_field(
            "name",
            "use letters, digits, `-`, `_` and `.` only",
        ));
    }
    let t = state.store.create_tenant(&name, state.clock.now()).await?;
    Ok(HttpResponse::Created().json(tenant_view(t)))
}

async fn list_authorities(
    _: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for a in state.store.list_authorities(None).await? {
        out.push(authority_view(&state, a).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// The DID for a creation request, checked against the domains this service serves.
fn requested_did(state: &AppState, body: &CreateAuthority) -> Result<String, ApiError> {
    let did = match (&body.did, &body.domain, &body.path) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::bad_field(
                "did",
                "give either `did` or `domain`/`path`, not both",
            ));
        }
        (Some(did), None, None) => did.clone(),
        (None, domain, path) => {
            let public_host = url::Url::parse(&state.public_url)
                .ok()
                .and_then(|u| crate::config::host_port(&u))
                .unwrap_or_default();
            let host = domain.clone().unwrap_or(public_host).to_ascii_lowercase();
            let segments: Vec<&str> = match path.as_deref().map(|p| p.trim_matches('/')) {
                None | Some("") => Vec::new(),
                Some(p) => p.split('/').collect(),
            };
            for s in &segments {
                let ok = !s.is_empty()
                    && !s.starts_with('.')
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(ApiError::bad_field(
                        "path",
                        format!(
                            "segment `{s}` must be letters, digits, `-`, `_`, `.` and not start with `.`"
                        ),
                    ));
                }
            }
            verity_did::did_web_from_parts(&host, &segments)
        }
    };
    let parsed = verity_did::DidWeb::parse(&did)
        .map_err(|e| ApiError::bad_field("did", format!("not a did:web DID: {e}")))?;
    if !state.serves_host(&parsed.host()) {
        return Err(ApiError::bad_field(
            "did",
            format!(
                "this service does not serve DID documents for `{}`: add it to server.domains",
                parsed.host()
            ),
        ));
    }
    Ok(did)
}

async fn create_authority(
    _: AdminCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateAuthority>,
) -> Result<HttpResponse, ApiError> {
    let a = new_authority(&state, &body).await?;
    Ok(HttpResponse::Created().json(authority_view(&state, a).await?))
}

/// Creates an authority with its first key (the admin API and the console).
pub(crate) async fn new_authority(
    state: &AppState,
    body: &CreateAuthority,
) -> Result<Authority, ApiError> {
    let name = valid_name("name", &body.name, 200)?;
    let alg = parse_alg(
        "algorithm",
        body.algorithm.as_deref(),
        state.config.keys.default_algorithm,
    )?;
    let did = requested_did(state, body)?;
    let tenant = tenant_named(state, body.tenant.as_deref()).await?;
    let a = authorities::create_authority(
        state.store.as_ref(),
        &state.kek,
        state.clock.as_ref(),
        tenant.id,
        &name,
        &did,
        alg,
    )
    .await?;
    tracing::info!(did = %a.did, "authority created");
    Ok(a)
}

async fn show_authority(
    _: AdminCaller,
    state: web::Data<AppState>,
    reference: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = find_authority(&state, &reference).await?;
    Ok(HttpResponse::Ok().json(authority_view(&state, a).await?))
}

async fn list_keys(
    _: AdminCaller,
    state: web::Data<AppState>,
    reference: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = find_authority(&state, &reference).await?;
    let keys: Vec<KeyView> = state
        .store
        .authority_keys(a.id)
        .await?
        .into_iter()
        .map(key_view)
        .collect();
    Ok(HttpResponse::Ok().json(keys))
}

async fn rotate_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    reference: web::Path<String>,
    body: Option<ApiJson<RotateKey>>,
) -> Result<HttpResponse, ApiError> {
    let requested = body.and_then(|ApiJson(b)| b.algorithm);
    let key = new_key(&state, &reference, requested.as_deref()).await?;
    Ok(HttpResponse::Created().json(key_view(key)))
}

/// Rotates an authority's key (the admin API and the console): the new key is active, the old
/// one retiring.
pub(crate) async fn new_key(
    state: &AppState,
    reference: &str,
    requested: Option<&str>,
) -> Result<KeyRecord, ApiError> {
    let a = find_authority(state, reference).await?;
    let current = state.store.active_key(a.id).await?;
    let default = current
        .and_then(|k| k.alg.parse::<Algorithm>().ok())
        .unwrap_or(state.config.keys.default_algorithm);
    let alg = parse_alg("algorithm", requested, default)?;
    let key = authorities::rotate_key(
        state.store.as_ref(),
        &state.kek,
        state.clock.as_ref(),
        a.id,
        alg,
    )
    .await?;
    tracing::info!(did = %a.did, kid = %key.kid, "authority key rotated");
    Ok(key)
}

fn parse_uuid(field: &'static str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value)
        .map_err(|_| ApiError::bad_field(field, format!("`{value}` is not a UUID")))
}

async fn revoke_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid("key", &id)?;
    let key = state
        .store
        .set_key_state(id, KeyState::Revoked, state.clock.now())
        .await?;
    tracing::warn!(kid = %key.kid, "signing key revoked and withdrawn from the DID document");
    Ok(HttpResponse::Ok().json(key_view(key)))
}

async fn delete_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid("key", &id)?;
    state.store.delete_key(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) fn client_view(c: verity_store::ApiClient) -> ClientView {
    ClientView {
        client_id: c.client_id,
        tenant_id: c.tenant_id,
        name: c.name,
        created_at: c.created_at,
        client_secret: None,
        token_endpoint: None,
    }
}

async fn list_clients(
    _: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cs: Vec<ClientView> = state
        .store
        .list_api_clients(None)
        .await?
        .into_iter()
        .map(client_view)
        .collect();
    Ok(HttpResponse::Ok().json(cs))
}

async fn create_client(
    _: AdminCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateCredential>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(new_client(&state, &body).await?))
}

/// Creates an API client; the view holds its secret, the only time it is shown.
pub(crate) async fn new_client(
    state: &AppState,
    body: &CreateCredential,
) -> Result<ClientView, ApiError> {
    let name = valid_name("name", &body.name, 200)?;
    let tenant = tenant_named(state, body.tenant.as_deref()).await?;
    let (client, secret) = bootstrap::create_api_client(
        state.store.as_ref(),
        &state.pepper,
        state.clock.as_ref(),
        tenant.id,
        &name,
    )
    .await
    .map_err(ApiError::internal)?;
    let mut view = client_view(client);
    view.client_secret = Some(secret.expose().to_owned());
    view.token_endpoint = Some(format!("{}/oauth2/token", state.public_url));
    Ok(view)
}

async fn delete_client(
    _: AdminCaller,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if state.store.delete_api_client(&client_id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!(
            "API client `{client_id}` not found"
        )))
    }
}

pub(crate) fn api_key_view(k: verity_store::ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        tenant_id: k.tenant_id,
        name: k.name,
        prefix: k.key_prefix,
        created_at: k.created_at,
        key: None,
    }
}

async fn list_api_keys(
    _: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ks: Vec<ApiKeyView> = state
        .store
        .list_api_keys(None)
        .await?
        .into_iter()
        .map(api_key_view)
        .collect();
    Ok(HttpResponse::Ok().json(ks))
}

async fn create_api_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateCredential>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(new_api_key(&state, &body).await?))
}

/// Creates an API key; the view holds the key, the only time it is shown.
pub(crate) async fn new_api_key(
    state: &AppState,
    body: &CreateCredential,
) -> Result<ApiKeyView, ApiError> {
    let name = valid_name("name", &body.name, 200)?;
    let tenant = tenant_named(state, body.tenant.as_deref()).await?;
    let key = credentials::generate(API_KEY_PREFIX);
    let record = state
        .store
        .create_api_key(
            tenant.id,
            &name,
            &credentials::display_prefix(&key),
            &state.pepper.hash(&key),
            state.clock.now(),
        )
        .await?;
    let mut view = api_key_view(record);
    view.key = Some(key);
    Ok(view)
}

async fn delete_api_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid("id", &id)?;
    if state.store.delete_api_key(id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("API key `{id}` not found")))
    }
}
