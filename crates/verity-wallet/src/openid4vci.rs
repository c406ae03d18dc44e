//! OpenID4VCI 1.0, the wallet side of the pre-authorized code flow ([`Wallet::receive_offer`],
//! or step by step with [`OfferSession`]):
//!
//! 1. Read the offer from `openid-credential-offer://?credential_offer_uri=...` (GET it) or
//!    `?credential_offer=<json>` ([`offer_from`]).
//! 2. GET the credential issuer metadata at `/.well-known/openid-credential-issuer<path>`; its
//!    `credential_issuer` must be the offer's. Find the offered configuration (`dc+sd-jwt` or
//!    `jwt_vc_json`), the token endpoint from the authorization server's metadata
//!    (`/.well-known/oauth-authorization-server<path>` of `authorization_servers[0]`, or of the
//!    issuer itself).
//! 3. POST the token request (pre-authorized code, `tx_code` when the offer asks for one).
//! 4. POST the nonce endpoint for a `c_nonce`; sign a key proof (`typ`
//!    `openid4vci-proof+jwt`, `aud` = the credential issuer, `iat`, `nonce`) with the holder key
//!    as `jwk` (SD-JWT VC, bound by `cnf.jwk`) or as a DID URL `kid` (JWT-VC, bound by `sub`).
//! 5. POST `{ credential_configuration_id, proofs: { jwt: [proof] } }` with the access token;
//!    verify the credential (the issuer DID's assertionMethod key; an SD-JWT VC's `cnf` must be
//!    our key, a JWT-VC's `sub` our DID) and store it.

use std::fmt;

use serde_json::{Map, Value, json};
use url::Url;
use verity_did::Relationship;
use verity_jose::kind::KEY_PROOF_TYP;
use verity_jose::{Header, Jwk, sign_compact};
use verity_sd_jwt::{IssuerKeyLookup, KeyBindingPolicy, KeyLookupError, VerifyOptions};

use crate::error::WalletError;
use crate::http::Response;
use crate::issuance::verify_jwt_vc;
use crate::wallet::{CredentialFormat, StoredCredential, Wallet};

/// The scheme of credential offers.
pub const CREDENTIAL_OFFER_SCHEME: &str = "openid-credential-offer";
/// The grant type of the pre-authorized code flow.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

const WHAT: &str = "credential offer";

/// What [`Wallet::receive_offer`] needs beyond the offer.
#[derive(Clone, Default)]
pub struct OfferOptions {
    /// The transaction code (the PIN the organisation gave), when the offer asks for one.
    pub tx_code: Option<String>,
    /// The holder DID to bind the credential to; the active one when `None`.
    pub holder: Option<String>,
}

impl fmt::Debug for OfferOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfferOptions")
            .field("tx_code", &self.tx_code.as_ref().map(|_| "[redacted]"))
            .field("holder", &self.holder)
            .finish()
    }
}

/// Where the offer object is: in the URL, or at a URL to GET.
#[derive(Debug, Clone, PartialEq)]
pub enum OfferSource {
    /// `credential_offer=<json>`.
    ByValue(Value),
    /// `credential_offer_uri=<https URL>`.
    ByReference(String),
}

/// Reads an offer URL: `openid-credential-offer://?...` (or any URL with the same query, as a
/// wallet's universal link).
pub fn offer_from(url: &str) -> Result<OfferSource, WalletError> {
    let bad = |reason: &str| WalletError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    let mut by_value = None;
    let mut by_reference = None;
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "credential_offer" => by_value = Some(v.into_owned()),
            "credential_offer_uri" => by_reference = Some(v.into_owned()),
            _ => {}
        }
    }
    match (by_value, by_reference) {
        (Some(_), Some(_)) => Err(bad(
            "has both credential_offer and credential_offer_uri (section 4.1: exactly one)",
        )),
        (Some(v), None) => serde_json::from_str(&v)
            .map(OfferSource::ByValue)
            .map_err(|e| bad(&format!("credential_offer is not JSON: {e}"))),
        (None, Some(u)) => Ok(OfferSource::ByReference(u)),
        (None, None) => Err(bad(
            "is not a credential offer: no credential_offer or credential_offer_uri",
        )),
    }
}

