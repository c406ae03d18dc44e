//! The OpenID4VP 1.0 verifier profile end to end: presentation requests created with
//! `profile: "openid4vp"` are answered by the reference wallet over DCQL and `direct_post`,
//! verified on the same flow steps, callbacks and polling as the hosted profile, and every
//! hostile answer is refused with its own PRES code while the request stays answerable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{SigningKey, UnverifiedJws};
use verity_tests::openid4vp::{
    answer_with, assert_vp_refused, latest_error, new_openid4vp, openid4vp_body, verified_callback,
};
use verity_tests::presentation::{
    EXPERT, Fixture, RP_STATE, contract_for, create_presentation, issue_to, outbox_of, payload_of,
    poll, requested, second_wallet,
};
use verity_tests::{Backend, assert_error_shape, both_backends};
use verity_wallet::{
    Algorithm, CredentialFormat, OfferOptions, Openid4vpOptions, Openid4vpSession, StoredCredential,
};

both_backends!(
    jwt_vc_json_presentation_is_verified_and_reported,
    two_credentials_are_presented_in_one_vp_token,
    missing_credential_is_refused,
    undisclosed_required_claim_is_refused,
    wrong_nonce_is_refused,
    wrong_client_id_audience_is_refused,
    presentation_signed_by_another_key_is_refused,
    a_strangers_refused_answer_does_not_end_the_request,
    two_answers_at_once_give_one_verdict,
    revocation_counts_on_the_next_request,
    wallet_error_response_is_recorded_and_the_request_stays_open,
    redirect_uri_prefix_passes_the_request_by_value,
    create_and_request_object_input_is_checked,
    sd_jwt_vc_presentation_discloses_only_the_claims_asked_for,
    both_formats_answer_one_request,
    sd_jwt_vc_refusals_each_have_their_code,
    sd_jwt_vc_revocation_counts_on_the_next_request,
);

/// The fixture's default requested credential with the RP asking for `givenName` as well.
fn expert(f: &Fixture) -> Value {
    let mut r = f.requested();
    r["claims"] = json!(["givenName"]);
    r
}

/// The `jwt_vc_json` Credential Query id of [`EXPERT`] (the `dc+sd-jwt` one is [`EXPERT`]).
fn jwt_query() -> String {
    format!("{EXPERT}_jwt")
}

fn url_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

/// The app's answer to a wallet answer with `opts` to a fresh request for `requested`.
async fn answer(
    f: &Fixture,
    requested: Vec<Value>,
    opts: &Openid4vpOptions,
) -> (String, (u16, Value)) {
    let (id, url) = new_openid4vp(&f.env, &openid4vp_body(&f.env, requested)).await;
    let answer = answer_with(&f.env.wallet, &url, opts).await;
    (id, answer)
}

/// The fixture's credential as the wallet stored it.
fn stored(f: &Fixture) -> StoredCredential {
    f.env
        .wallet
        .credentials()
        .into_iter()
        .find(|c| c.jwt == f.vc)
        .unwrap()
}

