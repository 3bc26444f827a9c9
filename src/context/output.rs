//! What a run shows: human lines (with indicatif spinners and bars on a terminal), plain lines
//! when output is not a terminal (cron, CI), or NDJSON events with `--json`.
//!
//! Everything passes through the redactor. Bars and spinners are suspended while a line is
//! printed or a question is asked, so they never tear the text. [`Transfer`] is the progress
//! abstraction byte-moving primitives use; it renders as a bar, as occasional plain lines, or
//! as `progress` events.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::context::events::{Event, RunStatus, StepStatus};
use crate::context::secrets::Redactor;

/// How output is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Lines for a person at a terminal, with spinners and progress bars.
    Human,
    /// Lines only: for logs, cron and CI.
    Plain,
    /// One JSON event per line on stdout.
    Json,
}

impl OutputMode {
    /// `Json` when asked for, else `Human` on a terminal and `Plain` otherwise.
    pub fn detect(json: bool) -> Self {
        if json {
            OutputMode::Json
        } else if std::io::stdout().is_terminal() {
            OutputMode::Human
        } else {
            OutputMode::Plain
        }
    }
}

struct State {
    depth: usize,
    spinners: Vec<ProgressBar>,
    run_started: Instant,
    rto: Option<Duration>,
}

struct Inner {
    mode: OutputMode,
    redactor: Redactor,
    multi: MultiProgress,
    state: Mutex<State>,
}

/// Renders events and messages for the chosen [`OutputMode`]. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

impl Reporter {
    /// A reporter writing in `mode`, masking what `redactor` knows.
    pub fn new(mode: OutputMode, redactor: Redactor) -> Self {
        let target = if mode == OutputMode::Human {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Reporter {
            inner: Arc::new(Inner {
                mode,
                redactor,
                multi: MultiProgress::with_draw_target(target),
                state: Mutex::new(State {
                    depth: 0,
                    spinners: Vec::new(),
                    run_started: Instant::now(),
                    rto: None,
                }),
            }),
        }
    }

    /// The output mode.
    pub fn mode(&self) -> OutputMode {
        self.inner.mode
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a line on stdout (masked), keeping bars intact.
    pub fn line(&self, text: &str) {
        let text = self.inner.redactor.redact(text);
        self.inner.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        });
    }

    /// Prints a line on stderr (masked), keeping bars intact.
    pub fn error_line(&self, text: &str) {
        let text = self.inner.redactor.redact(text);
        self.inner.multi.suspend(|| {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        });
    }

