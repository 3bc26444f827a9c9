//! Turning script failures into [`Error`]s a person can act on.
//!
//! Errors raised by host primitives travel through Rhai as the value of a runtime error (or, for
//! cancellation and timeouts, as the token of a termination) and come back out unchanged here, so
//! their exit code and hint survive. Everything else — syntax errors, unknown functions, limits —
//! becomes a script error (exit 2). Every error that has a position is shown with the file, line
//! and column, the source line and a caret:
//!
//! ```text
//! error: syntax error: Expecting ')' to close the parameters list of function 'log'
//!  --> runbooks/x.rhai:3:14
//!   |
//! 3 | log("hello";
//!   |              ^
//! ```

use rhai::{EvalAltResult, Position};

use crate::engine::limits::Limits;
use crate::engine::resolver::SourceMap;
use crate::error::{Error, ErrorKind};

/// Where an error happened and how to show it.
pub struct Diagnostics<'a> {
    /// The source name of the main script.
    pub main_source: &'a str,
    /// Source texts.
    pub sources: &'a SourceMap,
    /// The limits in force (named in limit errors).
    pub limits: &'a Limits,
}

impl Diagnostics<'_> {
    /// Converts a Rhai error into an [`Error`] with its location.
    pub fn convert(&self, err: &EvalAltResult) -> Error {
        self.walk(err, self.main_source.to_string())
    }

    fn walk(&self, err: &EvalAltResult, source: String) -> Error {
        match err {
            EvalAltResult::ErrorInFunctionCall(_, src, inner, _) => {
                let source = if src.is_empty() { source } else { src.clone() };
                self.walk(inner, source)
            }
            EvalAltResult::ErrorInModule(name, inner, pos) => {
                if matches!(**inner, EvalAltResult::ErrorModuleNotFound(..)) {
                    return self.walk(inner, source);
                }
                let inner_error = self.walk(inner, name.clone());
                if inner_error.message().contains(" --> ") {
                    inner_error
                } else {
                    self.locate(inner_error, &source, *pos)
                }
            }
            EvalAltResult::ErrorRuntime(value, pos) => {
                let error = match value.read_lock::<Error>() {
                    Some(e) => e.clone(),
                    None => Error::failed(value.to_string()),
                };
                self.locate(error, &source, *pos)
            }
            EvalAltResult::ErrorTerminated(token, pos) => match token.read_lock::<Error>() {
                Some(e) if e.kind() == ErrorKind::Interrupted => e.clone(),
                Some(e) => self.locate(e.clone(), &source, *pos),
                None => Error::interrupted(),
            },
            EvalAltResult::ErrorTooManyOperations(pos) => self.locate(
                Error::usage(format!(
                    "the script ran more than {} operations and was stopped (an endless loop?)",
                    self.limits.max_operations
                ))
                .with_hint("if this is real work, raise max_operations under [limits] in runbook.toml"),
                &source,
                *pos,
            ),
            EvalAltResult::ErrorStackOverflow(pos) => self.locate(
                Error::usage(format!(
                    "calls nested deeper than {} levels (endless recursion?)",
                    self.limits.max_call_levels
                ))
                .with_hint("raise max_call_levels under [limits] in runbook.toml if this is intended"),
                &source,
                *pos,
            ),
            EvalAltResult::ErrorModuleNotFound(name, pos) => self.locate(
                Error::usage(format!("module \"{name}\" not found"))
                    .with_hint("modules are looked up beside the runbook, then in stdlib/, then in the built-in library"),
                &source,
                *pos,
            ),
            EvalAltResult::ErrorParsing(kind, pos) => {
                self.locate(Error::usage(format!("syntax error: {kind}")), &source, *pos)
            }
            other => {
                let pos = other.position();
                let message = without_position(other);
                let error = match other {
                    EvalAltResult::ErrorDataTooLarge(..) => Error::usage(message).with_hint(
                        "a string, array or map grew past its limit; raise it under [limits] in runbook.toml if intended",
                    ),
                    _ => Error::usage(format!("script error: {message}")),
                };
                self.locate(error, &source, pos)
            }
        }
    }

    /// Adds ` --> file:line:col`, the source line and a caret.
    fn locate(&self, error: Error, source: &str, pos: Position) -> Error {
        let (Some(line), col) = (pos.line(), pos.position()) else {
            return error;
        };
        let col = col.unwrap_or(1);
        let mut location = format!(" --> {source}:{line}:{col}");
        if let Some(text) = self.sources.line(source, line) {
            let gutter = " ".repeat(line.to_string().len());
            let caret_pad: String = text
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            location.push_str(&format!(
                "\n{gutter} |\n{line} | {text}\n{gutter} | {caret_pad}^"
            ));
        }
        let mut located = Error::new(error.kind(), format!("{}\n{location}", error.message()));
        if let Some(hint) = error.hint() {
            located = located.with_hint(hint);
        }
        located
    }
}

/// The error's text without Rhai's trailing ` (line N, position M)`.
pub fn without_position(err: &EvalAltResult) -> String {
    let text = err.to_string();
    let pos = err.position();
    if pos.is_none() {
        return text;
    }
    let suffix = format!(" ({pos})");
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}
