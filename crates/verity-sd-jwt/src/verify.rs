//! The Verifier (and Holder) side: RFC 9901 section 7.1 and 7.3, plus the SD-JWT VC profile's
//! checks (draft-ietf-oauth-sd-jwt-vc section 2.2 and 2.4).

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use verity_jose::{Header, JoseError, Jwk, UnverifiedJws, check_times};

use crate::compact::{Compact, typ_is};
use crate::process::process;
use crate::{
    ClaimPath, HashAlg, KB_JWT_TYP, SD_JWT_VC_LEGACY_TYP, SD_JWT_VC_NON_DISCLOSABLE, SD_JWT_VC_TYP,
    SdJwtError,
};

/// Largest presentation [`verify`] accepts by default: an SD-JWT VC may carry a 1 MB photo
/// claim, base64url-encoded inside a Disclosure.
pub const DEFAULT_MAX_PRESENTATION_BYTES: usize = 4 * 1024 * 1024;
/// Default clock skew tolerated on every time check, in seconds.
pub const DEFAULT_SKEW_SECS: i64 = 60;
/// Default age a KB-JWT's `iat` may have, in seconds.
pub const DEFAULT_KB_MAX_AGE_SECS: i64 = 300;

/// Which kind of SD-JWT the caller expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// SD-JWT VC: `typ` `dc+sd-jwt`; `vct` (non-empty string) and `iss` (string) required; `iss`,
    /// `nbf`, `exp`, `cnf`, `vct`, `vct#integrity`, `aka_vcts` and `status` must not come from a
    /// Disclosure.
    ///
    /// The draft makes `iss` optional (the issuer may instead be an `x5c` certificate subject);
    /// Verity resolves issuer keys by `iss`, so it requires it.
    SdJwtVc {
        /// Also accept the pre-2024 `typ` `vc+sd-jwt` (off by default).
        accept_legacy_typ: bool,
    },
    /// A plain RFC 9901 SD-JWT explicitly typed `typ` (e.g. `example+sd-jwt`), with no profile
    /// claim rules.
    SdJwt {
        /// The required header `typ`.
        typ: String,
    },
}

/// Whether the Verifier requires Key Binding; decided by policy before looking at the
/// presentation (RFC 9901 section 7.3 step 1), never by whether a KB-JWT happens to be there.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyBindingPolicy {
    /// An SD-JWT+KB is required, bound to this audience and nonce.
    Required {
        /// The expected KB-JWT `aud` (this Verifier's identifier).
        audience: String,
        /// The expected KB-JWT `nonce` (this transaction's).
        nonce: String,
    },
    /// A bare SD-JWT is expected; a presentation with a KB-JWT is refused (RFC 9901 section 4:
    /// the last component must then be empty). Holders checking an issued SD-JWT use this.
    NotRequired,
}

impl fmt::Debug for KeyBindingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyBindingPolicy::Required { audience, .. } => f
                .debug_struct("Required")
                .field("audience", audience)
                .field("nonce", &"[redacted]")
                .finish(),
            KeyBindingPolicy::NotRequired => f.write_str("NotRequired"),
        }
    }
}

/// Everything a verification depends on besides the presentation and the issuer key.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The time of the check, in Unix seconds (the caller's `Clock`; never read here).
    pub now: i64,
    /// Leeway for `exp`, `nbf` and `iat` checks, in seconds.
    pub skew_secs: i64,
    /// The expected kind of SD-JWT.
    pub profile: Profile,
    /// The Key Binding policy.
    pub key_binding: KeyBindingPolicy,
    /// How old a KB-JWT's `iat` may be, in seconds (plus the skew).
    pub kb_max_age_secs: i64,
    /// Whether the (processed) payload must carry `exp`.
    pub require_exp: bool,
    /// Size limit for the whole presentation.
    pub max_presentation_bytes: usize,
}

