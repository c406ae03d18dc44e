//! The wallet against a scripted issuer/verifier over real loopback HTTP: verity-did's
//! `TestServer` publishes the authority's did:web document, request objects and manifests; a
//! capturing server takes the wallet's POSTs so each message can be checked as Verity would.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::DateTime;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use support::{CaptureServer, Reply};
use tempfile::TempDir;
use verity_core::ManualClock;
use verity_did::test_util::{TestResponse, TestServer};
use verity_did::{
    DidDocument, DidResolver, KeyResolver, Relationship, did_web_from_parts, split_key_id,
};
use verity_jose::{Header, Jwk, SigningKey, UnverifiedJws, sign_compact};
use verity_wallet::{
    Algorithm, DidMethod, IssuanceSession, PresentationOptions, PresentationSession,
    REQUEST_OBJECT_MEDIA_TYPE, ReceiveOptions, StoredCredential, Wallet, WalletConfig,
};

const NOW: i64 = 1_800_000_000;
const TYPE: &str = "VerifiedEmployee";
const SALT: &str = "8f3a0c1d2e";
const PIN: &str = "3539";

/// The authority, its published endpoints, and a wallet that trusts loopback http.
struct Fx {
    site: TestServer,
    sink: CaptureServer,
    authority: SigningKey,
    did: String,
    kid: String,
    wallet: Wallet,
    /// One id_token_hint per request id (ECDSA signatures differ on every signing).
    hints: std::sync::Mutex<BTreeMap<String, String>>,
    _dir: TempDir,
}

fn sign_as(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".into());
    sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

/// A request object (`typ: oauth-authz-req+jwt`, RFC 9101) signed by `key` under `kid`.
fn sign_request_as(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = Some(kid.to_owned());
    header.typ = Some("oauth-authz-req+jwt".into());
    sign_compact(key, &header, claims.to_string().as_bytes()).unwrap()
}

fn payload(jwt: &str) -> Value {
    UnverifiedJws::parse(jwt)
        .unwrap()
        .payload_unverified()
        .unwrap()
}

impl Fx {
    async fn new() -> Fx {
        Fx::with_holder(Algorithm::EdDSA, DidMethod::Jwk).await
    }

    async fn with_holder(alg: Algorithm, method: DidMethod) -> Fx {
        let site = TestServer::start().await;
        let sink = CaptureServer::start().await;
        let did = did_web_from_parts(&format!("localhost:{}", site.port()), &[]);
        let authority = SigningKey::generate(Algorithm::ES256).unwrap();
        let kid = format!("{did}#key-1");
        let doc = DidDocument::for_web_authority(
            &did,
            &[("key-1".to_owned(), authority.public_jwk())],
            &[],
        );
        site.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let clock = ManualClock::new(DateTime::from_timestamp(NOW, 0).unwrap());
        let config = WalletConfig::local_development().with_clock(Arc::new(clock));
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::create_with_config(dir.path(), alg, method, config).unwrap();
        Fx {
            site,
            sink,
            authority,
            did,
            kid,
            wallet,
            hints: Default::default(),
            _dir: dir,
        }
    }

    fn site_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.site.port())
    }

    fn offer(&self, id: &str) -> String {
        format!(
            "openid-vc://?request_uri={}",
            self.site_url(&format!("/v1.0/requests/{id}"))
        )
    }

    fn manifest_url(&self) -> String {
        self.site_url("/v1.0/manifests/contract-1")
    }

    fn credential_issuer(&self) -> String {
        format!("{}/v1.0/issue/contract-1", self.sink.base())
    }

    fn sign(&self, claims: &Value) -> String {
        sign_as(&self.authority, &self.kid, claims)
    }

    fn hint(&self, id: &str) -> String {
        let mut hints = self.hints.lock().unwrap();
        hints
            .entry(id.to_owned())
            .or_insert_with(|| {
                self.sign(&json!({"iss": self.did, "sub": id, "aud": self.did,
                    "nonce": format!("nonce-{id}"), "iat": NOW, "exp": NOW + 300,
                    "givenName": "Megan"}))
            })
            .clone()
    }

    /// docs/PROTOCOL.md step 2 payload, with PIN and id_token_hint.
    fn issuance_request(&self, id: &str) -> Value {
        json!({
            "iss": self.did, "client_id": self.did,
            "response_type": "id_token", "response_mode": "post", "scope": "openid",
            "redirect_uri": format!("{}/v1.0/requests/{id}/completion", self.sink.base()),
            "nonce": format!("nonce-{id}"), "state": id, "jti": format!("jti-{id}"),
            "iat": NOW, "exp": NOW + 300, "prompt": "create",
            "registration": { "client_name": "Contoso HR", "purpose": "test",
                              "subject_syntax_types_supported": ["did:jwk", "did:key", "did:web"] },
            "claims": { "vp_token": { "presentation_definition": { "id": "pd-issue", "input_descriptors": [ {
                "id": TYPE, "name": TYPE, "schema": [ { "uri": TYPE } ],
                "issuance": [ { "manifest": self.manifest_url() } ] } ] } } },
            "id_token_hint": self.hint(id),
            "pin": { "length": 4, "type": "numeric", "alg": "sha256", "salt": SALT },
        })
    }

    fn serve_request_token(&self, id: &str, token: &str) {
        self.site.route(
            &format!("/v1.0/requests/{id}"),
            TestResponse::bytes(token.as_bytes().to_vec())
                .with_header("Content-Type", REQUEST_OBJECT_MEDIA_TYPE),
        );
    }

    fn serve_request(&self, id: &str, claims: &Value) {
        self.serve_request_token(id, &sign_request_as(&self.authority, &self.kid, claims));
    }

    fn manifest(&self) -> Value {
        json!({
            "id": "contract-1", "iss": self.did, "iat": NOW - 60,
            "display": { "locale": "en-US", "contract": self.manifest_url(),
                         "card": { "title": "Verified Employee", "issuedBy": "Contoso" } },
            "input": { "credentialIssuer": self.credential_issuer(), "issuer": self.did,
                       "attestations": { "idTokens": [ { "id": "https://self-issued.me",
                            "configuration": "https://self-issued.me", "required": true } ] } },
        })
    }

    fn serve_manifest_token(&self, token: &str) {
        self.site.route(
            "/v1.0/manifests/contract-1",
            TestResponse::json(&json!({ "token": token })),
        );
    }

    fn serve_manifest(&self, claims: &Value) {
        self.serve_manifest_token(&self.sign(claims));
    }

    fn vc(&self, ty: &str, sub: &str) -> Value {
        json!({
            "iss": self.did, "sub": sub, "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "iat": NOW, "nbf": NOW, "exp": NOW + 86_400,
            "vc": { "@context": ["https://www.w3.org/2018/credentials/v1"],
                    "type": ["VerifiableCredential", ty], "issuer": self.did,
                    "credentialSubject": { "id": sub, "givenName": "Megan", "jobTitle": "Engineer" } },
        })
    }

    fn serve_vc_token(&self, token: &str) {
        self.sink.route(
            "/v1.0/issue/contract-1",
            Reply::json(200, &json!({ "vc": token })),
        );
    }

    fn serve_completion(&self, id: &str) {
        self.sink.route(
            &format!("/v1.0/requests/{id}/completion"),
            Reply::empty(204),
        );
    }

    /// Serves a whole issuance of a `ty` credential for the wallet's active DID.
    fn serve_issuance(&self, id: &str, ty: &str) {
        self.serve_request(id, &self.issuance_request(id));
        self.serve_manifest(&self.manifest());
        self.serve_vc_token(&self.sign(&self.vc(ty, &self.wallet.did())));
        self.serve_completion(id);
    }

    async fn issue(&self, id: &str, ty: &str) -> StoredCredential {
        self.serve_issuance(id, ty);
        let opts = ReceiveOptions {
            pin: Some(PIN.into()),
            ..ReceiveOptions::default()
        };
        self.wallet.receive(&self.offer(id), opts).await.unwrap()
    }

    fn issue_posts(&self) -> Vec<support::Captured> {
        self.sink.captured_at("/v1.0/issue/contract-1")
    }
}

