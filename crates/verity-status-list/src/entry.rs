//! `credentialStatus` entries (Bitstring Status List v1.0 section 2.1) and the per-credential
//! status check (section 3.2, steps 5 and 10 to 13).

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{StatusListError, VerifiedStatusList};

/// `credentialStatus.type` that Verity writes.
pub const ENTRY_TYPE: &str = "BitstringStatusListEntry";
/// StatusList2021's entry type (read compatibility).
pub const STATUS_LIST_2021_ENTRY_TYPE: &str = "StatusList2021Entry";
/// The entry type of the JWT VC Presentation Profile and of the hosted Verified ID service (read
/// compatibility). Its purpose is implicitly `revocation`.
pub const REVOCATION_LIST_2021_STATUS_TYPE: &str = "RevocationList2021Status";

/// A status purpose Verity issues lists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusPurpose {
    /// A set bit cancels the credential for good.
    Revocation,
    /// A set bit holds the credential back until it is cleared again.
    Suspension,
}

impl StatusPurpose {
    /// The `statusPurpose` string.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusPurpose::Revocation => "revocation",
            StatusPurpose::Suspension => "suspension",
        }
    }

    /// Parses a `statusPurpose` string Verity understands.
    pub fn parse(s: &str) -> Option<StatusPurpose> {
        match s {
            "revocation" => Some(StatusPurpose::Revocation),
            "suspension" => Some(StatusPurpose::Suspension),
            _ => None,
        }
    }
}

impl fmt::Display for StatusPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a status check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialStatus {
    /// The bit is clear.
    Valid,
    /// The bit is set in a `revocation` list.
    Revoked,
    /// The bit is set in a `suspension` list.
    Suspended,
}

impl CredentialStatus {
    /// True only for [`CredentialStatus::Valid`].
    pub fn is_valid(self) -> bool {
        self == CredentialStatus::Valid
    }
}

/// One `credentialStatus` entry. Serializes as a `BitstringStatusListEntry` (index as a base-10
/// string); deserializes through [`StatusEntry::from_json`], so every read-compatible form is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// Optional identifier of the entry (never the list URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The entry type as found or written.
    #[serde(rename = "type")]
    pub type_: String,
    /// What a set bit means (`revocation`, `suspension`, ...).
    #[serde(rename = "statusPurpose")]
    pub status_purpose: String,
    /// Position of the credential's bit in the list.
    #[serde(rename = "statusListIndex", serialize_with = "index_as_string")]
    pub status_list_index: u64,
    /// URL of the status list credential.
    #[serde(rename = "statusListCredential")]
    pub status_list_credential: String,
}

fn index_as_string<S: Serializer>(index: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(index)
}

impl<'de> Deserialize<'de> for StatusEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        StatusEntry::from_json(&value).map_err(serde::de::Error::custom)
    }
}

impl StatusEntry {
    /// The entry Verity writes into a credential: id `<list url>#<index>` (as protocol section
    /// 2 shows), type `BitstringStatusListEntry`.
    pub fn new(list_url: &str, index: u32, purpose: StatusPurpose) -> StatusEntry {
        StatusEntry {
            id: Some(format!("{list_url}#{index}")),
            type_: ENTRY_TYPE.to_owned(),
            status_purpose: purpose.as_str().to_owned(),
            status_list_index: u64::from(index),
            status_list_credential: list_url.to_owned(),
        }
    }

