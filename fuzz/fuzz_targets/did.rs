//! DID syntax (`Did::parse`, `DidWeb::parse` and its URL mapping), `did:key` / `did:jwk`
//! resolution from the DID string alone, and DID-document JSON (`DidDocument::from_json_value`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity_did::{Did, DidDocument, DidWeb};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Did::parse(text);
        if let Ok(web) = DidWeb::parse(text) {
            let _ = format!("{web:?}");
        }
        let _ = verity_did::resolve_did_key(text);
        let _ = verity_did::resolve_did_jwk(text);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(doc) = DidDocument::from_json_value(v) {
            let _ = doc.to_json_value();
        }
    }
});
