//! Round trips for every signing algorithm, and each refusal with the field it names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use verity_did::{KeyResolver, did_jwk_from_jwk};
use verity_jose::{Algorithm, LocalSigner, SigningKey};

use super::*;

const NOW: i64 = 1_800_000_000;

fn signer(alg: Algorithm) -> (LocalSigner, String) {
    let key = SigningKey::generate(alg).unwrap();
    let did = did_jwk_from_jwk(&key.public_jwk()).unwrap();
    (LocalSigner::new(key, format!("{did}#0")), did)
}

fn credential(issuer: &str) -> Value {
    json!({
        "@context": [CONTEXT_V2, "https://www.w3.org/ns/credentials/examples/v2"],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2030-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    })
}

async fn signed(alg: Algorithm, edit: impl FnOnce(&mut Value)) -> Result<String, VcdmError> {
    let (s, did) = signer(alg);
    let mut c = credential(&did);
    edit(&mut c);
    sign_credential(&s, &c).await
}

#[tokio::test]
async fn round_trips_for_every_signing_algorithm() {
    for alg in Algorithm::ALL {
        let (s, did) = signer(alg);
        let c = credential(&did);
        let jwt = sign_credential(&s, &c).await.unwrap();
        let header: Value =
            serde_json::from_slice(&base64_url(jwt.split('.').next().unwrap())).unwrap();
        assert_eq!(header["typ"], "vc+jwt", "{alg:?}");
        assert_eq!(header["alg"], alg.as_str());
        let enveloped = envelope(&jwt);
        assert_eq!(enveloped["type"], "EnvelopedVerifiableCredential");
        assert!(
            enveloped["id"]
                .as_str()
                .unwrap()
                .starts_with("data:application/vc+jwt,")
        );
        let v = verify_credential(&KeyResolver, &enveloped, NOW)
            .await
            .unwrap();
        assert_eq!(
            v.credential, c,
            "claims at the top level, as signed: {alg:?}"
        );
        assert!(v.credential.get("vc").is_none());
        assert_eq!(v.checks, vec!["proof", "issuer", "validFrom", "validUntil"]);
        assert_eq!(v.checked.issuer, did);
        // The bare data: URL and the bare token verify too.
        verify_credential(&KeyResolver, &enveloped["id"], NOW)
            .await
            .unwrap();
        verify_credential(&KeyResolver, &json!(jwt), NOW)
            .await
            .unwrap();
    }
}

/// A signer on a curve Verity verifies but never signs with (ES384 with ring, ES512 with the
/// RustCrypto p521 crate), standing for another issuer's software: a real signer behind the
/// `Signer` seam, used to show that credentials from such issuers verify.
struct OtherIssuer {
    alg: Algorithm,
    kid: String,
    sign: RawSigner,
}

/// Signs a JWS signing input, returning the raw `r || s` signature.
type RawSigner = Box<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

impl std::fmt::Debug for OtherIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtherIssuer")
            .field("alg", &self.alg)
            .finish()
    }
}

impl OtherIssuer {
    /// A fresh key of `alg` (ES384 or ES512) under a did:key (`did_key`) or did:jwk DID.
    fn new(alg: Algorithm, did_key: bool) -> (OtherIssuer, String) {
        use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let (point, sign): (Vec<u8>, RawSigner) = match alg {
            Algorithm::ES384 => {
                let rng = ring::rand::SystemRandom::new();
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref(), &rng)
                        .unwrap();
                let point = pair.public_key().as_ref().to_vec();
                (
                    point,
                    Box::new(move |m: &[u8]| {
                        let rng = ring::rand::SystemRandom::new();
                        pair.sign(&rng, m).unwrap().as_ref().to_vec()
                    }),
                )
            }
            Algorithm::ES512 => {
                use p521::ecdsa::signature::RandomizedSigner as _;
                let sk = p521::ecdsa::SigningKey::random(&mut rand_core::OsRng);
                let point = p521::ecdsa::VerifyingKey::from(&sk)
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                (
                    point,
                    Box::new(move |m: &[u8]| {
                        let sig: p521::ecdsa::Signature =
                            sk.sign_with_rng(&mut rand_core::OsRng, m);
                        sig.to_vec()
                    }),
                )
            }
            other => panic!("{other} is signed with LocalSigner"),
        };
        let (x, y) = point[1..].split_at((point.len() - 1) / 2);
        let jwk = verity_jose::Jwk::from_json_value(&json!({
            "kty": "EC", "crv": alg.crv().unwrap(),
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }))
        .unwrap();
        let (did, kid) = if did_key {
            let did = verity_did::did_key_from_jwk(&jwk).unwrap();
            let kid = format!("{did}#{}", &did["did:key:".len()..]);
            (did, kid)
        } else {
            let did = did_jwk_from_jwk(&jwk).unwrap();
            let kid = format!("{did}#0");
            (did, kid)
        };
        (OtherIssuer { alg, kid, sign }, did)
    }
}

