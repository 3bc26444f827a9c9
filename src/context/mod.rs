//! The run context: everything a run carries besides the script itself — its mode and the
//! effect gate, the journal, secrets and redaction, output, parameters, steps, and the cancel
//! flag and step deadlines.
//!
//! One `RunContext` exists per run. Bindings reach it through the engine's tag; host primitives
//! receive what they need from it (never the context's Rhai side, which it does not have).

pub mod control;
pub mod events;
pub mod gate;
pub mod journal;
pub mod lock;
pub mod output;
pub mod secrets;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use events::{now_rfc3339, Event, StepStatus};
use gate::{Confirmation, Effect, Mode, PlanItem};
use journal::{Journal, JournalRecord};
use output::Reporter;
use secrets::{Redactor, Secret, SecretStore};

/// A resolved parameter value.
#[derive(Debug, Clone)]
pub enum ParamValue {
    /// An ordinary value.
    Plain(Value),
    /// A parameter declared `secret: true`.
    Secret(Secret),
}

/// Everything needed to set up a run's context.
pub struct RunSetup {
    /// Live or dry-run.
    pub mode: Mode,
    /// How confirmations are answered.
    pub confirmation: Confirmation,
    /// Where output goes.
    pub reporter: Reporter,
    /// Shared with the reporter and journal.
    pub redactor: Redactor,
    /// `env()` / `secret()` sources.
    pub secrets: SecretStore,
    /// Set by Ctrl-C.
    pub interrupt: Arc<AtomicBool>,
    /// Files the script writes must stay inside this folder.
    pub workdir: PathBuf,
    /// The run id.
    pub run_id: String,
    /// Resolved parameters.
    pub params: BTreeMap<String, ParamValue>,
    /// The journal of the run being resumed, if any.
    pub resume: Option<JournalRecord>,
}

/// A step that is running.
#[derive(Debug)]
pub struct ActiveStep {
    key: String,
    name: String,
    started: Instant,
    deadline: Option<(Instant, Duration)>,
}

/// How a step began: run it, or reuse what an earlier attempt recorded.
pub enum StepStart {
    /// Run the step's body, then call [`RunContext::end_step`].
    Run,
    /// The step finished in the run being resumed; this is its recorded output.
    Resumed(Value),
    /// An offline plan run: the step was recorded in the outline; do not run its body.
    Outlined,
}

/// How a step is declared: its options besides the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSpec {
    /// The step fails when it runs longer.
    pub timeout: Option<Duration>,
    /// What to do by hand when the automated step fails (shown on failure and in the playbook).
    pub fallback: Option<String>,
    /// An instruction for the operator, shown when the step starts (for actions that have no
    /// API, such as a dashboard setting).
    pub manual: Option<String>,
}

/// A step seen by an offline plan run ([`gate::Mode::Plan`]): its body was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlinedStep {
    /// 1-based position in the procedure.
    pub index: usize,
    /// The step's name.
    pub name: String,
    /// Its options.
    pub spec: StepSpec,
}

/// Timing of a finished step, for reports.
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// The step's name.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// How long it took.
    pub duration: Duration,
}

#[derive(Default)]
struct RunState {
    steps: Vec<ActiveStep>,
    occurrences: HashMap<String, usize>,
    plan: Vec<PlanItem>,
    failed_step: Option<String>,
    timings: Vec<StepTiming>,
    journal_failed: bool,
    outline: Vec<OutlinedStep>,
}

/// The state of one run, shared by the engine and every binding.
pub struct RunContext {
    mode: Mode,
    confirmation: Confirmation,
    reporter: Reporter,
    redactor: Redactor,
    secrets: SecretStore,
    interrupt: Arc<AtomicBool>,
    workdir: PathBuf,
    run_id: String,
    params: BTreeMap<String, ParamValue>,
    resume: Option<JournalRecord>,
    journal: Mutex<Option<Journal>>,
    state: RefCell<RunState>,
    started: Instant,
    declared: std::cell::Cell<bool>,
    planned_files: RefCell<HashMap<PathBuf, Option<String>>>,
}

