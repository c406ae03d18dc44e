//! OpenID4VP test helpers: presentation requests of the `openid4vp` profile, the reference
//! wallet's OpenID4VP session steered into hostile answers, and checks of how the app refused
//! them (OAuth-style answer, `presentation_error` callback, polling).

use serde_json::{Value, json};
use verity_wallet::{Openid4vpOptions, Openid4vpSession, Wallet};

use crate::issuance::IssuanceEnv;
use crate::presentation::{
    RP_STATE, create_presentation, outbox_of, poll, presentation_body, queued_callback,
};

/// A createPresentationRequest body of the `openid4vp` profile for `requested`.
pub fn openid4vp_body(env: &IssuanceEnv, requested: Vec<Value>) -> Value {
    let mut body = presentation_body(env, requested);
    body["profile"] = json!("openid4vp");
    body
}

/// Creates a request; returns (requestId, `openid4vp://` URL).
pub async fn new_openid4vp(env: &IssuanceEnv, body: &Value) -> (String, String) {
    let (status, created) = create_presentation(env, body).await;
    assert_eq!(status, 201, "{created}");
    let url = created["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("openid4vp://?"), "{url}");
    (created["requestId"].as_str().unwrap().to_owned(), url)
}

/// Starts `wallet`'s session on `url`, builds the answer with `opts` and posts it; returns the
/// app's answer as it came.
pub async fn answer_with(wallet: &Wallet, url: &str, opts: &Openid4vpOptions) -> (u16, Value) {
    let session = Openid4vpSession::start(wallet, url).await.unwrap();
    let answer = session.build(opts).unwrap();
    session.submit(&answer).await.unwrap()
}

/// Asserts an OpenID4VP answer was refused for a failed check: 400 `invalid_request` whose
/// description ends with `(pres_code)`; a `presentation_error` callback with `hosted_code` and
/// the same message; polling returns the callback body; the request stays open for the real
/// holder. Returns the callback body.
pub async fn assert_vp_refused(
    env: &IssuanceEnv,
    request_id: &str,
    answer: &(u16, Value),
    pres_code: &str,
    hosted_code: &str,
) -> Value {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.ends_with(&format!("({pres_code})")),
        "{pres_code} in {description}"
    );
    let callback = latest_error(env, request_id, pres_code).await;
    let message = callback["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(description, format!("{message} ({pres_code})"));
    assert_eq!(
        callback,
        json!({
            "requestId": request_id,
            "requestStatus": "presentation_error",
            "state": RP_STATE,
            "error": { "code": hosted_code, "message": message, "innerCode": pres_code },
        })
    );
    let (status, polled) = poll(env, request_id).await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled, callback, "polling returns the callback body");
    callback
}

/// The newest queued `presentation_error` callback of the request with `pres_code` (waits up to
/// 10 s).
pub async fn latest_error(env: &IssuanceEnv, request_id: &str, pres_code: &str) -> Value {
    for _ in 0..200 {
        if let Some(m) = outbox_of(&env.app, request_id)
            .await
            .into_iter()
            .rev()
            .find(|m| {
                m.request_status == "presentation_error"
                    && m.body["error"]["innerCode"] == pres_code
            })
        {
            return m.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no presentation_error with {pres_code} was queued for {request_id}");
}

/// The `presentation_verified` callback body of the request (waits up to 10 s).
pub async fn verified_callback(env: &IssuanceEnv, request_id: &str) -> Value {
    queued_callback(&env.app, request_id, "presentation_verified").await
}
