//! IETF Token Status List (draft-ietf-oauth-status-list), the status mechanism of SD-JWT VCs
//! (HAIP 1.0 section 6.1): a byte array of 1-, 2-, 4- or 8-bit entries, ZLIB-compressed and
//! base64url-encoded as `status_list.lst`, published as a signed JWT (`typ: statuslist+jwt`)
//! whose `sub` is the URI it is served at; a referenced token points at its entry with
//! `status: { status_list: { idx, uri } }`.
//!
//! Unlike the W3C Bitstring Status List (index 0 = the most significant bit of byte 0), entry 0
//! here sits in the **least** significant bits of byte 0 (section 4.1).

use std::fmt;
use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::bufread::ZlibDecoder;
use flate2::write::ZlibEncoder;
use serde_json::{Value, json};
use verity_jose::{Jwk, Signer, TokenKind, UnverifiedJws, check_times, sign_kind};

use crate::codec::read_bounded;
use crate::{DecodeLimits, StatusListError};

/// The status values the draft registers (section 7.1); others are application-specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// 0x00: valid.
    Valid,
    /// 0x01: revoked, irreversibly.
    Invalid,
    /// 0x02: temporarily invalid.
    Suspended,
    /// Any other value (0x03 is application-specific, the rest reserved).
    Other(u8),
}

impl TokenStatus {
    /// The status of a raw entry value.
    pub fn from_value(value: u8) -> Self {
        match value {
            0 => Self::Valid,
            1 => Self::Invalid,
            2 => Self::Suspended,
            other => Self::Other(other),
        }
    }

    /// The raw entry value.
    pub fn value(self) -> u8 {
        match self {
            Self::Valid => 0,
            Self::Invalid => 1,
            Self::Suspended => 2,
            Self::Other(v) => v,
        }
    }
}

/// A Token Status List: `len` entries of `bits` bits each.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenStatusList {
    bits: u8,
    len: usize,
    bytes: Vec<u8>,
}

impl fmt::Debug for TokenStatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStatusList")
            .field("bits", &self.bits)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn check_bits(bits: u64) -> Result<u8, StatusListError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(bits as u8),
        other => Err(StatusListError::UnsupportedBits {
            bits: other.to_string(),
        }),
    }
}

impl TokenStatusList {
    /// A list of `len` entries (all valid) of `bits` bits each.
    pub fn new(len: usize, bits: u8) -> Result<Self, StatusListError> {
        let bits = check_bits(u64::from(bits))?;
        if len == 0 {
            return Err(StatusListError::InvalidParameter {
                name: "len",
                reason: "a status list needs at least one entry".into(),
            });
        }
        let per_byte = usize::from(8 / bits);
        Ok(Self {
            bits,
            len,
            bytes: vec![0; len.div_ceil(per_byte)],
        })
    }

