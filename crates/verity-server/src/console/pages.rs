//! The console's pages and forms.

use std::fmt::Write as _;

use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    ConsoleError, FormData, Session, html, new_session, see_other, session_of, set_cookie,
};
use crate::api_types::{CreateAuthority, CreateCredential};
use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::openapi::{Op, Routes};
use crate::routes::admin_credentials::{CredentialQuery, RevokeRequest};
use crate::routes::home::escape;
use crate::rp_types::{
    IssuanceRequest, PresentationRequest, QrCodeFormat, Registration, RequestedConfiguration,
    RequestedCredential,
};
use crate::state::AppState;

type Page = Result<HttpResponse, ConsoleError>;

const JS: &[u8] = include_bytes!("../../assets/console/console.js");
const CSS: &[u8] = include_bytes!("../../assets/console/console.css");
const ALGORITHMS: [&str; 3] = ["ES256", "EdDSA", "ES256K"];

fn page_op(id: &'static str, summary: &'static str) -> Op {
    Op::new(id, "Console", summary)
        .ok_text(200, "text/html", "The page")
        .ok_empty(303, "Without a session: to the login page")
}

fn form_op(
    id: &'static str,
    summary: &'static str,
    fields: &'static [(&'static str, bool, &'static str)],
) -> Op {
    Op::new(id, "Console", summary)
        .body_form(fields, "The form, with the session's CSRF token")
        .ok_empty(
            303,
            "Done: to the page that shows it (or to the login page)",
        )
        .ok_text(
            200,
            "text/html",
            "The page again, with what went wrong at the field",
        )
        .ok_text(
            403,
            "text/html",
            "Refused: the CSRF token is missing or wrong",
        )
}

const CSRF: (&str, bool, &str) = ("csrf", true, "The session's CSRF token");

pub fn routes(r: &mut Routes) {
    r.get(
        "/console",
        overview,
        page_op("consoleOverview", "Console: overview"),
    )
    .get(
        "/console/login",
        login_page,
        Op::new("consoleLoginPage", "Console", "Console: the login form").ok_text(
            200,
            "text/html",
            "The page",
        ),
    )
    .post(
        "/console/login",
        login,
        Op::new(
            "consoleLogin",
            "Console",
            "Console: log in with the admin token",
        )
        .body_form(&[("token", true, "The admin token")], "The login form")
        .ok_empty(303, "Logged in: the session cookie is set")
        .ok_text(401, "text/html", "The token is not valid")
        .ok_text(429, "text/html", "Too many attempts from this address"),
    )
    .post(
        "/console/logout",
        logout,
        form_op("consoleLogout", "Console: log out", &[CSRF]),
    )
    .get(
        "/console/assets/{asset}",
        asset,
        Op::new(
            "consoleAsset",
            "Console",
            "The console's script and stylesheet",
        )
        .ok_binary("text/css", "The file")
        .not_found(),
    )
    .get(
        "/console/authorities",
        authorities,
        page_op("consoleAuthorities", "Console: authorities"),
    )
    .post(
        "/console/authorities",
        create_authority,
        form_op(
            "consoleCreateAuthority",
            "Console: create an authority",
            &[
                CSRF,
                ("name", true, "Display name"),
                ("path", false, "Path below the domain"),
                ("algorithm", false, "ES256, EdDSA or ES256K"),
                ("tenant", false, "Tenant name"),
            ],
        ),
    )
    .get(
        "/console/authorities/{id}",
        authority,
        page_op(
            "consoleAuthority",
            "Console: an authority, its keys and domain linkage",
        ),
    )
    .post(
        "/console/authorities/{id}/rotate",
        rotate,
        form_op(
            "consoleRotateKey",
            "Console: rotate an authority's key",
            &[CSRF, ("algorithm", false, "The new key's algorithm")],
        ),
    )
    .get(
        "/console/contracts",
        contracts,
        page_op("consoleContracts", "Console: contracts"),
    )
    .get(
        "/console/contracts/new",
        new_contract,
        page_op("consoleNewContract", "Console: the new-contract form"),
    )
    .post(
        "/console/contracts",
        create_contract,
        form_op(
            "consoleCreateContract",
            "Console: create a contract",
            &[
                CSRF,
                ("id", true, "Slug"),
                ("name", true, "Name"),
                ("authority", true, "Authority DID"),
                ("type", true, "Credential type"),
                ("card_title", true, "Card title"),
                ("issued_by", true, "Issuer name on the card"),
                ("background_color", true, "#RRGGBB"),
                ("text_color", true, "#RRGGBB"),
                ("logo_uri", true, "Logo URL (https)"),
                ("description", true, "Card text"),
                ("claims", true, "One claim per line: `name: Label`"),
                ("validity_days", true, "Days a credential is valid"),
                (
                    "suspendable",
                    false,
                    "`on`: credentials can be suspended and resumed",
                ),
            ],
        ),
    )
    .get(
        "/console/contracts/{id}",
        edit_contract,
        page_op("consoleContract", "Console: edit a contract"),
    )
    .post(
        "/console/contracts/{id}",
        update_contract,
        form_op(
            "consoleUpdateContract",
            "Console: replace a contract's definition",
            &[CSRF, ("definition", true, "The contract's JSON")],
        ),
    )
    .get(
        "/console/access",
        access,
        page_op("consoleAccess", "Console: API clients and API keys"),
    )
    .post(
        "/console/access/clients",
        create_client,
        form_op(
            "consoleCreateClient",
            "Console: create an API client (its secret is shown once)",
            &[
                CSRF,
                ("name", true, "Name"),
                ("tenant", false, "Tenant name"),
            ],
        ),
    )
    .post(
        "/console/access/clients/{id}/delete",
        delete_client,
        form_op(
            "consoleDeleteClient",
            "Console: delete an API client",
            &[CSRF],
        ),
    )
    .post(
        "/console/access/keys",
        create_key,
        form_op(
            "consoleCreateApiKey",
            "Console: create an API key (shown once)",
            &[
                CSRF,
                ("name", true, "Name"),
                ("tenant", false, "Tenant name"),
            ],
        ),
    )
    .post(
        "/console/access/keys/{id}/delete",
        delete_key,
        form_op("consoleDeleteApiKey", "Console: revoke an API key", &[CSRF]),
    )
    .get(
        "/console/credentials",
        credentials,
        page_op("consoleCredentials", "Console: search issued credentials")
            .query_type::<CredentialQuery>(),
    )
    .post(
        "/console/credentials/revoke",
        revoke,
        form_op(
            "consoleRevoke",
            "Console: revoke a credential",
            &[
                CSRF,
                ("jti", true, "The credential's jti"),
                ("reason", false, "Why"),
            ],
        ),
    )
    .post(
        "/console/credentials/suspend",
        suspend,
        form_op(
            "consoleSuspend",
            "Console: suspend a credential",
            &[
                CSRF,
                ("jti", true, "The credential's jti"),
                ("reason", false, "Why"),
            ],
        ),
    )
    .post(
        "/console/credentials/resume",
        resume,
        form_op(
            "consoleResume",
            "Console: resume a suspended credential",
            &[
                CSRF,
                ("jti", true, "The credential's jti"),
                ("reason", false, "Why"),
            ],
        ),
    )
    .get(
        "/console/requests",
        requests,
        page_op(
            "consoleRequests",
            "Console: recent requests by kind and status",
        )
        .query("kind", false, "`issuance` or `presentation`")
        .query("status", false, "A request status"),
    )
    .get(
        "/console/try",
        try_page,
        page_op("consoleTry", "Console: try an issuance or a presentation").query(
            "contract",
            false,
            "The contract to issue",
        ),
    )
    .post(
        "/console/try",
        try_create,
        form_op(
            "consoleTryCreate",
            "Console: create a request to test with a wallet",
            &[
                CSRF,
                ("kind", true, "`issuance` or `presentation`"),
                ("contract", false, "Issuance: the contract id"),
                (
                    "authority",
                    false,
                    "Presentation: the verifier authority id",
                ),
                ("type", false, "Presentation: the credential type"),
                ("issuer", false, "Presentation: the accepted issuer DID"),
            ],
        ),
    )
    .get(
        "/console/try/{id}",
        try_show,
        page_op(
            "consoleTryRequest",
            "Console: a request's QR code and live status",
        ),
    )
    .get(
        "/console/try/{id}/status",
        try_status,
        Op::new(
            "consoleTryStatus",
            "Console",
            "Console: a request's status (polled)",
        )
        .ok_any(200, "`{ requestStatus, body }`")
        .ok_empty(303, "Without a session: to the login page")
        .not_found(),
    );
}

