//! VCDM 1.1 credentials secured as JWTs (VC Data Model 1.1 section 6.3.1, "JSON Web Token"):
//! the credential under the `vc` claim, its issuer, id, subject and validity period also as
//! the registered claims `iss`, `jti`, `sub`, `nbf` and `exp`; `typ` `JWT` (or none).
//!
//! This is the other branch of the media type: a `data:application/vc+jwt,...` envelope or a
//! JWS with `typ` `vc+jwt` is VCDM 2.0 ([`crate::verify_credential`]); a bare JWT with `typ`
//! `JWT` or no `typ` is VCDM 1.1 ([`verify_credential_v1`]). [`verify_any_credential`] picks.

use chrono::DateTime;
use serde_json::{Value, json};
use verity_did::{DidResolver, Relationship};
use verity_jose::{Signer, UnverifiedJws};

use crate::{
    CheckedCredential, MAX_TOKEN_BYTES, TYP_VC_JWT, VcdmError, Verified, check_credential_v1,
    issuer_key_did, parse_secured_as, sign_typed, verify_credential, verify_signed,
};

/// The `typ` of a VCDM 1.1 JWT (RFC 7519 section 5.1); many issuers leave it out.
pub const TYP_JWT: &str = "JWT";

/// Signs a VCDM 1.1 credential (checked first) as a JWT with `typ` `JWT`: the credential
/// under `vc`, and `iss` (its issuer), `jti` (its `id`), `sub` (its one subject's `id`), `nbf`
/// (`issuanceDate`) and `exp` (`expirationDate`) as VC Data Model 1.1 section 6.3.1 maps them.
pub async fn sign_credential_v1(
    signer: &dyn Signer,
    credential: &Value,
) -> Result<String, VcdmError> {
    let checked = check_credential_v1(credential)?;
    let mut claims = json!({ "iss": checked.issuer, "vc": credential });
    if let Some(id) = credential["id"].as_str() {
        claims["jti"] = json!(id);
    }
    if let Some(sub) = credential["credentialSubject"]["id"].as_str() {
        claims["sub"] = json!(sub);
    }
    if let Some(from) = checked.valid_from {
        claims["nbf"] = json!(from.timestamp());
    }
    if let Some(until) = checked.valid_until {
        claims["exp"] = json!(until.timestamp());
    }
    sign_typed(signer, TYP_JWT, "credential", &claims).await
}

/// Verifies a VCDM 1.1 JWT at `now` (Unix seconds): `typ` `JWT` or none, no `cty`; the `vc`
/// claim meets the 1.1 model; `iss` and `jti`, when present, agree with `vc.issuer` and
/// `vc.id`; the key is an assertion method of the issuer's DID; the signature; `nbf` / `exp`
/// (else `issuanceDate` / `expirationDate`). The answer's `credential` is the `vc` claim.
pub async fn verify_credential_v1(
    resolver: &dyn DidResolver,
    token: &str,
    now: i64,
) -> Result<Verified, VcdmError> {
    let (jws, payload, kid) = parse_secured_as(
        token,
        |t| t.is_none_or(|t| t.eq_ignore_ascii_case(TYP_JWT)),
        "`JWT` or none (a VCDM 1.1 JWT)",
    )?;
    let vc = &payload["vc"];
    if !vc.is_object() {
        return Err(VcdmError::Field {
            field: "vc".into(),
            reason: "is required: a VCDM 1.1 JWT carries the credential under `vc` (VCDM 2.0 uses `typ` `vc+jwt`)".into(),
        });
    }
    let checked = check_credential_v1(vc).map_err(|e| e.within("vc"))?;
    agree(&payload, "iss", Some(checked.issuer.as_str()), "vc.issuer")?;
    agree(&payload, "jti", vc["id"].as_str(), "vc.id")?;
    let did = issuer_key_did(&kid, &checked.issuer)?;
    let verified = verify_signed(resolver, jws, &kid, &did, Relationship::AssertionMethod).await?;
    let (from, until) = period(&verified, &checked)?;
    let mut checks = vec!["proof", "issuer"];
    if let Some((from, field)) = from {
        if from > now {
            return Err(VcdmError::NotYetValid {
                field,
                at: rfc3339(from),
            });
        }
        checks.push("issuanceDate");
    }
    let mut warnings = Vec::new();
    match until {
        Some((until, field)) if until <= now => {
            return Err(VcdmError::Expired {
                field,
                at: rfc3339(until),
            });
        }
        Some(_) => checks.push("expirationDate"),
        None => warnings.push("the credential has no `exp`: it does not expire".to_owned()),
    }
    Ok(Verified {
        credential: verified["vc"].clone(),
        checked,
        checks,
        warnings,
    })
}

/// A registered claim that, when present, must be a string equal to the credential's member.
fn agree(
    payload: &Value,
    claim: &'static str,
    member: Option<&str>,
    member_name: &str,
) -> Result<(), VcdmError> {
    match (&payload[claim], member) {
        (Value::Null, _) => Ok(()),
        (Value::String(c), Some(m)) if c == m => Ok(()),
        (other, m) => Err(VcdmError::Field {
            field: claim.into(),
            reason: format!(
                "`{}` differs from {member_name} ({})",
                other.as_str().unwrap_or("not a string"),
                m.unwrap_or("absent")
            ),
        }),
    }
}

/// One end of the validity period and the member it was read from.
type Bound = Option<(i64, &'static str)>;

/// `nbf` / `exp` (numbers), else the credential's own dates, each with where it was read.
fn period(payload: &Value, checked: &CheckedCredential) -> Result<(Bound, Bound), VcdmError> {
    let claim = |name: &'static str, fallback: Bound| match &payload[name] {
        Value::Null => Ok(fallback),
        v => v
            .as_i64()
            .map(|t| Some((t, name)))
            .ok_or_else(|| VcdmError::Field {
                field: name.into(),
                reason: "must be a NumericDate (whole seconds)".into(),
            }),
    };
    Ok((
        claim(
            "nbf",
            checked
                .valid_from
                .map(|t| (t.timestamp(), "vc.issuanceDate")),
        )?,
        claim(
            "exp",
            checked
                .valid_until
                .map(|t| (t.timestamp(), "vc.expirationDate")),
        )?,
    ))
}

fn rfc3339(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// Verifies a credential in either data model, branching on its media type: an
/// `EnvelopedVerifiableCredential`, a `data:application/vc+jwt,...` URL or a JWS with `typ`
/// `vc+jwt` is VCDM 2.0; a bare JWT with `typ` `JWT` or none is VCDM 1.1.
pub async fn verify_any_credential(
    resolver: &dyn DidResolver,
    secured: &Value,
    now: i64,
) -> Result<Verified, VcdmError> {
    if let Value::String(token) = secured
        && !token.starts_with("data:")
        && let Ok(jws) = UnverifiedJws::parse_with_limit(token, MAX_TOKEN_BYTES)
        && jws.header().typ.as_deref() != Some(TYP_VC_JWT)
    {
        return verify_credential_v1(resolver, token, now).await;
    }
    verify_credential(resolver, secured, now).await
}
