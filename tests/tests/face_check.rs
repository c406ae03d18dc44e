//! Face check through the real app (protocol.md §6): a verified answer waits for the holder's
//! selfie, the matcher (here the `FakeFaceMatcher` test double; the real model has its own
//! tests in verity-face-match) decides, and one step ends the wait. Each case runs on SQLite
//! and Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use verity_face_match::testing::FakeFaceMatcher;
use verity_tests::browser::chromium;
use verity_tests::issuance::{IssuanceEnv, allow_local_callbacks, env_for_app, example_contract};
use verity_tests::presentation::{
    create_presentation_at, issue_to, outbox_of, poll, presentation_body, presenting, requested,
    second_wallet,
};
use verity_tests::{
    Backend, allow_local_resolution, both_backends, send, spawn_app_with_face_matcher,
};
use verity_wallet::{Algorithm, PresentationOptions, Presented};

both_backends!(
    a_matching_selfie_verifies_with_its_score,
    a_selfie_below_the_threshold_is_refused_and_the_request_stays_answerable,
    a_selfie_after_the_expiry_is_refused,
    a_credential_without_the_photo_claim_is_refused,
    only_the_holder_with_the_token_uploads_and_strangers_cannot_end_the_wait,
    an_unusable_selfie_is_refused_naming_the_image,
    answers_and_selfies_at_once_have_one_outcome_and_a_lost_answer_is_recovered,
);

#[tokio::test(flavor = "multi_thread")]
async fn the_capture_page_takes_and_uploads_a_selfie_in_a_real_browser() {
    capture_page_in_chromium(Backend::Sqlite).await;
}

/// A 1x1 PNG: a valid image for the test double, which scores without looking for faces.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    STANDARD.decode(PNG).unwrap()
}

struct Env {
    env: IssuanceEnv,
    matcher: Arc<FakeFaceMatcher>,
    contract: String,
}

async fn face_env(backend: Backend, score: u8) -> Option<Env> {
    let matcher = Arc::new(FakeFaceMatcher::scoring(score));
    let app = spawn_app_with_face_matcher(
        backend,
        |c| {
            allow_local_resolution(c);
            allow_local_callbacks(c);
        },
        matcher.clone(),
    )
    .await?;
    let env = env_for_app(app, Algorithm::EdDSA).await;
    let contract = env
        .create_contract(example_contract("verified-employee-hint", &env.authority))
        .await;
    Some(Env {
        env,
        matcher,
        contract,
    })
}

impl Env {
    /// Issues a VerifiedEmployee to the env's wallet, with a photo unless `photo` is false.
    async fn employee(&self, photo: bool) -> String {
        let authority = self.env.authority.clone();
        issue_to(
            &self.env,
            &self.env.wallet,
            &authority,
            &self.contract,
            "Megan",
            |body| {
                let mut claims = json!({
                    "displayName": "Megan Bowen", "revocationId": "megan@contoso.example",
                });
                if photo {
                    claims["photo"] = json!(PNG);
                }
                body["claims"] = claims;
            },
        )
        .await
    }

    /// Creates a request for a VerifiedEmployee with a face check on `photo` (threshold 70)
    /// at `base`; returns (requestId, URL).
    async fn request_at(&self, base: &str) -> (String, String) {
        let mut r = requested("VerifiedEmployee", &[&self.env.authority]);
        r["configuration"]["validation"]["faceCheck"] =
            json!({ "sourcePhotoClaimName": "photo", "matchConfidenceThreshold": 70 });
        let (status, created) =
            create_presentation_at(&self.env, base, &presentation_body(&self.env, vec![r])).await;
        assert_eq!(status, 201, "{created}");
        (
            created["requestId"].as_str().unwrap().to_owned(),
            created["url"].as_str().unwrap().to_owned(),
        )
    }

    async fn request(&self) -> (String, String) {
        self.request_at("v1.0").await
    }

    async fn present(&self, url: &str, vc: &str) -> Presented {
        self.env
            .wallet
            .present_with(url, &presenting(vec![vc.to_owned()]))
            .await
            .unwrap()
    }

