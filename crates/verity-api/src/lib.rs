//! The JSON bodies of Verity's HTTP API, and how a body is read.
//!
//! - [`rp`]: the Request Service API (createIssuanceRequest, createPresentationRequest, their
//!   answers), wire-compatible with the hosted service.
//! - [`admin`]: the admin API's bodies and views.
//! - [`read_body`]: bytes to a typed body, refusing an empty body, a body nested deeper than a
//!   limit (before parsing, without recursion) and anything else with an error that names the
//!   field path. The server maps [`BodyError`] to its error shape; the fuzz target `api_json`
//!   drives every body type through it.
//!
//! No HTTP framework here: the server crate owns routing and errors.

#![forbid(unsafe_code)]

pub mod admin;
pub mod rp;

use serde::de::DeserializeOwned;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// No bytes at all.
    #[error("the request body is empty: a JSON object is required")]
    Empty,
    /// Arrays and objects nest deeper than the limit.
    #[error("the JSON body nests arrays and objects deeper than the limit of {0} levels")]
    TooDeep(usize),
    /// Not JSON (syntax error or cut short).
    #[error("the body is not valid JSON: {0}")]
    Syntax(String),
    /// JSON, but a field is missing, unknown or of the wrong type.
    #[error("{field}: {message}")]
    Field {
        /// The field's path (`registration.clientName`, `requestedCredentials[0].type`).
        field: String,
        message: String,
    },
}

/// How deep arrays and objects nest in `json` (0 for a scalar), counted without parsing and
/// stopping once past `max`: `Err(max)` when deeper than `max`. Brackets inside strings do not
/// count; anything else malformed is left to the parser.
pub fn check_json_depth(json: &[u8], max: usize) -> Result<(), usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(max);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads a `T` from `body`: refused when empty or nested deeper than `max_depth` (before any
/// parsing), otherwise parsed with errors naming the field path.
pub fn read_body<T: DeserializeOwned>(body: &[u8], max_depth: usize) -> Result<T, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    check_json_depth(body, max_depth).map_err(BodyError::TooDeep)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            BodyError::Syntax(inner.to_string())
        } else if path == "." {
            // Top-level errors ("missing field `name`", "unknown field `x`") name the field in
            // the message only: lift it into `field`.
            let message = inner.to_string();
            let field = message.split('`').nth(1).unwrap_or_default().to_owned();
            BodyError::Field { field, message }
        } else {
            // A missing member is reported at its parent: name the member itself.
            let message = inner.to_string();
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(member) => format!("{path}.{member}"),
                None => path,
            };
            BodyError::Field { field, message }
        }
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(check_json_depth(b"1", 0), Ok(()));
        assert_eq!(check_json_depth(b"[[1]]", 2), Ok(()));
        assert_eq!(check_json_depth(b"[[1]]", 1), Err(1));
        assert_eq!(check_json_depth(br#"{"a":"[[[[\"]]"}"#, 1), Ok(()));
        assert_eq!(check_json_depth(br#"["\\",[[]]]"#, 2), Err(2));
    }

    #[test]
    fn errors_name_the_field() {
        let err = read_body::<rp::Registration>(b"{}", 32).unwrap_err();
        assert!(
            matches!(&err, BodyError::Field { field, message }
                if field == "clientName" && message.starts_with("missing field `clientName`")),
            "{err:?}"
        );
        let err =
            read_body::<rp::Callback>(br#"{"url":"https://a","state":"s","headers":{"x":1}}"#, 32)
                .unwrap_err();
        assert!(
            matches!(&err, BodyError::Field { field, .. } if field == "headers.x"),
            "{err:?}"
        );
        assert_eq!(
            read_body::<rp::Registration>(b"", 32).unwrap_err(),
            BodyError::Empty
        );
        assert!(matches!(
            read_body::<rp::Registration>(b"{", 32),
            Err(BodyError::Syntax(_))
        ));
        assert_eq!(
            read_body::<rp::Registration>(b"[[[[1]]]]", 3).unwrap_err(),
            BodyError::TooDeep(3)
        );
    }
}
