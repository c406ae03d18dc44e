//! `OidcClient` against a loopback stand-in OpenID provider. The stand-in serves discovery,
//! the key set, an authorization endpoint (which redirects with a code, or with an error)
//! and the token endpoint, which checks the token request as a provider would (grant type,
//! single-use code, redirect URI, PKCE S256 against the challenge it saw, client
//! authentication) and answers with an id_token it signs: RS256 with a fixed test key,
//! ES256 and EdDSA with keys generated per test. Time comes from a `ManualClock` shared by
//! the stand-in and the client; nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;
use verity_core::{Clock, ManualClock, Secret};
use verity_helpdesk::oidc::{
    OidcClient, OidcConfig, OidcError, OidcIdentity, PendingLogin, callback_error,
};

const TENANT: &str = "tenant-1";
const CLIENT: &str = "helpdesk-portal";
/// Holds characters that form encoding changes (RFC 6749 2.3.1 encodes before Basic).
const SECRET: &str = "s3cr:t/+&= value";
const REDIRECT: &str = "http://127.0.0.1:8080/portal/oidc/callback";
const UPN: &str = "alex@contoso.example";
const SUBJECT: &str = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ";

/// A 2048-bit RSA key (PKCS#8 DER, base64), generated once with `openssl genpkey` for these
/// tests only.
const RSA_PKCS8: &str = concat!(
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDDCGE1qtHbJScIjcojUR8Td2Exg5LFt8EBe2kFHa4w",
    "QKq22V+KEsmNcx2BbAU9EXKdOlBDpenSHUL5Q327pNIc814Mfje6fFBlebSYjM8k3eaQqCi98GihjtG6cpgR02cPcLw1",
    "JSyuWmGKuy//AmIguJrT/JYsDCrTy1HP/aEwdefBefdDLm0A3uxZ7ISNepO9JVApnbcGf/K/MJaBwklQfCFnzBtOJOsu",
    "rhgah2UmToXxpdU2ZWtNVwd3LRKvNVVAJNM/2B9xMKJ3upQ77UOmi0kzE7Dg7ax26wMkAe1Bsu++TU91G8OmQQUcTfhN",
    "SlUYm1cRqcPN3cGTh7+vqp71AgMBAAECggEAAgxle6XRUcbrHl424Etq0yPZg9FI9QYADfRDicfiW3liZvc+LKS+idt1",
    "VOBTPG1MJzXvP+FPOmNk9QSYySQVsjN61RDCTxVygWOs2j6oXPpuVdieTO290OyUwVY7c1HQGaEVKPhnUWbQ8sm9MFAl",
    "wwg4ABVSvSBc7B/iOm1Z3bi/8D+0y1aKJg/Bin5g5I3ZlFu8eAIzLFr5pECy8ItZOkotN//QZk68p7kwtE0ldnT9rW+L",
    "1V0dktTf5dpaNfgH1PyhuS6syw6CGqxQo+DroZJ5B29mgQMUmDnaovpO8Af4I59eciLUj4Fj4Gr+eqsafu2uQoU6ywlR",
    "qhFDgfjB5QKBgQDoIH6nuX3ImyOgnqTKsEgzw/MIxtNxsBWEt6ZmsSxWu91WlPZyi8kzDIaLa7Q97CyWVOKB5/GParUn",
    "1YmnciRGCP03/C+hIuPoe9HNJHB6BnKeUMD4z2J2UDFsHpng8EBvVv/zn1wDw/h0/OyRReziH2aNHWe29iyXD3hVHYvH",
    "PwKBgQDXF0IVAdFQPtcW07t+wUZoku1KlIBwxNGTIs+J+aMMn//L37cjUjzdRwgGnIhczltoksMZ8P9ZfM85PWBzbNRj",
    "QuIqpNPEsnroZ9sl+0Lzl6CwIAZgJMo2CYyD/f0XuKAu+4GmJ1fZyv7IOpQFV1uHSvYdEFdham6UvTzS3eRgywKBgQCI",
    "dMG/230j9n9FJr19IY/wTlqKaEdYZ8jekg9SAwkrm5iME1mlEKOgTNazEweL91Bmt1PIRg9s3a/M0Ozw8Fp+iT5CMQ/W",
    "y+nqew9kZu1v7mZmxtYJ7e/V2WKUSpDu+I0IZr5j+uRemk9uhliTNeYBL7BbeFPF7IVd8AwvDQVkhQKBgQCAkx6lgBin",
    "Z2kb9CW4d8Cm8m12j57Xyk+dLMnzKI8XFO3L6UeIjbhkbfmWOiwpjhGGSXTnJPD/hWQ6Sz5EwWGUlH6uDymoAykFlE+k",
    "PLag9prPrdUh09wswTiGDmYkr/DRJPczY4FYZ8g12Q5ywu2ryluktAgH659+ukCJrKrAUQKBgF8qvgGpWF67GqWBcyCV",
    "Oodt38fVqSALEpb/mXLsfTt2S6stqcRBMatAWZWgBriT8WavNQ3r3tQbU+3v98ncJQ5NU6cGdHlEMJG1aAsPB3cxYhZd",
    "QgTa6LPpnHTh88Rrm3GxTx6H8MR/LbaK/p6kJgpT2sS3fN0bczKlGdFp0NgM",
);

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The provider's signing keys.
struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    /// Published only after a key rotation.
    ec_next: EcdsaKeyPair,
    /// Never published.
    ec_stranger: EcdsaKeyPair,
    rng: SystemRandom,
}

fn ec_key(rng: &SystemRandom) -> EcdsaKeyPair {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng).unwrap()
}

fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    let point = key.public_key().as_ref();
    assert_eq!(point.len(), 65);
    json!({ "kty": "EC", "use": "sig", "crv": "P-256", "kid": kid, "alg": "ES256",
            "x": b64(&point[1..33]), "y": b64(&point[33..]) })
}

impl Keys {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let rsa = RsaKeyPair::from_pkcs8(&STANDARD.decode(RSA_PKCS8).unwrap()).unwrap();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        Self {
            rsa,
            ec: ec_key(&rng),
            ed,
            ec_next: ec_key(&rng),
            ec_stranger: ec_key(&rng),
            rng,
        }
    }

    /// The key set as published before any rotation (Entra-style RSA key without `alg`).
    fn published(&self) -> Vec<Value> {
        let rsa = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        vec![
            json!({ "kty": "RSA", "use": "sig", "kid": "rsa-1", "x5t": "rsa-1",
                    "n": b64(&rsa.n), "e": b64(&rsa.e), "x5c": ["MIIC..."],
                    "issuer": "https://login.example/{tenantid}/v2.0" }),
            ec_jwk(&self.ec, "ec-1"),
            json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig",
                    "x": b64(self.ed.public_key().as_ref()) }),
            // A key for encryption, which the client must skip.
            json!({ "kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB" }),
        ]
    }

    fn sign(&self, how: Sign, message: &[u8]) -> Vec<u8> {
        match how {
            Sign::Rs256 => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .unwrap();
                sig
            }
            Sign::Es256 => self.ec.sign(&self.rng, message).unwrap().as_ref().to_vec(),
            Sign::Es256Next => self
                .ec_next
                .sign(&self.rng, message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Sign::Es256Stranger { .. } => self
                .ec_stranger
                .sign(&self.rng, message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Sign::EdDsa => self.ed.sign(message).as_ref().to_vec(),
            Sign::Hs256 => {
                // The classic confusion: a MAC keyed with the client secret.
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
                ring::hmac::sign(&key, message).as_ref().to_vec()
            }
            Sign::None => Vec::new(),
        }
    }
}

/// How the stand-in signs the next id_token.
#[derive(Debug, Clone, Copy)]
enum Sign {
    Rs256,
    Es256,
    EdDsa,
    /// The key published by a rotation (kid `ec-2`).
    Es256Next,
    /// A key the provider never published, under the given kid.
    Es256Stranger {
        kid: &'static str,
    },
    Hs256,
    None,
}

impl Sign {
    fn header(self) -> (&'static str, Option<&'static str>) {
        match self {
            Sign::Rs256 => ("RS256", Some("rsa-1")),
            Sign::Es256 => ("ES256", Some("ec-1")),
            Sign::EdDsa => ("EdDSA", Some("ed-1")),
            Sign::Es256Next => ("ES256", Some("ec-2")),
            Sign::Es256Stranger { kid } => ("ES256", Some(kid)),
            Sign::Hs256 => ("HS256", Some("rsa-1")),
            Sign::None => ("none", None),
        }
    }
}

/// How the token endpoint expects the client to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Basic,
    Post,
    Public,
}

struct Grant {
    challenge: String,
    redirect_uri: String,
    nonce: String,
}

struct State {
    clock: ManualClock,
    keys: Arc<Keys>,
    issuer: String,
    /// The key set served at jwks_uri.
    jwks: Vec<Value>,
    /// `token_endpoint_auth_methods_supported` (absent when `None`).
    auth_methods: Option<Vec<&'static str>>,
    expected_auth: Auth,
    /// Overrides the discovery document's issuer.
    discovery_issuer: Option<String>,
    sign: Sign,
    /// Merged into the id_token's claims; `null` removes a claim.
    claims_patch: Map<String, Value>,
    /// Merged into the id_token's header.
    header_patch: Map<String, Value>,
    /// Sent instead of a signed id_token.
    raw_id_token: Option<String>,
    /// Sent instead of the whole token response.
    raw_token_body: Option<Value>,
    corrupt_signature: bool,
    /// The authorization endpoint refuses (the employee declined consent).
    deny: bool,
    grants: HashMap<String, Grant>,
    codes_issued: usize,
    discovery_fetches: usize,
    jwks_fetches: usize,
    token_requests: usize,
    /// Token requests whose PKCE verifier matched the challenge.
    pkce_verified: usize,
    /// The client authentication each accepted token request used.
    auth_seen: Vec<Auth>,
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(body.into()))
        .unwrap()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({ "error": error, "error_description": description,
                "error_codes": [9002313], "timestamp": "2027-01-15 08:00:00Z",
                "trace_id": "00000000-0000-0000-0000-000000000000" })
        .to_string(),
    )
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn form_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The client authentication a token request carries, if valid.
fn client_auth(authorization: &str, form: &HashMap<String, String>) -> Result<Auth, &'static str> {
    let form_secret = form.get("client_secret");
    if let Some(basic) = authorization.strip_prefix("Basic ") {
        let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
        let (id, secret) = decoded
            .split_once(':')
            .ok_or("Basic credentials without ':'")?;
        if form_secret.is_some() {
            return Err("two client authentication methods");
        }
        if form_decode(id) == CLIENT && form_decode(secret) == SECRET {
            return Ok(Auth::Basic);
        }
        return Err("AADSTS7000215: Invalid client secret provided.");
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT) {
        return Err("AADSTS700016: Application not found in the directory.");
    }
    match form_secret {
        Some(secret) if secret == SECRET => Ok(Auth::Post),
        Some(_) => Err("AADSTS7000215: Invalid client secret provided."),
        None => Ok(Auth::Public),
    }
}