    async fn status(&self, id: &str) -> Value {
        poll(&self.env, id).await.1
    }
}

fn inner(body: &Value) -> (&str, &str) {
    (
        body["error"]["innererror"]["code"]
            .as_str()
            .unwrap_or_default(),
        body["error"]["innererror"]["message"]
            .as_str()
            .unwrap_or_default(),
    )
}

async fn a_matching_selfie_verifies_with_its_score(backend: Backend) {
    let Some(e) = face_env(backend, 85).await else {
        return;
    };
    let vc = e.employee(true).await;
    // The hosted service's Node sample uses the /beta base, its .NET sample /v1.0.
    e.request_at("beta").await;
    let (id, url) = e.request().await;
    let presented = e.present(&url, &vc).await;
    let (upload, _) = presented
        .face_check_upload()
        .expect("a selfie is asked for");
    assert!(
        upload.ends_with(&format!("/v1.0/faceCheck/{id}")),
        "{upload}"
    );
    // The verdict is held back: RPs see the request retrieved, no verdict callback yet.
    assert_eq!(e.status(&id).await["requestStatus"], "request_retrieved");
    assert_eq!(e.matcher.calls(), 0);
    // While the selfie is awaited the photo is held sealed, never readable in the database.
    let pending = e
        .env
        .app
        .app_state()
        .store
        .request(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let held = serde_json::to_string(&pending.result).unwrap();
    assert!(!held.contains(PNG), "the photo is stored readable");
    assert!(held.contains("sealedPhoto"), "{held}");

    let (status, body) = e
        .env
        .wallet
        .upload_selfie(&presented, &png())
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["faceCheck"]["matchConfidenceScore"], 85.0);
    assert_eq!(e.matcher.calls(), 1);
    let polled = e.status(&id).await;
    assert_eq!(polled["requestStatus"], "presentation_verified", "{polled}");
    let face = &polled["verifiedCredentialsData"][0]["faceCheck"];
    assert_eq!(face["matchConfidenceScore"], 85.0, "{polled}");
    assert_eq!(face["sourcePhotoQuality"], "HIGH", "{polled}");
    // The photo the selfie was compared with is not kept once the check is decided: not in
    // the result RPs poll, not in the callback, nowhere in the stored request.
    assert!(
        polled["verifiedCredentialsData"][0]["claims"]
            .get("photo")
            .is_none(),
        "{polled}"
    );
    assert_eq!(
        polled["verifiedCredentialsData"][0]["claims"]["displayName"], "Megan Bowen",
        "{polled}"
    );
    let outbox = outbox_of(&e.env.app, &id).await;
    assert!(
        outbox.iter().all(|m| !m.body.to_string().contains(PNG)),
        "the photo is in a callback"
    );
    let stored = e
        .env
        .app
        .app_state()
        .store
        .request(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !serde_json::to_string(&stored.result).unwrap().contains(PNG),
        "the photo is stored with the request"
    );
    // Sorted: both rows are written at the same (manual) clock time.
    let mut statuses: Vec<String> = outbox.into_iter().map(|m| m.request_status).collect();
    statuses.sort();
    assert_eq!(statuses, ["presentation_verified", "request_retrieved"]);
    // Decided: a second upload changes nothing.
    let (status, body) = e
        .env
        .wallet
        .upload_selfie(&presented, &png())
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(e.matcher.calls(), 1);
}

