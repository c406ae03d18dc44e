//! Shared fixtures for the pipeline's unit tests: an issuer and a partner (did:web, served by a
//! static resolver), a did:jwk holder, a stored request, and a draft response that is valid
//! until a test bends one field of it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};
use verity_did::test_util::StaticResolver;
use verity_did::{DidDocument, DidError, DidResolver, FetchError, KeyResolver, did_jwk_from_jwk};
use verity_jose::{Algorithm, Header, SigningKey, sign_compact};
use verity_status_list::{
    Bitstring, MIN_LIST_BITS, StatusListCredential, StatusPurpose, VerifiedStatusList,
    verify_status_list,
};

use crate::test_util::{TestLinkageChecker, TestReplayGuard, TestStatusSource};
use crate::{
    CheckOutcome, PresentationError, PresentationRequest, RequestedCredential, SIOP_V2_ISSUER,
    Verification, VerifiedPresentation, VerifyContext, WalletResponse, verify_presentation,
};

/// The time every fixture runs at.
pub(crate) const NOW: i64 = 1_790_000_000;
/// When fixture credentials were issued (a day before `NOW`), valid for a year.
const ISSUED: i64 = NOW - 86_400;
const VALID_FOR: i64 = 365 * 86_400;

static COUNTER: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DID with one signing key.
pub(crate) struct Party {
    pub did: String,
    pub kid: String,
    pub key: SigningKey,
}

impl Party {
    /// `did:web:<host>` with key `#key-1`.
    pub(crate) fn web(host: &str, alg: Algorithm) -> Party {
        let did = format!("did:web:{host}");
        Party {
            kid: format!("{did}#key-1"),
            did,
            key: SigningKey::generate(alg).unwrap(),
        }
    }

    /// A did:jwk holder (kid `#0`), as the reference wallet makes them.
    pub(crate) fn holder(alg: Algorithm) -> Party {
        let key = SigningKey::generate(alg).unwrap();
        let did = did_jwk_from_jwk(&key.public_jwk()).unwrap();
        Party {
            kid: format!("{did}#0"),
            did,
            key,
        }
    }

    /// The did:web document Verity publishes for such an authority.
    pub(crate) fn document(&self, origins: &[String]) -> DidDocument {
        DidDocument::for_web_authority(
            &self.did,
            &[("key-1".to_owned(), self.key.public_jwk())],
            origins,
        )
    }

    /// Signs `claims` with this party's key and kid.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        sign_with(&self.key, &self.kid, claims)
    }

    /// Signs `claims` with this party's key under another `kid`.
    pub(crate) fn sign_as(&self, kid: &str, claims: &Value) -> String {
        sign_with(&self.key, kid, claims)
    }
}

/// A JWT with header `{alg, kid, typ: JWT}`.
pub(crate) fn sign_with(key: &SigningKey, kid: &str, claims: &Value) -> String {
    sign_compact(key, &header(key, kid), claims.to_string().as_bytes()).unwrap()
}

fn header(key: &SigningKey, kid: &str) -> Header {
    let mut h = Header::new(key.algorithm());
    h.kid = Some(kid.to_owned());
    h.typ = Some("JWT".into());
    h
}

