//! The `local` provider on the real dlib models and real photos (feature `local`).
//!
//! Photos: obama.jpg, obama2.jpg, obama3.jpg (one person, three occasions) and biden.jpg
//! (another person), fetched at test time; see tests/README.md and tests/support.
#![cfg(feature = "local")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Cursor;
use std::sync::OnceLock;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImage, ImageFormat, RgbImage};
use verity_face_match::local::LocalFaceMatcher;
use verity_face_match::{
    DEFAULT_THRESHOLD, FaceMatchConfig, FaceMatchError, FaceMatcher, ImageRole, MAX_IMAGE_BYTES,
    PhotoQuality, Provider,
};

fn matcher() -> Option<(&'static LocalFaceMatcher, &'static support::TestData)> {
    static MATCHER: OnceLock<LocalFaceMatcher> = OnceLock::new();
    let data = support::test_data()?;
    let m = MATCHER.get_or_init(|| LocalFaceMatcher::load(&data.models, 2, 16).unwrap());
    Some((m, data))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).unwrap()
}

/// Two photos side by side on one canvas (height of the taller), as a JPEG.
fn side_by_side(a: &[u8], b: &[u8]) -> Vec<u8> {
    let (a, b) = (decode(a).to_rgb8(), decode(b).to_rgb8());
    let mut canvas = RgbImage::new(a.width() + b.width(), a.height().max(b.height()));
    canvas.copy_from(&a, 0, 0).unwrap();
    canvas.copy_from(&b, a.width(), 0).unwrap();
    // Keep it under the byte limit.
    let canvas = imageops::resize(
        &canvas,
        canvas.width() / 2,
        canvas.height() / 2,
        FilterType::Triangle,
    );
    let bytes = encode(&DynamicImage::ImageRgb8(canvas), ImageFormat::Jpeg);
    assert!(bytes.len() <= MAX_IMAGE_BYTES);
    bytes
}

#[tokio::test]
async fn the_same_person_scores_at_least_70() {
    let Some((m, data)) = matcher() else { return };
    for (a, b) in [
        ("obama.jpg", "obama2.jpg"),
        ("obama.jpg", "obama3.jpg"),
        ("obama2.jpg", "obama3.jpg"),
    ] {
        let d = m
            .compare_detailed(&data.photo(a), &data.photo(b))
            .await
            .unwrap_or_else(|e| panic!("{a} vs {b}: {e}"));
        eprintln!(
            "same person {a} vs {b}: distance {:.4}, score {}",
            d.distance, d.comparison.match_confidence_score
        );
        assert!(d.distance < 0.6, "{a} vs {b}: {d:?}");
        assert!(
            d.comparison.match_confidence_score >= DEFAULT_THRESHOLD,
            "{a} vs {b}: {d:?}"
        );
        assert_eq!(
            (d.comparison.reference_faces, d.comparison.probe_faces),
            (1, 1)
        );
    }
    // Symmetric, and a photo with itself is a perfect match.
    let ab = m
        .compare_detailed(&data.photo("obama.jpg"), &data.photo("obama2.jpg"))
        .await
        .unwrap();
    let ba = m
        .compare_detailed(&data.photo("obama2.jpg"), &data.photo("obama.jpg"))
        .await
        .unwrap();
    assert!((ab.distance - ba.distance).abs() < 1e-6);
    let same = m
        .compare(&data.photo("obama.jpg"), &data.photo("obama.jpg"))
        .await
        .unwrap();
    assert_eq!(same.match_confidence_score, 100);
}

#[tokio::test]
async fn different_people_score_below_70() {
    let Some((m, data)) = matcher() else { return };
    for (a, b) in [
        ("obama.jpg", "biden.jpg"),
        ("obama2.jpg", "biden.jpg"),
        ("obama3.jpg", "biden.jpg"),
    ] {
        let d = m
            .compare_detailed(&data.photo(a), &data.photo(b))
            .await
            .unwrap_or_else(|e| panic!("{a} vs {b}: {e}"));
        eprintln!(
            "different people {a} vs {b}: distance {:.4}, score {}",
            d.distance, d.comparison.match_confidence_score
        );
        assert!(d.distance > 0.6, "{a} vs {b}: {d:?}");
        assert!(
            d.comparison.match_confidence_score < DEFAULT_THRESHOLD,
            "{a} vs {b}: {d:?}"
        );
    }
}

