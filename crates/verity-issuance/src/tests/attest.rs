//! Attestation collection and claim mapping: each attestation present, missing when
//! required, invalid, and with claims that do not map.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use verity_contracts::{Contract, ContractError};
use verity_jose::{Algorithm, LocalSigner};
use verity_presentation::VerifyContext;
use verity_presentation::test_util::{TestLinkageChecker, TestReplayGuard, TestStatusSource};

use super::*;
use crate::test_util::TestTokenValidator;
use crate::{AttestationContext, CredentialDraft, collect_claims, issue_credential};

const OIDC: &str = "https://login.example/.well-known/openid-configuration";
const HR: &str = "https://hr.example/.well-known/openid-configuration";

/// The seams of one attestation run.
struct Seams {
    tokens: TestTokenValidator,
    resolver: Arc<TestResolver>,
    replay: Arc<TestReplayGuard>,
    verifier: VerifyContext,
    hint: Map<String, Value>,
}

impl Seams {
    fn new() -> Seams {
        let resolver = Arc::new(TestResolver::default());
        let replay = Arc::new(TestReplayGuard::new());
        // A stale time: collect_claims must re-time the verifier to its own `now`.
        let verifier = VerifyContext::new(
            resolver.clone(),
            Arc::new(TestStatusSource::new()),
            Arc::new(TestLinkageChecker::new()),
            replay.clone(),
            0,
        );
        Seams {
            tokens: TestTokenValidator::new(),
            resolver,
            replay,
            verifier,
            hint: map(json!({ "given_name": "Megan", "family_name": "Bowen" })),
        }
    }

    fn ctx(&self) -> AttestationContext<'_> {
        AttestationContext {
            tokens: &self.tokens,
            verifier: &self.verifier,
            issuer_did: ISSUER,
            nonce: NONCE,
            request_expires_at: NOW + 300,
            hint_claims: &self.hint,
            now: NOW,
        }
    }

    async fn collect(
        &self,
        contract: &Contract,
        attestations: Value,
    ) -> Result<Map<String, Value>, IssuanceError> {
        let (_, holder) = holder_request(|c| c["attestations"] = attestations).await;
        collect_claims(&self.ctx(), contract, &holder).await
    }
}

#[track_caller]
fn assert_refused(
    r: Result<Map<String, Value>, IssuanceError>,
    code: &str,
    target: &str,
) -> IssuanceError {
    match r {
        Ok(claims) => panic!("expected {code} at {target}, got claims {claims:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            assert_eq!(e.target(), Some(target), "{e}");
            e
        }
    }
}

fn id_token_contract(required: bool) -> Contract {
    contract_with(
        json!({ "idTokens": [ {
            "configuration": OIDC, "clientId": "verity-wallet", "required": required,
            "mapping": [
                { "outputClaim": "displayName", "inputClaim": "$.name", "required": true, "indexed": true, "type": "String" },
                { "outputClaim": "email", "inputClaim": "$.preferred_username", "required": false, "type": "String" }
            ] } ] }),
        &["displayName", "email"],
        86_400,
    )
}

fn self_issued_contract() -> Contract {
    contract_with(
        json!({ "selfIssued": { "required": true, "mapping": [
            { "outputClaim": "nickname", "inputClaim": "$.nickname", "required": true, "type": "String" },
            { "outputClaim": "favouriteNumber", "inputClaim": "$.favourite_number", "required": false, "type": "Number" }
        ] } }),
        &["nickname", "favouriteNumber:Number"],
        86_400,
    )
}

fn access_token_contract() -> Contract {
    contract_with(
        json!({ "accessTokens": [ {
            "configuration": HR, "clientId": "verity-wallet", "audience": "api://hr",
            "required": true,
            "mapping": [ { "outputClaim": "employeeId", "inputClaim": "$.employee_id", "required": true, "indexed": true, "type": "String" } ]
        } ] }),
        &["employeeId"],
        86_400,
    )
}

fn presentation_contract(trusted: &[&str]) -> Contract {
    contract_with(
        json!({ "presentations": [ {
            "credentialType": "TestCard", "trustedIssuers": trusted, "required": true,
            "mapping": [ { "outputClaim": "expertName", "inputClaim": "$.givenName", "required": true, "type": "String" } ]
        } ] }),
        &["expertName"],
        86_400,
    )
}

#[tokio::test]
async fn id_token_hint_claims_are_mapped() {
    let s = Seams::new();
    let claims = s.collect(&hint_contract(), json!({})).await.unwrap();
    assert_eq!(
        claims,
        map(json!({ "givenName": "Megan", "familyName": "Bowen" }))
    );
}

