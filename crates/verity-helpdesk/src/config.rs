//! Directory configuration (`[directory.ldap]` or `[directory.graph]`). Secrets are
//! [`Secret`]s: `Debug` and serde output print `[redacted]`.

use serde::{Deserialize, Serialize};
use url::Url;
use verity_core::Secret;

use crate::error::DirectoryError;

/// Which directory the helpdesk reads, and how to reach it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DirectoryConfig {
    Ldap(LdapConfig),
    Graph(GraphConfig),
}

/// An LDAP directory with `inetOrgPerson` entries (OpenLDAP, 389-DS, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// The service account's DN, e.g. `cn=helpdesk,ou=services,dc=example,dc=com`.
    pub bind_dn: String,
    /// The service account's password.
    pub bind_password: Secret,
    /// Where employees live, e.g. `ou=people,dc=example,dc=com` (searched with subtree scope).
    pub base_dn: String,
    /// The object class every employee entry has.
    #[serde(default = "default_object_class")]
    pub object_class: String,
    /// The attribute that holds the user principal name (inetOrgPerson has none; `mail` is
    /// the usual stand-in).
    #[serde(default = "default_upn_attribute")]
    pub upn_attribute: String,
    /// An employee is disabled when this attribute holds `disabled_value`.
    #[serde(default = "default_disabled_attribute")]
    pub disabled_attribute: String,
    /// Compared case-insensitively.
    #[serde(default = "default_disabled_value")]
    pub disabled_value: String,
    /// How `RequireMfaReregistration` marks an employee (e.g. `employeeType:
    /// mfa-reregister`), for the MFA system to act on. Unset: the action is unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_reregistration_flag: Option<MfaReregistrationFlag>,
    /// Connect and per-operation time limit.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// `mfa_reregistration_flag = { attribute = "employeeType", value = "mfa-reregister" }`: the
/// value is added to the (multi-valued) attribute; whoever runs MFA registration removes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MfaReregistrationFlag {
    pub attribute: String,
    pub value: String,
}

/// An LDAP attribute description: a letter, then letters, digits and hyphens (RFC 4512).
fn is_attribute_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn default_object_class() -> String {
    "inetOrgPerson".into()
}
fn default_upn_attribute() -> String {
    "mail".into()
}
fn default_disabled_attribute() -> String {
    "employeeType".into()
}
fn default_disabled_value() -> String {
    "disabled".into()
}
fn default_timeout_ms() -> u64 {
    5_000
}

