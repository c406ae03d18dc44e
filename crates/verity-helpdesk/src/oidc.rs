//! OpenID Connect sign-in for the employee portal: the authorization code flow with PKCE
//! (S256), `state` and `nonce`, against any OpenID provider (Microsoft Entra ID, Keycloak,
//! Okta, ...), as the alternative to an LDAP bind.
//!
//! ```text
//! begin:   discovery (lazy, cached)   GET {issuer}/.well-known/openid-configuration
//!          -> authorization URL  {authorization_endpoint}?response_type=code&client_id&
//!             redirect_uri&scope&state&nonce&code_challenge&code_challenge_method=S256
//!          -> PendingLogin { state, nonce, code_verifier }   (kept server-side, bound to
//!             the browser session)
//! redirect: ?code&state  (or ?error&error_description: callback_error)
//! finish:  state compared in constant time
//!          POST {token_endpoint}  grant_type=authorization_code, code, redirect_uri,
//!               code_verifier, client auth (client_secret_basic or _post, or none)
//!          id_token: compact JWS, alg RS256 | ES256 | EdDSA, key from {jwks_uri} by kid
//!               (cached; fetched again for an unknown kid, at most once a minute),
//!               signature, iss, aud (+ azp), exp, iat, nonce, sub, the upn claim
//!          -> OidcIdentity { subject, upn, name, email }
//! ```
//!
//! The issuer is compared exactly: the discovery document must name the configured issuer,
//! and every id_token must carry it as `iss` (for Entra ID, configure the tenant-specific
//! issuer `https://login.microsoftonline.com/{tenant}/v2.0`, not `common`). The HTTP client
//! follows no redirects. No error message carries the client secret, the authorization code,
//! a token, the state, the nonce or the code verifier.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use rand_core::{OsRng, RngCore};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::sync::Mutex;
use url::{Host, Url};
use verity_core::{Clock, Secret};

/// Allowed difference between the provider's clock and ours, for `exp` and `iat`.
const CLOCK_SKEW_SECONDS: i64 = 60;
/// The key set is fetched again (for an unknown `kid`) at most this often.
const JWKS_REFETCH_INTERVAL: TimeDelta = TimeDelta::minutes(1);
/// Keys older than this are fetched again before use, so a key the provider withdrew stops
/// being trusted.
const JWKS_MAX_AGE: TimeDelta = TimeDelta::hours(1);
/// The discovery document is fetched again after this long.
const DISCOVERY_MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// Larger answers from the provider are refused.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Provider-supplied text (error descriptions) is cut to this many characters.
const MAX_PROVIDER_TEXT: usize = 300;
/// Random bytes in `state`, `nonce` and the PKCE code verifier (43 base64url characters).
const RANDOM_BYTES: usize = 32;
/// The id_token signature algorithms accepted.
const ACCEPTED_ALGS: &str = "RS256, ES256 and EdDSA";

/// `[oidc]`: the OpenID provider the portal signs employees in with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer identifier, exactly as the provider's discovery document and id_tokens
    /// spell it, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`. The discovery
    /// document is read from `{issuer}/.well-known/openid-configuration`. Kept as written
    /// (no URL normalisation) because it is compared exactly.
    pub issuer: String,
    /// The client id of the app registered with the provider.
    pub client_id: String,
    /// The client secret of a confidential client; sent with `client_secret_basic` or, when
    /// the provider offers only that, `client_secret_post`. Unset: a public client (PKCE
    /// alone binds the code to this app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// The scopes requested; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The id_token claim that holds the employee's user principal name.
    #[serde(default = "default_upn_claim")]
    pub upn_claim: String,
    /// Per-request time limit for discovery, key set and token requests.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"]
        .into_iter()
        .map(String::from)
        .collect()
}
fn default_upn_claim() -> String {
    "preferred_username".into()
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl OidcConfig {
    /// Checks the values; errors name the field (`oidc.issuer`, `oidc.scopes`, ...).
    pub fn validate(&self) -> Result<(), OidcError> {
        self.discovery_url()?;
        if self.client_id.trim().is_empty() || self.client_id.chars().any(char::is_control) {
            return Err(OidcError::Config {
                field: "oidc.client_id",
                reason: "must not be empty or hold control characters".into(),
            });
        }
        if let Some(secret) = &self.client_secret
            && secret.expose().is_empty()
        {
            return Err(OidcError::Config {
                field: "oidc.client_secret",
                reason: "must not be empty (leave it out for a public client)".into(),
            });
        }
        if let Some(bad) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(OidcError::Config {
                field: "oidc.scopes",
                reason: format!(
                    "{bad:?} is not a scope (printable ASCII without spaces, '\"' or '\\')"
                ),
            });
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(OidcError::Config {
                field: "oidc.scopes",
                reason: "must include \"openid\" (without it there is no id_token)".into(),
            });
        }
        if self.upn_claim.trim().is_empty() || self.upn_claim.chars().any(char::is_control) {
            return Err(OidcError::Config {
                field: "oidc.upn_claim",
                reason: "must not be empty or hold control characters".into(),
            });
        }
        if self.timeout_ms == 0 {
            return Err(OidcError::Config {
                field: "oidc.timeout_ms",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 4).
    fn discovery_url(&self) -> Result<Url, OidcError> {
        let issuer = Url::parse(&self.issuer).map_err(|e| OidcError::Config {
            field: "oidc.issuer",
            reason: format!("{:?} is not a URL: {e}", self.issuer),
        })?;
        check_transport(&issuer).map_err(|reason| OidcError::Config {
            field: "oidc.issuer",
            reason,
        })?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(OidcError::Config {
                field: "oidc.issuer",
                reason: "must not have a query or fragment".into(),
            });
        }
        if !issuer.username().is_empty() || issuer.password().is_some() {
            return Err(OidcError::Config {
                field: "oidc.issuer",
                reason: "must not hold user information".into(),
            });
        }
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        Url::parse(&discovery).map_err(|e| OidcError::Config {
            field: "oidc.issuer",
            reason: format!("the discovery URL {discovery:?} is not a URL: {e}"),
        })
    }
}

/// RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// https, or plain http to a loopback host.
fn check_transport(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        other => Err(format!(
            "scheme {other:?} is not https (plain http only to a loopback host)"
        )),
    }
}

/// What [`OidcClient::begin`] hands out and [`OidcClient::finish`] needs back. Keep it
/// server-side, bound to the browser session that started the sign-in, and use it once.
/// It serialises with its values (for the session store); `Debug` prints none of them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the provider; the redirect must bring it back.
    pub state: String,
    /// The `nonce` sent to the provider; the id_token must carry it.
    pub nonce: String,
    /// The PKCE code verifier; the authorization URL carries only its SHA-256.
    pub code_verifier: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &"[redacted]")
            .field("nonce", &"[redacted]")
            .field("code_verifier", &"[redacted]")
            .finish()
    }
}

