//! Foundation: DID documents, API auth, admin API, key protection at rest and the error shape,
//! against the real app on port 0, on SQLite and Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_tests::{
    Backend, assert_error_shape, both_backends, send, spawn_app, spawn_app_with, test_config,
};

both_backends!(
    did_json_for_root_and_path_dids_survives_rotation,
    did_json_only_for_configured_domains,
    token_endpoint_accepts_good_client_and_msal_requests,
    token_endpoint_rejects_bad_credentials,
    expired_and_foreign_tokens_are_rejected,
    api_credentials_are_tenant_scoped_and_not_admin,
    deleted_client_and_api_key_stop_working,
    admin_api_requires_admin_token,
    private_keys_are_sealed_at_rest,
    wrong_kek_is_a_clear_startup_error,
    bad_input_gets_the_error_shape,
    health_endpoints,
    token_endpoint_is_rate_limited,
    revoked_key_leaves_the_did_document,
    an_installation_from_before_the_stored_root_keeps_its_secrets,
);

async fn did_json_for_root_and_path_dids_survives_rotation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Root DID created on first start.
    let (status, doc) = app.get("/.well-known/did.json", None).await;
    assert_eq!(status, 200, "{doc}");
    let did = app.first_did();
    assert_eq!(doc["id"], did);
    assert_eq!(doc["@context"][0], "https://www.w3.org/ns/did/v1");
    let vms = doc["verificationMethod"].as_array().unwrap();
    assert_eq!(vms.len(), 1);
    assert_eq!(vms[0]["type"], "JsonWebKey2020");
    assert_eq!(vms[0]["publicKeyJwk"]["crv"], "P-256");
    assert!(vms[0]["publicKeyJwk"].get("d").is_none());
    assert_eq!(doc["assertionMethod"][0], vms[0]["id"]);
    assert_eq!(doc["authentication"][0], vms[0]["id"]);
    assert_eq!(doc["service"][0]["type"], "LinkedDomains");
    assert_eq!(doc["service"][0]["id"], format!("{did}#linkeddomains"));
    assert_eq!(
        doc["service"][0]["serviceEndpoint"]["origins"][0],
        format!("http://localhost:{}/", app.port)
    );

    // A path DID with an EdDSA key.
    let (status, a) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Acme", "path": "tenants/acme", "algorithm": "EdDSA" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let path_did = format!("did:web:localhost%3A{}:tenants:acme", app.port);
    assert_eq!(a["did"], path_did);
    let (status, doc) = app.get("/tenants/acme/did.json", None).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["id"], path_did);
    assert_eq!(
        doc["verificationMethod"][0]["publicKeyJwk"]["crv"],
        "Ed25519"
    );

    // Rotation: both keys published, the old one retiring.
    let (status, new_key) = app
        .admin(
            Method::POST,
            &format!("/authorities/{}/keys/rotate", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 201, "{new_key}");
    assert_eq!(new_key["state"], "active");
    assert_eq!(
        new_key["alg"], "EdDSA",
        "rotation keeps the algorithm by default"
    );
    let (_, doc) = app.get("/tenants/acme/did.json", None).await;
    let ids: Vec<&str> = doc["verificationMethod"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{doc}");
    assert!(ids.contains(&format!("{path_did}#{}", new_key["kid"].as_str().unwrap()).as_str()));
    assert_eq!(doc["assertionMethod"].as_array().unwrap().len(), 2);
    let (_, keys) = app
        .admin(
            Method::GET,
            &format!("/authorities/{}/keys", urlenc(&path_did)),
            None,
        )
        .await;
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        1,
        "{keys}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "retiring").count(),
        1,
        "{keys}"
    );

    // Unknown path DIDs are 404 in the error shape.
    let (status, body) = app.get("/tenants/nobody/did.json", None).await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "notFound", "notFound");
}

async fn did_json_only_for_configured_domains(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Same server, same path, but a Host this deployment is not configured for.
    let req = app
        .http
        .get(format!(
            "http://127.0.0.1:{}/.well-known/did.json",
            app.port
        ))
        .header("Host", "evil.example");
    let (status, body) = send(req).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example")
    );
    // Creating an authority for a domain we do not serve is refused, naming the field.
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "X", "did": "did:web:elsewhere.example" })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_error_shape(&body, "badRequest", "badOrMissingField")["target"],
        "did"
    );
}

