//! The [`DidResolver`] seam and its implementations: local (`did:key`, `did:jwk`), `did:web`
//! over the hardened fetcher, and a caching dispatcher by method that shares, bounds and
//! briefly remembers the failures of network resolutions.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OnceCell, Semaphore};
use verity_core::Clock;

use crate::did::{Did, DidWeb};
use crate::document::DidDocument;
use crate::error::DidError;
use crate::fetch::{FetchOptions, HttpFetcher};
use crate::key::{resolve_did_jwk, resolve_did_key};

/// Turns a DID into its DID document.
#[async_trait]
pub trait DidResolver: Send + Sync + Debug {
    /// Resolves `did` (a bare DID, no fragment).
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError>;
}

/// Resolves `did:key` and `did:jwk` locally, without I/O.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyResolver;

#[async_trait]
impl DidResolver for KeyResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        let parsed = Did::parse(did)?;
        match parsed.method() {
            "key" => resolve_did_key(did),
            "jwk" => resolve_did_jwk(did),
            other => Err(DidError::UnsupportedMethod {
                method: other.to_owned(),
                supported: "jwk, key".into(),
            }),
        }
    }
}

/// Resolves `did:web` by fetching `did.json` through the hardened fetcher.
#[derive(Debug, Clone)]
pub struct WebResolver {
    fetcher: HttpFetcher,
}

impl WebResolver {
    /// A resolver using `fetcher` (and its policy: http allow-list, address checks, limits).
    pub fn new(fetcher: HttpFetcher) -> Self {
        Self { fetcher }
    }
}

#[async_trait]
impl DidResolver for WebResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        let web = DidWeb::parse(did)?;
        let policy = self.fetcher.policy();
        let url = web.document_url(&|host| policy.allows_http(host))?;
        let opts = FetchOptions {
            accept: Some("application/did+json, application/json;q=0.9".into()),
            ..FetchOptions::default()
        };
        let fetched = self.fetcher.get_json_with(url.as_str(), &opts).await?;
        let doc = DidDocument::from_json_value(fetched.body)?;
        // A document published for another DID must not be accepted for this one.
        if doc.id != did {
            return Err(DidError::DocumentIdMismatch {
                expected: did.to_owned(),
                found: doc.id,
            });
        }
        Ok(doc)
    }
}

/// How network resolutions (did:web) are limited: failures remembered briefly, and a bound on
/// fetches in flight at once. Local methods (did:key, did:jwk) need neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionLimits {
    /// How long a failed network resolution is remembered and answered without asking the
    /// network again, so a flood of requests naming an unreachable or bogus DID opens one
    /// connection, not one each. Zero turns the failure cache off.
    pub failure_ttl: Duration,
    /// Most network resolutions in progress at once (over all DIDs); at least 1.
    pub max_concurrent: usize,
    /// How long a resolution waits for one of those slots before failing with
    /// [`DidError::Busy`] (transient).
    pub queue_timeout: Duration,
}

impl ResolutionLimits {
    /// Default time a failure is remembered.
    pub const DEFAULT_FAILURE_TTL: Duration = Duration::from_secs(5);
    /// Default bound on concurrent network resolutions.
    pub const DEFAULT_MAX_CONCURRENT: usize = 16;
}

impl Default for ResolutionLimits {
    fn default() -> Self {
        Self {
            failure_ttl: Self::DEFAULT_FAILURE_TTL,
            max_concurrent: Self::DEFAULT_MAX_CONCURRENT,
            queue_timeout: crate::fetch::FetchPolicy::default().read_timeout,
        }
    }
}

/// The result of one resolution, shared by everyone who waited for it.
type Outcome = Result<DidDocument, DidError>;

#[derive(Debug, Clone)]
struct CacheEntry {
    expires_at: i64,
    outcome: Outcome,
}

#[derive(Debug)]
struct Method {
    resolver: Arc<dyn DidResolver>,
    /// Resolving goes to the network: single-flight, failure cache and concurrency bound apply.
    network: bool,
}

/// Resolutions in progress, per DID: the first caller fills the cell, later callers await it.
type InFlight = Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>;

