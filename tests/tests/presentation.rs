//! Presentation end to end: a credential issued by the app is presented by the reference wallet
//! and verified; the RP gets the callback body of protocol.md §1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env};
use verity_tests::{Backend, both_backends, send};
use verity_wallet::ReceiveOptions;

both_backends!(presented_credential_is_verified_and_reported);

/// Issues an idTokenHint credential to the env's wallet.
async fn issue(env: &IssuanceEnv, contract: &str, given: &str) {
    let mut body = env.request_body(contract);
    body["claims"] = json!({ "given_name": given, "family_name": "Bowen" });
    let url = env.request_url(&body).await;
    env.wallet
        .receive(&url, ReceiveOptions::default())
        .await
        .unwrap();
}

/// POSTs createPresentationRequest.
async fn create_presentation(env: &IssuanceEnv, body: &Value) -> (u16, Value) {
    send(
        env.app
            .http
            .post(format!(
                "{}/v1.0/verifiableCredentials/createPresentationRequest",
                env.app.url
            ))
            .bearer_auth(&env.token)
            .json(body),
    )
    .await
}

async fn presented_credential_is_verified_and_reported(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    issue(&env, &contract, "Megan").await;
    let issued = env.rp.wait_for(2).await.len();

    let body = json!({
        "authority": env.authority,
        "includeReceipt": true,
        "registration": { "clientName": "Helpdesk", "purpose": "Prove you are an expert" },
        "callback": { "url": env.rp.url(), "state": "helpdesk-1", "headers": { "api-key": "rp-secret" } },
        "requestedCredentials": [ {
            "type": "VerifiedCredentialExpert",
            "acceptedIssuers": [ env.authority ],
            "constraints": [ { "claimName": "givenName", "values": ["Megan", "Alex"] } ],
            "configuration": { "validation": { "allowRevoked": false, "validateLinkedDomain": false } } } ]
    });
    let (status, created) = create_presentation(&env, &body).await;
    assert_eq!(status, 201, "{created}");
    let request_id = created["requestId"].as_str().unwrap().to_owned();
    let presented = env
        .wallet
        .present(created["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(presented.status, 200, "{:?}", presented.body);

    let calls = env.rp.wait_for(issued + 2).await;
    let mine: Vec<&Value> = calls
        .iter()
        .map(|c| &c.body)
        .filter(|b| b["requestId"] == request_id)
        .collect();
    assert_eq!(mine.len(), 2, "{calls:?}");
    assert_eq!(mine[0]["requestStatus"], "request_retrieved");
    let verified = mine[1];
    assert_eq!(verified["requestStatus"], "presentation_verified");
    assert_eq!(verified["state"], "helpdesk-1");
    assert_eq!(verified["subject"], env.wallet.did());
    let data = &verified["verifiedCredentialsData"][0];
    assert_eq!(data["issuer"], env.authority);
    assert_eq!(
        data["type"],
        json!(["VerifiableCredential", "VerifiedCredentialExpert"])
    );
    assert_eq!(
        data["claims"],
        json!({ "givenName": "Megan", "familyName": "Bowen" })
    );
    assert_eq!(
        data["credentialState"],
        json!({ "revocationStatus": "VALID" })
    );
    assert_eq!(
        data["domainValidation"]["url"],
        format!("http://localhost:{}/", env.app.port)
    );
    assert!(data["issuanceDate"].as_str().unwrap().ends_with('Z'));
    assert!(data["expirationDate"].as_str().is_some());
    assert!(verified["receipt"]["vp_token"].as_str().is_some());
    assert!(verified["receipt"]["id_token"].as_str().is_some());
    // The exact set of members, as protocol.md §1 lists them.
    let mut keys: Vec<&str> = verified
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "receipt",
            "requestId",
            "requestStatus",
            "state",
            "subject",
            "verifiedCredentialsData"
        ]
    );

    // Polling returns the same body.
    let (status, polled) = env
        .app
        .get(
            &format!("/v1.0/verifiableCredentials/presentationRequests/{request_id}"),
            Some(&env.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(&polled, verified);
    // The beta path serves the same resource.
    let (status, beta) = env
        .app
        .get(
            &format!("/beta/verifiableCredentials/presentationRequests/{request_id}"),
            Some(&env.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(&beta, verified);
}
