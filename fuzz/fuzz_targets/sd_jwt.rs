//! SD-JWT (RFC 9901): `SdJwt::parse` of an issued SD-JWT (issuer JWT + disclosures, digest
//! matching), then presenting every disclosure; `Disclosure::parse` on each `~` segment.
#![no_main]
use libfuzzer_sys::fuzz_target;
use verity_sd_jwt::{Disclosure, SdJwt};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sd) = SdJwt::parse(text) {
        let _ = sd.hash_alg();
        let _ = sd.holder_key();
        let _ = sd.disclosures().count();
        let _ = sd.present_all();
    }
    for part in text.split('~') {
        let _ = Disclosure::parse(part);
    }
});
