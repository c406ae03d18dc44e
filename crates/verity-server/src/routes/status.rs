//! Status list publishing (W3C Bitstring Status List): `GET /v1.0/status/{listId}` returns the
//! signed list credential. A list keeps its URL for life; it is re-signed only when its bits
//! changed (the store's `version`), and answers carry an ETag and a max-age for verifier caches.
//!
//! With `Accept: application/statuslist+jwt` the same URL answers with the same bits as an IETF
//! Token Status List token (`typ: statuslist+jwt`, `sub` = this URL; a set bit is INVALID in a
//! revocation list, SUSPENDED in a suspension list), the status mechanism of SD-JWT VCs; it is
//! signed on each request. With `Accept: application/vc+jwt` it answers the list as a VCDM 2.0
//! `BitstringStatusListCredential` secured with VC-JOSE-COSE (`typ` `vc+jwt`, the credential as
//! the payload, a string `issuer`), also signed on each request.

use crate::openapi::{Op, Routes};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;
use verity_status_list::{Bitstring, StatusPurpose, TokenStatus, TokenStatusList};

use crate::authorities;
use crate::error::ApiError;
use crate::state::AppState;

/// How long verifiers may cache a list before asking again (seconds).
pub const STATUS_LIST_MAX_AGE: u32 = 300;

pub fn routes(r: &mut Routes) {
    r.get(
        "/v1.0/status/{list}",
        status_list,
        Op::new("statusList", "Status", "A status list, signed by its authority")
            .describe("`Accept: application/statuslist+jwt` gives a Token Status List token (SD-JWT VC); `Accept: application/vc+jwt` a VCDM 2.0 BitstringStatusListCredential secured as a vc+jwt (VC-JOSE-COSE, string `issuer`); otherwise the BitstringStatusListCredential as a VCDM 1.1 JWT (`application/jwt`). ETag and `If-None-Match` are honoured.")
            .header("Accept", false, "`application/statuslist+jwt`, `application/vc+jwt` or `application/jwt`")
            .ok_text(200, "application/jwt", "The signed list")
            .ok_empty(304, "Not modified since the given ETag")
            .not_found(),
    )
    .get(
        "/v1.0/status/{list}/suspension",
        suspension_list,
        Op::new("suspensionList", "Status", "The suspension view of a multi-purpose status list")
            .describe("The suspension bits of a list whose credentials are suspendable, as a status list credential with `statusPurpose` `suspension` (a VCDM 2.0 vc+jwt with `Accept: application/vc+jwt`, a Token Status List token where a set bit is SUSPENDED with `Accept: application/statuslist+jwt`). Signed on each request; ETag and `If-None-Match` are honoured.")
            .header("Accept", false, "`application/statuslist+jwt`, `application/vc+jwt` or `application/jwt`")
            .ok_text(200, "application/jwt", "The signed suspension list")
            .ok_empty(304, "Not modified since the given ETag")
            .not_found(),
    );
}

/// The URL of a multi-purpose list's suspension view.
pub fn suspension_url(state: &AppState, list: Uuid) -> String {
    format!("{}/suspension", list_url(state, list))
}

/// `GET /v1.0/status/{list}/suspension`: the suspension bits of a multi-purpose list.
async fn suspension_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found(format!("status list `{id}` has no suspension view"));
    let list_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let list = state
        .store
        .status_list(list_id)
        .await?
        .ok_or_else(not_found)?;
    if list.purpose != verity_store::PURPOSE_REVOCATION_SUSPENSION {
        return Err(not_found());
    }
    let form = Form::of(&req);
    let etag = format!("\"{}-{}-s{}\"", list.id.simple(), list.version, form.tag());
    let cache = format!("public, max-age={STATUS_LIST_MAX_AGE}");
    if let Some(unchanged) = not_modified(&req, &etag, &cache) {
        return Ok(unchanged);
    }
    let (authority, signer, _) = signing_inputs(&state, &list).await?;
    let bits = suspension_bits(&list).map_err(ApiError::internal)?;
    let url = suspension_url(&state, list.id);
    let body = sign_as(
        &state,
        form,
        &signer,
        &authority.did,
        &url,
        &bits,
        StatusPurpose::Suspension,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(form.media_type())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept"))
        .body(body))
}

/// A multi-purpose list's suspension bits (all clear until the first suspension).
pub fn suspension_bits(
    list: &verity_store::StatusList,
) -> Result<Bitstring, verity_status_list::StatusListError> {
    let bytes = list
        .suspension_bits
        .clone()
        .unwrap_or_else(|| vec![0; (list.length / 8) as usize]);
    Bitstring::from_bytes(bytes, list.length as usize)
}

/// The public URL of a status list.
pub fn list_url(state: &AppState, list: Uuid) -> String {
    format!("{}/v1.0/status/{list}", state.public_url)
}

