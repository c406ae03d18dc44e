//! IETF SD-JWT (RFC 9901, "Selective Disclosure for JSON Web Tokens") and its SD-JWT VC profile
//! (draft-ietf-oauth-sd-jwt-vc: `typ` `dc+sd-jwt`, `vct`, `cnf`, `iss`, `iat`, `exp`, `status`),
//! over Verity's own JOSE ([`verity_jose`]).
//!
//! Pipeline:
//! 1. **Issuer** — [`SdJwtBuilder`]: a claims object, the [`ClaimPath`]s that become selectively
//!    disclosable (top-level and nested members, array elements, recursively), decoys and the
//!    holder key; [`Disclosure`]s with 128-bit salts from a caller-supplied RNG or the OS; sorted
//!    `_sd` arrays and `{"...": digest}` elements; signed through the [`verity_jose::Signer`]
//!    seam (local key or KMS). Output `<issuer-jwt>~<disclosure>~...~`.
//! 2. **Holder** — [`SdJwt::parse`] reads what the Issuer sent (an SD-JWT+KB is refused),
//!    [`SdJwt::present`] keeps only the Disclosures needed for the chosen claim paths, and
//!    [`Presentation::with_key_binding`] appends a KB-JWT (`typ` `kb+jwt`, `iat`, `aud`,
//!    `nonce`, `sd_hash`) signed with the `cnf.jwk` key.
//! 3. **Verifier** — [`verify`] (key from an [`IssuerKeyLookup`]) or [`verify_with_issuer_key`]:
//!    size and `~` structure; Key Binding presence decided by [`KeyBindingPolicy`], never by the
//!    presentation; issuer signature (algorithm from the key) and explicit `typ`; `_sd_alg`;
//!    every Disclosure well-formed, referenced **exactly once** (an unreferenced Disclosure is
//!    rejected, RFC 9901 section 7.1 step 5), no digest twice, no name collision, no `_sd`/`...`
//!    names, recursion; SD-JWT VC rules ([`Profile::SdJwtVc`]); `exp`/`nbf`/`iat` against the
//!    caller's `now` with skew; then the KB-JWT: signature by `cnf.jwk`, `typ`, `iat` window,
//!    `aud`, `nonce`, `sd_hash`, its own times. Output [`VerifiedSdJwt`]: the Processed SD-JWT
//!    Payload plus issuer, `vct`, `cnf`, holder key and `status` for the caller's status check.
//!
//! Time is always a parameter (Unix seconds); nothing here reads the clock. Errors are one
//! [`SdJwtError`] variant per check with a stable `SDJWT-0xx` code; messages never contain
//! claim values, salts, nonces or keys.

mod compact;
mod disclosure;
mod error;
mod hash;
mod issue;
mod path;
mod present;
mod process;
mod verify;

pub use disclosure::{Disclosure, RESERVED_DISCLOSURE_NAMES, SALT_BYTES};
pub use error::{DisclosureFormatError, SdJwtError};
pub use hash::HashAlg;
pub use issue::{IssuedSdJwt, PreparedSdJwt, SdJwtBuilder};
pub use path::{ClaimPath, PathElement};
pub use present::{KeyBindingClaims, Presentation, SdJwt};
pub use process::MAX_NESTING_DEPTH;
pub use verify::{
    DEFAULT_KB_MAX_AGE_SECS, DEFAULT_MAX_PRESENTATION_BYTES, DEFAULT_SKEW_SECS, IssuerKeyLookup,
    KeyBindingPolicy, KeyLookupError, Profile, StaticIssuerKeys, StatusListRef, VerifiedKeyBinding,
    VerifiedSdJwt, VerifyOptions, verify, verify_with_issuer_key,
};

/// `typ` of an SD-JWT VC's Issuer-signed JWT (draft-ietf-oauth-sd-jwt-vc section 2.2.1).
pub const SD_JWT_VC_TYP: &str = "dc+sd-jwt";
/// The pre-2024 SD-JWT VC `typ`, accepted only when [`Profile::SdJwtVc`] says so.
pub const SD_JWT_VC_LEGACY_TYP: &str = "vc+sd-jwt";
/// `typ` of a Key Binding JWT (RFC 9901 section 4.3).
pub const KB_JWT_TYP: &str = "kb+jwt";
/// Claims an SD-JWT VC must never carry in a Disclosure, nor anything below them
/// (draft-ietf-oauth-sd-jwt-vc section 2.2.2.3).
pub const SD_JWT_VC_NON_DISCLOSABLE: [&str; 8] = [
    "iss",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "aka_vcts",
    "status",
];
