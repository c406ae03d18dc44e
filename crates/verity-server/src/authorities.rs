//! Authorities and their signing keys: generation, sealing at rest, rotation, the signer for an
//! authority and its did:web document. No HTTP here: handlers and the CLI's `init` both call it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;
use verity_core::Clock;
use verity_did::DidDocument;
use verity_jose::{
    Algorithm, Header, JoseError, Jwk, KeyEncryptionKey, LocalSigner, Signed, Signer, SigningKey,
    SubkeyRoot,
};
use verity_store::{Authority, KeyPurpose, KeyRecord, KeyState, NewKey, Store, StoreError};

/// Failures of authority and key management.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key operation failed: {0}")]
    Jose(#[from] verity_jose::JoseError),
    #[error("`{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("authority `{0}` not found")]
    NotFound(String),
    #[error("authority `{0}` has no active signing key")]
    NoActiveKey(String),
    #[error(
        "the key-encryption key (id {configured}) cannot decrypt the stored keys (sealed with id {stored}): \
         start with the key-encryption key they were created with (during a KEK rotation, set \
         keys.other_kek to it)"
    )]
    WrongKek { configured: String, stored: String },
}

/// Generates a key pair for `alg` and seals its private half with the KEK.
///
/// The AEAD associated data is the key's row id, so a sealed key copied onto another row does
/// not decrypt.
pub fn generate_key(
    kek: &KeyEncryptionKey,
    alg: Algorithm,
) -> Result<(NewKey, SigningKey), AuthorityError> {
    let key = SigningKey::generate(alg)?;
    let id = Uuid::new_v4();
    let jwk = key.public_jwk();
    let thumb = jwk.thumbprint()?;
    let kid = format!("key-{}", thumb.chars().take(16).collect::<String>());
    let sealed = kek.seal(id.as_bytes(), &key.to_secret_bytes())?;
    let public_jwk = serde_json::to_value(&jwk).map_err(|e| AuthorityError::Invalid {
        field: "publicJwk",
        reason: e.to_string(),
    })?;
    Ok((
        NewKey {
            id,
            kid,
            alg: alg.as_str().to_owned(),
            public_jwk,
            private_key_enc: sealed,
            kek_id: kek.id(),
        },
        key,
    ))
}

/// Opens a stored key with the KEK that sealed it (the KEK, or its other KEK during a
/// rotation).
pub fn open_key(kek: &KeyEncryptionKey, record: &KeyRecord) -> Result<SigningKey, AuthorityError> {
    let alg: Algorithm = record.alg.parse()?;
    let secret = kek
        .open_sealed_by(
            &record.kek_id,
            record.id.as_bytes(),
            &record.private_key_enc,
        )
        .map_err(|_| wrong_kek(kek, &record.kek_id))?;
    Ok(SigningKey::from_secret_bytes(alg, &secret)?)
}

fn wrong_kek(kek: &KeyEncryptionKey, stored: &str) -> AuthorityError {
    AuthorityError::WrongKek {
        configured: match kek.other_id() {
            Some(other) => format!("{} (other: {other})", kek.id()),
            None => kek.id(),
        },
        stored: stored.to_owned(),
    }
}

/// Start-up check: the configured KEK must open the stored keys.
pub async fn check_kek(store: &dyn Store, kek: &KeyEncryptionKey) -> Result<(), AuthorityError> {
    if let Some(record) = store.any_key().await? {
        open_key(kek, &record)?;
    }
    Ok(())
}

/// KEK rotation at start-up: every key sealed under the other KEK is re-sealed under the KEK
/// (each row only if it is still sealed as read, so replicas starting together agree). A key
/// sealed under a KEK that is neither stops start-up, naming both. Returns how many this
/// process re-sealed.
pub async fn reseal_keys(store: &dyn Store, kek: &KeyEncryptionKey) -> Result<u64, AuthorityError> {
    let mut resealed = 0;
    for record in store.keys_sealed_with_other_kek(&kek.id()).await? {
        let secret = kek
            .open_sealed_by(
                &record.kek_id,
                record.id.as_bytes(),
                &record.private_key_enc,
            )
            .map_err(|_| wrong_kek(kek, &record.kek_id))?;
        let sealed = kek.seal(record.id.as_bytes(), &secret)?;
        if store
            .reseal_key(record.id, &record.kek_id, &sealed, &kek.id())
            .await?
        {
            resealed += 1;
        }
    }
    Ok(resealed)
}