impl RunContext {
    /// A context for a run.
    pub fn new(setup: RunSetup) -> Self {
        RunContext {
            mode: setup.mode,
            confirmation: setup.confirmation,
            reporter: setup.reporter,
            redactor: setup.redactor,
            secrets: setup.secrets,
            interrupt: setup.interrupt,
            workdir: setup.workdir,
            run_id: setup.run_id,
            params: setup.params,
            resume: setup.resume,
            journal: Mutex::new(None),
            state: RefCell::new(RunState::default()),
            started: Instant::now(),
            declared: std::cell::Cell::new(false),
            planned_files: RefCell::new(HashMap::new()),
        }
    }

    /// A context that runs nothing for real: a dry-run with hidden output, no environment file
    /// and no parameters. Used to build engines for `runbook api` and static checks.
    pub fn offline() -> Self {
        let redactor = Redactor::default();
        RunContext::new(RunSetup {
            mode: Mode::DryRun,
            confirmation: Confirmation::Refuse,
            reporter: Reporter::new(output::OutputMode::Plain, redactor.clone()),
            secrets: SecretStore::load(None, false, redactor.clone()).expect("no env file to read"),
            redactor,
            interrupt: Arc::new(AtomicBool::new(false)),
            workdir: std::env::temp_dir(),
            run_id: "offline".into(),
            params: BTreeMap::new(),
            resume: None,
        })
    }

    /// A context for an offline plan run (`runbook doc`): nothing touches the world, output is
    /// hidden, `env()` / `secret()` give placeholders, and `params` are the declared defaults.
    pub fn offline_plan(workdir: PathBuf, params: BTreeMap<String, ParamValue>) -> Self {
        let redactor = Redactor::default();
        RunContext::new(RunSetup {
            mode: Mode::Plan,
            confirmation: Confirmation::Refuse,
            reporter: Reporter::new(output::OutputMode::Plain, redactor.clone()),
            secrets: SecretStore::placeholders(redactor.clone()),
            redactor,
            interrupt: Arc::new(AtomicBool::new(false)),
            workdir,
            run_id: "plan".into(),
            params,
            resume: None,
        })
    }

    /// The steps an offline plan run recorded, in order.
    pub fn outline(&self) -> Vec<OutlinedStep> {
        self.state.borrow().outline.clone()
    }

    /// Starts writing the journal (live runs only).
    pub fn open_journal(&self, dir: &Path) -> Result<PathBuf> {
        let journal = Journal::open(dir, &self.run_id, self.redactor.clone())?;
        let path = journal.path().to_path_buf();
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(journal);
        Ok(path)
    }

    /// Dry-run bookkeeping: a planned write (`Some(text)`) or removal (`None`) of a file, so
    /// later reads in the same dry-run see what the plan would have left there.
    pub fn plan_file(&self, path: &Path, content: Option<String>) {
        self.planned_files
            .borrow_mut()
            .insert(path.to_path_buf(), content);
    }

    /// What the plan so far would have left at `path`, if it touched it.
    pub fn planned_file(&self, path: &Path) -> Option<Option<String>> {
        self.planned_files.borrow().get(path).cloned()
    }

    /// Marks `runbook(...)` as called; `false` if it already was.
    pub fn declare_runbook(&self) -> bool {
        !self.declared.replace(true)
    }

