//! Suite cases for the flow traits: contracts, requests and the replay guard, the callbacks
//! outbox, status lists and issued credentials. Each runs once per backend.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{expect_conflict, expect_invalid, expect_not_found, new_key, run, t, tenant};
use crate::{
    Authority, CallbackTarget, Contract, Counter, FlowRequest, FlowStatus, INITIAL_REQUEST_STATUS,
    MAX_STATUS_INDEX_BATCH, NewCallback, NewFlowRequest, NewIssuedCredential, OnceRecord,
    OutboxState, PinOutcome, PurgePolicy, Purged, Rejection, RequestKind, Store, Tenant,
    Transition, TransitionOutcome,
};

store_suite!(
    contracts_round_trip,
    contract_names_are_unique_per_authority,
    contracts_need_an_authority_of_their_tenant,
    requests_round_trip,
    recent_requests_are_newest_first_by_kind_and_status,
    step_diagnostics_are_kept_for_operators,
    request_conflicts_and_missing_parents,
    request_is_retrieved_once,
    concurrent_retrievals_have_one_winner,
    issuance_steps_follow_the_machine,
    an_offer_code_is_redeemed_once_and_delivers_once,
    rejected_steps_write_nothing,
    concurrent_verdicts_have_one_winner,
    refusals_are_counted_reported_and_limited,
    pin_failures_lock_atomically,
    the_sweeper_purges_expired_rows_only,
    retention_clears_expired_face_checks_and_old_audit_entries,
    two_sweeps_at_once_remove_each_row_once,
    consume_once_refuses_replays_until_expiry,
    callbacks_are_queued_once_per_status,
    claims_lease_messages,
    delivered_and_failed_messages_are_final,
    claim_arguments_are_checked,
    concurrent_claims_never_share_a_message,
    small_lists_fill_then_a_new_list_opens,
    batches_are_distinct_and_a_full_list_gives_what_is_left,
    lists_are_per_authority_and_purpose,
    closed_lists_are_never_allocated_from_again,
    bad_picks_and_lengths_are_refused,
    concurrent_allocations_are_unique,
    concurrent_allocations_on_tiny_lists_keep_one_open_list,
    issued_credentials_round_trip,
    issued_credential_conflicts_and_checks,
    find_credentials_filters,
    revocation_sets_the_bit_and_bumps_the_version,
    signed_lists_are_stored_only_for_the_current_version,
    flow_timestamps_round_trip_to_the_microsecond,
);

// ---- helpers ------------------------------------------------------------------------------

/// The lowest unset bit, most significant bit first.
pub(crate) fn first_free(bitmap: &[u8]) -> Option<u32> {
    (0..bitmap.len() * 8)
        .find(|i| bitmap[i / 8] & (0x80 >> (i % 8)) == 0)
        .map(|i| u32::try_from(i).unwrap())
}

fn bit(bytes: &[u8], i: u32) -> bool {
    bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
}

#[derive(Clone)]
pub(crate) struct Fixture {
    pub(crate) tenant: Tenant,
    pub(crate) authority: Authority,
    pub(crate) contract: Contract,
}

pub(crate) async fn fixture(store: &Arc<dyn Store>) -> Fixture {
    fixture_named(store, "acme").await
}

/// A tenant `name` with an authority `did:web:<name>.example` and a contract `employee`.
pub(super) async fn fixture_named(store: &Arc<dyn Store>, name: &str) -> Fixture {
    let tenant = tenant(store, name).await;
    let authority = store
        .create_authority(
            tenant.id,
            "Acme",
            &format!("did:web:{name}.example"),
            &new_key("k"),
            t(0),
        )
        .await
        .unwrap();
    let contract = store
        .create_contract(tenant.id, authority.id, "employee", &json!({"v": 1}), t(0))
        .await
        .unwrap();
    Fixture {
        tenant,
        authority,
        contract,
    }
}

fn new_request(f: &Fixture, nonce: &str) -> NewFlowRequest {
    NewFlowRequest {
        id: Uuid::new_v4(),
        tenant_id: f.tenant.id,
        kind: RequestKind::Issuance,
        authority_id: f.authority.id,
        contract_id: Some(f.contract.id),
        nonce: nonce.into(),
        payload: json!({"callback": {"url": "https://rp.example/cb"}, "pin": {"value": "1234"}}),
        expires_at: t(300),
    }
}

pub(super) async fn request(store: &Arc<dyn Store>, f: &Fixture, nonce: &str) -> FlowRequest {
    store
        .create_request(&new_request(f, nonce), t(1))
        .await
        .unwrap()
}

fn callback(request_id: Uuid, status: &str) -> NewCallback {
    NewCallback {
        id: Uuid::new_v4(),
        request_id,
        request_status: status.into(),
        url: "https://rp.example/cb".into(),
        headers: json!({"api-key": "rp-secret"}),
        body: json!({"requestStatus": status, "n": [1, 2, 3]}),
        give_up_at: t(3600),
    }
}

pub(crate) fn credential(f: &Fixture, jti: &str) -> NewIssuedCredential {
    NewIssuedCredential {
        id: Uuid::new_v4(),
        jti: jti.into(),
        tenant_id: f.tenant.id,
        contract_id: Some(f.contract.id),
        authority_id: f.authority.id,
        request_id: Some(Uuid::new_v4()),
        subject_did: "did:example:holder".into(),
        status_list_id: None,
        status_index: None,
        indexed_claim_hash: None,
        issued_at: t(10),
        expires_at: t(100_000),
    }
}

// ---- contracts ----------------------------------------------------------------------------

