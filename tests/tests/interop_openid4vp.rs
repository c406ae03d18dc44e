//! Interop: `@openid4vc/openid4vp` 0.4.6 (an independent OpenID4VP implementation, pinned in
//! `tests/interop/package-lock.json`) acts as the wallet against Verity's OpenID4VP 1.0
//! verifier: it resolves our authorization request (the request object signed under the
//! `decentralized_identifier` Client Identifier Prefix, or a `redirect_uri` request by value)
//! and submits `direct_post` answers, whose SD-JWT VC presentations `@sd-jwt/sd-jwt-vc` 0.19
//! builds, that Verity verifies. Without Node or `npm ci` in `tests/interop` these tests print a
//! note and pass, unless VERITY_TEST_REQUIRE_INTEROP=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use verity_core::{Clock, SystemClock};
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, env_for_app, example_contract};
use verity_tests::openid4vp::{new_openid4vp, openid4vp_body, verified_callback};
use verity_tests::presentation::{EXPERT, issue, requested};
use verity_tests::{Backend, allow_local_resolution, spawn_app_with};
use verity_wallet::{Algorithm, CredentialFormat, OfferOptions, WALLET_FILE};

/// Whether Node and the library are installed (`verity_tests::interop::available`).
fn available() -> bool {
    verity_tests::interop::available(&["@openid4vc/openid4vp"])
}

/// Runs `node openid4vp.mjs present` with `input` and returns its JSON answer.
async fn openid4vp_js(input: Value) -> Value {
    verity_tests::interop::node("openid4vp.mjs", "present", &input).await
}

/// An app with an ES256 holder wallet holding a JWT-VC (hosted issuance) and an SD-JWT VC
/// (OpenID4VCI) of the idTokenHint example contract; the holder key for the library.
struct Setup {
    env: IssuanceEnv,
    jwt_vc: String,
    sd_jwt: String,
    /// The holder key, PKCS#8 DER in base64url.
    holder_pkcs8: String,
}

async fn setup() -> Setup {
    // The app runs on the wall clock here: the library checks the request object's times
    // against its own. Set before anything is issued (the RP's access token included).
    let app = spawn_app_with(Backend::Sqlite, |c| {
        allow_local_resolution(c);
        allow_local_callbacks(c);
    })
    .await
    .unwrap();
    app.clock.set(SystemClock.now());
    let env = env_for_app(app, Algorithm::ES256).await;
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let jwt_vc = issue(&env, &contract, "Megan").await;
    let mut body = env.request_body(&contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["profile"] = json!("openid4vci");
    let url = env.request_url(&body).await;
    let cred = env
        .wallet
        .receive_offer(&url, &OfferOptions::default())
        .await
        .unwrap();
    assert_eq!(cred.format, CredentialFormat::SdJwtVc);
    // The reference wallet keeps its keys in the clear (documented): the library signs with
    // the same key the credentials are bound to.
    let file: Value =
        serde_json::from_slice(&std::fs::read(env.wallet_dir.path().join(WALLET_FILE)).unwrap())
            .unwrap();
    let entry = file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["did"] == env.wallet.did())
        .unwrap();
    // ES256 keys are stored as PKCS#8 DER (`SigningKey::to_secret_bytes`).
    let holder_pkcs8 = entry["secret"].as_str().unwrap().to_owned();
    Setup {
        env,
        jwt_vc,
        sd_jwt: cred.jwt,
        holder_pkcs8,
    }
}

impl Setup {
    fn input(&self, url: &str, using: &str) -> Value {
        json!({
            "url": url, "use": using, "holderPkcs8": self.holder_pkcs8,
            "holderDid": self.env.wallet.did(), "holderKid": self.env.wallet.kid(),
            "sdJwt": self.sd_jwt, "frame": { "givenName": true }, "jwtVc": self.jwt_vc,
            "now": self.env.app.clock.unix(),
        })
    }

