//! The status list credential as a VC-JWT (VCDM 1.1 JWT encoding) or as a VCDM 2.0 vc+jwt
//! (VC-JOSE-COSE: the credential is the payload, `typ` `vc+jwt`, `issuer` a string): building
//! and signing it (Bitstring Status List v1.0 section 3.1), and verifying a fetched one of
//! either kind (section 3.2 steps 4, 5, 8 and 9).

use std::fmt;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};
use verity_jose::{JoseError, Jwk, Signer, TokenKind, UnverifiedJws, check_times, sign_kind};

use crate::entry::json_kind;
use crate::{
    Bitstring, DecodeLimits, MIN_LIST_BITS, StatusListError, StatusPurpose, decode_with_limits,
    encode,
};

/// `type` of a Bitstring Status List credential (spec section 2.2).
pub const CREDENTIAL_TYPE: &str = "BitstringStatusListCredential";
/// `credentialSubject.type` of a Bitstring Status List credential (spec section 2.2).
pub const SUBJECT_TYPE: &str = "BitstringStatusList";
/// StatusList2021's credential type (read compatibility).
pub const STATUS_LIST_2021_CREDENTIAL_TYPE: &str = "StatusList2021Credential";
/// StatusList2021's subject type (read compatibility).
pub const STATUS_LIST_2021_SUBJECT_TYPE: &str = "StatusList2021";
/// The subject type that `RevocationList2021Status` entries point at; it carries no purpose
/// (read compatibility).
pub const REVOCATION_LIST_2021_SUBJECT_TYPE: &str = "RevocationList2021";
/// The VCDM 1.1 base context, as in Verity's other JWT-VCs.
pub const VC_CONTEXT_V1: &str = "https://www.w3.org/2018/credentials/v1";
/// The Bitstring Status List JSON-LD context (spec section 5.2), needed next to the VCDM 1.1
/// context because the VCDM 2.0 context that already contains these terms is not used.
pub const STATUS_CONTEXT_V1: &str = "https://www.w3.org/ns/credentials/status/v1";

/// The VCDM 2.0 base context; it defines the Bitstring Status List terms itself.
pub const VC_CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// The `typ` of a VCDM 2.0 credential secured as a JWT (VC-JOSE-COSE section 3.1.1).
pub const TYP_VC_JWT: &str = "vc+jwt";

/// The fragment that names the list itself as the credential subject.
const LIST_FRAGMENT: &str = "#list";

/// An unsigned status list credential: the claims of the VC-JWT Verity publishes at `url`.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusListCredential {
    issuer: String,
    url: String,
    purpose: StatusPurpose,
    encoded_list: String,
    issued_at: i64,
    valid_until: Option<i64>,
}

impl fmt::Debug for StatusListCredential {
    // The encoded list can be kilobytes long; its size is what matters in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusListCredential")
            .field("issuer", &self.issuer)
            .field("url", &self.url)
            .field("purpose", &self.purpose)
            .field("encoded_list_len", &self.encoded_list.len())
            .field("issued_at", &self.issued_at)
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

impl StatusListCredential {
    /// A list credential for `list`, issued by `issuer_did` at `now` (unix seconds), to be
    /// published at `url`; the list is encoded here.
    pub fn new(
        issuer_did: &str,
        url: &str,
        purpose: StatusPurpose,
        list: &Bitstring,
        now: i64,
    ) -> Result<StatusListCredential, StatusListError> {
        validate_did(issuer_did)?;
        validate_url(url)?;
        if list.len() < MIN_LIST_BITS {
            return Err(StatusListError::ListTooShort {
                bits: list.len() as u64,
                min: MIN_LIST_BITS as u64,
            });
        }
        rfc3339("now", now)?;
        Ok(StatusListCredential {
            issuer: issuer_did.to_owned(),
            url: url.to_owned(),
            purpose,
            encoded_list: encode(list)?,
            issued_at: now,
            valid_until: None,
        })
    }

    /// Sets `exp` (and `vc.expirationDate`) to `ttl_secs` after issuance; verifiers refuse the
    /// list after that, so the publisher must re-sign it before then.
    pub fn valid_for(mut self, ttl_secs: i64) -> Result<StatusListCredential, StatusListError> {
        if ttl_secs <= 0 {
            return Err(StatusListError::InvalidParameter {
                name: "ttl",
                reason: format!("must be a positive number of seconds, got {ttl_secs}"),
            });
        }
        let until = self.issued_at.checked_add(ttl_secs).ok_or_else(|| {
            StatusListError::InvalidParameter {
                name: "ttl",
                reason: "issuance time plus ttl overflows".into(),
            }
        })?;
        rfc3339("ttl", until)?;
        self.valid_until = Some(until);
        Ok(self)
    }

    /// The issuer DID.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL the list is published at (also the credential id).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The list's purpose.
    pub fn purpose(&self) -> StatusPurpose {
        self.purpose
    }

    /// The `encodedList` value.
    pub fn encoded_list(&self) -> &str {
        &self.encoded_list
    }

    /// `iat` / `nbf`.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// `exp`, if set.
    pub fn valid_until(&self) -> Option<i64> {
        self.valid_until
    }

    /// The JWT claims: `iss`, `sub` (`<url>#list`), `jti` (the url), `iat`, `nbf`, optional
    /// `exp`, and the `vc` object.
    pub fn claims(&self) -> Result<Value, StatusListError> {
        let subject_id = format!("{}{LIST_FRAGMENT}", self.url);
        let mut vc = json!({
            "@context": [VC_CONTEXT_V1, STATUS_CONTEXT_V1],
            "id": self.url,
            "type": ["VerifiableCredential", CREDENTIAL_TYPE],
            "issuer": self.issuer,
            "issuanceDate": rfc3339("now", self.issued_at)?,
            "credentialSubject": {
                "id": subject_id,
                "type": SUBJECT_TYPE,
                "statusPurpose": self.purpose.as_str(),
                "encodedList": self.encoded_list,
            },
        });
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject_id,
            "jti": self.url,
            "iat": self.issued_at,
            "nbf": self.issued_at,
        });
        if let Some(until) = self.valid_until {
            vc["expirationDate"] = Value::String(rfc3339("ttl", until)?);
            claims["exp"] = Value::from(until);
        }
        claims["vc"] = vc;
        Ok(claims)
    }
}

impl StatusListCredential {
    /// [`Self::valid_for`] `ttl` seconds when given, without expiry otherwise.
    fn ttl(self, ttl: Option<i64>) -> Result<StatusListCredential, StatusListError> {
        match ttl {
            Some(ttl) => self.valid_for(ttl),
            None => Ok(self),
        }
    }

    /// The VCDM 2.0 `BitstringStatusListCredential` (the payload of a vc+jwt): the base
    /// context only (it holds the status list terms), `issuer` the DID as a string,
    /// `validFrom` / `validUntil`.
    pub fn credential_v2(&self) -> Result<Value, StatusListError> {
        let mut credential = json!({
            "@context": [VC_CONTEXT_V2],
            "id": self.url,
            "type": ["VerifiableCredential", CREDENTIAL_TYPE],
            "issuer": self.issuer,
            "validFrom": rfc3339("now", self.issued_at)?,
            "credentialSubject": {
                "id": format!("{}{LIST_FRAGMENT}", self.url),
                "type": SUBJECT_TYPE,
                "statusPurpose": self.purpose.as_str(),
                "encodedList": self.encoded_list,
            },
        });
        if let Some(until) = self.valid_until {
            credential["validUntil"] = Value::String(rfc3339("ttl", until)?);
        }
        Ok(credential)
    }
}

