//! Checking another party's linkage: DID document → LinkedDomains origins → each origin's DID
//! Configuration → a Domain Linkage Credential signed by the DID for exactly that origin.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use verity_did::{
    DEFAULT_MAX_BODY_BYTES, DidDocument, DidResolver, FetchError, FetchOptions, HttpFetcher,
    Relationship,
};
use verity_jose::{JoseError, TokenKind, UnverifiedJws, check_times};

use crate::config::{
    CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT, DOMAIN_LINKAGE_CREDENTIAL, DidConfiguration,
    configuration_url, normalize_origin,
};

/// Why a linkage did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "code", content = "detail")]
pub enum UnverifiedReason {
    /// The DID document has no `LinkedDomains` service.
    NoLinkedDomainsService,
    /// The origin asked about is not among the DID document's LinkedDomains origins.
    OriginNotInDidDocument,
    /// The origin's DID Configuration could not be fetched (404, refused, timeout, ...).
    ConfigurationMissing,
    /// The DID Configuration has no credential issued by this DID.
    NoMatchingCredential,
    /// The credential is not signed by a key under the DID's assertionMethod.
    SignatureInvalid,
    /// The credential links the DID to a different origin.
    OriginMismatch,
    /// The credential has expired.
    Expired,
    /// The credential is not valid yet.
    NotYetValid,
    /// Something is not in the shape the specification requires; the text says what.
    Malformed(String),
}

impl UnverifiedReason {
    /// A stable machine-readable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoLinkedDomainsService => "no_linked_domains_service",
            Self::OriginNotInDidDocument => "origin_not_in_did_document",
            Self::ConfigurationMissing => "configuration_missing",
            Self::NoMatchingCredential => "no_matching_credential",
            Self::SignatureInvalid => "signature_invalid",
            Self::OriginMismatch => "origin_mismatch",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for UnverifiedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLinkedDomainsService => {
                f.write_str("the DID document has no LinkedDomains service")
            }
            Self::OriginNotInDidDocument => {
                f.write_str("the origin is not listed in the DID document's LinkedDomains service")
            }
            Self::ConfigurationMissing => {
                f.write_str("the origin's DID configuration could not be fetched")
            }
            Self::NoMatchingCredential => f.write_str(
                "the DID configuration has no domain linkage credential issued by the DID",
            ),
            Self::SignatureInvalid => f.write_str(
                "the domain linkage credential is not signed by an assertionMethod key of the DID",
            ),
            Self::OriginMismatch => {
                f.write_str("the domain linkage credential names a different origin")
            }
            Self::Expired => f.write_str("the domain linkage credential has expired"),
            Self::NotYetValid => f.write_str("the domain linkage credential is not valid yet"),
            Self::Malformed(what) => write!(f, "malformed: {what}"),
        }
    }
}

/// The verdict on a DID's domain linkage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum LinkageResult {
    /// The DID is linked to `origin`.
    Verified {
        /// The verified origin, `scheme://host[:port]`.
        origin: String,
    },
    /// The check ran and failed.
    Unverified {
        /// Why.
        reason: UnverifiedReason,
        /// The origin the failure concerns, when there is one.
        origin: Option<String>,
    },
    /// The check could not run (the DID did not resolve); retry later, this is no verdict.
    NotChecked {
        /// What stopped the check.
        reason: String,
    },
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The step's check held.
    Passed,
    /// The step's check failed.
    Failed,
}

/// One step of the check, for CLI and log output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub outcome: StepOutcome,
    /// Specifics: URLs, origins, the exact error.
    pub detail: String,
}

/// The verdict and every step that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkageReport {
    /// The DID checked.
    pub did: String,
    /// The verdict.
    pub result: LinkageResult,
    /// Steps in the order they ran.
    pub steps: Vec<Step>,
}

impl LinkageReport {
    fn new(did: &str) -> Self {
        Self {
            did: did.to_owned(),
            result: LinkageResult::NotChecked {
                reason: "not started".into(),
            },
            steps: Vec::new(),
        }
    }

    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, StepOutcome::Passed, detail.into());
    }

    fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, StepOutcome::Failed, detail.into());
    }

    fn push(&mut self, name: &str, outcome: StepOutcome, detail: String) {
        tracing::debug!(step = name, ?outcome, %detail, "linked domain check");
        self.steps.push(Step {
            name: name.to_owned(),
            outcome,
            detail,
        });
    }

    fn finish(mut self, result: LinkageResult) -> Self {
        self.result = result;
        self
    }

    /// True when the result is [`LinkageResult::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self.result, LinkageResult::Verified { .. })
    }
}

