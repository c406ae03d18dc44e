//! Token buckets keyed by client address or API client (guessing and flooding are the threats).
//! Kept in-process: each replica limits on its own, which bounds guessing per replica.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token buckets keyed by `K` (a client address by default).
#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    /// `None`: no limit (configured as 0).
    capacity: Option<f64>,
    per_sec: f64,
    buckets: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    /// When full buckets were last forgotten (at most once a second: a flood of new keys must
    /// not make every request scan the map).
    pruned: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before the ones that have refilled are forgotten.
const MAX_BUCKETS: usize = 10_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Allows `per_minute` requests per minute per key, with bursts up to `per_minute`;
    /// 0 turns the limit off.
    pub fn per_minute(per_minute: u32) -> Self {
        let capacity = (per_minute > 0).then_some(f64::from(per_minute));
        Self {
            capacity,
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                pruned: None,
            }),
        }
    }

    /// Takes one token for `key` at `now`; `Err(retry_after)` when the bucket is empty.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |b, per_sec| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(retry_after(b.tokens, per_sec))
            }
        })
    }

    /// Whether `key` has a token left at `now`, without taking it (`Err(retry_after)` when
    /// not): for limits that count only failures, charged with [`RateLimiter::charge`].
    pub fn peek(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |b, per_sec| {
            if b.tokens >= 1.0 {
                Ok(())
            } else {
                Err(retry_after(b.tokens, per_sec))
            }
        })
    }

    /// Takes one token for `key` at `now` (down to empty, never below).
    pub fn charge(&self, key: &K, now: Instant) {
        let _ = self.check(key, now);
    }

    fn with_bucket(
        &self,
        key: &K,
        now: Instant,
        f: impl FnOnce(&mut Bucket, f64) -> Result<(), Duration>,
    ) -> Result<(), Duration> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let due = buckets
            .pruned
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if buckets.map.len() > MAX_BUCKETS && due {
            // Forget keys whose buckets have refilled: they carry no state worth keeping.
            let full = Duration::from_secs_f64(capacity / self.per_sec);
            buckets
                .map
                .retain(|_, b| now.saturating_duration_since(b.at) < full);
            buckets.pruned = Some(now);
        }
        let bucket = buckets.map.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(capacity);
        bucket.at = now;
        f(bucket, self.per_sec)
    }
}

fn retry_after(tokens: f64, per_sec: f64) -> Duration {
    Duration::from_secs_f64(((1.0 - tokens) / per_sec).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refills() {
        let rl = RateLimiter::per_minute(3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(rl.check(&ip, t0).is_ok());
        assert!(rl.check(&ip, t0).is_ok());
        assert!(rl.check(&ip, t0).is_ok());
        let retry = rl.check(&ip, t0).unwrap_err();
        assert!(retry <= Duration::from_secs(20) && retry > Duration::from_secs(19));
        assert!(rl.check(&other, t0).is_ok(), "buckets are per address");
        assert!(rl.check(&ip, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn refilled_buckets_are_forgotten_when_there_are_many() {
        let rl: RateLimiter<u32> = RateLimiter::per_minute(60);
        let t0 = Instant::now();
        for k in 0..=MAX_BUCKETS as u32 {
            rl.check(&k, t0).unwrap();
        }
        let later = t0 + Duration::from_secs(61);
        rl.check(&u32::MAX, later).unwrap();
        let left = rl.buckets.lock().unwrap().map.len();
        assert_eq!(left, 1, "only the new key's bucket is kept");
    }

    #[test]
    fn zero_is_no_limit() {
        let rl = RateLimiter::per_minute(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(rl.check(&"a".to_owned(), t0).is_ok());
        }
    }

    #[test]
    fn peek_takes_nothing_and_charge_empties() {
        let rl: RateLimiter<String> = RateLimiter::per_minute(2);
        let k = "client".to_owned();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(rl.peek(&k, t0).is_ok());
        }
        rl.charge(&k, t0);
        rl.charge(&k, t0);
        rl.charge(&k, t0);
        assert!(rl.peek(&k, t0).is_err());
        assert!(rl.peek(&k, t0 + Duration::from_secs(30)).is_ok());
    }
}
