//! The reference photo's quality (`sourcePhotoQuality`) from the size and sharpness of its face.
//!
//! Three measures of the one face found:
//!
//! - **face size**: the smaller side of the face box, in pixels of the decoded image;
//! - **face share**: that side divided by the image's shorter side (a passport-style photo has
//!   0.3 to 0.6, a face in a crowd well under 0.1);
//! - **sharpness**: the variance of the Laplacian (4-neighbour kernel) over the face box,
//!   after the box is scaled to [`SHARPNESS_SIDE`] x [`SHARPNESS_SIDE`] grey pixels, so that the
//!   value describes the detail of the face rather than the resolution of the file (a small face
//!   blown up is blurry, as it should be).
//!
//! | quality | face size | face share | sharpness |
//! |---|---|---|---|
//! | `HIGH` | >= 150 px | >= 0.15 | >= 150 |
//! | `LOW` | < 80 px | < 0.08 | < 40 |
//!
//! `HIGH` needs all three of its bounds, `LOW` any one of its; everything else is `MEDIUM`.
//! The bounds were set from the sample photos measured in docs/FACE_CHECK.md: sharp official
//! photographs measure 160 to 400, the same face under a Gaussian blur of sigma 3 measures 18;
//! dlib's descriptor is trained on 150 px face chips, so faces from 150 px up lose nothing, and
//! under 80 px the HOG detector is at its limit.

use image::GrayImage;
use image::imageops::{self, FilterType};

use crate::PhotoQuality;

/// The side, in pixels, the face box is scaled to before its sharpness is measured.
pub const SHARPNESS_SIDE: u32 = 128;
/// Smallest face side for `HIGH`, pixels.
pub const HIGH_MIN_FACE_PX: u32 = 150;
/// Smallest face share (face side / shorter image side) for `HIGH`.
pub const HIGH_MIN_FACE_SHARE: f64 = 0.15;
/// Smallest sharpness for `HIGH`.
pub const HIGH_MIN_SHARPNESS: f64 = 150.0;
/// Below this face side, pixels: `LOW`.
pub const LOW_FACE_PX: u32 = 80;
/// Below this face share: `LOW`.
pub const LOW_FACE_SHARE: f64 = 0.08;
/// Below this sharpness: `LOW`.
pub const LOW_SHARPNESS: f64 = 40.0;

/// A face box in pixels of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceBox {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// What [`assess`] measured, and the quality it concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityReport {
    pub face_px: u32,
    pub face_share: f64,
    pub sharpness: f64,
    pub quality: PhotoQuality,
}

/// Measures the face `face` of the grey image `image` (the box is clipped to the image).
pub fn assess(image: &GrayImage, face: FaceBox) -> QualityReport {
    let (w, h) = image.dimensions();
    let left = face.left.min(w.saturating_sub(1));
    let top = face.top.min(h.saturating_sub(1));
    let width = face.width.min(w - left).max(1);
    let height = face.height.min(h - top).max(1);
    let face_px = width.min(height);
    let face_share = f64::from(face_px) / f64::from(w.min(h).max(1));
    let crop = imageops::crop_imm(image, left, top, width, height).to_image();
    let scaled = imageops::resize(&crop, SHARPNESS_SIDE, SHARPNESS_SIDE, FilterType::Triangle);
    let sharpness = laplacian_variance(&scaled);
    let quality =
        if face_px < LOW_FACE_PX || face_share < LOW_FACE_SHARE || sharpness < LOW_SHARPNESS {
            PhotoQuality::Low
        } else if face_px >= HIGH_MIN_FACE_PX
            && face_share >= HIGH_MIN_FACE_SHARE
            && sharpness >= HIGH_MIN_SHARPNESS
        {
            PhotoQuality::High
        } else {
            PhotoQuality::Medium
        };
    QualityReport {
        face_px,
        face_share,
        sharpness,
        quality,
    }
}

/// Variance of the 4-neighbour Laplacian over the inner pixels (0 for images under 3x3).
pub fn laplacian_variance(image: &GrayImage) -> f64 {
    let (w, h) = image.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: u32, y: u32| f64::from(image.get_pixel(x, y)[0]);
    let mut sum = 0.0;
    let mut sum_sq = 0.0;
    let mut n = 0.0;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            sum += l;
            sum_sq += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// A checkerboard of `cell`-pixel squares: lots of edges, high Laplacian variance.
    fn checkerboard(side: u32, cell: u32) -> GrayImage {
        GrayImage::from_fn(side, side, |x, y| {
            Luma([if (x / cell + y / cell).is_multiple_of(2) {
                30
            } else {
                220
            }])
        })
    }

    fn whole(side: u32) -> FaceBox {
        FaceBox {
            left: 0,
            top: 0,
            width: side,
            height: side,
        }
    }

    #[test]
    fn a_flat_image_has_no_sharpness() {
        let flat = GrayImage::from_pixel(64, 64, Luma([128]));
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert_eq!(laplacian_variance(&GrayImage::new(2, 2)), 0.0);
    }

    #[test]
    fn a_large_sharp_face_filling_the_photo_is_high() {
        let r = assess(&checkerboard(400, 8), whole(400));
        assert_eq!(r.quality, PhotoQuality::High, "{r:?}");
        assert_eq!(r.face_px, 400);
        assert!(r.sharpness > HIGH_MIN_SHARPNESS, "{r:?}");
    }

    #[test]
    fn each_low_bound_makes_it_low() {
        // Too small in pixels.
        let r = assess(&checkerboard(70, 4), whole(70));
        assert_eq!((r.quality, r.face_px), (PhotoQuality::Low, 70), "{r:?}");
        // A small share of a large photo.
        let img = checkerboard(2000, 8);
        let r = assess(
            &img,
            FaceBox {
                left: 100,
                top: 100,
                width: 150,
                height: 150,
            },
        );
        assert_eq!(r.quality, PhotoQuality::Low, "{r:?}");
        assert!(r.face_share < LOW_FACE_SHARE, "{r:?}");
        // Blurred.
        let blurred = imageops::blur(&checkerboard(400, 8), 6.0);
        let r = assess(&blurred, whole(400));
        assert_eq!(r.quality, PhotoQuality::Low, "{r:?}");
        assert!(r.sharpness < LOW_SHARPNESS, "{r:?}");
    }

    #[test]
    fn between_the_bounds_is_medium() {
        // 100 px: above the low bound, below the high one; sharp and a full share.
        let r = assess(&checkerboard(100, 4), whole(100));
        assert_eq!(r.quality, PhotoQuality::Medium, "{r:?}");
    }

    #[test]
    fn a_box_past_the_edge_is_clipped() {
        let r = assess(
            &checkerboard(200, 8),
            FaceBox {
                left: 150,
                top: 150,
                width: 500,
                height: 500,
            },
        );
        assert_eq!(r.face_px, 50);
        assert_eq!(r.quality, PhotoQuality::Low);
    }
}