async fn jwt_vc_json_presentation_is_verified_and_reported(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let mut body = openid4vp_body(env, vec![expert(&f)]);
    body["includeQRCode"] = json!(true);
    let (status, created) = create_presentation(env, &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["requestId"].as_str().unwrap().to_owned();
    let url = created["url"].as_str().unwrap().to_owned();
    assert!(
        created["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert!(created["expiry"].as_i64().unwrap() > env.app.clock.unix());

    // The authorization request by reference (section 5.10 of JAR, RFC 9101).
    let client_id = format!("decentralized_identifier:{}", env.authority);
    let request_uri = format!("{}/openid4vp/requests/{id}", env.app.url);
    let expected_url = format!(
        "openid4vp://?client_id={}&request_uri={}",
        url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>(),
    );
    assert_eq!(url, expected_url);
    assert_eq!(url_param(&url, "client_id"), client_id);

    // The request object: typed, signed by a key the authority's DID document lists.
    let resp = env.app.http.get(&request_uri).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/oauth-authz-req+jwt"
    );
    let jwt = resp.text().await.unwrap();
    let jws = UnverifiedJws::parse(&jwt).unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("oauth-authz-req+jwt"));
    let kid = jws.header().kid.clone().unwrap();
    assert!(kid.starts_with(&format!("{}#", env.authority)), "{kid}");
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let claims: Value = jws.verify(&key).unwrap().claims().unwrap();
    let now = env.app.clock.unix();
    let mut shown = claims.clone();
    for volatile in ["nonce", "iat", "exp", "jti", "dcql_query"] {
        assert!(shown.get(volatile).is_some(), "{volatile} in {claims}");
        shown.as_object_mut().unwrap().remove(volatile);
    }
    assert_eq!(
        shown,
        json!({
            "iss": env.authority,
            "aud": "https://self-issued.me/v2",
            "client_id": client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": format!("{}/openid4vp/responses/{id}", env.app.url),
            "state": id,
            "client_metadata": {
                "client_name": "Helpdesk",
                "vp_formats_supported": {
                    "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256", "ES256K", "EdDSA"],
                                   "kb-jwt_alg_values": ["ES256", "ES256K", "EdDSA"] },
                    "jwt_vc_json": { "alg_values": ["ES256", "ES256K", "EdDSA"] },
                },
            },
        })
    );
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], created["expiry"]);
    assert!(claims["nonce"].as_str().unwrap().len() >= 22, "128 bits");
    let vct = format!("{}/vct/verified-credential-expert", env.app.url);
    assert_eq!(
        claims["dcql_query"],
        json!({
            "credentials": [
                { "id": EXPERT, "format": "dc+sd-jwt", "meta": { "vct_values": [vct] },
                  "claims": [ { "path": ["givenName"] } ] },
                { "id": jwt_query(), "format": "jwt_vc_json", "meta": { "type_values": [[EXPERT]] },
                  "claims": [ { "path": ["credentialSubject", "givenName"] } ] },
            ],
            "credential_sets": [ { "options": [[EXPERT], [jwt_query()]] } ],
        })
    );

    // The wallet answers (its only credential is the hosted profile's JWT-VC).
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.status, 200);
    assert_eq!(presented.body, json!({}));
    assert_eq!(presented.descriptors, vec![jwt_query()]);
    let verified = verified_callback(env, &id).await;
    let vc = payload_of(&f.vc);
    let rfc3339 = |v: &Value| {
        chrono::DateTime::from_timestamp(v.as_i64().unwrap(), 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let receipt = verified["receipt"].clone();
    assert_eq!(receipt["state"], id);
    let vp = payload_of(receipt["vp_token"][jwt_query()][0].as_str().unwrap());
    assert_eq!(vp["aud"], client_id);
    assert_eq!(vp["vp"]["verifiableCredential"], json!([f.vc]));
    assert_eq!(
        verified,
        json!({
            "requestId": id,
            "requestStatus": "presentation_verified",
            "state": RP_STATE,
            "subject": env.wallet.did(),
            "verifiedCredentialsData": [ {
                "issuer": env.authority,
                "type": vc["vc"]["type"],
                "claims": { "givenName": "Megan", "familyName": "Bowen" },
                "credentialState": { "revocationStatus": "VALID" },
                "domainValidation": { "url": format!("http://localhost:{}/", env.app.port) },
                "issuanceDate": rfc3339(&vc["nbf"]),
                "expirationDate": rfc3339(&vc["exp"]),
            } ],
            "receipt": receipt,
        })
    );
    let (status, polled) = poll(env, &id).await;
    assert_eq!(status, 200);
    assert_eq!(polled, verified);
    // Queued in the same outbox, in either order.
    let mut statuses: Vec<String> = outbox_of(&env.app, &id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["presentation_verified", "request_retrieved"]);

    // Answered once: a second answer finds the request final.
    let again = answer_with(&env.wallet, &url, &Openid4vpOptions::default()).await;
    assert_eq!(again.0, 409, "{}", again.1);
    assert_eq!(again.1["error"], "invalid_request");
}

async fn two_credentials_are_presented_in_one_vp_token(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let badge = env
        .create_contract(contract_for(&env.authority, "badge", "BuildingBadge"))
        .await;
    let badge_vc = issue_to(env, &env.wallet, &env.authority, &badge, "Megan", |_| {}).await;
    let (id, url) = new_openid4vp(
        env,
        &openid4vp_body(
            env,
            vec![expert(&f), requested("BuildingBadge", &[&env.authority])],
        ),
    )
    .await;
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(
        presented.descriptors,
        vec![jwt_query(), "BuildingBadge_jwt".to_owned()]
    );
    let verified = verified_callback(env, &id).await;
    let data = verified["verifiedCredentialsData"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{verified}");
    assert_eq!(data[0]["type"], payload_of(&f.vc)["vc"]["type"]);
    assert_eq!(data[1]["type"], payload_of(&badge_vc)["vc"]["type"]);
    let receipt = &verified["receipt"]["vp_token"];
    assert_eq!(
        receipt.as_object().unwrap().keys().collect::<Vec<_>>(),
        [&"BuildingBadge_jwt".to_owned(), &jwt_query()]
    );
}

async fn missing_credential_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = Openid4vpOptions {
        drop_queries: vec![jwt_query()],
        ..Openid4vpOptions::default()
    };
    let (id, answer) = answer(&f, vec![expert(&f)], &opts).await;
    let cb = assert_vp_refused(
        &f.env,
        &id,
        &answer,
        "PRES-059",
        "presentationSubmissionError",
    )
    .await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("credential_sets[0]"),
        "{cb}"
    );
}

