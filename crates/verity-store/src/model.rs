//! Rows the store hands out and takes in, and the rules both backends share.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Result, StoreError};

/// Lifecycle state of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Signs new tokens and credentials; at most one per authority and purpose.
    Active,
    /// No longer signs, still published so that earlier signatures verify.
    Retiring,
    /// Withdrawn: neither signs nor is published. Final.
    Revoked,
}

impl KeyState {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Revoked => "revoked",
        }
    }
}

impl FromStr for KeyState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(KeyState::Active),
            "retiring" => Ok(KeyState::Retiring),
            "revoked" => Ok(KeyState::Revoked),
            other => Err(StoreError::InvalidData(format!(
                "key state {other:?} is not one of active, retiring, revoked"
            ))),
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signing key is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    /// An authority's key: signs credentials, request objects and status lists.
    Authority,
    /// A service key: signs the API access tokens the service issues.
    AccessToken,
}

impl KeyPurpose {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Authority => "authority",
            KeyPurpose::AccessToken => "access_token",
        }
    }
}

impl FromStr for KeyPurpose {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "authority" => Ok(KeyPurpose::Authority),
            "access_token" => Ok(KeyPurpose::AccessToken),
            other => Err(StoreError::InvalidData(format!(
                "key purpose {other:?} is not one of authority, access_token"
            ))),
        }
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant: the owner of authorities and API credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Primary key.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// An issuing/verifying authority: a DID with its signing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Primary key.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// The authority's DID; unique.
    pub did: String,
    /// When the authority was created.
    pub created_at: DateTime<Utc>,
}

/// A key to insert: generated and encrypted by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Primary key, chosen by the caller.
    pub id: Uuid,
    /// Key id fragment, e.g. "key-abc"; unique per authority (and among service keys).
    pub kid: String,
    /// JOSE algorithm, e.g. "ES256".
    pub alg: String,
    /// Public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// Private key as AEAD ciphertext; opaque to the store.
    pub private_key_enc: Vec<u8>,
    /// Fingerprint of the key-encryption key that produced `private_key_enc`.
    pub kek_id: String,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_jwk", &self.public_jwk)
            .field("private_key_enc", &Redacted(self.private_key_enc.len()))
            .field("kek_id", &self.kek_id)
            .finish()
    }
}

/// A secret of the service itself, sealed under the KEK (opaque to the store).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Its name, e.g. `subkey-root`.
    pub name: String,
    /// AEAD ciphertext produced outside the store.
    pub sealed: Vec<u8>,
    /// Fingerprint of the key-encryption key that produced `sealed`.
    pub kek_id: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("name", &self.name)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// A stored signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Primary key.
    pub id: Uuid,
    /// Owning authority; `None` for a service key.
    pub authority_id: Option<Uuid>,
    /// What the key signs.
    pub purpose: KeyPurpose,
    /// Key id fragment, e.g. "key-abc".
    pub kid: String,
    /// JOSE algorithm, e.g. "ES256".
    pub alg: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// Public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// Private key as AEAD ciphertext; opaque to the store.
    pub private_key_enc: Vec<u8>,
    /// Fingerprint of the key-encryption key that produced `private_key_enc`.
    pub kek_id: String,
    /// When the key was inserted.
    pub created_at: DateTime<Utc>,
    /// When `state` last changed (equal to `created_at` until then).
    pub state_changed_at: DateTime<Utc>,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("authority_id", &self.authority_id)
            .field("purpose", &self.purpose)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("public_jwk", &self.public_jwk)
            .field("private_key_enc", &Redacted(self.private_key_enc.len()))
            .field("kek_id", &self.kek_id)
            .field("created_at", &self.created_at)
            .field("state_changed_at", &self.state_changed_at)
            .finish()
    }
}

