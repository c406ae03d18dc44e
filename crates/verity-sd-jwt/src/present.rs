//! The Holder side: reading an issued SD-JWT, choosing Disclosures by claim path, and binding
//! the presentation with a Key Binding JWT (RFC 9901 section 4.3 and 7.2).

use std::fmt;

use serde_json::{Map, Value};
use verity_jose::{Header, Jwk, Signer, SigningKey, UnverifiedJws, sign_compact};

use crate::compact::Compact;
use crate::process::process;
use crate::verify::{DEFAULT_MAX_PRESENTATION_BYTES, holder_key, sd_alg};
use crate::{ClaimPath, Disclosure, HashAlg, KB_JWT_TYP, PathElement, SdJwtError};

/// An issued SD-JWT as the Holder keeps it: the Issuer-signed JWT, every Disclosure, and where
/// each Disclosure goes.
///
/// [`SdJwt::parse`] checks the structure (RFC 9901 section 7.1 step 3-5) but **not** the
/// Issuer's signature or validity: a Holder checks those with
/// [`verify_with_issuer_key`](crate::verify_with_issuer_key) and
/// [`KeyBindingPolicy::NotRequired`](crate::KeyBindingPolicy::NotRequired).
///
/// `Debug` shows claim names and counts only.
pub struct SdJwt {
    issuer_jwt: String,
    header: Header,
    hash_alg: HashAlg,
    disclosures: Vec<Disclosure>,
    paths: Vec<ClaimPath>,
    claims: Map<String, Value>,
    holder_key: Option<Jwk>,
}

impl fmt::Debug for SdJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwt")
            .field("header", &self.header)
            .field("claim_names", &self.claims.keys().collect::<Vec<_>>())
            .field("disclosures", &self.paths)
            .finish()
    }
}

impl SdJwt {
    /// Parses an issued SD-JWT (`<issuer-jwt>~<disclosures>~`). An SD-JWT+KB is refused: an
    /// Issuer never sends one (RFC 9901 section 7.2).
    pub fn parse(issued: &str) -> Result<SdJwt, SdJwtError> {
        let compact = Compact::split(issued, DEFAULT_MAX_PRESENTATION_BYTES)?;
        if compact.kb_jwt.is_some() {
            return Err(SdJwtError::UnexpectedKeyBinding);
        }
        let jws =
            UnverifiedJws::parse_with_limit(compact.issuer_jwt, DEFAULT_MAX_PRESENTATION_BYTES)
                .map_err(SdJwtError::IssuerJwtMalformed)?;
        let payload = match jws.payload_unverified::<Value>() {
            Ok(Value::Object(payload)) => payload,
            Ok(_) => {
                return Err(SdJwtError::PayloadNotObject {
                    reason: "it is JSON but not an object".into(),
                });
            }
            Err(e) => {
                return Err(SdJwtError::PayloadNotObject {
                    reason: e.to_string(),
                });
            }
        };
        let hash_alg = sd_alg(&payload)?;
        let disclosures = compact.parse_disclosures()?;
        let processed = process(payload, &disclosures, hash_alg)?;
        let holder_key = holder_key(processed.claims.get("cnf"))?;
        Ok(SdJwt {
            issuer_jwt: compact.issuer_jwt.to_owned(),
            header: jws.header().clone(),
            hash_alg,
            disclosures,
            paths: processed.paths,
            claims: processed.claims,
            holder_key,
        })
    }

    /// The Issuer-signed JWT.
    pub fn issuer_jwt(&self) -> &str {
        &self.issuer_jwt
    }

    /// The Issuer-signed JWT's header (unverified).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The digest algorithm (`_sd_alg`).
    pub fn hash_alg(&self) -> HashAlg {
        self.hash_alg
    }

    /// Every claim with every Disclosure applied (unverified): what the Holder can reveal.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Each Disclosure with the path of the claim it reveals, in issued order.
    pub fn disclosures(&self) -> impl Iterator<Item = (&ClaimPath, &Disclosure)> {
        self.paths.iter().zip(&self.disclosures)
    }

    /// `cnf.jwk`, if the SD-JWT is bound to a holder key.
    pub fn holder_key(&self) -> Option<&Jwk> {
        self.holder_key.as_ref()
    }

    /// A presentation revealing the claims at `paths` and nothing else selectively disclosable.
    ///
    /// For each path, the Disclosures on the way to it (recursive disclosures), of the claim
    /// itself, and of everything below it are included; array indices count the elements of
    /// the fully disclosed array (as in [`SdJwt::claims`]) and `all_elements` selects every one.
    /// A path that names no claim is an error. Disclosures keep their issued order.
    pub fn present(&self, paths: &[ClaimPath]) -> Result<Presentation, SdJwtError> {
        for path in paths {
            if !resolves_in(&self.claims, path.elements()) {
                return Err(SdJwtError::UnknownClaimPath {
                    path: path.to_string(),
                });
            }
        }
        let selected = self
            .paths
            .iter()
            .zip(&self.disclosures)
            .filter(|(at, _)| paths.iter().any(|p| p.related_to(at)))
            .map(|(_, d)| d);
        Ok(self.presentation(selected))
    }

    /// A presentation revealing every claim.
    pub fn present_all(&self) -> Presentation {
        self.presentation(self.disclosures.iter())
    }

