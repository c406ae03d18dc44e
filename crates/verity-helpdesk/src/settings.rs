//! The helpdesk app's configuration file (`helpdesk.toml`), overridable by environment
//! variables `HELPDESK__SECTION__KEY`.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::DirectoryConfig;
use crate::oidc::OidcConfig;
use crate::verity_api::VerityConfig;
use crate::webhook::WebhookConfig;

/// Everything `verity-helpdesk serve` reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where browsers (and Verity's callbacks) reach this app, e.g. `https://helpdesk.contoso.example`.
    pub public_url: Url,
    /// The listening address.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// `sqlite://helpdesk.db` (created when missing).
    #[serde(default = "default_database")]
    pub database: String,
    /// The company name the pages and the wallet show.
    #[serde(default = "default_company")]
    pub company: String,
    pub verity: VerityConfig,
    pub directory: DirectoryConfig,
    pub issuance: IssuanceSettings,
    #[serde(default)]
    pub verification: VerificationSettings,
    #[serde(default)]
    pub actions: ActionSettings,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Portal sign-in with OpenID Connect (e.g. Entra ID), besides the directory password.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    /// Ask Verity for callbacks (it must be allowed to reach `public_url`); without them the
    /// app polls Verity while a page is open.
    #[serde(default = "yes")]
    pub callbacks: bool,
    /// Minutes a browser session lives.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: i64,
}

/// The VerifiedEmployee card the portal issues.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuanceSettings {
    /// The issuing authority's DID.
    pub authority: String,
    /// The contract id (`verity contract list`); the manifest URL is derived from it.
    pub contract: String,
    #[serde(default = "default_type")]
    pub credential_type: String,
    /// PIN digits shown on the portal (0: no PIN).
    #[serde(default = "default_pin_length")]
    pub pin_length: u8,
}

/// The presentation request the helpdesk makes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationSettings {
    /// The credential type asked for.
    pub credential_type: String,
    /// Issuers whose cards are accepted (the company's own authority and, for a managed
    /// service provider, its customers' DIDs). Empty: the issuance authority only.
    pub accepted_issuers: Vec<String>,
    pub validate_linked_domain: bool,
    pub allow_revoked: bool,
    /// Ask for a face check against the card's photo.
    pub face_check: bool,
    pub source_photo_claim: String,
    pub match_confidence_threshold: u8,
    /// The authority the request is made as (default: the issuance authority).
    pub authority: Option<String>,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            credential_type: default_type(),
            accepted_issuers: Vec::new(),
            validate_linked_domain: true,
            allow_revoked: false,
            face_check: true,
            source_photo_claim: "photo".into(),
            match_confidence_threshold: 70,
            authority: None,
        }
    }
}

/// What the helpdesk may do after a verification, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionSettings {
    /// Minutes after a verification during which actions for that person are allowed.
    pub window_minutes: i64,
    pub access_pass_lifetime_minutes: u32,
    pub access_pass_usable_once: bool,
}