// ---- helpers --------------------------------------------------------------------------------

fn ok(title: &str, s: &Session, current: &str, body: &str) -> Page {
    Ok(html(StatusCode::OK, title, Some((s, current)), body))
}

/// An error shown at the form field it names (`field` is the form's name for that target).
struct FieldError {
    field: String,
    message: String,
}

fn field_error(e: &ApiError, map: fn(&str) -> &'static str) -> FieldError {
    FieldError {
        field: e.target().map(map).unwrap_or("").to_owned(),
        message: match e.target() {
            Some(t) => format!("{} ({t})", e.public_message()),
            None => e.public_message(),
        },
    }
}

/// A labelled text input, with its error when it has one.
fn input(
    name: &str,
    label: &str,
    value: &str,
    hint: &str,
    kind: &str,
    error: Option<&FieldError>,
) -> String {
    let err = error.filter(|e| e.field == name);
    let mut out = format!("<label for=\"f-{name}\">{}</label>", escape(label));
    let described = if err.is_some() {
        format!(" aria-invalid=\"true\" aria-describedby=\"err-{name}\"")
    } else if !hint.is_empty() {
        format!(" aria-describedby=\"hint-{name}\"")
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<input type=\"{kind}\" id=\"f-{name}\" name=\"{name}\" value=\"{}\" data-preview=\"{name}\"{described}>",
        escape(value)
    );
    if !hint.is_empty() {
        let _ = write!(
            out,
            "<p class=\"hint\" id=\"hint-{name}\">{}</p>",
            escape(hint)
        );
    }
    if let Some(e) = err {
        let _ = write!(
            out,
            "<p class=\"field-error\" id=\"err-{name}\" role=\"alert\">{}</p>",
            escape(&e.message)
        );
    }
    out
}

/// The form's summary of what went wrong (the field, when it has an input, repeats it).
fn form_error(error: Option<&FieldError>) -> String {
    error
        .map(|e| {
            format!(
                "<p class=\"notice error\" role=\"alert\">Not saved: {}</p>",
                escape(&e.message)
            )
        })
        .unwrap_or_default()
}

fn select(name: &str, label: &str, options: &[(String, String)], selected: &str) -> String {
    let mut out = format!(
        "<label for=\"f-{name}\">{}</label><select id=\"f-{name}\" name=\"{name}\">",
        escape(label)
    );
    for (value, text) in options {
        let sel = if value == selected { " selected" } else { "" };
        let _ = write!(
            out,
            "<option value=\"{}\"{sel}>{}</option>",
            escape(value),
            escape(text)
        );
    }
    out.push_str("</select>");
    out
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

// ---- login ----------------------------------------------------------------------------------

fn login_form(error: Option<&str>) -> String {
    let err = error
        .map(|e| {
            format!(
                "<p class=\"notice error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<h1>Log in</h1>{err}\
         <form method=\"post\" action=\"/console/login\">\
         <label for=\"f-token\">Admin token</label>\
         <input type=\"password\" id=\"f-token\" name=\"token\" autocomplete=\"current-password\" required>\
         <p class=\"hint\">The operator's admin token (<code>keys.admin_token</code>, printed by \
         <code>verity serve</code> at first start). The session lasts 8 hours.</p>\
         <button type=\"submit\">Log in</button></form>"
    )
}

async fn login_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if session_of(&req, &state).is_some() {
        return see_other("/console");
    }
    html(StatusCode::OK, "Log in", None, &login_form(None))
}

async fn login(req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    let endpoint = crate::limits::Endpoint::OAuthToken;
    if let Err(l) = state.limits.check(endpoint, &req) {
        let mut resp = html(
            StatusCode::TOO_MANY_REQUESTS,
            "Log in",
            None,
            &login_form(Some(&format!(
                "Too many attempts from this address: try again in {} s.",
                l.retry_after_secs
            ))),
        );
        if let Ok(v) = header::HeaderValue::from_str(&l.retry_after_secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let form = FormData::parse(&body);
    let token = form.get("token");
    if token.is_empty() || !state.pepper.verify(token, &state.admin_token_hash) {
        tracing::warn!("console login refused: the admin token is not valid");
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            "Log in",
            None,
            &login_form(Some("The admin token is not valid.")),
        ));
    }
    let (cookie, session) = new_session(&state)?;
    tracing::info!(session = %session.log_id(), "console login");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, set_cookie(&cookie, super::SESSION_SECS)))
        .insert_header((header::LOCATION, "/console"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn logout(s: Session, req: HttpRequest, body: Bytes) -> Page {
    s.check(&req, &FormData::parse(&body))?;
    tracing::info!(session = %s.log_id(), "console logout");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, set_cookie("", 0)))
        .insert_header((header::LOCATION, "/console/login"))
        .finish())
}

async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, media): (&'static [u8], &str) = match name.as_str() {
        "console.js" => (JS, "application/javascript; charset=utf-8"),
        "console.css" => (CSS, "text/css; charset=utf-8"),
        other => {
            return Err(ApiError::not_found(format!("no console asset `{other}`")));
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(media)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body))
}

// ---- overview -------------------------------------------------------------------------------

