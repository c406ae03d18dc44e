//! The pages: server-rendered HTML, no front-end build. Every form carries the session's CSRF
//! token; the session cookie is HttpOnly, SameSite=Lax and Secure when the app is served over
//! https. A request's state lives on the server and comes from Verity; the page only polls
//! `/requests/{id}/status` to know when to reload.

use std::fmt::Write as _;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;
use verity_core::Secret;

use crate::app::{AppError, Helpdesk, random_token, status};
use crate::directory::{Action, ActionOutcome, EmployeeKey, ProfileField};
use crate::error::DirectoryError;
use crate::store::{RequestRecord, Session, digest};

const COOKIE: &str = "helpdesk_session";
/// The page's own script and style only; QR codes are data: images.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CSP))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("X-Frame-Options", "DENY")),
            )
            .route("/", web::get().to(home))
            .route("/healthz", web::get().to(healthz))
            .route("/static/helpdesk.js", web::get().to(script))
            .route("/static/helpdesk.css", web::get().to(style))
            .route("/portal", web::get().to(portal))
            .route("/portal/sign-in", web::post().to(sign_in))
            .route("/portal/sign-out", web::post().to(sign_out))
            .route("/portal/oidc", web::get().to(oidc_start))
            .route("/portal/oidc/callback", web::get().to(oidc_callback))
            .route("/portal/photo", web::get().to(photo))
            .route("/portal/card", web::post().to(get_card))
            .route("/portal/password", web::post().to(set_password))
            .route("/portal/requests/{id}", web::get().to(card_request))
            .route("/helpdesk", web::get().to(helpdesk))
            .route("/helpdesk/verify", web::post().to(verify))
            .route("/helpdesk/requests/{id}", web::get().to(verification))
            .route("/helpdesk/requests/{id}/actions", web::post().to(action))
            .route("/requests/{id}/status", web::get().to(request_status))
            .route("/callbacks/verity", web::post().to(callback)),
    );
}

// ---------------------------------------------------------------- sessions and forms

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The browser's session, or a new one (with the cookie to set).
async fn session(hd: &Helpdesk, req: &HttpRequest) -> Result<(Session, Option<String>), AppError> {
    let now = hd.clock.now();
    if let Some(id) = cookie_value(req)
        && let Some(s) = hd.store.session(&digest(&id), now).await?
    {
        return Ok((s, None));
    }
    let id = random_token(32);
    let minutes = hd.settings.session_minutes;
    let s = hd
        .store
        .create_session(
            &digest(&id),
            &random_token(24),
            now,
            now + Duration::minutes(minutes),
        )
        .await?;
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        minutes * 60,
        if hd.settings.secure_cookies() {
            "; Secure"
        } else {
            ""
        }
    );
    Ok((s, Some(cookie)))
}

fn session_cookie(hd: &Helpdesk, id: &str) -> String {
    let minutes = hd.settings.session_minutes;
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        minutes * 60,
        if hd.settings.secure_cookies() {
            "; Secure"
        } else {
            ""
        }
    )
}

/// Gives session `s` a new id (returned as its cookie) and CSRF token, signed in as `upn`.
async fn renew(
    hd: &Helpdesk,
    s: &Session,
    upn: Option<&str>,
    via_pass: bool,
) -> Result<String, Page> {
    let id = random_token(32);
    hd.store
        .rotate_session(&s.id_hash, &digest(&id), upn, via_pass, &random_token(24))
        .await
        .or_page(hd)?;
    Ok(session_cookie(hd, &id))
}