impl Default for ActionSettings {
    fn default() -> Self {
        Self {
            window_minutes: 10,
            access_pass_lifetime_minutes: 60,
            access_pass_usable_once: true,
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8090".into()
}
fn default_database() -> String {
    "sqlite://helpdesk.db".into()
}
fn default_company() -> String {
    "Contoso".into()
}
fn default_type() -> String {
    "VerifiedEmployee".into()
}
fn default_pin_length() -> u8 {
    4
}
fn default_session_minutes() -> i64 {
    60
}
fn yes() -> bool {
    true
}

/// A setting that fails its check.
#[derive(Debug, thiserror::Error)]
#[error("invalid helpdesk setting {field}: {reason}")]
pub struct SettingsError {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl Settings {
    /// Reads `path` (if it exists) and `HELPDESK__*` variables, then checks the values.
    pub fn load(path: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        if let Some(p) = path {
            if !p.is_file() {
                return Err(bad("--config", format!("{} is not a file", p.display())));
            }
            figment = figment.merge(Toml::file(p));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("HELPDESK__").split("__"))
            .extract()
            .map_err(|e| bad(&e.path.join("."), e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that would otherwise fail later, naming the setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !matches!(self.public_url.scheme(), "http" | "https") {
            return Err(bad("public_url", "must be an http(s) URL"));
        }
        if self.issuance.pin_length > 8 {
            return Err(bad("issuance.pin_length", "at most 8 digits"));
        }
        if !self.issuance.authority.starts_with("did:") {
            return Err(bad("issuance.authority", "must be a DID"));
        }
        if self.issuance.contract.trim().is_empty() {
            return Err(bad("issuance.contract", "must name the contract"));
        }
        for (i, d) in self.verification.accepted_issuers.iter().enumerate() {
            if !d.starts_with("did:") {
                return Err(bad(
                    &format!("verification.accepted_issuers[{i}]"),
                    format!("{d:?} is not a DID"),
                ));
            }
        }
        if !(50..=100).contains(&self.verification.match_confidence_threshold) {
            return Err(bad(
                "verification.match_confidence_threshold",
                "must be 50-100",
            ));
        }
        if !(1..=1440).contains(&self.actions.window_minutes) {
            return Err(bad("actions.window_minutes", "must be 1-1440"));
        }
        if !(10..=43_200).contains(&self.actions.access_pass_lifetime_minutes) {
            return Err(bad(
                "actions.access_pass_lifetime_minutes",
                "must be 10-43200 (as Entra ID allows)",
            ));
        }
        if !(5..=1440).contains(&self.session_minutes) {
            return Err(bad("session_minutes", "must be 5-1440"));
        }
        if let Some(w) = &self.webhook {
            w.validate().map_err(|e| bad("webhook", e.to_string()))?;
        }
        if let Some(o) = &self.oidc {
            o.validate().map_err(|e| bad("oidc", e.to_string()))?;
        }
        Ok(())
    }

    /// The issuers a verification accepts.
    pub fn accepted_issuers(&self) -> Vec<String> {
        if self.verification.accepted_issuers.is_empty() {
            vec![self.issuance.authority.clone()]
        } else {
            self.verification.accepted_issuers.clone()
        }
    }

    /// Whether cookies get `Secure` (the app is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn example() -> Settings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("helpdesk.example.toml");
        Settings::load(Some(&path)).unwrap()
    }

    #[test]
    fn the_example_file_loads_with_its_documented_defaults() {
        let s = example();
        assert!(s.secure_cookies());
        assert_eq!(s.actions.window_minutes, 10);
        assert_eq!(s.verification.match_confidence_threshold, 70);
        assert!(s.verification.face_check && s.verification.validate_linked_domain);
        assert!(!s.verification.allow_revoked);
        assert_eq!(
            s.accepted_issuers(),
            vec!["did:web:contoso.example".to_owned()]
        );
    }

    #[test]
    fn each_bad_value_is_named() {
        type Breaker = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Breaker)> = vec![
            (
                "issuance.pin_length",
                Box::new(|s| s.issuance.pin_length = 9),
            ),
            (
                "issuance.authority",
                Box::new(|s| s.issuance.authority = "contoso".into()),
            ),
            (
                "issuance.contract",
                Box::new(|s| s.issuance.contract = " ".into()),
            ),
            (
                "verification.accepted_issuers[0]",
                Box::new(|s| s.verification.accepted_issuers = vec!["https://x".into()]),
            ),
            (
                "verification.match_confidence_threshold",
                Box::new(|s| s.verification.match_confidence_threshold = 40),
            ),
            (
                "actions.window_minutes",
                Box::new(|s| s.actions.window_minutes = 0),
            ),
            (
                "actions.access_pass_lifetime_minutes",
                Box::new(|s| s.actions.access_pass_lifetime_minutes = 5),
            ),
            ("session_minutes", Box::new(|s| s.session_minutes = 100_000)),
            (
                "webhook",
                Box::new(|s| {
                    if let Some(w) = s.webhook.as_mut() {
                        w.secret = verity_core::Secret::new("short");
                    }
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut s = example();
            break_it(&mut s);
            let e = s.validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let missing = Settings::load(Some(Path::new("/nonexistent/helpdesk.toml"))).unwrap_err();
        assert_eq!(missing.field, "--config");
    }
}
