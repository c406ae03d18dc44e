//! Answering an OpenID4VP 1.0 request (`openid4vp://`): DCQL and `direct_post`.
//!
//! 1. **Request** ([`Openid4vpSession::start`]): by reference (`client_id` + `request_uri`),
//!    the request object is fetched and checked: header `typ` `oauth-authz-req+jwt`, the
//!    `client_id` of the URL equals the object's, its prefix is `decentralized_identifier`
//!    and the signature verifies under the header `kid`, a verification method of that DID
//!    (section 5.9.3); `exp` required. By value, only the `redirect_uri` prefix is accepted
//!    (such requests cannot be signed), and its identifier must be the `response_uri`. Then:
//!    `response_type` `vp_token`, `response_mode` `direct_post`, a `response_uri`, no
//!    `redirect_uri`, a `nonce`, and a valid `dcql_query` ([`DcqlQuery::from_json`]).
//! 2. **Selection** ([`Openid4vpSession::select`]): per Credential Query, the stored
//!    credentials of its format and type (`vct_values`; every type of one `type_values`
//!    alternative), held by one of this wallet's keys, unexpired, with every claim the query
//!    names (and a value it allows); then one option per Credential Set (the first that can
//!    be answered in full), or every query without sets.
//! 3. **vp_token** ([`Openid4vpSession::build`]): `dc+sd-jwt` presents only the Disclosures of
//!    the claims asked for plus a KB-JWT (`aud` = the full Client Identifier, prefix included;
//!    `nonce`; `sd_hash`); `jwt_vc_json` a VP JWT signed by the credential's holder DID (`aud`,
//!    `nonce`, `jti`, times). [`Openid4vpOptions`] bends any of it, so tests can send what a
//!    verifier must refuse.
//! 4. **Answer** ([`Openid4vpSession::submit`]): form POST of `vp_token` (the JSON object) and
//!    `state` to `response_uri`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use url::Url;
use verity_did::Relationship;
use verity_jose::{SigningKey, TokenKind, UnverifiedJws};
use verity_presentation::dcql::select_claims;
use verity_presentation::dcql::{CredentialFormat as DcqlFormat, CredentialQuery, DcqlQuery};
use verity_presentation::openid4vp::{PREFIX_DECENTRALIZED_IDENTIFIER, PREFIX_REDIRECT_URI};
use verity_sd_jwt::{ClaimPath, KeyBindingClaims, SdJwt};

use crate::error::{ServerError, WalletError};
use crate::presentation::{Presented, vp_claims};
use crate::request::{
    REQUEST_OBJECT_MEDIA_TYPE, check_token_times, check_typ, sign_claims, unverified_str,
    verify_did_signed,
};
use crate::wallet::{CredentialFormat, StoredCredential, Wallet};

/// The URL scheme of OpenID4VP requests (section 13.1.2 static configuration).
pub const OPENID4VP_SCHEME: &str = "openid4vp";

const WHAT: &str = "OpenID4VP request";

/// True for an `openid4vp://` URL.
pub fn is_openid4vp_url(url: &str) -> bool {
    Url::parse(url.trim()).is_ok_and(|u| u.scheme() == OPENID4VP_SCHEME)
}

/// A checked OpenID4VP request.
#[derive(Clone)]
pub struct Openid4vpRequest {
    /// The full Client Identifier (`<prefix>:<identifier>`): the `aud` of every presentation.
    pub client_id: String,
    /// The Client Identifier Prefix.
    pub client_id_prefix: String,
    /// The identifier after the prefix (the verifier's DID, or its response URI).
    pub verifier: String,
    /// Where the answer goes.
    pub response_uri: String,
    /// `nonce`.
    pub nonce: String,
    /// `state`, echoed in the answer when present.
    pub state: Option<String>,
    /// The DCQL query.
    pub dcql_query: DcqlQuery,
    /// Every request parameter (the request object's verified payload, or the URL's).
    pub parameters: Map<String, Value>,
    /// The signed request object, when the request came by reference.
    pub request_object: Option<String>,
}