/// The session of a form POST, whose CSRF token must match (constant-time).
async fn form_session(hd: &Helpdesk, req: &HttpRequest, csrf: &str) -> Result<Session, Page> {
    let now = hd.clock.now();
    let found = match cookie_value(req) {
        Some(id) => hd.store.session(&digest(&id), now).await.or_page(hd)?,
        None => None,
    };
    let Some(s) = found else {
        return Err(Page::error(
            hd,
            StatusCode::FORBIDDEN,
            "Your session has ended",
            "This form came without a live session (cookies off, or the session expired). Go back, reload the page and try again.",
        ));
    };
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        csrf.as_bytes(),
        s.csrf.as_bytes(),
    )) {
        return Err(Page::error(
            hd,
            StatusCode::FORBIDDEN,
            "The form could not be checked",
            "The form's security token does not match this session (CSRF check). Reload the page and try again.",
        ));
    }
    Ok(s)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

// ---------------------------------------------------------------- page rendering

/// A rendered page and its status.
pub struct Page {
    status: StatusCode,
    title: String,
    body: String,
    data_status: Option<String>,
    poll: Option<String>,
    cookie: Option<String>,
}

impl Page {
    fn new(title: &str, body: String) -> Self {
        Self {
            status: StatusCode::OK,
            title: title.to_owned(),
            body,
            data_status: None,
            poll: None,
            cookie: None,
        }
    }

    fn error(hd: &Helpdesk, status: StatusCode, title: &str, reason: &str) -> Self {
        let _ = hd;
        let mut p = Self::new(
            title,
            format!(
                "<h1>{}</h1><p class=\"refusal\" role=\"alert\" id=\"reason\">{}</p>\
                 <p><a href=\"/\">Start page</a></p>",
                esc(title),
                esc(reason)
            ),
        );
        p.status = status;
        p.data_status = Some("error".into());
        p
    }

    fn render(self, hd: &Helpdesk) -> HttpResponse {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · {company}</title><link rel=\"stylesheet\" href=\"/static/helpdesk.css\">\
             <script src=\"/static/helpdesk.js\" defer></script></head>\
             <body data-status=\"{status}\"{poll}><header><a href=\"/\" class=\"brand\">{company}</a>\
             <nav aria-label=\"Main\"><a href=\"/portal\">My account</a> <a href=\"/helpdesk\">Helpdesk</a></nav></header>\
             <main>{body}</main></body></html>",
            title = esc(&self.title),
            company = esc(&hd.settings.company),
            status = esc(self.data_status.as_deref().unwrap_or("")),
            poll = self
                .poll
                .map(|p| format!(" data-poll=\"{}\"", esc(&p)))
                .unwrap_or_default(),
            body = self.body,
        );
        let mut r = HttpResponse::build(self.status);
        r.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(c) = self.cookie
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            r.append_header((header::SET_COOKIE, v));
        }
        r.body(html)
    }
}

fn error_page(hd: &Helpdesk, e: &AppError) -> Page {
    match e {
        AppError::Denied(reason) => Page::error(hd, StatusCode::FORBIDDEN, "Not allowed", reason),
        AppError::BadInput { field, reason } => Page::error(
            hd,
            StatusCode::BAD_REQUEST,
            "Please check the form",
            &format!("{field}: {reason}"),
        ),
        AppError::NoSuchRequest => Page::error(
            hd,
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such request in this browser session.",
        ),
        AppError::Directory(d) => {
            tracing::warn!(error = %d, "directory call failed");
            // What the person can act on is shown; where the directory is and how it failed
            // (URLs, DNs, the service account) stays in the log.
            let reason = match d {
                DirectoryError::Unsupported { .. }
                | DirectoryError::InvalidRequest { .. }
                | DirectoryError::NotFound { .. } => d.to_string(),
                DirectoryError::Forbidden { .. } => {
                    "the directory does not allow the helpdesk to do this".to_owned()
                }
                _ => "the directory could not be reached or failed; try again later".to_owned(),
            };
            Page::error(
                hd,
                StatusCode::BAD_GATEWAY,
                "The directory could not do this",
                &reason,
            )
        }
        AppError::Verity(v) => {
            tracing::warn!(error = %v, "Verity call failed");
            let reason = match v.inner_code().or(v.status().map(|_| "refused")) {
                Some(code) => format!("Verity refused the request ({code}); try again later"),
                None => "Verity could not be reached; try again later".to_owned(),
            };
            Page::error(
                hd,
                StatusCode::BAD_GATEWAY,
                "Verity refused or could not be reached",
                &reason,
            )
        }
        AppError::Oidc(o) => {
            tracing::warn!(error = %o, "OpenID Connect sign-in failed");
            Page::error(hd, StatusCode::FORBIDDEN, "Sign-in failed", &o.to_string())
        }
        AppError::Store(s) => {
            tracing::error!(error = %s, "helpdesk database failed");
            Page::error(
                hd,
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "The helpdesk could not record this; nothing was done. Try again in a moment.",
            )
        }
    }
}

