//! The pipeline's inputs (what the verifier asked, what the wallet answered) and its output
//! (every check that ran, and the verified data or the first failure).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::PresentationError;

/// `iss` of a self-issued id_token (SIOPv2, as the DIF JWT VC Presentation Profile uses it).
pub const SIOP_V2_ISSUER: &str = "https://self-issued.me/v2/openid-vc";

/// What the verifier asked for: the stored presentation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresentationRequest {
    /// The request id.
    pub request_id: String,
    /// The `state` sent in the request object; the wallet must echo it.
    pub state: String,
    /// The `nonce` sent in the request object; both tokens must carry it.
    pub nonce: String,
    /// Our verifier DID (`client_id` of the request object); both tokens' `aud`.
    pub client_id: String,
    /// The presentation definition's `id`; when set, a submission naming another fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_id: Option<String>,
    /// Expiry of the request, unix seconds.
    pub expires_at: i64,
    /// The credentials asked for; each must be answered by its own presented credential.
    pub requested_credentials: Vec<RequestedCredential>,
}

/// One requested credential (`requestedCredentials[i]` of createPresentationRequest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestedCredential {
    /// The credential type; also the input descriptor id in the request object.
    #[serde(rename = "type")]
    pub type_: String,
    /// Issuer DIDs accepted; empty means any issuer.
    #[serde(default)]
    pub accepted_issuers: Vec<String>,
    /// Claim constraints; all must hold.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Accept a revoked credential and report it as REVOKED instead of failing.
    #[serde(default)]
    pub allow_revoked: bool,
    /// Require the issuer's linked domain to verify.
    #[serde(default)]
    pub validate_linked_domain: bool,
    /// Require a face check against a photo claim of the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_check: Option<FaceCheckRequest>,
}

impl RequestedCredential {
    /// A request for `type_` from any issuer, without constraints or extra validation.
    pub fn new(type_: impl Into<String>) -> Self {
        Self {
            type_: type_.into(),
            accepted_issuers: Vec::new(),
            constraints: Vec::new(),
            allow_revoked: false,
            validate_linked_domain: false,
            face_check: None,
        }
    }

    /// The input descriptor id the request object uses for this credential (its type).
    pub fn descriptor_id(&self) -> &str {
        &self.type_
    }
}

/// A constraint on one credentialSubject claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// The claim name in `credentialSubject`; a dotted name reaches into nested objects when
    /// no claim has the whole name.
    pub claim_name: String,
    /// The test the claim's (string) value must pass.
    #[serde(flatten)]
    pub op: ConstraintOp,
}

/// The constraint operators of createPresentationRequest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConstraintOp {
    /// The value equals one of these.
    Values(Vec<String>),
    /// The value contains this.
    Contains(String),
    /// The value starts with this.
    StartsWith(String),
}

impl ConstraintOp {
    /// True when `value` passes (case-sensitive, as the hosted service compares).
    pub fn accepts(&self, value: &str) -> bool {
        match self {
            ConstraintOp::Values(vs) => vs.iter().any(|v| v == value),
            ConstraintOp::Contains(s) => value.contains(s.as_str()),
            ConstraintOp::StartsWith(s) => value.starts_with(s.as_str()),
        }
    }

    /// The operator's name as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ConstraintOp::Values(_) => "values",
            ConstraintOp::Contains(_) => "contains",
            ConstraintOp::StartsWith(_) => "startsWith",
        }
    }
}

/// A face check asked for by the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceCheckRequest {
    /// The credentialSubject claim holding the reference photo.
    pub source_photo_claim_name: String,
    /// The minimum match confidence score, 50-100 (validated by the API).
    #[serde(rename = "matchConfidenceThreshold")]
    pub threshold: u8,
}

/// What the wallet posted to the response endpoint (form fields, unparsed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletResponse {
    /// The SIOP id_token.
    pub id_token: String,
    /// The vp_token (a JWT VP).
    pub vp_token: String,
    /// The echoed request `state`.
    pub state: String,
}

