//! Fault injection into every step of the flow machine, on each backend: a step that fails at
//! any of its statements (the `FaultyStore` test double arms a statement-level fault point)
//! leaves the request exactly as it was: status, counters, callbacks, replay records and issued
//! credentials. Run again without the fault, the same step succeeds and writes each of those
//! exactly once. A failure before the call writes nothing either; a failure after it (the
//! response is lost, the step committed) leaves the whole step written once, and the retry is
//! refused with the reason.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::flows::{
    Fixture, applied, credential, first_free, fixture, once, presentation, rejected, request, step,
    target,
};
use super::{run, t};
use crate::testing::{FaultAt, FaultPlan, FaultyStore, is_injected};
use crate::{
    CallbackMessage, Counter, CredentialStore, FlowRequest, FlowStatus, FlowStore,
    NewIssuedCredential, OnceRecord, OutboxStore, PinOutcome, Rejection, Store, Transition,
    TransitionOutcome,
};

store_suite!(
    a_failed_retrieve_leaves_no_trace,
    a_failed_issue_leaves_no_trace,
    a_failed_completion_leaves_no_trace,
    a_failed_refusal_leaves_no_trace,
    a_failed_verdict_leaves_no_trace,
    a_failed_failure_report_leaves_no_trace,
    a_failed_wait_for_the_selfie_leaves_no_trace,
    a_failed_selfie_refusal_leaves_no_trace,
    a_failed_pin_count_leaves_no_trace,
    a_failed_lockout_leaves_no_trace,
    a_fault_before_the_call_writes_nothing,
    a_lost_response_leaves_the_step_written_once,
    plans_count_only_the_calls_they_name,
);

/// One step of the machine, as the store takes it.
#[derive(Clone)]
enum Op {
    Step(Transition),
    Pin {
        id: Uuid,
        once: Vec<OnceRecord>,
        lock: Transition,
    },
}

impl Op {
    fn request_id(&self) -> Uuid {
        match self {
            Op::Step(t) => t.request_id,
            Op::Pin { id, .. } => *id,
        }
    }

    fn once(&self) -> Vec<OnceRecord> {
        match self {
            Op::Step(t) => t.once.clone(),
            Op::Pin { once, lock, .. } => once.iter().chain(&lock.once).cloned().collect(),
        }
    }

    fn issued(&self) -> Option<&NewIssuedCredential> {
        match self {
            Op::Step(t) => t.issued.as_ref(),
            Op::Pin { .. } => None,
        }
    }

    /// Takes the step; `Ok(true)` when it was applied (counted, for a PIN failure).
    async fn run(&self, store: &dyn Store) -> crate::Result<bool> {
        match self {
            Op::Step(t) => Ok(matches!(
                store.transition(t, t_step()).await?,
                TransitionOutcome::Applied(_)
            )),
            Op::Pin { id, once, lock } => Ok(matches!(
                store
                    .record_pin_failure(*id, 5, once, lock, t_step())
                    .await?,
                PinOutcome::Counted(_) | PinOutcome::LockedNow(_)
            )),
        }
    }
}

fn t_step() -> chrono::DateTime<chrono::Utc> {
    t(20)
}

/// Everything a step may write, as stored.
#[derive(Debug, PartialEq)]
struct Snapshot {
    request: FlowRequest,
    callbacks: Vec<CallbackMessage>,
    once_taken: Vec<bool>,
    credential: Option<crate::IssuedCredential>,
    credentials: usize,
}

async fn snapshot(store: &Arc<dyn Store>, f: &Fixture, op: &Op) -> Snapshot {
    let id = op.request_id();
    let mut once_taken = Vec::new();
    for o in op.once() {
        once_taken.push(
            store
                .is_once_taken(&o.scope, &o.value, t(21))
                .await
                .unwrap(),
        );
    }
    let credential = match op.issued() {
        Some(c) => store.issued_credential_by_jti(&c.jti).await.unwrap(),
        None => None,
    };
    Snapshot {
        request: store.request(id).await.unwrap().unwrap(),
        callbacks: store.callbacks_for_request(id).await.unwrap(),
        once_taken,
        credential,
        credentials: store
            .find_credentials(Some(f.contract.id), None, None, 100)
            .await
            .unwrap()
            .len(),
    }
}

/// What the step must have written, compared with the state before it.
struct Expect {
    status: FlowStatus,
    /// The callback it queues (status), if any.
    callback: Option<FlowStatus>,
    refusals: i32,
    pin_failures: i32,
}

