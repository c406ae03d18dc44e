//! Benchmarks over real HTTP against the real app (see docs/BENCHMARKS.md).
//!
//! `cargo run --release -p verity-tests --bin bench -- issuance --backend sqlite --count 300 --concurrency 8`
//!
//! Each issuance is the full wallet flow: createIssuanceRequest (RP), request object, manifest,
//! signed holder request -> JWT-VC (status index allocated, credential recorded), completion.
//! The wallet runs in the same process, so its signing and verification share the 2 cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use verity_tests::Backend;
use verity_tests::issuance::{example_contract, issuance_env};
use verity_wallet::ReceiveOptions;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).cloned().unwrap_or_default();
    let backend = match arg(&args, "--backend", "sqlite").as_str() {
        "postgres" => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let count: usize = arg(&args, "--count", "200").parse().unwrap();
    let concurrency: usize = arg(&args, "--concurrency", "8").parse().unwrap();
    match what.as_str() {
        "issuance" => issuance(backend, count, concurrency).await,
        "revocation" => verity_tests::benches::revocation(backend, count).await,
        _ => {
            eprintln!(
                "usage: bench issuance [--backend sqlite|postgres] [--count N] [--concurrency C]"
            );
            std::process::exit(2);
        }
    }
}

async fn issuance(backend: Backend, count: usize, concurrency: usize) {
    let env = issuance_env(backend)
        .await
        .expect("backend available (set VERITY_TEST_POSTGRES_URL for postgres)");
    let env = Arc::new(env);
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    // Warm-up: one issuance outside the measurement.
    let mut body = env.request_body(&contract);
    body["claims"] = json!({ "given_name": "Warm", "family_name": "Up" });
    let url = env.request_url(&body).await;
    env.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();

    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let env = env.clone();
        let next = next.clone();
        let contract = contract.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < count {
                let t = Instant::now();
                let mut body = env.request_body(&contract);
                body["claims"] = json!({ "given_name": "Bench", "family_name": "Mark" });
                let url = env.request_url(&body).await;
                env.wallet
                    .receive(&url, ReceiveOptions::default())
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "issuance backend={backend:?} count={} concurrency={concurrency}: {:.1} issuances/s, p50 {:?}, p95 {:?}, total {:.2?}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.95),
        elapsed
    );
}
