//! Every Verifier check (RFC 9901 section 7.1 and 7.3, SD-JWT VC section 2) made to fail on its
//! own, with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{Value, json};
use verity_jose::{Algorithm, Header, JoseError, Jwk, SigningKey};
use verity_sd_jwt::{
    ClaimPath, Disclosure, DisclosureFormatError, HashAlg, IssuerKeyLookup, KeyBindingClaims,
    KeyBindingPolicy, KeyLookupError, MAX_NESTING_DEPTH, Profile, SdJwt, SdJwtBuilder, SdJwtError,
    VerifyOptions, verify, verify_with_issuer_key,
};

const ISS: &str = "https://issuer.example";
const VCT: &str = "https://credentials.example/identity";
const AUD: &str = "https://verifier.example";
const NONCE: &str = "nonce-4711";
const NOW: i64 = 1_760_000_000;

struct Fixture {
    issuer: SigningKey,
    holder: SigningKey,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            issuer: SigningKey::generate(Algorithm::ES256).unwrap(),
            holder: SigningKey::generate(Algorithm::EdDSA).unwrap(),
        }
    }

    fn issuer_jwk(&self) -> Jwk {
        self.issuer.public_jwk()
    }

    /// An SD-JWT VC payload with `extra` merged in.
    fn payload(&self, extra: Value) -> Value {
        let mut p = json!({
            "iss": ISS, "iat": NOW - 60, "exp": NOW + 3600, "vct": VCT,
            "_sd_alg": "sha-256", "cnf": cnf(&self.holder)
        });
        for (k, v) in obj(extra) {
            p[k] = v;
        }
        p
    }

    fn jwt(&self, payload: &Value) -> String {
        sign_issuer_jwt(&self.issuer, Some("dc+sd-jwt"), payload)
    }

    /// `<jwt>~<disclosures>~<kb-jwt>` with a correct KB-JWT.
    fn bound(&self, jwt: &str, disclosures: &[String]) -> String {
        let sd_jwt = assemble(jwt, disclosures);
        let kb = kb_jwt(
            &self.holder,
            Some("kb+jwt"),
            &kb_claims(&sd_jwt, AUD, NONCE, NOW),
        );
        format!("{sd_jwt}{kb}")
    }

    fn check(&self, presentation: &str) -> Result<verity_sd_jwt::VerifiedSdJwt, SdJwtError> {
        verify_with_issuer_key(presentation, &self.issuer_jwk(), &options())
    }

    fn check_unbound(
        &self,
        presentation: &str,
    ) -> Result<verity_sd_jwt::VerifiedSdJwt, SdJwtError> {
        verify_with_issuer_key(
            presentation,
            &self.issuer_jwk(),
            &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
        )
    }
}

fn options() -> VerifyOptions {
    VerifyOptions::sd_jwt_vc(
        NOW,
        KeyBindingPolicy::Required {
            audience: AUD.into(),
            nonce: NONCE.into(),
        },
    )
}

fn prop(salt: &str, name: &str, value: Value) -> Disclosure {
    Disclosure::from_parts(salt.into(), Some(name.into()), value).unwrap()
}

fn elem(salt: &str, value: Value) -> Disclosure {
    Disclosure::from_parts(salt.into(), None, value).unwrap()
}

fn dig(d: &Disclosure) -> String {
    d.digest(HashAlg::Sha256)
}

fn enc(d: &Disclosure) -> String {
    d.encoded().to_owned()
}

/// The baseline the hostile variants start from verifies.
#[test]
fn baseline_verifies() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)]})));
    let verified = f.check(&f.bound(&jwt, &[enc(&name)])).unwrap();
    assert_eq!(verified.claims["given_name"], "Erika");
}

/// A Disclosure altered in transit no longer matches its digest: it is unreferenced.
#[test]
fn tampered_disclosure() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)]})));
    let forged = prop("s1", "given_name", json!("Mallory"));
    let err = f.check(&f.bound(&jwt, &[enc(&forged)])).unwrap_err();
    assert_eq!(
        err,
        SdJwtError::UnreferencedDisclosure {
            index: 0,
            digest: dig(&forged)
        }
    );
    assert!(!err.to_string().contains("Mallory"));
}

