//! Issuance test environment: the app (local resolution and loopback callbacks allowed), an
//! API client's token, a recording RP, a reference wallet on the app's clock, and a small
//! OpenID Connect provider for the idTokens and accessTokens attestations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use verity_jose::{Header, SigningKey, sign_compact};
use verity_store::{CallbackMessage, Store};
use verity_wallet::{
    Algorithm, DidMethod, IssuanceSession, ReceiveOptions, Wallet, WalletConfig, WalletError,
};

use crate::rp::TestRp;
use crate::{Backend, TestApp, allow_local_resolution, send, spawn_app_with};

/// Everything an issuance test drives.
pub struct IssuanceEnv {
    pub app: TestApp,
    pub rp: TestRp,
    /// Access token of an API client of the default tenant.
    pub token: String,
    /// The app's first authority.
    pub authority: String,
    pub wallet: Wallet,
    pub wallet_dir: tempfile::TempDir,
}

/// Lets the service call back to loopback RPs over http.
pub fn allow_local_callbacks(config: &mut verity_server::Config) {
    config.callbacks.allow_loopback = true;
    config.callbacks.allow_http_hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    config.callbacks.initial_backoff_ms = 1000;
}

/// Starts the environment; `None` when the backend is unavailable.
pub async fn issuance_env(backend: Backend) -> Option<IssuanceEnv> {
    issuance_env_with(backend, Algorithm::EdDSA, |_| {}).await
}

/// Like [`issuance_env`] with the holder's key algorithm and extra configuration.
pub async fn issuance_env_with(
    backend: Backend,
    holder_alg: Algorithm,
    adjust: impl FnOnce(&mut verity_server::Config),
) -> Option<IssuanceEnv> {
    let app = spawn_app_with(backend, |c| {
        allow_local_resolution(c);
        allow_local_callbacks(c);
        adjust(c);
    })
    .await?;
    Some(env_for_app(app, holder_alg).await)
}

