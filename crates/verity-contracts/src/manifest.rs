//! The signed manifest wallets fetch before issuance (protocol.md §2): display texts plus the
//! inputs each attestation needs, in the shape the hosted service publishes.

use serde_json::{Map, Value, json};
use verity_jose::{Signer, TokenKind, sign_kind};

use crate::model::{ClaimMapping, Contract, SELF_ISSUED_CONFIGURATION};
use crate::validate::display_claim_path;
use crate::{ContractError, path};

/// Builds the manifest payload for `contract`.
///
/// An idTokenHint attestation appears as `input.attestations.idTokens[0]` with configuration and
/// id `https://self-issued.me` (wallets and RP apps written for the hosted service expect that);
/// the contract's own idTokens follow it. Presentations list their accepted issuers (the
/// authority itself when the contract names none).
pub fn build_manifest(
    contract: &Contract,
    manifest_url: &str,
    credential_issuer_url: &str,
    issuer_did: &str,
    now: i64,
) -> Value {
    let d = &contract.display;
    let mut claims = Map::new();
    for c in &d.claims {
        let mut entry = Map::new();
        entry.insert("type".into(), json!(c.claim_type.as_str()));
        entry.insert("label".into(), json!(c.label));
        if let Some(desc) = &c.description {
            entry.insert("description".into(), json!(desc));
        }
        claims.insert(c.claim.clone(), Value::Object(entry));
    }
    json!({
        "id": contract.id,
        "iss": issuer_did,
        "iat": now,
        "display": {
            "id": "display",
            "locale": d.locale,
            "contract": manifest_url,
            "card": {
                "title": d.card.title,
                "issuedBy": d.card.issued_by,
                "backgroundColor": d.card.background_color,
                "textColor": d.card.text_color,
                "logo": { "uri": d.card.logo.uri, "description": d.card.logo.description },
                "description": d.card.description,
            },
            "consent": { "title": d.consent.title, "instructions": d.consent.instructions },
            "claims": claims,
        },
        "input": {
            "id": "input",
            "credentialIssuer": credential_issuer_url,
            "issuer": issuer_did,
            "attestations": attestations(contract, issuer_did),
        },
    })
}

/// Signs a manifest payload as a compact JWS (`typ: JWT`, checked as a
/// [`TokenKind::Manifest`]) with the authority's signer.
pub async fn sign_manifest(signer: &dyn Signer, payload: &Value) -> Result<String, ContractError> {
    sign_kind(signer, TokenKind::Manifest, payload)
        .await
        .map(|signed| signed.token)
        .map_err(ContractError::Signing)
}

fn attestations(contract: &Contract, issuer_did: &str) -> Value {
    let a = &contract.rules.attestations;
    let mut out = Map::new();

    let mut id_tokens: Vec<Value> = Vec::new();
    for hint in &a.id_token_hints {
        id_tokens.push(json!({
            "id": SELF_ISSUED_CONFIGURATION,
            "encrypted": false,
            "claims": token_claims(&hint.mapping),
            "required": hint.required,
            "configuration": SELF_ISSUED_CONFIGURATION,
            "client_id": "",
            "redirect_uri": "",
        }));
    }
    for t in &a.id_tokens {
        id_tokens.push(json!({
            "id": t.configuration,
            "encrypted": false,
            "claims": token_claims(&t.mapping),
            "required": t.required,
            "configuration": t.configuration,
            "client_id": t.client_id,
            "redirect_uri": t.redirect_uri,
            "scope": t.scope,
        }));
    }
    if !id_tokens.is_empty() {
        out.insert("idTokens".into(), Value::Array(id_tokens));
    }

    if let Some(s) = &a.self_issued {
        let claims: Vec<Value> = s
            .mapping
            .iter()
            .map(|m| {
                let mut c = json!({
                    "claim": m.input_claim,
                    "required": m.required,
                    "indexed": m.indexed,
                });
                // Wallets prompt the holder for these values; the type helps them pick a widget.
                if let Some(t) = m.claim_type {
                    c["type"] = json!(t.as_str());
                }
                c
            })
            .collect();
        out.insert(
            "selfIssued".into(),
            json!({ "encrypted": false, "claims": claims, "required": s.required }),
        );
    }

    if !a.presentations.is_empty() {
        let list: Vec<Value> = a
            .presentations
            .iter()
            .map(|p| {
                let issuers: Vec<Value> = if p.trusted_issuers.is_empty() {
                    vec![json!({ "iss": issuer_did })]
                } else {
                    p.trusted_issuers
                        .iter()
                        .map(|i| json!({ "iss": i }))
                        .collect()
                };
                json!({
                    "id": p.credential_type,
                    "credentialType": p.credential_type,
                    "encrypted": false,
                    "claims": token_claims(&p.mapping),
                    "required": p.required,
                    "issuers": issuers,
                    "contracts": [],
                })
            })
            .collect();
        out.insert("presentations".into(), Value::Array(list));
    }

    if !a.access_tokens.is_empty() {
        let list: Vec<Value> = a
            .access_tokens
            .iter()
            .map(|t| {
                json!({
                    "id": t.configuration,
                    "encrypted": false,
                    "claims": token_claims(&t.mapping),
                    "required": t.required,
                    "configuration": t.configuration,
                    "client_id": t.client_id,
                    "redirect_uri": t.redirect_uri,
                    "scope": t.scope,
                })
            })
            .collect();
        out.insert("accessTokens".into(), Value::Array(list));
    }
    Value::Object(out)
}