/// The employee an id_token names, once every check has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcIdentity {
    /// `sub`: the provider's stable identifier of the account.
    pub subject: String,
    /// The user principal name, from the configured `upn_claim`.
    pub upn: String,
    /// `name`, when the provider sends it.
    pub name: Option<String>,
    /// `email`, when the provider sends it.
    pub email: Option<String>,
}

/// Everything OpenID Connect sign-in can fail with. Each variant names the check that
/// failed and why; none carries the client secret, the code, a token, the state, the nonce
/// or the code verifier.
#[derive(Debug, Error)]
pub enum OidcError {
    /// A configuration value fails its check.
    #[error("invalid OpenID Connect configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// The redirect URI given to `begin` or `finish` is unusable.
    #[error("redirect URI check failed: {redirect_uri:?} {reason}")]
    RedirectUri {
        redirect_uri: String,
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("cannot draw random state, nonce and code verifier: {reason}")]
    Random { reason: String },

    /// The provider could not be reached (connection refused, DNS, TLS, timeout).
    #[error("cannot reach the OpenID provider's {endpoint} at {url}: {reason}")]
    Unreachable {
        endpoint: &'static str,
        url: String,
        reason: String,
    },

    /// The discovery document is missing, malformed, or names another issuer.
    #[error("discovery check failed: the OpenID provider's discovery document at {url} {reason}")]
    Discovery { url: String, reason: String },

    /// The key set (JWKS) is missing or malformed.
    #[error("key set check failed: the OpenID provider's JWKS at {url} {reason}")]
    Jwks { url: String, reason: String },

    /// The provider sent the browser back with `error` instead of a code.
    #[error("the OpenID provider ended the sign-in with error {error:?}{}", describe(.description))]
    Provider {
        error: String,
        description: Option<String>,
    },

