//! Interop: `did-jwt-vc` 4.0.16 with `did-resolver` 4.1.0 and `web-did-resolver` 2.0.32 (an
//! independent JWT-VC and did:web implementation, pinned in `tests/interop/package-lock.json`)
//! resolve the did:web DIDs Verity serves over https and verify the JWT-VCs it issues to the
//! reference wallet, and the wallet's presentations. Where the library and Verity disagree, the
//! tests pin both behaviours (docs/STANDARDS.md, "Interop: did-jwt-vc / did-resolver /
//! web-did-resolver"). Without Node or `npm ci` in `tests/interop` these tests print a note and
//! pass, unless VERITY_TEST_REQUIRE_INTEROP=1.
//!
//! Two replicas of the real app share one fresh database: the issuer's public face serves https
//! on a loopback port with a certificate from a test CA (given to Node as NODE_EXTRA_CA_CERTS),
//! so its first authority is `did:web:localhost%3A<port>` and web-did-resolver reaches it as it
//! would any https host; the second replica serves plain http to the reference wallet, whose own
//! HTTP client trusts only public roots. The wallet resolves the issuer over https with the test
//! CA. Nothing leaves the machine: every server binds 127.0.0.1, and the Node script refuses
//! did:web hosts other than localhost, 127.0.0.0/8 and [::1].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Clock;
use verity_did::{DidDocument, DidError, DidResolver, DidWeb, KeyResolver};
use verity_jose::{Algorithm, Header, KeyEncryptionKey, SigningKey, UnverifiedJws, sign_compact};
use verity_server::config::TlsConfig;
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, env_for_app};
use verity_tests::presentation::{
    EXPERT, contract_for, create_authority, issue_to, new_presentation, payload_of,
    presentation_body, requested,
};
use verity_tests::{Backend, TestApp, both_backends, enc, start, test_config};
use verity_wallet::{PresentationOptions, PresentationResponse, PresentationSession};

both_backends!(
    web_did_resolver_reads_the_did_documents_verity_serves,
    did_jwt_vc_verifies_the_jwt_vcs_verity_issues,
    tampered_credentials_and_withdrawn_or_unknown_keys_are_refused,
    did_jwt_vc_ignores_the_kid_that_verity_requires,
    did_jwt_vc_verifies_wallet_presentations_but_neither_their_credentials_nor_status,
);

/// Whether Node and the three libraries are installed (`verity_tests::interop::available`).
fn available() -> bool {
    verity_tests::interop::available(&["did-jwt-vc", "did-resolver", "web-did-resolver"])
}

/// A test CA and a server certificate it signed for `localhost` and `127.0.0.1`.
struct TestPki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn test_pki() -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Verity interop test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: server_cert.pem(),
        key_pem: server_key.serialize_pem(),
    }
}

/// An HTTP client that trusts the test CA (and nothing else is needed: every host is loopback).
fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The wallet's resolver: did:web over https with the test CA (the wallet's own client trusts
/// only public roots), did:jwk and did:key locally.
#[derive(Debug)]
struct HttpsDidWeb {
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl DidResolver for HttpsDidWeb {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        if !did.starts_with("did:web:") {
            return KeyResolver.resolve(did).await;
        }
        let url = DidWeb::parse(did)?.document_url(&|_| false)?;
        let resp = self.http.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        DidDocument::from_json_value(resp.json().await.unwrap())
    }
}

/// The two replicas, the wallet and the test CA.
struct Interop {
    /// The issuer's public face: https on a loopback port; admin calls go here.
    tls: TestApp,
    /// The replica the wallet and the API client use (plain http), with the recording RP and a
    /// wallet that resolves the issuer over https.
    env: IssuanceEnv,
    /// The first authority, `did:web:localhost%3A<https port>` (ES256).
    issuer: String,
    /// Keeps the CA file for Node alive.
    _ca_dir: tempfile::TempDir,
    ca_path: PathBuf,
}