async fn overview(s: Session, state: web::Data<AppState>) -> Page {
    let authorities = state.store.list_authorities(None).await?.len();
    let contracts = state.store.list_contracts(None).await?.len();
    let clients = state.store.list_api_clients(None).await?.len();
    let keys = state.store.list_api_keys(None).await?.len();
    let recent = state.store.recent_requests(None, None, 5).await?;
    let mut rows = String::new();
    for r in &recent {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            time(r.created_at),
            r.kind.as_str(),
            escape(&r.status),
            r.id
        );
    }
    let body = format!(
        "<h1>Overview</h1>\
         <ul><li><a href=\"/console/authorities\">{authorities} authorities</a></li>\
         <li><a href=\"/console/contracts\">{contracts} contracts</a></li>\
         <li><a href=\"/console/access\">{clients} API clients, {keys} API keys</a></li></ul>\
         <p>New here? Create an authority, then a contract, then issue a card to a phone wallet \
         on <a href=\"/console/try\">Try it</a>. The API is described at \
         <a href=\"/docs\">/docs</a>.</p>\
         <h2>Latest requests</h2><table><thead><tr><th>Created</th><th>Kind</th><th>Status</th>\
         <th>Id</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><a href=\"/console/requests\">All recent requests</a></p>"
    );
    ok("Overview", &s, "/console", &body)
}

// ---- authorities ----------------------------------------------------------------------------

fn authority_field(target: &str) -> &'static str {
    match target {
        "name" => "name",
        "path" | "did" | "domain" => "path",
        "algorithm" => "algorithm",
        "tenant" => "tenant",
        _ => "",
    }
}

async fn authorities_page(
    s: &Session,
    state: &AppState,
    form: &FormData,
    error: Option<&FieldError>,
    status: StatusCode,
) -> Page {
    let list = state.store.list_authorities(None).await?;
    let mut rows = String::new();
    for a in &list {
        let keys = state.store.authority_keys(a.id).await?;
        let active = keys
            .iter()
            .find(|k| k.state == verity_store::KeyState::Active)
            .map(|k| format!("{} {}", k.alg, k.kid))
            .unwrap_or_else(|| "none".into());
        let _ = write!(
            rows,
            "<tr><td><a href=\"/console/authorities/{id}\">{}</a></td><td><code>{}</code></td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&a.name),
            escape(&a.did),
            escape(&active),
            keys.len(),
            id = a.id
        );
    }
    let algs: Vec<(String, String)> = ALGORITHMS
        .iter()
        .map(|a| ((*a).to_owned(), (*a).to_owned()))
        .collect();
    let body = format!(
        "<h1>Authorities</h1>\
         <p>An authority is a <code>did:web</code> identity: it signs credentials, request \
         objects and manifests. Its DID document is served from the store on every request.</p>\
         <table><thead><tr><th>Name</th><th>DID</th><th>Active key</th><th>Keys</th></tr></thead>\
         <tbody>{rows}</tbody></table>\
         <h2>New authority</h2>{}\
         <form method=\"post\" action=\"/console/authorities\">{}{}{}{}{}\
         <button type=\"submit\">Create authority</button></form>",
        form_error(error),
        s.field(),
        input(
            "name",
            "Name",
            form.get("name"),
            "1-200 characters",
            "text",
            error
        ),
        input(
            "path",
            "Path (optional)",
            form.get("path"),
            "For a path DID: tenants/acme gives did:web:<host>:tenants:acme. Empty: the host's root DID.",
            "text",
            error
        ),
        select(
            "algorithm",
            "Key algorithm",
            &algs,
            if form.get("algorithm").is_empty() {
                "ES256"
            } else {
                form.get("algorithm")
            }
        ),
        input(
            "tenant",
            "Tenant (optional)",
            form.get("tenant"),
            "Defaults to the first tenant",
            "text",
            error
        ),
    );
    Ok(html(
        status,
        "Authorities",
        Some((s, "/console/authorities")),
        &body,
    ))
}

async fn authorities(s: Session, state: web::Data<AppState>) -> Page {
    authorities_page(&s, &state, &FormData::default(), None, StatusCode::OK).await
}

async fn create_authority(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Bytes,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let request = CreateAuthority {
        name: form.get("name").to_owned(),
        did: None,
        domain: None,
        path: form.opt("path"),
        tenant: form.opt("tenant"),
        algorithm: form.opt("algorithm"),
    };
    match crate::routes::admin::new_authority(&state, &request).await {
        Ok(a) => Ok(see_other(&format!("/console/authorities/{}", a.id))),
        Err(e) => {
            let fe = field_error(&e, authority_field);
            authorities_page(&s, &state, &form, Some(&fe), e.status()).await
        }
    }
}

async fn authority(s: Session, state: web::Data<AppState>, id: web::Path<String>) -> Page {
    let a = crate::routes::admin::find_authority(&state, &id).await?;
    let keys = state.store.authority_keys(a.id).await?;
    let mut key_rows = String::new();
    for k in &keys {
        let _ = write!(
            key_rows,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&k.kid),
            escape(&k.alg),
            k.state.as_str(),
            time(k.created_at)
        );
    }
    let domains = crate::routes::linked_domains::domains_of(&state, &a.id.to_string()).await?;
    let mut linkage = String::new();
    for d in &domains.domains {
        let verdict = if d.report.verified {
            "<span class=\"ok\">linked</span>"
        } else {
            "<span class=\"bad\">not linked</span>"
        };
        let mut steps = String::new();
        for st in &d.report.steps {
            let _ = write!(
                steps,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&st.name),
                escape(&st.outcome),
                escape(&st.detail)
            );
        }
        let _ = write!(
            linkage,
            "<h3><code>{}</code>: {verdict}</h3><p>{}</p><p class=\"hint\">Configuration: <code>{}</code></p>\
             <table><thead><tr><th>Step</th><th>Outcome</th><th>Detail</th></tr></thead><tbody>{steps}</tbody></table>",
            escape(&d.origin),
            escape(&d.report.summary),
            escape(&d.configuration_url)
        );
    }
    if linkage.is_empty() {
        linkage = "<p>The DID document lists no linked domain.</p>".into();
    }
    let algs: Vec<(String, String)> = ALGORITHMS
        .iter()
        .map(|a| ((*a).to_owned(), (*a).to_owned()))
        .collect();
    let body = format!(
        "<h1>{}</h1><p><code>{}</code></p>\
         <h2>Keys</h2><table><thead><tr><th>Key id</th><th>Algorithm</th><th>State</th>\
         <th>Created</th></tr></thead><tbody>{key_rows}</tbody></table>\
         <form method=\"post\" action=\"/console/authorities/{}/rotate\">{}{}\
         <p class=\"hint\">The new key signs from now on; the old one stays in the DID document \
         (retiring) so credentials it signed keep verifying.</p>\
         <button type=\"submit\">Rotate key</button></form>\
         <h2>Domain linkage</h2><p class=\"hint\">Checked now, each step as a wallet runs it.</p>{linkage}",
        escape(&a.name),
        escape(&a.did),
        a.id,
        s.field(),
        select("algorithm", "New key's algorithm", &algs, "ES256"),
    );
    ok(&a.name, &s, "/console/authorities", &body)
}

