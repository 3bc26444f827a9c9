//! One live run of a runbook at a time.
//!
//! The lock is an OS file lock (`File::try_lock`: `flock` on Unix, `LockFileEx` on Windows) on
//! `<locks>/<runbook>.lock`, so a crashed run can never leave a lock that blocks the next one:
//! the operating system releases it with the process. Who holds it (pid, host, run id, start time)
//! is written beside it in `<runbook>.lock.json` for the message the next run shows. A holder file
//! whose lock is free is a stale leftover, reported and replaced.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Run id.
    pub run_id: String,
    /// RFC 3339 start time.
    pub started: String,
}

/// A held run lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    info_path: PathBuf,
    /// A note about a stale holder that was replaced, to show the user.
    pub replaced_stale: Option<Holder>,
}

impl RunLock {
    /// Takes the lock named `name` in `dir`, waiting up to `wait` for another run to finish.
    pub fn acquire(dir: &Path, name: &str, holder: &Holder, wait: Duration) -> Result<RunLock> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating lock folder {}", dir.display()), e))?;
        let lock_path = dir.join(format!("{name}.lock"));
        let info_path = dir.join(format!("{name}.lock.json"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening lock {}", lock_path.display()), e))?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(held_error(&info_path, wait));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", lock_path.display()), e))
                }
            }
        }
        let replaced_stale = read_holder(&info_path);
        let json = serde_json::to_string_pretty(holder).expect("holder serializes");
        std::fs::write(&info_path, json)
            .map_err(|e| Error::io(format!("writing {}", info_path.display()), e))?;
        Ok(RunLock {
            file,
            info_path,
            replaced_stale,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info_path);
        let _ = self.file.unlock();
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

fn held_error(info_path: &Path, waited: Duration) -> Error {
    let who = match read_holder(info_path) {
        Some(h) => format!(
            "pid {} on host {}, run {}, started {}",
            h.pid, h.host, h.run_id, h.started
        ),
        None => "another process".to_string(),
    };
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {})", humantime::format_duration(waited))
    };
    Error::new(
        ErrorKind::LockHeld,
        format!("another run of this runbook is in progress: {who}{waited}"),
    )
    .with_hint("wait for it to finish, or pass --lock-wait 10m to wait; a dry-run needs no lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: "h".into(),
            run_id: id.into(),
            started: "now".into(),
        }
    }

    #[test]
    fn second_lock_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RunLock::acquire(dir.path(), "x", &holder("run-1"), Duration::ZERO).unwrap();
        let err = RunLock::acquire(
            dir.path(),
            "x",
            &holder("run-2"),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.message().contains("run-1"), "{err}");
    }

    #[test]
    fn a_leftover_holder_file_is_stale_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.lock.json"),
            serde_json::to_string(&holder("crashed")).unwrap(),
        )
        .unwrap();
        let lock = RunLock::acquire(dir.path(), "x", &holder("new"), Duration::ZERO).unwrap();
        assert_eq!(lock.replaced_stale.as_ref().unwrap().run_id, "crashed");
    }
}
