//! The contract data model: serde types whose JSON field names follow the hosted Verified ID
//! "rules definition" and "display definition" models where those define a field.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ContractError;

/// The `configuration` value that stands for the RP-supplied claims of an idTokenHint flow.
pub const SELF_ISSUED_CONFIGURATION: &str = "https://self-issued.me";

/// The redirect URI the hosted service requires for idTokens attestations (Authenticator's).
pub const DEFAULT_REDIRECT_URI: &str = "vcclient://openid/";

/// Prefix of display claim paths for JWT-VC credentials.
pub const CREDENTIAL_SUBJECT_PREFIX: &str = "vc.credentialSubject.";

/// One credential type an authority issues: rules (where claims come from) and display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contract {
    /// Slug used in URLs (manifest, issuance endpoint), e.g. `verified-employee`.
    pub id: String,
    /// The DID of the authority that signs manifests and credentials.
    pub authority: String,
    /// Human name of the contract (admin lists, logs).
    pub name: String,
    /// Where claims come from and how long the credential lives.
    pub rules: Rules,
    /// How wallets show the card, consent screen and claims.
    pub display: Display,
}

impl Contract {
    /// Parses and validates a contract; errors carry the JSON path of the bad field.
    pub fn from_json(json: &str) -> Result<Contract, ContractError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let contract: Contract = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ContractError::Parse {
                path,
                reason: e.inner().to_string(),
            }
        })?;
        contract.validate()?;
        Ok(contract)
    }

    /// Every mapping of every attestation with its kind and JSON path, in document order.
    pub fn mappings(&self) -> Vec<(AttestationKind, String, &ClaimMapping)> {
        let mut out = Vec::new();
        for (kind, path, mapping) in self.rules.attestations.all() {
            for (i, m) in mapping.iter().enumerate() {
                out.push((kind, format!("{path}.mapping[{i}]"), m));
            }
        }
        out
    }

    /// The mapping whose value is the revocation search key (`indexed: true`), if any.
    pub fn indexed_claim(&self) -> Option<&ClaimMapping> {
        self.mappings()
            .into_iter()
            .map(|(_, _, m)| m)
            .find(|m| m.indexed)
    }

    /// True when the RP supplies claims in createIssuanceRequest (an idTokenHint attestation).
    pub fn uses_id_token_hint(&self) -> bool {
        !self.rules.attestations.id_token_hints.is_empty()
    }

    /// The credential's `type` array: `VerifiableCredential` followed by the contract's types.
    pub fn credential_types(&self) -> Vec<String> {
        std::iter::once("VerifiableCredential".to_owned())
            .chain(self.rules.vc.types.iter().cloned())
            .collect()
    }
}

/// `rules`: the hosted rulesModel plus Verity's `revocable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rules {
    /// The attestation flows that gather the claims.
    pub attestations: Attestations,
    /// Credential lifetime in seconds.
    pub validity_interval: u64,
    /// Credential types of this contract.
    pub vc: VcType,
    /// Whether issued credentials get a revocation status entry (default true).
    #[serde(default = "default_true")]
    pub revocable: bool,
    /// Whether issued JWT-VCs also get a suspension status entry, so an operator can suspend
    /// and resume them (default false; needs `revocable`). Their lists are multi-purpose
    /// (revocation and suspension at one index). SD-JWT VCs of the contract are revocable only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspendable: bool,
}

fn default_true() -> bool {
    true
}

/// `rules.vc`: the credential types this contract issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VcType {
    /// Types added after `VerifiableCredential`, e.g. `["VerifiedEmployee"]`.
    #[serde(rename = "type")]
    pub types: Vec<String>,
}

/// `rules.attestations`. `selfIssued` is one object; the other kinds are arrays (as hosted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestations {
    /// Claims supplied by the RP in createIssuanceRequest (at most one entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_hints: Vec<IdTokenHintAttestation>,
    /// Sign-ins at OpenID Connect providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_tokens: Vec<IdTokenAttestation>,
    /// Values typed by the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_issued: Option<SelfIssuedAttestation>,
    /// Other verifiable credentials the holder presents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presentations: Vec<PresentationAttestation>,
    /// OAuth access tokens (JWT) from configured providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_tokens: Vec<AccessTokenAttestation>,
}

