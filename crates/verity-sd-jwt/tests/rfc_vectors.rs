//! The examples of RFC 9901 and draft-ietf-oauth-sd-jwt-vc as test vectors: every salt + claim +
//! digest the RFC lists, and every signed example presentation, verified end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::vectors::*;
use common::*;
use serde_json::{Value, json};
use verity_sd_jwt::{
    ClaimPath, Disclosure, HashAlg, KeyBindingClaims, KeyBindingPolicy, Profile, SdJwt, SdJwtError,
    StaticIssuerKeys, VerifyOptions, verify, verify_with_issuer_key,
};

const RFC_TYP: &str = "example+sd-jwt";
/// `iat` of the RFC's Key Binding JWTs.
const RFC_KB_IAT: i64 = 1_748_536_865;

fn rfc_options(key_binding: KeyBindingPolicy, now: i64) -> VerifyOptions {
    VerifyOptions::new(
        now,
        Profile::SdJwt {
            typ: RFC_TYP.into(),
        },
        key_binding,
    )
}

fn rfc_kb() -> KeyBindingPolicy {
    KeyBindingPolicy::Required {
        audience: "https://verifier.example.org".into(),
        nonce: "1234567890".into(),
    }
}

fn rfc_holder_cnf() -> Value {
    json!({"jwk": {
        "kty": "EC", "crv": "P-256",
        "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"
    }})
}

/// RFC 9901 section 4.2.1 and 4.2.3: the `family_name` Disclosure and its digest.
#[test]
fn rfc9901_4_2_3_family_name_digest() {
    let d = Disclosure::parse(
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
    )
    .unwrap();
    assert_eq!(d.salt(), "_26bc4LT-ac6q2KI6cBW5es");
    assert_eq!(d.name(), Some("family_name"));
    assert_eq!(d.value(), &json!("Möbius"));
    assert_eq!(
        d.digest(HashAlg::Sha256),
        "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    );
}

/// RFC 9901 section 4.2.1: three other encodings of the same claim are valid, decode to the same
/// triple, and (the digest being over the encoding) have different digests. Ours is the
/// "no white space" one.
#[test]
fn rfc9901_4_2_1_encoding_variants() {
    let escaped = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd";
    let compact = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd";
    let newlines = "WwoiXzI2YmM0TFQtYWM2cTJLSTZjQlc1ZXMiLAoiZmFtaWx5X25hbWUiLAoiTcO2Yml1cyIKXQ";
    let mut digests = Vec::new();
    for encoded in [escaped, compact, newlines] {
        let d = Disclosure::parse(encoded).unwrap();
        assert_eq!(
            (d.salt(), d.name(), d.value()),
            (
                "_26bc4LT-ac6q2KI6cBW5es",
                Some("family_name"),
                &json!("Möbius")
            )
        );
        digests.push(d.digest(HashAlg::Sha256));
    }
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), 3);
    let ours = Disclosure::from_parts(
        "_26bc4LT-ac6q2KI6cBW5es".into(),
        Some("family_name".into()),
        json!("Möbius"),
    )
    .unwrap();
    assert_eq!(ours.encoded(), compact);
}

/// RFC 9901 section 4.2.2 and 4.2.4.2: an array-element Disclosure and its digest.
#[test]
fn rfc9901_4_2_2_array_element_digest() {
    let d = Disclosure::parse("WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0").unwrap();
    assert!(d.is_array_element());
    assert_eq!(
        (d.salt(), d.value()),
        ("lklxF5jMYlGTPUovMNIvCA", &json!("FR"))
    );
    assert_eq!(
        d.digest(HashAlg::Sha256),
        "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"
    );
}

