//! Errors of this crate: [`DidError`] for DIDs, documents and resolution, and [`FetchError`] for
//! the hardened HTTP fetcher (its own enum because other crates reuse the fetcher alone).

use crate::document::Relationship;

/// Why a DID could not be parsed, resolved or used. `Clone` so one failed resolution can be
/// answered to every caller that waited for it (and from the failure cache).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DidError {
    /// The string is not a DID as DID Core §3.1 defines it.
    #[error("invalid DID `{did}`: {reason}")]
    InvalidDid { did: String, reason: String },

    /// A `did:web` identifier breaks the did:web method rules.
    #[error("invalid did:web `{did}`: {reason}")]
    InvalidDidWeb { did: String, reason: String },

    /// No resolver is configured for this DID method.
    #[error("DID method `{method}` is not supported (supported: {supported})")]
    UnsupportedMethod { method: String, supported: String },

    /// A key id (`kid`) is neither `did#fragment` nor `#fragment`.
    #[error("invalid key id `{kid}`: {reason}")]
    InvalidKeyId { kid: String, reason: String },

    /// The DID document has no verification method with this id.
    #[error("key `{kid}` is not a verification method of the DID document")]
    KeyNotFound { kid: String },

    /// The key exists but is not listed under the relationship the use needs.
    #[error("key `{kid}` is not listed under `{relationship}` in the DID document")]
    NotAuthorizedFor {
        kid: String,
        relationship: Relationship,
    },

    /// A key id, controller or document names a different DID than the one in use.
    #[error("DID mismatch in {field}: expected `{expected}`, found `{found}`")]
    DidMismatch {
        field: &'static str,
        expected: String,
        found: String,
    },

    /// A verification method is malformed or carries no usable public key.
    #[error("verification method `{id}` is unusable: {reason}")]
    InvalidVerificationMethod { id: String, reason: String },

    /// A multibase value does not use the base58btc (`z`) encoding or does not decode.
    #[error("invalid multibase value: {reason}")]
    InvalidMultibase { reason: String },

    /// The multicodec prefix names a key type this crate does not support.
    #[error(
        "unsupported multicodec key type 0x{code:x}: only ed25519-pub (0xed), p256-pub (0x1200) and secp256k1-pub (0xe7) are supported"
    )]
    UnsupportedMulticodec { code: u64 },

    /// The key bytes after the multicodec prefix have the wrong length.
    #[error("{key_type} public key must be {expected} bytes, found {found}")]
    InvalidKeyLength {
        key_type: &'static str,
        expected: usize,
        found: usize,
    },

    /// The bytes are not a valid point or key on the named curve.
    #[error("invalid {key_type} public key: {reason}")]
    InvalidPublicKey {
        key_type: &'static str,
        reason: String,
    },

    /// A `did:jwk` identifier does not decode to a JSON JWK.
    #[error("invalid did:jwk: {reason}")]
    InvalidDidJwk { reason: String },

    /// A JWK carries private key members where only a public key is allowed.
    #[error("JWK contains private key member `{member}`: only public keys may appear here")]
    PrivateKeyMaterial { member: String },

    /// The JWK's key type or curve cannot be expressed the way asked.
    #[error("unsupported JWK: {reason}")]
    UnsupportedKey { reason: String },

    /// The fetched JSON is not a DID document.
    #[error("invalid DID document: {reason}")]
    InvalidDocument { reason: String },

    /// The fetched document's `id` differs from the DID that was resolved.
    #[error("DID document id `{found}` does not match the resolved DID `{expected}`")]
    DocumentIdMismatch { expected: String, found: String },

    /// Fetching the DID document failed; the inner error says why.
    #[error("could not fetch DID document: {0}")]
    Fetch(#[from] FetchError),

    /// So many network resolutions were in progress that this one could not start within the
    /// wait limit; retrying later may succeed.
    #[error(
        "too many DID resolutions in progress (limit {limit}): `{did}` waited {waited_ms} ms \
         without a free slot"
    )]
    Busy {
        did: String,
        limit: usize,
        waited_ms: u128,
    },
}

impl DidError {
    /// Stable code of this error (never renumbered); fetch errors keep their own `FETCH-` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDid { .. } => "DID-001",
            Self::InvalidDidWeb { .. } => "DID-002",
            Self::UnsupportedMethod { .. } => "DID-003",
            Self::InvalidKeyId { .. } => "DID-004",
            Self::KeyNotFound { .. } => "DID-005",
            Self::NotAuthorizedFor { .. } => "DID-006",
            Self::DidMismatch { .. } => "DID-007",
            Self::InvalidVerificationMethod { .. } => "DID-008",
            Self::InvalidMultibase { .. } => "DID-009",
            Self::UnsupportedMulticodec { .. } => "DID-010",
            Self::InvalidKeyLength { .. } => "DID-011",
            Self::InvalidPublicKey { .. } => "DID-012",
            Self::InvalidDidJwk { .. } => "DID-013",
            Self::PrivateKeyMaterial { .. } => "DID-014",
            Self::UnsupportedKey { .. } => "DID-015",
            Self::InvalidDocument { .. } => "DID-016",
            Self::DocumentIdMismatch { .. } => "DID-017",
            Self::Fetch(inner) => inner.code(),
            Self::Busy { .. } => "DID-018",
        }
    }

    /// True when the failure is about reaching the DID's host rather than the DID itself (or
    /// about our own resolution capacity), so a caller may report "could not check"
    /// (retryable) instead of "invalid".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Fetch(f) => f.is_transient(),
            Self::Busy { .. } => true,
            _ => false,
        }
    }
}

