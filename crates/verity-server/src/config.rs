//! Typed configuration, layered: built-in defaults -> TOML file -> `VERITY__SECTION__KEY` env vars.
//! Unknown keys are rejected at every level so a typo fails at start-up, not in production.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;
use verity_core::Secret;
use verity_jose::Algorithm;

/// The whole configuration of one Verity process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `development` (zero-config friendly) or `production` (refuses unsafe defaults).
    pub mode: Mode,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub auth: AuthConfig,
    /// Abuse limits: requests per client and JSON nesting (docs/OPERATIONS.md).
    pub limits: crate::limits::LimitsConfig,
    pub log: LogConfig,
    pub bootstrap: BootstrapConfig,
    pub resolver: ResolverConfig,
    /// Delivery of status callbacks to relying parties.
    pub callbacks: crate::outbox::CallbackConfig,
    /// Outbound TLS: CA certificates trusted by everything Verity fetches (`crate::trust`).
    pub tls: crate::trust::OutboundTlsConfig,
    /// How presentations are verified.
    pub verifier: VerifierConfig,
    /// How credentials are issued.
    pub issuance: IssuanceConfig,
    /// The face matcher of presentation face checks.
    pub face_check: verity_face_match::FaceMatchConfig,
    /// Who may read `GET /metrics` (docs/OPERATIONS.md, "Observability").
    pub metrics: crate::metrics::MetricsConfig,
    /// How long flow results, callbacks and audit entries are kept (docs/OPERATIONS.md).
    pub retention: crate::sweeper::RetentionConfig,
}

/// Issuance tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuanceConfig {
    /// Status-list indices this process takes from the store at a time and hands out to
    /// issuances one by one (1 to 1024; 1 = one store transaction per issuance). Every index
    /// taken is used from then on; the ones still held when the process stops are never
    /// handed out, so a restart leaves at most this many unused entries per authority.
    pub status_index_batch: u32,
}

impl Default for IssuanceConfig {
    fn default() -> Self {
        Self {
            status_index_batch: 32,
        }
    }
}

/// Presentation verification policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// When an issuer's status list cannot be fetched (timeout, 5xx), accept the credential as
    /// VALID instead of answering with a transient error. Off by default: revocation fails
    /// closed.
    pub status_fail_open: bool,
    /// How long another party's linked-domain verdict is reused, seconds (0: check on every
    /// presentation). Our own authorities' linkage is read from the store every time.
    pub linkage_cache_ttl_secs: u64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            status_fail_open: false,
            linkage_cache_ttl_secs: 300,
        }
    }
}

/// Run mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Development,
    Production,
}

/// HTTP listener and public identity of the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The URL wallets and apps reach this service at. Defaults to `http://localhost:<port>`.
    pub public_url: Option<String>,
    /// Extra host names (with port, if any) whose did:web documents this service answers for,
    /// besides the host of `public_url`.
    pub domains: Vec<String>,
    /// Directory for the embedded database and generated development secrets.
    pub data_dir: PathBuf,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Seconds to finish in-flight requests after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Built-in HTTPS for setups without a reverse proxy.
    pub tls: Option<TlsConfig>,
    /// Addresses or CIDR blocks of the reverse proxies / load balancers in front of this
    /// service: only from them is `X-Forwarded-For` read to find the client's address.
    pub trusted_proxies: Vec<String>,
    /// Time a client has to send a request's head (line and headers), milliseconds (408).
    pub client_request_timeout_ms: u64,
    /// Time a closing connection has to shut down, milliseconds.
    pub client_disconnect_timeout_ms: u64,
    /// Time one request may take from its head to its answer, body upload included, seconds
    /// (then 503).
    pub request_timeout_secs: u64,
}

/// PEM certificate chain and private key paths for built-in HTTPS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Where the data lives.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (embedded default) or `postgres://...` (production).
    /// Empty = `sqlite://<data_dir>/verity.db`. Serialised and debug-printed with its password
    /// redacted (`config check` prints the serialised form), like a [`Secret`].
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: String,
    /// Pool size: connections to Postgres (default 10; size it to the Postgres server's
    /// `max_connections` divided by the replicas), or read-only connections next to SQLite's
    /// one writer (default 4). Unset = the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_database_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_database_url(url))
}

