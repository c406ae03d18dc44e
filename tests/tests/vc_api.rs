//! VC-API over HTTP: `/vc-api/credentials/issue` signs a VCDM 2.0 credential as an enveloped
//! vc+jwt with an authority of the caller's tenant, `/vc-api/credentials/verify` verifies it
//! (our own did:web from the store) and refuses what is not a secured, valid credential, naming
//! the field. A tenant's credentials cannot issue as another tenant's authority. Both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use verity_store::testing::{FaultAt, FaultPlan};
use verity_tests::{Backend, TestApp, both_backends, send, spawn_app, spawn_app_with_faults};

both_backends!(
    issue_then_verify_round_trips_with_an_api_key,
    verification_refuses_each_broken_credential_naming_the_field,
    a_tenant_cannot_issue_as_another_tenants_authority,
    presentations_are_proved_and_verified_with_their_binding,
    status_asked_for_is_written_and_revoke_suspend_resume_count_at_once,
    malformed_status_options_are_refused_naming_the_member,
    an_unreadable_status_list_fails_closed_and_retryable,
    vcdm_1_1_credentials_are_jwts_with_a_vc_claim_and_verify_with_status,
    every_signing_algorithm_round_trips_in_both_data_models,
    es384_and_es512_credentials_of_other_issuers_verify,
    two_issues_of_one_id_at_once_record_it_once,
);

fn credential(issuer: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2030-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    })
}

async fn api_key(app: &TestApp, tenant: Option<&str>) -> String {
    let mut body = json!({ "name": "vc-api" });
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    let (status, key) = app.admin(Method::POST, "/api-keys", Some(body)).await;
    assert_eq!(status, 201, "{key}");
    key["key"].as_str().unwrap().to_owned()
}

/// Issues `credential(did)` with `key`; the answer's `verifiableCredential`.
async fn issued(app: &TestApp, key: &str, did: &str) -> Value {
    let (status, body) = call(app, key, "issue", json!({ "credential": credential(did) })).await;
    assert_eq!(status, 201, "{body}");
    body["verifiableCredential"].clone()
}

async fn call(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    let path = if path.contains('/') {
        path.to_owned()
    } else {
        format!("credentials/{path}")
    };
    send(
        app.http
            .post(format!("{}/vc-api/{path}", app.url))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

async fn issue_then_verify_round_trips_with_an_api_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let (status, issued) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": credential(&did) }),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let vc = &issued["verifiableCredential"];
    assert_eq!(vc["type"], "EnvelopedVerifiableCredential");
    let id = vc["id"].as_str().unwrap();
    let jwt = id.strip_prefix("data:application/vc+jwt,").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["typ"], "vc+jwt");
    assert!(
        header["kid"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{did}#"))
    );
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        payload,
        credential(&did),
        "the payload is the credential, no `vc` claim"
    );

    let (status, verified) =
        call(&app, &key, "verify", json!({ "verifiableCredential": vc })).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(
        verified["checks"],
        json!(["proof", "issuer", "validFrom", "validUntil"])
    );
    assert_eq!(verified["errors"], json!([]));
    // The admin token may call it too; no credential at all may not.
    let (status, _) = call(
        &app,
        &app.admin_token,
        "verify",
        json!({ "verifiableCredential": vc }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        app.http
            .post(format!("{}/vc-api/credentials/verify", app.url))
            .json(&json!({ "verifiableCredential": vc })),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // `options.issuer` fills in a missing issuer.
    let mut c = credential(&did);
    c.as_object_mut().unwrap().remove("issuer");
    let (status, issued) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": c, "options": { "issuer": did } }),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
}

async fn verification_refuses_each_broken_credential_naming_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    // Refused before signing, naming the field.
    for (edit, field) in [
        (
            json!({ "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/2018/credentials/v1"] }),
            "credential.@context[1]",
        ),
        (
            json!({ "@context": ["https://www.w3.org/ns/credentials/examples/v2"] }),
            "credential.@context[0]",
        ),
        // The 1.1 base context makes it a VCDM 1.1 credential, where `validFrom` has no place.
        (
            json!({ "@context": ["https://www.w3.org/2018/credentials/v1"] }),
            "credential.validFrom",
        ),
        (
            json!({ "validUntil": "2020-01-01T00:00:00Z" }),
            "credential.validUntil",
        ),
        (json!({ "validFrom": "yesterday" }), "credential.validFrom"),
        (json!({ "type": ["EmployeeCredential"] }), "credential.type"),
    ] {
        let mut c = credential(&did);
        for (k, v) in edit.as_object().unwrap() {
            c[k] = v.clone();
        }
        let (status, body) = call(&app, &key, "issue", json!({ "credential": c })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["innererror"]["target"], field, "{body}");
    }
    let (status, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": credential("did:web:elsewhere.example") }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["target"], "credential.issuer");

    // Refused at verification: unsecured JSON, another media type, a tampered payload, an
    // expired credential.
    let id = issued(&app, &key, &did).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt = id
        .strip_prefix("data:application/vc+jwt,")
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut forged = credential(&did);
    forged["credentialSubject"]["name"] = json!("Mallory");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()),
        parts[2]
    );
    for (secured, code, field) in [
        (credential(&did), "VCDM-002", "verifiableCredential"),
        (
            json!({ "@context": ["https://www.w3.org/ns/credentials/v2"], "type": "EnvelopedVerifiableCredential", "id": format!("data:application/vp+jwt,{jwt}") }),
            "VCDM-003",
            "verifiableCredential.id",
        ),
        (
            json!({ "type": "EnvelopedVerifiableCredential", "id": format!("data:application/vc+jwt,{jwt}") }),
            "VCDM-001",
            "verifiableCredential.@context",
        ),
        (json!(tampered), "VCDM-004", "proof"),
    ] {
        let (status, body) = call(
            &app,
            &key,
            "verify",
            json!({ "verifiableCredential": secured }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    // Time moves past validUntil: refused as expired.
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
            .unwrap()
            .into(),
    );
    let (status, body) = call(&app, &key, "verify", json!({ "verifiableCredential": id })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], "VCDM-008", "{body}");
}

