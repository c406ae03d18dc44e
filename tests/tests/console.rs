//! The operator console at `/console`: no page or form without logging in, no form without its
//! CSRF token, secrets on the one page that creates them and never again, errors at the field,
//! actions in the audit log; and the whole tour in headless Chromium (log in, create a contract,
//! issue to the reference wallet from "Try it", watch the status change, revoke, see it
//! revoked), with screenshots. Both backends; the browser test is skipped without Chromium
//! unless VERITY_TEST_REQUIRE_BROWSER=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;
use verity_tests::browser::{Browser, chromium};
use verity_tests::issuance::issuance_env;
use verity_tests::{Backend, TestApp, both_backends, spawn_app};
use verity_wallet::ReceiveOptions;

both_backends!(
    console_pages_and_forms_need_a_login,
    logging_in_sets_a_locked_down_session_cookie,
    forms_without_the_csrf_token_change_nothing,
    secrets_are_shown_once_and_actions_are_audited,
    contract_errors_are_shown_at_their_field,
    authorities_are_created_and_rotated_with_their_linkage_shown,
    credentials_and_requests_are_found_and_filtered,
    the_console_tour_in_a_browser,
);

/// A client that does not follow redirects and sends the session cookie it is given.
struct Operator {
    http: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

impl Operator {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            url: app.url.clone(),
            cookie: None,
        }
    }

    async fn login(app: &TestApp) -> Self {
        let mut op = Self::new(app);
        let resp = op
            .http
            .post(format!("{}/console/login", op.url))
            .form(&[("token", app.admin_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        op.cookie = Some(set.split(';').next().unwrap().to_owned());
        op
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.url));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        r
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.request(Method::GET, path).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let resp = self
            .request(Method::POST, path)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.status().as_u16(), resp.text().await.unwrap(), location)
    }

    /// The CSRF token of the forms on `path`.
    async fn csrf(&self, path: &str) -> String {
        let (status, page) = self.get(path).await;
        assert_eq!(status, 200, "{page}");
        let at = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &page[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// Every console operation of the OpenAPI document: (method, path with ids filled in).
async fn console_operations(app: &TestApp) -> Vec<(String, String)> {
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["tags"][0] == "Console" {
                let concrete = path
                    .replace("{asset}", "console.css")
                    .replace("{id}", "00000000-0000-0000-0000-000000000000");
                out.push((method.to_uppercase(), concrete));
            }
        }
    }
    assert!(out.len() > 20, "{out:?}");
    out
}

