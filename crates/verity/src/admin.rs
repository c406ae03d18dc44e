//! Admin subcommands: each is one call to the admin API of a running server.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::de::DeserializeOwned;
use verity_server::Config;
use verity_server::api_types::{
    ApiKeyView, AuthorityDomainsView, AuthorityView, ClientView, CreateAuthority, CreateCredential,
    CreateTenant, KeyView, LinkageReportView, LinkageResultView, RotateKey, TenantView,
};

/// Connection options shared by every admin subcommand.
#[derive(Debug, Args)]
pub struct Remote<C: Subcommand> {
    /// Base URL of the running server (default: the configured public URL).
    #[arg(long, global = true, env = "VERITY_SERVER")]
    server: Option<String>,
    /// Admin token (default: read from the configured admin token file).
    #[arg(
        long,
        global = true,
        env = "VERITY_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// PEM file of a CA certificate (an internal CA) to trust for the server's https, in
    /// addition to the public roots.
    #[arg(long, global = true, env = "VERITY_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// Print raw JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: C,
}

#[derive(Debug, Subcommand)]
pub enum AuthorityCommand {
    /// Create an authority with a new signing key.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Full did:web DID (its host must be served by this deployment).
        #[arg(long, conflicts_with_all = ["domain", "path"])]
        did: Option<String>,
        /// Host[:port] of the DID (default: the public URL's host).
        #[arg(long)]
        domain: Option<String>,
        /// Path for a path DID, e.g. tenants/acme.
        #[arg(long)]
        path: Option<String>,
        /// Tenant name.
        #[arg(long)]
        tenant: Option<String>,
        /// ES256 (default), EdDSA or ES256K.
        #[arg(long)]
        alg: Option<String>,
    },
    /// List authorities.
    List,
    /// Show one authority (by id or DID) with its keys.
    Show { authority: String },
    /// List the authority's linked domains and check each one's linkage live.
    Domains { authority: String },
}

