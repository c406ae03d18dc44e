//! The wallet's signed holder request: parsed first (to find the request it answers), then
//! verified against the holder's DID document.

use serde_json::{Map, Value};
use verity_did::{DidResolver, Relationship};
use verity_jose::{Jwk, TokenKind, UnverifiedJws, check_times};

use crate::IssuanceError;

/// What a holder request is checked against.
#[derive(Debug, Clone, Copy)]
pub struct HolderCheck<'a> {
    /// Resolves the holder's DID (did:jwk / did:key locally, did:web over the fetcher).
    pub resolver: &'a dyn DidResolver,
    /// The URL the wallet must address: the contract's credential issuer URL.
    pub audience: &'a str,
    /// The time of the check, unix seconds.
    pub now: i64,
    /// Clock skew tolerated on `exp`/`nbf`/`iat`, seconds (negative counts as zero).
    pub skew: i64,
}

/// A holder request that parsed as a JWS with JSON claims; nothing in it is trusted yet.
#[derive(Debug)]
pub struct UnverifiedHolderRequest {
    jws: UnverifiedJws,
    claims: Value,
}

impl UnverifiedHolderRequest {
    /// Parses `token` (at most `max_bytes`) without verifying it.
    pub fn parse(token: &str, max_bytes: usize) -> Result<Self, IssuanceError> {
        let jws = UnverifiedJws::parse_with_limit(token, max_bytes).map_err(|e| {
            IssuanceError::HolderMalformed {
                reason: e.to_string(),
            }
        })?;
        let claims: Value = jws
            .payload_unverified()
            .map_err(|e: verity_jose::JoseError| IssuanceError::HolderClaims {
                reason: e.to_string(),
            })?;
        Ok(Self { jws, claims })
    }

    /// The request the holder answers (`state`), unverified: only to look the request up
    /// before paying for a DID resolution.
    pub fn state(&self) -> Result<&str, IssuanceError> {
        self.claims["state"]
            .as_str()
            .ok_or(IssuanceError::MissingState)
    }

    /// Verifies the request: `kid` is a key of `did` listed under `authentication`, the
    /// signature, the token kind, `sub_jwk` = that key, `sub` = its thumbprint, `aud`, times,
    /// and a `jti`. The nonce is checked by [`HolderRequest::check_nonce`].
    pub async fn verify(self, check: &HolderCheck<'_>) -> Result<HolderRequest, IssuanceError> {
        let did = self.claims["did"]
            .as_str()
            .ok_or(IssuanceError::MissingDid)?
            .to_owned();
        let kid = self
            .jws
            .header()
            .kid
            .clone()
            .ok_or(IssuanceError::MissingKid)?;
        if !kid.starts_with(&format!("{did}#")) {
            return Err(IssuanceError::KidNotOfDid { kid, did });
        }
        let doc = check
            .resolver
            .resolve(&did)
            .await
            .map_err(|e| IssuanceError::DidResolution {
                did: did.clone(),
                reason: e.to_string(),
            })?;
        let key = doc
            .key_for(&kid, Relationship::Authentication)
            .map_err(|e| IssuanceError::NotAuthenticationKey {
                did: did.clone(),
                reason: e.to_string(),
            })?;
        let verified = self
            .jws
            .verify(&key)
            .map_err(|e| IssuanceError::Signature {
                reason: e.to_string(),
            })?;
        // The `did` check above already proved the payload is a JSON object.
        let object: Map<String, Value> =
            verified
                .claims()
                .map_err(|e: verity_jose::JoseError| IssuanceError::HolderClaims {
                    reason: e.to_string(),
                })?;
        // Token kinds never mix: a request object, manifest or credential signed by some key
        // of the holder is not a holder request.
        TokenKind::HolderRequest
            .check(verified.header(), &object)
            .map_err(|e| IssuanceError::WrongKind {
                reason: e.to_string(),
            })?;
        let claims = Value::Object(object);
        let sub_jwk =
            Jwk::from_json_value(&claims["sub_jwk"]).map_err(|e| IssuanceError::SubJwkInvalid {
                reason: e.to_string(),
            })?;
        // A key that just verified a signature has a thumbprint; without one, `sub_jwk`
        // cannot be shown to be it.
        let thumb = key
            .thumbprint()
            .map_err(|_| IssuanceError::SubJwkMismatch)?;
        if sub_jwk.thumbprint().ok().as_deref() != Some(thumb.as_str()) {
            return Err(IssuanceError::SubJwkMismatch);
        }
        if claims["sub"].as_str() != Some(thumb.as_str()) {
            return Err(IssuanceError::SubNotThumbprint);
        }
        if claims["aud"].as_str() != Some(check.audience) {
            return Err(IssuanceError::Audience {
                expected: check.audience.to_owned(),
            });
        }
        check_times(&claims, check.now, check.skew, true).map_err(|e| IssuanceError::Times {
            reason: e.to_string(),
        })?;
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty())
            .ok_or(IssuanceError::MissingJti)?
            .to_owned();
        // check_times proved `exp` is a number; fractional NumericDates are truncated as there.
        let exp = claims["exp"]
            .as_i64()
            .or_else(|| claims["exp"].as_f64().map(|f| f.floor() as i64))
            .unwrap_or_default();
        Ok(HolderRequest {
            did,
            jti,
            exp,
            claims,
        })
    }
}

/// A verified holder request: signed by `did` with a key under its `authentication`.
#[derive(Debug, Clone)]
pub struct HolderRequest {
    did: String,
    jti: String,
    exp: i64,
    claims: Value,
}

impl HolderRequest {
    /// The holder's DID (the credential's subject).
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The request's `jti` (its replay key).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The request's `exp`, unix seconds.
    pub fn exp(&self) -> i64 {
        self.exp
    }

    /// Every verified claim.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// The PIN hash the wallet sent, if any.
    pub fn pin(&self) -> Option<&str> {
        self.claims["pin"].as_str()
    }

    /// The `attestations` member (`Null` when absent).
    pub fn attestations(&self) -> &Value {
        &self.claims["attestations"]
    }

    /// The self-issued claims the holder typed (empty when absent).
    pub fn self_issued(&self) -> Map<String, Value> {
        self.attestations()["selfIssued"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// Checks that the request answers the request with `nonce`.
    pub fn check_nonce(&self, nonce: &str) -> Result<(), IssuanceError> {
        if self.claims["nonce"].as_str() == Some(nonce) {
            Ok(())
        } else {
            Err(IssuanceError::NonceMismatch)
        }
    }

    /// Until when (unix seconds) the `jti` must be remembered: as long as the token could
    /// still be accepted (`exp` plus `skew`), but not past the request's own expiry, after
    /// which the request refuses every holder request anyway.
    pub fn jti_remembered_until(&self, skew: i64, request_expires_at: i64) -> i64 {
        self.exp.saturating_add(skew.max(0)).min(request_expires_at)
    }
}
