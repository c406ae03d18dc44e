//! `GraphDirectory` against a local stand-in for the Microsoft identity platform's token
//! endpoint and Microsoft Graph. The stand-in checks each request's shape and bearer token
//! and answers as the real services document (error bodies included).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use verity_core::{ManualClock, Secret};
use verity_helpdesk::config::GraphConfig;
use verity_helpdesk::directory::ProfileField;
use verity_helpdesk::graph::GraphDirectory;
use verity_helpdesk::{Action, ActionOutcome, Directory, DirectoryError, EmployeeId, EmployeeKey};

const TENANT: &str = "tenant-1";
const CLIENT: &str = "app-1";
const SECRET: &str = "app-secret-value";
const PHOTO: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x80, 0x81, 0xFE, 0xFF, 0xD9,
];

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

#[derive(Default)]
struct State {
    /// Tokens handed out, in order; only the last is accepted unless revoked.
    issued: Vec<String>,
    revoked: bool,
    token_requests: usize,
    /// Every Graph request: method, path, decoded query.
    graph_requests: Vec<(String, String, HashMap<String, String>)>,
    tap_bodies: Vec<Value>,
    /// Every PATCH of a user: object id, body.
    patches: Vec<(String, Value)>,
    /// Profile properties changed by PATCH, by (object id, property).
    patched: HashMap<(String, String), Value>,
    foreign_next_link: bool,
}