async fn rotate(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let alg = form.opt("algorithm");
    crate::routes::admin::new_key(&state, &id, alg.as_deref()).await?;
    Ok(see_other(&format!("/console/authorities/{id}")))
}

// ---- contracts ------------------------------------------------------------------------------

async fn contracts(s: Session, state: web::Data<AppState>) -> Page {
    let list = state.store.list_contracts(None).await?;
    let mut rows = String::new();
    for c in list {
        let v = crate::routes::admin_contracts::view(&state, c).await?;
        let _ = write!(
            rows,
            "<tr><td><a href=\"/console/contracts/{}\">{}</a></td><td><code>{}</code></td><td>{}</td>\
             <td><code>{}</code></td></tr>",
            v.id,
            escape(&v.name),
            escape(&v.authority),
            if v.enabled { "enabled" } else { "disabled" },
            escape(&v.manifest_url)
        );
    }
    let body = format!(
        "<h1>Contracts</h1><p>A contract says what a credential holds, where its claims come \
         from and how a wallet draws it.</p><p><a href=\"/console/contracts/new\">New contract</a></p>\
         <table><thead><tr><th>Name</th><th>Authority</th><th>State</th><th>Manifest</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    );
    ok("Contracts", &s, "/console/contracts", &body)
}

fn contract_field(target: &str) -> &'static str {
    let t = target;
    if t == "id" {
        "id"
    } else if t == "name" {
        "name"
    } else if t == "authority" {
        "authority"
    } else if t.starts_with("rules.vc") {
        "type"
    } else if t.starts_with("rules.validityInterval") {
        "validity_days"
    } else if t.starts_with("display.card.title") {
        "card_title"
    } else if t.starts_with("display.card.issuedBy") {
        "issued_by"
    } else if t.starts_with("display.card.backgroundColor") {
        "background_color"
    } else if t.starts_with("display.card.textColor") {
        "text_color"
    } else if t.starts_with("display.card.logo") {
        "logo_uri"
    } else if t.starts_with("display.card.description") {
        "description"
    } else if t.starts_with("display.claims") || t.starts_with("rules.attestations") {
        "claims"
    } else {
        ""
    }
}

/// `name: Label` lines to (claim, label) pairs.
fn claim_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (name, label) = line.split_once(':').unwrap_or((line, ""));
            let name = name.trim();
            let label = label.trim();
            (!name.is_empty()).then(|| {
                (
                    name.to_owned(),
                    if label.is_empty() { name } else { label }.to_owned(),
                )
            })
        })
        .collect()
}

/// The contract definition the form describes: claims come from the app (idTokenHint), the
/// first claim is the revocation search key.
fn definition_from(form: &FormData) -> Value {
    let claims = claim_lines(form.get("claims"));
    let days: i64 = form.get("validity_days").parse().unwrap_or(-1);
    let mapping: Vec<Value> = claims
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            json!({ "outputClaim": name, "inputClaim": format!("$.{name}"), "required": true,
                    "indexed": i == 0, "type": "String" })
        })
        .collect();
    let display_claims: Vec<Value> = claims
        .iter()
        .map(|(name, label)| {
            json!({ "claim": format!("vc.credentialSubject.{name}"), "label": label, "type": "String" })
        })
        .collect();
    let title = form.get("card_title");
    json!({
        "id": form.get("id"),
        "authority": form.get("authority"),
        "name": form.get("name"),
        "rules": {
            "attestations": { "idTokenHints": [ { "mapping": mapping, "required": true } ] },
            "validityInterval": days.saturating_mul(86_400),
            "suspendable": form.get("suspendable") == "on",
            "vc": { "type": [form.get("type")] }
        },
        "display": {
            "locale": "en-US",
            "card": {
                "title": title,
                "issuedBy": form.get("issued_by"),
                "backgroundColor": form.get("background_color"),
                "textColor": form.get("text_color"),
                "logo": { "uri": form.get("logo_uri"), "description": format!("{title} logo") },
                "description": form.get("description")
            },
            "consent": {
                "title": format!("Do you want to get your {title}?"),
                "instructions": "Accept to add this credential to your wallet."
            },
            "claims": display_claims
        }
    })
}

fn card_preview(id: &str) -> String {
    format!(
        "<h2 id=\"{id}-label\">Preview</h2><p class=\"hint\">As a wallet draws the card; it follows \
         your edits.</p>\
         <div class=\"card\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-label\">\
         <img data-card=\"logo\" alt=\"\" hidden><div class=\"title\" data-card=\"title\"></div>\
         <div class=\"issuer\" data-card=\"issuedBy\"></div><ul data-card=\"claims\"></ul>\
         <div class=\"description\" data-card=\"description\"></div></div>"
    )
}

