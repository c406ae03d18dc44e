//! W3C Verifiable Credentials Data Model 2.0 secured with VC-JOSE-COSE, JOSE half.
//!
//! - [`check_credential`]: the data model's rules a credential must meet before it is signed or
//!   after it is verified (`@context` first `https://www.w3.org/ns/credentials/v2`, `type`
//!   with `VerifiableCredential`, `issuer`, `credentialSubject`, `validFrom` / `validUntil`
//!   dateTimeStamps in order, well-formed `credentialStatus`), each refusal naming its field.
//! - [`sign_credential`]: a compact JWS with `typ: vc+jwt` whose payload is the credential
//!   itself (claims at the top level, no `vc` claim: that is the VCDM 1.1 JWT encoding), and
//!   [`envelope`] / [`unenvelope`]: the `EnvelopedVerifiableCredential` with a
//!   `data:application/vc+jwt,...` id.
//! - [`verify_credential`]: unenvelope, refuse unsecured JSON and other media types, resolve
//!   the issuer's DID, check the key is an assertion method of that DID, the signature, the
//!   model and the validity period; the answer lists what was checked.
//!
//! Status (Bitstring Status List) is checked by the caller, which knows where lists come from.
//! No HTTP here.

#![forbid(unsafe_code)]

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use verity_did::{DidResolver, Relationship};
use verity_jose::{Header, Signer, UnverifiedJws};

/// The VCDM 2.0 base context; it must come first.
pub const CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// The VCDM 1.1 base context (credentials in that model use the `vc` claim of a JWT instead).
pub const CONTEXT_V1: &str = "https://www.w3.org/2018/credentials/v1";
/// The media type of a credential secured as a JWT (VC-JOSE-COSE section 3.1.1).
pub const MEDIA_TYPE_VC_JWT: &str = "application/vc+jwt";
/// Its `typ`.
pub const TYP_VC_JWT: &str = "vc+jwt";
/// The media type of a presentation secured as a JWT.
pub const MEDIA_TYPE_VP_JWT: &str = "application/vp+jwt";
/// Its `typ`.
pub const TYP_VP_JWT: &str = "vp+jwt";
/// The `id` prefix of an enveloped credential.
pub const DATA_URL_PREFIX: &str = "data:application/vc+jwt,";
/// Largest token accepted for verification.
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;

