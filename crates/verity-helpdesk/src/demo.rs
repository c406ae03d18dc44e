//! `verity-helpdesk demo`: the whole sample on one machine, against a running Verity.
//!
//! 1. starts Debian's `slapd` on a loopback port with the demo directory (three employees with
//!    photos, one of them a leaver);
//! 2. with Verity's admin token, registers the VerifiedEmployee contract on Verity's first
//!    authority (once) and creates an API client for the app;
//! 3. serves the portal and the helpdesk, polling Verity (no callbacks: the zero-config Verity
//!    does not call loopback URLs).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use url::Url;
use verity_core::{Clock, Secret};

use crate::config::DirectoryConfig;
use crate::settings::{ActionSettings, IssuanceSettings, Settings, VerificationSettings};
use crate::slapd::{self, LocalSlapd};
use crate::startup;
use crate::verity_api::{DEFAULT_SCOPE, VerityConfig};
use crate::webhook::WebhookConfig;

/// The contract the demo registers (the repository's example, on Verity's own authority).
const CONTRACT: &str = include_str!("../../../examples/contracts/verified-employee-hint.json");

/// `verity-helpdesk demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The running Verity.
    #[arg(long, default_value = "http://localhost:8080")]
    pub verity_url: Url,
    /// Verity's data directory (its `admin-token` file is read from there).
    #[arg(long, default_value = "./data")]
    pub verity_data: PathBuf,
    /// Where the app listens (loopback).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// The helpdesk's own database.
    #[arg(long, default_value = "sqlite://./data/helpdesk-demo.db")]
    pub database: String,
    /// Ask for a face check (Verity needs a face matcher: see docs/FACE_CHECK.md).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub face_check: bool,
    /// Post ticket events to this URL (JSON, HMAC-signed with --webhook-secret).
    #[arg(long)]
    pub webhook_url: Option<String>,
    #[arg(long, env = "HELPDESK_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[error("demo: {0}")]
pub struct DemoError(String);

fn fail(e: impl std::fmt::Display) -> DemoError {
    DemoError(e.to_string())
}

/// Admin API calls the demo needs.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DemoError> {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.base))
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(b);
        }
        let answer = req.send().await.map_err(|e| {
            fail(format!(
                "cannot reach Verity at {}: {e} (is `verity serve` running?)",
                self.base
            ))
        })?;
        let status = answer.status();
        let value: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(fail(format!(
                "Verity's admin API answered {status} to {path}: {value}"
            )));
        }
        Ok(value)
    }
}

/// Registers the contract (once) and an API client; returns (authority, contract id, client id,
/// client secret).
pub async fn register(
    verity: &Url,
    admin_token: Secret,
) -> Result<(String, String, String, Secret), DemoError> {
    let admin = Admin {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(fail)?,
        base: verity.as_str().trim_end_matches('/').to_owned(),
        token: admin_token,
    };
    let authorities = admin
        .call(reqwest::Method::GET, "/authorities", None)
        .await?;
    let authority = authorities
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["did"].as_str())
        .ok_or_else(|| fail("Verity has no authority yet"))?
        .to_owned();
    let mut contract: Value = serde_json::from_str(CONTRACT).map_err(fail)?;
    contract["authority"] = json!(authority);
    let name = contract["id"]
        .as_str()
        .unwrap_or("verified-employee")
        .to_owned();
    let existing = admin.call(reqwest::Method::GET, "/contracts", None).await?;
    let found = existing.as_array().and_then(|list| {
        list.iter()
            .find(|c| {
                c["name"].as_str() == Some(&name) && c["authority"].as_str() == Some(&authority)
            })
            .and_then(|c| c["id"].as_str().map(str::to_owned))
    });
    let contract_id = match found {
        Some(id) => id,
        None => admin
            .call(reqwest::Method::POST, "/contracts", Some(&contract))
            .await?["id"]
            .as_str()
            .ok_or_else(|| fail("Verity's answer to the contract has no id"))?
            .to_owned(),
    };
    let client = admin
        .call(
            reqwest::Method::POST,
            "/clients",
            Some(&json!({ "name": "verified helpdesk (demo)" })),
        )
        .await?;
    let client_id = client["clientId"]
        .as_str()
        .ok_or_else(|| fail("no clientId"))?
        .to_owned();
    let secret = client["clientSecret"]
        .as_str()
        .ok_or_else(|| fail("no clientSecret"))?;
    Ok((authority, contract_id, client_id, Secret::new(secret)))
}