/// The name of the stored root of derived secrets.
pub const SUBKEY_ROOT: &str = "subkey-root";

/// The root of derived secrets, from the store (re-sealed under the KEK when the other KEK
/// sealed it). Created on first start: random on a new database; on a database an earlier
/// version set up (it has a tenant), the KEK's own bytes, from which that version derived
/// the secrets, so stored client secrets and API keys keep working.
pub async fn subkey_root(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    clock: &dyn Clock,
) -> Result<SubkeyRoot, AuthorityError> {
    let aad = SUBKEY_ROOT.as_bytes();
    let stored = match store.service_secret(SUBKEY_ROOT).await? {
        Some(s) => s,
        None => {
            let root = if store.list_tenants().await?.is_empty() {
                SubkeyRoot::generate()
            } else {
                kek.legacy_subkey_root()
            };
            let sealed = root.seal(kek, aad)?;
            store
                .put_service_secret(SUBKEY_ROOT, &sealed, &kek.id(), clock.now())
                .await?
        }
    };
    let root = SubkeyRoot::open(kek, &stored.kek_id, aad, &stored.sealed)
        .map_err(|_| wrong_kek(kek, &stored.kek_id))?;
    if stored.kek_id != kek.id() {
        let sealed = root.seal(kek, aad)?;
        store
            .reseal_service_secret(SUBKEY_ROOT, &stored.kek_id, &sealed, &kek.id(), clock.now())
            .await?;
    }
    Ok(root)
}

/// Creates an authority with a fresh active key.
pub async fn create_authority(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    clock: &dyn Clock,
    tenant_id: Uuid,
    name: &str,
    did: &str,
    alg: Algorithm,
) -> Result<Authority, AuthorityError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AuthorityError::Invalid {
            field: "name",
            reason: "must be 1-200 characters".into(),
        });
    }
    let (key, _) = generate_key(kek, alg)?;
    Ok(store
        .create_authority(tenant_id, name, did, &key, clock.now())
        .await?)
}

/// Rotates an authority's key: the active key becomes `retiring` (still published, so credentials
/// it signed keep verifying) and a new active key is created.
pub async fn rotate_key(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    clock: &dyn Clock,
    authority_id: Uuid,
    alg: Algorithm,
) -> Result<KeyRecord, AuthorityError> {
    let (key, _) = generate_key(kek, alg)?;
    Ok(store
        .rotate_authority_key(authority_id, &key, clock.now())
        .await?)
}

/// The signer for an authority's active key; its kid is `<did>#<key id>`.
///
/// Which key is active is read from the store on every call (one query, as before), so a
/// rotation or revocation made by another replica counts at once; only the unsealed key is
/// reused, from [`SIGNERS`].
pub async fn signer_for(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    authority: &Authority,
) -> Result<AuthoritySigner, AuthorityError> {
    let Some(record) = store.active_key(authority.id).await? else {
        SIGNERS.forget(&kek.id(), authority.id);
        return Err(AuthorityError::NoActiveKey(authority.did.clone()));
    };
    SIGNERS.signer(kek, authority, &record)
}

/// A signer of one authority key, shared between requests: cloning it does not copy the key.
#[derive(Debug, Clone)]
pub struct AuthoritySigner(Arc<LocalSigner>);

impl std::ops::Deref for AuthoritySigner {
    type Target = LocalSigner;

    fn deref(&self) -> &LocalSigner {
        &self.0
    }
}

#[async_trait::async_trait]
impl Signer for AuthoritySigner {
    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }

    async fn sign_jws(&self, header: Header, payload: &[u8]) -> Result<Signed, JoseError> {
        self.0.sign_jws(header, payload).await
    }
}

