//! `LdapDirectory` against a real OpenLDAP `slapd`, started per test by
//! `verity_helpdesk::slapd::LocalSlapd` on a loopback port with its own configuration and
//! database in a temporary directory (never the system service). Without slapd the tests print
//! a note and pass, unless VERITY_TEST_REQUIRE_LDAP=1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ldap3::{LdapConnAsync, Mod, Scope, SearchEntry};
use verity_core::Secret;
use verity_helpdesk::config::{LdapConfig, MfaReregistrationFlag};
use verity_helpdesk::directory::ProfileField;
use verity_helpdesk::ldap::LdapDirectory;
use verity_helpdesk::slapd::{self, LocalSlapd, SlapdOptions};
use verity_helpdesk::{Action, ActionOutcome, Directory, DirectoryError, EmployeeId, EmployeeKey};

const SUFFIX: &str = "dc=example,dc=test";
const SERVICE_DN: &str = "cn=helpdesk,ou=services,dc=example,dc=test";
const SERVICE_PASSWORD: &str = "s3rvice-pass";
const READER_DN: &str = "cn=reader,ou=services,dc=example,dc=test";
const READER_PASSWORD: &str = "reader-pass";
const ALEX_DN: &str = "uid=alex,ou=people,dc=example,dc=test";
const MEGAN_PASSWORD: &str = "megan-pass";
const MFA_FLAG: (&str, &str) = ("employeeType", "mfa-reregister");

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
        &format!(
            "sn: Bowen\ndisplayName: Megan Bowen\nmail: megan@example.test\nemployeeType: disabled\nuserPassword: {MEGAN_PASSWORD}\n"
        ),
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
        "sn: One\ndisplayName: Twin One\nmail: shared@example.test\nuserPassword: twin-pass\n",
    );
    ldif += &person(
        "twin2",
        "sn: Two\ndisplayName: Twin Two\nmail: shared@example.test\nuserPassword: twin-pass\n",
    );
    ldif += &person("nameless", "sn: Nameless\nmail: nameless@example.test\n");
    ldif
}

/// The service account sets passwords, writes the profile fields and only the MFA flag value
/// of employeeType; the reader only reads.
fn acl() -> Vec<String> {
    let service = format!("dn.exact=\"{SERVICE_DN}\"");
    let reader = format!("dn.exact=\"{READER_DN}\"");
    let (flag_attr, flag_value) = MFA_FLAG;
    vec![
        format!("access to attrs=userPassword by {service} write by anonymous auth by * none"),
        format!(
            "access to attrs={flag_attr} val={flag_value} by {service} write by {reader} read by * none"
        ),
        format!(
            "access to attrs=title,preferredLanguage,mobile,physicalDeliveryOfficeName by {service} write by {reader} read by * none"
        ),
        format!("access to * by {service} read by {reader} read by * none"),
    ]
}

fn required() -> bool {
    std::env::var("VERITY_TEST_REQUIRE_LDAP").is_ok_and(|v| v == "1")
}

