//! `verity audit list` against a running server: the CLI's own admin actions and a
//! revocation appear with the CLI principal next to the admin token. Runs on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use serde_json::Value;
use verity_tests::presentation::{Fixture, payload_of};
use verity_tests::{Backend, TestApp, both_backends, run_admin_cli};

both_backends!(
    audit_list_shows_admin_actions_and_revocations,
    credentials_are_suspended_and_resumed_from_the_cli,
);

/// Runs `verity <args>` against `app` as principal `alice`, in an empty directory.
async fn verity(app: &TestApp, args: &[&str]) -> Output {
    run_admin_cli(
        std::path::Path::new(env!("CARGO_BIN_EXE_verity")),
        app,
        args,
        &[("VERITY_PRINCIPAL", "alice")],
    )
    .await
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

async fn audit_list_shows_admin_actions_and_revocations(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let app = &f.env.app;
    let out = verity(app, &["tenant", "create", "cli-audited"]).await;
    assert!(out.status.success(), "{out:?}");
    let jti = payload_of(&f.vc)["jti"].as_str().unwrap().to_owned();
    let out = verity(
        app,
        &["credential", "revoke", "--jti", &jti, "--reason", "left"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");

    let out = verity(app, &["audit", "list", "--json", "--limit", "1000"]).await;
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let tenant = rows
        .iter()
        .find(|r| r["action"] == "POST /admin/v1/tenants")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(tenant["actor"], "admin-token cli:alice");
    assert_eq!(tenant["outcome"], "201");
    let revocation = rows
        .iter()
        .find(|r| r["action"] == "POST /admin/v1/credentials/revoke")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(revocation["actor"], "admin-token cli:alice");
    assert_eq!(revocation["outcome"], "revoked");
    assert_eq!(revocation["target"], format!("credential={jti}"));

    // The text form: one line per entry; `--since` filters by time.
    let out = verity(app, &["audit", "list"]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines().any(|l| l.contains("admin-token cli:alice")
            && l.contains("POST /admin/v1/credentials/revoke")
            && l.contains("revoked")),
        "{text}"
    );
    let out = verity(app, &["audit", "list", "--since", "2999-01-01T00:00:00Z"]).await;
    assert_eq!(stdout(&out).trim(), "no audit entries");
    let out = verity(app, &["audit", "list", "--since", "yesterday"]).await;
    assert!(!out.status.success());
}

async fn credentials_are_suspended_and_resumed_from_the_cli(backend: Backend) {
    let Some(env) = verity_tests::issuance::issuance_env(backend).await else {
        return;
    };
    let mut definition = verity_tests::issuance::example_contract("id-token-hint", &env.authority);
    definition["rules"]["suspendable"] = serde_json::json!(true);
    let contract = env.create_contract(definition).await;
    let vc = verity_tests::presentation::issue(&env, &contract, "Megan").await;
    let jti = payload_of(&vc)["jti"].as_str().unwrap().to_owned();
    let app = &env.app;

    let out = verity(
        app,
        &[
            "credential",
            "suspend",
            "--jti",
            &jti,
            "--reason",
            "lost phone",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["status"], "SUSPENDED", "{rows:?}");
    assert_eq!(rows[0]["suspensionReason"], "lost phone");
    let out = verity(app, &["credential", "resume", "--jti", &jti]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&jti) && text.contains("VALID"), "{text}");
    // A selection names one way: --jti with --contract is refused before any call.
    let out = verity(
        app,
        &["credential", "suspend", "--jti", &jti, "--contract", "x"],
    )
    .await;
    assert!(!out.status.success());
}