/// Why a credential was refused. Each variant has a stable code ([`VcdmError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcdmError {
    /// A field is missing, has the wrong type or breaks the data model's rule for it.
    #[error("{field}: {reason}")]
    Field {
        /// The JSON path (`@context[0]`, `credentialSubject`, `validUntil`).
        field: String,
        reason: String,
    },
    /// A credential or presentation given as plain JSON: nothing secures it.
    #[error(
        "{field}: not secured; send it enveloped (`data:application/vc+jwt,...` / `data:application/vp+jwt,...`) or as a compact JWS"
    )]
    Unsecured {
        /// `verifiableCredential` or `verifiablePresentation`.
        field: &'static str,
    },
    /// A media type or `typ`/`cty` other than the ones this verifier handles.
    #[error("{field}: `{found}` is not supported; expected {expected}")]
    MediaType {
        field: &'static str,
        found: String,
        expected: &'static str,
    },
    /// The token is not a compact JWS, or its signature does not verify with the issuer's key.
    #[error("proof: {0}")]
    Proof(String),
    /// The issuer's DID could not be resolved, or the key is not one of its assertion methods.
    #[error("issuer: {0}")]
    Issuer(String),
    /// The issuer's DID could not be resolved now (its host did not answer): try again.
    #[error("issuer: the DID could not be resolved now ({0}); try again")]
    IssuerUnavailable(String),
    /// The start of the validity period (`validFrom`; in a VCDM 1.1 JWT `nbf`) is in the future.
    #[error("{field}: the credential is valid from {at}, not yet")]
    NotYetValid { field: &'static str, at: String },
    /// The end of the validity period (`validUntil`; in a VCDM 1.1 JWT `exp`) has passed.
    #[error("{field}: the credential expired at {at}")]
    Expired { field: &'static str, at: String },
    /// A refusal of something inside a presentation (one of its credentials).
    #[error("{field}: {inner}")]
    Nested {
        /// The full path (`verifiableCredential[0].validUntil`).
        field: String,
        inner: Box<VcdmError>,
    },
    /// The presentation's `nonce` or `aud` is not the challenge or domain asked for.
    #[error("{field}: {reason}")]
    Binding { field: &'static str, reason: String },
    /// The revocation bit of the entry at `field` is set.
    #[error("{field}: the credential is revoked")]
    Revoked { field: String },
    /// The suspension bit of the entry at `field` is set.
    #[error("{field}: the credential is suspended")]
    Suspended { field: String },
    /// The status list of the entry at `field` could not be fetched now: the status is
    /// unknown, so the credential is not accepted (fail closed); try again.
    #[error("{field}: the status list could not be fetched now ({reason}); try again")]
    StatusUnavailable { field: String, reason: String },
    /// The entry at `field`, or its list, cannot be used (malformed, another issuer's list,
    /// index out of range).
    #[error("{field}: {reason}")]
    Status { field: String, reason: String },
}

impl VcdmError {
    /// The stable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Field { .. } => "VCDM-001",
            Self::Unsecured { .. } => "VCDM-002",
            Self::MediaType { .. } => "VCDM-003",
            Self::Proof(_) => "VCDM-004",
            Self::Issuer(_) => "VCDM-005",
            Self::IssuerUnavailable(_) => "VCDM-006",
            Self::NotYetValid { .. } => "VCDM-007",
            Self::Expired { .. } => "VCDM-008",
            Self::Nested { inner, .. } => inner.code(),
            Self::Binding { .. } => "VCDM-009",
            Self::Revoked { .. } => "VCDM-010",
            Self::Suspended { .. } => "VCDM-011",
            Self::StatusUnavailable { .. } => "VCDM-012",
            Self::Status { .. } => "VCDM-013",
        }
    }

    /// The same refusal about something inside `prefix` (`verifiableCredential[0]`).
    pub fn within(self, prefix: &str) -> VcdmError {
        let field = format!("{prefix}.{}", self.field());
        Self::Nested {
            field,
            inner: Box::new(self),
        }
    }

    /// The field the refusal is about, for error answers.
    pub fn field(&self) -> &str {
        match self {
            Self::Field { field, .. } => field,
            Self::Unsecured { field } => field,
            Self::MediaType { field, .. } => field,
            Self::Proof(_) => "proof",
            Self::Issuer(_) | Self::IssuerUnavailable(_) => "issuer",
            Self::NotYetValid { field, .. } | Self::Expired { field, .. } => field,
            Self::Nested { field, .. } => field,
            Self::Binding { field, .. } => field,
            Self::Revoked { field }
            | Self::Suspended { field }
            | Self::StatusUnavailable { field, .. }
            | Self::Status { field, .. } => field,
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::IssuerUnavailable(_) | Self::StatusUnavailable { .. } => true,
            Self::Nested { inner, .. } => inner.is_transient(),
            _ => false,
        }
    }

    fn bad(field: impl Into<String>, reason: impl Into<String>) -> VcdmError {
        VcdmError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What [`check_credential`] read from a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCredential {
    /// The issuer's identifier (`issuer` or `issuer.id`).
    pub issuer: String,
    /// Its types.
    pub types: Vec<String>,
    /// `validFrom`, if given.
    pub valid_from: Option<DateTime<Utc>>,
    /// `validUntil`, if given.
    pub valid_until: Option<DateTime<Utc>>,
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, VcdmError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| VcdmError::bad(format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        Value::Null => Err(VcdmError::bad(field, "is required")),
        _ => Err(VcdmError::bad(
            field,
            "must be a string or a non-empty array of strings",
        )),
    }
}

/// A dateTimeStamp (RFC 3339 with a time zone), as VCDM 2.0 section 4.9 requires.
fn date_time(v: &Value, field: &str) -> Result<Option<DateTime<Utc>>, VcdmError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                VcdmError::bad(
                    field,
                    format!("`{s}` is not a dateTimeStamp (RFC 3339 with a time zone)"),
                )
            }),
        _ => Err(VcdmError::bad(field, "must be a dateTimeStamp string")),
    }
}

fn is_url(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty() && !s.contains(' '))
}

/// Checks `credential` against the VCDM 2.0 rules; every refusal names its field.
pub fn check_credential(credential: &Value) -> Result<CheckedCredential, VcdmError> {
    check_model(credential, Model::V2)
}

/// Checks the `vc` claim of a VCDM 1.1 JWT against the VCDM 1.1 rules (`@context` first
/// `https://www.w3.org/2018/credentials/v1`, `issuanceDate` required, `expirationDate`
/// after it); every refusal names its field.
pub fn check_credential_v1(credential: &Value) -> Result<CheckedCredential, VcdmError> {
    check_model(credential, Model::V1)
}

/// The data model version a credential is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    V1,
    V2,
}

