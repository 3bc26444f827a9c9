//! [`Control`]: what a long-running host primitive needs from the run — whether to stop (Ctrl-C,
//! step deadline) and where to show progress. Unlike the run context it is `Send + Sync`, so it
//! can travel into worker threads and async tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::output::{OutputMode, Reporter, Transfer};
use crate::context::secrets::Redactor;
use crate::error::{Error, ErrorKind, Result};

/// Stop signals and progress output for host primitives.
#[derive(Clone)]
pub struct Control {
    interrupt: Arc<AtomicBool>,
    deadline: Option<(Instant, Duration, String)>,
    reporter: Reporter,
}

impl Control {
    /// A control with the run's interrupt flag, the innermost step deadline (step name and
    /// limit), and its reporter.
    pub fn new(
        interrupt: Arc<AtomicBool>,
        deadline: Option<(Instant, Duration, String)>,
        reporter: Reporter,
    ) -> Self {
        Control {
            interrupt,
            deadline,
            reporter,
        }
    }

    /// A control that never stops and shows nothing (tests, CLI helpers without a run).
    pub fn detached() -> Self {
        Control::new(
            Arc::new(AtomicBool::new(false)),
            None,
            Reporter::new(OutputMode::Plain, Redactor::default()),
        )
    }

    /// A control whose progress goes to `reporter`.
    pub fn with_reporter(reporter: Reporter) -> Self {
        Control::new(Arc::new(AtomicBool::new(false)), None, reporter)
    }

    /// Fails when the run must stop now.
    pub fn check(&self) -> Result<()> {
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(Error::interrupted());
        }
        if let Some((deadline, limit, step)) = &self.deadline {
            if Instant::now() >= *deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "step \"{step}\" timed out after {}",
                        humantime::format_duration(*limit)
                    ),
                )
                .with_hint("raise the step's `timeout`, or find out what it waits for"));
            }
        }
        Ok(())
    }

    /// Starts showing a byte transfer.
    pub fn transfer(&self, label: &str, total: Option<u64>) -> Transfer {
        self.reporter.transfer(label, total)
    }

    /// Logs an informational line (outside the journal; for progress notes).
    pub fn note(&self, text: &str) {
        if self.reporter.mode() != OutputMode::Json {
            self.reporter.line(&format!("  {text}"));
        }
    }
}
