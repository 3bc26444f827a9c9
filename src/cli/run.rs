//! `runbook run`: read metadata and parameters, take the lock, open the journal, run the script
//! through the engine, print the plan (dry-run), and map the outcome to an exit code.
//!
//! [`execute`] is shared with `runbook drill`, which is a live run plus a drill record: it
//! returns a [`RunOutcome`] with everything the record needs.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{param_map, print_error, RunArgs};
use crate::config::Project;
use crate::context::events::{now_rfc3339, Event, RunStatus};
use crate::context::gate::{Confirmation, Mode};
use crate::context::journal::{journal_path, JournalRecord};
use crate::context::lock::{Holder, RunLock};
use crate::context::output::{OutputMode, Reporter};
use crate::context::secrets::{Redactor, SecretStore};
use crate::context::{ParamValue, RunContext, RunSetup};
use crate::engine::metadata::{format_duration, resolve_params, RunbookMeta};
use crate::engine::{self, Script};
use crate::error::{Error, ErrorKind, Result};

/// Runs a runbook and returns the exit code.
pub fn run(args: RunArgs) -> i32 {
    let redactor = Redactor::default();
    let reporter = Reporter::new(OutputMode::detect(args.json), redactor.clone());
    match execute(&args, redactor.clone(), reporter) {
        Ok(outcome) => outcome.code,
        Err(e) => {
            print_error(&e, &redactor);
            e.exit_code()
        }
    }
}

/// What a run that started left behind: its result and what a drill record needs.
pub struct RunOutcome {
    /// The exit code of the run.
    pub code: i32,
    /// How it ended.
    pub status: RunStatus,
    /// The error, for a run that did not succeed.
    pub error: Option<Error>,
    /// The run id.
    pub run_id: String,
    /// The runbook.
    pub script: Script,
    /// Its project.
    pub project: Project,
    /// Its metadata.
    pub meta: RunbookMeta,
    /// Parameters as resolved, secret ones masked.
    pub params: serde_json::Map<String, Value>,
    /// Steps that ended, in order.
    pub steps: Vec<crate::context::StepTiming>,
    /// The step that failed, if one did.
    pub failed_step: Option<String>,
    /// Wall-clock duration.
    pub duration: Duration,
    /// Start and end, RFC 3339 UTC.
    pub started: String,
    /// When the run ended.
    pub finished: String,
    /// The journal file (live runs).
    pub journal: Option<std::path::PathBuf>,
    /// The host name.
    pub host: String,
}

/// What is known before the script starts.
struct Preflight {
    script: Script,
    project: Project,
    meta: RunbookMeta,
    /// Taken by the run context when the run starts.
    secrets: Option<SecretStore>,
    params: BTreeMap<String, ParamValue>,
    run_id: String,
    resume: Option<JournalRecord>,
}

fn preflight(args: &RunArgs, redactor: Redactor) -> Result<Preflight> {
    let script = Script::load(&args.file)?;
    let project = Project::discover(&args.file)?;
    let (env_file, required) = match &args.env_file {
        Some(path) => (path.clone(), true),
        None => (project.root.join(".env"), false),
    };
    let secrets = SecretStore::load(Some(&env_file), required, redactor)?;
    let meta = engine::read_metadata(&script, &project)?;
    let mut given = param_map(&args.params);

    let (run_id, resume) = match &args.resume {
        None => (new_run_id(&script), None),
        Some(run_id) => {
            if args.dry_run {
                return Err(Error::usage("--resume cannot be combined with --dry-run"));
            }
            let record = JournalRecord::read(&journal_path(&project.journal_dir(), run_id))?;
            if record.completed {
                return Err(Error::usage(format!(
                    "run {run_id} finished successfully; there is nothing to resume"
                )));
            }
            if record.script_sha256 != script.sha256 && !args.force {
                return Err(Error::usage(format!(
                    "{} changed since run {run_id} started; resuming could skip steps that now do something else",
                    script.name
                ))
                .with_hint("start a new run, or pass --force to resume anyway"));
            }
            for (name, value) in &record.params {
                if given.contains_key(name) || meta.param(name).is_none() {
                    continue;
                }
                let secret = meta.param(name).is_some_and(|p| p.secret);
                if secret {
                    return Err(Error::usage(format!(
                        "parameter `{name}` is secret and was not recorded; pass --param {name}=... again"
                    )));
                }
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                given.insert(name.clone(), text);
            }
            (run_id.clone(), Some(record))
        }
    };
    let params = resolve_params(&meta, &given, &secrets)?;
    Ok(Preflight {
        script,
        project,
        meta,
        secrets: Some(secrets),
        params,
        run_id,
        resume,
    })
}