impl Model {
    fn base(self) -> &'static str {
        match self {
            Model::V1 => CONTEXT_V1,
            Model::V2 => CONTEXT_V2,
        }
    }

    /// The members holding the start and the end of the validity period.
    fn period(self) -> (&'static str, &'static str) {
        match self {
            Model::V1 => ("issuanceDate", "expirationDate"),
            Model::V2 => ("validFrom", "validUntil"),
        }
    }
}

fn check_model(credential: &Value, model: Model) -> Result<CheckedCredential, VcdmError> {
    let Some(obj) = credential.as_object() else {
        return Err(VcdmError::bad("credential", "must be a JSON object"));
    };
    if model == Model::V2 && (obj.contains_key("vc") || obj.contains_key("vp")) {
        return Err(VcdmError::bad(
            "vc",
            "a VCDM 2.0 credential has its properties at the top level, not under `vc` (the VCDM 1.1 JWT encoding)",
        ));
    }
    if obj.contains_key("proof") {
        return Err(VcdmError::bad(
            "proof",
            "this issuer secures credentials as JWTs, not with an embedded proof",
        ));
    }
    let base = model.base();
    let contexts = match &credential["@context"] {
        Value::Array(a) if !a.is_empty() => a,
        Value::Null => return Err(VcdmError::bad("@context", "is required")),
        _ => return Err(VcdmError::bad("@context", "must be a non-empty array")),
    };
    if contexts[0] != base {
        return Err(VcdmError::bad(
            "@context[0]",
            format!("must be `{base}` (the base context comes first)"),
        ));
    }
    for (i, c) in contexts.iter().enumerate().skip(1) {
        match c {
            Value::String(s) if s == CONTEXT_V2 || s == CONTEXT_V1 => {
                return Err(VcdmError::bad(
                    format!("@context[{i}]"),
                    "a base context may appear only first, once",
                ));
            }
            Value::String(s) if is_url(s) => {}
            Value::Object(_) => {}
            _ => {
                return Err(VcdmError::bad(
                    format!("@context[{i}]"),
                    "must be a URL or a context object",
                ));
            }
        }
    }
    let types = strings(&credential["type"], "type")?;
    if !types.iter().any(|t| t == "VerifiableCredential") {
        return Err(VcdmError::bad(
            "type",
            "must include `VerifiableCredential`",
        ));
    }
    let issuer = match &credential["issuer"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| VcdmError::bad("issuer.id", "is required when `issuer` is an object"))?,
        Value::Null => return Err(VcdmError::bad("issuer", "is required")),
        _ => {
            return Err(VcdmError::bad(
                "issuer",
                "must be a URL or an object with `id`",
            ));
        }
    };
    if !is_url(&issuer) {
        return Err(VcdmError::bad("issuer", format!("`{issuer}` is not a URL")));
    }
    match &credential["credentialSubject"] {
        Value::Object(o) if !o.is_empty() => {}
        Value::Array(a)
            if !a.is_empty()
                && a.iter()
                    .all(|s| s.as_object().is_some_and(|o| !o.is_empty())) => {}
        Value::Null => return Err(VcdmError::bad("credentialSubject", "is required")),
        _ => {
            return Err(VcdmError::bad(
                "credentialSubject",
                "must be a non-empty object or an array of them",
            ));
        }
    }
    for (subject, field) in objects(&credential["credentialSubject"], "credentialSubject") {
        optional_url(subject, &field, "id")?;
    }
    check_related_members(credential, &credential["issuer"])?;
    if let Some(id) = credential.get("id")
        && !id.as_str().is_some_and(is_url)
    {
        return Err(VcdmError::bad("id", "must be a URL"));
    }
    let (from, until) = model.period();
    let other = match model {
        Model::V1 => Model::V2,
        Model::V2 => Model::V1,
    };
    for foreign in <[&str; 2]>::from(other.period()) {
        if obj.contains_key(foreign) {
            return Err(VcdmError::bad(
                foreign,
                format!("belongs to the other data model version: use `{from}` / `{until}`"),
            ));
        }
    }
    let valid_from = date_time(&credential[from], from)?;
    let valid_until = date_time(&credential[until], until)?;
    if model == Model::V1 && valid_from.is_none() {
        return Err(VcdmError::bad(from, "is required in a VCDM 1.1 credential"));
    }
    if let (Some(f), Some(u)) = (valid_from, valid_until)
        && f > u
    {
        return Err(VcdmError::bad(until, format!("is before `{from}`")));
    }
    match &credential["credentialStatus"] {
        Value::Null => {}
        Value::Object(_) => {
            check_status_entry(&credential["credentialStatus"], "credentialStatus")?
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, e) in a.iter().enumerate() {
                check_status_entry(e, &format!("credentialStatus[{i}]"))?;
            }
        }
        _ => {
            return Err(VcdmError::bad(
                "credentialStatus",
                "must be an object or a non-empty array of them",
            ));
        }
    }
    for (entry, field) in objects(&credential["credentialStatus"], "credentialStatus") {
        optional_url(entry, &field, "id")?;
    }
    Ok(CheckedCredential {
        issuer,
        types,
        valid_from,
        valid_until,
    })
}

