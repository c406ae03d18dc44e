//! Decentralized identifiers for Verity: parsing, DID documents, and resolution.
//!
//! Pipeline, from a `kid` in a JWS header to a verification key:
//!
//! 1. **Parse** — [`Did::parse`] validates DID Core §3.1 syntax; [`split_key_id`] splits a key
//!    reference (`did#frag`, `#frag`); [`DidWeb`] adds the did:web rules (domain, `%3A` port,
//!    path segments) and maps the DID to its `did.json` URL.
//! 2. **Resolve** — a [`DidResolver`]: [`KeyResolver`] builds `did:key` / `did:jwk` documents
//!    locally; [`WebResolver`] fetches `did:web` documents through [`HttpFetcher`] and checks the
//!    document `id`; [`CompositeResolver`] dispatches by method and caches per DID with a TTL
//!    measured on a [`verity_core::Clock`]; for did:web it also shares one fetch among
//!    concurrent resolutions of a DID, remembers failures briefly and bounds the fetches in
//!    flight ([`ResolutionLimits`]).
//! 3. **Select the key** — [`DidDocument::key_for`] finds the method, requires it to be listed
//!    under the needed [`Relationship`] and controlled by the DID, and returns its public JWK
//!    (multibase keys are converted).
//!
//! [`HttpFetcher`] is the one way Verity fetches documents named by untrusted input (DID
//! documents here; DID configurations, status lists and OIDC discovery elsewhere): https only
//! (plain http only for allow-listed development hosts), every resolved address checked against
//! refused ranges and the connection pinned to the checked addresses, same-host redirects only,
//! total time and body size bounded. Each refusal is its own [`FetchError`] variant.
//!
//! For our own authorities, [`DidDocument::for_web_authority`] builds the published `did.json`.
//! With the `test-util` feature, [`test_util`] offers a `StaticResolver` and a scripted loopback
//! HTTP server.

mod did;
mod document;
mod error;
mod fetch;
mod key;
mod resolver;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod tls;

pub use did::{Did, DidWeb, did_web_from_parts, split_key_id};
pub use document::{
    DID_V1_CONTEXT, DidDocument, JSON_WEB_KEY_2020, JWS_2020_CONTEXT, LINKED_DOMAINS, Relationship,
    Service, VerificationMethod, VerificationRelationship,
};
pub use error::{DidError, FetchError};
pub use fetch::{
    DEFAULT_MAX_BODY_BYTES, FetchOptions, FetchOutcome, FetchPolicy, Fetched, HttpFetcher,
    ResponseMeta,
};
pub use key::{
    ED25519_PUB, P256_PUB, SECP256K1_PUB, did_jwk_from_jwk, did_key_from_jwk, jwk_from_multibase,
    multibase_from_jwk, resolve_did_jwk, resolve_did_key,
};
pub use resolver::{CompositeResolver, DidResolver, KeyResolver, ResolutionLimits, WebResolver};
