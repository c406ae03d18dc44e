//! The service-desk webhook: each verification and each helpdesk action becomes a
//! [`TicketEvent`], POSTed to the service desk as JSON (or as a Microsoft Teams Adaptive Card),
//! signed with HMAC-SHA256, and retried with exponential backoff from a durable outbox.
//!
//! ```text
//! helpdesk ──TicketEvent──> TicketOutbox (the app's store)
//!                                │ deliver_due(outbox, sender, now), every few seconds
//!                                v
//!                          WebhookSender::deliver ──POST, X-Verity-Signature──> service desk
//!                                │ 2xx: delivered   408/429/5xx/network: retry_later
//!                                │ other status, or max_attempts reached: gave_up
//! ```
//!
//! Delivery is at least once: a receiver deduplicates on `eventId` (also sent as the
//! `X-Verity-Event-Id` header). A receiver checks each request with [`verify_signature`].
//!
//! What is never sent: a [`TicketEvent`] has only fixed, typed fields (no free-form JSON, no
//! map, no byte field), so it cannot carry the employee's photo, the selfie, a temporary
//! access pass, a password or any other credential. The HMAC secret itself never leaves the
//! process: only the signature does, and no error message or `Debug` output includes it.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use thiserror::Error;
use url::{Host, Url};
use uuid::Uuid;
use verity_core::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The request header that carries the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "X-Verity-Signature";
/// The request header that carries the event's `eventId`, for deduplication.
pub const EVENT_ID_HEADER: &str = "X-Verity-Event-Id";
/// A sensible clock tolerance for [`verify_signature`]: five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The shortest accepted HMAC secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// How many due tickets one [`deliver_due`] round takes from the outbox.
pub const DUE_BATCH: usize = 50;
/// How many characters of a refusing receiver's body an error message keeps.
pub const BODY_EXCERPT_CHARS: usize = 200;

// ---------------------------------------------------------------------------------------------
// The event
// ---------------------------------------------------------------------------------------------

/// What a ticket event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketKind {
    /// An employee presented a credential (and a face check) to the helpdesk.
    Verification,
    /// The helpdesk performed (or tried to perform) a sensitive action for a verified person.
    Action,
}

impl TicketKind {
    /// The wire name (`verification` or `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::Action => "action",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketOutcome {
    /// The presentation and face check passed.
    Verified,
    /// The presentation or face check did not pass (or the holder declined).
    Refused,
    /// The action was performed.
    Performed,
    /// The action was not allowed (no verification, window expired, policy).
    Denied,
    /// The action was attempted and the directory failed it.
    Failed,
}

impl TicketOutcome {
    /// The wire name (`verified`, `refused`, `performed`, `denied`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Refused => "refused",
            Self::Performed => "performed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// The verified person, as the VerifiedEmployee credential names them. No photo: the
/// credential's photo claim is never copied here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketPerson {
    /// `displayName` claim.
    pub display_name: String,
    /// `userPrincipalName` claim.
    pub user_principal_name: String,
    /// `mail` claim, when the credential has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `jobTitle` claim, when the credential has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
}

/// The issuer's linked domain (DID configuration), as the presentation reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedDomain {
    /// The issuer's origin, e.g. `https://contoso.com/`.
    pub url: String,
    /// True only when the linkage was checked and verified.
    pub verified: bool,
}

/// One ticket for the service desk. Serialised as camelCase JSON; timestamps are RFC 3339.
///
/// By construction it holds neither a photo nor a temporary access pass or password: every
/// field is typed and fixed (no free-form JSON, map or byte field). Unknown fields of a JSON
/// document are dropped when deserialising, so even a stored event that somehow gained a
/// `photo` or `temporaryAccessPass` member loses it before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketEvent {
    /// Unique per event; the receiver deduplicates on it (retries resend the same id).
    pub event_id: Uuid,
    /// `verification` or `action`.
    pub kind: TicketKind,
    /// The Verity presentation request id the event belongs to.
    pub request_id: String,
    /// How it ended.
    pub outcome: TicketOutcome,
    /// Human-readable reason, chiefly for `refused`, `denied` and `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The verified person; absent when the presentation never got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<TicketPerson>,
    /// The credential issuer's DID; absent when no credential was presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The issuer's linked domain; absent when no credential was presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_domain: Option<LinkedDomain>,
    /// The face check's match confidence, 0-100; absent when no face check ran.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_score"
    )]
    pub face_match_score: Option<u8>,
    /// The action's name (e.g. `issue a temporary access pass`), for `action` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// When the verification or action happened.
    pub occurred_at: DateTime<Utc>,
    /// When the person was verified (the start of the helpdesk's action window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

