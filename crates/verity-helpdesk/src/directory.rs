//! The `Directory` seam and the employee model it speaks.

use std::fmt;
use std::str::FromStr;

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

/// The profile fields an employee may change themselves in the portal: an allow-list, so a
/// web form can never name another attribute.
///
/// | field | Graph property | LDAP attribute |
/// |---|---|---|
/// | `JobTitle` | `jobTitle` | `title` |
/// | `PreferredLanguage` | `preferredLanguage` | `preferredLanguage` |
/// | `MobilePhone` | `mobilePhone` | `mobile` |
/// | `OfficeLocation` | `officeLocation` | `physicalDeliveryOfficeName` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileField {
    JobTitle,
    PreferredLanguage,
    MobilePhone,
    OfficeLocation,
}

/// The longest value [`ProfileField::check`] accepts, in characters.
pub const PROFILE_VALUE_MAX_CHARS: usize = 128;

impl ProfileField {
    /// Every field, in form order.
    pub const ALL: [ProfileField; 4] = [
        Self::JobTitle,
        Self::PreferredLanguage,
        Self::MobilePhone,
        Self::OfficeLocation,
    ];

    /// The field's name as Graph spells it (`jobTitle`, ...); also its form value and the
    /// `field` of [`DirectoryError::InvalidRequest`].
    pub fn name(self) -> &'static str {
        match self {
            Self::JobTitle => "jobTitle",
            Self::PreferredLanguage => "preferredLanguage",
            Self::MobilePhone => "mobilePhone",
            Self::OfficeLocation => "officeLocation",
        }
    }

    /// A label for people (`job title`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Self::JobTitle => "job title",
            Self::PreferredLanguage => "preferred language",
            Self::MobilePhone => "mobile phone",
            Self::OfficeLocation => "office location",
        }
    }

    /// Checks `value` before anything is sent and returns it trimmed: not empty, at most
    /// [`PROFILE_VALUE_MAX_CHARS`] characters, no control characters; a preferred language
    /// shaped like a BCP 47 tag (`en`, `en-GB`, `zh-Hant-TW`); a mobile phone made of digits,
    /// spaces and `+ - ( ) . /`.
    pub fn check(self, value: &str) -> Result<String, DirectoryError> {
        let invalid = |reason: String| DirectoryError::InvalidRequest {
            field: self.name(),
            reason,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid("must not be empty".into()));
        }
        let chars = value.chars().count();
        if chars > PROFILE_VALUE_MAX_CHARS {
            return Err(invalid(format!(
                "{chars} characters; at most {PROFILE_VALUE_MAX_CHARS} are allowed"
            )));
        }
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(invalid(format!(
                "holds the control character U+{:04X}",
                u32::from(c)
            )));
        }
        match self {
            Self::PreferredLanguage if !is_language_tag(value) => Err(invalid(format!(
                "{value:?} is not a language tag like \"en\" or \"en-GB\" (BCP 47)"
            ))),
            Self::MobilePhone if !is_phone_number(value) => Err(invalid(format!(
                "{value:?} is not a phone number (digits, spaces and + - ( ) . / only)"
            ))),
            _ => Ok(value.to_owned()),
        }
    }
}

impl fmt::Display for ProfileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProfileField {
    type Err = DirectoryError;

    /// Accepts the Graph name (`jobTitle`, any letter case) or its snake case (`job_title`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s.chars().filter(|c| *c != '_').collect();
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| DirectoryError::InvalidRequest {
                field: "profile field",
                reason: format!(
                    "{s:?} is not one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ),
            })
    }
}

