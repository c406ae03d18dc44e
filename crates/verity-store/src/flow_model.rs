//! Rows of the credential flows (contracts, requests, callbacks, status lists, issued
//! credentials) and the rules both backends share for them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Result, StoreError};

/// A credential definition (display, rules, claims mapping) of one authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Primary key.
    pub id: Uuid,
    /// Owning tenant (the tenant of `authority_id`).
    pub tenant_id: Uuid,
    /// The authority that issues credentials of this contract.
    pub authority_id: Uuid,
    /// Name, unique per authority.
    pub name: String,
    /// The definition as JSON; validated by the caller, opaque to the store.
    pub definition: serde_json::Value,
    /// Whether new requests may use the contract.
    pub enabled: bool,
    /// When the contract was created.
    pub created_at: DateTime<Utc>,
    /// When the definition or `enabled` last changed (equal to `created_at` until then).
    pub updated_at: DateTime<Utc>,
}

/// What a flow request asks the wallet to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Receive a credential from an issuer.
    Issuance,
    /// Present credentials to a verifier.
    Presentation,
}

impl RequestKind {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Issuance => "issuance",
            RequestKind::Presentation => "presentation",
        }
    }
}

impl FromStr for RequestKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "issuance" => Ok(RequestKind::Issuance),
            "presentation" => Ok(RequestKind::Presentation),
            other => Err(StoreError::InvalidData(format!(
                "request kind {other:?} is not one of issuance, presentation"
            ))),
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a new flow request starts in.
pub const INITIAL_REQUEST_STATUS: &str = "request_created";

/// A flow request to insert, built by the caller from an RP app's API call.
#[derive(Clone, PartialEq, Eq)]
pub struct NewFlowRequest {
    /// Primary key, chosen by the caller (it appears in the request URL).
    pub id: Uuid,
    /// Tenant of the calling app.
    pub tenant_id: Uuid,
    /// Issuance or presentation.
    pub kind: RequestKind,
    /// The authority that signs the request object.
    pub authority_id: Uuid,
    /// The contract issued, for issuance requests.
    pub contract_id: Option<Uuid>,
    /// Nonce bound into the request object; unique.
    pub nonce: String,
    /// The RP's request body and anything the flow needs later; may hold a PIN, so Debug
    /// prints only its top-level member names.
    pub payload: serde_json::Value,
    /// When the request stops being usable.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for NewFlowRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFlowRequest")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("kind", &self.kind)
            .field("authority_id", &self.authority_id)
            .field("contract_id", &self.contract_id)
            .field("nonce", &self.nonce)
            .field("payload", &MemberNames(&self.payload))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A stored flow request and where it stands.
#[derive(Clone, PartialEq, Eq)]
pub struct FlowRequest {
    /// Primary key.
    pub id: Uuid,
    /// Tenant of the app that created it.
    pub tenant_id: Uuid,
    /// Issuance or presentation.
    pub kind: RequestKind,
    /// The authority that signs the request object.
    pub authority_id: Uuid,
    /// The contract issued, for issuance requests.
    pub contract_id: Option<Uuid>,
    /// Nonce bound into the request object; unique.
    pub nonce: String,
    /// As given at creation; Debug prints only its top-level member names.
    pub payload: serde_json::Value,
    /// Latest `requestStatus`; [`INITIAL_REQUEST_STATUS`] until the first change.
    pub status: String,
    /// Latest status body, served to pollers.
    pub result: Option<serde_json::Value>,
    /// Wrong PINs entered so far.
    pub pin_failures: i32,
    /// Refused presentation answers recorded so far.
    pub refusals: i32,
    /// When the request was created.
    pub created_at: DateTime<Utc>,
    /// When the request stops being usable.
    pub expires_at: DateTime<Utc>,
    /// When a wallet first fetched the request object.
    pub retrieved_at: Option<DateTime<Utc>>,
    /// When the flow first reached a final status.
    pub completed_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for FlowRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowRequest")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("kind", &self.kind)
            .field("authority_id", &self.authority_id)
            .field("contract_id", &self.contract_id)
            .field("nonce", &self.nonce)
            .field("payload", &MemberNames(&self.payload))
            .field("status", &self.status)
            .field("result", &self.result)
            .field("pin_failures", &self.pin_failures)
            .field("refusals", &self.refusals)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("retrieved_at", &self.retrieved_at)
            .field("completed_at", &self.completed_at)
            .finish()
    }
}