/// A well-formed Disclosure the Issuer never signed for is rejected, even inside a correctly
/// bound presentation (RFC 9901 section 7.1 step 5; some libraries ignore it).
#[test]
fn unknown_disclosure_is_rejected_not_ignored() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let injected = prop("s2", "is_over_21", json!(true));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)]})));
    let presentation = f.bound(&jwt, &[enc(&name), enc(&injected)]);
    assert_eq!(
        f.check(&presentation).unwrap_err(),
        SdJwtError::UnreferencedDisclosure {
            index: 1,
            digest: dig(&injected)
        }
    );
    assert_eq!(f.check(&presentation).unwrap_err().code(), "SDJWT-018");
}

/// The same digest twice in the payload: in one `_sd`, across `_sd` and `...`, and via a
/// Disclosure.
#[test]
fn duplicate_digest() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let d = dig(&name);
    for extra in [
        json!({"_sd": [d, d]}),
        json!({"_sd": [d], "address": {"_sd": [d]}}),
    ] {
        let jwt = f.jwt(&f.payload(extra));
        assert_eq!(
            f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
            SdJwtError::DuplicateDigest { digest: d.clone() }
        );
    }
    // A decoy repeated is as fatal as a real digest.
    let decoy = sha256_b64("decoy");
    for extra in [
        json!({"_sd": [decoy, decoy]}),
        json!({"_sd": [decoy], "nationalities": [{"...": decoy}]}),
    ] {
        let jwt = f.jwt(&f.payload(extra));
        assert_eq!(
            f.check(&f.bound(&jwt, &[])).unwrap_err(),
            SdJwtError::DuplicateDigest {
                digest: decoy.clone()
            }
        );
    }
    // Recursively: a Disclosure's value repeats a digest of the payload.
    let inner = prop("s3", "locality", json!("Köln"));
    let address = prop("s4", "address", json!({"_sd": [dig(&inner)]}));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&address), dig(&inner)]})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&inner), enc(&address)]))
            .unwrap_err(),
        SdJwtError::DuplicateDigest { .. }
    ));
}

/// The same Disclosure presented twice.
#[test]
fn duplicate_disclosure() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)]})));
    assert_eq!(
        f.check(&f.bound(&jwt, &[enc(&name), enc(&name)]))
            .unwrap_err(),
        SdJwtError::DuplicateDisclosure {
            index: 1,
            digest: dig(&name)
        }
    );
}

/// `_sd_alg` must name a supported algorithm, as a string, at the top level only.
#[test]
fn wrong_sd_alg() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    for (alg, shown) in [
        (json!("md5"), "md5"),
        (json!("sha-256-32"), "sha-256-32"),
        (json!("SHA-256"), "SHA-256"),
        (json!(256), "256"),
    ] {
        let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)], "_sd_alg": alg})));
        assert_eq!(
            f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
            SdJwtError::UnsupportedSdAlg { alg: shown.into() }
        );
    }
    // Digests made with sha-256 do not match a payload claiming sha-512.
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&name)], "_sd_alg": "sha-512"})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
        SdJwtError::UnreferencedDisclosure { .. }
    ));
    // Nested `_sd_alg`, in the payload or as a disclosed name.
    let jwt = f.jwt(&f.payload(json!({"address": {"_sd_alg": "sha-256"}})));
    assert_eq!(
        f.check(&f.bound(&jwt, &[])).unwrap_err(),
        SdJwtError::MisplacedSdAlg {
            path: r#"["address","_sd_alg"]"#.into()
        }
    );
    let sneaky = prop("s5", "_sd_alg", json!("md5"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&sneaky)]})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&sneaky)])).unwrap_err(),
        SdJwtError::MisplacedSdAlg { .. }
    ));
}

/// Signed by another key, or altered after signing.
#[test]
fn bad_issuer_signature() {
    let f = Fixture::new();
    let name = prop("s1", "given_name", json!("Erika"));
    let payload = f.payload(json!({"_sd": [dig(&name)]}));
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwt = sign_issuer_jwt(&other, Some("dc+sd-jwt"), &payload);
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
        SdJwtError::IssuerSignature(JoseError::InvalidSignature { .. })
    ));
    // Another algorithm altogether: refused before any cryptography.
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwt = sign_issuer_jwt(&ed, Some("dc+sd-jwt"), &payload);
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
        SdJwtError::IssuerSignature(JoseError::AlgorithmMismatch { .. })
    ));
    // The payload swapped under the original signature.
    let jwt = f.jwt(&payload);
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut forged = payload.clone();
    forged["vct"] = json!("https://credentials.example/admin");
    parts[1] = b64(forged.to_string().as_bytes());
    let jwt = parts.join(".");
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&name)])).unwrap_err(),
        SdJwtError::IssuerSignature(_)
    ));
    // alg none.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"dc+sd-jwt"}"#),
        b64(payload.to_string().as_bytes())
    );
    assert_eq!(
        f.check(&f.bound(&none, &[enc(&name)])).unwrap_err(),
        SdJwtError::IssuerSignature(JoseError::AlgNone)
    );
}