fn unverified(reason: UnverifiedReason, origin: Option<&str>) -> LinkageResult {
    LinkageResult::Unverified {
        reason,
        origin: origin.map(str::to_owned),
    }
}

/// Verifies DIF Well-Known DID Configuration linkages.
#[derive(Debug, Clone)]
pub struct LinkedDomainVerifier {
    resolver: Arc<dyn DidResolver>,
    fetcher: HttpFetcher,
    max_body_bytes: usize,
    skew_secs: i64,
}

impl LinkedDomainVerifier {
    /// A verifier resolving DIDs with `resolver` and fetching configurations with `fetcher`
    /// (its policy applies: https, address checks, timeouts).
    pub fn new(resolver: Arc<dyn DidResolver>, fetcher: HttpFetcher) -> Self {
        Self {
            resolver,
            fetcher,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            skew_secs: 60,
        }
    }

    /// Largest DID configuration accepted (default 100 KB).
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Clock skew allowed on `nbf`/`exp`, in seconds (default 60).
    pub fn with_skew(mut self, skew_secs: i64) -> Self {
        self.skew_secs = skew_secs;
        self
    }

    /// Verifies `did` against the origins its DID document lists; verified when any origin
    /// verifies, otherwise the first origin's failure is reported.
    pub async fn verify(&self, did: &str, now: i64) -> LinkageReport {
        let mut report = LinkageReport::new(did);
        let Some(doc) = self.resolve(did, &mut report).await else {
            let reason = last_detail(&report);
            return report.finish(LinkageResult::NotChecked { reason });
        };
        let origins = match listed_origins(&doc, &mut report) {
            Ok(o) => o,
            Err(result) => return report.finish(result),
        };
        let mut first_failure = None;
        for origin in &origins {
            let result = self.check_origin(did, &doc, origin, now, &mut report).await;
            if matches!(result, LinkageResult::Verified { .. }) {
                return report.finish(result);
            }
            first_failure.get_or_insert(result);
        }
        let result = first_failure.unwrap_or_else(|| {
            unverified(
                UnverifiedReason::Malformed("no origin to check".into()),
                None,
            )
        });
        report.finish(result)
    }

    /// Verifies that `did` is linked to `origin` specifically.
    pub async fn verify_origin(&self, did: &str, origin: &str, now: i64) -> LinkageReport {
        let mut report = LinkageReport::new(did);
        let origin = match normalize_origin(origin) {
            Ok(o) => o,
            Err(e) => {
                report.fail("origin", e.to_string());
                let result = unverified(UnverifiedReason::Malformed(e.to_string()), Some(origin));
                return report.finish(result);
            }
        };
        let Some(doc) = self.resolve(did, &mut report).await else {
            let reason = last_detail(&report);
            return report.finish(LinkageResult::NotChecked { reason });
        };
        let origins = match listed_origins(&doc, &mut report) {
            Ok(o) => o,
            Err(result) => return report.finish(result),
        };
        if !origins.contains(&origin) {
            report.fail(
                "origin listed in DID document",
                format!("{origin} is not among {}", origins.join(", ")),
            );
            return report.finish(unverified(
                UnverifiedReason::OriginNotInDidDocument,
                Some(&origin),
            ));
        }
        report.pass("origin listed in DID document", origin.clone());
        let result = self
            .check_origin(did, &doc, &origin, now, &mut report)
            .await;
        report.finish(result)
    }

    async fn resolve(&self, did: &str, report: &mut LinkageReport) -> Option<DidDocument> {
        match self.resolver.resolve(did).await {
            Ok(doc) => {
                report.pass("resolve DID", did);
                Some(doc)
            }
            Err(e) => {
                report.fail("resolve DID", format!("{e} ({})", e.code()));
                None
            }
        }
    }