async fn token_endpoint_accepts_good_client_and_msal_requests(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, secret) = app.create_client("hr-app", None).await;
    let (status, body) = app.token(&id, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();

    // The token is a JWT verifiable through the discovery document's jwks_uri.
    let (_, disc) = app.get("/.well-known/openid-configuration", None).await;
    for field in [
        "issuer",
        "token_endpoint",
        "jwks_uri",
        "authorization_endpoint",
        "end_session_endpoint",
    ] {
        assert!(disc[field].as_str().is_some(), "{field} in {disc}");
    }
    assert_eq!(disc["issuer"], app.url);
    let jwks_path = disc["jwks_uri"]
        .as_str()
        .unwrap()
        .strip_prefix(&app.url)
        .unwrap()
        .to_owned();
    let (_, jwks) = app.get(&jwks_path, None).await;
    let jws = verity_jose::UnverifiedJws::parse(token).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| kid.ends_with(&format!("#{}", k["kid"].as_str().unwrap())))
        .expect("signing key listed in jwks");
    assert!(key.get("d").is_none());
    let claims: Value = jws
        .verify(&verity_jose::Jwk::from_json_value(key).unwrap())
        .unwrap()
        .claims()
        .unwrap();
    assert_eq!(claims["roles"], json!(["VerifiableCredential.Create.All"]));
    assert_eq!(claims["iss"], app.url);
    assert_eq!(claims["sub"], id);

    // The token works on the Request Service API.
    let (status, list) = app
        .get("/v1.0/verifiableCredentials/authorities", Some(token))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["value"][0]["didModel"]["did"], app.first_did());

    // What MSAL sends: extra telemetry fields and OpenID scopes next to `<resource>/.default`.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        (
            "scope",
            "3db474b9-6a0c-4840-96ac-1fceb342124f/.default openid profile offline_access",
        ),
        ("client-request-id", "3f1e4f5a-0000-4000-8000-000000000001"),
        ("x-client-SKU", "MSAL.NetCore"),
        ("x-client-Ver", "4.61.0"),
        ("x-client-OS", "Linux"),
        ("client_info", "1"),
    ];
    let (status, body) = send(
        app.http
            .post(format!("{}/oauth2/token", app.url))
            .form(&form),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims: Value = verity_jose::UnverifiedJws::parse(body["access_token"].as_str().unwrap())
        .unwrap()
        .payload_unverified()
        .unwrap();
    assert_eq!(claims["aud"], "3db474b9-6a0c-4840-96ac-1fceb342124f");

    // HTTP Basic client authentication works too.
    let req = app
        .http
        .post(format!("{}/oauth2/token", app.url))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(send(req).await.0, 200);
}

