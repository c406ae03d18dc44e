//! DID resolution and domain linkage end to end: our `/.well-known/did-configuration.json`
//! checked by our own verifier through the local server, `verity domain verify`'s admin
//! endpoint on a local multi-domain setup, and the admin DID resolution endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use verity_core::{Clock, SystemClock};
use verity_did::{CompositeResolver, FetchPolicy, HttpFetcher};
use verity_linked_domains::{DID_CONFIGURATION_CONTEXT, LinkageResult, LinkedDomainVerifier};
use verity_tests::linkage::{LINKED_DID, MOVED_DID, ORPHAN_DID, spawn_linkage_setup};
use verity_tests::{
    Backend, TestApp, allow_local_resolution, assert_error_shape, both_backends, enc, send,
    spawn_app_with, test_epoch,
};

both_backends!(
    own_did_configuration_is_verified_by_own_checker,
    did_configuration_is_cached_and_follows_the_active_key,
    did_configuration_only_for_configured_hosts_with_authorities,
    domain_verify_on_a_local_multi_domain_setup,
    domain_verify_rejects_bad_queries,
    resolve_endpoint_resolves_key_jwk_and_web_dids,
    resolve_endpoint_errors_are_specific,
);

const YEAR: i64 = 365 * 86_400;

/// The claims and header of a compact JWT (no verification: the checker does that).
fn decode_jwt(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
            .unwrap()
    };
    let header = part();
    let claims = part();
    (header, claims)
}

async fn did_configuration(app: &TestApp) -> (u16, Option<String>, Value) {
    let resp = app
        .http
        .get(format!("{}/.well-known/did-configuration.json", app.url))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, resp.json().await.unwrap())
}