/// Why the hardened fetcher refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL does not parse or has no host.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The scheme is not https and the host is not in the plain-http allow-list.
    #[error(
        "refused `{url}`: only https is allowed (plain http only for hosts in allow_http_hosts)"
    )]
    SchemeNotAllowed { url: String },

    /// The host resolved to (or is) an address in a refused range.
    #[error("refused `{host}`: address {addr} is {range}, which the fetch policy does not allow")]
    AddressRefused {
        host: String,
        addr: std::net::IpAddr,
        range: &'static str,
    },

    /// Name resolution failed or returned no address.
    #[error("could not resolve `{host}`: {reason}")]
    Dns { host: String, reason: String },

    /// A redirect pointed at a different host.
    #[error("refused redirect from `{from}` to `{to}`: redirects may not change the host")]
    RedirectToOtherHost { from: String, to: String },

    /// More redirects than the policy allows.
    #[error("too many redirects fetching `{url}` (limit {limit})")]
    TooManyRedirects { url: String, limit: usize },

    /// A redirect response had no usable `Location` header.
    #[error("redirect from `{url}` has no valid Location header: {reason}")]
    InvalidRedirect { url: String, reason: String },

    /// The server answered with a non-2xx status.
    #[error("`{url}` answered HTTP {status}")]
    Status { url: String, status: u16 },

    /// The response body exceeded the size limit.
    #[error("body too large: `{url}` sent more than {limit} bytes")]
    BodyTooLarge { url: String, limit: usize },

    /// The request (connect, headers and body together) took longer than the policy allows.
    #[error("timed out after {timeout_ms} ms fetching `{url}`")]
    Timeout { url: String, timeout_ms: u128 },

    /// The connection could not be made or broke (TLS, reset, refused).
    #[error("connection to `{url}` failed: {reason}")]
    Connect { url: String, reason: String },

    /// The body is not valid JSON.
    #[error("`{url}` did not return valid JSON: {reason}")]
    InvalidJson { url: String, reason: String },

    /// The HTTP client could not be built from the policy.
    #[error("could not build HTTP client: {reason}")]
    Client { reason: String },

    /// The server's TLS certificate was refused; `cause` names why (unknown issuer, expired,
    /// name mismatch).
    #[error("TLS certificate of `{url}` refused: {cause}")]
    Certificate { url: String, cause: String },

    /// A loopback target that is not one of the origins loopback is allowed for (the
    /// development switch allows only Verity's own origins); refused before connecting.
    #[error(
        "refused `{host_port}`: loopback is allowed only for this service's own origins, not \
         other local ports"
    )]
    LoopbackNotAllowed { host_port: String },
}