/// Asserts `after` is `before` plus the step, written exactly once.
fn assert_written_once(before: &Snapshot, after: &Snapshot, op: &Op, e: &Expect, what: &str) {
    assert_eq!(after.request.status, e.status.as_str(), "{what}");
    assert_eq!(
        after.request.refusals,
        before.request.refusals + e.refusals,
        "{what}"
    );
    assert_eq!(
        after.request.pin_failures,
        before.request.pin_failures + e.pin_failures,
        "{what}"
    );
    let added: Vec<_> = after.callbacks[before.callbacks.len()..]
        .iter()
        .map(|m| m.request_status.clone())
        .collect();
    assert_eq!(
        added,
        e.callback
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect::<Vec<_>>(),
        "{what}: one callback per reported status"
    );
    assert_eq!(
        &after.callbacks[..before.callbacks.len()],
        &before.callbacks[..],
        "{what}"
    );
    assert!(
        after.once_taken.iter().all(|taken| *taken),
        "{what}: replay records"
    );
    match op.issued() {
        Some(c) => {
            let stored = after
                .credential
                .as_ref()
                .expect("the credential is recorded");
            assert_eq!(stored.id, c.id, "{what}");
            assert_eq!(after.credentials, before.credentials + 1, "{what}: once");
        }
        None => assert_eq!(after.credentials, before.credentials, "{what}"),
    }
}

/// For each statement of the step in turn: a fresh request at the step's starting point
/// (`setup`), the step failed at that statement, nothing changed; then the same step without
/// the fault writes everything once, and a third try is refused and writes nothing.
async fn every_statement<S, Fut>(store: Arc<dyn Store>, setup: S, expect: Expect)
where
    S: Fn(Arc<dyn Store>, Fixture, u32) -> Fut,
    Fut: std::future::Future<Output = Op>,
{
    let faulty = FaultyStore::new(store.clone());
    let f = fixture(&store).await;
    let mut failed_at = Vec::new();
    for n in 1..=40 {
        let op = setup(store.clone(), f.clone(), n).await;
        let before = snapshot(&store, &f, &op).await;
        assert!(
            before.once_taken.iter().all(|taken| !taken),
            "fresh records"
        );
        faulty.arm(
            FaultPlan::nth_call(1, FaultAt::Statement(n))
                .only(&["transition", "record_pin_failure"]),
        );
        let outcome = op.run(&faulty).await;
        let injected = faulty.injected();
        let Some(fault) = injected.get(failed_at.len()) else {
            // The step has fewer than `n` statements: it ran to its end untouched.
            assert!(outcome.unwrap(), "applied without a fault");
            let after = snapshot(&store, &f, &op).await;
            assert_written_once(&before, &after, &op, &expect, "unfaulted");
            assert!(
                failed_at.contains(&"begin") && failed_at.contains(&"commit"),
                "every statement was failed once: {failed_at:?}"
            );
            return;
        };
        let what = format!("fault at statement {n} ({:?})", fault.statement);
        failed_at.push(fault.statement.unwrap());
        let err = outcome.unwrap_err();
        assert!(is_injected(&err), "{what}: {err}");
        assert_eq!(
            err.code(),
            "STORE-004",
            "{what}: reads as a database failure"
        );
        let after = snapshot(&store, &f, &op).await;
        assert_eq!(after, before, "{what}: nothing of the step was kept");

        // The retry (no fault) takes the step, and writes each thing once.
        assert!(
            op.run(store.as_ref()).await.unwrap(),
            "{what}: retry applies"
        );
        let retried = snapshot(&store, &f, &op).await;
        assert_written_once(&before, &retried, &op, &expect, &what);
        // Once more: refused, nothing added (a refusal or a PIN count may be repeated).
        if matches!(op, Op::Step(_)) && expect.refusals == 0 {
            assert!(!op.run(store.as_ref()).await.unwrap(), "{what}: taken once");
            assert_eq!(snapshot(&store, &f, &op).await, retried, "{what}");
        }
    }
    panic!("a step with more than 40 statements");
}

fn retrieve(r: &FlowRequest) -> Transition {
    let mut s = step(r, FlowStatus::RequestRetrieved);
    s.callback = Some(target());
    s
}

async fn retrieved(store: &Arc<dyn Store>, r: &FlowRequest) {
    applied(store.transition(&retrieve(r), t(5)).await.unwrap());
}

/// The issue step of `r`, with a status-list entry, two replay records and a callback target
/// (not written: `credential_issued` is internal).
async fn issue(store: &Arc<dyn Store>, f: &Fixture, r: &FlowRequest, n: u32) -> Transition {
    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(6))
        .await
        .unwrap();
    let mut s = step(r, FlowStatus::CredentialIssued);
    s.issued = Some(NewIssuedCredential {
        request_id: Some(r.id),
        status_list_id: Some(a.list_id),
        status_index: Some(a.index),
        ..credential(f, &format!("urn:uuid:vc-{n}-{}", r.id))
    });
    s.once = vec![
        once("holder-request-jti", &format!("h-{}", r.id)),
        once("vp_token", &format!("vp-{}", r.id)),
    ];
    s.callback = Some(target());
    s
}