/// What stands in for a removed password.
pub const REDACTED: &str = "[redacted]";

/// A database URL fit for output: the password of the user info and the value of any
/// password-like query parameter (`password`, `sslpassword`, ...) become `[redacted]`, the
/// fragment is dropped, and a URL that does not parse keeps only its scheme (an unparsable URL
/// may hide a password anywhere). Use it wherever a database URL is printed or logged.
pub fn redact_database_url(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let parsed = match Url::parse(url) {
        // `scheme:user:pw@host` parses as an opaque path: nothing says where a password ends.
        Ok(p) if p.cannot_be_a_base() && p.path().contains('@') => return redact_unparsable(url),
        Ok(p) => p,
        Err(_) => return redact_unparsable(url),
    };
    use url::Position;
    let mut out = String::with_capacity(url.len());
    if parsed.password().is_some() {
        out.push_str(&parsed[..Position::BeforePassword]);
        out.push_str(REDACTED);
        out.push_str(&parsed[Position::AfterPassword..Position::AfterPath]);
    } else {
        out.push_str(&parsed[..Position::AfterPath]);
    }
    if let Some(query) = parsed.query() {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_password_key(key) => format!("{key}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// True for query keys that carry a password (`password`, `sslpassword`, `PassWord`, `pwd`),
/// also when the key is percent-encoded or `+`-encoded.
fn is_password_key(raw_key: &str) -> bool {
    let plus_decoded = raw_key.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    let key = key.trim();
    key.contains("password") || key.contains("passwd") || key == "pwd" || key == "pass"
}

/// `scheme://[redacted]` (or `scheme:[redacted]`) for a URL that does not parse, or only
/// `[redacted]` when not even the scheme is well formed.
fn redact_unparsable(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once(':') else {
        return REDACTED.to_owned();
    };
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return REDACTED.to_owned();
    }
    let slashes = if rest.starts_with("//") { "//" } else { "" };
    format!("{scheme}:{slashes}{REDACTED}")
}

/// Signing keys and their protection at rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Key-encryption key (32 bytes, base64). Required in production; in development a key file
    /// is generated under the data directory when neither this nor `kek_file` is set.
    pub kek: Option<Secret>,
    /// File holding the key-encryption key (base64).
    pub kek_file: Option<PathBuf>,
    /// During a KEK rotation only (docs/OPERATIONS.md, "KEK rotation"): the other KEK (base64),
    /// which may open stored keys but never seals. Keys and secrets found sealed under it are
    /// re-sealed under `kek` at start-up.
    pub other_kek: Option<Secret>,
    /// Algorithm for newly generated authority keys.
    pub default_algorithm: Algorithm,
}

/// API and admin authentication.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Admin token for `/admin/v1`. When unset, one is generated into `admin_token_file`.
    pub admin_token: Option<Secret>,
    /// Where the generated admin token is kept. Default `<data_dir>/admin-token`.
    pub admin_token_file: Option<PathBuf>,
    /// Lifetime of access tokens from `/oauth2/token`.
    pub access_token_ttl_secs: i64,
    /// Resources accepted in `<resource>/.default` scopes and as access-token audiences.
    pub audiences: Vec<String>,
    /// Deprecated: `limits.oauth_token_per_minute`, which this replaces when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_rate_limit_per_minute: Option<u32>,
    /// Allowed clock skew when checking token times.
    pub clock_skew_secs: i64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// An env-filter directive, e.g. `info,verity_server=debug`. `RUST_LOG` overrides it.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// What a first start creates when the database is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// Create a tenant and an authority for `public_url` on first start.
    pub create_default_authority: bool,
    /// Display name of that authority.
    pub authority_name: String,
    /// Name of the tenant created on first start.
    pub tenant_name: String,
}

