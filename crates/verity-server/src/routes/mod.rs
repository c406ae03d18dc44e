//! HTTP routes. Handlers are thin: parse, authorise, call one domain function, map the result.

pub mod admin;
pub mod admin_contracts;
pub mod admin_credentials;
pub mod api;
pub mod did;
pub mod face_check;
pub mod health;
pub mod home;
pub mod issuance;
pub mod linked_domains;
pub mod oauth;
pub mod openid4vci;
pub mod openid4vp;
pub mod presentation;
pub mod status;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    home::configure(cfg);
    oauth::configure(cfg);
    // Before `admin`: its `/admin/v1` scope would otherwise swallow `/admin/v1/contracts`.
    admin_contracts::configure(cfg);
    admin_credentials::configure(cfg);
    admin::configure(cfg);
    issuance::configure(cfg);
    openid4vci::configure(cfg);
    presentation::configure(cfg);
    openid4vp::configure(cfg);
    face_check::configure(cfg);
    api::configure(cfg);
    status::configure(cfg);
    linked_domains::configure(cfg);
    // Last: `/{path}/did.json` must not shadow the routes above.
    did::configure(cfg);
}