/// Delivery state of a queued callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its next attempt (or being attempted under a lease).
    Pending,
    /// The RP acknowledged it. Final.
    Delivered,
    /// Given up after the retry window. Final.
    Failed,
}

impl OutboxState {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }
}

impl FromStr for OutboxState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "delivered" => Ok(OutboxState::Delivered),
            "failed" => Ok(OutboxState::Failed),
            other => Err(StoreError::InvalidData(format!(
                "callback state {other:?} is not one of pending, delivered, failed"
            ))),
        }
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A callback to queue for one request status.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCallback {
    /// Primary key, chosen by the caller.
    pub id: Uuid,
    /// The request the callback reports on.
    pub request_id: Uuid,
    /// The `requestStatus` reported; one message per request and status.
    pub request_status: String,
    /// The RP's callback URL.
    pub url: String,
    /// HTTP headers to send, as a JSON object of name to value. Values may be RP secrets:
    /// Debug prints the names only.
    pub headers: serde_json::Value,
    /// The JSON body to POST.
    pub body: serde_json::Value,
    /// After this time the message is no longer retried.
    pub give_up_at: DateTime<Utc>,
}

impl fmt::Debug for NewCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCallback")
            .field("id", &self.id)
            .field("request_id", &self.request_id)
            .field("request_status", &self.request_status)
            .field("url", &self.url)
            .field("headers", &MemberNames(&self.headers))
            .field("body", &self.body)
            .field("give_up_at", &self.give_up_at)
            .finish()
    }
}

/// A queued callback and its delivery history.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackMessage {
    /// Primary key.
    pub id: Uuid,
    /// The request the callback reports on.
    pub request_id: Uuid,
    /// The `requestStatus` reported.
    pub request_status: String,
    /// The RP's callback URL.
    pub url: String,
    /// HTTP headers to send (name to value); Debug prints the names only.
    pub headers: serde_json::Value,
    /// The JSON body to POST.
    pub body: serde_json::Value,
    /// Delivery state.
    pub state: OutboxState,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// Earliest time of the next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// After this time the message is no longer retried.
    pub give_up_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the message was queued.
    pub created_at: DateTime<Utc>,
    /// When the RP acknowledged it.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for CallbackMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackMessage")
            .field("id", &self.id)
            .field("request_id", &self.request_id)
            .field("request_status", &self.request_status)
            .field("url", &self.url)
            .field("headers", &MemberNames(&self.headers))
            .field("body", &self.body)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("give_up_at", &self.give_up_at)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("delivered_at", &self.delivered_at)
            .finish()
    }
}

/// A status list index handed out for one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusAllocation {
    /// The list the index belongs to.
    pub list_id: Uuid,
    /// The index, never handed out before.
    pub index: u32,
    /// Length of that list in bits.
    pub list_length: u32,
}

