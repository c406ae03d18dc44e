//! Private PKI end to end: Verity served over HTTPS with a certificate of an internal CA, and
//! `[tls] trust_anchors` naming that CA, resolves its own did:web through the hardened fetcher,
//! delivers callbacks to an HTTPS receiver signed by the same CA, and is used by the admin CLI
//! (`--ca-cert`) and the reference wallet (issuance and presentation). Without the anchor each
//! of them fails naming the certificate cause. And `[resolver] allow_loopback` opens only the
//! service's own origin: a DID on another local port is refused before connecting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use verity_server::config::TlsConfig;
use verity_tests::issuance::{IssuanceEnv, env_for_app, example_contract};
use verity_tests::presentation::{EXPERT, new_presentation, presentation_body, requested};
use verity_tests::{
    Backend, TestApp, both_backends, enc, output_text, run_admin_cli, run_cli, send, start,
    test_config,
};
use verity_wallet::{Algorithm, DidMethod, Wallet, WalletConfig};

/// A test CA, a server certificate it signed for `localhost` and `127.0.0.1`, and the same
/// files on disk.
struct TestPki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    dir: tempfile::TempDir,
}

impl TestPki {
    fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

fn test_pki() -> TestPki {
    test_pki_with(&["localhost", "127.0.0.1"], false)
}

/// A test CA and a server certificate for `names`, expired when `expired`.
fn test_pki_with(names: &[&str], expired: bool) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Verity private PKI test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server_params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        server_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        server_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    let pki = TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: server_cert.pem(),
        key_pem: server_key.serialize_pem(),
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::write(pki.ca_path(), &pki.ca_pem).unwrap();
    pki
}

/// Verity over https (certificate of the test CA) on `backend`; with `anchor`, `[tls]
/// trust_anchors` names the CA. Its own origin may be fetched on loopback, callbacks may go to
/// loopback receivers (https only).
async fn tls_app(backend: Backend, pki: &TestPki, anchor: bool) -> Option<TestApp> {
    let db = Arc::new(verity_store::testing::fresh_database(backend).await?);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &pki.cert_pem).unwrap();
    std::fs::write(&key_path, &pki.key_pem).unwrap();
    let mut config = test_config(&db.url, dir.path());
    config.server.tls = Some(TlsConfig {
        cert_path,
        key_path,
    });
    config.resolver.allow_loopback = true;
    config.callbacks.allow_loopback = true;
    config.callbacks.initial_backoff_ms = 500;
    if anchor {
        config.tls.trust_anchors = vec![pki.ca_path()];
    }
    let mut app = start(config, db, dir)
        .await
        .expect("the application starts");
    // The test's own client speaks https and trusts the CA.
    app.url = format!("https://localhost:{}", app.port);
    app.http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    Some(app)
}