/// A failed step as its error page (rendered at once, so its size does not matter).
#[allow(clippy::result_large_err)]
trait OrPage<T> {
    fn or_page(self, hd: &Helpdesk) -> Result<T, Page>;
}

impl<T, E: Into<AppError>> OrPage<T> for Result<T, E> {
    fn or_page(self, hd: &Helpdesk) -> Result<T, Page> {
        self.map_err(|e| error_page(hd, &e.into()))
    }
}

fn redirect(to: &str, cookie: Option<String>) -> HttpResponse {
    let mut r = HttpResponse::SeeOther();
    r.insert_header((header::LOCATION, to.to_owned()));
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        r.append_header((header::SET_COOKIE, v));
    }
    r.finish()
}

fn respond(hd: &Helpdesk, result: Result<HttpResponse, Page>) -> HttpResponse {
    result.unwrap_or_else(|p| p.render(hd))
}

fn csrf_field(s: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&s.csrf)
    )
}

// ---------------------------------------------------------------- static

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(include_str!("web/helpdesk.js"))
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(include_str!("web/helpdesk.css"))
}

async fn healthz(hd: web::Data<Helpdesk>) -> HttpResponse {
    match hd.store.pending_tickets().await {
        Ok(n) => {
            HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "pendingTickets": n }))
        }
        Err(e) => {
            tracing::error!(error = %e, "health check");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

async fn home(hd: web::Data<Helpdesk>) -> HttpResponse {
    Page::new(
        "Welcome",
        format!(
            "<h1>{company} employee services</h1>\
             <div class=\"cards\"><section><h2>My account</h2><p>Sign in to see your profile and get your \
             Verified Employee card in your wallet.</p><p><a class=\"button\" href=\"/portal\">Go to my account</a></p></section>\
             <section><h2>Helpdesk</h2><p>Prove who you are with your Verified Employee card and a face check, \
             then get a temporary access pass or other help.</p><p><a class=\"button\" href=\"/helpdesk\">Go to the helpdesk</a></p></section></div>",
            company = esc(&hd.settings.company)
        ),
    )
    .render(&hd)
}

// ---------------------------------------------------------------- the portal

async fn portal(hd: web::Data<Helpdesk>, req: HttpRequest) -> HttpResponse {
    let (s, cookie) = match session(&hd, &req).await {
        Ok(x) => x,
        Err(e) => return error_page(&hd, &e).render(&hd),
    };
    let mut page = match &s.upn {
        None => Page::new(
            "Sign in",
            format!(
                "<h1>My account</h1><p>Sign in with your company account, or with a temporary access pass from the helpdesk.</p>\
                 <form method=\"post\" action=\"/portal/sign-in\" class=\"stack\">{csrf}\
                 <label for=\"username\">User name or email</label>\
                 <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
                 <label for=\"password\">Password or access pass</label>\
                 <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
                 <button type=\"submit\" id=\"sign-in\">Sign in</button></form>{oidc}",
                csrf = csrf_field(&s),
                oidc = if hd.oidc.is_some() {
                    // A link, not a form: the page's CSP limits form targets to this origin, and
                    // the state bound to the session is what protects the sign-in.
                    "<p><a class=\"button\" id=\"sign-in-oidc\" href=\"/portal/oidc\">Sign in with your organisation account</a></p>".to_owned()
                } else {
                    String::new()
                }
            ),
        ),
        Some(upn) => match profile_page(&hd, &s, upn).await {
            Ok(p) => p,
            Err(e) => error_page(&hd, &e),
        },
    };
    page.cookie = cookie;
    page.render(&hd)
}

async fn profile_page(hd: &Helpdesk, s: &Session, upn: &str) -> Result<Page, AppError> {
    let employee = hd
        .directory
        .find(&EmployeeKey::UserPrincipalName(upn.to_owned()))
        .await?;
    let p = &employee.profile;
    let row = |label: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| format!("<dt>{}</dt><dd>{}</dd>", esc(label), esc(v)))
            .unwrap_or_default()
    };
    let has_photo = hd.directory.photo(&employee.id).await?.is_some();
    let password = if s.via_pass {
        format!(
            "<section class=\"notice\"><h2>Choose a new password</h2><p>You signed in with a temporary access pass. \
             Set a new password now.</p><form method=\"post\" action=\"/portal/password\" class=\"stack\">{csrf}\
             <label for=\"new_password\">New password</label><input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
             <label for=\"confirm\">Repeat it</label><input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
             <button type=\"submit\" id=\"set-password\">Set password</button></form></section>",
            csrf = csrf_field(s)
        )
    } else {
        String::new()
    };
    let card = if p.enabled {
        format!(
            "<form method=\"post\" action=\"/portal/card\">{}<button type=\"submit\" id=\"get-card\">Get my Verified Employee card</button></form>",
            csrf_field(s)
        )
    } else {
        "<p class=\"refusal\" role=\"alert\">Your account is disabled: no card can be issued.</p>"
            .into()
    };
    let mut page = Page::new(
        "My account",
        format!(
            "<h1>My account</h1>{password}<section class=\"profile\">{photo}<dl>\
             <dt>Name</dt><dd id=\"display-name\">{name}</dd>{title}{mail}{lang}<dt>Sign-in name</dt><dd>{upn}</dd></dl></section>\
             {card}<form method=\"post\" action=\"/portal/sign-out\">{csrf}<button type=\"submit\" class=\"secondary\">Sign out</button></form>",
            photo = if has_photo {
                format!(
                    "<img src=\"/portal/photo\" alt=\"Photo of {}\" class=\"photo\" width=\"120\" height=\"120\">",
                    esc(&p.display_name)
                )
            } else {
                "<p>No photo in the directory: the card will have none, and the helpdesk's face check cannot be used.</p>".into()
            },
            name = esc(&p.display_name),
            title = row("Job title", &p.job_title),
            mail = row("Email", &p.mail),
            lang = row("Language", &p.preferred_language),
            upn = esc(&p.user_principal_name),
            csrf = csrf_field(s),
        ),
    );
    page.data_status = Some("signed-in".into());
    Ok(page)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn sign_in(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let password = Secret::new(form.password);
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let (upn, via_pass) = hd.sign_in(&form.username, &password).await.or_page(&hd)?;
        // A new session id and CSRF token on every change of who is signed in.
        let cookie = renew(&hd, &s, Some(&upn), via_pass).await?;
        tracing::info!(upn = %upn, via_pass, "portal sign-in");
        Ok(redirect("/portal", Some(cookie)))
    }
    .await;
    respond(&hd, result)
}