async fn console_pages_and_forms_need_a_login(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let anonymous = Operator::new(&app);
    for (method, path) in console_operations(&app).await {
        if path == "/console/login" || path.starts_with("/console/assets/") {
            continue;
        }
        let resp = anonymous
            .request(Method::from_bytes(method.as_bytes()).unwrap(), &path)
            .form(&[("csrf", "x"), ("name", "sneaky")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{method} {path} without a login");
        assert_eq!(
            resp.headers()["location"],
            "/console/login",
            "{method} {path}"
        );
    }
    // A forged or stale cookie is no login either.
    let mut forged = Operator::new(&app);
    forged.cookie = Some("verity_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let (status, _) = forged.get("/console").await;
    assert_eq!(status, 303);
    // Nothing was created by any of those POSTs.
    let (_, keys) = app.admin(Method::GET, "/api-keys", None).await;
    assert_eq!(keys, serde_json::json!([]));
    // The login page itself and the assets are public.
    let (status, page) = anonymous.get("/console/login").await;
    assert_eq!(status, 200);
    assert!(page.contains("type=\"password\""), "{page}");
    let (status, _) = anonymous.get("/console/assets/console.js").await;
    assert_eq!(status, 200);
}

async fn logging_in_sets_a_locked_down_session_cookie(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = Operator::new(&app);
    let (status, page, _) = op
        .post("/console/login", &[("token", "vrt_admin_not_the_token")])
        .await;
    assert_eq!(status, 401);
    assert!(page.contains("The admin token is not valid."), "{page}");
    assert!(
        !page.contains("vrt_admin_not_the_token"),
        "the page echoes no token"
    );

    let resp = op
        .http
        .post(format!("{}/console/login", app.url))
        .form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/console");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    for part in [
        "verity_console=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/console",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains(&app.admin_token),
        "the cookie holds no token"
    );

    let op = Operator::login(&app).await;
    let (status, page) = op.get("/console").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Overview"), "{page}");
    // The page is locked down: scripts from here only, never framed, never cached.
    let resp = op.request(Method::GET, "/console").send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");

    // Logging out needs the form's token, and the cookie is cleared.
    let csrf = op.csrf("/console").await;
    let (status, _, location) = op.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/console/login"));
}

async fn forms_without_the_csrf_token_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = Operator::login(&app).await;
    let csrf = op.csrf("/console/access").await;
    for form in [
        vec![("name", "no-token")],
        vec![("name", "wrong-token"), ("csrf", "AAAA")],
    ] {
        let (status, page, _) = op.post("/console/access/keys", &form).await;
        assert_eq!(status, 403, "{form:?}");
        assert!(page.contains("CSRF"), "{page}");
    }
    // The right token from another origin is refused too.
    let resp = op
        .request(Method::POST, "/console/access/keys")
        .header("origin", "https://evil.example")
        .form(&[("name", "cross-site"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (_, keys) = app.admin(Method::GET, "/api-keys", None).await;
    assert_eq!(keys, serde_json::json!([]), "nothing was created");
    // Another session's token does not work either.
    let other = Operator::login(&app).await;
    let theirs = other.csrf("/console/access").await;
    assert_ne!(theirs, csrf);
    let (status, _, _) = op
        .post(
            "/console/access/keys",
            &[("name", "theirs"), ("csrf", &theirs)],
        )
        .await;
    assert_eq!(status, 403);
    // With it, the form works (browsers name the page's origin: this server).
    let resp = op
        .request(Method::POST, "/console/access/keys")
        .header("origin", &app.url)
        .form(&[("name", "ok"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let (_, keys) = app.admin(Method::GET, "/api-keys", None).await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
}

async fn secrets_are_shown_once_and_actions_are_audited(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = Operator::login(&app).await;
    let csrf = op.csrf("/console/access").await;
    let mut secrets = Vec::new();
    for (path, name) in [
        ("/console/access/clients", "app"),
        ("/console/access/keys", "ci"),
    ] {
        let (status, page, _) = op.post(path, &[("name", name), ("csrf", &csrf)]).await;
        assert_eq!(status, 201, "{page}");
        let at = page.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
        let secret = page[at..at + page[at..].find('<').unwrap()].to_owned();
        assert!(secret.len() > 30, "{secret}");
        secrets.push(secret);
    }
    // The client secret works...
    let (_, clients) = app.admin(Method::GET, "/clients", None).await;
    let client_id = clients[0]["clientId"].as_str().unwrap();
    let (status, token) = app.token(client_id, &secrets[0], None).await;
    assert_eq!(status, 200, "{token}");
    // ... and appears on no page after the one that showed it.
    for (method, path) in console_operations(&app).await {
        if method != "GET" || path.contains("00000000") || path.ends_with(".css") {
            continue;
        }
        let (_, page) = op.get(&path).await;
        for secret in &secrets {
            assert!(!page.contains(secret.as_str()), "{path} shows a secret");
        }
    }
    let (_, page) = op.get("/console/access").await;
    assert!(page.contains(client_id), "{page}");

    // Console actions are in the audit log, with the console as the actor.
    let (status, audit) = app.admin(Method::GET, "/audit", None).await;
    assert_eq!(status, 200);
    let actions: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        actions
            .iter()
            .any(|(actor, action)| actor.starts_with("console ")
                && action == "POST /console/access/keys"),
        "{actions:?}"
    );
}

async fn contract_errors_are_shown_at_their_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = Operator::login(&app).await;
    let csrf = op.csrf("/console/contracts/new").await;
    let did = app.first_did();
    let form = |color: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("id", "employee".to_owned()),
            ("name", "Employee".to_owned()),
            ("authority", did.clone()),
            ("type", "VerifiedEmployee".to_owned()),
            ("card_title", "Verified Employee".to_owned()),
            ("issued_by", "Contoso".to_owned()),
            ("background_color", color.to_owned()),
            ("text_color", "#ffffff".to_owned()),
            ("logo_uri", "https://contoso.example/logo.png".to_owned()),
            ("description", "Employment".to_owned()),
            (
                "claims",
                "givenName: First name\nfamilyName: Last name".to_owned(),
            ),
            ("validity_days", "30".to_owned()),
        ]
    };
    let bad = form("blue");
    let pairs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page, _) = op.post("/console/contracts", &pairs).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"err-background_color\""), "{page}");
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    // What was typed is kept.
    assert!(page.contains("value=\"Verified Employee\""), "{page}");
    let (_, contracts) = app.admin(Method::GET, "/contracts", None).await;
    assert_eq!(contracts, serde_json::json!([]));

    let good = form("#123456");
    let pairs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page, location) = op.post("/console/contracts", &pairs).await;
    assert_eq!(status, 303, "{page}");
    let location = location.unwrap();
    let (status, page) = op.get(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains("Contract created."), "{page}");
    // The editor refuses an invalid definition naming the JSON path, and keeps the text.
    let edit_csrf = op.csrf(&location).await;
    let path = location.split('?').next().unwrap().to_owned();
    let (status, page, _) = op
        .post(
            &path,
            &[
                ("csrf", &edit_csrf),
                ("definition", "{\"id\": \"employee\"}"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Not saved"), "{page}");
    assert!(
        page.contains("{&quot;id&quot;: &quot;employee&quot;}"),
        "{page}"
    );
}

async fn authorities_are_created_and_rotated_with_their_linkage_shown(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = Operator::login(&app).await;
    let csrf = op.csrf("/console/authorities").await;
    // A bad algorithm is refused at its field, and nothing is created.
    let (status, page, _) = op
        .post(
            "/console/authorities",
            &[
                ("csrf", &csrf),
                ("name", "Fabrikam"),
                ("path", "tenants/fabrikam"),
                ("algorithm", "RS256"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("`RS256` is not supported"), "{page}");
    // The admin API refuses it the same way (Verity verifies RS256, it never signs with it).
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(serde_json::json!({ "name": "R", "path": "tenants/r", "algorithm": "RS256" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["target"], "algorithm");
    let (_, list) = app.admin(Method::GET, "/authorities", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, page, location) = op
        .post(
            "/console/authorities",
            &[
                ("csrf", &csrf),
                ("name", "Fabrikam"),
                ("path", "tenants/fabrikam"),
                ("algorithm", "EdDSA"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let location = location.unwrap();
    let (status, page) = op.get(&location).await;
    assert_eq!(status, 200, "{page}");
    let did = format!("did:web:localhost%3A{}:tenants:fabrikam", app.port);
    assert!(page.contains(&did), "{page}");
    assert!(page.contains("EdDSA"), "{page}");
    // Domain linkage, per origin with each step.
    assert!(page.contains("Domain linkage"), "{page}");
    assert!(
        page.contains("<th>Step</th>") || page.contains("lists no linked domain"),
        "{page}"
    );

    // Rotating: a second key, the first one retiring.
    let (status, _, _) = op
        .post(
            &format!("{location}/rotate"),
            &[("csrf", &csrf), ("algorithm", "ES256")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, keys) = app
        .admin(
            Method::GET,
            &format!("/authorities/{}/keys", verity_tests::enc(&did)),
            None,
        )
        .await;
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 2, "{keys}");
    assert!(
        states.contains(&"active") && states.contains(&"retiring"),
        "{states:?}"
    );
    let (_, page) = op.get(&location).await;
    assert!(page.contains("retiring"), "{page}");
}

async fn credentials_and_requests_are_found_and_filtered(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let app = &env.app;
    let contract = env
        .create_contract(verity_tests::issuance::example_contract(
            "id-token-hint",
            &env.authority,
        ))
        .await;
    let mut body = env.request_body(&contract);
    body["claims"] = serde_json::json!({ "given_name": "Megan", "family_name": "Bowen" });
    let url = env.request_url(&body).await;
    let credential = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    let jti = credential.id.clone().unwrap();
    let op = Operator::login(app).await;

    // By the indexed claim's value with its contract (only its hash is stored).
    let (status, page) = op
        .get(&format!(
            "/console/credentials?contract={contract}&claim=Megan"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&jti), "{page}");
    let (_, page) = op
        .get(&format!(
            "/console/credentials?contract={contract}&claim=Someone"
        ))
        .await;
    assert!(!page.contains(&jti), "{page}");
    // By holder.
    let (_, page) = op
        .get(&format!(
            "/console/credentials?subject={}",
            verity_tests::enc(&credential.subject)
        ))
        .await;
    assert!(page.contains(&jti), "{page}");

    // Revoking needs a jti and the form's token; the reason is kept.
    let csrf = op.csrf(&format!("/console/credentials?jti={jti}")).await;
    let (status, _, _) = op
        .post(
            "/console/credentials/revoke",
            &[("csrf", &csrf), ("jti", "")],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, location) = op
        .post(
            "/console/credentials/revoke",
            &[("csrf", &csrf), ("jti", &jti), ("reason", "lost device")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, page) = op.get(&location.unwrap()).await;
    assert!(
        page.contains("REVOKED") && page.contains("lost device"),
        "{page}"
    );
    let (_, found) = app
        .admin(
            Method::GET,
            &format!("/credentials?jti={}", verity_tests::enc(&jti)),
            None,
        )
        .await;
    assert_eq!(found[0]["status"], "REVOKED", "{found}");

    // Requests: the issuance is listed with its status; filters narrow the list.
    let row = "data-label=\"Status\">issuance_successful";
    let (_, page) = op.get("/console/requests").await;
    assert!(page.contains(row), "{page}");
    let (_, page) = op.get("/console/requests?kind=presentation").await;
    assert!(!page.contains(row), "{page}");
    let (_, page) = op.get("/console/requests?status=issuance_successful").await;
    assert!(page.contains(row), "{page}");
    let (_, page) = op.get("/console/requests?status=issuance_error").await;
    assert!(!page.contains("data-label=\"Kind\">issuance"), "{page}");
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn the_console_tour_in_a_browser(backend: Backend) {
    let Some(browser_path) = chromium() else {
        return;
    };
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let app = &env.app;
    let shots = shots_dir();
    let shot = |name: &str| shots.join(format!("{backend:?}-{name}.png"));
    let mut b = Browser::launch(&browser_path).await;

    // Log in.
    b.goto(&format!("{}/console", app.url)).await;
    b.fill("#f-token", &app.admin_token).await;
    b.screenshot(&shot("01-login")).await;
    b.click("button[type=submit]").await;
    assert!(b.html().await.contains("Overview"));

    // Create a contract; the preview follows the form.
    b.goto(&format!("{}/console/contracts/new", app.url)).await;
    b.fill("#f-id", "employee").await;
    b.fill("#f-name", "Employee").await;
    b.fill("#f-card_title", "Contoso Employee").await;
    b.fill("#f-background_color", "#0b5cad").await;
    b.cmd(serde_json::json!({"op": "click", "selector": "#f-suspendable"}))
        .await;
    assert_eq!(b.text("[data-card=title]").await, "Contoso Employee");
    b.screenshot(&shot("02-new-contract")).await;
    b.click("form[action='/console/contracts'] button[type=submit]")
        .await;
    let page = b.html().await;
    assert!(page.contains("Contract created."), "{page}");

    // Issue from "Try it" to the reference wallet; the page follows the status.
    b.goto(&format!("{}/console/try", app.url)).await;
    b.fill("#claim-givenName", "Megan").await;
    b.fill("#claim-familyName", "Bowen").await;
    b.click("#start-issuance").await;
    b.wait_status("request_created").await;
    let url = b.text("#request-url").await;
    assert!(url.starts_with("openid-vc://"), "{url}");
    assert!(
        b.html().await.contains("data:image/svg+xml"),
        "the page shows the QR code"
    );
    b.screenshot(&shot("03-try-it-qr")).await;
    let credential = env
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    b.wait_status("issuance_successful").await;
    b.screenshot(&shot("04-try-it-issued")).await;

    // Ask the same wallet to present it, from "Try it" too.
    b.goto(&format!("{}/console/try", app.url)).await;
    b.click("#start-presentation").await;
    b.wait_status("request_created").await;
    let url = b.text("#request-url").await;
    let presented = env.wallet.present(&url).await.unwrap();
    assert!(presented.status < 300, "{presented:?}");
    b.wait_status("presentation_verified").await;
    assert!(b.text("#status-detail").await.contains("Megan"));
    b.screenshot(&shot("05-try-it-verified")).await;

    // Find it and revoke it.
    let jti = credential.id.clone().unwrap();
    b.goto(&format!("{}/console/credentials?jti={jti}", app.url))
        .await;
    assert_eq!(b.text(".cred-status").await, "VALID");
    // Suspend, then resume: the contract was created suspendable.
    b.click("button[id^=suspend-]").await;
    assert_eq!(b.text(".cred-status").await, "SUSPENDED");
    b.screenshot(&shot("06-suspended")).await;
    b.click("button[id^=resume-]").await;
    assert_eq!(b.text(".cred-status").await, "VALID");
    b.fill("input[name=reason]", "left the company").await;
    b.click("button.danger").await;
    assert_eq!(b.text(".cred-status").await, "REVOKED");
    b.screenshot(&shot("07-revoked")).await;

    // The requests page lists the issuance with its outcome.
    // The requests page lists both, the presentation with each verifier check's outcome.
    b.goto(&format!("{}/console/requests", app.url)).await;
    let page = b.html().await;
    assert!(page.contains("issuance_successful"), "{page}");
    assert!(page.contains("presentation_verified"), "{page}");
    assert!(page.contains("Verifier checks"), "{page}");
    assert!(page.contains("id_token.signature"), "{page}");
    b.screenshot(&shot("08-requests")).await;

    // The API documentation renders in the browser with nothing fetched from elsewhere.
    b.goto(&format!("{}/docs", app.url)).await;
    b.cmd(serde_json::json!({"op": "waitFor", "selector": ".opblock"}))
        .await;
    let docs = b.html().await;
    assert!(docs.contains("/v1.0/verifiableCredentials/createIssuanceRequest"));
    assert!(
        !docs.contains("errors-wrapper"),
        "Swagger UI reports errors or warnings about the document"
    );
    b.cmd(serde_json::json!({"op": "screenshot", "path": shot("09-api-docs"), "full": false}))
        .await;
    b.close().await;
    eprintln!("console screenshots in {}", shots.display());
}