/// Starts slapd with `options`, or `None` (with a note) when it is not installed and not
/// required.
async fn start(options: SlapdOptions) -> Option<LocalSlapd> {
    match LocalSlapd::start(options).await {
        Ok(server) => Some(server),
        Err(e @ DirectoryError::SlapdNotInstalled { .. }) => {
            assert!(!required(), "VERITY_TEST_REQUIRE_LDAP=1 but {e}");
            eprintln!("note: {e}; LDAP test skipped");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The test directory: [`seed`] with [`acl`].
async fn slapd() -> Option<LocalSlapd> {
    let mut options = SlapdOptions::new(SUFFIX, seed());
    options.acl = acl();
    start(options).await
}

/// A free loopback port: bind 0, read it, release it.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(url: &str, dn: &str, password: &str) -> LdapConfig {
    toml::from_str(&format!(
        "url = {url:?}\nbind_dn = {dn:?}\nbind_password = {password:?}\nbase_dn = \"ou=people,{SUFFIX}\"\ntimeout_ms = 3000\n"
    ))
    .unwrap()
}

fn directory(server: &LocalSlapd) -> LdapDirectory {
    LdapDirectory::new(config(server.url(), SERVICE_DN, SERVICE_PASSWORD)).unwrap()
}

fn with_mfa_flag(mut config: LdapConfig) -> LdapConfig {
    config.mfa_reregistration_flag = Some(MfaReregistrationFlag {
        attribute: MFA_FLAG.0.into(),
        value: MFA_FLAG.1.into(),
    });
    config
}

/// The values of `attr` on `dn`, read as `bind_dn` directly with ldap3 (not through the
/// code under test).
async fn values(url: &str, bind_dn: &str, password: &str, dn: &str, attr: &str) -> Vec<String> {
    let (conn, mut ldap) = LdapConnAsync::new(url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(bind_dn, password)
        .await
        .unwrap()
        .success()
        .unwrap();
    let (entries, _) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", vec![attr])
        .await
        .unwrap()
        .success()
        .unwrap();
    let _ = ldap.unbind().await;
    let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
    entry
        .attrs
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v)
        .unwrap_or_default()
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
    let wrong = LdapDirectory::new(config(server.url(), SERVICE_DN, "not-the-password")).unwrap();
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
    let as_alex = LdapDirectory::new(config(server.url(), ALEX_DN, new_password.expose())).unwrap();
    let err = as_alex
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::NotFound { .. }),
        "bound fine, but may not read people: {err}"
    );
    let old = LdapDirectory::new(config(server.url(), ALEX_DN, "old-pass")).unwrap();
    let err = old
        .find(&EmployeeKey::Uid("alex".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::CredentialsRejected { .. }),
        "{err}"
    );

    // A reader account may not write passwords.
    let reader = LdapDirectory::new(config(server.url(), READER_DN, READER_PASSWORD)).unwrap();
    let err = reader
        .perform(&id, &Action::ResetPassword, now())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn access_pass_is_unsupported_and_says_the_app_keeps_passes() {
    let Some(server) = slapd().await else { return };
    let dir = with_flag_directory(&server, SERVICE_DN, SERVICE_PASSWORD);
    let tap = Action::TemporaryAccessPass {
        lifetime_minutes: 60,
        usable_once: true,
    };
    let err = dir
        .perform(&EmployeeId(ALEX_DN.into()), &tap, now())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unsupported { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("the LDAP directory cannot issue a temporary access pass"),
        "{text}"
    );
    assert!(text.contains("one-time passes in its own store"), "{text}");
}

fn with_flag_directory(server: &LocalSlapd, dn: &str, password: &str) -> LdapDirectory {
    LdapDirectory::new(with_mfa_flag(config(server.url(), dn, password))).unwrap()
}

#[tokio::test]
async fn sign_in_checks_the_password_and_refuses_unknown_and_wrong_alike() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let alex = dir
        .authenticate(&EmployeeKey::Uid("alex".into()), &Secret::new("old-pass"))
        .await
        .unwrap();
    assert_eq!(alex.id, EmployeeId(ALEX_DN.into()));
    assert_eq!(alex.profile.display_name, "Alex Wilber");
    assert_eq!(alex.profile.job_title.as_deref(), Some("Helpdesk Analyst"));
    let by_upn = dir
        .authenticate(
            &EmployeeKey::UserPrincipalName("alex@example.test".into()),
            &Secret::new("old-pass"),
        )
        .await
        .unwrap();
    assert_eq!(by_upn, alex);

    // A wrong password and an unknown employee read the same, apart from the key typed.
    let wrong = dir
        .authenticate(&EmployeeKey::Uid("alex".into()), &Secret::new("guess-1"))
        .await
        .unwrap_err();
    let unknown = dir
        .authenticate(&EmployeeKey::Uid("ghost".into()), &Secret::new("guess-1"))
        .await
        .unwrap_err();
    for err in [&wrong, &unknown] {
        assert!(
            matches!(
                err,
                DirectoryError::SignInRefused {
                    backend: "LDAP",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains("guess-1"));
    }
    assert_eq!(
        wrong.to_string(),
        "the LDAP directory refused the sign-in of uid \"alex\": unknown employee or wrong password"
    );
    assert_eq!(
        unknown.to_string().replace("ghost", "alex"),
        wrong.to_string()
    );

    // A key matching two entries, or a filter metacharacter, signs nobody in.
    for key in [
        EmployeeKey::Mail("shared@example.test".into()),
        EmployeeKey::Uid("*".into()),
    ] {
        let err = dir
            .authenticate(&key, &Secret::new("twin-pass"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DirectoryError::SignInRefused { .. }),
            "{key}: {err}"
        );
    }

    // The service account's own password is not an employee's.
    let err = dir
        .authenticate(
            &EmployeeKey::Uid("alex".into()),
            &Secret::new(SERVICE_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::SignInRefused { .. }), "{err}");
}

#[tokio::test]
async fn sign_in_refuses_an_empty_password_a_leaver_and_reports_a_dead_server() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    // An empty simple bind would be anonymous and succeed: it is never sent.
    let err = dir
        .authenticate(&EmployeeKey::Uid("alex".into()), &Secret::new(""))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::InvalidRequest {
                field: "password",
                ..
            }
        ),
        "{err}"
    );

    // Megan has left: the right password gets her own refusal, a wrong one the usual one.
    let err = dir
        .authenticate(
            &EmployeeKey::Uid("megan".into()),
            &Secret::new(MEGAN_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DirectoryError::EmployeeDisabled { id, .. } if id == &format!("uid=megan,ou=people,{SUFFIX}")),
        "{err}"
    );
    assert!(err.to_string().contains("is disabled"), "{err}");
    let err = dir
        .authenticate(&EmployeeKey::Uid("megan".into()), &Secret::new("nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::SignInRefused { .. }), "{err}");

    let closed = format!("ldap://127.0.0.1:{}", free_port());
    let down = LdapDirectory::new(config(&closed, SERVICE_DN, SERVICE_PASSWORD)).unwrap();
    let err = down
        .authenticate(&EmployeeKey::Uid("alex".into()), &Secret::new("old-pass"))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unreachable { .. }), "{err}");

    let wrong_service =
        LdapDirectory::new(config(server.url(), SERVICE_DN, "not-the-password")).unwrap();
    let err = wrong_service
        .authenticate(&EmployeeKey::Uid("alex".into()), &Secret::new("old-pass"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::CredentialsRejected { .. }),
        "a broken service account is not the employee's fault: {err}"
    );
}

