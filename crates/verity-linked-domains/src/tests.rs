//! End-to-end checks against a real loopback HTTP server serving `did.json` and
//! `did-configuration.json` for `did:web:issuer.test` (mapped to the server by a test-only
//! host override).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use verity_did::test_util::{TestResponse, TestServer};
use verity_did::{DidDocument, FetchPolicy, HttpFetcher, WebResolver};
use verity_jose::{Algorithm, LocalSigner, SigningKey};

use crate::*;

const DID: &str = "did:web:issuer.test";
const ORIGIN: &str = "https://issuer.test";
const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

struct Fixture {
    server: TestServer,
    other_server: TestServer,
    signer: LocalSigner,
    verifier: LinkedDomainVerifier,
}

impl Fixture {
    /// `did:web:issuer.test` with one ES256 key `#key-1` and the given LinkedDomains origins.
    async fn new(origins: &[&str]) -> Self {
        let server = TestServer::start().await;
        let other_server = TestServer::start().await;
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let jwk = key.public_jwk();
        let signer = LocalSigner::new(key, format!("{DID}#key-1"));
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        let doc = DidDocument::for_web_authority(DID, &[("key-1".into(), jwk)], &origins);
        server.route(
            "/.well-known/did.json",
            TestResponse::json(&doc.to_json_value()),
        );
        let policy = FetchPolicy {
            allow_loopback: true,
            host_overrides: HashMap::from([
                ("issuer.test".to_owned(), server.addr()),
                ("other.test".to_owned(), other_server.addr()),
            ]),
            ..FetchPolicy::default()
        };
        let fetcher = HttpFetcher::new(policy).unwrap();
        let resolver = Arc::new(WebResolver::new(fetcher.clone()));
        let verifier = LinkedDomainVerifier::new(resolver, fetcher);
        Self {
            server,
            other_server,
            signer,
            verifier,
        }
    }

    async fn linkage(&self, origin: &str, nbf: i64, validity: i64) -> String {
        build_domain_linkage_jwt(&self.signer, DID, origin, nbf, validity)
            .await
            .unwrap()
    }

    fn publish(&self, jwts: Vec<String>) {
        self.server.route(
            DID_CONFIGURATION_PATH,
            TestResponse::json(&DidConfiguration::new(jwts).to_json_value()),
        );
    }
}

fn reason(report: &LinkageReport) -> UnverifiedReason {
    match &report.result {
        LinkageResult::Unverified { reason, .. } => reason.clone(),
        other => panic!(
            "expected Unverified, got {other:?}; steps: {:#?}",
            report.steps
        ),
    }
}

fn failed_step(report: &LinkageReport) -> &Step {
    report
        .steps
        .iter()
        .find(|s| s.outcome == StepOutcome::Failed)
        .expect("a failed step")
}

#[tokio::test]
async fn verifies_a_published_linkage() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.publish(vec![fx.linkage(ORIGIN, NOW, 30 * DAY).await]);

    let report = fx.verifier.verify(DID, NOW + 10).await;
    assert_eq!(
        report.result,
        LinkageResult::Verified {
            origin: ORIGIN.into()
        },
        "{report:#?}"
    );
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Passed)
    );
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "resolve DID",
            "LinkedDomains service",
            "fetch DID configuration",
            "find domain linkage credential",
            "verify domain linkage credential"
        ]
    );

    // The same for one origin, given with a trailing slash.
    let report = fx
        .verifier
        .verify_origin(DID, "https://issuer.test/", NOW + 10)
        .await;
    assert!(report.is_verified(), "{report:#?}");
    assert_eq!(fx.server.hits(DID_CONFIGURATION_PATH), 2);
}

#[tokio::test]
async fn round_trips_our_own_configuration() {
    let fx = Fixture::new(&[ORIGIN]).await;
    let jwt = fx.linkage(ORIGIN, NOW, DAY).await;
    let config = DidConfiguration::new(vec![jwt.clone()]);
    let served = config.to_json_value();
    let back: DidConfiguration = serde_json::from_value(served.clone()).unwrap();
    assert_eq!(back, config);
    assert_eq!(back.jwts().collect::<Vec<_>>(), [jwt.as_str()]);
    fx.server
        .route(DID_CONFIGURATION_PATH, TestResponse::json(&served));
    assert!(fx.verifier.verify(DID, NOW).await.is_verified());
}