fn new_run_id(script: &Script) -> String {
    let stem = script
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    let mut random = [0u8; 2];
    getrandom::fill(&mut random).expect("the OS provides randomness");
    format!(
        "{}-{stem}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        hex::encode(random)
    )
}

/// The lock name for a runbook: its file stem plus a hash of its absolute path.
fn lock_name(script: &Script) -> String {
    use sha2::{Digest, Sha256};
    let abs = std::path::absolute(&script.path).unwrap_or_else(|_| script.path.clone());
    let digest = hex::encode(Sha256::digest(abs.to_string_lossy().as_bytes()));
    let stem = script
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    format!("{stem}-{}", &digest[..8])
}

fn params_json(params: &BTreeMap<String, ParamValue>) -> serde_json::Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| {
            let value = match v {
                ParamValue::Plain(value) => value.clone(),
                ParamValue::Secret(_) => Value::String(crate::context::secrets::MASK.into()),
            };
            (k.clone(), value)
        })
        .collect()
}

/// Runs a runbook as `args` say. Errors before the script starts (bad arguments, metadata,
/// lock held) are returned; once it started, the outcome says how it went (its error already
/// printed).
pub fn execute(args: &RunArgs, redactor: Redactor, reporter: Reporter) -> Result<RunOutcome> {
    let mut pre = preflight(args, redactor.clone())?;
    let started = now_rfc3339();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Live
    };
    let confirmation = if args.yes {
        Confirmation::AssumeYes
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Confirmation::Ask
    } else {
        Confirmation::Refuse
    };

    let lock = if mode == Mode::Live {
        let holder = Holder {
            pid: std::process::id(),
            host: hostname(),
            run_id: pre.run_id.clone(),
            started: now_rfc3339(),
        };
        let lock = RunLock::acquire(
            &pre.project.lock_dir(),
            &lock_name(&pre.script),
            &holder,
            args.lock_wait.unwrap_or(Duration::ZERO),
        )?;
        if let Some(stale) = &lock.replaced_stale {
            reporter.error_line(&format!(
                "note: an earlier run (pid {} on {}, run {}) ended without releasing its lock; taking it over",
                stale.pid, stale.host, stale.run_id
            ));
        }
        Some(lock)
    } else {
        None
    };

    let interrupt = install_interrupt_handler();
    let resumed = pre.resume.is_some();
    let context = Rc::new(RunContext::new(RunSetup {
        mode,
        confirmation,
        reporter: reporter.clone(),
        redactor: redactor.clone(),
        secrets: pre.secrets.take().expect("taken once"),
        interrupt,
        workdir: pre.project.root.clone(),
        run_id: pre.run_id.clone(),
        params: pre.params.clone(),
        resume: pre.resume.take(),
    }));
    let journal = if mode == Mode::Live {
        Some(context.open_journal(&pre.project.journal_dir())?)
    } else {
        None
    };
    context.emit(Event::RunStart {
        run_id: pre.run_id.clone(),
        time: now_rfc3339(),
        runbook: pre.script.name.clone(),
        title: pre.meta.title.clone(),
        rto: pre.meta.rto.map(format_duration),
        script_sha256: pre.script.sha256.clone(),
        params: params_json(&pre.params),
        mode: mode.as_str().to_string(),
        host: hostname(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        resumed,
    });

    let prepared = engine::prepare(&pre.script, &pre.project, context.clone());
    let outcome = prepared
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|p| p.run());
    if let Ok(prepared) = &prepared {
        run_hooks(prepared, &pre, &context, &outcome);
    }

    let (status, code, error) = match &outcome {
        Ok(()) => (RunStatus::Ok, 0, None),
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            (RunStatus::Interrupted, e.exit_code(), Some(e.to_string()))
        }
        Err(e) => (RunStatus::Failed, e.exit_code(), Some(e.to_string())),
    };
    let duration = context.elapsed();
    let finished = now_rfc3339();
    context.emit(Event::RunEnd {
        time: finished.clone(),
        status,
        exit_code: code,
        duration_ms: duration.as_millis() as u64,
        error,
        failed_step: context.failed_step(),
    });
    drop(lock);

    if mode == Mode::DryRun && reporter.mode() != OutputMode::Json {
        print_plan(&context);
    }
    if let Err(e) = &outcome {
        print_error(e, &redactor);
        if mode == Mode::Live && e.kind() != ErrorKind::Interrupted {
            print_contacts(&reporter, &pre.meta);
        }
        if let Some(path) = &journal {
            if e.kind() != ErrorKind::Usage || context.failed_step().is_some() {
                reporter.error_line(&format!(
                    "journal: {}\nto continue after fixing the cause: runbook run {} --resume {}",
                    path.display(),
                    pre.script.name,
                    pre.run_id
                ));
            }
        }
    }
    Ok(RunOutcome {
        code,
        status,
        error: outcome.err(),
        run_id: pre.run_id.clone(),
        params: params_json(&pre.params),
        steps: context.timings(),
        failed_step: context.failed_step(),
        duration,
        started,
        finished,
        journal,
        host: hostname(),
        script: pre.script,
        project: pre.project,
        meta: pre.meta,
    })
}