/// The objects of a member that holds one object or an array of them, each with its path.
fn objects<'a>(v: &'a Value, field: &str) -> Vec<(&'a Value, String)> {
    match v {
        Value::Object(_) => vec![(v, field.to_owned())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_object())
            .map(|(i, item)| (item, format!("{field}[{i}]")))
            .collect(),
        _ => Vec::new(),
    }
}

/// The objects of an optional member that must be one object or a non-empty array of them.
fn object_list<'a>(v: &'a Value, field: &str) -> Result<Vec<(&'a Value, String)>, VcdmError> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let items = objects(v, field);
    let count = v.as_array().map_or(1, Vec::len);
    if items.len() != count || count == 0 {
        return Err(VcdmError::bad(
            field,
            "must be an object or a non-empty array of objects",
        ));
    }
    Ok(items)
}

/// `member` of `object`, when present, is one URL (not an array of them).
fn optional_url(object: &Value, field: &str, member: &str) -> Result<(), VcdmError> {
    match object.get(member) {
        None => Ok(()),
        Some(Value::String(s)) if is_url(s) => Ok(()),
        Some(Value::Array(_)) => Err(VcdmError::bad(
            format!("{field}.{member}"),
            "must be a single URL, not an array",
        )),
        Some(_) => Err(VcdmError::bad(format!("{field}.{member}"), "must be a URL")),
    }
}