fn jwts(config: &Value) -> Vec<String> {
    config["linked_dids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// `GET /admin/v1/domains/verify?did=...` on `app`.
async fn verify(app: &TestApp, did: &str) -> Value {
    let (status, report) = app
        .admin(
            Method::GET,
            &format!("/domains/verify?did={}", enc(did)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

async fn own_did_configuration_is_verified_by_own_checker(backend: Backend) {
    let Some(app) = spawn_app_with(backend, allow_local_resolution).await else {
        return;
    };
    let did = app.first_did();
    let origin = format!("http://localhost:{}", app.port);

    // The configuration: one JWT credential for the first authority, for this origin.
    let (status, ct, config) = did_configuration(&app).await;
    assert_eq!(status, 200, "{config}");
    assert!(ct.unwrap().starts_with("application/json"));
    assert_eq!(config["@context"], DID_CONFIGURATION_CONTEXT);
    let list = jwts(&config);
    assert_eq!(list.len(), 1, "{config}");
    let (header, claims) = decode_jwt(&list[0]);
    let active = app
        .app_state()
        .store
        .authority_by_did(&did)
        .await
        .unwrap()
        .unwrap();
    let key = app
        .app_state()
        .store
        .active_key(active.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header["kid"], format!("{did}#{}", key.kid));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], did);
    assert_eq!(claims["sub"], did);
    assert_eq!(claims["vc"]["credentialSubject"]["id"], did);
    assert_eq!(claims["vc"]["credentialSubject"]["origin"], origin);
    assert_eq!(claims["nbf"], test_epoch().timestamp());
    assert_eq!(claims["exp"], test_epoch().timestamp() + YEAR);

    // Our own checker, built here exactly as the service builds it, through the local server.
    let fetcher = HttpFetcher::new(FetchPolicy {
        allow_loopback: true,
        allow_http_hosts: vec!["localhost".into()],
        ..FetchPolicy::default()
    })
    .unwrap();
    let resolver = Arc::new(CompositeResolver::standard(
        fetcher.clone(),
        Arc::new(SystemClock),
        Duration::from_secs(60),
    ));
    let report = LinkedDomainVerifier::new(resolver, fetcher)
        .verify(&did, app.clock.now().timestamp())
        .await;
    assert_eq!(
        report.result,
        LinkageResult::Verified {
            origin: origin.clone()
        },
        "{report:?}"
    );

    // The admin view of the authority's domains: one origin, verified live.
    let (status, domains) = app
        .admin(
            Method::GET,
            &format!("/authorities/{}/domains", enc(&did)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{domains}");
    assert_eq!(domains["did"], did);
    assert_eq!(domains["authorityId"], active.id.to_string());
    let d = &domains["domains"][0];
    assert_eq!(d["origin"], origin);
    assert_eq!(
        d["configurationUrl"],
        format!("{origin}/.well-known/did-configuration.json")
    );
    assert_eq!(d["report"]["verified"], true, "{d}");
    assert_eq!(d["report"]["result"]["status"], "verified");
    assert_eq!(d["report"]["result"]["origin"], origin);
    assert_eq!(domains["domains"].as_array().unwrap().len(), 1);

    // The same through `verity domain verify`'s endpoint, with every step.
    let report = verify(&app, &did).await;
    assert_eq!(report["verified"], true, "{report}");
    assert!(
        report["summary"].as_str().unwrap().starts_with("verified"),
        "{report}"
    );
    let steps: Vec<(&str, &str)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("resolve DID", "passed"),
            ("LinkedDomains service", "passed"),
            ("fetch DID configuration", "passed"),
            ("find domain linkage credential", "passed"),
            ("verify domain linkage credential", "passed"),
        ]
    );

    // A path DID on the same host is linked to the same origin: two credentials, both verify.
    let (status, a) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Acme", "path": "tenants/acme", "algorithm": "EdDSA" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (_, _, config) = did_configuration(&app).await;
    assert_eq!(jwts(&config).len(), 2, "{config}");
    let report = verify(&app, a["did"].as_str().unwrap()).await;
    assert_eq!(report["result"]["status"], "verified", "{report}");
    let (header, _) = decode_jwt(
        jwts(&config)
            .iter()
            .find(|j| decode_jwt(j).1["iss"] == a["did"])
            .unwrap(),
    );
    assert_eq!(header["alg"], "EdDSA");
}

async fn did_configuration_is_cached_and_follows_the_active_key(backend: Backend) {
    let Some(app) = spawn_app_with(backend, allow_local_resolution).await else {
        return;
    };
    let did = app.first_did();
    let (_, _, first) = did_configuration(&app).await;
    let (_, _, again) = did_configuration(&app).await;
    assert_eq!(first, again, "the signed credential is reused");

    // Rotation: the next configuration is signed by the new key and still verifies (the
    // DID document lists the new key at once).
    let (status, new_key) = app
        .admin(
            Method::POST,
            &format!("/authorities/{}/keys/rotate", enc(&did)),
            None,
        )
        .await;
    assert_eq!(status, 201, "{new_key}");
    let (_, _, rotated) = did_configuration(&app).await;
    let (header, _) = decode_jwt(&jwts(&rotated)[0]);
    assert_eq!(
        header["kid"],
        format!("{did}#{}", new_key["kid"].as_str().unwrap())
    );
    assert_ne!(first, rotated);
    assert_eq!(verify(&app, &did).await["verified"], true);

    // Later in the year it is still the same credential ...
    app.clock.advance(chrono::Duration::days(300));
    let (_, _, later) = did_configuration(&app).await;
    assert_eq!(later, rotated);
    // ... and within 30 days of expiry it is re-signed, valid from now.
    app.clock.advance(chrono::Duration::days(40));
    let (_, _, renewed) = did_configuration(&app).await;
    assert_ne!(renewed, rotated);
    let (_, claims) = decode_jwt(&jwts(&renewed)[0]);
    assert_eq!(claims["nbf"], app.clock.now().timestamp());
    assert_eq!(claims["exp"], app.clock.now().timestamp() + YEAR);
    assert_eq!(verify(&app, &did).await["verified"], true);
}

async fn did_configuration_only_for_configured_hosts_with_authorities(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.server.domains = vec!["empty.test".into()];
    })
    .await
    else {
        return;
    };
    let get_as = |host: &'static str| {
        app.http
            .get(format!(
                "http://127.0.0.1:{}/.well-known/did-configuration.json",
                app.port
            ))
            .header("Host", host)
    };
    // A host this deployment is not configured for.
    let (status, body) = send(get_as("evil.example")).await;
    assert_eq!(status, 404, "{body}");
    let inner = assert_error_shape(&body, "notFound", "notFound");
    assert!(
        inner["message"].as_str().unwrap().contains("evil.example"),
        "{body}"
    );
    // A configured host without any authority.
    let (status, body) = send(get_as("empty.test")).await;
    assert_eq!(status, 404, "{body}");
    let inner = assert_error_shape(&body, "notFound", "notFound");
    assert!(
        inner["message"].as_str().unwrap().contains("no authority"),
        "{body}"
    );
    // Once an authority lives on that host, the host links it.
    let (status, a) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "E", "domain": "empty.test" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (status, body) = send(get_as("empty.test")).await;
    assert_eq!(status, 200, "{body}");
    let list = jwts(&body);
    assert_eq!(list.len(), 1, "{body}");
    let (_, claims) = decode_jwt(&list[0]);
    assert_eq!(claims["iss"], "did:web:empty.test");
    assert_eq!(
        claims["vc"]["credentialSubject"]["origin"],
        "https://empty.test"
    );
    // The first authority (localhost) is not linked to empty.test, and vice versa.
    let (_, _, own) = did_configuration(&app).await;
    assert_eq!(jwts(&own).len(), 1);
    assert_eq!(decode_jwt(&jwts(&own)[0]).1["iss"], app.first_did());
}

