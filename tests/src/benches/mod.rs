//! The benchmark the `bench` binary runs (docs/BENCHMARKS.md): `verity serve` (the release
//! binary) in its own process on a fresh database, and a load generator here that drives full
//! flows over loopback HTTP with the reference wallet's logic, holding its credentials in
//! memory. The server's CPU time comes from `/proc/<pid>/stat` around the measured phase; the
//! signature floor of the same crates is measured in the same run.

pub mod floor;
pub mod procfs;
pub mod revocation;
pub mod server;
pub mod sweep;
pub mod vc_api;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use verity_jose::{Algorithm, UnverifiedJws};
use verity_store::testing::Backend;
use verity_wallet::{
    DidMethod, IssuanceSession, PresentationOptions, PresentationSession, ReceiveOptions, Wallet,
    WalletConfig,
};

use floor::Floor;
use server::{ServerProcess, send};

/// Largest `--count` accepted: runs stay bounded on a shared machine.
pub const MAX_COUNT: usize = 100_000;
/// Largest `--concurrency` accepted.
pub const MAX_CONCURRENCY: usize = 512;

/// The credential type of `examples/contracts/id-token-hint.json`.
const CREDENTIAL_TYPE: &str = "VerifiedCredentialExpert";

/// What one benchmark run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The store the server runs on.
    pub backend: Backend,
    /// Operations in the measured phase.
    pub count: usize,
    /// Operations in flight at once.
    pub concurrency: usize,
    /// Operations before the measured phase (caches filled, connections opened).
    pub warmup: usize,
    /// Signs and verifies per algorithm for the floor.
    pub floor_ops: usize,
    /// The `verity` binary to start.
    pub verity: PathBuf,
    /// The wallet's key algorithm (default: EdDSA for issuance, as `verity wallet create`;
    /// ES256 for presentation and revocation).
    pub holder_alg: Option<Algorithm>,
    /// Record the server with `perf record -g` during the measured phase into this file.
    pub perf: Option<PathBuf>,
    /// `--replicas N`: N `verity serve` processes on one Postgres database behind a
    /// round-robin proxy in this process (`crate::replicas`); server CPU is their sum.
    pub replicas: Option<usize>,
}

