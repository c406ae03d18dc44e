//! One JWT-VC (VCDM 1.1 JWT encoding), in protocol.md §2 order: parse, alg, kid of the
//! issuer, key under the issuer's assertionMethod, signature, `iss` = `vc.issuer`, times,
//! holder binding, acceptedIssuers, type, constraints.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};
use verity_did::{DidDocument, Relationship};
use verity_jose::{TokenKind, check_times};

use super::{json_kind, kid_belongs_to, numeric_date, parse_jwt, str_member, verified_claims};
use crate::record::Recorder;
use crate::{Constraint, PresentationError, RequestedCredential, VerifyContext};

/// A credential whose signature, issuer, times, binding, type and constraints passed.
#[derive(Debug)]
pub(crate) struct CheckedCredential {
    /// The issuer DID.
    pub issuer: String,
    /// The issuer's DID document (its LinkedDomains origins are reported).
    pub issuer_document: DidDocument,
    /// The verified JWT claims.
    pub claims: Map<String, Value>,
    /// `vc.type`.
    pub types: Vec<String>,
    /// `vc.credentialSubject`.
    pub subject: Map<String, Value>,
}

impl CheckedCredential {
    /// The `vc` object (checked present at parse time).
    pub(crate) fn vc(&self) -> Option<&Map<String, Value>> {
        self.claims.get("vc").and_then(Value::as_object)
    }

    /// `credentialSubject` without `id`, for the callback.
    pub(crate) fn reported_claims(&self) -> Map<String, Value> {
        let mut claims = self.subject.clone();
        claims.remove("id");
        claims
    }

    /// RFC 3339 issuance date: `nbf`, else `iat`, else `vc.issuanceDate` as written.
    pub(crate) fn issuance_date(&self) -> Option<String> {
        numeric_date(&self.claims, "nbf")
            .or_else(|| numeric_date(&self.claims, "iat"))
            .and_then(rfc3339)
            .or_else(|| self.vc_date("issuanceDate"))
    }

    /// RFC 3339 expiration date: `exp`, else `vc.expirationDate` as written.
    pub(crate) fn expiration_date(&self) -> Option<String> {
        numeric_date(&self.claims, "exp")
            .and_then(rfc3339)
            .or_else(|| self.vc_date("expirationDate"))
    }

    /// The credential's `jti`.
    pub(crate) fn jti(&self) -> Option<String> {
        str_member(&self.claims, "jti").map(str::to_owned)
    }

    fn vc_date(&self, name: &str) -> Option<String> {
        self.vc()
            .and_then(|vc| str_member(vc, name))
            .map(str::to_owned)
    }
}

