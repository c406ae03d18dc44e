//! Receiving a credential (docs/PROTOCOL.md "Issuance", steps 2-5).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use verity_did::Relationship;
use verity_jose::{SigningKey, TokenKind};

use crate::error::{ServerError, WalletError};
use crate::presentation::vp_claims;
use crate::request::{
    RequestObject, check_kind, check_token_times, check_typ, fetch_request, require_eq,
    sign_claims, str_field, unverified_str, verify_did_signed,
};
use crate::wallet::{CredentialFormat, StoredCredential, Wallet};

/// `iss` of the holder request (docs/PROTOCOL.md step 4).
pub const SELF_ISSUED_ISSUER: &str = "https://self-issued.me";

/// `details` the wallet sends with `issuance_failed` when it refuses the issued credential.
pub const DETAILS_CREDENTIAL_REJECTED: &str = "credential_rejected";

/// What the holder brings to an issuance: PIN and attestations.
#[derive(Clone, Default)]
pub struct ReceiveOptions {
    /// The PIN the RP showed the user, when the request asks for one.
    pub pin: Option<String>,
    /// Values typed by the holder (`attestations.selfIssued`).
    pub self_issued: Map<String, Value>,
    /// id_tokens by configuration (discovery) URL (`attestations.idTokens`); the request's
    /// `id_token_hint` is added under `https://self-issued.me` unless given here.
    pub id_tokens: BTreeMap<String, String>,
    /// VP JWTs by credential type (`attestations.presentations`). Types the manifest asks for
    /// and this map lacks are built from stored credentials by [`Wallet::receive`].
    pub presentations: BTreeMap<String, String>,
    /// Access tokens by configuration (`attestations.accessTokens`).
    pub access_tokens: BTreeMap<String, String>,
    /// The holder DID to receive under; the active one when `None`.
    pub holder: Option<String>,
}

impl fmt::Debug for ReceiveOptions {
    // PINs and tokens never reach logs: show which attestations are present, not their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveOptions")
            .field("pin", &self.pin.as_ref().map(|_| "[redacted]"))
            .field("self_issued", &self.self_issued.keys().collect::<Vec<_>>())
            .field("id_tokens", &self.id_tokens.keys().collect::<Vec<_>>())
            .field(
                "presentations",
                &self.presentations.keys().collect::<Vec<_>>(),
            )
            .field(
                "access_tokens",
                &self.access_tokens.keys().collect::<Vec<_>>(),
            )
            .field("holder", &self.holder)
            .finish()
    }
}

/// The request object's `pin` member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRequirement {
    /// `length`: the number of characters.
    pub length: Option<u64>,
    /// `type`: `numeric` or `alphanumeric`.
    pub kind: Option<String>,
    /// `alg`: the hash (only `sha256` is defined).
    pub alg: String,
    /// `salt`: a hex string, prepended to the PIN as text before hashing.
    pub salt: String,
}

/// `base64(sha256(salt + pin))` with the salt used as the hex text it is (docs/PROTOCOL.md
/// step 4), standard base64 with padding.
pub fn pin_hash(salt: &str, pin: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(pin.as_bytes());
    STANDARD.encode(h.finalize())
}

/// Checks the request's `id_token_hint`, when there is one: signed by a key of the request's
/// `client_id` and an id_token_hint by its kind's rules, so another token the authority signed
/// (a credential, a manifest) is never carried as the hint.
async fn verify_hint(wallet: &Wallet, request: &RequestObject) -> Result<(), WalletError> {
    const WHAT: &str = "id_token_hint";
    let Some(hint) = request.claims.get("id_token_hint") else {
        return Ok(());
    };
    let hint = hint.as_str().ok_or_else(|| WalletError::MissingField {
        what: "request object",
        field: "id_token_hint".into(),
        expected: "a compact JWS string",
    })?;
    check_typ(WHAT, TokenKind::IdTokenHint, hint)?;
    let verified = verify_did_signed(
        wallet,
        WHAT,
        hint,
        &request.client_id,
        &[Relationship::AssertionMethod, Relationship::Authentication],
    )
    .await?;
    check_kind(
        WHAT,
        TokenKind::IdTokenHint,
        &verified.header,
        &verified.claims,
    )
}

