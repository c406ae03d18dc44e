//! The Issuer side: turning a claims object into an SD-JWT (RFC 9901 section 4.1 and 4.2).

use std::fmt;

use rand_core::{CryptoRngCore, OsRng};
use serde_json::{Map, Value};
use verity_jose::{Header, Jwk, Signer};

use crate::disclosure::decoy_digest;
use crate::{
    ClaimPath, Disclosure, HashAlg, PathElement, SD_JWT_VC_NON_DISCLOSABLE, SD_JWT_VC_TYP,
    SdJwtError,
};

/// Claim names SD-JWT reserves in payloads (RFC 9901 section 4.1 rule 7 and section 4.1.1).
const RESERVED_PAYLOAD_NAMES: [&str; 3] = ["_sd", "...", "_sd_alg"];

/// Claims the Issuer never makes selectively disclosable, under any profile: the validity
/// claims of RFC 9901 section 9.7 (and everything below them). `aud` as a whole is refused too;
/// its entries may be disclosable.
const VALIDITY_CLAIMS: [&str; 4] = ["iss", "nbf", "exp", "cnf"];

/// Builds an SD-JWT: a claims object, the paths of the claims that become selectively
/// disclosable, optional decoy digests, the hash algorithm and the holder key.
///
/// ```text
/// SdJwtBuilder::sd_jwt_vc(claims)                       // typ dc+sd-jwt, vct + iss required
///     .selectively_disclosable(ClaimPath::keys(["given_name"]))
///     .selectively_disclosable(ClaimPath::keys(["address", "locality"]))  // nested member
///     .selectively_disclosable(ClaimPath::keys(["nationalities"]).all_elements())  // elements
///     .decoys(ClaimPath::root(), 2)
///     .holder_key(holder_jwk)                           // cnf: { jwk }
///     .sign(&signer).await?                             // <issuer-jwt>~<d1>~...~
/// ```
///
/// Marking both a claim and claims inside it gives recursive Disclosures (RFC 9901 section
/// 4.2.6). Each `_sd` array is sorted, so digest order reveals nothing about claim order; decoys
/// in arrays go to random positions. `_sd_alg` is written whenever a digest is.
pub struct SdJwtBuilder {
    claims: Map<String, Value>,
    typ: String,
    vc_profile: bool,
    disclosable: Vec<ClaimPath>,
    decoys: Vec<(ClaimPath, usize)>,
    hash_alg: HashAlg,
    holder_key: Option<Jwk>,
}

impl fmt::Debug for SdJwtBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwtBuilder")
            .field("claim_names", &self.claims.keys().collect::<Vec<_>>())
            .field("typ", &self.typ)
            .field("disclosable", &self.disclosable)
            .field("hash_alg", &self.hash_alg)
            .finish()
    }
}

impl SdJwtBuilder {
    /// A plain RFC 9901 SD-JWT with header `typ` (e.g. `example+sd-jwt`).
    pub fn new(claims: Map<String, Value>, typ: impl Into<String>) -> Self {
        SdJwtBuilder {
            claims,
            typ: typ.into(),
            vc_profile: false,
            disclosable: Vec::new(),
            decoys: Vec::new(),
            hash_alg: HashAlg::Sha256,
            holder_key: None,
        }
    }

    /// An SD-JWT VC (typ `dc+sd-jwt`): `claims` must carry `vct` (a non-empty string) and `iss`
    /// (a string), and `iss`, `nbf`, `exp`, `cnf`, `vct`, `vct#integrity`, `aka_vcts` and `status`
    /// cannot be made selectively disclosable.
    pub fn sd_jwt_vc(claims: Map<String, Value>) -> Self {
        SdJwtBuilder {
            vc_profile: true,
            ..SdJwtBuilder::new(claims, SD_JWT_VC_TYP)
        }
    }

