//! The vp_token: signed by the same holder as the id_token, `aud`, nonce, times, a `jti`, the
//! JWT-VCs it carries; and, once everything else passed, the `jti` consumed against replay.

use serde_json::Value;
use verity_did::Relationship;
use verity_jose::{TokenKind, check_times};

use super::id_token::HolderProof;
use super::{
    audience_matches, kid_belongs_to, numeric_date, parse_jwt, show, str_member, verified_claims,
};
use crate::context::VP_TOKEN_REPLAY_SCOPE;
use crate::record::Recorder;
use crate::{PresentationError, PresentationRequest, VerifyContext};

/// What the vp_token proved.
#[derive(Debug)]
pub(crate) struct VpProof {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub exp: i64,
    /// `vp.verifiableCredential`, as presented.
    pub credentials: Vec<String>,
}

/// Runs the vp_token checks in order; the first failure ends them.
pub(crate) async fn verify(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: &PresentationRequest,
    holder: &HolderProof,
    token: &str,
) -> Result<VpProof, PresentationError> {
    use PresentationError as E;
    let (jws, unverified) = parse_jwt(token)
        .map_err(|reason| rec.fail("vp_token.parse", E::VpTokenMalformed { reason }))?;
    rec.pass("vp_token.parse", "compact JWS with a JSON object payload");

    let alg = jws.algorithm().map_err(|e| {
        rec.fail(
            "vp_token.alg",
            E::VpTokenAlgorithm {
                reason: e.to_string(),
            },
        )
    })?;
    rec.pass("vp_token.alg", alg.as_str());

    let same_holder = || -> Result<String, String> {
        let Some(kid) = jws.header().kid.as_deref() else {
            return Err("the header has no kid naming the holder's key".into());
        };
        kid_belongs_to(kid, &holder.holder)?;
        match str_member(&unverified, "iss") {
            Some(iss) if iss == holder.holder => Ok(kid.to_owned()),
            Some(iss) => Err(format!(
                "iss {iss} is not the id_token's holder {}",
                holder.holder
            )),
            None => Err("iss (the holder DID) is missing".into()),
        }
    };
    let kid = same_holder()
        .map_err(|reason| rec.fail("vp_token.holder", E::VpTokenHolderMismatch { reason }))?;
    rec.pass(
        "vp_token.holder",
        format!("{kid} belongs to {}", holder.holder),
    );

    let key = holder
        .document
        .key_for(&kid, Relationship::Authentication)
        .map_err(|e| {
            rec.fail(
                "vp_token.key",
                E::VpTokenKey {
                    kid: kid.clone(),
                    reason: format!("{} ({})", e, e.code()),
                },
            )
        })?;
    rec.pass("vp_token.key", format!("{kid} is under authentication"));

    let header = jws.header().clone();
    let verified = jws.verify(&key).map_err(|e| {
        rec.fail(
            "vp_token.signature",
            E::VpTokenSignature {
                reason: e.to_string(),
            },
        )
    })?;
    let claims = verified_claims(verified)
        .map_err(|reason| rec.fail("vp_token.signature", E::VpTokenMalformed { reason }))?;
    rec.pass("vp_token.signature", format!("verified with {kid}"));

    if !audience_matches(claims.get("aud"), &request.client_id) {
        return Err(rec.fail(
            "vp_token.aud",
            E::VpTokenAudience {
                expected: request.client_id.clone(),
                found: show(claims.get("aud")),
            },
        ));
    }
    rec.pass("vp_token.aud", request.client_id.as_str());

    if str_member(&claims, "nonce") != Some(request.nonce.as_str()) {
        return Err(rec.fail("vp_token.nonce", E::VpTokenNonce));
    }
    rec.pass("vp_token.nonce", "matches the request");

    check_times(
        &Value::Object(claims.clone()),
        ctx.now,
        ctx.effective_skew(),
        true,
    )
    .map_err(|e| {
        rec.fail(
            "vp_token.times",
            E::VpTokenTimes {
                reason: e.to_string(),
            },
        )
    })?;
    // check_times proved `exp` is a number.
    let exp = numeric_date(&claims, "exp").unwrap_or(ctx.now);
    rec.pass("vp_token.times", "nbf/exp/iat valid");

    let jti = match str_member(&claims, "jti") {
        Some(j) if !j.is_empty() => j.to_owned(),
        _ => return Err(rec.fail("vp_token.jti", E::VpTokenJtiMissing)),
    };
    rec.pass("vp_token.jti", "present");

    let credentials = credentials_of(&claims)
        .map_err(|reason| rec.fail("vp_token.credentials", E::VpTokenMalformed { reason }))?;
    rec.pass(
        "vp_token.credentials",
        format!("{} JWT-VC(s)", credentials.len()),
    );

    // Last, so each claim above keeps its own error; this catches a holder's other tokens
    // and a credential-carrying token (`vc`) posing as a presentation.
    TokenKind::Presentation
        .check(&header, &claims)
        .map_err(|e| {
            rec.fail(
                "vp_token.kind",
                E::VpTokenMalformed {
                    reason: format!("{e} ({})", e.code()),
                },
            )
        })?;
    rec.pass("vp_token.kind", "typ and claims of a presentation");
    Ok(VpProof {
        jti,
        exp,
        credentials,
    })
}

