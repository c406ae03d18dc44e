//! DID documents (DID Core §5): the types, the builder for our own did:web authorities, and key
//! lookup by verification relationship.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use verity_jose::Jwk;

use crate::did::split_key_id;
use crate::error::DidError;
use crate::key;

/// The DID Core v1 JSON-LD context.
pub const DID_V1_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The JsonWebKey2020 suite context.
pub const JWS_2020_CONTEXT: &str = "https://w3id.org/security/suites/jws-2020/v1";
/// The verification method type Verity publishes.
pub const JSON_WEB_KEY_2020: &str = "JsonWebKey2020";
/// Service type of the DIF Well-Known DID Configuration linkage.
pub const LINKED_DOMAINS: &str = "LinkedDomains";

/// A DID document; unknown members are kept in `extra` so a document round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidDocument {
    /// `@context`: a string or array in the wild; always written as an array.
    #[serde(
        rename = "@context",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub context: Vec<Value>,
    /// The DID this document describes.
    pub id: String,
    /// Other identifiers for the same subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_known_as: Vec<String>,
    /// DIDs allowed to change this document (a string or a set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<Value>,
    /// Keys and other verification material.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verification_method: Vec<VerificationMethod>,
    /// Methods that may authenticate as the DID subject (e.g. sign presentations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication: Vec<VerificationRelationship>,
    /// Methods that may issue assertions (e.g. sign credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertion_method: Vec<VerificationRelationship>,
    /// Methods for key agreement (encryption); never used to verify signatures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_agreement: Vec<VerificationRelationship>,
    /// Methods that may invoke capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capability_invocation: Vec<VerificationRelationship>,
    /// Methods that may delegate capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capability_delegation: Vec<VerificationRelationship>,
    /// Service endpoints, e.g. `LinkedDomains`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<Service>,
    /// Members this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A verification method (DID Core §5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    /// Absolute (`did#frag`) or relative (`#frag`) DID URL.
    pub id: String,
    /// `JsonWebKey2020`, `Multikey`, `Ed25519VerificationKey2020`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// The DID that controls this key.
    pub controller: String,
    /// The key as a public JWK; documents holding private members are refused.
    #[serde(
        default,
        deserialize_with = "public_jwk",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_jwk: Option<Jwk>,
    /// The key as a multibase (base58btc, multicodec-prefixed) string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_multibase: Option<String>,
    /// Legacy raw base58 key (Ed25519VerificationKey2018, EcdsaSecp256k1VerificationKey2019).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_base58: Option<String>,
    /// Members this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entry of a verification relationship: a reference to a method or an embedded method.
#[derive(Debug, Clone, PartialEq)]
pub enum VerificationRelationship {
    /// `did#frag` or `#frag`, pointing into `verificationMethod`.
    Reference(String),
    /// A method defined in place, usable only for this relationship.
    Embedded(Box<VerificationMethod>),
}

impl Serialize for VerificationRelationship {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Reference(r) => s.serialize_str(r),
            Self::Embedded(vm) => vm.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for VerificationRelationship {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(r) => Ok(Self::Reference(r)),
            v @ Value::Object(_) => serde_json::from_value(v)
                .map(|vm| Self::Embedded(Box::new(vm)))
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "a verification relationship entry must be a DID URL string or a verification method object",
            )),
        }
    }
}

/// A service endpoint (DID Core §5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The service id, e.g. `did:web:example.com#linkeddomains`.
    pub id: String,
    /// One or more types; written as a string when there is one.
    #[serde(
        rename = "type",
        deserialize_with = "string_or_set",
        serialize_with = "write_string_or_set"
    )]
    pub type_: Vec<String>,
    /// A URL, a map or a set of them.
    pub service_endpoint: Value,
    /// Members this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The verification relationships Verity checks keys against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relationship {
    /// `authentication`: holders signing presentations and id_tokens.
    Authentication,
    /// `assertionMethod`: issuers signing credentials, linkage and status lists.
    AssertionMethod,
}

impl Relationship {
    /// The DID document member name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::AssertionMethod => "assertionMethod",
        }
    }
}

