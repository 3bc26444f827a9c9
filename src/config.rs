//! The project: where `runbook.toml` lives, and what it says.
//!
//! A project root is the nearest folder above a runbook that holds `runbook.toml`; without one,
//! the current directory. Everything the tool writes (journal, locks) lives below that root unless
//! `runbook.toml` says otherwise, and the `stdlib/` folder there overrides the embedded modules.
//! Unknown keys in `runbook.toml` are errors, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::limits::Limits;
use crate::error::{Error, Result};

/// The name of the project configuration file.
pub const CONFIG_FILE: &str = "runbook.toml";

/// The parsed `runbook.toml`, with defaults for everything left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Script limits (operations, call depth, sizes).
    pub limits: Limits,
    /// Where run journals are written.
    pub journal: JournalConfig,
    /// Where run locks are kept.
    pub locks: LockConfig,
    /// Where drill records and evidence go.
    pub drills: DrillConfig,
}

/// `[journal]` in `runbook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Folder for `<run-id>.jsonl` files, relative to the project root.
    pub dir: PathBuf,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            dir: PathBuf::from(".runbook/runs"),
        }
    }
}

/// `[locks]` in `runbook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockConfig {
    /// Folder for lock files, relative to the project root.
    pub dir: PathBuf,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            dir: PathBuf::from(".runbook/locks"),
        }
    }
}

/// `[drills]` in `runbook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillConfig {
    /// The drill log (one JSON record per line), relative to the project root.
    pub log: PathBuf,
    /// The folder for evidence folders, relative to the project root.
    pub evidence: PathBuf,
}

impl Default for DrillConfig {
    fn default() -> Self {
        DrillConfig {
            log: PathBuf::from("docs/operations/drills.jsonl"),
            evidence: PathBuf::from("docs/operations/evidence"),
        }
    }
}

/// A project: its root folder and its configuration.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `runbook.toml` (or the current directory).
    pub root: PathBuf,
    /// The configuration read from `runbook.toml`, or defaults.
    pub config: Config,
}

impl Project {
    /// Finds the project a runbook belongs to: the nearest ancestor of `start` with a
    /// `runbook.toml`, or the current directory when there is none.
    pub fn discover(start: &Path) -> Result<Project> {
        let start = absolute(start)?;
        let mut dir = if start.is_dir() {
            Some(start.as_path())
        } else {
            start.parent()
        };
        while let Some(d) = dir {
            let candidate = d.join(CONFIG_FILE);
            if candidate.is_file() {
                return Ok(Project {
                    root: d.to_path_buf(),
                    config: Config::load(&candidate)?,
                });
            }
            dir = d.parent();
        }
        let cwd =
            std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?;
        Ok(Project {
            root: cwd,
            config: Config::default(),
        })
    }

    /// The folder for run journals.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join(&self.config.journal.dir)
    }

    /// The folder for lock files.
    pub fn lock_dir(&self) -> PathBuf {
        self.root.join(&self.config.locks.dir)
    }

    /// The drill log file.
    pub fn drill_log(&self) -> PathBuf {
        self.root.join(&self.config.drills.log)
    }

    /// The folder holding one evidence folder per drill.
    pub fn evidence_dir(&self) -> PathBuf {
        self.root.join(&self.config.drills.evidence)
    }

    /// The project's `stdlib/` folder (may not exist).
    pub fn stdlib_dir(&self) -> PathBuf {
        self.root.join("stdlib")
    }
}

impl Config {
    /// Reads and validates a `runbook.toml`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::parse(&text).map_err(|e| e.context(path.display()))
    }

    /// Parses the text of a `runbook.toml`.
    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| {
            Error::usage(format!("invalid configuration: {}", e.message().trim()))
                .with_hint("see the `runbook.toml` section of the README for the valid keys")
        })
    }
}

/// `path` made absolute against the current directory, without touching the filesystem.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(format!("resolving {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = Config::parse("[limits]\nmax_operatons = 5\n").unwrap_err();
        assert!(err.message().contains("max_operatons"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn limits_can_be_overridden() {
        let config = Config::parse("[limits]\nmax_operations = 1000\n").unwrap();
        assert_eq!(config.limits.max_operations, 1000);
        assert_eq!(config.journal.dir, PathBuf::from(".runbook/runs"));
    }

    #[test]
    fn the_drill_log_can_move_and_typos_are_named() {
        let config = Config::parse("[drills]\nlog = \"ops/drills.jsonl\"\n").unwrap();
        assert_eq!(config.drills.log, PathBuf::from("ops/drills.jsonl"));
        assert_eq!(
            config.drills.evidence,
            PathBuf::from("docs/operations/evidence")
        );
        let err = Config::parse("[drills]\nlogs = \"x\"\n").unwrap_err();
        assert!(err.message().contains("logs"), "{err}");
    }
}
