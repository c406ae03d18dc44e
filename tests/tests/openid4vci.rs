//! OpenID4VCI 1.0 end to end: the real app, the reference wallet's OpenID4VCI client over HTTP
//! and a recording RP. Full pre-authorized flows for both formats, every refusal with the
//! spec's `error` code, the code and the access token used once under concurrency, and the
//! compatibility profile's endpoints closed to offers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use verity_core::Clock;
use verity_jose::{Header, SigningKey, UnverifiedJws, sign_compact};
use verity_sd_jwt::{KeyBindingPolicy, VerifyOptions, verify_with_issuer_key};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env, small_contract};
use verity_tests::{Backend, both_backends, send};
use verity_wallet::{CredentialFormat, OfferOptions, OfferSession, OfferSource, offer_from};

both_backends!(
    pre_authorized_flow_with_tx_code_issues_an_sd_jwt_vc,
    pre_authorized_flow_with_tx_code_issues_a_jwt_vc_json,
    issuer_metadata_is_complete_1_0_metadata,
    wrong_tx_codes_are_counted_and_lock_the_offer,
    a_code_is_redeemed_once_even_at_the_same_moment,
    an_expired_offer_is_invalid_grant,
    bad_key_proofs_get_the_spec_errors,
    an_access_token_delivers_one_credential,
    a_used_c_nonce_is_refused_on_another_offer,
    offers_are_closed_to_the_compatibility_profile,
    create_offer_input_is_validated,
    revoking_an_sd_jwt_vc_shows_in_its_token_status_list_at_once,
);

const PIN: &str = "4821";

async fn hint_contract(env: &IssuanceEnv) -> String {
    env.create_contract(example_contract("id-token-hint", &env.authority))
        .await
}

fn offer_body(env: &IssuanceEnv, contract: &str, format: Option<&str>, pin: bool) -> Value {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["profile"] = json!("openid4vci");
    if let Some(f) = format {
        body["format"] = json!(f);
    }
    if pin {
        body["pin"] = json!({ "value": PIN, "length": 4 });
    }
    body
}

/// Creates an offer; its request id and `openid-credential-offer://` URL.
async fn new_offer(env: &IssuanceEnv, body: &Value) -> (String, String) {
    let (status, created) = env.create_request(body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["requestId"].as_str().unwrap().to_owned(),
        created["url"].as_str().unwrap().to_owned(),
    )
}

fn tx(code: &str) -> OfferOptions {
    OfferOptions {
        tx_code: Some(code.into()),
        holder: None,
    }
}

