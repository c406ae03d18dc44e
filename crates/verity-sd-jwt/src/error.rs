//! The crate's error type: one variant per check, each with a stable `SDJWT-0xx` code.
//!
//! Messages name the failed check and the claim (by name or path) or Disclosure (by position in
//! the presentation and by digest) involved. They never contain claim values, salts, nonces,
//! tokens or key material.

use verity_jose::JoseError;

/// Why a Disclosure string is not a well-formed Disclosure (RFC 9901 sections 4.2.1, 4.2.2,
/// 7.1 step 3.3).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisclosureFormatError {
    /// Not unpadded base64url.
    #[error("it is not unpadded base64url")]
    NotBase64Url,
    /// The decoded bytes are not JSON.
    #[error("it does not decode to JSON: {reason}")]
    NotJson {
        /// The parser's explanation (a position, never the content).
        reason: String,
    },
    /// The JSON is not an array.
    #[error("it is not a JSON array")]
    NotAnArray,
    /// The array has neither 2 (array element) nor 3 (object property) members.
    #[error("it is an array of {len} elements; a Disclosure has 2 or 3")]
    WrongLength {
        /// The array's length.
        len: usize,
    },
    /// The first element (the salt) is not a string.
    #[error("its salt (first element) is not a string")]
    SaltNotString,
    /// The second element of a three-element Disclosure (the claim name) is not a string.
    #[error("its claim name (second element) is not a string")]
    NameNotString,
    /// The claim name is `_sd` or `...`.
    #[error("its claim name is {name:?}, which a Disclosure must never carry")]
    ReservedName {
        /// The claim name.
        name: String,
    },
}