struct StandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn json_reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", body.to_string())
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json_reply(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn user(id: &str, upn: &str, name: &str, enabled: bool) -> Value {
    json!({
        "id": id, "userPrincipalName": upn, "displayName": name, "givenName": name.split(' ').next(),
        "surname": name.split(' ').nth(1), "jobTitle": "Analyst", "mail": upn,
        "preferredLanguage": "en-US", "accountEnabled": enabled, "mobilePhone": null,
        "officeLocation": if enabled { json!("18/2111") } else { Value::Null },
    })
}

/// The properties a profile update may read and PATCH.
const PROFILE_PROPERTIES: [&str; 4] = [
    "jobTitle",
    "preferredLanguage",
    "mobilePhone",
    "officeLocation",
];

fn users() -> Vec<Value> {
    vec![
        user("11111111-aaaa", "alex@contoso.example", "Alex Wilber", true),
        user(
            "22222222-bbbb",
            "megan@contoso.example",
            "Megan Bowen",
            false,
        ),
        user("33333333-cccc", "pat@contoso.example", "Pat Doe", false),
        user(
            "44444444-dddd",
            "locked@contoso.example",
            "Locked Out",
            true,
        ),
        user(
            "55555555-eeee",
            "kim_fabrikam.example#EXT#@contoso.example",
            "Kim Guest",
            true,
        ),
    ]
}

const SELECTED: [&str; 9] = [
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "preferredLanguage",
    "accountEnabled",
];

async fn answer(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    base: String,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = percent_encoding::percent_decode_str(req.uri().path())
        .decode_utf8_lossy()
        .into_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut st = state.lock().unwrap();

    if path == format!("/{TENANT}/oauth2/v2.0/token") {
        st.token_requests += 1;
        assert_eq!(method, "POST");
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some("client_credentials")
        );
        assert_eq!(
            form.get("scope").map(String::as_str),
            Some("https://graph.microsoft.com/.default")
        );
        if form.get("client_id").map(String::as_str) != Some(CLIENT)
            || form.get("client_secret").map(String::as_str) != Some(SECRET)
        {
            return json_reply(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0" }),
            );
        }
        let token = format!("token-{}", st.issued.len() + 1);
        st.issued.push(token.clone());
        st.revoked = false;
        return json_reply(
            StatusCode::OK,
            json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }),
        );
    }

    let Some(rest) = path.strip_prefix("/v1.0/") else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "no such API version");
    };
    st.graph_requests
        .push((method.clone(), path.clone(), query.clone()));
    let valid = st
        .issued
        .last()
        .is_some_and(|t| auth == format!("Bearer {t}"))
        && !st.revoked;
    if !valid {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        );
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let find = |key: &str| {
        users()
            .into_iter()
            .find(|u| u["id"] == key || u["userPrincipalName"] == key)
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users"]) => {
            let select = query.get("$select").cloned().unwrap_or_default();
            assert!(
                SELECTED.iter().all(|f| select.split(',').any(|s| s == *f)),
                "$select {select}"
            );
            if let Some(token) = query.get("$skiptoken") {
                assert_eq!(token, "page2");
                return json_reply(StatusCode::OK, json!({ "value": [users()[2].clone()] }));
            }
            let filter = query.get("$filter").cloned().unwrap_or_default();
            if filter == "accountEnabled eq false" {
                let next = if st.foreign_next_link {
                    "https://elsewhere.example/v1.0/users?$skiptoken=page2".to_owned()
                } else {
                    format!("{base}/v1.0/users?$select={select}&$skiptoken=page2")
                };
                return json_reply(
                    StatusCode::OK,
                    json!({ "value": [users()[1].clone()], "@odata.nextLink": next }),
                );
            }
            if let Some(mail) = filter
                .strip_prefix("mail eq '")
                .and_then(|m| m.strip_suffix('\''))
            {
                let mail = mail.replace("''", "'");
                let found: Vec<Value> = users()
                    .into_iter()
                    .filter(|u| u["mail"] == mail.as_str())
                    .collect();
                return json_reply(StatusCode::OK, json!({ "value": found }));
            }
            graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("unexpected filter {filter}"),
            )
        }
        ("GET", ["users", id])
            if PROFILE_PROPERTIES
                .contains(&query.get("$select").map(String::as_str).unwrap_or_default()) =>
        {
            // The profile update reads the one property it is about to change.
            let property = query["$select"].clone();
            match find(id) {
                Some(u) => {
                    let value = st
                        .patched
                        .get(&(u["id"].as_str().unwrap().to_owned(), property.clone()))
                        .cloned()
                        .unwrap_or_else(|| u[property.as_str()].clone());
                    json_reply(StatusCode::OK, json!({ property: value }))
                }
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
                    ),
                ),
            }
        }
        ("PATCH", ["users", id]) => {
            assert_eq!(content_type, "application/json");
            let body: Value = serde_json::from_slice(&body).unwrap();
            st.patches.push(((*id).to_owned(), body.clone()));
            let fields = body.as_object().unwrap();
            assert_eq!(fields.len(), 1, "one property per update: {body}");
            let (property, value) = fields.iter().next().unwrap();
            assert!(
                PROFILE_PROPERTIES.contains(&property.as_str()),
                "{property}"
            );
            if *id == "44444444-dddd" {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                );
            }
            if property == "preferredLanguage" && value == "tlh" {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Invalid value specified for property 'preferredLanguage' of resource 'User'.",
                );
            }
            let Some(u) = find(id) else {
                return graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    "Resource not found",
                );
            };
            st.patched.insert(
                (u["id"].as_str().unwrap().to_owned(), property.clone()),
                value.clone(),
            );
            reply(StatusCode::NO_CONTENT, "text/plain", Bytes::new())
        }
        ("GET", ["users", id]) => {
            let select = query.get("$select").cloned().unwrap_or_default();
            assert!(
                SELECTED.iter().all(|f| select.split(',').any(|s| s == *f)),
                "$select {select}"
            );
            match find(id) {
                Some(u) => json_reply(StatusCode::OK, u),
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    &format!(
                        "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
                    ),
                ),
            }
        }
        ("GET", ["users", id, "photo", "$value"]) => match *id {
            "11111111-aaaa" => reply(StatusCode::OK, "image/jpeg", Bytes::from_static(PHOTO)),
            "33333333-cccc" => reply(
                StatusCode::OK,
                "image/png",
                Bytes::from_static(b"\x89PNG\r\n"),
            ),
            _ => graph_error(
                StatusCode::NOT_FOUND,
                "ImageNotFound",
                "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
            ),
        },
        ("POST", ["users", id, "authentication", "temporaryAccessPassMethods"]) => {
            assert_eq!(content_type, "application/json");
            let body: Value = serde_json::from_slice(&body).unwrap();
            st.tap_bodies.push(body.clone());
            if *id == "44444444-dddd" {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    "accessDenied",
                    "Request Authorization failed",
                );
            }
            if find(id).is_none() {
                return graph_error(
                    StatusCode::NOT_FOUND,
                    "Request_ResourceNotFound",
                    "Resource not found",
                );
            }
            json_reply(
                StatusCode::CREATED,
                json!({
                    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/authentication/temporaryAccessPassMethods/$entity",
                    "id": "6f1c4b3e", "isUsable": true, "methodUsabilityReason": "EnabledByPolicy",
                    "temporaryAccessPass": "TAPRJb=8r-gd", "createdDateTime": "2027-01-15T08:00:00Z",
                    "startDateTime": "2027-01-15T08:00:00Z",
                    "lifetimeInMinutes": body["lifetimeInMinutes"], "isUsableOnce": body["isUsableOnce"],
                }),
            )
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("unexpected {method} {path}"),
        ),
    }
}