/// Runs the demo until interrupted.
pub async fn run(args: DemoArgs, clock: Arc<dyn Clock>) -> Result<(), DemoError> {
    let token_file = args.verity_data.join("admin-token");
    let admin_token = std::fs::read_to_string(&token_file).map_err(|e| {
        fail(format!(
            "cannot read Verity's admin token at {}: {e} (start Verity first: `cargo run --release -p verity -- serve`, or pass --verity-data)",
            token_file.display()
        ))
    })?;
    let admin_token = Secret::new(admin_token.trim());
    let ldap = LocalSlapd::start(slapd::demo_options())
        .await
        .map_err(fail)?;
    println!("demo directory: {} ({})", ldap.url(), slapd::DEMO_SUFFIX);
    let (authority, contract, client_id, client_secret) =
        register(&args.verity_url, Secret::new(admin_token.expose())).await?;
    println!("contract {contract} on {authority}; API client {client_id}");
    let webhook = match (&args.webhook_url, &args.webhook_secret) {
        (Some(url), Some(secret)) => Some(
            serde_json::from_value::<WebhookConfig>(json!({ "url": url, "secret": secret }))
                .map_err(fail)?,
        ),
        (Some(_), None) => return Err(fail("--webhook-url needs --webhook-secret")),
        _ => None,
    };
    let public_url = Url::parse(&format!("http://localhost:{}", args.port)).map_err(fail)?;
    let settings = Settings {
        public_url: public_url.clone(),
        bind: format!("127.0.0.1:{}", args.port),
        database: args.database.clone(),
        company: "Contoso".into(),
        verity: VerityConfig {
            url: args.verity_url.clone(),
            client_id,
            client_secret,
            scope: DEFAULT_SCOPE.into(),
            admin_token: Some(admin_token),
            timeout_ms: 10_000,
        },
        directory: DirectoryConfig::Ldap(slapd::demo_directory_config(ldap.url())),
        issuance: IssuanceSettings {
            authority,
            contract,
            credential_type: "VerifiedEmployee".into(),
            pin_length: 4,
        },
        verification: VerificationSettings {
            face_check: args.face_check,
            ..VerificationSettings::default()
        },
        actions: ActionSettings::default(),
        webhook,
        callbacks: false,
        session_minutes: 60,
    };
    settings.validate().map_err(fail)?;
    let bind = settings.bind.clone();
    let hd = startup::build(settings, clock).await.map_err(fail)?;
    let listener =
        TcpListener::bind(&bind).map_err(|e| fail(format!("cannot listen on {bind}: {e}")))?;
    println!("\nThe verified helpdesk is at {public_url}");
    println!(
        "  portal sign-in: megan / {}   (alex / {} too)",
        slapd::DEMO_MEGAN_PASSWORD,
        slapd::DEMO_ALEX_PASSWORD
    );
    println!(
        "  leavers: `verity-helpdesk sync` needs a settings file; the demo's leaver is adele\n"
    );
    // Leavers: every 30 seconds, as a cron job would run `verity-helpdesk sync`.
    let syncing = hd.clone();
    tokio::spawn(async move {
        loop {
            match syncing.revoke_leavers().await {
                Ok((_, 0)) => {}
                Ok((_, n)) => println!("sync: {n} card(s) of leavers revoked"),
                Err(e) => eprintln!("sync: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
    });
    startup::serve(hd, listener)
        .map_err(fail)?
        .await
        .map_err(fail)?;
    drop(ldap);
    Ok(())
}
