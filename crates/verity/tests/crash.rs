//! Crash safety (issue 14, item 2): the real `verity serve` binary, killed with SIGKILL at
//! chosen points and started again on the same database, on SQLite (the zero-config default,
//! one file) and on Postgres.
//!
//! The test build of the binary stops at the crash point named by `VERITY_TEST_CRASH_POINT`
//! (`verity_store::arm_crash_point`: inside a step's transaction before its commit, right
//! after a commit, between a status list's signing and its storing, between a callback's
//! delivery and its recording) and prints that it did; the harness then kills it with SIGKILL,
//! starts it again, and checks what docs/OPERATIONS.md ("Crashes") promises:
//!
//! - no credential without its record, and no record of a credential the wallet never got;
//! - no status index handed out twice, across every crash;
//! - no half-revoked credential: its row, its status bit and its audit entry change together;
//! - a status list served after a crash carries every committed revocation;
//! - no callback lost: a delivery cut off by the crash is made again (at least once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use verity_store::testing::Backend;
use verity_tests::presentation::{payload_of, presenting};
use verity_tests::replicas::Cluster;
use verity_tests::rp::TestRp;
use verity_tests::send;
use verity_wallet::{Algorithm, DidMethod, ReceiveOptions, Wallet, WalletConfig};

/// Callbacks to the loopback RP over http, retried after a second; one attempt may take 2 s
/// (connect + read timeout), so a delivery cut off by a crash is leased for 12 s.
const CONFIG: &str = "[callbacks]\nallow_loopback = true\n\
                      allow_http_hosts = [\"127.0.0.1\"]\ninitial_backoff_ms = 1000\n\
                      timeout_secs = 1\n";

/// How long a process may take to reach its crash point once the action started.
const REACH: Duration = Duration::from_secs(30);

struct Service {
    cluster: Cluster,
    rp: TestRp,
    token: String,
    contract: String,
}

impl Service {
    async fn start(backend: Backend) -> Option<Service> {
        let binary = Path::new(env!("CARGO_BIN_EXE_verity"));
        let cluster = Cluster::start_on(backend, 1, binary, CONFIG)
            .await
            .unwrap()?;
        let rp = TestRp::start().await;
        let token = cluster.access_token().await;
        let contract = cluster.create_contract("id-token-hint").await;
        Some(Service {
            contract,
            cluster,
            rp,
            token,
        })
    }

    async fn issuance(&self, n: usize) -> (String, String) {
        let body = self
            .cluster
            .issuance_body(&self.rp.url(), &self.contract, n);
        self.cluster
            .create_request(&self.token, "Issuance", &body)
            .await
    }

    async fn presentation(&self, n: usize) -> (String, String) {
        let body = self.cluster.presentation_body(&self.rp.url(), n);
        self.cluster
            .create_request(&self.token, "Presentation", &body)
            .await
    }

