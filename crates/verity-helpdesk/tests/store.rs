//! The helpdesk's own store steps, each run twice at once (one wins), and across a restart
//! (what a step committed is there when the process comes back; what it did not, is not).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use verity_helpdesk::store::{
    AuditRecord, NewPass, NewRequest, RequestUpdate, Store, VerifiedPerson, digest,
};
use verity_helpdesk::webhook::{TicketEvent, TicketKind, TicketOutbox, TicketOutcome};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&format!(
        "sqlite://{}",
        dir.path().join("helpdesk.db").display()
    ))
    .await
    .unwrap()
}

async fn request(store: &Store, id: &str) {
    store
        .insert_request(
            &NewRequest {
                request_id: id,
                kind: "presentation",
                session_hash: "s1",
                upn: None,
                url: "openid-vc://?request_uri=x",
                qr_code: None,
                pin: None,
                callback_key_hash: &digest("key"),
                expires_at: now() + Duration::minutes(5),
            },
            None,
            now(),
        )
        .await
        .unwrap();
}

fn ticket(id: &str, outcome: TicketOutcome) -> TicketEvent {
    TicketEvent {
        event_id: Uuid::new_v4(),
        kind: TicketKind::Verification,
        request_id: id.into(),
        outcome,
        reason: None,
        person: None,
        issuer: None,
        linked_domain: None,
        face_match_score: None,
        action: None,
        occurred_at: now(),
        verified_at: None,
    }
}

fn audit(outcome: &str) -> AuditRecord {
    AuditRecord {
        at: now(),
        actor: "helpdesk".into(),
        action: "verification".into(),
        subject: None,
        outcome: outcome.into(),
        detail: None,
        request_id: None,
    }
}

fn verified() -> RequestUpdate {
    RequestUpdate {
        status: "verified".into(),
        is_final: true,
        result: Some(VerifiedPerson {
            display_name: "Megan Bowen".into(),
            user_principal_name: "megan@contoso.example".into(),
            mail: None,
            job_title: None,
            issuer: "did:web:contoso.example".into(),
            linked_domain: None,
            face_match_score: Some(90),
            directory_id: "uid=megan".into(),
        }),
        verified_at: Some(now()),
        ..RequestUpdate::default()
    }
}

fn refused(fingerprint: &str) -> RequestUpdate {
    RequestUpdate {
        status: "refused".into(),
        reason: Some("face check score 40 below threshold 70 (PRES-051)".into()),
        refusal: Some(fingerprint.into()),
        ..RequestUpdate::default()
    }
}

/// Applies `update` to request `r1` from two tasks at once (each with its audit record and
/// ticket); returns how many changed it.
async fn twice(store: &Store, update: RequestUpdate, outcome: TicketOutcome, label: &str) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (store, update, label) = (store.clone(), update.clone(), label.to_owned());
        tasks.push(tokio::spawn(async move {
            store
                .update_request(
                    "r1",
                    &update,
                    Some(&audit(&label)),
                    Some(&ticket("r1", outcome)),
                    now(),
                )
                .await
                .unwrap()
        }));
    }
    let mut changed = 0;
    for t in tasks {
        changed += usize::from(t.await.unwrap());
    }
    changed
}

#[tokio::test]
async fn two_verdicts_at_once_record_one_and_queue_one_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    request(&store, "r1").await;
    let winners = twice(&store, verified(), TicketOutcome::Verified, "verified").await;
    assert_eq!(winners, 1, "one verdict");
    assert_eq!(store.pending_tickets().await.unwrap(), 1);
    assert_eq!(store.audit(10).await.unwrap().len(), 1);
    // A final request takes nothing more, not even a refusal.
    assert!(
        !store
            .update_request(
                "r1",
                &refused("x"),
                None,
                Some(&ticket("r1", TicketOutcome::Refused)),
                now()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.request("r1").await.unwrap().unwrap().status,
        "verified"
    );
}

#[tokio::test]
async fn one_refusal_seen_twice_is_one_ticket_and_a_new_one_is_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    request(&store, "r1").await;
    let winners = twice(&store, refused("f1"), TicketOutcome::Refused, "refused").await;
    assert_eq!(winners, 1);
    assert_eq!(store.pending_tickets().await.unwrap(), 1);
    assert_eq!(store.audit(10).await.unwrap().len(), 1);
    assert!(
        store
            .update_request(
                "r1",
                &refused("f2"),
                None,
                Some(&ticket("r1", TicketOutcome::Refused)),
                now()
            )
            .await
            .unwrap()
    );
    assert_eq!(store.pending_tickets().await.unwrap(), 2);
    // Still answerable: the holder is verified after the refusals.
    assert!(
        store
            .update_request("r1", &verified(), None, None, now())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_once_only_pass_signs_in_once_even_when_used_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let hash = digest("Qp27xF7syTJhdFAL");
    store
        .insert_pass(
            &NewPass {
                upn: "megan@contoso.example",
                pass_hash: &hash,
                usable_once: true,
                expires_at: now() + Duration::minutes(60),
            },
            &audit("performed"),
            Some(&ticket("r1", TicketOutcome::Performed)),
        )
        .await
        .unwrap();
    let uses = use_at_once(&store, &hash, 8).await;
    assert_eq!(uses.iter().filter(|u| **u).count(), 1, "{uses:?}");
    // Another person's name, or after expiry: nothing.
    assert!(
        !store
            .use_pass("alex@contoso.example", &hash, now())
            .await
            .unwrap()
    );
}

async fn use_at_once(store: &Store, hash: &str, n: usize) -> Vec<bool> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (store, hash) = (store.clone(), hash.to_owned());
        tasks.push(tokio::spawn(async move {
            store
                .use_pass("megan@contoso.example", &hash, now())
                .await
                .unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_pending_sign_in_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store
        .create_session("s1", "csrf", now(), now() + Duration::hours(1))
        .await
        .unwrap();
    store
        .set_pending_login("s1", Some("{\"state\":\"x\"}"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.take_pending_login("s1"),
        store.take_pending_login("s1")
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|p| p.is_some())
            .count(),
        1
    );
}

#[tokio::test]
async fn what_a_step_committed_is_there_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir).await;
        request(&store, "r1").await;
        store
            .update_request(
                "r1",
                &verified(),
                Some(&audit("verified")),
                Some(&ticket("r1", TicketOutcome::Verified)),
                now(),
            )
            .await
            .unwrap();
        // The process ends here, before any delivery.
    }
    let store = open(&dir).await;
    let r = store.request("r1").await.unwrap().unwrap();
    assert!(r.is_final && r.status == "verified");
    assert_eq!(
        r.result.unwrap().user_principal_name,
        "megan@contoso.example"
    );
    let due = store.due(now(), 10).await.unwrap();
    assert_eq!(
        due.len(),
        1,
        "the ticket is still to be sent (at least once)"
    );
    store.delivered(due[0].id, now()).await.unwrap();
    drop(store);
    let store = open(&dir).await;
    assert!(
        store.due(now(), 10).await.unwrap().is_empty(),
        "and sent only until delivered"
    );
}