impl State {
    fn id_token(&self, grant: &Grant) -> String {
        if let Some(raw) = &self.raw_id_token {
            return raw.clone();
        }
        let now = self.clock.now().timestamp();
        let mut claims = json!({
            "aud": CLIENT, "iss": self.issuer, "iat": now, "nbf": now, "exp": now + 3600,
            "name": "Alex Wilber", "email": UPN, "nonce": grant.nonce, "oid": "11111111-aaaa",
            "preferred_username": UPN, "sub": SUBJECT, "tid": TENANT, "ver": "2.0",
        });
        let map = claims.as_object_mut().unwrap();
        for (name, value) in &self.claims_patch {
            if value.is_null() {
                map.remove(name);
            } else {
                map.insert(name.clone(), value.clone());
            }
        }
        let (alg, kid) = self.sign.header();
        let mut header = json!({ "typ": "JWT", "alg": alg });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        for (name, value) in &self.header_patch {
            header[name] = value.clone();
        }
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let mut signature = self.keys.sign(self.sign, input.as_bytes());
        if self.corrupt_signature {
            signature[10] ^= 0x01;
        }
        format!("{input}.{}", b64(signature))
    }

    fn discovery(&self, base: &str) -> Value {
        let mut doc = json!({
            "issuer": self.discovery_issuer.clone().unwrap_or_else(|| self.issuer.clone()),
            "authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/authorize?prompt=select_account"),
            "token_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/token"),
            "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "name", "email"],
            "code_challenge_methods_supported": ["plain", "S256"],
        });
        if let Some(methods) = &self.auth_methods {
            doc["token_endpoint_auth_methods_supported"] = json!(methods);
        }
        doc
    }

    fn authorize(&mut self, query: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        let problems = [
            (get("response_type") != "code", "response_type"),
            (get("client_id") != CLIENT, "client_id"),
            (
                get("prompt") != "select_account",
                "the endpoint's own query",
            ),
            (
                !get("scope").split(' ').any(|s| s == "openid"),
                "scope without openid",
            ),
            (
                get("code_challenge_method") != "S256",
                "code_challenge_method",
            ),
            (get("code_challenge").len() != 43, "code_challenge"),
            (get("state").is_empty(), "state"),
            (get("nonce").is_empty(), "nonce"),
            (get("redirect_uri").is_empty(), "redirect_uri"),
        ];
        if let Some((_, what)) = problems.iter().find(|(bad, _)| *bad) {
            return reply(
                StatusCode::BAD_REQUEST,
                format!("bad authorization request: {what}"),
            );
        }
        let mut location = Url::parse(get("redirect_uri")).unwrap();
        if self.deny {
            location
                .query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair(
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: 1",
                )
                .append_pair("state", get("state"));
            return redirect(location.as_str());
        }
        self.codes_issued += 1;
        let code = format!("authcode-{}-0.AXoA", self.codes_issued);
        self.grants.insert(
            code.clone(),
            Grant {
                challenge: get("code_challenge").to_owned(),
                redirect_uri: get("redirect_uri").to_owned(),
                nonce: get("nonce").to_owned(),
            },
        );
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", get("state"))
            .append_pair("session_state", "s-1");
        redirect(location.as_str())
    }

    fn token(
        &mut self,
        content_type: &str,
        authorization: &str,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        self.token_requests += 1;
        if content_type != "application/x-www-form-urlencoded" {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "not a form");
        }
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type",
            );
        }
        let auth = match client_auth(authorization, &form) {
            Ok(auth) if auth == self.expected_auth => auth,
            Ok(_) => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "unexpected client authentication method",
                );
            }
            Err(why) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why),
        };
        let code = form.get("code").cloned().unwrap_or_default();
        let Some(grant) = self.grants.remove(&code) else {
            // Echoes the code, as some providers do: the client must not repeat it.
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                &format!(
                    "AADSTS54005: OAuth2 Authorization code was already redeemed. Code: {code}"
                ),
            );
        };
        if form.get("redirect_uri") != Some(&grant.redirect_uri) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "AADSTS50148: The redirect_uri does not match the authorization request's.",
            );
        }
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if !(43..=128).contains(&verifier.len())
            || b64(Sha256::digest(&verifier)) != grant.challenge
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            );
        }
        self.pkce_verified += 1;
        self.auth_seen.push(auth);
        if let Some(body) = &self.raw_token_body {
            return reply(StatusCode::OK, body.to_string());
        }
        let id_token = self.id_token(&grant);
        reply(
            StatusCode::OK,
            json!({ "token_type": "Bearer", "scope": "openid profile email", "expires_in": 3599,
                    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access.token",
                    "id_token": id_token })
            .to_string(),
        )
    }
}

async fn answer(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    base: String,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, authorization) = (header("content-type"), header("authorization"));
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut st = state.lock().unwrap();
    let discovery = format!("/{TENANT}/v2.0/.well-known/openid-configuration");
    match (method.as_str(), path.as_str()) {
        ("GET", p) if p == discovery => {
            st.discovery_fetches += 1;
            reply(StatusCode::OK, st.discovery(&base).to_string())
        }
        ("GET", "/moved/.well-known/openid-configuration") => {
            redirect(&format!("{base}{discovery}"))
        }
        ("GET", p) if p == format!("/{TENANT}/discovery/v2.0/keys") => {
            st.jwks_fetches += 1;
            reply(StatusCode::OK, json!({ "keys": st.jwks }).to_string())
        }
        ("GET", p) if p == format!("/{TENANT}/oauth2/v2.0/authorize") => st.authorize(&query),
        ("POST", p) if p == format!("/{TENANT}/oauth2/v2.0/token") => {
            st.token(&content_type, &authorization, &body)
        }
        _ => reply(StatusCode::NOT_FOUND, format!("unexpected {method} {path}")),
    }
}