async fn undisclosed_required_claim_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    // The RP asks for a claim the credential does not have; the wallet presents it anyway.
    let mut wanted = expert(&f);
    wanted["claims"] = json!(["givenName", "employeeId"]);
    let opts = Openid4vpOptions {
        credentials: BTreeMap::from([(jwt_query(), stored(&f))]),
        ..Openid4vpOptions::default()
    };
    let (id, answer) = answer(&f, vec![wanted], &opts).await;
    let cb = assert_vp_refused(&f.env, &id, &answer, "PRES-062", "claimValidationError").await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("employeeId"),
        "{cb}"
    );
}

async fn wrong_nonce_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = Openid4vpOptions {
        nonce_override: Some("not-the-requests-nonce".into()),
        ..Openid4vpOptions::default()
    };
    let (id, answer) = answer(&f, vec![expert(&f)], &opts).await;
    assert_vp_refused(&f.env, &id, &answer, "PRES-020", "tokenValidationError").await;
}

async fn wrong_client_id_audience_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    // The authority's DID without the Client Identifier Prefix (a pre-1.0 wallet's `aud`).
    let opts = Openid4vpOptions {
        aud_override: Some(f.env.authority.clone()),
        ..Openid4vpOptions::default()
    };
    let (id, answer) = answer(&f, vec![expert(&f)], &opts).await;
    let cb = assert_vp_refused(&f.env, &id, &answer, "PRES-019", "tokenValidationError").await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("decentralized_identifier:"),
        "{cb}"
    );
}

async fn presentation_signed_by_another_key_is_refused(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let opts = Openid4vpOptions {
        key_override: Some(SigningKey::generate(Algorithm::EdDSA).unwrap()),
        ..Openid4vpOptions::default()
    };
    let (id, answer) = answer(&f, vec![expert(&f)], &opts).await;
    assert_vp_refused(&f.env, &id, &answer, "PRES-018", "tokenValidationError").await;
}

