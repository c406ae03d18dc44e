//! The operator console at `/console`: server-rendered HTML, no front-end build step, one small
//! script for the card preview and the live request status.
//!
//! - **Login** with the admin token. The session is a cookie sealed (XChaCha20-Poly1305) under a
//!   key derived from the stored subkey root: it holds a random session id, its expiry (8 h) and
//!   a tag of the admin token's hash, so changing the admin token ends every session. The cookie
//!   is `HttpOnly; Secure; SameSite=Strict; Path=/console` (browsers treat `localhost` as
//!   secure, so it works on a development machine over http too).
//! - **CSRF**: every form carries a token, HMAC-SHA256 of the session id under another derived
//!   key; a POST without the right token (or from another origin) is refused 403 and changes
//!   nothing. Console actions are written to the audit log (actor `console`).
//! - **Secrets** (client secrets, API keys) are on the one page that creates them, never again.
//!
//! Every change goes through the same functions as the admin and Request Service APIs, so the
//! console refuses what they refuse, naming the field.

mod pages;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::routes::home::escape;
use crate::state::AppState;

pub use pages::routes;

/// The session cookie's name.
pub const COOKIE: &str = "verity_console";
/// How long a console session lasts.
pub const SESSION_SECS: i64 = 8 * 3600;
const SESSION_AAD: &[u8] = b"verity console session";

/// The page's policy: scripts and styles from here only (the card preview sets colours, so
/// style attributes are allowed), images from here, `data:` (QR codes) and https (card logos).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: https:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

#[derive(Serialize, Deserialize)]
struct SessionClaims {
    sid: String,
    exp: i64,
    /// A tag of the admin token's stored hash: a new admin token ends every session.
    tok: String,
}

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    sid: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

fn subkey(state: &AppState, label: &[u8]) -> [u8; 32] {
    *state.subkeys.derive_subkey(label)
}

fn token_tag(state: &AppState) -> String {
    let digest = Sha256::digest(state.admin_token_hash.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

fn csrf_for(state: &AppState, sid: &str) -> String {
    let key = subkey(state, b"verity console csrf v1");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
    mac.update(sid.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn session_kek(state: &AppState) -> verity_jose::KeyEncryptionKey {
    verity_jose::KeyEncryptionKey::from_bytes(subkey(state, b"verity console session v1"))
}

/// A new session's cookie value and the session.
fn new_session(state: &AppState) -> Result<(String, Session), ApiError> {
    let sid = crate::flows::random_b64(18);
    let claims = SessionClaims {
        sid: sid.clone(),
        exp: state.clock.unix() + SESSION_SECS,
        tok: token_tag(state),
    };
    let plain = serde_json::to_vec(&claims).map_err(ApiError::internal)?;
    let sealed = session_kek(state)
        .seal(SESSION_AAD, &plain)
        .map_err(ApiError::internal)?;
    let csrf = csrf_for(state, &sid);
    Ok((URL_SAFE_NO_PAD.encode(sealed), Session { sid, csrf }))
}

/// The cookie named `name` of `req`, if any.
fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session of `req`, when its cookie opens, is not expired and belongs to the current
/// admin token.
pub fn session_of(req: &HttpRequest, state: &AppState) -> Option<Session> {
    let value = cookie(req, COOKIE)?;
    let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
    let plain = session_kek(state).open(SESSION_AAD, &sealed).ok()?;
    let claims: SessionClaims = serde_json::from_slice(&plain).ok()?;
    if claims.exp <= state.clock.unix() {
        return None;
    }
    if !bool::from(claims.tok.as_bytes().ct_eq(token_tag(state).as_bytes())) {
        return None;
    }
    let csrf = csrf_for(state, &claims.sid);
    Some(Session {
        sid: claims.sid,
        csrf,
    })
}

fn set_cookie(value: &str, max_age: i64) -> String {
    format!("{COOKIE}={value}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// Why a console request did not get its page.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not logged in (or the session ended): to the login page.
    Login,
    /// A form without the session's CSRF token, or from another origin.
    Csrf,
    /// The action failed; shown on an error page.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<verity_store::StoreError> for ConsoleError {
    fn from(e: verity_store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Login => f.write_str("not logged in"),
            Self::Csrf => f.write_str("CSRF token missing or wrong"),
            Self::Api(e) => write!(f, "{e}"),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Login => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Api(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Login => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/login"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
            Self::Csrf => html(
                StatusCode::FORBIDDEN,
                "Refused",
                None,
                "<h1>Refused</h1><p class=\"notice error\">This form was not sent from a console page of \
                 this session (its CSRF token is missing or wrong), so nothing was changed. \
                 <a href=\"/console\">Back to the console</a>.</p>",
            ),
            Self::Api(e) => {
                let target = e
                    .target()
                    .map(|t| format!(" (<code>{}</code>)", escape(t)))
                    .unwrap_or_default();
                html(
                    e.status(),
                    "Error",
                    None,
                    &format!(
                        "<h1>That did not work</h1><p class=\"notice error\">{}{target}</p>\
                         <p><a href=\"/console\">Back to the console</a></p>",
                        escape(&e.public_message())
                    ),
                )
            }
        }
    }
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ConsoleError::Api(ApiError::internal("no application state")))?;
            session_of(&req, state).ok_or(ConsoleError::Login)
        })
    }
}

/// A submitted form: its fields by name (the last value wins).
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The field's value, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The field's value, or `None` when absent or empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

impl Session {
    /// Refuses a form without this session's CSRF token or from another origin.
    pub fn check(&self, req: &HttpRequest, form: &FormData) -> Result<(), ConsoleError> {
        let given = form.get("csrf");
        if given.is_empty() || !bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes())) {
            tracing::warn!(path = %req.path(), "console form refused: CSRF token missing or wrong");
            return Err(ConsoleError::Csrf);
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            // The browser names the page's origin: it must be this server as the browser
            // reached it (its Host header) or as configured (`server.public_url`).
            let origin = origin.to_str().unwrap_or_default();
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let public = req
                .app_data::<web::Data<AppState>>()
                .map(|s| s.public_url.trim_end_matches('/').to_owned())
                .unwrap_or_default();
            let same = origin == public
                || origin
                    .split_once("://")
                    .is_some_and(|(_, h)| !h.is_empty() && h == host);
            if !same {
                tracing::warn!(path = %req.path(), %origin, %host, "console form refused: sent from another origin");
                return Err(ConsoleError::Csrf);
            }
        }
        Ok(())
    }

    /// The hidden CSRF field of a form.
    pub fn field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(&self.csrf)
        )
    }

    /// The session id's hash prefix, for logs (never the id itself).
    pub fn log_id(&self) -> String {
        let d = Sha256::digest(self.sid.as_bytes());
        URL_SAFE_NO_PAD.encode(&d[..6])
    }
}