/// Explicit typing: `dc+sd-jwt` only; `vc+sd-jwt` only when allowed.
#[test]
fn wrong_typ() {
    let f = Fixture::new();
    let payload = f.payload(json!({}));
    for typ in [Some("JWT"), Some("example+sd-jwt"), Some("kb+jwt"), None] {
        let jwt = sign_issuer_jwt(&f.issuer, typ, &payload);
        assert_eq!(
            f.check(&f.bound(&jwt, &[])).unwrap_err(),
            SdJwtError::IssuerTyp {
                expected: "\"dc+sd-jwt\"".into(),
                found: typ.map(str::to_owned)
            }
        );
    }
    let legacy = sign_issuer_jwt(&f.issuer, Some("vc+sd-jwt"), &payload);
    let presentation = f.bound(&legacy, &[]);
    assert!(matches!(
        f.check(&presentation).unwrap_err(),
        SdJwtError::IssuerTyp { .. }
    ));
    let mut lenient = options();
    lenient.profile = Profile::SdJwtVc {
        accept_legacy_typ: true,
    };
    verify_with_issuer_key(&presentation, &f.issuer_jwk(), &lenient).unwrap();
    // The media-type form is accepted (RFC 7515 section 4.1.9).
    let long = sign_issuer_jwt(&f.issuer, Some("application/dc+sd-jwt"), &payload);
    f.check(&f.bound(&long, &[])).unwrap();
}

/// `exp`, `nbf`, `iat` against the caller's `now`, with skew; `exp` required when asked.
#[test]
fn validity_times() {
    let f = Fixture::new();
    let cases = [
        (
            json!({"exp": NOW - 61}),
            SdJwtError::Expired {
                exp: NOW - 61,
                now: NOW,
            },
        ),
        (
            json!({"nbf": NOW + 61}),
            SdJwtError::NotYetValid {
                nbf: NOW + 61,
                now: NOW,
            },
        ),
        (
            json!({"iat": NOW + 61}),
            SdJwtError::IssuedInFuture {
                iat: NOW + 61,
                now: NOW,
            },
        ),
        (
            json!({"exp": "tomorrow"}),
            SdJwtError::BadTimeClaim {
                claim: "exp".into(),
            },
        ),
    ];
    for (extra, expected) in cases {
        let jwt = f.jwt(&f.payload(extra));
        assert_eq!(f.check(&f.bound(&jwt, &[])).unwrap_err(), expected);
    }
    // Within the skew.
    let jwt = f.jwt(&f.payload(json!({"exp": NOW - 59, "nbf": NOW + 60})));
    f.check(&f.bound(&jwt, &[])).unwrap();
    // A selectively disclosed `iat` is checked too (processed payload, section 7.1 step 6).
    let iat = prop("s6", "iat", json!(NOW + 3600));
    let mut payload = f.payload(json!({"_sd": [dig(&iat)]}));
    payload.as_object_mut().unwrap().remove("iat");
    let jwt = f.jwt(&payload);
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&iat)])).unwrap_err(),
        SdJwtError::IssuedInFuture { .. }
    ));
    // `exp` required by policy.
    let mut payload = f.payload(json!({}));
    payload.as_object_mut().unwrap().remove("exp");
    let jwt = f.jwt(&payload);
    let mut strict = options();
    strict.require_exp = true;
    assert_eq!(
        verify_with_issuer_key(&f.bound(&jwt, &[]), &f.issuer_jwk(), &strict).unwrap_err(),
        SdJwtError::MissingExpiry
    );
}

/// Key Binding required: a bare SD-JWT is refused; not required: an SD-JWT+KB is refused.
#[test]
fn key_binding_presence() {
    let f = Fixture::new();
    let jwt = f.jwt(&f.payload(json!({})));
    assert_eq!(
        f.check(&assemble(&jwt, &[])).unwrap_err(),
        SdJwtError::KeyBindingMissing
    );
    assert_eq!(
        f.check_unbound(&f.bound(&jwt, &[])).unwrap_err(),
        SdJwtError::UnexpectedKeyBinding
    );
    f.check_unbound(&assemble(&jwt, &[])).unwrap();
}

