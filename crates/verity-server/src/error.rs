//! The API error shape of the hosted Request Service API (protocol.md §1): every non-2xx answer
//! carries `error.code` (fixed per status), `error.message`, and `error.innererror` with a
//! specific code. 5xx answers carry only the correlation id (`mscv`).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;

tokio::task_local! {
    /// The request id of the request being handled, used as the correlation id in error bodies.
    pub static REQUEST_ID: String;
}

/// The current request's correlation id (a fresh one outside a request).
pub fn correlation_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// Inner error codes: the hosted service's generic ones plus Verity's own. Never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InnerCode {
    /// A field is missing, has the wrong type or an invalid value.
    #[serde(rename = "badOrMissingField")]
    BadOrMissingField,
    /// The body is not valid JSON / the content type is wrong.
    #[serde(rename = "invalidRequestBody")]
    InvalidRequestBody,
    /// A resource does not exist.
    #[serde(rename = "notFound")]
    NotFound,
    /// A bearer token or credential is missing, malformed, expired or not valid here.
    #[serde(rename = "tokenError")]
    TokenError,
    /// The caller is authenticated but not allowed to do this.
    #[serde(rename = "forbidden")]
    Forbidden,
    /// A resource with that identity already exists.
    #[serde(rename = "conflict")]
    Conflict,
    /// The request body exceeds the size limit.
    #[serde(rename = "payloadTooLarge")]
    PayloadTooLarge,
    /// Too many requests from this client; retry later.
    #[serde(rename = "rateLimited")]
    RateLimited,
    /// The HTTP method is not supported on this route.
    #[serde(rename = "methodNotAllowed")]
    MethodNotAllowed,
    /// A dependency (database, remote party) failed; retrying may succeed.
    #[serde(rename = "transientError")]
    TransientError,
    /// An unexpected failure; look up the correlation id in the logs.
    #[serde(rename = "internalError")]
    Internal,
    /// A DID is malformed (syntax, or a did:key/did:jwk whose key does not decode).
    #[serde(rename = "invalidDid")]
    InvalidDid,
    /// The DID's method is not one this service resolves.
    #[serde(rename = "unsupportedDidMethod")]
    UnsupportedDidMethod,
    /// The DID's host answered that the DID document does not exist.
    #[serde(rename = "didNotFound")]
    DidNotFound,
    /// The DID document could not be used: refused by the fetch policy, not a DID document,
    /// published for another DID, too large, or a redirect to another host.
    #[serde(rename = "didResolutionFailed")]
    DidResolutionFailed,
    /// The request's contract is disabled.
    #[serde(rename = "contractDisabled")]
    ContractDisabled,
    /// The request has expired (requests live 5 minutes).
    #[serde(rename = "requestExpired")]
    RequestExpired,
    /// The callback URL is not https or points at a refused address.
    #[serde(rename = "callbackUrlRefused")]
    CallbackUrlRefused,
    /// The wallet's signed holder request failed a check (signature, key, audience, times, nonce).
    #[serde(rename = "holderRequestInvalid")]
    HolderRequestInvalid,
    /// A token, jti or nonce was used before.
    #[serde(rename = "replayDetected")]
    Replay,
    /// The PIN was wrong.
    #[serde(rename = "wrongPin")]
    WrongPin,
    /// Too many wrong PINs: the request is locked.
    #[serde(rename = "pinLocked")]
    PinLocked,
    /// An attestation (id_token, self-issued claims, access token, presentation) failed.
    #[serde(rename = "attestationInvalid")]
    AttestationInvalid,
    /// The wallet's presentation failed a verifier check (the message names it and its PRES code).
    #[serde(rename = "presentationInvalid")]
    PresentationInvalid,
    /// A face check was requested but no face matcher is configured.
    #[serde(rename = "faceCheckNotConfigured")]
    FaceCheckNotConfigured,
}

