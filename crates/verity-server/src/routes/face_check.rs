//! Face check (protocol.md §6), the second phase of a presentation that asks for one.
//!
//! When such an answer is verified, the request does not end: it moves to
//! `face_check_pending` (RPs still see `request_retrieved`) with the verdict held back, and the
//! wallet is answered with an upload URL and a one-time upload token (only its hash is
//! stored). The holder then uploads one selfie to `POST /v1.0/faceCheck/{requestId}` (JSON
//! `{"image": "<base64>"}` or the raw JPEG/PNG, the token as `Authorization: Bearer`); the face
//! matcher compares it with the credential's photo claim and one step ends the wait:
//! `presentation_verified` with `faceCheck {matchConfidenceScore, sourcePhotoQuality}`, or
//! `face_check_failed` (reported as `presentation_error`, `claimValidationError`), after which
//! the request is answerable again. While the selfie is awaited no other answer is taken, so a
//! stranger who saw the QR code cannot end the holder's face check; the request expires as
//! any other. The selfie is held in memory for the comparison only: never logged, never stored.
//! The credential's photo claim is held with the request only while the selfie is awaited, and
//! only sealed under a key derived from the upload token (whose hash alone is stored), so the
//! database never holds it readable; the deciding step drops it, it is never in the result or
//! a callback, and the sweeper clears it from a request that expired waiting (`[retention]`).

use crate::openapi::{Op, Routes};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use verity_face_match::{FaceMatchError, ImageRole, MAX_IMAGE_BYTES};
use verity_presentation::{PendingFaceCheck, PresentationError};
use verity_store::{FlowRequest, FlowStatus, Rejection, RequestKind, TransitionOutcome};

use crate::error::{ApiError, InnerCode};
use crate::flows;
use crate::state::AppState;

/// Largest upload body: a JSON-wrapped base64 image of [`MAX_IMAGE_BYTES`] plus room.
const MAX_UPLOAD_BYTES: usize = MAX_IMAGE_BYTES / 3 * 4 + 4096;

pub fn routes(r: &mut Routes) {
    r.post_large(
        "/v1.0/faceCheck/{id}",
        upload,
        Op::new(
            "faceCheckUpload",
            "Face check",
            "The holder's selfie for a face check",
        )
        .header(
            "Authorization",
            true,
            "`Bearer <upload token>` from the capture link",
        )
        .body_any("`{ \"image\": \"<base64 JPEG or PNG>\" }`")
        .ok_any(
            200,
            "The match outcome is sent to the relying party; the holder sees only done/failed",
        )
        .bad_request()
        .error(403, &[InnerCode::Forbidden])
        .not_found()
        .error(404, &[InnerCode::FaceCheckNotConfigured]),
        MAX_UPLOAD_BYTES,
    )
    .get(
        "/face-check/{id}",
        capture_page,
        Op::new(
            "faceCheckPage",
            "Face check",
            "A page that takes the selfie with the device's camera",
        )
        .ok_text(
            200,
            "text/html",
            "The capture page (the upload token stays in the URL fragment)",
        )
        .not_found(),
    );
}

/// The capture page of request `id` with the upload token in the fragment (never sent to the
/// server, so it appears in no access log).
pub fn capture_url(state: &AppState, id: Uuid, token: &str) -> String {
    format!("{}/face-check/{id}#token={token}", state.public_url)
}

/// `GET /face-check/{id}`: a page that opens the camera (getUserMedia), shows a preview and
/// uploads one frame, for holders whose wallet cannot take the selfie itself. The upload
/// token comes from the URL fragment; the page itself holds no secret.
async fn capture_page(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    state
        .store
        .request(id)
        .await?
        .filter(|r| r.kind == RequestKind::Presentation)
        .ok_or_else(|| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    let mut nonce = [0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    let page = CAPTURE_PAGE
        .replace("{{upload}}", &upload_url(&state, id))
        .replace("{{nonce}}", &nonce);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
                 connect-src 'self'; img-src blob: data:; media-src blob: mediastream:; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
        ))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(page))
}

/// The capture page. `{{upload}}` and `{{nonce}}` are filled in; nothing else is dynamic.
const CAPTURE_PAGE: &str = include_str!("face_check_page.html");

