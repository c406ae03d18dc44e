//! Presentation test helpers: issuing the credentials a test presents, creating presentation
//! requests, steering the reference wallet into building bad responses, and checking how the
//! app refused them (HTTP answer, `presentation_error` callback, polling).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use verity_did::{CompositeResolver, DidResolver, FetchPolicy, HttpFetcher};
use verity_jose::UnverifiedJws;
use verity_store::CallbackMessage;
use verity_wallet::{
    Algorithm, DidMethod, PresentationOptions, PresentationSession, ReceiveOptions, Wallet,
    WalletConfig,
};

use crate::issuance::{
    IssuanceEnv, allow_local_callbacks, example_contract, issuance_env, issuance_env_with,
};
use crate::rp::TestRp;
use crate::{Backend, TestApp, allow_local_resolution, assert_error_shape, send};

/// The credential type of `examples/contracts/id-token-hint.json`.
pub const EXPERT: &str = "VerifiedCredentialExpert";

/// The `callback.state` every presentation request of these helpers carries.
pub const RP_STATE: &str = "helpdesk-1";

/// Creates an authority through the admin API (a path DID on the app's host); returns its DID.
pub async fn create_authority(app: &TestApp, name: &str, path: &str, alg: Algorithm) -> String {
    let (status, body) = app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": name, "path": path, "algorithm": alg.as_str() })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["did"].as_str().unwrap().to_owned()
}

/// The idTokenHint example contract retargeted at `authority`, with its own contract id and
/// credential type.
pub fn contract_for(authority: &str, id: &str, vc_type: &str) -> Value {
    let mut c = example_contract("id-token-hint", authority);
    c["id"] = json!(id);
    c["rules"]["vc"]["type"] = json!([vc_type]);
    c
}

/// Issues a credential of `contract` (of `authority`) with `given_name` to `wallet`;
/// `adjust` edits the createIssuanceRequest body. Returns the JWT-VC.
pub async fn issue_to(
    env: &IssuanceEnv,
    wallet: &Wallet,
    authority: &str,
    contract: &str,
    given_name: &str,
    adjust: impl FnOnce(&mut Value),
) -> String {
    let mut body = env.request_body(contract);
    body["authority"] = json!(authority);
    body["claims"] = json!({ "given_name": given_name, "family_name": "Bowen" });
    adjust(&mut body);
    let url = env.request_url(&body).await;
    wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap()
        .jwt
}

/// Issues a credential of the env's first authority to the env's wallet.
pub async fn issue(env: &IssuanceEnv, contract: &str, given_name: &str) -> String {
    issue_to(
        env,
        &env.wallet,
        &env.authority,
        contract,
        given_name,
        |_| {},
    )
    .await
}

/// A second wallet on the app's clock.
pub fn second_wallet(env: &IssuanceEnv, alg: Algorithm) -> (Wallet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = WalletConfig::local_development().with_clock(Arc::new(env.app.clock.clone()));
    let wallet = Wallet::create_with_config(dir.path(), alg, DidMethod::Jwk, config).unwrap();
    (wallet, dir)
}

/// One `requestedCredentials` entry for `vc_type` accepting `issuers`.
pub fn requested(vc_type: &str, issuers: &[&str]) -> Value {
    json!({
        "type": vc_type,
        "acceptedIssuers": issuers,
        "configuration": { "validation": { "allowRevoked": false, "validateLinkedDomain": false } },
    })
}

/// A createPresentationRequest body of the env's first authority, calling back the env's RP.
pub fn presentation_body(env: &IssuanceEnv, requested: Vec<Value>) -> Value {
    json!({
        "authority": env.authority,
        "includeQRCode": false,
        "includeReceipt": true,
        "registration": { "clientName": "Helpdesk", "purpose": "Prove you are an expert" },
        "callback": { "url": env.rp.url(), "state": RP_STATE, "headers": { "api-key": "rp-secret" } },
        "requestedCredentials": requested,
    })
}

/// POSTs createPresentationRequest (on the `/v1.0` or `/beta` base).
pub async fn create_presentation_at(env: &IssuanceEnv, base: &str, body: &Value) -> (u16, Value) {
    send(
        env.app
            .http
            .post(format!(
                "{}/{base}/verifiableCredentials/createPresentationRequest",
                env.app.url
            ))
            .bearer_auth(&env.token)
            .json(body),
    )
    .await
}

