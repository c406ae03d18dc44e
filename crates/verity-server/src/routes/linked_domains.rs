//! DID resolution and domain linkage over HTTP: the public
//! `/.well-known/did-configuration.json` of each configured host, and admin routes that resolve
//! any DID and check linkages (ours and others').

use crate::openapi::{Op, Routes};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use verity_did::{Did, DidError, FetchError};
use verity_linked_domains::{configuration_url, normalize_origin};

use crate::api_types::{AuthorityDomainsView, DomainLinkageView};
use crate::error::{ApiError, InnerCode};
use crate::extract::AdminCaller;
use crate::linkage::{self, LinkageError};
use crate::routes::admin::find_authority;
use crate::state::AppState;

pub fn routes(r: &mut Routes) {
    r.get(
        "/.well-known/did-configuration.json",
        did_configuration,
        Op::new(
            "didConfiguration",
            "DID and linked domains",
            "DID Configuration: a signed Domain Linkage Credential per authority of this host",
        )
        .ok_any(
            200,
            "`{ \"@context\": ..., \"linked_dids\": [ \"<JWT>\" ] }`",
        ),
    );
}

pub fn admin_routes(r: &mut Routes) {
    r.get(
        "/admin/v1/authorities/{authority}/domains",
        authority_domains,
        Op::new(
            "authorityDomains",
            "Admin",
            "Domain linkage of an authority, checked now, per origin with each step",
        )
        .admin()
        .ok::<crate::api_types::AuthorityDomainsView>(200, "The verdict per origin")
        .not_found(),
    )
    .get(
        "/admin/v1/dids/{did}",
        resolve_did,
        Op::new(
            "resolveDid",
            "Admin",
            "Resolves any DID (did:web, did:key, did:jwk, did:ion long form) without caches",
        )
        .admin()
        .ok_any(200, "The DID document")
        .error(
            400,
            &[InnerCode::InvalidDid, InnerCode::UnsupportedDidMethod],
        )
        .error(404, &[InnerCode::DidNotFound])
        .error(502, &[InnerCode::DidResolutionFailed]),
    )
    .get(
        "/admin/v1/domains/verify",
        verify_domain,
        Op::new(
            "verifyDomain",
            "Admin",
            "Checks a DID's domain linkage (every origin, or `origin`)",
        )
        .admin()
        .query("did", true, "The DID whose linkage to check")
        .query("origin", false, "Check only this origin")
        .ok::<crate::api_types::LinkageReportView>(
            200,
            "The verdict with each step; 200 whenever the check ran",
        )
        .bad_request()
        .error(
            400,
            &[InnerCode::InvalidDid, InnerCode::UnsupportedDidMethod],
        ),
    );
}

impl From<LinkageError> for ApiError {
    fn from(e: LinkageError) -> Self {
        match e {
            LinkageError::Authority(a) => a.into(),
            other => ApiError::internal(other),
        }
    }
}

/// The DIF DID configuration of the request's host: one Domain Linkage Credential per authority
/// whose DID document lists this origin.
async fn did_configuration(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let host = req.connection_info().host().to_ascii_lowercase();
    if !state.serves_host(&host) {
        return Err(ApiError::not_found(format!(
            "this service does not serve a DID configuration for host `{host}`"
        )));
    }
    let config = linkage::did_configuration(&state, &host)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no authority here is linked to host `{host}`"))
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(config.to_json_value()))
}

/// An authority's linked origins, each verified by our own checker against the live endpoints.
async fn authority_domains(
    _: AdminCaller,
    state: web::Data<AppState>,
    reference: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(domains_of(&state, &reference).await?))
}

/// An authority's linked origins, each checked now (the admin API and the console).
pub(crate) async fn domains_of(
    state: &AppState,
    reference: &str,
) -> Result<AuthorityDomainsView, ApiError> {
    let authority = find_authority(state, reference).await?;
    let verifier = state.resolution.live_verifier();
    let now = state.clock.unix();
    let mut domains = Vec::new();
    for origin in linkage::linked_origins(state, &authority.did) {
        let normalized = normalize_origin(&origin).map_err(ApiError::internal)?;
        let report = verifier
            .verify_origin(&authority.did, &normalized, now)
            .await;
        domains.push(DomainLinkageView {
            configuration_url: configuration_url(&normalized).map_err(ApiError::internal)?,
            origin: normalized,
            report: linkage::report_view(&report),
        });
    }
    Ok(AuthorityDomainsView {
        authority_id: authority.id,
        did: authority.did,
        domains,
    })
}