/// The VCDM 2.0 rules for the members around the claims: `name` / `description` (of the
/// credential and of an issuer object) are strings or language value objects; every
/// `termsOfUse`, `evidence`, `refreshService` and `credentialSchema` value has a `type` (a
/// schema also an `id` URL); every `relatedResource` has a unique `id` URL and a digest.
fn check_related_members(credential: &Value, issuer: &Value) -> Result<(), VcdmError> {
    for (holder, prefix) in [(credential, ""), (issuer, "issuer.")] {
        for member in ["name", "description"] {
            check_language_values(&holder[member], &format!("{prefix}{member}"))?;
        }
    }
    for member in [
        "termsOfUse",
        "evidence",
        "refreshService",
        "credentialSchema",
    ] {
        for (item, field) in object_list(&credential[member], member)? {
            if item["type"].as_str().is_none_or(str::is_empty) && !item["type"].is_array() {
                return Err(VcdmError::bad(format!("{field}.type"), "is required"));
            }
            if member == "credentialSchema" {
                if item.get("id").is_none() {
                    return Err(VcdmError::bad(format!("{field}.id"), "is required"));
                }
                optional_url(item, &field, "id")?;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (item, field) in object_list(&credential["relatedResource"], "relatedResource")? {
        let Some(id) = item["id"].as_str().filter(|id| is_url(id)) else {
            return Err(VcdmError::bad(format!("{field}.id"), "is required (a URL)"));
        };
        if !seen.insert(id) {
            return Err(VcdmError::bad(
                format!("{field}.id"),
                format!("`{id}` is listed twice"),
            ));
        }
        let digests = ["digestSRI", "digestMultibase"];
        if !digests
            .iter()
            .any(|d| item[*d].as_str().is_some_and(|v| !v.is_empty()))
        {
            return Err(VcdmError::bad(
                field,
                "needs a digestSRI or a digestMultibase of the resource",
            ));
        }
    }
    Ok(())
}

/// A `name` / `description`: a string, a language value object (`@value` with optional
/// `@language` and `@direction`, nothing else) or an array of them.
fn check_language_values(v: &Value, field: &str) -> Result<(), VcdmError> {
    let one = |v: &Value, field: &str| match v {
        Value::String(_) => Ok(()),
        Value::Object(o) => {
            if !o.get("@value").is_some_and(Value::is_string) {
                return Err(VcdmError::bad(
                    format!("{field}.@value"),
                    "is required in a language value object (a string)",
                ));
            }
            match o
                .keys()
                .find(|k| !matches!(k.as_str(), "@value" | "@language" | "@direction"))
            {
                Some(extra) => Err(VcdmError::bad(
                    format!("{field}.{extra}"),
                    "a language value object holds only @value, @language and @direction",
                )),
                None => Ok(()),
            }
        }
        _ => Err(VcdmError::bad(
            field,
            "must be a string or a language value object",
        )),
    };
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| one(item, &format!("{field}[{i}]"))),
        other => one(other, field),
    }
}

fn check_status_entry(e: &Value, field: &str) -> Result<(), VcdmError> {
    if !e.is_object() {
        return Err(VcdmError::bad(field, "must be an object"));
    }
    if e["type"].as_str().is_none_or(str::is_empty) {
        return Err(VcdmError::bad(format!("{field}.type"), "is required"));
    }
    if e["type"] == "BitstringStatusListEntry" {
        for member in ["statusPurpose", "statusListIndex", "statusListCredential"] {
            if e[member].as_str().is_none_or(str::is_empty) {
                return Err(VcdmError::bad(
                    format!("{field}.{member}"),
                    "is required (a string) in a BitstringStatusListEntry",
                ));
            }
        }
        if e["statusListIndex"]
            .as_str()
            .is_some_and(|i| i.parse::<u64>().is_err())
        {
            return Err(VcdmError::bad(
                format!("{field}.statusListIndex"),
                "must be a non-negative integer as a string",
            ));
        }
    }
    Ok(())
}

/// Signs `credential` (checked first) as a compact JWS with `typ: vc+jwt` and the credential
/// as the payload.
pub async fn sign_credential(signer: &dyn Signer, credential: &Value) -> Result<String, VcdmError> {
    check_credential(credential)?;
    sign_typed(signer, TYP_VC_JWT, "credential", credential).await
}

/// Signs `payload` as a compact JWS with `typ`.
async fn sign_typed(
    signer: &dyn Signer,
    typ: &str,
    what: &str,
    payload: &Value,
) -> Result<String, VcdmError> {
    let bytes = serde_json::to_vec(payload)
        .map_err(|e| VcdmError::bad(what, format!("cannot be serialised: {e}")))?;
    let mut header = Header::new(signer.algorithm());
    header.typ = Some(typ.to_owned());
    let signed = signer
        .sign_jws(header, &bytes)
        .await
        .map_err(|e| VcdmError::Proof(format!("signing failed: {e}")))?;
    Ok(signed.token)
}

/// The `EnvelopedVerifiableCredential` carrying a vc+jwt.
pub fn envelope(jwt: &str) -> Value {
    envelope_as(jwt, Envelope::CREDENTIAL)
}

fn envelope_as(jwt: &str, kind: Envelope) -> Value {
    json!({
        "@context": [CONTEXT_V2],
        "id": format!("data:{},{jwt}", kind.media_type),
        "type": kind.type_,
    })
}

/// The vc+jwt of an `EnvelopedVerifiableCredential`, a `data:` URL or a bare compact JWS;
/// plain JSON credentials are refused as unsecured.
pub fn unenvelope(v: &Value) -> Result<String, VcdmError> {
    unenvelope_as(v, Envelope::CREDENTIAL)
}

/// What an envelope of one kind looks like.
#[derive(Debug, Clone, Copy)]
struct Envelope {
    type_: &'static str,
    media_type: &'static str,
    field: &'static str,
    id_field: &'static str,
    expected: &'static str,
}

impl Envelope {
    const CREDENTIAL: Envelope = Envelope {
        type_: "EnvelopedVerifiableCredential",
        media_type: MEDIA_TYPE_VC_JWT,
        field: "verifiableCredential",
        id_field: "verifiableCredential.id",
        expected: "application/vc+jwt",
    };
    const PRESENTATION: Envelope = Envelope {
        type_: "EnvelopedVerifiablePresentation",
        media_type: MEDIA_TYPE_VP_JWT,
        field: "verifiablePresentation",
        id_field: "verifiablePresentation.id",
        expected: "application/vp+jwt",
    };
}

fn unenvelope_as(v: &Value, kind: Envelope) -> Result<String, VcdmError> {
    let id = match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let is_enveloped = match o.get("type") {
                Some(Value::String(t)) => t == kind.type_,
                Some(Value::Array(a)) => a.iter().any(|t| t == kind.type_),
                _ => false,
            };
            if !is_enveloped {
                return Err(VcdmError::Unsecured { field: kind.field });
            }
            // An envelope is itself a VCDM 2.0 object: its base context comes first.
            let first = match o.get("@context") {
                Some(Value::String(c)) => Some(c.as_str()),
                Some(Value::Array(a)) => a.first().and_then(Value::as_str),
                _ => None,
            };
            if first != Some(CONTEXT_V2) {
                return Err(VcdmError::bad(
                    format!("{}.@context", kind.field),
                    format!("must be present, starting with `{CONTEXT_V2}`"),
                ));
            }
            let id = o
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| VcdmError::bad(kind.id_field, "is required"))?;
            if !id.starts_with("data:") {
                return Err(VcdmError::bad(
                    kind.id_field,
                    format!("must be a `data:{},...` URL", kind.media_type),
                ));
            }
            id.to_owned()
        }
        _ => {
            return Err(VcdmError::Unsecured { field: kind.field });
        }
    };
    match id.strip_prefix("data:") {
        Some(rest) => {
            let (media, data) = rest
                .split_once(',')
                .ok_or_else(|| VcdmError::bad(kind.id_field, "is not a data: URL"))?;
            if media != kind.media_type {
                return Err(VcdmError::MediaType {
                    field: kind.id_field,
                    found: media.to_owned(),
                    expected: kind.expected,
                });
            }
            Ok(data.to_owned())
        }
        None if id.split('.').count() == 3 => Ok(id),
        None => Err(VcdmError::bad(
            kind.id_field,
            format!("must be a `data:{},...` URL", kind.media_type),
        )),
    }
}

