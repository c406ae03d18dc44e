//! The crate's one error type.

use thiserror::Error;

/// Everything a directory call can fail with. Each variant says which directory, which
/// employee or which setting, and why; none carries a secret.
#[derive(Debug, Error)]
pub enum DirectoryError {
    /// No entry matches the key.
    #[error("no employee with {key} in the {backend} directory")]
    NotFound { backend: &'static str, key: String },

    /// More than one entry matches a key that must be unique.
    #[error(
        "{count} entries in the {backend} directory match {key}; the key must name one employee"
    )]
    Ambiguous {
        backend: &'static str,
        key: String,
        count: usize,
    },

    /// The directory refused the service account's credentials.
    #[error("the {backend} directory refused the service account {account}: {reason}")]
    CredentialsRejected {
        backend: &'static str,
        account: String,
        reason: String,
    },

    /// An employee's sign-in was refused: unknown employee or wrong password. Both give this
    /// one message, so a sign-in form cannot be used to find out who works here.
    #[error(
        "the {backend} directory refused the sign-in of {key}: unknown employee or wrong password"
    )]
    SignInRefused { backend: &'static str, key: String },

    /// The password was right, but the employee is disabled (has left or is suspended).
    #[error("the {backend} directory refused the sign-in of {key}: employee {id} is disabled")]
    EmployeeDisabled {
        backend: &'static str,
        key: String,
        id: String,
    },

    /// The service account authenticated but may not do this.
    #[error("the {backend} directory denied {operation}: {reason}")]
    Forbidden {
        backend: &'static str,
        operation: String,
        reason: String,
    },

    /// The directory could not be reached (connection refused, DNS, TLS, timeout).
    #[error("cannot reach the {backend} directory at {url}: {reason}")]
    Unreachable {
        backend: &'static str,
        url: String,
        reason: String,
    },

    /// The directory answered, but not with what the operation expects.
    #[error("the {backend} directory failed {operation}: {reason}")]
    Backend {
        backend: &'static str,
        operation: String,
        reason: String,
    },

    /// An entry lacks a required attribute or holds a value of the wrong form.
    #[error("directory entry {id} is unusable: {reason}")]
    InvalidEntry { id: String, reason: String },

    /// The backend cannot perform this action at all.
    #[error("the {backend} directory cannot {action}: {reason}")]
    Unsupported {
        backend: &'static str,
        action: &'static str,
        reason: &'static str,
    },

    /// A request the caller built is out of range before anything is sent.
    #[error("invalid {field}: {reason}")]
    InvalidRequest { field: &'static str, reason: String },

    /// A configuration value fails its check.
    #[error("invalid directory configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// The local OpenLDAP server ([`crate::slapd`]) cannot start: programs or files are missing.
    #[error(
        "cannot start a local OpenLDAP server: {missing} not found (install them with `apt-get install slapd ldap-utils`)"
    )]
    SlapdNotInstalled { missing: String },

    /// The local OpenLDAP server ([`crate::slapd`]) failed a step of its start.
    #[error("the local OpenLDAP server failed {step}: {reason}")]
    Slapd { step: String, reason: String },
}