/// `language[-subtag]...`: an ISO 639 language of 2 or 3 letters, then subtags of 1-8 letters
/// or digits (the shape of BCP 47, not its registry; the rarely used 5-8 letter languages and
/// private-use tags are refused).
fn is_language_tag(value: &str) -> bool {
    let mut subtags = value.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Digits with the usual separators; LDAP's telephoneNumber syntax refuses much else.
fn is_phone_number(value: &str) -> bool {
    value.chars().any(|c| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
}

/// A sensitive action the helpdesk performs for a verified caller, or the portal for a
/// signed-in employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Issue a temporary access pass valid `lifetime_minutes` from now.
    TemporaryAccessPass {
        lifetime_minutes: u32,
        usable_once: bool,
    },
    /// Reset the password to one the directory generates.
    ResetPassword,
    /// Set the password the employee chose (the portal, after a temporary access pass).
    SetPassword { new_password: Secret },
    /// Make the employee register their MFA methods again.
    RequireMfaReregistration,
    /// Change one allow-listed profile field.
    UpdateProfile { field: ProfileField, value: String },
}

impl Action {
    /// The action's name in messages and audit records.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TemporaryAccessPass { .. } => "issue a temporary access pass",
            Self::ResetPassword => "reset a password",
            Self::SetPassword { .. } => "set a new password",
            Self::RequireMfaReregistration => "require MFA re-registration",
            Self::UpdateProfile { .. } => "update a profile field",
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
    /// The password the employee chose is set.
    PasswordSet,
    /// The employee must register their MFA methods again (already flagged counts too).
    MfaReregistrationRequired,
    /// `field` now holds `new`; `old` is what it held before (`None`: it was empty).
    ProfileUpdated {
        field: ProfileField,
        old: Option<String>,
        new: String,
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

    /// Checks an employee's own password (the portal's sign-in) and returns their entry.
    /// An unknown employee and a wrong password both give
    /// [`DirectoryError::SignInRefused`]; a disabled one gives
    /// [`DirectoryError::EmployeeDisabled`] (only once the password is right); a directory
    /// without password sign-in gives [`DirectoryError::Unsupported`].
    async fn authenticate(
        &self,
        key: &EmployeeKey,
        password: &Secret,
    ) -> Result<Employee, DirectoryError>;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_fields_parse_from_graph_names_and_round_trip() {
        for field in ProfileField::ALL {
            assert_eq!(field.name().parse::<ProfileField>().unwrap(), field);
            assert_eq!(field.to_string(), field.name());
        }
        assert_eq!(
            "job_title".parse::<ProfileField>().unwrap(),
            ProfileField::JobTitle
        );
        assert_eq!(
            "MOBILEPHONE".parse::<ProfileField>().unwrap(),
            ProfileField::MobilePhone
        );
        let err = "userPassword".parse::<ProfileField>().unwrap_err();
        assert!(
            matches!(
                err,
                DirectoryError::InvalidRequest {
                    field: "profile field",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("jobTitle, preferredLanguage"),
            "{err}"
        );
    }

    #[test]
    fn profile_values_are_checked_and_trimmed() {
        let ok = |f: ProfileField, v: &str| f.check(v).unwrap();
        assert_eq!(ok(ProfileField::JobTitle, "  Analyst "), "Analyst");
        assert_eq!(
            ok(ProfileField::JobTitle, &"é".repeat(128)),
            "é".repeat(128)
        );
        for tag in ["en", "en-GB", "zh-Hant-TW", "es-419", "de-CH-1901"] {
            assert_eq!(ok(ProfileField::PreferredLanguage, tag), tag);
        }
        assert_eq!(
            ok(ProfileField::MobilePhone, "+1 (425) 555-0109"),
            "+1 (425) 555-0109"
        );
        let refused = [
            (ProfileField::JobTitle, "\t \n".to_owned()),
            (ProfileField::JobTitle, "é".repeat(129)),
            (ProfileField::OfficeLocation, "a\u{7}b".to_owned()),
            (ProfileField::PreferredLanguage, "en_GB".to_owned()),
            (ProfileField::PreferredLanguage, "e".to_owned()),
            (ProfileField::PreferredLanguage, "French".to_owned()),
            (ProfileField::PreferredLanguage, "en-".to_owned()),
            (
                ProfileField::PreferredLanguage,
                "en-toolongsubtag".to_owned(),
            ),
            (ProfileField::PreferredLanguage, "12-GB".to_owned()),
            (ProfileField::MobilePhone, "+-".to_owned()),
            (ProfileField::MobilePhone, "555 0109 ext#4".to_owned()),
        ];
        for (field, value) in refused {
            let err = field.check(&value).unwrap_err();
            assert!(
                matches!(&err, DirectoryError::InvalidRequest { field: f, .. } if *f == field.name()),
                "{field} {value:?}: {err}"
            );
        }
    }
}
