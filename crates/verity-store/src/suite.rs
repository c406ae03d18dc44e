//! The store test suite: each case is a function of `Arc<dyn Store>` and runs once per backend.
//! Postgres cases print "skipped" and pass when `VERITY_TEST_POSTGRES_URL` is unset, unless
//! `VERITY_TEST_REQUIRE_POSTGRES=1` makes that a failure.
//! The credential flows' cases are in the `flows` submodule.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::testing::{Backend, fresh_store};
use crate::{KeyPurpose, KeyRecord, KeyState, NewKey, Store, StoreError, Tenant};

async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((db, store)) = fresh_store(backend).await else {
        return;
    };
    case(store).await;
    drop(db);
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(crate::testing::Backend::Sqlite, super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(crate::testing::Backend::Postgres, super::$case).await;
                }
            )*
        }
    };
}

store_suite!(
    ping_and_backend,
    tenants_round_trip,
    duplicate_tenant_name_conflicts,
    tenants_are_listed_oldest_first,
    authority_is_created_with_an_active_key,
    create_authority_for_unknown_tenant_is_not_found,
    duplicate_did_conflicts_and_writes_nothing,
    failed_first_key_rolls_back_the_authority,
    authorities_are_listed_by_tenant_oldest_first,
    rotation_retires_the_old_key_and_activates_the_new,
    rotation_of_missing_authority_is_not_found,
    rotation_with_duplicate_kid_conflicts_and_changes_nothing,
    kids_are_unique_per_owner_only,
    set_key_state_allows_only_the_lifecycle,
    delete_key_removes_only_inactive_keys,
    service_keys_rotate_per_purpose,
    any_key_returns_the_newest_key,
    keys_are_resealed_once_under_the_new_kek,
    service_secrets_are_stored_once_and_resealed_once,
    concurrent_reseals_and_first_secrets_have_one_winner,
    api_clients_create_list_delete,
    api_keys_create_list_delete,
    bytes_and_json_round_trip,
    timestamps_round_trip_to_the_microsecond,
    out_of_range_timestamps_are_refused,
    concurrent_rotations_leave_one_active_key,
    concurrent_service_key_inserts_leave_one_active_key,
);

// The credential flows' cases (contracts, requests, outbox, status lists, credentials).
pub(crate) mod flows;

// Fault injection into each flow step (the `FaultyStore` test double).
mod faults;

// The audit log.
pub(crate) mod audit;

// ---- helpers ------------------------------------------------------------------------------

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(secs)
}

fn new_key(kid: &str) -> NewKey {
    let id = Uuid::new_v4();
    NewKey {
        id,
        kid: kid.into(),
        alg: "ES256".into(),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "x": format!("x-{kid}"), "y": "y", "kid": kid}),
        private_key_enc: id.as_bytes().to_vec(),
        kek_id: "kek-1".into(),
    }
}

async fn tenant(store: &Arc<dyn Store>, name: &str) -> Tenant {
    store.create_tenant(name, t(0)).await.unwrap()
}

fn count_active(keys: &[KeyRecord]) -> usize {
    keys.iter().filter(|k| k.state == KeyState::Active).count()
}

fn expect_conflict(err: StoreError, entity: &str, field: &str) -> String {
    match err {
        StoreError::Conflict {
            entity: e,
            field: f,
            value,
        } if e == entity && f == field => value,
        other => panic!("expected {entity}.{field} conflict, got {other:?}"),
    }
}

fn expect_not_found(err: StoreError, entity: &str, id: impl ToString) {
    let id = id.to_string();
    match err {
        StoreError::NotFound { entity: e, id: got } if e == entity && got == id => {}
        other => panic!("expected {entity} {id} not found, got {other:?}"),
    }
}

fn expect_invalid(err: StoreError, needle: &str) {
    match err {
        StoreError::InvalidData(msg) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected InvalidData about {needle:?}, got {other:?}"),
    }
}

// ---- cases --------------------------------------------------------------------------------

async fn ping_and_backend(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
    assert!(format!("{store:?}").contains("Store"));
}

