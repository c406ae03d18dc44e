//! The OpenAPI 3.1 document at `/openapi.json` and the docs page at `/docs`: every route the
//! server answers is described and every described operation is served (route coverage), the
//! document validates as OpenAPI 3.1 (`openapi-spec-validator`), and Schemathesis, driving every
//! operation from the served document, never gets a 5xx. The Python tools are skipped when
//! missing unless VERITY_TEST_REQUIRE_OPENAPI_TOOLS=1 (as in `.ci/run`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_did::test_util::StaticResolver;
use verity_tests::{Backend, TestApp, both_backends, spawn_app, spawn_app_with_resolver};

both_backends!(
    every_route_is_described_and_every_described_route_is_served,
    the_docs_page_works_offline,
    schemathesis_finds_no_server_error,
);

#[tokio::test]
async fn the_document_validates_as_openapi_3_1() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let doc = document(&app).await;
    let Some(result) = validate(&doc) else {
        return;
    };
    assert!(
        result.0,
        "the document is not valid OpenAPI 3.1:\n{}",
        result.1
    );
    // The validator can fail: a document missing `info` is refused.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    let (valid, _) = validate(&broken).unwrap();
    assert!(!valid, "a document without `info` passed the validator");
}

async fn document(app: &TestApp) -> Value {
    let resp = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp.json().await.unwrap()
}

/// Every `(method, path)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.insert(x.as_str().unwrap().to_owned());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// True when the app answered "no such route" (the default service), not the route's handler.
async fn unrouted(app: &TestApp, method: &str, path: &str) -> (bool, u16) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let resp = app
        .http
        .request(method, format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let message = body["error"]["innererror"]["message"]
        .as_str()
        .unwrap_or_default();
    (status == 404 && message.starts_with("no route for"), status)
}

