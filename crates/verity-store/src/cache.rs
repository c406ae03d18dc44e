//! In-process copies of rows that never change once written.
//!
//! An authority row (id, tenant, name, DID) is immutable: the store has no method that
//! changes or deletes one. A row read once is therefore the row for good, on every replica,
//! and the hot path (every request object, manifest, credential and presentation looks up
//! its authority, some by DID) need not ask the database again. What does change about an
//! authority, its keys, is never cached here. A store method that changed or deleted
//! authorities would have to drop this cache on every replica, so adding one means
//! removing the cache first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use crate::model::Authority;

/// Authorities remembered at most; beyond it the cache starts over.
const MAX_AUTHORITIES: usize = 10_000;

#[derive(Default)]
struct Inner {
    by_id: HashMap<Uuid, Authority>,
    by_did: HashMap<String, Uuid>,
}

/// Authorities read or created by this store, by id and by DID (shared by clones).
#[derive(Clone, Default)]
pub(crate) struct AuthorityCache(Arc<Mutex<Inner>>);

impl AuthorityCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn by_id(&self, id: Uuid) -> Option<Authority> {
        self.lock().by_id.get(&id).cloned()
    }

    pub(crate) fn by_did(&self, did: &str) -> Option<Authority> {
        let inner = self.lock();
        inner
            .by_did
            .get(did)
            .and_then(|id| inner.by_id.get(id))
            .cloned()
    }

    /// Remembers `a` (a row read from, or just committed to, the database); returns it.
    pub(crate) fn put(&self, a: Authority) -> Authority {
        let mut inner = self.lock();
        if inner.by_id.len() >= MAX_AUTHORITIES {
            inner.by_id.clear();
            inner.by_did.clear();
        }
        inner.by_did.insert(a.did.clone(), a.id);
        inner.by_id.insert(a.id, a.clone());
        a
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Utc;

    fn authority(n: u128) -> Authority {
        Authority {
            id: Uuid::from_u128(n),
            tenant_id: Uuid::nil(),
            name: format!("a{n}"),
            did: format!("did:web:a{n}.test"),
            created_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn found_by_id_and_did_and_shared_by_clones() {
        let cache = AuthorityCache::default();
        let copy = cache.clone();
        assert_eq!(cache.by_id(Uuid::from_u128(1)), None);
        let a = cache.put(authority(1));
        assert_eq!(copy.by_id(a.id), Some(a.clone()));
        assert_eq!(copy.by_did("did:web:a1.test"), Some(a));
        assert_eq!(copy.by_did("did:web:a2.test"), None);
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = AuthorityCache::default();
        for n in 0..=MAX_AUTHORITIES as u128 {
            cache.put(authority(n));
        }
        assert!(cache.lock().by_id.len() <= MAX_AUTHORITIES);
        assert!(
            cache
                .by_id(Uuid::from_u128(MAX_AUTHORITIES as u128))
                .is_some()
        );
    }
}
