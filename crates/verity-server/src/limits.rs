//! Abuse limits (docs/OPERATIONS.md, "Abuse limits and trusted proxies"): who the client is
//! (the socket peer, or the rightmost untrusted `X-Forwarded-For` hop when the peer is a
//! configured trusted proxy), per-endpoint token buckets keyed by that address or by the API
//! client, the JSON nesting limit of request bodies, and the deadline of a whole request.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::error::{ApiError, InnerCode};
use crate::ratelimit::RateLimiter;
use crate::state::AppState;

/// Nesting limit of JSON bodies when no configuration is at hand.
pub const DEFAULT_JSON_MAX_DEPTH: usize = 32;

/// `[limits]`: requests per minute (the burst size too) per client address unless named
/// otherwise; 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// `POST /oauth2/token`, per client address.
    pub oauth_token_per_minute: u32,
    /// `POST /oauth2/token` answered `invalid_client`, per `client_id`: secret guessing against
    /// one client from many addresses. Once spent, that client's token requests get 429 until
    /// the bucket refills.
    pub oauth_client_failures_per_minute: u32,
    /// `POST /openid4vci/{a}/token` (pre-authorized code and `tx_code` guessing).
    pub openid4vci_token_per_minute: u32,
    /// `POST /v1.0/issue/{contract}` (holder requests with their PIN).
    pub holder_request_per_minute: u32,
    /// `POST /v1.0/responses/{id}` and `POST /openid4vp/responses/{id}` together.
    pub presentation_response_per_minute: u32,
    /// `POST /v1.0/faceCheck/{id}` (selfie uploads; each one costs a face comparison).
    pub face_check_per_minute: u32,
    /// Request Service API calls (`/v1.0/verifiableCredentials/...`) per authenticated API
    /// client (OAuth client or API key), whatever its address.
    pub api_client_per_minute: u32,
    /// Deepest nesting of arrays and objects accepted in a JSON request body (1 to 128).
    pub json_max_depth: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            oauth_token_per_minute: 120,
            oauth_client_failures_per_minute: 10,
            openid4vci_token_per_minute: 30,
            holder_request_per_minute: 30,
            presentation_response_per_minute: 60,
            face_check_per_minute: 20,
            api_client_per_minute: 1200,
            json_max_depth: DEFAULT_JSON_MAX_DEPTH,
        }
    }
}

impl LimitsConfig {
    /// Every rate limit off (load tests); the JSON depth limit stays.
    pub fn unlimited() -> Self {
        Self {
            oauth_token_per_minute: 0,
            oauth_client_failures_per_minute: 0,
            openid4vci_token_per_minute: 0,
            holder_request_per_minute: 0,
            presentation_response_per_minute: 0,
            face_check_per_minute: 0,
            api_client_per_minute: 0,
            json_max_depth: DEFAULT_JSON_MAX_DEPTH,
        }
    }

    /// Checks what the types cannot say.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=128).contains(&self.json_max_depth) {
            return Err(ConfigError::Invalid {
                key: "limits.json_max_depth",
                reason: format!("must be between 1 and 128, not {}", self.json_max_depth),
            });
        }
        Ok(())
    }
}

/// One block of addresses, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address; host bits are cleared.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR block"))?;
        let addr = addr.to_canonical();
        let bits = max_prefix(addr);
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self {
            network: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `addr` is in this block.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// The configured trusted proxies (`server.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses every entry, naming the first one that is not an address or CIDR block.
    pub fn parse(entries: &[String]) -> Result<Self, ConfigError> {
        entries
            .iter()
            .map(|e| Cidr::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|reason| ConfigError::Invalid {
                key: "server.trusted_proxies",
                reason,
            })
    }

    /// Whether `addr` is a trusted proxy.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(addr))
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy; then the
    /// `X-Forwarded-For` hops (`headers` in arrival order, each a comma-separated list) are
    /// read from the right and the first hop that is not a trusted proxy is the client. When
    /// every hop is trusted the leftmost one is; an unreadable hop ends the walk at the
    /// trusted proxy that reported it. A client that is not a trusted proxy cannot choose its
    /// address: its header is ignored.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        headers: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers.into_iter().flat_map(|h| h.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr;
            if !self.contains(addr) {
                return addr;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(a) = hop.parse::<IpAddr>() {
        return Some(a.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// The bucket key of an address: IPv4 as is, IPv6 by its /64 (one subscriber's usual
/// allocation, so rotating through one's own /64 gains nothing).
pub fn bucket_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 @ IpAddr::V6(_) => mask(v6, 64),
    }
}

/// The endpoints limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    OAuthToken,
    OpenId4VciToken,
    HolderRequest,
    PresentationResponse,
    FaceCheck,
}

impl Endpoint {
    /// What the 429 message calls the requests.
    pub fn what(self) -> &'static str {
        match self {
            Self::OAuthToken | Self::OpenId4VciToken => "token requests",
            Self::HolderRequest => "holder requests",
            Self::PresentationResponse => "presentation responses",
            Self::FaceCheck => "selfie uploads",
        }
    }
}

