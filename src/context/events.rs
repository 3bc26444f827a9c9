//! The events a run produces. One vocabulary feeds three sinks: the journal
//! (`.runbook/runs/<run-id>.jsonl`), `--json` output (NDJSON on stdout), and the human view.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Outcome of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The step finished.
    Ok,
    /// The step failed (its error is recorded).
    Failed,
    /// The step was skipped because a resumed run had finished it before.
    Skipped,
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step finished.
    Ok,
    /// The run stopped with an error.
    Failed,
    /// The run was interrupted (Ctrl-C).
    Interrupted,
}

/// One event of a run, as written to the journal and to `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    RunStart {
        /// Run id (also the journal file name).
        run_id: String,
        /// RFC 3339 time.
        time: String,
        /// The runbook file as given.
        runbook: String,
        /// The runbook's title from its metadata.
        #[serde(default)]
        title: String,
        /// The runbook's recovery time objective, e.g. `2h`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rto: Option<String>,
        /// SHA-256 of the script text, to refuse resuming a changed script.
        script_sha256: String,
        /// Parameters as resolved (secret ones masked).
        #[serde(default)]
        params: Map<String, Value>,
        /// `live` or `dry-run`.
        mode: String,
        /// Host name.
        host: String,
        /// Version of this tool.
        tool_version: String,
        /// Whether this continues an earlier, unfinished run.
        #[serde(default)]
        resumed: bool,
    },
    /// A step began.
    StepStart {
        /// Unique key of this step within the run (`name#occurrence`).
        key: String,
        /// The step's name.
        step: String,
        /// RFC 3339 time.
        time: String,
    },
    /// A step ended.
    StepEnd {
        /// Unique key of this step within the run.
        key: String,
        /// The step's name.
        step: String,
        /// RFC 3339 time.
        time: String,
        /// How it ended.
        status: StepStatus,
        /// Wall-clock duration in milliseconds.
        duration_ms: u64,
        /// The step's return value, when it could be recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        /// Whether a resumed run may reuse `output` instead of running the step again.
        #[serde(default)]
        resumable: bool,
        /// The error, for a failed step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A log line from the script or a primitive.
    Log {
        /// RFC 3339 time.
        time: String,
        /// `info` or `warn`.
        level: String,
        /// The message.
        message: String,
        /// The step it was logged in, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    /// A write or destructive action that a dry-run did not perform.
    Plan {
        /// 1-based position in the plan.
        index: usize,
        /// `write` or `destructive`.
        effect: String,
        /// The step it belongs to, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// What would happen.
        action: String,
    },
    /// Progress of a long transfer.
    Progress {
        /// What is being transferred.
        label: String,
        /// Bytes done.
        done: u64,
        /// Bytes in all, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    /// The run ended.
    RunEnd {
        /// RFC 3339 time.
        time: String,
        /// How it ended.
        status: RunStatus,
        /// The process exit code.
        exit_code: i32,
        /// Wall-clock duration in milliseconds.
        duration_ms: u64,
        /// The error, for a failed run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The step that failed, if one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_step: Option<String>,
    },
}

/// The current time as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