    /// The credentials recorded for `holder` (admin API).
    async fn records_of(&self, holder: &str) -> Vec<Value> {
        let (status, found) = send(
            self.cluster
                .http
                .get(format!("{}/admin/v1/credentials", self.cluster.url))
                .query(&[("subject", holder)])
                .bearer_auth(&self.cluster.admin_token),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        found.as_array().unwrap().clone()
    }

    /// Every credential recorded for the contract.
    async fn all_records(&self) -> Vec<Value> {
        let (status, found) = send(
            self.cluster
                .http
                .get(format!("{}/admin/v1/credentials", self.cluster.url))
                .query(&[("contract", self.contract.as_str())])
                .bearer_auth(&self.cluster.admin_token),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        found.as_array().unwrap().clone()
    }

    /// Revokes `jti`: the HTTP status, or the error when no answer came. The future borrows
    /// nothing, so it runs while the harness holds the cluster.
    fn revoke(&self, jti: &str) -> impl Future<Output = Result<u16, reqwest::Error>> + 'static {
        let req = self
            .cluster
            .http
            .post(format!("{}/admin/v1/credentials/revoke", self.cluster.url))
            .bearer_auth(&self.cluster.admin_token)
            .json(&json!({ "jti": jti, "reason": "crash test" }));
        async move { Ok(req.send().await?.status().as_u16()) }
    }

    /// The audit entries of revocations of `jti`.
    async fn revocation_audits(&self, jti: &str) -> Vec<Value> {
        let (status, entries) = self.cluster.admin(Method::GET, "/audit", None).await;
        assert_eq!(status, 200, "{entries}");
        let list = entries
            .as_array()
            .or_else(|| entries["entries"].as_array())
            .or_else(|| entries["value"].as_array())
            .unwrap_or_else(|| panic!("{entries}"))
            .clone();
        list.into_iter()
            .filter(|e| e.to_string().contains(&format!("credential={jti}")))
            .collect()
    }

    /// The published status list of `record` (a fresh GET, no cache); borrows nothing.
    fn fetch_list(
        &self,
        record: &Value,
    ) -> impl Future<Output = Result<String, reqwest::Error>> + 'static {
        let url = record["statusList"].as_str().unwrap();
        let path = url::Url::parse(url).unwrap();
        let req = self
            .cluster
            .http
            .get(format!("{}{}", self.cluster.url, path.path()));
        async move { req.send().await?.error_for_status()?.text().await }
    }

    /// The status bit of `record` as its published status list says.
    async fn published_bit(&self, record: &Value) -> bool {
        let jwt = self.fetch_list(record).await.unwrap();
        let payload = payload_of(&jwt);
        let encoded = payload["vc"]["credentialSubject"]["encodedList"]
            .as_str()
            .or_else(|| payload["credentialSubject"]["encodedList"].as_str())
            .unwrap_or_else(|| panic!("no encodedList in {payload}"));
        let bits = verity_status_list::decode(encoded, 0).unwrap();
        bits.get(record["statusIndex"].as_u64().unwrap() as usize)
            .unwrap()
    }

    /// How many times the RP accepted `status` for `request_id`.
    fn heard(&self, request_id: &str, status: &str) -> usize {
        self.rp
            .calls()
            .iter()
            .filter(|c| c.body["requestId"] == request_id && c.body["requestStatus"] == status)
            .count()
    }