/// Resolving other parties' DIDs and fetching their DID configurations (the hardened fetcher).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// Time allowed to open a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed for a whole fetch (connect, redirects, headers and body), in milliseconds.
    pub read_timeout_ms: u64,
    /// Largest DID document or DID configuration accepted.
    pub max_body_bytes: usize,
    /// How long resolved DID documents are cached; 0 turns the cache off.
    pub cache_ttl_secs: u64,
    /// How long a failed did:web resolution is remembered (answered without fetching again);
    /// 0 turns the failure cache off.
    pub negative_cache_ttl_secs: u64,
    /// Most did:web resolutions fetching at once; callers beyond it wait up to
    /// `read_timeout_ms`, then get a transient error.
    pub max_concurrent_fetches: usize,
    /// Allow fetching from loopback addresses (single-machine setups and tests only).
    pub allow_loopback: bool,
    /// Allow fetching from private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10).
    pub allow_private: bool,
    /// `host` or `host:port` entries that may be fetched over plain http (development only).
    pub allow_http_hosts: Vec<String>,
    /// Test/development only: fetch these domains over plain http from a fixed `ip:port`
    /// instead of resolving them (`"issuer.test" = "127.0.0.1:9000"`). Refused in production.
    pub host_overrides: BTreeMap<String, String>,
    /// Besides this service's own origins, `host:port` pairs `allow_loopback` opens (another
    /// local deployment, in development and tests). No other loopback port is ever fetched.
    pub loopback_origins: Vec<String>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            read_timeout_ms: 10_000,
            max_body_bytes: 100 * 1024,
            cache_ttl_secs: 300,
            negative_cache_ttl_secs: 5,
            max_concurrent_fetches: 16,
            allow_loopback: false,
            allow_private: false,
            allow_http_hosts: Vec::new(),
            host_overrides: BTreeMap::new(),
            loopback_origins: Vec::new(),
        }
    }
}

impl ResolverConfig {
    /// The override table as socket addresses, naming the first entry that is not `ip:port`.
    pub fn parsed_host_overrides(
        &self,
    ) -> Result<std::collections::HashMap<String, SocketAddr>, ConfigError> {
        self.host_overrides
            .iter()
            .map(|(domain, addr)| {
                let parsed = addr
                    .parse::<SocketAddr>()
                    .map_err(|_| ConfigError::Invalid {
                        key: "resolver.host_overrides",
                        reason: format!("`{domain}` = `{addr}`: the value must be `ip:port`"),
                    })?;
                Ok((domain.to_ascii_lowercase(), parsed))
            })
            .collect()
    }
}

/// The access-token audience of the hosted service, which existing apps request as
/// `3db474b9-6a0c-4840-96ac-1fceb342124f/.default`.
pub const HOSTED_SERVICE_RESOURCE: &str = "3db474b9-6a0c-4840-96ac-1fceb342124f";

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Development,
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            keys: KeysConfig::default(),
            auth: AuthConfig::default(),
            limits: crate::limits::LimitsConfig::default(),
            log: LogConfig::default(),
            bootstrap: BootstrapConfig::default(),
            resolver: ResolverConfig::default(),
            callbacks: crate::outbox::CallbackConfig::default(),
            tls: crate::trust::OutboundTlsConfig::default(),
            verifier: VerifierConfig::default(),
            issuance: IssuanceConfig::default(),
            face_check: verity_face_match::FaceMatchConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            retention: crate::sweeper::RetentionConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            domains: Vec::new(),
            data_dir: PathBuf::from("data"),
            body_limit_bytes: 1024 * 1024,
            shutdown_timeout_secs: 30,
            workers: 0,
            tls: None,
            trusted_proxies: Vec::new(),
            client_request_timeout_ms: 5_000,
            client_disconnect_timeout_ms: 1_000,
            request_timeout_secs: 60,
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            kek: None,
            kek_file: None,
            other_kek: None,
            default_algorithm: Algorithm::ES256,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            admin_token_file: None,
            access_token_ttl_secs: 3600,
            audiences: vec![HOSTED_SERVICE_RESOURCE.to_owned(), "verity".to_owned()],
            token_rate_limit_per_minute: None,
            clock_skew_secs: 60,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            create_default_authority: true,
            authority_name: "Verity (local)".to_owned(),
            tenant_name: "default".to_owned(),
        }
    }
}

