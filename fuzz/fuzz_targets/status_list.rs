//! Status lists: the W3C bitstring `encodedList` decode (multibase/base64 + GZIP with the
//! decompression cap), the IETF Token Status List claim (`from_claim`, ZLIB), status-list JWT
//! parsing and `credentialStatus` entries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity_status_list::{
    DecodeLimits, StatusEntry, StatusReference, TokenStatusList, decode_with_limits,
    parse_status_list_jwt,
};

fuzz_target!(|data: &[u8]| {
    // A small cap so that decompression bombs are cut quickly.
    let limits = DecodeLimits {
        max_decompressed_bytes: 64 * 1024,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_with_limits(text, 0, &limits);
        let _ = decode_with_limits(text, 131_072, &limits);
        let _ = parse_status_list_jwt(text);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(list) = TokenStatusList::from_claim(&v, &limits) {
            let n = list.len();
            let _ = list.get(0);
            let _ = list.get(n.saturating_sub(1));
            let _ = list.get(n);
            let _ = list.to_claim();
        }
        let _ = StatusReference::from_claims(&v);
        let _ = StatusEntry::from_json(&v);
        let _ = StatusEntry::parse_credential_status(&v);
    }
});
