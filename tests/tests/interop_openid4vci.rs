//! Interop: `@openid4vc/openid4vci` and `@openid4vc/oauth2` 0.4.6 (an independent OpenID4VCI
//! wallet-side implementation, pinned in `tests/interop/package-lock.json`) receive credentials
//! from Verity's OpenID4VCI 1.0 issuer over loopback http, driven by `tests/interop/openid4vci.mjs`
//! with a holder key of its own: the offer by reference, both metadata documents, the token
//! request with `tx_code`, the nonce endpoint, a `jwt` key proof, the credential response. Each
//! credential is then verified here (signature against the authority's did.json key, bound to
//! the library's key, claims). Where the library is looser than the final spec, the tests pin
//! what it does and that Verity follows the spec (docs/STANDARDS.md, "Interop:
//! @openid4vc/openid4vci (wallet side)"). Without Node or `npm ci` in `tests/interop` these tests
//! print a note and pass, unless VERITY_TEST_REQUIRE_INTEROP=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{Jwk, UnverifiedJws};
use verity_sd_jwt::{KeyBindingPolicy, VerifyOptions, verify_with_issuer_key};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env};
use verity_tests::{Backend, both_backends};

both_backends!(
    the_library_receives_an_sd_jwt_vc_with_a_tx_code,
    the_library_receives_a_jwt_vc_json_with_a_tx_code,
    tx_code_errors_reach_the_library_as_the_spec_codes,
    the_drafts_singular_proof_the_library_still_sends_is_refused,
    the_library_reads_verity_metadata_as_1_0_and_guesses_drafts_without_credential_metadata,
);

const PIN: &str = "4821";

/// Whether Node and the library are installed (`verity_tests::interop::available`).
fn available() -> bool {
    verity_tests::interop::available(&["@openid4vc/openid4vci", "@openid4vc/oauth2"])
}

/// Runs `node openid4vci.mjs receive` with `input` (plus the app's clock as `now`) and returns
/// its JSON answer. Asynchronous, so the app on this runtime keeps serving the library.
async fn receive_js(env: &IssuanceEnv, mut input: Value) -> Value {
    input["now"] = json!(env.app.clock.unix());
    verity_tests::interop::node("openid4vci.mjs", "receive", &input).await
}

/// The answer of a flow that must have succeeded; its one credential.
fn credential_of(answer: &Value) -> String {
    assert_eq!(answer["ok"], true, "{answer:#}");
    let credentials = answer["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 1, "{answer:#}");
    credentials[0].as_str().unwrap().to_owned()
}

/// The library's calls of one kind, in order.
fn steps<'a>(answer: &'a Value, name: &str) -> Vec<&'a Value> {
    answer["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == name)
        .collect()
}

/// The spec error a failed library call reported: `error` is `code` and the HTTP status
/// `status`; returns the `error_description`, checked against OAuth's character set.
fn spec_error(step: &Value, status: u16, code: &str) -> String {
    assert_eq!(step["ok"], false, "{step:#}");
    assert_eq!(step["error"]["status"], status, "{step:#}");
    assert_eq!(step["error"]["error"], code, "{step:#}");
    let description = step["error"]["error_description"].as_str().unwrap();
    // RFC 6749 section 5.2, OpenID4VCI 8.3.1.2: %x20-21 / %x23-5B / %x5D-7E.
    assert!(
        description
            .chars()
            .all(|c| matches!(c, ' '..='!' | '#'..='[' | ']'..='~')),
        "{description}"
    );
    description.to_owned()
}

async fn hint_contract(env: &IssuanceEnv) -> String {
    env.create_contract(example_contract("id-token-hint", &env.authority))
        .await
}

/// Creates an offer of `contract` in `format`, with the PIN as `tx_code` when `pin`; its
/// request id and `openid-credential-offer://` URL.
async fn new_offer(env: &IssuanceEnv, contract: &str, format: &str, pin: bool) -> (String, String) {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["profile"] = json!("openid4vci");
    body["format"] = json!(format);
    if pin {
        body["pin"] = json!({ "value": PIN, "length": 4 });
    }
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["requestId"].as_str().unwrap().to_owned(),
        created["url"].as_str().unwrap().to_owned(),
    )
}

async fn issuer_of(env: &IssuanceEnv) -> String {
    let authority = env
        .store()
        .authority_by_did(&env.authority)
        .await
        .unwrap()
        .unwrap();
    format!("{}/openid4vci/{}", env.app.url, authority.id)
}