/// `cnf` must carry a valid public `jwk` when Key Binding is required.
#[test]
fn holder_key_in_cnf() {
    let f = Fixture::new();
    let mut no_cnf = f.payload(json!({}));
    no_cnf.as_object_mut().unwrap().remove("cnf");
    let jwt = f.jwt(&no_cnf);
    assert_eq!(
        f.check(&f.bound(&jwt, &[])).unwrap_err(),
        SdJwtError::HolderKeyMissing
    );
    let jwt = f.jwt(&f.payload(json!({"cnf": {"jkt": "abc"}})));
    assert_eq!(
        f.check(&f.bound(&jwt, &[])).unwrap_err(),
        SdJwtError::HolderKeyMissing
    );
    let jwt = f.jwt(&f.payload(json!({"cnf": "key"})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[])).unwrap_err(),
        SdJwtError::MalformedCnf { .. }
    ));
    let mut private = serde_json::to_value(f.holder.public_jwk()).unwrap();
    private["d"] = json!(b64(&[7u8; 32]));
    let jwt = f.jwt(&f.payload(json!({"cnf": {"jwk": private}})));
    let err = f.check(&f.bound(&jwt, &[])).unwrap_err();
    assert!(matches!(
        err,
        SdJwtError::HolderKeyInvalid(JoseError::PrivateKeyMaterial { .. })
    ));
    // The message names the check, not the key material.
    assert!(!err.to_string().contains(&b64(&[7u8; 32])));
}

fn hostile_kb(jwt: &str, key: &SigningKey, typ: Option<&str>, claims: Value) -> String {
    let sd_jwt = assemble(jwt, &[]);
    format!("{sd_jwt}{}", kb_jwt(key, typ, &claims))
}

/// Each KB-JWT claim check on its own.
#[test]
fn key_binding_claims() {
    let f = Fixture::new();
    let jwt = f.jwt(&f.payload(json!({})));
    let sd_jwt = assemble(&jwt, &[]);
    let good = kb_claims(&sd_jwt, AUD, NONCE, NOW);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(Value, Option<&str>, SdJwtError)> = vec![
        (
            with("aud", json!("https://evil.example")),
            Some("kb+jwt"),
            SdJwtError::KeyBindingAudience {
                expected: AUD.into(),
                found: "https://evil.example".into(),
            },
        ),
        (
            with("aud", json!([AUD])),
            Some("kb+jwt"),
            SdJwtError::KeyBindingClaim {
                claim: "aud",
                problem: "is required as a single string",
            },
        ),
        (
            without("aud"),
            Some("kb+jwt"),
            SdJwtError::KeyBindingClaim {
                claim: "aud",
                problem: "is required as a single string",
            },
        ),
        (
            with("nonce", json!("replayed")),
            Some("kb+jwt"),
            SdJwtError::KeyBindingNonce,
        ),
        (
            without("nonce"),
            Some("kb+jwt"),
            SdJwtError::KeyBindingClaim {
                claim: "nonce",
                problem: "is required as a string",
            },
        ),
        (
            with("iat", json!(NOW - 361)),
            Some("kb+jwt"),
            SdJwtError::KeyBindingStale {
                iat: NOW - 361,
                now: NOW,
                max_age: 300,
            },
        ),
        (
            with("iat", json!(NOW + 61)),
            Some("kb+jwt"),
            SdJwtError::KeyBindingInFuture {
                iat: NOW + 61,
                now: NOW,
            },
        ),
        (
            without("iat"),
            Some("kb+jwt"),
            SdJwtError::KeyBindingClaim {
                claim: "iat",
                problem: "is required as a NumericDate",
            },
        ),
        (
            with("sd_hash", json!(sha256_b64("something else"))),
            Some("kb+jwt"),
            SdJwtError::KeyBindingSdHash,
        ),
        (
            without("sd_hash"),
            Some("kb+jwt"),
            SdJwtError::KeyBindingClaim {
                claim: "sd_hash",
                problem: "is required as a string",
            },
        ),
        (
            good.clone(),
            Some("JWT"),
            SdJwtError::KeyBindingTyp {
                found: Some("JWT".into()),
            },
        ),
        (
            good.clone(),
            None,
            SdJwtError::KeyBindingTyp { found: None },
        ),
        (
            with("exp", json!(NOW - 100)),
            Some("kb+jwt"),
            SdJwtError::KeyBindingTimes(JoseError::Expired {
                exp: NOW - 100,
                now: NOW,
            }),
        ),
    ];
    for (claims, typ, expected) in cases {
        let presentation = hostile_kb(&jwt, &f.holder, typ, claims);
        assert_eq!(f.check(&presentation).unwrap_err(), expected);
    }
    // The freshness window is an option.
    let old = hostile_kb(
        &jwt,
        &f.holder,
        Some("kb+jwt"),
        with("iat", json!(NOW - 3000)),
    );
    let mut relaxed = options();
    relaxed.kb_max_age_secs = 3600;
    verify_with_issuer_key(&old, &f.issuer_jwk(), &relaxed).unwrap();
    // Nonce values never appear in messages.
    let err = f
        .check(&hostile_kb(
            &jwt,
            &f.holder,
            Some("kb+jwt"),
            with("nonce", json!("replayed")),
        ))
        .unwrap_err();
    assert!(!err.to_string().contains(NONCE) && !err.to_string().contains("replayed"));
}

