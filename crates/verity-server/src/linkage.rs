//! DID resolution and domain linkage (DIF Well-Known DID Configuration) for the service.
//!
//! - [`Resolution`]: the one hardened fetcher, the caching DID resolver and the linkage verifiers
//!   built from `[resolver]` at start-up.
//! - [`linked_origins`]: the origins our DID documents list in their `LinkedDomains` service.
//! - [`did_configuration`]: the DID configuration an origin serves: one Domain Linkage
//!   Credential per authority that lists the origin, signed with its active key and kept in a
//!   [`LinkageCache`] until the key changes or expiry nears.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;
use verity_core::Clock;
use verity_did::{
    CompositeResolver, DidResolver, DidWeb, FetchPolicy, HttpFetcher, ResolutionLimits,
};
use verity_linked_domains::{
    DidConfiguration, LinkageReport, LinkageResult, LinkedDomainVerifier, LinkedDomainsError,
    StepOutcome, build_domain_linkage_jwt, normalize_origin,
};
use verity_store::Authority;

use crate::api_types::{
    LinkageReportView, LinkageResultView, LinkageStepView, UnverifiedReasonView,
};
use crate::authorities::{self, AuthorityError};
use crate::bootstrap::origin_for_host;
use crate::config::{ConfigError, ResolverConfig};
use crate::state::AppState;

/// Lifetime of the Domain Linkage Credentials we publish.
pub const LINKAGE_VALIDITY_SECS: i64 = 365 * 86_400;
/// A cached credential is re-signed once less than this much of its lifetime is left.
pub const LINKAGE_REFRESH_SECS: i64 = 30 * 86_400;

/// Failures building the DID configuration of one of our origins.
#[derive(Debug, thiserror::Error)]
pub enum LinkageError {
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error("building the domain linkage credential ({code}): {source}", code = .source.code())]
    Build {
        #[from]
        source: LinkedDomainsError,
    },
}

/// The fetcher, resolvers and verifier settings built once from `[resolver]`.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The hardened fetcher every remote document goes through.
    pub fetcher: HttpFetcher,
    /// Resolves any supported DID, caching documents for `cache_ttl_secs`.
    pub resolver: Arc<dyn DidResolver>,
    /// Resolves without a cache, for checks that must see the live documents (our own).
    pub live_resolver: Arc<dyn DidResolver>,
    /// The caching resolver behind `resolver` (its hit counts for `/metrics`); `None` when a
    /// seam replaced it.
    pub cached: Option<Arc<CompositeResolver>>,
    max_body_bytes: usize,
    skew_secs: i64,
}

