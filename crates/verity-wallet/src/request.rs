//! Request URLs, the signed request object, and checking any DID-signed token the wallet is
//! handed (request object, manifest, credential).

use serde_json::Value;
use url::Url;
use verity_did::{DidError, Relationship, split_key_id};
use verity_jose::{
    Header, JoseError, SigningKey, TokenKind, UnverifiedJws, check_times, sign_compact,
};

use crate::error::WalletError;
use crate::wallet::Wallet;

/// The media type of a request object (RFC 9101 section 10.2).
pub const REQUEST_OBJECT_MEDIA_TYPE: &str = "application/oauth-authz-req+jwt";

/// Refuses a token whose header `typ` is not `kind`'s, before anything is fetched for it: a
/// token of another kind signed by the same key must not get as far as its signature check.
pub(crate) fn check_typ(
    what: &'static str,
    kind: TokenKind,
    token: &str,
) -> Result<(), WalletError> {
    let jws = UnverifiedJws::parse(token.trim()).map_err(|e| WalletError::InvalidToken {
        what,
        reason: e.to_string(),
    })?;
    kind.check_typ(jws.header())
        .map_err(|e| wrong_kind(what, &e))
}

/// The whole kind check (typ and claims) on a verified token; callers run it after their own
/// field checks, so a missing field keeps its specific error.
pub(crate) fn check_kind(
    what: &'static str,
    kind: TokenKind,
    header: &Header,
    claims: &Value,
) -> Result<(), WalletError> {
    kind.check_value(header, claims)
        .map_err(|e| wrong_kind(what, &e))
}

fn wrong_kind(what: &'static str, e: &JoseError) -> WalletError {
    WalletError::WrongTokenKind {
        what,
        reason: format!("{e} ({})", e.code()),
    }
}

/// The `request_uri` inside an `openid-vc://?request_uri=...` (or `openid://`) URL; a bare
/// `https://` URL is taken as the request_uri itself.
pub fn request_uri_from(url: &str) -> Result<String, WalletError> {
    let bad = |reason: &str| WalletError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "openid-vc" | "openid" => {
            let mut found = parsed
                .query_pairs()
                .filter(|(k, _)| k == "request_uri")
                .map(|(_, v)| v.into_owned());
            match (found.next(), found.next()) {
                (Some(uri), None) if !uri.is_empty() => Ok(uri),
                (Some(_), Some(_)) => Err(bad("request_uri appears more than once")),
                _ => Err(bad("has no request_uri parameter")),
            }
        }
        "https" | "http" => Ok(parsed.to_string()),
        other => Err(bad(&format!(
            "scheme `{other}` is not openid-vc, openid or https"
        ))),
    }
}

/// A token whose signature verified under a key of its signer's DID document.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedToken {
    /// The payload (always a JSON object).
    pub claims: Value,
    /// The (now authenticated) header.
    pub header: Header,
    /// The DID of the `kid`.
    pub signer_did: String,
}

