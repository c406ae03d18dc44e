//! A hardened HTTP GET for documents that untrusted parties point us at (DID documents, DID
//! configurations, status lists, OIDC discovery): https only, no private or loopback addresses,
//! no redirects to other hosts, bounded time and body size.
//!
//! Address checks happen inside the client's DNS resolver, on every address a name resolves to,
//! and the connection uses exactly the addresses that were checked: a DNS answer that changes
//! between check and connect (rebinding) cannot slip a private address in.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH, LOCATION,
};
use reqwest::{StatusCode, dns};
use url::Url;

use crate::error::FetchError;

/// Default body limit: 100 KB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 100 * 1024;

/// What the fetcher may contact and how long and how much it may read.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Time allowed to open the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole request: connect, redirects, headers and body.
    pub read_timeout: Duration,
    /// Largest body accepted unless a call passes its own limit.
    pub max_body_bytes: usize,
    /// Redirects followed (same host only) before giving up.
    pub max_redirects: usize,
    /// Allow loopback addresses (127.0.0.0/8, ::1) on every port; for tests of this crate.
    /// Services use `loopback_origins` instead.
    pub allow_loopback: bool,
    /// `host:port` origins that may be reached on loopback addresses although
    /// `allow_loopback` is off (a service's own origins in development). A name listed here
    /// may be resolved to loopback, and only on the listed ports: any other port of it is
    /// refused before connecting, so the fetcher cannot be used to probe local ports. An
    /// entry without a port stands for the default ports (443, 80).
    pub loopback_origins: Vec<String>,
    /// Allow private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10 shared).
    pub allow_private: bool,
    /// `host` or `host:port` entries that may be fetched over plain http (development only).
    /// An entry without a port matches every port of that host.
    pub allow_http_hosts: Vec<String>,
    /// Test-only: send requests for these domains over plain http to a fixed socket address
    /// instead of resolving them. Address checks still apply. Empty in production.
    pub host_overrides: HashMap<String, SocketAddr>,
    /// Extra trust anchors (DER CA certificates) for https, e.g. an internal CA.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Trust the public (webpki) roots too; off = only `trust_anchors`.
    pub public_roots: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_redirects: 3,
            allow_loopback: false,
            allow_private: false,
            allow_http_hosts: Vec::new(),
            host_overrides: HashMap::new(),
            loopback_origins: Vec::new(),
            trust_anchors: Vec::new(),
            public_roots: true,
        }
    }
}

impl FetchPolicy {
    /// True when `host_port` (`host` or `host:port`) may be fetched over plain http.
    pub fn allows_http(&self, host_port: &str) -> bool {
        let host_only = split_host_port(host_port).0;
        self.allow_http_hosts.iter().any(|entry| {
            entry.eq_ignore_ascii_case(host_port)
                || (!entry_has_port(entry) && entry.eq_ignore_ascii_case(host_only))
        })
    }

    /// True when `host` is named by a `loopback_origins` entry (some port of it may be on
    /// loopback).
    fn loopback_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.loopback_origins
            .iter()
            .any(|e| split_host_port(e).0.eq_ignore_ascii_case(host))
    }

    /// True when `host` with `port` is a `loopback_origins` entry.
    pub fn is_loopback_origin(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.loopback_origins.iter().any(|e| {
            let (h, p) = split_host_port(e);
            h.eq_ignore_ascii_case(host)
                && match p.and_then(|p| p.parse::<u16>().ok()) {
                    Some(p) => p == port,
                    None => port == 443 || port == 80,
                }
        })
    }

    /// Refuses `ip` unless its range is allowed; returns the range name in the error.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), FetchError> {
        match classify(ip) {
            None => Ok(()),
            Some((_, Gate::Loopback)) if self.allow_loopback || self.loopback_host(host) => Ok(()),
            Some((_, Gate::Private)) if self.allow_private => Ok(()),
            Some((range, _)) => Err(FetchError::AddressRefused {
                host: host.to_owned(),
                addr: ip,
                range,
            }),
        }
    }
}

fn entry_has_port(entry: &str) -> bool {
    split_host_port(entry).1.is_some()
}