/// Builds, signs (header `typ: vc+jwt`) and returns the status list for `list` as a VCDM 2.0
/// credential secured with VC-JOSE-COSE; `ttl` as for [`sign_status_list`].
pub async fn sign_status_list_v2(
    signer: &dyn Signer,
    issuer_did: &str,
    url: &str,
    list: &Bitstring,
    purpose: StatusPurpose,
    now: i64,
    ttl: Option<i64>,
) -> Result<String, StatusListError> {
    let credential = StatusListCredential::new(issuer_did, url, purpose, list, now)?.ttl(ttl)?;
    let payload = serde_json::to_vec(&credential.credential_v2()?).map_err(|e| {
        StatusListError::InvalidParameter {
            name: "credential",
            reason: format!("cannot be serialised: {e}"),
        }
    })?;
    let mut header = verity_jose::Header::new(signer.algorithm());
    header.typ = Some(TYP_VC_JWT.to_owned());
    let signed = signer
        .sign_jws(header, &payload)
        .await
        .map_err(StatusListError::Signing)?;
    check_kid(issuer_did, &signed.kid)?;
    Ok(signed.token)
}

/// The claims a VCDM 2.0 status list (a vc+jwt whose payload is the credential) is checked
/// as: `iss` from `issuer`, `nbf` / `exp` from `validFrom` / `validUntil`, the credential as
/// `vc`. So both encodings go through one set of checks.
fn v2_claims(credential: Value) -> Result<Value, StatusListError> {
    if credential["@context"].get(0).and_then(Value::as_str) != Some(VC_CONTEXT_V2) {
        return Err(StatusListError::credential(
            "@context",
            format!("a vc+jwt status list must start with `{VC_CONTEXT_V2}`"),
        ));
    }
    let issuer = match &credential["issuer"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Object(o) => match o.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(StatusListError::credential(
                    "issuer",
                    "an issuer object must have a string id",
                ));
            }
        },
        _ => return Err(StatusListError::credential("issuer", "missing")),
    };
    let time = |name: &'static str| -> Result<Option<i64>, StatusListError> {
        match &credential[name] {
            Value::Null => Ok(None),
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.timestamp()))
                .map_err(|_| {
                    StatusListError::credential(name, format!("`{s}` is not a dateTimeStamp"))
                }),
            other => Err(StatusListError::credential(
                name,
                format!("must be a string, found {}", json_kind(other)),
            )),
        }
    };
    let mut claims = json!({ "iss": issuer });
    if let Some(from) = time("validFrom")? {
        claims["nbf"] = json!(from);
    }
    if let Some(until) = time("validUntil")? {
        claims["exp"] = json!(until);
    }
    claims["vc"] = credential;
    Ok(claims)
}

/// Builds, signs (header `typ: JWT`) and returns the status list VC-JWT for `list`.
///
/// `ttl` is the validity in seconds (`exp` = `now + ttl`); `None` publishes a list without
/// expiry. The signer's kid must be a key of `issuer_did`, or verifiers would refuse the list.
pub async fn sign_status_list(
    signer: &dyn Signer,
    issuer_did: &str,
    url: &str,
    list: &Bitstring,
    purpose: StatusPurpose,
    now: i64,
    ttl: Option<i64>,
) -> Result<String, StatusListError> {
    let credential = StatusListCredential::new(issuer_did, url, purpose, list, now)?.ttl(ttl)?;
    let claims = credential.claims()?;
    let signed = sign_kind(signer, TokenKind::StatusList, &claims)
        .await
        .map_err(StatusListError::Signing)?;
    check_kid(issuer_did, &signed.kid)?;
    Ok(signed.token)
}

/// A parsed, not yet verified status list token: gives the caller what it needs to resolve the
/// issuer's key (`iss`, `kid`).
pub struct UnverifiedStatusList {
    jws: UnverifiedJws,
    issuer: String,
    kid: Option<String>,
    claims: Value,
    /// A VCDM 2.0 vc+jwt (the payload is the credential) rather than a VC-JWT.
    v2: bool,
}

impl fmt::Debug for UnverifiedStatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedStatusList")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Parses a status list VC-JWT (or VCDM 2.0 vc+jwt) without verifying it. `iss` (`issuer`)
/// is required, and a DID-URL `kid` must belong to that DID, so the caller never resolves a
/// key of some other party.
pub fn parse_status_list_jwt(token: &str) -> Result<UnverifiedStatusList, StatusListError> {
    let jws = UnverifiedJws::parse(token).map_err(StatusListError::MalformedToken)?;
    let v2 = jws.header().typ.as_deref() == Some(TYP_VC_JWT);
    let payload: Value = jws
        .payload_unverified()
        .map_err(StatusListError::MalformedToken)?;
    let claims = if v2 { v2_claims(payload)? } else { payload };
    let issuer = match claims.get("iss") {
        None => return Err(StatusListError::credential("iss", "missing")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(StatusListError::credential(
                "iss",
                format!("must be a non-empty string, found {}", json_kind(other)),
            ));
        }
    };
    let kid = jws.header().kid.clone();
    if let Some(kid) = &kid {
        check_kid(&issuer, kid)?;
    }
    Ok(UnverifiedStatusList {
        jws,
        issuer,
        kid,
        claims,
        v2,
    })
}

/// Verifies a status list VC-JWT fetched from `expected_url` under the issuer's `key`, at `now`
/// with `skew` seconds of clock leeway, with the default [`DecodeLimits`].
pub fn verify_status_list(
    token: &str,
    key: &Jwk,
    expected_url: &str,
    now: i64,
    skew: i64,
) -> Result<VerifiedStatusList, StatusListError> {
    parse_status_list_jwt(token)?.verify(key, expected_url, now, skew)
}

impl UnverifiedStatusList {
    /// `iss`: the DID whose key must verify the list.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The header `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The claims, **unauthenticated**: only for diagnostics before verification.
    pub fn claims_unverified(&self) -> &Value {
        &self.claims
    }

    /// Verifies with the default [`DecodeLimits`]; see [`UnverifiedStatusList::verify_with_limits`].
    pub fn verify(
        self,
        key: &Jwk,
        expected_url: &str,
        now: i64,
        skew: i64,
    ) -> Result<VerifiedStatusList, StatusListError> {
        self.verify_with_limits(key, expected_url, now, skew, &DecodeLimits::default())
    }

