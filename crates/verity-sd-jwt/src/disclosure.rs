//! Disclosures (RFC 9901 section 4.2): creating, encoding, hashing and parsing them.

use std::fmt;

use rand_core::CryptoRngCore;
use serde_json::Value;

use crate::hash::{b64d, b64e};
use crate::{DisclosureFormatError, HashAlg, SdJwtError};

/// Random bytes in each salt: 128 bits, the RFC 9901 section 9.3 recommended minimum.
pub const SALT_BYTES: usize = 16;

/// Claim names no Disclosure may carry (RFC 9901 section 4.2.1).
pub const RESERVED_DISCLOSURE_NAMES: [&str; 2] = ["_sd", "..."];

/// One Disclosure: `[salt, name, value]` for an object property or `[salt, value]` for an array
/// element, kept together with the exact base64url string it travels as (the digest is taken
/// over that string, so it is never re-encoded).
///
/// `Debug` shows the claim name only: the salt must stay with the Holder (RFC 9901 section
/// 4.2.1) and the value is personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct Disclosure {
    encoded: String,
    salt: String,
    name: Option<String>,
    value: Value,
}

impl fmt::Debug for Disclosure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disclosure")
            .field("name", &self.name)
            .field("salt", &"[redacted]")
            .field("value", &"[redacted]")
            .finish()
    }
}

impl Disclosure {
    /// A Disclosure for the object property `name: value`, with a fresh 128-bit salt from `rng`.
    ///
    /// `name` must not be `_sd` or `...`.
    pub fn new_property(
        rng: &mut dyn CryptoRngCore,
        name: &str,
        value: Value,
    ) -> Result<Disclosure, SdJwtError> {
        let salt = random_salt(rng)?;
        Disclosure::from_parts(salt, Some(name.to_owned()), value)
    }

    /// A Disclosure for an array element, with a fresh 128-bit salt from `rng`.
    pub fn new_array_element(
        rng: &mut dyn CryptoRngCore,
        value: Value,
    ) -> Result<Disclosure, SdJwtError> {
        let salt = random_salt(rng)?;
        Disclosure::from_parts(salt, None, value)
    }

    /// A Disclosure from a given salt (for test vectors and re-encoding; issuers use
    /// [`Disclosure::new_property`] / [`Disclosure::new_array_element`]). The JSON array is
    /// serialized without whitespace.
    pub fn from_parts(
        salt: String,
        name: Option<String>,
        value: Value,
    ) -> Result<Disclosure, SdJwtError> {
        if let Some(name) = &name
            && RESERVED_DISCLOSURE_NAMES.contains(&name.as_str())
        {
            return Err(SdJwtError::ReservedClaimName { path: name.clone() });
        }
        let array = match &name {
            Some(name) => Value::Array(vec![
                Value::String(salt.clone()),
                Value::String(name.clone()),
                value.clone(),
            ]),
            None => Value::Array(vec![Value::String(salt.clone()), value.clone()]),
        };
        let json = serde_json::to_vec(&array).map_err(|e| SdJwtError::Encode {
            reason: e.to_string(),
        })?;
        Ok(Disclosure {
            encoded: b64e(&json),
            salt,
            name,
            value,
        })
    }

    /// Parses a received Disclosure with every RFC 9901 section 4.2 / 7.1 shape check: base64url,
    /// JSON, an array of two or three elements, a string salt, a string claim name that is not
    /// `_sd` or `...`.
    ///
    /// Whether a two- or three-element Disclosure fits the place its digest is found is checked
    /// later, during processing.
    pub fn parse(encoded: &str) -> Result<Disclosure, DisclosureFormatError> {
        let bytes = b64d(encoded).map_err(|_| DisclosureFormatError::NotBase64Url)?;
        let json: Value =
            serde_json::from_slice(&bytes).map_err(|e| DisclosureFormatError::NotJson {
                reason: e.to_string(),
            })?;
        let Value::Array(items) = json else {
            return Err(DisclosureFormatError::NotAnArray);
        };
        if items.len() != 2 && items.len() != 3 {
            return Err(DisclosureFormatError::WrongLength { len: items.len() });
        }
        let has_name = items.len() == 3;
        let mut items = items.into_iter();
        let Some(Value::String(salt)) = items.next() else {
            return Err(DisclosureFormatError::SaltNotString);
        };
        let name = if has_name {
            match items.next() {
                Some(Value::String(name)) => Some(name),
                _ => return Err(DisclosureFormatError::NameNotString),
            }
        } else {
            None
        };
        let value = items.next().unwrap_or(Value::Null);
        if let Some(name) = &name
            && RESERVED_DISCLOSURE_NAMES.contains(&name.as_str())
        {
            return Err(DisclosureFormatError::ReservedName { name: name.clone() });
        }
        Ok(Disclosure {
            encoded: encoded.to_owned(),
            salt,
            name,
            value,
        })
    }

