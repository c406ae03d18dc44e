//! HTTP routes. Handlers are thin: parse, authorise, call one domain function, map the result.

pub mod admin;
pub mod admin_contracts;
pub mod admin_credentials;
pub mod api;
pub mod did;
pub mod docs;
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
pub mod vc_api;

use actix_web::web;

use crate::openapi::Routes;

/// Registers every route with actix (each one described in `/openapi.json`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    table(&mut Routes::register(cfg));
}

/// Every route, in matching order: the one table both the server and its OpenAPI document are
/// built from.
pub fn table(r: &mut Routes) {
    health::routes(r);
    home::routes(r);
    docs::routes(r);
    crate::metrics::routes(r);
    oauth::routes(r);
    crate::audit::routes(r);
    admin_contracts::routes(r);
    admin_credentials::routes(r);
    admin::routes(r);
    issuance::routes(r);
    openid4vci::routes(r);
    presentation::routes(r);
    openid4vp::routes(r);
    face_check::routes(r);
    api::routes(r);
    vc_api::routes(r);
    status::routes(r);
    linked_domains::routes(r);
    crate::console::routes(r);
    // Last: `/{path}/did.json` must not shadow the routes above.
    did::routes(r);
}