/// RFC 9901 section 5.1: all ten Disclosures (salt, claim, value) and their SHA-256 digests.
#[test]
fn rfc9901_5_1_disclosure_table() {
    let table: [(&str, &str, Option<&str>, Value, &str); 10] = [
        (
            "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
            "2GLC42sKQveCfGfryNRN9w",
            Some("given_name"),
            json!("John"),
            "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4",
        ),
        (
            "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd",
            "eluV5Og3gSNII8EYnsxA_A",
            Some("family_name"),
            json!("Doe"),
            "TGf4oLbgwd5JQaHyKVQZU9UdGE0w5rtDsrZzfUaomLo",
        ),
        (
            "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ",
            "6Ij7tM-a5iVPGboS5tmvVA",
            Some("email"),
            json!("johndoe@example.com"),
            "JzYjH4svliH0R3PyEMfeZu6Jt69u5qehZo7F7EPYlSE",
        ),
        (
            "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgInBob25lX251bWJlciIsICIrMS0yMDItNTU1LTAxMDEiXQ",
            "eI8ZWm9QnKPpNPeNenHdhQ",
            Some("phone_number"),
            json!("+1-202-555-0101"),
            "PorFbpKuVu6xymJagvkFsFXAbRoc2JGlAUA2BA4o7cI",
        ),
        (
            "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgInBob25lX251bWJlcl92ZXJpZmllZCIsIHRydWVd",
            "Qg_O64zqAxe412a108iroA",
            Some("phone_number_verified"),
            json!(true),
            "XQ_3kPKt1XyX7KANkqVR6yZ2Va5NrPIvPYbyMvRKBMM",
        ),
        (
            "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0",
            "AJx-095VPrpTtN4QMOqROA",
            Some("address"),
            json!({"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}),
            "XzFrzwscM6Gn6CJDc6vVK8BkMnfG8vOSKfpPIZdAfdE",
        ),
        (
            "WyJQYzMzSk0yTGNoY1VfbEhnZ3ZfdWZRIiwgImJpcnRoZGF0ZSIsICIxOTQwLTAxLTAxIl0",
            "Pc33JM2LchcU_lHggv_ufQ",
            Some("birthdate"),
            json!("1940-01-01"),
            "gbOsI4Edq2x2Kw-w5wPEzakob9hV1cRD0ATN3oQL9JM",
        ),
        (
            "WyJHMDJOU3JRZmpGWFE3SW8wOXN5YWpBIiwgInVwZGF0ZWRfYXQiLCAxNTcwMDAwMDAwXQ",
            "G02NSrQfjFXQ7Io09syajA",
            Some("updated_at"),
            json!(1570000000),
            "CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI",
        ),
        (
            "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0",
            "lklxF5jMYlGTPUovMNIvCA",
            None,
            json!("US"),
            "pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo",
        ),
        (
            "WyJuUHVvUW5rUkZxM0JJZUFtN0FuWEZBIiwgIkRFIl0",
            "nPuoQnkRFq3BIeAm7AnXFA",
            None,
            json!("DE"),
            "7Cf6JkPudry3lcbwHgeZ8khAv1U1OSlerP0VkBJrWZ0",
        ),
    ];
    for (encoded, salt, name, value, digest) in table {
        let d = Disclosure::parse(encoded).unwrap();
        assert_eq!((d.salt(), d.name(), d.value()), (salt, name, &value));
        assert_eq!(d.digest(HashAlg::Sha256), digest, "{name:?}");
    }
}

fn rfc9901_5_expected_all_claims() -> Value {
    json!({
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "sub": "user_42",
        "given_name": "John",
        "family_name": "Doe",
        "email": "johndoe@example.com",
        "phone_number": "+1-202-555-0101",
        "phone_number_verified": true,
        "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"},
        "birthdate": "1940-01-01",
        "updated_at": 1570000000,
        "nationalities": ["US", "DE"],
        "cnf": rfc_holder_cnf()
    })
}

/// RFC 9901 section 5.1: the Holder reads the issued SD-JWT (section 7.2) and checks the
/// Issuer's signature with the A.5 key.
#[test]
fn rfc9901_5_1_issued_sd_jwt_as_holder() {
    let sd_jwt = SdJwt::parse(RFC9901_S5_ISSUED).unwrap();
    assert_eq!(
        Value::Object(sd_jwt.claims().clone()),
        rfc9901_5_expected_all_claims()
    );
    assert_eq!(sd_jwt.disclosures().count(), 10);
    assert_eq!(sd_jwt.hash_alg(), HashAlg::Sha256);
    assert_eq!(sd_jwt.holder_key().unwrap(), &rfc_holder_key().public_jwk());
    let checked = verify_with_issuer_key(
        RFC9901_S5_ISSUED,
        &rfc_issuer_jwk(),
        &rfc_options(KeyBindingPolicy::NotRequired, 1_700_000_000),
    )
    .unwrap();
    assert_eq!(
        Value::Object(checked.claims),
        rfc9901_5_expected_all_claims()
    );
    assert_eq!(checked.disclosed.len(), 10);
    assert_eq!(
        checked.disclosed[8],
        ClaimPath::keys(["nationalities"]).index(0)
    );
}

/// RFC 9901 section 5.2: the example SD-JWT+KB verifies (issuer signature, four Disclosures,
/// KB-JWT by the `cnf` key with the RFC's aud, nonce and sd_hash) to the RFC's Processed SD-JWT
/// Payload.
#[test]
fn rfc9901_5_2_presentation_verifies() {
    let verified = verify_with_issuer_key(
        RFC9901_S5_PRESENTATION,
        &rfc_issuer_jwk(),
        &rfc_options(rfc_kb(), RFC_KB_IAT + 10),
    )
    .unwrap();
    let expected = json!({
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "sub": "user_42",
        "nationalities": ["US"],
        "cnf": rfc_holder_cnf(),
        "family_name": "Doe",
        "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"},
        "given_name": "John"
    });
    assert_eq!(Value::Object(verified.claims.clone()), expected);
    let kb = verified.key_binding.unwrap();
    assert_eq!(kb.audience, "https://verifier.example.org");
    assert_eq!(kb.issued_at, RFC_KB_IAT);
    assert_eq!(
        verified.issuer.as_deref(),
        Some("https://issuer.example.com")
    );
    assert_eq!(verified.holder_key.unwrap(), rfc_holder_key().public_jwk());
    assert_eq!(verified.cnf.unwrap(), rfc_holder_cnf());
}

