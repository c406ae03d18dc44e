//! OpenID4VCI 1.0 issuer building blocks: the pre-authorized code flow (with `tx_code`) over the
//! existing contracts. Pure functions and types: no HTTP server, no store; time is a parameter
//! (`now`, unix seconds).
//!
//! Section numbers are those of the final OpenID for Verifiable Credential Issuance 1.0.
//!
//! | step | here | spec |
//! |---|---|---|
//! | metadata | [`credential_issuer_metadata`] from [`CredentialConfiguration::from_contract`] (`dc+sd-jwt`, `jwt_vc_json`), [`authorization_server_metadata`], [`well_known_url`] | 12.2, 12.3, A.1.1, A.3, B.2 |
//! | offer | [`CredentialOffer`], [`offer_uri_by_value`], [`offer_uri_by_reference`] | 4.1 |
//! | token | [`parse_token_request`], [`PreAuthorizedTokenRequest::check_tx_code`], [`token_response`]; access tokens [`mint_access_token`] / [`check_access_token`] (HMAC, any replica checks them) | 6.1-6.3, RFC 6750 |
//! | nonce | [`issue_nonce`], [`check_nonce`], [`StatelessNonces`], [`nonce_response`] | 7, 13.8 |
//! | credential | [`parse_credential_request`], [`verify_proof_jwt`] / [`verify_proofs`], [`credential_response`] | 8.2, 8.3, F.1, F.4 |
//! | errors | [`Oid4vciError`]: the spec's `error` codes, HTTP status, `error_description` | 6.3, 8.3.1 |
//!
//! **What stays with the caller** (the server, over its store): looking the pre-authorized code
//! up (single use, short lived: an unknown, used or expired code is
//! [`Oid4vciError::InvalidGrant`]), counting wrong `tx_code` guesses, binding the access token's request
//! to the offer's configuration id and delivering once, and **single use of a `c_nonce`**:
//! the nonce of an accepted proof ([`HolderBinding::nonce`]) is recorded by the issue step in
//! the replay store, kept until `now + lifetime + NONCE_SKEW_SECS`, and a [`NonceValidator`]
//! that consults that store refuses it the second time. [`check_nonce`] alone only proves the
//! nonce is ours and fresh.
//!
//! Not supported (yet): the authorization code flow, `authorization_details` /
//! `credential_identifier`, batch issuance (one proof per request), encrypted requests and
//! responses, deferred issuance, notifications, `x5c`, key attestations, and `kid` proofs other
//! than `did:jwk` / `did:key` (both resolved locally; `did:web` needs the resolver seam).

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use verity_contracts::{ClaimMapping, Contract};
use verity_did::{Relationship, did_jwk_from_jwk, resolve_did_jwk, resolve_did_key};
use verity_jose::kind::KEY_PROOF_TYP;
use verity_jose::{Algorithm, JoseError, Jwk, TokenKind, UnverifiedJws, check_times};

use crate::pin::{check_pin, pin_hash};

/// The grant type of the pre-authorized code flow (section 4.1.1).
pub const PRE_AUTHORIZED_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The custom scheme of credential offers when the wallet's offer endpoint is unknown (12.1.1).
pub const CREDENTIAL_OFFER_SCHEME: &str = "openid-credential-offer://";
/// The well-known suffix of credential issuer metadata (12.2.2).
pub const CREDENTIAL_ISSUER_WELL_KNOWN: &str = "openid-credential-issuer";
/// The well-known suffix of OAuth 2.0 authorization server metadata (RFC 8414 section 3).
pub const AUTHORIZATION_SERVER_WELL_KNOWN: &str = "oauth-authorization-server";
/// Largest key proof JWT accepted; the size is checked before any decoding.
pub const MAX_PROOF_BYTES: usize = 32 * 1024;
/// Key proofs per credential request: no `batch_credential_issuance` is published.
pub const MAX_PROOFS_PER_REQUEST: usize = 1;
/// Clock difference tolerated between replicas on a `c_nonce`'s issue time, seconds.
pub const NONCE_SKEW_SECS: i64 = 60;
/// Smallest secret a [`NonceKey`] accepts, bytes.
pub const MIN_NONCE_KEY_BYTES: usize = 32;
/// Longest `tx_code.description` (section 4.1.1); longer text is cut.
pub const TX_CODE_DESCRIPTION_MAX: usize = 300;

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

/// Which check of a key proof failed (`invalid_proof`, section 8.3.1.2 and F.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofCheck {
    /// Not a compact JWS of JSON claims within [`MAX_PROOF_BYTES`], or a `crit` header.
    Malformed,
    /// The header `typ` is not `openid4vci-proof+jwt`.
    Type,
    /// `alg` is `none`, HMAC, unsupported, not in `proof_signing_alg_values_supported`, or not
    /// the key's algorithm.
    Algorithm,
    /// No usable public key in the header: none, both `jwk` and `kid`, private members, `x5c`,
    /// a `kid` that is not a `did:jwk` / `did:key` URL.
    Key,
    /// The signature does not verify with the header's key.
    Signature,
    /// `aud` is missing or not the credential issuer identifier.
    Audience,
    /// `iat` missing, too old or in the future; `exp` passed; `nbf` ahead.
    Time,
    /// A claim has the wrong type (`iss`) or belongs to another kind of token (`vc`, `cnf`...).
    Claims,
    /// The proof carries no `nonce` although the issuer has a nonce endpoint.
    NonceMissing,
}

impl ProofCheck {
    /// Short name of the check, as used in descriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "format",
            Self::Type => "typ",
            Self::Algorithm => "alg",
            Self::Key => "key",
            Self::Signature => "signature",
            Self::Audience => "aud",
            Self::Time => "time",
            Self::Claims => "claims",
            Self::NonceMissing => "nonce",
        }
    }
}

/// Why a `c_nonce` was refused (`invalid_nonce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Not one of our nonces by its shape (length, encoding, version).
    Malformed,
    /// Our shape, but the MAC does not verify: not issued with our key.
    Forged,
    /// Older than the nonce lifetime.
    Expired,
    /// Issued later than now (beyond [`NONCE_SKEW_SECS`]).
    IssuedInFuture,
    /// Refused by the caller's validator (already used, unknown).
    Rejected,
}

impl NonceCheck {
    fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "is not a c_nonce of this issuer",
            Self::Forged => "was not issued by this issuer",
            Self::Expired => "has expired",
            Self::IssuedInFuture => "is issued in the future",
            Self::Rejected => "is not accepted (already used or unknown)",
        }
    }
}