fn rfc3339(t: i64) -> Option<String> {
    DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Runs the credential checks for the credential answering `requested`, presented by `holder`.
pub(crate) async fn verify(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    requested: &RequestedCredential,
    holder: &str,
    token: &str,
) -> Result<CheckedCredential, PresentationError> {
    use PresentationError as E;
    let descriptor = requested.descriptor_id().to_owned();
    let name = |check: &str| format!("credential[{descriptor}].{check}");
    let d = || descriptor.clone();

    let (jws, unverified) = parse_jwt(token)
        .and_then(|(jws, payload)| {
            match payload.get("vc") {
                Some(Value::Object(_)) => {}
                Some(other) => {
                    return Err(format!("vc must be an object, found {}", json_kind(other)));
                }
                None => return Err("vc (the credential) is missing".into()),
            }
            if str_member(&payload, "iss").is_none_or(str::is_empty) {
                return Err("iss (the issuer DID) is missing".into());
            }
            Ok((jws, payload))
        })
        .map_err(|reason| {
            rec.fail(
                name("parse"),
                E::CredentialMalformed {
                    descriptor: d(),
                    reason,
                },
            )
        })?;
    rec.pass(name("parse"), "JWT-VC with iss and vc");

    // Before any key is resolved: the check only refuses, and the payload it reads is the
    // one the signature will cover, so reading it unverified decides nothing in the token's
    // favour. The issuer's key also signs status lists, domain linkages and request objects.
    TokenKind::Credential
        .check(jws.header(), &unverified)
        .map_err(|e| {
            rec.fail(
                name("kind"),
                E::CredentialKind {
                    descriptor: d(),
                    reason: format!("{e} ({})", e.code()),
                },
            )
        })?;
    rec.pass(name("kind"), "typ and claims of a credential");

    let alg = jws.algorithm().map_err(|e| {
        rec.fail(
            name("alg"),
            E::CredentialAlgorithm {
                descriptor: d(),
                reason: e.to_string(),
            },
        )
    })?;
    rec.pass(name("alg"), alg.as_str());

    let issuer = str_member(&unverified, "iss")
        .unwrap_or_default()
        .to_owned();
    let kid = match jws.header().kid.as_deref() {
        Some(kid) => kid_belongs_to(kid, &issuer).map(|()| kid.to_owned()),
        None => Err("the header has no kid naming the issuer's key".into()),
    }
    .map_err(|reason| {
        rec.fail(
            name("kid"),
            E::CredentialKidMismatch {
                descriptor: d(),
                reason,
            },
        )
    })?;
    rec.pass(name("kid"), format!("{kid} belongs to {issuer}"));

    let issuer_document = match ctx.resolver.resolve(&issuer).await {
        Ok(doc) => doc,
        Err(e) if e.is_unavailable() => {
            return Err(rec.fail(
                name("key"),
                E::IssuerDidUnavailable {
                    did: issuer,
                    reason: e.to_string(),
                },
            ));
        }
        Err(e) => {
            return Err(rec.fail(
                name("key"),
                E::CredentialKey {
                    descriptor: d(),
                    kid,
                    reason: format!("{} ({})", e, e.code()),
                },
            ));
        }
    };
    let key = issuer_document
        .key_for(&kid, Relationship::AssertionMethod)
        .map_err(|e| {
            rec.fail(
                name("key"),
                E::CredentialKey {
                    descriptor: d(),
                    kid: kid.clone(),
                    reason: format!("{} ({})", e, e.code()),
                },
            )
        })?;
    rec.pass(name("key"), format!("{kid} is under assertionMethod"));

    let claims = jws
        .verify(&key)
        .map_err(|e| e.to_string())
        .and_then(verified_claims)
        .map_err(|reason| {
            rec.fail(
                name("signature"),
                E::CredentialSignature {
                    descriptor: d(),
                    reason,
                },
            )
        })?;
    rec.pass(name("signature"), format!("verified with {kid}"));
    // Everything below reads the verified claims only.
    let vc = claims
        .get("vc")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    check_vc_issuer(&issuer, &vc).map_err(|vc_issuer| {
        rec.fail(
            name("issuer"),
            E::CredentialIssuerMismatch {
                descriptor: d(),
                iss: issuer.clone(),
                vc_issuer,
            },
        )
    })?;
    rec.pass(name("issuer"), format!("iss = vc.issuer = {issuer}"));

    check_times(
        &Value::Object(claims.clone()),
        ctx.now,
        ctx.effective_skew(),
        false,
    )
    .map_err(|e| {
        rec.fail(
            name("times"),
            E::CredentialTimes {
                descriptor: d(),
                reason: e.to_string(),
            },
        )
    })?;
    rec.pass(name("times"), "nbf/exp/iat valid");

    let subject = match vc.get("credentialSubject") {
        Some(Value::Object(s)) => s.clone(),
        Some(other) => {
            return Err(rec.fail(
                name("holder_binding"),
                E::CredentialMalformed {
                    descriptor: d(),
                    reason: format!(
                        "vc.credentialSubject must be an object, found {}",
                        json_kind(other)
                    ),
                },
            ));
        }
        None => Map::new(),
    };
    check_binding(&claims, &subject, holder).map_err(|reason| {
        rec.fail(
            name("holder_binding"),
            E::CredentialSubjectMismatch {
                descriptor: d(),
                holder: holder.to_owned(),
                reason,
            },
        )
    })?;
    rec.pass(name("holder_binding"), format!("bound to {holder}"));

    if requested.accepted_issuers.is_empty() {
        rec.skip(name("accepted_issuers"), "any issuer accepted");
    } else if requested.accepted_issuers.contains(&issuer) {
        rec.pass(name("accepted_issuers"), issuer.as_str());
    } else {
        return Err(rec.fail(
            name("accepted_issuers"),
            E::IssuerNotAccepted {
                descriptor: d(),
                issuer,
            },
        ));
    }

    let types = string_or_strings(vc.get("type"));
    if !types.contains(&requested.type_) {
        return Err(rec.fail(
            name("type"),
            E::CredentialType {
                descriptor: d(),
                found: types,
            },
        ));
    }
    rec.pass(name("type"), requested.type_.as_str());

    if requested.constraints.is_empty() {
        rec.skip(name("constraints"), "none requested");
    } else {
        for c in &requested.constraints {
            check_constraint(c, &subject).map_err(|reason| {
                rec.fail(
                    name("constraints"),
                    E::ConstraintFailed {
                        descriptor: d(),
                        claim: c.claim_name.clone(),
                        reason,
                    },
                )
            })?;
        }
        rec.pass(
            name("constraints"),
            format!("{} constraint(s) hold", requested.constraints.len()),
        );
    }

    Ok(CheckedCredential {
        issuer,
        issuer_document,
        claims,
        types,
        subject,
    })
}

/// `vc.issuer` (a string or an object with `id`), when present, must be `iss`; the error is
/// the `vc.issuer` found.
fn check_vc_issuer(iss: &str, vc: &Map<String, Value>) -> Result<(), String> {
    let found = match vc.get("issuer") {
        // VCDM 1.1 JWT encoding: `iss` stands for the issuer when the vc omits it.
        None => return Ok(()),
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).unwrap_or_default(),
        Some(other) => return Err(other.to_string()),
    };
    if found == iss {
        Ok(())
    } else {
        Err(found.to_owned())
    }
}