/// RFC 9901 section 5.2 through the async lookup seam.
#[tokio::test]
async fn rfc9901_5_2_presentation_verifies_with_key_lookup() {
    let keys = StaticIssuerKeys::new().with_key("https://issuer.example.com", rfc_issuer_jwk());
    let verified = verify(
        RFC9901_S5_PRESENTATION,
        &keys,
        &rfc_options(rfc_kb(), RFC_KB_IAT),
    )
    .await
    .unwrap();
    assert_eq!(verified.claims["given_name"], "John");
    let unknown = StaticIssuerKeys::new().with_key("https://other.example", rfc_issuer_jwk());
    let err = verify(
        RFC9901_S5_PRESENTATION,
        &unknown,
        &rfc_options(rfc_kb(), RFC_KB_IAT),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SdJwtError::IssuerKeyNotFound { .. }), "{err}");
    assert!(!err.is_retryable());
}

/// RFC 9901 section 5.2: the same presentation with the RFC's time-sensitive KB-JWT is refused
/// once its `iat` is out of the freshness window, and for another verifier or nonce.
#[test]
fn rfc9901_5_2_presentation_is_bound() {
    let iss = rfc_issuer_jwk();
    let stale = verify_with_issuer_key(
        RFC9901_S5_PRESENTATION,
        &iss,
        &rfc_options(rfc_kb(), RFC_KB_IAT + 3600),
    );
    assert!(matches!(stale, Err(SdJwtError::KeyBindingStale { .. })));
    let other_aud = KeyBindingPolicy::Required {
        audience: "https://other.example.org".into(),
        nonce: "1234567890".into(),
    };
    assert!(matches!(
        verify_with_issuer_key(
            RFC9901_S5_PRESENTATION,
            &iss,
            &rfc_options(other_aud, RFC_KB_IAT)
        ),
        Err(SdJwtError::KeyBindingAudience { .. })
    ));
    let other_nonce = KeyBindingPolicy::Required {
        audience: "https://verifier.example.org".into(),
        nonce: "0987654321".into(),
    };
    assert_eq!(
        verify_with_issuer_key(
            RFC9901_S5_PRESENTATION,
            &iss,
            &rfc_options(other_nonce, RFC_KB_IAT)
        )
        .unwrap_err(),
        SdJwtError::KeyBindingNonce
    );
    // And a bare-SD-JWT verifier must refuse an SD-JWT+KB (section 4).
    assert_eq!(
        verify_with_issuer_key(
            RFC9901_S5_PRESENTATION,
            &iss,
            &rfc_options(KeyBindingPolicy::NotRequired, RFC_KB_IAT)
        )
        .unwrap_err(),
        SdJwtError::UnexpectedKeyBinding
    );
}

