//! The admin CLI against running servers: `verity domain verify` on the local multi-domain
//! setup prints the right verdict per DID and exits with it; `verity did resolve` and
//! `verity authority domains` print what the admin API answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use serde_json::Value;
use verity_tests::linkage::{LINKED_DID, MOVED_DID, ORPHAN_DID, spawn_linkage_setup};
use verity_tests::{
    Backend, TestApp, allow_local_resolution, output_text, run_admin_cli, run_cli, spawn_app_with,
};

/// The `verity` binary under test.
fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_verity"))
}

/// Runs `verity <args> --server <app> --admin-token <token>` in an empty directory (so no
/// `verity.toml` is picked up).
async fn verity(app: &TestApp, args: &[&str]) -> Output {
    run_admin_cli(bin(), app, args, &[] as &[(&str, &str)]).await
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

/// Runs `verity <args>` in `dir` with `env` set and no configuration from the environment.
async fn verity_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_cli(bin(), dir, args, env).await
}

/// Everything the command wrote, for "the password appears nowhere" checks.
fn all_output(out: &Output) -> String {
    output_text(out)
}

#[tokio::test]
async fn config_check_prints_the_database_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://verity:hunter2-config@db.internal:5432/verity?password=hunter2-query";
    let out = verity_in(
        dir.path(),
        &["config", "check"],
        &[("VERITY__DATABASE__URL", url)],
    )
    .await;
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("configuration is valid"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("postgres://verity:[redacted]@db.internal:5432/verity?password=[redacted]"),
        "{text}"
    );
}

#[tokio::test]
async fn init_against_an_unreachable_database_does_not_print_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = verity_in(
        dir.path(),
        &[
            "init",
            "--database-url",
            "postgres://verity:hunter2-init@127.0.0.1:1/verity",
        ],
        &[],
    )
    .await;
    let text = all_output(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("127.0.0.1:1"), "names the server: {text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_on_postgres_prints_the_database_url_without_its_password() {
    use verity_store::testing::{Backend, fresh_database};
    let Some(db) = fresh_database(Backend::Postgres).await else {
        return; // skipped: printed by fresh_database
    };
    // The test server may trust every connection: then any password is accepted, and one is
    // added so there is something to leak. A server that checks passwords has one in its URL.
    let mut url = url::Url::parse(&db.url).unwrap();
    if url.password().is_none() {
        url.set_password(Some("hunter2-init")).unwrap();
    }
    let password = url.password().unwrap().to_owned();
    let url = url.to_string();

    let first = tempfile::tempdir().unwrap();
    let out = verity_in(first.path(), &["init", "--database-url", &url], &[]).await;
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Database:       postgres://"), "{text}");
    assert!(text.contains(":[redacted]@"), "{text}");
    assert!(!text.contains(&password), "{text}");

    // A second init against the now initialised database fails naming it, still redacted.
    let second = tempfile::tempdir().unwrap();
    // The same KEK, so start-up reaches the "already initialised" check.
    std::fs::create_dir(second.path().join("data")).unwrap();
    std::fs::copy(
        first.path().join("data/kek"),
        second.path().join("data/kek"),
    )
    .unwrap();
    let out = verity_in(second.path(), &["init", "--database-url", &url], &[]).await;
    let text = all_output(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("already holds authorities"), "{text}");
    assert!(!text.contains(&password), "{text}");
}