/// A token with an arbitrary header and an empty signature (for `none` / HMAC attempts).
pub(crate) fn unsigned_token(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// `token` with its payload replaced and the original signature kept.
pub(crate) fn splice_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

/// A signed status list credential JWT for `url` with the given bits set.
pub(crate) fn signed_list(
    issuer: &Party,
    url: &str,
    set: &[usize],
    purpose: StatusPurpose,
) -> String {
    let mut bits = Bitstring::new(MIN_LIST_BITS).unwrap();
    for i in set {
        bits.set(*i, true).unwrap();
    }
    let claims = StatusListCredential::new(&issuer.did, url, purpose, &bits, ISSUED)
        .unwrap()
        .claims()
        .unwrap();
    issuer.sign(&claims)
}

/// A signed revocation list of `issuer` at `url`, nothing revoked, expiring at `until`.
pub(crate) fn signed_list_until(issuer: &Party, url: &str, until: i64) -> String {
    let bits = Bitstring::new(MIN_LIST_BITS).unwrap();
    let claims =
        StatusListCredential::new(&issuer.did, url, StatusPurpose::Revocation, &bits, ISSUED)
            .unwrap()
            .valid_for(until - ISSUED)
            .unwrap()
            .claims()
            .unwrap();
    issuer.sign(&claims)
}

/// A verified revocation list of `issuer` at `url` with `revoked` set.
pub(crate) fn verified_list(issuer: &Party, url: &str, revoked: &[usize]) -> VerifiedStatusList {
    verified_list_with(issuer, url, revoked, StatusPurpose::Revocation)
}

/// A verified list of `purpose`.
pub(crate) fn verified_list_with(
    issuer: &Party,
    url: &str,
    set: &[usize],
    purpose: StatusPurpose,
) -> VerifiedStatusList {
    let jwt = signed_list(issuer, url, set, purpose);
    verify_status_list(&jwt, &issuer.key.public_jwk(), url, NOW, 60).unwrap()
}

/// Resolves did:jwk / did:key locally and other DIDs from a static map; DIDs marked
/// unreachable time out like a dead host.
#[derive(Debug)]
pub(crate) struct TestResolver {
    web: StaticResolver,
    unreachable: Mutex<HashSet<String>>,
}

impl TestResolver {
    /// Makes `did` time out.
    pub(crate) fn unreachable(&self, did: &str) {
        self.unreachable.lock().unwrap().insert(did.to_owned());
    }

    /// Makes `did` resolve again.
    pub(crate) fn reachable(&self, did: &str) {
        self.unreachable.lock().unwrap().remove(did);
    }
}

#[async_trait]
impl DidResolver for TestResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        if self.unreachable.lock().unwrap().contains(did) {
            return Err(DidError::Fetch(FetchError::Timeout {
                url: format!("https://{did}/did.json"),
                timeout_ms: 10_000,
            }));
        }
        if did.starts_with("did:jwk:") || did.starts_with("did:key:") {
            KeyResolver.resolve(did).await
        } else {
            self.web.resolve(did).await
        }
    }
}

/// An issuer, a partner, a holder, the seams' doubles and a stored request.
pub(crate) struct Fixture {
    pub issuer: Party,
    pub partner: Party,
    pub holder: Party,
    pub web: StaticResolver,
    pub resolver: Arc<TestResolver>,
    pub status: Arc<TestStatusSource>,
    pub linkage: Arc<TestLinkageChecker>,
    pub replay: Arc<TestReplayGuard>,
    pub request: PresentationRequest,
}

impl Fixture {
    /// ES256 issuer, ES256K partner, EdDSA holder.
    pub(crate) fn new() -> Fixture {
        Fixture::with_algs(Algorithm::ES256, Algorithm::EdDSA)
    }

    /// An issuer and a holder with the given algorithms.
    pub(crate) fn with_algs(issuer_alg: Algorithm, holder_alg: Algorithm) -> Fixture {
        let issuer = Party::web("issuer.example", issuer_alg);
        let partner = Party::web("partner.example", Algorithm::ES256K);
        let holder = Party::holder(holder_alg);
        let web = StaticResolver::new()
            .with(issuer.document(&[]))
            .with(partner.document(&[]));
        let resolver = Arc::new(TestResolver {
            web: web.clone(),
            unreachable: Mutex::new(HashSet::new()),
        });
        let mut wanted = RequestedCredential::new("VerifiedEmployee");
        wanted.accepted_issuers = vec![issuer.did.clone()];
        let request = PresentationRequest {
            request_id: "req-1".into(),
            state: "req-1".into(),
            nonce: "bm9uY2UtMTI4LWJpdHMtb2Zy".into(),
            client_id: "did:web:verifier.example".into(),
            definition_id: Some("def-1".into()),
            expires_at: NOW + 300,
            requested_credentials: vec![wanted],
        };
        Fixture {
            issuer,
            partner,
            holder,
            web,
            resolver,
            status: Arc::new(TestStatusSource::new()),
            linkage: Arc::new(TestLinkageChecker::new()),
            replay: Arc::new(TestReplayGuard::new()),
            request,
        }
    }

