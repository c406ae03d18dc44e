//! The `http` provider against a loopback stand-in for a CompreFace verification service.
//!
//! The stand-in checks what a real service would (path, method, `x-api-key`, the two multipart
//! parts) and "detects faces" from the image's size, so each answer of the real service can be
//! provoked: an image `W x H` shows `H % 10` faces of person `W % 10`; two images of the same
//! person have similarity 0.9, of different people 0.2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use verity_core::Secret;
use verity_face_match::http::HttpFaceMatcher;
use verity_face_match::{
    FaceMatchConfig, FaceMatchError, FaceMatcher, HttpConfig, ImageRole, PhotoQuality, Provider,
};

const KEY: &str = "test-api-key-5c76";

/// How the stand-in answers.
#[derive(Clone, Copy)]
enum Mode {
    /// Like the real service.
    Service,
    /// Always this status, with a small JSON error body.
    Status(u16),
    /// Waits this long, then answers like the service.
    Slow(u64),
    /// 200 with a body that is not the verify answer.
    Garbage,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    api_key: Option<String>,
    parts: Vec<SeenPart>,
}

#[derive(Debug, Clone)]
struct SeenPart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
}

impl StandIn {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Service));
        let (s, m) = (Arc::clone(&seen), Arc::clone(&mode));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, m) = (Arc::clone(&s), Arc::clone(&m));
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (s, m) = (Arc::clone(&s), Arc::clone(&m));
                        async move { Ok::<_, Infallible>(answer(req, s, m).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, mode }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn matcher(&self) -> HttpFaceMatcher {
        HttpFaceMatcher::new(&config(&self.url(), KEY, 2_000)).unwrap()
    }
}

fn config(url: &str, key: &str, timeout_ms: u64) -> HttpConfig {
    HttpConfig {
        url: Some(url.to_string()),
        api_key: Some(Secret::new(key)),
        connect_timeout_ms: 1_000,
        timeout_ms,
        similarity_threshold: 0.5,
    }
}

fn json(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(status: u16, code: i64, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"message": message, "code": code}),
    )
}

/// (faces, person) of a stand-in image, from its size.
fn faces_of(image: &[u8]) -> Option<(u32, u32)> {
    let img = image::load_from_memory(image).ok()?;
    Some((img.height() % 10, img.width() % 10))
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let api_key = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let parts = parse_multipart(&content_type, &body);
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        api_key: api_key.clone(),
        parts: parts.clone(),
    });
    let mode = *mode.lock().unwrap();
    match mode {
        Mode::Status(status) => return error(status, 0, "stand-in failure"),
        Mode::Garbage => return json(200, serde_json::json!({"faces": "many"})),
        Mode::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Mode::Service => {}
    }
    if !path.ends_with("/api/v1/verification/verify") {
        return error(404, 0, "No handler found");
    }
    if method != "POST" {
        return error(405, 0, "method not allowed");
    }
    if api_key.as_deref() != Some(KEY) {
        return error(401, 0, "Wrong api key");
    }
    let part = |name: &str| parts.iter().find(|p| p.name == name);
    let (Some(source), Some(target)) = (part("source_image"), part("target_image")) else {
        return error(400, 34, "Required request part is not present");
    };
    let (Some((source_faces, source_person)), Some((target_faces, target_person))) =
        (faces_of(&source.data), faces_of(&target.data))
    else {
        return error(400, 21, "File is not an image");
    };
    match source_faces {
        0 => return error(400, 28, "No face is found in the given image"),
        1 => {}
        _ => return error(400, 31, "Too many faces"),
    }
    if target_faces == 0 {
        return error(400, 28, "No face is found in the given image");
    }
    let similarity = if source_person == target_person {
        0.9
    } else {
        0.2
    };
    let face = serde_json::json!({"probability": 0.999, "x_min": 10, "y_min": 10, "x_max": 250, "y_max": 250});
    let matches: Vec<_> = (0..target_faces)
        .map(|_| serde_json::json!({"box": face, "similarity": similarity}))
        .collect();
    json(
        200,
        serde_json::json!({"result": [{"source_image_face": {"box": face}, "face_matches": matches}]}),
    )
}