async fn contracts_round_trip(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let c = &f.contract;
    assert_eq!(c.tenant_id, f.tenant.id);
    assert_eq!(c.authority_id, f.authority.id);
    assert_eq!(c.name, "employee");
    assert_eq!(c.definition, json!({"v": 1}));
    assert!(c.enabled);
    assert_eq!((c.created_at, c.updated_at), (t(0), t(0)));
    assert_eq!(store.contract(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(store.contract(Uuid::new_v4()).await.unwrap(), None);

    let other_tenant = tenant(&store, "other").await;
    let other_auth = store
        .create_authority(other_tenant.id, "O", "did:web:o", &new_key("k"), t(0))
        .await
        .unwrap();
    let early = store
        .create_contract(other_tenant.id, other_auth.id, "early", &json!([]), t(-5))
        .await
        .unwrap();
    assert_eq!(
        store.list_contracts(None).await.unwrap(),
        vec![early.clone(), c.clone()]
    );
    assert_eq!(
        store.list_contracts(Some(f.tenant.id)).await.unwrap(),
        vec![c.clone()]
    );
    assert!(
        store
            .list_contracts(Some(Uuid::new_v4()))
            .await
            .unwrap()
            .is_empty()
    );

    let definition = json!({"display": {"title": "Ünïcode ✓"}, "rules": {"revocable": true}});
    let updated = store
        .update_contract(c.id, &definition, t(20))
        .await
        .unwrap();
    assert_eq!(updated.definition, definition);
    assert_eq!((updated.created_at, updated.updated_at), (t(0), t(20)));
    assert!(updated.enabled);
    assert_eq!(store.contract(c.id).await.unwrap(), Some(updated.clone()));

    let disabled = store
        .set_contract_enabled(c.id, false, t(30))
        .await
        .unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.updated_at, t(30));
    assert_eq!(disabled.definition, definition);
    assert_eq!(store.contract(c.id).await.unwrap(), Some(disabled));
    let enabled = store.set_contract_enabled(c.id, true, t(40)).await.unwrap();
    assert!(enabled.enabled);

    let missing = Uuid::new_v4();
    let err = store
        .update_contract(missing, &json!({}), t(50))
        .await
        .unwrap_err();
    expect_not_found(err, "contract", missing);
    let err = store
        .set_contract_enabled(missing, false, t(50))
        .await
        .unwrap_err();
    expect_not_found(err, "contract", missing);
}

async fn contract_names_are_unique_per_authority(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let err = store
        .create_contract(f.tenant.id, f.authority.id, "employee", &json!({}), t(1))
        .await
        .unwrap_err();
    assert_eq!(expect_conflict(err, "contract", "name"), "employee");
    let second = store
        .create_authority(f.tenant.id, "B", "did:web:b", &new_key("k"), t(0))
        .await
        .unwrap();
    store
        .create_contract(f.tenant.id, second.id, "employee", &json!({}), t(1))
        .await
        .unwrap();
    assert_eq!(store.list_contracts(None).await.unwrap().len(), 2);
}

async fn contracts_need_an_authority_of_their_tenant(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let missing = Uuid::new_v4();
    let err = store
        .create_contract(missing, f.authority.id, "x", &json!({}), t(1))
        .await
        .unwrap_err();
    expect_not_found(err, "tenant", missing);
    let err = store
        .create_contract(f.tenant.id, missing, "x", &json!({}), t(1))
        .await
        .unwrap_err();
    expect_not_found(err, "authority", missing);
    let other = tenant(&store, "other").await;
    let err = store
        .create_contract(other.id, f.authority.id, "x", &json!({}), t(1))
        .await
        .unwrap_err();
    expect_invalid(err, "belongs to tenant");
    assert_eq!(store.list_contracts(None).await.unwrap().len(), 1);
}

// ---- requests -----------------------------------------------------------------------------

async fn requests_round_trip(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let new = new_request(&f, "nonce-1");
    let created = store.create_request(&new, t(1)).await.unwrap();
    let expected = FlowRequest {
        id: new.id,
        tenant_id: f.tenant.id,
        kind: RequestKind::Issuance,
        authority_id: f.authority.id,
        contract_id: Some(f.contract.id),
        nonce: "nonce-1".into(),
        payload: new.payload.clone(),
        status: INITIAL_REQUEST_STATUS.into(),
        result: None,
        pin_failures: 0,
        refusals: 0,
        created_at: t(1),
        expires_at: t(300),
        retrieved_at: None,
        completed_at: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.request(new.id).await.unwrap(), Some(expected));
    assert_eq!(store.request(Uuid::new_v4()).await.unwrap(), None);

    let presentation = NewFlowRequest {
        id: Uuid::new_v4(),
        kind: RequestKind::Presentation,
        contract_id: None,
        nonce: "nonce-2".into(),
        payload: json!(null),
        ..new
    };
    let created = store.create_request(&presentation, t(2)).await.unwrap();
    assert_eq!(created.kind, RequestKind::Presentation);
    assert_eq!(created.contract_id, None);
    assert_eq!(store.request(presentation.id).await.unwrap(), Some(created));
}

async fn recent_requests_are_newest_first_by_kind_and_status(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    assert!(
        store
            .recent_requests(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut new = new_request(&f, &format!("recent-{i}"));
        if i == 1 {
            new.kind = RequestKind::Presentation;
            new.contract_id = None;
        }
        store.create_request(&new, t(10 + i)).await.unwrap();
        ids.push(new.id);
    }
    let all: Vec<Uuid> = store
        .recent_requests(None, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, vec![ids[2], ids[1], ids[0]]);
    let two = store.recent_requests(None, None, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    let issuance: Vec<Uuid> = store
        .recent_requests(Some(RequestKind::Issuance), None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(issuance, vec![ids[2], ids[0]]);
    let created = store
        .recent_requests(None, Some(INITIAL_REQUEST_STATUS), 10)
        .await
        .unwrap();
    assert_eq!(created.len(), 3);
    assert!(
        store
            .recent_requests(None, Some("issuance_successful"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn step_diagnostics_are_kept_for_operators(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let mut new = new_request(&f, "diagnosed");
    new.kind = RequestKind::Presentation;
    new.contract_id = None;
    let r = store.create_request(&new, t(1)).await.unwrap();
    assert_eq!(store.request_diagnostics(r.id).await.unwrap(), None);
    let checks = json!([{ "name": "id_token.signature", "outcome": "passed" }]);
    let mut retrieved = step(&r, FlowStatus::RequestRetrieved);
    retrieved.diagnostics = Some(checks.clone());
    store.transition(&retrieved, t(2)).await.unwrap();
    assert_eq!(
        store.request_diagnostics(r.id).await.unwrap(),
        Some(checks.clone())
    );
    // A later step without diagnostics keeps them; the status body never carries them.
    let verified = step(&r, FlowStatus::PresentationVerified);
    store.transition(&verified, t(3)).await.unwrap();
    assert_eq!(store.request_diagnostics(r.id).await.unwrap(), Some(checks));
    let stored = store.request(r.id).await.unwrap().unwrap();
    assert!(stored.result.unwrap().get("checks").is_none());
    assert_eq!(
        store.request_diagnostics(Uuid::new_v4()).await.unwrap(),
        None
    );
}

async fn request_conflicts_and_missing_parents(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let first = request(&store, &f, "nonce-1").await;
    let err = store
        .create_request(&new_request(&f, "nonce-1"), t(2))
        .await
        .unwrap_err();
    assert_eq!(expect_conflict(err, "request", "nonce"), "nonce-1");
    let mut dup = new_request(&f, "nonce-2");
    dup.id = first.id;
    let err = store.create_request(&dup, t(2)).await.unwrap_err();
    assert_eq!(expect_conflict(err, "request", "id"), first.id.to_string());

    let missing = Uuid::new_v4();
    let mut r = new_request(&f, "nonce-3");
    r.tenant_id = missing;
    expect_not_found(
        store.create_request(&r, t(2)).await.unwrap_err(),
        "tenant",
        missing,
    );
    let mut r = new_request(&f, "nonce-3");
    r.authority_id = missing;
    expect_not_found(
        store.create_request(&r, t(2)).await.unwrap_err(),
        "authority",
        missing,
    );
    let mut r = new_request(&f, "nonce-3");
    r.contract_id = Some(missing);
    expect_not_found(
        store.create_request(&r, t(2)).await.unwrap_err(),
        "contract",
        missing,
    );
    // Nothing of the failed inserts was kept: the nonce is still free.
    request(&store, &f, "nonce-3").await;
}

pub(super) fn step(r: &FlowRequest, to: FlowStatus) -> Transition {
    Transition::new(r.id, r.kind, to, json!({"requestStatus": to.as_str()}))
}

pub(super) fn target() -> CallbackTarget {
    CallbackTarget {
        id: Uuid::new_v4(),
        url: "https://rp.example/cb".into(),
        headers: json!({"api-key": "rp-secret"}),
        give_up_at: t(3600),
    }
}

pub(super) fn once(scope: &str, value: &str) -> OnceRecord {
    OnceRecord {
        scope: scope.into(),
        value: value.into(),
        expires_at: t(300),
    }
}

pub(super) fn applied(o: TransitionOutcome) -> FlowRequest {
    match o {
        TransitionOutcome::Applied(r) => *r,
        TransitionOutcome::Rejected(why, _) => panic!("step rejected: {why:?}"),
    }
}

pub(super) fn rejected(o: TransitionOutcome) -> (Rejection, FlowRequest) {
    match o {
        TransitionOutcome::Applied(r) => panic!("step applied: {r:?}"),
        TransitionOutcome::Rejected(why, r) => (why, *r),
    }
}

pub(super) async fn presentation(store: &Arc<dyn Store>, f: &Fixture, nonce: &str) -> FlowRequest {
    let new = NewFlowRequest {
        kind: RequestKind::Presentation,
        contract_id: None,
        ..new_request(f, nonce)
    };
    store.create_request(&new, t(1)).await.unwrap()
}

async fn request_is_retrieved_once(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    let mut retrieve = step(&r, FlowStatus::RequestRetrieved);
    retrieve.callback = Some(target());
    let first = applied(store.transition(&retrieve, t(5)).await.unwrap());
    assert_eq!(first.status, "request_retrieved");
    assert_eq!(first.retrieved_at, Some(t(5)));
    for i in 6..8 {
        retrieve.callback = Some(target());
        let (why, stored) = rejected(store.transition(&retrieve, t(i)).await.unwrap());
        assert_eq!(why, Rejection::WrongStatus(FlowStatus::RequestRetrieved));
        assert_eq!(
            stored.retrieved_at,
            Some(t(5)),
            "the first retrieval is kept"
        );
    }
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(sent.len(), 1, "one request_retrieved callback");
    assert_eq!(sent[0].request_status, "request_retrieved");
    assert_eq!(sent[0].body, json!({"requestStatus": "request_retrieved"}));

    let missing = Uuid::new_v4();
    let mut gone = step(&r, FlowStatus::RequestRetrieved);
    gone.request_id = missing;
    let err = store.transition(&gone, t(5)).await.unwrap_err();
    expect_not_found(err, "request", missing);
}

async fn concurrent_retrievals_have_one_winner(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut retrieve = step(&r, FlowStatus::RequestRetrieved);
            retrieve.callback = Some(target());
            tokio::spawn(async move { store.transition(&retrieve, t(10 + i)).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if matches!(task.await.unwrap().unwrap(), TransitionOutcome::Applied(_)) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(store.callbacks_for_request(r.id).await.unwrap().len(), 1);
}

async fn issuance_steps_follow_the_machine(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    // Completing before a credential was issued is not a step of the machine.
    let (why, _) = rejected(
        store
            .transition(&step(&r, FlowStatus::IssuanceSuccessful), t(2))
            .await
            .unwrap(),
    );
    assert_eq!(why, Rejection::WrongStatus(FlowStatus::RequestCreated));

    let mut issue = step(&r, FlowStatus::CredentialIssued);
    issue.issued = Some(NewIssuedCredential {
        request_id: Some(r.id),
        ..credential(&f, "urn:uuid:vc-1")
    });
    issue.once = vec![once("holder-request-jti", "jti-1")];
    issue.callback = Some(target());
    let issued = applied(store.transition(&issue, t(5)).await.unwrap());
    assert_eq!(issued.status, "credential_issued");
    assert_eq!(issued.completed_at, None);
    assert!(
        store
            .issued_credential_by_jti("urn:uuid:vc-1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store.callbacks_for_request(r.id).await.unwrap().is_empty(),
        "credential_issued is internal: no callback"
    );
    assert!(
        !store
            .consume_once("holder-request-jti", "jti-1", t(300), t(6))
            .await
            .unwrap(),
        "the step's replay record was written with it"
    );

    let mut done = step(&r, FlowStatus::IssuanceSuccessful);
    done.callback = Some(target());
    let completed = applied(store.transition(&done, t(8)).await.unwrap());
    assert_eq!(completed.completed_at, Some(t(8)));
    assert_eq!(
        completed.result,
        Some(json!({"requestStatus": "issuance_successful"}))
    );
    // Final: neither the opposite outcome nor a repeat changes it.
    for to in [FlowStatus::IssuanceError, FlowStatus::IssuanceSuccessful] {
        let mut late = step(&r, to);
        late.callback = Some(target());
        let (why, stored) = rejected(store.transition(&late, t(9)).await.unwrap());
        assert_eq!(why, Rejection::WrongStatus(FlowStatus::IssuanceSuccessful));
        assert_eq!(stored, completed);
    }
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request_status, "issuance_successful");

    // Illegal for the kind: an issuance request never becomes presentation_verified.
    let err = store
        .transition(&step(&r, FlowStatus::PresentationVerified), t(9))
        .await
        .unwrap_err();
    expect_invalid(err, "illegal transition");
    // The kind the caller expects must match.
    let mut wrong_kind = step(&r, FlowStatus::PresentationError);
    wrong_kind.kind = RequestKind::Presentation;
    let err = store.transition(&wrong_kind, t(9)).await.unwrap_err();
    expect_not_found(err, "request", r.id);
}

/// OpenID4VCI: redeem (code -> access token) then deliver (proof -> credential), each once,
/// however many wallets try at the same moment.
async fn an_offer_code_is_redeemed_once_and_delivers_once(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    // Delivering before the code was redeemed is not a step of the machine.
    let (why, _) = rejected(
        store
            .transition(&step(&r, FlowStatus::IssuanceSuccessful), t(2))
            .await
            .unwrap(),
    );
    assert_eq!(why, Rejection::WrongStatus(FlowStatus::RequestCreated));

    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            let mut redeem = step(&r, FlowStatus::TokenIssued);
            redeem.callback = Some(target());
            tokio::spawn(async move { store.transition(&redeem, t(10 + i)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            TransitionOutcome::Applied(req) => winners.push(req),
            TransitionOutcome::Rejected(why, _) => {
                assert_eq!(why, Rejection::WrongStatus(FlowStatus::TokenIssued));
            }
        }
    }
    assert_eq!(winners.len(), 1, "one redemption");
    assert!(
        winners[0].retrieved_at.is_some(),
        "redeeming is the wallet's first contact"
    );
    assert!(
        store.callbacks_for_request(r.id).await.unwrap().is_empty(),
        "token_issued is internal: no callback"
    );
    // The hosted profile's steps do not apply to a redeemed offer.
    for to in [
        FlowStatus::CredentialIssued,
        FlowStatus::IssuanceFailureReported,
        FlowStatus::RequestRetrieved,
    ] {
        let (why, _) = rejected(store.transition(&step(&r, to), t(20)).await.unwrap());
        assert_eq!(why, Rejection::WrongStatus(FlowStatus::TokenIssued), "{to}");
    }

    let deliver = |jti: &str, nonce: &str| {
        let mut d = step(&r, FlowStatus::IssuanceSuccessful);
        d.issued = Some(NewIssuedCredential {
            request_id: Some(r.id),
            ..credential(&f, jti)
        });
        d.once = vec![once("openid4vci-c_nonce", nonce)];
        d.callback = Some(target());
        d.require_live = false;
        d
    };
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let d = deliver(&format!("urn:uuid:vc-{i}"), &format!("nonce-{i}"));
            tokio::spawn(async move { store.transition(&d, t(30)).await })
        })
        .collect();
    let mut delivered = 0;
    for task in tasks {
        if matches!(task.await.unwrap().unwrap(), TransitionOutcome::Applied(_)) {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 1, "one credential per offer");
    let mut recorded = 0;
    for i in 0..4 {
        let jti = format!("urn:uuid:vc-{i}");
        if store
            .issued_credential_by_jti(&jti)
            .await
            .unwrap()
            .is_some()
        {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1, "only the winner's credential is recorded");
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request_status, "issuance_successful");
    // Past the request's expiry the access token still delivers (require_live = false), but
    // a second code redemption never happens: the request is final.
    let (why, _) = rejected(
        store
            .transition(&step(&r, FlowStatus::TokenIssued), t(400))
            .await
            .unwrap(),
    );
    assert_eq!(why, Rejection::WrongStatus(FlowStatus::IssuanceSuccessful));
}

async fn rejected_steps_write_nothing(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    assert!(
        store
            .consume_once("holder-request-jti", "used", t(300), t(2))
            .await
            .unwrap()
    );
    // A replayed record refuses the whole step: no credential, no status, no other record.
    let mut issue = step(&r, FlowStatus::CredentialIssued);
    issue.issued = Some(credential(&f, "urn:uuid:vc-replayed"));
    issue.once = vec![
        once("vp_token", "fresh"),
        once("holder-request-jti", "used"),
    ];
    let (why, stored) = rejected(store.transition(&issue, t(5)).await.unwrap());
    assert_eq!(
        why,
        Rejection::Replay {
            scope: "holder-request-jti".into()
        }
    );
    assert_eq!(stored.status, "request_created");
    assert!(
        store
            .issued_credential_by_jti("urn:uuid:vc-replayed")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .consume_once("vp_token", "fresh", t(300), t(6))
            .await
            .unwrap(),
        "the step's other record was rolled back"
    );

    // A credential that cannot be recorded fails the step as a whole.
    store
        .record_issued_credential(&credential(&f, "urn:uuid:taken"))
        .await
        .unwrap();
    let mut issue = step(&r, FlowStatus::CredentialIssued);
    issue.issued = Some(credential(&f, "urn:uuid:taken"));
    issue.once = vec![once("holder-request-jti", "second")];
    let err = store.transition(&issue, t(7)).await.unwrap_err();
    expect_conflict(err, "issued credential", "jti");
    let stored = store.request(r.id).await.unwrap().unwrap();
    assert_eq!(stored.status, "request_created");
    assert!(
        store
            .consume_once("holder-request-jti", "second", t(300), t(8))
            .await
            .unwrap()
    );

    // Expired requests take no step, unless the step says expiry does not matter.
    let (why, _) = rejected(
        store
            .transition(&step(&r, FlowStatus::RequestRetrieved), t(300))
            .await
            .unwrap(),
    );
    assert_eq!(why, Rejection::Expired);
    let mut late = step(&r, FlowStatus::IssuanceError);
    late.require_live = false;
    applied(store.transition(&late, t(301)).await.unwrap());
}

async fn concurrent_verdicts_have_one_winner(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = presentation(&store, &f, "n").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut verify = step(&r, FlowStatus::PresentationVerified);
            verify.body = json!({"requestStatus": "presentation_verified", "subject": i});
            verify.once = vec![once("vp_token", &format!("jti-{i}"))];
            verify.callback = Some(target());
            tokio::spawn(async move { (i, store.transition(&verify, t(10)).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        match outcome.unwrap() {
            TransitionOutcome::Applied(_) => winners.push(i),
            TransitionOutcome::Rejected(why, _) => {
                assert_eq!(
                    why,
                    Rejection::WrongStatus(FlowStatus::PresentationVerified)
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = winners[0];
    let stored = store.request(r.id).await.unwrap().unwrap();
    assert_eq!(stored.result.unwrap()["subject"], winner);
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["subject"], winner,
        "polling and callback agree"
    );
    for i in (0..8).filter(|i| *i != winner) {
        assert!(
            store
                .consume_once("vp_token", &format!("jti-{i}"), t(300), t(11))
                .await
                .unwrap(),
            "a losing step leaves no replay record"
        );
    }
}

async fn refusals_are_counted_reported_and_limited(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = presentation(&store, &f, "n").await;
    let refuse = |n: i32| {
        let mut t = step(&r, FlowStatus::PresentationError);
        t.body = json!({"requestStatus": "presentation_error", "n": n});
        t.counter = Some(Counter::Refusal { limit: 3 });
        t.callback = Some(target());
        t
    };
    for n in 1..=3 {
        let stored = applied(
            store
                .transition(&refuse(n), t(5 + i64::from(n)))
                .await
                .unwrap(),
        );
        assert_eq!(
            (stored.refusals, stored.completed_at),
            (n, None),
            "not final"
        );
    }
    let (why, stored) = rejected(store.transition(&refuse(4), t(9)).await.unwrap());
    assert_eq!(why, Rejection::LimitReached);
    assert_eq!(stored.refusals, 3);
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    let ns: Vec<_> = sent.iter().map(|m| m.body["n"].clone()).collect();
    assert_eq!(
        ns,
        [json!(1), json!(2), json!(3)],
        "each refusal is reported"
    );

    // The request is still answerable, and once verified nothing changes the verdict.
    let mut verify = step(&r, FlowStatus::PresentationVerified);
    verify.callback = Some(target());
    let verified = applied(store.transition(&verify, t(10)).await.unwrap());
    assert_eq!(verified.completed_at, Some(t(10)));
    let mut after = refuse(5);
    after.counter = Some(Counter::Refusal { limit: 100 });
    let (why, stored) = rejected(store.transition(&after, t(11)).await.unwrap());
    assert_eq!(
        why,
        Rejection::WrongStatus(FlowStatus::PresentationVerified)
    );
    assert_eq!(stored, verified);
    assert_eq!(store.callbacks_for_request(r.id).await.unwrap().len(), 4);
}

async fn pin_failures_lock_atomically(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    let other = request(&store, &f, "m").await;
    let lock = |r: &FlowRequest| {
        let mut t = step(r, FlowStatus::IssuanceError);
        t.callback = Some(target());
        t
    };
    match store
        .record_pin_failure(
            r.id,
            5,
            &[once("holder-request-jti", "g1")],
            &lock(&r),
            t(2),
        )
        .await
        .unwrap()
    {
        PinOutcome::Counted(1) => {}
        other => panic!("{other:?}"),
    }
    // A replayed guess is refused as a replay and not counted.
    match store
        .record_pin_failure(
            r.id,
            5,
            &[once("holder-request-jti", "g1")],
            &lock(&r),
            t(2),
        )
        .await
        .unwrap()
    {
        PinOutcome::Rejected(Rejection::Replay { .. }, req) => assert_eq!(req.pin_failures, 1),
        other => panic!("{other:?}"),
    }
    assert!(
        store
            .is_once_taken("holder-request-jti", "g1", t(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_once_taken("holder-request-jti", "g1", t(301))
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_once_taken("holder-request-jti", "g2", t(2))
            .await
            .unwrap()
    );
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let lock = lock(&r);
            tokio::spawn(async move { store.record_pin_failure(r.id, 5, &[], &lock, t(3)).await })
        })
        .collect();
    let (mut counted, mut locked_now, mut refused) = (HashSet::new(), 0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            PinOutcome::Counted(n) => assert!(counted.insert(n)),
            PinOutcome::LockedNow(req) => {
                assert_eq!(
                    (req.pin_failures, req.status.as_str()),
                    (5, "issuance_error")
                );
                locked_now += 1;
            }
            PinOutcome::Rejected(why, _) => {
                assert_eq!(why, Rejection::Locked);
                refused += 1;
            }
        }
    }
    assert_eq!(
        counted,
        (2..=4).collect::<HashSet<i32>>(),
        "atomic increments"
    );
    assert_eq!((locked_now, refused), (1, 6));
    let stored = store.request(r.id).await.unwrap().unwrap();
    assert_eq!((stored.pin_failures, stored.completed_at), (5, Some(t(3))));
    let sent = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(sent.len(), 1, "exactly one issuance_error");
    // The right PIN after the lockout finds the request final.
    let (why, _) = rejected(
        store
            .transition(&step(&r, FlowStatus::CredentialIssued), t(4))
            .await
            .unwrap(),
    );
    assert_eq!(why, Rejection::WrongStatus(FlowStatus::IssuanceError));
    assert_eq!(
        store.request(other.id).await.unwrap().unwrap().pin_failures,
        0
    );
    let missing = Uuid::new_v4();
    expect_not_found(
        store
            .record_pin_failure(missing, 5, &[], &lock(&r), t(4))
            .await
            .unwrap_err(),
        "request",
        missing,
    );
}

async fn consume_once_refuses_replays_until_expiry(store: Arc<dyn Store>) {
    assert!(
        store
            .consume_once("jti", "abc", t(100), t(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_once("jti", "abc", t(100), t(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_once("jti", "abc", t(500), t(100))
            .await
            .unwrap(),
        "still live at its expiry time"
    );
    // Scopes are independent; values match exactly.
    assert!(
        store
            .consume_once("nonce", "abc", t(100), t(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_once("jti", "ABC", t(100), t(1))
            .await
            .unwrap()
    );
    // Once expired the value may be used again, and is then guarded again.
    assert!(
        store
            .consume_once("jti", "abc", t(300), t(101))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_once("jti", "abc", t(300), t(102))
            .await
            .unwrap()
    );
    let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
    expect_invalid(
        store.consume_once("jti", "x", far, t(0)).await.unwrap_err(),
        "1 to 9999",
    );
}

// ---- outbox -------------------------------------------------------------------------------

async fn callbacks_are_queued_once_per_status(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    assert_eq!(store.pending_callbacks().await.unwrap(), 0);
    let first = callback(r.id, "request_retrieved");
    assert!(store.enqueue_callback(&first, t(5)).await.unwrap());
    let dup = callback(r.id, "request_retrieved");
    assert!(!store.enqueue_callback(&dup, t(6)).await.unwrap());
    let stored = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.id, first.id);
    assert_eq!(m.request_id, r.id);
    assert_eq!(m.request_status, "request_retrieved");
    assert_eq!(m.url, first.url);
    assert_eq!(m.headers, first.headers);
    assert_eq!(m.body, first.body);
    assert_eq!(m.state, OutboxState::Pending);
    assert_eq!(m.attempts, 0);
    assert_eq!(m.next_attempt_at, t(5), "due at once");
    assert_eq!(m.give_up_at, t(3600));
    assert_eq!(m.last_error, None);
    assert_eq!(m.created_at, t(5));
    assert_eq!(m.delivered_at, None);

    let second = callback(r.id, "issuance_successful");
    assert!(store.enqueue_callback(&second, t(7)).await.unwrap());
    let ids: Vec<_> = store
        .callbacks_for_request(r.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [first.id, second.id], "oldest first");
    assert_eq!(store.pending_callbacks().await.unwrap(), 2);

    let mut same_id = callback(r.id, "issuance_error");
    same_id.id = first.id;
    let err = store.enqueue_callback(&same_id, t(8)).await.unwrap_err();
    assert_eq!(expect_conflict(err, "callback", "id"), first.id.to_string());
    let missing = Uuid::new_v4();
    let err = store
        .enqueue_callback(&callback(missing, "x"), t(8))
        .await
        .unwrap_err();
    expect_not_found(err, "request", missing);
    assert!(
        store
            .callbacks_for_request(missing)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_callbacks().await.unwrap(), 2);
}

async fn claims_lease_messages(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    let a = callback(r.id, "a");
    let b = callback(r.id, "b");
    store.enqueue_callback(&a, t(0)).await.unwrap();
    store.enqueue_callback(&b, t(1)).await.unwrap();
    assert!(
        store
            .claim_due_callbacks(t(-1), 10, 60)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );

    let claimed = store.claim_due_callbacks(t(2), 10, 60).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, [a.id, b.id], "soonest due first");
    assert!(claimed.iter().all(|m| m.state == OutboxState::Pending));
    // Leased until t(62): nobody else gets them.
    assert!(
        store
            .claim_due_callbacks(t(3), 10, 60)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_callbacks(t(61), 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    // A retry releases the lease but is not due before its time.
    store
        .mark_callback_retry(a.id, 1, t(100), "HTTP 503", t(4))
        .await
        .unwrap();
    let stored = &store.callbacks_for_request(r.id).await.unwrap()[0];
    assert_eq!(stored.state, OutboxState::Pending);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.next_attempt_at, t(100));
    assert_eq!(stored.last_error.as_deref(), Some("HTTP 503"));
    assert!(
        store
            .claim_due_callbacks(t(50), 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    // b's lease ended at t(62): it is claimable again, a is not yet due.
    let claimed = store.claim_due_callbacks(t(62), 10, 60).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [b.id]);

    // At a's time it is claimed again; b is still leased (until t(122)).
    let claimed = store.claim_due_callbacks(t(100), 10, 60).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, a.id);
    assert_eq!(claimed[0].attempts, 1);

    // The limit is kept.
    let claimed = store.claim_due_callbacks(t(500), 1, 60).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, b.id, "b has been due longer");
    assert_eq!(store.pending_callbacks().await.unwrap(), 2);
}

async fn delivered_and_failed_messages_are_final(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    let a = callback(r.id, "a");
    let b = callback(r.id, "b");
    store.enqueue_callback(&a, t(0)).await.unwrap();
    store.enqueue_callback(&b, t(1)).await.unwrap();
    assert_eq!(
        store.claim_due_callbacks(t(1), 10, 60).await.unwrap().len(),
        2
    );

    store.mark_callback_delivered(a.id, 1, t(2)).await.unwrap();
    store
        .mark_callback_failed(b.id, 7, "gave up: HTTP 500", t(3))
        .await
        .unwrap();
    let stored = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(stored[0].state, OutboxState::Delivered);
    assert_eq!(stored[0].attempts, 1);
    assert_eq!(stored[0].delivered_at, Some(t(2)));
    assert_eq!(stored[1].state, OutboxState::Failed);
    assert_eq!(stored[1].attempts, 7);
    assert_eq!(stored[1].last_error.as_deref(), Some("gave up: HTTP 500"));
    assert_eq!(stored[1].delivered_at, None);
    assert_eq!(store.pending_callbacks().await.unwrap(), 0);
    assert!(
        store
            .claim_due_callbacks(t(10_000), 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    // Late reports from a worker whose lease ran out change nothing.
    store
        .mark_callback_retry(a.id, 2, t(5), "late", t(4))
        .await
        .unwrap();
    store
        .mark_callback_failed(a.id, 2, "late", t(4))
        .await
        .unwrap();
    store
        .mark_callback_retry(b.id, 8, t(5), "late", t(4))
        .await
        .unwrap();
    store.mark_callback_delivered(a.id, 9, t(6)).await.unwrap();
    let again = store.callbacks_for_request(r.id).await.unwrap();
    assert_eq!(again[0], stored[0]);
    assert_eq!(again[1], stored[1]);
    assert_eq!(store.pending_callbacks().await.unwrap(), 0);

    // A delivery that succeeded after all is recorded, even over a give-up.
    store.mark_callback_delivered(b.id, 8, t(7)).await.unwrap();
    let b_now = &store.callbacks_for_request(r.id).await.unwrap()[1];
    assert_eq!(b_now.state, OutboxState::Delivered);
    assert_eq!(b_now.delivered_at, Some(t(7)));

    let missing = Uuid::new_v4();
    expect_not_found(
        store
            .mark_callback_delivered(missing, 1, t(1))
            .await
            .unwrap_err(),
        "callback",
        missing,
    );
    expect_not_found(
        store
            .mark_callback_retry(missing, 1, t(1), "e", t(1))
            .await
            .unwrap_err(),
        "callback",
        missing,
    );
    expect_not_found(
        store
            .mark_callback_failed(missing, 1, "e", t(1))
            .await
            .unwrap_err(),
        "callback",
        missing,
    );
}

async fn claim_arguments_are_checked(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    store
        .enqueue_callback(&callback(r.id, "a"), t(0))
        .await
        .unwrap();
    for lease in [0, -5] {
        let err = store
            .claim_due_callbacks(t(1), 10, lease)
            .await
            .unwrap_err();
        expect_invalid(err, "must be positive");
    }
    assert!(
        store
            .claim_due_callbacks(t(1), 0, 60)
            .await
            .unwrap()
            .is_empty()
    );
    // Neither call leased anything.
    assert_eq!(
        store.claim_due_callbacks(t(1), 10, 60).await.unwrap().len(),
        1
    );
}

async fn concurrent_claims_never_share_a_message(store: Arc<dyn Store>) {
    const MESSAGES: usize = 40;
    let f = fixture(&store).await;
    let r = request(&store, &f, "n").await;
    for i in 0..MESSAGES {
        store
            .enqueue_callback(&callback(r.id, &format!("s{i}")), t(0))
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_due_callbacks(t(1), 15, 60).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for m in task.await.unwrap().unwrap() {
            assert!(seen.insert(m.id), "message {} claimed twice", m.id);
        }
    }
    // Whatever the claimers skipped is still there for the next one.
    for m in store.claim_due_callbacks(t(1), 100, 60).await.unwrap() {
        assert!(seen.insert(m.id), "message {} claimed twice", m.id);
    }
    assert_eq!(seen.len(), MESSAGES);
}

// ---- status lists -------------------------------------------------------------------------

async fn small_lists_fill_then_a_new_list_opens(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let seen_bitmaps = std::sync::Mutex::new(Vec::new());
    let recording = |bitmap: &[u8]| {
        seen_bitmaps.lock().unwrap().push(bitmap.to_vec());
        first_free(bitmap)
    };
    let mut first_list = None;
    let mut indices = HashSet::new();
    for i in 0..64 {
        let a = store
            .allocate_status_index(f.authority.id, "revocation", 64, &recording, t(i))
            .await
            .unwrap();
        assert_eq!(a.list_length, 64);
        assert_eq!(*first_list.get_or_insert(a.list_id), a.list_id);
        assert!(
            indices.insert(a.index),
            "index {} handed out twice",
            a.index
        );
    }
    assert_eq!(indices, (0..64).collect::<HashSet<u32>>());
    {
        let bitmaps = seen_bitmaps.lock().unwrap();
        assert_eq!(bitmaps[0], vec![0u8; 8], "a new list starts empty");
        assert_eq!(bitmaps[1][0], 0x80, "index 0 is marked used, MSB first");
        assert_eq!(bitmaps[9][..2], [0xff, 0x80]);
    }
    let list_id = first_list.unwrap();
    let list = store.status_list(list_id).await.unwrap().unwrap();
    assert_eq!(list.authority_id, f.authority.id);
    assert_eq!(list.purpose, "revocation");
    assert_eq!(list.length, 64);
    assert_eq!(list.allocated_count, 64);
    assert_eq!(
        list.bits,
        vec![0u8; 8],
        "allocation does not touch the status bits"
    );
    assert_eq!(list.version, 1);
    assert_eq!((list.signed_jwt, list.signed_version), (None, None));
    assert_eq!(list.created_at, t(0));
    assert_eq!(list.updated_at, t(63));

    let next = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(64))
        .await
        .unwrap();
    assert_ne!(next.list_id, list_id, "the 65th index lands in a new list");
    assert_eq!(next.index, 0);
    let second = store.status_list(next.list_id).await.unwrap().unwrap();
    assert_eq!(second.allocated_count, 1);
    assert_eq!(second.created_at, t(64));
    assert_eq!(store.status_list(Uuid::new_v4()).await.unwrap(), None);

    // The open list is used whatever length is asked for later.
    let later = store
        .allocate_status_index(f.authority.id, "revocation", 1024, &first_free, t(65))
        .await
        .unwrap();
    assert_eq!(
        (later.list_id, later.index, later.list_length),
        (next.list_id, 1, 64)
    );
}

async fn batches_are_distinct_and_a_full_list_gives_what_is_left(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let batch = |count: u32, i: i64| {
        let store = store.clone();
        let authority = f.authority.id;
        async move {
            store
                .allocate_status_indices(authority, "revocation", 64, count, &first_free, t(i))
                .await
        }
    };
    let first = batch(40, 1).await.unwrap();
    assert_eq!(first.len(), 40);
    let list_id = first[0].list_id;
    let rest = batch(40, 2).await.unwrap();
    assert_eq!(rest.len(), 24, "the open list gives what it has left");
    let mut seen = HashSet::new();
    for a in first.iter().chain(&rest) {
        assert_eq!(a.list_id, list_id);
        assert!(seen.insert(a.index), "index {} handed out twice", a.index);
    }
    let list = store.status_list(list_id).await.unwrap().unwrap();
    assert_eq!(list.allocated_count, 64);
    let next = batch(8, 3).await.unwrap();
    assert_eq!(next.len(), 8);
    assert_ne!(
        next[0].list_id, list_id,
        "a full list is followed by a new one"
    );
    // An index of a batch can be recorded with a credential; one never allocated cannot.
    let used = next[3];
    let mut c = credential(&f, "batch-1");
    c.status_list_id = Some(used.list_id);
    c.status_index = Some(used.index);
    store.record_issued_credential(&c).await.unwrap();
    let mut c = credential(&f, "batch-2");
    c.status_list_id = Some(used.list_id);
    c.status_index = Some(63);
    let err = store.record_issued_credential(&c).await.unwrap_err();
    assert!(err.to_string().contains("never allocated"), "{err}");
    for bad in [0, MAX_STATUS_INDEX_BATCH + 1] {
        let err = batch(bad, 4).await.unwrap_err();
        assert_eq!(err.code(), "STORE-003", "{bad}: {err}");
    }

    // Concurrent batches (as from several replicas) never share an index.
    let tasks: Vec<_> = (0..6).map(|i| tokio::spawn(batch(30, 10 + i))).collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for a in task.await.unwrap().unwrap() {
            assert!(seen.insert((a.list_id, a.index)), "{a:?} handed out twice");
        }
    }
    assert!(seen.len() >= 6, "each batch got at least one index");
}

async fn lists_are_per_authority_and_purpose(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let other = store
        .create_authority(f.tenant.id, "B", "did:web:b", &new_key("k"), t(0))
        .await
        .unwrap();
    let r1 = store
        .allocate_status_index(f.authority.id, "revocation", 16, &first_free, t(1))
        .await
        .unwrap();
    let s1 = store
        .allocate_status_index(f.authority.id, "suspension", 16, &first_free, t(1))
        .await
        .unwrap();
    let o1 = store
        .allocate_status_index(other.id, "revocation", 16, &first_free, t(1))
        .await
        .unwrap();
    let r2 = store
        .allocate_status_index(f.authority.id, "revocation", 16, &first_free, t(2))
        .await
        .unwrap();
    let lists: HashSet<_> = [r1.list_id, s1.list_id, o1.list_id].into();
    assert_eq!(lists.len(), 3);
    assert_eq!((r1.index, s1.index, o1.index), (0, 0, 0));
    assert_eq!((r2.list_id, r2.index), (r1.list_id, 1));
    let s = store.status_list(s1.list_id).await.unwrap().unwrap();
    assert_eq!(s.purpose, "suspension");
    assert_eq!(
        store
            .status_list(o1.list_id)
            .await
            .unwrap()
            .unwrap()
            .authority_id,
        other.id
    );
}

async fn closed_lists_are_never_allocated_from_again(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let other = store
        .create_authority(f.tenant.id, "B", "did:web:b", &new_key("k"), t(0))
        .await
        .unwrap();
    let mine = store
        .allocate_status_index(f.authority.id, "revocation", 16, &first_free, t(1))
        .await
        .unwrap();
    let suspension = store
        .allocate_status_index(f.authority.id, "suspension", 16, &first_free, t(1))
        .await
        .unwrap();
    let theirs = store
        .allocate_status_index(other.id, "revocation", 16, &first_free, t(1))
        .await
        .unwrap();
    // One authority's open lists (both purposes); the other's stays open.
    assert_eq!(
        store
            .close_status_lists(Some(f.authority.id), t(2))
            .await
            .unwrap(),
        2
    );
    let next = store
        .allocate_status_index(f.authority.id, "revocation", 16, &first_free, t(3))
        .await
        .unwrap();
    assert_ne!(next.list_id, mine.list_id, "a new list");
    assert_eq!(next.index, 0);
    let again = store
        .allocate_status_index(other.id, "revocation", 16, &first_free, t(3))
        .await
        .unwrap();
    assert_eq!((again.list_id, again.index), (theirs.list_id, 1));
    // A closed list keeps its bits and is still served.
    let closed = store.status_list(mine.list_id).await.unwrap().unwrap();
    assert_eq!(closed.allocated_count, 1);
    assert!(
        store
            .status_list(suspension.list_id)
            .await
            .unwrap()
            .is_some()
    );
    // Every open list, then nothing left to close.
    assert_eq!(store.close_status_lists(None, t(4)).await.unwrap(), 2);
    assert_eq!(store.close_status_lists(None, t(5)).await.unwrap(), 0);
    let fresh = store
        .allocate_status_index(other.id, "revocation", 16, &first_free, t(6))
        .await
        .unwrap();
    assert_ne!(fresh.list_id, theirs.list_id);
}

async fn bad_picks_and_lengths_are_refused(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    for bad in [0, 12, 7] {
        let err = store
            .allocate_status_index(f.authority.id, "revocation", bad, &first_free, t(1))
            .await
            .unwrap_err();
        expect_invalid(err, "multiple of 8");
    }
    let missing = Uuid::new_v4();
    let err = store
        .allocate_status_index(missing, "revocation", 64, &first_free, t(1))
        .await
        .unwrap_err();
    expect_not_found(err, "authority", missing);

    let nothing = |_: &[u8]| -> Option<u32> { None };
    let err = store
        .allocate_status_index(f.authority.id, "revocation", 64, &nothing, t(1))
        .await
        .unwrap_err();
    expect_invalid(err, "no free index in the new empty status list");

    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(1))
        .await
        .unwrap();
    assert_eq!(a.index, 0);
    let zero = |_: &[u8]| -> Option<u32> { Some(0) };
    let err = store
        .allocate_status_index(f.authority.id, "revocation", 64, &zero, t(2))
        .await
        .unwrap_err();
    expect_invalid(err, "already allocated");
    let beyond = |_: &[u8]| -> Option<u32> { Some(64) };
    let err = store
        .allocate_status_index(f.authority.id, "revocation", 64, &beyond, t(2))
        .await
        .unwrap_err();
    expect_invalid(err, "outside status list");
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(list.allocated_count, 1, "refused picks allocate nothing");
    assert_eq!(list.updated_at, t(1));

    // A picker may declare a list full before every bit is used: a new list opens.
    let b = store
        .allocate_status_index(f.authority.id, "revocation", 64, &nothing_then(), t(3))
        .await
        .unwrap();
    assert_ne!(b.list_id, a.list_id);
    let c = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(4))
        .await
        .unwrap();
    assert_eq!(
        (c.list_id, c.index),
        (b.list_id, 1),
        "the old list stays closed"
    );
}

/// A picker that calls a non-empty bitmap full and picks the first free bit of an empty one.
fn nothing_then() -> impl Fn(&[u8]) -> Option<u32> + Send + Sync {
    |bitmap: &[u8]| {
        if bitmap.iter().all(|b| *b == 0) {
            first_free(bitmap)
        } else {
            None
        }
    }
}

async fn concurrent_allocations_are_unique(store: Arc<dyn Store>) {
    const TASKS: i64 = 8;
    const EACH: i64 = 50;
    let f = fixture(&store).await;
    let authority = f.authority.id;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..EACH {
                    let a = store
                        .allocate_status_index(
                            authority,
                            "revocation",
                            1024,
                            &first_free,
                            t(task * EACH + i),
                        )
                        .await
                        .unwrap();
                    got.push((a.list_id, a.index));
                }
                got
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for pair in task.await.unwrap() {
            assert!(seen.insert(pair), "{pair:?} handed out twice");
        }
    }
    assert_eq!(seen.len() as i64, TASKS * EACH);
    let lists: HashSet<_> = seen.iter().map(|(l, _)| *l).collect();
    assert_eq!(lists.len(), 1, "400 indices fit one list of 1024");
    let list = store
        .status_list(*lists.iter().next().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i64::from(list.allocated_count), TASKS * EACH);
}

async fn concurrent_allocations_on_tiny_lists_keep_one_open_list(store: Arc<dyn Store>) {
    const TASKS: i64 = 6;
    const EACH: i64 = 20;
    let f = fixture(&store).await;
    let authority = f.authority.id;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..EACH {
                    let a = store
                        .allocate_status_index(
                            authority,
                            "revocation",
                            8,
                            &first_free,
                            t(task * EACH + i),
                        )
                        .await
                        .unwrap();
                    got.push((a.list_id, a.index));
                }
                got
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for pair in task.await.unwrap() {
            assert!(seen.insert(pair), "{pair:?} handed out twice");
        }
    }
    let total = usize::try_from(TASKS * EACH).unwrap();
    assert_eq!(seen.len(), total);
    let lists: HashSet<_> = seen.iter().map(|(l, _)| *l).collect();
    // 120 indices in lists of 8: exactly 15 lists, all full, none opened in vain.
    assert_eq!(lists.len(), total / 8);
    for id in lists {
        let list = store.status_list(id).await.unwrap().unwrap();
        assert_eq!(list.allocated_count, 8, "{list:?}");
    }
}

// ---- issued credentials -------------------------------------------------------------------

async fn issued_credentials_round_trip(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(1))
        .await
        .unwrap();
    let mut new = credential(&f, "urn:uuid:1");
    new.status_list_id = Some(a.list_id);
    new.status_index = Some(a.index);
    new.indexed_claim_hash = Some("h1".into());
    let recorded = store.record_issued_credential(&new).await.unwrap();
    assert_eq!(recorded.id, new.id);
    assert_eq!(recorded.jti, "urn:uuid:1");
    assert_eq!(recorded.tenant_id, f.tenant.id);
    assert_eq!(recorded.contract_id, Some(f.contract.id));
    assert_eq!(recorded.authority_id, f.authority.id);
    assert_eq!(recorded.request_id, new.request_id);
    assert_eq!(recorded.subject_did, "did:example:holder");
    assert_eq!(recorded.status_list_id, Some(a.list_id));
    assert_eq!(recorded.status_index, Some(a.index));
    assert_eq!(recorded.indexed_claim_hash.as_deref(), Some("h1"));
    assert_eq!(
        (recorded.issued_at, recorded.expires_at),
        (t(10), t(100_000))
    );
    assert_eq!(
        (recorded.revoked_at, recorded.revocation_reason.clone()),
        (None, None)
    );
    assert_eq!(
        store.issued_credential_by_jti("urn:uuid:1").await.unwrap(),
        Some(recorded)
    );
    assert_eq!(
        store.issued_credential_by_jti("urn:uuid:2").await.unwrap(),
        None
    );

    // Without a status entry or request.
    let mut plain = credential(&f, "urn:uuid:2");
    plain.request_id = None;
    let recorded = store.record_issued_credential(&plain).await.unwrap();
    assert_eq!(
        store.issued_credential_by_jti("urn:uuid:2").await.unwrap(),
        Some(recorded)
    );
}

async fn issued_credential_conflicts_and_checks(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(1))
        .await
        .unwrap();
    let mut first = credential(&f, "urn:uuid:1");
    first.status_list_id = Some(a.list_id);
    first.status_index = Some(a.index);
    store.record_issued_credential(&first).await.unwrap();

    let mut dup = credential(&f, "urn:uuid:1");
    let err = store.record_issued_credential(&dup).await.unwrap_err();
    assert_eq!(
        expect_conflict(err, "issued credential", "jti"),
        "urn:uuid:1"
    );
    dup = credential(&f, "urn:uuid:2");
    dup.id = first.id;
    let err = store.record_issued_credential(&dup).await.unwrap_err();
    assert_eq!(
        expect_conflict(err, "issued credential", "id"),
        first.id.to_string()
    );
    dup = credential(&f, "urn:uuid:3");
    dup.status_list_id = Some(a.list_id);
    dup.status_index = Some(a.index);
    let err = store.record_issued_credential(&dup).await.unwrap_err();
    let value = expect_conflict(err, "issued credential", "status_index");
    assert!(value.contains(&a.list_id.to_string()), "{value}");

    // Entries must come from allocate_status_index, of the issuing authority's list.
    let mut c = credential(&f, "urn:uuid:4");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(5);
    expect_invalid(
        store.record_issued_credential(&c).await.unwrap_err(),
        "never allocated",
    );
    c.status_index = None;
    expect_invalid(
        store.record_issued_credential(&c).await.unwrap_err(),
        "together",
    );
    let other = store
        .create_authority(f.tenant.id, "B", "did:web:b", &new_key("k"), t(0))
        .await
        .unwrap();
    let mut c = credential(&f, "urn:uuid:4");
    c.authority_id = other.id;
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(a.index);
    expect_invalid(
        store.record_issued_credential(&c).await.unwrap_err(),
        "belongs to authority",
    );

    let missing = Uuid::new_v4();
    let mut c = credential(&f, "urn:uuid:5");
    c.status_list_id = Some(missing);
    c.status_index = Some(0);
    expect_not_found(
        store.record_issued_credential(&c).await.unwrap_err(),
        "status list",
        missing,
    );
    let mut c = credential(&f, "urn:uuid:5");
    c.tenant_id = missing;
    expect_not_found(
        store.record_issued_credential(&c).await.unwrap_err(),
        "tenant",
        missing,
    );
    let mut c = credential(&f, "urn:uuid:5");
    c.contract_id = Some(missing);
    expect_not_found(
        store.record_issued_credential(&c).await.unwrap_err(),
        "contract",
        missing,
    );
    let mut c = credential(&f, "urn:uuid:5");
    c.authority_id = missing;
    expect_not_found(
        store.record_issued_credential(&c).await.unwrap_err(),
        "authority",
        missing,
    );
    assert_eq!(
        store
            .find_credentials(None, None, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn find_credentials_filters(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let other_contract = store
        .create_contract(f.tenant.id, f.authority.id, "visitor", &json!({}), t(0))
        .await
        .unwrap();
    let mut records = Vec::new();
    for (i, (contract, hash, did)) in [
        (f.contract.id, Some("alice"), "did:example:1"),
        (f.contract.id, Some("bob"), "did:example:2"),
        (other_contract.id, Some("alice"), "did:example:1"),
        (f.contract.id, None, "did:example:1"),
        (f.contract.id, Some("alice"), "did:example:3"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = credential(&f, &format!("urn:uuid:{i}"));
        c.contract_id = Some(contract);
        c.indexed_claim_hash = hash.map(str::to_owned);
        c.subject_did = did.into();
        // Issued in reverse order of insertion, to see the ordering is by issuance time.
        c.issued_at = t(100 - i64::try_from(i).unwrap());
        records.push(store.record_issued_credential(&c).await.unwrap());
    }
    let jtis = |found: Vec<crate::IssuedCredential>| -> Vec<String> {
        found.into_iter().map(|c| c.jti).collect()
    };
    assert_eq!(
        jtis(store.find_credentials(None, None, None, 100).await.unwrap()),
        [
            "urn:uuid:4",
            "urn:uuid:3",
            "urn:uuid:2",
            "urn:uuid:1",
            "urn:uuid:0"
        ]
    );
    assert_eq!(
        jtis(
            store
                .find_credentials(Some(f.contract.id), Some("alice"), None, 100)
                .await
                .unwrap()
        ),
        ["urn:uuid:4", "urn:uuid:0"]
    );
    assert_eq!(
        jtis(
            store
                .find_credentials(
                    Some(f.contract.id),
                    Some("alice"),
                    Some("did:example:1"),
                    100
                )
                .await
                .unwrap()
        ),
        ["urn:uuid:0"]
    );
    assert_eq!(
        jtis(
            store
                .find_credentials(None, None, Some("did:example:1"), 100)
                .await
                .unwrap()
        ),
        ["urn:uuid:3", "urn:uuid:2", "urn:uuid:0"]
    );
    assert_eq!(
        jtis(
            store
                .find_credentials(Some(other_contract.id), None, None, 100)
                .await
                .unwrap()
        ),
        ["urn:uuid:2"]
    );
    assert_eq!(
        jtis(
            store
                .find_credentials(None, Some("alice"), None, 2)
                .await
                .unwrap()
        ),
        ["urn:uuid:4", "urn:uuid:2"],
        "limit keeps the oldest"
    );
    assert!(
        store
            .find_credentials(Some(Uuid::new_v4()), None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_credentials(None, Some("carol"), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_credentials(None, None, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Revocation shows in search results.
    store
        .revoke_credential(records[0].id, "left", t(200))
        .await
        .unwrap();
    let found = store
        .find_credentials(None, None, Some("did:example:3"), 100)
        .await
        .unwrap();
    assert_eq!(found[0].revoked_at, None);
    let found = store
        .find_credentials(Some(f.contract.id), Some("alice"), Some("did:example:1"), 1)
        .await
        .unwrap();
    assert_eq!(found[0].revoked_at, Some(t(200)));
}

async fn revocation_sets_the_bit_and_bumps_the_version(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    // Index 10 lives in byte 1 under mask 0x20; take indices 0..=10, record only 10 and 3.
    let mut last = None;
    for i in 0..=10 {
        last = Some(
            store
                .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(i))
                .await
                .unwrap(),
        );
    }
    let a = last.unwrap();
    assert_eq!(a.index, 10);
    let mut c = credential(&f, "urn:uuid:10");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(10);
    let ten = store.record_issued_credential(&c).await.unwrap();
    let mut c = credential(&f, "urn:uuid:3");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(3);
    let three = store.record_issued_credential(&c).await.unwrap();
    let before = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(before.version, 1);

    let (revoked, changed) = store
        .revoke_credential(ten.id, "key compromise", t(50))
        .await
        .unwrap();
    assert_eq!(changed, Some(a.list_id));
    assert_eq!(revoked.revoked_at, Some(t(50)));
    assert_eq!(revoked.revocation_reason.as_deref(), Some("key compromise"));
    assert_eq!(
        revoked,
        crate::IssuedCredential {
            revoked_at: Some(t(50)),
            revocation_reason: Some("key compromise".into()),
            ..ten.clone()
        }
    );
    assert_eq!(
        store.issued_credential_by_jti("urn:uuid:10").await.unwrap(),
        Some(revoked.clone())
    );
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(list.version, 2);
    assert_eq!(list.updated_at, t(50));
    let mut expected = vec![0u8; 8];
    expected[1] = 0x20;
    assert_eq!(list.bits, expected, "index 10 is byte 1, mask 0x80 >> 2");
    assert!(bit(&list.bits, 10) && !bit(&list.bits, 3));
    assert_eq!(list.allocated_count, 11, "revocation does not allocate");

    // Idempotent: unchanged credential, no list change.
    let (again, changed) = store
        .revoke_credential(ten.id, "other reason", t(60))
        .await
        .unwrap();
    assert_eq!(changed, None);
    assert_eq!(again, revoked);
    assert_eq!(store.status_list(a.list_id).await.unwrap().unwrap(), list);

    let (_, changed) = store
        .revoke_credential(three.id, "left", t(70))
        .await
        .unwrap();
    assert_eq!(changed, Some(a.list_id));
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(list.bits[..2], [0x10, 0x20]);
    assert_eq!(list.version, 3);

    // No status entry: revoked, no list involved.
    let plain = store
        .record_issued_credential(&credential(&f, "urn:uuid:plain"))
        .await
        .unwrap();
    let (revoked, changed) = store.revoke_credential(plain.id, "x", t(80)).await.unwrap();
    assert_eq!(changed, None);
    assert_eq!(revoked.revoked_at, Some(t(80)));

    let missing = Uuid::new_v4();
    expect_not_found(
        store
            .revoke_credential(missing, "x", t(90))
            .await
            .unwrap_err(),
        "issued credential",
        missing,
    );
}

async fn signed_lists_are_stored_only_for_the_current_version(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(1))
        .await
        .unwrap();
    let mut c = credential(&f, "urn:uuid:1");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(a.index);
    let cred = store.record_issued_credential(&c).await.unwrap();

    assert!(
        store
            .store_signed_status_list(a.list_id, 1, "jwt-v1", t(2))
            .await
            .unwrap()
    );
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(list.signed_jwt.as_deref(), Some("jwt-v1"));
    assert_eq!(list.signed_version, Some(1));
    assert_eq!(list.updated_at, t(2));

    store.revoke_credential(cred.id, "r", t(3)).await.unwrap();
    // A signer that read version 1 before the revocation must not overwrite with stale bits.
    assert!(
        !store
            .store_signed_status_list(a.list_id, 1, "jwt-v1-late", t(4))
            .await
            .unwrap()
    );
    assert!(
        !store
            .store_signed_status_list(a.list_id, 3, "jwt-future", t(4))
            .await
            .unwrap()
    );
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(list.version, 2);
    assert_eq!(list.signed_jwt.as_deref(), Some("jwt-v1"));
    assert_eq!(list.signed_version, Some(1));
    assert!(
        store
            .store_signed_status_list(a.list_id, 2, "jwt-v2", t(5))
            .await
            .unwrap()
    );
    let list = store.status_list(a.list_id).await.unwrap().unwrap();
    assert_eq!(
        (list.signed_jwt.as_deref(), list.signed_version),
        (Some("jwt-v2"), Some(2))
    );

    let missing = Uuid::new_v4();
    expect_not_found(
        store
            .store_signed_status_list(missing, 1, "x", t(6))
            .await
            .unwrap_err(),
        "status list",
        missing,
    );
}

async fn flow_timestamps_round_trip_to_the_microsecond(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let precise = t(7).with_nanosecond(123_456_789).unwrap();
    let micros = t(7).with_nanosecond(123_456_000).unwrap();
    let mut new = new_request(&f, "n");
    new.expires_at = precise + Duration::hours(1);
    let created = store.create_request(&new, precise).await.unwrap();
    assert_eq!(created.created_at, micros);
    assert_eq!(created.expires_at, micros + Duration::hours(1));
    let retrieve = Transition::new(new.id, new.kind, FlowStatus::RequestRetrieved, json!({}));
    applied(store.transition(&retrieve, precise).await.unwrap());
    let stored = store.request(new.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.created_at, stored.expires_at, stored.retrieved_at),
        (micros, micros + Duration::hours(1), Some(micros))
    );

    let mut cb = callback(new.id, "s");
    cb.give_up_at = precise;
    store.enqueue_callback(&cb, precise).await.unwrap();
    let m = &store.callbacks_for_request(new.id).await.unwrap()[0];
    assert_eq!(
        (m.created_at, m.next_attempt_at, m.give_up_at),
        (micros, micros, micros)
    );
    // Due exactly at its (truncated) time.
    assert_eq!(
        store
            .claim_due_callbacks(micros, 10, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    let mut c = credential(&f, "urn:uuid:t");
    c.issued_at = precise;
    let recorded = store.record_issued_credential(&c).await.unwrap();
    assert_eq!(recorded.issued_at, micros);
    assert_eq!(
        store
            .issued_credential_by_jti("urn:uuid:t")
            .await
            .unwrap()
            .unwrap()
            .issued_at,
        micros
    );

    let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
    let mut r = new_request(&f, "far");
    r.expires_at = far;
    expect_invalid(
        store.create_request(&r, t(0)).await.unwrap_err(),
        "1 to 9999",
    );
    assert_eq!(store.request(r.id).await.unwrap(), None);
    let mut c = credential(&f, "urn:uuid:far");
    c.expires_at = far;
    expect_invalid(
        store.record_issued_credential(&c).await.unwrap_err(),
        "1 to 9999",
    );
}

async fn the_sweeper_purges_expired_rows_only(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let done = request(&store, &f, "done").await;
    let waiting = request(&store, &f, "waiting").await;
    let live = {
        let mut r = new_request(&f, "live");
        r.expires_at = t(10_000);
        store.create_request(&r, t(1)).await.unwrap()
    };
    let mut delivered = callback(done.id, "request_retrieved");
    delivered.give_up_at = t(400);
    store.enqueue_callback(&delivered, t(2)).await.unwrap();
    store
        .mark_callback_delivered(delivered.id, 1, t(3))
        .await
        .unwrap();
    store
        .enqueue_callback(&callback(waiting.id, "request_retrieved"), t(2))
        .await
        .unwrap();
    store.consume_once("s", "old", t(100), t(2)).await.unwrap();
    store
        .consume_once("s", "young", t(5_000), t(2))
        .await
        .unwrap();
    store
        .record_issued_credential(&NewIssuedCredential {
            request_id: Some(done.id),
            ..credential(&f, "urn:uuid:kept")
        })
        .await
        .unwrap();

    let purged = store
        .purge_expired(&policy(t(1_000), t(1_000), 100))
        .await
        .unwrap();
    assert_eq!((purged.replay_records, purged.requests), (1, 1));
    assert!(
        store.request(done.id).await.unwrap().is_none(),
        "expired, callbacks final"
    );
    assert!(
        store
            .callbacks_for_request(done.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.request(waiting.id).await.unwrap().is_some(),
        "a callback is pending"
    );
    assert!(
        store.request(live.id).await.unwrap().is_some(),
        "not expired"
    );
    assert!(store.is_once_taken("s", "young", t(1_000)).await.unwrap());
    assert!(
        store
            .consume_once("s", "old", t(2_000), t(1_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .issued_credential_by_jti("urn:uuid:kept")
            .await
            .unwrap()
            .is_some()
    );
    // Bounded batches.
    for i in 0..3 {
        store
            .consume_once("b", &format!("{i}"), t(10), t(2))
            .await
            .unwrap();
    }
    let purged = store
        .purge_expired(&policy(t(1_000), t(0), 2))
        .await
        .unwrap();
    assert_eq!((purged.replay_records, purged.requests), (2, 0));
    assert!(purged.any_full(2));
    let purged = store
        .purge_expired(&policy(t(1_000), t(0), 2))
        .await
        .unwrap();
    assert_eq!((purged.replay_records, purged.requests), (1, 0));
    assert!(!purged.any_full(2));
}

fn policy(now: DateTime<Utc>, requests_before: DateTime<Utc>, batch: u32) -> PurgePolicy {
    PurgePolicy {
        now,
        requests_before,
        audit_before: None,
        batch,
    }
}

async fn two_sweeps_at_once_remove_each_row_once(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    for i in 0..30 {
        request(&store, &f, &format!("old-{i}")).await;
        store
            .consume_once("s", &format!("v{i}"), t(100), t(2))
            .await
            .unwrap();
    }
    // Two replicas' sweepers, batches of 7, until each finds nothing left.
    let sweep = || async {
        let mut total = Purged::default();
        loop {
            let p = store
                .purge_expired(&policy(t(1_000), t(1_000), 7))
                .await
                .unwrap();
            total = total + p;
            if p == Purged::default() {
                return total;
            }
        }
    };
    let (a, b) = tokio::join!(sweep(), sweep());
    assert_eq!(a.requests + b.requests, 30, "{a:?} {b:?}");
    assert_eq!(a.replay_records + b.replay_records, 30, "{a:?} {b:?}");
    assert_eq!(
        store
            .purge_expired(&policy(t(1_000), t(1_000), 7))
            .await
            .unwrap(),
        Purged::default()
    );
}

async fn retention_clears_expired_face_checks_and_old_audit_entries(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    // A presentation whose verdict (with the credential's photo) is held for the selfie.
    let held = json!({"heldVerdict": {"claims": {"photo": "aGVsbG8="}}});
    let mut pending = Vec::new();
    for (nonce, expires) in [("expired", 300), ("live", 5_000)] {
        let mut r = new_request(&f, nonce);
        r.kind = RequestKind::Presentation;
        r.contract_id = None;
        r.expires_at = t(expires);
        let r = store.create_request(&r, t(1)).await.unwrap();
        let r = applied(
            store
                .transition(&step(&r, FlowStatus::RequestRetrieved), t(2))
                .await
                .unwrap(),
        );
        let mut to_pending = step(&r, FlowStatus::FaceCheckPending);
        to_pending.body = held.clone();
        let r = applied(store.transition(&to_pending, t(3)).await.unwrap());
        assert_eq!(r.result, Some(held.clone()));
        pending.push(r);
    }
    for at in [10, 20, 30] {
        store
            .record_audit(&crate::NewAuditEntry {
                at: t(at),
                actor: "admin".into(),
                action: "POST /admin/v1/tenants".into(),
                target: String::new(),
                outcome: "201".into(),
                request_id: None,
            })
            .await
            .unwrap();
    }
    // Requests are kept long after they expired (requests_before is far back).
    let purged = store
        .purge_expired(&PurgePolicy {
            now: t(1_000),
            requests_before: t(0),
            audit_before: Some(t(25)),
            batch: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        purged,
        Purged {
            replay_records: 0,
            requests: 0,
            audit_entries: 2,
            face_checks: 1,
        }
    );
    let expired = store.request(pending[0].id).await.unwrap().unwrap();
    assert_eq!(expired.result, None, "the held photo is gone");
    assert_eq!(expired.status, FlowStatus::FaceCheckPending.as_str());
    let live = store.request(pending[1].id).await.unwrap().unwrap();
    assert_eq!(
        live.result,
        Some(held),
        "a live face check keeps its verdict"
    );
    let left = store.audit_entries(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, t(30));
    // No audit retention: nothing more goes.
    let purged = store
        .purge_expired(&policy(t(1_000), t(0), 100))
        .await
        .unwrap();
    assert_eq!(purged, Purged::default());
}