/// A status list of one authority and purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    /// Primary key; appears in the list's URL.
    pub id: Uuid,
    /// The authority that signs the list.
    pub authority_id: Uuid,
    /// What a set bit means, e.g. "revocation".
    pub purpose: String,
    /// Length in bits.
    pub length: u32,
    /// The status bitstring, `length / 8` bytes; bit `i` is the most significant bit first:
    /// byte `i / 8`, mask `0x80 >> (i % 8)`.
    pub bits: Vec<u8>,
    /// Indices handed out so far.
    pub allocated_count: u32,
    /// Increases by one on every change of `bits`.
    pub version: i64,
    /// The signed list credential cached for `signed_version`.
    pub signed_jwt: Option<String>,
    /// The `version` `signed_jwt` was made from.
    pub signed_version: Option<i64>,
    /// A multi-purpose list's suspension bitstring (same layout as `bits`); `None` until the
    /// first suspension, and always for single-purpose lists.
    pub suspension_bits: Option<Vec<u8>>,
    /// When the list was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for StatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bitstring is up to kilobytes: show its size and how many bits are set.
        let set: u32 = self.bits.iter().map(|b| b.count_ones()).sum();
        f.debug_struct("StatusList")
            .field("id", &self.id)
            .field("authority_id", &self.authority_id)
            .field("purpose", &self.purpose)
            .field("length", &self.length)
            .field(
                "bits",
                &format_args!("[{} bytes, {set} set]", self.bits.len()),
            )
            .field("allocated_count", &self.allocated_count)
            .field("version", &self.version)
            .field(
                "signed_jwt",
                &self
                    .signed_jwt
                    .as_ref()
                    .map(|j| format!("[{} chars]", j.len())),
            )
            .field("signed_version", &self.signed_version)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// An issued credential to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssuedCredential {
    /// Primary key, chosen by the caller.
    pub id: Uuid,
    /// The credential's `jti`; unique.
    pub jti: String,
    /// Tenant of the issuing app.
    pub tenant_id: Uuid,
    /// The contract issued; `None` for a credential issued through the VC-API.
    pub contract_id: Option<Uuid>,
    /// The issuing authority.
    pub authority_id: Uuid,
    /// The issuance request, if any (requests are purged later; no reference is kept).
    pub request_id: Option<Uuid>,
    /// The holder's DID.
    pub subject_did: String,
    /// The status list of the credential's status entry; set together with `status_index`.
    pub status_list_id: Option<Uuid>,
    /// The allocated index in `status_list_id`.
    pub status_index: Option<u32>,
    /// Hash of the contract's indexed claim value, the revocation search key.
    pub indexed_claim_hash: Option<String>,
    /// The credential's issuance time.
    pub issued_at: DateTime<Utc>,
    /// The credential's expiry time.
    pub expires_at: DateTime<Utc>,
}

/// A recorded issued credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCredential {
    /// Primary key.
    pub id: Uuid,
    /// The credential's `jti`; unique.
    pub jti: String,
    /// Tenant of the issuing app.
    pub tenant_id: Uuid,
    /// The contract issued; `None` for a credential issued through the VC-API.
    pub contract_id: Option<Uuid>,
    /// The issuing authority.
    pub authority_id: Uuid,
    /// The issuance request, if any.
    pub request_id: Option<Uuid>,
    /// The holder's DID.
    pub subject_did: String,
    /// The status list of the credential's status entry.
    pub status_list_id: Option<Uuid>,
    /// The index in `status_list_id`.
    pub status_index: Option<u32>,
    /// Hash of the contract's indexed claim value.
    pub indexed_claim_hash: Option<String>,
    /// The credential's issuance time.
    pub issued_at: DateTime<Utc>,
    /// The credential's expiry time.
    pub expires_at: DateTime<Utc>,
    /// When the credential was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
}

/// Debug stand-in for a JSON value that may hold secrets: the member names of an object, or
/// the kind of any other value.
struct MemberNames<'a>(&'a serde_json::Value);

impl fmt::Debug for MemberNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            serde_json::Value::Object(map) => {
                f.write_str("[redacted; members ")?;
                f.debug_list().entries(map.keys()).finish()?;
                f.write_str("]")
            }
            serde_json::Value::Null => f.write_str("null"),
            _ => f.write_str("[redacted non-object]"),
        }
    }
}

// ---- bit strings ----------------------------------------------------------------------------

/// The largest list length accepted: the byte length must fit the stores' integer columns.
pub(crate) const MAX_LIST_LENGTH: u32 = 1 << 30;

/// Checks a requested status list length and returns its size in bytes.
pub(crate) fn list_bytes(list_length: u32) -> Result<usize> {
    if list_length == 0 || !list_length.is_multiple_of(8) || list_length > MAX_LIST_LENGTH {
        return Err(StoreError::InvalidData(format!(
            "status list length {list_length} must be a positive multiple of 8 \
             of at most {MAX_LIST_LENGTH}"
        )));
    }
    usize::try_from(list_length / 8)
        .map_err(|_| StoreError::InvalidData(format!("status list length {list_length} too big")))
}

/// Byte and mask of bit `index` (most significant bit first), if the index is in `bytes`.
fn bit_position(bytes: &[u8], index: u32) -> Option<(usize, u8)> {
    let byte = usize::try_from(index / 8).ok()?;
    (byte < bytes.len()).then(|| (byte, 0x80u8 >> (index % 8)))
}

