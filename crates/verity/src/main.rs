//! `verity`: the service (`serve`), first-time set-up (`init`) and the admin CLI, which talks to a
//! running server over the admin API.

mod admin;
mod wallet_cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use verity_core::{Clock, SystemClock};
use verity_server::bootstrap::{self, AdminTokenSource};
use verity_server::{Application, Config};

/// Verity: a self-hosted verifiable-credential issuer and verifier.
#[derive(Debug, Parser)]
#[command(name = "verity", version, about)]
struct Cli {
    /// Configuration file (TOML). Default: ./verity.toml when it exists.
    #[arg(long, global = true, env = "VERITY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (zero-config: SQLite under ./data on 127.0.0.1:8080).
    Serve,
    /// Create a configuration file, the data directory, a first authority and an API client.
    Init(InitArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Generate a key-encryption key for `keys.kek` / VERITY__KEYS__KEK.
    GenerateKek,
    /// Authorities (issuer/verifier identities).
    Authority(admin::Remote<admin::AuthorityCommand>),
    /// Signing keys of authorities.
    Key(admin::Remote<admin::KeyCommand>),
    /// OAuth API clients (client_id + secret).
    Client(admin::Remote<admin::ClientCommand>),
    /// Static API keys.
    ApiKey(admin::Remote<admin::ApiKeyCommand>),
    /// Tenants.
    Tenant(admin::Remote<admin::TenantCommand>),
    /// Resolve DIDs.
    Did(admin::Remote<admin::DidCommand>),
    /// Domain linkage (DIF Well-Known DID Configuration) of any DID.
    Domain(admin::Remote<admin::DomainCommand>),
    /// Issued credentials: search, revoke, suspend and resume.
    Credential(admin::Remote<admin::CredentialCommand>),
    /// Credential contracts (what an authority issues).
    Contract(admin::Remote<admin::ContractCommand>),
    /// The audit log of admin actions and revocations.
    Audit(admin::Remote<admin::AuditCommand>),
    /// The reference holder wallet (receive and present credentials over HTTP).
    Wallet(wallet_cli::WalletArgs),
    /// Ask a running service whether it is ready (`/health/ready`: the database answers);
    /// exits 0 when it is, 1 otherwise. For container health checks.
    Health {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration exactly as `serve` would, then print it (secrets redacted).
    Check,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Public URL the service is reached at.
    #[arg(long, default_value = "http://localhost:8080")]
    public_url: String,
    /// Data directory.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Display name of the first authority.
    #[arg(long, default_value = "Verity (local)")]
    authority_name: String,
    /// Name of the first API client.
    #[arg(long, default_value = "first-app")]
    client_name: String,
    /// PEM certificate chain for built-in HTTPS (`[server.tls]`; with an https public URL).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for built-in HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificate (an internal CA) Verity trusts when it fetches (`[tls] trust_anchors`).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

/// Names the crash point a test build stops at (the crash-safety harness, docs/OPERATIONS.md);
/// any other build refuses to start with it set.
const CRASH_POINT_ENV: &str = "VERITY_TEST_CRASH_POINT";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(spec) = std::env::var_os(CRASH_POINT_ENV) {
        let spec = spec.to_string_lossy();
        if let Err(e) = verity_store::arm_crash_point(&spec) {
            eprintln!("error: {CRASH_POINT_ENV}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_path(cli: &Cli) -> Option<PathBuf> {
    cli.config.clone().or_else(|| {
        let default = PathBuf::from("verity.toml");
        default.exists().then_some(default)
    })
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Command::Domain(r) = &cli.command {
        return admin::run_domain(r, config_path(&cli).as_deref()).await;
    }
    run_command(&cli).await.map(|()| ExitCode::SUCCESS)
}

async fn run_command(cli: &Cli) -> Result<(), String> {
    match &cli.command {
        Command::Serve => serve(config_path(cli).as_deref()).await,
        Command::Init(args) => {
            init(
                cli.config.clone().unwrap_or_else(|| "verity.toml".into()),
                args,
            )
            .await
        }
        Command::Config(ConfigCommand::Check) => {
            let cfg = Config::load(config_path(cli).as_deref()).map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&cfg).map_err(|e| e.to_string())?;
            println!("{text}\nconfiguration is valid");
            Ok(())
        }
        Command::GenerateKek => {
            let (_, encoded) = verity_jose::KeyEncryptionKey::generate();
            println!("{encoded}");
            Ok(())
        }
        Command::Authority(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Key(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Client(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::ApiKey(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Tenant(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Did(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Contract(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Credential(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Audit(r) => admin::run(r, config_path(cli).as_deref()).await,
        Command::Wallet(w) => wallet_cli::run(w).await,
        Command::Health { url } => health(url).await,
        Command::Domain(r) => admin::run_domain(r, config_path(cli).as_deref())
            .await
            .map(|_| ()),
    }
}

/// `verity health`: GET `<url>/health/ready` within 5 seconds; `Ok` only for a 2xx answer.
async fn health(url: &str) -> Result<(), String> {
    let target = format!("{}/health/ready", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client
        .get(&target)
        .send()
        .await
        .map_err(|e| format!("{target}: not reachable: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        println!("{target}: ready");
        Ok(())
    } else {
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(format!("{target}: not ready ({status}): {body}"))
    }
}

async fn serve(config_file: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config_file).map_err(|e| e.to_string())?;
    verity_server::telemetry::init(&config.log);
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let s = app.summary();
    println!(
        "Verity is listening on {} ({} database)",
        s.listen, s.database
    );
    println!(
        "  API:            {}/v1.0/verifiableCredentials",
        s.public_url
    );
    println!("  Token endpoint: {}/oauth2/token", s.public_url);
    for did in &s.authorities {
        let marker = if s.created_authority.as_deref() == Some(did) {
            " (created now)"
        } else {
            ""
        };
        println!("  Authority:      {did}{marker}");
    }
    println!("  Face check:     {}", s.face_check);
    match &s.admin_token {
        AdminTokenSource::Config => {
            println!("  Admin token:    from configuration (auth.admin_token)")
        }
        AdminTokenSource::File { path, created } => println!(
            "  Admin token:    {}{}",
            path.display(),
            if *created { " (created now)" } else { "" }
        ),
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn init(config_file: PathBuf, args: &InitArgs) -> Result<(), String> {
    if config_file.exists() {
        return Err(format!(
            "{} already exists: Verity is initialised here (delete it to start over)",
            config_file.display()
        ));
    }
    let InitServer {
        bind,
        tls,
        warnings,
    } = init_server(args)?;
    let db_line = match &args.database_url {
        Some(url) => format!("url = \"{url}\"\n"),
        None => "# url = \"postgres://verity@localhost/verity\"  (default: SQLite in data_dir)\n"
            .to_owned(),
    };
    let text = format!(
        "# Verity configuration. Every key can be overridden by an environment variable\n\
         # VERITY__<SECTION>__<KEY>, e.g. VERITY__SERVER__BIND=0.0.0.0:8080.\n\
         mode = \"development\"\n\n[server]\nbind = \"{bind}\"\npublic_url = \"{}\"\ndata_dir = \"{}\"\n{tls}\n\
         [database]\n{db_line}\n[keys]\n# kek = \"...\"  (production: set VERITY__KEYS__KEK; development generates <data_dir>/kek)\n\
         default_algorithm = \"ES256\"\n",
        args.public_url.trim_end_matches('/'),
        args.data_dir.display()
    );
    let text = text + &local_resolution_section(&args.public_url);
    let mut config = Config::from_toml(&text).map_err(|e| e.to_string())?;
    config.bootstrap.authority_name = args.authority_name.clone();
    let public_url = config.public_url_for_port(config.server.bind.port());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let prepared = bootstrap::prepare(&config, &public_url, clock.as_ref(), None)
        .await
        .map_err(|e| e.to_string())?;
    let Some(authority) = prepared.created_authority.clone() else {
        return Err(format!(
            "the database at {} already holds authorities: it is initialised",
            config.database_url_redacted()
        ));
    };
    let (client, secret) = bootstrap::create_api_client(
        prepared.store.as_ref(),
        &prepared.pepper,
        clock.as_ref(),
        prepared.tenant.id,
        &args.client_name,
    )
    .await
    .map_err(|e| e.to_string())?;
    std::fs::write(&config_file, text)
        .map_err(|e| format!("cannot write {}: {e}", config_file.display()))?;
    println!("Initialised Verity:");
    println!("  Config file:    {}", config_file.display());
    println!("  Data directory: {}", config.server.data_dir.display());
    println!("  Database:       {}", config.database_url_redacted());
    println!("  Tenant:         {}", prepared.tenant.name);
    println!("  Authority:      {} ({})", authority.did, authority.name);
    println!("  Admin token:    {}", prepared.admin_token_source);
    println!("  API client:     client_id     = {}", client.client_id);
    println!("                  client_secret = {}", secret.expose());
    println!("                  (shown once: store it now)");
    println!("  Listens on:     {bind}");
    for w in &warnings {
        println!("warning: {w}");
    }
    println!("Next: `verity serve`, then fetch {public_url}/.well-known/did.json");
    Ok(())
}

/// What `init` writes about serving: `bind` from the public URL's port, `[server.tls]` (and
/// `[tls]`) lines, and warnings naming what is missing.
struct InitServer {
    bind: String,
    tls: String,
    warnings: Vec<String>,
}

fn init_server(args: &InitArgs) -> Result<InitServer, String> {
    let url = url::Url::parse(&args.public_url)
        .map_err(|e| format!("--public-url `{}`: {e}", args.public_url))?;
    let host = url.host_str().unwrap_or_default();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("--public-url `{}`: no port", args.public_url))?;
    // A local URL keeps the service on loopback; any other name must be reachable.
    let ip = if verity_server::config::is_local_host(host) {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    let mut tls = String::new();
    let mut warnings = Vec::new();
    let https = url.scheme() == "https";
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) if https => {
            tls.push_str(&format!(
                "\n[server.tls]\ncert_path = {:?}\nkey_path = {:?}\n",
                cert.display().to_string(),
                key.display().to_string()
            ));
        }
        (Some(_), _) | (_, Some(_)) => {
            return Err("--tls-cert/--tls-key need an https --public-url".into());
        }
        _ if https => {
            warnings.push(format!(
                "the public URL is https but no --tls-cert/--tls-key was given: no [server.tls] \
                 written, so Verity serves plain http on {ip}:{port}; put a TLS-terminating proxy \
                 in front of it or add [server.tls] cert_path and key_path"
            ));
            tls.push_str(
                "\n# Built-in HTTPS (or a TLS-terminating proxy in front):\n\
                 # [server.tls]\n# cert_path = \"/etc/verity/tls.crt\"\n# key_path = \"/etc/verity/tls.key\"\n",
            );
        }
        _ => {}
    }
    if let Some(ca) = &args.ca_cert {
        tls.push_str(&format!(
            "\n# CA certificates trusted for everything Verity fetches (an internal CA).\n\
             [tls]\ntrust_anchors = [{:?}]\n",
            ca.display().to_string()
        ));
    }
    Ok(InitServer {
        bind: format!("{ip}:{port}"),
        tls,
        warnings,
    })
}

/// For a `http://localhost` development setup, the `[resolver]` lines that let this server fetch
/// its own origin (did.json, status lists, did-configuration.json), which the default policy
/// refuses as plain http on a loopback address. Written visibly into the file `init` creates;
/// empty for any other public URL.
fn local_resolution_section(public_url: &str) -> String {
    let Ok(url) = url::Url::parse(public_url) else {
        return String::new();
    };
    let host = url.host_str().unwrap_or_default();
    if !verity_server::config::is_local_host(host) {
        return String::new();
    }
    let host_port = verity_server::config::host_port(&url).unwrap_or_default();
    if url.scheme() == "https" {
        return "\n# Development only: lets this server fetch its own https localhost origin (loopback\n\
                # is refused by default; only this service's own origins are opened). Remove for\n\
                # production.\n[resolver]\nallow_loopback = true\n"
            .to_owned();
    }
    format!(
        "\n# Development only: lets this server verify its own credentials over its plain-http\n\
         # localhost origin (loopback and http are refused by default). Remove for production.\n\
         [resolver]\nallow_loopback = true\nallow_http_hosts = [\"{host_port}\"]\n"
    )
}