#[tokio::test]
async fn set_password_makes_the_new_one_work_and_the_old_one_fail() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let id = EmployeeId(ALEX_DN.into());
    let alex = EmployeeKey::Uid("alex".into());
    let action = Action::SetPassword {
        new_password: Secret::new("chosen-by-alex-42"),
    };
    assert!(!format!("{action:?}").contains("chosen-by-alex-42"));
    assert_eq!(
        dir.perform(&id, &action, now()).await.unwrap(),
        ActionOutcome::PasswordSet
    );
    dir.authenticate(&alex, &Secret::new("chosen-by-alex-42"))
        .await
        .unwrap();
    let err = dir
        .authenticate(&alex, &Secret::new("old-pass"))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::SignInRefused { .. }), "{err}");
    // Password Modify lets the server hash it; a plain modify would have stored it as typed.
    let stored = values(
        server.url(),
        SERVICE_DN,
        SERVICE_PASSWORD,
        ALEX_DN,
        "userPassword",
    )
    .await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with('{') && !stored[0].contains("chosen-by-alex-42"),
        "{stored:?}"
    );

    let err = dir
        .perform(
            &id,
            &Action::SetPassword {
                new_password: Secret::new(""),
            },
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::InvalidRequest {
                field: "new_password",
                ..
            }
        ),
        "{err}"
    );

    let reader = LdapDirectory::new(config(server.url(), READER_DN, READER_PASSWORD)).unwrap();
    let err = reader.perform(&id, &action, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
    assert!(err.to_string().contains("userPassword"), "{err}");
    assert!(!format!("{err:?}").contains("chosen-by-alex-42"));

    let err = dir
        .perform(
            &EmployeeId(format!("uid=ghost,ou=people,{SUFFIX}")),
            &action,
            now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn update_profile_writes_each_allowed_field_and_returns_the_old_value() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let id = EmployeeId(ALEX_DN.into());
    let update = |field, value: &str| Action::UpdateProfile {
        field,
        value: value.into(),
    };
    let cases = [
        (
            ProfileField::JobTitle,
            "  Senior Analyst ",
            "title",
            Some("Helpdesk Analyst"),
            "Senior Analyst",
        ),
        (
            ProfileField::PreferredLanguage,
            "fr-CA",
            "preferredLanguage",
            Some("en-GB"),
            "fr-CA",
        ),
        (
            ProfileField::MobilePhone,
            "+44 20 7946 0000",
            "mobile",
            None,
            "+44 20 7946 0000",
        ),
        (
            ProfileField::OfficeLocation,
            "Building 4, room 12",
            "physicalDeliveryOfficeName",
            None,
            "Building 4, room 12",
        ),
    ];
    for (field, value, attr, old, new) in cases {
        let outcome = dir
            .perform(&id, &update(field, value), now())
            .await
            .unwrap();
        assert_eq!(
            outcome,
            ActionOutcome::ProfileUpdated {
                field,
                old: old.map(String::from),
                new: new.into()
            }
        );
        assert_eq!(
            values(server.url(), SERVICE_DN, SERVICE_PASSWORD, ALEX_DN, attr).await,
            [new],
            "{field} is stored in {attr}, replacing the old value"
        );
    }
    let alex = dir.find(&EmployeeKey::Uid("alex".into())).await.unwrap();
    assert_eq!(alex.profile.job_title.as_deref(), Some("Senior Analyst"));
    assert_eq!(alex.profile.preferred_language.as_deref(), Some("fr-CA"));
}

#[tokio::test]
async fn update_profile_checks_the_value_before_sending_and_maps_refusals() {
    let Some(server) = slapd().await else { return };
    let dir = directory(&server);
    let id = EmployeeId(ALEX_DN.into());
    let long = "x".repeat(129);
    let bad = [
        (ProfileField::JobTitle, "   ", "must not be empty"),
        (ProfileField::JobTitle, long.as_str(), "129 characters"),
        (
            ProfileField::OfficeLocation,
            "room\n12",
            "control character",
        ),
        (
            ProfileField::PreferredLanguage,
            "english please",
            "language tag",
        ),
        (ProfileField::PreferredLanguage, "e", "language tag"),
        (ProfileField::MobilePhone, "call me", "phone number"),
    ];
    for (field, value, why) in bad {
        let err = dir
            .perform(
                &id,
                &Action::UpdateProfile {
                    field,
                    value: value.into(),
                },
                now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DirectoryError::InvalidRequest { field: f, .. } if *f == field.name()),
            "{field} {value:?}: {err}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
    // Nothing was written.
    assert_eq!(
        values(server.url(), SERVICE_DN, SERVICE_PASSWORD, ALEX_DN, "title").await,
        ["Helpdesk Analyst"]
    );

    let action = Action::UpdateProfile {
        field: ProfileField::JobTitle,
        value: "Boss".into(),
    };
    let reader = LdapDirectory::new(config(server.url(), READER_DN, READER_PASSWORD)).unwrap();
    let err = reader.perform(&id, &action, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");
    assert!(err.to_string().contains("may not write title"), "{err}");

    // Only employee entries: not a missing one, not the service account itself.
    for dn in [
        format!("uid=ghost,ou=people,{SUFFIX}"),
        SERVICE_DN.to_owned(),
    ] {
        let err = dir
            .perform(&EmployeeId(dn.clone()), &action, now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, DirectoryError::NotFound { .. }),
            "{dn}: {err}"
        );
    }
}

#[tokio::test]
async fn mfa_reregistration_adds_the_configured_flag_once() {
    let Some(server) = slapd().await else { return };
    let id = EmployeeId(ALEX_DN.into());
    let action = Action::RequireMfaReregistration;

    let unset = directory(&server);
    let err = unset.perform(&id, &action, now()).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string().contains("ldap.mfa_reregistration_flag"),
        "{err}"
    );

    let dir = with_flag_directory(&server, SERVICE_DN, SERVICE_PASSWORD);
    for _ in 0..2 {
        // Already flagged is success too.
        assert_eq!(
            dir.perform(&id, &action, now()).await.unwrap(),
            ActionOutcome::MfaReregistrationRequired
        );
    }
    let mut types = values(
        server.url(),
        SERVICE_DN,
        SERVICE_PASSWORD,
        ALEX_DN,
        "employeeType",
    )
    .await;
    types.sort();
    assert_eq!(
        types,
        ["mfa-reregister", "staff"],
        "added beside the other values"
    );
    let alex = dir.find(&EmployeeKey::Uid("alex".into())).await.unwrap();
    assert!(alex.profile.enabled, "the flag is not the disabled marker");

    let reader = with_flag_directory(&server, READER_DN, READER_PASSWORD);
    let err = reader
        .perform(
            &EmployeeId(format!("uid=sam,ou=people,{SUFFIX}")),
            &action,
            now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Forbidden { .. }), "{err}");

    // An attribute the schema lacks is a configuration error that names the setting.
    let mut odd = with_mfa_flag(config(server.url(), SERVICE_DN, SERVICE_PASSWORD));
    odd.mfa_reregistration_flag = Some(MfaReregistrationFlag {
        attribute: "verityMfaFlag".into(),
        value: "yes".into(),
    });
    let err = LdapDirectory::new(odd)
        .unwrap()
        .perform(&id, &action, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DirectoryError::Config {
                field: "ldap.mfa_reregistration_flag",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn demo_directory_has_megan_with_her_photo_and_adele_as_a_leaver() {
    let Some(server) = start(slapd::demo_options()).await else {
        return;
    };
    assert_eq!(server.suffix(), slapd::DEMO_SUFFIX);
    let dir = LdapDirectory::new(slapd::demo_directory_config(server.url())).unwrap();
    let megan = dir
        .find(&EmployeeKey::UserPrincipalName(
            "megan@contoso.example".into(),
        ))
        .await
        .unwrap();
    assert_eq!(megan.id.0, "uid=megan,ou=people,dc=contoso,dc=example");
    let p = &megan.profile;
    assert_eq!(
        (
            p.display_name.as_str(),
            p.given_name.as_deref(),
            p.surname.as_deref()
        ),
        ("Megan Bowen", Some("Megan"), Some("Bowen"))
    );
    assert_eq!(p.mail.as_deref(), Some("megan@contoso.example"));
    assert!(p.job_title.is_some() && p.preferred_language.is_some() && p.enabled);
    let photo = dir.photo(&megan.id).await.unwrap().unwrap();
    assert_eq!(photo, include_bytes!("../demo/photos/megan.jpg"));
    let alex = dir.find(&EmployeeKey::Uid("alex".into())).await.unwrap();
    assert_eq!(
        dir.photo(&alex.id).await.unwrap().as_deref(),
        Some(&include_bytes!("../demo/photos/alex.jpg")[..])
    );

    let leavers = dir.disabled().await.unwrap();
    let ids: Vec<&str> = leavers.iter().map(|e| e.id.0.as_str()).collect();
    assert_eq!(ids, ["uid=adele,ou=people,dc=contoso,dc=example"]);

    // The portal's sign-in and the actions the demo ACL allows.
    let signed_in = dir
        .authenticate(
            &EmployeeKey::UserPrincipalName("megan@contoso.example".into()),
            &Secret::new(slapd::DEMO_MEGAN_PASSWORD),
        )
        .await
        .unwrap();
    assert_eq!(signed_in, megan);
    let err = dir
        .authenticate(
            &EmployeeKey::Uid("adele".into()),
            &Secret::new(slapd::DEMO_ADELE_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::EmployeeDisabled { .. }),
        "{err}"
    );
    for action in [
        Action::RequireMfaReregistration,
        Action::UpdateProfile {
            field: ProfileField::OfficeLocation,
            value: "18/2107".into(),
        },
        Action::SetPassword {
            new_password: Secret::new("megan-chose-this"),
        },
    ] {
        dir.perform(&megan.id, &action, now()).await.unwrap();
    }
    dir.authenticate(
        &EmployeeKey::Uid("megan".into()),
        &Secret::new("megan-chose-this"),
    )
    .await
    .unwrap();

    // The demo ACL lets the helpdesk add only the MFA value to employeeType, not "disabled".
    let (conn, mut ldap) = LdapConnAsync::new(server.url()).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(slapd::DEMO_SERVICE_DN, slapd::DEMO_SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let res = ldap
        .modify(
            &megan.id.0,
            vec![Mod::Add("employeeType", HashSet::from(["disabled"]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 50, "insufficient access: {}", res.text);
}

#[tokio::test]
async fn local_slapd_stops_on_drop_and_reports_what_failed() {
    let Some(server) = slapd().await else { return };
    let port = server.port();
    assert_eq!(server.url(), format!("ldap://127.0.0.1:{port}"));
    // A fixed port that is taken is refused before slapd starts.
    let mut busy = SlapdOptions::new(SUFFIX, seed());
    busy.port = port;
    let err = LocalSlapd::start(busy).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Slapd { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");

    drop(server);
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "the server is gone once dropped");

    // A seed outside the suffix fails in slapadd, with its complaint in the message.
    let err = LocalSlapd::start(SlapdOptions::new(
        SUFFIX,
        "dn: dc=elsewhere,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: X\ndc: elsewhere\n",
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, DirectoryError::Slapd { .. }), "{err}");
    assert!(err.to_string().contains("slapadd"), "{err}");

    // A fixed free port and a root password: the root DN binds.
    let mut options = SlapdOptions::new(SUFFIX, seed());
    options.port = free_port();
    options.root_password = Some(Secret::new("root-pass"));
    options.start_timeout = Duration::from_secs(20);
    let server = LocalSlapd::start(options.clone()).await.unwrap();
    assert_eq!(server.port(), options.port);
    assert!(!format!("{options:?}").contains("root-pass"));
    let (conn, mut ldap) = LdapConnAsync::new(server.url()).await.unwrap();
    ldap3::drive!(conn);
    let bound = ldap
        .simple_bind(server.root_dn(), "root-pass")
        .await
        .unwrap();
    assert_eq!(bound.rc, 0, "{}", bound.text);
    server.stop();
}

/// A config field and a change that breaks it.
type Change = Box<dyn Fn(&mut LdapConfig)>;

#[test]
fn config_checks_name_the_field() {
    let ok = config("ldap://127.0.0.1:389", SERVICE_DN, "pw");
    assert!(LdapDirectory::new(ok.clone()).is_ok());
    let cases: [(&str, Change); 8] = [
        ("ldap.url", Box::new(|c| c.url = "http://host".into())),
        (
            "ldap.mfa_reregistration_flag.attribute",
            Box::new(|c| {
                c.mfa_reregistration_flag = Some(MfaReregistrationFlag {
                    attribute: "employee Type".into(),
                    value: "x".into(),
                })
            }),
        ),
        (
            "ldap.mfa_reregistration_flag.value",
            Box::new(|c| {
                c.mfa_reregistration_flag = Some(MfaReregistrationFlag {
                    attribute: "employeeType".into(),
                    value: " ".into(),
                })
            }),
        ),
        (
            "ldap.mfa_reregistration_flag",
            Box::new(|c| {
                c.mfa_reregistration_flag = Some(MfaReregistrationFlag {
                    attribute: "EmployeeType".into(),
                    value: "Disabled".into(),
                })
            }),
        ),
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
    let flagged: LdapConfig = toml::from_str(
        "url = \"ldap://h\"\nbind_dn = \"x\"\nbind_password = \"y\"\nbase_dn = \"z\"\n\
         mfa_reregistration_flag = { attribute = \"employeeType\", value = \"mfa-reregister\" }\n",
    )
    .unwrap();
    assert_eq!(
        flagged.mfa_reregistration_flag,
        Some(MfaReregistrationFlag {
            attribute: "employeeType".into(),
            value: "mfa-reregister".into()
        })
    );
    assert!(flagged.validate().is_ok());
    assert_eq!(ok.mfa_reregistration_flag, None, "unset by default");
}
