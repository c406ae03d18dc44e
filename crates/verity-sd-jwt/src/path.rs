//! Claim paths: which claim of a (processed) payload is meant, in the form OpenID4VP's DCQL and
//! SD-JWT VC Type Metadata use (a JSON array of object keys, array indices and `null` for "every
//! element of this array").

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::SdJwtError;

/// One step of a [`ClaimPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathElement {
    /// An object member, by name.
    Key(String),
    /// An array element, by zero-based index.
    Index(usize),
    /// Every element of an array (`null` in the JSON form).
    AllElements,
}

/// A path from the payload root to one claim, e.g. `["address", "street_address"]` or
/// `["nationalities", 1]`; `["nationalities", null]` means every element of `nationalities`.
///
/// The empty path is the payload itself. Array indices count the elements of the fully
/// disclosed array (as the Holder sees it), not the digests in the Issuer-signed JWT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ClaimPath(Vec<PathElement>);

impl ClaimPath {
    /// The empty path (the payload root).
    pub fn root() -> Self {
        ClaimPath(Vec::new())
    }

    /// A path of object keys only: `ClaimPath::keys(["address", "locality"])`.
    pub fn keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClaimPath(
            keys.into_iter()
                .map(|k| PathElement::Key(k.into()))
                .collect(),
        )
    }

    /// This path extended by the object member `key`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.0.push(PathElement::Key(key.into()));
        self
    }

    /// This path extended by the array element `index`.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(PathElement::Index(index));
        self
    }

    /// This path extended by "every element of the array".
    #[must_use]
    pub fn all_elements(mut self) -> Self {
        self.0.push(PathElement::AllElements);
        self
    }

    /// Parses the JSON form: an array of strings, non-negative integers and `null`.
    pub fn from_json(value: &Value) -> Result<Self, SdJwtError> {
        let bad = |reason: &str| SdJwtError::InvalidClaimPath {
            reason: reason.to_owned(),
        };
        let Value::Array(items) = value else {
            return Err(bad("a claim path is a JSON array"));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(PathElement::Key(s.clone())),
                Value::Null => Ok(PathElement::AllElements),
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .map(PathElement::Index)
                    .ok_or_else(|| bad("array indices are non-negative integers")),
                _ => Err(bad(
                    "path elements are strings, non-negative integers or null",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(ClaimPath)
    }

    /// The JSON form (see [`ClaimPath::from_json`]).
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|e| match e {
                    PathElement::Key(k) => Value::String(k.clone()),
                    PathElement::Index(i) => Value::from(*i),
                    PathElement::AllElements => Value::Null,
                })
                .collect(),
        )
    }

    /// The steps of this path.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    /// Whether this is the root (empty) path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The first step's key, if the path starts with an object member (top-level claim name).
    pub fn top_level_name(&self) -> Option<&str> {
        match self.0.first() {
            Some(PathElement::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Whether `self`, read as a pattern, names exactly the concrete path `path`
    /// ([`PathElement::AllElements`] matches any index).
    pub fn matches(&self, path: &ClaimPath) -> bool {
        self.0.len() == path.0.len() && self.agrees_on_common_prefix(path)
    }

    /// Whether one of `self` (a pattern) and `path` (concrete) is a prefix of the other, i.e. the
    /// claim at `path` lies on the way to, at, or below a claim `self` names.
    pub(crate) fn related_to(&self, path: &ClaimPath) -> bool {
        self.agrees_on_common_prefix(path)
    }

    fn agrees_on_common_prefix(&self, path: &ClaimPath) -> bool {
        self.0.iter().zip(&path.0).all(|(p, c)| match (p, c) {
            (PathElement::AllElements, PathElement::Index(_)) => true,
            (a, b) => a == b,
        })
    }

    pub(crate) fn push(&mut self, element: PathElement) {
        self.0.push(element);
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for ClaimPath {
    /// The compact JSON form, e.g. `["address","street_address"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl Serialize for ClaimPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        ClaimPath::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip() {
        let p = ClaimPath::keys(["a"]).index(2).all_elements().key("b");
        assert_eq!(p.to_json(), json!(["a", 2, null, "b"]));
        assert_eq!(ClaimPath::from_json(&p.to_json()).unwrap(), p);
        assert_eq!(p.to_string(), r#"["a",2,null,"b"]"#);
        let back: ClaimPath = serde_json::from_value(json!(["x", 0])).unwrap();
        assert_eq!(back, ClaimPath::keys(["x"]).index(0));
    }

    #[test]
    fn malformed_json_paths_fail() {
        for bad in [
            json!("a"),
            json!([-1]),
            json!([1.5]),
            json!([true]),
            json!([{}]),
        ] {
            assert!(matches!(
                ClaimPath::from_json(&bad),
                Err(SdJwtError::InvalidClaimPath { .. })
            ));
        }
    }

    #[test]
    fn wildcards_match_indices_only() {
        let pattern = ClaimPath::keys(["n"]).all_elements();
        assert!(pattern.matches(&ClaimPath::keys(["n"]).index(3)));
        assert!(!pattern.matches(&ClaimPath::keys(["n", "x"])));
        assert!(!pattern.matches(&ClaimPath::keys(["n"])));
        assert!(pattern.related_to(&ClaimPath::keys(["n"])));
        assert!(pattern.related_to(&ClaimPath::keys(["n"]).index(0).key("deep")));
        assert!(!pattern.related_to(&ClaimPath::keys(["m"])));
    }
}
