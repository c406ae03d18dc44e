//! The `http` provider: a remote face-verification service with a CompreFace-compatible
//! verify endpoint.
//!
//! `POST {url}/api/v1/verification/verify`, header `x-api-key`, multipart `source_image` (the
//! credential's photo) and `target_image` (the selfie). The service requires exactly one face
//! in `source_image` and answers one `face_matches` entry per face in `target_image`:
//!
//! ```json
//! {"result": [{"source_image_face": {"box": {"probability": 1.0, "x_max": 205, "y_max": 167,
//!   "x_min": 48, "y_min": 0}},
//!   "face_matches": [{"box": {...}, "similarity": 0.97858}]}]}
//! ```
//!
//! | answer | error |
//! |---|---|
//! | 200, one face match | score = [`score_from_similarity`] (`similarity_threshold` -> 70) |
//! | 200, no / several face matches | `NoFace` / `MultipleFaces` of the selfie |
//! | 400 code 28 (no face) | `NoFace`; one more request (the photo against itself) tells which image |
//! | 400 code 31 (too many faces in `source_image`) | `MultipleFaces` of the photo; one more request (swapped) counts them |
//! | 401, 403 | `Matcher` (the API key is refused: a configuration error) |
//! | other 4xx | `Matcher` with the service's message |
//! | 408, 429, 5xx, timeout, unreachable | `Unavailable` (transient) |
//!
//! The reference's quality is [`crate::quality::assess`] over the face box the service
//! reports, on the photo decoded here. No redirects are followed (the API key goes to the
//! configured host only); answers over [`MAX_ANSWER_BYTES`] are refused. Images are never
//! logged: only the endpoint, status codes and the service's messages are.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use url::Url;
use verity_core::Secret;

use crate::config::HttpConfig;
use crate::quality::{self, FaceBox};
use crate::{
    CheckedImage, FaceComparison, FaceMatchError, FaceMatcher, ImageFormat, ImageRole, check_image,
    decode_checked, score_from_similarity,
};

/// The verify path under the base URL.
pub const VERIFY_PATH: &str = "api/v1/verification/verify";
/// Largest answer read from the service.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// CompreFace's error code for "no face is found in the given image".
const CODE_NO_FACE: i64 = 28;
/// CompreFace's error code for "more than one face in the source image".
const CODE_TOO_MANY_FACES: i64 = 31;

/// The remote matcher.
pub struct HttpFaceMatcher {
    client: reqwest::Client,
    endpoint: Url,
    api_key: Secret,
    similarity_threshold: f64,
    timeout_ms: u64,
}