/// The spec's error body: `error` is `code`, `error_description` is there.
fn oauth_error(answer: &(u16, Value), status: u16, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    answer.1["error_description"].as_str().unwrap().to_owned()
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

async fn pre_authorized_flow_with_tx_code_issues_an_sd_jwt_vc(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let issuer = issuer_of(&env).await;
    assert_eq!(
        offer_from(&url).unwrap(),
        OfferSource::ByReference(format!("{issuer}/offers/{request_id}"))
    );
    assert!(url.starts_with("openid-credential-offer://?credential_offer_uri="));

    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    assert_eq!(session.credential_issuer(), issuer);
    assert_eq!(
        session.tx_code().unwrap(),
        &json!({ "input_mode": "numeric", "length": 4, "description": "The PIN the organisation gave you with this offer" })
    );
    assert_eq!(session.format().unwrap(), CredentialFormat::SdJwtVc);
    let cred = session.receive(&tx(PIN)).await.unwrap();
    assert_eq!(cred.format, CredentialFormat::SdJwtVc);
    assert_eq!(cred.issuer, env.authority);
    assert_eq!(cred.subject, env.wallet.did());
    assert_eq!(
        cred.claims,
        json!({ "givenName": "Megan", "familyName": "Bowen" })
            .as_object()
            .unwrap()
            .clone()
    );
    assert!(env.wallet.credentials().contains(&cred));

    // Independently of the wallet: signed by the authority's did.json key, every claim
    // selectively disclosable, bound to the wallet's key, revocable through a Token Status List.
    let issuer_jwt = cred.jwt.split('~').next().unwrap();
    let jws = UnverifiedJws::parse(issuer_jwt).unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("dc+sd-jwt"));
    let kid = jws.header().kid.clone().unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let verified = verify_with_issuer_key(
        &cred.jwt,
        &key,
        &VerifyOptions::sd_jwt_vc(env.app.clock.unix(), KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(verified.vct.as_deref(), Some(cred.types[0].as_str()));
    assert_eq!(verified.disclosed.len(), 2, "one disclosure per claim");
    let payload: Value = jws.payload_unverified().unwrap();
    assert!(payload.get("givenName").is_none(), "no claim in the clear");
    assert_eq!(
        verified.holder_key.unwrap().thumbprint().unwrap(),
        env.wallet.public_jwk(None).unwrap().thumbprint().unwrap()
    );
    let status = verified.status_list.unwrap();
    assert!(
        status
            .uri
            .starts_with(&format!("{}/v1.0/status/", env.app.url))
    );

    // Recorded, reported to the RP like the compatibility profile's issuance.
    let found = env
        .store()
        .find_credentials(None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status_index, Some(status.idx as u32));
    let calls = env.rp.wait_for(2).await;
    let statuses: Vec<&str> = calls
        .iter()
        .map(|c| c.body["requestStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["request_retrieved", "issuance_successful"]);
    assert_eq!(calls[1].body["state"], "rp-state-1");
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_successful"
    );
}

async fn pre_authorized_flow_with_tx_code_issues_a_jwt_vc_json(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(
        &env,
        &offer_body(&env, &contract, Some("jwt_vc_json"), true),
    )
    .await;
    // Without the transaction code the wallet stops before redeeming anything.
    let e = env
        .wallet
        .receive_offer(&url, &OfferOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, verity_wallet::WalletError::PinRequired { length: 4 }),
        "{e}"
    );
    let cred = env.wallet.receive_offer(&url, &tx(PIN)).await.unwrap();
    assert_eq!(cred.format, CredentialFormat::JwtVc);
    let jws = UnverifiedJws::parse(&cred.jwt).unwrap();
    let kid = jws.header().kid.clone().unwrap();
    let key = env.app.published_key("/.well-known/did.json", &kid).await;
    let payload: Value = jws.verify(&key).unwrap().claims().unwrap();
    assert_eq!(payload["iss"], env.authority);
    assert_eq!(payload["sub"], env.wallet.did());
    assert_eq!(
        payload["vc"]["credentialSubject"],
        json!({ "id": env.wallet.did(), "givenName": "Megan", "familyName": "Bowen" })
    );
    assert_eq!(
        payload["vc"]["credentialStatus"]["type"],
        "BitstringStatusListEntry"
    );
    // The compatibility profile presents it like any JWT-VC.
    assert_eq!(env.wallet.credentials().len(), 1);
}

async fn issuer_metadata_is_complete_1_0_metadata(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    // Contracts the wallet would have to attest for are not offered.
    env.create_contract(small_contract(
        &env.authority,
        "self-issued",
        "SelfIssuedCard",
        json!({ "selfIssued": { "mapping": [{ "outputClaim": "name", "inputClaim": "name", "required": true }] } }),
        &[("name", "String")],
    ))
    .await;
    let issuer = issuer_of(&env).await;
    let path = issuer.strip_prefix(&env.app.url).unwrap();
    let (status, meta) = env
        .app
        .get(
            &format!("/.well-known/openid-credential-issuer{path}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["credential_issuer"], issuer);
    assert_eq!(meta["credential_endpoint"], format!("{issuer}/credential"));
    assert_eq!(meta["nonce_endpoint"], format!("{issuer}/nonce"));
    assert!(meta.get("authorization_servers").is_none());
    let configs = meta["credential_configurations_supported"]
        .as_object()
        .unwrap();
    assert_eq!(
        configs.keys().cloned().collect::<Vec<_>>(),
        [format!("{contract}.jwt_vc"), format!("{contract}.sd_jwt")]
    );
    let sd = &configs[&format!("{contract}.sd_jwt")];
    assert_eq!(sd["format"], "dc+sd-jwt");
    assert!(sd["vct"].as_str().unwrap().starts_with(&env.app.url));
    assert_eq!(
        sd["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert_eq!(
        sd["credential_signing_alg_values_supported"],
        json!(["ES256"])
    );
    // 1.0 metadata: display and claims under credential_metadata (section 12.2.4, A.3.2).
    let display = &sd["credential_metadata"]["display"][0];
    assert!(display["name"].is_string(), "{sd}");
    let claims = sd["credential_metadata"]["claims"].as_array().unwrap();
    assert!(claims.iter().any(|c| c["path"] == json!(["givenName"])));
    let jwt = &configs[&format!("{contract}.jwt_vc")];
    assert_eq!(jwt["format"], "jwt_vc_json");
    assert_eq!(
        jwt["credential_definition"]["type"],
        json!(["VerifiableCredential", "VerifiedCredentialExpert"])
    );
    assert!(
        jwt["credential_metadata"]["claims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == json!(["credentialSubject", "givenName"]))
    );

    let (status, asm) = env
        .app
        .get(
            &format!("/.well-known/oauth-authorization-server{path}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(asm["issuer"], issuer);
    assert_eq!(asm["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(asm["pre-authorized_grant_anonymous_access_supported"], true);

    let (status, _) = env
        .app
        .get(
            &format!(
                "/.well-known/openid-credential-issuer/openid4vci/{}",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

async fn wrong_tx_codes_are_counted_and_lock_the_offer(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    let code = session.pre_authorized_code().to_owned();
    let grant = verity_wallet::PRE_AUTHORIZED_GRANT;
    // No tx_code at all: a malformed request, not a guess.
    let a = session
        .token_raw(&[("grant_type", grant), ("pre-authorized_code", &code)])
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_request").contains("tx_code"));
    for left in (1..5).rev() {
        let a = session
            .token_raw(&[
                ("grant_type", grant),
                ("pre-authorized_code", &code),
                ("tx_code", "0000"),
            ])
            .await
            .unwrap();
        let d = oauth_error(&a, 400, "invalid_grant");
        assert!(d.contains(&format!("{left} of 5 attempts left")), "{d}");
    }
    let a = session
        .token_raw(&[
            ("grant_type", grant),
            ("pre-authorized_code", &code),
            ("tx_code", "1111"),
        ])
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_grant").contains("now locked"));
    // The right code after the lockout changes nothing.
    let a = session
        .token_raw(&[
            ("grant_type", grant),
            ("pre-authorized_code", &code),
            ("tx_code", PIN),
        ])
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_grant").contains("locked"));
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "issuance_error"
    );
    let calls = env.rp.wait_for(2).await;
    assert_eq!(calls[1].body["requestStatus"], "issuance_error");
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_code_is_redeemed_once_even_at_the_same_moment(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    let answers = futures_util::future::join_all((0..6).map(|_| session.redeem(Some(PIN)))).await;
    let tokens: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(tokens.len(), 1, "{answers:?}");
    for e in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(e.to_string().contains("invalid_grant"), "{e}");
        assert!(e.to_string().contains("already used"), "{e}");
    }
    // And later, too.
    let e = session.redeem(Some(PIN)).await.unwrap_err().to_string();
    assert!(
        e.contains("invalid_grant") && e.contains("already used"),
        "{e}"
    );
    // Unknown and forged codes.
    let grant = verity_wallet::PRE_AUTHORIZED_GRANT;
    let forged = format!(
        "{}.AAAA",
        session.pre_authorized_code().split('.').next().unwrap()
    );
    for code in ["nope", forged.as_str()] {
        let a = session
            .token_raw(&[
                ("grant_type", grant),
                ("pre-authorized_code", code),
                ("tx_code", PIN),
            ])
            .await
            .unwrap();
        assert!(oauth_error(&a, 400, "invalid_grant").contains("unknown"));
    }
    let a = session
        .token_raw(&[("grant_type", "authorization_code"), ("code", "x")])
        .await
        .unwrap();
    oauth_error(&a, 400, "unsupported_grant_type");
}

async fn an_expired_offer_is_invalid_grant(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    env.app.clock.advance(chrono::Duration::seconds(301));
    let grant = verity_wallet::PRE_AUTHORIZED_GRANT;
    let a = session
        .token_raw(&[
            ("grant_type", grant),
            ("pre-authorized_code", session.pre_authorized_code()),
            ("tx_code", PIN),
        ])
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_grant").contains("expired"));
    // The offer by reference is gone too.
    let e = OfferSession::start(&env.wallet, &url).await.unwrap_err();
    assert!(e.to_string().contains("410"), "{e}");
}

/// A proof signed by `signer` whose header names `header_key` (`jwk`).
fn proof_by(signer: &SigningKey, header_key: &verity_jose::Jwk, claims: &Value) -> String {
    let mut h = Header::new(signer.algorithm());
    h.typ = Some("openid4vci-proof+jwt".into());
    h.jwk = Some(header_key.clone());
    sign_compact(signer, &h, &serde_json::to_vec(claims).unwrap()).unwrap()
}

async fn bad_key_proofs_get_the_spec_errors(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    let token = session.redeem(Some(PIN)).await.unwrap();
    let nonce = session.fresh_nonce().await.unwrap();
    let send_proof = |proof: String| {
        let body = session.credential_request(&[proof]);
        let token = token.clone();
        let session = &session;
        async move { session.credential_raw(&token, &body).await.unwrap() }
    };

    // A nonce the issuer never gave.
    let mut c = session.proof_claims(&nonce);
    c["nonce"] = json!("made-up");
    let a = send_proof(session.sign_proof(&c, None).unwrap()).await;
    oauth_error(&a, 400, "invalid_nonce");
    // No nonce although the issuer has a nonce endpoint.
    let mut c = session.proof_claims(&nonce);
    c.as_object_mut().unwrap().remove("nonce");
    let a = send_proof(session.sign_proof(&c, None).unwrap()).await;
    oauth_error(&a, 400, "invalid_proof");
    // Another audience.
    let mut c = session.proof_claims(&nonce);
    c["aud"] = json!("https://other-issuer.example");
    let a = send_proof(session.sign_proof(&c, None).unwrap()).await;
    assert!(oauth_error(&a, 400, "invalid_proof").contains("aud"));
    // Signed by a key other than the one in the header.
    let other = SigningKey::generate(env.wallet.holders()[0].alg).unwrap();
    let ours = env.wallet.public_jwk(None).unwrap();
    let a = send_proof(proof_by(&other, &ours, &session.proof_claims(&nonce))).await;
    assert!(oauth_error(&a, 400, "invalid_proof").contains("signature"));
    // Too old.
    let mut c = session.proof_claims(&nonce);
    c["iat"] = json!(env.app.clock.unix() - 3600);
    let a = send_proof(session.sign_proof(&c, None).unwrap()).await;
    assert!(oauth_error(&a, 400, "invalid_proof").contains("time"));
    // The drafts' singular `proof`.
    let proof = session
        .sign_proof(&session.proof_claims(&nonce), None)
        .unwrap();
    let a = session
        .credential_raw(
            &token,
            &json!({ "credential_configuration_id": session.configuration().0, "proof": { "proof_type": "jwt", "jwt": proof } }),
        )
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_credential_request").contains("proofs"));
    // A configuration this issuer does not have, and one the token does not cover.
    let a = session
        .credential_raw(
            &token,
            &json!({ "credential_configuration_id": "nope", "proofs": { "jwt": [proof] } }),
        )
        .await
        .unwrap();
    oauth_error(&a, 400, "unknown_credential_configuration");
    let other_format = format!("{contract}.jwt_vc");
    let a = session
        .credential_raw(
            &token,
            &json!({ "credential_configuration_id": other_format, "proofs": { "jwt": [proof] } }),
        )
        .await
        .unwrap();
    oauth_error(&a, 403, "insufficient_scope");
    // Nothing was issued by any of these; the right proof still works.
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let a = send_proof(proof).await;
    assert_eq!(a.0, 200, "{}", a.1);
    assert!(
        a.1["credentials"][0]["credential"]
            .as_str()
            .unwrap()
            .ends_with('~')
    );
}

async fn an_access_token_delivers_one_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let session = OfferSession::start(&env.wallet, &url).await.unwrap();
    // Without a token: 401 with WWW-Authenticate.
    let nonce = session.fresh_nonce().await.unwrap();
    let proof = session
        .sign_proof(&session.proof_claims(&nonce), None)
        .unwrap();
    let body = session.credential_request(&[proof]);
    let endpoint = session.metadata()["credential_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = env
        .app
        .http
        .post(&endpoint)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let a = session.credential_raw("forged-token", &body).await.unwrap();
    oauth_error(&a, 401, "invalid_token");

    // Two credential requests at the same moment, each with its own fresh proof: one credential.
    let token = session.redeem(Some(PIN)).await.unwrap();
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let nonce = session.fresh_nonce().await.unwrap();
        let proof = session
            .sign_proof(&session.proof_claims(&nonce), None)
            .unwrap();
        bodies.push(session.credential_request(&[proof]));
    }
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| session.credential_raw(&token, b)))
            .await;
    let ok = answers
        .iter()
        .filter(|a| a.as_ref().unwrap().0 == 200)
        .count();
    assert_eq!(ok, 1, "{answers:?}");
    for a in answers
        .iter()
        .map(|a| a.as_ref().unwrap())
        .filter(|a| a.0 != 200)
    {
        oauth_error(a, 401, "invalid_token");
    }
    assert_eq!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Afterwards, too.
    let a = session.credential_raw(&token, &bodies[0]).await.unwrap();
    assert!(oauth_error(&a, 401, "invalid_token").contains("already used"));
    // An access token expires.
    let (_, url2) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    let s2 = OfferSession::start(&env.wallet, &url2).await.unwrap();
    let t2 = s2.redeem(Some(PIN)).await.unwrap();
    env.app.clock.advance(chrono::Duration::seconds(301));
    let nonce = s2.fresh_nonce().await.unwrap();
    let proof = s2.sign_proof(&s2.proof_claims(&nonce), None).unwrap();
    let a = s2
        .credential_raw(&t2, &s2.credential_request(&[proof]))
        .await
        .unwrap();
    assert!(oauth_error(&a, 401, "invalid_token").contains("expired"));
}

async fn a_used_c_nonce_is_refused_on_another_offer(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url1) = new_offer(&env, &offer_body(&env, &contract, None, false)).await;
    let (_, url2) = new_offer(&env, &offer_body(&env, &contract, None, false)).await;
    let s1 = OfferSession::start(&env.wallet, &url1).await.unwrap();
    let s2 = OfferSession::start(&env.wallet, &url2).await.unwrap();
    let nonce = s1.fresh_nonce().await.unwrap();
    let proof = s1.sign_proof(&s1.proof_claims(&nonce), None).unwrap();
    let t1 = s1.redeem(None).await.unwrap();
    let a = s1
        .credential_raw(&t1, &s1.credential_request(std::slice::from_ref(&proof)))
        .await
        .unwrap();
    assert_eq!(a.0, 200, "{}", a.1);
    let t2 = s2.redeem(None).await.unwrap();
    let a = s2
        .credential_raw(&t2, &s2.credential_request(&[proof]))
        .await
        .unwrap();
    assert!(oauth_error(&a, 400, "invalid_nonce").contains("already used"));
    // The refused replay did not use up the second offer.
    let nonce = s2.fresh_nonce().await.unwrap();
    let proof = s2.sign_proof(&s2.proof_claims(&nonce), None).unwrap();
    let a = s2
        .credential_raw(&t2, &s2.credential_request(&[proof]))
        .await
        .unwrap();
    assert_eq!(a.0, 200, "{}", a.1);
}

async fn offers_are_closed_to_the_compatibility_profile(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (request_id, _) = new_offer(&env, &offer_body(&env, &contract, None, true)).await;
    // A stranger who saw the QR code tries the compatibility profile's doors.
    let (status, body) = send(
        env.app
            .http
            .get(format!("{}/v1.0/requests/{request_id}", env.app.url)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["innererror"]["target"], "profile");
    let (status, body) = send(
        env.app
            .http
            .post(format!(
                "{}/v1.0/requests/{request_id}/completion",
                env.app.url
            ))
            .json(&json!({ "code": "issuance_successful", "state": request_id })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        env.poll(&request_id).await.1["requestStatus"],
        "request_created"
    );
    // An offer of another authority's issuer path is not found.
    let other = uuid::Uuid::new_v4();
    let (status, _) = send(env.app.http.get(format!(
        "{}/openid4vci/{other}/offers/{request_id}",
        env.app.url
    )))
    .await;
    assert_eq!(status, 404);
}

async fn create_offer_input_is_validated(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let target = |body: &Value| body["error"]["innererror"]["target"].clone();
    let mut b = offer_body(&env, &contract, None, false);
    b["profile"] = json!("openid4vci-draft13");
    let (status, body) = env.create_request(&b).await;
    assert_eq!((status, target(&body)), (400, json!("profile")), "{body}");
    let b = offer_body(&env, &contract, Some("mso_mdoc"), false);
    let (status, body) = env.create_request(&b).await;
    assert_eq!((status, target(&body)), (400, json!("format")), "{body}");
    let mut b = env.request_body(&contract);
    b["claims"] = json!({ "given_name": "Megan", "family_name": "Bowen" });
    b["format"] = json!("dc+sd-jwt");
    let (status, body) = env.create_request(&b).await;
    assert_eq!((status, target(&body)), (400, json!("format")), "{body}");
    let self_issued = env
        .create_contract(small_contract(
            &env.authority,
            "self-issued",
            "SelfIssuedCard",
            json!({ "selfIssued": { "mapping": [{ "outputClaim": "name", "inputClaim": "name", "required": true }] } }),
            &[("name", "String")],
        ))
        .await;
    let mut b = env.request_body(&self_issued);
    b["profile"] = json!("openid4vci");
    let (status, body) = env.create_request(&b).await;
    assert_eq!((status, target(&body)), (400, json!("profile")), "{body}");
    assert!(
        env.store()
            .find_credentials(None, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoking_an_sd_jwt_vc_shows_in_its_token_status_list_at_once(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = hint_contract(&env).await;
    let (_, url) = new_offer(&env, &offer_body(&env, &contract, None, false)).await;
    let cred = env
        .wallet
        .receive_offer(&url, &OfferOptions::default())
        .await
        .unwrap();
    let issuer_jwt = cred.jwt.split('~').next().unwrap();
    let payload: Value = UnverifiedJws::parse(issuer_jwt)
        .unwrap()
        .payload_unverified()
        .unwrap();
    let idx = payload["status"]["status_list"]["idx"].as_u64().unwrap() as usize;
    let uri = payload["status"]["status_list"]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_now = || async {
        let token = env
            .app
            .http
            .get(&uri)
            .header("accept", "application/statuslist+jwt")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let kid = UnverifiedJws::parse(&token)
            .unwrap()
            .header()
            .kid
            .clone()
            .unwrap();
        let key = env.app.published_key("/.well-known/did.json", &kid).await;
        let list = verity_status_list::verify_list_token(
            &token,
            &key,
            &uri,
            env.app.clock.unix(),
            60,
            &verity_status_list::DecodeLimits::default(),
        )
        .unwrap();
        verity_status_list::StatusReference {
            idx,
            uri: uri.clone(),
        }
        .check(&list)
        .unwrap()
    };
    assert_eq!(status_now().await, verity_status_list::TokenStatus::Valid);
    let record = &env
        .store()
        .find_credentials(None, None, None, 10)
        .await
        .unwrap()[0];
    let (status, body) = env
        .app
        .admin(
            Method::POST,
            "/credentials/revoke",
            Some(json!({ "jti": record.jti, "reason": "left" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_now().await, verity_status_list::TokenStatus::Invalid);
}