impl InnerCode {
    /// Every code, in the order the API documentation lists them.
    pub const ALL: [InnerCode; 25] = [
        Self::BadOrMissingField,
        Self::InvalidRequestBody,
        Self::NotFound,
        Self::TokenError,
        Self::Forbidden,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::MethodNotAllowed,
        Self::TransientError,
        Self::Internal,
        Self::InvalidDid,
        Self::UnsupportedDidMethod,
        Self::DidNotFound,
        Self::DidResolutionFailed,
        Self::ContractDisabled,
        Self::RequestExpired,
        Self::CallbackUrlRefused,
        Self::HolderRequestInvalid,
        Self::Replay,
        Self::WrongPin,
        Self::PinLocked,
        Self::AttestationInvalid,
        Self::PresentationInvalid,
        Self::FaceCheckNotConfigured,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadOrMissingField => "badOrMissingField",
            Self::InvalidRequestBody => "invalidRequestBody",
            Self::NotFound => "notFound",
            Self::TokenError => "tokenError",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payloadTooLarge",
            Self::RateLimited => "rateLimited",
            Self::MethodNotAllowed => "methodNotAllowed",
            Self::TransientError => "transientError",
            Self::Internal => "internalError",
            Self::InvalidDid => "invalidDid",
            Self::UnsupportedDidMethod => "unsupportedDidMethod",
            Self::DidNotFound => "didNotFound",
            Self::DidResolutionFailed => "didResolutionFailed",
            Self::ContractDisabled => "contractDisabled",
            Self::RequestExpired => "requestExpired",
            Self::CallbackUrlRefused => "callbackUrlRefused",
            Self::HolderRequestInvalid => "holderRequestInvalid",
            Self::Replay => "replayDetected",
            Self::WrongPin => "wrongPin",
            Self::PinLocked => "pinLocked",
            Self::AttestationInvalid => "attestationInvalid",
            Self::PresentationInvalid => "presentationInvalid",
            Self::FaceCheckNotConfigured => "faceCheckNotConfigured",
        }
    }
}

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    inner: InnerCode,
    message: String,
    target: Option<String>,
    request_id: Option<String>,
    retry_after: Option<u64>,
    /// A 5xx whose message is about a remote party, not about us, so it may be shown.
    upstream: bool,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, inner: InnerCode, message: impl Into<String>) -> Self {
        Self {
            status,
            inner,
            message: message.into(),
            target: None,
            request_id: None,
            retry_after: None,
            upstream: false,
        }
    }

    /// 400 for a bad or missing field, naming it.
    pub fn bad_field(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            InnerCode::BadOrMissingField,
            message,
        )
        .with_target(target)
    }

    /// 400 for a body that is not the JSON we expect.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            InnerCode::InvalidRequestBody,
            message,
        )
    }

    /// 401 for a missing/invalid credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, InnerCode::TokenError, message)
    }

    /// 403 for a valid credential without the right.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, InnerCode::Forbidden, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, InnerCode::NotFound, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, InnerCode::Conflict, message)
    }

    /// 503 for a dependency that failed; callers may retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            InnerCode::TransientError,
            message,
        )
    }

    /// A 5xx caused by a remote party (a DID's host, a linked domain): unlike other server
    /// errors, the message is sent, because it describes their answer, not our internals.
    pub fn upstream(status: StatusCode, inner: InnerCode, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, inner, message);
        tracing::warn!(correlation_id = %correlation_id(), error = %e.message, "remote party failed");
        e.upstream = true;
        e
    }

    /// 500; the message is logged with the correlation id, never sent.
    pub fn internal(message: impl fmt::Display) -> Self {
        let id = correlation_id();
        tracing::error!(correlation_id = %id, error = %message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, InnerCode::Internal, "")
    }

    /// Names the field the error is about (`registration.clientName`).
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Attaches the API request id the error belongs to.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The inner code.
    pub fn inner_code(&self) -> InnerCode {
        self.inner
    }

    /// The field the error is about, if any.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// What a person may be shown: the message, except for an internal error (only its
    /// correlation id, as in the JSON body).
    pub fn public_message(&self) -> String {
        if self.status.is_server_error() && !self.upstream {
            return format!(
                "Something went wrong (correlation id {}).",
                correlation_id()
            );
        }
        self.message.clone()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        let (code, message) = top_level(self.status);
        let mscv = correlation_id();
        let date = httpdate_now();
        if self.status.is_server_error() && !self.upstream {
            return json!({
                "requestId": self.request_id,
                "date": date,
                "mscv": mscv,
                "error": { "code": code, "message": message,
                           "innererror": { "code": self.inner.as_str(),
                                           "message": format!("Correlation id {mscv}.") } }
            });
        }
        let mut inner = json!({ "code": self.inner.as_str(), "message": self.message });
        if let Some(t) = &self.target {
            inner["target"] = json!(t);
        }
        json!({
            "requestId": self.request_id,
            "date": date,
            "mscv": mscv,
            "error": { "code": code, "message": message, "innererror": inner }
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.inner.as_str(),
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"verity\", error=\"invalid_token\""),
            ));
        }
        resp.json(self.body())
    }
}