/// Splits `host:port` (also `[v6]:port`) into host and port.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p))
            if !h.contains(':') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (h, Some(p))
        }
        _ => (s, None),
    }
}

/// Which switch, if any, can allow a refused range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Loopback,
    Private,
    /// Link-local (cloud metadata lives here), multicast, broadcast, unspecified, reserved.
    Never,
}

/// Classifies addresses that are not public unicast; `None` means public.
fn classify(ip: IpAddr) -> Option<(&'static str, Gate)> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<(&'static str, Gate)> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => ("unspecified (0.0.0.0/8)", Gate::Never),
        (127, _, _) => ("loopback (127.0.0.0/8)", Gate::Loopback),
        (10, _, _) => ("private (10.0.0.0/8)", Gate::Private),
        (172, 16..=31, _) => ("private (172.16.0.0/12)", Gate::Private),
        (192, 168, _) => ("private (192.168.0.0/16)", Gate::Private),
        (100, 64..=127, _) => ("shared address space (100.64.0.0/10)", Gate::Private),
        (169, 254, _) => ("link-local (169.254.0.0/16)", Gate::Never),
        (192, 0, 0) => ("IETF protocol assignments (192.0.0.0/24)", Gate::Never),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => ("documentation range", Gate::Never),
        (198, 18..=19, _) => ("benchmarking (198.18.0.0/15)", Gate::Never),
        _ if ip.is_broadcast() => ("broadcast (255.255.255.255)", Gate::Never),
        (224..=239, _, _) => ("multicast (224.0.0.0/4)", Gate::Never),
        (240..=255, _, _) => ("reserved (240.0.0.0/4)", Gate::Never),
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<(&'static str, Gate)> {
    // Addresses that embed an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return classify_v4(Ipv4Addr::from(((seg[6] as u32) << 16) | seg[7] as u32));
    }
    if seg[0] == 0x2002 {
        // 6to4 2002::/16 embeds the IPv4 address in bits 16..48.
        if let r @ Some(_) = classify_v4(Ipv4Addr::from(((seg[1] as u32) << 16) | seg[2] as u32)) {
            return r;
        }
    }
    Some(if ip.is_unspecified() {
        ("unspecified (::)", Gate::Never)
    } else if ip.is_loopback() {
        ("loopback (::1)", Gate::Loopback)
    } else if ip.is_unique_local() {
        ("private (fc00::/7)", Gate::Private)
    } else if ip.is_unicast_link_local() {
        ("link-local (fe80::/10)", Gate::Never)
    } else if ip.is_multicast() {
        ("multicast (ff00::/8)", Gate::Never)
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        ("documentation range (2001:db8::/32)", Gate::Never)
    } else if seg[0..6] == [0, 0, 0, 0, 0, 0] {
        ("IPv4-compatible (::/96, deprecated)", Gate::Never)
    } else {
        return None;
    })
}

/// The error a refused resolution carries through reqwest, recovered by downcasting.
#[derive(Debug)]
struct GuardError(FetchError);

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for GuardError {}

/// DNS resolver that applies the policy to every address and returns only checked addresses.
struct GuardedResolver {
    policy: Arc<FetchPolicy>,
}

impl dns::Resolve for GuardedResolver {
    fn resolve(&self, name: dns::Name) -> dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let guard =
                |e: FetchError| -> Box<dyn StdError + Send + Sync> { Box::new(GuardError(e)) };
            if let Some(addr) = policy.host_overrides.get(&host) {
                policy.check_ip(&host, addr.ip()).map_err(guard)?;
                let addrs: dns::Addrs = Box::new(std::iter::once(*addr));
                return Ok(addrs);
            }
            let dns_err = |reason: String| {
                guard(FetchError::Dns {
                    host: host.clone(),
                    reason,
                })
            };
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| dns_err(e.to_string()))?
                .collect();
            if found.is_empty() {
                return Err(dns_err("no addresses".into()));
            }
            // One bad address refuses the name: an attacker controlling DNS could otherwise
            // mix a public and a private answer and hope for the private one.
            for addr in &found {
                policy.check_ip(&host, addr.ip()).map_err(guard)?;
            }
            let addrs: dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Body limit for this call; the policy's default when `None`.
    pub max_body_bytes: Option<usize>,
    /// `Accept` header; `application/json` when `None`.
    pub accept: Option<String>,
    /// An ETag from an earlier response; a 304 answer gives [`FetchOutcome::NotModified`].
    pub if_none_match: Option<String>,
}