/// An OpenID4VCI error answer: one variant per `error` code of the token endpoint (RFC 6749
/// section 5.2, OpenID4VCI 6.3) and the credential endpoint (RFC 6750 section 3.1, OpenID4VCI
/// 8.3.1.2).
///
/// [`Oid4vciError::error_code`] is the spec's exact `error` string, [`Oid4vciError::status`]
/// the HTTP status, [`Oid4vciError::to_json`] the body. Descriptions name the parameter and
/// the check; they never contain codes, tokens, nonces or transaction codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Oid4vciError {
    /// Token endpoint: a parameter is missing, repeated or not expected (`tx_code` sent
    /// without being asked for, or missing when asked for).
    #[error("token request: `{parameter}` {reason}")]
    InvalidRequest {
        /// The offending parameter.
        parameter: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Token endpoint: `grant_type` is not the pre-authorized code grant.
    #[error(
        "token request: `grant_type` {grant_type} is not supported (supported: {PRE_AUTHORIZED_CODE_GRANT})"
    )]
    UnsupportedGrantType {
        /// The grant type sent (shortened).
        grant_type: String,
    },
    /// Token endpoint: the pre-authorized code is unknown, used or expired, or the `tx_code`
    /// is wrong.
    #[error("token request: {reason}")]
    InvalidGrant {
        /// Which check failed (never the code itself).
        reason: String,
    },
    /// Token endpoint: client authentication failed (or anonymous access is not allowed).
    #[error("token request: {reason}")]
    InvalidClient {
        /// Why.
        reason: String,
    },
    /// Credential endpoint: the access token is missing, expired or not ours (RFC 6750).
    #[error("access token: {reason}")]
    InvalidToken {
        /// Why.
        reason: String,
    },
    /// Credential endpoint: the access token does not cover the requested configuration.
    #[error("access token: {reason}")]
    InsufficientScope {
        /// Why.
        reason: String,
    },
    /// Credential endpoint: the request is malformed, misses a required parameter or sends an
    /// unsupported one.
    #[error("credential request: `{parameter}` {reason}")]
    InvalidCredentialRequest {
        /// The offending parameter.
        parameter: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Credential endpoint: `credential_configuration_id` names no configuration we publish.
    #[error(
        "credential request: `credential_configuration_id` {id} is not in credential_configurations_supported"
    )]
    UnknownCredentialConfiguration {
        /// The id sent (shortened).
        id: String,
    },
    /// Credential endpoint: `proofs` is missing or malformed, or a key proof failed a check.
    #[error("key proof `proofs.jwt[{index}]`: {} check failed: {reason}", check.as_str())]
    InvalidProof {
        /// Position of the proof in `proofs.jwt` (0 for the malformed `proofs` itself).
        index: usize,
        /// The check that failed.
        check: ProofCheck,
        /// What was wrong.
        reason: String,
    },
    /// Credential endpoint: a key proof's `nonce` is not a valid `c_nonce`; the wallet fetches
    /// a new one from the nonce endpoint.
    #[error("key proof `nonce` {}: fetch a new c_nonce", check.reason())]
    InvalidNonce {
        /// Why the nonce was refused.
        check: NonceCheck,
    },
    /// Credential endpoint: encryption parameters sent that this issuer does not support.
    #[error("credential request: {reason}")]
    InvalidEncryptionParameters {
        /// Why.
        reason: String,
    },
    /// Credential endpoint: the issuer will not issue this credential (unrecoverable).
    #[error("credential request denied: {reason}")]
    CredentialRequestDenied {
        /// Why.
        reason: String,
    },
}

impl Oid4vciError {
    /// The `error` value, exactly as RFC 6749 / RFC 6750 / OpenID4VCI name it.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::UnsupportedGrantType { .. } => "unsupported_grant_type",
            Self::InvalidGrant { .. } => "invalid_grant",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidToken { .. } => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::InvalidCredentialRequest { .. } => "invalid_credential_request",
            Self::UnknownCredentialConfiguration { .. } => "unknown_credential_configuration",
            Self::InvalidProof { .. } => "invalid_proof",
            Self::InvalidNonce { .. } => "invalid_nonce",
            Self::InvalidEncryptionParameters { .. } => "invalid_encryption_parameters",
            Self::CredentialRequestDenied { .. } => "credential_request_denied",
        }
    }

    /// The HTTP status: 401 for `invalid_client` (RFC 6749 5.2) and `invalid_token` (RFC 6750
    /// 3.1), 403 for `insufficient_scope`, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } | Self::InvalidToken { .. } => 401,
            Self::InsufficientScope { .. } => 403,
            _ => 400,
        }
    }

    /// The `error_description`: the message restricted to the characters OAuth allows
    /// (`%x20-21 / %x23-5B / %x5D-7E`; `"` becomes `'`, anything else `?`).
    pub fn description(&self) -> String {
        oauth_text(&self.to_string())
    }

    /// The response body: `{ "error", "error_description" }`.
    pub fn to_json(&self) -> Value {
        json!({ "error": self.error_code(), "error_description": self.description() })
    }

    /// The `WWW-Authenticate` value of the credential endpoint's authorization errors (RFC 6750
    /// section 3); `None` for the others.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::InvalidToken { .. } | Self::InsufficientScope { .. } => Some(format!(
                "Bearer error=\"{}\", error_description=\"{}\"",
                self.error_code(),
                self.description()
            )),
            _ => None,
        }
    }

    fn with_index(self, i: usize) -> Self {
        match self {
            Self::InvalidProof { check, reason, .. } => Self::InvalidProof {
                index: i,
                check,
                reason,
            },
            other => other,
        }
    }
}

/// OAuth's `error_description` character set (RFC 6749 section 5.2).
fn oauth_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Client input echoed in a description: at most 64 characters, OAuth's character set.
fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().count() > 64 {
        out.push_str("...");
    }
    oauth_text(&out)
}

// ------------------------------------------------------------------------------------------
// Metadata (section 12)
// ------------------------------------------------------------------------------------------

/// A logo (`uri` and `alt_text`), of the issuer or of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// `https:` or `data:` URI of the image.
    pub uri: String,
    /// Alternative text.
    pub alt_text: Option<String>,
}

impl Logo {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("uri".into(), json!(self.uri));
        if let Some(alt) = &self.alt_text {
            o.insert("alt_text".into(), json!(alt));
        }
        Value::Object(o)
    }
}

/// The issuer's display for one locale (`display` of the issuer metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDisplay {
    /// Display name of the issuer.
    pub name: String,
    /// BCP 47 language tag.
    pub locale: Option<String>,
    /// The issuer's logo.
    pub logo: Option<Logo>,
}

/// Everything the issuer metadata says about the issuer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDescriptor {
    /// The credential issuer identifier: an https URL without query or fragment; proofs'
    /// `aud`.
    pub credential_issuer: String,
    /// URL of the credential endpoint.
    pub credential_endpoint: String,
    /// URL of the nonce endpoint (its presence makes `nonce` mandatory in key proofs).
    pub nonce_endpoint: String,
    /// Authorization server identifiers; empty when the issuer is its own authorization
    /// server (then the member is omitted).
    pub authorization_servers: Vec<String>,
    /// Display per locale; omitted when empty.
    pub display: Vec<IssuerDisplay>,
}

/// The format of a credential configuration, with its format-specific type member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// IETF SD-JWT VC (`dc+sd-jwt`, A.3): bound to a `jwk`, typed by `vct`.
    DcSdJwt {
        /// The credential type (`vct`), e.g. [`crate::default_vct`].
        vct: String,
    },
    /// W3C VCDM 1.1 JWT-VC (`jwt_vc_json`, A.1.1): bound to a DID, typed by
    /// `credential_definition.type`.
    JwtVcJson,
}

impl Format {
    /// The format identifier (`dc+sd-jwt`, `jwt_vc_json`).
    pub fn identifier(&self) -> &'static str {
        match self {
            Self::DcSdJwt { .. } => "dc+sd-jwt",
            Self::JwtVcJson => "jwt_vc_json",
        }
    }

    /// `cryptographic_binding_methods_supported`: a JWK for SD-JWT VCs (`cnf.jwk`), the DIDs a
    /// key proof can name for JWT-VCs (`credentialSubject.id`; a `jwk` header is bound as its
    /// `did:jwk`).
    pub fn binding_methods(&self) -> &'static [&'static str] {
        match self {
            Self::DcSdJwt { .. } => &["jwk"],
            Self::JwtVcJson => &["did:jwk", "did:key"],
        }
    }

    /// The claims path pointer (appendix C) of a subject claim in this format.
    pub fn claim_path(&self, output_claim: &str) -> Vec<String> {
        match self {
            Self::DcSdJwt { .. } => vec![output_claim.to_owned()],
            Self::JwtVcJson => vec!["credentialSubject".to_owned(), output_claim.to_owned()],
        }
    }
}

/// How a wallet shows a credential, for one locale (`credential_metadata.display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDisplay {
    /// Name of the credential.
    pub name: String,
    /// BCP 47 language tag.
    pub locale: Option<String>,
    /// Description of the credential.
    pub description: Option<String>,
    /// CSS colour of the card.
    pub background_color: Option<String>,
    /// CSS colour of the text.
    pub text_color: Option<String>,
    /// The credential's logo.
    pub logo: Option<Logo>,
}