impl VerifyOptions {
    /// Options for an SD-JWT VC with defaults: skew [`DEFAULT_SKEW_SECS`], KB-JWT age
    /// [`DEFAULT_KB_MAX_AGE_SECS`], `exp` optional, legacy `typ` refused.
    pub fn sd_jwt_vc(now: i64, key_binding: KeyBindingPolicy) -> Self {
        VerifyOptions::new(
            now,
            Profile::SdJwtVc {
                accept_legacy_typ: false,
            },
            key_binding,
        )
    }

    /// Options for `profile` with the defaults of [`VerifyOptions::sd_jwt_vc`].
    pub fn new(now: i64, profile: Profile, key_binding: KeyBindingPolicy) -> Self {
        VerifyOptions {
            now,
            skew_secs: DEFAULT_SKEW_SECS,
            profile,
            key_binding,
            kb_max_age_secs: DEFAULT_KB_MAX_AGE_SECS,
            require_exp: false,
            max_presentation_bytes: DEFAULT_MAX_PRESENTATION_BYTES,
        }
    }
}

/// Why an issuer key lookup returned no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    /// The lookup ran: this issuer (or kid) has no acceptable key. A verdict.
    #[error("{reason}")]
    NotFound {
        /// Explanation (issuer, kid; never key material).
        reason: String,
    },
    /// The lookup could not complete (network, store): not a verdict; retryable.
    #[error("{reason}")]
    Unavailable {
        /// Explanation.
        reason: String,
    },
}

/// The seam that finds the Issuer's public key (RFC 9901 section 7.1 step 2.3: the key must
/// belong to this issuer; SD-JWT VC section 2.5: by a discovery mechanism policy permits for it).
///
/// It is given the **unverified** `iss` and header; the signature check that follows binds them.
#[async_trait::async_trait]
pub trait IssuerKeyLookup: Send + Sync {
    /// The public key for `issuer` (and `header.kid`, if the lookup uses it).
    async fn issuer_key(
        &self,
        issuer: Option<&str>,
        header: &Header,
    ) -> Result<Jwk, KeyLookupError>;
}

/// An [`IssuerKeyLookup`] over pinned keys: one public key per issuer identifier.
#[derive(Debug, Clone, Default)]
pub struct StaticIssuerKeys {
    keys: HashMap<String, Jwk>,
}

impl StaticIssuerKeys {
    /// No keys.
    pub fn new() -> Self {
        StaticIssuerKeys::default()
    }

    /// Pins `key` for `issuer` (replacing an earlier one).
    #[must_use]
    pub fn with_key(mut self, issuer: impl Into<String>, key: Jwk) -> Self {
        self.keys.insert(issuer.into(), key);
        self
    }
}

#[async_trait::async_trait]
impl IssuerKeyLookup for StaticIssuerKeys {
    async fn issuer_key(
        &self,
        issuer: Option<&str>,
        _header: &Header,
    ) -> Result<Jwk, KeyLookupError> {
        let Some(issuer) = issuer else {
            return Err(KeyLookupError::NotFound {
                reason: "the SD-JWT names no issuer".into(),
            });
        };
        self.keys
            .get(issuer)
            .cloned()
            .ok_or_else(|| KeyLookupError::NotFound {
                reason: format!("no key is pinned for issuer {issuer:?}"),
            })
    }
}

/// A status reference (`status.status_list`, draft-ietf-oauth-status-list), for the caller to
/// check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListRef {
    /// The index in the status list.
    pub idx: u64,
    /// The Status List Token's URI.
    pub uri: String,
}

/// The checked KB-JWT's claims.
#[derive(Clone, PartialEq)]
pub struct VerifiedKeyBinding {
    /// `aud`, equal to the expected audience.
    pub audience: String,
    /// `iat` of the KB-JWT.
    pub issued_at: i64,
    /// The KB-JWT header (algorithm, `typ`, and a `kid` if the Holder sent one).
    pub header: Header,
}

impl fmt::Debug for VerifiedKeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedKeyBinding")
            .field("audience", &self.audience)
            .field("issued_at", &self.issued_at)
            .field("alg", &self.header.alg)
            .finish()
    }
}