async fn a_selfie_below_the_threshold_is_refused_and_the_request_stays_answerable(
    backend: Backend,
) {
    let Some(e) = face_env(backend, 40).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    let presented = e.present(&url, &vc).await;
    let (status, body) = e
        .env
        .wallet
        .upload_selfie(&presented, &png())
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let (code, message) = inner(&body);
    assert_eq!(code, "presentationInvalid");
    assert!(
        message.contains("PRES-051") && message.contains("40 below threshold 70"),
        "{message}"
    );
    let polled = e.status(&id).await;
    assert_eq!(polled["requestStatus"], "presentation_error", "{polled}");
    assert_eq!(polled["error"]["code"], "claimValidationError", "{polled}");
    // The holder may present again and try another selfie.
    e.matcher.set_score(91);
    let again = e.present(&url, &vc).await;
    let (status, body) = e.env.wallet.upload_selfie(&again, &png()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        e.status(&id).await["requestStatus"],
        "presentation_verified"
    );
    // The first answer's token no longer uploads anything.
    let (status, _) = e
        .env
        .wallet
        .upload_selfie(&presented, &png())
        .await
        .unwrap();
    assert_eq!(status, 409);
}

async fn a_selfie_after_the_expiry_is_refused(backend: Backend) {
    let Some(e) = face_env(backend, 90).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    let presented = e.present(&url, &vc).await;
    e.env.app.clock.advance(chrono::Duration::seconds(301));
    let (status, body) = e
        .env
        .wallet
        .upload_selfie(&presented, &png())
        .await
        .unwrap();
    assert_eq!(status, 410, "{body}");
    assert_eq!(inner(&body).0, "requestExpired");
    assert_eq!(e.matcher.calls(), 0);
    assert_ne!(
        e.status(&id).await["requestStatus"],
        "presentation_verified"
    );
}