impl LdapConfig {
    /// Checks the values a connection would otherwise fail on later.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let url = Url::parse(&self.url).map_err(|e| DirectoryError::Config {
            field: "ldap.url",
            reason: format!("{:?} is not a URL: {e}", self.url),
        })?;
        match url.scheme() {
            "ldap" | "ldaps" => {}
            other => {
                return Err(DirectoryError::Config {
                    field: "ldap.url",
                    reason: format!("scheme {other:?} is not ldap or ldaps"),
                });
            }
        }
        if self.starttls && url.scheme() == "ldaps" {
            return Err(DirectoryError::Config {
                field: "ldap.starttls",
                reason: "StartTLS applies to ldap:// only; ldaps:// is already TLS".into(),
            });
        }
        for (field, value) in [
            ("ldap.bind_dn", &self.bind_dn),
            ("ldap.base_dn", &self.base_dn),
            ("ldap.object_class", &self.object_class),
            ("ldap.upn_attribute", &self.upn_attribute),
            ("ldap.disabled_attribute", &self.disabled_attribute),
            ("ldap.disabled_value", &self.disabled_value),
        ] {
            if value.trim().is_empty() {
                return Err(DirectoryError::Config {
                    field,
                    reason: "must not be empty".into(),
                });
            }
        }
        if self.bind_password.expose().is_empty() {
            // An empty password makes a simple bind anonymous (RFC 4513 5.1.2): refuse it.
            return Err(DirectoryError::Config {
                field: "ldap.bind_password",
                reason: "must not be empty (an empty password binds anonymously)".into(),
            });
        }
        if let Some(flag) = &self.mfa_reregistration_flag {
            if !is_attribute_name(&flag.attribute) {
                return Err(DirectoryError::Config {
                    field: "ldap.mfa_reregistration_flag.attribute",
                    reason: format!(
                        "{:?} is not an attribute name (a letter, then letters, digits, '-')",
                        flag.attribute
                    ),
                });
            }
            if flag.value.trim().is_empty() || flag.value.chars().any(char::is_control) {
                return Err(DirectoryError::Config {
                    field: "ldap.mfa_reregistration_flag.value",
                    reason: "must not be empty or hold control characters".into(),
                });
            }
            if flag
                .attribute
                .eq_ignore_ascii_case(&self.disabled_attribute)
                && flag.value.eq_ignore_ascii_case(&self.disabled_value)
            {
                return Err(DirectoryError::Config {
                    field: "ldap.mfa_reregistration_flag",
                    reason: format!(
                        "{}: {} is the disabled marker; the flag would disable the employee",
                        flag.attribute, flag.value
                    ),
                });
            }
        }
        if self.timeout_ms == 0 {
            return Err(DirectoryError::Config {
                field: "ldap.timeout_ms",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Microsoft Entra ID through Microsoft Graph, as an app with application permissions
/// `User.Read.All` and `UserAuthenticationMethod.ReadWrite.All`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// The directory (tenant) id.
    pub tenant_id: String,
    /// The app registration's client id.
    pub client_id: String,
    /// The app registration's client secret.
    pub client_secret: Secret,
    /// The token service.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// The Graph API.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Per-request time limit.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_login_url() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
}

impl GraphConfig {
    /// Checks the values; returns the parsed login and Graph base URLs.
    pub fn validate(&self) -> Result<(Url, Url), DirectoryError> {
        let login = base_url("graph.login_url", &self.login_url)?;
        let graph = base_url("graph.graph_url", &self.graph_url)?;
        for (field, value) in [
            ("graph.tenant_id", &self.tenant_id),
            ("graph.client_id", &self.client_id),
        ] {
            if value.trim().is_empty() {
                return Err(DirectoryError::Config {
                    field,
                    reason: "must not be empty".into(),
                });
            }
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            {
                return Err(DirectoryError::Config {
                    field,
                    reason: format!(
                        "{value:?} holds characters other than letters, digits, '-', '.', '_'"
                    ),
                });
            }
        }
        if self.client_secret.expose().is_empty() {
            return Err(DirectoryError::Config {
                field: "graph.client_secret",
                reason: "must not be empty".into(),
            });
        }
        if self.timeout_ms == 0 {
            return Err(DirectoryError::Config {
                field: "graph.timeout_ms",
                reason: "must be at least 1".into(),
            });
        }
        Ok((login, graph))
    }
}

fn base_url(field: &'static str, value: &str) -> Result<Url, DirectoryError> {
    let url = Url::parse(value).map_err(|e| DirectoryError::Config {
        field,
        reason: format!("{value:?} is not a URL: {e}"),
    })?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(DirectoryError::Config {
                field,
                reason: format!(
                    "scheme {other:?} is not https (plain http only to a loopback host)"
                ),
            });
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DirectoryError::Config {
            field,
            reason: "must not have a query or fragment".into(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_its_table_and_unknown_keys_are_refused() {
        let ldap: DirectoryConfig = toml::from_str(
            "[ldap]\nurl = \"ldap://127.0.0.1:389\"\nbind_dn = \"cn=helpdesk\"\nbind_password = \"pw\"\nbase_dn = \"ou=people\"\n",
        )
        .unwrap();
        let DirectoryConfig::Ldap(ldap) = ldap else {
            panic!("expected the LDAP backend")
        };
        assert_eq!(
            (
                ldap.upn_attribute.as_str(),
                ldap.disabled_attribute.as_str()
            ),
            ("mail", "employeeType")
        );
        assert!(ldap.validate().is_ok());

        let err = toml::from_str::<DirectoryConfig>("[ad]\nurl = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown variant `ad`"), "{err}");
        let err = toml::from_str::<DirectoryConfig>(
            "[graph]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nscope = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `scope`"), "{err}");
    }
}
