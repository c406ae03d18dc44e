//! The input rule every provider applies before looking for faces.

use image::ImageReader;
use std::io::Cursor;

use crate::{FaceMatchError, ImageRole};

/// Largest encoded image accepted, bytes (1 MiB).
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;
/// Largest width or height accepted, pixels.
pub const MAX_IMAGE_PIXELS: u32 = 4096;

/// The encodings accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

/// An image that passed [`check_image`]: its format and size (the bytes are the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedImage {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Checks `bytes` as `role`: at most [`MAX_IMAGE_BYTES`], JPEG or PNG by content (not by any
/// name), a readable header, at most [`MAX_IMAGE_PIXELS`] per side. Only the header is decoded
/// here, so an oversized image is refused before its pixels are.
pub fn check_image(role: ImageRole, bytes: &[u8]) -> Result<CheckedImage, FaceMatchError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(FaceMatchError::ImageTooLarge {
            image: role,
            reason: format!("{} bytes, at most {MAX_IMAGE_BYTES}", bytes.len()),
        });
    }
    if bytes.is_empty() {
        return Err(FaceMatchError::UnreadableImage {
            image: role,
            reason: "it is empty".into(),
        });
    }
    let format = match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => ImageFormat::Jpeg,
        Ok(image::ImageFormat::Png) => ImageFormat::Png,
        Ok(other) => {
            return Err(FaceMatchError::UnsupportedFormat {
                image: role,
                format: format!("{other:?}"),
            });
        }
        Err(_) => {
            return Err(FaceMatchError::UnreadableImage {
                image: role,
                reason: "not a known image format".into(),
            });
        }
    };
    let reader = ImageReader::with_format(
        Cursor::new(bytes),
        match format {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
        },
    );
    let (width, height) =
        reader
            .into_dimensions()
            .map_err(|e| FaceMatchError::UnreadableImage {
                image: role,
                reason: e.to_string(),
            })?;
    if width > MAX_IMAGE_PIXELS || height > MAX_IMAGE_PIXELS {
        return Err(FaceMatchError::ImageTooLarge {
            image: role,
            reason: format!("{width}x{height} pixels, at most {MAX_IMAGE_PIXELS} per side"),
        });
    }
    if width == 0 || height == 0 {
        return Err(FaceMatchError::UnreadableImage {
            image: role,
            reason: "it has no pixels".into(),
        });
    }
    Ok(CheckedImage {
        format,
        width,
        height,
    })
}

/// Decodes an image that passed [`check_image`], with its EXIF orientation applied (phones
/// store selfies sideways and say so in EXIF).
pub fn decode_checked(
    role: ImageRole,
    bytes: &[u8],
    checked: CheckedImage,
) -> Result<image::DynamicImage, FaceMatchError> {
    use image::ImageDecoder;
    let unreadable = |e: image::ImageError| FaceMatchError::UnreadableImage {
        image: role,
        reason: e.to_string(),
    };
    let format = match checked.format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
    };
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(unreadable)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = image::DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    decoded.apply_orientation(orientation);
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::new(width, height);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::new(width, height);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn jpeg_and_png_pass_with_their_size() {
        let c = check_image(ImageRole::Probe, &png(64, 48)).unwrap();
        assert_eq!((c.format, c.width, c.height), (ImageFormat::Png, 64, 48));
        let c = check_image(ImageRole::Reference, &jpeg(32, 40)).unwrap();
        assert_eq!((c.format, c.width, c.height), (ImageFormat::Jpeg, 32, 40));
    }

    #[test]
    fn each_refusal_names_the_image_and_the_check() {
        let e = check_image(ImageRole::Probe, b"").unwrap_err();
        assert_eq!((e.code(), e.image()), ("FACE-001", Some(ImageRole::Probe)));
        let e = check_image(ImageRole::Reference, b"hello, not an image").unwrap_err();
        assert_eq!(e.code(), "FACE-001", "{e}");
        assert!(e.to_string().contains("the credential's photo"), "{e}");
        // GIF by its magic bytes.
        let e = check_image(ImageRole::Probe, b"GIF89a\x01\x00\x01\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.code(), "FACE-002", "{e}");
        assert!(e.to_string().contains("only JPEG and PNG"), "{e}");
        let e = check_image(ImageRole::Probe, &vec![0u8; MAX_IMAGE_BYTES + 1]).unwrap_err();
        assert_eq!(e.code(), "FACE-003", "{e}");
        let e = check_image(ImageRole::Probe, &png(MAX_IMAGE_PIXELS + 1, 1)).unwrap_err();
        assert_eq!(e.code(), "FACE-003", "{e}");
        assert!(e.to_string().contains("4097x1"), "{e}");
        // A PNG whose header is cut off.
        let e = check_image(ImageRole::Probe, &png(8, 8)[..12]).unwrap_err();
        assert_eq!(e.code(), "FACE-001", "{e}");
    }

    #[test]
    fn decoding_a_checked_image_and_a_truncated_one() {
        let bytes = jpeg(32, 40);
        let checked = check_image(ImageRole::Probe, &bytes).unwrap();
        let img = decode_checked(ImageRole::Probe, &bytes, checked).unwrap();
        assert_eq!((img.width(), img.height()), (32, 40));
        // The header is intact (so the check passes) but the pixels are cut off.
        let bytes = png(64, 64);
        let cut = &bytes[..bytes.len() / 2];
        let checked = check_image(ImageRole::Reference, cut).unwrap();
        let e = decode_checked(ImageRole::Reference, cut, checked).unwrap_err();
        assert_eq!(
            (e.code(), e.image()),
            ("FACE-001", Some(ImageRole::Reference)),
            "{e}"
        );
    }
}