/// The label of a claim in one locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDisplay {
    /// The label.
    pub name: String,
    /// BCP 47 language tag.
    pub locale: Option<String>,
}

/// A claims description object of the issuer metadata (appendix B.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDescription {
    /// Claims path pointer (appendix C).
    pub path: Vec<String>,
    /// True when every issued credential carries the claim.
    pub mandatory: bool,
    /// Labels per locale.
    pub display: Vec<ClaimDisplay>,
}

/// One entry of `credential_configurations_supported`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialConfiguration {
    /// The configuration id (the key in `credential_configurations_supported`, offers and
    /// credential requests); also published as its `scope`.
    pub id: String,
    /// Format and type.
    pub format: Format,
    /// `VerifiableCredential` and the contract's types (`credential_definition.type` of
    /// `jwt_vc_json`).
    pub credential_types: Vec<String>,
    /// Algorithms the authority signs this credential with.
    pub credential_signing_algs: Vec<Algorithm>,
    /// Algorithms accepted for `jwt` key proofs; pass the same list to [`ProofPolicy`].
    pub proof_signing_algs: Vec<Algorithm>,
    /// Card display.
    pub display: Vec<CredentialDisplay>,
    /// Claim labels, in display order.
    pub claims: Vec<ClaimDescription>,
}

/// Proof algorithms accepted by default: every algorithm Verity verifies and can also sign
/// with (RSA is for OpenID Connect providers only).
pub const DEFAULT_PROOF_SIGNING_ALGS: [Algorithm; 3] = Algorithm::ALL;

impl CredentialConfiguration {
    /// The configuration of `contract` in `format`: type from the contract (`vct` given, or
    /// `VerifiableCredential` + `rules.vc.type`), card display from `display.card` (title,
    /// description, colours, logo), one claims description per `display.claims` entry (path
    /// from `vc.credentialSubject.<claim>`, label and locale, `mandatory` when the mapping and
    /// its attestation are both required), proofs with [`DEFAULT_PROOF_SIGNING_ALGS`].
    ///
    /// `id` must be unique among the configurations (e.g. the contract slug, with a suffix
    /// when the contract is offered in both formats).
    pub fn from_contract(
        id: impl Into<String>,
        contract: &Contract,
        format: Format,
        credential_signing_algs: &[Algorithm],
    ) -> CredentialConfiguration {
        let d = &contract.display;
        let locale = Some(d.locale.clone()).filter(|l| !l.is_empty());
        let non_empty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        let display = CredentialDisplay {
            name: d.card.title.clone(),
            locale: locale.clone(),
            description: non_empty(&d.card.description),
            background_color: non_empty(&d.card.background_color),
            text_color: non_empty(&d.card.text_color),
            logo: non_empty(&d.card.logo.uri).map(|uri| Logo {
                uri,
                alt_text: non_empty(&d.card.logo.description),
            }),
        };
        let always = always_issued(contract);
        let mut seen = BTreeSet::new();
        let claims = d
            .claims
            .iter()
            .filter_map(|c| c.output_claim().map(|o| (o, c)))
            // A repeated claims description aborts the wallet's processing (B.3).
            .filter(|(o, _)| seen.insert(*o))
            .map(|(o, c)| ClaimDescription {
                path: format.claim_path(o),
                mandatory: always.contains(o),
                display: vec![ClaimDisplay {
                    name: c.label.clone(),
                    locale: locale.clone(),
                }],
            })
            .collect();
        CredentialConfiguration {
            id: id.into(),
            format,
            credential_types: contract.credential_types(),
            credential_signing_algs: credential_signing_algs.to_vec(),
            proof_signing_algs: DEFAULT_PROOF_SIGNING_ALGS.to_vec(),
            display: vec![display],
            claims,
        }
    }

    /// The configuration object (12.2.4 and the format's profile), with the complete
    /// `credential_metadata` (`display`, `claims`) of 1.0.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("format".into(), json!(self.format.identifier()));
        o.insert("scope".into(), json!(self.id));
        o.insert(
            "cryptographic_binding_methods_supported".into(),
            json!(self.format.binding_methods()),
        );
        if !self.credential_signing_algs.is_empty() {
            o.insert(
                "credential_signing_alg_values_supported".into(),
                json!(alg_names(&self.credential_signing_algs)),
            );
        }
        o.insert(
            "proof_types_supported".into(),
            json!({ "jwt": {
                "proof_signing_alg_values_supported": alg_names(&self.proof_signing_algs)
            } }),
        );
        match &self.format {
            Format::DcSdJwt { vct } => {
                o.insert("vct".into(), json!(vct));
            }
            Format::JwtVcJson => {
                o.insert(
                    "credential_definition".into(),
                    json!({ "type": self.credential_types }),
                );
            }
        }
        let mut meta = Map::new();
        if !self.display.is_empty() {
            meta.insert(
                "display".into(),
                Value::Array(self.display.iter().map(credential_display_json).collect()),
            );
        }
        if !self.claims.is_empty() {
            meta.insert(
                "claims".into(),
                Value::Array(self.claims.iter().map(claim_json).collect()),
            );
        }
        o.insert("credential_metadata".into(), Value::Object(meta));
        Value::Object(o)
    }
}

fn alg_names(algs: &[Algorithm]) -> Vec<&'static str> {
    algs.iter().map(|a| a.as_str()).collect()
}

fn credential_display_json(d: &CredentialDisplay) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(d.name));
    for (k, v) in [
        ("locale", &d.locale),
        ("description", &d.description),
        ("background_color", &d.background_color),
        ("text_color", &d.text_color),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    if let Some(logo) = &d.logo {
        o.insert("logo".into(), logo.to_json());
    }
    Value::Object(o)
}

fn claim_json(c: &ClaimDescription) -> Value {
    let mut o = Map::new();
    o.insert("path".into(), json!(c.path));
    if c.mandatory {
        o.insert("mandatory".into(), json!(true));
    }
    if !c.display.is_empty() {
        let display: Vec<Value> = c
            .display
            .iter()
            .map(|d| match &d.locale {
                Some(l) => json!({ "name": d.name, "locale": l }),
                None => json!({ "name": d.name }),
            })
            .collect();
        o.insert("display".into(), Value::Array(display));
    }
    Value::Object(o)
}

/// Output claims every issued credential carries: required mappings of required attestations
/// (a missing one fails the issuance).
fn always_issued(contract: &Contract) -> BTreeSet<&str> {
    let a = &contract.rules.attestations;
    let mut groups: Vec<(bool, &[ClaimMapping])> = Vec::new();
    groups.extend(
        a.id_token_hints
            .iter()
            .map(|x| (x.required, &x.mapping[..])),
    );
    groups.extend(a.id_tokens.iter().map(|x| (x.required, &x.mapping[..])));
    groups.extend(a.self_issued.iter().map(|x| (x.required, &x.mapping[..])));
    groups.extend(a.presentations.iter().map(|x| (x.required, &x.mapping[..])));
    groups.extend(a.access_tokens.iter().map(|x| (x.required, &x.mapping[..])));
    groups
        .into_iter()
        .filter(|(required, _)| *required)
        .flat_map(|(_, m)| m.iter())
        .filter(|m| m.required)
        .map(|m| m.output_claim.as_str())
        .collect()
}

fn issuer_display_json(d: &IssuerDisplay) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(d.name));
    if let Some(l) = &d.locale {
        o.insert("locale".into(), json!(l));
    }
    if let Some(logo) = &d.logo {
        o.insert("logo".into(), logo.to_json());
    }
    Value::Object(o)
}

