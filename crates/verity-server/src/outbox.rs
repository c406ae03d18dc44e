//! Callbacks to relying parties: written to a durable outbox in the same step that changes a
//! request's status, then delivered by a worker with retries, exponential backoff and jitter,
//! until delivered or `give_up_after_secs` has passed. Delivery is at least once; RPs dedupe on
//! (requestId, requestStatus), and the store keeps one message per pair.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use uuid::Uuid;
use verity_core::Clock;
use verity_did::HttpFetcher;
use verity_store::{CallbackMessage, NewCallback, Store};

/// Deliveries one worker runs at once.
pub const MAX_IN_FLIGHT: usize = 32;

/// Callback delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackConfig {
    /// Stop retrying a callback this long after it was queued.
    pub give_up_after_secs: i64,
    /// First retry delay; doubles per attempt.
    pub initial_backoff_ms: u64,
    /// Longest delay between attempts.
    pub max_backoff_secs: u64,
    /// Time allowed for one delivery attempt.
    pub timeout_secs: u64,
    /// `host` or `host:port` callback targets allowed over plain http (development/tests only).
    pub allow_http_hosts: Vec<String>,
    /// Allow callback targets on loopback addresses (tests, single-machine setups).
    pub allow_loopback: bool,
    /// Allow callback targets on private network ranges (RP apps inside the same network).
    pub allow_private: bool,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        Self {
            give_up_after_secs: 3600,
            initial_backoff_ms: 2000,
            max_backoff_secs: 300,
            timeout_secs: 10,
            allow_http_hosts: Vec::new(),
            allow_loopback: false,
            allow_private: false,
        }
    }
}

impl CallbackConfig {
    /// The fetch policy callback URLs are checked and delivered under (same SSRF rules as
    /// did:web resolution).
    pub fn fetch_policy(&self) -> verity_did::FetchPolicy {
        verity_did::FetchPolicy {
            connect_timeout: Duration::from_secs(self.timeout_secs.clamp(1, 60)),
            read_timeout: Duration::from_secs(self.timeout_secs.clamp(1, 60)),
            max_redirects: 0,
            allow_loopback: self.allow_loopback,
            allow_private: self.allow_private,
            allow_http_hosts: self.allow_http_hosts.clone(),
            ..verity_did::FetchPolicy::default()
        }
    }

    /// Delay before attempt `attempts + 1`: exponential with full jitter in its upper half.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        let base = self.initial_backoff_ms.saturating_mul(1u64 << exp);
        let capped = base.min(self.max_backoff_secs.saturating_mul(1000)).max(1);
        let jitter = OsRng.next_u64() % (capped / 2 + 1);
        Duration::from_millis(capped / 2 + jitter)
    }
}

/// The header that tells an RP which of our requests caused a callback (the id in our logs
/// and in that request's `request-id` response header).
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// `headers` plus [`REQUEST_ID_HEADER`] with the id of the request being handled, stored with
/// the outbox row so every attempt (from any replica, after a restart) sends the same id. A
/// header of that name the RP configured itself is kept; outside a request nothing is added.
fn with_request_id(mut headers: serde_json::Value) -> serde_json::Value {
    let Ok(id) = crate::error::REQUEST_ID.try_with(Clone::clone) else {
        return headers;
    };
    if headers.is_null() {
        headers = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(map) = headers.as_object_mut()
        && !map
            .keys()
            .any(|k| k.eq_ignore_ascii_case(REQUEST_ID_HEADER))
    {
        map.insert(REQUEST_ID_HEADER.to_owned(), serde_json::Value::String(id));
    }
    headers
}

/// Queues callbacks and wakes the delivery worker.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    fetcher: HttpFetcher,
    config: CallbackConfig,
    wake: Arc<Notify>,
    counters: Arc<crate::metrics::CallbackCounters>,
}