/// Whether bit `index` is set; `false` outside the string.
pub(crate) fn bit_is_set(bytes: &[u8], index: u32) -> bool {
    bit_position(bytes, index).is_some_and(|(byte, mask)| bytes[byte] & mask != 0)
}

/// Clears bit `index`; `InvalidData` outside the string.
pub(crate) fn clear_bit(bytes: &mut [u8], index: u32, what: &str) -> Result<()> {
    let (byte, mask) = bit_position(bytes, index).ok_or_else(|| {
        StoreError::InvalidData(format!(
            "{what} index {index} is outside the {}-bit list",
            bytes.len() * 8
        ))
    })?;
    bytes[byte] &= !mask;
    Ok(())
}

/// The purpose of a multi-purpose status list: one index per credential, with a revocation
/// bit (`bits`) and a suspension bit (`suspension_bits`).
pub const PURPOSE_REVOCATION_SUSPENSION: &str = "revocation+suspension";

/// A suspension in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSuspension {
    /// The suspended credential.
    pub credential_id: Uuid,
    /// Since when.
    pub suspended_at: DateTime<Utc>,
    /// Why (the operator's words).
    pub reason: String,
}

/// The refusal to suspend a credential that has no suspension status entry.
pub(crate) fn not_suspendable(c: &IssuedCredential) -> StoreError {
    StoreError::InvalidData(format!(
        "credential {} was issued without a suspension status entry (its contract was not \
         suspendable then): it can be revoked, not suspended",
        c.jti
    ))
}

/// Sets bit `index`; `InvalidData` outside the string.
pub(crate) fn set_bit(bytes: &mut [u8], index: u32, what: &str) -> Result<()> {
    let (byte, mask) = bit_position(bytes, index).ok_or_else(|| {
        StoreError::InvalidData(format!(
            "{what} index {index} is outside the {}-bit list",
            bytes.len() * 8
        ))
    })?;
    bytes[byte] |= mask;
    Ok(())
}

/// Checks the index `pick` chose against the allocation bitmap: in range and not used before.
pub(crate) fn check_pick(allocation: &[u8], list_id: Uuid, index: u32) -> Result<u32> {
    if bit_position(allocation, index).is_none() {
        return Err(StoreError::InvalidData(format!(
            "the index picker chose {index}, outside status list {list_id} of {} bits",
            allocation.len() * 8
        )));
    }
    if bit_is_set(allocation, index) {
        return Err(StoreError::InvalidData(format!(
            "the index picker chose {index}, already allocated in status list {list_id}"
        )));
    }
    Ok(index)
}

/// Indices one allocation hands out at most.
pub const MAX_STATUS_INDEX_BATCH: u32 = 1024;

/// Checks a batch size: 1 to [`MAX_STATUS_INDEX_BATCH`].
pub(crate) fn batch_size(count: u32) -> Result<u32> {
    if (1..=MAX_STATUS_INDEX_BATCH).contains(&count) {
        Ok(count)
    } else {
        Err(StoreError::InvalidData(format!(
            "a status index batch of {count} is not between 1 and {MAX_STATUS_INDEX_BATCH}"
        )))
    }
}

/// Picks up to `count` free indices of a list with `pick`, marking each in `allocation` as it
/// goes (so `pick` sees the earlier picks of the batch as used). Stops early when the list is
/// full (`allocated_count` reached `length`) or `pick` finds nothing.
pub(crate) fn pick_batch(
    allocation: &mut [u8],
    list_id: Uuid,
    length: u32,
    allocated_count: u32,
    count: u32,
    pick: &(dyn for<'a> Fn(&'a [u8]) -> Option<u32> + Send + Sync),
) -> Result<Vec<u32>> {
    let room = length.saturating_sub(allocated_count).min(count);
    let mut picked = Vec::with_capacity(usize::try_from(room).unwrap_or_default());
    while u32::try_from(picked.len()).unwrap_or(u32::MAX) < room {
        let Some(index) = pick(allocation) else {
            break;
        };
        let index = check_pick(allocation, list_id, index)?;
        set_bit(allocation, index, "status")?;
        picked.push(index);
    }
    Ok(picked)
}