/// Verifies a holder request the way Verity must: kid DID == `did`, the key is listed under
/// authentication of the holder DID document, `sub` is the thumbprint of `sub_jwk`, and
/// `sub_jwk` is that same key.
async fn verify_holder_request(jwt: &str) -> Value {
    let jws = UnverifiedJws::parse(jwt).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("JWT"));
    let unverified: Value = jws.payload_unverified().unwrap();
    let did = unverified["did"].as_str().unwrap().to_owned();
    let (kid_did, _) = split_key_id(&kid).unwrap();
    assert_eq!(kid_did.unwrap().as_str(), did);
    let doc = KeyResolver.resolve(&did).await.unwrap();
    let jwk = doc.key_for(&kid, Relationship::Authentication).unwrap();
    let verified = jws.verify(&jwk).unwrap();
    let claims: Value = verified.claims().unwrap();
    // The server checks the holder request's kind; the wallet's own must pass.
    verity_jose::TokenKind::HolderRequest
        .check_value(verified.header(), &claims)
        .unwrap();
    let sub_jwk = Jwk::from_json_value(&claims["sub_jwk"]).unwrap();
    assert_eq!(claims["sub"], sub_jwk.thumbprint().unwrap());
    assert_eq!(sub_jwk.thumbprint().unwrap(), jwk.thumbprint().unwrap());
    claims
}

fn expected_pin_hash(salt: &str, pin: &str) -> String {
    let digest = Sha256::digest(format!("{salt}{pin}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[tokio::test]
async fn receive_with_pin_and_hint_for_every_holder_key_kind() {
    for (alg, method) in [
        (Algorithm::EdDSA, DidMethod::Jwk),
        (Algorithm::ES256, DidMethod::Key),
        (Algorithm::ES256K, DidMethod::Jwk),
        (Algorithm::EdDSA, DidMethod::Key),
    ] {
        let fx = Fx::with_holder(alg, method).await;
        fx.serve_issuance("req-1", TYPE);
        let mut self_issued = Map::new();
        self_issued.insert("nickname".into(), "Meg".into());
        let opts = ReceiveOptions {
            pin: Some(PIN.into()),
            self_issued,
            id_tokens: BTreeMap::from([(
                "https://login.example/v2.0/.well-known/openid-configuration".into(),
                "eyJ.idtoken.sig".into(),
            )]),
            access_tokens: BTreeMap::from([("https://api.example".into(), "at-1".into())]),
            ..ReceiveOptions::default()
        };
        let cred = fx.wallet.receive(&fx.offer("req-1"), opts).await.unwrap();

        // The credential as stored.
        assert_eq!(cred.issuer, fx.did);
        assert_eq!(cred.subject, fx.wallet.did());
        assert_eq!(cred.types, vec!["VerifiableCredential", TYPE]);
        assert_eq!(cred.claims["givenName"], "Megan");
        assert!(!cred.claims.contains_key("id"));
        assert_eq!(cred.received_at.timestamp(), NOW);
        assert_eq!(cred.expires_at.unwrap().timestamp(), NOW + 86_400);
        let reopened = Wallet::open(fx.wallet.path().parent().unwrap()).unwrap();
        assert_eq!(reopened.credentials(), vec![cred.clone()]);

        // The request object was fetched as a request object.
        let gets: Vec<_> = fx
            .site
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1.0/requests/req-1")
            .collect();
        assert_eq!(gets.len(), 1);
        assert_eq!(gets[0].method, "GET");
        assert_eq!(
            gets[0].header("accept").as_deref(),
            Some(REQUEST_OBJECT_MEDIA_TYPE)
        );

        // The holder request, checked as the server would.
        let posts = fx.issue_posts();
        assert_eq!(posts.len(), 1, "{alg} {method}");
        assert_eq!(posts[0].method, "POST");
        assert_eq!(posts[0].header("content-type"), Some("text/plain"));
        let claims = verify_holder_request(&posts[0].body_text()).await;
        assert_eq!(claims["iss"], "https://self-issued.me");
        assert_eq!(claims["aud"], fx.credential_issuer());
        assert_eq!(claims["did"], fx.wallet.did());
        assert_eq!(claims["contract"], fx.manifest_url());
        assert_eq!(claims["state"], "req-1");
        assert_eq!(claims["nonce"], "nonce-req-1");
        uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 300);
        assert_eq!(claims["pin"], expected_pin_hash(SALT, PIN));
        let att = &claims["attestations"];
        assert_eq!(att["idTokens"]["https://self-issued.me"], fx.hint("req-1"));
        assert_eq!(
            att["idTokens"]["https://login.example/v2.0/.well-known/openid-configuration"],
            "eyJ.idtoken.sig"
        );
        assert_eq!(att["selfIssued"], json!({"nickname": "Meg"}));
        assert_eq!(att["accessTokens"], json!({"https://api.example": "at-1"}));
        assert!(att.get("presentations").is_none());
        let mut members: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(
            members,
            [
                "attestations",
                "aud",
                "contract",
                "did",
                "exp",
                "iat",
                "iss",
                "jti",
                "nonce",
                "pin",
                "state",
                "sub",
                "sub_jwk"
            ]
        );

        // Completion.
        let done = fx.sink.captured_at("/v1.0/requests/req-1/completion");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&done[0].body).unwrap();
        assert_eq!(
            body,
            json!({"code": "issuance_successful", "state": "req-1"})
        );
    }
}

#[tokio::test]
async fn receive_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fx = Fx::new().await;
    let fut = fx
        .wallet
        .receive("openid-vc://?x", ReceiveOptions::default());
    assert_send(&fut);
    let present = fx.wallet.present("openid-vc://?x");
    assert_send(&present);
    let opts = verity_wallet::OfferOptions::default();
    let offer = fx
        .wallet
        .receive_offer("openid-credential-offer://?x", &opts);
    assert_send(&offer);
}