/// The credential issuer metadata (12.2.4), served unsigned as `application/json` at
/// [`well_known_url`]`(credential_issuer, `[`CREDENTIAL_ISSUER_WELL_KNOWN`]`)`. A later
/// configuration with the same id replaces an earlier one.
pub fn credential_issuer_metadata(
    issuer: &IssuerDescriptor,
    configurations: &[CredentialConfiguration],
) -> Value {
    let mut o = Map::new();
    o.insert("credential_issuer".into(), json!(issuer.credential_issuer));
    if !issuer.authorization_servers.is_empty() {
        o.insert(
            "authorization_servers".into(),
            json!(issuer.authorization_servers),
        );
    }
    o.insert(
        "credential_endpoint".into(),
        json!(issuer.credential_endpoint),
    );
    o.insert("nonce_endpoint".into(), json!(issuer.nonce_endpoint));
    if !issuer.display.is_empty() {
        o.insert(
            "display".into(),
            Value::Array(issuer.display.iter().map(issuer_display_json).collect()),
        );
    }
    let supported: Map<String, Value> = configurations
        .iter()
        .map(|c| (c.id.clone(), c.to_json()))
        .collect();
    o.insert(
        "credential_configurations_supported".into(),
        Value::Object(supported),
    );
    Value::Object(o)
}

/// The OAuth 2.0 authorization server metadata (RFC 8414, OpenID4VCI 12.3) of an issuer that
/// is its own authorization server for the pre-authorized code flow: `issuer` is the
/// credential issuer identifier, the one grant type is the pre-authorized code, and Token
/// Requests without a `client_id` are accepted. `response_types_supported` is omitted, as
/// 12.2.4 allows for a server that only supports this grant.
pub fn authorization_server_metadata(issuer: &IssuerDescriptor, token_endpoint: &str) -> Value {
    json!({
        "issuer": issuer.credential_issuer,
        "token_endpoint": token_endpoint,
        "grant_types_supported": [PRE_AUTHORIZED_CODE_GRANT],
        "pre-authorized_grant_anonymous_access_supported": true,
    })
}

/// The well-known URL of `identifier` (12.2.2, RFC 8414 section 3.1): `/.well-known/<suffix>`
/// inserted between the host and the path (a trailing `/` of the path removed).
/// `None` when `identifier` has no `scheme://`.
pub fn well_known_url(identifier: &str, suffix: &str) -> Option<String> {
    let (scheme, rest) = identifier.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(format!("{scheme}://{authority}/.well-known/{suffix}{path}"))
}

// ------------------------------------------------------------------------------------------
// Credential offer (section 4.1)
// ------------------------------------------------------------------------------------------

/// The character set of a transaction code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxInputMode {
    /// Digits only (the default).
    Numeric,
    /// Any characters.
    Text,
}

impl TxInputMode {
    /// `numeric` or `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Text => "text",
        }
    }
}

/// The `tx_code` object of an offer: the wallet must ask the user for a transaction code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxCode {
    /// Length of the code, to draw the input.
    pub length: Option<u32>,
    /// Character set.
    pub input_mode: TxInputMode,
    /// How the user gets the code (at most [`TX_CODE_DESCRIPTION_MAX`] characters).
    pub description: Option<String>,
}

/// A credential offer of the pre-authorized code flow.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialOffer {
    /// The credential issuer identifier.
    pub credential_issuer: String,
    /// Offered configuration ids (non-empty; duplicates are dropped).
    pub credential_configuration_ids: Vec<String>,
    /// The pre-authorized code (a secret: short lived, single use).
    pub pre_authorized_code: String,
    /// The transaction code the token request must carry, if any.
    pub tx_code: Option<TxCode>,
}

impl fmt::Debug for CredentialOffer {
    // The pre-authorized code is a bearer secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialOffer")
            .field("credential_issuer", &self.credential_issuer)
            .field(
                "credential_configuration_ids",
                &self.credential_configuration_ids,
            )
            .field("tx_code", &self.tx_code)
            .finish_non_exhaustive()
    }
}

impl CredentialOffer {
    /// The credential offer object (4.1.1).
    pub fn to_json(&self) -> Value {
        let mut seen = BTreeSet::new();
        let ids: Vec<&str> = self
            .credential_configuration_ids
            .iter()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        let mut grant = Map::new();
        grant.insert(
            "pre-authorized_code".into(),
            json!(self.pre_authorized_code),
        );
        if let Some(tx) = &self.tx_code {
            let mut t = Map::new();
            t.insert("input_mode".into(), json!(tx.input_mode.as_str()));
            if let Some(len) = tx.length {
                t.insert("length".into(), json!(len));
            }
            if let Some(d) = &tx.description {
                let d: String = d.chars().take(TX_CODE_DESCRIPTION_MAX).collect();
                t.insert("description".into(), json!(d));
            }
            grant.insert("tx_code".into(), Value::Object(t));
        }
        json!({
            "credential_issuer": self.credential_issuer,
            "credential_configuration_ids": ids,
            "grants": { PRE_AUTHORIZED_CODE_GRANT: grant },
        })
    }
}

/// The offer by value (4.1.2): `openid-credential-offer://?credential_offer=<JSON, percent
/// encoded>`. Prefer [`offer_uri_by_reference`] for QR codes: the value carries the
/// pre-authorized code.
pub fn offer_uri_by_value(offer: &CredentialOffer) -> String {
    format!(
        "{CREDENTIAL_OFFER_SCHEME}?credential_offer={}",
        percent_encode(&offer.to_json().to_string())
    )
}

/// The offer by reference (4.1.3): `openid-credential-offer://?credential_offer_uri=<https
/// URL, percent encoded>`; the URL answers the offer object as `application/json`.
pub fn offer_uri_by_reference(credential_offer_uri: &str) -> String {
    format!(
        "{CREDENTIAL_OFFER_SCHEME}?credential_offer_uri={}",
        percent_encode(credential_offer_uri)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so a space is `%20`, never
/// `+`, whichever decoder the wallet uses).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Token endpoint (section 6)
// ------------------------------------------------------------------------------------------

/// A token request of the pre-authorized code flow.
#[derive(Clone, PartialEq, Eq)]
pub struct PreAuthorizedTokenRequest {
    /// The pre-authorized code (look it up; single use).
    pub pre_authorized_code: String,
    /// The transaction code the user typed, if sent (empty counts as not sent).
    pub tx_code: Option<String>,
    /// `client_id`, when the wallet sent one (anonymous access needs none); only recorded.
    pub client_id: Option<String>,
}

impl fmt::Debug for PreAuthorizedTokenRequest {
    // The code and the transaction code are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreAuthorizedTokenRequest")
            .field("tx_code_sent", &self.tx_code.is_some())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The transaction code a pre-authorized code expects, stored as the PIN is:
/// `hash = `[`pin_hash`]`(salt, code)`.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedTxCode<'a> {
    /// The salt.
    pub salt: &'a str,
    /// `base64(sha256(salt + code))`.
    pub hash: &'a str,
}

impl PreAuthorizedTokenRequest {
    /// Checks the transaction code against what the offer asked for (6.3): one sent but not
    /// asked for, or asked for but missing, is `invalid_request`; a wrong one `invalid_grant`
    /// (compared in constant time). Counting wrong guesses is the caller's.
    pub fn check_tx_code(&self, expected: Option<ExpectedTxCode<'_>>) -> Result<(), Oid4vciError> {
        match (expected, self.tx_code.as_deref()) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(Oid4vciError::InvalidRequest {
                parameter: "tx_code",
                reason: "was sent but the credential offer asked for none".into(),
            }),
            (Some(_), None) => Err(Oid4vciError::InvalidRequest {
                parameter: "tx_code",
                reason: "is required: the credential offer asked for a transaction code".into(),
            }),
            (Some(e), Some(sent)) => {
                check_pin(e.hash, Some(&pin_hash(e.salt, sent))).map_err(|_| {
                    Oid4vciError::InvalidGrant {
                        reason: "the transaction code (`tx_code`) is wrong".into(),
                    }
                })
            }
        }
    }
}

/// Parses a token request's form fields (already percent-decoded) for the pre-authorized code
/// flow (6.1): a repeated parameter or a missing `grant_type` / `pre-authorized_code` is
/// `invalid_request` (RFC 6749 section 3.2), another grant `unsupported_grant_type`. Other
/// parameters (`authorization_details`, `resource`...) are ignored, as 6.1 requires of
/// unrecognized ones.
pub fn parse_token_request(
    form: &[(String, String)],
) -> Result<PreAuthorizedTokenRequest, Oid4vciError> {
    let mut names = BTreeSet::new();
    for (name, _) in form {
        if !names.insert(name.as_str()) {
            let known = ["grant_type", "pre-authorized_code", "tx_code", "client_id"];
            return Err(match known.into_iter().find(|k| k == name) {
                Some(parameter) => Oid4vciError::InvalidRequest {
                    parameter,
                    reason: "is repeated (RFC 6749 section 3.2)".into(),
                },
                None => Oid4vciError::InvalidRequest {
                    parameter: "(form)",
                    reason: format!(
                        "parameter {} is repeated (RFC 6749 section 3.2)",
                        echo(name)
                    ),
                },
            });
        }
    }
    let get = |n: &str| {
        form.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let grant_type = get("grant_type").ok_or(Oid4vciError::InvalidRequest {
        parameter: "grant_type",
        reason: format!("is required ({PRE_AUTHORIZED_CODE_GRANT})"),
    })?;
    if grant_type != PRE_AUTHORIZED_CODE_GRANT {
        return Err(Oid4vciError::UnsupportedGrantType {
            grant_type: echo(grant_type),
        });
    }
    let code = get("pre-authorized_code").ok_or(Oid4vciError::InvalidRequest {
        parameter: "pre-authorized_code",
        reason: "is required with the pre-authorized code grant".into(),
    })?;
    Ok(PreAuthorizedTokenRequest {
        pre_authorized_code: code.to_owned(),
        tx_code: get("tx_code").map(str::to_owned),
        client_id: get("client_id").map(str::to_owned),
    })
}

/// The successful token response (6.2, RFC 6749 section 5.1); send with
/// `Cache-Control: no-store`.
pub fn token_response(access_token: &str, expires_in: i64) -> Value {
    json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in })
}