/// Just enough of multipart/form-data for the check.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<SeenPart> {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return Vec::new();
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let text = body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = find_all(text, delimiter.as_bytes());
    for pair in positions.windows(2) {
        let chunk = &text[pair[0] + delimiter.len()..pair[1]];
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let Some(split) = find_all(chunk, b"\r\n\r\n").first().copied() else {
            continue;
        };
        let headers = String::from_utf8_lossy(&chunk[..split]).to_string();
        let mut data = chunk[split + 4..].to_vec();
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        }
        let attr = |key: &str| {
            headers
                .split(';')
                .map(str::trim)
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.split('"').next().unwrap_or_default().to_string())
        };
        let content_type = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Content-Type: ")
                    .or(l.strip_prefix("content-type: "))
            })
            .map(str::to_string);
        parts.push(SeenPart {
            name: attr("name").unwrap_or_default(),
            filename: attr("filename"),
            content_type,
            data,
        });
    }
    parts
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..=haystack.len().saturating_sub(needle.len()))
        .filter(|&i| haystack[i..].starts_with(needle))
        .collect()
}

/// A sharp PNG that the stand-in reads as `faces` faces of `person`.
fn image(person: u32, faces: u32) -> Vec<u8> {
    let (w, h) = (300 + person, 300 + faces);
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([if (x / 6 + y / 6).is_multiple_of(2) {
            40
        } else {
            210
        }])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn same_person_scores_at_least_70_and_the_request_has_the_services_shape() {
    let standin = StandIn::start().await;
    let m = standin.matcher();
    assert_eq!(m.name(), "http");
    let (reference, probe) = (image(4, 1), image(4, 1));
    let c = m.compare(&reference, &probe).await.unwrap();
    assert_eq!(
        c.match_confidence_score, 94,
        "0.9 similarity at a 0.5 decision point"
    );
    assert!(c.match_confidence_score >= 70);
    assert_eq!((c.reference_faces, c.probe_faces), (1, 1));
    // The stand-in's box covers a large part of a sharp photo.
    assert_eq!(c.source_photo_quality, PhotoQuality::High);

    let seen = standin.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1/verification/verify");
    assert_eq!(req.api_key.as_deref(), Some(KEY));
    let names: Vec<_> = req.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["source_image", "target_image"]);
    assert_eq!(
        req.parts[0].data, reference,
        "the photo is the source image"
    );
    assert_eq!(req.parts[1].data, probe, "the selfie is the target image");
    for p in &req.parts {
        assert!(p.filename.as_deref().unwrap().ends_with(".png"), "{p:?}");
        assert_eq!(p.content_type.as_deref(), Some("image/png"), "{p:?}");
    }
}