/// RFC 9901 section 5: the Holder makes its own presentation of the issued SD-JWT with the
/// example holder key; it verifies to the same claims as the RFC's.
#[test]
fn rfc9901_5_holder_presents_and_binds() {
    let sd_jwt = SdJwt::parse(RFC9901_S5_ISSUED).unwrap();
    let presentation = sd_jwt
        .present(&[
            ClaimPath::keys(["given_name"]),
            ClaimPath::keys(["family_name"]),
            ClaimPath::keys(["address"]),
            ClaimPath::keys(["nationalities"]).index(0),
        ])
        .unwrap();
    assert_eq!(presentation.as_str().matches('~').count(), 5);
    let now = 1_750_000_000;
    let sd_jwt_kb = presentation
        .with_key_binding(
            &rfc_holder_key(),
            &KeyBindingClaims {
                audience: "https://verifier.example.org".into(),
                nonce: "1234567890".into(),
                issued_at: now,
            },
        )
        .unwrap();
    let mine =
        verify_with_issuer_key(&sd_jwt_kb, &rfc_issuer_jwk(), &rfc_options(rfc_kb(), now)).unwrap();
    let theirs = verify_with_issuer_key(
        RFC9901_S5_PRESENTATION,
        &rfc_issuer_jwk(),
        &rfc_options(rfc_kb(), RFC_KB_IAT),
    )
    .unwrap();
    assert_eq!(mine.claims, theirs.claims);
}

/// RFC 9901 Appendix A.1: structured `address` with decoy digests at both levels; only `region`
/// and `country` are disclosed.
#[test]
fn rfc9901_a1_structured_with_decoys() {
    let verified = verify_with_issuer_key(
        RFC9901_A1_PRESENTATION,
        &rfc_issuer_jwk(),
        &rfc_options(KeyBindingPolicy::NotRequired, 1_700_000_000),
    )
    .unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "iss": "https://issuer.example.com",
            "iat": 1683000000,
            "exp": 1883000000,
            "address": {"region": "港区", "country": "JP"}
        })
    );
    assert_eq!(
        verified.disclosed,
        [
            ClaimPath::keys(["address", "region"]),
            ClaimPath::keys(["address", "country"])
        ]
    );
}

/// RFC 9901 Appendix A.1: the decoy digests listed are in the payload and match no Disclosure.
#[test]
fn rfc9901_a1_decoys_are_in_the_payload() {
    let jwt = RFC9901_A1_PRESENTATION.split('~').next().unwrap();
    let payload: Value = serde_json::from_slice(&unb64(jwt.split('.').nth(1).unwrap())).unwrap();
    let all: Vec<&str> = payload["_sd"]
        .as_array()
        .unwrap()
        .iter()
        .chain(payload["address"]["_sd"].as_array().unwrap())
        .map(|d| d.as_str().unwrap())
        .collect();
    for decoy in [
        "AzLlFobkJ2xiaupREPyoJz-9-NSldB6Cgjr7fUyoHzg",
        "cPYJHIZ8Vu-f9CCyVub2UfgEk8jvvXezwK1p_JneeXQ",
        "glT3hrSU7fSWgwF5UDZmWwBTw32gnUldIhi8hGVCaV4",
        "b2Dkw0jcIF9rGg8_PF8ZcvncW7zwZj5ryBWvXfrpzek",
        "fyGp0WTwwPv2JDQln1lSiaeobZsMWA10bQ5989-9DTs",
        "Y34zmIo0QLLOtdMpXGwjBgLvr17yEhhYT0FGofR-aIE",
    ] {
        assert!(all.contains(&decoy));
    }
    // The `_sd` arrays are sorted, as the RFC recommends.
    let mut sorted = payload["_sd"].as_array().unwrap().clone();
    sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(&sorted, payload["_sd"].as_array().unwrap());
}