impl StandIn {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let base = format!("http://{addr}");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (st, base) = (Arc::clone(&st), base.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (st, base) = (Arc::clone(&st), base.clone());
                        async move { Ok::<_, Infallible>(answer(req, st, base).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn config(&self, secret: &str) -> GraphConfig {
        config(&self.url(), secret)
    }

    fn directory(&self, clock: &ManualClock) -> GraphDirectory {
        GraphDirectory::new(self.config(SECRET), Arc::new(clock.clone())).unwrap()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn config(url: &str, secret: &str) -> GraphConfig {
    toml::from_str(&format!(
        "tenant_id = {TENANT:?}\nclient_id = {CLIENT:?}\nclient_secret = {secret:?}\n\
         login_url = {url:?}\ngraph_url = {url:?}\ntimeout_ms = 3000\n"
    ))
    .unwrap()
}

#[tokio::test]
async fn finds_by_upn_object_id_and_mail_with_one_cached_token() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);

    let alex = dir
        .find(&EmployeeKey::UserPrincipalName(
            "alex@contoso.example".into(),
        ))
        .await
        .unwrap();
    assert_eq!(alex.id, EmployeeId("11111111-aaaa".into()));
    let p = &alex.profile;
    assert_eq!(p.user_principal_name, "alex@contoso.example");
    assert_eq!(p.display_name, "Alex Wilber");
    assert_eq!(p.given_name.as_deref(), Some("Alex"));
    assert_eq!(p.surname.as_deref(), Some("Wilber"));
    assert_eq!(p.job_title.as_deref(), Some("Analyst"));
    assert_eq!(p.mail.as_deref(), Some("alex@contoso.example"));
    assert_eq!(p.preferred_language.as_deref(), Some("en-US"));
    assert!(p.enabled);

    assert_eq!(
        dir.find(&EmployeeKey::Uid("11111111-aaaa".into()))
            .await
            .unwrap(),
        alex
    );
    assert_eq!(
        dir.find(&EmployeeKey::Mail("alex@contoso.example".into()))
            .await
            .unwrap(),
        alex
    );
    let megan = dir
        .find(&EmployeeKey::Mail("megan@contoso.example".into()))
        .await
        .unwrap();
    assert!(!megan.profile.enabled);

    // A guest's UPN holds '#': it must be escaped in the path, not end the URL.
    let guest = EmployeeKey::UserPrincipalName("kim_fabrikam.example#EXT#@contoso.example".into());
    assert_eq!(
        dir.find(&guest).await.unwrap().id,
        EmployeeId("55555555-eeee".into())
    );

    let st = server.state();
    assert_eq!(st.token_requests, 1, "one token for all five calls");
    assert_eq!(st.graph_requests[0].1, "/v1.0/users/alex@contoso.example");
    assert_eq!(
        st.graph_requests[2].2.get("$filter").map(String::as_str),
        Some("mail eq 'alex@contoso.example'")
    );
}

#[tokio::test]
async fn token_is_renewed_shortly_before_expiry_and_after_a_401() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let key = EmployeeKey::Uid("11111111-aaaa".into());
    dir.find(&key).await.unwrap();
    // expires_in 3599 s, renewed two minutes early: still cached at +57 min, renewed at +58.
    clock.advance(Duration::minutes(57));
    dir.find(&key).await.unwrap();
    assert_eq!(server.state().token_requests, 1);
    clock.advance(Duration::minutes(1));
    dir.find(&key).await.unwrap();
    assert_eq!(server.state().token_requests, 2);

    // Graph rejects the cached token (revoked): one renewal, then the call succeeds.
    server.state().revoked = true;
    dir.find(&key).await.unwrap();
    assert_eq!(server.state().token_requests, 3);
}

#[tokio::test]
async fn wrong_secret_is_rejected_at_the_token_endpoint_without_echoing_it() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = GraphDirectory::new(server.config("wrong-secret-value"), Arc::new(clock)).unwrap();
    let err = dir
        .find(&EmployeeKey::Uid("11111111-aaaa".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::CredentialsRejected { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(
        !text.contains("Trace ID"),
        "only the first line of the description: {text}"
    );
    assert!(!format!("{err:?} {dir:?}").contains("wrong-secret-value"));
    assert!(
        server.state().graph_requests.is_empty(),
        "no Graph call without a token"
    );
}

#[tokio::test]
async fn unknown_user_is_not_found_and_unreachable_service_is_distinct() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let err = dir
        .find(&EmployeeKey::UserPrincipalName(
            "ghost@contoso.example".into(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no employee with userPrincipalName \"ghost@contoso.example\" in the Microsoft Graph directory"
    );
    let err = dir
        .find(&EmployeeKey::Mail("ghost@contoso.example".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let down = GraphDirectory::new(config(&closed, SECRET), Arc::new(clock)).unwrap();
    let err = down
        .find(&EmployeeKey::Uid("11111111-aaaa".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&closed), "{err}");
}

#[tokio::test]
async fn photo_bytes_missing_photo_and_non_jpeg() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    assert_eq!(
        dir.photo(&EmployeeId("11111111-aaaa".into()))
            .await
            .unwrap()
            .as_deref(),
        Some(PHOTO)
    );
    assert_eq!(
        dir.photo(&EmployeeId("22222222-bbbb".into()))
            .await
            .unwrap(),
        None
    );
    let err = dir
        .photo(&EmployeeId("33333333-cccc".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::InvalidEntry { .. }), "{err}");
    assert_eq!(
        server.state().graph_requests[0].1,
        "/v1.0/users/11111111-aaaa/photo/$value"
    );
}

#[tokio::test]
async fn lists_disabled_users_across_pages_and_keeps_the_token_on_graph() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let disabled = dir.disabled().await.unwrap();
    let ids: Vec<&str> = disabled.iter().map(|e| e.id.0.as_str()).collect();
    assert_eq!(ids, ["22222222-bbbb", "33333333-cccc"]);
    assert_eq!(server.state().graph_requests.len(), 2, "two pages");

    server.state().foreign_next_link = true;
    let err = dir.disabled().await.unwrap_err();
    assert!(matches!(err, DirectoryError::Backend { .. }), "{err}");
    assert!(
        err.to_string().contains("https://elsewhere.example"),
        "{err}"
    );
}

#[tokio::test]
async fn issues_a_temporary_access_pass() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let id = EmployeeId("11111111-aaaa".into());
    let action = Action::TemporaryAccessPass {
        lifetime_minutes: 60,
        usable_once: true,
    };
    let ActionOutcome::TemporaryAccessPass(tap) = dir.perform(&id, &action, start()).await.unwrap()
    else {
        panic!("expected a temporary access pass");
    };
    assert_eq!(tap.pass, Secret::new("TAPRJb=8r-gd"));
    assert_eq!(
        format!("{tap:?}").matches("TAPRJb").count(),
        0,
        "the pass never prints"
    );
    let starts: DateTime<Utc> = "2027-01-15T08:00:00Z".parse().unwrap();
    assert_eq!(
        (tap.starts_at, tap.expires_at),
        (starts, starts + Duration::minutes(60))
    );
    assert!(tap.usable_once);
    assert_eq!(
        server.state().tap_bodies,
        [json!({ "lifetimeInMinutes": 60, "isUsableOnce": true })]
    );
    assert_eq!(
        server.state().graph_requests[0].1,
        "/v1.0/users/11111111-aaaa/authentication/temporaryAccessPassMethods"
    );
}

#[tokio::test]
async fn access_pass_refusals_are_clear() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let tap = |m| Action::TemporaryAccessPass {
        lifetime_minutes: m,
        usable_once: true,
    };

    for minutes in [9, 43_201] {
        let err = dir
            .perform(&EmployeeId("11111111-aaaa".into()), &tap(minutes), start())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                DirectoryError::InvalidRequest {
                    field: "lifetime_minutes",
                    ..
                }
            ),
            "{err}"
        );
    }
    assert!(
        server.state().tap_bodies.is_empty(),
        "nothing sent for an out-of-range lifetime"
    );

    let err = dir
        .perform(&EmployeeId("44444444-dddd".into()), &tap(60), start())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("UserAuthenticationMethod.ReadWrite.All"),
        "{err}"
    );