#[async_trait::async_trait]
impl verity_jose::Signer for OtherIssuer {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    async fn sign_jws(
        &self,
        mut header: verity_jose::Header,
        payload: &[u8],
    ) -> Result<verity_jose::Signed, verity_jose::JoseError> {
        header.alg = self.alg.as_str().to_owned();
        header.kid = Some(self.kid.clone());
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = (self.sign)(input.as_bytes());
        Ok(verity_jose::Signed {
            token: format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)),
            kid: self.kid.clone(),
        })
    }
}

/// ES384 and ES512 credentials and presentations from other issuers' software verify, with
/// did:key and did:jwk issuers; a changed payload or another key's signature does not.
#[tokio::test]
async fn es384_and_es512_round_trips_with_did_key_and_did_jwk() {
    for alg in [Algorithm::ES384, Algorithm::ES512] {
        for did_key in [true, false] {
            let (s, did) = OtherIssuer::new(alg, did_key);
            let c = credential(&did);
            let jwt = sign_credential(&s, &c).await.unwrap();
            let header: Value =
                serde_json::from_slice(&base64_url(jwt.split('.').next().unwrap())).unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["typ"], "vc+jwt");
            let v = verify_credential(&KeyResolver, &envelope(&jwt), NOW)
                .await
                .unwrap();
            assert_eq!(v.credential, c, "{alg} did:key={did_key}");
            // The payload changed after signing.
            let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
            let mut forged = c.clone();
            forged["credentialSubject"]["name"] = json!("Mallory");
            parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
            let e = verify_credential(&KeyResolver, &json!(parts.join(".")), NOW)
                .await
                .unwrap_err();
            assert_eq!(e.field(), "proof", "{alg}: {e}");
            // Signed by another key of the same curve, claiming this issuer's kid.
            let (other, _) = OtherIssuer::new(alg, did_key);
            let other = OtherIssuer {
                kid: s.kid.clone(),
                ..other
            };
            let e = verify_credential(
                &KeyResolver,
                &json!(sign_credential(&other, &c).await.unwrap()),
                NOW,
            )
            .await
            .unwrap_err();
            assert_eq!(e.field(), "proof", "{alg}: {e}");
        }
    }
}

fn base64_url(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// A change to the test credential.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn field_of(e: &VcdmError) -> String {
    e.field().to_owned()
}

