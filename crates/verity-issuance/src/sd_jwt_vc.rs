//! The SD-JWT VC (`dc+sd-jwt`) a contract issues in the standards profile: the same mapped
//! claims as the JWT-VC, each selectively disclosable, bound to the holder's key (`cnf.jwk`,
//! from the wallet's proof), with the contract's `vct` and, for revocable contracts, a Token
//! Status List reference into the same status list the JWT-VC uses.

use serde_json::{Map, Value, json};
use uuid::Uuid;
use verity_contracts::Contract;
use verity_jose::{Jwk, Signer};
use verity_sd_jwt::{ClaimPath, SdJwtBuilder};

use crate::IssuanceError;
use crate::credential::{StatusAssignment, indexed_claim_hash};

/// Claims the issuer sets itself; a mapped claim of one of these names is refused rather than
/// allowed to override them (or, disclosed, to smuggle a second value past a verifier).
const ISSUER_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "vct",
    "vct#integrity",
    "cnf",
    "status",
    "_sd",
    "_sd_alg",
    "...",
    "aka_vcts",
];

/// The `vct` of a contract whose definition names none: a URL under the issuer's public URL,
/// so two issuers' types never collide.
pub fn default_vct(public_url: &str, contract_name: &str) -> String {
    let slug: String = contract_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}/vct/{slug}", public_url.trim_end_matches('/'))
}

/// Everything one SD-JWT VC is built from.
#[derive(Debug, Clone)]
pub struct SdJwtVcDraft<'a> {
    /// The contract issued (validity, indexed claim).
    pub contract: &'a Contract,
    /// The contract's id, the salt of the indexed claim's hash.
    pub contract_id: Uuid,
    /// The issuing authority's DID (`iss`).
    pub issuer_did: &'a str,
    /// The credential type (`vct`).
    pub vct: &'a str,
    /// The holder's public key, from the wallet's proof of possession (`cnf.jwk`).
    pub holder_key: Jwk,
    /// The mapped claims (from [`crate::collect_claims`]); each becomes selectively disclosable.
    pub subject: Map<String, Value>,
    /// The RP's expiry cap, unix seconds.
    pub expiration_cap: Option<i64>,
    /// The status list entry, for revocable contracts.
    pub status: Option<StatusAssignment>,
    /// The time of issuance, unix seconds.
    pub now: i64,
}

