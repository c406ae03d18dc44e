//! The signature floor: what one signature operation costs with verity-jose on this machine,
//! measured on one thread of the benchmark process while the server is idle.

use std::time::{Duration, Instant};

use serde_json::json;
use verity_jose::{Algorithm, Header, SigningKey, UnverifiedJws, sign_compact};

use super::procfs;

/// CPU milliseconds per operation, per algorithm.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// ES256 compact-JWS sign.
    pub es256_sign_ms: f64,
    /// ES256 parse + verify.
    pub es256_verify_ms: f64,
    /// EdDSA compact-JWS sign.
    pub eddsa_sign_ms: f64,
    /// EdDSA parse + verify.
    pub eddsa_verify_ms: f64,
}

impl Floor {
    /// CPU ms of one sign with `alg`.
    pub fn sign_ms(&self, alg: Algorithm) -> Result<f64, String> {
        match alg {
            Algorithm::ES256 => Ok(self.es256_sign_ms),
            Algorithm::EdDSA => Ok(self.eddsa_sign_ms),
            other => Err(format!("the floor does not measure {other} signing")),
        }
    }

    /// CPU ms of one verify with `alg`.
    pub fn verify_ms(&self, alg: Algorithm) -> Result<f64, String> {
        match alg {
            Algorithm::ES256 => Ok(self.es256_verify_ms),
            Algorithm::EdDSA => Ok(self.eddsa_verify_ms),
            other => Err(format!("the floor does not measure {other} verification")),
        }
    }
}

/// A payload the size of the tokens the flows sign (a JWT-VC with a status entry, ~700 bytes).
fn payload() -> Vec<u8> {
    json!({
        "iss": "did:web:localhost%3A8080", "sub": "did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwieCI6IjEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAifQ",
        "jti": "urn:uuid:6f2b7c1e-8d4a-4e0b-9c3f-2a1d5e7f9b00", "iat": 1_790_000_000, "nbf": 1_790_000_000, "exp": 1_792_592_000,
        "vc": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential", "VerifiedCredentialExpert"],
            "credentialSubject": { "given_name": "Megan", "family_name": "Bowen" },
            "credentialStatus": {
                "id": "http://localhost:8080/v1.0/status/0b6f1d4e-3c2a-4b5d-8e9f-a1b2c3d4e5f6#4711",
                "type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "4711",
                "statusListCredential": "http://localhost:8080/v1.0/status/0b6f1d4e-3c2a-4b5d-8e9f-a1b2c3d4e5f6"
            }
        }
    })
    .to_string()
    .into_bytes()
}

/// CPU time per call of `op`, run `n` times after a short warm-up, on the calling thread.
/// Thread CPU time (not wall time), so other work on the machine does not inflate it.
fn per_op(n: usize, mut op: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    for _ in 0..n.div_ceil(10) {
        op()?;
    }
    let cpu0 = procfs::thread_cpu_time();
    let wall0 = Instant::now();
    for _ in 0..n {
        op()?;
    }
    let spent = match (cpu0, procfs::thread_cpu_time()) {
        (Some(a), Some(b)) if b > a => b - a,
        // No schedstat on this kernel: wall time on an otherwise idle thread is the best guess.
        _ => wall0.elapsed(),
    };
    Ok(spent.as_secs_f64() * 1000.0 / n as f64)
}

fn measure_alg(alg: Algorithm, n: usize) -> Result<(f64, f64), String> {
    let key = SigningKey::generate(alg).map_err(|e| format!("{alg} key: {e}"))?;
    let jwk = key.public_jwk();
    let mut header = Header::new(alg);
    header.kid = Some("did:web:localhost%3A8080#key-0123456789abcdef".into());
    header.typ = Some("JWT".into());
    let body = payload();
    let sign = || sign_compact(&key, &header, &body).map_err(|e| format!("{alg} sign: {e}"));
    let token = sign()?;
    let sign_ms = per_op(n, || sign().map(|_| ()))?;
    let verify_ms = per_op(n, || {
        UnverifiedJws::parse(&token)
            .and_then(|jws| jws.verify(&jwk))
            .map(|_| ())
            .map_err(|e| format!("{alg} verify: {e}"))
    })?;
    Ok((sign_ms, verify_ms))
}

/// Measures `n` signs and `n` verifies per algorithm on one dedicated thread.
pub fn measure(n: usize) -> Result<Floor, String> {
    let worker = std::thread::spawn(move || -> Result<Floor, String> {
        let (es256_sign_ms, es256_verify_ms) = measure_alg(Algorithm::ES256, n)?;
        let (eddsa_sign_ms, eddsa_verify_ms) = measure_alg(Algorithm::EdDSA, n)?;
        Ok(Floor {
            es256_sign_ms,
            es256_verify_ms,
            eddsa_sign_ms,
            eddsa_verify_ms,
        })
    });
    worker
        .join()
        .map_err(|_| "the floor thread failed".to_owned())?
}

/// A human line for the log: per-op CPU and the one-core rate it implies.
pub fn describe(f: &Floor) -> String {
    let rate = |ms: f64| {
        if ms > 0.0 {
            format!("{:.0}/s", 1000.0 / ms)
        } else {
            "-".into()
        }
    };
    format!(
        "FLOOR (one thread, CPU time) es256_sign_ms={:.4} ({}) es256_verify_ms={:.4} ({}) eddsa_sign_ms={:.4} ({}) eddsa_verify_ms={:.4} ({})",
        f.es256_sign_ms,
        rate(f.es256_sign_ms),
        f.es256_verify_ms,
        rate(f.es256_verify_ms),
        f.eddsa_sign_ms,
        rate(f.eddsa_sign_ms),
        f.eddsa_verify_ms,
        rate(f.eddsa_verify_ms),
    )
}

/// True when every figure is positive and under a second: anything else is a broken clock
/// reading, not a floor.
pub fn is_plausible(f: &Floor) -> bool {
    [
        f.es256_sign_ms,
        f.es256_verify_ms,
        f.eddsa_sign_ms,
        f.eddsa_verify_ms,
    ]
    .iter()
    .all(|ms| *ms > 0.0 && *ms < Duration::from_secs(1).as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_measures_every_algorithm_it_reports() {
        let f = measure(20).unwrap();
        assert!(is_plausible(&f), "{f:?}");
        assert!(f.sign_ms(Algorithm::ES256K).is_err());
        assert!(f.verify_ms(Algorithm::ES256K).is_err());
        assert_eq!(f.verify_ms(Algorithm::EdDSA).unwrap(), f.eddsa_verify_ms);
    }
}
