//! The PIN of an idTokenHint issuance: the RP sets it, the wallet asks the holder for it and
//! sends `base64(sha256(salt + pin))`. Counting wrong guesses and locking the request is a
//! store step of the caller, because it must hold across replicas.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::IssuanceError;

/// `base64(sha256(salt + pin))`, the hash the wallet sends and the request stores.
pub fn pin_hash(salt: &str, pin: &str) -> String {
    STANDARD.encode(Sha256::digest(format!("{salt}{pin}").as_bytes()))
}

/// Compares the hash the wallet sent with the stored one, in constant time; a missing or
/// empty hash is wrong.
pub fn check_pin(expected: &str, given: Option<&str>) -> Result<(), IssuanceError> {
    let given = given.unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) && !given.is_empty() {
        Ok(())
    } else {
        Err(IssuanceError::WrongPin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_hash_is_base64_sha256_of_salt_then_pin() {
        // sha256("a1b2c3d41234"), base64.
        assert_eq!(
            pin_hash("a1b2c3d4", "1234"),
            STANDARD.encode(Sha256::digest(b"a1b2c3d41234"))
        );
        assert_ne!(pin_hash("a1b2c3d4", "1234"), pin_hash("a1b2c3d4", "1235"));
        assert_ne!(pin_hash("a1b2c3d4", "1234"), pin_hash("a1b2c3d5", "1234"));
    }

    #[test]
    fn the_right_pin_passes() {
        let stored = pin_hash("salt", "2468");
        check_pin(&stored, Some(&pin_hash("salt", "2468"))).unwrap();
    }

    #[test]
    fn a_wrong_missing_or_empty_pin_fails() {
        let stored = pin_hash("salt", "2468");
        for given in [
            Some(pin_hash("salt", "2469")),
            Some(pin_hash("other", "2468")),
            Some(String::new()),
            None,
        ] {
            let e = check_pin(&stored, given.as_deref()).unwrap_err();
            assert!(matches!(e, IssuanceError::WrongPin), "{given:?}: {e}");
            assert_eq!(e.code(), "ISS-020");
        }
        // An empty stored hash never matches an empty answer.
        assert!(check_pin("", Some("")).is_err());
    }
}