async fn domain_verify_on_a_local_multi_domain_setup(backend: Backend) {
    let Some(setup) = spawn_linkage_setup(backend).await else {
        return;
    };
    let v = &setup.verifier;

    // Linked: document and configuration from the same deployment.
    let report = verify(v, LINKED_DID).await;
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(
        report["result"],
        json!({ "status": "verified", "origin": "https://linked.test" })
    );

    // The configuration at moved.test is signed by the old deployment's key, which the
    // current DID document does not list.
    let report = verify(v, MOVED_DID).await;
    assert_eq!(report["verified"], false, "{report}");
    assert_eq!(report["result"]["status"], "unverified");
    assert_eq!(report["result"]["reason"]["code"], "signature_invalid");
    assert_eq!(report["result"]["origin"], "https://moved.test");
    let last = report["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "verify domain linkage credential");
    assert_eq!(last["outcome"], "failed");
    assert!(
        last["detail"].as_str().unwrap().contains("moved.test#key-"),
        "{last}"
    );
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("signature_invalid"),
        "{report}"
    );

    // orphan.test serves no configuration for its DID.
    let report = verify(v, ORPHAN_DID).await;
    assert_eq!(report["result"]["status"], "unverified", "{report}");
    assert_eq!(report["result"]["reason"]["code"], "configuration_missing");
    let fetch = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "fetch DID configuration")
        .unwrap()
        .clone();
    assert_eq!(fetch["outcome"], "failed");
    assert!(
        fetch["detail"].as_str().unwrap().contains("HTTP 404"),
        "{fetch}"
    );

    // One origin asked for explicitly: linked.test is not moved.test's.
    let (status, report) = v
        .admin(
            Method::GET,
            &format!(
                "/domains/verify?did={}&origin={}",
                enc(MOVED_DID),
                enc("https://linked.test")
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["result"]["reason"]["code"],
        "origin_not_in_did_document"
    );
    let (_, report) = v
        .admin(
            Method::GET,
            &format!(
                "/domains/verify?did={}&origin={}",
                enc(LINKED_DID),
                enc("https://linked.test/")
            ),
            None,
        )
        .await;
    assert_eq!(report["result"]["status"], "verified", "{report}");

    // A DID that does not resolve: no verdict.
    let report = verify(v, "did:web:localhost%3A1").await;
    assert_eq!(report["result"]["status"], "not_checked", "{report}");
    assert_eq!(report["steps"][0]["name"], "resolve DID");
    assert_eq!(report["steps"][0]["outcome"], "failed");

    // The successor's orphan.test has no authority to show.
    let (status, body) = setup
        .successor
        .admin(
            Method::GET,
            &format!("/authorities/{}/domains", enc(ORPHAN_DID)),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error_shape(&body, "notFound", "notFound");
}

async fn domain_verify_rejects_bad_queries(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let cases = [
        ("/domains/verify", "badOrMissingField", "did"),
        ("/domains/verify?did=", "badOrMissingField", "did"),
        ("/domains/verify?did=nope", "invalidDid", "did"),
        (
            "/domains/verify?did=did:key:z6Mk&did=did:key:z6Mk",
            "badOrMissingField",
            "did",
        ),
        (
            "/domains/verify?did=did:web:a.test&origin=ftp://a.test",
            "badOrMissingField",
            "origin",
        ),
        (
            "/domains/verify?did=did:web:a.test&origin=https://a.test/path",
            "badOrMissingField",
            "origin",
        ),
        (
            "/domains/verify?did=did:web:a.test&colour=blue",
            "badOrMissingField",
            "colour",
        ),
    ];
    for (path, code, target) in cases {
        let (status, body) = app.admin(Method::GET, path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        let inner = assert_error_shape(&body, "badRequest", code);
        assert_eq!(inner["target"], target, "{path}: {body}");
    }
    // Admin only.
    let (status, body) = app
        .get(
            &format!("/admin/v1/domains/verify?did={}", enc(LINKED_DID)),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = app
        .get(
            &format!("/admin/v1/authorities/{}/domains", enc(&app.first_did())),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get(&format!("/admin/v1/dids/{}", enc(&app.first_did())), None)
        .await;
    assert_eq!(status, 401);
}

async fn resolve(app: &TestApp, did: &str) -> (u16, Value) {
    app.admin(Method::GET, &format!("/dids/{}", enc(did)), None)
        .await
}

async fn resolve_endpoint_resolves_key_jwk_and_web_dids(backend: Backend) {
    let Some(app) = spawn_app_with(backend, allow_local_resolution).await else {
        return;
    };
    // W3C CCG did:key test vectors, `test-vectors/ed25519-x25519.json` (seed 0): the DID and
    // the `publicKeyBase58` of its Ed25519 key.
    let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
    let raw = bs58::decode("4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS")
        .into_vec()
        .unwrap();
    let (status, doc) = resolve(&app, did).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["id"], did);
    let jwk = &doc["verificationMethod"][0]["publicKeyJwk"];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["x"], URL_SAFE_NO_PAD.encode(raw));
    assert_eq!(
        doc["assertionMethod"][0],
        doc["verificationMethod"][0]["id"]
    );

    // did:jwk Method Specification, "Examples" -> "P-256".
    let did = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
    let (status, doc) = resolve(&app, did).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["id"], did);
    assert_eq!(doc["verificationMethod"][0]["id"], format!("{did}#0"));
    assert_eq!(
        doc["verificationMethod"][0]["publicKeyJwk"],
        json!({ "crv": "P-256", "kty": "EC",
                "x": "acbIQiuMs3i8_uszEjJ2tpTtRM4EU3yz91PH6CdH2V0",
                "y": "_KcyLj9vWMptnmKtm46GqDz8wf74I5LKgrl2GzH3nSE" })
    );

    // did:web: our own DID through the local server, the document it publishes.
    let (status, doc) = resolve(&app, &app.first_did()).await;
    assert_eq!(status, 200, "{doc}");
    let (_, published) = app.get("/.well-known/did.json", None).await;
    assert_eq!(doc, published);
    assert_eq!(doc["id"], app.first_did());
}

async fn resolve_endpoint_errors_are_specific(backend: Backend) {
    // A loopback port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let Some(app) = spawn_app_with(backend, |c| {
        allow_local_resolution(c);
        // A name that "resolves" to a private address.
        c.resolver
            .host_overrides
            .insert("private.test".into(), "10.0.0.1:443".into());
        // A name the operator pointed at that closed port.
        c.resolver
            .host_overrides
            .insert("gone.test".into(), format!("127.0.0.1:{port}"));
    })
    .await
    else {
        return;
    };
    // Malformed identifiers name the field.
    for bad in ["not-a-did", "did:web", "did:key:zzz", "did:jwk:bm90LWpzb24"] {
        let (status, body) = resolve(&app, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let inner = assert_error_shape(&body, "badRequest", "invalidDid");
        assert_eq!(inner["target"], "did", "{bad}");
    }
    let (status, body) = resolve(&app, "did:example:123").await;
    assert_eq!(status, 400, "{body}");
    let inner = assert_error_shape(&body, "badRequest", "unsupportedDidMethod");
    assert_eq!(inner["target"], "did");
    assert!(inner["message"].as_str().unwrap().contains("example"));

    // The host answers 404 for a path DID nobody created.
    let (status, body) = resolve(&app, &format!("{}:nobody", app.first_did())).await;
    assert_eq!(status, 404, "{body}");
    assert_error_shape(&body, "notFound", "didNotFound");

    // A private address is refused by the fetch policy before any connection.
    let (status, body) = resolve(&app, "did:web:private.test").await;
    assert_eq!(status, 502, "{body}");
    let inner = assert_error_shape(&body, "badGateway", "didResolutionFailed");
    assert!(
        inner["message"].as_str().unwrap().contains("private"),
        "{body}"
    );

    // Another local port than our own origin is refused before connecting (allow_loopback
    // opens only our own origin), whether anything listens there or not.
    let (status, body) = resolve(&app, &format!("did:web:localhost%3A{port}")).await;
    assert_eq!(status, 502, "{body}");
    let inner = assert_error_shape(&body, "badGateway", "didResolutionFailed");
    assert!(
        inner["message"].as_str().unwrap().contains("FETCH-015"),
        "{body}"
    );

    // Nobody listening at a configured address: a transient failure, worth a retry.
    let resp = app
        .http
        .get(format!(
            "{}/admin/v1/dids/{}",
            app.url,
            enc("did:web:gone.test")
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "30");
    let body: Value = resp.json().await.unwrap();
    let inner = assert_error_shape(&body, "serviceUnavailable", "transientError");
    assert!(
        inner["message"].as_str().unwrap().contains("FETCH-011"),
        "{body}"
    );
}
