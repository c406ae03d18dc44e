//! Scale-out (issue 14, item 1): two real `verity serve` processes on ONE Postgres database,
//! with the same KEK, admin token and public URL, behind a round-robin proxy that sends every
//! HTTP request to the other replica than the last. The reference wallet and a recording RP
//! drive full flows through it: hosted issuance, the OpenID4VCI offer, hosted and OpenID4VP
//! presentations; a revocation made on one replica refuses the next presentation answered by
//! the other; a key rotation made on one replica is published and used by the other at once;
//! every callback reaches the RP exactly once; status indices stay unique across replicas.
//!
//! Postgres only (SQLite is one file of one process): skipped without
//! `VERITY_TEST_POSTGRES_URL` unless `VERITY_TEST_REQUIRE_POSTGRES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use verity_jose::UnverifiedJws;
use verity_tests::presentation::{payload_of, presenting};
use verity_tests::replicas::Cluster;
use verity_tests::rp::TestRp;
use verity_tests::send;
use verity_wallet::{
    Algorithm, CredentialFormat, DidMethod, OfferOptions, PresentationSession, ReceiveOptions,
    Wallet, WalletConfig, WalletError,
};

/// Callbacks to the loopback RP over http, retried after a second.
const CALLBACKS: &str = "[callbacks]\nallow_loopback = true\n\
                         allow_http_hosts = [\"127.0.0.1\"]\ninitial_backoff_ms = 1000\n";

struct Service {
    cluster: Cluster,
    rp: TestRp,
    token: String,
    contract: String,
}

impl Service {
    fn issuance_body(&self, n: usize) -> Value {
        self.cluster
            .issuance_body(&self.rp.url(), &self.contract, n)
    }

    fn presentation_body(&self, n: usize) -> Value {
        self.cluster.presentation_body(&self.rp.url(), n)
    }

    async fn create(&self, kind: &str, body: &Value) -> (String, String) {
        self.cluster.create_request(&self.token, kind, body).await
    }

