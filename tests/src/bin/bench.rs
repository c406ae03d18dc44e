//! Benchmarks over real HTTP against the real app (see docs/BENCHMARKS.md).
//!
//! `cargo run --release -p verity-tests --bin bench -- issuance --backend sqlite --count 300 --concurrency 8`
//!
//! Each issuance is the full wallet flow: createIssuanceRequest (RP), request object, manifest,
//! signed holder request -> JWT-VC (status index allocated, credential recorded), completion.
//! The wallet runs in the same process, so its signing and verification share the 2 cores.
//!
//! `bench presentation`: per iteration createPresentationRequest (RP) + the wallet answering it
//! (request object fetched and verified, id_token and vp_token signed, form POST verified by the
//! pipeline); then the raw ES256 verify floor of verity-jose, for the ratio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use verity_jose::UnverifiedJws;
use verity_tests::Backend;
use verity_tests::issuance::{example_contract, issuance_env, issuance_env_with};
use verity_tests::presentation::{EXPERT, issue, new_presentation, requested};
use verity_wallet::{Algorithm, PresentationOptions, PresentationSession, ReceiveOptions};

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
        "presentation" => presentation(backend, count, concurrency).await,
        _ => {
            eprintln!(
                "usage: bench issuance|revocation|presentation [--backend sqlite|postgres] [--count N] [--concurrency C]"
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

/// Presentations verified per second over HTTP (1 credential, ES256 issuer and holder, issuer
/// DID and status list cached), then the ES256 signature-verify floor of the same crates.
async fn presentation(backend: Backend, count: usize, concurrency: usize) {
    let env = issuance_env_with(backend, Algorithm::ES256, |_| {})
        .await
        .expect("backend available (set VERITY_TEST_POSTGRES_URL for postgres)");
    let env = Arc::new(env);
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let vc = issue(&env, &contract, "Megan").await;
    let header = UnverifiedJws::parse(&vc).unwrap().header().clone();
    assert_eq!(header.alg, "ES256", "the first authority signs with ES256");
    // No callback: the outbox is not part of what is measured.
    let body = Arc::new(json!({
        "authority": env.authority,
        "registration": { "clientName": "Bench" },
        "requestedCredentials": [ requested(EXPERT, &[&env.authority]) ],
    }));
    // Warm-up outside the measurement: resolves and caches the issuer DID and the status list.
    let (_, url) = new_presentation(&env, &body).await;
    env.wallet.present(&url).await.unwrap();

    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let env = env.clone();
        let next = next.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < count {
                let t = Instant::now();
                let (_, url) = new_presentation(&env, &body).await;
                let presented = env.wallet.present(&url).await.unwrap();
                assert_eq!(presented.status, 200);
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
    let per_sec = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "presentation backend={backend:?} count={} concurrency={concurrency}: {per_sec:.1} presentations/s, p50 {:?}, p95 {:?}, total {:.2?}",
        latencies.len(),
        pct(0.50),
        pct(0.95),
        elapsed
    );

    // Where one presentation's time goes, sequentially (no contention): the RP call, the
    // wallet fetching and verifying the request object, signing both tokens, and the server
    // verifying the response (pipeline + writes).
    let steps = 100;
    let mut spent = [std::time::Duration::ZERO; 4];
    for _ in 0..steps {
        let t0 = Instant::now();
        let (_, url) = new_presentation(&env, &body).await;
        let t1 = Instant::now();
        let session = PresentationSession::start(&env.wallet, &url).await.unwrap();
        let t2 = Instant::now();
        let r = session
            .build_response(&PresentationOptions::default())
            .unwrap();
        let t3 = Instant::now();
        let (status, _) = session
            .submit(&r.id_token, &r.vp_token, &r.state)
            .await
            .unwrap();
        assert_eq!(status, 200);
        let t4 = Instant::now();
        for (i, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].into_iter().enumerate() {
            spent[i] += d;
        }
    }
    let mean = |d: std::time::Duration| d / steps;
    println!(
        "sequential mean per presentation: createPresentationRequest {:?}, request object fetch+verify {:?}, sign id_token+vp_token {:?}, response POST (server verifies) {:?}",
        mean(spent[0]),
        mean(spent[1]),
        mean(spent[2]),
        mean(spent[3]),
    );

    // The floor: verity-jose parsing and verifying the same ES256 JWT-VC against the key the
    // issuer publishes, in a tight loop, on one thread and on every core.
    let kid = header.kid.unwrap();
    let jwk = env.app.published_key("/.well-known/did.json", &kid).await;
    let verify_loop = |n: usize, vc: &str, jwk: &verity_jose::Jwk| {
        for _ in 0..n {
            UnverifiedJws::parse(vc).unwrap().verify(jwk).unwrap();
        }
    };
    let n = 20_000;
    verify_loop(1_000, &vc, &jwk);
    let t = Instant::now();
    verify_loop(n, &vc, &jwk);
    let one = n as f64 / t.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| verify_loop(n, &vc, &jwk));
        }
    });
    let all = (n * cores) as f64 / t.elapsed().as_secs_f64();
    println!(
        "ES256 verify floor (verity_jose parse + verify): {one:.0} ops/s on 1 thread, {all:.0} ops/s on {cores} threads; \
         one presentation over HTTP costs {:.1} verifications of the {cores}-thread floor",
        all / per_sec
    );
}
