//! A local OpenLDAP server for the demo and for tests: [`LocalSlapd`] runs the distribution's
//! `slapd` with its own `slapd.conf`, an mdb database seeded with `slapadd`, both in a
//! temporary directory, listening on a loopback port only. It never touches the system
//! service, its configuration or its data, and the server is killed when the value is dropped.
//!
//! ```text
//! find_installation()   slapd, slapadd, the schema directory (inetorgperson.schema) and the
//!                       back_mdb module; VERITY_SLAPD_SCHEMA_DIR / VERITY_SLAPD_MODULE_DIR
//!                       override the two directories
//! LocalSlapd::start     slapd.conf (core, cosine, inetorgperson; the ACL lines, then
//!                       "userPassword: anonymous auth" and "everything else: none"),
//!                       slapadd the seed, slapd -h ldap://127.0.0.1:{port}/, wait until it listens
//! demo_seed(), demo_acl(), demo_directory_config()
//!                       the Contoso demo directory (demo/directory.ldif plus demo/photos)
//! ```

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use verity_core::Secret;

use crate::config::{LdapConfig, MfaReregistrationFlag};
use crate::error::DirectoryError;

/// The demo directory's suffix.
pub const DEMO_SUFFIX: &str = "dc=contoso,dc=example";
/// Where the demo employees live.
pub const DEMO_PEOPLE_DN: &str = "ou=people,dc=contoso,dc=example";
/// The demo helpdesk service account.
pub const DEMO_SERVICE_DN: &str = "cn=helpdesk,ou=services,dc=contoso,dc=example";
/// The demo service account's password (public: it is in `demo/directory.ldif`).
pub const DEMO_SERVICE_PASSWORD: &str = "demo-helpdesk-pass";
/// Megan Bowen (`uid=megan`, `megan@contoso.example`) signs in with this.
pub const DEMO_MEGAN_PASSWORD: &str = "demo-pass-megan";
/// Alex Wilber (`uid=alex`, `alex@contoso.example`) signs in with this.
pub const DEMO_ALEX_PASSWORD: &str = "demo-pass-alex";
/// Adele Vance (`uid=adele`) has left (`employeeType: disabled`); her password still binds.
pub const DEMO_ADELE_PASSWORD: &str = "demo-pass-adele";
/// The attribute and value the demo flags MFA re-registration with.
pub const DEMO_MFA_FLAG: (&str, &str) = ("employeeType", "mfa-reregister");

const DEMO_LDIF: &str = include_str!("../demo/directory.ldif");
/// `(uid, JPEG)`: each becomes the `jpegPhoto` of `uid={uid},ou=people,dc=contoso,dc=example`.
const DEMO_PHOTOS: [(&str, &[u8]); 3] = [
    ("megan", include_bytes!("../demo/photos/megan.jpg")),
    ("alex", include_bytes!("../demo/photos/alex.jpg")),
    ("adele", include_bytes!("../demo/photos/adele.jpg")),
];

/// How long [`LocalSlapd::start`] waits for the server to listen, unless told otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the OpenLDAP programs and files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlapdInstallation {
    pub slapd: PathBuf,
    pub slapadd: PathBuf,
    /// Holds `core.schema`, `cosine.schema` and `inetorgperson.schema`.
    pub schema_dir: PathBuf,
    /// Holds the `back_mdb` module.
    pub module_dir: PathBuf,
}