impl Attestations {
    /// Each attestation's kind, JSON path and mapping, in a fixed order.
    pub fn all(&self) -> Vec<(AttestationKind, String, &[ClaimMapping])> {
        let base = "rules.attestations";
        let mut out: Vec<(AttestationKind, String, &[ClaimMapping])> = Vec::new();
        for (i, a) in self.id_token_hints.iter().enumerate() {
            out.push((
                AttestationKind::IdTokenHint,
                format!("{base}.idTokenHints[{i}]"),
                &a.mapping,
            ));
        }
        for (i, a) in self.id_tokens.iter().enumerate() {
            out.push((
                AttestationKind::IdToken,
                format!("{base}.idTokens[{i}]"),
                &a.mapping,
            ));
        }
        if let Some(a) = &self.self_issued {
            out.push((
                AttestationKind::SelfIssued,
                format!("{base}.selfIssued"),
                &a.mapping,
            ));
        }
        for (i, a) in self.presentations.iter().enumerate() {
            out.push((
                AttestationKind::Presentation,
                format!("{base}.presentations[{i}]"),
                &a.mapping,
            ));
        }
        for (i, a) in self.access_tokens.iter().enumerate() {
            out.push((
                AttestationKind::AccessToken,
                format!("{base}.accessTokens[{i}]"),
                &a.mapping,
            ));
        }
        out
    }

    /// True when no attestation of any kind is configured.
    pub fn is_empty(&self) -> bool {
        self.all().is_empty()
    }
}

/// An attestation kind, as named in `rules.attestations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AttestationKind {
    /// `idTokenHints`: claims from the RP; map_claims input is the createIssuanceRequest `claims`.
    IdTokenHint,
    /// `idTokens`: input is the validated id_token's claims.
    IdToken,
    /// `selfIssued`: input is the holder's `selfIssued` object.
    SelfIssued,
    /// `presentations`: input is the presented credential's `credentialSubject`.
    Presentation,
    /// `accessTokens`: input is the validated access token's claims.
    AccessToken,
}

impl AttestationKind {
    /// The field name under `rules.attestations`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdTokenHint => "idTokenHints",
            Self::IdToken => "idTokens",
            Self::SelfIssued => "selfIssued",
            Self::Presentation => "presentations",
            Self::AccessToken => "accessTokens",
        }
    }
}

impl fmt::Display for AttestationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hosted claimMapping type: one input claim to one credential claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMapping {
    /// The credential claim (`vc.credentialSubject.<outputClaim>`).
    pub output_claim: String,
    /// The input claim: a plain name (`given_name`) or a JSON path (`$.address.locality`).
    pub input_claim: String,
    /// The attestation's input must carry this claim.
    #[serde(default)]
    pub required: bool,
    /// This claim's value is the revocation search key (at most one per contract).
    #[serde(default)]
    pub indexed: bool,
    /// The value's type; any JSON value is accepted when absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub claim_type: Option<ClaimType>,
}

/// A claim type, in both the mapping and the display model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ClaimType {
    /// A JSON string.
    String,
    /// A JSON number (or a string holding one, as RPs written for the hosted API send).
    Number,
    /// A JSON boolean (or `"true"`/`"false"`).
    Boolean,
    /// An ISO 8601 date (`2024-05-01`) or RFC 3339 date-time string.
    Date,
    /// An image: data URI or base64/base64url, at most 1 MB decoded.
    Image,
    /// A JPEG as the hosted display model names it (Authenticator renders it as a photo).
    #[serde(rename = "image/jpg;base64url", alias = "image/jpeg;base64url")]
    ImageJpg,
    /// A PNG in the hosted display model's naming.
    #[serde(rename = "image/png;base64url")]
    ImagePng,
}

impl ClaimType {
    /// The name as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Number => "Number",
            Self::Boolean => "Boolean",
            Self::Date => "Date",
            Self::Image => "Image",
            Self::ImageJpg => "image/jpg;base64url",
            Self::ImagePng => "image/png;base64url",
        }
    }

    /// True for the image types.
    pub fn is_image(self) -> bool {
        matches!(self, Self::Image | Self::ImageJpg | Self::ImagePng)
    }

    /// Whether a mapping of type `self` may be shown with display type `other`.
    pub fn compatible_with(self, other: ClaimType) -> bool {
        self == other || (self.is_image() && other.is_image())
    }
}