/// The upload URL of request `id`.
pub fn upload_url(state: &AppState, id: Uuid) -> String {
    format!("{}/v1.0/faceCheck/{id}", state.public_url)
}

/// The key the credential's photo is sealed under while the selfie is awaited: derived from the
/// upload token, so the stored request (which holds only the token's hash) never shows it.
fn photo_key(token: &str) -> verity_jose::KeyEncryptionKey {
    let digest = Sha256::new()
        .chain_update(b"verity face-check photo key\0")
        .chain_update(token.as_bytes())
        .finalize();
    verity_jose::KeyEncryptionKey::from_bytes(digest.into())
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The upload token of `holder`'s face check on `req`: derived (keyed with the service's
/// pepper), so a holder whose answer was lost gets the same token again by presenting again,
/// and only its hash is stored.
pub fn upload_token(state: &AppState, req: &FlowRequest, holder: &str) -> String {
    state
        .pepper
        .hash(&format!("verity/face-check-upload/{}/{holder}", req.id))
}

/// What a verified answer to a face-check request writes instead of the verdict: the verdict
/// body held back, the pending check and the upload token's hash. Returns the transition and
/// the token to hand to the wallet.
pub fn await_selfie_step(
    state: &AppState,
    req: &FlowRequest,
    verified_body: Value,
    pending: &PendingFaceCheck,
) -> Result<(verity_store::Transition, String), ApiError> {
    let holder = verified_body["subject"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = upload_token(state, req, &holder);
    // The photo is not stored readable: it leaves the held verdict and is kept sealed under a
    // key derived from the upload token, which only the hash of is stored.
    let mut verified_body = verified_body;
    let photo = verified_body["verifiedCredentialsData"]
        .as_array_mut()
        .and_then(|all| {
            all.iter_mut()
                .filter(|c| answers(c, pending))
                .find_map(|c| {
                    c["claims"]
                        .as_object_mut()?
                        .remove(&pending.source_photo_claim_name)
                })
        });
    let sealed_photo = match photo {
        Some(Value::String(p)) => Some(
            photo_key(&token)
                .seal(req.id.as_bytes(), p.as_bytes())
                .map(|s| URL_SAFE_NO_PAD.encode(s))
                .map_err(ApiError::internal)?,
        ),
        // Not text: nothing a face check can use (refused at upload as unreadable).
        Some(_) | None => None,
    };
    let held = json!({
        "heldVerdict": verified_body,
        "faceCheck": {
            "descriptorId": pending.descriptor_id,
            "sourcePhotoClaimName": pending.source_photo_claim_name,
            "threshold": pending.threshold,
            "uploadTokenHash": token_hash(&token),
            "sealedPhoto": sealed_photo,
        },
    });
    let t = verity_store::Transition::new(
        req.id,
        RequestKind::Presentation,
        FlowStatus::FaceCheckPending,
        held,
    );
    Ok((t, token))
}

/// The upload token again when `current` already awaits the selfie of `holder`: the holder's
/// first answer was lost, or it answered twice at once. `None` for anyone else.
pub fn selfie_still_due(state: &AppState, current: &FlowRequest, holder: &str) -> Option<String> {
    if current.status.parse::<FlowStatus>().ok() != Some(FlowStatus::FaceCheckPending) {
        return None;
    }
    let held = current.result.as_ref()?;
    (held["heldVerdict"]["subject"].as_str() == Some(holder))
        .then(|| upload_token(state, current, holder))
}

/// The wallet's answer when its presentation passed and the selfie is due.
pub fn selfie_due(state: &AppState, req: &FlowRequest, token: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "faceCheck": {
            "uploadUrl": upload_url(state, req.id),
            "uploadToken": token,
            "captureUrl": capture_url(state, req.id, token),
            "expiresAt": req.expires_at.timestamp(),
        }
    }))
}

