//! Shared application state: configuration and every seam as a trait object.

use std::sync::Arc;

use verity_core::Clock;
use verity_jose::KeyEncryptionKey;
use verity_store::Store;

use crate::config::Config;
use crate::credentials::Pepper;
use crate::linkage::{LinkageCache, Resolution};
use crate::outbox::Outbox;
use crate::tokens::TokenAuthority;
use verity_contracts::OidcValidator;

/// Everything a handler may use.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    /// Public base URL without trailing slash, e.g. `https://vc.example.com`.
    pub public_url: String,
    /// Lower-case `host[:port]` values whose did:web documents this service serves.
    pub domains: Vec<String>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub kek: Arc<KeyEncryptionKey>,
    /// The root of derived secrets (the OpenID4VCI code, nonce and token keys).
    pub subkeys: Arc<verity_jose::SubkeyRoot>,
    pub pepper: Pepper,
    /// HMAC of the admin token (the token itself is not kept).
    pub admin_token_hash: String,
    pub tokens: TokenAuthority,
    /// Abuse limits: client addresses behind trusted proxies, per-endpoint buckets.
    pub limits: crate::limits::Limits,
    /// The hardened fetcher, DID resolvers and linkage verifiers.
    pub resolution: Resolution,
    /// Signed Domain Linkage Credentials of our authorities.
    pub linkage_cache: LinkageCache,
    /// Durable queue of RP callbacks and its delivery worker's handle.
    pub outbox: Outbox,
    /// Validates third-party id_tokens and access tokens (idTokens/accessTokens attestations).
    pub oidc: OidcValidator,
    /// Our own authorities' DID documents, status lists and linkage, read from the store.
    pub own: Arc<crate::own::OwnAuthorities>,
    /// The presentation verifier's seams (resolver, status lists, linkage, replay guard).
    pub verifier: verity_presentation::VerifyContext,
    /// Compares credential photos with holders' selfies; `None` refuses face checks.
    pub face_matcher: Option<Arc<dyn verity_face_match::FaceMatcher>>,
    /// Status-list indices taken from the store in batches, handed out one per issuance.
    pub status_leases: crate::status_leases::StatusIndexLeases,
    /// Prometheus counters and histograms (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// True when `host` (as sent by the client) is one of the configured domains.
    pub fn serves_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.domains.contains(&host)
    }
}
