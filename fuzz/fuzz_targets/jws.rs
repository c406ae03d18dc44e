//! Compact JWS/JWT: `UnverifiedJws::parse`, the header's alg, the unverified payload as JSON,
//! and JWK parsing plus a verification attempt when the input's payload is itself a JWK.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity_jose::{Jwk, UnverifiedJws};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = UnverifiedJws::parse(text) {
        let _ = jws.algorithm();
        let payload = jws.payload_unverified::<serde_json::Value>();
        if let Ok(v) = payload {
            if let Ok(jwk) = Jwk::from_json_value(&v) {
                let _ = jwk.algorithm();
                let _ = jws.verify(&jwk);
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(jwk) = Jwk::from_json_value(&v) {
            let _ = jwk.algorithm();
        }
    }
});