async fn contract_form(
    s: &Session,
    state: &AppState,
    form: &FormData,
    error: Option<&FieldError>,
    status: StatusCode,
) -> Page {
    let dids: Vec<(String, String)> = state
        .store
        .list_authorities(None)
        .await?
        .into_iter()
        .map(|a| (a.did.clone(), format!("{} ({})", a.name, a.did)))
        .collect();
    let or = |name: &str, default: &str| -> String {
        let v = form.get(name);
        if v.is_empty() { default } else { v }.to_owned()
    };
    let claims = or("claims", "givenName: First name\nfamilyName: Last name");
    let claims_err = error
        .filter(|e| e.field == "claims")
        .map(|e| {
            format!(
                "<p class=\"field-error\" id=\"err-claims\" role=\"alert\">{}</p>",
                escape(&e.message)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>New contract</h1>{}<div class=\"grid\"><div>\
         <form method=\"post\" action=\"/console/contracts\" data-card-form=\"card\">{}\
         {}{}{}{}{}{}{}{}{}{}\
         <label for=\"f-claims\">Claims</label>\
         <textarea id=\"f-claims\" name=\"claims\" aria-describedby=\"hint-claims\">{}</textarea>\
         <p class=\"hint\" id=\"hint-claims\">One per line, <code>claim: Label</code>. The app \
         supplies them when it asks for the credential (idTokenHint); the first is the \
         revocation search key.</p>{claims_err}{}\
         <label><input type=\"checkbox\" id=\"f-suspendable\" name=\"suspendable\"{}> \
         Suspendable: credentials can be suspended and resumed, not only revoked</label>\
         <button type=\"submit\">Create contract</button></form></div>\
         <div>{}</div></div>",
        form_error(error),
        s.field(),
        input(
            "id",
            "Contract id",
            form.get("id"),
            "Used in URLs: letters, digits and -",
            "text",
            error
        ),
        input("name", "Name", form.get("name"), "", "text", error),
        select("authority", "Authority", &dids, form.get("authority")),
        input(
            "type",
            "Credential type",
            &or("type", "VerifiedEmployee"),
            "",
            "text",
            error
        ),
        input(
            "card_title",
            "Card title",
            &or("card_title", "Verified Employee"),
            "",
            "text",
            error
        ),
        input(
            "issued_by",
            "Issued by",
            &or("issued_by", "Contoso"),
            "",
            "text",
            error
        ),
        input(
            "background_color",
            "Background colour",
            &or("background_color", "#1f3a5f"),
            "#RRGGBB",
            "text",
            error
        ),
        input(
            "text_color",
            "Text colour",
            &or("text_color", "#ffffff"),
            "#RRGGBB",
            "text",
            error
        ),
        input(
            "logo_uri",
            "Logo URL",
            &or("logo_uri", "https://contoso.example/logo.png"),
            "https",
            "text",
            error
        ),
        input(
            "description",
            "Card text",
            &or("description", "This card proves employment."),
            "",
            "text",
            error
        ),
        escape(&claims),
        input(
            "validity_days",
            "Valid for (days)",
            &or("validity_days", "30"),
            "",
            "text",
            error
        ),
        if form.get("suspendable") == "on" {
            " checked"
        } else {
            ""
        },
        card_preview("card"),
    );
    Ok(html(
        status,
        "New contract",
        Some((s, "/console/contracts")),
        &body,
    ))
}

async fn new_contract(s: Session, state: web::Data<AppState>) -> Page {
    contract_form(&s, &state, &FormData::default(), None, StatusCode::OK).await
}

async fn create_contract(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Bytes,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let definition = definition_from(&form);
    let bytes = serde_json::to_vec(&definition).map_err(ApiError::internal)?;
    match crate::routes::admin_contracts::create_contract(&state, &bytes).await {
        Ok(v) => Ok(see_other(&format!("/console/contracts/{}?created=1", v.id))),
        Err(e) => {
            let fe = field_error(&e, contract_field);
            contract_form(&s, &state, &form, Some(&fe), e.status()).await
        }
    }
}

async fn contract_editor(
    s: &Session,
    state: &AppState,
    id: &str,
    definition: Option<&str>,
    notice: &str,
    status: StatusCode,
) -> Page {
    let uuid = crate::routes::admin_contracts::find_id(id)?;
    let stored = state
        .store
        .contract(uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contract `{id}` not found")))?;
    let v = crate::routes::admin_contracts::view(state, stored).await?;
    let text = match definition {
        Some(d) => d.to_owned(),
        None => serde_json::to_string_pretty(&v.definition).map_err(ApiError::internal)?,
    };
    let body = format!(
        "<h1>{}</h1>{notice}<p>Manifest: <code>{}</code> ({})</p>\
         <div class=\"grid\"><div><form method=\"post\" action=\"/console/contracts/{}\" data-card-form=\"card\">{}\
         <label for=\"f-definition\">Definition (JSON)</label>\
         <textarea class=\"json\" id=\"f-definition\" name=\"definition\" data-preview=\"json\" spellcheck=\"false\">{}</textarea>\
         <p class=\"hint\">The same JSON as <code>verity contract create</code> reads; <code>id</code> \
         and <code>authority</code> cannot change.</p>\
         <button type=\"submit\">Save</button></form></div><div>{}</div></div>",
        escape(&v.name),
        escape(&v.manifest_url),
        if v.enabled { "enabled" } else { "disabled" },
        v.id,
        s.field(),
        escape(&text),
        card_preview("card"),
    );
    Ok(html(
        status,
        &v.name,
        Some((s, "/console/contracts")),
        &body,
    ))
}

async fn edit_contract(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Page {
    let notice = if req.query_string().contains("created=1") {
        "<p class=\"notice\" role=\"status\">Contract created.</p>"
    } else if req.query_string().contains("saved=1") {
        "<p class=\"notice\" role=\"status\">Saved.</p>"
    } else {
        ""
    };
    contract_editor(&s, &state, &id, None, notice, StatusCode::OK).await
}

async fn update_contract(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let definition = form.get("definition");
    match crate::routes::admin_contracts::update_contract(&state, &id, definition.as_bytes()).await
    {
        Ok(v) => Ok(see_other(&format!("/console/contracts/{}?saved=1", v.id))),
        Err(e) => {
            let target = e
                .target()
                .map(|t| format!(" (at <code>{}</code>)", escape(t)))
                .unwrap_or_default();
            let notice = format!(
                "<p class=\"notice error\" role=\"alert\">Not saved: {}{target}</p>",
                escape(&e.public_message())
            );
            contract_editor(&s, &state, &id, Some(definition), &notice, e.status()).await
        }
    }
}

// ---- API access -----------------------------------------------------------------------------

async fn access_page(s: &Session, state: &AppState, shown: &str, status: StatusCode) -> Page {
    let mut clients = String::new();
    for c in state.store.list_api_clients(None).await? {
        let _ = write!(
            clients,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><form class=\"inline\" method=\"post\" \
             action=\"/console/access/clients/{}/delete\">{}<button class=\"danger\" type=\"submit\" \
             aria-label=\"Delete client {}\">Delete</button></form></td></tr>",
            escape(&c.name),
            escape(&c.client_id),
            time(c.created_at),
            escape(&c.client_id),
            s.field(),
            escape(&c.name)
        );
    }
    let mut keys = String::new();
    for k in state.store.list_api_keys(None).await? {
        let _ = write!(
            keys,
            "<tr><td>{}</td><td><code>{}...</code></td><td>{}</td><td><form class=\"inline\" method=\"post\" \
             action=\"/console/access/keys/{}/delete\">{}<button class=\"danger\" type=\"submit\" \
             aria-label=\"Revoke key {}\">Revoke</button></form></td></tr>",
            escape(&k.name),
            escape(&k.key_prefix),
            time(k.created_at),
            k.id,
            s.field(),
            escape(&k.name)
        );
    }
    let body = format!(
        "<h1>API access</h1>{shown}\
         <h2>API clients</h2><p>Apps get access tokens with a client id and secret (OAuth 2.0 \
         client credentials at <code>/oauth2/token</code>, as MSAL does).</p>\
         <table><thead><tr><th>Name</th><th>Client id</th><th>Created</th><th></th></tr></thead><tbody>{clients}</tbody></table>\
         <form method=\"post\" action=\"/console/access/clients\">{}\
         <label for=\"f-client-name\">New client's name</label><input type=\"text\" id=\"f-client-name\" name=\"name\" required>\
         <button type=\"submit\">Create client</button></form>\
         <h2>API keys</h2><p>A static key sent as a bearer token.</p>\
         <table><thead><tr><th>Name</th><th>Key</th><th>Created</th><th></th></tr></thead><tbody>{keys}</tbody></table>\
         <form method=\"post\" action=\"/console/access/keys\">{}\
         <label for=\"f-key-name\">New key's name</label><input type=\"text\" id=\"f-key-name\" name=\"name\" required>\
         <button type=\"submit\">Create API key</button></form>",
        s.field(),
        s.field(),
    );
    Ok(html(
        status,
        "API access",
        Some((s, "/console/access")),
        &body,
    ))
}

async fn access(s: Session, state: web::Data<AppState>) -> Page {
    access_page(&s, &state, "", StatusCode::OK).await
}

fn shown_once(what: &str, label: &str, secret: &str) -> String {
    format!(
        "<div class=\"notice\" role=\"status\"><p>{}</p><p>{label}: <code class=\"secret\" id=\"secret\">{}</code></p>\
         <p><strong>Copy it now: it is shown only on this page</strong> (only its hash is stored).</p></div>",
        escape(what),
        escape(secret)
    )
}

async fn create_client(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Bytes,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let v = crate::routes::admin::new_client(
        &state,
        &CreateCredential {
            name: form.get("name").to_owned(),
            tenant: form.opt("tenant"),
        },
    )
    .await?;
    let shown = shown_once(
        &format!("API client {} created, client id {}.", v.name, v.client_id),
        "Client secret",
        v.client_secret.as_deref().unwrap_or_default(),
    );
    access_page(&s, &state, &shown, StatusCode::CREATED).await
}

async fn create_key(s: Session, req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let v = crate::routes::admin::new_api_key(
        &state,
        &CreateCredential {
            name: form.get("name").to_owned(),
            tenant: form.opt("tenant"),
        },
    )
    .await?;
    let shown = shown_once(
        &format!("API key {} created.", v.name),
        "API key",
        v.key.as_deref().unwrap_or_default(),
    );
    access_page(&s, &state, &shown, StatusCode::CREATED).await
}

async fn delete_client(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Page {
    s.check(&req, &FormData::parse(&body))?;
    if !state.store.delete_api_client(&id).await? {
        return Err(ApiError::not_found(format!("API client `{id}` not found")).into());
    }
    Ok(see_other("/console/access"))
}

async fn delete_key(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Bytes,
) -> Page {
    s.check(&req, &FormData::parse(&body))?;
    let uuid = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("API key `{id}` not found")))?;
    if !state.store.delete_api_key(uuid).await? {
        return Err(ApiError::not_found(format!("API key `{id}` not found")).into());
    }
    Ok(see_other("/console/access"))
}

// ---- credentials ----------------------------------------------------------------------------

async fn credentials(s: Session, req: HttpRequest, state: web::Data<AppState>) -> Page {
    let form = FormData::parse(req.query_string().as_bytes());
    let q = CredentialQuery {
        jti: form.opt("jti"),
        subject: form.opt("subject"),
        contract: form.opt("contract"),
        claim: form.opt("claim"),
    };
    let searched = q.jti.is_some() || q.subject.is_some() || q.contract.is_some();
    let mut results = String::new();
    let mut notice = String::new();
    if req.query_string().contains("revoked=1") {
        notice = "<p class=\"notice\" role=\"status\">Revoked: the status list says so from the next request on.</p>".into();
    }
    if searched {
        match crate::routes::admin_credentials::find(&state, &q).await {
            Ok(found) => {
                let mut rows = String::new();
                for c in found {
                    let v = crate::routes::admin_credentials::view(&state, c).await?;
                    let toggle = |action: &str, label: &str| {
                        format!(
                            "<form class=\"inline\" method=\"post\" action=\"/console/credentials/{action}\">{}\
                             <input type=\"hidden\" name=\"jti\" value=\"{}\">\
                             <input type=\"hidden\" name=\"reason\" value=\"{label} in the console\">\
                             <button class=\"secondary\" type=\"submit\" id=\"{action}-{}\">{label}</button></form>",
                            s.field(),
                            escape(&v.jti),
                            v.id
                        )
                    };
                    let action = if v.status == "REVOKED" {
                        escape(v.revocation_reason.as_deref().unwrap_or_default())
                    } else if v.status == "SUSPENDED" {
                        format!(
                            "{} {}",
                            escape(v.suspension_reason.as_deref().unwrap_or_default()),
                            toggle("resume", "Resume")
                        )
                    } else {
                        format!(
                            "<form class=\"inline\" method=\"post\" action=\"/console/credentials/revoke\">{}\
                             <input type=\"hidden\" name=\"jti\" value=\"{}\">\
                             <label for=\"reason-{}\">Reason</label><input type=\"text\" id=\"reason-{}\" name=\"reason\">\
                             <button class=\"danger\" type=\"submit\">Revoke</button></form> {}",
                            s.field(),
                            escape(&v.jti),
                            v.id,
                            v.id,
                            toggle("suspend", "Suspend")
                        )
                    };
                    let _ = write!(
                        rows,
                        "<tr><td data-label=\"jti\"><code>{}</code></td><td data-label=\"Holder\"><code>{}</code></td>\
                         <td data-label=\"Issued\">{}</td>\
                         <td class=\"cred-status\" data-label=\"Status\">{}</td><td>{action}</td></tr>",
                        escape(&v.jti),
                        escape(&v.subject),
                        time(v.issued_at),
                        escape(&v.status)
                    );
                }
                results = format!(
                    "<h2>Results</h2><table class=\"stack\"><thead><tr><th>jti</th><th>Holder</th><th>Issued</th>\
                     <th>Status</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
                );
            }
            Err(e) => {
                results = format!(
                    "<p class=\"notice error\" role=\"alert\">{}</p>",
                    escape(&e.public_message())
                );
            }
        }
    }
    let contracts: Vec<(String, String)> = std::iter::once((String::new(), "any".to_owned()))
        .chain(
            state
                .store
                .list_contracts(None)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), c.name)),
        )
        .collect();
    let body = format!(
        "<h1>Issued credentials</h1>{notice}\
         <p>Only a hash of the indexed claim is kept, never the claims: search by the claim's \
         exact value with its contract, by holder DID, or by jti. Revocation is final; \
         suspension (credentials of suspendable contracts) can be resumed.</p>\
         <form method=\"get\" action=\"/console/credentials\">\
         {}{}{}{}<button type=\"submit\">Search</button></form>{results}",
        input(
            "jti",
            "jti",
            q.jti.as_deref().unwrap_or_default(),
            "",
            "search",
            None
        ),
        input(
            "subject",
            "Holder DID",
            q.subject.as_deref().unwrap_or_default(),
            "",
            "search",
            None
        ),
        select(
            "contract",
            "Contract",
            &contracts,
            q.contract.as_deref().unwrap_or_default()
        ),
        input(
            "claim",
            "Indexed claim value",
            q.claim.as_deref().unwrap_or_default(),
            "With a contract: the exact value of its indexed claim",
            "search",
            None
        ),
    );
    ok("Credentials", &s, "/console/credentials", &body)
}