/// An issued SD-JWT VC and the facts its record keeps.
#[derive(Clone)]
pub struct IssuedSdJwtVc {
    /// `<issuer-jwt>~<disclosure>~...~`.
    pub token: String,
    /// The record's id.
    pub id: Uuid,
    /// `Base64(SHA256(contractId + value))` of the indexed claim, for revocation by claim.
    pub indexed_claim_hash: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for IssuedSdJwtVc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSdJwtVc")
            .field("id", &self.id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Builds and signs the SD-JWT VC of `draft` with the authority's `signer`.
pub async fn issue_sd_jwt_vc(
    signer: &dyn Signer,
    draft: SdJwtVcDraft<'_>,
) -> Result<IssuedSdJwtVc, IssuanceError> {
    let SdJwtVcDraft {
        contract,
        contract_id,
        issuer_did,
        vct,
        holder_key,
        subject,
        expiration_cap,
        status,
        now,
    } = draft;
    if vct.trim().is_empty() {
        return Err(IssuanceError::Encoding {
            what: "SD-JWT VC",
            reason: "vct must not be empty".into(),
        });
    }
    if let Some(name) = subject.keys().find(|k| ISSUER_CLAIMS.contains(&k.as_str())) {
        return Err(IssuanceError::Encoding {
            what: "SD-JWT VC",
            reason: format!("the mapped claim {name:?} is a claim the issuer sets itself"),
        });
    }
    let validity = i64::try_from(contract.rules.validity_interval).unwrap_or(i64::MAX / 4);
    let mut exp = now.saturating_add(validity);
    if let Some(cap) = expiration_cap {
        exp = exp.min(cap);
    }
    let indexed = contract
        .indexed_claim()
        .and_then(|m| subject.get(&m.output_claim))
        .and_then(Value::as_str)
        .map(|v| indexed_claim_hash(contract_id, v));
    let disclosable: Vec<String> = subject.keys().cloned().collect();
    let mut claims = subject;
    claims.insert("iss".into(), json!(issuer_did));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(exp));
    claims.insert("vct".into(), json!(vct));
    if let Some(s) = &status {
        claims.insert(
            "status".into(),
            json!({ "status_list": { "idx": s.index, "uri": s.list_url } }),
        );
    }
    let mut builder = SdJwtBuilder::sd_jwt_vc(claims).holder_key(holder_key);
    for name in disclosable {
        builder = builder.selectively_disclosable(ClaimPath::keys([name]));
    }
    let issued = builder
        .sign(signer)
        .await
        .map_err(|e| IssuanceError::SdJwt {
            source: Box::new(e),
        })?;
    Ok(IssuedSdJwtVc {
        token: issued.sd_jwt,
        id: Uuid::new_v4(),
        indexed_claim_hash: indexed,
        issued_at: now,
        expires_at: exp,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use verity_jose::{Algorithm, LocalSigner, SigningKey};
    use verity_sd_jwt::{
        KeyBindingClaims, KeyBindingPolicy, SdJwt, VerifyOptions, verify_with_issuer_key,
    };

    const ISSUER: &str = "did:web:issuer.example";

    fn contract() -> Contract {
        let text = include_str!("../../../examples/contracts/verified-employee-hint.json");
        Contract::from_json(text).unwrap()
    }

    fn subject() -> Map<String, Value> {
        json!({
            "displayName": "Megan Bowen", "jobTitle": "Marketing Manager",
            "mail": "megan@contoso.example", "revocationId": "megan@contoso.example",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn draft<'a>(contract: &'a Contract, holder: &SigningKey) -> SdJwtVcDraft<'a> {
        SdJwtVcDraft {
            contract,
            contract_id: Uuid::nil(),
            issuer_did: ISSUER,
            vct: "https://issuer.example/vct/verified-employee",
            holder_key: holder.public_jwk(),
            subject: subject(),
            expiration_cap: None,
            status: Some(StatusAssignment {
                list_url: "https://issuer.example/v1.0/status/l1".into(),
                index: 42,
                suspension_url: None,
            }),
            now: 1_800_000_000,
        }
    }

    #[tokio::test]
    async fn issues_a_bound_selectively_disclosable_credential_a_verifier_accepts() {
        let signer = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            format!("{ISSUER}#key-1"),
        );
        let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let c = contract();
        let issued = issue_sd_jwt_vc(&signer, draft(&c, &holder)).await.unwrap();
        assert_eq!(issued.expires_at, 1_800_000_000 + 15_552_000);
        assert!(
            issued.indexed_claim_hash.is_some(),
            "revocationId is indexed"
        );

        // The holder shows only the job title, bound to the verifier's nonce.
        let sd = SdJwt::parse(&issued.token).unwrap();
        let kb = KeyBindingClaims {
            audience: "https://verifier.example".into(),
            nonce: "n-1".into(),
            issued_at: 1_800_000_010,
        };
        let shown = sd
            .present(&[ClaimPath::keys(["jobTitle"])])
            .unwrap()
            .with_key_binding(&holder, &kb)
            .unwrap();
        let options = VerifyOptions::sd_jwt_vc(
            1_800_000_020,
            KeyBindingPolicy::Required {
                audience: "https://verifier.example".into(),
                nonce: "n-1".into(),
            },
        );
        let verified = verify_with_issuer_key(&shown, &signer.public_jwk(), &options).unwrap();
        assert_eq!(verified.claims["jobTitle"], "Marketing Manager");
        assert!(
            !verified.claims.contains_key("displayName"),
            "not disclosed"
        );
        assert_eq!(
            verified.vct.as_deref(),
            Some("https://issuer.example/vct/verified-employee")
        );
        assert_eq!(verified.issuer.as_deref(), Some(ISSUER));
        let status = verified.status_list.unwrap();
        assert_eq!(
            (status.idx, status.uri.as_str()),
            (42, "https://issuer.example/v1.0/status/l1")
        );
        assert_eq!(verified.holder_key.unwrap(), holder.public_jwk());
    }

    #[tokio::test]
    async fn claims_the_issuer_sets_cannot_be_mapped() {
        let signer = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            format!("{ISSUER}#key-1"),
        );
        let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let c = contract();
        for name in ["vct", "cnf", "status", "iss", "exp"] {
            let mut d = draft(&c, &holder);
            d.subject.insert(name.into(), json!("x"));
            let e = issue_sd_jwt_vc(&signer, d).await.unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        let mut d = draft(&c, &holder);
        d.vct = " ";
        assert!(issue_sd_jwt_vc(&signer, d).await.is_err());
    }

    #[test]
    fn the_default_vct_is_a_url_of_the_issuer() {
        assert_eq!(
            default_vct("https://vc.contoso.example/", "verified employee"),
            "https://vc.contoso.example/vct/verified-employee"
        );
    }
}
