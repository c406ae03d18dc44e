//! Store failures at every point of a flow, through the real app: the app's store is wrapped in
//! the `FaultyStore` test double, and for each store call an issuance or a presentation makes
//! (the Nth, N = 1, 2, ... until the flow makes fewer calls), that call fails once, before it
//! reaches the database or after it committed (the response is lost). Each time:
//!
//! - the wallet gets a clear, retryable error (503 `transientError`, or a DID resolution error
//!   naming the 503 our DID document answered), never a panic or a success with nothing stored;
//! - no half state: a request that reached `credential_issued` or later has exactly one issued
//!   credential, any other has none; every reported status the request reached has exactly one
//!   callback row, and each is delivered to the RP;
//! - the wallet's retry (the same fetch again, a fresh holder request or answer) succeeds, or,
//!   only when the step had committed before its response was lost, is refused with a 409
//!   that says the step was already taken.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;
use verity_store::Store;
use verity_store::testing::{FaultAt, FaultPlan, FaultyStore, Injected};
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, example_contract};
use verity_tests::presentation::{
    EXPERT, env_around, issue, new_presentation, presentation_body, requested,
};
use verity_tests::{Backend, allow_local_resolution, both_backends, spawn_app_with_faults};
use verity_wallet::{
    IssuanceSession, PresentationOptions, PresentationSession, ReceiveOptions, WalletConfig,
    WalletError,
};

both_backends!(
    every_store_call_of_an_issuance_may_fail,
    every_store_call_of_a_pin_guess_may_fail,
    every_store_call_of_a_presentation_may_fail,
);

/// Calls of the background workers (callback delivery, sweeper) and probes: not counted, so
/// the Nth call is the same call of the flow on every run.
const BACKGROUND: &[&str] = &[
    "claim_due_callbacks",
    "mark_callback_delivered",
    "mark_callback_retry",
    "mark_callback_failed",
    "pending_callbacks",
    "purge_expired",
    "ping",
];

/// The store's flow steps, whose statements are failed one by one.
const STEPS: &[&str] = &["transition", "record_pin_failure"];

/// A flow makes fewer store calls (and a step fewer statements) than this.
const MAX_CALLS: u64 = 60;

/// The app on a FaultyStore, with an RP and a wallet.
async fn faulty_env(backend: Backend) -> Option<(IssuanceEnv, Arc<FaultyStore>)> {
    let (app, faulty) = spawn_app_with_faults(backend, |c| {
        allow_local_resolution(c);
        allow_local_callbacks(c);
    })
    .await?;
    let env = env_around(app, WalletConfig::local_development().fetch_policy).await;
    Some((env, faulty))
}

/// What the wallet got from one call of the flow that did not succeed.
#[derive(Debug, Clone)]
struct Failure {
    phase: &'static str,
    /// The HTTP status of our answer; 0 when the wallet failed on its own side.
    status: u16,
    inner: String,
    text: String,
}

fn wallet_failure(phase: &'static str, e: &WalletError) -> Failure {
    match e {
        WalletError::Server(s) => Failure {
            phase,
            status: s.status,
            inner: s.inner_code.clone().unwrap_or_default(),
            text: s.to_string(),
        },
        other => Failure {
            phase,
            status: 0,
            inner: String::new(),
            text: other.to_string(),
        },
    }
}

fn answer(phase: &'static str, (status, body): (u16, Value)) -> Result<Value, Failure> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(Failure {
        phase,
        status,
        inner: body["error"]["innererror"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        text: body.to_string(),
    })
}

/// One run of a flow: the first failure (the injected fault), and what the wallet's retry got
/// if it did not succeed.
#[derive(Debug, Default)]
struct Run {
    failure: Option<Failure>,
    refused: Option<Failure>,
}

impl Run {
    /// Runs one call of the flow; after a first failure, once more (the wallet's retry).
    /// `None` when the call did not succeed in the end.
    async fn call<T, F, Fut>(&mut self, f: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        loop {
            match f().await {
                Ok(v) => return Some(v),
                Err(e) if self.failure.is_none() => self.failure = Some(e),
                Err(e) => {
                    self.refused = Some(e);
                    return None;
                }
            }
        }
    }
}