    fn presentation<'a>(&self, disclosures: impl Iterator<Item = &'a Disclosure>) -> Presentation {
        let mut sd_jwt = self.issuer_jwt.clone();
        sd_jwt.push('~');
        for d in disclosures {
            sd_jwt.push_str(d.encoded());
            sd_jwt.push('~');
        }
        Presentation {
            sd_jwt,
            hash_alg: self.hash_alg,
            holder_key: self.holder_key.clone(),
        }
    }
}

/// Whether `elements` names at least one value inside the payload `claims`.
fn resolves_in(claims: &Map<String, Value>, elements: &[PathElement]) -> bool {
    match elements.split_first() {
        None => true,
        Some((PathElement::Key(k), rest)) => claims.get(k).is_some_and(|v| resolves(v, rest)),
        Some(_) => false,
    }
}

/// Whether `elements` names at least one value inside `value`.
fn resolves(value: &Value, elements: &[PathElement]) -> bool {
    let Some((first, rest)) = elements.split_first() else {
        return true;
    };
    match (first, value) {
        (PathElement::Key(k), Value::Object(obj)) => obj.get(k).is_some_and(|v| resolves(v, rest)),
        (PathElement::Index(i), Value::Array(items)) => {
            items.get(*i).is_some_and(|v| resolves(v, rest))
        }
        (PathElement::AllElements, Value::Array(items)) => items.iter().any(|v| resolves(v, rest)),
        _ => false,
    }
}

/// The claims of a Key Binding JWT the Holder chooses (RFC 9901 section 4.3); `sd_hash` is
/// computed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBindingClaims {
    /// `aud`: the Verifier.
    pub audience: String,
    /// `nonce`: the Verifier's, for this transaction.
    pub nonce: String,
    /// `iat`, in Unix seconds (the caller's clock).
    pub issued_at: i64,
}

impl fmt::Debug for KeyBindingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyBindingClaims")
            .field("audience", &self.audience)
            .field("nonce", &"[redacted]")
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// An SD-JWT with the Holder's selection of Disclosures, ready to send bare or with a KB-JWT.
///
/// `Debug` hides the token.
#[derive(Clone)]
pub struct Presentation {
    sd_jwt: String,
    hash_alg: HashAlg,
    holder_key: Option<Jwk>,
}

impl fmt::Debug for Presentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presentation")
            .field(
                "sd_jwt",
                &format_args!("[redacted; {} bytes]", self.sd_jwt.len()),
            )
            .field("hash_alg", &self.hash_alg)
            .finish()
    }
}

impl Presentation {
    /// The SD-JWT without Key Binding: `<issuer-jwt>~<selected disclosures>~`.
    pub fn as_str(&self) -> &str {
        &self.sd_jwt
    }

    /// The `sd_hash` a KB-JWT over this presentation carries (RFC 9901 section 4.3.1).
    pub fn sd_hash(&self) -> String {
        self.hash_alg.digest_b64(self.sd_jwt.as_bytes())
    }

    /// The SD-JWT+KB: this presentation followed by a KB-JWT signed with `key`, which must be the
    /// SD-JWT's `cnf.jwk`.
    pub fn with_key_binding(
        &self,
        key: &SigningKey,
        claims: &KeyBindingClaims,
    ) -> Result<String, SdJwtError> {
        let bound = self
            .holder_key
            .as_ref()
            .ok_or(SdJwtError::HolderKeyMissing)?;
        let ours = key.public_jwk();
        let same = match (bound.thumbprint(), ours.thumbprint()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(SdJwtError::HolderKeyMismatch);
        }
        let payload = self.kb_payload(claims)?;
        let mut header = Header::new(key.algorithm());
        header.typ = Some(KB_JWT_TYP.to_owned());
        let kb_jwt = sign_compact(key, &header, &payload).map_err(SdJwtError::Signing)?;
        Ok(format!("{}{kb_jwt}", self.sd_jwt))
    }

    /// [`Presentation::with_key_binding`] through a [`Signer`] (e.g. a hardware-backed wallet
    /// key). The signer's key is not compared with `cnf.jwk` here; the Verifier will.
    pub async fn with_key_binding_signer(
        &self,
        signer: &dyn Signer,
        claims: &KeyBindingClaims,
    ) -> Result<String, SdJwtError> {
        if self.holder_key.is_none() {
            return Err(SdJwtError::HolderKeyMissing);
        }
        let payload = self.kb_payload(claims)?;
        let mut header = Header::new(signer.algorithm());
        header.typ = Some(KB_JWT_TYP.to_owned());
        let signed = signer
            .sign_jws(header, &payload)
            .await
            .map_err(SdJwtError::Signing)?;
        Ok(format!("{}{}", self.sd_jwt, signed.token))
    }

    fn kb_payload(&self, claims: &KeyBindingClaims) -> Result<Vec<u8>, SdJwtError> {
        let mut payload = Map::new();
        payload.insert("iat".into(), Value::from(claims.issued_at));
        payload.insert("aud".into(), Value::from(claims.audience.as_str()));
        payload.insert("nonce".into(), Value::from(claims.nonce.as_str()));
        payload.insert("sd_hash".into(), Value::from(self.sd_hash()));
        serde_json::to_vec(&payload).map_err(|e| SdJwtError::Encode {
            reason: e.to_string(),
        })
    }
}
