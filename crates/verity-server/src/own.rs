//! Our own authorities, read from the store rather than over HTTP: their DID documents
//! ([`OwnResolver`]), their status lists ([`OwnStatusLists`]) and their domain linkage
//! ([`OwnLinkage`]).
//!
//! The verifier used to reach our own documents and lists through the same HTTP caches as
//! anyone else's, so a revocation (or key rotation) went unnoticed for up to 300 s, and a
//! zero-config `serve` (plain http on localhost, which the fetch policy refuses) could not
//! verify its own credentials at all. The store is the truth every replica shares, so reading
//! it on each request makes a change count on the next request everywhere. Only values that a
//! change always shows up in are kept in process: a DID document is reused while its authority's
//! published key rows (ids and states, re-read on every resolution) are the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;
use verity_did::{DidDocument, DidError, DidResolver, DidWeb, FetchError};
use verity_linked_domains::{LinkageResult, UnverifiedReason, normalize_origin};
use verity_presentation::{LinkageChecker, SourceError, StatusListSource};
use verity_status_list::{Bitstring, StatusPurpose, VerifiedStatusList};
use verity_store::{Authority, KeyRecord, KeyState, Store, StoreError};

use crate::authorities::{self, AuthorityError};
use crate::linkage::linked_origins_for;

/// Path prefix of our status lists (see `routes::status::list_url`).
const STATUS_PATH: &str = "/v1.0/status/";
/// Entries kept at most in each in-process map; beyond it the map starts over.
const MAX_ENTRIES: usize = 10_000;

/// A DID document built from the store, with the key rows it was built from.
#[derive(Debug, Clone)]
struct CachedDocument {
    /// (key row id, state) of every published key: rows never change their public key, so
    /// equal fingerprints mean an equal document.
    fingerprint: Vec<(Uuid, KeyState)>,
    origins: Vec<String>,
    /// Holds the keys already parsed and validated from the rows' JSON.
    doc: DidDocument,
}

