//! Answering a presentation request (protocol §2 "Presentation response").

use std::fmt;

use serde_json::{Map, Value, json};
use verity_jose::{SigningKey, UnverifiedJws};

use crate::error::{ServerError, WalletError};
use crate::request::{RequestObject, fetch_request, sign_claims};
use crate::wallet::{CredentialFormat, StoredCredential, Wallet};

/// `iss` of the id_token (protocol §2; SIOPv2 as the DIF JWT VC Presentation Profile uses it).
pub const SIOP_V2_ISSUER: &str = "https://self-issued.me/v2/openid-vc";

/// The VCDM 1.1 base context.
pub const CREDENTIALS_V1_CONTEXT: &str = "https://www.w3.org/2018/credentials/v1";

/// The payload of a vp_token: `iss` = holder, `aud`, `nonce`, a fresh `jti`, `nbf` = `iat`,
/// `exp`, and `vp` carrying the JWT-VCs.
pub(crate) fn vp_claims(
    holder: &str,
    aud: &str,
    nonce: &str,
    iat: i64,
    lifetime: i64,
    credentials: &[String],
) -> Value {
    json!({
        "iss": holder,
        "aud": aud,
        "nonce": nonce,
        "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "nbf": iat,
        "iat": iat,
        "exp": iat + lifetime,
        "vp": {
            "@context": [CREDENTIALS_V1_CONTEXT],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": credentials,
        },
    })
}

/// One `constraints.fields` entry of an input descriptor (DIF Presentation Exchange 2.0).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConstraint {
    /// JSONPath expressions, tried in order; the first that finds a value is used.
    pub path: Vec<String>,
    /// A JSON Schema the value must satisfy (`type`, `const`, `enum`, `pattern` are evaluated).
    pub filter: Option<Value>,
    /// When true, a credential without the field still matches.
    pub optional: bool,
}

/// One input descriptor of the request's presentation definition.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDescriptor {
    /// `id`: the credential type Verity asks for.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `purpose`.
    pub purpose: Option<String>,
    /// `schema[].uri`: also credential types.
    pub schema_uris: Vec<String>,
    /// `constraints.fields`.
    pub fields: Vec<FieldConstraint>,
}