/// One check of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The credential (the JWS payload).
    pub credential: Value,
    /// What it read.
    pub checked: CheckedCredential,
    /// The names of the checks that passed, in order (`proof`, `issuer`, `validFrom`, ...).
    pub checks: Vec<&'static str>,
    /// Warnings: things that did not fail the credential.
    pub warnings: Vec<String>,
}

/// Verifies an enveloped credential, a `data:` URL or a compact vc+jwt at `now` (Unix seconds).
pub async fn verify_credential(
    resolver: &dyn DidResolver,
    secured: &Value,
    now: i64,
) -> Result<Verified, VcdmError> {
    let token = unenvelope(secured)?;
    let (jws, unverified, kid) = parse_secured(&token, TYP_VC_JWT, "`vc+jwt`")?;
    let checked = check_credential(&unverified)?;
    let did = issuer_key_did(&kid, &checked.issuer)?;
    let credential =
        verify_signed(resolver, jws, &kid, &did, Relationship::AssertionMethod).await?;
    let mut checks = vec!["proof", "issuer"];
    let now_t = DateTime::from_timestamp(now, 0).unwrap_or_default();
    if let Some(from) = checked.valid_from {
        if from > now_t {
            return Err(VcdmError::NotYetValid {
                field: "validFrom",
                at: from.to_rfc3339(),
            });
        }
        checks.push("validFrom");
    }
    if let Some(until) = checked.valid_until {
        if until <= now_t {
            return Err(VcdmError::Expired {
                field: "validUntil",
                at: until.to_rfc3339(),
            });
        }
        checks.push("validUntil");
    }
    let mut warnings = Vec::new();
    if checked.valid_until.is_none() {
        warnings.push("the credential has no `validUntil`: it does not expire".to_owned());
    }
    Ok(Verified {
        credential,
        checked,
        checks,
        warnings,
    })
}

/// A compact JWS of `typ` (and no `cty`): the parsed token, its unverified payload and kid.
fn parse_secured(
    token: &str,
    typ: &'static str,
    expected: &'static str,
) -> Result<(UnverifiedJws, Value, String), VcdmError> {
    parse_secured_as(token, |t| t == Some(typ), expected)
}

/// [`parse_secured`] with the accepted `typ` values given by `accepts`.
fn parse_secured_as(
    token: &str,
    accepts: impl Fn(Option<&str>) -> bool,
    expected: &'static str,
) -> Result<(UnverifiedJws, Value, String), VcdmError> {
    let jws = UnverifiedJws::parse_with_limit(token, MAX_TOKEN_BYTES)
        .map_err(|e| VcdmError::Proof(format!("not a compact JWS: {e}")))?;
    let header = jws.header().clone();
    if !accepts(header.typ.as_deref()) {
        return Err(VcdmError::MediaType {
            field: "typ",
            found: header.typ.unwrap_or_else(|| "(none)".into()),
            expected,
        });
    }
    if let Some(cty) = header.extra.get("cty") {
        return Err(VcdmError::MediaType {
            field: "cty",
            found: cty.as_str().unwrap_or("(not a string)").to_owned(),
            expected: "no `cty` (the payload is the credential or presentation itself)",
        });
    }
    let payload: Value = jws
        .payload_unverified()
        .map_err(|e| VcdmError::Proof(format!("the payload is not JSON: {e}")))?;
    let kid = header
        .kid
        .ok_or_else(|| VcdmError::Proof("the header has no `kid`".into()))?;
    Ok((jws, payload, kid))
}

