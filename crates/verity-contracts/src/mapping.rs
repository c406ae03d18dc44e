//! Claim mapping: an attestation's input claims to credential claims, with required and type
//! checks.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::model::{AttestationKind, ClaimMapping, ClaimType};
use crate::{ContractError, path};

/// Largest image claim, decoded: 1 MB.
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// Encoded images longer than this are refused before decoding (base64 plus percent-encoding
/// overhead on a 1 MB image stays well below it).
const MAX_IMAGE_TEXT: usize = 4 * MAX_IMAGE_BYTES;

/// Maps `input` (the attestation's claims) through `mapping` into credential claims.
///
/// Absent and `null` inputs count as missing: an error when the mapping is `required`, skipped
/// otherwise. Values keep their JSON form (a `Number` given as `"42"` stays a string, as the
/// hosted API passes RP claims as strings); only the type is checked. Input claims not named by
/// the mapping are ignored.
pub fn map_claims(
    attestation: AttestationKind,
    input: &Map<String, Value>,
    mapping: &[ClaimMapping],
) -> Result<Map<String, Value>, ContractError> {
    let mut out = Map::new();
    for m in mapping {
        // A contract that passed validation only has valid paths; an invalid one finds nothing.
        let value = path::parse(&m.input_claim)
            .ok()
            .and_then(|steps| path::lookup(input, &steps).cloned())
            .filter(|v| !v.is_null());
        let Some(value) = value else {
            if m.required {
                return Err(ContractError::MissingRequiredClaim {
                    attestation,
                    claim: m.input_claim.clone(),
                });
            }
            continue;
        };
        if let Some(expected) = m.claim_type {
            check_type(&value, expected).map_err(|reason| ContractError::ClaimTypeMismatch {
                claim: m.input_claim.clone(),
                expected,
                reason,
            })?;
        }
        out.insert(m.output_claim.clone(), value);
    }
    Ok(out)
}

