//! `bench sweep`: what retention costs the database. Seeds `count` expired presentation
//! requests, each with its two delivered callbacks (`request_retrieved` and the verdict) and a
//! replay record, as finished flows leave them, then runs the server's sweeper
//! (`verity_server::sweeper::sweep_once` with the default `[retention]` batches) until nothing
//! is left, and reports rows removed per second. The sweeper runs inside `verity serve`; here
//! it runs in the bench process against the same database, so the figure is the database's
//! cost of the purge statements (docs/SCALING.md, "Retention").

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;
use verity_core::ManualClock;
use verity_jose::{Algorithm, KeyEncryptionKey};
use verity_server::sweeper::{RetentionConfig, sweep_once};
use verity_store::testing::fresh_store;
use verity_store::{NewCallback, NewFlowRequest, RequestKind, Store};

use super::{Options, backend_name, procfs};

/// Seeds and sweeps; prints one RESULT line.
pub async fn sweep(opts: &Options) -> Result<(), String> {
    if opts.replicas.is_some() {
        return Err("bench sweep runs the sweeper once, on one database: drop --replicas".into());
    }
    let Some((_db, store)) = fresh_store(opts.backend).await else {
        return Err("Postgres is not configured (VERITY_TEST_POSTGRES_URL)".into());
    };
    let now = DateTime::from_timestamp(1_800_000_000, 0).ok_or("bad epoch")?;
    let (kek, _) = KeyEncryptionKey::generate();
    let tenant = store
        .create_tenant("bench", now)
        .await
        .map_err(|e| e.to_string())?;
    let (key, _) = verity_server::authorities::generate_key(&kek, Algorithm::ES256)
        .map_err(|e| e.to_string())?;
    let authority = store
        .create_authority(tenant.id, "bench", "did:web:bench.example", &key, now)
        .await
        .map_err(|e| e.to_string())?;
    let expired = now - Duration::days(2);
    let seeded = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..opts.count {
        if tasks.len() >= opts.concurrency
            && let Some(done) = tasks.join_next().await
        {
            done.map_err(|e| e.to_string())??;
        }
        let store = store.clone();
        let (tenant, authority) = (tenant.id, authority.id);
        tasks.spawn(async move { seed_one(store.as_ref(), tenant, authority, i, expired).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    println!(
        "SETUP backend={} seeded={} requests (+{} callbacks, {} replay records) in {:.1} s loadavg=\"{}\"",
        backend_name(opts.backend),
        opts.count,
        opts.count * 2,
        opts.count,
        seeded.elapsed().as_secs_f64(),
        procfs::load_average(),
    );

    let clock = ManualClock::new(now);
    let config = RetentionConfig::default();
    let started = Instant::now();
    let mut sweeps = 0;
    let mut removed = (0u64, 0u64);
    let mut slowest = 0f64;
    loop {
        let one = Instant::now();
        let purged = sweep_once(store.as_ref(), &clock, &config).await;
        slowest = slowest.max(one.elapsed().as_secs_f64());
        sweeps += 1;
        removed = (
            removed.0 + purged.requests,
            removed.1 + purged.replay_records,
        );
        if purged.requests == 0 && purged.replay_records == 0 {
            break;
        }
        if sweeps > 1000 {
            return Err("the sweeper did not finish in 1000 sweeps".into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if removed.0 != opts.count as u64 {
        return Err(format!(
            "the sweeper removed {} requests of {}",
            removed.0, opts.count
        ));
    }
    println!(
        "RESULT bench=sweep backend={} requests={} callbacks={} replay_records={} sweeps={} \
         seconds={secs:.2} requests_per_s={:.0} slowest_sweep_s={slowest:.2} \
         batch={} max_batches={}",
        backend_name(opts.backend),
        removed.0,
        removed.0 * 2,
        removed.1,
        sweeps,
        removed.0 as f64 / secs.max(1e-9),
        config.batch,
        config.max_batches,
    );
    Ok(())
}

/// One finished presentation: the request, its two delivered callbacks and a replay record,
/// all expired two days before the sweep.
async fn seed_one(
    store: &dyn Store,
    tenant: Uuid,
    authority: Uuid,
    i: usize,
    expired: DateTime<Utc>,
) -> Result<(), String> {
    let id = Uuid::new_v4();
    let err = |e: verity_store::StoreError| e.to_string();
    let created = expired - Duration::minutes(5);
    store
        .create_request(
            &NewFlowRequest {
                id,
                tenant_id: tenant,
                kind: RequestKind::Presentation,
                authority_id: authority,
                contract_id: None,
                nonce: format!("nonce-{i}-{}", id.simple()),
                payload: json!({ "callback": { "url": "https://rp.example/cb" } }),
                expires_at: expired,
            },
            created,
        )
        .await
        .map_err(err)?;
    for status in ["request_retrieved", "presentation_verified"] {
        let m = NewCallback {
            id: Uuid::new_v4(),
            request_id: id,
            request_status: status.into(),
            url: "https://rp.example/cb".into(),
            headers: json!({}),
            body: json!({ "requestId": id, "requestStatus": status, "state": "s" }),
            give_up_at: expired + Duration::hours(1),
        };
        store.enqueue_callback(&m, created).await.map_err(err)?;
        store
            .mark_callback_delivered(m.id, 1, created)
            .await
            .map_err(err)?;
    }
    store
        .consume_once("bench", &id.to_string(), expired, created)
        .await
        .map_err(err)?;
    Ok(())
}