async fn a_tenant_cannot_issue_as_another_tenants_authority(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, t) = app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({ "name": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let (status, a) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Fabrikam", "path": "tenants/fabrikam", "tenant": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let fabrikam = a["did"].as_str().unwrap().to_owned();
    let contoso_key = api_key(&app, None).await;
    let fabrikam_key = api_key(&app, Some("fabrikam")).await;

    let (status, body) = call(
        &app,
        &contoso_key,
        "issue",
        json!({ "credential": credential(&fabrikam) }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    verity_tests::assert_error_shape(&body, "forbidden", "forbidden");
    let (status, body) = call(
        &app,
        &contoso_key,
        "issue",
        json!({ "credential": credential(&app.first_did()), "options": { "issuer": fabrikam } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["target"], "options.issuer");
    // Its own tenant's key may; anyone's key may verify it.
    let (status, issued) = call(
        &app,
        &fabrikam_key,
        "issue",
        json!({ "credential": credential(&fabrikam) }),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let (status, verified) = call(
        &app,
        &contoso_key,
        "verify",
        json!({ "verifiableCredential": issued["verifiableCredential"] }),
    )
    .await;
    assert_eq!(status, 200, "{verified}");
}

async fn presentations_are_proved_and_verified_with_their_binding(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let vc = issued(&app, &key, &did).await;
    let presentation = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [vc],
    });
    let (status, proved) = call(
        &app,
        &key,
        "presentations/prove",
        json!({ "presentation": presentation, "options": {
            "holder": did, "challenge": "c-123", "domain": "https://verifier.example" } }),
    )
    .await;
    assert_eq!(status, 201, "{proved}");
    let vp = proved["verifiablePresentation"].clone();
    assert_eq!(vp["type"], "EnvelopedVerifiablePresentation");
    assert!(
        vp["id"]
            .as_str()
            .unwrap()
            .starts_with("data:application/vp+jwt,")
    );

    let verify = |options: Value| {
        let vp = vp.clone();
        let key = key.clone();
        let app = &app;
        async move {
            call(
                app,
                &key,
                "presentations/verify",
                json!({ "verifiablePresentation": vp, "options": options }),
            )
            .await
        }
    };
    let (status, body) =
        verify(json!({ "challenge": "c-123", "domain": "https://verifier.example" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["checks"],
        json!([
            "proof",
            "holder",
            "challenge",
            "domain",
            "verifiableCredential[0]"
        ])
    );
    let (status, body) = verify(json!({ "challenge": "replayed" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "nonce", "{body}");
    assert_eq!(body["errors"][0]["code"], "VCDM-009");
    // A plain JSON credential cannot be put in a presentation.
    let (status, body) = call(
        &app,
        &key,
        "presentations/prove",
        json!({ "presentation": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": did,
            "verifiableCredential": [credential(&did)] } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["innererror"]["target"],
        "presentation.verifiableCredential[0]"
    );
    // Another tenant cannot prove as this tenant's authority.
    let (status, _) = app
        .admin(Method::POST, "/tenants", Some(json!({ "name": "other" })))
        .await;
    assert_eq!(status, 201);
    let other_key = api_key(&app, Some("other")).await;
    let (status, body) = call(
        &app,
        &other_key,
        "presentations/prove",
        json!({ "presentation": presentation, "options": { "holder": did } }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

/// The JWS payload of an enveloped credential.
fn payload_of(vc: &Value) -> Value {
    let jwt = vc["id"]
        .as_str()
        .unwrap()
        .strip_prefix("data:application/vc+jwt,")
        .unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `{"type": "BitstringStatusListEntry", "statusPurpose": purpose}` issued for `did`.
async fn issued_with_status(app: &TestApp, key: &str, did: &str, status: Value) -> Value {
    let (code, body) = call(
        app,
        key,
        "issue",
        json!({ "credential": credential(did), "options": { "credentialStatus": status } }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["verifiableCredential"].clone()
}

async fn admin_set(app: &TestApp, action: &str, jti: &str) {
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/credentials/{action}"),
            Some(json!({ "jti": jti, "reason": "test" })),
        )
        .await;
    assert_eq!(status, 200, "{action}: {body}");
}

/// The admin API finds credential `jti` (revocation and suspension entries, in that order) by
/// its id: suspended, then resumed, then revoked; each counts on the very next verification of
/// `vc` (our lists come from the store, not an HTTP cache).
async fn suspend_resume_revoke(app: &TestApp, key: &str, vc: &Value, jti: &str) {
    admin_set(app, "suspend", jti).await;
    let (status, error) = verdict(app, key, vc).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["code"], "VCDM-011");
    assert_eq!(error["field"], "credentialStatus[1]");
    admin_set(app, "resume", jti).await;
    let (status, checks) = verdict(app, key, vc).await;
    assert_eq!(status, 200, "{checks}");
    admin_set(app, "revoke", jti).await;
    let (status, error) = verdict(app, key, vc).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["code"], "VCDM-010");
    assert_eq!(error["field"], "credentialStatus[0]");
    assert!(
        error["message"].as_str().unwrap().contains("revoked"),
        "{error}"
    );
}

/// Verifies `vc`: the status code and, on a refusal, the one error.
async fn verdict(app: &TestApp, key: &str, vc: &Value) -> (u16, Value) {
    let (status, body) = call(app, key, "verify", json!({ "verifiableCredential": vc })).await;
    match status {
        200 => (status, body["checks"].clone()),
        400 => {
            assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
            (status, body["errors"][0].clone())
        }
        _ => (status, body),
    }
}

async fn status_asked_for_is_written_and_revoke_suspend_resume_count_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let vc = issued_with_status(
        &app,
        &key,
        &did,
        json!({ "type": "BitstringStatusListEntry", "statusPurpose": ["revocation", "suspension"] }),
    )
    .await;
    let payload = payload_of(&vc);
    let jti = payload["id"].as_str().unwrap().to_owned();
    assert!(jti.starts_with("urn:uuid:"), "an id is given: {jti}");
    let entries = payload["credentialStatus"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["type"], "BitstringStatusListEntry");
    assert_eq!(entries[0]["statusPurpose"], "revocation");
    assert_eq!(entries[1]["statusPurpose"], "suspension");
    assert_eq!(entries[0]["statusListIndex"], entries[1]["statusListIndex"]);
    let list = entries[0]["statusListCredential"].as_str().unwrap();
    assert!(list.starts_with(&app.url), "{list}");
    assert_eq!(
        entries[1]["statusListCredential"],
        format!("{list}/suspension")
    );

    let (status, checks) = verdict(&app, &key, &vc).await;
    assert_eq!(status, 200, "{checks}");
    assert_eq!(
        checks,
        json!([
            "proof",
            "issuer",
            "validFrom",
            "validUntil",
            "credentialStatus"
        ])
    );
    suspend_resume_revoke(&app, &key, &vc, &jti).await;

    // Revocation only (the default purpose): one entry, the caller's own id kept as the jti.
    let mut c = credential(&did);
    c["id"] = json!("https://hr.example/credentials/42");
    let (code, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": c, "options": { "credentialStatus": { "type": "BitstringStatusListEntry" } } }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let vc = body["verifiableCredential"].clone();
    let payload = payload_of(&vc);
    assert_eq!(payload["id"], "https://hr.example/credentials/42");
    assert_eq!(payload["credentialStatus"]["statusPurpose"], "revocation");
    assert_eq!(verdict(&app, &key, &vc).await.0, 200);
    let (status, body) = app
        .admin(
            Method::POST,
            "/credentials/suspend",
            Some(json!({ "jti": "https://hr.example/credentials/42" })),
        )
        .await;
    assert_eq!(status, 409, "no suspension entry: {body}");
    admin_set(&app, "revoke", "https://hr.example/credentials/42").await;
    let (status, error) = verdict(&app, &key, &vc).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("credentialStatus"))
    );
    // The same id again is a conflict, not a second record.
    let (code, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": c, "options": { "credentialStatus": { "type": "BitstringStatusListEntry" } } }),
    )
    .await;
    assert_eq!(code, 409, "{body}");

    // Inside a presentation, the credential's status is checked too and named by its place.
    let (code, body) = call(
        &app,
        &key,
        "presentations/prove",
        json!({ "presentation": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": did,
            "verifiableCredential": [vc],
        }}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        &app,
        &key,
        "presentations/verify",
        json!({ "verifiablePresentation": body["verifiablePresentation"] }),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], "VCDM-010");
    assert_eq!(
        body["errors"][0]["field"],
        "verifiableCredential[0].credentialStatus"
    );
}

async fn malformed_status_options_are_refused_naming_the_member(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let field = "options.credentialStatus";
    for (status, at, says) in [
        (json!("revocation"), field.to_owned(), "object"),
        (json!({}), format!("{field}.type"), "required"),
        (
            json!({ "type": "StatusList2021Entry" }),
            format!("{field}.type"),
            "not supported",
        ),
        (
            json!({ "type": "BitstringStatusListEntry", "statusPurpose": "suspension" }),
            format!("{field}.statusPurpose"),
            "also revocable",
        ),
        (
            json!({ "type": "BitstringStatusListEntry", "statusPurpose": "refresh" }),
            format!("{field}.statusPurpose"),
            "refresh",
        ),
        (
            json!({ "type": "BitstringStatusListEntry", "statusPurpose": [] }),
            format!("{field}.statusPurpose"),
            "revocation",
        ),
        (
            json!({ "type": "BitstringStatusListEntry", "statusPurpose": ["revocation", "revocation"] }),
            format!("{field}.statusPurpose"),
            "twice",
        ),
        (
            json!({ "type": "BitstringStatusListEntry", "statusListIndex": "7" }),
            format!("{field}.statusListIndex"),
            "not an option",
        ),
    ] {
        let (code, body) = call(
            &app,
            &key,
            "issue",
            json!({ "credential": credential(&did), "options": { "credentialStatus": status } }),
        )
        .await;
        assert_eq!(code, 400, "{status}: {body}");
        let inner = verity_tests::assert_error_shape(&body, "badRequest", "badOrMissingField");
        assert_eq!(inner["target"], at, "{status}: {body}");
        assert!(
            inner["message"].as_str().unwrap().contains(says),
            "{status}: {body}"
        );
    }
    // A credentialStatus of its own and the option: one or the other.
    let mut c = credential(&did);
    c["credentialStatus"] = json!({
        "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
        "statusListIndex": "1", "statusListCredential": "https://status.example/1"
    });
    let (code, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": c, "options": { "credentialStatus": { "type": "BitstringStatusListEntry" } } }),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let inner = verity_tests::assert_error_shape(&body, "badRequest", "badOrMissingField");
    assert_eq!(inner["target"], "credential.credentialStatus");
    // A credential the model refuses takes no status index (it is checked first).
    let mut bad = credential(&did);
    bad["validUntil"] = json!("not a date");
    let (code, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": bad, "options": { "credentialStatus": { "type": "BitstringStatusListEntry" } } }),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (status, found) = app
        .admin(Method::GET, "/credentials?subject=did:example:holder", None)
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found, json!([]), "nothing recorded");
}

async fn an_unreadable_status_list_fails_closed_and_retryable(backend: Backend) {
    let Some((app, faulty)) = spawn_app_with_faults(backend, |_| {}).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let vc = issued_with_status(
        &app,
        &key,
        &did,
        json!({ "type": "BitstringStatusListEntry" }),
    )
    .await;
    assert_eq!(verdict(&app, &key, &vc).await.0, 200);
    // The database does not answer the status list read: no verdict, a retryable error.
    faulty.arm(FaultPlan::nth_call(1, FaultAt::Before).only(&["status_list"]));
    let (status, body) = call(&app, &key, "verify", json!({ "verifiableCredential": vc })).await;
    assert_eq!(status, 503, "{body}");
    let inner = verity_tests::assert_error_shape(&body, "serviceUnavailable", "transientError");
    assert!(
        inner["message"].as_str().unwrap().contains("VCDM-012"),
        "{body}"
    );
    assert_eq!(faulty.injected().len(), 1);
    faulty.disarm();
    assert_eq!(verdict(&app, &key, &vc).await.0, 200, "answers again");
}

async fn vcdm_1_1_credentials_are_jwts_with_a_vc_claim_and_verify_with_status(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let c = json!({
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "expirationDate": "2030-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    });
    let (code, body) = call(
        &app,
        &key,
        "issue",
        json!({ "credential": c, "options": { "credentialStatus": { "type": "BitstringStatusListEntry", "statusPurpose": ["revocation", "suspension"] } } }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let jwt = body["verifiableCredential"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["typ"], "JWT");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], json!(did));
    assert_eq!(claims["sub"], "did:example:holder");
    assert_eq!(claims["vc"]["credentialSubject"]["name"], "Megan Bowen");
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(claims["vc"]["id"], json!(jti));
    assert_eq!(
        claims["vc"]["credentialStatus"].as_array().unwrap().len(),
        2
    );

    let vc = json!(jwt);
    let (status, checks) = verdict(&app, &key, &vc).await;
    assert_eq!(status, 200, "{checks}");
    assert_eq!(
        checks,
        json!([
            "proof",
            "issuer",
            "issuanceDate",
            "expirationDate",
            "credentialStatus"
        ])
    );
    suspend_resume_revoke(&app, &key, &vc, &jti).await;

    // A 1.1 credential with 2.0 members is refused at the member, before signing.
    let mut mixed = c.clone();
    mixed["validUntil"] = json!("2030-01-01T00:00:00Z");
    let (code, body) = call(&app, &key, "issue", json!({ "credential": mixed })).await;
    assert_eq!(code, 400, "{body}");
    let inner = verity_tests::assert_error_shape(&body, "badRequest", "badOrMissingField");
    assert_eq!(inner["target"], "credential.validUntil");
    // A JWT whose `vc` claim is missing names it.
    let unsigned = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT","kid":"did:example:a#1"}"#),
        URL_SAFE_NO_PAD.encode(br#"{"iss":"did:example:a"}"#),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    );
    let (status, error) = verdict(&app, &key, &json!(unsigned)).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("vc")),
        "{error}"
    );
}

/// A VCDM 1.1 credential of `issuer`.
fn credential_v1(issuer: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": issuer,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    })
}

async fn every_signing_algorithm_round_trips_in_both_data_models(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    for (i, alg) in ["ES256", "EdDSA", "ES256K"].into_iter().enumerate() {
        let (status, authority) = app
            .admin(
                Method::POST,
                "/authorities",
                Some(json!({ "name": alg, "path": format!("issuers/a{i}"), "algorithm": alg })),
            )
            .await;
        assert_eq!(status, 201, "{authority}");
        let did = authority["did"].as_str().unwrap().to_owned();
        for c in [credential(&did), credential_v1(&did)] {
            let (code, body) = call(&app, &key, "issue", json!({ "credential": c })).await;
            assert_eq!(code, 201, "{alg}: {body}");
            let vc = &body["verifiableCredential"];
            let jwt = vc
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| payload_jwt(vc));
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(jwt.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg);
            let (status, checks) = verdict(&app, &key, vc).await;
            assert_eq!(status, 200, "{alg} {}: {checks}", header["typ"]);
        }
    }
    // ES384 and ES512 are verified, never signed with: no authority of them.
    for alg in ["ES384", "ES512"] {
        let (status, body) = app
            .admin(
                Method::POST,
                "/authorities",
                Some(json!({ "name": alg, "path": "issuers/x", "algorithm": alg })),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["innererror"]["target"], "algorithm");
    }
}

/// The compact JWS inside an enveloped credential.
fn payload_jwt(vc: &Value) -> String {
    vc["id"]
        .as_str()
        .unwrap()
        .strip_prefix("data:application/vc+jwt,")
        .unwrap()
        .to_owned()
}

/// A compact JWS over `payload` with header `typ`, signed by a fresh key of `alg` (ES384 with
/// ring, ES512 with the p521 crate: another issuer's software); its did:jwk and the token.
fn foreign_jws(alg: &str, typ: &str, payload: impl Fn(&str) -> Value) -> (String, String) {
    use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let rng = ring::rand::SystemRandom::new();
    type RawSigner = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let (point, sign): (Vec<u8>, RawSigner) = if alg == "ES384" {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
        (
            pair.public_key().as_ref().to_vec(),
            Box::new(move |m: &[u8]| pair.sign(&rng, m).unwrap().as_ref().to_vec()),
        )
    } else {
        use p521::ecdsa::signature::RandomizedSigner as _;
        let sk = p521::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let point = p521::ecdsa::VerifyingKey::from(&sk)
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        (
            point,
            Box::new(move |m: &[u8]| {
                let sig: p521::ecdsa::Signature = sk.sign_with_rng(&mut rand_core::OsRng, m);
                sig.to_vec()
            }),
        )
    };
    let (x, y) = point[1..].split_at((point.len() - 1) / 2);
    let crv = if alg == "ES384" { "P-384" } else { "P-521" };
    let jwk = json!({ "kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) });
    let did = format!("did:jwk:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()));
    let header = json!({ "alg": alg, "typ": typ, "kid": format!("{did}#0") });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload(&did).to_string())
    );
    let sig = sign(input.as_bytes());
    (did, format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

async fn es384_and_es512_credentials_of_other_issuers_verify(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    for alg in ["ES384", "ES512"] {
        // VCDM 2.0, enveloped.
        let (_, jwt) = foreign_jws(alg, "vc+jwt", credential);
        let vc = verity_vcdm::envelope(&jwt);
        let (status, checks) = verdict(&app, &key, &vc).await;
        assert_eq!(status, 200, "{alg}: {checks}");
        // VCDM 1.1, the bare JWT.
        let (_, jwt) = foreign_jws(
            alg,
            "JWT",
            |did| json!({ "iss": did, "vc": credential_v1(did) }),
        );
        let (status, checks) = verdict(&app, &key, &json!(jwt)).await;
        assert_eq!(status, 200, "{alg}: {checks}");
        // A changed payload does not verify.
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["vc"]["credentialSubject"]["name"] = json!("Mallory");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        let (status, error) = verdict(&app, &key, &json!(parts.join("."))).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (400, Some("VCDM-004")),
            "{alg}: {error}"
        );
    }
}

/// Two callers issue a credential with the same `id` and a status entry at the same moment:
/// one is recorded and answered 201, the other 409 (its status index is spent, never reused);
/// the record names the first one's index.
async fn two_issues_of_one_id_at_once_record_it_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = api_key(&app, None).await;
    let did = app.first_did();
    let mut c = credential(&did);
    c["id"] = json!("https://hr.example/credentials/twice");
    let body = json!({ "credential": c, "options": { "credentialStatus": { "type": "BitstringStatusListEntry" } } });
    let ((a, body_a), (b, body_b)) = tokio::join!(
        call(&app, &key, "issue", body.clone()),
        call(&app, &key, "issue", body.clone())
    );
    let mut codes = [a, b];
    codes.sort_unstable();
    assert_eq!(codes, [201, 409], "{body_a} {body_b}");
    let issued = if a == 201 { &body_a } else { &body_b };
    let payload = payload_of(&issued["verifiableCredential"]);
    let index = payload["credentialStatus"]["statusListIndex"]
        .as_str()
        .unwrap();
    let (status, found) = app
        .admin(
            Method::GET,
            "/credentials?jti=https://hr.example/credentials/twice",
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(
        found[0]["statusIndex"].to_string(),
        index,
        "the winner's index"
    );
    // A third try is a conflict too: an id is recorded once.
    let (code, _) = call(&app, &key, "issue", body).await;
    assert_eq!(code, 409);
}
