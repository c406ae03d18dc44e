//! The wallet's HTTP client: https only (plain http for allow-listed development hosts), bounded
//! time and body size, redirects checked against the same rules.
//!
//! Unlike the did:web fetcher, the wallet does not refuse private or loopback addresses for the
//! URLs it is handed: like a phone wallet, it acts for its user, who chose to scan the request.

use std::error::Error as StdError;
use std::sync::Arc;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use url::Url;
use verity_did::FetchPolicy;

use crate::error::{ServerError, WalletError};

/// A response as the wallet needs it.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// The URL that was asked.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// The body, at most the configured limit.
    pub body: Vec<u8>,
}

impl Response {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON: `null` when empty, a JSON string when it is not JSON.
    pub fn json_or_text(&self) -> Value {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// Fails with the server's error unless the status is 2xx.
    pub fn error_for_status(self) -> Result<Response, WalletError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(WalletError::Server(Box::new(ServerError::from_response(
                &self.url,
                self.status,
                &self.json_or_text(),
            ))))
        }
    }
}

/// The HTTP client; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
    max_bytes: usize,
}

impl Http {
    /// A client enforcing `policy`'s scheme rule and timeouts, reading at most `max_bytes`.
    pub fn new(policy: &FetchPolicy, max_bytes: usize) -> Result<Http, WalletError> {
        let policy = Arc::new(policy.clone());
        let redirect_policy = policy.clone();
        // Extra CA certificates (`--ca-cert`, an internal CA) next to or instead of the public
        // roots.
        let builder = verity_did::tls::apply_trust(
            reqwest::Client::builder(),
            &policy.trust_anchors,
            policy.public_roots,
        )
        .map_err(|reason| WalletError::Config { reason })?;
        let client = builder
            // Shorter than common server keep-alive times, so a pooled connection is not reused
            // just as the server closes it (POSTs are not retried on that race).
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= redirect_policy.max_redirects {
                    let n = redirect_policy.max_redirects;
                    return attempt.error(format!("more than {n} redirects"));
                }
                if scheme_allowed(&redirect_policy, attempt.url()) {
                    attempt.follow()
                } else {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirect to `{to}` refused: not https"))
                }
            }))
            // Environment proxies would make test and development traffic leave the machine.
            .no_proxy()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.read_timeout)
            .user_agent(concat!("verity-wallet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WalletError::Config {
                reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(Http {
            client,
            policy,
            max_bytes,
        })
    }

    /// Parses `url` and applies the scheme rule.
    pub fn check_url(&self, url: &str) -> Result<Url, WalletError> {
        let parsed = Url::parse(url).map_err(|e| WalletError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(WalletError::InvalidUrl {
                url: url.to_owned(),
                reason: "has no host".into(),
            });
        }
        if !scheme_allowed(&self.policy, &parsed) {
            return Err(WalletError::InsecureUrl {
                url: url.to_owned(),
            });
        }
        Ok(parsed)
    }

    /// GETs `url` with the given `Accept`.
    pub async fn get(&self, url: &str, accept: &str) -> Result<Response, WalletError> {
        let target = self.check_url(url)?;
        let req = self.client.get(target).header(ACCEPT, accept);
        self.send("GET", url, req).await
    }

    /// POSTs `body` to `url` with the given content type.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, WalletError> {
        let target = self.check_url(url)?;
        let req = self
            .client
            .post(target)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, "application/json")
            .body(body);
        self.send("POST", url, req).await
    }

    /// POSTs `body` to `url` with the given content type and a bearer token.
    pub async fn post_with_bearer(
        &self,
        url: &str,
        content_type: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<Response, WalletError> {
        let target = self.check_url(url)?;
        let req = self
            .client
            .post(target)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, "application/json")
            .bearer_auth(token)
            .body(body);
        self.send("POST", url, req).await
    }

    async fn send(
        &self,
        method: &'static str,
        url: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Response, WalletError> {
        let http_err = |e: reqwest::Error| WalletError::Http {
            method,
            url: url.to_owned(),
            reason: match verity_did::tls::certificate_cause(&e) {
                Some(cause) => format!("TLS certificate refused: {cause}"),
                None => error_chain(&e),
            },
        };
        let mut resp = req.send().await.map_err(http_err)?;
        let status = resp.status().as_u16();
        let too_large = || WalletError::ResponseTooLarge {
            url: url.to_owned(),
            limit: self.max_bytes,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            url: url.to_owned(),
            status,
            body,
        })
    }
}

/// https always; http only for allow-listed `host[:port]`; nothing else.
fn scheme_allowed(policy: &FetchPolicy, url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let host_port = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_owned(),
            };
            policy.allows_http(&host_port)
        }
        _ => false,
    }
}

/// The error and its causes, joined: reqwest's top-level message alone rarely says why.
fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(hosts: &[&str]) -> Http {
        let policy = FetchPolicy {
            allow_http_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..FetchPolicy::default()
        };
        Http::new(&policy, 1024).unwrap()
    }

    #[test]
    fn https_always_http_only_when_allowed() {
        let h = http(&["localhost:8080", "127.0.0.1"]);
        h.check_url("https://example.com/x").unwrap();
        h.check_url("http://localhost:8080/x").unwrap();
        h.check_url("http://127.0.0.1:9999/x").unwrap();
        for refused in [
            "http://localhost:8081/x",
            "http://example.com/x",
            "ftp://example.com/x",
        ] {
            assert_eq!(h.check_url(refused).unwrap_err().code(), "WALLET-008");
        }
        for bad in ["not a url", "https://", "file:///etc/passwd"] {
            let e = h.check_url(bad).unwrap_err();
            assert!(
                matches!(e.code(), "WALLET-007" | "WALLET-008"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn bodies_are_read_as_json_or_text() {
        let r = |body: &[u8]| Response {
            url: "u".into(),
            status: 200,
            body: body.to_vec(),
        };
        assert_eq!(r(b"").json_or_text(), Value::Null);
        assert_eq!(r(b"{\"a\":1}").json_or_text(), serde_json::json!({"a": 1}));
        assert_eq!(r(b"plain").json_or_text(), Value::String("plain".into()));
        let mut failed = r(b"{\"error\":{\"code\":\"gone\",\"message\":\"expired\"}}");
        failed.status = 410;
        let e = failed.error_for_status().unwrap_err();
        let s = e.server_error().unwrap();
        assert_eq!((s.status, s.code.as_deref()), (410, Some("gone")));
        assert_eq!(s.message, "expired");
    }
}
