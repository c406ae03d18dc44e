//! Token kinds: every kind of JWT Verity signs or verifies, the header `typ` it is signed with,
//! and the claim rules that tell it apart from every other kind (RFC 8725 section 3.11,
//! explicit typing).
//!
//! One authority key signs request objects, manifests, id_token_hints, credentials, domain
//! linkage credentials and status lists, and one holder key signs holder requests, id_tokens and
//! vp_tokens. Without a kind check, a token minted for one purpose verifies wherever another kind
//! signed by the same key is expected. So every verifier states the kind it expects and calls
//! [`TokenKind::check`], and Verity signs through [`sign_kind`], which refuses to sign claims
//! that would not pass their own kind's check.
//!
//! Where a specification names a `typ`, it is used: request objects `oauth-authz-req+jwt`
//! (RFC 9101 section 10.8), access tokens `at+jwt` (RFC 9068 section 2.1). The other kinds keep
//! `typ: JWT` (or none), because the profiles they interoperate with (the hosted service and
//! its wallets, VC-JWT 1.1, DIF Well-Known DID Configuration) expect exactly that; they are told
//! apart by required and forbidden claims instead. A token whose `typ` is a different explicit
//! type is never accepted as one of the `JWT` kinds.
//!
//! | kind | `typ` | requires | forbids |
//! |---|---|---|---|
//! | request object | `oauth-authz-req+jwt` | `iss`, `client_id`, `response_type`, `nonce` | `vc`, `vp`, manifest and holder-request claims |
//! | manifest | `JWT` | `iss`, `display`, `input` | `vc`, `vp`, `nonce`, `aud`, `client_id`, `response_type`, ... |
//! | id_token_hint | `JWT` | `iss` (not self-issued), `sub`, `aud`, `nonce` | `vc`, `vp`, `client_id`, `response_type`, `claims`, `_vp_token`, `sub_jwk`, `did`, ... |
//! | credential | `JWT` | `iss`, `vc` | `vp`, `nonce`, `client_id`, `response_type`, `claims`, `presentation_definition`, status list and domain linkage types, `encodedList` subjects |
//! | presentation (vp_token) | `JWT` | `iss`, `aud`, `nonce`, `vp` | `vc`, `client_id`, `response_type`, `_vp_token`, `did`, ... |
//! | domain linkage credential | `JWT` | `iss`, `sub`, `vc` of type `DomainLinkageCredential` | `vc.credentialStatus`, status list types, `vp`, `nonce`, ... |
//! | status list credential | `JWT` | `iss`, `vc` of a status list credential type | domain linkage type, `vp`, `nonce`, ... |
//! | holder request | `JWT` | `sub`, `sub_jwk`, `did`, `aud`, `nonce` | `vc`, `vp`, `client_id`, `response_type`, `_vp_token`, ... |
//! | SIOP id_token | `JWT` | `iss` = `https://self-issued.me/v2/openid-vc`, `sub`, `aud`, `nonce` | `vc`, `vp`, `client_id`, `response_type`, `did`, `attestations`, ... |
//! | access token | `at+jwt` | `iss`, `sub`, `aud`, `exp`, `iat`, `jti` | `vc`, `vp`, `nonce` |
//! | OpenID4VCI key proof | `openid4vci-proof+jwt` | `aud`, `iat` | `vc`, `vp`, `vct`, `_sd`, `cnf`, `status_list`, `sub_jwk`, `attestations` |
//!
//! The exact lists are [`TokenKind::required_claims`] and [`TokenKind::forbidden_claims`].

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Header, JoseError, Signed, Signer};

/// `typ` of request objects (RFC 9101 section 10.8).
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";
/// `typ` of OAuth 2.0 JWT access tokens (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of IETF Token Status List tokens (draft-ietf-oauth-status-list section 5.1).
pub const STATUS_LIST_TOKEN_TYP: &str = "statuslist+jwt";
/// `typ` of OpenID4VCI key proofs (OpenID4VCI 1.0 section F.1).
pub const KEY_PROOF_TYP: &str = "openid4vci-proof+jwt";
/// `typ` of the kinds whose interop profile names no explicit type.
pub const JWT_TYP: &str = "JWT";
/// `iss` of a SIOP v2 id_token.
pub const SIOP_V2_ISSUER: &str = "https://self-issued.me/v2/openid-vc";
/// `iss` of a holder request (the hosted service's issuance protocol).
pub const SELF_ISSUED_ISSUER: &str = "https://self-issued.me";
/// `vc.type` values that make a credential a status list credential.
pub const STATUS_LIST_CREDENTIAL_TYPES: [&str; 2] =
    ["BitstringStatusListCredential", "StatusList2021Credential"];