impl fmt::Debug for Openid4vpRequest {
    // The nonce is this exchange's single-use secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Openid4vpRequest")
            .field("client_id", &self.client_id)
            .field("response_uri", &self.response_uri)
            .field("state", &self.state)
            .field(
                "credential_queries",
                &self
                    .dcql_query
                    .credentials
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The stored credentials that answer one Credential Query, newest first.
#[derive(Debug, Clone)]
pub struct QueryMatch {
    /// The Credential Query.
    pub query: CredentialQuery,
    /// Matching credentials of this wallet.
    pub candidates: Vec<StoredCredential>,
}

/// How to build the `vp_token`; the defaults give a correct answer. The overrides exist so
/// tests can build answers a verifier must refuse.
#[derive(Default)]
pub struct Openid4vpOptions {
    /// Credentials to present instead of the wallet's choice, by Credential Query id (the
    /// query's format decides how each is presented).
    pub credentials: BTreeMap<String, StoredCredential>,
    /// Credential Query ids left out of the `vp_token`.
    pub drop_queries: Vec<String>,
    /// Claims (top-level names, or `credentialSubject` members for JWT-VCs) not disclosed even
    /// though the query asks for them (SD-JWT VCs).
    pub withhold: Vec<String>,
    /// `nonce` of every KB-JWT / VP instead of the request's.
    pub nonce_override: Option<String>,
    /// `aud` of every KB-JWT / VP instead of the Client Identifier.
    pub aud_override: Option<String>,
    /// Signs every KB-JWT / VP with this key instead of the holder's.
    pub key_override: Option<SigningKey>,
    /// `state` instead of the request's (`Some("")` leaves it out).
    pub state_override: Option<String>,
}

impl fmt::Debug for Openid4vpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Openid4vpOptions")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("drop_queries", &self.drop_queries)
            .field("withhold", &self.withhold)
            .field("nonce_override", &self.nonce_override.is_some())
            .field("aud_override", &self.aud_override)
            .field("key_override", &self.key_override)
            .field("state_override", &self.state_override)
            .finish()
    }
}

/// A built answer, ready to POST.
#[derive(Clone)]
pub struct Openid4vpAnswer {
    /// The `vp_token` object: Credential Query id -> presentations.
    pub vp_token: Map<String, Value>,
    /// `state`, when the answer carries one.
    pub state: Option<String>,
    /// The holder DID of the first presentation.
    pub holder: String,
    /// The ids of the answered Credential Queries.
    pub queries: Vec<String>,
}

impl fmt::Debug for Openid4vpAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Openid4vpAnswer")
            .field("queries", &self.queries)
            .field("state", &self.state)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// One OpenID4VP presentation in progress.
pub struct Openid4vpSession<'w> {
    wallet: &'w Wallet,
    request: Openid4vpRequest,
}

impl fmt::Debug for Openid4vpSession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Openid4vpSession")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> WalletError {
    WalletError::InvalidToken {
        what: WHAT,
        reason: reason.into(),
    }
}

/// A string parameter.
fn param<'a>(params: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, WalletError> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WalletError::MissingField {
            what: WHAT,
            field: name.into(),
            expected: "a non-empty string",
        })
}

/// `<prefix>:<identifier>`, split at the first `:` (section 5.9.1).
fn split_client_id(client_id: &str) -> Result<(&str, &str), WalletError> {
    client_id
        .split_once(':')
        .filter(|(p, rest)| !p.is_empty() && !rest.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "client_id {client_id:?} has no Client Identifier Prefix; this wallet knows no pre-registered verifiers"
            ))
        })
}