impl fmt::Display for ClaimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hosted idTokenHintAttestation type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdTokenHintAttestation {
    /// Input to credential claim rules.
    #[serde(default)]
    pub mapping: Vec<ClaimMapping>,
    /// Hosted rules files may carry `https://self-issued.me` here; nothing else is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    /// Whether the attestation is required.
    #[serde(default)]
    pub required: bool,
    /// DIDs allowed to have issued the hint when it comes from another issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_issuers: Option<Vec<String>>,
}

/// The hosted idTokenAttestation type: a sign-in at an OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdTokenAttestation {
    /// Input to credential claim rules.
    #[serde(default)]
    pub mapping: Vec<ClaimMapping>,
    /// The provider's OpenID Connect discovery URL.
    pub configuration: String,
    /// The client id the wallet signs in with; the id_token's `aud` must contain it.
    pub client_id: String,
    /// Redirect URI for the sign-in (the hosted service requires `vcclient://openid/`).
    #[serde(default = "default_redirect_uri")]
    pub redirect_uri: String,
    /// Space-delimited scopes; must include `openid`.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Whether the attestation is required.
    #[serde(default)]
    pub required: bool,
    /// DIDs allowed to issue for this contract in cross-issuer scenarios (hosted field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_issuers: Option<Vec<String>>,
}

fn default_redirect_uri() -> String {
    DEFAULT_REDIRECT_URI.to_owned()
}

fn default_scope() -> String {
    "openid".to_owned()
}

/// The hosted selfIssuedAttestation type: values typed by the holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelfIssuedAttestation {
    /// Input to credential claim rules.
    #[serde(default)]
    pub mapping: Vec<ClaimMapping>,
    /// Whether the attestation is required.
    #[serde(default)]
    pub required: bool,
}

/// The hosted verifiablePresentationAttestation type: another credential the holder presents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresentationAttestation {
    /// Input to credential claim rules (input is the credential's `credentialSubject`).
    #[serde(default)]
    pub mapping: Vec<ClaimMapping>,
    /// The credential type the holder must present.
    pub credential_type: String,
    /// DIDs whose credentials are accepted; empty means the contract's own authority.
    #[serde(default)]
    pub trusted_issuers: Vec<String>,
    /// Whether the attestation is required.
    #[serde(default)]
    pub required: bool,
}

/// An OAuth access token (JWT) attestation (Verity's model; wallets know the kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenAttestation {
    /// Input to credential claim rules.
    #[serde(default)]
    pub mapping: Vec<ClaimMapping>,
    /// The authorization server's OpenID Connect / OAuth discovery URL.
    pub configuration: String,
    /// The client id the wallet obtains the token with.
    pub client_id: String,
    /// The `aud` the token must carry; the client id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Redirect URI for obtaining the token.
    #[serde(default = "default_redirect_uri")]
    pub redirect_uri: String,
    /// Space-delimited scopes to request.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Whether the attestation is required.
    #[serde(default)]
    pub required: bool,
}

/// `display`: the hosted displayModel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Display {
    /// BCP 47 locale of the texts, e.g. `en-US`.
    pub locale: String,
    /// The card as wallets draw it.
    pub card: DisplayCard,
    /// Texts of the consent screen.
    pub consent: DisplayConsent,
    /// Labels of the credential's claims.
    #[serde(default)]
    pub claims: Vec<DisplayClaim>,
}

/// The hosted displayCredential type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisplayCard {
    /// Title of the credential.
    pub title: String,
    /// Name of the issuer as shown.
    pub issued_by: String,
    /// Background colour, `#RRGGBB`.
    pub background_color: String,
    /// Text colour, `#RRGGBB`.
    pub text_color: String,
    /// Logo image.
    pub logo: DisplayLogo,
    /// Supplemental text on the card.
    pub description: String,
}

/// The hosted displayCredentialLogo type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisplayLogo {
    /// Logo URL (https) or a `data:image/...` URI.
    pub uri: String,
    /// Alternative text of the logo.
    pub description: String,
}

/// The hosted displayConsent type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisplayConsent {
    /// Consent title.
    pub title: String,
    /// Supplemental consent text.
    pub instructions: String,
}

/// The hosted displayClaims type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisplayClaim {
    /// `vc.credentialSubject.<outputClaim>`.
    pub claim: String,
    /// Label shown next to the value.
    pub label: String,
    /// How the wallet renders the value.
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// Optional longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl DisplayClaim {
    /// The output claim this display entry labels (the part after `vc.credentialSubject.`).
    pub fn output_claim(&self) -> Option<&str> {
        self.claim.strip_prefix(CREDENTIAL_SUBJECT_PREFIX)
    }
}
