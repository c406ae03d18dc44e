//! The crate's one error type, its stable codes, and the server's API error shape.

use std::path::PathBuf;

use serde_json::Value;
use verity_did::DidError;

/// Everything that can go wrong in the wallet.
///
/// Messages name the failed check and never contain keys, PINs or token contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Reading or writing the wallet directory failed.
    #[error("wallet file: could not {action} `{path}`: {source}")]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// `create` found a wallet already there; it never overwrites one.
    #[error("a wallet already exists at `{path}`; open it instead of creating a new one")]
    WalletExists {
        /// The existing wallet file.
        path: PathBuf,
    },

    /// `open` found no wallet file.
    #[error("no wallet at `{path}`; create one first")]
    WalletNotFound {
        /// The missing wallet file.
        path: PathBuf,
    },

    /// The wallet file exists but is not a wallet this version understands.
    #[error("wallet file `{path}` is unusable: {reason}")]
    CorruptWalletFile {
        /// The wallet file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A holder key could not be generated, loaded or used to sign.
    #[error("holder key: {reason}")]
    HolderKey {
        /// What failed.
        reason: String,
    },

    /// A DID was named that has no key in this wallet.
    #[error("`{did}` is not a DID of this wallet")]
    UnknownHolder {
        /// The DID asked for.
        did: String,
    },

    /// The `openid-vc://` URL (or a URL inside a request) is malformed.
    #[error("invalid request URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// A URL uses plain http (or another scheme) for a host the policy does not allow.
    #[error(
        "refused `{url}`: only https is allowed (plain http only for hosts in allow_http_hosts)"
    )]
    InsecureUrl {
        /// The URL.
        url: String,
    },

    /// The HTTP exchange itself failed (connect, timeout, redirect refused).
    #[error("HTTP {method} `{url}` failed: {reason}")]
    Http {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// The client's explanation.
        reason: String,
    },

    /// A response body exceeded the configured limit.
    #[error("response from `{url}` is larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The URL.
        url: String,
        /// The limit in force.
        limit: usize,
    },

    /// The server answered with an error status (API error shape when it sent one).
    #[error("{0}")]
    Server(Box<ServerError>),

    /// A success response did not have the shape the protocol prescribes.
    #[error("unexpected response from `{url}` (status {status}): {reason}")]
    UnexpectedResponse {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
    },

    /// A token does not parse as a compact JWS/JWT.
    #[error("{what}: not a usable JWT: {reason}")]
    InvalidToken {
        /// Which token (`request object`, `manifest`, `credential`, ...).
        what: &'static str,
        /// The parser's explanation.
        reason: String,
    },

    /// The signer's DID could not be resolved.
    #[error("{what}: could not resolve `{did}`: {source}")]
    Resolution {
        /// Which token needed the DID.
        what: &'static str,
        /// The DID.
        did: String,
        /// The resolver's error.
        #[source]
        source: Box<DidError>,
    },

    /// The signing key is not one the signer's DID document authorises for this use.
    #[error("{what}: key `{kid}` is not usable: {reason}")]
    UntrustedKey {
        /// Which token.
        what: &'static str,
        /// The header's kid.
        kid: String,
        /// Why the DID document does not vouch for it.
        reason: String,
    },

    /// The signature does not verify under the signer's DID key.
    #[error("{what}: signature check failed: {reason}")]
    BadSignature {
        /// Which token.
        what: &'static str,
        /// The verifier's explanation.
        reason: String,
    },

    /// Two identifiers that must name the same party differ (kid DID, iss, client_id, issuer).
    #[error("{what}: `{field}` is `{found}` but must be `{expected}`")]
    IdentityMismatch {
        /// Which token.
        what: &'static str,
        /// The member compared.
        field: &'static str,
        /// The value it must have.
        expected: String,
        /// The value it has.
        found: String,
    },

    /// A token is expired, not yet valid, or issued in the future.
    #[error("{what}: time check failed: {reason}")]
    TokenTime {
        /// Which token.
        what: &'static str,
        /// The failed check.
        reason: String,
    },

    /// A required member is missing or has the wrong type.
    #[error("{what}: `{field}` is missing or not {expected}")]
    MissingField {
        /// Which token or document.
        what: &'static str,
        /// The member (a JSON path for nested ones).
        field: String,
        /// The type it must have.
        expected: &'static str,
    },

    /// The issued credential is bound to a different subject than this wallet's DID.
    #[error("credential: `{field}` is `{found}`, not this wallet's DID `{expected}`")]
    WrongSubject {
        /// `sub` or `vc.credentialSubject.id`.
        field: &'static str,
        /// Our DID.
        expected: String,
        /// The value in the credential.
        found: String,
    },

    /// The request asks for a PIN and none was given.
    #[error("this issuance request needs a {length}-digit PIN; pass it in ReceiveOptions.pin")]
    PinRequired {
        /// The PIN length the request announces.
        length: u64,
    },

    /// The PIN does not have the length or character type the request announces.
    #[error("PIN does not match the request's requirement: {reason}")]
    PinFormat {
        /// Which requirement failed (never the PIN itself).
        reason: String,
    },

    /// An issuance URL was used to present, or a presentation URL to receive.
    #[error("this is {found} request, not {expected} request")]
    WrongRequestKind {
        /// `an issuance` or `a presentation`.
        expected: &'static str,
        /// What the request object is.
        found: &'static str,
    },

    /// No stored credential satisfies an input descriptor.
    #[error(
        "no stored credential matches input descriptor `{descriptor}` (type, accepted issuers, constraints, not expired)"
    )]
    NoMatchingCredential {
        /// The descriptor id (the credential type).
        descriptor: String,
    },

    /// The credentials to present are bound to different DIDs of this wallet, so no single
    /// holder key can present them together.
    #[error("the selected credentials are bound to different holder DIDs: {dids}")]
    MixedHolders {
        /// The DIDs involved, comma-separated.
        dids: String,
    },

    /// The credential was stored but the completion POST to `redirect_uri` failed.
    #[error(
        "credential received and stored, but the completion POST was refused with status {status}: {message}"
    )]
    CompletionFailed {
        /// HTTP status of the completion response.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// The wallet configuration cannot be used (e.g. the HTTP client cannot be built).
    #[error("wallet configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },

    /// A token is another kind of token than the one expected here (e.g. a manifest served
    /// as a request object), by its `typ` or by claims only other kinds carry.
    #[error("{what}: {reason}")]
    WrongTokenKind {
        /// Which token (`request object`, `manifest`, `credential`, `id_token_hint`).
        what: &'static str,
        /// The kind check's explanation, naming the offending `typ` or claim.
        reason: String,
    },
}

