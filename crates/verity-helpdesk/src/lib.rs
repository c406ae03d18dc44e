//! The verified helpdesk: a sample relying-party application that uses only Verity's public
//! REST API, as a customer's own app would.
//!
//! This crate holds its first part, the company **directory**: where employees' profiles and
//! photos come from (the claims of a VerifiedEmployee card), who has left (to revoke their
//! cards), and where the helpdesk's sensitive actions land (a temporary access pass).
//!
//! ```text
//! EmployeeKey (upn | mail | uid) -> Directory::find      -> Employee { id, profile }
//!                                   Directory::photo     -> Option<JPEG bytes>
//!                                   Directory::disabled  -> [Employee]  (leavers)
//!                                   Directory::perform   -> ActionOutcome | Unsupported
//!
//! implementations: ldap::LdapDirectory  (OpenLDAP, inetOrgPerson, service-account bind)
//!                  graph::GraphDirectory (Microsoft Graph, client-credentials token)
//! ```

pub mod config;
pub mod directory;
pub mod error;
pub mod graph;
pub mod ldap;

pub use config::DirectoryConfig;
pub use directory::{
    Action, ActionOutcome, Directory, Employee, EmployeeId, EmployeeKey, Profile,
    TemporaryAccessPass,
};
pub use error::DirectoryError;