/// A refused request: how long to wait, whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

impl Limited {
    fn from_wait(wait: Duration) -> Self {
        let mut secs = wait.as_secs();
        if wait.subsec_nanos() > 0 {
            secs += 1;
        }
        Self {
            retry_after_secs: secs.max(1),
        }
    }

    /// The 429 in the hosted error shape (`rateLimited`, `Retry-After`).
    pub fn api_error(self, what: &str) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            InnerCode::RateLimited,
            format!(
                "too many {what} from this client; retry in {} s",
                self.retry_after_secs
            ),
        )
        .with_retry_after(self.retry_after_secs)
    }

    /// The 429 in the OAuth error shape of the OpenID4VC endpoints: RFC 6749 section 5.2 has
    /// no rate-limit code (`slow_down` is RFC 8628's device flow), so the code is
    /// `invalid_request`, and HTTP 429 with `Retry-After` (RFC 6585 section 4) says why.
    pub fn oauth_response(self, what: &str) -> actix_web::HttpResponse {
        actix_web::HttpResponse::TooManyRequests()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .insert_header((
                actix_web::http::header::RETRY_AFTER,
                self.retry_after_secs.to_string(),
            ))
            .json(serde_json::json!({
                "error": "invalid_request",
                "error_description": format!(
                    "too many {what} from this client; retry in {} s",
                    self.retry_after_secs
                ),
            }))
    }
}

/// Every limit of one process (each replica counts on its own).
#[derive(Debug)]
pub struct Limits {
    proxies: TrustedProxies,
    oauth_token: RateLimiter,
    oauth_client_failures: RateLimiter<String>,
    openid4vci_token: RateLimiter,
    holder_request: RateLimiter,
    presentation_response: RateLimiter,
    face_check: RateLimiter,
    api_client: RateLimiter<String>,
    json_max_depth: usize,
}

impl Limits {
    /// The limits of `config`; `oauth_token_per_minute` replaces the configured one when given
    /// (the older `auth.token_rate_limit_per_minute`).
    pub fn new(
        config: &LimitsConfig,
        trusted_proxies: &[String],
        oauth_token_per_minute: Option<u32>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            proxies: TrustedProxies::parse(trusted_proxies)?,
            oauth_token: RateLimiter::per_minute(
                oauth_token_per_minute.unwrap_or(config.oauth_token_per_minute),
            ),
            oauth_client_failures: RateLimiter::per_minute(config.oauth_client_failures_per_minute),
            openid4vci_token: RateLimiter::per_minute(config.openid4vci_token_per_minute),
            holder_request: RateLimiter::per_minute(config.holder_request_per_minute),
            presentation_response: RateLimiter::per_minute(config.presentation_response_per_minute),
            face_check: RateLimiter::per_minute(config.face_check_per_minute),
            api_client: RateLimiter::per_minute(config.api_client_per_minute),
            json_max_depth: config.json_max_depth,
        })
    }

    /// The client address of `req` (see [`TrustedProxies::client_address`]).
    pub fn client_address(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let headers = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        self.proxies.client_address(peer, headers)
    }

    /// Takes one request of `endpoint` from the bucket of `req`'s client address.
    pub fn check(&self, endpoint: Endpoint, req: &HttpRequest) -> Result<(), Limited> {
        let limiter = match endpoint {
            Endpoint::OAuthToken => &self.oauth_token,
            Endpoint::OpenId4VciToken => &self.openid4vci_token,
            Endpoint::HolderRequest => &self.holder_request,
            Endpoint::PresentationResponse => &self.presentation_response,
            Endpoint::FaceCheck => &self.face_check,
        };
        let addr = bucket_key(self.client_address(req));
        limiter.check(&addr, Instant::now()).map_err(|wait| {
            tracing::info!(client = %addr, endpoint = ?endpoint, "rate limited");
            Limited::from_wait(wait)
        })
    }

    /// Whether the OAuth client `client_id` may still try a secret (its failure bucket is not
    /// empty).
    pub fn oauth_client_may_try(&self, client_id: &str) -> Result<(), Limited> {
        self.oauth_client_failures
            .peek(&client_id.to_owned(), Instant::now())
            .map_err(Limited::from_wait)
    }

    /// Counts a failed authentication of the OAuth client `client_id`.
    pub fn oauth_client_failed(&self, client_id: &str) {
        self.oauth_client_failures
            .charge(&client_id.to_owned(), Instant::now());
    }

    /// Takes one Request Service API call from the bucket of the API client `principal`.
    pub fn check_api_client(&self, principal: &str) -> Result<(), Limited> {
        self.api_client
            .check(&principal.to_owned(), Instant::now())
            .map_err(|wait| {
                tracing::info!(api_client = %principal, "rate limited");
                Limited::from_wait(wait)
            })
    }

    /// The configured JSON nesting limit.
    pub fn json_max_depth(&self) -> usize {
        self.json_max_depth
    }
}