async fn revoke(s: Session, req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let jti = form.get("jti").to_owned();
    if jti.is_empty() {
        return Err(ApiError::bad_field("jti", "which credential to revoke").into());
    }
    let request = RevokeRequest {
        jti: Some(jti.clone()),
        reason: form
            .opt("reason")
            .or_else(|| Some("revoked in the console".into())),
        ..RevokeRequest::default()
    };
    crate::routes::admin_credentials::revoke_matching(&state, &req, &request).await?;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("jti", &jti)
        .append_pair("revoked", "1")
        .finish();
    Ok(see_other(&format!("/console/credentials?{q}")))
}

async fn suspend(s: Session, req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    set_suspension(s, req, state, body, true).await
}

async fn resume(s: Session, req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    set_suspension(s, req, state, body, false).await
}

async fn set_suspension(
    s: Session,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Bytes,
    suspend: bool,
) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let jti = form.get("jti").to_owned();
    if jti.is_empty() {
        return Err(ApiError::bad_field("jti", "which credential").into());
    }
    let request = RevokeRequest {
        jti: Some(jti.clone()),
        reason: form.opt("reason"),
        ..RevokeRequest::default()
    };
    crate::routes::admin_credentials::suspend_matching(&state, &req, &request, suspend).await?;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("jti", &jti)
        .finish();
    Ok(see_other(&format!("/console/credentials?{q}")))
}