#[tokio::test]
async fn id_token_hint_claims_that_do_not_map_are_refused() {
    let target = "attestations.idTokens[https://self-issued.me]";
    let mut s = Seams::new();
    s.hint.remove("given_name");
    let e = assert_refused(
        s.collect(&hint_contract(), json!({})).await,
        "ISS-034",
        target,
    );
    assert!(
        matches!(&e, IssuanceError::ClaimMapping { source, .. }
            if matches!(**source, ContractError::MissingRequiredClaim { .. })),
        "{e}"
    );
    s.hint.insert("given_name".into(), json!(42));
    let e = assert_refused(
        s.collect(&hint_contract(), json!({})).await,
        "ISS-034",
        target,
    );
    assert!(
        matches!(&e, IssuanceError::ClaimMapping { source, .. }
            if matches!(**source, ContractError::ClaimTypeMismatch { .. })),
        "{e}"
    );
}

#[tokio::test]
async fn id_tokens_are_validated_and_mapped() {
    let s = Seams::new();
    s.tokens.accept(
        OIDC,
        "id-token-1",
        map(json!({ "name": "Megan Bowen", "preferred_username": "megan@example" })),
    );
    let claims = s
        .collect(
            &id_token_contract(true),
            json!({ "idTokens": { OIDC: "id-token-1" } }),
        )
        .await
        .unwrap();
    assert_eq!(
        claims,
        map(json!({ "displayName": "Megan Bowen", "email": "megan@example" }))
    );
    assert_eq!(s.tokens.calls(), vec![(OIDC.to_owned(), NOW)]);
}

#[tokio::test]
async fn a_required_id_token_must_be_sent() {
    let s = Seams::new();
    let target = format!("attestations.idTokens[{OIDC}]");
    for att in [
        json!({}),
        json!({ "idTokens": {} }),
        json!({ "idTokens": { OIDC: 7 } }),
        json!({ "idTokens": { "https://other.example": "id-token-1" } }),
    ] {
        let e = assert_refused(
            s.collect(&id_token_contract(true), att).await,
            "ISS-030",
            &target,
        );
        assert_eq!(
            e.to_string(),
            format!("an id_token from `{OIDC}` is required")
        );
    }
    // An optional one may be left out.
    let claims = s
        .collect(&id_token_contract(false), json!({}))
        .await
        .unwrap();
    assert!(claims.is_empty());
    assert!(s.tokens.calls().is_empty());
}