/// `/.well-known/<suffix>` inserted between the host and the path of `identifier` (RFC 8414
/// section 3.1, OpenID4VCI 12.2.2).
pub fn well_known_url(identifier: &str, suffix: &str) -> Result<String, WalletError> {
    let url = Url::parse(identifier).map_err(|e| WalletError::InvalidUrl {
        url: identifier.to_owned(),
        reason: e.to_string(),
    })?;
    let path = url.path().trim_end_matches('/');
    let mut base = url.clone();
    base.set_path("");
    base.set_query(None);
    Ok(format!(
        "{}/.well-known/{suffix}{path}",
        base.as_str().trim_end_matches('/')
    ))
}

/// One offer, between steps. Every request is exposed so tests can send what a hostile wallet
/// would.
#[derive(Debug)]
pub struct OfferSession<'w> {
    wallet: &'w Wallet,
    offer: Value,
    metadata: Value,
    configuration_id: String,
    configuration: Value,
    token_endpoint: String,
}

/// What an endpoint answered: status and body, as they came.
pub type Answer = (u16, Value);

impl<'w> OfferSession<'w> {
    /// Reads the offer (GETs it when by reference), the issuer's metadata and the token
    /// endpoint; the offered configuration must be in the metadata.
    pub async fn start(wallet: &'w Wallet, url: &str) -> Result<OfferSession<'w>, WalletError> {
        let offer = match offer_from(url)? {
            OfferSource::ByValue(v) => v,
            OfferSource::ByReference(u) => wallet
                .http()
                .get(&u, "application/json")
                .await?
                .error_for_status()?
                .json_or_text(),
        };
        let missing = |field: &str, expected| WalletError::MissingField {
            what: WHAT,
            field: field.into(),
            expected,
        };
        let issuer = offer["credential_issuer"]
            .as_str()
            .ok_or_else(|| missing("credential_issuer", "an https URL"))?
            .to_owned();
        let ids: Vec<&str> = offer["credential_configuration_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let configuration_id = ids
            .first()
            .ok_or_else(|| missing("credential_configuration_ids", "a non-empty array"))?
            .to_string();
        if offer["grants"][PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
            .as_str()
            .is_none()
        {
            return Err(missing(
                "grants.pre-authorized_code",
                "a pre-authorized code (the only grant this wallet uses)",
            ));
        }
        let metadata = wallet
            .http()
            .get(
                &well_known_url(&issuer, "openid-credential-issuer")?,
                "application/json",
            )
            .await?
            .error_for_status()?
            .json_or_text();
        if metadata["credential_issuer"].as_str() != Some(issuer.as_str()) {
            return Err(WalletError::IdentityMismatch {
                what: "credential issuer metadata",
                field: "credential_issuer",
                expected: issuer,
                found: metadata["credential_issuer"].to_string(),
            });
        }
        let configuration =
            metadata["credential_configurations_supported"][&configuration_id].clone();
        if !configuration.is_object() {
            return Err(WalletError::MissingField {
                what: "credential issuer metadata",
                field: format!("credential_configurations_supported.{configuration_id}"),
                expected: "the offered configuration",
            });
        }
        let auth_server = metadata["authorization_servers"][0]
            .as_str()
            .unwrap_or(&issuer)
            .to_owned();
        let as_metadata = wallet
            .http()
            .get(
                &well_known_url(&auth_server, "oauth-authorization-server")?,
                "application/json",
            )
            .await?
            .error_for_status()?
            .json_or_text();
        let token_endpoint = as_metadata["token_endpoint"]
            .as_str()
            .ok_or(WalletError::MissingField {
                what: "authorization server metadata",
                field: "token_endpoint".into(),
                expected: "a URL",
            })?
            .to_owned();
        Ok(OfferSession {
            wallet,
            offer,
            metadata,
            configuration_id,
            configuration,
            token_endpoint,
        })
    }

    /// The offer object.
    pub fn offer(&self) -> &Value {
        &self.offer
    }

    /// The credential issuer metadata.
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The offered configuration's id and metadata.
    pub fn configuration(&self) -> (&str, &Value) {
        (&self.configuration_id, &self.configuration)
    }

    /// The credential issuer identifier (`aud` of key proofs).
    pub fn credential_issuer(&self) -> &str {
        self.offer["credential_issuer"].as_str().unwrap_or_default()
    }

    /// The offered format.
    pub fn format(&self) -> Result<CredentialFormat, WalletError> {
        match self.configuration["format"].as_str() {
            Some("dc+sd-jwt") => Ok(CredentialFormat::SdJwtVc),
            Some("jwt_vc_json") => Ok(CredentialFormat::JwtVc),
            other => Err(WalletError::MissingField {
                what: "credential issuer metadata",
                field: format!(
                    "credential_configurations_supported.{}.format (found {other:?})",
                    self.configuration_id
                ),
                expected: "dc+sd-jwt or jwt_vc_json",
            }),
        }
    }

    /// The offer's `tx_code` object, when it asks for a transaction code.
    pub fn tx_code(&self) -> Option<&Value> {
        let t = &self.offer["grants"][PRE_AUTHORIZED_GRANT]["tx_code"];
        t.is_object().then_some(t)
    }

    /// The pre-authorized code.
    pub fn pre_authorized_code(&self) -> &str {
        self.offer["grants"][PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
            .as_str()
            .unwrap_or_default()
    }

    /// POSTs a token request with exactly these form fields; the answer as it came.
    pub async fn token_raw(&self, form: &[(&str, &str)]) -> Result<Answer, WalletError> {
        let resp = self.post_token(form).await?;
        Ok((resp.status, resp.json_or_text()))
    }

    async fn post_token(&self, form: &[(&str, &str)]) -> Result<Response, WalletError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.wallet
            .http()
            .post(
                &self.token_endpoint,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            )
            .await
    }

    /// Redeems the pre-authorized code (with `tx_code` when given) for an access token.
    pub async fn redeem(&self, tx_code: Option<&str>) -> Result<String, WalletError> {
        if self.tx_code().is_some() && tx_code.is_none() {
            return Err(WalletError::PinRequired {
                length: self
                    .tx_code()
                    .and_then(|t| t["length"].as_u64())
                    .unwrap_or_default(),
            });
        }
        let mut form = vec![
            ("grant_type", PRE_AUTHORIZED_GRANT),
            ("pre-authorized_code", self.pre_authorized_code()),
        ];
        if let Some(t) = tx_code {
            form.push(("tx_code", t));
        }
        let resp = self
            .post_token(&form)
            .await?
            .error_for_status()?
            .json_or_text();
        resp["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or(WalletError::MissingField {
                what: "token response",
                field: "access_token".into(),
                expected: "a string",
            })
    }

    /// A fresh `c_nonce` from the nonce endpoint.
    pub async fn fresh_nonce(&self) -> Result<String, WalletError> {
        let url = self.metadata["nonce_endpoint"]
            .as_str()
            .ok_or(WalletError::MissingField {
                what: "credential issuer metadata",
                field: "nonce_endpoint".into(),
                expected: "a URL",
            })?;
        let resp = self
            .wallet
            .http()
            .post(url, "application/json", Vec::new())
            .await?
            .error_for_status()?
            .json_or_text();
        resp["c_nonce"]
            .as_str()
            .map(str::to_owned)
            .ok_or(WalletError::MissingField {
                what: "nonce response",
                field: "c_nonce".into(),
                expected: "a string",
            })
    }

    /// The claims of a key proof for `nonce` (8.2.1.1): `aud`, `iat`, `nonce`.
    pub fn proof_claims(&self, nonce: &str) -> Value {
        json!({
            "aud": self.credential_issuer(),
            "iat": self.wallet.now(),
            "nonce": nonce,
        })
    }

    /// Signs a key proof with the holder key of `holder` (the active one when `None`): the
    /// public key as `jwk` for an SD-JWT VC, as a DID URL `kid` for a JWT-VC.
    pub fn sign_proof(&self, claims: &Value, holder: Option<&str>) -> Result<String, WalletError> {
        let h = self.wallet.holder(holder)?;
        let mut header = Header::new(h.key.algorithm());
        header.typ = Some(KEY_PROOF_TYP.into());
        match self.format()? {
            CredentialFormat::SdJwtVc => header.jwk = Some(h.key.public_jwk()),
            CredentialFormat::JwtVc => header.kid = Some(h.kid.clone()),
        }
        let payload = serde_json::to_vec(claims).map_err(|e| WalletError::HolderKey {
            reason: format!("cannot serialise the proof: {e}"),
        })?;
        sign_compact(&h.key, &header, &payload).map_err(|e| WalletError::HolderKey {
            reason: format!("signing failed: {e}"),
        })
    }

    /// The credential request body for `proofs` (OpenID4VCI 1.0: `proofs.jwt`).
    pub fn credential_request(&self, proofs: &[String]) -> Value {
        json!({
            "credential_configuration_id": self.configuration_id,
            "proofs": { "jwt": proofs },
        })
    }

    /// POSTs `body` to the credential endpoint with `access_token`; the answer as it came.
    pub async fn credential_raw(
        &self,
        access_token: &str,
        body: &Value,
    ) -> Result<Answer, WalletError> {
        let resp = self.post_credential(access_token, body).await?;
        Ok((resp.status, resp.json_or_text()))
    }

    async fn post_credential(
        &self,
        access_token: &str,
        body: &Value,
    ) -> Result<Response, WalletError> {
        let url =
            self.metadata["credential_endpoint"]
                .as_str()
                .ok_or(WalletError::MissingField {
                    what: "credential issuer metadata",
                    field: "credential_endpoint".into(),
                    expected: "a URL",
                })?;
        self.wallet
            .http()
            .post_with_bearer(
                url,
                "application/json",
                access_token,
                body.to_string().into_bytes(),
            )
            .await
    }

    /// Verifies an issued credential of the offered format, bound to `holder`, without storing
    /// it.
    pub async fn verify_credential(
        &self,
        credential: &str,
        holder: Option<&str>,
    ) -> Result<StoredCredential, WalletError> {
        match self.format()? {
            CredentialFormat::JwtVc => {
                let iss = crate::request::unverified_str("credential", credential, "iss")?;
                verify_jwt_vc(self.wallet, credential, &iss, holder).await
            }
            CredentialFormat::SdJwtVc => verify_sd_jwt_vc(self.wallet, credential, holder).await,
        }
    }

    /// Runs the whole flow: redeem, nonce, proof, credential; verifies and stores it.
    pub async fn receive(&self, opts: &OfferOptions) -> Result<StoredCredential, WalletError> {
        let token = self.redeem(opts.tx_code.as_deref()).await?;
        let nonce = self.fresh_nonce().await?;
        let proof = self.sign_proof(&self.proof_claims(&nonce), opts.holder.as_deref())?;
        let body = self
            .post_credential(&token, &self.credential_request(&[proof]))
            .await?
            .error_for_status()?
            .json_or_text();
        let credential =
            body["credentials"][0]["credential"]
                .as_str()
                .ok_or(WalletError::MissingField {
                    what: "credential response",
                    field: "credentials[0].credential".into(),
                    expected: "a string (deferred issuance is not supported)",
                })?;
        let stored = self
            .verify_credential(credential, opts.holder.as_deref())
            .await?;
        self.wallet.store_credential(stored.clone())?;
        Ok(stored)
    }
}

impl Wallet {
    /// Receives the credential of an OpenID4VCI offer (`openid-credential-offer://...`) with
    /// the pre-authorized code flow, and stores it.
    pub async fn receive_offer(
        &self,
        url: &str,
        opts: &OfferOptions,
    ) -> Result<StoredCredential, WalletError> {
        OfferSession::start(self, url).await?.receive(opts).await
    }
}

/// Issuer keys for SD-JWT VCs: the `kid` must be a DID URL of `iss`, listed under the DID's
/// assertionMethod.
struct DidIssuerKeys<'w> {
    wallet: &'w Wallet,
}

#[async_trait::async_trait]
impl IssuerKeyLookup for DidIssuerKeys<'_> {
    async fn issuer_key(
        &self,
        issuer: Option<&str>,
        header: &Header,
    ) -> Result<Jwk, KeyLookupError> {
        let not_found = |reason: String| KeyLookupError::NotFound { reason };
        let issuer = issuer.ok_or_else(|| not_found("the SD-JWT VC has no `iss`".into()))?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| not_found("the issuer JWT has no `kid`".into()))?;
        let kid_did = kid.split_once('#').map(|(d, _)| d).unwrap_or_default();
        if kid_did != issuer {
            return Err(not_found(format!(
                "`kid` {kid} is not a key of the issuer {issuer}"
            )));
        }
        let doc = self.wallet.resolver().resolve(issuer).await.map_err(|e| {
            KeyLookupError::Unavailable {
                reason: format!("could not resolve {issuer}: {e}"),
            }
        })?;
        doc.key_for(kid, Relationship::AssertionMethod)
            .map_err(|e| not_found(e.to_string()))
    }
}