// ---- requests -------------------------------------------------------------------------------

async fn requests(s: Session, req: HttpRequest, state: web::Data<AppState>) -> Page {
    let form = FormData::parse(req.query_string().as_bytes());
    let kind = match form.get("kind") {
        "issuance" => Some(verity_store::RequestKind::Issuance),
        "presentation" => Some(verity_store::RequestKind::Presentation),
        _ => None,
    };
    let status = form.opt("status");
    let list = state
        .store
        .recent_requests(kind, status.as_deref(), 100)
        .await?;
    let now = state.clock.now();
    let mut rows = String::new();
    for r in &list {
        let body = crate::flows::status_body(r);
        let outcome = match body.get("error") {
            Some(e) if !e.is_null() => format!(
                "<span class=\"bad\">{}</span> {}",
                escape(e["code"].as_str().unwrap_or_default()),
                escape(e["message"].as_str().unwrap_or_default())
            ),
            _ => String::new(),
        };
        let expired = if now >= r.expires_at && r.completed_at.is_none() {
            " (expired)"
        } else {
            ""
        };
        let detail = serde_json::to_string_pretty(&body).unwrap_or_default();
        let checks = checks_table(state.store.request_diagnostics(r.id).await?.as_ref());
        let _ = write!(
            rows,
            "<tr><td data-label=\"Created\">{}</td><td data-label=\"Kind\">{}</td>\
             <td data-label=\"Status\">{}{expired}</td><td>{outcome}\
             {checks}<details><summary>Status body (as the app gets it)</summary><pre>{}</pre></details></td>\
             <td data-label=\"Id\"><code>{}</code></td></tr>",
            time(r.created_at),
            r.kind.as_str(),
            escape(&r.status),
            escape(&detail),
            r.id
        );
    }
    let kinds = [
        (String::new(), "any".to_owned()),
        ("issuance".to_owned(), "issuance".to_owned()),
        ("presentation".to_owned(), "presentation".to_owned()),
    ];
    let body = format!(
        "<h1>Requests</h1><p>The latest 100, newest first. Requests live 5 minutes and are \
         removed a day after they expire (<code>[retention]</code>).</p>\
         <form method=\"get\" action=\"/console/requests\">{}{}<button type=\"submit\">Filter</button></form>\
         <table class=\"stack\"><thead><tr><th>Created</th><th>Kind</th><th>Status</th><th>Outcome</th><th>Id</th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        select("kind", "Kind", &kinds, form.get("kind")),
        input(
            "status",
            "Status",
            form.get("status"),
            "e.g. issuance_successful, presentation_verified",
            "search",
            None
        ),
    );
    ok("Requests", &s, "/console/requests", &body)
}

/// The verifier's checks of a presentation, each with its outcome (stored with the step).
fn checks_table(checks: Option<&Value>) -> String {
    let Some(list) = checks.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return String::new();
    };
    let mut rows = String::new();
    for c in list {
        let outcome = c["outcome"].as_str().unwrap_or_default();
        let class = match outcome {
            "passed" => "ok",
            "failed" | "unavailable" => "bad",
            _ => "",
        };
        let _ = write!(
            rows,
            "<tr><td><code>{}</code></td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            escape(c["name"].as_str().unwrap_or_default()),
            escape(outcome),
            escape(c["detail"].as_str().unwrap_or_default())
        );
    }
    format!(
        "<details class=\"checks\"><summary>Verifier checks ({})</summary><table><thead><tr><th>Check</th>\
         <th>Outcome</th><th>Detail</th></tr></thead><tbody>{rows}</tbody></table></details>",
        list.len()
    )
}

// ---- try it ---------------------------------------------------------------------------------

async fn try_page(s: Session, req: HttpRequest, state: web::Data<AppState>) -> Page {
    let form = FormData::parse(req.query_string().as_bytes());
    let contracts = state.store.list_contracts(None).await?;
    let options: Vec<(String, String)> = contracts
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    let chosen = form
        .opt("contract")
        .and_then(|id| contracts.iter().find(|c| c.id.to_string() == id))
        .or(contracts.first());
    let mut claims = String::new();
    if let Some(c) = chosen {
        let parsed = crate::flows::load_contract(c)?;
        for hint in &parsed.rules.attestations.id_token_hints {
            for m in &hint.mapping {
                let name = m.input_claim.trim_start_matches("$.");
                let _ = write!(
                    claims,
                    "<label for=\"claim-{0}\">{0}</label><input type=\"text\" id=\"claim-{0}\" name=\"claim.{0}\"{1}>",
                    escape(name),
                    if m.required { " required" } else { "" }
                );
            }
        }
    }
    let authorities: Vec<(String, String)> = state
        .store
        .list_authorities(None)
        .await?
        .into_iter()
        .map(|a| (a.id.to_string(), format!("{} ({})", a.name, a.did)))
        .collect();
    let issuance = match chosen {
        Some(c) => format!(
            "<form method=\"get\" action=\"/console/try\">{}<button class=\"secondary\" type=\"submit\">\
             Choose</button></form>\
             <form method=\"post\" action=\"/console/try\">{}<input type=\"hidden\" name=\"kind\" value=\"issuance\">\
             <input type=\"hidden\" name=\"contract\" value=\"{}\">\
             <p class=\"hint\">The claims the app would send (idTokenHint):</p>{claims}\
             <button type=\"submit\" id=\"start-issuance\">Issue to a wallet</button></form>",
            select("contract", "Contract", &options, &c.id.to_string()),
            s.field(),
            c.id
        ),
        None => "<p>Create a <a href=\"/console/contracts/new\">contract</a> first.</p>".into(),
    };
    let body = format!(
        "<h1>Try it</h1><p>Creates a request as an app would and shows its QR code: scan it with \
         a phone wallet (or open the URL in the reference wallet) and watch the status change.</p>\
         <h2>Issue a credential</h2>{issuance}\
         <h2>Ask for a presentation</h2>\
         <form method=\"post\" action=\"/console/try\">{}<input type=\"hidden\" name=\"kind\" value=\"presentation\">\
         {}{}{}<button type=\"submit\" id=\"start-presentation\">Ask a wallet</button></form>",
        s.field(),
        select("authority", "Verifier (authority)", &authorities, ""),
        input(
            "type",
            "Credential type",
            "VerifiedEmployee",
            "",
            "text",
            None
        ),
        input(
            "issuer",
            "Accepted issuer DID (optional)",
            "",
            "Empty: any issuer",
            "text",
            None
        ),
    );
    ok("Try it", &s, "/console/try", &body)
}

