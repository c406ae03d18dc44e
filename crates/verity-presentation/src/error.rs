//! The crate's one error type, its stable codes, the callback codes they map to, and which
//! failures are outages rather than verdicts.

use std::fmt;

/// Why a presentation was not accepted: one variant per check of the pipeline.
///
/// Two kinds of failure share this enum. Most variants are **verdicts**: the check ran and the
/// presentation failed it. The variants for which [`PresentationError::is_transient`] is true
/// are **outages**: a DID document, status list, replay store or face matcher could not be
/// reached, so the check could not run. An outage is never a verdict: the caller answers
/// 503/502 and records no failed presentation, so the wallet may simply retry.
///
/// Messages name the check and why it failed; they never contain tokens, nonces or claim values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PresentationError {
    /// No stored presentation request matches the response.
    #[error("request: no presentation request is known for this response")]
    RequestNotFound,
    /// The presentation request asks for no credential: nothing could be verified, so
    /// nothing is (fails closed instead of verifying a presentation of zero credentials).
    #[error("request: the presentation request asks for no credentials")]
    NothingRequested,
    /// The presentation request has expired.
    #[error("request: the presentation request expired at {expires_at} (now {now})")]
    RequestExpired {
        /// The request's expiry, unix seconds.
        expires_at: i64,
        /// The time of the check.
        now: i64,
    },
    /// The response's `state` is not the request's.
    #[error("state: the response's state does not match the presentation request")]
    StateMismatch,

    /// The id_token is not a compact JWS with a JSON object payload.
    #[error("id_token: malformed: {reason}")]
    IdTokenMalformed {
        /// What was wrong.
        reason: String,
    },
    /// The id_token's `alg` is `none`, HMAC or unsupported.
    #[error("id_token: algorithm refused: {reason}")]
    IdTokenAlgorithm {
        /// What was wrong.
        reason: String,
    },
    /// The id_token's `kid` or `sub` does not name one holder DID.
    #[error("id_token: holder mismatch: {reason}")]
    IdTokenHolderMismatch {
        /// What was wrong.
        reason: String,
    },
    /// The holder's DID document could not be fetched (an outage, not a verdict).
    #[error("holder DID {did} could not be resolved right now: {reason}")]
    HolderDidUnavailable {
        /// The holder DID.
        did: String,
        /// The resolver's explanation.
        reason: String,
    },
    /// The id_token's key is not an authentication key of the holder DID.
    #[error("id_token: key {kid} is not usable for holder authentication: {reason}")]
    IdTokenKey {
        /// The header `kid`.
        kid: String,
        /// The resolver's or document's explanation.
        reason: String,
    },
    /// The id_token's signature does not verify under the holder's key.
    #[error("id_token: signature rejected: {reason}")]
    IdTokenSignature {
        /// The verifier's explanation.
        reason: String,
    },
    /// The id_token's `iss` is not the self-issued issuer.
    #[error("id_token: iss must be {expected:?}, found {found:?}")]
    IdTokenIssuer {
        /// The required issuer.
        expected: String,
        /// The `iss` found (empty when missing).
        found: String,
    },
    /// The id_token's `aud` is not our client_id.
    #[error("id_token: aud must be {expected:?}, found {found}")]
    IdTokenAudience {
        /// Our client_id.
        expected: String,
        /// The `aud` found, as JSON.
        found: String,
    },
    /// The id_token's `nonce` is not the request's.
    #[error("id_token: nonce does not match the presentation request's nonce")]
    IdTokenNonce,
    /// The id_token is expired, not yet valid, issued in the future or has no `exp`.
    #[error("id_token: time check failed: {reason}")]
    IdTokenTimes {
        /// The time check's explanation.
        reason: String,
    },

    /// The vp_token is not a compact JWS with the expected payload.
    #[error("vp_token: malformed: {reason}")]
    VpTokenMalformed {
        /// What was wrong.
        reason: String,
    },
    /// The vp_token's `alg` is `none`, HMAC or unsupported.
    #[error("vp_token: algorithm refused: {reason}")]
    VpTokenAlgorithm {
        /// What was wrong.
        reason: String,
    },
    /// The vp_token is not from the holder that signed the id_token.
    #[error("vp_token: holder mismatch: {reason}")]
    VpTokenHolderMismatch {
        /// What was wrong.
        reason: String,
    },
    /// The vp_token's key is not an authentication key of the holder DID.
    #[error("vp_token: key {kid} is not usable for holder authentication: {reason}")]
    VpTokenKey {
        /// The header `kid`.
        kid: String,
        /// The document's explanation.
        reason: String,
    },
    /// The vp_token's signature does not verify under the holder's key.
    #[error("vp_token: signature rejected: {reason}")]
    VpTokenSignature {
        /// The verifier's explanation.
        reason: String,
    },
    /// The vp_token's `aud` is not our client_id.
    #[error("vp_token: aud must be {expected:?}, found {found}")]
    VpTokenAudience {
        /// Our client_id.
        expected: String,
        /// The `aud` found, as JSON.
        found: String,
    },
    /// The vp_token's `nonce` is not the request's.
    #[error("vp_token: nonce does not match the presentation request's nonce")]
    VpTokenNonce,
    /// The vp_token is expired, not yet valid, issued in the future or has no `exp`.
    #[error("vp_token: time check failed: {reason}")]
    VpTokenTimes {
        /// The time check's explanation.
        reason: String,
    },
    /// The vp_token has no `jti`, so it cannot be protected against replay.
    #[error("vp_token: jti is required (a non-empty string) so replays can be detected")]
    VpTokenJtiMissing,
    /// The vp_token was already accepted once.
    #[error("vp_token: jti {jti:?} was already used: the presentation is a replay")]
    VpTokenReplayed {
        /// The replayed `jti`.
        jti: String,
    },
    /// The replay store could not be consulted (an outage, not a verdict).
    #[error("vp_token: the replay store is unavailable: {reason}")]
    ReplayGuardUnavailable {
        /// The store's explanation.
        reason: String,
    },

    /// `_vp_token.presentation_submission` is missing or not shaped as DIF PE requires.
    #[error("presentation_submission: malformed: {reason}")]
    SubmissionMalformed {
        /// What was wrong.
        reason: String,
    },
    /// The submission answers another presentation definition.
    #[error("presentation_submission: definition_id must be {expected:?}, found {found:?}")]
    SubmissionDefinitionMismatch {
        /// The request's presentation definition id.
        expected: String,
        /// The submission's `definition_id`.
        found: String,
    },
    /// A requested credential has no `descriptor_map` entry.
    #[error("presentation_submission: no descriptor_map entry answers {descriptor:?}")]
    SubmissionDescriptorMissing {
        /// The requested credential's input descriptor id.
        descriptor: String,
    },
    /// A `descriptor_map` entry names an input descriptor the request did not contain.
    #[error("presentation_submission: descriptor {descriptor:?} was not requested")]
    SubmissionUnknownDescriptor {
        /// The unknown descriptor id.
        descriptor: String,
    },
    /// A `descriptor_map` entry's format or path does not select a JWT-VC in the vp_token.
    #[error("presentation_submission: descriptor {descriptor:?}: {reason}")]
    SubmissionPath {
        /// The descriptor id.
        descriptor: String,
        /// What was wrong with its path or format.
        reason: String,
    },
    /// Two requested credentials are answered by the same presented credential.
    #[error(
        "presentation_submission: {descriptor:?} and {other:?} both point at \
         verifiableCredential[{index}]; each requested credential needs its own"
    )]
    SubmissionCredentialReused {
        /// The later descriptor.
        descriptor: String,
        /// The earlier descriptor with the same credential.
        other: String,
        /// The shared index.
        index: usize,
    },

    /// The credential is not a JWT-VC (compact JWS with `iss` and a `vc` object).
    #[error("credential for {descriptor:?}: malformed: {reason}")]
    CredentialMalformed {
        /// The requested credential it answers.
        descriptor: String,
        /// What was wrong.
        reason: String,
    },
    /// The credential's `alg` is `none`, HMAC or unsupported.
    #[error("credential for {descriptor:?}: algorithm refused: {reason}")]
    CredentialAlgorithm {
        /// The requested credential it answers.
        descriptor: String,
        /// What was wrong.
        reason: String,
    },
    /// The credential's `kid` does not name a key of its `iss`.
    #[error("credential for {descriptor:?}: kid does not belong to the issuer: {reason}")]
    CredentialKidMismatch {
        /// The requested credential it answers.
        descriptor: String,
        /// What was wrong.
        reason: String,
    },
    /// The issuer's DID document could not be fetched (an outage, not a verdict).
    #[error("issuer DID {did} could not be resolved right now: {reason}")]
    IssuerDidUnavailable {
        /// The issuer DID.
        did: String,
        /// The resolver's explanation.
        reason: String,
    },
    /// The credential's key is not an assertionMethod key of the issuer DID.
    #[error("credential for {descriptor:?}: key {kid} is not an issuer assertion key: {reason}")]
    CredentialKey {
        /// The requested credential it answers.
        descriptor: String,
        /// The header `kid`.
        kid: String,
        /// The resolver's or document's explanation.
        reason: String,
    },
    /// The credential's signature does not verify under the issuer's key.
    #[error("credential for {descriptor:?}: signature rejected: {reason}")]
    CredentialSignature {
        /// The requested credential it answers.
        descriptor: String,
        /// The verifier's explanation.
        reason: String,
    },
    /// `iss` and `vc.issuer` name different issuers.
    #[error("credential for {descriptor:?}: iss {iss:?} differs from vc.issuer {vc_issuer:?}")]
    CredentialIssuerMismatch {
        /// The requested credential it answers.
        descriptor: String,
        /// The JWT `iss`.
        iss: String,
        /// The `vc.issuer` (or its `id`).
        vc_issuer: String,
    },
    /// The credential is expired, not yet valid or issued in the future.
    #[error("credential for {descriptor:?}: time check failed: {reason}")]
    CredentialTimes {
        /// The requested credential it answers.
        descriptor: String,
        /// The time check's explanation.
        reason: String,
    },
    /// The credential is not bound to the presenting holder.
    #[error("credential for {descriptor:?}: not bound to holder {holder}: {reason}")]
    CredentialSubjectMismatch {
        /// The requested credential it answers.
        descriptor: String,
        /// The presenting holder DID.
        holder: String,
        /// What was wrong.
        reason: String,
    },
    /// The credential's issuer is not among the request's acceptedIssuers.
    #[error("credential for {descriptor:?}: issuer {issuer} is not an accepted issuer")]
    IssuerNotAccepted {
        /// The requested credential it answers.
        descriptor: String,
        /// The credential's issuer.
        issuer: String,
    },
    /// The credential does not have the requested type.
    #[error("credential for {descriptor:?}: type {found:?} does not include the requested type")]
    CredentialType {
        /// The requested type.
        descriptor: String,
        /// The credential's types.
        found: Vec<String>,
    },
    /// A claim constraint of the request does not hold.
    #[error("credential for {descriptor:?}: constraint on claim {claim:?} failed: {reason}")]
    ConstraintFailed {
        /// The requested credential it answers.
        descriptor: String,
        /// The constrained claim name.
        claim: String,
        /// Why (missing, not a string, no match); never the claim's value.
        reason: String,
    },
    /// The credential is revoked and the request does not allow revoked credentials.
    #[error("credential for {descriptor:?}: revoked by its issuer")]
    CredentialRevoked {
        /// The requested credential it answers.
        descriptor: String,
    },
    /// The credential is suspended.
    #[error("credential for {descriptor:?}: suspended by its issuer")]
    CredentialSuspended {
        /// The requested credential it answers.
        descriptor: String,
    },
    /// The status could not be established from the entry and list (a bad entry, a list that
    /// fails verification, a list of another issuer): fail closed.
    #[error("credential for {descriptor:?}: status check failed: {reason}")]
    StatusCheckFailed {
        /// The requested credential it answers.
        descriptor: String,
        /// What was wrong.
        reason: String,
    },
    /// The status list could not be fetched (an outage, not a verdict).
    #[error("credential for {descriptor:?}: status list {url} is unavailable: {reason}")]
    StatusUnavailable {
        /// The requested credential it answers.
        descriptor: String,
        /// The status list URL.
        url: String,
        /// The source's explanation.
        reason: String,
    },
    /// The issuer's linked domain did not verify.
    #[error(
        "credential for {descriptor:?}: issuer {issuer} has no verified linked domain: {reason}"
    )]
    LinkedDomainUnverified {
        /// The requested credential it answers.
        descriptor: String,
        /// The issuer DID.
        issuer: String,
        /// The linkage check's reason.
        reason: String,
        /// The origin concerned, when there is one.
        origin: Option<String>,
    },
    /// The linked domain check could not run (an outage, not a verdict).
    #[error(
        "credential for {descriptor:?}: linked domain of {issuer} could not be checked: {reason}"
    )]
    LinkedDomainUnavailable {
        /// The requested credential it answers.
        descriptor: String,
        /// The issuer DID.
        issuer: String,
        /// What stopped the check.
        reason: String,
    },
    /// The request asks for a face check but none is configured.
    #[error(
        "credential for {descriptor:?}: the request asks for a face check, but no face check \
         is configured on this verifier"
    )]
    FaceCheckNotConfigured {
        /// The requested credential it answers.
        descriptor: String,
    },
    /// The credential has no usable source photo claim.
    #[error(
        "credential for {descriptor:?}: face check source photo claim {claim:?} is missing or not a string"
    )]
    FaceCheckPhotoMissing {
        /// The requested credential it answers.
        descriptor: String,
        /// The photo claim name.
        claim: String,
    },
    /// The face check score is below the request's threshold.
    #[error("credential for {descriptor:?}: face check score {score} below threshold {threshold}")]
    FaceCheckBelowThreshold {
        /// The requested credential it answers.
        descriptor: String,
        /// The match confidence score (0-100).
        score: f64,
        /// The required threshold.
        threshold: u8,
    },
    /// The face check ran and refused (e.g. no face found).
    #[error("credential for {descriptor:?}: face check failed: {reason}")]
    FaceCheckFailed {
        /// The requested credential it answers.
        descriptor: String,
        /// The matcher's explanation.
        reason: String,
    },
    /// The face matcher could not be reached (an outage, not a verdict).
    #[error("credential for {descriptor:?}: face check unavailable: {reason}")]
    FaceCheckUnavailable {
        /// The requested credential it answers.
        descriptor: String,
        /// The matcher's explanation.
        reason: String,
    },
    /// The presented "credential" is another kind of token (a status list, a domain linkage
    /// credential, a request object, a presentation, ...), even if its issuer signed it.
    #[error("credential for {descriptor:?}: not a credential: {reason}")]
    CredentialKind {
        /// The requested credential it answers.
        descriptor: String,
        /// The kind check's explanation (names the offending `typ` or claim).
        reason: String,
    },

    /// A DCQL query (OpenID4VP 1.0 section 6) breaks a rule of the specification, or a
    /// requested credential cannot be expressed as one. Raised while a request is built, before
    /// anything is sent to a wallet; the message names the offending member.
    #[error("dcql_query: {member}: {reason}")]
    DcqlInvalid {
        /// The member, as a JSON path into the query (`credentials[0].claims[1].path`) or into
        /// the request it was built from (`requestedCredentials[0].type`).
        member: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The DCQL `vp_token` is not a JSON object (OpenID4VP 1.0 section 8.1).
    #[error("vp_token: must be a JSON object keyed by credential query id: {reason}")]
    VpTokenNotObject {
        /// What was found instead.
        reason: String,
    },
    /// The `vp_token` has a key that is not the id of a credential query of the request.
    #[error("vp_token: {key:?} is not the id of a credential query of this request")]
    VpTokenUnknownQuery {
        /// The unknown key.
        key: String,
    },
    /// A credential query (or a required credential set) has no answer in the `vp_token`.
    #[error("vp_token: no presentation answers {missing}")]
    VpTokenCredentialMissing {
        /// The credential query or credential set left unanswered.
        missing: String,
    },
    /// A credential query without `multiple: true` is answered with more than one presentation.
    #[error("vp_token: credential query {query:?} allows one presentation, {count} were sent")]
    VpTokenTooManyPresentations {
        /// The credential query id.
        query: String,
        /// How many presentations were sent.
        count: usize,
    },
    /// A `vp_token` entry is not a non-empty array of presentation strings.
    #[error("vp_token: the entry for {query:?} is malformed: {reason}")]
    VpTokenEntryMalformed {
        /// The credential query id.
        query: String,
        /// What was wrong (never the presentation itself).
        reason: String,
    },
    /// A claim the credential query asks for is not in the presented credential.
    #[error("credential for {descriptor:?}: requested claim {claim} was not disclosed")]
    ClaimNotDisclosed {
        /// The credential query id.
        descriptor: String,
        /// The claims path pointer, as JSON.
        claim: String,
    },
    /// None of the credential query's `claim_sets` options is disclosed in full.
    #[error(
        "credential for {descriptor:?}: no option of claim_sets is disclosed in full: {reason}"
    )]
    ClaimSetsUnsatisfied {
        /// The credential query id.
        descriptor: String,
        /// The first missing claim of each option.
        reason: String,
    },
    /// The credential query requires cryptographic holder binding and the presentation has no
    /// verified Key Binding JWT.
    #[error("credential for {descriptor:?}: holder binding is required and was not proven")]
    HolderBindingMissing {
        /// The credential query id.
        descriptor: String,
    },

    /// The wallet answered the OpenID4VP request with an Authorization Error Response
    /// (`error`, OpenID4VP 1.0 section 8.5) instead of a `vp_token`.
    #[error("wallet: answered with error {error:?} instead of a vp_token: {description}")]
    WalletError {
        /// The OAuth error code the wallet sent (e.g. `access_denied`).
        error: String,
        /// Its `error_description`, or a placeholder when it sent none.
        description: String,
    },
    /// The Key Binding JWT of an SD-JWT VC presentation names another audience than this
    /// verifier's Client Identifier (with its prefix, OpenID4VP 1.0 Appendix B.3.6).
    #[error(
        "credential for {descriptor:?}: key binding JWT aud must be {expected:?}, found {found:?}"
    )]
    KeyBindingAudience {
        /// The credential query id.
        descriptor: String,
        /// Our Client Identifier.
        expected: String,
        /// The `aud` found.
        found: String,
    },
    /// The Key Binding JWT's `nonce` is not the request's.
    #[error(
        "credential for {descriptor:?}: key binding JWT nonce does not match the request's nonce"
    )]
    KeyBindingNonce {
        /// The credential query id.
        descriptor: String,
    },
    /// The Key Binding JWT's signature does not verify under the credential's `cnf` key.
    #[error("credential for {descriptor:?}: key binding JWT signature rejected: {reason}")]
    KeyBindingSignature {
        /// The credential query id.
        descriptor: String,
        /// The verifier's explanation (with its `SDJWT-0xx` code).
        reason: String,
    },
    /// The Key Binding JWT fails another check: typ, claims, `iat` window, `sd_hash`, its own
    /// times, or the credential has no usable `cnf` key.
    #[error("credential for {descriptor:?}: key binding JWT invalid: {reason}")]
    KeyBindingInvalid {
        /// The credential query id.
        descriptor: String,
        /// The failed check (with its `SDJWT-0xx` code).
        reason: String,
    },
    /// A Disclosure of the SD-JWT VC is malformed, tampered with or not referenced by the
    /// issuer-signed JWT (RFC 9901 section 7.1 steps 3-5).
    #[error("credential for {descriptor:?}: disclosure check failed: {reason}")]
    DisclosureInvalid {
        /// The credential query id.
        descriptor: String,
        /// The failed check (with its `SDJWT-0xx` code).
        reason: String,
    },
    /// The presentation is not an SD-JWT VC (`dc+sd-jwt`) Verity can read: separators, the
    /// issuer-signed JWT, `typ`, `_sd_alg`, `vct`, `cnf` or `status`.
    #[error("credential for {descriptor:?}: not a valid SD-JWT VC: {reason}")]
    SdJwtMalformed {
        /// The credential query id.
        descriptor: String,
        /// The failed check (with its `SDJWT-0xx` code).
        reason: String,
    },
    /// The Key Binding JWT was already accepted once: the presentation is a replay.
    #[error(
        "credential for {descriptor:?}: key binding JWT was already used: the presentation is a replay"
    )]
    KeyBindingReplayed {
        /// The credential query id.
        descriptor: String,
    },
}