/// Runs `receive` for request `id` and asserts it fails with `code` before anything is POSTed.
async fn refused_before_posting(fx: &Fx, id: &str, code: &str) -> verity_wallet::WalletError {
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    let err = fx.wallet.receive(&fx.offer(id), opts).await.unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    assert!(fx.sink.captured().is_empty(), "nothing may be POSTed");
    assert!(fx.wallet.credentials().is_empty());
    err
}

#[tokio::test]
async fn request_object_signed_by_a_key_not_in_the_did_document_is_refused() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let rogue = SigningKey::generate(Algorithm::ES256).unwrap();
    // A kid the document does not list at all.
    let claims = fx.issuance_request("req-1");
    fx.serve_request_token(
        "req-1",
        &sign_request_as(&rogue, &format!("{}#key-2", fx.did), &claims),
    );
    let err = refused_before_posting(&fx, "req-1", "WALLET-015").await;
    assert!(err.to_string().contains("key-2"), "{err}");
    // The listed kid, but signed by another key: the signature does not verify.
    fx.serve_request_token("req-1", &sign_request_as(&rogue, &fx.kid, &claims));
    let err = refused_before_posting(&fx, "req-1", "WALLET-016").await;
    assert!(
        err.to_string().starts_with("request object: signature"),
        "{err}"
    );
}

#[tokio::test]
async fn request_object_identity_checks() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    // iss differs from client_id.
    let mut claims = fx.issuance_request("req-1");
    claims["iss"] = "did:web:other.example".into();
    fx.serve_request("req-1", &claims);
    let err = refused_before_posting(&fx, "req-1", "WALLET-017").await;
    assert!(err.to_string().contains("`iss`"), "{err}");
    // client_id names another DID than the kid.
    let mut claims = fx.issuance_request("req-1");
    claims["client_id"] = "did:web:other.example".into();
    fx.serve_request("req-1", &claims);
    let err = refused_before_posting(&fx, "req-1", "WALLET-017").await;
    assert!(err.to_string().contains("kid DID"), "{err}");
    // A relative kid names no DID.
    fx.serve_request_token(
        "req-1",
        &sign_request_as(&fx.authority, "#key-1", &fx.issuance_request("req-1")),
    );
    refused_before_posting(&fx, "req-1", "WALLET-015").await;
    // Missing members the flow needs.
    for field in ["nonce", "state", "redirect_uri"] {
        let mut claims = fx.issuance_request("req-1");
        claims.as_object_mut().unwrap().remove(field);
        fx.serve_request("req-1", &claims);
        let err = refused_before_posting(&fx, "req-1", "WALLET-019").await;
        assert!(err.to_string().contains(field), "{err}");
    }
}

/// Every token the authority's key signs verifies under the same key; each is refused where
/// another kind is expected, before anything is posted (WALLET-028).
#[tokio::test]
async fn tokens_of_another_kind_are_refused() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    // The manifest served as the request object (typ JWT), and the request object's own
    // claims typed JWT (as before RFC 9101 typing).
    fx.serve_request_token("req-1", &fx.sign(&fx.manifest()));
    let err = refused_before_posting(&fx, "req-1", "WALLET-028").await;
    assert!(
        err.to_string()
            .starts_with("request object: wrong token kind"),
        "{err}"
    );
    fx.serve_request_token("req-1", &fx.sign(&fx.issuance_request("req-1")));
    let err = refused_before_posting(&fx, "req-1", "WALLET-028").await;
    assert!(err.to_string().contains("oauth-authz-req+jwt"), "{err}");
    // Typed right, but carrying a credential: not a request object either.
    let mut claims = fx.issuance_request("req-1");
    claims["vc"] = json!({ "type": ["VerifiableCredential"] });
    fx.serve_request("req-1", &claims);
    let err = refused_before_posting(&fx, "req-1", "WALLET-028").await;
    assert!(err.to_string().contains("`vc`"), "{err}");
    fx.serve_request("req-1", &fx.issuance_request("req-1"));
    // A credential served as the manifest lacks the manifest's members; with them added it is
    // still a credential, not a manifest. A manifest typed as a request object is refused too.
    let mut vc = fx.vc(TYPE, &fx.wallet.did());
    fx.serve_manifest_token(&fx.sign(&vc));
    refused_before_posting(&fx, "req-1", "WALLET-019").await;
    vc["display"] = fx.manifest()["display"].clone();
    vc["input"] = fx.manifest()["input"].clone();
    fx.serve_manifest_token(&fx.sign(&vc));
    let err = refused_before_posting(&fx, "req-1", "WALLET-028").await;
    assert!(
        err.to_string().starts_with("manifest: wrong token kind"),
        "{err}"
    );
    assert!(err.to_string().contains("`vc`"), "{err}");
    fx.serve_manifest_token(&sign_request_as(&fx.authority, &fx.kid, &fx.manifest()));
    refused_before_posting(&fx, "req-1", "WALLET-028").await;
    fx.serve_manifest(&fx.manifest());
    // A credential of the authority carried as the id_token_hint.
    let mut claims = fx.issuance_request("req-1");
    claims["id_token_hint"] = json!(fx.sign(&fx.vc(TYPE, &fx.wallet.did())));
    fx.serve_request("req-1", &claims);
    let err = refused_before_posting(&fx, "req-1", "WALLET-028").await;
    assert!(err.to_string().starts_with("id_token_hint:"), "{err}");
    fx.serve_request("req-1", &fx.issuance_request("req-1"));
}

