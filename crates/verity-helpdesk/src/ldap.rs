//! The LDAP directory: `inetOrgPerson` entries read with a service account.
//!
//! Every call opens a connection, binds as the service account, does its work and unbinds
//! (a helpdesk makes a few calls a minute; no pool to go stale). Attributes read: `uid`,
//! `mail`, the configured UPN attribute, `displayName`, `givenName`, `sn`, `title`,
//! `preferredLanguage`, `jpegPhoto` and the disabled attribute (`employeeType: disabled` by
//! default). The bind password is only ever handed to the bind request.
//!
//! Writes: `ResetPassword` and `SetPassword` use RFC 3062 Password Modify (the server hashes
//! the password per its own policy); `UpdateProfile` replaces one allow-listed attribute;
//! `RequireMfaReregistration` adds the configured flag value. `authenticate` searches with
//! the service account, then rebinds the same connection as the employee's DN.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ldap3::asn1::{PL, StructureTag, TagClass, parse_tag};
use ldap3::exop::PasswordModify;
use ldap3::result::LdapResult;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry, ldap_escape,
};
use verity_core::Secret;

use crate::config::LdapConfig;
use crate::directory::{
    Action, ActionOutcome, Directory, Employee, EmployeeId, EmployeeKey, Profile, ProfileField,
    check_jpeg,
};
use crate::error::DirectoryError;

const BACKEND: &str = "LDAP";
/// LDAP result codes (RFC 4511 4.1.9) the errors distinguish.
const RC_UNDEFINED_ATTRIBUTE_TYPE: u32 = 17;
const RC_CONSTRAINT_VIOLATION: u32 = 19;
const RC_ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
const RC_INVALID_ATTRIBUTE_SYNTAX: u32 = 21;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_INSUFFICIENT_ACCESS: u32 = 50;
const RC_OBJECT_CLASS_VIOLATION: u32 = 65;

/// The RDN bound when a sign-in names nobody, so that an unknown employee costs the same
/// round trip as a wrong password (the server answers "invalid credentials" for both).
const NOBODY_RDN: &str = "cn=verity-helpdesk-no-such-employee";