#[tokio::test]
async fn no_linked_domains_service() {
    let fx = Fixture::new(&[]).await;
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::NoLinkedDomainsService);
    assert!(matches!(
        report.result,
        LinkageResult::Unverified { origin: None, .. }
    ));
    assert_eq!(fx.server.hits(DID_CONFIGURATION_PATH), 0);
}

#[tokio::test]
async fn origin_not_in_did_document() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.publish(vec![fx.linkage("https://other.test", NOW, DAY).await]);
    let report = fx
        .verifier
        .verify_origin(DID, "https://other.test", NOW)
        .await;
    assert_eq!(reason(&report), UnverifiedReason::OriginNotInDidDocument);
    assert_eq!(failed_step(&report).name, "origin listed in DID document");
    assert_eq!(
        fx.other_server.hits(DID_CONFIGURATION_PATH),
        0,
        "not fetched"
    );
    // An origin that is not an origin at all.
    let report = fx
        .verifier
        .verify_origin(DID, "https://issuer.test/path", NOW)
        .await;
    assert!(matches!(reason(&report), UnverifiedReason::Malformed(_)));
}

#[tokio::test]
async fn configuration_missing() {
    let fx = Fixture::new(&[ORIGIN]).await;
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::ConfigurationMissing);
    let step = failed_step(&report);
    assert_eq!(step.name, "fetch DID configuration");
    assert!(
        step.detail.contains("404") && step.detail.contains("FETCH-008"),
        "{}",
        step.detail
    );
    assert!(matches!(
        report.result,
        LinkageResult::Unverified { origin: Some(ref o), .. } if o == ORIGIN
    ));
}

#[tokio::test]
async fn oversized_configuration_is_missing() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.server.route(
        DID_CONFIGURATION_PATH,
        TestResponse::bytes(vec![b' '; 101 * 1024]),
    );
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::ConfigurationMissing);
    assert!(failed_step(&report).detail.contains("body too large"));
}

#[tokio::test]
async fn malformed_configurations() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.server.route(
        DID_CONFIGURATION_PATH,
        TestResponse::bytes(b"<html>".to_vec()),
    );
    assert!(matches!(
        reason(&fx.verifier.verify(DID, NOW).await),
        UnverifiedReason::Malformed(_)
    ));

    fx.server.route(
        DID_CONFIGURATION_PATH,
        TestResponse::json(&json!({"@context": "https://example.com/other", "linked_dids": []})),
    );
    let report = fx.verifier.verify(DID, NOW).await;
    assert!(
        matches!(reason(&report), UnverifiedReason::Malformed(ref m) if m.contains("@context"))
    );

    fx.server.route(
        DID_CONFIGURATION_PATH,
        TestResponse::json(&json!({"linked_dids": 5})),
    );
    assert!(matches!(
        reason(&fx.verifier.verify(DID, NOW).await),
        UnverifiedReason::Malformed(_)
    ));
}

#[tokio::test]
async fn no_credential_from_this_did() {
    let fx = Fixture::new(&[ORIGIN]).await;
    let stranger = LocalSigner::new(
        SigningKey::generate(Algorithm::EdDSA).unwrap(),
        "did:web:stranger.test#k",
    );
    let theirs = build_domain_linkage_jwt(&stranger, "did:web:stranger.test", ORIGIN, NOW, DAY)
        .await
        .unwrap();
    fx.publish(vec![theirs, "not-a-jwt".into()]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::NoMatchingCredential);
    assert!(failed_step(&report).detail.contains("none of 2"));
}

#[tokio::test]
async fn signed_by_another_key() {
    let fx = Fixture::new(&[ORIGIN]).await;
    // Claims the DID's kid, but the key is not the one in the DID document.
    let impostor = LocalSigner::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        format!("{DID}#key-1"),
    );
    fx.publish(vec![
        build_domain_linkage_jwt(&impostor, DID, ORIGIN, NOW, DAY)
            .await
            .unwrap(),
    ]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::SignatureInvalid);
    assert!(
        failed_step(&report).detail.contains("signature"),
        "{:?}",
        report.steps
    );

    // A kid the DID document does not have.
    let unknown = LocalSigner::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        format!("{DID}#key-9"),
    );
    fx.publish(vec![
        build_domain_linkage_jwt(&unknown, DID, ORIGIN, NOW, DAY)
            .await
            .unwrap(),
    ]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::SignatureInvalid);
    assert!(
        failed_step(&report).detail.contains("DID-005"),
        "{:?}",
        report.steps
    );
}