fn deserialize_score<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let score = Option::<u8>::deserialize(d)?;
    match score {
        Some(s) if s > 100 => Err(serde::de::Error::custom(format!(
            "faceMatchScore {s} is outside 0-100"
        ))),
        other => Ok(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// The body format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The [`TicketEvent`] itself as JSON.
    #[default]
    Json,
    /// A Microsoft Teams incoming-webhook message holding an Adaptive Card with the event's
    /// facts (see [`teams_message`]).
    Teams,
}

/// `[webhook]`: where ticket events go and how hard to try.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The receiver. `https://` is required unless the host is loopback (`127.0.0.0/8`,
    /// `::1`, `localhost`). For Teams the URL is itself a credential; messages name only its
    /// host.
    pub url: String,
    /// The HMAC-SHA256 key shared with the receiver, at least 16 bytes.
    pub secret: Secret,
    /// `json` (default) or `teams`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Attempts per event, the first included, before giving up.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The delay after the first failed attempt; it doubles with each further failure.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// The longest delay between attempts (also caps a receiver's `Retry-After`).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Per-request time limit.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_attempts() -> u32 {
    8
}
fn default_initial_backoff_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    300_000
}
fn default_timeout_ms() -> u64 {
    5_000
}

/// The longest accepted `max_backoff_ms`: one week.
const MAX_BACKOFF_LIMIT_MS: u64 = 7 * 24 * 3_600_000;

impl WebhookConfig {
    /// A configuration with the defaults for everything but `url` and `secret`.
    pub fn new(url: impl Into<String>, secret: Secret) -> Self {
        Self {
            url: url.into(),
            secret,
            format: WebhookFormat::default(),
            max_attempts: default_max_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            timeout_ms: default_timeout_ms(),
        }
    }