    /// Makes the claim(s) at `path` selectively disclosable: an object member (any depth) or an
    /// array element (`index`, or `all_elements` for each one).
    #[must_use]
    pub fn selectively_disclosable(mut self, path: ClaimPath) -> Self {
        self.disclosable.push(path);
        self
    }

    /// Adds `count` decoy digests to the object or array at `container` (the root for the
    /// top-level `_sd`).
    #[must_use]
    pub fn decoys(mut self, container: ClaimPath, count: usize) -> Self {
        self.decoys.push((container, count));
        self
    }

    /// The digest algorithm (default `sha-256`).
    #[must_use]
    pub fn hash_alg(mut self, alg: HashAlg) -> Self {
        self.hash_alg = alg;
        self
    }

    /// Binds the SD-JWT to the Holder's public key: `cnf: {"jwk": key}` (RFC 7800 section 3.2).
    #[must_use]
    pub fn holder_key(mut self, key: Jwk) -> Self {
        self.holder_key = Some(key);
        self
    }

    /// Builds payload and Disclosures with salts and decoys from the operating system's CSPRNG.
    pub fn prepare(self) -> Result<PreparedSdJwt, SdJwtError> {
        self.prepare_with_rng(&mut OsRng)
    }

    /// Builds payload and Disclosures with salts and decoys from `rng` (a seam for tests and
    /// hardware generators; it must be a CSPRNG).
    pub fn prepare_with_rng(
        self,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<PreparedSdJwt, SdJwtError> {
        let SdJwtBuilder {
            mut claims,
            typ,
            vc_profile,
            disclosable,
            decoys,
            hash_alg,
            holder_key,
        } = self;
        for path in &disclosable {
            check_disclosable(path, vc_profile)?;
        }
        if vc_profile {
            match claims.get("vct") {
                Some(Value::String(v)) if !v.is_empty() => {}
                Some(Value::String(_)) => return Err(SdJwtError::InvalidVct { reason: "empty" }),
                Some(_) => {
                    return Err(SdJwtError::InvalidVct {
                        reason: "not a string",
                    });
                }
                None => return Err(SdJwtError::InvalidVct { reason: "absent" }),
            }
            if !claims.get("iss").is_some_and(Value::is_string) {
                return Err(SdJwtError::MissingIssuer);
            }
        }
        if let Some(key) = holder_key {
            if claims.contains_key("cnf") {
                return Err(SdJwtError::InvalidClaims {
                    reason: "the claims already carry `cnf`; give the holder key once".into(),
                });
            }
            key.validate().map_err(SdJwtError::HolderKeyInvalid)?;
            let jwk = serde_json::to_value(&key).map_err(|e| SdJwtError::Encode {
                reason: e.to_string(),
            })?;
            let mut cnf = Map::new();
            cnf.insert("jwk".into(), jwk);
            claims.insert("cnf".into(), Value::Object(cnf));
        }

        let mut encoder = Encoder {
            rng,
            alg: hash_alg,
            disclosable: &disclosable,
            disclosable_hits: vec![false; disclosable.len()],
            decoys: &decoys,
            decoy_hits: vec![false; decoys.len()],
            path: ClaimPath::root(),
            disclosures: Vec::new(),
            wrote_digest: false,
        };
        let mut payload = encoder.object(claims)?;
        if let Some(i) = encoder.disclosable_hits.iter().position(|hit| !hit) {
            return Err(SdJwtError::UnknownClaimPath {
                path: disclosable
                    .get(i)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            });
        }
        if let Some(i) = encoder.decoy_hits.iter().position(|hit| !hit) {
            return Err(SdJwtError::UnknownClaimPath {
                path: decoys
                    .get(i)
                    .map(|(p, _)| format!("{p} (decoys need an object or array)"))
                    .unwrap_or_default(),
            });
        }
        if encoder.wrote_digest {
            payload.insert("_sd_alg".into(), Value::from(hash_alg.as_str()));
        }
        Ok(PreparedSdJwt {
            typ,
            payload,
            disclosures: encoder.disclosures,
        })
    }

    /// [`SdJwtBuilder::prepare`] then [`PreparedSdJwt::sign`].
    pub async fn sign(self, signer: &dyn Signer) -> Result<IssuedSdJwt, SdJwtError> {
        self.prepare()?.sign(signer).await
    }
}

fn check_disclosable(path: &ClaimPath, vc_profile: bool) -> Result<(), SdJwtError> {
    let refuse = |reason| {
        Err(SdJwtError::NotDisclosable {
            path: path.to_string(),
            reason,
        })
    };
    let Some(name) = path.top_level_name() else {
        return refuse("it is the payload itself or not an object member");
    };
    if VALIDITY_CLAIMS.contains(&name) {
        return refuse("validity-controlling claims stay in the clear (RFC 9901 section 9.7)");
    }
    if name == "aud" && path.elements().len() == 1 {
        return refuse(
            "`aud` controls validity (RFC 9901 section 9.7); only its entries may be disclosable",
        );
    }
    if vc_profile && SD_JWT_VC_NON_DISCLOSABLE.contains(&name) {
        return refuse("SD-JWT VC forbids disclosing it (draft-ietf-oauth-sd-jwt-vc 2.2.2.3)");
    }
    Ok(())
}

struct Encoder<'a> {
    rng: &'a mut dyn CryptoRngCore,
    alg: HashAlg,
    disclosable: &'a [ClaimPath],
    disclosable_hits: Vec<bool>,
    decoys: &'a [(ClaimPath, usize)],
    decoy_hits: Vec<bool>,
    path: ClaimPath,
    disclosures: Vec<(ClaimPath, Disclosure)>,
    wrote_digest: bool,
}