async fn token_endpoint_rejects_bad_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, secret) = app.create_client("hr-app", None).await;
    for (cid, sec, what) in [
        (id.as_str(), "vrt_cs_wrong", "bad secret"),
        (
            "00000000-0000-4000-8000-000000000000",
            secret.as_str(),
            "unknown client",
        ),
        (id.as_str(), "", "missing secret"),
    ] {
        let (status, body) = app.token(cid, sec, None).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_error_shape(&body, "unauthorized", "tokenError");
        assert_eq!(body["oauth_error"], "invalid_client", "{what}");
        assert!(body.get("access_token").is_none());
    }
    // OAuth libraries get RFC 6749 errors (`error` as a string).
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", "nope"),
        ("x-client-SKU", "MSAL.Python"),
    ];
    let (status, body) = send(
        app.http
            .post(format!("{}/oauth2/token", app.url))
            .form(&form),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    // Other grants and foreign scopes are refused with their own errors.
    let form = [
        ("grant_type", "password"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body) = send(
        app.http
            .post(format!("{}/oauth2/token", app.url))
            .form(&form),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["oauth_error"], "unsupported_grant_type");
    let (status, body) = app
        .token(&id, &secret, Some("https://graph.microsoft.com/.default"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["oauth_error"], "invalid_scope");
}

async fn expired_and_foreign_tokens_are_rejected(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, secret) = app.create_client("hr-app", None).await;
    let token = app.token(&id, &secret, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1.0/verifiableCredentials/authorities", Some(&token))
            .await
            .0,
        200
    );
    app.clock.advance(chrono::Duration::seconds(3600 + 120));
    let (status, body) = app
        .get("/v1.0/verifiableCredentials/authorities", Some(&token))
        .await;
    assert_eq!(status, 401);
    assert!(
        assert_error_shape(&body, "unauthorized", "tokenError")["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // A token signed by another Verity deployment is not accepted here.
    let Some(other) = spawn_app(backend).await else {
        return;
    };
    let (oid, osecret) = other.create_client("other", None).await;
    let foreign = other.token(&oid, &osecret, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .get("/v1.0/verifiableCredentials/authorities", Some(&foreign))
        .await;
    assert_eq!(status, 401, "{body}");
    // Missing and malformed bearer tokens.
    let (status, body) = app
        .get("/v1.0/verifiableCredentials/authorities", None)
        .await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "unauthorized", "tokenError");
    let (status, _) = app
        .get("/v1.0/verifiableCredentials/authorities", Some("not.a.jwt"))
        .await;
    assert_eq!(status, 401);
}

async fn api_credentials_are_tenant_scoped_and_not_admin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, _) = app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({ "name": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, a) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Fabrikam", "path": "fabrikam", "tenant": "fabrikam" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (fid, fsecret) = app.create_client("fabrikam-app", Some("fabrikam")).await;
    let token = app.token(&fid, &fsecret, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The other tenant's client sees only its own authority.
    let (_, list) = app
        .get("/v1.0/verifiableCredentials/authorities", Some(&token))
        .await;
    let dids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["didModel"]["did"].as_str().unwrap())
        .collect();
    assert_eq!(dids, vec![a["did"].as_str().unwrap()]);
    // Its token does not open the admin API.
    for path in ["/authorities", "/clients", "/tenants"] {
        let (status, body) = app.get(&format!("/admin/v1{path}"), Some(&token)).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_error_shape(&body, "forbidden", "forbidden");
    }
}

async fn deleted_client_and_api_key_stop_working(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, secret) = app.create_client("temp", None).await;
    let token = app.token(&id, &secret, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .admin(Method::DELETE, &format!("/clients/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.get("/v1.0/verifiableCredentials/authorities", Some(&token))
            .await
            .0,
        401
    );
    assert_eq!(app.token(&id, &secret, None).await.0, 401);
    assert_eq!(
        app.admin(Method::DELETE, &format!("/clients/{id}"), None)
            .await
            .0,
        404
    );

    let (status, k) = app
        .admin(Method::POST, "/api-keys", Some(json!({ "name": "ci" })))
        .await;
    assert_eq!(status, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(k["prefix"].as_str().unwrap()));
    assert_eq!(
        app.get("/v1.0/verifiableCredentials/authorities", Some(&key))
            .await
            .0,
        200
    );
    let (_, listed) = app.admin(Method::GET, "/api-keys", None).await;
    assert!(
        !listed.to_string().contains(&key),
        "listings never show the key"
    );
    assert_eq!(
        app.admin(
            Method::DELETE,
            &format!("/api-keys/{}", k["id"].as_str().unwrap()),
            None
        )
        .await
        .0,
        204
    );
    let (status, body) = app
        .get("/v1.0/verifiableCredentials/authorities", Some(&key))
        .await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "unauthorized", "tokenError");
}

async fn admin_api_requires_admin_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, body) = app.get("/admin/v1/authorities", None).await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "unauthorized", "tokenError");
    let (status, body) = app
        .get("/admin/v1/authorities", Some("vrt_admin_wrong"))
        .await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "unauthorized", "tokenError");
    let (status, list) = app.admin(Method::GET, "/authorities", None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["did"], app.first_did());
    // Client listings never carry secrets or hashes.
    app.create_client("x", None).await;
    let (_, clients) = app.admin(Method::GET, "/clients", None).await;
    assert!(clients[0].get("clientSecret").is_none());
    assert!(!clients.to_string().contains("secret"));
}