    /// Checks every value; returns the parsed URL. Errors name the field (`webhook.url`, ...)
    /// and never include the secret.
    pub fn validate(&self) -> Result<Url, WebhookError> {
        let url = Url::parse(&self.url).map_err(|e| WebhookError::Config {
            field: "webhook.url",
            reason: format!("{:?} is not a URL: {e}", redact_url(&self.url)),
        })?;
        if url.host().is_none() {
            return Err(WebhookError::Config {
                field: "webhook.url",
                reason: "has no host".into(),
            });
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(WebhookError::Config {
                    field: "webhook.url",
                    reason: format!(
                        "http:// is allowed only for a loopback host; use https:// for {}",
                        host_label(&url)
                    ),
                });
            }
            other => {
                return Err(WebhookError::Config {
                    field: "webhook.url",
                    reason: format!("scheme {other:?} is not https"),
                });
            }
        }
        if self.secret.expose().len() < MIN_SECRET_BYTES {
            return Err(WebhookError::Config {
                field: "webhook.secret",
                reason: format!(
                    "must be at least {MIN_SECRET_BYTES} bytes (e.g. 32 random bytes, hex-encoded)"
                ),
            });
        }
        if self.max_attempts == 0 {
            return Err(WebhookError::Config {
                field: "webhook.max_attempts",
                reason: "must be at least 1".into(),
            });
        }
        if self.initial_backoff_ms == 0 {
            return Err(WebhookError::Config {
                field: "webhook.initial_backoff_ms",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(WebhookError::Config {
                field: "webhook.max_backoff_ms",
                reason: format!(
                    "{} is less than initial_backoff_ms ({})",
                    self.max_backoff_ms, self.initial_backoff_ms
                ),
            });
        }
        if self.max_backoff_ms > MAX_BACKOFF_LIMIT_MS {
            return Err(WebhookError::Config {
                field: "webhook.max_backoff_ms",
                reason: format!(
                    "{} exceeds one week ({MAX_BACKOFF_LIMIT_MS})",
                    self.max_backoff_ms
                ),
            });
        }
        if self.timeout_ms == 0 {
            return Err(WebhookError::Config {
                field: "webhook.timeout_ms",
                reason: "must be at least 1".into(),
            });
        }
        Ok(url)
    }
}

/// True for `localhost` (and `*.localhost`), `127.0.0.0/8` and `::1`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `host[:port]` of a URL: what messages show of the receiver (never the path or query, which
/// for Teams and many service desks carry a token).
fn host_label(url: &Url) -> String {
    let host = match url.host() {
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// For a URL that does not parse: keep at most its scheme and what looks like the host.
fn redact_url(raw: &str) -> String {
    let cut = raw
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| raw[start..].find(['/', '?', '#']).map(|end| start + end))
        .unwrap_or(raw.len());
    let shown = &raw[..cut];
    let shown = shown.rsplit_once('@').map_or(shown, |(_, host)| host);
    if cut < raw.len() {
        format!("{shown}/...")
    } else {
        shown.to_string()
    }
}

/// The HTTP client for [`WebhookSender`]: it never follows a redirect (a redirect would carry
/// a signed ticket, or a Teams URL's token, to wherever the receiver points; a 3xx is a
/// permanent error instead), applies `timeout_ms` to each request, and refuses plain HTTP
/// unless the configured host is loopback.
pub fn http_client(config: &WebhookConfig) -> Result<reqwest::Client, WebhookError> {
    let loopback = Url::parse(&config.url).is_ok_and(|u| is_loopback(&u));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(config.timeout_ms))
        .https_only(!loopback)
        .user_agent(concat!("verity-helpdesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::HttpClient {
            reason: error_chain(&e.without_url()),
        })
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Configuration, signature and (wrapped) delivery errors. Messages name the field, check or
/// reason; none includes the secret.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// A configuration value fails its check.
    #[error("invalid webhook configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {reason}")]
    HttpClient { reason: String },

    /// The signature header is not `t=<unix seconds>,v1=<64 hex digits>`.
    #[error("malformed X-Verity-Signature header: {reason}")]
    MalformedSignature { reason: String },

    /// No `v1` signature matches the timestamp and body: the body was altered or the
    /// secret differs.
    #[error(
        "X-Verity-Signature does not match the body (the body was altered or the secret differs)"
    )]
    SignatureMismatch,

    /// The signature is genuine but its timestamp is too far from the receiver's clock: a
    /// replay, or clocks out of step.
    #[error(
        "X-Verity-Signature timestamp {timestamp} is {age_seconds} s from the receiver's clock, beyond the {tolerance_seconds} s tolerance (replayed, or clocks out of step)"
    )]
    StaleSignature {
        timestamp: i64,
        age_seconds: i64,
        tolerance_seconds: u64,
    },

    /// The event could not be encoded or signed.
    #[error("cannot encode ticket event: {reason}")]
    Encode { reason: String },

    /// A delivery failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Why one delivery attempt failed: [`DeliveryError::is_retryable`] separates the failures
/// worth another attempt (network, timeout, 408, 429, 5xx) from the permanent ones.
#[derive(Debug, Error)]
pub enum DeliveryError {
    /// Connection refused, DNS, TLS, reset: retryable.
    #[error("cannot reach the service desk at {host}: {reason}")]
    Unreachable { host: String, reason: String },

    /// No answer within `timeout_ms`: retryable.
    #[error("the service desk at {host} did not answer within {timeout_ms} ms")]
    Timeout { host: String, timeout_ms: u64 },

    /// 408, 429 or 5xx: retryable, after `retry_after` when the receiver sent `Retry-After`.
    #[error("the service desk at {host} answered HTTP {status}{}: {body:?}", retry_note(.retry_after))]
    Unavailable {
        host: String,
        status: u16,
        retry_after: Option<Duration>,
        /// Up to 200 characters of the response body.
        body: String,
    },