impl FetchError {
    /// Stable code of this error (never renumbered).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "FETCH-001",
            Self::SchemeNotAllowed { .. } => "FETCH-002",
            Self::AddressRefused { .. } => "FETCH-003",
            Self::Dns { .. } => "FETCH-004",
            Self::RedirectToOtherHost { .. } => "FETCH-005",
            Self::TooManyRedirects { .. } => "FETCH-006",
            Self::InvalidRedirect { .. } => "FETCH-007",
            Self::Status { .. } => "FETCH-008",
            Self::BodyTooLarge { .. } => "FETCH-009",
            Self::Timeout { .. } => "FETCH-010",
            Self::Connect { .. } => "FETCH-011",
            Self::InvalidJson { .. } => "FETCH-012",
            Self::Client { .. } => "FETCH-013",
            Self::Certificate { .. } => "FETCH-014",
            Self::LoopbackNotAllowed { .. } => "FETCH-015",
        }
    }

    /// True for failures that may succeed on retry (network trouble, 5xx, 429), as opposed to
    /// refusals and bad content, which will not change by asking again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Dns { .. } | Self::Timeout { .. } | Self::Connect { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_error_codes_are_pinned() {
        let s = || String::from("x");
        let table: Vec<(DidError, &str)> = vec![
            (
                DidError::InvalidDid {
                    did: s(),
                    reason: s(),
                },
                "DID-001",
            ),
            (
                DidError::InvalidDidWeb {
                    did: s(),
                    reason: s(),
                },
                "DID-002",
            ),
            (
                DidError::UnsupportedMethod {
                    method: s(),
                    supported: s(),
                },
                "DID-003",
            ),
            (
                DidError::InvalidKeyId {
                    kid: s(),
                    reason: s(),
                },
                "DID-004",
            ),
            (DidError::KeyNotFound { kid: s() }, "DID-005"),
            (
                DidError::NotAuthorizedFor {
                    kid: s(),
                    relationship: Relationship::Authentication,
                },
                "DID-006",
            ),
            (
                DidError::DidMismatch {
                    field: "f",
                    expected: s(),
                    found: s(),
                },
                "DID-007",
            ),
            (
                DidError::InvalidVerificationMethod {
                    id: s(),
                    reason: s(),
                },
                "DID-008",
            ),
            (DidError::InvalidMultibase { reason: s() }, "DID-009"),
            (DidError::UnsupportedMulticodec { code: 1 }, "DID-010"),
            (
                DidError::InvalidKeyLength {
                    key_type: "k",
                    expected: 1,
                    found: 2,
                },
                "DID-011",
            ),
            (
                DidError::InvalidPublicKey {
                    key_type: "k",
                    reason: s(),
                },
                "DID-012",
            ),
            (DidError::InvalidDidJwk { reason: s() }, "DID-013"),
            (DidError::PrivateKeyMaterial { member: s() }, "DID-014"),
            (DidError::UnsupportedKey { reason: s() }, "DID-015"),
            (DidError::InvalidDocument { reason: s() }, "DID-016"),
            (
                DidError::DocumentIdMismatch {
                    expected: s(),
                    found: s(),
                },
                "DID-017",
            ),
            (
                DidError::Fetch(FetchError::Status {
                    url: s(),
                    status: 404,
                }),
                "FETCH-008",
            ),
            (
                DidError::Busy {
                    did: s(),
                    limit: 1,
                    waited_ms: 1,
                },
                "DID-018",
            ),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn fetch_error_codes_are_pinned() {
        let s = || String::from("x");
        let ip: std::net::IpAddr = [127, 0, 0, 1].into();
        let table: Vec<(FetchError, &str)> = vec![
            (
                FetchError::InvalidUrl {
                    url: s(),
                    reason: s(),
                },
                "FETCH-001",
            ),
            (FetchError::SchemeNotAllowed { url: s() }, "FETCH-002"),
            (
                FetchError::AddressRefused {
                    host: s(),
                    addr: ip,
                    range: "loopback",
                },
                "FETCH-003",
            ),
            (
                FetchError::Dns {
                    host: s(),
                    reason: s(),
                },
                "FETCH-004",
            ),
            (
                FetchError::RedirectToOtherHost { from: s(), to: s() },
                "FETCH-005",
            ),
            (
                FetchError::TooManyRedirects { url: s(), limit: 3 },
                "FETCH-006",
            ),
            (
                FetchError::InvalidRedirect {
                    url: s(),
                    reason: s(),
                },
                "FETCH-007",
            ),
            (
                FetchError::Status {
                    url: s(),
                    status: 500,
                },
                "FETCH-008",
            ),
            (FetchError::BodyTooLarge { url: s(), limit: 1 }, "FETCH-009"),
            (
                FetchError::Timeout {
                    url: s(),
                    timeout_ms: 1,
                },
                "FETCH-010",
            ),
            (
                FetchError::Connect {
                    url: s(),
                    reason: s(),
                },
                "FETCH-011",
            ),
            (
                FetchError::InvalidJson {
                    url: s(),
                    reason: s(),
                },
                "FETCH-012",
            ),
            (FetchError::Client { reason: s() }, "FETCH-013"),
            (
                FetchError::Certificate {
                    url: s(),
                    cause: s(),
                },
                "FETCH-014",
            ),
            (
                FetchError::LoopbackNotAllowed { host_port: s() },
                "FETCH-015",
            ),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn transient_classification() {
        let s = || String::from("x");
        assert!(
            FetchError::Timeout {
                url: s(),
                timeout_ms: 1
            }
            .is_transient()
        );
        assert!(
            FetchError::Status {
                url: s(),
                status: 503
            }
            .is_transient()
        );
        assert!(
            !FetchError::Status {
                url: s(),
                status: 404
            }
            .is_transient()
        );
        assert!(!FetchError::BodyTooLarge { url: s(), limit: 1 }.is_transient());
        assert!(
            DidError::Fetch(FetchError::Connect {
                url: s(),
                reason: s()
            })
            .is_unavailable()
        );
        assert!(!DidError::KeyNotFound { kid: s() }.is_unavailable());
        assert!(
            DidError::Busy {
                did: s(),
                limit: 16,
                waited_ms: 10_000
            }
            .is_unavailable()
        );
    }
}