/// A configuration that could not be loaded or is unsafe.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Config {
    /// Loads defaults, then `file` (if given), then `VERITY__...` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(Env::prefixed("VERITY__").split("__").lowercase(true));
        let cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Load(flatten_figment(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a configuration from TOML text alone (no env), validating it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Load(flatten_figment(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the rules no type can express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.server.public_url {
            let parsed = Url::parse(url).map_err(|e| ConfigError::Invalid {
                key: "server.public_url",
                reason: e.to_string(),
            })?;
            let host = parsed.host_str().unwrap_or_default();
            match parsed.scheme() {
                "https" => {}
                "http" if is_local_host(host) => {
                    if self.mode == Mode::Production {
                        return Err(ConfigError::Invalid {
                            key: "server.public_url",
                            reason: "production mode needs an https public URL".into(),
                        });
                    }
                }
                "http" => {
                    return Err(ConfigError::Invalid {
                        key: "server.public_url",
                        reason: format!(
                            "http is allowed for localhost only, not `{host}`: use https"
                        ),
                    });
                }
                other => {
                    return Err(ConfigError::Invalid {
                        key: "server.public_url",
                        reason: format!("scheme `{other}` is not http(s)"),
                    });
                }
            }
            if parsed.path() != "/" || parsed.query().is_some() {
                return Err(ConfigError::Invalid {
                    key: "server.public_url",
                    reason: "must be an origin without path or query, e.g. https://vc.example.com"
                        .into(),
                });
            }
        }
        if self.mode == Mode::Production && self.keys.kek.is_none() && self.keys.kek_file.is_none()
        {
            return Err(ConfigError::Invalid {
                key: "keys.kek",
                reason: "production mode refuses to start without a key-encryption key \
                         (set VERITY__KEYS__KEK or keys.kek_file; `verity keys generate-kek` makes one)"
                    .into(),
            });
        }
        if self.mode == Mode::Production && self.database.url.starts_with("sqlite") {
            tracing::warn!(
                "production mode on SQLite: fine for one node, use Postgres to scale out"
            );
        }
        if self.auth.access_token_ttl_secs < 60 || self.auth.access_token_ttl_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "auth.access_token_ttl_secs",
                reason: "must be between 60 and 86400".into(),
            });
        }
        self.validate_limits()?;
        self.retention.validate()?;
        if !(1..=verity_store::MAX_STATUS_INDEX_BATCH).contains(&self.issuance.status_index_batch) {
            return Err(ConfigError::Invalid {
                key: "issuance.status_index_batch",
                reason: format!(
                    "must be between 1 and {}, not {}",
                    verity_store::MAX_STATUS_INDEX_BATCH,
                    self.issuance.status_index_batch
                ),
            });
        }
        if let Some(n) = self.database.max_connections
            && !(1..=1000).contains(&n)
        {
            return Err(ConfigError::Invalid {
                key: "database.max_connections",
                reason: format!("must be between 1 and 1000, not {n}"),
            });
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "server.body_limit_bytes",
                reason: "must be at least 1024".into(),
            });
        }
        self.validate_resolver()
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        if self.auth.token_rate_limit_per_minute == Some(0) {
            return Err(ConfigError::Invalid {
                key: "auth.token_rate_limit_per_minute",
                reason: "must be at least 1 (or use limits.oauth_token_per_minute)".into(),
            });
        }
        if self.auth.token_rate_limit_per_minute.is_some() {
            tracing::warn!(
                "auth.token_rate_limit_per_minute is deprecated: use limits.oauth_token_per_minute"
            );
        }
        self.limits.validate()?;
        crate::limits::TrustedProxies::parse(&self.server.trusted_proxies)?;
        let s = &self.server;
        for (key, value, range) in [
            (
                "server.client_request_timeout_ms",
                s.client_request_timeout_ms,
                100..=120_000,
            ),
            (
                "server.client_disconnect_timeout_ms",
                s.client_disconnect_timeout_ms,
                100..=60_000,
            ),
            (
                "server.request_timeout_secs",
                s.request_timeout_secs,
                1..=3_600,
            ),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!(
                        "must be between {} and {} (never unlimited), not {value}",
                        range.start(),
                        range.end()
                    ),
                });
            }
        }
        Ok(())
    }

    fn validate_resolver(&self) -> Result<(), ConfigError> {
        let r = &self.resolver;
        for (key, value) in [
            ("resolver.connect_timeout_ms", r.connect_timeout_ms),
            ("resolver.read_timeout_ms", r.read_timeout_ms),
        ] {
            if !(100..=120_000).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be between 100 and 120000 milliseconds".into(),
                });
            }
        }
        if !(1024..=10 * 1024 * 1024).contains(&r.max_body_bytes) {
            return Err(ConfigError::Invalid {
                key: "resolver.max_body_bytes",
                reason: "must be between 1024 and 10485760".into(),
            });
        }
        if !(1..=1024).contains(&r.max_concurrent_fetches) {
            return Err(ConfigError::Invalid {
                key: "resolver.max_concurrent_fetches",
                reason: "must be between 1 and 1024".into(),
            });
        }
        // A failure remembered for long keeps a DID failing well after its host recovered.
        if r.negative_cache_ttl_secs > 300 {
            return Err(ConfigError::Invalid {
                key: "resolver.negative_cache_ttl_secs",
                reason: "must be between 0 and 300 seconds".into(),
            });
        }
        r.parsed_host_overrides()?;
        // Overrides bypass DNS: in production they would let a file decide who speaks for a
        // domain.
        if self.mode == Mode::Production && !r.host_overrides.is_empty() {
            return Err(ConfigError::Invalid {
                key: "resolver.host_overrides",
                reason: "is for tests and development only; production mode refuses it".into(),
            });
        }
        if self.mode == Mode::Production && (r.allow_loopback || !r.allow_http_hosts.is_empty()) {
            tracing::warn!(
                "production mode with resolver.allow_loopback or resolver.allow_http_hosts: \
                 remote DIDs may be fetched from this machine or over plain http"
            );
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite under the data directory. It may carry a
    /// password: print [`Config::database_url_redacted`] instead.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("verity.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// The database URL for output (banners, logs, errors), its password redacted.
    pub fn database_url_redacted(&self) -> String {
        redact_database_url(&self.database_url())
    }

    /// The admin token file path.
    pub fn admin_token_file(&self) -> PathBuf {
        self.auth
            .admin_token_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("admin-token"))
    }

    /// The public URL for a listener bound to `port` (no trailing slash).
    pub fn public_url_for_port(&self, port: u16) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.server.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{port}")
            }
        }
    }
}