#[tokio::test]
async fn valid_credential_next_to_a_forged_one_still_verifies() {
    let fx = Fixture::new(&[ORIGIN]).await;
    let impostor = LocalSigner::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        format!("{DID}#key-1"),
    );
    let forged = build_domain_linkage_jwt(&impostor, DID, ORIGIN, NOW, DAY)
        .await
        .unwrap();
    fx.publish(vec![forged, fx.linkage(ORIGIN, NOW, DAY).await]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert!(report.is_verified(), "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.outcome == StepOutcome::Failed)
    );
}

#[tokio::test]
async fn origin_mismatch() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.publish(vec![fx.linkage("https://other.test", NOW, DAY).await]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(reason(&report), UnverifiedReason::OriginMismatch);
    assert!(failed_step(&report).detail.contains("https://other.test"));
}

#[tokio::test]
async fn expired_and_not_yet_valid() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.publish(vec![fx.linkage(ORIGIN, NOW, DAY).await]);
    let report = fx.verifier.verify(DID, NOW + 2 * DAY).await;
    assert_eq!(reason(&report), UnverifiedReason::Expired);
    let report = fx.verifier.verify(DID, NOW - DAY).await;
    assert_eq!(reason(&report), UnverifiedReason::NotYetValid);
    // Within the default 60 s skew either side.
    assert!(fx.verifier.verify(DID, NOW - 30).await.is_verified());
    assert!(fx.verifier.verify(DID, NOW + DAY + 30).await.is_verified());
    let strict = fx.verifier.clone().with_skew(0);
    assert_eq!(
        reason(&strict.verify(DID, NOW + DAY).await),
        UnverifiedReason::Expired
    );
}

#[tokio::test]
async fn claims_that_break_the_format_are_malformed() {
    let fx = Fixture::new(&[ORIGIN]).await;
    // Signed correctly by the DID's key, but `sub` is someone else and the type is wrong.
    for claims in [
        json!({"iss": DID, "sub": "did:web:x.test", "nbf": NOW, "exp": NOW + DAY, "vc": {
            "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
            "type": ["VerifiableCredential", "DomainLinkageCredential"], "issuer": DID,
            "credentialSubject": {"id": DID, "origin": ORIGIN}}}),
        json!({"iss": DID, "sub": DID, "nbf": NOW, "exp": NOW + DAY, "vc": {
            "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
            "type": ["VerifiableCredential"], "issuer": DID,
            "credentialSubject": {"id": DID, "origin": ORIGIN}}}),
        json!({"iss": DID, "sub": DID, "exp": NOW + DAY, "vc": {
            "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
            "type": ["VerifiableCredential", "DomainLinkageCredential"], "issuer": {"id": DID},
            "credentialSubject": {"id": DID, "origin": ORIGIN}}}),
    ] {
        let jwt = verity_jose::sign_jwt(&fx.signer, Some("JWT"), &claims)
            .await
            .unwrap()
            .token;
        fx.publish(vec![jwt]);
        let report = fx.verifier.verify(DID, NOW).await;
        assert!(
            matches!(reason(&report), UnverifiedReason::Malformed(_)),
            "{claims}: {report:#?}"
        );
    }
}

