//! `bench revocation`: revoke-and-republish latency on a 131,072-entry list against the
//! `verity serve` process, and the verifier library's cached status check in this process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use verity_core::SystemClock;
use verity_did::{CompositeResolver, FetchPolicy, HttpFetcher};
use verity_jose::Algorithm;
use verity_status_list::StatusEntry;

use super::{Bench, Options, backend_name, ms, payload_of, percentile, procfs};

/// Issues `count + 1` credentials, then for each of `count`: revoke one (admin API) and GET
/// its list, which the server re-signs because the list version moved.
pub async fn revocation(opts: &Options) -> Result<(), String> {
    let holder_alg = opts.holder_alg.unwrap_or(Algorithm::ES256);
    if opts.replicas.is_some() {
        return Err("bench revocation runs on one server: drop --replicas".into());
    }
    let bench = Bench::start(opts, holder_alg).await?;
    let server = bench.target.one()?;
    println!(
        "SETUP backend={} server_pid={} url={} loadavg=\"{}\" server_log={}",
        backend_name(opts.backend),
        server.pid(),
        server.url,
        procfs::load_average(),
        server.log_path.display(),
    );
    let mut issued = Vec::new();
    for i in 0..=opts.count {
        issued.push(payload_of(&bench.issue_one(i).await?)?);
    }
    let entry = |p: &serde_json::Value| {
        StatusEntry::from_json(&p["vc"]["credentialStatus"])
            .map_err(|e| format!("credentialStatus: {e}"))
    };
    let first = entry(&issued[0])?;
    let list_url = first.status_list_credential.clone();
    let get_list = || async {
        let resp = server
            .http
            .get(&list_url)
            .send()
            .await
            .map_err(|e| format!("GET {list_url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("GET {list_url}: {e}"))?;
        if status != 200 || text.len() < 100 {
            return Err(format!("GET {list_url}: {status} {text}"));
        }
        Ok::<_, String>(text)
    };
    // The list is signed once before measuring.
    get_list().await?;

    let load_before = procfs::load_average();
    let (mut revoke, mut republish, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for p in issued.iter().skip(1) {
        let t0 = Instant::now();
        let (status, body) = server
            .admin(
                Method::POST,
                "/credentials/revoke",
                Some(json!({ "jti": p["jti"] })),
            )
            .await?;
        if status != 200 {
            return Err(format!("revoke: {status} {body}"));
        }
        let t1 = Instant::now();
        get_list().await?;
        let t2 = Instant::now();
        revoke.push(t1 - t0);
        republish.push(t2 - t1);
        total.push(t2 - t0);
    }
    for v in [&mut revoke, &mut republish, &mut total] {
        v.sort();
    }
    println!(
        "MEASURED revocation list=131072 entries n={}: revoke p50 {}ms p95 {}ms; republish (GET, re-sign) p50 {}ms p95 {}ms; revoke+republish p50 {}ms p95 {}ms; loadavg_before=\"{load_before}\" loadavg_after=\"{}\"",
        total.len(),
        ms(percentile(&revoke, 0.5)),
        ms(percentile(&revoke, 0.95)),
        ms(percentile(&republish, 0.5)),
        ms(percentile(&republish, 0.95)),
        ms(percentile(&total, 0.5)),
        ms(percentile(&total, 0.95)),
        procfs::load_average(),
    );

    // The verifier's status check with the list cached: the production source, in this
    // process, fetching from the server like another verifier would.
    let policy = FetchPolicy {
        allow_loopback: true,
        allow_http_hosts: vec![format!("localhost:{}", server.port)],
        ..FetchPolicy::default()
    };
    let fetcher = HttpFetcher::new(policy).map_err(|e| format!("fetcher: {e}"))?;
    let resolver = Arc::new(CompositeResolver::standard(
        fetcher.clone(),
        Arc::new(SystemClock),
        Duration::from_secs(300),
    ));
    let source = verity_presentation::HttpStatusListSource::new(fetcher, resolver);
    let now = verity_core::Clock::unix(&SystemClock);
    verity_presentation::StatusListSource::fetch(&source, &list_url, now)
        .await
        .map_err(|e| format!("status list: {e}"))?;
    let n = 100_000;
    let t = Instant::now();
    let mut revoked = 0usize;
    for _ in 0..n {
        let list = verity_presentation::StatusListSource::fetch(&source, &list_url, now)
            .await
            .map_err(|e| format!("status list: {e}"))?;
        if verity_status_list::check(&first, &list).map_err(|e| format!("status check: {e}"))?
            != verity_status_list::CredentialStatus::Valid
        {
            revoked += 1;
        }
    }
    let per = t.elapsed() / n;
    println!(
        "cached status check (cache lookup + bit test): {per:?} per check over {n} checks ({revoked} revoked)"
    );
    println!(
        "RESULT revocation backend={} count={} revoke_republish_p50_ms={} revoke_republish_p95_ms={}",
        backend_name(opts.backend),
        total.len(),
        ms(percentile(&total, 0.5)),
        ms(percentile(&total, 0.95)),
    );
    bench.target.stop().await;
    Ok(())
}