/// POSTs createPresentationRequest.
pub async fn create_presentation(env: &IssuanceEnv, body: &Value) -> (u16, Value) {
    create_presentation_at(env, "v1.0", body).await
}

/// Creates a presentation request; returns (requestId, openid-vc URL).
pub async fn new_presentation(env: &IssuanceEnv, body: &Value) -> (String, String) {
    let (status, created) = create_presentation(env, body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["requestId"].as_str().unwrap().to_owned(),
        created["url"].as_str().unwrap().to_owned(),
    )
}

/// Starts `wallet`'s session on `url`, builds the response with `opts` and posts it; returns
/// the app's answer as it came.
pub async fn present_with(wallet: &Wallet, url: &str, opts: &PresentationOptions) -> (u16, Value) {
    let session = PresentationSession::start(wallet, url).await.unwrap();
    let r = session.build_response(opts).unwrap();
    session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap()
}

/// Form-POSTs a presentation response to `/v1.0/responses/{request_id}` of `app`.
pub async fn post_response(
    app: &TestApp,
    request_id: &str,
    id_token: &str,
    vp_token: &str,
    state: &str,
) -> (u16, Value) {
    send(
        app.http
            .post(format!("{}/v1.0/responses/{request_id}", app.url))
            .form(&[
                ("id_token", id_token),
                ("vp_token", vp_token),
                ("state", state),
            ]),
    )
    .await
}

/// The JWT's payload, unverified.
pub fn payload_of(jwt: &str) -> Value {
    UnverifiedJws::parse(jwt)
        .unwrap()
        .payload_unverified()
        .unwrap()
}

/// The JWT with its payload replaced by `payload` (header and signature kept), i.e. a
/// credential tampered with after signing.
pub fn with_payload(jwt: &str, payload: &Value) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
    format!("{}.{body}.{}", parts[0], parts[2])
}

/// The request's outbox messages, oldest first.
pub async fn outbox_of(app: &TestApp, request_id: &str) -> Vec<CallbackMessage> {
    app.app_state()
        .store
        .callbacks_for_request(request_id.parse().unwrap())
        .await
        .unwrap()
}

/// The body of the request's queued callback with `status` (waits up to 10 s).
pub async fn queued_callback(app: &TestApp, request_id: &str, status: &str) -> Value {
    for _ in 0..200 {
        if let Some(m) = outbox_of(app, request_id)
            .await
            .into_iter()
            .find(|m| m.request_status == status)
        {
            return m.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {status} callback was queued for {request_id}");
}

/// `GET /v1.0/verifiableCredentials/presentationRequests/{id}` with the env's token.
pub async fn poll(env: &IssuanceEnv, request_id: &str) -> (u16, Value) {
    env.app
        .get(
            &format!("/v1.0/verifiableCredentials/presentationRequests/{request_id}"),
            Some(&env.token),
        )
        .await
}

/// Asserts the app refused a presentation for a failed check: 400 `presentationInvalid` naming
/// `pres_code`; a `presentation_error` callback whose `error.code` is `hosted_code` and whose
/// message is the check's; polling returns the same body. Returns the callback body.
pub async fn assert_refused(
    env: &IssuanceEnv,
    request_id: &str,
    answer: &(u16, Value),
    pres_code: &str,
    hosted_code: &str,
) -> Value {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    let inner = assert_error_shape(body, "badRequest", "presentationInvalid");
    let message = inner["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("({pres_code})")),
        "{pres_code} in {message}"
    );
    assert_eq!(body["requestId"], request_id, "{body}");

    let callback = queued_callback(&env.app, request_id, "presentation_error").await;
    let cb_message = callback["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(
        message,
        format!("{cb_message} ({pres_code})"),
        "the callback carries the check's message"
    );
    assert_eq!(
        callback,
        json!({
            "requestId": request_id,
            "requestStatus": "presentation_error",
            "state": RP_STATE,
            "error": { "code": hosted_code, "message": cb_message, "innerCode": pres_code },
        })
    );
    let (status, polled) = poll(env, request_id).await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled, callback, "polling returns the callback body");
    callback
}

/// Asserts a refusal that is not recorded (the answer was not shown to come from a holder):
/// 400 presentationInvalid naming `pres_code`, no presentation_error queued, request still open.
pub async fn assert_refused_unrecorded(
    env: &IssuanceEnv,
    request_id: &str,
    answer: &(u16, Value),
    pres_code: &str,
) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    let inner = assert_error_shape(body, "badRequest", "presentationInvalid");
    let message = inner["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("({pres_code})")),
        "{pres_code} in {message}"
    );
    assert!(
        !outbox_of(&env.app, request_id)
            .await
            .iter()
            .any(|m| m.request_status == "presentation_error"),
        "an unauthenticated answer must not end the request"
    );
    let (_, polled) = poll(env, request_id).await;
    let open = ["request_created", "request_retrieved"];
    assert!(
        open.contains(&polled["requestStatus"].as_str().unwrap_or_default()),
        "{polled}"
    );
}

