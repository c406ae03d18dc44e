//! Attestations: where a credential's claims come from (the RP's idTokenHint claims,
//! third-party id_tokens and access tokens, the holder's self-issued values, presented
//! credentials), each checked and then mapped by the contract's claim mapping.

use std::fmt::Debug;

use async_trait::async_trait;
use serde_json::{Map, Value};
use verity_contracts::{
    AccessTokenAttestation, AttestationKind, ClaimMapping, Contract, ContractError,
    IdTokenAttestation, OidcValidator, SELF_ISSUED_CONFIGURATION, map_claims,
};
use verity_presentation::{RequestedCredential, VerifyContext, verify_attestation_presentation};

use crate::{HolderRequest, IssuanceError};

/// Validates third-party OpenID Connect tokens (the `idTokens` and `accessTokens`
/// attestations) and returns their claims, the input of claim mapping.
#[async_trait]
pub trait TokenValidator: Send + Sync + Debug {
    /// Validates an id_token from the provider of `attestation` at `now` (unix seconds).
    async fn validate_id_token(
        &self,
        token: &str,
        attestation: &IdTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError>;

    /// Validates a JWT access token from the provider of `attestation` at `now`.
    async fn validate_access_token(
        &self,
        token: &str,
        attestation: &AccessTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError>;
}

/// Production validator: discovery document + JWKS of the provider, both cached.
#[async_trait]
impl TokenValidator for OidcValidator {
    async fn validate_id_token(
        &self,
        token: &str,
        attestation: &IdTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        // The id_token comes from the holder's own sign-in with the provider, not from a
        // sign-in Verity started, so there is no nonce of ours to expect.
        OidcValidator::validate_id_token(self, token, attestation, None, now).await
    }

    async fn validate_access_token(
        &self,
        token: &str,
        attestation: &AccessTokenAttestation,
        now: i64,
    ) -> Result<Map<String, Value>, ContractError> {
        OidcValidator::validate_access_token(self, token, attestation, now).await
    }
}

/// What attestations are checked against, besides the contract and the holder request.
#[derive(Debug, Clone, Copy)]
pub struct AttestationContext<'a> {
    /// Validates `idTokens` and `accessTokens`.
    pub tokens: &'a dyn TokenValidator,
    /// The presentation verifier's seams, for `presentations`. Its replay guard receives the
    /// vp_token `jti`s; a caller that records them with its own issuance step passes a guard
    /// that defers them.
    pub verifier: &'a VerifyContext,
    /// The issuing authority's DID: the audience of presented vp_tokens, and the only
    /// accepted issuer of presented credentials when the contract lists none.
    pub issuer_did: &'a str,
    /// The issuance request's nonce (presented vp_tokens must carry it).
    pub nonce: &'a str,
    /// The issuance request's expiry, unix seconds.
    pub request_expires_at: i64,
    /// The claims the RP sent with the request (input of `idTokenHints`).
    pub hint_claims: &'a Map<String, Value>,
    /// The time of the check, unix seconds.
    pub now: i64,
}

/// The error target of an `idTokens` attestation of `configuration`.
fn id_token_target(configuration: &str) -> String {
    format!("attestations.idTokens[{configuration}]")
}

fn mapped(
    kind: AttestationKind,
    input: &Map<String, Value>,
    mapping: &[ClaimMapping],
    target: &str,
) -> Result<Map<String, Value>, IssuanceError> {
    map_claims(kind, input, mapping).map_err(|source| IssuanceError::ClaimMapping {
        target: target.to_owned(),
        source: Box::new(source),
    })
}

/// Whether `contract` can be issued with a pre-authorized code (OpenID4VCI): every claim
/// comes from the RP's idTokenHint claims, so nothing is left for the wallet to attest.
pub fn pre_authorizable(contract: &Contract) -> bool {
    let a = &contract.rules.attestations;
    !a.id_token_hints.is_empty()
        && a.id_tokens.is_empty()
        && a.self_issued.is_none()
        && a.access_tokens.is_empty()
        && a.presentations.is_empty()
}

/// The credential subject of a pre-authorized issuance: the contract's idTokenHint mappings
/// over the claims the RP gave when it created the offer (checked again here, as
/// [`collect_claims`] checks them for the compatibility profile).
pub fn pre_authorized_claims(
    contract: &Contract,
    hint_claims: &Map<String, Value>,
) -> Result<Map<String, Value>, IssuanceError> {
    let mut out = Map::new();
    for a in &contract.rules.attestations.id_token_hints {
        let target = id_token_target(SELF_ISSUED_CONFIGURATION);
        out.extend(mapped(
            AttestationKind::IdTokenHint,
            hint_claims,
            &a.mapping,
            &target,
        )?);
    }
    Ok(out)
}

/// Runs every attestation of `contract` for `holder` and maps the claims into the
/// credential subject. A later attestation's output claim replaces an earlier one's (contract
/// validation keeps output claims unique, so this does not happen for a valid contract).
///
/// Order: idTokenHints, idTokens, selfIssued, accessTokens, presentations; the first failure
/// ends the run.
pub async fn collect_claims(
    ctx: &AttestationContext<'_>,
    contract: &Contract,
    holder: &HolderRequest,
) -> Result<Map<String, Value>, IssuanceError> {
    let rules = &contract.rules.attestations;
    let att = holder.attestations();
    let mut out = Map::new();
    for a in &rules.id_token_hints {
        // The hint is presented to wallets as the self-issued id_token of the manifest.
        let target = id_token_target(SELF_ISSUED_CONFIGURATION);
        out.extend(mapped(
            AttestationKind::IdTokenHint,
            ctx.hint_claims,
            &a.mapping,
            &target,
        )?);
    }
    for a in &rules.id_tokens {
        let target = id_token_target(&a.configuration);
        let Some(token) = given(
            att,
            "idTokens",
            &a.configuration,
            a.required,
            &target,
            || format!("an id_token from `{}` is required", a.configuration),
        )?
        else {
            continue;
        };
        let claims = ctx
            .tokens
            .validate_id_token(token, a, ctx.now)
            .await
            .map_err(|source| IssuanceError::AttestationToken {
                target: target.clone(),
                source: Box::new(source),
            })?;
        out.extend(mapped(
            AttestationKind::IdToken,
            &claims,
            &a.mapping,
            &target,
        )?);
    }
    if let Some(a) = &rules.self_issued {
        let target = "attestations.selfIssued";
        let given = holder.self_issued();
        if given.is_empty() && a.required {
            return Err(IssuanceError::AttestationMissing {
                target: target.into(),
                reason: "self-issued claims are required".into(),
            });
        }
        out.extend(mapped(
            AttestationKind::SelfIssued,
            &given,
            &a.mapping,
            target,
        )?);
    }
    for a in &rules.access_tokens {
        let target = format!("attestations.accessTokens[{}]", a.configuration);
        let Some(token) = given(
            att,
            "accessTokens",
            &a.configuration,
            a.required,
            &target,
            || format!("an access token from `{}` is required", a.configuration),
        )?
        else {
            continue;
        };
        let claims = ctx
            .tokens
            .validate_access_token(token, a, ctx.now)
            .await
            .map_err(|source| IssuanceError::AttestationToken {
                target: target.clone(),
                source: Box::new(source),
            })?;
        out.extend(mapped(
            AttestationKind::AccessToken,
            &claims,
            &a.mapping,
            &target,
        )?);
    }
    let verifier = ctx.verifier.clone().with_now(ctx.now);
    for a in &rules.presentations {
        let target = format!("attestations.presentations[{}]", a.credential_type);
        let Some(vp) = given(
            att,
            "presentations",
            &a.credential_type,
            a.required,
            &target,
            || {
                format!(
                    "a presentation of a `{}` credential is required",
                    a.credential_type
                )
            },
        )?
        else {
            continue;
        };
        let mut requested = RequestedCredential::new(a.credential_type.clone());
        // No trusted issuers listed = credentials of this contract's own authority only.
        requested.accepted_issuers = if a.trusted_issuers.is_empty() {
            vec![ctx.issuer_did.to_owned()]
        } else {
            a.trusted_issuers.clone()
        };
        let v = verify_attestation_presentation(
            &verifier,
            holder.did(),
            vp,
            ctx.issuer_did,
            ctx.nonce,
            ctx.request_expires_at,
            &requested,
        )
        .await;
        let verified = match v.result {
            Ok(p) => p,
            Err(source) if source.is_transient() => {
                return Err(IssuanceError::AttestationUnavailable {
                    target,
                    source: Box::new(source),
                });
            }
            Err(source) => {
                return Err(IssuanceError::AttestationPresentation {
                    target,
                    source: Box::new(source),
                });
            }
        };
        let claims = verified
            .credentials
            .first()
            .map(|c| c.claims.clone())
            .unwrap_or_default();
        out.extend(mapped(
            AttestationKind::Presentation,
            &claims,
            &a.mapping,
            &target,
        )?);
    }
    Ok(out)
}

/// The holder's `attestations.<section>.<key>` string; `None` when absent and optional, an
/// [`IssuanceError::AttestationMissing`] at `target` with `missing()` when absent and required.
fn given<'a>(
    att: &'a Value,
    section: &str,
    key: &str,
    required: bool,
    target: &str,
    missing: impl FnOnce() -> String,
) -> Result<Option<&'a str>, IssuanceError> {
    match att[section][key].as_str() {
        Some(v) => Ok(Some(v)),
        None if required => Err(IssuanceError::AttestationMissing {
            reason: missing(),
            target: target.to_owned(),
        }),
        None => Ok(None),
    }
}
