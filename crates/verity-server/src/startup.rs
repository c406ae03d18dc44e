//! `Application::build`: the one place that turns a [`Config`] into a running server.

use std::fs::File;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, ResponseError, web};
use tracing_actix_web::{RequestId, TracingLogger};
use verity_core::{Clock, SystemClock};
use verity_did::DidResolver;
use verity_jose::LocalSigner;
use verity_store::Store;

use crate::authorities;
use crate::bootstrap::{self, AdminTokenSource, StartupError};
use crate::config::Config;
use crate::error::{ApiError, InnerCode, REQUEST_ID};
use crate::linkage::{LinkageCache, Resolution};
use crate::outbox::Outbox;
use crate::own::{OwnAuthorities, OwnLinkage, OwnResolver, OwnStatusLists};
use crate::routes;
use crate::state::AppState;
use crate::tokens::TokenAuthority;
use verity_contracts::OidcValidator;

/// Shared application state as handlers see it.
pub type StateData = web::Data<AppState>;
/// A handle that stops the server.
pub type ServerHandle = actix_web::dev::ServerHandle;

/// Replaceable seams; production uses the defaults, tests swap them.
#[derive(Debug, Clone)]
pub struct Seams {
    pub clock: Arc<dyn Clock>,
    /// A ready store; `None` connects to `database.url`.
    pub store: Option<Arc<dyn Store>>,
    /// A DID resolver replacing the configured one (cached and live); `None` builds the
    /// standard did:web/did:key/did:jwk resolver from `[resolver]`.
    pub resolver: Option<Arc<dyn DidResolver>>,
    /// A face matcher replacing the configured one (`[face_check]`); `None` uses the
    /// configuration.
    pub face_matcher: Option<Arc<dyn verity_face_match::FaceMatcher>>,
}

impl Default for Seams {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            store: None,
            resolver: None,
            face_matcher: None,
        }
    }
}

