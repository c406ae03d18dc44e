//! Credential building and signing.

use serde_json::{Value, json};
use uuid::Uuid;
use verity_jose::{
    Algorithm, Jwk, LocalSigner, Signed, Signer, SigningKey, TokenKind, UnverifiedJws,
};
use verity_status_list::StatusEntry;

use super::*;
use crate::{
    CredentialDraft, StatusAssignment, build_credential, indexed_claim_hash, issue_credential,
};

const HOLDER: &str = "did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwieCI6IjExcVlBWUt4Q3JmVlNfN1R5V1FIT2c3aGN2UGFwaU1scndJYWFQY0hVUm8ifQ";
const VALIDITY: i64 = 2_592_000;

fn contract_id() -> Uuid {
    Uuid::parse_str("6f1c1a52-3e0f-4c43-9d1b-0f0c3f6a9e11").unwrap()
}

fn draft(contract: &Contract) -> CredentialDraft<'_> {
    CredentialDraft {
        contract,
        contract_id: contract_id(),
        issuer_did: ISSUER,
        holder_did: HOLDER,
        subject: map(json!({ "givenName": "Megan", "familyName": "Bowen" })),
        expiration_cap: None,
        status: None,
        now: NOW,
    }
}

fn issuer_signer() -> (LocalSigner, Jwk) {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let public = key.public_jwk();
    (LocalSigner::new(key, format!("{ISSUER}#key-1")), public)
}

#[test]
fn a_credential_without_status_entry() {
    let contract = hint_contract();
    let p = build_credential(draft(&contract)).unwrap();
    assert_eq!(p.jti, format!("urn:uuid:{}", p.id));
    assert_eq!(p.issued_at, NOW);
    assert_eq!(p.expires_at, NOW + VALIDITY);
    let c = &p.claims;
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], HOLDER);
    assert_eq!(c["jti"], p.jti.as_str());
    assert_eq!(
        (c["iat"].as_i64(), c["nbf"].as_i64(), c["exp"].as_i64()),
        (Some(NOW), Some(NOW), Some(NOW + VALIDITY))
    );
    let vc = &c["vc"];
    assert_eq!(
        vc["@context"],
        json!(["https://www.w3.org/2018/credentials/v1"])
    );
    assert_eq!(vc["type"], json!(["VerifiableCredential", "TestCard"]));
    assert_eq!(vc["issuer"], ISSUER);
    assert_eq!(vc["issuanceDate"], "2026-09-21T14:13:20Z");
    assert_eq!(vc["expirationDate"], "2026-10-21T14:13:20Z");
    assert_eq!(
        vc["credentialSubject"],
        json!({ "id": HOLDER, "givenName": "Megan", "familyName": "Bowen" })
    );
    assert!(vc.get("credentialStatus").is_none(), "{vc}");
    // The subject's `id` is the holder, whatever the claims said.
    let mut d = draft(&contract);
    d.subject
        .insert("id".into(), json!("did:example:someone-else"));
    assert_eq!(
        build_credential(d).unwrap().claims["vc"]["credentialSubject"]["id"],
        HOLDER
    );
    // Every credential gets its own id.
    assert_ne!(build_credential(draft(&contract)).unwrap().id, p.id);
}

#[test]
fn a_credential_with_status_entry() {
    let contract = hint_contract();
    let mut d = draft(&contract);
    let url = "https://issuer.example/v1.0/status/0f0e0d0c-0b0a-4908-8706-050403020100";
    d.status = Some(StatusAssignment {
        list_url: url.into(),
        index: 4_711,
        suspension_url: None,
    });
    let p = build_credential(d).unwrap();
    let status = &p.claims["vc"]["credentialStatus"];
    assert_eq!(
        *status,
        json!({
            "id": format!("{url}#4711"),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "4711",
            "statusListCredential": url,
        }),
    );
    // It reads back as the entry the verifier checks.
    let entry = StatusEntry::from_json(status).unwrap();
    assert_eq!(entry.status_list_index, 4_711);
    assert_eq!(entry.status_list_credential, url);
}

#[test]
fn the_expiration_cap_shortens_but_never_lengthens() {
    let contract = hint_contract();
    let mut d = draft(&contract);
    d.expiration_cap = Some(NOW + 3_600);
    let p = build_credential(d).unwrap();
    assert_eq!(p.expires_at, NOW + 3_600);
    assert_eq!(p.claims["exp"], NOW + 3_600);
    assert_eq!(p.claims["vc"]["expirationDate"], "2026-09-21T15:13:20Z");
    let mut d = draft(&contract);
    d.expiration_cap = Some(NOW + 10 * VALIDITY);
    assert_eq!(build_credential(d).unwrap().expires_at, NOW + VALIDITY);
}