    /// The same statuses as a W3C [`Bitstring`], whose set bits mean `set_means` (INVALID for
    /// a revocation list, SUSPENDED for a suspension list). The W3C list keeps entry 0 in the
    /// most significant bit of byte 0 and this one in the least, so for 1-bit statuses each
    /// byte is its bit reversal; SUSPENDED needs 2-bit entries.
    pub fn from_bitstring(
        bits: &crate::Bitstring,
        set_means: TokenStatus,
    ) -> Result<Self, StatusListError> {
        if set_means == TokenStatus::Valid {
            return Err(StatusListError::InvalidParameter {
                name: "set_means",
                reason: "a set bit cannot mean VALID".into(),
            });
        }
        if set_means == TokenStatus::Invalid {
            let mut list = Self::new(bits.len(), 1)?;
            for (out, byte) in list.bytes.iter_mut().zip(bits.as_bytes()) {
                *out = byte.reverse_bits();
            }
            return Ok(list);
        }
        let width = if set_means.value() <= 3 { 2 } else { 8 };
        let mut list = Self::new(bits.len(), width)?;
        for (i, byte) in bits.as_bytes().iter().enumerate() {
            if *byte == 0 {
                continue;
            }
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    list.set(i * 8 + bit, set_means)?;
                }
            }
        }
        Ok(list)
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Entries the list can hold (every entry the bytes have room for).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a list has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn locate(&self, index: usize) -> Result<(usize, u32), StatusListError> {
        if index >= self.len {
            return Err(StatusListError::IndexOutOfRange {
                index: index as u64,
                len: self.len as u64,
            });
        }
        let bit = index * usize::from(self.bits);
        Ok((bit / 8, (bit % 8) as u32))
    }

    fn mask(&self) -> u8 {
        // bits is 1, 2, 4 or 8.
        (((1u16) << self.bits) - 1) as u8
    }

    /// The status of entry `index`.
    pub fn get(&self, index: usize) -> Result<TokenStatus, StatusListError> {
        let (byte, shift) = self.locate(index)?;
        Ok(TokenStatus::from_value(
            (self.bytes[byte] >> shift) & self.mask(),
        ))
    }

    /// Sets entry `index`; a status that does not fit in `bits` is refused.
    pub fn set(&mut self, index: usize, status: TokenStatus) -> Result<(), StatusListError> {
        let value = status.value();
        if value > self.mask() {
            return Err(StatusListError::InvalidParameter {
                name: "status",
                reason: format!("{value} does not fit in {} bits", self.bits),
            });
        }
        let (byte, shift) = self.locate(index)?;
        let mask = self.mask() << shift;
        self.bytes[byte] = (self.bytes[byte] & !mask) | (value << shift);
        Ok(())
    }

    /// The `status_list` claim: `{ "bits", "lst" }` with `lst` = base64url(ZLIB(bytes)).
    pub fn to_claim(&self) -> Result<Value, StatusListError> {
        let compression = |e: std::io::Error| StatusListError::Compression {
            reason: e.to_string(),
        };
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&self.bytes).map_err(compression)?;
        let z = encoder.finish().map_err(compression)?;
        Ok(json!({ "bits": self.bits, "lst": URL_SAFE_NO_PAD.encode(z) }))
    }

    /// Reads a `status_list` claim, decompressing at most `limits.max_decompressed_bytes`.
    pub fn from_claim(claim: &Value, limits: &DecodeLimits) -> Result<Self, StatusListError> {
        let bad = |field, reason: &str| StatusListError::MalformedListToken {
            field,
            reason: reason.to_owned(),
        };
        let Some(obj) = claim.as_object() else {
            return Err(bad("status_list", "must be a JSON object"));
        };
        let bits = match obj.get("bits") {
            None => return Err(bad("status_list.bits", "missing")),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(b) => check_bits(b)?,
                None => {
                    return Err(StatusListError::UnsupportedBits {
                        bits: n.to_string(),
                    });
                }
            },
            Some(other) => {
                return Err(StatusListError::UnsupportedBits {
                    bits: other.to_string(),
                });
            }
        };
        let lst = match obj.get("lst") {
            None => return Err(bad("status_list.lst", "missing")),
            Some(Value::String(s)) => s,
            Some(_) => return Err(bad("status_list.lst", "must be a string")),
        };
        let z = URL_SAFE_NO_PAD
            .decode(lst.trim_end_matches('='))
            .map_err(|e| StatusListError::MalformedBase64 {
                reason: format!("status_list.lst: {e}"),
            })?;
        let bytes = inflate(&z, limits.max_decompressed_bytes)?;
        if bytes.is_empty() {
            return Err(bad("status_list.lst", "the list is empty"));
        }
        let len = bytes.len() * usize::from(8 / bits);
        Ok(Self { bits, len, bytes })
    }
}