/// The DID of key `kid` (a DID URL, or a fragment of `default_did`).
fn signer_did(kid: &str, default_did: &str) -> Result<String, VcdmError> {
    let (kid_did, _) =
        verity_did::split_key_id(kid).map_err(|e| VcdmError::Proof(format!("kid `{kid}`: {e}")))?;
    Ok(kid_did
        .map(|d| d.to_string())
        .unwrap_or_else(|| default_did.to_owned()))
}

/// The DID of the signing key `kid`, which must be the credential's `issuer`.
fn issuer_key_did(kid: &str, issuer: &str) -> Result<String, VcdmError> {
    let did = signer_did(kid, issuer)?;
    if did != issuer {
        return Err(VcdmError::Issuer(format!(
            "the key `{kid}` belongs to {did}, the credential's issuer is {issuer}"
        )));
    }
    Ok(did)
}

/// Verifies `jws` with key `kid` of `did`, which must list it under `rel`; the payload.
async fn verify_signed(
    resolver: &dyn DidResolver,
    jws: UnverifiedJws,
    kid: &str,
    did: &str,
    rel: Relationship,
) -> Result<Value, VcdmError> {
    let document = resolver.resolve(did).await.map_err(|e| {
        if e.is_unavailable() {
            VcdmError::IssuerUnavailable(format!("{did}: {e}"))
        } else {
            VcdmError::Issuer(format!("{did} could not be resolved: {e}"))
        }
    })?;
    let key = document
        .key_for(kid, rel)
        .map_err(|e| VcdmError::Issuer(format!("key `{kid}`: {e}")))?;
    let verified = jws
        .verify(&key)
        .map_err(|e| VcdmError::Proof(format!("the signature does not verify: {e}")))?;
    verified
        .claims()
        .map_err(|e| VcdmError::Proof(format!("the payload is not JSON: {e}")))
}

/// What [`check_presentation`] read from a presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPresentation {
    /// `holder` (or `holder.id`), if given.
    pub holder: Option<String>,
    /// The enveloped credentials it carries (`verifiableCredential`).
    pub credentials: Vec<Value>,
}

/// Checks `presentation` against the VCDM 2.0 rules for presentations: the base context
/// first, `type` with `VerifiablePresentation`, an optional `holder` URL, and credentials that
/// are enveloped (`EnvelopedVerifiableCredential`), never plain JSON.
pub fn check_presentation(presentation: &Value) -> Result<CheckedPresentation, VcdmError> {
    let Some(obj) = presentation.as_object() else {
        return Err(VcdmError::bad("presentation", "must be a JSON object"));
    };
    for member in ["vp", "vc"] {
        if obj.contains_key(member) {
            return Err(VcdmError::bad(
                member,
                "a VCDM 2.0 presentation has its properties at the top level (the VCDM 1.1 JWT encoding uses `vp`)",
            ));
        }
    }
    if obj.contains_key("proof") {
        return Err(VcdmError::bad(
            "proof",
            "this service secures presentations as vp+jwt, not with an embedded proof",
        ));
    }
    match &presentation["@context"] {
        Value::Array(a) if a.first().is_some_and(|c| c == CONTEXT_V2) => {}
        Value::Null => return Err(VcdmError::bad("@context", "is required")),
        _ => {
            return Err(VcdmError::bad(
                "@context[0]",
                format!("must be `{CONTEXT_V2}` (the VCDM 2.0 base context comes first)"),
            ));
        }
    }
    let types = strings(&presentation["type"], "type")?;
    if !types.iter().any(|t| t == "VerifiablePresentation") {
        return Err(VcdmError::bad(
            "type",
            "must include `VerifiablePresentation`",
        ));
    }
    let holder = match &presentation["holder"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    VcdmError::bad("holder.id", "is required when `holder` is an object")
                })?,
        ),
        _ => {
            return Err(VcdmError::bad(
                "holder",
                "must be a URL or an object with `id`",
            ));
        }
    };
    if let Some(h) = &holder
        && !is_url(h)
    {
        return Err(VcdmError::bad("holder", format!("`{h}` is not a URL")));
    }
    let credentials = match &presentation["verifiableCredential"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for (i, c) in credentials.iter().enumerate() {
        if c["type"] != "EnvelopedVerifiableCredential" {
            return Err(VcdmError::bad(
                format!("verifiableCredential[{i}]"),
                "must be an EnvelopedVerifiableCredential (`data:application/vc+jwt,...`)",
            ));
        }
    }
    Ok(CheckedPresentation {
        holder,
        credentials,
    })
}

