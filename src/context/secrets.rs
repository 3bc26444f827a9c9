//! Secrets: the `Secret` value type and the redactor that keeps secret values out of every
//! output.
//!
//! Two layers keep a secret from leaking. First, a [`Secret`] renders as `***` wherever it is
//! printed, interpolated, journaled or shown in an error. Second, every value read through
//! [`SecretStore::secret`] is registered with the [`Redactor`], and every line the tool writes
//! (terminal, `--json`, journal, plan, error messages) passes through [`Redactor::redact`], so a
//! secret that was copied into an ordinary string is still masked.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

/// What a secret renders as.
pub const MASK: &str = "***";

/// Values shorter than this are not redacted from free text: masking every `1` or `on` in the
/// output would make it unreadable and protect nothing. Such secrets are still masked wherever
/// they travel as [`Secret`] values.
const MIN_REDACTED_LEN: usize = 4;

/// A secret value. Renders as `***`; only host primitives read the value itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    name: Arc<str>,
    value: Arc<str>,
}

impl Secret {
    /// A secret called `name` holding `value`.
    pub fn new(name: &str, value: &str) -> Self {
        Secret {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Where the secret came from (its variable name), safe to show.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret value, for host primitives that need it (credentials, keys).
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}={MASK})", self.name)
    }
}

