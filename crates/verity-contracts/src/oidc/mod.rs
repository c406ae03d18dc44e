//! idTokens (and accessTokens) attestations: validating a third-party OpenID Connect token
//! through the provider's discovery document and JWKS, both cached.
//!
//! Checks, in order (OpenID Connect Core 1.0 §3.1.3.7): structure and size -> `alg` is one
//! Verity can verify (RS256, which Entra ID, Google and Okta sign id_tokens with, and ES256, ES384,
//! ES512, ES256K, EdDSA; `none`, HMAC, PS256 and the rest get [`ContractError::UnsupportedAlgorithm`])
//! -> `iss` equals the `issuer` of the discovery document at the contract's `configuration`
//! (the only issuer trusted for that attestation) -> the JWKS key named by `kid` (refetched once
//! when unknown, at most once per `jwks_refetch_interval`) -> signature -> `sub`, `iat` present
//! -> `aud` contains the client id (and `azp`, when present, is it) -> `exp`/`nbf`/`iat` with
//! skew -> `nonce` when one is expected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use verity_core::Clock;
use verity_did::{FetchOptions, HttpFetcher};
use verity_jose::{Algorithm, JoseError, Jwk, UnverifiedJws, check_times};

use crate::ContractError;
use crate::model::{AccessTokenAttestation, IdTokenAttestation};

const DISCOVERY: &str = "discovery document";
const JWKS: &str = "JWKS";

/// Tunables of an [`OidcValidator`].
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub skew_secs: i64,
    /// How long a discovery document is reused (shortened by a smaller `max-age`).
    pub discovery_ttl: Duration,
    /// How long a JWKS is reused (shortened by a smaller `max-age`).
    pub jwks_ttl: Duration,
    /// Minimum time between JWKS refetches caused by unknown `kid`s, so tokens with made-up
    /// kids cannot make Verity hammer the provider.
    pub jwks_refetch_interval: Duration,
    /// Largest discovery document or JWKS accepted.
    pub max_document_bytes: usize,
    /// Largest token accepted.
    pub max_token_bytes: usize,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            skew_secs: 120,
            discovery_ttl: Duration::from_secs(3600),
            jwks_ttl: Duration::from_secs(3600),
            jwks_refetch_interval: Duration::from_secs(30),
            max_document_bytes: 256 * 1024,
            max_token_bytes: 256 * 1024,
        }
    }
}

/// The parts of a discovery document (OpenID Connect Discovery 1.0 §3) Verity uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Debug)]
struct CachedDiscovery {
    doc: Discovery,
    expires_at: i64,
}

#[derive(Debug)]
struct CachedJwks {
    keys: Arc<Vec<Value>>,
    fetched_at: i64,
    expires_at: i64,
}

/// Validates id_tokens and access tokens from OpenID Connect providers named in contracts.
#[derive(Debug)]
pub struct OidcValidator {
    fetcher: HttpFetcher,
    clock: Arc<dyn Clock>,
    config: OidcConfig,
    // Keyed by URLs from contracts (admin input) and their discovery documents, so the maps
    // stay as small as the set of configured providers.
    discovery: Mutex<HashMap<String, CachedDiscovery>>,
    jwks: Mutex<HashMap<String, CachedJwks>>,
}

/// What one token must satisfy.
struct Expect<'a> {
    configuration: &'a str,
    audience: &'a str,
    nonce: Option<&'a str>,
}

impl OidcValidator {
    /// A validator with the default [`OidcConfig`]; `clock` measures cache lifetimes.
    pub fn new(fetcher: HttpFetcher, clock: Arc<dyn Clock>) -> Self {
        Self::with_config(fetcher, clock, OidcConfig::default())
    }

    /// A validator with explicit tunables.
    pub fn with_config(fetcher: HttpFetcher, clock: Arc<dyn Clock>, config: OidcConfig) -> Self {
        Self {
            fetcher,
            clock,
            config,
            discovery: Mutex::new(HashMap::new()),
            jwks: Mutex::new(HashMap::new()),
        }
    }

    /// Validates an id_token for `expected` and returns its claims (input for claim mapping).
    ///
    /// `nonce`, when given, must equal the token's `nonce`; `now` is unix seconds.
    pub async fn validate_id_token(
        &self,
        token: &str,
        expected: &IdTokenAttestation,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        self.validate(
            token,
            &Expect {
                configuration: &expected.configuration,
                audience: &expected.client_id,
                nonce,
            },
            now,
        )
        .await
    }

    /// Validates a JWT access token for `expected` (`aud` must contain `audience`, or the
    /// client id when no audience is configured) and returns its claims.
    pub async fn validate_access_token(
        &self,
        token: &str,
        expected: &AccessTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        self.validate(
            token,
            &Expect {
                configuration: &expected.configuration,
                audience: expected.audience.as_deref().unwrap_or(&expected.client_id),
                nonce: None,
            },
            now,
        )
        .await
    }

