//! One module per check group, run in this order by [`crate::verify_presentation`].

pub(crate) mod credential;
pub(crate) mod face_check;
pub(crate) mod id_token;
pub(crate) mod linked_domain;
pub(crate) mod request;
pub(crate) mod status;
pub(crate) mod submission;
pub(crate) mod vp_token;

use serde_json::{Map, Value};
use verity_did::split_key_id;
use verity_jose::UnverifiedJws;

/// Parses a compact JWS whose payload must be a JSON object (read unverified, only to find
/// the key); the error says what was wrong.
pub(crate) fn parse_jwt(token: &str) -> Result<(UnverifiedJws, Map<String, Value>), String> {
    let jws = UnverifiedJws::parse(token.trim()).map_err(|e| e.to_string())?;
    let payload: Value = jws.payload_unverified().map_err(|e| e.to_string())?;
    match payload {
        Value::Object(map) => Ok((jws, map)),
        other => Err(format!(
            "the payload must be a JSON object, found {}",
            json_kind(&other)
        )),
    }
}

/// The verified payload as a JSON object.
pub(crate) fn verified_claims(jws: verity_jose::VerifiedJws) -> Result<Map<String, Value>, String> {
    match jws.claims::<Value>().map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "the payload must be a JSON object, found {}",
            json_kind(&other)
        )),
    }
}

/// A string member, if present and a string.
pub(crate) fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

/// A NumericDate member as whole seconds (fractions truncated toward negative infinity).
pub(crate) fn numeric_date(obj: &Map<String, Value>, name: &str) -> Option<i64> {
    let n = obj.get(name)?.as_number()?;
    // Float-to-int `as` saturates, which is the right answer for absurd dates.
    n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64))
}

/// True when `aud` is `client_id` or an array containing it (RFC 7519 section 4.1.3).
pub(crate) fn audience_matches(aud: Option<&Value>, client_id: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == client_id,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(client_id)),
        _ => false,
    }
}

/// `aud` for an error message.
pub(crate) fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

/// Checks that key id `kid` (`did#frag`, or `#frag` relative to `did`) names a key of `did`.
pub(crate) fn kid_belongs_to(kid: &str, did: &str) -> Result<(), String> {
    let (kid_did, _) = split_key_id(kid).map_err(|e| e.to_string())?;
    match kid_did {
        Some(k) if k.as_str() != did => {
            Err(format!("kid {kid} names DID {}, not {did}", k.as_str()))
        }
        _ => Ok(()),
    }
}

/// A JSON value's kind, for messages that must not echo the value.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audience_forms() {
        assert!(audience_matches(Some(&json!("did:web:v")), "did:web:v"));
        assert!(audience_matches(
            Some(&json!(["x", "did:web:v"])),
            "did:web:v"
        ));
        assert!(!audience_matches(Some(&json!("did:web:w")), "did:web:v"));
        assert!(!audience_matches(Some(&json!(["x"])), "did:web:v"));
        assert!(!audience_matches(None, "did:web:v"));
        assert_eq!(show(None), "nothing");
    }

    #[test]
    fn kid_ownership() {
        kid_belongs_to("did:web:a#k", "did:web:a").unwrap();
        kid_belongs_to("#k", "did:web:a").unwrap();
        assert!(kid_belongs_to("did:web:b#k", "did:web:a").is_err());
        assert!(kid_belongs_to("not a kid", "did:web:a").is_err());
    }

    #[test]
    fn numeric_dates() {
        let m: Map<String, Value> =
            serde_json::from_value(json!({"a": 5, "b": 5.7, "c": "5"})).unwrap();
        assert_eq!(numeric_date(&m, "a"), Some(5));
        assert_eq!(numeric_date(&m, "b"), Some(5));
        assert_eq!(numeric_date(&m, "c"), None);
        assert_eq!(numeric_date(&m, "d"), None);
    }
}