/// Response metadata callers need for caching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMeta {
    /// The URL that finally answered (after same-host redirects).
    pub final_url: Url,
    /// HTTP status.
    pub status: u16,
    /// `ETag` header.
    pub etag: Option<String>,
    /// `Cache-Control: max-age` in seconds; `Some(0)` for `no-store`/`no-cache`.
    pub max_age: Option<u64>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
}

/// A fetched body.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The body (bytes or parsed JSON).
    pub body: T,
    /// Caching metadata.
    pub meta: ResponseMeta,
}

/// The result of a conditional fetch.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// A new body.
    Body(Fetched<Vec<u8>>),
    /// The server answered 304: the cached copy is still current.
    NotModified(ResponseMeta),
}

/// The hardened fetcher; cheap to clone (shares one connection pool).
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl HttpFetcher {
    /// Builds a fetcher enforcing `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let builder = crate::tls::apply_trust(
            reqwest::Client::builder(),
            &policy.trust_anchors,
            policy.public_roots,
        )
        .map_err(|reason| FetchError::Client { reason })?;
        let client = builder
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            // Redirects are followed by hand so each hop is checked against the policy.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself and bypass the address checks.
            .no_proxy()
            .connect_timeout(policy.connect_timeout)
            // Retire idle connections before typical server keep-alive timeouts end, so a
            // request is not sent on a connection the server is closing.
            .pool_idle_timeout(Duration::from_secs(4))
            .timeout(policy.read_timeout)
            .user_agent(concat!("verity/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client {
                reason: error_chain(&e),
            })?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` and parses the body as JSON (policy body limit).
    pub async fn get_json(&self, url: &str) -> Result<Fetched<serde_json::Value>, FetchError> {
        self.get_json_with(url, &FetchOptions::default()).await
    }

    /// GETs `url` with options and parses the body as JSON.
    pub async fn get_json_with(
        &self,
        url: &str,
        opts: &FetchOptions,
    ) -> Result<Fetched<serde_json::Value>, FetchError> {
        let opts = FetchOptions {
            if_none_match: None,
            ..opts.clone()
        };
        let fetched = match self.fetch(url, &opts).await? {
            FetchOutcome::Body(f) => f,
            // Without If-None-Match a 304 is a protocol error from the server.
            FetchOutcome::NotModified(meta) => {
                return Err(FetchError::Status {
                    url: meta.final_url.to_string(),
                    status: meta.status,
                });
            }
        };
        let body = serde_json::from_slice(&fetched.body).map_err(|e| FetchError::InvalidJson {
            url: fetched.meta.final_url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Fetched {
            body,
            meta: fetched.meta,
        })
    }

    /// GETs `url` and returns the raw body, with an optional per-call size limit.
    pub async fn get_bytes(
        &self,
        url: &str,
        max_body_bytes: Option<usize>,
    ) -> Result<Fetched<Vec<u8>>, FetchError> {
        let opts = FetchOptions {
            max_body_bytes,
            accept: Some("*/*".into()),
            if_none_match: None,
        };
        match self.fetch(url, &opts).await? {
            FetchOutcome::Body(f) => Ok(f),
            FetchOutcome::NotModified(meta) => Err(FetchError::Status {
                url: meta.final_url.to_string(),
                status: meta.status,
            }),
        }
    }

    /// Checks that `url` may be contacted under the policy (scheme, literal addresses) without
    /// sending anything: callers validate callback URLs when a request is created.
    pub fn check_url(&self, url: &str) -> Result<(), FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        self.target_for(&parsed).map(|_| ())
    }

    /// POSTs a JSON body with extra headers under the same policy (address checks on every
    /// resolved address, no redirects followed: a redirect is reported as its status).
    /// Returns the status code; the response body (up to 64 KB) is read and discarded.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &serde_json::Value,
    ) -> Result<u16, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let target = self.target_for(&parsed)?;
        let mut req = self.client.post(target).json(body);
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let send = async {
            let resp = req
                .send()
                .await
                .map_err(|e| map_reqwest(e, &parsed, self.policy.read_timeout))?;
            let status = resp.status().as_u16();
            // Drain a bounded amount so the connection can be reused; the content is not needed.
            let _ = read_limited(resp, &parsed, 64 * 1024, self.policy.read_timeout).await;
            Ok(status)
        };
        match tokio::time::timeout(self.policy.read_timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_owned(),
                timeout_ms: self.policy.read_timeout.as_millis(),
            }),
        }
    }

    /// GETs `url` under the policy; the general form behind the helpers.
    pub async fn fetch(&self, url: &str, opts: &FetchOptions) -> Result<FetchOutcome, FetchError> {
        let limit = self.policy.read_timeout;
        match tokio::time::timeout(limit, self.fetch_inner(url, opts)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_owned(),
                timeout_ms: limit.as_millis(),
            }),
        }
    }

    async fn fetch_inner(
        &self,
        url: &str,
        opts: &FetchOptions,
    ) -> Result<FetchOutcome, FetchError> {
        let mut current = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let mut redirects = 0;
        loop {
            let target = self.target_for(&current)?;
            tracing::debug!(url = %current, "fetching");
            let mut req = self
                .client
                .get(target)
                .header(ACCEPT, opts.accept.as_deref().unwrap_or("application/json"));
            if let Some(etag) = &opts.if_none_match {
                req = req.header(IF_NONE_MATCH, etag);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| map_reqwest(e, &current, self.policy.read_timeout))?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = redirect_target(&current, resp.headers())?;
                if next.host_str() != current.host_str() {
                    return Err(FetchError::RedirectToOtherHost {
                        from: current.to_string(),
                        to: next.to_string(),
                    });
                }
                if redirects == self.policy.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        url: url.to_owned(),
                        limit: self.policy.max_redirects,
                    });
                }
                redirects += 1;
                current = next;
                continue;
            }
            let meta = meta(&current, status, resp.headers());
            if status == StatusCode::NOT_MODIFIED && opts.if_none_match.is_some() {
                return Ok(FetchOutcome::NotModified(meta));
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: current.to_string(),
                    status: status.as_u16(),
                });
            }
            let limit = opts.max_body_bytes.unwrap_or(self.policy.max_body_bytes);
            let body = read_limited(resp, &current, limit, self.policy.read_timeout).await?;
            return Ok(FetchOutcome::Body(Fetched { body, meta }));
        }
    }

    /// Checks scheme and literal addresses, and maps overridden hosts to plain http.
    fn target_for(&self, url: &Url) -> Result<Url, FetchError> {
        let host = url.host().ok_or_else(|| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: "has no host".into(),
        })?;
        let host_str = url.host_str().unwrap_or_default().to_owned();
        // A name (or literal) listed for loopback is reachable only on its listed ports, so
        // the development switch cannot be turned into a scanner of other local ports.
        if !self.policy.allow_loopback && self.policy.loopback_host(&host_str) {
            let port = url.port_or_known_default().unwrap_or(0);
            let is_override = matches!(&host, url::Host::Domain(d)
                if self.policy.host_overrides.contains_key(*d));
            if !is_override && !self.policy.is_loopback_origin(&host_str, port) {
                return Err(FetchError::LoopbackNotAllowed {
                    host_port: format!("{host_str}:{port}"),
                });
            }
        }
        if let url::Host::Domain(d) = &host
            && self.policy.host_overrides.contains_key(*d)
        {
            // The resolver answers with the override's socket address (port included), so
            // the URL must not carry its own port.
            let mut target = url.clone();
            let ok = target.set_scheme("http").is_ok() && target.set_port(None).is_ok();
            if !ok {
                return Err(FetchError::InvalidUrl {
                    url: url.to_string(),
                    reason: "cannot be mapped to http".into(),
                });
            }
            return Ok(target);
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let host_port = match url.port() {
                    Some(p) => format!("{host_str}:{p}"),
                    None => host_str.clone(),
                };
                if !self.policy.allows_http(&host_port) {
                    return Err(FetchError::SchemeNotAllowed {
                        url: url.to_string(),
                    });
                }
            }
            _ => {
                return Err(FetchError::SchemeNotAllowed {
                    url: url.to_string(),
                });
            }
        }
        // Literal addresses never reach the resolver, so they are checked here.
        match host {
            url::Host::Ipv4(ip) => self.policy.check_ip(&host_str, IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => self.policy.check_ip(&host_str, IpAddr::V6(ip))?,
            url::Host::Domain(_) => {}
        }
        Ok(url.clone())
    }
}

fn redirect_target(current: &Url, headers: &HeaderMap) -> Result<Url, FetchError> {
    let bad = |reason: &str| FetchError::InvalidRedirect {
        url: current.to_string(),
        reason: reason.into(),
    };
    let loc = headers.get(LOCATION).ok_or_else(|| bad("missing"))?;
    let loc = loc.to_str().map_err(|_| bad("not visible ASCII"))?;
    current.join(loc).map_err(|e| bad(&e.to_string()))
}

fn meta(url: &Url, status: StatusCode, headers: &HeaderMap) -> ResponseMeta {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    ResponseMeta {
        final_url: url.clone(),
        status: status.as_u16(),
        etag: text(ETAG),
        max_age: text(CACHE_CONTROL).and_then(|cc| parse_max_age(&cc)),
        content_type: text(CONTENT_TYPE),
    }
}

/// `max-age=N` from a Cache-Control value; `no-store`/`no-cache` count as 0.
fn parse_max_age(cache_control: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse().ok();
        }
    }
    max_age
}

async fn read_limited(
    mut resp: reqwest::Response,
    url: &Url,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::BodyTooLarge {
        url: url.to_string(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| map_reqwest(e, url, timeout))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn map_reqwest(e: reqwest::Error, url: &Url, timeout: Duration) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(GuardError(inner)) = s.downcast_ref::<GuardError>() {
            return inner.clone();
        }
        source = s.source();
    }
    if let Some(cause) = crate::tls::certificate_cause(&e) {
        return FetchError::Certificate {
            url: url.to_string(),
            cause,
        };
    }
    if e.is_timeout() {
        return FetchError::Timeout {
            url: url.to_string(),
            timeout_ms: timeout.as_millis(),
        };
    }
    FetchError::Connect {
        url: url.to_string(),
        reason: error_chain(&e),
    }
}

/// The error and its causes, joined, so the message says what actually failed.
fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{TestResponse, TestServer};
    use serde_json::json;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_address_ranges() {
        let refused = [
            ("127.0.0.1", Gate::Loopback),
            ("127.255.0.9", Gate::Loopback),
            ("::1", Gate::Loopback),
            ("::ffff:127.0.0.1", Gate::Loopback),
            ("10.1.2.3", Gate::Private),
            ("172.16.0.1", Gate::Private),
            ("172.31.255.255", Gate::Private),
            ("192.168.1.1", Gate::Private),
            ("100.64.0.1", Gate::Private),
            ("100.127.255.255", Gate::Private),
            ("fc00::1", Gate::Private),
            ("fd12:3456::1", Gate::Private),
            ("::ffff:10.0.0.1", Gate::Private),
            ("64:ff9b::a00:1", Gate::Private),
            ("2002:c0a8:101::1", Gate::Private),
            ("169.254.169.254", Gate::Never),
            ("fe80::1", Gate::Never),
            ("0.0.0.0", Gate::Never),
            ("::", Gate::Never),
            ("224.0.0.1", Gate::Never),
            ("ff02::1", Gate::Never),
            ("255.255.255.255", Gate::Never),
            ("240.0.0.1", Gate::Never),
            ("192.0.2.1", Gate::Never),
            ("2001:db8::1", Gate::Never),
        ];
        for (ip, gate) in refused {
            let got = classify(v4(ip));
            assert_eq!(got.map(|g| g.1), Some(gate), "{ip}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "1.1.1.1",
            "172.15.255.255",
        ] {
            assert_eq!(classify(v4(public)), None, "{public}");
        }
    }

    #[test]
    fn policy_switches() {
        let mut p = FetchPolicy::default();
        assert!(matches!(
            p.check_ip("h", v4("127.0.0.1")),
            Err(FetchError::AddressRefused { .. })
        ));
        assert!(matches!(
            p.check_ip("h", v4("10.0.0.1")),
            Err(FetchError::AddressRefused { .. })
        ));
        p.allow_loopback = true;
        assert!(p.check_ip("h", v4("127.0.0.1")).is_ok());
        assert!(p.check_ip("h", v4("10.0.0.1")).is_err());
        p.allow_private = true;
        assert!(p.check_ip("h", v4("10.0.0.1")).is_ok());
        // Link-local is never allowed: it hosts cloud metadata endpoints.
        let err = p.check_ip("h", v4("169.254.169.254")).unwrap_err();
        assert!(err.to_string().contains("link-local"), "{err}");
    }

    #[test]
    fn http_allow_list_matching() {
        let p = FetchPolicy {
            allow_http_hosts: vec!["localhost".into(), "dev.test:8080".into()],
            ..FetchPolicy::default()
        };
        assert!(p.allows_http("localhost"));
        assert!(p.allows_http("localhost:3000"));
        assert!(p.allows_http("dev.test:8080"));
        assert!(!p.allows_http("dev.test:8081"));
        assert!(!p.allows_http("dev.test"));
        assert!(!p.allows_http("example.com"));
    }

    #[test]
    fn cache_control_parsing() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(300));
        assert_eq!(parse_max_age("no-store"), Some(0));
        assert_eq!(parse_max_age("private"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }

    fn loopback_policy(server: &TestServer) -> FetchPolicy {
        FetchPolicy {
            allow_loopback: true,
            host_overrides: HashMap::from([("issuer.test".to_owned(), server.addr())]),
            read_timeout: Duration::from_millis(2000),
            ..FetchPolicy::default()
        }
    }

    #[tokio::test]
    async fn fetches_json_with_cache_headers() {
        let server = TestServer::start().await;
        server.route(
            "/doc.json",
            TestResponse::json(&json!({"ok": true}))
                .with_header("ETag", "\"v1\"")
                .with_header("Cache-Control", "max-age=60"),
        );
        let f = HttpFetcher::new(loopback_policy(&server)).unwrap();
        let got = f.get_json("https://issuer.test/doc.json").await.unwrap();
        assert_eq!(got.body, json!({"ok": true}));
        assert_eq!(got.meta.etag.as_deref(), Some("\"v1\""));
        assert_eq!(got.meta.max_age, Some(60));
        assert_eq!(got.meta.final_url.as_str(), "https://issuer.test/doc.json");
        assert_eq!(server.hits("/doc.json"), 1);
    }

    #[tokio::test]
    async fn conditional_fetch_gives_not_modified() {
        let server = TestServer::start().await;
        server.route("/list", TestResponse::status(304));
        let f = HttpFetcher::new(loopback_policy(&server)).unwrap();
        let opts = FetchOptions {
            if_none_match: Some("\"v1\"".into()),
            ..FetchOptions::default()
        };
        assert!(matches!(
            f.fetch("https://issuer.test/list", &opts).await.unwrap(),
            FetchOutcome::NotModified(_)
        ));
        assert_eq!(
            server.requests()[0].header("if-none-match").as_deref(),
            Some("\"v1\"")
        );
    }

    #[tokio::test]
    async fn non_2xx_is_a_status_error() {
        let server = TestServer::start().await;
        let f = HttpFetcher::new(loopback_policy(&server)).unwrap();
        let err = f.get_json("https://issuer.test/missing").await.unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 404, .. }),
            "{err}"
        );
        server.route("/boom", TestResponse::status(503));
        let err = f.get_json("https://issuer.test/boom").await.unwrap_err();
        assert!(matches!(err, FetchError::Status { status: 503, .. }));
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn invalid_json_is_reported() {
        let server = TestServer::start().await;
        server.route("/bad", TestResponse::bytes(b"{not json".to_vec()));
        let f = HttpFetcher::new(loopback_policy(&server)).unwrap();
        let err = f.get_json("https://issuer.test/bad").await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidJson { .. }), "{err}");
    }

    #[tokio::test]
    async fn oversized_bodies_are_cut_off() {
        let server = TestServer::start().await;
        server.route("/big", TestResponse::bytes(vec![b'a'; 200 * 1024]));
        server.route(
            "/big-stream",
            TestResponse::bytes(vec![b'a'; 200 * 1024]).without_content_length(),
        );
        server.route("/small", TestResponse::bytes(vec![b'a'; 1000]));
        let f = HttpFetcher::new(loopback_policy(&server)).unwrap();
        for path in ["/big", "/big-stream"] {
            let err = f
                .get_bytes(&format!("https://issuer.test{path}"), None)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    FetchError::BodyTooLarge {
                        limit: DEFAULT_MAX_BODY_BYTES,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("body too large"));
        }
        // Per-call limit.
        let err = f
            .get_bytes("https://issuer.test/small", Some(999))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::BodyTooLarge { limit: 999, .. }));
        assert_eq!(
            f.get_bytes("https://issuer.test/small", Some(1000))
                .await
                .unwrap()
                .body
                .len(),
            1000
        );
    }

    #[tokio::test]
    async fn slow_servers_time_out() {
        let server = TestServer::start().await;
        server.route(
            "/slow",
            TestResponse::json(&json!({})).with_delay(Duration::from_secs(3)),
        );
        let policy = FetchPolicy {
            read_timeout: Duration::from_millis(300),
            ..loopback_policy(&server)
        };
        let f = HttpFetcher::new(policy).unwrap();
        let started = std::time::Instant::now();
        let err = f.get_json("https://issuer.test/slow").await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Timeout {
                    timeout_ms: 300,
                    ..
                }
            ),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn same_host_redirects_are_followed_other_hosts_refused() {
        let server = TestServer::start().await;
        server.route("/old", TestResponse::redirect("/new"));
        server.route("/new", TestResponse::json(&json!({"moved": true})));
        server.route("/away", TestResponse::redirect("https://evil.test/new"));
        server.route("/loop", TestResponse::redirect("/loop"));
        let mut policy = loopback_policy(&server);
        policy
            .host_overrides
            .insert("evil.test".into(), server.addr());
        let f = HttpFetcher::new(policy).unwrap();

        let got = f.get_json("https://issuer.test/old").await.unwrap();
        assert_eq!(got.body, json!({"moved": true}));
        assert_eq!(got.meta.final_url.as_str(), "https://issuer.test/new");

        let err = f.get_json("https://issuer.test/away").await.unwrap_err();
        assert!(
            matches!(err, FetchError::RedirectToOtherHost { .. }),
            "{err}"
        );
        assert_eq!(server.hits("/new"), 1, "the other host was never contacted");

        let err = f.get_json("https://issuer.test/loop").await.unwrap_err();
        assert!(
            matches!(err, FetchError::TooManyRedirects { limit: 3, .. }),
            "{err}"
        );
        assert_eq!(server.hits("/loop"), 4);

        server.route("/noloc", TestResponse::status(302));
        let err = f.get_json("https://issuer.test/noloc").await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidRedirect { .. }), "{err}");
    }

    #[tokio::test]
    async fn plain_http_needs_the_allow_list() {
        let server = TestServer::start().await;
        server.route("/x", TestResponse::json(&json!(1)));
        let port = server.addr().port();
        let url = format!("http://localhost:{port}/x");
        let f = HttpFetcher::new(FetchPolicy {
            allow_loopback: true,
            ..FetchPolicy::default()
        })
        .unwrap();
        assert!(matches!(
            f.get_json(&url).await,
            Err(FetchError::SchemeNotAllowed { .. })
        ));
        assert!(matches!(
            f.get_json("ftp://example.com/x").await,
            Err(FetchError::SchemeNotAllowed { .. })
        ));
        let f = HttpFetcher::new(FetchPolicy {
            allow_loopback: true,
            allow_http_hosts: vec![format!("localhost:{port}")],
            ..FetchPolicy::default()
        })
        .unwrap();
        assert_eq!(f.get_json(&url).await.unwrap().body, json!(1));
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let server = TestServer::start().await;
        server.route("/x", TestResponse::json(&json!(1)));
        let port = server.addr().port();
        let base = FetchPolicy {
            allow_http_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            ..FetchPolicy::default()
        };
        let f = HttpFetcher::new(base.clone()).unwrap();
        // A name resolving to loopback (through the system resolver).
        let err = f
            .get_json(&format!("http://localhost:{port}/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::AddressRefused { .. }), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
        // A literal loopback address.
        let err = f
            .get_json(&format!("http://127.0.0.1:{port}/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::AddressRefused { .. }), "{err}");
        // A test override pointing at loopback is checked too.
        let f = HttpFetcher::new(FetchPolicy {
            host_overrides: HashMap::from([("issuer.test".to_owned(), server.addr())]),
            ..base
        })
        .unwrap();
        let err = f.get_json("https://issuer.test/x").await.unwrap_err();
        assert!(matches!(err, FetchError::AddressRefused { .. }), "{err}");
        assert_eq!(server.hits("/x"), 0, "nothing reached the server");
    }

    #[tokio::test]
    async fn loopback_origins_allow_only_their_ports() {
        let own = TestServer::start().await;
        own.route("/x", TestResponse::json(&json!(1)));
        let other = TestServer::start().await;
        other.route("/x", TestResponse::json(&json!(2)));
        let (own_port, other_port) = (own.addr().port(), other.addr().port());
        let f = HttpFetcher::new(FetchPolicy {
            loopback_origins: vec![format!("localhost:{own_port}")],
            allow_http_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            ..FetchPolicy::default()
        })
        .unwrap();
        // The own origin is reachable.
        let ok = f.get_json(&format!("http://localhost:{own_port}/x")).await;
        assert_eq!(ok.unwrap().body, json!(1));
        // Another port of the same name is refused before connecting, and the answer does not
        // tell whether anything listens there.
        let err = f
            .get_json(&format!("http://localhost:{other_port}/x"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::LoopbackNotAllowed { .. }),
            "{err}"
        );
        let closed = f.get_json("http://localhost:1/x").await.unwrap_err();
        assert_eq!(
            closed.to_string().replace(":1", ":N"),
            err.to_string().replace(&format!(":{other_port}"), ":N"),
            "a closed port and an open one are refused alike"
        );
        // Literal loopback addresses are not an own origin here.
        let err = f
            .get_json(&format!("http://127.0.0.1:{other_port}/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::AddressRefused { .. }), "{err}");
        assert_eq!(other.hits("/x"), 0, "nothing reached the other port");
        assert!(f.policy().is_loopback_origin("LOCALHOST", own_port));
        assert!(!f.policy().is_loopback_origin("localhost", other_port));
    }

    #[tokio::test]
    async fn private_literal_addresses_are_refused_before_connecting() {
        let f = HttpFetcher::new(FetchPolicy::default()).unwrap();
        for url in [
            "https://10.0.0.1/x",
            "https://[fd00::1]/x",
            "https://169.254.169.254/latest",
        ] {
            let err = f.get_json(url).await.unwrap_err();
            assert!(
                matches!(err, FetchError::AddressRefused { .. }),
                "{url}: {err}"
            );
        }
        let err = f.get_json("not a url").await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }));
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let f = HttpFetcher::new(FetchPolicy {
            allow_loopback: true,
            host_overrides: HashMap::from([("gone.test".to_owned(), addr)]),
            ..FetchPolicy::default()
        })
        .unwrap();
        let err = f.get_json("https://gone.test/x").await.unwrap_err();
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
    }
}