/// Finds slapd, slapadd, the schema directory and the back_mdb module on `PATH` and in the
/// usual places; [`DirectoryError::SlapdNotInstalled`] names whatever is missing.
pub fn find_installation() -> Result<SlapdInstallation, DirectoryError> {
    let slapd = find_program("slapd");
    let slapadd = find_program("slapadd");
    let schema_dir = find_dir(
        "VERITY_SLAPD_SCHEMA_DIR",
        &[
            "/etc/ldap/schema",
            "/etc/openldap/schema",
            "/usr/local/etc/openldap/schema",
        ],
        |d| d.join("inetorgperson.schema").is_file(),
    );
    let arch_dir = format!("/usr/lib/{}-linux-gnu/ldap", std::env::consts::ARCH);
    let module_dir = find_dir(
        "VERITY_SLAPD_MODULE_DIR",
        &[
            "/usr/lib/ldap",
            &arch_dir,
            "/usr/lib64/openldap",
            "/usr/lib/openldap",
            "/usr/local/libexec/openldap",
        ],
        |d| d.join("back_mdb.so").exists() || d.join("back_mdb.la").exists(),
    );
    match (slapd, slapadd, schema_dir, module_dir) {
        (Some(slapd), Some(slapadd), Some(schema_dir), Some(module_dir)) => Ok(SlapdInstallation {
            slapd,
            slapadd,
            schema_dir,
            module_dir,
        }),
        (slapd, slapadd, schema_dir, module_dir) => {
            let missing: Vec<&str> = [
                (slapd.is_none(), "the slapd program"),
                (slapadd.is_none(), "the slapadd program"),
                (
                    schema_dir.is_none(),
                    "the schema directory with inetorgperson.schema (or set VERITY_SLAPD_SCHEMA_DIR)",
                ),
                (
                    module_dir.is_none(),
                    "the back_mdb module (or set VERITY_SLAPD_MODULE_DIR)",
                ),
            ]
            .into_iter()
            .filter_map(|(absent, what)| absent.then_some(what))
            .collect();
            Err(DirectoryError::SlapdNotInstalled {
                missing: missing.join(", "),
            })
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_dir(env: &str, candidates: &[&str], ok: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(env) {
        // An explicit setting is used or reported missing, never silently replaced.
        let dir = PathBuf::from(dir);
        return ok(&dir).then_some(dir);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|d| ok(d.as_path()))
}

/// What [`LocalSlapd::start`] runs.
#[derive(Debug, Clone)]
pub struct SlapdOptions {
    /// The database suffix, e.g. `dc=contoso,dc=example`; the seed's entries live under it.
    pub suffix: String,
    /// The LDIF text `slapadd` loads (the suffix entry first).
    pub seed_ldif: String,
    /// `access to ... by ...` clauses, one per string, in order, before the closing defaults
    /// (`userPassword`: anonymous auth; everything else: none).
    pub acl: Vec<String>,
    /// The loopback port; 0 picks a free one.
    pub port: u16,
    /// The password of the root DN `cn=admin,{suffix}`; `None` (the default): nobody can bind
    /// as root.
    pub root_password: Option<Secret>,
    /// Where OpenLDAP is; `None`: [`find_installation`].
    pub installation: Option<SlapdInstallation>,
    /// How long to wait for the server to listen.
    pub start_timeout: Duration,
}

impl SlapdOptions {
    /// A server for `suffix` seeded with `seed_ldif`, on a free port, with no extra ACL.
    pub fn new(suffix: impl Into<String>, seed_ldif: impl Into<String>) -> Self {
        Self {
            suffix: suffix.into(),
            seed_ldif: seed_ldif.into(),
            acl: Vec::new(),
            port: 0,
            root_password: None,
            installation: None,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// The Contoso demo directory: [`demo_options`].
    pub fn demo() -> Self {
        demo_options()
    }

    fn root_dn(&self) -> String {
        format!("cn=admin,{}", self.suffix)
    }

    fn check(&self) -> Result<(), DirectoryError> {
        let bad = |s: &str| s.chars().any(|c| c.is_control() || c == '"' || c == '\\');
        if !self.suffix.contains('=') || bad(&self.suffix) {
            return Err(DirectoryError::Config {
                field: "slapd.suffix",
                reason: format!(
                    "{:?} is not a DN without quotes, backslashes or control characters",
                    self.suffix
                ),
            });
        }
        if self.seed_ldif.trim().is_empty() {
            return Err(DirectoryError::Config {
                field: "slapd.seed_ldif",
                reason: "must hold at least the suffix entry".into(),
            });
        }
        for line in &self.acl {
            // One clause a line: no way to slip another directive into slapd.conf.
            if !line.starts_with("access to ") || line.chars().any(char::is_control) {
                return Err(DirectoryError::Config {
                    field: "slapd.acl",
                    reason: format!("{line:?} is not one line starting with \"access to \""),
                });
            }
        }
        if let Some(pw) = &self.root_password
            && (pw.expose().is_empty() || bad(pw.expose()) || pw.expose().contains(' '))
        {
            return Err(DirectoryError::Config {
                field: "slapd.root_password",
                reason:
                    "must not be empty or hold spaces, quotes, backslashes or control characters"
                        .into(),
            });
        }
        if self.start_timeout.is_zero() {
            return Err(DirectoryError::Config {
                field: "slapd.start_timeout",
                reason: "must be longer than zero".into(),
            });
        }
        Ok(())
    }
}

/// A running slapd; see the module documentation. Dropping it kills the server and deletes
/// its configuration and database.
#[derive(Debug)]
pub struct LocalSlapd {
    url: String,
    port: u16,
    suffix: String,
    root_dn: String,
    child: Child,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

fn failed(step: &str, reason: impl Into<String>) -> DirectoryError {
    DirectoryError::Slapd {
        step: step.into(),
        reason: reason.into(),
    }
}

/// Free loopback ports are found by binding port 0 and releasing it; another process may take
/// it in between, so an automatic port is tried this many times.
const PORT_ATTEMPTS: usize = 3;

impl LocalSlapd {
    /// Writes the configuration, loads the seed and starts slapd; returns once it listens.
    pub async fn start(options: SlapdOptions) -> Result<Self, DirectoryError> {
        options.check()?;
        let installation = match &options.installation {
            Some(i) => i.clone(),
            None => find_installation()?,
        };
        let prepared = {
            let options = options.clone();
            let installation = installation.clone();
            tokio::task::spawn_blocking(move || prepare(&options, &installation))
                .await
                .map_err(|e| failed("the preparation", e.to_string()))??
        };
        let attempts = if options.port == 0 { PORT_ATTEMPTS } else { 1 };
        let mut last_error = failed("the start", "no attempt made");
        for _ in 0..attempts {
            let port = match options.port {
                0 => free_port()?,
                fixed => {
                    // A server already on the port would answer our readiness probe.
                    TcpListener::bind((Ipv4Addr::LOCALHOST, fixed)).map_err(|e| {
                        failed("the start", format!("port {fixed} on 127.0.0.1: {e}"))
                    })?;
                    fixed
                }
            };
            match run(&installation, &prepared, port, options.start_timeout).await {
                Ok(child) => {
                    return Ok(Self {
                        url: format!("ldap://127.0.0.1:{port}"),
                        port,
                        suffix: options.suffix.clone(),
                        root_dn: options.root_dn(),
                        child,
                        _dir: prepared.dir,
                    });
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// `ldap://127.0.0.1:{port}`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// `cn=admin,{suffix}`; binds only when [`SlapdOptions::root_password`] was set.
    pub fn root_dn(&self) -> &str {
        &self.root_dn
    }

    /// Stops the server now (dropping it does the same).
    pub fn stop(self) {}
}

impl Drop for LocalSlapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration and database, ready for slapd.
struct Prepared {
    dir: tempfile::TempDir,
    conf: PathBuf,
    log: PathBuf,
}

fn quoted(path: &Path) -> Result<String, DirectoryError> {
    let text = path.display().to_string();
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(failed(
            "the configuration",
            format!("the path {text:?} holds a quote or control character"),
        ));
    }
    Ok(format!("\"{text}\""))
}

/// Writes slapd.conf and loads the seed with slapadd (blocking).
fn prepare(
    options: &SlapdOptions,
    installation: &SlapdInstallation,
) -> Result<Prepared, DirectoryError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| failed("the preparation", format!("{what}: {e}"))
    };
    let dir = tempfile::Builder::new()
        .prefix("verity-slapd-")
        .tempdir()
        .map_err(io("a temporary directory"))?;
    let db = dir.path().join("db");
    std::fs::create_dir(&db).map_err(io("the database directory"))?;
    let schema = &installation.schema_dir;
    let mut conf = String::new();
    for name in ["core", "cosine", "inetorgperson"] {
        conf += &format!(
            "include {}\n",
            quoted(&schema.join(format!("{name}.schema")))?
        );
    }
    conf += &format!(
        "modulepath {}\nmoduleload back_mdb\npidfile {}\nargsfile {}\n\n\
         database mdb\nsuffix \"{suffix}\"\nrootdn \"{root}\"\ndirectory {}\n",
        quoted(&installation.module_dir)?,
        quoted(&dir.path().join("slapd.pid"))?,
        quoted(&dir.path().join("slapd.args"))?,
        quoted(&db)?,
        suffix = options.suffix,
        root = options.root_dn(),
    );
    if let Some(pw) = &options.root_password {
        conf += &format!("rootpw {}\n", pw.expose());
    }
    for line in &options.acl {
        conf += line;
        conf.push('\n');
    }
    conf += "access to attrs=userPassword\n  by anonymous auth\n  by * none\naccess to *\n  by * none\n";
    let conf_path = dir.path().join("slapd.conf");
    std::fs::write(&conf_path, conf).map_err(io("slapd.conf"))?;
    let ldif = dir.path().join("seed.ldif");
    std::fs::write(&ldif, &options.seed_ldif).map_err(io("seed.ldif"))?;

    let out = Command::new(&installation.slapadd)
        .arg("-f")
        .arg(&conf_path)
        .arg("-l")
        .arg(&ldif)
        .arg("-q")
        .stdin(Stdio::null())
        .output()
        .map_err(io(&format!("running {}", installation.slapadd.display())))?;
    if !out.status.success() {
        return Err(failed(
            "loading the seed with slapadd",
            format!(
                "{}: {}",
                out.status,
                last_lines(&String::from_utf8_lossy(&out.stderr))
            ),
        ));
    }
    let log = dir.path().join("slapd.log");
    Ok(Prepared {
        conf: conf_path,
        log,
        dir,
    })
}

/// The last few lines of a program's output, for an error message.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    if tail.is_empty() {
        "no output".into()
    } else {
        tail.join(" | ")
    }
}

/// A free loopback port never handed out before in this process: the probe socket is closed
/// before slapd binds, so without the record two servers started at once could be given the
/// same port, and one's readiness probe would reach the other.
fn free_port() -> Result<u16, DirectoryError> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| failed("the start", format!("no free loopback port: {e}")))?;
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err(failed(
        "the start",
        "no loopback port that this process has not used already",
    ))
}

/// Starts slapd on `port` and waits until it accepts connections.
async fn run(
    installation: &SlapdInstallation,
    prepared: &Prepared,
    port: u16,
    timeout: Duration,
) -> Result<Child, DirectoryError> {
    let log = std::fs::File::create(&prepared.log)
        .map_err(|e| failed("the start", format!("slapd.log: {e}")))?;
    let mut child = Command::new(&installation.slapd)
        .arg("-f")
        .arg(&prepared.conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        // Any debug level keeps slapd in the foreground, so the child is the server itself.
        .arg("-d")
        .arg("0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| {
            failed(
                "the start",
                format!("running {}: {e}", installation.slapd.display()),
            )
        })?;
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let output = std::fs::read_to_string(&prepared.log).unwrap_or_default();
                return Err(failed(
                    "the start",
                    format!(
                        "slapd on port {port} exited with {status}: {}",
                        last_lines(&output)
                    ),
                ));
            }
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed("the start", format!("waiting for slapd: {e}")));
            }
        }
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            // Something listens; it is ours only if our slapd is still running (one that lost
            // the port to another process has exited, and is retried on another port).
            tokio::time::sleep(step).await;
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(child);
            }
            continue;
        }
        if waited >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(
                "the start",
                format!(
                    "slapd did not listen on 127.0.0.1:{port} within {} ms",
                    timeout.as_millis()
                ),
            ));
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// The Contoso demo directory on a free port: suffix [`DEMO_SUFFIX`], [`demo_seed`],
/// [`demo_acl`]. Pair it with [`demo_directory_config`].
pub fn demo_options() -> SlapdOptions {
    let mut options = SlapdOptions::new(DEMO_SUFFIX, demo_seed());
    options.acl = demo_acl();
    options
}