async fn tenants_round_trip(store: Arc<dyn Store>) {
    let name = "Ünïcode tenant '; DROP TABLE tenants; --";
    let created = store.create_tenant(name, t(5)).await.unwrap();
    assert_eq!(created.name, name);
    assert_eq!(created.created_at, t(5));
    assert_eq!(
        store.tenant(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.tenant_by_name(name).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.tenant_by_name("missing").await.unwrap(), None);
    assert_eq!(
        store.tenant_by_name(&name.to_uppercase()).await.unwrap(),
        None,
        "names match exactly"
    );
    assert_eq!(store.tenant(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.list_tenants().await.unwrap(), vec![created]);
}

async fn duplicate_tenant_name_conflicts(store: Arc<dyn Store>) {
    let first = tenant(&store, "acme").await;
    let err = store.create_tenant("acme", t(1)).await.unwrap_err();
    assert_eq!(err.code(), "STORE-002");
    assert_eq!(expect_conflict(err, "tenant", "name"), "acme");
    assert_eq!(store.list_tenants().await.unwrap(), vec![first]);
}

async fn tenants_are_listed_oldest_first(store: Arc<dyn Store>) {
    assert!(store.list_tenants().await.unwrap().is_empty());
    store.create_tenant("c", t(30)).await.unwrap();
    store.create_tenant("a", t(10)).await.unwrap();
    store.create_tenant("b", t(20)).await.unwrap();
    let d = store.create_tenant("d", t(40)).await.unwrap();
    let e = store.create_tenant("e", t(40)).await.unwrap();
    let list = store.list_tenants().await.unwrap();
    let names: Vec<_> = list.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(&names[..3], ["a", "b", "c"]);
    // Equal times are ordered by id on both backends.
    let (lo, hi) = if d.id < e.id { (d, e) } else { (e, d) };
    assert_eq!(list[3..], [lo, hi]);
}

async fn authority_is_created_with_an_active_key(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let key = new_key("key-1");
    let auth = store
        .create_authority(ten.id, "Acme Issuer", "did:web:acme.example", &key, t(1))
        .await
        .unwrap();
    assert_eq!(auth.tenant_id, ten.id);
    assert_eq!(auth.name, "Acme Issuer");
    assert_eq!(auth.did, "did:web:acme.example");
    assert_eq!(auth.created_at, t(1));
    assert_eq!(store.authority(auth.id).await.unwrap(), Some(auth.clone()));
    assert_eq!(
        store
            .authority_by_did("did:web:acme.example")
            .await
            .unwrap(),
        Some(auth.clone())
    );
    assert_eq!(
        store
            .authority_by_did("did:web:other.example")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.authority(Uuid::new_v4()).await.unwrap(), None);

    let active = store.active_key(auth.id).await.unwrap().unwrap();
    let expected = KeyRecord {
        id: key.id,
        authority_id: Some(auth.id),
        purpose: KeyPurpose::Authority,
        kid: "key-1".into(),
        alg: "ES256".into(),
        state: KeyState::Active,
        public_jwk: key.public_jwk.clone(),
        private_key_enc: key.private_key_enc.clone(),
        kek_id: "kek-1".into(),
        created_at: t(1),
        state_changed_at: t(1),
    };
    assert_eq!(active, expected);
    assert_eq!(store.authority_keys(auth.id).await.unwrap(), vec![expected]);
    assert_eq!(store.active_key(Uuid::new_v4()).await.unwrap(), None);
    assert!(
        store
            .authority_keys(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .service_keys(KeyPurpose::AccessToken)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn create_authority_for_unknown_tenant_is_not_found(store: Arc<dyn Store>) {
    let missing = Uuid::new_v4();
    let err = store
        .create_authority(missing, "x", "did:web:x.example", &new_key("key-1"), t(0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE-001");
    expect_not_found(err, "tenant", missing);
    assert!(store.list_authorities(None).await.unwrap().is_empty());
    assert_eq!(store.any_key().await.unwrap(), None);
}

async fn duplicate_did_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let first_key = new_key("key-1");
    let first = store
        .create_authority(ten.id, "one", "did:web:acme.example", &first_key, t(1))
        .await
        .unwrap();
    let err = store
        .create_authority(
            ten.id,
            "two",
            "did:web:acme.example",
            &new_key("key-2"),
            t(2),
        )
        .await
        .unwrap_err();
    assert_eq!(
        expect_conflict(err, "authority", "did"),
        "did:web:acme.example"
    );
    assert_eq!(
        store.list_authorities(None).await.unwrap(),
        vec![first.clone()]
    );
    let keys = store.authority_keys(first.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(store.any_key().await.unwrap().unwrap().id, first_key.id);
}

async fn failed_first_key_rolls_back_the_authority(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let key = new_key("key-1");
    store
        .create_authority(ten.id, "one", "did:web:one.example", &key, t(1))
        .await
        .unwrap();
    // Same key id again: the authority row must not survive the failed key insert.
    let mut dup = new_key("key-9");
    dup.id = key.id;
    let err = store
        .create_authority(ten.id, "two", "did:web:two.example", &dup, t(2))
        .await
        .unwrap_err();
    assert_eq!(
        expect_conflict(err, "signing key", "id"),
        key.id.to_string()
    );
    assert_eq!(
        store.authority_by_did("did:web:two.example").await.unwrap(),
        None
    );
    assert_eq!(store.list_authorities(None).await.unwrap().len(), 1);
}

async fn authorities_are_listed_by_tenant_oldest_first(store: Arc<dyn Store>) {
    let t1 = tenant(&store, "one").await;
    let t2 = tenant(&store, "two").await;
    let a3 = store
        .create_authority(t1.id, "a3", "did:web:a3", &new_key("k"), t(30))
        .await
        .unwrap();
    let b2 = store
        .create_authority(t2.id, "b2", "did:web:b2", &new_key("k"), t(20))
        .await
        .unwrap();
    let a1 = store
        .create_authority(t1.id, "a1", "did:web:a1", &new_key("k"), t(10))
        .await
        .unwrap();
    assert_eq!(
        store.list_authorities(None).await.unwrap(),
        vec![a1.clone(), b2.clone(), a3.clone()]
    );
    assert_eq!(
        store.list_authorities(Some(t1.id)).await.unwrap(),
        vec![a1, a3]
    );
    assert_eq!(store.list_authorities(Some(t2.id)).await.unwrap(), vec![b2]);
    assert!(
        store
            .list_authorities(Some(Uuid::new_v4()))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rotation_retires_the_old_key_and_activates_the_new(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let k1 = new_key("key-1");
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &k1, t(0))
        .await
        .unwrap();
    let k2 = new_key("key-2");
    let rec2 = store
        .rotate_authority_key(auth.id, &k2, t(10))
        .await
        .unwrap();
    assert_eq!(rec2.id, k2.id);
    assert_eq!(rec2.state, KeyState::Active);
    assert_eq!(rec2.authority_id, Some(auth.id));
    assert_eq!(rec2.purpose, KeyPurpose::Authority);
    assert_eq!((rec2.created_at, rec2.state_changed_at), (t(10), t(10)));
    assert_eq!(store.active_key(auth.id).await.unwrap(), Some(rec2.clone()));

    let keys = store.authority_keys(auth.id).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], rec2, "newest first");
    assert_eq!(keys[1].id, k1.id);
    assert_eq!(keys[1].state, KeyState::Retiring);
    assert_eq!(keys[1].created_at, t(0));
    assert_eq!(keys[1].state_changed_at, t(10));

    let k3 = new_key("key-3");
    store
        .rotate_authority_key(auth.id, &k3, t(20))
        .await
        .unwrap();
    let keys = store.authority_keys(auth.id).await.unwrap();
    let ids: Vec<_> = keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, [k3.id, k2.id, k1.id]);
    let states: Vec<_> = keys.iter().map(|k| k.state).collect();
    assert_eq!(
        states,
        [KeyState::Active, KeyState::Retiring, KeyState::Retiring]
    );
    assert_eq!(keys[1].state_changed_at, t(20));
    assert_eq!(
        keys[2].state_changed_at,
        t(10),
        "an already retiring key is untouched"
    );
    assert_eq!(count_active(&keys), 1);
}

async fn rotation_of_missing_authority_is_not_found(store: Arc<dyn Store>) {
    let missing = Uuid::new_v4();
    let err = store
        .rotate_authority_key(missing, &new_key("key-1"), t(0))
        .await
        .unwrap_err();
    expect_not_found(err, "authority", missing);
    assert_eq!(store.any_key().await.unwrap(), None);
}

async fn rotation_with_duplicate_kid_conflicts_and_changes_nothing(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let k1 = new_key("key-1");
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &k1, t(0))
        .await
        .unwrap();
    let before = store.authority_keys(auth.id).await.unwrap();
    let err = store
        .rotate_authority_key(auth.id, &new_key("key-1"), t(10))
        .await
        .unwrap_err();
    assert_eq!(expect_conflict(err, "signing key", "kid"), "key-1");
    // The retire step ran before the failed insert: it must have been rolled back.
    assert_eq!(store.authority_keys(auth.id).await.unwrap(), before);
    assert_eq!(store.active_key(auth.id).await.unwrap().unwrap().id, k1.id);
}

async fn kids_are_unique_per_owner_only(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let a = store
        .create_authority(ten.id, "a", "did:web:a", &new_key("key-1"), t(0))
        .await
        .unwrap();
    let b = store
        .create_authority(ten.id, "b", "did:web:b", &new_key("key-1"), t(1))
        .await
        .unwrap();
    store
        .insert_service_key(KeyPurpose::AccessToken, &new_key("key-1"), t(2))
        .await
        .unwrap();
    let err = store
        .insert_service_key(KeyPurpose::AccessToken, &new_key("key-1"), t(3))
        .await
        .unwrap_err();
    assert_eq!(expect_conflict(err, "signing key", "kid"), "key-1");
    assert_eq!(store.active_key(a.id).await.unwrap().unwrap().kid, "key-1");
    assert_eq!(store.active_key(b.id).await.unwrap().unwrap().kid, "key-1");
    let service = store.service_keys(KeyPurpose::AccessToken).await.unwrap();
    assert_eq!(service.len(), 1);
    assert_eq!(
        service[0].state,
        KeyState::Active,
        "failed insert retired nothing"
    );
}

async fn set_key_state_allows_only_the_lifecycle(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let k1 = new_key("key-1");
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &k1, t(0))
        .await
        .unwrap();
    let k2 = new_key("key-2");
    store
        .rotate_authority_key(auth.id, &k2, t(10))
        .await
        .unwrap();

    // The active key cannot leave active except by rotation.
    for target in [KeyState::Retiring, KeyState::Revoked] {
        let err = store.set_key_state(k2.id, target, t(15)).await.unwrap_err();
        expect_invalid(err, "rotate");
    }
    // Only rotation makes a key active.
    let err = store
        .set_key_state(k1.id, KeyState::Active, t(15))
        .await
        .unwrap_err();
    expect_invalid(err, "only by rotation");

    // Same state: unchanged, state_changed_at kept.
    let same = store
        .set_key_state(k1.id, KeyState::Retiring, t(16))
        .await
        .unwrap();
    assert_eq!(
        (same.state, same.state_changed_at),
        (KeyState::Retiring, t(10))
    );
    let same = store
        .set_key_state(k2.id, KeyState::Active, t(16))
        .await
        .unwrap();
    assert_eq!(
        (same.state, same.state_changed_at),
        (KeyState::Active, t(10))
    );

    // retiring -> revoked.
    let revoked = store
        .set_key_state(k1.id, KeyState::Revoked, t(20))
        .await
        .unwrap();
    assert_eq!(revoked.state, KeyState::Revoked);
    assert_eq!(revoked.state_changed_at, t(20));
    assert_eq!(revoked.created_at, t(0));
    let stored = store.authority_keys(auth.id).await.unwrap();
    assert_eq!(stored[1], revoked);

    // Revocation is final; repeating it changes nothing.
    for target in [KeyState::Retiring, KeyState::Active] {
        let err = store.set_key_state(k1.id, target, t(30)).await.unwrap_err();
        assert_eq!(err.code(), "STORE-003");
    }
    let again = store
        .set_key_state(k1.id, KeyState::Revoked, t(30))
        .await
        .unwrap();
    assert_eq!(again.state_changed_at, t(20));

    // Refusals left everything as it was.
    let keys = store.authority_keys(auth.id).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.state).collect::<Vec<_>>(),
        [KeyState::Active, KeyState::Revoked]
    );

    let missing = Uuid::new_v4();
    let err = store
        .set_key_state(missing, KeyState::Revoked, t(40))
        .await
        .unwrap_err();
    expect_not_found(err, "signing key", missing);
}

async fn delete_key_removes_only_inactive_keys(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let (k1, k2, k3) = (new_key("key-1"), new_key("key-2"), new_key("key-3"));
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &k1, t(0))
        .await
        .unwrap();
    store
        .rotate_authority_key(auth.id, &k2, t(10))
        .await
        .unwrap();
    store
        .rotate_authority_key(auth.id, &k3, t(20))
        .await
        .unwrap();
    store
        .set_key_state(k1.id, KeyState::Revoked, t(30))
        .await
        .unwrap();

    let err = store.delete_key(k3.id).await.unwrap_err();
    expect_invalid(err, "active key");
    assert_eq!(store.active_key(auth.id).await.unwrap().unwrap().id, k3.id);

    store.delete_key(k2.id).await.unwrap(); // retiring
    store.delete_key(k1.id).await.unwrap(); // revoked
    let keys = store.authority_keys(auth.id).await.unwrap();
    assert_eq!(keys.iter().map(|k| k.id).collect::<Vec<_>>(), [k3.id]);

    let err = store.delete_key(k1.id).await.unwrap_err();
    expect_not_found(err, "signing key", k1.id);
    // A deleted kid may be used again by a later rotation.
    store
        .rotate_authority_key(auth.id, &new_key("key-1"), t(40))
        .await
        .unwrap();
}