impl Resolution {
    /// Builds the fetcher and resolvers; `seam` replaces both resolvers (tests).
    pub fn build(
        config: &ResolverConfig,
        outbound: &crate::trust::Outbound,
        skew_secs: i64,
        clock: Arc<dyn Clock>,
        seam: Option<Arc<dyn DidResolver>>,
    ) -> Result<Self, ConfigError> {
        let mut policy = FetchPolicy {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            read_timeout: Duration::from_millis(config.read_timeout_ms),
            max_body_bytes: config.max_body_bytes,
            allow_private: config.allow_private,
            allow_http_hosts: config.allow_http_hosts.clone(),
            host_overrides: config.parsed_host_overrides()?,
            ..FetchPolicy::default()
        };
        // `allow_loopback` opens loopback for our own origins (and the test overrides) only,
        // never every local port (docs/SECURITY.md).
        if config.allow_loopback {
            policy.loopback_origins = outbound.own_origins().to_vec();
            policy
                .loopback_origins
                .extend(policy.host_overrides.keys().cloned());
            policy
                .loopback_origins
                .extend(config.loopback_origins.iter().cloned());
        }
        outbound.apply_trust(&mut policy);
        if !policy.host_overrides.is_empty() {
            tracing::warn!(
                domains = ?policy.host_overrides.keys().collect::<Vec<_>>(),
                "resolver.host_overrides is set: these domains are fetched from fixed addresses (tests/development only)"
            );
        }
        let fetcher = HttpFetcher::new(policy).map_err(|e| ConfigError::Invalid {
            key: "resolver",
            reason: e.to_string(),
        })?;
        let limits = ResolutionLimits {
            failure_ttl: Duration::from_secs(config.negative_cache_ttl_secs),
            max_concurrent: config.max_concurrent_fetches,
            queue_timeout: Duration::from_millis(config.read_timeout_ms),
        };
        type Resolvers = (
            Arc<dyn DidResolver>,
            Arc<dyn DidResolver>,
            Option<Arc<CompositeResolver>>,
        );
        let (resolver, live_resolver, cached): Resolvers = match seam {
            Some(r) => (r.clone(), r, None),
            None => {
                let cached = Arc::new(
                    CompositeResolver::standard(
                        fetcher.clone(),
                        clock.clone(),
                        Duration::from_secs(config.cache_ttl_secs),
                    )
                    .with_limits(limits),
                );
                (
                    cached.clone(),
                    // The admin checks must see the current state: no document and no failure
                    // is remembered, but fetches are shared and bounded all the same.
                    Arc::new(
                        CompositeResolver::standard(fetcher.clone(), clock, Duration::ZERO)
                            .with_limits(ResolutionLimits {
                                failure_ttl: Duration::ZERO,
                                ..limits
                            }),
                    ),
                    Some(cached),
                )
            }
        };
        Ok(Self {
            fetcher,
            resolver,
            live_resolver,
            cached,
            max_body_bytes: config.max_body_bytes,
            skew_secs,
        })
    }

    /// A linkage verifier over the caching resolver (other parties' DIDs).
    pub fn verifier(&self) -> LinkedDomainVerifier {
        self.verifier_with(self.resolver.clone())
    }

    /// A linkage verifier that resolves without a cache (our own DIDs, which may just have
    /// rotated keys).
    pub fn live_verifier(&self) -> LinkedDomainVerifier {
        self.verifier_with(self.live_resolver.clone())
    }

    fn verifier_with(&self, resolver: Arc<dyn DidResolver>) -> LinkedDomainVerifier {
        LinkedDomainVerifier::new(resolver, self.fetcher.clone())
            .with_max_body_bytes(self.max_body_bytes)
            .with_skew(self.skew_secs)
    }
}

/// The origins (`scheme://host[:port]/`) an authority's DID document lists as linked domains:
/// the origin of its did:web host when this service serves that host, otherwise none.
pub fn linked_origins(state: &AppState, did: &str) -> Vec<String> {
    linked_origins_for(&state.domains, &state.public_url, did)
}

/// [`linked_origins`] for a service serving `domains` (lower-case `host[:port]`) at
/// `public_url`, for code that runs without an [`AppState`].
pub fn linked_origins_for(domains: &[String], public_url: &str, did: &str) -> Vec<String> {
    match DidWeb::parse(did) {
        Ok(web) if domains.contains(&web.host().to_ascii_lowercase()) => {
            vec![origin_for_host(
                &web.host().to_ascii_lowercase(),
                public_url,
            )]
        }
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone)]
struct CachedLinkage {
    kid: String,
    jwt: String,
    nbf: i64,
    exp: i64,
}

/// Signed Domain Linkage Credentials per (authority, origin), remembered with the key that
/// signed them so a key change re-signs.
#[derive(Debug, Default)]
pub struct LinkageCache {
    entries: Mutex<HashMap<(Uuid, String), CachedLinkage>>,
    /// Hits and misses of `get` (`/metrics`).
    counter: crate::metrics::CacheCounter,
}

