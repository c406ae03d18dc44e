//! What a person or an app sees first: the landing page at `/` (public facts only, escaped,
//! locked down by its headers) and QR codes in PNG or SVG on the Request Service API. Both
//! backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};
use verity_tests::{Backend, TestApp, assert_error_shape, both_backends, send, spawn_app};

both_backends!(
    the_landing_page_shows_public_facts_only,
    qr_codes_come_as_png_or_svg,
);

async fn the_landing_page_shows_public_facts_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // An authority whose name would be markup if it were not escaped.
    let (status, created) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({
                "name": "<script>alert(1)</script> & Co",
                "did": format!("did:web:localhost%3A{}:tenants:acme", app.port),
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (client_id, secret) = app.create_client("rp", None).await;

    let resp = app.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script runs: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let page = resp.text().await.unwrap();

    assert!(page.contains("ready"), "{page}");
    // Both authorities, with the URLs resolvers fetch their documents from.
    assert!(page.contains(&app.first_did()), "{page}");
    assert!(
        page.contains(&format!(
            "http://localhost:{}/.well-known/did.json",
            app.port
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "http://localhost:{}/tenants/acme/did.json",
            app.port
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "http://localhost:{}/.well-known/did-configuration.json",
            app.port
        )),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");
    // No secret and no client id.
    for secret in [
        app.admin_token.as_str(),
        client_id.as_str(),
        secret.as_str(),
    ] {
        assert!(!page.contains(secret), "the page shows a secret");
    }
    // It leads to the console and the API documentation, and every link on it works (the
    // console's through its login page).
    for path in ["/console", "/docs", "/openapi.json"] {
        assert!(page.contains(&format!("href=\"{path}\"")), "{path}: {page}");
    }
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .filter_map(|href| {
            href.strip_prefix(app.url.as_str())
                .or(href.starts_with('/').then_some(href))
        })
        .collect();
    assert!(links.len() >= 8, "{links:?}");
    for path in links {
        let resp = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        if path == "/console" {
            assert_eq!(resp.status(), 303, "{path}");
            assert_eq!(resp.headers()["location"], "/console/login");
        } else {
            assert_eq!(resp.status(), 200, "{path}");
        }
    }
}

async fn token(app: &TestApp) -> String {
    let (id, secret) = app.create_client("qr", None).await;
    let (status, body) = app.token(&id, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn create(app: &TestApp, token: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({
        "authority": app.first_did(),
        "includeQRCode": true,
        "registration": { "clientName": "Helpdesk" },
        "callback": { "url": "https://rp.example/cb", "state": "s" },
        "requestedCredentials": [{ "type": "VerifiedEmployee" }],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    send(
        app.http
            .post(format!(
                "{}/v1.0/verifiableCredentials/createPresentationRequest",
                app.url
            ))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

fn decoded(data_uri: &str, prefix: &str) -> Vec<u8> {
    let b64 = data_uri
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{data_uri:.60} does not start with {prefix}"));
    STANDARD.decode(b64).unwrap()
}

async fn qr_codes_come_as_png_or_svg(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = token(&app).await;
    // The hosted service's PNG by default.
    let (status, png) = create(&app, &token, json!({})).await;
    assert_eq!(status, 201, "{png}");
    let bytes = decoded(png["qrCode"].as_str().unwrap(), "data:image/png;base64,");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (status, png) = create(&app, &token, json!({ "qrCodeFormat": "png" })).await;
    assert_eq!(status, 201, "{png}");
    assert!(
        png["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    // SVG on request, in both profiles.
    for profile in [json!({}), json!({ "profile": "openid4vp" })] {
        let mut extra = json!({ "qrCodeFormat": "svg" });
        for (k, v) in profile.as_object().unwrap() {
            extra[k] = v.clone();
        }
        let (status, svg) = create(&app, &token, extra).await;
        assert_eq!(status, 201, "{svg}");
        let text = String::from_utf8(decoded(
            svg["qrCode"].as_str().unwrap(),
            "data:image/svg+xml;base64,",
        ))
        .unwrap();
        assert!(text.contains("<svg") && text.contains("</svg>"), "{text}");
    }
    // No QR code unless asked, whatever the format.
    let (status, none) = create(
        &app,
        &token,
        json!({ "includeQRCode": false, "qrCodeFormat": "svg" }),
    )
    .await;
    assert_eq!(status, 201, "{none}");
    assert!(none.get("qrCode").is_none_or(Value::is_null), "{none}");
    // Anything else is refused, naming the field.
    let (status, bad) = create(&app, &token, json!({ "qrCodeFormat": "gif" })).await;
    assert_eq!(status, 400, "{bad}");
    let inner = assert_error_shape(&bad, "badRequest", "badOrMissingField");
    assert!(
        inner.to_string().contains("qrCodeFormat"),
        "the error names the field: {bad}"
    );
}
