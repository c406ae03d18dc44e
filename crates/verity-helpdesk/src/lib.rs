//! The verified helpdesk: a sample relying-party application that uses only Verity's public
//! REST API, as a customer's own app would.
//!
//! ```text
//! employee portal (/portal)   sign in (directory bind) -> profile + photo -> createIssuanceRequest
//! helpdesk (/helpdesk)        Get verified -> createPresentationRequest (+ faceCheck)
//!                             -> verified person -> actions within the window -> audit + ticket
//! verity-helpdesk sync        disabled employees -> revoke their cards by revocationId
//!
//! directory:  Directory trait; ldap::LdapDirectory, graph::GraphDirectory
//! verity_api: the Request Service API client (client credentials, requests, polling, revoke)
//! webhook:    ticket events to the service desk, HMAC-signed, retried with backoff
//! store:      the app's own state (sessions, requests, verifications, passes, audit, outbox)
//! web:        the pages (actix-web, server-rendered)
//! ```

pub mod app;
pub mod config;
pub mod demo;
pub mod directory;
pub mod error;
pub mod graph;
pub mod ldap;
pub mod oidc;
pub mod settings;
pub mod slapd;
pub mod startup;
pub mod store;
pub mod verity_api;
pub mod web;
pub mod webhook;

pub use config::DirectoryConfig;
pub use directory::{
    Action, ActionOutcome, Directory, Employee, EmployeeId, EmployeeKey, Profile,
    TemporaryAccessPass,
};
pub use error::DirectoryError;
