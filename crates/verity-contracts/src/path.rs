//! Input claim references: a plain name (`given_name`, looked up as one key, dots included) or
//! a small JSONPath subset (`$.address.locality`, `$['x-ms-claim']`, `$.roles[0]`).

use serde_json::{Map, Value};

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Parses an input claim reference into steps; the error says what is wrong.
pub(crate) fn parse(claim: &str) -> Result<Vec<Step>, String> {
    if claim.is_empty() {
        return Err("must not be empty".into());
    }
    let Some(rest) = claim.strip_prefix('$') else {
        if claim.contains(['[', ']', '\'', '"']) {
            return Err(
                "a plain claim name may not contain brackets or quotes (start with `$` for a path)"
                    .into(),
            );
        }
        return Ok(vec![Step::Key(claim.to_owned())]);
    };
    let mut steps = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return Err("a `.` must be followed by a claim name".into());
            }
            if name
                .chars()
                .any(|c| c == ']' || c == '\'' || c == '"' || c == '*')
            {
                return Err(format!("`{name}` is not a plain claim name (use ['...'])"));
            }
            steps.push(Step::Key(name.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| "an opening `[` has no closing `]`".to_owned())?;
            let inner = &after[..close];
            let quoted = |q: char| {
                inner
                    .strip_prefix(q)
                    .and_then(|s| s.strip_suffix(q))
                    .filter(|s| !s.is_empty() && !s.contains(q))
            };
            if let Some(name) = quoted('\'').or_else(|| quoted('"')) {
                steps.push(Step::Key(name.to_owned()));
            } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                let index = inner
                    .parse::<usize>()
                    .map_err(|_| format!("index `{inner}` is too large"))?;
                steps.push(Step::Index(index));
            } else {
                return Err(format!(
                    "`[{inner}]` must be a quoted name or an array index (wildcards and filters are not supported)"
                ));
            }
            rest = &after[close + 1..];
        } else {
            return Err("after `$`, expect `.name`, `['name']` or `[index]`".into());
        }
    }
    if steps.is_empty() {
        return Err("`$` alone names the whole input, not a claim".into());
    }
    Ok(steps)
}

/// Looks `steps` up in `input`; `None` when any step is absent.
pub(crate) fn lookup<'a>(input: &'a Map<String, Value>, steps: &[Step]) -> Option<&'a Value> {
    let (first, rest) = steps.split_first()?;
    let Step::Key(k) = first else {
        return None;
    };
    let mut cur = input.get(k)?;
    for step in rest {
        cur = match (step, cur) {
            (Step::Key(k), Value::Object(o)) => o.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The reference as a JSONPath, as manifests show it (`given_name` -> `$.given_name`).
pub(crate) fn as_json_path(claim: &str) -> String {
    if claim.starts_with('$') {
        claim.to_owned()
    } else if claim.contains('.') {
        format!("$['{claim}']")
    } else {
        format!("$.{claim}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn plain_names_are_one_literal_key() {
        assert_eq!(
            parse("given_name").unwrap(),
            vec![Step::Key("given_name".into())]
        );
        let input = obj(json!({"a.b": 1, "a": {"b": 2}}));
        assert_eq!(lookup(&input, &parse("a.b").unwrap()), Some(&json!(1)));
        assert_eq!(lookup(&input, &parse("$.a.b").unwrap()), Some(&json!(2)));
    }

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let input = obj(json!({
            "address": {"locality": "Oslo"},
            "roles": ["admin", "user"],
            "x-ms-claim": true
        }));
        let get = |p: &str| lookup(&input, &parse(p).unwrap()).cloned();
        assert_eq!(get("$.address.locality"), Some(json!("Oslo")));
        assert_eq!(get("$.roles[1]"), Some(json!("user")));
        assert_eq!(get("$['x-ms-claim']"), Some(json!(true)));
        assert_eq!(get("$[\"address\"].locality"), Some(json!("Oslo")));
        assert_eq!(get("$.roles[5]"), None);
        assert_eq!(get("$.address.missing"), None);
        assert_eq!(
            get("$.roles.x"),
            None,
            "a key step on an array finds nothing"
        );
    }

    #[test]
    fn malformed_paths_are_refused_with_a_reason() {
        for bad in [
            "",
            "$",
            "$.",
            "$..a",
            "$.a.",
            "$[",
            "$[*]",
            "$.a[?(@.x)]",
            "$a",
            "$['']",
            "$.a*",
            "$[99999999999999999999999]",
            "a[0]",
            "it's",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
    }

    #[test]
    fn manifest_form_is_a_json_path() {
        assert_eq!(as_json_path("given_name"), "$.given_name");
        assert_eq!(as_json_path("$.a.b"), "$.a.b");
        assert_eq!(as_json_path("a.b"), "$['a.b']");
    }
}