    let err = dir
        .perform(&EmployeeId("99999999-zzzz".into()), &tap(60), start())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn password_sign_in_password_changes_and_mfa_reregistration_are_unsupported_with_reasons() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let err = dir
        .authenticate(
            &EmployeeKey::UserPrincipalName("alex@contoso.example".into()),
            &Secret::new("alex-password"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("OpenID Connect"), "{err}");
    assert!(!format!("{err:?}").contains("alex-password"));

    let cases = [
        (Action::ResetPassword, "signed-in administrator"),
        (
            Action::SetPassword {
                new_password: Secret::new("chosen-1"),
            },
            "temporary access pass",
        ),
        (Action::RequireMfaReregistration, "Graph v1.0 has no call"),
    ];
    for (action, why) in cases {
        let err = dir
            .perform(&EmployeeId("11111111-aaaa".into()), &action, start())
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
    }
    let st = server.state();
    assert_eq!(st.token_requests, 0, "nothing was sent");
    assert!(st.graph_requests.is_empty());
}

#[tokio::test]
async fn updates_a_profile_property_with_patch_and_returns_the_old_value() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let alex = EmployeeId("11111111-aaaa".into());
    let update = |field, value: &str| Action::UpdateProfile {
        field,
        value: value.into(),
    };
    let cases = [
        (
            ProfileField::JobTitle,
            " Senior Analyst ",
            Some("Analyst"),
            "Senior Analyst",
        ),
        (
            ProfileField::PreferredLanguage,
            "fr-CA",
            Some("en-US"),
            "fr-CA",
        ),
        (
            ProfileField::MobilePhone,
            "+1 425 555 0109",
            None,
            "+1 425 555 0109",
        ),
        (
            ProfileField::OfficeLocation,
            "131/1104",
            Some("18/2111"),
            "131/1104",
        ),
        // The stand-in remembers the PATCH: the next update sees it as the old value.
        (
            ProfileField::JobTitle,
            "Lead Analyst",
            Some("Senior Analyst"),
            "Lead Analyst",
        ),
    ];
    for (field, value, old, new) in cases {
        assert_eq!(
            dir.perform(&alex, &update(field, value), start())
                .await
                .unwrap(),
            ActionOutcome::ProfileUpdated {
                field,
                old: old.map(String::from),
                new: new.into()
            }
        );
    }
    let st = server.state();
    assert_eq!(
        st.patches[0],
        (
            "11111111-aaaa".to_owned(),
            json!({ "jobTitle": "Senior Analyst" })
        )
    );
    assert_eq!(
        st.patches[2],
        (
            "11111111-aaaa".to_owned(),
            json!({ "mobilePhone": "+1 425 555 0109" })
        )
    );
    let (method, path, query) = &st.graph_requests[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/v1.0/users/11111111-aaaa")
    );
    assert_eq!(query.get("$select").map(String::as_str), Some("jobTitle"));
    assert_eq!(st.graph_requests[1].0, "PATCH");
    assert_eq!(st.token_requests, 1);
}