/// The issuer's status list (or any other token of its key) returned as the issued credential
/// is refused and reported, and nothing is stored.
#[tokio::test]
async fn a_status_list_returned_as_the_credential_is_refused() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let holder = fx.wallet.did();
    let mut list = fx.vc("BitstringStatusListCredential", &holder);
    list["vc"]["credentialSubject"]["encodedList"] = json!("uH4sIAAAAAAAA");
    fx.serve_vc_token(&fx.sign(&list));
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-028", "{err}");
    assert!(
        err.to_string().starts_with("credential: wrong token kind"),
        "{err}"
    );
    assert!(fx.wallet.credentials().is_empty());
}

#[tokio::test]
async fn expired_or_future_request_object_is_refused() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let mut claims = fx.issuance_request("req-1");
    claims["iat"] = (NOW - 600).into();
    claims["exp"] = (NOW - 300).into();
    fx.serve_request("req-1", &claims);
    let err = refused_before_posting(&fx, "req-1", "WALLET-018").await;
    assert!(err.to_string().contains("expired"), "{err}");
    // Within the skew is fine for iat; far in the future is not.
    let mut claims = fx.issuance_request("req-1");
    claims["iat"] = (NOW + 3600).into();
    claims["exp"] = (NOW + 3900).into();
    fx.serve_request("req-1", &claims);
    refused_before_posting(&fx, "req-1", "WALLET-018").await;
    // No exp at all.
    let mut claims = fx.issuance_request("req-1");
    claims.as_object_mut().unwrap().remove("exp");
    fx.serve_request("req-1", &claims);
    refused_before_posting(&fx, "req-1", "WALLET-018").await;
}

#[tokio::test]
async fn manifest_signed_by_another_key_is_refused() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let rogue = SigningKey::generate(Algorithm::ES256).unwrap();
    fx.serve_manifest_token(&sign_as(&rogue, &fx.kid, &fx.manifest()));
    let err = refused_before_posting(&fx, "req-1", "WALLET-016").await;
    assert!(err.to_string().starts_with("manifest:"), "{err}");
    // Signed by the authority but claiming another issuer.
    let mut m = fx.manifest();
    m["iss"] = "did:web:other.example".into();
    fx.serve_manifest(&m);
    refused_before_posting(&fx, "req-1", "WALLET-017").await;
    let mut m = fx.manifest();
    m["input"]["issuer"] = "did:web:other.example".into();
    fx.serve_manifest(&m);
    refused_before_posting(&fx, "req-1", "WALLET-017").await;
    // No credentialIssuer to POST to.
    let mut m = fx.manifest();
    m["input"]
        .as_object_mut()
        .unwrap()
        .remove("credentialIssuer");
    fx.serve_manifest(&m);
    refused_before_posting(&fx, "req-1", "WALLET-019").await;
    // Not the `{ token }` envelope.
    fx.site.route(
        "/v1.0/manifests/contract-1",
        TestResponse::json(&json!({"manifest": "x"})),
    );
    refused_before_posting(&fx, "req-1", "WALLET-012").await;
}

#[tokio::test]
async fn credential_for_another_subject_is_refused_and_reported() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let other = "did:jwk:eyJjcnYiOiJFZDI1NTE5Iiwia3R5IjoiT0tQIiwieCI6IjExcVlBWUt4Q3JmVlNfN1R5V1FIT2c3aGN2UGFwaU1scndJYWFQY0hVUm8ifQ";
    fx.serve_vc_token(&fx.sign(&fx.vc(TYPE, other)));
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-020", "{err}");
    assert!(err.to_string().contains("`sub`"), "{err}");
    assert!(fx.wallet.credentials().is_empty());
    let done = fx.sink.captured_at("/v1.0/requests/req-1/completion");
    let body: Value = serde_json::from_slice(&done[0].body).unwrap();
    assert_eq!(
        body,
        json!({"code": "issuance_failed", "state": "req-1", "details": "credential_rejected"})
    );

    // sub is ours but credentialSubject.id is not.
    let mut vc = fx.vc(TYPE, &fx.wallet.did());
    vc["vc"]["credentialSubject"]["id"] = other.into();
    fx.serve_vc_token(&fx.sign(&vc));
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-020");
    assert!(err.to_string().contains("credentialSubject.id"), "{err}");

    // A credential signed by a key the issuer does not publish.
    let rogue = SigningKey::generate(Algorithm::ES256).unwrap();
    fx.serve_vc_token(&sign_as(&rogue, &fx.kid, &fx.vc(TYPE, &fx.wallet.did())));
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-016");

    // A credential from another issuer than the manifest's.
    let mut vc = fx.vc(TYPE, &fx.wallet.did());
    vc["iss"] = "did:web:other.example".into();
    fx.serve_vc_token(&fx.sign(&vc));
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-017");

    // An expired credential.
    let mut vc = fx.vc(TYPE, &fx.wallet.did());
    vc["exp"] = (NOW - 3600).into();
    fx.serve_vc_token(&fx.sign(&vc));
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-018");
    assert!(fx.wallet.credentials().is_empty());
}

#[tokio::test]
async fn pin_is_required_and_checked_before_posting() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let url = fx.offer("req-1");
    let err = fx
        .wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-021");
    assert!(err.to_string().contains("4-digit"), "{err}");
    for bad in ["123", "12345", "12a4"] {
        let opts = ReceiveOptions {
            pin: Some(bad.into()),
            ..ReceiveOptions::default()
        };
        let err = fx.wallet.receive(&url, opts).await.unwrap_err();
        assert_eq!(err.code(), "WALLET-022", "{bad}");
        assert!(
            !err.to_string().contains(bad),
            "the PIN never appears in errors"
        );
    }
    assert!(fx.sink.captured().is_empty());

    // Without a pin member the request needs no PIN, and none is sent.
    let mut claims = fx.issuance_request("req-1");
    claims.as_object_mut().unwrap().remove("pin");
    fx.serve_request("req-1", &claims);
    fx.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
    let sent = verify_holder_request(&fx.issue_posts()[0].body_text()).await;
    assert!(sent.get("pin").is_none());
}