/// `sd_hash` binds the exact set of Disclosures: dropping or adding one breaks it.
#[test]
fn sd_hash_mismatch_when_disclosures_change() {
    let f = Fixture::new();
    let a = prop("s1", "given_name", json!("Erika"));
    let b = prop("s2", "family_name", json!("Mustermann"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&a), dig(&b)]})));
    let full = f.bound(&jwt, &[enc(&a), enc(&b)]);
    f.check(&full).unwrap();
    let kb = full.rsplit('~').next().unwrap();
    let fewer = format!("{}{kb}", assemble(&jwt, &[enc(&a)]));
    assert_eq!(f.check(&fewer).unwrap_err(), SdJwtError::KeyBindingSdHash);
    let reordered = format!("{}{kb}", assemble(&jwt, &[enc(&b), enc(&a)]));
    assert_eq!(
        f.check(&reordered).unwrap_err(),
        SdJwtError::KeyBindingSdHash
    );
}

/// A KB-JWT signed by a key other than `cnf.jwk`.
#[test]
fn key_binding_signed_by_another_key() {
    let f = Fixture::new();
    let jwt = f.jwt(&f.payload(json!({})));
    let claims = kb_claims(&assemble(&jwt, &[]), AUD, NONCE, NOW);
    let same_alg = SigningKey::generate(Algorithm::EdDSA).unwrap();
    assert!(matches!(
        f.check(&hostile_kb(&jwt, &same_alg, Some("kb+jwt"), claims.clone()))
            .unwrap_err(),
        SdJwtError::KeyBindingSignature(JoseError::InvalidSignature { .. })
    ));
    let other_alg = SigningKey::generate(Algorithm::ES256).unwrap();
    assert!(matches!(
        f.check(&hostile_kb(&jwt, &other_alg, Some("kb+jwt"), claims))
            .unwrap_err(),
        SdJwtError::KeyBindingSignature(JoseError::AlgorithmMismatch { .. })
    ));
    // Through the Holder API with the wrong key: the Holder refuses first.
    let issued = assemble(&jwt, &[]);
    let p = SdJwt::parse(&issued).unwrap().present(&[]).unwrap();
    assert_eq!(
        p.with_key_binding(
            &same_alg,
            &KeyBindingClaims {
                audience: AUD.into(),
                nonce: NONCE.into(),
                issued_at: NOW
            }
        )
        .unwrap_err(),
        SdJwtError::HolderKeyMismatch
    );
    // A malformed KB-JWT.
    assert!(matches!(
        f.check(&format!("{issued}not-a-jwt")).unwrap_err(),
        SdJwtError::KeyBindingMalformed(_)
    ));
}

/// A disclosed name colliding with a plaintext claim, or with another Disclosure.
#[test]
fn disclosure_name_collision() {
    let f = Fixture::new();
    let shadow = prop("s1", "given_name", json!("Mallory"));
    let jwt = f.jwt(&f.payload(json!({"given_name": "Erika", "_sd": [dig(&shadow)]})));
    assert_eq!(
        f.check(&f.bound(&jwt, &[enc(&shadow)])).unwrap_err(),
        SdJwtError::ClaimNameCollision {
            name: "given_name".into(),
            path: "[]".into()
        }
    );
    let a = prop("s2", "email", json!("a@example.com"));
    let b = prop("s3", "email", json!("b@example.com"));
    let jwt = f.jwt(&f.payload(json!({"address": {"_sd": [dig(&a), dig(&b)]}})));
    assert_eq!(
        f.check(&f.bound(&jwt, &[enc(&a), enc(&b)])).unwrap_err(),
        SdJwtError::ClaimNameCollision {
            name: "email".into(),
            path: r#"["address"]"#.into()
        }
    );
    // Each alone is fine: the Holder chose one.
    f.check(&f.bound(&jwt, &[enc(&b)])).unwrap();
}