async fn try_create(s: Session, req: HttpRequest, state: web::Data<AppState>, body: Bytes) -> Page {
    let form = FormData::parse(&body);
    s.check(&req, &form)?;
    let registration = Registration {
        client_name: "Verity console".into(),
        purpose: Some("A test from the operator console".into()),
        logo_url: None,
        terms_of_service_urls: None,
    };
    let created = match form.get("kind") {
        "issuance" => {
            let id = crate::routes::admin_contracts::find_id(form.get("contract"))?;
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
            let parsed = crate::flows::load_contract(&c)?;
            let mut claims = serde_json::Map::new();
            for (name, value) in &form.0 {
                if let Some(claim) = name.strip_prefix("claim.") {
                    claims.insert(claim.to_owned(), Value::String(value.trim().to_owned()));
                }
            }
            let request = IssuanceRequest {
                authority: authority.did.clone(),
                include_qr_code: true,
                qr_code_format: Some(QrCodeFormat::Svg),
                registration,
                callback: None,
                credential_type: parsed
                    .credential_types()
                    .last()
                    .cloned()
                    .unwrap_or_default(),
                manifest: crate::flows::manifest_url(&state, c.id),
                claims: Some(claims),
                pin: None,
                expiration_date: None,
                profile: None,
                format: None,
            };
            let caller = ApiCaller {
                tenant_id: c.tenant_id,
                principal: "console".into(),
            };
            let opening = crate::routes::issuance::prepare(&state, &caller, request).await?;
            crate::flows::create_request(&state, opening).await?
        }
        "presentation" => {
            let a = crate::routes::admin::find_authority(&state, form.get("authority")).await?;
            let request = PresentationRequest {
                authority: a.did.clone(),
                include_qr_code: true,
                qr_code_format: Some(QrCodeFormat::Svg),
                include_receipt: false,
                registration,
                callback: None,
                requested_credentials: vec![RequestedCredential {
                    credential_type: form.get("type").to_owned(),
                    purpose: None,
                    accepted_issuers: form.opt("issuer").into_iter().collect(),
                    constraints: Vec::new(),
                    configuration: RequestedConfiguration::default(),
                    claims: Vec::new(),
                }],
                profile: None,
                client_id_prefix: None,
            };
            let caller = ApiCaller {
                tenant_id: a.tenant_id,
                principal: "console".into(),
            };
            let (authority, _) =
                crate::routes::presentation::check(&state, &caller, &request).await?;
            let opening =
                crate::routes::presentation::hosted_opening(&state, &caller, &authority, request);
            crate::flows::create_request(&state, opening).await?
        }
        other => {
            return Err(ApiError::bad_field(
                "kind",
                format!("`{other}` is not `issuance` or `presentation`"),
            )
            .into());
        }
    };
    tracing::info!(request_id = %created.request_id, session = %s.log_id(), "console test request created");
    Ok(see_other(&format!("/console/try/{}", created.request_id)))
}

async fn try_show(s: Session, state: web::Data<AppState>, id: web::Path<String>) -> Page {
    let uuid = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("request `{id}` not found")))?;
    let r = state
        .store
        .request(uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("request `{id}` not found")))?;
    let url = format!(
        "openid-vc://?request_uri={}/v1.0/requests/{}",
        state.public_url, r.id
    );
    let qr = crate::qr::data_uri(&url, QrCodeFormat::Svg).map_err(ApiError::internal)?;
    let body = format!(
        "<h1>Test {} request</h1>\
         <p>Scan with a wallet, or give the URL to <code>verity wallet</code>. It expires at {}.</p>\
         <div class=\"qr\"><img src=\"{}\" alt=\"QR code of the request URL\"></div>\
         <p>URL: <code id=\"request-url\">{}</code></p>\
         <p>Status: <span class=\"status\" id=\"status\" role=\"status\" aria-live=\"polite\" \
         data-request-status=\"/console/try/{}/status\">{}</span></p>\
         <pre id=\"status-detail\"></pre>\
         <p><a href=\"/console/try\">Another test</a></p>",
        r.kind.as_str(),
        time(r.expires_at),
        escape(&qr),
        escape(&url),
        r.id,
        escape(&r.status)
    );
    ok("Try it", &s, "/console/try", &body)
}

async fn try_status(
    _: Session,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let uuid = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("request `{id}` not found")))?;
    let r = state
        .store
        .request(uuid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("request `{id}` not found")))?;
    let body = crate::flows::status_body(&r);
    let mut status = body["requestStatus"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if r.completed_at.is_none() && state.clock.now() >= r.expires_at {
        status = "expired".into();
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "requestStatus": status, "body": body })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_lines_take_names_and_labels() {
        assert_eq!(
            claim_lines("givenName: First name\n\n  email  \nx:"),
            vec![
                ("givenName".into(), "First name".into()),
                ("email".into(), "email".into()),
                ("x".into(), "x".into())
            ]
        );
    }

    #[test]
    fn contract_errors_land_on_their_field() {
        assert_eq!(
            contract_field("display.card.backgroundColor"),
            "background_color"
        );
        assert_eq!(contract_field("rules.vc.type"), "type");
        assert_eq!(
            contract_field("rules.attestations.idTokenHints[0].mapping[1].outputClaim"),
            "claims"
        );
        assert_eq!(contract_field("something.else"), "");
    }

    #[test]
    fn the_form_makes_a_valid_contract() {
        let form = FormData::parse(
            b"id=employee&name=Employee&authority=did%3Aweb%3Aexample.com&type=VerifiedEmployee\
              &card_title=Employee&issued_by=Contoso&background_color=%23000000&text_color=%23ffffff\
              &logo_uri=https%3A%2F%2Fexample.com%2Flogo.png&description=Card\
              &claims=givenName%3A+First+name%0AfamilyName&validity_days=30",
        );
        let def = definition_from(&form);
        let parsed = verity_contracts::Contract::from_json(&def.to_string()).unwrap();
        assert_eq!(parsed.id, "employee");
        assert_eq!(parsed.indexed_claim().unwrap().output_claim, "givenName");
        assert_eq!(parsed.display.claims.len(), 2);
    }
}