#[tokio::test]
async fn server_errors_are_surfaced_with_status_and_inner_code() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    fx.sink.route(
        "/v1.0/issue/contract-1",
        Reply::json(
            403,
            &json!({"requestId": "req-1", "date": "x", "mscv": "c",
                "error": {"code": "forbidden", "message": "The request is forbidden.",
                          "innererror": {"code": "badPin", "message": "the PIN is wrong", "target": "pin"}}}),
        ),
    );
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-011");
    let s = err.server_error().unwrap();
    assert_eq!(s.status, 403);
    assert_eq!(s.code.as_deref(), Some("forbidden"));
    assert_eq!(s.inner_code.as_deref(), Some("badPin"));
    assert_eq!(s.message, "the PIN is wrong");
    assert!(
        fx.sink
            .captured_at("/v1.0/requests/req-1/completion")
            .is_empty()
    );

    // An expired request object answered 410 in the API error shape.
    fx.sink.route(
        "/v1.0/requests/gone",
        Reply::json(
            410,
            &json!({"error": {"code": "gone", "message": "The request is gone.",
            "innererror": {"code": "expired", "message": "request expired"}}}),
        ),
    );
    let gone = format!(
        "openid-vc://?request_uri={}/v1.0/requests/gone",
        fx.sink.base()
    );
    let err = fx.wallet.receive(&gone, opts.clone()).await.unwrap_err();
    let s = err.server_error().unwrap();
    assert_eq!((s.status, s.code.as_deref()), (410, Some("gone")));
    assert_eq!(s.message, "request expired");

    // A 200 without `vc`.
    fx.sink.route(
        "/v1.0/issue/contract-1",
        Reply::json(200, &json!({"credential": "x"})),
    );
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-012");

    // Completion refused after the credential was stored.
    fx.serve_vc_token(&fx.sign(&fx.vc(TYPE, &fx.wallet.did())));
    fx.sink.route(
        "/v1.0/requests/req-1/completion",
        Reply::json(
            400,
            &json!({"error": {"code": "badRequest", "message": "bad state"}}),
        ),
    );
    let err = fx
        .wallet
        .receive(&fx.offer("req-1"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-026");
    assert!(err.to_string().contains("bad state"), "{err}");
    assert_eq!(fx.wallet.credentials().len(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let strict = tempfile::tempdir().unwrap();
    let wallet = Wallet::create(strict.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap();
    let err = wallet
        .receive(&fx.offer("req-1"), ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-008");
    assert!(fx.site.requests().is_empty());
}

#[tokio::test]
async fn low_level_steps_let_tests_build_bad_holder_requests() {
    let fx = Fx::new().await;
    fx.serve_issuance("req-1", TYPE);
    let session = IssuanceSession::start(&fx.wallet, &fx.offer("req-1"))
        .await
        .unwrap();
    assert_eq!(session.request_claims()["state"], "req-1");
    assert_eq!(session.manifest()["id"], "contract-1");
    assert_eq!(session.credential_issuer(), fx.credential_issuer());
    assert_eq!(session.manifest_url(), fx.manifest_url());
    assert_eq!(session.id_token_hint(), Some(fx.hint("req-1").as_str()));
    let pin = session.pin_requirement().unwrap();
    assert_eq!((pin.length, pin.salt.as_str()), (Some(4), SALT));

    let opts = ReceiveOptions {
        pin: Some("0000".into()),
        ..ReceiveOptions::default()
    };
    let mut claims = session.holder_request_claims(&opts).unwrap();
    assert_eq!(claims["pin"], expected_pin_hash(SALT, "0000"));
    // A fresh jti every time.
    assert_ne!(
        claims["jti"],
        session.holder_request_claims(&opts).unwrap()["jti"]
    );

    // Signed by a key that is not the DID's, under the DID's kid.
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwt = session.sign_with(&claims, Some(&other), None).unwrap();
    let jws = UnverifiedJws::parse(&jwt).unwrap();
    assert_eq!(jws.header().kid.as_deref(), Some(fx.wallet.kid().as_str()));
    assert!(jws.verify(&fx.wallet.public_jwk(None).unwrap()).is_err());

    // A kid override and a tampered claim; submit returns the raw answer.
    claims["did"] = "did:jwk:someone-else".into();
    let jwt = session
        .sign_with(&claims, None, Some("did:jwk:someone-else#0"))
        .unwrap();
    fx.sink.route(
        "/v1.0/issue/contract-1",
        Reply::json(401, &json!({"error": {"code": "unauthorized"}})),
    );
    let (status, body) = session.submit(&jwt).await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let sent = fx.issue_posts();
    assert_eq!(sent[0].body_text(), jwt);
    let header = UnverifiedJws::parse(&sent[0].body_text()).unwrap();
    assert_eq!(
        header.header().kid.as_deref(),
        Some("did:jwk:someone-else#0")
    );
    // The right key still verifies the rest (only the claim was changed).
    header.verify(&fx.wallet.public_jwk(None).unwrap()).unwrap();

    // Completion with any code and details.
    let (status, _) = session
        .complete("issuance_failed", Some("user_canceled"))
        .await
        .unwrap();
    assert_eq!(status, 204);
    let done = fx.sink.captured_at("/v1.0/requests/req-1/completion");
    let body: Value = serde_json::from_slice(&done[0].body).unwrap();
    assert_eq!(
        body,
        json!({"code": "issuance_failed", "state": "req-1", "details": "user_canceled"})
    );
}

#[tokio::test]
async fn presentations_attestation_is_built_from_a_stored_credential() {
    let fx = Fx::new().await;
    let employee = fx.issue("req-1", TYPE).await;
    // A second contract that wants the employee credential presented.
    let mut manifest = fx.manifest();
    manifest["input"]["attestations"] = json!({"presentations": [
        {"id": "p1", "credentialType": TYPE, "issuers": [{"iss": fx.did}], "required": true}]});
    fx.serve_issuance("req-2", "BuildingAccess");
    fx.serve_manifest(&manifest);
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    let access = fx.wallet.receive(&fx.offer("req-2"), opts).await.unwrap();
    assert_eq!(access.credential_type(), Some("BuildingAccess"));
    let posts = fx.issue_posts();
    let sent = verify_holder_request(&posts[1].body_text()).await;
    let vp = sent["attestations"]["presentations"][TYPE]
        .as_str()
        .unwrap();
    let vp_jws = UnverifiedJws::parse(vp).unwrap();
    assert_eq!(
        vp_jws.header().kid.as_deref(),
        Some(fx.wallet.kid().as_str())
    );
    let vp_claims: Value = vp_jws
        .verify(&fx.wallet.public_jwk(None).unwrap())
        .unwrap()
        .claims()
        .unwrap();
    assert_eq!(vp_claims["iss"], fx.wallet.did());
    assert_eq!(vp_claims["aud"], fx.did);
    assert_eq!(vp_claims["nonce"], "nonce-req-2");
    assert_eq!(
        vp_claims["vp"]["verifiableCredential"],
        json!([employee.jwt])
    );
}

#[tokio::test]
async fn receive_refuses_a_presentation_request() {
    let fx = Fx::new().await;
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE], None),
    );
    let err = fx
        .wallet
        .receive(&fx.offer("pres-1"), ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-023");
    assert_eq!(
        err.to_string(),
        "this is a presentation request, not an issuance request"
    );
}

// ----- presentation -------------------------------------------------------------------------

/// Protocol §2 request object for a presentation of `types`, optionally restricted to issuers
/// matching `pattern`.
fn presentation_request(fx: &Fx, id: &str, types: &[&str], pattern: Option<&str>) -> Value {
    let descriptors: Vec<Value> = types
        .iter()
        .map(|t| {
            let mut d = json!({"id": t, "name": t, "purpose": "check", "schema": [{"uri": t}]});
            if let Some(p) = pattern {
                d["constraints"] = json!({"fields": [{"path": ["$.issuer", "$.vc.issuer", "$.iss"],
                    "filter": {"type": "string", "pattern": p}}]});
            }
            d
        })
        .collect();
    json!({
        "iss": fx.did, "client_id": fx.did,
        "response_type": "id_token", "response_mode": "post", "scope": "openid",
        "redirect_uri": format!("{}/v1.0/responses/{id}", fx.sink.base()),
        "nonce": format!("nonce-{id}"), "state": id, "jti": format!("jti-{id}"),
        "iat": NOW, "exp": NOW + 300,
        "registration": {"client_name": "Helpdesk",
            "vp_formats": {"jwt_vp": {"alg": ["ES256", "ES256K", "EdDSA"]},
                           "jwt_vc": {"alg": ["ES256", "ES256K", "EdDSA"]}}},
        "claims": {"vp_token": {"presentation_definition": {"id": format!("pd-{id}"),
            "input_descriptors": descriptors}}},
    })
}

fn verify_with(jwt: &str, jwk: &Jwk) -> Value {
    UnverifiedJws::parse(jwt)
        .unwrap()
        .verify(jwk)
        .unwrap()
        .claims()
        .unwrap()
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn presentation_response_has_the_protocol_fields_and_signatures() {
    let fx = Fx::with_holder(Algorithm::ES256, DidMethod::Key).await;
    let cred = fx.issue("req-1", TYPE).await;
    let pattern = format!("{}|did:web:partner.example", fx.did);
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE], Some(&pattern)),
    );
    let session = PresentationSession::start(&fx.wallet, &fx.offer("pres-1"))
        .await
        .unwrap();
    assert_eq!(session.definition_id(), "pd-pres-1");
    assert_eq!(
        session.descriptors()[0].accepted_issuers_pattern(),
        Some(pattern.as_str())
    );
    let matches = session.select_credentials();
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].candidates, vec![cred.clone()]);

    let resp = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    assert_eq!(resp.state, "pres-1");
    assert_eq!(resp.holder, fx.wallet.did());
    let holder_jwk = fx.wallet.public_jwk(None).unwrap();
    let holder = fx.wallet.did();

    // id_token (protocol §2): exactly these members.
    let id_jws = UnverifiedJws::parse(&resp.id_token).unwrap();
    assert_eq!(
        id_jws.header().kid.as_deref(),
        Some(fx.wallet.kid().as_str())
    );
    assert_eq!(id_jws.header().alg, "ES256");
    let id = verify_with(&resp.id_token, &holder_jwk);
    // The pipeline checks both kinds; the wallet's own tokens must pass them.
    for (token, kind) in [
        (&resp.id_token, verity_jose::TokenKind::IdToken),
        (&resp.vp_token, verity_jose::TokenKind::Presentation),
    ] {
        let jws = UnverifiedJws::parse(token).unwrap();
        kind.check_value(jws.header(), &jws.payload_unverified().unwrap())
            .unwrap();
    }
    assert_eq!(
        sorted_keys(&id),
        ["_vp_token", "aud", "exp", "iat", "iss", "nonce", "sub"]
    );
    assert_eq!(id["iss"], "https://self-issued.me/v2/openid-vc");
    assert_eq!(id["sub"], holder);
    assert_eq!(id["aud"], fx.did);
    assert_eq!(id["nonce"], "nonce-pres-1");
    assert_eq!(
        (id["iat"].as_i64(), id["exp"].as_i64()),
        (Some(NOW), Some(NOW + 300))
    );
    let sub = &id["_vp_token"]["presentation_submission"];
    uuid::Uuid::parse_str(sub["id"].as_str().unwrap()).unwrap();
    assert_eq!(sub["definition_id"], "pd-pres-1");
    assert_eq!(
        sub["descriptor_map"],
        json!([{"id": TYPE, "format": "jwt_vp", "path": "$",
                "path_nested": {"id": TYPE, "format": "jwt_vc", "path": "$.verifiableCredential[0]"}}])
    );

    // vp_token (protocol §2).
    let vp = verify_with(&resp.vp_token, &holder_jwk);
    assert_eq!(
        sorted_keys(&vp),
        ["aud", "exp", "iat", "iss", "jti", "nbf", "nonce", "vp"]
    );
    assert_eq!(vp["iss"], holder);
    assert_eq!(vp["aud"], fx.did);
    assert_eq!(vp["nonce"], "nonce-pres-1");
    assert!(vp["jti"].as_str().unwrap().starts_with("urn:uuid:"));
    assert_eq!(
        (vp["nbf"].as_i64(), vp["iat"].as_i64()),
        (Some(NOW), Some(NOW))
    );
    assert_eq!(vp["exp"], NOW + 300);
    assert_eq!(
        vp["vp"],
        json!({"@context": ["https://www.w3.org/2018/credentials/v1"],
               "type": ["VerifiablePresentation"], "verifiableCredential": [cred.jwt]})
    );
    // The holder key is the DID's authentication key, and the VC inside is the issuer's.
    let doc = KeyResolver.resolve(&holder).await.unwrap();
    let auth = doc
        .key_for(&fx.wallet.kid(), Relationship::Authentication)
        .unwrap();
    verify_with(&resp.vp_token, &auth);
    verify_with(&cred.jwt, &fx.authority.public_jwk());

    // Form POST to redirect_uri.
    fx.sink.route(
        "/v1.0/responses/pres-1",
        Reply::json(200, &json!({"ok": true})),
    );
    let (status, body) = session
        .submit(&resp.id_token, &resp.vp_token, &resp.state)
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({"ok": true})));
    let posted = fx.sink.captured_at("/v1.0/responses/pres-1");
    assert_eq!(
        posted[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&posted[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        BTreeMap::from([
            ("id_token".to_owned(), resp.id_token.clone()),
            ("vp_token".to_owned(), resp.vp_token.clone()),
            ("state".to_owned(), "pres-1".to_owned()),
        ])
    );
}

#[tokio::test]
async fn presentation_overrides_change_exactly_what_they_say() {
    let fx = Fx::new().await;
    let cred = fx.issue("req-1", TYPE).await;
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE], None),
    );
    let session = PresentationSession::start(&fx.wallet, &fx.offer("pres-1"))
        .await
        .unwrap();
    let holder_jwk = fx.wallet.public_jwk(None).unwrap();
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let other_jwk = other.public_jwk();
    let mut id_patch = Map::new();
    id_patch.insert("iss".into(), "https://self-issued.me".into());
    id_patch.insert("exp".into(), Value::Null);
    let mut vp_patch = Map::new();
    vp_patch.insert("jti".into(), "urn:uuid:fixed".into());
    let opts = PresentationOptions {
        credentials: vec![cred.jwt.clone(), "tampered.vc.jwt".into()],
        nonce_override: Some("wrong-nonce".into()),
        aud_override: Some("did:web:elsewhere.example".into()),
        holder_key_override: Some(other),
        extra_descriptors: vec![json!({"id": "Extra", "format": "jwt_vp", "path": "$",
            "path_nested": {"id": "Extra", "format": "jwt_vc", "path": "$.verifiableCredential[1]"}})],
        iat_override: Some(NOW - 1000),
        exp_override: Some(NOW - 500),
        nbf_override: Some(NOW + 500),
        id_token_patch: id_patch,
        vp_token_patch: vp_patch,
        ..PresentationOptions::default()
    };
    let resp = session.build_response(&opts).unwrap();
    // Signed by the other key, still under the holder's kid.
    let id_jws = UnverifiedJws::parse(&resp.id_token).unwrap();
    assert_eq!(
        id_jws.header().kid.as_deref(),
        Some(fx.wallet.kid().as_str())
    );
    assert!(
        UnverifiedJws::parse(&resp.vp_token)
            .unwrap()
            .verify(&holder_jwk)
            .is_err()
    );
    let id = verify_with(&resp.id_token, &other_jwk);
    let vp = verify_with(&resp.vp_token, &other_jwk);
    assert_eq!(id["nonce"], "wrong-nonce");
    assert_eq!(vp["nonce"], "wrong-nonce");
    assert_eq!(id["aud"], "did:web:elsewhere.example");
    assert_eq!(vp["aud"], "did:web:elsewhere.example");
    assert_eq!(id["iat"], NOW - 1000);
    assert_eq!(id["iss"], "https://self-issued.me");
    assert!(id.get("exp").is_none());
    assert_eq!(vp["exp"], NOW - 500);
    assert_eq!(vp["nbf"], NOW + 500);
    assert_eq!(vp["jti"], "urn:uuid:fixed");
    assert_eq!(
        vp["vp"]["verifiableCredential"],
        json!([cred.jwt, "tampered.vc.jwt"])
    );
    let map = id["_vp_token"]["presentation_submission"]["descriptor_map"]
        .as_array()
        .unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(map[0]["path_nested"]["path"], "$.verifiableCredential[0]");
    assert_eq!(map[1]["id"], "Extra");
    // The holder stays the DID the first credential is bound to.
    assert_eq!(vp["iss"], fx.wallet.did());

    // Dropping a descriptor and overriding the kid.
    let opts = PresentationOptions {
        drop_descriptors: vec![TYPE.into()],
        kid_override: Some("did:web:elsewhere.example#k".into()),
        ..PresentationOptions::default()
    };
    let resp = session.build_response(&opts).unwrap();
    let id = verify_with(&resp.id_token, &holder_jwk);
    assert_eq!(
        id["_vp_token"]["presentation_submission"]["descriptor_map"],
        json!([])
    );
    assert_eq!(
        verify_with(&resp.vp_token, &holder_jwk)["vp"]["verifiableCredential"],
        json!([cred.jwt])
    );
    assert_eq!(
        UnverifiedJws::parse(&resp.id_token)
            .unwrap()
            .header()
            .kid
            .as_deref(),
        Some("did:web:elsewhere.example#k")
    );

    // Each build gets a fresh vp jti.
    let a = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    let b = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    assert_ne!(payload(&a.vp_token)["jti"], payload(&b.vp_token)["jti"]);
}