/// Everything that can go wrong issuing, presenting or verifying an SD-JWT.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdJwtError {
    // ---- serialization ----
    /// The presentation is longer than the configured limit; nothing was decoded.
    #[error("size check failed: the SD-JWT is {len} bytes, the limit is {max}")]
    PresentationTooLarge {
        /// Length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// No `~` at all: this is a bare JWT, not an SD-JWT (RFC 9901 section 4).
    #[error(
        "format check failed: an SD-JWT is `<issuer-jwt>~<disclosures>~[<kb-jwt>]`; no `~` found"
    )]
    MissingSeparator,
    /// A Disclosure component between two `~` is empty (RFC 9901 section 4, ABNF).
    #[error("format check failed: disclosure #{index} is empty (`~~`)")]
    EmptyDisclosure {
        /// Zero-based position among the Disclosures.
        index: usize,
    },
    /// The Issuer-signed JWT is not a parseable compact JWS.
    #[error("issuer-signed JWT is malformed: {0}")]
    IssuerJwtMalformed(JoseError),
    /// A Disclosure failed a shape check.
    #[error("disclosure check failed: disclosure #{index} is malformed: {source}")]
    MalformedDisclosure {
        /// Zero-based position among the Disclosures.
        index: usize,
        /// The failed shape check.
        source: DisclosureFormatError,
    },

    // ---- the Issuer-signed JWT ----
    /// The profile requires `iss` (a string) and it is absent or not a string.
    #[error("issuer check failed: the issuer-signed JWT has no `iss` string")]
    MissingIssuer,
    /// The key lookup ran and knows no key for this issuer/kid.
    #[error("issuer key check failed: no key for this issuer: {reason}")]
    IssuerKeyNotFound {
        /// The lookup's explanation.
        reason: String,
    },
    /// The key lookup could not complete (outage): not a verdict on the credential; retryable.
    #[error("issuer key lookup could not complete (retryable): {reason}")]
    IssuerKeyUnavailable {
        /// The lookup's explanation.
        reason: String,
    },
    /// The Issuer-signed JWT's signature (or algorithm) does not verify with the issuer's key.
    #[error("issuer signature check failed: {0}")]
    IssuerSignature(JoseError),
    /// The Issuer-signed JWT's `typ` is not the one the profile requires (explicit typing).
    #[error(
        "typ check failed: the issuer-signed JWT must have typ {expected}, found {}",
        found.as_deref().map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
    )]
    IssuerTyp {
        /// The accepted value(s).
        expected: String,
        /// The header's `typ`, if any.
        found: Option<String>,
    },
    /// The Issuer-signed JWT's payload is not a JSON object.
    #[error("payload check failed: the issuer-signed JWT payload is not a JSON object: {reason}")]
    PayloadNotObject {
        /// What was wrong.
        reason: String,
    },
    /// `_sd_alg` names a hash algorithm that is not supported (or is not a string).
    #[error(
        "_sd_alg check failed: {alg:?} is not supported (supported: sha-256, sha-384, sha-512)"
    )]
    UnsupportedSdAlg {
        /// The value as given (JSON-rendered when not a string).
        alg: String,
    },
    /// `_sd_alg` appears below the top level, or as a disclosed claim name.
    #[error(
        "_sd_alg check failed: `_sd_alg` may appear only at the top level of the issuer-signed JWT, found at {path}"
    )]
    MisplacedSdAlg {
        /// Where it was found.
        path: String,
    },

    // ---- processing the Disclosures (RFC 9901 section 7.1 step 3-5) ----
    /// An `_sd` member is not an array of strings.
    #[error("digest check failed: `_sd` at {path} is not an array of digest strings")]
    MalformedSdArray {
        /// The object holding the `_sd` member.
        path: String,
    },
    /// A `...` member outside an array-element digest object, or a digest object with other
    /// members or a non-string digest.
    #[error(
        "digest check failed: `...` at {path} is not an array element of the form {{\"...\": \"<digest>\"}}"
    )]
    MalformedArrayDigest {
        /// Where it was found.
        path: String,
    },
    /// The same digest occurs twice in the payload (directly or via Disclosures).
    #[error("digest check failed: digest {digest} occurs more than once in the SD-JWT")]
    DuplicateDigest {
        /// The repeated digest.
        digest: String,
    },
    /// The same Disclosure is presented twice.
    #[error(
        "disclosure check failed: disclosure #{index} (digest {digest}) is presented more than once"
    )]
    DuplicateDisclosure {
        /// Zero-based position of the repeat.
        index: usize,
        /// Its digest.
        digest: String,
    },
    /// A Disclosure whose digest is nowhere in the Issuer-signed JWT or in another presented
    /// Disclosure (RFC 9901 section 7.1 step 5: rejected, never ignored).
    #[error(
        "disclosure check failed: disclosure #{index} (digest {digest}) is not referenced by any digest in the issuer-signed JWT or in another disclosure"
    )]
    UnreferencedDisclosure {
        /// Zero-based position among the Disclosures.
        index: usize,
        /// Its digest.
        digest: String,
    },
    /// A three-element Disclosure referenced from an array, or a two-element one from `_sd`.
    #[error(
        "disclosure check failed: the disclosure with digest {digest} at {path} must be {expected}"
    )]
    DisclosureKindMismatch {
        /// Its digest.
        digest: String,
        /// Where its digest was found.
        path: String,
        /// What the position requires.
        expected: &'static str,
    },
    /// A disclosed claim name already exists in the object it is inserted into.
    #[error(
        "disclosure check failed: disclosed claim {name:?} already exists in the object at {path}"
    )]
    ClaimNameCollision {
        /// The claim name.
        name: String,
        /// The object it collides in.
        path: String,
    },
    /// SD-JWT VC: a claim that must never be selectively disclosed came from a Disclosure.
    #[error(
        "SD-JWT VC check failed: {name:?} (or a member of it) must not be selectively disclosed"
    )]
    NonDisclosableClaim {
        /// The top-level claim name.
        name: String,
    },
    /// Objects, arrays and Disclosures nest deeper than the limit.
    #[error("nesting check failed: the payload nests deeper than {max} levels")]
    NestingTooDeep {
        /// The limit.
        max: usize,
    },

    // ---- validity ----
    /// `exp` has passed (beyond the skew).
    #[error("validity check failed: expired, exp {exp} is not after now {now} (with skew)")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The time of the check.
        now: i64,
    },
    /// `nbf` is in the future (beyond the skew).
    #[error("validity check failed: not yet valid, nbf {nbf} is after now {now} (with skew)")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The time of the check.
        now: i64,
    },
    /// `iat` is in the future (beyond the skew).
    #[error(
        "validity check failed: issued in the future, iat {iat} is after now {now} (with skew)"
    )]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// `exp` is required by the options and absent.
    #[error("validity check failed: `exp` is required and absent")]
    MissingExpiry,
    /// A time claim is not a NumericDate.
    #[error("validity check failed: {claim:?} must be a NumericDate (JSON number)")]
    BadTimeClaim {
        /// The claim.
        claim: String,
    },

    // ---- SD-JWT VC claims ----
    /// `vct` is absent, not a string, or empty.
    #[error("SD-JWT VC check failed: `vct` is required and must be a non-empty string ({reason})")]
    InvalidVct {
        /// What is wrong.
        reason: &'static str,
    },
    /// `status` is not a status claim of the expected shape.
    #[error("status check failed: {reason}")]
    MalformedStatus {
        /// What is wrong.
        reason: &'static str,
    },
    /// `cnf` is not an object.
    #[error("cnf check failed: {reason}")]
    MalformedCnf {
        /// What is wrong.
        reason: &'static str,
    },
    /// Key binding is required and `cnf` has no `jwk`.
    #[error(
        "cnf check failed: key binding is required but the SD-JWT has no `cnf.jwk` holder key (only the jwk confirmation method is supported)"
    )]
    HolderKeyMissing,
    /// `cnf.jwk` is not a valid public key.
    #[error("cnf check failed: `cnf.jwk` is not a valid public JWK: {0}")]
    HolderKeyInvalid(JoseError),

    // ---- Key Binding JWT (RFC 9901 section 7.3) ----
    /// Key binding is required and the presentation ends in `~` (no KB-JWT).
    #[error("key binding check failed: key binding is required but no KB-JWT was presented")]
    KeyBindingMissing,
    /// A KB-JWT was presented where the caller expects a bare SD-JWT (RFC 9901 section 4: the
    /// last component must then be empty).
    #[error(
        "key binding check failed: a KB-JWT was presented but this recipient expects an SD-JWT without one"
    )]
    UnexpectedKeyBinding,
    /// The KB-JWT is not a parseable compact JWS.
    #[error("key binding check failed: the KB-JWT is malformed: {0}")]
    KeyBindingMalformed(JoseError),
    /// The KB-JWT's signature does not verify with the `cnf.jwk` holder key.
    #[error(
        "key binding check failed: the KB-JWT signature does not verify with the cnf holder key: {0}"
    )]
    KeyBindingSignature(JoseError),
    /// The KB-JWT's `typ` is not `kb+jwt`.
    #[error(
        "key binding check failed: the KB-JWT typ must be \"kb+jwt\", found {}",
        found.as_deref().map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
    )]
    KeyBindingTyp {
        /// The header's `typ`, if any.
        found: Option<String>,
    },
    /// A required KB-JWT claim is absent or has the wrong type.
    #[error("key binding check failed: KB-JWT claim `{claim}` {problem}")]
    KeyBindingClaim {
        /// The claim.
        claim: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The KB-JWT's `aud` is not this verifier.
    #[error("key binding check failed: KB-JWT aud is {found:?}, expected {expected:?}")]
    KeyBindingAudience {
        /// The expected audience.
        expected: String,
        /// The KB-JWT's `aud`.
        found: String,
    },
    /// The KB-JWT's `nonce` is not this transaction's nonce.
    #[error("key binding check failed: KB-JWT nonce does not match the expected nonce")]
    KeyBindingNonce,
    /// The KB-JWT's `iat` is older than the accepted window.
    #[error(
        "key binding check failed: KB-JWT iat {iat} is older than {max_age}s (plus skew) before now {now}"
    )]
    KeyBindingStale {
        /// The KB-JWT's `iat`.
        iat: i64,
        /// The time of the check.
        now: i64,
        /// The window in seconds.
        max_age: i64,
    },
    /// The KB-JWT's `iat` is in the future (beyond the skew).
    #[error("key binding check failed: KB-JWT iat {iat} is after now {now} (with skew)")]
    KeyBindingInFuture {
        /// The KB-JWT's `iat`.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// The KB-JWT's `sd_hash` is not the hash of the presented SD-JWT.
    #[error(
        "key binding check failed: KB-JWT sd_hash does not match the presented issuer-signed JWT and disclosures"
    )]
    KeyBindingSdHash,
    /// The KB-JWT's own `exp`/`nbf` fail.
    #[error("key binding check failed: the KB-JWT is not valid at this time: {0}")]
    KeyBindingTimes(JoseError),

    // ---- issuing and presenting ----
    /// The claims given to the builder are not usable.
    #[error("issuance failed: {reason}")]
    InvalidClaims {
        /// What is wrong.
        reason: String,
    },
    /// Input claims contain `_sd`, `...` or `_sd_alg`, which SD-JWT reserves.
    #[error(
        "issuance failed: the claim at {path} uses a name SD-JWT reserves (`_sd`, `...`, `_sd_alg`)"
    )]
    ReservedClaimName {
        /// Where.
        path: String,
    },
    /// A claim path names no claim.
    #[error("claim path check failed: {path} names no claim")]
    UnknownClaimPath {
        /// The path.
        path: String,
    },
    /// A claim path that must not be made selectively disclosable.
    #[error("issuance failed: {path} must not be selectively disclosable: {reason}")]
    NotDisclosable {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A claim path's JSON form is invalid.
    #[error("claim path check failed: {reason}")]
    InvalidClaimPath {
        /// What is wrong.
        reason: String,
    },
    /// JSON serialization failed.
    #[error("encoding failed: {reason}")]
    Encode {
        /// The serializer's explanation.
        reason: String,
    },
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signing(JoseError),
    /// The random number generator failed.
    #[error("random number generation failed: {reason}")]
    Random {
        /// The generator's explanation.
        reason: String,
    },
    /// The Holder tried to bind a presentation with a key other than the one in `cnf.jwk`.
    #[error("key binding failed: the signing key is not the SD-JWT's cnf.jwk holder key")]
    HolderKeyMismatch,
}

