//! The SIOP id_token: signed by the holder DID's authentication key, `iss` self-issued,
//! `aud` = our client_id, the request's nonce, valid times.

use serde_json::{Map, Value};
use verity_did::{Did, DidDocument, Relationship};
use verity_jose::{TokenKind, check_times};

use super::{audience_matches, kid_belongs_to, parse_jwt, show, str_member, verified_claims};
use crate::record::Recorder;
use crate::{PresentationError, PresentationRequest, SIOP_V2_ISSUER, VerifyContext};

/// The holder proven by the id_token.
#[derive(Debug)]
pub(crate) struct HolderProof {
    /// The holder DID (`sub`).
    pub holder: String,
    /// Its DID document, reused for the vp_token.
    pub document: DidDocument,
    /// The verified id_token claims (the submission lives in `_vp_token`).
    pub claims: Map<String, Value>,
}

/// Runs the id_token checks in order; the first failure ends them.
pub(crate) async fn verify(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: &PresentationRequest,
    token: &str,
) -> Result<HolderProof, PresentationError> {
    use PresentationError as E;
    let (jws, unverified) = parse_jwt(token)
        .map_err(|reason| rec.fail("id_token.parse", E::IdTokenMalformed { reason }))?;
    rec.pass("id_token.parse", "compact JWS with a JSON object payload");

    let alg = jws.algorithm().map_err(|e| {
        rec.fail(
            "id_token.alg",
            E::IdTokenAlgorithm {
                reason: e.to_string(),
            },
        )
    })?;
    rec.pass("id_token.alg", alg.as_str());

    let holder = holder_of(&jws, &unverified)
        .map_err(|reason| rec.fail("id_token.holder", E::IdTokenHolderMismatch { reason }))?;
    let kid = jws.header().kid.clone().unwrap_or_default();
    rec.pass(
        "id_token.holder",
        format!("kid {kid} belongs to sub {holder}"),
    );

    let document = match ctx.resolver.resolve(&holder).await {
        Ok(doc) => doc,
        Err(e) if e.is_unavailable() => {
            return Err(rec.fail(
                "id_token.key",
                E::HolderDidUnavailable {
                    did: holder,
                    reason: e.to_string(),
                },
            ));
        }
        Err(e) => {
            return Err(rec.fail(
                "id_token.key",
                E::IdTokenKey {
                    kid,
                    reason: format!("{} ({})", e, e.code()),
                },
            ));
        }
    };
    let key = document
        .key_for(&kid, Relationship::Authentication)
        .map_err(|e| {
            rec.fail(
                "id_token.key",
                E::IdTokenKey {
                    kid: kid.clone(),
                    reason: format!("{} ({})", e, e.code()),
                },
            )
        })?;
    rec.pass("id_token.key", format!("{kid} is under authentication"));

    let header = jws.header().clone();
    let verified = jws.verify(&key).map_err(|e| {
        rec.fail(
            "id_token.signature",
            E::IdTokenSignature {
                reason: e.to_string(),
            },
        )
    })?;
    let claims = verified_claims(verified)
        .map_err(|reason| rec.fail("id_token.signature", E::IdTokenMalformed { reason }))?;
    rec.pass("id_token.signature", format!("verified with {kid}"));

    let iss = str_member(&claims, "iss").unwrap_or_default();
    if iss != SIOP_V2_ISSUER {
        return Err(rec.fail(
            "id_token.iss",
            E::IdTokenIssuer {
                expected: SIOP_V2_ISSUER.to_owned(),
                found: iss.to_owned(),
            },
        ));
    }
    rec.pass("id_token.iss", SIOP_V2_ISSUER);

    if !audience_matches(claims.get("aud"), &request.client_id) {
        return Err(rec.fail(
            "id_token.aud",
            E::IdTokenAudience {
                expected: request.client_id.clone(),
                found: show(claims.get("aud")),
            },
        ));
    }
    rec.pass("id_token.aud", request.client_id.as_str());

    if str_member(&claims, "nonce") != Some(request.nonce.as_str()) {
        return Err(rec.fail("id_token.nonce", E::IdTokenNonce));
    }
    rec.pass("id_token.nonce", "matches the request");

    check_times(
        &Value::Object(claims.clone()),
        ctx.now,
        ctx.effective_skew(),
        true,
    )
    .map_err(|e| {
        rec.fail(
            "id_token.times",
            E::IdTokenTimes {
                reason: e.to_string(),
            },
        )
    })?;
    rec.pass("id_token.times", "exp/iat valid");

    // Last, so each claim above keeps its own error; this catches the holder's other tokens
    // (vp_token, holder request) and anything typed as another kind.
    TokenKind::IdToken.check(&header, &claims).map_err(|e| {
        rec.fail(
            "id_token.kind",
            E::IdTokenMalformed {
                reason: format!("{e} ({})", e.code()),
            },
        )
    })?;
    rec.pass("id_token.kind", "typ and claims of a SIOP id_token");

    Ok(HolderProof {
        holder,
        document,
        claims,
    })
}