impl fmt::Debug for WalletResponse {
    // The tokens are bearer material carrying personal data: show their sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletResponse")
            .field("id_token", &format_args!("[{} bytes]", self.id_token.len()))
            .field("vp_token", &format_args!("[{} bytes]", self.vp_token.len()))
            .field("state", &self.state)
            .finish()
    }
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The check held.
    Passed,
    /// The check ran and the presentation failed it.
    Failed,
    /// The check did not apply (not requested, nothing to check).
    Skipped,
    /// The check could not run because a dependency was unreachable: no verdict.
    Unavailable,
}

/// One check of the pipeline, in the order it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    /// Which check, e.g. `id_token.signature` or `credential[VerifiedEmployee].status`.
    pub name: String,
    /// How it ended.
    pub outcome: CheckOutcome,
    /// Specifics (key ids, algorithms, the error message); never tokens or claim values.
    pub detail: String,
}

/// The pipeline's answer: the checks that ran and the verified data or the first failure.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Every check that ran, in order; the last one is the failure when `result` is an error.
    pub checks: Vec<CheckRecord>,
    /// The verified presentation, or why it was not accepted.
    pub result: Result<VerifiedPresentation, PresentationError>,
}

impl Verification {
    /// True when every check passed.
    pub fn is_verified(&self) -> bool {
        self.result.is_ok()
    }

    /// The failure, if any.
    pub fn error(&self) -> Option<&PresentationError> {
        self.result.as_ref().err()
    }

    /// True when the failure is an outage (answer 503/502, record no verdict).
    pub fn is_transient(&self) -> bool {
        self.error().is_some_and(PresentationError::is_transient)
    }
}

/// A presentation whose every check passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedPresentation {
    /// The holder DID (callback `subject`).
    pub subject: String,
    /// The vp_token's `jti`, consumed in the replay store.
    pub vp_jti: String,
    /// One verified credential per requested credential, in request order.
    pub credentials: Vec<VerifiedCredential>,
}

impl VerifiedPresentation {
    /// The face check that still waits for the holder's selfie, if any (the API accepts at
    /// most one per request).
    pub fn pending_face_check(&self) -> Option<&PendingFaceCheck> {
        self.credentials
            .iter()
            .find_map(|c| c.pending_face_check.as_ref())
    }
}

/// A verified credential with what the `presentation_verified` callback reports about it.
#[derive(Clone, PartialEq, Serialize)]
pub struct VerifiedCredential {
    /// The requested credential (input descriptor id) it answers.
    pub descriptor_id: String,
    /// The issuer DID.
    pub issuer: String,
    /// `vc.type`.
    pub types: Vec<String>,
    /// `vc.credentialSubject` without `id`.
    pub claims: Map<String, Value>,
    /// RFC 3339 issuance date (from `nbf`, else `iat`, else `vc.issuanceDate`).
    pub issuance_date: Option<String>,
    /// RFC 3339 expiration date (from `exp`, else `vc.expirationDate`).
    pub expiration_date: Option<String>,
    /// VALID, or REVOKED when the request allowed revoked credentials.
    pub revocation_status: RevocationStatus,
    /// The issuer's linked domain: checked when the request asked, otherwise the first origin
    /// the issuer's DID document lists (with `verified: false`), if any.
    pub domain_validation: Option<DomainValidation>,
    /// The face check result, once the selfie was compared.
    pub face_check: Option<FaceCheckResult>,
    /// The face check still to run on the holder's selfie, when the request asked for one.
    pub pending_face_check: Option<PendingFaceCheck>,
    /// The credential's `jti`.
    pub jti: Option<String>,
    /// The JWT-VC as presented (for receipts).
    pub raw_jwt: String,
}

impl fmt::Debug for VerifiedCredential {
    // Claims are personal data and the JWT is bearer material: names and sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCredential")
            .field("descriptor_id", &self.descriptor_id)
            .field("issuer", &self.issuer)
            .field("types", &self.types)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .field("issuance_date", &self.issuance_date)
            .field("expiration_date", &self.expiration_date)
            .field("revocation_status", &self.revocation_status)
            .field("domain_validation", &self.domain_validation)
            .field("face_check", &self.face_check)
            .field("pending_face_check", &self.pending_face_check)
            .field("jti", &self.jti)
            .field("raw_jwt", &format_args!("[{} bytes]", self.raw_jwt.len()))
            .finish()
    }
}