    /// The base64url string exactly as issued or received.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The salt (confidential between Issuer and Holder).
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The claim name; `None` for an array-element Disclosure.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The claim value (which may itself contain digests: recursive disclosure).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Whether this Disclosure is for an array element (`[salt, value]`).
    pub fn is_array_element(&self) -> bool {
        self.name.is_none()
    }

    /// The digest that references this Disclosure: base64url of `alg` over the ASCII bytes of the
    /// encoded Disclosure (RFC 9901 section 4.2.3).
    pub fn digest(&self, alg: HashAlg) -> String {
        alg.digest_b64(self.encoded.as_bytes())
    }
}

/// A fresh salt: [`SALT_BYTES`] random bytes, base64url-encoded (RFC 9901 section 4.2.1).
pub(crate) fn random_salt(rng: &mut dyn CryptoRngCore) -> Result<String, SdJwtError> {
    let mut bytes = [0u8; SALT_BYTES];
    rng.try_fill_bytes(&mut bytes)
        .map_err(|e| SdJwtError::Random {
            reason: e.to_string(),
        })?;
    Ok(b64e(&bytes))
}

/// A decoy digest: `alg` over 256 fresh random bits (RFC 9901 section 4.2.5).
pub(crate) fn decoy_digest(
    rng: &mut dyn CryptoRngCore,
    alg: HashAlg,
) -> Result<String, SdJwtError> {
    let mut bytes = [0u8; 32];
    rng.try_fill_bytes(&mut bytes)
        .map_err(|e| SdJwtError::Random {
            reason: e.to_string(),
        })?;
    Ok(alg.digest_b64(&bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use rand_core::OsRng;
    use serde_json::json;

    fn encode(v: &Value) -> String {
        b64e(v.to_string().as_bytes())
    }

    #[test]
    fn new_property_uses_a_fresh_128_bit_salt() {
        let a = Disclosure::new_property(&mut OsRng, "given_name", json!("John")).unwrap();
        let b = Disclosure::new_property(&mut OsRng, "given_name", json!("John")).unwrap();
        assert_ne!(a.salt(), b.salt());
        assert_ne!(a.digest(HashAlg::Sha256), b.digest(HashAlg::Sha256));
        assert_eq!(b64d(a.salt()).unwrap().len(), SALT_BYTES);
        let parsed = Disclosure::parse(a.encoded()).unwrap();
        assert_eq!(parsed, a);
        assert_eq!(parsed.name(), Some("given_name"));
        assert!(!parsed.is_array_element());
    }

    #[test]
    fn new_array_element_has_two_members() {
        let d = Disclosure::new_array_element(&mut OsRng, json!({"x": 1})).unwrap();
        let raw: Value = serde_json::from_slice(&b64d(d.encoded()).unwrap()).unwrap();
        assert_eq!(raw.as_array().unwrap().len(), 2);
        assert!(d.is_array_element());
        assert_eq!(
            Disclosure::parse(d.encoded()).unwrap().value(),
            &json!({"x": 1})
        );
    }

    #[test]
    fn reserved_names_cannot_be_created() {
        for name in ["_sd", "..."] {
            assert!(matches!(
                Disclosure::new_property(&mut OsRng, name, json!(1)),
                Err(SdJwtError::ReservedClaimName { .. })
            ));
        }
    }

    #[test]
    fn each_shape_check_has_its_own_error() {
        use DisclosureFormatError as E;
        assert_eq!(Disclosure::parse("not base64!"), Err(E::NotBase64Url));
        assert_eq!(Disclosure::parse("WyJhIiwgMV0="), Err(E::NotBase64Url)); // padded
        assert!(matches!(
            Disclosure::parse(&b64e(b"[\"s\", ")),
            Err(E::NotJson { .. })
        ));
        assert_eq!(
            Disclosure::parse(&encode(&json!({"salt": "s"}))),
            Err(E::NotAnArray)
        );
        assert_eq!(
            Disclosure::parse(&encode(&json!(["s"]))),
            Err(E::WrongLength { len: 1 })
        );
        assert_eq!(
            Disclosure::parse(&encode(&json!(["s", "n", 1, 2]))),
            Err(E::WrongLength { len: 4 })
        );
        assert_eq!(
            Disclosure::parse(&encode(&json!([1, "n", "v"]))),
            Err(E::SaltNotString)
        );
        assert_eq!(
            Disclosure::parse(&encode(&json!([null, "v"]))),
            Err(E::SaltNotString)
        );
        assert_eq!(
            Disclosure::parse(&encode(&json!(["s", 7, "v"]))),
            Err(E::NameNotString)
        );
        for name in ["_sd", "..."] {
            assert_eq!(
                Disclosure::parse(&encode(&json!(["s", name, "v"]))),
                Err(E::ReservedName { name: name.into() })
            );
        }
    }

    #[test]
    fn debug_hides_salt_and_value() {
        let d = Disclosure::from_parts("SALTSALT".into(), Some("email".into()), json!("a@b.c"))
            .unwrap();
        let dbg = format!("{d:?}");
        assert!(dbg.contains("email"));
        assert!(!dbg.contains("SALTSALT") && !dbg.contains("a@b.c"));
    }
}