struct StandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    clock: ManualClock,
}

impl StandIn {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let clock = ManualClock::new(start());
        let keys = Arc::new(Keys::new());
        let state = Arc::new(Mutex::new(State {
            clock: clock.clone(),
            issuer: format!("{base}/{TENANT}/v2.0"),
            jwks: keys.published(),
            keys,
            auth_methods: None,
            expected_auth: Auth::Basic,
            discovery_issuer: None,
            sign: Sign::Rs256,
            claims_patch: Map::new(),
            header_patch: Map::new(),
            raw_id_token: None,
            raw_token_body: None,
            corrupt_signature: false,
            deny: false,
            grants: HashMap::new(),
            codes_issued: 0,
            discovery_fetches: 0,
            jwks_fetches: 0,
            token_requests: 0,
            pkce_verified: 0,
            auth_seen: Vec::new(),
        }));
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (st, base) = (Arc::clone(&st), base.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (st, base) = (Arc::clone(&st), base.clone());
                        async move { Ok::<_, Infallible>(answer(req, st, base).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, clock }
    }

    fn issuer(&self) -> String {
        format!("http://{}/{TENANT}/v2.0", self.addr)
    }

    fn config(&self) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer(),
            client_id: CLIENT.into(),
            client_secret: Some(Secret::new(SECRET)),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            upn_claim: "preferred_username".into(),
            timeout_ms: 5_000,
        }
    }

    fn client_with(&self, config: OidcConfig) -> OidcClient {
        OidcClient::new(config, Arc::new(self.clock.clone())).unwrap()
    }

    fn client(&self) -> OidcClient {
        self.client_with(self.config())
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn patch(&self, claims: Value) {
        self.with(|st| st.claims_patch = claims.as_object().unwrap().clone());
    }

    /// What a browser does with the authorization URL: the query of the redirect back.
    async fn authorize(&self, url: &Url) -> String {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = browser.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{url}");
        let location = response.headers()["location"].to_str().unwrap();
        let location = Url::parse(location).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{location}");
        location.query().unwrap_or_default().to_owned()
    }

    /// A whole sign-in. A failure's message must hold none of the sign-in's secrets.
    async fn sign_in(&self, client: &OidcClient) -> Result<OidcIdentity, OidcError> {
        let (url, pending) = client.begin(REDIRECT).await?;
        let query = self.authorize(&url).await;
        assert!(callback_error(&query).is_none(), "{query}");
        let (state, code) = state_and_code(&query);
        let result = client.finish(&pending, REDIRECT, &state, &code).await;
        if let Err(err) = &result {
            assert_clean(err, &pending, &code);
        }
        result
    }
}

fn state_and_code(query: &str) -> (String, String) {
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (pairs["state"].clone(), pairs["code"].clone())
}

fn assert_clean(err: &OidcError, pending: &PendingLogin, code: &str) {
    let text = format!("{err} {err:?}");
    for secret in [
        SECRET,
        code,
        &pending.state,
        &pending.nonce,
        &pending.code_verifier,
        "eyJ",
    ] {
        assert!(!text.contains(secret), "{text:?} holds {secret:?}");
    }
}

fn alex() -> OidcIdentity {
    OidcIdentity {
        subject: SUBJECT.into(),
        upn: UPN.into(),
        name: Some("Alex Wilber".into()),
        email: Some(UPN.into()),
    }
}

fn now(server: &StandIn) -> i64 {
    server.clock.now().timestamp()
}

#[tokio::test]
async fn rs256_sign_in_with_pkce_state_nonce_and_basic_client_auth() {
    let server = StandIn::start().await;
    let client = server.client();
    assert_eq!(
        server.with(|st| st.discovery_fetches),
        0,
        "discovery is lazy"
    );

    let (url, pending) = client.begin(REDIRECT).await.unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(
        url.as_str().starts_with(&format!(
            "http://{}/{TENANT}/oauth2/v2.0/authorize?prompt=select_account&",
            server.addr
        )),
        "{url}"
    );
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT);
    assert_eq!(params["redirect_uri"], REDIRECT);
    assert_eq!(params["scope"], "openid profile email");
    assert_eq!(params["state"], pending.state);
    assert_eq!(params["nonce"], pending.nonce);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(
        params["code_challenge"],
        b64(Sha256::digest(pending.code_verifier.as_bytes()))
    );
    assert!(!url.as_str().contains(&pending.code_verifier));
    assert_eq!(pending.code_verifier.len(), 43);
    assert_ne!(pending.state, pending.nonce);
    let (_, again) = client.begin(REDIRECT).await.unwrap();
    assert_ne!(again.state, pending.state, "fresh values per sign-in");
    assert_ne!(again.code_verifier, pending.code_verifier);

    // The pending sign-in survives the session store; Debug shows none of it.
    let stored: PendingLogin =
        serde_json::from_str(&serde_json::to_string(&pending).unwrap()).unwrap();
    assert_eq!(stored, pending);
    let debug = format!("{pending:?}");
    assert!(!debug.contains(&pending.state) && !debug.contains(&pending.code_verifier));

    let query = server.authorize(&url).await;
    let (state, code) = state_and_code(&query);
    let identity = client
        .finish(&stored, REDIRECT, &state, &code)
        .await
        .unwrap();
    assert_eq!(identity, alex());

    // Discovery and keys are cached across sign-ins.
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.with(|st| {
        assert_eq!(
            (
                st.discovery_fetches,
                st.jwks_fetches,
                st.token_requests,
                st.pkce_verified
            ),
            (1, 1, 2, 2)
        );
        assert_eq!(st.auth_seen, [Auth::Basic, Auth::Basic]);
    });
    // The secret is never printed.
    let debug = format!("{client:?} {:?}", server.config());
    assert!(!debug.contains(SECRET), "{debug}");
    assert_eq!(client.config().client_id, CLIENT);
}

