//! Linked domain (DIF Well-Known DID Configuration, protocol.md §4): when the request asks,
//! the issuer's domain must verify; the issuer's origin is reported either way when known.

use verity_linked_domains::LinkageResult;

use super::credential::CheckedCredential;
use crate::record::Recorder;
use crate::{DomainValidation, PresentationError, RequestedCredential, VerifyContext};

/// Runs the linkage check when asked; otherwise reports the first origin the issuer's DID
/// document lists (already resolved for the signature, so it costs nothing) as unverified.
pub(crate) async fn check_linked_domain(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    requested: &RequestedCredential,
    credential: &CheckedCredential,
) -> Result<Option<DomainValidation>, PresentationError> {
    let descriptor = requested.descriptor_id();
    let name = format!("credential[{descriptor}].linked_domain");
    if !requested.validate_linked_domain {
        let listed = credential
            .issuer_document
            .linked_domain_origins()
            .into_iter()
            .next();
        rec.skip(
            name,
            match &listed {
                Some(origin) => format!("not requested; the issuer lists {origin}"),
                None => "not requested; the issuer lists no linked domain".to_owned(),
            },
        );
        return Ok(listed.map(|url| DomainValidation {
            url,
            verified: false,
        }));
    }
    match ctx.linkage.check(&credential.issuer, ctx.now).await {
        LinkageResult::Verified { origin } => {
            rec.pass(name, format!("{} is linked to {origin}", credential.issuer));
            Ok(Some(DomainValidation {
                url: origin,
                verified: true,
            }))
        }
        LinkageResult::Unverified { reason, origin } => Err(rec.fail(
            name,
            PresentationError::LinkedDomainUnverified {
                descriptor: descriptor.to_owned(),
                issuer: credential.issuer.clone(),
                reason: format!("{reason} ({})", reason.as_str()),
                origin,
            },
        )),
        LinkageResult::NotChecked { reason } => Err(rec.fail(
            name,
            PresentationError::LinkedDomainUnavailable {
                descriptor: descriptor.to_owned(),
                issuer: credential.issuer.clone(),
                reason,
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use verity_linked_domains::{LinkageResult, UnverifiedReason};

    use crate::testkit::*;
    use crate::{CheckOutcome, DomainValidation, PresentationError};

    const VE: &str = "VerifiedEmployee";
    const ORIGIN: &str = "https://issuer.example";

    fn name() -> String {
        format!("credential[{VE}].linked_domain")
    }

    fn asking() -> Fixture {
        let mut f = Fixture::new();
        f.request.requested_credentials[0].validate_linked_domain = true;
        f
    }

    #[tokio::test]
    async fn verified_domain_passes_and_reports_the_url() {
        let f = asking();
        f.linkage.set(
            &f.issuer.did,
            LinkageResult::Verified {
                origin: ORIGIN.into(),
            },
        );
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        assert_eq!(
            assert_verified(&v).credentials[0].domain_validation,
            Some(DomainValidation {
                url: ORIGIN.into(),
                verified: true
            })
        );
        assert_eq!(f.linkage.calls(), 1);
    }

    #[tokio::test]
    async fn unverified_domain_fails() {
        let f = asking();
        f.linkage.set(
            &f.issuer.did,
            LinkageResult::Unverified {
                reason: UnverifiedReason::OriginMismatch,
                origin: Some(ORIGIN.into()),
            },
        );
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        let e = assert_fails(&v, "PRES-047", &name());
        assert!(e.to_string().contains("origin_mismatch"), "{e}");
        assert!(matches!(
            e,
            PresentationError::LinkedDomainUnverified { origin: Some(o), .. } if o == ORIGIN
        ));
    }

    #[tokio::test]
    async fn unchecked_domain_is_transient() {
        let f = asking();
        f.linkage.set(
            &f.issuer.did,
            LinkageResult::NotChecked {
                reason: "DID document fetch timed out".into(),
            },
        );
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        assert_unavailable(&v, "PRES-048", &name());
    }

    /// Not requested: no check runs, and the issuer's listed origin is still reported.
    #[tokio::test]
    async fn not_requested_reports_listed_origin_unverified() {
        let f = Fixture::new();
        f.web.insert(f.issuer.document(&[ORIGIN.to_owned()]));
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        assert_eq!(
            assert_verified(&v).credentials[0].domain_validation,
            Some(DomainValidation {
                url: ORIGIN.into(),
                verified: false
            })
        );
        assert_eq!(outcome_of(&v, &name()), Some(CheckOutcome::Skipped));
        assert_eq!(f.linkage.calls(), 0);
        // An issuer listing no origin reports none.
        f.web.insert(f.issuer.document(&[]));
        let v = f.verify(f.draft(vec![f.vc(VE)])).await;
        assert_eq!(assert_verified(&v).credentials[0].domain_validation, None);
    }
}
