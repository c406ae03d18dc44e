//! The background sweeper: removes expired replay records and long-expired requests in
//! bounded batches, off every request's path.

use std::sync::Arc;
use std::time::Duration;

use verity_core::Clock;
use verity_store::Store;

/// How often the sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a request is kept after it expired, so RPs can still poll its outcome.
pub const KEEP_EXPIRED_REQUESTS_SECS: i64 = 24 * 3600;
/// Rows of each kind deleted per batch.
const BATCH: u32 = 500;
/// Batches per run at most, so one run cannot hold the database for long.
const MAX_BATCHES: usize = 20;

/// One sweep: batches until a batch deletes less than a full batch (or the cap is reached).
/// Returns the rows deleted (replay records, requests). Failures are logged, not fatal.
pub async fn sweep_once(store: &dyn Store, clock: &dyn Clock) -> (u64, u64) {
    let mut total = (0, 0);
    for _ in 0..MAX_BATCHES {
        let now = clock.now();
        let before = now - chrono::Duration::seconds(KEEP_EXPIRED_REQUESTS_SECS);
        match store.purge_expired(now, before, BATCH).await {
            Ok((once, requests)) => {
                total = (total.0 + once, total.1 + requests);
                if once < u64::from(BATCH) && requests < u64::from(BATCH) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "sweeper: purge failed; retrying next run");
                break;
            }
        }
    }
    if total != (0, 0) {
        tracing::debug!(
            replay_records = total.0,
            requests = total.1,
            "sweeper purged expired rows"
        );
    }
    total
}

/// Sweeps every [`SWEEP_EVERY`] until the task is dropped.
pub async fn run(store: Arc<dyn Store>, clock: Arc<dyn Clock>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        sweep_once(store.as_ref(), clock.as_ref()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_core::ManualClock;

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
        assert_eq!(
            sweep_once(store.as_ref(), &clock).await,
            (0, 0),
            "nothing expired yet"
        );
        clock.advance(chrono::Duration::seconds(11));
        assert_eq!(sweep_once(store.as_ref(), &clock).await, (1_200, 0));
        assert!(!store.is_once_taken("s", "7", clock.now()).await.unwrap());
    }
}
