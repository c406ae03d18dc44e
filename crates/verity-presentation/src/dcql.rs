//! OpenID4VP 1.0 building blocks: the Digital Credentials Query Language (DCQL, section 6), a
//! DCQL query built from Verity's `requestedCredentials`, the DCQL `vp_token` (section 8.1), and
//! matching a verified SD-JWT VC (`dc+sd-jwt`, Appendix B.3) against its Credential Query.
//!
//! Pure functions over values: no HTTP, no clock, no keys. The flow that uses them:
//!
//! 1. **request** — [`dcql_from_requested`] turns the RP's requested credentials into a
//!    [`DcqlQuery`] (one Credential Query per requested credential, in request order), already
//!    checked by [`DcqlQuery::validate`]. A query from elsewhere is read with
//!    [`DcqlQuery::from_json`], which validates too.
//! 2. **response** — [`parse_vp_token`] (or [`parse_vp_token_param`] for the form parameter's
//!    JSON text) checks the `vp_token` object's shape against the query: only known ids, every
//!    required Credential Query or Credential Set answered, one presentation unless `multiple`.
//! 3. **each presentation** — the caller verifies it with [`verity_sd_jwt::verify`] (Key Binding
//!    required with our client_id and nonce when [`CredentialQuery::requires_holder_binding`]),
//!    then [`check_sd_jwt_answer`] compares the [`VerifiedSdJwt`] with the Credential Query and
//!    the RP's accepted issuers, and [`check_sd_jwt_constraints`] runs the RP's constraints
//!    (`contains` and `startsWith` cannot be said in DCQL, and `values` in DCQL is only a hint to
//!    the wallet: section 6.4.1 says a Verifier MUST NOT rely on it).
//!
//! Decisions (OpenID4VP 1.0 incorporating errata set 1):
//!
//! - **Accepted issuers are not sent as `trusted_authorities`.** Section 6.1.1 defines the types
//!   `aki` (an X.509 Authority Key Identifier), `etsi_tl` (an ETSI trusted list) and
//!   `openid_federation` (a federation entity); none of them names a DID, and a wallet cannot
//!   match an unknown type, so a made-up `did` type would only make wallets return nothing.
//!   Section 6.1.1 mentions value matching on `iss` as an alternative but warns it is less
//!   likely to work, and section 14.11 requires the Verifier to check the issuer itself anyway.
//!   So the query carries no issuer restriction and [`check_sd_jwt_answer`] compares the
//!   verified `iss` with the accepted issuers (empty list = any issuer, as in the REST API).
//! - **Over-disclosure is a warning, not an error.** Section 6.4 says a wallet MUST NOT send
//!   selectively disclosable claims that were not selected, but it also allows more claims when
//!   the same credential answers another Credential Query of the request, which one query cannot
//!   see. The claims have already reached the Verifier when we notice, so refusing would not
//!   undo the disclosure and would punish the user for the wallet's fault. The extra paths are
//!   reported in [`AnswerCheck::extra_disclosures`] for the caller to log and to leave out of
//!   what it forwards to the RP. Claims that are never selectively disclosable do not count,
//!   and neither do [`ALWAYS_VISIBLE_CLAIMS`].
//! - **`vct` matches exactly.** Appendix B.3.5 lets a wallet return a credential whose type
//!   extends a requested `vct`; Verity does not resolve SD-JWT VC Type Metadata, so such a
//!   credential is refused.
//! - **Formats:** `dc+sd-jwt` and `jwt_vc_json` are modelled and validated; any other format
//!   (`mso_mdoc`, `ldp_vc`) reads and writes unchanged but fails validation as unsupported.
//! - **Unknown members are ignored** (section 6: implementations MUST ignore unknown
//!   properties); members of `meta` that belong to another format are kept in
//!   [`CredentialMeta::other`] and ignored too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use verity_sd_jwt::{ClaimPath, PathElement, VerifiedSdJwt};

use crate::{Constraint, ConstraintOp, PresentationError, RequestedCredential};

/// Credential Format Identifier of an IETF SD-JWT VC (OpenID4VP 1.0 Appendix B.3.1).
pub const FORMAT_SD_JWT_VC: &str = "dc+sd-jwt";
/// Credential Format Identifier of a W3C VC signed as a JWT without JSON-LD (Appendix B.1.3.1).
pub const FORMAT_JWT_VC_JSON: &str = "jwt_vc_json";

/// `trusted_authorities` type: an X.509 Authority Key Identifier (section 6.1.1.1).
pub const TRUSTED_AUTHORITY_AKI: &str = "aki";
/// `trusted_authorities` type: an ETSI Trusted List (section 6.1.1.2).
pub const TRUSTED_AUTHORITY_ETSI_TL: &str = "etsi_tl";
/// `trusted_authorities` type: an OpenID Federation entity (section 6.1.1.3).
pub const TRUSTED_AUTHORITY_OPENID_FEDERATION: &str = "openid_federation";

