//! OAuth 2.0 client-credentials token endpoint and the OpenID discovery document MSAL needs
//! when an app points its authority at Verity.

use crate::openapi::{Op, Routes};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::config::HOSTED_SERVICE_RESOURCE;
use crate::error::{ApiError, InnerCode, correlation_id};
use crate::limits::{Endpoint, Limited};
use crate::state::AppState;
use crate::tokens::audience_from_scope;

pub fn routes(r: &mut Routes) {
    r.get(
        "/.well-known/openid-configuration",
        discovery,
        Op::new(
            "oauthDiscovery",
            "OAuth",
            "OpenID Provider metadata of the token service",
        )
        .ok_any(
            200,
            "Issuer, token endpoint, JWKS URI, supported grants and scopes",
        ),
    )
    .post(
        "/oauth2/token",
        token,
        Op::new(
            "oauthToken",
            "OAuth",
            "An access token for an API client (client credentials)",
        )
        .body_form(
            &[
                ("grant_type", true, "`client_credentials`"),
                ("client_id", true, "The API client's id"),
                ("client_secret", true, "The API client's secret"),
                ("scope", true, "`<audience>/.default`"),
            ],
            "The token request (RFC 6749 section 4.4)",
        )
        .ok_any(200, "`access_token`, `token_type` (Bearer), `expires_in`")
        .oauth_errors()
        .error(400, &[])
        .error(401, &[]),
    )
    .get(
        "/oauth2/keys",
        jwks,
        Op::new(
            "oauthKeys",
            "OAuth",
            "The keys access tokens are signed with (JWKS)",
        )
        .ok_any(200, "A JSON Web Key Set"),
    )
    .get(
        "/oauth2/authorize",
        authorize,
        Op::new(
            "oauthAuthorize",
            "OAuth",
            "Refused: tokens go to applications only",
        )
        .ok_any(
            400,
            "`unsupported_response_type`: use client credentials at the token endpoint",
        ),
    )
    .get(
        "/oauth2/logout",
        logout,
        Op::new(
            "oauthLogout",
            "OAuth",
            "Nothing to end: there are no user sessions",
        )
        .ok_text(200, "text/plain", "A sentence saying so"),
    );
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let base = &state.public_url;
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=3600")).json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/oauth2/keys"),
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": state.tokens.audiences().iter().map(|a| format!("{a}/.default")).collect::<Vec<_>>(),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "tid", "roles", "azp", "appid"],
    }))
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.tokens.jwks())
}

/// Interactive sign-in is not offered: Verity authenticates applications, not users.
async fn authorize() -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": "unsupported_response_type",
        "error_description": "this authority issues tokens to applications only (grant_type=client_credentials at the token endpoint)"
    }))
}

/// There are no user sessions to end; answers so sign-out flows of generic clients complete.
async fn logout() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("No session: this authority keeps no user sessions.\n")
}

/// An OAuth failure. Generic callers get the API error shape (protocol.md §1) plus
/// `error_description`; OAuth libraries (MSAL sends `x-client-*` telemetry) get RFC 6749 §5.2,
/// because they read `error` as a string.
struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthFailure {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`: `invalid_request` for OAuth libraries (RFC 6749 has no
    /// rate-limit code; the status says it, RFC 6585), `rateLimited` in the API shape.
    fn limited(l: Limited, what: &str) -> Self {
        let mut f = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            format!("too many {what}; retry in {} s", l.retry_after_secs),
        );
        f.retry_after = Some(l.retry_after_secs);
        f
    }

    fn respond(self, rfc6749: bool) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if rfc6749 {
            return resp.json(json!({
                "error": self.error,
                "error_description": self.description,
                "correlation_id": correlation_id(),
            }));
        }
        let inner = match self.status {
            StatusCode::UNAUTHORIZED => InnerCode::TokenError,
            StatusCode::TOO_MANY_REQUESTS => InnerCode::RateLimited,
            _ => InnerCode::BadOrMissingField,
        };
        let api =
            ApiError::new(self.status, inner, self.description.clone()).with_target(self.error);
        let mut body = api.body();
        body["error_description"] = json!(self.description);
        body["oauth_error"] = json!(self.error);
        resp.json(body)
    }
}

fn is_oauth_library(req: &HttpRequest, form: &[(String, String)]) -> bool {
    req.headers()
        .keys()
        .any(|k| k.as_str().starts_with("x-client-"))
        || form.iter().any(|(k, _)| {
            k.starts_with("x-client-") || k == "client-request-id" || k == "client_info"
        })
}

async fn token(req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> HttpResponse {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let rfc = is_oauth_library(&req, &form);
    if let Err(l) = state.limits.check(Endpoint::OAuthToken, &req) {
        return OAuthFailure::limited(l, "token requests from this client address").respond(rfc);
    }
    match issue(&req, &state, &form).await {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body),
        Err(f) => f.respond(rfc),
    }
}

async fn issue(
    req: &HttpRequest,
    state: &AppState,
    form: &[(String, String)],
) -> Result<serde_json::Value, OAuthFailure> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type `{other}` is not supported: use client_credentials"),
            ));
        }
        None => {
            return Err(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ));
        }
    }
    let (client_id, secret) = match basic_credentials(req) {
        Some(pair) => pair,
        None => (
            field("client_id").unwrap_or_default().to_owned(),
            field("client_secret").unwrap_or_default().to_owned(),
        ),
    };
    if client_id.is_empty() || secret.is_empty() {
        return Err(OAuthFailure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required",
        ));
    }
    let audience = audience_from_scope(field("scope").unwrap_or(""), state.tokens.audiences())
        .map_err(|m| OAuthFailure::new(StatusCode::BAD_REQUEST, "invalid_scope", m))?
        .unwrap_or_else(|| HOSTED_SERVICE_RESOURCE.to_owned());
    if let Err(l) = state.limits.oauth_client_may_try(&client_id) {
        return Err(OAuthFailure::limited(
            l,
            "failed authentications of this client",
        ));
    }
    let client = state.store.api_client(&client_id).await.map_err(|e| {
        tracing::error!(error = %e, "token endpoint: database");
        OAuthFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the database is unavailable",
        )
    })?;
    // Same answer for an unknown client and a wrong secret: no client enumeration.
    let Some(client) = client.filter(|c| state.pepper.verify(&secret, &c.secret_hash)) else {
        tracing::info!(client_id = %client_id, "token endpoint: rejected client credentials");
        state.limits.oauth_client_failed(&client_id);
        return Err(OAuthFailure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the client credentials are not valid",
        ));
    };
    let token = state
        .tokens
        .issue(
            &client.client_id,
            client.tenant_id,
            &audience,
            state.clock.unix(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token endpoint: signing failed");
            OAuthFailure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the token could not be signed",
            )
        })?;
    let ttl = state.tokens.ttl_secs();
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": token,
    }))
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
        .next()?
        .1
        .into_owned();
    let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
        .next()?
        .1
        .into_owned();
    Some((id, secret))
}
