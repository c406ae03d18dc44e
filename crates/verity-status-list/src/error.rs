//! The crate's one error type and its stable codes.

use verity_jose::JoseError;

/// Everything that can go wrong while building, encoding, decoding, signing or checking a status
/// list.
///
/// Messages name the failed check; they never contain a list's contents or a token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusListError {
    /// The bitstring has fewer bits than the minimum in force (herd privacy needs a large list;
    /// the spec's STATUS_LIST_LENGTH_ERROR).
    #[error("status list too short: {bits} bits, the minimum is {min}")]
    ListTooShort {
        /// Length found, in bits.
        bits: u64,
        /// The minimum in force, in bits.
        min: u64,
    },
    /// A new list's length is not a whole number of bytes.
    #[error("status list length {bits} is not a multiple of 8 bits")]
    ListNotByteAligned {
        /// Length asked for, in bits.
        bits: u64,
    },
    /// An index lies outside the list (the spec's RANGE_ERROR).
    #[error("status list index {index} is out of range: the list has {len} entries")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The list length in bits.
        len: u64,
    },
    /// `encodedList` starts with a multibase prefix other than `u` (base64url, no padding).
    #[error(
        "encodedList: multibase prefix {prefix:?} is not supported (expected 'u' for base64url)"
    )]
    UnsupportedMultibase {
        /// The first character of the value.
        prefix: char,
    },
    /// `encodedList` is not valid base64url.
    #[error("encodedList is not valid base64url: {reason}")]
    MalformedBase64 {
        /// The decoder's explanation.
        reason: String,
    },
    /// The decoded bytes do not start with the GZIP magic number (RFC 1952 section 2.3.1).
    #[error("encodedList is not GZIP data: the magic number 1f 8b is missing")]
    NotGzip,
    /// The GZIP stream is damaged: bad header, bad deflate data, checksum or length mismatch,
    /// or trailing bytes after the member.
    #[error("encodedList GZIP stream is corrupt: {reason}")]
    CorruptGzip {
        /// What was wrong.
        reason: String,
    },
    /// Decompression stopped at the size limit (a GZIP bomb, or a list far larger than any
    /// real one).
    #[error("encodedList decompresses to more than the {limit}-byte limit; decoding was stopped")]
    DecompressedTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// The GZIP compressor failed while encoding (writing to memory; not expected in practice).
    #[error("status list compression failed: {reason}")]
    Compression {
        /// The compressor's explanation.
        reason: String,
    },
    /// The status list token is not a well-formed compact JWS/JWT.
    #[error("status list token is malformed: {0}")]
    MalformedToken(JoseError),
    /// The status list token's signature does not verify under the given key.
    #[error("status list signature rejected: {0}")]
    Signature(JoseError),
    /// The status list token is outside its validity window (`exp`, `nbf`, `iat`).
    #[error("status list is not valid at this time: {0}")]
    Validity(JoseError),
    /// Signing the status list credential failed.
    #[error("status list signing failed: {0}")]
    Signing(JoseError),
    /// A member of the list credential is missing or has the wrong shape.
    #[error("status list credential: {field} is invalid: {reason}")]
    MalformedCredential {
        /// The JSON member, e.g. `"vc.credentialSubject.encodedList"`.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The credential's `type` names neither `BitstringStatusListCredential` nor
    /// `StatusList2021Credential`.
    #[error(
        "status list credential type {found} includes neither BitstringStatusListCredential nor \
         StatusList2021Credential"
    )]
    WrongCredentialType {
        /// The `type` value as found (JSON).
        found: String,
    },
    /// `credentialSubject.type` is not a status list type.
    #[error(
        "status list credentialSubject.type {found} is not BitstringStatusList \
         (or StatusList2021 / RevocationList2021)"
    )]
    WrongSubjectType {
        /// The `type` value as found (JSON).
        found: String,
    },
    /// The list credential does not identify itself as the URL it was fetched from, so it could
    /// be another list of the same issuer served in its place.
    #[error("status list {field} is {found:?}, but the list was fetched from {expected:?}")]
    UrlMismatch {
        /// Which member was compared (`"vc.id"`, `"jti"`, `"vc.credentialSubject.id"`).
        field: &'static str,
        /// The URL the caller fetched.
        expected: String,
        /// The value found (`None` when the list names no URL at all).
        found: Option<String>,
    },
    /// `iss` disagrees with another statement of the issuer (`vc.issuer`, or the DID in `kid`).
    #[error("status list issuer mismatch: iss is {iss:?} but {field} says {other:?}")]
    IssuerMismatch {
        /// The token's `iss`.
        iss: String,
        /// The member that disagrees.
        field: &'static str,
        /// Its value.
        other: String,
    },
    /// A `credentialStatus` entry has a type this crate does not read.
    #[error(
        "credentialStatus type {found:?} is not supported (supported: BitstringStatusListEntry, \
         StatusList2021Entry, RevocationList2021Status)"
    )]
    UnknownEntryType {
        /// The type as found (JSON).
        found: String,
    },
    /// A required `credentialStatus` member is absent.
    #[error("credentialStatus.{field} is required but missing")]
    MissingEntryField {
        /// The member name.
        field: &'static str,
    },
    /// A `credentialStatus` member has the wrong JSON type or an unusable value.
    #[error("credentialStatus.{field} is invalid: {reason}")]
    MalformedEntry {
        /// The member name.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// `statusListIndex` is negative.
    #[error("credentialStatus.statusListIndex {value:?} is negative")]
    NegativeIndex {
        /// The value as found.
        value: String,
    },
    /// `statusListIndex` is not a base-10 integer.
    #[error("credentialStatus.statusListIndex {value:?} is not a base-10 integer string")]
    NonNumericIndex {
        /// The value as found (JSON).
        value: String,
    },
    /// `statusSize` other than 1 (multi-bit status messages are not supported).
    #[error("statusSize {size} is not supported: only 1-bit statuses are read")]
    UnsupportedStatusSize {
        /// The value as found (JSON).
        size: String,
    },
    /// The entry's purpose is not one of the list's purposes (the spec's
    /// STATUS_VERIFICATION_ERROR).
    #[error("status purpose mismatch: the entry says {entry:?}, the list covers {list:?}")]
    PurposeMismatch {
        /// The entry's `statusPurpose`.
        entry: String,
        /// The list's purposes, comma-separated.
        list: String,
    },
    /// The entry points at a different list than the one it is being checked against.
    #[error(
        "the entry's statusListCredential {entry_list:?} is not the verified list {list_url:?}"
    )]
    ListMismatch {
        /// The entry's `statusListCredential`.
        entry_list: String,
        /// The verified list's URL.
        list_url: String,
    },
    /// A purpose whose set bit has no meaning here (e.g. `message`, `refresh`).
    #[error("status purpose {purpose:?} is not supported (supported: revocation, suspension)")]
    UnsupportedPurpose {
        /// The purpose.
        purpose: String,
    },
    /// A caller-supplied argument is unusable.
    #[error("invalid argument {name}: {reason}")]
    InvalidParameter {
        /// The parameter name.
        name: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The token is another kind of token than a status list credential (its `typ`, or a
    /// claim only other kinds carry).
    #[error("status list token is not a status list credential: {0}")]
    WrongKind(JoseError),
    /// A Token Status List with `bits` other than 1, 2, 4 or 8.
    #[error("status_list.bits {bits} is not supported: it must be 1, 2, 4 or 8")]
    UnsupportedBits {
        /// The value as found (JSON).
        bits: String,
    },
    /// `status_list.lst` is not a ZLIB stream (RFC 1950), or it is damaged.
    #[error("status_list.lst is not a valid ZLIB stream: {reason}")]
    CorruptZlib {
        /// What was wrong.
        reason: String,
    },
    /// A member of a Token Status List token is missing or has the wrong shape.
    #[error("status list token: {field} is invalid: {reason}")]
    MalformedListToken {
        /// The claim, e.g. `"status_list.lst"`.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The token's `sub` is not the URI it was fetched from (another list served in its place).
    #[error("status list token sub is {found:?}, but the list was fetched from {expected:?}")]
    SubjectMismatch {
        /// The URI the caller fetched.
        expected: String,
        /// The token's `sub`.
        found: String,
    },
    /// A referenced token's `status.status_list` is missing or has the wrong shape.
    #[error("status.status_list.{field} is invalid: {reason}")]
    MalformedReference {
        /// The member (`idx`, `uri`).
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl StatusListError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            StatusListError::ListTooShort { .. } => "STATUS-001",
            StatusListError::ListNotByteAligned { .. } => "STATUS-002",
            StatusListError::IndexOutOfRange { .. } => "STATUS-003",
            StatusListError::UnsupportedMultibase { .. } => "STATUS-004",
            StatusListError::MalformedBase64 { .. } => "STATUS-005",
            StatusListError::NotGzip => "STATUS-006",
            StatusListError::CorruptGzip { .. } => "STATUS-007",
            StatusListError::DecompressedTooLarge { .. } => "STATUS-008",
            StatusListError::Compression { .. } => "STATUS-009",
            StatusListError::MalformedToken(_) => "STATUS-010",
            StatusListError::Signature(_) => "STATUS-011",
            StatusListError::Validity(_) => "STATUS-012",
            StatusListError::Signing(_) => "STATUS-013",
            StatusListError::MalformedCredential { .. } => "STATUS-014",
            StatusListError::WrongCredentialType { .. } => "STATUS-015",
            StatusListError::WrongSubjectType { .. } => "STATUS-016",
            StatusListError::UrlMismatch { .. } => "STATUS-017",
            StatusListError::IssuerMismatch { .. } => "STATUS-018",
            StatusListError::UnknownEntryType { .. } => "STATUS-019",
            StatusListError::MissingEntryField { .. } => "STATUS-020",
            StatusListError::MalformedEntry { .. } => "STATUS-021",
            StatusListError::NegativeIndex { .. } => "STATUS-022",
            StatusListError::NonNumericIndex { .. } => "STATUS-023",
            StatusListError::UnsupportedStatusSize { .. } => "STATUS-024",
            StatusListError::PurposeMismatch { .. } => "STATUS-025",
            StatusListError::ListMismatch { .. } => "STATUS-026",
            StatusListError::UnsupportedPurpose { .. } => "STATUS-027",
            StatusListError::InvalidParameter { .. } => "STATUS-028",
            StatusListError::WrongKind(_) => "STATUS-029",
            StatusListError::UnsupportedBits { .. } => "STATUS-030",
            StatusListError::CorruptZlib { .. } => "STATUS-031",
            StatusListError::MalformedListToken { .. } => "STATUS-032",
            StatusListError::SubjectMismatch { .. } => "STATUS-033",
            StatusListError::MalformedReference { .. } => "STATUS-034",
        }
    }

    /// The inner JOSE error, when the failure came from token handling.
    pub fn jose(&self) -> Option<&JoseError> {
        match self {
            StatusListError::MalformedToken(e)
            | StatusListError::Signature(e)
            | StatusListError::Validity(e)
            | StatusListError::Signing(e)
            | StatusListError::WrongKind(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn credential(field: &'static str, reason: impl Into<String>) -> Self {
        StatusListError::MalformedCredential {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn entry(field: &'static str, reason: impl Into<String>) -> Self {
        StatusListError::MalformedEntry {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the code table: a failing line here means a code was renumbered.
    #[test]
    fn code_table_is_stable() {
        let s = String::new;
        let j = || JoseError::MissingClaim("exp");
        let table: Vec<(StatusListError, &str)> = vec![
            (
                StatusListError::ListTooShort { bits: 8, min: 16 },
                "STATUS-001",
            ),
            (
                StatusListError::ListNotByteAligned { bits: 9 },
                "STATUS-002",
            ),
            (
                StatusListError::IndexOutOfRange { index: 9, len: 8 },
                "STATUS-003",
            ),
            (
                StatusListError::UnsupportedMultibase { prefix: 'z' },
                "STATUS-004",
            ),
            (
                StatusListError::MalformedBase64 { reason: s() },
                "STATUS-005",
            ),
            (StatusListError::NotGzip, "STATUS-006"),
            (StatusListError::CorruptGzip { reason: s() }, "STATUS-007"),
            (
                StatusListError::DecompressedTooLarge { limit: 1 },
                "STATUS-008",
            ),
            (StatusListError::Compression { reason: s() }, "STATUS-009"),
            (StatusListError::MalformedToken(j()), "STATUS-010"),
            (StatusListError::Signature(j()), "STATUS-011"),
            (StatusListError::Validity(j()), "STATUS-012"),
            (StatusListError::Signing(j()), "STATUS-013"),
            (StatusListError::credential("vc", ""), "STATUS-014"),
            (
                StatusListError::WrongCredentialType { found: s() },
                "STATUS-015",
            ),
            (
                StatusListError::WrongSubjectType { found: s() },
                "STATUS-016",
            ),
            (
                StatusListError::UrlMismatch {
                    field: "vc.id",
                    expected: s(),
                    found: None,
                },
                "STATUS-017",
            ),
            (
                StatusListError::IssuerMismatch {
                    iss: s(),
                    field: "vc.issuer",
                    other: s(),
                },
                "STATUS-018",
            ),
            (
                StatusListError::UnknownEntryType { found: s() },
                "STATUS-019",
            ),
            (
                StatusListError::MissingEntryField { field: "type" },
                "STATUS-020",
            ),
            (StatusListError::entry("type", ""), "STATUS-021"),
            (StatusListError::NegativeIndex { value: s() }, "STATUS-022"),
            (
                StatusListError::NonNumericIndex { value: s() },
                "STATUS-023",
            ),
            (
                StatusListError::UnsupportedStatusSize { size: s() },
                "STATUS-024",
            ),
            (
                StatusListError::PurposeMismatch {
                    entry: s(),
                    list: s(),
                },
                "STATUS-025",
            ),
            (
                StatusListError::ListMismatch {
                    entry_list: s(),
                    list_url: s(),
                },
                "STATUS-026",
            ),
            (
                StatusListError::UnsupportedPurpose { purpose: s() },
                "STATUS-027",
            ),
            (
                StatusListError::InvalidParameter {
                    name: "url",
                    reason: s(),
                },
                "STATUS-028",
            ),
            (StatusListError::WrongKind(j()), "STATUS-029"),
        ];
        for (err, code) in &table {
            assert_eq!(err.code(), *code, "{err:?}");
        }
        let mut codes: Vec<_> = table.iter().map(|(e, _)| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), table.len(), "codes must be unique");
    }

    #[test]
    fn jose_errors_are_reachable_and_messages_name_the_check() {
        let e = StatusListError::Validity(JoseError::Expired { exp: 1, now: 2 });
        assert_eq!(e.jose(), Some(&JoseError::Expired { exp: 1, now: 2 }));
        assert!(e.to_string().contains("not valid at this time"));
        assert_eq!(StatusListError::NotGzip.jose(), None);
        let e = StatusListError::ListTooShort {
            bits: 200,
            min: 131_072,
        };
        assert!(e.to_string().contains("200") && e.to_string().contains("131072"));
    }
}