/// The demo directory: `demo/directory.ldif` with each employee's photo from `demo/photos`
/// embedded as `jpegPhoto::` (base64) after their `dn:` line.
pub fn demo_seed() -> String {
    let mut ldif = DEMO_LDIF.replace("\r\n", "\n");
    for (uid, jpeg) in DEMO_PHOTOS {
        let dn_line = format!("dn: uid={uid},{DEMO_PEOPLE_DN}\n");
        let photo = base64::engine::general_purpose::STANDARD.encode(jpeg);
        ldif = ldif.replace(&dn_line, &format!("{dn_line}jpegPhoto:: {photo}\n"));
    }
    ldif
}

/// The demo ACL: the helpdesk account reads everything, sets passwords (Password Modify),
/// writes the profile fields employees may change, and adds or removes only the MFA flag
/// value (`employeeType: mfa-reregister`, not `disabled`); employees may only bind.
pub fn demo_acl() -> Vec<String> {
    let helpdesk = format!("dn.exact=\"{DEMO_SERVICE_DN}\"");
    let (flag_attribute, flag_value) = DEMO_MFA_FLAG;
    vec![
        format!("access to attrs=userPassword by {helpdesk} write by anonymous auth by * none"),
        format!("access to attrs={flag_attribute} val={flag_value} by {helpdesk} write by * none"),
        format!(
            "access to attrs=title,preferredLanguage,mobile,physicalDeliveryOfficeName by {helpdesk} write by * none"
        ),
        format!("access to * by {helpdesk} read by * none"),
    ]
}