/// Unsealed authority keys of this process. `signer_for` is called with only the store and
/// the KEK, so the cache is process-wide; entries are keyed by KEK id and authority, and each
/// remembers the key row it was unsealed from, so app instances sharing a process never see
/// each other's keys.
pub static SIGNERS: SignerCache = SignerCache::new();

/// Unsealed signers per (KEK id, authority), each for one key row: unsealing (AEAD open plus
/// key parsing) costs more than the signature it serves.
#[derive(Debug)]
pub struct SignerCache {
    entries: Mutex<Option<HashMap<(String, Uuid), CachedSigner>>>,
}

#[derive(Debug)]
struct CachedSigner {
    key_id: Uuid,
    signer: AuthoritySigner,
}

impl SignerCache {
    /// Authorities remembered at most; beyond it an arbitrary entry makes room.
    pub const MAX_ENTRIES: usize = 4_096;

    const fn new() -> Self {
        Self {
            entries: Mutex::new(None),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, Uuid), CachedSigner>) -> T) -> T {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.get_or_insert_with(HashMap::new))
    }

    /// The signer of `record`, the authority's active key: the cached one when it was
    /// unsealed from this very row, else freshly unsealed (replacing, so evicting, the entry
    /// of the authority's previous key).
    pub fn signer(
        &self,
        kek: &KeyEncryptionKey,
        authority: &Authority,
        record: &KeyRecord,
    ) -> Result<AuthoritySigner, AuthorityError> {
        let kid = format!("{}#{}", authority.did, record.kid);
        let slot = (kek.id(), authority.id);
        let hit = self.with(|m| {
            m.get(&slot)
                .filter(|c| c.key_id == record.id && c.signer.kid() == kid)
                .map(|c| c.signer.clone())
        });
        if let Some(signer) = hit {
            return Ok(signer);
        }
        // Unsealed outside the lock: two requests may both do it once, which is harmless.
        let signer = AuthoritySigner(Arc::new(LocalSigner::new(open_key(kek, record)?, kid)));
        self.with(|m| {
            if m.len() >= Self::MAX_ENTRIES
                && !m.contains_key(&slot)
                && let Some(victim) = m.keys().next().cloned()
            {
                m.remove(&victim);
            }
            m.insert(
                slot,
                CachedSigner {
                    key_id: record.id,
                    signer: signer.clone(),
                },
            );
        });
        Ok(signer)
    }

    /// Drops the authority's entry (it has no active key any more).
    pub fn forget(&self, kek_id: &str, authority: Uuid) {
        self.with(|m| m.remove(&(kek_id.to_owned(), authority)));
    }

    /// The key row whose signer is cached for the authority, if any.
    pub fn cached_key(&self, kek_id: &str, authority: Uuid) -> Option<Uuid> {
        self.with(|m| m.get(&(kek_id.to_owned(), authority)).map(|c| c.key_id))
    }
}

/// The public JWK of a stored key, with its kid set.
pub fn public_jwk(record: &KeyRecord) -> Result<Jwk, AuthorityError> {
    let mut jwk = Jwk::from_json_value(&record.public_jwk)?;
    jwk.kid = Some(record.kid.clone());
    Ok(jwk)
}

/// The keys an authority publishes: active and retiring ones (revoked keys are withdrawn).
pub fn published_keys(records: &[KeyRecord]) -> Result<Vec<(String, Jwk)>, AuthorityError> {
    records
        .iter()
        .filter(|k| matches!(k.state, KeyState::Active | KeyState::Retiring))
        .map(|k| {
            let mut jwk = Jwk::from_json_value(&k.public_jwk)?;
            jwk.kid = None;
            Ok((k.kid.clone(), jwk))
        })
        .collect()
}

/// The did:web document of an authority from its key rows (all states, as the store lists
/// them); `own::OwnAuthorities::document` serves it to the route and the verifier alike.
pub fn did_document_from_keys(
    authority: &Authority,
    keys: &[KeyRecord],
    linked_origins: &[String],
) -> Result<DidDocument, AuthorityError> {
    let published = published_keys(keys)?;
    Ok(DidDocument::for_web_authority(
        &authority.did,
        &published,
        linked_origins,
    ))
}