/// The key a `did:jwk` DID encodes.
fn did_jwk_key(did: &str) -> Value {
    let encoded = did.strip_prefix("did:jwk:").unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

fn thumbprint(jwk: &Value) -> String {
    Jwk::from_json_value(jwk).unwrap().thumbprint().unwrap()
}

/// What every successful library flow shows on the wire: the offer by reference, both
/// metadata documents at their path-inserted well-known URLs (12.2.2, RFC 8414 section 3.1),
/// 1.0 detected, the token request with the transaction code, one credential request in the
/// 1.0 shape.
async fn check_flow(env: &IssuanceEnv, answer: &Value, request_id: &str, contract: &str) {
    let issuer = issuer_of(env).await;
    let path = issuer.strip_prefix(&env.app.url).unwrap();
    assert_eq!(answer["version"], "V1", "{answer:#}");
    assert_eq!(answer["offer"]["credential_issuer"], issuer);
    let grant = &answer["offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"];
    assert_eq!(
        grant["tx_code"],
        json!({ "input_mode": "numeric", "length": 4, "description": "The PIN the organisation gave you with this offer" })
    );
    assert_eq!(answer["issuerMetadata"]["credential_issuer"], issuer);
    assert_eq!(answer["authorizationServers"][0]["issuer"], issuer);
    let urls: Vec<(&str, &str, u64)> = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["method"].as_str().unwrap(),
                h["url"].as_str().unwrap(),
                h["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let base = &env.app.url;
    assert_eq!(
        urls[..3],
        [
            ("GET", format!("{issuer}/offers/{request_id}").as_str(), 200),
            (
                "GET",
                format!("{base}/.well-known/openid-credential-issuer{path}").as_str(),
                200
            ),
            (
                "GET",
                format!("{base}/.well-known/oauth-authorization-server{path}").as_str(),
                200
            ),
        ],
        "{answer:#}"
    );
    let token = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == format!("{issuer}/token") && h["status"] == 200)
        .unwrap();
    assert_eq!(
        token["form"]["grant_type"],
        "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    );
    assert_eq!(token["form"]["tx_code"], PIN);
    // The library also sends the transaction code under draft 11's name `user_pin` (1.0 has
    // only `tx_code`) and an RFC 8707 `resource`; Verity ignores both, as 6.1 requires of
    // parameters it does not use.
    assert_eq!(token["form"]["user_pin"], PIN, "{token}");
    assert_eq!(token["form"]["resource"], issuer, "{token}");
    assert!(token["form"].get("client_id").is_none(), "{token}");
    let request = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == format!("{issuer}/credential"))
        .unwrap();
    let sent = request["json"].as_object().unwrap();
    assert_eq!(
        sent["credential_configuration_id"],
        answer["offer"]["credential_configuration_ids"][0]
    );
    assert!(
        sent["credential_configuration_id"]
            .as_str()
            .unwrap()
            .starts_with(contract)
    );
    assert_eq!(sent["proofs"]["jwt"].as_array().unwrap().len(), 1);
    assert!(!sent.contains_key("proof"), "{request}");
    // The credential response in the 1.0 shape: an array of objects.
    assert!(
        answer["credentialResponse"]["credentials"][0]["credential"].is_string(),
        "{answer:#}"
    );
    // Recorded and reported to the RP like any issuance.
    assert_eq!(
        env.poll(request_id).await.1["requestStatus"],
        "issuance_successful"
    );
    let found = env
        .store()
        .find_credentials(None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

async fn the_library_receives_an_sd_jwt_vc_with_a_tx_code(backend: Backend) {
    if !available() {
        return;
    }
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = new_offer(&env, &contract, "dc+sd-jwt", true).await;
    // Two credential requests with the one access token: the second is refused.
    let answer = receive_js(
        &env,
        json!({ "offer": url, "txCodes": [PIN], "alg": "ES256", "requests": ["proofs", "proofs"] }),
    )
    .await;
    let credential = credential_of(&answer);
    check_flow(&env, &answer, &request_id, &contract).await;
    let tries = steps(&answer, "retrieveCredentials");
    assert_eq!(tries.len(), 2, "{answer:#}");
    assert_eq!(tries[0]["ok"], true);
    // RFC 6750 section 3.1 through the library (which also parses the WWW-Authenticate header).
    assert!(spec_error(tries[1], 401, "invalid_token").contains("already used"));
    let sd = &answer["issuerMetadata"]["credential_configurations_supported"]
        [format!("{contract}.sd_jwt")];

    // Verified here: signed by the authority's did.json key, bound to the library's key.
    let issuer_jwt = credential.split('~').next().unwrap();
    let jws = UnverifiedJws::parse(issuer_jwt).unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("dc+sd-jwt"));
    let kid = jws.header().kid.clone().unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let verified = verify_with_issuer_key(
        &credential,
        &key,
        &VerifyOptions::sd_jwt_vc(env.app.clock.unix(), KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(verified.issuer.as_deref(), Some(env.authority.as_str()));
    assert_eq!(verified.vct.as_deref(), sd["vct"].as_str());
    assert_eq!(
        verified.holder_key.unwrap().thumbprint().unwrap(),
        thumbprint(&answer["holderPublicJwk"])
    );
    assert_eq!(verified.claims["givenName"], "Megan");
    assert_eq!(verified.claims["familyName"], "Bowen");
    assert_eq!(verified.disclosed.len(), 2, "one disclosure per claim");
    // Not this test's wallet key: the library made its own.
    assert_ne!(
        thumbprint(&answer["holderPublicJwk"]),
        env.wallet.public_jwk(None).unwrap().thumbprint().unwrap()
    );
}

async fn the_library_receives_a_jwt_vc_json_with_a_tx_code(backend: Backend) {
    if !available() {
        return;
    }
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = new_offer(&env, &contract, "jwt_vc_json", true).await;
    // The configuration binds to DIDs (`did:jwk`, `did:key`): the proof names the library's
    // key by its did:jwk URL in `kid` (F.1).
    let answer = receive_js(
        &env,
        json!({ "offer": url, "txCodes": [PIN], "alg": "EdDSA", "binding": "did:jwk" }),
    )
    .await;
    let credential = credential_of(&answer);
    check_flow(&env, &answer, &request_id, &contract).await;
    let configuration = &answer["issuerMetadata"]["credential_configurations_supported"]
        [format!("{contract}.jwt_vc")];
    assert_eq!(answer["holderPublicJwk"]["crv"], "Ed25519");
    assert_eq!(
        configuration["cryptographic_binding_methods_supported"],
        json!(["did:jwk", "did:key"])
    );
    let did_url = answer["holderDidUrl"].as_str().unwrap();
    let sent = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["json"]["proofs"].is_object())
        .unwrap();
    let proof = UnverifiedJws::parse(sent["json"]["proofs"]["jwt"][0].as_str().unwrap()).unwrap();
    assert_eq!(proof.header().kid.as_deref(), Some(did_url));
    assert!(proof.header().jwk.is_none());

    let jws = UnverifiedJws::parse(&credential).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let payload: Value = jws.verify(&key).unwrap().claims().unwrap();
    assert_eq!(payload["iss"], env.authority);
    // The subject is the library's DID, which is its key.
    let sub = payload["sub"].as_str().unwrap();
    assert_eq!(Some(sub), did_url.strip_suffix("#0"));
    assert_eq!(
        thumbprint(&did_jwk_key(sub)),
        thumbprint(&answer["holderPublicJwk"])
    );
    assert_eq!(
        payload["vc"]["credentialSubject"],
        json!({ "id": sub, "givenName": "Megan", "familyName": "Bowen" })
    );
    assert_eq!(
        payload["vc"]["type"],
        configuration["credential_definition"]["type"]
    );
    assert_eq!(
        payload["vc"]["credentialStatus"]["type"],
        "BitstringStatusListEntry"
    );
}

async fn tx_code_errors_reach_the_library_as_the_spec_codes(backend: Backend) {
    if !available() {
        return;
    }
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = new_offer(&env, &contract, "dc+sd-jwt", true).await;

    // Two wrong codes: invalid_grant (6.3), counted.
    let answer = receive_js(&env, json!({ "offer": url, "txCodes": ["0000", "1111"] })).await;
    assert_eq!(answer["ok"], false, "{answer:#}");
    assert_eq!(
        answer["step"],
        "retrievePreAuthorizedCodeAccessTokenFromOffer"
    );
    let tries = steps(&answer, "retrievePreAuthorizedCodeAccessTokenFromOffer");
    assert_eq!(tries.len(), 2, "{answer:#}");
    assert!(spec_error(tries[0], 400, "invalid_grant").contains("4 of 5 attempts left"));
    assert!(spec_error(tries[1], 400, "invalid_grant").contains("3 of 5 attempts left"));
    assert_eq!(tries[0]["error"]["name"], "Oauth2ClientErrorResponseError");
    assert!(steps(&answer, "retrieveCredentials").is_empty());

    // A third wrong one, then the right one in the same run: the offer is still good.
    let answer = receive_js(&env, json!({ "offer": url, "txCodes": ["2222", PIN] })).await;
    let tries = steps(&answer, "retrievePreAuthorizedCodeAccessTokenFromOffer");
    assert!(spec_error(tries[0], 400, "invalid_grant").contains("2 of 5 attempts left"));
    assert_eq!(tries[1]["ok"], true);
    credential_of(&answer);
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_successful"
    );

    // The code is spent: the right transaction code again is invalid_grant.
    let answer = receive_js(&env, json!({ "offer": url, "txCodes": [PIN] })).await;
    let tries = steps(&answer, "retrievePreAuthorizedCodeAccessTokenFromOffer");
    assert!(spec_error(tries[0], 400, "invalid_grant").contains("already used"));

    // A transaction code the offer did not ask for: invalid_request (6.3).
    let (_, url) = new_offer(&env, &contract, "dc+sd-jwt", false).await;
    let answer = receive_js(&env, json!({ "offer": url, "txCodes": [PIN] })).await;
    let tries = steps(&answer, "retrievePreAuthorizedCodeAccessTokenFromOffer");
    assert!(spec_error(tries[0], 400, "invalid_request").contains("tx_code"));
    // Without one, the same offer issues.
    let answer = receive_js(&env, json!({ "offer": url })).await;
    credential_of(&answer);
}

async fn the_drafts_singular_proof_the_library_still_sends_is_refused(backend: Backend) {
    if !available() {
        return;
    }
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let issuer = issuer_of(&env).await;
    let (request_id, url) = new_offer(&env, &contract, "dc+sd-jwt", true).await;
    // The library builds the drafts' `proof` for a 1.0 issuer when asked (it detected V1);
    // Verity refuses it, then the same access token still gets the credential with `proofs`.
    let answer = receive_js(
        &env,
        json!({ "offer": url, "txCodes": [PIN], "requests": ["proof", "proofs"] }),
    )
    .await;
    assert_eq!(answer["version"], "V1");
    let tries = steps(&answer, "retrieveCredentials");
    assert_eq!(tries.len(), 2, "{answer:#}");
    assert_eq!(tries[0]["shape"], "proof");
    let description = spec_error(tries[0], 400, "invalid_credential_request");
    assert!(description.contains("proofs"), "{description}");
    assert_eq!(
        tries[0]["error"]["name"],
        "Openid4vciRetrieveCredentialsError"
    );
    let sent: Vec<&Value> = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["url"] == format!("{issuer}/credential"))
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["json"]["proof"]["proof_type"], "jwt", "{}", sent[0]);
    assert!(sent[0]["json"].get("proofs").is_none());
    assert_eq!(tries[1]["ok"], true, "{answer:#}");
    credential_of(&answer);
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_successful"
    );
    assert_eq!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn the_library_reads_verity_metadata_as_1_0_and_guesses_drafts_without_credential_metadata(
    backend: Backend,
) {
    if !available() {
        return;
    }
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let issuer = issuer_of(&env).await;

    // As served: every configuration carries credential_metadata, so the library reads 1.0.
    let (_, url) = new_offer(&env, &contract, "jwt_vc_json", false).await;
    let answer = receive_js(&env, json!({ "offer": url })).await;
    assert_eq!(answer["version"], "V1", "{answer:#}");
    // The library does not look at cryptographic_binding_methods_supported: it proves its key
    // in `jwk` although this configuration names DID methods. Verity binds the JWT-VC to the
    // did:jwk of exactly that key.
    let credential = credential_of(&answer);
    let payload: Value = UnverifiedJws::parse(&credential)
        .unwrap()
        .payload_unverified()
        .unwrap();
    assert_eq!(
        thumbprint(&did_jwk_key(payload["sub"].as_str().unwrap())),
        thumbprint(&answer["holderPublicJwk"])
    );
    for (_, c) in answer["issuerMetadata"]["credential_configurations_supported"]
        .as_object()
        .unwrap()
    {
        assert!(c["credential_metadata"]["claims"].is_array(), "{c}");
    }

    // The same metadata without the (optional) credential_metadata: the library guesses
    // draft 15 because a dc+sd-jwt configuration is there.
    let (_, url) = new_offer(&env, &contract, "jwt_vc_json", false).await;
    let answer = receive_js(
        &env,
        json!({ "offer": url, "metadata": "without-credential-metadata" }),
    )
    .await;
    assert_eq!(answer["version"], "Draft15", "{answer:#}");

    // And with only the jwt_vc_json configuration left, draft 14: the library then asks for
    // the credential in the drafts' `format` shape, which a 1.0 issuer refuses.
    let (_, url) = new_offer(&env, &contract, "jwt_vc_json", false).await;
    let answer = receive_js(
        &env,
        json!({ "offer": url, "metadata": "jwt-vc-only-without-credential-metadata" }),
    )
    .await;
    assert_eq!(answer["version"], "Draft14", "{answer:#}");
    assert_eq!(answer["step"], "retrieveCredentials", "{answer:#}");
    let tries = steps(&answer, "retrieveCredentials");
    let description = spec_error(tries[0], 400, "invalid_credential_request");
    assert!(
        description.contains("credential_configuration_id"),
        "{description}"
    );
    let sent = answer["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == format!("{issuer}/credential"))
        .unwrap();
    assert_eq!(sent["json"]["format"], "jwt_vc_json", "{sent}");
    assert!(sent["json"].get("credential_configuration_id").is_none());
}