/// Claims of an SD-JWT VC a presentation may always carry, whether or not the query names them:
/// the issuer sets them and they are either never disclosable (`iss`, `vct`, `cnf`, `status`,
/// `exp`, `nbf`) or carry no personal data (`iat`). Disclosures at or below them are never
/// reported as over-disclosure.
pub const ALWAYS_VISIBLE_CLAIMS: [&str; 7] = ["iss", "vct", "cnf", "status", "iat", "exp", "nbf"];

/// The id given to a requested credential whose type has no character allowed in an id.
const FALLBACK_QUERY_ID: &str = "credential";

/// A DCQL query (OpenID4VP 1.0 section 6): the `dcql_query` request parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcqlQuery {
    /// The Credential Queries; non-empty.
    pub credentials: Vec<CredentialQuery>,
    /// Which combinations of Credential Queries satisfy the request; absent = all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_sets: Option<Vec<CredentialSetQuery>>,
}

/// A Credential Query (section 6.1): one credential (or several, with `multiple`) to present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialQuery {
    /// Names the credential in the response and in `credential_sets`: `^[A-Za-z0-9_-]+$`,
    /// unique in the query.
    pub id: String,
    /// The Credential Format Identifier.
    pub format: CredentialFormat,
    /// Whether the wallet may answer with more than one presentation (default `false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiple: bool,
    /// Format-specific constraints on the credential's metadata (REQUIRED in 1.0; a missing
    /// `meta` reads as empty and then fails on the format's required member).
    #[serde(default)]
    pub meta: CredentialMeta,
    /// Authorities or trust frameworks that certify accepted issuers (section 6.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_authorities: Option<Vec<TrustedAuthority>>,
    /// Whether a presentation with cryptographic holder binding is required; absent = `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_cryptographic_holder_binding: Option<bool>,
    /// The claims asked for; absent = no selectively disclosable claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<ClaimsQuery>>,
    /// Alternative combinations of `claims` ids, most preferred first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_sets: Option<Vec<Vec<String>>>,
}

/// A Credential Format Identifier (`format` of a Credential Query).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialFormat {
    /// `dc+sd-jwt`: an IETF SD-JWT VC (Appendix B.3).
    SdJwtVc,
    /// `jwt_vc_json`: a W3C VC signed as a JWT, not using JSON-LD (Appendix B.1.3.1).
    JwtVcJson,
    /// Any other identifier (`mso_mdoc`, `ldp_vc`, ...): kept as read, refused by validation.
    Other(String),
}

impl CredentialFormat {
    /// The identifier as it appears in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            CredentialFormat::SdJwtVc => FORMAT_SD_JWT_VC,
            CredentialFormat::JwtVcJson => FORMAT_JWT_VC_JSON,
            CredentialFormat::Other(s) => s,
        }
    }

    /// Whether Verity supports this format.
    pub fn is_supported(&self) -> bool {
        !matches!(self, CredentialFormat::Other(_))
    }
}

impl From<&str> for CredentialFormat {
    fn from(s: &str) -> Self {
        match s {
            FORMAT_SD_JWT_VC => CredentialFormat::SdJwtVc,
            FORMAT_JWT_VC_JSON => CredentialFormat::JwtVcJson,
            other => CredentialFormat::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for CredentialFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CredentialFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CredentialFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(CredentialFormat::from(s.as_str()))
    }
}

/// The `meta` object of a Credential Query: the members Verity's formats define, plus anything
/// else as read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CredentialMeta {
    /// `dc+sd-jwt` (Appendix B.3.5), REQUIRED: the accepted `vct` values; non-empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vct_values: Option<Vec<String>>,
    /// `jwt_vc_json` (Appendix B.1.1), REQUIRED: alternatives, each a non-empty set of types
    /// the credential's `type` must all contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_values: Option<Vec<Vec<String>>>,
    /// Other members (another format's, such as `doctype_value`, or future ones): ignored.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A Trusted Authorities Query (section 6.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedAuthority {
    /// The type: [`TRUSTED_AUTHORITY_AKI`], [`TRUSTED_AUTHORITY_ETSI_TL`],
    /// [`TRUSTED_AUTHORITY_OPENID_FEDERATION`], or one an extension defines.
    #[serde(rename = "type")]
    pub type_: String,
    /// Type-specific identifiers; non-empty.
    pub values: Vec<String>,
}

/// A Credential Set Query (section 6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSetQuery {
    /// Each option a non-empty list of Credential Query ids that together satisfy the set.
    pub options: Vec<Vec<String>>,
    /// Whether the set must be satisfied; absent = `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