/// The credential must be bound to `holder`: `sub` and `credentialSubject.id`, whichever are
/// present (at least one must be), equal the holder DID.
fn check_binding(
    claims: &Map<String, Value>,
    subject: &Map<String, Value>,
    holder: &str,
) -> Result<(), String> {
    let sub = claims.get("sub");
    let subject_id = subject.get("id");
    if sub.is_none() && subject_id.is_none() {
        return Err("neither sub nor credentialSubject.id names a holder".into());
    }
    for (field, value) in [("sub", sub), ("credentialSubject.id", subject_id)] {
        match value {
            None => {}
            Some(Value::String(s)) if s == holder => {}
            Some(Value::String(s)) => return Err(format!("{field} is {s}")),
            Some(other) => return Err(format!("{field} is {}", json_kind(other))),
        }
    }
    Ok(())
}

/// Reads a string-or-array-of-strings member (non-strings are ignored).
fn string_or_strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks one constraint against the subject's claim; the error never echoes the value.
fn check_constraint(c: &Constraint, subject: &Map<String, Value>) -> Result<(), String> {
    let value = claim(subject, &c.claim_name).ok_or("the claim is missing")?;
    let Some(s) = value.as_str() else {
        return Err(format!(
            "the claim is {}, and {} compares strings",
            json_kind(value),
            c.op.name()
        ));
    };
    if c.op.accepts(s) {
        Ok(())
    } else {
        Err(format!("the value does not satisfy {}", c.op.name()))
    }
}