    /// The redirect's `state` is not the pending sign-in's.
    #[error(
        "state check failed: the state on the redirect is not the one this browser session's sign-in sent (a forged or replayed redirect, or another sign-in's)"
    )]
    StateMismatch,

    /// The redirect carries no authorization code.
    #[error("code check failed: the redirect carries no authorization code")]
    MissingCode,

    /// The token endpoint refused the code (e.g. `invalid_grant`: expired, already redeemed,
    /// PKCE verifier or redirect URI mismatch; `invalid_client`: client authentication).
    #[error(
        "token request refused: the token endpoint answered {status} {error:?}{}",
        describe(.description)
    )]
    TokenEndpoint {
        status: u16,
        error: String,
        description: Option<String>,
    },

    /// The token endpoint answered 2xx, but not with a usable token response.
    #[error("token response check failed: {reason}")]
    TokenResponse { reason: String },

    /// The id_token is not a compact JWS with a JSON header and payload.
    #[error("id_token format check failed: {reason}")]
    MalformedIdToken { reason: String },

    /// The id_token's `alg` is not one this client accepts.
    #[error(
        "id_token alg check failed: {alg:?} is refused ({why}); only {ACCEPTED_ALGS} are accepted"
    )]
    UnsupportedAlgorithm { alg: String, why: &'static str },

    /// The id_token header marks extensions critical that this client does not understand.
    #[error(
        "id_token header check failed: critical header parameters {names:?} are not understood"
    )]
    CriticalHeader { names: Vec<String> },

    /// The id_token header names no `kid`, and the key set does not hold exactly one key
    /// for its algorithm.
    #[error(
        "id_token key check failed: the header names no kid and the key set holds {candidates} keys for {alg}, not exactly one"
    )]
    MissingKeyId { alg: String, candidates: usize },

    /// No key in the provider's key set has the id_token's `kid`.
    #[error("id_token key check failed: no key with kid {kid:?} in the provider's key set ({})",
        if *.fetched_now { "fetched just now" } else { "fetched less than a minute ago, so not fetched again yet" })]
    UnknownKey { kid: String, fetched_now: bool },

    /// The key with the id_token's `kid` does not fit its `alg` (type, curve, use, size).
    #[error("id_token key check failed: key {kid:?} does not fit alg {alg}: {reason}")]
    KeyMismatch {
        kid: String,
        alg: String,
        reason: String,
    },

    /// The signature does not verify with the provider's key.
    #[error(
        "id_token signature check failed: the {alg} signature does not verify with key {kid:?}"
    )]
    BadSignature { kid: String, alg: String },

    /// `iss` is not exactly the discovered issuer.
    #[error("id_token iss check failed: issued by {found:?}, expected exactly {expected:?}")]
    IssuerMismatch { expected: String, found: String },

    /// `aud` does not contain this client's id.
    #[error(
        "id_token aud check failed: audience {found:?} does not contain client id {client_id:?}"
    )]
    AudienceMismatch {
        client_id: String,
        found: Vec<String>,
    },

    /// `azp` is not this client's id (required when `aud` names several audiences).
    #[error(
        "id_token azp check failed: authorized party {found:?} is not client id {client_id:?} (required when aud names several audiences)"
    )]
    AuthorizedPartyMismatch {
        client_id: String,
        found: Option<String>,
    },

    /// `exp` has passed (beyond the allowed clock skew).
    #[error(
        "id_token exp check failed: expired at {exp}, now is {now} (Unix seconds; {CLOCK_SKEW_SECONDS} s of clock skew allowed)"
    )]
    Expired { exp: i64, now: i64 },

    /// `iat` is in the future (beyond the allowed clock skew).
    #[error(
        "id_token iat check failed: issued at {iat}, after now {now} (Unix seconds; {CLOCK_SKEW_SECONDS} s of clock skew allowed)"
    )]
    IssuedInFuture { iat: i64, now: i64 },

    /// `nonce` is missing or not the pending sign-in's.
    #[error("id_token nonce check failed: {}",
        if *.missing { "the token carries no nonce" } else { "the token's nonce is not the one this sign-in sent (a replayed or injected token)" })]
    NonceMismatch { missing: bool },

    /// A required registered claim is missing or of the wrong type.
    #[error("id_token claim check failed: {claim} is missing or not {expected}")]
    MissingClaim {
        claim: &'static str,
        expected: &'static str,
    },

    /// The configured user principal name claim is missing or empty.
    #[error(
        "id_token upn check failed: claim {claim:?} (oidc.upn_claim) is missing, empty or not a string; have the provider emit it, or set upn_claim to a claim it does emit"
    )]
    MissingUpn { claim: String },
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

/// Provider-supplied text, made safe for a message: `redact` values replaced, first line
/// only, control characters dropped, cut to [`MAX_PROVIDER_TEXT`] characters.
fn provider_text(text: &str, redact: &[&str]) -> String {
    let mut text = text.to_owned();
    for value in redact.iter().filter(|v| !v.is_empty()) {
        text = text.replace(value, "[redacted]");
    }
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_PROVIDER_TEXT)
        .collect()
}

/// The provider's error on the redirect, if the redirect's query string (`a=b&c=d`, without
/// `?`) carries `error` (RFC 6749 section 4.1.2.1): `access_denied` when the employee
/// declined, `login_required`, `invalid_scope`, ... `None` means the redirect carries no
/// error and `code` and `state` go to [`OidcClient::finish`].
pub fn callback_error(query: &str) -> Option<OidcError> {
    let mut error = None;
    let mut description = None;
    for (key, value) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
        match key.as_ref() {
            "error" => error = Some(value.into_owned()),
            "error_description" => description = Some(value.into_owned()),
            _ => {}
        }
    }
    let error = error?;
    Some(OidcError::Provider {
        error: provider_text(&error, &[]).chars().take(64).collect(),
        description: description.map(|d| provider_text(&d, &[])),
    })
}