async fn status_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found(format!("status list `{id}` not found"));
    let list_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let list = state
        .store
        .status_list(list_id)
        .await?
        .ok_or_else(not_found)?;
    let form = Form::of(&req);
    let etag = format!("\"{}-{}{}\"", list.id.simple(), list.version, form.tag());
    let cache = format!("public, max-age={STATUS_LIST_MAX_AGE}");
    if let Some(unchanged) = not_modified(&req, &etag, &cache) {
        return Ok(unchanged);
    }
    let body = match form {
        Form::Token | Form::Vcdm2 => {
            let (authority, signer, bits) = signing_inputs(&state, &list).await?;
            let url = list_url(&state, list.id);
            let purpose = purpose_of(&list);
            sign_as(&state, form, &signer, &authority.did, &url, &bits, purpose).await?
        }
        Form::Jwt => match (&list.signed_jwt, list.signed_version) {
            (Some(jwt), Some(v)) if v == list.version => jwt.clone(),
            _ => sign_list(&state, &list).await?,
        },
    };
    Ok(HttpResponse::Ok()
        .content_type(form.media_type())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept"))
        .body(body))
}

/// The encoding a status list is asked for, by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A VCDM 1.1 JWT (`application/jwt`): the default, cached signed copy.
    Jwt,
    /// A VCDM 2.0 vc+jwt (`application/vc+jwt`), signed on each request.
    Vcdm2,
    /// An IETF Token Status List token (`application/statuslist+jwt`), signed on each request.
    Token,
}

impl Form {
    fn of(req: &HttpRequest) -> Form {
        if accepts(req, TOKEN_MEDIA_TYPE) {
            Form::Token
        } else if accepts(req, "application/vc+jwt") {
            Form::Vcdm2
        } else {
            Form::Jwt
        }
    }

    /// The ETag suffix: each encoding is its own representation.
    fn tag(self) -> &'static str {
        match self {
            Form::Jwt => "",
            Form::Vcdm2 => "-v2",
            Form::Token => "-t",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Form::Jwt => "application/jwt",
            Form::Vcdm2 => "application/vc+jwt",
            Form::Token => TOKEN_MEDIA_TYPE,
        }
    }
}

/// The purpose a list's (non-suspension) view is signed with.
fn purpose_of(list: &verity_store::StatusList) -> StatusPurpose {
    match list.purpose.as_str() {
        "suspension" => StatusPurpose::Suspension,
        _ => StatusPurpose::Revocation,
    }
}

/// 304 when the request's `If-None-Match` lists `etag` (one of a comma-separated list).
fn not_modified(req: &HttpRequest, etag: &str, cache: &str) -> Option<HttpResponse> {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    matches.then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.to_owned()))
            .insert_header((header::CACHE_CONTROL, cache.to_owned()))
            .insert_header((header::VARY, "Accept"))
            .finish()
    })
}

/// The media type of a Token Status List token (draft-ietf-oauth-status-list section 8.1).
pub const TOKEN_MEDIA_TYPE: &str = "application/statuslist+jwt";

fn accepts(req: &HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(media_type))
}

/// `bits`, published at `url` by `did`, signed in `form`: a Token Status List token (a set bit
/// is SUSPENDED for the suspension purpose, INVALID otherwise), a VCDM 2.0 vc+jwt or the VCDM
/// 1.1 JWT.
async fn sign_as(
    state: &AppState,
    form: Form,
    signer: &authorities::AuthoritySigner,
    did: &str,
    url: &str,
    bits: &Bitstring,
    purpose: StatusPurpose,
) -> Result<String, ApiError> {
    let now = state.clock.unix();
    match form {
        Form::Token => {
            let set_means = match purpose {
                StatusPurpose::Suspension => TokenStatus::Suspended,
                StatusPurpose::Revocation => TokenStatus::Invalid,
            };
            let token_list =
                TokenStatusList::from_bitstring(bits, set_means).map_err(ApiError::internal)?;
            let ttl = Some(i64::from(STATUS_LIST_MAX_AGE));
            verity_status_list::sign_list_token(signer, did, url, &token_list, now, None, ttl).await
        }
        Form::Vcdm2 => {
            verity_status_list::sign_status_list_v2(signer, did, url, bits, purpose, now, None)
                .await
        }
        Form::Jwt => {
            verity_status_list::sign_status_list(signer, did, url, bits, purpose, now, None).await
        }
    }
    .map_err(ApiError::internal)
}

/// What signing a list needs: its authority, that authority's active signer, and the bits.
async fn signing_inputs(
    state: &AppState,
    list: &verity_store::StatusList,
) -> Result<
    (
        verity_store::Authority,
        authorities::AuthoritySigner,
        Bitstring,
    ),
    ApiError,
> {
    let authority = state
        .store
        .authority(list.authority_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("status list {} has no authority", list.id)))?;
    let signer = authorities::signer_for(state.store.as_ref(), &state.kek, &authority).await?;
    let bits = Bitstring::from_bytes(list.bits.clone(), list.length as usize)
        .map_err(ApiError::internal)?;
    Ok((authority, signer, bits))
}

/// Signs the current version of a list with its authority's active key and caches the result.
pub async fn sign_list(
    state: &AppState,
    list: &verity_store::StatusList,
) -> Result<String, ApiError> {
    let (authority, signer, bits) = signing_inputs(state, list).await?;
    let url = list_url(state, list.id);
    let did = &authority.did;
    let jwt = sign_as(
        state,
        Form::Jwt,
        &signer,
        did,
        &url,
        &bits,
        purpose_of(list),
    )
    .await?;
    verity_store::crash_point("status list: signed, not stored");
    // Another request may have signed a newer version meanwhile: then ours is simply not kept.
    state
        .store
        .store_signed_status_list(list.id, list.version, &jwt, state.clock.now())
        .await?;
    Ok(jwt)
}
