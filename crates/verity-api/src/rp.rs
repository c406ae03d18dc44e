//! Request Service API bodies (wire-compatible with the hosted service), with the rules each
//! field must meet (documented here, checked by the server's handlers, which turn them into
//! checked values or an error naming the field).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `registration` of a request: shown to the user by the wallet.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Registration {
    /// Required, 1-256 characters.
    pub client_name: String,
    /// Optional text shown with the request, up to 1,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Optional logo URL (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Optional terms-of-service URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_urls: Option<Vec<String>>,
}

/// `callback`: where status events go, with headers echoed verbatim.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Callback {
    /// https URL (http only for hosts the configuration allows).
    pub url: String,
    /// Opaque RP state echoed in every callback, up to 2,000 characters.
    pub state: String,
    /// Headers sent with every callback (e.g. an api-key the RP checks); at most 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

/// `pin` of an issuance request.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pin {
    /// 4-16 digits.
    pub value: String,
    /// Number of digits; must equal the length of `value`.
    pub length: u32,
}

/// `POST /v1.0/verifiableCredentials/createIssuanceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuanceRequest {
    /// DID of an authority of the caller's tenant.
    pub authority: String,
    #[serde(default, rename = "includeQRCode")]
    pub include_qr_code: bool,
    /// The image format of `qrCode` when `includeQRCode` is set: `png` (default, as the hosted
    /// service) or `svg` (a Verity addition).
    #[serde(
        default,
        rename = "qrCodeFormat",
        skip_serializing_if = "Option::is_none"
    )]
    pub qr_code_format: Option<QrCodeFormat>,
    pub registration: Registration,
    /// Where status events go; without it the app polls the request's status instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
    /// Credential type; informational (the contract decides what is issued).
    #[serde(rename = "type")]
    pub credential_type: String,
    /// The contract's manifest URL (`{base}/v1.0/manifests/{contractId}`).
    pub manifest: String,
    /// Claims for an idTokenHint contract (string values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// A PIN the user must type in the wallet (idTokenHint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    /// Latest expiry of the issued credential (RFC 3339); earlier than the contract's validity wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// The wallet protocol: absent (the compatibility profile, an `openid-vc://` request) or
    /// `openid4vci` (an OpenID4VCI 1.0 credential offer with a pre-authorized code; the PIN
    /// becomes its `tx_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// With `profile: openid4vci`: the credential format, `dc+sd-jwt` (default, an SD-JWT VC)
    /// or `jwt_vc_json` (a VCDM 1.1 JWT-VC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// 201 answer of the create endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedRequest {
    pub request_id: String,
    pub url: String,
    /// Unix seconds.
    pub expiry: i64,
    #[serde(default, rename = "qrCode", skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
}

/// The wallet's completion message for an issuance.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// `issuance_successful` or `issuance_failed`.
    pub code: String,
    /// The request id.
    pub state: String,
    #[serde(default)]
    pub details: Option<String>,
}

/// A constraint on a claim of a presented credential; exactly one operator.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimConstraint {
    pub claim_name: String,
    /// The claim equals one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// The claim contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The claim starts with this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<String>,
}

/// `faceCheck` of a requested credential.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaceCheck {
    /// The claim holding the photo to compare against, e.g. `photo`.
    pub source_photo_claim_name: String,
    /// 50-100, default 70.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_confidence_threshold: Option<u32>,
}

/// `configuration.validation` of a requested credential.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Validation {
    #[serde(default)]
    pub allow_revoked: bool,
    #[serde(default)]
    pub validate_linked_domain: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_check: Option<FaceCheck>,
}

/// `configuration` of a requested credential.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestedConfiguration {
    #[serde(default)]
    pub validation: Validation,
}

/// One credential a presentation request asks for.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestedCredential {
    /// The credential type, e.g. `VerifiedEmployee`.
    #[serde(rename = "type")]
    pub credential_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// DIDs whose credentials are accepted; empty or missing = any issuer.
    #[serde(default)]
    pub accepted_issuers: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<ClaimConstraint>,
    #[serde(default)]
    pub configuration: RequestedConfiguration,
    /// Profile `openid4vp` only: claims the wallet is asked to disclose besides the constrained
    /// ones (top-level SD-JWT VC claims, `credentialSubject` members of a JWT-VC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

/// `POST /v1.0/verifiableCredentials/createPresentationRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresentationRequest {
    /// DID of an authority of the caller's tenant (the verifier).
    pub authority: String,
    #[serde(default, rename = "includeQRCode")]
    pub include_qr_code: bool,
    /// The image format of `qrCode` when `includeQRCode` is set: `png` (default, as the hosted
    /// service) or `svg` (a Verity addition).
    #[serde(
        default,
        rename = "qrCodeFormat",
        skip_serializing_if = "Option::is_none"
    )]
    pub qr_code_format: Option<QrCodeFormat>,
    /// Add the raw id_token/vp_token to the `presentation_verified` callback.
    #[serde(default)]
    pub include_receipt: bool,
    pub registration: Registration,
    /// Where status events go; without it the app polls the request's status instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
    /// At least one.
    pub requested_credentials: Vec<RequestedCredential>,
    /// The wallet protocol: absent for the hosted profile (`openid-vc://`), `openid4vp` for
    /// OpenID4VP 1.0 with DCQL and `direct_post` (`openid4vp://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Profile `openid4vp` only: the Client Identifier Prefix, `decentralized_identifier`
    /// (default: a request object signed by the authority) or `redirect_uri` (an unsigned
    /// request passed by value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_prefix: Option<String>,
}

/// The image format of a returned QR code (`qrCodeFormat`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum QrCodeFormat {
    /// `data:image/png;base64,...`
    #[default]
    Png,
    /// `data:image/svg+xml;base64,...`
    Svg,
}