    /// The statuses the RP received for `request_id`, in order.
    fn statuses_of(&self, request_id: &str) -> Vec<String> {
        self.rp
            .calls()
            .iter()
            .filter(|c| c.body["requestId"] == request_id)
            .map(|c| c.body["requestStatus"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the RP heard `expected` for `request_id` (10 s), and asserts that is all.
    /// Callbacks queued by different replicas are delivered by different workers, so their
    /// order is not checked (docs/OPERATIONS.md, "Callbacks"); each arrives exactly once.
    async fn expect_callbacks(&self, request_id: &str, expected: &[&str]) {
        for _ in 0..200 {
            if self.statuses_of(request_id).len() >= expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut heard = self.statuses_of(request_id);
        heard.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(
            heard,
            expected,
            "callbacks of {request_id}\n{}",
            self.cluster.logs()
        );
    }
}

fn wallet(dir: &Path, alg: Algorithm) -> Wallet {
    Wallet::create_with_config(dir, alg, DidMethod::Jwk, WalletConfig::local_development()).unwrap()
}

fn enc(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

/// The `kid` in the header of a compact JWS (the issuer part of an SD-JWT).
fn kid_of(jwt: &str) -> String {
    let issuer_part = jwt.split('~').next().unwrap();
    UnverifiedJws::parse(issuer_part)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap()
}

/// The `request_uri` query parameter of an `openid-vc://` URL.
fn request_uri(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_behave_as_one_service() {
    let binary = Path::new(env!("CARGO_BIN_EXE_verity"));
    let Some(cluster) = Cluster::start(2, binary, CALLBACKS).await.unwrap() else {
        eprintln!("replicas: skipped, the test needs Postgres (VERITY_TEST_POSTGRES_URL)");
        return;
    };
    // Both replicas started at the same moment on the empty database: one set of migrations,
    // one first authority, whichever won.
    let (status, authorities) = cluster.admin(Method::GET, "/authorities", None).await;
    assert_eq!(status, 200, "{authorities}");
    let listed = authorities
        .as_array()
        .or_else(|| authorities["value"].as_array())
        .or_else(|| authorities["authorities"].as_array())
        .unwrap_or_else(|| panic!("{authorities}"));
    assert_eq!(listed.len(), 1, "{authorities}");
    assert_eq!(listed[0]["did"], cluster.authority());

    let rp = TestRp::start().await;
    let token = cluster.access_token().await;
    let contract = cluster.create_contract("id-token-hint").await;
    let svc = Service {
        contract,
        cluster,
        rp,
        token,
    };
    let dir = tempfile::tempdir().unwrap();
    let holder = wallet(dir.path(), Algorithm::ES256);

    // Hosted issuance: five requests, alternating between the replicas.
    let (issue_id, url) = svc.create("Issuance", &svc.issuance_body(1)).await;
    let hosted = holder
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    assert_eq!(hosted.issuer, svc.cluster.authority());
    svc.expect_callbacks(&issue_id, &["request_retrieved", "issuance_successful"])
        .await;

    // OpenID4VCI offer (pre-authorized code, SD-JWT VC): offer, metadata, token, nonce,
    // credential, each on whichever replica is next.
    let mut offer = svc.issuance_body(2);
    offer["profile"] = json!("openid4vci");
    let (offer_id, url) = svc.create("Issuance", &offer).await;
    let sd_jwt = holder
        .receive_offer(&url, &OfferOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    assert_eq!(sd_jwt.format, CredentialFormat::SdJwtVc);
    svc.expect_callbacks(&offer_id, &["request_retrieved", "issuance_successful"])
        .await;

    // Hosted presentation of the JWT-VC.
    let (present_id, url) = svc.create("Presentation", &svc.presentation_body(1)).await;
    holder
        .present_with(&url, &presenting(vec![hosted.jwt.clone()]))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    svc.expect_callbacks(&present_id, &["request_retrieved", "presentation_verified"])
        .await;

    // OpenID4VP presentation (DCQL, direct_post).
    let mut vp = svc.presentation_body(2);
    vp["profile"] = json!("openid4vp");
    let (vp_id, url) = svc.create("Presentation", &vp).await;
    assert!(url.starts_with("openid4vp://"), "{url}");
    holder
        .present(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    svc.expect_callbacks(&vp_id, &["request_retrieved", "presentation_verified"])
        .await;

    // Revocation on replica 0; the answer of the next presentation goes to replica 1.
    let jti = payload_of(&hosted.jwt)["jti"].clone();
    let (status, body) = svc
        .cluster
        .admin_on(
            0,
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (refused_id, url) = svc.create("Presentation", &svc.presentation_body(3)).await;
    let session = PresentationSession::start(&holder, &url).await.unwrap();
    let answer = session
        .build_response(&presenting(vec![hosted.jwt.clone()]))
        .unwrap();
    let (status, body) = send(
        svc.cluster
            .direct(1, Method::POST, &format!("/v1.0/responses/{refused_id}"))
            .form(&[
                ("id_token", answer.id_token.as_str()),
                ("vp_token", answer.vp_token.as_str()),
                ("state", answer.state.as_str()),
            ]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .ends_with("(PRES-043)"),
        "{body}"
    );
    svc.expect_callbacks(&refused_id, &["request_retrieved", "presentation_error"])
        .await;

    // Key rotation on replica 1: replica 0 publishes the new key and signs with it at once.
    let (status, keys) = svc
        .cluster
        .admin_on(
            1,
            Method::GET,
            &format!("/authorities/{}/keys", enc(&svc.cluster.authority())),
            None,
        )
        .await;
    assert_eq!(status, 200, "{keys}");
    let old_kid = kid_of(&hosted.jwt);
    let (status, rotated) = svc
        .cluster
        .admin_on(
            1,
            Method::POST,
            &format!("/authorities/{}/keys/rotate", enc(&svc.cluster.authority())),
            None,
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let (status, doc) = send(svc.cluster.direct(0, Method::GET, "/.well-known/did.json")).await;
    assert_eq!(status, 200, "{doc}");
    let published: BTreeSet<String> = doc["assertionMethod"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let new_kid = published
        .iter()
        .find(|k| **k != old_kid)
        .unwrap_or_else(|| panic!("replica 0 publishes no new key: {doc}\nbefore: {keys}"))
        .clone();
    assert!(
        published.contains(&old_kid),
        "the retiring key stays: {doc}"
    );
    // A request object fetched from replica 0 is signed with the new key.
    let (_, url) = svc.create("Presentation", &svc.presentation_body(4)).await;
    let object = svc
        .cluster
        .direct(
            0,
            Method::GET,
            url::Url::parse(&request_uri(&url)).unwrap().path(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(kid_of(&object), new_kid, "{object}");
    // Credentials issued now carry the new key. A wallet that has not cached the DID
    // document (the reference wallet keeps one for 5 minutes) verifies them.
    let dir2 = tempfile::tempdir().unwrap();
    let holder = wallet(dir2.path(), Algorithm::ES256);
    let (id, url) = svc.create("Issuance", &svc.issuance_body(3)).await;
    let fresh = holder
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    assert_eq!(kid_of(&fresh.jwt), new_kid);
    svc.expect_callbacks(&id, &["request_retrieved", "issuance_successful"])
        .await;
    let (id, url) = svc.create("Presentation", &svc.presentation_body(5)).await;
    holder
        .present_with(&url, &presenting(vec![fresh.jwt.clone()]))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs()));
    svc.expect_callbacks(&id, &["request_retrieved", "presentation_verified"])
        .await;

    // Issuances at the same moment through both replicas: every credential has its own status
    // index (each replica leases its own batches from the shared allocation).
    let holders: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut tasks = Vec::new();
    for (n, d) in holders.iter().enumerate() {
        let (id, url) = svc.create("Issuance", &svc.issuance_body(10 + n)).await;
        let path = d.path().to_owned();
        tasks.push(tokio::spawn(async move {
            let w = wallet(&path, Algorithm::EdDSA);
            let c = w
                .receive(&url, ReceiveOptions::default())
                .await
                .map_err(|e: WalletError| e.to_string())?;
            Ok::<_, String>((id, c.jwt))
        }));
    }
    let mut issued = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        issued.push(r.unwrap_or_else(|e| panic!("{e}\n{}", svc.cluster.logs())));
    }
    let mut indices = BTreeSet::new();
    for (id, jwt) in &issued {
        let status = &payload_of(jwt)["vc"]["credentialStatus"];
        let key = format!(
            "{} {}",
            status["statusListCredential"], status["statusListIndex"]
        );
        assert!(indices.insert(key.clone()), "index {key} handed out twice");
        svc.expect_callbacks(id, &["request_retrieved", "issuance_successful"])
            .await;
    }

    // Exactly once, also after both outbox workers had time to look again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut per_message: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in svc.rp.calls() {
        let key = (
            c.body["requestId"].as_str().unwrap().to_owned(),
            c.body["requestStatus"].as_str().unwrap().to_owned(),
        );
        *per_message.entry(key).or_default() += 1;
    }
    assert!(
        per_message.values().all(|n| *n == 1),
        "a callback delivered twice: {per_message:?}"
    );
    assert_eq!(svc.rp.attempts(), svc.rp.calls().len());
    let served = svc.cluster.proxy.served();
    assert!(served.iter().all(|n| *n > 20), "round robin: {served:?}");
}
