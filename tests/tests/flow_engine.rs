//! The flow engine through the real app: every state change is one compare-and-set step, so
//! concurrent answers have one winner, a stranger who saw the QR code cannot end a request,
//! and PIN guesses cannot race the lockout. Each case runs on SQLite and Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures_util::future::join_all;
use serde_json::Value;
use verity_tests::issuance::{IssuanceEnv, example_contract, issuance_env, submit};
use verity_tests::presentation::{
    Fixture, issue_to, outbox_of, poll, present_with, presenting, second_wallet,
};
use verity_tests::{Backend, assert_error_shape, both_backends};
use verity_wallet::{Algorithm, PresentationOptions, PresentationSession, ReceiveOptions};

both_backends!(
    concurrent_answers_have_one_winner,
    a_strangers_answer_is_reported_and_does_not_end_the_request,
    concurrent_pin_guesses_cannot_race_the_lockout,
    concurrent_holder_requests_get_one_credential,
    a_token_of_another_kind_is_not_a_holder_request,
    a_strangers_reported_failures_do_not_end_an_issuance,
);

/// How many queued callbacks of each status the request has.
async fn statuses(env: &IssuanceEnv, request_id: &str) -> Vec<String> {
    let mut s: Vec<String> = outbox_of(&env.app, request_id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    s.sort();
    s
}

async fn concurrent_answers_have_one_winner(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    // Four holders with a credential each; each sends two valid answers (own jti each).
    let mut others = Vec::new();
    for i in 0..3 {
        let (w, dir) = second_wallet(&f.env, Algorithm::EdDSA);
        issue_to(
            &f.env,
            &w,
            &f.env.authority,
            &f.contract,
            &format!("Holder{i}"),
            |_| {},
        )
        .await;
        others.push((w, dir));
    }
    let (request_id, url) = f.request(vec![f.requested()]).await;
    let mut sessions = vec![(
        f.env.wallet.did(),
        PresentationSession::start(&f.env.wallet, &url)
            .await
            .unwrap(),
    )];
    for (w, _) in &others {
        sessions.push((w.did(), PresentationSession::start(w, &url).await.unwrap()));
    }
    let mut answers = Vec::new();
    for (did, s) in &sessions {
        for _ in 0..2 {
            answers.push((
                did,
                s,
                s.build_response(&PresentationOptions::default()).unwrap(),
            ));
        }
    }
    let results = join_all(answers.iter().map(|(did, s, r)| async move {
        let (status, body) = s.submit(&r.id_token, &r.vp_token, &r.state).await.unwrap();
        (did.to_string(), status, body)
    }))
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, st, _)| *st == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, status, body) in results.iter().filter(|(_, st, _)| *st != 200) {
        assert_eq!(*status, 409, "{body}");
        assert_error_shape(body, "conflict", "conflict");
    }
    let winner = &winners[0].0;

    let (_, polled) = poll(&f.env, &request_id).await;
    assert_eq!(polled["requestStatus"], "presentation_verified", "{polled}");
    assert_eq!(polled["subject"], winner.as_str(), "{polled}");
    assert_eq!(
        statuses(&f.env, &request_id).await,
        ["presentation_verified", "request_retrieved"],
        "one verdict, one callback per status"
    );
    let verified = outbox_of(&f.env.app, &request_id)
        .await
        .into_iter()
        .find(|m| m.request_status == "presentation_verified")
        .unwrap();
    assert_eq!(verified.body, polled, "polling and the callback agree");
}