/// Checks `value` against `expected`; the error describes the value's shape, never its content.
pub fn check_type(value: &Value, expected: ClaimType) -> Result<(), String> {
    match expected {
        ClaimType::String => match value {
            Value::String(_) => Ok(()),
            other => Err(format!("got {}", json_kind(other))),
        },
        ClaimType::Number => match value {
            Value::Number(_) => Ok(()),
            Value::String(s) if is_number_text(s) => Ok(()),
            Value::String(_) => Err("got a string that is not a decimal number".into()),
            other => Err(format!("got {}", json_kind(other))),
        },
        ClaimType::Boolean => match value {
            Value::Bool(_) => Ok(()),
            Value::String(s) if s == "true" || s == "false" => Ok(()),
            Value::String(_) => Err("got a string other than \"true\"/\"false\"".into()),
            other => Err(format!("got {}", json_kind(other))),
        },
        ClaimType::Date => match value {
            Value::String(s) if is_iso_date(s) => Ok(()),
            Value::String(_) => Err(
                "got a string that is not an ISO 8601 date (YYYY-MM-DD) or RFC 3339 date-time"
                    .into(),
            ),
            other => Err(format!("got {}", json_kind(other))),
        },
        ClaimType::Image | ClaimType::ImageJpg | ClaimType::ImagePng => match value {
            Value::String(s) => check_image(s, expected),
            other => Err(format!("got {}", json_kind(other))),
        },
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON-style decimal number (`-1`, `2.5`, `1e3`), finite.
fn is_number_text(s: &str) -> bool {
    serde_json::from_str::<serde_json::Number>(s.trim()).is_ok() && s.trim() == s && !s.is_empty()
}

/// `YYYY-MM-DD` or an RFC 3339 date-time.
fn is_iso_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        || chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// The image formats accepted, by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}

fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// A data URI (`data:image/...;base64,...`) or bare base64/base64url (padded or not, and
/// percent-encoded as the hosted samples do) holding a JPEG/PNG/GIF/WebP of at most 1 MB.
fn check_image(s: &str, expected: ClaimType) -> Result<(), String> {
    if s.len() > MAX_IMAGE_TEXT {
        return Err(format!("image is larger than {MAX_IMAGE_BYTES} bytes"));
    }
    let b64: std::borrow::Cow<'_, str> = if let Some(rest) = s.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| "data URI has no `,`".to_owned())?;
        if !meta.starts_with("image/") || !meta.ends_with(";base64") {
            return Err("data URI must be `data:image/<type>;base64,...`".into());
        }
        data.into()
    } else if s.contains('%') {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| "percent-encoding does not decode to text".to_owned())?
            .into_owned()
            .into()
    } else {
        s.into()
    };
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(b64.as_bytes()).ok())
        .ok_or_else(|| "image is not valid base64 or base64url".to_owned())?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(format!(
            "image is {} bytes, larger than {MAX_IMAGE_BYTES}",
            bytes.len()
        ));
    }
    let format = sniff(&bytes).ok_or_else(|| "not a JPEG, PNG, GIF or WebP image".to_owned())?;
    match (expected, format) {
        (ClaimType::ImageJpg, f) if f != ImageFormat::Jpeg => Err("image is not a JPEG".into()),
        (ClaimType::ImagePng, f) if f != ImageFormat::Png => Err("image is not a PNG".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(input: &str, output: &str, required: bool, t: Option<ClaimType>) -> ClaimMapping {
        ClaimMapping {
            output_claim: output.into(),
            input_claim: input.into(),
            required,
            indexed: false,
            claim_type: t,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn maps_plain_names_and_paths() {
        let input = obj(json!({
            "given_name": "Megan", "address": {"locality": "Oslo"}, "extra": "ignored"
        }));
        let mapping = [
            m("given_name", "givenName", true, Some(ClaimType::String)),
            m("$.address.locality", "city", true, None),
            m("$.nickname", "nickname", false, None),
        ];
        let out = map_claims(AttestationKind::IdToken, &input, &mapping).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"givenName": "Megan", "city": "Oslo"})
        );
    }

    #[test]
    fn missing_required_claims_are_named() {
        let mapping = [m("given_name", "givenName", true, None)];
        for input in [json!({}), json!({"given_name": null})] {
            let e = map_claims(AttestationKind::IdTokenHint, &obj(input), &mapping).unwrap_err();
            match &e {
                ContractError::MissingRequiredClaim { attestation, claim } => {
                    assert_eq!(*attestation, AttestationKind::IdTokenHint);
                    assert_eq!(claim, "given_name");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(e.code(), "CONTRACT-008");
            assert!(e.to_string().contains("idTokenHints"), "{e}");
        }
        // Optional claims are simply left out.
        let mapping = [m("given_name", "givenName", false, Some(ClaimType::String))];
        let out = map_claims(AttestationKind::SelfIssued, &obj(json!({})), &mapping).unwrap();
        assert!(out.is_empty());
    }

    fn mismatch(value: Value, t: ClaimType) -> String {
        let mapping = [m("c", "c", true, Some(t))];
        let e = map_claims(
            AttestationKind::IdToken,
            &obj(json!({ "c": value })),
            &mapping,
        )
        .unwrap_err();
        assert_eq!(e.code(), "CONTRACT-009");
        match e {
            ContractError::ClaimTypeMismatch {
                claim,
                expected,
                reason,
            } => {
                assert_eq!(claim, "c");
                assert_eq!(expected, t);
                reason
            }
            other => panic!("{other:?}"),
        }
    }

    fn accepts(value: Value, t: ClaimType) {
        let mapping = [m("c", "out", true, Some(t))];
        let out = map_claims(
            AttestationKind::IdToken,
            &obj(json!({ "c": value.clone() })),
            &mapping,
        )
        .unwrap_or_else(|e| panic!("{value} as {t}: {e}"));
        assert_eq!(out["out"], value, "values keep their JSON form");
    }

    #[test]
    fn string_type() {
        accepts(json!("x"), ClaimType::String);
        accepts(json!(""), ClaimType::String);
        assert!(mismatch(json!(5), ClaimType::String).contains("a number"));
        assert!(mismatch(json!({"a": 1}), ClaimType::String).contains("an object"));
    }

    #[test]
    fn number_type() {
        accepts(json!(42), ClaimType::Number);
        accepts(json!(-2.5), ClaimType::Number);
        accepts(json!("42"), ClaimType::Number);
        accepts(json!("1e3"), ClaimType::Number);
        assert!(mismatch(json!("forty"), ClaimType::Number).contains("not a decimal number"));
        mismatch(json!(" 42"), ClaimType::Number);
        mismatch(json!("NaN"), ClaimType::Number);
        assert!(mismatch(json!(true), ClaimType::Number).contains("a boolean"));
    }

    #[test]
    fn boolean_type() {
        accepts(json!(true), ClaimType::Boolean);
        accepts(json!("false"), ClaimType::Boolean);
        mismatch(json!("yes"), ClaimType::Boolean);
        mismatch(json!(1), ClaimType::Boolean);
    }

    #[test]
    fn date_type() {
        accepts(json!("2024-02-29"), ClaimType::Date);
        accepts(json!("2026-11-01T10:00:00Z"), ClaimType::Date);
        accepts(json!("2026-11-01T10:00:00.5+02:00"), ClaimType::Date);
        for bad in [
            "2023-02-29",
            "01/02/2024",
            "2024-13-01",
            "2026-11-01T10:00:00",
            "",
        ] {
            assert!(
                mismatch(json!(bad), ClaimType::Date).contains("ISO 8601"),
                "{bad}"
            );
        }
        mismatch(json!(1_700_000_000), ClaimType::Date);
    }

    #[test]
    fn image_type_accepts_data_uris_and_base64_forms() {
        let std = STANDARD.encode(JPEG);
        accepts(
            json!(format!("data:image/jpeg;base64,{std}")),
            ClaimType::Image,
        );
        accepts(json!(std.clone()), ClaimType::Image);
        accepts(json!(URL_SAFE_NO_PAD.encode(JPEG)), ClaimType::ImageJpg);
        accepts(json!(STANDARD.encode(PNG)), ClaimType::ImagePng);
        // The hosted samples percent-encode standard base64.
        let pct = percent_encoding::utf8_percent_encode(
            &STANDARD.encode([JPEG, &[0xFB, 0xFF]].concat()),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        assert!(pct.contains('%'));
        accepts(json!(pct), ClaimType::Image);
    }

    #[test]
    fn image_type_refusals() {
        assert!(mismatch(json!("not base64!"), ClaimType::Image).contains("base64"));
        assert!(
            mismatch(json!(STANDARD.encode(b"plain text")), ClaimType::Image)
                .contains("not a JPEG, PNG")
        );
        assert!(
            mismatch(json!("data:text/plain;base64,AAAA"), ClaimType::Image).contains("data:image")
        );
        assert!(mismatch(json!("data:image/png;base64"), ClaimType::Image).contains("`,`"));
        assert!(mismatch(json!(STANDARD.encode(PNG)), ClaimType::ImageJpg).contains("not a JPEG"));
        assert!(mismatch(json!(STANDARD.encode(JPEG)), ClaimType::ImagePng).contains("not a PNG"));
        assert!(mismatch(json!(12), ClaimType::Image).contains("a number"));
        // Exactly 1 MB is fine; one byte more is not.
        let mut big = JPEG.to_vec();
        big.resize(MAX_IMAGE_BYTES, 0);
        accepts(json!(STANDARD.encode(&big)), ClaimType::Image);
        big.push(0);
        assert!(mismatch(json!(STANDARD.encode(&big)), ClaimType::Image).contains("larger"));
        let huge = "A".repeat(MAX_IMAGE_TEXT + 1);
        assert!(mismatch(json!(huge), ClaimType::Image).contains("larger"));
    }

    #[test]
    fn untyped_mappings_accept_any_value() {
        accepts_untyped(json!({"nested": [1, 2]}));
        accepts_untyped(json!(false));
    }

    fn accepts_untyped(value: Value) {
        let mapping = [m("c", "out", true, None)];
        let out = map_claims(
            AttestationKind::Presentation,
            &obj(json!({ "c": value.clone() })),
            &mapping,
        )
        .unwrap();
        assert_eq!(out["out"], value);
    }

    #[test]
    fn error_messages_never_contain_the_value() {
        let e = map_claims(
            AttestationKind::IdToken,
            &obj(json!({"dob": "secret-value"})),
            &[m("dob", "dob", true, Some(ClaimType::Date))],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("secret-value"), "{e}");
        assert!(e.to_string().contains("dob") && e.to_string().contains("Date"));
    }
}