/// An OAuth client allowed to obtain API access tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// Primary key.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Public client identifier; unique.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Hash of the client secret (hex); opaque to the store.
    pub secret_hash: String,
    /// When the client was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("secret_hash", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A static API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Primary key.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// The first characters of the key, shown to users to tell keys apart.
    pub key_prefix: String,
    /// Hash of the key (hex); unique; opaque to the store.
    pub key_hash: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not the key, but it is what an attacker would match leaked keys against.
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("key_prefix", &self.key_prefix)
            .field("key_hash", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Debug stand-in for secret bytes: prints only their length.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted {} bytes]", self.0)
    }
}

/// What `set_key_state` must do for a requested transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The key is already in the requested state: nothing changes.
    Unchanged,
    /// Write the new state.
    Apply,
}

/// Checks a `set_key_state` request against the key lifecycle.
///
/// Allowed: `retiring -> revoked`, and any state to itself (no change). Refused:
/// - `-> active`: only rotation makes a key active, so that the old one retires in the same
///   transaction;
/// - `active -> retiring|revoked`: an authority always has exactly one active key, so the active
///   key can only leave that state by rotation (then revoke the retiring key);
/// - `revoked -> *`: revocation is final.
pub(crate) fn check_transition(key: &KeyRecord, target: KeyState) -> Result<Transition> {
    if key.state == target {
        return Ok(Transition::Unchanged);
    }
    match (key.state, target) {
        (_, KeyState::Active) => Err(StoreError::InvalidData(format!(
            "key {} cannot be set to active: a key becomes active only by rotation",
            key.id
        ))),
        (KeyState::Revoked, _) => Err(StoreError::InvalidData(format!(
            "key {} is revoked and revocation is final",
            key.id
        ))),
        (KeyState::Active, _) => Err(StoreError::InvalidData(format!(
            "key {} is the active key; rotate to a new key before setting it to {target}",
            key.id
        ))),
        (KeyState::Retiring, KeyState::Revoked) => Ok(Transition::Apply),
        (KeyState::Retiring, KeyState::Retiring) => Ok(Transition::Unchanged),
    }
}

/// Brings a timestamp to what both backends store: microseconds, years 1 to 9999.
///
/// Postgres keeps microseconds, so sub-microsecond digits are dropped on both backends and
/// the value returned to the caller equals the value read back later.
pub(crate) fn normalize_time(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if !(1..=9999).contains(&t.year()) {
        return Err(StoreError::InvalidData(format!(
            "timestamp {t} is outside the storable years 1 to 9999"
        )));
    }
    let micros_in_nanos = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros_in_nanos).ok_or_else(|| {
        StoreError::InvalidData(format!("timestamp {t} cannot be truncated to microseconds"))
    })
}