async fn sign_out(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let cookie = renew(&hd, &s, None, false).await?;
        Ok(redirect("/portal", Some(cookie)))
    }
    .await;
    respond(&hd, result)
}

async fn oidc_start(hd: web::Data<Helpdesk>, req: HttpRequest) -> HttpResponse {
    let result = async {
        let (s, cookie) = session(&hd, &req).await.or_page(&hd)?;
        let url = hd.begin_oidc(&s.id_hash).await.or_page(&hd)?;
        Ok(redirect(url.as_str(), cookie))
    }
    .await;
    respond(&hd, result)
}

async fn oidc_callback(hd: web::Data<Helpdesk>, req: HttpRequest) -> HttpResponse {
    let result = async {
        let (s, _) = session(&hd, &req).await.or_page(&hd)?;
        let upn = hd
            .finish_oidc(&s.id_hash, req.query_string())
            .await
            .or_page(&hd)?;
        let cookie = renew(&hd, &s, Some(&upn), false).await?;
        tracing::info!(upn = %upn, "portal sign-in with OpenID Connect");
        Ok(redirect("/portal", Some(cookie)))
    }
    .await;
    respond(&hd, result)
}

async fn signed_in(hd: &Helpdesk, req: &HttpRequest) -> Result<(Session, String), Page> {
    let (s, _) = session(hd, req).await.or_page(hd)?;
    match s.upn.clone() {
        Some(upn) => Ok((s, upn)),
        None => Err(Page::error(
            hd,
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "This page is for signed-in employees. Sign in on My account.",
        )),
    }
}