#[tokio::test]
async fn es256_sign_in_with_client_secret_post() {
    let server = StandIn::start().await;
    server.with(|st| {
        st.sign = Sign::Es256;
        st.auth_methods = Some(vec!["client_secret_post", "private_key_jwt"]);
        st.expected_auth = Auth::Post;
    });
    let client = server.client();
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.with(|st| {
        assert_eq!(
            (st.auth_seen.as_slice(), st.pkce_verified),
            ([Auth::Post].as_slice(), 1)
        )
    });
}

#[tokio::test]
async fn eddsa_sign_in_as_a_public_client() {
    let server = StandIn::start().await;
    server.with(|st| {
        st.sign = Sign::EdDsa;
        st.auth_methods = Some(vec!["client_secret_basic", "none"]);
        st.expected_auth = Auth::Public;
    });
    let client = server.client_with(OidcConfig {
        client_secret: None,
        ..server.config()
    });
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.with(|st| assert_eq!(st.auth_seen, [Auth::Public]));
}

#[tokio::test]
async fn basic_is_the_default_and_other_methods_are_refused() {
    let server = StandIn::start().await;
    server.with(|st| st.auth_methods = Some(vec!["client_secret_post", "client_secret_basic"]));
    assert_eq!(server.sign_in(&server.client()).await.unwrap(), alex());
    server.with(|st| st.auth_methods = Some(vec!["private_key_jwt", "tls_client_auth"]));
    let err = server.client().begin(REDIRECT).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err}");
    assert!(err.to_string().contains("private_key_jwt"), "{err}");
}

#[tokio::test]
async fn wrong_state_is_refused_before_the_code_is_redeemed() {
    let server = StandIn::start().await;
    let client = server.client();
    let (url, pending) = client.begin(REDIRECT).await.unwrap();
    let (state, code) = state_and_code(&server.authorize(&url).await);
    for forged in [
        "",
        "forged",
        &state[..state.len() - 1],
        &format!("{state}x"),
    ] {
        let err = client
            .finish(&pending, REDIRECT, forged, &code)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::StateMismatch), "{err}");
        assert!(err.to_string().starts_with("state check failed"), "{err}");
        assert_clean(&err, &pending, &code);
    }
    // Another sign-in's state does not fit either.
    let (_, other) = client.begin(REDIRECT).await.unwrap();
    let err = client
        .finish(&other, REDIRECT, &state, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::StateMismatch), "{err}");
    assert_eq!(server.with(|st| st.token_requests), 0);
    // The code is still good for the right state.
    assert_eq!(
        client
            .finish(&pending, REDIRECT, &state, &code)
            .await
            .unwrap(),
        alex()
    );
    let err = client
        .finish(&pending, REDIRECT, &state, "")
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::MissingCode), "{err}");
}