/// The signature algorithms accepted for id_tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    fn parse(alg: &str) -> Result<Self, OidcError> {
        let why = match alg {
            "RS256" => return Ok(Self::Rs256),
            "ES256" => return Ok(Self::Es256),
            "EdDSA" => return Ok(Self::EdDsa),
            a if a.eq_ignore_ascii_case("none") => "an unsigned token",
            a if a.starts_with("HS") => {
                "a MAC keyed with a shared secret, not a signature by the provider's key"
            }
            _ => "not an accepted algorithm",
        };
        Err(OidcError::UnsupportedAlgorithm {
            alg: provider_text(alg, &[]).chars().take(32).collect(),
            why,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The JWK `kty` and `crv` a key for this algorithm has.
    fn key_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Rs256 => ("RSA", None),
            Self::Es256 => ("EC", Some("P-256")),
            Self::EdDsa => ("OKP", Some("Ed25519")),
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
    /// A public client: `client_id` in the form, no secret.
    None,
}

/// The discovery document's fields this client uses.
#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// The discovered (and checked) provider.
#[derive(Debug)]
struct Provider {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
    client_auth: ClientAuth,
    fetched_at: DateTime<Utc>,
}

/// A JSON Web Key's members this client reads; others are ignored.
#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    /// Why this key cannot verify `alg` signatures, if it cannot.
    fn unfit_for(&self, alg: Alg) -> Option<String> {
        let (kty, crv) = alg.key_type();
        if self.kty.as_deref() != Some(kty) {
            return Some(format!("kty is {:?}, not {kty:?}", self.kty));
        }
        if let Some(crv) = crv
            && self.crv.as_deref() != Some(crv)
        {
            return Some(format!("crv is {:?}, not {crv:?}", self.crv));
        }
        if let Some(key_alg) = &self.alg
            && key_alg != alg.name()
        {
            return Some(format!("the key is for alg {key_alg:?}"));
        }
        if let Some(use_) = &self.use_
            && use_ != "sig"
        {
            return Some(format!("use is {use_:?}, not \"sig\""));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Some(format!("key_ops {ops:?} lacks \"verify\""));
        }
        None
    }
}

#[derive(Debug, Default)]
struct JwksCache {
    url: Option<Url>,
    keys: Vec<Jwk>,
    fetched_at: Option<DateTime<Utc>>,
    attempted_at: Option<DateTime<Utc>>,
}

enum Lookup {
    Found(Jwk),
    UnknownKid(String),
    Unfit { kid: String, reason: String },
    NoKid { candidates: usize },
}

fn lookup(keys: &[Jwk], kid: Option<&str>, alg: Alg) -> Lookup {
    match kid {
        Some(kid) => {
            let mut named = keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .peekable();
            let Some(first) = named.peek().map(|k| (*k).clone()) else {
                return Lookup::UnknownKid(kid.to_owned());
            };
            match named.find(|k| k.unfit_for(alg).is_none()) {
                Some(key) => Lookup::Found(key.clone()),
                None => Lookup::Unfit {
                    kid: kid.to_owned(),
                    reason: first.unfit_for(alg).unwrap_or_default(),
                },
            }
        }
        None => {
            let fitting: Vec<&Jwk> = keys.iter().filter(|k| k.unfit_for(alg).is_none()).collect();
            match fitting.as_slice() {
                [only] => Lookup::Found((*only).clone()),
                _ => Lookup::NoKid {
                    candidates: fitting.len(),
                },
            }
        }
    }
}

/// The claims of an id_token whose signature has verified.
type Claims = Map<String, Value>;

fn string_claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// A NumericDate: integer seconds, or fractional seconds rounded down.
fn numeric_claim(claims: &Claims, name: &'static str) -> Result<i64, OidcError> {
    let value = claims.get(name);
    value
        .and_then(Value::as_i64)
        .or_else(|| {
            value
                .and_then(Value::as_f64)
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        })
        .ok_or(OidcError::MissingClaim {
            claim: name,
            expected: "a number of seconds",
        })
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, OidcError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| OidcError::MalformedIdToken {
            reason: format!("the {what} is not unpadded base64url: {e}"),
        })
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, OidcError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(OidcError::MalformedIdToken {
            reason: format!("the {what} is not a JSON object"),
        }),
        Err(e) => Err(OidcError::MalformedIdToken {
            reason: format!("the {what} is not JSON: {e}"),
        }),
    }
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

fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| OidcError::Random {
            reason: e.to_string(),
        })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn check_redirect_uri(redirect_uri: &str) -> Result<(), OidcError> {
    let fail = |reason: String| OidcError::RedirectUri {
        redirect_uri: redirect_uri.chars().take(MAX_PROVIDER_TEXT).collect(),
        reason,
    };
    let url = Url::parse(redirect_uri).map_err(|e| fail(format!("is not a URL: {e}")))?;
    check_transport(&url).map_err(fail)?;
    if url.fragment().is_some() {
        return Err(fail("must not have a fragment".into()));
    }
    Ok(())
}

/// Reads an answer's body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| error_chain(&e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!("the answer exceeds {MAX_BODY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The part of the token endpoint's answer this client reads.
#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    error: Option<String>,
    error_description: Option<String>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct OidcClient {
    config: OidcConfig,
    discovery_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    provider: Mutex<Option<Arc<Provider>>>,
    jwks: Mutex<JwksCache>,
}