#[tokio::test]
async fn different_people_score_below_70() {
    let standin = StandIn::start().await;
    let c = standin
        .matcher()
        .compare(&image(4, 1), &image(7, 1))
        .await
        .unwrap();
    assert_eq!(c.match_confidence_score, 28);
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_it() {
    let standin = StandIn::start().await;
    let m = HttpFaceMatcher::new(&config(&format!("{}/faces", standin.url()), KEY, 2_000)).unwrap();
    assert!(
        m.endpoint().ends_with("/faces/api/v1/verification/verify"),
        "{}",
        m.endpoint()
    );
    m.compare(&image(1, 1), &image(1, 1)).await.unwrap();
    assert_eq!(standin.seen()[0].path, "/faces/api/v1/verification/verify");
}

#[tokio::test]
async fn a_refused_api_key_is_a_configuration_error() {
    let standin = StandIn::start().await;
    let m = HttpFaceMatcher::new(&config(&standin.url(), "wrong-key", 2_000)).unwrap();
    let e = m.compare(&image(1, 1), &image(1, 1)).await.unwrap_err();
    assert_eq!(e.code(), "FACE-007", "{e}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("API key"), "{e}");
    assert!(
        !e.to_string().contains("wrong-key"),
        "the key is never in a message: {e}"
    );
    assert_eq!(standin.seen()[0].api_key.as_deref(), Some("wrong-key"));
}

#[tokio::test]
async fn no_face_names_the_image_that_has_none() {
    let standin = StandIn::start().await;
    let m = standin.matcher();
    let e = m.compare(&image(1, 1), &image(1, 0)).await.unwrap_err();
    assert_eq!(
        e,
        FaceMatchError::NoFace {
            image: ImageRole::Probe
        }
    );
    let e = m.compare(&image(1, 0), &image(1, 1)).await.unwrap_err();
    assert_eq!(
        e,
        FaceMatchError::NoFace {
            image: ImageRole::Reference
        }
    );
    assert_eq!(e.code(), "FACE-004");
    // Each took the verify request and one follow-up.
    assert_eq!(standin.seen().len(), 4);
}

#[tokio::test]
async fn more_than_one_face_names_the_image_and_the_count() {
    let standin = StandIn::start().await;
    let m = standin.matcher();
    let e = m.compare(&image(1, 1), &image(1, 2)).await.unwrap_err();
    assert_eq!(
        e,
        FaceMatchError::MultipleFaces {
            image: ImageRole::Probe,
            count: 2
        }
    );
    let e = m.compare(&image(1, 3), &image(1, 1)).await.unwrap_err();
    assert_eq!(
        e,
        FaceMatchError::MultipleFaces {
            image: ImageRole::Reference,
            count: 3
        }
    );
    assert_eq!(e.code(), "FACE-005");
}

#[tokio::test]
async fn server_errors_and_overload_are_transient() {
    let standin = StandIn::start().await;
    let m = standin.matcher();
    for status in [500, 502, 503, 429] {
        standin.set_mode(Mode::Status(status));
        let e = m.compare(&image(1, 1), &image(1, 1)).await.unwrap_err();
        assert_eq!(e.code(), "FACE-006", "{status}: {e}");
        assert!(e.is_transient(), "{status}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
    }
    standin.set_mode(Mode::Status(422));
    let e = m.compare(&image(1, 1), &image(1, 1)).await.unwrap_err();
    assert_eq!(e.code(), "FACE-007", "{e}");
    assert!(e.to_string().contains("stand-in failure"), "{e}");
}

#[tokio::test]
async fn an_unexpected_answer_is_a_matcher_error() {
    let standin = StandIn::start().await;
    standin.set_mode(Mode::Garbage);
    let e = standin
        .matcher()
        .compare(&image(1, 1), &image(1, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "FACE-007", "{e}");
    assert!(e.to_string().contains("unexpected body"), "{e}");
}

#[tokio::test]
async fn a_slow_service_times_out_as_unavailable() {
    let standin = StandIn::start().await;
    standin.set_mode(Mode::Slow(3_000));
    let m = HttpFaceMatcher::new(&config(&standin.url(), KEY, 300)).unwrap();
    let started = std::time::Instant::now();
    let e = m.compare(&image(1, 1), &image(1, 1)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(2_500));
    assert_eq!(e.code(), "FACE-006", "{e}");
    assert!(e.to_string().contains("within 300 ms"), "{e}");
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    // A port that was just free: nothing listens there now.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let m = HttpFaceMatcher::new(&config(&format!("http://{addr}"), KEY, 2_000)).unwrap();
    let e = m.compare(&image(1, 1), &image(1, 1)).await.unwrap_err();
    assert_eq!(e.code(), "FACE-006", "{e}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn bad_images_are_refused_before_anything_is_sent() {
    let standin = StandIn::start().await;
    let m = standin.matcher();
    let e = m.compare(b"not an image", &image(1, 1)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.image()),
        ("FACE-001", Some(ImageRole::Reference))
    );
    let e = m
        .compare(&image(1, 1), b"GIF89a\x01\x00\x01\x00\x00\x00\x00")
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.image()), ("FACE-002", Some(ImageRole::Probe)));
    let e = m
        .compare(
            &image(1, 1),
            &vec![0u8; verity_face_match::MAX_IMAGE_BYTES + 1],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "FACE-003");
    assert!(standin.seen().is_empty());
}

#[tokio::test]
async fn build_makes_the_http_matcher_and_refuses_incomplete_settings() {
    let standin = StandIn::start().await;
    let mut c = FaceMatchConfig {
        provider: Provider::Http,
        http: config(&standin.url(), KEY, 2_000),
        ..Default::default()
    };
    let m = verity_face_match::build(&c).unwrap().unwrap();
    assert_eq!(m.name(), "http");
    assert!(!format!("{m:?}").contains(KEY), "{m:?}");
    m.compare(&image(2, 1), &image(2, 1)).await.unwrap();

    c.http.api_key = None;
    let e = verity_face_match::build(&c).unwrap_err();
    assert!(e.to_string().contains("face_check.http.api_key"), "{e}");
    c.http.api_key = Some(Secret::new(KEY));
    for (url, needle) in [
        (None, "face_check.http.url is required"),
        (Some("ftp://faces.example.com"), "http or https"),
        (Some("not a url"), "is not a URL"),
    ] {
        c.http.url = url.map(str::to_string);
        let e = verity_face_match::build(&c).unwrap_err();
        assert!(e.to_string().contains(needle), "{url:?}: {e}");
    }
    c.http.url = Some(standin.url());
    c.http.similarity_threshold = 1.0;
    let e = verity_face_match::build(&c).unwrap_err();
    assert!(e.to_string().contains("similarity_threshold"), "{e}");
}