impl Encoder<'_> {
    fn value(&mut self, value: Value) -> Result<Value, SdJwtError> {
        match value {
            Value::Object(obj) => self.object(obj).map(Value::Object),
            Value::Array(items) => self.array(items).map(Value::Array),
            other => Ok(other),
        }
    }

    fn object(&mut self, obj: Map<String, Value>) -> Result<Map<String, Value>, SdJwtError> {
        let mut out = Map::new();
        let mut digests = Vec::new();
        for (name, value) in obj {
            self.path.push(PathElement::Key(name.clone()));
            if RESERVED_PAYLOAD_NAMES.contains(&name.as_str()) {
                return Err(SdJwtError::ReservedClaimName {
                    path: self.path.to_string(),
                });
            }
            let value = self.value(value)?;
            if self.is_disclosable() {
                let disclosure = Disclosure::new_property(self.rng, &name, value)?;
                digests.push(disclosure.digest(self.alg));
                self.disclosures.push((self.path.clone(), disclosure));
            } else {
                out.insert(name, value);
            }
            self.path.pop();
        }
        for _ in 0..self.decoy_count() {
            digests.push(decoy_digest(self.rng, self.alg)?);
        }
        if !digests.is_empty() {
            self.wrote_digest = true;
            digests.sort_unstable();
            out.insert(
                "_sd".into(),
                Value::Array(digests.into_iter().map(Value::String).collect()),
            );
        }
        Ok(out)
    }

    fn array(&mut self, items: Vec<Value>) -> Result<Vec<Value>, SdJwtError> {
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            self.path.push(PathElement::Index(index));
            let value = self.value(item)?;
            if self.is_disclosable() {
                let disclosure = Disclosure::new_array_element(self.rng, value)?;
                out.push(array_digest(disclosure.digest(self.alg)));
                self.disclosures.push((self.path.clone(), disclosure));
                self.wrote_digest = true;
            } else {
                out.push(value);
            }
            self.path.pop();
        }
        for _ in 0..self.decoy_count() {
            let digest = decoy_digest(self.rng, self.alg)?;
            let mut pick = [0u8; 4];
            self.rng
                .try_fill_bytes(&mut pick)
                .map_err(|e| SdJwtError::Random {
                    reason: e.to_string(),
                })?;
            let slots = u64::try_from(out.len())
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let at = usize::try_from(u64::from(u32::from_le_bytes(pick)) % slots).unwrap_or(0);
            out.insert(at.min(out.len()), array_digest(digest));
            self.wrote_digest = true;
        }
        Ok(out)
    }

    /// Whether the claim at the current path was marked (and records the hit).
    fn is_disclosable(&mut self) -> bool {
        let mut hit = false;
        for (pattern, seen) in self.disclosable.iter().zip(&mut self.disclosable_hits) {
            if pattern.matches(&self.path) {
                *seen = true;
                hit = true;
            }
        }
        hit
    }

    /// Decoys requested for the container at the current path (and records the hit).
    fn decoy_count(&mut self) -> usize {
        let mut count = 0usize;
        for ((pattern, n), seen) in self.decoys.iter().zip(&mut self.decoy_hits) {
            if pattern.matches(&self.path) {
                *seen = true;
                count = count.saturating_add(*n);
            }
        }
        count
    }
}