#[tokio::test]
async fn a_png_and_a_small_photo_are_matched_too() {
    let Some((m, data)) = matcher() else { return };
    let obama = decode(&data.photo("obama.jpg"));
    let png = encode(
        &obama.resize(400, 400, FilterType::Triangle),
        ImageFormat::Png,
    );
    // A 300 px selfie: the detector works on a doubled copy.
    let small = encode(
        &obama.resize(300, 300, FilterType::Triangle),
        ImageFormat::Jpeg,
    );
    let c = m.compare(&data.photo("obama2.jpg"), &png).await.unwrap();
    assert!(c.match_confidence_score >= DEFAULT_THRESHOLD, "{c:?}");
    let c = m.compare(&data.photo("obama2.jpg"), &small).await.unwrap();
    assert!(c.match_confidence_score >= DEFAULT_THRESHOLD, "{c:?}");
    let c = m.compare(&small, &data.photo("biden.jpg")).await.unwrap();
    assert!(c.match_confidence_score < DEFAULT_THRESHOLD, "{c:?}");
}

#[tokio::test]
async fn each_image_error_names_the_image() {
    let Some((m, data)) = matcher() else { return };
    let good = data.photo("obama.jpg");
    let blank = encode(
        &DynamicImage::ImageRgb8(RgbImage::from_pixel(640, 480, image::Rgb([200, 200, 200]))),
        ImageFormat::Png,
    );
    let two_faces = side_by_side(&data.photo("obama.jpg"), &data.photo("biden.jpg"));
    // A PNG cut off after its header (a cut JPEG decodes, grey where the data ends).
    let truncated = {
        let png = encode(
            &decode(&good).resize(500, 500, FilterType::Triangle),
            ImageFormat::Png,
        );
        png[..png.len() / 3].to_vec()
    };
    let too_many_bytes = {
        // Noise does not compress: a PNG over the byte limit.
        let mut seed = 7u32;
        let noise = RgbImage::from_fn(800, 800, |_, _| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let b = seed.to_be_bytes();
            image::Rgb([b[0], b[1], b[2]])
        });
        encode(&DynamicImage::ImageRgb8(noise), ImageFormat::Png)
    };
    assert!(too_many_bytes.len() > MAX_IMAGE_BYTES);
    let too_many_pixels = encode(
        &DynamicImage::ImageRgb8(RgbImage::new(4097, 8)),
        ImageFormat::Png,
    );
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();

    for role in [ImageRole::Reference, ImageRole::Probe] {
        let run = |bad: Vec<u8>| {
            let good = good.clone();
            async move {
                match role {
                    ImageRole::Reference => m.compare(&bad, &good).await,
                    ImageRole::Probe => m.compare(&good, &bad).await,
                }
                .unwrap_err()
            }
        };
        let e = run(b"definitely not an image".to_vec()).await;
        assert_eq!((e.code(), e.image()), ("FACE-001", Some(role)), "{e}");
        let e = run(truncated.clone()).await;
        assert_eq!(
            (e.code(), e.image()),
            ("FACE-001", Some(role)),
            "truncated: {e}"
        );
        let e = run(gif.clone()).await;
        assert_eq!((e.code(), e.image()), ("FACE-002", Some(role)), "{e}");
        let e = run(too_many_bytes.clone()).await;
        assert_eq!((e.code(), e.image()), ("FACE-003", Some(role)), "{e}");
        let e = run(too_many_pixels.clone()).await;
        assert_eq!((e.code(), e.image()), ("FACE-003", Some(role)), "{e}");
        let e = run(blank.clone()).await;
        assert_eq!(e, FaceMatchError::NoFace { image: role }, "{e}");
        let e = run(two_faces.clone()).await;
        assert_eq!(
            e,
            FaceMatchError::MultipleFaces {
                image: role,
                count: 2
            },
            "{e}"
        );
        assert!(e.to_string().contains("2 faces"), "{e}");
    }
}