impl LinkageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), CachedLinkage>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, authority: Uuid, origin: &str, kid: &str, now: i64) -> Option<String> {
        let hit = self
            .lock()
            .get(&(authority, origin.to_owned()))
            .filter(|c| c.kid == kid && c.nbf <= now && now < c.exp - LINKAGE_REFRESH_SECS)
            .map(|c| c.jwt.clone());
        self.counter.record(hit.is_some());
        hit
    }

    /// Hits and misses so far.
    pub fn counter(&self) -> &crate::metrics::CacheCounter {
        &self.counter
    }

    fn put(&self, authority: Uuid, origin: &str, entry: CachedLinkage) {
        self.lock().insert((authority, origin.to_owned()), entry);
    }
}

/// The authorities whose DID documents list `origin` (as [`linked_origins`] gives it).
pub async fn authorities_linked_to(
    state: &AppState,
    origin: &str,
) -> Result<Vec<Authority>, LinkageError> {
    let all = state
        .store
        .list_authorities(None)
        .await
        .map_err(AuthorityError::from)?;
    Ok(all
        .into_iter()
        .filter(|a| linked_origins(state, &a.did).iter().any(|o| o == origin))
        .collect())
}

/// The DID configuration served at `https://<host>/.well-known/did-configuration.json`, or
/// `None` when no authority with an active key lists the host's origin.
pub async fn did_configuration(
    state: &AppState,
    host: &str,
) -> Result<Option<DidConfiguration>, LinkageError> {
    let origin = origin_for_host(host, &state.public_url);
    let normalized = normalize_origin(&origin)?;
    let now = state.clock.unix();
    let mut jwts = Vec::new();
    for authority in authorities_linked_to(state, &origin).await? {
        let Some(key) = state
            .store
            .active_key(authority.id)
            .await
            .map_err(AuthorityError::from)?
        else {
            // Every key revoked: the DID document lists no key, so nothing could verify.
            continue;
        };
        if let Some(jwt) = state
            .linkage_cache
            .get(authority.id, &normalized, &key.kid, now)
        {
            jwts.push(jwt);
            continue;
        }
        let signer = authorities::SIGNERS.signer(&state.kek, &authority, &key)?;
        let jwt = build_domain_linkage_jwt(
            &signer,
            &authority.did,
            &normalized,
            now,
            LINKAGE_VALIDITY_SECS,
        )
        .await?;
        tracing::info!(did = %authority.did, kid = %key.kid, origin = %normalized, "signed a domain linkage credential");
        state.linkage_cache.put(
            authority.id,
            &normalized,
            CachedLinkage {
                kid: key.kid.clone(),
                jwt: jwt.clone(),
                nbf: now,
                exp: now + LINKAGE_VALIDITY_SECS,
            },
        );
        jwts.push(jwt);
    }
    Ok((!jwts.is_empty()).then(|| DidConfiguration::new(jwts)))
}