/// The wallet's side of an issuance, retrying each call once after a failure: request object
/// and manifest, a wrong PIN first when `wrong_pin` is given (refused with 403 `wrongPin`), a
/// holder request with `pin` (a fresh one on each retry), the credential's verification, the
/// completion. `true` when it went through.
async fn receive(
    env: &IssuanceEnv,
    url: &str,
    run: &mut Run,
    pin: Option<&str>,
    wrong_pin: Option<&str>,
) -> bool {
    let wallet = &env.wallet;
    let Some(session) = run
        .call(|| async {
            IssuanceSession::start(wallet, url)
                .await
                .map_err(|e| wallet_failure("start", &e))
        })
        .await
    else {
        return false;
    };
    let session = &session;
    let holder_request = async |pin: Option<&str>| {
        let opts = ReceiveOptions {
            pin: pin.map(str::to_owned),
            ..ReceiveOptions::default()
        };
        let claims = session.holder_request_claims(&opts).unwrap();
        let jwt = session.sign_with(&claims, None, None).unwrap();
        session.submit(&jwt).await.unwrap()
    };
    if let Some(wrong) = wrong_pin {
        let counted = run
            .call(|| async {
                let (status, body) = holder_request(Some(wrong)).await;
                match answer("wrong PIN", (status, body)) {
                    Err(f) if f.status == 403 && f.inner == "wrongPin" => Ok(()),
                    Err(f) => Err(f),
                    Ok(body) => panic!("a wrong PIN was accepted: {body}"),
                }
            })
            .await;
        if counted.is_none() {
            return false;
        }
    }
    let Some(body) = run
        .call(|| async { answer("holder request", holder_request(pin).await) })
        .await
    else {
        return false;
    };
    let vc = body["vc"].as_str().expect("a credential").to_owned();
    let vc = &vc;
    if run
        .call(|| async {
            session
                .accept(vc, None)
                .await
                .map_err(|e| wallet_failure("verify credential", &e))
        })
        .await
        .is_none()
    {
        return false;
    }
    run.call(|| async {
        answer(
            "completion",
            session.complete("issuance_successful", None).await.unwrap(),
        )
    })
    .await
    .is_some()
}

/// The wallet's side of a presentation: request object, then a signed answer (a fresh one on
/// retry). `true` when verified.
async fn present(env: &IssuanceEnv, url: &str, run: &mut Run) -> bool {
    let wallet = &env.wallet;
    let Some(session) = run
        .call(|| async {
            PresentationSession::start(wallet, url)
                .await
                .map_err(|e| wallet_failure("start", &e))
        })
        .await
    else {
        return false;
    };
    let session = &session;
    run.call(|| async {
        let r = session
            .build_response(&PresentationOptions::default())
            .unwrap();
        let got = session
            .submit(&r.id_token, &r.vp_token, &r.state)
            .await
            .unwrap();
        answer("answer", got)
    })
    .await
    .is_some()
}

/// The injected fault's failure is one a wallet may retry: our 503 `transientError`, or the
/// wallet's DID resolution failing on the 503 our DID document answered.
fn assert_retryable(f: &Failure, what: &str) {
    let ours = f.status == 503 && f.inner == "transientError";
    let resolution = f.status == 0 && f.text.contains("503");
    assert!(ours || resolution, "{what}: not a retryable error: {f:?}");
}

/// The retry may only be refused when the step had committed before its answer was lost.
fn assert_refusal_explained(refused: &Failure, fault: &Injected, what: &str, expected: &str) {
    assert_eq!(
        (fault.method, fault.at),
        ("transition", FaultAt::After),
        "{what}: only a step that committed may refuse the retry: {refused:?}"
    );
    assert_eq!(refused.status, 409, "{what}: {refused:?}");
    assert!(
        refused.text.contains(expected),
        "{what}: the refusal says why: {refused:?}"
    );
}