    /// Checks, in order: signature; `exp`/`nbf`/`iat`; `vc.type` includes
    /// `BitstringStatusListCredential` (or `StatusList2021Credential`); `vc.issuer` equals
    /// `iss`; the credential names `expected_url` as its id (`vc.id`, else `jti`, else
    /// `credentialSubject.id` minus `#list`), so another list of the same issuer cannot be
    /// served in its place; the subject type and purposes; then decodes the list (at least
    /// [`MIN_LIST_BITS`], within `limits`).
    pub fn verify_with_limits(
        self,
        key: &Jwk,
        expected_url: &str,
        now: i64,
        skew: i64,
        limits: &DecodeLimits,
    ) -> Result<VerifiedStatusList, StatusListError> {
        let UnverifiedStatusList {
            jws,
            issuer,
            kid,
            v2,
            ..
        } = self;
        let verified = jws.verify(key).map_err(StatusListError::Signature)?;
        let claims: Value = verified.claims().map_err(StatusListError::MalformedToken)?;
        let claims = if v2 { v2_claims(claims)? } else { claims };
        check_times(&claims, now, skew, false).map_err(StatusListError::Validity)?;
        let Some(vc) = claims.get("vc").and_then(Value::as_object) else {
            return Err(StatusListError::credential(
                "vc",
                "must be a JSON object holding the credential",
            ));
        };
        check_credential_type(vc)?;
        // After the type check, so a credential of another type keeps its specific error;
        // this adds the rest of the kind rules (typ, claims of other kinds). A vc+jwt has no
        // JWT claims of its own to check.
        if !v2 && let Some(map) = claims.as_object() {
            TokenKind::StatusList
                .check(verified.header(), map)
                .map_err(StatusListError::WrongKind)?;
        }
        check_vc_issuer(&issuer, vc)?;
        let subject = subject_of(vc)?;
        check_url(expected_url, vc, &claims, subject)?;
        let subject_type = subject_type(subject)?;
        let purposes = purposes_of(subject, subject_type)?;
        if let Some(size) = subject.get("statusSize")
            && size.as_u64() != Some(1)
        {
            return Err(StatusListError::UnsupportedStatusSize {
                size: size.to_string(),
            });
        }
        let encoded = match subject.get("encodedList") {
            Some(Value::String(s)) => s,
            None => {
                return Err(StatusListError::credential(
                    "vc.credentialSubject.encodedList",
                    "missing",
                ));
            }
            Some(other) => {
                return Err(StatusListError::credential(
                    "vc.credentialSubject.encodedList",
                    format!("must be a string, found {}", json_kind(other)),
                ));
            }
        };
        let bitstring = decode_with_limits(encoded, MIN_LIST_BITS, limits)?;
        let valid_until = valid_until(&claims, vc, now, skew)?;
        Ok(VerifiedStatusList {
            issuer,
            kid,
            url: expected_url.to_owned(),
            purposes,
            bitstring,
            valid_until,
        })
    }
}

/// A status list whose signature, issuer, URL, validity window and encoding were checked.
/// Only [`UnverifiedStatusList::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatusList {
    issuer: String,
    kid: Option<String>,
    url: String,
    purposes: Vec<String>,
    bitstring: Bitstring,
    valid_until: Option<i64>,
}

impl VerifiedStatusList {
    /// The issuer DID (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id that verified it, as the header named it.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The URL it was fetched from and identifies itself as.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its `statusPurpose` values (one or more).
    pub fn purposes(&self) -> &[String] {
        &self.purposes
    }

    /// True if `purpose` is one of the list's purposes.
    pub fn has_purpose(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|p| p == purpose)
    }

    /// The decoded bits.
    pub fn bitstring(&self) -> &Bitstring {
        &self.bitstring
    }

    /// Expiry (unix seconds) from `exp`, else `vc.expirationDate` / `vc.validUntil`; a cache
    /// must not keep the list past it.
    pub fn valid_until(&self) -> Option<i64> {
        self.valid_until
    }

    /// A list `issuer` publishes at `url`, taken from a source the caller trusts without a
    /// signature: the publisher's own database, read by the publisher itself. Nothing is
    /// checked, so never build one from bytes that arrived over a network.
    pub fn from_trusted_source(
        issuer: &str,
        url: &str,
        purpose: StatusPurpose,
        bitstring: Bitstring,
    ) -> Self {
        VerifiedStatusList {
            issuer: issuer.to_owned(),
            kid: None,
            url: url.to_owned(),
            purposes: vec![purpose.as_str().to_owned()],
            bitstring,
            valid_until: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn new_for_tests(url: &str, purposes: &[&str], bitstring: Bitstring) -> Self {
        VerifiedStatusList {
            issuer: "did:web:issuer.example".into(),
            kid: None,
            url: url.into(),
            purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
            bitstring,
            valid_until: None,
        }
    }
}

fn validate_did(did: &str) -> Result<(), StatusListError> {
    let bad = |reason: &str| StatusListError::InvalidParameter {
        name: "issuer_did",
        reason: reason.into(),
    };
    if !did.starts_with("did:") || did.len() <= "did:".len() {
        return Err(bad("must be a DID (did:<method>:<id>)"));
    }
    if did.contains(['#', '?']) || did.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "must be a bare DID, without fragment, query or whitespace",
        ));
    }
    Ok(())
}

fn validate_url(url: &str) -> Result<(), StatusListError> {
    let bad = |reason: &str| StatusListError::InvalidParameter {
        name: "url",
        reason: reason.into(),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must be an http(s) URL"))?;
    if rest.is_empty() {
        return Err(bad("has no host"));
    }
    // The subject id is the URL plus "#list", so the URL itself cannot carry a fragment.
    if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain a fragment or whitespace"));
    }
    Ok(())
}

fn rfc3339(name: &'static str, t: i64) -> Result<String, StatusListError> {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .ok_or_else(|| StatusListError::InvalidParameter {
            name,
            reason: format!("{t} is not a representable date"),
        })
}

/// A DID-URL kid (`did:...#frag`) must name the issuer's DID; a relative (`#frag`) or non-DID
/// kid is left to the caller's key resolution.
fn check_kid(issuer: &str, kid: &str) -> Result<(), StatusListError> {
    if let Some((did, _)) = kid.split_once('#')
        && !did.is_empty()
        && did != issuer
    {
        return Err(StatusListError::IssuerMismatch {
            iss: issuer.to_owned(),
            field: "kid",
            other: kid.to_owned(),
        });
    }
    Ok(())
}

fn check_credential_type(vc: &Map<String, Value>) -> Result<(), StatusListError> {
    let Some(types) = vc.get("type") else {
        return Err(StatusListError::credential("vc.type", "missing"));
    };
    let accepted = [CREDENTIAL_TYPE, STATUS_LIST_2021_CREDENTIAL_TYPE];
    if string_or_strings(types).any(|t| accepted.contains(&t)) {
        Ok(())
    } else {
        Err(StatusListError::WrongCredentialType {
            found: types.to_string(),
        })
    }
}

fn check_vc_issuer(iss: &str, vc: &Map<String, Value>) -> Result<(), StatusListError> {
    let issuer = match vc.get("issuer") {
        None => return Ok(()),
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(o)) => match o.get("id") {
            Some(Value::String(s)) => s.as_str(),
            _ => {
                return Err(StatusListError::credential(
                    "vc.issuer",
                    "an issuer object must have a string id",
                ));
            }
        },
        Some(other) => {
            return Err(StatusListError::credential(
                "vc.issuer",
                format!("must be a string or an object, found {}", json_kind(other)),
            ));
        }
    };
    if issuer != iss {
        return Err(StatusListError::IssuerMismatch {
            iss: iss.to_owned(),
            field: "vc.issuer",
            other: issuer.to_owned(),
        });
    }
    Ok(())
}

fn subject_of(vc: &Map<String, Value>) -> Result<&Map<String, Value>, StatusListError> {
    const FIELD: &str = "vc.credentialSubject";
    match vc.get("credentialSubject") {
        Some(Value::Object(o)) => Ok(o),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::Object(o)] => Ok(o),
            _ => Err(StatusListError::credential(
                FIELD,
                "a status list credential has exactly one subject object",
            )),
        },
        None => Err(StatusListError::credential(FIELD, "missing")),
        Some(other) => Err(StatusListError::credential(
            FIELD,
            format!("must be an object, found {}", json_kind(other)),
        )),
    }
}

