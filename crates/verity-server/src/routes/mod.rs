//! HTTP routes. Handlers are thin: parse, authorise, call one domain function, map the result.

pub mod admin;
pub mod api;
pub mod did;
pub mod health;
pub mod linked_domains;
pub mod oauth;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    oauth::configure(cfg);
    admin::configure(cfg);
    api::configure(cfg);
    linked_domains::configure(cfg);
    // Last: `/{path}/did.json` must not shadow the routes above.
    did::configure(cfg);
}