fn array_digest(digest: String) -> Value {
    let mut obj = Map::new();
    obj.insert("...".into(), Value::String(digest));
    Value::Object(obj)
}

/// An SD-JWT ready to be signed: the Issuer-signed JWT's payload and the Disclosures.
///
/// `Debug` shows claim names and counts only.
pub struct PreparedSdJwt {
    typ: String,
    payload: Map<String, Value>,
    disclosures: Vec<(ClaimPath, Disclosure)>,
}

impl fmt::Debug for PreparedSdJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedSdJwt")
            .field("typ", &self.typ)
            .field("claim_names", &self.payload.keys().collect::<Vec<_>>())
            .field("disclosures", &self.disclosures.len())
            .finish()
    }
}

impl PreparedSdJwt {
    /// The Issuer-signed JWT's payload (digests in place of the disclosable claims).
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The Disclosures with the paths of the claims they disclose, innermost first.
    pub fn disclosures(&self) -> &[(ClaimPath, Disclosure)] {
        &self.disclosures
    }

    /// Signs the payload with `signer` (header `typ` as configured; the signer writes `alg` and
    /// `kid`) and appends the Disclosures: `<issuer-jwt>~<d1>~...~<dn>~`.
    pub async fn sign(self, signer: &dyn Signer) -> Result<IssuedSdJwt, SdJwtError> {
        let payload = serde_json::to_vec(&self.payload).map_err(|e| SdJwtError::Encode {
            reason: e.to_string(),
        })?;
        let mut header = Header::new(signer.algorithm());
        header.typ = Some(self.typ);
        let signed = signer
            .sign_jws(header, &payload)
            .await
            .map_err(SdJwtError::Signing)?;
        let mut sd_jwt = signed.token;
        sd_jwt.push('~');
        for (_, disclosure) in &self.disclosures {
            sd_jwt.push_str(disclosure.encoded());
            sd_jwt.push('~');
        }
        Ok(IssuedSdJwt {
            sd_jwt,
            kid: signed.kid,
            disclosed: self.disclosures.into_iter().map(|(p, _)| p).collect(),
        })
    }
}

/// An issued SD-JWT, for the Holder.
///
/// `Debug` hides the token (it carries every claim and salt).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSdJwt {
    /// `<issuer-jwt>~<disclosure>~...~`.
    pub sd_jwt: String,
    /// The key id the signer used.
    pub kid: String,
    /// The paths of the selectively disclosable claims, in Disclosure order.
    pub disclosed: Vec<ClaimPath>,
}

impl fmt::Debug for IssuedSdJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSdJwt")
            .field(
                "sd_jwt",
                &format_args!("[redacted; {} bytes]", self.sd_jwt.len()),
            )
            .field("kid", &self.kid)
            .field("disclosed", &self.disclosed)
            .finish()
    }
}