    /// The context at `NOW` with the default skew and no face check.
    pub(crate) fn ctx(&self) -> VerifyContext {
        VerifyContext::new(
            self.resolver.clone(),
            self.status.clone(),
            self.linkage.clone(),
            self.replay.clone(),
            NOW,
        )
    }

    /// JWT-VC claims as Verity issues them (docs/PROTOCOL.md), bound to the holder.
    pub(crate) fn vc_claims(&self, issuer: &Party, type_: &str) -> Value {
        let rfc3339 = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        json!({
            "iss": issuer.did,
            "sub": self.holder.did,
            "jti": format!("urn:uuid:00000000-0000-4000-8000-{:012}", next_id()),
            "iat": ISSUED,
            "nbf": ISSUED,
            "exp": ISSUED + VALID_FOR,
            "vc": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiableCredential", type_],
                "issuer": issuer.did,
                "issuanceDate": rfc3339(ISSUED),
                "expirationDate": rfc3339(ISSUED + VALID_FOR),
                "credentialSubject": {
                    "id": self.holder.did,
                    "displayName": "Megan Bowen",
                    "jobTitle": "Engineer",
                    "email": "megan@contoso.example",
                    "department": "Engineering",
                },
            },
        })
    }

    /// A valid credential of `type_` from the issuer.
    pub(crate) fn vc(&self, type_: &str) -> String {
        self.vc_from(&self.issuer, type_)
    }

    /// A valid credential of `type_` from `issuer`.
    pub(crate) fn vc_from(&self, issuer: &Party, type_: &str) -> String {
        issuer.sign(&self.vc_claims(issuer, type_))
    }

    /// A valid response to the fixture's request presenting `vcs`.
    pub(crate) fn draft(&self, vcs: Vec<String>) -> Draft<'_> {
        self.draft_for(&self.request, vcs)
    }

    /// A valid response to `request` presenting `vcs`; credential i answers requested
    /// credential i, as the reference wallet maps them.
    pub(crate) fn draft_for(&self, request: &PresentationRequest, vcs: Vec<String>) -> Draft<'_> {
        let descriptor_map: Vec<Value> = request
            .requested_credentials
            .iter()
            .take(vcs.len())
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "id": r.descriptor_id(),
                    "format": "jwt_vp",
                    "path": "$",
                    "path_nested": {
                        "id": r.descriptor_id(),
                        "format": "jwt_vc",
                        "path": format!("$.verifiableCredential[{i}]"),
                    },
                })
            })
            .collect();
        let id_claims = json!({
            "iss": SIOP_V2_ISSUER,
            "sub": self.holder.did,
            "aud": request.client_id,
            "nonce": request.nonce,
            "iat": NOW,
            "exp": NOW + 120,
            "_vp_token": {
                "presentation_submission": {
                    "id": format!("submission-{}", next_id()),
                    "definition_id": request.definition_id,
                    "descriptor_map": descriptor_map,
                },
            },
        });
        let vp_claims = json!({
            "iss": self.holder.did,
            "aud": request.client_id,
            "nonce": request.nonce,
            "jti": format!("urn:uuid:00000000-0000-4000-9000-{:012}", next_id()),
            "nbf": NOW,
            "iat": NOW,
            "exp": NOW + 120,
            "vp": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiablePresentation"],
                "verifiableCredential": vcs,
            },
        });
        Draft {
            id_header: header(&self.holder.key, &self.holder.kid),
            id_claims,
            id_key: None,
            id_raw: None,
            vp_header: header(&self.holder.key, &self.holder.kid),
            vp_claims,
            vp_key: None,
            vp_raw: None,
            state: request.state.clone(),
            holder_key: &self.holder.key,
        }
    }

    /// Verifies `draft` against the fixture's request.
    pub(crate) async fn verify(&self, draft: Draft<'_>) -> Verification {
        self.verify_response(&draft.finish()).await
    }

    /// Verifies `response` against the fixture's request.
    pub(crate) async fn verify_response(&self, response: &WalletResponse) -> Verification {
        verify_presentation(&self.ctx(), Some(&self.request), response).await
    }

    /// The `jti` of a response's vp_token.
    pub(crate) fn last_vp_jti(&self, response: &WalletResponse) -> String {
        let jws = verity_jose::UnverifiedJws::parse(&response.vp_token).unwrap();
        let claims: Value = jws.payload_unverified().unwrap();
        claims["jti"].as_str().unwrap().to_owned()
    }
}

