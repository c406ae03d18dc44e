//! Face check (protocol.md §6), in two phases. While the presentation is verified, the check
//! only makes sure it can run: a face matcher is configured (else the request is refused, never
//! passed silently) and the credential carries the source photo claim; the credential then
//! carries a [`PendingFaceCheck`]. The comparison with the holder's selfie comes later, in its
//! own flow step; [`judge_face_check`] applies the request's threshold to its score.

use super::credential::CheckedCredential;
use crate::record::Recorder;
use crate::{
    FaceCheckResult, PendingFaceCheck, PresentationError, RequestedCredential, VerifyContext,
};

/// Phase one: whether the face check the request asks for can run on this credential.
pub(crate) fn check_face(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    requested: &RequestedCredential,
    credential: &CheckedCredential,
) -> Result<Option<PendingFaceCheck>, PresentationError> {
    use PresentationError as E;
    let descriptor = requested.descriptor_id().to_owned();
    let name = format!("credential[{descriptor}].face_check");
    let Some(asked) = &requested.face_check else {
        rec.skip(name, "not requested");
        return Ok(None);
    };
    if !ctx.face_check {
        return Err(rec.fail(name, E::FaceCheckNotConfigured { descriptor }));
    }
    let claim = &asked.source_photo_claim_name;
    let has_photo = credential
        .subject
        .get(claim)
        .and_then(|v| v.as_str())
        .is_some_and(|p| !p.is_empty());
    if !has_photo {
        return Err(rec.fail(
            name,
            E::FaceCheckPhotoMissing {
                descriptor,
                claim: claim.clone(),
            },
        ));
    }
    rec.pass(
        name,
        format!("photo claim {claim:?} present; the selfie is compared next"),
    );
    Ok(Some(PendingFaceCheck {
        descriptor_id: descriptor,
        source_photo_claim_name: claim.clone(),
        threshold: asked.threshold,
    }))
}

/// Phase two: the matcher's `score` (0-100) against the pending check's threshold. A score
/// outside 0-100 is the matcher's fault (`PRES-052`); below the threshold is `PRES-051`.
pub fn judge_face_check(
    pending: &PendingFaceCheck,
    score: f64,
    source_photo_quality: Option<String>,
) -> Result<FaceCheckResult, PresentationError> {
    let descriptor = pending.descriptor_id.clone();
    if !(0.0..=100.0).contains(&score) {
        return Err(PresentationError::FaceCheckFailed {
            descriptor,
            reason: format!("the matcher returned {score}, outside 0-100"),
        });
    }
    if score < f64::from(pending.threshold) {
        return Err(PresentationError::FaceCheckBelowThreshold {
            descriptor,
            score,
            threshold: pending.threshold,
        });
    }
    Ok(FaceCheckResult {
        match_confidence_score: score,
        source_photo_quality,
    })
}

#[cfg(test)]
mod tests {
    use super::judge_face_check;
    use crate::testkit::*;
    use crate::{FaceCheckRequest, FaceCheckResult, PendingFaceCheck};

    const VE: &str = "VerifiedEmployee";

    fn name() -> String {
        format!("credential[{VE}].face_check")
    }

    fn asking() -> Fixture {
        let mut f = Fixture::new();
        f.request.requested_credentials[0].face_check = Some(FaceCheckRequest {
            source_photo_claim_name: "photo".into(),
            threshold: 70,
        });
        f
    }

    fn with_photo(f: &Fixture) -> String {
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialSubject"]["photo"] = serde_json::json!("iVBORw0KGgo=");
        f.issuer.sign(&claims)
    }

    fn pending() -> PendingFaceCheck {
        PendingFaceCheck {
            descriptor_id: VE.into(),
            source_photo_claim_name: "photo".into(),
            threshold: 70,
        }
    }

    #[tokio::test]
    async fn without_a_matcher_the_request_is_refused() {
        let f = asking();
        let v = f.verify(f.draft(vec![with_photo(&f)])).await;
        let e = assert_fails(&v, "PRES-049", &name());
        assert!(e.to_string().contains("no face check"), "{e}");
        assert!(!e.is_transient());
    }

    #[tokio::test]
    async fn with_a_photo_the_check_waits_for_the_selfie() {
        let f = asking();
        let resp = f.draft(vec![with_photo(&f)]).finish();
        let ctx = f.ctx().with_face_check(true);
        let v = crate::verify_presentation(&ctx, Some(&f.request), &resp).await;
        let p = assert_verified(&v);
        assert_eq!(p.credentials[0].pending_face_check, Some(pending()));
        assert_eq!(
            p.credentials[0].face_check, None,
            "no score before the selfie"
        );
        assert_eq!(p.pending_face_check(), Some(&pending()));
    }

    #[tokio::test]
    async fn missing_photo_fails() {
        let f = asking();
        let resp = f.draft(vec![f.vc(VE)]).finish();
        let ctx = f.ctx().with_face_check(true);
        let v = crate::verify_presentation(&ctx, Some(&f.request), &resp).await;
        assert_fails(&v, "PRES-050", &name());
    }

    #[test]
    fn the_threshold_decides_and_scores_outside_the_range_are_refused() {
        assert_eq!(
            judge_face_check(&pending(), 83.0, Some("HIGH".into())).unwrap(),
            FaceCheckResult {
                match_confidence_score: 83.0,
                source_photo_quality: Some("HIGH".into())
            }
        );
        assert!(
            judge_face_check(&pending(), 70.0, None).is_ok(),
            "the threshold passes"
        );
        let e = judge_face_check(&pending(), 41.0, None).unwrap_err();
        assert_eq!(
            (e.code(), e.hosted_code()),
            ("PRES-051", "claimValidationError")
        );
        assert!(e.to_string().contains("41 below threshold 70"), "{e}");
        for bad in [f64::NAN, -1.0, 100.5] {
            let e = judge_face_check(&pending(), bad, None).unwrap_err();
            assert_eq!(e.code(), "PRES-052", "{bad}");
        }
    }
}
