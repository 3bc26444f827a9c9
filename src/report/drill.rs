//! Drill records: what one rehearsal of a runbook showed — who ran it, when, with which
//! parameters, how long each step took, whether the RTO was met, what failed, and the gaps and
//! improvements the operator noted.
//!
//! Records are appended, one JSON object per line, to the drill log (`[drills] log` in
//! `runbook.toml`, default `docs/operations/drills.jsonl`), which `runbook doc` turns into the
//! drill history of the playbook. Every line passes through the run's redactor before it is
//! written; secret parameters are recorded as `***`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::secrets::Redactor;
use crate::error::{Error, Result};

/// The RTO verdict of a drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The run succeeded within the RTO.
    Met,
    /// The run took longer than the RTO, or did not recover at all (failed or interrupted).
    Missed,
    /// The runbook declares no `rto`.
    NoTarget,
}

impl Verdict {
    /// Judges a drill: `ok` is whether the run succeeded.
    pub fn judge(ok: bool, duration: Duration, rto: Option<Duration>) -> Verdict {
        match rto {
            None => Verdict::NoTarget,
            Some(rto) if ok && duration <= rto => Verdict::Met,
            Some(_) => Verdict::Missed,
        }
    }

    /// `met`, `missed` or `no-target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::NoTarget => "no-target",
        }
    }
}

/// One step of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillStep {
    /// The step's name.
    pub name: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
}

/// One line of the drill log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    /// The run id (also the journal's file name).
    pub run_id: String,
    /// Who ran the drill.
    pub operator: String,
    /// The host it ran on.
    pub host: String,
    /// When it started, RFC 3339 UTC.
    pub started: String,
    /// When it ended, RFC 3339 UTC.
    pub finished: String,
    /// The runbook, relative to the project root, with `/` separators.
    pub runbook: String,
    /// The runbook's title.
    pub title: String,
    /// SHA-256 of the script text that ran.
    pub script_sha256: String,
    /// Parameters as resolved (secret ones as `***`).
    pub params: Map<String, Value>,
    /// `ok`, `failed` or `interrupted`.
    pub status: String,
    /// The exit code of the drill.
    pub exit_code: i32,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
    /// The runbook's RTO, as written (`2h`), if it declares one.
    #[serde(default)]
    pub rto: Option<String>,
    /// The RTO verdict.
    pub verdict: Verdict,
    /// Every step that ended, in order.
    pub steps: Vec<DrillStep>,
    /// The step that failed, if one did.
    #[serde(default)]
    pub failed_step: Option<String>,
    /// The error, for a failed drill (redacted).
    #[serde(default)]
    pub error: Option<String>,
    /// Gaps and improvements noted by the operator.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The evidence folder, relative to the project root, with `/` separators.
    #[serde(default)]
    pub evidence: Option<String>,
    /// Version of `runbook` that ran the drill.
    pub tool_version: String,
}

impl DrillRecord {
    /// The record as one redacted JSON line (no newline).
    pub fn to_line(&self, redactor: &Redactor) -> String {
        redactor.redact(&serde_json::to_string(self).expect("records serialize"))
    }

    /// The record as redacted, indented JSON.
    pub fn to_pretty(&self, redactor: &Redactor) -> String {
        redactor.redact(&serde_json::to_string_pretty(self).expect("records serialize"))
    }

    /// The date the drill started (`YYYY-MM-DD`).
    pub fn date(&self) -> &str {
        self.started.get(..10).unwrap_or(&self.started)
    }
}

/// Appends a record to the drill log, creating the file and its folder if needed.
pub fn append(log: &Path, record: &DrillRecord, redactor: &Redactor) -> Result<()> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::io(format!("opening drill log {}", log.display()), e))?;
    file.write_all(format!("{}\n", record.to_line(redactor)).as_bytes())
        .and_then(|_| file.flush())
        .map_err(|e| Error::io(format!("writing drill log {}", log.display()), e))
}

/// Reads the drill log; a missing log is empty. A line that does not parse is an error naming
/// the line, so a hand edit that broke the log is noticed.
pub fn read_log(log: &Path) -> Result<Vec<DrillRecord>> {
    let text = match std::fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading drill log {}", log.display()), e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                Error::usage(format!(
                    "drill log {} line {}: not a drill record ({e})",
                    log.display(),
                    i + 1
                ))
                .with_hint(
                    "fix or remove that line; each line is one JSON record from `runbook drill`",
                )
            })
        })
        .collect()
}

/// `path` relative to `root` with `/` separators (the same on every OS), or as given when it is
/// not below `root`.
pub fn portable_path(path: &Path, root: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let rel = abs.strip_prefix(&root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .filter(|c| c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let s = Duration::from_secs;
        assert_eq!(Verdict::judge(true, s(10), Some(s(60))), Verdict::Met);
        assert_eq!(Verdict::judge(true, s(61), Some(s(60))), Verdict::Missed);
        assert_eq!(Verdict::judge(false, s(1), Some(s(60))), Verdict::Missed);
        assert_eq!(Verdict::judge(true, s(1), None), Verdict::NoTarget);
        assert_eq!(
            serde_json::to_string(&Verdict::NoTarget).unwrap(),
            "\"no-target\""
        );
    }

    #[test]
    fn portable_paths_use_slashes() {
        let root = Path::new("/srv/ops");
        assert_eq!(
            portable_path(&root.join("runbooks").join("a.rhai"), root),
            "runbooks/a.rhai"
        );
    }
}