async fn photo(hd: web::Data<Helpdesk>, req: HttpRequest) -> HttpResponse {
    let result = async {
        let (_, upn) = signed_in(&hd, &req).await?;
        let e = hd
            .directory
            .find(&EmployeeKey::UserPrincipalName(upn))
            .await
            .or_page(&hd)?;
        match hd.directory.photo(&e.id).await {
            Ok(Some(jpeg)) => Ok(HttpResponse::Ok()
                .content_type("image/jpeg")
                .insert_header((header::CACHE_CONTROL, "private, no-store"))
                .body(jpeg)),
            Ok(None) => Ok(HttpResponse::NotFound().finish()),
            Err(e) => Err(error_page(&hd, &e.into())),
        }
    }
    .await;
    respond(&hd, result)
}

async fn get_card(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let Some(upn) = s.upn.clone() else {
            return Err(Page::error(
                &hd,
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "Sign in to get your card.",
            ));
        };
        let id = hd.start_issuance(&s.id_hash, &upn).await.or_page(&hd)?;
        Ok(redirect(&format!("/portal/requests/{id}"), None))
    }
    .await;
    respond(&hd, result)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

async fn set_password(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let new_password = Secret::new(form.new_password);
    let confirm = Secret::new(form.confirm);
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let (Some(upn), true) = (s.upn.clone(), s.via_pass) else {
            return Err(Page::error(
                &hd,
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Only a sign-in with a temporary access pass may set a new password here.",
            ));
        };
        if new_password.expose() != confirm.expose() {
            return Err(error_page(
                &hd,
                &AppError::BadInput {
                    field: "confirm",
                    reason: "the two passwords differ".into(),
                },
            ));
        }
        if new_password.expose().chars().count() < 12 {
            return Err(error_page(
                &hd,
                &AppError::BadInput {
                    field: "new_password",
                    reason: "use at least 12 characters".into(),
                },
            ));
        }
        hd.set_password_after_pass(&upn, new_password)
            .await
            .or_page(&hd)?;
        let cookie = renew(&hd, &s, Some(&upn), false).await?;
        Ok(redirect("/portal", Some(cookie)))
    }
    .await;
    respond(&hd, result)
}

/// The request as Verity now reports it; on an outage, as last known (the page polls again).
async fn fresh(hd: &Helpdesk, r: RequestRecord) -> RequestRecord {
    match hd.refresh(&r.request_id, Duration::seconds(1)).await {
        Ok(Some(now)) => now,
        Ok(None) => r,
        Err(e) => {
            tracing::warn!(error = %e, request = %r.request_id, "could not ask Verity about a request");
            r
        }
    }
}