impl OidcClient {
    /// Checks the configuration and builds the HTTP client (which follows no redirects).
    /// Nothing is fetched yet: discovery happens on first use. `clock` checks `exp` and
    /// `iat` and paces key set fetches.
    pub fn new(config: OidcConfig, clock: Arc<dyn Clock>) -> Result<Self, OidcError> {
        config.validate()?;
        let discovery_url = config.discovery_url()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // A redirect could carry the code and the client secret elsewhere: never follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Config {
                field: "oidc",
                reason: format!("HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Self {
            config,
            discovery_url,
            http,
            clock,
            provider: Mutex::new(None),
            jwks: Mutex::new(JwksCache::default()),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Starts a sign-in: the URL to send the browser to, and the [`PendingLogin`] to keep
    /// server-side for [`finish`](Self::finish). `redirect_uri` is where the provider sends
    /// the browser back (registered with the provider; https, or http to a loopback host).
    pub async fn begin(&self, redirect_uri: &str) -> Result<(Url, PendingLogin), OidcError> {
        check_redirect_uri(redirect_uri)?;
        let provider = self.provider().await?;
        let pending = PendingLogin {
            state: random_token()?,
            nonce: random_token()?,
            code_verifier: random_token()?,
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.code_verifier.as_bytes()));
        let mut url = provider.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok((url, pending))
    }

    /// Completes a sign-in from the redirect's `state` and `code` (check
    /// [`callback_error`] first): compares the state, redeems the code and validates the
    /// id_token. `redirect_uri` must be the one given to [`begin`](Self::begin). Discard
    /// `pending` afterwards, whatever the outcome.
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        redirect_uri: &str,
        returned_state: &str,
        code: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let state_matches: bool = pending
            .state
            .as_bytes()
            .ct_eq(returned_state.as_bytes())
            .into();
        if pending.state.is_empty() || !state_matches {
            return Err(OidcError::StateMismatch);
        }
        if code.is_empty() {
            return Err(OidcError::MissingCode);
        }
        check_redirect_uri(redirect_uri)?;
        let provider = self.provider().await?;
        let id_token = self.redeem(&provider, pending, redirect_uri, code).await?;
        self.validate_id_token(&provider, id_token.expose(), &pending.nonce)
            .await
    }

    /// The discovered provider, fetched on first use and again once a day.
    async fn provider(&self) -> Result<Arc<Provider>, OidcError> {
        let mut cached = self.provider.lock().await;
        let now = self.clock.now();
        if let Some(provider) = cached.as_ref()
            && now - provider.fetched_at < DISCOVERY_MAX_AGE
        {
            return Ok(Arc::clone(provider));
        }
        let provider = Arc::new(self.discover(now).await?);
        *cached = Some(Arc::clone(&provider));
        Ok(provider)
    }

    async fn get_json(&self, endpoint: &'static str, url: &Url) -> Result<Vec<u8>, OidcError> {
        let unreachable = |reason: String| OidcError::Unreachable {
            endpoint,
            url: url.to_string(),
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let reason = match response.headers().get(reqwest::header::LOCATION) {
                Some(_) if status.is_redirection() => {
                    format!("answered {status} (a redirect, which is not followed)")
                }
                _ => format!("answered {status}"),
            };
            return Err(match endpoint {
                "key set" => OidcError::Jwks {
                    url: url.to_string(),
                    reason,
                },
                _ => OidcError::Discovery {
                    url: url.to_string(),
                    reason,
                },
            });
        }
        read_body(response).await.map_err(unreachable)
    }

