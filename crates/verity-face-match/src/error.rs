//! What can go wrong with a comparison, one variant per check.

use thiserror::Error;

/// Which of the two images an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRole {
    /// The credential's photo claim.
    Reference,
    /// The live selfie.
    Probe,
}

impl std::fmt::Display for ImageRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageRole::Reference => "the credential's photo",
            ImageRole::Probe => "the selfie",
        })
    }
}

/// Why a comparison gave no score.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FaceMatchError {
    /// The bytes are not an image that can be decoded.
    #[error("{image} cannot be read: {reason}")]
    UnreadableImage { image: ImageRole, reason: String },
    /// An image format other than JPEG or PNG.
    #[error("{image} is {format}; only JPEG and PNG are accepted")]
    UnsupportedFormat { image: ImageRole, format: String },
    /// Over the byte or pixel limit.
    #[error("{image} is too large: {reason}")]
    ImageTooLarge { image: ImageRole, reason: String },
    /// No face was found.
    #[error("no face was found in {image}")]
    NoFace { image: ImageRole },
    /// More than one face was found.
    #[error("{count} faces were found in {image}; exactly one is needed")]
    MultipleFaces { image: ImageRole, count: usize },
    /// The matcher could not run (a remote service out of reach, a busy queue): not a verdict,
    /// the caller may retry.
    #[error("the face matcher is unavailable: {0}")]
    Unavailable(String),
    /// The matcher is misconfigured or failed unexpectedly (a model file missing, a bad answer
    /// from a remote service).
    #[error("the face matcher failed: {0}")]
    Matcher(String),
}

impl FaceMatchError {
    /// A stable code per variant (`FACE-0xx`).
    pub fn code(&self) -> &'static str {
        match self {
            FaceMatchError::UnreadableImage { .. } => "FACE-001",
            FaceMatchError::UnsupportedFormat { .. } => "FACE-002",
            FaceMatchError::ImageTooLarge { .. } => "FACE-003",
            FaceMatchError::NoFace { .. } => "FACE-004",
            FaceMatchError::MultipleFaces { .. } => "FACE-005",
            FaceMatchError::Unavailable(_) => "FACE-006",
            FaceMatchError::Matcher(_) => "FACE-007",
        }
    }

    /// Whether the comparison could simply not run now (retry later).
    pub fn is_transient(&self) -> bool {
        matches!(self, FaceMatchError::Unavailable(_))
    }

    /// The image the error is about, when it is about one.
    pub fn image(&self) -> Option<ImageRole> {
        match self {
            FaceMatchError::UnreadableImage { image, .. }
            | FaceMatchError::UnsupportedFormat { image, .. }
            | FaceMatchError::ImageTooLarge { image, .. }
            | FaceMatchError::NoFace { image }
            | FaceMatchError::MultipleFaces { image, .. } => Some(*image),
            FaceMatchError::Unavailable(_) | FaceMatchError::Matcher(_) => None,
        }
    }
}