    /// Asks a yes/no question on the terminal; `true` only for an explicit yes.
    pub fn ask(&self, question: &str) -> bool {
        let question = self.inner.redactor.redact(question);
        self.inner.multi.suspend(|| {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "? {question} [y/N] ");
            let _ = err.flush();
            let mut answer = String::new();
            if std::io::stdin().lock().read_line(&mut answer).is_err() {
                return false;
            }
            matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
        })
    }

    /// Renders one event.
    pub fn show(&self, event: &Event) {
        if self.inner.mode == OutputMode::Json {
            let line = serde_json::to_string(event).expect("events always serialize");
            self.line(&line);
            return;
        }
        match event {
            Event::RunStart {
                run_id,
                runbook,
                title,
                rto,
                mode,
                resumed,
                ..
            } => {
                {
                    let mut st = self.state();
                    st.run_started = Instant::now();
                    st.rto = rto
                        .as_deref()
                        .and_then(|r| humantime::parse_duration(r).ok());
                }
                let what = if *resumed {
                    "resumed run"
                } else if mode == "live" {
                    "live run"
                } else {
                    "dry-run"
                };
                let name = if title.is_empty() { runbook } else { title };
                self.line(&format!("▶ {name} — {what} {run_id}"));
            }
            Event::StepStart { step, .. } => {
                let depth = {
                    let mut st = self.state();
                    st.depth += 1;
                    st.depth
                };
                let indent = "  ".repeat(depth - 1);
                if self.inner.mode == OutputMode::Human {
                    let bar = self.inner.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                            .expect("valid template"),
                    );
                    bar.set_message(format!("{indent}{}", self.inner.redactor.redact(step)));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    self.state().spinners.push(bar);
                } else {
                    self.line(&format!("{indent}→ {step}"));
                }
            }
            Event::StepEnd {
                step,
                status,
                duration_ms,
                output,
                error,
                ..
            } => {
                let (depth, spinner, clock) = {
                    let mut st = self.state();
                    let depth = st.depth.max(1);
                    st.depth = depth - 1;
                    (depth, st.spinners.pop(), self.clock(&st))
                };
                if let Some(bar) = spinner {
                    bar.finish_and_clear();
                    self.inner.multi.remove(&bar);
                }
                let indent = "  ".repeat(depth - 1);
                let took = format_duration_ms(*duration_ms);
                let line = match status {
                    StepStatus::Ok => {
                        let shown = output.as_ref().map(summarize).unwrap_or_default();
                        format!("{indent}✓ {step} ({took}){shown}{clock}")
                    }
                    StepStatus::Failed => {
                        let first = error
                            .as_deref()
                            .and_then(|e| e.lines().next())
                            .unwrap_or("failed");
                        format!("{indent}✗ {step} ({took}): {first}{clock}")
                    }
                    StepStatus::Skipped => {
                        format!("{indent}↷ {step} (finished in an earlier attempt; skipped)")
                    }
                };
                self.line(&line);
            }
            Event::Log { level, message, .. } => {
                let indent = "  ".repeat(self.state().depth);
                if level == "warn" {
                    self.error_line(&format!("{indent}warning: {message}"));
                } else {
                    self.line(&format!("{indent}{message}"));
                }
            }
            Event::Plan {
                index,
                effect,
                action,
                ..
            } => {
                let indent = "  ".repeat(self.state().depth);
                self.line(&format!("{indent}[plan {index}] would {action} ({effect})"));
            }
            Event::Progress { label, done, total } => {
                let of = total
                    .map(|t| format!(" of {}", bytes(t)))
                    .unwrap_or_default();
                self.line(&format!("  {label}: {}{of}", bytes(*done)));
            }
            Event::RunEnd {
                status,
                duration_ms,
                failed_step,
                ..
            } => {
                let took = format_duration_ms(*duration_ms);
                let line = match (status, failed_step) {
                    (RunStatus::Ok, _) => format!("✓ finished in {took}"),
                    (RunStatus::Interrupted, _) => format!("■ interrupted after {took}"),
                    (RunStatus::Failed, Some(step)) => {
                        format!("✗ failed after {took} in step \"{step}\"")
                    }
                    (RunStatus::Failed, None) => format!("✗ failed after {took}"),
                };
                self.line(&line);
            }
        }
    }

    /// The RTO clock shown after each step when the runbook declares an RTO.
    fn clock(&self, st: &State) -> String {
        match st.rto {
            Some(rto) => {
                let elapsed = st.run_started.elapsed();
                let left = if elapsed > rto {
                    "RTO exceeded".to_string()
                } else {
                    format!("{} left", short_duration(rto - elapsed))
                };
                format!(
                    "  [t+{} of RTO {}, {left}]",
                    short_duration(elapsed),
                    short_duration(rto)
                )
            }
            None => String::new(),
        }
    }

    /// Starts showing progress of a transfer of `total` bytes (if known).
    pub fn transfer(&self, label: &str, total: Option<u64>) -> Transfer {
        let bar = if self.inner.mode == OutputMode::Human {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("  {spinner} {msg} {bytes} {bytes_per_sec}")
                        .expect("valid template"),
                ),
            };
            bar.set_message(self.inner.redactor.redact(label));
            Some(self.inner.multi.add(bar))
        } else {
            None
        };
        Transfer {
            reporter: self.clone(),
            label: label.to_string(),
            total,
            done: 0,
            last_report: Instant::now(),
            bar,
        }
    }
}

/// Progress of one byte transfer. Dropping it ends the display.
pub struct Transfer {
    reporter: Reporter,
    label: String,
    total: Option<u64>,
    done: u64,
    last_report: Instant,
    bar: Option<ProgressBar>,
}

impl Transfer {
    /// Records `n` more bytes done.
    pub fn advance(&mut self, n: u64) {
        self.done += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if self.last_report.elapsed() >= Duration::from_secs(5) {
            self.last_report = Instant::now();
            self.report();
        }
    }

    /// Bytes done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    fn report(&self) {
        self.reporter.show(&Event::Progress {
            label: self.label.clone(),
            done: self.done,
            total: self.total,
        });
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.reporter.inner.multi.remove(&bar);
        } else if self.reporter.mode() == OutputMode::Json {
            self.report();
        }
    }
}

/// A one-line rendering of a step's output, or nothing for `()`.
fn summarize(value: &serde_json::Value) -> String {
    if value.is_null() {
        return String::new();
    }
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut short: String = text.chars().take(80).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!(" → {short}")
}

/// `1.2s`, `350ms`, `3m 2s`.
pub fn format_duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        short_duration(Duration::from_millis(ms))
    }
}

/// `1h 02m`, `3m 05s`, `12s`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration_ms(350), "350ms");
        assert_eq!(format_duration_ms(1234), "1.2s");
        assert_eq!(short_duration(Duration::from_secs(3725)), "1h 02m");
        assert_eq!(short_duration(Duration::from_secs(185)), "3m 05s");
    }

    #[test]
    fn long_outputs_are_cut() {
        let v = serde_json::Value::String("x".repeat(200));
        let s = summarize(&v);
        assert!(s.ends_with('…') && s.chars().count() < 90);
    }
}