/// The RESULT line's name for a backend.
pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The signature operations the server performs per flow, by name and algorithm, counted from
/// its code path (derivation in docs/BENCHMARKS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureMix {
    /// Tokens the server signs.
    pub signs: Vec<(&'static str, Algorithm)>,
    /// Signatures the server verifies.
    pub verifies: Vec<(&'static str, Algorithm)>,
}

impl SignatureMix {
    /// Signs + verifies per operation.
    pub fn count(&self) -> usize {
        self.signs.len() + self.verifies.len()
    }

    /// CPU ms the floor says these operations cost.
    pub fn floor_ms(&self, floor: &Floor) -> Result<f64, String> {
        let mut total = 0.0;
        for (_, alg) in &self.signs {
            total += floor.sign_ms(*alg)?;
        }
        for (_, alg) in &self.verifies {
            total += floor.verify_ms(*alg)?;
        }
        Ok(total)
    }

    /// "sign: request object (ES256), ...; verify: ..." for the log.
    pub fn describe(&self) -> String {
        let list = |v: &[(&str, Algorithm)]| {
            v.iter()
                .map(|(what, alg)| format!("{what} ({alg})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "sign: {}; verify: {}",
            list(&self.signs),
            list(&self.verifies)
        )
    }
}

/// Issuance with the idTokenHint contract, no PIN: createIssuanceRequest verifies the RP's
/// access token; GET request object signs the id_token_hint and the request object; GET
/// manifest signs the manifest; POST issue verifies the holder request and signs the JWT-VC;
/// the completion POST signs nothing.
pub fn issuance_mix(authority: Algorithm, service: Algorithm, holder: Algorithm) -> SignatureMix {
    SignatureMix {
        signs: vec![
            ("id_token_hint", authority),
            ("request object", authority),
            ("manifest", authority),
            ("JWT-VC", authority),
        ],
        verifies: vec![("access token", service), ("holder request", holder)],
    }
}

/// Presentation of one credential, issuer DID document and status list cached:
/// createPresentationRequest verifies the access token; GET request object signs it; the
/// response POST verifies the id_token, the vp_token and the credential.
pub fn presentation_mix(
    authority: Algorithm,
    service: Algorithm,
    holder: Algorithm,
) -> SignatureMix {
    SignatureMix {
        signs: vec![("request object", authority)],
        verifies: vec![
            ("access token", service),
            ("id_token", holder),
            ("vp_token", holder),
            ("credential", authority),
        ],
    }
}

/// What the bench drives: one server, or replicas behind the round-robin proxy.
pub enum Target {
    One(ServerProcess),
    Replicas(crate::replicas::Cluster),
}

impl Target {
    /// The public URL (the proxy's for replicas).
    pub fn url(&self) -> &str {
        match self {
            Target::One(s) => &s.url,
            Target::Replicas(c) => &c.url,
        }
    }

    /// The HTTP client for RP calls.
    pub fn http(&self) -> &reqwest::Client {
        match self {
            Target::One(s) => &s.http,
            Target::Replicas(c) => &c.http,
        }
    }

    /// The server processes.
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Target::One(s) => vec![s.pid()],
            Target::Replicas(c) => c.replicas.iter().map(|r| r.pid()).collect(),
        }
    }

    /// CPU ticks of all server processes.
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        self.pids().into_iter().map(procfs::process_cpu_ticks).sum()
    }

    /// CPU ticks of the Postgres backends of the database (0 on SQLite).
    pub fn db_cpu_ticks(&self) -> u64 {
        match self {
            Target::One(s) => s.db_cpu_ticks(),
            Target::Replicas(c) => procfs::processes_matching(&format!(" {} ", c.db_name))
                .iter()
                .map(|(_, t)| t)
                .sum(),
        }
    }

    /// Where the server logs are.
    pub fn log(&self) -> String {
        match self {
            Target::One(s) => s.log_path.display().to_string(),
            Target::Replicas(c) => c
                .replicas
                .iter()
                .map(|r| r.log_path.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The single server (revocation runs on one).
    pub fn one(&self) -> Result<&ServerProcess, String> {
        match self {
            Target::One(s) => Ok(s),
            Target::Replicas(_) => Err("this bench runs on one server, not --replicas".into()),
        }
    }

    /// Stops the server(s).
    pub async fn stop(self) {
        match self {
            Target::One(s) => s.stop().await,
            Target::Replicas(c) => drop(c),
        }
    }
}

/// The server, an RP's access token, a contract and a wallet: everything a flow needs.
pub struct Bench {
    /// The server(s) under test.
    pub target: Target,
    /// The RP's access token.
    pub token: String,
    /// The contract credentials are issued under.
    pub contract: String,
    /// The first authority's DID.
    pub authority: String,
    /// The holder wallet (its file is written once, at creation; credentials stay in memory).
    pub wallet: Wallet,
    _wallet_dir: tempfile::TempDir,
}

/// The `alg` of a compact JWS header.
pub fn jws_alg(token: &str) -> Result<Algorithm, String> {
    let jws = UnverifiedJws::parse(token).map_err(|e| format!("not a JWS: {e}"))?;
    jws.algorithm().map_err(|e| format!("JWS alg: {e}"))
}

impl Bench {
    /// Starts the server and sets up an API client, the contract and a wallet.
    pub async fn start(opts: &Options, holder_alg: Algorithm) -> Result<Bench, String> {
        let (target, token, contract, authority) = match opts.replicas {
            None => {
                let server = ServerProcess::start(opts.backend, &opts.verity).await?;
                let token = server.access_token().await?;
                let contract = server.create_contract().await?;
                let authority = server.authority();
                (Target::One(server), token, contract, authority)
            }
            Some(n) => {
                if opts.backend != Backend::Postgres {
                    return Err("--replicas needs --backend postgres".into());
                }
                // Rate limits off, as for one server: the whole load comes from one address.
                let limits_off = "[limits]\noauth_token_per_minute = 0\n\
                                  oauth_client_failures_per_minute = 0\n\
                                  openid4vci_token_per_minute = 0\nholder_request_per_minute = 0\n\
                                  presentation_response_per_minute = 0\nface_check_per_minute = 0\n\
                                  api_client_per_minute = 0\n";
                let cluster = crate::replicas::Cluster::start(n, &opts.verity, limits_off)
                    .await?
                    .ok_or("--replicas needs VERITY_TEST_POSTGRES_URL")?;
                let token = cluster.access_token().await;
                let mut contract: Value = serde_json::from_str(include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../examples/contracts/id-token-hint.json"
                )))
                .map_err(|e| format!("examples/contracts/id-token-hint.json: {e}"))?;
                contract["authority"] = json!(cluster.authority());
                let (status, body) = cluster
                    .admin(reqwest::Method::POST, "/contracts", Some(contract))
                    .await;
                let contract = body["id"]
                    .as_str()
                    .filter(|_| status == 201)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("creating the contract: {status} {body}"))?;
                let authority = cluster.authority();
                (Target::Replicas(cluster), token, contract, authority)
            }
        };
        let dir = tempfile::tempdir().map_err(|e| format!("wallet dir: {e}"))?;
        let wallet = Wallet::create_with_config(
            dir.path(),
            holder_alg,
            DidMethod::Jwk,
            WalletConfig::local_development(),
        )
        .map_err(|e| format!("creating the wallet: {e}"))?;
        Ok(Bench {
            authority,
            target,
            token,
            contract,
            wallet,
            _wallet_dir: dir,
        })
    }

    /// One full issuance as `verity wallet receive` does it, minus the file write:
    /// createIssuanceRequest -> request object -> manifest -> holder request -> JWT-VC verified
    /// -> completion. Returns the JWT-VC.
    pub async fn issue_one(&self, i: usize) -> Result<String, String> {
        let body = json!({
            "authority": self.authority,
            "includeQRCode": false,
            "registration": { "clientName": "Bench" },
            "type": CREDENTIAL_TYPE,
            "manifest": format!("{}/v1.0/manifests/{}", self.target.url(), self.contract),
            "claims": { "given_name": format!("user{i}"), "family_name": "Bench" },
        });
        let (status, created) = send(
            self.target
                .http()
                .post(format!(
                    "{}/v1.0/verifiableCredentials/createIssuanceRequest",
                    self.target.url()
                ))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await?;
        let url = created["url"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("createIssuanceRequest: {status} {created}"))?;
        let session = IssuanceSession::start(&self.wallet, url)
            .await
            .map_err(|e| format!("request object / manifest: {e}"))?;
        let claims = session
            .holder_request_claims(&ReceiveOptions::default())
            .map_err(|e| format!("holder request: {e}"))?;
        let jwt = session
            .sign_with(&claims, None, None)
            .map_err(|e| format!("signing the holder request: {e}"))?;
        let (status, issued) = session
            .submit(&jwt)
            .await
            .map_err(|e| format!("posting the holder request: {e}"))?;
        let vc = issued["vc"]
            .as_str()
            .filter(|_| (200..300).contains(&status))
            .ok_or_else(|| format!("issue: {status} {issued}"))?;
        // Verified as the wallet would before keeping it; kept in memory by the caller.
        session
            .verify_credential(vc, None)
            .await
            .map_err(|e| format!("the issued credential: {e}"))?;
        let (status, done) = session
            .complete("issuance_successful", None)
            .await
            .map_err(|e| format!("completion: {e}"))?;
        if !(200..300).contains(&status) {
            return Err(format!("completion: {status} {done}"));
        }
        Ok(vc.to_owned())
    }

    /// One presentation of `vc`: createPresentationRequest -> request object (verified by the
    /// wallet) -> id_token + vp_token signed -> response POST verified by the server.
    pub async fn present_one(&self, vc: &str) -> Result<(), String> {
        let body = json!({
            "authority": self.authority,
            "includeQRCode": false,
            "registration": { "clientName": "Bench" },
            "requestedCredentials": [ {
                "type": CREDENTIAL_TYPE,
                "acceptedIssuers": [ self.authority ],
                "configuration": { "validation": { "allowRevoked": false, "validateLinkedDomain": false } },
            } ],
        });
        let (status, created) = send(
            self.target
                .http()
                .post(format!(
                    "{}/v1.0/verifiableCredentials/createPresentationRequest",
                    self.target.url()
                ))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await?;
        let url = created["url"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| format!("createPresentationRequest: {status} {created}"))?;
        let session = PresentationSession::start(&self.wallet, url)
            .await
            .map_err(|e| format!("request object: {e}"))?;
        let opts = PresentationOptions {
            credentials: vec![vc.to_owned()],
            ..PresentationOptions::default()
        };
        let r = session
            .build_response(&opts)
            .map_err(|e| format!("building the response: {e}"))?;
        let (status, answer) = session
            .submit(&r.id_token, &r.vp_token, &r.state)
            .await
            .map_err(|e| format!("posting the response: {e}"))?;
        if status != 200 {
            return Err(format!("presentation response: {status} {answer}"));
        }
        Ok(())
    }
}

/// Runs `count` calls of `op` (argument: a running number from `first`) with `concurrency` in
/// flight; returns each call's latency. Stops at the first failure and returns it.
pub async fn drive<F, Fut>(
    count: usize,
    concurrency: usize,
    first: usize,
    op: F,
) -> Result<Vec<Duration>, String>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(count).max(1) {
        let next = next.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                if let Err(e) = op(first + i).await {
                    // Let the other workers stop at their next operation.
                    next.store(count, Ordering::SeqCst);
                    return Err(format!("operation {}: {e}", first + i));
                }
                latencies.push(t.elapsed());
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(count);
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("a load worker failed: {e}"));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

/// The `p` quantile (0..=1) of sorted latencies, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with two decimals.
fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// `perf record` attached to the server for the measured phase.
struct Perf(std::process::Child);

impl Perf {
    async fn start(pid: u32, out: &std::path::Path) -> Result<Perf, String> {
        let child = std::process::Command::new("perf")
            .args(["record", "-F", "999", "-g", "-p", &pid.to_string(), "-o"])
            .arg(out)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start perf (is it installed?): {e}"))?;
        // perf needs a moment to attach to every thread before the load starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Perf(child))
    }

    fn stop(mut self) {
        // SIGINT makes perf write its file and exit.
        let _ = std::process::Command::new("kill")
            .arg("-INT")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

/// Warm-up, then the measured phase with CPU readings around it; prints the report and the
/// RESULT line.
async fn measure<F, Fut>(
    name: &str,
    bench: &Bench,
    opts: &Options,
    mix: &SignatureMix,
    floor: &Floor,
    op: F,
) -> Result<(), String>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let floor_ms = mix.floor_ms(floor)?;
    println!(
        "SIGNATURES {name}: {} per op ({}); at the floor {floor_ms:.4} CPU ms per op",
        mix.count(),
        mix.describe()
    );
    if opts.warmup > 0 {
        drive(opts.warmup, opts.concurrency, 0, op.clone()).await?;
    }
    let tick_ms = 1000.0 / procfs::clock_ticks_per_sec() as f64;
    let perf = match &opts.perf {
        Some(path) => Some(Perf::start(bench.target.pids()[0], path).await?),
        None => None,
    };
    let load_before = procfs::load_average();
    let cpu0 = bench.target.cpu_ticks()?;
    let own0 = procfs::process_cpu_ticks(std::process::id())?;
    let db0 = bench.target.db_cpu_ticks();
    let t0 = Instant::now();
    let result = drive(opts.count, opts.concurrency, opts.warmup, op).await;
    let elapsed = t0.elapsed();
    let cpu1 = bench.target.cpu_ticks()?;
    let own1 = procfs::process_cpu_ticks(std::process::id())?;
    let db1 = bench.target.db_cpu_ticks();
    let load_after = procfs::load_average();
    if let Some(p) = perf {
        p.stop();
    }
    let mut latencies = result?;
    latencies.sort();
    let n = latencies.len() as f64;
    let ops_per_s = n / elapsed.as_secs_f64();
    let server_ms = (cpu1 - cpu0) as f64 * tick_ms / n;
    let own_ms = own1.saturating_sub(own0) as f64 * tick_ms / n;
    let db_ms = db1.saturating_sub(db0) as f64 * tick_ms / n;
    println!(
        "MEASURED {name} count={} concurrency={} elapsed_s={:.2} ops_per_s={ops_per_s:.1} p50_ms={} p95_ms={} p99_ms={} max_ms={}",
        latencies.len(),
        opts.concurrency,
        elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );
    println!(
        "CPU server_ms_per_op={server_ms:.3} load_generator_ms_per_op={own_ms:.3} postgres_backends_ms_per_op={db_ms:.3} loadavg_before=\"{load_before}\" loadavg_after=\"{load_after}\""
    );
    if let Some(path) = &opts.perf {
        println!(
            "PERF {} (perf report -i {0} --no-children; docs/BENCHMARKS.md for a flame graph)",
            path.display()
        );
    }
    if let Target::Replicas(c) = &bench.target {
        println!(
            "REPLICAS {} requests_per_replica={:?} (round robin through the proxy in this process)",
            c.replicas.len(),
            c.proxy.served()
        );
    }
    println!(
        "RESULT {name} backend={}{} concurrency={} ops_per_s={ops_per_s:.1} p99_ms={} server_cpu_ms_per_op={server_ms:.3} signature_ops_per_op={} floor_ratio={:.2}",
        backend_name(opts.backend),
        opts.replicas
            .map(|n| format!(" replicas={n}"))
            .unwrap_or_default(),
        opts.concurrency,
        ms(percentile(&latencies, 0.99)),
        mix.count(),
        server_ms / floor_ms,
    );
    Ok(())
}

/// Prints where the run happens and measures the floor while the server is idle.
fn setup_report(bench: &Bench, opts: &Options, holder_alg: Algorithm) -> Result<Floor, String> {
    println!(
        "SETUP backend={} server_pid={:?} url={} holder={holder_alg} did:jwk loadavg=\"{}\" server_log={}",
        backend_name(opts.backend),
        bench.target.pids(),
        bench.target.url(),
        procfs::load_average(),
        bench.target.log(),
    );
    let floor = floor::measure(opts.floor_ops)?;
    if !floor::is_plausible(&floor) {
        return Err(format!("implausible floor reading: {floor:?}"));
    }
    println!("{}", floor::describe(&floor));
    Ok(floor)
}

/// `bench issuance`.
pub async fn issuance(opts: &Options) -> Result<(), String> {
    let holder_alg = opts.holder_alg.unwrap_or(Algorithm::EdDSA);
    let bench = Arc::new(Bench::start(opts, holder_alg).await?);
    let floor = setup_report(&bench, opts, holder_alg)?;
    // One issuance to learn which algorithms the server's keys use.
    let vc = bench.issue_one(0).await?;
    let mix = issuance_mix(jws_alg(&vc)?, jws_alg(&bench.token)?, holder_alg);
    let b = bench.clone();
    let op = move |i: usize| {
        let b = b.clone();
        async move { b.issue_one(i + 1).await.map(|_| ()) }
    };
    measure("issuance", &bench, opts, &mix, &floor, op).await?;
    finish(bench).await;
    Ok(())
}

/// `bench presentation`.
pub async fn presentation(opts: &Options) -> Result<(), String> {
    let holder_alg = opts.holder_alg.unwrap_or(Algorithm::ES256);
    let bench = Arc::new(Bench::start(opts, holder_alg).await?);
    let floor = setup_report(&bench, opts, holder_alg)?;
    // The one credential every presentation shows, issued once up front.
    let vc: Arc<str> = bench.issue_one(0).await?.into();
    let mix = presentation_mix(jws_alg(&vc)?, jws_alg(&bench.token)?, holder_alg);
    // The first presentation resolves and caches the issuer's DID document and status list;
    // it is never measured, whatever --warmup says.
    bench.present_one(&vc).await?;
    let b = bench.clone();
    let op = move |_: usize| {
        let b = b.clone();
        let vc = vc.clone();
        async move { b.present_one(&vc).await }
    };
    measure("presentation", &bench, opts, &mix, &floor, op).await?;
    finish(bench).await;
    Ok(())
}

/// Stops the server gracefully once the load workers (which hold clones) are gone.
async fn finish(bench: Arc<Bench>) {
    if let Ok(bench) = Arc::try_unwrap(bench) {
        bench.target.stop().await;
    }
}

/// The JSON payload of a JWT, unverified.
fn payload_of(jwt: &str) -> Result<Value, String> {
    UnverifiedJws::parse(jwt)
        .and_then(|j| j.payload_unverified())
        .map_err(|e| format!("not a JWT: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_counts_follow_the_code_path() {
        let i = issuance_mix(Algorithm::ES256, Algorithm::ES256, Algorithm::EdDSA);
        assert_eq!(i.count(), 6);
        assert_eq!(
            i.verifies,
            vec![
                ("access token", Algorithm::ES256),
                ("holder request", Algorithm::EdDSA)
            ]
        );
        let p = presentation_mix(Algorithm::ES256, Algorithm::ES256, Algorithm::ES256);
        assert_eq!(p.count(), 5);
        assert_eq!(p.signs.len(), 1);
    }

    #[test]
    fn floor_cost_weights_each_operation_by_its_algorithm() {
        let f = Floor {
            es256_sign_ms: 0.03,
            es256_verify_ms: 0.1,
            eddsa_sign_ms: 0.02,
            eddsa_verify_ms: 0.05,
        };
        let i = issuance_mix(Algorithm::ES256, Algorithm::ES256, Algorithm::EdDSA);
        let want = 4.0 * 0.03 + 0.1 + 0.05;
        assert!((i.floor_ms(&f).unwrap() - want).abs() < 1e-12);
        let k = issuance_mix(Algorithm::ES256K, Algorithm::ES256, Algorithm::EdDSA);
        assert!(
            k.floor_ms(&f).is_err(),
            "an unmeasured algorithm is an error"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[tokio::test]
    async fn drive_runs_each_operation_once_and_stops_at_a_failure() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let l = drive(50, 7, 10, move |i| {
            let s = s.clone();
            async move {
                s.lock().map_err(|e| e.to_string())?.push(i);
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(l.len(), 50);
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, (10..60).collect::<Vec<_>>());

        let e = drive(50, 4, 0, |i| async move {
            if i == 5 {
                Err("boom".to_owned())
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_err();
        assert!(e.contains("operation 5: boom"), "{e}");
    }
}