async fn private_keys_are_sealed_at_rest(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let state = app.app_state();
    let authority = state
        .store
        .authority_by_did(&app.first_did())
        .await
        .unwrap()
        .unwrap();
    let record = state.store.active_key(authority.id).await.unwrap().unwrap();
    let key = verity_server::authorities::open_key(&state.kek, &record).unwrap();
    let plain = key.to_secret_bytes();
    assert!(plain.len() >= 32);
    assert!(
        !record
            .private_key_enc
            .windows(plain.len())
            .any(|w| w == plain.as_slice()),
        "the stored row must not contain the private key bytes"
    );
    // Nor any 16-byte run of them (e.g. a raw scalar inside a longer encoding).
    for chunk in plain.chunks(16).filter(|c| c.len() == 16) {
        assert!(!record.private_key_enc.windows(16).any(|w| w == chunk));
    }
    let (_, doc) = app.get("/.well-known/did.json", None).await;
    assert!(
        !doc.to_string().contains("\"d\""),
        "no private member in the DID document"
    );
}

async fn wrong_kek_is_a_clear_startup_error(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.stop().await;
    let mut config = test_config(&app.db.url, app.data_dir.path());
    // Same database, another key-encryption key.
    let err = verity_tests::start(
        config.clone(),
        Arc::clone(&app.db),
        Arc::clone(&app.data_dir),
    )
    .await
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("key-encryption key"), "{msg}");
    assert!(msg.contains("cannot decrypt"), "{msg}");
    // The right KEK starts fine.
    config.keys.kek = app.config.keys.kek.clone();
    let again = verity_tests::start(config, Arc::clone(&app.db), Arc::clone(&app.data_dir))
        .await
        .expect("starts");
    assert_eq!(again.get("/health/ready", None).await.0, 200);
}

async fn bad_input_gets_the_error_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = format!("{}/admin/v1/authorities", app.url);
    // Malformed JSON.
    let req = app
        .http
        .post(&url)
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{\"name\": ");
    let (status, body) = send(req).await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body, "badRequest", "invalidRequestBody");
    // Unknown field, named.
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "A", "colour": "red" })),
        )
        .await;
    assert_eq!(status, 400);
    let inner = assert_error_shape(&body, "badRequest", "badOrMissingField");
    assert!(
        inner["message"].as_str().unwrap().contains("colour"),
        "{inner}"
    );
    // Wrong type, with the field path.
    let (status, body) = app
        .admin(Method::POST, "/authorities", Some(json!({ "name": 5 })))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_error_shape(&body, "badRequest", "badOrMissingField")["target"],
        "name"
    );
    // Missing field.
    let (status, body) = app.admin(Method::POST, "/clients", Some(json!({}))).await;
    assert_eq!(status, 400);
    assert!(
        assert_error_shape(&body, "badRequest", "badOrMissingField")["message"]
            .as_str()
            .unwrap()
            .contains("name")
    );
    // Oversized body (over 1 MB).
    let big = json!({ "name": "x".repeat(1024 * 1024 + 10) });
    let (status, body) = app.admin(Method::POST, "/authorities", Some(big)).await;
    assert_eq!(status, 413, "{body}");
    assert_error_shape(&body, "payloadTooLarge", "payloadTooLarge");
    // Not JSON at all.
    let req = app
        .http
        .post(&url)
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body("hi");
    let (status, body) = send(req).await;
    assert_eq!(status, 415);
    assert_error_shape(&body, "unsupportedMediaType", "invalidRequestBody");
    // Unknown route and wrong algorithm.
    let (status, body) = app.get("/v1.0/nothing-here", None).await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "notFound", "notFound");
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "A", "path": "a", "algorithm": "HS256" })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_error_shape(&body, "badRequest", "badOrMissingField")["target"],
        "algorithm"
    );
    // Nothing was stored by the rejected requests.
    let (_, list) = app.admin(Method::GET, "/authorities", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn health_endpoints(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, body) = app.get("/health/live", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, 200);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
    let resp = app
        .http
        .get(format!("{}/health/live", app.url))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("request-id").is_some(),
        "request ids are echoed"
    );
}

