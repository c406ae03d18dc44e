//! Request extractors: JSON bodies with field-precise errors, and the two kinds of caller
//! (API clients with a bearer token or API key; operators with the admin token).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::credentials::API_KEY_PREFIX;
use crate::error::{ApiError, InnerCode};
use crate::state::AppState;

/// A JSON body, limited in size; errors name the offending field (`registration.clientName`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, max_depth) = req
            .app_data::<web::Data<AppState>>()
            .map_or((1024 * 1024, crate::limits::DEFAULT_JSON_MAX_DEPTH), |s| {
                (s.config.server.body_limit_bytes, s.limits.json_max_depth())
            });
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    InnerCode::InvalidRequestBody,
                    "the body must be JSON with `Content-Type: application/json`",
                ));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::bad_body(format!("could not read the body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json_with_depth(&body.freeze(), max_depth).map(ApiJson)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        InnerCode::PayloadTooLarge,
        format!("the request body exceeds the limit of {limit} bytes"),
    )
}

/// Parses JSON, turning serde's error into one that names the field path; bodies nested
/// deeper than [`crate::limits::DEFAULT_JSON_MAX_DEPTH`] are refused before parsing.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    parse_json_with_depth(body, crate::limits::DEFAULT_JSON_MAX_DEPTH)
}

/// [`parse_json`] with the nesting limit `max_depth` (`limits.json_max_depth`): a deeper body
/// is refused 400 naming the limit, before deserialisation.
pub fn parse_json_with_depth<T: DeserializeOwned>(
    body: &Bytes,
    max_depth: usize,
) -> Result<T, ApiError> {
    verity_api::read_body(body, max_depth).map_err(|e| match e {
        verity_api::BodyError::Field { field, message } => ApiError::bad_field(field, message),
        other => ApiError::bad_body(other.to_string()),
    })
}

/// The bearer credential of a request, if any.
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is missing"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(token.trim().to_owned())
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// Verifies an access token; a token signed by a service key this process has not seen (one
/// another replica created) reloads the service keys from the store once and is checked again,
/// so every replica accepts every replica's tokens.
async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<crate::tokens::AccessClaims, crate::tokens::TokenError> {
    let now = state.clock.unix();
    match state.tokens.verify(token, now) {
        Err(crate::tokens::TokenError::UnknownKey) => {
            if let Ok(keys) = state
                .store
                .service_keys(verity_store::KeyPurpose::AccessToken)
                .await
            {
                let jwks = keys
                    .iter()
                    .filter(|k| k.state != verity_store::KeyState::Revoked)
                    .filter_map(|k| crate::authorities::public_jwk(k).ok())
                    .collect();
                state.tokens.set_verify_keys(jwks);
            }
            state.tokens.verify(token, now)
        }
        other => other,
    }
}

/// An authenticated Request Service API caller, scoped to one tenant.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub tenant_id: Uuid,
    /// The client id (OAuth client) or the API key's id.
    pub principal: String,
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let token = bearer(&req)?;
            if token.starts_with(API_KEY_PREFIX) {
                let key = state
                    .store
                    .api_key_by_hash(&state.pepper.hash(&token))
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
                let caller = ApiCaller {
                    tenant_id: key.tenant_id,
                    principal: key.id.to_string(),
                };
                return caller.within_limit(&state);
            }
            let claims = verify_access_token(&state, &token)
                .await
                .map_err(|e| ApiError::unauthorized(e.to_string()))?;
            // A deleted client's tokens stop working at once, not at expiry.
            let client = state.store.api_client(&claims.sub).await?.ok_or_else(|| {
                ApiError::unauthorized("the API client of this token no longer exists")
            })?;
            if client.tenant_id.to_string() != claims.tid {
                return Err(ApiError::unauthorized(
                    "the access token's tenant does not match its client",
                ));
            }
            ApiCaller {
                tenant_id: client.tenant_id,
                principal: client.client_id,
            }
            .within_limit(&state)
        })
    }
}

impl ApiCaller {
    /// This caller, unless its API client has spent `limits.api_client_per_minute` (429).
    fn within_limit(self, state: &AppState) -> Result<Self, ApiError> {
        state
            .limits
            .check_api_client(&self.principal)
            .map_err(|l| l.api_error("Request Service API calls by this API client"))?;
        Ok(self)
    }
}

/// An operator holding the admin token.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let token = bearer(&req)?;
            if state.pepper.verify(&token, &state.admin_token_hash) {
                return Ok(AdminCaller);
            }
            // Tell API callers why a working credential does not work here.
            let is_api_credential = token.starts_with(API_KEY_PREFIX)
                || verify_access_token(&state, &token).await.is_ok();
            if is_api_credential {
                return Err(ApiError::forbidden(
                    "API client credentials cannot call the admin API: use the admin token",
                ));
            }
            Err(ApiError::unauthorized("the admin token is not valid"))
        })
    }
}