/// A claim by name; a dotted name reaches into nested objects when no claim has the whole name.
fn claim<'a>(subject: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = subject.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = subject.get(parts.next()?)?;
    for part in parts {
        cur = cur.get(part)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use verity_jose::{Algorithm, SigningKey};

    use crate::testkit::*;
    use crate::{Constraint, ConstraintOp, RequestedCredential};

    const VE: &str = "VerifiedEmployee";

    fn check(name: &str) -> String {
        format!("credential[{VE}].{name}")
    }

    /// Happy path for every issuer/holder algorithm pair (EdDSA, ES256, ES256K).
    #[tokio::test]
    async fn every_algorithm_pair_verifies() {
        for issuer_alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K] {
            for holder_alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K] {
                let f = Fixture::with_algs(issuer_alg, holder_alg);
                let v = f.verify(f.draft(vec![f.vc(VE)])).await;
                let p = assert_verified(&v);
                assert_eq!(p.subject, f.holder.did, "{issuer_alg} / {holder_alg}");
                let c = &p.credentials[0];
                assert_eq!(c.issuer, f.issuer.did);
                assert_eq!(c.types, ["VerifiableCredential", VE]);
                assert_eq!(
                    Value::Object(c.claims.clone()),
                    json!({"displayName": "Megan Bowen", "jobTitle": "Engineer",
                           "email": "megan@contoso.example", "department": "Engineering"})
                );
                assert_eq!(c.issuance_date.as_deref(), Some("2026-09-20T14:13:20Z"));
                assert_eq!(c.expiration_date.as_deref(), Some("2027-09-20T14:13:20Z"));
                assert!(c.jti.as_deref().unwrap().starts_with("urn:uuid:"));
            }
        }
    }

    #[tokio::test]
    async fn missing_vc_is_malformed() {
        let f = Fixture::new();
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims.as_object_mut().unwrap().remove("vc");
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-031", &check("parse"));
        let v = f.verify(f.draft(vec!["x.y.z".into()])).await;
        assert_fails(&v, "PRES-031", &check("parse"));
    }

    #[tokio::test]
    async fn unsigned_credential_is_refused() {
        let f = Fixture::new();
        let claims = f.vc_claims(&f.issuer, VE);
        let vc = unsigned_token(&json!({"alg": "none", "kid": f.issuer.kid}), &claims);
        let v = f.verify(f.draft(vec![vc])).await;
        assert_fails(&v, "PRES-032", &check("alg"));
    }

    /// Signed by the partner's key while claiming the company as issuer.
    #[tokio::test]
    async fn kid_of_another_did_fails() {
        let f = Fixture::new();
        let claims = f.vc_claims(&f.issuer, VE);
        let vc = f.partner.sign(&claims);
        let v = f.verify(f.draft(vec![vc])).await;
        let e = assert_fails(&v, "PRES-033", &check("kid"));
        assert!(e.to_string().contains(&f.partner.did), "{e}");
    }

    /// An issuer whose did.json is unreachable: a transient error, not a verdict.
    #[tokio::test]
    async fn unreachable_issuer_did_is_transient() {
        let f = Fixture::new();
        f.resolver.unreachable(&f.issuer.did);
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        let e = assert_unavailable(&v, "PRES-034", &check("key"));
        assert!(e.to_string().contains("timed out"), "{e}");
        assert_eq!(e.hosted_code(), "transientError");
    }

    #[tokio::test]
    async fn key_outside_assertion_method_fails() {
        let f = Fixture::new();
        // The issuer's key listed under authentication only.
        let mut doc = f.issuer.document(&[]);
        doc.assertion_method.clear();
        f.web.insert(doc);
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        let e = assert_fails(&v, "PRES-035", &check("key"));
        assert!(e.to_string().contains("assertionMethod"), "{e}");
        // An issuer DID that does not resolve at all (404) is a failed check, not an outage.
        let mut claims = f.vc_claims(&f.issuer, VE);
        let ghost = "did:web:ghost.example";
        claims["iss"] = json!(ghost);
        claims["vc"]["issuer"] = json!(ghost);
        let vc = f.issuer.sign_as(&format!("{ghost}#key-1"), &claims);
        let v = f.verify(f.draft(vec![vc])).await;
        assert_fails(&v, "PRES-035", &check("key"));
    }

    #[tokio::test]
    async fn tampered_credential_fails() {
        let f = Fixture::new();
        let vc = f.vc(VE);
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialSubject"]["jobTitle"] = json!("CEO");
        let forged = splice_payload(&vc, &claims);
        let v = f.verify(f.draft(vec![forged])).await;
        assert_fails(&v, "PRES-036", &check("signature"));
        let intruder = SigningKey::generate(f.issuer.key.algorithm()).unwrap();
        let v = f
            .verify(f.draft(vec![sign_with(&intruder, &f.issuer.kid, &claims)]))
            .await;
        assert_fails(&v, "PRES-036", &check("signature"));
    }

    #[tokio::test]
    async fn vc_issuer_must_equal_iss() {
        let f = Fixture::new();
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["issuer"] = json!({"id": f.partner.did, "name": "Partner"});
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-037", &check("issuer"));
        // The object form naming the right issuer, or no vc.issuer at all, is fine.
        claims["vc"]["issuer"] = json!({"id": f.issuer.did});
        assert_verified(&f.verify(f.draft(vec![f.issuer.sign(&claims)])).await);
        claims["vc"]["issuer"] = Value::Null;
        claims["vc"].as_object_mut().unwrap().remove("issuer");
        assert_verified(&f.verify(f.draft(vec![f.issuer.sign(&claims)])).await);
    }

    #[tokio::test]
    async fn expired_credential_fails() {
        let f = Fixture::new();
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["exp"] = json!(NOW - 61);
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        let e = assert_fails(&v, "PRES-038", &check("times"));
        assert!(e.to_string().contains("expired"), "{e}");
        // The skew is bounded: a configured hour is applied as MAX_SKEW_SECS.
        claims["exp"] = json!(NOW - 301);
        let resp = f.draft(vec![f.issuer.sign(&claims)]).finish();
        let v = crate::verify_presentation(&f.ctx().with_skew(3600), Some(&f.request), &resp).await;
        assert_fails(&v, "PRES-038", &check("times"));
        claims["nbf"] = json!(NOW + 3600);
        claims["exp"] = json!(NOW + 7200);
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-038", &check("times"));
    }

    #[tokio::test]
    async fn credential_of_another_holder_fails() {
        let f = Fixture::new();
        let other = Party::holder(Algorithm::EdDSA);
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["sub"] = json!(other.did);
        claims["vc"]["credentialSubject"]["id"] = json!(other.did);
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-039", &check("holder_binding"));
        // sub and credentialSubject.id disagreeing fails too.
        claims["sub"] = json!(f.holder.did);
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-039", &check("holder_binding"));
        // Unbound (no sub, no subject id) fails.
        claims["sub"] = Value::Null;
        claims.as_object_mut().unwrap().remove("sub");
        claims["vc"]["credentialSubject"]
            .as_object_mut()
            .unwrap()
            .remove("id");
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        assert_fails(&v, "PRES-039", &check("holder_binding"));
        // Bound by credentialSubject.id alone is enough.
        claims["vc"]["credentialSubject"]["id"] = json!(f.holder.did);
        assert_verified(&f.verify(f.draft(vec![f.issuer.sign(&claims)])).await);
    }

    #[tokio::test]
    async fn issuer_outside_accepted_issuers_fails() {
        let f = Fixture::new();
        let v = f.verify(f.draft(vec![f.vc_from(&f.partner, VE)])).await;
        let e = assert_fails(&v, "PRES-040", &check("accepted_issuers"));
        assert_eq!(e.hosted_code(), "claimValidationError");
    }

    /// The helpdesk pattern: the company and its partner are both accepted.
    #[tokio::test]
    async fn two_accepted_issuers_are_both_accepted() {
        let mut f = Fixture::new();
        f.request.requested_credentials[0].accepted_issuers =
            vec![f.issuer.did.clone(), f.partner.did.clone()];
        for issuer in [&f.issuer, &f.partner] {
            let v = f.verify(f.draft(vec![f.vc_from(issuer, VE)])).await;
            assert_eq!(assert_verified(&v).credentials[0].issuer, issuer.did);
        }
        // And with no acceptedIssuers at all, any issuer is accepted.
        f.request.requested_credentials[0].accepted_issuers.clear();
        let v = f.verify(f.draft(vec![f.vc_from(&f.partner, VE)])).await;
        assert_verified(&v);
    }

    #[tokio::test]
    async fn wrong_type_fails() {
        let f = Fixture::new();
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["type"] = json!(["VerifiableCredential", "Visitor"]);
        let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
        let e = assert_fails(&v, "PRES-041", &check("type"));
        assert!(e.to_string().contains("Visitor"), "{e}");
    }

    #[tokio::test]
    async fn constraints_are_enforced() {
        let cases: Vec<(&str, ConstraintOp, bool)> = vec![
            (
                "jobTitle",
                ConstraintOp::Values(vec!["Engineer".into(), "Lead".into()]),
                true,
            ),
            (
                "jobTitle",
                ConstraintOp::Values(vec!["Manager".into()]),
                false,
            ),
            ("email", ConstraintOp::Contains("@contoso".into()), true),
            ("email", ConstraintOp::Contains("@fabrikam".into()), false),
            ("department", ConstraintOp::StartsWith("Eng".into()), true),
            (
                "department",
                ConstraintOp::StartsWith("Sales".into()),
                false,
            ),
            (
                "address.country",
                ConstraintOp::Values(vec!["NZ".into()]),
                true,
            ),
            ("missing", ConstraintOp::Contains(String::new()), false),
            ("level", ConstraintOp::Values(vec!["3".into()]), false),
        ];
        for (claim, op, passes) in cases {
            let mut f = Fixture::new();
            f.request.requested_credentials[0].constraints = vec![Constraint {
                claim_name: claim.into(),
                op: op.clone(),
            }];
            let mut claims = f.vc_claims(&f.issuer, VE);
            claims["vc"]["credentialSubject"]["address"] = json!({"country": "NZ"});
            claims["vc"]["credentialSubject"]["level"] = json!(3);
            let v = f.verify(f.draft(vec![f.issuer.sign(&claims)])).await;
            if passes {
                assert_verified(&v);
            } else {
                let e = assert_fails(&v, "PRES-042", &check("constraints"));
                // The message names the claim and never its value.
                assert!(e.to_string().contains(claim), "{e}");
                assert!(!e.to_string().contains("megan"), "{e}");
            }
        }
    }

    /// Signs `claims` with the issuer's key under header `typ`.
    fn issuer_signed(f: &Fixture, typ: &str, claims: &Value) -> String {
        let mut h = verity_jose::Header::new(f.issuer.key.algorithm());
        h.kid = Some(f.issuer.kid.clone());
        h.typ = Some(typ.into());
        verity_jose::sign_compact(&f.issuer.key, &h, claims.to_string().as_bytes()).unwrap()
    }

    /// The issuer's key also signs its status lists, its domain linkage credentials and its
    /// request objects. Each, offered as the requested credential (even when the RP asks for
    /// exactly that type), is refused as another kind of token before any key is resolved.
    #[tokio::test]
    async fn other_token_kinds_signed_by_the_issuer_are_not_credentials() {
        let url = "https://issuer.example/v1.0/status/1";
        for (type_, token_of) in [
            (
                "BitstringStatusListCredential",
                Box::new(|f: &Fixture| {
                    signed_list(
                        &f.issuer,
                        url,
                        &[],
                        verity_status_list::StatusPurpose::Revocation,
                    )
                }) as Box<dyn Fn(&Fixture) -> String>,
            ),
            (
                "DomainLinkageCredential",
                Box::new(|f: &Fixture| {
                    f.issuer.sign(&json!({
                        "iss": f.issuer.did, "sub": f.issuer.did, "nbf": NOW - 60,
                        "exp": NOW + 86_400, "vc": {
                            "@context": ["https://www.w3.org/2018/credentials/v1",
                                "https://identity.foundation/.well-known/did-configuration/v1"],
                            "type": ["VerifiableCredential", "DomainLinkageCredential"],
                            "issuer": f.issuer.did,
                            "credentialSubject": { "id": f.issuer.did,
                                "origin": "https://issuer.example" } } }))
                }),
            ),
            (
                VE,
                Box::new(|f: &Fixture| {
                    // Credential-shaped claims in a token typed as a request object.
                    issuer_signed(f, "oauth-authz-req+jwt", &f.vc_claims(&f.issuer, VE))
                }),
            ),
            (
                VE,
                Box::new(|f: &Fixture| {
                    // A credential with a request's claims added (a request object with a vc).
                    let mut claims = f.vc_claims(&f.issuer, VE);
                    claims["response_type"] = json!("id_token");
                    claims["client_id"] = json!(f.issuer.did);
                    claims["nonce"] = json!(f.request.nonce);
                    f.issuer.sign(&claims)
                }),
            ),
        ] {
            let mut f = Fixture::new();
            f.request.requested_credentials[0] = RequestedCredential::new(type_);
            let token = token_of(&f);
            let v = f.verify(f.draft(vec![token])).await;
            let e = assert_fails(&v, "PRES-054", &format!("credential[{type_}].kind"));
            assert!(e.to_string().contains("not a credential"), "{e}");
            assert_eq!(e.hosted_code(), "credentialValidationError");
            // Refused before the issuer's DID document was needed.
            assert!(
                !v.checks
                    .iter()
                    .any(|c| c.name == format!("credential[{type_}].key")),
                "{:?}",
                v.checks
            );
        }
        // A plain request object signed by the issuer has no `vc`: malformed as a credential.
        let f = Fixture::new();
        let ro = issuer_signed(
            &f,
            "oauth-authz-req+jwt",
            &json!({ "iss": f.issuer.did, "client_id": f.issuer.did,
                "response_type": "id_token", "nonce": f.request.nonce, "state": "req-1",
                "iat": NOW, "exp": NOW + 300 }),
        );
        let v = f.verify(f.draft(vec![ro])).await;
        assert_fails(&v, "PRES-031", &check("parse"));
        // No typ at all is fine for a credential from another issuer's software.
        let mut h = verity_jose::Header::new(f.issuer.key.algorithm());
        h.kid = Some(f.issuer.kid.clone());
        let untyped = verity_jose::sign_compact(
            &f.issuer.key,
            &h,
            f.vc_claims(&f.issuer, VE).to_string().as_bytes(),
        )
        .unwrap();
        assert_verified(&f.verify(f.draft(vec![untyped])).await);
    }

    #[test]
    fn requested_credential_builder_defaults() {
        let r = RequestedCredential::new(VE);
        assert!(r.accepted_issuers.is_empty() && !r.allow_revoked && r.face_check.is_none());
    }
}
