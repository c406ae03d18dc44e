//! `LdapDirectory` against a real OpenLDAP `slapd`, started per test on a loopback port with
//! its own configuration and database in a temporary directory (never the system service).
//! Without slapd the tests print a note and pass, unless VERITY_TEST_REQUIRE_LDAP=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use verity_core::Secret;
use verity_helpdesk::config::LdapConfig;
use verity_helpdesk::ldap::LdapDirectory;
use verity_helpdesk::{Action, ActionOutcome, Directory, DirectoryError, EmployeeId, EmployeeKey};

const SUFFIX: &str = "dc=example,dc=test";
const SERVICE_DN: &str = "cn=helpdesk,ou=services,dc=example,dc=test";
const SERVICE_PASSWORD: &str = "s3rvice-pass";
const READER_DN: &str = "cn=reader,ou=services,dc=example,dc=test";
const READER_PASSWORD: &str = "reader-pass";
const ALEX_DN: &str = "uid=alex,ou=people,dc=example,dc=test";

/// A small JPEG-headed blob with bytes that are not UTF-8, so it travels as binary.
fn alex_photo() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    b.extend((0u8..=255).rev());
    b.extend([0xFF, 0xD9]);
    b
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn person(uid: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n{extra}\n"
    )
}

fn seed() -> String {
    let mut ldif = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: helpdesk\nuserPassword: {SERVICE_PASSWORD}\n\n\
         dn: {READER_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PASSWORD}\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n"
    );
    ldif += &person(
        "alex",
        &format!(
            "sn: Wilber\ngivenName: Alex\ndisplayName: Alex Wilber\ntitle: Helpdesk Analyst\n\
             mail: alex@example.test\npreferredLanguage: en-GB\nemployeeType: staff\nuserPassword: old-pass\njpegPhoto:: {}\n",
            b64(&alex_photo())
        ),
    );
    ldif += &person(
        "megan",
        "sn: Bowen\ndisplayName: Megan Bowen\nmail: megan@example.test\nemployeeType: disabled\n",
    );
    ldif += &person(
        "pat",
        "sn: Doe\ndisplayName: Pat Doe\nmail: pat@example.test\nemployeeType: contractor\nemployeeType: Disabled\n",
    );
    ldif += &person(
        "sam",
        "sn: Lee\ndisplayName: Sam Lee\nmail: sam@example.test\njpegPhoto: not a jpeg\n",
    );
    ldif += &person(
        "twin1",
        "sn: One\ndisplayName: Twin One\nmail: shared@example.test\n",
    );
    ldif += &person(
        "twin2",
        "sn: Two\ndisplayName: Twin Two\nmail: shared@example.test\n",
    );
    ldif += &person("nameless", "sn: Nameless\nmail: nameless@example.test\n");
    ldif
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn schema_dir() -> Option<PathBuf> {
    std::env::var_os("VERITY_TEST_LDAP_SCHEMA_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/etc/ldap/schema")))
        .filter(|d| d.join("inetorgperson.schema").is_file())
}

fn module_dir() -> Option<PathBuf> {
    [
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/lib64/openldap",
        "/usr/lib/openldap",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|d| d.join("back_mdb.so").exists())
}