/// One issuance in progress: the verified request object and manifest, and each protocol step
/// as its own call so tests can change what the wallet sends.
pub struct IssuanceSession<'w> {
    wallet: &'w Wallet,
    request: RequestObject,
    manifest_url: String,
    manifest_token: String,
    manifest: Value,
    credential_issuer: String,
    issuer: String,
}

impl fmt::Debug for IssuanceSession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuanceSession")
            .field("request", &self.request)
            .field("manifest_url", &self.manifest_url)
            .field("credential_issuer", &self.credential_issuer)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl<'w> IssuanceSession<'w> {
    /// Fetches and verifies the request object behind `url` and the manifest it names.
    ///
    /// The manifest (`{ "token": <JWS> }`) must be signed by a key of the request's `client_id`
    /// (assertionMethod or authentication), with `iss` == `client_id`, `input.issuer` (when
    /// present) == `iss`, `input.credentialIssuer` present, no `iat`/`exp` problem, and be a
    /// [`TokenKind::Manifest`]. An `id_token_hint` in the request must be signed by the same
    /// DID and be a [`TokenKind::IdTokenHint`].
    pub async fn start(wallet: &'w Wallet, url: &str) -> Result<IssuanceSession<'w>, WalletError> {
        const WHAT: &str = "manifest";
        let request = fetch_request(wallet, url).await?;
        if !request.is_issuance() {
            return Err(WalletError::WrongRequestKind {
                expected: "an issuance",
                found: "a presentation",
            });
        }
        let manifest_url = request
            .input_descriptors()
            .first()
            .and_then(|d| d.get("issuance"))
            .and_then(|i| i.get(0))
            .and_then(|i| i.get("manifest"))
            .and_then(Value::as_str)
            .ok_or_else(|| WalletError::MissingField {
                what: "request object",
                field: "claims.vp_token.presentation_definition.input_descriptors[0].issuance[0].manifest".into(),
                expected: "a string",
            })?
            .to_owned();
        let resp = wallet
            .http()
            .get(&manifest_url, "application/json")
            .await?
            .error_for_status()?;
        let body = resp.json_or_text();
        let manifest_token = body
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| WalletError::UnexpectedResponse {
                url: manifest_url.clone(),
                status: resp.status,
                reason: "the manifest response has no `token` string member".into(),
            })?
            .to_owned();
        check_typ(WHAT, TokenKind::Manifest, &manifest_token)?;
        let verified = verify_did_signed(
            wallet,
            WHAT,
            &manifest_token,
            &request.client_id,
            &[Relationship::AssertionMethod, Relationship::Authentication],
        )
        .await?;
        let manifest = &verified.claims;
        require_eq(WHAT, manifest, "iss", &request.client_id)?;
        check_token_times(wallet, WHAT, manifest, false)?;
        let credential_issuer = str_field(WHAT, manifest, "input.credentialIssuer")?.to_owned();
        check_kind(WHAT, TokenKind::Manifest, &verified.header, manifest)?;
        let manifest = verified.claims;
        verify_hint(wallet, &request).await?;
        let issuer = match manifest.get("input").and_then(|i| i.get("issuer")) {
            None => request.client_id.clone(),
            Some(_) => {
                require_eq(WHAT, &manifest["input"], "issuer", &request.client_id)?;
                request.client_id.clone()
            }
        };
        Ok(IssuanceSession {
            wallet,
            request,
            manifest_url,
            manifest_token,
            manifest,
            credential_issuer,
            issuer,
        })
    }

    /// The verified request object.
    pub fn request(&self) -> &RequestObject {
        &self.request
    }

    /// The verified request object's payload.
    pub fn request_claims(&self) -> &Value {
        &self.request.claims
    }

    /// The verified manifest payload.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// The manifest JWS as received.
    pub fn manifest_token(&self) -> &str {
        &self.manifest_token
    }

    /// The manifest URL from the request object (sent back as `contract`).
    pub fn manifest_url(&self) -> &str {
        &self.manifest_url
    }

    /// `input.credentialIssuer`: where the holder request is POSTed.
    pub fn credential_issuer(&self) -> &str {
        &self.credential_issuer
    }

    /// The DID expected to sign the credential.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The request's `state` (request id).
    pub fn state(&self) -> &str {
        &self.request.state
    }

    /// The request's `nonce`.
    pub fn nonce(&self) -> &str {
        &self.request.nonce
    }

    /// The request's `id_token_hint`, for idTokenHint contracts.
    pub fn id_token_hint(&self) -> Option<&str> {
        self.request
            .claims
            .get("id_token_hint")
            .and_then(Value::as_str)
    }

    /// The request's `pin` member, when the RP asked for a PIN.
    pub fn pin_requirement(&self) -> Option<PinRequirement> {
        let pin = self.request.claims.get("pin")?.as_object()?;
        let text = |k: &str| pin.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(PinRequirement {
            length: pin.get("length").and_then(Value::as_u64),
            kind: text("type"),
            alg: text("alg").unwrap_or_else(|| "sha256".into()),
            salt: text("salt").unwrap_or_default(),
        })
    }

    /// Checks `pin` against the request's requirement: present when asked for, the announced
    /// length and character type, and a hash the wallet can compute.
    pub fn check_pin(&self, pin: Option<&str>) -> Result<(), WalletError> {
        let Some(req) = self.pin_requirement() else {
            return Ok(());
        };
        let Some(pin) = pin else {
            return Err(WalletError::PinRequired {
                length: req.length.unwrap_or(0),
            });
        };
        let bad = |reason: String| Err(WalletError::PinFormat { reason });
        if !req.alg.eq_ignore_ascii_case("sha256") {
            return bad(format!(
                "the request asks for hash `{}`, only sha256 is defined",
                req.alg
            ));
        }
        let len = pin.chars().count() as u64;
        if let Some(want) = req.length
            && len != want
        {
            return bad(format!("the request asks for {want} characters, got {len}"));
        }
        if req.kind.as_deref() == Some("numeric") && !pin.chars().all(|c| c.is_ascii_digit()) {
            return bad("the request asks for a numeric PIN, the PIN has other characters".into());
        }
        Ok(())
    }

    /// The holder request payload the wallet would sign (docs/PROTOCOL.md step 4), with a fresh
    /// `jti` and `iat` = now. `pin` is included when the request announces a PIN and one is given;
    /// `attestations` is always present and holds only the non-empty kinds.
    pub fn holder_request_claims(&self, opts: &ReceiveOptions) -> Result<Value, WalletError> {
        let holder = self.wallet.holder(opts.holder.as_deref())?;
        let jwk = holder.key.public_jwk();
        let thumbprint = jwk.thumbprint().map_err(|e| WalletError::HolderKey {
            reason: format!("cannot compute the JWK thumbprint: {e}"),
        })?;
        let now = self.wallet.now();
        let mut claims = json!({
            "iss": SELF_ISSUED_ISSUER,
            "aud": self.credential_issuer,
            "sub": thumbprint,
            "sub_jwk": jwk,
            "did": holder.did,
            "contract": self.manifest_url,
            "state": self.request.state,
            "nonce": self.request.nonce,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "exp": now + self.wallet.config().token_lifetime_secs,
        });
        if let (Some(req), Some(pin)) = (self.pin_requirement(), opts.pin.as_deref()) {
            claims["pin"] = Value::String(pin_hash(&req.salt, pin));
        }
        let mut attestations = Map::new();
        let mut id_tokens = Map::new();
        if let Some(hint) = self.id_token_hint() {
            id_tokens.insert(SELF_ISSUED_ISSUER.into(), hint.into());
        }
        for (k, v) in &opts.id_tokens {
            id_tokens.insert(k.clone(), v.clone().into());
        }
        let strings = |m: &BTreeMap<String, String>| -> Map<String, Value> {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect()
        };
        for (name, map) in [
            ("idTokens", id_tokens),
            ("selfIssued", opts.self_issued.clone()),
            ("presentations", strings(&opts.presentations)),
            ("accessTokens", strings(&opts.access_tokens)),
        ] {
            if !map.is_empty() {
                attestations.insert(name.into(), Value::Object(map));
            }
        }
        claims["attestations"] = Value::Object(attestations);
        Ok(claims)
    }

    /// Signs `claims` as a JWT: with `key` (default: the wallet key of `claims.did`, else the
    /// active key) under `kid_override` (default: that holder's kid).
    pub fn sign_with(
        &self,
        claims: &Value,
        key: Option<&SigningKey>,
        kid_override: Option<&str>,
    ) -> Result<String, WalletError> {
        let did = claims
            .get("did")
            .and_then(Value::as_str)
            .filter(|d| self.wallet.owns(d));
        let holder = self.wallet.holder(did)?;
        let kid = kid_override.unwrap_or(&holder.kid);
        sign_claims(key.unwrap_or(&holder.key), kid, claims)
    }

    /// POSTs a signed holder request to `credentialIssuer` as `text/plain`; returns the status
    /// and body as they came (JSON, or a JSON string for other bodies), without error mapping.
    pub async fn submit(&self, jwt: &str) -> Result<(u16, Value), WalletError> {
        let resp = self
            .wallet
            .http()
            .post(
                &self.credential_issuer,
                "text/plain",
                jwt.as_bytes().to_vec(),
            )
            .await?;
        Ok((resp.status, resp.json_or_text()))
    }

    /// Verifies an issued JWT-VC without storing it: signed by a key of the issuer DID listed
    /// under assertionMethod, kid DID == `iss` == the manifest's issuer, `vc.issuer` (when
    /// present) == `iss`, times valid, `sub` and `vc.credentialSubject.id` == the holder DID
    /// (`holder`, or the active DID), and a [`TokenKind::Credential`] (not a status list,
    /// linkage or other token the issuer's key signed).
    pub async fn verify_credential(
        &self,
        vc: &str,
        holder: Option<&str>,
    ) -> Result<StoredCredential, WalletError> {
        verify_jwt_vc(self.wallet, vc, &self.issuer, holder).await
    }

    /// Verifies an issued JWT-VC ([`IssuanceSession::verify_credential`]) and stores it.
    pub async fn accept(
        &self,
        vc: &str,
        holder: Option<&str>,
    ) -> Result<StoredCredential, WalletError> {
        let cred = self.verify_credential(vc, holder).await?;
        self.wallet.store_credential(cred.clone())?;
        Ok(cred)
    }

    /// POSTs the completion `{ code, state, details? }` as JSON to `redirect_uri`; returns the
    /// status and body without error mapping.
    pub async fn complete(
        &self,
        code: &str,
        details: Option<&str>,
    ) -> Result<(u16, Value), WalletError> {
        let mut body = json!({ "code": code, "state": self.request.state });
        if let Some(d) = details {
            body["details"] = d.into();
        }
        let resp = self
            .wallet
            .http()
            .post(
                &self.request.redirect_uri,
                "application/json",
                body.to_string().into_bytes(),
            )
            .await?;
        Ok((resp.status, resp.json_or_text()))
    }

    /// The credential types the manifest's `input.attestations.presentations` asks for, with
    /// their accepted issuer DIDs (empty = any).
    pub fn required_presentations(&self) -> Vec<(String, Vec<String>)> {
        self.manifest
            .get("input")
            .and_then(|i| i.get("attestations"))
            .and_then(|a| a.get("presentations"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|p| {
                        let ty = p.get("credentialType").and_then(Value::as_str)?;
                        let issuers = p
                            .get("issuers")
                            .and_then(Value::as_array)
                            .map(|is| {
                                is.iter()
                                    .filter_map(|i| {
                                        i.get("iss").and_then(Value::as_str).or(i.as_str())
                                    })
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some((ty.to_owned(), issuers))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A VP JWT carrying `credential` for the presentations attestation: `iss` = the holder DID,
    /// `aud` = the authority (`client_id`), `nonce` = the request's nonce.
    pub fn presentation_attestation(
        &self,
        credential: &str,
        holder: Option<&str>,
    ) -> Result<String, WalletError> {
        let holder = self.wallet.holder(holder)?;
        let claims = vp_claims(
            &holder.did,
            &self.request.client_id,
            &self.request.nonce,
            self.wallet.now(),
            self.wallet.config().token_lifetime_secs,
            &[credential.to_owned()],
        );
        sign_claims(&holder.key, &holder.kid, &claims)
    }
}

impl Wallet {
    /// Receives a credential end to end: verify request object and manifest, check the PIN,
    /// add the request's id_token_hint and VPs for the manifest's presentations attestations,
    /// sign and POST the holder request, verify and store the credential, then POST
    /// `issuance_successful` to `redirect_uri`. If the credential fails verification the wallet
    /// POSTs `issuance_failed` (best effort) and returns the verification error. The credential
    /// is stored before the completion POST, so a refused completion
    /// ([`WalletError::CompletionFailed`]) leaves it in the wallet.
    pub async fn receive(
        &self,
        url: &str,
        mut opts: ReceiveOptions,
    ) -> Result<StoredCredential, WalletError> {
        let session = IssuanceSession::start(self, url).await?;
        session.check_pin(opts.pin.as_deref())?;
        let holder = self.holder(opts.holder.as_deref())?.did;
        for (ty, issuers) in session.required_presentations() {
            if opts.presentations.contains_key(&ty) {
                continue;
            }
            let now = self.now();
            let found = self.credentials().into_iter().rev().find(|c| {
                c.format == CredentialFormat::JwtVc
                    && c.subject == holder
                    && c.types.contains(&ty)
                    && (issuers.is_empty() || issuers.contains(&c.issuer))
                    && c.expires_at.is_none_or(|e| e.timestamp() > now)
            });
            if let Some(cred) = found {
                let vp = session.presentation_attestation(&cred.jwt, Some(&holder))?;
                opts.presentations.insert(ty, vp);
            }
        }
        let claims = session.holder_request_claims(&opts)?;
        let jwt = session.sign_with(&claims, None, None)?;
        let (status, body) = session.submit(&jwt).await?;
        if !(200..300).contains(&status) {
            return Err(WalletError::Server(Box::new(ServerError::from_response(
                session.credential_issuer(),
                status,
                &body,
            ))));
        }
        let vc = body.get("vc").and_then(Value::as_str).ok_or_else(|| {
            WalletError::UnexpectedResponse {
                url: session.credential_issuer().to_owned(),
                status,
                reason: "the issuance response has no `vc` string member".into(),
            }
        })?;
        let cred = match session.accept(vc, Some(&holder)).await {
            Ok(c) => c,
            Err(e) => {
                // Tell the RP the issuance did not complete; the original error matters more
                // than whether this notice got through.
                let _ = session
                    .complete("issuance_failed", Some(DETAILS_CREDENTIAL_REJECTED))
                    .await;
                return Err(e);
            }
        };
        let (status, body) = session.complete("issuance_successful", None).await?;
        if !(200..300).contains(&status) {
            return Err(WalletError::CompletionFailed {
                status,
                message: ServerError::from_response(&session.request.redirect_uri, status, &body)
                    .message,
            });
        }
        Ok(cred)
    }
}

/// Verifies a JWT-VC issued by `issuer` (a DID) to `holder` (the active DID when `None`),
/// without storing it; see [`IssuanceSession::verify_credential`].
pub(crate) async fn verify_jwt_vc(
    wallet: &Wallet,
    vc: &str,
    issuer: &str,
    holder: Option<&str>,
) -> Result<StoredCredential, WalletError> {
    const WHAT: &str = "credential";
    let holder = wallet.holder(holder)?.did;
    check_typ(WHAT, TokenKind::Credential, vc)?;
    let iss = unverified_str(WHAT, vc, "iss")?;
    if iss != issuer {
        return Err(WalletError::IdentityMismatch {
            what: WHAT,
            field: "iss",
            expected: issuer.to_owned(),
            found: iss,
        });
    }
    let verified =
        verify_did_signed(wallet, WHAT, vc, issuer, &[Relationship::AssertionMethod]).await?;
    let header = verified.header;
    let claims = verified.claims;
    check_token_times(wallet, WHAT, &claims, false)?;
    let sub = str_field(WHAT, &claims, "sub")?;
    if sub != holder {
        return Err(WalletError::WrongSubject {
            field: "sub",
            expected: holder,
            found: sub.to_owned(),
        });
    }
    let missing = |field: &str, expected| WalletError::MissingField {
        what: WHAT,
        field: field.into(),
        expected,
    };
    let body = claims
        .get("vc")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("vc", "an object"))?;
    let types: Vec<String> = body
        .get("type")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .filter(|t: &Vec<String>| t.iter().any(|t| t == "VerifiableCredential"))
        .ok_or_else(|| missing("vc.type", "an array containing \"VerifiableCredential\""))?;
    if let Some(vc_issuer) = body.get("issuer") {
        let id = vc_issuer
            .as_str()
            .or_else(|| vc_issuer.get("id").and_then(Value::as_str))
            .ok_or_else(|| missing("vc.issuer", "a string or an object with an id"))?;
        if id != iss {
            return Err(WalletError::IdentityMismatch {
                what: WHAT,
                field: "vc.issuer",
                expected: iss,
                found: id.to_owned(),
            });
        }
    }
    let mut subject = body
        .get("credentialSubject")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| missing("vc.credentialSubject", "an object"))?;
    if let Some(id) = subject.remove("id")
        && id.as_str() != Some(holder.as_str())
    {
        return Err(WalletError::WrongSubject {
            field: "vc.credentialSubject.id",
            expected: holder,
            found: id.as_str().map_or_else(|| id.to_string(), str::to_owned),
        });
    }
    check_kind(WHAT, TokenKind::Credential, &header, &claims)?;
    Ok(StoredCredential {
        id: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
        format: CredentialFormat::JwtVc,
        jwt: vc.trim().to_owned(),
        issuer: iss,
        subject: holder,
        types,
        claims: subject,
        received_at: wallet.config().clock.now(),
        expires_at: claims
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|e| DateTime::from_timestamp(e, 0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_hash_is_base64_sha256_of_salt_text_then_pin() {
        // Computed independently: printf '%s' 'a1b2c3d41234' | sha256sum | xxd -r -p | base64
        assert_eq!(
            pin_hash("a1b2c3d4", "1234"),
            "WoimeYFWqi+kOQX2B1yyZGaTZQnr/xSopM34huMdsWA="
        );
        assert_ne!(pin_hash("a1b2c3d4", "1234"), pin_hash("a1b2c3d4", "1235"));
    }

    #[test]
    fn options_debug_hides_pin_and_tokens() {
        let opts = ReceiveOptions {
            pin: Some("9876".into()),
            id_tokens: BTreeMap::from([("https://login.example/v2.0".into(), "eyJtoken".into())]),
            ..ReceiveOptions::default()
        };
        let debug = format!("{opts:?}");
        assert!(!debug.contains("9876"));
        assert!(!debug.contains("eyJtoken"));
        assert!(debug.contains("login.example"));
    }
}
