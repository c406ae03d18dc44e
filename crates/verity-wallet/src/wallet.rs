//! The wallet: holder keys and received credentials in one local JSON file.
//!
//! `<dir>/wallet.json` holds every key as base64url secret bytes (verity-jose's documented
//! per-algorithm format) plus its algorithm, and every credential as received. **The reference
//! wallet does not encrypt this file**: it is protected only by its mode (0600 on unix, inside
//! a 0700 directory the wallet creates) and must be treated like an SSH private key. Writes go
//! to a temporary file in the same directory which is then renamed over the old file, so a
//! crash leaves either the old or the new wallet, never half of one. Opening does not check the
//! mode, but every write creates the file afresh with 0600. Two processes writing the same
//! wallet at once is not supported: the last write wins.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verity_did::{CompositeResolver, DidResolver, HttpFetcher, did_jwk_from_jwk, did_key_from_jwk};
use verity_jose::{Algorithm, Jwk, SigningKey};
use zeroize::Zeroize;

use crate::config::WalletConfig;
use crate::error::WalletError;
use crate::http::Http;

/// File name of the wallet inside its directory.
pub const WALLET_FILE: &str = "wallet.json";

/// The `format` member of the wallet file this version reads and writes.
const FORMAT: &str = "verity-wallet/1";

/// How a holder key is turned into a DID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DidMethod {
    /// `did:jwk` (base64url of the public JWK); the key id is `<did>#0`.
    Jwk,
    /// `did:key` (multibase multicodec public key); the key id is `<did>#<multibase>`.
    Key,
}

impl DidMethod {
    /// `jwk` or `key`.
    pub fn as_str(self) -> &'static str {
        match self {
            DidMethod::Jwk => "jwk",
            DidMethod::Key => "key",
        }
    }
}

impl fmt::Display for DidMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DidMethod {
    type Err = String;

    /// Accepts `jwk`, `key`, `did:jwk` and `did:key`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("did:").unwrap_or(s) {
            "jwk" => Ok(DidMethod::Jwk),
            "key" => Ok(DidMethod::Key),
            other => Err(format!(
                "unsupported DID method `{other}` (supported: jwk, key)"
            )),
        }
    }
}

/// The DID and full key id (`did#fragment`) of a public key under `method`.
pub fn holder_did_for(jwk: &Jwk, method: DidMethod) -> Result<(String, String), WalletError> {
    let bad = |e: verity_did::DidError| WalletError::HolderKey {
        reason: format!("cannot form a did:{method} for the key: {e}"),
    };
    match method {
        DidMethod::Jwk => {
            let did = did_jwk_from_jwk(jwk).map_err(bad)?;
            let kid = format!("{did}#0");
            Ok((did, kid))
        }
        DidMethod::Key => {
            let did = did_key_from_jwk(jwk).map_err(bad)?;
            let fragment = did.trim_start_matches("did:key:").to_owned();
            let kid = format!("{did}#{fragment}");
            Ok((did, kid))
        }
    }
}

/// How a stored credential is encoded and bound to its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFormat {
    /// A VCDM 1.1 JWT-VC bound to the holder's DID (`sub`): the hosted profile's credentials
    /// and OpenID4VCI `jwt_vc_json`. Files written before formats existed hold only these.
    #[default]
    JwtVc,
    /// An SD-JWT VC (`dc+sd-jwt`): `<issuer-jwt>~<disclosure>~...~`, bound to the holder's key
    /// by `cnf.jwk`; presented with only the disclosures asked for and a Key Binding JWT.
    SdJwtVc,
}

impl CredentialFormat {
    /// The OpenID4VC format identifier (`jwt_vc_json` or `dc+sd-jwt`).
    pub fn identifier(self) -> &'static str {
        match self {
            CredentialFormat::JwtVc => "jwt_vc_json",
            CredentialFormat::SdJwtVc => "dc+sd-jwt",
        }
    }
}