    /// Parses one `credentialStatus` object: `BitstringStatusListEntry`, `StatusList2021Entry`
    /// or `RevocationList2021Status`.
    ///
    /// `RevocationList2021Status` has no `statusPurpose` (it is always `revocation`) and is seen
    /// with either the `statusListIndex`/`statusListCredential` member names (JWT VC
    /// Presentation Profile) or the `revocationListIndex`/`revocationListCredential` names
    /// inherited from RevocationList2020; both are read, and they must agree if both appear.
    pub fn from_json(value: &Value) -> Result<StatusEntry, StatusListError> {
        let Some(obj) = value.as_object() else {
            return Err(StatusListError::entry(
                "credentialStatus",
                format!("must be a JSON object, found {}", json_kind(value)),
            ));
        };
        let type_ = required_str(obj, "type")?;
        let legacy_revocation = match type_ {
            ENTRY_TYPE | STATUS_LIST_2021_ENTRY_TYPE => false,
            REVOCATION_LIST_2021_STATUS_TYPE => true,
            other => {
                return Err(StatusListError::UnknownEntryType {
                    found: other.to_owned(),
                });
            }
        };
        let id = optional_str(obj, "id")?.map(str::to_owned);
        let status_purpose = match optional_str(obj, "statusPurpose")? {
            Some(p) => p.to_owned(),
            None if legacy_revocation => StatusPurpose::Revocation.as_str().to_owned(),
            None => {
                return Err(StatusListError::MissingEntryField {
                    field: "statusPurpose",
                });
            }
        };
        let (index_field, index_value) = if legacy_revocation {
            legacy_member(obj, "statusListIndex", "revocationListIndex")?
        } else {
            ("statusListIndex", obj.get("statusListIndex"))
        };
        let Some(index_value) = index_value else {
            return Err(StatusListError::MissingEntryField {
                field: "statusListIndex",
            });
        };
        let status_list_index = parse_index(index_field, index_value)?;
        let (credential_field, credential_value) = if legacy_revocation {
            legacy_member(obj, "statusListCredential", "revocationListCredential")?
        } else {
            ("statusListCredential", obj.get("statusListCredential"))
        };
        let status_list_credential = match credential_value {
            None => {
                return Err(StatusListError::MissingEntryField {
                    field: "statusListCredential",
                });
            }
            Some(v) => non_empty_str(credential_field, v)?.to_owned(),
        };
        if let Some(size) = obj.get("statusSize")
            && size.as_u64() != Some(1)
        {
            return Err(StatusListError::UnsupportedStatusSize {
                size: size.to_string(),
            });
        }
        Ok(StatusEntry {
            id,
            type_: type_.to_owned(),
            status_purpose,
            status_list_index,
            status_list_credential,
        })
    }

    /// Parses a credential's whole `credentialStatus` value: one entry or an array of entries.
    /// Fails closed: an entry of an unknown type is an error, not skipped, because a status that
    /// cannot be checked cannot be confirmed.
    pub fn parse_credential_status(value: &Value) -> Result<Vec<StatusEntry>, StatusListError> {
        match value {
            Value::Array(items) if items.is_empty() => Err(StatusListError::entry(
                "credentialStatus",
                "the array is empty",
            )),
            Value::Array(items) => items.iter().map(StatusEntry::from_json).collect(),
            other => Ok(vec![StatusEntry::from_json(other)?]),
        }
    }
}

/// Looks up the entry's bit in a verified list (spec section 3.2): the entry must point at that
/// list, its purpose must be one of the list's, and its index must be inside the list.
pub fn check(
    entry: &StatusEntry,
    list: &VerifiedStatusList,
) -> Result<CredentialStatus, StatusListError> {
    if entry.status_list_credential != list.url() {
        return Err(StatusListError::ListMismatch {
            entry_list: entry.status_list_credential.clone(),
            list_url: list.url().to_owned(),
        });
    }
    if !list.has_purpose(&entry.status_purpose) {
        return Err(StatusListError::PurposeMismatch {
            entry: entry.status_purpose.clone(),
            list: list.purposes().join(","),
        });
    }
    let Some(purpose) = StatusPurpose::parse(&entry.status_purpose) else {
        return Err(StatusListError::UnsupportedPurpose {
            purpose: entry.status_purpose.clone(),
        });
    };
    let bits = list.bitstring();
    let out_of_range = || StatusListError::IndexOutOfRange {
        index: entry.status_list_index,
        len: bits.len() as u64,
    };
    let index = usize::try_from(entry.status_list_index).map_err(|_| out_of_range())?;
    let set = bits.get(index)?;
    Ok(match (set, purpose) {
        (false, _) => CredentialStatus::Valid,
        (true, StatusPurpose::Revocation) => CredentialStatus::Revoked,
        (true, StatusPurpose::Suspension) => CredentialStatus::Suspended,
    })
}