/// An HTTPS callback receiver with a certificate of the test CA; records the JSON bodies.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(pki: &TestPki) -> Receiver {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let certs = rustls_pemfile::certs(&mut pki.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut pki.key_pem.as_bytes())
            .unwrap()
            .unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let recorded = bodies.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let recorded = recorded.clone();
            App::new().route(
                "/cb",
                web::post().to(move |body: web::Json<Value>| {
                    let recorded = recorded.clone();
                    async move {
                        recorded.lock().unwrap().push(body.into_inner());
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("https://localhost:{port}/cb"),
            bodies,
            _server: handle,
        }
    }

    /// Waits until a callback with `status` arrived for `request_id`.
    async fn wait_for(&self, request_id: &str, status: &str) -> Value {
        for _ in 0..100 {
            let found = self
                .bodies
                .lock()
                .unwrap()
                .iter()
                .find(|b| b["requestId"] == request_id && b["requestStatus"] == status)
                .cloned();
            if let Some(b) = found {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {status} callback for {request_id}: {:?}",
            self.bodies.lock().unwrap()
        );
    }
}

/// A wallet on the app's clock for a server on this machine; `ca` adds the test CA.
fn wallet(app: &TestApp, ca: Option<&str>) -> (Wallet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // https only (did:web documents too), loopback addresses allowed: the server is local.
    let mut config = WalletConfig::default().with_clock(Arc::new(app.clock.clone()));
    config.fetch_policy.allow_loopback = true;
    if let Some(pem) = ca {
        config = config.with_ca_pem(pem.as_bytes()).unwrap();
    }
    let wallet =
        Wallet::create_with_config(dir.path(), Algorithm::EdDSA, DidMethod::Jwk, config).unwrap();
    (wallet, dir)
}

/// Runs the `verity` binary in an empty directory against `app`.
async fn verity(app: &TestApp, args: &[&str], env: &[(&str, &Path)]) -> Output {
    run_admin_cli(Path::new(env!("CARGO_BIN_EXE_verity")), app, args, env).await
}

fn text(out: &Output) -> String {
    output_text(out)
}

const UNKNOWN_ISSUER: &str = "unknown issuer";

both_backends!(
    wallet_cli_with_ca_cert_receives_and_presents,
    private_ca_works_end_to_end_with_the_trust_anchor,
    without_the_trust_anchor_every_client_names_the_certificate_cause,
    loopback_is_open_only_for_the_own_origin,
);

async fn private_ca_works_end_to_end_with_the_trust_anchor(backend: Backend) {
    let pki = test_pki();
    let Some(app) = tls_app(backend, &pki, true).await else {
        return;
    };
    let did = app.first_did();

    // The server resolves its own did:web over https through the fetcher (uncached, live).
    let (status, doc) = app
        .admin(reqwest::Method::GET, &format!("/dids/{}", enc(&did)), None)
        .await;
    assert_eq!(status, 200, "{doc}");
    let doc = if doc.get("didDocument").is_some() {
        doc["didDocument"].clone()
    } else {
        doc
    };
    assert_eq!(doc["id"], did, "{doc}");

    // The live domain-linkage check of our own origin (did.json and did-configuration.json
    // fetched over https) verifies.
    let (status, domains) = app
        .admin(
            reqwest::Method::GET,
            &format!("/authorities/{}/domains", enc(&did)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{domains}");
    let d = &domains["domains"][0];
    assert_eq!(
        d["origin"],
        format!("https://localhost:{}", app.port),
        "{d}"
    );
    assert_eq!(d["report"]["verified"], true, "{d}");
    let ca = pki.ca_path();
    let out = verity(
        &app,
        &[
            "authority",
            "domains",
            &did,
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    // The admin CLI with --ca-cert, and with VERITY_CA_CERT.
    let ca_arg = ca.to_str().unwrap();
    let out = verity(&app, &["did", "resolve", &did, "--ca-cert", ca_arg], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&did), "{}", text(&out));
    let out = verity(&app, &["did", "resolve", &did], &[("VERITY_CA_CERT", &ca)]).await;
    assert!(out.status.success(), "{}", text(&out));

    // Issuance and presentation with the reference wallet trusting the CA; callbacks go to an
    // https receiver signed by the same CA.
    let receiver = Receiver::start(&pki).await;
    let mut env: IssuanceEnv = env_for_app(app, Algorithm::EdDSA).await;
    let (w, wallet_dir) = wallet(&env.app, Some(&pki.ca_pem));
    env.wallet = w;
    env.wallet_dir = wallet_dir;
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["callback"]["url"] = json!(receiver.url);
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    let issuance_id = created["requestId"].as_str().unwrap().to_owned();
    let received = env
        .wallet
        .receive(
            created["url"].as_str().unwrap(),
            verity_wallet::ReceiveOptions::default(),
        )
        .await
        .unwrap();
    assert!(!received.jwt.is_empty());
    receiver.wait_for(&issuance_id, "issuance_successful").await;

    let mut body = presentation_body(&env, vec![requested(EXPERT, &[&env.authority])]);
    body["callback"]["url"] = json!(receiver.url);
    let (request_id, url) = new_presentation(&env, &body).await;
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.status, 200, "{:?}", presented.body);
    receiver
        .wait_for(&request_id, "presentation_verified")
        .await;
}

async fn without_the_trust_anchor_every_client_names_the_certificate_cause(backend: Backend) {
    let pki = test_pki();
    let Some(app) = tls_app(backend, &pki, false).await else {
        return;
    };
    let did = app.first_did();

    // The server cannot fetch its own DID document: the answer names the cause.
    let (status, body) = app
        .admin(reqwest::Method::GET, &format!("/dids/{}", enc(&did)), None)
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains(UNKNOWN_ISSUER), "{body}");

    // The live linkage check says why it could not check.
    let (status, domains) = app
        .admin(
            reqwest::Method::GET,
            &format!("/authorities/{}/domains", enc(&did)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{domains}");
    let report = &domains["domains"][0]["report"];
    assert_eq!(report["verified"], false, "{report}");
    assert!(report.to_string().contains(UNKNOWN_ISSUER), "{report}");

    // The CLI without --ca-cert names it too.
    let out = verity(&app, &["did", "resolve", &did], &[]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains(UNKNOWN_ISSUER), "{}", text(&out));
    // An unreadable --ca-cert is named.
    let out = verity(
        &app,
        &["did", "resolve", &did, "--ca-cert", "/nonexistent/ca.pem"],
        &[],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("/nonexistent/ca.pem"), "{}", text(&out));

    // A callback to the https receiver of the same CA fails naming the cause.
    let receiver = Receiver::start(&pki).await;
    let mut env: IssuanceEnv = env_for_app(app, Algorithm::EdDSA).await;
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["callback"]["url"] = json!(receiver.url);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    let request_id = created["requestId"].as_str().unwrap().to_owned();
    let url = created["url"].as_str().unwrap().to_owned();

    // The wallet without the CA cannot reach the server, and says why.
    let (plain, _dir) = wallet(&env.app, None);
    let err = plain
        .receive(&url, verity_wallet::ReceiveOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(UNKNOWN_ISSUER), "{err}");

    // With the CA the wallet gets the request (which queues a `request_retrieved` callback),
    // but the server cannot deliver it.
    let (w, wallet_dir) = wallet(&env.app, Some(&pki.ca_pem));
    env.wallet = w;
    env.wallet_dir = wallet_dir;
    let _ = env
        .wallet
        .receive(&url, verity_wallet::ReceiveOptions::default())
        .await;
    let mut last_error = None;
    for _ in 0..100 {
        last_error = env
            .callbacks_of(&request_id)
            .await
            .into_iter()
            .find_map(|m| m.last_error);
        if last_error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_error = last_error.expect("a failed delivery attempt");
    assert!(last_error.contains(UNKNOWN_ISSUER), "{last_error}");
    assert!(receiver.bodies.lock().unwrap().is_empty());
}

async fn loopback_is_open_only_for_the_own_origin(backend: Backend) {
    let Some(app) =
        verity_tests::spawn_app_with(backend, verity_tests::allow_local_resolution).await
    else {
        return;
    };
    // Our own DID is fetched over loopback.
    let own = app.first_did();
    let (status, body) = app
        .admin(reqwest::Method::GET, &format!("/dids/{}", enc(&own)), None)
        .await;
    assert_eq!(status, 200, "{body}");

    // Another local port, listening or not, is refused before connecting, alike.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut messages = Vec::new();
    for port in [open_port, closed_port] {
        let did = format!("did:web:localhost%3A{port}");
        let (status, body) = app
            .admin(reqwest::Method::GET, &format!("/dids/{}", enc(&did)), None)
            .await;
        assert!(status == 400 || status == 502, "{status} {body}");
        let message = body["error"]["innererror"]["message"]
            .as_str()
            .unwrap_or_default()
            .replace(&port.to_string(), "PORT");
        assert!(
            message.contains("loopback is allowed only for this service's own origins"),
            "{body}"
        );
        messages.push((status, message));
    }
    assert_eq!(messages[0], messages[1], "open and closed ports look alike");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was opened"
    );
    let _ = send(app.http.get(format!("{}/health/live", app.url))).await;
}

/// Runs `verity <args>` (no server options) in `dir`.
async fn verity_plain(dir: &Path, args: &[&str]) -> Output {
    run_cli(
        Path::new(env!("CARGO_BIN_EXE_verity")),
        dir,
        args,
        &[] as &[(&str, &str)],
    )
    .await
}

/// `verity wallet --ca-cert` receives and presents against the https server; without it the
/// wallet names the certificate cause.
async fn wallet_cli_with_ca_cert_receives_and_presents(backend: Backend) {
    let pki = test_pki();
    let Some(app) = tls_app(backend, &pki, true).await else {
        return;
    };
    // The CLI wallet signs with the system clock.
    app.clock
        .set(verity_core::Clock::now(&verity_core::SystemClock));
    let env: IssuanceEnv = env_for_app(app, Algorithm::EdDSA).await;
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let wallet_dir = dir.path().join("w");
    let w = wallet_dir.to_str().unwrap();
    let ca = pki.ca_path();
    let ca = ca.to_str().unwrap();
    let out = verity_plain(dir.path(), &["wallet", "--dir", w, "create"]).await;
    assert!(out.status.success(), "{}", text(&out));

    let mut body = env.request_body(&contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["callback"]["url"] = json!("https://localhost:1/cb");
    let url = env.request_url(&body).await;
    // Without the CA: the cause is named.
    let out = verity_plain(
        dir.path(),
        &["wallet", "--dir", w, "--insecure-local", "receive", &url],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains(UNKNOWN_ISSUER) || text(&out).contains("UnknownIssuer"),
        "{}",
        text(&out)
    );
    let url = env.request_url(&body).await;
    let out = verity_plain(
        dir.path(),
        &[
            "wallet",
            "--dir",
            w,
            "--insecure-local",
            "--ca-cert",
            ca,
            "receive",
            &url,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let mut body = presentation_body(&env, vec![requested(EXPERT, &[&env.authority])]);
    body["callback"]["url"] = json!("https://localhost:1/cb");
    let (_, url) = new_presentation(&env, &body).await;
    let out = verity_plain(
        dir.path(),
        &[
            "wallet",
            "--dir",
            w,
            "--insecure-local",
            "--ca-cert",
            ca,
            "present",
            &url,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
}

/// `verity init --public-url https://host:port` writes a matching bind and `[server.tls]`, or a
/// warning naming what is missing.
#[tokio::test]
async fn init_with_an_https_public_url_writes_bind_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let out = verity_plain(
        dir.path(),
        &[
            "init",
            "--public-url",
            "https://localhost:9443",
            "--tls-cert",
            "/etc/verity/tls.crt",
            "--tls-key",
            "/etc/verity/tls.key",
            "--ca-cert",
            "/etc/verity/ca.pem",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(dir.path().join("verity.toml")).unwrap();
    let config = verity_server::Config::from_toml(&written).unwrap();
    assert_eq!(config.server.bind.to_string(), "127.0.0.1:9443");
    let tls = config.server.tls.expect("[server.tls]");
    assert_eq!(tls.cert_path, PathBuf::from("/etc/verity/tls.crt"));
    assert_eq!(tls.key_path, PathBuf::from("/etc/verity/tls.key"));
    assert_eq!(
        config.tls.trust_anchors,
        vec![PathBuf::from("/etc/verity/ca.pem")]
    );
    // Loopback is opened for the own https origin only; no plain http.
    assert!(config.resolver.allow_loopback);
    assert!(config.resolver.allow_http_hosts.is_empty());

    // No certificate given: no [server.tls], and a warning saying so.
    let dir = tempfile::tempdir().unwrap();
    let out = verity_plain(
        dir.path(),
        &["init", "--public-url", "https://verity.example.org:8443"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no --tls-cert/--tls-key"),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(dir.path().join("verity.toml")).unwrap();
    let config = verity_server::Config::from_toml(&written).unwrap();
    assert_eq!(config.server.bind.to_string(), "0.0.0.0:8443");
    assert!(config.server.tls.is_none());
    assert!(written.contains("# [server.tls]"), "{written}");

    // A certificate for an http URL is refused.
    let dir = tempfile::tempdir().unwrap();
    let out = verity_plain(
        dir.path(),
        &[
            "init",
            "--public-url",
            "http://localhost:8080",
            "--tls-cert",
            "a",
            "--tls-key",
            "b",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("need an https --public-url"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("verity.toml").exists());
}

/// The fetcher's certificate errors say why: unknown issuer, expired, name mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_errors_name_their_cause() {
    let cases = [
        (test_pki(), false, "unknown issuer"),
        (
            test_pki_with(&["localhost"], true),
            true,
            "expired certificate",
        ),
        (test_pki_with(&["other.test"], false), true, "name mismatch"),
    ];
    for (pki, trusted, cause) in cases {
        let receiver = Receiver::start(&pki).await;
        let port = receiver
            .url
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches("/cb");
        let mut policy = verity_did::FetchPolicy {
            loopback_origins: vec![format!("localhost:{port}")],
            ..verity_did::FetchPolicy::default()
        };
        if trusted {
            policy.trust_anchors =
                verity_did::tls::parse_pem_certificates(pki.ca_pem.as_bytes()).unwrap();
        }
        let fetcher = verity_did::HttpFetcher::new(policy).unwrap();
        let err = fetcher.get_json(&receiver.url).await.unwrap_err();
        assert_eq!(err.code(), "FETCH-014", "{err}");
        assert!(err.to_string().contains(cause), "{cause}: {err}");
        assert!(!err.is_transient(), "{err}");
    }
}
