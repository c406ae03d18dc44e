//! End-to-end test harness: [`spawn_app`] starts the real application on port 0 with a fresh
//! database (a temporary SQLite file or a new Postgres database) so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod benches;
pub mod browser;
pub mod interop;
pub mod issuance;
pub mod linkage;
pub mod openid4vp;
pub mod presentation;
pub mod replicas;
pub mod rp;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use verity_core::{ManualClock, Secret};
use verity_did::DidResolver;
use verity_server::startup::{ServerHandle, StateData};
use verity_server::state::AppState;
use verity_server::{Application, Config, Seams};
pub use verity_store::testing::Backend;
use verity_store::testing::{FaultyStore, TestDatabase, fresh_database};

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://localhost:<port>`.
    pub url: String,
    pub port: u16,
    pub admin_token: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub state: StateData,
    pub config: Config,
    /// Keeps the database (and data directory) alive for the test.
    pub db: Arc<TestDatabase>,
    pub data_dir: Arc<tempfile::TempDir>,
    handle: ServerHandle,
}

/// The start time of every test clock.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

/// A fresh KEK in config form.
pub fn new_kek() -> String {
    verity_jose::KeyEncryptionKey::generate().1
}

/// Starts the app on `backend` with default test configuration; `None` when the backend is not
/// available (Postgres without `VERITY_TEST_POSTGRES_URL`).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the configuration first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = Arc::new(fresh_database(backend).await?);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, data_dir.path());
    adjust(&mut config);
    Some(
        start(config, db, data_dir)
            .await
            .expect("the application starts"),
    )
}

/// Like [`spawn_app_with`], with a DID resolver replacing the configured one.
pub async fn spawn_app_with_resolver(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    resolver: Arc<dyn DidResolver>,
) -> Option<TestApp> {
    let db = Arc::new(fresh_database(backend).await?);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, data_dir.path());
    adjust(&mut config);
    Some(
        start_with_resolver(config, db, data_dir, Some(resolver))
            .await
            .expect("the application starts"),
    )
}

/// Lets the app resolve DIDs and fetch DID configurations from `localhost` over plain http
/// (every port), i.e. from itself and other test apps.
pub fn allow_local_resolution(config: &mut Config) {
    config.resolver.allow_loopback = true;
    config.resolver.allow_http_hosts = vec!["localhost".to_owned()];
}

/// The configuration every test starts from.
pub fn test_config(db_url: &str, data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.server.data_dir = data_dir.to_owned();
    config.server.workers = 2;
    config.server.shutdown_timeout_secs = 1;
    config.database.url = db_url.to_owned();
    // Every test client is 127.0.0.1: tests of the limits set them (tests/tests/limits.rs).
    config.limits = verity_server::limits::LimitsConfig::unlimited();
    config.keys.kek = Some(Secret::new(new_kek()));
    config.auth.admin_token = Some(Secret::new(format!(
        "vrt_admin_test_{}",
        uuid::Uuid::new_v4().simple()
    )));
    config
}

/// Starts the app with an explicit configuration on an existing database.
pub async fn start(
    config: Config,
    db: Arc<TestDatabase>,
    data_dir: Arc<tempfile::TempDir>,
) -> Result<TestApp, verity_server::bootstrap::StartupError> {
    start_with_resolver(config, db, data_dir, None).await
}

/// Like [`start`], optionally replacing the DID resolver.
pub async fn start_with_resolver(
    config: Config,
    db: Arc<TestDatabase>,
    data_dir: Arc<tempfile::TempDir>,
    resolver: Option<Arc<dyn DidResolver>>,
) -> Result<TestApp, verity_server::bootstrap::StartupError> {
    start_with_seams(config, db, data_dir, resolver, None, None).await
}

/// Like [`spawn_app_with`], on a store wrapped in the [`FaultyStore`] test double (unarmed):
/// returns the app and the double, whose `inner()` store checks what was really written.
pub async fn spawn_app_with_faults(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
) -> Option<(TestApp, Arc<FaultyStore>)> {
    let db = Arc::new(fresh_database(backend).await?);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, data_dir.path());
    adjust(&mut config);
    let inner = verity_store::connect(&db.url).await.unwrap();
    let faulty = Arc::new(FaultyStore::new(inner));
    let app = start_with_seams(config, db, data_dir, None, Some(faulty.clone()), None)
        .await
        .expect("the application starts");
    Some((app, faulty))
}

/// A fresh app (as [`spawn_app_with`]) whose face checks go to `matcher`.
pub async fn spawn_app_with_face_matcher(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    matcher: Arc<dyn verity_face_match::FaceMatcher>,
) -> Option<TestApp> {
    let db = Arc::new(fresh_database(backend).await?);
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&db.url, data_dir.path());
    adjust(&mut config);
    let app = start_with_seams(config, db, data_dir, None, None, Some(matcher))
        .await
        .expect("the application starts");
    Some(app)
}