/// The fixed top-level code and message for an HTTP status, as the hosted service sends them.
pub fn top_level(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("badRequest", "The request is invalid."),
        401 => (
            "unauthorized",
            "The requested resource requires authentication.",
        ),
        403 => ("forbidden", "Missing permission to fulfill this request."),
        404 => ("notFound", "The requested resource doesn't exist."),
        405 => (
            "methodNotAllowed",
            "The requested method isn't allowed on the requested resource.",
        ),
        406 => ("notAcceptable", "The requested format isn't supported."),
        408 => ("requestTimeout", "The request timed out."),
        409 => ("conflict", "There's a conflict caused by the request."),
        410 => ("gone", "The requested resource is no longer available."),
        413 => ("payloadTooLarge", "Payload too large."),
        415 => (
            "unsupportedMediaType",
            "The request media type isn't supported.",
        ),
        429 => ("tooManyRequests", "Too many requests."),
        502 => (
            "badGateway",
            "A remote server the request depends on answered badly.",
        ),
        503 => ("serviceUnavailable", "The service is unavailable."),
        _ if status.is_server_error() => {
            ("internalServerError", "An internal server error occurred.")
        }
        _ => ("badRequest", "The request is invalid."),
    }
}

fn httpdate_now() -> String {
    // The `date` field mirrors the HTTP Date header (RFC 7231); it is informational only, so the
    // response-time wall clock is the right source here.
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now();
    now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

impl From<verity_store::StoreError> for ApiError {
    fn from(e: verity_store::StoreError) -> Self {
        use verity_store::StoreError as S;
        match e {
            S::NotFound { entity, id } => ApiError::not_found(format!("{entity} `{id}` not found")),
            S::Conflict {
                entity,
                field,
                value,
            } => ApiError::conflict(format!("a {entity} with {field} `{value}` already exists"))
                .with_target(field),
            S::InvalidData(m) => ApiError::new(StatusCode::CONFLICT, InnerCode::Conflict, m),
            other => {
                // The answer carries only the correlation id; the log line is where an operator
                // finds why (operation, database text and code), under that same id.
                log_store_failure(&other);
                ApiError::transient(format!("the database is unavailable ({})", other.code()))
            }
        }
    }
}

impl From<verity_issuance::IssuanceError> for ApiError {
    /// The answers of issuance checks: 400 `holderRequestInvalid` for the holder's signed
    /// request (and its nonce), 400 `badOrMissingField` on `state` for a request that names
    /// none, 403 `wrongPin`, 400 `attestationInvalid` with the attestation as target, 503
    /// `transientError` (retry after 5 s) when a presented credential cannot be checked right
    /// now, 500 for signing failures.
    fn from(e: verity_issuance::IssuanceError) -> Self {
        use verity_issuance::IssuanceError as I;
        match &e {
            I::MissingState => ApiError::bad_field("state", e.to_string()),
            I::NonceMismatch => ApiError::new(
                StatusCode::BAD_REQUEST,
                InnerCode::HolderRequestInvalid,
                e.to_string(),
            ),
            I::WrongPin => ApiError::new(StatusCode::FORBIDDEN, InnerCode::WrongPin, e.to_string()),
            _ if e.is_holder_request() => ApiError::new(
                StatusCode::BAD_REQUEST,
                InnerCode::HolderRequestInvalid,
                e.to_string(),
            ),
            _ if e.is_transient() => ApiError::transient(e.to_string()).with_retry_after(5),
            _ if e.is_attestation() => {
                let target = e.target().unwrap_or_default().to_owned();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    InnerCode::AttestationInvalid,
                    e.to_string(),
                )
                .with_target(target)
            }
            _ => ApiError::internal(format_args!("{} ({})", e, e.code())),
        }
    }
}