#[tokio::test]
async fn profile_update_refusals_are_clear_and_bad_values_are_never_sent() {
    let server = StandIn::start().await;
    let clock = ManualClock::new(start());
    let dir = server.directory(&clock);
    let update = |field, value: &str| Action::UpdateProfile {
        field,
        value: value.into(),
    };
    let alex = EmployeeId("11111111-aaaa".into());
    for (field, value) in [
        (ProfileField::JobTitle, ""),
        (ProfileField::OfficeLocation, "a\u{0}b"),
        (ProfileField::PreferredLanguage, "French"),
        (ProfileField::MobilePhone, "n/a"),
    ] {
        let err = dir
            .perform(&alex, &update(field, value), start())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DirectoryError::InvalidRequest { field: f, .. } if *f == field.name()),
            "{field} {value:?}: {err}"
        );
    }
    let long = "x".repeat(129);
    let err = dir
        .perform(&alex, &update(ProfileField::JobTitle, &long), start())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 128"), "{err}");
    assert!(server.state().graph_requests.is_empty(), "nothing sent");

    // Graph's own check of the value.
    let err = dir
        .perform(
            &alex,
            &update(ProfileField::PreferredLanguage, "tlh"),
            start(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::InvalidRequest {
                field: "preferredLanguage",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Request_BadRequest"), "{err}");

    let err = dir
        .perform(
            &EmployeeId("44444444-dddd".into()),
            &update(ProfileField::JobTitle, "Boss"),
            start(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
    assert!(err.to_string().contains("User.ReadWrite.All"), "{err}");

    let err = dir
        .perform(
            &EmployeeId("99999999-zzzz".into()),
            &update(ProfileField::JobTitle, "Boss"),
            start(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

/// A config field and a change that breaks it.
type Change = Box<dyn Fn(&mut GraphConfig)>;

#[test]
fn config_checks_name_the_field_and_hide_the_secret() {
    let ok = config("http://127.0.0.1:1", SECRET);
    let clock = Arc::new(ManualClock::new(start()));
    assert!(GraphDirectory::new(ok.clone(), clock.clone()).is_ok());
    assert!(!format!("{ok:?}").contains(SECRET));
    let cases: [(&str, Change); 5] = [
        (
            "graph.login_url",
            Box::new(|c| c.login_url = "http://login.example".into()),
        ),
        (
            "graph.graph_url",
            Box::new(|c| c.graph_url = "ftp://graph.example".into()),
        ),
        (
            "graph.tenant_id",
            Box::new(|c| c.tenant_id = "../other".into()),
        ),
        ("graph.client_id", Box::new(|c| c.client_id = String::new())),
        (
            "graph.client_secret",
            Box::new(|c| c.client_secret = Secret::new("")),
        ),
    ];
    for (field, change) in cases {
        let mut c = ok.clone();
        change(&mut c);
        let err = GraphDirectory::new(c, clock.clone()).unwrap_err();
        assert!(
            matches!(err, DirectoryError::Config { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    let unknown = toml::from_str::<GraphConfig>(
        "tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nsecret = \"x\"\n",
    );
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `secret`")
    );
    let defaults: GraphConfig =
        toml::from_str("tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n").unwrap();
    assert_eq!(defaults.login_url, "https://login.microsoftonline.com");
    assert_eq!(defaults.graph_url, "https://graph.microsoft.com");
}