/// `sub` must be a DID and the header `kid` must name a key of it.
fn holder_of(
    jws: &verity_jose::UnverifiedJws,
    payload: &Map<String, Value>,
) -> Result<String, String> {
    let Some(sub) = str_member(payload, "sub") else {
        return Err("sub (the holder DID) is missing".into());
    };
    Did::parse(sub).map_err(|e| format!("sub is not a DID: {e}"))?;
    let Some(kid) = jws.header().kid.as_deref() else {
        return Err("the header has no kid naming the holder's key".into());
    };
    kid_belongs_to(kid, sub)?;
    Ok(sub.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use verity_jose::{Algorithm, SigningKey};

    use crate::testkit::*;

    #[tokio::test]
    async fn garbage_fails_to_parse() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_raw = Some("not-a-jwt".into());
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-004", "id_token.parse");
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_raw = Some(unsigned_token(
            &json!({"alg": "none", "kid": f.holder.kid}),
            &d.id_claims,
        ));
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-005", "id_token.alg");
        assert!(e.to_string().contains("none"), "{e}");
    }

    #[tokio::test]
    async fn kid_of_another_did_fails() {
        let f = Fixture::new();
        let other = Party::holder(Algorithm::EdDSA);
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_header.kid = Some(other.kid.clone());
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-006", "id_token.holder");
    }

    #[tokio::test]
    async fn missing_kid_or_sub_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_header.kid = None;
        assert_fails(&f.verify(d).await, "PRES-006", "id_token.holder");
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["sub"] = Value::Null;
        assert_fails(&f.verify(d).await, "PRES-006", "id_token.holder");
    }

    #[tokio::test]
    async fn unreachable_holder_did_is_transient() {
        let f = Fixture::new();
        let web_holder = Party::web("holder.example", Algorithm::ES256);
        f.resolver.unreachable(&web_holder.did);
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["sub"] = json!(web_holder.did);
        d.id_header.kid = Some(web_holder.kid.clone());
        let v = f.verify(d).await;
        let e = assert_unavailable(&v, "PRES-007", "id_token.key");
        assert_eq!(e.hosted_code(), "transientError");
    }

    #[tokio::test]
    async fn key_not_in_holder_document_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_header.kid = Some(format!("{}#9", f.holder.did));
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-008", "id_token.key");
        assert!(e.to_string().contains("DID-005"), "{e}");
    }

    #[tokio::test]
    async fn signature_by_another_key_fails() {
        let f = Fixture::new();
        let intruder = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_key = Some(&intruder);
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-009", "id_token.signature");
    }

    #[tokio::test]
    async fn wrong_issuer_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["iss"] = json!("https://self-issued.me");
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-010", "id_token.iss");
    }

    #[tokio::test]
    async fn wrong_audience_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["aud"] = json!("did:web:someone-else.example");
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-011", "id_token.aud");
        assert!(e.to_string().contains("someone-else"), "{e}");
    }

    #[tokio::test]
    async fn wrong_nonce_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["nonce"] = json!("another-nonce");
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-012", "id_token.nonce");
    }

    /// The holder's other tokens are not id_tokens: its holder request (with `did`,
    /// `attestations`), a token carrying a `vp`, or one typed as another kind.
    #[tokio::test]
    async fn other_token_kinds_are_not_id_tokens() {
        let f = Fixture::new();
        for (name, value) in [
            ("vp", json!({"verifiableCredential": []})),
            ("did", json!(f.holder.did)),
            ("attestations", json!({})),
            ("client_id", json!("did:web:verifier.example")),
        ] {
            let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
            d.id_claims[name] = value;
            let v = f.verify(d).await;
            let e = assert_fails(&v, "PRES-004", "id_token.kind");
            assert!(e.to_string().contains(&format!("`{name}`")), "{e}");
        }
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_header.typ = Some("oauth-authz-req+jwt".into());
        let e = assert_fails(&f.verify(d).await, "PRES-004", "id_token.kind").clone();
        assert!(e.to_string().contains("wrong token kind"), "{e}");
        // Wallets that omit typ are fine.
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_header.typ = None;
        assert_verified(&f.verify(d).await);
    }

    #[tokio::test]
    async fn expired_or_exp_less_id_token_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["exp"] = json!(NOW - 120);
        let v = f.verify(d).await;
        let e = assert_fails(&v, "PRES-013", "id_token.times");
        assert!(e.to_string().contains("expired"), "{e}");
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["exp"] = Value::Null;
        assert_fails(&f.verify(d).await, "PRES-013", "id_token.times");
        // Within the skew still passes.
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["exp"] = json!(NOW - 30);
        assert_verified(&f.verify(d).await);
    }
}