/// A verified SD-JWT (or SD-JWT+KB): the Processed SD-JWT Payload and the metadata a caller
/// acts on.
///
/// `claims` is the Processed SD-JWT Payload exactly as RFC 9901 section 7.1 defines it: the
/// presented Disclosures substituted, every `_sd`, undisclosed `...` element and `_sd_alg`
/// removed. Like the RFC's and the SD-JWT VC draft's examples, it keeps `cnf` (and `iss`, `vct`,
/// `status`, times); those are also given below, parsed.
///
/// `Debug` lists claim names only (values are personal data).
#[derive(Clone)]
pub struct VerifiedSdJwt {
    /// The Processed SD-JWT Payload.
    pub claims: Map<String, Value>,
    /// The Issuer-signed JWT's (verified) header.
    pub header: Header,
    /// The hash algorithm of the digests and `sd_hash`.
    pub hash_alg: HashAlg,
    /// `iss`, if a string (always set for [`Profile::SdJwtVc`]).
    pub issuer: Option<String>,
    /// `vct`, if a string (always set for [`Profile::SdJwtVc`]).
    pub vct: Option<String>,
    /// `cnf` as issued.
    pub cnf: Option<Value>,
    /// `cnf.jwk`, validated as a public key.
    pub holder_key: Option<Jwk>,
    /// `status` as issued, for the caller to check (SD-JWT VC section 2.4).
    pub status: Option<Value>,
    /// `status.status_list`, parsed.
    pub status_list: Option<StatusListRef>,
    /// The checked KB-JWT, when Key Binding was required.
    pub key_binding: Option<VerifiedKeyBinding>,
    /// Paths of the claims the presented Disclosures revealed, in presentation order.
    pub disclosed: Vec<ClaimPath>,
}

impl fmt::Debug for VerifiedSdJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedSdJwt")
            .field("claim_names", &self.claims.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("vct", &self.vct)
            .field("status_list", &self.status_list)
            .field("key_binding", &self.key_binding)
            .field("disclosed", &self.disclosed.len())
            .finish()
    }
}

/// Verifies an SD-JWT or SD-JWT+KB: the issuer key comes from `issuer_keys`, everything else
/// from `options` (RFC 9901 section 7.1 and 7.3; SD-JWT VC section 2.4 when the profile says so).
///
/// A [`SdJwtError::IssuerKeyUnavailable`] means the check could not complete
/// ([`SdJwtError::is_retryable`]); every other error is a verdict.
pub async fn verify(
    presentation: &str,
    issuer_keys: &dyn IssuerKeyLookup,
    options: &VerifyOptions,
) -> Result<VerifiedSdJwt, SdJwtError> {
    let (compact, jws) = parse_outer(presentation, options)?;
    let issuer = unverified_issuer(&jws, options)?;
    let key = issuer_keys
        .issuer_key(issuer.as_deref(), jws.header())
        .await
        .map_err(|e| match e {
            KeyLookupError::NotFound { reason } => SdJwtError::IssuerKeyNotFound { reason },
            KeyLookupError::Unavailable { reason } => SdJwtError::IssuerKeyUnavailable { reason },
        })?;
    finish(&compact, jws, &key, options)
}

/// [`verify`] with an already known issuer key (e.g. a Holder checking what its issuer sent,
/// with [`KeyBindingPolicy::NotRequired`]).
pub fn verify_with_issuer_key(
    presentation: &str,
    issuer_key: &Jwk,
    options: &VerifyOptions,
) -> Result<VerifiedSdJwt, SdJwtError> {
    let (compact, jws) = parse_outer(presentation, options)?;
    unverified_issuer(&jws, options)?;
    finish(&compact, jws, issuer_key, options)
}

