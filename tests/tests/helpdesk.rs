//! The verified helpdesk end to end: the real Verity (SQLite, face checks answered by the
//! `FakeFaceMatcher` test double), a seeded OpenLDAP (`slapd`), the helpdesk app on its own
//! port with its own database, the reference wallet, a service-desk webhook receiver and, for
//! the pages, headless Chromium. Without slapd (or Chromium) these tests print a note and pass
//! unless VERITY_TEST_REQUIRE_LDAP=1 (VERITY_TEST_REQUIRE_BROWSER=1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;
use verity_core::{Clock, Secret};
use verity_face_match::testing::FakeFaceMatcher;
use verity_helpdesk::app::Helpdesk;
use verity_helpdesk::config::DirectoryConfig;
use verity_helpdesk::settings::{ActionSettings, IssuanceSettings, Settings, VerificationSettings};
use verity_helpdesk::slapd::{self, LocalSlapd};
use verity_helpdesk::verity_api::{DEFAULT_SCOPE, VerityConfig};
use verity_helpdesk::webhook::{WebhookConfig, verify_signature};
use verity_helpdesk::{
    Action, ActionOutcome, Directory, DirectoryError, Employee, EmployeeId, EmployeeKey, startup,
};
use verity_jose::Algorithm;
use verity_tests::browser::{Browser, chromium};
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, env_for_app, example_contract};
use verity_tests::presentation::{create_authority, presenting};
use verity_tests::rp::{RecordedCallback, TestRp};
use verity_tests::{Backend, allow_local_resolution, spawn_app_with_face_matcher};
use verity_wallet::{ReceiveOptions, Wallet};

const ROOT_PASSWORD: &str = "directory-root-pass";
const WEBHOOK_SECRET: &str = "service-desk-shared-secret-0123456789";

/// A 1x1 PNG: a valid selfie for the face-check test double.
const SELFIE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn selfie() -> Vec<u8> {
    STANDARD.decode(SELFIE).unwrap()
}

struct Env {
    verity: IssuanceEnv,
    matcher: Arc<FakeFaceMatcher>,
    ldap: LocalSlapd,
    hd: Helpdesk,
    /// The helpdesk's base URL.
    url: String,
    webhook: TestRp,
    contract: String,
    _dir: tempfile::TempDir,
}

/// Everything started, or `None` when slapd is not installed (and not required).
async fn env() -> Option<Env> {
    env_with(|_| {}).await
}