/// The client address of a request, from the one place that knows the trusted proxies
/// ([`Limits::client_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequest for ClientAddr {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<AppState>>()
                .map(|s| ClientAddr(s.limits.client_address(req)))
                .ok_or_else(|| ApiError::internal("application state missing")),
        )
    }
}

pub use verity_api::check_json_depth;

/// The 400 of a body nested deeper than `max`, naming the limit.
pub fn too_deep(max: usize) -> ApiError {
    ApiError::bad_body(format!(
        "the JSON body nests arrays and objects deeper than the limit of {max} levels"
    ))
}

/// Ends a request that takes longer than `server.request_timeout_secs` (reading a slow body
/// included): 503 `transientError` with `Retry-After`. Dropping the handler rolls back an
/// unfinished store step; finished steps are whole (docs/ARCHITECTURE.md, flow engine).
pub async fn request_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let secs = req
        .app_data::<web::Data<AppState>>()
        .map_or(60, |s| s.config.server.request_timeout_secs);
    // No clone of the request may live across the call: routing needs it unshared.
    let path = req.path().to_owned();
    match tokio::time::timeout(Duration::from_secs(secs), next.call(req)).await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(path = %path, secs, "request timed out");
            let err = ApiError::transient(format!("the request took longer than {secs} s"))
                .with_retry_after(1);
            // Built here, inside the request id's scope, so the body carries its id.
            let resp = err.error_response();
            Err(actix_web::error::InternalError::from_response(err, resp).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        let c = Cidr::parse("192.168.1.7/24").unwrap();
        assert!(c.contains(ip("192.168.1.200")), "host bits are cleared");
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:1::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("10.0.0.1")));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(Cidr::parse("[::1]").unwrap().contains(ip("::1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "proxy.internal",
            "10.0.0.0/x",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let err = TrustedProxies::parse(&["10.0.0.0/8".into(), "nope".into()]).unwrap_err();
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("203.0.113.9"), ["198.51.100.1"]),
            ip("203.0.113.9"),
            "no trusted proxies: the header is ignored"
        );
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_address(ip("203.0.113.9"), ["198.51.100.1"]),
            ip("203.0.113.9"),
            "a peer that is not a trusted proxy cannot choose its address"
        );
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["198.51.100.1"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            p.client_address(ip("10.0.0.5"), Vec::<&str>::new()),
            ip("10.0.0.5"),
            "no header: the proxy itself"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // The client put a made-up address first; the proxies appended the real ones.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["1.1.1.1, 198.51.100.7, 10.2.3.4"]),
            ip("198.51.100.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["1.1.1.1", "198.51.100.7", "10.2.3.4"]),
            ip("198.51.100.7")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["10.9.9.9, 10.2.3.4"]),
            ip("10.9.9.9")
        );
        // Ports, brackets and IPv6.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["198.51.100.7:5555"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            p.client_address(ip("2001:db8:ffff::1"), ["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            p.client_address(ip("::ffff:10.0.0.5"), [" 2001:db8::8 "]),
            ip("2001:db8::8")
        );
        // An unreadable hop ends the walk at the trusted proxy that reported it.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["198.51.100.7, unknown, 10.2.3.4"]),
            ip("10.2.3.4")
        );
        assert_eq!(
            p.client_address(ip("10.0.0.5"), ["garbage"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(
            bucket_key(ip("2001:db8:1:2:aaaa::1")),
            bucket_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            bucket_key(ip("2001:db8:1:2::1")),
            bucket_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(bucket_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn json_depth_is_counted_outside_strings() {
        assert!(check_json_depth(b"{\"a\":[1,{\"b\":2}]}", 3).is_ok());
        assert_eq!(check_json_depth(b"{\"a\":[1,{\"b\":2}]}", 2), Err(2));
        assert!(check_json_depth(b"\"[[[[[[\"", 1).is_ok());
        assert!(check_json_depth(br#"{"a":"\"[[[[","b":1}"#, 1).is_ok());
        assert!(check_json_depth(b"42", 0).is_ok());
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(check_json_depth(deep.as_bytes(), 32).is_err());
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(check_json_depth(ok.as_bytes(), 32).is_ok());
    }

    #[test]
    fn limits_config_is_checked() {
        let mut c = LimitsConfig::default();
        assert!(c.validate().is_ok());
        c.json_max_depth = 0;
        assert!(c.validate().is_err());
        c.json_max_depth = 500;
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("limits.json_max_depth"), "{err}");
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(
            Limited::from_wait(Duration::from_millis(1500)).retry_after_secs,
            2
        );
        assert_eq!(Limited::from_wait(Duration::ZERO).retry_after_secs, 1);
        assert_eq!(
            Limited::from_wait(Duration::from_secs(3)).retry_after_secs,
            3
        );
    }
}