#[tokio::test]
async fn the_model_is_checked_before_signing_each_refusal_naming_its_field() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "@context",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("@context");
            }),
        ),
        (
            "@context[0]",
            Box::new(|c| {
                c["@context"] = json!(["https://www.w3.org/ns/credentials/examples/v2", CONTEXT_V2])
            }),
        ),
        (
            "@context[0]",
            Box::new(|c| c["@context"] = json!([CONTEXT_V1])),
        ),
        (
            "@context[1]",
            Box::new(|c| c["@context"] = json!([CONTEXT_V2, CONTEXT_V2])),
        ),
        (
            "type",
            Box::new(|c| c["type"] = json!(["EmployeeCredential"])),
        ),
        (
            "issuer",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("issuer");
            }),
        ),
        (
            "issuer.id",
            Box::new(|c| c["issuer"] = json!({ "name": "Contoso" })),
        ),
        (
            "credentialSubject",
            Box::new(|c| c["credentialSubject"] = json!({})),
        ),
        (
            "validFrom",
            Box::new(|c| c["validFrom"] = json!("2026-01-01")),
        ),
        (
            "validUntil",
            Box::new(|c| c["validUntil"] = json!("2020-01-01T00:00:00Z")),
        ),
        ("vc", Box::new(|c| c["vc"] = json!({}))),
        (
            "issuanceDate",
            Box::new(|c| c["issuanceDate"] = json!("2026-01-01T00:00:00Z")),
        ),
        (
            "proof",
            Box::new(|c| c["proof"] = json!({ "type": "DataIntegrityProof" })),
        ),
        (
            "credentialStatus.statusListIndex",
            Box::new(|c| {
                c["credentialStatus"] = json!({
            "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": "x", "statusListCredential": "https://example.com/l" })
            }),
        ),
        (
            "credentialStatus[0].statusPurpose",
            Box::new(|c| {
                c["credentialStatus"] = json!([{
            "type": "BitstringStatusListEntry", "statusListIndex": "1",
            "statusListCredential": "https://example.com/l" }])
            }),
        ),
        ("id", Box::new(|c| c["id"] = json!("not a url"))),
    ];
    for (field, edit) in cases {
        let e = signed(Algorithm::ES256, edit).await.unwrap_err();
        assert_eq!(field_of(&e), field, "{e}");
        assert_eq!(e.code(), "VCDM-001");
    }
    // A well-formed status entry passes.
    signed(Algorithm::ES256, |c| {
        c["credentialStatus"] = json!({ "id": "https://example.com/l#1",
            "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": "1", "statusListCredential": "https://example.com/l" });
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn verification_refuses_what_is_not_a_secured_vcdm2_credential() {
    let (s, did) = signer(Algorithm::EdDSA);
    let c = credential(&did);
    let jwt = sign_credential(&s, &c).await.unwrap();

    // Unsecured JSON, and other envelopes.
    let e = verify_credential(&KeyResolver, &c, NOW).await.unwrap_err();
    assert_eq!(
        e,
        VcdmError::Unsecured {
            field: "verifiableCredential"
        }
    );
    let e = verify_credential(
        &KeyResolver,
        &json!({ "@context": [CONTEXT_V2], "type": "EnvelopedVerifiableCredential",
        "id": format!("data:application/vp+jwt,{jwt}") }),
        NOW,
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), "verifiableCredential.id");
    assert_eq!(e.code(), "VCDM-003");
    // An envelope without the base context, or whose id is not a data: URL.
    for (envelope, field) in [
        (
            json!({ "type": "EnvelopedVerifiableCredential", "id": format!("data:application/vc+jwt,{jwt}") }),
            "verifiableCredential.@context",
        ),
        (
            json!({ "@context": ["https://www.w3.org/ns/credentials/examples/v2"], "type": "EnvelopedVerifiableCredential", "id": format!("data:application/vc+jwt,{jwt}") }),
            "verifiableCredential.@context",
        ),
        (
            json!({ "@context": [CONTEXT_V2], "type": "EnvelopedVerifiableCredential", "id": jwt }),
            "verifiableCredential.id",
        ),
    ] {
        let e = verify_credential(&KeyResolver, &envelope, NOW)
            .await
            .unwrap_err();
        assert_eq!(e.field(), field, "{envelope}: {e}");
    }

    // Another typ, or a cty.
    for header in [
        json!({ "typ": "JWT" }),
        json!({ "typ": "vc+jwt", "cty": "vc" }),
    ] {
        let mut h = verity_jose::Header::new(Algorithm::EdDSA);
        h.typ = header["typ"].as_str().map(str::to_owned);
        if let Some(cty) = header.get("cty") {
            h.extra.insert("cty".into(), cty.clone());
        }
        let token = s
            .sign_jws(h, &serde_json::to_vec(&c).unwrap())
            .await
            .unwrap()
            .token;
        let e = verify_credential(&KeyResolver, &json!(token), NOW)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "VCDM-003", "{e}");
    }

    // A VCDM 1.1 JWT (claims under `vc`) is refused naming the member.
    let mut h = verity_jose::Header::new(Algorithm::EdDSA);
    h.typ = Some("vc+jwt".into());
    let v1 = json!({ "iss": did, "vc": { "@context": [CONTEXT_V1] } });
    let token = s
        .sign_jws(h, &serde_json::to_vec(&v1).unwrap())
        .await
        .unwrap()
        .token;
    let e = verify_credential(&KeyResolver, &json!(token), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "vc", "{e}");

    // A tampered payload.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut other = c.clone();
    other["credentialSubject"]["name"] = json!("Mallory");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64_encode(&serde_json::to_vec(&other).unwrap()),
        parts[2]
    );
    let e = verify_credential(&KeyResolver, &json!(forged), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VCDM-004", "{e}");

    // Signed by someone else than the issuer it names.
    let (mallory, _) = signer(Algorithm::EdDSA);
    let token = sign_credential(&mallory, &c).await.unwrap();
    let e = verify_credential(&KeyResolver, &json!(token), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VCDM-005", "{e}");

    // Outside the validity period.
    let e = verify_credential(&KeyResolver, &json!(jwt), 1_700_000_000)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "validFrom");
    let e = verify_credential(&KeyResolver, &json!(jwt), 1_900_000_000)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "validUntil");
    assert_eq!(e.code(), "VCDM-008");
}

