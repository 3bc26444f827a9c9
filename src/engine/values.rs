//! Conversion between script values and JSON, for the journal (step outputs), `--json` output
//! and resumed runs.
//!
//! Plain data (unit, booleans, numbers, strings, arrays, maps) converts both ways without loss.
//! Anything else — a secret, a handle — converts to a display string and is marked *not
//! faithful*, so a resumed run re-runs the step instead of handing back a lossy copy.

use rhai::{Array, Dynamic, Map};
use serde_json::Value;

use crate::context::secrets::{Secret, MASK};

/// `value` as JSON, and whether the conversion kept everything (so it can stand in for the
/// value in a resumed run).
pub fn to_json(value: &Dynamic) -> (Value, bool) {
    if value.is_unit() {
        return (Value::Null, true);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return (Value::Bool(b), true);
    }
    if let Some(i) = value.clone().try_cast::<rhai::INT>() {
        return (Value::from(i), true);
    }
    if let Some(f) = value.clone().try_cast::<rhai::FLOAT>() {
        return match serde_json::Number::from_f64(f) {
            Some(n) => (Value::Number(n), true),
            None => (Value::String(f.to_string()), false),
        };
    }
    if value.is_string() {
        return (Value::String(value.to_string()), true);
    }
    if let Some(c) = value.clone().try_cast::<char>() {
        return (Value::String(c.to_string()), false);
    }
    if value.is::<Secret>() {
        return (Value::String(MASK.to_string()), false);
    }
    if let Some(array) = value.read_lock::<Array>() {
        let mut faithful = true;
        let items = array
            .iter()
            .map(|v| {
                let (j, f) = to_json(v);
                faithful &= f;
                j
            })
            .collect();
        return (Value::Array(items), faithful);
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut faithful = true;
        let entries = map
            .iter()
            .map(|(k, v)| {
                let (j, f) = to_json(v);
                faithful &= f;
                (k.to_string(), j)
            })
            .collect();
        return (Value::Object(entries), faithful);
    }
    (Value::String(value.to_string()), false)
}

/// A script value from JSON (the inverse of [`to_json`] for plain data).
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from(i as rhai::INT),
            None => Dynamic::from(n.as_f64().unwrap_or(f64::NAN) as rhai::FLOAT),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(entries) => Dynamic::from_map(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_round_trips() {
        let engine = rhai::Engine::new();
        let v: Dynamic = engine
            .eval(r#"#{ a: 1, b: [true, "x", ()], c: #{ d: 2.5 } }"#)
            .unwrap();
        let (json, faithful) = to_json(&v);
        assert!(faithful);
        let back = from_json(&json);
        assert_eq!(to_json(&back).0, json);
    }

    #[test]
    fn secrets_are_masked_and_not_faithful() {
        let v = Dynamic::from_array(vec![Dynamic::from(Secret::new("K", "value-1234"))]);
        let (json, faithful) = to_json(&v);
        assert_eq!(json, serde_json::json!(["***"]));
        assert!(!faithful);
    }
}