// ------------------------------------------------------------------------------------------
// c_nonce (section 7)
// ------------------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

/// Domain separation of the nonce MAC.
const NONCE_DOMAIN: &[u8] = b"verity openid4vci c_nonce v1\0";
const NONCE_VERSION: u8 = 1;
/// version (1) + random (16) + issued at (8, big-endian)
const NONCE_BODY: usize = 25;
const NONCE_LEN: usize = NONCE_BODY + 32;

/// The secret `c_nonce`s are MACed with (HMAC-SHA256); every replica must hold the same one.
#[derive(Clone)]
pub struct NonceKey {
    mac: HmacSha256,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// A [`NonceKey`] secret shorter than [`MIN_NONCE_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the c_nonce key must be at least {MIN_NONCE_KEY_BYTES} bytes, got {len}")]
pub struct NonceKeyError {
    /// Length of the secret given.
    pub len: usize,
}

impl NonceKey {
    /// A key from `secret` (at least [`MIN_NONCE_KEY_BYTES`] random bytes, e.g. derived from
    /// the key-encryption key).
    pub fn new(secret: &[u8]) -> Result<NonceKey, NonceKeyError> {
        if secret.len() < MIN_NONCE_KEY_BYTES {
            return Err(NonceKeyError { len: secret.len() });
        }
        // HMAC accepts keys of any length (RFC 2104 section 2).
        let mac = <HmacSha256 as Mac>::new_from_slice(secret)
            .map_err(|_| NonceKeyError { len: secret.len() })?;
        Ok(NonceKey { mac })
    }

    fn tag(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(NONCE_DOMAIN);
        mac.update(body);
        mac
    }
}

/// A fresh stateless `c_nonce`: base64url of version, 16 random bytes, the issue time and an
/// HMAC-SHA256 over them. Unpredictable, checkable by any replica without a store.
pub fn issue_nonce(key: &NonceKey, now: i64) -> String {
    let mut body = [0u8; NONCE_BODY];
    body[0] = NONCE_VERSION;
    OsRng.fill_bytes(&mut body[1..17]);
    body[17..].copy_from_slice(&now.to_be_bytes());
    let tag = key.tag(&body).finalize().into_bytes();
    let mut out = Vec::with_capacity(NONCE_LEN);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(out)
}

/// Checks a `c_nonce` of [`issue_nonce`]: ours (MAC compared in constant time), issued at most
/// [`NONCE_SKEW_SECS`] in the future, and younger than `lifetime` seconds. Every failure is
/// `invalid_nonce`.
///
/// This does **not** make a nonce single use: the caller records the nonce of an accepted
/// proof with the issue step (its replay store) until `now + lifetime + NONCE_SKEW_SECS` and
/// refuses it afterwards (see [`NonceValidator`]).
pub fn check_nonce(
    key: &NonceKey,
    nonce: &str,
    now: i64,
    lifetime: i64,
) -> Result<(), Oid4vciError> {
    let refuse = |check| Err(Oid4vciError::InvalidNonce { check });
    if nonce.len() > 2 * NONCE_LEN {
        return refuse(NonceCheck::Malformed);
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
        return refuse(NonceCheck::Malformed);
    };
    let (Some(body), Some(tag)) = (bytes.get(..NONCE_BODY), bytes.get(NONCE_BODY..)) else {
        return refuse(NonceCheck::Malformed);
    };
    if bytes.len() != NONCE_LEN || body.first() != Some(&NONCE_VERSION) {
        return refuse(NonceCheck::Malformed);
    }
    if key.tag(body).verify_slice(tag).is_err() {
        return refuse(NonceCheck::Forged);
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&body[17..]);
    let issued_at = i64::from_be_bytes(at);
    if issued_at > now.saturating_add(NONCE_SKEW_SECS) {
        return refuse(NonceCheck::IssuedInFuture);
    }
    if now >= issued_at.saturating_add(lifetime.max(0)) {
        return refuse(NonceCheck::Expired);
    }
    Ok(())
}

const ACCESS_TOKEN_DOMAIN: &[u8] = b"verity openid4vci access token v1\0";
const ACCESS_TOKEN_VERSION: u8 = 1;
const ACCESS_TOKEN_BODY: usize = 1 + 16 + 8;
const ACCESS_TOKEN_LEN: usize = ACCESS_TOKEN_BODY + 32;

/// The key that signs access tokens: an HMAC-SHA256 key every replica derives from the same
/// secret, so any replica accepts a token another handed out. Kept apart from the [`NonceKey`]
/// (derive the two from different labels) so a `c_nonce` never passes for an access token.
#[derive(Clone)]
pub struct AccessTokenKey {
    mac: HmacSha256,
}

impl fmt::Debug for AccessTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessTokenKey(..)")
    }
}

impl AccessTokenKey {
    /// A key from `secret` (at least [`MIN_NONCE_KEY_BYTES`] bytes).
    pub fn new(secret: &[u8]) -> Result<AccessTokenKey, NonceKeyError> {
        if secret.len() < MIN_NONCE_KEY_BYTES {
            return Err(NonceKeyError { len: secret.len() });
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(secret)
            .map_err(|_| NonceKeyError { len: secret.len() })?;
        Ok(AccessTokenKey { mac })
    }

    fn tag(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(ACCESS_TOKEN_DOMAIN);
        mac.update(body);
        mac
    }
}

/// What an access token grants: the credential of one issuance request (the offer whose code
/// was redeemed), until `expires_at` (unix seconds). Which configuration and claims that is,
/// and whether the credential was already delivered, the server reads from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessGrant {
    /// The issuance request.
    pub request_id: uuid::Uuid,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
}

/// Mints the bearer access token of `grant`: opaque to the wallet, checked by
/// [`check_access_token`] on any replica without a lookup. Single use comes from the request's
/// state machine (the credential step leaves `token_issued` once).
pub fn mint_access_token(key: &AccessTokenKey, grant: &AccessGrant) -> String {
    let mut body = [0u8; ACCESS_TOKEN_BODY];
    body[0] = ACCESS_TOKEN_VERSION;
    body[1..17].copy_from_slice(grant.request_id.as_bytes());
    body[17..].copy_from_slice(&grant.expires_at.to_be_bytes());
    let tag = key.tag(&body).finalize().into_bytes();
    let mut out = Vec::with_capacity(ACCESS_TOKEN_LEN);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(out)
}