fn base64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn presentation_of(holder_did: &str, credentials: Vec<Value>) -> Value {
    json!({
        "@context": [CONTEXT_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder_did,
        "verifiableCredential": credentials,
    })
}

#[tokio::test]
async fn presentations_round_trip_with_their_binding_and_credentials() {
    let (issuer, issuer_did) = signer(Algorithm::ES256);
    let (holder, holder_did) = signer(Algorithm::EdDSA);
    let vc = envelope(
        &sign_credential(&issuer, &credential(&issuer_did))
            .await
            .unwrap(),
    );
    let p = presentation_of(&holder_did, vec![vc.clone()]);
    let binding = Binding {
        challenge: Some("n-0S6_WzA2Mj".into()),
        domain: Some("https://verifier.example".into()),
    };
    let vp = sign_presentation(&holder, &p, &binding).await.unwrap();
    let enveloped = envelope_presentation(&vp);
    assert_eq!(enveloped["type"], "EnvelopedVerifiablePresentation");
    let v = verify_presentation(&KeyResolver, &enveloped, &binding, NOW)
        .await
        .unwrap();
    assert_eq!(v.holder, holder_did);
    assert_eq!(v.credentials.len(), 1);
    assert_eq!(v.credentials[0].checked.issuer, issuer_did);
    assert_eq!(
        v.checks,
        [
            "proof",
            "holder",
            "challenge",
            "domain",
            "verifiableCredential[0]"
        ]
    );

    // Another challenge or domain: refused naming the claim.
    let other = Binding {
        challenge: Some("other".into()),
        domain: None,
    };
    let e = verify_presentation(&KeyResolver, &enveloped, &other, NOW)
        .await
        .unwrap_err();
    assert_eq!((e.field(), e.code()), ("nonce", "VCDM-009"), "{e}");
    let other = Binding {
        challenge: None,
        domain: Some("https://elsewhere.example".into()),
    };
    let e = verify_presentation(&KeyResolver, &enveloped, &other, NOW)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "aud", "{e}");

    // A credential that no longer verifies is named by its place.
    let e = verify_presentation(&KeyResolver, &enveloped, &Binding::default(), 1_900_000_000)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "verifiableCredential[0].validUntil", "{e}");
    assert_eq!(e.code(), "VCDM-008");

    // A plain JSON credential inside, no holder, a credential token where a presentation is
    // expected, a key of someone else than the holder.
    let mut plain = presentation_of(&holder_did, vec![credential(&issuer_did)]);
    let e = sign_presentation(&holder, &plain, &Binding::default())
        .await
        .unwrap_err();
    assert_eq!(e.field(), "verifiableCredential[0]", "{e}");
    plain["verifiableCredential"] = json!([vc]);
    plain.as_object_mut().unwrap().remove("holder");
    let e = sign_presentation(&holder, &plain, &Binding::default())
        .await
        .unwrap_err();
    assert_eq!(e.field(), "holder", "{e}");
    let e = verify_presentation(&KeyResolver, &vc, &Binding::default(), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VCDM-002", "{e}");
    let token = vc["id"]
        .as_str()
        .unwrap()
        .strip_prefix("data:application/vc+jwt,")
        .unwrap();
    let e = verify_presentation(&KeyResolver, &json!(token), &Binding::default(), NOW)
        .await
        .unwrap_err();
    assert_eq!((e.field(), e.code()), ("typ", "VCDM-003"), "{e}");
    let (mallory, _) = signer(Algorithm::EdDSA);
    let p = presentation_of(&holder_did, vec![vc.clone()]);
    let forged = sign_presentation(&mallory, &p, &Binding::default())
        .await
        .unwrap();
    let e = verify_presentation(&KeyResolver, &json!(forged), &Binding::default(), NOW)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VCDM-005", "{e}");
}