fn pin_lock(r: &FlowRequest) -> Transition {
    let mut s = step(r, FlowStatus::IssuanceError);
    s.callback = Some(target());
    s
}

async fn a_failed_retrieve_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::RequestRetrieved,
        callback: Some(FlowStatus::RequestRetrieved),
        refusals: 0,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            Op::Step(retrieve(&r))
        },
        expect,
    )
    .await;
}

async fn a_failed_issue_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::CredentialIssued,
        callback: None,
        refusals: 0,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            Op::Step(issue(&store, &f, &r, n).await)
        },
        expect,
    )
    .await;
}

async fn a_failed_completion_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::IssuanceSuccessful,
        callback: Some(FlowStatus::IssuanceSuccessful),
        refusals: 0,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            applied(
                store
                    .transition(&issue(&store, &f, &r, n).await, t(7))
                    .await
                    .unwrap(),
            );
            let mut done = step(&r, FlowStatus::IssuanceSuccessful);
            done.callback = Some(target());
            Op::Step(done)
        },
        expect,
    )
    .await;
}

async fn a_failed_refusal_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::PresentationError,
        callback: Some(FlowStatus::PresentationError),
        refusals: 1,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = presentation(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            let mut refuse = step(&r, FlowStatus::PresentationError);
            refuse.body = json!({"requestStatus": "presentation_error", "n": n});
            refuse.counter = Some(Counter::Refusal { limit: 10 });
            refuse.callback = Some(target());
            Op::Step(refuse)
        },
        expect,
    )
    .await;
}

async fn a_failed_failure_report_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::IssuanceFailureReported,
        callback: Some(FlowStatus::IssuanceFailureReported),
        refusals: 1,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            let mut report = step(&r, FlowStatus::IssuanceFailureReported);
            report.body = json!({"requestStatus": "issuance_error", "n": n});
            report.counter = Some(Counter::Refusal { limit: 10 });
            report.callback = Some(target());
            Op::Step(report)
        },
        expect,
    )
    .await;
}

/// The await-selfie step: the verified answer's replay record and the held verdict, no
/// callback (the status is internal).
fn await_selfie(r: &FlowRequest) -> Transition {
    let mut s = step(r, FlowStatus::FaceCheckPending);
    s.body = json!({"heldVerdict": {"subject": "did:example:holder"}});
    s.once = vec![once("vp_token", &format!("vp-{}", r.id))];
    s.callback = Some(target());
    s
}

async fn a_failed_wait_for_the_selfie_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::FaceCheckPending,
        callback: None,
        refusals: 0,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = presentation(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            Op::Step(await_selfie(&r))
        },
        expect,
    )
    .await;
}

async fn a_failed_selfie_refusal_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::FaceCheckFailed,
        callback: Some(FlowStatus::FaceCheckFailed),
        refusals: 1,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = presentation(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            applied(store.transition(&await_selfie(&r), t(6)).await.unwrap());
            let mut refuse = step(&r, FlowStatus::FaceCheckFailed);
            refuse.body = json!({"requestStatus": "presentation_error", "n": n});
            refuse.counter = Some(Counter::Refusal { limit: 10 });
            refuse.callback = Some(target());
            Op::Step(refuse)
        },
        expect,
    )
    .await;
}

async fn a_failed_verdict_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::PresentationVerified,
        callback: Some(FlowStatus::PresentationVerified),
        refusals: 0,
        pin_failures: 0,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = presentation(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            let mut verify = step(&r, FlowStatus::PresentationVerified);
            verify.once = vec![once("vp_token", &format!("vp-{}", r.id))];
            verify.callback = Some(target());
            Op::Step(verify)
        },
        expect,
    )
    .await;
}

async fn a_failed_pin_count_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::RequestRetrieved,
        callback: None,
        refusals: 0,
        pin_failures: 1,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            Op::Pin {
                id: r.id,
                once: vec![once("holder-request-jti", &format!("g-{}", r.id))],
                lock: pin_lock(&r),
            }
        },
        expect,
    )
    .await;
}