/// Claims read from a token or credential, as JSON paths (`given_name` -> `$.given_name`).
fn token_claims(mapping: &[ClaimMapping]) -> Vec<Value> {
    mapping
        .iter()
        .map(|m| {
            json!({
                "claim": path::as_json_path(&m.input_claim),
                "required": m.required,
                "indexed": m.indexed,
            })
        })
        .collect()
}

/// The manifest's display claim key for an output claim (`vc.credentialSubject.<name>`).
pub fn manifest_claim_key(output_claim: &str) -> String {
    display_claim_path(output_claim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::base_contract;
    use verity_jose::{Algorithm, LocalSigner, SigningKey, UnverifiedJws};

    const MANIFEST: &str = "https://issuer.example.com/v1.0/manifests/test-credential";
    const ISSUE: &str = "https://issuer.example.com/v1.0/issue/test-credential";
    const DID: &str = "did:web:issuer.example.com";

    fn contract(edit: impl FnOnce(&mut Value)) -> Contract {
        let mut v = base_contract();
        edit(&mut v);
        Contract::from_json(&v.to_string()).unwrap()
    }

    /// protocol.md §2 "Manifest and issuance": the idTokenHint contract's whole manifest.
    #[test]
    fn id_token_hint_manifest_matches_the_hosted_shape() {
        let c = contract(|_| {});
        let m = build_manifest(&c, MANIFEST, ISSUE, DID, 1_700_000_000);
        assert_eq!(
            m,
            json!({
                "id": "test-credential",
                "iss": DID,
                "iat": 1_700_000_000,
                "display": {
                    "id": "display",
                    "locale": "en-US",
                    "contract": MANIFEST,
                    "card": {
                        "title": "Test Credential",
                        "issuedBy": "Example Org",
                        "backgroundColor": "#000000",
                        "textColor": "#ffffff",
                        "logo": {"uri": "https://issuer.example.com/logo.png", "description": "Example logo"},
                        "description": "A credential for tests."
                    },
                    "consent": {"title": "Add this credential?", "instructions": "Accept to add it."},
                    "claims": {
                        "vc.credentialSubject.givenName": {"type": "String", "label": "First name"},
                        "vc.credentialSubject.familyName": {"type": "String", "label": "Last name"}
                    }
                },
                "input": {
                    "id": "input",
                    "credentialIssuer": ISSUE,
                    "issuer": DID,
                    "attestations": {
                        "idTokens": [{
                            "id": "https://self-issued.me",
                            "encrypted": false,
                            "claims": [
                                {"claim": "$.given_name", "required": true, "indexed": true},
                                {"claim": "$.family_name", "required": false, "indexed": false}
                            ],
                            "required": false,
                            "configuration": "https://self-issued.me",
                            "client_id": "",
                            "redirect_uri": ""
                        }]
                    }
                }
            })
        );
    }

    #[test]
    fn id_tokens_follow_the_hint_with_their_provider_configuration() {
        let c = contract(|v| {
            v["rules"]["attestations"]["idTokens"] = json!([{
                "configuration": "https://login.example.com/.well-known/openid-configuration",
                "clientId": "wallet-client",
                "scope": "openid profile",
                "required": true,
                "mapping": [{"outputClaim": "mail", "inputClaim": "$.email", "required": true}]
            }]);
        });
        let m = build_manifest(&c, MANIFEST, ISSUE, DID, 0);
        let tokens = m["input"]["attestations"]["idTokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0]["configuration"], "https://self-issued.me");
        assert_eq!(
            tokens[1],
            json!({
                "id": "https://login.example.com/.well-known/openid-configuration",
                "encrypted": false,
                "claims": [{"claim": "$.email", "required": true, "indexed": false}],
                "required": true,
                "configuration": "https://login.example.com/.well-known/openid-configuration",
                "client_id": "wallet-client",
                "redirect_uri": "vcclient://openid/",
                "scope": "openid profile"
            })
        );
    }

    #[test]
    fn self_issued_presentations_and_access_tokens() {
        let c = contract(|v| {
            let a = &mut v["rules"]["attestations"];
            a["selfIssued"] = json!({"required": true, "mapping": [
                {"outputClaim": "nickname", "inputClaim": "nickname", "type": "String"}
            ]});
            a["presentations"] = json!([
                {"credentialType": "VerifiedEmployee", "mapping": [
                    {"outputClaim": "employer", "inputClaim": "companyName", "required": true}
                ]},
                {"credentialType": "Membership", "trustedIssuers": ["did:web:club.example"]}
            ]);
            a["accessTokens"] = json!([{
                "configuration": "https://auth.example.com/.well-known/openid-configuration",
                "clientId": "c1", "scope": "hr.read",
                "mapping": [{"outputClaim": "department", "inputClaim": "dept"}]
            }]);
        });
        let a = &build_manifest(&c, MANIFEST, ISSUE, DID, 0)["input"]["attestations"];
        assert_eq!(
            a["selfIssued"],
            json!({"encrypted": false, "required": true, "claims": [
                {"claim": "nickname", "required": false, "indexed": false, "type": "String"}
            ]})
        );
        assert_eq!(a["presentations"][0]["credentialType"], "VerifiedEmployee");
        assert_eq!(
            a["presentations"][0]["issuers"],
            json!([{"iss": DID}]),
            "no trustedIssuers means the authority itself"
        );
        assert_eq!(
            a["presentations"][0]["claims"],
            json!([{"claim": "$.companyName", "required": true, "indexed": false}])
        );
        assert_eq!(
            a["presentations"][1]["issuers"],
            json!([{"iss": "did:web:club.example"}])
        );
        assert_eq!(a["accessTokens"][0]["client_id"], "c1");
        assert_eq!(a["accessTokens"][0]["scope"], "hr.read");
        assert_eq!(a["accessTokens"][0]["claims"][0]["claim"], "$.dept");
    }

    #[test]
    fn display_claim_descriptions_are_carried() {
        let c = contract(|v| v["display"]["claims"][0]["description"] = json!("Given name"));
        let m = build_manifest(&c, MANIFEST, ISSUE, DID, 0);
        assert_eq!(
            m["display"]["claims"][manifest_claim_key("givenName")]["description"],
            "Given name"
        );
    }

    #[tokio::test]
    async fn signed_manifest_verifies_with_the_authority_key() {
        let signer = LocalSigner::new(
            SigningKey::generate(Algorithm::ES256).unwrap(),
            format!("{DID}#key-1"),
        );
        let payload = build_manifest(&contract(|_| {}), MANIFEST, ISSUE, DID, 42);
        let token = sign_manifest(&signer, &payload).await.unwrap();
        let jws = UnverifiedJws::parse(&token).unwrap();
        assert_eq!(
            jws.header().kid.as_deref(),
            Some("did:web:issuer.example.com#key-1")
        );
        assert_eq!(jws.header().typ.as_deref(), Some("JWT"));
        let verified = jws.verify(&signer.public_jwk()).unwrap();
        let claims: Value = verified.claims().unwrap();
        assert_eq!(claims, payload);
        // The manifest is a manifest by its kind's rules, and no other kind.
        for kind in verity_jose::TokenKind::ALL {
            let r = kind.check_value(verified.header(), &claims);
            assert_eq!(
                r.is_ok(),
                kind == verity_jose::TokenKind::Manifest,
                "{kind}: {r:?}"
            );
        }
        // A payload that is not a manifest (here: one carrying a credential) is never signed.
        let mut not_a_manifest = payload.clone();
        not_a_manifest["vc"] = json!({});
        let e = sign_manifest(&signer, &not_a_manifest).await.unwrap_err();
        assert!(e.to_string().contains("`vc` is not allowed"), "{e}");
    }

    /// A signer whose backend is down (an HSM that refuses, say).
    #[derive(Debug)]
    struct BrokenSigner;

    #[async_trait::async_trait]
    impl Signer for BrokenSigner {
        fn algorithm(&self) -> Algorithm {
            Algorithm::ES256
        }

        async fn sign_jws(
            &self,
            _header: verity_jose::Header,
            _payload: &[u8],
        ) -> Result<verity_jose::Signed, verity_jose::JoseError> {
            Err(verity_jose::JoseError::Signing {
                reason: "key store unavailable".into(),
            })
        }
    }

    #[tokio::test]
    async fn signing_failures_are_reported() {
        let payload = build_manifest(&contract(|_| {}), MANIFEST, ISSUE, DID, 42);
        let e = sign_manifest(&BrokenSigner, &payload).await.unwrap_err();
        assert!(matches!(e, ContractError::Signing(_)), "{e}");
        assert_eq!(e.code(), "CONTRACT-021");
        assert!(e.to_string().contains("key store unavailable"), "{e}");
    }
}