fn inflate(z: &[u8], limit: usize) -> Result<Vec<u8>, StatusListError> {
    let mut decoder = ZlibDecoder::new(z);
    let out = read_bounded(&mut decoder, limit, |e| StatusListError::CorruptZlib {
        reason: e.to_string(),
    })?;
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(StatusListError::CorruptZlib {
            reason: format!("{} bytes follow the ZLIB stream", rest.len()),
        });
    }
    Ok(out)
}

/// Signs the Status List Token for `list`, served at `uri` (its `sub`): `typ: statuslist+jwt`,
/// `iss`, `iat` = `now`, `exp` = `now + valid_for` and `ttl` (how long a verifier may cache it)
/// when given.
pub async fn sign_list_token(
    signer: &dyn Signer,
    issuer: &str,
    uri: &str,
    list: &TokenStatusList,
    now: i64,
    valid_for: Option<i64>,
    ttl: Option<i64>,
) -> Result<String, StatusListError> {
    let mut claims = json!({
        "iss": issuer, "sub": uri, "iat": now, "status_list": list.to_claim()?,
    });
    if let Some(v) = valid_for {
        claims["exp"] = json!(now.saturating_add(v));
    }
    if let Some(t) = ttl {
        claims["ttl"] = json!(t);
    }
    let signed = sign_kind(signer, TokenKind::StatusListToken, &claims)
        .await
        .map_err(StatusListError::Signing)?;
    Ok(signed.token)
}

/// A Status List Token whose signature, kind, times and `sub` were checked.
#[derive(Debug, Clone)]
pub struct VerifiedListToken {
    /// `iss`, when the token has one.
    pub issuer: Option<String>,
    /// `sub`: the URI the list is served at.
    pub uri: String,
    /// `ttl`: seconds a verifier may cache the list.
    pub ttl: Option<i64>,
    /// The list.
    pub list: TokenStatusList,
}

/// The `iss` and header `kid` of a Status List Token, unverified, so the caller can find the key.
pub fn list_token_signer(token: &str) -> Result<(Option<String>, Option<String>), StatusListError> {
    let jws = UnverifiedJws::parse(token).map_err(StatusListError::MalformedToken)?;
    let claims: Value = jws
        .payload_unverified()
        .map_err(StatusListError::MalformedToken)?;
    Ok((
        claims["iss"].as_str().map(str::to_owned),
        jws.header().kid.clone(),
    ))
}

/// Verifies a Status List Token fetched from `expected_uri` under `key`, at `now` (Unix
/// seconds) with `skew` seconds of leeway: signature, `typ: statuslist+jwt` and the kind's
/// claim rules, `exp`/`iat`, `sub` == `expected_uri`, then decodes the list within `limits`.
pub fn verify_list_token(
    token: &str,
    key: &Jwk,
    expected_uri: &str,
    now: i64,
    skew: i64,
    limits: &DecodeLimits,
) -> Result<VerifiedListToken, StatusListError> {
    let jws = UnverifiedJws::parse(token).map_err(StatusListError::MalformedToken)?;
    let verified = jws.verify(key).map_err(StatusListError::Signature)?;
    let claims: Value = verified.claims().map_err(StatusListError::MalformedToken)?;
    TokenKind::StatusListToken
        .check_value(verified.header(), &claims)
        .map_err(StatusListError::WrongKind)?;
    // `exp` is optional (section 5.1); a list without one is as fresh as its `ttl` says.
    check_times(&claims, now, skew, false).map_err(StatusListError::Validity)?;
    let uri = claims["sub"]
        .as_str()
        .ok_or_else(|| StatusListError::MalformedListToken {
            field: "sub",
            reason: "must be a string".into(),
        })?;
    if uri != expected_uri {
        return Err(StatusListError::SubjectMismatch {
            expected: expected_uri.to_owned(),
            found: uri.to_owned(),
        });
    }
    let ttl = match claims.get("ttl") {
        None => None,
        Some(v) => Some(v.as_i64().filter(|t| *t >= 0).ok_or_else(|| {
            StatusListError::MalformedListToken {
                field: "ttl",
                reason: "must be a non-negative integer".into(),
            }
        })?),
    };
    Ok(VerifiedListToken {
        issuer: claims["iss"].as_str().map(str::to_owned),
        uri: uri.to_owned(),
        ttl,
        list: TokenStatusList::from_claim(&claims["status_list"], limits)?,
    })
}

