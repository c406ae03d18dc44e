//! `verity-helpdesk`: the verified helpdesk sample app.
//!
//! - `serve`  runs the employee portal and the helpdesk from `helpdesk.toml`.
//! - `sync`   revokes the cards of employees disabled in the directory (run it from cron).
//! - `demo`   the whole sample on one machine: a seeded local OpenLDAP, a contract and an API
//!   client on a running Verity (through its admin token), and the app.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use verity_core::{Clock, SystemClock};
use verity_helpdesk::demo;
use verity_helpdesk::settings::Settings;
use verity_helpdesk::startup;

#[derive(Parser)]
#[command(
    name = "verity-helpdesk",
    version,
    about = "The verified helpdesk: employee portal, helpdesk with face check, service-desk tickets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Run the portal and the helpdesk.
    Serve {
        /// The settings file (values can be overridden with HELPDESK__SECTION__KEY).
        #[arg(long, short, default_value = "helpdesk.toml", env = "HELPDESK_CONFIG")]
        config: PathBuf,
    },
    /// Revoke the Verified Employee cards of every employee disabled in the directory.
    Sync {
        #[arg(long, short, default_value = "helpdesk.toml", env = "HELPDESK_CONFIG")]
        config: PathBuf,
    },
    /// Print the newest audit records (verifications, actions, sign-ins, revocations) as JSON lines.
    Audit {
        #[arg(long, short, default_value = "helpdesk.toml", env = "HELPDESK_CONFIG")]
        config: PathBuf,
        /// How many records.
        #[arg(long, default_value_t = 50)]
        last: i64,
    },
    /// Run the whole sample locally against a running Verity: starts a seeded OpenLDAP
    /// (Debian's slapd) on a loopback port, registers the VerifiedEmployee contract and an API
    /// client with Verity's admin API, and serves the app.
    Demo(demo::DemoArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let result: Result<(), String> = match cli.command {
        Command::Serve { config } => serve(config, clock).await,
        Command::Sync { config } => sync(config, clock).await,
        Command::Audit { config, last } => audit(config, last).await,
        Command::Demo(args) => demo::run(args, clock).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: PathBuf, clock: Arc<dyn Clock>) -> Result<(), String> {
    let settings = Settings::load(Some(&config)).map_err(|e| e.to_string())?;
    let bind = settings.bind.clone();
    let public = settings.public_url.to_string();
    let hd = startup::build(settings, clock)
        .await
        .map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(&bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(%bind, %public, "verity-helpdesk listening");
    startup::serve(hd, listener)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())
}

async fn sync(config: PathBuf, clock: Arc<dyn Clock>) -> Result<(), String> {
    let settings = Settings::load(Some(&config)).map_err(|e| e.to_string())?;
    let hd = startup::build(settings, clock)
        .await
        .map_err(|e| e.to_string())?;
    let (leavers, revoked) = hd.revoke_leavers().await.map_err(|e| e.to_string())?;
    println!("{leavers} disabled employee(s) in the directory; {revoked} card(s) revoked");
    Ok(())
}

async fn audit(config: PathBuf, last: i64) -> Result<(), String> {
    let settings = Settings::load(Some(&config)).map_err(|e| e.to_string())?;
    let store = verity_helpdesk::store::Store::open(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    for record in store
        .audit(last.clamp(1, 10_000))
        .await
        .map_err(|e| e.to_string())?
    {
        println!(
            "{}",
            serde_json::to_string(&record).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}