/// Whether bit `index % 8` of `byte` (the allocation byte holding `index`) is set.
fn allocated_in_byte(byte: Option<u8>, index: u32) -> bool {
    byte.is_some_and(|b| b & (0x80u8 >> (index % 8)) != 0)
}

/// The 1-based byte offset of `index` in a bitmap, for SQL `substr`/`substring`.
pub(crate) fn allocation_byte_offset(index: u32) -> i64 {
    i64::from(index / 8) + 1
}

/// Checks the status entry of a credential to record against its list: both fields or
/// neither, the list's authority, and an index that was allocated.
///
/// `list` is the list's authority and the allocation byte holding the index (`None` when the
/// index is beyond the list): only that byte is read, not the whole bitmap.
pub(crate) fn check_status_entry(
    c: &NewIssuedCredential,
    list: Option<(Uuid, Option<u8>)>,
) -> Result<()> {
    match (c.status_list_id, c.status_index, list) {
        (None, None, _) => Ok(()),
        (Some(list_id), Some(index), Some((list_authority, byte))) => {
            if list_authority != c.authority_id {
                return Err(StoreError::InvalidData(format!(
                    "status list {list_id} belongs to authority {list_authority}, \
                     not to the issuing authority {}",
                    c.authority_id
                )));
            }
            if !allocated_in_byte(byte, index) {
                return Err(StoreError::InvalidData(format!(
                    "status index {index} was never allocated in status list {list_id} \
                     (use allocate_status_index)"
                )));
            }
            Ok(())
        }
        (Some(list_id), Some(_), None) => Err(StoreError::NotFound {
            entity: "status list",
            id: list_id.to_string(),
        }),
        _ => Err(StoreError::InvalidData(
            "status_list_id and status_index must be given together or not at all".into(),
        )),
    }
}

/// `lease_secs` as a duration; a lease must be positive or it protects nothing.
pub(crate) fn lease(lease_secs: i64) -> Result<chrono::Duration> {
    if lease_secs <= 0 {
        return Err(StoreError::InvalidData(format!(
            "callback lease of {lease_secs} seconds must be positive"
        )));
    }
    chrono::Duration::try_seconds(lease_secs).ok_or_else(|| {
        StoreError::InvalidData(format!(
            "callback lease of {lease_secs} seconds is too long"
        ))
    })
}

/// Stored text of an `i32`/`i64` column read back as a `u32`; negative values are corrupt.
pub(crate) fn stored_u32(column: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        StoreError::InvalidData(format!(
            "stored {column} {v} is not a non-negative 32-bit value"
        ))
    })
}