impl InputDescriptor {
    fn from_json(i: usize, v: &Value) -> Result<InputDescriptor, WalletError> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let id = text("id").ok_or_else(|| WalletError::MissingField {
            what: "request object",
            field: format!("presentation_definition.input_descriptors[{i}].id"),
            expected: "a string",
        })?;
        let schema_uris = v
            .get("schema")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(|e| e.get("uri").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let fields = v
            .get("constraints")
            .and_then(|c| c.get("fields"))
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .map(|f| FieldConstraint {
                        path: f
                            .get("path")
                            .and_then(Value::as_array)
                            .map(|p| {
                                p.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                        filter: f.get("filter").cloned(),
                        optional: f.get("optional").and_then(Value::as_bool).unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(InputDescriptor {
            id,
            name: text("name"),
            purpose: text("purpose"),
            schema_uris,
            fields,
        })
    }

    /// The acceptedIssuers filter: the `pattern` of the field whose paths read the issuer.
    pub fn accepted_issuers_pattern(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| {
                f.path
                    .iter()
                    .any(|p| matches!(p.as_str(), "$.iss" | "$.issuer" | "$.vc.issuer"))
            })
            .and_then(|f| f.filter.as_ref())
            .and_then(|f| f.get("pattern"))
            .and_then(Value::as_str)
    }

    /// True when a credential with these `types` and JWT payload satisfies the descriptor: one
    /// of its types is the descriptor `id` or a schema uri, and every required field resolves
    /// to a value its filter accepts.
    pub fn matches(&self, types: &[String], payload: &Value) -> bool {
        let type_ok = types
            .iter()
            .any(|t| *t == self.id || self.schema_uris.iter().any(|u| u == t));
        type_ok
            && self.fields.iter().all(
                |f| match f.path.iter().find_map(|p| json_path(payload, p)) {
                    Some(value) => f.filter.as_ref().is_none_or(|s| schema_accepts(s, value)),
                    None => f.optional,
                },
            )
    }
}

/// Evaluates the JSONPath subset presentation definitions use: `$`, `.name`, `['name']`,
/// `["name"]` and `[index]`. Anything else (wildcards, filters) finds nothing.
pub fn json_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut cur = root;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return None;
            }
            cur = cur.get(name)?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            cur = if let Some(q) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                cur.get(q)?
            } else {
                cur.get(inner.parse::<usize>().ok()?)?
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// The JSON Schema subset filters use here: `type`, `const`, `enum`, `pattern` (unanchored, as
/// JSON Schema defines it). Other keywords are not evaluated. A pattern the regex engine cannot
/// compile rejects the value: the wallet must not reveal a credential it cannot show is wanted.
pub fn schema_accepts(schema: &Value, value: &Value) -> bool {
    let Some(schema) = schema.as_object() else {
        return true;
    };
    if let Some(t) = schema.get("type") {
        let one = |t: &Value| match t.as_str() {
            Some("string") => value.is_string(),
            Some("number") => value.is_number(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("boolean") => value.is_boolean(),
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("null") => value.is_null(),
            _ => false,
        };
        let ok = match t {
            Value::Array(ts) => ts.iter().any(one),
            t => one(t),
        };
        if !ok {
            return false;
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return false;
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return false;
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        // Non-strings are not constrained by `pattern` in JSON Schema.
        if let Some(s) = value.as_str() {
            match regex_lite::Regex::new(p) {
                Ok(re) if re.is_match(s) => {}
                _ => return false,
            }
        }
    }
    true
}

/// The stored credentials that satisfy one input descriptor, newest first.
#[derive(Debug, Clone)]
pub struct DescriptorMatch {
    /// The descriptor.
    pub descriptor: InputDescriptor,
    /// Matching credentials bound to one of this wallet's DIDs and not expired, newest first.
    pub candidates: Vec<StoredCredential>,
}

/// How to build a presentation response; the defaults give a correct one. The overrides exist
/// so tests can build responses a verifier must refuse.
#[derive(Default)]
pub struct PresentationOptions {
    /// JWT-VCs to present, in descriptor order (credential i answers descriptor i); empty means
    /// the wallet picks from its store.
    pub credentials: Vec<String>,
    /// The holder DID that presents; by default the DID the credentials are bound to.
    pub holder: Option<String>,
    /// `nonce` in both tokens instead of the request's.
    pub nonce_override: Option<String>,
    /// `aud` in both tokens instead of `client_id`.
    pub aud_override: Option<String>,
    /// Signs both tokens with this key (the header kid stays the holder's unless overridden).
    pub holder_key_override: Option<SigningKey>,
    /// Header `kid` of both tokens.
    pub kid_override: Option<String>,
    /// Raw `descriptor_map` entries appended after the wallet's own.
    pub extra_descriptors: Vec<Value>,
    /// Descriptor ids whose `descriptor_map` entries are left out (the credentials stay in the VP).
    pub drop_descriptors: Vec<String>,
    /// `iat` of both tokens (and `nbf` of the vp_token unless `nbf_override`).
    pub iat_override: Option<i64>,
    /// `exp` of both tokens.
    pub exp_override: Option<i64>,
    /// `nbf` of the vp_token.
    pub nbf_override: Option<i64>,
    /// Top-level members merged into the id_token payload last; `null` removes a member.
    pub id_token_patch: Map<String, Value>,
    /// Top-level members merged into the vp_token payload last; `null` removes a member.
    pub vp_token_patch: Map<String, Value>,
}

impl fmt::Debug for PresentationOptions {
    // Credentials are bearer material; count them instead of printing them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentationOptions")
            .field("credentials", &self.credentials.len())
            .field("holder", &self.holder)
            .field("nonce_override", &self.nonce_override.is_some())
            .field("aud_override", &self.aud_override)
            .field("holder_key_override", &self.holder_key_override)
            .field("kid_override", &self.kid_override)
            .field("extra_descriptors", &self.extra_descriptors.len())
            .field("drop_descriptors", &self.drop_descriptors)
            .field("iat_override", &self.iat_override)
            .field("exp_override", &self.exp_override)
            .field("nbf_override", &self.nbf_override)
            .field(
                "id_token_patch",
                &self.id_token_patch.keys().collect::<Vec<_>>(),
            )
            .field(
                "vp_token_patch",
                &self.vp_token_patch.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A built presentation response, ready to POST.
#[derive(Clone)]
pub struct PresentationResponse {
    /// The signed id_token.
    pub id_token: String,
    /// The signed vp_token.
    pub vp_token: String,
    /// The request's `state`, to POST with them.
    pub state: String,
    /// The holder DID that presents.
    pub holder: String,
    /// The JWT-VCs inside the vp_token, in order.
    pub credentials: Vec<String>,
}

impl fmt::Debug for PresentationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentationResponse")
            .field(
                "id_token",
                &format_args!("[redacted; {} bytes]", self.id_token.len()),
            )
            .field(
                "vp_token",
                &format_args!("[redacted; {} bytes]", self.vp_token.len()),
            )
            .field("state", &self.state)
            .field("holder", &self.holder)
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

/// The outcome of [`Wallet::present`].
#[derive(Debug, Clone)]
pub struct Presented {
    /// HTTP status of the response POST (2xx).
    pub status: u16,
    /// Its body (JSON, a JSON string for other bodies, `null` when empty).
    pub body: Value,
    /// The holder DID that presented.
    pub holder: String,
    /// The types of the credentials presented, per descriptor.
    pub descriptors: Vec<String>,
}

impl Presented {
    /// The upload URL and token when the verifier asks for a selfie (a face check).
    pub fn face_check_upload(&self) -> Option<(&str, &str)> {
        let f = &self.body["faceCheck"];
        Some((f["uploadUrl"].as_str()?, f["uploadToken"].as_str()?))
    }
}

/// One presentation in progress: the verified request object and its presentation definition.
pub struct PresentationSession<'w> {
    wallet: &'w Wallet,
    request: RequestObject,
    definition_id: String,
    descriptors: Vec<InputDescriptor>,
}

impl fmt::Debug for PresentationSession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentationSession")
            .field("request", &self.request)
            .field("definition_id", &self.definition_id)
            .field("descriptors", &self.descriptors)
            .finish_non_exhaustive()
    }
}

impl<'w> PresentationSession<'w> {
    /// Fetches and verifies the request object behind `url` and reads its presentation
    /// definition (`id` and at least one input descriptor with an `id`).
    pub async fn start(
        wallet: &'w Wallet,
        url: &str,
    ) -> Result<PresentationSession<'w>, WalletError> {
        let request = fetch_request(wallet, url).await?;
        if request.is_issuance() {
            return Err(WalletError::WrongRequestKind {
                expected: "a presentation",
                found: "an issuance",
            });
        }
        let missing = |field: &str, expected| WalletError::MissingField {
            what: "request object",
            field: field.into(),
            expected,
        };
        let pd = request
            .presentation_definition()
            .ok_or_else(|| missing("claims.vp_token.presentation_definition", "an object"))?;
        let definition_id = pd
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("presentation_definition.id", "a string"))?
            .to_owned();
        let list = request.input_descriptors();
        if list.is_empty() {
            return Err(missing(
                "presentation_definition.input_descriptors",
                "a non-empty array",
            ));
        }
        let descriptors = list
            .iter()
            .enumerate()
            .map(|(i, d)| InputDescriptor::from_json(i, d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PresentationSession {
            wallet,
            request,
            definition_id,
            descriptors,
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

    /// The presentation definition's `id`.
    pub fn definition_id(&self) -> &str {
        &self.definition_id
    }

    /// The input descriptors, in request order.
    pub fn descriptors(&self) -> &[InputDescriptor] {
        &self.descriptors
    }

    /// The request's `state`.
    pub fn state(&self) -> &str {
        &self.request.state
    }

    /// For each descriptor, the stored credentials that satisfy it (type = descriptor id or a
    /// schema uri, accepted issuers and other field filters, bound to one of this wallet's DIDs,
    /// not expired), newest first.
    pub fn select_credentials(&self) -> Vec<DescriptorMatch> {
        let now = self.wallet.now();
        let usable: Vec<(StoredCredential, Value)> = self
            .wallet
            .credentials()
            .into_iter()
            .rev()
            // The compatibility profile presents JWT-VCs only.
            .filter(|c| c.format == CredentialFormat::JwtVc)
            .filter(|c| self.wallet.owns(&c.subject))
            .filter(|c| c.expires_at.is_none_or(|e| e.timestamp() > now))
            .filter_map(|c| {
                let payload = UnverifiedJws::parse(&c.jwt)
                    .ok()?
                    .payload_unverified::<Value>()
                    .ok()?;
                Some((c, payload))
            })
            .collect();
        self.descriptors
            .iter()
            .map(|d| DescriptorMatch {
                descriptor: d.clone(),
                candidates: usable
                    .iter()
                    .filter(|(c, p)| d.matches(&c.types, p))
                    .map(|(c, _)| c.clone())
                    .collect(),
            })
            .collect()
    }

    /// Picks one holder DID with a credential for every descriptor (the active DID first) and
    /// the newest such credential per descriptor.
    fn choose(&self) -> Result<(String, Vec<String>), WalletError> {
        let matches = self.select_credentials();
        if let Some(m) = matches.iter().find(|m| m.candidates.is_empty()) {
            return Err(WalletError::NoMatchingCredential {
                descriptor: m.descriptor.id.clone(),
            });
        }
        let active = self.wallet.did();
        let mut holders: Vec<String> = vec![active.clone()];
        holders.extend(
            self.wallet
                .holders()
                .into_iter()
                .map(|h| h.did)
                .filter(|d| *d != active),
        );
        for holder in &holders {
            let picked: Option<Vec<String>> = matches
                .iter()
                .map(|m| {
                    m.candidates
                        .iter()
                        .find(|c| c.subject == *holder)
                        .map(|c| c.jwt.clone())
                })
                .collect();
            if let Some(jwts) = picked {
                return Ok((holder.clone(), jwts));
            }
        }
        let mut dids: Vec<String> = matches
            .iter()
            .flat_map(|m| m.candidates.iter().map(|c| c.subject.clone()))
            .collect();
        dids.sort();
        dids.dedup();
        Err(WalletError::MixedHolders {
            dids: dids.join(", "),
        })
    }

    /// Builds and signs the id_token and vp_token (protocol §2 "Presentation response").
    pub fn build_response(
        &self,
        opts: &PresentationOptions,
    ) -> Result<PresentationResponse, WalletError> {
        // (descriptor id, index into the VP's verifiableCredential) for each mapped descriptor.
        let (holder_did, credentials, mapping) = if opts.credentials.is_empty() {
            let (holder, per_descriptor) = self.choose()?;
            let mut unique: Vec<String> = Vec::new();
            let mut mapping = Vec::new();
            for (d, jwt) in self.descriptors.iter().zip(per_descriptor) {
                let idx = match unique.iter().position(|u| *u == jwt) {
                    Some(i) => i,
                    None => {
                        unique.push(jwt);
                        unique.len() - 1
                    }
                };
                mapping.push((d.id.clone(), idx));
            }
            (opts.holder.clone().unwrap_or(holder), unique, mapping)
        } else {
            let holder = match &opts.holder {
                Some(h) => h.clone(),
                None => opts
                    .credentials
                    .first()
                    .and_then(|jwt| UnverifiedJws::parse(jwt).ok())
                    .and_then(|j| j.payload_unverified::<Value>().ok())
                    .and_then(|p| p.get("sub").and_then(Value::as_str).map(str::to_owned))
                    .filter(|sub| self.wallet.owns(sub))
                    .unwrap_or_else(|| self.wallet.did()),
            };
            let mapping = self
                .descriptors
                .iter()
                .take(opts.credentials.len())
                .enumerate()
                .map(|(i, d)| (d.id.clone(), i))
                .collect();
            (holder, opts.credentials.clone(), mapping)
        };
        let holder = self.wallet.holder(Some(&holder_did))?;
        let cfg = self.wallet.config();
        let iat = opts.iat_override.unwrap_or_else(|| self.wallet.now());
        let exp = opts.exp_override.unwrap_or(iat + cfg.token_lifetime_secs);
        let aud = opts
            .aud_override
            .clone()
            .unwrap_or_else(|| self.request.client_id.clone());
        let nonce = opts
            .nonce_override
            .clone()
            .unwrap_or_else(|| self.request.nonce.clone());

        let mut descriptor_map: Vec<Value> = mapping
            .iter()
            .filter(|(id, _)| !opts.drop_descriptors.contains(id))
            .map(|(id, i)| {
                json!({
                    "id": id,
                    "format": "jwt_vp",
                    "path": "$",
                    "path_nested": {
                        "id": id,
                        "format": "jwt_vc",
                        "path": format!("$.verifiableCredential[{i}]"),
                    },
                })
            })
            .collect();
        descriptor_map.extend(opts.extra_descriptors.iter().cloned());

        let mut vp = vp_claims(&holder.did, &aud, &nonce, iat, 0, &credentials);
        vp["exp"] = exp.into();
        vp["nbf"] = opts.nbf_override.unwrap_or(iat).into();
        patch(&mut vp, &opts.vp_token_patch);

        let mut id_token = json!({
            "iss": SIOP_V2_ISSUER,
            "sub": holder.did,
            "aud": aud,
            "nonce": nonce,
            "iat": iat,
            "exp": exp,
            "_vp_token": {
                "presentation_submission": {
                    "id": uuid::Uuid::new_v4().to_string(),
                    "definition_id": self.definition_id,
                    "descriptor_map": descriptor_map,
                },
            },
        });
        patch(&mut id_token, &opts.id_token_patch);

        let key = opts.holder_key_override.as_ref().unwrap_or(&holder.key);
        let kid = opts.kid_override.as_deref().unwrap_or(&holder.kid);
        Ok(PresentationResponse {
            id_token: sign_claims(key, kid, &id_token)?,
            vp_token: sign_claims(key, kid, &vp)?,
            state: self.request.state.clone(),
            holder: holder.did,
            credentials,
        })
    }

    /// POSTs `id_token`, `vp_token` and `state` as `application/x-www-form-urlencoded` to the
    /// request's `redirect_uri`; returns the status and body without error mapping.
    pub async fn submit(
        &self,
        id_token: &str,
        vp_token: &str,
        state: &str,
    ) -> Result<(u16, Value), WalletError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token", id_token)
            .append_pair("vp_token", vp_token)
            .append_pair("state", state)
            .finish();
        let resp = self
            .wallet
            .http()
            .post(
                &self.request.redirect_uri,
                "application/x-www-form-urlencoded",
                form.into_bytes(),
            )
            .await?;
        Ok((resp.status, resp.json_or_text()))
    }
}

/// Merges `patch` into the top level of `claims`; `null` removes a member.
fn patch(claims: &mut Value, patch: &Map<String, Value>) {
    if let Some(obj) = claims.as_object_mut() {
        for (k, v) in patch {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Wallet {
    /// Uploads `selfie` (JPEG or PNG bytes, sent as they are) for the face check a
    /// presentation's answer asked for; returns the status and body without error mapping.
    /// The image is sent once and not kept.
    pub async fn upload_selfie(
        &self,
        presented: &Presented,
        selfie: &[u8],
    ) -> Result<(u16, Value), WalletError> {
        let (url, token) =
            presented
                .face_check_upload()
                .ok_or_else(|| WalletError::UnexpectedResponse {
                    url: "(presentation answer)".into(),
                    status: presented.status,
                    reason:
                        "the verifier did not ask for a selfie: no faceCheck upload in its answer"
                            .into(),
                })?;
        let content_type = if selfie.starts_with(&[0x89, b'P', b'N', b'G']) {
            "image/png"
        } else {
            "image/jpeg"
        };
        let resp = self
            .http()
            .post_with_bearer(url, content_type, token, selfie.to_vec())
            .await?;
        Ok((resp.status, resp.json_or_text()))
    }

    /// Answers the presentation request behind `url` with stored credentials picked
    /// automatically; fails with the server's error unless it answers 2xx.
    /// An `openid4vp://` URL is answered over OpenID4VP 1.0 (DCQL, `direct_post`; the
    /// `openid4vp` module).
    pub async fn present(&self, url: &str) -> Result<Presented, WalletError> {
        if crate::openid4vp::is_openid4vp_url(url) {
            return self.present_openid4vp(url).await;
        }
        self.present_with(url, &PresentationOptions::default())
            .await
    }

    /// [`Wallet::present`] with explicit options.
    pub async fn present_with(
        &self,
        url: &str,
        opts: &PresentationOptions,
    ) -> Result<Presented, WalletError> {
        let session = PresentationSession::start(self, url).await?;
        let response = session.build_response(opts)?;
        let (status, body) = session
            .submit(&response.id_token, &response.vp_token, &response.state)
            .await?;
        if !(200..300).contains(&status) {
            return Err(WalletError::Server(Box::new(ServerError::from_response(
                &session.request.redirect_uri,
                status,
                &body,
            ))));
        }
        Ok(Presented {
            status,
            body,
            holder: response.holder,
            descriptors: session.descriptors.iter().map(|d| d.id.clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset() {
        let v = json!({"iss": "did:web:a", "vc": {"issuer": {"id": "x"}, "type": ["A", "B"],
                       "credentialSubject": {"job title": "Engineer"}}});
        assert_eq!(json_path(&v, "$.iss"), Some(&json!("did:web:a")));
        assert_eq!(json_path(&v, "$.vc.issuer.id"), Some(&json!("x")));
        assert_eq!(json_path(&v, "$.vc.type[1]"), Some(&json!("B")));
        assert_eq!(
            json_path(&v, "$.vc.credentialSubject['job title']"),
            Some(&json!("Engineer"))
        );
        assert_eq!(json_path(&v, "$['vc'][\"type\"][0]"), Some(&json!("A")));
        assert_eq!(json_path(&v, "$"), Some(&v));
        for none in [
            "$.issuer",
            "$.vc.type[9]",
            "$.vc.*",
            "$..iss",
            "iss",
            "$.vc.type[x]",
            "$[",
        ] {
            assert_eq!(json_path(&v, none), None, "{none}");
        }
    }

    #[test]
    fn schema_subset() {
        let s = |v: Value| v;
        assert!(schema_accepts(&s(json!({"type": "string"})), &json!("x")));
        assert!(!schema_accepts(&s(json!({"type": "string"})), &json!(1)));
        assert!(schema_accepts(
            &s(json!({"type": ["string", "null"]})),
            &json!(null)
        ));
        assert!(schema_accepts(&s(json!({"type": "integer"})), &json!(3)));
        assert!(!schema_accepts(&s(json!({"type": "integer"})), &json!(3.5)));
        assert!(schema_accepts(&s(json!({"const": "a"})), &json!("a")));
        assert!(!schema_accepts(&s(json!({"const": "a"})), &json!("b")));
        assert!(schema_accepts(&s(json!({"enum": ["a", "b"]})), &json!("b")));
        assert!(!schema_accepts(
            &s(json!({"enum": ["a", "b"]})),
            &json!("c")
        ));
        // Protocol §2 example filter: an alternation of accepted issuer DIDs.
        let issuers = json!({"type": "string", "pattern": "did:web:a|did:web:b"});
        assert!(schema_accepts(&issuers, &json!("did:web:a")));
        assert!(schema_accepts(&issuers, &json!("did:web:b")));
        assert!(!schema_accepts(&issuers, &json!("did:web:c")));
        // Anchored patterns are honoured; unanchored ones match substrings, as JSON Schema says.
        let anchored = json!({"pattern": "^(did:web:a\\.com)$"});
        assert!(schema_accepts(&anchored, &json!("did:web:a.com")));
        assert!(!schema_accepts(&anchored, &json!("did:web:a.com.evil")));
        // An uncompilable pattern rejects rather than reveals.
        assert!(!schema_accepts(&json!({"pattern": "(?=x)"}), &json!("x")));
        // `pattern` does not constrain non-strings; unknown keywords are not evaluated.
        assert!(schema_accepts(&json!({"pattern": "x"}), &json!(1)));
        assert!(schema_accepts(&json!({"minLength": 99}), &json!("x")));
    }

    #[test]
    fn descriptor_matching() {
        let d = InputDescriptor::from_json(
            0,
            &json!({
                "id": "VerifiedEmployee", "name": "VerifiedEmployee",
                "schema": [{"uri": "https://schema.example/VerifiedEmployee"}],
                "constraints": {"fields": [
                    {"path": ["$.issuer", "$.vc.issuer", "$.iss"],
                     "filter": {"type": "string", "pattern": "did:web:a|did:web:b"}},
                    {"path": ["$.vc.credentialSubject.nickname"], "optional": true}
                ]}
            }),
        )
        .unwrap();
        assert_eq!(d.accepted_issuers_pattern(), Some("did:web:a|did:web:b"));
        let types = |t: &str| vec!["VerifiableCredential".to_owned(), t.to_owned()];
        let from = |iss: &str| json!({"iss": iss, "vc": {"credentialSubject": {}}});
        assert!(d.matches(&types("VerifiedEmployee"), &from("did:web:a")));
        assert!(d.matches(
            &types("https://schema.example/VerifiedEmployee"),
            &from("did:web:b")
        ));
        assert!(!d.matches(&types("Other"), &from("did:web:a")));
        assert!(!d.matches(&types("VerifiedEmployee"), &from("did:web:c")));
        // A required field that is absent fails the match.
        assert!(!d.matches(&types("VerifiedEmployee"), &json!({"vc": {}})));
        let e = InputDescriptor::from_json(3, &json!({"name": "x"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "request object: `presentation_definition.input_descriptors[3].id` is missing or not a string"
        );
    }

    #[test]
    fn patch_sets_and_removes() {
        let mut v = json!({"a": 1, "b": 2});
        let p: Map<String, Value> = serde_json::from_value(json!({"a": null, "c": 3})).unwrap();
        patch(&mut v, &p);
        assert_eq!(v, json!({"b": 2, "c": 3}));
    }
}