/// Sections of the console, in the navigation's order.
pub const NAV: &[(&str, &str)] = &[
    ("/console", "Overview"),
    ("/console/authorities", "Authorities"),
    ("/console/contracts", "Contracts"),
    ("/console/access", "API access"),
    ("/console/credentials", "Credentials"),
    ("/console/requests", "Requests"),
    ("/console/try", "Try it"),
];

/// A console page: header with navigation (and logout when `session` is given), then `body`.
pub fn html(
    status: StatusCode,
    title: &str,
    session: Option<(&Session, &str)>,
    body: &str,
) -> HttpResponse {
    let nav = match session {
        Some((s, current)) => {
            let links: String = NAV
                .iter()
                .map(|(href, label)| {
                    let cur = if *href == current {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!("<a href=\"{href}\"{cur}>{label}</a>")
                })
                .collect();
            format!(
                "<nav aria-label=\"Console\">{links}</nav>\
                 <form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\">Log out</button></form>",
                s.field()
            )
        }
        None => String::new(),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} - Verity console</title>\n\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\n\
         <script src=\"/console/assets/console.js\" defer></script>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header><a class=\"brand\" href=\"/console\">Verity console</a>{nav}</header>\n\
         <main id=\"main\">\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own forms.
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page)
}

/// 303 to `location` (after a form, so a reload does not send it again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_read_the_last_value_trimmed() {
        let f = FormData::parse(b"a=1&b=+x+&a=2&c=");
        assert_eq!(f.get("a"), "2");
        assert_eq!(f.get("b"), "x");
        assert_eq!(f.opt("c"), None);
        assert_eq!(f.get("missing"), "");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::COOKIE, "a=1; verity_console=abc; b=2"))
            .to_http_request();
        assert_eq!(cookie(&req, COOKIE), Some("abc"));
        assert_eq!(cookie(&req, "c"), None);
    }

    #[test]
    fn the_session_cookie_is_locked_down() {
        let c = set_cookie("v", 60);
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/console",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
    }
}
