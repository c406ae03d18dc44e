//! Face matching for the presentation face check (protocol.md §6): compare the photo claim of
//! a presented credential (the *reference*) with a live selfie (the *probe*).
//!
//! - [`FaceMatcher`] is the seam: one async `compare`, answering a [`FaceComparison`] (score
//!   0-100, the reference photo's quality, faces found) or a [`FaceMatchError`] that says which
//!   image failed which check.
//! - [`check_image`] is the input rule every provider applies first: JPEG or PNG, at most
//!   [`MAX_IMAGE_BYTES`] and [`MAX_IMAGE_PIXELS`] per side.
//! - [`score_from_distance`] is the calibration from a face-descriptor distance to the score,
//!   such that [`DEFAULT_THRESHOLD`] (70) sits at the model's recommended same-person distance.
//! - `testing::FakeFaceMatcher` (feature `test-util`) is a test double.
//! - Providers, picked by [`FaceMatchConfig`] through [`build`]: `local` ([`local`], cargo
//!   feature `local`: dlib's models on this machine) and `http` ([`http`]: a remote
//!   CompreFace-compatible verification service). docs/FACE_CHECK.md has the operator's view.
//! - [`quality`] grades the reference photo (`sourcePhotoQuality`).
//!
//! Images are only ever held in memory for one comparison: no provider logs or stores them,
//! and nothing here implements `Debug` over image bytes.

mod calibration;
mod config;
mod error;
pub mod http;
mod image_check;
#[cfg(feature = "local")]
pub mod local;
pub mod models;
pub mod quality;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use calibration::{
    DEFAULT_THRESHOLD, SAME_PERSON_DISTANCE, score_from_distance, score_from_similarity,
};
pub use config::{
    Built, DEFAULT_MODELS_DIR, FaceMatchConfig, HttpConfig, LOCAL_COMPILED_IN, Provider, build,
    build_with_reason,
};
pub use error::{FaceMatchError, ImageRole};
pub use image_check::{
    CheckedImage, ImageFormat, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, check_image, decode_checked,
};

use serde::Serialize;

/// How good the reference photo is for matching, from the size and sharpness of its face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PhotoQuality {
    High,
    Medium,
    Low,
}

impl PhotoQuality {
    /// The wire name (`HIGH`, `MEDIUM`, `LOW`), as in the callback's
    /// `faceCheck.sourcePhotoQuality`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoQuality::High => "HIGH",
            PhotoQuality::Medium => "MEDIUM",
            PhotoQuality::Low => "LOW",
        }
    }
}

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceComparison {
    /// 0-100: how sure the matcher is that both images show the same person.
    pub match_confidence_score: u8,
    /// Quality of the reference photo.
    pub source_photo_quality: PhotoQuality,
    /// Faces found in the reference photo (1 when the comparison succeeded).
    pub reference_faces: usize,
    /// Faces found in the probe (1 when the comparison succeeded).
    pub probe_faces: usize,
}

/// Compares a reference image with a probe image.
#[async_trait::async_trait]
pub trait FaceMatcher: Send + Sync + std::fmt::Debug {
    /// Which matcher this is, for start-up messages and logs (`local`, `http`, ...).
    fn name(&self) -> &'static str;

    /// Compares `reference` (the credential's photo) with `probe` (the selfie), both encoded
    /// JPEG or PNG bytes. Exactly one face must be found in each.
    async fn compare(
        &self,
        reference: &[u8],
        probe: &[u8],
    ) -> Result<FaceComparison, FaceMatchError>;
}
