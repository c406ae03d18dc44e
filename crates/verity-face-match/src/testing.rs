//! A test double of [`FaceMatcher`] for other crates' tests: it does not look at faces.

use std::sync::Mutex;

use crate::{FaceComparison, FaceMatchError, FaceMatcher, ImageRole, PhotoQuality, check_image};

/// Test double: checks both images with [`check_image`] like every provider, then answers
/// with the score it was given (or the error it was given), and counts its calls.
#[derive(Debug)]
pub struct FakeFaceMatcher {
    answer: Mutex<Result<u8, FaceMatchError>>,
    calls: Mutex<usize>,
}

impl FakeFaceMatcher {
    /// A double that scores every valid pair `score`.
    pub fn scoring(score: u8) -> Self {
        Self {
            answer: Mutex::new(Ok(score.min(100))),
            calls: Mutex::new(0),
        }
    }

    /// A double that fails every valid pair with `error`.
    pub fn failing(error: FaceMatchError) -> Self {
        Self {
            answer: Mutex::new(Err(error)),
            calls: Mutex::new(0),
        }
    }

    /// Changes the score from now on.
    pub fn set_score(&self, score: u8) {
        *self.answer.lock().unwrap_or_else(|p| p.into_inner()) = Ok(score.min(100));
    }

    /// How many comparisons were asked for.
    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl FaceMatcher for FakeFaceMatcher {
    fn name(&self) -> &'static str {
        "test double"
    }

    async fn compare(
        &self,
        reference: &[u8],
        probe: &[u8],
    ) -> Result<FaceComparison, FaceMatchError> {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        check_image(ImageRole::Reference, reference)?;
        check_image(ImageRole::Probe, probe)?;
        let answer = self
            .answer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        answer.map(|score| FaceComparison {
            match_confidence_score: score,
            source_photo_quality: PhotoQuality::High,
            reference_faces: 1,
            probe_faces: 1,
        })
    }
}