/// A new primary key: UUIDv7 from the caller's clock, so ids of one table sort roughly by
/// creation time and index inserts stay local.
pub(crate) fn new_id(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

/// Service keys sign for the service, never for an authority.
pub(crate) fn refuse_authority_purpose(purpose: KeyPurpose) -> Result<()> {
    if purpose == KeyPurpose::Authority {
        return Err(StoreError::InvalidData(
            "a service key cannot have purpose authority: authority keys belong to an authority \
             and are added by create_authority or rotate_authority_key"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key(state: KeyState) -> KeyRecord {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        KeyRecord {
            id: Uuid::nil(),
            authority_id: None,
            purpose: KeyPurpose::AccessToken,
            kid: "key-1".into(),
            alg: "ES256".into(),
            state,
            public_jwk: serde_json::json!({}),
            private_key_enc: vec![1, 2, 3],
            kek_id: "kek".into(),
            created_at: t,
            state_changed_at: t,
        }
    }

    #[test]
    fn key_state_names_round_trip() {
        for s in [KeyState::Active, KeyState::Retiring, KeyState::Revoked] {
            assert_eq!(s.as_str().parse::<KeyState>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<KeyState>(&json).unwrap(), s);
        }
        let err = "Active".parse::<KeyState>().unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("\"Active\""), "{err}");
    }

    #[test]
    fn key_purpose_names_round_trip() {
        for p in [KeyPurpose::Authority, KeyPurpose::AccessToken] {
            assert_eq!(p.as_str().parse::<KeyPurpose>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<KeyPurpose>(&json).unwrap(), p);
        }
        assert_eq!(KeyPurpose::AccessToken.as_str(), "access_token");
        let err = "accesstoken".parse::<KeyPurpose>().unwrap_err();
        assert_eq!(err.code(), "STORE-003");
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        use KeyState::*;
        let cases = [
            (Active, Active, Some(Transition::Unchanged)),
            (Active, Retiring, None),
            (Active, Revoked, None),
            (Retiring, Active, None),
            (Retiring, Retiring, Some(Transition::Unchanged)),
            (Retiring, Revoked, Some(Transition::Apply)),
            (Revoked, Active, None),
            (Revoked, Retiring, None),
            (Revoked, Revoked, Some(Transition::Unchanged)),
        ];
        for (from, to, expected) in cases {
            let got = check_transition(&key(from), to);
            match expected {
                Some(t) => assert_eq!(got.unwrap(), t, "{from} -> {to}"),
                None => assert_eq!(got.unwrap_err().code(), "STORE-003", "{from} -> {to}"),
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        let msg = check_transition(&key(KeyState::Active), KeyState::Revoked)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("rotate"), "{msg}");
        let msg = check_transition(&key(KeyState::Revoked), KeyState::Retiring)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("final"), "{msg}");
        let msg = check_transition(&key(KeyState::Retiring), KeyState::Active)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("only by rotation"), "{msg}");
    }

    #[test]
    fn normalize_time_truncates_to_microseconds() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
            .unwrap()
            .with_nanosecond(123_456_789)
            .unwrap();
        let n = normalize_time(t).unwrap();
        assert_eq!(n.nanosecond(), 123_456_000);
        assert_eq!(n.timestamp(), t.timestamp());
    }

    #[test]
    fn normalize_time_rejects_years_outside_range() {
        let late = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        let err = normalize_time(late).unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("1 to 9999"), "{err}");
        let early = Utc.with_ymd_and_hms(0, 12, 31, 0, 0, 0).unwrap();
        assert!(normalize_time(early).is_err());
        assert!(normalize_time(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()).is_ok());
        assert!(normalize_time(Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap()).is_ok());
    }

    #[test]
    fn debug_hides_secret_material() {
        let k = key(KeyState::Active);
        let dbg = format!("{k:?}");
        assert!(dbg.contains("[redacted 3 bytes]"), "{dbg}");
        assert!(!dbg.contains("[1, 2, 3]"), "{dbg}");

        let new = NewKey {
            id: Uuid::nil(),
            kid: "key-1".into(),
            alg: "ES256".into(),
            public_jwk: serde_json::json!({"kty": "EC"}),
            private_key_enc: vec![9, 8, 7, 6],
            kek_id: "kek".into(),
        };
        let dbg = format!("{new:?}");
        assert!(
            dbg.contains("[redacted 4 bytes]") && !dbg.contains("9, 8"),
            "{dbg}"
        );

        let t = k.created_at;
        let client = ApiClient {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            client_id: "c1".into(),
            name: "n".into(),
            secret_hash: "deadbeefcafe".into(),
            created_at: t,
        };
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("deadbeefcafe") && dbg.contains("c1"), "{dbg}");

        let api_key = ApiKey {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "n".into(),
            key_prefix: "vk_ab".into(),
            key_hash: "0123456789abcdef".into(),
            created_at: t,
        };
        let dbg = format!("{api_key:?}");
        assert!(
            !dbg.contains("0123456789abcdef") && dbg.contains("vk_ab"),
            "{dbg}"
        );
    }

    #[test]
    fn new_ids_are_v7_and_follow_the_clock() {
        let t1 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        let (a, b) = (new_id(t1), new_id(t2));
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
        assert_ne!(new_id(t1), new_id(t1));
    }
}
