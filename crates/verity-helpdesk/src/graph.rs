//! The Microsoft Graph directory: Entra ID users read and acted on by an app with a client
//! secret (client-credentials grant).
//!
//! ```text
//! token:  POST {login_url}/{tenant}/oauth2/v2.0/token   (form: client_id, client_secret,
//!         scope=https://graph.microsoft.com/.default, grant_type=client_credentials)
//!         -> cached until two minutes before expires_in; a 401 from Graph drops it once
//! find:   GET  {graph_url}/v1.0/users/{id}?$select=...       (upn or object id; mail: $filter)
//! photo:  GET  {graph_url}/v1.0/users/{id}/photo/$value      (404 -> no photo)
//! leavers: GET {graph_url}/v1.0/users?$filter=accountEnabled eq false  (follows nextLink)
//! TAP:    POST {graph_url}/v1.0/users/{id}/authentication/temporaryAccessPassMethods
//! profile: GET  {graph_url}/v1.0/users/{id}?$select={field}   (the old value), then
//!          PATCH {graph_url}/v1.0/users/{id}  {"{field}": "..."}
//! ```
//!
//! Needs the application permissions `User.Read.All` (profile, photo, leavers),
//! `UserAuthenticationMethod.ReadWrite.All` (temporary access pass) and, for profile updates,
//! `User.ReadWrite.All`. The client secret and the access token are only ever put into the
//! token request and the Authorization header. Password sign-in, password changes and MFA
//! re-registration are unsupported: see [`Directory::perform`] on [`GraphDirectory`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;
use verity_core::{Clock, Secret};

use crate::config::GraphConfig;
use crate::directory::{
    Action, ActionOutcome, Directory, Employee, EmployeeId, EmployeeKey, Profile, ProfileField,
    TemporaryAccessPass, check_jpeg,
};
use crate::error::DirectoryError;

const BACKEND: &str = "Microsoft Graph";
const SCOPE: &str = "https://graph.microsoft.com/.default";
const SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,jobTitle,mail,preferredLanguage,accountEnabled";
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: TimeDelta = TimeDelta::minutes(2);
/// Graph serves photos up to 4 MiB; anything larger is refused.
const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// The lifetimes Graph accepts for a temporary access pass (the tenant policy may narrow them).
const TAP_MINUTES: std::ops::RangeInclusive<u32> = 10..=43_200;
/// The application permissions a 403 names, per kind of call.
const NEEDS_READ: &str = "User.Read.All";
const NEEDS_TAP: &str = "UserAuthenticationMethod.ReadWrite.All";
const NEEDS_PROFILE_WRITE: &str = "User.ReadWrite.All (User-Phone.ReadWrite.All suffices for mobilePhone; an administrator's mobilePhone stays read-only to apps)";

/// See the module documentation.
#[derive(Debug)]
pub struct GraphDirectory {
    config: GraphConfig,
    login_url: Url,
    graph_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    token: Mutex<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    value: Secret,
    renew_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: Option<GraphError>,
}

#[derive(Deserialize)]
struct GraphError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    job_title: Option<String>,
    mail: Option<String>,
    preferred_language: Option<String>,
    account_enabled: Option<bool>,
}

#[derive(Deserialize)]
struct UserPage {
    value: Vec<GraphUser>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TapAnswer {
    temporary_access_pass: Option<String>,
    start_date_time: Option<DateTime<Utc>>,
    lifetime_in_minutes: Option<i64>,
    is_usable_once: Option<bool>,
}

impl GraphDirectory {
    /// Checks the configuration; `clock` decides when the cached token is renewed.
    pub fn new(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<Self, DirectoryError> {
        let (login_url, graph_url) = config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // A redirect would carry the bearer token elsewhere: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DirectoryError::Config {
                field: "graph",
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Self {
            config,
            login_url,
            graph_url,
            http,
            clock,
            token: Mutex::new(None),
        })
    }

    fn unreachable(&self, url: &Url, e: &reqwest::Error) -> DirectoryError {
        DirectoryError::Unreachable {
            backend: BACKEND,
            url: url.to_string(),
            reason: error_chain(e),
        }
    }