impl CredentialSetQuery {
    /// `required`, with its default (`true`).
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(true)
    }
}

/// A Claims Query (section 6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsQuery {
    /// Identifies the claim in `claim_sets` (required then): `^[A-Za-z0-9_-]+$`, unique in
    /// its `claims` array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The claims path pointer (section 7); non-empty.
    pub path: ClaimPath,
    /// Expected values (strings, integers or booleans); non-empty. A hint for the wallet; the
    /// Verifier checks them again ([`check_sd_jwt_answer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

impl ClaimsQuery {
    /// A query for the claim at `path`, without value restriction or id.
    pub fn new(path: ClaimPath) -> Self {
        ClaimsQuery {
            id: None,
            path,
            values: None,
        }
    }
}

impl DcqlQuery {
    /// Reads and validates a `dcql_query` value. A JSON shape error names no member more
    /// precisely than serde does; every rule of section 6 names its member.
    pub fn from_json(value: &Value) -> Result<Self, PresentationError> {
        let query: DcqlQuery =
            serde_json::from_value(value.clone()).map_err(|e| PresentationError::DcqlInvalid {
                member: "dcql_query".into(),
                reason: e.to_string(),
            })?;
        query.validate()?;
        Ok(query)
    }

    /// The Credential Query with this id.
    pub fn credential(&self, id: &str) -> Option<&CredentialQuery> {
        self.credentials.iter().find(|c| c.id == id)
    }

