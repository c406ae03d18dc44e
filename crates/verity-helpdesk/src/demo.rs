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
use crate::verity_api::{DEFAULT_SCOPE, VerityClient, VerityConfig};
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
    /// Ask for a face check: `auto` (when Verity has a face matcher), `on` or `off`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub face_check: String,
    /// Replace a demo employee's directory photo, e.g. `megan=me.jpg` (JPEG), so a real face
    /// matcher can compare a real selfie with it.
    #[arg(long = "photo", value_name = "UID=JPEG")]
    pub photos: Vec<String>,
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

/// Whether Verity takes presentation requests with a face check: asks for one (it expires
/// unanswered) and looks for `faceCheckNotConfigured`.
async fn verity_matches_faces(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<bool, DemoError> {
    let client = VerityClient::new(settings.verity.clone(), clock).map_err(fail)?;
    let probe = json!({
        "authority": settings.issuance.authority,
        "registration": { "clientName": "helpdesk start-up check" },
        "requestedCredentials": [{
            "type": settings.verification.credential_type,
            "configuration": { "validation": { "faceCheck": { "sourcePhotoClaimName": "photo" } } },
        }],
    });
    match client.create_presentation_request(&probe).await {
        Ok(_) => Ok(true),
        Err(e) if e.inner_code() == Some("faceCheckNotConfigured") => Ok(false),
        Err(e) => Err(fail(e)),
    }
}

/// `seed` with the `jpegPhoto` of `uid` replaced by `jpeg`.
fn with_photo(seed: &str, uid: &str, jpeg: &[u8]) -> Result<String, DemoError> {
    use base64::Engine as _;
    if jpeg.len() < 3 || jpeg[..3] != [0xFF, 0xD8, 0xFF] {
        return Err(fail(format!("the photo for {uid} is not a JPEG")));
    }
    let dn = format!("dn: uid={uid},{}", slapd::DEMO_PEOPLE_DN);
    let mut out = Vec::new();
    let mut in_entry = false;
    let mut found = false;
    let mut skipping = false;
    for line in seed.lines() {
        if line.starts_with("dn: ") {
            skipping = false;
            in_entry = line == dn;
            found |= in_entry;
            out.push(line.to_owned());
            if in_entry {
                out.push(format!(
                    "jpegPhoto:: {}",
                    base64::engine::general_purpose::STANDARD.encode(jpeg)
                ));
            }
            continue;
        }
        if in_entry && line.starts_with("jpegPhoto:") {
            skipping = true;
            continue;
        }
        // An LDIF value folded over several lines continues with a leading space.
        if skipping && line.starts_with(' ') {
            continue;
        }
        skipping = false;
        out.push(line.to_owned());
    }
    if !found {
        return Err(fail(format!("the demo directory has no uid {uid:?}")));
    }
    Ok(out.join("\n") + "\n")
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
    let mut options = slapd::demo_options();
    for spec in &args.photos {
        let (uid, path) = spec
            .split_once('=')
            .ok_or_else(|| fail(format!("--photo {spec:?}: expected UID=JPEG")))?;
        let jpeg = std::fs::read(path).map_err(|e| fail(format!("--photo {spec:?}: {e}")))?;
        options.seed_ldif = with_photo(&options.seed_ldif, uid, &jpeg)?;
    }
    // A root password for this run, so a person can play the administrator (e.g. mark a
    // leaver with ldapmodify).
    let root_password = crate::app::random_token(12);
    options.root_password = Some(Secret::new(root_password.clone()));
    let ldap = LocalSlapd::start(options).await.map_err(fail)?;
    println!(
        "demo directory: {} ({}); administrator {} / {root_password}",
        ldap.url(),
        slapd::DEMO_SUFFIX,
        ldap.root_dn()
    );
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
    let mut settings = Settings {
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
            face_check: args.face_check != "off",
            ..VerificationSettings::default()
        },
        actions: ActionSettings::default(),
        webhook,
        oidc: None,
        callbacks: false,
        session_minutes: 60,
    };
    settings.validate().map_err(fail)?;
    if args.face_check == "auto" && !verity_matches_faces(&settings, clock.clone()).await? {
        println!(
            "note: Verity has no face matcher, so verifications run without a face check \
             (docs/FACE_CHECK.md: build Verity with --features face-local and fetch the models)"
        );
        settings.verification.face_check = false;
    }
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
        "  leavers are revoked every 30 s (adele has left; docs/HELPDESK.md shows how to let megan go)\n"
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_replaces_only_its_employees_photo() {
        let seed = slapd::demo_seed();
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let out = with_photo(&seed, "megan", &jpeg).unwrap();
        let megan = out
            .split("\n\n")
            .find(|e| e.starts_with(&format!("dn: uid=megan,{}", slapd::DEMO_PEOPLE_DN)))
            .unwrap();
        assert_eq!(megan.matches("jpegPhoto::").count(), 1);
        assert!(megan.contains("jpegPhoto:: /9j/4AECAw=="));
        assert_eq!(
            out.matches("jpegPhoto::").count(),
            seed.matches("jpegPhoto::").count()
        );
        assert!(with_photo(&seed, "nobody", &jpeg).is_err());
        assert!(with_photo(&seed, "megan", b"GIF89a").is_err());
    }
}