#[derive(Debug, Subcommand)]
pub enum DidCommand {
    /// Resolve a DID (did:web, did:key, did:jwk) through the server and print its document.
    Resolve { did: String },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Check a DID's domain linkage (DIF Well-Known DID Configuration) and print each step.
    /// Exit status: 0 verified, 2 unverified, 3 not checked (the DID did not resolve),
    /// 1 the check could not be asked for.
    Verify {
        did: String,
        /// Check only this origin (`https://example.com`) instead of every listed one.
        #[arg(long)]
        origin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Rotate an authority's signing key; the old key stays published as `retiring`.
    Rotate {
        /// Authority id or DID.
        authority: String,
        /// Algorithm of the new key (default: same as the current one).
        #[arg(long)]
        alg: Option<String>,
    },
    /// List an authority's keys.
    List { authority: String },
    /// Revoke a key: it is withdrawn from the DID document at once.
    Revoke { key_id: String },
    /// Remove a retiring or revoked key.
    Remove { key_id: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an API client; prints the secret once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List API clients.
    List,
    /// Delete an API client; its tokens stop working at once.
    Delete { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a static API key; prints it once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List API keys.
    List,
    /// Delete an API key.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create { name: String },
    /// List tenants.
    List,
}

/// One admin call: method, path, body; the answer printed.
pub trait AdminAction {
    fn execute(&self, client: &AdminClient, json: bool)
    -> impl Future<Output = Result<(), String>>;
}

/// A client of the admin API.
#[derive(Debug)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<T>, String> {
        let url = format!("{}/admin/v1{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .header(verity_server::audit::PRINCIPAL_HEADER, cli_principal());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| reach_error(&url, &e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("reading the answer from {url}: {e}"))?;
        if !status.is_success() {
            let detail = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .map(|v| {
                    let inner = &v["error"]["innererror"];
                    let target = inner["target"]
                        .as_str()
                        .map(|t| format!(" (field `{t}`)"))
                        .unwrap_or_default();
                    format!(
                        "{}: {}{target}",
                        inner["code"].as_str().unwrap_or("error"),
                        inner["message"].as_str().unwrap_or(&text)
                    )
                })
                .unwrap_or(text);
            return Err(format!("{} {}", status.as_u16(), detail));
        }
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("unexpected answer from {url}: {e}"))
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn print_authority(a: &AuthorityView) {
    println!("{}  {}", a.did, a.name);
    println!("  id:           {}", a.id);
    println!("  tenant:       {}", a.tenant_id);
    println!("  DID document: {}", a.did_document_url);
    for k in &a.keys {
        print_key(k);
    }
}

fn print_key(k: &KeyView) {
    println!(
        "  key {:<22} {:<7} {:<9} id {}",
        k.kid, k.alg, k.state, k.id
    );
}

fn body<T: serde::Serialize>(v: &T) -> Result<Option<serde_json::Value>, String> {
    serde_json::to_value(v).map(Some).map_err(|e| e.to_string())
}

fn required<T>(v: Option<T>) -> Result<T, String> {
    v.ok_or_else(|| "the server answered without a body".to_owned())
}

impl AdminAction for AuthorityCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        match self {
            Self::Create {
                name,
                did,
                domain,
                path,
                tenant,
                alg,
            } => {
                let req = CreateAuthority {
                    name: name.clone(),
                    did: did.clone(),
                    domain: domain.clone(),
                    path: path.clone(),
                    tenant: tenant.clone(),
                    algorithm: alg.clone(),
                };
                let a: AuthorityView =
                    required(c.call(Method::POST, "/authorities", body(&req)?).await?)?;
                if json {
                    print_json(&a)
                } else {
                    print_authority(&a);
                    Ok(())
                }
            }
            Self::List => {
                let list: Vec<AuthorityView> =
                    required(c.call(Method::GET, "/authorities", None).await?)?;
                if json {
                    return print_json(&list);
                }
                for a in &list {
                    let active = a
                        .keys
                        .iter()
                        .find(|k| k.state == "active")
                        .map_or("-", |k| k.kid.as_str());
                    println!("{}  {}  (active key {active}, id {})", a.did, a.name, a.id);
                }
                Ok(())
            }
            Self::Show { authority } => {
                let a: AuthorityView = required(
                    c.call(
                        Method::GET,
                        &format!("/authorities/{}", enc(authority)),
                        None,
                    )
                    .await?,
                )?;
                if json {
                    print_json(&a)
                } else {
                    print_authority(&a);
                    Ok(())
                }
            }
            Self::Domains { authority } => {
                let v: AuthorityDomainsView = required(
                    c.call(
                        Method::GET,
                        &format!("/authorities/{}/domains", enc(authority)),
                        None,
                    )
                    .await?,
                )?;
                if json {
                    return print_json(&v);
                }
                println!("{}", v.did);
                if v.domains.is_empty() {
                    println!("  no linked domains: this service does not serve the DID's host");
                }
                for d in &v.domains {
                    println!("  {}  {}", d.origin, verdict_word(&d.report));
                    println!("    configuration: {}", d.configuration_url);
                    if !d.report.verified {
                        println!("    {}", d.report.summary);
                    }
                }
                Ok(())
            }
        }
    }
}

impl AdminAction for DidCommand {
    async fn execute(&self, c: &AdminClient, _json: bool) -> Result<(), String> {
        match self {
            Self::Resolve { did } => {
                // The document is JSON either way.
                let doc: serde_json::Value = required(
                    c.call(Method::GET, &format!("/dids/{}", enc(did)), None)
                        .await?,
                )?;
                print_json(&doc)
            }
        }
    }
}

impl DomainCommand {
    /// Runs the check and prints the verdict and each step; the exit status is the verdict.
    pub async fn execute(&self, c: &AdminClient, json: bool) -> Result<ExitCode, String> {
        let Self::Verify { did, origin } = self;
        let mut path = format!("/domains/verify?did={}", enc(did));
        if let Some(o) = origin {
            path.push_str(&format!("&origin={}", enc(o)));
        }
        let report: LinkageReportView = required(c.call(Method::GET, &path, None).await?)?;
        if json {
            print_json(&report)?;
        } else {
            print_report(&report);
        }
        Ok(verdict_exit_code(&report))
    }
}

/// 0 verified, 2 unverified, 3 not checked.
pub fn verdict_exit_code(report: &LinkageReportView) -> ExitCode {
    match report.result {
        LinkageResultView::Verified { .. } => ExitCode::SUCCESS,
        LinkageResultView::Unverified { .. } => ExitCode::from(2),
        LinkageResultView::NotChecked { .. } => ExitCode::from(3),
    }
}

fn verdict_word(report: &LinkageReportView) -> String {
    match &report.result {
        LinkageResultView::Verified { .. } => "VERIFIED".to_owned(),
        LinkageResultView::Unverified { reason, .. } => format!("UNVERIFIED ({})", reason.code),
        LinkageResultView::NotChecked { .. } => "NOT CHECKED".to_owned(),
    }
}

fn print_report(r: &LinkageReportView) {
    println!("{}: {}", r.did, verdict_word(r));
    println!("  {}", r.summary);
    println!("steps:");
    for (i, s) in r.steps.iter().enumerate() {
        let mark = if s.outcome == "passed" {
            "ok  "
        } else {
            "FAIL"
        };
        println!("  {:>2}. [{mark}] {}: {}", i + 1, s.name, s.detail);
    }
}

impl AdminAction for KeyCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        match self {
            Self::Rotate { authority, alg } => {
                let req = RotateKey {
                    algorithm: alg.clone(),
                };
                let k: KeyView = required(
                    c.call(
                        Method::POST,
                        &format!("/authorities/{}/keys/rotate", enc(authority)),
                        body(&req)?,
                    )
                    .await?,
                )?;
                if json {
                    return print_json(&k);
                }
                println!("new active key:");
                print_key(&k);
                println!(
                    "the previous key is now `retiring` and stays in the DID document until removed"
                );
                Ok(())
            }
            Self::List { authority } => {
                let ks: Vec<KeyView> = required(
                    c.call(
                        Method::GET,
                        &format!("/authorities/{}/keys", enc(authority)),
                        None,
                    )
                    .await?,
                )?;
                if json {
                    return print_json(&ks);
                }
                ks.iter().for_each(print_key);
                Ok(())
            }
            Self::Revoke { key_id } => {
                let k: KeyView = required(
                    c.call(Method::POST, &format!("/keys/{}/revoke", enc(key_id)), None)
                        .await?,
                )?;
                if json {
                    print_json(&k)
                } else {
                    print_key(&k);
                    Ok(())
                }
            }
            Self::Remove { key_id } => {
                c.call::<serde_json::Value>(
                    Method::DELETE,
                    &format!("/keys/{}", enc(key_id)),
                    None,
                )
                .await?;
                println!("removed key {key_id}");
                Ok(())
            }
        }
    }
}