    async fn discover(&self, now: DateTime<Utc>) -> Result<Provider, OidcError> {
        let url = &self.discovery_url;
        let fail = |reason: String| OidcError::Discovery {
            url: url.to_string(),
            reason,
        };
        let body = self.get_json("discovery document", url).await?;
        let doc: DiscoveryDocument =
            serde_json::from_slice(&body).map_err(|e| fail(format!("is unusable: {e}")))?;
        if doc.issuer != self.config.issuer {
            return Err(fail(format!(
                "names issuer {:?}, not the configured {:?} (they must be identical)",
                provider_text(&doc.issuer, &[]),
                self.config.issuer
            )));
        }
        let endpoint = |name: &str, value: &str| -> Result<Url, OidcError> {
            let parsed = Url::parse(value)
                .map_err(|e| fail(format!("has a {name} that is not a URL: {e}")))?;
            check_transport(&parsed).map_err(|reason| fail(format!("has a {name}: {reason}")))?;
            if parsed.fragment().is_some() {
                return Err(fail(format!("has a {name} with a fragment")));
            }
            Ok(parsed)
        };
        let authorization_endpoint =
            endpoint("authorization_endpoint", &doc.authorization_endpoint)?;
        let token_endpoint = endpoint("token_endpoint", &doc.token_endpoint)?;
        let jwks_uri = endpoint("jwks_uri", &doc.jwks_uri)?;
        if let Some(methods) = &doc.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(fail(format!(
                "lists code_challenge_methods_supported {methods:?} without S256 (PKCE is required)"
            )));
        }
        let client_auth = if self.config.client_secret.is_none() {
            ClientAuth::None
        } else {
            match &doc.token_endpoint_auth_methods_supported {
                // The default when the field is absent (Discovery 1.0, section 3).
                None => ClientAuth::Basic,
                Some(m) if m.iter().any(|m| m == "client_secret_basic") => ClientAuth::Basic,
                Some(m) if m.iter().any(|m| m == "client_secret_post") => ClientAuth::Post,
                Some(m) => {
                    return Err(fail(format!(
                        "lists token_endpoint_auth_methods_supported {m:?}: neither client_secret_basic nor client_secret_post, so a client secret cannot be sent"
                    )));
                }
            }
        };
        tracing::debug!(issuer = %doc.issuer, ?client_auth, "OpenID provider discovered");
        Ok(Provider {
            issuer: doc.issuer,
            authorization_endpoint,
            token_endpoint,
            jwks_uri,
            client_auth,
            fetched_at: now,
        })
    }

    /// Redeems the code at the token endpoint; returns the id_token.
    async fn redeem(
        &self,
        provider: &Provider,
        pending: &PendingLogin,
        redirect_uri: &str,
        code: &str,
    ) -> Result<Secret, OidcError> {
        let secret = self.config.client_secret.as_ref();
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pending.code_verifier),
        ];
        let mut request = self
            .http
            .post(provider.token_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        match (provider.client_auth, secret) {
            (ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 section 2.3.1: both are form-encoded before Basic encoding.
                let id: String =
                    url::form_urlencoded::byte_serialize(self.config.client_id.as_bytes())
                        .collect();
                let secret = Secret::new(
                    url::form_urlencoded::byte_serialize(secret.expose().as_bytes())
                        .collect::<String>(),
                );
                request = request.basic_auth(id, Some(secret.expose()));
            }
            (ClientAuth::Post, Some(secret)) => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", secret.expose()));
            }
            _ => form.push(("client_id", &self.config.client_id)),
        }
        let url = &provider.token_endpoint;
        let unreachable = |reason: String| OidcError::Unreachable {
            endpoint: "token endpoint",
            url: url.to_string(),
            reason,
        };
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e.without_url())))?;
        let status = response.status();
        let body = read_body(response).await.map_err(unreachable)?;
        let redact = [code, secret.map(Secret::expose).unwrap_or_default()];
        if !status.is_success() {
            let answer: Option<TokenErrorAnswer> = serde_json::from_slice(&body).ok();
            let error = answer
                .as_ref()
                .and_then(|a| a.error.as_deref())
                .map(|e| provider_text(e, &redact).chars().take(64).collect())
                .unwrap_or_else(|| "(no error code)".to_owned());
            let description = answer
                .and_then(|a| a.error_description)
                .map(|d| provider_text(&d, &redact));
            return Err(OidcError::TokenEndpoint {
                status: status.as_u16(),
                error,
                description,
            });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| OidcError::TokenResponse {
                // Not serde's message: it can quote a value, and a value here may be a token.
                reason: format!(
                    "the token endpoint's {status} answer is not a token response ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
        match answer.id_token {
            Some(token) if !token.is_empty() => Ok(Secret::new(token)),
            _ => Err(OidcError::TokenResponse {
                reason:
                    "the token endpoint's answer holds no id_token (is the openid scope granted?)"
                        .into(),
            }),
        }
    }

    /// The provider's key for `kid` and `alg`: from the cached key set, which is fetched
    /// when missing or older than [`JWKS_MAX_AGE`], and once more for an unknown `kid` —
    /// never more often than every [`JWKS_REFETCH_INTERVAL`].
    async fn key(
        &self,
        provider: &Provider,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Jwk, OidcError> {
        let mut cache = self.jwks.lock().await;
        let now = self.clock.now();
        if cache.url.as_ref() != Some(&provider.jwks_uri) {
            *cache = JwksCache::default();
        }
        let may_fetch = |cache: &JwksCache| {
            cache
                .attempted_at
                .is_none_or(|t| now - t >= JWKS_REFETCH_INTERVAL)
        };
        let mut fetched_now = false;
        if cache.fetched_at.is_none_or(|t| now - t >= JWKS_MAX_AGE) {
            if !may_fetch(&cache) {
                return Err(OidcError::Jwks {
                    url: provider.jwks_uri.to_string(),
                    reason: "could not be fetched less than a minute ago; not tried again yet"
                        .into(),
                });
            }
            self.fetch_jwks(&mut cache, provider, now).await?;
            fetched_now = true;
        }
        let mut found = lookup(&cache.keys, kid, alg);
        if matches!(found, Lookup::UnknownKid(_)) && !fetched_now && may_fetch(&cache) {
            // Perhaps the provider rotated its keys.
            self.fetch_jwks(&mut cache, provider, now).await?;
            fetched_now = true;
            found = lookup(&cache.keys, kid, alg);
        }
        match found {
            Lookup::Found(key) => Ok(key),
            Lookup::UnknownKid(kid) => Err(OidcError::UnknownKey {
                kid: provider_text(&kid, &[]),
                fetched_now,
            }),
            Lookup::Unfit { kid, reason } => Err(OidcError::KeyMismatch {
                kid: provider_text(&kid, &[]),
                alg: alg.name().into(),
                reason,
            }),
            Lookup::NoKid { candidates } => Err(OidcError::MissingKeyId {
                alg: alg.name().into(),
                candidates,
            }),
        }
    }

    async fn fetch_jwks(
        &self,
        cache: &mut JwksCache,
        provider: &Provider,
        now: DateTime<Utc>,
    ) -> Result<(), OidcError> {
        cache.attempted_at = Some(now);
        let url = &provider.jwks_uri;
        let body = self.get_json("key set", url).await?;
        let set: Map<String, Value> = match serde_json::from_slice(&body) {
            Ok(Value::Object(set)) => Ok(set),
            Ok(_) => Err("is not a JSON object".to_owned()),
            Err(e) => Err(format!("is not JSON: {e}")),
        }
        .map_err(|reason| OidcError::Jwks {
            url: url.to_string(),
            reason,
        })?;
        let Some(Value::Array(entries)) = set.get("keys") else {
            return Err(OidcError::Jwks {
                url: url.to_string(),
                reason: "has no \"keys\" array".into(),
            });
        };
        // A key this client cannot read is skipped, not fatal: the set may hold key types
        // (or members) for other uses.
        let keys: Vec<Jwk> = entries
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        tracing::debug!(url = %url, keys = keys.len(), "OpenID provider key set fetched");
        cache.url = Some(url.clone());
        cache.keys = keys;
        cache.fetched_at = Some(now);
        Ok(())
    }

    /// Validates the id_token (signature first, then the claims) and reads the identity.
    async fn validate_id_token(
        &self,
        provider: &Provider,
        token: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
            return Err(OidcError::MalformedIdToken {
                reason: if parts.len() == 5 {
                    "it has 5 parts: an encrypted id_token (JWE) is not supported".into()
                } else {
                    format!(
                        "a compact JWS has 3 dot-separated parts, it has {}",
                        parts.len()
                    )
                },
            });
        };
        let header = json_object(&b64(header_b64, "header")?, "header")?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => Alg::parse(alg)?,
            _ => {
                return Err(OidcError::MalformedIdToken {
                    reason: "the header has no alg string".into(),
                });
            }
        };
        if let Some(crit) = header.get("crit") {
            let names = match crit {
                Value::Array(names) => names
                    .iter()
                    .map(|n| provider_text(n.as_str().unwrap_or("?"), &[]))
                    .collect(),
                _ => vec!["(not an array)".to_owned()],
            };
            return Err(OidcError::CriticalHeader { names });
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => {
                return Err(OidcError::MalformedIdToken {
                    reason: "the header's kid is not a string".into(),
                });
            }
        };
        let signature = b64(signature_b64, "signature")?;
        let key = self.key(provider, kid, alg).await?;
        let kid_text = provider_text(kid.or(key.kid.as_deref()).unwrap_or("(none)"), &[]);
        let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        verify(&key, alg, signing_input, &signature).map_err(|failure| match failure {
            VerifyFailure::Key(reason) => OidcError::KeyMismatch {
                kid: kid_text.clone(),
                alg: alg.name().into(),
                reason,
            },
            VerifyFailure::Signature => OidcError::BadSignature {
                kid: kid_text.clone(),
                alg: alg.name().into(),
            },
        })?;
        let claims = json_object(&b64(payload_b64, "payload")?, "payload")?;
        self.check_claims(provider, &claims, nonce)
    }

    fn check_claims(
        &self,
        provider: &Provider,
        claims: &Claims,
        nonce: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let client_id = &self.config.client_id;
        let iss = string_claim(claims, "iss").ok_or(OidcError::MissingClaim {
            claim: "iss",
            expected: "a string",
        })?;
        if iss != provider.issuer {
            return Err(OidcError::IssuerMismatch {
                expected: provider.issuer.clone(),
                found: provider_text(iss, &[]),
            });
        }
        let audiences: Vec<String> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => auds
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            _ => {
                return Err(OidcError::MissingClaim {
                    claim: "aud",
                    expected: "a string or an array of strings",
                });
            }
        };
        if !audiences.iter().any(|a| a == client_id) {
            return Err(OidcError::AudienceMismatch {
                client_id: client_id.clone(),
                found: audiences.iter().map(|a| provider_text(a, &[])).collect(),
            });
        }
        let azp = string_claim(claims, "azp");
        if (audiences.len() > 1 || azp.is_some()) && azp != Some(client_id.as_str()) {
            return Err(OidcError::AuthorizedPartyMismatch {
                client_id: client_id.clone(),
                found: azp.map(|a| provider_text(a, &[])),
            });
        }
        let now = self.clock.now().timestamp();
        let exp = numeric_claim(claims, "exp")?;
        if now >= exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(OidcError::Expired { exp, now });
        }
        let iat = numeric_claim(claims, "iat")?;
        if iat > now.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(OidcError::IssuedInFuture { iat, now });
        }
        match string_claim(claims, "nonce") {
            None => return Err(OidcError::NonceMismatch { missing: true }),
            Some(found) => {
                let matches: bool = found.as_bytes().ct_eq(nonce.as_bytes()).into();
                if nonce.is_empty() || !matches {
                    return Err(OidcError::NonceMismatch { missing: false });
                }
            }
        }
        let subject = match string_claim(claims, "sub") {
            Some(sub) if !sub.is_empty() => sub.to_owned(),
            _ => {
                return Err(OidcError::MissingClaim {
                    claim: "sub",
                    expected: "a non-empty string",
                });
            }
        };
        let upn = match string_claim(claims, &self.config.upn_claim) {
            Some(upn) if !upn.trim().is_empty() => upn.to_owned(),
            _ => {
                return Err(OidcError::MissingUpn {
                    claim: self.config.upn_claim.clone(),
                });
            }
        };
        Ok(OidcIdentity {
            subject,
            upn,
            name: string_claim(claims, "name").map(String::from),
            email: string_claim(claims, "email").map(String::from),
        })
    }
}