impl Seams {
    /// These seams with `resolver` resolving every DID.
    pub fn with_resolver(mut self, resolver: Arc<dyn DidResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// These seams with `matcher` comparing faces.
    pub fn with_face_matcher(mut self, matcher: Arc<dyn verity_face_match::FaceMatcher>) -> Self {
        self.face_matcher = Some(matcher);
        self
    }
}

/// What start-up did, for the banner the binary prints.
#[derive(Debug, Clone)]
pub struct StartupSummary {
    pub listen: SocketAddr,
    pub public_url: String,
    pub database: &'static str,
    pub authorities: Vec<String>,
    pub created_authority: Option<String>,
    pub admin_token: AdminTokenSource,
    /// Which face matcher is active, or why none is.
    pub face_check: String,
}

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    summary: StartupSummary,
    state: web::Data<AppState>,
    retention: crate::sweeper::RetentionConfig,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the server with production seams.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with(config, Seams::default()).await
    }

    /// Builds the server with the given seams: binds the listener, prepares secrets and the
    /// store, creates first-run objects and the access-token key.
    pub async fn build_with(config: Config, seams: Seams) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(config.server.bind).map_err(|source| StartupError::Io {
                what: "cannot listen on",
                path: config.server.bind.to_string().into(),
                source,
            })?;
        let listen = listener.local_addr().map_err(|source| StartupError::Io {
            what: "cannot read listener address",
            path: config.server.bind.to_string().into(),
            source,
        })?;
        let public_url = config.public_url_for_port(listen.port());
        let clock = seams.clock.clone();
        let outbound = crate::trust::Outbound::load(&config, &public_url)?;
        let mut resolution = Resolution::build(
            &config.resolver,
            &outbound,
            config.auth.clock_skew_secs,
            clock.clone(),
            seams.resolver,
        )?;
        let prepared =
            bootstrap::prepare(&config, &public_url, clock.as_ref(), seams.store).await?;
        let store = prepared.store.clone();

        let (active, all) =
            authorities::ensure_service_key(store.as_ref(), &prepared.kek, clock.as_ref()).await?;
        let signing_key = authorities::open_key(&prepared.kek, &active)?;
        let signer = LocalSigner::new(signing_key, format!("{public_url}#{}", active.kid));
        let verify_keys = all
            .iter()
            .filter(|k| k.state != verity_store::KeyState::Revoked)
            .map(authorities::public_jwk)
            .collect::<Result<Vec<_>, _>>()?;
        let tokens = TokenAuthority::new(
            public_url.clone(),
            signer,
            verify_keys,
            config.auth.access_token_ttl_secs,
            config.auth.audiences.clone(),
            config.auth.clock_skew_secs,
        );

        let mut domains = vec![host_of(&public_url)];
        domains.extend(config.server.domains.iter().map(|d| d.to_ascii_lowercase()));
        let mut summary = StartupSummary {
            listen,
            public_url: public_url.clone(),
            database: store.backend(),
            authorities: store
                .list_authorities(None)
                .await?
                .into_iter()
                .map(|a| a.did)
                .collect(),
            created_authority: prepared.created_authority.as_ref().map(|a| a.did.clone()),
            admin_token: prepared.admin_token_source.clone(),
            face_check: String::new(),
        };
        let mut callback_policy = config.callbacks.fetch_policy();
        outbound.apply_trust(&mut callback_policy);
        let callback_fetcher = verity_did::HttpFetcher::new(callback_policy)
            .map_err(|e| StartupError::Other(format!("callbacks: {e}")))?;
        let outbox = Outbox::new(
            store.clone(),
            clock.clone(),
            callback_fetcher,
            config.callbacks.clone(),
        );
        let oidc = OidcValidator::new(resolution.fetcher.clone(), clock.clone());
        // Our own DIDs, status lists and linkage come from the store, so a revocation or key
        // rotation counts on the next request on every replica; everything else goes through
        // the HTTP caches. Every user of the request-flow resolver (presentations, the
        // presentations attestation, holder DIDs, other parties' lists) sees the same.
        let own = Arc::new(OwnAuthorities::new(store.clone(), &public_url, &domains));
        resolution.resolver = Arc::new(OwnResolver::new(own.clone(), resolution.resolver.clone()));
        let verifier = verity_presentation::VerifyContext::new(
            resolution.resolver.clone(),
            Arc::new(OwnStatusLists::new(
                own.clone(),
                Arc::new(verity_presentation::HttpStatusListSource::new(
                    resolution.fetcher.clone(),
                    resolution.resolver.clone(),
                )),
            )),
            Arc::new(OwnLinkage::new(
                own.clone(),
                Arc::new(verity_presentation::DomainLinkageChecker::new(
                    resolution.verifier(),
                )),
                config.verifier.linkage_cache_ttl_secs,
            )),
            Arc::new(crate::flows::StoreReplayGuard(store.clone())),
            clock.unix(),
        )
        .with_skew(config.auth.clock_skew_secs)
        .with_fail_open_on_unreachable(config.verifier.status_fail_open);
        let (face_matcher, face_note) = match seams.face_matcher.clone() {
            Some(m) => (Some(m.clone()), format!("face check: {} (given)", m.name())),
            None => {
                let built = verity_face_match::build_with_reason(&config.face_check)
                    .map_err(|e| StartupError::Other(format!("[face_check]: {e}")))?;
                (built.matcher, built.note)
            }
        };
        tracing::info!(face_check = %face_note, "face matcher");
        summary.face_check = face_note;
        let verifier = verifier.with_face_check(face_matcher.is_some());
        let state = web::Data::new(AppState {
            outbox,
            oidc,
            verifier,
            limits: crate::limits::Limits::new(
                &config.limits,
                &config.server.trusted_proxies,
                config.auth.token_rate_limit_per_minute,
            )?,
            admin_token_hash: prepared.pepper.hash(prepared.admin_token.expose()),
            pepper: prepared.pepper,
            kek: prepared.kek,
            subkeys: prepared.subkeys,
            public_url,
            domains,
            store,
            clock,
            tokens,
            resolution,
            linkage_cache: LinkageCache::default(),
            own,
            face_matcher,
            status_leases: crate::status_leases::StatusIndexLeases::new(
                config.issuance.status_index_batch,
            ),
            config: config.clone(),
            metrics: Arc::default(),
        });

        let server_state = state.clone();
        let limit = config.server.body_limit_bytes;
        let http = HttpServer::new(move || {
            App::new()
                .app_data(server_state.clone())
                .app_data(web::PayloadConfig::new(limit))
                .wrap(from_fn(crate::audit::audit_admin))
                .wrap(from_fn(crate::metrics::track_http))
                .wrap(ErrorHandlers::new().default_handler(error_shape))
                .wrap(from_fn(request_id_scope))
                .wrap(TracingLogger::<crate::telemetry::RequestSpans>::new())
                .configure(routes::configure)
                .wrap(from_fn(crate::limits::request_deadline))
                .default_service(web::to(no_route))
        })
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        // Longer than the idle timeout of typical client pools (ours use 4-5 s): the client,
        // not the server, should retire idle connections, or a request sent on a connection
        // the server is closing fails without being retried.
        .keep_alive(std::time::Duration::from_secs(30))
        // Slow clients cannot hold a connection open forever (docs/OPERATIONS.md, limits).
        .client_request_timeout(std::time::Duration::from_millis(
            config.server.client_request_timeout_ms,
        ))
        .client_disconnect_timeout(std::time::Duration::from_millis(
            config.server.client_disconnect_timeout_ms,
        ));
        let http = if config.server.workers > 0 {
            http.workers(config.server.workers)
        } else {
            http
        };
        let server = match &config.server.tls {
            None => http.listen(listener),
            Some(tls) => http.listen_rustls_0_23(listener, load_tls(tls)?),
        }
        .map_err(|source| StartupError::Io {
            what: "cannot serve on",
            path: listen.to_string().into(),
            source,
        })?
        .run();
        Ok(Self {
            port: listen.port(),
            server,
            summary,
            state,
            retention: config.retention.clone(),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What start-up did.
    pub fn summary(&self) -> &StartupSummary {
        &self.summary
    }

    /// Shared state (tests read the store and clock through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Runs until SIGINT/SIGTERM (in-flight requests get `shutdown_timeout_secs` to finish).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The callback worker lives as long as the server; undelivered messages stay in the
        // outbox and are picked up by the next start (or another replica).
        let worker = tokio::spawn(self.state.outbox.clone().run());
        // Purges of expired rows run here, never on a request's path.
        let sweeper = tokio::spawn(crate::sweeper::run(
            self.state.store.clone(),
            self.state.clock.clone(),
            self.retention.clone(),
        ));
        let result = self.server.await;
        worker.abort();
        sweeper.abort();
        result
    }
}

