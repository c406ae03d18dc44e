//! A per-client-address token bucket for the token endpoint (credential guessing is the threat).
//! Kept in-process: each replica limits on its own, which bounds guessing per replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token buckets keyed by client address.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Allows `per_minute` requests per minute per address, with bursts up to `per_minute`.
    pub fn per_minute(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_sec: capacity / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `addr` at `now`; `Err(retry_after)` when the bucket is empty.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // Forget addresses whose buckets have refilled: they carry no state worth keeping.
            let full = Duration::from_secs_f64(self.capacity / self.per_sec);
            buckets.retain(|_, b| now.duration_since(b.at) < full);
        }
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_sec,
            ))
        }
    }
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
        assert!(rl.check(ip, t0).is_ok());
        assert!(rl.check(ip, t0).is_ok());
        assert!(rl.check(ip, t0).is_ok());
        let retry = rl.check(ip, t0).unwrap_err();
        assert!(retry <= Duration::from_secs(20) && retry > Duration::from_secs(19));
        assert!(rl.check(other, t0).is_ok(), "buckets are per address");
        assert!(rl.check(ip, t0 + Duration::from_secs(20)).is_ok());
    }
}