fn qr_block(r: &RequestRecord, what: &str) -> String {
    let qr = r
        .qr_code
        .as_deref()
        .filter(|q| q.starts_with("data:image/png;base64,"))
        .map(|q| format!("<img src=\"{}\" alt=\"QR code: scan it with your wallet to {what}\" class=\"qr\" width=\"256\" height=\"256\">", esc(q)))
        .unwrap_or_default();
    format!(
        "<div class=\"qr-block\">{qr}<p>On your phone? <a id=\"deep-link\" href=\"{link}\">Open your wallet</a>.</p>\
         <p class=\"small\">Link: <code id=\"request-url\">{text}</code></p></div>",
        link = esc(&r.url),
        text = esc(&r.url)
    )
}

fn status_line(r: &RequestRecord) -> String {
    let (text, class) = match r.status.as_str() {
        status::WAITING => ("Waiting for your wallet to scan the code…", "info"),
        status::SCANNED => (
            "Your wallet has the request. Follow the steps on your phone…",
            "info",
        ),
        status::ISSUED => ("Done: the card is in your wallet.", "ok"),
        status::ISSUE_FAILED => (
            "The wallet reported a problem. You may scan again.",
            "refusal",
        ),
        status::VERIFIED => ("Verified.", "ok"),
        status::REFUSED => ("Not verified. You may present again.", "refusal"),
        status::REJECTED => ("Not verified.", "refusal"),
        status::EXPIRED => ("The request expired.", "refusal"),
        _ => ("…", "info"),
    };
    let reason = r
        .reason
        .as_deref()
        .map(|x| format!("<p class=\"refusal\" id=\"reason\">{}</p>", esc(x)))
        .unwrap_or_default();
    format!(
        "<div aria-live=\"polite\"><p class=\"status {class}\" id=\"status\">{text}</p>{reason}</div>"
    )
}

async fn card_request(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let result = async {
        let (s, _) = signed_in(&hd, &req).await?;
        let r = hd
            .owned_request(&s.id_hash, &path)
            .await
            .or_page(&hd)?;
        let r = fresh(&hd, r).await;
        let pin = r
            .pin
            .as_deref()
            .map(|p| format!("<p>Your wallet will ask for this PIN: <strong class=\"pin\" id=\"pin\">{}</strong></p>", esc(p)))
            .unwrap_or_default();
        let body = if r.is_final {
            format!("<h1>Your Verified Employee card</h1>{}<p><a href=\"/portal\">Back to my account</a></p>", status_line(&r))
        } else {
            format!(
                "<h1>Your Verified Employee card</h1><p>Scan the code with your wallet to add your card.</p>{}{pin}{}",
                qr_block(&r, "add your card"),
                status_line(&r)
            )
        };
        let mut page = Page::new("Your card", body);
        page.data_status = Some(r.status.clone());
        if !r.is_final {
            page.poll = Some(format!("/requests/{}/status", r.request_id));
        }
        Ok(page.render(&hd))
    }
    .await;
    respond(&hd, result)
}

// ---------------------------------------------------------------- the helpdesk

async fn helpdesk(hd: web::Data<Helpdesk>, req: HttpRequest) -> HttpResponse {
    let (s, cookie) = match session(&hd, &req).await {
        Ok(x) => x,
        Err(e) => return error_page(&hd, &e).render(&hd),
    };
    let v = &hd.settings.verification;
    let face = if v.face_check {
        "<li>then take a selfie: it is compared with the photo on your card.</li>"
    } else {
        ""
    };
    let mut page = Page::new(
        "Helpdesk",
        format!(
            "<h1>Helpdesk</h1><p>Before we can help with your account, prove who you are:</p>\
             <ol><li>scan a code with your wallet and share your Verified Employee card,</li>{face}</ol>\
             <form method=\"post\" action=\"/helpdesk/verify\">{}<button type=\"submit\" id=\"get-verified\">Get verified</button></form>",
            csrf_field(&s)
        ),
    );
    page.cookie = cookie;
    page.render(&hd)
}

