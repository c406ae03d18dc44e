//! Runs the checks in order and assembles the [`Verification`].

use crate::checks::{
    credential, face_check, id_token, linked_domain, request, status, submission, vp_token,
};
use crate::record::Recorder;
use crate::{
    PresentationError, PresentationRequest, Verification, VerifiedCredential, VerifiedPresentation,
    VerifyContext, WalletResponse,
};

/// Verifies the wallet's response to `request` (`None` when no stored request matches it).
///
/// Never panics and never returns early without a record: the answer lists every check that
/// ran, and either the verified data or the first failed check's error. A transient error
/// ([`PresentationError::is_transient`]) means the verification could not complete; nothing
/// was consumed, and the same response may be verified again.
pub async fn verify_presentation(
    ctx: &VerifyContext,
    request: Option<&PresentationRequest>,
    response: &WalletResponse,
) -> Verification {
    let mut rec = Recorder::default();
    let result = run(ctx, &mut rec, request, response).await;
    if let Err(e) = &result {
        tracing::info!(
            code = e.code(),
            transient = e.is_transient(),
            "presentation refused"
        );
    }
    Verification {
        checks: rec.into_checks(),
        result,
    }
}

async fn run(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: Option<&PresentationRequest>,
    response: &WalletResponse,
) -> Result<VerifiedPresentation, PresentationError> {
    let request = request::check_known(rec, request, ctx.now)?;
    request::check_state(rec, request, &response.state)?;
    let holder = id_token::verify(ctx, rec, request, &response.id_token).await?;
    let vp = vp_token::verify(ctx, rec, request, &holder, &response.vp_token).await?;
    let indexes = submission::check(rec, request, &holder.claims, vp.credentials.len())?;

    let mut lists = status::ListMemo::new();
    let mut credentials = Vec::with_capacity(indexes.len());
    for (requested, index) in request.requested_credentials.iter().zip(indexes) {
        // The submission check proved every index is in range.
        let Some(raw) = vp.credentials.get(index) else {
            return Err(rec.fail(
                "submission.descriptors",
                PresentationError::SubmissionPath {
                    descriptor: requested.descriptor_id().to_owned(),
                    reason: format!("verifiableCredential[{index}] does not exist"),
                },
            ));
        };
        let checked = credential::verify(ctx, rec, requested, &holder.holder, raw).await?;
        let revocation_status =
            status::check_status(ctx, rec, &mut lists, requested, &checked).await?;
        let domain_validation =
            linked_domain::check_linked_domain(ctx, rec, requested, &checked).await?;
        let pending_face_check = face_check::check_face(ctx, rec, requested, &checked)?;
        credentials.push(VerifiedCredential {
            descriptor_id: requested.descriptor_id().to_owned(),
            issuer: checked.issuer.clone(),
            types: checked.types.clone(),
            claims: checked.reported_claims(),
            issuance_date: checked.issuance_date(),
            expiration_date: checked.expiration_date(),
            revocation_status,
            domain_validation,
            face_check: None,
            pending_face_check,
            jti: checked.jti(),
            raw_jwt: raw.clone(),
        });
    }

    vp_token::consume_jti(ctx, rec, request, &vp).await?;
    Ok(VerifiedPresentation {
        subject: holder.holder,
        vp_jti: vp.jti,
        credentials,
    })
}

/// Verifies a presentation carried in an issuance request's `presentations` attestation: a
/// vp_token signed by `holder_did` (the DID that signed the holder request) for `audience`
/// (the issuing authority) with the request's `nonce`, holding a credential of `requested`'s
/// type from an accepted issuer, bound to the holder, within its validity and not revoked
/// (unless allowed). Same checks and codes as [`verify_presentation`], without the id_token
/// and submission steps; the vp_token's jti is consumed last.
pub async fn verify_attestation_presentation(
    ctx: &VerifyContext,
    holder_did: &str,
    vp_token_jwt: &str,
    audience: &str,
    nonce: &str,
    expires_at: i64,
    requested: &crate::RequestedCredential,
) -> Verification {
    let mut rec = Recorder::default();
    let request = PresentationRequest {
        request_id: format!("attestation:{}", requested.descriptor_id()),
        state: String::new(),
        nonce: nonce.to_owned(),
        client_id: audience.to_owned(),
        definition_id: None,
        expires_at,
        requested_credentials: vec![requested.clone()],
    };
    let result = attestation(ctx, &mut rec, &request, holder_did, vp_token_jwt).await;
    Verification {
        checks: rec.into_checks(),
        result,
    }
}