async fn service_keys_rotate_per_purpose(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let ak = new_key("auth-key");
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &ak, t(0))
        .await
        .unwrap();

    let s1 = new_key("svc-1");
    let rec1 = store
        .insert_service_key(KeyPurpose::AccessToken, &s1, t(10))
        .await
        .unwrap();
    assert_eq!(rec1.authority_id, None);
    assert_eq!(rec1.purpose, KeyPurpose::AccessToken);
    assert_eq!(rec1.state, KeyState::Active);
    assert_eq!(
        store.service_keys(KeyPurpose::AccessToken).await.unwrap(),
        vec![rec1.clone()]
    );

    let s2 = new_key("svc-2");
    let rec2 = store
        .insert_service_key(KeyPurpose::AccessToken, &s2, t(20))
        .await
        .unwrap();
    let service = store.service_keys(KeyPurpose::AccessToken).await.unwrap();
    assert_eq!(service.len(), 2);
    assert_eq!(service[0], rec2);
    assert_eq!(service[1].id, s1.id);
    assert_eq!(service[1].state, KeyState::Retiring);
    assert_eq!(service[1].state_changed_at, t(20));

    // Service keys never touch authority keys, and vice versa.
    assert!(
        store
            .service_keys(KeyPurpose::Authority)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.active_key(auth.id).await.unwrap().unwrap().id, ak.id);
    assert_eq!(store.authority_keys(auth.id).await.unwrap().len(), 1);
    store
        .rotate_authority_key(auth.id, &new_key("auth-key-2"), t(30))
        .await
        .unwrap();
    assert_eq!(
        count_active(&store.service_keys(KeyPurpose::AccessToken).await.unwrap()),
        1
    );

    let err = store
        .insert_service_key(KeyPurpose::Authority, &new_key("svc-x"), t(40))
        .await
        .unwrap_err();
    expect_invalid(err, "purpose authority");

    // The lifecycle rules hold for service keys too.
    let err = store
        .set_key_state(s2.id, KeyState::Revoked, t(50))
        .await
        .unwrap_err();
    expect_invalid(err, "rotate");
    store
        .set_key_state(s1.id, KeyState::Revoked, t(50))
        .await
        .unwrap();
    store.delete_key(s1.id).await.unwrap();
    assert_eq!(
        store.service_keys(KeyPurpose::AccessToken).await.unwrap(),
        vec![rec2]
    );
}

