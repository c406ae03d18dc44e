//! did:web documents: `/.well-known/did.json` for root DIDs and `/<path>/did.json` for path DIDs.
//! The authority is chosen from a configured domain plus the path, never from the Host alone.

use crate::openapi::{Op, Routes};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get(
        "/.well-known/did.json",
        root_did,
        Op::new(
            "didDocument",
            "DID and linked domains",
            "The DID document of the authority at this host's root (did:web)",
        )
        .ok_text(
            200,
            "application/did+json",
            "The DID document, from the store on every request",
        )
        .not_found(),
    )
    .get(
        "/{path:.+}/did.json",
        path_did,
        Op::new(
            "pathDidDocument",
            "DID and linked domains",
            "The DID document of a path DID (`did:web:host:a:b` at `/a/b/did.json`)",
        )
        .ok_text(200, "application/did+json", "The DID document")
        .not_found(),
    );
}

async fn root_did(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(&req, &state, &[]).await
}

async fn path_did(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || s.starts_with('.')) {
        return Err(ApiError::not_found("no DID document at this path"));
    }
    serve(&req, &state, &segments).await
}

async fn serve(
    req: &HttpRequest,
    state: &AppState,
    segments: &[&str],
) -> Result<HttpResponse, ApiError> {
    let host = req.connection_info().host().to_ascii_lowercase();
    if !state.serves_host(&host) {
        return Err(ApiError::not_found(format!(
            "this service does not serve DID documents for host `{host}`"
        )));
    }
    let did = verity_did::did_web_from_parts(&host, segments);
    let authority = state
        .store
        .authority_by_did(&did)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no authority `{did}` here")))?;
    // Built by the same code the verifier resolves our DIDs with; it lists the origins whose
    // `/.well-known/did-configuration.json` links the DID.
    let doc = state
        .own
        .document(&authority)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/did+json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(doc))
}