/// How many expired replay-guard rows one `consume_once` call deletes at most: enough to keep
/// up with inserts, small enough to keep the call fast.
pub(crate) const USED_ONCE_PURGE_BATCH: i64 = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn enum_names_round_trip() {
        for k in [RequestKind::Issuance, RequestKind::Presentation] {
            assert_eq!(k.as_str().parse::<RequestKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        for s in [
            OutboxState::Pending,
            OutboxState::Delivered,
            OutboxState::Failed,
        ] {
            assert_eq!(s.as_str().parse::<OutboxState>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        let err = "Issuance".parse::<RequestKind>().unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("\"Issuance\""), "{err}");
        let err = "sent".parse::<OutboxState>().unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("\"sent\""), "{err}");
    }

    #[test]
    fn bits_are_most_significant_first() {
        let mut bytes = vec![0u8; 4];
        set_bit(&mut bytes, 0, "status").unwrap();
        set_bit(&mut bytes, 9, "status").unwrap();
        set_bit(&mut bytes, 31, "status").unwrap();
        assert_eq!(bytes, [0x80, 0x40, 0x00, 0x01]);
        assert!(bit_is_set(&bytes, 0) && bit_is_set(&bytes, 9) && bit_is_set(&bytes, 31));
        assert!(!bit_is_set(&bytes, 1) && !bit_is_set(&bytes, 32));
        let err = set_bit(&mut bytes, 32, "status").unwrap_err();
        assert_eq!(err.code(), "STORE-003");
        assert!(err.to_string().contains("outside the 32-bit list"), "{err}");
    }

    #[test]
    fn list_lengths_are_positive_multiples_of_eight() {
        assert_eq!(list_bytes(8).unwrap(), 1);
        assert_eq!(list_bytes(131_072).unwrap(), 16_384);
        assert_eq!(list_bytes(MAX_LIST_LENGTH).unwrap(), 1 << 27);
        for bad in [0, 7, 65, MAX_LIST_LENGTH + 8] {
            let err = list_bytes(bad).unwrap_err();
            assert_eq!(err.code(), "STORE-003", "{bad}");
            assert!(err.to_string().contains("multiple of 8"), "{err}");
        }
    }

    #[test]
    fn picks_must_be_free_and_in_range() {
        let id = Uuid::nil();
        let allocation = [0b1000_0000u8, 0];
        assert_eq!(check_pick(&allocation, id, 1).unwrap(), 1);
        assert_eq!(check_pick(&allocation, id, 15).unwrap(), 15);
        let err = check_pick(&allocation, id, 0).unwrap_err();
        assert!(err.to_string().contains("already allocated"), "{err}");
        let err = check_pick(&allocation, id, 16).unwrap_err();
        assert!(err.to_string().contains("outside status list"), "{err}");
    }

    fn credential(list: Option<Uuid>, index: Option<u32>) -> NewIssuedCredential {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        NewIssuedCredential {
            id: Uuid::nil(),
            jti: "urn:uuid:x".into(),
            tenant_id: Uuid::nil(),
            contract_id: Some(Uuid::nil()),
            authority_id: Uuid::from_u128(1),
            request_id: None,
            subject_did: "did:example:holder".into(),
            status_list_id: list,
            status_index: index,
            indexed_claim_hash: None,
            issued_at: t,
            expires_at: t,
        }
    }

    #[test]
    fn status_entries_are_checked_against_their_list() {
        let list = Uuid::from_u128(7);
        let auth = Uuid::from_u128(1);
        let allocation = Some(0b0100_0000u8);
        check_status_entry(&credential(None, None), None).unwrap();
        check_status_entry(&credential(Some(list), Some(1)), Some((auth, allocation))).unwrap();

        let err = check_status_entry(&credential(Some(list), None), None).unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");
        let err = check_status_entry(&credential(None, Some(3)), None).unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");
        let err = check_status_entry(&credential(Some(list), Some(2)), Some((auth, allocation)))
            .unwrap_err();
        assert!(err.to_string().contains("never allocated"), "{err}");
        let other = Uuid::from_u128(2);
        let err = check_status_entry(&credential(Some(list), Some(1)), Some((other, allocation)))
            .unwrap_err();
        assert!(err.to_string().contains("belongs to authority"), "{err}");
        let err =
            check_status_entry(&credential(Some(list), Some(80)), Some((auth, None))).unwrap_err();
        assert!(
            err.to_string().contains("never allocated"),
            "beyond the list: {err}"
        );
        let err = check_status_entry(&credential(Some(list), Some(1)), None).unwrap_err();
        assert_eq!(err.code(), "STORE-001");
    }

    #[test]
    fn a_batch_marks_each_pick_and_stops_when_the_list_is_full() {
        let list = Uuid::from_u128(7);
        let first_free = |bits: &[u8]| {
            (0..u32::try_from(bits.len() * 8).unwrap()).find(|&i| !bit_is_set(bits, i))
        };
        let mut allocation = vec![0b1000_0000u8, 0];
        let picked = pick_batch(&mut allocation, list, 16, 1, 4, &first_free).unwrap();
        assert_eq!(picked, [1, 2, 3, 4]);
        assert_eq!(allocation, [0b1111_1000, 0]);
        // 5 used of 16: a batch of 20 gets the 11 left.
        let picked = pick_batch(&mut allocation, list, 16, 5, 20, &first_free).unwrap();
        assert_eq!(picked.len(), 11);
        assert_eq!(allocation, [0xff, 0xff]);
        let picked = pick_batch(&mut allocation, list, 16, 16, 4, &first_free).unwrap();
        assert!(picked.is_empty());
        // A picker that repeats itself is caught, not trusted.
        let mut allocation = vec![0u8; 2];
        let always_zero = |_: &[u8]| Some(0);
        let err = pick_batch(&mut allocation, list, 16, 0, 2, &always_zero).unwrap_err();
        assert!(err.to_string().contains("already allocated"), "{err}");
        assert_eq!(batch_size(0).unwrap_err().code(), "STORE-003");
        assert_eq!(
            batch_size(MAX_STATUS_INDEX_BATCH + 1).unwrap_err().code(),
            "STORE-003"
        );
        assert_eq!(batch_size(32).unwrap(), 32);
    }

    #[test]
    fn leases_must_be_positive() {
        assert_eq!(lease(60).unwrap(), chrono::Duration::seconds(60));
        for bad in [0, -1, i64::MAX] {
            assert_eq!(lease(bad).unwrap_err().code(), "STORE-003", "{bad}");
        }
    }

    #[test]
    fn stored_counts_must_fit_u32() {
        assert_eq!(stored_u32("x", 5).unwrap(), 5);
        let err = stored_u32("status_lists.length", -1).unwrap_err();
        assert!(err.to_string().contains("status_lists.length"), "{err}");
    }

    #[test]
    fn debug_hides_payloads_headers_and_bitstrings() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let new = NewFlowRequest {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            kind: RequestKind::Issuance,
            authority_id: Uuid::nil(),
            contract_id: None,
            nonce: "n-1".into(),
            payload: json!({"pin": {"value": "918273"}, "callback": {}}),
            expires_at: t,
        };
        let dbg = format!("{new:?}");
        assert!(!dbg.contains("918273"), "{dbg}");
        assert!(
            dbg.contains("\"pin\"") && dbg.contains("\"callback\""),
            "{dbg}"
        );

        let stored = FlowRequest {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            kind: RequestKind::Presentation,
            authority_id: Uuid::nil(),
            contract_id: None,
            nonce: "n-1".into(),
            payload: json!({"pin": "918273"}),
            status: INITIAL_REQUEST_STATUS.into(),
            result: None,
            pin_failures: 0,
            refusals: 0,
            created_at: t,
            expires_at: t,
            retrieved_at: None,
            completed_at: None,
        };
        let dbg = format!("{stored:?}");
        assert!(
            !dbg.contains("918273") && dbg.contains("request_created"),
            "{dbg}"
        );

        let headers = json!({"api-key": "rp-secret-value", "x-trace": "abc"});
        let cb = NewCallback {
            id: Uuid::nil(),
            request_id: Uuid::nil(),
            request_status: "request_retrieved".into(),
            url: "https://rp.example/cb".into(),
            headers: headers.clone(),
            body: json!({"requestStatus": "request_retrieved"}),
            give_up_at: t,
        };
        let dbg = format!("{cb:?}");
        assert!(
            !dbg.contains("rp-secret-value") && dbg.contains("\"api-key\""),
            "{dbg}"
        );
        let msg = CallbackMessage {
            id: Uuid::nil(),
            request_id: Uuid::nil(),
            request_status: "request_retrieved".into(),
            url: "https://rp.example/cb".into(),
            headers,
            body: json!({}),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: t,
            give_up_at: t,
            last_error: None,
            created_at: t,
            delivered_at: None,
        };
        let dbg = format!("{msg:?}");
        assert!(
            !dbg.contains("rp-secret-value") && dbg.contains("\"x-trace\""),
            "{dbg}"
        );
        assert_eq!(
            format!("{:?}", MemberNames(&json!("secret"))),
            "[redacted non-object]"
        );

        let list = StatusList {
            id: Uuid::nil(),
            authority_id: Uuid::nil(),
            purpose: "revocation".into(),
            length: 16,
            bits: vec![0x81, 0],
            allocated_count: 2,
            version: 3,
            signed_jwt: Some("eyJ.abc.def".into()),
            signed_version: Some(3),
            suspension_bits: None,
            created_at: t,
            updated_at: t,
        };
        let dbg = format!("{list:?}");
        assert!(
            dbg.contains("[2 bytes, 2 set]") && dbg.contains("[11 chars]"),
            "{dbg}"
        );
    }
}
