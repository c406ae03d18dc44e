//! The OpenID4VP 1.0 verifier profile: the DCQL query Verity sends for the RP's
//! `requestedCredentials`, and the checks of a `direct_post` Authorization Response carrying a
//! DCQL `vp_token`. Pure library, like the rest of the crate: the seams of [`VerifyContext`]
//! (DID resolver, status lists, linkage, replay guard) and its time.
//!
//! **Query** ([`plan_query`]): one or two Credential Queries per requested credential, in
//! request order: `dc+sd-jwt` with `vct_values` (when the caller knows a `vct` for the type) and
//! `jwt_vc_json` with `type_values: [[type]]`; a Credential Set per requested credential
//! (`options: [[sd-jwt], [jwt]]`, required) lets the wallet answer in either format. Claims
//! queries come from [`dcql_from_requested`] (constrained claims, the RP's extra claims); for
//! `jwt_vc_json` the same paths under `credentialSubject` (Appendix B.1: paths start at the
//! credential, the `vc` object of a VCDM 1.1 JWT). `acceptedIssuers` are not sent (the
//! [`crate::dcql`] module docs say why) and are checked on the verified issuer.
//!
//! **Response** ([`verify_openid4vp_response`]), the first failure ends the run:
//! 1. request known and not expired; an Authorization Error Response (`error`) is refused as
//!    [`PresentationError::WalletError`]; `state` matches;
//! 2. `vp_token` against the query ([`parse_vp_token_param`], PRES-057..061);
//! 3. every presentation, per requested credential in request order (the preferred answered
//!    query first; an answered alternative is verified too):
//!    - `dc+sd-jwt`: [`verity_sd_jwt::verify`] with the issuer key from `iss`'s DID document
//!      (header `kid`, `assertionMethod`), Key Binding **required** with `aud` = the Client
//!      Identifier *with* its prefix (Appendix B.3.6, section 5.9.1) and the request's nonce;
//!      [`check_sd_jwt_answer`] (type, accepted issuers, claims, holder binding);
//!      [`check_sd_jwt_constraints`]; status through the IETF Token Status List reference
//!      (`status.status_list`, read from the [`crate::StatusListSource`]: the list at `uri`, which
//!      must be the issuer's, entry `idx`); linked domain;
//!    - `jwt_vc_json`: a VP JWT signed by the holder DID in `iss` (authentication key) with
//!      `aud` = the Client Identifier, the nonce, times and a `jti` (Appendix B.1.3.1.5), holding
//!      a JWT-VC of the requested type that passes every check of the hosted pipeline (issuer
//!      key, times, holder binding, accepted issuers, type, constraints, status, linked
//!      domain), and whose `vc` has every claim the query names;
//! 4. replay: each VP `jti` (scope [`VP_TOKEN_REPLAY_SCOPE`]) and each KB-JWT (its SHA-256,
//!    scope [`KB_JWT_REPLAY_SCOPE`]) is consumed last, so an outage never burns one.
//!
//! Over-disclosure (SD-JWT claims the query did not ask for) is logged and left out of the
//! reported claims, as [`crate::dcql`] decides.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verity_did::{DidDocument, DidResolver, Relationship, split_key_id};
use verity_jose::{Header, Jwk};
use verity_sd_jwt::{
    ClaimPath, HashAlg, IssuerKeyLookup, KeyBindingPolicy, KeyLookupError, PathElement, SdJwtError,
    StatusListRef, VerifiedSdJwt, VerifyOptions,
};
use verity_status_list::{StatusPurpose, TokenStatus, TokenStatusList};

use crate::checks::credential::{self, CheckedCredential};
use crate::checks::id_token::HolderProof;
use crate::checks::{linked_domain, request, status, vp_token};
use crate::context::VP_TOKEN_REPLAY_SCOPE;
use crate::dcql::{
    ALWAYS_VISIBLE_CLAIMS, ClaimsQuery, CredentialFormat, CredentialMeta, CredentialQuery,
    CredentialSetQuery, DcqlCredentialRequest, DcqlQuery, check_sd_jwt_answer,
    check_sd_jwt_constraints, dcql_from_requested, parse_vp_token_param, select_claims,
};
use crate::record::Recorder;
use crate::{
    PresentationError, PresentationRequest, RequestedCredential, RevocationStatus, Verification,
    VerifiedCredential, VerifiedPresentation, VerifyContext,
};

/// Client Identifier Prefix of a verifier identified by its DID (OpenID4VP 1.0 section 5.9.3);
/// the request is signed with a key of the DID's document.
pub const PREFIX_DECENTRALIZED_IDENTIFIER: &str = "decentralized_identifier";
/// Client Identifier Prefix of a verifier identified by its Response URI (section 5.9.3); such
/// requests cannot be signed.
pub const PREFIX_REDIRECT_URI: &str = "redirect_uri";
/// Replay-store scope of Key Binding JWTs (their SHA-256).
pub const KB_JWT_REPLAY_SCOPE: &str = "kb_jwt";
/// Suffix of the `jwt_vc_json` Credential Query id of a requested credential that also has a
/// `dc+sd-jwt` query.
const JWT_QUERY_SUFFIX: &str = "_jwt";

/// The `client_id` of a request: `<prefix>:<identifier>` (section 5.9.1).
pub fn client_id_with_prefix(prefix: &str, identifier: &str) -> String {
    format!("{prefix}:{identifier}")
}

/// The DCQL query for the requested credentials, and which Credential Queries answer which
/// requested credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPlan {
    /// The `dcql_query` request parameter.
    pub query: DcqlQuery,
    /// For requested credential `i`, the ids of the Credential Queries that answer it, the
    /// preferred first (`dc+sd-jwt`, then `jwt_vc_json`).
    pub answers: Vec<Vec<String>>,
}