/// Whoever saw the QR code can answer; a refused answer is reported but the holder's own
/// answer still verifies afterwards.
async fn a_strangers_refused_answer_does_not_end_the_request(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    // A stranger's wallet presents the holder's credential (copied), signed with its own key.
    let (stranger, _dir) = second_wallet(env, Algorithm::ES256);
    let mut stolen = stored(&f);
    stolen.subject = stranger.did();
    let opts = Openid4vpOptions {
        credentials: BTreeMap::from([(jwt_query(), stolen)]),
        ..Openid4vpOptions::default()
    };
    let refused = answer_with(&stranger, &url, &opts).await;
    assert_vp_refused(env, &id, &refused, "PRES-039", "credentialValidationError").await;
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.status, 200);
    let verified = verified_callback(env, &id).await;
    assert_eq!(verified["subject"], env.wallet.did());
    let (_, polled) = poll(env, &id).await;
    assert_eq!(polled["requestStatus"], "presentation_verified");
}

async fn two_answers_at_once_give_one_verdict(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    let session = Openid4vpSession::start(&env.wallet, &url).await.unwrap();
    // Two valid answers (each VP with its own jti), posted at the same time.
    let a = session.build(&Openid4vpOptions::default()).unwrap();
    let b = session.build(&Openid4vpOptions::default()).unwrap();
    let (ra, rb) = tokio::join!(session.submit(&a), session.submit(&b));
    let mut statuses = [ra.unwrap().0, rb.unwrap().0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    verified_callback(env, &id).await;
    let verdicts = outbox_of(&env.app, &id)
        .await
        .into_iter()
        .filter(|m| m.request_status == "presentation_verified")
        .count();
    assert_eq!(verdicts, 1);
}

async fn revocation_counts_on_the_next_request(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let (_, first) = answer(&f, vec![expert(&f)], &Openid4vpOptions::default()).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": payload_of(&f.vc)["jti"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (id, refused) = answer(&f, vec![expert(&f)], &Openid4vpOptions::default()).await;
    assert_vp_refused(env, &id, &refused, "PRES-043", "credentialRevoked").await;
    // Allowed by the RP: verified and reported REVOKED.
    let mut allowing = expert(&f);
    allowing["configuration"]["validation"]["allowRevoked"] = json!(true);
    let (id, ok) = answer(&f, vec![allowing], &Openid4vpOptions::default()).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let verified = verified_callback(env, &id).await;
    assert_eq!(
        verified["verifiedCredentialsData"][0]["credentialState"],
        json!({ "revocationStatus": "REVOKED" })
    );
}

async fn wallet_error_response_is_recorded_and_the_request_stays_open(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    let session = Openid4vpSession::start(&env.wallet, &url).await.unwrap();
    let (status, body) = session
        .submit_form(&[
            ("error", "access_denied"),
            ("error_description", "the holder declined"),
            ("state", &id),
        ])
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({})));
    let cb = latest_error(env, &id, "PRES-065").await;
    assert_eq!(
        cb["error"],
        json!({
            "code": "presentationSubmissionError",
            "message": "wallet: answered with error \"access_denied\" instead of a vp_token: the holder declined",
            "innerCode": "PRES-065",
        })
    );
    // A vp_token for another request's state.
    let answer = session.build(&Openid4vpOptions {
        state_override: Some("someone-else".into()),
        ..Openid4vpOptions::default()
    });
    let refused = session.submit(&answer.unwrap()).await.unwrap();
    assert_vp_refused(env, &id, &refused, "PRES-003", "tokenValidationError").await;
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.status, 200);
}

async fn redirect_uri_prefix_passes_the_request_by_value(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let mut body = openid4vp_body(env, vec![expert(&f)]);
    body["clientIdPrefix"] = json!("redirect_uri");
    let (id, url) = new_openid4vp(env, &body).await;
    let response_uri = format!("{}/openid4vp/responses/{id}", env.app.url);
    assert_eq!(
        url_param(&url, "client_id"),
        format!("redirect_uri:{response_uri}")
    );
    assert_eq!(url_param(&url, "response_uri"), response_uri);
    assert_eq!(url_param(&url, "response_type"), "vp_token");
    assert_eq!(url_param(&url, "response_mode"), "direct_post");
    assert_eq!(url_param(&url, "state"), id);
    let dcql: Value = serde_json::from_str(&url_param(&url, "dcql_query")).unwrap();
    assert_eq!(dcql["credentials"][1]["id"], jwt_query());
    assert!(
        url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .all(|(k, _)| k != "request_uri")
    );
    // No request object exists for an unsigned request.
    let (status, answer) = env
        .app
        .get(&format!("/openid4vp/requests/{id}"), None)
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_error_shape(&answer, "notFound", "notFound");
    let presented = env.wallet.present(&url).await.unwrap();
    assert_eq!(presented.status, 200);
    let verified = verified_callback(env, &id).await;
    let vp = payload_of(
        verified["receipt"]["vp_token"][jwt_query()][0]
            .as_str()
            .unwrap(),
    );
    assert_eq!(vp["aud"], format!("redirect_uri:{response_uri}"));
}