/// `_sd` and `...` as disclosed claim names.
#[test]
fn reserved_disclosure_names() {
    let f = Fixture::new();
    for name in ["_sd", "..."] {
        let raw = raw_disclosure(&json!(["s1", name, ["x"]]));
        let jwt = f.jwt(&f.payload(json!({"_sd": [sha256_b64(&raw)]})));
        let err = f.check(&f.bound(&jwt, &[raw])).unwrap_err();
        assert_eq!(
            err,
            SdJwtError::MalformedDisclosure {
                index: 0,
                source: DisclosureFormatError::ReservedName { name: name.into() }
            }
        );
        assert_eq!(err.code(), "SDJWT-056");
    }
}

/// Each Disclosure shape check inside a presentation, by position.
#[test]
fn malformed_disclosures() {
    let f = Fixture::new();
    let cases = [
        ("%%%".to_owned(), DisclosureFormatError::NotBase64Url),
        (
            b64(b"not json"),
            DisclosureFormatError::NotJson {
                reason: String::new(),
            },
        ),
        (
            raw_disclosure(&json!({"a": 1})),
            DisclosureFormatError::NotAnArray,
        ),
        (
            raw_disclosure(&json!(["s"])),
            DisclosureFormatError::WrongLength { len: 1 },
        ),
        (
            raw_disclosure(&json!([1, "n", "v"])),
            DisclosureFormatError::SaltNotString,
        ),
        (
            raw_disclosure(&json!(["s", false, "v"])),
            DisclosureFormatError::NameNotString,
        ),
    ];
    for (raw, expected) in cases {
        let jwt = f.jwt(&f.payload(json!({"_sd": [sha256_b64(&raw)]})));
        match f.check(&f.bound(&jwt, &[raw])).unwrap_err() {
            SdJwtError::MalformedDisclosure { index: 0, source } => {
                assert_eq!(
                    std::mem::discriminant(&source),
                    std::mem::discriminant(&expected)
                );
            }
            other => panic!("{other}"),
        }
    }
}

/// An array-element Disclosure referenced from `_sd`, and a property Disclosure from `...`.
#[test]
fn disclosure_kind_mismatch() {
    let f = Fixture::new();
    let element = elem("s1", json!("DE"));
    let jwt = f.jwt(&f.payload(json!({"_sd": [dig(&element)]})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&element)])).unwrap_err(),
        SdJwtError::DisclosureKindMismatch { .. }
    ));
    let property = prop("s2", "nationality", json!("DE"));
    let jwt = f.jwt(&f.payload(json!({"nationalities": [{"...": dig(&property)}]})));
    assert!(matches!(
        f.check(&f.bound(&jwt, &[enc(&property)])).unwrap_err(),
        SdJwtError::DisclosureKindMismatch { .. }
    ));
}

/// Malformed digest containers.
#[test]
fn malformed_digest_containers() {
    let f = Fixture::new();
    for extra in [
        json!({"_sd": "abc"}),
        json!({"_sd": ["abc", 1]}),
        json!({"a": {"_sd": {}}}),
    ] {
        let jwt = f.jwt(&f.payload(extra));
        assert!(matches!(
            f.check(&f.bound(&jwt, &[])).unwrap_err(),
            SdJwtError::MalformedSdArray { .. }
        ));
    }
    for extra in [
        json!({"n": [{"...": "abc", "x": 1}]}),
        json!({"n": [{"...": 5}]}),
        json!({"o": {"...": "abc"}}),
    ] {
        let jwt = f.jwt(&f.payload(extra));
        assert!(matches!(
            f.check(&f.bound(&jwt, &[])).unwrap_err(),
            SdJwtError::MalformedArrayDigest { .. }
        ));
    }
}

