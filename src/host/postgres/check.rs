//! `pg_check`: a database health check in the same shape as the HTTP and TCP checks — connect,
//! run a query read-only, compare the first value with what is expected — with a timeout per
//! attempt and retries.

use std::time::Duration;

use super::Database;
use crate::context::control::Control;
use crate::error::Result;
use crate::host::health::{
    show, with_retries, within, Attempt, CheckResult, DEFAULT_INTERVAL, DEFAULT_TIMEOUT,
};

/// A database check and what it expects.
#[derive(Debug, Clone)]
pub struct PgCheck {
    /// The query (default `SELECT 1`).
    pub query: String,
    /// The first column of the first row, as text; `None`: the query succeeding is enough.
    pub expect: Option<String>,
    /// Time allowed for one attempt, connection included (default 10 s).
    pub timeout: Duration,
    /// Extra attempts after a failed one (default 0).
    pub retries: u32,
    /// Pause between attempts (default 2 s).
    pub interval: Duration,
}

impl Default for PgCheck {
    fn default() -> Self {
        PgCheck {
            query: "SELECT 1".into(),
            expect: None,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// A JSON value as the text a person would compare: strings without quotes.
fn as_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs the check against `db`. Failures (server down, wrong password, unexpected value) are
/// `ok: false` with the reason in `detail`; only Ctrl-C and step deadlines are errors.
pub fn pg_check(db: &Database, check: &PgCheck, control: &Control) -> Result<CheckResult> {
    let what = format!("Postgres check of {}", db.spec.display());
    with_retries(&what, check.retries, check.interval, control, || {
        let attempt = async {
            let rows = match db.query_async(&check.query, &[]).await {
                Ok(rows) => rows,
                Err(e) => return Attempt::fail(e.message().to_string()),
            };
            let first = rows
                .first()
                .and_then(|row| row.as_object())
                .and_then(|row| row.values().next())
                .map(as_text);
            match (&check.expect, first) {
                (None, _) => Attempt {
                    ok: true,
                    detail: format!("query answered ({} rows)", rows.len()),
                    status: None,
                },
                (Some(want), Some(got)) if *want == got => Attempt {
                    ok: true,
                    detail: format!("query returned {got}"),
                    status: None,
                },
                (Some(want), Some(got)) => {
                    Attempt::fail(format!("query returned {got}, expected {want}"))
                }
                (Some(want), None) => {
                    Attempt::fail(format!("query returned no rows, expected {want}"))
                }
            }
        };
        Ok(within(check.timeout, attempt, control)?
            .unwrap_or_else(|| Attempt::fail(format!("timed out after {}", show(check.timeout)))))
    })
}