#[tokio::test]
async fn present_end_to_end_and_its_refusals() {
    let fx = Fx::new().await;
    fx.issue("req-1", TYPE).await;
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE], Some(&fx.did)),
    );
    fx.sink.route("/v1.0/responses/pres-1", Reply::empty(204));
    let done = fx.wallet.present(&fx.offer("pres-1")).await.unwrap();
    assert_eq!(done.status, 204);
    assert_eq!(done.holder, fx.wallet.did());
    assert_eq!(done.descriptors, vec![TYPE]);
    assert_eq!(fx.sink.captured_at("/v1.0/responses/pres-1").len(), 1);

    // An issuer outside acceptedIssuers: nothing matches, nothing is sent.
    fx.serve_request(
        "pres-2",
        &presentation_request(&fx, "pres-2", &[TYPE], Some("^did:web:partner\\.example$")),
    );
    let err = fx.wallet.present(&fx.offer("pres-2")).await.unwrap_err();
    assert_eq!(err.code(), "WALLET-024");
    assert!(err.to_string().contains(TYPE), "{err}");
    assert!(fx.sink.captured_at("/v1.0/responses/pres-2").is_empty());

    // Two types requested, one held: refused, naming the missing one.
    fx.serve_request(
        "pres-3",
        &presentation_request(&fx, "pres-3", &[TYPE, "BuildingAccess"], None),
    );
    let err = fx.wallet.present(&fx.offer("pres-3")).await.unwrap_err();
    assert_eq!(err.code(), "WALLET-024");
    assert!(err.to_string().contains("BuildingAccess"), "{err}");

    // Once both are held, both are presented under one holder.
    let access = fx.issue("req-2", "BuildingAccess").await;
    let session = PresentationSession::start(&fx.wallet, &fx.offer("pres-3"))
        .await
        .unwrap();
    let resp = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    assert_eq!(resp.credentials.len(), 2);
    assert_eq!(resp.credentials[1], access.jwt);
    let map = &payload(&resp.id_token)["_vp_token"]["presentation_submission"]["descriptor_map"];
    assert_eq!(map[1]["id"], "BuildingAccess");
    assert_eq!(map[1]["path_nested"]["path"], "$.verifiableCredential[1]");

    // The verifier refuses: its error is surfaced.
    fx.sink.route(
        "/v1.0/responses/pres-1",
        Reply::json(
            400,
            &json!({"error": {"code": "badRequest", "message": "bad",
            "innererror": {"code": "tokenError", "message": "nonce mismatch"}}}),
        ),
    );
    let err = fx.wallet.present(&fx.offer("pres-1")).await.unwrap_err();
    let s = err.server_error().unwrap();
    assert_eq!(
        (s.status, s.inner_code.as_deref()),
        (400, Some("tokenError"))
    );

    // An issuance request is not a presentation request.
    fx.serve_issuance("req-3", TYPE);
    let err = fx.wallet.present(&fx.offer("req-3")).await.unwrap_err();
    assert_eq!(err.code(), "WALLET-023");
}