/// `vp.verifiableCredential`: a non-empty array of JWT-VC strings (a single string is read as
/// one credential).
fn credentials_of(claims: &serde_json::Map<String, Value>) -> Result<Vec<String>, String> {
    let Some(vp) = claims.get("vp").and_then(Value::as_object) else {
        return Err("vp (the presentation object) is missing".into());
    };
    let list = match vp.get("verifiableCredential") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(single @ Value::String(_)) => std::slice::from_ref(single),
        Some(_) => return Err("vp.verifiableCredential must be an array of JWT strings".into()),
        None => return Err("vp.verifiableCredential is missing".into()),
    };
    if list.is_empty() {
        return Err("vp.verifiableCredential is empty".into());
    }
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            c.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("vp.verifiableCredential[{i}] is not a JWT-VC string"))
        })
        .collect()
}

/// Consumes the vp_token's `jti`. Runs after every other check, so an outage further down the
/// pipeline does not burn the `jti` and turn the wallet's retry into a "replay".
pub(crate) async fn consume_jti(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: &PresentationRequest,
    vp: &VpProof,
) -> Result<(), PresentationError> {
    let skew = ctx.effective_skew();
    // Past this instant the token fails its time check or names an expired request's nonce,
    // so the store need not remember the jti longer.
    let expires_at = vp
        .exp
        .saturating_add(skew)
        .min(request.expires_at.saturating_add(skew));
    match ctx
        .replay
        .consume(VP_TOKEN_REPLAY_SCOPE, &vp.jti, expires_at, ctx.now)
        .await
    {
        Ok(true) => {
            rec.pass("vp_token.replay", "jti used for the first time");
            Ok(())
        }
        Ok(false) => Err(rec.fail(
            "vp_token.replay",
            PresentationError::VpTokenReplayed {
                jti: vp.jti.clone(),
            },
        )),
        Err(e) => Err(rec.fail(
            "vp_token.replay",
            PresentationError::ReplayGuardUnavailable {
                reason: e.to_string(),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use verity_jose::{Algorithm, SigningKey};

    use crate::testkit::*;
    use crate::{CheckOutcome, PresentationRequest, verify_presentation};

    #[tokio::test]
    async fn garbage_fails_to_parse() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_raw = Some("a.b".into());
        assert_fails(&f.verify(d).await, "PRES-014", "vp_token.parse");
    }

    #[tokio::test]
    async fn hmac_alg_is_refused() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_raw = Some(unsigned_token(
            &json!({"alg": "HS256", "kid": f.holder.kid}),
            &d.vp_claims,
        ));
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-015", "vp_token.alg");
        assert!(e.to_string().contains("HMAC"), "{e}");
    }

    /// A vp_token signed by another holder (its own valid key and DID) than the id_token's.
    #[tokio::test]
    async fn other_holder_fails() {
        let f = Fixture::new();
        let other = Party::holder(Algorithm::ES256);
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_header.kid = Some(other.kid.clone());
        d.vp_claims["iss"] = json!(other.did);
        d.vp_key = Some(&other.key);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-016", "vp_token.holder");
        assert!(e.to_string().contains("names DID"), "{e}");
        // Same kid, but iss names someone else.
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["iss"] = json!(other.did);
        assert_fails(&f.verify(d).await, "PRES-016", "vp_token.holder");
    }

    #[tokio::test]
    async fn unknown_key_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_header.kid = Some(format!("{}#7", f.holder.did));
        assert_fails(&f.verify(d).await, "PRES-017", "vp_token.key");
    }

    #[tokio::test]
    async fn signature_by_another_key_fails() {
        let f = Fixture::new();
        let intruder = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_key = Some(&intruder);
        assert_fails(&f.verify(d).await, "PRES-018", "vp_token.signature");
    }

    #[tokio::test]
    async fn wrong_audience_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["aud"] = json!(["did:web:other.example"]);
        assert_fails(&f.verify(d).await, "PRES-019", "vp_token.aud");
    }

    #[tokio::test]
    async fn wrong_nonce_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["nonce"] = Value::Null;
        assert_fails(&f.verify(d).await, "PRES-020", "vp_token.nonce");
    }

    #[tokio::test]
    async fn not_yet_valid_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["nbf"] = json!(NOW + 3600);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-021", "vp_token.times");
        assert!(e.to_string().contains("not yet valid"), "{e}");
    }

    #[tokio::test]
    async fn missing_jti_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["jti"] = json!("");
        assert_fails(&f.verify(d).await, "PRES-022", "vp_token.jti");
    }

    #[tokio::test]
    async fn credentials_must_be_jwt_strings() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["vp"]["verifiableCredential"] = json!([{"type": "VerifiableCredential"}]);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-014", "vp_token.credentials");
        assert!(e.to_string().contains("verifiableCredential[0]"), "{e}");
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_claims["vp"]["verifiableCredential"] = json!([]);
        assert_fails(&f.verify(d).await, "PRES-014", "vp_token.credentials");
    }

    /// A vp_token that also carries a credential's or a request's claims, or is typed as
    /// another kind, is not a presentation.
    #[tokio::test]
    async fn other_token_kinds_are_not_vp_tokens() {
        let f = Fixture::new();
        for (name, value) in [
            ("vc", json!({"type": ["VerifiableCredential"]})),
            ("_vp_token", json!({})),
            ("response_type", json!("id_token")),
        ] {
            let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
            d.vp_claims[name] = value;
            let v = f.verify(d).await;
            let e = assert_fails(&v, "PRES-014", "vp_token.kind");
            assert!(e.to_string().contains(&format!("`{name}`")), "{e}");
        }
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.vp_header.typ = Some("at+jwt".into());
        assert_fails(&f.verify(d).await, "PRES-014", "vp_token.kind");
    }

    /// The same response posted twice: accepted once, then refused as a replay.
    #[tokio::test]
    async fn replayed_vp_token_fails() {
        let f = Fixture::new();
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        assert_verified(&f.verify_response(&resp).await);
        let v = f.verify_response(&resp).await;
        let e = assert_fails(&v, "PRES-023", "vp_token.replay");
        assert_eq!(e.hosted_code(), "tokenValidationError");
        assert_eq!(f.replay.consumed(), 1);
    }

    /// The same vp_token posted to a second request: its nonce and state belong to the first.
    #[tokio::test]
    async fn vp_token_for_another_request_fails() {
        let f = Fixture::new();
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        assert_verified(&f.verify_response(&resp).await);
        let second = PresentationRequest {
            request_id: "req-2".into(),
            state: "req-2".into(),
            nonce: "second-nonce-0123456789".into(),
            ..f.request.clone()
        };
        // Even with the state rewritten to the second request, the nonce gives it away.
        let mut moved = resp.clone();
        moved.state = "req-2".into();
        let v = verify_presentation(&f.ctx(), Some(&second), &moved).await;
        assert_fails(&v, "PRES-012", "id_token.nonce");
        // A wallet that re-signs the id_token for the new nonce still replays the vp_token.
        let mut d = f.draft_for(&second, vec![f.vc("VerifiedEmployee")]);
        d.vp_raw = Some(resp.vp_token.clone());
        let v = verify_presentation(&f.ctx(), Some(&second), &d.finish()).await;
        assert_fails(&v, "PRES-020", "vp_token.nonce");
    }

    #[tokio::test]
    async fn replay_store_outage_is_transient_and_burns_nothing() {
        let f = Fixture::new();
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        f.replay.set_unavailable(true);
        let v = f.verify_response(&resp).await;
        assert_unavailable(&v, "PRES-024", "vp_token.replay");
        f.replay.set_unavailable(false);
        assert_verified(&f.verify_response(&resp).await);
    }

    /// An outage after the vp_token checks must not consume the jti: the retry succeeds.
    #[tokio::test]
    async fn transient_failure_does_not_consume_the_jti() {
        let f = Fixture::new();
        f.resolver.unreachable(&f.issuer.did);
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        let v = f.verify_response(&resp).await;
        assert!(v.is_transient());
        assert!(
            !v.checks.iter().any(|c| c.name == "vp_token.replay"),
            "{:?}",
            v.checks
        );
        f.resolver.reachable(&f.issuer.did);
        let v = f.verify_response(&resp).await;
        assert_verified(&v);
        let last = v.checks.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.outcome),
            ("vp_token.replay", CheckOutcome::Passed)
        );
    }

    /// The jti is remembered until the token or the request would expire anyway.
    #[tokio::test]
    async fn jti_is_kept_until_the_token_expires() {
        let f = Fixture::new();
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        assert_verified(&f.verify_response(&resp).await);
        // The draft's vp exp is NOW + 120; skew 60; the request expires at NOW + 300.
        assert_eq!(
            f.replay.expiry_of("vp_token", &f.last_vp_jti(&resp)),
            Some(NOW + 180)
        );
    }
}