/// Dispatches by DID method and caches documents per DID for a fixed TTL. For network methods
/// (did:web) concurrent resolutions of one DID share one fetch, failures are cached for
/// [`ResolutionLimits::failure_ttl`], and at most [`ResolutionLimits::max_concurrent`] fetches
/// run at once. Cache times come from the [`Clock`].
#[derive(Debug)]
pub struct CompositeResolver {
    methods: HashMap<String, Method>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_entries: usize,
    limits: ResolutionLimits,
    slots: Semaphore,
    cache: Mutex<HashMap<String, CacheEntry>>,
    in_flight: InFlight,
    /// Resolutions answered from `cache` / not (for metrics).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CompositeResolver {
    /// Default bound on cached documents.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

    /// A resolver with no methods and default [`ResolutionLimits`]; add methods with
    /// [`CompositeResolver::with_method`] and [`CompositeResolver::with_network_method`].
    pub fn new(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        let limits = ResolutionLimits::default();
        Self {
            methods: HashMap::new(),
            clock,
            ttl,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            limits,
            slots: Semaphore::new(limits.max_concurrent),
            cache: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Resolutions of a supported method answered from the cache, and not: (hits, misses).
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// `did:key`, `did:jwk` (local) and `did:web` (over `fetcher`, a network method), waiting
    /// for a fetch slot at most the fetcher's read timeout.
    pub fn standard(fetcher: HttpFetcher, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        let local: Arc<dyn DidResolver> = Arc::new(KeyResolver);
        let limits = ResolutionLimits {
            queue_timeout: fetcher.policy().read_timeout,
            ..ResolutionLimits::default()
        };
        Self::new(clock, ttl)
            .with_limits(limits)
            .with_method("key", local.clone())
            .with_method("jwk", local)
            .with_network_method("web", Arc::new(WebResolver::new(fetcher)))
    }

    /// Routes DIDs of `method` to `resolver`, which resolves locally (no I/O): results are
    /// cached, failures are not, and no concurrency bound applies.
    pub fn with_method(mut self, method: &str, resolver: Arc<dyn DidResolver>) -> Self {
        self.methods.insert(
            method.to_owned(),
            Method {
                resolver,
                network: false,
            },
        );
        self
    }

    /// Routes DIDs of `method` to `resolver`, which goes to the network: single-flight per
    /// DID, failures cached briefly, concurrent resolutions bounded.
    pub fn with_network_method(mut self, method: &str, resolver: Arc<dyn DidResolver>) -> Self {
        self.methods.insert(
            method.to_owned(),
            Method {
                resolver,
                network: true,
            },
        );
        self
    }

    /// Replaces the limits on network resolution.
    pub fn with_limits(mut self, limits: ResolutionLimits) -> Self {
        let limits = ResolutionLimits {
            max_concurrent: limits.max_concurrent.max(1),
            ..limits
        };
        self.slots = Semaphore::new(limits.max_concurrent);
        self.limits = limits;
        self
    }

    /// Caps the number of cached documents (and remembered failures).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Drops the cached document (or remembered failure) of `did`, e.g. after its key rotated.
    pub fn invalidate(&self, did: &str) {
        self.lock().remove(did);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CacheEntry>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, did: &str, now: i64) -> Option<Outcome> {
        self.lock()
            .get(did)
            .filter(|e| e.expires_at > now)
            .map(|e| e.outcome.clone())
    }

    /// Remembers `outcome`: a document for the cache TTL, a failure for the failure TTL. Our
    /// own lack of capacity ([`DidError::Busy`]) says nothing about the DID and is not kept.
    fn remember(&self, did: &str, outcome: &Outcome, now: i64) {
        let ttl = match outcome {
            Ok(_) => self.ttl,
            Err(DidError::Busy { .. }) => return,
            Err(_) => self.limits.failure_ttl,
        };
        if ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        let mut cache = self.lock();
        if cache.len() >= self.max_entries && !cache.contains_key(did) {
            cache.retain(|_, e| e.expires_at > now);
            if cache.len() >= self.max_entries
                && let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        cache.insert(
            did.to_owned(),
            CacheEntry {
                expires_at: now.saturating_add(ttl),
                outcome: outcome.clone(),
            },
        );
    }

    /// Joins the resolution of `did` in progress, or starts one.
    fn join_flight(&self, did: &str) -> Flight<'_> {
        let mut flights = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let cell = flights.entry(did.to_owned()).or_default().clone();
        Flight {
            flights: &self.in_flight,
            did: did.to_owned(),
            cell: Some(cell),
        }
    }

    /// One network resolution: waits for a slot (at most the queue timeout), resolves, and
    /// remembers the outcome before the waiting callers see it.
    async fn fetch(&self, did: &str, resolver: &dyn DidResolver) -> Outcome {
        // A flight that began just after the previous one finished finds its result here.
        if let Some(outcome) = self.cached(did, self.clock.unix()) {
            return outcome;
        }
        let wait = self.limits.queue_timeout;
        let _slot = match tokio::time::timeout(wait, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a closed one means no capacity, like a timeout.
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    did,
                    limit = self.limits.max_concurrent,
                    "DID resolution refused: every network resolution slot is busy"
                );
                return Err(DidError::Busy {
                    did: did.to_owned(),
                    limit: self.limits.max_concurrent,
                    waited_ms: wait.as_millis(),
                });
            }
        };
        let outcome = resolver.resolve(did).await;
        self.remember(did, &outcome, self.clock.unix());
        outcome
    }
}