/// The env around an app that was started with local resolution and callbacks allowed
/// ([`allow_local_resolution`], [`allow_local_callbacks`]).
pub async fn env_for_app(app: crate::TestApp, holder_alg: Algorithm) -> IssuanceEnv {
    let (id, secret) = app.create_client("issuer-app", None).await;
    let (status, body) = app.token(&id, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let wallet_dir = tempfile::tempdir().unwrap();
    let config = WalletConfig::local_development().with_clock(Arc::new(app.clock.clone()));
    let wallet =
        Wallet::create_with_config(wallet_dir.path(), holder_alg, DidMethod::Jwk, config).unwrap();
    IssuanceEnv {
        authority: app.first_did(),
        app,
        rp: TestRp::start().await,
        token,
        wallet,
        wallet_dir,
    }
}

/// The contract of `examples/contracts/<name>.json`, retargeted at `authority`.
pub fn example_contract(name: &str, authority: &str) -> Value {
    let path = format!(
        "{}/../examples/contracts/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["authority"] = json!(authority);
    v
}

impl IssuanceEnv {
    /// Creates a contract through the admin API; returns its id.
    pub async fn create_contract(&self, definition: Value) -> String {
        let (status, body) = self
            .app
            .admin(Method::POST, "/contracts", Some(definition))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// The manifest URL of a contract.
    pub fn manifest_url(&self, contract: &str) -> String {
        format!("{}/v1.0/manifests/{contract}", self.app.url)
    }

    /// A valid createIssuanceRequest body for `contract`.
    pub fn request_body(&self, contract: &str) -> Value {
        json!({
            "authority": self.authority,
            "includeQRCode": false,
            "registration": { "clientName": "Contoso HR" },
            "callback": { "url": self.rp.url(), "state": "rp-state-1", "headers": { "api-key": "rp-secret" } },
            "type": "VerifiedEmployee",
            "manifest": self.manifest_url(contract),
        })
    }

    /// POSTs createIssuanceRequest.
    pub async fn create_request(&self, body: &Value) -> (u16, Value) {
        send(
            self.app
                .http
                .post(format!(
                    "{}/v1.0/verifiableCredentials/createIssuanceRequest",
                    self.app.url
                ))
                .bearer_auth(&self.token)
                .json(body),
        )
        .await
    }

    /// Creates a request and returns its `openid-vc://` URL.
    pub async fn request_url(&self, body: &Value) -> String {
        let (status, created) = self.create_request(body).await;
        assert_eq!(status, 201, "{created}");
        created["url"].as_str().unwrap().to_owned()
    }
}

/// A small contract of `authority` with the given `rules.attestations`, credential type and
/// display claim labels (`(outputClaim, type)`), built from the idTokenHint example.
pub fn small_contract(
    authority: &str,
    id: &str,
    vc_type: &str,
    attestations: Value,
    claims: &[(&str, &str)],
) -> Value {
    let mut v = example_contract("id-token-hint", authority);
    v["id"] = json!(id);
    v["name"] = json!(id);
    v["rules"]["attestations"] = attestations;
    v["rules"]["vc"]["type"] = json!([vc_type]);
    v["display"]["claims"] = claims
        .iter()
        .map(
            |(c, t)| json!({ "claim": format!("vc.credentialSubject.{c}"), "label": c, "type": t }),
        )
        .collect();
    v
}

impl IssuanceEnv {
    /// The app's store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.app.app_state().store
    }

    /// `GET /v1.0/verifiableCredentials/issuanceRequests/{id}` with our token.
    pub async fn poll(&self, request_id: &str) -> (u16, Value) {
        self.app
            .get(
                &format!("/v1.0/verifiableCredentials/issuanceRequests/{request_id}"),
                Some(&self.token),
            )
            .await
    }

    /// Creates a request; returns (requestId, openid-vc URL).
    pub async fn new_request(&self, body: &Value) -> (String, String) {
        let (status, created) = self.create_request(body).await;
        assert_eq!(status, 201, "{created}");
        (
            created["requestId"].as_str().unwrap().to_owned(),
            created["url"].as_str().unwrap().to_owned(),
        )
    }

    /// The outbox messages of a request, oldest first.
    pub async fn callbacks_of(&self, request_id: &str) -> Vec<CallbackMessage> {
        self.store()
            .callbacks_for_request(request_id.parse().unwrap())
            .await
            .unwrap()
    }

    /// Waits (up to 10 s) until `check` holds for the request's outbox messages.
    pub async fn wait_for_outbox(
        &self,
        request_id: &str,
        what: &str,
        check: impl Fn(&[CallbackMessage]) -> bool,
    ) -> Vec<CallbackMessage> {
        for _ in 0..200 {
            let msgs = self.callbacks_of(request_id).await;
            if check(&msgs) {
                return msgs;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("outbox never reached: {what}");
    }

    /// Asserts a refused createIssuanceRequest left nothing behind: no request id was handed
    /// out, no callback queued or sent, no credential (and so no status index) recorded.
    pub async fn assert_nothing_stored(&self, refusal: &Value) {
        assert!(
            refusal["requestId"].is_null(),
            "a refusal names no request: {refusal}"
        );
        assert_eq!(self.store().pending_callbacks().await.unwrap(), 0);
        assert!(
            self.store()
                .find_credentials(None, None, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(self.rp.attempts(), 0, "the RP heard nothing");
    }

    /// Starts an issuance session on `url` with our wallet.
    pub async fn session(&self, url: &str) -> IssuanceSession<'_> {
        IssuanceSession::start(&self.wallet, url).await.unwrap()
    }
}

/// Signs the holder request for `opts` and POSTs it; returns status and body as they came.
pub async fn submit(session: &IssuanceSession<'_>, opts: &ReceiveOptions) -> (u16, Value) {
    let claims = session.holder_request_claims(opts).unwrap();
    let jwt = session.sign_with(&claims, None, None).unwrap();
    session.submit(&jwt).await.unwrap()
}

/// The server's answer inside a wallet error (status, inner code, target).
pub fn server_error(e: &WalletError) -> (u16, String, Option<String>) {
    match e {
        WalletError::Server(s) => (
            s.status,
            s.inner_code.clone().unwrap_or_default(),
            s.target.clone(),
        ),
        other => panic!("expected a server refusal, got {other}"),
    }
}

/// The client id the provider's id_tokens are issued to (the example contract's).
pub const OIDC_CLIENT_ID: &str = "8d2f6c3e-1b7a-4f0e-9a55-0c2d4e6f8a10";

/// A small OpenID Connect provider on a loopback port: a discovery document and a JWKS over
/// real HTTP, and tokens signed with a real ES256 key. Served as `http://localhost:<port>`,
/// which the app's resolver policy allows in tests.
pub struct OidcProvider {
    /// The provider's signing key, published in its JWKS under [`OidcProvider::KID`].
    pub key: SigningKey,
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: JoinHandle<()>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OidcProvider {
    /// The kid of the provider's key.
    pub const KID: &'static str = "provider-key-1";

    /// Starts the provider on 127.0.0.1:0.
    pub async fn start() -> OidcProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let key = SigningKey::generate(verity_jose::Algorithm::ES256).unwrap();
        let issuer = format!("http://localhost:{port}");
        let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
        jwk["kid"] = json!(Self::KID);
        jwk["use"] = json!("sig");
        let routes: Arc<HashMap<String, Value>> = Arc::new(HashMap::from([
            (
                "/.well-known/openid-configuration".to_owned(),
                json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "jwks_uri": format!("{issuer}/keys"),
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"]
                }),
            ),
            ("/keys".to_owned(), json!({ "keys": [jwk] })),
        ]));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_json(stream, routes.clone(), counted.clone()));
            }
        });
        OidcProvider {
            key,
            port,
            hits,
            task,
        }
    }

    /// The issuer (`iss` of its tokens).
    pub fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// The discovery URL contracts name as `configuration`.
    pub fn configuration(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// How many GETs reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Standard claims of a token for `aud`, valid for an hour from `now`.
    pub fn claims(&self, aud: &str, now: i64) -> Value {
        json!({
            "iss": self.issuer(), "sub": "emp-1001", "aud": aud,
            "iat": now, "nbf": now, "exp": now + 3600,
        })
    }

    /// `claims` signed with the provider's key.
    pub fn sign(&self, claims: &Value) -> String {
        sign_token(&self.key, Self::KID, claims)
    }
}

/// A JWT over `claims` signed by `key`, with `kid` in the header.
pub fn sign_token(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".into());
    sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

async fn serve_json(
    mut stream: TcpStream,
    routes: Arc<HashMap<String, Value>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let (status, body) = match routes.get(&path) {
        Some(v) => ("200 OK", v.to_string()),
        None => ("404 Not Found", String::new()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}
