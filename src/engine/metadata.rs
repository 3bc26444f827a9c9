//! Runbook metadata: `runbook(#{ title, owner, rto, rpo, schedule, params, contacts, escalation })`.
//!
//! Metadata is validated with types — durations such as `"2h"`, cron expressions in UTC — and
//! unknown keys are rejected by name. [`resolve_params`] combines the declared parameters with
//! `--param` values before a run starts, so an unknown or missing parameter stops the run before
//! anything happens.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rhai::{Dynamic, Map};
use serde_json::Value;

use crate::context::secrets::SecretStore;
use crate::context::ParamValue;
use crate::engine::values::to_json;
use crate::error::{Error, Result};

/// The keys `runbook(#{...})` accepts.
pub const METADATA_KEYS: &[&str] = &[
    "title",
    "owner",
    "rto",
    "rpo",
    "schedule",
    "params",
    "contacts",
    "escalation",
];

/// `default` is reserved in Rhai, so the default of a parameter spec is written `value`
/// (a quoted `"default"` key is accepted too).
const PARAM_KEYS: &[&str] = &["value", "doc", "secret"];
const CONTACT_KEYS: &[&str] = &["role", "name", "reach"];

/// A runbook's validated metadata.
#[derive(Debug, Clone, Default)]
pub struct RunbookMeta {
    /// What the runbook does, in a few words.
    pub title: String,
    /// Who owns the procedure.
    pub owner: Option<String>,
    /// Recovery time objective.
    pub rto: Option<Duration>,
    /// Recovery point objective.
    pub rpo: Option<Duration>,
    /// When it runs, if scheduled.
    pub schedule: Option<Schedule>,
    /// Declared parameters, in declaration order.
    pub params: Vec<ParamSpec>,
    /// Who to reach.
    pub contacts: Vec<Contact>,
    /// Escalation path, in order.
    pub escalation: Vec<String>,
    /// The `//!` doc comment at the top of the script.
    pub doc: String,
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// Its name.
    pub name: String,
    /// Its default; `None` means the parameter must be given.
    pub default: Option<Value>,
    /// What it is for.
    pub doc: Option<String>,
    /// Whether its value is a secret (masked everywhere).
    pub secret: bool,
}

/// A contact: role, name, and where to reach them (a pointer, never a secret).
#[derive(Debug, Clone)]
pub struct Contact {
    /// E.g. "DevOps lead".
    pub role: String,
    /// A person or team.
    pub name: String,
    /// How to reach them, e.g. "#ops on Slack" or "see 1Password: vendor support".
    pub reach: String,
}

/// A cron schedule, in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as written (5 fields: minute hour day-of-month month day-of-week).
    pub expression: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a 5-field cron expression.
    pub fn parse(expression: &str) -> Result<Schedule> {
        let cron = croner::parser::CronParser::new()
            .parse(expression)
            .map_err(|e| {
                Error::usage(format!("invalid schedule \"{expression}\": {e}")).with_hint(
                    "use 5 cron fields in UTC: minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"",
                )
            })?;
        Ok(Schedule {
            expression: expression.to_string(),
            cron,
        })
    }

    /// The next time this schedule fires after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

/// Parses a duration such as `2h`, `30m`, `7d`, `1h 30m`.
pub fn parse_duration(what: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::usage(format!("{what}: \"{text}\" is not a duration ({e})"))
            .with_hint("write durations like \"30s\", \"15m\", \"2h\", \"7d\" or \"1h 30m\"")
    })
}

/// Formats a duration the way it is written in metadata (`24h`, `2h`, `30m`, `7d`, `1h 30m`).
pub fn format_duration(d: Duration) -> String {
    // Recovery targets read best the way people write them: 24h, 2h, 30m, 7d.
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 {
        const DAY: u64 = 86_400;
        if secs.is_multiple_of(DAY) && secs > 3 * DAY {
            return format!("{}d", secs / DAY);
        }
        if secs.is_multiple_of(3600) && secs <= 3 * DAY {
            return format!("{}h", secs / 3600);
        }
        if secs.is_multiple_of(60) && secs < 3600 {
            return format!("{}m", secs / 60);
        }
    }
    humantime::format_duration(d).to_string()
}

fn unknown_key(what: &str, key: &str, valid: &[&str]) -> Error {
    Error::usage(format!("{what}: unknown key `{key}`"))
        .with_hint(format!("valid keys are: {}", valid.join(", ")))
}

fn string_field(what: &str, key: &str, value: &Dynamic) -> Result<String> {
    if value.is_string() {
        Ok(value.to_string())
    } else {
        Err(Error::usage(format!(
            "{what}: `{key}` must be a string, not {}",
            value.type_name()
        )))
    }
}