#[test]
fn the_indexed_claim_is_hashed_with_the_contract_id() {
    let contract = hint_contract();
    let p = build_credential(draft(&contract)).unwrap();
    let expected = indexed_claim_hash(contract_id(), "Megan");
    assert_eq!(p.indexed_claim_hash.as_deref(), Some(expected.as_str()));
    // Base64(SHA256(contractId + value)).
    use base64::Engine;
    use sha2::Digest;
    let direct = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
        format!("{}Megan", contract_id()).as_bytes(),
    ));
    assert_eq!(expected, direct);
    assert_ne!(indexed_claim_hash(Uuid::new_v4(), "Megan"), expected);
    // Without the indexed claim (or when it is not a string) there is no hash.
    let mut d = draft(&contract);
    d.subject.remove("givenName");
    assert_eq!(build_credential(d).unwrap().indexed_claim_hash, None);
    let mut d = draft(&contract);
    d.subject.insert("givenName".into(), json!(7));
    assert_eq!(build_credential(d).unwrap().indexed_claim_hash, None);
}

#[tokio::test]
async fn a_suspendable_credential_has_a_revocation_and_a_suspension_entry() {
    let contract = hint_contract();
    let (signer, public) = issuer_signer();
    let mut d = draft(&contract);
    d.status = Some(StatusAssignment {
        list_url: "https://issuer.example/v1.0/status/l".into(),
        index: 7,
        suspension_url: Some("https://issuer.example/v1.0/status/l/suspension".into()),
    });
    let issued = issue_credential(&signer, d).await.unwrap();
    let verified = UnverifiedJws::parse(&issued.token)
        .unwrap()
        .verify(&public)
        .unwrap();
    let claims: Value = verified.claims().unwrap();
    TokenKind::Credential
        .check_value(verified.header(), &claims)
        .unwrap();
    let entries = claims["vc"]["credentialStatus"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["statusPurpose"], "revocation");
    assert_eq!(
        entries[0]["statusListCredential"],
        "https://issuer.example/v1.0/status/l"
    );
    assert_eq!(entries[1]["statusPurpose"], "suspension");
    assert_eq!(
        entries[1]["statusListCredential"],
        "https://issuer.example/v1.0/status/l/suspension"
    );
    assert_eq!(entries[0]["statusListIndex"], entries[1]["statusListIndex"]);
    let parsed =
        verity_status_list::StatusEntry::parse_credential_status(&claims["vc"]["credentialStatus"])
            .unwrap();
    assert_eq!(parsed.len(), 2);
}

#[tokio::test]
async fn the_signed_credential_is_a_credential_of_the_issuer() {
    let contract = hint_contract();
    let (signer, public) = issuer_signer();
    let mut d = draft(&contract);
    d.status = Some(StatusAssignment {
        list_url: "https://issuer.example/v1.0/status/l".into(),
        index: 1,
        suspension_url: None,
    });
    let issued = issue_credential(&signer, d).await.unwrap();
    assert_eq!(issued.subject_did, HOLDER);
    assert_eq!(issued.jti, format!("urn:uuid:{}", issued.id));
    assert_eq!(issued.expires_at, NOW + VALIDITY);
    let jws = UnverifiedJws::parse(&issued.token).unwrap();
    assert_eq!(
        jws.header().kid.as_deref(),
        Some("did:web:issuer.example#key-1")
    );
    let verified = jws.verify(&public).unwrap();
    let claims: Value = verified.claims().unwrap();
    TokenKind::Credential
        .check_value(verified.header(), &claims)
        .unwrap();
    for kind in [
        TokenKind::Presentation,
        TokenKind::StatusList,
        TokenKind::HolderRequest,
        TokenKind::RequestObject,
    ] {
        assert!(
            kind.check_value(verified.header(), &claims).is_err(),
            "{kind:?}"
        );
    }
    assert_eq!(claims["jti"], issued.jti.as_str());
    // The token stays out of Debug output.
    assert!(!format!("{issued:?}").contains(&issued.token));
}

/// A signer that always fails.
#[derive(Debug)]
struct BrokenSigner;

#[async_trait::async_trait]
impl Signer for BrokenSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
    async fn sign_jws(
        &self,
        _: verity_jose::Header,
        _: &[u8],
    ) -> Result<Signed, verity_jose::JoseError> {
        Err(verity_jose::JoseError::AlgNone)
    }
}

#[tokio::test]
async fn a_signing_failure_is_internal() {
    let contract = hint_contract();
    let e = issue_credential(&BrokenSigner, draft(&contract))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ISS-040");
    assert!(e.is_internal());
}