/// Size, `~` structure, the Key Binding presence rule (RFC 9901 section 7.3 step 2), and the
/// Issuer-signed JWT's compact form.
fn parse_outer<'a>(
    presentation: &'a str,
    options: &VerifyOptions,
) -> Result<(Compact<'a>, UnverifiedJws), SdJwtError> {
    let compact = Compact::split(presentation, options.max_presentation_bytes)?;
    match (&options.key_binding, compact.kb_jwt) {
        (KeyBindingPolicy::Required { .. }, None) => return Err(SdJwtError::KeyBindingMissing),
        (KeyBindingPolicy::NotRequired, Some(_)) => {
            return Err(SdJwtError::UnexpectedKeyBinding);
        }
        _ => {}
    }
    let jws = UnverifiedJws::parse_with_limit(compact.issuer_jwt, options.max_presentation_bytes)
        .map_err(SdJwtError::IssuerJwtMalformed)?;
    Ok((compact, jws))
}

/// The plaintext `iss` (only for finding the key); required by the SD-JWT VC profile.
fn unverified_issuer(
    jws: &UnverifiedJws,
    options: &VerifyOptions,
) -> Result<Option<String>, SdJwtError> {
    let payload: Value = jws
        .payload_unverified()
        .map_err(SdJwtError::IssuerJwtMalformed)?;
    let issuer = payload
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if issuer.is_none() && matches!(options.profile, Profile::SdJwtVc { .. }) {
        return Err(SdJwtError::MissingIssuer);
    }
    Ok(issuer)
}

fn finish(
    compact: &Compact<'_>,
    jws: UnverifiedJws,
    issuer_key: &Jwk,
    options: &VerifyOptions,
) -> Result<VerifiedSdJwt, SdJwtError> {
    // RFC 9901 section 7.1 step 2: signature (the algorithm comes from the key; `none` and HMAC
    // never verify), then explicit typing.
    let verified = jws
        .verify(issuer_key)
        .map_err(SdJwtError::IssuerSignature)?;
    let header = verified.header().clone();
    check_issuer_typ(&header, &options.profile)?;
    let payload = match verified.claims::<Value>() {
        Ok(Value::Object(payload)) => payload,
        Ok(_) => {
            return Err(SdJwtError::PayloadNotObject {
                reason: "it is JSON but not an object".into(),
            });
        }
        Err(e) => {
            return Err(SdJwtError::PayloadNotObject {
                reason: e.to_string(),
            });
        }
    };
    let hash_alg = sd_alg(&payload)?;

    // Step 3-5: Disclosures.
    let disclosures = compact.parse_disclosures()?;
    let processed = process(payload, &disclosures, hash_alg)?;
    let claims = processed.claims;

    if matches!(options.profile, Profile::SdJwtVc { .. }) {
        for path in &processed.paths {
            if let Some(name) = path.top_level_name()
                && SD_JWT_VC_NON_DISCLOSABLE.contains(&name)
            {
                return Err(SdJwtError::NonDisclosableClaim {
                    name: name.to_owned(),
                });
            }
        }
    }

    let issuer = claims.get("iss").and_then(Value::as_str).map(str::to_owned);
    let vct = claims.get("vct").and_then(Value::as_str).map(str::to_owned);
    if matches!(options.profile, Profile::SdJwtVc { .. }) {
        if issuer.is_none() {
            return Err(SdJwtError::MissingIssuer);
        }
        match claims.get("vct") {
            None => return Err(SdJwtError::InvalidVct { reason: "absent" }),
            Some(Value::String(v)) if v.is_empty() => {
                return Err(SdJwtError::InvalidVct { reason: "empty" });
            }
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(SdJwtError::InvalidVct {
                    reason: "not a string",
                });
            }
        }
    }

    // Step 6: validity, on the processed payload.
    check_times(
        &time_claims(&claims),
        options.now,
        options.skew_secs,
        options.require_exp,
    )
    .map_err(time_error)?;

    let status = claims.get("status").cloned();
    let status_list = status.as_ref().map(status_list_ref).transpose()?.flatten();
    let cnf = claims.get("cnf").cloned();
    let holder_key = holder_key(cnf.as_ref())?;

    // RFC 9901 section 7.3 step 5.
    let key_binding = match &options.key_binding {
        KeyBindingPolicy::NotRequired => None,
        KeyBindingPolicy::Required { audience, nonce } => {
            let holder_key = holder_key.as_ref().ok_or(SdJwtError::HolderKeyMissing)?;
            let kb_jwt = compact.kb_jwt.ok_or(SdJwtError::KeyBindingMissing)?;
            Some(verify_key_binding(
                kb_jwt,
                compact.sd_jwt,
                hash_alg,
                holder_key,
                audience,
                nonce,
                options,
            )?)
        }
    };

    Ok(VerifiedSdJwt {
        claims,
        header,
        hash_alg,
        issuer,
        vct,
        cnf,
        holder_key,
        status,
        status_list,
        key_binding,
        disclosed: processed.paths,
    })
}

