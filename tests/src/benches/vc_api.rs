//! `bench vc-api-verify`: `POST /vc-api/credentials/verify` of one ES256 vc+jwt credential
//! against the `verity serve` process, next to the signature floor of the same crates.
//!
//! Each request costs the server one signature verification (the credential's; the caller
//! authenticates with an API key, an HMAC, not a signature) plus resolving the issuer's
//! did:web document, which for its own authority comes from the store. A second measurement
//! verifies a credential issued with `options.credentialStatus` (revocation and suspension):
//! the same signature plus its two status entries, read fresh from the store each time.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use verity_jose::Algorithm;

use super::{Bench, Options, SignatureMix, finish, jws_alg, measure, setup_report};

/// Issues one VCDM 2.0 credential through VC-API and verifies it `count` times.
pub async fn vc_api_verify(opts: &Options) -> Result<(), String> {
    if opts.replicas.is_some() {
        return Err("bench vc-api-verify runs on one server: drop --replicas".into());
    }
    let bench = Arc::new(Bench::start(opts, Algorithm::ES256).await?);
    let floor = setup_report(&bench, opts, Algorithm::ES256)?;
    let server = bench.target.one()?;
    let (status, key) = server
        .admin(Method::POST, "/api-keys", Some(json!({ "name": "bench" })))
        .await?;
    if status != 201 {
        return Err(format!("create API key: {status} {key}"));
    }
    let key: Arc<str> = key["key"]
        .as_str()
        .ok_or("the API key answer has no key")?
        .into();
    let credential = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "EmployeeCredential"],
        "issuer": bench.authority,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2036-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:holder", "name": "Megan Bowen" }
    });
    let url = bench.target.url().to_owned();
    let http = bench.target.http().clone();
    let post = {
        let http = http.clone();
        let key = key.clone();
        move |path: String, body: Value| {
            let http = http.clone();
            let key = key.clone();
            async move {
                let resp = http
                    .post(path.as_str())
                    .bearer_auth(&*key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("POST {path}: {e}"))?;
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.map_err(|e| format!("POST {path}: {e}"))?;
                Ok::<_, String>((status, body))
            }
        }
    };
    let status_option = json!({
        "type": "BitstringStatusListEntry",
        "statusPurpose": ["revocation", "suspension"]
    });
    for (name, options) in [
        ("vc-api-verify", json!({})),
        (
            "vc-api-verify (with revocation and suspension status)",
            json!({ "credentialStatus": status_option }),
        ),
    ] {
        let (status, issued) = post(
            format!("{url}/vc-api/credentials/issue"),
            json!({ "credential": credential, "options": options }),
        )
        .await?;
        if status != 201 {
            return Err(format!("issue: {status} {issued}"));
        }
        let vc = issued["verifiableCredential"].clone();
        let token = vc["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("data:application/vc+jwt,"))
            .ok_or("the issued credential is not an enveloped vc+jwt")?
            .to_owned();
        let mix = SignatureMix {
            signs: Vec::new(),
            verifies: vec![("credential", jws_alg(&token)?)],
        };
        let verify_url: Arc<str> = format!("{url}/vc-api/credentials/verify").into();
        let body = Arc::new(json!({ "verifiableCredential": vc }));
        let post = post.clone();
        let op = move |_: usize| {
            let post = post.clone();
            let verify_url = verify_url.clone();
            let body = body.clone();
            async move {
                let (status, answer) = post(verify_url.to_string(), (*body).clone()).await?;
                if status != 200 {
                    return Err(format!("verify: {status} {answer}"));
                }
                Ok(())
            }
        };
        // One unmeasured call resolves (and caches) what the first verification needs.
        op(0).await?;
        measure(name, &bench, opts, &mix, &floor, op).await?;
    }
    finish(bench).await;
    Ok(())
}