/// Returns the service key that signs API access tokens, creating it on first use.
pub async fn ensure_service_key(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    clock: &dyn Clock,
) -> Result<(KeyRecord, Vec<KeyRecord>), AuthorityError> {
    let keys = store.service_keys(KeyPurpose::AccessToken).await?;
    if let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) {
        let active = active.clone();
        return Ok((active, keys));
    }
    let (key, _) = generate_key(kek, Algorithm::ES256)?;
    let record = store
        .insert_service_key(KeyPurpose::AccessToken, &key, clock.now())
        .await?;
    let keys = store.service_keys(KeyPurpose::AccessToken).await?;
    Ok((record, keys))
}

/// Shared handles the authority functions need.
#[derive(Debug, Clone)]
pub struct KeyContext {
    pub store: Arc<dyn Store>,
    pub kek: Arc<KeyEncryptionKey>,
    pub clock: Arc<dyn Clock>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_core::ManualClock;
    use verity_store::testing::{Backend, fresh_store};

    fn clock() -> ManualClock {
        ManualClock::new(chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap())
    }

    async fn rotation_is_seen_and_revoked_keys_are_never_used(backend: Backend) {
        let Some((_db, store)) = fresh_store(backend).await else {
            return;
        };
        let (kek, _) = KeyEncryptionKey::generate();
        let clock = clock();
        let tenant = store.create_tenant("t", clock.now()).await.unwrap();
        let authority = create_authority(
            store.as_ref(),
            &kek,
            &clock,
            tenant.id,
            "Signer cache",
            "did:web:signer.test",
            Algorithm::ES256,
        )
        .await
        .unwrap();
        let first = store.active_key(authority.id).await.unwrap().unwrap();

        let a = signer_for(store.as_ref(), &kek, &authority).await.unwrap();
        let b = signer_for(store.as_ref(), &kek, &authority).await.unwrap();
        assert_eq!(a.kid(), format!("did:web:signer.test#{}", first.kid));
        // The second call reused the unsealed key.
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(SIGNERS.cached_key(&kek.id(), authority.id), Some(first.id));

        // A rotation straight in the store, as another replica would make it: the next
        // signer uses the new key and the old entry is gone.
        let second = rotate_key(store.as_ref(), &kek, &clock, authority.id, Algorithm::EdDSA)
            .await
            .unwrap();
        let c = signer_for(store.as_ref(), &kek, &authority).await.unwrap();
        assert_eq!(c.kid(), format!("did:web:signer.test#{}", second.kid));
        assert_eq!(c.algorithm(), Algorithm::EdDSA);
        assert!(!Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(SIGNERS.cached_key(&kek.id(), authority.id), Some(second.id));
        let signed = verity_jose::sign_jwt(&c, None, &serde_json::json!({"n": 1}))
            .await
            .unwrap();
        let jws = verity_jose::UnverifiedJws::parse(&signed.token).unwrap();
        assert!(
            jws.verify(&public_jwk(&second).unwrap()).is_ok(),
            "signed with the new key"
        );

        // The old key revoked: still never chosen, whatever was cached before.
        store
            .set_key_state(first.id, KeyState::Revoked, clock.now())
            .await
            .unwrap();
        for _ in 0..2 {
            let d = signer_for(store.as_ref(), &kek, &authority).await.unwrap();
            assert_eq!(d.kid(), c.kid());
        }

        // Another KEK id never shares the entry: it cannot open the key at all.
        let (other, _) = KeyEncryptionKey::generate();
        assert!(matches!(
            signer_for(store.as_ref(), &other, &authority).await,
            Err(AuthorityError::WrongKek { .. })
        ));
        assert_eq!(SIGNERS.cached_key(&other.id(), authority.id), None);
    }

    #[tokio::test]
    async fn signer_cache_follows_the_store_on_sqlite() {
        rotation_is_seen_and_revoked_keys_are_never_used(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn signer_cache_follows_the_store_on_postgres() {
        rotation_is_seen_and_revoked_keys_are_never_used(Backend::Postgres).await;
    }
}