/// What this service knows about its own authorities: the store, and the hosts it serves.
#[derive(Debug)]
pub struct OwnAuthorities {
    store: Arc<dyn Store>,
    public_url: String,
    domains: Vec<String>,
    documents: Mutex<HashMap<Uuid, CachedDocument>>,
    /// Authority id -> DID (an authority's DID never changes).
    dids: Mutex<HashMap<Uuid, String>>,
    /// Hits and misses of `documents` (`/metrics`).
    document_hits: crate::metrics::CacheCounter,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OwnAuthorities {
    /// The authorities in `store`, for a service at `public_url` serving `domains`
    /// (lower-case `host[:port]`, the public URL's host included).
    pub fn new(store: Arc<dyn Store>, public_url: &str, domains: &[String]) -> Self {
        Self {
            store,
            public_url: public_url.to_owned(),
            domains: domains.to_vec(),
            documents: Mutex::new(HashMap::new()),
            dids: Mutex::new(HashMap::new()),
            document_hits: crate::metrics::CacheCounter::default(),
        }
    }

    /// Hits and misses of the built-document cache.
    pub fn document_cache(&self) -> &crate::metrics::CacheCounter {
        &self.document_hits
    }

    /// The authority when `did` is one of ours. Authorities are always did:web, so other
    /// methods cost no query.
    pub async fn authority(&self, did: &str) -> Result<Option<Authority>, StoreError> {
        if DidWeb::parse(did).is_err() {
            return Ok(None);
        }
        self.store.authority_by_did(did).await
    }

    /// The DID document `/.well-known/did.json` serves for `authority`, from a fresh read of
    /// its keys.
    pub async fn document(&self, authority: &Authority) -> Result<DidDocument, AuthorityError> {
        let keys = self.store.authority_keys(authority.id).await?;
        self.document_from_keys(authority, &keys)
    }

    fn document_from_keys(
        &self,
        authority: &Authority,
        keys: &[KeyRecord],
    ) -> Result<DidDocument, AuthorityError> {
        let fingerprint: Vec<(Uuid, KeyState)> = keys
            .iter()
            .filter(|k| matches!(k.state, KeyState::Active | KeyState::Retiring))
            .map(|k| (k.id, k.state))
            .collect();
        let origins = linked_origins_for(&self.domains, &self.public_url, &authority.did);
        if let Some(hit) = lock(&self.documents)
            .get(&authority.id)
            .filter(|c| c.fingerprint == fingerprint && c.origins == origins)
        {
            self.document_hits.record(true);
            return Ok(hit.doc.clone());
        }
        self.document_hits.record(false);
        let doc = authorities::did_document_from_keys(authority, keys, &origins)?;
        let mut documents = lock(&self.documents);
        if documents.len() >= MAX_ENTRIES {
            documents.clear();
        }
        documents.insert(
            authority.id,
            CachedDocument {
                fingerprint,
                origins,
                doc: doc.clone(),
            },
        );
        Ok(doc)
    }

    /// The DID of authority `id`.
    async fn did_of(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        if let Some(did) = lock(&self.dids).get(&id) {
            return Ok(Some(did.clone()));
        }
        let Some(authority) = self.store.authority(id).await? else {
            return Ok(None);
        };
        let mut dids = lock(&self.dids);
        if dids.len() >= MAX_ENTRIES {
            dids.clear();
        }
        dids.insert(id, authority.did.clone());
        Ok(Some(authority.did))
    }

    /// The list id when `url` is one of our status list URLs: `http(s)://<a host we serve>`
    /// + `/v1.0/status/<id>`, exactly what our status route answers.
    pub fn status_list_id(&self, url: &str) -> Option<Uuid> {
        self.status_list_view(url).map(|(id, _)| id)
    }

    /// The list id and whether `url` is its suspension view (`/v1.0/status/<id>/suspension`).
    pub fn status_list_view(&self, url: &str) -> Option<(Uuid, bool)> {
        let parsed = url::Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "https" | "http")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return None;
        }
        let host = crate::config::host_port(&parsed)?.to_ascii_lowercase();
        if !self.domains.contains(&host) {
            return None;
        }
        let rest = parsed.path().strip_prefix(STATUS_PATH)?;
        let (id, suspension) = match rest.strip_suffix("/suspension") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        Uuid::parse_str(id).ok().map(|id| (id, suspension))
    }

    /// The linkage verdict our own DID configuration gives `authority`: it lists the origins
    /// of the hosts we serve, and `/.well-known/did-configuration.json` there carries a
    /// credential signed by the authority's active key.
    async fn linkage(&self, authority: &Authority) -> LinkageResult {
        let origins = linked_origins_for(&self.domains, &self.public_url, &authority.did);
        let Some(origin) = origins.first() else {
            return LinkageResult::Unverified {
                reason: UnverifiedReason::NoLinkedDomainsService,
                origin: None,
            };
        };
        let origin = match normalize_origin(origin) {
            Ok(o) => o,
            Err(e) => {
                return LinkageResult::Unverified {
                    reason: UnverifiedReason::Malformed(e.to_string()),
                    origin: Some(origin.clone()),
                };
            }
        };
        match self.store.active_key(authority.id).await {
            Ok(Some(_)) => LinkageResult::Verified { origin },
            // Our configuration leaves out an authority without an active key.
            Ok(None) => LinkageResult::Unverified {
                reason: UnverifiedReason::NoMatchingCredential,
                origin: Some(origin),
            },
            Err(e) => LinkageResult::NotChecked {
                reason: format!("reading the service's own keys: {e}"),
            },
        }
    }
}

/// A store failure while resolving our own DID: transient, like an unreachable host.
fn store_unavailable(did: &str, e: &StoreError) -> DidError {
    tracing::warn!(did, error = %e, "own DID document: the database did not answer");
    DidError::Fetch(FetchError::Connect {
        url: did.to_owned(),
        reason: format!("the service's own database did not answer ({e})"),
    })
}

