//! W3C Bitstring Status List v1.0 for Verity: the bitstring, its `encodedList` encoding, the
//! status list credential as a VC-JWT, `credentialStatus` entries, and index allocation. Pure
//! logic: no HTTP, no SQL, and time is always a parameter.
//!
//! Issuing pipeline:
//! 1. [`pick_free_index`] chooses a random unused index for a new credential (the store records
//!    it); [`StatusEntry::new`] is the `credentialStatus` written into the credential.
//! 2. On revocation the store sets the bit in the list's [`Bitstring`] (index 0 = most
//!    significant bit of byte 0, 1 = revoked).
//! 3. [`sign_status_list`] encodes the list ([`encode`]: `"u"` + base64url(GZIP(bits))), wraps
//!    it in a `BitstringStatusListCredential` ([`StatusListCredential`]) and signs it with a
//!    [`verity_jose::Signer`]; the JWT is published at the list URL.
//!
//! Verifying pipeline:
//! 1. [`StatusEntry::parse_credential_status`] reads the credential's `credentialStatus`
//!    (`BitstringStatusListEntry`, or for read compatibility `StatusList2021Entry` and
//!    `RevocationList2021Status`).
//! 2. The caller fetches `statusListCredential`; [`parse_status_list_jwt`] yields `iss` and `kid`
//!    so the caller can resolve the issuer's key.
//! 3. [`UnverifiedStatusList::verify`] checks signature, validity window, credential type,
//!    issuer, that the list names the URL it was fetched from, and purposes, then [`decode`]s the
//!    list with a GZIP-bomb limit ([`DecodeLimits`]) and the 131,072-entry minimum.
//! 4. [`check`] reads the entry's bit from the [`VerifiedStatusList`]: [`CredentialStatus`].
//!
//! The IETF Token Status List (the status of SD-JWT VCs) is [`TokenStatusList`]: 1-8 bit
//! entries, ZLIB, least significant bits first, signed as a `statuslist+jwt`
//! ([`sign_list_token`], [`verify_list_token`], [`StatusReference`]).
//!
//! Every failure is a [`StatusListError`] with a stable `STATUS-0xx` code.

mod alloc;
mod bitstring;
mod codec;
mod credential;
mod entry;
mod error;
mod token;

pub use alloc::{RANDOM_PROBES, pick_free_index};
pub use bitstring::{Bitstring, MIN_LIST_BITS};
pub use codec::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecodeLimits, decode, decode_with_limits, encode};
pub use credential::{
    CREDENTIAL_TYPE, REVOCATION_LIST_2021_SUBJECT_TYPE, STATUS_CONTEXT_V1,
    STATUS_LIST_2021_CREDENTIAL_TYPE, STATUS_LIST_2021_SUBJECT_TYPE, SUBJECT_TYPE,
    StatusListCredential, TYP_VC_JWT, UnverifiedStatusList, VC_CONTEXT_V1, VC_CONTEXT_V2,
    VerifiedStatusList, parse_status_list_jwt, sign_status_list, sign_status_list_v2,
    verify_status_list,
};
pub use entry::{
    CredentialStatus, ENTRY_TYPE, REVOCATION_LIST_2021_STATUS_TYPE, STATUS_LIST_2021_ENTRY_TYPE,
    StatusEntry, StatusPurpose, check,
};
pub use error::StatusListError;
pub use token::{
    StatusReference, TokenStatus, TokenStatusList, VerifiedListToken, list_token_signer,
    sign_list_token, verify_list_token,
};