/// Other kinds of token signed by the DID's key are not linkages, even when they carry a
/// DomainLinkageCredential-shaped `vc`: a revocable credential (credentialStatus), a status
/// list, a token typed as a request object, or one carrying a presentation's claims.
#[tokio::test]
async fn other_token_kinds_are_not_linkages() {
    let fx = Fixture::new(&[ORIGIN]).await;
    let good = || {
        json!({"iss": DID, "sub": DID, "nbf": NOW, "exp": NOW + DAY, "vc": {
            "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
            "type": ["VerifiableCredential", "DomainLinkageCredential"], "issuer": DID,
            "credentialSubject": {"id": DID, "origin": ORIGIN}}})
    };
    let sign = |typ: &'static str, claims: serde_json::Value| {
        let signer = &fx.signer;
        async move {
            verity_jose::sign_jwt(signer, Some(typ), &claims)
                .await
                .unwrap()
                .token
        }
    };
    let mut revocable = good();
    revocable["vc"]["credentialStatus"] = json!({"type": "BitstringStatusListEntry",
        "statusListCredential": "https://issuer.test/status/1", "statusListIndex": "1",
        "statusPurpose": "revocation"});
    let mut list = good();
    list["vc"]["type"] = json!([
        "VerifiableCredential",
        "DomainLinkageCredential",
        "BitstringStatusListCredential"
    ]);
    let mut presentation = good();
    presentation["nonce"] = json!("n-1");
    for (jwt, needle) in [
        (sign("JWT", revocable).await, "vc.credentialStatus"),
        (sign("JWT", list).await, "BitstringStatusListCredential"),
        (sign("JWT", presentation).await, "nonce"),
        (
            sign("oauth-authz-req+jwt", good()).await,
            "oauth-authz-req+jwt",
        ),
    ] {
        fx.publish(vec![jwt]);
        let report = fx.verifier.verify(DID, NOW).await;
        match reason(&report) {
            UnverifiedReason::Malformed(m) => {
                assert!(m.contains("wrong token kind") && m.contains(needle), "{m}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
    // The linkage Verity builds passes its own kind's check, and no typ is fine too.
    let built = fx.linkage(ORIGIN, NOW, DAY).await;
    let jws = verity_jose::UnverifiedJws::parse(&built).unwrap();
    verity_jose::TokenKind::DomainLinkage
        .check_value(jws.header(), &jws.payload_unverified().unwrap())
        .unwrap();
    fx.publish(vec![
        verity_jose::sign_jwt(&fx.signer, None, &good())
            .await
            .unwrap()
            .token,
    ]);
    assert!(fx.verifier.verify(DID, NOW).await.is_verified());
}

#[tokio::test]
async fn did_resolution_failure_is_not_checked() {
    let fx = Fixture::new(&[ORIGIN]).await;
    fx.server.unroute("/.well-known/did.json");
    let report = fx.verifier.verify(DID, NOW).await;
    assert!(
        matches!(report.result, LinkageResult::NotChecked { ref reason } if reason.contains("404")),
        "{report:#?}"
    );
    let report = fx.verifier.verify_origin(DID, ORIGIN, NOW).await;
    assert!(matches!(report.result, LinkageResult::NotChecked { .. }));
}

#[tokio::test]
async fn any_listed_origin_may_verify() {
    let fx = Fixture::new(&["https://other.test", ORIGIN]).await;
    fx.publish(vec![fx.linkage(ORIGIN, NOW, DAY).await]);
    let report = fx.verifier.verify(DID, NOW).await;
    assert_eq!(
        report.result,
        LinkageResult::Verified {
            origin: ORIGIN.into()
        }
    );
    // other.test was tried first and had no configuration.
    assert_eq!(fx.other_server.hits(DID_CONFIGURATION_PATH), 1);
    // With no origin verifying, the first origin's failure is reported.
    fx.server.unroute(DID_CONFIGURATION_PATH);
    let report = fx.verifier.verify(DID, NOW).await;
    assert!(matches!(
        report.result,
        LinkageResult::Unverified { reason: UnverifiedReason::ConfigurationMissing, origin: Some(ref o) }
            if o == "https://other.test"
    ));
}

#[test]
fn report_serialises_for_cli_output() {
    let r = LinkageResult::Unverified {
        reason: UnverifiedReason::Malformed("x".into()),
        origin: Some(ORIGIN.into()),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"status": "unverified", "reason": {"code": "malformed", "detail": "x"}, "origin": ORIGIN})
    );
    let r = LinkageResult::Verified {
        origin: ORIGIN.into(),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"status": "verified", "origin": ORIGIN})
    );
    assert_eq!(
        serde_json::to_value(UnverifiedReason::Expired).unwrap(),
        json!({"code": "expired"})
    );
    for (reason, name) in [
        (
            UnverifiedReason::NoLinkedDomainsService,
            "no_linked_domains_service",
        ),
        (
            UnverifiedReason::OriginNotInDidDocument,
            "origin_not_in_did_document",
        ),
        (
            UnverifiedReason::ConfigurationMissing,
            "configuration_missing",
        ),
        (
            UnverifiedReason::NoMatchingCredential,
            "no_matching_credential",
        ),
        (UnverifiedReason::SignatureInvalid, "signature_invalid"),
        (UnverifiedReason::OriginMismatch, "origin_mismatch"),
        (UnverifiedReason::Expired, "expired"),
        (UnverifiedReason::NotYetValid, "not_yet_valid"),
        (UnverifiedReason::Malformed("m".into()), "malformed"),
    ] {
        assert_eq!(reason.as_str(), name);
        assert!(!reason.to_string().is_empty());
    }
}