/// A credential the wallet received and verified.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    /// The credential's `jti` (e.g. `urn:uuid:...`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How `jwt` is encoded.
    #[serde(default)]
    pub format: CredentialFormat,
    /// The credential exactly as issued: a JWT-VC, or an SD-JWT VC with all its disclosures.
    pub jwt: String,
    /// The issuer (`iss`, a DID).
    pub issuer: String,
    /// The holder DID it is bound to: `sub` of a JWT-VC; for an SD-JWT VC the `did:jwk` of its
    /// `cnf.jwk`, which is one of this wallet's keys.
    pub subject: String,
    /// `vc.type`, e.g. `["VerifiableCredential", "VerifiedEmployee"]`; an SD-JWT VC's `[vct]`.
    pub types: Vec<String>,
    /// `vc.credentialSubject` without its `id`; every claim of an SD-JWT VC, disclosed.
    pub claims: Map<String, Value>,
    /// When the wallet stored it.
    pub received_at: DateTime<Utc>,
    /// `exp`, when the credential has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for StoredCredential {
    // The JWT is a presentable credential and the claims are personal data: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("format", &self.format)
            .field("jwt", &format_args!("[redacted; {} bytes]", self.jwt.len()))
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("types", &self.types)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .field("received_at", &self.received_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl StoredCredential {
    /// The credential's specific type: the last entry that is not `VerifiableCredential`.
    pub fn credential_type(&self) -> Option<&str> {
        self.types
            .iter()
            .rev()
            .map(String::as_str)
            .find(|t| *t != "VerifiableCredential")
    }
}

/// Public facts about one holder key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// The holder DID.
    pub did: String,
    /// The full key id written into JWS headers.
    pub kid: String,
    /// The key's algorithm.
    pub alg: Algorithm,
    /// The DID method.
    pub method: DidMethod,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// True for the key the wallet uses unless told otherwise.
    pub active: bool,
}

/// A loaded holder key.
#[derive(Debug, Clone)]
pub(crate) struct HolderKey {
    pub did: String,
    pub kid: String,
    pub method: DidMethod,
    pub key: Arc<SigningKey>,
    pub created_at: DateTime<Utc>,
}

/// Base64url secret bytes as stored in the file; redacted in Debug, zeroed on drop.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredSecret(String);

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for StoredSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyEntry {
    did: String,
    kid: String,
    method: DidMethod,
    alg: Algorithm,
    /// `SigningKey::to_secret_bytes`, base64url without padding.
    secret: StoredSecret,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WalletFile {
    format: String,
    /// Always false: a visible reminder that the reference wallet stores keys in the clear.
    encrypted: bool,
    active: String,
    keys: Vec<KeyEntry>,
    #[serde(default)]
    credentials: Vec<StoredCredential>,
}

#[derive(Debug)]
struct State {
    active: String,
    keys: Vec<HolderKey>,
    credentials: Vec<StoredCredential>,
}

/// A holder wallet backed by `<dir>/wallet.json`.
pub struct Wallet {
    path: PathBuf,
    state: Mutex<State>,
    config: WalletConfig,
    resolver: Arc<dyn DidResolver>,
    http: Http,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Wallet")
            .field("path", &self.path)
            .field("active", &st.active)
            .field("keys", &st.keys.len())
            .field("credentials", &st.credentials.len())
            .finish()
    }
}

impl Wallet {
    /// Creates a wallet in `dir` with one fresh key of `alg` under `did_method`, using the
    /// default (strict) configuration. Refuses to overwrite an existing wallet.
    pub fn create(
        dir: impl AsRef<Path>,
        alg: Algorithm,
        did_method: DidMethod,
    ) -> Result<Wallet, WalletError> {
        Self::create_with_config(dir, alg, did_method, WalletConfig::default())
    }

    /// [`Wallet::create`] with an explicit configuration.
    pub fn create_with_config(
        dir: impl AsRef<Path>,
        alg: Algorithm,
        did_method: DidMethod,
        config: WalletConfig,
    ) -> Result<Wallet, WalletError> {
        let dir = dir.as_ref();
        let path = dir.join(WALLET_FILE);
        if path.exists() {
            return Err(WalletError::WalletExists { path });
        }
        ensure_private_dir(dir)?;
        let key = new_holder_key(alg, did_method, config.clock.now())?;
        let state = State {
            active: key.did.clone(),
            keys: vec![key],
            credentials: Vec::new(),
        };
        let wallet = Self::assemble(path, state, config)?;
        wallet.persist(&wallet.lock())?;
        Ok(wallet)
    }