async fn attestation(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: &PresentationRequest,
    holder_did: &str,
    token: &str,
) -> Result<VerifiedPresentation, PresentationError> {
    use PresentationError as E;
    let document = match ctx.resolver.resolve(holder_did).await {
        Ok(doc) => doc,
        Err(e) if e.is_unavailable() => {
            return Err(rec.fail(
                "vp_token.key",
                E::HolderDidUnavailable {
                    did: holder_did.to_owned(),
                    reason: e.to_string(),
                },
            ));
        }
        Err(e) => {
            return Err(rec.fail(
                "vp_token.key",
                E::VpTokenKey {
                    kid: holder_did.to_owned(),
                    reason: format!("{} ({})", e, e.code()),
                },
            ));
        }
    };
    let holder = crate::checks::id_token::HolderProof {
        holder: holder_did.to_owned(),
        document,
        claims: serde_json::Map::new(),
    };
    let vp = vp_token::verify(ctx, rec, request, &holder, token).await?;
    let Some(requested) = request.requested_credentials.first() else {
        return Err(rec.fail(
            "submission.coverage",
            E::SubmissionDescriptorMissing {
                descriptor: String::new(),
            },
        ));
    };
    // The first credential of the requested type that passes every check is the attestation.
    let mut last_error = None;
    let mut lists = status::ListMemo::new();
    for raw in &vp.credentials {
        let checked = match credential::verify(ctx, rec, requested, &holder.holder, raw).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let revocation_status =
            status::check_status(ctx, rec, &mut lists, requested, &checked).await?;
        vp_token::consume_jti(ctx, rec, request, &vp).await?;
        return Ok(VerifiedPresentation {
            subject: holder.holder,
            vp_jti: vp.jti.clone(),
            credentials: vec![VerifiedCredential {
                descriptor_id: requested.descriptor_id().to_owned(),
                issuer: checked.issuer.clone(),
                types: checked.types.clone(),
                claims: checked.reported_claims(),
                issuance_date: checked.issuance_date(),
                expiration_date: checked.expiration_date(),
                revocation_status,
                domain_validation: None,
                face_check: None,
                pending_face_check: None,
                jti: checked.jti(),
                raw_jwt: raw.clone(),
            }],
        });
    }
    Err(last_error.unwrap_or_else(|| {
        rec.fail(
            "submission.coverage",
            E::SubmissionDescriptorMissing {
                descriptor: requested.descriptor_id().to_owned(),
            },
        )
    }))
}

#[cfg(test)]
mod tests {
    use crate::CheckOutcome;
    use crate::testkit::*;

    /// The record of a clean run lists every check in the documented order.
    #[tokio::test]
    async fn happy_path_records_every_check_in_order() {
        let f = Fixture::new();
        let v = f.verify(f.draft(vec![f.vc("VerifiedEmployee")])).await;
        assert_verified(&v);
        let names: Vec<(&str, CheckOutcome)> = v
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.outcome))
            .collect();
        use CheckOutcome::{Passed as P, Skipped as S};
        assert_eq!(
            names,
            [
                ("request.known", P),
                ("request.expiry", P),
                ("state", P),
                ("id_token.parse", P),
                ("id_token.alg", P),
                ("id_token.holder", P),
                ("id_token.key", P),
                ("id_token.signature", P),
                ("id_token.iss", P),
                ("id_token.aud", P),
                ("id_token.nonce", P),
                ("id_token.times", P),
                ("id_token.kind", P),
                ("vp_token.parse", P),
                ("vp_token.alg", P),
                ("vp_token.holder", P),
                ("vp_token.key", P),
                ("vp_token.signature", P),
                ("vp_token.aud", P),
                ("vp_token.nonce", P),
                ("vp_token.times", P),
                ("vp_token.jti", P),
                ("vp_token.credentials", P),
                ("vp_token.kind", P),
                ("submission.present", P),
                ("submission.definition_id", P),
                ("submission.descriptors", P),
                ("submission.coverage", P),
                ("submission.distinct", P),
                ("credential[VerifiedEmployee].parse", P),
                ("credential[VerifiedEmployee].kind", P),
                ("credential[VerifiedEmployee].alg", P),
                ("credential[VerifiedEmployee].kid", P),
                ("credential[VerifiedEmployee].key", P),
                ("credential[VerifiedEmployee].signature", P),
                ("credential[VerifiedEmployee].issuer", P),
                ("credential[VerifiedEmployee].times", P),
                ("credential[VerifiedEmployee].holder_binding", P),
                ("credential[VerifiedEmployee].accepted_issuers", P),
                ("credential[VerifiedEmployee].type", P),
                ("credential[VerifiedEmployee].constraints", S),
                ("credential[VerifiedEmployee].status", S),
                ("credential[VerifiedEmployee].linked_domain", S),
                ("credential[VerifiedEmployee].face_check", S),
                ("vp_token.replay", P),
            ]
        );
        // Details never carry token material.
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        let v = f.verify_response(&resp).await;
        for c in &v.checks {
            assert!(!c.detail.contains(&resp.vp_token), "{}", c.name);
            assert!(!c.detail.contains(&f.request.nonce), "{}", c.name);
        }
    }

    /// A failed run stops at the first failure, which is the last record.
    #[tokio::test]
    async fn failure_stops_the_pipeline() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.id_claims["nonce"] = serde_json::json!("x");
        let v = f.verify(d).await;
        assert!(!v.is_verified() && !v.is_transient());
        assert_eq!(v.error().map(|e| e.code()), Some("PRES-012"));
        assert_eq!(
            v.checks.last().map(|c| c.name.as_str()),
            Some("id_token.nonce")
        );
        assert!(!v.checks.iter().any(|c| c.name.starts_with("vp_token")));
        assert_eq!(f.replay.consumed(), 0);
    }
}
