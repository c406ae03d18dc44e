//! The signing seam: a [`Signer`] turns a header and payload into a compact JWS under its kid.

use std::fmt;

use serde::Serialize;

use crate::{Algorithm, Header, JoseError, Jwk, SigningKey, sign_compact};

/// Something that signs JWS with one key (in-process today; an HSM or KMS can implement it too).
#[async_trait::async_trait]
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm of the signer's key.
    fn algorithm(&self) -> Algorithm;
    /// Signs `payload` as a compact JWS; the signer writes `alg` and `kid` into `header` and
    /// returns the kid it used.
    async fn sign_jws(&self, header: Header, payload: &[u8]) -> Result<Signed, JoseError>;
}

/// A signed compact JWS and the kid it was signed under.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// The compact JWS.
    pub token: String,
    /// The full key id written into the header (e.g. `did:web:example.com#key-1`).
    pub kid: String,
}

impl fmt::Debug for Signed {
    // A signed token is a bearer credential: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field(
                "token",
                &format_args!("[redacted; {} bytes]", self.token.len()),
            )
            .field("kid", &self.kid)
            .finish()
    }
}

/// A [`Signer`] holding its private key in process memory.
#[derive(Debug)]
pub struct LocalSigner {
    key: SigningKey,
    kid: String,
}

impl LocalSigner {
    /// Wraps `key`, to be published under the full key id `kid`.
    pub fn new(key: SigningKey, kid: impl Into<String>) -> Self {
        LocalSigner {
            key,
            kid: kid.into(),
        }
    }

    /// The public key (its `kid` member is unset: the signer's kid is a DID URL, see [`Self::kid`]).
    pub fn public_jwk(&self) -> Jwk {
        self.key.public_jwk()
    }

    /// The full key id this signer writes into headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

#[async_trait::async_trait]
impl Signer for LocalSigner {
    fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    async fn sign_jws(&self, mut header: Header, payload: &[u8]) -> Result<Signed, JoseError> {
        header.kid = Some(self.kid.clone());
        let token = sign_compact(&self.key, &header, payload)?;
        Ok(Signed {
            token,
            kid: self.kid.clone(),
        })
    }
}

/// Serializes `claims` and signs them as a JWT with `signer` (header `typ` set if given).
pub async fn sign_jwt<T: Serialize + Sync>(
    signer: &dyn Signer,
    typ: Option<&str>,
    claims: &T,
) -> Result<Signed, JoseError> {
    let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Encode {
        part: "payload",
        reason: e.to_string(),
    })?;
    let mut header = Header::new(signer.algorithm());
    header.typ = typ.map(str::to_owned);
    signer.sign_jws(header, &payload).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnverifiedJws;
    use serde_json::{Value, json};

    #[tokio::test]
    async fn local_signer_signs_jwts_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let signer = LocalSigner::new(
                SigningKey::generate(alg).unwrap(),
                "did:web:example.com#key-1",
            );
            assert_eq!(signer.kid(), "did:web:example.com#key-1");
            assert_eq!(signer.algorithm(), alg);
            let claims = json!({"iss": "did:web:example.com", "n": 7});
            let signed = sign_jwt(&signer, Some("JWT"), &claims).await.unwrap();
            assert_eq!(signed.kid, "did:web:example.com#key-1");
            let parsed = UnverifiedJws::parse(&signed.token).unwrap();
            assert_eq!(
                parsed.header().kid.as_deref(),
                Some("did:web:example.com#key-1")
            );
            assert_eq!(parsed.header().typ.as_deref(), Some("JWT"));
            assert_eq!(parsed.header().alg, alg.as_str());
            let verified = parsed.verify(&signer.public_jwk()).unwrap();
            assert_eq!(verified.claims::<Value>().unwrap(), claims);
        }
    }

    #[tokio::test]
    async fn signer_overrides_a_caller_supplied_kid_and_alg() {
        let signer = LocalSigner::new(SigningKey::generate(Algorithm::EdDSA).unwrap(), "k#1");
        let mut header = Header::new(Algorithm::ES256K);
        header.kid = Some("forged".into());
        let signed = signer.sign_jws(header, b"{}").await.unwrap();
        let parsed = UnverifiedJws::parse(&signed.token).unwrap();
        assert_eq!(parsed.header().kid.as_deref(), Some("k#1"));
        assert_eq!(parsed.header().alg, "EdDSA");
        assert!(signer.public_jwk().kid.is_none());
    }

    #[tokio::test]
    async fn unserializable_claims_are_an_encode_error() {
        use std::collections::HashMap;
        let signer = LocalSigner::new(SigningKey::generate(Algorithm::EdDSA).unwrap(), "k#1");
        // JSON object keys must be strings.
        let claims: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        assert!(matches!(
            sign_jwt(&signer, None, &claims).await,
            Err(JoseError::Encode {
                part: "payload",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn debug_output_redacts_token_and_key() {
        let signer = LocalSigner::new(SigningKey::generate(Algorithm::ES256).unwrap(), "k#1");
        let signed = sign_jwt(&signer, None, &json!({})).await.unwrap();
        let debug = format!("{signed:?} {signer:?}");
        assert!(!debug.contains(&signed.token));
        assert!(debug.contains("[redacted"));
        assert!(debug.contains("k#1"));
    }
}
