//! What `serve` and `init` share before a request is answered: the data directory, development
//! secrets, the store, the KEK check and first-run objects (tenant, authority, API client).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;
use verity_core::{Clock, Secret};
use verity_jose::KeyEncryptionKey;
use verity_store::{Authority, Store, Tenant};

use crate::authorities::{self, AuthorityError};
use crate::config::{Config, ConfigError, Mode, is_local_host};
use crate::credentials::{self, ADMIN_TOKEN_PREFIX, CLIENT_SECRET_PREFIX, Pepper};

/// Start-up failures, each naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] verity_store::StoreError),
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error("key-encryption key: {0}")]
    Kek(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Other(String),
}

/// Where the admin token came from, for the start-up banner (never the token itself).
#[derive(Debug, Clone)]
pub enum AdminTokenSource {
    Config,
    File { path: PathBuf, created: bool },
}

impl std::fmt::Display for AdminTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config => f.write_str("set in configuration (auth.admin_token)"),
            Self::File { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

/// Everything the service needs that start-up prepares.
#[derive(Debug)]
pub struct Prepared {
    pub store: Arc<dyn Store>,
    pub kek: Arc<KeyEncryptionKey>,
    /// The root of derived secrets (pepper, OpenID4VCI keys), stored sealed under the KEK.
    pub subkeys: Arc<verity_jose::SubkeyRoot>,
    pub pepper: Pepper,
    pub admin_token: Secret,
    pub admin_token_source: AdminTokenSource,
    pub tenant: Tenant,
    /// The authority created on this start (first run only).
    pub created_authority: Option<Authority>,
}

/// Prepares data directory, secrets, store and first-run objects.
pub async fn prepare(
    config: &Config,
    public_url: &str,
    clock: &dyn Clock,
    store: Option<Arc<dyn Store>>,
) -> Result<Prepared, StartupError> {
    let data_dir = &config.server.data_dir;
    let db_url = config.database_url();
    if db_url.starts_with("sqlite")
        || config.keys.kek.is_none()
        || config.auth.admin_token.is_none()
    {
        fs::create_dir_all(data_dir).map_err(|source| StartupError::Io {
            what: "cannot create data directory",
            path: data_dir.clone(),
            source,
        })?;
    }
    let kek = Arc::new(load_kek(config)?);
    let (admin_token, admin_token_source) = load_admin_token(config)?;
    let store = match store {
        Some(s) => s,
        None => verity_store::connect_with(&db_url, config.database.max_connections).await?,
    };
    let resealed = authorities::reseal_keys(store.as_ref(), &kek).await?;
    if resealed > 0 {
        tracing::info!(keys = resealed, kek = %kek.id(), "KEK rotation: re-sealed keys under the new KEK");
    }
    authorities::check_kek(store.as_ref(), &kek).await?;
    let subkeys = Arc::new(authorities::subkey_root(store.as_ref(), &kek, clock).await?);
    let pepper = Pepper::new(*subkeys.derive_subkey(b"verity/credential-pepper/v1"));
    let tenant = match store.tenant_by_name(&config.bootstrap.tenant_name).await? {
        Some(t) => t,
        None => match store.list_tenants().await?.into_iter().next() {
            Some(t) => t,
            // Replicas started at the same moment on an empty database race here: the loser's
            // insert conflicts, and it uses the winner's tenant.
            None => match store
                .create_tenant(&config.bootstrap.tenant_name, clock.now())
                .await
            {
                Err(verity_store::StoreError::Conflict { .. }) => store
                    .tenant_by_name(&config.bootstrap.tenant_name)
                    .await?
                    .ok_or(verity_store::StoreError::NotFound {
                        entity: "tenant",
                        id: config.bootstrap.tenant_name.clone(),
                    })?,
                other => other?,
            },
        },
    };
    let mut created_authority = None;
    if config.bootstrap.create_default_authority && store.list_authorities(None).await?.is_empty() {
        let did = did_for_public_url(public_url)?;
        match authorities::create_authority(
            store.as_ref(),
            &kek,
            clock,
            tenant.id,
            &config.bootstrap.authority_name,
            &did,
            config.keys.default_algorithm,
        )
        .await
        {
            Ok(a) => {
                tracing::info!(did = %a.did, "created the first authority");
                created_authority = Some(a);
            }
            // Another replica starting at the same moment created it first.
            Err(AuthorityError::Store(verity_store::StoreError::Conflict { .. })) => {
                tracing::info!(did = %did, "the first authority was created by another replica");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Prepared {
        store,
        kek,
        subkeys,
        pepper,
        admin_token,
        admin_token_source,
        tenant,
        created_authority,
    })
}

/// A new API client; the secret is returned once and only its hash is stored.
pub async fn create_api_client(
    store: &dyn Store,
    pepper: &Pepper,
    clock: &dyn Clock,
    tenant: Uuid,
    name: &str,
) -> Result<(verity_store::ApiClient, Secret), StartupError> {
    let client_id = Uuid::new_v4().to_string();
    let secret = Secret::new(credentials::generate(CLIENT_SECRET_PREFIX));
    let client = store
        .create_api_client(
            tenant,
            &client_id,
            name,
            &pepper.hash(secret.expose()),
            clock.now(),
        )
        .await?;
    Ok((client, secret))
}

/// The did:web DID whose document lives at the root of `public_url`.
pub fn did_for_public_url(public_url: &str) -> Result<String, StartupError> {
    let url = url::Url::parse(public_url)
        .map_err(|e| StartupError::Other(format!("public URL `{public_url}`: {e}")))?;
    let host_port = crate::config::host_port(&url)
        .ok_or_else(|| StartupError::Other("public URL has no host".into()))?;
    Ok(verity_did::did_web_from_parts(&host_port, &[]))
}

/// The origin (`scheme://host[:port]/`) a did:web host is served from.
pub fn origin_for_host(host_port: &str, public_url: &str) -> String {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host_port
        }
    });
    let public_scheme = public_url.split("://").next().unwrap_or("https");
    let scheme = if is_local_host(host) {
        public_scheme
    } else {
        "https"
    };
    format!("{scheme}://{host_port}/")
}