impl PresentationError {
    /// Stable, greppable code; never renumbered.
    pub fn code(&self) -> &'static str {
        use PresentationError as E;
        match self {
            E::RequestNotFound => "PRES-001",
            E::RequestExpired { .. } => "PRES-002",
            E::StateMismatch => "PRES-003",
            E::IdTokenMalformed { .. } => "PRES-004",
            E::IdTokenAlgorithm { .. } => "PRES-005",
            E::IdTokenHolderMismatch { .. } => "PRES-006",
            E::HolderDidUnavailable { .. } => "PRES-007",
            E::IdTokenKey { .. } => "PRES-008",
            E::IdTokenSignature { .. } => "PRES-009",
            E::IdTokenIssuer { .. } => "PRES-010",
            E::IdTokenAudience { .. } => "PRES-011",
            E::IdTokenNonce => "PRES-012",
            E::IdTokenTimes { .. } => "PRES-013",
            E::VpTokenMalformed { .. } => "PRES-014",
            E::VpTokenAlgorithm { .. } => "PRES-015",
            E::VpTokenHolderMismatch { .. } => "PRES-016",
            E::VpTokenKey { .. } => "PRES-017",
            E::VpTokenSignature { .. } => "PRES-018",
            E::VpTokenAudience { .. } => "PRES-019",
            E::VpTokenNonce => "PRES-020",
            E::VpTokenTimes { .. } => "PRES-021",
            E::VpTokenJtiMissing => "PRES-022",
            E::VpTokenReplayed { .. } => "PRES-023",
            E::ReplayGuardUnavailable { .. } => "PRES-024",
            E::SubmissionMalformed { .. } => "PRES-025",
            E::SubmissionDefinitionMismatch { .. } => "PRES-026",
            E::SubmissionDescriptorMissing { .. } => "PRES-027",
            E::SubmissionUnknownDescriptor { .. } => "PRES-028",
            E::SubmissionPath { .. } => "PRES-029",
            E::SubmissionCredentialReused { .. } => "PRES-030",
            E::CredentialMalformed { .. } => "PRES-031",
            E::CredentialAlgorithm { .. } => "PRES-032",
            E::CredentialKidMismatch { .. } => "PRES-033",
            E::IssuerDidUnavailable { .. } => "PRES-034",
            E::CredentialKey { .. } => "PRES-035",
            E::CredentialSignature { .. } => "PRES-036",
            E::CredentialIssuerMismatch { .. } => "PRES-037",
            E::CredentialTimes { .. } => "PRES-038",
            E::CredentialSubjectMismatch { .. } => "PRES-039",
            E::IssuerNotAccepted { .. } => "PRES-040",
            E::CredentialType { .. } => "PRES-041",
            E::ConstraintFailed { .. } => "PRES-042",
            E::CredentialRevoked { .. } => "PRES-043",
            E::CredentialSuspended { .. } => "PRES-044",
            E::StatusCheckFailed { .. } => "PRES-045",
            E::StatusUnavailable { .. } => "PRES-046",
            E::LinkedDomainUnverified { .. } => "PRES-047",
            E::LinkedDomainUnavailable { .. } => "PRES-048",
            E::FaceCheckNotConfigured { .. } => "PRES-049",
            E::FaceCheckPhotoMissing { .. } => "PRES-050",
            E::FaceCheckBelowThreshold { .. } => "PRES-051",
            E::FaceCheckFailed { .. } => "PRES-052",
            E::FaceCheckUnavailable { .. } => "PRES-053",
            E::CredentialKind { .. } => "PRES-054",
            E::NothingRequested => "PRES-055",
            E::DcqlInvalid { .. } => "PRES-056",
            E::VpTokenNotObject { .. } => "PRES-057",
            E::VpTokenUnknownQuery { .. } => "PRES-058",
            E::VpTokenCredentialMissing { .. } => "PRES-059",
            E::VpTokenTooManyPresentations { .. } => "PRES-060",
            E::VpTokenEntryMalformed { .. } => "PRES-061",
            E::ClaimNotDisclosed { .. } => "PRES-062",
            E::ClaimSetsUnsatisfied { .. } => "PRES-063",
            E::HolderBindingMissing { .. } => "PRES-064",
            E::WalletError { .. } => "PRES-065",
            E::KeyBindingAudience { .. } => "PRES-066",
            E::KeyBindingNonce { .. } => "PRES-067",
            E::KeyBindingSignature { .. } => "PRES-068",
            E::KeyBindingInvalid { .. } => "PRES-069",
            E::DisclosureInvalid { .. } => "PRES-070",
            E::SdJwtMalformed { .. } => "PRES-071",
            E::KeyBindingReplayed { .. } => "PRES-072",
        }
    }

    /// The `error.code` of a `presentation_error` callback (protocol.md §1), in the hosted
    /// service's camelCase style; [`PresentationError::code`] goes in the message or logs.
    pub fn hosted_code(&self) -> &'static str {
        use PresentationError as E;
        if self.is_transient() {
            return "transientError";
        }
        match self {
            E::RequestNotFound | E::NothingRequested => "requestNotFound",
            E::RequestExpired { .. } => "requestExpired",
            E::StateMismatch
            | E::IdTokenMalformed { .. }
            | E::IdTokenAlgorithm { .. }
            | E::IdTokenHolderMismatch { .. }
            | E::IdTokenKey { .. }
            | E::IdTokenSignature { .. }
            | E::IdTokenIssuer { .. }
            | E::IdTokenAudience { .. }
            | E::IdTokenNonce
            | E::IdTokenTimes { .. }
            | E::VpTokenMalformed { .. }
            | E::VpTokenAlgorithm { .. }
            | E::VpTokenHolderMismatch { .. }
            | E::VpTokenKey { .. }
            | E::VpTokenSignature { .. }
            | E::VpTokenAudience { .. }
            | E::VpTokenNonce
            | E::VpTokenTimes { .. }
            | E::VpTokenJtiMissing
            | E::VpTokenReplayed { .. }
            | E::VpTokenNotObject { .. }
            | E::VpTokenEntryMalformed { .. }
            | E::KeyBindingAudience { .. }
            | E::KeyBindingNonce { .. }
            | E::KeyBindingSignature { .. }
            | E::KeyBindingInvalid { .. }
            | E::KeyBindingReplayed { .. } => "tokenValidationError",
            E::SubmissionMalformed { .. }
            | E::SubmissionDefinitionMismatch { .. }
            | E::SubmissionDescriptorMissing { .. }
            | E::SubmissionUnknownDescriptor { .. }
            | E::SubmissionPath { .. }
            | E::SubmissionCredentialReused { .. }
            | E::VpTokenUnknownQuery { .. }
            | E::VpTokenCredentialMissing { .. }
            | E::VpTokenTooManyPresentations { .. }
            | E::WalletError { .. } => "presentationSubmissionError",
            E::CredentialMalformed { .. }
            | E::CredentialAlgorithm { .. }
            | E::CredentialKidMismatch { .. }
            | E::CredentialKey { .. }
            | E::CredentialSignature { .. }
            | E::CredentialIssuerMismatch { .. }
            | E::CredentialTimes { .. }
            | E::CredentialSubjectMismatch { .. }
            | E::CredentialKind { .. }
            | E::HolderBindingMissing { .. }
            | E::DisclosureInvalid { .. }
            | E::SdJwtMalformed { .. } => "credentialValidationError",
            E::IssuerNotAccepted { .. }
            | E::CredentialType { .. }
            | E::ConstraintFailed { .. }
            | E::FaceCheckPhotoMissing { .. }
            | E::FaceCheckBelowThreshold { .. }
            | E::FaceCheckFailed { .. }
            | E::ClaimNotDisclosed { .. }
            | E::ClaimSetsUnsatisfied { .. } => "claimValidationError",
            E::CredentialRevoked { .. } | E::CredentialSuspended { .. } => "credentialRevoked",
            E::StatusCheckFailed { .. } => "revocationCheckFailed",
            E::LinkedDomainUnverified { .. } => "linkedDomainValidationError",
            E::FaceCheckNotConfigured { .. } => "faceCheckNotConfigured",
            // Raised while building a request: the API answers 400 with this code.
            E::DcqlInvalid { .. } => "badOrMissingField",
            // Transient variants returned above; listed so a new variant must be placed.
            E::HolderDidUnavailable { .. }
            | E::ReplayGuardUnavailable { .. }
            | E::IssuerDidUnavailable { .. }
            | E::StatusUnavailable { .. }
            | E::LinkedDomainUnavailable { .. }
            | E::FaceCheckUnavailable { .. } => "transientError",
        }
    }

    /// True when the check could not run (a dependency was unreachable): the caller answers
    /// 503/502, records no verdict, and the wallet may retry the same response.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PresentationError::HolderDidUnavailable { .. }
                | PresentationError::ReplayGuardUnavailable { .. }
                | PresentationError::IssuerDidUnavailable { .. }
                | PresentationError::StatusUnavailable { .. }
                | PresentationError::LinkedDomainUnavailable { .. }
                | PresentationError::FaceCheckUnavailable { .. }
        )
    }
}