/// RFC 9901 Appendix A.2: Disclosures inside array elements inside Disclosures.
#[test]
fn rfc9901_a2_complex_structured() {
    let verified = verify_with_issuer_key(
        RFC9901_A2_PRESENTATION,
        &rfc_issuer_jwk(),
        &rfc_options(KeyBindingPolicy::NotRequired, 1_700_000_000),
    )
    .unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "iss": "https://issuer.example.com",
            "iat": 1683000000,
            "exp": 1883000000,
            "verified_claims": {
                "verification": {
                    "trust_framework": "de_aml",
                    "evidence": [{"method": "pipp"}],
                    "time": "2012-04-23T18:25Z"
                },
                "claims": {
                    "given_name": "Max",
                    "family_name": "Müller",
                    "address": {
                        "locality": "Maxstadt",
                        "postal_code": "12344",
                        "country": "DE",
                        "street_address": "Weidenstraße 22"
                    }
                }
            }
        })
    );
}

/// RFC 9901 Appendix A.3: an SD-JWT VC (typ `dc+sd-jwt`) with recursive Disclosures, presented
/// with a KB-JWT; verified under the SD-JWT VC profile.
#[test]
fn rfc9901_a3_sd_jwt_vc_presentation() {
    let options = VerifyOptions::sd_jwt_vc(RFC_KB_IAT, rfc_kb());
    let verified =
        verify_with_issuer_key(RFC9901_A3_PRESENTATION, &rfc_issuer_jwk(), &options).unwrap();
    assert_eq!(
        Value::Object(verified.claims.clone()),
        json!({
            "iss": "https://pid-issuer.bund.de.example",
            "iat": 1683000000,
            "exp": 1883000000,
            "vct": "urn:eudi:pid:de:1",
            "cnf": rfc_holder_cnf(),
            "age_equal_or_over": {"18": true},
            "nationalities": ["DE"]
        })
    );
    assert_eq!(verified.vct.as_deref(), Some("urn:eudi:pid:de:1"));
    assert_eq!(
        verified.issuer.as_deref(),
        Some("https://pid-issuer.bund.de.example")
    );
    assert!(verified.status.is_none());
}

/// RFC 9901 Appendix A.3: the Holder's view of the issued PID, and a presentation of only
/// `place_of_birth.locality` (which needs the recursive `place_of_birth` Disclosure too).
#[test]
fn rfc9901_a3_holder_selects_a_nested_claim() {
    let sd_jwt = SdJwt::parse(RFC9901_A3_ISSUED).unwrap();
    assert_eq!(sd_jwt.claims()["address"]["locality"], "Köln");
    assert_eq!(sd_jwt.claims()["age_equal_or_over"]["65"], false);
    let presentation = sd_jwt
        .present(&[ClaimPath::keys(["place_of_birth", "locality"])])
        .unwrap();
    let verified = verify_with_issuer_key(
        presentation.as_str(),
        &rfc_issuer_jwk(),
        &VerifyOptions::sd_jwt_vc(1_700_000_000, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(
        verified.claims["place_of_birth"],
        json!({"locality": "Berlin"})
    );
    assert!(!verified.claims.contains_key("given_name"));
    assert!(!verified.claims.contains_key("address"));
    assert_eq!(verified.disclosed.len(), 2);
}

/// RFC 9901 Appendix A.4: W3C VCDM payload with a KB-JWT.
#[test]
fn rfc9901_a4_w3c_vc_presentation() {
    let verified = verify_with_issuer_key(
        RFC9901_A4_PRESENTATION,
        &rfc_issuer_jwk(),
        &rfc_options(rfc_kb(), RFC_KB_IAT),
    )
    .unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "@context": ["https://www.w3.org/2018/credentials/v1", "https://w3id.org/vaccination/v1"],
            "type": ["VerifiableCredential", "VaccinationCertificate"],
            "issuer": "https://example.com/issuer",
            "issuanceDate": "2023-02-09T11:01:59Z",
            "expirationDate": "2028-02-08T11:01:59Z",
            "name": "COVID-19 Vaccination Certificate",
            "description": "COVID-19 Vaccination Certificate",
            "credentialSubject": {
                "vaccine": {
                    "type": "Vaccine",
                    "atcCode": "J07BX03",
                    "medicinalProductName": "COVID-19 Vaccine Moderna"
                },
                "recipient": {"type": "VaccineRecipient"},
                "type": "VaccinationEvent",
                "order": "3/3",
                "dateOfVaccination": "2021-06-23T13:40:12Z"
            },
            "cnf": rfc_holder_cnf()
        })
    );
}