/// `credentialState.revocationStatus` of the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevocationStatus {
    /// Not revoked (or not revocable).
    Valid,
    /// Revoked, reported only because the request allowed it.
    Revoked,
}

impl RevocationStatus {
    /// `"VALID"` or `"REVOKED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationStatus::Valid => "VALID",
            RevocationStatus::Revoked => "REVOKED",
        }
    }
}

/// `domainValidation` of the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainValidation {
    /// The issuer's origin.
    pub url: String,
    /// True only when the linkage was checked and verified.
    pub verified: bool,
}

/// A face check that passed its first phase (matcher configured, photo claim present) and
/// waits for the holder's selfie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingFaceCheck {
    /// The requested credential (input descriptor id) whose photo is compared.
    pub descriptor_id: String,
    /// The credentialSubject claim holding the reference photo.
    pub source_photo_claim_name: String,
    /// The minimum match confidence score.
    pub threshold: u8,
}

/// `faceCheck` of the callback.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceCheckResult {
    /// Match confidence, 0-100.
    pub match_confidence_score: f64,
    /// `HIGH` / `MEDIUM` / `LOW`, when the matcher reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_photo_quality: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The createPresentationRequest shape of protocol.md §1 maps onto these types.
    #[test]
    fn requested_credential_serde_uses_api_names() {
        let v = json!({
            "type": "VerifiedEmployee",
            "acceptedIssuers": ["did:web:issuer.example.com", "did:web:partner.example"],
            "constraints": [
                {"claimName": "jobTitle", "values": ["Engineer"]},
                {"claimName": "email", "contains": "@contoso"},
                {"claimName": "department", "startsWith": "Eng"}
            ],
            "allowRevoked": true,
            "validateLinkedDomain": true,
            "faceCheck": {"sourcePhotoClaimName": "photo", "matchConfidenceThreshold": 70}
        });
        let r: RequestedCredential = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.descriptor_id(), "VerifiedEmployee");
        assert_eq!(r.accepted_issuers.len(), 2);
        assert_eq!(
            r.constraints[1].op,
            ConstraintOp::Contains("@contoso".into())
        );
        assert_eq!(r.face_check.as_ref().unwrap().threshold, 70);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
        let minimal: RequestedCredential = serde_json::from_value(json!({"type": "A"})).unwrap();
        assert_eq!(minimal, RequestedCredential::new("A"));
    }

    #[test]
    fn constraint_operators() {
        let values = ConstraintOp::Values(vec!["Engineer".into(), "Manager".into()]);
        assert!(values.accepts("Manager"));
        assert!(!values.accepts("engineer"));
        assert!(ConstraintOp::Contains("gine".into()).accepts("Engineer"));
        assert!(!ConstraintOp::Contains("x".into()).accepts("Engineer"));
        assert!(ConstraintOp::StartsWith("Eng".into()).accepts("Engineer"));
        assert!(!ConstraintOp::StartsWith("eer".into()).accepts("Engineer"));
        assert_eq!(ConstraintOp::StartsWith(String::new()).name(), "startsWith");
    }

    #[test]
    fn debug_output_hides_tokens_and_claims() {
        let r = WalletResponse {
            id_token: "secret.id.token".into(),
            vp_token: "secret.vp.token".into(),
            state: "s".into(),
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let c = VerifiedCredential {
            descriptor_id: "A".into(),
            issuer: "did:web:i".into(),
            types: vec!["A".into()],
            claims: serde_json::from_value(json!({"ssn": "123-45-6789"})).unwrap(),
            issuance_date: None,
            expiration_date: None,
            revocation_status: RevocationStatus::Valid,
            domain_validation: None,
            face_check: None,
            pending_face_check: None,
            jti: None,
            raw_jwt: "header.payload.sig".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("ssn") && !shown.contains("123-45"),
            "{shown}"
        );
        assert!(!shown.contains("payload"), "{shown}");
        assert_eq!(
            serde_json::to_value(RevocationStatus::Revoked).unwrap(),
            json!("REVOKED")
        );
    }
}