async fn any_key_returns_the_newest_key(store: Arc<dyn Store>) {
    assert_eq!(store.any_key().await.unwrap(), None);
    let s = new_key("svc");
    store
        .insert_service_key(KeyPurpose::AccessToken, &s, t(10))
        .await
        .unwrap();
    assert_eq!(store.any_key().await.unwrap().unwrap().id, s.id);
    let ten = tenant(&store, "acme").await;
    let k = new_key("key-1");
    store
        .create_authority(ten.id, "a", "did:web:a", &k, t(20))
        .await
        .unwrap();
    let any = store.any_key().await.unwrap().unwrap();
    assert_eq!(any.id, k.id);
    assert_eq!(any.private_key_enc, k.private_key_enc);
    assert_eq!(any.kek_id, "kek-1");
}

async fn keys_are_resealed_once_under_the_new_kek(store: Arc<dyn Store>) {
    let svc = new_key("svc");
    store
        .insert_service_key(KeyPurpose::AccessToken, &svc, t(10))
        .await
        .unwrap();
    let ten = tenant(&store, "acme").await;
    let first = new_key("key-1");
    let a = store
        .create_authority(ten.id, "a", "did:web:a", &first, t(20))
        .await
        .unwrap();
    let mut second = new_key("key-2");
    second.kek_id = "kek-2".into();
    store
        .rotate_authority_key(a.id, &second, t(30))
        .await
        .unwrap();
    let others: Vec<Uuid> = store
        .keys_sealed_with_other_kek("kek-2")
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(
        others,
        vec![svc.id, first.id],
        "oldest first, kek-2's key left out"
    );
    assert!(
        store
            .reseal_key(first.id, "kek-1", b"resealed", "kek-2")
            .await
            .unwrap()
    );
    // A second re-seal from the same KEK finds it done (another replica was first).
    assert!(
        !store
            .reseal_key(first.id, "kek-1", b"again", "kek-2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_key(Uuid::new_v4(), "kek-1", b"x", "kek-2")
            .await
            .unwrap()
    );
    let keys = store.authority_keys(a.id).await.unwrap();
    let resealed = keys.iter().find(|k| k.id == first.id).unwrap();
    assert_eq!(resealed.private_key_enc, b"resealed");
    assert_eq!(resealed.kek_id, "kek-2");
    assert_eq!(resealed.state, KeyState::Retiring, "nothing else changes");
    let left: Vec<Uuid> = store
        .keys_sealed_with_other_kek("kek-2")
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(left, vec![svc.id]);
}

async fn service_secrets_are_stored_once_and_resealed_once(store: Arc<dyn Store>) {
    assert_eq!(store.service_secret("root").await.unwrap(), None);
    let first = store
        .put_service_secret("root", b"one", "kek-1", t(1))
        .await
        .unwrap();
    assert_eq!(first.sealed, b"one");
    // A replica starting at the same moment keeps the first one.
    let second = store
        .put_service_secret("root", b"two", "kek-9", t(2))
        .await
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(store.service_secret("root").await.unwrap(), Some(first));
    assert!(
        store
            .reseal_service_secret("root", "kek-1", b"three", "kek-2", t(3))
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_service_secret("root", "kek-1", b"four", "kek-2", t(4))
            .await
            .unwrap()
    );
    let now = store.service_secret("root").await.unwrap().unwrap();
    assert_eq!(
        (now.sealed.as_slice(), now.kek_id.as_str()),
        (&b"three"[..], "kek-2")
    );
    assert!(
        !store
            .reseal_service_secret("other", "kek-1", b"x", "kek-2", t(5))
            .await
            .unwrap()
    );
}

async fn concurrent_reseals_and_first_secrets_have_one_winner(store: Arc<dyn Store>) {
    // Two replicas starting at once re-seal the same key: one write lands.
    let svc = new_key("svc");
    store
        .insert_service_key(KeyPurpose::AccessToken, &svc, t(1))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.reseal_key(svc.id, "kek-1", b"by-a", "kek-2"),
        store.reseal_key(svc.id, "kek-1", b"by-b", "kek-2"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one re-seal wins: {a} {b}");
    let stored = store.any_key().await.unwrap().unwrap();
    assert_eq!(
        stored.private_key_enc,
        if a {
            b"by-a".to_vec()
        } else {
            b"by-b".to_vec()
        }
    );
    // Two first starts store the first secret: both get the same one back.
    let (a, b) = tokio::join!(
        store.put_service_secret("root", b"a", "kek-2", t(2)),
        store.put_service_secret("root", b"b", "kek-2", t(2)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(store.service_secret("root").await.unwrap(), Some(a));
}

async fn api_clients_create_list_delete(store: Arc<dyn Store>) {
    let t1 = tenant(&store, "one").await;
    let t2 = tenant(&store, "two").await;
    let c2 = store
        .create_api_client(t1.id, "client-b", "B", "ab12", t(20))
        .await
        .unwrap();
    let c1 = store
        .create_api_client(t1.id, "client-a", "A", "cd34", t(10))
        .await
        .unwrap();
    let c3 = store
        .create_api_client(t2.id, "client-c", "C", "ef56", t(30))
        .await
        .unwrap();
    assert_eq!(c1.tenant_id, t1.id);
    assert_eq!(c1.client_id, "client-a");
    assert_eq!(c1.name, "A");
    assert_eq!(c1.secret_hash, "cd34");
    assert_eq!(c1.created_at, t(10));
    assert_eq!(
        store.api_client("client-a").await.unwrap(),
        Some(c1.clone())
    );
    assert_eq!(store.api_client("client-x").await.unwrap(), None);
    assert_eq!(
        store.list_api_clients(None).await.unwrap(),
        vec![c1.clone(), c2.clone(), c3.clone()]
    );
    assert_eq!(
        store.list_api_clients(Some(t1.id)).await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    assert_eq!(store.list_api_clients(Some(t2.id)).await.unwrap(), vec![c3]);

    let err = store
        .create_api_client(t2.id, "client-a", "dup", "ffff", t(40))
        .await
        .unwrap_err();
    assert_eq!(expect_conflict(err, "API client", "client_id"), "client-a");
    let missing = Uuid::new_v4();
    let err = store
        .create_api_client(missing, "client-z", "Z", "0000", t(40))
        .await
        .unwrap_err();
    expect_not_found(err, "tenant", missing);

    assert!(store.delete_api_client("client-a").await.unwrap());
    assert!(!store.delete_api_client("client-a").await.unwrap());
    assert_eq!(store.api_client("client-a").await.unwrap(), None);
    assert_eq!(store.list_api_clients(Some(t1.id)).await.unwrap(), vec![c2]);
}

async fn api_keys_create_list_delete(store: Arc<dyn Store>) {
    let t1 = tenant(&store, "one").await;
    let t2 = tenant(&store, "two").await;
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let k1 = store
        .create_api_key(t1.id, "ci", "vk_9f86", hash, t(10))
        .await
        .unwrap();
    let k2 = store
        .create_api_key(t2.id, "ops", "vk_1234", "1234", t(5))
        .await
        .unwrap();
    assert_eq!(k1.tenant_id, t1.id);
    assert_eq!(k1.name, "ci");
    assert_eq!(k1.key_prefix, "vk_9f86");
    assert_eq!(k1.key_hash, hash);
    assert_eq!(k1.created_at, t(10));
    assert_eq!(store.api_key_by_hash(hash).await.unwrap(), Some(k1.clone()));
    assert_eq!(store.api_key_by_hash("nope").await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(None).await.unwrap(),
        vec![k2.clone(), k1.clone()]
    );
    assert_eq!(
        store.list_api_keys(Some(t1.id)).await.unwrap(),
        vec![k1.clone()]
    );

    let err = store
        .create_api_key(t2.id, "dup", "vk_9f86", hash, t(20))
        .await
        .unwrap_err();
    let value = expect_conflict(err.clone(), "API key", "key_hash");
    assert!(
        !value.contains(hash) && !err.to_string().contains(hash),
        "{err}"
    );
    let missing = Uuid::new_v4();
    let err = store
        .create_api_key(missing, "x", "vk_x", "abcd", t(20))
        .await
        .unwrap_err();
    expect_not_found(err, "tenant", missing);

    assert!(store.delete_api_key(k1.id).await.unwrap());
    assert!(!store.delete_api_key(k1.id).await.unwrap());
    assert_eq!(store.api_key_by_hash(hash).await.unwrap(), None);
    assert_eq!(store.list_api_keys(None).await.unwrap(), vec![k2]);
}

async fn bytes_and_json_round_trip(store: Arc<dyn Store>) {
    let ten = tenant(&store, "acme").await;
    let mut key = new_key("key-bytes");
    key.private_key_enc = (0..=255u8).chain([0, 0, 255]).collect();
    key.public_jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "key_ops": ["verify"],
        "ext": true,
        "n": 12345678901234_i64,
        "nested": {"ünï": "cødé ✓", "null": null, "quote": "'\"\\"},
    });
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &key, t(0))
        .await
        .unwrap();
    let stored = store.active_key(auth.id).await.unwrap().unwrap();
    assert_eq!(stored.private_key_enc, key.private_key_enc);
    assert_eq!(stored.public_jwk, key.public_jwk);

    let mut empty = new_key("key-empty");
    empty.private_key_enc = Vec::new();
    store
        .insert_service_key(KeyPurpose::AccessToken, &empty, t(1))
        .await
        .unwrap();
    let stored = store.service_keys(KeyPurpose::AccessToken).await.unwrap();
    assert!(stored[0].private_key_enc.is_empty());
}

async fn timestamps_round_trip_to_the_microsecond(store: Arc<dyn Store>) {
    let precise = t(0).with_nanosecond(123_456_789).unwrap();
    let micros = t(0).with_nanosecond(123_456_000).unwrap();
    let created = store.create_tenant("precise", precise).await.unwrap();
    assert_eq!(created.created_at, micros, "sub-microsecond digits dropped");
    assert_eq!(
        store.tenant(created.id).await.unwrap().unwrap().created_at,
        micros
    );

    // One microsecond apart still orders correctly; far dates round trip.
    let early = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
    let late = Utc
        .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .unwrap()
        .with_nanosecond(999_999_000)
        .unwrap();
    let next = micros + Duration::microseconds(1);
    store.create_tenant("next", next).await.unwrap();
    store.create_tenant("late", late).await.unwrap();
    store.create_tenant("early", early).await.unwrap();
    let list = store.list_tenants().await.unwrap();
    let got: Vec<_> = list
        .iter()
        .map(|t| (t.name.as_str(), t.created_at))
        .collect();
    assert_eq!(
        got,
        [
            ("early", early),
            ("precise", micros),
            ("next", next),
            ("late", late)
        ]
    );

    // Keys keep both timestamps exactly.
    let ten = tenant(&store, "keys").await;
    let k = new_key("key-1");
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &k, precise)
        .await
        .unwrap();
    let rotated_at = precise + Duration::microseconds(7);
    store
        .rotate_authority_key(auth.id, &new_key("key-2"), rotated_at)
        .await
        .unwrap();
    let old = &store.authority_keys(auth.id).await.unwrap()[1];
    assert_eq!(old.created_at, micros);
    assert_eq!(old.state_changed_at, micros + Duration::microseconds(7));
}

async fn out_of_range_timestamps_are_refused(store: Arc<dyn Store>) {
    let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
    let err = store.create_tenant("far", far).await.unwrap_err();
    expect_invalid(err, "1 to 9999");
    assert!(store.list_tenants().await.unwrap().is_empty());
    let ten = tenant(&store, "acme").await;
    let err = store
        .create_authority(ten.id, "a", "did:web:a", &new_key("k"), far)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE-003");
    assert_eq!(store.any_key().await.unwrap(), None);
}

async fn concurrent_rotations_leave_one_active_key(store: Arc<dyn Store>) {
    const ROTATIONS: i64 = 8;
    let ten = tenant(&store, "acme").await;
    let auth = store
        .create_authority(ten.id, "a", "did:web:a", &new_key("key-0"), t(0))
        .await
        .unwrap();
    let tasks: Vec<_> = (1..=ROTATIONS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .rotate_authority_key(auth.id, &new_key(&format!("key-{i}")), t(i))
                    .await
            })
        })
        .collect();
    let mut inserted = Vec::new();
    for task in tasks {
        inserted.push(task.await.unwrap().unwrap().id);
    }
    let keys = store.authority_keys(auth.id).await.unwrap();
    assert_eq!(keys.len() as i64, ROTATIONS + 1);
    assert_eq!(count_active(&keys), 1, "{keys:?}");
    let active = store.active_key(auth.id).await.unwrap().unwrap();
    assert!(inserted.contains(&active.id));
    assert!(
        keys.iter()
            .filter(|k| k.id != active.id)
            .all(|k| k.state == KeyState::Retiring)
    );
}

async fn concurrent_service_key_inserts_leave_one_active_key(store: Arc<dyn Store>) {
    const INSERTS: i64 = 8;
    let tasks: Vec<_> = (0..INSERTS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_service_key(
                        KeyPurpose::AccessToken,
                        &new_key(&format!("svc-{i}")),
                        t(i),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let keys = store.service_keys(KeyPurpose::AccessToken).await.unwrap();
    assert_eq!(keys.len() as i64, INSERTS);
    assert_eq!(count_active(&keys), 1, "{keys:?}");
}