    /// Opens the wallet in `dir` with the default (strict) configuration.
    pub fn open(dir: impl AsRef<Path>) -> Result<Wallet, WalletError> {
        Self::open_with_config(dir, WalletConfig::default())
    }

    /// [`Wallet::open`] with an explicit configuration.
    pub fn open_with_config(
        dir: impl AsRef<Path>,
        config: WalletConfig,
    ) -> Result<Wallet, WalletError> {
        let path = dir.as_ref().join(WALLET_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WalletError::WalletNotFound { path });
            }
            Err(source) => {
                return Err(WalletError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let state = parse_file(&path, &bytes)?;
        Self::assemble(path, state, config)
    }

    fn assemble(path: PathBuf, state: State, config: WalletConfig) -> Result<Wallet, WalletError> {
        let fetcher =
            HttpFetcher::new(config.fetch_policy.clone()).map_err(|e| WalletError::Config {
                reason: format!("cannot build the DID fetcher: {e}"),
            })?;
        let resolver = Arc::new(CompositeResolver::standard(
            fetcher,
            config.clock.clone(),
            config.did_cache_ttl,
        ));
        let http = Http::new(&config.fetch_policy, config.max_response_bytes)?;
        Ok(Wallet {
            path,
            state: Mutex::new(state),
            config,
            resolver,
            http,
        })
    }

    /// Replaces the DID resolver (tests, or a caching resolver shared with other code).
    pub fn with_resolver(mut self, resolver: Arc<dyn DidResolver>) -> Wallet {
        self.resolver = resolver;
        self
    }

    /// The wallet file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in force.
    pub fn config(&self) -> &WalletConfig {
        &self.config
    }

    /// The active holder DID.
    pub fn did(&self) -> String {
        self.lock().active.clone()
    }

    /// The active holder key id (`did#fragment`).
    pub fn kid(&self) -> String {
        let st = self.lock();
        st.keys
            .iter()
            .find(|k| k.did == st.active)
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    }

    /// The public JWK of holder `did` (the active one when `None`).
    pub fn public_jwk(&self, did: Option<&str>) -> Result<Jwk, WalletError> {
        Ok(self.holder(did)?.key.public_jwk())
    }

    /// Every holder key, oldest first.
    pub fn holders(&self) -> Vec<HolderInfo> {
        let st = self.lock();
        st.keys
            .iter()
            .map(|k| HolderInfo {
                did: k.did.clone(),
                kid: k.kid.clone(),
                alg: k.key.algorithm(),
                method: k.method,
                created_at: k.created_at,
                active: k.did == st.active,
            })
            .collect()
    }

    /// Adds a fresh holder key and returns its DID; the active key stays as it was.
    pub fn add_key(&self, alg: Algorithm, did_method: DidMethod) -> Result<String, WalletError> {
        let key = new_holder_key(alg, did_method, self.config.clock.now())?;
        let did = key.did.clone();
        let mut st = self.lock();
        if !st.keys.iter().any(|k| k.did == did) {
            st.keys.push(key);
        }
        self.persist(&st)?;
        Ok(did)
    }

    /// Makes `did` the active holder.
    pub fn set_active(&self, did: &str) -> Result<(), WalletError> {
        let mut st = self.lock();
        if !st.keys.iter().any(|k| k.did == did) {
            return Err(WalletError::UnknownHolder {
                did: did.to_owned(),
            });
        }
        st.active = did.to_owned();
        self.persist(&st)
    }

    /// Every stored credential, oldest first.
    pub fn credentials(&self) -> Vec<StoredCredential> {
        self.lock().credentials.clone()
    }

    /// Removes the credential whose `id` (jti) or JWT is `id_or_jwt`; true when one was removed.
    pub fn remove_credential(&self, id_or_jwt: &str) -> Result<bool, WalletError> {
        let mut st = self.lock();
        let before = st.credentials.len();
        st.credentials
            .retain(|c| c.jwt != id_or_jwt && c.id.as_deref() != Some(id_or_jwt));
        if st.credentials.len() == before {
            return Ok(false);
        }
        self.persist(&st)?;
        Ok(true)
    }

    /// Stores a verified credential (replacing an identical JWT) and writes the file.
    pub(crate) fn store_credential(&self, cred: StoredCredential) -> Result<(), WalletError> {
        let mut st = self.lock();
        st.credentials.retain(|c| c.jwt != cred.jwt);
        st.credentials.push(cred);
        self.persist(&st)
    }

    /// The holder key for `did`, the active one when `None`.
    pub(crate) fn holder(&self, did: Option<&str>) -> Result<HolderKey, WalletError> {
        let st = self.lock();
        let want = did.unwrap_or(&st.active);
        st.keys
            .iter()
            .find(|k| k.did == want)
            .cloned()
            .ok_or_else(|| WalletError::UnknownHolder {
                did: want.to_owned(),
            })
    }

    /// True when `did` is one of this wallet's holder DIDs.
    pub(crate) fn owns(&self, did: &str) -> bool {
        self.lock().keys.iter().any(|k| k.did == did)
    }

    pub(crate) fn resolver(&self) -> &dyn DidResolver {
        self.resolver.as_ref()
    }

    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    /// Unix seconds from the configured clock.
    pub(crate) fn now(&self) -> i64 {
        self.config.clock.unix()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, st: &State) -> Result<(), WalletError> {
        let file = WalletFile {
            format: FORMAT.to_owned(),
            encrypted: false,
            active: st.active.clone(),
            keys: st
                .keys
                .iter()
                .map(|k| KeyEntry {
                    did: k.did.clone(),
                    kid: k.kid.clone(),
                    method: k.method,
                    alg: k.key.algorithm(),
                    secret: StoredSecret(URL_SAFE_NO_PAD.encode(&*k.key.to_secret_bytes())),
                    created_at: k.created_at,
                })
                .collect(),
            credentials: st.credentials.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| WalletError::Config {
            reason: format!("cannot serialise the wallet: {e}"),
        })?;
        bytes.push(b'\n');
        let result = write_atomically(&self.path, &bytes);
        bytes.zeroize();
        result
    }
}

fn new_holder_key(
    alg: Algorithm,
    method: DidMethod,
    now: DateTime<Utc>,
) -> Result<HolderKey, WalletError> {
    let key = SigningKey::generate(alg).map_err(|e| WalletError::HolderKey {
        reason: format!("cannot generate a {alg} key: {e}"),
    })?;
    let (did, kid) = holder_did_for(&key.public_jwk(), method)?;
    Ok(HolderKey {
        did,
        kid,
        method,
        key: Arc::new(key),
        created_at: now,
    })
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<State, WalletError> {
    let corrupt = |reason: String| WalletError::CorruptWalletFile {
        path: path.to_owned(),
        reason,
    };
    let file: WalletFile = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(format!(
            "format is `{}`, this version reads `{FORMAT}`",
            file.format
        )));
    }
    if file.encrypted {
        return Err(corrupt(
            "the file says it is encrypted; this wallet does not encrypt its file".into(),
        ));
    }
    let mut keys = Vec::with_capacity(file.keys.len());
    for (i, entry) in file.keys.iter().enumerate() {
        let secret = zeroize::Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(&entry.secret.0)
                .map_err(|_| corrupt(format!("keys[{i}].secret is not unpadded base64url")))?,
        );
        let key = SigningKey::from_secret_bytes(entry.alg, &secret)
            .map_err(|e| corrupt(format!("keys[{i}].secret is not a {} key: {e}", entry.alg)))?;
        // The DID is derived from the key: a mismatch means the file was edited inconsistently.
        let (did, kid) = holder_did_for(&key.public_jwk(), entry.method)?;
        if did != entry.did || kid != entry.kid {
            return Err(corrupt(format!(
                "keys[{i}]: the stored did/kid do not belong to the stored key"
            )));
        }
        keys.push(HolderKey {
            did,
            kid,
            method: entry.method,
            key: Arc::new(key),
            created_at: entry.created_at,
        });
    }
    if !keys.iter().any(|k| k.did == file.active) {
        return Err(corrupt(format!(
            "the active DID `{}` has no key in the file",
            file.active
        )));
    }
    Ok(State {
        active: file.active.clone(),
        keys,
        credentials: file.credentials,
    })
}

