//! Status-index allocation under load: several server processes on one Postgres (row locks,
//! `FOR UPDATE`) and one SQLite process (serialised writes) never hand out an index twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_jose::UnverifiedJws;
use verity_tests::issuance::{allow_local_callbacks, example_contract};
use verity_tests::{Backend, TestApp, allow_local_resolution, send, start, test_config};
use verity_wallet::{Algorithm, DidMethod, IssuanceSession, ReceiveOptions, Wallet, WalletConfig};

/// Issues `per_task * tasks` credentials through `apps` (round robin) and returns every
/// (status list, index) pair the credentials carry.
async fn issue_many(
    apps: Arc<Vec<TestApp>>,
    api_key: String,
    contract: String,
    tasks: usize,
    per_task: usize,
) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig::local_development().with_clock(Arc::new(apps[0].clock.clone()));
    let wallet = Arc::new(
        Wallet::create_with_config(dir.path(), Algorithm::ES256, DidMethod::Jwk, config).unwrap(),
    );
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (apps, wallet, key, contract) = (
            apps.clone(),
            wallet.clone(),
            api_key.clone(),
            contract.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..per_task {
                let app = &apps[(t + i) % apps.len()];
                let body = json!({
                    "authority": apps[0].first_did(),
                    "registration": { "clientName": "load" },
                    "callback": { "url": "http://127.0.0.1:9/unused", "state": "s" },
                    "type": "VerifiedCredentialExpert",
                    "manifest": format!("{}/v1.0/manifests/{contract}", app.url),
                    "claims": { "given_name": format!("user-{t}-{i}"), "family_name": "Load" },
                });
                let (status, created) = send(
                    app.http
                        .post(format!(
                            "{}/v1.0/verifiableCredentials/createIssuanceRequest",
                            app.url
                        ))
                        .bearer_auth(&key)
                        .json(&body),
                )
                .await;
                assert_eq!(status, 201, "{created}");
                let session = IssuanceSession::start(&wallet, created["url"].as_str().unwrap())
                    .await
                    .unwrap();
                let claims = session
                    .holder_request_claims(&ReceiveOptions::default())
                    .unwrap();
                let jwt = session.sign_with(&claims, None, None).unwrap();
                let (status, answer) = session.submit(&jwt).await.unwrap();
                assert_eq!(status, 200, "{answer}");
                let vc: Value = UnverifiedJws::parse(answer["vc"].as_str().unwrap())
                    .unwrap()
                    .payload_unverified()
                    .unwrap();
                let entry = &vc["vc"]["credentialStatus"];
                out.push((
                    entry["statusListCredential"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned(),
                    entry["statusListIndex"].as_str().unwrap().parse().unwrap(),
                ));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all
}

/// Starts `n` app processes' worth of servers on one database.
async fn instances(backend: Backend, n: usize) -> Option<(Arc<Vec<TestApp>>, String, String)> {
    let db = Arc::new(verity_store::testing::fresh_database(backend).await?);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, dir.path());
    allow_local_resolution(&mut config);
    allow_local_callbacks(&mut config);
    config.server.workers = 2;
    let mut apps = Vec::new();
    for _ in 0..n {
        apps.push(
            start(config.clone(), db.clone(), dir.clone())
                .await
                .unwrap(),
        );
    }
    let first = &apps[0];
    let (status, k) = first
        .admin(Method::POST, "/api-keys", Some(json!({ "name": "load" })))
        .await;
    assert_eq!(status, 201);
    let (status, c) = first
        .admin(
            Method::POST,
            "/contracts",
            Some(example_contract("id-token-hint", &first.first_did())),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    Some((
        Arc::new(apps),
        k["key"].as_str().unwrap().to_owned(),
        c["id"].as_str().unwrap().to_owned(),
    ))
}

fn assert_unique(pairs: &[(String, u64)], expected: usize) {
    assert_eq!(pairs.len(), expected);
    let unique: HashSet<&(String, u64)> = pairs.iter().collect();
    assert_eq!(
        unique.len(),
        expected,
        "a status index was handed out twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_never_share_an_index() {
    let Some((apps, key, contract)) = instances(Backend::Postgres, 2).await else {
        return;
    };
    // 2,000 issuances from 16 concurrent clients, alternating between the two instances.
    let pairs = issue_many(apps.clone(), key, contract, 16, 125).await;
    assert_unique(&pairs, 2000);
    let state = apps[0].app_state();
    let recorded = state
        .store
        .find_credentials(None, None, None, 5000)
        .await
        .unwrap();
    assert_eq!(recorded.len(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sqlite_process_serialises_allocation() {
    let Some((apps, key, contract)) = instances(Backend::Sqlite, 1).await else {
        return;
    };
    let pairs = issue_many(apps, key, contract, 8, 25).await;
    assert_unique(&pairs, 200);
}