/// Checks a bearer access token (RFC 6750): ours by its MAC and not expired at `now`.
/// [`Oid4vciError::InvalidToken`] otherwise, never saying more than which check failed.
pub fn check_access_token(
    key: &AccessTokenKey,
    token: &str,
    now: i64,
) -> Result<AccessGrant, Oid4vciError> {
    let refuse = |reason: &str| {
        Err(Oid4vciError::InvalidToken {
            reason: reason.to_owned(),
        })
    };
    if token.len() > 2 * ACCESS_TOKEN_LEN {
        return refuse("the access token is not one of this issuer's");
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(token) else {
        return refuse("the access token is not one of this issuer's");
    };
    if bytes.len() != ACCESS_TOKEN_LEN || bytes.first() != Some(&ACCESS_TOKEN_VERSION) {
        return refuse("the access token is not one of this issuer's");
    }
    let (body, tag) = bytes.split_at(ACCESS_TOKEN_BODY);
    if key.tag(body).verify_slice(tag).is_err() {
        return refuse("the access token was not issued by this issuer");
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&body[1..17]);
    let mut exp = [0u8; 8];
    exp.copy_from_slice(&body[17..]);
    let expires_at = i64::from_be_bytes(exp);
    if now >= expires_at {
        return refuse("the access token has expired");
    }
    Ok(AccessGrant {
        request_id: uuid::Uuid::from_bytes(id),
        expires_at,
    })
}

/// The nonce response (7.2); send with `Cache-Control: no-store`.
pub fn nonce_response(c_nonce: &str) -> Value {
    json!({ "c_nonce": c_nonce })
}

/// Decides whether a key proof's `nonce` is acceptable. Implementations answer
/// [`Oid4vciError::InvalidNonce`]; a closure `Fn(&str, i64) -> Result<(), Oid4vciError>` is
/// one (e.g. [`check_nonce`] plus a replay-store lookup).
pub trait NonceValidator {
    /// Checks `nonce` at `now`.
    fn validate(&self, nonce: &str, now: i64) -> Result<(), Oid4vciError>;
}

impl<F> NonceValidator for F
where
    F: Fn(&str, i64) -> Result<(), Oid4vciError>,
{
    fn validate(&self, nonce: &str, now: i64) -> Result<(), Oid4vciError> {
        self(nonce, now)
    }
}

/// [`check_nonce`] as a [`NonceValidator`] (no replay check).
#[derive(Debug, Clone, Copy)]
pub struct StatelessNonces<'a> {
    /// The MAC key.
    pub key: &'a NonceKey,
    /// Nonce lifetime, seconds.
    pub lifetime: i64,
}

impl NonceValidator for StatelessNonces<'_> {
    fn validate(&self, nonce: &str, now: i64) -> Result<(), Oid4vciError> {
        check_nonce(self.key, nonce, now, self.lifetime)
    }
}

// ------------------------------------------------------------------------------------------
// Credential endpoint (section 8)
// ------------------------------------------------------------------------------------------

/// A parsed credential request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    /// The requested configuration (one we publish).
    pub credential_configuration_id: String,
    /// The `jwt` key proofs (exactly [`MAX_PROOFS_PER_REQUEST`] for now), not yet verified.
    pub proofs: Vec<String>,
}

/// Parses a credential request body (8.2) for the configurations we publish.
///
/// Refused as `invalid_credential_request`: a body that is not an object; the singular
/// `proof` of the drafts (1.0 has `proofs`); `credential_identifier` (this issuer returns no
/// `authorization_details`); a missing or non-string `credential_configuration_id`. An id we
/// do not publish is `unknown_credential_configuration`; `credential_response_encryption`
/// (not offered) is `invalid_encryption_parameters`. `proofs` missing, not exactly one proof
/// type, a type other than `jwt`, an empty array, a non-string element or more than
/// [`MAX_PROOFS_PER_REQUEST`] proofs is `invalid_proof` (8.3.1.2). Other members are ignored.
pub fn parse_credential_request(
    body: &Value,
    known_configuration_ids: &[&str],
) -> Result<CredentialRequest, Oid4vciError> {
    let bad = |parameter: &'static str, reason: &str| Oid4vciError::InvalidCredentialRequest {
        parameter,
        reason: reason.to_owned(),
    };
    let bad_proofs = |reason: String| Oid4vciError::InvalidProof {
        index: 0,
        check: ProofCheck::Malformed,
        reason,
    };
    let Some(o) = body.as_object() else {
        return Err(bad("(body)", "must be a JSON object"));
    };
    if o.contains_key("proof") {
        return Err(bad(
            "proof",
            "(singular, from the drafts) is not accepted: OpenID4VCI 1.0 sends `proofs`: { `jwt`: [ <key proof> ] }",
        ));
    }
    if o.contains_key("credential_identifier") {
        return Err(bad(
            "credential_identifier",
            "is not supported: this issuer returns no credential_identifiers; send `credential_configuration_id`",
        ));
    }
    let id = match o.get("credential_configuration_id") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => {
            return Err(bad(
                "credential_configuration_id",
                "must be a non-empty string",
            ));
        }
        None if o.contains_key("format") => {
            return Err(bad(
                "credential_configuration_id",
                "is required (the drafts' `format` + type request is not accepted by OpenID4VCI 1.0)",
            ));
        }
        None => return Err(bad("credential_configuration_id", "is required")),
    };
    if !known_configuration_ids.contains(&id.as_str()) {
        return Err(Oid4vciError::UnknownCredentialConfiguration { id: echo(id) });
    }
    if o.contains_key("credential_response_encryption") {
        return Err(Oid4vciError::InvalidEncryptionParameters {
            reason: "`credential_response_encryption` is not supported: this issuer publishes no credential_response_encryption".into(),
        });
    }
    let Some(proofs) = o.get("proofs") else {
        return Err(bad_proofs(
            "`proofs` is required: { `jwt`: [ <key proof> ] }".into(),
        ));
    };
    let Some(proofs) = proofs.as_object() else {
        return Err(bad_proofs("`proofs` must be a JSON object".into()));
    };
    if proofs.len() != 1 {
        return Err(bad_proofs(format!(
            "`proofs` must contain exactly one proof type, found {}",
            proofs.len()
        )));
    }
    let Some(jwts) = proofs.get("jwt") else {
        let other = proofs.keys().next().map(|k| echo(k)).unwrap_or_default();
        return Err(bad_proofs(format!(
            "proof type {other} is not supported (supported: jwt)"
        )));
    };
    let Some(jwts) = jwts.as_array().filter(|a| !a.is_empty()) else {
        return Err(bad_proofs(
            "`proofs.jwt` must be a non-empty array of JWTs".into(),
        ));
    };
    if jwts.len() > MAX_PROOFS_PER_REQUEST {
        return Err(bad_proofs(format!(
            "`proofs.jwt` has {} proofs; at most {MAX_PROOFS_PER_REQUEST} (no batch issuance)",
            jwts.len()
        )));
    }
    let proofs = jwts
        .iter()
        .enumerate()
        .map(|(i, j)| match j.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(Oid4vciError::InvalidProof {
                index: i,
                check: ProofCheck::Malformed,
                reason: "must be a compact JWT string".into(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CredentialRequest {
        credential_configuration_id: id.clone(),
        proofs,
    })
}

/// What a key proof is checked against (F.1, F.4).
#[derive(Clone, Copy)]
pub struct ProofPolicy<'a> {
    /// The credential issuer identifier: the proof's `aud`.
    pub credential_issuer: &'a str,
    /// Accepted `alg` values: the configuration's `proof_signing_alg_values_supported`.
    pub allowed_algs: &'a [Algorithm],
    /// Decides the `nonce` (required: the issuer has a nonce endpoint).
    pub nonces: &'a dyn NonceValidator,
    /// The time of the check, unix seconds.
    pub now: i64,
    /// Oldest accepted `iat`: `now - max_age`.
    pub max_age: i64,
    /// Clock skew tolerated on `iat` (future) and `exp`/`nbf`, seconds.
    pub skew: i64,
}

impl fmt::Debug for ProofPolicy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofPolicy")
            .field("credential_issuer", &self.credential_issuer)
            .field("allowed_algs", &self.allowed_algs)
            .field("now", &self.now)
            .field("max_age", &self.max_age)
            .field("skew", &self.skew)
            .finish_non_exhaustive()
    }
}

