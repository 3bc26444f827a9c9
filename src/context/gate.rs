//! The effect gate: the one place that decides whether an action runs.
//!
//! Every host primitive declares its [`Effect`] and goes through [`crate::context::RunContext::effect`]:
//!
//! | mode | Read | Write | Destructive |
//! |---|---|---|---|
//! | live | runs | runs | asks first (terminal), or `--yes`; no terminal and no `--yes` → stops |
//! | dry-run | runs | recorded in the plan, simulated value returned | recorded in the plan, simulated value returned |
//! | plan (offline, for `runbook doc`) | simulated | simulated | simulated |
//!
//! No primitive checks the mode itself.

use serde::Serialize;

/// What a primitive does to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Looks only: list, head, query, health check, API GET. Runs in dry-run too.
    Read,
    /// Creates something new: upload, snapshot, a file in a new place.
    Write,
    /// Overwrites or deletes: restore over data, prune, rebuild, delete.
    Destructive,
}

impl Effect {
    /// `read`, `write` or `destructive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Destructive => "destructive",
        }
    }
}

/// Whether the run changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything runs.
    Live,
    /// Reads run; writes and destructive actions are planned, not done.
    DryRun,
    /// Offline outline for documentation: nothing touches the world, not even reads. Steps are
    /// recorded without running their bodies; `env()` / `secret()` give placeholders.
    Plan,
}

impl Mode {
    /// `live` or `dry-run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::DryRun => "dry-run",
            Mode::Plan => "plan",
        }
    }
}

/// How confirmations are answered in a live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `--yes`: everything is confirmed.
    AssumeYes,
    /// Ask on the terminal.
    Ask,
    /// No terminal and no `--yes`: anything needing confirmation stops the run.
    Refuse,
}

/// A planned action of a dry-run.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    /// 1-based position.
    pub index: usize,
    /// Write or destructive.
    pub effect: Effect,
    /// The step it belongs to.
    pub step: Option<String>,
    /// What would happen, e.g. `write 12 bytes to out/a.txt`.
    pub action: String,
}
