//! OAuth2 access tokens for the Request Service API: JWTs signed by the service key, verifiable
//! through `jwks_uri`, carrying the hosted service's app role so apps written for it accept them.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use verity_jose::{Jwk, LocalSigner, TokenKind, UnverifiedJws, sign_kind};

/// The app role the hosted service puts in its access tokens; apps check it before calling.
pub const APP_ROLE: &str = "VerifiableCredential.Create.All";
/// `typ` of our access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = verity_jose::kind::ACCESS_TOKEN_TYP;

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub appid: String,
    pub tid: String,
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a presented access token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    #[error("the access token was not signed by this service")]
    UnknownKey,
    #[error("the access token signature is invalid")]
    BadSignature,
    #[error("the access token was issued by `{0}`, not this service")]
    WrongIssuer(String),
    #[error("the access token audience `{0}` is not accepted")]
    WrongAudience(String),
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token lacks the role {APP_ROLE}")]
    MissingRole,
    #[error("the token is not an access token: {0}")]
    WrongKind(String),
}

/// Issues and verifies access tokens.
#[derive(Debug)]
pub struct TokenAuthority {
    issuer: String,
    signer: LocalSigner,
    /// The service keys read at start, replaced by [`TokenAuthority::set_verify_keys`] when a
    /// token names a key this process has not seen (another replica created it).
    verify_keys: std::sync::RwLock<Vec<Jwk>>,
    ttl_secs: i64,
    audiences: Vec<String>,
    skew_secs: i64,
}

impl TokenAuthority {
    /// `verify_keys` are all published service keys (kid set), including the signer's.
    pub fn new(
        issuer: String,
        signer: LocalSigner,
        verify_keys: Vec<Jwk>,
        ttl_secs: i64,
        audiences: Vec<String>,
        skew_secs: i64,
    ) -> Self {
        Self {
            issuer,
            signer,
            verify_keys: std::sync::RwLock::new(verify_keys),
            ttl_secs,
            audiences,
            skew_secs,
        }
    }

