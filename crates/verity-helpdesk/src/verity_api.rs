//! The helpdesk's client of Verity's public REST API, exactly as any relying party calls it:
//! an access token from `/oauth2/token` (client credentials), `createIssuanceRequest`,
//! `createPresentationRequest`, polling of both, and the admin API's revocation by the
//! contract's indexed claim (for leavers).
//!
//! Nothing here trusts a browser: the helpdesk asks Verity for a request's state with its own
//! token, and a callback only tells it to ask.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;
use verity_core::{Clock, Secret};

/// The scope the hosted service's apps ask for; Verity accepts the same.
pub const DEFAULT_SCOPE: &str = "3db474b9-6a0c-4840-96ac-1fceb342124f/.default";

/// Everything a call to Verity can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VerityApiError {
    /// Verity could not be reached or did not answer in time.
    #[error("cannot reach Verity at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Verity refused the client's credentials.
    #[error("Verity refused the API client {client_id}: {reason}")]
    CredentialsRejected { client_id: String, reason: String },
    /// Verity answered with an error; `code`/`inner_code`/`target` come from its error body.
    #[error("Verity refused {operation} ({status} {code}{inner}): {message}", inner = inner_code.as_deref().map(|c| format!(" / {c}")).unwrap_or_default())]
    Refused {
        operation: &'static str,
        status: u16,
        code: String,
        inner_code: Option<String>,
        target: Option<String>,
        message: String,
    },
    /// A call needs a setting the helpdesk was not given.
    #[error("{operation} needs the setting {setting}")]
    NotConfigured {
        operation: &'static str,
        setting: &'static str,
    },
    /// Verity answered 2xx with a body that is not what the API documents.
    #[error("Verity's answer to {operation} is not as documented: {reason}")]
    Unexpected {
        operation: &'static str,
        reason: String,
    },
}

impl VerityApiError {
    /// Verity's inner error code, when it gave one (e.g. `faceCheckNotConfigured`).
    pub fn inner_code(&self) -> Option<&str> {
        match self {
            Self::Refused { inner_code, .. } => inner_code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status Verity answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How to reach Verity and which API client to be.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerityConfig {
    /// Verity's public URL, e.g. `https://vc.contoso.example`.
    pub url: Url,
    /// The API client (`verity client create`).
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default = "default_scope")]
    pub scope: String,
    /// The admin token, needed only by `verity-helpdesk sync` (revocation of leavers' cards).
    #[serde(default)]
    pub admin_token: Option<Secret>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_scope() -> String {
    DEFAULT_SCOPE.to_owned()
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// A request Verity created: what the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRequest {
    pub request_id: String,
    /// The deep link (`openid-vc://...`) the QR code encodes.
    pub url: String,
    pub expiry: DateTime<Utc>,
    /// `data:image/png;base64,...` when the request asked `includeQRCode`.
    pub qr_code: Option<String>,
}

/// The helpdesk's client of Verity.
#[derive(Debug, Clone)]
pub struct VerityClient {
    config: Arc<VerityConfig>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    token: Arc<Mutex<Option<CachedToken>>>,
}

/// An access token and when to stop using it.
type CachedToken = (Secret, DateTime<Utc>);

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl VerityClient {
    /// A client; `http` should not follow redirects (the bearer token must not leave Verity).
    pub fn new(config: VerityConfig, clock: Arc<dyn Clock>) -> Result<Self, VerityApiError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| VerityApiError::Unreachable {
                url: config.url.to_string(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Self {
            config: Arc::new(config),
            http,
            clock,
            token: Arc::new(Mutex::new(None)),
        })
    }

    /// Verity's base URL.
    pub fn base(&self) -> &Url {
        &self.config.url
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.config.url.as_str().trim_end_matches('/'), path)
    }

    fn unreachable(&self, e: &reqwest::Error) -> VerityApiError {
        VerityApiError::Unreachable {
            url: self.config.url.to_string(),
            reason: e.to_string(),
        }
    }

    /// An access token, reused until a minute before it expires.
    async fn access_token(&self) -> Result<String, VerityApiError> {
        let now = self.clock.now();
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && *until > now
        {
            return Ok(token.expose().to_owned());
        }
        let answer = self
            .http
            .post(self.endpoint("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.expose()),
                ("scope", self.config.scope.as_str()),
            ])
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let reason = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given")
                .to_owned();
            return Err(VerityApiError::CredentialsRejected {
                client_id: self.config.client_id.clone(),
                reason: format!("{status}: {reason}"),
            });
        }
        let token: TokenAnswer =
            serde_json::from_value(body).map_err(|e| VerityApiError::Unexpected {
                operation: "the token request",
                reason: e.to_string(),
            })?;
        let lifetime = token.expires_in.unwrap_or(300).max(0);
        let until = now + chrono::Duration::seconds((lifetime - 60).max(0));
        *cached = Some((Secret::new(token.access_token.clone()), until));
        Ok(token.access_token)
    }

