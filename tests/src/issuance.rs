//! Issuance test environment: the app (local resolution and loopback callbacks allowed), an
//! API client's token, a recording RP, and a reference wallet on the app's clock.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_wallet::{Algorithm, DidMethod, Wallet, WalletConfig};

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
    let (id, secret) = app.create_client("issuer-app", None).await;
    let (status, body) = app.token(&id, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let wallet_dir = tempfile::tempdir().unwrap();
    let config = WalletConfig::local_development().with_clock(Arc::new(app.clock.clone()));
    let wallet =
        Wallet::create_with_config(wallet_dir.path(), holder_alg, DidMethod::Jwk, config).unwrap();
    Some(IssuanceEnv {
        authority: app.first_did(),
        app,
        rp: TestRp::start().await,
        token,
        wallet,
        wallet_dir,
    })
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