#[tokio::test]
async fn wrong_or_missing_nonce_is_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    server.patch(json!({ "nonce": "a-nonce-from-another-sign-in" }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::NonceMismatch { missing: false }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("id_token nonce check failed"),
        "{err}"
    );
    server.patch(json!({ "nonce": null }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::NonceMismatch { missing: true }),
        "{err}"
    );
    assert!(err.to_string().contains("no nonce"), "{err}");
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    for iss in [
        "https://login.example/other-tenant/v2.0".to_owned(),
        format!("{}/", server.issuer()),
    ] {
        server.patch(json!({ "iss": iss }));
        let err = server.sign_in(&client).await.unwrap_err();
        let OidcError::IssuerMismatch { expected, found } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            (expected.as_str(), found.as_str()),
            (server.issuer().as_str(), iss.as_str())
        );
        assert!(
            err.to_string().starts_with("id_token iss check failed"),
            "{err}"
        );
    }
    server.patch(json!({ "iss": null }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::MissingClaim { claim: "iss", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_audience_and_authorized_party_are_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    server.patch(json!({ "aud": "another-app" }));
    let err = server.sign_in(&client).await.unwrap_err();
    let OidcError::AudienceMismatch { client_id, found } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (client_id.as_str(), found.as_slice()),
        (CLIENT, ["another-app".to_owned()].as_slice())
    );
    assert!(
        err.to_string().starts_with("id_token aud check failed"),
        "{err}"
    );

    server.patch(json!({ "aud": ["another-app", "third-app"] }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(matches!(err, OidcError::AudienceMismatch { .. }), "{err}");

    // Several audiences: azp must name this client.
    server.patch(json!({ "aud": [CLIENT, "another-app"] }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::AuthorizedPartyMismatch { found: None, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("id_token azp check failed"),
        "{err}"
    );
    server.patch(json!({ "aud": [CLIENT, "another-app"], "azp": "another-app" }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::AuthorizedPartyMismatch { found: Some(f), .. } if f == "another-app"),
        "{err}"
    );
    server.patch(json!({ "aud": [CLIENT, "another-app"], "azp": CLIENT }));
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());

    server.patch(json!({ "aud": 42 }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::MissingClaim { claim: "aud", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn expired_token_is_refused_beyond_the_skew() {
    let server = StandIn::start().await;
    let client = server.client();
    let t = now(&server);
    server.patch(json!({ "exp": t - 61, "iat": t - 3661 }));
    let err = server.sign_in(&client).await.unwrap_err();
    let OidcError::Expired { exp, now } = err else {
        panic!("{err}")
    };
    assert_eq!((exp, now), (t - 61, t));
    assert!(
        err.to_string().starts_with("id_token exp check failed"),
        "{err}"
    );
    // Within the 60 s of skew, and a fractional NumericDate.
    server.patch(json!({ "exp": t - 30, "iat": t - 3630 }));
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.patch(json!({ "exp": (t as f64) + 0.5 }));
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.patch(json!({ "exp": null }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::MissingClaim { claim: "exp", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn token_issued_in_the_future_is_refused_beyond_the_skew() {
    let server = StandIn::start().await;
    let client = server.client();
    let t = now(&server);
    server.patch(json!({ "iat": t + 61 }));
    let err = server.sign_in(&client).await.unwrap_err();
    let OidcError::IssuedInFuture { iat, now } = err else {
        panic!("{err}")
    };
    assert_eq!((iat, now), (t + 61, t));
    assert!(
        err.to_string().starts_with("id_token iat check failed"),
        "{err}"
    );
    server.patch(json!({ "iat": t + 60 }));
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.patch(json!({ "iat": "yesterday" }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::MissingClaim { claim: "iat", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = StandIn::start().await;
    server.with(|st| st.sign = Sign::None);
    let err = server.sign_in(&server.client()).await.unwrap_err();
    let OidcError::UnsupportedAlgorithm { alg, why } = &err else {
        panic!("{err}")
    };
    assert_eq!(alg, "none");
    assert!(why.contains("unsigned"), "{why}");
    assert!(
        err.to_string().starts_with("id_token alg check failed"),
        "{err}"
    );
    assert_eq!(
        server.with(|st| st.jwks_fetches),
        0,
        "refused before any key is looked up"
    );
}

#[tokio::test]
async fn hs256_keyed_with_the_client_secret_is_refused() {
    let server = StandIn::start().await;
    server.with(|st| st.sign = Sign::Hs256);
    let err = server.sign_in(&server.client()).await.unwrap_err();
    let OidcError::UnsupportedAlgorithm { alg, why } = &err else {
        panic!("{err}")
    };
    assert_eq!(alg, "HS256");
    assert!(why.contains("shared secret"), "{why}");
    assert!(
        err.to_string().contains("only RS256, ES256 and EdDSA"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_kid_is_fetched_once_and_then_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    server.with(|st| st.sign = Sign::Es256Stranger { kid: "ec-9" });
    // The first use fetches the key set: no second fetch right after.
    let err = server.sign_in(&client).await.unwrap_err();
    let OidcError::UnknownKey { kid, fetched_now } = &err else {
        panic!("{err}")
    };
    assert_eq!((kid.as_str(), *fetched_now), ("ec-9", true));
    assert!(
        err.to_string().starts_with("id_token key check failed"),
        "{err}"
    );
    assert_eq!(server.with(|st| st.jwks_fetches), 1);
    // Within the minute: not fetched again.
    server.clock.advance(Duration::seconds(59));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::UnknownKey {
                fetched_now: false,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.with(|st| st.jwks_fetches), 1);
    // A minute on: fetched once more, still unknown.
    server.clock.advance(Duration::seconds(1));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::UnknownKey {
                fetched_now: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.with(|st| st.jwks_fetches), 2);
}

#[tokio::test]
async fn key_rotation_is_picked_up_by_a_refetch() {
    let server = StandIn::start().await;
    let client = server.client();
    server.with(|st| st.sign = Sign::Es256);
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    assert_eq!(server.with(|st| st.jwks_fetches), 1);

    // The provider rotates: the new key is published and signs from now on.
    server.clock.advance(Duration::minutes(5));
    server.with(|st| {
        let next = ec_jwk(&st.keys.ec_next, "ec-2");
        st.jwks.push(next);
        st.sign = Sign::Es256Next;
    });
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    assert_eq!(server.with(|st| st.jwks_fetches), 2);
    // The refreshed set serves the next sign-ins without another fetch.
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    server.with(|st| st.sign = Sign::Rs256);
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    assert_eq!(server.with(|st| st.jwks_fetches), 2);

    // A rotation seen less than a minute after a fetch waits for the minute to pass.
    server.clock.advance(Duration::seconds(30));
    server.with(|st| st.sign = Sign::Es256Stranger { kid: "ec-3" });
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::UnknownKey {
                fetched_now: false,
                ..
            }
        ),
        "{err}"
    );
    server.with(|st| {
        let stranger = ec_jwk(&st.keys.ec_stranger, "ec-3");
        st.jwks.push(stranger);
    });
    server.clock.advance(Duration::seconds(30));
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
    assert_eq!(server.with(|st| st.jwks_fetches), 3);

    // Keys are not trusted forever: an hour on, the set is fetched again and a withdrawn
    // key stops verifying.
    server.clock.advance(Duration::minutes(61));
    server.with(|st| st.jwks.retain(|k| k["kid"] != "ec-3"));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            OidcError::UnknownKey {
                fetched_now: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.with(|st| st.jwks_fetches), 4);
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    for sign in [Sign::Rs256, Sign::Es256, Sign::EdDsa] {
        server.with(|st| {
            st.sign = sign;
            st.corrupt_signature = true;
        });
        let err = server.sign_in(&client).await.unwrap_err();
        let OidcError::BadSignature { kid, alg } = &err else {
            panic!("{sign:?}: {err}")
        };
        let (want_alg, want_kid) = sign.header();
        assert_eq!((alg.as_str(), Some(kid.as_str())), (want_alg, want_kid));
        assert!(
            err.to_string()
                .starts_with("id_token signature check failed"),
            "{err}"
        );
    }
    // Signed by a key the provider never published, under one of its kids.
    server.with(|st| {
        st.corrupt_signature = false;
        st.sign = Sign::Es256Stranger { kid: "ec-1" };
    });
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(matches!(err, OidcError::BadSignature { .. }), "{err}");
    // Under the kid of a key of another type.
    server.with(|st| st.sign = Sign::Es256Stranger { kid: "rsa-1" });
    let err = server.sign_in(&client).await.unwrap_err();
    let OidcError::KeyMismatch { kid, alg, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!((kid.as_str(), alg.as_str()), ("rsa-1", "ES256"));
    assert!(reason.contains("kty"), "{reason}");
    // Under the kid of an encryption key.
    server.with(|st| st.sign = Sign::Es256Stranger { kid: "enc-1" });
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(matches!(err, OidcError::KeyMismatch { .. }), "{err}");
    // The intact signature verifies again.
    server.with(|st| st.sign = Sign::Rs256);
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
}

#[tokio::test]
async fn token_endpoint_errors_are_named_without_the_code() {
    let server = StandIn::start().await;
    let client = server.client();
    let (url, pending) = client.begin(REDIRECT).await.unwrap();
    let (state, code) = state_and_code(&server.authorize(&url).await);
    assert_eq!(
        client
            .finish(&pending, REDIRECT, &state, &code)
            .await
            .unwrap(),
        alex()
    );
    // A code is good once.
    let err = client
        .finish(&pending, REDIRECT, &state, &code)
        .await
        .unwrap_err();
    let OidcError::TokenEndpoint {
        status,
        error,
        description,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*status, error.as_str()), (400, "invalid_grant"));
    assert!(
        description.as_deref().unwrap().contains("AADSTS54005"),
        "{err}"
    );
    assert!(err.to_string().contains("400 \"invalid_grant\""), "{err}");
    assert!(
        err.to_string().starts_with("token request refused"),
        "{err}"
    );
    assert!(err.to_string().contains("Code: [redacted]"), "{err}");
    assert_clean(&err, &pending, &code);

    // The PKCE verifier must be the one whose hash went out.
    let (url, mut pending) = client.begin(REDIRECT).await.unwrap();
    let (state, code) = state_and_code(&server.authorize(&url).await);
    pending.code_verifier = "x".repeat(43);
    let err = client
        .finish(&pending, REDIRECT, &state, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenEndpoint { error, description: Some(d), .. }
            if error == "invalid_grant" && d.contains("Code_Verifier")),
        "{err}"
    );

    // So must the redirect URI.
    let (url, pending) = client.begin(REDIRECT).await.unwrap();
    let (state, code) = state_and_code(&server.authorize(&url).await);
    let err = client
        .finish(&pending, "http://127.0.0.1:8080/elsewhere", &state, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenEndpoint { error, description: Some(d), .. }
            if error == "invalid_grant" && d.contains("redirect_uri")),
        "{err}"
    );

    // A wrong client secret.
    let wrong = server.client_with(OidcConfig {
        client_secret: Some(Secret::new("not-the-secret")),
        ..server.config()
    });
    let err = server.sign_in(&wrong).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenEndpoint { status: 401, error, .. } if error == "invalid_client"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    assert_eq!(server.with(|st| st.pkce_verified), 1);
}

#[tokio::test]
async fn missing_upn_claim_is_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    for value in [Value::Null, json!(""), json!(["alex"])] {
        server.patch(json!({ "preferred_username": value }));
        let err = server.sign_in(&client).await.unwrap_err();
        let OidcError::MissingUpn { claim } = &err else {
            panic!("{err}")
        };
        assert_eq!(claim, "preferred_username");
        assert!(
            err.to_string().starts_with("id_token upn check failed"),
            "{err}"
        );
    }
    // Another claim can name the user principal name.
    server.patch(json!({ "preferred_username": null, "upn": "alex.w@contoso.example" }));
    let upn_client = server.client_with(OidcConfig {
        upn_claim: "upn".into(),
        ..server.config()
    });
    let identity = server.sign_in(&upn_client).await.unwrap();
    assert_eq!(identity.upn, "alex.w@contoso.example");
    // name and email are optional.
    server.patch(json!({ "name": null, "email": null }));
    let identity = server.sign_in(&client).await.unwrap();
    assert_eq!((identity.name, identity.email), (None, None));
    server.patch(json!({ "sub": null }));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(err, OidcError::MissingClaim { claim: "sub", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn provider_error_on_the_redirect_is_reported() {
    let server = StandIn::start().await;
    server.with(|st| st.deny = true);
    let client = server.client();
    let (url, _pending) = client.begin(REDIRECT).await.unwrap();
    let query = server.authorize(&url).await;
    let err = callback_error(&query).unwrap();
    let OidcError::Provider { error, description } = &err else {
        panic!("{err}")
    };
    assert_eq!(error, "access_denied");
    assert_eq!(
        description.as_deref(),
        Some("AADSTS65004: User declined to consent to access the app."),
        "first line only"
    );
    assert!(err.to_string().contains("error \"access_denied\""), "{err}");
    assert_eq!(server.with(|st| st.token_requests), 0);

    assert!(callback_error("code=abc&state=xyz").is_none());
    let err = callback_error("?error=login_required&state=xyz").unwrap();
    assert!(
        matches!(&err, OidcError::Provider { error, description: None } if error == "login_required"),
        "{err}"
    );
    let err = callback_error("error=%0Abad%1B%5B31m&error_description=a%0Db").unwrap();
    assert!(!err.to_string().chars().any(char::is_control), "{err:?}");
}

#[tokio::test]
async fn malformed_id_tokens_and_critical_headers_are_refused() {
    let server = StandIn::start().await;
    let client = server.client();
    server.with(|st| {
        st.header_patch = json!({ "crit": ["exp-ext"], "exp-ext": 1 })
            .as_object()
            .unwrap()
            .clone();
    });
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::CriticalHeader { names } if names == &["exp-ext".to_owned()]),
        "{err}"
    );
    server.with(|st| st.header_patch = Map::new());

    let no_alg = format!("{}.e30.c2ln", b64(json!({ "kid": "rsa-1" }).to_string()));
    for (raw, why) in [
        ("a.b".to_owned(), "3 dot-separated parts, it has 2"),
        ("a.b.c.d.e".to_owned(), "JWE"),
        ("!!.e30.c2ln".to_owned(), "header is not unpadded base64url"),
        (
            format!("{}.e30.c2ln", b64("[]")),
            "header is not a JSON object",
        ),
        (no_alg, "no alg"),
    ] {
        server.with(|st| st.raw_id_token = Some(raw.clone()));
        let err = server.sign_in(&client).await.unwrap_err();
        assert!(
            matches!(&err, OidcError::MalformedIdToken { reason } if reason.contains(why)),
            "{raw}: {err}"
        );
        assert!(
            err.to_string().starts_with("id_token format check failed"),
            "{err}"
        );
    }
    server.with(|st| st.raw_id_token = Some(String::new()));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(matches!(err, OidcError::TokenResponse { .. }), "{err}");
    assert!(err.to_string().contains("no id_token"), "{err}");
    // A body that is not a token response is not quoted back (it may hold a token).
    server.with(|st| st.raw_token_body = Some(json!("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")));
    let err = server.sign_in(&client).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenResponse { reason } if reason.contains("Data error")),
        "{err}"
    );
    server.with(|st| st.raw_token_body = None);
    server.with(|st| st.raw_id_token = None);
    assert_eq!(server.sign_in(&client).await.unwrap(), alex());
}

#[tokio::test]
async fn discovery_must_name_the_issuer_and_is_not_redirected() {
    let server = StandIn::start().await;
    server.with(|st| st.discovery_issuer = Some("https://login.example/common/v2.0".into()));
    let err = server.client().begin(REDIRECT).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err}");
    assert!(err.to_string().contains("common"), "{err}");
    assert!(
        err.to_string().starts_with("discovery check failed"),
        "{err}"
    );
    server.with(|st| st.discovery_issuer = None);

    let moved = server.client_with(OidcConfig {
        issuer: format!("http://{}/moved", server.addr),
        ..server.config()
    });
    let err = moved.begin(REDIRECT).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err}");
    assert!(err.to_string().contains("302"), "{err}");
    assert_eq!(
        server.with(|st| st.discovery_fetches),
        1,
        "the redirect was not followed"
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let down = server.client_with(OidcConfig {
        issuer: closed.clone(),
        ..server.config()
    });
    let err = down.begin(REDIRECT).await.unwrap_err();
    assert!(matches!(err, OidcError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&closed), "{err}");

    let err = server
        .client()
        .begin("http://portal.example/callback")
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::RedirectUri { .. }), "{err}");
}

#[test]
fn config_checks_name_the_field() {
    let config: OidcConfig = toml::from_str(
        "issuer = \"https://login.microsoftonline.com/tenant-1/v2.0\"\nclient_id = \"app\"\nclient_secret = \"pw\"\n",
    )
    .unwrap();
    assert_eq!(config.scopes, ["openid", "profile", "email"]);
    assert_eq!(config.upn_claim, "preferred_username");
    assert!(config.timeout_ms > 0);
    config.validate().unwrap();
    let printed = serde_json::to_string(&config).unwrap();
    assert!(
        printed.contains("[redacted]") && !printed.contains("\"pw\""),
        "{printed}"
    );
    let err = toml::from_str::<OidcConfig>(
        "issuer = \"https://login.example\"\nclient_id = \"app\"\nredirect_uri = \"x\"\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `redirect_uri`"),
        "{err}"
    );

    let base = config;
    let cases: Vec<(&str, OidcConfig)> = vec![
        (
            "oidc.issuer",
            OidcConfig {
                issuer: "http://login.example/t/v2.0".into(),
                ..base.clone()
            },
        ),
        (
            "oidc.issuer",
            OidcConfig {
                issuer: "not a url".into(),
                ..base.clone()
            },
        ),
        (
            "oidc.issuer",
            OidcConfig {
                issuer: "https://login.example/?tenant=1".into(),
                ..base.clone()
            },
        ),
        (
            "oidc.client_id",
            OidcConfig {
                client_id: " ".into(),
                ..base.clone()
            },
        ),
        (
            "oidc.client_secret",
            OidcConfig {
                client_secret: Some(Secret::new("")),
                ..base.clone()
            },
        ),
        (
            "oidc.scopes",
            OidcConfig {
                scopes: vec!["profile".into()],
                ..base.clone()
            },
        ),
        (
            "oidc.scopes",
            OidcConfig {
                scopes: vec!["openid".into(), "a b".into()],
                ..base.clone()
            },
        ),
        (
            "oidc.upn_claim",
            OidcConfig {
                upn_claim: String::new(),
                ..base.clone()
            },
        ),
        (
            "oidc.timeout_ms",
            OidcConfig {
                timeout_ms: 0,
                ..base.clone()
            },
        ),
    ];
    for (field, config) in cases {
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, OidcError::Config { field: f, .. } if *f == field),
            "{field}: {err}"
        );
        assert!(err.to_string().contains(field), "{err}");
        let err = OidcClient::new(config, Arc::new(ManualClock::new(start()))).unwrap_err();
        assert!(matches!(err, OidcError::Config { .. }), "{err}");
    }
    for loopback in [
        "http://127.0.0.1:9000/t",
        "http://localhost/t",
        "http://[::1]/t",
    ] {
        OidcConfig {
            issuer: loopback.into(),
            ..base.clone()
        }
        .validate()
        .unwrap();
    }
}