/// The key a credential is bound to, from a verified key proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderBinding {
    /// The holder's public key (`cnf.jwk` of an SD-JWT VC).
    pub jwk: Jwk,
    /// The header `kid` (a `did:jwk` / `did:key` URL) when the key came from it.
    pub kid: Option<String>,
    /// The proof's `iss` (the wallet's `client_id`), when sent; only recorded.
    pub client_id: Option<String>,
    /// The accepted `c_nonce`: record it with the issue step so it is used once.
    pub nonce: String,
    /// The proof's `iat`.
    pub issued_at: i64,
}

impl HolderBinding {
    /// The holder's DID for a JWT-VC's subject: the DID of `kid`, or the `did:jwk` of `jwk`.
    pub fn holder_did(&self) -> Option<String> {
        match &self.kid {
            Some(kid) => kid.split_once('#').map(|(did, _)| did.to_owned()),
            None => did_jwk_from_jwk(&self.jwk).ok(),
        }
    }
}

/// Verifies one `jwt` key proof (F.1, checks of F.4): size and shape; header `typ`
/// `openid4vci-proof+jwt`; `alg` not `none`/HMAC and in `allowed_algs`; exactly one key
/// source — `jwk` (public members only) or a `did:jwk` / `did:key` `kid` (resolved locally;
/// other DID methods, `x5c`, or both `jwk` and `kid` are refused); the signature with that
/// key; `aud` = the credential issuer; `iat` present, not older than `max_age` nor in the
/// future beyond `skew` (`exp`/`nbf` if present); `iss` a string when present; no claims of
/// other token kinds; `nonce` present (else `invalid_proof`), then accepted by the validator
/// (else `invalid_nonce`). The nonce is checked last, after everything else passed.
pub fn verify_proof_jwt(
    jwt: &str,
    policy: &ProofPolicy<'_>,
) -> Result<HolderBinding, Oid4vciError> {
    let fail = |check, reason: String| Oid4vciError::InvalidProof {
        index: 0,
        check,
        reason,
    };
    let jws = UnverifiedJws::parse_with_limit(jwt, MAX_PROOF_BYTES).map_err(|e| match e {
        JoseError::PrivateKeyMaterial { .. } | JoseError::InvalidKey { .. } => {
            fail(ProofCheck::Key, format!("header `jwk`: {e}"))
        }
        other => fail(ProofCheck::Malformed, other.to_string()),
    })?;
    let header = jws.header();
    if TokenKind::KeyProof.check_typ(header).is_err() {
        let found = header
            .typ
            .as_deref()
            .map_or_else(|| "none".to_owned(), echo);
        return Err(fail(
            ProofCheck::Type,
            format!("header `typ` must be {KEY_PROOF_TYP} (found {found})"),
        ));
    }
    let alg = jws
        .algorithm()
        .map_err(|e| fail(ProofCheck::Algorithm, e.to_string()))?;
    if !policy.allowed_algs.contains(&alg) {
        return Err(fail(
            ProofCheck::Algorithm,
            format!(
                "alg {alg} is not in proof_signing_alg_values_supported ({})",
                alg_names(policy.allowed_algs).join(", ")
            ),
        ));
    }
    if header.extra.contains_key("x5c") {
        return Err(fail(
            ProofCheck::Key,
            "`x5c` key proofs are not supported: send the public key in `jwk`".into(),
        ));
    }
    let (jwk, kid) = match (&header.jwk, &header.kid) {
        (Some(_), Some(_)) => {
            return Err(fail(
                ProofCheck::Key,
                "the header must not carry both `jwk` and `kid`".into(),
            ));
        }
        (Some(jwk), None) => (jwk.clone(), None),
        (None, Some(kid)) => (
            key_from_kid(kid).map_err(|r| fail(ProofCheck::Key, r))?,
            Some(kid.clone()),
        ),
        (None, None) => {
            return Err(fail(
                ProofCheck::Key,
                "the header carries no key: send the public key in `jwk`".into(),
            ));
        }
    };
    let verified = jws.verify(&jwk).map_err(|e| match e {
        JoseError::AlgorithmMismatch { .. } => fail(ProofCheck::Algorithm, e.to_string()),
        JoseError::InvalidSignature { .. } => fail(ProofCheck::Signature, e.to_string()),
        other => fail(ProofCheck::Key, other.to_string()),
    })?;
    let claims: Map<String, Value> = verified
        .claims()
        .map_err(|e: JoseError| fail(ProofCheck::Malformed, e.to_string()))?;
    let issuer = policy.credential_issuer;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(s)) => s == issuer,
        Some(Value::Array(a)) => a.len() == 1 && a.first().and_then(Value::as_str) == Some(issuer),
        _ => false,
    };
    if !aud_ok {
        let what = if claims.contains_key("aud") {
            "must be"
        } else {
            "is required:"
        };
        return Err(fail(
            ProofCheck::Audience,
            format!("`aud` {what} the credential issuer identifier {issuer}"),
        ));
    }
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        _ => None,
    }
    .ok_or_else(|| fail(ProofCheck::Time, "`iat` is required (a NumericDate)".into()))?;
    let skew = policy.skew.max(0);
    if iat > policy.now.saturating_add(skew) {
        return Err(fail(
            ProofCheck::Time,
            format!("`iat` {iat} is in the future (now {})", policy.now),
        ));
    }
    if policy.now.saturating_sub(iat) > policy.max_age.max(0) {
        return Err(fail(
            ProofCheck::Time,
            format!(
                "`iat` {iat} is older than {} seconds (now {})",
                policy.max_age, policy.now
            ),
        ));
    }
    let object = Value::Object(claims);
    check_times(&object, policy.now, skew, false)
        .map_err(|e| fail(ProofCheck::Time, e.to_string()))?;
    let Value::Object(claims) = object else {
        return Err(fail(
            ProofCheck::Malformed,
            "claims must be an object".into(),
        ));
    };
    let client_id = match claims.get("iss") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(fail(
                ProofCheck::Claims,
                "`iss` must be a string (the client_id)".into(),
            ));
        }
    };
    TokenKind::KeyProof
        .check(verified.header(), &claims)
        .map_err(|e| fail(ProofCheck::Claims, e.to_string()))?;
    let nonce = match claims.get("nonce") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(fail(
                ProofCheck::NonceMissing,
                "`nonce` is required: a c_nonce from the nonce endpoint".into(),
            ));
        }
    };
    policy.nonces.validate(&nonce, policy.now)?;
    Ok(HolderBinding {
        jwk,
        kid,
        client_id,
        nonce,
        issued_at: iat,
    })
}

/// The public key of a `did:jwk` / `did:key` key URL, resolved locally.
fn key_from_kid(kid: &str) -> Result<Jwk, String> {
    let did = kid.split_once('#').map_or(kid, |(did, _)| did);
    let doc = if did.starts_with("did:jwk:") {
        resolve_did_jwk(did)
    } else if did.starts_with("did:key:") {
        resolve_did_key(did)
    } else {
        return Err(
            "`kid` without `jwk` must be a did:jwk or did:key URL (other key references are not supported yet); send the public key in `jwk`".into(),
        );
    };
    doc.and_then(|d| d.key_for(kid, Relationship::Authentication))
        .map_err(|e| format!("`kid`: {e}"))
}