/// The API view of a linkage report, with a one-line summary.
pub fn report_view(report: &LinkageReport) -> LinkageReportView {
    let (result, summary) = match &report.result {
        LinkageResult::Verified { origin } => (
            LinkageResultView::Verified {
                origin: origin.clone(),
            },
            format!("verified: {} is linked to {origin}", report.did),
        ),
        LinkageResult::Unverified { reason, origin } => {
            let detail = match reason {
                verity_linked_domains::UnverifiedReason::Malformed(what) => Some(what.clone()),
                _ => None,
            };
            let at = origin
                .as_deref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default();
            (
                LinkageResultView::Unverified {
                    reason: UnverifiedReasonView {
                        code: reason.as_str().to_owned(),
                        detail,
                        message: reason.to_string(),
                    },
                    origin: origin.clone(),
                },
                format!("unverified{at}: {reason} [{}]", reason.as_str()),
            )
        }
        LinkageResult::NotChecked { reason } => (
            LinkageResultView::NotChecked {
                reason: reason.clone(),
            },
            format!("not checked: {reason}"),
        ),
    };
    LinkageReportView {
        did: report.did.clone(),
        verified: report.is_verified(),
        summary,
        result,
        steps: report
            .steps
            .iter()
            .map(|s| LinkageStepView {
                name: s.name.clone(),
                outcome: match s.outcome {
                    StepOutcome::Passed => "passed",
                    StepOutcome::Failed => "failed",
                }
                .to_owned(),
                detail: s.detail.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kid: &str, nbf: i64) -> CachedLinkage {
        CachedLinkage {
            kid: kid.into(),
            jwt: format!("jwt-{kid}-{nbf}"),
            nbf,
            exp: nbf + LINKAGE_VALIDITY_SECS,
        }
    }

    fn report(result: LinkageResult) -> LinkageReport {
        LinkageReport {
            did: "did:web:a.test".into(),
            result,
            steps: vec![verity_linked_domains::Step {
                name: "resolve DID".into(),
                outcome: StepOutcome::Passed,
                detail: "did:web:a.test".into(),
            }],
        }
    }

    #[test]
    fn report_views_extend_the_report_json() {
        use verity_linked_domains::UnverifiedReason;
        let cases = [
            LinkageResult::Verified {
                origin: "https://a.test".into(),
            },
            LinkageResult::Unverified {
                reason: UnverifiedReason::SignatureInvalid,
                origin: Some("https://a.test".into()),
            },
            LinkageResult::Unverified {
                reason: UnverifiedReason::Malformed("nbf is missing".into()),
                origin: None,
            },
            LinkageResult::NotChecked {
                reason: "timed out".into(),
            },
        ];
        for result in cases {
            let r = report(result);
            let view = serde_json::to_value(report_view(&r)).unwrap();
            let original = serde_json::to_value(&r).unwrap();
            // The view adds words for people and keeps every field of the report.
            let mut result = view["result"].clone();
            if let Some(reason) = result.get_mut("reason").and_then(|v| v.as_object_mut()) {
                assert!(reason.remove("message").unwrap().as_str().unwrap().len() > 10);
            }
            assert_eq!(result, original["result"], "{view}");
            assert_eq!(view["steps"], original["steps"]);
            assert_eq!(view["did"], original["did"]);
            assert_eq!(view["verified"], r.is_verified());
            // And the CLI can read it back.
            let back: LinkageReportView = serde_json::from_value(view).unwrap();
            assert_eq!(back, report_view(&r));
        }
        let v = report_view(&report(LinkageResult::Unverified {
            reason: UnverifiedReason::Expired,
            origin: Some("https://a.test".into()),
        }));
        assert_eq!(
            v.summary,
            "unverified (https://a.test): the domain linkage credential has expired [expired]"
        );
    }

    #[test]
    fn cache_hits_only_for_the_same_key_and_fresh_credentials() {
        let cache = LinkageCache::default();
        let a = Uuid::new_v4();
        let origin = "https://vc.example.com";
        assert_eq!(cache.get(a, origin, "key-1", 1000), None);
        cache.put(a, origin, entry("key-1", 1000));
        assert_eq!(
            cache.get(a, origin, "key-1", 1000).as_deref(),
            Some("jwt-key-1-1000")
        );
        // Another authority, origin or key: miss.
        assert_eq!(cache.get(Uuid::new_v4(), origin, "key-1", 1000), None);
        assert_eq!(cache.get(a, "https://other.example", "key-1", 1000), None);
        assert_eq!(cache.get(a, origin, "key-2", 1000), None);
        // Close to expiry: miss, so the caller re-signs.
        let near = 1000 + LINKAGE_VALIDITY_SECS - LINKAGE_REFRESH_SECS;
        assert!(cache.get(a, origin, "key-1", near - 1).is_some());
        assert_eq!(cache.get(a, origin, "key-1", near), None);
        // Before its nbf (the clock went back): miss.
        assert_eq!(cache.get(a, origin, "key-1", 999), None);
        // A new key replaces the entry.
        cache.put(a, origin, entry("key-2", 2000));
        assert_eq!(cache.get(a, origin, "key-1", 2000), None);
        assert!(cache.get(a, origin, "key-2", 2000).is_some());
        assert_eq!(cache.lock().len(), 1);
    }
}