    /// Sends `request` with the API token; on a 401 the token is dropped and fetched once
    /// more (a rotated client secret, a restarted Verity).
    async fn call(
        &self,
        operation: &'static str,
        build: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<Value, VerityApiError> {
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let answer = build(&self.http, token)
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            let status = answer.status().as_u16();
            if status == 401 && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            return read_answer(operation, status, answer).await;
        }
        Err(VerityApiError::Unexpected {
            operation,
            reason: "401 twice".into(),
        })
    }

    /// `createIssuanceRequest` with `body` as the hosted API defines it.
    pub async fn create_issuance_request(
        &self,
        body: &Value,
    ) -> Result<CreatedRequest, VerityApiError> {
        let url = self.endpoint("/v1.0/verifiableCredentials/createIssuanceRequest");
        let answer = self
            .call("createIssuanceRequest", |http, token| {
                http.post(&url).bearer_auth(token).json(body)
            })
            .await?;
        created("createIssuanceRequest", &answer)
    }

    /// `createPresentationRequest` with `body` as the hosted API defines it.
    pub async fn create_presentation_request(
        &self,
        body: &Value,
    ) -> Result<CreatedRequest, VerityApiError> {
        let url = self.endpoint("/v1.0/verifiableCredentials/createPresentationRequest");
        let answer = self
            .call("createPresentationRequest", |http, token| {
                http.post(&url).bearer_auth(token).json(body)
            })
            .await?;
        created("createPresentationRequest", &answer)
    }

    /// The request's state as Verity reports it (the last callback body).
    pub async fn request_state(
        &self,
        kind: RequestKind,
        request_id: &str,
    ) -> Result<Value, VerityApiError> {
        let collection = match kind {
            RequestKind::Issuance => "issuanceRequests",
            RequestKind::Presentation => "presentationRequests",
        };
        let url = self.endpoint(&format!(
            "/v1.0/verifiableCredentials/{collection}/{}",
            url_segment(request_id)
        ));
        self.call("polling a request", |http, token| {
            http.get(&url).bearer_auth(token)
        })
        .await
    }

    /// Revokes every card of `contract` whose indexed claim is `claim` (the revocationId);
    /// `Ok(0)` when there is none. Needs `admin_token`.
    pub async fn revoke_by_claim(
        &self,
        contract: &str,
        claim: &str,
        reason: &str,
    ) -> Result<usize, VerityApiError> {
        let Some(admin) = self.config.admin_token.as_ref() else {
            return Err(VerityApiError::NotConfigured {
                operation: "revoking leavers' cards",
                setting: "verity.admin_token",
            });
        };
        let answer = self
            .http
            .post(self.endpoint("/admin/v1/credentials/revoke"))
            .bearer_auth(admin.expose())
            .json(&json!({ "contract": contract, "claim": claim, "reason": reason }))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = answer.status().as_u16();
        if status == 404 {
            return Ok(0);
        }
        let body = read_answer("revocation", status, answer).await?;
        Ok(body.as_array().map(Vec::len).unwrap_or(0))
    }
}

/// Which kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Issuance,
    Presentation,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuance => "issuance",
            Self::Presentation => "presentation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "issuance" => Some(Self::Issuance),
            "presentation" => Some(Self::Presentation),
            _ => None,
        }
    }
}

fn url_segment(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn read_answer(
    operation: &'static str,
    status: u16,
    answer: reqwest::Response,
) -> Result<Value, VerityApiError> {
    let text = answer.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        if body.is_null() {
            return Err(VerityApiError::Unexpected {
                operation,
                reason: format!("status {status} without a JSON body"),
            });
        }
        return Ok(body);
    }
    let error = &body["error"];
    Err(VerityApiError::Refused {
        operation,
        status,
        code: error["code"].as_str().unwrap_or("unknown").to_owned(),
        inner_code: error["innererror"]["code"].as_str().map(str::to_owned),
        target: error["innererror"]["target"].as_str().map(str::to_owned),
        message: error["innererror"]["message"]
            .as_str()
            .or(error["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(200).collect()),
    })
}

fn created(operation: &'static str, body: &Value) -> Result<CreatedRequest, VerityApiError> {
    let field = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| VerityApiError::Unexpected {
                operation,
                reason: format!("no {name:?} in the answer"),
            })
    };
    let expiry = body["expiry"]
        .as_i64()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| VerityApiError::Unexpected {
            operation,
            reason: "no \"expiry\" in the answer".into(),
        })?;
    Ok(CreatedRequest {
        request_id: field("requestId")?,
        url: field("url")?,
        expiry,
        qr_code: body["qrCode"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_created_request_needs_every_field() {
        let ok = json!({"requestId": "r1", "url": "openid-vc://?request_uri=x", "expiry": 1_800_000_000});
        let c = created("op", &ok).unwrap();
        assert_eq!(c.request_id, "r1");
        for missing in ["requestId", "url", "expiry"] {
            let mut body = ok.clone();
            body.as_object_mut().map(|o| o.remove(missing));
            let err = created("op", &body).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(missing)),
                "{missing}: {err:?}"
            );
        }
    }

    #[test]
    fn request_ids_cannot_leave_their_path_segment() {
        assert_eq!(url_segment("../admin?x=1"), "adminx1");
        assert_eq!(url_segment("0193-ab_c"), "0193-ab_c");
    }
}
