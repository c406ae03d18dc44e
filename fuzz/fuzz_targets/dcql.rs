//! OpenID4VP DCQL: query parsing (`DcqlQuery::from_json`) and answer matching
//! (`parse_vp_token` / `parse_vp_token_param`). The input is split at the first NUL byte into a
//! query and a `vp_token`; a query-only input is matched against its own JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity_presentation::dcql::{DcqlQuery, parse_vp_token, parse_vp_token_param};

fuzz_target!(|data: &[u8]| {
    let (query_bytes, token_bytes) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let Ok(qv) = serde_json::from_slice::<serde_json::Value>(query_bytes) else {
        return;
    };
    let Ok(query) = DcqlQuery::from_json(&qv) else {
        return;
    };
    let _ = parse_vp_token(&qv, &query);
    if let Ok(text) = std::str::from_utf8(token_bytes) {
        let _ = parse_vp_token_param(text, &query);
    }
});