impl Outbox {
    /// An outbox over `store`, delivering with `fetcher`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        fetcher: HttpFetcher,
        config: CallbackConfig,
    ) -> Self {
        Self {
            store,
            clock,
            fetcher,
            config,
            wake: Arc::new(Notify::new()),
            counters: Arc::default(),
        }
    }

    /// Delivery attempts of this outbox so far, by result (for `/metrics`).
    pub fn counters(&self) -> &crate::metrics::CallbackCounters {
        &self.counters
    }

    /// The fetcher that checks callback URLs.
    pub fn fetcher(&self) -> &HttpFetcher {
        &self.fetcher
    }

    /// Queues `body` for `url` (once per request and status) and wakes the worker.
    pub async fn enqueue(
        &self,
        request_id: Uuid,
        request_status: &str,
        url: &str,
        headers: &serde_json::Value,
        body: serde_json::Value,
    ) -> Result<bool, verity_store::StoreError> {
        let now = self.clock.now();
        let queued = self
            .store
            .enqueue_callback(
                &NewCallback {
                    id: Uuid::new_v4(),
                    request_id,
                    request_status: request_status.to_owned(),
                    url: url.to_owned(),
                    headers: with_request_id(headers.clone()),
                    body,
                    give_up_at: now + chrono::Duration::seconds(self.config.give_up_after_secs),
                },
                now,
            )
            .await?;
        self.wake.notify_one();
        Ok(queued)
    }

    /// Where a step's callback goes: `url` with `headers`, retried until the configured
    /// give-up time from now.
    pub fn target(&self, url: &str, headers: serde_json::Value) -> verity_store::CallbackTarget {
        verity_store::CallbackTarget {
            id: Uuid::new_v4(),
            url: url.to_owned(),
            headers: with_request_id(headers),
            give_up_at: self.clock.now()
                + chrono::Duration::seconds(self.config.give_up_after_secs),
        }
    }

    /// Wakes the worker (after a step wrote a callback; tests call it after moving the clock).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers every due message once (concurrently); returns how many were attempted.
    pub async fn run_once(&self) -> usize {
        let due = self.claim(MAX_IN_FLIGHT).await;
        let n = due.len();
        let mut deliveries = JoinSet::new();
        for msg in due {
            let outbox = self.clone();
            deliveries.spawn(async move { outbox.deliver(msg).await });
        }
        while deliveries.join_next().await.is_some() {}
        n
    }

    /// Leases up to `limit` due messages; none when the store fails (logged).
    async fn claim(&self, limit: usize) -> Vec<CallbackMessage> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        // The lease outlives one attempt (connect plus read timeout) with room to record it,
        // so no other worker picks the message up while it is in flight.
        let lease_secs = i64::try_from(self.config.timeout_secs.clamp(1, 60))
            .unwrap_or(60)
            .saturating_mul(2)
            .saturating_add(10);
        match self
            .store
            .claim_due_callbacks(self.clock.now(), limit, lease_secs)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "callback outbox: cannot claim messages");
                Vec::new()
            }
        }
    }

    async fn deliver(&self, msg: CallbackMessage) {
        let headers: Vec<(String, String)> = msg
            .headers
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let attempts = msg.attempts + 1;
        let outcome = self.fetcher.post_json(&msg.url, &headers, &msg.body).await;
        let now = self.clock.now();
        let error = match outcome {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(request_id = %msg.request_id, status = %msg.request_status, attempts, "callback delivered");
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                verity_store::crash_point("callback: delivered, not marked");
                if let Err(e) = self
                    .store
                    .mark_callback_delivered(msg.id, attempts, now)
                    .await
                {
                    tracing::warn!(error = %e, "callback outbox: cannot mark delivered (will redeliver)");
                }
                return;
            }
            Ok(status) => format!("the callback URL answered HTTP {status}"),
            Err(e) => e.to_string(),
        };
        let result = if now >= msg.give_up_at {
            tracing::warn!(request_id = %msg.request_id, status = %msg.request_status, attempts, %error, "callback given up");
            self.counters.given_up.fetch_add(1, Ordering::Relaxed);
            self.store
                .mark_callback_failed(msg.id, attempts, &error, now)
                .await
        } else {
            let delay = self.config.backoff(msg.attempts);
            let next = now
                + chrono::Duration::milliseconds(
                    i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                );
            tracing::info!(request_id = %msg.request_id, status = %msg.request_status, attempts, %error, "callback failed, will retry");
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            self.store
                .mark_callback_retry(msg.id, attempts, next, &error, now)
                .await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "callback outbox: cannot record the attempt");
        }
    }

    /// Runs the delivery loop until the task is dropped (which also cancels the deliveries in
    /// flight; their messages stay pending and are retried once their lease ends).
    ///
    /// Each delivery runs as its own task, at most [`MAX_IN_FLIGHT`] at once, and the loop only
    /// claims what it can start right away: an RP endpoint that hangs until the timeout holds
    /// up its own messages, not everyone's. Wakes on new messages, on finished deliveries and
    /// once a second (for retries coming due).
    pub async fn run(self) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            if free > 0 {
                for msg in self.claim(free).await {
                    let outbox = self.clone();
                    in_flight.spawn(async move { outbox.deliver(msg).await });
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_carry_the_request_id_but_keep_the_rps_own_header() {
        let none = with_request_id(serde_json::json!({"api-key": "k"}));
        assert_eq!(none, serde_json::json!({"api-key": "k"}));
        let added = crate::error::REQUEST_ID.sync_scope("req-1".to_owned(), || {
            with_request_id(serde_json::json!({"api-key": "k"}))
        });
        assert_eq!(
            added,
            serde_json::json!({"api-key": "k", "X-Request-Id": "req-1"})
        );
        let from_null = crate::error::REQUEST_ID.sync_scope("req-2".to_owned(), || {
            with_request_id(serde_json::Value::Null)
        });
        assert_eq!(from_null, serde_json::json!({"X-Request-Id": "req-2"}));
        let kept = crate::error::REQUEST_ID.sync_scope("req-3".to_owned(), || {
            with_request_id(serde_json::json!({"x-request-id": "rp"}))
        });
        assert_eq!(kept, serde_json::json!({"x-request-id": "rp"}));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = CallbackConfig {
            initial_backoff_ms: 1000,
            max_backoff_secs: 10,
            ..Default::default()
        };
        for _ in 0..50 {
            let d0 = c.backoff(0);
            assert!(
                d0 >= Duration::from_millis(500) && d0 <= Duration::from_millis(1000),
                "{d0:?}"
            );
            let d3 = c.backoff(3);
            assert!(
                d3 >= Duration::from_millis(4000) && d3 <= Duration::from_millis(8000),
                "{d3:?}"
            );
            let d30 = c.backoff(30);
            assert!(
                d30 >= Duration::from_millis(5000) && d30 <= Duration::from_millis(10_000),
                "{d30:?}"
            );
        }
    }
}
