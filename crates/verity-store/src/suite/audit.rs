//! Suite cases for the audit log: rows are appended and paged by time, and a revocation writes
//! its row in its own transaction. Each runs once per backend.

use std::sync::Arc;

use uuid::Uuid;

use super::flows::{credential, first_free, fixture};
use super::{expect_not_found, run, t};
use crate::{MAX_AUDIT_TEXT, NewAuditEntry, Store};

store_suite!(
    audit_entries_are_appended_and_listed_since_a_time,
    a_revocation_writes_its_audit_row_with_it,
);

fn entry(at: i64, action: &str, target: &str) -> NewAuditEntry {
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
