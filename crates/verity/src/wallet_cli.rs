//! `verity wallet`: the reference holder wallet on the command line. It speaks only HTTP to the
//! issuer/verifier, exactly as a phone wallet does, and keeps its keys in `<dir>/wallet.json`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use verity_wallet::{Algorithm, DidMethod, ReceiveOptions, Wallet, WalletConfig};

/// Options shared by the wallet subcommands.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// Wallet directory (holds wallet.json: keys and credentials, unencrypted).
    #[arg(
        long,
        global = true,
        env = "VERITY_WALLET_DIR",
        default_value = "wallet"
    )]
    dir: PathBuf,
    /// Allow plain http and loopback addresses (local development against `verity serve`); with
    /// `--ca-cert`, loopback addresses over https only.
    #[arg(long, global = true)]
    insecure_local: bool,
    /// PEM file of a CA certificate (an internal CA) to trust, in addition to the public roots.
    #[arg(long, global = true, env = "VERITY_CA_CERT")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(Debug, Subcommand)]
enum WalletCommand {
    /// Create a wallet with a new holder key and DID.
    Create {
        /// EdDSA (default), ES256 or ES256K.
        #[arg(long, default_value = "EdDSA")]
        alg: String,
        /// `jwk` (did:jwk, default) or `key` (did:key).
        #[arg(long, default_value = "jwk")]
        method: String,
    },
    /// Print the wallet's DID.
    Did,
    /// Receive a credential from an `openid-vc://` issuance URL or an OpenID4VCI
    /// `openid-credential-offer://` offer (pre-authorized code; `--pin` is its tx_code).
    Receive {
        url: String,
        /// PIN shown by the issuing app (an offer's transaction code).
        #[arg(long)]
        pin: Option<String>,
        /// Self-issued claim, `name=value` (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// An id_token for an idTokens attestation, `configuration-url=token` (repeatable).
        #[arg(long = "id-token", value_name = "CONFIG=TOKEN")]
        id_tokens: Vec<String>,
    },
    /// List the credentials in the wallet.
    List {
        /// Print raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answer an `openid-vc://` presentation request, or an OpenID4VP `openid4vp://` one (DCQL,
    /// `direct_post`), with matching credentials.
    Present {
        url: String,
        /// A JPEG or PNG selfie to upload when the verifier asks for a face check.
        #[arg(long)]
        selfie: Option<std::path::PathBuf>,
    },
}

fn split_pair(s: &str, what: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| format!("{what} `{s}` must be NAME=VALUE"))
}

async fn receive_compat(
    wallet: &Wallet,
    url: &str,
    pin: &Option<String>,
    claims: &[String],
    id_tokens: &[String],
) -> Result<verity_wallet::StoredCredential, String> {
    let mut opts = ReceiveOptions {
        pin: pin.clone(),
        ..Default::default()
    };
    let mut self_issued = Map::new();
    for c in claims {
        let (k, v) = split_pair(c, "--claim")?;
        self_issued.insert(k, Value::String(v));
    }
    opts.self_issued = self_issued;
    for t in id_tokens {
        let (k, v) = split_pair(t, "--id-token")?;
        opts.id_tokens.insert(k, v);
    }
    wallet.receive(url, opts).await.map_err(|e| e.to_string())
}

fn print_received(cred: &verity_wallet::StoredCredential) {
    println!(
        "received {} ({}) from {}",
        cred.types.last().cloned().unwrap_or_default(),
        cred.format.identifier(),
        cred.issuer
    );
    for (k, v) in &cred.claims {
        let shown = match v {
            Value::String(s) if s.len() > 80 => {
                let head: String = s.chars().take(40).collect();
                format!("{head}... ({} chars)", s.len())
            }
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {k}: {shown}");
    }
}

/// Runs a wallet subcommand.
pub async fn run(args: &WalletArgs) -> Result<(), String> {
    let config = if args.insecure_local {
        WalletConfig::local_development()
    } else {
        WalletConfig::default()
    };
    let config = match &args.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--ca-cert: cannot read {}: {e}", path.display()))?;
            let mut config = config
                .with_ca_pem(&pem)
                .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
            // A local server with a certificate of that CA is reached over https (did:web too).
            config.fetch_policy.allow_http_hosts.clear();
            config
        }
        None => config,
    };
    if let WalletCommand::Create { alg, method } = &args.command {
        let alg: Algorithm = alg.parse().map_err(|e| format!("--alg: {e}"))?;
        let method: DidMethod = method.parse().map_err(|e| format!("--method: {e}"))?;
        let w = Wallet::create_with_config(&args.dir, alg, method, config)
            .map_err(|e| e.to_string())?;
        println!("created wallet {} for {}", w.path().display(), w.did());
        return Ok(());
    }
    let wallet = Wallet::open_with_config(&args.dir, config).map_err(|e| e.to_string())?;
    match &args.command {
        WalletCommand::Create { .. } => Ok(()),
        WalletCommand::Did => {
            println!("{}", wallet.did());
            Ok(())
        }
        WalletCommand::Receive {
            url,
            pin,
            claims,
            id_tokens,
        } => {
            let cred = if url
                .trim_start()
                .starts_with(verity_wallet::CREDENTIAL_OFFER_SCHEME)
            {
                if !claims.is_empty() || !id_tokens.is_empty() {
                    return Err(
                        "--claim and --id-token do not apply to a credential offer: its claims come from the issuer"
                            .into(),
                    );
                }
                let opts = verity_wallet::OfferOptions {
                    tx_code: pin.clone(),
                    holder: None,
                };
                wallet
                    .receive_offer(url, &opts)
                    .await
                    .map_err(|e| e.to_string())?
            } else {
                receive_compat(&wallet, url, pin, claims, id_tokens).await?
            };
            print_received(&cred);
            Ok(())
        }
        WalletCommand::List { json } => {
            let creds = wallet.credentials();
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&creds).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            if creds.is_empty() {
                println!("no credentials");
            }
            for c in &creds {
                println!(
                    "{}  from {}  id {}",
                    c.types.last().cloned().unwrap_or_default(),
                    c.issuer,
                    c.id.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        WalletCommand::Present { url, selfie } => {
            // Read before presenting: a missing file must not leave a face check waiting.
            let selfie = match selfie {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("cannot read the selfie {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let p = wallet.present(url).await.map_err(|e| e.to_string())?;
            println!(
                "presented {} as {} (HTTP {})",
                p.descriptors.join(", "),
                p.holder,
                p.status
            );
            match (p.face_check_upload().is_some(), selfie) {
                (false, _) => Ok(()),
                (true, None) => Err(
                    "the verifier asks for a face check: present again with --selfie <JPEG or PNG>"
                        .into(),
                ),
                (true, Some(image)) => {
                    let (status, body) = wallet
                        .upload_selfie(&p, &image)
                        .await
                        .map_err(|e| e.to_string())?;
                    if (200..300).contains(&status) {
                        println!(
                            "face check passed (score {})",
                            body["faceCheck"]["matchConfidenceScore"]
                        );
                        Ok(())
                    } else {
                        Err(format!(
                            "face check refused (HTTP {status}): {}",
                            body["error"]["innererror"]["message"]
                                .as_str()
                                .unwrap_or_default()
                        ))
                    }
                }
            }
        }
    }
}
