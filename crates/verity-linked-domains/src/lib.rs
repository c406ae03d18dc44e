//! DIF Well-Known DID Configuration (<https://identity.foundation/.well-known/resources/did-configuration/>):
//! proving that whoever controls a DID also controls a web origin, and the reverse.
//!
//! **Publishing (our authorities).** The DID document lists the origins in a `LinkedDomains`
//! service (`verity_did::DidDocument::for_web_authority`). For each origin,
//! [`build_domain_linkage_jwt`] signs a `DomainLinkageCredential` JWT (`iss` = `sub` = DID,
//! `nbf`, `exp`, `vc.credentialSubject = { id: DID, origin }`) with a key under the DID's
//! assertionMethod, and [`DidConfiguration::new`] wraps the JWTs into the resource served at
//! `https://<origin>/.well-known/did-configuration.json`.
//!
//! **Verifying (other issuers).** [`LinkedDomainVerifier`] runs, recording each step:
//! 1. resolve the DID (failure → [`LinkageResult::NotChecked`]: an outage is not a verdict);
//! 2. read the `LinkedDomains` origins (none → `NoLinkedDomainsService`); for
//!    [`LinkedDomainVerifier::verify_origin`] the asked origin must be among them;
//! 3. fetch the origin's DID configuration through the hardened `verity_did::HttpFetcher`
//!    (https, address checks, same-host redirects, 100 KB limit) → `ConfigurationMissing`;
//! 4. pick the JWTs issued by the DID (none → `NoMatchingCredential`);
//! 5. per credential: the `kid` must name a key of the DID under assertionMethod and the
//!    signature must verify (`SignatureInvalid`); `iss`/`sub`/subject id/issuer must be the
//!    DID with the required contexts and type (`Malformed`); the credential's origin must equal
//!    the fetched origin (`OriginMismatch`); `nbf`/`exp` must hold (`NotYetValid`/`Expired`).
//!
//! The result is [`LinkageResult::Verified`] with the origin, `Unverified` with an
//! [`UnverifiedReason`], or `NotChecked`; [`LinkageReport::steps`] explains it for CLI output.

mod config;
mod error;
mod verify;

pub use config::{
    CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT, DID_CONFIGURATION_PATH,
    DOMAIN_LINKAGE_CREDENTIAL, DidConfiguration, LinkedDid, build_domain_linkage_jwt,
    configuration_url, normalize_origin,
};
pub use error::LinkedDomainsError;
pub use verify::{
    LinkageReport, LinkageResult, LinkedDomainVerifier, Step, StepOutcome, UnverifiedReason,
};

#[cfg(test)]
mod tests;