/// Resolves our own authorities' DIDs from the store, any other DID with `inner`.
#[derive(Debug)]
pub struct OwnResolver {
    own: Arc<OwnAuthorities>,
    inner: Arc<dyn DidResolver>,
}

impl OwnResolver {
    /// Our DIDs from `own`, the rest from `inner`.
    pub fn new(own: Arc<OwnAuthorities>, inner: Arc<dyn DidResolver>) -> Self {
        Self { own, inner }
    }
}

#[async_trait]
impl DidResolver for OwnResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        let authority = match self.own.authority(did).await {
            Ok(Some(a)) => a,
            Ok(None) => return self.inner.resolve(did).await,
            Err(e) => return Err(store_unavailable(did, &e)),
        };
        self.own.document(&authority).await.map_err(|e| match e {
            AuthorityError::Store(e) => store_unavailable(did, &e),
            other => DidError::InvalidDocument {
                reason: format!("the stored keys of {did}: {other}"),
            },
        })
    }
}

/// Reads our own status lists from the store (no signature round trip: it is our database),
/// any other list with `inner`.
#[derive(Debug)]
pub struct OwnStatusLists {
    own: Arc<OwnAuthorities>,
    inner: Arc<dyn StatusListSource>,
}

impl OwnStatusLists {
    /// Our lists from `own`, the rest from `inner`.
    pub fn new(own: Arc<OwnAuthorities>, inner: Arc<dyn StatusListSource>) -> Self {
        Self { own, inner }
    }
}

impl OwnStatusLists {
    /// Reads our list `id` and its authority's DID from the store.
    async fn read(
        &self,
        id: Uuid,
        url: &str,
    ) -> Result<(verity_store::StatusList, String), SourceError> {
        let unavailable = |e: StoreError| {
            tracing::warn!(url, error = %e, "own status list: the database did not answer");
            SourceError::Unavailable(format!(
                "status list {url}: the service's own database did not answer ({e})"
            ))
        };
        let list = self
            .own
            .store
            .status_list(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                SourceError::Invalid(format!("status list {url} does not exist on this service"))
            })?;
        let issuer = self
            .own
            .did_of(list.authority_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| SourceError::Invalid(format!("status list {url} has no authority")))?;
        Ok((list, issuer))
    }

    /// One view of a stored list: its revocation bits (or the bits of its only purpose), or
    /// with `suspension_view` the suspension bits of a multi-purpose list.
    fn view(
        list: &verity_store::StatusList,
        issuer: &str,
        url: &str,
        suspension_view: bool,
    ) -> Result<Arc<VerifiedStatusList>, SourceError> {
        let multi = list.purpose == verity_store::PURPOSE_REVOCATION_SUSPENSION;
        if suspension_view && !multi {
            return Err(SourceError::Invalid(format!(
                "status list {url} does not exist on this service (the list has no suspension view)"
            )));
        }
        let purpose = if suspension_view {
            StatusPurpose::Suspension
        } else if multi {
            StatusPurpose::Revocation
        } else {
            StatusPurpose::parse(&list.purpose).ok_or_else(|| {
                SourceError::Invalid(format!(
                    "status list {url} has the unknown purpose `{}`",
                    list.purpose
                ))
            })?
        };
        let bits = if suspension_view {
            crate::routes::status::suspension_bits(list)
        } else {
            Bitstring::from_bytes(list.bits.clone(), list.length as usize)
        }
        .map_err(|e| SourceError::Invalid(format!("status list {url}: {e}")))?;
        Ok(Arc::new(VerifiedStatusList::from_trusted_source(
            issuer, url, purpose, bits,
        )))
    }
}

#[async_trait]
impl StatusListSource for OwnStatusLists {
    async fn fetch(&self, url: &str, now: i64) -> Result<Arc<VerifiedStatusList>, SourceError> {
        let Some((id, suspension_view)) = self.own.status_list_view(url) else {
            return self.inner.fetch(url, now).await;
        };
        let (list, issuer) = self.read(id, url).await?;
        Self::view(&list, &issuer, url, suspension_view)
    }

