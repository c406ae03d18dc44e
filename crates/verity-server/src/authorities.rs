//! Authorities and their signing keys: generation, sealing at rest, rotation, the signer for an
//! authority and its did:web document. No HTTP here: handlers and the CLI's `init` both call it.

use std::sync::Arc;

use uuid::Uuid;
use verity_core::Clock;
use verity_did::DidDocument;
use verity_jose::{Algorithm, Jwk, KeyEncryptionKey, LocalSigner, SigningKey};
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
         start with the key-encryption key they were created with"
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

/// Opens a stored key with the KEK.
pub fn open_key(kek: &KeyEncryptionKey, record: &KeyRecord) -> Result<SigningKey, AuthorityError> {
    let alg: Algorithm = record.alg.parse()?;
    let secret = kek
        .open(record.id.as_bytes(), &record.private_key_enc)
        .map_err(|_| AuthorityError::WrongKek {
            configured: kek.id(),
            stored: record.kek_id.clone(),
        })?;
    Ok(SigningKey::from_secret_bytes(alg, &secret)?)
}

/// Start-up check: the configured KEK must open the stored keys.
pub async fn check_kek(store: &dyn Store, kek: &KeyEncryptionKey) -> Result<(), AuthorityError> {
    if let Some(record) = store.any_key().await? {
        open_key(kek, &record)?;
    }
    Ok(())
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
pub async fn signer_for(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    authority: &Authority,
) -> Result<LocalSigner, AuthorityError> {
    let record = store
        .active_key(authority.id)
        .await?
        .ok_or_else(|| AuthorityError::NoActiveKey(authority.did.clone()))?;
    let key = open_key(kek, &record)?;
    Ok(LocalSigner::new(
        key,
        format!("{}#{}", authority.did, record.kid),
    ))
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

/// The did:web document of an authority.
pub async fn did_document(
    store: &dyn Store,
    authority: &Authority,
    linked_origins: &[String],
) -> Result<DidDocument, AuthorityError> {
    let keys = store.authority_keys(authority.id).await?;
    let published = published_keys(&keys)?;
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