    /// Any other non-2xx status (4xx, or a 3xx since redirects are not followed): permanent.
    #[error("the service desk at {host} refused the event with HTTP {status}{}: {body:?}", redirect_note(.status))]
    Refused {
        host: String,
        status: u16,
        /// Up to 200 characters of the response body.
        body: String,
    },

    /// The event could not be encoded or signed: permanent.
    #[error("cannot encode ticket event {event_id}: {reason}")]
    Encode { event_id: Uuid, reason: String },
}

fn retry_note(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (Retry-After {} s)", d.as_secs()),
        None => String::new(),
    }
}

fn redirect_note(status: &u16) -> &'static str {
    if (300..400).contains(status) {
        " (redirects are not followed; configure the final URL)"
    } else {
        ""
    }
}

impl DeliveryError {
    /// True for network errors, timeouts, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Unavailable { .. }
        )
    }

    /// The receiver's `Retry-After`, when it sent one with a retryable status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the receiver answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unavailable { status, .. } | Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its sources, `: `-separated (reqwest puts the useful part in the sources).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<HmacSha256, WebhookError> {
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|e| WebhookError::Encode {
        reason: format!("HMAC key: {e}"),
    })?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `X-Verity-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature_header(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let tag = mac(secret, timestamp, body)?.finalize().into_bytes();
    Ok(format!("t={timestamp},v1={}", hex::encode(tag)))
}

/// Checks an `X-Verity-Signature` header against the raw request body, for receivers.
///
/// The header is `t=<unix seconds>,v1=<64 hex digits>` (several `v1` are accepted, as during a
/// secret rotation; unknown `key=value` parts are ignored). The HMAC is compared in constant
/// time. Errors: [`WebhookError::MalformedSignature`] when the header does not parse,
/// [`WebhookError::SignatureMismatch`] when no `v1` matches (altered body or other secret),
/// [`WebhookError::StaleSignature`] when it matches but `t` is more than `tolerance` from
/// `now` in either direction (a replay, or clock skew).
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let (timestamp, signatures) = parse_signature_header(header)?;
    let mac = mac(secret, timestamp, body)?;
    let matched = signatures.iter().fold(false, |found, sig| {
        mac.clone().verify_slice(sig).is_ok() | found
    });
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    let age_seconds = now.timestamp().saturating_sub(timestamp);
    if age_seconds.unsigned_abs() > tolerance.as_secs() {
        return Err(WebhookError::StaleSignature {
            timestamp,
            age_seconds,
            tolerance_seconds: tolerance.as_secs(),
        });
    }
    Ok(())
}

fn malformed(reason: impl Into<String>) -> WebhookError {
    WebhookError::MalformedSignature {
        reason: reason.into(),
    }
}

/// `t=...,v1=...` -> (timestamp, decoded v1 signatures).
fn parse_signature_header(header: &str) -> Result<(i64, Vec<Vec<u8>>), WebhookError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(malformed("empty"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        let Some((key, value)) = part.split_once('=') else {
            return Err(malformed(format!(
                "part {:?} is not key=value",
                excerpt_of(part, 40)
            )));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(malformed("more than one t"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed("t is not Unix seconds"));
                }
                let t = value
                    .parse::<i64>()
                    .map_err(|_| malformed("t is not Unix seconds"))?;
                timestamp = Some(t);
            }
            "v1" => {
                let value = value.trim();
                if value.len() != 64 {
                    return Err(malformed("v1 is not 64 hex digits"));
                }
                let sig = hex::decode(value).map_err(|_| malformed("v1 is not 64 hex digits"))?;
                signatures.push(sig);
            }
            "" => return Err(malformed("empty key")),
            _ => {} // a future scheme: ignored
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed("no t (timestamp)"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    Ok((timestamp, signatures))
}

fn excerpt_of(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

impl WebhookFormat {
    /// The request body for `event` in this format.
    pub fn render(self, event: &TicketEvent) -> Result<Vec<u8>, WebhookError> {
        let encoded = match self {
            Self::Json => serde_json::to_vec(event),
            Self::Teams => serde_json::to_vec(&teams_message(event)),
        };
        encoded.map_err(|e| WebhookError::Encode {
            reason: e.to_string(),
        })
    }
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The event's facts as (title, value) pairs, in display order; absent fields are left out.
pub fn ticket_facts(event: &TicketEvent) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Event", event.kind.as_str().to_string()),
        ("Outcome", event.outcome.as_str().to_string()),
    ];
    if let Some(action) = &event.action {
        facts.push(("Action", action.clone()));
    }
    if let Some(reason) = &event.reason {
        facts.push(("Reason", reason.clone()));
    }
    if let Some(p) = &event.person {
        facts.push(("Person", p.display_name.clone()));
        facts.push(("User principal name", p.user_principal_name.clone()));
        if let Some(mail) = &p.mail {
            facts.push(("Mail", mail.clone()));
        }
        if let Some(title) = &p.job_title {
            facts.push(("Job title", title.clone()));
        }
    }
    if let Some(score) = event.face_match_score {
        facts.push(("Face match", format!("{score}/100")));
    }
    if let Some(issuer) = &event.issuer {
        facts.push(("Issuer", issuer.clone()));
    }
    if let Some(d) = &event.linked_domain {
        let state = if d.verified {
            "verified"
        } else {
            "not verified"
        };
        facts.push(("Linked domain", format!("{} ({state})", d.url)));
    }
    facts.push(("Occurred at", rfc3339(&event.occurred_at)));
    if let Some(t) = &event.verified_at {
        facts.push(("Verified at", rfc3339(t)));
    }
    facts.push(("Request", event.request_id.clone()));
    facts.push(("Event id", event.event_id.to_string()));
    facts
}

fn teams_title(event: &TicketEvent) -> String {
    let who = event
        .person
        .as_ref()
        .map(|p| format!(" for {}", p.display_name))
        .unwrap_or_default();
    match event.kind {
        TicketKind::Verification => {
            format!("Helpdesk verification {}{who}", event.outcome.as_str())
        }
        TicketKind::Action => {
            let action = event.action.as_deref().unwrap_or("action");
            format!("Helpdesk: {action} {}{who}", event.outcome.as_str())
        }
    }
}

/// The Microsoft Teams incoming-webhook message for `event`: one Adaptive Card (version 1.4)
/// with a title `TextBlock` and a `FactSet` of [`ticket_facts`].
pub fn teams_message(event: &TicketEvent) -> Value {
    let facts: Vec<Value> = ticket_facts(event)
        .into_iter()
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "TextBlock",
                        "text": teams_title(event),
                        "weight": "Bolder",
                        "size": "Medium",
                        "wrap": true
                    },
                    { "type": "FactSet", "facts": facts }
                ]
            }
        }]
    })
}

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

/// Sends ticket events to the configured receiver.
pub struct WebhookSender {
    config: WebhookConfig,
    url: Url,
    host: String,
    http: reqwest::Client,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("host", &self.host)
            .field("format", &self.config.format)
            .field("max_attempts", &self.config.max_attempts)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// Validates `config` and keeps `http`, which should come from [`http_client`]: the client
    /// must not follow redirects (each request also carries `timeout_ms`).
    pub fn new(config: WebhookConfig, http: reqwest::Client) -> Result<Self, WebhookError> {
        let url = config.validate()?;
        let host = host_label(&url);
        Ok(Self {
            config,
            url,
            host,
            http,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// POSTs `event` once, signed with timestamp `now`. `Ok` on any 2xx.
    pub async fn deliver(
        &self,
        event: &TicketEvent,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let encode = |e: WebhookError| DeliveryError::Encode {
            event_id: event.event_id,
            reason: e.to_string(),
        };
        let body = self.config.format.render(event).map_err(encode)?;
        let signature = signature_header(
            self.config.secret.expose().as_bytes(),
            now.timestamp(),
            &body,
        )
        .map_err(encode)?;
        let sent = self
            .http
            .post(self.url.clone())
            .timeout(Duration::from_millis(self.config.timeout_ms))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event.event_id.to_string())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(DeliveryError::Timeout {
                    host: self.host.clone(),
                    timeout_ms: self.config.timeout_ms,
                });
            }
            Err(e) => {
                return Err(DeliveryError::Unreachable {
                    host: self.host.clone(),
                    reason: error_chain(&e.without_url()),
                });
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let retryable = code == 408 || code == 429 || status.is_server_error();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let body = read_excerpt(response).await;
        if retryable {
            Err(DeliveryError::Unavailable {
                host: self.host.clone(),
                status: code,
                retry_after,
                body,
            })
        } else {
            Err(DeliveryError::Refused {
                host: self.host.clone(),
                status: code,
                body,
            })
        }
    }

    /// The delay after `attempts` failed attempts (1 = after the first): exponential from
    /// `initial_backoff_ms`, doubled per attempt and capped at `max_backoff_ms`, with equal
    /// jitter: a uniformly random value in `[d/2, d]` for the capped exponential `d`. Below the
    /// cap a delay is never shorter than the one before; at the cap it stays within
    /// `[max/2, max]`, so tickets that failed together do not retry together.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let ceiling = exponential_ms(
            self.config.initial_backoff_ms,
            self.config.max_backoff_ms,
            attempts,
        );
        let half = ceiling / 2;
        let spread = ceiling - half;
        let mut bytes = [0u8; 8];
        let jitter = match OsRng.try_fill_bytes(&mut bytes) {
            // modulo bias is irrelevant at these magnitudes
            Ok(()) => u64::from_le_bytes(bytes) % (spread + 1),
            Err(_) => spread,
        };
        Duration::from_millis(half + jitter)
    }

    /// When to try again after a retryable `error` on attempt number `attempts`: the
    /// receiver's `Retry-After` when it sent one, else [`Self::backoff`]; never more than
    /// `max_backoff_ms`.
    pub fn retry_delay(&self, error: &DeliveryError, attempts: u32) -> Duration {
        let cap = Duration::from_millis(self.config.max_backoff_ms);
        error
            .retry_after()
            .unwrap_or_else(|| self.backoff(attempts))
            .min(cap)
    }
}

/// `initial * 2^(attempts-1)`, capped at `max` (attempts 0 counts as 1).
fn exponential_ms(initial: u64, max: u64, attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1);
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    initial.saturating_mul(factor).min(max)
}

/// `Retry-After`: delay-seconds, or an HTTP date (relative to `now`, not before it).
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    let seconds = (at - now).num_seconds().max(0);
    Some(Duration::from_secs(seconds.unsigned_abs()))
}

/// Up to [`BODY_EXCERPT_CHARS`] characters of a response body, control characters blanked.
async fn read_excerpt(mut response: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < 4 * BODY_EXCERPT_CHARS {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt_of(String::from_utf8_lossy(&buf).trim(), BODY_EXCERPT_CHARS)
}

// ---------------------------------------------------------------------------------------------
// Durable retry
// ---------------------------------------------------------------------------------------------

/// What an outbox operation fails with (the store's own error, boxed).
pub type OutboxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A ticket waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTicket {
    /// The outbox entry's id.
    pub id: Uuid,
    /// The event to send.
    pub event: TicketEvent,
    /// Attempts made so far (0 for a new ticket).
    pub attempts: u32,
}

/// The durable queue of ticket events (the app keeps it in its store). A ticket is due when
/// it is neither delivered nor given up and its next attempt time has come.
#[async_trait]
pub trait TicketOutbox: Send + Sync {
    /// Up to `limit` tickets due at `now`, oldest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize)
    -> Result<Vec<QueuedTicket>, OutboxError>;

    /// The ticket reached the receiver at `now`.
    async fn delivered(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), OutboxError>;

    /// The ticket failed `attempts` times so far; try again at `next_at`.
    async fn retry_later(
        &self,
        id: Uuid,
        attempts: u32,
        next_at: DateTime<Utc>,
        last_error: &str,
    ) -> Result<(), OutboxError>;

    /// The ticket will not be sent again (permanent error, or `max_attempts` reached).
    async fn gave_up(&self, id: Uuid, attempts: u32, last_error: &str) -> Result<(), OutboxError>;
}

/// What one [`deliver_due`] round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Tickets the receiver accepted.
    pub delivered: usize,
    /// Tickets scheduled for another attempt.
    pub retried: usize,
    /// Tickets abandoned (permanent error or `max_attempts` reached).
    pub gave_up: usize,
    /// Outbox operations that failed (logged; the ticket stays due and is sent again).
    pub outbox_errors: usize,
}

/// Delivers each ticket due at `now` (up to [`DUE_BATCH`]) once and records the outcome:
/// 2xx -> `delivered`; a permanent error, or a retryable one on the `max_attempts`-th
/// attempt -> `gave_up`; otherwise `retry_later` at `now` + `Retry-After` or backoff.
pub async fn deliver_due(
    outbox: &dyn TicketOutbox,
    sender: &WebhookSender,
    now: DateTime<Utc>,
) -> DeliveryRound {
    let mut round = DeliveryRound::default();
    let due = match outbox.due(now, DUE_BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the ticket outbox");
            round.outbox_errors += 1;
            return round;
        }
    };
    for ticket in due {
        let attempts = ticket.attempts.saturating_add(1);
        let recorded = match sender.deliver(&ticket.event, now).await {
            Ok(()) => {
                round.delivered += 1;
                tracing::info!(event_id = %ticket.event.event_id, attempts, "ticket delivered");
                outbox.delivered(ticket.id, now).await
            }
            Err(e) if e.is_retryable() && attempts < sender.config.max_attempts => {
                let delay = sender.retry_delay(&e, attempts);
                let next_at = TimeDelta::from_std(delay)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                round.retried += 1;
                tracing::warn!(
                    event_id = %ticket.event.event_id, attempts, %next_at, error = %e,
                    "ticket delivery failed; will retry"
                );
                outbox
                    .retry_later(ticket.id, attempts, next_at, &e.to_string())
                    .await
            }
            Err(e) => {
                round.gave_up += 1;
                tracing::error!(
                    event_id = %ticket.event.event_id, attempts, error = %e,
                    "ticket delivery gave up"
                );
                outbox.gave_up(ticket.id, attempts, &e.to_string()).await
            }
        };
        if let Err(e) = recorded {
            round.outbox_errors += 1;
            tracing::error!(id = %ticket.id, error = %e, "cannot record a ticket's delivery outcome");
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123";

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn signature_round_trips_and_matches_a_known_vector() {
        let header = signature_header(KEY, 1_800_000_000, b"{\"a\":1}").unwrap();
        assert!(header.starts_with("t=1800000000,v1="));
        assert_eq!(header.len(), "t=1800000000,v1=".len() + 64);
        assert!(
            verify_signature(
                KEY,
                &header,
                b"{\"a\":1}",
                at(1_800_000_010),
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
        // HMAC-SHA256 over "<t>.<body>", computed independently of `mac`.
        let mut m = HmacSha256::new_from_slice(KEY).unwrap();
        m.update(b"1800000000.{\"a\":1}");
        let expected = hex::encode(m.finalize().into_bytes());
        assert_eq!(header, format!("t=1800000000,v1={expected}"));
    }

    #[test]
    fn header_parsing_accepts_spaces_rotation_and_unknown_schemes() {
        let good = signature_header(KEY, 1_800_000_000, b"x").unwrap();
        let v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let other = "00".repeat(32);
        let rotated = format!(" t=1800000000 , v1={other}, v0=legacy , v1={v1} ");
        assert!(
            verify_signature(KEY, &rotated, b"x", at(1_800_000_000), DEFAULT_TOLERANCE).is_ok()
        );
    }

    #[test]
    fn malformed_headers_say_why() {
        let sig = "ab".repeat(32);
        for (header, why) in [
            ("", "empty"),
            ("t=1", "no v1"),
            (&*format!("v1={sig}"), "no t"),
            (&*format!("t=abc,v1={sig}"), "t is not"),
            (&*format!("t=-5,v1={sig}"), "t is not"),
            (&*format!("t=1,t=2,v1={sig}"), "more than one t"),
            ("t=1,v1=abcd", "64 hex"),
            (&*format!("t=1,v1={}", "zz".repeat(32)), "64 hex"),
            (&*format!("t=1;v1={sig}"), "t is not"),
            (&*format!("t=1,v1={sig},v1"), "not key=value"),
            (&*format!("t=1,={sig}"), "empty key"),
        ] {
            match verify_signature(KEY, header, b"", at(1), DEFAULT_TOLERANCE) {
                Err(WebhookError::MalformedSignature { reason }) => {
                    assert!(reason.contains(why), "{header:?}: {reason}");
                }
                other => panic!("{header:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn stale_in_either_direction() {
        let header = signature_header(KEY, 1_000, b"b").unwrap();
        let tol = Duration::from_secs(60);
        assert!(verify_signature(KEY, &header, b"b", at(1_060), tol).is_ok());
        assert!(verify_signature(KEY, &header, b"b", at(940), tol).is_ok());
        assert!(matches!(
            verify_signature(KEY, &header, b"b", at(1_061), tol),
            Err(WebhookError::StaleSignature {
                age_seconds: 61,
                ..
            })
        ));
        assert!(matches!(
            verify_signature(KEY, &header, b"b", at(939), tol),
            Err(WebhookError::StaleSignature {
                age_seconds: -61,
                ..
            })
        ));
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = at(1_800_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = now + TimeDelta::seconds(90);
        let date = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = (now - TimeDelta::seconds(90))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn exponential_doubles_and_caps_without_overflow() {
        assert_eq!(exponential_ms(1_000, 300_000, 0), 1_000);
        assert_eq!(exponential_ms(1_000, 300_000, 1), 1_000);
        assert_eq!(exponential_ms(1_000, 300_000, 2), 2_000);
        assert_eq!(exponential_ms(1_000, 300_000, 9), 256_000);
        assert_eq!(exponential_ms(1_000, 300_000, 10), 300_000);
        assert_eq!(exponential_ms(1_000, 300_000, 64), 300_000);
        assert_eq!(exponential_ms(1_000, 300_000, 65), 300_000);
        assert_eq!(exponential_ms(1_000, 300_000, u32::MAX), 300_000);
    }

    #[test]
    fn loopback_hosts() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.1.2.3/", true),
            ("http://[::1]:9/", true),
            ("http://localhost/", true),
            ("http://LOCALHOST./", true),
            ("http://desk.localhost/", true),
            ("http://10.0.0.1/", false),
            ("http://localhost.example.com/", false),
            ("http://[::2]/", false),
        ] {
            let parsed = Url::parse(url).ok();
            assert_eq!(parsed.as_ref().is_some_and(is_loopback), loopback, "{url}");
        }
    }

    #[test]
    fn labels_and_redaction_hide_paths_and_credentials() {
        let url = Url::parse("https://user:pw@desk.example.com:8443/hook/token?sig=abc").ok();
        assert_eq!(
            url.as_ref().map(host_label).as_deref(),
            Some("desk.example.com:8443")
        );
        let url = Url::parse("http://[::1]:9/secret-path").ok();
        assert_eq!(url.as_ref().map(host_label).as_deref(), Some("[::1]:9"));
        assert_eq!(redact_url("https://u:p@bad host/tok?x=1"), "bad host/...");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn excerpts_are_bounded_and_single_line() {
        let long = "é\n".repeat(300);
        let e = excerpt_of(&long, BODY_EXCERPT_CHARS);
        assert_eq!(e.chars().count(), BODY_EXCERPT_CHARS);
        assert!(!e.contains('\n'));
    }

    #[test]
    fn face_match_score_above_100_is_refused() {
        let doc = json!({
            "eventId": Uuid::nil(), "kind": "verification", "requestId": "r", "outcome": "verified",
            "faceMatchScore": 101, "occurredAt": "2027-01-15T08:00:00Z"
        });
        let err = serde_json::from_value::<TicketEvent>(doc.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("faceMatchScore 101"), "{err}");
        let mut ok = doc;
        ok["faceMatchScore"] = json!(100);
        assert!(serde_json::from_value::<TicketEvent>(ok).is_ok());
    }
}
