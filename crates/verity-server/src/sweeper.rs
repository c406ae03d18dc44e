//! The background sweeper: the retention policy (`[retention]`, docs/OPERATIONS.md,
//! "Retention"). Every `sweep_interval_secs` each replica deletes expired replay records,
//! requests (their results, receipts and callbacks) kept `requests_after_expiry_secs` past
//! their expiry, audit entries older than `audit_days`, and clears the held verdict (with the
//! credential's photo) of face checks that expired while the selfie was awaited; in bounded
//! batches, off every request's path. Replicas sweep side by side (Postgres skips rows another
//! replica is deleting).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use verity_core::Clock;
use verity_store::{PurgePolicy, Purged, Store};

use crate::config::ConfigError;

/// The retention policy (`[retention]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How long a request is kept after it expired, seconds, so RPs can still poll its outcome
    /// (default 86400). Its status, result (claims, receipt, face-check score) and callback
    /// rows go with it; a request with a callback still pending waits for that callback to be
    /// delivered or given up. 0 purges at the first sweep after expiry.
    pub requests_after_expiry_secs: u64,
    /// How long audit entries are kept, days (default 400; 0 keeps them forever).
    pub audit_days: u32,
    /// How often each replica sweeps, seconds (default 60).
    pub sweep_interval_secs: u64,
    /// Rows of each kind per batch (one short statement each; default 1000).
    pub batch: u32,
    /// Batches per sweep at most (default 100): with the defaults one replica removes up to
    /// 100,000 rows of each kind per minute.
    pub max_batches: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            requests_after_expiry_secs: 24 * 3600,
            audit_days: 400,
            sweep_interval_secs: 60,
            batch: 1000,
            max_batches: 100,
        }
    }
}

impl RetentionConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, u64, std::ops::RangeInclusive<u64>); 5] = [
            (
                "retention.requests_after_expiry_secs",
                self.requests_after_expiry_secs,
                0..=10 * 366 * 86_400,
            ),
            (
                "retention.audit_days",
                u64::from(self.audit_days),
                0..=36_600,
            ),
            (
                "retention.sweep_interval_secs",
                self.sweep_interval_secs,
                1..=86_400,
            ),
            ("retention.batch", u64::from(self.batch), 1..=10_000),
            (
                "retention.max_batches",
                u64::from(self.max_batches),
                1..=10_000,
            ),
        ];
        for (key, value, range) in checks {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!(
                        "must be between {} and {}, not {value}",
                        range.start(),
                        range.end()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The policy of a sweep at `now`.
    fn policy(&self, now: chrono::DateTime<chrono::Utc>) -> PurgePolicy {
        // `secs` before `now`; the earliest time the stores take (year 1) when that is out of
        // range (only an unvalidated configuration gets there): nothing is that old.
        let before = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or_else(year_one)
        };
        PurgePolicy {
            now,
            requests_before: before(self.requests_after_expiry_secs),
            audit_before: (self.audit_days > 0)
                .then(|| before(u64::from(self.audit_days).saturating_mul(86_400))),
            batch: self.batch,
        }
    }
}

/// 0001-01-01T00:00:00Z, the earliest time both stores take.
fn year_one() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or_default()
}

/// One sweep: batches until none fills up (or `max_batches` ran). Returns what it removed.
/// Failures are logged, not fatal: the next sweep carries on.
pub async fn sweep_once(store: &dyn Store, clock: &dyn Clock, config: &RetentionConfig) -> Purged {
    let mut total = Purged::default();
    for _ in 0..config.max_batches {
        match store.purge_expired(&config.policy(clock.now())).await {
            Ok(purged) => {
                total = total + purged;
                if !purged.any_full(config.batch) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "sweeper: purge failed; retrying next run");
                break;
            }
        }
    }
    if total != Purged::default() {
        tracing::debug!(
            replay_records = total.replay_records,
            requests = total.requests,
            audit_entries = total.audit_entries,
            face_checks = total.face_checks,
            "sweeper purged expired rows"
        );
    }
    total
}

/// Sweeps every `sweep_interval_secs` until the task is dropped.
pub async fn run(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: RetentionConfig) {
    let every = Duration::from_secs(config.sweep_interval_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        sweep_once(store.as_ref(), clock.as_ref(), &config).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_core::ManualClock;

    fn small(batch: u32, max_batches: u32) -> RetentionConfig {
        RetentionConfig {
            batch,
            max_batches,
            ..RetentionConfig::default()
        }
    }

    #[tokio::test]
    async fn a_sweep_purges_in_batches_until_nothing_is_left() {
        let store = verity_store::connect("sqlite::memory:").await.unwrap();
        let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let exp = clock.now() + chrono::Duration::seconds(10);
        for i in 0..1_200 {
            assert!(
                store
                    .consume_once("s", &i.to_string(), exp, clock.now())
                    .await
                    .unwrap()
            );
        }
        let config = small(500, 20);
        assert_eq!(
            sweep_once(store.as_ref(), &clock, &config).await,
            Purged::default(),
            "nothing expired yet"
        );
        clock.advance(chrono::Duration::seconds(11));
        assert_eq!(
            sweep_once(store.as_ref(), &clock, &config)
                .await
                .replay_records,
            1_200
        );
        assert!(!store.is_once_taken("s", "7", clock.now()).await.unwrap());
    }

    #[tokio::test]
    async fn a_sweep_stops_after_max_batches() {
        let store = verity_store::connect("sqlite::memory:").await.unwrap();
        let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let exp = clock.now() + chrono::Duration::seconds(10);
        for i in 0..50 {
            store
                .consume_once("s", &i.to_string(), exp, clock.now())
                .await
                .unwrap();
        }
        clock.advance(chrono::Duration::seconds(11));
        let config = small(10, 2);
        assert_eq!(
            sweep_once(store.as_ref(), &clock, &config)
                .await
                .replay_records,
            20
        );
        assert_eq!(
            sweep_once(store.as_ref(), &clock, &config)
                .await
                .replay_records,
            20
        );
    }

    #[test]
    fn the_policy_follows_the_configuration() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = RetentionConfig::default().policy(now);
        assert_eq!(p.requests_before, now - chrono::Duration::days(1));
        assert_eq!(p.audit_before, Some(now - chrono::Duration::days(400)));
        let keep = RetentionConfig {
            audit_days: 0,
            requests_after_expiry_secs: 0,
            ..RetentionConfig::default()
        };
        let p = keep.policy(now);
        assert_eq!(p.audit_before, None, "0 keeps the audit log");
        assert_eq!(p.requests_before, now);
        let huge = RetentionConfig {
            requests_after_expiry_secs: u64::MAX,
            audit_days: u32::MAX,
            ..RetentionConfig::default()
        };
        let p = huge.policy(now);
        assert_eq!(p.requests_before, year_one());
        assert_eq!(p.audit_before, Some(year_one()));
        assert_eq!(year_one().to_rfc3339(), "0001-01-01T00:00:00+00:00");
    }

    #[test]
    fn out_of_range_settings_name_their_key() {
        RetentionConfig::default().validate().unwrap();
        for (config, key) in [
            (small(0, 1), "retention.batch"),
            (small(10, 0), "retention.max_batches"),
            (
                RetentionConfig {
                    sweep_interval_secs: 0,
                    ..RetentionConfig::default()
                },
                "retention.sweep_interval_secs",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