impl AdminAction for ClientCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        match self {
            Self::Create { name, tenant } => {
                let req = CreateCredential {
                    name: name.clone(),
                    tenant: tenant.clone(),
                };
                let v: ClientView = required(c.call(Method::POST, "/clients", body(&req)?).await?)?;
                if json {
                    return print_json(&v);
                }
                println!("client_id     = {}", v.client_id);
                println!(
                    "client_secret = {}",
                    v.client_secret.as_deref().unwrap_or("")
                );
                println!(
                    "token URL     = {}",
                    v.token_endpoint.as_deref().unwrap_or("")
                );
                println!("(the secret is shown once: store it now)");
                Ok(())
            }
            Self::List => {
                let list: Vec<ClientView> = required(c.call(Method::GET, "/clients", None).await?)?;
                if json {
                    return print_json(&list);
                }
                for v in &list {
                    println!(
                        "{}  {}  tenant {}  created {}",
                        v.client_id, v.name, v.tenant_id, v.created_at
                    );
                }
                Ok(())
            }
            Self::Delete { client_id } => {
                c.call::<serde_json::Value>(
                    Method::DELETE,
                    &format!("/clients/{}", enc(client_id)),
                    None,
                )
                .await?;
                println!("deleted API client {client_id}");
                Ok(())
            }
        }
    }
}