/// The attribute an allow-listed profile field is stored in.
pub fn profile_attribute(field: ProfileField) -> &'static str {
    match field {
        ProfileField::JobTitle => "title",
        ProfileField::PreferredLanguage => "preferredLanguage",
        ProfileField::MobilePhone => "mobile",
        ProfileField::OfficeLocation => "physicalDeliveryOfficeName",
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct LdapDirectory {
    config: LdapConfig,
}

impl LdapDirectory {
    /// Checks the configuration; connects only when called.
    pub fn new(config: LdapConfig) -> Result<Self, DirectoryError> {
        config.validate()?;
        Ok(Self { config })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    /// A connection bound as the service account.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.config.starttls);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| self.unreachable(&e))?;
        ldap3::drive!(conn);
        let bound = ldap
            .with_timeout(self.timeout())
            .simple_bind(&self.config.bind_dn, self.config.bind_password.expose())
            .await
            .map_err(|e| self.unreachable(&e))?;
        match bound.rc {
            0 => Ok(ldap),
            RC_INVALID_CREDENTIALS => Err(DirectoryError::CredentialsRejected {
                backend: BACKEND,
                account: self.config.bind_dn.clone(),
                reason: "invalid credentials (result code 49): wrong bind DN or password".into(),
            }),
            rc => Err(DirectoryError::Backend {
                backend: BACKEND,
                operation: format!("the bind as {}", self.config.bind_dn),
                reason: format!("result code {rc}: {}", bound.text),
            }),
        }
    }

    fn unreachable(&self, e: &LdapError) -> DirectoryError {
        DirectoryError::Unreachable {
            backend: BACKEND,
            url: self.config.url.clone(),
            reason: e.to_string(),
        }
    }

    fn attributes(&self) -> Vec<String> {
        let mut attrs: Vec<String> = [
            "uid",
            "mail",
            "displayName",
            "givenName",
            "sn",
            "title",
            "preferredLanguage",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        for extra in [&self.config.upn_attribute, &self.config.disabled_attribute] {
            if !attrs.iter().any(|a| a.eq_ignore_ascii_case(extra)) {
                attrs.push(extra.clone());
            }
        }
        attrs
    }

    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let operation = || format!("the search {filter} under {base}");
        let result = ldap
            .with_timeout(self.timeout())
            .search(base, scope, filter, attrs)
            .await
            .map_err(|e| self.unreachable(&e))?;
        let (entries, res) = (result.0, result.1);
        match res.rc {
            0 => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
            RC_NO_SUCH_OBJECT => Ok(Vec::new()),
            RC_INSUFFICIENT_ACCESS => Err(DirectoryError::Forbidden {
                backend: BACKEND,
                operation: operation(),
                reason: format!(
                    "insufficient access for {} (result code 50)",
                    self.config.bind_dn
                ),
            }),
            rc => Err(DirectoryError::Backend {
                backend: BACKEND,
                operation: operation(),
                reason: format!("result code {rc}: {}", res.text),
            }),
        }
    }

    fn employee_filter(&self, attr: &str, value: &str) -> String {
        format!(
            "(&(objectClass={})({}={}))",
            ldap_escape(&self.config.object_class),
            attr,
            ldap_escape(value)
        )
    }

    fn key_filter(&self, key: &EmployeeKey) -> String {
        let (attr, value) = match key {
            EmployeeKey::UserPrincipalName(v) => (self.config.upn_attribute.as_str(), v),
            EmployeeKey::Mail(v) => ("mail", v),
            EmployeeKey::Uid(v) => ("uid", v),
        };
        self.employee_filter(attr, value)
    }

    /// The search and the employee's own bind of [`Directory::authenticate`], on a connection
    /// bound as the service account.
    async fn sign_in(
        &self,
        ldap: &mut Ldap,
        key: &EmployeeKey,
        password: &Secret,
    ) -> Result<Employee, DirectoryError> {
        let refused = || DirectoryError::SignInRefused {
            backend: BACKEND,
            key: key.to_string(),
        };
        let mut entries = self
            .search(
                ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &self.key_filter(key),
                self.attributes(),
            )
            .await?;
        let entry = match entries.len() {
            1 => Some(entries.remove(0)),
            0 => None,
            count => {
                // Refused like an unknown employee (no hint to the one signing in); the
                // operator must make the key unique.
                tracing::warn!(%key, count, "sign-in refused: the key matches more than one LDAP entry");
                None
            }
        };
        let dn = entry.as_ref().map_or_else(
            || format!("{NOBODY_RDN},{}", self.config.base_dn),
            |e| e.dn.clone(),
        );
        let bound = ldap
            .with_timeout(self.timeout())
            .simple_bind(&dn, password.expose())
            .await
            .map_err(|e| self.unreachable(&e))?;
        match bound.rc {
            0 => {}
            RC_INVALID_CREDENTIALS => return Err(refused()),
            rc => {
                return Err(DirectoryError::Backend {
                    backend: BACKEND,
                    operation: format!("the sign-in of {key}"),
                    reason: format!("result code {rc}: {}", bound.text),
                });
            }
        }
        let Some(entry) = entry else {
            return Err(refused());
        };
        let employee = self.to_employee(entry)?;
        if !employee.profile.enabled {
            return Err(DirectoryError::EmployeeDisabled {
                backend: BACKEND,
                key: key.to_string(),
                id: employee.id.0,
            });
        }
        Ok(employee)
    }

    /// RFC 3062 Password Modify on `id`: with `new_password`, sets it; without, the server
    /// generates one and returns it.
    async fn password_modify(
        &self,
        id: &EmployeeId,
        new_password: Option<&Secret>,
        operation: &str,
    ) -> Result<Option<Secret>, DirectoryError> {
        let mut ldap = self.connect().await?;
        let exop = PasswordModify {
            user_id: Some(&id.0),
            old_pass: None,
            new_pass: new_password.map(Secret::expose),
        };
        let result = ldap.with_timeout(self.timeout()).extended(exop).await;
        let _ = ldap.unbind().await;
        let ldap3::result::ExopResult(exop, res) = result.map_err(|e| self.unreachable(&e))?;
        self.write_result(id, operation, "write userPassword", "new_password", res)?;
        Ok(exop.val.as_deref().and_then(generated_password))
    }

    /// Maps a write's result: `field` names the value a constraint or syntax error is about,
    /// `what` what the service account was refused.
    fn write_result(
        &self,
        id: &EmployeeId,
        operation: &str,
        what: &str,
        field: &'static str,
        res: LdapResult,
    ) -> Result<(), DirectoryError> {
        match res.rc {
            0 => Ok(()),
            RC_NO_SUCH_OBJECT => Err(DirectoryError::NotFound {
                backend: BACKEND,
                key: format!("DN {:?}", id.0),
            }),
            RC_INSUFFICIENT_ACCESS => Err(DirectoryError::Forbidden {
                backend: BACKEND,
                operation: format!("{operation} of {id}"),
                reason: format!("{} may not {what} (result code 50)", self.config.bind_dn),
            }),
            rc @ (RC_CONSTRAINT_VIOLATION | RC_INVALID_ATTRIBUTE_SYNTAX) => {
                Err(DirectoryError::InvalidRequest {
                    field,
                    reason: format!(
                        "the directory refused the value for {id} (result code {rc}: {})",
                        res.text
                    ),
                })
            }
            rc => Err(DirectoryError::Backend {
                backend: BACKEND,
                operation: format!("{operation} of {id}"),
                reason: format!("result code {rc}: {}", res.text),
            }),
        }
    }

    /// Reads the field's current value, then replaces it (on a service-account connection).
    async fn update_profile(
        &self,
        ldap: &mut Ldap,
        id: &EmployeeId,
        field: ProfileField,
        value: String,
    ) -> Result<ActionOutcome, DirectoryError> {
        let attr = profile_attribute(field);
        let filter = format!("(objectClass={})", ldap_escape(&self.config.object_class));
        let mut entries = self
            .search(ldap, &id.0, Scope::Base, &filter, vec![attr.to_owned()])
            .await?;
        // Only employee entries: the object class filter keeps service accounts out.
        let Some(entry) = entries.pop() else {
            return Err(DirectoryError::NotFound {
                backend: BACKEND,
                key: format!("DN {:?}", id.0),
            });
        };
        let old = Attrs(&entry.attrs).first(attr);
        let res = ldap
            .with_timeout(self.timeout())
            .modify(
                &id.0,
                vec![Mod::Replace(attr, HashSet::from([value.as_str()]))],
            )
            .await
            .map_err(|e| self.unreachable(&e))?;
        self.write_result(
            id,
            &format!("the update of {attr}"),
            &format!("write {attr}"),
            field.name(),
            res,
        )?;
        Ok(ActionOutcome::ProfileUpdated {
            field,
            old,
            new: value,
        })
    }

    /// Adds the configured MFA re-registration flag; already present is success.
    async fn require_mfa_reregistration(
        &self,
        id: &EmployeeId,
        action: &Action,
    ) -> Result<ActionOutcome, DirectoryError> {
        let Some(flag) = &self.config.mfa_reregistration_flag else {
            return Err(DirectoryError::Unsupported {
                backend: BACKEND,
                action: action.name(),
                reason: "an LDAP directory holds no MFA registrations; set ldap.mfa_reregistration_flag (attribute and value) to flag the employee for the MFA system instead",
            });
        };
        let mut ldap = self.connect().await?;
        let result = ldap
            .with_timeout(self.timeout())
            .modify(
                &id.0,
                vec![Mod::Add(
                    flag.attribute.as_str(),
                    HashSet::from([flag.value.as_str()]),
                )],
            )
            .await;
        let _ = ldap.unbind().await;
        let res = result.map_err(|e| self.unreachable(&e))?;
        match res.rc {
            RC_ATTRIBUTE_OR_VALUE_EXISTS => Ok(ActionOutcome::MfaReregistrationRequired),
            rc @ (RC_UNDEFINED_ATTRIBUTE_TYPE
            | RC_INVALID_ATTRIBUTE_SYNTAX
            | RC_OBJECT_CLASS_VIOLATION) => Err(DirectoryError::Config {
                field: "ldap.mfa_reregistration_flag",
                reason: format!(
                    "the directory refused {}: {} on {id} (result code {rc}: {})",
                    flag.attribute, flag.value, res.text
                ),
            }),
            _ => {
                self.write_result(
                    id,
                    "the MFA re-registration flag",
                    &format!("write {}", flag.attribute),
                    "mfa_reregistration_flag",
                    res,
                )?;
                Ok(ActionOutcome::MfaReregistrationRequired)
            }
        }
    }

    fn to_employee(&self, entry: SearchEntry) -> Result<Employee, DirectoryError> {
        let attrs = Attrs(&entry.attrs);
        let id = EmployeeId(entry.dn.clone());
        let display_name =
            attrs
                .first("displayName")
                .ok_or_else(|| DirectoryError::InvalidEntry {
                    id: entry.dn.clone(),
                    reason: "no displayName attribute".into(),
                })?;
        let upn = attrs.first(&self.config.upn_attribute).ok_or_else(|| {
            DirectoryError::InvalidEntry {
                id: entry.dn.clone(),
                reason: format!(
                    "no {} attribute (the user principal name)",
                    self.config.upn_attribute
                ),
            }
        })?;
        let disabled = attrs
            .all(&self.config.disabled_attribute)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&self.config.disabled_value));
        Ok(Employee {
            id,
            profile: Profile {
                user_principal_name: upn,
                display_name,
                given_name: attrs.first("givenName"),
                surname: attrs.first("sn"),
                job_title: attrs.first("title"),
                mail: attrs.first("mail"),
                preferred_language: attrs.first("preferredLanguage"),
                enabled: !disabled,
            },
        })
    }
}

