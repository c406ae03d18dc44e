//! [`HttpStatusListSource`]: the production [`StatusListSource`]. Fetches list credentials
//! through the hardened fetcher, verifies them with the issuer's assertionMethod key, and caches
//! verified lists per URL honouring `Cache-Control: max-age` and revalidating with `ETag`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use verity_did::{DidResolver, FetchError, FetchOptions, FetchOutcome, HttpFetcher, Relationship};
use verity_status_list::{VerifiedStatusList, parse_status_list_jwt};

use crate::{SourceError, StatusListSource};

/// Cache and verification settings of [`HttpStatusListSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCacheConfig {
    /// Freshness when the publisher sends no `max-age`, seconds.
    pub default_ttl_secs: i64,
    /// Upper bound on freshness whatever `max-age` says, seconds: how stale a revocation may
    /// be at worst.
    pub max_ttl_secs: i64,
    /// Clock skew tolerated on the list's validity window, seconds.
    pub skew_secs: i64,
    /// Lists kept at most.
    pub max_entries: usize,
    /// Largest list credential accepted, bytes.
    pub max_body_bytes: usize,
}

impl Default for StatusCacheConfig {
    fn default() -> Self {
        Self {
            default_ttl_secs: 60,
            max_ttl_secs: 300,
            skew_secs: 60,
            max_entries: 1_000,
            // A full 131,072-entry list of random bits is ~22 KB of base64url.
            max_body_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    list: Arc<VerifiedStatusList>,
    etag: Option<String>,
    /// Served without asking the publisher until this instant.
    fresh_until: i64,
}

/// Fetches, verifies and caches Bitstring Status List credentials.
///
/// A fetch that fails for network reasons (timeout, connection, DNS, 5xx, 429, 404) is
/// [`SourceError::Unavailable`]; the pipeline turns it into a transient error (fail closed)
/// unless the operator set `fail_open_on_unreachable`. A list that arrives but does not verify,
/// or an address the fetch policy refuses, is [`SourceError::Invalid`].
#[derive(Debug)]
pub struct HttpStatusListSource {
    fetcher: HttpFetcher,
    resolver: Arc<dyn DidResolver>,
    config: StatusCacheConfig,
    cache: Mutex<HashMap<String, Cached>>,
}

impl HttpStatusListSource {
    /// A source fetching with `fetcher` (its policy applies) and resolving list issuers with
    /// `resolver`, with the default [`StatusCacheConfig`].
    pub fn new(fetcher: HttpFetcher, resolver: Arc<dyn DidResolver>) -> Self {
        Self {
            fetcher,
            resolver,
            config: StatusCacheConfig::default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the cache settings.
    pub fn with_config(mut self, config: StatusCacheConfig) -> Self {
        self.config = config;
        self
    }

    /// Forgets the cached copy of `url` (e.g. right after our own revocation).
    pub fn invalidate(&self, url: &str) {
        self.lock().remove(url);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached entry for `url`, unless its list has expired (then it is dropped).
    fn cached(&self, url: &str, now: i64) -> Option<Cached> {
        let mut cache = self.lock();
        let entry = cache.get(url)?.clone();
        if entry
            .list
            .valid_until()
            .is_some_and(|until| now >= until.saturating_add(self.config.skew_secs.max(0)))
        {
            cache.remove(url);
            return None;
        }
        Some(entry)
    }

    fn store(
        &self,
        url: &str,
        list: Arc<VerifiedStatusList>,
        etag: Option<String>,
        max_age: Option<u64>,
        now: i64,
    ) {
        let ttl = max_age
            .map_or(self.config.default_ttl_secs, |a| {
                i64::try_from(a).unwrap_or(i64::MAX)
            })
            .clamp(0, self.config.max_ttl_secs.max(0));
        let mut fresh_until = now.saturating_add(ttl);
        if let Some(until) = list.valid_until() {
            fresh_until = fresh_until.min(until);
        }
        let mut cache = self.lock();
        if cache.len() >= self.config.max_entries && !cache.contains_key(url) {
            cache.retain(|_, c| c.fresh_until > now);
            if cache.len() >= self.config.max_entries
                && let Some(victim) = cache
                    .iter()
                    .min_by_key(|(_, c)| c.fresh_until)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&victim);
            }
        }
        if self.config.max_entries > 0 {
            cache.insert(
                url.to_owned(),
                Cached {
                    list,
                    etag,
                    fresh_until,
                },
            );
        }
    }

    /// Verifies a fetched list credential: issuer key under assertionMethod, then the list
    /// checks of `verity_status_list` (signature, times, type, issuer, URL, encoding).
    async fn verify(
        &self,
        url: &str,
        body: &[u8],
        now: i64,
    ) -> Result<VerifiedStatusList, SourceError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| SourceError::Invalid(format!("status list {url} is not UTF-8 text")))?;
        let invalid = |e: verity_status_list::StatusListError| {
            SourceError::Invalid(format!("status list {url}: {e} ({})", e.code()))
        };
        let unverified = parse_status_list_jwt(text.trim()).map_err(invalid)?;
        let Some(kid) = unverified.kid().map(str::to_owned) else {
            return Err(SourceError::Invalid(format!(
                "status list {url} names no key (kid) to verify it with"
            )));
        };
        let issuer = unverified.issuer().to_owned();
        let document = self.resolver.resolve(&issuer).await.map_err(|e| {
            let reason = format!("status list issuer {issuer}: {e} ({})", e.code());
            if e.is_unavailable() {
                SourceError::Unavailable(reason)
            } else {
                SourceError::Invalid(reason)
            }
        })?;
        let key = document
            .key_for(&kid, Relationship::AssertionMethod)
            .map_err(|e| SourceError::Invalid(format!("status list {url}: {e} ({})", e.code())))?;
        unverified
            .verify(&key, url, now, self.config.skew_secs)
            .map_err(invalid)
    }
}

#[async_trait]
impl StatusListSource for HttpStatusListSource {
    async fn fetch(&self, url: &str, now: i64) -> Result<Arc<VerifiedStatusList>, SourceError> {
        let cached = self.cached(url, now);
        if let Some(c) = &cached
            && now < c.fresh_until
        {
            return Ok(c.list.clone());
        }
        let opts = FetchOptions {
            max_body_bytes: Some(self.config.max_body_bytes),
            accept: Some("application/vc+jwt, application/jwt;q=0.9, */*;q=0.1".into()),
            if_none_match: cached.as_ref().and_then(|c| c.etag.clone()),
        };
        match self.fetcher.fetch(url, &opts).await {
            Ok(FetchOutcome::NotModified(meta)) => {
                let Some(c) = cached else {
                    // Only sent with an ETag of a cached copy, so unreachable in practice.
                    return Err(SourceError::Invalid(format!(
                        "status list {url} answered 304 with no cached copy"
                    )));
                };
                let etag = meta.etag.or(c.etag);
                self.store(url, c.list.clone(), etag, meta.max_age, now);
                Ok(c.list)
            }
            Ok(FetchOutcome::Body(fetched)) => {
                let list = Arc::new(self.verify(url, &fetched.body, now).await?);
                self.store(
                    url,
                    list.clone(),
                    fetched.meta.etag,
                    fetched.meta.max_age,
                    now,
                );
                Ok(list)
            }
            Err(e) => Err(classify(url, e)),
        }
    }
}

/// Network trouble (and a missing list, which a publisher may fix) is retryable; refusals by
/// the fetch policy and oversized bodies are not.
fn classify(url: &str, e: FetchError) -> SourceError {
    let reason = format!("status list {url}: {e} ({})", e.code());
    if e.is_transient() || matches!(e, FetchError::Status { .. }) {
        SourceError::Unavailable(reason)
    } else {
        SourceError::Invalid(reason)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use verity_did::test_util::{StaticResolver, TestResponse, TestServer};
    use verity_did::{FetchPolicy, HttpFetcher};
    use verity_jose::Algorithm;
    use verity_status_list::StatusPurpose;

    use super::*;
    use crate::testkit::{NOW, Party, signed_list, signed_list_until};

    const URL: &str = "https://issuer.test/v1.0/status/list-1";
    const PATH: &str = "/v1.0/status/list-1";

    struct Setup {
        server: TestServer,
        source: HttpStatusListSource,
        issuer: Party,
    }

    async fn setup() -> Setup {
        let server = TestServer::start().await;
        let issuer = Party::web("issuer.test", Algorithm::ES256);
        let resolver = StaticResolver::new().with(issuer.document(&[]));
        let fetcher = HttpFetcher::new(FetchPolicy {
            allow_loopback: true,
            host_overrides: HashMap::from([("issuer.test".to_owned(), server.addr())]),
            read_timeout: Duration::from_millis(500),
            ..FetchPolicy::default()
        })
        .unwrap();
        let source = HttpStatusListSource::new(fetcher, Arc::new(resolver));
        Setup {
            server,
            source,
            issuer,
        }
    }

    fn list_response(issuer: &Party, revoked: &[usize], max_age: u32) -> TestResponse {
        let jwt = signed_list(issuer, URL, revoked, StatusPurpose::Revocation);
        TestResponse::bytes(jwt.into_bytes())
            .with_header("Content-Type", "application/vc+jwt")
            .with_header("ETag", "\"v1\"")
            .with_header("Cache-Control", &format!("public, max-age={max_age}"))
    }

    #[tokio::test]
    async fn fetches_and_verifies_a_list() {
        let s = setup().await;
        s.server.route(PATH, list_response(&s.issuer, &[5], 60));
        let list = s.source.fetch(URL, NOW).await.unwrap();
        assert_eq!(list.issuer(), s.issuer.did);
        assert_eq!(list.url(), URL);
        assert!(list.bitstring().get(5).unwrap());
        assert!(!list.bitstring().get(6).unwrap());
        let req = &s.server.requests()[0];
        assert!(req.header("accept").unwrap().contains("application/vc+jwt"));
    }

    /// Within max-age the cached list is served without a request.
    #[tokio::test]
    async fn cached_list_is_not_refetched_within_max_age() {
        let s = setup().await;
        s.server.route(PATH, list_response(&s.issuer, &[], 60));
        s.source.fetch(URL, NOW).await.unwrap();
        s.source.fetch(URL, NOW + 30).await.unwrap();
        s.source.fetch(URL, NOW + 59).await.unwrap();
        assert_eq!(s.server.hits(PATH), 1);
    }

    /// After max-age the list is revalidated with If-None-Match; a 304 keeps the copy.
    #[tokio::test]
    async fn stale_list_is_revalidated_with_etag() {
        let s = setup().await;
        s.server.route(PATH, list_response(&s.issuer, &[2], 60));
        s.source.fetch(URL, NOW).await.unwrap();
        s.server.route(
            PATH,
            TestResponse::status(304).with_header("Cache-Control", "max-age=120"),
        );
        let list = s.source.fetch(URL, NOW + 61).await.unwrap();
        assert!(list.bitstring().get(2).unwrap());
        assert_eq!(s.server.hits(PATH), 2);
        assert_eq!(
            s.server.requests()[1].header("if-none-match").as_deref(),
            Some("\"v1\"")
        );
        // The 304's max-age now applies.
        s.source.fetch(URL, NOW + 61 + 119).await.unwrap();
        assert_eq!(s.server.hits(PATH), 2);
    }

    /// max-age is capped: a publisher cannot make a revocation invisible for a day.
    #[tokio::test]
    async fn max_age_is_capped() {
        let s = setup().await;
        s.server.route(PATH, list_response(&s.issuer, &[], 86_400));
        s.source.fetch(URL, NOW).await.unwrap();
        s.source.fetch(URL, NOW + 299).await.unwrap();
        assert_eq!(s.server.hits(PATH), 1);
        s.source.fetch(URL, NOW + 300).await.unwrap();
        assert_eq!(s.server.hits(PATH), 2);
        // invalidate() forces the next fetch.
        s.source.invalidate(URL);
        s.source.fetch(URL, NOW + 301).await.unwrap();
        assert_eq!(s.server.hits(PATH), 3);
    }

    /// A list is never served past its own `exp`, whatever max-age said; once expired at
    /// the publisher too, it is refused.
    #[tokio::test]
    async fn expiring_list_is_refetched_and_then_refused() {
        let s = setup().await;
        let jwt = signed_list_until(&s.issuer, URL, NOW + 100);
        s.server.route(
            PATH,
            TestResponse::bytes(jwt.into_bytes()).with_header("Cache-Control", "max-age=300"),
        );
        s.source.fetch(URL, NOW).await.unwrap();
        s.source.fetch(URL, NOW + 99).await.unwrap();
        assert_eq!(s.server.hits(PATH), 1);
        // Past exp but within the skew: fetched again, still acceptable.
        s.source.fetch(URL, NOW + 101).await.unwrap();
        assert_eq!(s.server.hits(PATH), 2);
        // Past exp + skew: the publisher's copy is stale and refused.
        let e = s.source.fetch(URL, NOW + 161).await.unwrap_err();
        assert!(
            !e.is_unavailable() && e.reason().contains("STATUS-012"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn unreachable_list_is_unavailable() {
        let s = setup().await;
        // No route: 404.
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        s.server.route(PATH, TestResponse::status(503));
        assert!(s.source.fetch(URL, NOW).await.unwrap_err().is_unavailable());
        s.server.route(
            PATH,
            list_response(&s.issuer, &[], 60).with_delay(Duration::from_secs(2)),
        );
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(
            e.is_unavailable() && e.reason().contains("FETCH-010"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn list_signed_by_another_key_is_invalid() {
        let s = setup().await;
        // Same DID and kid, different key: the signature does not verify.
        let impostor = Party::web("issuer.test", Algorithm::ES256);
        s.server.route(PATH, list_response(&impostor, &[], 60));
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(!e.is_unavailable(), "{e}");
        assert!(e.reason().contains("STATUS-011"), "{e}");
        // Not cached: the next fetch asks again.
        s.source.fetch(URL, NOW).await.unwrap_err();
        assert_eq!(s.server.hits(PATH), 2);
    }

    #[tokio::test]
    async fn list_served_at_another_url_is_invalid() {
        let s = setup().await;
        let other = "https://issuer.test/v1.0/status/list-2";
        let jwt = signed_list(&s.issuer, other, &[], StatusPurpose::Revocation);
        s.server.route(PATH, TestResponse::bytes(jwt.into_bytes()));
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(e.reason().contains("STATUS-017"), "{e}");
    }

    #[tokio::test]
    async fn unresolvable_list_issuer_is_classified() {
        let s = setup().await;
        let stranger = Party::web("stranger.test", Algorithm::EdDSA);
        s.server.route(PATH, list_response(&stranger, &[], 60));
        // The static resolver answers 404 for an unknown DID: not an outage.
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(!e.is_unavailable(), "{e}");
    }

    #[tokio::test]
    async fn garbage_body_is_invalid() {
        let s = setup().await;
        s.server
            .route(PATH, TestResponse::bytes(b"<html>oops</html>".to_vec()));
        let e = s.source.fetch(URL, NOW).await.unwrap_err();
        assert!(
            !e.is_unavailable() && e.reason().contains("STATUS-010"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn refused_address_is_invalid() {
        let s = setup().await;
        let e = s
            .source
            .fetch("http://127.0.0.1:9/status", NOW)
            .await
            .unwrap_err();
        assert!(!e.is_unavailable(), "{e}");
    }

    #[tokio::test]
    async fn cache_is_bounded() {
        let s = setup().await;
        let source = HttpStatusListSource {
            config: StatusCacheConfig {
                max_entries: 1,
                ..StatusCacheConfig::default()
            },
            ..s.source
        };
        s.server.route(PATH, list_response(&s.issuer, &[], 60));
        source.fetch(URL, NOW).await.unwrap();
        assert_eq!(source.lock().len(), 1);
        source.store(
            "https://issuer.test/other",
            source.fetch(URL, NOW).await.unwrap(),
            None,
            None,
            NOW,
        );
        assert_eq!(source.lock().len(), 1);
        assert!(source.lock().contains_key("https://issuer.test/other"));
    }
}