async fn interop(backend: Backend) -> Option<Interop> {
    let db = Arc::new(verity_store::testing::fresh_database(backend).await?);
    let pki = test_pki();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_path = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_path, &pki.ca_pem).unwrap();

    // The https replica starts first, so the first authority lives on its host.
    let tls_dir = Arc::new(tempfile::tempdir().unwrap());
    let cert_path = tls_dir.path().join("cert.pem");
    let key_path = tls_dir.path().join("key.pem");
    std::fs::write(&cert_path, &pki.cert_pem).unwrap();
    std::fs::write(&key_path, &pki.key_pem).unwrap();
    let mut config = test_config(&db.url, tls_dir.path());
    config.server.tls = Some(TlsConfig {
        cert_path,
        key_path,
    });
    let mut tls = start(config.clone(), db.clone(), tls_dir).await.unwrap();
    tls.url = format!("https://localhost:{}", tls.port);
    tls.http = https_client(&pki.ca_pem);
    let issuer = tls.first_did();
    assert_eq!(issuer, format!("did:web:localhost%3A{}", tls.port));

    // The wallet's replica: the same database, KEK and admin token, plain http.
    let http_dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config;
    config.server.tls = None;
    config.server.data_dir = http_dir.path().to_owned();
    allow_local_callbacks(&mut config);
    let app = start(config, db, http_dir).await.unwrap();
    let IssuanceEnv {
        app,
        rp,
        token,
        wallet,
        wallet_dir,
        ..
    } = env_for_app(app, Algorithm::EdDSA).await;
    let wallet = wallet.with_resolver(Arc::new(HttpsDidWeb {
        http: https_client(&pki.ca_pem),
    }));
    Some(Interop {
        tls,
        env: IssuanceEnv {
            app,
            rp,
            token,
            authority: issuer.clone(),
            wallet,
            wallet_dir,
        },
        issuer,
        _ca_dir: ca_dir,
        ca_path,
    })
}

impl Interop {
    /// Runs `node did-jwt-vc.mjs <command>` with `input`; returns its JSON answer.
    async fn js(&self, command: &str, input: &Value) -> Value {
        let ca = self.ca_path.display().to_string();
        verity_tests::interop::Node {
            // The servers listen on 127.0.0.1; `localhost` must not be tried as ::1 first.
            flags: &["--dns-result-order=ipv4first"],
            env: &[("NODE_EXTRA_CA_CERTS", &ca)],
        }
        .run("did-jwt-vc.mjs", command, input)
        .await
    }

    /// The apps' time (both replicas start at the test epoch and never move).
    fn now(&self) -> i64 {
        self.env.app.clock.unix()
    }

    /// web-did-resolver's resolution of `did`.
    async fn resolve_js(&self, did: &str) -> Value {
        self.js("resolve", &json!({ "did": did })).await
    }

    /// did-jwt-vc's `verifyCredential` of `jwt` at the apps' time.
    async fn verify_js(&self, jwt: &str) -> Value {
        self.js(
            "verify-credential",
            &json!({ "jwt": jwt, "now": self.now() }),
        )
        .await
    }