/// Logs a store failure behind a 5xx answer at error level: the request id (the `mscv`
/// correlation id of the answer), the store error code and its full message. Store messages
/// never hold secrets (no connection URL, no passwords), so the whole text is logged.
fn log_store_failure(e: &verity_store::StoreError) {
    tracing::error!(
        request_id = %correlation_id(),
        code = e.code(),
        error = %e,
        "database failure"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_is_pinned() {
        let table = [
            (400, "badRequest"),
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "notFound"),
            (405, "methodNotAllowed"),
            (409, "conflict"),
            (413, "payloadTooLarge"),
            (429, "tooManyRequests"),
            (500, "internalServerError"),
            (502, "badGateway"),
            (503, "serviceUnavailable"),
        ];
        for (status, code) in table {
            assert_eq!(
                top_level(StatusCode::from_u16(status).unwrap()).0,
                code,
                "{status}"
            );
        }
    }

    #[test]
    fn body_has_inner_code_message_and_target() {
        let e = ApiError::bad_field("registration.clientName", "missing");
        let b = e.body();
        assert_eq!(b["error"]["code"], "badRequest");
        assert_eq!(b["error"]["innererror"]["code"], "badOrMissingField");
        assert_eq!(
            b["error"]["innererror"]["target"],
            "registration.clientName"
        );
        assert_eq!(b["error"]["innererror"]["message"], "missing");
        assert!(b["mscv"].as_str().is_some());
    }

    #[test]
    fn inner_codes_are_pinned() {
        let table = [
            (InnerCode::BadOrMissingField, "badOrMissingField"),
            (InnerCode::InvalidRequestBody, "invalidRequestBody"),
            (InnerCode::NotFound, "notFound"),
            (InnerCode::TokenError, "tokenError"),
            (InnerCode::Forbidden, "forbidden"),
            (InnerCode::Conflict, "conflict"),
            (InnerCode::PayloadTooLarge, "payloadTooLarge"),
            (InnerCode::RateLimited, "rateLimited"),
            (InnerCode::MethodNotAllowed, "methodNotAllowed"),
            (InnerCode::TransientError, "transientError"),
            (InnerCode::Internal, "internalError"),
            (InnerCode::InvalidDid, "invalidDid"),
            (InnerCode::UnsupportedDidMethod, "unsupportedDidMethod"),
            (InnerCode::DidNotFound, "didNotFound"),
            (InnerCode::DidResolutionFailed, "didResolutionFailed"),
        ];
        for (code, name) in table {
            assert_eq!(code.as_str(), name);
            assert_eq!(serde_json::to_value(code).unwrap(), name);
        }
    }

    #[test]
    fn upstream_errors_show_their_message() {
        let e = ApiError::upstream(
            StatusCode::BAD_GATEWAY,
            InnerCode::DidResolutionFailed,
            "`https://x.test/.well-known/did.json` answered HTTP 500",
        );
        let b = e.body();
        assert_eq!(b["error"]["code"], "badGateway");
        assert_eq!(b["error"]["innererror"]["code"], "didResolutionFailed");
        assert!(
            b["error"]["innererror"]["message"]
                .as_str()
                .unwrap()
                .contains("answered HTTP 500")
        );
    }

    /// Captures what `f` logs, as the text formatter writes it.
    fn logs_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn store_failures_log_their_cause_with_the_request_id_and_answer_only_the_id() {
        let cause = "insert issued credential: error returned from database: \
                     disk I/O error (database code 10)";
        let mut error = None;
        let logs = logs_of(|| {
            REQUEST_ID.sync_scope("req-7f3a".to_owned(), || {
                let e = ApiError::from(verity_store::StoreError::Database(cause.into()));
                error = Some((e.status, e.body()));
            });
        });
        let (status, body) = error.unwrap();
        assert!(logs.contains("ERROR"), "{logs}");
        assert!(logs.contains("request_id=req-7f3a"), "{logs}");
        assert!(logs.contains("STORE-004"), "{logs}");
        assert!(logs.contains(cause), "the whole cause: {logs}");

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["mscv"], "req-7f3a");
        let text = body.to_string();
        assert!(!text.contains("disk I/O"), "{text}");
        assert!(!text.contains("insert issued credential"), "{text}");
        assert!(text.contains("Correlation id req-7f3a."), "{text}");
    }

    #[test]
    fn client_store_errors_are_not_logged_as_failures() {
        let logs = logs_of(|| {
            let _ = ApiError::from(verity_store::StoreError::NotFound {
                entity: "tenant",
                id: "t1".into(),
            });
        });
        assert!(!logs.contains("database failure"), "{logs}");
    }

    #[test]
    fn issuance_errors_keep_their_api_answers() {
        use verity_issuance::IssuanceError as I;
        let presentation = || Box::new(verity_presentation::PresentationError::StateMismatch);
        let contract =
            || Box::new(verity_contracts::ContractError::MalformedToken { reason: "r".into() });
        let t = |s: &str| Some(s.to_owned());
        let table: Vec<(I, u16, InnerCode, Option<String>)> = vec![
            (
                I::HolderMalformed { reason: "r".into() },
                400,
                InnerCode::HolderRequestInvalid,
                None,
            ),
            (
                I::MissingState,
                400,
                InnerCode::BadOrMissingField,
                t("state"),
            ),
            (I::MissingDid, 400, InnerCode::HolderRequestInvalid, None),
            (
                I::DidResolution {
                    did: "did:web:x".into(),
                    reason: "r".into(),
                },
                400,
                InnerCode::HolderRequestInvalid,
                None,
            ),
            (
                I::Signature { reason: "r".into() },
                400,
                InnerCode::HolderRequestInvalid,
                None,
            ),
            (I::MissingJti, 400, InnerCode::HolderRequestInvalid, None),
            (I::NonceMismatch, 400, InnerCode::HolderRequestInvalid, None),
            (I::WrongPin, 403, InnerCode::WrongPin, None),
            (
                I::AttestationMissing {
                    target: "attestations.selfIssued".into(),
                    reason: "r".into(),
                },
                400,
                InnerCode::AttestationInvalid,
                t("attestations.selfIssued"),
            ),
            (
                I::AttestationToken {
                    target: "attestations.idTokens[c]".into(),
                    source: contract(),
                },
                400,
                InnerCode::AttestationInvalid,
                t("attestations.idTokens[c]"),
            ),
            (
                I::AttestationPresentation {
                    target: "attestations.presentations[T]".into(),
                    source: presentation(),
                },
                400,
                InnerCode::AttestationInvalid,
                t("attestations.presentations[T]"),
            ),
            (
                I::ClaimMapping {
                    target: "attestations.idTokens[https://self-issued.me]".into(),
                    source: contract(),
                },
                400,
                InnerCode::AttestationInvalid,
                t("attestations.idTokens[https://self-issued.me]"),
            ),
            (
                I::AttestationUnavailable {
                    target: "attestations.presentations[T]".into(),
                    source: presentation(),
                },
                503,
                InnerCode::TransientError,
                None,
            ),
            (
                I::Signing {
                    what: "credential",
                    source: verity_jose::JoseError::AlgNone,
                },
                500,
                InnerCode::Internal,
                None,
            ),
        ];
        for (e, status, inner, target) in table {
            let what = format!("{e:?}");
            let message = e.to_string();
            let a = ApiError::from(e);
            assert_eq!(a.status.as_u16(), status, "{what}");
            assert_eq!(a.inner, inner, "{what}");
            assert_eq!(a.target, target, "{what}");
            if status < 500 {
                assert_eq!(a.message, message, "{what}");
            }
            if status == 503 {
                assert_eq!(a.retry_after, Some(5), "{what}");
            }
        }
    }

    #[test]
    fn server_errors_hide_details() {
        let e = ApiError::internal("db password wrong: hunter2");
        let b = e.body().to_string();
        assert!(!b.contains("hunter2"));
        assert!(b.contains("internalServerError"));
    }
}