async fn a_failed_lockout_leaves_no_trace(store: Arc<dyn Store>) {
    let expect = Expect {
        status: FlowStatus::IssuanceError,
        callback: Some(FlowStatus::IssuanceError),
        refusals: 0,
        pin_failures: 1,
    };
    every_statement(
        store,
        |store, f, n| async move {
            let r = request(&store, &f, &format!("n-{n}")).await;
            retrieved(&store, &r).await;
            for i in 0..4 {
                let guess = [once("holder-request-jti", &format!("g{i}-{}", r.id))];
                let counted = store
                    .record_pin_failure(r.id, 5, &guess, &pin_lock(&r), t(10))
                    .await
                    .unwrap();
                assert!(matches!(counted, PinOutcome::Counted(_)), "{counted:?}");
            }
            Op::Pin {
                id: r.id,
                once: vec![once("holder-request-jti", &format!("g-{}", r.id))],
                lock: pin_lock(&r),
            }
        },
        expect,
    )
    .await;
}

async fn a_fault_before_the_call_writes_nothing(store: Arc<dyn Store>) {
    let faulty = FaultyStore::new(store.clone());
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    retrieved(&store, &r).await;
    let op = Op::Step(issue(&store, &f, &r, 1).await);
    let before = snapshot(&store, &f, &op).await;
    faulty.arm(FaultPlan::nth_call(1, FaultAt::Before));
    let err = op.run(&faulty).await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    assert_eq!(snapshot(&store, &f, &op).await, before);
    assert!(!faulty.is_armed(), "a plan fires once");
    assert!(op.run(&faulty).await.unwrap(), "the retry is applied");
    let expect = Expect {
        status: FlowStatus::CredentialIssued,
        callback: None,
        refusals: 0,
        pin_failures: 0,
    };
    assert_written_once(
        &before,
        &snapshot(&store, &f, &op).await,
        &op,
        &expect,
        "retry",
    );
}

async fn a_lost_response_leaves_the_step_written_once(store: Arc<dyn Store>) {
    let faulty = FaultyStore::new(store.clone());
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    retrieved(&store, &r).await;
    let issue = issue(&store, &f, &r, 1).await;
    let op = Op::Step(issue.clone());
    let before = snapshot(&store, &f, &op).await;
    faulty.arm(FaultPlan::nth_call(1, FaultAt::After));
    let err = op.run(&faulty).await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    let committed = snapshot(&store, &f, &op).await;
    let expect = Expect {
        status: FlowStatus::CredentialIssued,
        callback: None,
        refusals: 0,
        pin_failures: 0,
    };
    assert_written_once(&before, &committed, &op, &expect, "lost response");
    // The caller retries the same step: refused as a replay of its own record, nothing added.
    let (why, _) = rejected(faulty.transition(&issue, t(21)).await.unwrap());
    assert_eq!(
        why,
        Rejection::Replay {
            scope: "holder-request-jti".into()
        }
    );
    // A fresh attempt (new records, as a wallet's new holder request) finds the step taken.
    let mut fresh = issue.clone();
    fresh.once = vec![once("holder-request-jti", "another")];
    fresh.issued = Some(NewIssuedCredential {
        id: Uuid::new_v4(),
        ..credential(&f, "urn:uuid:another")
    });
    let (why, _) = rejected(faulty.transition(&fresh, t(21)).await.unwrap());
    assert_eq!(why, Rejection::WrongStatus(FlowStatus::CredentialIssued));
    assert_eq!(snapshot(&store, &f, &op).await, committed);
}

async fn plans_count_only_the_calls_they_name(store: Arc<dyn Store>) {
    let faulty = FaultyStore::new(store.clone());
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    // The second `request` call fails; other calls pass and are not counted.
    faulty.arm(FaultPlan::nth_call(2, FaultAt::Before).only(&["request"]));
    faulty.request(r.id).await.unwrap();
    faulty.ping().await.unwrap();
    faulty.contract(f.contract.id).await.unwrap();
    assert!(faulty.is_armed());
    assert!(is_injected(&faulty.request(r.id).await.unwrap_err()));
    faulty.request(r.id).await.unwrap();
    // `except` counts everything else: the first call that is not `ping` fails.
    faulty.arm(FaultPlan::nth_call(1, FaultAt::Before).except(&["ping"]));
    faulty.ping().await.unwrap();
    assert!(is_injected(&faulty.pending_callbacks().await.unwrap_err()));
    // A statement fault in a call without statement points fires nowhere.
    faulty.arm(FaultPlan::nth_call(1, FaultAt::Statement(1)));
    faulty.request(r.id).await.unwrap();
    assert!(!faulty.is_armed());
    let methods: Vec<_> = faulty.injected().into_iter().map(|i| i.method).collect();
    assert_eq!(methods, ["request", "pending_callbacks"]);
    assert_eq!(
        faulty.calls(),
        [
            "request",
            "ping",
            "contract",
            "request",
            "request",
            "ping",
            "pending_callbacks",
            "request"
        ]
    );
    assert_eq!(faulty.backend(), store.backend());
    // Unarmed, the statement points of a real step stay silent.
    applied(faulty.transition(&retrieve(&r), t(5)).await.unwrap());
}