impl std::fmt::Debug for HttpFaceMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFaceMatcher")
            .field("endpoint", &self.endpoint.as_str())
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl HttpFaceMatcher {
    /// Builds the client; `http.url` (http or https) and `http.api_key` are required.
    pub fn new(config: &HttpConfig) -> Result<Self, FaceMatchError> {
        let bad = |m: String| FaceMatchError::Matcher(m);
        let url = config
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| bad("face_check.http.url is required for provider \"http\"".into()))?;
        let mut base = Url::parse(url.trim())
            .map_err(|e| bad(format!("face_check.http.url {url:?} is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad(format!(
                "face_check.http.url {url:?} must be an http or https URL with a host"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let endpoint = base
            .join(VERIFY_PATH)
            .map_err(|e| bad(format!("face_check.http.url {url:?}: {e}")))?;
        let api_key = config
            .api_key
            .clone()
            .filter(|k| !k.expose().is_empty())
            .ok_or_else(|| {
                bad("face_check.http.api_key is required for provider \"http\"".into())
            })?;
        if !(config.similarity_threshold > 0.0 && config.similarity_threshold < 1.0) {
            return Err(bad(format!(
                "face_check.http.similarity_threshold must be between 0 and 1 (exclusive), not {}",
                config.similarity_threshold
            )));
        }
        if config.timeout_ms == 0 || config.connect_timeout_ms == 0 {
            return Err(bad(
                "face_check.http.timeout_ms and connect_timeout_ms must be at least 1".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                bad(format!(
                    "face_check.http: cannot build the HTTP client: {e}"
                ))
            })?;
        Ok(Self {
            client,
            endpoint,
            api_key,
            similarity_threshold: config.similarity_threshold,
            timeout_ms: config.timeout_ms,
        })
    }

    /// The verify endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// One verify request: `source` must hold exactly one face.
    async fn verify(
        &self,
        source: (&[u8], CheckedImage),
        target: (&[u8], CheckedImage),
    ) -> Result<Answer, FaceMatchError> {
        let part = |bytes: &[u8], checked: CheckedImage, name: &str| {
            let (ext, mime) = match checked.format {
                ImageFormat::Jpeg => ("jpg", "image/jpeg"),
                ImageFormat::Png => ("png", "image/png"),
            };
            Part::bytes(bytes.to_vec())
                .file_name(format!("{name}.{ext}"))
                .mime_str(mime)
                .map_err(|e| FaceMatchError::Matcher(format!("multipart part: {e}")))
        };
        let form = Form::new()
            .part("source_image", part(source.0, source.1, "source")?)
            .part("target_image", part(target.0, target.1, "target")?);
        let response = self
            .client
            .post(self.endpoint.clone())
            .header("x-api-key", self.api_key.expose())
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = read_capped(response)
            .await
            .map_err(|e| self.transport_error(e))?
            .ok_or_else(|| {
                FaceMatchError::Matcher(format!(
                    "the face verification service's answer is over {MAX_ANSWER_BYTES} bytes"
                ))
            })?;
        if status.is_success() {
            let parsed: VerifyResponse = serde_json::from_slice(&body).map_err(|e| {
                FaceMatchError::Matcher(format!(
                    "the face verification service answered {status} with an unexpected body: {e}"
                ))
            })?;
            return Ok(Answer::Verified(parsed));
        }
        let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let message = error
            .message
            .map(|m| m.chars().take(200).collect::<String>())
            .unwrap_or_default();
        match status {
            StatusCode::BAD_REQUEST if error.code == Some(CODE_NO_FACE) => Ok(Answer::NoFace),
            StatusCode::BAD_REQUEST if error.code == Some(CODE_TOO_MANY_FACES) => {
                Ok(Answer::TooManySourceFaces)
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(FaceMatchError::Matcher(format!(
                    "the face verification service refused the API key (HTTP {}); check \
                     face_check.http.api_key",
                    status.as_u16()
                )))
            }
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                Err(FaceMatchError::Unavailable(format!(
                    "the face verification service answered HTTP {}",
                    status.as_u16()
                )))
            }
            s if s.is_server_error() => Err(FaceMatchError::Unavailable(format!(
                "the face verification service answered HTTP {}",
                s.as_u16()
            ))),
            s => Err(FaceMatchError::Matcher(format!(
                "the face verification service refused the request (HTTP {}{}): {}",
                s.as_u16(),
                error
                    .code
                    .map(|c| format!(", code {c}"))
                    .unwrap_or_default(),
                if message.is_empty() {
                    "no message"
                } else {
                    &message
                }
            ))),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> FaceMatchError {
        if e.is_timeout() {
            FaceMatchError::Unavailable(format!(
                "the face verification service at {} did not answer within {} ms",
                self.endpoint, self.timeout_ms
            ))
        } else if e.is_connect() {
            FaceMatchError::Unavailable(format!(
                "the face verification service at {} cannot be reached",
                self.endpoint
            ))
        } else {
            FaceMatchError::Unavailable(format!(
                "the request to the face verification service at {} failed: {e}",
                self.endpoint
            ))
        }
    }
}

#[async_trait::async_trait]
impl FaceMatcher for HttpFaceMatcher {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn compare(
        &self,
        reference: &[u8],
        probe: &[u8],
    ) -> Result<FaceComparison, FaceMatchError> {
        let reference_checked = check_image(ImageRole::Reference, reference)?;
        let probe_checked = check_image(ImageRole::Probe, probe)?;
        let r = (reference, reference_checked);
        let p = (probe, probe_checked);
        let verified = match self.verify(r, p).await? {
            Answer::Verified(v) => v,
            Answer::NoFace => {
                // The service does not say which image had no face: the photo against itself
                // has one exactly when the selfie was the faceless one.
                let image = match self.verify(r, r).await? {
                    Answer::NoFace => ImageRole::Reference,
                    _ => ImageRole::Probe,
                };
                return Err(FaceMatchError::NoFace { image });
            }
            Answer::TooManySourceFaces => {
                // Swapped, the photo's faces are the face matches (when the selfie has one).
                let count = match self.verify(p, r).await {
                    Ok(Answer::Verified(v)) => v.matches().len().max(2),
                    _ => 2,
                };
                return Err(FaceMatchError::MultipleFaces {
                    image: ImageRole::Reference,
                    count,
                });
            }
        };
        let matches = verified.matches();
        let similarity = match matches {
            [] => {
                return Err(FaceMatchError::NoFace {
                    image: ImageRole::Probe,
                });
            }
            [one] => one.similarity,
            many => {
                return Err(FaceMatchError::MultipleFaces {
                    image: ImageRole::Probe,
                    count: many.len(),
                });
            }
        };
        let face_box = verified
            .result
            .first()
            .and_then(|r| r.source_image_face.as_ref())
            .and_then(|f| f.face_box.as_ref())
            .ok_or_else(|| {
                FaceMatchError::Matcher(
                    "the face verification service's answer has no box for the photo's face".into(),
                )
            })?
            .to_face_box();
        let reference_bytes = reference.to_vec();
        let quality = tokio::task::spawn_blocking(move || {
            decode_checked(ImageRole::Reference, &reference_bytes, reference_checked)
                .map(|img| quality::assess(&img.to_luma8(), face_box))
        })
        .await
        .map_err(|e| FaceMatchError::Matcher(format!("the quality check stopped: {e}")))??;
        Ok(FaceComparison {
            match_confidence_score: score_from_similarity(similarity, self.similarity_threshold),
            source_photo_quality: quality.quality,
            reference_faces: 1,
            probe_faces: 1,
        })
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`]; `None` when the answer is longer.
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

enum Answer {
    Verified(VerifyResponse),
    NoFace,
    TooManySourceFaces,
}

#[derive(Debug, Deserialize)]
struct VerifyResponse {
    result: Vec<VerifyResult>,
}

impl VerifyResponse {
    fn matches(&self) -> &[FaceMatch] {
        self.result
            .first()
            .map(|r| r.face_matches.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Deserialize)]
struct VerifyResult {
    source_image_face: Option<SourceFace>,
    #[serde(default)]
    face_matches: Vec<FaceMatch>,
}

#[derive(Debug, Deserialize)]
struct SourceFace {
    #[serde(rename = "box")]
    face_box: Option<RemoteBox>,
}

#[derive(Debug, Deserialize)]
struct FaceMatch {
    similarity: f64,
}

#[derive(Debug, Deserialize)]
struct RemoteBox {
    x_min: i64,
    y_min: i64,
    x_max: i64,
    y_max: i64,
}

impl RemoteBox {
    fn to_face_box(&self) -> FaceBox {
        let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let (left, top) = (clamp(self.x_min), clamp(self.y_min));
        FaceBox {
            left,
            top,
            width: clamp(self.x_max).saturating_sub(left).max(1),
            height: clamp(self.y_max).saturating_sub(top).max(1),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    message: Option<String>,
    code: Option<i64>,
}