impl RunbookMeta {
    /// Validates the map given to `runbook(...)`.
    pub fn from_map(map: &Map, doc: &str) -> Result<RunbookMeta> {
        const WHAT: &str = "runbook metadata";
        let mut meta = RunbookMeta {
            doc: doc.trim().to_string(),
            ..Default::default()
        };
        let mut has_title = false;
        for (key, value) in map {
            match key.as_str() {
                "title" => {
                    meta.title = string_field(WHAT, key, value)?;
                    has_title = !meta.title.trim().is_empty();
                }
                "owner" => meta.owner = Some(string_field(WHAT, key, value)?),
                "rto" => {
                    meta.rto = Some(parse_duration(
                        "runbook rto",
                        &string_field(WHAT, key, value)?,
                    )?)
                }
                "rpo" => {
                    meta.rpo = Some(parse_duration(
                        "runbook rpo",
                        &string_field(WHAT, key, value)?,
                    )?)
                }
                "schedule" => {
                    meta.schedule = Some(Schedule::parse(&string_field(WHAT, key, value)?)?)
                }
                "params" => meta.params = parse_params(value)?,
                "contacts" => meta.contacts = parse_contacts(value)?,
                "escalation" => meta.escalation = parse_escalation(value)?,
                other => return Err(unknown_key(WHAT, other, METADATA_KEYS)),
            }
        }
        if !has_title {
            return Err(
                Error::usage("runbook metadata: `title` is required").with_hint(
                    "start the script with runbook(#{ title: \"What this procedure does\" })",
                ),
            );
        }
        Ok(meta)
    }