    /// The DID document the https replica serves at `path`, and its Content-Type.
    async fn served(&self, path: &str) -> (Value, String) {
        let resp = self
            .tls
            .http
            .get(format!("{}{path}", self.tls.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (resp.json().await.unwrap(), content_type)
    }

    /// A contract of `authority` issuing `vc_type`; returns its id.
    async fn contract(&self, authority: &str, id: &str, vc_type: &str) -> String {
        let mut c = contract_for(authority, id, vc_type);
        c["name"] = json!(id);
        self.env.create_contract(c).await
    }

    /// A JWT-VC of `contract` (of `authority`) issued to the wallet through the hosted flow.
    async fn issue(&self, authority: &str, contract: &str, given_name: &str) -> String {
        issue_to(
            &self.env,
            &self.env.wallet,
            authority,
            contract,
            given_name,
            |_| {},
        )
        .await
    }

    /// A new presentation request of the first authority for `vc_type` from `issuer`, the
    /// wallet's session on it, and the response (id_token, vp_token) presenting `vc`, unsent.
    async fn presentation(
        &self,
        vc: &str,
        vc_type: &str,
        issuer: &str,
    ) -> (PresentationSession<'_>, PresentationResponse) {
        let body = presentation_body(&self.env, vec![requested(vc_type, &[issuer])]);
        let (_, url) = new_presentation(&self.env, &body).await;
        let session = PresentationSession::start(&self.env.wallet, &url)
            .await
            .unwrap();
        let response = session
            .build_response(&PresentationOptions {
                credentials: vec![vc.to_owned()],
                ..Default::default()
            })
            .unwrap();
        (session, response)
    }

    /// Verity's verifier on `vc`: presented by the wallet to a new request; Ok with the answer,
    /// or Err with the refusal's message (ending in its `PRES-0xx` code).
    async fn verity_verdict(&self, vc: &str, vc_type: &str, issuer: &str) -> Result<Value, String> {
        let (session, r) = self.presentation(vc, vc_type, issuer).await;
        submit(&session, &r).await
    }

    /// The active signing key of `did`, unsealed from the store with the KEK, and its full kid.
    async fn authority_key(&self, did: &str) -> (SigningKey, String) {
        let store = &self.tls.app_state().store;
        let authority = store.authority_by_did(did).await.unwrap().unwrap();
        let record = store.active_key(authority.id).await.unwrap().unwrap();
        let kek =
            KeyEncryptionKey::from_base64(self.tls.config.keys.kek.as_ref().unwrap().expose())
                .unwrap();
        let secret = kek
            .open(record.id.as_bytes(), &record.private_key_enc)
            .unwrap();
        let alg: Algorithm = record.alg.parse().unwrap();
        (
            SigningKey::from_secret_bytes(alg, &secret).unwrap(),
            format!("{did}#{}", record.kid),
        )
    }
}

/// POSTs a built presentation response; Ok with the answer, Err with the refusal message.
async fn submit(
    session: &PresentationSession<'_>,
    r: &PresentationResponse,
) -> Result<Value, String> {
    let (status, answer) = session
        .submit(&r.id_token, &r.vp_token, &r.state)
        .await
        .unwrap();
    match status {
        200 => Ok(answer),
        400 => Err(answer["error"]["innererror"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_owned()),
        other => panic!("unexpected answer {other}: {answer}"),
    }
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    UnverifiedJws::parse(jwt)
        .unwrap()
        .header()
        .kid
        .clone()
        .unwrap()
}

/// `payload` signed by `key`, with `kid` (or none) in a `typ: JWT` header.
fn sign(key: &SigningKey, kid: Option<&str>, payload: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = kid.map(str::to_owned);
    header.typ = Some("JWT".into());
    sign_compact(key, &header, payload.to_string().as_bytes()).unwrap()
}

/// `jwt` with one byte of its payload changed (the first `needle` becomes `replacement`, which
/// differs from it in one byte), header and signature kept.
fn tamper(jwt: &str, needle: &str, replacement: &str) -> String {
    assert_eq!(needle.len(), replacement.len());
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let at = payload
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    let changed: Vec<usize> = needle
        .bytes()
        .zip(replacement.bytes())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(changed.len(), 1, "exactly one byte changes");
    payload[at..at + needle.len()].copy_from_slice(replacement.as_bytes());
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(&payload),
        parts[2]
    )
}

/// Asserts a refusal by the library and returns its message.
fn refused(answer: &Value) -> String {
    assert_eq!(answer["ok"], false, "the library accepted: {answer}");
    answer["error"].as_str().unwrap().to_owned()
}

/// Asserts Verity's verifier refused with `code`.
fn verity_refused(verdict: Result<Value, String>, code: &str) {
    let message = verdict.expect_err("Verity's verifier accepted");
    assert!(
        message.ends_with(&format!("({code})")),
        "{code} in {message}"
    );
}

/// Milliseconds since the epoch of an RFC 3339 date-time.
fn instant(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{v}")))
        .unwrap()
        .timestamp_millis()
}

// ---------------------------------------------------------------------------------------------

async fn web_did_resolver_reads_the_did_documents_verity_serves(backend: Backend) {
    if !available() {
        return;
    }
    let Some(it) = interop(backend).await else {
        return;
    };
    let port = it.tls.port;

    // The port-qualified root DID: https://localhost:<port>/.well-known/did.json.
    let (served, content_type) = it.served("/.well-known/did.json").await;
    assert_eq!(content_type, "application/did+json");
    let js = it.resolve_js(&it.issuer).await;
    assert_eq!(js["ok"], true, "{js}");
    assert_eq!(
        js["didDocument"], served,
        "web-did-resolver sees what Verity serves"
    );
    assert_eq!(js["didDocument"]["id"], it.issuer);
    // web-did-resolver labels the document by its @context, not by the served Content-Type.
    assert!(served.get("@context").is_some());
    assert_eq!(
        js["didResolutionMetadata"]["contentType"],
        "application/did+ld+json"
    );

    // Path DIDs on the same host, with the other two signing algorithms:
    // did:web:localhost%3A<port>:issuers:<name> -> https://localhost:<port>/issuers/<name>/did.json.
    for (path, alg, crv) in [
        ("issuers/secp", Algorithm::ES256K, "secp256k1"),
        ("issuers/ed", Algorithm::EdDSA, "Ed25519"),
    ] {
        let did = create_authority(&it.tls, path, path, alg).await;
        assert_eq!(
            did,
            format!("did:web:localhost%3A{port}:{}", path.replace('/', ":"))
        );
        let (served, _) = it.served(&format!("/{path}/did.json")).await;
        let js = it.resolve_js(&did).await;
        assert_eq!(js["ok"], true, "{js}");
        assert_eq!(js["didDocument"], served);
        assert_eq!(
            js["didDocument"]["verificationMethod"][0]["publicKeyJwk"]["crv"],
            crv
        );
    }

    // A DID the service does not have: the server's 404 is the library's notFound.
    let js = it
        .resolve_js(&format!("did:web:localhost%3A{port}:nobody"))
        .await;
    assert_eq!(js["ok"], false);
    assert_eq!(js["didResolutionMetadata"]["error"], "notFound");
    assert!(
        js["didResolutionMetadata"]["message"]
            .as_str()
            .unwrap()
            .contains("Bad response"),
        "{js}"
    );

    // An IP-literal did:web. The did:web method spec says the method-specific identifier MUST
    // NOT include IP addresses: Verity refuses the DID (no authority can be created for it, and
    // its resolver calls it invalid) ...
    let ip_did = format!("did:web:127.0.0.1%3A{port}");
    let (status, body) = it
        .tls
        .admin(
            Method::POST,
            "/authorities",
            Some(json!({ "name": "ip", "did": ip_did })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("IP address"),
        "{body}"
    );
    let (status, body) = it
        .tls
        .admin(Method::GET, &format!("/dids/{}", enc(&ip_did)), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["code"], "invalidDid", "{body}");
    // ... while web-did-resolver accepts it and fetches https://127.0.0.1:<port>/.well-known/
    // did.json (TLS to the IP succeeds; the server answers 404 because it serves no such DID).
    let js = it.resolve_js(&ip_did).await;
    assert_eq!(js["ok"], false);
    let message = js["didResolutionMetadata"]["message"].as_str().unwrap();
    assert!(
        message.contains("Bad response"),
        "web-did-resolver made the request: {js}"
    );
}

async fn did_jwt_vc_verifies_the_jwt_vcs_verity_issues(backend: Backend) {
    if !available() {
        return;
    }
    let Some(it) = interop(backend).await else {
        return;
    };
    let holder = it.env.wallet.did();
    let contract = it.contract(&it.issuer, "expert", EXPERT).await;
    let vc = it.issue(&it.issuer, &contract, "Megan").await;
    let payload = payload_of(&vc);

    let js = it.verify_js(&vc).await;
    assert_eq!(js["ok"], true, "{js}");
    assert_eq!(js["issuer"], it.issuer);
    assert_eq!(
        js["signer"],
        kid_of(&vc),
        "the key the header names verified it"
    );
    let (served, _) = it.served("/.well-known/did.json").await;
    assert_eq!(js["didDocument"], served);
    assert_eq!(js["payload"], payload);
    // VC Data Model 1.1 section 6.3.1 (JWT decoding): iss -> issuer, sub -> credentialSubject.id,
    // jti -> id, nbf -> issuanceDate, exp -> expirationDate; `vc` members move to the top level.
    let w3c = &js["verifiableCredential"];
    assert_eq!(w3c["issuer"]["id"], it.issuer);
    assert_eq!(w3c["credentialSubject"]["id"], holder);
    assert_eq!(w3c["credentialSubject"]["givenName"], "Megan");
    assert_eq!(w3c["credentialSubject"]["familyName"], "Bowen");
    assert_eq!(w3c["id"], payload["jti"]);
    assert_eq!(w3c["type"], json!(["VerifiableCredential", EXPERT]));
    assert_eq!(
        w3c["@context"],
        json!(["https://www.w3.org/2018/credentials/v1"])
    );
    assert_eq!(w3c["credentialStatus"], payload["vc"]["credentialStatus"]);
    assert_eq!(
        instant(&w3c["issuanceDate"]),
        payload["nbf"].as_i64().unwrap() * 1000
    );
    assert_eq!(
        instant(&w3c["issuanceDate"]),
        instant(&payload["vc"]["issuanceDate"]),
        "our vc.issuanceDate says what nbf says"
    );
    assert_eq!(
        instant(&w3c["expirationDate"]),
        instant(&payload["vc"]["expirationDate"])
    );
    assert_eq!(
        instant(&w3c["expirationDate"]),
        payload["exp"].as_i64().unwrap() * 1000
    );
    // We state issuer and dates both as JWT claims and inside `vc` (section 6.3.1: "instead of,
    // or in addition to"); the library decodes the claims and leaves our copies in a `vc`
    // member, unread.
    assert_eq!(
        w3c["vc"],
        json!({
            "issuer": payload["vc"]["issuer"],
            "issuanceDate": payload["vc"]["issuanceDate"],
            "expirationDate": payload["vc"]["expirationDate"],
        })
    );

    // Restricted to assertionMethod keys (DID Core: the relationship for issuing credentials).
    let js = it
        .js(
            "verify-credential",
            &json!({ "jwt": vc, "now": it.now(), "proofPurpose": "assertionMethod" }),
        )
        .await;
    assert_eq!(js["ok"], true, "{js}");

    // Outside its validity the library refuses it, as Verity does.
    let exp = payload["exp"].as_i64().unwrap();
    let late = it
        .js(
            "verify-credential",
            &json!({ "jwt": vc, "now": exp + 3600 }),
        )
        .await;
    assert!(refused(&late).contains("expired"), "{late}");
    let nbf = payload["nbf"].as_i64().unwrap();
    let early = it
        .js(
            "verify-credential",
            &json!({ "jwt": vc, "now": nbf - 3600 }),
        )
        .await;
    assert!(refused(&early).contains("nbf"), "{early}");

    // ES256K and EdDSA authorities on path DIDs.
    for (path, alg) in [
        ("issuers/secp", Algorithm::ES256K),
        ("issuers/ed", Algorithm::EdDSA),
    ] {
        let did = create_authority(&it.tls, path, path, alg).await;
        let contract = it
            .contract(
                &did,
                &format!("expert-{}", alg.as_str().to_ascii_lowercase()),
                EXPERT,
            )
            .await;
        let vc = it.issue(&did, &contract, "Alex").await;
        assert_eq!(
            UnverifiedJws::parse(&vc).unwrap().header().alg,
            alg.as_str()
        );
        let js = it.verify_js(&vc).await;
        assert_eq!(js["ok"], true, "{alg:?}: {js}");
        assert_eq!(js["issuer"], did);
        assert_eq!(js["signer"], kid_of(&vc));
        assert_eq!(
            js["verifiableCredential"]["credentialSubject"]["id"],
            holder
        );
    }

    // Verity's own verifier accepts the first one too.
    it.verity_verdict(&vc, EXPERT, &it.issuer).await.unwrap();
}

async fn tampered_credentials_and_withdrawn_or_unknown_keys_are_refused(backend: Backend) {
    if !available() {
        return;
    }
    let Some(it) = interop(backend).await else {
        return;
    };
    let contract = it.contract(&it.issuer, "expert", EXPERT).await;
    let vc0 = it.issue(&it.issuer, &contract, "Megan").await;
    let kid0 = kid_of(&vc0);
    assert_eq!(it.verify_js(&vc0).await["ok"], true);

    // One byte of the payload changed ("Megan" -> "Megen"): both refuse.
    let tampered = tamper(&vc0, "\"Megan\"", "\"Megen\"");
    assert_eq!(
        payload_of(&tampered)["vc"]["credentialSubject"]["givenName"],
        "Megen"
    );
    let js = it.verify_js(&tampered).await;
    assert!(refused(&js).contains("invalid_signature"), "{js}");
    verity_refused(
        it.verity_verdict(&tampered, EXPERT, &it.issuer).await,
        "PRES-036",
    );

    // The same claims signed by a key the issuer never published, under the issuer's kid.
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let forged = sign(&stranger, Some(&kid0), &payload_of(&vc0));
    let js = it.verify_js(&forged).await;
    assert!(refused(&js).contains("invalid_signature"), "{js}");
    verity_refused(
        it.verity_verdict(&forged, EXPERT, &it.issuer).await,
        "PRES-036",
    );

    // Key rotation: the old key is retiring, still published, and its credentials still verify.
    let (status, _) = it
        .tls
        .admin(
            Method::POST,
            &format!("/authorities/{}/keys/rotate", enc(&it.issuer)),
            None,
        )
        .await;
    assert!(status == 200 || status == 201, "rotate: {status}");
    let (status, keys) = it
        .tls
        .admin(
            Method::GET,
            &format!("/authorities/{}/keys", enc(&it.issuer)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{keys}");
    let old = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| format!("{}#{}", it.issuer, k["kid"].as_str().unwrap()) == kid0)
        .unwrap()
        .clone();
    assert_eq!(old["state"], "retiring");
    let js = it.verify_js(&vc0).await;
    assert_eq!(js["ok"], true, "{js}");
    assert_eq!(js["signer"], kid0);
    let vc1 = it.issue(&it.issuer, &contract, "Alex").await;
    let kid1 = kid_of(&vc1);
    assert_ne!(kid1, kid0, "the new key signs");
    assert_eq!(it.verify_js(&vc1).await["signer"], kid1);

    // The old key is revoked: withdrawn from the DID document, so its credentials are refused
    // by both; the new key's still verify.
    let (status, body) = it
        .tls
        .admin(
            Method::POST,
            &format!("/keys/{}/revoke", old["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "revoke: {status} {body}");
    let doc = it.resolve_js(&it.issuer).await;
    let methods: Vec<&str> = doc["didDocument"]["verificationMethod"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(methods, vec![kid1.as_str()], "{doc}");
    let js = it.verify_js(&vc0).await;
    assert!(refused(&js).contains("invalid_signature"), "{js}");
    verity_refused(
        it.verity_verdict(&vc0, EXPERT, &it.issuer).await,
        "PRES-035",
    );
    let js = it.verify_js(&vc1).await;
    assert_eq!(js["ok"], true, "{js}");
    it.verity_verdict(&vc1, EXPERT, &it.issuer).await.unwrap();
}

async fn did_jwt_vc_ignores_the_kid_that_verity_requires(backend: Backend) {
    if !available() {
        return;
    }
    let Some(it) = interop(backend).await else {
        return;
    };
    let contract = it.contract(&it.issuer, "expert", EXPERT).await;
    let vc = it.issue(&it.issuer, &contract, "Megan").await;
    let (key, kid) = it.authority_key(&it.issuer).await;
    assert_eq!(kid, kid_of(&vc));
    // The issuer's own key signs exactly the claims it issued, so only the header differs.
    assert_eq!(
        it.verify_js(&sign(&key, Some(&kid), &payload_of(&vc)))
            .await["ok"],
        true
    );

    // A kid naming no key of the DID document, and no kid at all. VC Data Model 1.1 section
    // 6.3.1: "kid MAY be used ... The key discovery is out of the scope of this specification":
    // did-jwt-vc tries every key of `iss` and accepts; Verity requires the kid to name a key
    // listed under the issuer's assertionMethod and refuses.
    let unknown_kid = format!("{}#key-not-in-the-document", it.issuer);
    let wrong_kid = sign(&key, Some(&unknown_kid), &payload_of(&vc));
    let js = it.verify_js(&wrong_kid).await;
    assert_eq!(js["ok"], true, "did-jwt-vc ignores the kid: {js}");
    assert_eq!(js["signer"], kid, "it found the key by trying them all");
    verity_refused(
        it.verity_verdict(&wrong_kid, EXPERT, &it.issuer).await,
        "PRES-035",
    );

    let no_kid = sign(&key, None, &payload_of(&vc));
    let js = it.verify_js(&no_kid).await;
    assert_eq!(js["ok"], true, "did-jwt-vc needs no kid: {js}");
    verity_refused(
        it.verity_verdict(&no_kid, EXPERT, &it.issuer).await,
        "PRES-033",
    );
}

async fn did_jwt_vc_verifies_wallet_presentations_but_neither_their_credentials_nor_status(
    backend: Backend,
) {
    if !available() {
        return;
    }
    let Some(it) = interop(backend).await else {
        return;
    };
    let holder = it.env.wallet.did();
    let contract = it.contract(&it.issuer, "expert", EXPERT).await;
    let vc = it.issue(&it.issuer, &contract, "Megan").await;

    // The wallet's vp_token: the library verifies the holder's signature (did:jwk), `nonce`
    // (challenge) and `aud` (domain); each credential inside is checked separately.
    let (session, r) = it.presentation(&vc, EXPERT, &it.issuer).await;
    let nonce = session.request().nonce.clone();
    let client_id = session.request().client_id.clone();
    assert_eq!(client_id, it.issuer, "the verifier is the first authority");
    let verify_vp = |jwt: &str, challenge: &str, domain: &str| json!({ "jwt": jwt, "now": it.now(), "challenge": challenge, "domain": domain });
    let js = it
        .js(
            "verify-presentation",
            &verify_vp(&r.vp_token, &nonce, &client_id),
        )
        .await;
    assert_eq!(js["ok"], true, "{js}");
    assert_eq!(js["verifiablePresentation"]["holder"], holder);
    assert_eq!(js["verifiablePresentation"]["verifier"], json!([client_id]));
    assert_eq!(js["signer"], kid_of(&r.vp_token));
    assert_eq!(js["credentials"][0]["ok"], true, "{js}");
    assert_eq!(js["credentials"][0]["issuer"], it.issuer);
    // Another challenge or another audience is refused.
    let js = it
        .js(
            "verify-presentation",
            &verify_vp(&r.vp_token, "other-nonce", &client_id),
        )
        .await;
    assert!(refused(&js).contains("challenge"), "{js}");
    let js = it
        .js(
            "verify-presentation",
            &verify_vp(&r.vp_token, &nonce, "did:web:other.example"),
        )
        .await;
    // did-jwt names this error `invalid_config` (its INVALID_AUDIENCE prefix).
    assert!(refused(&js).contains("audience does not match"), "{js}");
    // Verity verifies the same answer.
    submit(&session, &r).await.unwrap();

    // A well-signed presentation of a tampered credential: verifyPresentation does not look
    // inside (the careful caller's verifyCredential does); Verity refuses the presentation.
    let tampered = tamper(&vc, "\"Megan\"", "\"Megen\"");
    let (session, r) = it.presentation(&tampered, EXPERT, &it.issuer).await;
    let nonce = session.request().nonce.clone();
    let js = it
        .js(
            "verify-presentation",
            &verify_vp(&r.vp_token, &nonce, &client_id),
        )
        .await;
    assert_eq!(js["ok"], true, "verifyPresentation alone accepts it: {js}");
    assert!(
        refused(&js["credentials"][0]).contains("invalid_signature"),
        "{js}"
    );
    verity_refused(submit(&session, &r).await, "PRES-036");

    // A revoked credential: did-jwt-vc does not read credentialStatus (it has no status-list
    // support), so the presentation and the credential verify; Verity reads its status list
    // and refuses.
    let jti = payload_of(&vc)["jti"].clone();
    let (status, body) = it
        .env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": jti })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["status"], "REVOKED");
    assert_eq!(
        it.verify_js(&vc).await["ok"],
        true,
        "the library cannot tell"
    );
    let (session, r) = it.presentation(&vc, EXPERT, &it.issuer).await;
    let nonce = session.request().nonce.clone();
    let js = it
        .js(
            "verify-presentation",
            &verify_vp(&r.vp_token, &nonce, &client_id),
        )
        .await;
    assert_eq!(js["ok"], true, "{js}");
    assert_eq!(js["credentials"][0]["ok"], true, "{js}");
    assert!(
        js["credentials"][0]["verifiableCredential"]["credentialStatus"]["statusListCredential"]
            .is_string(),
        "the status entry is there, unread: {js}"
    );
    verity_refused(submit(&session, &r).await, "PRES-043");
}