/// [`verify_proof_jwt`] for every proof of `request`, in order; an error names the proof's
/// index. Check that two proofs do not bind the same key before issuing more than one
/// credential.
pub fn verify_proofs(
    request: &CredentialRequest,
    policy: &ProofPolicy<'_>,
) -> Result<Vec<HolderBinding>, Oid4vciError> {
    request
        .proofs
        .iter()
        .enumerate()
        .map(|(i, jwt)| verify_proof_jwt(jwt, policy).map_err(|e| e.with_index(i)))
        .collect()
}

/// The credential response of immediate issuance (8.3): `{ "credentials": [{ "credential" }] }`,
/// one entry per issued credential; send with `Cache-Control: no-store`.
pub fn credential_response(credentials: &[String]) -> Value {
    let list: Vec<Value> = credentials
        .iter()
        .map(|c| json!({ "credential": c }))
        .collect();
    json!({ "credentials": list })
}

/// Constant-time equality of two secrets (pre-authorized codes, access tokens) for callers
/// that compare them outside a store lookup.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn key() -> NonceKey {
        NonceKey::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn nonces_round_trip_and_differ() {
        let k = key();
        let a = issue_nonce(&k, 1_000);
        let b = issue_nonce(&k, 1_000);
        assert_ne!(a, b, "16 random bytes each");
        assert_eq!(a.len(), 76);
        check_nonce(&k, &a, 1_000, 300).unwrap();
        check_nonce(&k, &a, 1_299, 300).unwrap();
    }

    #[test]
    fn nonce_failures_are_invalid_nonce_with_their_reason() {
        let k = key();
        let n = issue_nonce(&k, 1_000);
        let check = |nonce: &str, key: &NonceKey, now: i64| match check_nonce(key, nonce, now, 300)
        {
            Err(Oid4vciError::InvalidNonce { check }) => check,
            other => panic!("{other:?}"),
        };
        assert_eq!(check(&n, &k, 1_300), NonceCheck::Expired);
        assert_eq!(
            check(&n, &k, 1_000 - NONCE_SKEW_SECS - 1),
            NonceCheck::IssuedInFuture
        );
        let other = NonceKey::new(&[8u8; 32]).unwrap();
        assert_eq!(check(&n, &other, 1_000), NonceCheck::Forged);
        // One flipped bit anywhere in the body or the tag.
        let mut raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        for i in [1, 17, 24, 30, 56] {
            raw[i] ^= 1;
            let t = URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(check(&t, &k, 1_000), NonceCheck::Forged, "byte {i}");
            raw[i] ^= 1;
        }
        // A later issue time with the old tag: forged, not fresh.
        raw[24] = raw[24].wrapping_add(100);
        assert_eq!(
            check(&URL_SAFE_NO_PAD.encode(&raw), &k, 1_000),
            NonceCheck::Forged
        );
        for bad in [
            "",
            "abc",
            "!!!!",
            &n[..70],
            &format!("{n}AA"),
            &"A".repeat(500),
        ] {
            assert_eq!(check(bad, &k, 1_000), NonceCheck::Malformed, "{bad}");
        }
        let mut v2 = URL_SAFE_NO_PAD.decode(&n).unwrap();
        v2[0] = 2;
        assert_eq!(
            check(&URL_SAFE_NO_PAD.encode(&v2), &k, 1_000),
            NonceCheck::Malformed
        );
    }

    #[test]
    fn nonce_keys_must_be_long_enough_and_never_print() {
        assert_eq!(
            NonceKey::new(&[1u8; 31]).unwrap_err(),
            NonceKeyError { len: 31 }
        );
        assert_eq!(format!("{:?}", key()), "NonceKey(..)");
    }

    #[test]
    fn error_codes_statuses_and_descriptions() {
        let all = [
            Oid4vciError::InvalidRequest {
                parameter: "tx_code",
                reason: "r".into(),
            },
            Oid4vciError::UnsupportedGrantType {
                grant_type: "g".into(),
            },
            Oid4vciError::InvalidGrant { reason: "r".into() },
            Oid4vciError::InvalidClient { reason: "r".into() },
            Oid4vciError::InvalidToken { reason: "r".into() },
            Oid4vciError::InsufficientScope { reason: "r".into() },
            Oid4vciError::InvalidCredentialRequest {
                parameter: "proof",
                reason: "r".into(),
            },
            Oid4vciError::UnknownCredentialConfiguration { id: "x".into() },
            Oid4vciError::InvalidProof {
                index: 0,
                check: ProofCheck::Audience,
                reason: "r".into(),
            },
            Oid4vciError::InvalidNonce {
                check: NonceCheck::Expired,
            },
            Oid4vciError::InvalidEncryptionParameters { reason: "r".into() },
            Oid4vciError::CredentialRequestDenied { reason: "r".into() },
        ];
        let mut codes: Vec<&str> = all.iter().map(Oid4vciError::error_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            let want = match e.error_code() {
                "invalid_client" | "invalid_token" => 401,
                "insufficient_scope" => 403,
                _ => 400,
            };
            assert_eq!(e.status(), want, "{e:?}");
            let body = e.to_json();
            assert_eq!(body["error"], e.error_code());
            assert_eq!(
                body.as_object().unwrap().len(),
                2,
                "only error and error_description"
            );
            assert_eq!(
                e.www_authenticate().is_some(),
                matches!(e.status(), 401 | 403) && e.error_code() != "invalid_client"
            );
        }
        let e = Oid4vciError::InvalidProof {
            index: 0,
            check: ProofCheck::Algorithm,
            reason: "alg \"none\" is rejected\\ é".into(),
        };
        let d = e.description();
        assert!(
            d.bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            "{d}"
        );
        assert!(
            d.contains("proofs.jwt[0]") && d.contains("alg 'none'"),
            "{d}"
        );
        assert_eq!(
            Oid4vciError::InvalidNonce {
                check: NonceCheck::Forged
            }
            .description(),
            "key proof `nonce` was not issued by this issuer: fetch a new c_nonce"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("aZ0-._~"), "aZ0-._~");
        assert_eq!(
            percent_encode("{\"a\":\"b c+/é\"}"),
            "%7B%22a%22%3A%22b%20c%2B%2F%C3%A9%22%7D"
        );
    }

    #[test]
    fn well_known_urls_insert_between_host_and_path() {
        let w = |i| well_known_url(i, CREDENTIAL_ISSUER_WELL_KNOWN);
        assert_eq!(
            w("https://issuer.example.com/tenant").as_deref(),
            Some("https://issuer.example.com/.well-known/openid-credential-issuer/tenant")
        );
        assert_eq!(
            w("https://tenant.issuer.example.com").as_deref(),
            Some("https://tenant.issuer.example.com/.well-known/openid-credential-issuer")
        );
        assert_eq!(
            w("https://issuer.example.com:8443/a/b/").as_deref(),
            Some("https://issuer.example.com:8443/.well-known/openid-credential-issuer/a/b")
        );
        assert_eq!(
            well_known_url("https://v.example/t", AUTHORIZATION_SERVER_WELL_KNOWN).as_deref(),
            Some("https://v.example/.well-known/oauth-authorization-server/t")
        );
        assert_eq!(w("issuer.example.com"), None);
        assert_eq!(w("https:///x"), None);
    }

    #[test]
    fn secrets_never_print() {
        let offer = CredentialOffer {
            credential_issuer: "https://v".into(),
            credential_configuration_ids: vec!["a".into()],
            pre_authorized_code: "SECRET-CODE".into(),
            tx_code: None,
        };
        assert!(!format!("{offer:?}").contains("SECRET-CODE"));
        let req = PreAuthorizedTokenRequest {
            pre_authorized_code: "SECRET-CODE".into(),
            tx_code: Some("493536".into()),
            client_id: None,
        };
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("SECRET-CODE") && !dbg.contains("493536"),
            "{dbg}"
        );
        assert!(secrets_equal("abc", "abc") && !secrets_equal("abc", "abd"));
    }
}
