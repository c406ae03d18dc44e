//! KEK rotation (docs/OPERATIONS.md, "KEK rotation") as operators run it: the real binary,
//! restarted replica by replica with new `[keys]` settings, on SQLite (one process) and on
//! Postgres (two replicas behind a round-robin proxy, rotated one at a time while the other
//! still runs the previous step). A service set up under one key-encryption key moves to
//! another without losing a signing key, an API client secret or an API key; a KEK that opens
//! nothing stops start-up naming the KEK ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use verity_store::testing::Backend;
use verity_tests::replicas::Cluster;
use verity_tests::send;

/// What must keep working across the rotation: made before it.
struct Made {
    client_id: String,
    secret: String,
    api_key: String,
    published: Value,
}

fn enc(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

async fn published_keys(cluster: &Cluster) -> Value {
    let (status, keys) = cluster
        .admin(
            Method::GET,
            &format!("/authorities/{}/keys", enc(&cluster.authority())),
            None,
        )
        .await;
    assert_eq!(status, 200, "{keys}");
    keys
}

/// Everything that needs a key or the derived pepper, through the proxy (so on every replica
/// in turn): an OAuth token (the service signing key, the client-secret pepper), an API key,
/// a request object signed by the authority, and the same published keys.
async fn still_works(cluster: &Cluster, made: &Made, round: usize) {
    for _ in 0..cluster.replicas.len() {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", made.client_id.as_str()),
            ("client_secret", made.secret.as_str()),
        ];
        let (status, token) = send(
            cluster
                .http
                .post(format!("{}/oauth2/token", cluster.url))
                .form(&form),
        )
        .await;
        assert_eq!(status, 200, "round {round}: client secret: {token}");
        let (status, body) = send(
            cluster
                .http
                .get(format!(
                    "{}/v1.0/verifiableCredentials/authorities",
                    cluster.url
                ))
                .bearer_auth(&made.api_key),
        )
        .await;
        assert_eq!(status, 200, "round {round}: API key: {body}");
        let (_, url) = cluster
            .create_request(
                token["access_token"].as_str().unwrap(),
                "Presentation",
                &json!({
                    "authority": cluster.authority(),
                    "includeQRCode": false,
                    "registration": { "clientName": "Helpdesk" },
                    "callback": { "url": "https://rp.example/cb", "state": "s" },
                    "requestedCredentials": [{ "type": "VerifiedEmployee" }],
                }),
            )
            .await;
        let url = url::Url::parse(&url).unwrap();
        let request_uri = url
            .query_pairs()
            .find(|(k, _)| k == "request_uri")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let (status, object) = send(cluster.http.get(&request_uri)).await;
        assert_eq!(status, 200, "round {round}: request object: {object}");
        assert_eq!(
            published_keys(cluster).await,
            made.published,
            "round {round}: the same keys are published"
        );
    }
}

/// The KEK a replica's configuration holds.
fn kek_of(cluster: &Cluster, i: usize) -> String {
    cluster
        .config_text(i)
        .lines()
        .find_map(|l| l.strip_prefix("kek = \""))
        .map(|k| k.trim_end_matches('"').to_owned())
        .unwrap()
}

/// Sets replica `i`'s `[keys]` to `kek` (and `other_kek`).
fn set_keys(cluster: &Cluster, i: usize, kek: &str, other: Option<&str>) {
    cluster.edit_config(i, |text| {
        let keys: String = text
            .lines()
            .filter(|l| !l.starts_with("kek = ") && !l.starts_with("other_kek = "))
            .map(|l| {
                if l == "[keys]" {
                    let mut section = format!("[keys]\nkek = \"{kek}\"");
                    if let Some(o) = other {
                        section.push_str(&format!("\nother_kek = \"{o}\""));
                    }
                    section
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        keys + "\n"
    });
}

async fn rotation(backend: Backend, n: usize) {
    let binary = Path::new(env!("CARGO_BIN_EXE_verity"));
    let Some(mut cluster) = Cluster::start_on(backend, n, binary, "").await.unwrap() else {
        eprintln!("kek rotation: skipped, the test needs Postgres (VERITY_TEST_POSTGRES_URL)");
        return;
    };
    let (status, client) = cluster
        .admin(Method::POST, "/clients", Some(json!({ "name": "rp" })))
        .await;
    assert_eq!(status, 201, "{client}");
    let (status, key) = cluster
        .admin(Method::POST, "/api-keys", Some(json!({ "name": "rp" })))
        .await;
    assert_eq!(status, 201, "{key}");
    let made = Made {
        client_id: client["clientId"].as_str().unwrap().to_owned(),
        secret: client["clientSecret"].as_str().unwrap().to_owned(),
        api_key: key["key"].as_str().unwrap().to_owned(),
        published: published_keys(&cluster).await,
    };
    still_works(&cluster, &made, 0).await;
    let old = kek_of(&cluster, 0);
    let new = verity_jose::KeyEncryptionKey::generate().1;

    // Each step replica by replica; after each restart the service works through every
    // replica, some still on the previous step.
    let steps: [(&str, Option<&str>); 3] = [
        // 1. The old KEK, and the new one to read what others will seal under it.
        (&old, Some(&new)),
        // 2. The new KEK, and the old one: keys and the derived root are re-sealed.
        (&new, Some(&old)),
        // 3. The new KEK alone.
        (&new, None),
    ];
    for (step, (kek, other)) in steps.iter().enumerate() {
        for i in 0..n {
            set_keys(&cluster, i, kek, *other);
            cluster
                .restart(i, None)
                .await
                .unwrap_or_else(|e| panic!("step {}: replica {i}: {e}", step + 1));
            still_works(&cluster, &made, step + 1).await;
        }
    }
    let logs: String = cluster
        .replicas
        .iter()
        .map(|r| std::fs::read_to_string(&r.log_path).unwrap())
        .collect();
    assert!(
        logs.contains("re-sealed keys under the new KEK"),
        "no replica re-sealed:\n{}",
        cluster.logs()
    );

    // Now the old KEK alone opens nothing: start-up refuses, naming the KEK ids.
    set_keys(&cluster, 0, &old, None);
    let err = cluster.restart(0, None).await.unwrap_err();
    assert!(err.contains("cannot decrypt the stored keys"), "{err}");
    let old_id = verity_jose::KeyEncryptionKey::from_base64(&old)
        .unwrap()
        .id();
    let new_id = verity_jose::KeyEncryptionKey::from_base64(&new)
        .unwrap()
        .id();
    assert!(err.contains(&old_id) && err.contains(&new_id), "{err}");
    // Nor does the same KEK given as its own other one.
    set_keys(&cluster, 0, &new, Some(&new));
    let err = cluster.restart(0, None).await.unwrap_err();
    assert!(err.contains("keys.other_kek is the same key"), "{err}");
    set_keys(&cluster, 0, &new, None);
    cluster.restart(0, None).await.unwrap();
    still_works(&cluster, &made, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kek_rotation_keeps_every_key_and_credential() {
    rotation(Backend::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kek_rotation_on_two_replicas_one_at_a_time() {
    rotation(Backend::Postgres, 2).await;
}