/// The helpdesk's LDAP configuration for the demo directory at `url` (with the MFA flag).
pub fn demo_directory_config(url: &str) -> LdapConfig {
    let (attribute, value) = DEMO_MFA_FLAG;
    LdapConfig {
        url: url.to_owned(),
        starttls: false,
        bind_dn: DEMO_SERVICE_DN.to_owned(),
        bind_password: Secret::new(DEMO_SERVICE_PASSWORD),
        base_dn: DEMO_PEOPLE_DN.to_owned(),
        object_class: "inetOrgPerson".to_owned(),
        upn_attribute: "mail".to_owned(),
        disabled_attribute: "employeeType".to_owned(),
        disabled_value: "disabled".to_owned(),
        mfa_reregistration_flag: Some(MfaReregistrationFlag {
            attribute: attribute.to_owned(),
            value: value.to_owned(),
        }),
        timeout_ms: 5_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_embeds_every_photo_as_a_jpeg() {
        let seed = demo_seed();
        let photos: Vec<&str> = seed
            .lines()
            .filter_map(|l| l.strip_prefix("jpegPhoto:: "))
            .collect();
        assert_eq!(photos.len(), DEMO_PHOTOS.len(), "one per demo employee");
        for photo in photos {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(photo)
                .unwrap();
            assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
        }
        for password in [
            DEMO_SERVICE_PASSWORD,
            DEMO_MEGAN_PASSWORD,
            DEMO_ALEX_PASSWORD,
            DEMO_ADELE_PASSWORD,
        ] {
            assert!(
                seed.contains(&format!("userPassword: {password}\n")),
                "{password}"
            );
        }
        assert!(
            demo_directory_config("ldap://127.0.0.1:389")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn options_refuse_what_would_break_or_extend_slapd_conf() {
        let mut o = SlapdOptions::new(DEMO_SUFFIX, "dn: dc=contoso,dc=example\n");
        assert!(o.check().is_ok());
        o.acl = vec!["access to * by * read\ninclude /elsewhere".into()];
        assert!(matches!(
            o.check(),
            Err(DirectoryError::Config {
                field: "slapd.acl",
                ..
            })
        ));
        o.acl = vec!["moduleload back_sql".into()];
        assert!(o.check().is_err());
        o.acl.clear();
        o.suffix = "dc=x\"\nrootpw x".into();
        assert!(matches!(
            o.check(),
            Err(DirectoryError::Config {
                field: "slapd.suffix",
                ..
            })
        ));
    }
}
