//! Request known and not expired; `state` matches.

use crate::record::Recorder;
use crate::{PresentationError, PresentationRequest};

/// The request must exist and not have expired at `now`.
pub(crate) fn check_known<'r>(
    rec: &mut Recorder,
    request: Option<&'r PresentationRequest>,
    now: i64,
) -> Result<&'r PresentationRequest, PresentationError> {
    let Some(request) = request else {
        return Err(rec.fail("request.known", PresentationError::RequestNotFound));
    };
    rec.pass("request.known", format!("request {}", request.request_id));
    if request.requested_credentials.is_empty() {
        return Err(rec.fail("request.requested", PresentationError::NothingRequested));
    }
    // Our own clock set the expiry, so no skew applies.
    if now >= request.expires_at {
        return Err(rec.fail(
            "request.expiry",
            PresentationError::RequestExpired {
                expires_at: request.expires_at,
                now,
            },
        ));
    }
    rec.pass(
        "request.expiry",
        format!("expires at {}", request.expires_at),
    );
    Ok(request)
}

/// The posted `state` must be the request's.
pub(crate) fn check_state(
    rec: &mut Recorder,
    request: &PresentationRequest,
    state: &str,
) -> Result<(), PresentationError> {
    if state != request.state {
        return Err(rec.fail("state", PresentationError::StateMismatch));
    }
    rec.pass("state", "matches the request");
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;
    use crate::verify_presentation;

    #[tokio::test]
    async fn unknown_request_fails() {
        let f = Fixture::new();
        let resp = f
            .draft_for(&f.request, vec![f.vc("VerifiedEmployee")])
            .finish();
        let v = verify_presentation(&f.ctx(), None, &resp).await;
        let e = assert_fails(&v, "PRES-001", "request.known");
        assert_eq!(e.hosted_code(), "requestNotFound");
    }

    #[tokio::test]
    async fn a_request_for_nothing_verifies_nothing() {
        let mut f = Fixture::new();
        let resp = f.draft(vec![f.vc("VerifiedEmployee")]).finish();
        f.request.requested_credentials.clear();
        let v = f.verify_response(&resp).await;
        assert_fails(&v, "PRES-055", "request.requested");
    }

    #[tokio::test]
    async fn expired_request_fails() {
        let mut f = Fixture::new();
        f.request.expires_at = NOW;
        let v = f.verify(f.draft(vec![f.vc("VerifiedEmployee")])).await;
        let e = assert_fails(&v, "PRES-002", "request.expiry");
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[tokio::test]
    async fn state_mismatch_fails() {
        let f = Fixture::new();
        let mut d = f.draft(vec![f.vc("VerifiedEmployee")]);
        d.state = "another-request".into();
        let v = f.verify(d).await;
        assert_fails(&v, "PRES-003", "state");
    }
}
