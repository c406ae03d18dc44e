//! The JWT-VC: built from the mapped claims, bound to the holder, optionally pointing at a
//! status list entry, and signed as [`TokenKind::Credential`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use verity_contracts::Contract;
use verity_jose::{Signer, TokenKind, sign_kind};
use verity_status_list::{StatusEntry, StatusPurpose};

use crate::IssuanceError;

/// The W3C VC Data Model 1.1 context every credential carries.
pub const VC_CONTEXT_V1: &str = "https://www.w3.org/2018/credentials/v1";

/// A status list index already allocated for the credential (allocation is a store step of
/// the caller, so an index is never handed out twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAssignment {
    /// The URL the status list credential is published at.
    pub list_url: String,
    /// The credential's index in that list.
    pub index: u32,
    /// For a suspendable credential, the URL of the list's suspension view: the credential
    /// gets a second entry (purpose `suspension`) at the same index.
    pub suspension_url: Option<String>,
}

impl StatusAssignment {
    /// The `credentialStatus` value: the revocation entry, and for a suspendable credential an
    /// array of it and the suspension entry (one entry per purpose, Bitstring Status List 1.0
    /// section 2.1: the suspension bit lives in the list's suspension view at the same index).
    pub fn credential_status(&self) -> Result<Value, IssuanceError> {
        let encode = |entry: StatusEntry| {
            serde_json::to_value(entry).map_err(|e| IssuanceError::Encoding {
                what: "credential status entry",
                reason: e.to_string(),
            })
        };
        let revocation = encode(StatusEntry::new(
            &self.list_url,
            self.index,
            StatusPurpose::Revocation,
        ))?;
        Ok(match &self.suspension_url {
            Some(url) => json!([
                revocation,
                encode(StatusEntry::new(url, self.index, StatusPurpose::Suspension))?
            ]),
            None => revocation,
        })
    }
}

/// Everything one credential is built from.
#[derive(Debug, Clone)]
pub struct CredentialDraft<'a> {
    /// The contract issued (types, validity, indexed claim).
    pub contract: &'a Contract,
    /// The contract's id, the salt of the indexed claim's hash.
    pub contract_id: Uuid,
    /// The issuing authority's DID (`iss`, `vc.issuer`).
    pub issuer_did: &'a str,
    /// The holder's DID (`sub`, `credentialSubject.id`).
    pub holder_did: &'a str,
    /// The mapped claims (from [`crate::collect_claims`]).
    pub subject: Map<String, Value>,
    /// The RP's `expirationDate` cap, unix seconds: the credential expires at the earlier of
    /// this and `now + validityInterval`.
    pub expiration_cap: Option<i64>,
    /// The revocation entry, for revocable contracts.
    pub status: Option<StatusAssignment>,
    /// The time of issuance, unix seconds.
    pub now: i64,
}

/// The claims of a credential about to be signed, and the facts its record keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialPayload {
    /// The credential's id (its `jti` is `urn:uuid:<id>`).
    pub id: Uuid,
    /// `urn:uuid:<id>`.
    pub jti: String,
    /// The JWT claims: `iss`, `sub`, `jti`, `iat`, `nbf`, `exp`, `vc`.
    pub claims: Value,
    /// `Base64(SHA256(contractId + value))` of the contract's indexed claim, when it has one
    /// and the claim is a string.
    pub indexed_claim_hash: Option<String>,
    /// `iat`, unix seconds.
    pub issued_at: i64,
    /// `exp`, unix seconds.
    pub expires_at: i64,
}

/// A signed credential and what its record keeps. The caller adds what only it knows
/// (tenant, request, status list row) when it records the credential.
#[derive(Clone, PartialEq)]
pub struct IssuedCredential {
    /// The compact JWT-VC handed to the wallet.
    pub token: String,
    /// The credential's id.
    pub id: Uuid,
    /// `urn:uuid:<id>`.
    pub jti: String,
    /// The holder's DID.
    pub subject_did: String,
    /// See [`CredentialPayload::indexed_claim_hash`].
    pub indexed_claim_hash: Option<String>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for IssuedCredential {
    // The token is a bearer credential with personal claims: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredential")
            .field(
                "token",
                &format_args!("[redacted; {} bytes]", self.token.len()),
            )
            .field("id", &self.id)
            .field("jti", &self.jti)
            .field("subject_did", &self.subject_did)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `Base64(SHA256(contractId + value))`: the revocation search key of the indexed claim.
pub fn indexed_claim_hash(contract_id: Uuid, value: &str) -> String {
    STANDARD.encode(Sha256::digest(format!("{contract_id}{value}").as_bytes()))
}

fn rfc3339(t: i64) -> Option<String> {
    DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Builds the JWT-VC claims of `draft` (nothing is signed).
pub fn build_credential(draft: CredentialDraft<'_>) -> Result<CredentialPayload, IssuanceError> {
    let CredentialDraft {
        contract,
        contract_id,
        issuer_did,
        holder_did,
        mut subject,
        expiration_cap,
        status,
        now,
    } = draft;
    let validity = i64::try_from(contract.rules.validity_interval).unwrap_or(i64::MAX / 4);
    let mut exp = now.saturating_add(validity);
    if let Some(cap) = expiration_cap {
        exp = exp.min(cap);
    }
    let id = Uuid::new_v4();
    let jti = format!("urn:uuid:{id}");
    let indexed = contract
        .indexed_claim()
        .and_then(|m| subject.get(&m.output_claim))
        .and_then(Value::as_str)
        .map(|v| indexed_claim_hash(contract_id, v));
    subject.insert("id".into(), json!(holder_did));
    let mut vc = json!({
        "@context": [VC_CONTEXT_V1],
        "type": contract.credential_types(),
        "issuer": issuer_did,
        "issuanceDate": rfc3339(now),
        "expirationDate": rfc3339(exp),
        "credentialSubject": subject,
    });
    if let Some(s) = status {
        vc["credentialStatus"] = s.credential_status()?;
    }
    let claims = json!({
        "iss": issuer_did, "sub": holder_did, "jti": jti,
        "iat": now, "nbf": now, "exp": exp, "vc": vc,
    });
    Ok(CredentialPayload {
        id,
        jti,
        claims,
        indexed_claim_hash: indexed,
        issued_at: now,
        expires_at: exp,
    })
}

/// Builds and signs the credential of `draft` with the authority's `signer`.
pub async fn issue_credential(
    signer: &dyn Signer,
    draft: CredentialDraft<'_>,
) -> Result<IssuedCredential, IssuanceError> {
    let subject_did = draft.holder_did.to_owned();
    let payload = build_credential(draft)?;
    // Signed as its kind: the credential must pass the credential rules it is checked by.
    let signed = sign_kind(signer, TokenKind::Credential, &payload.claims)
        .await
        .map_err(|source| IssuanceError::Signing {
            what: "credential",
            source,
        })?;
    Ok(IssuedCredential {
        token: signed.token,
        id: payload.id,
        jti: payload.jti,
        subject_did,
        indexed_claim_hash: payload.indexed_claim_hash,
        issued_at: payload.issued_at,
        expires_at: payload.expires_at,
    })
}