    /// The `iss` of our tokens (the public URL).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Token lifetime in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The service keys tokens are verified with now.
    fn keys(&self) -> Vec<Jwk> {
        self.verify_keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Replaces the verification keys with the service keys the store holds now (replicas
    /// started at the same moment may each have created one; the last one created is active
    /// and the others stay published as retiring).
    pub fn set_verify_keys(&self, keys: Vec<Jwk>) {
        match self.verify_keys.write() {
            Ok(mut k) => *k = keys,
            Err(e) => *e.into_inner() = keys,
        }
    }

    /// The JWK Set served at `jwks_uri`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys()
            .iter()
            .map(|k| {
                let mut v = serde_json::to_value(k).unwrap_or_default();
                v["use"] = json!("sig");
                if let Ok(alg) = k.algorithm() {
                    v["alg"] = json!(alg.as_str());
                }
                v
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Issues a token for an API client of `tenant` with audience `aud`.
    pub async fn issue(
        &self,
        client_id: &str,
        tenant: Uuid,
        aud: &str,
        now: i64,
    ) -> Result<String, verity_jose::JoseError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            aud: aud.to_owned(),
            azp: client_id.to_owned(),
            appid: client_id.to_owned(),
            tid: tenant.to_string(),
            roles: vec![APP_ROLE.to_owned()],
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            jti: Uuid::new_v4().to_string(),
        };
        Ok(sign_kind(&self.signer, TokenKind::AccessToken, &claims)
            .await?
            .token)
    }

    /// Verifies a presented token: signature by one of our keys, issuer, audience, times, role.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let jws = UnverifiedJws::parse_with_limit(token, 16 * 1024)
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        let kid = jws.header().kid.clone().unwrap_or_default();
        // Our kid is "<issuer>#<key id>"; the JWKS lists bare key ids.
        let bare = kid.rsplit('#').next().unwrap_or_default();
        let key = self
            .keys()
            .iter()
            .find(|k| k.kid.as_deref() == Some(bare))
            .cloned()
            .ok_or(TokenError::UnknownKey)?;
        let verified = jws.verify(&key).map_err(|_| TokenError::BadSignature)?;
        let raw: serde_json::Value = verified
            .claims()
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        TokenKind::AccessToken
            .check_value(verified.header(), &raw)
            .map_err(|e| TokenError::WrongKind(e.to_string()))?;
        let claims: AccessClaims = verified
            .claims()
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        if !self.audiences.iter().any(|a| a == &claims.aud) {
            return Err(TokenError::WrongAudience(claims.aud));
        }
        if now > claims.exp + self.skew_secs {
            return Err(TokenError::Expired);
        }
        if now + self.skew_secs < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !claims.roles.iter().any(|r| r == APP_ROLE) {
            return Err(TokenError::MissingRole);
        }
        Ok(claims)
    }
}

/// Picks the audience from an OAuth `scope`: the resource of the first `<resource>/.default`
/// scope; OpenID scopes (`openid profile offline_access email`) are ignored. `Ok(None)` when no
/// resource is named. `Err` names a scope we do not serve.
pub fn audience_from_scope(scope: &str, accepted: &[String]) -> Result<Option<String>, String> {
    let mut found = None;
    for s in scope.split_whitespace() {
        if matches!(s, "openid" | "profile" | "offline_access" | "email") {
            continue;
        }
        let Some(resource) = s.strip_suffix("/.default") else {
            return Err(format!(
                "scope `{s}` is not supported: use `<resource>/.default` (client credentials)"
            ));
        };
        let resource = resource.trim_start_matches("api://");
        let resource = if accepted.iter().any(|a| a == resource) {
            resource.to_owned()
        } else if let Some(a) = accepted.iter().find(|a| s.starts_with(a.as_str())) {
            a.clone()
        } else {
            return Err(format!("resource `{resource}` is not served here"));
        };
        if found.is_none() {
            found = Some(resource);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted() -> Vec<String> {
        vec![
            "3db474b9-6a0c-4840-96ac-1fceb342124f".into(),
            "verity".into(),
        ]
    }

    #[test]
    fn msal_scopes_are_accepted() {
        let s = "3db474b9-6a0c-4840-96ac-1fceb342124f/.default openid profile offline_access";
        assert_eq!(
            audience_from_scope(s, &accepted()).unwrap().as_deref(),
            Some("3db474b9-6a0c-4840-96ac-1fceb342124f")
        );
        assert_eq!(
            audience_from_scope("api://verity/.default", &accepted())
                .unwrap()
                .as_deref(),
            Some("verity")
        );
        assert_eq!(audience_from_scope("openid", &accepted()).unwrap(), None);
        assert_eq!(audience_from_scope("", &accepted()).unwrap(), None);
    }

    #[test]
    fn foreign_scopes_are_refused() {
        assert!(audience_from_scope("https://graph.microsoft.com/.default", &accepted()).is_err());
        assert!(audience_from_scope("User.Read", &accepted()).is_err());
    }

    #[tokio::test]
    async fn tokens_round_trip_and_every_check_fails() {
        let key = verity_jose::SigningKey::generate(verity_jose::Algorithm::ES256).unwrap();
        let mut jwk = key.public_jwk();
        jwk.kid = Some("key-1".into());
        let signer = LocalSigner::new(key, "http://localhost:1#key-1");
        let ta = TokenAuthority::new(
            "http://localhost:1".into(),
            signer,
            vec![jwk],
            3600,
            accepted(),
            60,
        );
        let t = Uuid::new_v4();
        let tok = ta.issue("client-a", t, "verity", 1_000_000).await.unwrap();
        let c = ta.verify(&tok, 1_000_010).unwrap();
        assert_eq!(c.sub, "client-a");
        assert_eq!(c.tid, t.to_string());
        assert_eq!(c.roles, vec![APP_ROLE.to_string()]);
        assert_eq!(
            ta.verify(&tok, 1_000_000 + 3600 + 61),
            Err(TokenError::Expired)
        );
        assert_eq!(
            ta.verify(&tok, 1_000_000 - 61),
            Err(TokenError::NotYetValid)
        );
        let bad_aud = ta
            .issue("client-a", t, "elsewhere", 1_000_000)
            .await
            .unwrap();
        assert_eq!(
            ta.verify(&bad_aud, 1_000_010),
            Err(TokenError::WrongAudience("elsewhere".into()))
        );
        let mut parts: Vec<&str> = tok.split('.').collect();
        let other_sig = bad_aud.split('.').nth(2).unwrap().to_owned();
        parts[2] = &other_sig;
        assert_eq!(
            ta.verify(&parts.join("."), 1_000_010),
            Err(TokenError::BadSignature)
        );
        assert!(matches!(
            ta.verify("not-a-token", 1),
            Err(TokenError::Malformed(_))
        ));
        assert!(ta.jwks()["keys"][0]["d"].is_null());
        // Valid claims signed by the service key under another typ are not access tokens.
        let claims: serde_json::Value = UnverifiedJws::parse(&tok)
            .unwrap()
            .payload_unverified()
            .unwrap();
        let mut header = verity_jose::Header::new(verity_jose::Algorithm::ES256);
        header.typ = Some("JWT".into());
        let jwt = verity_jose::Signer::sign_jws(&ta.signer, header, claims.to_string().as_bytes())
            .await
            .unwrap()
            .token;
        assert!(matches!(
            ta.verify(&jwt, 1_000_010),
            Err(TokenError::WrongKind(m)) if m.contains("at+jwt")
        ));
    }

    /// Two replicas started at once each create a service key; a token of the other's key is
    /// unknown until the keys are reloaded from the store (`extract::verify_access_token`).
    #[tokio::test]
    async fn a_key_created_elsewhere_verifies_after_the_keys_are_reloaded() {
        let mine = verity_jose::SigningKey::generate(verity_jose::Algorithm::ES256).unwrap();
        let mut my_jwk = mine.public_jwk();
        my_jwk.kid = Some("key-a".into());
        let other = verity_jose::SigningKey::generate(verity_jose::Algorithm::ES256).unwrap();
        let mut other_jwk = other.public_jwk();
        other_jwk.kid = Some("key-b".into());
        let issuer = "http://localhost:1";
        let a = TokenAuthority::new(
            issuer.into(),
            LocalSigner::new(mine, "http://localhost:1#key-a"),
            vec![my_jwk.clone()],
            3600,
            accepted(),
            60,
        );
        let b = TokenAuthority::new(
            issuer.into(),
            LocalSigner::new(other, "http://localhost:1#key-b"),
            vec![my_jwk.clone(), other_jwk.clone()],
            3600,
            accepted(),
            60,
        );
        let tok = b
            .issue("client-a", Uuid::new_v4(), "verity", 1_000_000)
            .await
            .unwrap();
        assert_eq!(a.verify(&tok, 1_000_010), Err(TokenError::UnknownKey));
        a.set_verify_keys(vec![my_jwk, other_jwk]);
        assert_eq!(a.verify(&tok, 1_000_010).unwrap().sub, "client-a");
        assert_eq!(a.jwks()["keys"].as_array().unwrap().len(), 2);
    }
}