/// SD-JWT VC claim rules: `vct`, `iss`, never-disclosable claims, `status` shape.
#[test]
fn sd_jwt_vc_claims() {
    let f = Fixture::new();
    let mut no_vct = f.payload(json!({}));
    no_vct.as_object_mut().unwrap().remove("vct");
    assert_eq!(
        f.check(&f.bound(&f.jwt(&no_vct), &[])).unwrap_err(),
        SdJwtError::InvalidVct { reason: "absent" }
    );
    assert_eq!(
        f.check(&f.bound(&f.jwt(&f.payload(json!({"vct": 7}))), &[]))
            .unwrap_err(),
        SdJwtError::InvalidVct {
            reason: "not a string"
        }
    );
    let mut no_iss = f.payload(json!({}));
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        f.check(&f.bound(&f.jwt(&no_iss), &[])).unwrap_err(),
        SdJwtError::MissingIssuer
    );
    for name in ["exp", "status", "vct"] {
        let value = f.payload(json!({}))[name].clone();
        let value = if value.is_null() {
            json!({"status_list": {"idx": 1, "uri": "u"}})
        } else {
            value
        };
        let d = prop("s1", name, value);
        let mut payload = f.payload(json!({"_sd": [dig(&d)]}));
        if name == "vct" {
            // keep a plaintext vct out of the way: the disclosed one would collide
            payload.as_object_mut().unwrap().remove("vct");
        } else {
            payload.as_object_mut().unwrap().remove(name);
        }
        let err = f.check(&f.bound(&f.jwt(&payload), &[enc(&d)])).unwrap_err();
        assert_eq!(err, SdJwtError::NonDisclosableClaim { name: name.into() });
    }
    // A member below a never-disclosable claim.
    let idx = prop("s7", "idx", json!(3));
    let payload = f.payload(json!({"status": {"status_list": {"_sd": [dig(&idx)], "uri": "u"}}}));
    assert_eq!(
        f.check(&f.bound(&f.jwt(&payload), &[enc(&idx)]))
            .unwrap_err(),
        SdJwtError::NonDisclosableClaim {
            name: "status".into()
        }
    );
    for (status, _why) in [
        (json!("revoked"), "not an object"),
        (
            json!({"status_list": {"idx": -1, "uri": "u"}}),
            "negative idx",
        ),
        (json!({"status_list": {"idx": 1}}), "no uri"),
    ] {
        let payload = f.payload(json!({"status": status}));
        assert!(matches!(
            f.check(&f.bound(&f.jwt(&payload), &[])).unwrap_err(),
            SdJwtError::MalformedStatus { .. }
        ));
    }
    // The plain profile does not apply SD-JWT VC rules.
    let d = prop("s1", "exp", json!(NOW + 10));
    let payload = json!({"_sd": [dig(&d)]});
    let jwt = sign_issuer_jwt(&f.issuer, Some("example+sd-jwt"), &payload);
    let plain = VerifyOptions::new(
        NOW,
        Profile::SdJwt {
            typ: "example+sd-jwt".into(),
        },
        KeyBindingPolicy::NotRequired,
    );
    let verified =
        verify_with_issuer_key(&assemble(&jwt, &[enc(&d)]), &f.issuer_jwk(), &plain).unwrap();
    assert_eq!(verified.claims["exp"], NOW + 10);
}

/// Compact-form checks: size, separators, empty components, the JWT itself.
#[test]
fn serialization_checks() {
    let f = Fixture::new();
    let jwt = f.jwt(&f.payload(json!({})));
    assert_eq!(f.check(&jwt).unwrap_err(), SdJwtError::MissingSeparator);
    assert_eq!(
        f.check_unbound(&format!("{jwt}~~")).unwrap_err(),
        SdJwtError::EmptyDisclosure { index: 0 }
    );
    assert!(matches!(
        f.check_unbound("a.b~").unwrap_err(),
        SdJwtError::IssuerJwtMalformed(JoseError::MalformedToken { .. })
    ));
    let mut small = options();
    small.max_presentation_bytes = 100;
    assert!(matches!(
        verify_with_issuer_key(&f.bound(&jwt, &[]), &f.issuer_jwk(), &small).unwrap_err(),
        SdJwtError::PresentationTooLarge { max: 100, .. }
    ));
    let array_payload = sign_issuer_jwt(&f.issuer, Some("dc+sd-jwt"), &json!([1]));
    assert!(matches!(
        verify_with_issuer_key(
            &assemble(&array_payload, &[]),
            &f.issuer_jwk(),
            &VerifyOptions::new(
                NOW,
                Profile::SdJwt {
                    typ: "dc+sd-jwt".into()
                },
                KeyBindingPolicy::NotRequired
            )
        )
        .unwrap_err(),
        SdJwtError::PayloadNotObject { .. }
    ));
}