/// `{"image": "<base64>"}` (standard or URL-safe alphabet, a `data:` URL prefix allowed), or
/// the raw image bytes.
fn selfie_bytes(req: &HttpRequest, body: &Bytes, max_depth: usize) -> Result<Vec<u8>, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("image/jpeg") || content_type.starts_with("image/png") {
        return Ok(body.to_vec());
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::bad_body(
            "send the selfie as application/json {\"image\": \"<base64>\"}, image/jpeg or image/png",
        ));
    }
    crate::limits::check_json_depth(body, max_depth).map_err(crate::limits::too_deep)?;
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_body(format!("the body is not JSON: {e}")))?;
    let image = v["image"]
        .as_str()
        .ok_or_else(|| ApiError::bad_field("image", "is required: the selfie, base64"))?;
    decode_image_text(image).ok_or_else(|| ApiError::bad_field("image", "is not base64"))
}

/// Base64 image text as credentials and wallets carry it: optionally a `data:image/...;base64,`
/// URL, standard or URL-safe alphabet, padded or not.
fn decode_image_text(text: &str) -> Option<Vec<u8>> {
    let text = match text.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => text,
    };
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let unpadded = text.trim_end_matches('=');
    STANDARD
        .decode(&text)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(unpadded).ok())
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .ok()
        })
}