async fn token_endpoint_is_rate_limited(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.limits.oauth_token_per_minute = 3).await else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(app.token("nobody", "nothing", None).await.0, 401);
    }
    let resp = app
        .http
        .post(format!("{}/oauth2/token", app.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a"),
            ("client_secret", "b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_error_shape(&body, "tooManyRequests", "rateLimited");
}

async fn revoked_key_leaves_the_did_document(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let did = app.first_did();
    let (_, k1) = app
        .admin(
            Method::GET,
            &format!("/authorities/{}/keys", urlenc(&did)),
            None,
        )
        .await;
    let old_id = k1[0]["id"].as_str().unwrap().to_owned();
    // The only active key cannot be removed.
    assert_eq!(
        app.admin(Method::DELETE, &format!("/keys/{old_id}"), None)
            .await
            .0,
        409
    );
    app.admin(
        Method::POST,
        &format!("/authorities/{}/keys/rotate", urlenc(&did)),
        Some(json!({ "algorithm": "ES256K" })),
    )
    .await;
    let (status, revoked) = app
        .admin(Method::POST, &format!("/keys/{old_id}/revoke"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    let (_, doc) = app.get("/.well-known/did.json", None).await;
    let vms = doc["verificationMethod"].as_array().unwrap();
    assert_eq!(vms.len(), 1, "{doc}");
    assert_eq!(vms[0]["publicKeyJwk"]["crv"], "secp256k1");
    assert_eq!(
        app.admin(Method::DELETE, &format!("/keys/{old_id}"), None)
            .await
            .0,
        204
    );
}

fn urlenc(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('#', "%23")
}

/// A database set up by a version that derived the client-secret pepper from the KEK itself
/// (no stored subkey root yet): the first start of this version stores the root those secrets
/// were derived from, so the API client made before the upgrade still gets tokens.
async fn an_installation_from_before_the_stored_root_keeps_its_secrets(backend: Backend) {
    let Some(db) = verity_store::testing::fresh_database(backend).await else {
        return;
    };
    let db = Arc::new(db);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let config = test_config(&db.url, data_dir.path());
    let kek_text = config.keys.kek.as_ref().unwrap().expose().to_owned();
    let kek = verity_jose::KeyEncryptionKey::from_base64(&kek_text).unwrap();
    // What the earlier version left: a tenant and a client whose secret hash used the pepper
    // derived from the KEK.
    let store = verity_store::connect(&db.url).await.unwrap();
    let now = verity_tests::test_epoch();
    let tenant = store
        .create_tenant(&config.bootstrap.tenant_name, now)
        .await
        .unwrap();
    let legacy =
        verity_server::credentials::Pepper::new(*kek.derive_subkey(b"verity/credential-pepper/v1"));
    let secret = "vrt_cs_made_by_the_earlier_version_0123456789";
    store
        .create_api_client(tenant.id, "old-client", "old", &legacy.hash(secret), now)
        .await
        .unwrap();
    assert!(store.service_secret("subkey-root").await.unwrap().is_none());
    drop(store);

    let app = verity_tests::start(config, db, data_dir).await.unwrap();
    let (status, token) = app.token("old-client", secret, None).await;
    assert_eq!(status, 200, "the secret made before the upgrade: {token}");
    let root = app
        .app_state()
        .store
        .service_secret("subkey-root")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(root.kek_id, kek.id());
    // A new installation gets a random root instead: a client secret hashed with the
    // KEK-derived pepper does not work there.
    let Some(fresh) = spawn_app(backend).await else {
        return;
    };
    let fresh_kek = verity_jose::KeyEncryptionKey::from_base64(
        fresh.config.keys.kek.as_ref().unwrap().expose(),
    )
    .unwrap();
    let derived_from_kek = verity_server::credentials::Pepper::new(
        *fresh_kek.derive_subkey(b"verity/credential-pepper/v1"),
    );
    let tenant = fresh
        .app_state()
        .store
        .list_tenants()
        .await
        .unwrap()
        .remove(0);
    fresh
        .app_state()
        .store
        .create_api_client(
            tenant.id,
            "kek-derived",
            "k",
            &derived_from_kek.hash(secret),
            verity_tests::test_epoch(),
        )
        .await
        .unwrap();
    assert_eq!(fresh.token("kek-derived", secret, None).await.0, 401);
}