    /// Our lists are read once per stored list, however many of its views are asked for (a
    /// suspendable credential's two entries point at one list).
    async fn fetch_all(
        &self,
        urls: &[String],
        now: i64,
    ) -> Vec<Result<Arc<VerifiedStatusList>, SourceError>> {
        let mut read: HashMap<Uuid, Result<(verity_store::StatusList, String), SourceError>> =
            HashMap::new();
        let mut lists = Vec::with_capacity(urls.len());
        for url in urls {
            let Some((id, suspension_view)) = self.own.status_list_view(url) else {
                lists.push(self.inner.fetch(url, now).await);
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = read.entry(id) {
                slot.insert(self.read(id, url).await);
            }
            lists.push(match read.get(&id) {
                Some(Ok((list, issuer))) => Self::view(list, issuer, url, suspension_view),
                Some(Err(e)) => Err(e.clone()),
                None => Err(SourceError::Invalid(format!("status list {url}: not read"))),
            });
        }
        lists
    }
}

#[derive(Debug, Clone)]
struct CachedVerdict {
    result: LinkageResult,
    expires_at: i64,
}

/// Domain linkage: our own authorities' verdicts from the store on every call, other DIDs'
/// verdicts from `inner`, kept for `ttl_secs`.
///
/// A verdict names the origin it concerns and `inner` checks the origins the DID document
/// lists, so keying by DID keeps one verdict per (DID, origin). "Could not check" is not
/// kept: a recovered site counts at once.
#[derive(Debug)]
pub struct OwnLinkage {
    own: Arc<OwnAuthorities>,
    inner: Arc<dyn LinkageChecker>,
    ttl_secs: i64,
    verdicts: Mutex<HashMap<String, CachedVerdict>>,
}

impl OwnLinkage {
    /// Our verdicts from `own`; others from `inner`, cached for `ttl_secs` (0: not cached).
    pub fn new(own: Arc<OwnAuthorities>, inner: Arc<dyn LinkageChecker>, ttl_secs: u64) -> Self {
        Self {
            own,
            inner,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
            verdicts: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl LinkageChecker for OwnLinkage {
    async fn check(&self, did: &str, now: i64) -> LinkageResult {
        match self.own.authority(did).await {
            Ok(Some(authority)) => return self.own.linkage(&authority).await,
            Ok(None) => {}
            Err(e) => {
                return LinkageResult::NotChecked {
                    reason: format!("reading the service's own authorities: {e}"),
                };
            }
        }
        if let Some(hit) = lock(&self.verdicts).get(did).filter(|c| now < c.expires_at) {
            return hit.result.clone();
        }
        let result = self.inner.check(did, now).await;
        if self.ttl_secs > 0 && !matches!(result, LinkageResult::NotChecked { .. }) {
            let mut verdicts = lock(&self.verdicts);
            if verdicts.len() >= MAX_ENTRIES {
                verdicts.retain(|_, c| now < c.expires_at);
                if verdicts.len() >= MAX_ENTRIES {
                    verdicts.clear();
                }
            }
            verdicts.insert(
                did.to_owned(),
                CachedVerdict {
                    result: result.clone(),
                    expires_at: now.saturating_add(self.ttl_secs),
                },
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::DateTime;
    use verity_core::{Clock, ManualClock};
    use verity_jose::{Algorithm, KeyEncryptionKey};
    use verity_store::testing::{Backend, TestDatabase, fresh_store};

    use super::*;

    const HOST: &str = "vc.example.test";
    const NOW: i64 = 1_790_000_000;

    /// Counts the calls that reached the delegate of a wrapper.
    #[derive(Debug, Default)]
    struct Delegate {
        calls: AtomicUsize,
        linkage: Mutex<Option<LinkageResult>>,
    }

    impl Delegate {
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl DidResolver for Delegate {
        async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(DidDocument::new(did))
        }
    }

    #[async_trait]
    impl StatusListSource for Delegate {
        async fn fetch(&self, url: &str, _: i64) -> Result<Arc<VerifiedStatusList>, SourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Err(SourceError::Unavailable(format!("{url}: not in this test")))
        }
    }

    #[async_trait]
    impl LinkageChecker for Delegate {
        async fn check(&self, _: &str, _: i64) -> LinkageResult {
            self.calls.fetch_add(1, Ordering::SeqCst);
            lock(&self.linkage)
                .clone()
                .unwrap_or(LinkageResult::NotChecked {
                    reason: "unset".into(),
                })
        }
    }

    struct Setup {
        _db: TestDatabase,
        store: Arc<dyn Store>,
        kek: KeyEncryptionKey,
        clock: ManualClock,
        own: Arc<OwnAuthorities>,
        authority: Authority,
    }

    async fn setup(backend: Backend) -> Option<Setup> {
        let (db, store) = fresh_store(backend).await?;
        let (kek, _) = KeyEncryptionKey::generate();
        let clock = ManualClock::new(DateTime::from_timestamp(NOW, 0).unwrap());
        let tenant = store.create_tenant("t", clock.now()).await.unwrap();
        let authority = authorities::create_authority(
            store.as_ref(),
            &kek,
            &clock,
            tenant.id,
            "Own",
            &format!("did:web:{HOST}"),
            Algorithm::ES256,
        )
        .await
        .unwrap();
        let domains = vec!["localhost:8080".to_owned(), HOST.to_owned()];
        let own = Arc::new(OwnAuthorities::new(
            store.clone(),
            "http://localhost:8080",
            &domains,
        ));
        Some(Setup {
            _db: db,
            store,
            kek,
            clock,
            own,
            authority,
        })
    }

    /// The document's key ids, sorted (keys created in the same instant list in any order).
    fn kids(doc: &DidDocument) -> Vec<String> {
        let mut kids: Vec<String> = doc
            .verification_method
            .iter()
            .map(|m| m.id.clone())
            .collect();
        kids.sort();
        kids
    }

    async fn own_documents_follow_the_store(backend: Backend) {
        let Some(s) = setup(backend).await else {
            return;
        };
        let inner = Arc::new(Delegate::default());
        let resolver = OwnResolver::new(s.own.clone(), inner.clone());
        let did = s.authority.did.clone();
        let first = s.store.active_key(s.authority.id).await.unwrap().unwrap();
        let doc = resolver.resolve(&did).await.unwrap();
        assert_eq!(kids(&doc), vec![format!("{did}#{}", first.kid)]);
        assert_eq!(
            doc.linked_domain_origins(),
            vec![format!("https://{HOST}/")]
        );
        // Exactly the document the route serves.
        let keys = s.store.authority_keys(s.authority.id).await.unwrap();
        let origins = linked_origins_for(&s.own.domains, &s.own.public_url, &did);
        assert_eq!(
            doc,
            authorities::did_document_from_keys(&s.authority, &keys, &origins).unwrap()
        );
        assert_eq!(resolver.resolve(&did).await.unwrap(), doc);

        // A rotation written by another replica is in the very next resolution.
        let second = authorities::rotate_key(
            s.store.as_ref(),
            &s.kek,
            &s.clock,
            s.authority.id,
            Algorithm::EdDSA,
        )
        .await
        .unwrap();
        let doc = resolver.resolve(&did).await.unwrap();
        let mut both = vec![
            format!("{did}#{}", second.kid),
            format!("{did}#{}", first.kid),
        ];
        both.sort();
        assert_eq!(kids(&doc), both);
        // And so is the revocation of the old key.
        s.store
            .set_key_state(first.id, KeyState::Revoked, s.clock.now())
            .await
            .unwrap();
        let doc = resolver.resolve(&did).await.unwrap();
        assert_eq!(kids(&doc), vec![format!("{did}#{}", second.kid)]);
        assert!(
            doc.key_for(
                &format!("{did}#{}", first.kid),
                verity_did::Relationship::AssertionMethod
            )
            .is_err()
        );

        // Nothing of ours went to the delegate; other DIDs do.
        assert_eq!(inner.calls(), 0);
        resolver.resolve("did:web:elsewhere.test").await.unwrap();
        resolver.resolve("did:jwk:e30").await.unwrap();
        assert_eq!(inner.calls(), 2);
    }

    #[tokio::test]
    async fn own_documents_follow_the_store_on_sqlite() {
        own_documents_follow_the_store(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn own_documents_follow_the_store_on_postgres() {
        own_documents_follow_the_store(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn only_our_status_list_urls_are_read_from_the_store() {
        let Some(s) = setup(Backend::Sqlite).await else {
            return;
        };
        let id = Uuid::new_v4();
        let ours = |base: &str| format!("{base}/v1.0/status/{id}");
        assert_eq!(
            s.own.status_list_id(&ours("http://localhost:8080")),
            Some(id)
        );
        assert_eq!(
            s.own.status_list_id(&ours(&format!("https://{HOST}"))),
            Some(id)
        );
        assert_eq!(
            s.own.status_list_id(&ours("https://VC.Example.Test")),
            Some(id)
        );
        for other in [
            ours("https://other.test"),
            ours("http://localhost:8081"),
            ours("ftp://localhost:8080"),
            ours("https://user@vc.example.test"),
            format!("{}?x=1", ours("http://localhost:8080")),
            format!("{}#frag", ours("http://localhost:8080")),
            format!("http://localhost:8080/v1.0/status/{id}/more"),
            format!("http://localhost:8080/v2/status/{id}"),
            "http://localhost:8080/v1.0/status/not-a-uuid".to_owned(),
            "not a url".to_owned(),
        ] {
            assert_eq!(s.own.status_list_id(&other), None, "{other}");
        }

        let inner = Arc::new(Delegate::default());
        let source = OwnStatusLists::new(s.own.clone(), inner.clone());
        // Ours but unknown: refused from the store, not fetched.
        let e = source
            .fetch(&ours("http://localhost:8080"), NOW)
            .await
            .unwrap_err();
        assert!(
            !e.is_unavailable() && e.reason().contains("does not exist"),
            "{e}"
        );
        assert_eq!(inner.calls(), 0);
        // Someone else's: delegated.
        source
            .fetch(&ours("https://other.test"), NOW)
            .await
            .unwrap_err();
        assert_eq!(inner.calls(), 1);

        // A real list of ours: the stored bits, as the authority's list.
        let alloc = s
            .store
            .allocate_status_index(
                s.authority.id,
                "revocation",
                131_072,
                &|_| Some(3),
                s.clock.now(),
            )
            .await
            .unwrap();
        let url = format!("https://{HOST}/v1.0/status/{}", alloc.list_id);
        let list = source.fetch(&url, NOW).await.unwrap();
        assert_eq!(list.issuer(), s.authority.did);
        assert_eq!(list.url(), url);
        assert!(list.has_purpose("revocation"));
        assert_eq!(list.bitstring().len(), 131_072);
        assert!(!list.bitstring().get(3).unwrap());
        assert_eq!(inner.calls(), 1);
    }

    /// A suspendable credential's two entries point at one stored list: `fetch_all` reads it
    /// once and answers both views, others' lists still go to the inner source, in order.
    #[tokio::test]
    async fn fetch_all_reads_each_stored_list_once() {
        let Some(s) = setup(Backend::Sqlite).await else {
            return;
        };
        let faulty = Arc::new(verity_store::testing::FaultyStore::new(s.store.clone()));
        let own = Arc::new(OwnAuthorities::new(
            faulty.clone(),
            "http://localhost:8080",
            &["localhost:8080".to_owned(), HOST.to_owned()],
        ));
        let inner = Arc::new(Delegate::default());
        let source = OwnStatusLists::new(own, inner.clone());
        let alloc = s
            .store
            .allocate_status_index(
                s.authority.id,
                verity_store::PURPOSE_REVOCATION_SUSPENSION,
                131_072,
                &|_| Some(9),
                s.clock.now(),
            )
            .await
            .unwrap();
        let url = format!("https://{HOST}/v1.0/status/{}", alloc.list_id);
        let urls = vec![
            url.clone(),
            format!("{url}/suspension"),
            "https://other.test/v1.0/status/1".to_owned(),
        ];
        let lists = source.fetch_all(&urls, NOW).await;
        let reads = faulty
            .calls()
            .iter()
            .filter(|c| **c == "status_list")
            .count();
        assert_eq!(reads, 1, "{:?}", faulty.calls());
        let revocation = lists[0].as_ref().unwrap();
        assert!(revocation.has_purpose("revocation") && revocation.url() == url);
        let suspension = lists[1].as_ref().unwrap();
        assert!(suspension.has_purpose("suspension"));
        assert_eq!(suspension.url(), format!("{url}/suspension"));
        assert!(lists[2].is_err(), "delegated");
        assert_eq!(inner.calls(), 1);
        // One at a time, each view is a read of its own.
        source.fetch(&urls[0], NOW).await.unwrap();
        source.fetch(&urls[1], NOW).await.unwrap();
        let reads = faulty
            .calls()
            .iter()
            .filter(|c| **c == "status_list")
            .count();
        assert_eq!(reads, 3);
    }

    #[tokio::test]
    async fn linkage_is_ours_from_the_store_and_others_cached() {
        let Some(s) = setup(Backend::Sqlite).await else {
            return;
        };
        let inner = Arc::new(Delegate::default());
        let checker = OwnLinkage::new(s.own.clone(), inner.clone(), 300);
        assert_eq!(
            checker.check(&s.authority.did, NOW).await,
            LinkageResult::Verified {
                origin: format!("https://{HOST}")
            }
        );
        assert_eq!(inner.calls(), 0);

        let other = "did:web:partner.test";
        // "Could not check" is not a verdict: asked again next time.
        checker.check(other, NOW).await;
        checker.check(other, NOW).await;
        assert_eq!(inner.calls(), 2);
        let verified = LinkageResult::Verified {
            origin: "https://partner.test".into(),
        };
        *lock(&inner.linkage) = Some(verified.clone());
        assert_eq!(checker.check(other, NOW).await, verified);
        assert_eq!(checker.check(other, NOW + 299).await, verified);
        assert_eq!(inner.calls(), 3);
        // Expired: checked again.
        *lock(&inner.linkage) = Some(LinkageResult::Unverified {
            reason: UnverifiedReason::SignatureInvalid,
            origin: Some("https://partner.test".into()),
        });
        assert!(matches!(
            checker.check(other, NOW + 300).await,
            LinkageResult::Unverified { .. }
        ));
        assert_eq!(inner.calls(), 4);

        // TTL 0: never cached.
        let uncached = OwnLinkage::new(s.own.clone(), inner.clone(), 0);
        uncached.check(other, NOW).await;
        uncached.check(other, NOW).await;
        assert_eq!(inner.calls(), 6);

        // An authority of ours on a host this service does not serve lists no origin.
        let tenant = s.store.list_tenants().await.unwrap()[0].id;
        let stray = authorities::create_authority(
            s.store.as_ref(),
            &s.kek,
            &s.clock,
            tenant,
            "Stray",
            "did:web:not-served.test",
            Algorithm::ES256,
        )
        .await
        .unwrap();
        assert_eq!(
            checker.check(&stray.did, NOW).await,
            LinkageResult::Unverified {
                reason: UnverifiedReason::NoLinkedDomainsService,
                origin: None
            }
        );
        assert_eq!(inner.calls(), 6);
    }
}