/// Registered claims of an SD-JWT VC, kept out of the stored claims.
const REGISTERED: &[&str] = &[
    "iss",
    "sub",
    "iat",
    "nbf",
    "exp",
    "vct",
    "vct#integrity",
    "cnf",
    "status",
    "jti",
];

async fn verify_sd_jwt_vc(
    wallet: &Wallet,
    credential: &str,
    holder: Option<&str>,
) -> Result<StoredCredential, WalletError> {
    const WHAT: &str = "SD-JWT VC";
    let h = wallet.holder(holder)?;
    let verified = verity_sd_jwt::verify(
        credential,
        &DidIssuerKeys { wallet },
        &VerifyOptions::sd_jwt_vc(wallet.now(), KeyBindingPolicy::NotRequired),
    )
    .await
    .map_err(|e| WalletError::InvalidToken {
        what: WHAT,
        reason: e.to_string(),
    })?;
    let ours = h.key.public_jwk();
    let bound = verified
        .holder_key
        .as_ref()
        .is_some_and(|k| k.thumbprint().ok() == ours.thumbprint().ok());
    if !bound {
        return Err(WalletError::WrongSubject {
            field: "cnf.jwk",
            expected: h.did.clone(),
            found: "another key".into(),
        });
    }
    let vct = verified.vct.clone().ok_or(WalletError::MissingField {
        what: WHAT,
        field: "vct".into(),
        expected: "a string",
    })?;
    let claims: Map<String, Value> = verified
        .claims
        .iter()
        .filter(|(k, _)| !REGISTERED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(StoredCredential {
        id: None,
        format: CredentialFormat::SdJwtVc,
        jwt: credential.trim().to_owned(),
        issuer: verified.issuer.clone().unwrap_or_default(),
        subject: h.did,
        types: vec![vct],
        claims,
        received_at: wallet.config().clock.now(),
        expires_at: verified
            .claims
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|e| chrono::DateTime::from_timestamp(e, 0)),
    })
}