impl AdminAction for ApiKeyCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        match self {
            Self::Create { name, tenant } => {
                let req = CreateCredential {
                    name: name.clone(),
                    tenant: tenant.clone(),
                };
                let v: ApiKeyView =
                    required(c.call(Method::POST, "/api-keys", body(&req)?).await?)?;
                if json {
                    return print_json(&v);
                }
                println!("id  = {}", v.id);
                println!("key = {}", v.key.as_deref().unwrap_or(""));
                println!(
                    "(the key is shown once: store it now; send it as `Authorization: Bearer <key>`)"
                );
                Ok(())
            }
            Self::List => {
                let list: Vec<ApiKeyView> =
                    required(c.call(Method::GET, "/api-keys", None).await?)?;
                if json {
                    return print_json(&list);
                }
                for v in &list {
                    println!(
                        "{}  {}...  {}  tenant {}",
                        v.id, v.prefix, v.name, v.tenant_id
                    );
                }
                Ok(())
            }
            Self::Delete { id } => {
                c.call::<serde_json::Value>(
                    Method::DELETE,
                    &format!("/api-keys/{}", enc(id)),
                    None,
                )
                .await?;
                println!("deleted API key {id}");
                Ok(())
            }
        }
    }
}

impl AdminAction for TenantCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        match self {
            Self::Create { name } => {
                let t: TenantView = required(
                    c.call(
                        Method::POST,
                        "/tenants",
                        body(&CreateTenant { name: name.clone() })?,
                    )
                    .await?,
                )?;
                if json {
                    print_json(&t)
                } else {
                    println!("{}  {}", t.id, t.name);
                    Ok(())
                }
            }
            Self::List => {
                let ts: Vec<TenantView> = required(c.call(Method::GET, "/tenants", None).await?)?;
                if json {
                    return print_json(&ts);
                }
                ts.iter().for_each(|t| println!("{}  {}", t.id, t.name));
                Ok(())
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Create a contract from a JSON definition (see examples/contracts/).
    Create {
        /// The contract definition file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Use this authority DID instead of the file's `authority`.
        #[arg(long)]
        authority: Option<String>,
    },
    /// List contracts.
    List,
    /// Show a contract with its manifest URL.
    Show { id: String },
    /// Replace a contract's definition (its `id` and `authority` cannot change).
    Update {
        id: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Disable a contract: new issuance requests for it are refused.
    Disable { id: String },
    /// Enable a disabled contract.
    Enable { id: String },
    /// Fetch the contract's signed manifest as a wallet would and print it decoded.
    Manifest { id: String },
    /// Make an OpenID4VCI credential offer (pre-authorized code) for a standard wallet.
    Offer {
        id: String,
        /// A claim the contract's idTokenHint mapping reads, `name=value` (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// A transaction code (4-16 digits) the holder must type in the wallet.
        #[arg(long)]
        pin: Option<String>,
        /// `dc+sd-jwt` (SD-JWT VC, default) or `jwt_vc_json`.
        #[arg(long)]
        format: Option<String>,
    },
}

fn read_definition(file: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))
}

fn print_contract(v: &serde_json::Value) {
    println!(
        "{}  {}",
        v["id"].as_str().unwrap_or_default(),
        v["name"].as_str().unwrap_or_default()
    );
    println!(
        "  authority: {}",
        v["authority"].as_str().unwrap_or_default()
    );
    println!("  enabled:   {}", v["enabled"]);
    println!(
        "  manifest:  {}",
        v["manifestUrl"].as_str().unwrap_or_default()
    );
}

