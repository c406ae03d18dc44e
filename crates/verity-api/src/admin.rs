//! Admin API request and response bodies, shared by the server and the `verity` CLI.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /admin/v1/tenants`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTenant {
    /// 1-100 characters: letters, digits, `-`, `_`, `.`.
    pub name: String,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /admin/v1/authorities`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAuthority {
    /// Display name, 1-200 characters.
    pub name: String,
    /// A full did:web DID; its host must be one this service serves. Mutually exclusive with
    /// `path`/`domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// Host (with port) of the DID; defaults to the public URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Path below the domain for path DIDs, e.g. `tenants/acme` -> `did:web:host:tenants:acme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Tenant name; defaults to the first tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `ES256` (default), `EdDSA` or `ES256K`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
}

/// `POST /admin/v1/authorities/{authority}/keys/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateKey {
    /// Algorithm of the new key; defaults to the current active key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
}

/// A signing key's public view (never private material).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: Uuid,
    /// Key id fragment; the full kid is `<did>#<kid>`.
    pub kid: String,
    pub alg: String,
    /// `active`, `retiring` or `revoked`.
    pub state: String,
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
}

/// An authority with its keys.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorityView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub did: String,
    /// Where the DID document is served.
    pub did_document_url: String,
    pub keys: Vec<KeyView>,
    pub created_at: DateTime<Utc>,
}

/// `POST /admin/v1/clients` and `POST /admin/v1/api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCredential {
    /// A label, 1-200 characters.
    pub name: String,
    /// Tenant name; defaults to the first tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// An API client (the secret is only in the creation response).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub client_id: String,
    pub tenant_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Only when just created: store it now, it is not shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Token endpoint to use with these credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
}

/// A static API key (the key is only in the creation response).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Only when just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A domain linkage verdict and every step that led to it (`GET /admin/v1/domains/verify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkageReportView {
    /// The DID checked.
    pub did: String,
    /// True only for a `verified` result.
    pub verified: bool,
    /// One line for people: the verdict and why.
    pub summary: String,
    /// The verdict.
    pub result: LinkageResultView,
    /// The steps in the order they ran.
    pub steps: Vec<LinkageStepView>,
}

/// The verdict of a linkage check, tagged by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkageResultView {
    /// The DID is linked to `origin`.
    Verified { origin: String },
    /// The check ran and failed.
    Unverified {
        reason: UnverifiedReasonView,
        /// The origin the failure concerns, when there is one.
        #[serde(default)]
        origin: Option<String>,
    },
    /// The check could not run (the DID did not resolve); no verdict, retry later.
    NotChecked { reason: String },
}

/// Why a linkage did not verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnverifiedReasonView {
    /// Stable machine name: `no_linked_domains_service`, `origin_not_in_did_document`,
    /// `configuration_missing`, `no_matching_credential`, `signature_invalid`,
    /// `origin_mismatch`, `expired`, `not_yet_valid` or `malformed`.
    pub code: String,
    /// What exactly is malformed (only for `malformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The reason in words.
    pub message: String,
}

/// One step of a linkage check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkageStepView {
    /// What was checked.
    pub name: String,
    /// `passed` or `failed`.
    pub outcome: String,
    /// Specifics: URLs, origins, the exact error.
    pub detail: String,
}

/// `GET /admin/v1/authorities/{authority}/domains`: the authority's linked origins, each checked
/// against the live endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorityDomainsView {
    pub authority_id: Uuid,
    pub did: String,
    pub domains: Vec<DomainLinkageView>,
}

/// One linked origin of an authority and its state.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainLinkageView {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Where the origin's DID configuration is served.
    pub configuration_url: String,
    /// The check of this origin.
    pub report: LinkageReportView,
}
