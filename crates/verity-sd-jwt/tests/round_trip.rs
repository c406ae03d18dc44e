//! Issuer -> Holder -> Verifier round trips with Verity's own keys: ES256, EdDSA and ES256K,
//! nested, array and recursive Disclosures, decoys, and selective presentation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rand_core::{CryptoRng, RngCore};
use serde_json::{Value, json};
use verity_jose::{Algorithm, LocalSigner, SigningKey};
use verity_sd_jwt::{
    ClaimPath, HashAlg, KeyBindingClaims, KeyBindingPolicy, Profile, SdJwt, SdJwtBuilder,
    SdJwtError, StaticIssuerKeys, StatusListRef, VerifyOptions, verify, verify_with_issuer_key,
};

const ISSUER: &str = "https://issuer.example";
const AUD: &str = "https://verifier.example";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_760_000_000;

fn credential_claims() -> Value {
    json!({
        "iss": ISSUER,
        "iat": NOW - 100,
        "exp": NOW + 86_400,
        "vct": "https://credentials.example/identity",
        "given_name": "Erika",
        "family_name": "Mustermann",
        "email": "erika@example.com",
        "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
        "nationalities": ["DE", "FR", "US"],
        "status": {"status_list": {"idx": 42, "uri": "https://issuer.example/status/1"}}
    })
}

fn builder(holder: &SigningKey) -> SdJwtBuilder {
    SdJwtBuilder::sd_jwt_vc(obj(credential_claims()))
        .selectively_disclosable(ClaimPath::keys(["given_name"]))
        .selectively_disclosable(ClaimPath::keys(["family_name"]))
        .selectively_disclosable(ClaimPath::keys(["email"]))
        // Recursive: `address` itself and two of its members.
        .selectively_disclosable(ClaimPath::keys(["address"]))
        .selectively_disclosable(ClaimPath::keys(["address", "street_address"]))
        .selectively_disclosable(ClaimPath::keys(["address", "locality"]))
        .selectively_disclosable(ClaimPath::keys(["nationalities"]).all_elements())
        .decoys(ClaimPath::root(), 3)
        .decoys(ClaimPath::keys(["nationalities"]), 2)
        .holder_key(holder.public_jwk())
}

fn kb_policy() -> KeyBindingPolicy {
    KeyBindingPolicy::Required {
        audience: AUD.into(),
        nonce: NONCE.into(),
    }
}

fn kb_claims_now() -> KeyBindingClaims {
    KeyBindingClaims {
        audience: AUD.into(),
        nonce: NONCE.into(),
        issued_at: NOW,
    }
}

/// For each algorithm: issue, read as Holder, present three claims with a KB-JWT, verify.
#[tokio::test]
async fn round_trip_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let signer = local_signer(alg);
        let holder = SigningKey::generate(alg).unwrap();
        let issued = builder(&holder).sign(&signer).await.unwrap();
        assert_eq!(issued.kid, "did:web:issuer.example#key-1");
        assert_eq!(issued.disclosed.len(), 9, "{alg}");

        // Holder: every claim is recoverable.
        let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
        let mut expected = credential_claims();
        expected["cnf"] = cnf(&holder);
        assert_eq!(Value::Object(sd_jwt.claims().clone()), expected, "{alg}");
        assert_eq!(sd_jwt.header().typ.as_deref(), Some("dc+sd-jwt"));

        // Holder checks the issuer's signature on what it received.
        verify_with_issuer_key(
            &issued.sd_jwt,
            &signer.public_jwk(),
            &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
        )
        .unwrap();

        let presentation = sd_jwt
            .present(&[
                ClaimPath::keys(["given_name"]),
                ClaimPath::keys(["address", "locality"]),
                ClaimPath::keys(["nationalities"]).index(1),
            ])
            .unwrap();
        let sd_jwt_kb = presentation
            .with_key_binding(&holder, &kb_claims_now())
            .unwrap();

        let keys = StaticIssuerKeys::new().with_key(ISSUER, signer.public_jwk());
        let verified = verify(
            &sd_jwt_kb,
            &keys,
            &VerifyOptions::sd_jwt_vc(NOW, kb_policy()),
        )
        .await
        .unwrap();
        assert_eq!(
            Value::Object(verified.claims.clone()),
            json!({
                "iss": ISSUER,
                "iat": NOW - 100,
                "exp": NOW + 86_400,
                "vct": "https://credentials.example/identity",
                "given_name": "Erika",
                "address": {"locality": "Köln", "country": "DE"},
                "nationalities": ["FR"],
                "status": {"status_list": {"idx": 42, "uri": "https://issuer.example/status/1"}},
                "cnf": cnf(&holder)
            }),
            "{alg}"
        );
        assert_eq!(verified.issuer.as_deref(), Some(ISSUER));
        assert_eq!(
            verified.vct.as_deref(),
            Some("https://credentials.example/identity")
        );
        assert_eq!(
            verified.status_list,
            Some(StatusListRef {
                idx: 42,
                uri: "https://issuer.example/status/1".into()
            })
        );
        assert_eq!(verified.holder_key.as_ref(), Some(&holder.public_jwk()));
        let kb = verified.key_binding.as_ref().unwrap();
        assert_eq!((kb.audience.as_str(), kb.issued_at), (AUD, NOW));
        assert_eq!(kb.header.typ.as_deref(), Some("kb+jwt"));
        assert_eq!(
            verified.header.kid.as_deref(),
            Some("did:web:issuer.example#key-1")
        );
        // Paths in the verifier's view (order follows the presentation).
        let mut disclosed: Vec<String> = verified.disclosed.iter().map(|p| p.to_string()).collect();
        disclosed.sort();
        assert_eq!(
            disclosed,
            [
                r#"["address","locality"]"#,
                r#"["address"]"#,
                r#"["given_name"]"#,
                r#"["nationalities",0]"#,
            ]
        );
    }
}