impl AdminAction for ContractCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        let one = |v: serde_json::Value| -> Result<(), String> {
            if json {
                print_json(&v)
            } else {
                print_contract(&v);
                Ok(())
            }
        };
        match self {
            Self::Create { file, authority } => {
                let mut definition = read_definition(file)?;
                if let Some(a) = authority {
                    definition["authority"] = serde_json::Value::String(a.clone());
                }
                let v: serde_json::Value =
                    required(c.call(Method::POST, "/contracts", Some(definition)).await?)?;
                one(v)
            }
            Self::List => {
                let list: Vec<serde_json::Value> =
                    required(c.call(Method::GET, "/contracts", None).await?)?;
                if json {
                    return print_json(&list);
                }
                for v in &list {
                    println!(
                        "{}  {}  {}  {}",
                        v["id"].as_str().unwrap_or_default(),
                        v["name"].as_str().unwrap_or_default(),
                        v["authority"].as_str().unwrap_or_default(),
                        if v["enabled"].as_bool() == Some(true) {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    );
                }
                Ok(())
            }
            Self::Show { id } => one(required(
                c.call(Method::GET, &format!("/contracts/{}", enc(id)), None)
                    .await?,
            )?),
            Self::Update { id, file } => one(required(
                c.call(
                    Method::PUT,
                    &format!("/contracts/{}", enc(id)),
                    Some(read_definition(file)?),
                )
                .await?,
            )?),
            Self::Disable { id } => one(required(
                c.call(
                    Method::POST,
                    &format!("/contracts/{}/disable", enc(id)),
                    None,
                )
                .await?,
            )?),
            Self::Enable { id } => one(required(
                c.call(
                    Method::POST,
                    &format!("/contracts/{}/enable", enc(id)),
                    None,
                )
                .await?,
            )?),
            Self::Offer {
                id,
                claims,
                pin,
                format,
            } => {
                let mut map = serde_json::Map::new();
                for c in claims {
                    let (k, v) = c
                        .split_once('=')
                        .ok_or_else(|| format!("--claim `{c}` must be NAME=VALUE"))?;
                    map.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
                }
                let mut body = serde_json::json!({ "claims": map });
                if let Some(p) = pin {
                    body["pin"] = serde_json::json!({ "value": p, "length": p.chars().count() });
                }
                if let Some(f) = format {
                    body["format"] = serde_json::json!(f);
                }
                let v: serde_json::Value = required(
                    c.call(
                        Method::POST,
                        &format!("/contracts/{}/offers", enc(id)),
                        Some(body),
                    )
                    .await?,
                )?;
                if json {
                    return print_json(&v);
                }
                println!("offer {}", v["requestId"].as_str().unwrap_or_default());
                println!("  by reference: {}", v["url"].as_str().unwrap_or_default());
                println!(
                    "  by value:     {}",
                    v["offerByValue"].as_str().unwrap_or_default()
                );
                Ok(())
            }
            Self::Manifest { id } => {
                let url = format!("{}/v1.0/manifests/{}", c.base, enc(id));
                let resp = c
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| reach_error(&url, &e))?;
                let status = resp.status();
                let body: serde_json::Value =
                    resp.json().await.map_err(|e| format!("{url}: {e}"))?;
                if !status.is_success() {
                    return Err(format!(
                        "{} {}",
                        status.as_u16(),
                        body["error"]["innererror"]["message"]
                            .as_str()
                            .unwrap_or_default()
                    ));
                }
                let token = body["token"]
                    .as_str()
                    .ok_or("the manifest answer has no token")?;
                let jws = verity_jose::UnverifiedJws::parse(token).map_err(|e| e.to_string())?;
                let payload: serde_json::Value =
                    jws.payload_unverified().map_err(|e| e.to_string())?;
                println!(
                    "header:  {}",
                    serde_json::to_string(jws.header()).map_err(|e| e.to_string())?
                );
                print_json(&payload)
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Revoke issued credentials: by `--jti`, or by `--contract` + `--claim` (the contract's
    /// indexed claim value). Idempotent.
    Revoke {
        #[command(flatten)]
        which: Selection,
        /// Why; kept with the revocation.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Suspend issued credentials of a suspendable contract (`rules.suspendable`): verifiers
    /// refuse them until they are resumed. Selected as for `revoke`.
    Suspend {
        #[command(flatten)]
        which: Selection,
        /// Why; kept with the suspension.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume suspended credentials: verifiers accept them again.
    Resume {
        #[command(flatten)]
        which: Selection,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Close the open status lists (all, or one authority's): new credentials get indices of
    /// new lists. Run it after restoring an older backup (docs/OPERATIONS.md).
    CloseStatusLists {
        /// Authority id or DID (default: every authority).
        #[arg(long)]
        authority: Option<String>,
    },
    /// Find issued credentials by jti, indexed claim or holder DID.
    Search {
        #[arg(long)]
        jti: Option<String>,
        #[arg(long)]
        contract: Option<String>,
        #[arg(long, requires = "contract")]
        claim: Option<String>,
        #[arg(long)]
        subject: Option<String>,
    },
}

fn print_credential(v: &serde_json::Value) {
    println!(
        "{}  {}  holder {}  index {}  {}",
        v["jti"].as_str().unwrap_or_default(),
        v["status"].as_str().unwrap_or_default(),
        v["subject"].as_str().unwrap_or_default(),
        v["statusIndex"],
        v["revocationReason"]
            .as_str()
            .or(v["suspensionReason"].as_str())
            .unwrap_or_default()
    );
}

/// Which issued credentials a revoke, suspend or resume is about.
#[derive(Debug, Args)]
pub struct Selection {
    #[arg(long, conflicts_with_all = ["contract", "claim"])]
    jti: Option<String>,
    #[arg(long)]
    contract: Option<String>,
    #[arg(long, requires = "contract")]
    claim: Option<String>,
}

/// POSTs a credential selection (`jti`, or `contract` + `claim`) with a reason to `path`.
async fn selection_call(
    c: &AdminClient,
    path: &str,
    which: &Selection,
    reason: &Option<String>,
) -> Result<Vec<serde_json::Value>, String> {
    let body = serde_json::json!({
        "jti": which.jti, "contract": which.contract, "claim": which.claim, "reason": reason
    });
    let body = serde_json::Value::Object(
        body.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    required(c.call(Method::POST, path, Some(body)).await?)
}

impl AdminAction for CredentialCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        let list: Vec<serde_json::Value> = match self {
            Self::Revoke { which, reason } => {
                selection_call(c, "/credentials/revoke", which, reason).await?
            }
            Self::Suspend { which, reason } => {
                selection_call(c, "/credentials/suspend", which, reason).await?
            }
            Self::Resume { which, reason } => {
                selection_call(c, "/credentials/resume", which, reason).await?
            }
            Self::CloseStatusLists { authority } => {
                let body = match authority {
                    Some(a) => serde_json::json!({ "authority": a }),
                    None => serde_json::json!({}),
                };
                let answer: serde_json::Value = required(
                    c.call(Method::POST, "/status-lists/close", Some(body))
                        .await?,
                )?;
                if json {
                    return print_json(&answer);
                }
                println!(
                    "closed {} status list(s); new credentials get indices of new lists",
                    answer["closed"]
                );
                return Ok(());
            }
            Self::Search {
                jti,
                contract,
                claim,
                subject,
            } => {
                let mut q = Vec::new();
                for (k, v) in [
                    ("jti", jti),
                    ("contract", contract),
                    ("claim", claim),
                    ("subject", subject),
                ] {
                    if let Some(v) = v {
                        q.push(format!("{k}={}", enc(v)));
                    }
                }
                required(
                    c.call(Method::GET, &format!("/credentials?{}", q.join("&")), None)
                        .await?,
                )?
            }
        };
        if json {
            return print_json(&list);
        }
        if list.is_empty() {
            println!("no credentials");
        }
        list.iter().for_each(print_credential);
        Ok(())
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Resolves server URL and admin token, then runs the subcommand.
pub async fn run<C: Subcommand + AdminAction>(
    remote: &Remote<C>,
    config_file: Option<&Path>,
) -> Result<(), String> {
    let client = connect(remote, config_file)?;
    remote.command.execute(&client, remote.json).await
}

/// Runs `verity domain verify`; the exit status carries the verdict.
pub async fn run_domain(
    remote: &Remote<DomainCommand>,
    config_file: Option<&Path>,
) -> Result<ExitCode, String> {
    let client = connect(remote, config_file)?;
    remote.command.execute(&client, remote.json).await
}

/// The admin client for the server and token the options (or the configuration) name.
fn connect<C: Subcommand>(
    remote: &Remote<C>,
    config_file: Option<&Path>,
) -> Result<AdminClient, String> {
    let config = Config::load(config_file).ok();
    let base = match (&remote.server, &config) {
        (Some(s), _) => s.trim_end_matches('/').to_owned(),
        (None, Some(c)) => c.public_url_for_port(c.server.bind.port()),
        (None, None) => "http://localhost:8080".to_owned(),
    };
    let token = match &remote.admin_token {
        Some(t) => t.clone(),
        None => {
            let cfg = config.unwrap_or_default();
            if let Some(t) = &cfg.auth.admin_token {
                t.expose().to_owned()
            } else {
                let path = cfg.admin_token_file();
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_owned())
                    .map_err(|e| {
                        format!(
                            "no admin token: pass --admin-token or VERITY_ADMIN_TOKEN ({}: {e})",
                            path.display()
                        )
                    })?
            }
        }
    };
    let anchors = match &remote.ca_cert {
        Some(path) => {
            verity_did::tls::load_trust_anchors(&[path]).map_err(|e| format!("--ca-cert: {e}"))?
        }
        None => Vec::new(),
    };
    let http = verity_did::tls::apply_trust(reqwest::Client::builder(), &anchors, true)?
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(AdminClient { http, base, token })
}

/// Why the server could not be reached; a refused certificate is named by its cause.
fn reach_error(url: &str, e: &reqwest::Error) -> String {
    match verity_did::tls::certificate_cause(e) {
        Some(cause) => format!(
            "cannot reach {url}: TLS certificate refused: {cause} (--ca-cert / VERITY_CA_CERT)"
        ),
        None => format!("cannot reach {url}: {e}"),
    }
}

/// Who runs the CLI, as the audit log records it next to the admin token: `cli:<user>`.
fn cli_principal() -> String {
    let user = std::env::var("VERITY_PRINCIPAL")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    if user.is_empty() {
        "cli".to_owned()
    } else {
        format!("cli:{user}")
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries (admin actions and revocations), oldest first.
    List {
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many entries (1-1000, default 100).
        #[arg(long)]
        limit: Option<u32>,
    },
}

impl AdminAction for AuditCommand {
    async fn execute(&self, c: &AdminClient, json: bool) -> Result<(), String> {
        let Self::List { since, limit } = self;
        let mut query = Vec::new();
        if let Some(s) = since {
            query.push(format!("since={}", enc(s)));
        }
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        let path = if query.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{}", query.join("&"))
        };
        let rows: Vec<serde_json::Value> = required(c.call(Method::GET, &path, None).await?)?;
        if json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("no audit entries");
        }
        for r in &rows {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            println!(
                "{}  {}  {}  {}  {}  {}",
                s("at"),
                s("actor"),
                s("action"),
                s("target"),
                s("outcome"),
                s("requestId")
            );
        }
        Ok(())
    }
}
