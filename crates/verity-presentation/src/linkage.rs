//! [`DomainLinkageChecker`]: the production [`LinkageChecker`], over
//! `verity_linked_domains::LinkedDomainVerifier`.

use async_trait::async_trait;
use verity_linked_domains::{LinkageResult, LinkedDomainVerifier};

use crate::LinkageChecker;

/// Checks issuers' DIF Well-Known DID Configuration with a [`LinkedDomainVerifier`].
#[derive(Debug, Clone)]
pub struct DomainLinkageChecker {
    verifier: LinkedDomainVerifier,
}

impl DomainLinkageChecker {
    /// Wraps `verifier` (its resolver, fetch policy and skew apply).
    pub fn new(verifier: LinkedDomainVerifier) -> Self {
        Self { verifier }
    }
}

#[async_trait]
impl LinkageChecker for DomainLinkageChecker {
    async fn check(&self, did: &str, now: i64) -> LinkageResult {
        let report = self.verifier.verify(did, now).await;
        for step in &report.steps {
            tracing::debug!(did, step = %step.name, outcome = ?step.outcome, detail = %step.detail, "linked domain step");
        }
        report.result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use verity_did::test_util::StaticResolver;
    use verity_did::{FetchPolicy, HttpFetcher};
    use verity_jose::Algorithm;
    use verity_linked_domains::UnverifiedReason;

    use super::*;
    use crate::testkit::{NOW, Party};

    fn checker(resolver: StaticResolver) -> DomainLinkageChecker {
        let fetcher = HttpFetcher::new(FetchPolicy::default()).unwrap();
        DomainLinkageChecker::new(LinkedDomainVerifier::new(Arc::new(resolver), fetcher))
    }

    #[tokio::test]
    async fn issuer_without_linked_domains_is_unverified() {
        let issuer = Party::web("issuer.example", Algorithm::ES256);
        let c = checker(StaticResolver::new().with(issuer.document(&[])));
        assert_eq!(
            c.check(&issuer.did, NOW).await,
            LinkageResult::Unverified {
                reason: UnverifiedReason::NoLinkedDomainsService,
                origin: None
            }
        );
    }

    #[tokio::test]
    async fn unresolvable_issuer_is_not_checked() {
        let c = checker(StaticResolver::new());
        assert!(matches!(
            c.check("did:web:nowhere.example", NOW).await,
            LinkageResult::NotChecked { .. }
        ));
    }
}