async fn verify(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let id = hd.start_verification(&s.id_hash).await.or_page(&hd)?;
        Ok(redirect(&format!("/helpdesk/requests/{id}"), None))
    }
    .await;
    respond(&hd, result)
}

async fn verification(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let result = async {
        let (s, _) = session(&hd, &req).await.or_page(&hd)?;
        let r = hd
            .owned_request(&s.id_hash, &path)
            .await
            .or_page(&hd)?;
        let r = fresh(&hd, r).await;
        let mut body = String::from("<h1>Verification</h1>");
        match (&r.result, r.status.as_str()) {
            (Some(p), status::VERIFIED) => {
                body += &status_line(&r);
                body += &verified_block(p);
                body += &actions_block(&hd, &s, &r);
            }
            _ if r.is_final => {
                body += &status_line(&r);
                body += &format!("<form method=\"post\" action=\"/helpdesk/verify\">{}<button type=\"submit\">Start again</button></form>", csrf_field(&s));
            }
            _ => {
                body += "<p>Scan the code with your wallet and share your Verified Employee card.</p>";
                body += &qr_block(&r, "share your card");
                body += &status_line(&r);
                // Actions stay visible (and refused) until the caller is verified.
                body += &actions_block(&hd, &s, &r);
            }
        }
        let mut page = Page::new("Verification", body);
        page.data_status = Some(r.status.clone());
        if !r.is_final {
            page.poll = Some(format!("/requests/{}/status", r.request_id));
        }
        Ok(page.render(&hd))
    }
    .await;
    respond(&hd, result)
}

fn verified_block(p: &crate::store::VerifiedPerson) -> String {
    let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("—"));
    format!(
        "<section class=\"verified\" aria-label=\"Verified caller\"><dl>\
         <dt>Name</dt><dd id=\"verified-name\">{}</dd><dt>Job title</dt><dd id=\"verified-title\">{}</dd>\
         <dt>Sign-in name</dt><dd>{}</dd><dt>Issuer</dt><dd id=\"verified-issuer\"><code>{}</code></dd>\
         <dt>Linked domain</dt><dd id=\"verified-domain\">{}</dd><dt>Face match</dt><dd id=\"face-score\">{}</dd></dl></section>",
        esc(&p.display_name),
        opt(&p.job_title),
        esc(&p.user_principal_name),
        esc(&p.issuer),
        opt(&p.linked_domain),
        p.face_match_score
            .map(|s| format!("{s} / 100"))
            .unwrap_or_else(|| "not asked".into()),
    )
}

fn actions_block(hd: &Helpdesk, s: &Session, r: &RequestRecord) -> String {
    let csrf = csrf_field(s);
    let path = format!("/helpdesk/requests/{}/actions", esc(&r.request_id));
    let fields: String = ProfileField::ALL
        .iter()
        .map(|f| {
            format!(
                "<option value=\"{}\">{}</option>",
                esc(f.name()),
                esc(f.label())
            )
        })
        .collect();
    format!(
        "<section class=\"actions\" aria-label=\"Actions\"><h2>What do you need?</h2>\
         <p class=\"small\">Allowed for {window} minutes after a successful verification.</p>\
         <form method=\"post\" action=\"{path}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"access-pass\">\
         <button type=\"submit\" id=\"action-access-pass\">Get a temporary access pass</button></form>\
         <form method=\"post\" action=\"{path}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"reset-password\">\
         <button type=\"submit\" id=\"action-reset-password\" class=\"secondary\">Reset my password</button></form>\
         <form method=\"post\" action=\"{path}\">{csrf}<input type=\"hidden\" name=\"action\" value=\"mfa\">\
         <button type=\"submit\" id=\"action-mfa\" class=\"secondary\">Register my sign-in methods again</button></form>\
         <form method=\"post\" action=\"{path}\" class=\"stack\">{csrf}<input type=\"hidden\" name=\"action\" value=\"profile\">\
         <label for=\"field\">Profile field</label><select id=\"field\" name=\"field\">{fields}</select>\
         <label for=\"value\">New value</label><input id=\"value\" name=\"value\" maxlength=\"128\">\
         <button type=\"submit\" id=\"action-profile\" class=\"secondary\">Update my profile</button></form></section>",
        window = hd.settings.actions.window_minutes,
    )
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
}