    /// Checks the rules of OpenID4VP 1.0 section 6 (and the `meta` members of Appendix B.1.1
    /// and B.3.5); the first broken rule is returned as [`PresentationError::DcqlInvalid`]
    /// naming its member.
    pub fn validate(&self) -> Result<(), PresentationError> {
        if self.credentials.is_empty() {
            return Err(invalid("credentials", "must be a non-empty array"));
        }
        let mut ids = BTreeSet::new();
        for (i, credential) in self.credentials.iter().enumerate() {
            let member = format!("credentials[{i}]");
            check_id(&format!("{member}.id"), &credential.id)?;
            if !ids.insert(credential.id.as_str()) {
                return Err(invalid(
                    format!("{member}.id"),
                    format!("{:?} is the id of another credential query", credential.id),
                ));
            }
            credential.validate(&member)?;
        }
        if let Some(sets) = &self.credential_sets {
            if sets.is_empty() {
                return Err(invalid(
                    "credential_sets",
                    "must be a non-empty array when present",
                ));
            }
            for (s, set) in sets.iter().enumerate() {
                let member = format!("credential_sets[{s}].options");
                if set.options.is_empty() {
                    return Err(invalid(member, "must be a non-empty array"));
                }
                for (o, option) in set.options.iter().enumerate() {
                    if option.is_empty() {
                        return Err(invalid(
                            format!("{member}[{o}]"),
                            "must be a non-empty array of credential query ids",
                        ));
                    }
                    for (k, id) in option.iter().enumerate() {
                        if !ids.contains(id.as_str()) {
                            return Err(invalid(
                                format!("{member}[{o}][{k}]"),
                                format!("{id:?} is not the id of a credential query"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl CredentialQuery {
    /// A `dc+sd-jwt` query for one credential of one of `vct_values`, asking for `claims`
    /// (none when empty), holder binding required.
    pub fn sd_jwt_vc(
        id: impl Into<String>,
        vct_values: Vec<String>,
        claims: Vec<ClaimsQuery>,
    ) -> Self {
        CredentialQuery {
            id: id.into(),
            format: CredentialFormat::SdJwtVc,
            multiple: false,
            meta: CredentialMeta {
                vct_values: Some(vct_values),
                ..CredentialMeta::default()
            },
            trusted_authorities: None,
            require_cryptographic_holder_binding: None,
            claims: (!claims.is_empty()).then_some(claims),
            claim_sets: None,
        }
    }

    /// `require_cryptographic_holder_binding`, with its default (`true`).
    pub fn requires_holder_binding(&self) -> bool {
        self.require_cryptographic_holder_binding.unwrap_or(true)
    }

    /// The Claims Query with this id.
    pub fn claim(&self, id: &str) -> Option<&ClaimsQuery> {
        self.claims
            .iter()
            .flatten()
            .find(|c| c.id.as_deref() == Some(id))
    }

    fn validate(&self, member: &str) -> Result<(), PresentationError> {
        match &self.format {
            CredentialFormat::SdJwtVc => {
                let m = format!("{member}.meta.vct_values");
                match &self.meta.vct_values {
                    None => return Err(invalid(m, "required for format dc+sd-jwt")),
                    Some(v) if v.is_empty() => return Err(invalid(m, "must be non-empty")),
                    Some(v) => {
                        if let Some(j) = v.iter().position(|t| t.is_empty()) {
                            return Err(invalid(format!("{m}[{j}]"), "must be a non-empty string"));
                        }
                    }
                }
            }
            CredentialFormat::JwtVcJson => {
                let m = format!("{member}.meta.type_values");
                match &self.meta.type_values {
                    None => return Err(invalid(m, "required for format jwt_vc_json")),
                    Some(v) if v.is_empty() => return Err(invalid(m, "must be non-empty")),
                    Some(v) => {
                        for (j, alternative) in v.iter().enumerate() {
                            if alternative.is_empty() || alternative.iter().any(String::is_empty) {
                                return Err(invalid(
                                    format!("{m}[{j}]"),
                                    "must be a non-empty array of non-empty strings",
                                ));
                            }
                        }
                    }
                }
            }
            CredentialFormat::Other(f) => {
                return Err(invalid(
                    format!("{member}.format"),
                    format!("{f:?} is not supported (dc+sd-jwt, jwt_vc_json)"),
                ));
            }
        }
        if let Some(authorities) = &self.trusted_authorities {
            let m = format!("{member}.trusted_authorities");
            if authorities.is_empty() {
                return Err(invalid(m, "must be a non-empty array when present"));
            }
            for (j, a) in authorities.iter().enumerate() {
                if a.type_.is_empty() {
                    return Err(invalid(
                        format!("{m}[{j}].type"),
                        "must be a non-empty string",
                    ));
                }
                if a.values.is_empty() || a.values.iter().any(String::is_empty) {
                    return Err(invalid(
                        format!("{m}[{j}].values"),
                        "must be a non-empty array of non-empty strings",
                    ));
                }
            }
        }
        let mut claim_ids = BTreeSet::new();
        if let Some(claims) = &self.claims {
            if claims.is_empty() {
                return Err(invalid(
                    format!("{member}.claims"),
                    "must be a non-empty array when present",
                ));
            }
            let mut paths: Vec<&ClaimPath> = Vec::new();
            for (j, claim) in claims.iter().enumerate() {
                let m = format!("{member}.claims[{j}]");
                if let Some(id) = &claim.id {
                    check_id(&format!("{m}.id"), id)?;
                    if !claim_ids.insert(id.as_str()) {
                        return Err(invalid(
                            format!("{m}.id"),
                            format!("{id:?} is the id of another claim of this credential query"),
                        ));
                    }
                } else if self.claim_sets.is_some() {
                    return Err(invalid(
                        format!("{m}.id"),
                        "required when claim_sets is present",
                    ));
                }
                if claim.path.is_root() {
                    return Err(invalid(format!("{m}.path"), "must be a non-empty array"));
                }
                if paths.contains(&&claim.path) {
                    return Err(invalid(
                        format!("{m}.path"),
                        format!("{} is requested twice", claim.path),
                    ));
                }
                paths.push(&claim.path);
                if let Some(values) = &claim.values {
                    if values.is_empty() {
                        return Err(invalid(
                            format!("{m}.values"),
                            "must be a non-empty array when present",
                        ));
                    }
                    if let Some(k) = values.iter().position(|v| !is_scalar(v)) {
                        return Err(invalid(
                            format!("{m}.values[{k}]"),
                            "must be a string, an integer or a boolean",
                        ));
                    }
                }
            }
        }
        if let Some(sets) = &self.claim_sets {
            let m = format!("{member}.claim_sets");
            if self.claims.is_none() {
                return Err(invalid(m, "must not be present without claims"));
            }
            if sets.is_empty() {
                return Err(invalid(m, "must be a non-empty array when present"));
            }
            for (o, option) in sets.iter().enumerate() {
                for (k, id) in option.iter().enumerate() {
                    if !claim_ids.contains(id.as_str()) {
                        return Err(invalid(
                            format!("{m}[{o}][{k}]"),
                            format!("{id:?} is not the id of a claim of this credential query"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One requested credential as [`dcql_from_requested`] needs it: the part of Verity's
/// `requestedCredentials[i]` (docs/API.md) that shapes a DCQL query, plus the claims the
/// caller wants disclosed beyond the constrained ones. Serde reads the API's camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DcqlCredentialRequest {
    /// The credential type (the Credential Query id is derived from it).
    #[serde(rename = "type")]
    pub type_: String,
    /// Accepted issuer DIDs; empty = any. Not sent to the wallet (see the module docs): pass
    /// them to [`check_sd_jwt_answer`].
    #[serde(default)]
    pub accepted_issuers: Vec<String>,
    /// The RP's constraints: each constrained claim is requested; `values` also becomes the
    /// Claims Query's `values`.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Further claims to request (e.g. the face check's photo claim, or claims the RP wants to
    /// receive); duplicates of constrained claims are dropped.
    #[serde(default)]
    pub disclose: Vec<ClaimPath>,
}

impl From<&RequestedCredential> for DcqlCredentialRequest {
    /// The stored request's credential; a face check's source photo claim is disclosed too.
    fn from(r: &RequestedCredential) -> Self {
        DcqlCredentialRequest {
            type_: r.type_.clone(),
            accepted_issuers: r.accepted_issuers.clone(),
            constraints: r.constraints.clone(),
            disclose: r
                .face_check
                .iter()
                .map(|f| ClaimPath::keys([f.source_photo_claim_name.as_str()]))
                .collect(),
        }
    }
}

/// The DCQL query for Verity's requested credentials: one `dc+sd-jwt` Credential Query per
/// requested credential, in the same order (so `credentials[i]` answers `requested[i]`), no
/// `credential_sets` (every credential is required), holder binding required (the default).
///
/// - `id`: the type with every character outside `[A-Za-z0-9_-]` replaced by `_` (`credential`
///   when nothing is left), made unique with a `_2`, `_3`, ... suffix.
/// - `meta.vct_values`: `[vct_for_type(type)]`; a type without a `vct` fails
///   ([`PresentationError::DcqlInvalid`] on `requestedCredentials[i].type`).
/// - `claims`: one Claims Query per constrained claim (`claimName` is one top-level claim name,
///   `["jobTitle"]`, as Verity's SD-JWT VCs disclose each mapped claim at the top level; a
///   dotted name is not split), with `values` for a `values` constraint (the intersection when
///   one claim has several); then the `disclose` paths not already asked for. No claims at all
///   leaves `claims` out: only the always-present claims are then shown.
///
/// `contains` and `startsWith` have no DCQL form: the claim is requested and
/// [`check_sd_jwt_constraints`] runs the check. Accepted issuers are not expressed (module
/// docs). No requested credential gives [`PresentationError::NothingRequested`].
pub fn dcql_from_requested(
    requested: &[DcqlCredentialRequest],
    vct_for_type: impl Fn(&str) -> Option<String>,
) -> Result<DcqlQuery, PresentationError> {
    if requested.is_empty() {
        return Err(PresentationError::NothingRequested);
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut credentials = Vec::with_capacity(requested.len());
    for (i, r) in requested.iter().enumerate() {
        let vct = vct_for_type(&r.type_)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                invalid(
                    format!("requestedCredentials[{i}].type"),
                    format!("no SD-JWT VC type (vct) is known for {:?}", r.type_),
                )
            })?;
        let id = unique_id(&sanitize_id(&r.type_), &used);
        used.insert(id.clone());

        let mut claims: Vec<ClaimsQuery> = Vec::new();
        for (j, c) in r.constraints.iter().enumerate() {
            if c.claim_name.is_empty() {
                return Err(invalid(
                    format!("requestedCredentials[{i}].constraints[{j}].claimName"),
                    "must be a non-empty string",
                ));
            }
            let path = ClaimPath::keys([c.claim_name.as_str()]);
            let pos = match claims.iter().position(|q| q.path == path) {
                Some(pos) => pos,
                None => {
                    claims.push(ClaimsQuery::new(path));
                    claims.len() - 1
                }
            };
            let ConstraintOp::Values(values) = &c.op else {
                continue;
            };
            let wanted: Vec<Value> = values.iter().map(|v| Value::String(v.clone())).collect();
            let Some(query) = claims.get_mut(pos) else {
                continue;
            };
            let merged = match query.values.take() {
                None => wanted,
                Some(earlier) => earlier.into_iter().filter(|v| wanted.contains(v)).collect(),
            };
            if merged.is_empty() {
                return Err(invalid(
                    format!("requestedCredentials[{i}].constraints[{j}].values"),
                    format!(
                        "no value satisfies every values constraint on claim {:?}",
                        c.claim_name
                    ),
                ));
            }
            query.values = Some(merged);
        }
        for (j, path) in r.disclose.iter().enumerate() {
            if path.is_root() {
                return Err(invalid(
                    format!("requestedCredentials[{i}].disclose[{j}]"),
                    "must be a non-empty claims path",
                ));
            }
            if !claims.iter().any(|q| &q.path == path) {
                claims.push(ClaimsQuery::new(path.clone()));
            }
        }
        credentials.push(CredentialQuery::sd_jwt_vc(id, vec![vct], claims));
    }
    let query = DcqlQuery {
        credentials,
        credential_sets: None,
    };
    query.validate()?;
    Ok(query)
}

/// Reads the `vp_token` of a DCQL response (OpenID4VP 1.0 section 8.1): a JSON object whose
/// keys are Credential Query ids and whose values are arrays of one or more presentations.
/// Presentations of `dc+sd-jwt` and `jwt_vc_json` are strings (Appendix B.1.3.1, B.3); they are
/// returned unverified, by query id.
///
/// Refused, each with its own code: a value that is not an object (PRES-057, e.g. the form
/// parameter's JSON text not yet decoded: see [`parse_vp_token_param`]); a key that is no
/// query's id (PRES-058); an entry that is not a non-empty array of non-empty strings
/// (PRES-061); more than one presentation for a query without `multiple: true` (PRES-060); and
/// an unanswered query (PRES-059): without `credential_sets` every Credential Query is required,
/// with them every required Credential Set must have one option whose queries are all answered
/// (section 6.4.2). Answers to queries outside the satisfied options are kept (an optional set,
/// or the wallet's choice); the caller verifies every presentation it is given.
pub fn parse_vp_token(
    value: &Value,
    query: &DcqlQuery,
) -> Result<BTreeMap<String, Vec<String>>, PresentationError> {
    let Value::Object(entries) = value else {
        return Err(PresentationError::VpTokenNotObject {
            reason: format!("found {}", json_kind(value)),
        });
    };
    let mut answers = BTreeMap::new();
    for (key, entry) in entries {
        let Some(credential) = query.credential(key) else {
            return Err(PresentationError::VpTokenUnknownQuery { key: key.clone() });
        };
        let malformed = |reason: String| PresentationError::VpTokenEntryMalformed {
            query: key.clone(),
            reason,
        };
        let Value::Array(items) = entry else {
            return Err(malformed(format!(
                "expected an array of presentations, found {}",
                json_kind(entry)
            )));
        };
        if items.is_empty() {
            return Err(malformed("the array of presentations is empty".into()));
        }
        let mut presentations = Vec::with_capacity(items.len());
        for (k, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !s.is_empty() => presentations.push(s.clone()),
                Value::String(_) => {
                    return Err(malformed(format!("presentation {k} is an empty string")));
                }
                other => {
                    return Err(malformed(format!(
                        "presentation {k} is {}, not a string",
                        json_kind(other)
                    )));
                }
            }
        }
        if presentations.len() > 1 && !credential.multiple {
            return Err(PresentationError::VpTokenTooManyPresentations {
                query: key.clone(),
                count: presentations.len(),
            });
        }
        answers.insert(key.clone(), presentations);
    }
    match &query.credential_sets {
        None => {
            if let Some(missing) = query
                .credentials
                .iter()
                .find(|c| !answers.contains_key(&c.id))
            {
                return Err(PresentationError::VpTokenCredentialMissing {
                    missing: format!("credential query {:?}", missing.id),
                });
            }
        }
        Some(sets) => {
            for (s, set) in sets.iter().enumerate() {
                let satisfied = set
                    .options
                    .iter()
                    .any(|option| option.iter().all(|id| answers.contains_key(id)));
                if set.is_required() && !satisfied {
                    return Err(PresentationError::VpTokenCredentialMissing {
                        missing: format!(
                            "required credential_sets[{s}] (no option is answered in full)"
                        ),
                    });
                }
            }
        }
    }
    Ok(answers)
}

/// [`parse_vp_token`] for the `vp_token` form parameter of a `direct_post` response, which
/// carries the JSON object as text; text that is not JSON is refused like a non-object.
pub fn parse_vp_token_param(
    param: &str,
    query: &DcqlQuery,
) -> Result<BTreeMap<String, Vec<String>>, PresentationError> {
    let value: Value =
        serde_json::from_str(param).map_err(|e| PresentationError::VpTokenNotObject {
            reason: format!("not JSON ({:?} error)", e.classify()),
        })?;
    parse_vp_token(&value, query)
}

/// What [`check_sd_jwt_answer`] found besides its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnswerCheck {
    /// The index in `claim_sets` of the option the presentation satisfies (the one with the
    /// fewest extra disclosures, the earliest on a tie); `None` without `claim_sets`.
    pub claim_set: Option<usize>,
    /// Disclosures the query did not ask for (over-disclosure by the wallet): a warning to log,
    /// and claims to leave out of what reaches the RP. Never includes
    /// [`ALWAYS_VISIBLE_CLAIMS`] or claims that are not selectively disclosable.
    pub extra_disclosures: Vec<ClaimPath>,
}

/// Checks a verified SD-JWT VC presentation against the Credential Query it answers (the
/// Verifier's own checks of section 14.11; `descriptor` in errors is the query id):
///
/// 1. the query's format is `dc+sd-jwt` (else [`PresentationError::CredentialMalformed`]);
/// 2. holder binding was verified when the query requires it (PRES-064);
/// 3. `vct` is one of `meta.vct_values`, exactly (PRES-041);
/// 4. `iss` is in `accepted_issuers` when that is non-empty (PRES-040);
/// 5. without `claim_sets`, every Claims Query's path selects a claim of the processed payload
///    (section 7.1.1; PRES-062) and, with `values`, at least one selected claim equals one of
///    them in type and value (PRES-042; non-matching elements of a `null` path count as absent,
///    section 6.4.1); with `claim_sets`, one option must hold in full (PRES-063);
/// 6. disclosures beyond the requested claims are reported, not refused (module docs).
///
/// The signature, Key Binding `aud`/`nonce`, times and status are [`verity_sd_jwt::verify`]'s
/// and the caller's; the RP's `contains`/`startsWith` constraints are
/// [`check_sd_jwt_constraints`]'s.
pub fn check_sd_jwt_answer(
    query: &CredentialQuery,
    verified: &VerifiedSdJwt,
    accepted_issuers: &[String],
) -> Result<AnswerCheck, PresentationError> {
    let descriptor = query.id.as_str();
    if query.format != CredentialFormat::SdJwtVc {
        return Err(PresentationError::CredentialMalformed {
            descriptor: descriptor.to_owned(),
            reason: format!(
                "the credential query asks for {}, and a dc+sd-jwt was checked",
                query.format
            ),
        });
    }
    if query.requires_holder_binding() && verified.key_binding.is_none() {
        return Err(PresentationError::HolderBindingMissing {
            descriptor: descriptor.to_owned(),
        });
    }
    let vct_ok = match (&verified.vct, &query.meta.vct_values) {
        (Some(vct), Some(accepted)) => accepted.iter().any(|a| a == vct),
        (_, None) => true,
        (None, Some(_)) => false,
    };
    if !vct_ok {
        return Err(PresentationError::CredentialType {
            descriptor: descriptor.to_owned(),
            found: verified.vct.iter().cloned().collect(),
        });
    }
    if !accepted_issuers.is_empty() {
        let issuer = verified.issuer.as_deref().unwrap_or_default();
        if !accepted_issuers.iter().any(|a| a == issuer) {
            return Err(PresentationError::IssuerNotAccepted {
                descriptor: descriptor.to_owned(),
                issuer: issuer.to_owned(),
            });
        }
    }
    let claims: &[ClaimsQuery] = query.claims.as_deref().unwrap_or_default();
    match &query.claim_sets {
        None => {
            for claim in claims {
                check_claim(descriptor, &verified.claims, claim)?;
            }
            Ok(AnswerCheck {
                claim_set: None,
                extra_disclosures: extra_disclosures(verified, claims.iter()),
            })
        }
        Some(sets) => {
            let mut best: Option<(usize, Vec<ClaimPath>)> = None;
            let mut failures = Vec::new();
            for (o, option) in sets.iter().enumerate() {
                let chosen: Vec<&ClaimsQuery> =
                    option.iter().filter_map(|id| query.claim(id)).collect();
                match chosen
                    .iter()
                    .try_for_each(|c| check_claim(descriptor, &verified.claims, c))
                {
                    Err(e) => failures.push(format!("option {o}: {}", claim_failure(&e))),
                    Ok(()) => {
                        let extra = extra_disclosures(verified, chosen.iter().copied());
                        if best.as_ref().is_none_or(|(_, b)| extra.len() < b.len()) {
                            best = Some((o, extra));
                        }
                    }
                }
            }
            match best {
                Some((o, extra_disclosures)) => Ok(AnswerCheck {
                    claim_set: Some(o),
                    extra_disclosures,
                }),
                None => Err(PresentationError::ClaimSetsUnsatisfied {
                    descriptor: descriptor.to_owned(),
                    reason: failures.join("; "),
                }),
            }
        }
    }
}

/// Runs Verity's constraints (`values`, `contains`, `startsWith`, case-sensitive on string
/// claims, as the JWT-VC pipeline does) on a verified SD-JWT VC's processed payload: the claim
/// named `claimName` at the top level, or, when there is none, a dotted name through nested
/// objects. Errors are [`PresentationError::ConstraintFailed`] and never echo the value.
pub fn check_sd_jwt_constraints(
    descriptor: &str,
    verified: &VerifiedSdJwt,
    constraints: &[Constraint],
) -> Result<(), PresentationError> {
    for c in constraints {
        let failed = |reason: String| PresentationError::ConstraintFailed {
            descriptor: descriptor.to_owned(),
            claim: c.claim_name.clone(),
            reason,
        };
        let value = named_claim(&verified.claims, &c.claim_name)
            .ok_or_else(|| failed("the claim is missing".into()))?;
        let Some(s) = value.as_str() else {
            return Err(failed(format!(
                "the claim is {}, and {} compares strings",
                json_kind(value),
                c.op.name()
            )));
        };
        if !c.op.accepts(s) {
            return Err(failed(format!(
                "the value does not satisfy {}",
                c.op.name()
            )));
        }
    }
    Ok(())
}

/// Processes a claims path pointer against a JSON credential (OpenID4VP 1.0 section 7.1.1):
/// the selected elements, or `None` where the section says to abort with an error (a key
/// applied to a non-object, an index or `null` to a non-array, an empty selection, an empty
/// path).
pub fn select_claims<'a>(
    payload: &'a Map<String, Value>,
    path: &ClaimPath,
) -> Option<Vec<&'a Value>> {
    let mut elements = path.elements().iter();
    let mut selected: Vec<&Value> = match elements.next()? {
        PathElement::Key(k) => payload.get(k).into_iter().collect(),
        // The root is an object: an index or `null` applied to it is an error.
        PathElement::Index(_) | PathElement::AllElements => return None,
    };
    for element in elements {
        let mut next = Vec::new();
        for v in selected {
            match (element, v) {
                (PathElement::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (PathElement::AllElements, Value::Array(a)) => next.extend(a.iter()),
                (PathElement::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                _ => return None,
            }
        }
        selected = next;
    }
    (!selected.is_empty()).then_some(selected)
}

fn check_claim(
    descriptor: &str,
    payload: &Map<String, Value>,
    claim: &ClaimsQuery,
) -> Result<(), PresentationError> {
    let Some(selected) = select_claims(payload, &claim.path) else {
        return Err(PresentationError::ClaimNotDisclosed {
            descriptor: descriptor.to_owned(),
            claim: claim.path.to_string(),
        });
    };
    if let Some(values) = &claim.values
        && !selected.iter().any(|v| values.contains(v))
    {
        return Err(PresentationError::ConstraintFailed {
            descriptor: descriptor.to_owned(),
            claim: claim.path.to_string(),
            reason: "the value does not satisfy values".into(),
        });
    }
    Ok(())
}

/// A short reason for a failed claim, for the claim_sets summary (never a value).
fn claim_failure(e: &PresentationError) -> String {
    match e {
        PresentationError::ClaimNotDisclosed { claim, .. } => format!("{claim} not disclosed"),
        PresentationError::ConstraintFailed { claim, .. } => {
            format!("{claim} does not satisfy values")
        }
        other => other.to_string(),
    }
}

/// Disclosed paths no requested claim accounts for: a disclosure is accounted for when it lies
/// on the way to a requested claim (a recursive disclosure of its parent), at it, or below it
/// (a requested object is disclosed with its members).
fn extra_disclosures<'a>(
    verified: &VerifiedSdJwt,
    requested: impl Iterator<Item = &'a ClaimsQuery> + Clone,
) -> Vec<ClaimPath> {
    verified
        .disclosed
        .iter()
        .filter(|d| {
            !d.top_level_name()
                .is_some_and(|n| ALWAYS_VISIBLE_CLAIMS.contains(&n))
        })
        .filter(|d| !requested.clone().any(|q| on_same_branch(&q.path, d)))
        .cloned()
        .collect()
}

/// Whether the pattern `q` and the concrete path `d` agree on their common prefix (`null` in
/// `q` matches any index).
fn on_same_branch(q: &ClaimPath, d: &ClaimPath) -> bool {
    q.elements()
        .iter()
        .zip(d.elements())
        .all(|(p, c)| match (p, c) {
            (PathElement::AllElements, PathElement::Index(_)) => true,
            (a, b) => a == b,
        })
}

/// A claim by name; a dotted name reaches into nested objects when no claim has the whole name.
fn named_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for part in parts {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// `^[A-Za-z0-9_-]+$` (sections 6.1 and 6.3).
fn check_id(member: &str, id: &str) -> Result<(), PresentationError> {
    if id.is_empty() {
        return Err(invalid(member, "must be a non-empty string"));
    }
    if !id.chars().all(is_id_char) {
        return Err(invalid(
            member,
            format!("{id:?} may only contain A-Z, a-z, 0-9, _ and -"),
        ));
    }
    Ok(())
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn sanitize_id(type_: &str) -> String {
    let id: String = type_
        .chars()
        .map(|c| if is_id_char(c) { c } else { '_' })
        .collect();
    if id.chars().all(|c| c == '_') {
        FALLBACK_QUERY_ID.to_owned()
    } else {
        id
    }
}

fn unique_id(base: &str, used: &BTreeSet<String>) -> String {
    if !used.contains(base) {
        return base.to_owned();
    }
    (2usize..)
        .map(|n| format!("{base}_{n}"))
        .find(|candidate| !used.contains(candidate))
        .unwrap_or_else(|| base.to_owned())
}

/// A string, an integer or a boolean (section 6.3 `values`).
fn is_scalar(v: &Value) -> bool {
    match v {
        Value::String(_) | Value::Bool(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(member: impl Into<String>, reason: impl Into<String>) -> PresentationError {
    PresentationError::DcqlInvalid {
        member: member.into(),
        reason: reason.into(),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