/// Resolves any supported DID (without the cache) and returns its document.
async fn resolve_did(
    _: AdminCaller,
    state: web::Data<AppState>,
    did: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let did = did.into_inner();
    Did::parse(&did).map_err(did_error)?;
    let doc = state
        .resolution
        .live_resolver
        .resolve(&did)
        .await
        .map_err(did_error)?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Checks another party's (or our own) domain linkage: `?did=` and optionally `&origin=` to
/// check one origin; otherwise every origin the DID document lists. Always 200 once the check
/// ran: the verdict is in the body.
async fn verify_domain(
    _: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut did = None;
    let mut origin = None;
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let slot = match name.as_ref() {
            "did" => &mut did,
            "origin" => &mut origin,
            other => {
                return Err(ApiError::bad_field(
                    other,
                    format!("unknown query parameter `{other}`: use `did` and `origin`"),
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ApiError::bad_field(
                name.as_ref(),
                format!("query parameter `{name}` is given twice"),
            ));
        }
    }
    let did = did
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_field("did", "the query parameter `did` is required"))?;
    Did::parse(&did).map_err(did_error)?;
    let verifier = state.resolution.live_verifier();
    let now = state.clock.unix();
    let report = match origin {
        Some(o) => {
            let o =
                normalize_origin(&o).map_err(|e| ApiError::bad_field("origin", e.to_string()))?;
            verifier.verify_origin(&did, &o, now).await
        }
        None => verifier.verify(&did, now).await,
    };
    Ok(HttpResponse::Ok().json(linkage::report_view(&report)))
}

/// Maps a resolution failure: the DID's own fault is 4xx (naming `did`); a remote answer we
/// cannot use is 502; a remote that may answer on retry is 503.
pub fn did_error(e: DidError) -> ApiError {
    let message = format!("{e} ({})", e.code());
    match &e {
        DidError::UnsupportedMethod { .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            InnerCode::UnsupportedDidMethod,
            message,
        )
        .with_target("did"),
        DidError::InvalidDid { .. }
        | DidError::InvalidDidWeb { .. }
        | DidError::InvalidDidJwk { .. }
        | DidError::InvalidMultibase { .. }
        | DidError::UnsupportedMulticodec { .. }
        | DidError::InvalidKeyLength { .. }
        | DidError::InvalidPublicKey { .. }
        | DidError::PrivateKeyMaterial { .. }
        | DidError::UnsupportedKey { .. }
        | DidError::InvalidKeyId { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, InnerCode::InvalidDid, message)
                .with_target("did")
        }
        DidError::Fetch(FetchError::Status {
            status: 404 | 410, ..
        }) => ApiError::new(StatusCode::NOT_FOUND, InnerCode::DidNotFound, message),
        // Our own resolution capacity is exhausted: a 503 about us, so the message stays in
        // the logs (the resolver logs it) and the caller is told when to retry.
        DidError::Busy { .. } => ApiError::transient(message).with_retry_after(5),
        DidError::Fetch(f) if f.is_transient() => ApiError::upstream(
            StatusCode::SERVICE_UNAVAILABLE,
            InnerCode::TransientError,
            message,
        )
        .with_retry_after(30),
        _ => ApiError::upstream(
            StatusCode::BAD_GATEWAY,
            InnerCode::DidResolutionFailed,
            message,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_code(e: DidError) -> (u16, &'static str, Option<String>) {
        let api = did_error(e);
        let body = api.body();
        (
            actix_web::ResponseError::status_code(&api).as_u16(),
            api.inner_code().as_str(),
            body["error"]["innererror"]["target"]
                .as_str()
                .map(str::to_owned),
        )
    }

    #[test]
    fn resolution_errors_map_to_statuses_and_codes() {
        let s = || String::from("x");
        let url = || String::from("https://x.test/.well-known/did.json");
        let did = Some("did".to_owned());
        assert_eq!(
            status_and_code(DidError::InvalidDid {
                did: s(),
                reason: s()
            }),
            (400, "invalidDid", did.clone())
        );
        assert_eq!(
            status_and_code(DidError::InvalidDidJwk { reason: s() }),
            (400, "invalidDid", did.clone())
        );
        assert_eq!(
            status_and_code(DidError::UnsupportedMethod {
                method: s(),
                supported: s()
            }),
            (400, "unsupportedDidMethod", did)
        );
        assert_eq!(
            status_and_code(DidError::Fetch(FetchError::Status {
                url: url(),
                status: 404
            })),
            (404, "didNotFound", None)
        );
        assert_eq!(
            status_and_code(DidError::Fetch(FetchError::Status {
                url: url(),
                status: 503
            })),
            (503, "transientError", None)
        );
        assert_eq!(
            status_and_code(DidError::Fetch(FetchError::Timeout {
                url: url(),
                timeout_ms: 10
            })),
            (503, "transientError", None)
        );
        let busy = did_error(DidError::Busy {
            did: "did:web:x.test".into(),
            limit: 16,
            waited_ms: 10_000,
        });
        assert_eq!(
            actix_web::ResponseError::status_code(&busy).as_u16(),
            503,
            "our own capacity: retry later"
        );
        assert_eq!(busy.inner_code().as_str(), "transientError");
        assert_eq!(
            status_and_code(DidError::Fetch(FetchError::AddressRefused {
                host: s(),
                addr: "10.0.0.1".parse().unwrap(),
                range: "private (10.0.0.0/8)"
            })),
            (502, "didResolutionFailed", None)
        );
        assert_eq!(
            status_and_code(DidError::DocumentIdMismatch {
                expected: s(),
                found: s()
            }),
            (502, "didResolutionFailed", None)
        );
        assert_eq!(
            status_and_code(DidError::InvalidDocument { reason: s() }),
            (502, "didResolutionFailed", None)
        );
    }

    #[test]
    fn upstream_failures_keep_their_message() {
        let api = did_error(DidError::Fetch(FetchError::Status {
            url: "https://x.test/.well-known/did.json".into(),
            status: 500,
        }));
        let body = api.body();
        let msg = body["error"]["innererror"]["message"].as_str().unwrap();
        assert!(msg.contains("answered HTTP 500"), "{msg}");
        assert!(msg.contains("FETCH-008"), "{msg}");
    }
}