async fn every_route_is_described_and_every_described_route_is_served(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // The default dialect (OpenAPI 3.1's, a superset of JSON Schema 2020-12): Swagger UI and
    // other tools refuse a custom `jsonSchemaDialect`.
    assert!(doc.get("jsonSchemaDialect").is_none());

    // The document is the route table: as many operations as the server registers.
    let mut table = verity_server::openapi::Routes::describe();
    verity_server::routes::table(&mut table);
    let ops = operations(&doc);
    assert_eq!(ops.len(), table.operations().len());
    for o in table.operations() {
        let path = o.openapi_path();
        assert!(
            doc["paths"][&path][o.method.as_str().to_lowercase()].is_object(),
            "{} {path} is registered but missing from /openapi.json",
            o.method
        );
    }

    // The APIs the issue names are there, with their request and answer types.
    for (method, path) in [
        ("post", "/v1.0/verifiableCredentials/createIssuanceRequest"),
        ("get", "/v1.0/verifiableCredentials/issuanceRequests/{id}"),
        (
            "post",
            "/v1.0/verifiableCredentials/createPresentationRequest",
        ),
        ("get", "/v1.0/manifests/{contract}"),
        ("post", "/v1.0/issue/{contract}"),
        ("post", "/v1.0/requests/{id}/completion"),
        ("post", "/admin/v1/contracts"),
        ("put", "/admin/v1/contracts/{id}"),
        ("post", "/admin/v1/credentials/revoke"),
        ("get", "/.well-known/did.json"),
        ("get", "/.well-known/did-configuration.json"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let create = &doc["paths"]["/v1.0/verifiableCredentials/createIssuanceRequest"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/IssuanceRequest"
    );
    assert_eq!(create["security"], json!([{ "apiToken": [] }]));
    // Field rules from the doc comments reach the schema.
    let registration = &doc["components"]["schemas"]["Registration"];
    assert!(
        registration["properties"]["clientName"]["description"]
            .as_str()
            .unwrap()
            .contains("1-256"),
        "{registration}"
    );
    // Errors carry their innererror codes.
    assert_eq!(
        create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApiError"
    );
    let codes = create["responses"]["400"]["x-innererror-codes"]
        .as_array()
        .unwrap();
    assert!(codes.contains(&json!("badOrMissingField")), "{codes:?}");
    assert!(codes.contains(&json!("callbackUrlRefused")), "{codes:?}");
    let inner = &doc["components"]["schemas"]["ApiError"]["properties"]["error"]["properties"]["innererror"]
        ["properties"]["code"]["enum"];
    for code in [
        "badOrMissingField",
        "pinLocked",
        "presentationInvalid",
        "tokenError",
    ] {
        assert!(inner.as_array().unwrap().contains(&json!(code)), "{code}");
    }

    // Every reference resolves.
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "{all:?}");
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling {r}"
        );
    }
    // Every operation has an id, a summary, a tag and a security requirement.
    let mut ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "{id} twice");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
        assert!(op["tags"][0].is_string(), "{method} {path}");
        assert!(op["security"].is_array(), "{method} {path}");
    }

    // Every described operation is served: the request reaches a handler, never the
    // "no route" answer.
    for (method, path, _) in &ops {
        let concrete = path
            .replace("{path}", "tenants/nobody")
            .replace("{did}", "did:example:nobody")
            .replace(['{', '}'], "");
        let (missing, status) = unrouted(&app, method, &concrete).await;
        assert!(
            !missing,
            "{method} {path} is described but not served ({status})"
        );
    }
    // ... and the check can tell: a route nobody registered is reported.
    let (missing, _) = unrouted(&app, "GET", "/v1.0/notARoute").await;
    assert!(missing);
    // A method not described is not served either: 405 with the described ones in `Allow`.
    let resp = app
        .http
        .patch(format!("{}/admin/v1/contracts", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    let mut allowed: Vec<&str> = allow.split(", ").collect();
    allowed.sort_unstable();
    let mut described: Vec<String> = ops
        .iter()
        .filter(|(_, path, _)| path == "/admin/v1/contracts")
        .map(|(method, _, _)| method.to_uppercase())
        .collect();
    described.sort_unstable();
    assert_eq!(allowed, described);
    let body: Value = resp.json().await.unwrap();
    verity_tests::assert_error_shape(&body, "methodNotAllowed", "methodNotAllowed");
}

async fn the_docs_page_works_offline(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let resp = app
        .http
        .get(format!("{}/docs", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let page = resp.text().await.unwrap();
    // Everything the page loads comes from this server.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "no inline script: {page}");
    for (asset, media, at_least) in [
        ("swagger-ui-bundle.js", "application/javascript", 1_000_000),
        ("swagger-ui.css", "text/css", 100_000),
        ("init.js", "application/javascript", 100),
    ] {
        assert!(page.contains(&format!("/docs/{asset}")), "{asset}");
        let resp = app
            .http
            .get(format!("{}/docs/{asset}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(media),
            "{asset}"
        );
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        let body = resp.bytes().await.unwrap();
        assert!(body.len() >= at_least, "{asset}: {} bytes", body.len());
        let again = app
            .http
            .get(format!("{}/docs/{asset}", app.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{asset}");
    }
    let init = app
        .http
        .get(format!("{}/docs/init.js", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("'/openapi.json'"), "{init}");
    let (status, body) =
        verity_tests::send(app.http.get(format!("{}/docs/evil.js", app.url))).await;
    assert_eq!(status, 404);
    verity_tests::assert_error_shape(&body, "notFound", "notFound");
}

/// `Some((valid, output))` from `openapi-spec-validator`; `None` when it is not installed and
/// not required.
fn validate(doc: &Value) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             from openapi_spec_validator import OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&file)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            require_tools(&format!("python3 cannot run: {e}"));
            return None;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("ModuleNotFoundError") {
        require_tools(
            "openapi-spec-validator is not installed (pip install openapi-spec-validator)",
        );
        return None;
    }
    Some((out.status.success() && text.contains("valid"), text))
}

fn require_tools(why: &str) {
    assert!(
        std::env::var("VERITY_TEST_REQUIRE_OPENAPI_TOOLS").as_deref() != Ok("1"),
        "VERITY_TEST_REQUIRE_OPENAPI_TOOLS=1 but {why}"
    );
    eprintln!("skipping: {why}");
}

/// Schemathesis generates requests for every operation from the served document (with the
/// admin token and an API key for the operations that need them) and fails on any 5xx. DIDs
/// resolve from a static map, so no generated `did:web` is fetched from anywhere.
async fn schemathesis_finds_no_server_error(backend: Backend) {
    let have = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        require_tools("schemathesis is not installed (pip install schemathesis)");
        return;
    }
    let Some(app) = spawn_app_with_resolver(backend, |_| {}, Arc::new(StaticResolver::new())).await
    else {
        return;
    };
    let (status, key) = app
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({ "name": "schemathesis" })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let api_key = key["key"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.openapi.adminToken]\nbearer = \"{}\"\n\n[auth.openapi.apiToken]\nbearer = \"{api_key}\"\n",
            app.admin_token
        ),
    )
    .unwrap();
    let examples = std::env::var("VERITY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".into());
    let out = tokio::process::Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/openapi.json", app.url))
        .args(["--checks", "not_a_server_error"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", "7"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(
            std::env::var("VERITY_SCHEMATHESIS_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Schemathesis found failures:\n{text}");
    // It did test the API: operations were run, none skipped for a broken document.
    assert!(text.contains("passed"), "{text}");
    eprintln!("{text}");
}