/// A caller's part in a shared resolution. The last caller to leave (finished or cancelled)
/// removes the entry, so the next resolution after it starts afresh (or hits the cache).
struct Flight<'a> {
    flights: &'a InFlight,
    did: String,
    cell: Option<Arc<OnceCell<Outcome>>>,
}

impl Flight<'_> {
    async fn outcome(&self, run: impl std::future::Future<Output = Outcome>) -> Outcome {
        match &self.cell {
            // When the caller filling the cell is cancelled, the next waiter runs its own
            // `run`, so no one waits on a fetch that nobody drives.
            Some(cell) => cell.get_or_init(|| run).await.clone(),
            None => run.await,
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // Release our handle under the lock, so the count below sees every other caller.
        let Some(mine) = self.cell.take() else {
            return;
        };
        let last = flights
            .get(&self.did)
            .is_some_and(|c| Arc::ptr_eq(c, &mine) && Arc::strong_count(c) == 2);
        drop(mine);
        if last {
            flights.remove(&self.did);
        }
    }
}

#[async_trait]
impl DidResolver for CompositeResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        let parsed = Did::parse(did)?;
        let Some(method) = self.methods.get(parsed.method()) else {
            let mut supported: Vec<&str> = self.methods.keys().map(String::as_str).collect();
            supported.sort_unstable();
            return Err(DidError::UnsupportedMethod {
                method: parsed.method().to_owned(),
                supported: supported.join(", "),
            });
        };
        let now = self.clock.unix();
        if let Some(outcome) = self.cached(did, now) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return outcome;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        if !method.network {
            let doc = method.resolver.resolve(did).await?;
            self.remember(did, &Ok(doc.clone()), now);
            return Ok(doc);
        }
        let flight = self.join_flight(did);
        flight
            .outcome(self.fetch(did, method.resolver.as_ref()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Relationship;
    use crate::fetch::FetchPolicy;
    use crate::test_util::{StaticResolver, TestResponse, TestServer};
    use crate::{FetchError, did_web_from_parts};
    use chrono::DateTime;
    use serde_json::json;
    use verity_core::ManualClock;
    use verity_jose::{Algorithm, SigningKey};

    fn clock() -> ManualClock {
        ManualClock::new(DateTime::from_timestamp(1_700_000_000, 0).unwrap())
    }

    fn override_policy(server: &TestServer, host: &str) -> FetchPolicy {
        FetchPolicy {
            allow_loopback: true,
            host_overrides: HashMap::from([(host.to_owned(), server.addr())]),
            ..FetchPolicy::default()
        }
    }

    fn authority_doc(did: &str) -> (DidDocument, verity_jose::Jwk) {
        let jwk = SigningKey::generate(Algorithm::ES256).unwrap().public_jwk();
        (
            DidDocument::for_web_authority(did, &[("key-1".into(), jwk.clone())], &[]),
            jwk,
        )
    }

    #[tokio::test]
    async fn resolves_root_did_web() {
        let server = TestServer::start().await;
        let did = "did:web:issuer.test";
        let (doc, jwk) = authority_doc(did);
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let r =
            WebResolver::new(HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap());
        let got = r.resolve(did).await.unwrap();
        assert_eq!(got, doc);
        assert_eq!(
            got.key_for("did:web:issuer.test#key-1", Relationship::AssertionMethod)
                .unwrap(),
            jwk
        );
        let req = &server.requests()[0];
        assert!(
            req.header("accept")
                .unwrap()
                .contains("application/did+json")
        );
    }

    #[tokio::test]
    async fn resolves_path_did_web() {
        let server = TestServer::start().await;
        let did = "did:web:issuer.test:tenants:acme";
        let (doc, _) = authority_doc(did);
        server.route(
            "/tenants/acme/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let r =
            WebResolver::new(HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap());
        assert_eq!(r.resolve(did).await.unwrap(), doc);
    }

    #[tokio::test]
    async fn resolves_did_web_with_encoded_port_over_allowed_http() {
        let server = TestServer::start().await;
        let did = did_web_from_parts(&format!("localhost:{}", server.port()), &[]);
        assert!(did.contains("%3A"));
        let (doc, _) = authority_doc(&did);
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let policy = FetchPolicy {
            allow_loopback: true,
            allow_http_hosts: vec![format!("localhost:{}", server.port())],
            ..FetchPolicy::default()
        };
        let r = WebResolver::new(HttpFetcher::new(policy).unwrap());
        assert_eq!(r.resolve(&did).await.unwrap(), doc);
    }

    #[tokio::test]
    async fn did_web_failures_are_distinct() {
        let server = TestServer::start().await;
        let f = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r = WebResolver::new(f);

        // 404.
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(
            matches!(err, DidError::Fetch(FetchError::Status { status: 404, .. })),
            "{err}"
        );
        assert_eq!(err.code(), "FETCH-008");

        // A document for another DID.
        let (other, _) = authority_doc("did:web:other.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&other.to_json_value()),
        );
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(matches!(err, DidError::DocumentIdMismatch { .. }), "{err}");

        // Not a DID document.
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&json!({"hello": "world"})),
        );
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(matches!(err, DidError::InvalidDocument { .. }), "{err}");

        // Oversized.
        server.route(
            "/.well-known/did.json",
            TestResponse::bytes(vec![b' '; 150 * 1024]),
        );
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(
            matches!(err, DidError::Fetch(FetchError::BodyTooLarge { .. })),
            "{err}"
        );

        // Not a did:web.
        let err = r.resolve("did:key:z6Mk").await.unwrap_err();
        assert!(matches!(err, DidError::InvalidDidWeb { .. }), "{err}");
    }

    #[tokio::test]
    async fn did_web_times_out_on_slow_hosts() {
        let server = TestServer::start().await;
        let (doc, _) = authority_doc("did:web:issuer.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()).with_delay(Duration::from_secs(3)),
        );
        let policy = FetchPolicy {
            read_timeout: Duration::from_millis(300),
            ..override_policy(&server, "issuer.test")
        };
        let r = WebResolver::new(HttpFetcher::new(policy).unwrap());
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(
            matches!(err, DidError::Fetch(FetchError::Timeout { .. })),
            "{err}"
        );
        assert!(err.is_unavailable());
    }

    #[tokio::test]
    async fn did_web_refuses_loopback_when_not_allowed() {
        let server = TestServer::start().await;
        let (doc, _) = authority_doc("did:web:issuer.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let policy = FetchPolicy {
            allow_loopback: false,
            ..override_policy(&server, "issuer.test")
        };
        let r = WebResolver::new(HttpFetcher::new(policy).unwrap());
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(
            matches!(err, DidError::Fetch(FetchError::AddressRefused { .. })),
            "{err}"
        );
        assert_eq!(server.hits("/.well-known/did.json"), 0);
    }

    #[tokio::test]
    async fn did_web_refuses_cross_host_redirects() {
        let server = TestServer::start().await;
        server.route(
            "/.well-known/did.json",
            TestResponse::redirect("https://elsewhere.test/did.json"),
        );
        let mut policy = override_policy(&server, "issuer.test");
        policy
            .host_overrides
            .insert("elsewhere.test".into(), server.addr());
        let r = WebResolver::new(HttpFetcher::new(policy).unwrap());
        let err = r.resolve("did:web:issuer.test").await.unwrap_err();
        assert!(
            matches!(err, DidError::Fetch(FetchError::RedirectToOtherHost { .. })),
            "{err}"
        );
        assert_eq!(server.hits("/did.json"), 0);
    }

    #[tokio::test]
    async fn composite_caches_per_did_until_ttl() {
        let server = TestServer::start().await;
        let (doc, _) = authority_doc("did:web:issuer.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let clock = clock();
        let fetcher = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r =
            CompositeResolver::standard(fetcher, Arc::new(clock.clone()), Duration::from_secs(300));

        assert_eq!(r.resolve("did:web:issuer.test").await.unwrap(), doc);
        assert_eq!(r.resolve("did:web:issuer.test").await.unwrap(), doc);
        assert_eq!(
            server.hits("/.well-known/did.json"),
            1,
            "second resolve served from cache"
        );

        clock.advance(chrono::Duration::seconds(299));
        r.resolve("did:web:issuer.test").await.unwrap();
        assert_eq!(server.hits("/.well-known/did.json"), 1);

        clock.advance(chrono::Duration::seconds(1));
        r.resolve("did:web:issuer.test").await.unwrap();
        assert_eq!(
            server.hits("/.well-known/did.json"),
            2,
            "expired entry refetched"
        );

        r.invalidate("did:web:issuer.test");
        r.resolve("did:web:issuer.test").await.unwrap();
        assert_eq!(server.hits("/.well-known/did.json"), 3);
    }

    #[tokio::test]
    async fn composite_remembers_failures_for_the_failure_ttl_then_retries() {
        let server = TestServer::start().await;
        let clock = clock();
        let fetcher = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r =
            CompositeResolver::standard(fetcher, Arc::new(clock.clone()), Duration::from_secs(300))
                .with_limits(ResolutionLimits {
                    failure_ttl: Duration::from_secs(5),
                    ..ResolutionLimits::default()
                });
        let did = "did:web:issuer.test";
        let path = "/.well-known/did.json";

        let first = r.resolve(did).await.unwrap_err();
        assert_eq!(first.code(), "FETCH-008", "{first}");
        assert_eq!(server.hits(path), 1);

        // The same failure, from memory, until the failure TTL is over.
        let (doc, _) = authority_doc(did);
        server.route(path, TestResponse::json(&doc.to_json_value()));
        clock.advance(chrono::Duration::seconds(4));
        let again = r.resolve(did).await.unwrap_err();
        assert_eq!(again.to_string(), first.to_string());
        assert_eq!(
            server.hits(path),
            1,
            "a remembered failure is not fetched again"
        );

        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(r.resolve(did).await.unwrap(), doc);
        assert_eq!(server.hits(path), 2, "retried after the failure TTL");
    }

    #[tokio::test]
    async fn a_zero_failure_ttl_remembers_no_failure() {
        let server = TestServer::start().await;
        let fetcher = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r = CompositeResolver::standard(fetcher, Arc::new(clock()), Duration::from_secs(300))
            .with_limits(ResolutionLimits {
                failure_ttl: Duration::ZERO,
                ..ResolutionLimits::default()
            });
        assert!(r.resolve("did:web:issuer.test").await.is_err());
        let (doc, _) = authority_doc("did:web:issuer.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        assert_eq!(r.resolve("did:web:issuer.test").await.unwrap(), doc);
        assert_eq!(server.hits("/.well-known/did.json"), 2);
    }

    #[tokio::test]
    async fn concurrent_resolutions_of_one_did_web_share_one_fetch() {
        let server = TestServer::start().await;
        let did = "did:web:issuer.test";
        let (doc, _) = authority_doc(did);
        // Slow enough that every caller arrives while the first fetch is still running.
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()).with_delay(Duration::from_millis(300)),
        );
        let fetcher = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r = Arc::new(CompositeResolver::standard(
            fetcher,
            Arc::new(clock()),
            Duration::from_secs(300),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let r = r.clone();
            tasks.spawn(async move { r.resolve(did).await });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap().unwrap(), doc);
        }
        assert_eq!(
            server.hits("/.well-known/did.json"),
            1,
            "one fetch for 20 callers"
        );
        assert!(
            r.in_flight.lock().unwrap().is_empty(),
            "no flight left behind"
        );
    }

    #[tokio::test]
    async fn a_flood_naming_an_unreachable_did_web_opens_one_connection() {
        let fetches = Counting::failing(Duration::from_millis(200));
        let r = Arc::new(
            CompositeResolver::new(Arc::new(clock()), Duration::from_secs(300))
                .with_network_method("example", Arc::new(fetches.clone())),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let r = r.clone();
            tasks.spawn(async move { r.resolve("did:example:gone").await });
        }
        while let Some(result) = tasks.join_next().await {
            let err = result.unwrap().unwrap_err();
            assert!(err.is_unavailable(), "{err}");
        }
        // And the ones after the flood are answered from the failure cache.
        assert!(r.resolve("did:example:gone").await.is_err());
        assert_eq!(fetches.calls(), 1);
    }

    #[tokio::test]
    async fn network_resolutions_in_flight_are_bounded() {
        let fetches = Counting::succeeding(Duration::from_millis(50));
        let r = Arc::new(
            CompositeResolver::new(Arc::new(clock()), Duration::from_secs(300))
                .with_network_method("example", Arc::new(fetches.clone()))
                .with_limits(ResolutionLimits {
                    max_concurrent: 3,
                    queue_timeout: Duration::from_secs(30),
                    ..ResolutionLimits::default()
                }),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..12 {
            let r = r.clone();
            tasks.spawn(async move { r.resolve(&format!("did:example:{i}")).await });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        assert_eq!(fetches.calls(), 12, "distinct DIDs are fetched each");
        assert_eq!(
            fetches.max_in_flight(),
            3,
            "never more than the bound at once"
        );
    }

    #[tokio::test]
    async fn callers_beyond_the_bound_get_a_transient_error_after_the_queue_timeout() {
        let fetches = Counting::succeeding(Duration::from_millis(600));
        let r = Arc::new(
            CompositeResolver::new(Arc::new(clock()), Duration::from_secs(300))
                .with_network_method("example", Arc::new(fetches.clone()))
                .with_method("key", Arc::new(KeyResolver))
                .with_limits(ResolutionLimits {
                    max_concurrent: 1,
                    queue_timeout: Duration::from_millis(100),
                    ..ResolutionLimits::default()
                }),
        );
        let holder = {
            let r = r.clone();
            tokio::spawn(async move { r.resolve("did:example:slow").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let err = r.resolve("did:example:other").await.unwrap_err();
        assert!(matches!(err, DidError::Busy { limit: 1, .. }), "{err}");
        assert!(err.is_unavailable());
        assert_eq!(err.code(), "DID-018");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "waited only the queue timeout"
        );

        // Local methods do not queue behind network fetches.
        let key = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert_eq!(r.resolve(key).await.unwrap().id, key);

        holder.await.unwrap().unwrap();
        // Our own lack of capacity is not remembered as the DID's failure.
        r.resolve("did:example:other").await.unwrap();
        assert_eq!(fetches.calls(), 2);
    }

    #[tokio::test]
    async fn cache_hits_and_misses_are_counted() {
        let fetches = Counting::succeeding(Duration::ZERO);
        let r = CompositeResolver::new(Arc::new(clock()), Duration::from_secs(300))
            .with_network_method("example", Arc::new(fetches.clone()));
        assert_eq!(r.cache_stats(), (0, 0));
        r.resolve("did:example:a").await.unwrap();
        r.resolve("did:example:a").await.unwrap();
        r.resolve("did:example:b").await.unwrap();
        assert_eq!(r.cache_stats(), (1, 2));
        // An unsupported method is not a cache lookup.
        r.resolve("did:other:x").await.unwrap_err();
        assert_eq!(r.cache_stats(), (1, 2));
    }

    #[tokio::test]
    async fn a_cancelled_first_caller_does_not_strand_the_others() {
        let fetches = Counting::succeeding(Duration::from_millis(200));
        let r = Arc::new(
            CompositeResolver::new(Arc::new(clock()), Duration::from_secs(300))
                .with_network_method("example", Arc::new(fetches.clone())),
        );
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), r.resolve("did:example:a")).await;
        assert!(gave_up.is_err(), "the first caller gave up mid-fetch");
        assert!(
            r.in_flight.lock().unwrap().is_empty(),
            "its flight was cleared"
        );
        assert_eq!(
            r.resolve("did:example:a").await.unwrap().id,
            "did:example:a"
        );
    }

    /// A network resolver double: counts calls and the most calls in progress at once.
    #[derive(Debug, Clone)]
    struct Counting {
        delay: Duration,
        fail: bool,
        state: Arc<Mutex<(usize, usize, usize)>>, // (calls, in flight, max in flight)
    }

    impl Counting {
        fn succeeding(delay: Duration) -> Self {
            Self {
                delay,
                fail: false,
                state: Arc::default(),
            }
        }

        fn failing(delay: Duration) -> Self {
            Self {
                fail: true,
                ..Self::succeeding(delay)
            }
        }

        fn calls(&self) -> usize {
            self.state.lock().unwrap().0
        }

        fn max_in_flight(&self) -> usize {
            self.state.lock().unwrap().2
        }
    }

    #[async_trait]
    impl DidResolver for Counting {
        async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
            {
                let mut s = self.state.lock().unwrap();
                s.0 += 1;
                s.1 += 1;
                s.2 = s.2.max(s.1);
            }
            tokio::time::sleep(self.delay).await;
            self.state.lock().unwrap().1 -= 1;
            if self.fail {
                return Err(DidError::Fetch(FetchError::Connect {
                    url: format!("https://{did}/"),
                    reason: "connection refused".into(),
                }));
            }
            Ok(DidDocument::new(did))
        }
    }

    #[tokio::test]
    async fn composite_dispatches_and_refuses_unknown_methods() {
        let fetcher = HttpFetcher::new(FetchPolicy::default()).unwrap();
        let r = CompositeResolver::standard(fetcher, Arc::new(clock()), Duration::from_secs(60));
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert_eq!(r.resolve(did).await.unwrap().id, did);
        let err = r.resolve("did:ion:EiClkZMDxPKqC9c").await.unwrap_err();
        assert!(matches!(err, DidError::UnsupportedMethod { .. }), "{err}");
        assert!(err.to_string().contains("jwk, key, web"), "{err}");
        assert!(matches!(
            r.resolve("not-a-did").await,
            Err(DidError::InvalidDid { .. })
        ));
        assert!(matches!(
            KeyResolver.resolve("did:web:x.test").await,
            Err(DidError::UnsupportedMethod { .. })
        ));
    }

    #[tokio::test]
    async fn composite_cache_is_bounded() {
        let stat = StaticResolver::new();
        for i in 0..3 {
            stat.insert(DidDocument::new(&format!("did:example:{i}")));
        }
        let clock = clock();
        let r = CompositeResolver::new(Arc::new(clock.clone()), Duration::from_secs(60))
            .with_method("example", Arc::new(stat.clone()))
            .with_max_entries(2);
        for i in 0..3 {
            clock.advance(chrono::Duration::seconds(1));
            r.resolve(&format!("did:example:{i}")).await.unwrap();
        }
        assert_eq!(r.lock().len(), 2);
        assert!(
            !r.lock().contains_key("did:example:0"),
            "the oldest entry was evicted"
        );
        // StaticResolver reports unknown DIDs as not found.
        assert!(matches!(
            stat.resolve("did:example:9").await,
            Err(DidError::Fetch(FetchError::Status { status: 404, .. }))
        ));
    }
}
