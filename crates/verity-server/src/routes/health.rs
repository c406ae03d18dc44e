//! Liveness and readiness probes.

use crate::openapi::{Op, Routes};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get(
        "/health/live",
        live,
        Op::new("healthLive", "Service", "The process is up").ok_any(200, "`{\"status\":\"ok\"}`"),
    )
    .get(
        "/health/ready",
        ready,
        Op::new("healthReady", "Service", "The database answers")
            .ok_any(
                200,
                "`{\"status\":\"ok\",\"database\":\"sqlite\"|\"postgres\"}`",
            )
            .ok_any(503, "The database does not answer"),
    );
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
