//! QR codes for `openid-vc://` URLs, as PNG data URIs (what the hosted API returns in `qrCode`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, Luma};
use qrcode::QrCode;

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
}
