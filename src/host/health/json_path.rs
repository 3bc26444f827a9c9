//! JSON-path expectations of HTTP health checks: parsing a path (`status`, `data.0.healthy`,
//! `$.checks.db`, `$.items[0].ok`, `$["a.b"]`), finding it in a response body, and saying
//! exactly how the value differs from what was expected.

use serde_json::Value;

use crate::error::{Error, Result};

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// An object key (or, on an array, an index written as a plain number).
    Key(String),
    /// `[n]`: an array index.
    Index(usize),
}

/// Parses `status`, `data.0.healthy`, `$.checks.db`, `$.items[0].ok`, `$["a.b"]`.
pub(super) fn parse_json_path(path: &str) -> Result<Vec<Segment>> {
    let bad = |why: &str| {
        Error::usage(format!("JSON path `{path}` is not valid: {why}")).with_hint(
            "write a path like `status`, `data.0.healthy`, `$.checks.db` or `$.items[0].ok`",
        )
    };
    let mut rest = path.trim();
    if let Some(r) = rest.strip_prefix('$') {
        rest = r;
        if rest.is_empty() {
            return Err(bad("it names the whole document; name a field"));
        }
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if !rest.starts_with('[') {
            return Err(bad("`$` must be followed by `.` or `[`"));
        }
    }
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut segments = Vec::new();
    let mut expect_name = true; // at the start and after a `.`
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("a `[` is not closed"))?;
            let inner = r[..close].trim();
            let segment =
                if let Some(quoted) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    Segment::Key(quoted.to_string())
                } else {
                    Segment::Index(inner.parse().map_err(|_| {
                        bad(&format!("`[{inner}]` is not an index or a quoted key"))
                    })?)
                };
            segments.push(segment);
            rest = &r[close + 1..];
            expect_name = false;
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
                expect_name = true;
                if rest.is_empty() {
                    return Err(bad("it ends with `.`"));
                }
            } else if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad("expected `.` or `[` after `]`"));
            }
            continue;
        }
        if !expect_name {
            return Err(bad("expected `.` or `[`"));
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err(bad("it has an empty segment"));
        }
        if name.contains(']') {
            return Err(bad("a `]` has no matching `[`"));
        }
        segments.push(Segment::Key(name.to_string()));
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            if rest.is_empty() {
                return Err(bad("it ends with `.`"));
            }
            expect_name = true;
        } else {
            expect_name = false;
        }
    }
    Ok(segments)
}

/// Follows `segments` into `value`.
fn lookup<'v>(value: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    let mut current = value;
    for segment in segments {
        current = match (segment, current) {
            (Segment::Key(key), Value::Object(map)) => map.get(key)?,
            (Segment::Key(key), Value::Array(items)) => items.get(key.parse::<usize>().ok()?)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// `null`, `false`, `0`, `""`, `[]` and `{}` are falsy; everything else is truthy.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Equality where `1` and `1.0` are the same number.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || (x.as_f64() == y.as_f64()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON value in compact form, cut to a readable length.
fn render(value: &Value) -> String {
    cut(&value.to_string(), 120)
}

/// `text` cut to `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Checks the JSON-path expectation against a body; `None` when it holds.
pub(super) fn json_expectation(
    body: &str,
    path: &str,
    segments: &[Segment],
    expected: Option<&Value>,
) -> Option<String> {
    let document: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("body is not JSON ({e})")),
    };
    let Some(found) = lookup(&document, segments) else {
        return Some(format!("JSON path {path} not found"));
    };
    match expected {
        Some(expected) if !json_equal(found, expected) => Some(format!(
            "JSON path {path} is {}, expected {}",
            render(found),
            render(expected)
        )),
        None if !truthy(found) => Some(format!(
            "JSON path {path} is {}, expected a truthy value",
            render(found)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(path: &str) -> Vec<Segment> {
        parse_json_path(path).unwrap()
    }

    #[test]
    fn health_json_paths_parse() {
        use Segment::{Index, Key};
        assert_eq!(keys("status"), vec![Key("status".into())]);
        assert_eq!(
            keys("data.0.healthy"),
            vec![Key("data".into()), Key("0".into()), Key("healthy".into())]
        );
        assert_eq!(
            keys("$.checks.db"),
            vec![Key("checks".into()), Key("db".into())]
        );
        assert_eq!(
            keys("$.items[0].ok"),
            vec![Key("items".into()), Index(0), Key("ok".into())]
        );
        assert_eq!(keys("$[\"a.b\"]"), vec![Key("a.b".into())]);
        assert_eq!(keys("a[1][2]"), vec![Key("a".into()), Index(1), Index(2)]);
        for bad in [
            "", "$", "$x", "a..b", "a.", ".a", "a[", "a[x]", "a[0]b", "a]", "$.",
        ] {
            let err = parse_json_path(bad).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Usage, "{bad:?}");
            assert!(err.message().contains("is not valid"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn health_json_expectations_have_exact_details() {
        let body = r#"{"data":[{"healthy":true,"status":"degraded"}],"n":1,"empty":""}"#;
        let check = |path: &str, expected: Option<Value>| {
            json_expectation(body, path, &keys(path), expected.as_ref())
        };
        assert_eq!(check("data.0.healthy", None), None);
        assert_eq!(check("n", Some(json!(1.0))), None);
        assert_eq!(
            check("data.0.status", Some(json!("ok"))).unwrap(),
            "JSON path data.0.status is \"degraded\", expected \"ok\""
        );
        assert_eq!(
            check("empty", None).unwrap(),
            "JSON path empty is \"\", expected a truthy value"
        );
        assert_eq!(
            check("data.1.healthy", None).unwrap(),
            "JSON path data.1.healthy not found"
        );
        assert_eq!(check("n.x", None).unwrap(), "JSON path n.x not found");
        let not_json = json_expectation("ok", "a", &keys("a"), None).unwrap();
        assert!(not_json.starts_with("body is not JSON ("), "{not_json}");
    }

    #[test]
    fn health_truthiness() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for yes in [
            json!(true),
            json!(1),
            json!("no"),
            json!([0]),
            json!({"a": null}),
        ] {
            assert!(truthy(&yes), "{yes}");
        }
    }

    #[test]
    fn health_long_values_are_cut() {
        let long = "x".repeat(300);
        let shown = render(&json!(long));
        assert_eq!(shown.chars().count(), 121);
        assert!(shown.ends_with('…'));
    }
}
