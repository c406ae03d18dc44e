//! QR codes for wallet URLs (`openid-vc://`, `openid4vp://`, `openid-credential-offer://`), as
//! PNG data URIs (what the hosted API returns in `qrCode`) or SVG ones (`qrCodeFormat: "svg"`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, Luma};
use qrcode::QrCode;
use qrcode::render::svg;

use crate::rp_types::QrCodeFormat;

/// `text` as a QR code data URI in `format`.
pub fn data_uri(text: &str, format: QrCodeFormat) -> Result<String, String> {
    match format {
        QrCodeFormat::Png => png_data_uri(text),
        QrCodeFormat::Svg => svg_data_uri(text),
    }
}

/// Encodes `text` as an SVG QR code (black modules on white, quiet zone included) and returns
/// `data:image/svg+xml;base64,...`.
pub fn svg_data_uri(text: &str) -> Result<String, String> {
    let code =
        QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode the QR code: {e}"))?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg.as_bytes())
    ))
}

/// Encodes `text` as a QR code PNG and returns `data:image/png;base64,...`.
pub fn png_data_uri(text: &str) -> Result<String, String> {
    let code =
        QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode the QR code: {e}"))?;
    let img = code.render::<Luma<u8>>().min_dimensions(256, 256).build();
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .map_err(|e| format!("cannot write the QR PNG: {e}"))?;
    Ok(format!(
        "data:image/png;base64,{}",
        STANDARD.encode(png.into_inner())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_a_png_data_uri() {
        let uri = png_data_uri("openid-vc://?request_uri=https://vc.example.com/v1.0/requests/x")
            .unwrap();
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        let bytes = STANDARD.decode(b64).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn produces_an_svg_data_uri_of_the_same_code() {
        let text = "openid-vc://?request_uri=https://vc.example.com/v1.0/requests/x";
        let uri = data_uri(text, QrCodeFormat::Svg).unwrap();
        let b64 = uri.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("#000000") && svg.contains("#ffffff"), "{svg}");
        // As many dark modules as the code has.
        let code = QrCode::new(text.as_bytes()).unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == qrcode::Color::Dark)
            .count();
        assert_eq!(
            svg.matches("M").count(),
            dark,
            "one path move per dark module"
        );
        assert!(
            data_uri(text, QrCodeFormat::Png)
                .unwrap()
                .starts_with("data:image/png;base64,")
        );
    }
}
