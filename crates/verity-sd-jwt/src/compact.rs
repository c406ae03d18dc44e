//! The compact serialization `<issuer-jwt>~<disclosure>~...~[<kb-jwt>]` (RFC 9901 section 4).

use crate::{Disclosure, SdJwtError};

/// A split but otherwise unchecked SD-JWT or SD-JWT+KB.
pub(crate) struct Compact<'a> {
    /// The Issuer-signed JWT.
    pub issuer_jwt: &'a str,
    /// The Disclosures, in presentation order.
    pub disclosures: Vec<&'a str>,
    /// The KB-JWT, if the last component is not empty.
    pub kb_jwt: Option<&'a str>,
    /// Everything up to and including the last `~`: the `sd_hash` input (RFC 9901 section 4.3.1).
    pub sd_jwt: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits at `~`, after the size check; empty Disclosure components are refused.
    pub fn split(input: &'a str, max_bytes: usize) -> Result<Compact<'a>, SdJwtError> {
        if input.len() > max_bytes {
            return Err(SdJwtError::PresentationTooLarge {
                len: input.len(),
                max: max_bytes,
            });
        }
        let Some(last_tilde) = input.rfind('~') else {
            return Err(SdJwtError::MissingSeparator);
        };
        let (sd_jwt, kb) = input.split_at(last_tilde + 1);
        let mut parts = sd_jwt.split('~');
        let issuer_jwt = parts.next().unwrap_or_default();
        let mut disclosures: Vec<&str> = parts.collect();
        // `sd_jwt` ends in `~`, so the split's last piece is the empty string after it.
        disclosures.pop();
        if let Some(index) = disclosures.iter().position(|d| d.is_empty()) {
            return Err(SdJwtError::EmptyDisclosure { index });
        }
        Ok(Compact {
            issuer_jwt,
            disclosures,
            kb_jwt: (!kb.is_empty()).then_some(kb),
            sd_jwt,
        })
    }

    /// Parses every Disclosure, naming the first malformed one by position.
    pub fn parse_disclosures(&self) -> Result<Vec<Disclosure>, SdJwtError> {
        self.disclosures
            .iter()
            .enumerate()
            .map(|(index, d)| {
                Disclosure::parse(d)
                    .map_err(|source| SdJwtError::MalformedDisclosure { index, source })
            })
            .collect()
    }
}

/// Compares a `typ` header value with an expected media type: case-insensitively, with an
/// optional `application/` prefix (RFC 7515 section 4.1.9).
pub(crate) fn typ_is(found: Option<&str>, expected: &str) -> bool {
    let Some(found) = found else {
        return false;
    };
    let found = found.to_ascii_lowercase();
    let found = found.strip_prefix("application/").unwrap_or(&found);
    found == expected.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn splits_every_form() {
        let c = Compact::split("a.b.c~", 100).unwrap();
        assert_eq!(
            (c.issuer_jwt, c.disclosures.len(), c.kb_jwt, c.sd_jwt),
            ("a.b.c", 0, None, "a.b.c~")
        );
        let c = Compact::split("a.b.c~d1~d2~", 100).unwrap();
        assert_eq!(c.disclosures, ["d1", "d2"]);
        assert_eq!(c.kb_jwt, None);
        let c = Compact::split("a.b.c~d1~k.k.k", 100).unwrap();
        assert_eq!(c.disclosures, ["d1"]);
        assert_eq!(c.kb_jwt, Some("k.k.k"));
        assert_eq!(c.sd_jwt, "a.b.c~d1~");
        let c = Compact::split("a.b.c~k.k.k", 100).unwrap();
        assert!(c.disclosures.is_empty());
        assert_eq!(c.sd_jwt, "a.b.c~");
    }

    #[test]
    fn malformed_forms_fail() {
        assert!(matches!(
            Compact::split("a.b.c", 100),
            Err(SdJwtError::MissingSeparator)
        ));
        assert!(matches!(
            Compact::split("a.b.c~d1~~", 100),
            Err(SdJwtError::EmptyDisclosure { index: 1 })
        ));
        assert!(matches!(
            Compact::split("a.b.c~", 5),
            Err(SdJwtError::PresentationTooLarge { len: 6, max: 5 })
        ));
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_is(Some("dc+sd-jwt"), "dc+sd-jwt"));
        assert!(typ_is(Some("application/DC+SD-JWT"), "dc+sd-jwt"));
        assert!(!typ_is(Some("vc+sd-jwt"), "dc+sd-jwt"));
        assert!(!typ_is(None, "kb+jwt"));
    }
}