/// Verifies a token signed by a DID key: the header `kid` must be an absolute DID URL whose DID
/// is `expected_did` (checked before anything is fetched), listed in that DID's document under
/// one of `rels` (tried in order), and the signature must verify under it.
pub(crate) async fn verify_did_signed(
    wallet: &Wallet,
    what: &'static str,
    token: &str,
    expected_did: &str,
    rels: &[Relationship],
) -> Result<VerifiedToken, WalletError> {
    let jws = UnverifiedJws::parse(token.trim()).map_err(|e| WalletError::InvalidToken {
        what,
        reason: e.to_string(),
    })?;
    let kid = jws
        .header()
        .kid
        .clone()
        .ok_or_else(|| WalletError::MissingField {
            what,
            field: "header.kid".into(),
            expected: "a DID URL",
        })?;
    let signer_did = match split_key_id(&kid) {
        Ok((Some(did), _)) => did.to_string(),
        Ok((None, _)) => {
            return Err(WalletError::UntrustedKey {
                what,
                kid,
                reason: "a relative key id names no DID; an absolute `did#fragment` is required"
                    .into(),
            });
        }
        Err(e) => {
            return Err(WalletError::UntrustedKey {
                what,
                kid,
                reason: e.to_string(),
            });
        }
    };
    if signer_did != expected_did {
        return Err(WalletError::IdentityMismatch {
            what,
            field: "kid DID",
            expected: expected_did.to_owned(),
            found: signer_did,
        });
    }
    let doc =
        wallet
            .resolver()
            .resolve(&signer_did)
            .await
            .map_err(|e| WalletError::Resolution {
                what,
                did: signer_did.clone(),
                source: Box::new(e),
            })?;
    let mut last: Option<DidError> = None;
    let mut jwk = None;
    for rel in rels {
        match doc.key_for(&kid, *rel) {
            Ok(k) => {
                jwk = Some(k);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(jwk) = jwk else {
        return Err(WalletError::UntrustedKey {
            what,
            kid,
            reason: last.map_or_else(|| "no relationship to check".into(), |e| e.to_string()),
        });
    };
    let verified = jws.verify(&jwk).map_err(|e| WalletError::BadSignature {
        what,
        reason: e.to_string(),
    })?;
    let claims: Value = verified
        .claims()
        .map_err(|e: JoseError| WalletError::InvalidToken {
            what,
            reason: e.to_string(),
        })?;
    if !claims.is_object() {
        return Err(WalletError::InvalidToken {
            what,
            reason: "the payload is not a JSON object".into(),
        });
    }
    Ok(VerifiedToken {
        claims,
        header: verified.header().clone(),
        signer_did,
    })
}

/// Signs `claims` as a JWT (`typ: JWT`) with `key` under the full key id `kid`.
pub(crate) fn sign_claims(
    key: &SigningKey,
    kid: &str,
    claims: &Value,
) -> Result<String, WalletError> {
    let payload = serde_json::to_vec(claims).map_err(|e| WalletError::HolderKey {
        reason: format!("cannot serialise the claims to sign: {e}"),
    })?;
    let mut header = Header::new(key.algorithm());
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".into());
    sign_compact(key, &header, &payload).map_err(|e| WalletError::HolderKey {
        reason: format!("signing failed: {e}"),
    })
}

/// The unverified payload member `field` as a string, to find the signer before verifying.
pub(crate) fn unverified_str(
    what: &'static str,
    token: &str,
    field: &'static str,
) -> Result<String, WalletError> {
    let jws = UnverifiedJws::parse(token.trim()).map_err(|e| WalletError::InvalidToken {
        what,
        reason: e.to_string(),
    })?;
    let payload: Value = jws
        .payload_unverified()
        .map_err(|e| WalletError::InvalidToken {
            what,
            reason: e.to_string(),
        })?;
    str_field(what, &payload, field).map(str::to_owned)
}

/// `exp`/`nbf`/`iat` against the wallet's clock and skew.
pub(crate) fn check_token_times(
    wallet: &Wallet,
    what: &'static str,
    claims: &Value,
    require_exp: bool,
) -> Result<(), WalletError> {
    check_times(claims, wallet.now(), wallet.config().skew_secs, require_exp).map_err(|e| {
        WalletError::TokenTime {
            what,
            reason: e.to_string(),
        }
    })
}

/// A required string member (`a.b.c` walks objects).
pub(crate) fn str_field<'v>(
    what: &'static str,
    v: &'v Value,
    path: &str,
) -> Result<&'v str, WalletError> {
    path.split('.')
        .try_fold(v, |cur, seg| cur.get(seg))
        .and_then(Value::as_str)
        .ok_or_else(|| WalletError::MissingField {
            what,
            field: path.to_owned(),
            expected: "a string",
        })
}

/// Requires `claims[field] == expected`.
pub(crate) fn require_eq(
    what: &'static str,
    claims: &Value,
    field: &'static str,
    expected: &str,
) -> Result<(), WalletError> {
    let found = str_field(what, claims, field)?;
    if found != expected {
        return Err(WalletError::IdentityMismatch {
            what,
            field,
            expected: expected.to_owned(),
            found: found.to_owned(),
        });
    }
    Ok(())
}

/// A verified request object (protocol §2 "Request object").
#[derive(Clone)]
pub struct RequestObject {
    /// Where it was fetched from.
    pub request_uri: String,
    /// The compact JWS as received.
    pub token: String,
    /// The verified payload.
    pub claims: Value,
    /// `client_id` (= `iss` = the kid's DID): the authority's DID.
    pub client_id: String,
    /// `redirect_uri`: where completion (issuance) or the response (presentation) goes.
    pub redirect_uri: String,
    /// `nonce`.
    pub nonce: String,
    /// `state` (the request id).
    pub state: String,
}

impl std::fmt::Debug for RequestObject {
    // The nonce and hint are single-use secrets of this exchange; show identifiers only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestObject")
            .field("request_uri", &self.request_uri)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl RequestObject {
    /// True for an issuance request: `prompt: "create"` or an `issuance` entry in the first
    /// input descriptor.
    pub fn is_issuance(&self) -> bool {
        self.claims.get("prompt").and_then(Value::as_str) == Some("create")
            || self
                .input_descriptors()
                .first()
                .and_then(|d| d.get("issuance"))
                .is_some()
    }

    /// `claims.vp_token.presentation_definition`, when present.
    pub fn presentation_definition(&self) -> Option<&Value> {
        self.claims
            .get("claims")
            .and_then(|c| c.get("vp_token"))
            .and_then(|v| v.get("presentation_definition"))
    }

    /// The input descriptors of the presentation definition (empty when absent).
    pub fn input_descriptors(&self) -> &[Value] {
        self.presentation_definition()
            .and_then(|pd| pd.get("input_descriptors"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// GETs and verifies the request object behind `url` (an `openid-vc://` URL or the
/// request_uri): header `typ` `oauth-authz-req+jwt` (RFC 9101), signature by a key of
/// `client_id`'s DID listed under authentication (or assertionMethod), kid DID ==
/// `client_id` == `iss`, `exp` required, times with skew, `redirect_uri`, `nonce` and `state`
/// present, and the claims of a request object ([`TokenKind::RequestObject`]).
pub(crate) async fn fetch_request(
    wallet: &Wallet,
    url: &str,
) -> Result<RequestObject, WalletError> {
    const WHAT: &str = "request object";
    let request_uri = request_uri_from(url)?;
    let resp = wallet
        .http()
        .get(&request_uri, REQUEST_OBJECT_MEDIA_TYPE)
        .await?
        .error_for_status()?;
    let token = String::from_utf8(resp.body)
        .map_err(|_| WalletError::UnexpectedResponse {
            url: request_uri.clone(),
            status: resp.status,
            reason: "the request object is not UTF-8 text".into(),
        })?
        .trim()
        .to_owned();
    check_typ(WHAT, TokenKind::RequestObject, &token)?;
    let client_id = unverified_str(WHAT, &token, "client_id")?;
    let verified = verify_did_signed(
        wallet,
        WHAT,
        &token,
        &client_id,
        &[Relationship::Authentication, Relationship::AssertionMethod],
    )
    .await?;
    let claims = &verified.claims;
    require_eq(WHAT, claims, "client_id", &verified.signer_did)?;
    require_eq(WHAT, claims, "iss", &client_id)?;
    check_token_times(wallet, WHAT, claims, true)?;
    let redirect_uri = str_field(WHAT, claims, "redirect_uri")?.to_owned();
    let nonce = str_field(WHAT, claims, "nonce")?.to_owned();
    let state = str_field(WHAT, claims, "state")?.to_owned();
    check_kind(WHAT, TokenKind::RequestObject, &verified.header, claims)?;
    let claims = verified.claims;
    Ok(RequestObject {
        request_uri,
        token,
        claims,
        client_id,
        redirect_uri,
        nonce,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uri_is_read_from_openid_vc_urls() {
        let uri = "https://issuer.example.com/v1.0/requests/3f1a";
        assert_eq!(
            request_uri_from(&format!("openid-vc://?request_uri={uri}")).unwrap(),
            uri
        );
        // Percent-encoded, as QR generators often do.
        let enc =
            "openid-vc://?request_uri=https%3A%2F%2Fissuer.example.com%2Fv1.0%2Frequests%2F3f1a";
        assert_eq!(request_uri_from(enc).unwrap(), uri);
        assert_eq!(
            request_uri_from(&format!("openid://?request_uri={uri}")).unwrap(),
            uri
        );
        assert_eq!(request_uri_from(uri).unwrap(), uri);
    }

    #[test]
    fn malformed_request_urls_are_refused() {
        for bad in [
            "openid-vc://?client_id=x",
            "openid-vc://?request_uri=",
            "openid-vc://?request_uri=https://a/1&request_uri=https://b/2",
            "mailto:someone@example.com",
            "not a url",
        ] {
            let e = request_uri_from(bad).unwrap_err();
            assert_eq!(e.code(), "WALLET-007", "{bad}");
        }
    }

    #[test]
    fn string_fields_walk_objects() {
        let v = serde_json::json!({"a": {"b": "c"}, "n": 1});
        assert_eq!(str_field("t", &v, "a.b").unwrap(), "c");
        let e = str_field("t", &v, "n").unwrap_err();
        assert_eq!(e.to_string(), "t: `n` is missing or not a string");
        assert!(require_eq("t", &v, "n", "1").is_err());
        let e = require_eq("t", &serde_json::json!({"iss": "x"}), "iss", "y").unwrap_err();
        assert_eq!(e.to_string(), "t: `iss` is `x` but must be `y`");
    }
}