#[tokio::test]
async fn expired_credentials_and_other_holders_are_not_selected() {
    let fx = Fx::new().await;
    // Issued for the first DID, then a second DID becomes active.
    let first = fx.issue("req-1", TYPE).await;
    let second = fx
        .wallet
        .add_key(Algorithm::ES256K, DidMethod::Key)
        .unwrap();
    fx.wallet.set_active(&second).unwrap();
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE], None),
    );
    let session = PresentationSession::start(&fx.wallet, &fx.offer("pres-1"))
        .await
        .unwrap();
    // The credential still matches and is presented by the DID it is bound to.
    let resp = session
        .build_response(&PresentationOptions::default())
        .unwrap();
    assert_eq!(resp.holder, first.subject);
    let holder_jwk = fx.wallet.public_jwk(Some(&first.subject)).unwrap();
    assert_eq!(
        verify_with(&resp.vp_token, &holder_jwk)["iss"],
        first.subject
    );

    // An expired credential is never offered.
    let mut vc = fx.vc(TYPE, &second);
    vc["exp"] = (NOW + 10).into();
    fx.serve_issuance("req-2", TYPE);
    fx.serve_vc_token(&fx.sign(&vc));
    let opts = ReceiveOptions {
        pin: Some(PIN.into()),
        ..ReceiveOptions::default()
    };
    fx.wallet.receive(&fx.offer("req-2"), opts).await.unwrap();
    assert_eq!(fx.wallet.credentials().len(), 2);
    let later = fx.wallet.credentials()[1].clone();
    assert_eq!(later.subject, second);
    let clock = ManualClock::new(DateTime::from_timestamp(NOW + 20, 0).unwrap());
    let config = WalletConfig::local_development().with_clock(Arc::new(clock));
    let reopened = Wallet::open_with_config(fx.wallet.path().parent().unwrap(), config).unwrap();
    fx.serve_request("pres-2", &{
        let mut r = presentation_request(&fx, "pres-2", &[TYPE], None);
        r["iat"] = (NOW + 20).into();
        r
    });
    let session = PresentationSession::start(&reopened, &fx.offer("pres-2"))
        .await
        .unwrap();
    let candidates = &session.select_credentials()[0].candidates;
    assert_eq!(candidates, &vec![first]);
}