#[tokio::test]
async fn an_invalid_id_token_is_refused() {
    let s = Seams::new();
    let target = format!("attestations.idTokens[{OIDC}]");
    s.tokens.reject(OIDC, "forged", "signature does not verify");
    let e = assert_refused(
        s.collect(
            &id_token_contract(true),
            json!({ "idTokens": { OIDC: "forged" } }),
        )
        .await,
        "ISS-031",
        &target,
    );
    assert_eq!(e.to_string(), "bad signature: signature does not verify");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn id_token_claims_that_do_not_map_are_refused() {
    let s = Seams::new();
    s.tokens.accept(
        OIDC,
        "no-name",
        map(json!({ "preferred_username": "megan@example" })),
    );
    let e = assert_refused(
        s.collect(
            &id_token_contract(true),
            json!({ "idTokens": { OIDC: "no-name" } }),
        )
        .await,
        "ISS-034",
        &format!("attestations.idTokens[{OIDC}]"),
    );
    assert!(e.to_string().contains("missing required claim"), "{e}");
}

#[tokio::test]
async fn self_issued_claims_are_mapped() {
    let s = Seams::new();
    let claims = s
        .collect(
            &self_issued_contract(),
            json!({ "selfIssued": { "nickname": "Meg", "favourite_number": 7 } }),
        )
        .await
        .unwrap();
    assert_eq!(
        claims,
        map(json!({ "nickname": "Meg", "favouriteNumber": 7 }))
    );
}

#[tokio::test]
async fn required_self_issued_claims_must_be_sent() {
    let s = Seams::new();
    for att in [
        json!({}),
        json!({ "selfIssued": {} }),
        json!({ "selfIssued": "Meg" }),
    ] {
        let e = assert_refused(
            s.collect(&self_issued_contract(), att).await,
            "ISS-030",
            "attestations.selfIssued",
        );
        assert_eq!(e.to_string(), "self-issued claims are required");
    }
}

#[tokio::test]
async fn self_issued_claims_that_do_not_map_are_refused() {
    let s = Seams::new();
    // Present but without the required claim, and with a mistyped optional one.
    for att in [
        json!({ "selfIssued": { "favourite_number": 7 } }),
        json!({ "selfIssued": { "nickname": "Meg", "favourite_number": "seven" } }),
    ] {
        assert_refused(
            s.collect(&self_issued_contract(), att).await,
            "ISS-034",
            "attestations.selfIssued",
        );
    }
}

#[tokio::test]
async fn access_tokens_are_validated_and_mapped() {
    let s = Seams::new();
    s.tokens
        .accept(HR, "at-1", map(json!({ "employee_id": "E-1" })));
    let claims = s
        .collect(
            &access_token_contract(),
            json!({ "accessTokens": { HR: "at-1" } }),
        )
        .await
        .unwrap();
    assert_eq!(claims, map(json!({ "employeeId": "E-1" })));
}

#[tokio::test]
async fn access_tokens_missing_invalid_or_unmappable_are_refused() {
    let s = Seams::new();
    let target = format!("attestations.accessTokens[{HR}]");
    let e = assert_refused(
        s.collect(&access_token_contract(), json!({})).await,
        "ISS-030",
        &target,
    );
    assert_eq!(
        e.to_string(),
        format!("an access token from `{HR}` is required")
    );
    // Unknown to the validator (malformed).
    let e = assert_refused(
        s.collect(
            &access_token_contract(),
            json!({ "accessTokens": { HR: "unknown" } }),
        )
        .await,
        "ISS-031",
        &target,
    );
    assert!(e.to_string().starts_with("malformed token"), "{e}");
    s.tokens
        .accept(HR, "at-2", map(json!({ "employee_id": 12 })));
    assert_refused(
        s.collect(
            &access_token_contract(),
            json!({ "accessTokens": { HR: "at-2" } }),
        )
        .await,
        "ISS-034",
        &target,
    );
}

/// An issuer (in the resolver), a credential of type `TestCard` it issued to `holder` with
/// this crate, and the holder's vp_token presenting it to `ISSUER` with the request nonce.
async fn presented(s: &Seams, holder: &Party, issuer: &Party, nonce: &str) -> String {
    s.resolver.web.insert(issuer.document());
    let signer = LocalSigner::new(
        verity_jose::SigningKey::from_secret_bytes(
            issuer.key.algorithm(),
            &issuer.key.to_secret_bytes(),
        )
        .unwrap(),
        issuer.kid.clone(),
    );
    let contract = hint_contract();
    let vc = issue_credential(
        &signer,
        CredentialDraft {
            contract: &contract,
            contract_id: uuid::Uuid::new_v4(),
            issuer_did: &issuer.did,
            holder_did: &holder.did,
            subject: map(json!({ "givenName": "Megan" })),
            expiration_cap: None,
            status: None,
            now: NOW - 3_600,
        },
    )
    .await
    .unwrap();
    holder.sign(&json!({
        "iss": holder.did, "aud": ISSUER, "nonce": nonce,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "nbf": NOW, "iat": NOW, "exp": NOW + 120,
        "vp": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": [vc.token],
        },
    }))
}

/// Collects for a holder request signed by `holder` itself.
async fn collect_as(
    s: &Seams,
    holder: &Party,
    contract: &Contract,
    attestations: Value,
) -> Result<Map<String, Value>, IssuanceError> {
    let mut claims = holder.holder_claims();
    claims["attestations"] = attestations;
    let request = verify(&TestResolver::default(), &holder.sign(&claims))
        .await
        .unwrap();
    collect_claims(&s.ctx(), contract, &request).await
}

#[tokio::test]
async fn a_presented_credential_of_our_own_authority_is_mapped() {
    let s = Seams::new();
    let holder = Party::holder(Algorithm::EdDSA);
    let issuer = Party::web("issuer.example", Algorithm::ES256);
    let vp = presented(&s, &holder, &issuer, NONCE).await;
    // No trusted issuers listed: the contract's own authority.
    let claims = collect_as(
        &s,
        &holder,
        &presentation_contract(&[]),
        json!({ "presentations": { "TestCard": vp } }),
    )
    .await
    .unwrap();
    assert_eq!(claims, map(json!({ "expertName": "Megan" })));
    // The vp_token's jti went to the replay guard handed in.
    assert_eq!(s.replay.consumed(), 1);
}