/// Binds the list to the URL it was fetched from: `vc.id`, else `jti` (VCDM 1.1 section 6.3.1
/// maps `jti` to `id`), else `credentialSubject.id` without its `#list` fragment.
fn check_url(
    expected: &str,
    vc: &Map<String, Value>,
    claims: &Value,
    subject: &Map<String, Value>,
) -> Result<(), StatusListError> {
    let (field, value) = if let Some(id) = vc.get("id") {
        ("vc.id", Some(id))
    } else if let Some(jti) = claims.get("jti") {
        ("jti", Some(jti))
    } else {
        ("vc.credentialSubject.id", subject.get("id"))
    };
    let Some(value) = value else {
        return Err(StatusListError::UrlMismatch {
            field: "vc.id",
            expected: expected.to_owned(),
            found: None,
        });
    };
    let Some(found) = value.as_str() else {
        return Err(StatusListError::credential(
            field,
            format!("must be a string, found {}", json_kind(value)),
        ));
    };
    let named = if field == "vc.credentialSubject.id" {
        found.strip_suffix(LIST_FRAGMENT)
    } else {
        Some(found)
    };
    if named != Some(expected) {
        return Err(StatusListError::UrlMismatch {
            field,
            expected: expected.to_owned(),
            found: Some(found.to_owned()),
        });
    }
    Ok(())
}

fn subject_type(subject: &Map<String, Value>) -> Result<&'static str, StatusListError> {
    let Some(types) = subject.get("type") else {
        return Err(StatusListError::credential(
            "vc.credentialSubject.type",
            "missing",
        ));
    };
    [
        SUBJECT_TYPE,
        STATUS_LIST_2021_SUBJECT_TYPE,
        REVOCATION_LIST_2021_SUBJECT_TYPE,
    ]
    .into_iter()
    .find(|known| string_or_strings(types).any(|t| t == *known))
    .ok_or_else(|| StatusListError::WrongSubjectType {
        found: types.to_string(),
    })
}

/// `statusPurpose` is one or more strings (spec section 2.2); a RevocationList2021 subject has
/// none and means `revocation`.
fn purposes_of(
    subject: &Map<String, Value>,
    subject_type: &str,
) -> Result<Vec<String>, StatusListError> {
    const FIELD: &str = "vc.credentialSubject.statusPurpose";
    let purposes: Vec<String> = match subject.get("statusPurpose") {
        None if subject_type == REVOCATION_LIST_2021_SUBJECT_TYPE => {
            vec![StatusPurpose::Revocation.as_str().to_owned()]
        }
        None => return Err(StatusListError::credential(FIELD, "missing")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| StatusListError::credential(FIELD, "every item must be a string"))?,
        Some(other) => {
            return Err(StatusListError::credential(
                FIELD,
                format!("must be a string or an array, found {}", json_kind(other)),
            ));
        }
    };
    if purposes.is_empty() || purposes.iter().any(String::is_empty) {
        return Err(StatusListError::credential(
            FIELD,
            "must name at least one non-empty purpose",
        ));
    }
    Ok(purposes)
}

/// `exp` wins (VCDM 1.1 JWT encoding); without it, `vc.expirationDate` (VCDM 1.1) or
/// `vc.validUntil` (VCDM 2.0) is enforced here, since `check_times` only sees JWT claims.
fn valid_until(
    claims: &Value,
    vc: &Map<String, Value>,
    now: i64,
    skew: i64,
) -> Result<Option<i64>, StatusListError> {
    if let Some(exp) = claims.get("exp").and_then(Value::as_number) {
        // check_times already accepted it as a NumericDate.
        return Ok(exp
            .as_i64()
            .or_else(|| exp.as_f64().map(|f| f.floor() as i64)));
    }
    for field in ["expirationDate", "validUntil"] {
        let Some(value) = vc.get(field) else { continue };
        let name = if field == "expirationDate" {
            "vc.expirationDate"
        } else {
            "vc.validUntil"
        };
        let until = value
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| StatusListError::credential(name, "must be an RFC 3339 date-time"))?
            .timestamp();
        if now >= until.saturating_add(skew.max(0)) {
            return Err(StatusListError::Validity(JoseError::Expired {
                exp: until,
                now,
            }));
        }
        return Ok(Some(until));
    }
    Ok(None)
}

