//! The [`DidResolver`] seam and its implementations: local (`did:key`, `did:jwk`), `did:web`
//! over the hardened fetcher, and a caching dispatcher by method.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
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

#[derive(Debug, Clone)]
struct CacheEntry {
    expires_at: i64,
    doc: DidDocument,
}

/// Dispatches by DID method and caches documents per DID for a fixed TTL.
#[derive(Debug)]
pub struct CompositeResolver {
    methods: HashMap<String, Arc<dyn DidResolver>>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_entries: usize,
    cache: Mutex<HashMap<String, CacheEntry>>,
}

impl CompositeResolver {
    /// Default bound on cached documents.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

    /// A resolver with no methods; add them with [`CompositeResolver::with_method`].
    pub fn new(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            methods: HashMap::new(),
            clock,
            ttl,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `did:key`, `did:jwk` (local) and `did:web` (over `fetcher`).
    pub fn standard(fetcher: HttpFetcher, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        let local: Arc<dyn DidResolver> = Arc::new(KeyResolver);
        Self::new(clock, ttl)
            .with_method("key", local.clone())
            .with_method("jwk", local)
            .with_method("web", Arc::new(WebResolver::new(fetcher)))
    }

    /// Routes DIDs of `method` to `resolver`.
    pub fn with_method(mut self, method: &str, resolver: Arc<dyn DidResolver>) -> Self {
        self.methods.insert(method.to_owned(), resolver);
        self
    }

    /// Caps the number of cached documents.
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Drops the cached document of `did`, e.g. after its key rotated.
    pub fn invalidate(&self, did: &str) {
        self.lock().remove(did);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CacheEntry>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, did: &str, now: i64) -> Option<DidDocument> {
        self.lock()
            .get(did)
            .filter(|e| e.expires_at > now)
            .map(|e| e.doc.clone())
    }

    fn store(&self, did: &str, doc: &DidDocument, now: i64) {
        if self.ttl.is_zero() || self.max_entries == 0 {
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
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        cache.insert(
            did.to_owned(),
            CacheEntry {
                expires_at: now.saturating_add(ttl),
                doc: doc.clone(),
            },
        );
    }
}

#[async_trait]
impl DidResolver for CompositeResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        let parsed = Did::parse(did)?;
        let Some(resolver) = self.methods.get(parsed.method()) else {
            let mut supported: Vec<&str> = self.methods.keys().map(String::as_str).collect();
            supported.sort_unstable();
            return Err(DidError::UnsupportedMethod {
                method: parsed.method().to_owned(),
                supported: supported.join(", "),
            });
        };
        let now = self.clock.unix();
        if let Some(doc) = self.cached(did, now) {
            return Ok(doc);
        }
        let doc = resolver.resolve(did).await?;
        self.store(did, &doc, now);
        Ok(doc)
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
    async fn composite_does_not_cache_failures() {
        let server = TestServer::start().await;
        let fetcher = HttpFetcher::new(override_policy(&server, "issuer.test")).unwrap();
        let r = CompositeResolver::standard(fetcher, Arc::new(clock()), Duration::from_secs(300));
        assert!(r.resolve("did:web:issuer.test").await.is_err());
        let (doc, _) = authority_doc("did:web:issuer.test");
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        assert_eq!(r.resolve("did:web:issuer.test").await.unwrap(), doc);
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
