//! Benchmark bodies the `bench` binary runs (kept here so they share the test harness).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use verity_jose::UnverifiedJws;
use verity_status_list::StatusEntry;
use verity_wallet::ReceiveOptions;

use crate::Backend;
use crate::issuance::{example_contract, issuance_env};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))]
}

/// Revoke-and-republish latency on a 131,072-entry list, and the verifier's cached status
/// check cost.
pub async fn revocation(backend: Backend, count: usize) {
    let env = issuance_env(backend)
        .await
        .expect("backend available (set VERITY_TEST_POSTGRES_URL for postgres)");
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut issued: Vec<Value> = Vec::new();
    for i in 0..count + 1 {
        let mut body = env.request_body(&contract);
        body["claims"] = json!({ "given_name": format!("user{i}"), "family_name": "Bench" });
        let url = env.request_url(&body).await;
        let cred = env
            .wallet
            .receive(&url, ReceiveOptions::default())
            .await
            .unwrap();
        issued.push(
            UnverifiedJws::parse(&cred.jwt)
                .unwrap()
                .payload_unverified()
                .unwrap(),
        );
    }
    let entry = |p: &Value| StatusEntry::from_json(&p["vc"]["credentialStatus"]).unwrap();
    let list_url = entry(&issued[0]).status_list_credential.clone();
    // Warm: the list is signed once before measuring.
    env.app
        .http
        .get(&list_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let (mut revoke, mut republish, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for p in issued.iter().skip(1) {
        let t0 = Instant::now();
        let (status, _) = env
            .app
            .admin(
                Method::POST,
                "/credentials/revoke",
                Some(json!({ "jti": p["jti"] })),
            )
            .await;
        assert_eq!(status, 200);
        let t1 = Instant::now();
        let jwt = env
            .app
            .http
            .get(&list_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(jwt.len() > 100);
        let t2 = Instant::now();
        revoke.push(t1 - t0);
        republish.push(t2 - t1);
        total.push(t2 - t0);
    }
    for v in [&mut revoke, &mut republish, &mut total] {
        v.sort();
    }
    println!(
        "revocation backend={backend:?} list=131072 entries n={}: revoke p50 {:?} p95 {:?}; republish (GET, re-sign) p50 {:?} p95 {:?}; revoke+republish p50 {:?} p95 {:?}",
        total.len(),
        percentile(&revoke, 0.5),
        percentile(&revoke, 0.95),
        percentile(&republish, 0.5),
        percentile(&republish, 0.95),
        percentile(&total, 0.5),
        percentile(&total, 0.95),
    );

    // The verifier's status check with the list cached: the production source, in process.
    let state = env.app.app_state();
    let source = verity_presentation::HttpStatusListSource::new(
        state.resolution.fetcher.clone(),
        state.resolution.resolver.clone(),
    );
    let now = state.clock.unix();
    let first = entry(&issued[0]);
    let _ = verity_presentation::StatusListSource::fetch(&source, &list_url, now)
        .await
        .unwrap();
    let n = 100_000;
    let t = Instant::now();
    let mut revoked = 0usize;
    for _ in 0..n {
        let list = verity_presentation::StatusListSource::fetch(&source, &list_url, now)
            .await
            .unwrap();
        if verity_status_list::check(&first, &list).unwrap()
            != verity_status_list::CredentialStatus::Valid
        {
            revoked += 1;
        }
    }
    let per = t.elapsed() / n;
    println!(
        "cached status check (cache lookup + bit test): {per:?} per check over {n} checks ({revoked} revoked)"
    );
}