enum VerifyFailure {
    /// The key material itself is unusable for this algorithm.
    Key(String),
    /// The signature does not verify.
    Signature,
}

fn key_member(value: Option<&String>, name: &str) -> Result<Vec<u8>, VerifyFailure> {
    let value = value.ok_or_else(|| VerifyFailure::Key(format!("the key has no {name}")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|e| VerifyFailure::Key(format!("the key's {name} is not base64url: {e}")))
}

fn verify(key: &Jwk, alg: Alg, message: &[u8], signature: &[u8]) -> Result<(), VerifyFailure> {
    let verified = match alg {
        Alg::Rs256 => {
            let n = key_member(key.n.as_ref(), "n")?;
            let e = key_member(key.e.as_ref(), "e")?;
            // Minimal big-endian integers, as ring wants them.
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if n.len() < 256 {
                return Err(VerifyFailure::Key(format!(
                    "the RSA modulus has {} bits, fewer than 2048",
                    n.len() * 8
                )));
            }
            if signature.len() != n.len() {
                return Err(VerifyFailure::Signature);
            }
            RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        }
        Alg::Es256 => {
            let x = key_member(key.x.as_ref(), "x")?;
            let y = key_member(key.y.as_ref(), "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err(VerifyFailure::Key(
                    "a P-256 key's x and y are 32 bytes each".into(),
                ));
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
        }
        Alg::EdDsa => {
            let x = key_member(key.x.as_ref(), "x")?;
            if x.len() != 32 {
                return Err(VerifyFailure::Key("an Ed25519 key's x is 32 bytes".into()));
            }
            UnparsedPublicKey::new(&ED25519, x).verify(message, signature)
        }
    };
    verified.map_err(|_| VerifyFailure::Signature)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://login.example/tenant/v2.0".into(),
            client_id: "app-1".into(),
            client_secret: Some(Secret::new("s")),
            scopes: default_scopes(),
            upn_claim: default_upn_claim(),
            timeout_ms: 1_000,
        }
    }

    #[test]
    fn discovery_url_appends_the_well_known_path_once() {
        let mut c = config();
        assert_eq!(
            c.discovery_url().unwrap().as_str(),
            "https://login.example/tenant/v2.0/.well-known/openid-configuration"
        );
        c.issuer = "https://login.example/".into();
        assert_eq!(
            c.discovery_url().unwrap().as_str(),
            "https://login.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn loopback_hosts_may_use_http() {
        for (issuer, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost/x", true),
            ("http://[::1]:9000", true),
            ("http://login.example", false),
            ("ftp://127.0.0.1", false),
        ] {
            let c = OidcConfig {
                issuer: issuer.into(),
                ..config()
            };
            assert_eq!(c.validate().is_ok(), ok, "{issuer}");
        }
    }

    #[test]
    fn alg_names_are_exact() {
        assert_eq!(Alg::parse("RS256").unwrap(), Alg::Rs256);
        assert!(Alg::parse("rs256").is_err());
        assert!(matches!(
            Alg::parse("NONE"),
            Err(OidcError::UnsupportedAlgorithm { why, .. }) if why.contains("unsigned")
        ));
        assert!(matches!(
            Alg::parse("HS512"),
            Err(OidcError::UnsupportedAlgorithm { why, .. }) if why.contains("shared secret")
        ));
    }

    #[test]
    fn provider_text_redacts_and_cuts() {
        let text = provider_text("code abc123 refused\nsecond line", &["abc123", ""]);
        assert_eq!(text, "code [redacted] refused");
        assert_eq!(
            provider_text(&"x".repeat(1000), &[]).len(),
            MAX_PROVIDER_TEXT
        );
    }

    #[test]
    fn pending_login_debug_prints_no_value() {
        let p = PendingLogin {
            state: "st4te".into(),
            nonce: "n0nce".into(),
            code_verifier: "v3rifier".into(),
        };
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("st4te") && !debug.contains("n0nce") && !debug.contains("v3rifier")
        );
    }
}