/// A free loopback port: bind 0, read it, release it for slapd.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Slapd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a seeded slapd, or `None` (with a note) when it is not installed and not required.
async fn slapd() -> Option<Slapd> {
    let required = std::env::var("VERITY_TEST_REQUIRE_LDAP").is_ok_and(|v| v == "1");
    let (Some(slapd), Some(slapadd), Some(schema), Some(modules)) = (
        find_program("slapd"),
        find_program("slapadd"),
        schema_dir(),
        module_dir(),
    ) else {
        assert!(
            !required,
            "VERITY_TEST_REQUIRE_LDAP=1 but slapd, slapadd, the schema or back_mdb is missing"
        );
        eprintln!(
            "note: slapd not installed (apt-get install slapd ldap-utils); LDAP test skipped"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let conf = dir.path().join("slapd.conf");
    let s = |p: &Path| p.display().to_string();
    std::fs::write(
        &conf,
        format!(
            "include {schema}/core.schema\ninclude {schema}/cosine.schema\ninclude {schema}/inetorgperson.schema\n\
             modulepath {modules}\nmoduleload back_mdb\npidfile {pid}\n\
             database mdb\nsuffix \"{SUFFIX}\"\nrootdn \"cn=admin,{SUFFIX}\"\ndirectory {db}\n\
             access to attrs=userPassword\n  by dn.exact=\"{SERVICE_DN}\" write\n  by anonymous auth\n  by * none\n\
             access to *\n  by dn.exact=\"{SERVICE_DN}\" read\n  by dn.exact=\"{READER_DN}\" read\n  by * none\n",
            schema = s(&schema),
            modules = s(&modules),
            pid = s(&dir.path().join("slapd.pid")),
            db = s(&db),
        ),
    )
    .unwrap();
    let ldif = dir.path().join("seed.ldif");
    std::fs::write(&ldif, seed()).unwrap();
    let out = Command::new(&slapadd)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slapadd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let url = format!("ldap://127.0.0.1:{port}");
    let mut child = Command::new(&slapd)
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(format!("{url}/"))
        .arg("-d")
        .arg("0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("slapd exited at start-up with {status}");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(Slapd {
                child,
                url,
                _dir: dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    panic!("slapd did not listen on {url} within 5 s");
}

fn config(url: &str, dn: &str, password: &str) -> LdapConfig {
    toml::from_str(&format!(
        "url = {url:?}\nbind_dn = {dn:?}\nbind_password = {password:?}\nbase_dn = \"ou=people,{SUFFIX}\"\ntimeout_ms = 3000\n"
    ))
    .unwrap()
}

fn directory(server: &Slapd) -> LdapDirectory {
    LdapDirectory::new(config(&server.url, SERVICE_DN, SERVICE_PASSWORD)).unwrap()
}

#[tokio::test]
async fn finds_by_uid_mail_and_upn_with_every_profile_field() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let by_uid = dir.find(&EmployeeKey::Uid("alex".into())).await.unwrap();
    assert_eq!(by_uid.id, EmployeeId(ALEX_DN.into()));
    let p = &by_uid.profile;
    assert_eq!(p.display_name, "Alex Wilber");
    assert_eq!(p.given_name.as_deref(), Some("Alex"));
    assert_eq!(p.surname.as_deref(), Some("Wilber"));
    assert_eq!(p.job_title.as_deref(), Some("Helpdesk Analyst"));
    assert_eq!(p.mail.as_deref(), Some("alex@example.test"));
    assert_eq!(p.preferred_language.as_deref(), Some("en-GB"));
    assert_eq!(
        p.user_principal_name, "alex@example.test",
        "upn_attribute defaults to mail"
    );
    assert!(p.enabled);

    let by_mail = dir
        .find(&EmployeeKey::Mail("alex@example.test".into()))
        .await
        .unwrap();
    assert_eq!(by_mail, by_uid);
    let by_upn = dir
        .find(&EmployeeKey::UserPrincipalName("alex@example.test".into()))
        .await
        .unwrap();
    assert_eq!(by_upn, by_uid);

    let megan = dir.find(&EmployeeKey::Uid("megan".into())).await.unwrap();
    assert!(!megan.profile.enabled, "employeeType: disabled");
    assert_eq!(megan.profile.given_name, None);
}

#[tokio::test]
async fn photo_bytes_round_trip_and_absence_and_non_jpeg() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let photo = dir.photo(&EmployeeId(ALEX_DN.into())).await.unwrap();
    assert_eq!(photo, Some(alex_photo()));

    let megan = dir.find(&EmployeeKey::Uid("megan".into())).await.unwrap();
    assert_eq!(dir.photo(&megan.id).await.unwrap(), None);

    let sam = dir.find(&EmployeeKey::Uid("sam".into())).await.unwrap();
    let err = dir.photo(&sam.id).await.unwrap_err();
    assert!(matches!(err, DirectoryError::InvalidEntry { .. }), "{err}");
    assert!(err.to_string().contains("not a JPEG"), "{err}");

    let err = dir
        .photo(&EmployeeId(format!("uid=ghost,ou=people,{SUFFIX}")))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn not_found_ambiguous_and_invalid_entries_are_distinct_errors() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let err = dir
        .find(&EmployeeKey::Uid("ghost".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no employee with uid \"ghost\" in the LDAP directory"
    );

    // A filter metacharacter in the key is escaped, not interpreted.
    let err = dir.find(&EmployeeKey::Uid("*".into())).await.unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");

    let err = dir
        .find(&EmployeeKey::Mail("shared@example.test".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Ambiguous { count: 2, .. }),
        "{err}"
    );

    let err = dir
        .find(&EmployeeKey::Uid("nameless".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::InvalidEntry { .. }), "{err}");
    assert!(err.to_string().contains("no displayName"), "{err}");
}

#[tokio::test]
async fn wrong_bind_password_and_unreachable_server_are_distinct_and_never_show_the_secret() {
    let Some(server) = slapd().await else { return };
    let wrong = LdapDirectory::new(config(&server.url, SERVICE_DN, "not-the-password")).unwrap();
    let err = wrong
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::CredentialsRejected { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(SERVICE_DN), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-password"));

    let closed = format!("ldap://127.0.0.1:{}", free_port());
    let down = LdapDirectory::new(config(&closed, SERVICE_DN, SERVICE_PASSWORD)).unwrap();
    let err = down
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&closed), "{err}");
    assert!(!format!("{err} {err:?} {down:?}").contains(SERVICE_PASSWORD));
}

#[tokio::test]
async fn lists_disabled_employees_case_insensitively() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let disabled = dir.disabled().await.unwrap();
    let uids: Vec<&str> = disabled.iter().map(|e| e.id.0.as_str()).collect();
    assert_eq!(
        uids,
        [
            format!("uid=megan,ou=people,{SUFFIX}"),
            format!("uid=pat,ou=people,{SUFFIX}")
        ],
        "megan (disabled) and pat (Disabled), nobody else"
    );
    assert!(disabled.iter().all(|e| !e.profile.enabled));
}