/// A response being built: headers, claims and keys of both tokens, each replaceable.
pub(crate) struct Draft<'a> {
    pub id_header: Header,
    pub id_claims: Value,
    /// Signs the id_token instead of the holder's key.
    pub id_key: Option<&'a SigningKey>,
    /// Replaces the id_token entirely.
    pub id_raw: Option<String>,
    pub vp_header: Header,
    pub vp_claims: Value,
    pub vp_key: Option<&'a SigningKey>,
    pub vp_raw: Option<String>,
    pub state: String,
    holder_key: &'a SigningKey,
}

impl Draft<'_> {
    /// Signs the tokens; top-level `null` claims are removed first.
    pub(crate) fn finish(&self) -> WalletResponse {
        let sign = |header: &Header, claims: &Value, key: Option<&SigningKey>| {
            let key = key.unwrap_or(self.holder_key);
            let mut header = header.clone();
            // sign_compact takes the alg from the key; keep the header honest about it.
            header.alg = key.algorithm().as_str().to_owned();
            sign_compact(key, &header, strip_nulls(claims).to_string().as_bytes()).unwrap()
        };
        WalletResponse {
            id_token: self
                .id_raw
                .clone()
                .unwrap_or_else(|| sign(&self.id_header, &self.id_claims, self.id_key)),
            vp_token: self
                .vp_raw
                .clone()
                .unwrap_or_else(|| sign(&self.vp_header, &self.vp_claims, self.vp_key)),
            state: self.state.clone(),
        }
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Asserts a verdict (not an outage) with `code`, recorded as the failure of check `name`.
#[track_caller]
pub(crate) fn assert_fails<'v>(
    v: &'v Verification,
    code: &str,
    name: &str,
) -> &'v PresentationError {
    let e = failure(v, code, name);
    assert!(!e.is_transient(), "{code} must be a verdict: {e}");
    assert_eq!(v.checks.last().unwrap().outcome, CheckOutcome::Failed);
    e
}

/// Asserts an outage with `code`, recorded as unavailable at check `name`.
#[track_caller]
pub(crate) fn assert_unavailable<'v>(
    v: &'v Verification,
    code: &str,
    name: &str,
) -> &'v PresentationError {
    let e = failure(v, code, name);
    assert!(
        e.is_transient() && v.is_transient(),
        "{code} must be transient: {e}"
    );
    assert_eq!(v.checks.last().unwrap().outcome, CheckOutcome::Unavailable);
    e
}

#[track_caller]
fn failure<'v>(v: &'v Verification, code: &str, name: &str) -> &'v PresentationError {
    let Err(e) = &v.result else {
        panic!("expected {code} at {name}, but the presentation verified");
    };
    assert_eq!(e.code(), code, "{e}\nchecks: {:#?}", v.checks);
    let last = v.checks.last().unwrap();
    assert_eq!(last.name, name, "{:#?}", v.checks);
    assert!(last.detail.starts_with(code), "{}", last.detail);
    e
}

/// Asserts the presentation verified.
#[track_caller]
pub(crate) fn assert_verified(v: &Verification) -> &VerifiedPresentation {
    match &v.result {
        Ok(p) => p,
        Err(e) => panic!(
            "expected success, got {}: {e}\nchecks: {:#?}",
            e.code(),
            v.checks
        ),
    }
}

/// The outcome of check `name`, if it ran.
pub(crate) fn outcome_of(v: &Verification, name: &str) -> Option<CheckOutcome> {
    v.checks.iter().find(|c| c.name == name).map(|c| c.outcome)
}