/// Reads a legacy member under its current name or its RevocationList2020 name.
fn legacy_member<'a>(
    obj: &'a Map<String, Value>,
    current: &'static str,
    old: &'static str,
) -> Result<(&'static str, Option<&'a Value>), StatusListError> {
    match (obj.get(current), obj.get(old)) {
        (Some(a), Some(b)) if a != b => Err(StatusListError::entry(
            current,
            format!("{current} and {old} are both present and disagree"),
        )),
        (Some(a), _) => Ok((current, Some(a))),
        (None, Some(b)) => Ok((old, Some(b))),
        (None, None) => Ok((current, None)),
    }
}

/// `statusListIndex` MUST be "an arbitrary size integer greater than or equal to 0, expressed as
/// a string in base 10" (spec section 2.1).
fn parse_index(field: &'static str, value: &Value) -> Result<u64, StatusListError> {
    let Some(s) = value.as_str() else {
        if value.as_i64().is_some_and(|n| n < 0) {
            return Err(StatusListError::NegativeIndex {
                value: value.to_string(),
            });
        }
        return Err(StatusListError::entry(
            field,
            format!(
                "must be a string of base-10 digits, found {}",
                json_kind(value)
            ),
        ));
    };
    if let Some(rest) = s.strip_prefix('-')
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(StatusListError::NegativeIndex {
            value: s.to_owned(),
        });
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StatusListError::NonNumericIndex {
            value: s.to_owned(),
        });
    }
    s.parse::<u64>().map_err(|_| {
        StatusListError::entry(field, "the index is larger than any list this crate reads")
    })
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, StatusListError> {
    match obj.get(field) {
        None => Err(StatusListError::MissingEntryField { field }),
        Some(v) => non_empty_str(field, v),
    }
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, StatusListError> {
    obj.get(field).map(|v| non_empty_str(field, v)).transpose()
}

fn non_empty_str<'a>(field: &'static str, v: &'a Value) -> Result<&'a str, StatusListError> {
    match v.as_str() {
        Some("") => Err(StatusListError::entry(field, "must not be empty")),
        Some(s) => Ok(s),
        None => Err(StatusListError::entry(
            field,
            format!("must be a string, found {}", json_kind(v)),
        )),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bitstring, MIN_LIST_BITS, decode};
    use serde_json::json;

    const LIST: &str = "https://example.com/credentials/status/3";

    fn list_with(purposes: &[&str], set: &[usize]) -> VerifiedStatusList {
        let mut bits = Bitstring::new(MIN_LIST_BITS).unwrap();
        for &i in set {
            bits.set(i, true).unwrap();
        }
        VerifiedStatusList::new_for_tests(LIST, purposes, bits)
    }

    /// Bitstring Status List v1.0 (REC 2025-05-15) section 2.1, Example 1: a `credentialStatus`
    /// array with a revocation and a suspension entry.
    #[test]
    fn spec_example_1_entries_parse() {
        let status = json!([{
            "id": "https://example.com/credentials/status/3#94567",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": "https://example.com/credentials/status/3"
        }, {
            "id": "https://example.com/credentials/status/4#23452",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "suspension",
            "statusListIndex": "23452",
            "statusListCredential": "https://example.com/credentials/status/4"
        }]);
        let entries = StatusEntry::parse_credential_status(&status).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            StatusEntry {
                id: Some("https://example.com/credentials/status/3#94567".into()),
                type_: "BitstringStatusListEntry".into(),
                status_purpose: "revocation".into(),
                status_list_index: 94_567,
                status_list_credential: "https://example.com/credentials/status/3".into(),
            }
        );
        assert_eq!(entries[1].status_purpose, "suspension");
        assert_eq!(entries[1].status_list_index, 23_452);
        // The same entry via serde, and back out: the index is written as a string.
        let one: StatusEntry = serde_json::from_value(status[0].clone()).unwrap();
        assert_eq!(serde_json::to_value(&one).unwrap(), status[0]);
    }

    /// Status List 2021 (W3C FPWD 2023-04-27) section 2.1, Example 1.
    #[test]
    fn status_list_2021_entry_parses() {
        let entry = StatusEntry::from_json(&json!({
            "id": "https://example.com/credentials/status/3#94567",
            "type": "StatusList2021Entry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": "https://example.com/credentials/status/3"
        }))
        .unwrap();
        assert_eq!(entry.type_, "StatusList2021Entry");
        assert_eq!(entry.status_list_index, 94_567);
        assert_eq!(entry.status_purpose, "revocation");
    }

    /// DIF JWT VC Presentation Profile, spec/assets/vc_jwt.json (decoded `vc.credentialStatus`):
    /// a `RevocationList2021Status` with `statusListIndex` and a DID URL list, no purpose.
    #[test]
    fn revocation_list_2021_status_parses() {
        let list = "did:ion:EiD7M8RYnUuir2bm21uu-5YmWcqqQEie-T-jYEOEBeEWJQ?service=IdentityHub";
        let entry = StatusEntry::from_json(&json!({
            "id": "urn:uuid:7facf41c-1dc5-486b-87e6-587d015e76d7?bit-index=10",
            "type": "RevocationList2021Status",
            "statusListIndex": "10",
            "statusListCredential": list
        }))
        .unwrap();
        assert_eq!(entry.type_, "RevocationList2021Status");
        assert_eq!(entry.status_purpose, "revocation");
        assert_eq!(entry.status_list_index, 10);
        assert_eq!(entry.status_list_credential, list);
    }

    /// The `revocationListIndex` / `revocationListCredential` member names come from the
    /// RevocationList2020 context (w3c/vc-bitstring-status-list,
    /// contexts/vc-revocation-list-2020/v1.jsonld) and were carried into some
    /// RevocationList2021Status issuers.
    #[test]
    fn revocation_list_member_names_are_read() {
        let entry = StatusEntry::from_json(&json!({
            "id": "https://issuer.example/rl/7#42",
            "type": "RevocationList2021Status",
            "revocationListIndex": "42",
            "revocationListCredential": "https://issuer.example/rl/7"
        }))
        .unwrap();
        assert_eq!(entry.status_list_index, 42);
        assert_eq!(entry.status_list_credential, "https://issuer.example/rl/7");
        // Both spellings may appear if they agree ...
        let both = json!({
            "type": "RevocationList2021Status",
            "statusListIndex": "42", "revocationListIndex": "42",
            "statusListCredential": "https://issuer.example/rl/7"
        });
        assert_eq!(StatusEntry::from_json(&both).unwrap().status_list_index, 42);
        // ... but never disagree.
        let mut conflict = both.clone();
        conflict["revocationListIndex"] = json!("43");
        assert!(matches!(
            StatusEntry::from_json(&conflict),
            Err(StatusListError::MalformedEntry {
                field: "statusListIndex",
                ..
            })
        ));
        // The old names are not read for the current entry type.
        let current = json!({
            "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "revocationListIndex": "42", "statusListCredential": LIST
        });
        assert_eq!(
            StatusEntry::from_json(&current),
            Err(StatusListError::MissingEntryField {
                field: "statusListIndex"
            })
        );
    }

    #[test]
    fn new_entry_matches_the_protocol_shape() {
        let entry = StatusEntry::new(LIST, 94_567, StatusPurpose::Revocation);
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            json!({
                "id": "https://example.com/credentials/status/3#94567",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "94567",
                "statusListCredential": LIST
            })
        );
        let back: StatusEntry =
            serde_json::from_value(serde_json::to_value(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
    }

    fn base() -> Value {
        json!({
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "5",
            "statusListCredential": LIST
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = base();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    #[test]
    fn unknown_types_are_refused() {
        for t in [
            "RevocationList2020Status",
            "CustomStatus",
            "bitstringstatuslistentry",
        ] {
            assert_eq!(
                StatusEntry::from_json(&with("type", json!(t))),
                Err(StatusListError::UnknownEntryType { found: t.into() })
            );
        }
        // Fail closed inside an array too.
        let status = json!([base(), with("type", json!("CustomStatus"))]);
        assert!(matches!(
            StatusEntry::parse_credential_status(&status),
            Err(StatusListError::UnknownEntryType { .. })
        ));
        assert!(matches!(
            StatusEntry::parse_credential_status(&json!([])),
            Err(StatusListError::MalformedEntry { .. })
        ));
    }

    #[test]
    fn missing_members_are_refused() {
        for field in [
            "type",
            "statusPurpose",
            "statusListIndex",
            "statusListCredential",
        ] {
            assert_eq!(
                StatusEntry::from_json(&without(field)),
                Err(StatusListError::MissingEntryField { field }),
                "{field}"
            );
        }
        // StatusList2021Entry requires a purpose as well.
        let mut v = without("statusPurpose");
        v["type"] = json!("StatusList2021Entry");
        assert_eq!(
            StatusEntry::from_json(&v),
            Err(StatusListError::MissingEntryField {
                field: "statusPurpose"
            })
        );
    }

    #[test]
    fn negative_indexes_are_refused() {
        assert_eq!(
            StatusEntry::from_json(&with("statusListIndex", json!("-1"))),
            Err(StatusListError::NegativeIndex { value: "-1".into() })
        );
        assert_eq!(
            StatusEntry::from_json(&with("statusListIndex", json!(-7))),
            Err(StatusListError::NegativeIndex { value: "-7".into() })
        );
    }

    #[test]
    fn non_numeric_indexes_are_refused() {
        for bad in [
            "", "abc", "12a", "+5", " 5", "5 ", "0x10", "1.0", "1e3", "-", "--1", "٣",
        ] {
            assert_eq!(
                StatusEntry::from_json(&with("statusListIndex", json!(bad))),
                Err(StatusListError::NonNumericIndex { value: bad.into() }),
                "{bad:?}"
            );
        }
        // The index is a string in JSON, never a number, boolean or object.
        for bad in [json!(5), json!(true), json!({"n": 5}), json!(null)] {
            assert!(
                matches!(
                    StatusEntry::from_json(&with("statusListIndex", bad.clone())),
                    Err(StatusListError::MalformedEntry {
                        field: "statusListIndex",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // Leading zeros are still base 10; a value beyond u64 cannot address any list.
        let v = with("statusListIndex", json!("007"));
        assert_eq!(StatusEntry::from_json(&v).unwrap().status_list_index, 7);
        let huge = with("statusListIndex", json!("99999999999999999999999"));
        assert!(matches!(
            StatusEntry::from_json(&huge),
            Err(StatusListError::MalformedEntry { .. })
        ));
    }

    #[test]
    fn malformed_members_are_refused() {
        let cases = [
            ("type", json!(["BitstringStatusListEntry"])),
            ("statusPurpose", json!("")),
            ("statusPurpose", json!(1)),
            ("statusListCredential", json!("")),
            ("statusListCredential", json!({"id": LIST})),
            ("id", json!(5)),
        ];
        for (field, value) in cases {
            assert!(
                matches!(
                    StatusEntry::from_json(&with(field, value.clone())),
                    Err(StatusListError::MalformedEntry { field: f, .. }) if f == field
                ),
                "{field} = {value}"
            );
        }
        assert!(matches!(
            StatusEntry::from_json(&json!("https://example.com/status/1")),
            Err(StatusListError::MalformedEntry {
                field: "credentialStatus",
                ..
            })
        ));
        // serde goes through the same checks.
        let err = serde_json::from_value::<StatusEntry>(without("statusListIndex")).unwrap_err();
        assert!(err.to_string().contains("statusListIndex"));
    }

    /// Spec section 2.1 `statusSize`: absent means 1; Verity reads only 1-bit statuses (section
    /// 1.3 allows a processor to support only size 1).
    #[test]
    fn status_size_other_than_one_is_refused() {
        let v = with("statusSize", json!(1));
        assert!(StatusEntry::from_json(&v).is_ok());
        for size in [json!(2), json!(0), json!("1")] {
            assert_eq!(
                StatusEntry::from_json(&with("statusSize", size.clone())),
                Err(StatusListError::UnsupportedStatusSize {
                    size: size.to_string()
                })
            );
        }
    }

    #[test]
    fn check_reports_valid_revoked_and_suspended() {
        let revocations = list_with(&["revocation"], &[5]);
        let revoked = StatusEntry::from_json(&base()).unwrap();
        assert_eq!(
            check(&revoked, &revocations).unwrap(),
            CredentialStatus::Revoked
        );
        assert!(!CredentialStatus::Revoked.is_valid());
        let fine = StatusEntry::from_json(&with("statusListIndex", json!("6"))).unwrap();
        assert_eq!(check(&fine, &revocations).unwrap(), CredentialStatus::Valid);
        assert!(CredentialStatus::Valid.is_valid());

        let suspensions = list_with(&["revocation", "suspension"], &[5]);
        let suspended =
            StatusEntry::from_json(&with("statusPurpose", json!("suspension"))).unwrap();
        assert_eq!(
            check(&suspended, &suspensions).unwrap(),
            CredentialStatus::Suspended
        );
    }

    #[test]
    fn check_refuses_mismatches_and_out_of_range() {
        let list = list_with(&["revocation"], &[]);
        let suspended =
            StatusEntry::from_json(&with("statusPurpose", json!("suspension"))).unwrap();
        assert_eq!(
            check(&suspended, &list),
            Err(StatusListError::PurposeMismatch {
                entry: "suspension".into(),
                list: "revocation".into()
            })
        );
        let elsewhere =
            StatusEntry::new("https://example.com/status/9", 5, StatusPurpose::Revocation);
        assert!(matches!(
            check(&elsewhere, &list),
            Err(StatusListError::ListMismatch { .. })
        ));
        let beyond = StatusEntry::from_json(&with("statusListIndex", json!("131072"))).unwrap();
        assert_eq!(
            check(&beyond, &list),
            Err(StatusListError::IndexOutOfRange {
                index: 131_072,
                len: 131_072
            })
        );
        let far = StatusEntry::from_json(&with("statusListIndex", json!("18446744073709551615")))
            .unwrap();
        assert!(matches!(
            check(&far, &list),
            Err(StatusListError::IndexOutOfRange { .. })
        ));
        let messages = list_with(&["message"], &[]);
        let message = StatusEntry::from_json(&with("statusPurpose", json!("message"))).unwrap();
        assert_eq!(
            check(&message, &messages),
            Err(StatusListError::UnsupportedPurpose {
                purpose: "message".into()
            })
        );
    }

    /// w3c/vc-bitstring-status-list-test-suite: fixtures/should-be-revoked.jsonld (index 201)
    /// against fixtures/status-credentials/single-purpose-ok.jsonld.
    #[test]
    fn test_suite_should_be_revoked() {
        let url =
            "https://w3c-ccg.github.io/vc-api/fixtures/credentials/status/purpose-single-ok.jsonld";
        let bits = decode(
            "H4sIACbOo2YC_-3QMREAMAgEsGerLPyrQgFjB-4SCUkWHQAAAAAAAOCwpwAAAADgrFIAAAAAAAAAAAAAAAAA3wxvOeOvqGEAAA",
            MIN_LIST_BITS,
        )
        .unwrap();
        let list = VerifiedStatusList::new_for_tests(url, &["revocation"], bits);
        let entry = StatusEntry::from_json(&json!({
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "201",
            "statusListCredential": url
        }))
        .unwrap();
        assert_eq!(check(&entry, &list).unwrap(), CredentialStatus::Revoked);
    }

    #[test]
    fn purpose_strings() {
        assert_eq!(
            StatusPurpose::parse("revocation"),
            Some(StatusPurpose::Revocation)
        );
        assert_eq!(
            StatusPurpose::parse("suspension"),
            Some(StatusPurpose::Suspension)
        );
        assert_eq!(StatusPurpose::parse("Revocation"), None);
        assert_eq!(StatusPurpose::Suspension.to_string(), "suspension");
    }
}
