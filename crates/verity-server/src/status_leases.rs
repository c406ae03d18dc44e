//! Status-list indices for issuances, taken from the store a batch at a time.
//!
//! Allocating one index is a store transaction that reads and rewrites the list's allocation
//! bitmap (16 KB for a 131,072-entry list). This process instead takes
//! `[issuance] status_index_batch` random free indices in one such transaction and hands them
//! out one per issuance from memory. Every index of a batch is marked used in the store when
//! the batch is taken, so no index is ever handed out twice, across replicas too (each takes
//! its own batches); the indices still held when the process stops are simply never used,
//! which costs at most one batch of entries per authority and purpose per restart. Indices are
//! picked at random over the whole list, as one at a time, so holders keep their herd privacy.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rand_core::OsRng;
use uuid::Uuid;
use verity_store::{StatusAllocation, Store, StoreError};

/// Indices taken from the store and not handed out yet, per (authority, purpose).
pub struct StatusIndexLeases {
    batch: u32,
    held: Mutex<HashMap<(Uuid, String), Vec<StatusAllocation>>>,
}

impl std::fmt::Debug for StatusIndexLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusIndexLeases")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// A random free index of `bitmap` (bit set = used, most significant bit first).
fn random_free_index(bitmap: &[u8]) -> Option<u32> {
    let len = u32::try_from(bitmap.len() * 8).unwrap_or(u32::MAX);
    let taken = |i: u32| {
        let i = i as usize;
        bitmap
            .get(i / 8)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    };
    verity_status_list::pick_free_index(len, taken, &mut OsRng)
}

impl StatusIndexLeases {
    /// Leases of `batch` indices (at least 1).
    pub fn new(batch: u32) -> Self {
        Self {
            batch: batch.max(1),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn pop(&self, key: &(Uuid, String)) -> Option<StatusAllocation> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get_mut(key).and_then(Vec::pop)
    }

    /// An index of a `list_length`-entry list of `authority_id` for `purpose`, never handed
    /// out before: from the batch held, or from a new batch taken from the store.
    pub async fn take(
        &self,
        store: &dyn Store,
        authority_id: Uuid,
        purpose: &str,
        list_length: u32,
        now: DateTime<Utc>,
    ) -> Result<StatusAllocation, StoreError> {
        let key = (authority_id, purpose.to_owned());
        if let Some(a) = self.pop(&key) {
            return Ok(a);
        }
        // Concurrent issuances that find the batch empty each take one; both are valid.
        let mut batch = store
            .allocate_status_indices(
                authority_id,
                purpose,
                list_length,
                self.batch,
                &random_free_index,
                now,
            )
            .await?;
        let mine = batch.pop().ok_or_else(|| {
            StoreError::InvalidData("the status index allocation returned nothing".into())
        })?;
        if !batch.is_empty() {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.entry(key).or_default().extend(batch);
        }
        Ok(mine)
    }

    /// Forgets every index held (of one authority, or all): after its lists were closed, this
    /// process takes its next batch from a new list. Returns how many indices were dropped;
    /// they stay unused.
    pub fn forget(&self, authority_id: Option<Uuid>) -> usize {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut dropped = 0;
        held.retain(|(authority, _), indices| {
            let keep = authority_id.is_some_and(|a| a != *authority);
            if !keep {
                dropped += indices.len();
            }
            keep
        });
        dropped
    }

    /// Indices held for `authority_id` and `purpose` (for tests and metrics).
    pub fn held(&self, authority_id: Uuid, purpose: &str) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&(authority_id, purpose.to_owned()))
            .map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;
    use verity_store::testing::{Backend, fresh_store};

    async fn authority(store: &Arc<dyn Store>) -> Uuid {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 4, 12, 0, 0).unwrap();
        let tenant = store.create_tenant("t", now).await.unwrap();
        let key = verity_store::NewKey {
            id: Uuid::new_v4(),
            kid: "key-1".into(),
            alg: "ES256".into(),
            public_jwk: serde_json::json!({ "kty": "EC" }),
            private_key_enc: vec![1, 2, 3],
            kek_id: "kek".into(),
        };
        store
            .create_authority(tenant.id, "a", "did:web:a.test", &key, now)
            .await
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn a_batch_is_taken_once_and_handed_out_without_repeats() {
        let Some((_db, store)) = fresh_store(Backend::Sqlite).await else {
            return;
        };
        let authority = authority(&store).await;
        let leases = StatusIndexLeases::new(8);
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 4, 12, 0, 0).unwrap();
        let mut seen = HashSet::new();
        for i in 0..20 {
            let a = leases
                .take(store.as_ref(), authority, "revocation", 64, now)
                .await
                .unwrap();
            assert!(seen.insert((a.list_id, a.index)), "{a:?} twice");
            // 8 per batch: after the 1st, 9th and 17th take a new batch was taken.
            assert_eq!(
                leases.held(authority, "revocation"),
                7 - (i % 8),
                "take {i}"
            );
        }
        let list = store
            .status_list(seen.iter().next().unwrap().0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            list.allocated_count, 24,
            "three batches of 8 are marked used"
        );
        assert_eq!(leases.held(authority, "suspension"), 0);
    }

    #[tokio::test]
    async fn two_processes_leasing_the_same_list_never_share_an_index() {
        let Some((_db, store)) = fresh_store(Backend::Sqlite).await else {
            return;
        };
        let authority = authority(&store).await;
        let (a, b) = (StatusIndexLeases::new(5), StatusIndexLeases::new(7));
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 4, 12, 0, 0).unwrap();
        let mut seen = HashSet::new();
        for _ in 0..30 {
            for leases in [&a, &b] {
                let x = leases
                    .take(store.as_ref(), authority, "revocation", 64, now)
                    .await
                    .unwrap();
                assert!(seen.insert((x.list_id, x.index)), "{x:?} twice");
            }
        }
        assert_eq!(seen.len(), 60);
    }
}