/// The env, one contract of its first authority and one credential issued to its wallet: what
/// most refusal tests start from.
pub struct Fixture {
    pub env: IssuanceEnv,
    /// The contract id (type [`EXPERT`]).
    pub contract: String,
    /// The issued JWT-VC (givenName "Megan", familyName "Bowen").
    pub vc: String,
}

impl Fixture {
    /// Starts the fixture; `None` when the backend is unavailable.
    pub async fn start(backend: Backend) -> Option<Fixture> {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`Fixture::start`] with extra app configuration.
    pub async fn start_with(
        backend: Backend,
        adjust: impl FnOnce(&mut verity_server::Config),
    ) -> Option<Fixture> {
        let env = issuance_env_with(backend, Algorithm::EdDSA, adjust).await?;
        let contract = env
            .create_contract(example_contract("id-token-hint", &env.authority))
            .await;
        let vc = issue(&env, &contract, "Megan").await;
        Some(Fixture { env, contract, vc })
    }

    /// The default requested credential: [`EXPERT`] from the first authority.
    pub fn requested(&self) -> Value {
        requested(EXPERT, &[&self.env.authority])
    }

    /// Creates a request for `requested`; returns (requestId, URL).
    pub async fn request(&self, requested: Vec<Value>) -> (String, String) {
        new_presentation(&self.env, &presentation_body(&self.env, requested)).await
    }

    /// Creates the default request and answers it with `opts`; returns the requestId and the
    /// app's answer.
    pub async fn present(&self, opts: &PresentationOptions) -> (String, (u16, Value)) {
        let (id, url) = self.request(vec![self.requested()]).await;
        let answer = present_with(&self.env.wallet, &url, opts).await;
        (id, answer)
    }

    /// [`Fixture::present`] that must be refused with `pres_code` / `hosted_code`; returns the
    /// callback body.
    pub async fn refused(
        &self,
        opts: &PresentationOptions,
        pres_code: &str,
        hosted_code: &str,
    ) -> Value {
        let (id, answer) = self.present(opts).await;
        assert_refused(&self.env, &id, &answer, pres_code, hosted_code).await
    }

    /// The env's first authority's default requested credential, with `validation` members
    /// merged in.
    pub fn requested_with(&self, validation: Value) -> Value {
        let mut r = self.requested();
        for (k, v) in validation.as_object().unwrap() {
            r["configuration"]["validation"][k] = v.clone();
        }
        r
    }
}

/// Options presenting exactly `credentials`.
pub fn presenting(credentials: Vec<String>) -> PresentationOptions {
    PresentationOptions {
        credentials,
        ..PresentationOptions::default()
    }
}

/// A JSON object as a patch map.
pub fn patch(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A loopback web server that answers 404 to everything: a host that serves no DID
/// configuration. Stops when dropped.
pub struct NotFoundServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for NotFoundServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NotFoundServer {
    /// Starts it on 127.0.0.1:0.
    pub async fn start() -> NotFoundServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        NotFoundServer { addr, task }
    }
}

/// The domain of [`UnlinkedIssuer`]'s authority.
pub const UNLINKED_DOMAIN: &str = "unlinked.test";

/// An issuer whose domain does not link back to its DID, and a verifier that sees it so:
///
/// - `issuer` serves `did:web:unlinked.test` (an authority on that domain, with its
///   did-configuration).
/// - `verifier` (the env) resolves `did:web:unlinked.test` at the issuer, but its fetcher
///   sees `https://unlinked.test/` at a server that knows nothing of DID configurations (as
///   when a domain points at another web site): the DID document lists the origin, the origin
///   does not confirm it.
/// - the env's wallet resolves `unlinked.test` at the issuer and holds one [`EXPERT`]
///   credential of `did:web:unlinked.test`.
pub struct UnlinkedIssuer {
    pub issuer: IssuanceEnv,
    pub verifier: IssuanceEnv,
    /// `did:web:unlinked.test`.
    pub did: String,
    pub vc: String,
    _site: NotFoundServer,
}