/// `host` or `host:port` of a URL, the form did:web hosts and configured domains use (the
/// port only when the URL names one).
pub fn host_port(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// True for host names that may be served over plain http in development.
pub fn is_local_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h == "127.0.0.1" || h == "::1"
}

fn flatten_figment(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_config() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(c.database_url(), "sqlite://data/verity.db");
        assert_eq!(c.public_url_for_port(8080), "http://localhost:8080");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml("[server]\nbindd = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.to_string().contains("bindd"), "{err}");
        let err = Config::from_toml("colour = 1\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn production_without_kek_refuses() {
        let err = Config::from_toml(
            "mode = \"production\"\n[server]\npublic_url = \"https://vc.example.com\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("keys.kek"), "{err}");
    }

    #[test]
    fn http_public_url_only_for_localhost() {
        assert!(Config::from_toml("[server]\npublic_url = \"http://localhost:9000\"\n").is_ok());
        let err =
            Config::from_toml("[server]\npublic_url = \"http://vc.example.com\"\n").unwrap_err();
        assert!(err.to_string().contains("localhost only"), "{err}");
        let err =
            Config::from_toml("[server]\npublic_url = \"https://vc.example.com/x\"\n").unwrap_err();
        assert!(err.to_string().contains("origin"), "{err}");
    }

    #[test]
    fn pool_size_and_index_batch_are_bounded() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.database.max_connections, None);
        assert_eq!(c.issuance.status_index_batch, 32);
        let c = Config::from_toml(
            "[database]\nmax_connections = 24\n[issuance]\nstatus_index_batch = 1\n",
        )
        .unwrap();
        assert_eq!(c.database.max_connections, Some(24));
        assert_eq!(c.issuance.status_index_batch, 1);
        for bad in [
            "[database]\nmax_connections = 0\n",
            "[database]\nmax_connections = 5000\n",
        ] {
            let err = Config::from_toml(bad).unwrap_err();
            assert!(
                err.to_string().contains("database.max_connections"),
                "{err}"
            );
        }
        for bad in [
            "[issuance]\nstatus_index_batch = 0\n",
            "[issuance]\nstatus_index_batch = 2000\n",
        ] {
            let err = Config::from_toml(bad).unwrap_err();
            assert!(
                err.to_string().contains("issuance.status_index_batch"),
                "{err}"
            );
        }
    }

    #[test]
    fn limits_and_trusted_proxies_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert!(c.server.trusted_proxies.is_empty());
        assert_eq!(c.limits.json_max_depth, 32);
        assert_eq!(c.server.request_timeout_secs, 60);
        let c = Config::from_toml(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n[limits]\nface_check_per_minute = 0\n",
        )
        .unwrap();
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.limits.face_check_per_minute, 0);
        for (text, key) in [
            (
                "[server]\ntrusted_proxies = [\"10.0.0.0/40\"]\n",
                "server.trusted_proxies",
            ),
            (
                "[server]\nclient_request_timeout_ms = 0\n",
                "server.client_request_timeout_ms",
            ),
            (
                "[server]\nrequest_timeout_secs = 0\n",
                "server.request_timeout_secs",
            ),
            ("[limits]\njson_max_depth = 0\n", "limits.json_max_depth"),
            ("[limits]\nholder_requests = 1\n", "holder_requests"),
            (
                "[auth]\ntoken_rate_limit_per_minute = 0\n",
                "auth.token_rate_limit_per_minute",
            ),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn resolver_defaults_are_safe() {
        let c = Config::from_toml("").unwrap();
        assert!(!c.resolver.allow_loopback);
        assert!(!c.resolver.allow_private);
        assert!(c.resolver.allow_http_hosts.is_empty());
        assert!(c.resolver.host_overrides.is_empty());
        assert_eq!(c.resolver.max_body_bytes, 100 * 1024);
    }

    #[test]
    fn linkage_cache_ttl_defaults_to_five_minutes_and_can_be_turned_off() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.verifier.linkage_cache_ttl_secs, 300);
        assert!(!c.verifier.status_fail_open);
        let c = Config::from_toml("[verifier]\nlinkage_cache_ttl_secs = 0\n").unwrap();
        assert_eq!(c.verifier.linkage_cache_ttl_secs, 0);
        let err = Config::from_toml("[verifier]\nlinkage_cache_ttl = 5\n").unwrap_err();
        assert!(err.to_string().contains("linkage_cache_ttl"), "{err}");
    }

    #[test]
    fn resolver_host_overrides_parse_and_are_checked() {
        let c = Config::from_toml(
            "[resolver]\nallow_loopback = true\n[resolver.host_overrides]\n\"Issuer.test\" = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let o = c.resolver.parsed_host_overrides().unwrap();
        assert_eq!(o["issuer.test"].to_string(), "127.0.0.1:9000");

        let err = Config::from_toml("[resolver.host_overrides]\n\"a.test\" = \"localhost\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("resolver.host_overrides"), "{err}");
        assert!(err.to_string().contains("a.test"), "{err}");

        let err = Config::from_toml(
            "mode = \"production\"\n[server]\npublic_url = \"https://vc.example.com\"\n\
             [keys]\nkek_file = \"/k\"\n[resolver.host_overrides]\n\"a.test\" = \"127.0.0.1:1\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("production"), "{err}");
    }

    #[test]
    fn resolver_limits_are_checked() {
        let err = Config::from_toml("[resolver]\nread_timeout_ms = 0\n").unwrap_err();
        assert!(
            err.to_string().contains("resolver.read_timeout_ms"),
            "{err}"
        );
        let err = Config::from_toml("[resolver]\nmax_body_bytes = 10\n").unwrap_err();
        assert!(err.to_string().contains("resolver.max_body_bytes"), "{err}");
        let err = Config::from_toml("[resolver]\nallow_loopbak = true\n").unwrap_err();
        assert!(err.to_string().contains("allow_loopbak"), "{err}");
    }

    #[test]
    fn resolver_flood_limits_have_defaults_and_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.resolver.negative_cache_ttl_secs, 5);
        assert_eq!(c.resolver.max_concurrent_fetches, 16);
        let c = Config::from_toml(
            "[resolver]\nnegative_cache_ttl_secs = 0\nmax_concurrent_fetches = 64\n",
        )
        .unwrap();
        assert_eq!(c.resolver.negative_cache_ttl_secs, 0);
        assert_eq!(c.resolver.max_concurrent_fetches, 64);

        for (text, key) in [
            (
                "[resolver]\nmax_concurrent_fetches = 0\n",
                "resolver.max_concurrent_fetches",
            ),
            (
                "[resolver]\nmax_concurrent_fetches = 5000\n",
                "resolver.max_concurrent_fetches",
            ),
            (
                "[resolver]\nnegative_cache_ttl_secs = 600\n",
                "resolver.negative_cache_ttl_secs",
            ),
            (
                "[resolver]\nmax_concurent_fetches = 4\n",
                "max_concurent_fetches",
            ),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c =
            Config::from_toml("[keys]\nkek = \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI\"\n")
                .unwrap();
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn database_url_passwords_are_redacted() {
        let cases = [
            (
                "postgres://user:secret@host/db",
                "postgres://user:[redacted]@host/db",
            ),
            (
                "postgresql://verity:s%40cr%2Ft@db.internal:5433/verity?sslmode=require",
                "postgresql://verity:[redacted]@db.internal:5433/verity?sslmode=require",
            ),
            // An unencoded '@' in the password: the last '@' ends the user info.
            (
                "postgres://u:p@ss@host/db",
                "postgres://u:[redacted]@host/db",
            ),
            (
                "postgres://host/db?user=u&password=secret&sslmode=disable",
                "postgres://host/db?user=u&password=[redacted]&sslmode=disable",
            ),
            (
                "postgres://u:secret@host/db?PassWord=secret&sslpassword=secret&p%61ssword=secret",
                "postgres://u:[redacted]@host/db?PassWord=[redacted]&sslpassword=[redacted]\
                 &p%61ssword=[redacted]",
            ),
            (
                "postgres://u:secret@host/db#secret",
                "postgres://u:[redacted]@host/db",
            ),
            // Nothing to hide: unchanged.
            (
                "postgres://verity@localhost/verity",
                "postgres://verity@localhost/verity",
            ),
            ("sqlite://data/verity.db", "sqlite://data/verity.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("", ""),
            // Not parsable: only the scheme survives.
            ("postgres://u:secret@ho st/db", "postgres://[redacted]"),
            ("postgres://u:sec/ret@host/db", "postgres://[redacted]"),
            ("postgres:u:secret@[::1", "postgres:[redacted]"),
            ("user=u password=secret host=h", "[redacted]"),
            ("secret", "[redacted]"),
            ("://secret", "[redacted]"),
        ];
        for (input, expected) in cases {
            let got = redact_database_url(input);
            assert_eq!(got, expected, "{input}");
            assert!(!got.contains("secret"), "{input} -> {got}");
            assert!(!got.contains("p@ss") && !got.contains("s%40cr"), "{got}");
        }
    }

    #[test]
    fn config_output_never_shows_the_database_password() {
        let c = Config::from_toml("[database]\nurl = \"postgres://verity:hunter2@db/verity\"\n")
            .unwrap();
        // The real URL is kept for connecting...
        assert_eq!(c.database_url(), "postgres://verity:hunter2@db/verity");
        // ...and every printed form hides the password.
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(
            json.contains("postgres://verity:[redacted]@db/verity"),
            "{json}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.database_url_redacted(),
            "postgres://verity:[redacted]@db/verity"
        );
    }

    #[test]
    fn shipped_default_toml_is_valid_and_matches_the_defaults() {
        let text = include_str!("../../../config/default.toml");
        let parsed = Config::from_toml(text).unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::to_value(Config::default()).unwrap(),
            "config/default.toml must document the built-in defaults exactly"
        );
        for example in [
            include_str!("../../../config/production.example.toml"),
            include_str!("../../../config/docker.toml"),
        ] {
            // Known keys only (validation needs the secrets the examples leave to the environment).
            let parsed: Config = Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::string(example))
                .extract()
                .unwrap();
            assert_ne!(parsed.server.data_dir, std::path::PathBuf::from("data"));
        }
    }
}