impl fmt::Display for Relationship {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DidDocument {
    /// An empty document for `did` with only `@context` and `id` set.
    pub fn new(did: &str) -> Self {
        Self {
            context: vec![Value::from(DID_V1_CONTEXT)],
            id: did.to_owned(),
            also_known_as: Vec::new(),
            controller: None,
            verification_method: Vec::new(),
            authentication: Vec::new(),
            assertion_method: Vec::new(),
            key_agreement: Vec::new(),
            capability_invocation: Vec::new(),
            capability_delegation: Vec::new(),
            service: Vec::new(),
            extra: Map::new(),
        }
    }

    /// The document Verity publishes for one of its did:web authorities: each key as a
    /// `JsonWebKey2020` method `did#fragment` listed under authentication and assertionMethod,
    /// plus a `LinkedDomains` service when there are origins.
    pub fn for_web_authority(
        did: &str,
        keys: &[(String, Jwk)],
        linked_domain_origins: &[String],
    ) -> DidDocument {
        let mut doc = DidDocument::new(did);
        doc.context.push(Value::from(JWS_2020_CONTEXT));
        for (fragment, jwk) in keys {
            let id = format!("{did}#{fragment}");
            doc.verification_method
                .push(VerificationMethod::json_web_key(&id, did, jwk.clone()));
            doc.authentication
                .push(VerificationRelationship::Reference(id.clone()));
            doc.assertion_method
                .push(VerificationRelationship::Reference(id));
        }
        if !linked_domain_origins.is_empty() {
            doc.service.push(Service {
                id: format!("{did}#linkeddomains"),
                type_: vec![LINKED_DOMAINS.to_owned()],
                service_endpoint: serde_json::json!({ "origins": linked_domain_origins }),
                extra: Map::new(),
            });
        }
        doc
    }

    /// Parses a document from JSON, naming what is wrong when it is not one.
    pub fn from_json_value(v: Value) -> Result<Self, DidError> {
        serde_json::from_value(v).map_err(|e| DidError::InvalidDocument {
            reason: e.to_string(),
        })
    }

    /// The document as JSON.
    pub fn to_json_value(&self) -> Value {
        // Serialising plain strings, maps and JWKs cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The public JWK of key `kid` (`did#frag` or `#frag`), provided the method belongs to this
    /// DID and is listed under `rel` (by reference or embedded there).
    pub fn key_for(&self, kid: &str, rel: Relationship) -> Result<Jwk, DidError> {
        let (did, fragment) = split_key_id(kid)?;
        if let Some(did) = &did
            && did.as_str() != self.id
        {
            return Err(DidError::DidMismatch {
                field: "kid",
                expected: self.id.clone(),
                found: did.to_string(),
            });
        }
        let absolute = format!("{}#{fragment}", self.id);
        let relative = format!("#{fragment}");
        let is_it = |id: &str| id == absolute || id == relative;

        let listed = match rel {
            Relationship::Authentication => &self.authentication,
            Relationship::AssertionMethod => &self.assertion_method,
        };
        let mut authorised = None;
        for entry in listed {
            match entry {
                VerificationRelationship::Reference(r) if is_it(r) => {
                    authorised = self.verification_method.iter().find(|vm| is_it(&vm.id));
                    if authorised.is_none() {
                        // Listed but not defined: the reference dangles.
                        return Err(DidError::KeyNotFound {
                            kid: kid.to_owned(),
                        });
                    }
                    break;
                }
                VerificationRelationship::Embedded(vm) if is_it(&vm.id) => {
                    authorised = Some(vm.as_ref());
                    break;
                }
                _ => {}
            }
        }
        let Some(vm) = authorised else {
            return Err(if self.find_method(&is_it) {
                DidError::NotAuthorizedFor {
                    kid: kid.to_owned(),
                    relationship: rel,
                }
            } else {
                DidError::KeyNotFound {
                    kid: kid.to_owned(),
                }
            });
        };
        // A key controlled by another DID would let that DID speak for this one.
        if vm.controller != self.id {
            return Err(DidError::DidMismatch {
                field: "verification method controller",
                expected: self.id.clone(),
                found: vm.controller.clone(),
            });
        }
        vm.public_jwk()
    }

    /// True when a method with a matching id exists anywhere in the document.
    fn find_method(&self, is_it: &dyn Fn(&str) -> bool) -> bool {
        let embedded = |list: &[VerificationRelationship]| {
            list.iter()
                .any(|e| matches!(e, VerificationRelationship::Embedded(vm) if is_it(&vm.id)))
        };
        self.verification_method.iter().any(|vm| is_it(&vm.id))
            || embedded(&self.authentication)
            || embedded(&self.assertion_method)
            || embedded(&self.key_agreement)
            || embedded(&self.capability_invocation)
            || embedded(&self.capability_delegation)
    }

    /// The origins of all `LinkedDomains` services (DIF Well-Known DID Configuration): the
    /// endpoint may be a string, a set of strings, or `{ "origins": [...] }`.
    pub fn linked_domain_origins(&self) -> Vec<String> {
        let mut out = Vec::new();
        for svc in self
            .service
            .iter()
            .filter(|s| s.type_.iter().any(|t| t == LINKED_DOMAINS))
        {
            collect_origins(&svc.service_endpoint, &mut out);
        }
        out
    }

    /// True when the document has at least one `LinkedDomains` service.
    pub fn has_linked_domains_service(&self) -> bool {
        self.service
            .iter()
            .any(|s| s.type_.iter().any(|t| t == LINKED_DOMAINS))
    }
}

fn collect_origins(endpoint: &Value, out: &mut Vec<String>) {
    match endpoint {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_origins(i, out)),
        Value::Object(map) => {
            if let Some(origins) = map.get("origins") {
                collect_origins(origins, out);
            }
        }
        _ => {}
    }
}

impl VerificationMethod {
    /// A `JsonWebKey2020` method with the given public JWK.
    pub fn json_web_key(id: &str, controller: &str, jwk: Jwk) -> Self {
        Self {
            id: id.to_owned(),
            type_: JSON_WEB_KEY_2020.to_owned(),
            controller: controller.to_owned(),
            public_key_jwk: Some(jwk),
            public_key_multibase: None,
            public_key_base58: None,
            extra: Map::new(),
        }
    }

