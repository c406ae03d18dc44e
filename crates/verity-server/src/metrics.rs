//! Prometheus metrics: a small registry of counters and histograms (atomics and one mutex per
//! labelled family), rendered in the text exposition format at `GET /metrics`.
//!
//! What is counted where: HTTP requests and latencies in the [`track_http`] middleware (by
//! route pattern, never the raw path, so ids do not make new series); flow steps in
//! `flows::apply`; callback deliveries in the outbox; cache hits in the caches themselves. Queue
//! depth and database pool use are read when scraped.

use crate::openapi::{Op, Routes};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use verity_core::Secret;

use crate::state::AppState;

/// Upper bounds (seconds) of the request latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// `[metrics]`: who may read `GET /metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all (404 when off).
    pub enabled: bool,
    /// When set, `/metrics` asks for `Authorization: Bearer <token>` (from any address).
    /// When unset, only loopback clients (a sidecar or node agent) may read it.
    pub bearer_token: Option<Secret>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bearer_token: None,
        }
    }
}

/// A cache's hit and miss counters, kept by the cache.
#[derive(Debug, Default)]
pub struct CacheCounter {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheCounter {
    /// Counts a lookup.
    pub fn record(&self, hit: bool) {
        let c = if hit { &self.hits } else { &self.misses };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Callback delivery outcomes, kept by the outbox.
#[derive(Debug, Default)]
pub struct CallbackCounters {
    /// Attempts answered with 2xx.
    pub delivered: AtomicU64,
    /// Failed attempts that will be retried.
    pub retried: AtomicU64,
    /// Failed attempts after which the message was given up.
    pub given_up: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// The registry of one running service.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route pattern, status class) -> count.
    http: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// (method, route pattern) -> latency.
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    /// (kind, status moved to, outcome) -> count.
    flows: Mutex<BTreeMap<(String, String, &'static str), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, secs: f64) {
        *lock(&self.http)
            .entry((method.to_owned(), route.to_owned(), status_class(status)))
            .or_default() += 1;
        lock(&self.latency)
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(secs);
    }

    /// Counts one flow step: `applied` or the reason it was not taken.
    pub fn observe_flow(&self, kind: &str, to: &str, outcome: &'static str) {
        *lock(&self.flows)
            .entry((kind.to_owned(), to.to_owned(), outcome))
            .or_default() += 1;
    }

    /// The exposition text of everything counted here plus the values read at scrape time.
    pub fn render(&self, state: &AppState, pending_callbacks: Option<i64>) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "verity_http_requests_total",
            "counter",
            "HTTP requests answered, by route pattern and status class.",
        );
        for ((method, route, class), n) in lock(&self.http).iter() {
            let _ = writeln!(
                out,
                "verity_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{class}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        family(
            &mut out,
            "verity_http_request_duration_seconds",
            "histogram",
            "HTTP request latency, by route pattern.",
        );
        for ((method, route), h) in lock(&self.latency).iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", esc(method), esc(route));
            for (le, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "verity_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "verity_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "verity_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "verity_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        family(
            &mut out,
            "verity_flow_steps_total",
            "counter",
            "Issuance and presentation flow steps, by kind, target status and outcome \
             (applied, or why the step was not taken).",
        );
        for ((kind, to, outcome), n) in lock(&self.flows).iter() {
            let _ = writeln!(
                out,
                "verity_flow_steps_total{{kind=\"{}\",to=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(kind),
                esc(to)
            );
        }
        let cb = state.outbox.counters();
        family(
            &mut out,
            "verity_callback_attempts_total",
            "counter",
            "Callback delivery attempts by this replica, by result.",
        );
        for (result, c) in [
            ("delivered", &cb.delivered),
            ("retry", &cb.retried),
            ("given_up", &cb.given_up),
        ] {
            let _ = writeln!(
                out,
                "verity_callback_attempts_total{{result=\"{result}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        if let Some(depth) = pending_callbacks {
            family(
                &mut out,
                "verity_callback_queue_depth",
                "gauge",
                "Callbacks waiting for delivery (all replicas: read from the database).",
            );
            let _ = writeln!(out, "verity_callback_queue_depth {depth}");
        }
        family(
            &mut out,
            "verity_cache_requests_total",
            "counter",
            "Cache lookups, by cache and result.",
        );
        let did_resolver = state.resolution.cached.as_ref().map(|r| r.cache_stats());
        for (cache, stats) in [
            ("own_did_document", Some(state.own.document_cache().get())),
            ("domain_linkage", Some(state.linkage_cache.counter().get())),
            ("did_resolver", did_resolver),
        ] {
            let Some((hits, misses)) = stats else {
                continue;
            };
            let _ = writeln!(
                out,
                "verity_cache_requests_total{{cache=\"{cache}\",result=\"hit\"}} {hits}"
            );
            let _ = writeln!(
                out,
                "verity_cache_requests_total{{cache=\"{cache}\",result=\"miss\"}} {misses}"
            );
        }
        if let Some(pool) = state.store.pool_stats() {
            family(
                &mut out,
                "verity_db_pool_connections",
                "gauge",
                "Database pool connections, by state (open, idle) and the configured maximum.",
            );
            for (s, n) in [("open", pool.size), ("idle", pool.idle), ("max", pool.max)] {
                let _ = writeln!(
                    out,
                    "verity_db_pool_connections{{backend=\"{}\",state=\"{s}\"}} {n}",
                    state.store.backend()
                );
            }
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts every answered request by its route pattern (`/v1.0/verifiableCredentials/
/// request/{id}`), or `unmatched` for a path no route knows.
pub async fn track_http(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await;
    if let Some(metrics) = metrics {
        let secs = started.elapsed().as_secs_f64();
        match &res {
            Ok(r) => {
                let route = r
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned());
                metrics.observe_http(&method, &route, r.status().as_u16(), secs);
            }
            Err(e) => {
                let status = e.as_response_error().status_code().as_u16();
                metrics.observe_http(&method, "unmatched", status, secs);
            }
        }
    }
    res
}

pub fn routes(r: &mut Routes) {
    r.get(
        "/metrics",
        scrape,
        Op::new(
            "metrics",
            "Service",
            "Prometheus metrics (when `[metrics]` allows the caller)",
        )
        .ok_text(200, "text/plain", "Prometheus text exposition format")
        .ok_empty(404, "Metrics are disabled (`[metrics] enabled = false`)")
        .ok_empty(
            403,
            "Not from loopback and without the configured bearer token",
        ),
    );
}

async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let cfg = &state.config.metrics;
    if !cfg.enabled {
        return HttpResponse::NotFound().finish();
    }
    let allowed = match &cfg.bearer_token {
        Some(token) => req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))),
        None => req.peer_addr().is_some_and(|a| a.ip().is_loopback()),
    };
    if !allowed {
        return HttpResponse::Forbidden()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .finish();
    }
    let pending = match state.store.pending_callbacks().await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the callback queue depth");
            None
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state, pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.2);
        h.observe(100.0);
        assert_eq!(h.buckets[0], 1);
        assert_eq!(h.buckets[5], 2); // le 0.25
        assert_eq!(h.buckets[LATENCY_BUCKETS.len() - 1], 2);
        assert_eq!(h.count, 3);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn metrics_config_defaults_to_on_and_loopback_only() {
        let c = MetricsConfig::default();
        assert!(c.enabled);
        assert!(c.bearer_token.is_none());
    }
}
