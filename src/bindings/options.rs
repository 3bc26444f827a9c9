//! Decoding an options map (`#{ timeout: "30m", ... }`) with unknown keys rejected by name.
//! Every primitive that takes options decodes them through [`Options`], so a typo such as
//! `timout` is an error instead of a silently ignored setting.

use std::time::Duration;

use rhai::{Dynamic, Map};

use crate::engine::metadata::parse_duration;
use crate::error::{Error, Result};

/// An options map checked against the keys a primitive accepts.
pub struct Options {
    what: String,
    map: Map,
}

impl Options {
    /// Checks `map` for `what` (e.g. `step options`) against `allowed`.
    pub fn new(what: &str, map: Map, allowed: &[&str]) -> Result<Options> {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::usage(format!("{what}: unknown option `{key}`"))
                    .with_hint(format!("valid options are: {}", allowed.join(", "))));
            }
        }
        Ok(Options {
            what: what.to_string(),
            map,
        })
    }

    /// The raw value of an option (`()` counts as absent).
    pub fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    fn wrong_type(&self, key: &str, expected: &str, value: &Dynamic) -> Error {
        Error::usage(format!(
            "{}: option `{key}` must be {expected}, not {}",
            self.what,
            value.type_name()
        ))
    }

    /// A string option.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(self.wrong_type(key, "a string", v)),
        }
    }

    /// A duration option written like `"30m"`.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => {
                parse_duration(&format!("{}: option `{key}`", self.what), &text).map(Some)
            }
        }
    }

    /// A boolean option.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .map_err(|_| self.wrong_type(key, "true or false", v)),
        }
    }

    /// A whole-number option.
    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|_| self.wrong_type(key, "a whole number", v)),
        }
    }

    /// A list-of-strings option.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let Some(items) = v.read_lock::<rhai::Array>() else {
                    return Err(self.wrong_type(key, "an array of strings", v));
                };
                items
                    .iter()
                    .map(|item| {
                        if item.is_string() {
                            Ok(item.to_string())
                        } else {
                            Err(self.wrong_type(key, "an array of strings", item))
                        }
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_named() {
        let mut map = Map::new();
        map.insert("timout".into(), Dynamic::from("5m"));
        let err = Options::new("step options", map, &["timeout"])
            .err()
            .unwrap();
        assert!(err.message().contains("`timout`"), "{err}");
        assert!(err.hint().unwrap().contains("timeout"));
    }

    #[test]
    fn durations_are_parsed() {
        let mut map = Map::new();
        map.insert("timeout".into(), Dynamic::from("90s"));
        let opts = Options::new("x", map, &["timeout"]).unwrap();
        assert_eq!(
            opts.duration("timeout").unwrap(),
            Some(Duration::from_secs(90))
        );
    }
}