/// Builds the [`QueryPlan`] for `requested` (module docs). `extra_claims[i]` are claims the RP
/// wants disclosed from requested credential `i` besides the constrained ones (top-level SD-JWT
/// VC claims; `credentialSubject` members of a JWT-VC); `vct_values(type)` are the SD-JWT VC
/// types known for a credential type (none: only `jwt_vc_json` is asked for).
///
/// A face check cannot be asked in this profile (the selfie step is the hosted profile's); the
/// caller refuses such requests before building one.
pub fn plan_query(
    requested: &[RequestedCredential],
    extra_claims: &[Vec<String>],
    vct_values: impl Fn(&str) -> Vec<String>,
) -> Result<QueryPlan, PresentationError> {
    if requested.is_empty() {
        return Err(PresentationError::NothingRequested);
    }
    let mut credentials = Vec::new();
    let mut answers = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for (i, r) in requested.iter().enumerate() {
        let mut single = DcqlCredentialRequest::from(r);
        for name in extra_claims.get(i).into_iter().flatten() {
            if name.is_empty() {
                return Err(PresentationError::DcqlInvalid {
                    member: format!("requestedCredentials[{i}].claims"),
                    reason: "claim names must be non-empty".into(),
                });
            }
            single.disclose.push(ClaimPath::keys([name.as_str()]));
        }
        // The SD-JWT VC claims queries (constraints merged, values intersected), built by the
        // DCQL module; the vct is replaced below.
        let base = dcql_from_requested(std::slice::from_ref(&single), |_| {
            Some("urn:verity:placeholder".to_owned())
        })
        .map_err(|e| reindex(e, i))?;
        let Some(template) = base.credentials.into_iter().next() else {
            return Err(PresentationError::NothingRequested);
        };
        let id = unique(&template.id, &used);
        used.push(id.clone());
        let mut ids = Vec::new();
        let vcts = vct_values(&r.type_);
        if !vcts.is_empty() {
            credentials.push(CredentialQuery {
                id: id.clone(),
                meta: CredentialMeta {
                    vct_values: Some(vcts),
                    ..CredentialMeta::default()
                },
                ..template.clone()
            });
            ids.push(id.clone());
        }
        let jwt_id = if ids.is_empty() {
            id
        } else {
            let j = unique(&format!("{id}{JWT_QUERY_SUFFIX}"), &used);
            used.push(j.clone());
            j
        };
        credentials.push(CredentialQuery {
            id: jwt_id.clone(),
            format: CredentialFormat::JwtVcJson,
            multiple: false,
            meta: CredentialMeta {
                type_values: Some(vec![vec![r.type_.clone()]]),
                ..CredentialMeta::default()
            },
            trusted_authorities: None,
            require_cryptographic_holder_binding: None,
            claims: template.claims.as_ref().map(|claims| {
                claims
                    .iter()
                    .map(|c| ClaimsQuery {
                        id: c.id.clone(),
                        path: under_subject(&c.path),
                        values: c.values.clone(),
                    })
                    .collect()
            }),
            claim_sets: None,
        });
        ids.push(jwt_id);
        answers.push(ids);
    }
    let alternatives = answers.iter().any(|a| a.len() > 1);
    let query = DcqlQuery {
        credentials,
        credential_sets: alternatives.then(|| {
            answers
                .iter()
                .map(|ids| CredentialSetQuery {
                    options: ids.iter().map(|id| vec![id.clone()]).collect(),
                    required: None,
                })
                .collect()
        }),
    };
    query.validate()?;
    Ok(QueryPlan { query, answers })
}

/// A DCQL error about `requestedCredentials[0]` of a one-element call, renamed to `[i]`.
fn reindex(e: PresentationError, i: usize) -> PresentationError {
    match e {
        PresentationError::DcqlInvalid { member, reason } => PresentationError::DcqlInvalid {
            member: member.replacen(
                "requestedCredentials[0]",
                &format!("requestedCredentials[{i}]"),
                1,
            ),
            reason,
        },
        other => other,
    }
}

fn unique(base: &str, used: &[String]) -> String {
    if !used.iter().any(|u| u == base) {
        return base.to_owned();
    }
    (2usize..)
        .map(|n| format!("{base}_{n}"))
        .find(|c| !used.iter().any(|u| u == c))
        .unwrap_or_else(|| base.to_owned())
}

/// `path` below `credentialSubject`.
fn under_subject(path: &ClaimPath) -> ClaimPath {
    let mut p = ClaimPath::keys(["credentialSubject"]);
    for element in path.elements() {
        p = match element {
            PathElement::Key(k) => p.key(k.clone()),
            PathElement::Index(i) => p.index(*i),
            PathElement::AllElements => p.all_elements(),
        };
    }
    p
}

/// A stored OpenID4VP request in the verifier's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Openid4vpRequest {
    /// The request id.
    pub request_id: String,
    /// The full Client Identifier, prefix included: the `aud` of every presentation.
    pub client_id: String,
    /// The request's `nonce`.
    pub nonce: String,
    /// The request's `state`; the response must echo it.
    pub state: String,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// The credentials asked for, in request order (the RP's checks: issuers, constraints,
    /// revocation, linked domain).
    pub requested_credentials: Vec<RequestedCredential>,
    /// The query sent and which queries answer which requested credential.
    pub plan: QueryPlan,
}

impl Openid4vpRequest {
    /// The same request as the hosted pipeline's checks read it.
    fn as_pipeline(&self) -> PresentationRequest {
        PresentationRequest {
            request_id: self.request_id.clone(),
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            client_id: self.client_id.clone(),
            definition_id: None,
            expires_at: self.expires_at,
            requested_credentials: self.requested_credentials.clone(),
        }
    }
}