async fn a_strangers_answer_is_reported_and_does_not_end_the_request(backend: Backend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let (request_id, url) = f.request(vec![f.requested()]).await;
    // A stranger saw the QR code: fetches the request, signs an answer with a throwaway DID
    // and presents someone else's credential.
    let (stranger, _dir) = second_wallet(&f.env, Algorithm::EdDSA);
    let session = PresentationSession::start(&stranger, &url).await.unwrap();
    let junk = session
        .build_response(&presenting(vec![f.vc.clone()]))
        .unwrap();
    let (status, body) = session
        .submit(&junk.id_token, &junk.vp_token, &junk.state)
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body, "badRequest", "presentationInvalid");
    // The RP sees the refusal, by polling and by callback; the request stays open.
    let (_, polled) = poll(&f.env, &request_id).await;
    assert_eq!(polled["requestStatus"], "presentation_error", "{polled}");
    assert!(
        polled["error"]["innerCode"]
            .as_str()
            .unwrap()
            .starts_with("PRES-"),
        "{polled}"
    );
    assert_eq!(
        statuses(&f.env, &request_id).await,
        ["presentation_error", "request_retrieved"]
    );

    // The real holder answers and is verified.
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 200, "{body}");
    let (_, polled) = poll(&f.env, &request_id).await;
    assert_eq!(polled["requestStatus"], "presentation_verified", "{polled}");
    assert_eq!(polled["subject"], f.env.wallet.did(), "{polled}");

    // After that, no answer changes the verdict: not the stranger's, not the holder's.
    let again = session
        .build_response(&presenting(vec![f.vc.clone()]))
        .unwrap();
    let (status, body) = session
        .submit(&again.id_token, &again.vp_token, &again.state)
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    let (status, body) = present_with(&f.env.wallet, &url, &PresentationOptions::default()).await;
    assert_eq!(status, 409, "{body}");
    let (_, after) = poll(&f.env, &request_id).await;
    assert_eq!(after, polled);
    assert_eq!(
        statuses(&f.env, &request_id).await,
        [
            "presentation_error",
            "presentation_verified",
            "request_retrieved"
        ]
    );
}

/// An idTokenHint contract and an issuance request of it (with `pin` when given); returns the
/// contract id and the request URL.
async fn hint_request(env: &IssuanceEnv, pin: Option<&str>) -> (String, String) {
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["claims"] = serde_json::json!({ "given_name": "Megan", "family_name": "Bowen" });
    if let Some(p) = pin {
        body["pin"] = serde_json::json!({ "value": p, "length": p.len() });
    }
    let url = env.request_url(&body).await;
    (contract, url)
}

fn pin(value: &str) -> ReceiveOptions {
    ReceiveOptions {
        pin: Some(value.into()),
        ..Default::default()
    }
}