    async fn check_origin(
        &self,
        did: &str,
        doc: &DidDocument,
        origin: &str,
        now: i64,
        report: &mut LinkageReport,
    ) -> LinkageResult {
        let fail = |reason| unverified(reason, Some(origin));
        let url = match configuration_url(origin) {
            Ok(u) => u,
            Err(e) => return fail(UnverifiedReason::Malformed(e.to_string())),
        };
        let opts = FetchOptions {
            max_body_bytes: Some(self.max_body_bytes),
            ..FetchOptions::default()
        };
        let body = match self.fetcher.get_json_with(&url, &opts).await {
            Ok(f) => {
                report.pass("fetch DID configuration", url.clone());
                f.body
            }
            Err(e) => {
                report.fail(
                    "fetch DID configuration",
                    format!("{url}: {e} ({})", e.code()),
                );
                // A body that arrived but is not JSON is a broken file, not a missing one.
                if let FetchError::InvalidJson { .. } = e {
                    return fail(UnverifiedReason::Malformed(e.to_string()));
                }
                return fail(UnverifiedReason::ConfigurationMissing);
            }
        };
        let config: DidConfiguration = match serde_json::from_value(body) {
            Ok(c) => c,
            Err(e) => {
                let what = format!("{url} is not a DID configuration: {e}");
                report.fail("parse DID configuration", what.clone());
                return fail(UnverifiedReason::Malformed(what));
            }
        };
        if config.context != DID_CONFIGURATION_CONTEXT {
            let what = format!(
                "@context is `{}`, expected `{DID_CONFIGURATION_CONTEXT}`",
                config.context
            );
            report.fail("parse DID configuration", what.clone());
            return fail(UnverifiedReason::Malformed(what));
        }
        let total = config.linked_dids.len();
        let candidates: Vec<&str> = config.jwts().filter(|jwt| issued_by(jwt, did)).collect();
        if candidates.is_empty() {
            report.fail(
                "find domain linkage credential",
                format!("none of {total} linked_dids entries is a JWT issued by {did}"),
            );
            return fail(UnverifiedReason::NoMatchingCredential);
        }
        report.pass(
            "find domain linkage credential",
            format!("{} of {total} entries issued by {did}", candidates.len()),
        );
        let mut first_failure = None;
        for (i, jwt) in candidates.iter().enumerate() {
            let label = if candidates.len() == 1 {
                String::new()
            } else {
                format!("credential {}: ", i + 1)
            };
            match self.check_credential(did, doc, jwt, origin, now) {
                Ok(()) => {
                    report.pass(
                        "verify domain linkage credential",
                        format!("{label}linked to {origin}"),
                    );
                    return LinkageResult::Verified {
                        origin: origin.to_owned(),
                    };
                }
                Err((reason, detail)) => {
                    report.fail(
                        "verify domain linkage credential",
                        format!("{label}{detail}"),
                    );
                    first_failure.get_or_insert(reason);
                }
            }
        }
        fail(first_failure.unwrap_or(UnverifiedReason::NoMatchingCredential))
    }

    /// Checks one JWT fully; the error pairs the reason with a human-readable detail.
    fn check_credential(
        &self,
        did: &str,
        doc: &DidDocument,
        jwt: &str,
        origin: &str,
        now: i64,
    ) -> Result<(), (UnverifiedReason, String)> {
        let malformed = |what: String| (UnverifiedReason::Malformed(what.clone()), what);
        let jws = UnverifiedJws::parse(jwt).map_err(|e| malformed(format!("JWT: {e}")))?;
        let kid = jws
            .header()
            .kid
            .clone()
            .ok_or_else(|| malformed("JWT header has no kid".into()))?;
        let key = doc
            .key_for(&kid, Relationship::AssertionMethod)
            .map_err(|e| {
                (
                    UnverifiedReason::SignatureInvalid,
                    format!("kid `{kid}`: {e} ({})", e.code()),
                )
            })?;
        let verified = jws.verify(&key).map_err(|e| {
            (
                UnverifiedReason::SignatureInvalid,
                format!("signature with `{kid}`: {e} ({})", e.code()),
            )
        })?;
        let claims: Value = verified
            .claims()
            .map_err(|e| malformed(format!("claims: {e}")))?;
        check_claims(&claims, did).map_err(malformed)?;
        // After the structural rules, so their specific messages stay; this adds the kind's
        // typ and the claims only other kinds carry (a revocable "linkage", a status list).
        TokenKind::DomainLinkage
            .check_value(verified.header(), &claims)
            .map_err(|e| malformed(format!("{e} ({})", e.code())))?;
        let claimed = claims["vc"]["credentialSubject"]["origin"]
            .as_str()
            .ok_or_else(|| malformed("vc.credentialSubject.origin is missing".into()))?;
        let claimed_norm = normalize_origin(claimed)
            .map_err(|e| malformed(format!("vc.credentialSubject.origin: {e}")))?;
        if claimed_norm != origin {
            return Err((
                UnverifiedReason::OriginMismatch,
                format!("credential origin `{claimed}` is not `{origin}`"),
            ));
        }
        if claims.get("nbf").is_none() {
            return Err(malformed("nbf is missing".into()));
        }
        check_times(&claims, now, self.skew_secs, true).map_err(|e| match e {
            JoseError::Expired { .. } => (UnverifiedReason::Expired, e.to_string()),
            JoseError::NotYetValid { .. } => (UnverifiedReason::NotYetValid, e.to_string()),
            other => malformed(format!("time claims: {other}")),
        })
    }
}