async fn create_and_request_object_input_is_checked(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let refused = |edit: &dyn Fn(&mut Value), target: &str| {
        let mut body = openid4vp_body(env, vec![expert(&f)]);
        edit(&mut body);
        let target = target.to_owned();
        async move {
            let (status, answer) = create_presentation(env, &body).await;
            assert_eq!(status, 400, "{target}: {answer}");
            let inner = assert_error_shape(&answer, "badRequest", "badOrMissingField");
            assert_eq!(inner["target"], target, "{answer}");
            inner["message"].as_str().unwrap().to_owned()
        }
    };
    let m = refused(&|b| b["profile"] = json!("openid4vp-draft"), "profile").await;
    assert!(m.contains("openid4vp-draft"), "{m}");
    refused(
        &|b| b["clientIdPrefix"] = json!("x509_san_dns"),
        "clientIdPrefix",
    )
    .await;
    refused(
        &|b| {
            b["requestedCredentials"][0]["configuration"]["validation"]["faceCheck"] =
                json!({ "sourcePhotoClaimName": "photo" })
        },
        "requestedCredentials[0].configuration.validation.faceCheck",
    )
    .await;
    refused(
        &|b| b["requestedCredentials"][0]["claims"] = json!([""]),
        "requestedCredentials[0].claims",
    )
    .await;
    // The profile's options need the profile.
    refused(
        &|b| {
            b.as_object_mut().unwrap().remove("profile");
            b["clientIdPrefix"] = json!("redirect_uri");
        },
        "clientIdPrefix",
    )
    .await;
    refused(
        &|b| {
            b.as_object_mut().unwrap().remove("profile");
        },
        "requestedCredentials[0].claims",
    )
    .await;

    // Request objects exist only for this profile's requests, and only while they live.
    let hosted = verity_tests::presentation::presentation_body(env, vec![f.requested()]);
    let (status, created) = create_presentation(env, &hosted).await;
    assert_eq!(status, 201, "{created}");
    let hosted_id = created["requestId"].as_str().unwrap();
    let (status, _) = env
        .app
        .get(&format!("/openid4vp/requests/{hosted_id}"), None)
        .await;
    assert_eq!(status, 404);
    let (id, _) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    // The hosted profile's endpoints do not take an OpenID4VP request.
    let (status, answer) = env.app.get(&format!("/v1.0/requests/{id}"), None).await;
    assert_eq!(status, 400, "{answer}");
    let inner = assert_error_shape(&answer, "badRequest", "badOrMissingField");
    assert_eq!(inner["target"], "profile");
    let answer =
        verity_tests::presentation::post_response(&env.app, &id, "a.b.c", "a.b.c", &id).await;
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(
        assert_error_shape(&answer.1, "badRequest", "badOrMissingField")["target"],
        "profile"
    );
    assert!(
        outbox_of(&env.app, &id).await.is_empty(),
        "nothing recorded"
    );
    env.app.clock.advance(chrono::Duration::seconds(301));
    let (status, answer) = env
        .app
        .get(&format!("/openid4vp/requests/{id}"), None)
        .await;
    assert_eq!(status, 410, "{answer}");
    // An unknown request's answer.
    let unknown = uuid::Uuid::new_v4();
    let resp = env
        .app
        .http
        .post(format!("{}/openid4vp/responses/{unknown}", env.app.url))
        .form(&[("vp_token", "{}"), ("state", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .ends_with("(PRES-001)"),
        "{body}"
    );
}

/// An SD-JWT VC of the fixture's contract issued to the fixture's wallet over OpenID4VCI
/// (givenName "Megan", familyName "Bowen", every claim selectively disclosable).
async fn sd_jwt_vc(f: &Fixture) -> StoredCredential {
    let env = &f.env;
    let mut body = env.request_body(&f.contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["profile"] = json!("openid4vci");
    let (status, created) = env.create_request(&body).await;
    assert_eq!(status, 201, "{created}");
    let cred = env
        .wallet
        .receive_offer(created["url"].as_str().unwrap(), &OfferOptions::default())
        .await
        .unwrap();
    assert_eq!(cred.format, CredentialFormat::SdJwtVc);
    cred
}

/// The issuer-signed JWT's payload of an SD-JWT.
fn sd_payload(sd_jwt: &str) -> Value {
    payload_of(sd_jwt.split('~').next().unwrap())
}

async fn sd_jwt_vc_presentation_discloses_only_the_claims_asked_for(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let cred = sd_jwt_vc(&f).await;
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    let presented = env.wallet.present(&url).await.unwrap();
    // The SD-JWT VC is the preferred option of the credential set.
    assert_eq!(presented.descriptors, vec![EXPERT.to_owned()]);
    let verified = verified_callback(env, &id).await;
    let presentation = verified["receipt"]["vp_token"][EXPERT][0]
        .as_str()
        .unwrap()
        .to_owned();
    // One disclosure (givenName) and a KB-JWT for this verifier and nonce.
    let parts: Vec<&str> = presentation.split('~').collect();
    assert_eq!(parts.len(), 3, "issuer JWT, one disclosure, KB-JWT");
    let kb = payload_of(parts[2]);
    assert_eq!(
        kb["aud"],
        format!("decentralized_identifier:{}", env.authority)
    );
    let issued = sd_payload(&cred.jwt);
    let rfc3339 = |v: &Value| {
        chrono::DateTime::from_timestamp(v.as_i64().unwrap(), 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut expected_data = json!({
        "issuer": env.authority,
        "type": [issued["vct"]],
        "claims": { "givenName": "Megan" },
        "credentialState": { "revocationStatus": "VALID" },
        "domainValidation": { "url": format!("http://localhost:{}/", env.app.port) },
        "expirationDate": rfc3339(&issued["exp"]),
    });
    let issued_at = issued.get("nbf").unwrap_or(&issued["iat"]);
    expected_data["issuanceDate"] = json!(rfc3339(issued_at));
    assert_eq!(
        verified,
        json!({
            "requestId": id,
            "requestStatus": "presentation_verified",
            "state": RP_STATE,
            "subject": env.wallet.did(),
            "verifiedCredentialsData": [expected_data],
            "receipt": { "vp_token": { EXPERT: [presentation] }, "state": id },
        })
    );
    assert_eq!(poll(env, &id).await.1, verified);
}

async fn both_formats_answer_one_request(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    sd_jwt_vc(&f).await;
    let badge = env
        .create_contract(contract_for(&env.authority, "badge", "BuildingBadge"))
        .await;
    let badge_vc = issue_to(env, &env.wallet, &env.authority, &badge, "Megan", |_| {}).await;
    let mut badge_wanted = requested("BuildingBadge", &[&env.authority]);
    badge_wanted["constraints"] = json!([ { "claimName": "familyName", "values": ["Bowen"] } ]);
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f), badge_wanted])).await;
    let session = Openid4vpSession::start(&env.wallet, &url).await.unwrap();
    // The badge was never issued as an SD-JWT VC: only its JWT-VC query is answerable.
    let answer = session.build(&Openid4vpOptions::default()).unwrap();
    assert_eq!(
        answer.queries,
        vec![EXPERT.to_owned(), "BuildingBadge_jwt".to_owned()]
    );
    let (status, body) = session.submit(&answer).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let verified = verified_callback(env, &id).await;
    let data = verified["verifiedCredentialsData"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["claims"], json!({ "givenName": "Megan" }));
    assert_eq!(data[1]["type"], payload_of(&badge_vc)["vc"]["type"]);
    assert_eq!(
        data[1]["claims"],
        json!({ "givenName": "Megan", "familyName": "Bowen" })
    );
}

/// A disclosure of the same claim with another value, which the issuer never signed.
fn tamper_disclosure(presentation: &str) -> String {
    let mut parts: Vec<String> = presentation.split('~').map(str::to_owned).collect();
    let forged = serde_json::to_vec(&json!(["c2FsdHNhbHRzYWx0", "givenName", "Mallory"])).unwrap();
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
    parts.join("~")
}

async fn sd_jwt_vc_refusals_each_have_their_code(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    sd_jwt_vc(&f).await;
    let with = |edit: fn(&mut Openid4vpOptions)| {
        let mut o = Openid4vpOptions::default();
        edit(&mut o);
        o
    };
    let cases: Vec<(&str, Openid4vpOptions, &str, &str)> = vec![
        (
            "wrong nonce",
            with(|o| o.nonce_override = Some("not-the-requests-nonce".into())),
            "PRES-067",
            "tokenValidationError",
        ),
        (
            "aud without the Client Identifier Prefix",
            Openid4vpOptions {
                aud_override: Some(env.authority.clone()),
                ..Openid4vpOptions::default()
            },
            "PRES-066",
            "tokenValidationError",
        ),
        (
            "KB-JWT signed by another key",
            with(|o| o.key_override = Some(SigningKey::generate(Algorithm::ES256).unwrap())),
            "PRES-068",
            "tokenValidationError",
        ),
        (
            "the requested claim withheld",
            with(|o| o.withhold = vec!["givenName".into()]),
            "PRES-062",
            "claimValidationError",
        ),
        (
            "the credential left out",
            with(|o| o.drop_queries = vec![EXPERT.into()]),
            "PRES-059",
            "presentationSubmissionError",
        ),
    ];
    for (what, opts, code, hosted) in cases {
        let (id, answer) = answer(&f, vec![expert(&f)], &opts).await;
        let cb = assert_vp_refused(env, &id, &answer, code, hosted).await;
        eprintln!("{what}: {}", cb["error"]["message"]);
    }
    // A tampered disclosure (the KB-JWT is not even reached).
    let (id, url) = new_openid4vp(env, &openid4vp_body(env, vec![expert(&f)])).await;
    let session = Openid4vpSession::start(&env.wallet, &url).await.unwrap();
    let mut answer = session.build(&Openid4vpOptions::default()).unwrap();
    let good = answer.vp_token[EXPERT][0].as_str().unwrap().to_owned();
    answer.vp_token[EXPERT] = json!([tamper_disclosure(&good)]);
    let refused = session.submit(&answer).await.unwrap();
    let cb = assert_vp_refused(env, &id, &refused, "PRES-070", "credentialValidationError").await;
    assert!(
        cb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SDJWT-018"),
        "{cb}"
    );
    // None of it ended the request: the untouched answer verifies.
    answer.vp_token[EXPERT] = json!([good]);
    let (status, body) = session.submit(&answer).await.unwrap();
    assert_eq!(status, 200, "{body}");
    verified_callback(env, &id).await;
}

async fn sd_jwt_vc_revocation_counts_on_the_next_request(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let env = &f.env;
    let cred = sd_jwt_vc(&f).await;
    let (_, first) = answer(&f, vec![expert(&f)], &Openid4vpOptions::default()).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let idx = sd_payload(&cred.jwt)["status"]["status_list"]["idx"]
        .as_u64()
        .unwrap();
    let record = env
        .store()
        .find_credentials(None, None, None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.status_index.map(u64::from) == Some(idx))
        .unwrap();
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": record.jti })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (id, refused) = answer(&f, vec![expert(&f)], &Openid4vpOptions::default()).await;
    assert_vp_refused(env, &id, &refused, "PRES-043", "credentialRevoked").await;
}