/// `vc.type` of a DIF domain linkage credential.
pub const DOMAIN_LINKAGE_CREDENTIAL_TYPE: &str = "DomainLinkageCredential";

/// Claim names an RP may not choose for an id_token_hint (or any other token Verity fills with
/// caller-chosen claims): registered JWT claims, the OAuth/OpenID and VC claims Verity's tokens
/// use, and every claim a kind rule reads, so caller data can neither override a claim Verity
/// sets nor make a token look like another kind.
pub const RESERVED_CLAIM_NAMES: &[&str] = &[
    // RFC 7519 registered claims.
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    // JOSE header names, which some libraries merge into the claims.
    "typ",
    "cty",
    "alg",
    "kid",
    "jwk",
    "crit",
    // OpenID Connect / OAuth 2.0 / SIOP / OpenID4VP.
    "nonce",
    "azp",
    "auth_time",
    "acr",
    "amr",
    "at_hash",
    "c_hash",
    "sid",
    "client_id",
    "scope",
    "scp",
    "response_type",
    "response_mode",
    "redirect_uri",
    "state",
    "claims",
    "prompt",
    "registration",
    "request",
    "request_uri",
    "id_token_hint",
    "presentation_definition",
    "presentation_submission",
    "vp_token",
    "_vp_token",
    "sub_jwk",
    "cnf",
    "roles",
    "tid",
    "appid",
    // Verifiable credentials (VC-JWT 1.1, SD-JWT VC, token status lists).
    "vc",
    "vp",
    "vct",
    "status",
    "_sd",
    "_sd_alg",
    "status_list",
    "ttl",
    "@context",
    "credentialSubject",
    "credentialStatus",
    // Issuance protocol: holder requests and manifests.
    "did",
    "attestations",
    "contract",
    "pin",
    "display",
    "input",
];

/// True when `name` is in [`RESERVED_CLAIM_NAMES`].
pub fn is_reserved_claim(name: &str) -> bool {
    RESERVED_CLAIM_NAMES.contains(&name)
}

/// Every kind of JWT Verity signs or verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An OpenID request object (issuance or presentation), signed by an authority.
    RequestObject,
    /// An issuance manifest, signed by an authority.
    Manifest,
    /// The id_token_hint inside an issuance request object, signed by an authority.
    IdTokenHint,
    /// A JWT-VC (VCDM 1.1 JWT encoding), signed by an issuer.
    Credential,
    /// A vp_token (JWT-VP), signed by a holder.
    Presentation,
    /// A DIF domain linkage credential, signed by the linked DID.
    DomainLinkage,
    /// A status list credential (Bitstring Status List / StatusList2021), signed by an issuer.
    StatusList,
    /// The holder's signed issuance request, signed by a holder.
    HolderRequest,
    /// A SIOP v2 id_token, signed by a holder.
    IdToken,
    /// An OAuth 2.0 access token for the Request Service API, signed by the service key.
    AccessToken,
    /// An IETF Token Status List token (the status of SD-JWT VCs), signed by an issuer.
    StatusListToken,
    /// An OpenID4VCI `jwt` key proof, signed by the key a credential is to be bound to.
    KeyProof,
}

/// How `vc` must look for a kind.
struct VcRules {
    /// `vc.type` must include one of these (empty: no requirement).
    type_any_of: &'static [&'static str],
    /// `vc.type` must include none of these.
    type_none_of: &'static [&'static str],
    /// Members `vc` must not have.
    forbidden_members: &'static [&'static str],
    /// Members `vc.credentialSubject` must not have.
    forbidden_subject_members: &'static [&'static str],
}

/// What `iss` must be for a kind.
#[derive(Clone, Copy)]
enum IssRule {
    /// Any value (presence is a separate rule).
    Any,
    /// Exactly this value.
    Equals(&'static str),
    /// Anything but a self-issued issuer: the token is signed by an authority, not a holder.
    NotSelfIssued,
}

/// The claim rules of one kind.
struct Rules {
    required: &'static [&'static str],
    forbidden: &'static [&'static str],
    iss: IssRule,
    vc: Option<VcRules>,
}

const STATUS_AND_LINKAGE_TYPES: &[&str] = &[
    STATUS_LIST_CREDENTIAL_TYPES[0],
    STATUS_LIST_CREDENTIAL_TYPES[1],
    DOMAIN_LINKAGE_CREDENTIAL_TYPE,
];