impl WalletError {
    /// The stable code of this error (`WALLET-0xx`); never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "WALLET-001",
            Self::WalletExists { .. } => "WALLET-002",
            Self::WalletNotFound { .. } => "WALLET-003",
            Self::CorruptWalletFile { .. } => "WALLET-004",
            Self::HolderKey { .. } => "WALLET-005",
            Self::UnknownHolder { .. } => "WALLET-006",
            Self::InvalidUrl { .. } => "WALLET-007",
            Self::InsecureUrl { .. } => "WALLET-008",
            Self::Http { .. } => "WALLET-009",
            Self::ResponseTooLarge { .. } => "WALLET-010",
            Self::Server(_) => "WALLET-011",
            Self::UnexpectedResponse { .. } => "WALLET-012",
            Self::InvalidToken { .. } => "WALLET-013",
            Self::Resolution { .. } => "WALLET-014",
            Self::UntrustedKey { .. } => "WALLET-015",
            Self::BadSignature { .. } => "WALLET-016",
            Self::IdentityMismatch { .. } => "WALLET-017",
            Self::TokenTime { .. } => "WALLET-018",
            Self::MissingField { .. } => "WALLET-019",
            Self::WrongSubject { .. } => "WALLET-020",
            Self::PinRequired { .. } => "WALLET-021",
            Self::PinFormat { .. } => "WALLET-022",
            Self::WrongRequestKind { .. } => "WALLET-023",
            Self::NoMatchingCredential { .. } => "WALLET-024",
            Self::MixedHolders { .. } => "WALLET-025",
            Self::CompletionFailed { .. } => "WALLET-026",
            Self::Config { .. } => "WALLET-027",
            Self::WrongTokenKind { .. } => "WALLET-028",
        }
    }

    /// The server's error, when this is one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Self::Server(e) => Some(e),
            _ => None,
        }
    }
}