    async fn token(&self) -> Result<Secret, DirectoryError> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref()
            && now < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let mut url = self.login_url.clone();
        url.path_segments_mut()
            .map_err(|()| DirectoryError::Config {
                field: "graph.login_url",
                reason: "cannot hold a path".into(),
            })?
            .pop_if_empty()
            .extend([self.config.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("scope", SCOPE),
            ("grant_type", "client_credentials"),
        ];
        let response = self
            .http
            .post(url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        if !status.is_success() {
            let answer: Option<TokenError> = serde_json::from_slice(&body).ok();
            let code = answer
                .as_ref()
                .and_then(|a| a.error.clone())
                .unwrap_or_default();
            let description = answer
                .and_then(|a| a.error_description)
                .map(|d| d.lines().next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            let reason = format!("token endpoint answered {status} {code}: {description}");
            return Err(
                if status == StatusCode::UNAUTHORIZED
                    || code == "invalid_client"
                    || code == "unauthorized_client"
                {
                    DirectoryError::CredentialsRejected {
                        backend: BACKEND,
                        account: format!(
                            "client {} in tenant {}",
                            self.config.client_id, self.config.tenant_id
                        ),
                        reason,
                    }
                } else {
                    DirectoryError::Backend {
                        backend: BACKEND,
                        operation: "the token request".into(),
                        reason,
                    }
                },
            );
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| DirectoryError::Backend {
                backend: BACKEND,
                operation: "the token request".into(),
                reason: format!("the answer is not a token response: {e}"),
            })?;
        if answer.expires_in <= 0 || answer.access_token.is_empty() {
            return Err(DirectoryError::Backend {
                backend: BACKEND,
                operation: "the token request".into(),
                reason: format!("the token is empty or expires in {} s", answer.expires_in),
            });
        }
        let value = Secret::new(answer.access_token);
        let renew_at = now + TimeDelta::seconds(answer.expires_in) - TOKEN_MARGIN;
        *cached = Some(CachedToken {
            value: value.clone(),
            renew_at,
        });
        Ok(value)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, DirectoryError> {
        let mut url = self.graph_url.clone();
        url.path_segments_mut()
            .map_err(|()| DirectoryError::Config {
                field: "graph.graph_url",
                reason: "cannot hold a path".into(),
            })?
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        Ok(url)
    }

    /// Sends an authorised request; on a 401 renews the token once and sends it again.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, DirectoryError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let request = build(
                self.http
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose()),
            );
            let response = request
                .send()
                .await
                .map_err(|e| self.unreachable(url, &e))?;
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            return Ok(response);
        }
        Err(DirectoryError::CredentialsRejected {
            backend: BACKEND,
            account: format!("client {}", self.config.client_id),
            reason: format!("{method} {} answered 401 with a fresh token", url.path()),
        })
    }

    /// The error for a non-success answer to `operation`; a 403 names the permission `needs`.
    async fn failure(
        &self,
        operation: String,
        key: impl FnOnce() -> String,
        needs: &str,
        response: Response,
    ) -> DirectoryError {
        let status = response.status();
        let (code, message) = error_body(response).await;
        match status {
            StatusCode::NOT_FOUND => DirectoryError::NotFound {
                backend: BACKEND,
                key: key(),
            },
            StatusCode::FORBIDDEN => DirectoryError::Forbidden {
                backend: BACKEND,
                operation,
                reason: format!("{code}: {message} (the app needs the permission {needs})"),
            },
            _ => DirectoryError::Backend {
                backend: BACKEND,
                operation,
                reason: format!("{status} {code}: {message}"),
            },
        }
    }

    fn to_employee(&self, user: GraphUser) -> Result<Employee, DirectoryError> {
        let id = user
            .id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| DirectoryError::InvalidEntry {
                id: user.user_principal_name.clone().unwrap_or_default(),
                reason: "the user has no id".into(),
            })?;
        let missing = |what: &str| DirectoryError::InvalidEntry {
            id: id.clone(),
            reason: format!("no {what}"),
        };
        let profile = Profile {
            user_principal_name: user
                .user_principal_name
                .clone()
                .ok_or_else(|| missing("userPrincipalName"))?,
            display_name: user
                .display_name
                .clone()
                .ok_or_else(|| missing("displayName"))?,
            given_name: user.given_name,
            surname: user.surname,
            job_title: user.job_title,
            mail: user.mail,
            preferred_language: user.preferred_language,
            enabled: user
                .account_enabled
                .ok_or_else(|| missing("accountEnabled"))?,
        };
        Ok(Employee {
            id: EmployeeId(id),
            profile,
        })
    }

    async fn users_page(&self, url: &Url) -> Result<UserPage, DirectoryError> {
        let response = self.send(Method::GET, url, |r| r).await?;
        if !response.status().is_success() {
            return Err(self
                .failure(
                    "the user listing".into(),
                    || "the listing".into(),
                    NEEDS_READ,
                    response,
                )
                .await);
        }
        response.json().await.map_err(|e| DirectoryError::Backend {
            backend: BACKEND,
            operation: "the user listing".into(),
            reason: format!("the answer is not a user collection: {e}"),
        })
    }

    async fn users_where(&self, filter: &str) -> Result<Vec<GraphUser>, DirectoryError> {
        let mut url = self.url(&["users"])?;
        url.query_pairs_mut()
            .append_pair("$filter", filter)
            .append_pair("$select", SELECT);
        let mut users = Vec::new();
        loop {
            let page = self.users_page(&url).await?;
            users.extend(page.value);
            let Some(next) = page.next_link else { break };
            let next = Url::parse(&next).map_err(|e| DirectoryError::Backend {
                backend: BACKEND,
                operation: "the user listing".into(),
                reason: format!("nextLink {next:?} is not a URL: {e}"),
            })?;
            // The bearer token goes only to the configured Graph origin.
            if next.origin() != self.graph_url.origin() {
                return Err(DirectoryError::Backend {
                    backend: BACKEND,
                    operation: "the user listing".into(),
                    reason: format!(
                        "nextLink points at {}, not the configured Graph origin",
                        next.origin().ascii_serialization()
                    ),
                });
            }
            url = next;
        }
        Ok(users)
    }
}

