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
    /// A credential given as plain JSON: nothing secures it.
    #[error(
        "the credential is not secured: send an EnvelopedVerifiableCredential (`data:application/vc+jwt,...`) or a vc+jwt"
    )]
    Unsecured,
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
    /// `validFrom` is in the future.
    #[error("validFrom: the credential is valid from {0}, not yet")]
    NotYetValid(String),
    /// `validUntil` has passed.
    #[error("validUntil: the credential expired at {0}")]
    Expired(String),
}

impl VcdmError {
    /// The stable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Field { .. } => "VCDM-001",
            Self::Unsecured => "VCDM-002",
            Self::MediaType { .. } => "VCDM-003",
            Self::Proof(_) => "VCDM-004",
            Self::Issuer(_) => "VCDM-005",
            Self::IssuerUnavailable(_) => "VCDM-006",
            Self::NotYetValid(_) => "VCDM-007",
            Self::Expired(_) => "VCDM-008",
        }
    }

    /// The field the refusal is about, for error answers.
    pub fn field(&self) -> &str {
        match self {
            Self::Field { field, .. } => field,
            Self::Unsecured => "verifiableCredential",
            Self::MediaType { field, .. } => field,
            Self::Proof(_) => "proof",
            Self::Issuer(_) | Self::IssuerUnavailable(_) => "issuer",
            Self::NotYetValid(_) => "validFrom",
            Self::Expired(_) => "validUntil",
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::IssuerUnavailable(_))
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
    let Some(obj) = credential.as_object() else {
        return Err(VcdmError::bad("credential", "must be a JSON object"));
    };
    if obj.contains_key("vc") || obj.contains_key("vp") {
        return Err(VcdmError::bad(
            "vc",
            "a VCDM 2.0 credential has its properties at the top level, not under `vc` (the VCDM 1.1 JWT encoding)",
        ));
    }
    if obj.contains_key("proof") {
        return Err(VcdmError::bad(
            "proof",
            "this issuer secures credentials as vc+jwt, not with an embedded proof",
        ));
    }
    let contexts = match &credential["@context"] {
        Value::Array(a) if !a.is_empty() => a,
        Value::Null => return Err(VcdmError::bad("@context", "is required")),
        _ => return Err(VcdmError::bad("@context", "must be a non-empty array")),
    };
    if contexts[0] != CONTEXT_V2 {
        return Err(VcdmError::bad(
            "@context[0]",
            format!("must be `{CONTEXT_V2}` (the VCDM 2.0 base context comes first)"),
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
    if let Some(id) = credential.get("id")
        && !id.as_str().is_some_and(is_url)
    {
        return Err(VcdmError::bad("id", "must be a URL"));
    }
    for old in ["issuanceDate", "expirationDate"] {
        if obj.contains_key(old) {
            return Err(VcdmError::bad(
                old,
                "is VCDM 1.1: use `validFrom` / `validUntil`",
            ));
        }
    }
    let valid_from = date_time(&credential["validFrom"], "validFrom")?;
    let valid_until = date_time(&credential["validUntil"], "validUntil")?;
    if let (Some(f), Some(u)) = (valid_from, valid_until)
        && f > u
    {
        return Err(VcdmError::bad("validUntil", "is before `validFrom`"));
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
    Ok(CheckedCredential {
        issuer,
        types,
        valid_from,
        valid_until,
    })
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
    let payload = serde_json::to_vec(credential)
        .map_err(|e| VcdmError::bad("credential", format!("cannot be serialised: {e}")))?;
    let mut header = Header::new(signer.algorithm());
    header.typ = Some(TYP_VC_JWT.to_owned());
    let signed = signer
        .sign_jws(header, &payload)
        .await
        .map_err(|e| VcdmError::Proof(format!("signing failed: {e}")))?;
    Ok(signed.token)
}

/// The `EnvelopedVerifiableCredential` carrying a vc+jwt.
pub fn envelope(jwt: &str) -> Value {
    json!({
        "@context": CONTEXT_V2,
        "id": format!("{DATA_URL_PREFIX}{jwt}"),
        "type": "EnvelopedVerifiableCredential",
    })
}

/// The vc+jwt of an `EnvelopedVerifiableCredential`, a `data:` URL or a bare compact JWS;
/// plain JSON credentials are refused as unsecured.
pub fn unenvelope(v: &Value) -> Result<String, VcdmError> {
    let id = match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let is_enveloped = match o.get("type") {
                Some(Value::String(t)) => t == "EnvelopedVerifiableCredential",
                Some(Value::Array(a)) => a.iter().any(|t| t == "EnvelopedVerifiableCredential"),
                _ => false,
            };
            if !is_enveloped {
                return Err(VcdmError::Unsecured);
            }
            o.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| VcdmError::bad("verifiableCredential.id", "is required"))?
        }
        _ => return Err(VcdmError::Unsecured),
    };
    match id.strip_prefix("data:") {
        Some(rest) => {
            let (media, data) = rest
                .split_once(',')
                .ok_or_else(|| VcdmError::bad("verifiableCredential.id", "is not a data: URL"))?;
            if media != MEDIA_TYPE_VC_JWT {
                return Err(VcdmError::MediaType {
                    field: "verifiableCredential.id",
                    found: media.to_owned(),
                    expected: "application/vc+jwt",
                });
            }
            Ok(data.to_owned())
        }
        None if id.split('.').count() == 3 => Ok(id),
        None => Err(VcdmError::bad(
            "verifiableCredential.id",
            "must be a `data:application/vc+jwt,...` URL",
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
    let jws = UnverifiedJws::parse_with_limit(&token, MAX_TOKEN_BYTES)
        .map_err(|e| VcdmError::Proof(format!("not a compact JWS: {e}")))?;
    let header = jws.header().clone();
    match header.typ.as_deref() {
        Some(TYP_VC_JWT) => {}
        found => {
            return Err(VcdmError::MediaType {
                field: "typ",
                found: found.unwrap_or("(none)").to_owned(),
                expected: "`vc+jwt`",
            });
        }
    }
    if let Some(cty) = header.extra.get("cty") {
        return Err(VcdmError::MediaType {
            field: "cty",
            found: cty.as_str().unwrap_or("(not a string)").to_owned(),
            expected: "no `cty` (the payload is the credential)",
        });
    }
    let unverified: Value = jws
        .payload_unverified()
        .map_err(|e| VcdmError::Proof(format!("the payload is not JSON: {e}")))?;
    let checked = check_credential(&unverified)?;
    let kid = header
        .kid
        .clone()
        .ok_or_else(|| VcdmError::Proof("the header has no `kid`".into()))?;
    let (kid_did, _) = verity_did::split_key_id(&kid)
        .map_err(|e| VcdmError::Proof(format!("kid `{kid}`: {e}")))?;
    let did = kid_did
        .map(|d| d.to_string())
        .unwrap_or_else(|| checked.issuer.clone());
    if did != checked.issuer {
        return Err(VcdmError::Issuer(format!(
            "the key `{kid}` belongs to {did}, the credential's issuer is {}",
            checked.issuer
        )));
    }
    let document = resolver.resolve(&did).await.map_err(|e| {
        if e.is_unavailable() {
            VcdmError::IssuerUnavailable(format!("{did}: {e}"))
        } else {
            VcdmError::Issuer(format!("{did} could not be resolved: {e}"))
        }
    })?;
    let key = document
        .key_for(&kid, Relationship::AssertionMethod)
        .map_err(|e| VcdmError::Issuer(format!("key `{kid}`: {e}")))?;
    let verified = jws
        .verify(&key)
        .map_err(|e| VcdmError::Proof(format!("the signature does not verify: {e}")))?;
    let credential: Value = verified
        .claims()
        .map_err(|e| VcdmError::Proof(format!("the payload is not JSON: {e}")))?;
    let mut checks = vec!["proof", "issuer"];
    let now_t = DateTime::from_timestamp(now, 0).unwrap_or_default();
    if let Some(from) = checked.valid_from {
        if from > now_t {
            return Err(VcdmError::NotYetValid(from.to_rfc3339()));
        }
        checks.push("validFrom");
    }
    if let Some(until) = checked.valid_until {
        if until <= now_t {
            return Err(VcdmError::Expired(until.to_rfc3339()));
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

#[cfg(test)]
mod tests;