impl SdJwtError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        use DisclosureFormatError as D;
        match self {
            SdJwtError::PresentationTooLarge { .. } => "SDJWT-001",
            SdJwtError::MissingSeparator => "SDJWT-002",
            SdJwtError::EmptyDisclosure { .. } => "SDJWT-003",
            SdJwtError::IssuerJwtMalformed(_) => "SDJWT-004",
            SdJwtError::MalformedDisclosure { source, .. } => match source {
                D::NotBase64Url => "SDJWT-050",
                D::NotJson { .. } => "SDJWT-051",
                D::NotAnArray => "SDJWT-052",
                D::WrongLength { .. } => "SDJWT-053",
                D::SaltNotString => "SDJWT-054",
                D::NameNotString => "SDJWT-055",
                D::ReservedName { .. } => "SDJWT-056",
            },
            SdJwtError::MissingIssuer => "SDJWT-006",
            SdJwtError::IssuerKeyNotFound { .. } => "SDJWT-007",
            SdJwtError::IssuerKeyUnavailable { .. } => "SDJWT-008",
            SdJwtError::IssuerSignature(_) => "SDJWT-009",
            SdJwtError::IssuerTyp { .. } => "SDJWT-010",
            SdJwtError::PayloadNotObject { .. } => "SDJWT-011",
            SdJwtError::UnsupportedSdAlg { .. } => "SDJWT-012",
            SdJwtError::MisplacedSdAlg { .. } => "SDJWT-013",
            SdJwtError::MalformedSdArray { .. } => "SDJWT-014",
            SdJwtError::MalformedArrayDigest { .. } => "SDJWT-015",
            SdJwtError::DuplicateDigest { .. } => "SDJWT-016",
            SdJwtError::DuplicateDisclosure { .. } => "SDJWT-017",
            SdJwtError::UnreferencedDisclosure { .. } => "SDJWT-018",
            SdJwtError::DisclosureKindMismatch { .. } => "SDJWT-019",
            SdJwtError::ClaimNameCollision { .. } => "SDJWT-020",
            SdJwtError::NonDisclosableClaim { .. } => "SDJWT-021",
            SdJwtError::NestingTooDeep { .. } => "SDJWT-022",
            SdJwtError::Expired { .. } => "SDJWT-023",
            SdJwtError::NotYetValid { .. } => "SDJWT-024",
            SdJwtError::IssuedInFuture { .. } => "SDJWT-025",
            SdJwtError::MissingExpiry => "SDJWT-026",
            SdJwtError::BadTimeClaim { .. } => "SDJWT-027",
            SdJwtError::InvalidVct { .. } => "SDJWT-028",
            SdJwtError::MalformedStatus { .. } => "SDJWT-029",
            SdJwtError::MalformedCnf { .. } => "SDJWT-030",
            SdJwtError::HolderKeyMissing => "SDJWT-031",
            SdJwtError::HolderKeyInvalid(_) => "SDJWT-032",
            SdJwtError::KeyBindingMissing => "SDJWT-033",
            SdJwtError::UnexpectedKeyBinding => "SDJWT-034",
            SdJwtError::KeyBindingMalformed(_) => "SDJWT-035",
            SdJwtError::KeyBindingSignature(_) => "SDJWT-036",
            SdJwtError::KeyBindingTyp { .. } => "SDJWT-037",
            SdJwtError::KeyBindingClaim { .. } => "SDJWT-038",
            SdJwtError::KeyBindingAudience { .. } => "SDJWT-039",
            SdJwtError::KeyBindingNonce => "SDJWT-040",
            SdJwtError::KeyBindingStale { .. } => "SDJWT-041",
            SdJwtError::KeyBindingInFuture { .. } => "SDJWT-042",
            SdJwtError::KeyBindingSdHash => "SDJWT-043",
            SdJwtError::KeyBindingTimes(_) => "SDJWT-044",
            SdJwtError::InvalidClaims { .. } => "SDJWT-045",
            SdJwtError::ReservedClaimName { .. } => "SDJWT-046",
            SdJwtError::UnknownClaimPath { .. } => "SDJWT-047",
            SdJwtError::NotDisclosable { .. } => "SDJWT-048",
            SdJwtError::InvalidClaimPath { .. } => "SDJWT-049",
            SdJwtError::Encode { .. } => "SDJWT-057",
            SdJwtError::Signing(_) => "SDJWT-058",
            SdJwtError::Random { .. } => "SDJWT-059",
            SdJwtError::HolderKeyMismatch => "SDJWT-060",
        }
    }

    /// True when the check could not run (the issuer key lookup had an outage): a retryable
    /// "could not complete", never a verdict that the credential is invalid.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SdJwtError::IssuerKeyUnavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashSet;

    /// One of every variant (every inner disclosure check too): codes are unique and
    /// well-formed, and only the lookup outage is retryable.
    #[test]
    fn codes_are_unique() {
        let jose = JoseError::AlgNone;
        let d = |source| SdJwtError::MalformedDisclosure { index: 0, source };
        let all = vec![
            SdJwtError::PresentationTooLarge { len: 1, max: 0 },
            SdJwtError::MissingSeparator,
            SdJwtError::EmptyDisclosure { index: 0 },
            SdJwtError::IssuerJwtMalformed(jose.clone()),
            d(DisclosureFormatError::NotBase64Url),
            d(DisclosureFormatError::NotJson {
                reason: String::new(),
            }),
            d(DisclosureFormatError::NotAnArray),
            d(DisclosureFormatError::WrongLength { len: 1 }),
            d(DisclosureFormatError::SaltNotString),
            d(DisclosureFormatError::NameNotString),
            d(DisclosureFormatError::ReservedName { name: "_sd".into() }),
            SdJwtError::MissingIssuer,
            SdJwtError::IssuerKeyNotFound {
                reason: String::new(),
            },
            SdJwtError::IssuerKeyUnavailable {
                reason: String::new(),
            },
            SdJwtError::IssuerSignature(jose.clone()),
            SdJwtError::IssuerTyp {
                expected: String::new(),
                found: None,
            },
            SdJwtError::PayloadNotObject {
                reason: String::new(),
            },
            SdJwtError::UnsupportedSdAlg { alg: String::new() },
            SdJwtError::MisplacedSdAlg {
                path: String::new(),
            },
            SdJwtError::MalformedSdArray {
                path: String::new(),
            },
            SdJwtError::MalformedArrayDigest {
                path: String::new(),
            },
            SdJwtError::DuplicateDigest {
                digest: String::new(),
            },
            SdJwtError::DuplicateDisclosure {
                index: 0,
                digest: String::new(),
            },
            SdJwtError::UnreferencedDisclosure {
                index: 0,
                digest: String::new(),
            },
            SdJwtError::DisclosureKindMismatch {
                digest: String::new(),
                path: String::new(),
                expected: "",
            },
            SdJwtError::ClaimNameCollision {
                name: String::new(),
                path: String::new(),
            },
            SdJwtError::NonDisclosableClaim {
                name: String::new(),
            },
            SdJwtError::NestingTooDeep { max: 0 },
            SdJwtError::Expired { exp: 0, now: 0 },
            SdJwtError::NotYetValid { nbf: 0, now: 0 },
            SdJwtError::IssuedInFuture { iat: 0, now: 0 },
            SdJwtError::MissingExpiry,
            SdJwtError::BadTimeClaim {
                claim: String::new(),
            },
            SdJwtError::InvalidVct { reason: "" },
            SdJwtError::MalformedStatus { reason: "" },
            SdJwtError::MalformedCnf { reason: "" },
            SdJwtError::HolderKeyMissing,
            SdJwtError::HolderKeyInvalid(jose.clone()),
            SdJwtError::KeyBindingMissing,
            SdJwtError::UnexpectedKeyBinding,
            SdJwtError::KeyBindingMalformed(jose.clone()),
            SdJwtError::KeyBindingSignature(jose.clone()),
            SdJwtError::KeyBindingTyp { found: None },
            SdJwtError::KeyBindingClaim {
                claim: "",
                problem: "",
            },
            SdJwtError::KeyBindingAudience {
                expected: String::new(),
                found: String::new(),
            },
            SdJwtError::KeyBindingNonce,
            SdJwtError::KeyBindingStale {
                iat: 0,
                now: 0,
                max_age: 0,
            },
            SdJwtError::KeyBindingInFuture { iat: 0, now: 0 },
            SdJwtError::KeyBindingSdHash,
            SdJwtError::KeyBindingTimes(jose.clone()),
            SdJwtError::InvalidClaims {
                reason: String::new(),
            },
            SdJwtError::ReservedClaimName {
                path: String::new(),
            },
            SdJwtError::UnknownClaimPath {
                path: String::new(),
            },
            SdJwtError::NotDisclosable {
                path: String::new(),
                reason: "",
            },
            SdJwtError::InvalidClaimPath {
                reason: String::new(),
            },
            SdJwtError::Encode {
                reason: String::new(),
            },
            SdJwtError::Signing(jose),
            SdJwtError::Random {
                reason: String::new(),
            },
            SdJwtError::HolderKeyMismatch,
        ];
        let codes: HashSet<&str> = all.iter().map(SdJwtError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 9 && c.starts_with("SDJWT-"))
        );
        let retryable: Vec<_> = all.iter().filter(|e| e.is_retryable()).collect();
        assert_eq!(retryable.len(), 1);
    }
}
