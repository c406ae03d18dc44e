//! Suite cases for the audit log: rows are appended and paged by time, and a revocation writes
//! its row in its own transaction. Each runs once per backend.

use std::sync::Arc;

use uuid::Uuid;

use super::flows::{credential, first_free, fixture};
use super::{expect_not_found, run, t};
use crate::{MAX_AUDIT_TEXT, NewAuditEntry, Store, StoreError};

store_suite!(
    audit_entries_are_appended_and_listed_since_a_time,
    a_revocation_writes_its_audit_row_with_it,
    suspension_toggles_its_bit_with_its_audit_row,
    credentials_without_a_contract_are_suspended_and_revoked,
    two_suspensions_at_once_change_the_list_once,
);

pub(crate) fn entry(at: i64, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: t(at),
        actor: "admin-token cli:alice".to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: "200".to_owned(),
        request_id: Some(format!("req-{at}")),
    }
}

async fn audit_entries_are_appended_and_listed_since_a_time(store: Arc<dyn Store>) {
    assert!(store.audit_entries(None, 10).await.unwrap().is_empty());
    let first = store
        .record_audit(&entry(10, "POST /admin/v1/tenants", ""))
        .await
        .unwrap();
    assert_eq!(first.at, t(10));
    assert_eq!(first.actor, "admin-token cli:alice");
    assert_eq!(first.request_id.as_deref(), Some("req-10"));
    let second = store
        .record_audit(&entry(20, "POST /admin/v1/keys/{key}/revoke", "key=k1"))
        .await
        .unwrap();
    assert!(second.seq > first.seq);
    // Over-long text is cut, not refused.
    let long = store
        .record_audit(&entry(30, &"x".repeat(2 * MAX_AUDIT_TEXT), "t"))
        .await
        .unwrap();
    assert_eq!(long.action.chars().count(), MAX_AUDIT_TEXT);

    let all = store.audit_entries(None, 100).await.unwrap();
    assert_eq!(all, vec![first.clone(), second.clone(), long.clone()]);
    let since = store.audit_entries(Some(t(20)), 100).await.unwrap();
    assert_eq!(since, vec![second.clone(), long]);
    assert_eq!(store.audit_entries(None, 1).await.unwrap(), vec![first]);
    // A limit of 0 still returns one row (limits are clamped to 1..=MAX_AUDIT_PAGE).
    assert_eq!(
        store.audit_entries(Some(t(20)), 0).await.unwrap(),
        vec![second]
    );
    assert!(
        store
            .audit_entries(Some(t(31)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_revocation_writes_its_audit_row_with_it(store: Arc<dyn Store>) {
    let f = fixture(&store).await;
    let a = store
        .allocate_status_index(f.authority.id, "revocation", 64, &first_free, t(1))
        .await
        .unwrap();
    let mut c = credential(&f, "urn:uuid:audited");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(a.index);
    let cred = store.record_issued_credential(&c).await.unwrap();
    let audit = NewAuditEntry {
        outcome: "ignored: the store sets it".to_owned(),
        ..entry(
            5,
            "POST /admin/v1/credentials/revoke",
            "credential=urn:uuid:audited",
        )
    };

    let (revoked, changed) = store
        .revoke_credential_audited(cred.id, "left", t(5), &audit)
        .await
        .unwrap();
    assert_eq!(changed, Some(a.list_id));
    assert_eq!(revoked.revoked_at, Some(t(5)));
    let rows = store.audit_entries(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "revoked");
    assert_eq!(rows[0].target, "credential=urn:uuid:audited");
    assert_eq!(rows[0].at, t(5));

    // Again: nothing changes, and the attempt is recorded as such.
    let (_, changed) = store
        .revoke_credential_audited(cred.id, "again", t(6), &entry(6, "POST x", "y"))
        .await
        .unwrap();
    assert_eq!(changed, None);
    let rows = store.audit_entries(None, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].outcome, "already revoked");

    // A credential without a status entry is revoked and audited too.
    let plain = store
        .record_issued_credential(&credential(&f, "urn:uuid:plain"))
        .await
        .unwrap();
    store
        .revoke_credential_audited(plain.id, "x", t(7), &entry(7, "POST x", "plain"))
        .await
        .unwrap();
    assert_eq!(
        store.audit_entries(Some(t(7)), 10).await.unwrap()[0].outcome,
        "revoked"
    );

    // A missing credential writes nothing.
    let missing = Uuid::new_v4();
    expect_not_found(
        store
            .revoke_credential_audited(missing, "x", t(8), &entry(8, "POST x", "m"))
            .await
            .unwrap_err(),
        "issued credential",
        missing,
    );
    assert_eq!(store.audit_entries(None, 10).await.unwrap().len(), 3);
}

async fn suspendable(store: &Arc<dyn Store>, jti: &str) -> (crate::IssuedCredential, Uuid) {
    let (_, credential, list) = suspendable_with(store, jti, |_| {}).await;
    (credential, list)
}

/// A credential `jti` at an index of a fresh fixture's multi-purpose list, changed by `edit`
/// before it is recorded; the fixture, the record and the list.
pub(crate) async fn suspendable_with(
    store: &Arc<dyn Store>,
    jti: &str,
    edit: impl FnOnce(&mut crate::NewIssuedCredential),
) -> (super::flows::Fixture, crate::IssuedCredential, Uuid) {
    let f = super::flows::fixture(store).await;
    let a = store
        .allocate_status_index(
            f.authority.id,
            crate::PURPOSE_REVOCATION_SUSPENSION,
            64,
            &super::flows::first_free,
            t(1),
        )
        .await
        .unwrap();
    let mut c = super::flows::credential(&f, jti);
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(a.index);
    edit(&mut c);
    let recorded = store.record_issued_credential(&c).await.unwrap();
    (f, recorded, a.list_id)
}

/// A credential issued through the VC-API has no contract; it is recorded, found and its
/// status changed like any other.
async fn credentials_without_a_contract_are_suspended_and_revoked(store: Arc<dyn Store>) {
    let (_, recorded, list_id) = suspendable_with(&store, "urn:uuid:vc-api", |c| {
        c.contract_id = None;
        c.request_id = None;
    })
    .await;
    assert_eq!(recorded.contract_id, None);
    let found = store
        .issued_credential_by_jti("urn:uuid:vc-api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, recorded);
    let (_, changed) = store
        .set_suspension_audited(recorded.id, true, "check", t(5), &entry(5, "POST s", "s"))
        .await
        .unwrap();
    assert!(changed);
    let (revoked, list) = store
        .revoke_credential_audited(recorded.id, "left", t(6), &entry(6, "POST r", "r"))
        .await
        .unwrap();
    assert_eq!(list, Some(list_id));
    assert_eq!(revoked.contract_id, None);
    assert_eq!(revoked.revoked_at, Some(t(6)));
}

async fn suspension_toggles_its_bit_with_its_audit_row(store: Arc<dyn Store>) {
    let (cred, list_id) = suspendable(&store, "urn:uuid:suspendable").await;
    let before = store.status_list(list_id).await.unwrap().unwrap();
    assert_eq!(before.purpose, crate::PURPOSE_REVOCATION_SUSPENSION);
    assert_eq!(
        before.suspension_bits, None,
        "all clear until the first suspension"
    );
    let audit = entry(
        5,
        "POST /admin/v1/credentials/suspend",
        "credential=urn:uuid:suspendable",
    );

    let (s, changed) = store
        .set_suspension_audited(cred.id, true, "lost phone", t(5), &audit)
        .await
        .unwrap();
    assert!(changed);
    let s = s.unwrap();
    assert_eq!(
        (s.credential_id, s.suspended_at, s.reason.as_str()),
        (cred.id, t(5), "lost phone")
    );
    assert_eq!(
        store.credential_suspension(cred.id).await.unwrap(),
        Some(s.clone())
    );
    let list = store.status_list(list_id).await.unwrap().unwrap();
    assert_eq!(list.version, before.version + 1);
    let bits = list.suspension_bits.clone().unwrap();
    assert_eq!(bits.len(), 8);
    let index = cred.status_index.unwrap();
    assert_ne!(bits[(index / 8) as usize] & (0x80 >> (index % 8)), 0);
    assert_eq!(list.bits, before.bits, "the revocation bits do not change");

    // Again: nothing changes, recorded as such.
    let (again, changed) = store
        .set_suspension_audited(cred.id, true, "twice", t(6), &entry(6, "POST x", "y"))
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(again, Some(s));
    assert_eq!(
        store.status_list(list_id).await.unwrap().unwrap().version,
        list.version
    );

    // Resumed: bit clear, suspension gone.
    let (after, changed) = store
        .set_suspension_audited(cred.id, false, "found it", t(7), &entry(7, "POST z", "z"))
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(after, None);
    assert_eq!(store.credential_suspension(cred.id).await.unwrap(), None);
    let list = store.status_list(list_id).await.unwrap().unwrap();
    assert!(list.suspension_bits.unwrap().iter().all(|b| *b == 0));
    let outcomes: Vec<String> = store
        .audit_entries(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["suspended", "already suspended", "resumed"]);

    // A revoked credential cannot be suspended; nothing is written.
    store
        .revoke_credential(cred.id, "left", t(8))
        .await
        .unwrap();
    let e = store
        .set_suspension_audited(cred.id, true, "x", t(9), &entry(9, "POST x", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::InvalidData(ref m) if m.contains("revoked")),
        "{e}"
    );
    assert_eq!(store.audit_entries(None, 10).await.unwrap().len(), 3);

    // A credential of a revocation-only list has no suspension entry.
    let f = super::flows::fixture_named(&store, "other").await;
    let a = store
        .allocate_status_index(
            f.authority.id,
            "revocation",
            64,
            &super::flows::first_free,
            t(1),
        )
        .await
        .unwrap();
    let mut c = super::flows::credential(&f, "urn:uuid:plain");
    c.status_list_id = Some(a.list_id);
    c.status_index = Some(a.index);
    let plain = store.record_issued_credential(&c).await.unwrap();
    let e = store
        .set_suspension_audited(plain.id, true, "x", t(9), &entry(9, "POST x", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::InvalidData(ref m) if m.contains("without a suspension")),
        "{e}"
    );
    let e = store
        .set_suspension_audited(Uuid::new_v4(), true, "x", t(9), &entry(9, "POST x", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
}

async fn two_suspensions_at_once_change_the_list_once(store: Arc<dyn Store>) {
    let (cred, list_id) = suspendable(&store, "urn:uuid:race").await;
    let version = store.status_list(list_id).await.unwrap().unwrap().version;
    let a = entry(5, "POST a", "a");
    let b = entry(5, "POST b", "b");
    let (x, y) = tokio::join!(
        store.set_suspension_audited(cred.id, true, "a", t(5), &a),
        store.set_suspension_audited(cred.id, true, "b", t(5), &b),
    );
    let changes = [x.unwrap().1, y.unwrap().1];
    assert_eq!(
        changes.iter().filter(|c| **c).count(),
        1,
        "exactly one suspends"
    );
    assert_eq!(
        store.status_list(list_id).await.unwrap().unwrap().version,
        version + 1
    );
}