    /// The declared parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

fn parse_params(value: &Dynamic) -> Result<Vec<ParamSpec>> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(Error::usage(
            "runbook metadata: `params` must be a map of name: default",
        ));
    };
    let mut specs = Vec::new();
    for (name, value) in map.iter() {
        let what = format!("parameter `{name}`");
        let mut spec = ParamSpec {
            name: name.to_string(),
            default: None,
            doc: None,
            secret: false,
        };
        if let Some(inner) = value.read_lock::<Map>() {
            for (key, v) in inner.iter() {
                match key.as_str() {
                    "value" | "default" => spec.default = plain_default(&what, v)?,
                    "doc" => spec.doc = Some(string_field(&what, key, v)?),
                    "secret" => {
                        spec.secret = v.as_bool().map_err(|_| {
                            Error::usage(format!("{what}: `secret` must be true or false"))
                        })?
                    }
                    other => return Err(unknown_key(&what, other, PARAM_KEYS)),
                }
            }
        } else {
            spec.default = plain_default(&what, value)?;
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn plain_default(what: &str, value: &Dynamic) -> Result<Option<Value>> {
    if value.is_unit() {
        return Ok(None);
    }
    let (json, faithful) = to_json(value);
    if !faithful || json.is_object() || json.is_array() {
        return Err(Error::usage(format!(
            "{what}: a default must be a string, number or boolean, not {}",
            value.type_name()
        )));
    }
    Ok(Some(json))
}

fn parse_contacts(value: &Dynamic) -> Result<Vec<Contact>> {
    let Some(items) = value.read_lock::<rhai::Array>() else {
        return Err(Error::usage(
            "runbook metadata: `contacts` must be an array of #{ role, name, reach }",
        ));
    };
    let mut contacts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("contact {}", i + 1);
        let Some(map) = item.read_lock::<Map>() else {
            return Err(Error::usage(format!(
                "{what}: must be #{{ role, name, reach }}"
            )));
        };
        let mut contact = Contact {
            role: String::new(),
            name: String::new(),
            reach: String::new(),
        };
        for (key, v) in map.iter() {
            let text = string_field(&what, key, v)?;
            match key.as_str() {
                "role" => contact.role = text,
                "name" => contact.name = text,
                "reach" => contact.reach = text,
                other => return Err(unknown_key(&what, other, CONTACT_KEYS)),
            }
        }
        if contact.role.is_empty() || contact.name.is_empty() {
            return Err(Error::usage(format!(
                "{what}: `role` and `name` are required"
            )));
        }
        contacts.push(contact);
    }
    Ok(contacts)
}

fn parse_escalation(value: &Dynamic) -> Result<Vec<String>> {
    let Some(items) = value.read_lock::<rhai::Array>() else {
        return Err(Error::usage(
            "runbook metadata: `escalation` must be an array of strings, in order",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| string_field("runbook metadata", &format!("escalation[{i}]"), v))
        .collect()
}

/// Checks `--param` values against the declared parameters: every name must be declared and
/// every value must convert to the type of its default. Missing required ones are not checked.
pub fn check_given_params(meta: &RunbookMeta, given: &BTreeMap<String, String>) -> Result<()> {
    for (name, text) in given {
        if meta.param(name).is_none() {
            let declared: Vec<&str> = meta.params.iter().map(|p| p.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            };
            return Err(Error::usage(format!("unknown parameter `{name}`"))
                .with_hint(format!("this runbook declares: {declared}")));
        }
        let spec = meta.param(name).expect("checked above");
        convert_param(name, text, spec.default.as_ref())?;
    }
    Ok(())
}

/// Combines declared parameters with `--param` values. Unknown names and missing required
/// parameters are errors naming them. Values are converted to the type of the default.
pub fn resolve_params(
    meta: &RunbookMeta,
    given: &BTreeMap<String, String>,
    secrets: &SecretStore,
) -> Result<BTreeMap<String, ParamValue>> {
    check_given_params(meta, given)?;
    let mut resolved = BTreeMap::new();
    for spec in &meta.params {
        let value = match (given.get(&spec.name), &spec.default) {
            (Some(text), default) => convert_param(&spec.name, text, default.as_ref())?,
            (None, Some(default)) => default.clone(),
            (None, None) => {
                return Err(
                    Error::usage(format!("parameter `{}` is required", spec.name))
                        .with_hint(format!("pass --param {}=VALUE", spec.name)),
                )
            }
        };
        let value = if spec.secret {
            let text = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            secrets.redactor_add(&text);
            ParamValue::Secret(crate::context::secrets::Secret::new(&spec.name, &text))
        } else {
            ParamValue::Plain(value)
        };
        resolved.insert(spec.name.clone(), value);
    }
    Ok(resolved)
}

fn convert_param(name: &str, text: &str, default: Option<&Value>) -> Result<Value> {
    let bad = |kind: &str| {
        Error::usage(format!("parameter `{name}`: \"{text}\" is not {kind}"))
            .with_hint("the type of a parameter is the type of its default")
    };
    Ok(match default {
        Some(Value::Bool(_)) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Some(Value::Number(n)) if n.is_i64() => {
            Value::from(text.parse::<i64>().map_err(|_| bad("a whole number"))?)
        }
        Some(Value::Number(_)) => Value::from(text.parse::<f64>().map_err(|_| bad("a number"))?),
        _ => Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(script: &str) -> Result<RunbookMeta> {
        let engine = rhai::Engine::new();
        let map: Map = engine.eval(script).unwrap();
        RunbookMeta::from_map(&map, "")
    }

    #[test]
    fn valid_metadata_parses() {
        let m = meta(
            r##"#{ title: "Restore", rto: "2h", rpo: "24h", schedule: "0 2 * * *",
                  params: #{ set: "latest", n: 3, force: false, token: #{ secret: true, value: () } },
                  contacts: [#{ role: "DevOps lead", name: "Ana", reach: "#ops" }] }"##,
        )
        .unwrap();
        assert_eq!(m.rto, Some(Duration::from_secs(7200)));
        assert_eq!(m.params.len(), 4);
        let next = m
            .schedule
            .unwrap()
            .next_after("2026-12-04T19:00:00Z".parse().unwrap())
            .unwrap();
        assert_eq!(next.to_rfc3339(), "2026-12-05T02:00:00+00:00");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = meta(r#"#{ title: "x", tittle: "y" }"#).unwrap_err();
        assert!(err.message().contains("`tittle`"), "{err}");
        let err = meta(r#"#{ title: "x", contacts: [#{ role: "a", name: "b", phone: "1" }] }"#)
            .unwrap_err();
        assert!(err.message().contains("`phone`"), "{err}");
    }

    #[test]
    fn bad_durations_and_cron_are_rejected() {
        assert!(meta(r#"#{ title: "x", rto: "two hours" }"#).is_err());
        assert!(meta(r#"#{ title: "x", schedule: "99 * * * *" }"#).is_err());
        assert!(meta(r#"#{ owner: "x" }"#).is_err());
    }

    #[test]
    fn params_resolve_with_types_and_errors() {
        let m = meta(r#"#{ title: "x", params: #{ n: 3, name: (), flag: false } }"#).unwrap();
        let store = SecretStore::load(None, false, Default::default()).unwrap();
        let mut given = BTreeMap::new();
        let err = resolve_params(&m, &given, &store).unwrap_err();
        assert!(err.message().contains("`name`"), "{err}");
        given.insert("name".to_string(), "a".to_string());
        given.insert("n".to_string(), "7".to_string());
        let r = resolve_params(&m, &given, &store).unwrap();
        assert!(matches!(r["n"], ParamValue::Plain(Value::Number(_))));
        given.insert("n".to_string(), "seven".to_string());
        assert!(resolve_params(&m, &given, &store).is_err());
        given.remove("n");
        given.insert("nope".to_string(), "1".to_string());
        let err = resolve_params(&m, &given, &store).unwrap_err();
        assert!(err.message().contains("`nope`"), "{err}");
    }
}