#[tokio::test]
async fn the_reference_photo_quality_follows_face_size_and_sharpness() {
    let Some((m, data)) = matcher() else { return };
    let probe = data.photo("obama2.jpg");
    let official = data.photo("obama.jpg");
    let d = m.compare_detailed(&official, &probe).await.unwrap();
    eprintln!("obama.jpg as reference: {:?}", d.reference_quality);
    assert_eq!(
        d.comparison.source_photo_quality,
        PhotoQuality::High,
        "{d:?}"
    );

    let obama = decode(&official);
    // Blurred: the face is still found, but its detail is gone.
    let blurred = encode(&obama.blur(3.0), ImageFormat::Jpeg);
    let d = m.compare_detailed(&blurred, &probe).await.unwrap();
    eprintln!("obama.jpg blurred (sigma 3): {:?}", d.reference_quality);
    assert_eq!(
        d.comparison.source_photo_quality,
        PhotoQuality::Low,
        "{d:?}"
    );

    // Smaller: a face of about 110 px is MEDIUM, of about 75 px LOW.
    let small = encode(
        &obama.resize(480, 480, FilterType::Triangle),
        ImageFormat::Jpeg,
    );
    let d = m.compare_detailed(&small, &probe).await.unwrap();
    eprintln!("obama.jpg at 480 px: {:?}", d.reference_quality);
    assert_eq!(
        d.comparison.source_photo_quality,
        PhotoQuality::Medium,
        "{d:?}"
    );
    let tiny = encode(
        &obama.resize(320, 320, FilterType::Triangle),
        ImageFormat::Jpeg,
    );
    let d = m.compare_detailed(&tiny, &probe).await.unwrap();
    eprintln!("obama.jpg at 320 px: {:?}", d.reference_quality);
    assert_eq!(
        d.comparison.source_photo_quality,
        PhotoQuality::Low,
        "{d:?}"
    );

    // The other sample photos, for the record in docs/FACE_CHECK.md.
    for name in ["obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let d = m.compare_detailed(&data.photo(name), &probe).await.unwrap();
        eprintln!("{name} as reference: {:?}", d.reference_quality);
    }

    // A small face in a large frame.
    let mut frame = RgbImage::from_pixel(2400, 2400, image::Rgb([90, 110, 130]));
    frame
        .copy_from(
            &obama.resize(400, 400, FilterType::Triangle).to_rgb8(),
            1000,
            1000,
        )
        .unwrap();
    let framed = encode(&DynamicImage::ImageRgb8(frame), ImageFormat::Jpeg);
    let d = m.compare_detailed(&framed, &probe).await.unwrap();
    eprintln!(
        "obama.jpg small in a 2400 px frame: {:?}",
        d.reference_quality
    );
    assert_eq!(
        d.comparison.source_photo_quality,
        PhotoQuality::Low,
        "{d:?}"
    );
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once_as_unavailable() {
    let Some((_, data)) = matcher() else { return };
    // One slot, no waiting places: of three comparisons started together, the first runs and
    // the other two are refused without waiting.
    let m = LocalFaceMatcher::load(&data.models, 1, 0).unwrap();
    let (a, b) = (data.photo("obama.jpg"), data.photo("obama2.jpg"));
    let (r1, r2, r3) = tokio::join!(m.compare(&a, &b), m.compare(&a, &b), m.compare(&a, &b));
    assert!(r1.is_ok(), "{r1:?}");
    for r in [r2, r3] {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "FACE-006", "{e}");
        assert!(e.is_transient());
        assert!(e.to_string().contains("busy"), "{e}");
    }
    // Once it is done, the slot is free again.
    m.compare(&a, &b).await.unwrap();
}

#[tokio::test]
async fn build_loads_the_local_matcher_for_local_and_auto() {
    let Some((_, data)) = matcher() else { return };
    for provider in [Provider::Local, Provider::Auto] {
        let c = FaceMatchConfig {
            provider,
            models_dir: data.models.clone(),
            max_concurrency: 1,
            ..Default::default()
        };
        let built = verity_face_match::build_with_reason(&c).unwrap();
        let matcher = built.matcher.expect("a matcher");
        assert_eq!(matcher.name(), "local");
        assert!(built.note.contains("local matcher"), "{}", built.note);
        let score = matcher
            .compare(&data.photo("obama.jpg"), &data.photo("obama3.jpg"))
            .await
            .unwrap()
            .match_confidence_score;
        assert!(score >= DEFAULT_THRESHOLD);
    }
}

#[test]
fn a_corrupt_model_file_is_named() {
    let Some(data) = support::test_data() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("verity-corrupt-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        data.models.join(verity_face_match::models::LANDMARKS_FILE),
        dir.join(verity_face_match::models::LANDMARKS_FILE),
    )
    .unwrap();
    std::fs::write(
        dir.join(verity_face_match::models::DESCRIPTOR_FILE),
        b"not a model",
    )
    .unwrap();
    let e = LocalFaceMatcher::load(&dir, 1, 0).unwrap_err();
    assert_eq!(e.code(), "FACE-007");
    assert!(
        e.to_string()
            .contains(verity_face_match::models::DESCRIPTOR_FILE),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