/// The form parameters of a `direct_post` Authorization Response (section 8.2), unparsed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DirectPostResponse {
    /// `vp_token`: the JSON object as text.
    pub vp_token: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error` of an Authorization Error Response.
    pub error: Option<String>,
    /// `error_description` of an Authorization Error Response.
    pub error_description: Option<String>,
}

impl fmt::Debug for DirectPostResponse {
    // Presentations are bearer material carrying personal data: sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectPostResponse")
            .field(
                "vp_token",
                &self
                    .vp_token
                    .as_ref()
                    .map(|t| format!("[{} bytes]", t.len())),
            )
            .field("state", &self.state)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Verifies a `direct_post` response to `request` (`None`: no stored request matches it); see
/// the module docs for the order of the checks. Like [`crate::verify_presentation`], it never
/// panics, records every check that ran, and a transient error consumed nothing.
pub async fn verify_openid4vp_response(
    ctx: &VerifyContext,
    request: Option<&Openid4vpRequest>,
    response: &DirectPostResponse,
) -> Verification {
    let mut rec = Recorder::default();
    let result = run(ctx, &mut rec, request, response).await;
    if let Err(e) = &result {
        tracing::info!(
            code = e.code(),
            transient = e.is_transient(),
            "openid4vp presentation refused"
        );
    }
    Verification {
        checks: rec.into_checks(),
        result,
    }
}

/// One verified presentation, before replay values are consumed.
struct Answered {
    credential: VerifiedCredential,
    /// The holder: the VP's `iss`, or the did:jwk of the SD-JWT VC's `cnf` key.
    holder: String,
    /// (scope, value, expiry) to consume last.
    once: (String, String, i64),
}

async fn run(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    request: Option<&Openid4vpRequest>,
    response: &DirectPostResponse,
) -> Result<VerifiedPresentation, PresentationError> {
    let pipeline = request.map(Openid4vpRequest::as_pipeline);
    let base = request::check_known(rec, pipeline.as_ref(), ctx.now)?;
    let Some(request) = request else {
        return Err(rec.fail("request.known", PresentationError::RequestNotFound));
    };
    if let Some(error) = response.error.as_deref().filter(|e| !e.is_empty()) {
        return Err(rec.fail(
            "response.error",
            PresentationError::WalletError {
                error: printable(error),
                description: response
                    .error_description
                    .as_deref()
                    .map_or_else(|| "no error_description".to_owned(), printable),
            },
        ));
    }
    request::check_state(rec, base, response.state.as_deref().unwrap_or_default())?;
    let Some(param) = response.vp_token.as_deref() else {
        return Err(rec.fail(
            "vp_token.object",
            PresentationError::VpTokenNotObject {
                reason: "the vp_token parameter is missing".into(),
            },
        ));
    };
    let answers = parse_vp_token_param(param, &request.plan.query)
        .map_err(|e| rec.fail("vp_token.object", e))?;
    rec.pass(
        "vp_token.object",
        format!("answers for {} credential queries", answers.len()),
    );

    let mut memo = status::ListMemo::new();
    // One reported answer per requested credential; alternatives the wallet sent as well are
    // verified (and their replay values consumed) but not reported.
    let mut reported: Vec<Answered> = Vec::with_capacity(request.requested_credentials.len());
    let mut also_verified: Vec<Answered> = Vec::new();
    for (i, requested) in request.requested_credentials.iter().enumerate() {
        let ids = request
            .plan
            .answers
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut chosen: Option<Answered> = None;
        for id in ids {
            let (Some(presentations), Some(query)) =
                (answers.get(id), request.plan.query.credential(id))
            else {
                continue;
            };
            for presentation in presentations {
                let answered = match query.format {
                    CredentialFormat::SdJwtVc => {
                        verify_sd_jwt(ctx, rec, &mut memo, request, requested, query, presentation)
                            .await?
                    }
                    CredentialFormat::JwtVcJson => {
                        verify_jwt_vp(ctx, rec, &mut memo, base, requested, query, presentation)
                            .await?
                    }
                    CredentialFormat::Other(_) => {
                        return Err(rec.fail(
                            format!("credential[{id}].format"),
                            PresentationError::CredentialMalformed {
                                descriptor: id.clone(),
                                reason: format!("format {} is not supported", query.format),
                            },
                        ));
                    }
                };
                if chosen.is_none() {
                    chosen = Some(answered);
                } else {
                    also_verified.push(answered);
                }
            }
        }
        let Some(answered) = chosen else {
            return Err(rec.fail(
                "vp_token.coverage",
                PresentationError::VpTokenCredentialMissing {
                    missing: format!("requested credential {:?}", requested.type_),
                },
            ));
        };
        reported.push(answered);
    }

    // Last, so an outage in any check above never burns a value.
    for answered in reported.iter().chain(&also_verified) {
        let (scope, value, expires_at) = &answered.once;
        consume(
            ctx,
            rec,
            &answered.credential.descriptor_id,
            scope,
            value,
            *expires_at,
        )
        .await?;
    }
    let subject = reported
        .first()
        .map(|a| a.holder.clone())
        .unwrap_or_default();
    let vp_jti = reported
        .first()
        .map(|a| a.once.1.clone())
        .unwrap_or_default();
    Ok(VerifiedPresentation {
        subject,
        vp_jti,
        credentials: reported.into_iter().map(|a| a.credential).collect(),
    })
}

/// Keeps a wallet-supplied error text printable and short for messages.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

async fn consume(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    descriptor: &str,
    scope: &str,
    value: &str,
    expires_at: i64,
) -> Result<(), PresentationError> {
    let name = format!("credential[{descriptor}].replay");
    match ctx.replay.consume(scope, value, expires_at, ctx.now).await {
        Ok(true) => {
            rec.pass(name, format!("{scope} used for the first time"));
            Ok(())
        }
        Ok(false) if scope == KB_JWT_REPLAY_SCOPE => Err(rec.fail(
            name,
            PresentationError::KeyBindingReplayed {
                descriptor: descriptor.to_owned(),
            },
        )),
        Ok(false) => Err(rec.fail(
            name,
            PresentationError::VpTokenReplayed {
                jti: value.to_owned(),
            },
        )),
        Err(e) => Err(rec.fail(
            name,
            PresentationError::ReplayGuardUnavailable {
                reason: e.to_string(),
            },
        )),
    }
}

/// Finds an SD-JWT VC issuer's key in its DID document: the header `kid` must be a key of `iss`
/// listed under `assertionMethod`. Keeps the document for the linked-domain report.
struct DidIssuerKeys<'a> {
    resolver: &'a dyn DidResolver,
    document: Mutex<Option<DidDocument>>,
}

#[async_trait::async_trait]
impl IssuerKeyLookup for DidIssuerKeys<'_> {
    async fn issuer_key(
        &self,
        issuer: Option<&str>,
        header: &Header,
    ) -> Result<Jwk, KeyLookupError> {
        let not_found = |reason: String| KeyLookupError::NotFound { reason };
        let issuer = issuer.ok_or_else(|| not_found("the SD-JWT names no issuer".into()))?;
        let kid = header.kid.as_deref().ok_or_else(|| {
            not_found("the issuer-signed JWT has no kid naming the issuer's key".into())
        })?;
        match split_key_id(kid) {
            Ok((Some(did), _)) if did.as_str() != issuer => {
                return Err(not_found(format!(
                    "kid {kid} names DID {}, not {issuer}",
                    did.as_str()
                )));
            }
            Ok(_) => {}
            Err(e) => return Err(not_found(e.to_string())),
        }
        let document = match self.resolver.resolve(issuer).await {
            Ok(d) => d,
            Err(e) if e.is_unavailable() => {
                return Err(KeyLookupError::Unavailable {
                    reason: e.to_string(),
                });
            }
            Err(e) => return Err(not_found(format!("{} ({})", e, e.code()))),
        };
        let key = document
            .key_for(kid, Relationship::AssertionMethod)
            .map_err(|e| not_found(format!("{} ({})", e, e.code())))?;
        if let Ok(mut slot) = self.document.lock() {
            *slot = Some(document);
        }
        Ok(key)
    }
}

/// The [`PresentationError`] for a failed SD-JWT verification.
fn sd_jwt_error(descriptor: &str, issuer: Option<&str>, e: SdJwtError) -> PresentationError {
    use PresentationError as P;
    let d = descriptor.to_owned();
    let reason = format!("{e} ({})", e.code());
    match e {
        SdJwtError::IssuerKeyUnavailable { reason } => P::IssuerDidUnavailable {
            did: issuer.unwrap_or_default().to_owned(),
            reason,
        },
        SdJwtError::IssuerKeyNotFound { reason } => P::CredentialKey {
            descriptor: d,
            kid: "(issuer-signed JWT kid)".into(),
            reason,
        },
        SdJwtError::IssuerSignature(_) => P::CredentialSignature {
            descriptor: d,
            reason,
        },
        SdJwtError::Expired { .. }
        | SdJwtError::NotYetValid { .. }
        | SdJwtError::IssuedInFuture { .. }
        | SdJwtError::MissingExpiry
        | SdJwtError::BadTimeClaim { .. } => P::CredentialTimes {
            descriptor: d,
            reason,
        },
        SdJwtError::KeyBindingMissing => P::HolderBindingMissing { descriptor: d },
        SdJwtError::KeyBindingAudience { expected, found } => P::KeyBindingAudience {
            descriptor: d,
            expected,
            found,
        },
        SdJwtError::KeyBindingNonce => P::KeyBindingNonce { descriptor: d },
        SdJwtError::KeyBindingSignature(_) => P::KeyBindingSignature {
            descriptor: d,
            reason,
        },
        SdJwtError::KeyBindingMalformed(_)
        | SdJwtError::KeyBindingTyp { .. }
        | SdJwtError::KeyBindingClaim { .. }
        | SdJwtError::KeyBindingStale { .. }
        | SdJwtError::KeyBindingInFuture { .. }
        | SdJwtError::KeyBindingSdHash
        | SdJwtError::KeyBindingTimes(_)
        | SdJwtError::UnexpectedKeyBinding
        | SdJwtError::HolderKeyMissing
        | SdJwtError::HolderKeyInvalid(_) => P::KeyBindingInvalid {
            descriptor: d,
            reason,
        },
        SdJwtError::EmptyDisclosure { .. }
        | SdJwtError::MalformedDisclosure { .. }
        | SdJwtError::MalformedSdArray { .. }
        | SdJwtError::MalformedArrayDigest { .. }
        | SdJwtError::DuplicateDigest { .. }
        | SdJwtError::DuplicateDisclosure { .. }
        | SdJwtError::UnreferencedDisclosure { .. }
        | SdJwtError::DisclosureKindMismatch { .. }
        | SdJwtError::ClaimNameCollision { .. }
        | SdJwtError::NonDisclosableClaim { .. }
        | SdJwtError::NestingTooDeep { .. }
        | SdJwtError::MisplacedSdAlg { .. } => P::DisclosureInvalid {
            descriptor: d,
            reason,
        },
        _ => P::SdJwtMalformed {
            descriptor: d,
            reason,
        },
    }
}

/// The unverified `iss` of an SD-JWT, for messages about an unreachable issuer.
fn unverified_issuer(presentation: &str) -> Option<String> {
    let jwt = presentation.split('~').next()?;
    let jws = verity_jose::UnverifiedJws::parse(jwt).ok()?;
    let payload: Value = jws.payload_unverified().ok()?;
    payload.get("iss")?.as_str().map(str::to_owned)
}

#[allow(clippy::too_many_arguments)]
async fn verify_sd_jwt(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    memo: &mut status::ListMemo,
    request: &Openid4vpRequest,
    requested: &RequestedCredential,
    query: &CredentialQuery,
    presentation: &str,
) -> Result<Answered, PresentationError> {
    let id = query.id.as_str();
    let name = |check: &str| format!("credential[{id}].{check}");
    let lookup = DidIssuerKeys {
        resolver: ctx.resolver.as_ref(),
        document: Mutex::new(None),
    };
    let mut options = VerifyOptions::sd_jwt_vc(
        ctx.now,
        KeyBindingPolicy::Required {
            audience: request.client_id.clone(),
            nonce: request.nonce.clone(),
        },
    );
    options.skew_secs = ctx.effective_skew();
    let verified = verity_sd_jwt::verify(presentation, &lookup, &options)
        .await
        .map_err(|e| {
            let issuer = unverified_issuer(presentation);
            rec.fail(name("sd_jwt"), sd_jwt_error(id, issuer.as_deref(), e))
        })?;
    let issuer = verified.issuer.clone().unwrap_or_default();
    rec.pass(
        name("sd_jwt"),
        format!(
            "issuer signature by {issuer}, {} disclosure(s), key binding to {}",
            verified.disclosed.len(),
            request.client_id
        ),
    );

    let check = check_sd_jwt_answer(query, &verified, &requested.accepted_issuers)
        .map_err(|e| rec.fail(name("query"), e))?;
    if !check.extra_disclosures.is_empty() {
        tracing::warn!(
            query = id,
            extra = check.extra_disclosures.len(),
            "the wallet disclosed claims the query did not ask for; they are not reported"
        );
    }
    rec.pass(name("query"), "type, issuer and requested claims");
    if requested.constraints.is_empty() {
        rec.skip(name("constraints"), "none requested");
    } else {
        check_sd_jwt_constraints(id, &verified, &requested.constraints)
            .map_err(|e| rec.fail(name("constraints"), e))?;
        rec.pass(
            name("constraints"),
            format!("{} constraint(s) hold", requested.constraints.len()),
        );
    }

    let revocation_status = check_token_status(
        ctx,
        rec,
        memo,
        requested,
        id,
        &issuer,
        verified.status_list.as_ref(),
    )
    .await?;
    let document = lookup
        .document
        .lock()
        .ok()
        .and_then(|mut d| d.take())
        .unwrap_or_else(|| DidDocument::new(&issuer));
    let checked = CheckedCredential {
        issuer: issuer.clone(),
        issuer_document: document,
        claims: verified.claims.clone(),
        types: verified.vct.iter().cloned().collect(),
        subject: Map::new(),
    };
    let mut for_domain = requested.clone();
    for_domain.type_ = id.to_owned();
    let domain_validation =
        linked_domain::check_linked_domain(ctx, rec, &for_domain, &checked).await?;

    let holder = verified
        .holder_key
        .as_ref()
        .and_then(|k| verity_did::did_jwk_from_jwk(k).ok())
        .unwrap_or_default();
    let kb_jwt = presentation.rsplit('~').next().unwrap_or_default();
    let once = (
        KB_JWT_REPLAY_SCOPE.to_owned(),
        HashAlg::Sha256.digest_b64(kb_jwt.as_bytes()),
        request.expires_at.saturating_add(ctx.effective_skew()),
    );
    Ok(Answered {
        credential: VerifiedCredential {
            descriptor_id: requested.type_.clone(),
            issuer,
            types: checked.types.clone(),
            claims: reported_sd_jwt_claims(&verified, &check.extra_disclosures),
            issuance_date: date_of(&verified.claims, "nbf")
                .or_else(|| date_of(&verified.claims, "iat")),
            expiration_date: date_of(&verified.claims, "exp"),
            revocation_status,
            domain_validation,
            face_check: None,
            pending_face_check: None,
            jti: verified
                .claims
                .get("jti")
                .and_then(Value::as_str)
                .map(str::to_owned),
            raw_jwt: presentation.to_owned(),
        },
        holder,
        once,
    })
}

/// What the RP receives of an SD-JWT VC: the processed payload without the issuer-set
/// members ([`ALWAYS_VISIBLE_CLAIMS`]) and without claims the query did not ask for.
fn reported_sd_jwt_claims(verified: &VerifiedSdJwt, extra: &[ClaimPath]) -> Map<String, Value> {
    let mut claims = verified.claims.clone();
    claims.retain(|k, _| !ALWAYS_VISIBLE_CLAIMS.contains(&k.as_str()));
    for path in extra {
        remove_path(&mut claims, path.elements());
    }
    claims
}

fn remove_path(obj: &mut Map<String, Value>, path: &[PathElement]) {
    match path {
        [PathElement::Key(k)] => {
            obj.remove(k);
        }
        [PathElement::Key(k), rest @ ..] => {
            if let Some(Value::Object(inner)) = obj.get_mut(k) {
                remove_path(inner, rest);
            }
        }
        // Array elements are left in place: removing one would shift the others.
        _ => {}
    }
}

fn date_of(claims: &Map<String, Value>, name: &str) -> Option<String> {
    let t = claims.get(name)?.as_i64()?;
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The IETF Token Status List check of an SD-JWT VC (draft-ietf-oauth-status-list sections 6
/// and 8.3): the list at `status.status_list.uri` must be the credential issuer's; entry `idx`
/// VALID passes, INVALID is a revocation (accepted as REVOKED when the request allows revoked
/// credentials), SUSPENDED and any other status fail.
async fn check_token_status(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    memo: &mut status::ListMemo,
    requested: &RequestedCredential,
    id: &str,
    issuer: &str,
    reference: Option<&StatusListRef>,
) -> Result<RevocationStatus, PresentationError> {
    use PresentationError as E;
    let name = format!("credential[{id}].status");
    let Some(reference) = reference else {
        rec.skip(name, "no status claim: the credential is not revocable");
        return Ok(RevocationStatus::Valid);
    };
    let failed = |reason: String| E::StatusCheckFailed {
        descriptor: id.to_owned(),
        reason,
    };
    let url = &reference.uri;
    let list = match memo.get(url) {
        Some(list) => list.clone(),
        None => match ctx.status.fetch(url, ctx.now).await {
            Ok(list) => {
                memo.insert(url.clone(), list.clone());
                list
            }
            Err(e) if e.is_unavailable() && ctx.fail_open_on_unreachable => {
                tracing::warn!(url = %url, reason = %e, "status list unreachable; failing open as configured");
                rec.skip(
                    name,
                    format!("status list {url} unreachable; accepted because fail_open_on_unreachable is set"),
                );
                return Ok(RevocationStatus::Valid);
            }
            Err(e) if e.is_unavailable() => {
                return Err(rec.fail(
                    &name,
                    E::StatusUnavailable {
                        descriptor: id.to_owned(),
                        url: url.clone(),
                        reason: e.reason().to_owned(),
                    },
                ));
            }
            Err(e) => return Err(rec.fail(&name, failed(format!("list {url}: {}", e.reason())))),
        },
    };
    if list.issuer() != issuer {
        return Err(rec.fail(
            &name,
            failed(format!(
                "list {url} is issued by {}, the credential by {issuer}",
                list.issuer()
            )),
        ));
    }
    let set_means = if list.has_purpose(StatusPurpose::Suspension.as_str()) {
        TokenStatus::Suspended
    } else {
        TokenStatus::Invalid
    };
    let token_list = TokenStatusList::from_bitstring(list.bitstring(), set_means)
        .map_err(|e| rec.fail(&name, failed(format!("{e} ({})", e.code()))))?;
    let idx = usize::try_from(reference.idx).unwrap_or(usize::MAX);
    let status = token_list
        .get(idx)
        .map_err(|e| rec.fail(&name, failed(format!("{e} ({})", e.code()))))?;
    match status {
        TokenStatus::Valid => {
            rec.pass(name, "VALID");
            Ok(RevocationStatus::Valid)
        }
        TokenStatus::Invalid if requested.allow_revoked => {
            rec.pass(
                name,
                "INVALID (revoked), accepted because the request allows revoked credentials",
            );
            Ok(RevocationStatus::Revoked)
        }
        TokenStatus::Invalid => Err(rec.fail(
            name,
            E::CredentialRevoked {
                descriptor: id.to_owned(),
            },
        )),
        TokenStatus::Suspended => Err(rec.fail(
            name,
            E::CredentialSuspended {
                descriptor: id.to_owned(),
            },
        )),
        other => Err(rec.fail(
            &name,
            failed(format!(
                "status {} is not one Verity accepts",
                other.value()
            )),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn verify_jwt_vp(
    ctx: &VerifyContext,
    rec: &mut Recorder,
    memo: &mut status::ListMemo,
    base: &PresentationRequest,
    requested: &RequestedCredential,
    query: &CredentialQuery,
    token: &str,
) -> Result<Answered, PresentationError> {
    use PresentationError as E;
    let id = query.id.as_str();
    let holder_did = verity_jose::UnverifiedJws::parse(token.trim())
        .ok()
        .and_then(|j| j.payload_unverified::<Value>().ok())
        .and_then(|p| p.get("iss").and_then(Value::as_str).map(str::to_owned))
        .filter(|iss| verity_did::Did::parse(iss).is_ok())
        .ok_or_else(|| {
            rec.fail(
                "vp_token.holder",
                E::VpTokenHolderMismatch {
                    reason: format!("the presentation for {id:?} names no holder DID in iss"),
                },
            )
        })?;
    let document = match ctx.resolver.resolve(&holder_did).await {
        Ok(doc) => doc,
        Err(e) if e.is_unavailable() => {
            return Err(rec.fail(
                "vp_token.key",
                E::HolderDidUnavailable {
                    did: holder_did,
                    reason: e.to_string(),
                },
            ));
        }
        Err(e) => {
            return Err(rec.fail(
                "vp_token.key",
                E::VpTokenKey {
                    kid: holder_did,
                    reason: format!("{} ({})", e, e.code()),
                },
            ));
        }
    };
    let holder = HolderProof {
        holder: holder_did,
        document,
        claims: Map::new(),
    };
    let vp = vp_token::verify(ctx, rec, base, &holder, token).await?;
    let type_values = query.meta.type_values.clone().unwrap_or_default();
    let mut last_error = None;
    for raw in &vp.credentials {
        let checked = match credential::verify(ctx, rec, requested, &holder.holder, raw).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        if !type_values
            .iter()
            .any(|alt| alt.iter().all(|t| checked.types.contains(t)))
        {
            last_error = Some(rec.fail(
                format!("credential[{id}].type_values"),
                E::CredentialType {
                    descriptor: id.to_owned(),
                    found: checked.types.clone(),
                },
            ));
            continue;
        }
        let vc = checked.vc().cloned().unwrap_or_default();
        for claim in query.claims.iter().flatten() {
            if select_claims(&vc, &claim.path).is_none() {
                return Err(rec.fail(
                    format!("credential[{id}].claims"),
                    E::ClaimNotDisclosed {
                        descriptor: id.to_owned(),
                        claim: claim.path.to_string(),
                    },
                ));
            }
        }
        rec.pass(
            format!("credential[{id}].claims"),
            "every requested claim is present",
        );
        let revocation_status = status::check_status(ctx, rec, memo, requested, &checked).await?;
        let domain_validation =
            linked_domain::check_linked_domain(ctx, rec, requested, &checked).await?;
        let expires_at = vp
            .exp
            .saturating_add(ctx.effective_skew())
            .min(base.expires_at.saturating_add(ctx.effective_skew()));
        return Ok(Answered {
            credential: VerifiedCredential {
                descriptor_id: requested.type_.clone(),
                issuer: checked.issuer.clone(),
                types: checked.types.clone(),
                claims: checked.reported_claims(),
                issuance_date: checked.issuance_date(),
                expiration_date: checked.expiration_date(),
                revocation_status,
                domain_validation,
                face_check: None,
                pending_face_check: None,
                jti: checked.jti(),
                raw_jwt: raw.clone(),
            },
            holder: holder.holder.clone(),
            once: (VP_TOKEN_REPLAY_SCOPE.to_owned(), vp.jti.clone(), expires_at),
        });
    }
    Err(last_error.unwrap_or_else(|| {
        rec.fail(
            format!("credential[{id}].type"),
            E::VpTokenCredentialMissing {
                missing: format!("credential query {id:?}"),
            },
        )
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use verity_jose::{Algorithm, LocalSigner, SigningKey};
    use verity_sd_jwt::{SdJwt, SdJwtBuilder};

    use super::*;
    use crate::testkit::*;

    const VE: &str = "VerifiedEmployee";
    const VCT: &str = "https://issuer.example/vct/verified-employee";
    const CLIENT_ID: &str = "decentralized_identifier:did:web:verifier.example";
    const LIST: &str = "https://issuer.example/v1.0/status/list-1";

    fn requested() -> RequestedCredential {
        let mut r = RequestedCredential::new(VE);
        r.accepted_issuers = vec!["did:web:issuer.example".into()];
        r.constraints = vec![crate::Constraint {
            claim_name: "jobTitle".into(),
            op: crate::ConstraintOp::Values(vec!["Engineer".into()]),
        }];
        r
    }

    fn plan(requested: &[RequestedCredential]) -> QueryPlan {
        let extra = vec![vec!["displayName".to_owned()]; requested.len()];
        plan_query(requested, &extra, |t| {
            if t == VE {
                vec![VCT.to_owned()]
            } else {
                vec![]
            }
        })
        .unwrap()
    }

    fn request(f: &Fixture, requested: Vec<RequestedCredential>) -> Openid4vpRequest {
        Openid4vpRequest {
            request_id: "req-1".into(),
            client_id: CLIENT_ID.into(),
            nonce: f.request.nonce.clone(),
            state: "req-1".into(),
            expires_at: NOW + 300,
            plan: plan(&requested),
            requested_credentials: requested,
        }
    }

    /// An SD-JWT VC of the fixture's issuer bound to the fixture's holder, every subject claim
    /// disclosable; `status` points at entry `idx` of `LIST` when given.
    async fn sd_jwt_vc(f: &Fixture, idx: Option<u32>) -> String {
        let mut claims = json!({
            "iss": f.issuer.did, "vct": VCT, "iat": NOW - 60, "exp": NOW + 86_400,
            "displayName": "Megan Bowen", "jobTitle": "Engineer", "email": "megan@contoso.example",
        });
        if let Some(idx) = idx {
            claims["status"] = json!({ "status_list": { "idx": idx, "uri": LIST } });
        }
        let signer = LocalSigner::new(
            SigningKey::from_secret_bytes(
                f.issuer.key.algorithm(),
                &f.issuer.key.to_secret_bytes(),
            )
            .unwrap(),
            f.issuer.kid.clone(),
        );
        let mut b = SdJwtBuilder::sd_jwt_vc(claims.as_object().unwrap().clone())
            .holder_key(f.holder.key.public_jwk());
        for name in ["displayName", "jobTitle", "email"] {
            b = b.selectively_disclosable(ClaimPath::keys([name]));
        }
        b.sign(&signer).await.unwrap().sd_jwt
    }

    /// The holder's presentation of `issued` with `claims` disclosed and a KB-JWT for `aud` and
    /// `nonce`, signed with `key` (any key: the verifier decides whether it is `cnf`'s).
    fn present(issued: &str, claims: &[&str], aud: &str, nonce: &str, key: &SigningKey) -> String {
        let paths: Vec<ClaimPath> = claims.iter().map(|c| ClaimPath::keys([*c])).collect();
        let p = SdJwt::parse(issued).unwrap().present(&paths).unwrap();
        bind(p.as_str(), aud, nonce, key)
    }

    /// `sd_jwt` (ending in `~`) with a KB-JWT over exactly its bytes.
    fn bind(sd_jwt: &str, aud: &str, nonce: &str, key: &SigningKey) -> String {
        let payload = json!({
            "iat": NOW, "aud": aud, "nonce": nonce,
            "sd_hash": HashAlg::Sha256.digest_b64(sd_jwt.as_bytes()),
        });
        let mut header = verity_jose::Header::new(key.algorithm());
        header.typ = Some("kb+jwt".into());
        let kb = verity_jose::sign_compact(key, &header, payload.to_string().as_bytes()).unwrap();
        format!("{sd_jwt}{kb}")
    }

    fn post(vp_token: Value, state: &str) -> DirectPostResponse {
        DirectPostResponse {
            vp_token: Some(vp_token.to_string()),
            state: Some(state.into()),
            ..DirectPostResponse::default()
        }
    }

    async fn good_sd(f: &Fixture, r: &Openid4vpRequest) -> String {
        let issued = sd_jwt_vc(f, None).await;
        present(
            &issued,
            &["jobTitle", "displayName"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        )
    }

    fn fails(v: &Verification, code: &str) -> PresentationError {
        let e = v
            .error()
            .cloned()
            .unwrap_or_else(|| panic!("expected {code}, verified"));
        assert_eq!(e.code(), code, "{e}");
        e
    }

    #[test]
    fn plans_both_formats_as_alternatives_in_request_order() {
        let mut other = RequestedCredential::new("BuildingAccess");
        other.constraints = vec![crate::Constraint {
            claim_name: "site".into(),
            op: crate::ConstraintOp::StartsWith("HQ".into()),
        }];
        let p = plan(&[requested(), other]);
        let q = serde_json::to_value(&p.query).unwrap();
        assert_eq!(
            q,
            json!({
                "credentials": [
                    { "id": VE, "format": "dc+sd-jwt", "meta": { "vct_values": [VCT] },
                      "claims": [ { "path": ["jobTitle"], "values": ["Engineer"] },
                                  { "path": ["displayName"] } ] },
                    { "id": "VerifiedEmployee_jwt", "format": "jwt_vc_json",
                      "meta": { "type_values": [[VE]] },
                      "claims": [ { "path": ["credentialSubject", "jobTitle"], "values": ["Engineer"] },
                                  { "path": ["credentialSubject", "displayName"] } ] },
                    { "id": "BuildingAccess", "format": "jwt_vc_json",
                      "meta": { "type_values": [["BuildingAccess"]] },
                      "claims": [ { "path": ["credentialSubject", "site"] },
                                  { "path": ["credentialSubject", "displayName"] } ] },
                ],
                "credential_sets": [
                    { "options": [[VE], ["VerifiedEmployee_jwt"]] },
                    { "options": [["BuildingAccess"]] },
                ],
            })
        );
        assert_eq!(
            p.answers,
            vec![
                vec![VE.to_owned(), "VerifiedEmployee_jwt".to_owned()],
                vec!["BuildingAccess".to_owned()]
            ]
        );
        // Without any vct, no credential_sets: every query is required.
        let p = plan_query(&[RequestedCredential::new("A")], &[], |_| vec![]).unwrap();
        assert!(p.query.credential_sets.is_none());
        assert_eq!(p.answers, vec![vec!["A".to_owned()]]);
    }

    #[test]
    fn plan_errors_name_the_requested_credential() {
        let e = plan_query(
            &[RequestedCredential::new("A"), RequestedCredential::new("B")],
            &[vec![], vec![String::new()]],
            |_| vec![],
        )
        .unwrap_err();
        assert_eq!(e.code(), "PRES-056");
        assert!(
            e.to_string().contains("requestedCredentials[1].claims"),
            "{e}"
        );
        let mut bad = RequestedCredential::new("B");
        bad.constraints = vec![crate::Constraint {
            claim_name: String::new(),
            op: crate::ConstraintOp::Contains("x".into()),
        }];
        let e = plan_query(&[RequestedCredential::new("A"), bad], &[], |_| vec![]).unwrap_err();
        assert!(
            e.to_string()
                .contains("requestedCredentials[1].constraints[0]"),
            "{e}"
        );
        assert_eq!(
            plan_query(&[], &[], |_| vec![]).unwrap_err().code(),
            "PRES-055"
        );
    }

    #[tokio::test]
    async fn sd_jwt_vc_is_verified_and_reports_only_requested_claims() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let issued = sd_jwt_vc(&f, None).await;
        // The wallet over-discloses `email`: verified, but not reported.
        let vp = present(
            &issued,
            &["jobTitle", "displayName", "email"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &post(json!({ VE: [vp] }), "req-1"))
            .await;
        let p = v.result.as_ref().unwrap_or_else(|e| panic!("{e}"));
        let c = &p.credentials[0];
        assert_eq!(c.descriptor_id, VE);
        assert_eq!(c.issuer, f.issuer.did);
        assert_eq!(c.types, vec![VCT.to_owned()]);
        assert_eq!(
            Value::Object(c.claims.clone()),
            json!({ "displayName": "Megan Bowen", "jobTitle": "Engineer" })
        );
        assert_eq!(c.revocation_status, RevocationStatus::Valid);
        assert!(p.subject.starts_with("did:jwk:"), "{}", p.subject);
        assert_eq!(f.replay.consumed(), 1);
        assert!(
            v.checks
                .iter()
                .any(|c| c.name == "credential[VerifiedEmployee].replay")
        );
    }

    #[tokio::test]
    async fn each_key_binding_failure_has_its_code() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let issued = sd_jwt_vc(&f, None).await;
        let check = |vp: String| {
            let r = r.clone();
            let ctx = f.ctx();
            async move {
                verify_openid4vp_response(&ctx, Some(&r), &post(json!({ VE: [vp] }), "req-1")).await
            }
        };
        // aud without the Client Identifier Prefix, as pre-1.0 wallets send it.
        let v = check(present(
            &issued,
            &["jobTitle"],
            "did:web:verifier.example",
            &r.nonce,
            &f.holder.key,
        ))
        .await;
        fails(&v, "PRES-066");
        let v = check(present(
            &issued,
            &["jobTitle"],
            CLIENT_ID,
            "another-nonce",
            &f.holder.key,
        ))
        .await;
        fails(&v, "PRES-067");
        let stranger = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let v = check(present(
            &issued,
            &["jobTitle"],
            CLIENT_ID,
            &r.nonce,
            &stranger,
        ))
        .await;
        fails(&v, "PRES-068");
        // No KB-JWT at all.
        let bare = SdJwt::parse(&issued)
            .unwrap()
            .present(&[ClaimPath::keys(["jobTitle"])])
            .unwrap();
        let v = check(bare.as_str().to_owned()).await;
        fails(&v, "PRES-064");
        // A KB-JWT over other disclosures than those presented.
        let good = present(&issued, &["jobTitle"], CLIENT_ID, &r.nonce, &f.holder.key);
        let kb = good.rsplit('~').next().unwrap();
        let other = present(
            &issued,
            &["jobTitle", "displayName"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let spliced = format!("{}{kb}", &other[..other.rfind('~').unwrap() + 1]);
        let v = check(spliced).await;
        let e = fails(&v, "PRES-069");
        assert!(e.to_string().contains("SDJWT-043"), "{e}");
        assert_eq!(f.replay.consumed(), 0, "refusals consume nothing");
    }

    #[tokio::test]
    async fn tampered_undisclosed_and_missing_answers_are_refused() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let issued = sd_jwt_vc(&f, None).await;
        // A disclosure the issuer never signed (its digest is nowhere in the payload); the
        // holder signs over exactly what it sends, so only the disclosure check fails.
        let forged = verity_sd_jwt::Disclosure::from_parts(
            "salt-salt-salt".into(),
            Some("jobTitle".into()),
            json!("CEO"),
        )
        .unwrap();
        let p = SdJwt::parse(&issued).unwrap().present(&[]).unwrap();
        let vp = bind(
            &format!("{}{}~", p.as_str(), forged.encoded()),
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &post(json!({ VE: [vp] }), "req-1"))
            .await;
        let e = fails(&v, "PRES-070");
        assert!(e.to_string().contains("SDJWT-018"), "{e}");

        // jobTitle (constrained) not disclosed.
        let vp = present(
            &issued,
            &["displayName"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &post(json!({ VE: [vp] }), "req-1"))
            .await;
        fails(&v, "PRES-062");

        // Nothing answers the requested credential.
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &post(json!({}), "req-1")).await;
        fails(&v, "PRES-059");
        // The vp_token missing altogether, or not JSON.
        let mut resp = post(json!({}), "req-1");
        resp.vp_token = None;
        fails(
            &verify_openid4vp_response(&f.ctx(), Some(&r), &resp).await,
            "PRES-057",
        );
        resp.vp_token = Some("eyJ...".into());
        fails(
            &verify_openid4vp_response(&f.ctx(), Some(&r), &resp).await,
            "PRES-057",
        );
    }

    #[tokio::test]
    async fn request_state_and_wallet_errors_come_first() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let vp = good_sd(&f, &r).await;
        let v =
            verify_openid4vp_response(&f.ctx(), None, &post(json!({ VE: [vp.clone()] }), "req-1"))
                .await;
        fails(&v, "PRES-001");
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(json!({ VE: [vp.clone()] }), "other"),
        )
        .await;
        fails(&v, "PRES-003");
        let declined = DirectPostResponse {
            error: Some("access_denied".into()),
            error_description: Some("the user said no\u{7}".into()),
            state: Some("req-1".into()),
            ..DirectPostResponse::default()
        };
        let e = fails(
            &verify_openid4vp_response(&f.ctx(), Some(&r), &declined).await,
            "PRES-065",
        );
        assert_eq!(
            e.to_string(),
            "wallet: answered with error \"access_denied\" instead of a vp_token: the user said no"
        );
        let mut late = r.clone();
        late.expires_at = NOW;
        let v =
            verify_openid4vp_response(&f.ctx(), Some(&late), &post(json!({ VE: [vp] }), "req-1"))
                .await;
        fails(&v, "PRES-002");
    }

    #[tokio::test]
    async fn token_status_list_entries_decide_revocation() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        f.status.insert(LIST, verified_list(&f.issuer, LIST, &[7]));
        let revoked = sd_jwt_vc(&f, Some(7)).await;
        let vp = present(
            &revoked,
            &["jobTitle", "displayName"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(json!({ VE: [vp.clone()] }), "req-1"),
        )
        .await;
        fails(&v, "PRES-043");
        // Allowed: verified and reported REVOKED.
        let mut allowing = r.clone();
        allowing.requested_credentials[0].allow_revoked = true;
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&allowing),
            &post(json!({ VE: [vp] }), "req-1"),
        )
        .await;
        assert_eq!(
            v.result.unwrap().credentials[0].revocation_status,
            RevocationStatus::Revoked
        );
        let valid = sd_jwt_vc(&f, Some(8)).await;
        let vp = present(
            &valid,
            &["jobTitle", "displayName"],
            CLIENT_ID,
            &r.nonce,
            &f.holder.key,
        );
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &post(json!({ VE: [vp] }), "req-1"))
            .await;
        assert!(v.is_verified(), "{:?}", v.error());
        // A list of another issuer cannot vouch for this credential.
        let g = Fixture::new();
        let r = request(&g, vec![requested()]);
        g.status.insert(LIST, verified_list(&g.partner, LIST, &[]));
        let vp = present(
            &sd_jwt_vc(&g, Some(1)).await,
            &["jobTitle", "displayName"],
            CLIENT_ID,
            &r.nonce,
            &g.holder.key,
        );
        let v = verify_openid4vp_response(&g.ctx(), Some(&r), &post(json!({ VE: [vp] }), "req-1"))
            .await;
        fails(&v, "PRES-045");
    }

    #[tokio::test]
    async fn replayed_key_binding_is_refused_and_outages_burn_nothing() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let vp = good_sd(&f, &r).await;
        let body = post(json!({ VE: [vp] }), "req-1");
        f.resolver.unreachable(&f.issuer.did);
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &body).await;
        let e = fails(&v, "PRES-034");
        assert!(e.is_transient());
        assert_eq!(f.replay.consumed(), 0);
        f.resolver.reachable(&f.issuer.did);
        assert!(
            verify_openid4vp_response(&f.ctx(), Some(&r), &body)
                .await
                .is_verified()
        );
        let v = verify_openid4vp_response(&f.ctx(), Some(&r), &body).await;
        fails(&v, "PRES-072");
    }

    #[tokio::test]
    async fn jwt_vc_json_presentations_use_the_hosted_checks() {
        let f = Fixture::new();
        let r = request(&f, vec![requested()]);
        let vp_claims = |aud: &str, nonce: &str| {
            json!({
                "iss": f.holder.did, "aud": aud, "nonce": nonce, "jti": "urn:uuid:vp-1",
                "iat": NOW, "nbf": NOW, "exp": NOW + 120,
                "vp": { "@context": ["https://www.w3.org/2018/credentials/v1"],
                        "type": ["VerifiablePresentation"], "verifiableCredential": [f.vc(VE)] },
            })
        };
        let vp = f.holder.sign(&vp_claims(CLIENT_ID, &r.nonce));
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(json!({ "VerifiedEmployee_jwt": [vp] }), "req-1"),
        )
        .await;
        let p = v.result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.subject, f.holder.did);
        assert_eq!(p.credentials[0].claims["jobTitle"], "Engineer");
        assert_eq!(p.vp_jti, "urn:uuid:vp-1");
        // aud without the prefix.
        let vp = f
            .holder
            .sign(&vp_claims("did:web:verifier.example", &r.nonce));
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(json!({ "VerifiedEmployee_jwt": [vp] }), "req-1"),
        )
        .await;
        fails(&v, "PRES-019");
        let vp = f.holder.sign(&vp_claims(CLIENT_ID, "other"));
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(json!({ "VerifiedEmployee_jwt": [vp] }), "req-1"),
        )
        .await;
        fails(&v, "PRES-020");
        // A credential without a claim the query asks for.
        let mut claims = f.vc_claims(&f.issuer, VE);
        claims["vc"]["credentialSubject"]
            .as_object_mut()
            .unwrap()
            .remove("displayName");
        let mut vp = vp_claims(CLIENT_ID, &r.nonce);
        vp["jti"] = json!("urn:uuid:vp-2");
        vp["vp"]["verifiableCredential"] = json!([f.issuer.sign(&claims)]);
        let v = verify_openid4vp_response(
            &f.ctx(),
            Some(&r),
            &post(
                json!({ "VerifiedEmployee_jwt": [f.holder.sign(&vp)] }),
                "req-1",
            ),
        )
        .await;
        fails(&v, "PRES-062");
    }
}