/// No half state: an issued credential exactly when the request reached `credential_issued`
/// or later; one callback row per reported status reached, nothing else; each delivered.
async fn assert_whole(env: &IssuanceEnv, store: &Arc<dyn Store>, id: Uuid, what: &str) -> String {
    let r = store.request(id).await.unwrap().unwrap();
    let issued: Vec<_> = store
        .find_credentials(None, None, None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.request_id == Some(id))
        .collect();
    let issued_step = ["credential_issued", "issuance_successful"].contains(&r.status.as_str());
    assert_eq!(
        issued.len(),
        usize::from(issued_step),
        "{what}: {} with {} issued credentials",
        r.status,
        issued.len()
    );
    let mut expected = Vec::new();
    if r.retrieved_at.is_some() || r.status != "request_created" {
        expected.push("request_retrieved".to_owned());
    }
    if r.status != "request_retrieved"
        && r.status != "request_created"
        && r.status != "credential_issued"
    {
        expected.push(r.status.clone());
    }
    let mut rows: Vec<_> = store
        .callbacks_for_request(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    rows.sort();
    expected.sort();
    assert_eq!(rows, expected, "{what}: one callback per status reached");
    // Delivered at least once: the RP heard every one of them.
    let heard = |status: &str| {
        env.rp
            .calls()
            .iter()
            .any(|c| c.body["requestId"] == id.to_string() && c.body["requestStatus"] == status)
    };
    for _ in 0..200 {
        if rows.iter().all(|s| heard(s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for s in &rows {
        assert!(heard(s), "{what}: the {s} callback was never delivered");
    }
    r.status
}

/// A flow under test: how each run's request is made (unfaulted), what the wallet does, the
/// status a successful run ends in, and what a refused retry says.
struct Flow<'a, C, F> {
    env: &'a IssuanceEnv,
    faulty: &'a FaultyStore,
    new_request: C,
    wallet: F,
    done: &'static str,
    refusal: &'static str,
}

impl<C, CF, F> Flow<'_, C, F>
where
    C: Fn() -> CF,
    CF: Future<Output = (String, String)>,
    F: AsyncFn(&IssuanceEnv, &str, &mut Run) -> bool,
{
    /// One run of the flow under `plan`, checked; the fault, when one was injected.
    async fn run(&self, plan: FaultPlan, label: &str) -> Option<Injected> {
        let (env, faulty) = (self.env, self.faulty);
        let store = faulty.inner().clone();
        let (request_id, url) = (self.new_request)().await;
        let id: Uuid = request_id.parse().unwrap();
        let injected = faulty.injected().len();
        faulty.arm(plan);
        let mut run = Run::default();
        let ok = (self.wallet)(env, &url, &mut run).await;
        faulty.disarm();
        let Some(fault) = faulty.injected().get(injected).cloned() else {
            // The flow made fewer calls (or the step fewer statements): no fault.
            assert!(ok, "{label}, unfaulted: {run:?}");
            assert!(run.failure.is_none(), "{label}: {run:?}");
            assert_eq!(assert_whole(env, &store, id, label).await, self.done);
            return None;
        };
        let failure = run
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{label} ({fault:?}): the wallet saw no error"));
        let what = format!("{label} ({fault:?}, during the {})", failure.phase);
        assert_retryable(failure, &what);
        let status = assert_whole(env, &store, id, &what).await;
        match &run.refused {
            None => {
                assert!(ok, "{what}: {run:?}");
                assert_eq!(status, self.done, "{what}: the retry went through");
            }
            Some(refused) => {
                assert!(!ok);
                assert_refusal_explained(refused, &fault, &what, self.refusal);
            }
        }
        Some(fault)
    }

    /// Every store call of the flow failed in turn, before and after it ran; then every
    /// statement of every step in turn.
    async fn every_fault(&self) {
        for at in [FaultAt::Before, FaultAt::After] {
            let mut faulted = Vec::new();
            for n in 1..=MAX_CALLS {
                let plan = FaultPlan::nth_call(n, at).except(BACKGROUND);
                let Some(fault) = self.run(plan, &format!("{at:?} call {n}")).await else {
                    break;
                };
                assert!(n < MAX_CALLS, "the flow makes too many store calls");
                faulted.push(fault.method);
            }
            assert!(
                faulted.contains(&"transition"),
                "the flow's steps were faulted: {faulted:?}"
            );
        }
        let mut steps = 0;
        for n in 1..=MAX_CALLS {
            let mut statements = Vec::new();
            for k in 1..=MAX_CALLS {
                let plan = FaultPlan::nth_call(n, FaultAt::Statement(k as u32)).only(STEPS);
                let label = format!("statement {k} of step {n}");
                let Some(fault) = self.run(plan, &label).await else {
                    break;
                };
                statements.extend(fault.statement);
            }
            if statements.is_empty() {
                break;
            }
            assert!(statements.contains(&"commit"), "{statements:?}");
            steps += 1;
        }
        assert!(steps >= 2, "every flow takes at least two steps");
    }
}

async fn every_store_call_of_an_issuance_may_fail(backend: Backend) {
    let Some((env, faulty)) = faulty_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["claims"] = serde_json::json!({ "given_name": "Megan", "family_name": "Bowen" });
    let body = &body;
    let env_ref = &env;
    Flow {
        env: &env,
        faulty: &faulty,
        new_request: || env_ref.new_request(body),
        wallet: async |env: &IssuanceEnv, url: &str, run: &mut Run| {
            receive(env, url, run, None, None).await
        },
        done: "issuance_successful",
        refusal: "already issued",
    }
    .every_fault()
    .await;
}

async fn every_store_call_of_a_pin_guess_may_fail(backend: Backend) {
    let Some((env, faulty)) = faulty_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    let mut body = env.request_body(&contract);
    body["claims"] = serde_json::json!({ "given_name": "Megan", "family_name": "Bowen" });
    body["pin"] = serde_json::json!({ "value": "3539", "length": 4 });
    let body = &body;
    let env_ref = &env;
    Flow {
        env: &env,
        faulty: &faulty,
        new_request: || env_ref.new_request(body),
        wallet: async |env: &IssuanceEnv, url: &str, run: &mut Run| {
            receive(env, url, run, Some("3539"), Some("0000")).await
        },
        done: "issuance_successful",
        refusal: "already issued",
    }
    .every_fault()
    .await;
}

async fn every_store_call_of_a_presentation_may_fail(backend: Backend) {
    let Some((env, faulty)) = faulty_env(backend).await else {
        return;
    };
    let contract = env
        .create_contract(example_contract("id-token-hint", &env.authority))
        .await;
    issue(&env, &contract, "Megan").await;
    let body = presentation_body(&env, vec![requested(EXPERT, &[&env.authority])]);
    let body = &body;
    let env_ref = &env;
    Flow {
        env: &env,
        faulty: &faulty,
        new_request: || new_presentation(env_ref, body),
        wallet: async |env: &IssuanceEnv, url: &str, run: &mut Run| present(env, url, run).await,
        done: "presentation_verified",
        refusal: "already answered",
    }
    .every_fault()
    .await;
}
