//! The Verity HTTP service.
//!
//! Request flow: actix route -> extractor (body parse with field-precise errors, caller
//! authentication) -> handler -> one domain function (authorities, tokens, store) -> response or
//! [`error::ApiError`] in the hosted service's error shape. [`startup::Application`] wires it up.

pub use verity_api::admin as api_types;
pub mod audit;
pub mod authorities;
pub mod bootstrap;
pub mod config;
pub mod console;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod flows;
pub mod limits;
pub mod linkage;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod own;
pub mod qr;
pub mod ratelimit;
pub mod routes;
pub use verity_api::rp as rp_types;
pub mod startup;
pub mod state;
pub mod status_leases;
pub mod sweeper;
pub mod telemetry;
pub mod tokens;
pub mod trust;

pub use config::Config;
pub use startup::{Application, Seams};
