//! The admin CLI against running servers: `verity domain verify` on the local multi-domain
//! setup prints the right verdict per DID and exits with it; `verity did resolve` and
//! `verity authority domains` print what the admin API answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use serde_json::Value;
use verity_tests::linkage::{LINKED_DID, MOVED_DID, ORPHAN_DID, spawn_linkage_setup};
use verity_tests::{Backend, TestApp, allow_local_resolution, spawn_app_with};

/// Runs `verity <args> --server <app> --admin-token <token>` in an empty directory (so no
/// `verity.toml` is picked up).
async fn verity(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity"));
    let dir = tempfile::tempdir().unwrap();
    cmd.current_dir(dir.path())
        .args(args)
        .args(["--server", &app.url, "--admin-token", &app.admin_token])
        .env_remove("VERITY_CONFIG")
        .env_remove("VERITY_SERVER")
        .env_remove("VERITY_ADMIN_TOKEN");
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().unwrap();
        drop(dir);
        out
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_verify_prints_the_verdict_and_exits_with_it() {
    let setup = spawn_linkage_setup(Backend::Sqlite).await.unwrap();
    let v = &setup.verifier;

    let out = verity(v, &["domain", "verify", LINKED_DID]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("did:web:linked.test: VERIFIED"), "{text}");
    assert!(
        text.contains("[ok  ] verify domain linkage credential"),
        "{text}"
    );

    let out = verity(v, &["domain", "verify", MOVED_DID]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("did:web:moved.test: UNVERIFIED (signature_invalid)"),
        "{text}"
    );
    assert!(
        text.contains("[FAIL] verify domain linkage credential"),
        "{text}"
    );

    let out = verity(v, &["domain", "verify", ORPHAN_DID]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("UNVERIFIED (configuration_missing)"),
        "{text}"
    );
    assert!(text.contains("[FAIL] fetch DID configuration"), "{text}");

    let out = verity(v, &["domain", "verify", "did:web:localhost%3A1"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("NOT CHECKED"));

    // --json prints the report; the exit status is the same.
    let out = verity(v, &["domain", "verify", "--json", MOVED_DID]).await;
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"]["reason"]["code"], "signature_invalid");

    // One origin.
    let out = verity(
        v,
        &[
            "domain",
            "verify",
            LINKED_DID,
            "--origin",
            "https://linked.test",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // A request the server refuses is an error (1), not a verdict.
    let out = verity(v, &["domain", "verify", "not-a-did"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("400 invalidDid"), "{err}");

    // `did resolve` prints the document the verifier resolves.
    let out = verity(v, &["did", "resolve", LINKED_DID]).await;
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["id"], LINKED_DID);
    assert_eq!(
        doc["service"][0]["serviceEndpoint"]["origins"][0],
        "https://linked.test/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_domains_lists_origins_with_their_state() {
    let app = spawn_app_with(Backend::Sqlite, allow_local_resolution)
        .await
        .unwrap();
    let did = app.first_did();
    let out = verity(&app, &["authority", "domains", &did]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with(&did), "{text}");
    assert!(
        text.contains(&format!("http://localhost:{}  VERIFIED", app.port)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "configuration: http://localhost:{}/.well-known/did-configuration.json",
            app.port
        )),
        "{text}"
    );
}
