//! Unit tests of the pipeline, one per check that can fail, over shared fixtures: a did:jwk
//! holder (resolved locally), did:web parties served by a static resolver, contracts built
//! from a template, and the seams' test doubles.

mod attest;
mod credential;
mod holder;
mod request_object;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use verity_contracts::Contract;
use verity_did::test_util::StaticResolver;
use verity_did::{DidDocument, DidError, DidResolver, KeyResolver, did_jwk_from_jwk};
use verity_jose::{Algorithm, Header, SigningKey, sign_compact};

use crate::{HolderCheck, HolderRequest, IssuanceError, UnverifiedHolderRequest};

/// The time every fixture runs at.
pub(crate) const NOW: i64 = 1_790_000_000;
/// The credential issuer URL holder requests are addressed to.
pub(crate) const AUD: &str =
    "https://issuer.example/v1.0/issue/6f1c1a52-3e0f-4c43-9d1b-0f0c3f6a9e11";
/// The issuance request's nonce.
pub(crate) const NONCE: &str = "bm9uY2UtMTI4LWJpdHMtb2Zy";
/// The issuing authority.
pub(crate) const ISSUER: &str = "did:web:issuer.example";
/// Token size limit of the fixtures.
pub(crate) const MAX_BYTES: usize = 64 * 1024;
/// Skew of the fixtures.
pub(crate) const SKEW: i64 = 60;

/// A DID with one signing key.
pub(crate) struct Party {
    pub did: String,
    pub kid: String,
    pub key: SigningKey,
}

impl Party {
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

    /// `did:web:<host>` with key `#key-1`.
    pub(crate) fn web(host: &str, alg: Algorithm) -> Party {
        let did = format!("did:web:{host}");
        Party {
            kid: format!("{did}#key-1"),
            did,
            key: SigningKey::generate(alg).unwrap(),
        }
    }

    /// The document Verity publishes for a did:web party (key under authentication and
    /// assertionMethod).
    pub(crate) fn document(&self) -> DidDocument {
        DidDocument::for_web_authority(
            &self.did,
            &[("key-1".to_owned(), self.key.public_jwk())],
            &[],
        )
    }

    /// RFC 7638 thumbprint of the party's key.
    pub(crate) fn thumbprint(&self) -> String {
        self.key.public_jwk().thumbprint().unwrap()
    }

    /// Holder request claims that pass every check.
    pub(crate) fn holder_claims(&self) -> Value {
        json!({
            "iss": "https://self-issued.me",
            "aud": AUD,
            "sub": self.thumbprint(),
            "sub_jwk": serde_json::to_value(self.key.public_jwk()).unwrap(),
            "did": self.did,
            "contract": "https://issuer.example/v1.0/manifests/6f1c1a52-3e0f-4c43-9d1b-0f0c3f6a9e11",
            "state": "0d6a6a4c-5a3e-4f5e-9f59-7d7f3c1a2b3c",
            "nonce": NONCE,
            "jti": "3b1f0e2a-holder-request",
            "iat": NOW,
            "exp": NOW + 300,
            "attestations": {},
        })
    }

    /// Signs `claims` with this party's key under its kid.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        sign_with(&self.key, Some(&self.kid), claims.to_string().as_bytes())
    }
}

/// A compact JWS with header `{alg, kid, typ: JWT}` over `payload`.
pub(crate) fn sign_with(key: &SigningKey, kid: Option<&str>, payload: &[u8]) -> String {
    let mut h = Header::new(key.algorithm());
    h.kid = kid.map(str::to_owned);
    h.typ = Some("JWT".into());
    sign_compact(key, &h, payload).unwrap()
}

/// Resolves did:jwk / did:key locally and other DIDs from a static map.
#[derive(Debug, Default)]
pub(crate) struct TestResolver {
    pub web: StaticResolver,
}

#[async_trait]
impl DidResolver for TestResolver {
    async fn resolve(&self, did: &str) -> Result<DidDocument, DidError> {
        if did.starts_with("did:jwk:") || did.starts_with("did:key:") {
            KeyResolver.resolve(did).await
        } else {
            self.web.resolve(did).await
        }
    }
}

/// The check every holder test runs (at `NOW`, for `AUD`).
pub(crate) fn check(resolver: &TestResolver) -> HolderCheck<'_> {
    HolderCheck {
        resolver,
        audience: AUD,
        now: NOW,
        skew: SKEW,
    }
}

/// Parses and verifies `token` against `resolver`.
pub(crate) async fn verify(
    resolver: &TestResolver,
    token: &str,
) -> Result<HolderRequest, IssuanceError> {
    UnverifiedHolderRequest::parse(token, MAX_BYTES)?
        .verify(&check(resolver))
        .await
}

/// A verified holder request of a fresh holder with `edit` applied to its claims.
pub(crate) async fn holder_request(edit: impl FnOnce(&mut Value)) -> (Party, HolderRequest) {
    let holder = Party::holder(Algorithm::EdDSA);
    let mut claims = holder.holder_claims();
    edit(&mut claims);
    let request = verify(&TestResolver::default(), &holder.sign(&claims))
        .await
        .unwrap();
    (holder, request)
}

/// A valid contract with `attestations` and `validity` seconds; display claims for `outputs`
/// (`name` or `name:Type`, String by default).
pub(crate) fn contract_with(attestations: Value, outputs: &[&str], validity: u64) -> Contract {
    let claims: Vec<Value> = outputs
        .iter()
        .map(|o| {
            let (name, type_) = o.split_once(':').unwrap_or((o, "String"));
            json!({ "claim": format!("vc.credentialSubject.{name}"), "label": name, "type": type_ })
        })
        .collect();
    let v = json!({
        "id": "test-card",
        "authority": ISSUER,
        "name": "Test card",
        "rules": {
            "attestations": attestations,
            "validityInterval": validity,
            "vc": { "type": ["TestCard"] }
        },
        "display": {
            "locale": "en-US",
            "card": {
                "title": "Test card", "issuedBy": "Example", "backgroundColor": "#000000",
                "textColor": "#ffffff",
                "logo": { "uri": "https://issuer.example/logo.png", "description": "logo" },
                "description": "A card for tests."
            },
            "consent": { "title": "Add it?", "instructions": "Accept to add it." },
            "claims": claims
        }
    });
    match Contract::from_json(&v.to_string()) {
        Ok(c) => c,
        Err(e) => panic!("fixture contract invalid: {e} ({:?})", e.path()),
    }
}

/// The idTokenHint contract: givenName (required, indexed) and familyName from the RP.
pub(crate) fn hint_contract() -> Contract {
    contract_with(
        json!({ "idTokenHints": [ { "required": true, "mapping": [
            { "outputClaim": "givenName", "inputClaim": "$.given_name", "required": true, "indexed": true, "type": "String" },
            { "outputClaim": "familyName", "inputClaim": "$.family_name", "required": false, "type": "String" }
        ] } ] }),
        &["givenName", "familyName"],
        2_592_000,
    )
}

/// A JSON object's map.
pub(crate) fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}