#[tokio::test]
async fn password_reset_returns_a_working_generated_password() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let id = EmployeeId(ALEX_DN.into());
    let ActionOutcome::PasswordReset { new_password } = dir
        .perform(&id, &Action::ResetPassword, now())
        .await
        .unwrap()
    else {
        panic!("expected a password reset");
    };
    assert_eq!(format!("{new_password:?}"), "[redacted]");
    // The employee can bind with the new password, not with the old one.
    let as_alex = LdapDirectory::new(config(&server.url, ALEX_DN, new_password.expose())).unwrap();
    let err = as_alex
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::NotFound { .. }),
        "bound fine, but may not read people: {err}"
    );
    let old = LdapDirectory::new(config(&server.url, ALEX_DN, "old-pass")).unwrap();
    let err = old
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::CredentialsRejected { .. }),
        "{err}"
    );

    // A reader account may not write passwords.
    let reader = LdapDirectory::new(config(&server.url, READER_DN, READER_PASSWORD)).unwrap();
    let err = reader
        .perform(&id, &Action::ResetPassword, now())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn access_pass_and_mfa_reregistration_are_unsupported_with_a_reason() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let id = EmployeeId(ALEX_DN.into());
    let tap = Action::TemporaryAccessPass {
        lifetime_minutes: 60,
        usable_once: true,
    };
    for action in [tap, Action::RequireMfaReregistration] {
        let err = dir.perform(&id, &action, now()).await.unwrap_err();
        assert!(matches!(err, DirectoryError::Unsupported { .. }), "{err}");
        assert!(
            err.to_string().starts_with("the LDAP directory cannot"),
            "{err}"
        );
    }
}

/// A config field and a change that breaks it.
type Change = Box<dyn Fn(&mut LdapConfig)>;

#[test]
fn config_checks_name_the_field() {
    let ok = config("ldap://127.0.0.1:389", SERVICE_DN, "pw");
    assert!(LdapDirectory::new(ok.clone()).is_ok());
    let cases: [(&str, Change); 5] = [
        ("ldap.url", Box::new(|c| c.url = "http://host".into())),
        ("ldap.url", Box::new(|c| c.url = "not a url".into())),
        (
            "ldap.starttls",
            Box::new(|c| {
                c.url = "ldaps://host".into();
                c.starttls = true;
            }),
        ),
        (
            "ldap.bind_password",
            Box::new(|c| c.bind_password = Secret::new("")),
        ),
        ("ldap.base_dn", Box::new(|c| c.base_dn = " ".into())),
    ];
    for (field, change) in cases {
        let mut c = ok.clone();
        change(&mut c);
        let err = LdapDirectory::new(c).unwrap_err();
        assert!(
            matches!(err, DirectoryError::Config { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    let unknown = toml::from_str::<LdapConfig>(
        "url = \"ldap://h\"\nbind_dn = \"x\"\nbind_password = \"y\"\nbase_dn = \"z\"\nbind_pw = \"oops\"\n",
    );
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `bind_pw`")
    );
    assert!(
        !format!("{ok:?}").contains("\"pw\""),
        "the password never prints"
    );
}