/// RFC 9901 section 6.2 and 6.3: the structured and recursive `address` Disclosures (RFC salts
/// and digests), signed here with the example issuer key since the RFC shows no JWT for them.
#[test]
fn rfc9901_6_3_recursive_disclosures() {
    let street = "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgInN0cmVldF9hZGRyZXNzIiwgIlNjaHVsc3RyLiAxMiJd";
    let locality = "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImxvY2FsaXR5IiwgIlNjaHVscGZvcnRhIl0";
    let region = "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgInJlZ2lvbiIsICJTYWNoc2VuLUFuaGFsdCJd";
    let country = "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgImNvdW50cnkiLCAiREUiXQ";
    let address = concat!(
        "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgImFkZHJlc3MiLCB7Il9zZCI6IFsiNnZoOWJxLXpTNEdLTV83R3Bn",
        "Z1ZiWXp6dTZvT0dYcm1OVkdQSFA3NVVkMCIsICI5Z2pWdVh0ZEZST0NnUnJ0TmNHVVhtRjY1cmRlemlfNkVyX2o3",
        "NmttWXlNIiwgIktVUkRQaDRaQzE5LTN0aXotRGYzOVY4ZWlkeTFvVjNhM0gxRGEyTjBnODgiLCAiV045cjlkQ0JK",
        "OEhUQ3NTMmpLQVN4VGpFeVc1bTV4NjVfWl8ycm8yamZYTSJdfV0"
    );
    for (d, digest) in [
        (street, "9gjVuXtdFROCgRrtNcGUXmF65rdezi_6Er_j76kmYyM"),
        (locality, "6vh9bq-zS4GKM_7GpggVbYzzu6oOGXrmNVGPHP75Ud0"),
        (region, "KURDPh4ZC19-3tiz-Df39V8eidy1oV3a3H1Da2N0g88"),
        (country, "WN9r9dCBJ8HTCsS2jKASxTjEyW5m5x65_Z_2ro2jfXM"),
        (address, "HvrKX6fPV0v9K_yCVFBiLFHsMaxcD_114Em6VT8x1lg"),
    ] {
        assert_eq!(
            Disclosure::parse(d).unwrap().digest(HashAlg::Sha256),
            digest
        );
    }
    // Section 6.3 payload.
    let payload = json!({
        "_sd": ["HvrKX6fPV0v9K_yCVFBiLFHsMaxcD_114Em6VT8x1lg"],
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "sub": "6c5c0a49-b589-431d-bae7-219122a9ec2c",
        "_sd_alg": "sha-256"
    });
    let jwt = sign_issuer_jwt(&rfc_issuer_key(), Some(RFC_TYP), &payload);
    let all: Vec<String> = [street, locality, region, country, address]
        .map(str::to_owned)
        .to_vec();
    let issued = assemble(&jwt, &all);
    let options = rfc_options(KeyBindingPolicy::NotRequired, 1_700_000_000);
    let verified = verify_with_issuer_key(&issued, &rfc_issuer_jwk(), &options).unwrap();
    assert_eq!(
        verified.claims["address"],
        json!({"street_address": "Schulstr. 12", "locality": "Schulpforta", "region": "Sachsen-Anhalt", "country": "DE"})
    );
    // The Holder discloses only the locality: the address Disclosure comes along, the others
    // stay hidden.
    let holder = SdJwt::parse(&issued).unwrap();
    let p = holder
        .present(&[ClaimPath::keys(["address", "locality"])])
        .unwrap();
    assert_eq!(
        p.as_str(),
        assemble(&jwt, &[locality.into(), address.into()])
    );
    let verified = verify_with_issuer_key(p.as_str(), &rfc_issuer_jwk(), &options).unwrap();
    assert_eq!(
        verified.claims["address"],
        json!({"locality": "Schulpforta"})
    );
    // A sub-claim Disclosure without its parent connects to nothing: rejected (section 4.2.6).
    let orphan = assemble(&jwt, &[locality.into()]);
    assert_eq!(
        verify_with_issuer_key(&orphan, &rfc_issuer_jwk(), &options).unwrap_err(),
        SdJwtError::UnreferencedDisclosure {
            index: 0,
            digest: "6vh9bq-zS4GKM_7GpggVbYzzu6oOGXrmNVGPHP75Ud0".into()
        }
    );
}