/// Selective disclosure: undisclosed claims are absent from the presentation itself, not just
/// from the verifier's output.
#[tokio::test]
async fn only_the_chosen_claims_are_presented() {
    let signer = local_signer(Algorithm::EdDSA);
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let issued = builder(&holder).sign(&signer).await.unwrap();
    let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
    let presentation = sd_jwt.present(&[ClaimPath::keys(["family_name"])]).unwrap();
    // One Disclosure travels; nothing of the others, not even the issuer JWT's digests' preimages.
    assert_eq!(presentation.as_str().matches('~').count(), 2);
    for hidden in ["Erika", "erika@example.com", "Köln", "Heidestra", "\"FR\""] {
        let decoded: String = presentation
            .as_str()
            .split(['~', '.'])
            .filter_map(|part| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).ok()
            })
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect();
        assert!(!decoded.contains(hidden), "{hidden} leaked");
    }
    let verified = verify_with_issuer_key(
        presentation.as_str(),
        &signer.public_jwk(),
        &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(verified.claims["family_name"], "Mustermann");
    for absent in ["given_name", "email", "address"] {
        assert!(!verified.claims.contains_key(absent), "{absent}");
    }
    // Decoys and undisclosed elements vanish: an empty array remains.
    assert_eq!(verified.claims["nationalities"], json!([]));

    // Presenting nothing selectively disclosable.
    let nothing = sd_jwt.present(&[]).unwrap();
    let verified = verify_with_issuer_key(
        nothing.as_str(),
        &signer.public_jwk(),
        &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert!(verified.disclosed.is_empty());
    assert!(!verified.claims.contains_key("family_name"));

    // Presenting everything.
    let all = sd_jwt.present_all();
    assert_eq!(all.as_str(), issued.sd_jwt);
    // The root path selects every Disclosure too.
    assert_eq!(
        sd_jwt.present(&[ClaimPath::root()]).unwrap().as_str(),
        issued.sd_jwt
    );
}

/// Selecting a parent reveals everything below it; a wildcard selects every element.
#[tokio::test]
async fn selecting_a_parent_or_a_wildcard() {
    let signer = local_signer(Algorithm::ES256);
    let holder = SigningKey::generate(Algorithm::ES256).unwrap();
    let issued = builder(&holder).sign(&signer).await.unwrap();
    let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
    let p = sd_jwt
        .present(&[
            ClaimPath::keys(["address"]),
            ClaimPath::keys(["nationalities"]).all_elements(),
        ])
        .unwrap();
    let verified = verify_with_issuer_key(
        p.as_str(),
        &signer.public_jwk(),
        &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(verified.claims["address"], credential_claims()["address"]);
    assert_eq!(verified.claims["nationalities"], json!(["DE", "FR", "US"]));
    assert!(!verified.claims.contains_key("email"));
    // Unknown paths are an error, not a silent empty presentation.
    for bad in [
        ClaimPath::keys(["birthdate"]),
        ClaimPath::keys(["nationalities"]).index(3),
        ClaimPath::keys(["address", "region"]),
        ClaimPath::keys(["given_name", "x"]),
    ] {
        assert!(matches!(
            sd_jwt.present(&[bad]),
            Err(SdJwtError::UnknownClaimPath { .. })
        ));
    }
}

/// The prepared payload has the RFC 9901 shape: sorted `_sd`, `_sd_alg`, `...` elements with
/// decoys, `cnf.jwk`, no plaintext of any disclosable claim.
#[test]
fn prepared_payload_shape() {
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let prepared = builder(&holder).prepare().unwrap();
    let payload = Value::Object(prepared.payload().clone());
    assert_eq!(payload["_sd_alg"], "sha-256");
    let sd: Vec<&str> = payload["_sd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(sd.len(), 4 + 3); // given_name, family_name, email, address + 3 decoys
    assert!(sd.windows(2).all(|w| w[0] <= w[1]));
    let nationalities = payload["nationalities"].as_array().unwrap();
    assert_eq!(nationalities.len(), 3 + 2);
    for element in nationalities {
        let element = element.as_object().unwrap();
        assert_eq!(element.len(), 1);
        assert!(element["..."].is_string());
    }
    for gone in ["given_name", "family_name", "email", "address"] {
        assert!(payload.get(gone).is_none());
    }
    assert_eq!(payload["cnf"], cnf(&holder));
    assert_eq!(payload["vct"], "https://credentials.example/identity");
    // Disclosures: innermost first (address members before address).
    let paths: Vec<String> = prepared
        .disclosures()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    let pos = |s: &str| paths.iter().position(|p| p == s).unwrap();
    assert!(pos(r#"["address","locality"]"#) < pos(r#"["address"]"#));
    let (_, address) = &prepared.disclosures()[pos(r#"["address"]"#)];
    assert_eq!(address.value()["country"], "DE");
    assert_eq!(address.value()["_sd"].as_array().unwrap().len(), 2);
}

/// A deterministic RNG for the seam test (never for production: not a CSPRNG).
struct CountingRng(u8);

impl RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for CountingRng {}

/// The RNG seam: salts, decoys and decoy positions all come from the supplied generator.
#[test]
fn salts_and_decoys_come_from_the_supplied_rng() {
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let a = builder(&holder)
        .prepare_with_rng(&mut CountingRng(0))
        .unwrap();
    let b = builder(&holder)
        .prepare_with_rng(&mut CountingRng(0))
        .unwrap();
    assert_eq!(a.payload(), b.payload());
    assert_eq!(a.disclosures(), b.disclosures());
    let first_salt = a.disclosures()[0].1.salt();
    assert_eq!(unb64(first_salt), (1u8..=16).collect::<Vec<_>>());
    let c = builder(&holder).prepare().unwrap();
    assert_ne!(a.payload(), c.payload());
}

/// KB-JWT through the `Signer` seam, and a non-default digest algorithm.
#[tokio::test]
async fn key_binding_through_a_signer_and_sha512() {
    let signer = local_signer(Algorithm::ES256);
    let holder = LocalSigner::new(SigningKey::generate(Algorithm::ES256K).unwrap(), "holder#1");
    let issued = builder(&SigningKey::generate(Algorithm::EdDSA).unwrap())
        .hash_alg(HashAlg::Sha512)
        .prepare()
        .unwrap();
    assert_eq!(issued.payload()["_sd_alg"], "sha-512");
    drop(issued);
    let issued = SdJwtBuilder::sd_jwt_vc(obj(credential_claims()))
        .selectively_disclosable(ClaimPath::keys(["email"]))
        .hash_alg(HashAlg::Sha512)
        .holder_key(holder.public_jwk())
        .sign(&signer)
        .await
        .unwrap();
    let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
    assert_eq!(sd_jwt.hash_alg(), HashAlg::Sha512);
    let p = sd_jwt.present(&[ClaimPath::keys(["email"])]).unwrap();
    assert_eq!(p.sd_hash().len(), 86);
    let sd_jwt_kb = p
        .with_key_binding_signer(&holder, &kb_claims_now())
        .await
        .unwrap();
    let verified = verify_with_issuer_key(
        &sd_jwt_kb,
        &signer.public_jwk(),
        &VerifyOptions::sd_jwt_vc(NOW, kb_policy()),
    )
    .unwrap();
    assert_eq!(verified.hash_alg, HashAlg::Sha512);
    assert_eq!(verified.claims["email"], "erika@example.com");
    assert_eq!(
        verified.key_binding.unwrap().header.kid.as_deref(),
        Some("holder#1")
    );
}

/// Array elements disclosable one by one (not all), objects inside arrays, a plain SD-JWT with
/// its own `typ`.
#[tokio::test]
async fn array_elements_and_objects_inside_arrays() {
    let signer = local_signer(Algorithm::EdDSA);
    let claims = json!({
        "iss": ISSUER,
        "degrees": [
            {"type": "BachelorDegree", "name": "Physics", "year": 2001},
            {"type": "MasterDegree", "name": "Philosophy", "year": 2004}
        ],
        "tags": ["a", "b", "c"]
    });
    let issued = SdJwtBuilder::new(obj(claims), "example+sd-jwt")
        .selectively_disclosable(ClaimPath::keys(["degrees"]).index(1))
        .selectively_disclosable(ClaimPath::keys(["degrees"]).all_elements().key("year"))
        .selectively_disclosable(ClaimPath::keys(["tags"]).index(0))
        .sign(&signer)
        .await
        .unwrap();
    let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
    assert_eq!(sd_jwt.disclosures().count(), 4);
    let options = VerifyOptions::new(
        NOW,
        Profile::SdJwt {
            typ: "example+sd-jwt".into(),
        },
        KeyBindingPolicy::NotRequired,
    );
    let p = sd_jwt
        .present(&[ClaimPath::keys(["degrees"]).index(1).key("name")])
        .unwrap();
    let verified = verify_with_issuer_key(p.as_str(), &signer.public_jwk(), &options).unwrap();
    assert_eq!(
        verified.claims["degrees"],
        json!([
            {"type": "BachelorDegree", "name": "Physics"},
            {"type": "MasterDegree", "name": "Philosophy"}
        ])
    );
    assert_eq!(verified.claims["tags"], json!(["b", "c"]));
    let p = sd_jwt
        .present(&[ClaimPath::keys(["degrees"]).all_elements().key("year")])
        .unwrap();
    let verified = verify_with_issuer_key(p.as_str(), &signer.public_jwk(), &options).unwrap();
    assert_eq!(verified.claims["degrees"][0]["year"], 2001);
    assert_eq!(verified.claims["degrees"][1]["year"], 2004);
}

/// An SD-JWT VC without any selectively disclosable claim has no `_sd` and no `_sd_alg`
/// (draft-ietf-oauth-sd-jwt-vc section 2.2.2.5).
#[tokio::test]
async fn sd_jwt_vc_without_disclosures() {
    let signer = local_signer(Algorithm::EdDSA);
    let prepared = SdJwtBuilder::sd_jwt_vc(obj(credential_claims()))
        .prepare()
        .unwrap();
    assert!(prepared.payload().get("_sd").is_none());
    assert!(prepared.payload().get("_sd_alg").is_none());
    let issued = prepared.sign(&signer).await.unwrap();
    assert!(issued.sd_jwt.ends_with('~'));
    assert_eq!(issued.sd_jwt.matches('~').count(), 1);
    let verified = verify_with_issuer_key(
        &issued.sd_jwt,
        &signer.public_jwk(),
        &VerifyOptions::sd_jwt_vc(NOW, KeyBindingPolicy::NotRequired),
    )
    .unwrap();
    assert_eq!(Value::Object(verified.claims), credential_claims());
}

/// Builder refusals, each with its own error.
#[test]
fn builder_refusals() {
    let claims = || obj(credential_claims());
    let err = |b: SdJwtBuilder| b.prepare().unwrap_err();

    assert!(matches!(
        err(SdJwtBuilder::sd_jwt_vc(claims())
            .selectively_disclosable(ClaimPath::keys(["birthdate"]))),
        SdJwtError::UnknownClaimPath { .. }
    ));
    assert!(matches!(
        err(SdJwtBuilder::sd_jwt_vc(claims()).decoys(ClaimPath::keys(["email"]), 1)),
        SdJwtError::UnknownClaimPath { .. }
    ));
    for never in [
        ClaimPath::keys(["iss"]),
        ClaimPath::keys(["exp"]),
        ClaimPath::keys(["vct"]),
        ClaimPath::keys(["status"]),
        ClaimPath::keys(["status", "status_list", "idx"]),
        ClaimPath::root(),
    ] {
        assert!(
            matches!(
                err(SdJwtBuilder::sd_jwt_vc(claims()).selectively_disclosable(never.clone())),
                SdJwtError::NotDisclosable { .. }
            ),
            "{never}"
        );
    }
    // A plain SD-JWT may disclose `vct`-like claims, not the validity claims or `aud` as a whole.
    let plain = || SdJwtBuilder::new(obj(json!({"aud": ["a", "b"], "exp": 1, "vct": "x"})), "t");
    assert!(
        plain()
            .selectively_disclosable(ClaimPath::keys(["vct"]))
            .prepare()
            .is_ok()
    );
    assert!(
        plain()
            .selectively_disclosable(ClaimPath::keys(["aud"]).index(0))
            .prepare()
            .is_ok()
    );
    assert!(matches!(
        err(plain().selectively_disclosable(ClaimPath::keys(["aud"]))),
        SdJwtError::NotDisclosable { .. }
    ));
    assert!(matches!(
        err(plain().selectively_disclosable(ClaimPath::keys(["exp"]))),
        SdJwtError::NotDisclosable { .. }
    ));

    let mut no_vct = claims();
    no_vct.remove("vct");
    assert_eq!(
        err(SdJwtBuilder::sd_jwt_vc(no_vct)),
        SdJwtError::InvalidVct { reason: "absent" }
    );
    let mut empty_vct = claims();
    empty_vct.insert("vct".into(), json!(""));
    assert_eq!(
        err(SdJwtBuilder::sd_jwt_vc(empty_vct)),
        SdJwtError::InvalidVct { reason: "empty" }
    );
    let mut no_iss = claims();
    no_iss.remove("iss");
    assert_eq!(
        err(SdJwtBuilder::sd_jwt_vc(no_iss)),
        SdJwtError::MissingIssuer
    );

    for reserved in [
        json!({"_sd": []}),
        json!({"a": {"...": "x"}}),
        json!({"a": [{"_sd_alg": "sha-256"}]}),
    ] {
        assert!(matches!(
            err(SdJwtBuilder::new(obj(reserved), "t")),
            SdJwtError::ReservedClaimName { .. }
        ));
    }
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let mut with_cnf = claims();
    with_cnf.insert("cnf".into(), cnf(&holder));
    assert!(matches!(
        err(SdJwtBuilder::sd_jwt_vc(with_cnf).holder_key(holder.public_jwk())),
        SdJwtError::InvalidClaims { .. }
    ));
}

/// Holder-side refusals.
#[tokio::test]
async fn holder_refusals() {
    let signer = local_signer(Algorithm::EdDSA);
    let holder = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let issued = builder(&holder).sign(&signer).await.unwrap();
    let sd_jwt = SdJwt::parse(&issued.sd_jwt).unwrap();
    let p = sd_jwt.present(&[ClaimPath::keys(["email"])]).unwrap();
    // Binding with a key other than cnf.jwk.
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    assert_eq!(
        p.with_key_binding(&other, &kb_claims_now()).unwrap_err(),
        SdJwtError::HolderKeyMismatch
    );
    // An Issuer never sends an SD-JWT+KB.
    let sd_jwt_kb = p.with_key_binding(&holder, &kb_claims_now()).unwrap();
    assert!(matches!(
        SdJwt::parse(&sd_jwt_kb),
        Err(SdJwtError::UnexpectedKeyBinding)
    ));
    // No cnf, no key binding.
    let unbound = SdJwtBuilder::sd_jwt_vc(obj(credential_claims()))
        .selectively_disclosable(ClaimPath::keys(["email"]))
        .sign(&signer)
        .await
        .unwrap();
    let p = SdJwt::parse(&unbound.sd_jwt)
        .unwrap()
        .present(&[ClaimPath::keys(["email"])])
        .unwrap();
    assert_eq!(
        p.with_key_binding(&holder, &kb_claims_now()).unwrap_err(),
        SdJwtError::HolderKeyMissing
    );
    // Debug output never shows the token or the claim values.
    let debug = format!("{issued:?} {sd_jwt:?} {p:?}");
    assert!(!debug.contains("Mustermann") && !debug.contains(&issued.sd_jwt[..40]));
}