async fn action(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let result = async {
        let s = form_session(&hd, &req, &form.csrf).await?;
        let action = match form.action.as_str() {
            "access-pass" => hd.access_pass_action(),
            "reset-password" => Action::ResetPassword,
            "mfa" => Action::RequireMfaReregistration,
            "profile" => {
                let field = form.field.parse::<ProfileField>().map_err(|e| {
                    error_page(&hd, &AppError::BadInput { field: "field", reason: e.to_string() })
                })?;
                Action::UpdateProfile { field, value: form.value.clone() }
            }
            other => {
                return Err(error_page(
                    &hd,
                    &AppError::BadInput { field: "action", reason: format!("{other:?} is not an action") },
                ));
            }
        };
        let done = hd
            .perform(&s.id_hash, &path, action)
            .await
            .or_page(&hd)?;
        let body = match &done {
            ActionOutcome::TemporaryAccessPass(t) => format!(
                "<h1>Your temporary access pass</h1><p>Use it to sign in (on My account, or wherever you sign in) and set up your account again. \
                 It is shown only once.</p><p class=\"secret\" id=\"access-pass\">{}</p>\
                 <p>Valid until <time datetime=\"{exp}\">{exp}</time>{once}.</p>",
                esc(t.pass.expose()),
                exp = esc(&t.expires_at.to_rfc3339()),
                once = if t.usable_once { ", usable once" } else { "" }
            ),
            ActionOutcome::PasswordReset { new_password } => format!(
                "<h1>Your password was reset</h1><p>Your new password, shown only once:</p><p class=\"secret\" id=\"new-password\">{}</p>",
                esc(new_password.expose())
            ),
            other => format!("<h1>Done</h1><p id=\"action-result\">{}</p>", esc(&outcome_text(other))),
        };
        let mut page = Page::new("Done", format!("{body}<p><a href=\"/helpdesk/requests/{}\">Back</a></p>", esc(&path)));
        page.data_status = Some("performed".into());
        Ok(page.render(&hd))
    }
    .await;
    respond(&hd, result)
}

fn outcome_text(o: &ActionOutcome) -> String {
    match o {
        ActionOutcome::ProfileUpdated { field, new, .. } => {
            format!("Your {} is now {new}.", field.label().to_lowercase())
        }
        ActionOutcome::MfaReregistrationRequired => {
            "You will be asked to register your sign-in methods again at your next sign-in.".into()
        }
        _ => "Done.".into(),
    }
}

// ---------------------------------------------------------------- polling and callbacks

async fn request_status(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let result = async {
        let (s, _) = session(&hd, &req).await?;
        let r = hd.owned_request(&s.id_hash, &path).await?;
        let r = hd
            .refresh(&r.request_id, Duration::seconds(2))
            .await?
            .unwrap_or(r);
        Ok::<_, AppError>(r)
    }
    .await;
    match result {
        Ok(r) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "status": r.status, "final": r.is_final })),
        Err(AppError::NoSuchRequest) => {
            HttpResponse::NotFound().json(serde_json::json!({ "status": "unknown" }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "status poll");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

#[derive(Deserialize)]
struct CallbackBody {
    #[serde(rename = "requestId")]
    request_id: String,
}

async fn callback(
    hd: web::Data<Helpdesk>,
    req: HttpRequest,
    body: web::Json<CallbackBody>,
) -> HttpResponse {
    let key = req
        .headers()
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match hd.on_callback(&body.request_id, key).await {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => HttpResponse::Unauthorized().finish(),
        Err(e) => {
            tracing::warn!(error = %e, "callback: could not ask Verity");
            // Verity retries a failed callback.
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
