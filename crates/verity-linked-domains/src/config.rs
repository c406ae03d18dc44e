//! The DID Configuration resource and Domain Linkage Credentials (JWT proof format), and origins.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;
use verity_did::Did;
use verity_jose::{Signer, TokenKind, sign_kind};

use crate::error::LinkedDomainsError;

/// `@context` of the DID Configuration resource and second context of the credential.
pub const DID_CONFIGURATION_CONTEXT: &str =
    "https://identity.foundation/.well-known/did-configuration/v1";
/// First context of a VCDM 1.1 credential.
pub const CREDENTIALS_V1_CONTEXT: &str = "https://www.w3.org/2018/credentials/v1";
/// The credential type naming a domain linkage.
pub const DOMAIN_LINKAGE_CREDENTIAL: &str = "DomainLinkageCredential";
/// Where an origin publishes its DID Configuration.
pub const DID_CONFIGURATION_PATH: &str = "/.well-known/did-configuration.json";

/// One entry of `linked_dids`: a JWT (the format Verity writes and checks) or a Linked Data
/// Proof credential (kept, not verified).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LinkedDid {
    /// A compact JWT Domain Linkage Credential.
    Jwt(String),
    /// A JSON-LD credential with an embedded proof.
    LinkedData(Value),
}

/// The DID Configuration resource served at `/.well-known/did-configuration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidConfiguration {
    /// Always [`DID_CONFIGURATION_CONTEXT`].
    #[serde(rename = "@context")]
    pub context: String,
    /// Domain Linkage Credentials, one per linked DID.
    pub linked_dids: Vec<LinkedDid>,
}

impl DidConfiguration {
    /// A configuration listing these JWT credentials.
    pub fn new(jwts: Vec<String>) -> Self {
        Self {
            context: DID_CONFIGURATION_CONTEXT.to_owned(),
            linked_dids: jwts.into_iter().map(LinkedDid::Jwt).collect(),
        }
    }

