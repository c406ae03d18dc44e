//! `encodedList`: multibase base64url (prefix `u`, no padding) of the GZIP-compressed bitstring
//! (Bitstring Status List v1.0 section 2.2, sections 3.3 and 3.4).

use std::io::{Read, Write};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;

use crate::{Bitstring, StatusListError};

/// Default cap on a decompressed list: 16 MiB is 134 million entries, far beyond any real list.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

/// The multibase prefix for base64url without padding.
const MULTIBASE_BASE64URL: char = 'u';

/// GZIP magic number (RFC 1952 section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// StatusList2021 said only "base-64 encoded [RFC4648]", so legacy lists are read with either
/// alphabet and with or without padding.
const LEGACY_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LEGACY_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Resource limits for [`decode_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Decompression stops with [`StatusListError::DecompressedTooLarge`] past this many bytes.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// Encodes `list` as an `encodedList` value: `"u"` + base64url-no-pad(GZIP(bytes)).
pub fn encode(list: &Bitstring) -> Result<String, StatusListError> {
    let compression = |e: std::io::Error| StatusListError::Compression {
        reason: e.to_string(),
    };
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(list.as_bytes()).map_err(compression)?;
    let gz = encoder.finish().map_err(compression)?;
    let mut out = String::with_capacity(2 + gz.len().div_ceil(3) * 4);
    out.push(MULTIBASE_BASE64URL);
    URL_SAFE_NO_PAD.encode_string(&gz, &mut out);
    Ok(out)
}

/// Decodes an `encodedList` with the default [`DecodeLimits`]; lists shorter than
/// `expected_min_bits` are refused.
///
/// Accepts the multibase form (`u` + base64url, no padding) and, for reading StatusList2021
/// lists, the unprefixed base64 form that specification used (recognised by the `H4sI` that
/// every base64 GZIP stream starts with).
pub fn decode(encoded: &str, expected_min_bits: usize) -> Result<Bitstring, StatusListError> {
    decode_with_limits(encoded, expected_min_bits, &DecodeLimits::default())
}

/// [`decode`] with explicit resource limits.
pub fn decode_with_limits(
    encoded: &str,
    expected_min_bits: usize,
    limits: &DecodeLimits,
) -> Result<Bitstring, StatusListError> {
    let compressed = decode_multibase(encoded)?;
    if !compressed.starts_with(&GZIP_MAGIC) {
        return Err(StatusListError::NotGzip);
    }
    let bytes = gunzip(&compressed, limits.max_decompressed_bytes)?;
    Bitstring::from_bytes(bytes, expected_min_bits)
}

fn decode_multibase(encoded: &str) -> Result<Vec<u8>, StatusListError> {
    let malformed = |e: base64::DecodeError| StatusListError::MalformedBase64 {
        reason: e.to_string(),
    };
    match encoded.chars().next() {
        None => Err(StatusListError::MalformedBase64 {
            reason: "the value is empty".into(),
        }),
        Some(MULTIBASE_BASE64URL) => URL_SAFE_NO_PAD
            .decode(&encoded[MULTIBASE_BASE64URL.len_utf8()..])
            .map_err(malformed),
        // StatusList2021 read compatibility: no multibase prefix, and base64 of GZIP data always
        // starts with "H4sI" (1f 8b 08).
        Some('H') if encoded.contains(['+', '/']) => {
            LEGACY_STANDARD.decode(encoded).map_err(malformed)
        }
        Some('H') => LEGACY_URL_SAFE.decode(encoded).map_err(malformed),
        Some(prefix) => Err(StatusListError::UnsupportedMultibase { prefix }),
    }
}

/// Decompresses one GZIP member, reading at most `limit + 1` bytes so a bomb is stopped early
/// instead of being inflated into memory.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, StatusListError> {
    let mut decoder = GzDecoder::new(compressed);
    let out = read_bounded(&mut decoder, limit, |e| StatusListError::CorruptGzip {
        reason: e.to_string(),
    })?;
    // Reaching EOF means the CRC-32 and ISIZE trailer matched; anything left after the member
    // is not part of the list.
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(StatusListError::CorruptGzip {
            reason: format!(
                "{} bytes follow the GZIP member (multi-member streams are not accepted)",
                rest.len()
            ),
        });
    }
    Ok(out)
}

/// Reads a decompressor to its end, at most `limit` bytes: one byte more stops it, so a bomb
/// is caught early ([`StatusListError::DecompressedTooLarge`]).
pub(crate) fn read_bounded(
    decoder: &mut impl Read,
    limit: usize,
    corrupt: impl Fn(std::io::Error) -> StatusListError,
) -> Result<Vec<u8>, StatusListError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() > limit {
        return Err(StatusListError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MIN_LIST_BITS;
    use rand_core::{OsRng, RngCore};

    /// Bitstring Status List v1.0 (W3C Recommendation, 2025-05-15), section 2.2, Example 3
    /// "Example BitstringStatusListCredential": an all-zero 131,072-entry list.
    const SPEC_EXAMPLE_3: &str =
        "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA";

    /// Status List 2021 (W3C FPWD 2023-04-27), section 2.2, Example 2
    /// "Example StatusList2021Credential": the same list without the multibase prefix.
    const STATUS_LIST_2021_EXAMPLE_2: &str =
        "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA";

    /// digitalbazaar/vc-bitstring-status-list, tests/10-BitstringStatusList.spec.js,
    /// `encodedList100KWith50KthRevoked`: 100,000 entries with index 50,000 set (the library
    /// adds the `u` prefix when encoding).
    const DB_100K_WITH_50000_SET: &str =
        "H4sIAAAAAAAAA-3OMQ0AAAgDsElHOh72EJJWQRMAAAAAAIDWXAcAAAAAAIDHFvRitn7UMAAA";

    /// w3c/vc-bitstring-status-list-test-suite, fixtures/status-credentials/
    /// single-purpose-ok.jsonld: 200,000 entries; fixtures/should-be-revoked.jsonld expects
    /// index 201 to be set.
    const SUITE_SINGLE_PURPOSE_OK: &str = "H4sIACbOo2YC_-3QMREAMAgEsGerLPyrQgFjB-4SCUkWHQAAAAAAAOCwpwAAAADgrFIAAAAAAAAAAAAAAAAA3wxvOeOvqGEAAA";

    /// w3c/vc-bitstring-status-list-test-suite, fixtures/status-credentials/
    /// short-encoded-list-fail.jsonld: a 200-bit list that must be refused.
    const SUITE_SHORT_LIST: &str = "H4sIAN7Lo2YC_2NgwAEAjw7P6RkAAAA";

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn multibase(bytes: &[u8]) -> String {
        format!("u{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    #[test]
    fn spec_example_decodes_to_16kb_of_zeros() {
        let list = decode(SPEC_EXAMPLE_3, MIN_LIST_BITS).unwrap();
        assert_eq!(list.len(), 131_072);
        assert_eq!(list.as_bytes().len(), 16_384);
        assert_eq!(list.count_set(), 0);
        // Our own encoding of the same list decodes to the same bits (the GZIP bytes differ:
        // header OS byte and deflate choices are the encoder's).
        let ours = encode(&Bitstring::new(MIN_LIST_BITS).unwrap()).unwrap();
        assert!(ours.starts_with("uH4sI"));
        assert_eq!(decode(&ours, MIN_LIST_BITS).unwrap(), list);
    }

    #[test]
    fn status_list_2021_unprefixed_form_is_read() {
        let list = decode(STATUS_LIST_2021_EXAMPLE_2, MIN_LIST_BITS).unwrap();
        assert_eq!(list, decode(SPEC_EXAMPLE_3, MIN_LIST_BITS).unwrap());
        // The same bytes in the standard alphabet, as "base-64 encoded" allows.
        let raw = URL_SAFE_NO_PAD.decode(STATUS_LIST_2021_EXAMPLE_2).unwrap();
        let standard = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert!(standard.contains('+'));
        assert_eq!(decode(&standard, MIN_LIST_BITS).unwrap(), list);
        // Padding is tolerated in the legacy form only.
        let padded = format!("{SUITE_SHORT_LIST}=");
        assert_eq!(decode(&padded, 0).unwrap().len(), 200);
        assert!(matches!(
            decode(&format!("u{padded}"), 0),
            Err(StatusListError::MalformedBase64 { .. })
        ));
    }

    #[test]
    fn library_vector_has_index_50000_set_msb_first() {
        let list = decode(DB_100K_WITH_50000_SET, 100_000).unwrap();
        assert_eq!(list.len(), 100_000);
        assert_eq!(list.count_set(), 1);
        assert!(list.get(50_000).unwrap());
        // 50,000 = byte 6250, top bit.
        assert_eq!(list.as_bytes()[6250], 0x80);
        // Below the spec minimum it is refused by default.
        assert_eq!(
            decode(DB_100K_WITH_50000_SET, MIN_LIST_BITS),
            Err(StatusListError::ListTooShort {
                bits: 100_000,
                min: 131_072
            })
        );
    }

    #[test]
    fn test_suite_vectors() {
        let list = decode(SUITE_SINGLE_PURPOSE_OK, MIN_LIST_BITS).unwrap();
        assert_eq!(list.len(), 200_000);
        assert!(list.get(201).unwrap());
        assert!(!list.get(200).unwrap() && !list.get(202).unwrap());
        assert_eq!(
            decode(SUITE_SHORT_LIST, MIN_LIST_BITS),
            Err(StatusListError::ListTooShort {
                bits: 200,
                min: 131_072
            })
        );
    }

    #[test]
    fn round_trips_random_bits() {
        for len in [MIN_LIST_BITS, MIN_LIST_BITS * 4] {
            let mut list = Bitstring::new(len).unwrap();
            let mut set = Vec::new();
            for _ in 0..500 {
                let i = (OsRng.next_u32() as usize) % len;
                list.set(i, true).unwrap();
                set.push(i);
            }
            let encoded = encode(&list).unwrap();
            assert!(encoded.starts_with('u'));
            assert!(!encoded.contains(['=', '+', '/']));
            let back = decode(&encoded, MIN_LIST_BITS).unwrap();
            assert_eq!(back, list);
            assert!(set.iter().all(|&i| back.get(i).unwrap()));
        }
    }

    #[test]
    fn all_zero_list_compresses_small() {
        let encoded = encode(&Bitstring::new(MIN_LIST_BITS).unwrap()).unwrap();
        assert!(encoded.len() < 200, "{} chars", encoded.len());
    }

    #[test]
    fn bad_base64_is_refused() {
        for bad in ["u!!!!", "uH4sI*AAA", "u====", "uH4sIAA=", ""] {
            assert!(
                matches!(
                    decode(bad, MIN_LIST_BITS),
                    Err(StatusListError::MalformedBase64 { .. })
                ),
                "{bad:?}"
            );
        }
        // Standard-alphabet characters are not base64url in the multibase form.
        let gz = gzip(&[0; 16]);
        let std = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&gz);
        if std.contains(['+', '/']) {
            assert!(matches!(
                decode(&format!("u{std}"), 0),
                Err(StatusListError::MalformedBase64 { .. })
            ));
        }
        assert!(matches!(
            decode("H4sI!", 0),
            Err(StatusListError::MalformedBase64 { .. })
        ));
    }

    #[test]
    fn other_multibase_prefixes_are_refused() {
        assert_eq!(
            decode("zQmSomething", MIN_LIST_BITS),
            Err(StatusListError::UnsupportedMultibase { prefix: 'z' })
        );
        assert_eq!(
            decode("MH4sIAAAA", MIN_LIST_BITS),
            Err(StatusListError::UnsupportedMultibase { prefix: 'M' })
        );
    }

    #[test]
    fn non_gzip_data_is_refused() {
        // Valid base64url of bytes that are not GZIP (raw zlib, then plain bytes).
        assert_eq!(
            decode(&multibase(&[0x78, 0x9c, 0x03, 0x00]), 0),
            Err(StatusListError::NotGzip)
        );
        assert_eq!(
            decode(&multibase(&[0u8; 64]), 0),
            Err(StatusListError::NotGzip)
        );
        assert_eq!(
            decode(&multibase(&[0x1f]), 0),
            Err(StatusListError::NotGzip)
        );
    }

    #[test]
    fn corrupt_gzip_is_refused() {
        let good = gzip(&[0u8; 16_384]);
        // Truncated stream.
        let truncated = &good[..good.len() - 6];
        assert!(matches!(
            decode(&multibase(truncated), 0),
            Err(StatusListError::CorruptGzip { .. })
        ));
        // CRC-32 mismatch.
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        assert!(matches!(
            decode(&multibase(&bad_crc), 0),
            Err(StatusListError::CorruptGzip { .. })
        ));
        // Bad compression method in the header.
        let mut bad_method = good.clone();
        bad_method[2] = 0x07;
        assert!(matches!(
            decode(&multibase(&bad_method), 0),
            Err(StatusListError::CorruptGzip { .. })
        ));
        // Trailing bytes after the member, and a second member.
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        assert!(matches!(
            decode(&multibase(&trailing), 0),
            Err(StatusListError::CorruptGzip { reason }) if reason.contains("follow")
        ));
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert!(matches!(
            decode(&multibase(&two), 0),
            Err(StatusListError::CorruptGzip { .. })
        ));
        // The untouched stream is fine.
        assert_eq!(decode(&multibase(&good), 0).unwrap().len(), 131_072);
    }

    /// A 64 MiB GZIP bomb (about 64 KB compressed) is stopped at the limit; the decoder never
    /// holds more than `limit + 1` bytes of output.
    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..64 {
            e.write_all(&chunk).unwrap();
        }
        let bomb = multibase(&e.finish().unwrap());
        assert!(bomb.len() < 200 * 1024, "bomb is {} chars", bomb.len());
        assert_eq!(
            decode(&bomb, MIN_LIST_BITS),
            Err(StatusListError::DecompressedTooLarge {
                limit: DEFAULT_MAX_DECOMPRESSED_BYTES
            })
        );
        let small = DecodeLimits {
            max_decompressed_bytes: 32 * 1024,
        };
        assert_eq!(
            decode_with_limits(&bomb, MIN_LIST_BITS, &small),
            Err(StatusListError::DecompressedTooLarge { limit: 32 * 1024 })
        );
        // Exactly at the limit is allowed; one byte over is not.
        let list = encode(&Bitstring::new(MIN_LIST_BITS * 2).unwrap()).unwrap();
        assert_eq!(
            decode_with_limits(&list, MIN_LIST_BITS, &small)
                .unwrap()
                .len(),
            262_144
        );
        let tight = DecodeLimits {
            max_decompressed_bytes: 32 * 1024 - 1,
        };
        assert!(matches!(
            decode_with_limits(&list, MIN_LIST_BITS, &tight),
            Err(StatusListError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn too_short_and_empty_lists_are_refused() {
        assert_eq!(
            decode(&multibase(&gzip(&[0u8; 16_383])), MIN_LIST_BITS),
            Err(StatusListError::ListTooShort {
                bits: 131_064,
                min: 131_072
            })
        );
        assert_eq!(
            decode(&multibase(&gzip(&[])), MIN_LIST_BITS),
            Err(StatusListError::ListTooShort {
                bits: 0,
                min: 131_072
            })
        );
    }
}