#[tokio::test]
async fn transport_size_and_resolution_failures_have_their_own_codes() {
    let fx = Fx::new().await;
    // Nothing listens on port 1.
    let err = fx
        .wallet
        .receive(
            "openid-vc://?request_uri=http://127.0.0.1:1/v1.0/requests/x",
            ReceiveOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-009", "{err}");

    // A response larger than the configured limit.
    fx.serve_issuance("req-1", TYPE);
    let mut config = WalletConfig::local_development();
    config.max_response_bytes = 100;
    let dir = tempfile::tempdir().unwrap();
    let small =
        Wallet::create_with_config(dir.path(), Algorithm::EdDSA, DidMethod::Jwk, config).unwrap();
    let err = small
        .receive(&fx.offer("req-1"), ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-010", "{err}");

    // A client_id whose did.json is not published.
    let ghost = did_web_from_parts(
        &fx.sink.base().replace("http://127.0.0.1", "localhost"),
        &[],
    );
    let mut claims = fx.issuance_request("req-9");
    claims["iss"] = ghost.clone().into();
    claims["client_id"] = ghost.clone().into();
    fx.serve_request_token(
        "req-9",
        &sign_request_as(&fx.authority, &format!("{ghost}#key-1"), &claims),
    );
    let err = fx
        .wallet
        .receive(&fx.offer("req-9"), ReceiveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET-014", "{err}");
    assert!(err.to_string().contains(&ghost), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn credentials_bound_to_different_holders_cannot_be_presented_together() {
    let fx = Fx::new().await;
    fx.issue("req-1", TYPE).await;
    let second = fx.wallet.add_key(Algorithm::ES256, DidMethod::Jwk).unwrap();
    fx.wallet.set_active(&second).unwrap();
    fx.issue("req-2", "BuildingAccess").await;
    fx.serve_request(
        "pres-1",
        &presentation_request(&fx, "pres-1", &[TYPE, "BuildingAccess"], None),
    );
    let err = fx.wallet.present(&fx.offer("pres-1")).await.unwrap_err();
    assert_eq!(err.code(), "WALLET-025", "{err}");
    assert!(err.to_string().contains(&second), "{err}");
}