    /// The method's public key as a validated JWK, converting multibase and base58 forms.
    pub fn public_jwk(&self) -> Result<Jwk, DidError> {
        let bad = |reason: String| DidError::InvalidVerificationMethod {
            id: self.id.clone(),
            reason,
        };
        if let Some(jwk) = &self.public_key_jwk {
            // RSA keys are verify-only in Verity (OpenID Connect providers), not DID keys.
            if jwk.kty == "RSA" {
                return Err(bad("publicKeyJwk: kty \"RSA\" is not supported".into()));
            }
            jwk.validate()
                .map_err(|e| bad(format!("publicKeyJwk: {e}")))?;
            return Ok(jwk.clone());
        }
        if let Some(mb) = &self.public_key_multibase {
            return key::jwk_from_multibase(mb);
        }
        if let Some(b58) = &self.public_key_base58 {
            let bytes = bs58::decode(b58)
                .into_vec()
                .map_err(|e| bad(format!("publicKeyBase58 does not decode: {e}")))?;
            let codec = match self.type_.as_str() {
                "Ed25519VerificationKey2018" | "Ed25519VerificationKey2020" => key::ED25519_PUB,
                "EcdsaSecp256k1VerificationKey2019" => key::SECP256K1_PUB,
                other => {
                    return Err(bad(format!(
                        "publicKeyBase58 is only understood for Ed25519 and secp256k1 key types, not `{other}`"
                    )));
                }
            };
            return key::jwk_from_codec(codec, &bytes);
        }
        Err(bad(
            "has no publicKeyJwk, publicKeyMultibase or publicKeyBase58".into(),
        ))
    }
}

/// Deserialises a publicKeyJwk, refusing private members so a leaked private key is never used.
fn public_jwk<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Jwk>, D::Error> {
    let Some(v) = Option::<Value>::deserialize(d)? else {
        return Ok(None);
    };
    key::check_no_private_members(&v).map_err(serde::de::Error::custom)?;
    serde_json::from_value(v)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    })
}

fn string_or_set<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(serde::de::Error::custom(
                    "service type entries must be strings",
                )),
            })
            .collect(),
        _ => Err(serde::de::Error::custom(
            "service type must be a string or a set of strings",
        )),
    }
}

