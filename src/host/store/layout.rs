//! Where a backup set lives in a store:
//!
//! ```text
//! <prefix>/<set-name>/<YYYY-MM-DD>T<hhmmss>Z-<host>/
//!     data.tar.zst.rbk     encrypted objects
//!     manifest.json        written last: a set exists only once its manifest does
//! ```

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// The file that makes a set complete.
pub const MANIFEST: &str = "manifest.json";

const STAMP: &str = "%Y-%m-%dT%H%M%SZ";
const STAMP_LEN: usize = 18;

/// Identity of one backup set: its name, when it was made, and by which host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId {
    /// The set name, e.g. `app-data`.
    pub name: String,
    /// Creation time (seconds precision).
    pub created: DateTime<Utc>,
    /// The host that made it.
    pub host: String,
}

/// Checks a set name: letters, digits, `-`, `_`, `.`; no path tricks.
pub fn check_set_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("invalid backup set name \"{name}\""))
            .with_hint("use letters, digits, `-`, `_` and `.`, e.g. \"app-data\""))
    }
}

/// A host name made safe for an object key.
pub fn safe_host(host: &str) -> String {
    let cleaned: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "host".into()
    } else {
        cleaned
    }
}

impl SetId {
    /// A new set id (the time is truncated to seconds).
    pub fn new(name: &str, created: DateTime<Utc>, host: &str) -> Result<SetId> {
        check_set_name(name)?;
        let created = DateTime::from_timestamp(created.timestamp(), 0).unwrap_or(created);
        Ok(SetId {
            name: name.to_string(),
            created,
            host: safe_host(host),
        })
    }

    /// The set's folder name, e.g. `2026-12-04T020000Z-vps1`.
    pub fn dir(&self) -> String {
        format!("{}-{}", self.created.format(STAMP), self.host)
    }

    /// The set's path below the store prefix, e.g. `app-data/2026-12-04T020000Z-vps1`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.name, self.dir())
    }

    /// Parses a folder name found under `<name>/`.
    pub fn parse(name: &str, dir: &str) -> Option<SetId> {
        let stamp = dir.get(..STAMP_LEN)?;
        let host = dir.get(STAMP_LEN..)?.strip_prefix('-')?;
        let created = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?.and_utc();
        if host.is_empty() {
            return None;
        }
        Some(SetId {
            name: name.to_string(),
            created,
            host: host.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_round_trip() {
        let t = "2026-12-04T02:00:07.5Z".parse().unwrap();
        let id = SetId::new("app-data", t, "vps 1").unwrap();
        assert_eq!(id.dir(), "2026-12-04T020007Z-vps-1");
        assert_eq!(SetId::parse("app-data", &id.dir()), Some(id));
        assert!(SetId::parse("x", "garbage").is_none());
        assert!(check_set_name("../x").is_err());
        assert!(check_set_name("app/data").is_err());
    }
}