/// Claims no credential-shaped token (credential, status list, domain linkage) carries: they
/// belong to requests, presentations, manifests or holder requests.
const NOT_IN_CREDENTIALS: &[&str] = &[
    "vp",
    "nonce",
    "client_id",
    "response_type",
    "claims",
    "presentation_definition",
    "display",
    "input",
    "_vp_token",
    "sub_jwk",
    "attestations",
    "id_token_hint",
];

impl TokenKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TokenKind; 12] = [
        TokenKind::RequestObject,
        TokenKind::Manifest,
        TokenKind::IdTokenHint,
        TokenKind::Credential,
        TokenKind::Presentation,
        TokenKind::DomainLinkage,
        TokenKind::StatusList,
        TokenKind::HolderRequest,
        TokenKind::IdToken,
        TokenKind::AccessToken,
        TokenKind::StatusListToken,
        TokenKind::KeyProof,
    ];

    /// The header `typ` tokens of this kind are signed with.
    pub fn typ(self) -> &'static str {
        match self {
            TokenKind::RequestObject => REQUEST_OBJECT_TYP,
            TokenKind::AccessToken => ACCESS_TOKEN_TYP,
            TokenKind::StatusListToken => STATUS_LIST_TOKEN_TYP,
            TokenKind::KeyProof => KEY_PROOF_TYP,
            _ => JWT_TYP,
        }
    }

    /// The kind's name in messages (`request object`, `credential`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::RequestObject => "request object",
            TokenKind::Manifest => "manifest",
            TokenKind::IdTokenHint => "id_token_hint",
            TokenKind::Credential => "credential",
            TokenKind::Presentation => "presentation (vp_token)",
            TokenKind::DomainLinkage => "domain linkage credential",
            TokenKind::StatusList => "status list credential",
            TokenKind::HolderRequest => "holder request",
            TokenKind::IdToken => "SIOP id_token",
            TokenKind::AccessToken => "access token",
            TokenKind::StatusListToken => "status list token",
            TokenKind::KeyProof => "OpenID4VCI key proof",
        }
    }

    /// Claims a token of this kind must carry.
    pub fn required_claims(self) -> &'static [&'static str] {
        self.rules().required
    }

    /// Top-level claims a token of this kind must not carry.
    pub fn forbidden_claims(self) -> &'static [&'static str] {
        self.rules().forbidden
    }

    fn rules(self) -> Rules {
        match self {
            TokenKind::RequestObject => Rules {
                required: &["iss", "client_id", "response_type", "nonce"],
                forbidden: &[
                    "vc",
                    "vp",
                    "display",
                    "input",
                    "_vp_token",
                    "sub_jwk",
                    "did",
                    "attestations",
                ],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::Manifest => Rules {
                required: &["iss", "display", "input"],
                forbidden: &[
                    "vc",
                    "vp",
                    "nonce",
                    "aud",
                    "client_id",
                    "response_type",
                    "_vp_token",
                    "sub_jwk",
                    "did",
                    "attestations",
                    "id_token_hint",
                ],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::IdTokenHint => Rules {
                required: &["iss", "sub", "aud", "nonce"],
                forbidden: &[
                    "vc",
                    "vp",
                    "client_id",
                    "response_type",
                    "claims",
                    "presentation_definition",
                    "display",
                    "input",
                    "_vp_token",
                    "sub_jwk",
                    "did",
                    "attestations",
                    "id_token_hint",
                    "cnf",
                    "status",
                ],
                iss: IssRule::NotSelfIssued,
                vc: None,
            },
            TokenKind::Credential => Rules {
                required: &["iss", "vc"],
                forbidden: NOT_IN_CREDENTIALS,
                iss: IssRule::Any,
                vc: Some(VcRules {
                    type_any_of: &[],
                    type_none_of: STATUS_AND_LINKAGE_TYPES,
                    forbidden_members: &[],
                    // A status list's subject: a credential carrying one is a list in disguise.
                    forbidden_subject_members: &["encodedList"],
                }),
            },
            TokenKind::StatusList => Rules {
                required: &["iss", "vc"],
                forbidden: NOT_IN_CREDENTIALS,
                iss: IssRule::Any,
                vc: Some(VcRules {
                    type_any_of: &STATUS_LIST_CREDENTIAL_TYPES,
                    type_none_of: &[DOMAIN_LINKAGE_CREDENTIAL_TYPE],
                    forbidden_members: &[],
                    forbidden_subject_members: &[],
                }),
            },
            TokenKind::DomainLinkage => Rules {
                required: &["iss", "sub", "vc"],
                forbidden: NOT_IN_CREDENTIALS,
                iss: IssRule::Any,
                vc: Some(VcRules {
                    type_any_of: &[DOMAIN_LINKAGE_CREDENTIAL_TYPE],
                    type_none_of: &STATUS_LIST_CREDENTIAL_TYPES,
                    // DIF: a linkage is checked by its dates only; a revocable one is a credential.
                    forbidden_members: &["credentialStatus"],
                    forbidden_subject_members: &["encodedList"],
                }),
            },
            TokenKind::Presentation => Rules {
                required: &["iss", "aud", "nonce", "vp"],
                forbidden: &[
                    "vc",
                    "client_id",
                    "response_type",
                    "claims",
                    "presentation_definition",
                    "display",
                    "input",
                    "_vp_token",
                    "did",
                    "attestations",
                    "id_token_hint",
                ],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::HolderRequest => Rules {
                required: &["sub", "sub_jwk", "did", "aud", "nonce"],
                forbidden: &[
                    "vc",
                    "vp",
                    "client_id",
                    "response_type",
                    "claims",
                    "display",
                    "input",
                    "_vp_token",
                    "id_token_hint",
                ],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::IdToken => Rules {
                required: &["iss", "sub", "aud", "nonce"],
                forbidden: &[
                    "vc",
                    "vp",
                    "client_id",
                    "response_type",
                    "claims",
                    "display",
                    "input",
                    "did",
                    "attestations",
                    "id_token_hint",
                ],
                iss: IssRule::Equals(SIOP_V2_ISSUER),
                vc: None,
            },
            TokenKind::AccessToken => Rules {
                required: &["iss", "sub", "aud", "exp", "iat", "jti"],
                forbidden: &["vc", "vp", "nonce"],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::StatusListToken => Rules {
                required: &["sub", "iat", "status_list"],
                forbidden: &["vc", "vp", "nonce", "cnf", "_sd", "vct", "status"],
                iss: IssRule::Any,
                vc: None,
            },
            TokenKind::KeyProof => Rules {
                required: &["aud", "iat"],
                forbidden: &[
                    "vc",
                    "vp",
                    "vct",
                    "_sd",
                    "cnf",
                    "status_list",
                    "sub_jwk",
                    "attestations",
                ],
                iss: IssRule::Any,
                vc: None,
            },
        }
    }

    /// Checks the header `typ` alone: the kind's explicit type, or for the `JWT` kinds `JWT`
    /// or no `typ` (external issuers and wallets often omit it). Compared as a media type
    /// (RFC 7515 section 4.1.9): case-insensitive, `application/` optional.
    pub fn check_typ(self, header: &Header) -> Result<(), JoseError> {
        let found = header.typ.as_deref();
        let normalized = found.map(|t| {
            let t = t.trim().to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(str::to_owned)
                .unwrap_or(t)
        });
        let ok = match (self.typ(), normalized.as_deref()) {
            (JWT_TYP, None) => true,
            (expected, Some(t)) => t.eq_ignore_ascii_case(expected),
            (_, None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(JoseError::TokenTypeMismatch {
                kind: self,
                expected: self.typ(),
                found: found.map(str::to_owned),
            })
        }
    }

    /// Checks that `header` and `claims` are a token of this kind: `typ`, then required,
    /// forbidden and shape rules. The error names the kind and the offending `typ` or claim.
    pub fn check(self, header: &Header, claims: &Map<String, Value>) -> Result<(), JoseError> {
        self.check_typ(header)?;
        let rules = self.rules();
        let missing = |claim: &str, requirement: &'static str| JoseError::TokenClaimMissing {
            kind: self,
            claim: claim.to_owned(),
            requirement,
        };
        let forbidden = |claim: String| JoseError::TokenClaimForbidden { kind: self, claim };
        for name in rules.required {
            if claims.get(*name).is_none_or(Value::is_null) {
                return Err(missing(name, "present"));
            }
        }
        for name in rules.forbidden {
            if claims.contains_key(*name) {
                return Err(forbidden((*name).to_owned()));
            }
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        match rules.iss {
            IssRule::Any => {}
            IssRule::Equals(want) => {
                if iss != Some(want) {
                    return Err(missing("iss", want));
                }
            }
            IssRule::NotSelfIssued => {
                if let Some(i) = iss
                    && (i == SIOP_V2_ISSUER || i == SELF_ISSUED_ISSUER)
                {
                    return Err(forbidden(format!("iss = {i}")));
                }
            }
        }
        if let Some(vc_rules) = &rules.vc {
            check_vc(self, vc_rules, claims)?;
        }
        Ok(())
    }

    /// [`TokenKind::check`] for claims held as a JSON value, which must be an object.
    pub fn check_value(self, header: &Header, claims: &Value) -> Result<(), JoseError> {
        match claims.as_object() {
            Some(map) => self.check(header, map),
            None => Err(JoseError::MalformedJson {
                part: "payload",
                reason: format!("a {} payload must be a JSON object", self.name()),
            }),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn check_vc(
    kind: TokenKind,
    rules: &VcRules,
    claims: &Map<String, Value>,
) -> Result<(), JoseError> {
    let Some(vc) = claims.get("vc").and_then(Value::as_object) else {
        return Err(JoseError::TokenClaimMissing {
            kind,
            claim: "vc".into(),
            requirement: "a JSON object",
        });
    };
    let types: Vec<&str> = match vc.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !rules.type_any_of.is_empty() && !types.iter().any(|t| rules.type_any_of.contains(t)) {
        return Err(JoseError::TokenClaimMissing {
            kind,
            claim: "vc.type".into(),
            requirement: match kind {
                TokenKind::DomainLinkage => "a type list including DomainLinkageCredential",
                _ => {
                    "a type list including BitstringStatusListCredential or StatusList2021Credential"
                }
            },
        });
    }
    if let Some(t) = types.iter().find(|t| rules.type_none_of.contains(t)) {
        return Err(JoseError::TokenClaimForbidden {
            kind,
            claim: format!("vc.type {t}"),
        });
    }
    if let Some(m) = rules
        .forbidden_members
        .iter()
        .find(|m| vc.contains_key(**m))
    {
        return Err(JoseError::TokenClaimForbidden {
            kind,
            claim: format!("vc.{m}"),
        });
    }
    if let Some(subject) = vc.get("credentialSubject") {
        // VCDM 1.1 allows one subject or an array of them.
        let subjects: Vec<&Map<String, Value>> = match subject {
            Value::Object(o) => vec![o],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        };
        for s in subjects {
            if let Some(m) = rules
                .forbidden_subject_members
                .iter()
                .find(|m| s.contains_key(**m))
            {
                return Err(JoseError::TokenClaimForbidden {
                    kind,
                    claim: format!("vc.credentialSubject.{m}"),
                });
            }
        }
    }
    Ok(())
}

/// Checks that `header` and `claims` are a token of `kind` (see [`TokenKind::check`]).
pub fn check(
    kind: TokenKind,
    header: &Header,
    claims: &Map<String, Value>,
) -> Result<(), JoseError> {
    kind.check(header, claims)
}

/// Signs `claims` as a token of `kind`: header `typ` = [`TokenKind::typ`], after checking that
/// the claims pass the kind's own check, so Verity never signs a token its verifiers would
/// take for another kind (or refuse as this one).
pub async fn sign_kind<T: Serialize + Sync>(
    signer: &dyn Signer,
    kind: TokenKind,
    claims: &T,
) -> Result<Signed, JoseError> {
    let value = serde_json::to_value(claims).map_err(|e| JoseError::Encode {
        part: "payload",
        reason: e.to_string(),
    })?;
    let mut header = Header::new(signer.algorithm());
    header.typ = Some(kind.typ().to_owned());
    kind.check_value(&header, &value)?;
    let payload = serde_json::to_vec(&value).map_err(|e| JoseError::Encode {
        part: "payload",
        reason: e.to_string(),
    })?;
    signer.sign_jws(header, &payload).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, LocalSigner, SigningKey, UnverifiedJws};
    use serde_json::json;

    const AUTHORITY: &str = "did:web:issuer.example";
    const HOLDER: &str = "did:jwk:eyJrdHkiOiJPS1AifQ";

    fn header(typ: Option<&str>) -> Header {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = typ.map(str::to_owned);
        h
    }

    /// Claims shaped exactly as Verity (or its reference wallet) builds each kind; the crates
    /// that build them assert their real tokens pass the same checks.
    fn sample(kind: TokenKind) -> Value {
        let pd = json!({ "vp_token": { "presentation_definition": {
            "id": "pd-1", "input_descriptors": [ { "id": "VerifiedEmployee" } ] } } });
        match kind {
            TokenKind::RequestObject => json!({
                "iss": AUTHORITY, "client_id": AUTHORITY, "response_type": "id_token",
                "response_mode": "post", "scope": "openid", "redirect_uri": "https://v/cb",
                "nonce": "n-1", "state": "s-1", "jti": "j-1", "iat": 1, "exp": 2,
                "prompt": "create", "registration": { "client_name": "Contoso" },
                "claims": pd, "id_token_hint": "a.b.c",
                "pin": { "length": 4, "type": "numeric", "alg": "sha256", "salt": "ab" },
            }),
            TokenKind::Manifest => json!({
                "id": "c-1", "iss": AUTHORITY, "iat": 1,
                "display": { "card": { "title": "Verified Employee" } },
                "input": { "credentialIssuer": "https://v/issue", "issuer": AUTHORITY,
                           "attestations": {} },
            }),
            TokenKind::IdTokenHint => json!({
                "iss": AUTHORITY, "sub": "request-1", "aud": AUTHORITY, "nonce": "n-1",
                "iat": 1, "exp": 2, "given_name": "Megan", "jobTitle": "Engineer",
            }),
            TokenKind::Credential => json!({
                "iss": AUTHORITY, "sub": HOLDER, "jti": "urn:uuid:1", "iat": 1, "nbf": 1,
                "exp": 2, "vc": {
                    "@context": ["https://www.w3.org/2018/credentials/v1"],
                    "type": ["VerifiableCredential", "VerifiedEmployee"], "issuer": AUTHORITY,
                    "credentialSubject": { "id": HOLDER, "givenName": "Megan" },
                    "credentialStatus": { "type": "BitstringStatusListEntry",
                        "statusListCredential": "https://v/status/1", "statusListIndex": "7",
                        "statusPurpose": "revocation" } },
            }),
            TokenKind::Presentation => json!({
                "iss": HOLDER, "aud": AUTHORITY, "nonce": "n-1", "jti": "j-2", "iat": 1,
                "nbf": 1, "exp": 2, "vp": { "@context": ["https://www.w3.org/2018/credentials/v1"],
                    "type": ["VerifiablePresentation"], "verifiableCredential": ["a.b.c"] },
            }),
            TokenKind::DomainLinkage => json!({
                "iss": AUTHORITY, "sub": AUTHORITY, "nbf": 1, "exp": 2, "vc": {
                    "type": ["VerifiableCredential", DOMAIN_LINKAGE_CREDENTIAL_TYPE],
                    "issuer": AUTHORITY,
                    "credentialSubject": { "id": AUTHORITY, "origin": "https://v" } },
            }),
            TokenKind::StatusList => json!({
                "iss": AUTHORITY, "sub": "https://v/status/1#list", "jti": "https://v/status/1",
                "iat": 1, "nbf": 1, "vc": {
                    "id": "https://v/status/1",
                    "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                    "issuer": AUTHORITY,
                    "credentialSubject": { "id": "https://v/status/1#list",
                        "type": "BitstringStatusList", "statusPurpose": "revocation",
                        "encodedList": "uH4sI" } },
            }),
            TokenKind::HolderRequest => json!({
                "iss": SELF_ISSUED_ISSUER, "aud": "https://v/issue", "sub": "thumb",
                "sub_jwk": { "kty": "OKP" }, "did": HOLDER, "contract": "https://v/m",
                "state": "s-1", "nonce": "n-1", "jti": "j-3", "iat": 1, "exp": 2,
                "pin": "hash", "attestations": { "idTokens": {} },
            }),
            TokenKind::IdToken => json!({
                "iss": SIOP_V2_ISSUER, "sub": HOLDER, "aud": AUTHORITY, "nonce": "n-1",
                "iat": 1, "exp": 2,
                "_vp_token": { "presentation_submission": { "definition_id": "pd-1" } },
            }),
            TokenKind::AccessToken => json!({
                "iss": "https://v", "sub": "client-1", "aud": "https://v/api", "azp": "client-1",
                "appid": "client-1", "tid": "t-1", "roles": ["VerifiableCredential.Create.All"],
                "iat": 1, "nbf": 1, "exp": 2, "jti": "j-4",
            }),
            TokenKind::StatusListToken => json!({
                "iss": AUTHORITY, "sub": "https://v/status-lists/1", "iat": 1, "exp": 2, "ttl": 300,
                "status_list": { "bits": 1, "lst": "eNrbuRgAAhcBXQ" },
            }),
            TokenKind::KeyProof => json!({
                "iss": "wallet-client", "aud": "https://v", "iat": 1, "nonce": "n-1",
            }),
        }
    }

    fn check_sample(signed: TokenKind, expected: TokenKind) -> Result<(), JoseError> {
        let claims = sample(signed);
        expected.check_value(&header(Some(signed.typ())), &claims)
    }

    /// Each token kind substituted for each other kind: refused, with an error naming the
    /// expected kind; and each kind passes its own check.
    #[test]
    fn every_kind_substituted_for_every_other_kind_is_refused() {
        for signed in TokenKind::ALL {
            for expected in TokenKind::ALL {
                let result = check_sample(signed, expected);
                if signed == expected {
                    assert_eq!(result, Ok(()), "{signed} must pass its own check");
                } else {
                    let e = result.expect_err(&format!("{signed} accepted as {expected}"));
                    assert!(e.is_wrong_kind(), "{signed} as {expected}: {e}");
                    assert!(
                        e.to_string().contains(expected.name()),
                        "{signed} as {expected}: {e}"
                    );
                }
            }
        }
    }

    /// Without `typ` at all, the `JWT` kinds still refuse each other by their claims alone:
    /// external issuers and wallets often omit the header.
    #[test]
    fn claim_rules_alone_keep_the_jwt_kinds_apart() {
        let jwt_kinds: Vec<TokenKind> = TokenKind::ALL
            .into_iter()
            .filter(|k| k.typ() == JWT_TYP)
            .collect();
        for signed in &jwt_kinds {
            for expected in &jwt_kinds {
                let r = expected.check_value(&header(None), &sample(*signed));
                assert_eq!(
                    r.is_ok(),
                    signed == expected,
                    "{signed} as {expected}: {r:?}"
                );
                if let Err(e) = r {
                    assert!(
                        matches!(
                            e,
                            JoseError::TokenClaimMissing { .. }
                                | JoseError::TokenClaimForbidden { .. }
                        ),
                        "{e}"
                    );
                }
            }
        }
    }

    /// The explicitly typed kinds refuse their own claims under another `typ`, and no `JWT`
    /// kind accepts an explicit `typ` of another kind.
    #[test]
    fn typ_is_checked_as_a_media_type() {
        let ro = sample(TokenKind::RequestObject);
        for typ in [
            "oauth-authz-req+jwt",
            "OAuth-Authz-Req+JWT",
            "application/oauth-authz-req+jwt",
        ] {
            TokenKind::RequestObject
                .check_value(&header(Some(typ)), &ro)
                .unwrap();
        }
        for typ in [None, Some("JWT"), Some("at+jwt"), Some("oauth-authz-req")] {
            let e = TokenKind::RequestObject
                .check_value(&header(typ), &ro)
                .unwrap_err();
            assert_eq!(
                e,
                JoseError::TokenTypeMismatch {
                    kind: TokenKind::RequestObject,
                    expected: REQUEST_OBJECT_TYP,
                    found: typ.map(str::to_owned),
                }
            );
            assert_eq!(e.code(), "JOSE-024");
        }
        let vc = sample(TokenKind::Credential);
        for typ in [None, Some("JWT"), Some("jwt"), Some("application/jwt")] {
            TokenKind::Credential
                .check_value(&header(typ), &vc)
                .unwrap();
        }
        for typ in ["at+jwt", "oauth-authz-req+jwt", "vc+ld+jwt", "kb+jwt"] {
            let e = TokenKind::Credential
                .check_value(&header(Some(typ)), &vc)
                .unwrap_err();
            assert!(e.to_string().contains(typ), "{e}");
            assert!(e.to_string().contains("or absent"), "{e}");
        }
        let at = sample(TokenKind::AccessToken);
        TokenKind::AccessToken
            .check_value(&header(Some("application/at+jwt")), &at)
            .unwrap();
        assert!(
            TokenKind::AccessToken
                .check_value(&header(Some("JWT")), &at)
                .is_err()
        );
    }

    /// Each rule kind fails on its own, with the claim named.
    #[test]
    fn errors_name_the_offending_claim() {
        let jwt = header(Some("JWT"));
        let mut vc = sample(TokenKind::Credential);
        vc["nonce"] = json!("n");
        assert_eq!(
            TokenKind::Credential.check_value(&jwt, &vc).unwrap_err(),
            JoseError::TokenClaimForbidden {
                kind: TokenKind::Credential,
                claim: "nonce".into()
            }
        );
        let mut vc = sample(TokenKind::Credential);
        vc["vc"]["credentialSubject"]["encodedList"] = json!("uH4sI");
        let e = TokenKind::Credential.check_value(&jwt, &vc).unwrap_err();
        assert_eq!(e.code(), "JOSE-026");
        assert!(
            e.to_string().contains("vc.credentialSubject.encodedList"),
            "{e}"
        );
        // An array of subjects is read too.
        vc["vc"]["credentialSubject"] = json!([{ "id": HOLDER }, { "encodedList": "u" }]);
        assert!(TokenKind::Credential.check_value(&jwt, &vc).is_err());
        let mut vc = sample(TokenKind::Credential);
        vc["vc"] = json!("not an object");
        let e = TokenKind::Credential.check_value(&jwt, &vc).unwrap_err();
        assert_eq!(e.code(), "JOSE-025");
        assert!(
            e.to_string().contains("`vc` is required (a JSON object)"),
            "{e}"
        );
        // A null required claim counts as missing.
        let mut hint = sample(TokenKind::IdTokenHint);
        hint["nonce"] = Value::Null;
        let e = TokenKind::IdTokenHint.check_value(&jwt, &hint).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wrong token kind (expected id_token_hint): `nonce` is required (present)"
        );
        // An authority-signed hint never claims to be self-issued.
        for iss in [SIOP_V2_ISSUER, SELF_ISSUED_ISSUER] {
            let mut hint = sample(TokenKind::IdTokenHint);
            hint["iss"] = json!(iss);
            let e = TokenKind::IdTokenHint.check_value(&jwt, &hint).unwrap_err();
            assert!(e.to_string().contains(iss), "{e}");
        }
        let mut idt = sample(TokenKind::IdToken);
        idt["iss"] = json!(AUTHORITY);
        let e = TokenKind::IdToken.check_value(&jwt, &idt).unwrap_err();
        assert!(e.to_string().contains(SIOP_V2_ISSUER), "{e}");
        // Domain linkage: never revocable, never a status list.
        let mut dl = sample(TokenKind::DomainLinkage);
        dl["vc"]["credentialStatus"] = json!({ "type": "BitstringStatusListEntry" });
        let e = TokenKind::DomainLinkage.check_value(&jwt, &dl).unwrap_err();
        assert!(e.to_string().contains("vc.credentialStatus"), "{e}");
        let mut sl = sample(TokenKind::StatusList);
        sl["vc"]["type"] = json!("StatusList2021Credential");
        TokenKind::StatusList.check_value(&jwt, &sl).unwrap();
        sl["vc"]["type"] = json!([
            "VerifiableCredential",
            DOMAIN_LINKAGE_CREDENTIAL_TYPE,
            "StatusList2021Credential"
        ]);
        let e = TokenKind::StatusList.check_value(&jwt, &sl).unwrap_err();
        assert!(e.to_string().contains("DomainLinkageCredential"), "{e}");
        let e = TokenKind::Manifest
            .check_value(&jwt, &json!(["not", "an", "object"]))
            .unwrap_err();
        assert_eq!(e.code(), "JOSE-003");
    }

    /// Every claim a kind rule reads is reserved, so caller-chosen id_token_hint claims can
    /// neither override Verity's claims nor move the hint into another kind.
    #[test]
    fn every_rule_claim_is_reserved() {
        for kind in TokenKind::ALL {
            for name in kind.required_claims().iter().chain(kind.forbidden_claims()) {
                assert!(is_reserved_claim(name), "{kind}: `{name}` is not reserved");
            }
        }
        assert!(!is_reserved_claim("given_name") && !is_reserved_claim("jobTitle"));
        // A hint with any unreserved caller claim stays an id_token_hint and nothing else.
        let mut hint = sample(TokenKind::IdTokenHint);
        for (k, v) in [
            ("displayName", "Megan"),
            ("email", "m@contoso.example"),
            ("x", "1"),
        ] {
            hint[k] = json!(v);
        }
        for kind in TokenKind::ALL {
            let r = kind.check_value(&header(Some(JWT_TYP)), &hint);
            assert_eq!(r.is_ok(), kind == TokenKind::IdTokenHint, "{kind}: {r:?}");
        }
    }

    /// `sign_kind` writes the kind's `typ` and refuses claims that fail their own kind.
    #[tokio::test]
    async fn sign_kind_types_and_self_checks() {
        let signer = LocalSigner::new(
            SigningKey::generate(Algorithm::EdDSA).unwrap(),
            format!("{AUTHORITY}#key-1"),
        );
        for kind in TokenKind::ALL {
            let signed = sign_kind(&signer, kind, &sample(kind)).await.unwrap();
            let jws = UnverifiedJws::parse(&signed.token).unwrap();
            assert_eq!(jws.header().typ.as_deref(), Some(kind.typ()));
            let verified = jws.verify(&signer.public_jwk()).unwrap();
            let claims: Value = verified.claims().unwrap();
            kind.check_value(verified.header(), &claims).unwrap();
        }
        let mut vc = sample(TokenKind::Credential);
        vc["vp"] = json!({});
        let e = sign_kind(&signer, TokenKind::Credential, &vc)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "JOSE-026");
    }
}