/// Runs `verity wallet <args> --dir <dir> --insecure-local`.
async fn wallet_cli(dir: &std::path::Path, args: &[&str]) -> Output {
    let wallet_dir = dir.join("w").display().to_string();
    let mut all = vec!["wallet"];
    all.extend_from_slice(args);
    all.extend(["--dir", &wallet_dir, "--insecure-local"]);
    run_cli(bin(), dir, &all, &[] as &[(&str, &str)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_offer_is_received_by_a_standard_wallet_on_the_command_line() {
    let env = verity_tests::issuance::issuance_env(Backend::Sqlite)
        .await
        .unwrap();
    let contract = env
        .create_contract(verity_tests::issuance::example_contract(
            "id-token-hint",
            &env.authority,
        ))
        .await;
    // The command-line wallet reads the system clock: the server's test clock follows it.
    env.app
        .clock
        .set(verity_core::Clock::now(&verity_core::SystemClock));
    let out = verity(
        &env.app,
        &[
            "contract",
            "offer",
            &contract,
            "--claim",
            "given_name=Megan",
            "--claim",
            "family_name=Bowen",
            "--pin",
            "2468",
        ],
    )
    .await;
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let by_value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("by value:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(by_value.starts_with("openid-credential-offer://?credential_offer=%7B"));
    let by_reference = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("by reference:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(by_reference.starts_with("openid-credential-offer://?credential_offer_uri="));

    let dir = tempfile::tempdir().unwrap();
    let out = wallet_cli(dir.path(), &["create"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    // Without the transaction code the wallet says so before sending anything.
    let out = wallet_cli(dir.path(), &["receive", &by_value]).await;
    assert_ne!(out.status.code(), Some(0));
    let out = wallet_cli(dir.path(), &["receive", &by_value, "--pin", "2468"]).await;
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(dc+sd-jwt)"), "{text}");
    assert!(text.contains("givenName: Megan"), "{text}");
    // The same offer's code is used: by reference now refuses it.
    let out = wallet_cli(dir.path(), &["receive", &by_reference, "--pin", "2468"]).await;
    let text = all_output(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    let out = wallet_cli(dir.path(), &["list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["format"], "sd_jwt_vc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_wallet_answers_an_openid4vp_request() {
    let env = verity_tests::issuance::issuance_env(Backend::Sqlite)
        .await
        .unwrap();
    let contract = env
        .create_contract(verity_tests::issuance::example_contract(
            "id-token-hint",
            &env.authority,
        ))
        .await;
    // The command-line wallet reads the system clock: the server's follows it, and the RP takes
    // a token on it.
    env.app
        .clock
        .set(verity_core::Clock::now(&verity_core::SystemClock));
    let (client, secret) = env.app.create_client("verifier-app", None).await;
    let (_, token) = env.app.token(&client, &secret, None).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    let post = |path: &'static str, body: Value| {
        let req = env
            .app
            .http
            .post(format!("{}/v1.0/verifiableCredentials/{path}", env.app.url))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["url"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut offer = env.request_body(&contract);
    offer["claims"] = serde_json::json!({ "given_name": "Megan", "family_name": "Bowen" });
    offer["profile"] = serde_json::json!("openid4vci");
    let offer_url = post("createIssuanceRequest", offer).await;
    let dir = tempfile::tempdir().unwrap();
    let out = wallet_cli(dir.path(), &["create"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let out = wallet_cli(dir.path(), &["receive", &offer_url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));

    let mut wanted = verity_tests::presentation::requested(
        verity_tests::presentation::EXPERT,
        &[&env.authority],
    );
    wanted["claims"] = serde_json::json!(["givenName"]);
    let body = verity_tests::openid4vp::openid4vp_body(&env, vec![wanted]);
    let url = post("createPresentationRequest", body).await;
    assert!(url.starts_with("openid4vp://?client_id=decentralized_identifier"));
    let out = wallet_cli(dir.path(), &["present", &url]).await;
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("presented VerifiedCredentialExpert as did:"),
        "{text}"
    );
    assert!(text.contains("(HTTP 200)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_whether_the_service_is_ready() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = verity_in(dir.path(), &["health", "--url", &app.url], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(all_output(&out).contains("/health/ready: ready"));
    // Nothing listens there any more: not ready, exit 1, naming the URL.
    let url = app.url.clone();
    app.stop().await;
    let out = verity_in(dir.path(), &["health", "--url", &url], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("not reachable"),
        "{}",
        all_output(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_status_lists_says_how_many_it_closed() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    // A fresh service has opened no list yet.
    let out = verity(&app, &["credential", "close-status-lists"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(
        stdout(&out).contains("closed 0 status list(s)"),
        "{}",
        all_output(&out)
    );
    let out = verity(
        &app,
        &[
            "credential",
            "close-status-lists",
            "--authority",
            &app.first_did(),
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["closed"], 0);
    // An authority that does not exist is named.
    let out = verity(
        &app,
        &[
            "credential",
            "close-status-lists",
            "--authority",
            "did:web:nowhere.example",
        ],
    )
    .await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        all_output(&out).contains("did:web:nowhere.example"),
        "{}",
        all_output(&out)
    );
}