fn write_string_or_set<S: Serializer>(types: &[String], s: S) -> Result<S::Ok, S::Error> {
    match types {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use verity_jose::{Algorithm, SigningKey};

    const DID: &str = "did:web:example.com";

    fn key(alg: Algorithm) -> Jwk {
        SigningKey::generate(alg).unwrap().public_jwk()
    }

    #[test]
    fn web_authority_document_matches_protocol_shape() {
        let k1 = key(Algorithm::ES256);
        let k2 = key(Algorithm::EdDSA);
        let doc = DidDocument::for_web_authority(
            DID,
            &[("key-1".into(), k1.clone()), ("key-2".into(), k2.clone())],
            &["https://example.com/".into()],
        );
        let v = doc.to_json_value();
        assert_eq!(
            v,
            json!({
                "@context": [DID_V1_CONTEXT, JWS_2020_CONTEXT],
                "id": DID,
                "verificationMethod": [
                    {"id": "did:web:example.com#key-1", "type": "JsonWebKey2020",
                     "controller": DID, "publicKeyJwk": serde_json::to_value(&k1).unwrap()},
                    {"id": "did:web:example.com#key-2", "type": "JsonWebKey2020",
                     "controller": DID, "publicKeyJwk": serde_json::to_value(&k2).unwrap()},
                ],
                "authentication": ["did:web:example.com#key-1", "did:web:example.com#key-2"],
                "assertionMethod": ["did:web:example.com#key-1", "did:web:example.com#key-2"],
                "service": [{
                    "id": "did:web:example.com#linkeddomains",
                    "type": "LinkedDomains",
                    "serviceEndpoint": {"origins": ["https://example.com/"]}
                }]
            })
        );
        // Round trip.
        assert_eq!(DidDocument::from_json_value(v).unwrap(), doc);
        assert_eq!(doc.linked_domain_origins(), ["https://example.com/"]);
    }

    #[test]
    fn web_authority_document_never_contains_private_members() {
        let keys: Vec<(String, Jwk)> = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::ES256K]
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("k{i}"), key(a)))
            .collect();
        let doc = DidDocument::for_web_authority(DID, &keys, &[]);
        let text = serde_json::to_string(&doc).unwrap();
        for vm in doc.to_json_value()["verificationMethod"]
            .as_array()
            .unwrap()
        {
            let jwk = vm["publicKeyJwk"].as_object().unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(!jwk.contains_key(private), "{private} in {text}");
            }
        }
        assert!(!text.contains("\"d\""));
        // No origins: no service member at all.
        assert!(doc.to_json_value().get("service").is_none());
    }

    #[test]
    fn parsing_refuses_private_jwk_members() {
        let v = json!({
            "id": DID,
            "verificationMethod": [{
                "id": "did:web:example.com#k", "type": "JsonWebKey2020", "controller": DID,
                "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
            }]
        });
        let err = DidDocument::from_json_value(v).unwrap_err();
        assert!(matches!(err, DidError::InvalidDocument { .. }));
        assert!(err.to_string().contains("private key member `d`"), "{err}");
    }

    fn doc_with(auth: Value, assertion: Value, vms: Value) -> DidDocument {
        DidDocument::from_json_value(json!({
            "@context": DID_V1_CONTEXT,
            "id": DID,
            "verificationMethod": vms,
            "authentication": auth,
            "assertionMethod": assertion,
        }))
        .unwrap()
    }

    fn vm(id: &str, controller: &str, jwk: &Jwk) -> Value {
        json!({"id": id, "type": "JsonWebKey2020", "controller": controller,
               "publicKeyJwk": serde_json::to_value(jwk).unwrap()})
    }

    #[test]
    fn key_for_resolves_absolute_and_relative_ids() {
        let k = key(Algorithm::ES256);
        let doc = doc_with(
            json!(["#key-1"]),
            json!(["did:web:example.com#key-1"]),
            json!([vm("did:web:example.com#key-1", DID, &k)]),
        );
        for kid in ["did:web:example.com#key-1", "#key-1"] {
            assert_eq!(doc.key_for(kid, Relationship::AssertionMethod).unwrap(), k);
            assert_eq!(doc.key_for(kid, Relationship::Authentication).unwrap(), k);
        }
        // The method itself may use a relative id too.
        let doc = doc_with(json!([]), json!(["#key-1"]), json!([vm("#key-1", DID, &k)]));
        assert_eq!(
            doc.key_for("did:web:example.com#key-1", Relationship::AssertionMethod)
                .unwrap(),
            k
        );
    }

    #[test]
    fn key_for_accepts_embedded_methods_only_for_their_relationship() {
        let k = key(Algorithm::EdDSA);
        let doc = doc_with(
            json!([vm("did:web:example.com#auth", DID, &k)]),
            json!([]),
            json!([]),
        );
        assert_eq!(
            doc.key_for("#auth", Relationship::Authentication).unwrap(),
            k
        );
        let err = doc
            .key_for("#auth", Relationship::AssertionMethod)
            .unwrap_err();
        assert!(matches!(
            err,
            DidError::NotAuthorizedFor {
                relationship: Relationship::AssertionMethod,
                ..
            }
        ));
        assert!(err.to_string().contains("assertionMethod"), "{err}");
    }

    #[test]
    fn key_for_distinct_errors() {
        let k = key(Algorithm::ES256);
        let doc = doc_with(
            json!(["did:web:example.com#auth-only"]),
            json!([
                "did:web:example.com#dangling",
                "did:web:example.com#foreign"
            ]),
            json!([
                vm("did:web:example.com#auth-only", DID, &k),
                vm(
                    "did:web:example.com#foreign",
                    "did:web:attacker.example",
                    &k
                ),
            ]),
        );
        assert!(matches!(
            doc.key_for("#missing", Relationship::AssertionMethod),
            Err(DidError::KeyNotFound { .. })
        ));
        assert!(matches!(
            doc.key_for("#dangling", Relationship::AssertionMethod),
            Err(DidError::KeyNotFound { .. })
        ));
        assert!(matches!(
            doc.key_for("#auth-only", Relationship::AssertionMethod),
            Err(DidError::NotAuthorizedFor { .. })
        ));
        assert!(matches!(
            doc.key_for(
                "did:web:other.example#auth-only",
                Relationship::Authentication
            ),
            Err(DidError::DidMismatch { field: "kid", .. })
        ));
        assert!(matches!(
            doc.key_for("#foreign", Relationship::AssertionMethod),
            Err(DidError::DidMismatch {
                field: "verification method controller",
                ..
            })
        ));
        assert!(matches!(
            doc.key_for("no-fragment", Relationship::AssertionMethod),
            Err(DidError::InvalidKeyId { .. })
        ));
    }

    #[test]
    fn key_for_rejects_a_method_without_usable_key() {
        let doc = DidDocument::from_json_value(json!({
            "id": DID,
            "verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "controller": DID}],
            "assertionMethod": ["#k"]
        }))
        .unwrap();
        let err = doc
            .key_for("#k", Relationship::AssertionMethod)
            .unwrap_err();
        assert!(
            matches!(err, DidError::InvalidVerificationMethod { .. }),
            "{err}"
        );
        // An invalid point in publicKeyJwk is caught too.
        let doc = DidDocument::from_json_value(json!({
            "id": DID,
            "verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "controller": DID,
                "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}],
            "assertionMethod": ["#k"]
        }))
        .unwrap();
        let err = doc
            .key_for("#k", Relationship::AssertionMethod)
            .unwrap_err();
        assert!(
            matches!(err, DidError::InvalidVerificationMethod { .. }),
            "{err}"
        );
    }

    #[test]
    fn key_for_converts_multibase_and_base58_methods() {
        // did:web Method Specification, example document of user alice: an
        // Ed25519VerificationKey2020 with publicKeyMultibase.
        let mb = "z6Mkpw72M9suPCBv48X2Xj4YKZJH9W7wzEK1aS6JioKSo89C";
        let alice = "did:web:w3c-ccg.github.io:user:alice";
        let doc = DidDocument::from_json_value(json!({
            "id": alice,
            "verificationMethod": [{"id": format!("{alice}#{mb}"),
                "type": "Ed25519VerificationKey2020", "controller": alice,
                "publicKeyMultibase": mb}],
            "assertionMethod": [format!("{alice}#{mb}")]
        }))
        .unwrap();
        let jwk = doc
            .key_for(&format!("#{mb}"), Relationship::AssertionMethod)
            .unwrap();
        assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
        assert_eq!(
            crate::did_key_from_jwk(&jwk).unwrap(),
            format!("did:key:{mb}")
        );

        // did:key test vectors (w3c-ccg/did-method-key test-vectors/ed25519-x25519.json):
        // the Ed25519VerificationKey2018 publicKeyBase58 of seed 0.
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        let doc = DidDocument::from_json_value(json!({
            "id": did,
            "verificationMethod": [{"id": format!("{did}#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"),
                "type": "Ed25519VerificationKey2018", "controller": did,
                "publicKeyBase58": "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS"}],
            "authentication": [format!("{did}#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")]
        }))
        .unwrap();
        let jwk = doc
            .key_for(
                "#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
                Relationship::Authentication,
            )
            .unwrap();
        assert_eq!(crate::did_key_from_jwk(&jwk).unwrap(), did);
    }

    #[test]
    fn linked_domain_origins_accepts_all_endpoint_shapes() {
        let doc = DidDocument::from_json_value(json!({
            "id": DID,
            "service": [
                {"id": "#a", "type": "LinkedDomains", "serviceEndpoint": "https://a.example"},
                {"id": "#b", "type": ["LinkedDomains"], "serviceEndpoint": {"origins": ["https://b.example", "https://c.example"]}},
                {"id": "#c", "type": "LinkedDomains", "serviceEndpoint": ["https://d.example"]},
                {"id": "#d", "type": "Other", "serviceEndpoint": "https://ignored.example"}
            ]
        }))
        .unwrap();
        assert_eq!(
            doc.linked_domain_origins(),
            [
                "https://a.example",
                "https://b.example",
                "https://c.example",
                "https://d.example"
            ]
        );
        assert!(doc.has_linked_domains_service());
        assert!(!DidDocument::new(DID).has_linked_domains_service());
    }

    #[test]
    fn unknown_members_round_trip_and_context_string_is_accepted() {
        let v = json!({
            "@context": DID_V1_CONTEXT,
            "id": DID,
            "custom": {"x": 1},
            "verificationMethod": [{"id": "#k", "type": "Multikey", "controller": DID,
                "publicKeyMultibase": "z6Mkpw72M9suPCBv48X2Xj4YKZJH9W7wzEK1aS6JioKSo89C",
                "expires": "2030-01-01T00:00:00Z"}]
        });
        let doc = DidDocument::from_json_value(v).unwrap();
        assert_eq!(doc.context, vec![json!(DID_V1_CONTEXT)]);
        assert_eq!(doc.extra["custom"], json!({"x": 1}));
        assert_eq!(
            doc.verification_method[0].extra["expires"],
            "2030-01-01T00:00:00Z"
        );
        let back = doc.to_json_value();
        assert_eq!(back["custom"], json!({"x": 1}));
        assert_eq!(back["@context"], json!([DID_V1_CONTEXT]));
    }

    #[test]
    fn invalid_documents_say_why() {
        for (v, needle) in [
            (json!({"verificationMethod": []}), "id"),
            (
                json!({"id": DID, "authentication": [42]}),
                "verification relationship",
            ),
            (
                json!({"id": DID, "service": [{"id": "#s", "type": 1, "serviceEndpoint": "x"}]}),
                "service type",
            ),
            (json!([]), "invalid type"),
        ] {
            let err = DidDocument::from_json_value(v).unwrap_err();
            assert!(matches!(err, DidError::InvalidDocument { .. }));
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn relationship_names() {
        assert_eq!(Relationship::Authentication.to_string(), "authentication");
        assert_eq!(Relationship::AssertionMethod.as_str(), "assertionMethod");
    }

    #[test]
    fn rsa_verification_methods_are_not_usable_keys() {
        let did = "did:web:rsa.example";
        let doc = DidDocument::from_json_value(serde_json::json!({
            "id": did,
            "verificationMethod": [ { "id": format!("{did}#rsa"), "type": "JsonWebKey2020", "controller": did,
                "publicKeyJwk": { "kty": "RSA", "e": "AQAB",
                  "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ" } } ],
            "assertionMethod": [ format!("{did}#rsa") ]
        }));
        // Either the document is refused or the key is: never an RS256 issuer key.
        let err = match doc {
            Err(e) => e,
            Ok(doc) => doc
                .key_for(&format!("{did}#rsa"), Relationship::AssertionMethod)
                .unwrap_err(),
        };
        assert!(err.to_string().contains("RSA"), "{err}");
    }
}