/// The `code` and `message` of a Graph error body (empty when the body is something else).
async fn error_body(response: Response) -> (String, String) {
    let body: Option<GraphErrorBody> = response.json().await.ok();
    body.and_then(|b| b.error)
        .map(|e| (e.code.unwrap_or_default(), e.message.unwrap_or_default()))
        .unwrap_or_default()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A string literal for an OData `$filter` (single quotes doubled).
fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[async_trait]
impl Directory for GraphDirectory {
    async fn find(&self, key: &EmployeeKey) -> Result<Employee, DirectoryError> {
        let by_id = match key {
            EmployeeKey::UserPrincipalName(v) | EmployeeKey::Uid(v) => v,
            EmployeeKey::Mail(mail) => {
                let mut users = self
                    .users_where(&format!("mail eq {}", odata_string(mail)))
                    .await?;
                return match users.len() {
                    0 => Err(DirectoryError::NotFound {
                        backend: BACKEND,
                        key: key.to_string(),
                    }),
                    1 => self.to_employee(users.remove(0)),
                    count => Err(DirectoryError::Ambiguous {
                        backend: BACKEND,
                        key: key.to_string(),
                        count,
                    }),
                };
            }
        };
        if by_id.is_empty() {
            return Err(DirectoryError::InvalidRequest {
                field: "employee key",
                reason: "must not be empty".into(),
            });
        }
        let mut url = self.url(&["users", by_id])?;
        url.query_pairs_mut().append_pair("$select", SELECT);
        let response = self.send(Method::GET, &url, |r| r).await?;
        if !response.status().is_success() {
            return Err(self
                .failure(
                    format!("the lookup of {key}"),
                    || key.to_string(),
                    NEEDS_READ,
                    response,
                )
                .await);
        }
        let user: GraphUser = response.json().await.map_err(|e| DirectoryError::Backend {
            backend: BACKEND,
            operation: format!("the lookup of {key}"),
            reason: format!("the answer is not a user: {e}"),
        })?;
        self.to_employee(user)
    }

    async fn photo(&self, id: &EmployeeId) -> Result<Option<Vec<u8>>, DirectoryError> {
        let url = self.url(&["users", &id.0, "photo", "$value"])?;
        let mut response = self.send(Method::GET, &url, |r| r).await?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            _ => {
                return Err(self
                    .failure(
                        format!("the photo of {id}"),
                        || id.to_string(),
                        NEEDS_READ,
                        response,
                    )
                    .await);
            }
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.unreachable(&url, &e))?
        {
            if bytes.len() + chunk.len() > MAX_PHOTO_BYTES {
                return Err(DirectoryError::InvalidEntry {
                    id: id.0.clone(),
                    reason: format!("the photo is larger than {MAX_PHOTO_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        check_jpeg(id, &bytes)?;
        Ok(Some(bytes))
    }

    async fn disabled(&self) -> Result<Vec<Employee>, DirectoryError> {
        let users = self.users_where("accountEnabled eq false").await?;
        let mut employees = users
            .into_iter()
            .map(|u| self.to_employee(u))
            .collect::<Result<Vec<_>, _>>()?;
        employees.sort_by(|a, b| a.id.0.cmp(&b.id.0));
        Ok(employees)
    }

    /// Unsupported: employees sign in to Entra ID with OpenID Connect, and Graph has no call
    /// that checks a password.
    async fn authenticate(
        &self,
        _key: &EmployeeKey,
        _password: &Secret,
    ) -> Result<Employee, DirectoryError> {
        Err(DirectoryError::Unsupported {
            backend: BACKEND,
            action: "check an employee's password",
            reason: "employees sign in to Microsoft Entra ID with OpenID Connect (authorization code flow), and Graph has no call that checks a password",
        })
    }

    async fn perform(
        &self,
        id: &EmployeeId,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome, DirectoryError> {
        match action {
            Action::TemporaryAccessPass {
                lifetime_minutes,
                usable_once,
            } => {
                self.temporary_access_pass(id, *lifetime_minutes, *usable_once, now)
                    .await
            }
            Action::UpdateProfile { field, value } => self.update_profile(id, *field, value).await,
            Action::ResetPassword => Err(DirectoryError::Unsupported {
                backend: BACKEND,
                action: action.name(),
                reason: "Graph resets a password only for a signed-in administrator (delegated permission), not for an app",
            }),
            Action::SetPassword { .. } => Err(DirectoryError::Unsupported {
                backend: BACKEND,
                action: action.name(),
                reason: "an app cannot set a password through Graph; an employee who signs in with a temporary access pass sets their own password at Microsoft's sign-in page",
            }),
            Action::RequireMfaReregistration => Err(DirectoryError::Unsupported {
                backend: BACKEND,
                action: action.name(),
                reason: "Graph v1.0 has no call for it: the admin center's 'Require re-register MFA' would be one DELETE per registered authentication method (and the default method cannot be deleted while others remain), and per-user MFA state is beta only",
            }),
        }
    }
}

impl GraphDirectory {
    async fn temporary_access_pass(
        &self,
        id: &EmployeeId,
        lifetime_minutes: u32,
        usable_once: bool,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome, DirectoryError> {
        if !TAP_MINUTES.contains(&lifetime_minutes) {
            return Err(DirectoryError::InvalidRequest {
                field: "lifetime_minutes",
                reason: format!(
                    "{lifetime_minutes} is outside the {}..={} minutes Graph accepts",
                    TAP_MINUTES.start(),
                    TAP_MINUTES.end()
                ),
            });
        }
        let operation = || format!("the temporary access pass for {id}");
        let url = self.url(&[
            "users",
            &id.0,
            "authentication",
            "temporaryAccessPassMethods",
        ])?;
        let body = serde_json::json!({ "lifetimeInMinutes": lifetime_minutes, "isUsableOnce": usable_once });
        let response = self.send(Method::POST, &url, |r| r.json(&body)).await?;
        if !response.status().is_success() {
            return Err(self
                .failure(operation(), || id.to_string(), NEEDS_TAP, response)
                .await);
        }
        let answer: TapAnswer = response.json().await.map_err(|e| DirectoryError::Backend {
            backend: BACKEND,
            operation: operation(),
            reason: format!("the answer is not a temporaryAccessPassAuthenticationMethod: {e}"),
        })?;
        let pass = answer
            .temporary_access_pass
            .filter(|p| !p.is_empty())
            .ok_or_else(|| DirectoryError::Backend {
                backend: BACKEND,
                operation: operation(),
                reason: "the answer holds no temporaryAccessPass".into(),
            })?;
        let starts_at = answer.start_date_time.unwrap_or(now);
        let minutes = answer
            .lifetime_in_minutes
            .unwrap_or(i64::from(lifetime_minutes));
        Ok(ActionOutcome::TemporaryAccessPass(TemporaryAccessPass {
            pass: Secret::new(pass),
            starts_at,
            expires_at: starts_at + TimeDelta::minutes(minutes),
            usable_once: answer.is_usable_once.unwrap_or(usable_once),
        }))
    }

    /// Reads the property's current value, then PATCHes the new one.
    async fn update_profile(
        &self,
        id: &EmployeeId,
        field: ProfileField,
        value: &str,
    ) -> Result<ActionOutcome, DirectoryError> {
        let value = field.check(value)?;
        let name = field.name();
        let operation = || format!("the update of {name} for {id}");
        let url = self.url(&["users", &id.0])?;

        let mut read = url.clone();
        read.query_pairs_mut().append_pair("$select", name);
        let response = self.send(Method::GET, &read, |r| r).await?;
        if !response.status().is_success() {
            return Err(self
                .failure(operation(), || id.to_string(), NEEDS_READ, response)
                .await);
        }
        let current: serde_json::Value =
            response.json().await.map_err(|e| DirectoryError::Backend {
                backend: BACKEND,
                operation: operation(),
                reason: format!("the answer is not a user: {e}"),
            })?;
        let old = current
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);

        let mut body = serde_json::Map::new();
        body.insert(name.to_owned(), serde_json::Value::String(value.clone()));
        let body = serde_json::Value::Object(body);
        let response = self.send(Method::PATCH, &url, |r| r.json(&body)).await?;
        let status = response.status();
        if status == StatusCode::BAD_REQUEST {
            // Graph's check of the value (format, or a property synchronised from on-premises).
            let (code, message) = error_body(response).await;
            return Err(DirectoryError::InvalidRequest {
                field: name,
                reason: format!("Graph refused the value for {id}: {code}: {message}"),
            });
        }
        if !status.is_success() {
            return Err(self
                .failure(
                    operation(),
                    || id.to_string(),
                    NEEDS_PROFILE_WRITE,
                    response,
                )
                .await);
        }
        Ok(ActionOutcome::ProfileUpdated {
            field,
            old,
            new: value,
        })
    }
}