/// Creates `dir` (mode 0700 on unix) when it does not exist yet.
fn ensure_private_dir(dir: &Path) -> Result<(), WalletError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| WalletError::Io {
        action: "create directory",
        path: dir.to_owned(),
        source,
    })
}

/// Writes `bytes` to a fresh temporary file (mode 0600) next to `path`, syncs it, and renames it
/// over `path`, so readers see the old or the new file and never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(".{WALLET_FILE}.{}.tmp", uuid::Uuid::new_v4()));
    let io = |action: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| WalletError::Io {
            action,
            path: p,
            source,
        }
    };
    let write = || -> Result<(), WalletError> {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("rename into place", path))?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable; failure here leaves a complete file either way.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity_did::{Relationship, resolve_did_jwk, resolve_did_key};

    fn cred(jwt: &str) -> StoredCredential {
        StoredCredential {
            id: Some(format!("urn:uuid:{jwt}")),
            format: CredentialFormat::JwtVc,
            jwt: jwt.into(),
            issuer: "did:web:issuer.example".into(),
            subject: "did:jwk:x".into(),
            types: vec!["VerifiableCredential".into(), "VerifiedEmployee".into()],
            claims: serde_json::from_value(serde_json::json!({"givenName": "Megan"})).unwrap(),
            received_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            expires_at: None,
        }
    }

    #[test]
    fn holder_kids_resolve_to_the_key_under_authentication() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg).unwrap();
            for method in [DidMethod::Jwk, DidMethod::Key] {
                let (did, kid) = holder_did_for(&key.public_jwk(), method).unwrap();
                let doc = match method {
                    DidMethod::Jwk => resolve_did_jwk(&did).unwrap(),
                    DidMethod::Key => resolve_did_key(&did).unwrap(),
                };
                let jwk = doc.key_for(&kid, Relationship::Authentication).unwrap();
                assert_eq!(
                    jwk.thumbprint().unwrap(),
                    key.public_jwk().thumbprint().unwrap()
                );
            }
        }
    }

    #[test]
    fn create_open_list_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::create(dir.path(), Algorithm::ES256, DidMethod::Key).unwrap();
        assert!(w.did().starts_with("did:key:z"));
        assert!(w.kid().starts_with(&format!("{}#z", w.did())));
        let second = w.add_key(Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        assert!(second.starts_with("did:jwk:"));
        w.store_credential(cred("a")).unwrap();
        w.store_credential(cred("b")).unwrap();
        w.store_credential(cred("a")).unwrap(); // same JWT replaces, never duplicates

        let again = Wallet::open(dir.path()).unwrap();
        assert_eq!(again.did(), w.did());
        assert_eq!(again.holders(), w.holders());
        assert_eq!(again.credentials(), vec![cred("b"), cred("a")]);
        assert_eq!(again.public_jwk(None).unwrap(), w.public_jwk(None).unwrap());
        assert_eq!(
            again.public_jwk(Some(&second)).unwrap().crv.as_deref(),
            Some("Ed25519")
        );

        again.set_active(&second).unwrap();
        assert_eq!(Wallet::open(dir.path()).unwrap().did(), second);
        assert!(again.remove_credential("urn:uuid:b").unwrap());
        assert!(!again.remove_credential("urn:uuid:b").unwrap());
        assert_eq!(
            Wallet::open(dir.path()).unwrap().credentials(),
            vec![cred("a")]
        );
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![WALLET_FILE.to_owned()]);
    }

    #[test]
    fn file_format_stores_alg_and_base64url_secret() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::create(dir.path(), Algorithm::ES256K, DidMethod::Jwk).unwrap();
        let v: Value = serde_json::from_slice(&fs::read(w.path()).unwrap()).unwrap();
        assert_eq!(v["format"], "verity-wallet/1");
        assert_eq!(v["encrypted"], false);
        assert_eq!(v["active"], w.did());
        let k = &v["keys"][0];
        assert_eq!(k["alg"], "ES256K");
        assert_eq!(k["method"], "jwk");
        let secret = URL_SAFE_NO_PAD
            .decode(k["secret"].as_str().unwrap())
            .unwrap();
        let key = SigningKey::from_secret_bytes(Algorithm::ES256K, &secret).unwrap();
        assert_eq!(key.public_jwk(), w.public_jwk(None).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn file_mode_is_0600_and_new_directory_0700() {
        use std::os::unix::fs::PermissionsExt as _;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("nested").join("wallet");
        let w = Wallet::create(&dir, Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(w.path()), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // A rewrite keeps the mode even if someone loosened it in between.
        fs::set_permissions(w.path(), fs::Permissions::from_mode(0o644)).unwrap();
        w.add_key(Algorithm::ES256, DidMethod::Key).unwrap();
        assert_eq!(mode(w.path()), 0o600);
    }

    #[test]
    fn create_refuses_to_overwrite_and_open_needs_a_wallet() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Wallet::open(dir.path()).unwrap_err().code(), "WALLET-003");
        Wallet::create(dir.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        let e = Wallet::create(dir.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap_err();
        assert_eq!(e.code(), "WALLET-002");
    }

    #[test]
    fn unknown_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::create(dir.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        assert_eq!(
            w.set_active("did:jwk:nope").unwrap_err().code(),
            "WALLET-006"
        );
        assert_eq!(
            w.public_jwk(Some("did:jwk:nope")).unwrap_err().code(),
            "WALLET-006"
        );
    }

    #[test]
    fn corrupt_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::create(dir.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        let good: Value = serde_json::from_slice(&fs::read(w.path()).unwrap()).unwrap();
        let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["format"] = "verity-wallet/9".into()),
                "format",
            ),
            (Box::new(|v| v["encrypted"] = true.into()), "encrypted"),
            (
                Box::new(|v| v["active"] = "did:jwk:gone".into()),
                "active DID",
            ),
            (
                Box::new(|v| v["keys"][0]["secret"] = "***".into()),
                "base64url",
            ),
            (
                Box::new(|v| v["keys"][0]["secret"] = "AAAA".into()),
                "not a EdDSA key",
            ),
            (
                Box::new(move |v| {
                    v["keys"][0]["secret"] =
                        URL_SAFE_NO_PAD.encode(&*other.to_secret_bytes()).into()
                }),
                "do not belong",
            ),
            (Box::new(|v| v["keys"] = "x".into()), "invalid type"),
        ];
        for (mutate, why) in cases {
            let mut v = good.clone();
            mutate(&mut v);
            fs::write(w.path(), serde_json::to_vec(&v).unwrap()).unwrap();
            let e = Wallet::open(dir.path()).unwrap_err();
            assert_eq!(e.code(), "WALLET-004", "{why}: {e}");
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
        fs::write(w.path(), b"not json").unwrap();
        assert_eq!(Wallet::open(dir.path()).unwrap_err().code(), "WALLET-004");
    }

    #[test]
    fn debug_output_redacts_keys_tokens_and_claim_values() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::create(dir.path(), Algorithm::EdDSA, DidMethod::Jwk).unwrap();
        let mut c = cred("secret-jwt-value");
        c.id = Some("urn:uuid:1".into());
        w.store_credential(c).unwrap();
        let file = fs::read_to_string(w.path()).unwrap();
        let v: Value = serde_json::from_str(&file).unwrap();
        let secret = v["keys"][0]["secret"].as_str().unwrap().to_owned();
        let debug = format!("{w:?} {:?} {:?}", w.credentials(), w.holder(None).unwrap());
        assert!(!debug.contains(&secret));
        assert!(!debug.contains("secret-jwt-value"));
        assert!(!debug.contains("Megan"));
        assert!(debug.contains("givenName"));
    }

    #[test]
    fn did_method_parses() {
        assert_eq!("jwk".parse::<DidMethod>().unwrap(), DidMethod::Jwk);
        assert_eq!("did:key".parse::<DidMethod>().unwrap(), DidMethod::Key);
        assert!("web".parse::<DidMethod>().unwrap_err().contains("jwk, key"));
    }

    #[test]
    fn credential_type_skips_the_base_type() {
        assert_eq!(cred("a").credential_type(), Some("VerifiedEmployee"));
    }
}