/// The KEK, with `keys.other_kek` when a rotation is under way.
fn load_kek(config: &Config) -> Result<KeyEncryptionKey, StartupError> {
    let kek = load_own_kek(config)?;
    let Some(other) = &config.keys.other_kek else {
        return Ok(kek);
    };
    let other = KeyEncryptionKey::from_base64(other.expose())
        .map_err(|e| StartupError::Kek(format!("keys.other_kek: {e}")))?;
    if other.id() == kek.id() {
        return Err(StartupError::Kek(format!(
            "keys.other_kek is the same key as keys.kek (id {}): give the other KEK of the \
             rotation, or remove it",
            kek.id()
        )));
    }
    tracing::info!(kek = %kek.id(), other_kek = %other.id(), "KEK rotation: keys sealed under the other KEK open and are re-sealed");
    Ok(kek.with_other(other))
}

fn load_own_kek(config: &Config) -> Result<KeyEncryptionKey, StartupError> {
    if let Some(k) = &config.keys.kek {
        return KeyEncryptionKey::from_base64(k.expose())
            .map_err(|e| StartupError::Kek(format!("keys.kek: {e}")));
    }
    let (path, may_create) = match &config.keys.kek_file {
        Some(p) => (p.clone(), false),
        None => (
            config.server.data_dir.join("kek"),
            config.mode == Mode::Development,
        ),
    };
    if path.exists() {
        let text = read_secret_file(&path, "cannot read key-encryption key file")?;
        return KeyEncryptionKey::from_base64(text.expose().trim())
            .map_err(|e| StartupError::Kek(format!("{}: {e}", path.display())));
    }
    if !may_create {
        return Err(StartupError::Kek(format!(
            "{} does not exist (production mode never generates a key-encryption key)",
            path.display()
        )));
    }
    let (kek, encoded) = KeyEncryptionKey::generate();
    write_secret_file(&path, &encoded, "cannot write key-encryption key file")?;
    tracing::warn!(
        path = %path.display(),
        "development mode: generated a key-encryption key file; set keys.kek in production"
    );
    Ok(kek)
}

fn load_admin_token(config: &Config) -> Result<(Secret, AdminTokenSource), StartupError> {
    if let Some(t) = &config.auth.admin_token {
        if t.expose().len() < 24 {
            return Err(StartupError::Config(ConfigError::Invalid {
                key: "auth.admin_token",
                reason: "must be at least 24 characters".into(),
            }));
        }
        return Ok((t.clone(), AdminTokenSource::Config));
    }
    let path = config.admin_token_file();
    if path.exists() {
        let token = read_secret_file(&path, "cannot read admin token file")?;
        let token = Secret::new(token.expose().trim());
        return Ok((
            token,
            AdminTokenSource::File {
                path,
                created: false,
            },
        ));
    }
    let token = credentials::generate(ADMIN_TOKEN_PREFIX);
    write_secret_file(&path, &token, "cannot write admin token file")?;
    Ok((
        Secret::new(token),
        AdminTokenSource::File {
            path,
            created: true,
        },
    ))
}

fn read_secret_file(path: &Path, what: &'static str) -> Result<Secret, StartupError> {
    fs::read_to_string(path)
        .map(Secret::new)
        .map_err(|source| StartupError::Io {
            what,
            path: path.to_owned(),
            source,
        })
}

/// Writes a secret readable by the owner only.
pub fn write_secret_file(
    path: &Path,
    content: &str,
    what: &'static str,
) -> Result<(), StartupError> {
    let io = |source| StartupError::Io {
        what,
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(content.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_for_public_urls() {
        assert_eq!(
            did_for_public_url("http://localhost:8080").unwrap(),
            "did:web:localhost%3A8080"
        );
        assert_eq!(
            did_for_public_url("https://vc.example.com").unwrap(),
            "did:web:vc.example.com"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_for_host("localhost:8080", "http://localhost:8080"),
            "http://localhost:8080/"
        );
        assert_eq!(
            origin_for_host("example.com", "http://localhost:8080"),
            "https://example.com/"
        );
    }
}