fn credential_v1(issuer: &str) -> Value {
    json!({
        "@context": [CONTEXT_V1, "https://www.w3.org/2018/credentials/examples/v1"],
        "id": "urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5",
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": issuer,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "expirationDate": "2030-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    })
}

/// VCDM 1.1 JWTs round trip for every algorithm: the credential under `vc`, the registered
/// claims mapped from it, `typ` `JWT`; [`verify_any_credential`] branches on the media type.
#[tokio::test]
async fn vcdm_1_1_jwts_round_trip_for_every_algorithm() {
    let mut signers: Vec<(Box<dyn verity_jose::Signer>, String)> = Algorithm::ALL
        .into_iter()
        .map(|alg| {
            let (s, did) = signer(alg);
            (Box::new(s) as Box<dyn verity_jose::Signer>, did)
        })
        .collect();
    for alg in [Algorithm::ES384, Algorithm::ES512] {
        let (s, did) = OtherIssuer::new(alg, true);
        signers.push((Box::new(s), did));
    }
    for (s, did) in &signers {
        let alg = s.algorithm();
        let c = credential_v1(did);
        let jwt = sign_credential_v1(s.as_ref(), &c).await.unwrap();
        let header: Value =
            serde_json::from_slice(&base64_url(jwt.split('.').next().unwrap())).unwrap();
        assert_eq!(header["typ"], "JWT", "{alg}");
        let claims: Value =
            serde_json::from_slice(&base64_url(jwt.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(claims["vc"], c);
        assert_eq!(claims["iss"], json!(did));
        assert_eq!(claims["jti"], c["id"]);
        assert_eq!(claims["sub"], "did:example:holder");
        assert_eq!(claims["nbf"], 1_767_225_600);
        assert_eq!(claims["exp"], 1_893_456_000);
        let v = verify_credential_v1(&KeyResolver, &jwt, NOW).await.unwrap();
        assert_eq!(v.credential, c, "{alg}");
        assert_eq!(
            v.checks,
            vec!["proof", "issuer", "issuanceDate", "expirationDate"]
        );
        // The dispatcher picks 1.1 for this JWT, 2.0 for a vc+jwt.
        let v = verify_any_credential(&KeyResolver, &json!(jwt), NOW)
            .await
            .unwrap();
        assert_eq!(v.credential, c);
        let v2 = sign_credential(s.as_ref(), &credential(did)).await.unwrap();
        for secured in [json!(v2), envelope(&v2)] {
            let v = verify_any_credential(&KeyResolver, &secured, NOW)
                .await
                .unwrap();
            assert_eq!(v.credential, credential(did), "{alg}");
        }
    }
}

#[tokio::test]
async fn vcdm_1_1_refusals_name_the_field() {
    let (s, did) = signer(Algorithm::ES256);
    // The model, before signing.
    for (edit, field) in [
        (
            Box::new(|c: &mut Value| c["@context"][0] = json!(CONTEXT_V2))
                as Box<dyn Fn(&mut Value)>,
            "@context[0]",
        ),
        (
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("issuanceDate");
            }),
            "issuanceDate",
        ),
        (
            Box::new(|c: &mut Value| c["validFrom"] = json!("2026-01-01T00:00:00Z")),
            "validFrom",
        ),
        (
            Box::new(|c: &mut Value| c["expirationDate"] = json!("2025-01-01T00:00:00Z")),
            "expirationDate",
        ),
        (
            Box::new(|c: &mut Value| c["type"] = json!(["EmployeeCredential"])),
            "type",
        ),
    ] {
        let mut c = credential_v1(&did);
        edit(&mut c);
        let e = sign_credential_v1(&s, &c).await.unwrap_err();
        assert_eq!(e.field(), field, "{e}");
    }
    // Claims that contradict the credential, signed by the issuer: refused by name.
    let sign_claims = |claims: Value| {
        let s = &s;
        async move {
            let mut header = verity_jose::Header::new(Algorithm::ES256);
            header.typ = Some("JWT".into());
            s.sign_jws(header, &serde_json::to_vec(&claims).unwrap())
                .await
                .unwrap()
                .token
        }
    };
    let c = credential_v1(&did);
    let cases = [
        (json!({ "iss": did, "jti": c["id"] }), "vc"),
        (json!({ "iss": "did:example:other", "vc": c }), "iss"),
        (
            json!({ "iss": did, "jti": "urn:uuid:other", "vc": c }),
            "jti",
        ),
        (json!({ "iss": did, "nbf": "soon", "vc": c }), "nbf"),
        (json!({ "iss": did, "exp": NOW - 1, "vc": c }), "exp"),
        (json!({ "iss": did, "nbf": NOW + 60, "vc": c }), "nbf"),
        (
            json!({ "iss": did, "vc": { "@context": [CONTEXT_V1], "type": ["VerifiableCredential"], "issuer": did, "issuanceDate": "2026-01-01T00:00:00Z", "expirationDate": "2026-02-01T00:00:00Z", "credentialSubject": { "id": "x:y" } } }),
            "vc.expirationDate",
        ),
        (
            json!({ "iss": did, "vc": { "@context": [CONTEXT_V1], "type": ["VerifiableCredential"], "issuer": did, "credentialSubject": { "id": "x:y" } } }),
            "vc.issuanceDate",
        ),
    ];
    for (claims, field) in cases {
        let jwt = sign_claims(claims.clone()).await;
        let e = verify_credential_v1(&KeyResolver, &jwt, NOW)
            .await
            .unwrap_err();
        assert_eq!(e.field(), field, "{claims}: {e}");
    }
    // Another typ is neither 1.1 nor 2.0.
    let mut header = verity_jose::Header::new(Algorithm::ES256);
    header.typ = Some("vp+jwt".into());
    let jwt = s
        .sign_jws(header, &serde_json::to_vec(&json!({ "vc": c })).unwrap())
        .await
        .unwrap()
        .token;
    let e = verify_any_credential(&KeyResolver, &json!(jwt), NOW)
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.field()), ("VCDM-003", "typ"), "{e}");
    // Another issuer's key under this issuer's claims.
    let (other, _) = signer(Algorithm::ES256);
    let jwt = sign_credential_v1(&other, &credential_v1(&did))
        .await
        .unwrap();
    let e = verify_credential_v1(&KeyResolver, &jwt, NOW)
        .await
        .unwrap_err();
    assert_eq!(e.field(), "issuer", "{e}");
}