fn inner_code(body: &Value) -> &str {
    body["error"]["innererror"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn concurrent_pin_guesses_cannot_race_the_lockout(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let (contract, url) = hint_request(&env, Some("3539")).await;
    let session = env.session(&url).await;
    let request_id: uuid::Uuid = session.state().parse().unwrap();
    // 49 wrong guesses at once (each its own jti and holder request), and the right PIN sent
    // while they are in flight, as soon as five wrong ones have been counted.
    let wrong = (0..49).map(|i| {
        let session = &session;
        async move { submit(session, &pin(&format!("{:04}", 1000 + i))).await }
    });
    let store = env.store().clone();
    let right = async {
        loop {
            let r = store.request(request_id).await.unwrap().unwrap();
            if r.pin_failures >= 5 {
                break;
            }
            tokio::task::yield_now().await;
        }
        submit(&session, &pin("3539")).await
    };
    let (results, right) = tokio::join!(join_all(wrong), right);
    assert_eq!(right.0, 403, "{}", right.1);
    assert_eq!(inner_code(&right.1), "pinLocked", "{}", right.1);
    let wrong_pin = results
        .iter()
        .filter(|(_, b)| inner_code(b) == "wrongPin")
        .count();
    let locked = results
        .iter()
        .filter(|(_, b)| inner_code(b) == "pinLocked")
        .count();
    assert_eq!(
        wrong_pin, 4,
        "four guesses counted with attempts left: {results:?}"
    );
    assert_eq!(locked, 45, "the fifth locks, the rest find it locked");
    assert!(results.iter().all(|(s, _)| *s == 403));

    let stored = store.request(request_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.pin_failures, stored.status.as_str()),
        (5, "issuance_error")
    );
    assert!(
        store
            .find_credentials(Some(contract.parse().unwrap()), None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no credential"
    );
    assert_eq!(
        statuses(&env, &request_id.to_string()).await,
        ["issuance_error", "request_retrieved"],
        "exactly one issuance_error"
    );
}

async fn concurrent_holder_requests_get_one_credential(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let (contract, url) = hint_request(&env, None).await;
    let session = env.session(&url).await;
    let opts = ReceiveOptions::default();
    // Eight holder requests of one wallet at once (as a wallet retrying a lost answer): one
    // credential is issued and recorded, and every answer hands over that same credential.
    let results = join_all((0..8).map(|_| submit(&session, &opts))).await;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
    }
    let vcs: std::collections::HashSet<&str> = results
        .iter()
        .map(|(_, b)| b["vc"].as_str().unwrap())
        .collect();
    assert_eq!(
        vcs.len(),
        1,
        "one credential, handed over to each: {results:?}"
    );
    let issued = env
        .store()
        .find_credentials(Some(contract.parse().unwrap()), None, None, 10)
        .await
        .unwrap();
    assert_eq!(issued.len(), 1, "one credential recorded");
    let (_, polled) = env.poll(session.state()).await;
    assert_eq!(polled["requestStatus"], "request_retrieved", "{polled}");
    // Another holder who saw the QR code gets nothing: the credential is not theirs.
    let (other, _dir) = second_wallet(&env, Algorithm::ES256);
    let theirs = verity_wallet::IssuanceSession::start(&other, &url)
        .await
        .unwrap();
    let (status, refused) = submit(&theirs, &opts).await;
    assert_eq!(status, 409, "{refused}");
    // Once the wallet completes, the request holds the credential no more.
    let (status, _) = session.complete("issuance_successful", None).await.unwrap();
    assert_eq!(status, 204);
    let stored = env
        .store()
        .request(session.state().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.result.unwrap().to_string().contains("delivery"),
        "the credential is not kept after completion"
    );
}

async fn a_token_of_another_kind_is_not_a_holder_request(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let (_, url) = hint_request(&env, None).await;
    let session = env.session(&url).await;
    // Signed by the holder's own key, but carrying a credential's `vc` claim.
    let mut claims = session
        .holder_request_claims(&ReceiveOptions::default())
        .unwrap();
    claims["vc"] = serde_json::json!({ "type": ["VerifiableCredential"] });
    let jwt = session.sign_with(&claims, None, None).unwrap();
    let (status, refused) = session.submit(&jwt).await.unwrap();
    assert_eq!(status, 400, "{refused}");
    assert_error_shape(&refused, "badRequest", "holderRequestInvalid");
    assert!(
        refused["error"]["innererror"]["message"]
            .as_str()
            .unwrap()
            .contains("not a holder request"),
        "{refused}"
    );
    // Nothing was spent: the real holder request is accepted.
    let (status, body) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_strangers_reported_failures_do_not_end_an_issuance(backend: Backend) {
    let Some(env) = issuance_env(backend).await else {
        return;
    };
    let (_, url) = hint_request(&env, None).await;
    let session = env.session(&url).await;
    let request_id = session.state().to_owned();
    // The completion URL and `state` are in the public request object: a stranger posts
    // `issuance_failed` twelve times at once. Ten reach the RP, the rest are refused.
    let completion = format!("{}/v1.0/requests/{request_id}/completion", env.app.url);
    let body = serde_json::json!({ "code": "issuance_failed", "state": request_id, "details": "user_canceled" });
    let results =
        join_all((0..12).map(|_| verity_tests::send(env.app.http.post(&completion).json(&body))))
            .await;
    let reported = results.iter().filter(|(s, _)| *s == 204).count();
    let limited: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((reported, limited.len()), (10, 2), "{results:?}");
    for (_, b) in limited {
        assert_eq!(inner_code(b), "rateLimited", "{b}");
    }
    let (_, polled) = env.poll(&request_id).await;
    assert_eq!(polled["requestStatus"], "issuance_error", "{polled}");
    assert_eq!(polled["error"]["message"], "user_canceled", "{polled}");

    // The holder still gets the credential, and the request ends successful.
    let (status, issued) = submit(&session, &ReceiveOptions::default()).await;
    assert_eq!(status, 200, "{issued}");
    let (status, _) = session.complete("issuance_successful", None).await.unwrap();
    assert_eq!(status, 204);
    let (_, polled) = env.poll(&request_id).await;
    assert_eq!(polled["requestStatus"], "issuance_successful", "{polled}");
    // After that, a stranger's report changes nothing.
    let (status, refused) = verity_tests::send(env.app.http.post(&completion).json(&body)).await;
    assert_eq!(status, 409, "{refused}");
    let mut expected = vec!["issuance_failure_reported"; 10];
    expected.extend(["issuance_successful", "request_retrieved"]);
    assert_eq!(statuses(&env, &request_id).await, expected);
}