async fn env_with(adjust: impl FnOnce(&mut Settings)) -> Option<Env> {
    if let Err(e) = slapd::find_installation() {
        assert!(
            std::env::var("VERITY_TEST_REQUIRE_LDAP").as_deref() != Ok("1"),
            "VERITY_TEST_REQUIRE_LDAP=1 but {e}"
        );
        eprintln!("note: {e}; helpdesk test skipped");
        return None;
    }
    let mut options = slapd::demo_options();
    options.root_password = Some(Secret::new(ROOT_PASSWORD));
    let ldap = LocalSlapd::start(options).await.unwrap();
    let matcher = Arc::new(FakeFaceMatcher::scoring(91));
    let app = spawn_app_with_face_matcher(
        Backend::Sqlite,
        |c| {
            allow_local_resolution(c);
            allow_local_callbacks(c);
        },
        matcher.clone(),
    )
    .await?;
    let verity = env_for_app(app, Algorithm::EdDSA).await;
    let contract = verity
        .create_contract(example_contract(
            "verified-employee-hint",
            &verity.authority,
        ))
        .await;
    let (client_id, client_secret) = verity.app.create_client("helpdesk", None).await;
    let webhook = TestRp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = Settings {
        public_url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        bind: format!("127.0.0.1:{port}"),
        database: format!("sqlite://{}", dir.path().join("helpdesk.db").display()),
        company: "Contoso".into(),
        verity: VerityConfig {
            url: Url::parse(&verity.app.url).unwrap(),
            client_id,
            client_secret: Secret::new(client_secret),
            scope: DEFAULT_SCOPE.into(),
            admin_token: Some(Secret::new(verity.app.admin_token.clone())),
            timeout_ms: 10_000,
        },
        directory: DirectoryConfig::Ldap(slapd::demo_directory_config(ldap.url())),
        issuance: IssuanceSettings {
            authority: verity.authority.clone(),
            contract: contract.clone(),
            credential_type: "VerifiedEmployee".into(),
            pin_length: 4,
        },
        verification: VerificationSettings::default(),
        actions: ActionSettings::default(),
        webhook: Some(WebhookConfig::new(
            webhook.url(),
            Secret::new(WEBHOOK_SECRET),
        )),
        oidc: None,
        callbacks: true,
        session_minutes: 60,
    };
    adjust(&mut settings);
    settings.validate().unwrap();
    let hd = startup::build(settings, Arc::new(verity.app.clock.clone()))
        .await
        .unwrap();
    tokio::spawn(startup::serve(hd.clone(), listener).unwrap());
    Some(Env {
        verity,
        matcher,
        ldap,
        hd,
        url: format!("http://127.0.0.1:{port}"),
        webhook,
        contract,
        _dir: dir,
    })
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("helpdesk");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Env {
    fn wallet(&self) -> &Wallet {
        &self.verity.wallet
    }

    /// A card for `upn` issued the way the portal does it, received by the wallet.
    async fn card_for(&self, upn: &str) -> String {
        let id = self.hd.start_issuance("test-session", upn).await.unwrap();
        let r = self.hd.store.request(&id).await.unwrap().unwrap();
        self.wallet()
            .receive(
                &r.url,
                ReceiveOptions {
                    pin: r.pin.clone(),
                    ..ReceiveOptions::default()
                },
            )
            .await
            .unwrap()
            .jwt
    }

    /// Presents `vc` to the request behind `url`; with a face check, uploads the selfie.
    /// Returns Verity's answer to the last step (status, body).
    async fn present(&self, url: &str, vc: &str) -> (u16, Value) {
        match self
            .wallet()
            .present_with(url, &presenting(vec![vc.to_owned()]))
            .await
        {
            Ok(presented) if presented.face_check_upload().is_some() => self
                .wallet()
                .upload_selfie(&presented, &selfie())
                .await
                .unwrap(),
            Ok(presented) => (presented.status, presented.body),
            Err(e) => (400, json!({ "error": e.to_string() })),
        }
    }

    /// The tickets received so far whose `outcome` is `outcome`, each with a checked signature.
    async fn tickets(&self, n: usize) -> Vec<Value> {
        let calls = self.webhook.wait_for(n).await;
        calls.iter().map(|c| checked_ticket(self, c)).collect()
    }

    async fn wait_ticket(&self, outcome: &str, kind: &str) -> Value {
        for _ in 0..200 {
            if let Some(t) = self
                .webhook
                .calls()
                .iter()
                .map(|c| checked_ticket(self, c))
                .find(|t| t["outcome"] == outcome && t["kind"] == kind)
            {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no {kind} ticket with outcome {outcome}; got {:?}",
            self.webhook
                .calls()
                .iter()
                .map(|c| c.body.clone())
                .collect::<Vec<_>>()
        );
    }
}

/// Checks a received ticket's signature and that it carries no photo, pass or password.
fn checked_ticket(env: &Env, c: &RecordedCallback) -> Value {
    let header = c
        .headers
        .get("x-verity-signature")
        .expect("every ticket is signed");
    verify_signature(
        WEBHOOK_SECRET.as_bytes(),
        header,
        &c.raw,
        env.verity.app.clock.now(),
        // The tests move the clock by minutes; freshness has its own tests in the webhook suite.
        std::time::Duration::from_secs(86_400),
    )
    .unwrap_or_else(|e| panic!("ticket signature: {e}: {}", c.body));
    let text = String::from_utf8_lossy(&c.raw);
    for forbidden in [
        "photo",
        "jpegPhoto",
        "/9j/",
        "temporaryAccessPass",
        "password\"",
    ] {
        assert!(
            !text.contains(forbidden),
            "a ticket carries {forbidden}: {text}"
        );
    }
    c.body.clone()
}

// ------------------------------------------------------------------ the browser, end to end

#[tokio::test]
async fn the_whole_helpdesk_in_a_browser() {
    let Some(browser_path) = chromium() else {
        return;
    };
    let Some(e) = env().await else { return };
    let shots = shots_dir();
    let mut b = Browser::launch(&browser_path).await;

    // 1. The employee signs in to the portal and sees their profile and photo.
    b.goto(&format!("{}/", e.url)).await;
    b.screenshot(&shots.join("01-home.png")).await;
    b.goto(&format!("{}/portal", e.url)).await;
    b.fill("#username", "megan").await;
    b.fill("#password", slapd::DEMO_MEGAN_PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_status("signed-in").await;
    assert_eq!(b.text("#display-name").await, "Megan Bowen");
    assert!(b.html().await.contains("src=\"/portal/photo\""));
    b.screenshot(&shots.join("02-portal-profile.png")).await;

    // 2. "Get my Verified Employee card": QR, deep link and PIN; the wallet takes the card.
    b.click("#get-card").await;
    b.wait_status("waiting").await;
    let url = b.text("#request-url").await;
    let pin = b.text("#pin").await;
    assert!(url.starts_with("openid-vc://"), "{url}");
    assert_eq!(pin.len(), 4);
    b.screenshot(&shots.join("03-portal-card-qr.png")).await;
    let card = e
        .wallet()
        .receive(
            &url,
            ReceiveOptions {
                pin: Some(pin),
                ..ReceiveOptions::default()
            },
        )
        .await
        .unwrap();
    b.wait_status("issued").await;
    b.screenshot(&shots.join("04-portal-card-issued.png")).await;
    let claims: Value = verity_jose::UnverifiedJws::parse(&card.jwt)
        .unwrap()
        .payload_unverified()
        .unwrap();
    let subject = &claims["vc"]["credentialSubject"];
    assert_eq!(subject["revocationId"], "megan@contoso.example");
    assert_eq!(subject["jobTitle"], "Marketing Manager");
    assert!(subject["photo"].as_str().is_some_and(|p| p.len() > 100));

    // 3. The helpdesk: "Get verified", the wallet presents, the selfie matches.
    b.new_context().await;
    b.goto(&format!("{}/helpdesk", e.url)).await;
    b.screenshot(&shots.join("05-helpdesk.png")).await;
    b.click("#get-verified").await;
    b.wait_status("waiting").await;
    let url = b.text("#request-url").await;
    b.screenshot(&shots.join("06-helpdesk-qr.png")).await;
    let (status, body) = e.present(&url, &card.jwt).await;
    assert_eq!(status, 200, "{body}");
    b.wait_status("verified").await;
    assert_eq!(b.text("#verified-name").await, "Megan Bowen");
    assert_eq!(b.text("#verified-title").await, "Marketing Manager");
    assert_eq!(b.text("#verified-issuer").await, e.verity.authority);
    assert!(
        b.text("#verified-domain")
            .await
            .starts_with("http://localhost:")
    );
    assert_eq!(b.text("#face-score").await, "91 / 100");
    b.screenshot(&shots.join("07-helpdesk-verified.png")).await;
    assert_eq!(e.matcher.calls(), 1);

    // 4. A temporary access pass, shown once.
    b.click("#action-access-pass").await;
    b.wait_status("performed").await;
    let pass = b.text("#access-pass").await;
    assert_eq!(pass.chars().count(), 16);
    b.screenshot(&shots.join("08-access-pass.png")).await;

    // 5. The service desk got signed tickets: the verification and the action, without the
    //    pass or the photo.
    let verified = e.wait_ticket("verified", "verification").await;
    assert_eq!(
        verified["person"]["userPrincipalName"],
        "megan@contoso.example"
    );
    assert_eq!(verified["faceMatchScore"], 91);
    assert_eq!(verified["issuer"], e.verity.authority.as_str());
    assert_eq!(verified["linkedDomain"]["verified"], true);
    let performed = e.wait_ticket("performed", "action").await;
    assert_eq!(performed["action"], "issue a temporary access pass");
    assert_eq!(performed["person"]["displayName"], "Megan Bowen");
    for c in e.webhook.calls() {
        assert!(!String::from_utf8_lossy(&c.raw).contains(&pass));
    }
    // And the audit log has both, without the pass.
    let audit = e.hd.store.audit(50).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "issue a temporary access pass")
        .unwrap();
    assert_eq!(entry.outcome, "performed");
    assert_eq!(entry.subject.as_deref(), Some("megan@contoso.example"));
    assert!(
        audit
            .iter()
            .any(|a| a.action == "verification" && a.outcome == "verified")
    );
    assert!(audit.iter().all(|a| !format!("{a:?}").contains(&pass)));

    // 6. The pass signs Megan in to the portal once, which then asks for a new password.
    b.new_context().await;
    b.goto(&format!("{}/portal", e.url)).await;
    b.fill("#username", "megan@contoso.example").await;
    b.fill("#password", &pass).await;
    b.click("#sign-in").await;
    b.wait_status("signed-in").await;
    b.screenshot(&shots.join("09-portal-after-pass.png")).await;
    b.fill("#new_password", "a brand new passphrase").await;
    b.fill("#confirm", "a brand new passphrase").await;
    b.click("#set-password").await;
    b.wait_status("signed-in").await;
    let megan =
        e.hd.directory
            .find(&EmployeeKey::Uid("megan".into()))
            .await
            .unwrap();
    e.hd.directory
        .authenticate(
            &EmployeeKey::Uid("megan".into()),
            &Secret::new("a brand new passphrase"),
        )
        .await
        .unwrap_or_else(|err| panic!("the new password of {}: {err}", megan.id));
    // A once-only pass does not sign in twice.
    b.new_context().await;
    b.goto(&format!("{}/portal", e.url)).await;
    b.fill("#username", "megan@contoso.example").await;
    b.fill("#password", &pass).await;
    b.click("#sign-in").await;
    assert_eq!(b.status().await, "error");
    assert!(b.text("#reason").await.contains("wrong"));
    b.close().await;
    let _ = e.tickets(2).await;
}

/// Starts a verification in the browser and returns the request's wallet URL.
async fn get_verified(b: &mut Browser, e: &Env) -> String {
    b.new_context().await;
    b.goto(&format!("{}/helpdesk", e.url)).await;
    b.click("#get-verified").await;
    b.wait_status("waiting").await;
    b.text("#request-url").await
}

#[tokio::test]
async fn refusals_are_shown_with_their_reason_and_ticketed() {
    let Some(browser_path) = chromium() else {
        return;
    };
    let Some(e) = env().await else { return };
    let shots = shots_dir();
    let mut b = Browser::launch(&browser_path).await;
    let card = e.card_for("alex@contoso.example").await;

    // Actions before any verification: refused, visibly, with a ticket.
    let url = get_verified(&mut b, &e).await;
    b.click("#action-access-pass").await;
    assert_eq!(b.status().await, "error");
    assert!(b.text("#reason").await.contains("not been verified"));
    b.screenshot(&shots.join("10-refused-not-verified.png"))
        .await;
    let denied = e.wait_ticket("denied", "action").await;
    assert_eq!(denied["reason"], "the caller has not been verified");

    // A face that does not match the card's photo.
    e.matcher.set_score(40);
    b.goto(&format!("{}/helpdesk", e.url)).await;
    b.click("#get-verified").await;
    b.wait_status("waiting").await;
    let url2 = b.text("#request-url").await;
    assert_ne!(url, url2);
    let (status, _) = e.present(&url2, &card).await;
    assert_eq!(status, 400);
    b.wait_status("refused").await;
    let reason = b.text("#reason").await;
    assert!(reason.contains("PRES-051"), "{reason}");
    b.screenshot(&shots.join("11-refused-face-mismatch.png"))
        .await;
    let refused = e.wait_ticket("refused", "verification").await;
    assert!(refused["reason"].as_str().unwrap().contains("PRES-051"));

    // The same request may still be answered: now the face matches.
    e.matcher.set_score(88);
    let (status, body) = e.present(&url2, &card).await;
    assert_eq!(status, 200, "{body}");
    b.wait_status("verified").await;

    // An action after the window: refused, visibly, with a ticket.
    e.verity.app.clock.advance(Duration::minutes(11));
    b.click("#action-access-pass").await;
    assert_eq!(b.status().await, "error");
    assert!(b.text("#reason").await.contains("older than 10 minutes"));
    b.screenshot(&shots.join("12-refused-window.png")).await;
    let late = e
        .webhook
        .wait_for(4)
        .await
        .iter()
        .map(|c| checked_ticket(&e, c))
        .filter(|t| t["outcome"] == "denied")
        .count();
    assert_eq!(late, 2, "both denials are ticketed");

    // A card from an issuer the helpdesk does not accept.
    let other = create_authority(
        &e.verity.app,
        "Fabrikam",
        "tenants/fabrikam",
        Algorithm::EdDSA,
    )
    .await;
    let other_contract = e
        .verity
        .create_contract(example_contract("verified-employee-hint", &other))
        .await;
    let mut body = e.verity.request_body(&other_contract);
    body["authority"] = json!(other);
    body["claims"] = json!({
        "displayName": "Alex Wilber", "revocationId": "alex@contoso.example",
        "mail": "alex@contoso.example", "photo": SELFIE,
    });
    let foreign_url = e.verity.request_url(&body).await;
    let foreign = e
        .wallet()
        .receive(&foreign_url, ReceiveOptions::default())
        .await
        .unwrap()
        .jwt;
    let url3 = get_verified(&mut b, &e).await;
    let (status, _) = e.present(&url3, &foreign).await;
    assert_eq!(status, 400);
    b.wait_status("refused").await;
    let reason = b.text("#reason").await;
    assert!(
        reason.contains("issuer") || reason.contains("PRES-03"),
        "{reason}"
    );
    b.screenshot(&shots.join("13-refused-issuer.png")).await;

    // A revoked card (the employee left: the directory sync revoked it).
    let (status, body) = e
        .verity
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "contract": e.contract, "claim": "alex@contoso.example" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let url4 = get_verified(&mut b, &e).await;
    let (status, _) = e.present(&url4, &card).await;
    assert_eq!(status, 400);
    b.wait_status("refused").await;
    let reason = b.text("#reason").await;
    assert!(reason.contains("PRES-043"), "{reason}");
    b.screenshot(&shots.join("14-refused-revoked.png")).await;
    b.close().await;

    let refusals = e
        .webhook
        .calls()
        .iter()
        .map(|c| checked_ticket(&e, c))
        .filter(|t| t["outcome"] == "refused")
        .count();
    assert!(
        refusals >= 3,
        "face, issuer and revocation refusals are ticketed"
    );
}

// ------------------------------------------------------------------ without a browser

#[tokio::test]
async fn leavers_get_no_card_and_sync_revokes_theirs() {
    let Some(e) = env().await else { return };
    let card = e.card_for("megan@contoso.example").await;
    // Adele has left: the portal issues her nothing.
    let err =
        e.hd.start_issuance("s", "adele@contoso.example")
            .await
            .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");

    // Without the admin token, sync says which setting it needs.
    let mut without = (*e.hd.settings).clone();
    without.verity.admin_token = None;
    let hd = startup::build(without, Arc::new(e.verity.app.clock.clone()))
        .await
        .unwrap();
    let err = hd.revoke_leavers().await.unwrap_err().to_string();
    assert!(err.contains("verity.admin_token"), "{err}");

    // Nothing to revoke yet (Adele never had a card).
    assert_eq!(e.hd.revoke_leavers().await.unwrap(), (1, 0));
    // Megan leaves: the directory marks her disabled, and sync revokes her card.
    disable(&e.ldap, "megan").await;
    assert_eq!(e.hd.revoke_leavers().await.unwrap(), (2, 1));
    let (status, found) = e
        .verity
        .app
        .admin(
            Method::GET,
            &format!(
                "/credentials?contract={}&claim=megan%40contoso.example",
                e.contract
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found[0]["status"], "REVOKED", "{found}");

    // A verification of her card is refused by Verity (revoked).
    let id = e.hd.start_verification("s").await.unwrap();
    let r = e.hd.store.request(&id).await.unwrap().unwrap();
    let (status, body) = e.present(&r.url, &card).await;
    assert_eq!(status, 400, "{body}");
    let r = e.hd.refresh(&id, Duration::zero()).await.unwrap().unwrap();
    assert_eq!(r.status, "refused");
    assert!(r.reason.unwrap().contains("PRES-043"));
}

/// GETs a page as a new browser: (its session cookie, its CSRF token).
async fn open_page(http: &reqwest::Client, url: &str) -> (String, String) {
    let page = http.get(url).send().await.unwrap();
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

/// The `name=value` part of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Signs Alex in to the portal as a new browser would: (the cookie before, the cookie after).
async fn sign_in_alex(http: &reqwest::Client, base: &str) -> (String, String) {
    let (before, csrf) = open_page(http, &format!("{base}/portal")).await;
    let before = cookie_pair(&before);
    let answer = http
        .post(format!("{base}/portal/sign-in"))
        .header("cookie", &before)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "alex"),
            ("password", slapd::DEMO_ALEX_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let after = cookie_pair(
        answer
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap(),
    );
    (before, after)
}

/// What an administrator does when someone leaves: `employeeType: disabled` on their entry.
async fn disable(ldap: &LocalSlapd, uid: &str) {
    let (conn, mut ldap3) = ldap3::LdapConnAsync::new(ldap.url()).await.unwrap();
    ldap3::drive!(conn);
    ldap3
        .simple_bind(ldap.root_dn(), ROOT_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap3
        .modify(
            &format!("uid={uid},{}", slapd::DEMO_PEOPLE_DN),
            vec![ldap3::Mod::Add(
                "employeeType",
                std::collections::HashSet::from(["disabled"]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let _ = ldap3.unbind().await;
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_cookies_are_locked_down() {
    let Some(e) = env().await else { return };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/helpdesk", e.url))
        .send()
        .await
        .unwrap();
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    let csp = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();

    // Without the token, with a wrong one, without the cookie: refused, nothing created.
    for (cookie, token) in [
        (Some(session.as_str()), ""),
        (Some(session.as_str()), "forged"),
        (None, csrf.as_str()),
    ] {
        let mut req = http
            .post(format!("{}/helpdesk/verify", e.url))
            .form(&[("csrf", token)]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status(), 403);
        let text = answer.text().await.unwrap();
        assert!(text.contains("CSRF") || text.contains("session"), "{text}");
    }
    // With both: a verification starts.
    let answer = http
        .post(format!("{}/helpdesk/verify", e.url))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with("/helpdesk/requests/"));

    // Another browser (no cookie, or its own) cannot see it or act on it.
    let theirs = http
        .get(format!("{}{location}", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    let ours = http
        .get(format!("{}{location}", e.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 200);

    // Signing in gives the browser a new session id: the one known before is worthless after.
    let (before, after) = sign_in_alex(&http, &e.url).await;
    assert_ne!(before, after);
    let signed_in = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/portal", e.url);
        async move {
            let html = http
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            html.contains("data-status=\"signed-in\"")
        }
    };
    assert!(signed_in(after).await);
    assert!(!signed_in(before).await);

    // With https, cookies are Secure.
    let secure =
        env_with(|s| s.public_url = Url::parse("https://helpdesk.contoso.example").unwrap())
            .await
            .unwrap();
    let page = http
        .get(format!("{}/portal", secure.url))
        .send()
        .await
        .unwrap();
    let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_callback_without_its_key_changes_nothing() {
    let Some(e) = env().await else { return };
    let card = e.card_for("megan@contoso.example").await;
    let id = e.hd.start_verification("s").await.unwrap();
    let http = reqwest::Client::new();
    for key in [None, Some("guessed")] {
        let mut req = http
            .post(format!("{}/callbacks/verity", e.url))
            .json(&json!({ "requestId": id, "requestStatus": "presentation_verified" }));
        if let Some(k) = key {
            req = req.header("api-key", k);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    let r = e.hd.store.request(&id).await.unwrap().unwrap();
    assert_eq!(r.status, "waiting");
    // Verity's own callback (with the request's key) moves it, from what Verity reports.
    let (status, _) = e.present(&r.url, &card).await;
    assert_eq!(status, 200);
    for _ in 0..200 {
        let r = e.hd.store.request(&id).await.unwrap().unwrap();
        if r.status == "verified" {
            assert_eq!(
                r.result.unwrap().user_principal_name,
                "megan@contoso.example"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("Verity's callback did not lead to the verdict");
}

/// Test double: the real directory, except that every call fails as unreachable while `down`.
struct FlakyDirectory {
    inner: Arc<dyn Directory>,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyDirectory {
    fn check(&self) -> Result<(), DirectoryError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(DirectoryError::Unreachable {
                backend: "LDAP",
                url: "ldap://127.0.0.1".into(),
                reason: "connection refused (test double)".into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Directory for FlakyDirectory {
    async fn find(&self, key: &EmployeeKey) -> Result<Employee, DirectoryError> {
        self.check()?;
        self.inner.find(key).await
    }
    async fn authenticate(
        &self,
        key: &EmployeeKey,
        password: &Secret,
    ) -> Result<Employee, DirectoryError> {
        self.check()?;
        self.inner.authenticate(key, password).await
    }
    async fn photo(&self, id: &EmployeeId) -> Result<Option<Vec<u8>>, DirectoryError> {
        self.check()?;
        self.inner.photo(id).await
    }
    async fn disabled(&self) -> Result<Vec<Employee>, DirectoryError> {
        self.check()?;
        self.inner.disabled().await
    }
    async fn perform(
        &self,
        id: &EmployeeId,
        action: &Action,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ActionOutcome, DirectoryError> {
        self.check()?;
        self.inner.perform(id, action, now).await
    }
}

#[tokio::test]
async fn a_directory_outage_postpones_the_verdict_and_an_answer_before_expiry_still_counts() {
    let Some(e) = env_with(|s| s.callbacks = false).await else {
        return;
    };
    let card = e.card_for("megan@contoso.example").await;
    let flaky = Arc::new(FlakyDirectory {
        inner: e.hd.directory.clone(),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let mut hd = e.hd.clone();
    hd.directory = flaky.clone();

    let id = hd.start_verification("s").await.unwrap();
    let r = hd.store.request(&id).await.unwrap().unwrap();
    let (status, body) = e.present(&r.url, &card).await;
    assert_eq!(status, 200, "{body}");
    // The request's five minutes pass before the helpdesk looks, and the directory is down.
    e.verity.app.clock.advance(Duration::minutes(6));
    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = hd.refresh(&id, Duration::zero()).await.unwrap_err();
    assert!(err.to_string().contains("connection refused"), "{err}");
    let r = hd.store.request(&id).await.unwrap().unwrap();
    assert!(!r.is_final, "an outage decides nothing: {}", r.status);
    // Back up: the answer Verity verified in time counts.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = hd.refresh(&id, Duration::zero()).await.unwrap().unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);

    // An unanswered request does expire.
    let id = hd.start_verification("s").await.unwrap();
    e.verity.app.clock.advance(Duration::minutes(6));
    let r = hd.refresh(&id, Duration::zero()).await.unwrap().unwrap();
    assert_eq!(r.status, "expired");
    assert!(r.reason.unwrap().contains("expired"));
}

/// A stand-in OpenID Connect provider that approves every sign-in as `upn`: discovery, JWKS,
/// an authorization endpoint that redirects straight back with a code, and a token endpoint
/// that checks the code, the redirect URI and PKCE before signing an ES256 id_token.
struct LoginProvider {
    issuer: String,
    upn: Arc<std::sync::Mutex<String>>,
}

struct Grant {
    nonce: String,
    redirect_uri: String,
    challenge: String,
}

impl LoginProvider {
    const CLIENT_ID: &'static str = "helpdesk-portal";
    const SECRET: &'static str = "portal-client-secret";

    async fn start(clock: verity_core::ManualClock) -> Self {
        use std::collections::HashMap;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let key = Arc::new(verity_jose::SigningKey::generate(Algorithm::ES256).unwrap());
        let upn = Arc::new(std::sync::Mutex::new("megan@contoso.example".to_owned()));
        let grants: Arc<std::sync::Mutex<HashMap<String, Grant>>> = Arc::default();
        let (iss, who) = (issuer.clone(), upn.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (iss, who, grants, clock) =
                    (iss.clone(), who.clone(), grants.clone(), clock.clone());
                let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
                jwk["kid"] = json!("k1");
                let key = key.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let params = |text: &str| -> HashMap<String, String> {
                        url::form_urlencoded::parse(text.as_bytes())
                            .into_owned()
                            .collect()
                    };
                    let (status, extra, body) = match path {
                        "/.well-known/openid-configuration" => ("200 OK", String::new(), json!({
                            "issuer": iss, "authorization_endpoint": format!("{iss}/authorize"),
                            "token_endpoint": format!("{iss}/token"), "jwks_uri": format!("{iss}/keys"),
                            "response_types_supported": ["code"], "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["ES256"],
                            "code_challenge_methods_supported": ["S256"],
                            "token_endpoint_auth_methods_supported": ["client_secret_post"],
                        }).to_string()),
                        "/keys" => ("200 OK", String::new(), json!({ "keys": [jwk] }).to_string()),
                        "/authorize" => {
                            let q = params(query);
                            assert_eq!(q["client_id"], Self::CLIENT_ID);
                            assert_eq!(q["code_challenge_method"], "S256");
                            let code = format!("code-{}", grants.lock().unwrap().len());
                            grants.lock().unwrap().insert(code.clone(), Grant {
                                nonce: q["nonce"].clone(),
                                redirect_uri: q["redirect_uri"].clone(),
                                challenge: q["code_challenge"].clone(),
                            });
                            let back = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
                            ("302 Found", format!("location: {back}\r\n"), String::new())
                        }
                        "/token" => {
                            let f = params(&String::from_utf8_lossy(&buf[head_end..]));
                            let grant = grants.lock().unwrap().remove(f.get("code").map(String::as_str).unwrap_or(""));
                            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                                .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
                            match grant {
                                Some(g) if g.challenge == challenge
                                    && f.get("redirect_uri") == Some(&g.redirect_uri)
                                    && f.get("client_secret").map(String::as_str) == Some(Self::SECRET) =>
                                {
                                    let now = clock.now().timestamp();
                                    let id_token = verity_tests::issuance::sign_token(&key, "k1", &json!({
                                        "iss": iss, "sub": "entra-object-id-1", "aud": Self::CLIENT_ID,
                                        "iat": now, "exp": now + 600, "nonce": g.nonce,
                                        "preferred_username": who.lock().unwrap().clone(),
                                    }));
                                    ("200 OK", String::new(), json!({ "id_token": id_token, "token_type": "Bearer" }).to_string())
                                }
                                _ => ("400 Bad Request", String::new(), json!({ "error": "invalid_grant" }).to_string()),
                            }
                        }
                        _ => ("404 Not Found", String::new(), "{}".to_owned()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { issuer, upn }
    }
}

#[tokio::test]
async fn employees_sign_in_to_the_portal_with_openid_connect() {
    // The helpdesk's clock starts at the test epoch too (and is not moved here).
    let provider =
        LoginProvider::start(verity_core::ManualClock::new(verity_tests::test_epoch())).await;
    let issuer = provider.issuer.clone();
    let Some(e) = env_with(|s| {
        s.oidc = Some(
            serde_json::from_value(json!({
                "issuer": issuer, "client_id": LoginProvider::CLIENT_ID,
                "client_secret": LoginProvider::SECRET,
            }))
            .unwrap(),
        )
    })
    .await
    else {
        return;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    // One sign-in through the provider: returns the callback URL it sends the browser to.
    let sign_in = |cookie: String| {
        let (http, url) = (http.clone(), e.url.clone());
        async move {
            let start = http
                .get(format!("{url}/portal/oidc"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(start.status(), 303);
            let authorize = start
                .headers()
                .get("location")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let back = http.get(&authorize).send().await.unwrap();
            assert_eq!(back.status(), 302);
            back.headers()
                .get("location")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        }
    };

    let page = http.get(format!("{}/portal", e.url)).send().await.unwrap();
    let cookie = cookie_pair(page.headers().get("set-cookie").unwrap().to_str().unwrap());
    assert!(page.text().await.unwrap().contains("id=\"sign-in-oidc\""));
    let callback = sign_in(cookie.clone()).await;
    assert!(
        callback.starts_with(&format!("{}/portal/oidc/callback?code=", e.url)),
        "{callback}"
    );
    let done = http
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert_eq!(location(&done), "/portal");
    let signed_in = cookie_pair(done.headers().get("set-cookie").unwrap().to_str().unwrap());
    let html = http
        .get(format!("{}/portal", e.url))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"display-name\">Megan Bowen<"), "{html}");

    // The same answer again: the pending sign-in was used.
    let again = http
        .get(&callback)
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("no sign-in was started")
    );

    // A forged state is refused by its check, and the pending sign-in is spent.
    let page = http.get(format!("{}/portal", e.url)).send().await.unwrap();
    let cookie = cookie_pair(page.headers().get("set-cookie").unwrap().to_str().unwrap());
    let callback = sign_in(cookie.clone()).await;
    let forged = format!("{}forged", callback);
    let refused = http
        .get(&forged)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("state"));

    // Someone the provider knows but the directory does not, and a leaver: refused.
    for (upn, why) in [
        ("stranger@contoso.example", "not an employee"),
        ("adele@contoso.example", "disabled"),
    ] {
        *provider.upn.lock().unwrap() = upn.to_owned();
        let page = http.get(format!("{}/portal", e.url)).send().await.unwrap();
        let cookie = cookie_pair(page.headers().get("set-cookie").unwrap().to_str().unwrap());
        let callback = sign_in(cookie.clone()).await;
        let refused = http
            .get(&callback)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        let text = refused.text().await.unwrap();
        assert!(text.contains(why), "{upn}: {text}");
    }
}

#[tokio::test]
async fn a_directory_outage_is_shown_without_its_internals() {
    let Some(e) = env().await else { return };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (_, signed_in) = sign_in_alex(&http, &e.url).await;
    // The directory goes away.
    let port = e.ldap.port();
    let ldap = e.ldap;
    drop(ldap);
    let page = http
        .get(format!("{}/portal", e.url))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 502);
    let text = page.text().await.unwrap();
    assert!(text.contains("could not be reached"), "{text}");
    assert!(
        !text.contains(&port.to_string()),
        "the directory's address leaked: {text}"
    );
    assert!(
        !text.contains("cn=helpdesk"),
        "the service account leaked: {text}"
    );
}