/// Like [`start`], optionally replacing the DID resolver, the store (`None`: connect to
/// `database.url`) and the face matcher.
pub async fn start_with_seams(
    config: Config,
    db: Arc<TestDatabase>,
    data_dir: Arc<tempfile::TempDir>,
    resolver: Option<Arc<dyn DidResolver>>,
    store: Option<Arc<dyn verity_store::Store>>,
    face_matcher: Option<Arc<dyn verity_face_match::FaceMatcher>>,
) -> Result<TestApp, verity_server::bootstrap::StartupError> {
    let clock = ManualClock::new(test_epoch());
    let seams = Seams {
        clock: Arc::new(clock.clone()),
        store,
        resolver,
        face_matcher,
    };
    let app = Application::build_with(config.clone(), seams).await?;
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        url: format!("http://localhost:{port}"),
        port,
        admin_token: config
            .auth
            .admin_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Well below the server's keep-alive, so a pooled connection is never reused just
            // as the server closes it (a POST is not retried on such a race).
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap(),
        clock,
        state,
        config,
        db,
        data_dir,
        handle,
    })
}

impl TestApp {
    /// The server's shared state.
    pub fn app_state(&self) -> &AppState {
        &self.state
    }

    /// The authority created on first start.
    pub fn first_did(&self) -> String {
        format!("did:web:localhost%3A{}", self.port)
    }

    /// An admin API call; returns status and JSON body (Null when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.url))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req).await
    }

    /// Creates an API client through the admin API; returns (client_id, secret).
    pub async fn create_client(&self, name: &str, tenant: Option<&str>) -> (String, String) {
        let mut body = serde_json::json!({ "name": name });
        if let Some(t) = tenant {
            body["tenant"] = t.into();
        }
        let (status, v) = self
            .admin(reqwest::Method::POST, "/clients", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        (
            v["clientId"].as_str().unwrap().to_owned(),
            v["clientSecret"].as_str().unwrap().to_owned(),
        )
    }

    /// Requests an access token with client credentials; returns status and body.
    pub async fn token(&self, client_id: &str, secret: &str, scope: Option<&str>) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        send(
            self.http
                .post(format!("{}/oauth2/token", self.url))
                .form(&form),
        )
        .await
    }

    /// GET with an optional bearer token.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        send(req).await
    }

    /// `127.0.0.1:<port>`, the socket address other apps' host overrides point at.
    pub fn socket(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The public key `kid` names, as published in the DID document at `did_json_path`
    /// (`/.well-known/did.json` for the first authority); it must be an assertion key.
    pub async fn published_key(&self, did_json_path: &str, kid: &str) -> verity_jose::Jwk {
        let (status, doc) = self.get(did_json_path, None).await;
        assert_eq!(status, 200, "{doc}");
        let vm = doc["verificationMethod"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vm| vm["id"] == kid)
            .unwrap_or_else(|| panic!("{kid} is not published in {doc}"));
        assert!(
            doc["assertionMethod"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == &vm["id"])
        );
        verity_jose::Jwk::from_json_value(&vm["publicKeyJwk"]).unwrap()
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Runs the command-line `binary` with `args` in `dir`, with `env` set and none of the test's
/// own `VERITY_*` variables passed on (no configuration, server, token, CA or wallet of the
/// environment leaks in); waits for it off the async runtime.
pub async fn run_cli<V: AsRef<std::ffi::OsStr>>(
    binary: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, V)],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(binary);
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VERITY_") {
            cmd.env_remove(key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// [`run_cli`] of an admin command against `app` (`--server`, `--admin-token` added), in a
/// fresh empty directory (so no `verity.toml` is picked up).
pub async fn run_admin_cli<V: AsRef<std::ffi::OsStr>>(
    binary: &std::path::Path,
    app: &TestApp,
    args: &[&str],
    env: &[(&str, V)],
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut all = args.to_vec();
    all.extend(["--server", &app.url, "--admin-token", &app.admin_token]);
    run_cli(binary, dir.path(), &all, env).await
}

/// Everything a command wrote: stdout, then stderr.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Percent-encodes a value for one URL path segment or query value (DIDs contain `%` and `:`).
pub fn enc(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends a request and returns status + JSON body (Null when empty, a string when not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts the API error shape of protocol.md §1 and returns the inner error.
pub fn assert_error_shape(body: &Value, top_code: &str, inner_code: &str) -> Value {
    assert_eq!(body["error"]["code"], top_code, "top-level code in {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert_eq!(
        body["error"]["innererror"]["code"], inner_code,
        "inner code in {body}"
    );
    assert!(
        body["error"]["innererror"]["message"].as_str().is_some(),
        "inner message in {body}"
    );
    assert!(body["mscv"].as_str().is_some(), "mscv in {body}");
    assert!(body["date"].as_str().is_some(), "date in {body}");
    body["error"]["innererror"].clone()
}

/// Declares a test that runs once per backend: `both_backends!(name);` calls `name(backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
}