    /// The resource as JSON.
    pub fn to_json_value(&self) -> Value {
        // Strings and values only: serialisation cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The JWT entries.
    pub fn jwts(&self) -> impl Iterator<Item = &str> {
        self.linked_dids.iter().filter_map(|l| match l {
            LinkedDid::Jwt(t) => Some(t.as_str()),
            LinkedDid::LinkedData(_) => None,
        })
    }
}

/// Normalises an origin to `scheme://host[:port]` (the form the spec's service endpoints use).
/// A bare host, as in the spec's JWT example (`identity.foundation`), is taken as https. Paths
/// other than `/`, queries, fragments and credentials are refused: an origin is not a URL.
pub fn normalize_origin(origin: &str) -> Result<String, LinkedDomainsError> {
    let bad = |reason: &str| LinkedDomainsError::InvalidOrigin {
        origin: origin.to_owned(),
        reason: reason.into(),
    };
    let with_scheme = if origin.contains("://") {
        origin.to_owned()
    } else {
        format!("https://{origin}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad(
            "the scheme must be https (or http for development hosts)",
        ));
    }
    if url.host().is_none() {
        return Err(bad("has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("an origin has no path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("an origin has no user name or password"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The DID Configuration URL of an origin.
pub fn configuration_url(origin: &str) -> Result<String, LinkedDomainsError> {
    Ok(format!(
        "{}{DID_CONFIGURATION_PATH}",
        normalize_origin(origin)?
    ))
}

fn rfc3339(unix: i64) -> Result<String, LinkedDomainsError> {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .ok_or(LinkedDomainsError::InvalidValidity { seconds: unix })
}

/// Signs a Domain Linkage Credential (DIF Well-Known DID Configuration, JWT proof format):
/// `iss` = `sub` = `did`, `nbf` = `now`, `exp` = `now + validity_secs`, and a `vc` of type
/// `DomainLinkageCredential` whose subject is `{ id: did, origin }`. The signer's key must be a
/// key of `did` (its kid `did#…`), listed under the DID's assertionMethod.
pub async fn build_domain_linkage_jwt(
    signer: &dyn Signer,
    did: &str,
    origin: &str,
    now: i64,
    validity_secs: i64,
) -> Result<String, LinkedDomainsError> {
    Did::parse(did).map_err(|e| LinkedDomainsError::InvalidDid {
        did: did.to_owned(),
        reason: e.to_string(),
    })?;
    let origin = normalize_origin(origin)?;
    if validity_secs <= 0 {
        return Err(LinkedDomainsError::InvalidValidity {
            seconds: validity_secs,
        });
    }
    let exp = now
        .checked_add(validity_secs)
        .ok_or(LinkedDomainsError::InvalidValidity {
            seconds: validity_secs,
        })?;
    let claims = json!({
        "iss": did,
        "sub": did,
        "nbf": now,
        "exp": exp,
        "vc": {
            "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
            "type": ["VerifiableCredential", DOMAIN_LINKAGE_CREDENTIAL],
            "issuer": did,
            "issuanceDate": rfc3339(now)?,
            "expirationDate": rfc3339(exp)?,
            "credentialSubject": { "id": did, "origin": origin }
        }
    });
    let signed = sign_kind(signer, TokenKind::DomainLinkage, &claims).await?;
    // A linkage signed with another DID's key would never verify: refuse to publish it.
    let kid_did = signed.kid.split_once('#').map(|(d, _)| d);
    if kid_did != Some(did) {
        return Err(LinkedDomainsError::KeyNotOfDid {
            kid: signed.kid,
            did: did.to_owned(),
        });
    }
    Ok(signed.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_jose::{Algorithm, LocalSigner, SigningKey, UnverifiedJws};

    const DID: &str = "did:web:issuer.test";
    const NOW: i64 = 1_607_112_508;

    fn signer(kid: &str) -> LocalSigner {
        LocalSigner::new(SigningKey::generate(Algorithm::ES256).unwrap(), kid)
    }

    #[test]
    fn origins_normalise() {
        for (input, want) in [
            ("https://example.com", "https://example.com"),
            ("https://example.com/", "https://example.com"),
            ("https://Example.COM:443/", "https://example.com"),
            ("https://example.com:8443", "https://example.com:8443"),
            ("identity.foundation", "https://identity.foundation"),
            ("http://localhost:8080", "http://localhost:8080"),
        ] {
            assert_eq!(normalize_origin(input).unwrap(), want, "{input}");
        }
        for bad in [
            "https://example.com/path",
            "https://example.com/?q=1",
            "https://example.com/#f",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://",
            "",
        ] {
            assert!(
                matches!(
                    normalize_origin(bad),
                    Err(LinkedDomainsError::InvalidOrigin { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            configuration_url("https://example.com/").unwrap(),
            "https://example.com/.well-known/did-configuration.json"
        );
    }

    /// Shape of the DIF Well-Known DID Configuration "JSON Web Token Proof Format" example:
    /// header `alg`/`kid`/`typ: JWT`; claims `exp`, `iss`, `nbf`, `sub`, `vc` with the two
    /// contexts, `DomainLinkageCredential`, `issuer`, dates and `credentialSubject`.
    #[tokio::test]
    async fn builds_the_spec_shape() {
        let s = signer(&format!("{DID}#key-1"));
        let jwt = build_domain_linkage_jwt(&s, DID, "https://issuer.test/", NOW, 3600)
            .await
            .unwrap();
        let parsed = UnverifiedJws::parse(&jwt).unwrap();
        assert_eq!(parsed.header().typ.as_deref(), Some("JWT"));
        assert_eq!(
            parsed.header().kid.as_deref(),
            Some("did:web:issuer.test#key-1")
        );
        let claims: Value = parsed.payload_unverified().unwrap();
        assert_eq!(
            claims,
            json!({
                "iss": DID, "sub": DID, "nbf": NOW, "exp": NOW + 3600,
                "vc": {
                    "@context": [CREDENTIALS_V1_CONTEXT, DID_CONFIGURATION_CONTEXT],
                    "type": ["VerifiableCredential", "DomainLinkageCredential"],
                    "issuer": DID,
                    "issuanceDate": "2020-12-04T20:08:28Z",
                    "expirationDate": "2020-12-04T21:08:28Z",
                    "credentialSubject": {"id": DID, "origin": "https://issuer.test"}
                }
            })
        );
        let verified = parsed.verify(&s.public_jwk()).unwrap();
        assert_eq!(verified.claims::<Value>().unwrap()["sub"], DID);
    }

    #[tokio::test]
    async fn build_refuses_bad_input() {
        let s = signer(&format!("{DID}#key-1"));
        assert!(matches!(
            build_domain_linkage_jwt(&s, "not-a-did", "https://issuer.test", NOW, 60).await,
            Err(LinkedDomainsError::InvalidDid { .. })
        ));
        assert!(matches!(
            build_domain_linkage_jwt(&s, DID, "https://issuer.test/path", NOW, 60).await,
            Err(LinkedDomainsError::InvalidOrigin { .. })
        ));
        assert!(matches!(
            build_domain_linkage_jwt(&s, DID, "https://issuer.test", NOW, 0).await,
            Err(LinkedDomainsError::InvalidValidity { .. })
        ));
        assert!(matches!(
            build_domain_linkage_jwt(&s, DID, "https://issuer.test", i64::MAX, 10).await,
            Err(LinkedDomainsError::InvalidValidity { .. })
        ));
        let other = signer("did:web:other.test#key-1");
        let err = build_domain_linkage_jwt(&other, DID, "https://issuer.test", NOW, 60)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LinkedDomainsError::KeyNotOfDid { .. }),
            "{err}"
        );
    }

    #[test]
    fn configuration_serialises_per_spec() {
        let cfg = DidConfiguration::new(vec!["a.b.c".into()]);
        assert_eq!(
            cfg.to_json_value(),
            json!({"@context": DID_CONFIGURATION_CONTEXT, "linked_dids": ["a.b.c"]})
        );
        let parsed: DidConfiguration = serde_json::from_value(json!({
            "@context": DID_CONFIGURATION_CONTEXT,
            "linked_dids": ["x.y.z", {"@context": [], "proof": {}}]
        }))
        .unwrap();
        assert_eq!(parsed.jwts().collect::<Vec<_>>(), ["x.y.z"]);
        assert!(matches!(parsed.linked_dids[1], LinkedDid::LinkedData(_)));
    }
}