/// draft-ietf-oauth-sd-jwt-vc section 2.3.1 (Figure 7): the issued SD-JWT VC, as a Holder.
#[test]
fn sd_jwt_vc_figure_7_issued() {
    let verified = verify_with_issuer_key(
        SD_JWT_VC_FIG7_ISSUED,
        &rfc_issuer_jwk(),
        &VerifyOptions::sd_jwt_vc(1_700_000_000, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(
        verified.header.kid.as_deref(),
        Some("doc-signer-05-25-2022")
    );
    assert_eq!(
        verified.vct.as_deref(),
        Some("https://credentials.example.com/identity_credential")
    );
    assert_eq!(verified.claims["is_over_21"], true);
    assert_eq!(verified.disclosed.len(), 9);
}

/// draft-ietf-oauth-sd-jwt-vc section 2.3.2 (Figures 8 and 9): SD-JWT+KB disclosing `address`
/// and `is_over_65`.
#[test]
fn sd_jwt_vc_figure_8_presentation() {
    let options = VerifyOptions::sd_jwt_vc(
        1_787_325_881,
        KeyBindingPolicy::Required {
            audience: "https://example.com/verifier".into(),
            nonce: "1234567890".into(),
        },
    );
    let verified =
        verify_with_issuer_key(SD_JWT_VC_FIG8_PRESENTATION, &rfc_issuer_jwk(), &options).unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "iss": "https://example.com/issuer",
            "iat": 1683000000,
            "exp": 1883000000,
            "vct": "https://credentials.example.com/identity_credential",
            "cnf": rfc_holder_cnf(),
            "is_over_65": true,
            "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}
        })
    );
}

/// draft-ietf-oauth-sd-jwt-vc section 2.3.2 (Figures 10 and 11): no KB-JWT, no `cnf`.
#[test]
fn sd_jwt_vc_figure_10_presentation_without_key_binding() {
    let options = VerifyOptions::sd_jwt_vc(1_700_000_000, KeyBindingPolicy::NotRequired);
    let verified =
        verify_with_issuer_key(SD_JWT_VC_FIG10_PRESENTATION, &rfc_issuer_jwk(), &options).unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "iss": "https://example.com/issuer",
            "iat": 1683000000,
            "exp": 1883000000,
            "vct": "https://credentials.example.com/identity_credential",
            "is_over_65": true,
            "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}
        })
    );
    // Requiring key binding: a bare SD-JWT is refused before anything else (section 7.3 step 2).
    let required = VerifyOptions::sd_jwt_vc(
        1_700_000_000,
        KeyBindingPolicy::Required {
            audience: "https://example.com/verifier".into(),
            nonce: "1234567890".into(),
        },
    );
    assert_eq!(
        verify_with_issuer_key(SD_JWT_VC_FIG10_PRESENTATION, &rfc_issuer_jwk(), &required)
            .unwrap_err(),
        SdJwtError::KeyBindingMissing
    );
}

/// The RFC 9901 examples are typed `example+sd-jwt`: the SD-JWT VC profile refuses them.
#[test]
fn rfc_examples_are_not_sd_jwt_vcs() {
    let err = verify_with_issuer_key(
        RFC9901_A1_PRESENTATION,
        &rfc_issuer_jwk(),
        &VerifyOptions::sd_jwt_vc(1_700_000_000, KeyBindingPolicy::NotRequired),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SdJwtError::IssuerTyp {
            expected: "\"dc+sd-jwt\"".into(),
            found: Some("example+sd-jwt".into())
        }
    );
}
