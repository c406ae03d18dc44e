//! The `Directory` seam and the employee model it speaks.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use verity_core::Secret;

use crate::error::DirectoryError;

/// How to find one employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmployeeKey {
    /// The sign-in name, e.g. `alex@contoso.example` (the credential's revocationId).
    UserPrincipalName(String),
    /// The mail address.
    Mail(String),
    /// The short user id (LDAP `uid`; on Graph the object id).
    Uid(String),
}

impl fmt::Display for EmployeeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserPrincipalName(v) => write!(f, "userPrincipalName {v:?}"),
            Self::Mail(v) => write!(f, "mail {v:?}"),
            Self::Uid(v) => write!(f, "uid {v:?}"),
        }
    }
}

/// The directory's own handle for an entry: the DN on LDAP, the object id on Graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmployeeId(pub String);

impl fmt::Display for EmployeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The profile fields a VerifiedEmployee card carries, named as Graph names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub preferred_language: Option<String>,
    /// `false` once the employee has left (or is suspended): no card, and revoke existing ones.
    pub enabled: bool,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub id: EmployeeId,
    pub profile: Profile,
}

/// A sensitive action the helpdesk performs for a verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Issue a temporary access pass valid `lifetime_minutes` from now.
    TemporaryAccessPass {
        lifetime_minutes: u32,
        usable_once: bool,
    },
    /// Reset the password.
    ResetPassword,
    /// Make the employee register their MFA methods again.
    RequireMfaReregistration,
}

impl Action {
    /// The action's name in messages and audit records.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TemporaryAccessPass { .. } => "issue a temporary access pass",
            Self::ResetPassword => "reset a password",
            Self::RequireMfaReregistration => "require MFA re-registration",
        }
    }
}

/// A temporary access pass; the pass itself never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryAccessPass {
    pub pass: Secret,
    pub starts_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub usable_once: bool,
}

/// What an action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    TemporaryAccessPass(TemporaryAccessPass),
    /// The directory set a new password it generated; show it once to the employee.
    PasswordReset {
        new_password: Secret,
    },
}

/// The company directory. Implementations: [`crate::ldap::LdapDirectory`],
/// [`crate::graph::GraphDirectory`].
#[async_trait]
pub trait Directory: Send + Sync {
    /// The one employee `key` names; [`DirectoryError::NotFound`] when none does.
    async fn find(&self, key: &EmployeeKey) -> Result<Employee, DirectoryError>;

    /// The employee's photo as JPEG bytes; `None` when the entry has none.
    async fn photo(&self, id: &EmployeeId) -> Result<Option<Vec<u8>>, DirectoryError>;

    /// Every disabled employee (the leavers whose cards must be revoked).
    async fn disabled(&self) -> Result<Vec<Employee>, DirectoryError>;

    /// Performs `action` on the employee; [`DirectoryError::Unsupported`] when this directory
    /// cannot. `now` is when the action is requested.
    async fn perform(
        &self,
        id: &EmployeeId,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<ActionOutcome, DirectoryError>;
}

/// JPEG files start with an SOI marker followed by another marker.
pub(crate) fn check_jpeg(id: &EmployeeId, bytes: &[u8]) -> Result<(), DirectoryError> {
    if bytes.len() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
        Ok(())
    } else {
        Err(DirectoryError::InvalidEntry {
            id: id.0.clone(),
            reason: format!(
                "the photo is not a JPEG ({} bytes, no FF D8 FF header)",
                bytes.len()
            ),
        })
    }
}