async fn a_credential_without_the_photo_claim_is_refused(backend: Backend) {
    let Some(e) = face_env(backend, 90).await else {
        return;
    };
    let vc = e.employee(false).await;
    let (id, url) = e.request().await;
    let err = e
        .env
        .wallet
        .present_with(&url, &presenting(vec![vc]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PRES-050"), "{err}");
    let polled = e.status(&id).await;
    assert_eq!(polled["requestStatus"], "presentation_error", "{polled}");
    assert!(
        polled["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"photo\""),
        "{polled}"
    );
}

async fn only_the_holder_with_the_token_uploads_and_strangers_cannot_end_the_wait(
    backend: Backend,
) {
    let Some(e) = face_env(backend, 90).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    let upload = format!("{}/v1.0/faceCheck/{id}", e.env.app.url);
    // Before any presentation there is nothing to upload to.
    let (status, body) = send(
        e.env
            .app
            .http
            .post(&upload)
            .bearer_auth("guess")
            .header("content-type", "image/png")
            .body(png()),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let presented = e.present(&url, &vc).await;
    // A stranger who saw the QR code answers with a credential that is not theirs: refused,
    // and the holder's face check keeps waiting.
    let (stranger, _dir) = second_wallet(&e.env, Algorithm::ES256);
    let err = stranger
        .present_with(
            &url,
            &PresentationOptions {
                credentials: vec![vc.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(e.status(&id).await["requestStatus"], "request_retrieved");
    // Without the token, or with another, the upload is refused before any comparison.
    for auth in [None, Some("not-the-token")] {
        let mut r = e
            .env
            .app
            .http
            .post(&upload)
            .header("content-type", "application/json");
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        let (status, body) = send(r.json(&json!({ "image": PNG }))).await;
        assert_eq!(status, 403, "{body}");
    }
    assert_eq!(e.matcher.calls(), 0);
    // The holder's JSON upload goes through.
    let (_, token) = presented.face_check_upload().unwrap();
    let (status, body) = send(
        e.env
            .app
            .http
            .post(&upload)
            .bearer_auth(token)
            .json(&json!({ "image": format!("data:image/png;base64,{PNG}") })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        e.status(&id).await["requestStatus"],
        "presentation_verified"
    );
}

async fn an_unusable_selfie_is_refused_naming_the_image(backend: Backend) {
    let Some(e) = face_env(backend, 90).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    let presented = e.present(&url, &vc).await;
    let (status, body) = e
        .env
        .wallet
        .upload_selfie(&presented, b"GIF89a not a photo")
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let message = inner(&body).1;
    assert!(
        message.contains("the selfie") && message.contains("FACE-002"),
        "{message}"
    );
    let polled = e.status(&id).await;
    assert_eq!(polled["requestStatus"], "presentation_error", "{polled}");
}

/// An MJPEG "camera" for Chromium's fake capture device: frames of a generated picture.
fn fake_camera(dir: &std::path::Path) -> std::path::PathBuf {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        let d = ((x as i32 - 160).pow(2) + (y as i32 - 120).pow(2)) as f32;
        if d < 70.0 * 70.0 {
            image::Rgb([224, 172, 140])
        } else {
            image::Rgb([(x / 2) as u8, 90, (y / 2) as u8])
        }
    });
    let mut frame = std::io::Cursor::new(Vec::new());
    img.write_to(&mut frame, image::ImageFormat::Jpeg).unwrap();
    let path = dir.join("camera.mjpeg");
    let frames: Vec<u8> = (0..30).flat_map(|_| frame.get_ref().clone()).collect();
    std::fs::write(&path, frames).unwrap();
    path
}

async fn capture_page_in_chromium(backend: Backend) {
    let Some(browser) = chromium() else {
        return;
    };
    let Some(e) = face_env(backend, 88).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    let presented = e.present(&url, &vc).await;
    let capture = presented.body["faceCheck"]["captureUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        capture.contains(&format!("/face-check/{id}#token=")),
        "{capture}"
    );
    // The page itself carries no secret: the token is only in the fragment.
    let (_, page) = send(e.env.app.http.get(capture.split('#').next().unwrap())).await;
    let page = page.as_str().unwrap().to_owned();
    assert!(
        page.contains("getUserMedia") && !page.contains(presented.face_check_upload().unwrap().1)
    );

    let dir = tempfile::tempdir().unwrap();
    let camera = fake_camera(dir.path());
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("face-check");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join(format!("capture-{backend:?}.png"));
    let script_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let mut child = std::process::Command::new("node")
        .current_dir(&script_dir)
        .arg("capture.mjs")
        .arg(&browser)
        .arg(&camera)
        .arg(&capture)
        .arg(&screenshot)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(90) {
            child.kill().unwrap();
            panic!("the browser script did not finish within 90 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RESULT verified"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("capture page screenshot: {}", screenshot.display());
    assert!(
        screenshot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let polled = e.status(&id).await;
    assert_eq!(
        polled["requestStatus"],
        "presentation_verified",
        "the page did not complete the face check: {polled}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        polled["verifiedCredentialsData"][0]["faceCheck"]["matchConfidenceScore"],
        88.0
    );
    assert_eq!(e.matcher.calls(), 1);
}

async fn answers_and_selfies_at_once_have_one_outcome_and_a_lost_answer_is_recovered(
    backend: Backend,
) {
    let Some(e) = face_env(backend, 90).await else {
        return;
    };
    let vc = e.employee(true).await;
    let (id, url) = e.request().await;
    // The holder answers twice at once: one awaits the selfie, both get its upload token.
    let (a, b) = tokio::join!(e.present(&url, &vc), e.present(&url, &vc));
    let token = a.face_check_upload().unwrap().1.to_owned();
    assert_eq!(b.face_check_upload().unwrap().1, token);
    // The answer was lost: presenting again gets the same token, and nothing changes.
    let again = e.present(&url, &vc).await;
    assert_eq!(again.face_check_upload().unwrap().1, token);
    assert_eq!(e.status(&id).await["requestStatus"], "request_retrieved");
    // Two selfies at once: one decides, the other finds it decided.
    let selfie = png();
    let (x, y) = tokio::join!(
        e.env.wallet.upload_selfie(&a, &selfie),
        e.env.wallet.upload_selfie(&b, &selfie)
    );
    let mut statuses = [x.unwrap().0, y.unwrap().0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let mut rows: Vec<String> = outbox_of(&e.env.app, &id)
        .await
        .into_iter()
        .map(|m| m.request_status)
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        ["presentation_verified", "request_retrieved"],
        "one verdict"
    );
    // Decided: presenting again is an answered request, not a new token.
    let err = e
        .env
        .wallet
        .present_with(&url, &presenting(vec![vc]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already answered"), "{err}");
}