/// True when the JWT's unverified `iss` is `did` (used only to pick candidates; everything is
/// checked again after the signature).
fn issued_by(jwt: &str, did: &str) -> bool {
    UnverifiedJws::parse(jwt)
        .and_then(|j| j.payload_unverified::<Value>())
        .is_ok_and(|claims| claims.get("iss").and_then(Value::as_str) == Some(did))
}

/// The structural rules of the JWT proof format: `iss` = `sub` = credentialSubject.id =
/// vc.issuer = DID, the two contexts and the `DomainLinkageCredential` type.
fn check_claims(claims: &Value, did: &str) -> Result<(), String> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    for (name, value) in [
        ("iss", s(&claims["iss"])),
        ("sub", s(&claims["sub"])),
        (
            "vc.credentialSubject.id",
            s(&claims["vc"]["credentialSubject"]["id"]),
        ),
    ] {
        if value.as_deref() != Some(did) {
            return Err(format!("{name} is {value:?}, expected `{did}`"));
        }
    }
    let issuer = &claims["vc"]["issuer"];
    let issuer = issuer.as_str().or_else(|| issuer["id"].as_str());
    if issuer != Some(did) {
        return Err(format!("vc.issuer is {issuer:?}, expected `{did}`"));
    }
    let has = |list: &Value, item: &str| {
        list.as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(item)))
    };
    if !has(&claims["vc"]["type"], DOMAIN_LINKAGE_CREDENTIAL) {
        return Err(format!(
            "vc.type does not include {DOMAIN_LINKAGE_CREDENTIAL}"
        ));
    }
    for ctx in [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT] {
        if !has(&claims["vc"]["@context"], ctx) {
            return Err(format!("vc.@context does not include {ctx}"));
        }
    }
    Ok(())
}

fn listed_origins(
    doc: &DidDocument,
    report: &mut LinkageReport,
) -> Result<Vec<String>, LinkageResult> {
    if !doc.has_linked_domains_service() {
        report.fail(
            "LinkedDomains service",
            "the DID document has no LinkedDomains service",
        );
        return Err(unverified(UnverifiedReason::NoLinkedDomainsService, None));
    }
    let mut origins = Vec::new();
    let mut invalid = Vec::new();
    for raw in doc.linked_domain_origins() {
        match normalize_origin(&raw) {
            Ok(o) if !origins.contains(&o) => origins.push(o),
            Ok(_) => {}
            Err(e) => invalid.push(e.to_string()),
        }
    }
    if origins.is_empty() {
        let what = format!(
            "the LinkedDomains service lists no valid origin ({})",
            invalid.join("; ")
        );
        report.fail("LinkedDomains service", what.clone());
        return Err(unverified(UnverifiedReason::Malformed(what), None));
    }
    let mut detail = origins.join(", ");
    if !invalid.is_empty() {
        detail.push_str(&format!(" (ignored: {})", invalid.join("; ")));
    }
    report.pass("LinkedDomains service", detail);
    Ok(origins)
}

fn last_detail(report: &LinkageReport) -> String {
    report
        .steps
        .last()
        .map(|s| s.detail.clone())
        .unwrap_or_default()
}