    fn wanted(&self) -> Value {
        let mut r = requested(EXPERT, &[&self.env.authority]);
        r["claims"] = json!(["givenName"]);
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_resolves_our_signed_request_and_its_sd_jwt_answer_verifies() {
    if !available() {
        return;
    }
    let s = setup().await;
    let env = &s.env;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![s.wanted()])).await;
    let out = openid4vp_js(s.input(&url, "dc+sd-jwt")).await;
    assert_eq!(out["ok"], true, "{out}");
    let client_id = format!("decentralized_identifier:{}", env.authority);
    let resolved = &out["resolved"];
    // The library accepts the request object (typ, signature by the DID's key named by kid),
    // reads it as OpenID4VP 1.0 final (version 100), and binds presentations to the full
    // Client Identifier, prefix included, as section 5.9.1 says.
    assert_eq!(resolved["prefix"], "decentralized_identifier", "{out}");
    assert_eq!(resolved["identifier"], env.authority);
    assert_eq!(resolved["effective"], client_id);
    assert!(
        resolved["didUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}#", env.authority)),
        "{out}"
    );
    assert_eq!(resolved["version"], 100, "{out}");
    assert_eq!(
        resolved["jar"],
        json!({ "sendBy": "reference", "typ": "oauth-authz-req+jwt", "signer": "did" })
    );
    assert_eq!(resolved["state"], id);
    assert_eq!(resolved["dcql"]["credentials"][0]["format"], "dc+sd-jwt");
    assert_eq!(out["aud"], client_id);
    assert_eq!(
        out["submitted"],
        json!({ "status": 200, "body": {} }),
        "{out}"
    );

    let verified = verified_callback(env, &id).await;
    let data = &verified["verifiedCredentialsData"][0];
    assert_eq!(
        data["claims"],
        json!({ "givenName": "Megan" }),
        "{verified}"
    );
    assert_eq!(data["issuer"], env.authority);
    assert_eq!(verified["subject"], env.wallet.did());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_librarys_jwt_vc_json_answer_verifies_and_an_unprefixed_audience_is_refused() {
    if !available() {
        return;
    }
    let s = setup().await;
    let env = &s.env;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![s.wanted()])).await;
    let out = openid4vp_js(s.input(&url, "jwt_vc_json")).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["answered"], format!("{EXPERT}_jwt"));
    assert_eq!(out["submitted"]["status"], 200, "{out}");
    let verified = verified_callback(env, &id).await;
    assert_eq!(
        verified["verifiedCredentialsData"][0]["claims"],
        json!({ "givenName": "Megan", "familyName": "Bowen" })
    );

    // A presentation bound to the DID alone (the pre-1.0 `aud`): refused, the request stays
    // open, as OpenID4VP 1.0 section 5.9.1 requires the full Client Identifier.
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![s.wanted()])).await;
    let mut input = s.input(&url, "dc+sd-jwt");
    input["audience"] = json!("identifier");
    let out = openid4vp_js(input).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["submitted"]["status"], 400, "{out}");
    assert_eq!(out["submitted"]["body"]["error"], "invalid_request");
    assert!(
        out["submitted"]["body"]["error_description"]
            .as_str()
            .unwrap()
            .ends_with("(PRES-066)"),
        "{out}"
    );
    let (_, polled) = verity_tests::presentation::poll(env, &id).await;
    assert_eq!(polled["requestStatus"], "presentation_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_resolves_a_redirect_uri_request_by_value() {
    if !available() {
        return;
    }
    let s = setup().await;
    let env = &s.env;
    let mut body = openid4vp_body(env, vec![s.wanted()]);
    body["clientIdPrefix"] = json!("redirect_uri");
    let (id, url) = new_openid4vp(env, &body).await;
    let out = openid4vp_js(s.input(&url, "dc+sd-jwt")).await;
    assert_eq!(out["ok"], true, "{out}");
    let response_uri = format!("{}/openid4vp/responses/{id}", env.app.url);
    assert_eq!(out["resolved"]["prefix"], "redirect_uri");
    assert_eq!(out["resolved"]["identifier"], response_uri);
    assert_eq!(out["resolved"]["jar"], Value::Null, "not signed");
    assert_eq!(out["aud"], format!("redirect_uri:{response_uri}"));
    assert_eq!(out["submitted"]["status"], 200, "{out}");
    verified_callback(env, &id).await;
}
