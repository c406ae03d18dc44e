//! Face check (protocol.md §6) through the [`crate::FaceCheckHook`]: a request that asks for
//! one is refused when no hook is configured, never passed silently.

use super::credential::CheckedCredential;
use crate::record::Recorder;
use crate::{
    FaceCheckResult, PresentationError, PresentationRequest, RequestedCredential, VerifyContext,
};

/// Runs the face check when the request asks for one.
pub(crate) async fn check_face(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: &PresentationRequest,
    requested: &RequestedCredential,
    credential: &CheckedCredential,
) -> Result<Option<FaceCheckResult>, PresentationError> {
    use PresentationError as E;
    let descriptor = requested.descriptor_id().to_owned();
    let name = format!("credential[{descriptor}].face_check");
    let Some(asked) = &requested.face_check else {
        rec.skip(name, "not requested");
        return Ok(None);
    };
    let Some(hook) = &ctx.face else {
        return Err(rec.fail(name, E::FaceCheckNotConfigured { descriptor }));
    };
    let claim = &asked.source_photo_claim_name;
    let Some(photo) = credential
        .subject
        .get(claim)
        .and_then(|v| v.as_str())
        .filter(|p| !p.is_empty())
    else {
        return Err(rec.fail(
            name,
            E::FaceCheckPhotoMissing {
                descriptor,
                claim: claim.clone(),
            },
        ));
    };
    let result = match hook
        .check(&request.request_id, photo, asked.threshold)
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_unavailable() => {
            return Err(rec.fail(
                name,
                E::FaceCheckUnavailable {
                    descriptor,
                    reason: e.reason().to_owned(),
                },
            ));
        }
        Err(e) => {
            return Err(rec.fail(
                name,
                E::FaceCheckFailed {
                    descriptor,
                    reason: e.reason().to_owned(),
                },
            ));
        }
    };
    let score = result.match_confidence_score;
    if !(0.0..=100.0).contains(&score) {
        return Err(rec.fail(
            name,
            E::FaceCheckFailed {
                descriptor,
                reason: format!("the matcher returned {score}, outside 0-100"),
            },
        ));
    }
    if score < f64::from(asked.threshold) {
        return Err(rec.fail(
            name,
            E::FaceCheckBelowThreshold {
                descriptor,
                score,
                threshold: asked.threshold,
            },
        ));
    }
    rec.pass(
        name,
        format!("score {score} meets threshold {}", asked.threshold),
    );
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::test_util::TestFaceCheckHook;
    use crate::testkit::*;
    use crate::{FaceCheckRequest, FaceCheckResult, SourceError, verify_presentation};

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

    async fn run(f: &Fixture, hook: &Arc<TestFaceCheckHook>, vc: String) -> crate::Verification {
        let resp = f.draft(vec![vc]).finish();
        let ctx = f.ctx().with_face(hook.clone());
        verify_presentation(&ctx, Some(&f.request), &resp).await
    }

    fn score(s: f64) -> Result<FaceCheckResult, SourceError> {
        Ok(FaceCheckResult {
            match_confidence_score: s,
            source_photo_quality: Some("HIGH".into()),
        })
    }

    #[tokio::test]
    async fn without_a_hook_the_request_is_refused() {
        let f = asking();
        let v = f.verify(f.draft(vec![with_photo(&f)])).await;
        let e = assert_fails(&v, "PRES-049", &name());
        assert!(e.to_string().contains("no face check"), "{e}");
        assert!(!e.is_transient());
    }

    #[tokio::test]
    async fn passing_score_is_reported() {
        let f = asking();
        let hook = Arc::new(TestFaceCheckHook::new(score(83.2)));
        let v = run(&f, &hook, with_photo(&f)).await;
        let p = assert_verified(&v);
        assert_eq!(p.credentials[0].face_check, score(83.2).ok());
        assert_eq!(
            hook.calls(),
            vec![("req-1".to_owned(), "iVBORw0KGgo=".to_owned(), 70)]
        );
    }

    #[tokio::test]
    async fn missing_photo_fails() {
        let f = asking();
        let hook = Arc::new(TestFaceCheckHook::new(score(90.0)));
        let v = run(&f, &hook, f.vc(VE)).await;
        assert_fails(&v, "PRES-050", &name());
        assert!(hook.calls().is_empty());
    }

    #[tokio::test]
    async fn low_score_fails() {
        let f = asking();
        let hook = Arc::new(TestFaceCheckHook::new(score(41.0)));
        let v = run(&f, &hook, with_photo(&f)).await;
        let e = assert_fails(&v, "PRES-051", &name());
        assert_eq!(e.hosted_code(), "claimValidationError");
        assert!(e.to_string().contains("41 below threshold 70"), "{e}");
    }

    #[tokio::test]
    async fn matcher_refusal_fails() {
        let f = asking();
        let hook = Arc::new(TestFaceCheckHook::new(Err(SourceError::Invalid(
            "no face found in the capture".into(),
        ))));
        assert_fails(&run(&f, &hook, with_photo(&f)).await, "PRES-052", &name());
        let hook = Arc::new(TestFaceCheckHook::new(score(f64::NAN)));
        assert_fails(&run(&f, &hook, with_photo(&f)).await, "PRES-052", &name());
    }

    #[tokio::test]
    async fn matcher_outage_is_transient() {
        let f = asking();
        let hook = Arc::new(TestFaceCheckHook::new(Err(SourceError::Unavailable(
            "matcher did not answer".into(),
        ))));
        assert_unavailable(&run(&f, &hook, with_photo(&f)).await, "PRES-053", &name());
    }
}