/// Attribute lookup by name, case-insensitively (servers may answer in any case).
struct Attrs<'a>(&'a HashMap<String, Vec<String>>);

impl Attrs<'_> {
    fn all(&self, name: &str) -> &[String] {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
    fn first(&self, name: &str) -> Option<String> {
        self.all(name).first().cloned()
    }
}

#[async_trait]
impl Directory for LdapDirectory {
    async fn find(&self, key: &EmployeeKey) -> Result<Employee, DirectoryError> {
        let filter = self.key_filter(key);
        let mut ldap = self.connect().await?;
        let found = self
            .search(
                &mut ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &filter,
                self.attributes(),
            )
            .await;
        let _ = ldap.unbind().await;
        let mut entries = found?;
        match entries.len() {
            0 => Err(DirectoryError::NotFound {
                backend: BACKEND,
                key: key.to_string(),
            }),
            1 => self.to_employee(entries.remove(0)),
            count => Err(DirectoryError::Ambiguous {
                backend: BACKEND,
                key: key.to_string(),
                count,
            }),
        }
    }

    async fn photo(&self, id: &EmployeeId) -> Result<Option<Vec<u8>>, DirectoryError> {
        let filter = format!("(objectClass={})", ldap_escape(&self.config.object_class));
        let mut ldap = self.connect().await?;
        let found = self
            .search(
                &mut ldap,
                &id.0,
                Scope::Base,
                &filter,
                vec!["jpegPhoto".into()],
            )
            .await;
        let _ = ldap.unbind().await;
        let mut entries = found?;
        let Some(entry) = entries.pop() else {
            return Err(DirectoryError::NotFound {
                backend: BACKEND,
                key: format!("DN {:?}", id.0),
            });
        };
        // Binary values land in bin_attrs, values that happen to be UTF-8 in attrs.
        let binary = entry
            .bin_attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("jpegPhoto"));
        let photo = match binary {
            Some((_, values)) => values.first().cloned(),
            None => Attrs(&entry.attrs)
                .first("jpegPhoto")
                .map(String::into_bytes),
        };
        if let Some(bytes) = &photo {
            check_jpeg(id, bytes)?;
        }
        Ok(photo)
    }

    async fn disabled(&self) -> Result<Vec<Employee>, DirectoryError> {
        let filter =
            self.employee_filter(&self.config.disabled_attribute, &self.config.disabled_value);
        let mut ldap = self.connect().await?;
        let found = self
            .search(
                &mut ldap,
                &self.config.base_dn,
                Scope::Subtree,
                &filter,
                self.attributes(),
            )
            .await;
        let _ = ldap.unbind().await;
        let mut employees = found?
            .into_iter()
            .map(|e| self.to_employee(e))
            .collect::<Result<Vec<_>, _>>()?;
        employees.sort_by(|a, b| a.id.0.cmp(&b.id.0));
        Ok(employees)
    }

    async fn authenticate(
        &self,
        key: &EmployeeKey,
        password: &Secret,
    ) -> Result<Employee, DirectoryError> {
        if password.expose().is_empty() {
            // An empty password makes a simple bind anonymous (RFC 4513 5.1.2): never send it.
            return Err(DirectoryError::InvalidRequest {
                field: "password",
                reason: "must not be empty (an empty simple bind is anonymous)".into(),
            });
        }
        let mut ldap = self.connect().await?;
        let result = self.sign_in(&mut ldap, key, password).await;
        let _ = ldap.unbind().await;
        result
    }

    async fn perform(
        &self,
        id: &EmployeeId,
        action: &Action,
        _now: DateTime<Utc>,
    ) -> Result<ActionOutcome, DirectoryError> {
        match action {
            Action::TemporaryAccessPass { .. } => Err(DirectoryError::Unsupported {
                backend: BACKEND,
                action: action.name(),
                reason: "an LDAP directory has no temporary access passes; the helpdesk app issues and checks one-time passes in its own store, and the employee then sets a password (SetPassword)",
            }),
            Action::RequireMfaReregistration => self.require_mfa_reregistration(id, action).await,
            Action::ResetPassword => {
                match self.password_modify(id, None, "the password reset").await? {
                    Some(new_password) => Ok(ActionOutcome::PasswordReset { new_password }),
                    None => Err(DirectoryError::Backend {
                        backend: BACKEND,
                        operation: format!("the password reset of {id}"),
                        reason: "the server reset the password but returned no generated password"
                            .into(),
                    }),
                }
            }
            Action::SetPassword { new_password } => {
                if new_password.expose().is_empty() {
                    return Err(DirectoryError::InvalidRequest {
                        field: "new_password",
                        reason: "must not be empty".into(),
                    });
                }
                self.password_modify(id, Some(new_password), "the password change")
                    .await?;
                Ok(ActionOutcome::PasswordSet)
            }
            Action::UpdateProfile { field, value } => {
                let value = field.check(value)?;
                let mut ldap = self.connect().await?;
                let result = self.update_profile(&mut ldap, id, *field, value).await;
                let _ = ldap.unbind().await;
                result
            }
        }
    }
}

/// `PasswdModifyResponseValue ::= SEQUENCE { genPasswd [0] OCTET STRING OPTIONAL }`
/// (RFC 3062), parsed without the panicking parser of the LDAP crate.
fn generated_password(value: &[u8]) -> Option<Secret> {
    let (_, tag) = parse_tag(value).ok()?;
    let StructureTag {
        payload: PL::C(inner),
        ..
    } = tag
    else {
        return None;
    };
    inner.into_iter().find_map(|t| match t {
        StructureTag {
            class: TagClass::Context,
            id: 0,
            payload: PL::P(bytes),
        } if !bytes.is_empty() => String::from_utf8(bytes).ok().map(Secret::new),
        _ => None,
    })
}
