//! Test doubles for the pipeline's seams (feature `test-util`): faithful in-memory versions
//! with switches to simulate outages, and counters to assert on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use verity_linked_domains::LinkageResult;
use verity_status_list::VerifiedStatusList;

use crate::{LinkageChecker, ReplayGuard, SourceError, StatusListSource};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Test double of [`ReplayGuard`]: an in-memory single-use set with expiry (the server's
/// production guard is the store's `consume_once`).
#[derive(Debug, Default)]
pub struct TestReplayGuard {
    used: Mutex<HashMap<(String, String), i64>>,
    unavailable: Mutex<bool>,
}

impl TestReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every `consume` fail as unreachable (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        *lock(&self.unavailable) = unavailable;
    }

    /// How many values are recorded.
    pub fn consumed(&self) -> usize {
        lock(&self.used).len()
    }

    /// The expiry recorded for `value` in `scope`.
    pub fn expiry_of(&self, scope: &str, value: &str) -> Option<i64> {
        lock(&self.used)
            .get(&(scope.to_owned(), value.to_owned()))
            .copied()
    }
}

#[async_trait]
impl ReplayGuard for TestReplayGuard {
    async fn consume(
        &self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, SourceError> {
        if *lock(&self.unavailable) {
            return Err(SourceError::Unavailable(
                "the replay store is switched off".into(),
            ));
        }
        let mut used = lock(&self.used);
        let key = (scope.to_owned(), value.to_owned());
        match used.get(&key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                used.insert(key, expires_at);
                Ok(true)
            }
        }
    }
}

/// Test double of [`StatusListSource`]: answers from a map of URL to verified list (or error)
/// and counts fetches per URL.
#[derive(Debug, Default)]
pub struct TestStatusSource {
    lists: Mutex<HashMap<String, Result<Arc<VerifiedStatusList>, SourceError>>>,
    fetches: Mutex<HashMap<String, usize>>,
}

impl TestStatusSource {
    /// An empty source: every URL is unavailable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `list` at `url`.
    pub fn insert(&self, url: &str, list: VerifiedStatusList) {
        lock(&self.lists).insert(url.to_owned(), Ok(Arc::new(list)));
    }

    /// Answers `url` with `error`.
    pub fn insert_error(&self, url: &str, error: SourceError) {
        lock(&self.lists).insert(url.to_owned(), Err(error));
    }

    /// How many times `url` was fetched.
    pub fn fetches(&self, url: &str) -> usize {
        lock(&self.fetches).get(url).copied().unwrap_or(0)
    }
}

#[async_trait]
impl StatusListSource for TestStatusSource {
    async fn fetch(&self, url: &str, _now: i64) -> Result<Arc<VerifiedStatusList>, SourceError> {
        *lock(&self.fetches).entry(url.to_owned()).or_default() += 1;
        lock(&self.lists).get(url).cloned().unwrap_or_else(|| {
            Err(SourceError::Unavailable(format!(
                "no list is served at {url}"
            )))
        })
    }
}

/// Test double of [`LinkageChecker`]: scripted results per DID (`NotChecked` for others), with
/// a call counter.
#[derive(Debug, Default)]
pub struct TestLinkageChecker {
    results: Mutex<HashMap<String, LinkageResult>>,
    calls: Mutex<usize>,
}

impl TestLinkageChecker {
    /// A checker with no scripted results.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the result for `did`.
    pub fn set(&self, did: &str, result: LinkageResult) {
        lock(&self.results).insert(did.to_owned(), result);
    }

    /// How many checks ran.
    pub fn calls(&self) -> usize {
        *lock(&self.calls)
    }
}

#[async_trait]
impl LinkageChecker for TestLinkageChecker {
    async fn check(&self, did: &str, _now: i64) -> LinkageResult {
        *lock(&self.calls) += 1;
        lock(&self.results)
            .get(did)
            .cloned()
            .unwrap_or_else(|| LinkageResult::NotChecked {
                reason: format!("no scripted linkage result for {did}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_guard_is_single_use_until_expiry() {
        let g = TestReplayGuard::new();
        assert!(g.consume("vp_token", "j1", 100, 10).await.unwrap());
        assert!(!g.consume("vp_token", "j1", 100, 50).await.unwrap());
        // Another scope is another namespace.
        assert!(g.consume("nonce", "j1", 100, 50).await.unwrap());
        // After expiry the slot may be taken again (the token would fail its time check).
        assert!(g.consume("vp_token", "j1", 200, 100).await.unwrap());
        assert_eq!(g.expiry_of("vp_token", "j1"), Some(200));
        g.set_unavailable(true);
        assert!(
            g.consume("vp_token", "j2", 100, 10)
                .await
                .unwrap_err()
                .is_unavailable()
        );
    }

    #[tokio::test]
    async fn status_source_counts_fetches() {
        let s = TestStatusSource::new();
        assert!(
            s.fetch("https://x/1", 0)
                .await
                .unwrap_err()
                .is_unavailable()
        );
        s.insert_error("https://x/1", SourceError::Invalid("bad".into()));
        assert_eq!(
            s.fetch("https://x/1", 0).await.unwrap_err(),
            SourceError::Invalid("bad".into())
        );
        assert_eq!(s.fetches("https://x/1"), 2);
        assert_eq!(s.fetches("https://x/2"), 0);
    }
}