/// What a presentation is bound to: the verifier's challenge (`nonce`) and domain (`aud`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    /// Expected in the presentation's `nonce`.
    pub challenge: Option<String>,
    /// Expected in the presentation's `aud`.
    pub domain: Option<String>,
}

/// Signs `presentation` (checked first) as a vp+jwt, with `binding` as its `nonce` and `aud`.
/// The signer's DID must be the presentation's `holder`.
pub async fn sign_presentation(
    signer: &dyn Signer,
    presentation: &Value,
    binding: &Binding,
) -> Result<String, VcdmError> {
    let checked = check_presentation(presentation)?;
    if checked.holder.is_none() {
        return Err(VcdmError::bad(
            "holder",
            "is required in a signed presentation",
        ));
    }
    let mut payload = presentation.clone();
    if let Some(c) = &binding.challenge {
        payload["nonce"] = json!(c);
    }
    if let Some(d) = &binding.domain {
        payload["aud"] = json!(d);
    }
    sign_typed(signer, TYP_VP_JWT, "presentation", &payload).await
}

/// The `EnvelopedVerifiablePresentation` carrying a vp+jwt.
pub fn envelope_presentation(jwt: &str) -> Value {
    envelope_as(jwt, Envelope::PRESENTATION)
}

/// A verified presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPresentation {
    /// The presentation (the JWS payload).
    pub presentation: Value,
    /// Its holder.
    pub holder: String,
    /// Each credential it carries, verified.
    pub credentials: Vec<Verified>,
    /// The checks that passed (`proof`, `holder`, `challenge`, `domain`, `verifiableCredential[i]`).
    pub checks: Vec<String>,
}

/// Verifies an enveloped presentation (or its `data:` URL, or the bare vp+jwt) at `now`: the
/// holder's signature with a key of its DID's `authentication`, the binding asked for, and
/// every credential in it ([`verify_credential`]; refusals name `verifiableCredential[i]`).
pub async fn verify_presentation(
    resolver: &dyn DidResolver,
    secured: &Value,
    binding: &Binding,
    now: i64,
) -> Result<VerifiedPresentation, VcdmError> {
    let token = unenvelope_as(secured, Envelope::PRESENTATION)?;
    let (jws, unverified, kid) = parse_secured(&token, TYP_VP_JWT, "`vp+jwt`")?;
    let checked = check_presentation(&unverified)?;
    let holder = checked
        .holder
        .clone()
        .ok_or_else(|| VcdmError::bad("holder", "is required in a signed presentation"))?;
    let did = signer_did(&kid, &holder)?;
    if did != holder {
        return Err(VcdmError::Issuer(format!(
            "the key `{kid}` belongs to {did}, the presentation's holder is {holder}"
        )));
    }
    let presentation =
        verify_signed(resolver, jws, &kid, &did, Relationship::Authentication).await?;
    let mut checks = vec!["proof".to_owned(), "holder".to_owned()];
    for (field, claim, expected) in [
        ("challenge", "nonce", &binding.challenge),
        ("domain", "aud", &binding.domain),
    ] {
        let Some(expected) = expected else { continue };
        match presentation[claim].as_str() {
            Some(found) if found == expected => checks.push(field.to_owned()),
            found => {
                return Err(VcdmError::Binding {
                    field: if claim == "nonce" { "nonce" } else { "aud" },
                    reason: format!(
                        "is {}, not the {field} `{expected}`",
                        found.map_or_else(|| "missing".to_owned(), |f| format!("`{f}`"))
                    ),
                });
            }
        }
    }
    let mut credentials = Vec::new();
    for (i, c) in checked.credentials.iter().enumerate() {
        let prefix = format!("verifiableCredential[{i}]");
        let v = verify_credential(resolver, c, now)
            .await
            .map_err(|e| e.within(&prefix))?;
        checks.push(prefix);
        credentials.push(v);
    }
    Ok(VerifiedPresentation {
        presentation,
        holder,
        credentials,
        checks,
    })
}

mod v1;
pub use v1::{TYP_JWT, sign_credential_v1, verify_any_credential, verify_credential_v1};

#[cfg(test)]
mod tests;