impl<'w> Openid4vpSession<'w> {
    /// Reads the `openid4vp://` URL, fetches and verifies the request object when it comes by
    /// reference, and checks the parameters (module docs, step 1).
    pub async fn start(wallet: &'w Wallet, url: &str) -> Result<Openid4vpSession<'w>, WalletError> {
        let bad_url = |reason: &str| WalletError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = Url::parse(url.trim()).map_err(|e| bad_url(&e.to_string()))?;
        if parsed.scheme() != OPENID4VP_SCHEME {
            return Err(bad_url("the scheme is not openid4vp"));
        }
        let mut query: Map<String, Value> = Map::new();
        for (k, v) in parsed.query_pairs() {
            if query
                .insert(k.to_string(), Value::String(v.into_owned()))
                .is_some()
            {
                return Err(bad_url(&format!("{k} appears more than once")));
            }
        }
        let url_client_id = param(&query, "client_id")?.to_owned();
        let (request, token) = match query.get("request_uri").and_then(Value::as_str) {
            Some(request_uri) => {
                let (params, token) =
                    fetch_request_object(wallet, request_uri, &url_client_id).await?;
                (params, Some(token))
            }
            None => {
                if query.contains_key("request") {
                    return Err(invalid(
                        "a request object passed by value (`request`) is not supported; pass it by reference",
                    ));
                }
                let (prefix, _) = split_client_id(&url_client_id)?;
                if prefix != PREFIX_REDIRECT_URI {
                    return Err(invalid(format!(
                        "an unsigned request must use the {PREFIX_REDIRECT_URI} prefix, not {prefix}"
                    )));
                }
                // Objects travel as JSON text in URL parameters (section 5.1).
                for name in ["dcql_query", "client_metadata"] {
                    if let Some(Value::String(text)) = query.get(name) {
                        let v: Value = serde_json::from_str(text)
                            .map_err(|e| invalid(format!("{name} is not JSON: {e}")))?;
                        query.insert(name.into(), v);
                    }
                }
                (query, None)
            }
        };
        let request = check_parameters(request, token)?;
        Ok(Openid4vpSession { wallet, request })
    }

    /// The checked request.
    pub fn request(&self) -> &Openid4vpRequest {
        &self.request
    }

    /// The stored credentials that answer each Credential Query (module docs, step 2).
    pub fn select(&self) -> Vec<QueryMatch> {
        let now = self.wallet.now();
        let usable: Vec<StoredCredential> = self
            .wallet
            .credentials()
            .into_iter()
            .rev()
            .filter(|c| self.wallet.owns(&c.subject))
            .filter(|c| c.expires_at.is_none_or(|e| e.timestamp() > now))
            .collect();
        self.request
            .dcql_query
            .credentials
            .iter()
            .map(|q| QueryMatch {
                query: q.clone(),
                candidates: usable.iter().filter(|c| answers(q, c)).cloned().collect(),
            })
            .collect()
    }

    /// The Credential Query ids to answer: every query without Credential Sets; otherwise,
    /// per set, the first option whose queries all have a candidate (a required set without
    /// one fails).
    fn choose(&self, matches: &[QueryMatch]) -> Result<Vec<String>, WalletError> {
        let answerable = |id: &str| {
            matches
                .iter()
                .any(|m| m.query.id == id && !m.candidates.is_empty())
        };
        let Some(sets) = &self.request.dcql_query.credential_sets else {
            if let Some(m) = matches.iter().find(|m| m.candidates.is_empty()) {
                return Err(WalletError::NoMatchingCredential {
                    descriptor: m.query.id.clone(),
                });
            }
            return Ok(matches.iter().map(|m| m.query.id.clone()).collect());
        };
        let mut chosen: Vec<String> = Vec::new();
        for set in sets {
            match set
                .options
                .iter()
                .find(|o| o.iter().all(|id| answerable(id)))
            {
                Some(option) => {
                    for id in option {
                        if !chosen.contains(id) {
                            chosen.push(id.clone());
                        }
                    }
                }
                None if set.is_required() => {
                    return Err(WalletError::NoMatchingCredential {
                        descriptor: set
                            .options
                            .iter()
                            .map(|o| o.join("+"))
                            .collect::<Vec<_>>()
                            .join(" or "),
                    });
                }
                None => {}
            }
        }
        Ok(chosen)
    }

    /// Builds the `vp_token` (module docs, step 3).
    pub fn build(&self, opts: &Openid4vpOptions) -> Result<Openid4vpAnswer, WalletError> {
        let mut matches = self.select();
        // Credentials the caller imposes answer their queries, whatever the wallet holds.
        for m in &mut matches {
            if let Some(c) = opts.credentials.get(&m.query.id) {
                m.candidates = vec![c.clone()];
            }
        }
        let mut ids = self.choose(&matches)?;
        ids.retain(|id| !opts.drop_queries.contains(id));
        let aud = opts
            .aud_override
            .clone()
            .unwrap_or_else(|| self.request.client_id.clone());
        let nonce = opts
            .nonce_override
            .clone()
            .unwrap_or_else(|| self.request.nonce.clone());
        let mut vp_token = Map::new();
        let mut holder = String::new();
        for id in &ids {
            let Some(m) = matches.iter().find(|m| m.query.id == *id) else {
                return Err(invalid(format!(
                    "{id:?} is not a credential query of the request"
                )));
            };
            let credential =
                m.candidates
                    .first()
                    .cloned()
                    .ok_or_else(|| WalletError::NoMatchingCredential {
                        descriptor: id.clone(),
                    })?;
            let presentation = self.present(&m.query, &credential, &aud, &nonce, opts)?;
            if holder.is_empty() {
                holder = credential.subject.clone();
            }
            vp_token.insert(id.clone(), Value::Array(vec![Value::String(presentation)]));
        }
        let state = match &opts.state_override {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(s.clone()),
            None => self.request.state.clone(),
        };
        Ok(Openid4vpAnswer {
            vp_token,
            state,
            holder,
            queries: ids,
        })
    }

    /// One presentation of `credential` for `query`.
    fn present(
        &self,
        query: &CredentialQuery,
        credential: &StoredCredential,
        aud: &str,
        nonce: &str,
        opts: &Openid4vpOptions,
    ) -> Result<String, WalletError> {
        let holder = self.wallet.holder(Some(&credential.subject))?;
        let key = opts.key_override.as_ref().unwrap_or(&holder.key);
        match query.format {
            DcqlFormat::SdJwtVc => {
                let paths: Vec<ClaimPath> = query
                    .claims
                    .iter()
                    .flatten()
                    .map(|c| c.path.clone())
                    .filter(|p| {
                        !p.top_level_name()
                            .is_some_and(|n| opts.withhold.iter().any(|w| w == n))
                    })
                    .collect();
                present_sd_jwt(
                    &credential.jwt,
                    &paths,
                    &KeyBindingClaims {
                        audience: aud.to_owned(),
                        nonce: nonce.to_owned(),
                        issued_at: self.wallet.now(),
                    },
                    key,
                )
            }
            DcqlFormat::JwtVcJson => {
                let claims = vp_claims(
                    &holder.did,
                    aud,
                    nonce,
                    self.wallet.now(),
                    self.wallet.config().token_lifetime_secs,
                    std::slice::from_ref(&credential.jwt),
                );
                sign_claims(key, &holder.kid, &claims)
            }
            DcqlFormat::Other(ref f) => Err(invalid(format!("format {f} is not supported"))),
        }
    }

    /// POSTs `vp_token` (as JSON text) and `state` to the request's `response_uri`
    /// (`direct_post`); returns the status and body without error mapping.
    pub async fn submit(&self, answer: &Openid4vpAnswer) -> Result<(u16, Value), WalletError> {
        let vp_token = Value::Object(answer.vp_token.clone()).to_string();
        let mut pairs: Vec<(&str, &str)> = vec![("vp_token", vp_token.as_str())];
        if let Some(s) = &answer.state {
            pairs.push(("state", s.as_str()));
        }
        self.submit_form(&pairs).await
    }

    /// POSTs arbitrary form parameters to the `response_uri` (an Authorization Error Response,
    /// a hand-made `vp_token`); returns the status and body without error mapping.
    pub async fn submit_form(&self, pairs: &[(&str, &str)]) -> Result<(u16, Value), WalletError> {
        // Built before the await: the serializer is not Send.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let resp = self
            .wallet
            .http()
            .post(
                &self.request.response_uri,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            )
            .await?;
        Ok((resp.status, resp.json_or_text()))
    }
}

/// An SD-JWT VC presentation: `issued` with only the Disclosures for `paths`, and a KB-JWT
/// with `kb` signed by `key` (any key: a verifier decides whether it is the `cnf` key).
pub fn present_sd_jwt(
    issued: &str,
    paths: &[ClaimPath],
    kb: &KeyBindingClaims,
    key: &SigningKey,
) -> Result<String, WalletError> {
    let sd = SdJwt::parse(issued)
        .map_err(|e| WalletError::HolderKey {
            reason: format!("the stored SD-JWT VC cannot be read: {e}"),
        })?
        .present(paths)
        .map_err(|e| WalletError::HolderKey {
            reason: format!("cannot select the disclosures: {e}"),
        })?;
    key_binding(sd.as_str(), kb, key)
}

/// `sd_jwt` (ending in `~`) followed by a KB-JWT over exactly its bytes (RFC 9901 section
/// 4.3), signed by `key`.
pub fn key_binding(
    sd_jwt: &str,
    kb: &KeyBindingClaims,
    key: &SigningKey,
) -> Result<String, WalletError> {
    let payload = serde_json::json!({
        "iat": kb.issued_at,
        "aud": kb.audience,
        "nonce": kb.nonce,
        "sd_hash": verity_sd_jwt::HashAlg::Sha256.digest_b64(sd_jwt.as_bytes()),
    });
    let mut header = verity_jose::Header::new(key.algorithm());
    header.typ = Some(verity_sd_jwt::KB_JWT_TYP.to_owned());
    let kb_jwt =
        verity_jose::sign_compact(key, &header, payload.to_string().as_bytes()).map_err(|e| {
            WalletError::HolderKey {
                reason: format!("signing the key binding JWT failed: {e}"),
            }
        })?;
    Ok(format!("{sd_jwt}{kb_jwt}"))
}

/// Whether `credential` answers `query`: format, type, and every claim the query names present
/// (with an allowed value when it lists `values`).
fn answers(query: &CredentialQuery, credential: &StoredCredential) -> bool {
    let container: Map<String, Value> = match (&query.format, credential.format) {
        (DcqlFormat::SdJwtVc, CredentialFormat::SdJwtVc) => {
            let vct_ok = query
                .meta
                .vct_values
                .as_ref()
                .is_some_and(|v| credential.types.iter().any(|t| v.contains(t)));
            if !vct_ok {
                return false;
            }
            credential.claims.clone()
        }
        (DcqlFormat::JwtVcJson, CredentialFormat::JwtVc) => {
            let type_ok = query.meta.type_values.as_ref().is_some_and(|alts| {
                alts.iter()
                    .any(|alt| alt.iter().all(|t| credential.types.contains(t)))
            });
            if !type_ok {
                return false;
            }
            // Paths start at the credential: the `vc` object of a VCDM 1.1 JWT.
            match UnverifiedJws::parse(&credential.jwt)
                .ok()
                .and_then(|j| j.payload_unverified::<Value>().ok())
                .and_then(|p| p.get("vc").and_then(Value::as_object).cloned())
            {
                Some(vc) => vc,
                None => return false,
            }
        }
        _ => return false,
    };
    query.claims.iter().flatten().all(|c| {
        select_claims(&container, &c.path).is_some_and(|found| {
            c.values
                .as_ref()
                .is_none_or(|values| found.iter().any(|v| values.contains(v)))
        })
    })
}

/// GETs and verifies the request object at `request_uri` (module docs, step 1); returns its
/// verified payload and the token.
async fn fetch_request_object(
    wallet: &Wallet,
    request_uri: &str,
    url_client_id: &str,
) -> Result<(Map<String, Value>, String), WalletError> {
    const OBJECT: &str = "OpenID4VP request object";
    let resp = wallet
        .http()
        .get(request_uri, REQUEST_OBJECT_MEDIA_TYPE)
        .await?
        .error_for_status()?;
    let token = String::from_utf8(resp.body)
        .map_err(|_| WalletError::UnexpectedResponse {
            url: request_uri.to_owned(),
            status: resp.status,
            reason: "the request object is not UTF-8 text".into(),
        })?
        .trim()
        .to_owned();
    check_typ(OBJECT, TokenKind::RequestObject, &token)?;
    let client_id = unverified_str(OBJECT, &token, "client_id")?;
    if client_id != url_client_id {
        return Err(WalletError::IdentityMismatch {
            what: OBJECT,
            field: "client_id",
            expected: url_client_id.to_owned(),
            found: client_id,
        });
    }
    let (prefix, did) = split_client_id(&client_id)?;
    if prefix != PREFIX_DECENTRALIZED_IDENTIFIER {
        return Err(invalid(format!(
            "Client Identifier Prefix {prefix} is not supported for signed requests (only {PREFIX_DECENTRALIZED_IDENTIFIER})"
        )));
    }
    // Section 5.9.3: a key of the DID document's verificationMethod, named by `kid`.
    let verified = verify_did_signed(
        wallet,
        OBJECT,
        &token,
        did,
        &[Relationship::Authentication, Relationship::AssertionMethod],
    )
    .await?;
    check_token_times(wallet, OBJECT, &verified.claims, true)?;
    let Value::Object(params) = verified.claims else {
        return Err(invalid("the request object payload is not a JSON object"));
    };
    Ok((params, token))
}

/// The parameter checks both ways of passing a request share (module docs, step 1).
fn check_parameters(
    params: Map<String, Value>,
    request_object: Option<String>,
) -> Result<Openid4vpRequest, WalletError> {
    let client_id = param(&params, "client_id")?.to_owned();
    let (prefix, verifier) = split_client_id(&client_id)?;
    let (prefix, verifier) = (prefix.to_owned(), verifier.to_owned());
    let response_type = param(&params, "response_type")?;
    if response_type != "vp_token" {
        return Err(invalid(format!(
            "response_type {response_type:?} is not vp_token"
        )));
    }
    let mode = param(&params, "response_mode")?;
    if mode != "direct_post" {
        return Err(invalid(format!(
            "response_mode {mode:?} is not supported (direct_post)"
        )));
    }
    if params.contains_key("redirect_uri") {
        return Err(invalid(
            "redirect_uri must not be present with response_mode direct_post (section 8.2)",
        ));
    }
    let response_uri = param(&params, "response_uri")?.to_owned();
    if prefix == PREFIX_REDIRECT_URI && verifier != response_uri {
        return Err(WalletError::IdentityMismatch {
            what: WHAT,
            field: "client_id",
            expected: format!("{PREFIX_REDIRECT_URI}:{response_uri}"),
            found: client_id,
        });
    }
    let nonce = param(&params, "nonce")?.to_owned();
    let state = params
        .get("state")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let dcql = params
        .get("dcql_query")
        .ok_or_else(|| WalletError::MissingField {
            what: WHAT,
            field: "dcql_query".into(),
            expected: "a DCQL query object",
        })?;
    let dcql_query = DcqlQuery::from_json(dcql).map_err(|e| invalid(e.to_string()))?;
    Ok(Openid4vpRequest {
        client_id,
        client_id_prefix: prefix,
        verifier,
        response_uri,
        nonce,
        state,
        dcql_query,
        parameters: params,
        request_object,
    })
}

impl Wallet {
    /// Answers the OpenID4VP request behind an `openid4vp://` URL with stored credentials
    /// picked automatically; fails with the verifier's error unless it answers 2xx.
    pub(crate) async fn present_openid4vp(&self, url: &str) -> Result<Presented, WalletError> {
        let session = Openid4vpSession::start(self, url).await?;
        let answer = session.build(&Openid4vpOptions::default())?;
        let (status, body) = session.submit(&answer).await?;
        if !(200..300).contains(&status) {
            return Err(WalletError::Server(Box::new(ServerError::from_response(
                &session.request.response_uri,
                status,
                &body,
            ))));
        }
        Ok(Presented {
            status,
            body,
            holder: answer.holder,
            descriptors: answer.queries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openid4vp_urls_are_recognised() {
        assert!(is_openid4vp_url(
            "openid4vp://?client_id=x&request_uri=https://a/b"
        ));
        assert!(!is_openid4vp_url("openid-vc://?request_uri=https://a/b"));
        assert!(!is_openid4vp_url("not a url"));
    }

    #[test]
    fn client_ids_need_a_prefix() {
        assert_eq!(
            split_client_id("decentralized_identifier:did:web:a").unwrap(),
            ("decentralized_identifier", "did:web:a")
        );
        assert!(split_client_id("example-client").is_err());
        assert!(split_client_id(":x").is_err());
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn base() -> Value {
        json!({
            "client_id": "redirect_uri:https://v.example/r/1",
            "response_type": "vp_token", "response_mode": "direct_post",
            "response_uri": "https://v.example/r/1", "nonce": "n-1", "state": "s-1",
            "dcql_query": { "credentials": [ { "id": "A", "format": "jwt_vc_json",
                "meta": { "type_values": [["A"]] } } ] },
        })
    }

    #[test]
    fn parameters_are_checked() {
        let r = check_parameters(params(base()), None).unwrap();
        assert_eq!(r.verifier, "https://v.example/r/1");
        assert_eq!(r.state.as_deref(), Some("s-1"));
        for (member, value, needle) in [
            ("response_type", json!("code"), "response_type"),
            ("response_mode", json!("fragment"), "response_mode"),
            ("redirect_uri", json!("https://x"), "redirect_uri"),
            (
                "client_id",
                json!("redirect_uri:https://evil/"),
                "client_id",
            ),
            ("nonce", json!(""), "nonce"),
            ("dcql_query", json!({ "credentials": [] }), "credentials"),
        ] {
            let mut v = base();
            v[member] = value;
            let e = check_parameters(params(v), None).unwrap_err();
            assert!(e.to_string().contains(needle), "{member}: {e}");
        }
    }

    fn stored(
        format: CredentialFormat,
        types: &[&str],
        claims: Value,
        jwt: &str,
    ) -> StoredCredential {
        StoredCredential {
            id: None,
            format,
            jwt: jwt.into(),
            issuer: "did:web:i".into(),
            subject: "did:jwk:x".into(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            claims: claims.as_object().unwrap().clone(),
            received_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            expires_at: None,
        }
    }

    #[test]
    fn queries_match_format_type_and_claims() {
        let q: CredentialQuery = serde_json::from_value(json!({
            "id": "E", "format": "dc+sd-jwt", "meta": { "vct_values": ["https://i/vct/e"] },
            "claims": [ { "path": ["jobTitle"], "values": ["Engineer"] } ] }))
        .unwrap();
        let ok = stored(
            CredentialFormat::SdJwtVc,
            &["https://i/vct/e"],
            json!({"jobTitle": "Engineer"}),
            "x~",
        );
        assert!(answers(&q, &ok));
        let wrong_value = stored(
            CredentialFormat::SdJwtVc,
            &["https://i/vct/e"],
            json!({"jobTitle": "CEO"}),
            "x~",
        );
        assert!(!answers(&q, &wrong_value));
        let wrong_type = stored(
            CredentialFormat::SdJwtVc,
            &["https://i/vct/other"],
            json!({"jobTitle": "Engineer"}),
            "x~",
        );
        assert!(!answers(&q, &wrong_type));
        let jwt_vc = stored(
            CredentialFormat::JwtVc,
            &["https://i/vct/e"],
            json!({"jobTitle": "Engineer"}),
            "a.b.c",
        );
        assert!(
            !answers(&q, &jwt_vc),
            "a JWT-VC never answers a dc+sd-jwt query"
        );
    }
}