/// Where a referenced token's status is: `status.status_list.{idx, uri}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReference {
    pub idx: usize,
    pub uri: String,
}

impl StatusReference {
    /// The `status_list` reference: `{ "status_list": { "idx", "uri" } }`.
    pub fn to_claim(&self) -> Value {
        json!({ "status_list": { "idx": self.idx, "uri": self.uri } })
    }

    /// Reads the `status` claim of a referenced token; `Ok(None)` when it has none.
    pub fn from_claims(claims: &Value) -> Result<Option<Self>, StatusListError> {
        let Some(status) = claims.get("status") else {
            return Ok(None);
        };
        let bad = |field, reason: &str| StatusListError::MalformedReference {
            field,
            reason: reason.to_owned(),
        };
        let Some(list) = status.get("status_list") else {
            // Other status mechanisms may sit beside it; this one is absent.
            return Ok(None);
        };
        let idx = match list.get("idx") {
            None => return Err(bad("idx", "missing")),
            Some(v) => v
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| bad("idx", "must be a non-negative integer"))?,
        };
        let uri = match list.get("uri") {
            None => return Err(bad("uri", "missing")),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err(bad("uri", "must be a non-empty string")),
        };
        Ok(Some(Self { idx, uri }))
    }

    /// The referenced token's status in `list`, which must be the list this reference names.
    pub fn check(&self, list: &VerifiedListToken) -> Result<TokenStatus, StatusListError> {
        if list.uri != self.uri {
            return Err(StatusListError::ListMismatch {
                entry_list: self.uri.clone(),
                list_url: list.uri.clone(),
            });
        }
        list.list.get(self.idx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use verity_jose::{Algorithm, LocalSigner, SigningKey};

    const URI: &str = "https://issuer.example/statuslists/1";

    /// The draft's section 4.1 example: 1-bit statuses 1,0,0,1,1,1,0,1, 1,1,0,0,0,1,0,1 are the
    /// bytes B9 A3, "eNrbuRgAAhcBXQ" compressed.
    #[test]
    fn reads_the_drafts_one_bit_example() {
        let list = TokenStatusList::from_claim(
            &json!({ "bits": 1, "lst": "eNrbuRgAAhcBXQ" }),
            &DecodeLimits::default(),
        )
        .unwrap();
        let expected = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        for (i, v) in expected.iter().enumerate() {
            assert_eq!(list.get(i).unwrap().value(), *v, "index {i}");
        }
        assert_eq!(list.len(), 16);
    }

    #[test]
    fn entries_sit_in_the_low_bits_first_for_every_width() {
        for bits in [1u8, 2, 4, 8] {
            let mut list = TokenStatusList::new(40, bits).unwrap();
            list.set(0, TokenStatus::Invalid).unwrap();
            assert_eq!(list.bytes[0], 0x01, "bits {bits}");
            if bits >= 2 {
                list.set(1, TokenStatus::Suspended).unwrap();
                // Entry 1 follows entry 0 upwards: the next bits of byte 0, or byte 1 at 8 bits.
                let entry1 = if bits == 8 {
                    list.bytes[1]
                } else {
                    list.bytes[0] >> bits
                };
                assert_eq!(entry1 & 0x0F, 0x02, "bits {bits}");
                assert_eq!(list.get(0).unwrap(), TokenStatus::Invalid, "bits {bits}");
            }
            let max = TokenStatus::from_value(((1u16 << bits) - 1) as u8);
            list.set(39, max).unwrap();
            let back =
                TokenStatusList::from_claim(&list.to_claim().unwrap(), &DecodeLimits::default())
                    .unwrap();
            assert_eq!(back.get(0).unwrap(), TokenStatus::Invalid);
            assert_eq!(back.get(39).unwrap(), max);
            assert_eq!(back.get(38).unwrap(), TokenStatus::Valid);
            if bits == 1 {
                assert!(
                    list.set(2, TokenStatus::Suspended).is_err(),
                    "2 does not fit in 1 bit"
                );
            }
        }
        assert!(matches!(
            TokenStatusList::new(8, 3),
            Err(StatusListError::UnsupportedBits { .. })
        ));
        let list = TokenStatusList::new(8, 1).unwrap();
        assert!(matches!(
            list.get(8),
            Err(StatusListError::IndexOutOfRange { .. })
        ));
    }

    #[test]
    fn a_w3c_bitstring_converts_entry_by_entry() {
        let mut w3c = crate::Bitstring::new(crate::MIN_LIST_BITS).unwrap();
        for i in [0, 1, 7, 8, 13, 4_095, 131_071] {
            w3c.set(i, true).unwrap();
        }
        for set_means in [TokenStatus::Invalid, TokenStatus::Suspended] {
            let list = TokenStatusList::from_bitstring(&w3c, set_means).unwrap();
            assert_eq!(list.len(), w3c.len());
            for i in 0..w3c.len() {
                let want = if w3c.get(i).unwrap() {
                    set_means
                } else {
                    TokenStatus::Valid
                };
                assert_eq!(list.get(i).unwrap(), want, "entry {i}, {set_means:?}");
            }
        }
        assert_eq!(
            TokenStatusList::from_bitstring(&w3c, TokenStatus::Suspended)
                .unwrap()
                .bits(),
            2
        );
        assert!(TokenStatusList::from_bitstring(&w3c, TokenStatus::Valid).is_err());
    }

    #[test]
    fn a_bad_claim_is_refused_naming_what() {
        let limits = DecodeLimits::default();
        let cases = [
            (json!({ "lst": "eNrbuRgAAhcBXQ" }), "STATUS-032"),
            (json!({ "bits": 1 }), "STATUS-032"),
            (json!({ "bits": 3, "lst": "eNrbuRgAAhcBXQ" }), "STATUS-030"),
            (
                json!({ "bits": "1", "lst": "eNrbuRgAAhcBXQ" }),
                "STATUS-030",
            ),
            (json!({ "bits": 1, "lst": "!!" }), "STATUS-005"),
            // GZIP where ZLIB belongs.
            (
                json!({ "bits": 1, "lst": "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA" }),
                "STATUS-005",
            ),
            (json!({ "bits": 1, "lst": "eNpjYAAAAAQAAQ" }), "STATUS-031"),
        ];
        for (claim, code) in cases {
            let e = TokenStatusList::from_claim(&claim, &limits).unwrap_err();
            assert!(
                e.code() == code || (code == "STATUS-005" && e.code() == "STATUS-031"),
                "{claim}: {e} ({})",
                e.code()
            );
        }
        // A ZLIB bomb stops at the limit.
        let big = TokenStatusList::new(8 * 4096, 1)
            .unwrap()
            .to_claim()
            .unwrap();
        let e = TokenStatusList::from_claim(
            &big,
            &DecodeLimits {
                max_decompressed_bytes: 1024,
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "STATUS-008");
    }

    fn signer() -> LocalSigner {
        LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            "did:web:issuer.example#key-1".to_owned(),
        )
    }

    #[tokio::test]
    async fn signed_lists_verify_and_each_check_refuses() {
        let signer = signer();
        let key = signer.public_jwk();
        let mut list = TokenStatusList::new(1024, 2).unwrap();
        list.set(7, TokenStatus::Invalid).unwrap();
        list.set(8, TokenStatus::Suspended).unwrap();
        let token = sign_list_token(
            &signer,
            "did:web:issuer.example",
            URI,
            &list,
            1_000,
            Some(3_600),
            Some(300),
        )
        .await
        .unwrap();
        let jws = UnverifiedJws::parse(&token).unwrap();
        assert_eq!(jws.header().typ.as_deref(), Some("statuslist+jwt"));
        assert_eq!(
            list_token_signer(&token).unwrap(),
            (
                Some("did:web:issuer.example".to_owned()),
                Some("did:web:issuer.example#key-1".to_owned())
            )
        );
        let limits = DecodeLimits::default();
        let verified = verify_list_token(&token, &key, URI, 1_100, 60, &limits).unwrap();
        assert_eq!(verified.ttl, Some(300));
        let reference = StatusReference {
            idx: 7,
            uri: URI.into(),
        };
        let claims = json!({ "status": reference.to_claim() });
        let parsed = StatusReference::from_claims(&claims).unwrap().unwrap();
        assert_eq!(parsed, reference);
        assert_eq!(parsed.check(&verified).unwrap(), TokenStatus::Invalid);
        let suspended = StatusReference {
            idx: 8,
            ..reference.clone()
        };
        assert_eq!(suspended.check(&verified).unwrap(), TokenStatus::Suspended);
        let valid = StatusReference {
            idx: 9,
            ..reference.clone()
        };
        assert_eq!(valid.check(&verified).unwrap(), TokenStatus::Valid);

        // Served at another URI, expired, under another key, another list's reference.
        let e = verify_list_token(
            &token,
            &key,
            "https://issuer.example/statuslists/2",
            1_100,
            60,
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.code(), "STATUS-033");
        let e = verify_list_token(&token, &key, URI, 10_000, 60, &limits).unwrap_err();
        assert_eq!(e.code(), "STATUS-012");
        let other = self::signer().public_jwk();
        let e = verify_list_token(&token, &other, URI, 1_100, 60, &limits).unwrap_err();
        assert_eq!(e.code(), "STATUS-011");
        let elsewhere = StatusReference {
            idx: 7,
            uri: "https://issuer.example/statuslists/2".into(),
        };
        assert_eq!(elsewhere.check(&verified).unwrap_err().code(), "STATUS-026");
        let out_of_range = StatusReference {
            idx: 5_000,
            ..reference
        };
        assert_eq!(
            out_of_range.check(&verified).unwrap_err().code(),
            "STATUS-003"
        );
    }

    #[tokio::test]
    async fn another_kind_of_token_is_not_a_status_list() {
        let signer = signer();
        // A W3C status list credential (typ JWT) is refused as a Token Status List.
        let w3c = crate::sign_status_list(
            &signer,
            "did:web:issuer.example",
            URI,
            &crate::Bitstring::new(crate::MIN_LIST_BITS).unwrap(),
            crate::StatusPurpose::Revocation,
            1_000,
            None,
        )
        .await
        .unwrap();
        let e = verify_list_token(
            &w3c,
            &signer.public_jwk(),
            URI,
            1_100,
            60,
            &DecodeLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "STATUS-029", "{e}");
    }

    #[test]
    fn references_are_read_strictly() {
        assert_eq!(StatusReference::from_claims(&json!({})).unwrap(), None);
        assert_eq!(
            StatusReference::from_claims(&json!({ "status": { "other": {} } })).unwrap(),
            None
        );
        for (status, field) in [
            (json!({ "status_list": { "uri": URI } }), "idx"),
            (json!({ "status_list": { "idx": -1, "uri": URI } }), "idx"),
            (json!({ "status_list": { "idx": "7", "uri": URI } }), "idx"),
            (json!({ "status_list": { "idx": 7 } }), "uri"),
            (json!({ "status_list": { "idx": 7, "uri": "" } }), "uri"),
        ] {
            match StatusReference::from_claims(&json!({ "status": status })) {
                Err(StatusListError::MalformedReference { field: f, .. }) => {
                    assert_eq!(f, field, "{status}")
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }
}