fn string_or_strings(v: &Value) -> impl Iterator<Item = &str> {
    let items: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    items.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CredentialStatus, StatusEntry, check, decode};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use verity_jose::{Algorithm, LocalSigner, SigningKey, sign_jwt};

    const ISSUER: &str = "did:web:issuer.example";
    const URL: &str = "https://issuer.example/status/1";
    const NOW: i64 = 1_700_000_000;

    fn signer(alg: Algorithm) -> LocalSigner {
        LocalSigner::new(
            SigningKey::generate(alg).unwrap(),
            format!("{ISSUER}#key-1"),
        )
    }

    /// A list from the publisher's own records reads like a verified one: same URL, purpose
    /// and bits, so the same `check` applies.
    #[test]
    fn trusted_source_list_is_checked_like_a_verified_one() {
        let list = VerifiedStatusList::from_trusted_source(
            ISSUER,
            URL,
            StatusPurpose::Revocation,
            list_with(&[4]),
        );
        assert_eq!(list.issuer(), ISSUER);
        assert_eq!(list.url(), URL);
        assert_eq!(list.kid(), None);
        assert_eq!(list.valid_until(), None);
        assert!(list.has_purpose("revocation") && !list.has_purpose("suspension"));
        let entry = |i| StatusEntry::new(URL, i, StatusPurpose::Revocation);
        assert_eq!(check(&entry(4), &list).unwrap(), CredentialStatus::Revoked);
        assert_eq!(check(&entry(5), &list).unwrap(), CredentialStatus::Valid);
        let suspension = StatusEntry::new(URL, 4, StatusPurpose::Suspension);
        assert!(check(&suspension, &list).is_err());
    }

    fn list_with(set: &[usize]) -> Bitstring {
        let mut list = Bitstring::new(MIN_LIST_BITS).unwrap();
        for &i in set {
            list.set(i, true).unwrap();
        }
        list
    }

    fn good_claims() -> Value {
        StatusListCredential::new(
            ISSUER,
            URL,
            StatusPurpose::Revocation,
            &list_with(&[3]),
            NOW,
        )
        .unwrap()
        .valid_for(3600)
        .unwrap()
        .claims()
        .unwrap()
    }

    async fn sign(signer: &LocalSigner, claims: &Value) -> String {
        sign_jwt(signer, Some("JWT"), claims).await.unwrap().token
    }

    fn verify(token: &str, signer: &LocalSigner) -> Result<VerifiedStatusList, StatusListError> {
        verify_status_list(token, &signer.public_jwk(), URL, NOW + 10, 60)
    }

    /// Replaces the payload of a signed token, keeping the original signature.
    fn swap_payload(token: &str, claims: &Value) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        format!("{}.{payload}.{}", parts[0], parts[2])
    }

    #[tokio::test]
    async fn sign_and_verify_round_trip_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let signer = signer(alg);
            let list = list_with(&[0, 94_567, 131_071]);
            let token = sign_status_list(
                &signer,
                ISSUER,
                URL,
                &list,
                StatusPurpose::Revocation,
                NOW,
                Some(3600),
            )
            .await
            .unwrap();
            let verified = verify(&token, &signer).unwrap();
            assert_eq!(verified.issuer(), ISSUER);
            assert_eq!(verified.kid(), Some("did:web:issuer.example#key-1"));
            assert_eq!(verified.url(), URL);
            assert_eq!(verified.purposes(), ["revocation".to_owned()]);
            assert_eq!(verified.bitstring(), &list);
            assert_eq!(verified.valid_until(), Some(NOW + 3600));

            let entry = StatusEntry::new(URL, 94_567, StatusPurpose::Revocation);
            assert_eq!(check(&entry, &verified).unwrap(), CredentialStatus::Revoked);
            let entry = StatusEntry::new(URL, 94_566, StatusPurpose::Revocation);
            assert_eq!(check(&entry, &verified).unwrap(), CredentialStatus::Valid);
        }
    }

    /// The VCDM 2.0 encoding: a vc+jwt whose payload is the credential, with a string issuer;
    /// it verifies through the same checks, and each of them still fails it.
    #[tokio::test]
    async fn vcdm2_lists_round_trip_and_are_checked_like_vc_jwts() {
        for alg in Algorithm::ALL {
            let signer = signer(alg);
            let list = list_with(&[7, 131_071]);
            let token = sign_status_list_v2(
                &signer,
                ISSUER,
                URL,
                &list,
                StatusPurpose::Suspension,
                NOW,
                Some(3600),
            )
            .await
            .unwrap();
            let jws = UnverifiedJws::parse(&token).unwrap();
            assert_eq!(jws.header().typ.as_deref(), Some("vc+jwt"));
            let payload: Value = jws.payload_unverified().unwrap();
            assert_eq!(payload["@context"], json!([VC_CONTEXT_V2]));
            assert_eq!(payload["issuer"], ISSUER, "a string issuer");
            assert_eq!(payload["id"], URL);
            assert_eq!(payload["type"][1], CREDENTIAL_TYPE);
            assert_eq!(payload["credentialSubject"]["type"], SUBJECT_TYPE);
            assert_eq!(payload["validFrom"], "2023-11-14T22:13:20Z");
            assert!(payload.get("vc").is_none() && payload.get("iss").is_none());
            let verified = verify(&token, &signer).unwrap();
            assert_eq!(verified.issuer(), ISSUER);
            assert_eq!(verified.purposes(), ["suspension".to_owned()]);
            assert_eq!(verified.bitstring(), &list);
            assert_eq!(verified.valid_until(), Some(NOW + 3600));
            let entry = StatusEntry::new(URL, 7, StatusPurpose::Suspension);
            assert_eq!(
                check(&entry, &verified).unwrap(),
                CredentialStatus::Suspended
            );
        }
        let signer = signer(Algorithm::ES256);
        let token = sign_status_list_v2(
            &signer,
            ISSUER,
            URL,
            &list_with(&[]),
            StatusPurpose::Revocation,
            NOW,
            Some(60),
        )
        .await
        .unwrap();
        // Expired, served at another URL, signed by another key.
        assert!(matches!(
            verify_status_list(&token, &signer.public_jwk(), URL, NOW + 600, 0),
            Err(StatusListError::Validity(_))
        ));
        assert!(
            verify_status_list(
                &token,
                &signer.public_jwk(),
                "https://issuer.example/status/2",
                NOW,
                0
            )
            .is_err()
        );
        let other = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            format!("{ISSUER}#key-1"),
        );
        assert!(matches!(
            verify(&token, &other),
            Err(StatusListError::Signature(_))
        ));
        // A vc+jwt whose payload is a VCDM 1.1 credential, or has no issuer, is refused by name.
        let credential =
            StatusListCredential::new(ISSUER, URL, StatusPurpose::Revocation, &list_with(&[]), NOW)
                .unwrap()
                .credential_v2()
                .unwrap();
        for (edit, field) in [
            (json!({ "@context": [VC_CONTEXT_V1] }), "@context"),
            (json!({ "issuer": null }), "issuer"),
            (json!({ "validUntil": "tomorrow" }), "validUntil"),
        ] {
            let mut c = credential.clone();
            for (k, v) in edit.as_object().unwrap() {
                c[k] = v.clone();
            }
            let mut header = verity_jose::Header::new(Algorithm::ES256);
            header.typ = Some("vc+jwt".into());
            let token =
                verity_jose::Signer::sign_jws(&signer, header, &serde_json::to_vec(&c).unwrap())
                    .await
                    .unwrap()
                    .token;
            let e = parse_status_list_jwt(&token).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[tokio::test]
    async fn signed_claims_have_the_vc_jwt_shape() {
        let signer = signer(Algorithm::ES256);
        let token = sign_status_list(
            &signer,
            ISSUER,
            URL,
            &list_with(&[]),
            StatusPurpose::Suspension,
            NOW,
            Some(600),
        )
        .await
        .unwrap();
        let parsed = parse_status_list_jwt(&token).unwrap();
        let jws = UnverifiedJws::parse(&token).unwrap();
        assert_eq!(jws.header().typ.as_deref(), Some("JWT"));
        assert_eq!(jws.header().alg, "ES256");
        let claims = parsed.claims_unverified();
        let encoded = claims["vc"]["credentialSubject"]["encodedList"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(encoded.starts_with("uH4sI"));
        assert_eq!(
            claims,
            &json!({
                "iss": ISSUER,
                "sub": "https://issuer.example/status/1#list",
                "jti": URL,
                "iat": NOW,
                "nbf": NOW,
                "exp": NOW + 600,
                "vc": {
                    "@context": [
                        "https://www.w3.org/2018/credentials/v1",
                        "https://www.w3.org/ns/credentials/status/v1"
                    ],
                    "id": URL,
                    "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                    "issuer": ISSUER,
                    "issuanceDate": "2023-11-14T22:13:20Z",
                    "expirationDate": "2023-11-14T22:23:20Z",
                    "credentialSubject": {
                        "id": "https://issuer.example/status/1#list",
                        "type": "BitstringStatusList",
                        "statusPurpose": "suspension",
                        "encodedList": encoded
                    }
                }
            })
        );
        // Without a ttl there is no exp and no expirationDate.
        let open =
            StatusListCredential::new(ISSUER, URL, StatusPurpose::Revocation, &list_with(&[]), NOW)
                .unwrap();
        assert_eq!(open.valid_until(), None);
        let claims = open.claims().unwrap();
        assert!(claims.get("exp").is_none() && claims["vc"].get("expirationDate").is_none());
        assert_eq!(open.issuer(), ISSUER);
        assert_eq!(open.url(), URL);
        assert_eq!(open.purpose(), StatusPurpose::Revocation);
        assert_eq!(open.issued_at(), NOW);
        assert!(decode(open.encoded_list(), MIN_LIST_BITS).is_ok());
        assert!(!format!("{open:?}").contains(open.encoded_list()));
    }

    #[tokio::test]
    async fn tampered_list_is_refused() {
        let signer = signer(Algorithm::ES256);
        let token = sign(&signer, &good_claims()).await;
        let mut claims = good_claims();
        claims["vc"]["credentialSubject"]["encodedList"] =
            Value::String(encode(&list_with(&[])).unwrap());
        let tampered = swap_payload(&token, &claims);
        assert!(matches!(
            verify(&tampered, &signer),
            Err(StatusListError::Signature(
                JoseError::InvalidSignature { .. }
            ))
        ));
        // Unchanged, it verifies.
        assert!(verify(&token, &signer).is_ok());
    }

    #[tokio::test]
    async fn a_key_of_another_party_is_refused() {
        let token = sign(&signer(Algorithm::ES256), &good_claims()).await;
        let other = signer(Algorithm::ES256);
        assert!(matches!(
            verify(&token, &other),
            Err(StatusListError::Signature(_))
        ));
        let eddsa = signer(Algorithm::EdDSA);
        assert!(matches!(
            verify(&token, &eddsa),
            Err(StatusListError::Signature(
                JoseError::AlgorithmMismatch { .. }
            ))
        ));
    }

    #[tokio::test]
    async fn a_list_served_at_another_url_is_refused() {
        let signer = signer(Algorithm::ES256);
        let token = sign(&signer, &good_claims()).await;
        let other_url = "https://issuer.example/status/2";
        assert_eq!(
            verify_status_list(&token, &signer.public_jwk(), other_url, NOW, 0),
            Err(StatusListError::UrlMismatch {
                field: "vc.id",
                expected: other_url.into(),
                found: Some(URL.into()),
            })
        );
    }

    #[tokio::test]
    async fn url_binding_falls_back_to_jti_then_subject() {
        let signer = signer(Algorithm::ES256);
        // No vc.id: jti binds.
        let mut claims = good_claims();
        claims["vc"].as_object_mut().unwrap().remove("id");
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
        claims["jti"] = json!("urn:uuid:0b7e8e51-5e08-4a4c-8a33-1c3f4c1a3a8e");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::UrlMismatch { field: "jti", .. })
        ));
        // Neither: the subject id "<url>#list" binds.
        claims.as_object_mut().unwrap().remove("jti");
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
        claims["vc"]["credentialSubject"]["id"] = json!("https://issuer.example/status/2#list");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::UrlMismatch {
                field: "vc.credentialSubject.id",
                ..
            })
        ));
        // Nothing names a URL at all.
        claims["vc"]["credentialSubject"]
            .as_object_mut()
            .unwrap()
            .remove("id");
        assert_eq!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::UrlMismatch {
                field: "vc.id",
                expected: URL.into(),
                found: None
            })
        );
        // An id that is not a string.
        let mut claims = good_claims();
        claims["vc"]["id"] = json!(7);
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::MalformedCredential { field: "vc.id", .. })
        ));
    }

    #[tokio::test]
    async fn expired_and_not_yet_valid_lists_are_refused() {
        let signer = signer(Algorithm::ES256);
        let token = sign(&signer, &good_claims()).await;
        let key = signer.public_jwk();
        assert!(verify_status_list(&token, &key, URL, NOW + 3599, 0).is_ok());
        assert_eq!(
            verify_status_list(&token, &key, URL, NOW + 3600, 0),
            Err(StatusListError::Validity(JoseError::Expired {
                exp: NOW + 3600,
                now: NOW + 3600
            }))
        );
        // Skew tolerates a slightly slow clock only.
        assert!(verify_status_list(&token, &key, URL, NOW + 3630, 60).is_ok());
        assert!(verify_status_list(&token, &key, URL, NOW - 30, 60).is_ok());
        assert!(matches!(
            verify_status_list(&token, &key, URL, NOW - 61, 60),
            Err(StatusListError::Validity(JoseError::NotYetValid { .. }))
        ));
    }

    #[tokio::test]
    async fn vc_expiration_date_is_enforced_without_exp() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove("exp");
        let token = sign(&signer, &claims).await;
        let key = signer.public_jwk();
        let ok = verify_status_list(&token, &key, URL, NOW + 10, 0).unwrap();
        assert_eq!(ok.valid_until(), Some(NOW + 3600));
        assert_eq!(
            verify_status_list(&token, &key, URL, NOW + 3600, 0),
            Err(StatusListError::Validity(JoseError::Expired {
                exp: NOW + 3600,
                now: NOW + 3600
            }))
        );
        // VCDM 2.0 validUntil works the same way.
        let vc = claims["vc"].as_object_mut().unwrap();
        let date = vc.remove("expirationDate").unwrap();
        vc.insert("validUntil".into(), date);
        let token = sign(&signer, &claims).await;
        assert!(matches!(
            verify_status_list(&token, &key, URL, NOW + 4000, 0),
            Err(StatusListError::Validity(JoseError::Expired { .. }))
        ));
        claims["vc"]["validUntil"] = json!("next tuesday");
        assert!(matches!(
            verify_status_list(&sign(&signer, &claims).await, &key, URL, NOW, 0),
            Err(StatusListError::MalformedCredential {
                field: "vc.validUntil",
                ..
            })
        ));
    }

    /// Status List 2021 (W3C FPWD 2023-04-27) section 2.2, Example 2, carried as a VC-JWT.
    #[tokio::test]
    async fn status_list_2021_credential_is_read() {
        let signer = signer(Algorithm::ES256);
        let url = "https://example.com/credentials/status/3";
        let claims = json!({
            "iss": ISSUER,
            "iat": NOW,
            "vc": {
                "@context": [
                    "https://www.w3.org/2018/credentials/v1",
                    "https://w3id.org/vc/status-list/2021/v1"
                ],
                "id": url,
                "type": ["VerifiableCredential", "StatusList2021Credential"],
                "issuer": ISSUER,
                "issued": "2021-04-05T14:27:40Z",
                "credentialSubject": {
                    "id": "https://example.com/status/3#list",
                    "type": "StatusList2021",
                    "statusPurpose": "revocation",
                    "encodedList": "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
                }
            }
        });
        let token = sign(&signer, &claims).await;
        let list = verify_status_list(&token, &signer.public_jwk(), url, NOW, 0).unwrap();
        assert_eq!(list.purposes(), ["revocation".to_owned()]);
        assert_eq!(list.bitstring().len(), 131_072);
        assert_eq!(list.bitstring().count_set(), 0);
        assert_eq!(list.valid_until(), None);
        let entry = StatusEntry::from_json(&json!({
            "id": "https://example.com/credentials/status/3#94567",
            "type": "StatusList2021Entry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": url
        }))
        .unwrap();
        assert_eq!(check(&entry, &list).unwrap(), CredentialStatus::Valid);
    }

    /// A RevocationList2021 subject (status-list 2021 v1 context, w3c/vc-bitstring-status-list
    /// contexts/v1.jsonld before the rename) has no purpose: it means revocation.
    #[tokio::test]
    async fn revocation_list_2021_subject_means_revocation() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        claims["vc"]["type"] = json!(["VerifiableCredential", "StatusList2021Credential"]);
        let subject = claims["vc"]["credentialSubject"].as_object_mut().unwrap();
        subject.insert("type".into(), json!("RevocationList2021"));
        subject.remove("statusPurpose");
        let list = verify(&sign(&signer, &claims).await, &signer).unwrap();
        assert_eq!(list.purposes(), ["revocation".to_owned()]);
        let entry = StatusEntry::from_json(&json!({
            "type": "RevocationList2021Status",
            "statusListIndex": "3",
            "statusListCredential": URL
        }))
        .unwrap();
        assert_eq!(check(&entry, &list).unwrap(), CredentialStatus::Revoked);
    }

    /// w3c/vc-bitstring-status-list-test-suite, fixtures/status-credentials/
    /// multi-purpose-ok.jsonld: `statusPurpose` ["revocation", "suspension"] over one list.
    #[tokio::test]
    async fn multi_purpose_list_is_read() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        let subject = &mut claims["vc"]["credentialSubject"];
        subject["statusPurpose"] = json!(["revocation", "suspension"]);
        subject["encodedList"] = json!(
            "H4sIACbOo2YC_-3QMREAMAgEsGerLPyrQgFjB-4SCUkWHQAAAAAAAOCwpwAAAADgrFIAAAAAAAAAAAAAAAAA3wxvOeOvqGEAAA"
        );
        let list = verify(&sign(&signer, &claims).await, &signer).unwrap();
        assert!(list.has_purpose("revocation") && list.has_purpose("suspension"));
        assert!(!list.has_purpose("message"));
        let revoked = StatusEntry::new(URL, 201, StatusPurpose::Revocation);
        assert_eq!(check(&revoked, &list).unwrap(), CredentialStatus::Revoked);
        let suspended = StatusEntry::new(URL, 201, StatusPurpose::Suspension);
        assert_eq!(
            check(&suspended, &list).unwrap(),
            CredentialStatus::Suspended
        );
    }

    #[tokio::test]
    async fn wrong_credential_and_subject_types_are_refused() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        claims["vc"]["type"] = json!(["VerifiableCredential", "EmployeeIdCredential"]);
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::WrongCredentialType { .. })
        ));
        claims["vc"]["type"] = json!("BitstringStatusListCredential");
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
        claims["vc"].as_object_mut().unwrap().remove("type");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::MalformedCredential {
                field: "vc.type",
                ..
            })
        ));

        let mut claims = good_claims();
        claims["vc"]["credentialSubject"]["type"] = json!("Person");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::WrongSubjectType { .. })
        ));
        claims["vc"]["credentialSubject"]["type"] = json!(["BitstringStatusList"]);
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
        claims["vc"]["credentialSubject"]
            .as_object_mut()
            .unwrap()
            .remove("type");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::MalformedCredential {
                field: "vc.credentialSubject.type",
                ..
            })
        ));
    }

    /// Other kinds of token signed by the issuer's key are not lists: an explicit `typ` of
    /// another kind, or claims only requests and presentations carry (STATUS-029); a credential
    /// that claims both list and domain linkage types is neither.
    #[tokio::test]
    async fn other_token_kinds_are_not_status_lists() {
        let signer = signer(Algorithm::ES256);
        let claims = good_claims();
        for typ in ["oauth-authz-req+jwt", "at+jwt"] {
            let token = sign_jwt(&signer, Some(typ), &claims).await.unwrap().token;
            let e = verify(&token, &signer).unwrap_err();
            assert_eq!(e.code(), "STATUS-029", "{e}");
            assert!(e.to_string().contains(typ), "{e}");
            assert!(e.jose().is_some_and(JoseError::is_wrong_kind));
        }
        // No typ at all is fine: other issuers often omit it.
        assert!(
            verify(
                &sign_jwt(&signer, None, &claims).await.unwrap().token,
                &signer
            )
            .is_ok()
        );
        for (name, value) in [
            ("vp", json!({})),
            ("nonce", json!("n-1")),
            ("response_type", json!("id_token")),
        ] {
            let mut c = good_claims();
            c[name] = value;
            let e = verify(&sign(&signer, &c).await, &signer).unwrap_err();
            assert_eq!(e.code(), "STATUS-029", "{name}: {e}");
            assert!(e.to_string().contains(name), "{e}");
        }
        let mut c = good_claims();
        c["vc"]["type"] = json!([
            "VerifiableCredential",
            CREDENTIAL_TYPE,
            "DomainLinkageCredential"
        ]);
        let e = verify(&sign(&signer, &c).await, &signer).unwrap_err();
        assert_eq!(e.code(), "STATUS-029", "{e}");
        // And the list Verity signs is a status list credential by its own kind's rules.
        let token = sign_status_list(
            &signer,
            ISSUER,
            URL,
            &list_with(&[]),
            StatusPurpose::Revocation,
            NOW,
            None,
        )
        .await
        .unwrap();
        let jws = UnverifiedJws::parse(&token).unwrap();
        TokenKind::StatusList
            .check_value(jws.header(), &jws.payload_unverified::<Value>().unwrap())
            .unwrap();
    }

    #[tokio::test]
    async fn malformed_credentials_are_refused() {
        let signer = signer(Algorithm::ES256);
        type Mutation = Box<dyn Fn(&mut Value)>;
        let mutations: Vec<(&str, Mutation)> = vec![
            ("vc", Box::new(|c| c["vc"] = json!("a string"))),
            (
                "vc.credentialSubject",
                Box::new(|c| {
                    c["vc"].as_object_mut().unwrap().remove("credentialSubject");
                }),
            ),
            (
                "vc.credentialSubject",
                Box::new(|c| c["vc"]["credentialSubject"] = json!([{}, {}])),
            ),
            (
                "vc.credentialSubject",
                Box::new(|c| c["vc"]["credentialSubject"] = json!("list")),
            ),
            (
                "vc.credentialSubject.statusPurpose",
                Box::new(|c| {
                    c["vc"]["credentialSubject"]
                        .as_object_mut()
                        .unwrap()
                        .remove("statusPurpose");
                }),
            ),
            (
                "vc.credentialSubject.statusPurpose",
                Box::new(|c| c["vc"]["credentialSubject"]["statusPurpose"] = json!([])),
            ),
            (
                "vc.credentialSubject.statusPurpose",
                Box::new(|c| c["vc"]["credentialSubject"]["statusPurpose"] = json!(["x", 1])),
            ),
            (
                "vc.credentialSubject.statusPurpose",
                Box::new(|c| c["vc"]["credentialSubject"]["statusPurpose"] = json!(true)),
            ),
            (
                "vc.credentialSubject.encodedList",
                Box::new(|c| {
                    c["vc"]["credentialSubject"]
                        .as_object_mut()
                        .unwrap()
                        .remove("encodedList");
                }),
            ),
            (
                "vc.credentialSubject.encodedList",
                Box::new(|c| c["vc"]["credentialSubject"]["encodedList"] = json!(42)),
            ),
            (
                "vc.issuer",
                Box::new(|c| c["vc"]["issuer"] = json!({"name": "x"})),
            ),
            ("vc.issuer", Box::new(|c| c["vc"]["issuer"] = json!(5))),
        ];
        for (field, mutate) in mutations {
            let mut claims = good_claims();
            mutate(&mut claims);
            let result = verify(&sign(&signer, &claims).await, &signer);
            assert!(
                matches!(
                    &result,
                    Err(StatusListError::MalformedCredential { field: f, .. }) if *f == field
                ),
                "{field}: {result:?}"
            );
        }
        // A single-subject array and an issuer object are fine.
        let mut claims = good_claims();
        let subject = claims["vc"]["credentialSubject"].clone();
        claims["vc"]["credentialSubject"] = json!([subject]);
        claims["vc"]["issuer"] = json!({"id": ISSUER, "name": "Issuer"});
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
    }

    #[tokio::test]
    async fn bad_encoded_lists_inside_a_valid_credential_are_refused() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        // w3c/vc-bitstring-status-list-test-suite, fixtures/status-credentials/
        // short-encoded-list-fail.jsonld
        claims["vc"]["credentialSubject"]["encodedList"] = json!("H4sIAN7Lo2YC_2NgwAEAjw7P6RkAAAA");
        assert_eq!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::ListTooShort {
                bits: 200,
                min: 131_072
            })
        );
        claims["vc"]["credentialSubject"]["encodedList"] = json!("u%%%");
        assert!(matches!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::MalformedBase64 { .. })
        ));
        // A bigger-than-allowed list is stopped by the caller's limit.
        claims["vc"]["credentialSubject"]["encodedList"] =
            json!(encode(&Bitstring::new(MIN_LIST_BITS * 2).unwrap()).unwrap());
        let token = sign(&signer, &claims).await;
        let limits = DecodeLimits {
            max_decompressed_bytes: 16 * 1024,
        };
        assert_eq!(
            parse_status_list_jwt(&token).unwrap().verify_with_limits(
                &signer.public_jwk(),
                URL,
                NOW,
                0,
                &limits
            ),
            Err(StatusListError::DecompressedTooLarge { limit: 16 * 1024 })
        );
    }

    #[tokio::test]
    async fn status_size_other_than_one_is_refused() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        claims["vc"]["credentialSubject"]["statusSize"] = json!(2);
        assert_eq!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::UnsupportedStatusSize { size: "2".into() })
        );
        claims["vc"]["credentialSubject"]["statusSize"] = json!(1);
        assert!(verify(&sign(&signer, &claims).await, &signer).is_ok());
    }

    #[tokio::test]
    async fn issuer_statements_must_agree() {
        let signer = signer(Algorithm::ES256);
        let mut claims = good_claims();
        claims["vc"]["issuer"] = json!("did:web:someone-else.example");
        assert_eq!(
            verify(&sign(&signer, &claims).await, &signer),
            Err(StatusListError::IssuerMismatch {
                iss: ISSUER.into(),
                field: "vc.issuer",
                other: "did:web:someone-else.example".into()
            })
        );
        // A kid under another DID is refused before any key is resolved.
        let stranger = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            "did:web:someone-else.example#key-1",
        );
        let token = sign(&stranger, &good_claims()).await;
        assert!(matches!(
            parse_status_list_jwt(&token),
            Err(StatusListError::IssuerMismatch { field: "kid", .. })
        ));
        // A relative kid is left to key resolution.
        let relative = LocalSigner::new(SigningKey::generate(Algorithm::ES256).unwrap(), "#key-1");
        let token = sign(&relative, &good_claims()).await;
        assert_eq!(parse_status_list_jwt(&token).unwrap().kid(), Some("#key-1"));
    }

    #[tokio::test]
    async fn parse_exposes_what_key_resolution_needs() {
        let signer = signer(Algorithm::ES256);
        let token = sign(&signer, &good_claims()).await;
        let parsed = parse_status_list_jwt(&token).unwrap();
        assert_eq!(parsed.issuer(), ISSUER);
        assert_eq!(parsed.kid(), Some("did:web:issuer.example#key-1"));
        let debug = format!("{parsed:?}");
        assert!(debug.contains(ISSUER) && !debug.contains("encodedList"));

        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove("iss");
        assert_eq!(
            parse_status_list_jwt(&sign(&signer, &claims).await).unwrap_err(),
            StatusListError::credential("iss", "missing")
        );
        claims["iss"] = json!(["did:web:issuer.example"]);
        assert!(matches!(
            parse_status_list_jwt(&sign(&signer, &claims).await),
            Err(StatusListError::MalformedCredential { field: "iss", .. })
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "a.b", "not-a-token", "e30.e30.e30.e30"] {
            assert!(
                matches!(
                    parse_status_list_jwt(bad),
                    Err(StatusListError::MalformedToken(_))
                ),
                "{bad:?}"
            );
        }
        // A payload that is JSON but not an object, signed or not, has no iss.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(b"[1]");
        let token = format!("{header}.{payload}.AAAA");
        assert!(matches!(
            parse_status_list_jwt(&token),
            Err(StatusListError::MalformedCredential { field: "iss", .. })
        ));
    }

    #[tokio::test]
    async fn sign_status_list_refuses_bad_arguments() {
        let signer = signer(Algorithm::ES256);
        let list = list_with(&[]);
        let p = StatusPurpose::Revocation;
        let cases: Vec<(&str, &str, Option<i64>, i64, &str)> = vec![
            ("web:issuer.example", URL, None, NOW, "issuer_did"),
            ("did:", URL, None, NOW, "issuer_did"),
            ("did:web:issuer.example#key-1", URL, None, NOW, "issuer_did"),
            (ISSUER, "ftp://issuer.example/status/1", None, NOW, "url"),
            (ISSUER, "https://", None, NOW, "url"),
            (
                ISSUER,
                "https://issuer.example/status/1#list",
                None,
                NOW,
                "url",
            ),
            (ISSUER, "https://issuer.example/status 1", None, NOW, "url"),
            (ISSUER, URL, Some(0), NOW, "ttl"),
            (ISSUER, URL, Some(-5), NOW, "ttl"),
            (ISSUER, URL, Some(i64::MAX), NOW, "ttl"),
            (ISSUER, URL, None, i64::MAX, "now"),
        ];
        for (did, url, ttl, now, name) in cases {
            let result = sign_status_list(&signer, did, url, &list, p, now, ttl).await;
            assert!(
                matches!(&result, Err(StatusListError::InvalidParameter { name: n, .. }) if *n == name),
                "{did} {url} {ttl:?}: {result:?}"
            );
        }
        // A list below the minimum (only constructible from raw bytes) is not published.
        let short = Bitstring::from_bytes(vec![0; 100], 0).unwrap();
        assert!(matches!(
            sign_status_list(&signer, ISSUER, URL, &short, p, NOW, None).await,
            Err(StatusListError::ListTooShort { .. })
        ));
        // A signer whose key belongs to another DID would produce a list nobody accepts.
        let stranger = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            "did:web:someone-else.example#key-1",
        );
        assert!(matches!(
            sign_status_list(&stranger, ISSUER, URL, &list, p, NOW, None).await,
            Err(StatusListError::IssuerMismatch { field: "kid", .. })
        ));
    }

    /// A signer that always fails, standing in for an unreachable KMS.
    #[derive(Debug)]
    struct BrokenSigner;

    #[async_trait::async_trait]
    impl Signer for BrokenSigner {
        fn algorithm(&self) -> Algorithm {
            Algorithm::ES256
        }
        async fn sign_jws(
            &self,
            _header: verity_jose::Header,
            _payload: &[u8],
        ) -> Result<verity_jose::Signed, JoseError> {
            Err(JoseError::Signing {
                reason: "key service unavailable".into(),
            })
        }
    }

    #[tokio::test]
    async fn signer_failures_are_reported() {
        let result = sign_status_list(
            &BrokenSigner,
            ISSUER,
            URL,
            &list_with(&[]),
            StatusPurpose::Revocation,
            NOW,
            None,
        )
        .await;
        assert_eq!(
            result,
            Err(StatusListError::Signing(JoseError::Signing {
                reason: "key service unavailable".into()
            }))
        );
    }
}
