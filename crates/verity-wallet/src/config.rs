//! Wallet configuration: what the wallet may contact, and its clock.

use std::sync::Arc;
use std::time::Duration;

use verity_core::{Clock, SystemClock};
use verity_did::FetchPolicy;

/// Default allowance for clock differences between wallet and server, in seconds.
pub const DEFAULT_SKEW_SECS: i64 = 60;

/// Default lifetime of the tokens the wallet signs, in seconds.
pub const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 300;

/// Default limit on a server response: a credential may carry a 1 MB photo claim.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How the wallet talks to servers and resolves DIDs.
#[derive(Debug, Clone)]
pub struct WalletConfig {
    /// Fetch rules for did:web resolution and for the wallet's own requests: https only except
    /// `allow_http_hosts`; `allow_loopback`/`allow_private` for did:web documents on such
    /// addresses (tests, a server on the same machine); the timeouts apply to every request.
    pub fetch_policy: FetchPolicy,
    /// Time source for token checks and for the times the wallet signs.
    pub clock: Arc<dyn Clock>,
    /// Clock difference tolerated when checking `exp`/`nbf`/`iat`, in seconds.
    pub skew_secs: i64,
    /// Lifetime (`exp - iat`) of the holder request, id_token and vp_token, in seconds.
    pub token_lifetime_secs: i64,
    /// Largest response body the wallet reads.
    pub max_response_bytes: usize,
    /// How long resolved DID documents are cached.
    pub did_cache_ttl: Duration,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            fetch_policy: FetchPolicy::default(),
            clock: Arc::new(SystemClock),
            skew_secs: DEFAULT_SKEW_SECS,
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            did_cache_ttl: Duration::from_secs(300),
        }
    }
}

impl WalletConfig {
    /// For a server on this machine: plain http to `localhost` and `127.0.0.1` (any port), and
    /// did:web documents on loopback addresses. Never for talking to remote servers.
    pub fn local_development() -> Self {
        let mut config = Self::default();
        config.fetch_policy.allow_loopback = true;
        config.fetch_policy.allow_http_hosts = vec!["localhost".into(), "127.0.0.1".into()];
        config
    }

    /// Trusts the CA certificates of a PEM text (an internal CA) for every request and did:web
    /// resolution, in addition to the public roots.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, crate::WalletError> {
        let certs = verity_did::tls::parse_pem_certificates(pem).map_err(|e| {
            crate::WalletError::Config {
                reason: format!("CA certificate {e}"),
            }
        })?;
        self.fetch_policy.trust_anchors.extend(certs);
        Ok(self)
    }

    /// Replaces the clock (tests use `verity_core::ManualClock`).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict_and_local_development_opens_loopback_only() {
        let strict = WalletConfig::default();
        assert!(!strict.fetch_policy.allow_loopback);
        assert!(!strict.fetch_policy.allows_http("localhost:8080"));
        let dev = WalletConfig::local_development();
        assert!(dev.fetch_policy.allow_loopback);
        assert!(!dev.fetch_policy.allow_private);
        assert!(dev.fetch_policy.allows_http("localhost:8080"));
        assert!(dev.fetch_policy.allows_http("127.0.0.1:1234"));
        assert!(!dev.fetch_policy.allows_http("example.com"));
    }
}