#[tokio::test]
async fn presentations_missing_or_failing_a_check_are_refused() {
    let s = Seams::new();
    let target = "attestations.presentations[TestCard]";
    let holder = Party::holder(Algorithm::EdDSA);
    let issuer = Party::web("issuer.example", Algorithm::ES256);
    let e = assert_refused(
        collect_as(&s, &holder, &presentation_contract(&[]), json!({})).await,
        "ISS-030",
        target,
    );
    assert_eq!(
        e.to_string(),
        "a presentation of a `TestCard` credential is required"
    );
    // Not a vp_token.
    let e = assert_refused(
        collect_as(
            &s,
            &holder,
            &presentation_contract(&[]),
            json!({ "presentations": { "TestCard": "garbage" } }),
        )
        .await,
        "ISS-032",
        target,
    );
    assert!(
        e.to_string().contains("(PRES-"),
        "names the verifier check: {e}"
    );
    // Another request's nonce.
    let vp = presented(&s, &holder, &issuer, "another-nonce").await;
    assert_refused(
        collect_as(
            &s,
            &holder,
            &presentation_contract(&[]),
            json!({ "presentations": { "TestCard": vp } }),
        )
        .await,
        "ISS-032",
        target,
    );
    // An issuer the contract does not trust.
    let vp = presented(&s, &holder, &issuer, NONCE).await;
    assert_refused(
        collect_as(
            &s,
            &holder,
            &presentation_contract(&["did:web:partner.example"]),
            json!({ "presentations": { "TestCard": vp } }),
        )
        .await,
        "ISS-032",
        target,
    );
    // Presented by someone else than the holder who signed the request.
    let stranger = Party::holder(Algorithm::EdDSA);
    let vp = presented(&s, &stranger, &issuer, NONCE).await;
    assert_refused(
        collect_as(
            &s,
            &holder,
            &presentation_contract(&[]),
            json!({ "presentations": { "TestCard": vp } }),
        )
        .await,
        "ISS-032",
        target,
    );
    assert_eq!(s.replay.consumed(), 0, "refused presentations burn no jti");
}

#[tokio::test]
async fn a_presentation_that_cannot_be_checked_is_an_outage() {
    let s = Seams::new();
    let holder = Party::holder(Algorithm::EdDSA);
    let issuer = Party::web("issuer.example", Algorithm::ES256);
    let vp = presented(&s, &holder, &issuer, NONCE).await;
    s.replay.set_unavailable(true);
    let e = assert_refused(
        collect_as(
            &s,
            &holder,
            &presentation_contract(&[]),
            json!({ "presentations": { "TestCard": vp } }),
        )
        .await,
        "ISS-033",
        "attestations.presentations[TestCard]",
    );
    assert!(e.is_transient(), "{e}");
    assert!(!e.is_attestation(), "an outage is not a verdict");
    assert!(
        e.to_string()
            .starts_with("attestations.presentations[TestCard]: "),
        "{e}"
    );
}

#[tokio::test]
async fn presentation_claims_that_do_not_map_are_refused() {
    let s = Seams::new();
    let holder = Party::holder(Algorithm::EdDSA);
    let issuer = Party::web("issuer.example", Algorithm::ES256);
    let vp = presented(&s, &holder, &issuer, NONCE).await;
    let contract = contract_with(
        json!({ "presentations": [ {
            "credentialType": "TestCard", "required": true,
            "mapping": [ { "outputClaim": "badge", "inputClaim": "$.badgeNumber", "required": true, "type": "String" } ]
        } ] }),
        &["badge"],
        86_400,
    );
    assert_refused(
        collect_as(
            &s,
            &holder,
            &contract,
            json!({ "presentations": { "TestCard": vp } }),
        )
        .await,
        "ISS-034",
        "attestations.presentations[TestCard]",
    );
}

#[tokio::test]
async fn attestations_combine_in_order() {
    let s = Seams::new();
    s.tokens
        .accept(OIDC, "id-token-1", map(json!({ "name": "Megan Bowen" })));
    let contract = contract_with(
        json!({
            "idTokenHints": [ { "required": true, "mapping": [
                { "outputClaim": "givenName", "inputClaim": "$.given_name", "required": true, "type": "String" } ] } ],
            "idTokens": [ { "configuration": OIDC, "clientId": "verity-wallet", "required": true, "mapping": [
                { "outputClaim": "displayName", "inputClaim": "$.name", "required": true, "type": "String" } ] } ],
            "selfIssued": { "required": false, "mapping": [
                { "outputClaim": "nickname", "inputClaim": "$.nickname", "required": false, "type": "String" } ] }
        }),
        &["givenName", "displayName", "nickname"],
        86_400,
    );
    let claims = s
        .collect(
            &contract,
            json!({ "idTokens": { OIDC: "id-token-1" }, "selfIssued": { "nickname": "Meg" } }),
        )
        .await
        .unwrap();
    assert_eq!(
        claims,
        map(json!({ "givenName": "Megan", "displayName": "Megan Bowen", "nickname": "Meg" }))
    );
    // The first failing attestation ends the run: no id_token, so the validator is never asked.
    let s = Seams::new();
    assert_refused(
        s.collect(&contract, json!({})).await,
        "ISS-030",
        &format!("attestations.idTokens[{OIDC}]"),
    );
}