/// Whether `entry` of the held `verifiedCredentialsData` is the credential the face check is on.
fn answers(entry: &Value, pending: &PendingFaceCheck) -> bool {
    entry["type"].as_array().is_some_and(|t| {
        t.iter()
            .any(|x| x.as_str() == Some(pending.descriptor_id.as_str()))
    })
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn upload(
    state: web::Data<AppState>,
    http: HttpRequest,
    id: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::limits::Endpoint::FaceCheck;
    state
        .limits
        .check(limit, &http)
        .map_err(|l| l.api_error(limit.what()))?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    let Some(matcher) = state.face_matcher.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            InnerCode::FaceCheckNotConfigured,
            "face check is not configured on this server",
        ));
    };
    let req = state
        .store
        .request(id)
        .await?
        .filter(|r| r.kind == RequestKind::Presentation)
        .ok_or_else(|| ApiError::not_found(format!("presentation request `{id}` not found")))?;
    if req.expires_at <= state.clock.now() {
        return Err(flows::expired(req.id));
    }
    if req.status.parse::<FlowStatus>().ok() != Some(FlowStatus::FaceCheckPending) {
        return Err(ApiError::conflict(
            "no selfie is awaited for this request: present the credential first",
        )
        .with_request_id(req.id.to_string()));
    }
    let held = req.result.clone().unwrap_or_default();
    let expected = held["faceCheck"]["uploadTokenHash"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let given = bearer(&http).map(|t| token_hash(&t)).unwrap_or_default();
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            InnerCode::Forbidden,
            "the upload token is missing or wrong: use the one the presentation answer gave",
        )
        .with_request_id(req.id.to_string()));
    }
    let pending: PendingFaceCheck = serde_json::from_value(held["faceCheck"].clone())
        .map_err(|e| ApiError::internal(format!("stored face check unreadable: {e}")))?;
    let selfie = selfie_bytes(&http, &body, state.limits.json_max_depth())?;
    let verdict = held["heldVerdict"].clone();
    let photo = match held["faceCheck"]["sealedPhoto"].as_str() {
        Some(sealed) => {
            let token = bearer(&http).unwrap_or_default();
            let opened = URL_SAFE_NO_PAD
                .decode(sealed)
                .ok()
                .and_then(|s| photo_key(&token).open(req.id.as_bytes(), &s).ok())
                .and_then(|p| String::from_utf8(p.to_vec()).ok());
            Some(opened.ok_or_else(|| {
                ApiError::internal("the held photo of this face check does not open")
            })?)
        }
        // Held by an earlier version, in the verdict itself.
        None => verdict["verifiedCredentialsData"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|c| answers(c, &pending))
                    .and_then(|c| c["claims"][&pending.source_photo_claim_name].as_str())
            })
            .map(str::to_owned),
    };
    let outcome = match photo.as_deref().map(decode_image_text) {
        None => Err(PresentationError::FaceCheckPhotoMissing {
            descriptor: pending.descriptor_id.clone(),
            claim: pending.source_photo_claim_name.clone(),
        }),
        Some(None) => Err(PresentationError::FaceCheckFailed {
            descriptor: pending.descriptor_id.clone(),
            reason: format!(
                "{}: the claim {:?} is not base64 image data",
                ImageRole::Reference,
                pending.source_photo_claim_name
            ),
        }),
        Some(Some(reference)) => match matcher.compare(&reference, &selfie).await {
            Ok(c) => verity_presentation::judge_face_check(
                &pending,
                f64::from(c.match_confidence_score),
                Some(c.source_photo_quality.as_str().to_owned()),
            ),
            Err(e) if e.is_transient() || matches!(e, FaceMatchError::Matcher(_)) => {
                // Not a verdict: nothing is recorded and the holder may upload again.
                tracing::warn!(request_id = %req.id, code = e.code(), error = %e, "face check could not run");
                return Err(ApiError::transient(format!(
                    "the face check could not run: {e} ({})",
                    e.code()
                ))
                .with_retry_after(5)
                .with_request_id(req.id.to_string()));
            }
            Err(e) => Err(PresentationError::FaceCheckFailed {
                descriptor: pending.descriptor_id.clone(),
                reason: format!("{e} ({})", e.code()),
            }),
        },
    };
    drop(selfie);
    match outcome {
        Ok(result) => {
            let mut body = verdict;
            if let Some(all) = body["verifiedCredentialsData"].as_array_mut() {
                for c in all.iter_mut().filter(|c| answers(c, &pending)) {
                    // The photo served its purpose: it is not kept with the result or sent.
                    if let Some(claims) = c["claims"].as_object_mut() {
                        claims.remove(&pending.source_photo_claim_name);
                    }
                    c["faceCheck"] = json!({
                        "matchConfidenceScore": result.match_confidence_score,
                        "sourcePhotoQuality": result.source_photo_quality,
                    });
                }
            }
            let t = flows::step(&state, &req, FlowStatus::PresentationVerified, Some(body));
            match flows::apply(&state, &t).await? {
                TransitionOutcome::Applied(_) => {
                    tracing::info!(request_id = %req.id, score = result.match_confidence_score, "face check passed; presentation verified");
                    Ok(HttpResponse::Ok().json(json!({
                        "requestStatus": "presentation_verified",
                        "faceCheck": { "matchConfidenceScore": result.match_confidence_score },
                    })))
                }
                TransitionOutcome::Rejected(Rejection::Expired, _) => Err(flows::expired(req.id)),
                TransitionOutcome::Rejected(_, _) => {
                    Err(ApiError::conflict("this face check was already decided"))
                }
            }
        }
        Err(e) => {
            tracing::info!(request_id = %req.id, code = e.code(), error = %e, "face check refused");
            let t = flows::refusal_step(&state, &req, FlowStatus::FaceCheckFailed, &e);
            let refusal = ApiError::new(
                StatusCode::BAD_REQUEST,
                InnerCode::PresentationInvalid,
                format!("{e} ({}); present the credential again to retry", e.code()),
            )
            .with_request_id(req.id.to_string());
            match flows::apply(&state, &t).await? {
                TransitionOutcome::Applied(_) => Err(refusal),
                TransitionOutcome::Rejected(Rejection::LimitReached, _) => Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    InnerCode::RateLimited,
                    format!(
                        "{e} ({}); this request already recorded {} refusals",
                        e.code(),
                        flows::MAX_RECORDED_REFUSALS
                    ),
                )
                .with_request_id(req.id.to_string())),
                TransitionOutcome::Rejected(Rejection::Expired, _) => Err(flows::expired(req.id)),
                TransitionOutcome::Rejected(_, _) => {
                    Err(ApiError::conflict("this face check was already decided"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn image_text_in_every_base64_form_a_wallet_may_send() {
        let bytes = vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 250];
        for text in [
            STANDARD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
            format!("data:image/jpeg;base64,{}", STANDARD.encode(&bytes)),
            format!("{}\n", STANDARD.encode(&bytes)),
        ] {
            assert_eq!(decode_image_text(&text), Some(bytes.clone()), "{text}");
        }
        assert_eq!(decode_image_text("not base64 at all!"), None);
    }

    #[test]
    fn the_token_is_stored_as_its_hash() {
        let h = token_hash("abc");
        assert_ne!(h, "abc");
        assert_eq!(h, token_hash("abc"));
        assert_ne!(h, token_hash("abd"));
    }
}