/// An error status from the server, with the API error shape's members when it sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The URL that answered.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// `error.code` (e.g. `badRequest`, `forbidden`).
    pub code: Option<String>,
    /// `error.innererror.code` (e.g. `badOrMissingField`).
    pub inner_code: Option<String>,
    /// `error.innererror.message`, else `error.message`, else a short excerpt of the body.
    pub message: String,
    /// `error.innererror.target`.
    pub target: Option<String>,
    /// `requestId`.
    pub request_id: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` answered {}", self.url, self.status)?;
        match (&self.code, &self.inner_code) {
            (Some(c), Some(i)) => write!(f, " ({c}/{i})")?,
            (Some(c), None) => write!(f, " ({c})")?,
            (None, Some(i)) => write!(f, " ({i})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)?;
        if let Some(t) = &self.target {
            write!(f, " [target: {t}]")?;
        }
        Ok(())
    }
}

impl ServerError {
    /// Reads the API error shape (protocol §1 "Errors") from a response body; anything else
    /// becomes a message excerpt so the user still sees what the server said.
    pub fn from_response(url: &str, status: u16, body: &Value) -> ServerError {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        // OAuth 2.0 / OpenID4VC endpoints: `{ "error": "<code>", "error_description": ... }`.
        if let Some(Value::String(code)) = body.get("error") {
            return ServerError {
                url: url.to_owned(),
                status,
                code: Some(code.clone()),
                inner_code: None,
                message: text(body.get("error_description")).unwrap_or_else(|| code.clone()),
                target: None,
                request_id: None,
            };
        }
        let error = body.get("error");
        let inner = error.and_then(|e| e.get("innererror"));
        let message = text(inner.and_then(|i| i.get("message")))
            .or_else(|| text(error.and_then(|e| e.get("message"))))
            .unwrap_or_else(|| match body {
                Value::Null => "(empty body)".to_owned(),
                Value::String(s) => excerpt(s),
                other => excerpt(&other.to_string()),
            });
        ServerError {
            url: url.to_owned(),
            status,
            code: text(error.and_then(|e| e.get("code"))),
            inner_code: text(inner.and_then(|i| i.get("code"))),
            message,
            target: text(inner.and_then(|i| i.get("target"))),
            request_id: text(body.get("requestId")),
        }
    }
}

/// The first 200 characters of a body that is not the API error shape.
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all() -> Vec<WalletError> {
        let s = String::new;
        vec![
            WalletError::Io {
                action: "read",
                path: PathBuf::new(),
                source: std::io::Error::other("x"),
            },
            WalletError::WalletExists {
                path: PathBuf::new(),
            },
            WalletError::WalletNotFound {
                path: PathBuf::new(),
            },
            WalletError::CorruptWalletFile {
                path: PathBuf::new(),
                reason: s(),
            },
            WalletError::HolderKey { reason: s() },
            WalletError::UnknownHolder { did: s() },
            WalletError::InvalidUrl {
                url: s(),
                reason: s(),
            },
            WalletError::InsecureUrl { url: s() },
            WalletError::Http {
                method: "GET",
                url: s(),
                reason: s(),
            },
            WalletError::ResponseTooLarge { url: s(), limit: 1 },
            WalletError::Server(Box::new(ServerError::from_response("u", 400, &Value::Null))),
            WalletError::UnexpectedResponse {
                url: s(),
                status: 200,
                reason: s(),
            },
            WalletError::InvalidToken {
                what: "t",
                reason: s(),
            },
            WalletError::Resolution {
                what: "t",
                did: s(),
                source: Box::new(DidError::KeyNotFound { kid: s() }),
            },
            WalletError::UntrustedKey {
                what: "t",
                kid: s(),
                reason: s(),
            },
            WalletError::BadSignature {
                what: "t",
                reason: s(),
            },
            WalletError::IdentityMismatch {
                what: "t",
                field: "iss",
                expected: s(),
                found: s(),
            },
            WalletError::TokenTime {
                what: "t",
                reason: s(),
            },
            WalletError::MissingField {
                what: "t",
                field: s(),
                expected: "a string",
            },
            WalletError::WrongSubject {
                field: "sub",
                expected: s(),
                found: s(),
            },
            WalletError::PinRequired { length: 4 },
            WalletError::PinFormat { reason: s() },
            WalletError::WrongRequestKind {
                expected: "an issuance",
                found: "a presentation",
            },
            WalletError::NoMatchingCredential { descriptor: s() },
            WalletError::MixedHolders { dids: s() },
            WalletError::CompletionFailed {
                status: 400,
                message: s(),
            },
            WalletError::Config { reason: s() },
            WalletError::WrongTokenKind {
                what: "manifest",
                reason: s(),
            },
        ]
    }

    #[test]
    fn codes_are_pinned() {
        let codes: Vec<&str> = all().iter().map(WalletError::code).collect();
        let expected: Vec<String> = (1..=28).map(|n| format!("WALLET-{n:03}")).collect();
        assert_eq!(codes, expected);
    }

    #[test]
    fn api_error_shape_is_read() {
        // Protocol §1 "Errors" shape.
        let body = json!({
            "requestId": "r-1", "date": "Tue, 01 Dec 2026 10:00:00 GMT", "mscv": "c",
            "error": { "code": "forbidden", "message": "The request is forbidden.",
                       "innererror": { "code": "badPin", "message": "the PIN is wrong",
                                       "target": "pin" } } });
        let e = ServerError::from_response("http://x/issue", 403, &body);
        assert_eq!(e.status, 403);
        assert_eq!(e.code.as_deref(), Some("forbidden"));
        assert_eq!(e.inner_code.as_deref(), Some("badPin"));
        assert_eq!(e.message, "the PIN is wrong");
        assert_eq!(e.target.as_deref(), Some("pin"));
        assert_eq!(e.request_id.as_deref(), Some("r-1"));
        let shown = WalletError::Server(Box::new(e)).to_string();
        assert_eq!(
            shown,
            "`http://x/issue` answered 403 (forbidden/badPin): the PIN is wrong [target: pin]"
        );
    }

    #[test]
    fn other_bodies_become_an_excerpt() {
        let e = ServerError::from_response("u", 502, &Value::String("x".repeat(300)));
        assert_eq!(e.code, None);
        assert_eq!(e.message.len(), 203);
        let e = ServerError::from_response("u", 500, &json!({"error": {"code": "internal"}}));
        assert_eq!(e.message, r#"{"error":{"code":"internal"}}"#);
        assert_eq!(
            ServerError::from_response("u", 404, &Value::Null).message,
            "(empty body)"
        );
    }
}
