//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

/// The process is up.
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => {
            HttpResponse::Ok().json(json!({ "status": "ok", "database": state.store.backend() }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": state.store.backend() }))
        }
    }
}