/// What a seam implementation ([`crate::StatusListSource`], [`crate::ReplayGuard`],
/// [`crate::LinkageChecker`]) reports when it has no answer. The pipeline turns it into the
/// [`PresentationError`] of the check that asked, so it carries no code of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The dependency could not be reached or answered with a retryable failure (timeout,
    /// connection refused, 5xx). Becomes a transient error: no verdict is recorded.
    Unavailable(String),
    /// The dependency answered, and the answer is unusable (bad signature, wrong issuer,
    /// malformed). Becomes a failed check.
    Invalid(String),
}

impl SourceError {
    /// True for [`SourceError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SourceError::Unavailable(_))
    }

    /// The explanation.
    pub fn reason(&self) -> &str {
        match self {
            SourceError::Unavailable(r) | SourceError::Invalid(r) => r,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Unavailable(r) => write!(f, "unavailable: {r}"),
            SourceError::Invalid(r) => write!(f, "invalid: {r}"),
        }
    }
}

impl std::error::Error for SourceError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> String {
        "x".to_owned()
    }

    /// Every variant with its code, its callback code and whether it is transient.
    fn table() -> Vec<(PresentationError, &'static str, &'static str, bool)> {
        use PresentationError as E;
        let d = s;
        vec![
            (E::RequestNotFound, "PRES-001", "requestNotFound", false),
            (E::NothingRequested, "PRES-055", "requestNotFound", false),
            (
                E::RequestExpired {
                    expires_at: 1,
                    now: 2,
                },
                "PRES-002",
                "requestExpired",
                false,
            ),
            (E::StateMismatch, "PRES-003", "tokenValidationError", false),
            (
                E::IdTokenMalformed { reason: s() },
                "PRES-004",
                "tokenValidationError",
                false,
            ),
            (
                E::IdTokenAlgorithm { reason: s() },
                "PRES-005",
                "tokenValidationError",
                false,
            ),
            (
                E::IdTokenHolderMismatch { reason: s() },
                "PRES-006",
                "tokenValidationError",
                false,
            ),
            (
                E::HolderDidUnavailable {
                    did: s(),
                    reason: s(),
                },
                "PRES-007",
                "transientError",
                true,
            ),
            (
                E::IdTokenKey {
                    kid: s(),
                    reason: s(),
                },
                "PRES-008",
                "tokenValidationError",
                false,
            ),
            (
                E::IdTokenSignature { reason: s() },
                "PRES-009",
                "tokenValidationError",
                false,
            ),
            (
                E::IdTokenIssuer {
                    expected: s(),
                    found: s(),
                },
                "PRES-010",
                "tokenValidationError",
                false,
            ),
            (
                E::IdTokenAudience {
                    expected: s(),
                    found: s(),
                },
                "PRES-011",
                "tokenValidationError",
                false,
            ),
            (E::IdTokenNonce, "PRES-012", "tokenValidationError", false),
            (
                E::IdTokenTimes { reason: s() },
                "PRES-013",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenMalformed { reason: s() },
                "PRES-014",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenAlgorithm { reason: s() },
                "PRES-015",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenHolderMismatch { reason: s() },
                "PRES-016",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenKey {
                    kid: s(),
                    reason: s(),
                },
                "PRES-017",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenSignature { reason: s() },
                "PRES-018",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenAudience {
                    expected: s(),
                    found: s(),
                },
                "PRES-019",
                "tokenValidationError",
                false,
            ),
            (E::VpTokenNonce, "PRES-020", "tokenValidationError", false),
            (
                E::VpTokenTimes { reason: s() },
                "PRES-021",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenJtiMissing,
                "PRES-022",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenReplayed { jti: s() },
                "PRES-023",
                "tokenValidationError",
                false,
            ),
            (
                E::ReplayGuardUnavailable { reason: s() },
                "PRES-024",
                "transientError",
                true,
            ),
            (
                E::SubmissionMalformed { reason: s() },
                "PRES-025",
                "presentationSubmissionError",
                false,
            ),
            (
                E::SubmissionDefinitionMismatch {
                    expected: s(),
                    found: s(),
                },
                "PRES-026",
                "presentationSubmissionError",
                false,
            ),
            (
                E::SubmissionDescriptorMissing { descriptor: d() },
                "PRES-027",
                "presentationSubmissionError",
                false,
            ),
            (
                E::SubmissionUnknownDescriptor { descriptor: d() },
                "PRES-028",
                "presentationSubmissionError",
                false,
            ),
            (
                E::SubmissionPath {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-029",
                "presentationSubmissionError",
                false,
            ),
            (
                E::SubmissionCredentialReused {
                    descriptor: d(),
                    other: s(),
                    index: 0,
                },
                "PRES-030",
                "presentationSubmissionError",
                false,
            ),
            (
                E::CredentialMalformed {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-031",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialAlgorithm {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-032",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialKidMismatch {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-033",
                "credentialValidationError",
                false,
            ),
            (
                E::IssuerDidUnavailable {
                    did: s(),
                    reason: s(),
                },
                "PRES-034",
                "transientError",
                true,
            ),
            (
                E::CredentialKey {
                    descriptor: d(),
                    kid: s(),
                    reason: s(),
                },
                "PRES-035",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialSignature {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-036",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialIssuerMismatch {
                    descriptor: d(),
                    iss: s(),
                    vc_issuer: s(),
                },
                "PRES-037",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialTimes {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-038",
                "credentialValidationError",
                false,
            ),
            (
                E::CredentialSubjectMismatch {
                    descriptor: d(),
                    holder: s(),
                    reason: s(),
                },
                "PRES-039",
                "credentialValidationError",
                false,
            ),
            (
                E::IssuerNotAccepted {
                    descriptor: d(),
                    issuer: s(),
                },
                "PRES-040",
                "claimValidationError",
                false,
            ),
            (
                E::CredentialType {
                    descriptor: d(),
                    found: vec![],
                },
                "PRES-041",
                "claimValidationError",
                false,
            ),
            (
                E::ConstraintFailed {
                    descriptor: d(),
                    claim: s(),
                    reason: s(),
                },
                "PRES-042",
                "claimValidationError",
                false,
            ),
            (
                E::CredentialRevoked { descriptor: d() },
                "PRES-043",
                "credentialRevoked",
                false,
            ),
            (
                E::CredentialSuspended { descriptor: d() },
                "PRES-044",
                "credentialRevoked",
                false,
            ),
            (
                E::StatusCheckFailed {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-045",
                "revocationCheckFailed",
                false,
            ),
            (
                E::StatusUnavailable {
                    descriptor: d(),
                    url: s(),
                    reason: s(),
                },
                "PRES-046",
                "transientError",
                true,
            ),
            (
                E::LinkedDomainUnverified {
                    descriptor: d(),
                    issuer: s(),
                    reason: s(),
                    origin: None,
                },
                "PRES-047",
                "linkedDomainValidationError",
                false,
            ),
            (
                E::LinkedDomainUnavailable {
                    descriptor: d(),
                    issuer: s(),
                    reason: s(),
                },
                "PRES-048",
                "transientError",
                true,
            ),
            (
                E::FaceCheckNotConfigured { descriptor: d() },
                "PRES-049",
                "faceCheckNotConfigured",
                false,
            ),
            (
                E::FaceCheckPhotoMissing {
                    descriptor: d(),
                    claim: s(),
                },
                "PRES-050",
                "claimValidationError",
                false,
            ),
            (
                E::FaceCheckBelowThreshold {
                    descriptor: d(),
                    score: 41.0,
                    threshold: 70,
                },
                "PRES-051",
                "claimValidationError",
                false,
            ),
            (
                E::FaceCheckFailed {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-052",
                "claimValidationError",
                false,
            ),
            (
                E::FaceCheckUnavailable {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-053",
                "transientError",
                true,
            ),
            (
                E::CredentialKind {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-054",
                "credentialValidationError",
                false,
            ),
            (
                E::DcqlInvalid {
                    member: s(),
                    reason: s(),
                },
                "PRES-056",
                "badOrMissingField",
                false,
            ),
            (
                E::VpTokenNotObject { reason: s() },
                "PRES-057",
                "tokenValidationError",
                false,
            ),
            (
                E::VpTokenUnknownQuery { key: s() },
                "PRES-058",
                "presentationSubmissionError",
                false,
            ),
            (
                E::VpTokenCredentialMissing { missing: s() },
                "PRES-059",
                "presentationSubmissionError",
                false,
            ),
            (
                E::VpTokenTooManyPresentations {
                    query: s(),
                    count: 2,
                },
                "PRES-060",
                "presentationSubmissionError",
                false,
            ),
            (
                E::VpTokenEntryMalformed {
                    query: s(),
                    reason: s(),
                },
                "PRES-061",
                "tokenValidationError",
                false,
            ),
            (
                E::ClaimNotDisclosed {
                    descriptor: d(),
                    claim: s(),
                },
                "PRES-062",
                "claimValidationError",
                false,
            ),
            (
                E::ClaimSetsUnsatisfied {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-063",
                "claimValidationError",
                false,
            ),
            (
                E::HolderBindingMissing { descriptor: d() },
                "PRES-064",
                "credentialValidationError",
                false,
            ),
            (
                E::WalletError {
                    error: s(),
                    description: s(),
                },
                "PRES-065",
                "presentationSubmissionError",
                false,
            ),
            (
                E::KeyBindingAudience {
                    descriptor: d(),
                    expected: s(),
                    found: s(),
                },
                "PRES-066",
                "tokenValidationError",
                false,
            ),
            (
                E::KeyBindingNonce { descriptor: d() },
                "PRES-067",
                "tokenValidationError",
                false,
            ),
            (
                E::KeyBindingSignature {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-068",
                "tokenValidationError",
                false,
            ),
            (
                E::KeyBindingInvalid {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-069",
                "tokenValidationError",
                false,
            ),
            (
                E::DisclosureInvalid {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-070",
                "credentialValidationError",
                false,
            ),
            (
                E::SdJwtMalformed {
                    descriptor: d(),
                    reason: s(),
                },
                "PRES-071",
                "credentialValidationError",
                false,
            ),
            (
                E::KeyBindingReplayed { descriptor: d() },
                "PRES-072",
                "tokenValidationError",
                false,
            ),
        ]
    }

    /// Pins code -> callback code -> transient: a failing line means a code was renumbered or
    /// an outage started reading as a verdict.
    #[test]
    fn code_table_is_stable() {
        let table = table();
        for (err, code, hosted, transient) in &table {
            assert_eq!(err.code(), *code, "{err:?}");
            assert_eq!(err.hosted_code(), *hosted, "{err:?}");
            assert_eq!(err.is_transient(), *transient, "{err:?}");
        }
        let mut codes: Vec<_> = table.iter().map(|(e, ..)| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), table.len(), "codes must be unique");
    }

    #[test]
    fn messages_name_the_check() {
        let e = PresentationError::FaceCheckBelowThreshold {
            descriptor: "VerifiedEmployee".into(),
            score: 41.0,
            threshold: 70,
        };
        assert_eq!(
            e.to_string(),
            "credential for \"VerifiedEmployee\": face check score 41 below threshold 70"
        );
        assert!(
            PresentationError::IdTokenNonce
                .to_string()
                .starts_with("id_token: nonce")
        );
    }

    #[test]
    fn source_error_kinds() {
        let u = SourceError::Unavailable("timeout".into());
        assert!(u.is_unavailable());
        assert_eq!(u.to_string(), "unavailable: timeout");
        let i = SourceError::Invalid("bad signature".into());
        assert!(!i.is_unavailable());
        assert_eq!(i.reason(), "bad signature");
    }
}