/// Starts [`UnlinkedIssuer`]; `None` when the backend is unavailable.
pub async fn unlinked_issuer(backend: Backend) -> Option<UnlinkedIssuer> {
    let issuer = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        c.server.domains = vec![UNLINKED_DOMAIN.to_owned()];
    })
    .await?;
    let (status, body) = issuer
        .app
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "Unlinked", "domain": UNLINKED_DOMAIN })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let did = body["did"].as_str().unwrap().to_owned();
    assert_eq!(did, format!("did:web:{UNLINKED_DOMAIN}"));

    let site = NotFoundServer::start().await;
    let issuer_addr: SocketAddr = issuer.app.socket().parse().unwrap();
    let mut policy = WalletConfig::local_development().fetch_policy;
    policy
        .host_overrides
        .insert(UNLINKED_DOMAIN.to_owned(), issuer_addr);
    let resolver: Arc<dyn DidResolver> = Arc::new(CompositeResolver::standard(
        HttpFetcher::new(policy.clone()).unwrap(),
        Arc::new(verity_core::SystemClock),
        Duration::ZERO,
    ));
    let site_addr = site.addr.to_string();
    let issuer_origin = format!("localhost:{}", issuer.app.port);
    let app = crate::spawn_app_with_resolver(
        backend,
        move |c| {
            allow_local_resolution(c);
            allow_local_callbacks(c);
            c.resolver.host_overrides = BTreeMap::from([(UNLINKED_DOMAIN.to_owned(), site_addr)]);
            // The issuer's status lists are on its local origin.
            c.resolver.loopback_origins = vec![issuer_origin];
        },
        resolver,
    )
    .await?;
    let verifier = env_around(app, policy).await;

    let contract = issuer
        .create_contract(example_contract("id-token-hint", &did))
        .await;
    let vc = issue_to(&issuer, &verifier.wallet, &did, &contract, "Megan", |_| {}).await;
    Some(UnlinkedIssuer {
        issuer,
        verifier,
        did,
        vc,
        _site: site,
    })
}

/// An [`IssuanceEnv`] around an app started elsewhere: API client token, RP, and an EdDSA
/// wallet on the app's clock fetching with `policy`.
pub async fn env_around(app: TestApp, policy: FetchPolicy) -> IssuanceEnv {
    let (id, secret) = app.create_client("verifier-app", None).await;
    let (status, body) = app.token(&id, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let wallet_dir = tempfile::tempdir().unwrap();
    let mut config = WalletConfig::local_development().with_clock(Arc::new(app.clock.clone()));
    config.fetch_policy = policy;
    let wallet =
        Wallet::create_with_config(wallet_dir.path(), Algorithm::EdDSA, DidMethod::Jwk, config)
            .unwrap();
    IssuanceEnv {
        authority: app.first_did(),
        app,
        rp: TestRp::start().await,
        token,
        wallet,
        wallet_dir,
    }
}

/// A verifier env plus a second app that issued the env's wallet a credential and was then
/// stopped: the credential's issuer DID no longer resolves.
pub struct GoneIssuer {
    pub verifier: IssuanceEnv,
    pub issuer: IssuanceEnv,
    /// The stopped issuer's DID.
    pub did: String,
    pub vc: String,
}

/// Starts [`GoneIssuer`] (the issuer is already stopped); `None` when the backend is
/// unavailable.
pub async fn gone_issuer(backend: Backend) -> Option<GoneIssuer> {
    let issuer = issuance_env(backend).await?;
    // The verifier may fetch the issuer's local origin (another deployment on this machine).
    let issuer_origin = format!("localhost:{}", issuer.app.port);
    let verifier = issuance_env_with(backend, Algorithm::EdDSA, |c| {
        c.resolver.loopback_origins = vec![issuer_origin];
    })
    .await?;
    let contract = issuer
        .create_contract(example_contract("id-token-hint", &issuer.authority))
        .await;
    let did = issuer.authority.clone();
    let vc = issue_to(&issuer, &verifier.wallet, &did, &contract, "Megan", |_| {}).await;
    issuer.app.stop().await;
    Some(GoneIssuer {
        verifier,
        issuer,
        did,
        vc,
    })
}