fn check_issuer_typ(header: &Header, profile: &Profile) -> Result<(), SdJwtError> {
    let found = header.typ.as_deref();
    let (ok, expected) = match profile {
        Profile::SdJwtVc {
            accept_legacy_typ: false,
        } => (typ_is(found, SD_JWT_VC_TYP), format!("{SD_JWT_VC_TYP:?}")),
        Profile::SdJwtVc {
            accept_legacy_typ: true,
        } => (
            typ_is(found, SD_JWT_VC_TYP) || typ_is(found, SD_JWT_VC_LEGACY_TYP),
            format!("{SD_JWT_VC_TYP:?} or {SD_JWT_VC_LEGACY_TYP:?}"),
        ),
        Profile::SdJwt { typ } => (typ_is(found, typ), format!("{typ:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(SdJwtError::IssuerTyp {
            expected,
            found: found.map(str::to_owned),
        })
    }
}

/// The top-level `_sd_alg`, `sha-256` when absent (RFC 9901 section 4.1.1).
pub(crate) fn sd_alg(payload: &Map<String, Value>) -> Result<HashAlg, SdJwtError> {
    match payload.get("_sd_alg") {
        None => Ok(HashAlg::Sha256),
        Some(Value::String(alg)) => alg.parse(),
        Some(other) => Err(SdJwtError::UnsupportedSdAlg {
            alg: other.to_string(),
        }),
    }
}

/// `cnf.jwk` as a validated public key; `None` without `cnf` or without `jwk`.
pub(crate) fn holder_key(cnf: Option<&Value>) -> Result<Option<Jwk>, SdJwtError> {
    let Some(cnf) = cnf else {
        return Ok(None);
    };
    let Value::Object(cnf) = cnf else {
        return Err(SdJwtError::MalformedCnf {
            reason: "`cnf` is not a JSON object",
        });
    };
    cnf.get("jwk")
        .map(|jwk| Jwk::from_json_value(jwk).map_err(SdJwtError::HolderKeyInvalid))
        .transpose()
}

fn status_list_ref(status: &Value) -> Result<Option<StatusListRef>, SdJwtError> {
    let Value::Object(status) = status else {
        return Err(SdJwtError::MalformedStatus {
            reason: "`status` is not a JSON object",
        });
    };
    let Some(list) = status.get("status_list") else {
        return Ok(None);
    };
    let Value::Object(list) = list else {
        return Err(SdJwtError::MalformedStatus {
            reason: "`status.status_list` is not a JSON object",
        });
    };
    let idx = list
        .get("idx")
        .and_then(Value::as_u64)
        .ok_or(SdJwtError::MalformedStatus {
            reason: "`status.status_list.idx` is not a non-negative integer",
        })?;
    let uri = list
        .get("uri")
        .and_then(Value::as_str)
        .ok_or(SdJwtError::MalformedStatus {
            reason: "`status.status_list.uri` is not a string",
        })?;
    Ok(Some(StatusListRef {
        idx,
        uri: uri.to_owned(),
    }))
}

fn time_error(e: JoseError) -> SdJwtError {
    match e {
        JoseError::Expired { exp, now } => SdJwtError::Expired { exp, now },
        JoseError::NotYetValid { nbf, now } => SdJwtError::NotYetValid { nbf, now },
        JoseError::IssuedInFuture { iat, now } => SdJwtError::IssuedInFuture { iat, now },
        JoseError::MissingClaim(_) => SdJwtError::MissingExpiry,
        JoseError::BadClaimType(claim) => SdJwtError::BadTimeClaim {
            claim: claim.to_owned(),
        },
        // check_times reports nothing else today; keep the check's own words if it ever does.
        other => SdJwtError::BadTimeClaim {
            claim: other.to_string(),
        },
    }
}