    /// Live or dry-run.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The output.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// The redactor (to mask text the tool prints outside events).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// `env()` / `secret()` sources.
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// The folder script-written files are confined to.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A resolved parameter.
    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.params.get(name)
    }

    /// Records an event in the journal and shows it (an offline plan run shows nothing).
    pub fn emit(&self, event: Event) {
        if self.mode == Mode::Plan {
            return;
        }
        let failed = {
            let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            match journal.as_mut() {
                Some(j) => j.append(&event).err(),
                None => None,
            }
        };
        if let Some(err) = failed {
            let first = !std::mem::replace(&mut self.state.borrow_mut().journal_failed, true);
            if first {
                self.reporter
                    .error_line(&format!("warning: the journal could not be written: {err}"));
            }
        }
        self.reporter.show(&event);
    }

    /// Logs a message (`level` is `info` or `warn`).
    pub fn log(&self, level: &str, message: &str) {
        let step = self.current_step_name();
        self.emit(Event::Log {
            time: now_rfc3339(),
            level: level.to_string(),
            message: message.to_string(),
            step,
        });
    }

    fn current_step_name(&self) -> Option<String> {
        self.state.borrow().steps.last().map(|s| s.name.clone())
    }

    /// The name of the step that failed, if any.
    pub fn failed_step(&self) -> Option<String> {
        self.state.borrow().failed_step.clone()
    }

    /// Timings of the steps that ended so far.
    pub fn timings(&self) -> Vec<StepTiming> {
        self.state.borrow().timings.clone()
    }

    /// The dry-run plan so far.
    pub fn plan(&self) -> Vec<PlanItem> {
        self.state.borrow().plan.clone()
    }

    /// Begins a step. A resumed run returns the recorded output of a step that finished before;
    /// an offline plan run records the step in the outline and runs nothing.
    pub fn begin_step(&self, name: &str, spec: &StepSpec) -> Result<StepStart> {
        self.checkpoint()?;
        if self.mode == Mode::Plan {
            let mut st = self.state.borrow_mut();
            let index = st.outline.len() + 1;
            st.outline.push(OutlinedStep {
                index,
                name: name.to_string(),
                spec: spec.clone(),
            });
            return Ok(StepStart::Outlined);
        }
        let timeout = spec.timeout;
        let key = {
            let mut st = self.state.borrow_mut();
            let n = st.occurrences.entry(name.to_string()).or_insert(0);
            *n += 1;
            format!("{name}#{n}")
        };
        if let Some(output) = self.resume.as_ref().and_then(|r| r.finished.get(&key)) {
            let output = output.clone();
            self.emit(Event::StepStart {
                key: key.clone(),
                step: name.to_string(),
                time: now_rfc3339(),
            });
            self.state.borrow_mut().steps.push(ActiveStep {
                key: key.clone(),
                name: name.to_string(),
                started: Instant::now(),
                deadline: None,
            });
            self.end_step(StepStatus::Skipped, Some(output.clone()), true, None);
            return Ok(StepStart::Resumed(output));
        }
        self.emit(Event::StepStart {
            key: key.clone(),
            step: name.to_string(),
            time: now_rfc3339(),
        });
        self.state.borrow_mut().steps.push(ActiveStep {
            key,
            name: name.to_string(),
            started: Instant::now(),
            deadline: timeout.map(|t| (Instant::now() + t, t)),
        });
        if let Some(manual) = &spec.manual {
            self.log("info", &format!("manual: {manual}"));
        }
        Ok(StepStart::Run)
    }

    /// Ends the innermost step.
    pub fn end_step(
        &self,
        status: StepStatus,
        output: Option<Value>,
        resumable: bool,
        error: Option<String>,
    ) {
        let Some(step) = self.state.borrow_mut().steps.pop() else {
            return;
        };
        let duration = step.started.elapsed();
        {
            let mut st = self.state.borrow_mut();
            if status == StepStatus::Failed && st.failed_step.is_none() {
                st.failed_step = Some(step.name.clone());
            }
            st.timings.push(StepTiming {
                name: step.name.clone(),
                status,
                duration,
            });
        }
        self.emit(Event::StepEnd {
            key: step.key,
            step: step.name,
            time: now_rfc3339(),
            status,
            duration_ms: duration.as_millis() as u64,
            output,
            resumable,
            error,
        });
    }

    /// Fails with the reason the run must stop now: Ctrl-C, or a step's timeout passed.
    /// Long host primitives call this between chunks of work.
    pub fn checkpoint(&self) -> Result<()> {
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Error::interrupted());
        }
        let st = self.state.borrow();
        let now = Instant::now();
        for step in &st.steps {
            if let Some((deadline, limit)) = step.deadline {
                if now >= deadline {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "step \"{}\" timed out after {}",
                            step.name,
                            humantime::format_duration(limit)
                        ),
                    )
                    .with_hint("raise the step's `timeout`, or find out what it waits for"));
                }
            }
        }
        Ok(())
    }

    /// What long host primitives need: stop signals (interrupt, the tightest step deadline)
    /// and progress output, in a form that can cross threads.
    pub fn control(&self) -> control::Control {
        let st = self.state.borrow();
        let deadline = st
            .steps
            .iter()
            .filter_map(|s| s.deadline.map(|(at, limit)| (at, limit, s.name.clone())))
            .min_by_key(|(at, _, _)| *at);
        control::Control::new(self.interrupt.clone(), deadline, self.reporter.clone())
    }

    /// Sleeps, waking early (with an error) for Ctrl-C or a step timeout. An offline plan run
    /// does not wait.
    pub fn sleep(&self, duration: Duration) -> Result<()> {
        if self.mode == Mode::Plan {
            return Ok(());
        }
        let end = Instant::now() + duration;
        loop {
            self.checkpoint()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }

    /// Passes an action through the effect gate. `action` says what it does ("write 12 bytes
    /// to out/a.txt"); `simulate` gives the dry-run's stand-in result of the same shape;
    /// `perform` does it.
    pub fn effect<T>(
        &self,
        effect: Effect,
        action: &str,
        simulate: impl FnOnce() -> T,
        perform: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.checkpoint()?;
        match (self.mode, effect) {
            (Mode::Plan, _) => Ok(simulate()),
            (_, Effect::Read) | (Mode::Live, Effect::Write) => perform(),
            (Mode::DryRun, _) => {
                self.record_plan(effect, action);
                Ok(simulate())
            }
            (Mode::Live, Effect::Destructive) => {
                if self.confirm(&format!("About to {action}. Proceed?"))? {
                    perform()
                } else {
                    Err(
                        Error::failed(format!("stopped: \"{action}\" was not confirmed"))
                            .with_hint("nothing was changed by this action; re-run when ready"),
                    )
                }
            }
        }
    }

    fn record_plan(&self, effect: Effect, action: &str) {
        let step = self.current_step_name();
        let index = {
            let mut st = self.state.borrow_mut();
            let index = st.plan.len() + 1;
            st.plan.push(PlanItem {
                index,
                effect,
                step: step.clone(),
                action: action.to_string(),
            });
            index
        };
        self.emit(Event::Plan {
            index,
            effect: effect.as_str().to_string(),
            step,
            action: action.to_string(),
        });
    }

    /// Asks for confirmation. A dry-run records the question and answers yes; a live run
    /// answers yes with `--yes`, asks on a terminal, and otherwise stops with an error.
    pub fn confirm(&self, question: &str) -> Result<bool> {
        match (self.mode, self.confirmation) {
            (Mode::Plan, _) => Ok(true),
            (Mode::DryRun, _) => {
                self.record_plan(Effect::Write, &format!("ask: {question}"));
                Ok(true)
            }
            (Mode::Live, Confirmation::AssumeYes) => {
                self.log("info", &format!("confirmed by --yes: {question}"));
                Ok(true)
            }
            (Mode::Live, Confirmation::Ask) => Ok(self.reporter.ask(question)),
            (Mode::Live, Confirmation::Refuse) => Err(Error::usage(format!(
                "confirmation needed but there is no terminal to ask on: {question}"
            ))
            .with_hint(
                "review the plan with `runbook run --dry-run FILE`, then re-run with --yes",
            )),
        }
    }
}
