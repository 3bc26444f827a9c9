//! The one error type of `runbook`, and the exit codes it maps to.
//!
//! Policy: every error a user can see says *what went wrong* and, in `hint`, *what to do next*.
//! Host primitives build these errors; the engine carries them through Rhai unchanged (as the
//! value of a runtime error) so that the exit code survives a trip through a script. The exit
//! codes are a stable contract documented in the README:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a step (or the run) failed |
//! | 2 | usage or script error: bad arguments, bad script, bad metadata, refused confirmation |
//! | 3 | a target was missed (RPO/RTO) |
//! | 4 | another run holds the lock |
//! | 130 | interrupted (Ctrl-C) |

use std::fmt;

/// What kind of failure an [`Error`] is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A step or primitive failed while running (exit 1).
    Failed,
    /// Bad command line, bad script, bad metadata or a refused confirmation (exit 2).
    Usage,
    /// A recovery target (RPO/RTO) was missed (exit 3).
    TargetMissed,
    /// Another run of the same runbook holds the lock (exit 4).
    LockHeld,
    /// A step ran past its timeout (exit 1; not catchable by the script).
    Timeout,
    /// The run was interrupted by the user (exit 130).
    Interrupted,
}

impl ErrorKind {
    /// The process exit code for this kind of failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Failed | ErrorKind::Timeout => 1,
            ErrorKind::Usage => 2,
            ErrorKind::TargetMissed => 3,
            ErrorKind::LockHeld => 4,
            ErrorKind::Interrupted => 130,
        }
    }

    /// A short machine-readable name, used in the journal and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Usage => "usage",
            ErrorKind::TargetMissed => "target_missed",
            ErrorKind::LockHeld => "lock_held",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

/// An error with a kind (exit code), a message, and a hint saying what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

/// The result type used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// A step or primitive failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// A usage or script error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// A missed recovery target (exit 3).
    pub fn target_missed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TargetMissed, message)
    }

    /// The run was interrupted (exit 130).
    pub fn interrupted() -> Self {
        Self::new(ErrorKind::Interrupted, "interrupted").with_hint(
            "the journal records which steps finished; continue with `runbook run FILE --resume RUN_ID`",
        )
    }

    /// An I/O failure while doing `what`, e.g. `Error::io("writing out/a.txt", err)`.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Self::failed(format!("{what}: {err}"))
    }

    /// Adds what the user should do next.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with context, e.g. the step or object it concerns.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What to do next, if known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_contract() {
        assert_eq!(Error::failed("x").exit_code(), 1);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::target_missed("x").exit_code(), 3);
        assert_eq!(Error::new(ErrorKind::LockHeld, "x").exit_code(), 4);
        assert_eq!(Error::interrupted().exit_code(), 130);
    }

    #[test]
    fn display_shows_the_hint_on_its_own_line() {
        let e = Error::failed("disk full").with_hint("free some space");
        assert_eq!(e.to_string(), "disk full\n  hint: free some space");
    }
}