/// A header naming extensions the verifier must understand (`crit`, RFC 7515 section 4.1.11):
/// this verifier understands none, so the credential is refused, in both data models.
#[tokio::test]
async fn unknown_critical_header_parameters_are_refused() {
    let (s, did) = signer(Algorithm::ES256);
    for (typ, payload) in [
        ("vc+jwt", credential(&did)),
        ("JWT", json!({ "iss": did, "vc": credential_v1(&did) })),
    ] {
        let mut header = verity_jose::Header::new(Algorithm::ES256);
        header.typ = Some(typ.into());
        header.extra.insert("crit".into(), json!(["exp-policy"]));
        header.extra.insert("exp-policy".into(), json!("strict"));
        let jwt = verity_jose::Signer::sign_jws(&s, header, &serde_json::to_vec(&payload).unwrap())
            .await
            .unwrap()
            .token;
        let e = verify_any_credential(&KeyResolver, &json!(jwt), NOW)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "VCDM-004", "{typ}: {e}");
        assert!(e.to_string().contains("crit"), "{typ}: {e}");
    }
}

/// The VCDM 2.0 rules for the members around the claims, each refusal naming its field (the
/// W3C VCDM 2.0 test suite's negative cases), and the shapes the model allows.
#[tokio::test]
async fn related_members_follow_the_model() {
    let (s, did) = signer(Algorithm::ES256);
    let lang = json!({ "@value": "Example", "@language": "en", "@direction": "ltr" });
    let related = json!({ "id": "https://www.w3.org/ns/credentials/v2", "digestSRI": "sha384-NSOcNpmdIVUxIJGvGUoe22FjTWrXiaXlsZ8q6912LdnR3KraQO2n75Ica4wK4Qeg" });
    for ok in [
        json!({ "name": "Example", "description": [lang.clone(), { "@value": "Beispiel", "@language": "de" }] }),
        json!({ "issuer": { "id": did, "name": lang.clone() } }),
        json!({ "termsOfUse": [{ "type": "TrustFrameworkPolicy" }], "evidence": { "type": ["Evidence"] } }),
        json!({ "credentialSchema": { "id": "https://example.org/schema.json", "type": "JsonSchema" } }),
        json!({ "relatedResource": [related.clone(), { "id": "https://example.org/b", "digestMultibase": "uEiB" }] }),
        json!({ "credentialStatus": { "id": "https://example.org/status#1", "type": "CredentialStatusList2017" } }),
    ] {
        let mut c = credential(&did);
        for (k, v) in ok.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign_credential(&s, &c).await.unwrap();
    }
    for (edit, field) in [
        (
            json!({ "credentialSubject": { "id": ["did:example:a", "did:example:b"] } }),
            "credentialSubject.id",
        ),
        (
            json!({ "credentialSubject": [{ "name": "x" }, { "id": "not a url" }] }),
            "credentialSubject[1].id",
        ),
        (
            json!({ "credentialStatus": { "id": ["https://a.example/1", "https://a.example/2"], "type": "X" } }),
            "credentialStatus.id",
        ),
        (
            json!({ "name": { "@value": "Example", "@language": "en", "url": "did:example:x" } }),
            "name.url",
        ),
        (
            json!({ "description": [{ "@language": "en" }] }),
            "description[0].@value",
        ),
        (
            json!({ "issuer": { "id": "did:example:issuer", "description": { "@value": "x", "url": "y" } } }),
            "issuer.description.url",
        ),
        (
            json!({ "termsOfUse": { "id": "https://example.org/tou" } }),
            "termsOfUse.type",
        ),
        (
            json!({ "evidence": [{ "type": "Evidence" }, { "id": "https://example.org/e" }] }),
            "evidence[1].type",
        ),
        (
            json!({ "refreshService": { "id": "https://example.org/refresh" } }),
            "refreshService.type",
        ),
        (
            json!({ "credentialSchema": { "type": "JsonSchema" } }),
            "credentialSchema.id",
        ),
        (
            json!({ "credentialSchema": { "id": "not a url", "type": "JsonSchema" } }),
            "credentialSchema.id",
        ),
        (
            json!({ "termsOfUse": ["https://example.org/tou"] }),
            "termsOfUse",
        ),
        (
            json!({ "relatedResource": ["https://example.org/a"] }),
            "relatedResource",
        ),
        (
            json!({ "relatedResource": [{ "digestSRI": "sha384-x" }] }),
            "relatedResource[0].id",
        ),
        (
            json!({ "relatedResource": [related.clone(), related.clone()] }),
            "relatedResource[1].id",
        ),
        (
            json!({ "relatedResource": { "id": "https://example.org/a" } }),
            "relatedResource",
        ),
    ] {
        let mut c = credential(&did);
        for (k, v) in edit.as_object().unwrap() {
            c[k] = v.clone();
        }
        let e = sign_credential(&s, &c).await.unwrap_err();
        assert_eq!(e.field(), field, "{edit}: {e}");
    }
}
