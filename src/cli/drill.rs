//! `runbook drill`: a live run (the same machinery as `runbook run`) that also records a drill:
//! the record is appended to the drill log and an evidence folder is written (journal copy,
//! report, record, checksums), and a playbook already at its default place is regenerated. A
//! drill whose run succeeded but missed the RTO exits 3.

use std::io::{BufRead, IsTerminal, Write};

use super::run::{execute, RunOutcome};
use super::{print_error, DrillArgs, RunArgs};
use crate::context::events::RunStatus;
use crate::context::output::{format_duration_ms, OutputMode, Reporter};
use crate::context::secrets::Redactor;
use crate::error::{ErrorKind, Result};
use crate::report::drill::{self, portable_path, DrillRecord, DrillStep, Verdict};
use crate::report::evidence;

/// Runs a drill and returns the exit code.
pub fn drill(args: DrillArgs) -> i32 {
    let redactor = Redactor::default();
    let reporter = Reporter::new(OutputMode::detect(args.json), redactor.clone());
    let run_args = RunArgs {
        file: args.file.clone(),
        dry_run: false,
        params: args.params.clone(),
        yes: args.yes,
        json: args.json,
        env_file: args.env_file.clone(),
        resume: None,
        force: false,
        lock_wait: args.lock_wait,
    };
    let outcome = match execute(&run_args, redactor.clone(), reporter.clone()) {
        Ok(outcome) => outcome,
        Err(e) => {
            print_error(&e, &redactor);
            return e.exit_code();
        }
    };
    match record(&args, &outcome, &redactor, &reporter) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            print_error(&e.context("the drill ran, but its record"), &redactor);
            // The run's own failure matters more than the record's.
            if outcome.code != 0 {
                outcome.code
            } else {
                code
            }
        }
    }
}

/// The operator: `--operator`, else `USER` / `USERNAME` from the environment.
fn operator(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Notes from `--note`, or asked for on a terminal; never waits without one.
fn notes(given: &[String], reporter: &Reporter) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Vec::new();
    }
    reporter.error_line(
        "Gaps and improvements noticed in this drill (one per line; an empty line ends):",
    );
    let mut notes = Vec::new();
    let stdin = std::io::stdin();
    loop {
        let _ = write!(std::io::stderr(), "> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => notes.push(line.trim().to_string()),
        }
    }
    notes
}

fn record(
    args: &DrillArgs,
    outcome: &RunOutcome,
    redactor: &Redactor,
    reporter: &Reporter,
) -> Result<i32> {
    let ok = outcome.status == RunStatus::Ok;
    let verdict = Verdict::judge(ok, outcome.duration, outcome.meta.rto);
    let code = if ok && verdict == Verdict::Missed {
        ErrorKind::TargetMissed.exit_code()
    } else {
        outcome.code
    };
    let root = &outcome.project.root;
    let runbook = portable_path(&outcome.script.path, root);
    let stem = outcome
        .script
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "runbook".into());
    let folder = evidence::new_folder(
        &outcome.project.evidence_dir(),
        outcome.started.get(..10).unwrap_or("undated"),
        &stem,
    );
    let mut record = DrillRecord {
        run_id: outcome.run_id.clone(),
        operator: operator(args.operator.as_deref()),
        host: outcome.host.clone(),
        started: outcome.started.clone(),
        finished: outcome.finished.clone(),
        runbook,
        title: outcome.meta.title.clone(),
        script_sha256: outcome.script.sha256.clone(),
        params: outcome.params.clone(),
        status: match outcome.status {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
        .into(),
        exit_code: code,
        duration_ms: outcome.duration.as_millis() as u64,
        rto: outcome
            .meta
            .rto
            .map(crate::engine::metadata::format_duration),
        verdict,
        steps: outcome
            .steps
            .iter()
            .map(|s| DrillStep {
                name: s.name.clone(),
                status: format!("{:?}", s.status).to_lowercase(),
                duration_ms: s.duration.as_millis() as u64,
            })
            .collect(),
        failed_step: outcome.failed_step.clone(),
        error: outcome.error.as_ref().map(|e| redactor.redact(e.message())),
        notes: Vec::new(),
        evidence: Some(portable_path(&folder, root)),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    record.notes = notes(&args.notes, reporter)
        .into_iter()
        .map(|n| redactor.redact(&n))
        .collect();
    let files = evidence::write(&folder, &record, outcome.journal.as_deref(), redactor)?;
    let log = outcome.project.drill_log();
    drill::append(&log, &record, redactor)?;

    let rto = record
        .rto
        .as_deref()
        .map(|r| format!(" (RTO {r})"))
        .unwrap_or_default();
    reporter.error_line(&format!(
        "drill recorded: {} in {}{rto}, verdict {}\n  drill log: {}\n  evidence:  {} ({})",
        record.status,
        format_duration_ms(record.duration_ms),
        record.verdict.as_str(),
        log.display(),
        folder.display(),
        files.join(", ")
    ));
    if code == ErrorKind::TargetMissed.exit_code() && ok {
        reporter.error_line(
            "error: the drill succeeded but took longer than the runbook's RTO\n  hint: look at the slowest steps in the report, and record what to improve with --note",
        );
    }
    match super::doc::refresh_after_drill(&outcome.project) {
        Ok(Some(path)) => reporter.error_line(&format!("  playbook:  {} (regenerated)", path.display())),
        Ok(None) => reporter.error_line("update the playbook: runbook doc"),
        Err(e) => reporter.error_line(&format!(
            "warning: the playbook could not be regenerated: {e}\n  run `runbook doc` once that is fixed"
        )),
    }
    Ok(code)
}