    async fn validate(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        let jws = UnverifiedJws::parse_with_limit(token, self.config.max_token_bytes)
            .map_err(|e| ContractError::malformed(e.to_string()))?;
        let alg = jws.algorithm().map_err(|e| match e {
            JoseError::AlgNone => ContractError::UnsupportedAlgorithm { alg: "none".into() },
            JoseError::HmacAlgorithm { alg } | JoseError::UnsupportedAlgorithm { alg } => {
                ContractError::UnsupportedAlgorithm { alg }
            }
            other => ContractError::malformed(other.to_string()),
        })?;
        let unverified: Map<String, Value> = jws
            .payload_unverified()
            .map_err(|e| ContractError::malformed(e.to_string()))?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| ContractError::malformed("iss is missing or not a string"))?;

        let discovery = self.discovery(expect.configuration).await?;
        if iss != discovery.issuer {
            return Err(ContractError::UntrustedIssuer {
                expected: discovery.issuer,
                found: iss.to_owned(),
            });
        }

        let kid = jws.header().kid.clone();
        let key = self
            .key_for(&discovery.jwks_uri, kid.as_deref(), alg)
            .await?;
        let verified = jws.verify(&key).map_err(|e| ContractError::BadSignature {
            reason: e.to_string(),
        })?;
        let claims: Map<String, Value> = verified
            .claims()
            .map_err(|e| ContractError::malformed(e.to_string()))?;

        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ContractError::malformed("sub is missing or empty"));
        }
        if !claims.contains_key("iat") {
            return Err(ContractError::malformed("iat is missing"));
        }
        check_audience(&claims, expect.audience)?;
        check_times(
            &Value::Object(claims.clone()),
            now,
            self.config.skew_secs,
            true,
        )
        .map_err(|e| match e {
            JoseError::Expired { exp, now } => ContractError::TokenExpired { exp, now },
            JoseError::NotYetValid { nbf, now } => ContractError::TokenNotYetValid {
                claim: "nbf",
                value: nbf,
                now,
            },
            JoseError::IssuedInFuture { iat, now } => ContractError::TokenNotYetValid {
                claim: "iat",
                value: iat,
                now,
            },
            other => ContractError::malformed(other.to_string()),
        })?;
        if let Some(expected) = expect.nonce {
            match claims.get("nonce").and_then(Value::as_str) {
                Some(n) if n == expected => {}
                found => {
                    return Err(ContractError::NonceMismatch {
                        present: found.is_some(),
                    });
                }
            }
        }
        Ok(claims)
    }

    /// The discovery document at `url`, from cache while fresh.
    async fn discovery(&self, url: &str) -> Result<Discovery, ContractError> {
        let now = self.clock.unix();
        if let Some(c) = lock(&self.discovery).get(url)
            && c.expires_at > now
        {
            return Ok(c.doc.clone());
        }
        tracing::debug!(url, "fetching OpenID Connect discovery document");
        let fetched = self
            .fetcher
            .get_json_with(url, &self.fetch_options())
            .await
            .map_err(|source| ContractError::ProviderFetch {
                what: DISCOVERY,
                url: url.to_owned(),
                source,
            })?;
        let doc = parse_discovery(url, &fetched.body)?;
        let ttl = effective_ttl(self.config.discovery_ttl, fetched.meta.max_age);
        if ttl > 0 {
            lock(&self.discovery).insert(
                url.to_owned(),
                CachedDiscovery {
                    doc: doc.clone(),
                    expires_at: now.saturating_add(ttl),
                },
            );
        }
        Ok(doc)
    }

    /// The JWKS at `uri`: cached unless `force`; `true` with it when it was just fetched.
    async fn jwks(&self, uri: &str, force: bool) -> Result<(Arc<Vec<Value>>, bool), ContractError> {
        let now = self.clock.unix();
        if !force
            && let Some(c) = lock(&self.jwks).get(uri)
            && c.expires_at > now
        {
            return Ok((c.keys.clone(), false));
        }
        tracing::debug!(uri, force, "fetching JWKS");
        let fetched = self
            .fetcher
            .get_json_with(uri, &self.fetch_options())
            .await
            .map_err(|source| ContractError::ProviderFetch {
                what: JWKS,
                url: uri.to_owned(),
                source,
            })?;
        let keys = match fetched.body.get("keys") {
            Some(Value::Array(keys)) => Arc::new(keys.clone()),
            _ => {
                return Err(ContractError::InvalidProviderDocument {
                    what: JWKS,
                    url: uri.to_owned(),
                    reason: "`keys` is missing or not an array (RFC 7517 §5)".into(),
                });
            }
        };
        let ttl = effective_ttl(self.config.jwks_ttl, fetched.meta.max_age);
        // Kept even with a zero TTL: `fetched_at` is what rate-limits unknown-kid refetches.
        lock(&self.jwks).insert(
            uri.to_owned(),
            CachedJwks {
                keys: keys.clone(),
                fetched_at: now,
                expires_at: now.saturating_add(ttl),
            },
        );
        Ok((keys, true))
    }

    /// The provider key for `kid` (refetching the JWKS once if it is unknown).
    async fn key_for(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Jwk, ContractError> {
        let (keys, fresh) = self.jwks(jwks_uri, false).await?;
        if let Some(key) = select_key(jwks_uri, &keys, kid, alg)? {
            return Ok(key);
        }
        let unknown = || ContractError::UnknownKid {
            kid: kid.map(str::to_owned),
        };
        if fresh || !self.may_refetch(jwks_uri) {
            return Err(unknown());
        }
        // The provider may have rotated its keys since the JWKS was cached.
        let (keys, _) = self.jwks(jwks_uri, true).await?;
        select_key(jwks_uri, &keys, kid, alg)?.ok_or_else(unknown)
    }

    fn may_refetch(&self, jwks_uri: &str) -> bool {
        let interval =
            i64::try_from(self.config.jwks_refetch_interval.as_secs()).unwrap_or(i64::MAX);
        let now = self.clock.unix();
        lock(&self.jwks)
            .get(jwks_uri)
            .is_none_or(|c| now >= c.fetched_at.saturating_add(interval))
    }

    fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            max_body_bytes: Some(self.config.max_document_bytes),
            ..FetchOptions::default()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The configured TTL, shortened to the server's `max-age` when that is smaller.
fn effective_ttl(configured: Duration, max_age: Option<u64>) -> i64 {
    let secs = match max_age {
        Some(m) => configured.as_secs().min(m),
        None => configured.as_secs(),
    };
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn parse_discovery(url: &str, body: &Value) -> Result<Discovery, ContractError> {
    let invalid = |reason: &str| ContractError::InvalidProviderDocument {
        what: DISCOVERY,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let issuer = field("issuer").ok_or_else(|| invalid("`issuer` is missing or not a string"))?;
    let jwks_uri =
        field("jwks_uri").ok_or_else(|| invalid("`jwks_uri` is missing or not a string"))?;
    Ok(Discovery { issuer, jwks_uri })
}

/// Finds the verification key: by `kid` when the token names one, otherwise the single usable
/// key for `alg`. `Ok(None)` means "not in this JWKS".
fn select_key(
    url: &str,
    keys: &[Value],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Option<Jwk>, ContractError> {
    let for_signing = |k: &&Value| {
        k.get("use")
            .and_then(Value::as_str)
            .is_none_or(|u| u == "sig")
    };
    match kid {
        Some(kid) => {
            let named: Vec<&Value> = keys
                .iter()
                .filter(for_signing)
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect();
            let Some(first) = named.first() else {
                return Ok(None);
            };
            // Several keys may share a kid across key types; prefer the one for this alg.
            for k in &named {
                if let Ok(jwk) = Jwk::from_json_value(k)
                    && jwk.algorithm().is_ok_and(|a| a == alg)
                {
                    return Ok(Some(jwk));
                }
            }
            match Jwk::from_json_value(first) {
                // A valid key of another type: the signature check reports the mismatch.
                Ok(jwk) => Ok(Some(jwk)),
                // A key type Verity does not verify with at all; a broken key of a supported
                // type is the provider's fault instead (below).
                Err(JoseError::InvalidKey { reason })
                    if !matches!(
                        first.get("kty").and_then(Value::as_str),
                        Some("EC" | "OKP" | "RSA")
                    ) =>
                {
                    Err(ContractError::BadSignature {
                        reason: format!(
                            "the provider key {kid:?} cannot verify a {alg} signature: {reason}"
                        ),
                    })
                }
                Err(e) => Err(ContractError::InvalidProviderDocument {
                    what: JWKS,
                    url: url.to_owned(),
                    reason: format!("key {kid:?}: {e}"),
                }),
            }
        }
        None => {
            let usable: Vec<Jwk> = keys
                .iter()
                .filter(for_signing)
                .filter_map(|k| Jwk::from_json_value(k).ok())
                .filter(|jwk| jwk.algorithm().is_ok_and(|a| a == alg))
                .collect();
            Ok(match usable.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            })
        }
    }
}

/// `aud` (string or array) must contain `expected`; `azp`, when present, must equal it.
fn check_audience(claims: &Map<String, Value>, expected: &str) -> Result<(), ContractError> {
    let aud = claims
        .get("aud")
        .ok_or_else(|| ContractError::malformed("aud is missing"))?;
    let contains = match aud {
        Value::String(s) => s == expected,
        Value::Array(list) => {
            if !list.iter().all(Value::is_string) {
                return Err(ContractError::malformed("aud must hold only strings"));
            }
            list.iter().any(|a| a.as_str() == Some(expected))
        }
        _ => return Err(ContractError::malformed("aud must be a string or an array")),
    };
    let azp_ok = claims
        .get("azp")
        .is_none_or(|azp| azp.as_str() == Some(expected));
    if contains && azp_ok {
        return Ok(());
    }
    let found = match claims.get("azp") {
        Some(azp) => format!("aud {aud} and azp {azp}"),
        None => format!("aud {aud}"),
    };
    Err(ContractError::WrongAudience {
        expected: expected.to_owned(),
        found,
    })
}

#[cfg(test)]
mod tests;