/// Disclosures chained deeper than the nesting limit are refused, not recursed into.
#[test]
fn nesting_limit() {
    let f = Fixture::new();
    let mut disclosures = Vec::new();
    let mut digest: Option<String> = None;
    for i in 0..(MAX_NESTING_DEPTH + 2) {
        let value = match &digest {
            Some(d) => json!({"_sd": [d]}),
            None => json!(1),
        };
        let d = prop(&format!("s{i}"), "a", value);
        digest = Some(dig(&d));
        disclosures.push(enc(&d));
    }
    let payload = f.payload(json!({"_sd": [digest.unwrap()]}));
    assert_eq!(
        f.check(&f.bound(&f.jwt(&payload), &disclosures))
            .unwrap_err(),
        SdJwtError::NestingTooDeep {
            max: MAX_NESTING_DEPTH
        }
    );
}

struct FlakyLookup;

#[async_trait::async_trait]
impl IssuerKeyLookup for FlakyLookup {
    async fn issuer_key(
        &self,
        issuer: Option<&str>,
        header: &Header,
    ) -> Result<Jwk, KeyLookupError> {
        assert_eq!(issuer, Some(ISS));
        assert_eq!(header.typ.as_deref(), Some("dc+sd-jwt"));
        Err(KeyLookupError::Unavailable {
            reason: "metadata endpoint timed out".into(),
        })
    }
}

/// A lookup outage is "could not complete" (retryable), never a verdict.
#[tokio::test]
async fn key_lookup_outage_is_retryable() {
    let f = Fixture::new();
    let jwt = f.jwt(&f.payload(json!({})));
    let err = verify(&f.bound(&jwt, &[]), &FlakyLookup, &options())
        .await
        .unwrap_err();
    assert!(matches!(err, SdJwtError::IssuerKeyUnavailable { .. }));
    assert!(err.is_retryable());
    assert_eq!(err.code(), "SDJWT-008");
    // SD-JWT VC requires `iss` before any lookup happens.
    let mut no_iss = f.payload(json!({}));
    no_iss.as_object_mut().unwrap().remove("iss");
    let err = verify(&f.bound(&f.jwt(&no_iss), &[]), &FlakyLookup, &options())
        .await
        .unwrap_err();
    assert_eq!(err, SdJwtError::MissingIssuer);
}

/// A valid SD-JWT built by the builder, hostile only in its KB-JWT audience: the check that
/// some libraries skip.
#[tokio::test]
async fn builder_output_with_wrong_audience() {
    let f = Fixture::new();
    let signer = verity_jose::LocalSigner::new(
        SigningKey::from_secret_bytes(Algorithm::ES256, &f.issuer.to_secret_bytes()).unwrap(),
        "k#1",
    );
    let issued = SdJwtBuilder::sd_jwt_vc(obj(json!({"iss": ISS, "vct": VCT, "age": 40})))
        .selectively_disclosable(ClaimPath::keys(["age"]))
        .holder_key(f.holder.public_jwk())
        .sign(&signer)
        .await
        .unwrap();
    let p = SdJwt::parse(&issued.sd_jwt)
        .unwrap()
        .present(&[ClaimPath::keys(["age"])])
        .unwrap();
    let for_someone_else = p
        .with_key_binding(
            &f.holder,
            &KeyBindingClaims {
                audience: "https://other-verifier.example".into(),
                nonce: NONCE.into(),
                issued_at: NOW,
            },
        )
        .unwrap();
    assert_eq!(
        f.check(&for_someone_else).unwrap_err(),
        SdJwtError::KeyBindingAudience {
            expected: AUD.into(),
            found: "https://other-verifier.example".into()
        }
    );
}

/// Codes are stable strings and messages name the check without claim values.
#[test]
fn messages_name_the_check_not_the_value() {
    let f = Fixture::new();
    let secret = prop("s1", "ssn", json!("123-45-6789"));
    let jwt = f.jwt(&f.payload(json!({"ssn": "000", "_sd": [dig(&secret)]})));
    let err = f.check(&f.bound(&jwt, &[enc(&secret)])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ssn") && msg.contains("disclosure check failed"),
        "{msg}"
    );
    assert!(
        !msg.contains("123-45-6789") && !msg.contains("000"),
        "{msg}"
    );
    assert_eq!(err.code(), "SDJWT-020");
}