/// Runs `on_success` / `on_failure` hooks (not after Ctrl-C); their failures are warnings.
fn run_hooks(
    prepared: &engine::Prepared,
    pre: &Preflight,
    context: &RunContext,
    outcome: &Result<()>,
) {
    let status = match outcome {
        Ok(()) => "ok",
        Err(e) if e.kind() == ErrorKind::Interrupted => return,
        Err(_) => "failed",
    };
    let summary = engine::RunSummary {
        runbook: pre.script.name.clone(),
        title: pre.meta.title.clone(),
        run_id: pre.run_id.clone(),
        status: status.to_string(),
        failed_step: context.failed_step(),
        error: outcome
            .as_ref()
            .err()
            .map(|e| e.message().lines().next().unwrap_or_default().to_string()),
        duration_ms: context.elapsed().as_millis() as u64,
        steps: context.timings(),
        contacts: pre.meta.contacts.clone(),
        escalation: pre.meta.escalation.clone(),
    };
    let which = if status == "ok" {
        "on_success"
    } else {
        "on_failure"
    };
    for failure in prepared.run_hooks(&summary) {
        context.log("warn", &format!("an {which} hook failed: {failure}"));
    }
}

/// Who to reach, printed when a live run fails.
fn print_contacts(reporter: &Reporter, meta: &RunbookMeta) {
    if meta.contacts.is_empty() && meta.escalation.is_empty() {
        return;
    }
    let mut lines = vec!["Contacts:".to_string()];
    for c in &meta.contacts {
        lines.push(format!("  {}: {} — {}", c.role, c.name, c.reach));
    }
    if !meta.escalation.is_empty() {
        lines.push("Escalation:".to_string());
        for (i, e) in meta.escalation.iter().enumerate() {
            lines.push(format!("  {}. {e}", i + 1));
        }
    }
    reporter.error_line(&lines.join("\n"));
}

fn print_plan(context: &RunContext) {
    let plan = context.plan();
    let reporter = context.reporter();
    if plan.is_empty() {
        reporter.line("Plan (dry-run): nothing would be changed.");
        return;
    }
    reporter.line(&format!(
        "Plan (dry-run; nothing was changed): {} action(s) would run",
        plan.len()
    ));
    for item in plan {
        let step = item
            .step
            .map(|s| format!(", step \"{s}\""))
            .unwrap_or_default();
        reporter.line(&format!(
            "  {}. {}  [{}{step}]",
            item.index,
            item.action,
            item.effect.as_str()
        ));
    }
}

/// This machine's name.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().to_string()
}

/// Ctrl-C sets the returned flag; the script and long primitives stop at their next check.
/// A second Ctrl-C exits at once.
fn install_interrupt_handler() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    flag
}
