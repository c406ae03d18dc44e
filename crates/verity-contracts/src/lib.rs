//! Credential contracts: what an authority issues, where the claims come from, and how wallets
//! show it.
//!
//! Model ([`Contract`], JSON field names as in the hosted Verified ID rules and display
//! definitions where those define a field):
//! - `id` (URL slug), `authority` (DID), `name`;
//! - `rules`: `attestations` — `idTokenHints` (claims from the RP), `idTokens` (OpenID Connect
//!   sign-in: `configuration`, `clientId`, `redirectUri`, `scope`), `selfIssued` (typed by the
//!   holder), `presentations` (`credentialType`, `trustedIssuers`), `accessTokens` — each with a
//!   `mapping` of `{ inputClaim, outputClaim, required, indexed, type }`; `validityInterval`
//!   (seconds); `vc.type`; `revocable` (Verity's, default true); `suspendable` (Verity's, default false);
//! - `display`: `locale`, `card` (title, issuedBy, colours, logo, description), `consent`, and
//!   `claims` labels keyed `vc.credentialSubject.<outputClaim>`.
//!
//! Pipeline:
//! 1. **Load** — [`Contract::from_json`]: shape errors (unknown field, wrong type) and rule
//!    errors ([`Contract::validate`]: one indexed claim at most, validity 1 h..10 y, `#RRGGBB`
//!    colours, https URLs, unique output claims, display claims that exist, ...) both carry the
//!    JSON path of the bad field, e.g. `rules.attestations.idTokens[0].configuration`.
//! 2. **Publish** — [`build_manifest`] gives the manifest payload of protocol.md §2 (an
//!    idTokenHint contract shows as `idTokens[0]` with `https://self-issued.me`, as the hosted
//!    service does); [`sign_manifest`] signs it with the authority's [`verity_jose::Signer`].
//! 3. **Attest** — per attestation kind the issuer gathers input claims: the RP's claims, a
//!    third-party id_token checked by [`OidcValidator`] (discovery + JWKS, cached), the holder's
//!    self-issued values, a presented credential's subject.
//! 4. **Map** — [`map_claims`] turns each attestation's input into credential claims, enforcing
//!    `required` ([`ContractError::MissingRequiredClaim`]) and `type`
//!    ([`ContractError::ClaimTypeMismatch`]).
//!
//! Every failure is a [`ContractError`] with a stable `CONTRACT-0xx` code.

mod error;
mod manifest;
mod mapping;
mod model;
mod oidc;
mod path;
mod validate;

pub use error::ContractError;
pub use manifest::{build_manifest, manifest_claim_key, sign_manifest};
pub use mapping::{MAX_IMAGE_BYTES, check_type, map_claims};
pub use model::{
    AccessTokenAttestation, AttestationKind, Attestations, CREDENTIAL_SUBJECT_PREFIX, ClaimMapping,
    ClaimType, Contract, DEFAULT_REDIRECT_URI, Display, DisplayCard, DisplayClaim, DisplayConsent,
    DisplayLogo, IdTokenAttestation, IdTokenHintAttestation, PresentationAttestation, Rules,
    SELF_ISSUED_CONFIGURATION, SelfIssuedAttestation, VcType,
};
pub use oidc::{OidcConfig, OidcValidator};
pub use validate::{MAX_VALIDITY_SECS, MIN_VALIDITY_SECS};

#[cfg(test)]
mod test_support {
    use serde_json::{Value, json};

    use crate::{Contract, ContractError};

    /// A small valid idTokenHint contract that tests edit one field at a time.
    pub(crate) fn base_contract() -> Value {
        json!({
            "id": "test-credential",
            "authority": "did:web:issuer.example.com",
            "name": "Test credential",
            "rules": {
                "attestations": {
                    "idTokenHints": [{
                        "mapping": [
                            {"outputClaim": "givenName", "inputClaim": "given_name",
                             "required": true, "indexed": true, "type": "String"},
                            {"outputClaim": "familyName", "inputClaim": "family_name",
                             "required": false, "indexed": false, "type": "String"}
                        ]
                    }]
                },
                "validityInterval": 2_592_000,
                "vc": {"type": ["TestCredential"]}
            },
            "display": {
                "locale": "en-US",
                "card": {
                    "title": "Test Credential",
                    "issuedBy": "Example Org",
                    "backgroundColor": "#000000",
                    "textColor": "#ffffff",
                    "logo": {"uri": "https://issuer.example.com/logo.png", "description": "Example logo"},
                    "description": "A credential for tests."
                },
                "consent": {"title": "Add this credential?", "instructions": "Accept to add it."},
                "claims": [
                    {"claim": "vc.credentialSubject.givenName", "label": "First name", "type": "String"},
                    {"claim": "vc.credentialSubject.familyName", "label": "Last name", "type": "String"}
                ]
            }
        })
    }

    /// Loads `v` as a contract and returns the (expected) error.
    pub(crate) fn parse_err(v: &Value) -> ContractError {
        match Contract::from_json(&v.to_string()) {
            Ok(_) => panic!("contract unexpectedly valid: {v:#}"),
            Err(e) => e,
        }
    }
}