    /// Waits (up to `limit`) until the RP accepted `status` for `request_id` at least once.
    async fn wait_heard(&self, request_id: &str, status: &str, limit: Duration) {
        let start = std::time::Instant::now();
        while self.heard(request_id, status) == 0 {
            assert!(
                start.elapsed() < limit,
                "the RP never got {status} for {request_id}: {:?}\n{}",
                self.rp.statuses(),
                self.cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn wallet(dir: &Path) -> Wallet {
    Wallet::create_with_config(
        dir,
        Algorithm::ES256,
        DidMethod::Jwk,
        WalletConfig::local_development(),
    )
    .unwrap()
}

async fn crash_safety(backend: Backend) {
    let Some(mut svc) = Service::start(backend).await else {
        eprintln!("crash: skipped, the test needs Postgres (VERITY_TEST_POSTGRES_URL)");
        return;
    };
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let holders: Vec<Wallet> = dirs.iter().map(|d| wallet(d.path())).collect();

    // Mid-issuance, before the issue step commits: the credential was signed but neither
    // recorded nor sent. After the restart nothing of it is stored; the wallet's retry gets
    // one, recorded once, and the RP hears the outcome once.
    let holder = &holders[0];
    let (id, url) = svc.issuance(1).await;
    svc.cluster
        .restart(0, Some("flow step credential_issued: before commit"))
        .await
        .unwrap();
    let (lost, killed) = tokio::join!(
        holder.receive(&url, ReceiveOptions::default()),
        svc.cluster
            .kill_at_crash_point(0, "flow step credential_issued: before commit", REACH)
    );
    killed.unwrap();
    assert!(lost.is_err(), "the answer died with the process");
    svc.cluster.restart(0, None).await.unwrap();
    assert_eq!(svc.records_of(&holder.did()).await, Vec::<Value>::new());
    let first = holder
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_or_else(|e| panic!("retry after the crash: {e}\n{}", svc.cluster.logs()));
    let records = svc.records_of(&holder.did()).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["jti"], payload_of(&first.jwt)["jti"]);
    svc.wait_heard(&id, "issuance_successful", REACH).await;

    // Mid-issuance, right after the commit: the answer is lost. The retry gets the same
    // credential (the one recorded), not a second one.
    let holder = &holders[1];
    let (id, url) = svc.issuance(2).await;
    svc.cluster
        .restart(0, Some("flow step credential_issued: committed"))
        .await
        .unwrap();
    let (lost, killed) = tokio::join!(
        holder.receive(&url, ReceiveOptions::default()),
        svc.cluster
            .kill_at_crash_point(0, "flow step credential_issued: committed", REACH)
    );
    killed.unwrap();
    assert!(lost.is_err());
    svc.cluster.restart(0, None).await.unwrap();
    let recorded = svc.records_of(&holder.did()).await;
    assert_eq!(
        recorded.len(),
        1,
        "the committed step kept its record: {recorded:?}"
    );
    let second = holder
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_or_else(|e| panic!("retry after the crash: {e}\n{}", svc.cluster.logs()));
    assert_eq!(payload_of(&second.jwt)["jti"], recorded[0]["jti"]);
    assert_eq!(svc.records_of(&holder.did()).await.len(), 1);
    svc.wait_heard(&id, "issuance_successful", REACH).await;

    // Mid status-index allocation, before and after its commit: the batch a dead process took
    // is never handed out again (checked over every credential at the end).
    for (n, point) in [
        (3, "allocate status index: before commit"),
        (4, "allocate status index: committed"),
    ] {
        let holder = &holders[n - 1];
        let (_, url) = svc.issuance(n).await;
        svc.cluster.restart(0, Some(point)).await.unwrap();
        let (lost, killed) = tokio::join!(
            holder.receive(&url, ReceiveOptions::default()),
            svc.cluster.kill_at_crash_point(0, point, REACH)
        );
        killed.unwrap();
        assert!(lost.is_err());
        svc.cluster.restart(0, None).await.unwrap();
        assert_eq!(svc.records_of(&holder.did()).await, Vec::<Value>::new());
        holder
            .receive(&url, ReceiveOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{point}: retry: {e}\n{}", svc.cluster.logs()));
        assert_eq!(svc.records_of(&holder.did()).await.len(), 1);
    }

    // Mid-revocation (the row says revoked, the bit is not set yet): after the restart the
    // credential is wholly valid (row, status bit, audit) and still presents; revoking again
    // then revokes it wholly.
    let jti = payload_of(&first.jwt)["jti"].as_str().unwrap().to_owned();
    let point = "revoke credential: marked, bit not set";
    svc.cluster.restart(0, Some(point)).await.unwrap();
    let (answer, killed) = tokio::join!(
        svc.revoke(&jti),
        svc.cluster.kill_at_crash_point(0, point, REACH)
    );
    killed.unwrap();
    assert!(
        answer.is_err(),
        "the revocation died with the process: {answer:?}"
    );
    svc.cluster.restart(0, None).await.unwrap();
    let record = svc.records_of(&holders[0].did()).await.remove(0);
    assert_eq!(record["status"], "VALID", "{record}");
    assert!(!svc.published_bit(&record).await);
    assert_eq!(svc.revocation_audits(&jti).await, Vec::<Value>::new());
    let (present_id, url) = svc.presentation(1).await;
    holders[0]
        .present_with(&url, &presenting(vec![first.jwt.clone()]))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    svc.wait_heard(&present_id, "presentation_verified", REACH)
        .await;

    // The same revocation killed right after its commit: wholly revoked after the restart.
    let point = "revoke credential: committed";
    svc.cluster.restart(0, Some(point)).await.unwrap();
    let (_, killed) = tokio::join!(
        svc.revoke(&jti),
        svc.cluster.kill_at_crash_point(0, point, REACH)
    );
    killed.unwrap();
    // Mid-publish of the changed status list: signed, killed before the signature is stored.
    let point = "status list: signed, not stored";
    svc.cluster.restart(0, Some(point)).await.unwrap();
    let (lost, killed) = tokio::join!(
        svc.fetch_list(&record),
        svc.cluster.kill_at_crash_point(0, point, REACH)
    );
    killed.unwrap();
    assert!(lost.is_err());
    svc.cluster.restart(0, None).await.unwrap();
    let record = svc.records_of(&holders[0].did()).await.remove(0);
    assert_eq!(record["status"], "REVOKED", "{record}");
    assert!(
        svc.published_bit(&record).await,
        "the list shows the revocation"
    );
    assert_eq!(svc.revocation_audits(&jti).await.len(), 1);
    assert_eq!(svc.revoke(&jti).await.unwrap(), 200);
    assert_eq!(
        svc.revocation_audits(&jti).await.len(),
        2,
        "the second revocation is audited as `already revoked`"
    );
    let (refused_id, url) = svc.presentation(2).await;
    let refused = holders[0]
        .present_with(&url, &presenting(vec![first.jwt.clone()]))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("PRES-043"), "{refused}");
    svc.wait_heard(&refused_id, "presentation_error", REACH)
        .await;

    // Mid-callback delivery: the RP has the request but has not answered when the process
    // dies. The callback is delivered again after the restart, once its lease (12 s) ends.
    svc.rp.hang_next(1);
    let (id, url) = svc.presentation(3).await;
    let attempts = svc.rp.attempts();
    let session = verity_wallet::PresentationSession::start(&holders[1], &url)
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while svc.rp.attempts() == attempts {
        assert!(start.elapsed() < REACH, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.cluster.kill(0);
    assert_eq!(svc.heard(&id, "request_retrieved"), 0);
    svc.cluster.restart(0, None).await.unwrap();
    svc.wait_heard(&id, "request_retrieved", Duration::from_secs(40))
        .await;
    drop(session);

    // Delivered, killed before the delivery was recorded: delivered again (at least once).
    let point = "callback: delivered, not marked";
    svc.cluster.restart(0, Some(point)).await.unwrap();
    let (id, url) = svc.presentation(4).await;
    let (fetched, killed) = tokio::join!(
        verity_wallet::PresentationSession::start(&holders[1], &url),
        svc.cluster.kill_at_crash_point(0, point, REACH)
    );
    // (The wallet's own checks of the request object may or may not have finished.)
    drop(fetched);
    killed.unwrap();
    assert_eq!(svc.heard(&id, "request_retrieved"), 1);
    svc.cluster.restart(0, None).await.unwrap();
    let start = std::time::Instant::now();
    while svc.heard(&id, "request_retrieved") < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not delivered again: {:?}\n{}",
            svc.rp.statuses(),
            svc.cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Across every crash: each credential has its own status index, and every credential a
    // wallet holds is recorded.
    let records = svc.all_records().await;
    assert_eq!(records.len(), 4, "{records:?}");
    let indices: BTreeSet<(String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["statusList"].as_str().unwrap().to_owned(),
                r["statusIndex"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(indices.len(), records.len(), "an index reused: {records:?}");
    for holder in &holders {
        for held in holder.credentials() {
            let jti = payload_of(&held.jwt)["jti"].clone();
            assert!(
                records.iter().any(|r| r["jti"] == jti),
                "{jti} is held but not recorded"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_at_every_chosen_point() {
    crash_safety(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill_at_every_chosen_point() {
    crash_safety(Backend::Postgres).await;
}
