//! The run journal: one JSON event per line in `.runbook/runs/<run-id>.jsonl`.
//!
//! Each line is written and flushed as it happens, so a run that is killed leaves a journal that
//! says exactly which steps finished; `--resume` reads it back ([`JournalRecord::read`]). Lines
//! pass through the redactor before they reach the disk.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::context::events::{Event, StepStatus};
use crate::context::secrets::Redactor;
use crate::error::{Error, Result};

/// An open journal file, appended to line by line.
pub struct Journal {
    path: PathBuf,
    file: File,
    redactor: Redactor,
}

impl Journal {
    /// Opens (creating if needed) the journal for `run_id` in `dir`, for appending.
    pub fn open(dir: &Path, run_id: &str, redactor: Redactor) -> Result<Journal> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating journal folder {}", dir.display()), e))?;
        let path = journal_path(dir, run_id);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening journal {}", path.display()), e))?;
        Ok(Journal {
            path,
            file,
            redactor,
        })
    }

    /// Where this journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and flushes it to the file.
    pub fn append(&mut self, event: &Event) -> Result<()> {
        let line = serde_json::to_string(event).expect("events always serialize");
        let line = self.redactor.redact(&line);
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(format!("writing journal {}", self.path.display()), e))
    }
}

/// The journal file of a run.
pub fn journal_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}.jsonl"))
}

/// What an earlier run's journal says: needed to resume it.
#[derive(Debug, Default)]
pub struct JournalRecord {
    /// The runbook path recorded at the start.
    pub runbook: String,
    /// The script hash recorded at the start.
    pub script_sha256: String,
    /// The parameters recorded at the start (secret ones masked).
    pub params: serde_json::Map<String, Value>,
    /// Finished steps whose output could be recorded, by key, with that output. Steps whose
    /// output could not be recorded (handles, secrets) are left out, so a resumed run repeats them.
    pub finished: HashMap<String, Value>,
    /// Whether the run ended successfully.
    pub completed: bool,
}

impl JournalRecord {
    /// Reads a journal. Lines that do not parse (a line cut short by a crash) are ignored.
    pub fn read(path: &Path) -> Result<JournalRecord> {
        let file = File::open(path).map_err(|e| {
            Error::usage(format!("cannot read journal {}: {e}", path.display()))
                .with_hint("run ids are the file names in the journal folder (.runbook/runs)")
        })?;
        let mut record = JournalRecord::default();
        let mut seen_start = false;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let Ok(event) = serde_json::from_str::<Event>(&line) else {
                continue;
            };
            match event {
                Event::RunStart {
                    runbook,
                    script_sha256,
                    params,
                    ..
                } if !seen_start => {
                    seen_start = true;
                    record.runbook = runbook;
                    record.script_sha256 = script_sha256;
                    record.params = params;
                }
                Event::StepEnd {
                    key,
                    status: StepStatus::Ok | StepStatus::Skipped,
                    output,
                    resumable,
                    ..
                } if resumable => {
                    record.finished.insert(key, output.unwrap_or(Value::Null));
                }
                Event::RunEnd { status, .. } => {
                    record.completed = status == crate::context::events::RunStatus::Ok;
                }
                _ => {}
            }
        }
        if !seen_start {
            return Err(Error::usage(format!(
                "{} is not a runbook journal (no run_start event)",
                path.display()
            )));
        }
        Ok(record)
    }
}
