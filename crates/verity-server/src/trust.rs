//! Outbound TLS trust (`[tls]`): the CA certificates trusted by everything Verity fetches (DID
//! documents, DID configurations, status lists, OIDC discovery and JWKS, callbacks), and the
//! own origins that `[resolver] allow_loopback` opens (and nothing else on loopback).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use verity_did::FetchPolicy;

use crate::config::{Config, ConfigError};

/// `[tls]`: trust anchors for outbound https.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundTlsConfig {
    /// PEM files of CA certificates (an internal CA) trusted for every outbound https request.
    pub trust_anchors: Vec<PathBuf>,
    /// Trust the public (webpki) roots as well; `false` = only `trust_anchors`.
    pub public_roots: bool,
}

impl Default for OutboundTlsConfig {
    fn default() -> Self {
        Self {
            trust_anchors: Vec::new(),
            public_roots: true,
        }
    }
}

/// `[tls]` loaded, and this service's own origins.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    anchors: Vec<Vec<u8>>,
    public_roots: bool,
    own_origins: Vec<String>,
}

impl Outbound {
    /// Reads the trust anchors; the own origins are `public_url`'s `host:port` and the
    /// configured `server.domains`.
    pub fn load(config: &Config, public_url: &str) -> Result<Self, ConfigError> {
        let tls = &config.tls;
        let anchors =
            verity_did::tls::load_trust_anchors(&tls.trust_anchors).map_err(|reason| {
                ConfigError::Invalid {
                    key: "tls.trust_anchors",
                    reason,
                }
            })?;
        if !tls.public_roots && anchors.is_empty() {
            return Err(ConfigError::Invalid {
                key: "tls.public_roots",
                reason: "false needs at least one tls.trust_anchors file".into(),
            });
        }
        let mut own_origins: Vec<String> = url::Url::parse(public_url)
            .ok()
            .and_then(|u| crate::config::host_port(&u))
            .into_iter()
            .collect();
        own_origins.extend(config.server.domains.iter().cloned());
        for o in &mut own_origins {
            o.make_ascii_lowercase();
        }
        Ok(Self {
            anchors,
            public_roots: tls.public_roots,
            own_origins,
        })
    }

    /// Puts the trust anchors into a fetch policy.
    pub fn apply_trust(&self, policy: &mut FetchPolicy) {
        policy.trust_anchors = self.anchors.clone();
        policy.public_roots = self.public_roots;
    }

    /// `host` or `host:port` of this service's own origins.
    pub fn own_origins(&self) -> &[String] {
        &self.own_origins
    }

    /// How many trust anchors are configured (start-up summary).
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }
}
