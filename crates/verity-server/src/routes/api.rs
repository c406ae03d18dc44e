//! Request Service API (`/v1.0/verifiableCredentials`): what an API client may read of its tenant.

use crate::openapi::{Op, Routes};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::ApiCaller;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get(
        "/v1.0/verifiableCredentials/authorities",
        list_authorities,
        Op::new(
            "listAuthorities",
            "Request Service API",
            "The caller's tenant's authorities",
        )
        .api()
        .ok_any(
            200,
            "`{ \"value\": [ { id, name, didModel: { did, ... } } ] }`",
        ),
    );
}

/// The caller's tenant's authorities, in the hosted Admin API's list shape.
async fn list_authorities(
    caller: ApiCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let value: Vec<serde_json::Value> = state
        .store
        .list_authorities(Some(caller.tenant_id))
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "name": a.name,
                "status": "Enabled",
                "didModel": { "did": a.did, "didDocumentStatus": "published" },
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "value": value })))
}