/// RFC 9901 section 7.3 step 5.2-5.8.
fn verify_key_binding(
    kb_jwt: &str,
    sd_jwt: &str,
    hash_alg: HashAlg,
    holder_key: &Jwk,
    audience: &str,
    nonce: &str,
    options: &VerifyOptions,
) -> Result<VerifiedKeyBinding, SdJwtError> {
    let jws = UnverifiedJws::parse(kb_jwt).map_err(SdJwtError::KeyBindingMalformed)?;
    let verified = jws
        .verify(holder_key)
        .map_err(SdJwtError::KeyBindingSignature)?;
    let header = verified.header().clone();
    if !typ_is(header.typ.as_deref(), KB_JWT_TYP) {
        return Err(SdJwtError::KeyBindingTyp {
            found: header.typ.clone(),
        });
    }
    let claims = match verified.claims::<Value>() {
        Ok(Value::Object(claims)) => claims,
        _ => {
            return Err(SdJwtError::KeyBindingClaim {
                claim: "payload",
                problem: "is not a JSON object",
            });
        }
    };

    let iat = claims
        .get("iat")
        .and_then(numeric_date)
        .ok_or(SdJwtError::KeyBindingClaim {
            claim: "iat",
            problem: "is required as a NumericDate",
        })?;
    let now = options.now;
    let skew = options.skew_secs.max(0);
    if iat > now.saturating_add(skew) {
        return Err(SdJwtError::KeyBindingInFuture { iat, now });
    }
    let oldest = now
        .saturating_sub(options.kb_max_age_secs.max(0))
        .saturating_sub(skew);
    if iat < oldest {
        return Err(SdJwtError::KeyBindingStale {
            iat,
            now,
            max_age: options.kb_max_age_secs,
        });
    }

    let found_aud = match claims.get("aud") {
        Some(Value::String(aud)) => aud,
        _ => {
            return Err(SdJwtError::KeyBindingClaim {
                claim: "aud",
                problem: "is required as a single string",
            });
        }
    };
    if found_aud != audience {
        return Err(SdJwtError::KeyBindingAudience {
            expected: audience.to_owned(),
            found: found_aud.clone(),
        });
    }
    match claims.get("nonce") {
        Some(Value::String(n)) if n == nonce => {}
        Some(Value::String(_)) => return Err(SdJwtError::KeyBindingNonce),
        _ => {
            return Err(SdJwtError::KeyBindingClaim {
                claim: "nonce",
                problem: "is required as a string",
            });
        }
    }
    let Some(Value::String(sd_hash)) = claims.get("sd_hash") else {
        return Err(SdJwtError::KeyBindingClaim {
            claim: "sd_hash",
            problem: "is required as a string",
        });
    };
    if *sd_hash != hash_alg.digest_b64(sd_jwt.as_bytes()) {
        return Err(SdJwtError::KeyBindingSdHash);
    }
    check_times(&time_claims(&claims), now, skew, false).map_err(SdJwtError::KeyBindingTimes)?;
    Ok(VerifiedKeyBinding {
        audience: audience.to_owned(),
        issued_at: iat,
        header,
    })
}

/// Just the registered time claims (the payload may carry a photo: no need to copy it).
fn time_claims(claims: &Map<String, Value>) -> Value {
    Value::Object(
        ["exp", "nbf", "iat"]
            .into_iter()
            .filter_map(|name| claims.get(name).map(|v| (name.to_owned(), v.clone())))
            .collect(),
    )
}

/// A JSON number as Unix seconds (fractions truncated toward negative infinity).
fn numeric_date(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    // Float-to-int `as` saturates, which is the right answer for absurd dates.
    n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64))
}
