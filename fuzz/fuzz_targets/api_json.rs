//! The API's JSON bodies: every request body type of the Request Service API and the admin API
//! read from arbitrary bytes the way the server reads them (`verity_api::read_body`: empty and
//! over-deep bodies refused before parsing, field-naming errors otherwise). Checks: no panic;
//! the nesting pre-check agrees with the parsed depth; a body that is read serialises and reads
//! back to the same JSON; a field error always names a field.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use verity_api::{BodyError, admin, check_json_depth, read_body, rp};

const MAX_DEPTH: usize = 8;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn body<T: Serialize + DeserializeOwned>(data: &[u8]) {
    match read_body::<T>(data, MAX_DEPTH) {
        Ok(read) => {
            let json = serde_json::to_value(&read).expect("a body that was read serialises");
            let again: T = serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
            assert_eq!(serde_json::to_value(&again).unwrap(), json);
        }
        Err(BodyError::Field { message, .. }) => assert!(!message.is_empty()),
        Err(BodyError::Empty) => assert!(data.is_empty()),
        Err(BodyError::TooDeep(max)) => assert_eq!(max, MAX_DEPTH),
        Err(BodyError::Syntax(_)) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        // JSON the parser takes: the byte-level depth check agrees with the real depth.
        assert_eq!(
            check_json_depth(data, MAX_DEPTH).is_ok(),
            depth(&v) <= MAX_DEPTH,
            "depth check disagrees on {v}"
        );
    }
    body::<rp::IssuanceRequest>(data);
    body::<rp::PresentationRequest>(data);
    body::<rp::Completion>(data);
    body::<admin::CreateTenant>(data);
    body::<admin::CreateAuthority>(data);
    body::<admin::RotateKey>(data);
    body::<admin::CreateCredential>(data);
});