/// The set of secret values seen in this run; masks them in any text.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// Registers a value to mask from now on.
    pub fn add(&self, value: &str) {
        if value.len() < MIN_REDACTED_LEN {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// `text` with every registered secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for value in values.iter() {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }
}

/// Where `env()` and `secret()` look: the process environment, then a `.env` file.
pub struct SecretStore {
    env_file: Option<PathBuf>,
    env_file_vars: HashMap<String, String>,
    redactor: Redactor,
    placeholders: bool,
}

/// What `secret()` gives in an offline plan run: 32 zero bytes in base64, so that code such as
/// `key(secret("BACKUP_ENCRYPTION_KEY"))` outside steps still evaluates. It is never a real key.
pub const PLACEHOLDER_SECRET: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

impl SecretStore {
    /// Reads the `.env` file at `env_file` if it exists. `required` makes a missing file an error
    /// (for an explicit `--env-file`).
    pub fn load(env_file: Option<&Path>, required: bool, redactor: Redactor) -> Result<Self> {
        let mut env_file_vars = HashMap::new();
        let mut used_file = None;
        if let Some(path) = env_file {
            if path.is_file() {
                let iter = dotenvy::from_path_iter(path).map_err(|e| {
                    Error::usage(format!("cannot read env file {}: {e}", path.display()))
                })?;
                for item in iter {
                    let (k, v) = item.map_err(|e| {
                        Error::usage(format!("env file {} is malformed: {e}", path.display()))
                            .with_hint("lines look like NAME=value; quote values with spaces")
                    })?;
                    env_file_vars.insert(k, v);
                }
                used_file = Some(path.to_path_buf());
            } else if required {
                return Err(Error::usage(format!(
                    "env file {} does not exist",
                    path.display()
                )));
            }
        }
        Ok(SecretStore {
            env_file: used_file,
            env_file_vars,
            redactor,
            placeholders: false,
        })
    }

    /// A store for offline plan runs: reads neither the environment nor any file; `env(NAME)`
    /// is `${NAME}` and every secret is [`PLACEHOLDER_SECRET`].
    pub fn placeholders(redactor: Redactor) -> Self {
        SecretStore {
            env_file: None,
            env_file_vars: HashMap::new(),
            redactor,
            placeholders: true,
        }
    }

    /// The value of a non-secret setting: the environment, then the env file.
    pub fn env(&self, name: &str) -> Option<String> {
        if self.placeholders {
            return Some(format!("${{{name}}}"));
        }
        std::env::var(name)
            .ok()
            .or_else(|| self.env_file_vars.get(name).cloned())
    }

    /// A secret: `NAME` from the environment or the env file, else the contents of the file
    /// named by `NAME_FILE` (trailing newline removed). The value is registered for redaction.
    pub fn secret(&self, name: &str) -> Result<Secret> {
        if self.placeholders {
            return Ok(Secret::new(name, PLACEHOLDER_SECRET));
        }
        // `NAME=` left empty (as in a `.env` copied from `.env.example`) gives way to `NAME_FILE`.
        let file_var = format!("{name}_FILE");
        let value = match (self.env(name), self.env(&file_var)) {
            (Some(v), _) if !v.is_empty() => v,
            (_, Some(path)) if !path.is_empty() => std::fs::read_to_string(&path)
                .map_err(|e| {
                    Error::usage(format!(
                        "secret {name}: cannot read the file {file_var} points to ({path}): {e}"
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            (Some(v), _) => v,
            (None, _) => return Err(self.missing(name, true)),
        };
        if value.is_empty() {
            return Err(
                Error::usage(format!("secret {name} is set but empty")).with_hint(format!(
                    "give {name} a value, or set {name}_FILE to a file that holds it"
                )),
            );
        }
        self.redactor.add(&value);
        Ok(Secret::new(name, &value))
    }

    /// Registers a value that must be masked (e.g. a secret parameter given on the command line).
    pub fn redactor_add(&self, value: &str) {
        self.redactor.add(value);
    }

    /// The error for a variable that is set nowhere.
    pub fn missing(&self, name: &str, secret: bool) -> Error {
        let places = match &self.env_file {
            Some(p) => format!("the environment or {}", p.display()),
            None => "the environment (no .env file was found)".to_string(),
        };
        let hint = if secret {
            format!("set {name} in {places}, or set {name}_FILE to a file that holds it")
        } else {
            format!("set {name} in {places}")
        };
        let what = if secret {
            "secret"
        } else {
            "environment variable"
        };
        Error::usage(format!("{what} {name} is not set")).with_hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_renders_masked() {
        let s = Secret::new("TOKEN", "hunter2-very-secret");
        assert_eq!(s.to_string(), "***");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn redactor_masks_longest_first() {
        let r = Redactor::default();
        r.add("abcd");
        r.add("abcdefgh");
        assert_eq!(r.redact("x abcdefgh y abcd"), "x *** y ***");
        r.add("ab");
        assert_eq!(r.redact("ab"), "ab");
    }

    #[test]
    fn secret_reads_name_file_and_registers_value() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "file-secret-value\n").unwrap();
        let env_file = dir.path().join(".env");
        std::fs::write(
            &env_file,
            format!("RB_TEST_KEY_FILE={}\nPLAIN=1\n", key_file.display()),
        )
        .unwrap();
        let r = Redactor::default();
        let store = SecretStore::load(Some(&env_file), true, r.clone()).unwrap();
        let s = store.secret("RB_TEST_KEY").unwrap();
        assert_eq!(s.expose(), "file-secret-value");
        assert_eq!(r.redact("got file-secret-value"), "got ***");
        let err = store.secret("RB_TEST_ABSENT").unwrap_err();
        assert!(err.to_string().contains("RB_TEST_ABSENT_FILE"), "{err}");
    }

    #[test]
    fn an_empty_name_gives_way_to_name_file() {
        // A `.env` copied from `.env.example`: `NAME=` left empty, `NAME_FILE` added.
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "file-secret-value\n").unwrap();
        let env_file = dir.path().join(".env");
        std::fs::write(
            &env_file,
            format!(
                "RB_TEST_EMPTY_KEY=\nRB_TEST_EMPTY_KEY_FILE={}\nRB_TEST_ONLY_EMPTY=\n",
                key_file.display()
            ),
        )
        .unwrap();
        let store = SecretStore::load(Some(&env_file), true, Redactor::default()).unwrap();
        assert_eq!(
            store.secret("RB_TEST_EMPTY_KEY").unwrap().expose(),
            "file-secret-value"
        );
        let err = store.secret("RB_TEST_ONLY_EMPTY").unwrap_err();
        assert!(err.to_string().contains("set but empty"), "{err}");
    }
}