fn host_of(public_url: &str) -> String {
    url::Url::parse(public_url)
        .ok()
        .and_then(|u| crate::config::host_port(&u))
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn load_tls(tls: &crate::config::TlsConfig) -> Result<rustls::ServerConfig, StartupError> {
    let open = |path: &std::path::Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| StartupError::Io {
                what: "cannot open TLS file",
                path: path.to_owned(),
                source,
            })
    };
    let certs = rustls_pemfile::certs(&mut open(&tls.cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartupError::Tls(format!("{}: {e}", tls.cert_path.display())))?;
    if certs.is_empty() {
        return Err(StartupError::Tls(format!(
            "{}: no certificate found",
            tls.cert_path.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut open(&tls.key_path)?)
        .map_err(|e| StartupError::Tls(format!("{}: {e}", tls.key_path.display())))?
        .ok_or_else(|| {
            StartupError::Tls(format!("{}: no private key found", tls.key_path.display()))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartupError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartupError::Tls(e.to_string()))
}

/// Makes the request id the correlation id of error bodies and echoes it in `request-id`.
async fn request_id_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.to_string());
    let mut res = REQUEST_ID.scope(id.clone(), next.call(req)).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("request-id"), v);
    }
    Ok(res)
}

/// Gives every error response not produced by [`ApiError`] (unknown route, wrong method,
/// oversized body rejected by the framework) the API error shape.
fn error_shape<B: MessageBody>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    // The console answers people with its own HTML pages (a refused form, a wrong token).
    let is_console_page = res.request().path().starts_with("/console")
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
    if is_json || is_console_page {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(format!(
            "no route for {} {}",
            res.request().method(),
            res.request().path()
        )),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            InnerCode::MethodNotAllowed,
            format!(
                "{} is not allowed on {}",
                res.request().method(),
                res.request().path()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            InnerCode::PayloadTooLarge,
            "the request body exceeds the size limit",
        ),
        s if s.is_server_error() => ApiError::internal(format!("framework error {s}")),
        s => ApiError::new(
            s,
            InnerCode::BadOrMissingField,
            "the request could not be processed",
        ),
    };
    let (req, _) = res.into_parts();
    let resp = err.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, resp).map_into_right_body(),
    ))
}

/// No route matched: 405 with `Allow` when the path is served with other methods, 404 otherwise.
async fn no_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = crate::openapi::allowed_methods(req.path());
    if allowed.is_empty() {
        return Err(ApiError::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    let allow = allowed
        .iter()
        .map(actix_web::http::Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        InnerCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}; allowed: {allow}",
            req.method(),
            req.path()
        ),
    );
    let mut resp = err.error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}
